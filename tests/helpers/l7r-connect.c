/* l7r-connect.c: test stand-in for qvd-client's connect path: TLS to the L7R (no
 * verification), connect_to_vm with Basic auth, each 102's X-QVD-VM-Info on stderr, and
 * after the 101 one nxproxy connection on 127.0.0.1:PORT relayed into the TLS stream. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "http.h"
#include "rpc.h"
#include "util.h"

static void
relay(SSL *ssl, int tcp)
{
    char buf[65536];
    int sfd = SSL_get_fd(ssl);

    for (;;) {
        struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = tcp, .events = POLLIN}};
        if (SSL_pending(ssl) == 0 && poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (SSL_pending(ssl) > 0 || (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            int n = SSL_read(ssl, buf, sizeof(buf));
            if (n <= 0 || qvd_write_all(tcp, buf, (size_t)n) < 0)
                return;
        }
        if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(tcp, buf, sizeof(buf));
            if (n <= 0 || SSL_write(ssl, buf, (int)n) <= 0)
                return;
        }
    }
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"l7r", required_argument, NULL, 'l'},
        {"user", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'},
        {"vm", required_argument, NULL, 'v'},
        {"listen", required_argument, NULL, 'L'},
        {"query", required_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    const char *l7r = NULL, *user = NULL, *pass = NULL, *vm = NULL, *query = NULL;
    int lport = 0, ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            l7r = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case 'p':
            pass = optarg;
            break;
        case 'v':
            vm = optarg;
            break;
        case 'L':
            lport = atoi(optarg);
            break;
        case 'q':
            query = optarg;
            break;
        default:
            goto usage;
        }
    }
    if (!l7r || !user || !pass || !vm || lport <= 0 || !strrchr(l7r, ':'))
        goto usage;
    signal(SIGPIPE, SIG_IGN);

    char *host = qvd_xstrndup(l7r, (size_t)(strrchr(l7r, ':') - l7r));
    int fd = qvd_rpc_connect(host, atoi(strrchr(l7r, ':') + 1), 5000);
    if (fd < 0) {
        fprintf(stderr, "l7r-connect: cannot connect to %s\n", l7r);
        return 1;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        fprintf(stderr, "l7r-connect: TLS handshake failed\n");
        return 1;
    }
    char *cred = qvd_xasprintf("%s:%s", user, pass);
    unsigned char b64[512];
    EVP_EncodeBlock(b64, (unsigned char *)cred, (int)strlen(cred));
    /* --query: the parameters as another client sends them (QVD's Perl client: its
     * User-Agent too), the VM's id first */
    char *req =
        query
            ? qvd_xasprintf("GET /qvd/connect_to_vm?id=%s&%s HTTP/1.1\r\n"
                            "Authorization: Basic %s\r\nConnection: Upgrade\r\n"
                            "Upgrade: QVD/1.0\r\nUser-Agent: QVD::HTTPC/0.01 (linux)\r\n\r\n",
                            vm, query, b64)
            : qvd_xasprintf("GET /qvd/connect_to_vm?id=%s&qvd.client.os=linux"
                            "&qvd.client.geometry=800x600&qvd.client.link=lan"
                            "&qvd.client.keyboard=pc105%%2Fen&qvd.client.fullscreen=0 HTTP/1.1\r\n"
                            "Authorization: Basic %s\r\nConnection: Upgrade\r\n"
                            "Upgrade: QVD/1.0\r\n\r\n",
                            vm, b64);
    SSL_write(ssl, req, (int)strlen(req));

    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    struct qvd_buf left = QVD_BUF_INIT;
    char buf[16384];
    for (bool done = false; !done;) {
        int n = SSL_read(ssl, buf, sizeof(buf));
        if (n <= 0) {
            fprintf(stderr, "l7r-connect: connection closed before the answer\n");
            return 1;
        }
        size_t pos = 0;
        while (pos < (size_t)n && !done) {
            size_t used = 0;
            enum qvd_http_result r = qvd_http_parser_feed(p, buf + pos, (size_t)n - pos, &used);
            pos += used;
            const struct qvd_http_msg *m = qvd_http_parser_msg(p);
            if (r == QVD_HTTP_ERROR) {
                fprintf(stderr, "l7r-connect: bad answer\n");
                return 1;
            } else if (r == QVD_HTTP_INTERIM) {
                const char *info = qvd_http_msg_header(m, "X-QVD-VM-Info");
                fprintf(stderr, "102 %s\n", info ? info : "");
            } else if (r == QVD_HTTP_COMPLETE) {
                if (m->status != 101) {
                    fprintf(stderr, "%d %s\n", m->status, qvd_buf_str((struct qvd_buf *)&m->body));
                    return 1;
                }
                const char *key = qvd_http_msg_header(m, "X-QVD-Slave-Key");
                const char *feat = qvd_http_msg_header(m, "X-QVD-Features");
                fprintf(stderr, "101 slave key of %zu chars\n", key ? strlen(key) : 0);
                fprintf(stderr, "101 features %s\n", feat ? feat : "(none)");
                qvd_buf_add(&left, buf + pos, (size_t)n - pos);
                done = true;
            } else {
                break;
            }
        }
    }

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lport)};
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0) {
        fprintf(stderr, "l7r-connect: listen on %d: %s\n", lport, strerror(errno));
        return 1;
    }
    fprintf(stderr, "l7r-connect: listening on 127.0.0.1:%d\n", lport);
    /* wait for nxproxy, but notice when the L7R ends the session meanwhile */
    for (;;) {
        struct pollfd pfd[2] = {{.fd = lfd, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
        if (SSL_pending(ssl) == 0 && left.len == 0 && poll(pfd, 2, -1) < 0 && errno != EINTR)
            return 1;
        if (pfd[0].revents & POLLIN)
            break;
        if (SSL_pending(ssl) > 0 || (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            int n = SSL_read(ssl, buf, sizeof(buf));
            if (n <= 0) {
                fprintf(stderr, "l7r-connect: closed by the L7R before nxproxy came\n");
                return 0;
            }
            qvd_buf_add(&left, buf, (size_t)n);
        }
        if (left.len > 0)
            break; /* the VM spoke first: not expected, but keep the bytes */
    }
    int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd >= 0)
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (cfd < 0)
        return 1;
    fprintf(stderr, "l7r-connect: relaying\n");
    if (left.len == 0 || qvd_write_all(cfd, left.data, left.len) == 0)
        relay(ssl, cfd);
    fprintf(stderr, "l7r-connect: closed\n");
    return 0;
usage:
    fprintf(stderr, "usage: l7r-connect --l7r HOST:PORT --user U --password P --vm ID"
                    " --listen PORT [--query K=V&K=V...]\n");
    return 2;
}

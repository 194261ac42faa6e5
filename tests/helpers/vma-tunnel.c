/* vma-tunnel.c: test stand-in for the L7R's relay: accepts one TCP connection at a time,
 * makes the authenticated x_connect upgrade to a VMA and relays bytes both ways. */
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

#include "err.h"
#include "rpc.h"
#include "util.h"

/* Splits HOST:PORT (the last colon). */
static int
split_hostport(const char *s, char **host, int *port)
{
    const char *colon = strrchr(s, ':');
    long p;
    if (!colon || qvd_parse_long(colon + 1, &p) < 0 || p <= 0 || p > 65535)
        return -1;
    *host = qvd_xstrndup(s, (size_t)(colon - s));
    *port = (int)p;
    return 0;
}

static void
relay(int a, int b)
{
    char buf[65536];
    struct pollfd pfd[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
    for (;;) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < 2; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(pfd[i].fd, buf, sizeof(buf));
            if (n <= 0 || qvd_write_all(pfd[1 - i].fd, buf, (size_t)n) < 0)
                return;
        }
    }
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"vma", required_argument, NULL, 'v'},
        {"secret-file", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    char *lhost = NULL, *vhost = NULL, *secret = NULL;
    int lport = 0, vport = 0, ch;
    size_t slen;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (split_hostport(optarg, &lhost, &lport) < 0)
                goto usage;
            break;
        case 'v':
            if (split_hostport(optarg, &vhost, &vport) < 0)
                goto usage;
            break;
        case 's':
            if (qvd_read_file(optarg, 4096, &secret, &slen) < 0) {
                fprintf(stderr, "vma-tunnel: %s: %s\n", optarg, strerror(errno));
                return 1;
            }
            while (slen > 0 && (secret[slen - 1] == '\n' || secret[slen - 1] == '\r'))
                secret[--slen] = 0;
            break;
        default:
            goto usage;
        }
    }
    if (!lhost || !vhost || !secret)
        goto usage;
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lport)};
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (inet_pton(AF_INET, lhost, &sa.sin_addr) != 1)
        goto usage;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0) {
        fprintf(stderr, "vma-tunnel: listen %s:%d: %s\n", lhost, lport, strerror(errno));
        return 1;
    }
    fprintf(stderr, "vma-tunnel: listening on %s:%d\n", lhost, lport);
    for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0)
            continue;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct qvd_rpc_target t = {vhost, vport, secret, 10000};
        struct qvd_buf left = QVD_BUF_INIT;
        int vfd = -1;
        if (qvd_rpc_upgrade(&t, "/vma/x_connect", "QVD/1.0", NULL, &vfd, &left) < 0) {
            fprintf(stderr, "vma-tunnel: upgrade failed: %s\n", qvd_strerror());
        } else {
            fprintf(stderr, "vma-tunnel: connected\n");
            if (left.len == 0 || qvd_write_all(cfd, left.data, left.len) == 0)
                relay(cfd, vfd);
            close(vfd);
            fprintf(stderr, "vma-tunnel: closed\n");
        }
        qvd_buf_free(&left);
        close(cfd);
    }
usage:
    fprintf(stderr, "usage: vma-tunnel --listen IP:PORT --vma HOST:PORT --secret-file FILE\n");
    return 2;
}

/* http_client.c: qvd-admin's blocking HTTP/1.1 client of qvd-api: TLS 1.2+ verified against
 * the system CAs (and --ca) with the host name checked, or plain HTTP on the local Unix
 * socket; every wait has a deadline; answers are read by libqvd's bounded parser. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "err.h"
#include "tls.h"
#include "http.h"
#include "util.h"

#define CONNECT_TIMEOUT_MS 10000
#define REQUEST_TIMEOUT_MS 60000
/* A listing page of 1000 rows is well above the 64 KiB requests are held to. */
#define ANSWER_MAX_BODY (32 * 1024 * 1024)

struct admin_http {
    struct remote_url url;
    char *ca;
    bool insecure, warned;
    char *host_header;
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    bool reused; /* the connection already carried a request */
};

/* Finishes a non-blocking connect() before the deadline. */
static int
connect_wait(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
    int err = 0;
    socklen_t l = sizeof(err);

    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EAGAIN)
        return qvd_seterr("%s", strerror(errno));
    if (qvd_wait_fd(fd, POLLOUT, deadline) < 0)
        return -1;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
    return err ? qvd_seterr("%s", strerror(err)) : 0;
}

static int
tcp_connect(const char *host, int port, int64_t deadline)
{
    char portstr[16];
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int fd = -1, rc;

    snprintf(portstr, sizeof(portstr), "%d", port);
    if ((rc = getaddrinfo(host, portstr, &hints, &ai)) != 0)
        return qvd_seterr("%s", rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            qvd_seterr("%s", strerror(errno));
            continue;
        }
        if (connect_wait(fd, a->ai_addr, a->ai_addrlen, deadline) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static int
unix_connect(const char *path, int64_t deadline)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path))
        return qvd_seterr("the socket path %s is too long", path);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return qvd_seterr("%s", strerror(errno));
    if (connect_wait(fd, (struct sockaddr *)&sun, sizeof(sun), deadline) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void
disconnect(struct admin_http *h)
{
    if (h->ssl != NULL) {
        ERR_clear_error();
        SSL_shutdown(h->ssl);
        SSL_free(h->ssl);
        h->ssl = NULL;
    }
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    h->reused = false;
}

static int
tls_context(struct admin_http *h)
{
    char why[256];

    if (h->ctx != NULL)
        return 0;
    if ((h->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
        return qvd_seterr("cannot set up TLS: %s", qvd_tls_reason(why, sizeof(why)));
    SSL_CTX_set_min_proto_version(h->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(h->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_default_verify_paths(h->ctx);
    if (h->ca != NULL && access(h->ca, R_OK) < 0)
        return qvd_seterr("cannot read the CA file %s: %s", h->ca, strerror(errno));
    if (h->ca != NULL && SSL_CTX_load_verify_locations(h->ctx, h->ca, NULL) != 1)
        return qvd_seterr("cannot load the CA certificates of %s: %s", h->ca,
                          qvd_tls_reason(why, sizeof(why)));
    SSL_CTX_set_verify(h->ctx, h->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (h->insecure && !h->warned) {
        fprintf(stderr, "qvd-admin: warning: --insecure: the server's certificate is not"
                        " verified\n");
        h->warned = true;
    }
    return 0;
}

static int
tls_start(struct admin_http *h, int64_t deadline)
{
    unsigned char ip[16];
    char why[256];

    if (tls_context(h) < 0)
        return -1;
    if ((h->ssl = SSL_new(h->ctx)) == NULL || SSL_set_fd(h->ssl, h->fd) != 1)
        return qvd_seterr("cannot set up TLS: %s", qvd_tls_reason(why, sizeof(why)));
    if (inet_pton(AF_INET, h->url.host, ip) == 1 || inet_pton(AF_INET6, h->url.host, ip) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(h->ssl), h->url.host);
    } else {
        SSL_set_tlsext_host_name(h->ssl, h->url.host);
        SSL_set1_host(h->ssl, h->url.host);
    }
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int rc = SSL_connect(h->ssl), e;
        if (rc == 1)
            return 0;
        e = SSL_get_error(h->ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (qvd_wait_fd(h->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) < 0)
                return -1;
            continue;
        }
        long v = SSL_get_verify_result(h->ssl);
        if (!h->insecure && v != X509_V_OK)
            return qvd_seterr("the server's certificate is not trusted (%s): give its CA with"
                              " --ca FILE (or --insecure)",
                              X509_verify_cert_error_string(v));
        return qvd_seterr("TLS handshake failed: %s", qvd_tls_reason(why, sizeof(why)));
    }
}

static int
reconnect(struct admin_http *h)
{
    int64_t deadline = qvd_mono_ms() + CONNECT_TIMEOUT_MS;

    disconnect(h);
    h->fd = h->url.unix_socket ? unix_connect(h->url.path, deadline)
                               : tcp_connect(h->url.host, h->url.port, deadline);
    if (h->fd < 0)
        return -1;
    if (!h->url.unix_socket && tls_start(h, deadline) < 0) {
        disconnect(h);
        return -1;
    }
    return 0;
}

static int
io_write(struct admin_http *h, const char *p, size_t len, int64_t deadline)
{
    char why[256];

    while (len > 0) {
        ssize_t n;
        short want = POLLOUT;
        if (h->ssl != NULL) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_write(h->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len), e;
            n = r;
            if (r <= 0) {
                e = SSL_get_error(h->ssl, r);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                    return qvd_seterr("%s", qvd_tls_reason(why, sizeof(why)));
                want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
                n = -2;
            }
        } else {
            n = send(h->fd, p, len, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                return qvd_seterr("%s", strerror(errno));
            if (n < 0)
                n = -2;
        }
        if (n == -2) {
            if (qvd_wait_fd(h->fd, want, deadline) < 0)
                return -1;
            continue;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Bytes read (> 0), 0 at the end of the stream, -1 on failure. */
static ssize_t
io_read(struct admin_http *h, char *buf, size_t len, int64_t deadline)
{
    char why[256];

    for (;;) {
        short want = POLLIN;
        if (h->ssl != NULL) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_read(h->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len), e;
            if (r > 0)
                return r;
            e = SSL_get_error(h->ssl, r);
            if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0))
                return 0;
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                return qvd_seterr("%s", qvd_tls_reason(why, sizeof(why)));
            want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        } else {
            ssize_t n = recv(h->fd, buf, len, 0);
            if (n >= 0)
                return n;
            if (errno == ECONNRESET)
                return 0;
            if (errno != EAGAIN && errno != EINTR)
                return qvd_seterr("%s", strerror(errno));
        }
        if (qvd_wait_fd(h->fd, want, deadline) < 0)
            return -1;
    }
}

struct admin_http *
admin_http_new(const struct remote_url *u, const char *ca, bool insecure)
{
    struct admin_http *h = qvd_xcalloc(1, sizeof(*h));

    /* a server that closes while we write must not kill us */
    signal(SIGPIPE, SIG_IGN);
    h->url.unix_socket = u->unix_socket;
    h->url.host = u->host ? qvd_xstrdup(u->host) : NULL;
    h->url.path = u->path ? qvd_xstrdup(u->path) : NULL;
    h->url.port = u->port;
    h->ca = ca ? qvd_xstrdup(ca) : NULL;
    h->insecure = insecure;
    h->fd = -1;
    if (u->unix_socket)
        h->host_header = qvd_xstrdup("localhost");
    else if (strchr(u->host, ':') != NULL)
        h->host_header = qvd_xasprintf("[%s]:%d", u->host, u->port);
    else
        h->host_header = qvd_xasprintf("%s:%d", u->host, u->port);
    return h;
}

void
admin_http_free(struct admin_http *h)
{
    if (h == NULL)
        return;
    disconnect(h);
    if (h->ctx != NULL)
        SSL_CTX_free(h->ctx);
    remote_url_free(&h->url);
    free(h->ca);
    free(h->host_header);
    free(h);
}

/* One exchange on the current connection. *got tells whether any answer byte came. */
static int
exchange(struct admin_http *h, const struct qvd_buf *req, int *status, struct qvd_buf *answer,
         bool *got)
{
    int64_t deadline = qvd_mono_ms() + REQUEST_TIMEOUT_MS;
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    char buf[16384];
    int rc = -1;

    *got = false;
    qvd_http_parser_set_max_body(p, ANSWER_MAX_BODY);
    if (io_write(h, req->data, req->len, deadline) < 0)
        goto out;
    for (;;) {
        ssize_t n = io_read(h, buf, sizeof(buf), deadline);
        enum qvd_http_result r;
        size_t used = 0, off = 0;
        if (n < 0)
            goto out;
        if (n == 0) {
            if (!*got) {
                qvd_seterr("the server closed the connection");
                goto out;
            }
            r = qvd_http_parser_eof(p);
        } else {
            *got = true;
            do { /* skip 1xx answers */
                r = qvd_http_parser_feed(p, buf + off, (size_t)n - off, &used);
                off += used;
            } while (r == QVD_HTTP_INTERIM && off < (size_t)n);
        }
        if (r == QVD_HTTP_ERROR) {
            qvd_seterr("bad answer from the server: %s", qvd_strerror());
            goto out;
        }
        if (r == QVD_HTTP_COMPLETE)
            break;
        if (n == 0) {
            qvd_seterr("the server closed the connection before its answer ended");
            goto out;
        }
    }
    const struct qvd_http_msg *m = qvd_http_parser_msg(p);
    *status = m->status;
    qvd_buf_reset(answer);
    qvd_buf_add(answer, m->body.data ? m->body.data : "", m->body.len);
    h->reused = m->keep_alive;
    if (!m->keep_alive)
        disconnect(h);
    rc = 0;
out:
    qvd_http_parser_free(p);
    return rc;
}

int
admin_http_request(struct admin_http *h, const char *method, const char *target,
                   const char *const *headers, const char *body, size_t len, int *status,
                   struct qvd_buf *answer)
{
    struct qvd_buf req = QVD_BUF_INIT;
    const char *all[48];
    char clen[24];
    int n = 0, rc = -1;
    bool got;

    all[n++] = "Host", all[n++] = h->host_header;
    for (int i = 0; headers && headers[i] && headers[i + 1] && n < 40; i += 2)
        all[n++] = headers[i], all[n++] = headers[i + 1];
    if (body != NULL || strcmp(method, "GET") != 0) {
        snprintf(clen, sizeof(clen), "%zu", body ? len : 0);
        all[n++] = "Content-Length", all[n++] = clen;
    }
    all[n] = NULL;
    qvd_http_write_request(&req, method, target, all);
    if (body != NULL)
        qvd_buf_add(&req, body, len);

    for (int attempt = 0; attempt < 2; attempt++) {
        bool reused = h->fd >= 0 && h->reused;
        if (h->fd < 0 && reconnect(h) < 0)
            break;
        if ((rc = exchange(h, &req, status, answer, &got)) == 0)
            break;
        disconnect(h);
        /* a kept connection the server closed meanwhile: once more on a new one */
        if (!reused || got)
            break;
    }
    if (body != NULL)
        qvd_wipe(req.data, req.len); /* it may hold a password */
    qvd_buf_free(&req);
    return rc;
}

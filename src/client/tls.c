/* tls.c: the TLS connection to the L7R: TCP with a deadline, TLS 1.2+ with SNI, verification
 * against the system CAs, ~/.qvd/certs and the host name (certs.c decides on failures). */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "err.h"
#include "log.h"
#include "tls.h"

struct client_tls {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char fp[65]; /* SHA-256 of the server's certificate, lowercase hex */
};

/* Keeps the fingerprint of the certificate this connection accepted. */
static void
keep_fingerprint(struct client_tls *t)
{
    X509 *cert = SSL_get1_peer_certificate(t->ssl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (cert != NULL && X509_digest(cert, EVP_sha256(), md, &n) == 1 && n == 32)
        for (unsigned i = 0; i < n; i++)
            snprintf(t->fp + 2 * i, 3, "%02x", md[i]);
    X509_free(cert);
}

const char *
client_tls_fingerprint(const struct client_tls *t)
{
    return t->fp[0] ? t->fp : NULL;
}

/* ---- TCP and TLS ---- */

static int
wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        if (client_interrupted)
            return qvd_seterr("interrupted");
        int64_t left = deadline - qvd_mono_ms();
        if (left <= 0)
            return qvd_seterr("timed out");
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, left > 500 ? 500 : (int)left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return qvd_seterr("poll: %s", strerror(errno));
    }
}

/* A non-blocking TCP socket connected to one address before the deadline; -1 + reason. */
static int
tcp_connect_addr(const struct sockaddr *sa, socklen_t salen, int64_t deadline)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return qvd_seterr("%s", strerror(errno));
    /* the NX stream is interactive: no Nagle delays */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    int rc = connect(fd, sa, salen);
    if (rc < 0 && errno == EINPROGRESS) {
        if (wait_fd(fd, POLLOUT, deadline) == 0) {
            int err = 0;
            socklen_t l = sizeof(err);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
            rc = err ? -1 : 0;
            if (err)
                qvd_seterr("%s", strerror(err));
        }
    } else if (rc < 0) {
        qvd_seterr("%s", strerror(errno));
    }
    if (rc == 0)
        return fd;
    close(fd);
    return -1;
}

/* A non-blocking TCP socket connected to the first address of host that answers before
 * the deadline; -1 + reason. */
static int
tcp_connect(const char *host, int port, int64_t deadline)
{
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc != 0)
        return qvd_seterr("%s", rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0 && !client_interrupted; a = a->ai_next)
        fd = tcp_connect_addr(a->ai_addr, a->ai_addrlen, deadline);
    freeaddrinfo(ai);
    return fd;
}

/* Loads every regular file in dir as PEM CA certificates; unreadable ones are logged. */
static void
load_cert_dir(SSL_CTX *ctx, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *path = qvd_xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
            char why[200];
            log_warn("ignoring %s: not a PEM certificate (%s)", path,
                     qvd_tls_reason(why, sizeof(why)));
        }
        free(path);
    }
    closedir(d);
}

static bool
is_ip(const char *host)
{
    unsigned char b[16];
    return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

/* Runs SSL_connect to completion before the deadline. */
static int
handshake(struct client_tls *t, int64_t deadline)
{
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int rc = SSL_connect(t->ssl);
        if (rc == 1)
            return 0;
        int e = SSL_get_error(t->ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (wait_fd(t->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) < 0)
                return -1;
            continue;
        }
        char why[256];
        return qvd_seterr("TLS handshake failed: %s", qvd_tls_reason(why, sizeof(why)));
    }
}

static void
tls_free(struct client_tls *t)
{
    if (t == NULL)
        return;
    if (t->ssl)
        SSL_free(t->ssl);
    if (t->ctx)
        SSL_CTX_free(t->ctx);
    if (t->fd >= 0)
        close(t->fd);
    free(t);
}

void
client_tls_close(struct client_tls *t)
{
    if (t != NULL && t->ssl != NULL) {
        ERR_clear_error();
        SSL_shutdown(t->ssl); /* best effort close_notify; the socket is non-blocking */
    }
    tls_free(t);
}

int
client_tls_fd(const struct client_tls *t)
{
    return t->fd;
}

/* "Cannot reach HOST:PORT: why." with an IPv6 address in brackets, as the user writes it. */
static void
unreachable(const struct client_opts *o, int code)
{
    bool v6 = strchr(o->host, ':') != NULL;
    client_fail(code, "Cannot reach %s%s%s:%d: %s.", v6 ? "[" : "", o->host, v6 ? "]" : "", o->port,
                qvd_strerror());
}

struct client_tls *
client_tls_connect(const struct client_opts *o, const struct sockaddr *sa, unsigned salen,
                   int *exit_code)
{
    int64_t deadline = qvd_mono_ms() + (int64_t)o->connect_timeout_s * 1000;
    struct client_tls *t = qvd_xcalloc(1, sizeof(*t));
    t->fd = sa != NULL ? tcp_connect_addr(sa, (socklen_t)salen, deadline)
                       : tcp_connect(o->host, o->port, deadline);
    if (t->fd < 0) {
        *exit_code = client_interrupted ? CLIENT_EXIT_INTERRUPTED : CLIENT_EXIT_UNREACHABLE;
        unreachable(o, *exit_code);
        goto fail;
    }
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL)
        goto ssl_fail;
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    /* the relay treats a TCP close without close_notify as the end of the session */
    SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_default_verify_paths(t->ctx);
    char *certs = qvd_xasprintf("%s/certs", o->qvd_dir);
    load_cert_dir(t->ctx, certs);
    free(certs);
    /* verification runs but does not abort the handshake: its result decides afterwards,
     * so that the fingerprint of an untrusted certificate can be shown */
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    t->ssl = SSL_new(t->ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, t->fd) != 1)
        goto ssl_fail;
    if (is_ip(o->host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), o->host);
    } else {
        SSL_set_tlsext_host_name(t->ssl, o->host);
        SSL_set1_host(t->ssl, o->host);
    }
    if (handshake(t, deadline) < 0) {
        *exit_code = client_interrupted ? CLIENT_EXIT_INTERRUPTED : CLIENT_EXIT_UNREACHABLE;
        unreachable(o, *exit_code);
        goto fail;
    }
    long vres = SSL_get_verify_result(t->ssl);
    if (vres != X509_V_OK) {
        X509 *cert = SSL_get1_peer_certificate(t->ssl);
        if (cert == NULL) {
            *exit_code = client_fail(CLIENT_EXIT_CERT, "The server %s:%d sent no certificate.",
                                     o->host, o->port);
            goto fail;
        }
        int rc = client_cert_accept(o, cert, vres, exit_code);
        X509_free(cert);
        if (rc < 0)
            goto fail;
    }
    log_debug("TLS to %s:%d: %s %s", o->host, o->port, SSL_get_version(t->ssl),
              SSL_get_cipher_name(t->ssl));
    keep_fingerprint(t);
    return t;
ssl_fail : {
    char why[256];
    *exit_code = client_fail(CLIENT_EXIT_UNREACHABLE, "Cannot set up TLS: %s.",
                             qvd_tls_reason(why, sizeof(why)));
}
fail:
    tls_free(t);
    return NULL;
}

/* ---- I/O ---- */

ssize_t
client_tls_read_nb(struct client_tls *t, void *buf, size_t len, short *want)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return -2;
    }
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0))
        return 0;
    char why[256];
    return qvd_seterr("%s", qvd_tls_reason(why, sizeof(why)));
}

ssize_t
client_tls_write_nb(struct client_tls *t, const void *buf, size_t len, short *want)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_write(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return -2;
    }
    char why[256];
    return qvd_seterr("%s", qvd_tls_reason(why, sizeof(why)));
}

int
client_tls_write(struct client_tls *t, const void *data, size_t len, int64_t deadline)
{
    size_t off = 0;
    while (off < len) {
        short want = 0;
        ssize_t n = client_tls_write_nb(t, (const char *)data + off, len - off, &want);
        if (n > 0)
            off += (size_t)n;
        else if (n == -2) {
            if (wait_fd(t->fd, want, deadline) < 0)
                return -1;
        } else
            return -1;
    }
    return 0;
}

ssize_t
client_tls_read(struct client_tls *t, void *buf, size_t len, int64_t deadline)
{
    for (;;) {
        short want = 0;
        ssize_t n = client_tls_read_nb(t, buf, len, &want);
        if (n != -2)
            return n;
        if (wait_fd(t->fd, want, deadline) < 0)
            return -1;
    }
}

/* slave.c: the mini-HTTP of QVD's slave channel, shared by both ends (slave.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "err.h"
#include "slave.h"

bool
qvd_slave_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;

    if (n < QVD_SLAVE_KEY_MIN || n > QVD_SLAVE_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z') ||
              (key[i] >= '0' && key[i] <= '9')))
            return false;
    return true;
}

char *
qvd_slave_key_read(const char *path)
{
    char *data = NULL;
    size_t len = 0;

    if (path == NULL || qvd_read_file(path, 256, &data, &len) < 0) {
        qvd_seterr("cannot read the slave key %s: %s", path ? path : "(none)", strerror(errno));
        return NULL;
    }
    data[strcspn(data, "\r\n")] = '\0';
    if (!qvd_slave_key_valid(data)) {
        qvd_wipe(data, len);
        free(data);
        qvd_seterr("no valid slave key in %s", path);
        return NULL;
    }
    return data;
}

int
qvd_slave_read_head(int fd, struct qvd_http_parser *p, struct qvd_buf *rest)
{
    int64_t deadline = qvd_mono_ms() + QVD_SLAVE_HEAD_MS;
    char buf[4096];

    for (;;) {
        int64_t left = deadline - qvd_mono_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0)
            return qvd_seterr("no whole head within %d s", QVD_SLAVE_HEAD_MS / 1000);
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return qvd_seterr("poll: %s", strerror(errno));
        if (r == 0)
            continue;
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return qvd_seterr("read: %s", strerror(errno));
        if (n == 0)
            return qvd_seterr("closed before a whole head");
        size_t used = 0, pos = 0;
        enum qvd_http_result res;
        do { /* a 1xx other than 101 is skipped */
            res = qvd_http_parser_feed(p, buf + pos, (size_t)n - pos, &used);
            pos += used;
        } while (res == QVD_HTTP_INTERIM && pos < (size_t)n);
        if (res == QVD_HTTP_ERROR)
            return -1; /* the parser's reason */
        if (res == QVD_HTTP_COMPLETE) {
            qvd_buf_add(rest, buf + pos, (size_t)n - pos);
            return 0;
        }
    }
}

static bool
same(const char *a, const char *key)
{
    size_t n = strlen(key);

    return strlen(a) == n && CRYPTO_memcmp(a, key, n) == 0;
}

/* Authorization: Basic <v>: v is the key, or base64 of it or of "<user>:<key>". */
static bool
basic_has_key(const char *v, const char *key)
{
    unsigned char dec[256];
    bool ok;

    if (strncasecmp(v, "Basic ", 6) != 0)
        return false;
    v += 6;
    while (*v == ' ')
        v++;
    if (same(v, key))
        return true;
    size_t n = strlen(v);
    if (n == 0 || n % 4 != 0 || n / 4 * 3 >= sizeof(dec))
        return false;
    int len = EVP_DecodeBlock(dec, (const unsigned char *)v, (int)n);
    if (len < 0)
        return false;
    while (len > 0 && v[n - 1] == '=' && dec[len - 1] == '\0') /* padding decoded as NULs */
        len--, n--;
    dec[len] = '\0';
    if (memchr(dec, '\0', (size_t)len) != NULL)
        return false;
    char *colon = strchr((char *)dec, ':');
    ok = same(colon ? colon + 1 : (char *)dec, key);
    qvd_wipe(dec, sizeof(dec));
    return ok;
}

bool
qvd_slave_authorized(const struct qvd_http_msg *m, const char *key)
{
    const char *h = qvd_http_msg_header(m, "X-QVD-Slave-Key");
    const char *a = qvd_http_msg_header(m, "Authorization");

    if (!qvd_slave_key_valid(key))
        return false;
    return (h != NULL && same(h, key)) || (a != NULL && basic_has_key(a, key));
}

int
qvd_slave_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return qvd_seterr("write: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
qvd_slave_answer(int fd, int status, const char *const *headers, const char *text)
{
    struct qvd_buf b = QVD_BUF_INIT;
    int rc;

    qvd_http_write_response(&b, status, headers, text && status != 101 ? "text/plain" : NULL,
                            text && status != 101 ? text : NULL,
                            text && status != 101 ? strlen(text) : 0);
    rc = qvd_slave_write_all(fd, b.data, b.len);
    qvd_buf_free(&b);
    return rc;
}

/* One direction of a pipe: its buffer and ends. */
struct dir {
    int from, to;
    char buf[16384];
    size_t len, off;
    bool eof, done;
};

/* A direction ended: its writing end is half-closed (a socket: the peer reads its EOF while
 * the other direction goes on), or closed when it is a pipe of its own. */
static void
dir_finish(struct dir *d, int keep)
{
    d->done = true;
    if (shutdown(d->to, SHUT_WR) < 0 && errno == ENOTSOCK && d->to != keep)
        close(d->to);
}

void
qvd_slave_pipe(int in, int out, int sock, const struct qvd_buf *first)
{
    struct dir up = {.from = in, .to = sock}, down = {.from = sock, .to = out};
    struct dir *ds[2] = {&up, &down};

    if (first != NULL && first->len > 0 && qvd_slave_write_all(sock, first->data, first->len) < 0)
        return;
    while (!up.done || !down.done) {
        struct pollfd pfd[2];
        for (int i = 0; i < 2; i++) {
            struct dir *d = ds[i];
            pfd[i].fd = d->done ? -1 : d->len > d->off ? d->to : d->from;
            pfd[i].events = d->len > d->off ? POLLOUT : POLLIN;
        }
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < 2; i++) {
            struct dir *d = ds[i];
            if (d->done || !(pfd[i].revents & (POLLIN | POLLOUT | POLLHUP | POLLERR)))
                continue;
            if (d->len > d->off) {
                ssize_t n = write(d->to, d->buf + d->off, d->len - d->off);
                if (n < 0 && errno != EINTR && errno != EAGAIN) {
                    d->done = true; /* the reader went away */
                    continue;
                }
                if (n > 0)
                    d->off += (size_t)n;
            } else {
                ssize_t n = read(d->from, d->buf, sizeof(d->buf));
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                    continue;
                if (n <= 0) {
                    dir_finish(d, d == &up ? -1 : in);
                    continue;
                }
                d->len = (size_t)n;
                d->off = 0;
            }
            if (d->off == d->len)
                d->len = d->off = 0;
        }
    }
}

int
qvd_slave_connect_local(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return qvd_seterr("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return qvd_seterr("connect to 127.0.0.1:%d: %s", port, strerror(e));
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    return fd;
}

int
qvd_slave_port(const char *s)
{
    long v = 0;

    if (s == NULL || *s == '\0' || strlen(s) > 5)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v >= 1 && v <= 65535 ? (int)v : -1;
}

bool
qvd_slave_share_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 64 || name[0] == '.')
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("._-+ ", *c) != NULL))
            return false;
    return true;
}

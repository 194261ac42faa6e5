/* util.c: memory, buffer, file and number helpers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "err.h"
#include "log.h"
#include "util.h"

static void *
oom(void *p)
{
    if (p == NULL)
        qvd_fatal("out of memory");
    return p;
}

void *
qvd_xcalloc(size_t n, size_t size)
{
    return oom(calloc(n ? n : 1, size ? size : 1));
}

void *
qvd_xrealloc(void *p, size_t size)
{
    return oom(realloc(p, size ? size : 1));
}

void *
qvd_xgrow(void *p, size_t n, size_t *cap, size_t size, size_t first)
{
    if (n < *cap)
        return p;
    *cap = *cap ? *cap * 2 : first;
    return qvd_xrealloc(p, *cap * size);
}

char *
qvd_xstrdup(const char *s)
{
    return oom(strdup(s));
}

char *
qvd_xstrndup(const char *s, size_t n)
{
    return oom(strndup(s, n));
}

char *
qvd_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return oom(s);
}

static void
buf_grow(struct qvd_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = qvd_xrealloc(b->data, cap);
    b->cap = cap;
}

void
qvd_buf_add(struct qvd_buf *b, const void *data, size_t len)
{
    buf_grow(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void
qvd_buf_addc(struct qvd_buf *b, char c)
{
    qvd_buf_add(b, &c, 1);
}

void
qvd_buf_adds(struct qvd_buf *b, const char *s)
{
    qvd_buf_add(b, s, strlen(s));
}

void
qvd_buf_printf(struct qvd_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    buf_grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void
qvd_buf_add_utf8(struct qvd_buf *b, unsigned cp)
{
    char u[4];

    if (cp < 0x80) {
        qvd_buf_addc(b, (char)cp);
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        qvd_buf_add(b, u, 2);
    } else {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        qvd_buf_add(b, u, 3);
    }
}

const char *
qvd_buf_str(struct qvd_buf *b)
{
    return b->data ? b->data : "";
}

void
qvd_buf_reset(struct qvd_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *
qvd_buf_steal(struct qvd_buf *b)
{
    char *s = b->data ? b->data : qvd_xstrdup("");
    *b = (struct qvd_buf)QVD_BUF_INIT;
    return s;
}

void
qvd_buf_free(struct qvd_buf *b)
{
    free(b->data);
    *b = (struct qvd_buf)QVD_BUF_INIT;
}

int
qvd_read_file(const char *path, size_t max, char **out, size_t *lenp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct qvd_buf b = QVD_BUF_INIT;
    char chunk[8192];
    ssize_t n;
    int saved;

    if (fd < 0)
        return qvd_seterr("%s", strerror(errno));
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
        if (b.len + (size_t)n > max) {
            close(fd);
            qvd_buf_free(&b);
            errno = EFBIG;
            return qvd_seterr("%s is larger than %zu bytes", path, max);
        }
        qvd_buf_add(&b, chunk, (size_t)n);
    }
    saved = errno;
    close(fd);
    if (n < 0) {
        qvd_buf_free(&b);
        errno = saved;
        return qvd_seterr("%s", strerror(saved));
    }
    if (lenp)
        *lenp = b.len;
    *out = qvd_buf_steal(&b);
    return 0;
}

int
qvd_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int
qvd_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    char *tmp = qvd_xasprintf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int rc = -1;

    if (fd < 0) {
        qvd_seterr("cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (fchmod(fd, mode) < 0 || qvd_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        qvd_seterr("cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        qvd_seterr("cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

int
qvd_mkdir_p(const char *path, mode_t mode)
{
    char *p = qvd_xstrdup(path);
    int rc = 0;

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            rc = -1;
        *s = '/';
        if (rc < 0)
            break;
    }
    if (rc == 0 && mkdir(p, mode) < 0 && errno != EEXIST)
        rc = -1;
    if (rc < 0)
        qvd_seterr("cannot create directory %s: %s", p, strerror(errno));
    free(p);
    return rc;
}

static int
rm_rf_at(int dirfd, const char *name, dev_t dev)
{
    struct stat st;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : qvd_seterr("stat %s: %s", name, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
            return qvd_seterr("unlink %s: %s", name, strerror(errno));
        return 0;
    }
    if (st.st_dev != dev)
        return qvd_seterr("refusing to remove %s: it is a mount point", name);
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return qvd_seterr("open %s: %s", name, strerror(errno));
    DIR *d = fdopendir(fd);
    struct dirent *de;
    int rc = 0;
    if (d == NULL) {
        close(fd);
        return qvd_seterr("opendir %s: %s", name, strerror(errno));
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        rc = rm_rf_at(fd, de->d_name, dev);
    }
    closedir(d);
    if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        rc = qvd_seterr("rmdir %s: %s", name, strerror(errno));
    return rc;
}

int
qvd_rm_rf(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : qvd_seterr("stat %s: %s", path, strerror(errno));
    return rm_rf_at(AT_FDCWD, path, st.st_dev);
}

int
qvd_parse_long(const char *s, long *out)
{
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return qvd_seterr("empty number");
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return qvd_seterr("'%s' is not a number", s);
    *out = v;
    return 0;
}

int64_t
qvd_now(void)
{
    /* not time(2): glibc serves it from the coarse clock, which at a second's turn can lag
     * the clock that SQLite and PostgreSQL stamp rows with by a few milliseconds */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t
qvd_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
qvd_random_hex(char *out, size_t n)
{
    unsigned char raw[128];
    static const char hex[] = "0123456789abcdef";

    if (n > sizeof(raw))
        return qvd_seterr("random request too large");
    if (getrandom(raw, n, 0) != (ssize_t)n)
        return qvd_seterr("getrandom: %s", strerror(errno));
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * n] = '\0';
    qvd_wipe(raw, sizeof(raw));
    return 0;
}

bool
qvd_secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la != lb || la == 0)
        return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}

void
qvd_wipe(void *p, size_t len)
{
    OPENSSL_cleanse(p, len);
}

int
qvd_wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - qvd_mono_ms();
        if (left <= 0)
            return qvd_seterr("timed out");
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, (int)left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return qvd_seterr("poll: %s", strerror(errno));
    }
}

/* util.h: small helpers shared by every program: memory, growable buffers, files, numbers. */
#ifndef QVD_UTIL_H
#define QVD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define QVD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* The structure of type `type` whose member `member` is at `ptr`. */
#define QVD_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Allocation wrappers: abort with a log line on out-of-memory (daemons cannot go on). */
void *qvd_xcalloc(size_t n, size_t size);
void *qvd_xrealloc(void *p, size_t size);
/* Room for element n of an array p of *cap elements of `size` bytes: p as it is while
 * n < *cap, else reallocated to twice as many (`first` the first time); aborts on failure. */
void *qvd_xgrow(void *p, size_t n, size_t *cap, size_t size, size_t first);
char *qvd_xstrdup(const char *s);
char *qvd_xstrndup(const char *s, size_t n);
char *qvd_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable NUL-terminated byte buffer. */
struct qvd_buf {
    char *data;
    size_t len, cap;
};
#define QVD_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }
void qvd_buf_add(struct qvd_buf *b, const void *data, size_t len);
void qvd_buf_addc(struct qvd_buf *b, char c);
void qvd_buf_adds(struct qvd_buf *b, const char *s);
void qvd_buf_printf(struct qvd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void qvd_buf_add_utf8(struct qvd_buf *b, unsigned cp);
const char *qvd_buf_str(struct qvd_buf *b); /* never NULL */
void qvd_buf_reset(struct qvd_buf *b);
char *qvd_buf_steal(struct qvd_buf *b); /* caller frees; buffer is left empty */
void qvd_buf_free(struct qvd_buf *b);

/* Reads a whole file of at most `max` bytes, NUL-terminated. errno is kept on failure. */
int qvd_read_file(const char *path, size_t max, char **out, size_t *len);
/* Writes all of p to fd, retrying partial writes and EINTR. 0, or -1 with errno set. */
int qvd_write_all(int fd, const void *p, size_t n);
/* Writes a file atomically (temp file + fsync + rename) with the given mode. */
int qvd_write_file(const char *path, const void *data, size_t len, mode_t mode);
/* mkdir -p with the mode for created components. */
int qvd_mkdir_p(const char *path, mode_t mode);
/* rm -rf that never crosses a mount point (a mounted rootfs under it is an error). */
int qvd_rm_rf(const char *path);

/* Strict base-10 parse of the whole string. */
int qvd_parse_long(const char *s, long *out);
/* Seconds since the epoch, and a monotonic clock in milliseconds. */
int64_t qvd_now(void);
int64_t qvd_mono_ms(void);
/* `n` random bytes from the kernel as 2n lowercase hex chars into out[2n+1]. */
int qvd_random_hex(char *out, size_t n);
/* Compares secrets in time independent of where they differ. */
bool qvd_secret_equal(const char *a, const char *b);
/* Overwrites a secret so it does not linger in memory. */
void qvd_wipe(void *p, size_t len);

/* Waits until fd is ready for `events` (poll) or the qvd_mono_ms() deadline passes:
 * 0, or -1 ("timed out", or poll's error). */
int qvd_wait_fd(int fd, short events, int64_t deadline);

#endif

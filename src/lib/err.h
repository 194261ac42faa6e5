/* err.h: the one error contract of libqvd: functions return 0/-1 and leave a message here. */
#ifndef QVD_ERR_H
#define QVD_ERR_H

/* Records the reason for the failure the caller is about to report (printf-style).
 * Always returns -1 so that `return qvd_seterr(...)` reads naturally. */
int qvd_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last message recorded by qvd_seterr() in this thread ("" if none). */
const char *qvd_strerror(void);

#endif

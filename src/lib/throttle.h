/* throttle.h: failed-login throttling shared by the L7R and qvd-api. */
#ifndef QVD_THROTTLE_H
#define QVD_THROTTLE_H

#include <stdint.h>

struct qvd_throttle;

struct qvd_throttle *qvd_throttle_new(long failures, long window_s);
void qvd_throttle_free(struct qvd_throttle *t);
/* Seconds the key must wait (0 = go ahead). */
long qvd_throttle_blocked(struct qvd_throttle *t, const char *key, int64_t now);
void qvd_throttle_fail(struct qvd_throttle *t, const char *key, int64_t now);

#endif

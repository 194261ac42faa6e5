/* throttle.h: failed-login throttling shared by the L7R and qvd-api. */
#ifndef QVD_THROTTLE_H
#define QVD_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

struct qvd_throttle;

#define QVD_THROTTLE_SLOTS 4096 /* keys held at most when qvd_throttle_new gets 0 */

/* A table of at most `slots` keys (0: QVD_THROTTLE_SLOTS): after `failures` failures of one
 * key within `window_s` seconds of its first, the key is locked until that window ends. */
struct qvd_throttle *qvd_throttle_new(long failures, long window_s, size_t slots);
void qvd_throttle_free(struct qvd_throttle *t);
/* Seconds the key must wait (0 = go ahead). A key with no slot waits too while a failure
 * could not be recorded because every slot held an active lock (see throttle.c). */
long qvd_throttle_blocked(struct qvd_throttle *t, const char *key, int64_t now);
/* Counts one failure of the key. Never evicts a key that holds an active lock. */
void qvd_throttle_fail(struct qvd_throttle *t, const char *key, int64_t now);
/* Before the credentials of a login are checked, with its n keys (an address, a login;
 * NULL or "" ones skipped): 0 when none must wait, and then one failure is counted for
 * each at once, so that attempts in flight count; else the longest wait, nothing counted
 * (or, when a key finds no slot in a table full of locks, the wait until one frees).
 * A login that succeeds gives its failure back with qvd_throttle_ok (same keys). */
long qvd_throttle_begin(struct qvd_throttle *t, const char *const *keys, size_t n, int64_t now);
void qvd_throttle_ok(struct qvd_throttle *t, const char *const *keys, size_t n, int64_t now);

/* The key of a client address into out: "ip:A.B.C.D" for IPv4 (also IPv4-mapped IPv6),
 * "ip:NET/PREFIX" for IPv6 (the address with every bit past v6_prefix cleared, the zone
 * dropped), so that one host cannot rotate through its own network; anything else (a Unix
 * socket's "local") as "ip:TEXT". v6_prefix outside 1..128 counts as 128. */
void qvd_throttle_ip_key(const char *addr, int v6_prefix, char *out, size_t len);

#endif

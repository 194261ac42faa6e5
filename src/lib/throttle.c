/* throttle.c: failed-login throttling (L7R, qvd-api): after N failures of one key (a login
 * or a client address) within a window, the key waits until the window has passed.
 *
 * In memory, in a table of fixed size, so that a flood of one-shot keys (many addresses,
 * many made-up logins) cannot grow it. Such a flood must not be a way to unlock a key
 * either: an entry that holds an active lock is never reused. When the table is full, the
 * entry without an active lock whose window started first makes room; when every entry
 * holds an active lock, see table_full below. Locked, so that worker threads may share
 * one table.
 *
 * A login being checked counts as a failure from the moment it is let through
 * (qvd_throttle_begin) until it turns out right (qvd_throttle_ok): counted only once its
 * result came back, a thousand guesses sent at once would all pass the check before the
 * first failure was counted. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "throttle.h"
#include "util.h"

#define THROTTLE_KEY 160

struct throttle_entry {
    char key[THROTTLE_KEY]; /* "" = free; longer keys are cut (they then share a counter) */
    uint64_t hash;          /* of key, to compare quickly */
    int64_t start;          /* first failure of the current window */
    long failures;
};

struct qvd_throttle {
    long max_failures, window;
    pthread_mutex_t lock;
    /* until then, keys without an entry wait: a failure was lost to a full table */
    int64_t full_until;
    size_t n;
    struct throttle_entry *e;
};

struct qvd_throttle *
qvd_throttle_new(long failures, long window_s, size_t slots)
{
    struct qvd_throttle *t = qvd_xcalloc(1, sizeof(*t));

    t->max_failures = failures > 0 ? failures : 5;
    t->window = window_s > 0 ? window_s : 60;
    t->n = slots > 0 ? slots : QVD_THROTTLE_SLOTS;
    t->e = qvd_xcalloc(t->n, sizeof(*t->e));
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void
qvd_throttle_free(struct qvd_throttle *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t->e);
    free(t);
}

/* FNV-1a */
static uint64_t
key_hash(const char *key)
{
    uint64_t h = 14695981039346656037ULL;

    for (size_t i = 0; key[i] && i < THROTTLE_KEY - 1; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
    return h;
}

static bool
locked(const struct qvd_throttle *t, const struct throttle_entry *e, int64_t now)
{
    return e->key[0] && e->failures >= t->max_failures && now - e->start < t->window;
}

/* The entry of key, or NULL. With `create`, a new entry when there is none, taken from a
 * free slot, else from the entry without an active lock whose window started first; NULL
 * when every entry holds an active lock (*first_free then says when the first one ends). */
static struct throttle_entry *
find(struct qvd_throttle *t, const char *key, int64_t now, bool create, int64_t *first_free)
{
    struct throttle_entry *victim = NULL;
    uint64_t h = key_hash(key);

    *first_free = INT64_MAX;
    for (size_t i = 0; i < t->n; i++) {
        struct throttle_entry *e = &t->e[i];
        if (e->key[0] && now - e->start >= t->window)
            e->key[0] = '\0'; /* expired */
        if (e->key[0] && e->hash == h && strncmp(e->key, key, THROTTLE_KEY - 1) == 0)
            return e;
        if (locked(t, e, now)) {
            if (e->start + t->window < *first_free)
                *first_free = e->start + t->window;
            continue;
        }
        if (!victim || !e->key[0] || (victim->key[0] && e->start < victim->start))
            victim = e;
    }
    if (!create || victim == NULL)
        return NULL;
    memset(victim, 0, sizeof(*victim));
    strncpy(victim->key, key, THROTTLE_KEY - 1);
    victim->hash = h;
    victim->start = now;
    return victim;
}

/* The wait of a key (lock held). */
static long
wait_of(struct qvd_throttle *t, const char *key, int64_t now)
{
    int64_t first_free;
    struct throttle_entry *e = find(t, key, now, false, &first_free);

    if (e != NULL && e->failures >= t->max_failures)
        return (long)(e->start + t->window - now);
    if (e == NULL && now < t->full_until)
        return (long)(t->full_until - now);
    return 0;
}

/* Counts a failure of key (lock held): 0, or -1 when it found no slot. */
static int
count(struct qvd_throttle *t, const char *key, int64_t now)
{
    int64_t first_free;
    struct throttle_entry *e = find(t, key, now, true, &first_free);

    if (e != NULL) {
        e->failures++;
        return 0;
    }
    /* table_full: every slot holds an active lock. Unlocking one to make room would hand
     * an attacker who can fill the table a way to clear any lock; not recording the
     * failure would let him guess without limit on every key not yet in the table. So the
     * failure closes the door instead: until the first lock ends (and frees a slot), every
     * key without a slot is answered as throttled. Keys that were never in the table wait
     * a little too: the attacker needs a lock in every slot, thousands of them, to get
     * there. */
    if (first_free > t->full_until)
        t->full_until = first_free;
    return -1;
}

long
qvd_throttle_blocked(struct qvd_throttle *t, const char *key, int64_t now)
{
    long wait;

    pthread_mutex_lock(&t->lock);
    wait = wait_of(t, key, now);
    pthread_mutex_unlock(&t->lock);
    return wait;
}

void
qvd_throttle_fail(struct qvd_throttle *t, const char *key, int64_t now)
{
    pthread_mutex_lock(&t->lock);
    count(t, key, now);
    pthread_mutex_unlock(&t->lock);
}

long
qvd_throttle_begin(struct qvd_throttle *t, const char *const *keys, size_t n, int64_t now)
{
    long wait = 0, w;

    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < n; i++)
        if (keys[i] != NULL && keys[i][0] && (w = wait_of(t, keys[i], now)) > wait)
            wait = w;
    for (size_t i = 0; wait == 0 && i < n; i++)
        if (keys[i] != NULL && keys[i][0] && count(t, keys[i], now) < 0)
            wait = (long)(t->full_until - now);
    pthread_mutex_unlock(&t->lock);
    return wait;
}

void
qvd_throttle_ok(struct qvd_throttle *t, const char *const *keys, size_t n, int64_t now)
{
    struct throttle_entry *e;
    int64_t first_free;

    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < n; i++) {
        if (keys[i] == NULL || !keys[i][0])
            continue;
        e = find(t, keys[i], now, false, &first_free);
        if (e != NULL && e->failures > 0)
            e->failures--;
        if (e != NULL && e->failures == 0)
            e->key[0] = '\0'; /* no failure left: the slot is free, and a window begins
                               * at the next failure, not at this success */
    }
    pthread_mutex_unlock(&t->lock);
}

void
qvd_throttle_ip_key(const char *addr, int v6_prefix, char *out, size_t len)
{
    struct in6_addr a6;
    struct in_addr a4;
    char host[64], net[INET6_ADDRSTRLEN];
    size_t n = strcspn(addr, "%"); /* a zone (fe80::1%eth0) names no other host */
    int bits = v6_prefix >= 1 && v6_prefix <= 128 ? v6_prefix : 128;

    snprintf(host, sizeof(host), "%.*s", (int)n, addr);
    if (inet_pton(AF_INET, host, &a4) == 1) {
        snprintf(out, len, "ip:%s", host);
        return;
    }
    if (inet_pton(AF_INET6, host, &a6) != 1) {
        snprintf(out, len, "ip:%s", addr);
        return;
    }
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
        memcpy(&a4, &a6.s6_addr[12], 4);
        inet_ntop(AF_INET, &a4, net, sizeof(net));
        snprintf(out, len, "ip:%s", net);
        return;
    }
    for (int i = 0; i < 16; i++) {
        int keep = bits - 8 * i; /* bits of this byte that stay */
        if (keep <= 0)
            a6.s6_addr[i] = 0;
        else if (keep < 8)
            a6.s6_addr[i] &= (uint8_t)(0xff << (8 - keep));
    }
    inet_ntop(AF_INET6, &a6, net, sizeof(net));
    snprintf(out, len, "ip:%s/%d", net, bits);
}

/* throttle.c: failed-login throttling (L7R, qvd-api): after N failures of one key (a login
 * or a client address) within a window, the key waits until the window has passed. In
 * memory, in a table of fixed size: when full, the entry whose window started first is
 * reused. Locked, so that worker threads may share one table. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "throttle.h"
#include "util.h"

#define THROTTLE_SLOTS 4096
#define THROTTLE_KEY 160

struct throttle_entry {
    char key[THROTTLE_KEY]; /* "" = free */
    int64_t start;          /* first failure of the current window */
    long failures;
};

struct qvd_throttle {
    long max_failures, window;
    pthread_mutex_t lock;
    struct throttle_entry e[THROTTLE_SLOTS];
};

struct qvd_throttle *
qvd_throttle_new(long failures, long window_s)
{
    struct qvd_throttle *t = qvd_xcalloc(1, sizeof(*t));

    t->max_failures = failures > 0 ? failures : 5;
    t->window = window_s > 0 ? window_s : 60;
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void
qvd_throttle_free(struct qvd_throttle *t)
{
    if (t == NULL)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static struct throttle_entry *
find(struct qvd_throttle *t, const char *key, int64_t now, bool create)
{
    struct throttle_entry *victim = NULL;

    for (size_t i = 0; i < THROTTLE_SLOTS; i++) {
        struct throttle_entry *e = &t->e[i];
        if (e->key[0] && now - e->start >= t->window)
            e->key[0] = '\0'; /* expired */
        if (e->key[0] && strncmp(e->key, key, THROTTLE_KEY - 1) == 0)
            return e;
        if (!victim || !e->key[0] || (victim->key[0] && e->start < victim->start))
            victim = e;
    }
    if (!create)
        return NULL;
    memset(victim, 0, sizeof(*victim));
    strncpy(victim->key, key, THROTTLE_KEY - 1);
    victim->start = now;
    return victim;
}

long
qvd_throttle_blocked(struct qvd_throttle *t, const char *key, int64_t now)
{
    struct throttle_entry *e;
    long wait = 0;

    pthread_mutex_lock(&t->lock);
    e = find(t, key, now, false);
    if (e != NULL && e->failures >= t->max_failures)
        wait = (long)(e->start + t->window - now);
    pthread_mutex_unlock(&t->lock);
    return wait;
}

void
qvd_throttle_fail(struct qvd_throttle *t, const char *key, int64_t now)
{
    pthread_mutex_lock(&t->lock);
    find(t, key, now, true)->failures++;
    pthread_mutex_unlock(&t->lock);
}

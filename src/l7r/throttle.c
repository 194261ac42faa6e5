/* throttle.c: failed-login throttling: after N failures of one key (a login or a client
 * address) within a window, the key waits until the window has passed. In memory, in a
 * table of fixed size: when full, the entry whose window started first is reused. */
#include <stdlib.h>
#include <string.h>

#include "l7r.h"
#include "util.h"

#define THROTTLE_SLOTS 4096
#define THROTTLE_KEY 160

struct throttle_entry {
    char key[THROTTLE_KEY]; /* "" = free */
    int64_t start;          /* first failure of the current window */
    long failures;
};

struct l7r_throttle {
    long max_failures, window;
    struct throttle_entry e[THROTTLE_SLOTS];
};

struct l7r_throttle *
l7r_throttle_new(long failures, long window_s)
{
    struct l7r_throttle *t = qvd_xcalloc(1, sizeof(*t));

    t->max_failures = failures > 0 ? failures : 5;
    t->window = window_s > 0 ? window_s : 60;
    return t;
}

void
l7r_throttle_free(struct l7r_throttle *t)
{
    free(t);
}

static struct throttle_entry *
find(struct l7r_throttle *t, const char *key, int64_t now, bool create)
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
l7r_throttle_blocked(struct l7r_throttle *t, const char *key, int64_t now)
{
    struct throttle_entry *e = find(t, key, now, false);

    if (e == NULL || e->failures < t->max_failures)
        return 0;
    return (long)(e->start + t->window - now);
}

void
l7r_throttle_fail(struct l7r_throttle *t, const char *key, int64_t now)
{
    find(t, key, now, true)->failures++;
}

/* work.c: the database work of the L7R, off its event loop. Every query runs on a worker
 * thread with its own database connection (libqvd's workq); the result comes back to the
 * loop, which alone touches connections and sessions. Two queues:
 * - the pool (l7r.auth.threads workers): reads and password checks, in parallel;
 * - the ordered queue (one worker): the writes whose order matters (a VM's user slot taken,
 *   connected, released; session endings; counters), run in the order the loop asked for
 *   them, as they were when the loop ran them itself.
 * A job knows its connection; when the connection ends first, conn_free sets it to NULL
 * and the job's done only cleans up (docs/l7r.md "Database workers"). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "db.h"
#include "err.h"
#include "l7r.h"
#include "log.h"
#include "model.h"
#include "model_l7r.h"
#include "util.h"
#include "workq.h"

static void
run(void *job, void *ctx)
{
    struct l7r_job *j = job;

    j->run(j, ctx);
}

static void
done(void *job, void *arg)
{
    struct l7r_job *j = job;
    struct l7r *l = arg;

    if (j->conn != NULL)
        j->conn->job = NULL;
    l->njobs--;
    j->done(j);
    if (l->draining && l->njobs == 0)
        event_base_loopbreak(l->base);
}

static void
discard(void *job, void *arg)
{
    struct l7r_job *j = job;
    struct l7r *l = arg;

    l->njobs--;
    j->conn = NULL;
    if (j->discard)
        j->discard(j);
    else
        free(j);
}

static const struct qvd_workq_ops ops = {
    .run = run,
    .done = done,
    .discard = discard,
};

int
l7r_work_start(struct l7r *l, int nthreads)
{
    l->pool = qvd_workq_start_db(l->base, nthreads > 16 ? 16 : nthreads, &ops, l, l->cfg);
    if (l->pool == NULL)
        return -1;
    l->ordered = qvd_workq_start_db(l->base, 1, &ops, l, l->cfg);
    if (l->ordered == NULL) {
        qvd_workq_stop(l->pool);
        l->pool = NULL;
        return -1;
    }
    log_info("database work and password checks on %d + 1 worker threads",
             qvd_workq_threads(l->pool));
    return 0;
}

static void
submit(struct l7r *l, struct qvd_workq *q, struct l7r_job *j, struct l7r_conn *c)
{
    j->l = l;
    j->conn = c;
    j->host_id = l->host_id;
    j->pid = (int64_t)l->pid;
    if (c != NULL) {
        if (c->job != NULL)
            qvd_fatal("connection %llu: a second database job", (unsigned long long)c->h.id);
        c->job = j;
    }
    l->njobs++;
    qvd_workq_submit(q, j);
}

void
l7r_work(struct l7r *l, struct l7r_job *j, struct l7r_conn *c)
{
    submit(l, l->pool, j, c);
}

void
l7r_work_ordered(struct l7r *l, struct l7r_job *j, struct l7r_conn *c)
{
    submit(l, l->ordered, j, c);
}

/* ---- writes nobody waits for: counters and released slots ---- */

/* The node's counters (host_counters): counted on the loop, written by one job at a time
 * with what was counted since the last, so that a stalled database holds one job however
 * many requests come meanwhile. */
static const char *const counter_names[L7R_NCOUNTERS] = {
    "http_requests", "auth_attempts", "auth_ok", "nx_attempts", "nx_ok", "short_sessions"};

struct counter_job {
    struct l7r_job j;
    int64_t n[L7R_NCOUNTERS];
};

static void
counter_run(struct l7r_job *job, struct qvd_db *db)
{
    struct counter_job *cj = (struct counter_job *)job;

    for (size_t i = 0; i < L7R_NCOUNTERS; i++)
        if (cj->n[i] > 0 && qvd_model_l7r_counter(db, job->host_id, counter_names[i], cj->n[i]) < 0)
            log_warn("counter %s: %s", counter_names[i], qvd_strerror());
}

static void counters_flush(struct l7r *l);

static void
counter_done(struct l7r_job *job)
{
    struct l7r *l = job->l;

    free(job);
    l->counter_job = false;
    counters_flush(l);
}

static void
counters_flush(struct l7r *l)
{
    struct counter_job *cj;
    bool any = false;

    for (size_t i = 0; i < L7R_NCOUNTERS; i++)
        any |= l->counts[i] > 0;
    if (!any || l->counter_job || l->host_id < 0)
        return;
    cj = qvd_xcalloc(1, sizeof(*cj));
    cj->j.run = counter_run;
    cj->j.done = counter_done;
    memcpy(cj->n, l->counts, sizeof(cj->n));
    memset(l->counts, 0, sizeof(l->counts));
    l->counter_job = true;
    l7r_work_ordered(l, &cj->j, NULL);
}

void
l7r_counter(struct l7r *l, const char *column)
{
    if (l->host_id < 0)
        return;
    for (size_t i = 0; i < L7R_NCOUNTERS; i++)
        if (strcmp(column, counter_names[i]) == 0) {
            l->counts[i]++;
            counters_flush(l);
            return;
        }
    log_warn("no counter %s", column);
}

struct release_job {
    struct l7r_job j;
    int64_t vm_id;
};

/* A release that fails for want of a database (a failover) is tried again: this process
 * lives on, so no heartbeat would ever free the slot, and its user could not connect. It
 * is idempotent (it names this process) and holds the ordered queue meanwhile, so the
 * slot's next write still comes after it. */
#define RELEASE_TRIES 60

static void
release_run(struct l7r_job *job, struct qvd_db *db)
{
    struct release_job *r = (struct release_job *)job;

    for (int i = 0; qvd_model_l7r_slot_release(db, job->host_id, job->pid, r->vm_id) < 0; i++) {
        enum qvd_model_errkind k = qvd_model_errkind();
        if (i + 1 == RELEASE_TRIES || (k != QVD_MODEL_BUSY && k != QVD_MODEL_INTERNAL)) {
            log_err("VM %lld: cannot release the user slot: %s", (long long)r->vm_id,
                    qvd_strerror());
            return;
        }
        if (i == 0)
            log_warn("VM %lld: cannot release the user slot yet: %s (trying again every second)",
                     (long long)r->vm_id, qvd_strerror());
        sleep(1);
    }
}

static void
release_done(struct l7r_job *job)
{
    free(job);
}

void
l7r_slot_release(struct l7r *l, int64_t vm_id)
{
    struct release_job *r = qvd_xcalloc(1, sizeof(*r));

    r->j.run = release_run;
    r->j.done = release_done;
    r->vm_id = vm_id;
    l7r_work_ordered(l, &r->j, NULL);
}

/* ---- shutdown ---- */

static void
on_drain_end(evutil_socket_t fd, short what, void *arg)
{
    struct l7r *l = arg;

    log_warn("stopping with %zu database jobs unfinished", l->njobs);
    event_base_loopbreak(l->base);
}

void
l7r_work_drain(struct l7r *l, long secs)
{
    struct timeval tv = {secs, 0};
    struct event *t;

    if (l->pool == NULL || l->njobs == 0)
        return;
    log_info("waiting up to %ld s for %zu database jobs", secs, l->njobs);
    l->draining = true;
    t = evtimer_new(l->base, on_drain_end, l);
    evtimer_add(t, &tv);
    event_base_dispatch(l->base);
    event_free(t);
    l->draining = false;
}

void
l7r_work_stop(struct l7r *l)
{
    if (l->pool)
        qvd_workq_stop(l->pool);
    if (l->ordered)
        qvd_workq_stop(l->ordered);
    l->pool = l->ordered = NULL;
}

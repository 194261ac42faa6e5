/* ending.c: why a relayed session ended when the relay only saw its stream close. In
 * order: the database (a stop command, a VM that is gone, its node lost), then the VMA's
 * account of its last nxagent (x_end: crashed, stopped, logged out), then who closed
 * first. The answer goes to session_ends, where the client reads it (api.c). The database's
 * part runs on the ordered queue (work.c), after the session's own writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "err.h"
#include "l7r.h"
#include "log.h"
#include "model.h"
#include "rpc.h"
#include "util.h"

#define RETRY_MS 200
#define TRIES 10 /* the VMA reaps a dead nxagent within milliseconds; 2 s is plenty */

struct l7r_ending {
    TAILQ_ENTRY(l7r_ending) entry;
    struct l7r *l;
    struct l7r_ending_info i;
    struct qvd_rpc_call *call;
    struct event *timer;
    int tries;
    struct end_job *job; /* a look at the database in progress */
};

/* Records an ending, or first asks the database why (ordered queue). */
struct end_job {
    struct l7r_job j;
    struct l7r_ending *e; /* waiting for the answer; NULL if abandoned or none */
    int64_t vm_id;
    char id[33], reason[32], detail[200];
    bool ask;     /* ask the database first; only record when it knows */
    bool crashed; /* the VMA is gone: if the database does not know, vm_crashed */
    int rc;       /* ask: qvd_model_vm_end_cause's */
};

static void
ending_free(struct l7r_ending *e)
{
    TAILQ_REMOVE(&e->l->endings, e, entry);
    if (e->job)
        e->job->e = NULL;
    if (e->call)
        qvd_rpc_call_cancel(e->call);
    if (e->timer)
        event_free(e->timer);
    free(e->i.vma_host);
    if (e->i.secret)
        qvd_wipe(e->i.secret, strlen(e->i.secret));
    free(e->i.secret);
    free(e);
}

static void
end_run(struct l7r_job *job, struct qvd_db *db)
{
    struct end_job *ej = (struct end_job *)job;

    if (ej->ask) {
        ej->rc = qvd_model_vm_end_cause(db, job->l->cfg, ej->vm_id, ej->reason, sizeof(ej->reason));
        if (ej->rc != 1 && !ej->crashed)
            return;
        if (ej->rc != 1)
            snprintf(ej->reason, sizeof(ej->reason), "vm_crashed");
        else
            ej->detail[0] = '\0';
    }
    log_info("VM %lld: session %s ended: %s%s%s", (long long)ej->vm_id, ej->id, ej->reason,
             ej->detail[0] ? ": " : "", ej->detail);
    if (qvd_model_session_end(db, ej->id, ej->reason, ej->detail[0] ? ej->detail : NULL) < 0)
        log_err("VM %lld: cannot record the session's end: %s", (long long)ej->vm_id,
                qvd_strerror());
    ej->rc = 1;
}

static void ask_vma(struct l7r_ending *e);

static void
end_done(struct l7r_job *job)
{
    struct end_job *ej = (struct end_job *)job;
    struct l7r_ending *e = ej->e;

    if (e != NULL) {
        e->job = NULL;
        if (ej->rc == 1)
            ending_free(e); /* recorded */
        else
            ask_vma(e);
    }
    free(ej);
}

static struct end_job *
end_job_new(struct l7r *l, int64_t vm_id, const char *id, const char *reason, const char *detail)
{
    struct end_job *ej = qvd_xcalloc(1, sizeof(*ej));

    ej->j.run = end_run;
    ej->j.done = end_done;
    ej->vm_id = vm_id;
    snprintf(ej->id, sizeof(ej->id), "%s", id);
    snprintf(ej->reason, sizeof(ej->reason), "%s", reason ? reason : "");
    snprintf(ej->detail, sizeof(ej->detail), "%s", detail ? detail : "");
    return ej;
}

void
l7r_ending_record(struct l7r *l, int64_t vm_id, const char *id, const char *reason)
{
    l7r_work_ordered(l, &end_job_new(l, vm_id, id, reason, NULL)->j, NULL);
}

static void
record(struct l7r_ending *e, const char *reason, const char *detail)
{
    l7r_work_ordered(e->l, &end_job_new(e->l, e->i.vm_id, e->i.id, reason, detail)->j, NULL);
    ending_free(e);
}

/* Asks the database why; on the answer, recorded, or (crashed) recorded as vm_crashed with
 * detail, or else the VMA is asked. */
static void
from_database(struct l7r_ending *e, bool crashed, const char *detail)
{
    struct end_job *ej = end_job_new(e->l, e->i.vm_id, e->i.id, NULL, detail);

    ej->ask = true;
    ej->crashed = crashed;
    ej->e = e;
    e->job = ej;
    l7r_work_ordered(e->l, &ej->j, NULL);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    from_database(arg, false, NULL);
}

/* What the VMA's last nxagent did, when it is the one this session was relayed to. */
static void
from_agent(struct l7r_ending *e, json_t *last)
{
    const char *how = json_string_value(json_object_get(last, "how"));
    const char *during = json_string_value(json_object_get(last, "during"));
    json_int_t code = json_integer_value(json_object_get(last, "code"));
    char detail[96];

    snprintf(detail, sizeof(detail), "nxagent %s %lld while %.16s", how ? how : "ended",
             (long long)code, during ? during : "?");
    if (how == NULL)
        record(e, "connection_lost", detail);
    else if (strcmp(how, "logout") == 0 || (strcmp(how, "exited") == 0 && code == 0))
        record(e, "logout", detail);
    else if (strcmp(how, "stopped") == 0)
        record(e, "admin_stop", detail);
    else
        record(e, "session_crashed", detail);
}

static void
x_end_done(enum qvd_rpc_status st, json_t *result, const char *error, void *arg)
{
    struct l7r_ending *e = arg;
    json_t *last = json_object_get(result, "last");
    json_t *last_agent = json_object_get(last, "agent");

    e->call = NULL;
    if (st != QVD_RPC_FAIL && e->i.agent < 0) {
        /* a VMA without x_end (QVD's) answered x_state: it lives, nxagent is its own */
        record(e, e->i.client_eof ? "client_closed" : "connection_lost", NULL);
        return;
    }
    if (st == QVD_RPC_ERROR) {
        /* the VMA lives but cannot say: nothing more to learn from it */
        record(e, e->i.client_eof ? "client_closed" : "connection_lost", error);
        return;
    }
    if (st != QVD_RPC_OK) {
        /* the VMA is gone while the database still says running: the VM died and its node
         * has not noticed yet (a stop would say stopping first) */
        from_database(e, true, error);
        return;
    }
    if (e->i.agent >= 0 && json_is_integer(last_agent) &&
        json_integer_value(last_agent) == e->i.agent) {
        from_agent(e, last);
        return;
    }
    /* its nxagent still runs: it may not have noticed the stream's end yet, or died and is
     * not reaped yet; a suspended one keeps the session */
    const char *state = json_string_value(json_object_get(result, "state"));
    if (state != NULL && strcmp(state, "suspended") != 0 && ++e->tries < TRIES) {
        struct timeval tv = {0, RETRY_MS * 1000};
        evtimer_add(e->timer, &tv);
        return;
    }
    record(e, e->i.client_eof ? "client_closed" : "connection_lost", NULL);
}

static void
ask_vma(struct l7r_ending *e)
{
    if (e->i.vma_host == NULL) {
        record(e, e->i.client_eof ? "client_closed" : "connection_lost", NULL);
        return;
    }
    struct qvd_rpc_target t = {e->i.vma_host, e->i.vma_port, e->i.secret, (int)e->l->t_vma * 1000};

    e->call = qvd_rpc_call_async(e->l->base, &t, e->i.agent >= 0 ? "x_end" : "x_state", NULL,
                                 x_end_done, e);
    if (e->call == NULL)
        x_end_done(QVD_RPC_FAIL, NULL, qvd_strerror(), e);
}

void
l7r_ending_resolve(struct l7r *l, struct l7r_ending_info *info)
{
    struct l7r_ending *e = qvd_xcalloc(1, sizeof(*e));

    e->l = l;
    e->i = *info;
    info->vma_host = info->secret = NULL;
    TAILQ_INSERT_TAIL(&l->endings, e, entry);
    e->timer = evtimer_new(l->base, on_retry, e);
    from_database(e, false, NULL); /* then the VMA (ask_vma) */
}

void
l7r_ending_free_all(struct l7r *l)
{
    while (!TAILQ_EMPTY(&l->endings))
        ending_free(TAILQ_FIRST(&l->endings));
}

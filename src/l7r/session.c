/* session.c: connect_to_vm after the request checks: take the VM's user slot (takeover of
 * an older session), start the VM and wait for it, x_start and x_state on its VMA, the
 * authenticated upgrade to the VMA, then 101 and the relay. Every wait is a timer, every
 * database step a job on the ordered queue (work.c): the slot's writes keep their order,
 * and a session whose client went away mid-step has its slot freed when the step is back. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "l7r.h"
#include "log.h"
#include "model.h"
#include "model_l7r.h"
#include "rpc.h"
#include "util.h"

#define X_STATE_POLL_MS 200
#define TAKEOVER_POLL_MS 500
#define INFO_EVERY_MS 2000
#define X_START_RETRY_MS 250
#define X_STATE_FIRST_MS 20
#define SHORT_SESSION_S 120

enum stage { ST_TAKEOVER, ST_START, ST_X_START, ST_X_STATE, ST_X_END, ST_UPGRADE, ST_RELAY };

struct l7r_session {
    struct l7r_conn *conn;
    struct l7r *l;
    int64_t vm_id;
    enum stage stage;
    bool slot;            /* this session holds the VM's user slot */
    bool start_requested; /* we asked for a start (a later 'stopped' = failure) */
    bool abort_told;
    struct event *timer;
    int64_t deadline_ms, last_info_ms, connected_ts;
    char last_state[32];
    long tries, polls;
    struct qvd_rpc_call *call;
    char *vma_host, *secret;
    int vma_port;
    char slave_key[65];
    char end_id[33];     /* X-QVD-Session-Id, once its session_ends row exists */
    char end_reason[32]; /* why it ends, when this process knows */
    char features[64];   /* X-QVD-Features: what the server has on for the user's tenant */
    long agent;          /* the VMA's nxagent number (x_end), -1 unknown */
    bool lost_notice;    /* the VMA started a new session in place of a lost one */
    bool client_eof;
    char **params; /* key, value, ..., NULL for x_start */
    size_t nparams;
    struct bufferevent *vma; /* upgraded, while its slot becomes 'connected' */
};

/* A database step of a session (ordered queue). */
struct step_job {
    struct l7r_job j;
    int64_t vm_id, user_id;
    bool start_requested;
    char end_id[33];
    int rc;
    struct qvd_model_l7r_holder held; /* take */
    struct qvd_model_l7r_vm vm;       /* start */
    bool started, start_failed;       /* start: asked for a start; it failed */
    enum qvd_model_errkind start_kind;
    bool begun;        /* connected: its session_ends row exists */
    char features[64]; /* take: l7r_features of the user's tenant */
    int64_t tenant_id;
    int app;       /* start, when ready: 1 an application VM, 0 a desktop, -1 unknown */
    char *app_cmd; /* its program (qvd.app.command), or NULL */
    char msg[256];
};

static void
step_job_free(struct l7r_job *job)
{
    struct step_job *sj = (struct step_job *)job;

    free(sj->vm.vma_host);
    if (sj->vm.vma_secret)
        qvd_wipe(sj->vm.vma_secret, strlen(sj->vm.vma_secret));
    free(sj->vm.vma_secret);
    free(sj->app_cmd);
    free(sj);
}

/* end_id: the session_ends row to make (connected_run), else NULL. */
static void
step_submit(struct l7r_session *s, void (*run)(struct l7r_job *, struct qvd_db *),
            void (*done)(struct l7r_job *), const char *end_id)
{
    struct step_job *sj = qvd_xcalloc(1, sizeof(*sj));

    if (end_id != NULL)
        memcpy(sj->end_id, end_id, sizeof(sj->end_id));
    sj->j.run = run;
    sj->j.done = done;
    sj->j.discard = step_job_free;
    sj->vm_id = s->vm_id;
    sj->user_id = s->conn->user.id;
    sj->tenant_id = s->conn->user.tenant_id;
    sj->start_requested = s->start_requested;
    l7r_work_ordered(s->l, &sj->j, s->conn);
}

static void step(struct l7r_session *s);

static void
after(struct l7r_session *s, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    step(arg);
}

/* Tells the client what is going on: on a new text, or the same at least every 2 s. */
static void
tell(struct l7r_session *s, const char *info)
{
    int64_t now = qvd_mono_ms();

    if (strcmp(info, s->last_state) == 0 && now - s->last_info_ms < INFO_EVERY_MS)
        return;
    snprintf(s->last_state, sizeof(s->last_state), "%s", info);
    s->last_info_ms = now;
    l7r_conn_interim(s->conn, info);
}

static void
fail(struct l7r_session *s, int status, const char *msg)
{
    log_warn("VM %lld: connection of '%s' failed: %s", (long long)s->vm_id, s->conn->user.login,
             msg);
    evtimer_del(s->timer);
    l7r_conn_error(s->conn, status, NULL, "%s", msg);
}

static void
random_key(char *out, size_t n)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r;
    size_t i = 0;

    while (i < n) {
        if (RAND_bytes(&r, 1) != 1)
            qvd_fatal("no randomness");
        if (r < 248)
            out[i++] = alnum[r % 62];
    }
    out[n] = '\0';
}

void
l7r_session_start(struct l7r_conn *c, const struct qvd_http_msg *m, int64_t vm_id)
{
    struct l7r_session *s = qvd_xcalloc(1, sizeof(*s));

    s->conn = c;
    s->l = c->l7r;
    s->vm_id = vm_id;
    s->timer = evtimer_new(s->l->base, on_timer, s);
    s->agent = -1;
    c->sess = s;
    random_key(s->slave_key, 64);
    s->params = l7r_x_start_params(m, c->user.login, c->user.id, s->slave_key, &s->nparams);
    l7r_counter(s->l, "nx_attempts");
    s->stage = ST_TAKEOVER;
    s->deadline_ms = qvd_mono_ms() + s->l->t_takeover * 1000;
    step(s);
}

struct l7r_conn *
l7r_session_holder(struct l7r *l, int64_t vm_id)
{
    struct l7r_conn *c;

    TAILQ_FOREACH(c, &l->conns, entry)
    if (c->sess && c->sess->slot && c->sess->vm_id == vm_id)
        return c;
    return NULL;
}

static void
take_run(struct l7r_job *job, struct qvd_db *db)
{
    struct step_job *sj = (struct step_job *)job;

    sj->rc = qvd_model_l7r_slot_take(db, job->host_id, job->pid, sj->vm_id, sj->user_id, &sj->held);
    if (sj->rc < 0)
        snprintf(sj->msg, sizeof(sj->msg), "%s", qvd_strerror());
    else if (sj->rc == 1)
        l7r_features(job->l->cfg, db, sj->tenant_id, sj->features, sizeof(sj->features));
}

static void
take_done(struct l7r_job *job)
{
    struct step_job *sj = (struct step_job *)job;
    struct l7r *l = job->l;
    struct l7r_session *s = job->conn ? job->conn->sess : NULL;
    int rc = sj->rc;

    if (s == NULL) {
        if (rc == 1) /* taken for a client that left meanwhile */
            l7r_slot_release(l, sj->vm_id);
    } else if (rc < 0) {
        log_err("VM %lld: takeover: %s", (long long)s->vm_id, sj->msg);
        /* its commit may have landed before the connection broke: a slot this process holds
         * for no session of its own is given up (the release names this process) */
        if (l7r_session_holder(l, s->vm_id) == NULL)
            l7r_slot_release(l, s->vm_id);
        fail(s, 500, "Internal error while acquiring the virtual machine");
    } else if (rc == 1) {
        s->slot = true;
        memcpy(s->features, sj->features, sizeof(s->features));
        log_info("Session acquired for VM %lld by '%s'", (long long)s->vm_id, s->conn->user.login);
        s->stage = ST_START;
        s->deadline_ms = qvd_mono_ms() + s->l->t_vm_start * 1000;
        step(s);
    } else if (rc == 2 && qvd_mono_ms() < s->deadline_ms) {
        /* held by this process: end that connection at once (its slot is freed on the
         * ordered queue, before the next attempt) and take over */
        struct l7r_conn *old = l7r_session_holder(l, s->vm_id);
        if (old != NULL) {
            log_info("session of VM %lld taken over", (long long)s->vm_id);
            l7r_session_set_end(old, "takeover");
            l7r_conn_close(old, "session taken over");
        } else {
            l7r_slot_release(l, s->vm_id);
        }
        step(s);
    } else {
        log_debug("VM %lld: slot %s by host %lld pid %lld: asked to abort", (long long)s->vm_id,
                  sj->held.state, (long long)sj->held.host_id, (long long)sj->held.pid);
        if (!s->abort_told) {
            s->abort_told = true;
            tell(s, "Aborting contending session");
        }
        if (qvd_mono_ms() >= s->deadline_ms)
            fail(s, 503, "Unable to acquire VM, close other clients");
        else
            after(s, TAKEOVER_POLL_MS);
    }
    step_job_free(job);
}

/* The VM's runtime, and a start when it is stopped and none was asked for yet. */
static void
start_run(struct l7r_job *job, struct qvd_db *db)
{
    struct step_job *sj = (struct step_job *)job;
    struct qvd_model_l7r_vm *vm = &sj->vm;

    sj->rc = qvd_model_l7r_vm(db, job->host_id, job->pid, sj->vm_id, vm);
    if (sj->rc < 0)
        snprintf(sj->msg, sizeof(sj->msg), "%s", qvd_strerror());
    /* an application VM runs its one program (docs/l7r.md): read when the session starts */
    if (sj->rc == 1 && vm->ready &&
        (sj->app = qvd_model_l7r_vm_app(db, sj->vm_id, &sj->app_cmd)) < 0) {
        sj->rc = -1;
        snprintf(sj->msg, sizeof(sj->msg), "%s", qvd_strerror());
    }
    if (sj->rc != 1 || !vm->mine || vm->ready || strcmp(vm->state, "stopped") != 0 || vm->cmd ||
        sj->start_requested)
        return;
    sj->started = true;
    if (qvd_model_vm_start(db, job->l->cfg, sj->vm_id, NULL) < 0) {
        sj->start_failed = true;
        sj->start_kind = qvd_model_errkind();
        snprintf(sj->msg, sizeof(sj->msg), "%s", qvd_strerror());
    }
}

/* Takes the VMA coordinates of a running VM. */
static void
take_vma(struct l7r_session *s, struct qvd_model_l7r_vm *vm)
{
    free(s->vma_host);
    if (s->secret)
        qvd_wipe(s->secret, strlen(s->secret));
    free(s->secret);
    s->vma_host = vm->vma_host;
    s->secret = vm->vma_secret;
    s->vma_port = vm->vma_port;
    vm->vma_host = vm->vma_secret = NULL;
}

/* What the VM's runtime says: go on, wait (a timer), or fail. */
static void
started(struct l7r_session *s, struct step_job *sj)
{
    struct qvd_model_l7r_vm *vm = &sj->vm;
    char info[64];

    if (sj->rc != 1) {
        if (sj->rc < 0)
            log_err("VM %lld: %s", (long long)s->vm_id, sj->msg);
        fail(s, 404, "The requested virtual machine does not exist");
        return;
    }
    if (!vm->mine) {
        l7r_conn_close(s->conn, "session aborted");
        return;
    }
    if (vm->ready && sj->app == 1 && sj->app_cmd == NULL) {
        log_err("VM %lld: an application VM without the property qvd.app.command",
                (long long)s->vm_id);
        /* final, as the VMA's refusals: waiting does not set it */
        fail(s, 403,
             "The virtual machine refused the session: the application has no program set "
             "(its administrator must give its OSF or DI the property qvd.app.command)");
        return;
    }
    if (vm->ready) {
        if (sj->app == 1) /* the VMA runs it instead of the desktop */
            l7r_x_start_params_add(&s->params, &s->nparams, "qvd.app.command", sj->app_cmd);
        take_vma(s, vm);
        s->stage = ST_X_START;
        s->tries = 0;
        tell(s, "Starting session");
        step(s);
        return;
    }
    if (strcmp(vm->state, "stopped") == 0 && !vm->cmd) {
        if (!sj->started) { /* asked before, and stopped again */
            fail(s, 503, "The requested virtual machine failed to start");
            return;
        }
        tell(s, "Assigning VM to host and starting it");
        if (sj->start_failed) {
            char msg[300];
            snprintf(msg, sizeof(msg),
                     "The requested virtual machine is not available: %.200s,"
                     " retry later",
                     sj->msg);
            fail(s, sj->start_kind == QVD_MODEL_INTERNAL ? 500 : 503, msg);
            return;
        }
        log_info("VM %lld: started for '%s'", (long long)s->vm_id, s->conn->user.login);
        s->start_requested = true;
    } else if (strcmp(vm->state, "zombie") == 0) {
        fail(s, 503, "The requested virtual machine is not available (zombie), retry later");
        return;
    } else {
        snprintf(info, sizeof(info), "Virtual machine is %s", vm->state);
        tell(s, info);
    }
    if (qvd_mono_ms() >= s->deadline_ms) {
        char msg[128];
        snprintf(msg, sizeof(msg), "The requested virtual machine did not start within %ld s",
                 s->l->t_vm_start);
        fail(s, 504, msg);
        return;
    }
    after(s, s->l->vm_start_poll_ms);
}

static void
start_done(struct l7r_job *job)
{
    if (job->conn != NULL)
        started(job->conn->sess, (struct step_job *)job);
    step_job_free(job);
}

static struct qvd_rpc_target
target(struct l7r_session *s)
{
    return (struct qvd_rpc_target){s->vma_host, s->vma_port, s->secret, (int)s->l->t_vma * 1000};
}

static void
x_start_done(enum qvd_rpc_status st, json_t *result, const char *error, void *arg)
{
    struct l7r_session *s = arg;

    s->call = NULL;
    if (st == QVD_RPC_OK) {
        s->stage = ST_X_STATE;
        s->deadline_ms = qvd_mono_ms() + s->l->t_x_start * 1000;
        s->polls = 0;
        after(s, X_STATE_FIRST_MS);
        return;
    }
    log_info("VM %lld: x_start try %ld: %s", (long long)s->vm_id, s->tries, error);
    if (error != NULL && strncmp(error, "refused: ", 9) == 0) {
        /* the VMA says no retry can help (docs/vma.md) */
        char msg[300];
        snprintf(msg, sizeof(msg), "The virtual machine refused the session: %.200s", error + 9);
        fail(s, 403, msg);
        return;
    }
    if (s->tries >= s->l->x_start_retries) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "The requested virtual machine is not available: %.200s,"
                 " retry later",
                 error);
        fail(s, 503, msg);
        return;
    }
    tell(s, "Waiting for the session to be free");
    after(s, X_START_RETRY_MS);
}

static void
x_state_done(enum qvd_rpc_status st, json_t *result, const char *error, void *arg)
{
    struct l7r_session *s = arg;
    const char *state =
        st == QVD_RPC_OK && json_is_string(result) ? json_string_value(result) : "unknown";

    s->call = NULL;
    if (strcmp(state, "listening") == 0) {
        s->stage = ST_X_END;
        step(s);
        return;
    }
    /* the session fell back (an earlier client cut off mid-resume suspends it again):
     * ask for it once more, as a retry */
    if ((strcmp(state, "suspended") == 0 || strcmp(state, "stopped") == 0) &&
        s->tries < s->l->x_start_retries) {
        log_info("VM %lld: session %s while waiting: x_start again", (long long)s->vm_id, state);
        s->stage = ST_X_START;
        step(s);
        return;
    }
    if (qvd_mono_ms() >= s->deadline_ms) {
        char msg[128];
        snprintf(msg, sizeof(msg), "The session did not start in the virtual machine (%s)", state);
        fail(s, 503, msg);
        return;
    }
    /* a resumed session listens within milliseconds, a new one within about 0.1 s: poll
     * often at first */
    after(s, ++s->polls < 10 ? X_STATE_FIRST_MS : X_STATE_POLL_MS);
}

/* Which nxagent the client is about to meet, and whether it replaced a lost session. A VMA
 * without x_end (QVD's) only leaves both unknown. */
static void
x_end_done(enum qvd_rpc_status st, json_t *result, const char *error, void *arg)
{
    struct l7r_session *s = arg;
    json_t *agent = json_object_get(result, "agent");

    s->call = NULL;
    if (st == QVD_RPC_OK && json_is_integer(agent) && json_integer_value(agent) >= 0)
        s->agent = (long)json_integer_value(agent);
    if (st == QVD_RPC_OK && json_is_true(json_object_get(result, "replaced_lost"))) {
        s->lost_notice = true;
        log_warn("VM %lld: the user's previous session was lost; a new one starts",
                 (long long)s->vm_id);
        s->last_state[0] = '\0'; /* told even right after another message */
        tell(s, "Your previous session was lost; a new session was started");
    }
    s->stage = ST_UPGRADE;
    step(s);
}

/* The 101 head: X-QVD-Session-Id names the session_ends row the client may ask about when
 * the stream ends, X-QVD-Features what the server has on (QVD's clients ignore the extra
 * headers). */
static void
send_101(struct l7r_session *s)
{
    struct l7r_conn *c = s->conn;
    const char *hdrs[14] = {"Connection",      "Upgrade",    "Upgrade",        "QVD/1.0",
                            "X-QVD-Slave-Key", s->slave_key, "X-QVD-Features", s->features};
    size_t n = 8;

    if (s->end_id[0] != '\0') {
        hdrs[n++] = "X-QVD-Session-Id";
        hdrs[n++] = s->end_id;
    }
    if (s->lost_notice) {
        hdrs[n++] = "X-QVD-Session-Notice";
        hdrs[n++] = "session_lost";
    }
    hdrs[n] = NULL;
    /* the head alone: the relay sends the VM's bytes only once it has left */
    qvd_http_evbuffer_response(bufferevent_get_output(c->h.bev), 101, hdrs, NULL, NULL, 0);
}

/* The slot becomes 'connected' unless aborted meanwhile, and the session_ends row is made. */
static void
connected_run(struct l7r_job *job, struct qvd_db *db)
{
    struct step_job *sj = (struct step_job *)job;

    sj->rc = qvd_model_l7r_slot_connected(db, job->host_id, job->pid, sj->vm_id);
    if (sj->rc < 0) {
        snprintf(sj->msg, sizeof(sj->msg), "%s", qvd_strerror());
        return;
    }
    if (sj->rc == 1) {
        sj->begun = qvd_model_session_begin(db, sj->end_id, sj->user_id, sj->vm_id) == 0;
        if (!sj->begun)
            snprintf(sj->msg, sizeof(sj->msg), "%s", qvd_strerror());
    }
}

static void
relay(struct l7r_session *s, struct step_job *sj)
{
    struct l7r_conn *c = s->conn;
    struct bufferevent *vma = s->vma;

    s->vma = NULL;
    if (sj->rc != 1) {
        bufferevent_free(vma);
        l7r_conn_close(c, sj->rc < 0 ? "database error" : "session aborted");
        return;
    }
    if (sj->begun)
        memcpy(s->end_id, sj->end_id, sizeof(s->end_id));
    else
        log_warn("VM %lld: its ending will not be recorded: %s", (long long)s->vm_id, sj->msg);
    l7r_counter(s->l, "nx_ok");
    evutil_make_socket_nonblocking(bufferevent_getfd(vma));
    setsockopt(bufferevent_getfd(vma), SOL_SOCKET, SO_KEEPALIVE, &(int){1}, sizeof(int));
    setsockopt(bufferevent_getfd(vma), IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    s->stage = ST_RELAY;
    s->connected_ts = qvd_now();
    log_info("VM %lld: user '%s' connected from %s", (long long)s->vm_id, c->user.login, c->h.peer);
    send_101(s);
    l7r_relay_start(c, vma);
}

static void
connected_done(struct l7r_job *job)
{
    struct step_job *sj = (struct step_job *)job;

    if (job->conn != NULL)
        relay(job->conn->sess, sj);
    else if (sj->begun) /* the client left first; the session freed its VMA stream */
        l7r_ending_record(job->l, sj->vm_id, sj->end_id, "client_closed");
    step_job_free(job);
}

static void
upgrade_done(int rc, struct bufferevent *vma, const char *error, void *arg)
{
    struct l7r_session *s = arg;
    char id[33];

    s->call = NULL;
    if (rc < 0) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "The requested virtual machine is not available: %.200s,"
                 " retry later",
                 error);
        fail(s, 503, msg);
        return;
    }
    s->vma = vma;
    random_key(id, 32);
    step_submit(s, connected_run, connected_done, id);
}

static void
step(struct l7r_session *s)
{
    struct qvd_rpc_target t;

    switch (s->stage) {
    case ST_TAKEOVER:
        step_submit(s, take_run, take_done, NULL);
        break;
    case ST_START:
        step_submit(s, start_run, start_done, NULL);
        break;
    case ST_X_START:
        s->tries++;
        t = target(s);
        s->call = qvd_rpc_call_async(s->l->base, &t, "x_start", (const char *const *)s->params,
                                     x_start_done, s);
        if (s->call == NULL)
            x_start_done(QVD_RPC_FAIL, NULL, qvd_strerror(), s);
        break;
    case ST_X_STATE:
        t = target(s);
        s->call = qvd_rpc_call_async(s->l->base, &t, "x_state", NULL, x_state_done, s);
        if (s->call == NULL)
            x_state_done(QVD_RPC_FAIL, NULL, qvd_strerror(), s);
        break;
    case ST_X_END:
        t = target(s);
        s->call = qvd_rpc_call_async(s->l->base, &t, "x_end", NULL, x_end_done, s);
        if (s->call == NULL)
            x_end_done(QVD_RPC_FAIL, NULL, qvd_strerror(), s);
        break;
    case ST_UPGRADE:
        t = target(s);
        t.timeout_ms = (int)s->l->t_x_start * 1000;
        s->call = qvd_rpc_upgrade_async(s->l->base, &t, "/vma/x_connect", "QVD/1.0", NULL,
                                        upgrade_done, s);
        if (s->call == NULL)
            upgrade_done(-1, NULL, qvd_strerror(), s);
        break;
    case ST_RELAY:
        break;
    }
}

void
l7r_session_set_end(struct l7r_conn *c, const char *reason)
{
    if (c->sess && c->sess->end_reason[0] == '\0')
        snprintf(c->sess->end_reason, sizeof(c->sess->end_reason), "%s", reason);
}

void
l7r_session_client_eof(struct l7r_conn *c)
{
    if (c->sess)
        c->sess->client_eof = true;
}

/* The relay ended: the reason is recorded now when known, else learnt (ending.c). */
static void
record_end(struct l7r_session *s)
{
    struct l7r_ending_info info = {
        .vm_id = s->vm_id, .vma_port = s->vma_port, .agent = s->agent, .client_eof = s->client_eof};

    if (s->end_reason[0] != '\0') {
        l7r_ending_record(s->l, s->vm_id, s->end_id, s->end_reason);
        return;
    }
    memcpy(info.id, s->end_id, sizeof(info.id));
    info.vma_host = s->vma_host;
    info.secret = s->secret;
    s->vma_host = s->secret = NULL;
    l7r_ending_resolve(s->l, &info);
}

void
l7r_session_free(struct l7r_session *s)
{
    if (s->call)
        qvd_rpc_call_cancel(s->call);
    event_free(s->timer);
    if (s->vma)
        bufferevent_free(s->vma);
    if (s->stage == ST_RELAY && s->end_id[0] != '\0')
        record_end(s);
    if (s->slot) {
        l7r_slot_release(s->l, s->vm_id);
        if (s->connected_ts) {
            int64_t secs = qvd_now() - s->connected_ts;
            log_info("VM %lld: session of '%s' ended after %lld s", (long long)s->vm_id,
                     s->conn->user.login, (long long)secs);
            if (secs < SHORT_SESSION_S)
                l7r_counter(s->l, "short_sessions");
        }
    }
    for (size_t i = 0; i < s->nparams; i++)
        free(s->params[i]);
    free(s->params);
    free(s->vma_host);
    if (s->secret)
        qvd_wipe(s->secret, strlen(s->secret));
    free(s->secret);
    qvd_wipe(s->slave_key, sizeof(s->slave_key));
    free(s);
}

void
l7r_session_wake(struct l7r *l)
{
    struct l7r_conn *c, *next;

    for (c = TAILQ_FIRST(&l->conns); c != NULL; c = next) {
        next = TAILQ_NEXT(c, entry);
        if (c->sess && c->sess->stage == ST_START && evtimer_pending(c->sess->timer, NULL)) {
            evtimer_del(c->sess->timer);
            step(c->sess); /* may close c, never another connection */
        }
    }
}

/* The VMs whose slots this process must give up, and who asked. */
struct aborts_job {
    struct l7r_job j;
    int n; /* -1: error */
    int64_t ids[256];
    int by_rc[256];
    char by[256][16];
};

static void
aborts_run(struct l7r_job *job, struct qvd_db *db)
{
    struct aborts_job *a = (struct aborts_job *)job;

    a->n = qvd_model_l7r_aborted(db, job->host_id, job->pid, a->ids, QVD_ARRAY_LEN(a->ids));
    if (a->n < 0)
        log_warn("looking for aborted sessions: %s", qvd_strerror());
    for (int i = 0; i < a->n; i++)
        a->by_rc[i] = qvd_model_session_abort_by(db, a->ids[i], a->by[i], sizeof(a->by[i]));
}

/* A session of this process waits for its take of the slot of vm_id to come back. */
static bool
taking(struct l7r *l, int64_t vm_id)
{
    struct l7r_conn *c;

    TAILQ_FOREACH(c, &l->conns, entry)
    if (c->sess && c->sess->stage == ST_TAKEOVER && c->sess->vm_id == vm_id && c->job != NULL)
        return true;
    return false;
}

static void
aborts_done(struct l7r_job *job)
{
    struct aborts_job *a = (struct aborts_job *)job;
    struct l7r *l = job->l;

    l->aborts_job = false;
    for (int i = 0; i < a->n && !l->stopping; i++) {
        struct l7r_conn *c = l7r_session_holder(l, a->ids[i]);
        int rc = a->by_rc[i];
        log_info("VM %lld: session aborted (%s)", (long long)a->ids[i],
                 rc == 1 ? a->by[i] : "the VM stopped");
        /* a VM that stopped is explained by the database when the relay has ended */
        if (c && rc == 1)
            l7r_session_set_end(c, strcmp(a->by[i], "takeover") == 0 ? "takeover"
                                                                     : "admin_disconnect");
        if (c)
            l7r_conn_close(c, "session aborted");
        else if (!taking(l, a->ids[i])) /* a take asked after the look clears it anyway */
            l7r_slot_release(l, a->ids[i]);
    }
    free(a);
    if (l->aborts_again && !l->stopping) {
        l->aborts_again = false;
        l7r_session_check_aborts(l);
    }
}

void
l7r_session_check_aborts(struct l7r *l)
{
    struct aborts_job *a;

    if (l->host_id < 0 || l->stopping)
        return;
    if (l->aborts_job) {
        l->aborts_again = true;
        return;
    }
    a = qvd_xcalloc(1, sizeof(*a));
    a->j.run = aborts_run;
    a->j.done = aborts_done;
    l->aborts_job = true;
    l7r_work_ordered(l, &a->j, NULL);
}

/* session.c: connect_to_vm after the request checks: take the VM's user slot (takeover of
 * an older session), start the VM and wait for it, x_start and x_state on its VMA, the
 * authenticated upgrade to the VMA, then 101 and the relay. Every wait is a timer. */
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

#include "db.h"
#include "err.h"
#include "http.h"
#include "l7r.h"
#include "log.h"
#include "model.h"
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
    long agent;          /* the VMA's nxagent number (x_end), -1 unknown */
    bool lost_notice;    /* the VMA started a new session in place of a lost one */
    bool client_eof;
    char **params; /* key, value, ..., NULL for x_start */
    size_t nparams;
};

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

/* One attempt at the slot: 1 taken, 0 someone else holds it (asked to abort), -1 error. */
static int
try_take(struct l7r_session *s)
{
    struct l7r *l = s->l;
    int64_t host = -1, pid = -1, n;
    struct qvd_stmt *st;
    char state[16] = "";
    int rc;

    for (int round = 0; round < 2; round++) {
        if (qvd_db_begin(l->db) < 0)
            return -1;
        n = qvd_db_exec(l->db,
                        "UPDATE vm_runtimes SET user_state = 'connecting', l7r_host_id = ?,"
                        " l7r_pid = ?, user_cmd = NULL, user_cmd_by = NULL, user_state_ts = ?,"
                        " real_user_id = ?"
                        " WHERE vm_id = ? AND user_state = 'disconnected'",
                        "iiiii", l->host_id, (int64_t)l->pid, qvd_now(), s->conn->user.id,
                        s->vm_id);
        if (n < 0)
            goto fail;
        if (n == 1)
            return qvd_db_commit(l->db) < 0 ? -1 : 1;
        st = qvd_db_query(l->db,
                          "SELECT user_state, l7r_host_id, l7r_pid FROM vm_runtimes"
                          " WHERE vm_id = ?",
                          "i", s->vm_id);
        if (st == NULL || (rc = qvd_db_step(st)) < 0) {
            qvd_db_done(st);
            goto fail;
        }
        if (rc == 1) {
            snprintf(state, sizeof(state), "%s", qvd_db_text(st, 0));
            host = qvd_db_is_null(st, 1) ? -1 : qvd_db_int(st, 1);
            pid = qvd_db_is_null(st, 2) ? -1 : qvd_db_int(st, 2);
        }
        qvd_db_done(st);
        if (host == l->host_id && pid == (int64_t)l->pid) {
            /* held by this process: end that connection at once and take over */
            struct l7r_conn *old = l7r_session_holder(l, s->vm_id);
            qvd_db_rollback(l->db);
            if (old != NULL) {
                log_info("session of VM %lld taken over", (long long)s->vm_id);
                l7r_session_set_end(old, "takeover");
                l7r_conn_close(old, "session taken over");
            } else {
                l7r_slot_release(l, s->vm_id);
            }
            continue;
        }
        if (qvd_db_exec(l->db,
                        "UPDATE vm_runtimes SET user_cmd = 'abort',"
                        " user_cmd_by = 'takeover' WHERE vm_id = ?"
                        " AND user_state IN ('connecting', 'connected')",
                        "i", s->vm_id) < 0)
            goto fail;
        if (qvd_db_commit(l->db) < 0)
            return -1;
        if (host >= 0)
            qvd_model_l7r_wake(l->db, host);
        log_debug("VM %lld: slot %s by host %lld pid %lld: asked to abort", (long long)s->vm_id,
                  state, (long long)host, (long long)pid);
        return 0;
    }
    return 0;
fail:
    qvd_db_rollback(l->db);
    return -1;
}

static void
step_takeover(struct l7r_session *s)
{
    int rc = try_take(s);

    if (rc < 0) {
        log_err("VM %lld: takeover: %s", (long long)s->vm_id, qvd_strerror());
        fail(s, 500, "Internal error while acquiring the virtual machine");
        return;
    }
    if (rc == 1) {
        s->slot = true;
        log_info("Session acquired for VM %lld by '%s'", (long long)s->vm_id, s->conn->user.login);
        s->stage = ST_START;
        s->deadline_ms = qvd_mono_ms() + s->l->t_vm_start * 1000;
        step(s);
        return;
    }
    if (!s->abort_told) {
        s->abort_told = true;
        tell(s, "Aborting contending session");
    }
    if (qvd_mono_ms() >= s->deadline_ms) {
        fail(s, 503, "Unable to acquire VM, close other clients");
        return;
    }
    after(s, TAKEOVER_POLL_MS);
}

/* Reads the VMA coordinates of a running VM. */
static void
take_vma(struct l7r_session *s, struct qvd_stmt *st)
{
    free(s->vma_host);
    if (s->secret)
        qvd_wipe(s->secret, strlen(s->secret));
    free(s->secret);
    s->vma_host = qvd_xstrdup(qvd_db_text(st, 5));
    s->vma_port = (int)qvd_db_int(st, 6);
    s->secret = qvd_xstrdup(qvd_db_text(st, 7) ? qvd_db_text(st, 7) : "");
}

static void
step_start(struct l7r_session *s)
{
    struct l7r *l = s->l;
    struct qvd_stmt *st = qvd_db_query(l->db,
                                       "SELECT vm_state, vm_cmd, user_cmd, l7r_host_id, l7r_pid,"
                                       " vm_address, vm_vma_port, vma_secret"
                                       " FROM vm_runtimes WHERE vm_id = ?",
                                       "i", s->vm_id);
    char state[16], cmd[8];
    bool mine, ready = false;
    char info[64];

    if (st == NULL || qvd_db_step(st) != 1) {
        qvd_db_done(st);
        fail(s, 404, "The requested virtual machine does not exist");
        return;
    }
    snprintf(state, sizeof(state), "%s", qvd_db_text(st, 0));
    snprintf(cmd, sizeof(cmd), "%s", qvd_db_text(st, 1) ? qvd_db_text(st, 1) : "");
    mine = !qvd_db_is_null(st, 3) && qvd_db_int(st, 3) == l->host_id &&
           qvd_db_int(st, 4) == (int64_t)l->pid && qvd_db_is_null(st, 2);
    if (strcmp(state, "running") == 0 && qvd_db_text(st, 5) && !qvd_db_is_null(st, 6)) {
        take_vma(s, st);
        ready = true;
    }
    qvd_db_done(st);
    if (!mine) {
        l7r_conn_close(s->conn, "session aborted");
        return;
    }
    if (ready) {
        s->stage = ST_X_START;
        s->tries = 0;
        tell(s, "Starting session");
        step(s);
        return;
    }
    if (strcmp(state, "stopped") == 0 && cmd[0] == '\0') {
        if (s->start_requested) {
            fail(s, 503, "The requested virtual machine failed to start");
            return;
        }
        tell(s, "Assigning VM to host and starting it");
        if (qvd_model_vm_start(l->db, l->cfg, s->vm_id, NULL) < 0) {
            char msg[300];
            snprintf(msg, sizeof(msg),
                     "The requested virtual machine is not available: %s,"
                     " retry later",
                     qvd_strerror());
            fail(s, qvd_model_errkind() == QVD_MODEL_INTERNAL ? 500 : 503, msg);
            return;
        }
        log_info("VM %lld: started for '%s'", (long long)s->vm_id, s->conn->user.login);
        s->start_requested = true;
    } else if (strcmp(state, "zombie") == 0) {
        fail(s, 503, "The requested virtual machine is not available (zombie), retry later");
        return;
    } else {
        snprintf(info, sizeof(info), "Virtual machine is %s", state);
        tell(s, info);
    }
    if (qvd_mono_ms() >= s->deadline_ms) {
        char msg[128];
        snprintf(msg, sizeof(msg), "The requested virtual machine did not start within %ld s",
                 l->t_vm_start);
        fail(s, 504, msg);
        return;
    }
    after(s, l->vm_start_poll_ms);
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

/* The session_ends row and the 101 head: X-QVD-Session-Id names the row the client may ask
 * about when the stream ends (QVD's clients ignore the extra headers). */
static void
send_101(struct l7r_session *s)
{
    struct l7r_conn *c = s->conn;
    const char *hdrs[12] = {"Connection", "Upgrade",         "Upgrade",
                            "QVD/1.0",    "X-QVD-Slave-Key", s->slave_key};
    size_t n = 6;
    char id[33];

    random_key(id, 32);
    if (qvd_model_session_begin(s->l->db, id, c->user.id, s->vm_id) < 0) {
        log_warn("VM %lld: its ending will not be recorded: %s", (long long)s->vm_id,
                 qvd_strerror());
    } else {
        memcpy(s->end_id, id, sizeof(s->end_id));
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

static void
upgrade_done(int rc, struct bufferevent *vma, const char *error, void *arg)
{
    struct l7r_session *s = arg;
    struct l7r *l = s->l;
    struct l7r_conn *c = s->conn;
    int64_t n;

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
    n = qvd_db_exec(l->db,
                    "UPDATE vm_runtimes SET user_state = 'connected', user_state_ts = ?"
                    " WHERE vm_id = ? AND l7r_host_id = ? AND l7r_pid = ?"
                    " AND user_state = 'connecting' AND user_cmd IS NULL",
                    "iiii", qvd_now(), s->vm_id, l->host_id, (int64_t)l->pid);
    if (n != 1) {
        bufferevent_free(vma);
        l7r_conn_close(c, n < 0 ? "database error" : "session aborted");
        return;
    }
    l7r_counter(l, "nx_ok");
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
step(struct l7r_session *s)
{
    struct qvd_rpc_target t;

    switch (s->stage) {
    case ST_TAKEOVER:
        step_takeover(s);
        break;
    case ST_START:
        step_start(s);
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
        log_info("VM %lld: session %s ended: %s", (long long)s->vm_id, s->end_id, s->end_reason);
        if (qvd_model_session_end(s->l->db, s->end_id, s->end_reason, NULL) < 0)
            log_err("VM %lld: cannot record the session's end: %s", (long long)s->vm_id,
                    qvd_strerror());
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

void
l7r_session_check_aborts(struct l7r *l)
{
    int64_t ids[256];
    size_t n = 0;
    struct qvd_stmt *st;

    if (l->host_id < 0)
        return;
    /* aborted by a takeover or an administrator, or the VM stopped under the session
     * (a container that vanishes may never close the VMA's TCP connection) */
    st = qvd_db_query(l->db,
                      "SELECT vm_id FROM vm_runtimes WHERE l7r_host_id = ?"
                      " AND l7r_pid = ? AND (user_cmd = 'abort' OR"
                      " (user_state = 'connected' AND vm_state <> 'running'))",
                      "ii", l->host_id, (int64_t)l->pid);
    while (st && n < QVD_ARRAY_LEN(ids) && qvd_db_step(st) == 1)
        ids[n++] = qvd_db_int(st, 0);
    qvd_db_done(st);
    for (size_t i = 0; i < n; i++) {
        struct l7r_conn *c = l7r_session_holder(l, ids[i]);
        char by[16];
        int rc = qvd_model_session_abort_by(l->db, ids[i], by, sizeof(by));
        log_info("VM %lld: session aborted (%s)", (long long)ids[i],
                 rc == 1 ? by : "the VM stopped");
        /* a VM that stopped is explained by the database when the relay has ended */
        if (c && rc == 1)
            l7r_session_set_end(c, strcmp(by, "takeover") == 0 ? "takeover" : "admin_disconnect");
        if (c)
            l7r_conn_close(c, "session aborted");
        else
            l7r_slot_release(l, ids[i]);
    }
}

/* api.c: the client endpoints (/qvd/...), one function each, registered in a table. An
 * endpoint checks the request on the loop, then its database part runs on a worker
 * (work.c) and its answer goes out on the loop again: no endpoint waits on the database
 * inside the loop. /qvd/ping answers from what the loop last read of its node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <jansson.h>

#include "err.h"
#include "http.h"
#include "l7r.h"
#include "log.h"
#include "model.h"
#include "model_l7r.h"
#include "util.h"

#define VM_STOP_POLL_MS 500

struct endpoint {
    const char *path;
    bool auth;     /* authentication and a running host needed first */
    bool stopping; /* still answered while the L7R stops (and on a host that is not running) */
    void (*fn)(struct l7r_conn *c, const struct qvd_http_msg *m);
};

/* The database part of a request, on a worker. */
struct req {
    struct l7r_job j;
    void (*work)(struct req *r, struct qvd_db *db);
    /* On the loop when work left status 0 (the endpoint goes on); else the answer is
     * status with body (200) or msg. */
    void (*then)(struct l7r_conn *c, struct req *r);
    bool host_check; /* the node must be running first (read on the worker too) */
    int64_t user_id, vm_id, seen_host_id;
    char sid[65];
    int status;
    char *body; /* a 200's JSON, or text when text is set */
    bool text;
    char msg[300];
};

static void
req_free(struct l7r_job *job)
{
    struct req *r = (struct req *)job;

    if (r->body) {
        qvd_wipe(r->body, strlen(r->body)); /* may hold a token */
        free(r->body);
    }
    free(r);
}

static void
req_run(struct l7r_job *job, struct qvd_db *db)
{
    struct req *r = (struct req *)job;

    if (r->host_check && qvd_model_l7r_host(db, job->l->nodename, &r->seen_host_id) < 0) {
        r->status = 503;
        snprintf(r->msg, sizeof(r->msg), "%s", qvd_strerror());
        return;
    }
    r->work(r, db);
}

static void
req_done(struct l7r_job *job)
{
    struct req *r = (struct req *)job;
    struct l7r_conn *c = job->conn;

    if (r->host_check && r->seen_host_id >= 0)
        job->l->host_id = r->seen_host_id;
    if (c == NULL)
        ; /* the client went away: nothing to answer */
    else if (r->status == 0)
        r->then(c, r);
    else if (r->status == 200)
        l7r_conn_reply(c, 200, NULL, r->text ? "text/plain" : "application/json", r->body,
                       strlen(r->body));
    else
        l7r_conn_error(c, r->status, NULL, "%s", r->msg);
    req_free(job);
}

/* A job for the request of c: work (then `then`) on a worker, after the node's check when
 * the endpoint needs it running (c->host_check). Filled further, then given to req_submit. */
static struct req *
req_new(struct l7r_conn *c, void (*work)(struct req *, struct qvd_db *),
        void (*then)(struct l7r_conn *, struct req *), int64_t vm_id)
{
    struct req *r = qvd_xcalloc(1, sizeof(*r));

    r->j.run = req_run;
    r->j.done = req_done;
    r->j.discard = req_free;
    r->work = work;
    r->then = then;
    r->host_check = c->host_check;
    r->user_id = c->user.id;
    r->vm_id = vm_id;
    r->seen_host_id = -1;
    return r;
}

static void
req_submit(struct l7r_conn *c, struct req *r)
{
    l7r_work(c->l7r, &r->j, c);
}

static void
submit(struct l7r_conn *c, void (*work)(struct req *, struct qvd_db *),
       void (*then)(struct l7r_conn *, struct req *), int64_t vm_id)
{
    req_submit(c, req_new(c, work, then, vm_id));
}

static void
answer_json(struct req *r, json_t *j)
{
    char *s =
        json_dumps(j, JSON_INDENT(3) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);

    json_decref(j);
    r->status = 200;
    r->body = qvd_xasprintf("%s\n", s ? s : "null");
    free(s);
}

static void
answer_error(struct req *r, int status, const char *msg)
{
    r->status = status;
    snprintf(r->msg, sizeof(r->msg), "%s", msg);
}

static void
api_ping(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    static const char alive[] = "I am alive!\r\n";
    struct l7r *l = c->l7r;

    /* as last read (every l7r.user_cmd.poll seconds): a stalled database stalls no ping */
    l7r_host_refresh(l);
    if (!l->host_ok) {
        l7r_conn_error(c, 503, NULL, "%s", l->host_msg);
        return;
    }
    l7r_conn_reply(c, 200, NULL, "text/plain", alive, sizeof(alive) - 1);
}

static void
add_vm(void *arg, const struct qvd_model_l7r_vm_row *v)
{
    json_t *o = json_object();

    json_object_set_new(o, "id", json_integer(v->id));
    json_object_set_new(o, "state", json_string(v->state));
    json_object_set_new(o, "name", json_string(v->name));
    json_object_set_new(o, "blocked", json_integer(v->blocked));
    json_object_set_new(o, "is_application", json_integer(v->is_application));
    json_array_append_new(arg, o);
}

static void
list_vms(struct req *r, struct qvd_db *db, bool applications)
{
    json_t *arr = json_array();

    if (qvd_model_l7r_user_vms(db, r->user_id, applications, add_vm, arr) < 0) {
        json_decref(arr);
        log_err("list of VMs: %s", qvd_strerror());
        answer_error(r, 500, "Internal error while listing the virtual machines");
        return;
    }
    answer_json(r, arr);
}

static void
work_list_of_vm(struct req *r, struct qvd_db *db)
{
    list_vms(r, db, false);
}

static void
work_list_of_applications(struct req *r, struct qvd_db *db)
{
    list_vms(r, db, true);
}

static void
api_list_of_vm(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    submit(c, work_list_of_vm, NULL, -1);
}

static void
api_list_of_applications(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    submit(c, work_list_of_applications, NULL, -1);
}

static void
work_empty(struct req *r, struct qvd_db *db)
{
    answer_json(r, json_object());
}

static void
api_authenticate_user(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    submit(c, work_empty, NULL, -1); /* after the node's check */
}

static void
work_create_auth_token(struct req *r, struct qvd_db *db)
{
    char *tok = NULL;

    if (l7r_token_create(db, r->user_id, &tok) < 0) {
        log_err("create_auth_token: %s", qvd_strerror());
        answer_error(r, 500, "Internal error while creating the token");
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "auth_token", json_string(tok));
    qvd_wipe(tok, strlen(tok));
    free(tok);
    answer_json(r, o);
}

static void
api_create_auth_token(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    submit(c, work_create_auth_token, NULL, -1);
}

/* The VM id of ?id=, or -1 after an error answer. */
static int64_t
vm_param(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    const char *s = qvd_http_msg_param(m, "id");
    long id;

    if (s == NULL || *s == '\0') {
        l7r_conn_error(c, 422, NULL, "parameter id is missing");
        return -1;
    }
    if (qvd_parse_long(s, &id) < 0 || id <= 0) {
        l7r_conn_error(c, 404, NULL, "The requested virtual machine does not exist");
        return -1;
    }
    return id;
}

/* On the worker: 0 when the VM exists and is the user's (*blocked said), else -1 with the
 * answer set. */
static int
owned_vm(struct req *r, struct qvd_db *db, bool *blocked)
{
    int64_t owner = -1;
    int rc = qvd_model_l7r_vm_owner(db, r->vm_id, &owner, blocked);

    if (rc < 0)
        answer_error(r, 500, "Internal error while looking up the virtual machine");
    else if (rc == 0)
        answer_error(r, 404, "The requested virtual machine does not exist");
    else if (owner != r->user_id)
        answer_error(r, 403, "You are not allowed to access requested virtual machine");
    return rc == 1 && owner == r->user_id ? 0 : -1;
}

static void stop_poll(evutil_socket_t fd, short what, void *arg);

static void
work_stopped(struct req *r, struct qvd_db *db)
{
    char state[32];

    r->status = qvd_model_l7r_vm_stopped(db, r->vm_id, state, sizeof(state)) == 1 ? 0 : -1;
}

/* Back from a look at a VM being stopped: answered, or another look soon. */
static void
stop_looked(struct l7r_conn *c, struct req *r)
{
    bool stopped = r->status == 0;

    if (stopped || qvd_mono_ms() >= c->wait_deadline_ms) {
        event_free(c->wait_ev);
        c->wait_ev = NULL;
        if (stopped)
            l7r_conn_reply(c, 200, NULL, "text/plain", "Machine stopped\r\n", 17);
        else
            l7r_conn_error(c, 408, NULL, "Timed out waiting for the virtual machine to stop");
        return;
    }
    struct timeval tv = {0, VM_STOP_POLL_MS * 1000};
    evtimer_add(c->wait_ev, &tv);
}

static void
stop_poll_done(struct l7r_job *job)
{
    struct req *r = (struct req *)job;

    if (job->conn != NULL)
        stop_looked(job->conn, r);
    req_free(job);
}

static void
stop_poll(evutil_socket_t fd, short what, void *arg)
{
    struct l7r_conn *c = arg;
    struct req *r = qvd_xcalloc(1, sizeof(*r));

    r->j.run = req_run;
    r->j.done = stop_poll_done;
    r->j.discard = req_free;
    r->work = work_stopped;
    r->vm_id = c->wait_vm;
    l7r_work(c->l7r, &r->j, c);
}

static void
work_stop_vm(struct req *r, struct qvd_db *db)
{
    char state[32];
    bool blocked;
    int rc;

    if (owned_vm(r, db, &blocked) < 0)
        return;
    if (qvd_model_vm_stop(db, r->j.l->cfg, r->vm_id) == 0)
        return; /* status 0: stop_vm_then waits for the stop */
    rc = qvd_model_l7r_vm_stopped(db, r->vm_id, state, sizeof(state));
    if (rc == 1) { /* nothing to stop: what the client wants is already so */
        r->status = 200;
        r->text = true;
        r->body = qvd_xstrdup("Machine stopped\r\n");
        return;
    }
    r->status = 503;
    snprintf(r->msg, sizeof(r->msg),
             "The requested virtual machine is in an unstoppable state (%s)", rc < 0 ? "?" : state);
}

static void
stop_vm_then(struct l7r_conn *c, struct req *r)
{
    log_info("%s: user '%s' stops VM %lld", c->h.peer, c->user.login, (long long)r->vm_id);
    c->wait_vm = r->vm_id;
    c->wait_deadline_ms = qvd_mono_ms() + c->l7r->t_vm_stop * 1000;
    c->wait_ev = evtimer_new(c->l7r->base, stop_poll, c);
    stop_poll(-1, 0, c);
}

static void
api_stop_vm(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    int64_t id = vm_param(c, m);

    if (id > 0)
        submit(c, work_stop_vm, stop_vm_then, id);
}

static bool
header_has_token(const char *value, const char *token)
{
    size_t n = strlen(token);

    for (const char *p = value; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (len == n && strncasecmp(p, token, n) == 0)
            return true;
        p += len;
    }
    return false;
}

static void
work_connect_to_vm(struct req *r, struct qvd_db *db)
{
    bool blocked = false;

    if (owned_vm(r, db, &blocked) == 0 && blocked)
        answer_error(r, 403, "The requested virtual machine is offline for maintenance");
}

static void
connect_then(struct l7r_conn *c, struct req *r)
{
    l7r_session_start(c, qvd_http_parser_msg(c->h.parser), r->vm_id);
}

static void
api_connect_to_vm(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    const char *conn = qvd_http_msg_header(m, "Connection");
    const char *upg = qvd_http_msg_header(m, "Upgrade");
    int64_t id;

    if (!conn || !upg || !header_has_token(conn, "upgrade") || strcasecmp(upg, "QVD/1.0") != 0) {
        l7r_conn_error(c, 426, (const char *const[]){"Upgrade", "QVD/1.0", NULL},
                       "Upgrade to QVD/1.0 required");
        return;
    }
    if (qvd_http_msg_param(m, "id") == NULL) {
        l7r_conn_error(c, 422, NULL, "parameter id is missing");
        return;
    }
    for (size_t i = 0; i < m->nparams; i++) {
        const char *k = m->params[i].key;
        if (!l7r_connect_param_allowed(k)) {
            l7r_conn_error(c, 403, NULL, "Invalid parameters: %.64s", k);
            return;
        }
    }
    id = vm_param(c, m);
    if (id > 0)
        submit(c, work_connect_to_vm, connect_then, id);
}

static void
work_session_end(struct req *r, struct qvd_db *db)
{
    char reason[32], detail[201];
    int rc = qvd_model_session_end_get(db, r->sid, r->user_id, reason, sizeof(reason), detail,
                                       sizeof(detail));

    if (rc < 0) {
        log_err("session_end: %s", qvd_strerror());
        answer_error(r, 500, "Internal error while looking up the session");
        return;
    }
    if (rc == 0) {
        answer_error(r, 404, "No such session of yours");
        return;
    }
    json_t *o = json_pack("{s:s}", "id", r->sid);
    const char *text = qvd_model_end_reason_text(reason);
    json_object_set_new(o, "reason", text ? json_string(reason) : json_null());
    json_object_set_new(o, "message", text ? json_string(text) : json_null());
    json_object_set_new(o, "detail", json_string(detail));
    answer_json(r, o);
}

/* /qvd/session_end?id=<X-QVD-Session-Id>: why the user's relayed session ended, for the
 * session's own user only: {"id","reason","message","detail"}, reason null while unknown. */
static void
api_session_end(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    const char *id = qvd_http_msg_param(m, "id");
    size_t n = id ? strlen(id) : 0;
    struct req *r;

    if (n < 16 || n > 64 ||
        strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789") != n) {
        l7r_conn_error(c, 422, NULL, "parameter id is missing or invalid");
        return;
    }
    r = req_new(c, work_session_end, NULL, -1);
    memcpy(r->sid, id, n + 1);
    req_submit(c, r); /* the worker reads sid: written before */
}

static const struct endpoint endpoints[] = {
    {.path = "/qvd/ping", .auth = false, .fn = api_ping},
    {.path = "/qvd/session_end", .auth = true, .stopping = true, .fn = api_session_end},
    {.path = "/qvd/list_of_vm", .auth = true, .fn = api_list_of_vm},
    {.path = "/qvd/list_of_applications", .auth = true, .fn = api_list_of_applications},
    {.path = "/qvd/authenticate_user", .auth = true, .fn = api_authenticate_user},
    {.path = "/qvd/create_auth_token", .auth = true, .fn = api_create_auth_token},
    {.path = "/qvd/stop_vm", .auth = true, .fn = api_stop_vm},
    {.path = "/qvd/connect_to_vm", .auth = true, .fn = api_connect_to_vm},
};

static const struct endpoint *
endpoint_of(const struct qvd_http_msg *m)
{
    for (size_t i = 0; i < QVD_ARRAY_LEN(endpoints); i++)
        if (strcmp(m->path, endpoints[i].path) == 0)
            return &endpoints[i];
    return NULL;
}

/* The endpoint itself, once the request is authenticated (when it needs to be). */
static void
run(struct l7r_conn *c, const struct qvd_http_msg *m, const struct endpoint *e)
{
    if (c->l7r->stopping && !e->stopping) {
        l7r_conn_error(c, 503, NULL, "Server is shutting down");
        return;
    }
    c->host_check = e->auth && !e->stopping;
    e->fn(c, m);
}

void
l7r_api_dispatch(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    const struct endpoint *e = endpoint_of(m);

    if (e == NULL || strcmp(m->method, "GET") != 0) {
        l7r_conn_error(c, 404, NULL, "Not found: %s %.100s", m->method, m->path);
        return;
    }
    if (c->l7r->stopping && !e->stopping) {
        l7r_conn_error(c, 503, NULL, "Server is shutting down");
        return;
    }
    if (e->auth && l7r_auth_request(c, m) != 1)
        return; /* answered, or a worker checks the credentials: l7r_api_authed follows */
    run(c, m, e);
}

void
l7r_api_authed(struct l7r_conn *c)
{
    const struct qvd_http_msg *m = qvd_http_parser_msg(c->h.parser);

    run(c, m, endpoint_of(m));
}

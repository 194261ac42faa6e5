/* api.c: the client endpoints (/qvd/...), one function each, registered in a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <jansson.h>

#include "db.h"
#include "err.h"
#include "http.h"
#include "l7r.h"
#include "log.h"
#include "model.h"
#include "util.h"

#define VM_STOP_POLL_MS 500

struct endpoint {
    const char *path;
    bool auth;     /* authentication and a running host needed first */
    bool stopping; /* still answered while the L7R stops (and on a host that is not running) */
    void (*fn)(struct l7r_conn *c, const struct qvd_http_msg *m);
};

static void
reply_json(struct l7r_conn *c, json_t *j)
{
    char *s =
        json_dumps(j, JSON_INDENT(3) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    struct qvd_buf b = QVD_BUF_INIT;

    qvd_buf_adds(&b, s ? s : "null");
    qvd_buf_adds(&b, "\n");
    free(s);
    json_decref(j);
    l7r_conn_reply(c, 200, NULL, "application/json", b.data, b.len);
    qvd_buf_free(&b);
}

static void
api_ping(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    static const char alive[] = "I am alive!\r\n";

    if (l7r_host_check(c->l7r) < 0) {
        l7r_conn_error(c, 503, NULL, "%s", qvd_strerror());
        return;
    }
    l7r_conn_reply(c, 200, NULL, "text/plain", alive, sizeof(alive) - 1);
}

static void
list_vms(struct l7r_conn *c, int is_application)
{
    struct qvd_stmt *st = qvd_db_query(c->l7r->db,
                                       "SELECT v.id, r.vm_state, v.name, r.blocked,"
                                       " o.is_application FROM vms v"
                                       " JOIN vm_runtimes r ON r.vm_id = v.id"
                                       " JOIN osfs o ON o.id = v.osf_id"
                                       " WHERE v.user_id = ? AND o.is_application = ?"
                                       " ORDER BY v.id",
                                       "ii", c->user.id, (int64_t)is_application);
    json_t *arr = json_array();
    int rc;

    while (st && (rc = qvd_db_step(st)) == 1) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(qvd_db_int(st, 0)));
        json_object_set_new(o, "state", json_string(qvd_db_text(st, 1)));
        json_object_set_new(o, "name", json_string(qvd_db_text(st, 2)));
        json_object_set_new(o, "blocked", json_integer(qvd_db_int(st, 3)));
        json_object_set_new(o, "is_application", json_integer(qvd_db_int(st, 4)));
        json_array_append_new(arr, o);
    }
    if (st == NULL || rc < 0) {
        qvd_db_done(st);
        json_decref(arr);
        log_err("list of VMs: %s", qvd_strerror());
        l7r_conn_error(c, 500, NULL, "Internal error while listing the virtual machines");
        return;
    }
    qvd_db_done(st);
    reply_json(c, arr);
}

static void
api_list_of_vm(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    list_vms(c, 0);
}

static void
api_list_of_applications(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    list_vms(c, 1);
}

static void
api_authenticate_user(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    reply_json(c, json_object());
}

static void
api_create_auth_token(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    char *tok = NULL;

    if (l7r_token_create(c->l7r, c->user.id, &tok) < 0) {
        log_err("create_auth_token: %s", qvd_strerror());
        l7r_conn_error(c, 500, NULL, "Internal error while creating the token");
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "auth_token", json_string(tok));
    qvd_wipe(tok, strlen(tok));
    free(tok);
    reply_json(c, o);
}

/* The VM named by ?id= and owned by the user: its id, or -1 after an error answer. */
static int64_t
owned_vm(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    const char *s = qvd_http_msg_param(m, "id");
    int64_t owner;
    long id;
    int rc;

    if (s == NULL || *s == '\0') {
        l7r_conn_error(c, 422, NULL, "parameter id is missing");
        return -1;
    }
    if (qvd_parse_long(s, &id) < 0 || id <= 0) {
        l7r_conn_error(c, 404, NULL, "The requested virtual machine does not exist");
        return -1;
    }
    rc = qvd_db_get_int(c->l7r->db, &owner, "SELECT user_id FROM vms WHERE id = ?", "i",
                        (int64_t)id);
    if (rc < 0) {
        l7r_conn_error(c, 500, NULL, "Internal error while looking up the virtual machine");
        return -1;
    }
    if (rc == 0) {
        l7r_conn_error(c, 404, NULL, "The requested virtual machine does not exist");
        return -1;
    }
    if (owner != c->user.id) {
        l7r_conn_error(c, 403, NULL, "You are not allowed to access requested virtual machine");
        return -1;
    }
    return id;
}

static void
stop_poll(evutil_socket_t fd, short what, void *arg)
{
    struct l7r_conn *c = arg;
    struct qvd_stmt *st = qvd_db_query(
        c->l7r->db, "SELECT vm_state, vm_cmd FROM vm_runtimes WHERE vm_id = ?", "i", c->wait_vm);
    bool stopped = false;

    if (st && qvd_db_step(st) == 1)
        stopped = strcmp(qvd_db_text(st, 0), "stopped") == 0 && qvd_db_is_null(st, 1);
    qvd_db_done(st);
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
api_stop_vm(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    int64_t id = owned_vm(c, m);

    if (id < 0)
        return;
    if (qvd_model_vm_stop(c->l7r->db, c->l7r->cfg, id) < 0) {
        char state[32] = "?";
        struct qvd_stmt *st = qvd_db_query(c->l7r->db,
                                           "SELECT vm_state, vm_cmd FROM vm_runtimes"
                                           " WHERE vm_id = ?",
                                           "i", id);
        bool stopped = false;
        if (st && qvd_db_step(st) == 1) {
            snprintf(state, sizeof(state), "%s", qvd_db_text(st, 0));
            stopped = strcmp(state, "stopped") == 0 && qvd_db_is_null(st, 1);
        }
        qvd_db_done(st);
        if (stopped) /* nothing to stop: what the client wants is already so */
            l7r_conn_reply(c, 200, NULL, "text/plain", "Machine stopped\r\n", 17);
        else
            l7r_conn_error(c, 503, NULL,
                           "The requested virtual machine is in an unstoppable state (%s)", state);
        return;
    }
    log_info("%s: user '%s' stops VM %lld", c->h.peer, c->user.login, (long long)id);
    c->wait_vm = id;
    c->wait_deadline_ms = qvd_mono_ms() + c->l7r->t_vm_stop * 1000;
    c->wait_ev = evtimer_new(c->l7r->base, stop_poll, c);
    stop_poll(-1, 0, c);
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
api_connect_to_vm(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    const char *conn = qvd_http_msg_header(m, "Connection");
    const char *upg = qvd_http_msg_header(m, "Upgrade");
    int64_t id, blocked = 0;

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
    id = owned_vm(c, m);
    if (id < 0)
        return;
    if (qvd_db_get_int(c->l7r->db, &blocked, "SELECT blocked FROM vm_runtimes WHERE vm_id = ?", "i",
                       id) < 0) {
        l7r_conn_error(c, 500, NULL, "Internal error while looking up the virtual machine");
        return;
    }
    if (blocked) {
        l7r_conn_error(c, 403, NULL, "The requested virtual machine is offline for maintenance");
        return;
    }
    l7r_session_start(c, m, id);
}

/* /qvd/session_end?id=<X-QVD-Session-Id>: why the user's relayed session ended, for the
 * session's own user only: {"id","reason","message","detail"}, reason null while unknown. */
static void
api_session_end(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    const char *id = qvd_http_msg_param(m, "id");
    char reason[32], detail[201];
    size_t n = id ? strlen(id) : 0;
    int rc;

    if (n < 16 || n > 64 ||
        strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789") != n) {
        l7r_conn_error(c, 422, NULL, "parameter id is missing or invalid");
        return;
    }
    rc = qvd_model_session_end_get(c->l7r->db, id, c->user.id, reason, sizeof(reason), detail,
                                   sizeof(detail));
    if (rc < 0) {
        log_err("session_end: %s", qvd_strerror());
        l7r_conn_error(c, 500, NULL, "Internal error while looking up the session");
        return;
    }
    if (rc == 0) {
        l7r_conn_error(c, 404, NULL, "No such session of yours");
        return;
    }
    json_t *o = json_pack("{s:s}", "id", id);
    const char *text = qvd_model_end_reason_text(reason);
    json_object_set_new(o, "reason", text ? json_string(reason) : json_null());
    json_object_set_new(o, "message", text ? json_string(text) : json_null());
    json_object_set_new(o, "detail", json_string(detail));
    reply_json(c, o);
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
    if (e->auth && !e->stopping && l7r_host_check(c->l7r) < 0) {
        l7r_conn_error(c, 503, NULL, "%s", qvd_strerror());
        return;
    }
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
        return; /* answered, or a worker checks the password: l7r_api_authed follows */
    run(c, m, e);
}

void
l7r_api_authed(struct l7r_conn *c)
{
    const struct qvd_http_msg *m = qvd_http_parser_msg(c->h.parser);

    run(c, m, endpoint_of(m));
}

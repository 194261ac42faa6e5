/* api.h: private header of qvd-api, the administrators' REST/JSON API. One event loop reads
 * requests (TLS or the local Unix socket) through the bounded HTTP parser; complete requests
 * go to worker threads, each with its own database connection, that answer them; the loop
 * writes the answers and streams the live feed. */
#ifndef QVD_API_H
#define QVD_API_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "acl.h"
#include "http.h"
#include "model.h"
#include "util.h"

struct bufferevent;
struct event;
struct event_base;
struct evconnlistener;
struct qvd_config;
struct qvd_db;
struct qvd_http_msg;
struct qvd_http_parser;
struct qvd_throttle;
struct api_conn;
struct qvd_workq;
struct api_feed;

#define API_MAX_LISTENERS 8

struct api {
    struct qvd_config *cfg;
    struct event_base *base;
    SSL_CTX *ssl_ctx;
    struct evconnlistener *listeners[API_MAX_LISTENERS];
    bool listener_tls[API_MAX_LISTENERS];
    size_t nlisteners;
    char *socket_path; /* unlinked at exit */
    struct event *sig_term, *sig_int;
    TAILQ_HEAD(, api_conn) conns;
    size_t nconns;
    uint64_t next_conn_id;
    struct qvd_workq *pool;
    struct api_feed *feed;
    struct qvd_throttle *throttle;
    int throttle_v6_prefix; /* IPv6 clients are throttled per network of this length */
    long t_request, t_idle, max_conns;
    bool stopping;
};

/* ---- a request as the workers see it: copied out of the parser ---- */
struct api_request {
    char *method, *path, *query_filter, *query_order, *query_fields;
    char *authorization, *cookie, *source, *content_type;
    struct qvd_http_param *params;
    size_t nparams;
    char *body;
    size_t body_len;
    char peer[64];
    bool tls;
};

/* What a worker answers. stream: the connection becomes a live feed. */
struct api_response {
    int status;
    char *body; /* JSON text, or NULL */
    char *set_cookie;
    bool stream;
    /* for a stream: who listens */
    bool superadmin;
    int64_t tenant_id;
    struct qvd_acl_set acls;
};

/* One request being answered on a worker thread. */
struct api_ctx {
    struct api *api;
    struct qvd_db *db; /* the worker's */
    const struct api_request *req;
    struct api_response *res;
    json_t *body; /* the parsed JSON object, when there is a body */
    /* who asks */
    bool authed;
    struct qvd_model_admin_session who;
    bool superadmin;
    struct qvd_acl_set acls;
    int64_t scope[2]; /* tenants visible: own and common; superadmins: all */
    size_t nscope;
    const char *token;
    /* the audit record of a change */
    const char *action, *object;
    int64_t object_id;
    char object_name[128];
    char error[1024]; /* the message of the error answered, for the audit log */
};

/* main.c */

/* conn.c */
void api_conn_accept(struct api *a, int fd, const char *peer, bool tls);
void api_conn_close_all(struct api *a);
/* A worker finished the request of connection `id` (still there or not). */
void api_conn_answered(struct api *a, uint64_t id, struct api_response *res);

/* pool.c */
int api_pool_start(struct api *a, int nthreads);
void api_pool_stop(struct api *a);
/* Queues a request of connection `conn_id`; the pool owns `req`. */
void api_pool_submit(struct api *a, uint64_t conn_id, struct api_request *req);
/* Queues other database work (the live feed's looks): work(data, db) on a worker, then
 * back(data) on the loop, which frees data; drop(data) instead when the pool stops first. */
void api_pool_run(struct api *a, void (*work)(void *data, struct qvd_db *db),
                  void (*back)(void *data), void (*drop)(void *data), void *data);
void api_request_free(struct api_request *r);
void api_response_free(struct api_response *r);

/* router.c: answers one request on a worker thread */
void api_handle(struct api_ctx *x);

/* reply.c: answers and errors (the message goes to the audit log too) */
/* The JSON error {"error": {"code", "message"}}; returns -1 for `return api_error(...)`. */
int api_error(struct api_ctx *x, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The error of the last failed model call (kind -> status and code). */
int api_model_error(struct api_ctx *x);
/* Answers `status` with `body` (stolen; NULL: no body). Returns 0. */
int api_reply(struct api_ctx *x, int status, json_t *body);

/* auth.c */
/* Authenticates the request's token: 0 (x->who, x->acls, x->scope set) or -1 answered. */
int api_auth(struct api_ctx *x);
int api_login(struct api_ctx *x);
int api_logout(struct api_ctx *x);
/* 0 if the administrator holds `acl`, else -1 answered 403. */
int api_need(struct api_ctx *x, const char *acl);
/* Checks that the administrator may change objects of tenant `tenant_id` (-2: an object
 * without tenant, such as a host): 0 or -1 answered (404 outside the scope, 403 read-only). */
int api_may_change(struct api_ctx *x, int64_t tenant_id);
/* May the administrator grant everything `pattern` names? 0 or -1 answered 403. */
int api_no_escalation(struct api_ctx *x, const struct qvd_acl_set *grant);

/* body.c: strict JSON bodies */
enum api_type { API_INT, API_STR, API_BOOL };
struct api_member {
    const char *name;
    enum api_type type;
    bool required;
};
/* Checks x->body against the members (unknown, wrong type, missing are 400): 0 or -1. */
int api_body(struct api_ctx *x, const struct api_member *m);
const char *api_str(struct api_ctx *x, const char *name);        /* NULL when absent */
bool api_int(struct api_ctx *x, const char *name, int64_t *out); /* false when absent */
int api_bool(struct api_ctx *x, const char *name);               /* -1 when absent */

/* h_objects.c, h_actions.c, h_rbac.c, h_misc.c: handlers; each returns 0 (answered) */
int api_h_list(struct api_ctx *x, const char *resource);
int api_h_get(struct api_ctx *x, const char *resource, int64_t id);
int api_h_create(struct api_ctx *x, const char *resource);
int api_h_update(struct api_ctx *x, const char *resource, int64_t id);
int api_h_delete(struct api_ctx *x, const char *resource, int64_t id);
int api_h_action(struct api_ctx *x, const char *resource, int64_t id, const char *action);
int api_h_props(struct api_ctx *x, const char *resource, int64_t id, const char *key);
int api_h_config(struct api_ctx *x, const char *key);
/* The catalogue (API_NO_ID) or an administrator's operative ACLs. */
#define API_NO_ID INT64_MIN
int api_h_acls(struct api_ctx *x, int64_t admin_id);
int api_h_stats(struct api_ctx *x);
int api_h_info(struct api_ctx *x);
int api_h_events(struct api_ctx *x);
/* The tenant of object `id` of resource, for a change: 0 (*tenant) or -1 answered. */
int api_object_tenant(struct api_ctx *x, const char *resource, int64_t id, int64_t *tenant);

/* feed.c: the live feed on the loop */
int api_feed_start(struct api *a);
void api_feed_stop(struct api *a);
void api_feed_add(struct api *a, struct api_conn *c, const struct api_response *who);
void api_feed_remove(struct api *a, struct api_conn *c);
/* conn.c for feed.c: queue text on a stream; false if the connection is too far behind */
bool api_conn_stream(struct api_conn *c, const char *text, size_t len);

#endif

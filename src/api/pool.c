/* pool.c: the worker threads of qvd-api (libqvd's workq): each owns a database connection
 * and answers whole requests; the answer goes back to the loop, which alone touches
 * connections. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "workq.h"

struct job {
    struct api *api;
    uint64_t conn_id;
    struct api_request *req;
    struct api_response *res;
    /* other work (api_pool_run) instead of a request */
    void (*work)(void *data, struct qvd_db *db);
    void (*back)(void *data);
    void (*drop)(void *data);
    void *data;
};

void
api_request_free(struct api_request *r)
{
    if (r == NULL)
        return;
    free(r->method);
    free(r->path);
    if (r->authorization) {
        qvd_wipe(r->authorization, strlen(r->authorization));
        free(r->authorization);
    }
    if (r->cookie) {
        qvd_wipe(r->cookie, strlen(r->cookie));
        free(r->cookie);
    }
    free(r->source);
    free(r->content_type);
    for (size_t i = 0; i < r->nparams; i++) {
        free(r->params[i].key);
        free(r->params[i].value);
    }
    free(r->params);
    if (r->body) {
        qvd_wipe(r->body, r->body_len); /* may hold passwords */
        free(r->body);
    }
    free(r);
}

void
api_response_free(struct api_response *r)
{
    if (r == NULL)
        return;
    if (r->body) {
        qvd_wipe(r->body, strlen(r->body)); /* may hold a session token */
        free(r->body);
    }
    if (r->set_cookie) {
        qvd_wipe(r->set_cookie, strlen(r->set_cookie));
        free(r->set_cookie);
    }
    free(r);
}

static void
run(void *job, void *ctx)
{
    struct job *j = job;
    struct api_ctx x = {.api = j->api, .db = ctx, .req = j->req, .object_id = -1};

    if (j->work != NULL) {
        j->work(j->data, ctx);
        return;
    }
    j->res = qvd_xcalloc(1, sizeof(*j->res));
    x.res = j->res;
    api_handle(&x);
}

static void
discard(void *job, void *arg)
{
    struct job *j = job;

    if (j->drop != NULL)
        j->drop(j->data);
    api_request_free(j->req);
    api_response_free(j->res);
    free(j);
}

static void
done(void *job, void *arg)
{
    struct job *j = job;

    if (j->back != NULL) {
        j->back(j->data);
        free(j);
        return;
    }
    api_conn_answered(arg, j->conn_id, j->res);
    discard(j, arg);
}

static const struct qvd_workq_ops pool_ops = {
    .run = run,
    .done = done,
    .discard = discard,
};

int
api_pool_start(struct api *a, int nthreads)
{
    a->pool = qvd_workq_start_db(a->base, nthreads, &pool_ops, a, a->cfg);
    if (a->pool == NULL)
        return -1;
    log_info("%d worker threads", qvd_workq_threads(a->pool));
    return 0;
}

void
api_pool_submit(struct api *a, uint64_t conn_id, struct api_request *req)
{
    struct job *j = qvd_xcalloc(1, sizeof(*j));

    j->api = a;
    j->conn_id = conn_id;
    j->req = req;
    qvd_workq_submit(a->pool, j);
}

void
api_pool_run(struct api *a, void (*work)(void *data, struct qvd_db *db), void (*back)(void *data),
             void (*drop)(void *data), void *data)
{
    struct job *j = qvd_xcalloc(1, sizeof(*j));

    j->api = a;
    j->work = work;
    j->back = back;
    j->drop = drop;
    j->data = data;
    qvd_workq_submit(a->pool, j);
}

void
api_pool_stop(struct api *a)
{
    qvd_workq_stop(a->pool);
    a->pool = NULL;
}

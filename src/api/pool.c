/* pool.c: the worker threads of qvd-api. Each owns a database connection and answers whole
 * requests; a request goes to them through a locked queue, and its answer comes back to
 * the loop through a pipe. Only the loop touches connections. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "api.h"
#include "db.h"
#include "err.h"
#include "http.h"
#include "log.h"

#define MAX_WORKERS 64

struct job {
    struct job *next;
    uint64_t conn_id;
    struct api_request *req;
    struct api_response *res;
};

struct api_pool {
    struct api *api;
    pthread_mutex_t lock;
    pthread_cond_t more;
    struct job *head, *tail;
    bool stop;
    int nthreads;
    pthread_t threads[MAX_WORKERS];
    struct qvd_db *dbs[MAX_WORKERS];
    int done_fd[2];
    struct event *done_ev;
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

struct worker_arg {
    struct api_pool *p;
    int index;
};

static void *
worker(void *arg)
{
    struct worker_arg *wa = arg;
    struct api_pool *p = wa->p;
    struct qvd_db *db = p->dbs[wa->index];

    free(wa);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->head == NULL && !p->stop)
            pthread_cond_wait(&p->more, &p->lock);
        if (p->stop) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        struct job *j = p->head;
        p->head = j->next;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);

        struct api_ctx x = {.api = p->api, .db = db, .req = j->req, .object_id = -1};
        j->res = qvd_xcalloc(1, sizeof(*j->res));
        x.res = j->res;
        api_handle(&x);
        if (qvd_write_all(p->done_fd[1], &j, sizeof(j)) < 0) {
            api_request_free(j->req);
            api_response_free(j->res);
            free(j);
        }
    }
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
    struct api_pool *p = arg;
    struct job *j;

    while (read(fd, &j, sizeof(j)) == (ssize_t)sizeof(j)) {
        api_conn_answered(p->api, j->conn_id, j->res);
        api_request_free(j->req);
        api_response_free(j->res);
        free(j);
    }
}

int
api_pool_start(struct api *a, int nthreads)
{
    struct api_pool *p = qvd_xcalloc(1, sizeof(*p));

    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > MAX_WORKERS)
        nthreads = MAX_WORKERS;
    p->api = a;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->more, NULL);
    if (pipe2(p->done_fd, O_CLOEXEC) < 0) {
        free(p);
        return qvd_seterr("pipe: %s", strerror(errno));
    }
    fcntl(p->done_fd[0], F_SETFL, O_NONBLOCK);
    p->done_ev = event_new(a->base, p->done_fd[0], EV_READ | EV_PERSIST, on_done, p);
    event_add(p->done_ev, NULL);
    a->pool = p;
    for (int i = 0; i < nthreads; i++) {
        struct worker_arg *wa;
        int rc;

        p->dbs[i] = qvd_db_open(a->cfg);
        if (p->dbs[i] == NULL) {
            log_err("worker %d: %s", i, qvd_strerror());
            break;
        }
        wa = qvd_xcalloc(1, sizeof(*wa));
        wa->p = p;
        wa->index = i;
        rc = pthread_create(&p->threads[i], NULL, worker, wa);
        if (rc != 0) {
            log_warn("worker %d: %s", i, strerror(rc));
            free(wa);
            qvd_db_close(p->dbs[i]);
            p->dbs[i] = NULL;
            break;
        }
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        api_pool_stop(a);
        return qvd_seterr("no worker thread could be started");
    }
    log_info("%d worker threads", p->nthreads);
    return 0;
}

void
api_pool_submit(struct api *a, uint64_t conn_id, struct api_request *req)
{
    struct api_pool *p = a->pool;
    struct job *j = qvd_xcalloc(1, sizeof(*j));

    j->conn_id = conn_id;
    j->req = req;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->more);
    pthread_mutex_unlock(&p->lock);
}

void
api_pool_stop(struct api *a)
{
    struct api_pool *p = a->pool;
    struct job *j;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->more);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    while (read(p->done_fd[0], &j, sizeof(j)) == (ssize_t)sizeof(j)) {
        api_request_free(j->req);
        api_response_free(j->res);
        free(j);
    }
    while ((j = p->head) != NULL) {
        p->head = j->next;
        api_request_free(j->req);
        free(j);
    }
    for (int i = 0; i < MAX_WORKERS; i++)
        qvd_db_close(p->dbs[i]);
    event_free(p->done_ev);
    close(p->done_fd[0]);
    close(p->done_fd[1]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->more);
    free(p);
    a->pool = NULL;
}

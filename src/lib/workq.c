/* workq.c: jobs go to the workers through a locked queue and come back through a pipe that
 * the event loop reads (one pointer per finished job). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "db.h"
#include "err.h"
#include "log.h"
#include "util.h"
#include "workq.h"

#define MAX_WORKERS 64

struct node {
    struct node *next;
    void *job;
};

struct worker {
    struct qvd_workq *q;
    pthread_t thread;
    void *ctx;
};

struct qvd_workq {
    const struct qvd_workq_ops *ops;
    void *arg;
    struct qvd_config *db_cfg; /* each worker's context is a connection (start_db) */
    pthread_mutex_t lock;
    pthread_cond_t more;
    struct node *head, *tail;
    bool stop;
    int nthreads;
    struct worker workers[MAX_WORKERS];
    int done_fd[2];
    struct event *done_ev;
};

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct qvd_workq *q = w->q;

    for (;;) {
        pthread_mutex_lock(&q->lock);
        while (q->head == NULL && !q->stop)
            pthread_cond_wait(&q->more, &q->lock);
        if (q->stop) {
            pthread_mutex_unlock(&q->lock);
            return NULL;
        }
        struct node *n = q->head;
        q->head = n->next;
        if (q->head == NULL)
            q->tail = NULL;
        pthread_mutex_unlock(&q->lock);

        q->ops->run(n->job, w->ctx);
        if (qvd_write_all(q->done_fd[1], &n, sizeof(n)) < 0) {
            q->ops->discard(n->job, q->arg); /* the loop is gone (shutdown) */
            free(n);
        }
    }
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
    struct qvd_workq *q = arg;
    struct node *n;

    while (read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n)) {
        q->ops->done(n->job, q->arg);
        free(n);
    }
}

static void *
ctx_init(struct qvd_workq *q, int index)
{
    if (q->db_cfg != NULL)
        return qvd_db_open(q->db_cfg);
    return q->ops->thread_init ? q->ops->thread_init(q->arg, index) : NULL;
}

static void
ctx_fini(struct qvd_workq *q, void *ctx)
{
    if (q->db_cfg != NULL)
        qvd_db_close(ctx);
    else if (q->ops->thread_fini)
        q->ops->thread_fini(q->arg, ctx);
}

static struct qvd_workq *
start(struct event_base *base, int nthreads, const struct qvd_workq_ops *ops, void *arg,
      struct qvd_config *db_cfg)
{
    struct qvd_workq *q = qvd_xcalloc(1, sizeof(*q));

    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > MAX_WORKERS)
        nthreads = MAX_WORKERS;
    q->ops = ops;
    q->arg = arg;
    q->db_cfg = db_cfg;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->more, NULL);
    if (pipe2(q->done_fd, O_CLOEXEC) < 0) {
        qvd_seterr("pipe: %s", strerror(errno));
        free(q);
        return NULL;
    }
    fcntl(q->done_fd[0], F_SETFL, O_NONBLOCK);
    q->done_ev = event_new(base, q->done_fd[0], EV_READ | EV_PERSIST, on_done, q);
    event_add(q->done_ev, NULL);
    for (int i = 0; i < nthreads; i++) {
        struct worker *w = &q->workers[q->nthreads];
        int rc;

        w->q = q;
        w->ctx = ctx_init(q, i);
        if (w->ctx == NULL && (q->db_cfg || ops->thread_init)) {
            log_warn("worker %d: %s", i, qvd_strerror());
            break;
        }
        if ((rc = pthread_create(&w->thread, NULL, worker_main, w)) != 0) {
            log_warn("worker %d: %s", i, strerror(rc));
            ctx_fini(q, w->ctx);
            break;
        }
        q->nthreads++;
    }
    if (q->nthreads == 0) {
        qvd_workq_stop(q);
        qvd_seterr("no worker thread could be started");
        return NULL;
    }
    return q;
}

struct qvd_workq *
qvd_workq_start(struct event_base *base, int nthreads, const struct qvd_workq_ops *ops, void *arg)
{
    return start(base, nthreads, ops, arg, NULL);
}

struct qvd_workq *
qvd_workq_start_db(struct event_base *base, int nthreads, const struct qvd_workq_ops *ops,
                   void *arg, struct qvd_config *cfg)
{
    return start(base, nthreads, ops, arg, cfg);
}

int
qvd_workq_threads(const struct qvd_workq *q)
{
    return q->nthreads;
}

void
qvd_workq_submit(struct qvd_workq *q, void *job)
{
    struct node *n = qvd_xcalloc(1, sizeof(*n));

    n->job = job;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    pthread_cond_signal(&q->more);
    pthread_mutex_unlock(&q->lock);
}

void
qvd_workq_stop(struct qvd_workq *q)
{
    struct node *n;

    if (q == NULL)
        return;
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_broadcast(&q->more);
    pthread_mutex_unlock(&q->lock);
    for (int i = 0; i < q->nthreads; i++) {
        pthread_join(q->workers[i].thread, NULL);
        ctx_fini(q, q->workers[i].ctx);
    }
    /* what the workers finished but the loop did not read, then what they never took */
    while (read(q->done_fd[0], &n, sizeof(n)) == (ssize_t)sizeof(n)) {
        q->ops->discard(n->job, q->arg);
        free(n);
    }
    while ((n = q->head) != NULL) {
        q->head = n->next;
        q->ops->discard(n->job, q->arg);
        free(n);
    }
    event_free(q->done_ev);
    close(q->done_fd[0]);
    close(q->done_fd[1]);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->more);
    free(q);
}

/* auth_worker.c: password checks (argon2id, ~20 ms of CPU each by default) on worker
 * threads, so that a burst of logins does not stall the event loop and with it every
 * session it relays. A job goes to the workers through a locked queue and comes back
 * through a pipe that the event loop reads; a job whose connection ended meanwhile
 * (conn set to NULL by the loop) is just freed. Only the loop touches connections. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "err.h"
#include "l7r.h"
#include "log.h"
#include "password.h"
#include "util.h"

#define MAX_WORKERS 16

struct l7r_auth_pool {
    struct l7r *l;
    pthread_mutex_t lock;
    pthread_cond_t more;
    struct l7r_auth_job *head, *tail; /* waiting jobs */
    bool stop;
    int nthreads;
    pthread_t threads[MAX_WORKERS];
    int done_fd[2]; /* workers write finished job pointers, the loop reads them */
    struct event *done_ev;
};

static void
job_free(struct l7r_auth_job *j)
{
    if (j->password) {
        qvd_wipe(j->password, strlen(j->password));
        free(j->password);
    }
    free(j->hash);
    free(j);
}

static void *
worker(void *arg)
{
    struct l7r_auth_pool *p = arg;

    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->head == NULL && !p->stop)
            pthread_cond_wait(&p->more, &p->lock);
        if (p->stop) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        struct l7r_auth_job *j = p->head;
        p->head = j->next;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);

        j->result = qvd_password_verify(j->hash, j->password);
        if (j->result < 0)
            snprintf(j->error, sizeof(j->error), "%s", qvd_strerror());
        if (qvd_write_all(p->done_fd[1], &j, sizeof(j)) < 0) {
            /* the loop is gone (shutdown): nobody will read it */
            job_free(j);
        }
    }
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
    struct l7r_auth_job *j;
    ssize_t n;

    while ((n = read(fd, &j, sizeof(j))) == (ssize_t)sizeof(j)) {
        if (j->conn != NULL) {
            j->conn->auth_job = NULL;
            l7r_auth_finish(j);
        }
        job_free(j);
    }
}

int
l7r_auth_pool_start(struct l7r *l, int nthreads)
{
    struct l7r_auth_pool *p = qvd_xcalloc(1, sizeof(*p));

    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > MAX_WORKERS)
        nthreads = MAX_WORKERS;
    p->l = l;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->more, NULL);
    if (pipe2(p->done_fd, O_CLOEXEC) < 0) {
        free(p);
        return qvd_seterr("pipe: %s", strerror(errno));
    }
    fcntl(p->done_fd[0], F_SETFL, O_NONBLOCK);
    p->done_ev = event_new(l->base, p->done_fd[0], EV_READ | EV_PERSIST, on_done, p);
    event_add(p->done_ev, NULL);
    for (int i = 0; i < nthreads; i++) {
        int rc = pthread_create(&p->threads[i], NULL, worker, p);
        if (rc != 0) {
            log_warn("auth worker %d: %s", i, strerror(rc));
            break;
        }
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        event_free(p->done_ev);
        close(p->done_fd[0]);
        close(p->done_fd[1]);
        free(p);
        return qvd_seterr("no password-check thread could be started");
    }
    l->auth_pool = p;
    log_info("password checks on %d worker threads", p->nthreads);
    return 0;
}

void
l7r_auth_pool_submit(struct l7r *l, struct l7r_auth_job *j)
{
    struct l7r_auth_pool *p = l->auth_pool;

    j->next = NULL;
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
l7r_auth_pool_stop(struct l7r *l)
{
    struct l7r_auth_pool *p = l->auth_pool;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->more);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    /* what the workers finished but the loop did not read, then what they never took */
    struct l7r_auth_job *j;
    while (read(p->done_fd[0], &j, sizeof(j)) == (ssize_t)sizeof(j))
        job_free(j);
    while ((j = p->head) != NULL) {
        p->head = j->next;
        job_free(j);
    }
    event_free(p->done_ev);
    close(p->done_fd[0]);
    close(p->done_fd[1]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->more);
    free(p);
    l->auth_pool = NULL;
}

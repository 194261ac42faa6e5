/* workq.h: a work queue for an event loop: jobs run on worker threads and come back to the
 * loop, which alone touches connections. How the daemons keep the database off their
 * loops (qvd_workq_start_db: each worker with its own connection): qvd-api's requests and
 * live feed, the L7R's queries and password checks, the HKD's calls. */
#ifndef QVD_WORKQ_H
#define QVD_WORKQ_H

struct event_base;
struct qvd_config;
struct qvd_workq;

struct qvd_workq_ops {
    /* On the loop's thread before the workers start: a worker's own context (for instance
     * a database connection); NULL fails that worker. Optional. */
    void *(*thread_init)(void *arg, int index);
    void (*thread_fini)(void *arg, void *ctx); /* at stop, after the worker ended; optional */
    void (*run)(void *job, void *ctx);         /* on a worker thread */
    void (*done)(void *job, void *arg);        /* on the loop, the job finished; it frees it */
    /* At stop, for a job that never ran or whose result the loop never read. */
    void (*discard)(void *job, void *arg);
};

/* Starts up to `nthreads` workers (1..64); fails (NULL, qvd_strerror()) if none starts. */
struct qvd_workq *qvd_workq_start(struct event_base *base, int nthreads,
                                  const struct qvd_workq_ops *ops, void *arg);
/* The same, each worker's context its own database connection (qvd_db_open(cfg), opened
 * before the worker starts and closed after it ended); ops' thread_init/fini are unused.
 * How the daemons keep the database off their event loops. */
struct qvd_workq *qvd_workq_start_db(struct event_base *base, int nthreads,
                                     const struct qvd_workq_ops *ops, void *arg,
                                     struct qvd_config *cfg);
int qvd_workq_threads(const struct qvd_workq *q);
void qvd_workq_submit(struct qvd_workq *q, void *job);
/* Stops the workers (a running job finishes first) and discards what is left. */
void qvd_workq_stop(struct qvd_workq *q);

#endif

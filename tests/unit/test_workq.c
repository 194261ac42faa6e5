/* test_workq.c: libqvd's work queue on a real event loop and real threads: every job runs
 * once on a worker with that worker's own context and comes back once on the loop's thread;
 * a stop with jobs queued and running discards each job that did not come back, once; a
 * worker whose context cannot be made is left out. tests/run.sh also runs it under TSan
 * (tsan/test-workq), which checks the hand-over between the threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>

#include "workq.h"

#define NJOBS 2000
#define NTHREADS 4

struct job {
    int n;
    int square;       /* written by the worker, read by the loop */
    int ran, done;    /* times run, times handed back or discarded */
    const void *ctx;  /* the worker context it ran with */
    pthread_t runner; /* the thread it ran on */
};

struct fixture {
    struct event_base *base;
    pthread_t loop_thread;
    int contexts[NTHREADS];
    int fail_worker; /* thread_init fails for this index (-1: none) */
    int finished, discarded, target;
    bool done_off_loop;
    long run_ns; /* how long each run takes */
};

static void *
thread_init(void *arg, int index)
{
    struct fixture *f = arg;

    if (index == f->fail_worker || index >= NTHREADS)
        return NULL;
    return &f->contexts[index];
}

static void
thread_fini(void *arg, void *ctx)
{
    int *c = ctx;

    (*c)++; /* each context is finished once, after its thread ended */
}

static void
run(void *p, void *ctx)
{
    struct job *j = p;

    j->ran++;
    j->ctx = ctx;
    j->runner = pthread_self();
    j->square = j->n * j->n;
    if (j->n % 100 == 0) {
        struct timespec ts = {0, 1000000}; /* a slow job now and then: others overtake it */
        nanosleep(&ts, NULL);
    }
}

static void
run_slow(void *p, void *ctx)
{
    struct timespec ts = {0, 2000000};

    run(p, ctx);
    nanosleep(&ts, NULL);
}

static void
done(void *p, void *arg)
{
    struct job *j = p;
    struct fixture *f = arg;

    j->done++;
    if (!pthread_equal(pthread_self(), f->loop_thread))
        f->done_off_loop = true;
    if (++f->finished == f->target)
        event_base_loopbreak(f->base);
}

static void
discard(void *p, void *arg)
{
    struct job *j = p;
    struct fixture *f = arg;

    j->done++;
    f->discarded++;
}

static const struct qvd_workq_ops ops = {.thread_init = thread_init,
                                         .thread_fini = thread_fini,
                                         .run = run,
                                         .done = done,
                                         .discard = discard};
static const struct qvd_workq_ops slow_ops = {.thread_init = thread_init,
                                              .thread_fini = thread_fini,
                                              .run = run_slow,
                                              .done = done,
                                              .discard = discard};

static struct fixture *
fixture_new(void)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->base = event_base_new();
    f->loop_thread = pthread_self();
    f->fail_worker = -1;
    return f;
}

static void
fixture_free(struct fixture *f)
{
    event_base_free(f->base);
    free(f);
}

static struct job *
jobs_new(int n)
{
    struct job *jobs = calloc(n, sizeof(*jobs));

    for (int i = 0; i < n; i++)
        jobs[i].n = i;
    return jobs;
}

/* The loop runs until every job came back, or 120 s (a failure, not a timing). */
static void
loop_until_done(struct fixture *f)
{
    struct timeval limit = {120, 0};

    event_base_loopexit(f->base, &limit);
    event_base_dispatch(f->base);
}

static void
every_job_runs_once_on_a_worker_and_comes_back_once_on_the_loop(void **state)
{
    struct fixture *f = fixture_new();
    struct job *jobs = jobs_new(NJOBS);
    struct qvd_workq *q = qvd_workq_start(f->base, NTHREADS, &ops, f);

    assert_non_null(q);
    assert_int_equal(qvd_workq_threads(q), NTHREADS);
    f->target = NJOBS;
    for (int i = 0; i < NJOBS; i++)
        qvd_workq_submit(q, &jobs[i]);
    loop_until_done(f);
    assert_int_equal(f->finished, NJOBS);
    assert_false(f->done_off_loop);
    for (int i = 0; i < NJOBS; i++) {
        assert_int_equal(jobs[i].ran, 1);
        assert_int_equal(jobs[i].done, 1);
        assert_int_equal(jobs[i].square, i * i);
        assert_false(pthread_equal(jobs[i].runner, f->loop_thread));
        /* the context of the thread it ran on: one context per thread */
        for (int k = 0; k < i; k++)
            if (pthread_equal(jobs[k].runner, jobs[i].runner)) {
                assert_ptr_equal(jobs[k].ctx, jobs[i].ctx);
                break;
            }
    }
    qvd_workq_stop(q);
    assert_int_equal(f->discarded, 0);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(f->contexts[i], 1);
    free(jobs);
    fixture_free(f);
}

/* Jobs queued, running and finished-but-unread at the stop: each is handed back or
 * discarded exactly once, none runs after the stop returned. */
static void
a_stop_discards_each_unfinished_job_once(void **state)
{
    struct fixture *f = fixture_new();
    struct job *jobs = jobs_new(NJOBS);
    struct qvd_workq *q = qvd_workq_start(f->base, NTHREADS, &slow_ops, f);

    assert_non_null(q);
    f->target = 20;
    for (int i = 0; i < NJOBS; i++)
        qvd_workq_submit(q, &jobs[i]);
    loop_until_done(f);
    assert_true(f->finished >= 20);
    qvd_workq_stop(q);
    assert_int_equal(f->finished + f->discarded, NJOBS);
    assert_true(f->discarded > 0);
    for (int i = 0; i < NJOBS; i++) {
        assert_true(jobs[i].ran <= 1);
        assert_int_equal(jobs[i].done, 1);
    }
    free(jobs);
    fixture_free(f);
}

static void
a_worker_without_its_context_is_left_out(void **state)
{
    struct fixture *f = fixture_new();
    struct job *jobs = jobs_new(100);
    struct qvd_workq *q;

    f->fail_worker = 2; /* workers 0 and 1 start, the third fails: the start stops there */
    q = qvd_workq_start(f->base, NTHREADS, &ops, f);
    assert_non_null(q);
    assert_int_equal(qvd_workq_threads(q), 2);
    f->target = 100;
    for (int i = 0; i < 100; i++)
        qvd_workq_submit(q, &jobs[i]);
    loop_until_done(f);
    assert_int_equal(f->finished, 100);
    for (int i = 0; i < 100; i++)
        assert_true(jobs[i].ctx == &f->contexts[0] || jobs[i].ctx == &f->contexts[1]);
    qvd_workq_stop(q);
    free(jobs);
    fixture_free(f);

    f = fixture_new();
    f->fail_worker = 0;
    assert_null(qvd_workq_start(f->base, NTHREADS, &ops, f));
    fixture_free(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_job_runs_once_on_a_worker_and_comes_back_once_on_the_loop),
        cmocka_unit_test(a_stop_discards_each_unfinished_job_once),
        cmocka_unit_test(a_worker_without_its_context_is_left_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

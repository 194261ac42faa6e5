/* auth_worker.c: password checks (argon2id, ~20 ms of CPU each by default) on worker
 * threads (libqvd's workq), so that a burst of logins does not stall the event loop and
 * with it every session it relays. A job whose connection ended meanwhile (conn set to
 * NULL by the loop) is just freed when it comes back. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "l7r.h"
#include "log.h"
#include "password.h"
#include "util.h"
#include "workq.h"

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

static void
run(void *job, void *ctx)
{
    struct l7r_auth_job *j = job;

    j->result = qvd_password_verify(j->hash, j->password);
    if (j->refuse && j->result == 1)
        j->result = 0;
    if (j->result < 0)
        snprintf(j->error, sizeof(j->error), "%s", qvd_strerror());
}

static void
done(void *job, void *arg)
{
    struct l7r_auth_job *j = job;

    if (j->conn != NULL) {
        j->conn->auth_job = NULL;
        l7r_auth_finish(j);
    }
    job_free(j);
}

static void
discard(void *job, void *arg)
{
    job_free(job);
}

static const struct qvd_workq_ops auth_ops = {.run = run, .done = done, .discard = discard};

int
l7r_auth_pool_start(struct l7r *l, int nthreads)
{
    l->auth_pool = qvd_workq_start(l->base, nthreads > 16 ? 16 : nthreads, &auth_ops, l);
    if (l->auth_pool == NULL)
        return -1;
    log_info("password checks on %d worker threads", qvd_workq_threads(l->auth_pool));
    return 0;
}

void
l7r_auth_pool_submit(struct l7r *l, struct l7r_auth_job *j)
{
    qvd_workq_submit(l->auth_pool, j);
}

void
l7r_auth_pool_stop(struct l7r *l)
{
    qvd_workq_stop(l->auth_pool);
    l->auth_pool = NULL;
}

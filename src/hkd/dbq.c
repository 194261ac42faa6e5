/* dbq.c: the HKD's database calls run on a worker thread (libqvd's workq) with its own
 * connection, and their results come back to the event loop, so that a slow or locked
 * database never stalls the loop: VMA pings, timers, the privileged parent's answers and
 * signals go on while a call waits.
 *
 * One worker, on purpose: the writes of a VM must reach the database in the order its
 * state machine made them (starting, running, stopping, stopped), and one FIFO keeps that
 * order without per-VM queues; the node's few calls a second need no more.
 *
 * A result may come back late: the loop matches it to the VM it was for by id and serial
 * (a VM freed and taken again meanwhile is another VM), and the model refuses writes whose
 * transition no longer applies (model_hkd.h), so a stale view never lands. */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "hkd.h"
#include "log.h"
#include "model.h"
#include "util.h"
#include "workq.h"

static void
run(void *job, void *ctx)
{
    struct hkd_job *j = job;

    j->rc = j->run(ctx, j);
    if (j->rc < 0) {
        snprintf(j->err, sizeof(j->err), "%s", qvd_strerror());
        j->kind = qvd_model_errkind();
    }
}

static void
discard(void *job, void *arg)
{
    struct hkd_job *j = job;

    free(j->ids);
    free(j->ids2);
    free(j->row);
    free(j->peers);
    qvd_buf_free(&j->text);
    free(j);
}

static void
done(void *job, void *arg)
{
    struct hkd_job *j = job;
    struct hkd *hkd = arg;

    hkd->jobs--;
    if (j->done != NULL)
        j->done(hkd, j);
    else if (j->rc < 0 && j->vm_id > 0)
        log_warn("VM %lld: %s", (long long)j->vm_id, j->err);
    else if (j->rc < 0)
        log_warn("%s", j->err);
    discard(j, arg);
    hkd_maybe_exit(hkd);
}

static const struct qvd_workq_ops dbq_ops = {
    .run = run,
    .done = done,
    .discard = discard,
};

int
hkd_db_start(struct hkd *hkd)
{
    hkd->dbq = qvd_workq_start_db(hkd->base, 1, &dbq_ops, hkd, hkd->cfg);
    return hkd->dbq == NULL ? -1 : 0;
}

void
hkd_db_stop(struct hkd *hkd)
{
    if (hkd->dbq != NULL)
        qvd_workq_stop(hkd->dbq);
    hkd->dbq = NULL;
}

struct hkd_job *
hkd_job_new(int (*run_fn)(struct qvd_db *db, struct hkd_job *j),
            void (*done_fn)(struct hkd *hkd, struct hkd_job *j), const struct hkd_vm *vm)
{
    struct hkd_job *j = qvd_xcalloc(1, sizeof(*j));

    j->run = run_fn;
    j->done = done_fn;
    if (vm != NULL) {
        j->vm_id = vm->id;
        j->vm_serial = vm->serial;
        j->host_id = vm->hkd->host_id;
    }
    return j;
}

void
hkd_db_submit(struct hkd *hkd, struct hkd_job *j)
{
    if (j->host_id == 0)
        j->host_id = hkd->host_id;
    hkd->jobs++;
    qvd_workq_submit(hkd->dbq, j);
}

struct hkd_vm *
hkd_job_vm(struct hkd *hkd, const struct hkd_job *j)
{
    struct hkd_vm *vm = hkd_vm_find(hkd, j->vm_id);

    return vm != NULL && vm->serial == j->vm_serial ? vm : NULL;
}

void
hkd_maybe_exit(struct hkd *hkd)
{
    /* the loop ends once every VM is gone and every write has reached the database */
    if (hkd->stopping && hkd->vms == NULL && hkd->jobs == 0)
        event_base_loopexit(hkd->base, NULL);
}

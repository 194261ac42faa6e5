/* vm.c: the VM state machine of a node. Commands arrive as vm_runtimes.vm_cmd (a wake-up
 * datagram or the poll timer makes us look); each VM then moves through
 *   starting (fs -> setup -> waiting for the VMA) -> running -> stopping -> stopped
 * and any failure ends in a cleanup that leaves it stopped, or zombie (retried) when even
 * the cleanup fails. At start-up the VMs a previous run of the HKD left are adopted when
 * they are healthy (a restart of the HKD must not end desktops) and reaped otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "hkd.h"
#include "log.h"
#include "model.h"
#include "model_hkd.h"
#include "util.h"

static void vm_advance(struct hkd_vm *vm);
static void vm_fail(struct hkd_vm *vm, const char *what);
static void vm_cleanup(struct hkd_vm *vm);

static const char *const step_names[] = {
    [VM_LOADING] = "loading",
    [VM_STARTING_FS] = "starting/fs",
    [VM_STARTING_SETUP] = "starting/setup",
    [VM_STARTING_VMA] = "starting/vma",
    [VM_RUNNING] = "running",
    [VM_STOPPING_POWEROFF] = "stopping",
    [VM_STOPPING_CLEANUP] = "stopping/cleanup",
    [VM_ZOMBIE] = "zombie",
    [VM_ADOPTING] = "adopting",
};

struct hkd_vm *
hkd_vm_find(struct hkd *hkd, int64_t id)
{
    for (struct hkd_vm *vm = hkd->vms; vm; vm = vm->next)
        if (vm->id == id)
            return vm;
    return NULL;
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    vm_advance(arg);
}

static void
vm_later(struct hkd_vm *vm, int64_t ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(vm->timer, &tv);
}

static void
set_step(struct hkd_vm *vm, enum vm_step step)
{
    if (vm->step != step)
        log_debug("VM %lld: %s -> %s", (long long)vm->id, step_names[vm->step], step_names[step]);
    vm->step = step;
}

static int
run_state(struct qvd_db *db, struct hkd_job *j)
{
    return qvd_model_hkd_vm_state(db, j->host_id, j->vm_id, j->state);
}

/* Writes "stopping" or "zombie" (a failure, such as a row changed meanwhile, is logged). */
static void
save_state(struct hkd_vm *vm, const char *state)
{
    struct hkd_job *j = hkd_job_new(run_state, NULL, vm);

    j->state = state;
    hkd_db_submit(vm->hkd, j);
}

static struct hkd_vm *
vm_new(struct hkd *hkd, int64_t id)
{
    struct hkd_vm *vm = qvd_xcalloc(1, sizeof(*vm));

    vm->id = id;
    vm->serial = ++hkd->next_serial;
    vm->hkd = hkd;
    vm->unpack_fd = -1;
    vm->timer = evtimer_new(hkd->base, on_timer, vm);
    vm->next = hkd->vms;
    hkd->vms = vm;
    return vm;
}

static void
vm_free(struct hkd_vm *vm)
{
    struct hkd *hkd = vm->hkd;

    for (struct hkd_vm **p = &hkd->vms; *p; p = &(*p)->next)
        if (*p == vm) {
            *p = vm->next;
            break;
        }
    event_free(vm->timer);
    if (vm->unpack_ev)
        event_free(vm->unpack_ev);
    if (vm->unpack_fd >= 0)
        close(vm->unpack_fd);
    qvd_wipe(vm->secret, sizeof(vm->secret));
    if (vm->ping_in_flight)
        vm->hkd = NULL; /* the ping callback owns it now and frees it */
    else
        free(vm);
    if (hkd->stopping)
        hkd_maybe_exit(hkd);
    else
        hkd_vm_poll_commands(hkd); /* a start slot is free */
}

/* What the VM needs from its row (qvd_model_hkd_vm_load): user, OSF, the DI to run. */
static void
take_row(struct hkd_vm *vm, const struct qvd_model_hkd_vm *row)
{
    const struct qvd_model_hkd_vm *r = row;

    snprintf(vm->name, sizeof(vm->name), "%s", r->name);
    snprintf(vm->login, sizeof(vm->login), "%s", r->login);
    vm->user_id = r->user_id;
    vm->osf_id = r->osf_id;
    snprintf(vm->ip, sizeof(vm->ip), "%s", r->ip);
    snprintf(vm->mac, sizeof(vm->mac), "%s", r->mac);
    vm->memory_mb = r->memory_mb;
    vm->use_overlay = r->use_overlay;
    vm->user_storage_mb = r->user_storage_mb;
    vm->di_id = r->di_id;
    snprintf(vm->di_path, sizeof(vm->di_path), "%s", r->di_path);
}

/* At start-up (before the loop runs): a VM a previous run left. */
static int
load_row(struct hkd_vm *vm, bool running)
{
    struct qvd_model_hkd_vm r;

    if (qvd_model_hkd_vm_load(vm->hkd->db, vm->id, running, &r) < 0)
        return -1;
    take_row(vm, &r);
    return 0;
}

/* Removes what a VM may have left on this node: container, network, mounts, files. */
static int
cleanup_node(struct hkd *hkd, int64_t vm_id)
{
    int rc = 0;

    /* the parent removes the per-VM files too: they belong to the VM's root by then */
    if (hkd_priv_cleanup(hkd, vm_id) < 0) {
        log_warn("VM %lld: %s", (long long)vm_id, qvd_strerror());
        rc = -1;
    }
    return rc;
}

static void
on_unpacked(evutil_socket_t fd, short what, void *arg)
{
    struct hkd_vm *vm = arg;

    /* the child is the parent's: it waits for it and moves the unpacked tree */
    event_free(vm->unpack_ev);
    vm->unpack_ev = NULL;
    close(vm->unpack_fd);
    vm->unpack_fd = -1;
    if (hkd_priv_unpacked(vm) < 0) {
        vm_fail(vm, "preparing the image");
        return;
    }
    vm_advance(vm);
}

static void adopted(struct hkd_vm *vm, bool alive);

static int
run_running(struct qvd_db *db, struct hkd_job *j)
{
    return qvd_model_hkd_vm_running(db, j->host_id, j->vm_id, j->pid);
}

static void
running_saved(struct hkd *hkd, struct hkd_job *j)
{
    struct hkd_vm *vm = hkd_job_vm(hkd, j);

    if (j->rc == 0)
        return;
    log_warn("VM %lld: cannot record it running: %s", (long long)j->vm_id, j->err);
    if (vm == NULL || vm->step != VM_RUNNING)
        return;
    /* its row is not this node's starting VM any more: it must not run on */
    if (j->kind == QVD_MODEL_CONFLICT)
        hkd_vm_stop(vm);
    else /* the database is away (a failover): its row must not stay 'starting' */
        vm->save_running_again = true;
}

static void
save_running(struct hkd_vm *vm)
{
    struct hkd_job *j = hkd_job_new(run_running, running_saved, vm);

    j->pid = hkd_priv_init_pid(vm->hkd, vm->id);
    hkd_db_submit(vm->hkd, j);
}

static int
run_alive(struct qvd_db *db, struct hkd_job *j)
{
    return qvd_model_hkd_vm_alive(db, j->host_id, j->vm_id);
}

static void
save_alive(struct hkd_vm *vm)
{
    hkd_db_submit(vm->hkd, hkd_job_new(run_alive, NULL, vm));
}

static void
on_ping(struct hkd_vm *vm, bool alive)
{
    struct hkd *hkd = vm->hkd;

    vm->ping_in_flight = false;
    if (hkd == NULL) { /* freed while the ping was out */
        free(vm);
        return;
    }
    if (vm->step == VM_STARTING_VMA) {
        if (alive) {
            int64_t ms = qvd_mono_ms() - vm->started_ms;
            set_step(vm, VM_RUNNING);
            save_running(vm);
            log_info("VM %lld running (started in %lld ms)", (long long)vm->id, (long long)ms);
            vm_later(vm, 1000 * qvd_config_int(hkd->cfg, "hkd.vma.ping.interval"));
            hkd_vm_poll_commands(hkd);
            return;
        }
        vm_later(vm, 10); /* the VMA is usually up within tens of milliseconds */
        return;
    }
    if (vm->step == VM_ADOPTING) {
        adopted(vm, alive);
        return;
    }
    if (vm->step != VM_RUNNING)
        return;
    if (alive) {
        vm->ping_failures = 0;
        save_alive(vm);
    } else if (++vm->ping_failures >= qvd_config_int(hkd->cfg, "hkd.vma.failed.max_count")) {
        log_warn("VM %lld: the VMA stopped answering (%d pings): stopping the VM",
                 (long long)vm->id, vm->ping_failures);
        hkd_vm_stop(vm);
        return;
    }
    vm_later(vm, alive ? 1000 * qvd_config_int(hkd->cfg, "hkd.vma.ping.interval") : 1000);
}

static void
start_setup(struct hkd_vm *vm)
{
    struct hkd *hkd = vm->hkd;

    if (!hkd->hv->simulated && hkd_priv_mount(vm) < 0) {
        vm_fail(vm, "mounting the root file system");
        return;
    }
    set_step(vm, VM_STARTING_SETUP);
    if ((!hkd->hv->simulated && hkd_vma_write_files(hkd, vm) < 0) || hkd_priv_start(vm) < 0) {
        vm_fail(vm, "starting the container");
        return;
    }
    set_step(vm, VM_STARTING_VMA);
    vm->step_deadline_ms = qvd_mono_ms() + 1000 * qvd_config_int(hkd->cfg, "hkd.vma.start.timeout");
    vm_advance(vm);
}

/* One step of the machine; called by timers, the unpack child and commands. */
static void
vm_advance(struct hkd_vm *vm)
{
    struct hkd *hkd = vm->hkd;
    int rc;

    if (vm->db_busy)
        return; /* its database call's result moves it on */
    switch (vm->step) {
    case VM_LOADING:
        return;
    case VM_STARTING_FS:
        if (vm->stop_requested) {
            vm_cleanup(vm);
            return;
        }
        rc = hkd->hv->simulated ? 1 : hkd_priv_base(vm);
        if (rc < 0) {
            vm_fail(vm, "preparing the image");
        } else if (rc == 1) {
            start_setup(vm);
        } else if (vm->unpack_pid > 0 && vm->unpack_ev == NULL) {
            vm->unpack_ev = event_new(hkd->base, vm->unpack_fd, EV_READ, on_unpacked, vm);
            event_add(vm->unpack_ev, NULL);
        } else if (vm->unpack_pid < 0) {
            vm->unpack_pid = 0;
            vm_later(vm, 100); /* another VM unpacks the same image */
        }
        return;
    case VM_STARTING_SETUP:
    case VM_ADOPTING: /* its ping is out */
        return;
    case VM_STARTING_VMA:
        if (vm->stop_requested) {
            hkd_vm_stop(vm);
            return;
        }
        if (!hkd_priv_is_running(hkd, vm->id)) {
            qvd_seterr("the container exited while booting (see %s/qvd-%lld.log)", hkd->lxcpath,
                       (long long)vm->id);
            vm_fail(vm, "booting");
            return;
        }
        if (qvd_mono_ms() > vm->step_deadline_ms) {
            qvd_seterr("its VMA did not answer within %ld s (hkd.vma.start.timeout)",
                       qvd_config_int(hkd->cfg, "hkd.vma.start.timeout"));
            vm_fail(vm, "booting");
            return;
        }
        if (hkd->hv->simulated) {
            on_ping(vm, true);
            return;
        }
        if (!vm->ping_in_flight)
            hkd_vma_ping(vm, on_ping);
        return;
    case VM_RUNNING:
        if (!hkd_priv_is_running(hkd, vm->id)) {
            log_warn("VM %lld: the container exited", (long long)vm->id);
            vm_cleanup(vm);
            return;
        }
        if (vm->save_running_again) {
            vm->save_running_again = false;
            save_running(vm);
        }
        if (hkd->hv->simulated)
            vm_later(vm, 1000 * qvd_config_int(hkd->cfg, "hkd.vma.ping.interval"));
        else if (!vm->ping_in_flight)
            hkd_vma_ping(vm, on_ping);
        return;
    case VM_STOPPING_POWEROFF:
        if (!hkd_priv_is_running(hkd, vm->id)) {
            vm_cleanup(vm);
        } else if (qvd_mono_ms() > vm->step_deadline_ms) {
            log_warn("VM %lld did not power off in time: killing it", (long long)vm->id);
            hkd_priv_kill(hkd, vm->id);
            vm_cleanup(vm);
        } else {
            vm_later(vm, 50);
        }
        return;
    case VM_STOPPING_CLEANUP:
    case VM_ZOMBIE:
        vm_cleanup(vm);
        return;
    }
}

static void
vm_fail(struct hkd_vm *vm, const char *what)
{
    log_err("VM %lld: %s failed: %s", (long long)vm->id, what, qvd_strerror());
    if (hkd_priv_is_running(vm->hkd, vm->id))
        hkd_priv_kill(vm->hkd, vm->id);
    vm_cleanup(vm);
}

static int
run_stopped(struct qvd_db *db, struct hkd_job *j)
{
    return qvd_model_hkd_vm_stopped(db, j->host_id, j->vm_id);
}

static void
row_cleared(struct hkd *hkd, struct hkd_job *j)
{
    struct hkd_vm *vm = hkd_job_vm(hkd, j);

    if (vm == NULL)
        return; /* a zombie given up at shutdown */
    vm->db_busy = false;
    if (j->rc < 0 && hkd->stopping && hkd->fenced) {
        /* nothing of it is left on the node; its row is reaped by the next run */
        log_warn("VM %lld: cannot clear its runtime row: %s (left for the next start)",
                 (long long)vm->id, j->err);
        vm_free(vm);
        return;
    }
    if (j->rc < 0) {
        log_err("VM %lld: cannot clear its runtime row: %s (retrying)", (long long)vm->id, j->err);
        vm_later(vm, 1000);
        return;
    }
    log_info("VM %lld stopped", (long long)vm->id);
    vm_free(vm);
}

/* Nothing of the VM is left on the node: its row becomes stopped, then it is freed. */
static void
clear_row(struct hkd_vm *vm)
{
    vm->db_busy = true;
    hkd_db_submit(vm->hkd, hkd_job_new(run_stopped, row_cleared, vm));
}

/* Undoes everything on the node; the row becomes stopped, or zombie if that fails. */
static void
vm_cleanup(struct hkd_vm *vm)
{
    struct hkd *hkd = vm->hkd;

    if (vm->db_busy)
        return; /* its row is being cleared */
    set_step(vm, VM_STOPPING_CLEANUP);
    if (vm->unpack_pid > 0) {
        vm_later(vm, 100); /* let the unpack child finish first */
        return;
    }
    if (cleanup_node(hkd, vm->id) < 0) {
        if (vm->step != VM_ZOMBIE)
            save_state(vm, "zombie");
        set_step(vm, VM_ZOMBIE);
        vm_later(vm, 10000);
        return;
    }
    clear_row(vm);
}

void
hkd_vm_stop(struct hkd_vm *vm)
{
    struct hkd *hkd = vm->hkd;

    switch (vm->step) {
    case VM_LOADING:
    case VM_STARTING_FS:
    case VM_STARTING_SETUP:
    case VM_ADOPTING:
        vm->stop_requested = true;
        return;
    case VM_STARTING_VMA:
    case VM_RUNNING:
        set_step(vm, VM_STOPPING_POWEROFF);
        save_state(vm, "stopping");
        if (!hkd->hv->simulated)
            hkd_vma_poweroff(vm);
        else
            hkd_priv_kill(hkd, vm->id);
        vm->step_deadline_ms =
            qvd_mono_ms() + 1000 * qvd_config_int(hkd->cfg, "hkd.vm.stop.timeout");
        vm_later(vm, 20);
        return;
    case VM_ZOMBIE:
        /* on shutdown a zombie stays a zombie row: the next start reaps it */
        if (hkd->stopping)
            vm_free(vm);
        return;
    default:
        return;
    }
}

void
hkd_vm_stop_all(struct hkd *hkd)
{
    struct hkd_vm *vm, *next;

    if (hkd->vms == NULL) {
        hkd_maybe_exit(hkd);
        return;
    }
    for (vm = hkd->vms; vm; vm = next) {
        next = vm->next;
        hkd_vm_stop(vm);
    }
}

void
hkd_vm_kill_all(struct hkd *hkd)
{
    struct hkd_vm *vm, *next;

    for (vm = hkd->vms; vm; vm = next) {
        next = vm->next;
        vm->stop_requested = true;
        switch (vm->step) {
        case VM_STARTING_VMA:
        case VM_RUNNING:
        case VM_STOPPING_POWEROFF:
        case VM_ADOPTING:
            /* the root parent's lxc stop: SIGKILL to the container's init, no poweroff */
            if (hkd_priv_kill(hkd, vm->id) < 0)
                log_err("VM %lld: cannot kill it: %s", (long long)vm->id, qvd_strerror());
            else
                log_warn("VM %lld killed (fence)", (long long)vm->id);
            vm_cleanup(vm);
            break;
        case VM_STARTING_FS:
            vm_advance(vm); /* stop_requested: no container is started */
            break;
        default:
            /* loading: its row's answer sees stop_requested; the others are being
             * cleaned up already */
            break;
        }
    }
}

void
hkd_vm_reap(struct hkd *hkd, int64_t id, const char *why)
{
    struct hkd_vm *vm = vm_new(hkd, id);

    log_info("VM %lld: %s: reaping it", (long long)id, why);
    set_step(vm, VM_STOPPING_CLEANUP);
    vm_cleanup(vm);
}

void
hkd_vm_sweep_strays(struct hkd *hkd)
{
    int64_t *ids = NULL;
    size_t n = 0;

    if (hkd->hv->list == NULL || hkd_priv_list(hkd, &ids, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (hkd_vm_find(hkd, ids[i]) == NULL) {
            log_info("VM %lld: a container no VM of this node stands for: removing it",
                     (long long)ids[i]);
            cleanup_node(hkd, ids[i]);
        }
    free(ids);
}

/* On the worker: the VM's row, then what this start gives it. */
static int
run_load(struct qvd_db *db, struct hkd_job *j)
{
    struct qvd_model_hkd_run run;

    j->row = qvd_xcalloc(1, sizeof(*j->row));
    if (qvd_model_hkd_vm_load(db, j->vm_id, false, j->row) < 0)
        return -1;
    /* from here on the row's ip is where the VM runs on this node (the address plan) */
    if (hkd_net_vm_address(j->subnet_net, j->subnet_mask, j->row->ip, j->row->ip,
                           sizeof(j->row->ip)) < 0)
        return qvd_seterr("its address: %s", qvd_strerror());
    run = (struct qvd_model_hkd_run){
        .address = j->row->ip,
        .secret = j->secret,
        .vma_port = j->vma_port,
        .x_port = j->x_port,
        .osf_id = j->row->osf_id,
        .di_id = j->row->di_id,
    };
    return qvd_model_hkd_vm_prepare(db, j->host_id, j->vm_id, &run);
}

static void
loaded(struct hkd *hkd, struct hkd_job *j)
{
    struct hkd_vm *vm = hkd_job_vm(hkd, j);

    qvd_wipe(j->secret, sizeof(j->secret));
    if (vm == NULL)
        return;
    vm->db_busy = false;
    if (j->rc < 0) {
        qvd_seterr("%s", j->err);
        vm_fail(vm, "loading the VM");
        return;
    }
    take_row(vm, j->row);
    set_step(vm, VM_STARTING_FS);
    /* whatever a previous run left must go before the new one starts */
    if (cleanup_node(hkd, vm->id) < 0) {
        vm_fail(vm, "cleaning the previous run");
        return;
    }
    log_info("VM %lld (%s of %s): starting DI %lld at %s", (long long)vm->id, vm->name, vm->login,
             (long long)vm->di_id, vm->ip);
    vm_advance(vm); /* a stop that came meanwhile is seen there */
}

static void
take_start(struct hkd *hkd, int64_t id)
{
    struct hkd_vm *vm = vm_new(hkd, id);
    struct hkd_job *j;

    vm->started_ms = qvd_mono_ms();
    set_step(vm, VM_LOADING);
    if (qvd_random_hex(vm->secret, 32) < 0) {
        vm_fail(vm, "loading the VM");
        return;
    }
    j = hkd_job_new(run_load, loaded, vm);
    memcpy(j->secret, vm->secret, sizeof(j->secret));
    j->vma_port = qvd_config_int(hkd->cfg, "internal.vm.port.vma");
    j->x_port = 4000 + qvd_config_int(hkd->cfg, "internal.nxagent.display");
    j->subnet_net = hkd->subnet_net;
    j->subnet_mask = hkd->subnet_mask;
    vm->db_busy = true;
    hkd_db_submit(hkd, j);
}

/* VMs in a starting step: starts are throttled by hkd.max_heavy. */
static long
count_heavy(struct hkd *hkd)
{
    long n = 0;

    for (struct hkd_vm *vm = hkd->vms; vm; vm = vm->next)
        n += vm->step <= VM_STARTING_VMA;
    return n;
}

/* On the worker: stop commands first (they free resources), then up to `value` starts. */
static int
run_poll(struct qvd_db *db, struct hkd_job *j)
{
    if (qvd_model_hkd_take_stops(db, j->host_id, &j->ids, &j->nids) < 0)
        return -1;
    if (j->value <= 0)
        return 0;
    return qvd_model_hkd_take_starts(db, j->host_id, j->value, &j->ids2, &j->nids2);
}

static int
run_give_back(struct qvd_db *db, struct hkd_job *j)
{
    return qvd_model_hkd_give_back(db, j->host_id, j->vm_id);
}

static void
polled(struct hkd *hkd, struct hkd_job *j)
{
    hkd->poll_busy = false;
    if (j->rc < 0)
        log_err("cannot read VM commands: %s", j->err);
    for (size_t i = 0; i < j->nids; i++) {
        struct hkd_vm *vm = hkd_vm_find(hkd, j->ids[i]);
        if (vm != NULL)
            hkd_vm_stop(vm);
        else
            log_warn("stop command for VM %lld, which this node does not run",
                     (long long)j->ids[i]);
    }
    for (size_t i = 0; i < j->nids2; i++) {
        if (!hkd->stopping && !hkd->fenced) {
            take_start(hkd, j->ids2[i]);
            continue;
        }
        /* the node began stopping (or fenced itself) while the starts were taken: they
         * wait for its next run (or its rejoin) */
        struct hkd_job *g = hkd_job_new(run_give_back, NULL, NULL);
        g->vm_id = j->ids2[i];
        hkd_db_submit(hkd, g);
    }
    if (hkd->poll_again) {
        hkd->poll_again = false;
        hkd_vm_poll_commands(hkd);
    }
}

/* Looks for commands; one look at a time (a call while one is out asks for another). */
void
hkd_vm_poll_commands(struct hkd *hkd)
{
    struct hkd_job *j;

    if (hkd->poll_busy) {
        hkd->poll_again = true;
        return;
    }
    j = hkd_job_new(run_poll, polled, NULL);
    /* start slots: hkd.max_heavy less the VMs starting; no other look takes any meanwhile */
    j->value = hkd->stopping || hkd->fenced
                   ? 0
                   : qvd_config_int(hkd->cfg, "hkd.max_heavy") - count_heavy(hkd);
    hkd->poll_busy = true;
    hkd_db_submit(hkd, j);
}

/* The second half of an adoption: the VMA answered with the stored secret (the VM runs on
 * as if this run had started it), or it did not (the VM is reaped). */
static void
adopted(struct hkd_vm *vm, bool alive)
{
    struct hkd *hkd = vm->hkd;

    if (!alive) {
        qvd_seterr("its VMA does not answer with the VM's secret");
        vm_fail(vm, "adopting it");
        return;
    }
    set_step(vm, VM_RUNNING);
    save_alive(vm);
    log_info("VM %lld (%s of %s) adopted: it kept running while the HKD restarted",
             (long long)vm->id, vm->name, vm->login);
    if (vm->stop_requested) {
        hkd_vm_stop(vm);
        return;
    }
    vm_later(vm, 1000 * qvd_config_int(hkd->cfg, "hkd.vma.ping.interval"));
}

/* Whether a VM a previous run left is worth asking: its row says it runs here with a
 * secret and an address, and its container runs with the init process the row names (a
 * different one is not the VM that row describes). */
static bool
looks_alive(struct hkd *hkd, const struct qvd_model_hkd_left *l)
{
    if (!l->running || strlen(l->secret) != 64 || l->address[0] == '\0' || hkd->hv->simulated)
        return false;
    return hkd_priv_is_running(hkd, l->id) && hkd_priv_init_pid(hkd, l->id) == l->pid;
}

/* Rebuilds the in-memory VM of a row, as a start of this run would have built it, and
 * pings its VMA; adopted() decides. */
static void
adopt(struct hkd *hkd, const struct qvd_model_hkd_left *l)
{
    struct hkd_vm *vm = vm_new(hkd, l->id);

    vm->started_ms = qvd_mono_ms();
    if (load_row(vm, true) < 0) {
        vm_fail(vm, "adopting it");
        return;
    }
    /* what the running VM got at its start, not what its row says now */
    snprintf(vm->ip, sizeof(vm->ip), "%s", l->address);
    snprintf(vm->secret, sizeof(vm->secret), "%s", l->secret);
    hkd_priv_rootfs(hkd, vm->id, vm->rootfs, sizeof(vm->rootfs));
    set_step(vm, VM_ADOPTING);
    /* the firewall was rebuilt at start-up without it: until its entries are back, its
     * port is dropped, the VMA's answers too */
    if (hkd_priv_fw_add(vm) < 0) {
        vm_fail(vm, "adopting it");
        return;
    }
    log_info("VM %lld was left running by a previous run: asking its VMA", (long long)vm->id);
    hkd_vma_ping(vm, on_ping);
}

/* Cleans what a previous run left of a VM and clears its row (or leaves it zombie and
 * retries), as the end of any VM of this run. */
int
hkd_vm_adopt_or_reap(struct hkd *hkd)
{
    struct qvd_model_hkd_left *left = NULL;
    int64_t *strays = NULL;
    size_t n = 0, ns = 0;
    int rc = 0;

    if (qvd_model_hkd_vms_left(hkd->db, hkd->host_id, &left, &n) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (looks_alive(hkd, &left[i]))
            adopt(hkd, &left[i]);
        else
            hkd_vm_reap(hkd, left[i].id, "left active by a previous run and not healthy");
    }
    /* containers without a row (crash between start and saving the row) */
    if (hkd->hv->list != NULL && hkd_priv_list(hkd, &strays, &ns) == 0)
        for (size_t i = 0; i < ns; i++)
            if (hkd_vm_find(hkd, strays[i]) == NULL && cleanup_node(hkd, strays[i]) < 0)
                rc = -1;
    free(strays);
    for (size_t i = 0; i < n; i++)
        qvd_wipe(left[i].secret, sizeof(left[i].secret));
    free(left);
    return rc;
}

/* main.c: qvd-hkd start-up (lock, database, host row, network, as root), the split into a
 * root parent and the unprivileged engine (priv.c), then the engine's start (adopting or
 * reaping the VMs a previous run left), its event loop, and orderly shutdown on
 * SIGTERM/SIGINT (forwarded by the parent) or a host `stop` command. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "db.h"
#include "err.h"
#include "hkd.h"
#include "log.h"
#include "util.h"

static int
take_lock(struct hkd *hkd)
{
    const char *run = qvd_config_get(hkd->cfg, "path.run");
    char *path;

    if (run == NULL || qvd_mkdir_p(run, 0755) < 0)
        return -1;
    path = qvd_xasprintf("%s/hkd.lock", run);
    hkd->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (hkd->lock_fd < 0 || flock(hkd->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        qvd_seterr("cannot lock %s: %s (is another qvd-hkd running with path.run=%s?)", path,
                   strerror(errno), run);
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

/* After the drop: the engine writes the per-VM files and the VMAs' log folders. */
static int
check_access(struct hkd *hkd)
{
    const char *keys[] = {"path.run", "path.log"};
    int rc = 0;

    for (size_t i = 0; i < QVD_ARRAY_LEN(keys) && rc == 0; i++) {
        char *dir = qvd_xasprintf("%s/vm", qvd_config_get(hkd->cfg, keys[i]));
        if (access(dir, W_OK | X_OK) < 0)
            rc = qvd_seterr("%s is not writable as hkd.user: %s (its parent folders must let"
                            " hkd.user through)",
                            dir, strerror(errno));
        free(dir);
    }
    return rc;
}

static void on_wake(evutil_socket_t fd, short what, void *arg);

/* Watches the wake-up fd (none while its connection is lost). */
static void
watch_wake(struct hkd *hkd)
{
    if (hkd->wake_ev != NULL)
        event_free(hkd->wake_ev);
    hkd->wake_ev = NULL;
    if (hkd->wake_fd < 0)
        return;
    hkd->wake_ev = event_new(hkd->base, hkd->wake_fd, EV_READ | EV_PERSIST, on_wake, hkd);
    event_add(hkd->wake_ev, NULL);
}

int
hkd_wake_listen(struct hkd *hkd)
{
    char chan[64];

    snprintf(chan, sizeof(chan), QVD_CHAN_VM_CMD, (long long)hkd->host_id);
    hkd->wake_fd = qvd_db_listen(hkd->db, chan);
    watch_wake(hkd);
    return hkd->wake_fd < 0 ? -1 : 0;
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct hkd *hkd = arg;

    /* a lost connection is made again after the next heartbeat that succeeds (host.c) */
    if (qvd_db_drain(hkd->db, &hkd->wake_fd) == 1)
        watch_wake(hkd);
    hkd_vm_poll_commands(hkd);
}

static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
    hkd_vm_poll_commands(arg);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    hkd_host_tick(arg);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct hkd *hkd = arg;

    if (sig == SIGCHLD)
        return; /* children are waited for through their pidfds */
    log_info("signal %d: stopping", (int)sig);
    hkd->stopping = true;
    hkd_vm_stop_all(hkd);
}

static const struct hkd_hv_ops *
pick_hv(const char *name)
{
    if (name && strcmp(name, "lxc") == 0)
        return &hkd_hv_lxc;
    if (name && strcmp(name, "nothing") == 0)
        return &hkd_hv_nothing;
    return NULL;
}

int
main(int argc, char **argv)
{
    struct hkd hkd_s = {.lock_fd = -1, .wake_fd = -1, .priv_fd = -1}, *hkd = &hkd_s;
    struct timeval tv;

    hkd->cfg = qvd_daemon_start("qvd-hkd", argc, argv);
    hkd->hv = pick_hv(qvd_config_get(hkd->cfg, "vm.hypervisor"));
    if (hkd->hv == NULL)
        qvd_fatal("vm.hypervisor '%s' is not supported (use lxc or nothing)",
                  qvd_config_get(hkd->cfg, "vm.hypervisor"));
    if (take_lock(hkd) < 0)
        qvd_fatal("%s", qvd_strerror());
    hkd->db = qvd_db_open(hkd->cfg);
    if (hkd->db == NULL || qvd_db_migrate(hkd->db) < 0)
        qvd_fatal("%s", qvd_strerror());
    /* tenant-independent settings from the database override the file */
    if (qvd_config_load_db(hkd->cfg, hkd->db, -1) < 0)
        qvd_fatal("cannot read configs: %s", qvd_strerror());
    /* before the node is registered: a node refused is nobody's peer */
    if (hkd_host_check_fence(hkd) < 0)
        qvd_fatal("%s", qvd_strerror());
    if (hkd_host_register(hkd) < 0)
        qvd_fatal("%s", qvd_strerror());
    if (hkd_host_set_state(hkd, "starting") < 0)
        qvd_fatal("%s", qvd_strerror());

    if (hkd_priv_prepare(hkd) < 0 || hkd_storage_init(hkd) < 0 || hkd_net_init(hkd) < 0 ||
        hkd_fw_init(hkd) < 0 || hkd->hv->init(hkd) < 0) {
        log_err("start-up failed: %s", qvd_strerror());
        hkd_host_set_state(hkd, "stopped");
        return 1;
    }
    /* the root parent keeps no database connection: the engine opens its own */
    qvd_db_close(hkd->db);
    hkd->db = NULL;
    if (hkd_priv_fork(hkd) < 0)
        qvd_fatal("%s", qvd_strerror());
    /* the engine, from here on */
    if (qvd_daemon_drop(hkd->cfg, "hkd.user") < 0 || check_access(hkd) < 0)
        qvd_fatal("%s", qvd_strerror());
    hkd->db = qvd_db_open(hkd->cfg);
    if (hkd->db == NULL)
        qvd_fatal("cannot open the database as hkd.user: %s", qvd_strerror());
    hkd->base = event_base_new();
    if (hkd->base == NULL)
        qvd_fatal("cannot create the event loop");
    hkd_priv_watch(hkd);
    /* from here on the loop's database calls run on the worker (dbq.c); hkd->db serves
     * the start-up below (before the loop runs), the wake-ups and the final state */
    if (hkd_db_start(hkd) < 0)
        qvd_fatal("cannot start the database worker: %s", qvd_strerror());
    hkd_host_clean_l7r_zombies(hkd);
    if (hkd_vm_adopt_or_reap(hkd) < 0)
        log_warn("zombie VMs left: %s (retried later)", qvd_strerror());

    if (hkd_wake_listen(hkd) < 0)
        qvd_fatal("%s", qvd_strerror());
    hkd->poll_ev = event_new(hkd->base, -1, EV_PERSIST, on_poll, hkd);
    tv = (struct timeval){qvd_config_int(hkd->cfg, "hkd.vm_command.poll"), 0};
    event_add(hkd->poll_ev, &tv);
    hkd->tick_ev = event_new(hkd->base, -1, EV_PERSIST, on_tick, hkd);
    tv = (struct timeval){qvd_config_int(hkd->cfg, "hkd.ticker.delay"), 0};
    event_add(hkd->tick_ev, &tv);
    hkd->sig_term = evsignal_new(hkd->base, SIGTERM, on_signal, hkd);
    hkd->sig_int = evsignal_new(hkd->base, SIGINT, on_signal, hkd);
    hkd->sig_chld = evsignal_new(hkd->base, SIGCHLD, on_signal, hkd);
    event_add(hkd->sig_term, NULL);
    event_add(hkd->sig_int, NULL);
    event_add(hkd->sig_chld, NULL);

    hkd_host_fence_arm(hkd);
    if (hkd_host_set_state(hkd, "running") < 0)
        qvd_fatal("%s", qvd_strerror());
    log_info("node '%s' (host %lld, %s) running with hypervisor %s", hkd->nodename,
             (long long)hkd->host_id, hkd->host_address, hkd->hv->name);
    hkd_vm_poll_commands(hkd);

    event_base_dispatch(hkd->base);

    hkd_db_stop(hkd); /* nothing is out: the loop ends when every call came back */
    hkd_host_set_state(hkd, "stopped");
    log_info("stopped");
    event_free(hkd->priv_ev);
    event_base_free(hkd->base);
    qvd_db_close(hkd->db);
    qvd_config_free(hkd->cfg);
    return 0;
}

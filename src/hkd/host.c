/* host.c: the node's hosts/host_runtimes rows: registration, heartbeat (with self-fencing
 * when the database is unreachable for too long), host commands. */
#include <errno.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "hkd.h"
#include "log.h"
#include "model_hkd.h"
#include "util.h"

/* Load-balancing data as QVD computes it: 0.8 x total bogomips, and MemTotal in MB. */
static void
usable_resources(int64_t *cpu, int64_t *ram)
{
    char *text = NULL;
    double bogo = 0;

    *cpu = *ram = 0;
    if (qvd_read_file("/proc/cpuinfo", 4 << 20, &text, NULL) == 0) {
        for (char *p = text; (p = strstr(p, "bogomips")) != NULL; p++) {
            char *colon = strchr(p, ':');
            if (colon)
                bogo += strtod(colon + 1, NULL);
        }
        free(text);
    }
    *cpu = (int64_t)(bogo * 0.8);
    if (qvd_read_file("/proc/meminfo", 1 << 20, &text, NULL) == 0) {
        char *p = strstr(text, "MemTotal:");
        if (p)
            *ram = strtoll(p + 9, NULL, 10) / 1000;
        free(text);
    }
}

int
hkd_host_register(struct hkd *hkd)
{
    const char *name = qvd_config_get(hkd->cfg, "nodename");
    const char *node_addr = qvd_config_get(hkd->cfg, "node.address");
    char addr[16];
    struct qvd_model_hkd_reg in = {.vm_subnet = qvd_config_get(hkd->cfg, "vm.network.subnet")};
    struct qvd_model_hkd_host row;

    if (name == NULL || *name == '\0') {
        if (gethostname(hkd->nodename, sizeof(hkd->nodename) - 1) < 0)
            return qvd_seterr("nodename is not set and the hostname is unknown");
    } else {
        snprintf(hkd->nodename, sizeof(hkd->nodename), "%s", name);
    }
    if (hkd_net_check_keys(hkd) < 0)
        return -1;
    /* node.address at every start; else the address a first start registers (a known
     * host keeps its own) */
    in.address = node_addr != NULL && *node_addr ? node_addr : NULL;
    in.new_address = hkd_net_default_host_address(hkd, addr, sizeof(addr)) == 0 ? addr : NULL;
    usable_resources(&in.usable_cpu, &in.usable_ram);
    if (qvd_model_hkd_register(hkd->db, hkd->nodename, &in, &row) < 0)
        return qvd_seterr("cannot register host '%s': %s", hkd->nodename, qvd_strerror());
    hkd->host_id = row.id;
    snprintf(hkd->host_address, sizeof(hkd->host_address), "%.15s", row.address);
    snprintf(hkd->node_address, sizeof(hkd->node_address), "%s", row.address);
    snprintf(hkd->vm_subnet, sizeof(hkd->vm_subnet), "%s", row.vm_subnet);
    return 0;
}

int
hkd_host_set_state(struct hkd *hkd, const char *state)
{
    if (qvd_model_hkd_host_state(hkd->db, hkd->host_id, state,
                                 strcmp(state, "stopped") == 0 ? -1 : (int64_t)getpid()) < 0)
        return qvd_seterr("cannot save host state '%s': %s", state, qvd_strerror());
    return 0;
}

/* When the worker last wrote a heartbeat (monotonic ms): the fence timer, on the loop,
 * reads it, since the heartbeat's answer may wait behind a held loop. */
static _Atomic int64_t heartbeat_ok_ms;

static bool
l7r_dead(int64_t pid)
{
    return pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* On the worker: the heartbeat (value: 1 refreshed, 0 host marked lost, -1 failed), the
 * other backend hosts (count), the host's stop command (pid: 1 taken) unless the node stops
 * already (state set), the user slots of dead L7Rs, and the VM rows that say they are
 * active here (ids; the loop reaps those it does not run). */
static int
run_tick(struct qvd_db *db, struct hkd_job *j)
{
    struct qvd_model_hkd_left *left = NULL;
    size_t n = 0;
    int rc = qvd_model_hkd_heartbeat(db, j->host_id, (int64_t)getpid());

    if (rc == 1)
        atomic_store(&heartbeat_ok_ms, qvd_mono_ms());
    j->value = rc;
    j->count = -1;
    if (rc < 0 || qvd_model_hkd_peer_count(db, j->host_id, &j->count) < 0)
        return -1;
    if (j->state == NULL && (rc = qvd_model_hkd_host_take_stop(db, j->host_id)) < 0)
        return -1;
    j->pid = j->state == NULL && rc == 1;
    if (qvd_model_hkd_release_l7r_slots(db, j->host_id, l7r_dead, j->released,
                                        QVD_ARRAY_LEN(j->released), &j->nreleased) < 0 ||
        qvd_model_hkd_vms_left(db, j->host_id, &left, &n) < 0)
        return -1;
    j->ids = qvd_xcalloc(n + 1, sizeof(*j->ids));
    for (size_t i = 0; i < n; i++) {
        j->ids[i] = left[i].id;
        qvd_wipe(left[i].secret, sizeof(left[i].secret));
    }
    j->nids = n;
    free(left);
    return 0;
}

/* Kills every VM of the node at once: another node may be restarting them. */
static void
fence(struct hkd *hkd, const char *why)
{
    if (hkd->fenced)
        return;
    hkd->fenced = true;
    log_err("%s: fencing this node: killing every VM now (another node may restart them)", why);
    hkd_vm_kill_all(hkd);
}

static void
on_fence_timer(evutil_socket_t fd, short what, void *arg)
{
    struct hkd *hkd = arg;
    long t = qvd_config_int(hkd->cfg, "hkd.ticker.timeout");
    int64_t since = qvd_mono_ms() - atomic_load(&heartbeat_ok_ms);

    /* a heartbeat succeeded on the worker while the loop was held: its answer is still on
     * its way to the loop, and the node is not cut off */
    if (since < 1000 * t) {
        struct timeval tv = {(1000 * t - since) / 1000, ((1000 * t - since) % 1000) * 1000};
        evtimer_add(hkd->fence_ev, &tv);
        return;
    }
    if (hkd->clustered) {
        char why[96];
        snprintf(why, sizeof(why), "no heartbeat for %ld s (hkd.ticker.timeout)", t);
        fence(hkd, why);
    } else {
        /* nothing may restart the VMs of a node alone: they run on while it waits */
        log_warn("no heartbeat for %ld s: this node is alone (no other backend host), its VMs"
                 " run on",
                 t);
    }
}

void
hkd_host_fence_arm(struct hkd *hkd)
{
    struct timeval tv = {qvd_config_int(hkd->cfg, "hkd.ticker.timeout"), 0};

    if (hkd->fence_ev == NULL)
        hkd->fence_ev = evtimer_new(hkd->base, on_fence_timer, hkd);
    evtimer_add(hkd->fence_ev, &tv);
}

static int
run_rejoin(struct qvd_db *db, struct hkd_job *j)
{
    int rc = qvd_model_hkd_rejoin(db, j->host_id, (int64_t)getpid());

    j->value = rc;
    return rc < 0 ? -1 : 0;
}

static void
rejoined(struct hkd *hkd, struct hkd_job *j)
{
    hkd->rejoin_busy = false;
    if (j->rc < 0) {
        log_warn("cannot rejoin the cluster yet: %s", j->err);
        return;
    }
    hkd->fenced = false;
    hkd_host_fence_arm(hkd);
    hkd_vm_sweep_strays(hkd);
    log_info("rejoined the cluster%s: taking VMs again",
             j->value == 1 ? " (it had been declared lost: its VMs run elsewhere)" : "");
    hkd_vm_poll_commands(hkd);
}

/* A fenced node whose database answers again, once its last VM is gone (their rows cleared
 * or, when another node took them, left alone): host row running again, then new VMs. */
static void
rejoin(struct hkd *hkd)
{
    struct hkd_job *j;

    if (hkd->vms != NULL || hkd->rejoin_busy || hkd->stopping)
        return;
    j = hkd_job_new(run_rejoin, rejoined, NULL);
    hkd->rejoin_busy = true;
    hkd_db_submit(hkd, j);
}

/* Rows that say a VM is active here that this node does not run (a start taken whose answer
 * was lost with a connection, rows left by a fence): cleaned up and cleared. The worker's
 * one queue keeps the view in order: a VM freed was cleared before, one taken is in memory. */
static void
reap_orphans(struct hkd *hkd, const struct hkd_job *j)
{
    if (hkd->stopping)
        return;
    for (size_t i = 0; i < j->nids; i++)
        if (hkd_vm_find(hkd, j->ids[i]) == NULL)
            hkd_vm_reap(hkd, j->ids[i],
                        "its row says it is active here, but this node does not run it");
}

static void
ticked(struct hkd *hkd, struct hkd_job *j)
{
    const char *type = qvd_config_get(hkd->cfg, "database.type");

    hkd->tick_busy = false;
    if (j->count >= 0) /* a node on SQLite is alone whatever its hosts table says */
        hkd->clustered = j->count > 0 && type != NULL && strcmp(type, "pg") == 0;
    if (j->value == 1 && !hkd->fenced)
        hkd_host_fence_arm(hkd);
    else if (j->value == 0) /* another node restarts our VMs: they must die now */
        fence(hkd, "this node was declared lost by another node");
    else if (j->value < 0 && !hkd->stopping)
        log_warn("heartbeat failed: %s", j->err);
    if (j->pid == 1 && !hkd->stopping) {
        log_info("host command 'stop' received");
        hkd->stopping = true;
        hkd_vm_stop_all(hkd);
    }
    for (size_t i = 0; i < j->nreleased; i++)
        log_info("VM %lld: its L7R is gone: releasing the user slot", (long long)j->released[i]);
    if (j->rc == 0)
        reap_orphans(hkd, j);
    /* the database answers: a wake-up connection a failover took is made again */
    if (j->value >= 0 && hkd->wake_fd < 0 && !hkd->stopping && hkd_wake_listen(hkd) < 0)
        log_warn("cannot listen for VM commands yet: %s", qvd_strerror());
    if (hkd->fenced && j->value >= 0)
        rejoin(hkd);
    hkd_cluster_ticked(hkd, j->value == 1);
}

/* The ticker: one heartbeat out at a time. The self-fence is a timer (hkd_host_fence_arm)
 * that each heartbeat pushes back: a heartbeat failing or still waiting for the database
 * does not. */
static void
heartbeat(struct hkd *hkd)
{
    struct hkd_job *j;

    if (hkd->tick_busy)
        return;
    hkd->tick_sent_ms = qvd_mono_ms();
    j = hkd_job_new(run_tick, ticked, NULL);
    j->state = hkd->stopping ? "stopping" : NULL;
    hkd->tick_busy = true;
    hkd_db_submit(hkd, j);
}

void
hkd_host_tick(struct hkd *hkd)
{
    heartbeat(hkd);
    hkd_routes_tick(hkd);
}

/* Between the root parent's answers (priv_engine.c): the loop may be held for seconds by a
 * run of synchronous requests (a takeover starting a dozen VMs), and the heartbeat must
 * not wait for it, or the node would look dead and fence itself while busy. */
void
hkd_host_tick_due(struct hkd *hkd)
{
    if (hkd->host_id > 0 && hkd->dbq != NULL &&
        qvd_mono_ms() - hkd->tick_sent_ms >= 1000 * qvd_config_int(hkd->cfg, "hkd.ticker.delay"))
        heartbeat(hkd);
}

/* Seconds a fence needs beyond hkd.ticker.timeout: ok_ts has whole seconds (up to 1 s
 * older than the heartbeat it records), and the kills through the root parent. */
#define FENCE_MARGIN 2

int
hkd_host_check_fence(struct hkd *hkd)
{
    long delay = qvd_config_int(hkd->cfg, "hkd.ticker.delay");
    long t = qvd_config_int(hkd->cfg, "hkd.ticker.timeout");
    long lost = qvd_config_int(hkd->cfg, "hkd.cluster.node.timeout");

    if (delay < 1 || t <= delay)
        return qvd_seterr("hkd.ticker.timeout (%ld s) must be longer than hkd.ticker.delay"
                          " (%ld s): the node would fence itself between two heartbeats",
                          t, delay);
    if (t + FENCE_MARGIN >= lost)
        return qvd_seterr("hkd.ticker.timeout (%ld s) plus the %d s a self-fence needs to kill"
                          " the VMs must be shorter than hkd.cluster.node.timeout (%ld s):"
                          " another node could restart this node's VMs while they still run here",
                          t, FENCE_MARGIN, lost);
    return 0;
}

/* Frees the user slots held by L7R processes of this node that no longer exist (an L7R
 * killed with -9 cannot release them itself). */
static void
release_dead_l7r_slots(struct hkd *hkd)
{
    int64_t released[64];
    size_t n = 0;

    if (qvd_model_hkd_release_l7r_slots(hkd->db, hkd->host_id, l7r_dead, released,
                                        QVD_ARRAY_LEN(released), &n) < 0)
        log_warn("cannot release the slots of dead L7Rs: %s", qvd_strerror());
    for (size_t i = 0; i < n; i++)
        log_info("VM %lld: its L7R is gone: releasing the user slot", (long long)released[i]);
}

/* At start-up: slots of L7R processes that died while this node was down. A live L7R
 * (it is a separate process) keeps its sessions. */
void
hkd_host_clean_l7r_zombies(struct hkd *hkd)
{
    release_dead_l7r_slots(hkd);
}

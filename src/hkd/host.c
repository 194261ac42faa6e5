/* host.c: the node's hosts/host_runtimes rows: registration, heartbeat (with self-fencing
 * when the database is unreachable for too long), host commands. */
#include <errno.h>
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

static bool
l7r_dead(int64_t pid)
{
    return pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* On the worker: the heartbeat (value: 1 refreshed, 0 host marked lost), the host's stop
 * command (pid: 1 taken) unless the node stops already (state set), and the user slots of
 * dead L7Rs. */
static int
run_tick(struct qvd_db *db, struct hkd_job *j)
{
    int rc = qvd_model_hkd_heartbeat(db, j->host_id, (int64_t)getpid());

    if (rc < 0)
        return -1;
    j->value = rc;
    if (j->state == NULL && (rc = qvd_model_hkd_host_take_stop(db, j->host_id)) < 0)
        return -1;
    j->pid = j->state == NULL && rc == 1;
    return qvd_model_hkd_release_l7r_slots(db, j->host_id, l7r_dead, j->released,
                                           QVD_ARRAY_LEN(j->released), &j->nreleased);
}

static void
ticked(struct hkd *hkd, struct hkd_job *j)
{
    hkd->tick_busy = false;
    if (j->value == 1)
        hkd->last_tick_ok_ms = qvd_mono_ms();
    else if (!hkd->stopping)
        log_warn("heartbeat failed: %s", j->rc < 0 ? j->err : "host marked lost");
    if (j->pid == 1 && !hkd->stopping) {
        log_info("host command 'stop' received");
        hkd->stopping = true;
        hkd_vm_stop_all(hkd);
    }
    for (size_t i = 0; i < j->nreleased; i++)
        log_info("VM %lld: its L7R is gone: releasing the user slot", (long long)j->released[i]);
    hkd_cluster_ticked(hkd, j->value == 1);
}

/* The ticker: one heartbeat out at a time. Without a heartbeat for hkd.ticker.timeout
 * (failed, or still waiting for the database), another node may already be restarting
 * our VMs: the node fences itself. */
void
hkd_host_tick(struct hkd *hkd)
{
    struct hkd_job *j;

    if (!hkd->stopping && qvd_mono_ms() - hkd->last_tick_ok_ms >
                              1000 * qvd_config_int(hkd->cfg, "hkd.ticker.timeout")) {
        log_err("no heartbeat for too long: stopping every VM of this node");
        hkd->stopping = true;
        hkd_vm_stop_all(hkd);
    }
    hkd_routes_tick(hkd);
    if (hkd->tick_busy)
        return;
    j = hkd_job_new(run_tick, ticked, NULL);
    j->state = hkd->stopping ? "stopping" : NULL;
    hkd->tick_busy = true;
    hkd_db_submit(hkd, j);
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

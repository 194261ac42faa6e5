/* host.c: the node's hosts/host_runtimes rows: registration, heartbeat (with self-fencing
 * when the database is unreachable for too long), host commands. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "hkd.h"
#include "log.h"
#include "util.h"

static void release_dead_l7r_slots(struct hkd *hkd);

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
    int64_t id = 0, cpu, ram;
    struct qvd_stmt *st;
    int rc;

    if (name == NULL || *name == '\0') {
        if (gethostname(hkd->nodename, sizeof(hkd->nodename) - 1) < 0)
            return qvd_seterr("nodename is not set and the hostname is unknown");
    } else {
        snprintf(hkd->nodename, sizeof(hkd->nodename), "%s", name);
    }
    if (qvd_db_begin(hkd->db) < 0)
        return -1;
    rc = qvd_db_get_int(hkd->db, &id, "SELECT id FROM hosts WHERE name = ?", "s", hkd->nodename);
    if (rc == 0) {
        /* first start of this node: register it with an address of the hosts range */
        char addr[16];
        if (hkd_net_default_host_address(hkd, addr, sizeof(addr)) < 0 ||
            qvd_db_exec(hkd->db, "INSERT INTO hosts (name, address) VALUES (?, ?)", "ss",
                        hkd->nodename, addr) < 0 ||
            qvd_db_get_int(hkd->db, &id, "SELECT id FROM hosts WHERE name = ?", "s",
                           hkd->nodename) != 1)
            goto fail;
        log_info("registered new host '%s' with address %s", hkd->nodename, addr);
    } else if (rc < 0) {
        goto fail;
    }
    hkd->host_id = id;
    usable_resources(&cpu, &ram);
    if (qvd_db_exec(hkd->db,
                    "INSERT INTO host_runtimes (host_id, usable_cpu, usable_ram) VALUES (?, ?, ?)"
                    " ON CONFLICT (host_id) DO UPDATE SET usable_cpu = excluded.usable_cpu,"
                    " usable_ram = excluded.usable_ram",
                    "iii", id, cpu, ram) < 0 ||
        qvd_db_exec(hkd->db,
                    "INSERT INTO host_counters (host_id) VALUES (?) ON CONFLICT DO NOTHING", "i",
                    id) < 0)
        goto fail;
    st = qvd_db_query(hkd->db, "SELECT address FROM hosts WHERE id = ?", "i", id);
    if (st == NULL || qvd_db_step(st) != 1) {
        qvd_db_done(st);
        goto fail;
    }
    snprintf(hkd->host_address, sizeof(hkd->host_address), "%s", qvd_db_text(st, 0));
    qvd_db_done(st);
    return qvd_db_commit(hkd->db);
fail:
    qvd_seterr("cannot register host '%s': %s", hkd->nodename, qvd_strerror());
    qvd_db_rollback(hkd->db);
    return -1;
}

int
hkd_host_set_state(struct hkd *hkd, const char *state)
{
    if (qvd_db_exec(hkd->db,
                    "UPDATE host_runtimes SET state = ?, state_ts = ?, pid = ?, ok_ts = ?"
                    " WHERE host_id = ?",
                    "siiii", state, qvd_now(), (int64_t)getpid(), qvd_now(), hkd->host_id) < 0)
        return qvd_seterr("cannot save host state '%s': %s", state, qvd_strerror());
    return 0;
}

void
hkd_host_tick(struct hkd *hkd)
{
    int64_t n, now_ms = qvd_mono_ms();
    struct qvd_stmt *st;

    n = qvd_db_exec(hkd->db,
                    "UPDATE host_runtimes SET ok_ts = ?, pid = ? WHERE host_id = ?"
                    " AND state != 'lost'",
                    "iii", qvd_now(), (int64_t)getpid(), hkd->host_id);
    if (n == 1) {
        hkd->last_tick_ok_ms = now_ms;
    } else if (!hkd->stopping) {
        log_warn("heartbeat failed: %s", n < 0 ? qvd_strerror() : "host marked lost");
        if (now_ms - hkd->last_tick_ok_ms > 1000 * qvd_config_int(hkd->cfg, "hkd.ticker.timeout")) {
            /* another node may already be restarting our VMs: fence ourselves */
            log_err("no heartbeat for too long: stopping every VM of this node");
            hkd->stopping = true;
            hkd_vm_stop_all(hkd);
            return;
        }
    }
    st =
        qvd_db_query(hkd->db, "SELECT cmd FROM host_runtimes WHERE host_id = ?", "i", hkd->host_id);
    if (st != NULL && qvd_db_step(st) == 1 && qvd_db_text(st, 0) != NULL &&
        strcmp(qvd_db_text(st, 0), "stop") == 0 && !hkd->stopping) {
        log_info("host command 'stop' received");
        qvd_db_done(st);
        st = NULL;
        qvd_db_exec(hkd->db, "UPDATE host_runtimes SET cmd = NULL WHERE host_id = ?", "i",
                    hkd->host_id);
        hkd->stopping = true;
        hkd_vm_stop_all(hkd);
    }
    qvd_db_done(st);
    release_dead_l7r_slots(hkd);
}

/* Frees the user slots held by L7R processes of this node that no longer exist (an L7R
 * killed with -9 cannot release them itself). */
static void
release_dead_l7r_slots(struct hkd *hkd)
{
    struct qvd_stmt *st = qvd_db_query(hkd->db,
                                       "SELECT vm_id, l7r_pid FROM vm_runtimes WHERE"
                                       " l7r_host_id = ? AND l7r_pid IS NOT NULL",
                                       "i", hkd->host_id);
    int64_t dead[64];
    size_t n = 0;

    if (st == NULL)
        return;
    while (n < QVD_ARRAY_LEN(dead) && qvd_db_step(st) == 1)
        if (kill((pid_t)qvd_db_int(st, 1), 0) < 0 && errno == ESRCH)
            dead[n++] = qvd_db_int(st, 0);
    qvd_db_done(st);
    for (size_t i = 0; i < n; i++) {
        log_info("VM %lld: its L7R is gone: releasing the user slot", (long long)dead[i]);
        qvd_db_exec(hkd->db,
                    "UPDATE vm_runtimes SET user_state = 'disconnected', user_cmd = NULL,"
                    " l7r_host_id = NULL, l7r_pid = NULL, user_state_ts = ? WHERE vm_id = ?"
                    " AND l7r_host_id = ?",
                    "iii", qvd_now(), dead[i], hkd->host_id);
    }
}

/* At start-up: slots of L7R processes that died while this node was down. A live L7R
 * (it is a separate process) keeps its sessions. */
void
hkd_host_clean_l7r_zombies(struct hkd *hkd)
{
    release_dead_l7r_slots(hkd);
}

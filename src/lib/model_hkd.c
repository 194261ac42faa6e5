/* model_hkd.c: the node's part of the model (see model_hkd.h): host row, VM commands, and
 * the VM state machine's writes, each guarded by the transition it makes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "model_cluster.h"
#include "model_hkd.h"
#include "model_int.h"
#include "util.h"

/* ---- the host ---- */

static int
register_tx(struct qvd_db *db, const char *name, const struct qvd_model_hkd_reg *in,
            struct qvd_model_hkd_host *out)
{
    struct qvd_stmt *st;
    int64_t *id = &out->id, other = 0;
    int rc = qvd_db_get_int(db, id, "SELECT id FROM hosts WHERE name = ?", "s", name);
    const char *first = in->address != NULL ? in->address : in->new_address;

    if (rc == 0) {
        /* first start of this node */
        if (first == NULL)
            return qvd_model_fail(QVD_MODEL_INVALID, "%s", qvd_strerror());
        if (qvd_db_exec(db, "INSERT INTO hosts (name, address) VALUES (?, ?)", "ss", name, first) <
                0 ||
            qvd_db_get_int(db, id, "SELECT id FROM hosts WHERE name = ?", "s", name) != 1)
            return qvd_model_dbfail(db);
    } else if (rc < 0) {
        return qvd_model_dbfail(db);
    }
    /* the node's own configuration wins over the row at every start (node.address,
     * vm.network.subnet); two nodes never share an address or a VM subnet */
    if (in->address != NULL) {
        rc = qvd_db_get_int(db, &other, "SELECT id FROM hosts WHERE address = ? AND id != ?", "si",
                            in->address, *id);
        if (rc != 0)
            return rc < 0 ? qvd_model_dbfail(db)
                          : qvd_model_fail(QVD_MODEL_INVALID,
                                           "address %s is another host's (host %lld)", in->address,
                                           (long long)other);
        if (qvd_db_exec(db, "UPDATE hosts SET address = ? WHERE id = ?", "si", in->address, *id) <
            0)
            return qvd_model_dbfail(db);
    }
    if (in->vm_subnet != NULL && *in->vm_subnet) {
        rc = qvd_db_get_int(db, &other, "SELECT id FROM hosts WHERE vm_subnet = ? AND id != ?",
                            "si", in->vm_subnet, *id);
        if (rc != 0)
            return rc < 0 ? qvd_model_dbfail(db)
                          : qvd_model_fail(QVD_MODEL_INVALID,
                                           "VM subnet %s is another host's (host %lld)",
                                           in->vm_subnet, (long long)other);
        if (qvd_db_exec(db, "UPDATE hosts SET vm_subnet = ? WHERE id = ?", "si", in->vm_subnet,
                        *id) < 0)
            return qvd_model_dbfail(db);
    }
    if (qvd_db_exec(db,
                    "INSERT INTO host_runtimes (host_id, usable_cpu, usable_ram) VALUES (?, ?, ?)"
                    " ON CONFLICT (host_id) DO UPDATE SET usable_cpu = excluded.usable_cpu,"
                    " usable_ram = excluded.usable_ram",
                    "iii", *id, in->usable_cpu, in->usable_ram) < 0 ||
        qvd_db_exec(db, "INSERT INTO host_counters (host_id) VALUES (?) ON CONFLICT DO NOTHING",
                    "i", *id) < 0)
        return qvd_model_dbfail(db);
    st = qvd_db_query(db, "SELECT address, vm_subnet FROM hosts WHERE id = ?", "i", *id);
    rc = st == NULL ? -1 : qvd_db_step(st);
    if (rc == 1) {
        const char *subnet = qvd_db_text(st, 1);
        snprintf(out->address, sizeof(out->address), "%s", qvd_db_text(st, 0));
        snprintf(out->vm_subnet, sizeof(out->vm_subnet), "%s", subnet ? subnet : "");
    }
    qvd_db_done(st);
    return rc == 1 ? 0 : qvd_model_dbfail(db);
}

int
qvd_model_hkd_register(struct qvd_db *db, const char *name, const struct qvd_model_hkd_reg *in,
                       struct qvd_model_hkd_host *out)
{
    memset(out, 0, sizeof(*out));
    if (qvd_model_begin(db) < 0)
        return -1;
    return qvd_model_end(db, register_tx(db, name, in, out));
}

int
qvd_model_hkd_peers(struct qvd_db *db, int64_t host_id, struct qvd_model_hkd_peer **out, size_t *n)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT h.id, h.name, h.address, h.vm_subnet,"
                                       " COALESCE(r.state, 'stopped') FROM hosts h"
                                       " LEFT JOIN host_runtimes r ON r.host_id = h.id"
                                       " WHERE h.id != ? ORDER BY h.id",
                                       "i", host_id);
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (st == NULL)
        return qvd_model_dbfail(db);
    while ((rc = qvd_db_step(st)) == 1) {
        *out = qvd_xgrow(*out, *n, &cap, sizeof(**out), 16);
        struct qvd_model_hkd_peer *p = &(*out)[(*n)++];
        const char *subnet = qvd_db_text(st, 3);
        p->id = qvd_db_int(st, 0);
        snprintf(p->name, sizeof(p->name), "%s", qvd_db_text(st, 1));
        snprintf(p->address, sizeof(p->address), "%s", qvd_db_text(st, 2));
        snprintf(p->vm_subnet, sizeof(p->vm_subnet), "%s", subnet ? subnet : "");
        snprintf(p->state, sizeof(p->state), "%s", qvd_db_text(st, 4));
    }
    qvd_db_done(st);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
        return qvd_model_dbfail(db);
    }
    return 0;
}

/* Host states and heartbeats are written with the database's clock, which every node of a
 * cluster shares (model_cluster.h judges freshness with it). A lost host keeps its state
 * until it rejoins (qvd_model_cluster_rejoin), starts afresh or writes stopped; a state
 * written is no longer lost, and the marks of the loss go. */
int
qvd_model_hkd_host_state(struct qvd_db *db, int64_t host_id, const char *state, int64_t pid)
{
    int64_t now, n;

    if (qvd_db_clock(db, &now) < 0)
        return qvd_model_dbfail(db);
    if (pid < 0)
        n = qvd_db_exec(db,
                        "UPDATE host_runtimes SET state = ?, state_ts = ?, pid = NULL, ok_ts = ?,"
                        " lost_ts = NULL, lost_by = NULL WHERE host_id = ? AND (state != 'lost' OR "
                        "? IN ('starting', 'stopped'))",
                        "siiis", state, now, now, host_id, state);
    else
        n = qvd_db_exec(db,
                        "UPDATE host_runtimes SET state = ?, state_ts = ?, pid = ?, ok_ts = ?,"
                        " lost_ts = NULL, lost_by = NULL WHERE host_id = ? AND (state != 'lost' OR "
                        "? IN ('starting', 'stopped'))",
                        "siiiis", state, now, pid, now, host_id, state);
    if (n < 0)
        return qvd_model_dbfail(db);
    if (n == 0 && qvd_model_cluster_host_lost(db, host_id) == 1)
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "host %lld was declared lost by another node: it must drop every"
                              " VM and rejoin (or start afresh) first",
                              (long long)host_id);
    return 0;
}

int
qvd_model_hkd_heartbeat(struct qvd_db *db, int64_t host_id, int64_t pid)
{
    int64_t now, n;

    if (qvd_db_clock(db, &now) < 0)
        return qvd_model_dbfail(db);
    n = qvd_db_exec(db,
                    "UPDATE host_runtimes SET ok_ts = ?, pid = ? WHERE host_id = ?"
                    " AND state != 'lost'",
                    "iii", now, pid, host_id);
    return n < 0 ? qvd_model_dbfail(db) : n == 1;
}

/* Other nodes that may run VMs: what makes this node part of a cluster (host.c fences). */
int
qvd_model_hkd_peer_count(struct qvd_db *db, int64_t host_id, int64_t *n)
{
    return qvd_model_count(db, n, "SELECT COUNT(*) FROM hosts WHERE id != ? AND backend = 1",
                           host_id);
}

int
qvd_model_hkd_rejoin(struct qvd_db *db, int64_t host_id, int64_t pid)
{
    /* lost -> stopped with its audit entry (model_cluster.c), then running again */
    int lost = qvd_model_cluster_rejoin(db, host_id);
    int64_t now;

    if (lost < 0 || qvd_model_begin(db) < 0)
        return -1;
    if (qvd_db_clock(db, &now) < 0 ||
        qvd_db_exec(db,
                    "UPDATE host_runtimes SET state = 'running', state_ts = ?, pid = ?, ok_ts = ?,"
                    " lost_ts = NULL, lost_by = NULL WHERE host_id = ?",
                    "iiii", now, pid, now, host_id) < 0)
        return qvd_model_end(db, qvd_model_dbfail(db));
    return qvd_model_end(db, 0) < 0 ? -1 : lost > 0;
}

int
qvd_model_hkd_host_take_stop(struct qvd_db *db, int64_t host_id)
{
    int64_t n = qvd_db_exec(db,
                            "UPDATE host_runtimes SET cmd = NULL WHERE host_id = ?"
                            " AND cmd = 'stop'",
                            "i", host_id);

    return n < 0 ? qvd_model_dbfail(db) : n > 0;
}

int
qvd_model_hkd_release_l7r_slots(struct qvd_db *db, int64_t host_id, bool (*dead)(int64_t pid),
                                int64_t *released, size_t max, size_t *n)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT vm_id, l7r_pid FROM vm_runtimes WHERE"
                                       " l7r_host_id = ? AND l7r_pid IS NOT NULL",
                                       "i", host_id);
    int64_t gone[64];
    size_t ngone = 0;

    *n = 0;
    if (st == NULL)
        return qvd_model_dbfail(db);
    while (ngone < QVD_ARRAY_LEN(gone) && qvd_db_step(st) == 1)
        if (dead(qvd_db_int(st, 1)))
            gone[ngone++] = qvd_db_int(st, 0);
    qvd_db_done(st);
    for (size_t i = 0; i < ngone; i++) {
        /* only if the slot is still the one we saw: the L7R host and a dead pid */
        int64_t c = qvd_db_exec(db,
                                "UPDATE vm_runtimes SET user_state = 'disconnected',"
                                " user_cmd = NULL, l7r_host_id = NULL, l7r_pid = NULL,"
                                " user_state_ts = ? WHERE vm_id = ? AND l7r_host_id = ?",
                                "iii", qvd_now(), gone[i], host_id);
        if (c < 0)
            return qvd_model_dbfail(db);
        if (c > 0 && *n < max)
            released[(*n)++] = gone[i];
    }
    return 0;
}

/* ---- VM commands ---- */

static int
collect_ids(struct qvd_db *db, struct qvd_stmt *st, int64_t **ids, size_t *n)
{
    size_t cap = 0;
    int rc;

    *ids = NULL;
    *n = 0;
    if (st == NULL)
        return qvd_model_dbfail(db);
    while ((rc = qvd_db_step(st)) == 1) {
        *ids = qvd_xgrow(*ids, *n, &cap, sizeof(**ids), 16);
        (*ids)[(*n)++] = qvd_db_int(st, 0);
    }
    qvd_db_done(st);
    if (rc == 0)
        return 0;
    /* the statement failed, and with it every change it made: nothing is taken */
    free(*ids);
    *ids = NULL;
    *n = 0;
    return qvd_model_dbfail(db);
}

int
qvd_model_hkd_take_stops(struct qvd_db *db, int64_t host_id, int64_t **ids, size_t *n)
{
    return collect_ids(db,
                       qvd_db_query(db,
                                    "UPDATE vm_runtimes SET vm_cmd = NULL WHERE host_id = ?"
                                    " AND vm_cmd = 'stop' RETURNING vm_id",
                                    "i", host_id),
                       ids, n);
}

int
qvd_model_hkd_take_starts(struct qvd_db *db, int64_t host_id, long slots, int64_t **ids, size_t *n)
{
    return collect_ids(
        db,
        qvd_db_query(db,
                     "UPDATE vm_runtimes SET vm_cmd = NULL, vm_state = 'starting',"
                     " vm_state_ts = ? WHERE vm_id IN (SELECT vm_id FROM vm_runtimes"
                     " WHERE host_id = ? AND vm_cmd = 'start' AND vm_state = 'stopped'"
                     " AND blocked = 0 ORDER BY vm_state_ts LIMIT ?) RETURNING vm_id",
                     "iii", qvd_now(), host_id, (int64_t)slots),
        ids, n);
}

/* Runs a guarded write of one VM's row: CONFLICT when it changed nothing. */
static int
vm_write(struct qvd_db *db, int64_t vm_id, int64_t n, const char *what)
{
    if (n < 0)
        return qvd_model_dbfail(db);
    if (n == 0)
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "VM %lld: its row changed meanwhile (%s not applied)",
                              (long long)vm_id, what);
    return 0;
}

int
qvd_model_hkd_give_back(struct qvd_db *db, int64_t host_id, int64_t vm_id)
{
    return vm_write(db, vm_id,
                    qvd_db_exec(db,
                                "UPDATE vm_runtimes SET vm_state = 'stopped', vm_state_ts = ?,"
                                " vm_cmd = 'start' WHERE vm_id = ? AND host_id = ?"
                                " AND vm_state = 'starting' AND vm_cmd IS NULL",
                                "iii", qvd_now(), vm_id, host_id),
                    "giving back its start");
}

/* ---- one VM ---- */

int
qvd_model_hkd_vm_load(struct qvd_db *db, int64_t vm_id, bool running, struct qvd_model_hkd_vm *out)
{
#define ROW_COLUMNS                                                                                \
    "SELECT v.name, u.login, v.user_id, v.osf_id, v.ip, v.mac, o.memory, o.use_overlay,"           \
    " o.user_storage_size, d.id, d.path, v.di_tag"                                                 \
    " FROM vms v JOIN users u ON u.id = v.user_id JOIN osfs o ON o.id = v.osf_id"
    /* a start takes the DI its tag names now; an adopted VM runs the one it was started
     * with, whatever the tag says since */
    struct qvd_stmt *st = qvd_db_query(
        db,
        running ? ROW_COLUMNS " JOIN vm_runtimes r ON r.vm_id = v.id"
                              " LEFT JOIN dis d ON d.id = r.current_di_id WHERE v.id = ?"
                : ROW_COLUMNS " LEFT JOIN di_tags t ON t.osf_id = v.osf_id AND t.tag = v.di_tag"
                              " LEFT JOIN dis d ON d.id = t.di_id AND d.blocked = 0 WHERE v.id = ?",
        "i", vm_id);
#undef ROW_COLUMNS
    int rc;

    if (st == NULL)
        return qvd_model_dbfail(db);
    rc = qvd_db_step(st);
    if (rc == 1 && qvd_db_is_null(st, 9)) {
        rc = running ? qvd_model_fail(QVD_MODEL_CONFLICT,
                                      "the DI it runs is not in the database any more")
                     : qvd_model_fail(QVD_MODEL_CONFLICT,
                                      "no unblocked DI of its OSF carries the tag '%s'",
                                      qvd_db_text(st, 11));
    } else if (rc == 1) {
        snprintf(out->name, sizeof(out->name), "%s", qvd_db_text(st, 0));
        snprintf(out->login, sizeof(out->login), "%s", qvd_db_text(st, 1));
        out->user_id = qvd_db_int(st, 2);
        out->osf_id = qvd_db_int(st, 3);
        snprintf(out->ip, sizeof(out->ip), "%s", qvd_db_text(st, 4));
        snprintf(out->mac, sizeof(out->mac), "%s", qvd_db_text(st, 5));
        out->memory_mb = (int)qvd_db_int(st, 6);
        out->use_overlay = qvd_db_int(st, 7) != 0;
        out->user_storage_mb = qvd_db_int(st, 8);
        out->di_id = qvd_db_int(st, 9);
        snprintf(out->di_path, sizeof(out->di_path), "%s", qvd_db_text(st, 10));
        rc = 0;
    } else if (rc == 0) {
        rc = qvd_model_fail(QVD_MODEL_NOT_FOUND, "the VM does not exist any more");
    } else {
        rc = qvd_model_dbfail(db);
    }
    qvd_db_done(st);
    return rc;
}

static int
prepare_tx(struct qvd_db *db, int64_t host_id, int64_t vm_id, const struct qvd_model_hkd_run *r)
{
    int rc = vm_write(db, vm_id,
                      qvd_db_exec(db,
                                  "UPDATE vm_runtimes SET vm_address = ?, vm_vma_port = ?,"
                                  " vm_x_port = ?, current_osf_id = ?, current_di_id = ?,"
                                  " vma_secret = ?, vm_pid = NULL, vma_ok_ts = NULL"
                                  " WHERE vm_id = ? AND host_id = ? AND vm_state = 'starting'",
                                  "siiiisii", r->address, r->vma_port, r->x_port, r->osf_id,
                                  r->di_id, r->secret, vm_id, host_id),
                      "preparing its start");

    if (rc == 0 &&
        qvd_db_exec(db,
                    "INSERT INTO vm_counters (vm_id, run_attempts) VALUES (?, 1) ON CONFLICT"
                    " (vm_id) DO UPDATE SET run_attempts = vm_counters.run_attempts + 1",
                    "i", vm_id) < 0)
        rc = qvd_model_dbfail(db);
    return rc;
}

int
qvd_model_hkd_vm_prepare(struct qvd_db *db, int64_t host_id, int64_t vm_id,
                         const struct qvd_model_hkd_run *run)
{
    if (qvd_model_begin(db) < 0)
        return -1;
    return qvd_model_end(db, prepare_tx(db, host_id, vm_id, run));
}

static int
running_tx(struct qvd_db *db, int64_t host_id, int64_t vm_id, int64_t pid)
{
    int rc = vm_write(db, vm_id,
                      qvd_db_exec(db,
                                  "UPDATE vm_runtimes SET vm_state = 'running', vm_state_ts = ?,"
                                  " vma_ok_ts = ?, vm_pid = ? WHERE vm_id = ? AND host_id = ?"
                                  " AND vm_state = 'starting'",
                                  "iiiii", qvd_now(), qvd_now(), pid, vm_id, host_id),
                      "running");

    if (rc == 0 && qvd_db_exec(db, "UPDATE vm_counters SET run_ok = run_ok + 1 WHERE vm_id = ?",
                               "i", vm_id) < 0)
        rc = qvd_model_dbfail(db);
    return rc;
}

int
qvd_model_hkd_vm_running(struct qvd_db *db, int64_t host_id, int64_t vm_id, int64_t pid)
{
    if (qvd_model_begin(db) < 0 || qvd_model_end(db, running_tx(db, host_id, vm_id, pid)) < 0)
        return -1;
    qvd_model_vm_wake_l7r(db, vm_id); /* a client may be waiting for it */
    return 0;
}

int
qvd_model_hkd_vm_alive(struct qvd_db *db, int64_t host_id, int64_t vm_id)
{
    return vm_write(db, vm_id,
                    qvd_db_exec(db,
                                "UPDATE vm_runtimes SET vma_ok_ts = ? WHERE vm_id = ?"
                                " AND host_id = ? AND vm_state = 'running'",
                                "iii", qvd_now(), vm_id, host_id),
                    "its VMA's answer");
}

/* The states a VM may come from, per state the node writes by name. */
static const struct {
    const char *to, *from;
} transitions[] = {
    {"stopping", "vm_state IN ('starting', 'running', 'debugging')"},
    {"zombie", "vm_state != 'stopped'"},
};

int
qvd_model_hkd_vm_state(struct qvd_db *db, int64_t host_id, int64_t vm_id, const char *state)
{
    char sql[256];
    size_t i;

    for (i = 0; i < QVD_ARRAY_LEN(transitions); i++)
        if (strcmp(transitions[i].to, state) == 0)
            break;
    if (i == QVD_ARRAY_LEN(transitions))
        return qvd_model_fail(QVD_MODEL_INVALID, "a node does not set VMs %s", state);
    snprintf(sql, sizeof(sql),
             "UPDATE vm_runtimes SET vm_state = ?, vm_state_ts = ? WHERE vm_id = ?"
             " AND host_id = ? AND %s",
             transitions[i].from);
    if (vm_write(db, vm_id, qvd_db_exec(db, sql, "siii", state, qvd_now(), vm_id, host_id), state) <
        0)
        return -1;
    qvd_model_vm_wake_l7r(db, vm_id);
    return 0;
}

int
qvd_model_hkd_vm_stopped(struct qvd_db *db, int64_t host_id, int64_t vm_id)
{
    if (qvd_db_exec(db,
                    "UPDATE vm_runtimes SET vm_state = 'stopped', vm_state_ts = ?,"
                    " host_id = NULL, vm_address = NULL, vm_vma_port = NULL, vm_x_port = NULL,"
                    " vm_pid = NULL, vm_cmd = NULL, current_di_id = NULL,"
                    " current_osf_id = NULL, vma_secret = NULL, vma_ok_ts = NULL,"
                    " vm_expiration_soft = NULL, vm_expiration_hard = NULL WHERE vm_id = ?"
                    " AND host_id = ?",
                    "iii", qvd_now(), vm_id, host_id) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

int
qvd_model_hkd_vms_left(struct qvd_db *db, int64_t host_id, struct qvd_model_hkd_left **out,
                       size_t *n)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT vm_id, vm_state, vma_secret, vm_address, vm_pid"
                                       " FROM vm_runtimes WHERE host_id = ?"
                                       " AND vm_state != 'stopped' ORDER BY vm_id",
                                       "i", host_id);
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (st == NULL)
        return qvd_model_dbfail(db);
    while ((rc = qvd_db_step(st)) == 1) {
        *out = qvd_xgrow(*out, *n, &cap, sizeof(**out), 16);
        struct qvd_model_hkd_left *l = &(*out)[(*n)++];
        const char *secret = qvd_db_text(st, 2), *addr = qvd_db_text(st, 3);
        l->id = qvd_db_int(st, 0);
        l->running = strcmp(qvd_db_text(st, 1), "running") == 0;
        snprintf(l->secret, sizeof(l->secret), "%s", secret ? secret : "");
        snprintf(l->address, sizeof(l->address), "%s", addr ? addr : "");
        l->pid = qvd_db_is_null(st, 4) ? -1 : qvd_db_int(st, 4);
    }
    qvd_db_done(st);
    return rc < 0 ? qvd_model_dbfail(db) : 0;
}

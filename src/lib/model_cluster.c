/* model_cluster.c: placement and node loss (see model_cluster.h and docs/cluster.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "model_cluster.h"
#include "model_int.h"
#include "util.h"

/* The most nodes one look declares lost (the next look finds the others). A lost node's
 * VMs are all taken in its one transaction, however many. */
#define CHECK_MAX_NODES 64

/* ---- placement ---- */

static int
vm_memory(struct qvd_db *db, int64_t vm_id, int64_t *mb)
{
    int rc = qvd_db_get_int(db, mb,
                            "SELECT o.memory FROM vms v JOIN osfs o ON o.id = v.osf_id"
                            " WHERE v.id = ?",
                            "i", vm_id);

    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND, "VM %lld does not exist", (long long)vm_id);
    return 0;
}

/* Whether a host with usable_ram MB and committed MB assigned can take mb more. */
static bool
fits(double ratio, int64_t usable_ram, int64_t committed, int64_t mb)
{
    return ratio <= 0 || (double)(committed + mb) <= ratio * (double)usable_ram;
}

int
qvd_model_cluster_place(struct qvd_db *db, struct qvd_config *cfg, int64_t vm_id, int64_t *host_id)
{
    double w_ram = qvd_config_number(cfg, "l7r.loadbalancer.plugin.default.weight.ram");
    double w_cpu = qvd_config_number(cfg, "l7r.loadbalancer.plugin.default.weight.cpu");
    double w_rnd = qvd_config_number(cfg, "l7r.loadbalancer.plugin.default.weight.random");
    double ratio = qvd_config_number(cfg, "l7r.loadbalancer.memory.overcommit");
    int64_t now, mb, full = 0;
    double best = -1;
    struct qvd_stmt *st;
    int rc;

    if (vm_memory(db, vm_id, &mb) < 0)
        return -1;
    if (qvd_db_clock(db, &now) < 0)
        return qvd_model_dbfail(db);
    st = qvd_db_query(db,
                      "SELECT h.id, r.usable_ram, r.usable_cpu,"
                      " (SELECT count(*) FROM vm_runtimes x WHERE x.host_id = h.id),"
                      " (SELECT coalesce(sum(o.memory), 0) FROM vm_runtimes x"
                      " JOIN vms v ON v.id = x.vm_id JOIN osfs o ON o.id = v.osf_id"
                      " WHERE x.host_id = h.id)"
                      " FROM hosts h JOIN host_runtimes r ON r.host_id = h.id"
                      " WHERE h.backend = 1 AND r.blocked = 0 AND r.state = 'running'"
                      " AND r.ok_ts >= ? ORDER BY h.id",
                      "i", now - qvd_config_int(cfg, "hkd.cluster.node.timeout"));
    if (st == NULL)
        return qvd_model_dbfail(db);
    *host_id = -1;
    while ((rc = qvd_db_step(st)) == 1) {
        uint32_t r = 0;
        double score;
        if (!fits(ratio, qvd_db_int(st, 1), qvd_db_int(st, 4), mb)) {
            full++;
            continue;
        }
        RAND_bytes((unsigned char *)&r, sizeof(r));
        score = qvd_model_lb_score(qvd_db_int(st, 1), qvd_db_int(st, 2), qvd_db_int(st, 3), w_ram,
                                   w_cpu, w_rnd, r / 4294967296.0);
        if (score > best) {
            best = score;
            *host_id = qvd_db_int(st, 0);
        }
    }
    qvd_db_done(st);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (*host_id < 0 && full > 0)
        return qvd_model_fail(QVD_MODEL_BUSY,
                              "no host has %lld MB of memory left for VM %lld (%lld running"
                              " host(s) full; see l7r.loadbalancer.memory.overcommit)",
                              (long long)mb, (long long)vm_id, (long long)full);
    if (*host_id < 0)
        return qvd_model_fail(QVD_MODEL_BUSY,
                              "no host available: is qvd-hkd running and the host unblocked?");
    return 0;
}

/* ---- node loss ---- */

/* What one transaction did, told (and its wake-ups sent) once it committed. */
struct told {
    char **lines;
    size_t nlines;
    int64_t wake_vm[64], wake_l7r[64]; /* hosts to wake (VM commands, user commands) */
    size_t nwake_vm, nwake_l7r;
};

static void
tell(struct told *t, const char *line)
{
    t->lines = qvd_xrealloc(t->lines, (t->nlines + 1) * sizeof(*t->lines));
    t->lines[t->nlines++] = qvd_xstrdup(line);
}

static void
wake_add(int64_t *set, size_t *n, size_t max, int64_t host)
{
    for (size_t i = 0; i < *n; i++)
        if (set[i] == host)
            return;
    if (*n < max)
        set[(*n)++] = host;
}

static void
told_free(struct told *t)
{
    for (size_t i = 0; i < t->nlines; i++)
        free(t->lines[i]);
    free(t->lines);
    memset(t, 0, sizeof(*t));
}

static int
audit(struct qvd_db *db, const char *node, const char *action, const char *object, int64_t id,
      const char *name, int status, const char *message)
{
    struct qvd_model_audit a = {
        .admin_id = -1,
        .admin = node,
        .tenant_id = -2,
        .action = action,
        .object = object,
        .object_id = id,
        .object_name = name,
        .status = status,
        .message = message,
        .source = "hkd",
    };
    return qvd_model_audit(db, &a);
}

static void
host_name(struct qvd_db *db, int64_t id, char *out, size_t len)
{
    struct qvd_stmt *st = qvd_db_query(db, "SELECT name FROM hosts WHERE id = ?", "i", id);

    snprintf(out, len, "%lld", (long long)id);
    if (st != NULL && qvd_db_step(st) == 1)
        snprintf(out, len, "%s", qvd_db_text(st, 0));
    qvd_db_done(st);
}

/* The lost node's VMs, read before any is changed. */
struct lost_vm {
    int64_t id;
    bool restart;
    char name[80];
};

static int
lost_vms(struct qvd_db *db, int64_t host, struct lost_vm **out, size_t *n)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT r.vm_id, r.vm_state, coalesce(r.vm_cmd, ''), v.name"
                                       " FROM vm_runtimes r JOIN vms v ON v.id = r.vm_id"
                                       " WHERE r.host_id = ? ORDER BY r.vm_id",
                                       "i", host);
    int rc;

    *out = NULL;
    *n = 0;
    if (st == NULL)
        return qvd_model_dbfail(db);
    while ((rc = qvd_db_step(st)) == 1) {
        const char *state = qvd_db_text(st, 1), *cmd = qvd_db_text(st, 2);
        struct lost_vm *v;
        *out = qvd_xrealloc(*out, (*n + 1) * sizeof(**out));
        v = &(*out)[(*n)++];
        v->id = qvd_db_int(st, 0);
        v->restart = strcmp(state, "starting") == 0 || strcmp(state, "running") == 0 ||
                     strcmp(state, "debugging") == 0 ||
                     (strcmp(state, "stopped") == 0 && strcmp(cmd, "start") == 0);
        snprintf(v->name, sizeof(v->name), "%s", qvd_db_text(st, 3));
    }
    qvd_db_done(st);
    return rc < 0 ? qvd_model_dbfail(db) : 0;
}

/* One VM of the lost node: its row cleared, and started elsewhere if it ran. */
static int
take_vm(struct qvd_db *db, struct qvd_config *cfg, const char *self, int64_t lost,
        const char *lost_name, const struct lost_vm *v, struct told *t)
{
    char msg[600], target[80];
    int64_t host = -1;

    if (qvd_db_exec(db,
                    "UPDATE vm_runtimes SET vm_state = 'stopped', vm_state_ts = ?,"
                    " host_id = NULL, vm_address = NULL, vm_vma_port = NULL, vm_x_port = NULL,"
                    " vm_pid = NULL, vm_cmd = NULL, current_di_id = NULL,"
                    " current_osf_id = NULL, vma_secret = NULL, vma_ok_ts = NULL,"
                    " vm_expiration_soft = NULL, vm_expiration_hard = NULL WHERE vm_id = ?"
                    " AND host_id = ?",
                    "iii", qvd_now(), v->id, lost) < 0)
        return qvd_model_dbfail(db);
    /* why its user's session ended, for the client that asks (it reconnects) */
    if (qvd_model_vm_sessions_end(db, v->id, "node_lost", lost_name) < 0)
        return -1;
    if (!v->restart)
        return 0;
    if (qvd_model_vm_start_tx(db, cfg, v->id, &host) == 0) {
        host_name(db, host, target, sizeof(target));
        snprintf(msg, sizeof(msg), "VM %lld (%s) of lost node %s restarted on %s", (long long)v->id,
                 v->name, lost_name, target);
        wake_add(t->wake_vm, &t->nwake_vm, QVD_ARRAY_LEN(t->wake_vm), host);
    } else {
        snprintf(msg, sizeof(msg), "VM %lld (%s) of lost node %s left stopped: %s",
                 (long long)v->id, v->name, lost_name, qvd_strerror());
    }
    tell(t, msg);
    return audit(db, self, "vm.restart", "vm", v->id, v->name, host >= 0 ? 200 : 503, msg);
}

/* The sessions of the lost node's L7R are gone with it: their slots are released. The L7Rs
 * of other nodes that relay a session to one of its VMs are woken: they end a session
 * whose VM is not running any more (qvd_model_l7r_aborted), with the reason take_vm
 * recorded (node_lost: their client reconnects). */
static int
take_slots(struct qvd_db *db, int64_t lost, struct told *t)
{
    struct qvd_stmt *st;
    int64_t n;
    int rc;

    n = qvd_db_exec(db,
                    "UPDATE vm_runtimes SET user_state = 'disconnected', user_cmd = NULL,"
                    " user_cmd_by = NULL, l7r_host_id = NULL, l7r_pid = NULL, user_state_ts = ?"
                    " WHERE l7r_host_id = ?",
                    "ii", qvd_now(), lost);
    if (n < 0)
        return qvd_model_dbfail(db);
    if (n > 0) {
        char line[80];
        snprintf(line, sizeof(line), "%lld user slot(s) held by its L7R released", (long long)n);
        tell(t, line);
    }
    st = qvd_db_query(db,
                      "SELECT DISTINCT l7r_host_id FROM vm_runtimes WHERE host_id = ?"
                      " AND l7r_host_id IS NOT NULL",
                      "i", lost);
    if (st == NULL)
        return qvd_model_dbfail(db);
    while ((rc = qvd_db_step(st)) == 1)
        wake_add(t->wake_l7r, &t->nwake_l7r, QVD_ARRAY_LEN(t->wake_l7r), qvd_db_int(st, 0));
    qvd_db_done(st);
    return rc < 0 ? qvd_model_dbfail(db) : 0;
}

/* Declares host `lost` lost (if it still is stale: its heartbeat may have come meanwhile)
 * and takes over what it had. 1 declared, 0 not. */
static int
declare_tx(struct qvd_db *db, struct qvd_config *cfg, int64_t self, const char *self_name,
           int64_t now, int64_t lost, struct told *t)
{
    int64_t timeout = qvd_config_int(cfg, "hkd.cluster.node.timeout"), ok_ts = 0;
    char name[80], msg[300];
    struct lost_vm *vms = NULL;
    size_t n = 0;
    int64_t c;
    int rc = 0;

    host_name(db, lost, name, sizeof(name));
    if (qvd_db_get_int(db, &ok_ts, "SELECT coalesce(ok_ts, 0) FROM host_runtimes WHERE host_id = ?",
                       "i", lost) < 0)
        return qvd_model_dbfail(db);
    c = qvd_db_exec(
        db,
        "UPDATE host_runtimes SET state = 'lost', state_ts = ?, lost_ts = ?, lost_by = ?"
        " WHERE host_id = ? AND state NOT IN ('stopped', 'lost')"
        " AND coalesce(ok_ts, 0) < ?",
        "iiiii", now, now, self, lost, now - timeout);
    if (c < 0)
        return qvd_model_dbfail(db);
    if (c == 0)
        return 0;
    if (ok_ts > 0)
        snprintf(msg, sizeof(msg), "node %s lost (no heartbeat for %lld s), declared by %s", name,
                 (long long)(now - ok_ts), self_name);
    else
        snprintf(msg, sizeof(msg), "node %s lost (no heartbeat ever), declared by %s", name,
                 self_name);
    tell(t, msg);
    if (audit(db, self_name, "host.lost", "host", lost, name, 200, msg) < 0 ||
        take_slots(db, lost, t) < 0 || lost_vms(db, lost, &vms, &n) < 0) {
        free(vms);
        return -1;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = take_vm(db, cfg, self_name, lost, name, &vms[i], t);
    free(vms);
    return rc < 0 ? -1 : 1;
}

/* The checker may act: it runs, with a fresh heartbeat. 1 yes, 0 no. */
static int
self_fresh(struct qvd_db *db, int64_t self, int64_t now, int64_t timeout)
{
    int64_t one;
    int rc = qvd_db_get_int(db, &one,
                            "SELECT 1 FROM host_runtimes WHERE host_id = ? AND state = 'running'"
                            " AND ok_ts >= ?",
                            "ii", self, now - timeout);

    return rc < 0 ? qvd_model_dbfail(db) : rc;
}

/* The next host to declare lost: 1 found (*lost), 0 none (or the lock is another's). */
static int
check_one_tx(struct qvd_db *db, struct qvd_config *cfg, int64_t self, int64_t *lost, int64_t *now)
{
    int64_t timeout = qvd_config_int(cfg, "hkd.cluster.node.timeout");
    int rc = qvd_db_cluster_lock(db);

    if (rc <= 0)
        return rc < 0 ? qvd_model_dbfail(db) : 0;
    if (qvd_db_clock(db, now) < 0)
        return qvd_model_dbfail(db);
    rc = self_fresh(db, self, *now, timeout);
    if (rc <= 0)
        return rc;
    rc = qvd_db_get_int(db, lost,
                        "SELECT host_id FROM host_runtimes WHERE host_id <> ?"
                        " AND state NOT IN ('stopped', 'lost') AND coalesce(ok_ts, 0) < ?"
                        " ORDER BY host_id LIMIT 1",
                        "ii", self, *now - timeout);
    return rc < 0 ? qvd_model_dbfail(db) : rc;
}

static void
told_send(struct qvd_db *db, struct told *t, void (*say)(void *arg, const char *line), void *arg)
{
    char chan[96];

    for (size_t i = 0; i < t->nwake_vm; i++) {
        snprintf(chan, sizeof(chan), QVD_CHAN_VM_CMD, (long long)t->wake_vm[i]);
        qvd_db_notify(db, chan);
    }
    for (size_t i = 0; i < t->nwake_l7r; i++)
        qvd_model_l7r_wake(db, t->wake_l7r[i]);
    for (size_t i = 0; say != NULL && i < t->nlines; i++)
        say(arg, t->lines[i]);
}

int
qvd_model_cluster_check(struct qvd_db *db, struct qvd_config *cfg, int64_t self,
                        const char *self_name, void (*say)(void *arg, const char *line), void *arg)
{
    int declared = 0;

    for (int i = 0; i < CHECK_MAX_NODES; i++) {
        struct told t = {0};
        int64_t lost = -1, now = 0;
        int rc;

        if (qvd_model_begin(db) < 0)
            return -1;
        rc = check_one_tx(db, cfg, self, &lost, &now);
        if (rc == 1)
            rc = declare_tx(db, cfg, self, self_name, now, lost, &t);
        if (qvd_model_end(db, rc < 0 ? -1 : 0) < 0) {
            told_free(&t);
            return -1;
        }
        told_send(db, &t, say, arg);
        told_free(&t);
        if (rc <= 0)
            break;
        declared++;
    }
    return declared;
}

int
qvd_model_cluster_host_lost(struct qvd_db *db, int64_t host_id)
{
    int64_t one;
    int rc = qvd_db_get_int(
        db, &one, "SELECT 1 FROM host_runtimes WHERE host_id = ? AND state = 'lost'", "i", host_id);

    return rc < 0 ? qvd_model_dbfail(db) : rc;
}

static int
rejoin_tx(struct qvd_db *db, int64_t host_id)
{
    char name[80], msg[200];
    int64_t vm, now;
    int rc = qvd_model_cluster_host_lost(db, host_id);

    if (rc <= 0)
        return rc;
    rc = qvd_db_get_int(db, &vm, "SELECT vm_id FROM vm_runtimes WHERE host_id = ? LIMIT 1", "i",
                        host_id);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 1)
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "host %lld is lost but VM %lld is still assigned to it: its takeover"
                              " is not finished",
                              (long long)host_id, (long long)vm);
    if (qvd_db_clock(db, &now) < 0 ||
        qvd_db_exec(db,
                    "UPDATE host_runtimes SET state = 'stopped', state_ts = ?, pid = NULL"
                    " WHERE host_id = ? AND state = 'lost'",
                    "ii", now, host_id) < 0)
        return qvd_model_dbfail(db);
    host_name(db, host_id, name, sizeof(name));
    snprintf(msg, sizeof(msg), "node %s is back: it runs no VM and joins the cluster again", name);
    return audit(db, name, "host.rejoin", "host", host_id, name, 200, msg) < 0 ? -1 : 1;
}

int
qvd_model_cluster_rejoin(struct qvd_db *db, int64_t host_id)
{
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = rejoin_tx(db, host_id);
    if (qvd_model_end(db, rc < 0 ? -1 : 0) < 0)
        return -1;
    return rc;
}

/* ---- the live feed ---- */

int
qvd_model_cluster_events(struct qvd_db *db, int64_t after,
                         void (*put)(void *arg, const struct qvd_model_cluster_event *e), void *arg,
                         int64_t *last)
{
    struct qvd_stmt *st;
    int rc;

    *last = after;
    if (after < 0) {
        rc = qvd_db_get_int(db, last, "SELECT coalesce(max(id), 0) FROM audit_log", NULL);
        return rc < 0 ? qvd_model_dbfail(db) : 0;
    }
    st = qvd_db_query(db,
                      "SELECT id, time, administrator, action, object, coalesce(object_id, -1),"
                      " message FROM audit_log WHERE id > ? AND source = 'hkd' ORDER BY id"
                      " LIMIT 1000",
                      "i", after);
    if (st == NULL)
        return qvd_model_dbfail(db);
    while ((rc = qvd_db_step(st)) == 1) {
        struct qvd_model_cluster_event e = {
            .id = qvd_db_int(st, 0),
            .time = qvd_db_int(st, 1),
            .node = qvd_db_text(st, 2),
            .action = qvd_db_text(st, 3),
            .object = qvd_db_text(st, 4),
            .object_id = qvd_db_int(st, 5),
            .message = qvd_db_text(st, 6),
        };
        *last = e.id;
        put(arg, &e);
    }
    qvd_db_done(st);
    return rc < 0 ? qvd_model_dbfail(db) : 0;
}

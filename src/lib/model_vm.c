/* model_vm.c: VMs (tenancy, IP/MAC allocation, start/stop through vm_cmd, placed by
 * qvd_model_cluster_place) and hosts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "model_cluster.h"
#include "model_int.h"
#include "util.h"

#define VM_ADD_ATTEMPTS 5

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* A free IP and its MAC, from the addresses the vms table holds now. */
static int
vm_pick_address(struct qvd_db *db, struct qvd_config *cfg, char ip[16], char mac[18])
{
    struct qvd_model_net net;
    uint32_t *used = NULL, a;
    size_t n = 0, cap = 0;
    struct qvd_stmt *st;
    int rc;

    if (qvd_model_net_parse(qvd_config_get(cfg, "vm.network.ip.start"),
                            qvd_config_get(cfg, "vm.network.netmask"), &net) < 0)
        return -1;
    st = qvd_db_query(db, "SELECT ip FROM vms", NULL);
    if (st == NULL)
        return qvd_model_dbfail(db);
    while ((rc = qvd_db_step(st)) == 1) {
        uint32_t u;
        if (qvd_model_ip_parse(qvd_db_text(st, 0), &u) < 0)
            continue;
        used = qvd_xgrow(used, n, &cap, sizeof(*used), 256);
        used[n++] = u;
    }
    qvd_db_done(st);
    if (rc < 0) {
        free(used);
        return qvd_model_dbfail(db);
    }
    if (n > 0) /* qsort(NULL, 0) is undefined */
        qsort(used, n, sizeof(*used), cmp_u32);
    rc = qvd_model_ip_pick(&net, used, n, &a);
    free(used);
    if (rc < 0)
        return -1;
    qvd_model_ip_format(a, ip);
    return qvd_model_mac(qvd_config_get(cfg, "vm.network.mac.prefix"), a, mac);
}

static int
vm_name_free(struct qvd_db *db, int64_t user_id, const char *name, int64_t self)
{
    int64_t other;
    int rc = qvd_db_get_int(db, &other,
                            "SELECT id FROM vms WHERE user_id = ? AND name = ?"
                            " AND id <> ?",
                            "isi", user_id, name, self);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 1)
        return qvd_model_fail(QVD_MODEL_CONFLICT, "user %lld already has a VM named '%s' (id %lld)",
                              (long long)user_id, name, (long long)other);
    return 0;
}

static int
vm_tag_exists(struct qvd_db *db, int64_t osf_id, const char *tag)
{
    int64_t di;
    int rc = qvd_model_di_by_tag(db, osf_id, tag, &di);

    if (rc < 0)
        return -1;
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "OSF %lld has no DI tagged '%s': add a DI first (qvd-admin di add"
                              " --osf-id %lld --path FILE) or tag one (qvd-admin di tag)",
                              (long long)osf_id, tag, (long long)osf_id);
    return 0;
}

/* One attempt of vm_add inside a transaction; a constraint failure of the INSERT (another
 * creator took the address) is reported as QVD_MODEL_BUSY so that the caller retries. */
static int
vm_add_tx(struct qvd_db *db, struct qvd_config *cfg, const struct qvd_model_vm *v, const char *tag,
          int64_t *id)
{
    int64_t user_tenant = 0, osf_tenant;
    char ip[16], mac[18], user[80];
    struct qvd_stmt *st;
    int rc;

    st = qvd_db_query(db, "SELECT tenant_id, login FROM users WHERE id = ?", "i", v->user_id);
    if (st == NULL)
        return qvd_model_dbfail(db);
    rc = qvd_db_step(st);
    if (rc == 1) {
        user_tenant = qvd_db_int(st, 0);
        snprintf(user, sizeof(user), "%s", qvd_db_text(st, 1));
    }
    qvd_db_done(st);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND, "user %lld does not exist",
                              (long long)v->user_id);
    rc = qvd_db_get_int(db, &osf_tenant, "SELECT tenant_id FROM osfs WHERE id = ?", "i", v->osf_id);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND, "OSF %lld does not exist", (long long)v->osf_id);
    if (osf_tenant != user_tenant && osf_tenant != QVD_TENANT_COMMON) {
        char ut[80];
        snprintf(ut, sizeof(ut), "%s", qvd_model_tenant_name(db, user_tenant));
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "user '%s' is in tenant '%s' but OSF %lld is in tenant '%s': a VM's"
                              " OSF must be in its user's tenant or the common tenant",
                              user, ut, (long long)v->osf_id,
                              qvd_model_tenant_name(db, osf_tenant));
    }
    if (vm_name_free(db, v->user_id, v->name, -1) < 0 || vm_tag_exists(db, v->osf_id, tag) < 0 ||
        vm_pick_address(db, cfg, ip, mac) < 0)
        return -1;
    if (qvd_db_exec(db,
                    "INSERT INTO vms (name, user_id, osf_id, di_tag, ip, mac, description,"
                    " created_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    "siissssi", v->name, v->user_id, v->osf_id, tag, ip, mac,
                    v->description ? v->description : "", qvd_now()) < 0) {
        qvd_model_dbfail(db);
        if (qvd_model_errkind() == QVD_MODEL_CONFLICT)
            return qvd_model_fail(QVD_MODEL_BUSY, "address %s was taken meanwhile", ip);
        return -1;
    }
    if (qvd_db_get_int(db, id, "SELECT id FROM vms WHERE ip = ?", "s", ip) != 1 ||
        qvd_db_exec(db,
                    "INSERT INTO vm_runtimes (vm_id, vm_state_ts, user_state_ts)"
                    " VALUES (?, ?, ?)",
                    "iii", *id, qvd_now(), qvd_now()) < 0 ||
        qvd_db_exec(db, "INSERT INTO vm_counters (vm_id) VALUES (?)", "i", *id) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

int
qvd_model_vm_add(struct qvd_db *db, struct qvd_config *cfg, const struct qvd_model_vm *v,
                 int64_t *id)
{
    const char *tag = v->di_tag ? v->di_tag : "default";
    int64_t vm_id = -1;

    if (qvd_model_check_name("VM name", v->name, 64) < 0)
        return -1;
    if (!qvd_model_tag_valid(tag))
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "tag '%s' must be 1..128 characters without"
                              " spaces",
                              tag);
    for (int attempt = 1;; attempt++) {
        if (qvd_model_begin(db) < 0)
            return -1;
        if (qvd_model_end(db, vm_add_tx(db, cfg, v, tag, &vm_id)) == 0)
            break;
        if (qvd_model_errkind() != QVD_MODEL_BUSY || attempt == VM_ADD_ATTEMPTS)
            return -1;
    }
    if (id != NULL)
        *id = vm_id;
    return 0;
}

/* The VM's state, command, host, OSF and tag; NOT_FOUND if it does not exist. */
struct vm_row {
    char state[16], cmd[16], tag[130];
    int64_t host_id, osf_id, blocked;
};

static int
vm_get(struct qvd_db *db, int64_t id, struct vm_row *r)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT r.vm_state, r.vm_cmd, r.host_id, v.osf_id,"
                                       " v.di_tag, r.blocked FROM vms v"
                                       " JOIN vm_runtimes r ON r.vm_id = v.id WHERE v.id = ?",
                                       "i", id);
    int rc;

    if (st == NULL)
        return qvd_model_dbfail(db);
    rc = qvd_db_step(st);
    if (rc == 1) {
        snprintf(r->state, sizeof(r->state), "%s", qvd_db_text(st, 0));
        snprintf(r->cmd, sizeof(r->cmd), "%s", qvd_db_text(st, 1) ? qvd_db_text(st, 1) : "");
        r->host_id = qvd_db_is_null(st, 2) ? -1 : qvd_db_int(st, 2);
        r->osf_id = qvd_db_int(st, 3);
        snprintf(r->tag, sizeof(r->tag), "%s", qvd_db_text(st, 4));
        r->blocked = qvd_db_int(st, 5);
    }
    qvd_db_done(st);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND, "VM %lld does not exist (see qvd-admin vm list)",
                              (long long)id);
    return 0;
}

int
qvd_model_vm_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *name,
                 const char *di_tag, const char *description)
{
    struct vm_row r;
    int64_t user_id;
    int rc;

    if (name != NULL && qvd_model_check_name("VM name", name, 64) < 0)
        return -1;
    if (di_tag != NULL && !qvd_model_tag_valid(di_tag))
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "tag '%s' must be 1..128 characters without"
                              " spaces",
                              di_tag);
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = vm_get(db, id, &r);
    if (rc == 0 && name != NULL &&
        (qvd_model_count(db, &user_id, "SELECT user_id FROM vms WHERE id = ?", id) < 0 ||
         vm_name_free(db, user_id, name, id) < 0))
        rc = -1;
    if (rc == 0 && di_tag != NULL && vm_tag_exists(db, r.osf_id, di_tag) < 0)
        rc = -1;
    if (rc == 0 && qvd_db_exec(db,
                               "UPDATE vms SET name = coalesce(?, name),"
                               " di_tag = coalesce(?, di_tag),"
                               " description = coalesce(?, description) WHERE id = ?",
                               "sssi", name, di_tag, description, id) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

int
qvd_model_vm_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id)
{
    struct vm_row r;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = vm_get(db, id, &r);
    if (rc == 0 && (strcmp(r.state, "stopped") != 0 || r.cmd[0] != '\0'))
        rc = qvd_model_fail(
            QVD_MODEL_CONFLICT, "VM %lld is %s%s%s: stop it first (qvd-admin vm stop --id %lld)",
            (long long)id, r.state, r.cmd[0] ? " with command " : "", r.cmd, (long long)id);
    if (rc == 0 && (qvd_model_prop_clear(db, "vm", id) < 0 ||
                    qvd_db_exec(db, "DELETE FROM user_tokens WHERE vm_id = ?", "i", id) < 0 ||
                    qvd_db_exec(db, "DELETE FROM vm_counters WHERE vm_id = ?", "i", id) < 0 ||
                    qvd_db_exec(db, "DELETE FROM vm_runtimes WHERE vm_id = ?", "i", id) < 0 ||
                    qvd_db_exec(db, "DELETE FROM vms WHERE id = ?", "i", id) < 0))
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

int
qvd_model_vm_start_tx(struct qvd_db *db, struct qvd_config *cfg, int64_t id, int64_t *host_id)
{
    struct vm_row r;
    struct qvd_stmt *st;
    int64_t di = -1, di_blocked = 0;
    int rc;

    if (vm_get(db, id, &r) < 0)
        return -1;
    if (r.blocked)
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "VM %lld is blocked: unblock it first (qvd-admin vm unblock --id"
                              " %lld)",
                              (long long)id, (long long)id);
    if (strcmp(r.cmd, "start") == 0)
        return qvd_model_fail(QVD_MODEL_CONFLICT, "VM %lld is already being started",
                              (long long)id);
    if (strcmp(r.state, "stopped") != 0 || r.cmd[0] != '\0')
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "VM %lld is %s%s%s: it can only be started"
                              " when stopped",
                              (long long)id, r.state, r.cmd[0] ? " with command " : "", r.cmd);
    st = qvd_db_query(db,
                      "SELECT d.id, d.blocked FROM di_tags g JOIN dis d ON d.id = g.di_id"
                      " JOIN di_runtimes s ON s.di_id = d.id WHERE g.osf_id = ? AND g.tag = ?"
                      " AND s.state = 'published'",
                      "is", r.osf_id, r.tag);
    if (st == NULL)
        return qvd_model_dbfail(db);
    rc = qvd_db_step(st);
    if (rc == 1) {
        di = qvd_db_int(st, 0);
        di_blocked = qvd_db_int(st, 1);
    }
    qvd_db_done(st);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (di < 0)
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "VM %lld boots from tag '%s' but no published DI of OSF %lld has"
                              " it: tag a DI (qvd-admin di tag --id N --tag %s)",
                              (long long)id, r.tag, (long long)r.osf_id, r.tag);
    if (di_blocked)
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "DI %lld (tag '%s' of VM %lld) is blocked: unblock it (qvd-admin di"
                              " unblock --id %lld) or tag another DI",
                              (long long)di, r.tag, (long long)id, (long long)di);
    if (qvd_model_cluster_place(db, cfg, id, host_id) < 0)
        return -1;
    rc = (int)qvd_db_exec(db,
                          "UPDATE vm_runtimes SET vm_cmd = 'start', host_id = ?"
                          " WHERE vm_id = ? AND vm_state = 'stopped' AND vm_cmd IS NULL",
                          "ii", *host_id, id);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc != 1)
        return qvd_model_fail(QVD_MODEL_CONFLICT, "VM %lld changed state meanwhile", (long long)id);
    return 0;
}

static void
wake_host(struct qvd_db *db, int64_t host_id)
{
    char chan[96];

    snprintf(chan, sizeof(chan), QVD_CHAN_VM_CMD, (long long)host_id);
    qvd_db_notify(db, chan);
}

int
qvd_model_vm_start(struct qvd_db *db, struct qvd_config *cfg, int64_t id, int64_t *host_id)
{
    int64_t host = -1;

    if (qvd_model_begin(db) < 0)
        return -1;
    if (qvd_model_end(db, qvd_model_vm_start_tx(db, cfg, id, &host)) < 0)
        return -1;
    wake_host(db, host);
    if (host_id != NULL)
        *host_id = host;
    return 0;
}

int
qvd_model_vm_stop(struct qvd_db *db, struct qvd_config *cfg, int64_t id)
{
    struct vm_row r;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = vm_get(db, id, &r);
    if (rc < 0)
        ;
    else if (strcmp(r.cmd, "stop") == 0)
        rc = 0; /* already asked: stopping twice is not an error */
    else if (strcmp(r.state, "stopped") == 0 && strcmp(r.cmd, "start") == 0) {
        /* no HKD took the start yet (it takes it in one UPDATE): cancel it */
        if (qvd_db_exec(db,
                        "UPDATE vm_runtimes SET vm_cmd = NULL WHERE vm_id = ?"
                        " AND vm_cmd = 'start' AND vm_state = 'stopped'",
                        "i", id) < 0)
            rc = qvd_model_dbfail(db);
    } else if ((strcmp(r.state, "starting") == 0 || strcmp(r.state, "running") == 0 ||
                strcmp(r.state, "debugging") == 0) &&
               r.host_id >= 0) {
        if (qvd_db_exec(db, "UPDATE vm_runtimes SET vm_cmd = 'stop' WHERE vm_id = ?", "i", id) < 0)
            rc = qvd_model_dbfail(db);
    } else
        rc = qvd_model_fail(QVD_MODEL_CONFLICT,
                            "VM %lld is %s: only a starting or running VM"
                            " can be stopped",
                            (long long)id, r.state);
    if (qvd_model_end(db, rc) < 0)
        return -1;
    if (r.host_id >= 0)
        wake_host(db, r.host_id);
    return 0;
}

int
qvd_model_vm_block(struct qvd_db *db, struct qvd_config *cfg, int64_t id, bool blocked)
{
    struct vm_row r;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = vm_get(db, id, &r);
    if (rc == 0 && qvd_db_exec(db, "UPDATE vm_runtimes SET blocked = ? WHERE vm_id = ?", "ii",
                               (int64_t)blocked, id) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

void
qvd_model_l7r_wake(struct qvd_db *db, int64_t host)
{
    char chan[64];

    snprintf(chan, sizeof(chan), QVD_CHAN_USER_CMD, (long long)host);
    qvd_db_notify(db, chan);
}

/* Asks the L7R that holds the VM's user session to end it (user_cmd 'abort' + wake-up). */
int
qvd_model_vm_disconnect(struct qvd_db *db, struct qvd_config *cfg, int64_t id)
{
    struct vm_row r;
    int64_t host = -1;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = vm_get(db, id, &r);
    if (rc == 0) {
        int f = qvd_db_get_int(db, &host,
                               "SELECT coalesce(l7r_host_id, -1) FROM vm_runtimes WHERE vm_id = ?"
                               " AND user_state IN ('connecting', 'connected')",
                               "i", id);
        if (f < 0)
            rc = qvd_model_dbfail(db);
        else if (f == 0)
            rc = qvd_model_fail(QVD_MODEL_CONFLICT, "no user is connected to VM %lld",
                                (long long)id);
        else if (qvd_db_exec(db,
                             "UPDATE vm_runtimes SET user_cmd = 'abort',"
                             " user_cmd_by = 'admin' WHERE vm_id = ?",
                             "i", id) < 0)
            rc = qvd_model_dbfail(db);
    }
    rc = qvd_model_end(db, rc);
    if (rc == 0 && host >= 0)
        qvd_model_l7r_wake(db, host);
    return rc;
}

void
qvd_model_vm_wake_l7r(struct qvd_db *db, int64_t id)
{
    int64_t host = -1;

    if (qvd_db_get_int(db, &host,
                       "SELECT coalesce(l7r_host_id, -1) FROM vm_runtimes WHERE vm_id = ?", "i",
                       id) == 1 &&
        host >= 0)
        qvd_model_l7r_wake(db, host);
}

/* ---- hosts ---- */

static int
host_free(struct qvd_db *db, const char *name, const char *address, int64_t self)
{
    int64_t other;
    int rc;

    if (name != NULL) {
        rc = qvd_db_get_int(db, &other, "SELECT id FROM hosts WHERE name = ? AND id <> ?", "si",
                            name, self);
        if (rc < 0)
            return qvd_model_dbfail(db);
        if (rc == 1)
            return qvd_model_fail(QVD_MODEL_CONFLICT, "host '%s' already exists (id %lld)", name,
                                  (long long)other);
    }
    if (address != NULL) {
        rc = qvd_db_get_int(db, &other, "SELECT id FROM hosts WHERE address = ? AND id <> ?", "si",
                            address, self);
        if (rc < 0)
            return qvd_model_dbfail(db);
        if (rc == 1)
            return qvd_model_fail(QVD_MODEL_CONFLICT, "address %s is already host %lld's", address,
                                  (long long)other);
    }
    return 0;
}

static int
host_exists(struct qvd_db *db, int64_t id)
{
    int rc = qvd_model_exists(db, "SELECT 1 FROM hosts WHERE id = ?", id);

    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND,
                              "host %lld does not exist (see qvd-admin host"
                              " list)",
                              (long long)id);
    return rc < 0 ? -1 : 0;
}

int
qvd_model_host_add(struct qvd_db *db, struct qvd_config *cfg, const char *name, const char *address,
                   const char *description, int64_t *id)
{
    char canon[16];
    uint32_t a;
    int64_t v;
    int rc;

    if (qvd_model_check_name("host name", name, 64) < 0)
        return -1;
    if (address == NULL || *address == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "host address is missing");
    if (qvd_model_ip_parse(address, &a) < 0)
        return -1;
    qvd_model_ip_format(a, canon);
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = host_free(db, name, canon, -1);
    if (rc == 0 &&
        (qvd_db_exec(db, "INSERT INTO hosts (name, address, description) VALUES (?, ?, ?)", "sss",
                     name, canon, description ? description : "") < 0 ||
         qvd_db_get_int(db, &v, "SELECT id FROM hosts WHERE name = ?", "s", name) != 1 ||
         qvd_db_exec(db, "INSERT INTO host_runtimes (host_id, state_ts) VALUES (?, ?)", "ii", v,
                     qvd_now()) < 0 ||
         qvd_db_exec(db, "INSERT INTO host_counters (host_id) VALUES (?)", "i", v) < 0))
        rc = qvd_model_dbfail(db);
    if (rc == 0 && id != NULL)
        *id = v;
    return qvd_model_end(db, rc);
}

int
qvd_model_host_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *name,
                   const char *address, const char *description, int frontend, int backend)
{
    char canon[16];
    uint32_t a;
    int rc;

    if (name != NULL && qvd_model_check_name("host name", name, 64) < 0)
        return -1;
    if (address != NULL) {
        if (qvd_model_ip_parse(address, &a) < 0)
            return -1;
        qvd_model_ip_format(a, canon);
        address = canon;
    }
    if (frontend > 1 || backend > 1)
        return qvd_model_fail(QVD_MODEL_INVALID, "frontend and backend are 0 or 1");
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = host_exists(db, id);
    if (rc == 0)
        rc = host_free(db, name, address, id);
    if (rc == 0 &&
        qvd_db_exec(db,
                    "UPDATE hosts SET name = coalesce(?, name), address = coalesce(?, address),"
                    " description = coalesce(?, description),"
                    " frontend = CASE WHEN ? < 0 THEN frontend ELSE ? END,"
                    " backend = CASE WHEN ? < 0 THEN backend ELSE ? END WHERE id = ?",
                    "sssiiiii", name, address, description, (int64_t)frontend, (int64_t)frontend,
                    (int64_t)backend, (int64_t)backend, id) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

int
qvd_model_host_block(struct qvd_db *db, struct qvd_config *cfg, int64_t id, bool blocked)
{
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = host_exists(db, id);
    if (rc == 0 && qvd_db_exec(db, "UPDATE host_runtimes SET blocked = ? WHERE host_id = ?", "ii",
                               (int64_t)blocked, id) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

int
qvd_model_host_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id)
{
    int64_t vm, fresh;
    int rc;

    if (qvd_db_clock(db, &fresh) < 0)
        return qvd_model_dbfail(db);
    fresh -= qvd_config_int(cfg, "hkd.cluster.node.timeout");
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = host_exists(db, id);
    if (rc == 0) {
        int f = qvd_db_get_int(db, &vm,
                               "SELECT vm_id FROM vm_runtimes WHERE host_id = ?"
                               " OR l7r_host_id = ? ORDER BY vm_id LIMIT 1",
                               "ii", id, id);
        if (f < 0)
            rc = qvd_model_dbfail(db);
        else if (f == 1)
            rc = qvd_model_fail(QVD_MODEL_CONFLICT,
                                "host %lld has VMs assigned (VM %lld): stop them first"
                                " (qvd-admin vm stop --id %lld)",
                                (long long)id, (long long)vm, (long long)vm);
    }
    if (rc == 0) {
        rc = qvd_db_get_int(db, &vm,
                            "SELECT 1 FROM host_runtimes WHERE host_id = ? AND state IN"
                            " ('starting','running','stopping') AND ok_ts >= ?",
                            "ii", id, fresh);
        if (rc < 0)
            rc = qvd_model_dbfail(db);
        else if (rc == 1)
            rc = qvd_model_fail(QVD_MODEL_CONFLICT, "host %lld runs qvd-hkd: stop it there first",
                                (long long)id);
    }
    if (rc == 0 && (qvd_model_prop_clear(db, "host", id) < 0 ||
                    qvd_db_exec(db, "DELETE FROM host_counters WHERE host_id = ?", "i", id) < 0 ||
                    qvd_db_exec(db, "DELETE FROM host_runtimes WHERE host_id = ?", "i", id) < 0 ||
                    qvd_db_exec(db, "DELETE FROM hosts WHERE id = ?", "i", id) < 0))
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

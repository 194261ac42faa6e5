/* model_l7r.c: the L7R's reads and writes (model_l7r.h). The L7R runs them on its worker
 * threads: nothing here touches more than the database connection it is given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "model.h"
#include "model_int.h"
#include "model_l7r.h"
#include "util.h"

int
qvd_model_l7r_host(struct qvd_db *db, const char *nodename, int64_t *host_id)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT h.id, r.state, r.blocked FROM hosts h"
                                       " LEFT JOIN host_runtimes r ON r.host_id = h.id"
                                       " WHERE h.name = ?",
                                       "s", nodename);
    const char *state;
    int rc;

    *host_id = -1;
    if (st == NULL) {
        qvd_model_dbfail(db);
        return qvd_seterr("Server database error");
    }
    rc = qvd_db_step(st);
    if (rc != 1) {
        qvd_db_done(st);
        if (rc < 0) {
            qvd_model_dbfail(db);
            return qvd_seterr("Server database error");
        }
        return qvd_model_fail(QVD_MODEL_NOT_FOUND, "Host is not registered in the database");
    }
    *host_id = qvd_db_int(st, 0);
    state = qvd_db_text(st, 1);
    if (qvd_db_int(st, 2) != 0)
        rc = qvd_model_fail(QVD_MODEL_BUSY, "Server is blocked");
    else if (state == NULL || strcmp(state, "running") != 0)
        rc = qvd_model_fail(QVD_MODEL_BUSY, "Server is %s", state ? state : "stopped");
    else
        rc = 0;
    qvd_db_done(st);
    return rc;
}

int
qvd_model_l7r_counter(struct qvd_db *db, int64_t host_id, const char *name, int64_t n)
{
    static const char *const counters[] = {"http_requests", "auth_attempts", "auth_ok",
                                           "nx_attempts",   "nx_ok",         "short_sessions"};
    char sql[128];

    for (size_t i = 0; i < QVD_ARRAY_LEN(counters); i++) {
        if (strcmp(name, counters[i]) != 0)
            continue;
        /* the column is one of the names above, never the caller's string */
        snprintf(sql, sizeof(sql), "UPDATE host_counters SET %s = %s + ? WHERE host_id = ?",
                 counters[i], counters[i]);
        return qvd_db_exec(db, sql, "ii", n, host_id) < 0 ? qvd_model_dbfail(db) : 0;
    }
    return qvd_model_fail(QVD_MODEL_INVALID, "no host counter '%s'", name);
}

int
qvd_model_l7r_check_access(struct qvd_db *db)
{
    int64_t n;

    if (qvd_db_get_int(db, &n, "SELECT count(*) FROM hosts", NULL) < 0 ||
        qvd_db_exec(db,
                    "UPDATE host_counters SET http_requests = http_requests"
                    " WHERE host_id = -1",
                    NULL) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

int64_t
qvd_model_l7r_release_stale(struct qvd_db *db, int64_t host_id, int64_t pid)
{
    int64_t n = qvd_db_exec(db,
                            "UPDATE vm_runtimes SET user_state = 'disconnected', user_cmd = NULL,"
                            " l7r_host_id = NULL, l7r_pid = NULL, user_state_ts = ?"
                            " WHERE l7r_host_id = ? AND (l7r_pid IS NULL OR l7r_pid <> ?)",
                            "iii", qvd_now(), host_id, pid);
    return n < 0 ? qvd_model_dbfail(db) : n;
}

int
qvd_model_l7r_slot_release(struct qvd_db *db, int64_t host_id, int64_t pid, int64_t vm_id)
{
    if (qvd_db_exec(db,
                    "UPDATE vm_runtimes SET user_state = 'disconnected', user_cmd = NULL,"
                    " user_cmd_by = NULL, l7r_host_id = NULL, l7r_pid = NULL, user_state_ts = ?"
                    " WHERE vm_id = ? AND l7r_host_id = ? AND l7r_pid = ?",
                    "iiii", qvd_now(), vm_id, host_id, pid) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

/* Who holds the slot of vm_id (inside the caller's transaction): 0, or -1. */
static int
holder(struct qvd_db *db, int64_t vm_id, struct qvd_model_l7r_holder *held)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT user_state, l7r_host_id, l7r_pid FROM vm_runtimes"
                                       " WHERE vm_id = ?",
                                       "i", vm_id);
    int rc;

    *held = (struct qvd_model_l7r_holder){.host_id = -1, .pid = -1};
    if (st == NULL || (rc = qvd_db_step(st)) < 0) {
        qvd_db_done(st);
        return qvd_model_dbfail(db);
    }
    if (rc == 1) {
        snprintf(held->state, sizeof(held->state), "%s", qvd_db_text(st, 0));
        held->host_id = qvd_db_is_null(st, 1) ? -1 : qvd_db_int(st, 1);
        held->pid = qvd_db_is_null(st, 2) ? -1 : qvd_db_int(st, 2);
    }
    qvd_db_done(st);
    return 0;
}

int
qvd_model_l7r_slot_take(struct qvd_db *db, int64_t host_id, int64_t pid, int64_t vm_id,
                        int64_t user_id, struct qvd_model_l7r_holder *held)
{
    int64_t n;

    if (qvd_model_begin(db) < 0)
        return -1;
    n = qvd_db_exec(db,
                    "UPDATE vm_runtimes SET user_state = 'connecting', l7r_host_id = ?,"
                    " l7r_pid = ?, user_cmd = NULL, user_cmd_by = NULL, user_state_ts = ?,"
                    " real_user_id = ?"
                    " WHERE vm_id = ? AND user_state = 'disconnected'",
                    "iiiii", host_id, pid, qvd_now(), user_id, vm_id);
    if (n < 0 || (n == 0 && holder(db, vm_id, held) < 0)) {
        qvd_db_rollback(db);
        return n < 0 ? qvd_model_dbfail(db) : -1;
    }
    if (n == 1)
        return qvd_model_end(db, 0) < 0 ? -1 : 1;
    if (held->host_id == host_id && held->pid == pid) {
        qvd_db_rollback(db);
        return 2;
    }
    if (qvd_db_exec(db,
                    "UPDATE vm_runtimes SET user_cmd = 'abort',"
                    " user_cmd_by = 'takeover' WHERE vm_id = ?"
                    " AND user_state IN ('connecting', 'connected')",
                    "i", vm_id) < 0) {
        qvd_db_rollback(db);
        return qvd_model_dbfail(db);
    }
    if (qvd_model_end(db, 0) < 0)
        return -1;
    if (held->host_id >= 0)
        qvd_model_l7r_wake(db, held->host_id);
    return 0;
}

int
qvd_model_l7r_slot_connected(struct qvd_db *db, int64_t host_id, int64_t pid, int64_t vm_id)
{
    int64_t n = qvd_db_exec(db,
                            "UPDATE vm_runtimes SET user_state = 'connected', user_state_ts = ?"
                            " WHERE vm_id = ? AND l7r_host_id = ? AND l7r_pid = ?"
                            " AND user_state = 'connecting' AND user_cmd IS NULL",
                            "iiii", qvd_now(), vm_id, host_id, pid);
    return n < 0 ? qvd_model_dbfail(db) : n == 1;
}

int
qvd_model_l7r_aborted(struct qvd_db *db, int64_t host_id, int64_t pid, int64_t *ids, size_t max)
{
    /* aborted by a takeover or an administrator, or the VM stopped under the session
     * (a container that vanishes may never close the VMA's TCP connection) */
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT vm_id FROM vm_runtimes WHERE l7r_host_id = ?"
                                       " AND l7r_pid = ? AND (user_cmd = 'abort' OR"
                                       " (user_state = 'connected' AND vm_state <> 'running'))",
                                       "ii", host_id, pid);
    size_t n = 0;
    int rc = 0;

    while (st && n < max && (rc = qvd_db_step(st)) == 1)
        ids[n++] = qvd_db_int(st, 0);
    qvd_db_done(st);
    return st == NULL || rc < 0 ? qvd_model_dbfail(db) : (int)n;
}

int
qvd_model_l7r_vm(struct qvd_db *db, int64_t host_id, int64_t pid, int64_t vm_id,
                 struct qvd_model_l7r_vm *vm)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT vm_state, vm_cmd, user_cmd, l7r_host_id, l7r_pid,"
                                       " vm_address, vm_vma_port, vma_secret"
                                       " FROM vm_runtimes WHERE vm_id = ?",
                                       "i", vm_id);
    int rc;

    memset(vm, 0, sizeof(*vm));
    if (st == NULL || (rc = qvd_db_step(st)) < 0) {
        qvd_db_done(st);
        return qvd_model_dbfail(db);
    }
    if (rc == 1) {
        snprintf(vm->state, sizeof(vm->state), "%s", qvd_db_text(st, 0));
        vm->cmd = qvd_db_text(st, 1) != NULL && *qvd_db_text(st, 1) != '\0';
        vm->mine = !qvd_db_is_null(st, 3) && qvd_db_int(st, 3) == host_id &&
                   qvd_db_int(st, 4) == pid && qvd_db_is_null(st, 2);
        /* a VM asked to stop (vm stop, host evacuate) is not connected to: the session
         * waits for it to stop and starts it again, where placement puts it */
        vm->ready = strcmp(vm->state, "running") == 0 &&
                    !(vm->cmd && strcmp(qvd_db_text(st, 1), "stop") == 0) && qvd_db_text(st, 5) &&
                    !qvd_db_is_null(st, 6);
        if (vm->ready) {
            vm->vma_host = qvd_xstrdup(qvd_db_text(st, 5));
            vm->vma_port = (int)qvd_db_int(st, 6);
            vm->vma_secret = qvd_xstrdup(qvd_db_text(st, 7) ? qvd_db_text(st, 7) : "");
        }
    }
    qvd_db_done(st);
    return rc;
}

int
qvd_model_l7r_vm_owner(struct qvd_db *db, int64_t vm_id, int64_t *user_id, bool *blocked)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT v.user_id, r.blocked FROM vms v"
                                       " LEFT JOIN vm_runtimes r ON r.vm_id = v.id"
                                       " WHERE v.id = ?",
                                       "i", vm_id);
    int rc;

    if (st == NULL || (rc = qvd_db_step(st)) < 0) {
        qvd_db_done(st);
        return qvd_model_dbfail(db);
    }
    if (rc == 1) {
        *user_id = qvd_db_int(st, 0);
        *blocked = !qvd_db_is_null(st, 1) && qvd_db_int(st, 1) != 0;
    }
    qvd_db_done(st);
    return rc;
}

int
qvd_model_l7r_vm_stopped(struct qvd_db *db, int64_t vm_id, char *state, size_t len)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT vm_state, vm_cmd FROM vm_runtimes"
                                       " WHERE vm_id = ?",
                                       "i", vm_id);
    int rc;

    snprintf(state, len, "?");
    if (st == NULL || (rc = qvd_db_step(st)) < 0) {
        qvd_db_done(st);
        return qvd_model_dbfail(db);
    }
    if (rc == 1) {
        snprintf(state, len, "%s", qvd_db_text(st, 0));
        rc = strcmp(state, "stopped") == 0 && qvd_db_is_null(st, 1);
    }
    qvd_db_done(st);
    return rc;
}

int
qvd_model_l7r_user_vms(struct qvd_db *db, int64_t user_id, bool applications,
                       void (*fn)(void *arg, const struct qvd_model_l7r_vm_row *r), void *arg)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT v.id, r.vm_state, v.name, r.blocked,"
                                       " o.is_application FROM vms v"
                                       " JOIN vm_runtimes r ON r.vm_id = v.id"
                                       " JOIN osfs o ON o.id = v.osf_id"
                                       " WHERE v.user_id = ? AND o.is_application = ?"
                                       " ORDER BY v.id",
                                       "ii", user_id, (int64_t)applications);
    int rc = 0;

    while (st && (rc = qvd_db_step(st)) == 1) {
        struct qvd_model_l7r_vm_row r = {
            .id = qvd_db_int(st, 0),
            .state = qvd_db_text(st, 1),
            .name = qvd_db_text(st, 2),
            .blocked = qvd_db_int(st, 3),
            .is_application = qvd_db_int(st, 4) != 0,
        };
        fn(arg, &r);
    }
    qvd_db_done(st);
    return st == NULL || rc < 0 ? qvd_model_dbfail(db) : 0;
}

int
qvd_model_l7r_user(struct qvd_db *db, int64_t id, struct qvd_model_l7r_user *u)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT u.login, u.tenant_id, u.blocked, t.blocked"
                                       " FROM users u JOIN tenants t ON t.id = u.tenant_id"
                                       " WHERE u.id = ?",
                                       "i", id);
    int rc;

    if (st == NULL || (rc = qvd_db_step(st)) < 0) {
        qvd_db_done(st);
        return qvd_model_dbfail(db);
    }
    if (rc == 1) {
        u->id = id;
        u->tenant_id = qvd_db_int(st, 1);
        snprintf(u->login, sizeof(u->login), "%s", qvd_db_text(st, 0));
        rc = qvd_db_int(st, 2) == 0 && qvd_db_int(st, 3) == 0 && u->tenant_id > 0;
    }
    qvd_db_done(st);
    return rc;
}

int
qvd_model_l7r_user_hash(struct qvd_db *db, int64_t id, char **hash)
{
    struct qvd_stmt *st = qvd_db_query(db, "SELECT password FROM users WHERE id = ?", "i", id);
    int rc;

    if (st == NULL || (rc = qvd_db_step(st)) < 0) {
        qvd_db_done(st);
        return qvd_model_dbfail(db);
    }
    if (rc == 1)
        *hash = qvd_xstrdup(qvd_db_text(st, 0) ? qvd_db_text(st, 0) : "");
    qvd_db_done(st);
    return rc;
}

int
qvd_model_l7r_token_add(struct qvd_db *db, const char *key, int64_t user_id, int64_t expiration)
{
    if (qvd_db_exec(db,
                    "INSERT INTO user_tokens (token, user_id, vm_id, expiration, multi_use)"
                    " VALUES (?, ?, NULL, ?, 1)",
                    "sii", key, user_id, expiration) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

int
qvd_model_l7r_token_use(struct qvd_db *db, const char *key, int64_t now, int64_t *user_id)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT user_id, expiration, multi_use FROM user_tokens"
                                       " WHERE token = ?",
                                       "s", key);
    int64_t expiration = 0, multi = 0;
    int rc;

    if (st == NULL || (rc = qvd_db_step(st)) < 0) {
        qvd_db_done(st);
        return qvd_model_dbfail(db);
    }
    if (rc == 1) {
        *user_id = qvd_db_int(st, 0);
        expiration = qvd_db_int(st, 1);
        multi = qvd_db_int(st, 2);
    }
    qvd_db_done(st);
    if (rc != 1)
        return 0;
    if (expiration <= now || !multi) {
        /* expired: gone; single use: this use is the only one */
        if (qvd_db_exec(db, "DELETE FROM user_tokens WHERE token = ?", "s", key) < 0)
            return qvd_model_dbfail(db);
        if (expiration <= now)
            return 0;
    }
    return 1;
}

int
qvd_model_l7r_vm_app(struct qvd_db *db, int64_t vm_id, char **command)
{
    /* the VM's own property wins over its running DI's, which wins over its OSF's */
    struct qvd_stmt *st =
        qvd_db_query(db,
                     "SELECT o.is_application,"
                     " (SELECT p.value FROM properties p WHERE p.key = 'qvd.app.command' AND"
                     " ((p.object = 'vm' AND p.object_id = v.id) OR"
                     " (p.object = 'di' AND p.object_id = r.current_di_id) OR"
                     " (p.object = 'osf' AND p.object_id = v.osf_id))"
                     " ORDER BY CASE p.object WHEN 'vm' THEN 0 WHEN 'di' THEN 1 ELSE 2 END LIMIT 1)"
                     " FROM vms v JOIN osfs o ON o.id = v.osf_id"
                     " LEFT JOIN vm_runtimes r ON r.vm_id = v.id WHERE v.id = ?",
                     "i", vm_id);
    int rc;

    *command = NULL;
    if (st == NULL || (rc = qvd_db_step(st)) < 0) {
        qvd_db_done(st);
        return qvd_model_dbfail(db);
    }
    if (rc == 1) {
        rc = qvd_db_int(st, 0) != 0;
        const char *cmd = qvd_db_text(st, 1);
        if (rc == 1 && cmd != NULL && *cmd != '\0')
            *command = qvd_xstrdup(cmd);
    }
    qvd_db_done(st);
    return rc;
}

/* model_stats.c: the dashboard's counts and the live feed's views (see model_stats.h). */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "model_stats.h"
#include "util.h"

#define USERS " FROM users u WHERE (? = 1 OR u.tenant_id = ?)"
#define VMS                                                                                        \
    " FROM vms v JOIN users u ON u.id = v.user_id LEFT JOIN vm_runtimes r ON r.vm_id = v.id"       \
    " WHERE (? = 1 OR u.tenant_id = ?)"
#define OSFS " WHERE (? = 1 OR o.tenant_id IN (?, -1))"
/* host counts are not per tenant: their two '?' only keep one binding for every count */
#define ANY " WHERE (? >= 0 OR ? >= 0)"

struct count {
    const char *name;
    bool host; /* needs host.see */
    const char *sql;
};

static const struct count counts[] = {
    {"users", false, "SELECT count(*)" USERS},
    {"blocked_users", false, "SELECT count(*)" USERS " AND u.blocked = 1"},
    {"vms", false, "SELECT count(*)" VMS},
    {"blocked_vms", false, "SELECT count(*)" VMS " AND r.blocked = 1"},
    {"running_vms", false, "SELECT count(*)" VMS " AND r.vm_state = 'running'"},
    {"connected_users", false, "SELECT count(*)" VMS " AND r.user_state = 'connected'"},
    {"vms_close_to_expiration", false,
     "SELECT count(*)" VMS " AND r.vm_expiration_soft IS NOT NULL"},
    {"osfs", false, "SELECT count(*) FROM osfs o" OSFS},
    {"dis", false, "SELECT count(*) FROM dis d JOIN osfs o ON o.id = d.osf_id" OSFS},
    {"blocked_dis", false,
     "SELECT count(*) FROM dis d JOIN osfs o ON o.id = d.osf_id" OSFS " AND d.blocked = 1"},
    {"hosts", true, "SELECT count(*) FROM hosts" ANY},
    {"blocked_hosts", true, "SELECT count(*) FROM host_runtimes" ANY " AND blocked = 1"},
    {"running_hosts", true, "SELECT count(*) FROM host_runtimes" ANY " AND state = 'running'"},
};

int
qvd_model_stats(struct qvd_db *db, const struct qvd_model_scope *scope, bool hosts,
                void (*put)(void *arg, const char *name, int64_t n), void *arg)
{
    for (size_t i = 0; i < QVD_ARRAY_LEN(counts); i++) {
        int64_t n = 0;
        if (counts[i].host && !hosts)
            continue;
        if (qvd_db_get_int(db, &n, counts[i].sql, "ii", (int64_t)scope->all, scope->tenant_id) < 0)
            return -1;
        put(arg, counts[i].name, n);
    }
    return 0;
}

int
qvd_model_stats_top_hosts(struct qvd_db *db, const struct qvd_model_scope *scope,
                          void (*put)(void *arg, int64_t id, const char *name, int64_t vms),
                          void *arg)
{
    struct qvd_stmt *st =
        qvd_db_query(db,
                     "SELECT h.id, h.name, count(v.id) AS n FROM hosts h"
                     " JOIN vm_runtimes r ON r.host_id = h.id JOIN vms v ON v.id = r.vm_id"
                     " JOIN users u ON u.id = v.user_id WHERE (? = 1 OR u.tenant_id = ?)"
                     " GROUP BY h.id, h.name ORDER BY n DESC, h.id LIMIT 5",
                     "ii", (int64_t)scope->all, scope->tenant_id);
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = qvd_db_step(st)) == 1)
        put(arg, qvd_db_int(st, 0), qvd_db_text(st, 1), qvd_db_int(st, 2));
    qvd_db_done(st);
    return rc;
}

int
qvd_model_vm_changes(struct qvd_db *db, int64_t since,
                     void (*put)(void *arg, const struct qvd_model_vm_seen *v), void *arg)
{
    /* two indexed timestamps: a UNION of two range scans, not one OR over both */
    struct qvd_stmt *st = qvd_db_query(
        db,
        "SELECT r.vm_id, r.vm_state, r.user_state, coalesce(r.host_id, -1), u.tenant_id"
        " FROM vm_runtimes r JOIN vms v ON v.id = r.vm_id JOIN users u ON u.id = v.user_id"
        " WHERE r.vm_state_ts >= ? UNION SELECT r.vm_id, r.vm_state, r.user_state,"
        " coalesce(r.host_id, -1), u.tenant_id FROM vm_runtimes r JOIN vms v ON v.id = r.vm_id"
        " JOIN users u ON u.id = v.user_id WHERE r.user_state_ts >= ?",
        "ii", since, since);
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = qvd_db_step(st)) == 1) {
        struct qvd_model_vm_seen v = {
            .id = qvd_db_int(st, 0),
            .state = qvd_db_text(st, 1),
            .user_state = qvd_db_text(st, 2),
            .host_id = qvd_db_int(st, 3),
            .tenant_id = qvd_db_int(st, 4),
        };
        put(arg, &v);
    }
    qvd_db_done(st);
    return rc;
}

int
qvd_model_host_states(struct qvd_db *db,
                      void (*put)(void *arg, const struct qvd_model_host_seen *h), void *arg)
{
    struct qvd_stmt *st =
        qvd_db_query(db,
                     "SELECT h.id, coalesce(r.state, 'stopped'),"
                     " coalesce(r.blocked, 0) FROM hosts h"
                     " LEFT JOIN host_runtimes r ON r.host_id = h.id ORDER BY h.id",
                     NULL);
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = qvd_db_step(st)) == 1) {
        struct qvd_model_host_seen h = {
            .id = qvd_db_int(st, 0),
            .state = qvd_db_text(st, 1),
            .blocked = qvd_db_int(st, 2) != 0,
        };
        put(arg, &h);
    }
    qvd_db_done(st);
    return rc;
}

void
qvd_model_table_free(struct qvd_model_table *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncol; c++)
            free(t->rows[r][c]);
        free(t->rows[r]);
    }
    for (int c = 0; c < t->ncol; c++)
        free(t->names[c]);
    free(t->rows);
    free(t->names);
    memset(t, 0, sizeof(*t));
}

int
qvd_model_table_read(struct qvd_stmt *st, struct qvd_model_table *t)
{
    int rc;

    memset(t, 0, sizeof(*t));
    if (st == NULL)
        return -1;
    t->ncol = qvd_db_columns(st);
    t->names = qvd_xcalloc((size_t)t->ncol + 1, sizeof(*t->names));
    for (int c = 0; c < t->ncol; c++)
        t->names[c] = qvd_xstrdup(qvd_db_column_name(st, c));
    while ((rc = qvd_db_step(st)) == 1) {
        char **row = qvd_xcalloc((size_t)t->ncol + 1, sizeof(*row));
        for (int c = 0; c < t->ncol; c++) {
            const char *v = qvd_db_text(st, c);
            row[c] = v ? qvd_xstrdup(v) : NULL;
        }
        t->rows = qvd_xrealloc(t->rows, (t->nrows + 1) * sizeof(*t->rows));
        t->rows[t->nrows++] = row;
    }
    qvd_db_done(st);
    if (rc < 0)
        qvd_model_table_free(t);
    return rc < 0 ? -1 : 0;
}

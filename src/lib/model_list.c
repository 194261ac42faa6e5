/* model_list.c: the listings every front-end shows, one query per object. Columns are named
 * for display; filters follow struct qvd_model_filter. */
#include <stdlib.h>

#include "db.h"
#include "model_int.h"
#include "util.h"

static struct qvd_stmt *
checked(struct qvd_db *db, struct qvd_stmt *st)
{
    if (st == NULL)
        qvd_model_dbfail(db);
    return st;
}

struct qvd_stmt *
qvd_model_tenant_list(struct qvd_db *db, const struct qvd_model_filter *f)
{
    return checked(db, qvd_db_query(db,
                                    "SELECT id, name, blocked, description FROM tenants"
                                    " WHERE (? < 0 OR id = ?) AND (? IS NULL OR name = ?)"
                                    " ORDER BY id",
                                    "iiss", f->id, f->id, f->name, f->name));
}

struct qvd_stmt *
qvd_model_user_list(struct qvd_db *db, const struct qvd_model_filter *f)
{
    return checked(
        db, qvd_db_query(db,
                         "SELECT u.id, u.login, t.name AS tenant, u.blocked, u.language,"
                         " (SELECT count(*) FROM vms v WHERE v.user_id = u.id) AS vms,"
                         " u.description FROM users u JOIN tenants t ON t.id = u.tenant_id"
                         " WHERE (? < 0 OR u.id = ?) AND (? < -1 OR u.tenant_id = ?)"
                         " AND (? IS NULL OR u.login = ?) ORDER BY u.id",
                         "iiiiss", f->id, f->id, f->tenant_id, f->tenant_id, f->name, f->name));
}

struct qvd_stmt *
qvd_model_osf_list(struct qvd_db *db, const struct qvd_model_filter *f)
{
    return checked(
        db, qvd_db_query(db,
                         "SELECT o.id, o.name, t.name AS tenant, o.memory, o.use_overlay,"
                         " o.user_storage_size, o.is_application,"
                         " (SELECT count(*) FROM dis d WHERE d.osf_id = o.id) AS dis,"
                         " (SELECT count(*) FROM vms v WHERE v.osf_id = o.id) AS vms,"
                         " o.description FROM osfs o JOIN tenants t ON t.id = o.tenant_id"
                         " WHERE (? < 0 OR o.id = ?) AND (? < -1 OR o.tenant_id = ?)"
                         " AND (? IS NULL OR o.name = ?) ORDER BY o.id",
                         "iiiiss", f->id, f->id, f->tenant_id, f->tenant_id, f->name, f->name));
}

/* Tags are joined by the back-end's string aggregate (group_concat, string_agg). */
struct qvd_stmt *
qvd_model_di_list(struct qvd_db *db, const struct qvd_model_filter *f)
{
    char *sql = qvd_xasprintf("SELECT d.id, o.name AS osf, d.osf_id, d.version, d.path, d.blocked,"
                              " r.state, (SELECT %s(tag, ',') FROM (SELECT tag FROM di_tags"
                              " g WHERE g.di_id = d.id ORDER BY g.fixed DESC, g.tag) AS t) AS tags,"
                              " d.description FROM dis d JOIN osfs o ON o.id = d.osf_id"
                              " LEFT JOIN di_runtimes r ON r.di_id = d.id"
                              " WHERE (? < 0 OR d.id = ?) AND (? < -1 OR o.tenant_id = ?)"
                              " AND (? < 0 OR d.osf_id = ?) AND (? IS NULL OR d.version = ?)"
                              " ORDER BY d.id",
                              db->ops->string_agg);
    struct qvd_stmt *st = qvd_db_query(db, sql, "iiiiiiss", f->id, f->id, f->tenant_id,
                                       f->tenant_id, f->osf_id, f->osf_id, f->name, f->name);

    free(sql);
    return checked(db, st);
}

struct qvd_stmt *
qvd_model_vm_list(struct qvd_db *db, const struct qvd_model_filter *f)
{
    return checked(
        db, qvd_db_query(db,
                         "SELECT v.id, v.name, u.login AS user, t.name AS tenant, o.name AS osf,"
                         " v.di_tag, v.ip, v.mac, r.vm_state AS state, r.vm_cmd AS cmd,"
                         " h.name AS host, r.blocked, r.user_state, v.description"
                         " FROM vms v JOIN users u ON u.id = v.user_id"
                         " JOIN tenants t ON t.id = u.tenant_id JOIN osfs o ON o.id = v.osf_id"
                         " LEFT JOIN vm_runtimes r ON r.vm_id = v.id"
                         " LEFT JOIN hosts h ON h.id = r.host_id"
                         " WHERE (? < 0 OR v.id = ?) AND (? < -1 OR u.tenant_id = ?)"
                         " AND (? < 0 OR v.osf_id = ?) AND (? < 0 OR v.user_id = ?)"
                         " AND (? IS NULL OR v.name = ?) ORDER BY v.id",
                         "iiiiiiiiss", f->id, f->id, f->tenant_id, f->tenant_id, f->osf_id,
                         f->osf_id, f->user_id, f->user_id, f->name, f->name));
}

struct qvd_stmt *
qvd_model_host_list(struct qvd_db *db, const struct qvd_model_filter *f)
{
    return checked(
        db, qvd_db_query(db,
                         "SELECT h.id, h.name, h.address, h.frontend, h.backend, r.state,"
                         " r.blocked, r.ok_ts, r.usable_ram, r.usable_cpu,"
                         " (SELECT count(*) FROM vm_runtimes x WHERE x.host_id = h.id) AS vms,"
                         " h.description FROM hosts h LEFT JOIN host_runtimes r"
                         " ON r.host_id = h.id WHERE (? < 0 OR h.id = ?)"
                         " AND (? IS NULL OR h.name = ?) ORDER BY h.id",
                         "iiss", f->id, f->id, f->name, f->name));
}

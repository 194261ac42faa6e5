/* model.c: shared parts of the model layer: error kinds, transactions, validation, lookups,
 * tenants, configs and properties. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "model_int.h"
#include "util.h"

static __thread enum qvd_model_errkind last_kind;

enum qvd_model_errkind
qvd_model_errkind(void)
{
    return last_kind;
}

const char *
qvd_model_errkind_name(enum qvd_model_errkind kind)
{
    static const char *names[] = {"ok",   "invalid",  "not found", "conflict",
                                  "busy", "internal", "forbidden"};
    return (unsigned)kind < QVD_ARRAY_LEN(names) ? names[kind] : "internal";
}

int
qvd_model_fail(enum qvd_model_errkind kind, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    last_kind = kind;
    return qvd_seterr("%s", msg);
}

int
qvd_model_dbfail(struct qvd_db *db)
{
    switch (qvd_db_errkind(db)) {
    case QVD_DB_BUSY:
        last_kind = QVD_MODEL_BUSY;
        break;
    case QVD_DB_CONSTRAINT:
        last_kind = QVD_MODEL_CONFLICT;
        break;
    default:
        last_kind = QVD_MODEL_INTERNAL;
        break;
    }
    return -1;
}

int
qvd_model_begin(struct qvd_db *db)
{
    last_kind = QVD_MODEL_OK;
    if (qvd_db_begin(db) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

int
qvd_model_end(struct qvd_db *db, int rc)
{
    if (rc < 0) {
        qvd_db_rollback(db);
        return -1;
    }
    if (qvd_db_commit(db) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

int
qvd_model_check_name(const char *what, const char *s, size_t max)
{
    size_t len;

    if (s == NULL || *s == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "%s is missing", what);
    len = strlen(s);
    if (len > max)
        return qvd_model_fail(QVD_MODEL_INVALID, "%s '%.40s...' is longer than %zu characters",
                              what, s, max);
    if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[len - 1]))
        return qvd_model_fail(QVD_MODEL_INVALID, "%s '%s' starts or ends with a space", what, s);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return qvd_model_fail(QVD_MODEL_INVALID, "%s contains a control character", what);
    return 0;
}

int
qvd_model_exists(struct qvd_db *db, const char *sql, int64_t id)
{
    int64_t v;
    int rc = qvd_db_get_int(db, &v, sql, "i", id);

    if (rc < 0)
        return qvd_model_dbfail(db);
    return rc;
}

int
qvd_model_need(struct qvd_db *db, const char *table, const char *what, int64_t id)
{
    char sql[96];
    int rc;

    snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = ?", table);
    rc = qvd_model_exists(db, sql, id);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND, "%s %lld does not exist", what, (long long)id);
    return rc < 0 ? -1 : 0;
}

int
qvd_model_count(struct qvd_db *db, int64_t *out, const char *sql, int64_t id)
{
    int rc = qvd_db_get_int(db, out, sql, "i", id);

    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        *out = 0;
    return 0;
}

int
qvd_model_name_free(struct qvd_db *db, const char *table, const char *column, const char *what,
                    int64_t tenant_id, const char *name, int64_t self)
{
    char sql[160];
    int64_t other;
    int rc;

    snprintf(sql, sizeof(sql), "SELECT id FROM %s WHERE tenant_id = ? AND %s = ? AND id <> ?",
             table, column);
    rc = qvd_db_get_int(db, &other, sql, "isi", tenant_id, name, self);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 1)
        return qvd_model_fail(QVD_MODEL_CONFLICT, "%s '%s' already exists in tenant '%s' (id %lld)",
                              what, name, qvd_model_tenant_name(db, tenant_id), (long long)other);
    return 0;
}

const char *
qvd_model_tenant_name(struct qvd_db *db, int64_t id)
{
    static __thread char name[80];
    struct qvd_stmt *st = qvd_db_query(db, "SELECT name FROM tenants WHERE id = ?", "i", id);

    snprintf(name, sizeof(name), "%lld", (long long)id);
    if (st != NULL && qvd_db_step(st) == 1)
        snprintf(name, sizeof(name), "%s", qvd_db_text(st, 0));
    qvd_db_done(st);
    return name;
}

/* ---- lookups ---- */

int
qvd_model_tenant_find(struct qvd_db *db, const char *name, int64_t *id)
{
    int rc;

    if (name == NULL || *name == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "tenant name is missing");
    rc = qvd_db_get_int(db, id, "SELECT id FROM tenants WHERE name = ?", "s", name);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND,
                              "tenant '%s' does not exist (see qvd-admin tenant list)", name);
    return 0;
}

int
qvd_model_host_find(struct qvd_db *db, const char *name, int64_t *id)
{
    int rc = qvd_db_get_int(db, id, "SELECT id FROM hosts WHERE name = ?", "s", name);

    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND,
                              "host '%s' does not exist (see qvd-admin host list)", name);
    return 0;
}

int
qvd_model_osf_find(struct qvd_db *db, int64_t tenant_id, const char *name, int64_t *id)
{
    int rc = qvd_db_get_int(db, id,
                            "SELECT id FROM osfs WHERE name = ? AND tenant_id IN (?, -1)"
                            " ORDER BY tenant_id = -1 LIMIT 1",
                            "si", name, tenant_id);

    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND,
                              "OSF '%s' does not exist in tenant '%s' nor in the common tenant",
                              name, qvd_model_tenant_name(db, tenant_id));
    return 0;
}

/* ---- tenants ---- */

int
qvd_model_tenant_add(struct qvd_db *db, struct qvd_config *cfg, const char *name,
                     const char *description, int64_t *id)
{
    int64_t v;
    int rc;

    if (qvd_model_check_name("tenant name", name, 64) < 0)
        return -1;
    if (strpbrk(name, "@") != NULL)
        return qvd_model_fail(QVD_MODEL_INVALID, "tenant name '%s' contains '@'", name);
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_db_get_int(db, &v, "SELECT id FROM tenants WHERE name = ?", "s", name);
    if (rc < 0)
        rc = qvd_model_dbfail(db);
    else if (rc == 1)
        rc = qvd_model_fail(QVD_MODEL_CONFLICT, "tenant '%s' already exists (id %lld)", name,
                            (long long)v);
    else if (qvd_db_exec(db, "INSERT INTO tenants (name, description) VALUES (?, ?)", "ss", name,
                         description ? description : "") < 0 ||
             qvd_db_get_int(db, &v, "SELECT id FROM tenants WHERE name = ?", "s", name) != 1)
        rc = qvd_model_dbfail(db);
    else if (id != NULL)
        *id = v;
    return qvd_model_end(db, rc);
}

static int
tenant_check_editable(struct qvd_db *db, int64_t id)
{
    if (qvd_model_need(db, "tenants", "tenant", id) < 0)
        return -1;
    if (id == QVD_TENANT_COMMON || id == QVD_TENANT_SUPER)
        return qvd_model_fail(QVD_MODEL_INVALID, "tenant %lld is built in and cannot be changed",
                              (long long)id);
    return 0;
}

int
qvd_model_tenant_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *name,
                     const char *description, int blocked)
{
    int64_t other;
    int rc;

    if (name != NULL && qvd_model_check_name("tenant name", name, 64) < 0)
        return -1;
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = tenant_check_editable(db, id);
    if (rc == 0 && name != NULL) {
        int f = qvd_db_get_int(db, &other, "SELECT id FROM tenants WHERE name = ? AND id <> ?",
                               "si", name, id);
        if (f < 0)
            rc = qvd_model_dbfail(db);
        else if (f == 1)
            rc = qvd_model_fail(QVD_MODEL_CONFLICT, "tenant '%s' already exists (id %lld)", name,
                                (long long)other);
        else if (qvd_db_exec(db, "UPDATE tenants SET name = ? WHERE id = ?", "si", name, id) < 0)
            rc = qvd_model_dbfail(db);
    }
    if (rc == 0 && description != NULL &&
        qvd_db_exec(db, "UPDATE tenants SET description = ? WHERE id = ?", "si", description, id) <
            0)
        rc = qvd_model_dbfail(db);
    if (rc == 0 && blocked >= 0 &&
        qvd_db_exec(db, "UPDATE tenants SET blocked = ? WHERE id = ?", "ii",
                    (int64_t)(blocked != 0), id) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

int
qvd_model_tenant_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id)
{
    int64_t n = 0;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = tenant_check_editable(db, id);
    if (rc == 0 &&
        (rc = qvd_model_count(db, &n, "SELECT count(*) FROM users WHERE tenant_id = ?", id)) == 0 &&
        n > 0)
        rc = qvd_model_fail(QVD_MODEL_CONFLICT,
                            "tenant %lld has %lld users: delete them first (qvd-admin user del)",
                            (long long)id, (long long)n);
    if (rc == 0 &&
        (rc = qvd_model_count(db, &n, "SELECT count(*) FROM osfs WHERE tenant_id = ?", id)) == 0 &&
        n > 0)
        rc = qvd_model_fail(QVD_MODEL_CONFLICT,
                            "tenant %lld has %lld OSFs: delete them first (qvd-admin osf del)",
                            (long long)id, (long long)n);
    if (rc == 0 && (qvd_db_exec(db, "DELETE FROM configs WHERE tenant_id = ?", "i", id) < 0 ||
                    qvd_model_prop_clear(db, "tenant", id) < 0 ||
                    qvd_db_exec(db, "DELETE FROM tenants WHERE id = ?", "i", id) < 0))
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

/* ---- configs ---- */

static int
config_key_check(const char *key)
{
    if (key == NULL || *key == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "configuration key is missing");
    if (qvd_config_is_known(key))
        return 0;
    return qvd_model_fail(QVD_MODEL_INVALID,
                          "unknown configuration key '%s' (see qvd-admin config defaults)", key);
}

int
qvd_model_config_set(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant_id, const char *key,
                     const char *value)
{
    int rc;

    if (config_key_check(key) < 0)
        return -1;
    if (value == NULL)
        return qvd_model_fail(QVD_MODEL_INVALID, "value of '%s' is missing", key);
    if (strlen(value) > 4096)
        return qvd_model_fail(QVD_MODEL_INVALID, "value of '%s' is longer than 4096 bytes", key);
    if (qvd_config_check_value(key, value) < 0)
        return qvd_model_fail(QVD_MODEL_INVALID, "%s", qvd_strerror());
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_model_need(db, "tenants", "tenant", tenant_id);
    if (rc == 0 && qvd_db_exec(db,
                               "INSERT INTO configs (tenant_id, key, value) VALUES (?, ?, ?)"
                               " ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value",
                               "iss", tenant_id, key, value) < 0)
        rc = qvd_model_dbfail(db);
    if (qvd_model_end(db, rc) < 0)
        return -1;
    qvd_db_notify(db, "qvd_config_changed");
    return 0;
}

int
qvd_model_config_del(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant_id, const char *key)
{
    int64_t n;
    int rc = 0;

    if (key == NULL || *key == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "configuration key is missing");
    if (qvd_model_begin(db) < 0)
        return -1;
    n = qvd_db_exec(db, "DELETE FROM configs WHERE tenant_id = ? AND key = ?", "is", tenant_id,
                    key);
    if (n < 0)
        rc = qvd_model_dbfail(db);
    else if (n == 0)
        rc = qvd_model_fail(QVD_MODEL_NOT_FOUND, "'%s' is not set in tenant '%s'", key,
                            qvd_model_tenant_name(db, tenant_id));
    if (qvd_model_end(db, rc) < 0)
        return -1;
    qvd_db_notify(db, "qvd_config_changed");
    return 0;
}

struct qvd_stmt *
qvd_model_config_list(struct qvd_db *db, int64_t tenant_id, const char *key)
{
    struct qvd_stmt *st =
        qvd_db_query(db,
                     "SELECT c.tenant_id, t.name AS tenant, c.key, c.value FROM configs c"
                     " JOIN tenants t ON t.id = c.tenant_id WHERE (? < -1 OR c.tenant_id = ?)"
                     " AND (? IS NULL OR c.key = ?) ORDER BY c.tenant_id, c.key",
                     "iiss", tenant_id, tenant_id, key, key);
    if (st == NULL)
        qvd_model_dbfail(db);
    return st;
}

/* ---- properties ---- */

static const struct {
    const char *object, *table;
} prop_objects[] = {
    {"user", "users"}, {"vm", "vms"}, {"host", "hosts"},
    {"osf", "osfs"},   {"di", "dis"}, {"tenant", "tenants"},
};

static int
prop_object_check(struct qvd_db *db, const char *object, int64_t id)
{
    for (size_t i = 0; i < QVD_ARRAY_LEN(prop_objects); i++) {
        if (strcmp(prop_objects[i].object, object) != 0)
            continue;
        char sql[80];
        int rc;
        snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = ?", prop_objects[i].table);
        rc = qvd_model_exists(db, sql, id);
        if (rc == 0)
            return qvd_model_fail(QVD_MODEL_NOT_FOUND, "%s %lld does not exist", object,
                                  (long long)id);
        return rc < 0 ? -1 : 0;
    }
    return qvd_model_fail(QVD_MODEL_INVALID,
                          "objects with properties are user, vm, host, osf,"
                          " di and tenant, not '%s'",
                          object);
}

int
qvd_model_prop_set(struct qvd_db *db, struct qvd_config *cfg, const char *object, int64_t object_id,
                   const char *key, const char *value)
{
    int rc;

    if (qvd_model_check_name("property key", key, 128) < 0)
        return -1;
    if (value == NULL || strlen(value) > 32768)
        return qvd_model_fail(QVD_MODEL_INVALID, "property value missing or over 32768 bytes");
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = prop_object_check(db, object, object_id);
    if (rc == 0 &&
        qvd_db_exec(db,
                    "INSERT INTO properties (object, object_id, key, value) VALUES (?,?,?,?)"
                    " ON CONFLICT (object, object_id, key) DO UPDATE SET value = excluded.value",
                    "siss", object, object_id, key, value) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

int
qvd_model_prop_del(struct qvd_db *db, struct qvd_config *cfg, const char *object, int64_t object_id,
                   const char *key)
{
    int64_t n;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = prop_object_check(db, object, object_id);
    if (rc == 0) {
        n = qvd_db_exec(db, "DELETE FROM properties WHERE object = ? AND object_id = ? AND key = ?",
                        "sis", object, object_id, key);
        if (n < 0)
            rc = qvd_model_dbfail(db);
        else if (n == 0)
            rc = qvd_model_fail(QVD_MODEL_NOT_FOUND, "%s %lld has no property '%s'", object,
                                (long long)object_id, key);
    }
    return qvd_model_end(db, rc);
}

int
qvd_model_prop_clear(struct qvd_db *db, const char *object, int64_t object_id)
{
    if (qvd_db_exec(db, "DELETE FROM properties WHERE object = ? AND object_id = ?", "si", object,
                    object_id) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

struct qvd_stmt *
qvd_model_prop_list(struct qvd_db *db, const char *object, int64_t object_id)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT object, object_id, key, value FROM properties"
                                       " WHERE object = ? AND (? < 0 OR object_id = ?)"
                                       " ORDER BY object_id, key",
                                       "sii", object, object_id, object_id);
    if (st == NULL)
        qvd_model_dbfail(db);
    return st;
}

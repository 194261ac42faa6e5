/* model_user.c: users (login unique per tenant, argon2id passwords) and OSFs. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "model_int.h"
#include "password.h"
#include "util.h"

/* Logins are stored lowercased unless model.user.login.case-sensitive, so that uniqueness
 * and look-ups agree with how the L7R compares them. */
static char *
login_norm(struct qvd_config *cfg, const char *login)
{
    char *s = qvd_xstrdup(login);

    if (!qvd_config_bool(cfg, "model.user.login.case-sensitive"))
        for (char *p = s; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return s;
}

static int
login_check(struct qvd_config *cfg, const char *login)
{
    if (qvd_model_check_name("login", login, 64) < 0 || qvd_model_login_reserved(cfg, login) < 0)
        return -1;
    if (strchr(login, '@') != NULL || strchr(login, ' ') != NULL || strchr(login, ':') != NULL)
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "login '%s' contains '@', ':' or a space (give the tenant apart)",
                              login);
    return 0;
}

/* The login and the tenant that a spelling names: "login@tenant" (the last '@'), or login in
 * `tenant`, or else in l7r.auth.plugin.default.tenant. *name is malloc'd. */
static int
login_split(struct qvd_config *cfg, const char *login, const char *tenant, char **name,
            const char **tenant_out)
{
    const char *at = login ? strrchr(login, '@') : NULL;

    if (login == NULL || *login == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "login is missing");
    if (at != NULL) {
        if (tenant != NULL)
            return qvd_model_fail(QVD_MODEL_INVALID,
                                  "give the tenant either as %s or as --tenant, not both", login);
        tenant = at + 1;
        *name = qvd_xstrndup(login, (size_t)(at - login));
    } else {
        *name = qvd_xstrdup(login);
        if (tenant == NULL)
            tenant = qvd_config_get(cfg, "l7r.auth.plugin.default.tenant");
    }
    *tenant_out = tenant ? tenant : "default";
    return 0;
}

int
qvd_model_user_find(struct qvd_db *db, struct qvd_config *cfg, const char *login,
                    const char *tenant, int64_t *id)
{
    char *name = NULL, *norm = NULL;
    int64_t tenant_id;
    int rc;

    if (login_split(cfg, login, tenant, &name, &tenant) < 0)
        return -1;
    rc = qvd_model_tenant_find(db, tenant, &tenant_id);
    if (rc == 0) {
        norm = login_norm(cfg, name);
        rc = qvd_db_get_int(db, id, "SELECT id FROM users WHERE tenant_id = ? AND login = ?", "is",
                            tenant_id, norm);
        if (rc < 0)
            rc = qvd_model_dbfail(db);
        else if (rc == 0)
            rc = qvd_model_fail(QVD_MODEL_NOT_FOUND, "user '%s' does not exist in tenant '%s'",
                                norm, tenant);
        else
            rc = 0;
    }
    free(name);
    free(norm);
    return rc;
}

void
qvd_model_user_key(struct qvd_config *cfg, const char *login, char *out, size_t len)
{
    const char *tenant;
    char *name = NULL, *norm;

    if (login_split(cfg, login, NULL, &name, &tenant) < 0) {
        snprintf(out, len, "%s", login ? login : "");
        return;
    }
    norm = login_norm(cfg, name);
    snprintf(out, len, "%s@%s", norm, tenant);
    free(name);
    free(norm);
}

int
qvd_model_user_add(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant_id, const char *login,
                   const char *password, const char *description, int64_t *id)
{
    char *norm = NULL, *hash = NULL;
    int64_t v;
    int rc;

    if (login_check(cfg, login) < 0)
        return -1;
    if (tenant_id == QVD_TENANT_COMMON || tenant_id == QVD_TENANT_SUPER)
        return qvd_model_fail(QVD_MODEL_INVALID, "tenant %lld holds no users: choose another",
                              (long long)tenant_id);
    if (password == NULL || *password == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "password is missing");
    /* hashing is slow: do it before taking the write lock */
    if (qvd_password_hash(cfg, password, &hash) < 0)
        return qvd_model_fail(QVD_MODEL_INVALID, "%s", qvd_strerror());
    norm = login_norm(cfg, login);
    if (qvd_model_begin(db) < 0) {
        free(hash);
        free(norm);
        return -1;
    }
    rc = qvd_model_need(db, "tenants", "tenant", tenant_id);
    if (rc == 0)
        rc = qvd_model_name_free(db, "users", "login", "user", tenant_id, norm, -1);
    if (rc == 0 &&
        (qvd_db_exec(db,
                     "INSERT INTO users (tenant_id, login, password, description, created_ts)"
                     " VALUES (?, ?, ?, ?, ?)",
                     "isssi", tenant_id, norm, hash, description ? description : "",
                     qvd_now()) < 0 ||
         qvd_db_get_int(db, &v, "SELECT id FROM users WHERE tenant_id = ? AND login = ?", "is",
                        tenant_id, norm) != 1))
        rc = qvd_model_dbfail(db);
    if (rc == 0 && id != NULL)
        *id = v;
    free(hash);
    free(norm);
    return qvd_model_end(db, rc);
}

int
qvd_model_user_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *login,
                   const char *description, const char *language, int blocked)
{
    char *norm = NULL;
    int64_t tenant_id = 0;
    int rc;

    if (login != NULL && login_check(cfg, login) < 0)
        return -1;
    if (language != NULL && strcmp(language, "es") != 0 && strcmp(language, "en") != 0 &&
        strcmp(language, "auto") != 0 && strcmp(language, "default") != 0)
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "language '%s' is not one of es, en, auto, default", language);
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_model_need(db, "users", "user", id);
    if (rc == 0 && login != NULL) {
        norm = login_norm(cfg, login);
        if (qvd_model_count(db, &tenant_id, "SELECT tenant_id FROM users WHERE id = ?", id) < 0 ||
            qvd_model_name_free(db, "users", "login", "user", tenant_id, norm, id) < 0)
            rc = -1;
        else if (qvd_db_exec(db, "UPDATE users SET login = ? WHERE id = ?", "si", norm, id) < 0)
            rc = qvd_model_dbfail(db);
    }
    if (rc == 0 && description != NULL &&
        qvd_db_exec(db, "UPDATE users SET description = ? WHERE id = ?", "si", description, id) < 0)
        rc = qvd_model_dbfail(db);
    if (rc == 0 && language != NULL &&
        qvd_db_exec(db, "UPDATE users SET language = ? WHERE id = ?", "si", language, id) < 0)
        rc = qvd_model_dbfail(db);
    if (rc == 0 && blocked >= 0 &&
        qvd_db_exec(db, "UPDATE users SET blocked = ? WHERE id = ?", "ii", (int64_t)(blocked != 0),
                    id) < 0)
        rc = qvd_model_dbfail(db);
    free(norm);
    return qvd_model_end(db, rc);
}

int
qvd_model_user_passwd(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *password)
{
    char *hash = NULL;
    int rc;

    if (password == NULL || *password == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "password is missing");
    if (qvd_password_hash(cfg, password, &hash) < 0)
        return qvd_model_fail(QVD_MODEL_INVALID, "%s", qvd_strerror());
    if (qvd_model_begin(db) < 0) {
        free(hash);
        return -1;
    }
    rc = qvd_model_need(db, "users", "user", id);
    if (rc == 0 &&
        qvd_db_exec(db, "UPDATE users SET password = ? WHERE id = ?", "si", hash, id) < 0)
        rc = qvd_model_dbfail(db);
    free(hash);
    return qvd_model_end(db, rc);
}

int
qvd_model_user_check_password(struct qvd_db *db, int64_t id, const char *password)
{
    struct qvd_stmt *st =
        qvd_db_query(db, "SELECT password, blocked FROM users WHERE id = ?", "i", id);
    int rc;

    if (st == NULL)
        return qvd_model_dbfail(db);
    rc = qvd_db_step(st);
    if (rc == 1)
        rc = qvd_password_verify(qvd_db_text(st, 0), password) == 1 && qvd_db_int(st, 1) == 0;
    else if (rc < 0)
        qvd_model_dbfail(db);
    qvd_db_done(st);
    return rc;
}

int
qvd_model_user_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id)
{
    int64_t n = 0;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_model_need(db, "users", "user", id);
    if (rc == 0 &&
        (rc = qvd_model_count(db, &n, "SELECT count(*) FROM vms WHERE user_id = ?", id)) == 0 &&
        n > 0)
        rc = qvd_model_fail(QVD_MODEL_CONFLICT,
                            "user %lld owns %lld VMs: delete them first (qvd-admin vm del)",
                            (long long)id, (long long)n);
    if (rc == 0 && (qvd_model_prop_clear(db, "user", id) < 0 ||
                    qvd_db_exec(db, "DELETE FROM users WHERE id = ?", "i", id) < 0))
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

/* ---- OSFs ---- */

static int
osf_check(const struct qvd_model_osf *o, bool add)
{
    if ((add || o->name != NULL) && qvd_model_check_name("OSF name", o->name, 64) < 0)
        return -1;
    if (o->memory != -1 && (o->memory < 16 || o->memory > 1024 * 1024))
        return qvd_model_fail(QVD_MODEL_INVALID, "memory %ld MiB is not in 16..1048576", o->memory);
    if (o->user_storage_size != -1 &&
        (o->user_storage_size < 0 || o->user_storage_size > 1024L * 1024 * 1024))
        return qvd_model_fail(QVD_MODEL_INVALID, "user storage size %ld MiB is out of range",
                              o->user_storage_size);
    if (o->use_overlay < -1 || o->use_overlay > 1 || o->is_application < -1 ||
        o->is_application > 1)
        return qvd_model_fail(QVD_MODEL_INVALID, "use_overlay and is_application are 0 or 1");
    return 0;
}

int
qvd_model_osf_add(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant_id,
                  const struct qvd_model_osf *o, int64_t *id)
{
    long memory = o->memory, storage = o->user_storage_size;
    int overlay = o->use_overlay, app = o->is_application;
    int64_t v;
    int rc;

    if (memory == -1)
        memory = qvd_config_int(cfg, "osf.default.memory");
    if (overlay == -1)
        overlay = qvd_config_bool(cfg, "osf.default.overlay");
    if (storage == -1)
        storage = qvd_config_int(cfg, "osf.default.user_storage_size");
    if (app == -1)
        app = 0;
    struct qvd_model_osf eff = {o->name, o->description, memory, overlay, storage, app};
    if (osf_check(&eff, true) < 0)
        return -1;
    if (tenant_id == QVD_TENANT_SUPER)
        return qvd_model_fail(QVD_MODEL_INVALID, "tenant 0 holds no OSFs: use a tenant or the"
                                                 " common tenant '-' (-1)");
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_model_need(db, "tenants", "tenant", tenant_id);
    if (rc == 0)
        rc = qvd_model_name_free(db, "osfs", "name", "OSF", tenant_id, o->name, -1);
    if (rc == 0 &&
        (qvd_db_exec(db,
                     "INSERT INTO osfs (tenant_id, name, memory, use_overlay,"
                     " user_storage_size, is_application, description)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?)",
                     "isiiiis", tenant_id, o->name, (int64_t)memory, (int64_t)overlay,
                     (int64_t)storage, (int64_t)app, o->description ? o->description : "") < 0 ||
         qvd_db_get_int(db, &v, "SELECT id FROM osfs WHERE tenant_id = ? AND name = ?", "is",
                        tenant_id, o->name) != 1))
        rc = qvd_model_dbfail(db);
    if (rc == 0 && id != NULL)
        *id = v;
    return qvd_model_end(db, rc);
}

int
qvd_model_osf_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id,
                  const struct qvd_model_osf *o)
{
    int64_t tenant_id = 0;
    int rc;

    if (osf_check(o, false) < 0)
        return -1;
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_model_need(db, "osfs", "OSF", id);
    if (rc == 0 && o->name != NULL &&
        (qvd_model_count(db, &tenant_id, "SELECT tenant_id FROM osfs WHERE id = ?", id) < 0 ||
         qvd_model_name_free(db, "osfs", "name", "OSF", tenant_id, o->name, id) < 0))
        rc = -1;
    if (rc == 0 &&
        qvd_db_exec(db,
                    "UPDATE osfs SET name = coalesce(?, name),"
                    " description = coalesce(?, description),"
                    " memory = CASE WHEN ? < 0 THEN memory ELSE ? END,"
                    " use_overlay = CASE WHEN ? < 0 THEN use_overlay ELSE ? END,"
                    " user_storage_size = CASE WHEN ? < 0 THEN user_storage_size ELSE ? END,"
                    " is_application = CASE WHEN ? < 0 THEN is_application ELSE ? END"
                    " WHERE id = ?",
                    "ssiiiiiiiii", o->name, o->description, (int64_t)o->memory, (int64_t)o->memory,
                    (int64_t)o->use_overlay, (int64_t)o->use_overlay, (int64_t)o->user_storage_size,
                    (int64_t)o->user_storage_size, (int64_t)o->is_application,
                    (int64_t)o->is_application, id) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

int
qvd_model_osf_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id)
{
    int64_t n = 0;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_model_need(db, "osfs", "OSF", id);
    if (rc == 0 &&
        (rc = qvd_model_count(db, &n, "SELECT count(*) FROM vms WHERE osf_id = ?", id)) == 0 &&
        n > 0)
        rc = qvd_model_fail(QVD_MODEL_CONFLICT,
                            "OSF %lld is used by %lld VMs: delete them first (qvd-admin vm del)",
                            (long long)id, (long long)n);
    if (rc == 0 &&
        (rc = qvd_model_count(db, &n, "SELECT count(*) FROM dis WHERE osf_id = ?", id)) == 0 &&
        n > 0)
        rc = qvd_model_fail(QVD_MODEL_CONFLICT,
                            "OSF %lld has %lld DIs: delete them first (qvd-admin di del)",
                            (long long)id, (long long)n);
    if (rc == 0 && (qvd_model_prop_clear(db, "osf", id) < 0 ||
                    qvd_db_exec(db, "DELETE FROM osfs WHERE id = ?", "i", id) < 0))
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

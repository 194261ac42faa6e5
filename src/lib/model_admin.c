/* model_admin.c: administrators, roles (grants and inheritance), administrator sessions and
 * the audit log. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acl.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "model_int.h"
#include "password.h"
#include "util.h"

/* ---- administrators ---- */

static int
admin_name_check(const char *name)
{
    if (qvd_model_check_name("administrator name", name, 64) < 0)
        return -1;
    if (strpbrk(name, "@: ") != NULL)
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "administrator name '%s' contains '@', ':' or a space", name);
    return 0;
}

static int
password_check(const char *password)
{
    if (password == NULL || *password == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "the password is empty");
    if (strlen(password) > 1024)
        return qvd_model_fail(QVD_MODEL_INVALID, "the password is longer than 1024 bytes");
    return 0;
}

int
qvd_model_admin_add(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant_id, const char *name,
                    const char *password, const char *description, int64_t *id)
{
    char *hash = NULL;
    int64_t v;
    int rc;

    if (admin_name_check(name) < 0 || password_check(password) < 0)
        return -1;
    if (tenant_id == QVD_TENANT_COMMON)
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "administrators belong to a tenant or to '*', not to '-'");
    if (qvd_password_hash(cfg, password, &hash) < 0)
        return qvd_model_fail(QVD_MODEL_INTERNAL, "%s", qvd_strerror());
    if (qvd_model_begin(db) < 0) {
        free(hash);
        return -1;
    }
    rc = qvd_model_need(db, "tenants", "tenant", tenant_id);
    if (rc == 0) {
        rc =
            qvd_model_name_free(db, "administrators", "name", "administrator", tenant_id, name, -1);
        if (rc == 0 &&
            qvd_db_get_int(db, &v,
                           "INSERT INTO administrators (tenant_id, name, password,"
                           " description, created_ts) VALUES (?, ?, ?, ?, ?) RETURNING id",
                           "isssi", tenant_id, name, hash, description ? description : "",
                           (int64_t)time(NULL)) != 1)
            rc = qvd_model_dbfail(db);
        else if (rc == 0 && id != NULL)
            *id = v;
    }
    OPENSSL_cleanse(hash, strlen(hash));
    free(hash);
    return qvd_model_end(db, rc);
}

int
qvd_model_admin_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *name,
                    const char *description, int blocked)
{
    int rc;

    if (name != NULL && admin_name_check(name) < 0)
        return -1;
    if (blocked > 1)
        return qvd_model_fail(QVD_MODEL_INVALID, "blocked must be 0 or 1");
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_model_need(db, "administrators", "administrator", id);
    if (rc == 0 &&
        qvd_db_exec(db,
                    "UPDATE administrators SET name = coalesce(?, name),"
                    " description = coalesce(?, description),"
                    " blocked = CASE WHEN ? < 0 THEN blocked ELSE ? END WHERE id = ?",
                    "ssiii", name, description, (int64_t)blocked, (int64_t)blocked, id) < 0)
        rc = qvd_db_errkind(db) == QVD_DB_CONSTRAINT
                 ? qvd_model_fail(QVD_MODEL_CONFLICT,
                                  "another administrator of its tenant is named '%s'", name)
                 : qvd_model_dbfail(db);
    /* a blocked administrator's sessions end at once */
    if (rc == 0 && blocked == 1 &&
        qvd_db_exec(db, "DELETE FROM admin_sessions WHERE administrator_id = ?", "i", id) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

int
qvd_model_admin_passwd(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *password)
{
    char *hash = NULL;
    int rc;

    if (password_check(password) < 0)
        return -1;
    if (qvd_password_hash(cfg, password, &hash) < 0)
        return qvd_model_fail(QVD_MODEL_INTERNAL, "%s", qvd_strerror());
    if (qvd_model_begin(db) < 0) {
        free(hash);
        return -1;
    }
    rc = qvd_model_need(db, "administrators", "administrator", id);
    if (rc == 0 &&
        qvd_db_exec(db, "UPDATE administrators SET password = ? WHERE id = ?", "si", hash, id) < 0)
        rc = qvd_model_dbfail(db);
    OPENSSL_cleanse(hash, strlen(hash));
    free(hash);
    return qvd_model_end(db, rc);
}

int
qvd_model_admin_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id)
{
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_model_need(db, "administrators", "administrator", id);
    if (rc == 0 && qvd_db_exec(db, "DELETE FROM administrators WHERE id = ?", "i", id) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

/* The name and the tenant that login and tenant give: "name@tenant" (the last '@') with no
 * tenant apart (NULL or ""), else login in tenant; *tenant_out may be NULL or "". */
static int
admin_split(const char *login, const char *tenant, char name[128], const char **tenant_out)
{
    const char *at = login ? strrchr(login, '@') : NULL;

    if (login == NULL || *login == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "the administrator's name is missing");
    if (at != NULL) {
        if (tenant != NULL && *tenant != '\0')
            return qvd_model_fail(QVD_MODEL_INVALID,
                                  "give the tenant either as %s or apart, not both", login);
        tenant = at + 1;
        snprintf(name, 128, "%.*s", (int)(at - login), login);
    } else {
        snprintf(name, 128, "%s", login);
    }
    *tenant_out = tenant;
    return 0;
}

int
qvd_model_admin_find(struct qvd_db *db, const char *login, const char *tenant, int64_t *id)
{
    char name[128];
    int64_t tenant_id;
    int rc;

    if (admin_split(login, tenant, name, &tenant) < 0)
        return -1;
    if (tenant == NULL || *tenant == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "say which tenant administrator '%s' belongs to ('*' for"
                              " superadministrators)",
                              name);
    if (qvd_model_tenant_find(db, tenant, &tenant_id) < 0)
        return -1;
    rc = qvd_db_get_int(db, id, "SELECT id FROM administrators WHERE tenant_id = ? AND name = ?",
                        "is", tenant_id, name);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND,
                              "administrator '%s' does not exist in tenant '%s'", name, tenant);
    return 0;
}

void
qvd_model_admin_key(const char *login, const char *tenant, char *out, size_t len)
{
    char name[128];

    if (admin_split(login, tenant, name, &tenant) < 0)
        snprintf(out, len, "%s@%s", login ? login : "", tenant ? tenant : "");
    else
        snprintf(out, len, "%s@%s", name, tenant ? tenant : "");
}

/* ---- roles ---- */

/* The tenant of a role, and whether it is fixed: 0, or -1 (NOT_FOUND). */
static int
role_get(struct qvd_db *db, int64_t id, int64_t *tenant_id, bool *fixed)
{
    struct qvd_stmt *st =
        qvd_db_query(db, "SELECT tenant_id, fixed FROM roles WHERE id = ?", "i", id);
    int rc;

    if (st == NULL)
        return qvd_model_dbfail(db);
    rc = qvd_db_step(st);
    if (rc == 1) {
        *tenant_id = qvd_db_int(st, 0);
        *fixed = qvd_db_int(st, 1) != 0;
    }
    qvd_db_done(st);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND, "role %lld does not exist", (long long)id);
    return 0;
}

static int
role_editable(struct qvd_db *db, int64_t id)
{
    int64_t tenant_id;
    bool fixed;

    if (role_get(db, id, &tenant_id, &fixed) < 0)
        return -1;
    if (fixed)
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "role %lld is built in and cannot be changed: make a role that"
                              " inherits it",
                              (long long)id);
    return 0;
}

int
qvd_model_role_add(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant_id, const char *name,
                   const char *description, int64_t *id)
{
    int64_t v;
    int rc;

    if (qvd_model_check_name("role name", name, 64) < 0)
        return -1;
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_model_need(db, "tenants", "tenant", tenant_id);
    if (rc == 0) {
        rc = qvd_db_get_int(db, &v,
                            "INSERT INTO roles (tenant_id, name, description) VALUES (?, ?, ?)"
                            " RETURNING id",
                            "iss", tenant_id, name, description ? description : "");
        if (rc == 1) {
            rc = 0;
            if (id != NULL)
                *id = v;
        } else if (qvd_db_errkind(db) == QVD_DB_CONSTRAINT) {
            rc = qvd_model_fail(QVD_MODEL_CONFLICT, "role '%s' already exists in tenant '%s'", name,
                                qvd_model_tenant_name(db, tenant_id));
        } else {
            rc = qvd_model_dbfail(db);
        }
    }
    return qvd_model_end(db, rc);
}

int
qvd_model_role_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *name,
                   const char *description)
{
    int rc;

    if (name != NULL && qvd_model_check_name("role name", name, 64) < 0)
        return -1;
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = role_editable(db, id);
    if (rc == 0 && qvd_db_exec(db,
                               "UPDATE roles SET name = coalesce(?, name),"
                               " description = coalesce(?, description) WHERE id = ?",
                               "ssi", name, description, id) < 0)
        rc = qvd_db_errkind(db) == QVD_DB_CONSTRAINT
                 ? qvd_model_fail(QVD_MODEL_CONFLICT, "another role of its tenant is named '%s'",
                                  name)
                 : qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

int
qvd_model_role_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id)
{
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = role_editable(db, id);
    if (rc == 0 && qvd_db_exec(db, "DELETE FROM roles WHERE id = ?", "i", id) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

int
qvd_model_role_find(struct qvd_db *db, int64_t tenant_id, const char *name, int64_t *id)
{
    int rc = qvd_db_get_int(db, id,
                            "SELECT id FROM roles WHERE name = ? AND tenant_id IN (?, -1)"
                            " ORDER BY tenant_id DESC LIMIT 1",
                            "si", name ? name : "", tenant_id);

    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND, "role '%s' does not exist", name ? name : "");
    return 0;
}

int
qvd_model_role_grant(struct qvd_db *db, struct qvd_config *cfg, int64_t role_id, const char *acl,
                     bool positive)
{
    struct qvd_acl_set set;
    int rc;

    if (qvd_acl_match(acl, &set) == 0)
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "'%s' names no ACL (GET /api/v1/acls or qvd-admin acl list shows"
                              " them)",
                              acl ? acl : "");
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = role_editable(db, role_id);
    if (rc == 0 && qvd_db_exec(db,
                               "INSERT INTO role_acls (role_id, acl, positive) VALUES (?, ?, ?)"
                               " ON CONFLICT (role_id, acl) DO UPDATE SET positive ="
                               " excluded.positive",
                               "isi", role_id, acl, (int64_t)positive) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

int
qvd_model_role_revoke(struct qvd_db *db, struct qvd_config *cfg, int64_t role_id, const char *acl)
{
    int64_t n;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = role_editable(db, role_id);
    if (rc == 0) {
        n = qvd_db_exec(db, "DELETE FROM role_acls WHERE role_id = ? AND acl = ?", "is", role_id,
                        acl ? acl : "");
        if (n < 0)
            rc = qvd_model_dbfail(db);
        else if (n == 0)
            rc = qvd_model_fail(QVD_MODEL_NOT_FOUND, "role %lld has no grant '%s'",
                                (long long)role_id, acl ? acl : "");
    }
    return qvd_model_end(db, rc);
}

/* 1 if `from` reaches `to` through inheritance (or is it), 0 if not, -1 on error. */
static int
role_reaches(struct qvd_db *db, int64_t from, int64_t to, int depth)
{
    struct qvd_stmt *st;
    int64_t next[64];
    int n = 0, rc;

    if (from == to)
        return 1;
    if (depth > 64)
        return 1; /* treat absurd depth as a cycle: refuse */
    st = qvd_db_query(db, "SELECT inherited_id FROM role_roles WHERE inheritor_id = ?", "i", from);
    if (st == NULL)
        return -1;
    while ((rc = qvd_db_step(st)) == 1 && n < 64)
        next[n++] = qvd_db_int(st, 0);
    qvd_db_done(st);
    if (rc < 0)
        return -1;
    for (int i = 0; i < n; i++)
        if ((rc = role_reaches(db, next[i], to, depth + 1)) != 0)
            return rc;
    return 0;
}

int
qvd_model_role_inherit(struct qvd_db *db, struct qvd_config *cfg, int64_t role_id,
                       int64_t inherited_id, bool inherit)
{
    int64_t t1, t2;
    bool fixed;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = role_editable(db, role_id);
    if (rc == 0)
        rc = role_get(db, role_id, &t1, &fixed);
    if (rc == 0)
        rc = role_get(db, inherited_id, &t2, &fixed);
    if (rc == 0 && inherit) {
        if (t2 != t1 && t2 != QVD_TENANT_COMMON)
            rc = qvd_model_fail(QVD_MODEL_INVALID,
                                "role %lld may inherit roles of its tenant or of the common"
                                " tenant only",
                                (long long)role_id);
        else if ((rc = role_reaches(db, inherited_id, role_id, 0)) < 0)
            rc = qvd_model_dbfail(db);
        else if (rc == 1)
            rc = qvd_model_fail(QVD_MODEL_CONFLICT,
                                "role %lld already inherits role %lld: that would be a cycle",
                                (long long)inherited_id, (long long)role_id);
        else if (qvd_db_exec(db,
                             "INSERT INTO role_roles (inheritor_id, inherited_id) VALUES (?, ?)"
                             " ON CONFLICT DO NOTHING",
                             "ii", role_id, inherited_id) < 0)
            rc = qvd_model_dbfail(db);
    } else if (rc == 0 && qvd_db_exec(db,
                                      "DELETE FROM role_roles WHERE inheritor_id = ?"
                                      " AND inherited_id = ?",
                                      "ii", role_id, inherited_id) < 0) {
        rc = qvd_model_dbfail(db);
    }
    return qvd_model_end(db, rc);
}

int
qvd_model_admin_assign(struct qvd_db *db, struct qvd_config *cfg, int64_t admin_id, int64_t role_id,
                       bool assign)
{
    int64_t admin_tenant, role_tenant;
    bool fixed;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_db_get_int(db, &admin_tenant, "SELECT tenant_id FROM administrators WHERE id = ?", "i",
                        admin_id);
    if (rc < 0)
        rc = qvd_model_dbfail(db);
    else if (rc == 0)
        rc = qvd_model_fail(QVD_MODEL_NOT_FOUND, "administrator %lld does not exist",
                            (long long)admin_id);
    else
        rc = role_get(db, role_id, &role_tenant, &fixed);
    if (rc == 0 && assign) {
        if (role_tenant != admin_tenant && role_tenant != QVD_TENANT_COMMON)
            rc = qvd_model_fail(QVD_MODEL_INVALID,
                                "administrator %lld may hold roles of its tenant or of the"
                                " common tenant only",
                                (long long)admin_id);
        else if (qvd_db_exec(db,
                             "INSERT INTO administrator_roles (administrator_id, role_id)"
                             " VALUES (?, ?) ON CONFLICT DO NOTHING",
                             "ii", admin_id, role_id) < 0)
            rc = qvd_model_dbfail(db);
    } else if (rc == 0 && qvd_db_exec(db,
                                      "DELETE FROM administrator_roles WHERE administrator_id = ?"
                                      " AND role_id = ?",
                                      "ii", admin_id, role_id) < 0) {
        rc = qvd_model_dbfail(db);
    }
    return qvd_model_end(db, rc);
}

/* ---- sessions ---- */

static void
token_hash(const char *token, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;

    EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
token_new(char token[44])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[32];

    if (RAND_bytes(r, sizeof(r)) != 1)
        qvd_fatal("no random bytes for a session token");
    /* 43 characters of 6 bits = 258 bits >= 256 */
    for (int i = 0; i < 43; i++) {
        int bit = i * 6, byte = bit / 8, off = bit % 8;
        unsigned v = (unsigned)r[byte] << 8 | (byte + 1 < 32 ? r[byte + 1] : 0);
        token[i] = b64[(v >> (10 - off)) & 63];
    }
    token[43] = '\0';
    OPENSSL_cleanse(r, sizeof(r));
}

static int64_t
session_timeout(struct qvd_config *cfg)
{
    long t = qvd_config_int(cfg, "api.session.timeout");
    return t > 0 ? t : 3600;
}

int
qvd_model_admin_login(struct qvd_db *db, struct qvd_config *cfg, const char *login,
                      const char *tenant, const char *password, const char *ip, char token[44],
                      struct qvd_model_admin_session *s)
{
    struct qvd_stmt *st;
    char *hash = NULL, th[65];
    int64_t id, now = time(NULL);
    int rc, blocked = 1;

    if (password == NULL)
        return 0;
    if (qvd_model_admin_find(db, login, tenant, &id) < 0) {
        if (qvd_model_errkind() != QVD_MODEL_NOT_FOUND && qvd_model_errkind() != QVD_MODEL_INVALID)
            return -1;
        /* as long as a wrong password: the answer time must not tell who exists */
        qvd_password_refuse(cfg, password);
        return 0;
    }
    st = qvd_db_query(db,
                      "SELECT a.password, a.blocked + t.blocked, a.name, a.tenant_id, t.name"
                      " FROM administrators a JOIN tenants t ON t.id = a.tenant_id WHERE a.id = ?",
                      "i", id);
    if (st == NULL)
        return qvd_model_dbfail(db);
    if ((rc = qvd_db_step(st)) == 1) {
        hash = qvd_xstrdup(qvd_db_text(st, 0));
        blocked = qvd_db_int(st, 1) != 0;
        snprintf(s->name, sizeof(s->name), "%s", qvd_db_text(st, 2));
        s->tenant_id = qvd_db_int(st, 3);
        snprintf(s->tenant, sizeof(s->tenant), "%s", qvd_db_text(st, 4));
    }
    qvd_db_done(st);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0) {
        qvd_password_refuse(cfg, password);
        return 0;
    }
    rc = qvd_password_verify(hash, password);
    free(hash);
    if (rc < 0)
        return qvd_model_fail(QVD_MODEL_INTERNAL, "%s", qvd_strerror());
    if (rc == 0 || blocked)
        return 0;
    s->admin_id = id;
    s->expires = now + session_timeout(cfg);
    token_new(token);
    token_hash(token, th);
    if (qvd_db_exec(db, "DELETE FROM admin_sessions WHERE expires_ts < ?", "i", now) < 0 ||
        qvd_db_exec(db,
                    "INSERT INTO admin_sessions (token_hash, administrator_id, created_ts,"
                    " expires_ts, ip) VALUES (?, ?, ?, ?, ?)",
                    "siiis", th, id, now, s->expires, ip ? ip : "") < 0)
        return qvd_model_dbfail(db);
    return 1;
}

enum qvd_model_session_state
qvd_model_admin_session(struct qvd_db *db, struct qvd_config *cfg, const char *token,
                        struct qvd_model_admin_session *s)
{
    struct qvd_stmt *st;
    char th[65];
    int64_t now = time(NULL), timeout = session_timeout(cfg);
    int rc, blocked = 0;

    if (token == NULL || strlen(token) != 43)
        return QVD_SESSION_UNKNOWN;
    token_hash(token, th);
    st = qvd_db_query(db,
                      "SELECT s.administrator_id, s.expires_ts, a.name, a.tenant_id, t.name,"
                      " a.blocked + t.blocked FROM admin_sessions s"
                      " JOIN administrators a ON a.id = s.administrator_id"
                      " JOIN tenants t ON t.id = a.tenant_id WHERE s.token_hash = ?",
                      "s", th);
    if (st == NULL)
        return qvd_model_dbfail(db), QVD_SESSION_ERROR;
    if ((rc = qvd_db_step(st)) == 1) {
        s->admin_id = qvd_db_int(st, 0);
        s->expires = qvd_db_int(st, 1);
        snprintf(s->name, sizeof(s->name), "%s", qvd_db_text(st, 2));
        s->tenant_id = qvd_db_int(st, 3);
        snprintf(s->tenant, sizeof(s->tenant), "%s", qvd_db_text(st, 4));
        blocked = qvd_db_int(st, 5) != 0;
    }
    qvd_db_done(st);
    if (rc < 0)
        return qvd_model_dbfail(db), QVD_SESSION_ERROR;
    if (rc == 0 || blocked)
        return QVD_SESSION_UNKNOWN;
    if (s->expires <= now) {
        qvd_db_exec(db, "DELETE FROM admin_sessions WHERE token_hash = ?", "s", th);
        return QVD_SESSION_EXPIRED;
    }
    /* extend the session, but write at most once a minute */
    if (s->expires - now < timeout - 60 || timeout <= 60) {
        s->expires = now + timeout;
        if (qvd_db_exec(db, "UPDATE admin_sessions SET expires_ts = ? WHERE token_hash = ?", "is",
                        s->expires, th) < 0)
            return qvd_model_dbfail(db), QVD_SESSION_ERROR;
    }
    return QVD_SESSION_VALID;
}

int
qvd_model_admin_logout(struct qvd_db *db, const char *token)
{
    char th[65];

    if (token == NULL)
        return 0;
    token_hash(token, th);
    if (qvd_db_exec(db, "DELETE FROM admin_sessions WHERE token_hash = ?", "s", th) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

/* ---- audit log ---- */

int
qvd_model_audit(struct qvd_db *db, const struct qvd_model_audit *a)
{
    struct qvd_stmt *st = qvd_db_query(
        db,
        "INSERT INTO audit_log (time, administrator_id, administrator, tenant_id, tenant, action,"
        " object, object_id, object_name, arguments, status, message, source, ip)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        NULL);
    int rc;

    if (st == NULL)
        return qvd_model_dbfail(db);
    /* bound by hand: ids may be NULL */
    rc = db->ops->bind_int(st, 1, (int64_t)time(NULL));
    rc |= a->admin_id >= 0 ? db->ops->bind_int(st, 2, a->admin_id) : db->ops->bind_null(st, 2);
    rc |= db->ops->bind_text(st, 3, a->admin ? a->admin : "");
    rc |= a->tenant_id >= -1 ? db->ops->bind_int(st, 4, a->tenant_id) : db->ops->bind_null(st, 4);
    rc |= db->ops->bind_text(st, 5, a->tenant ? a->tenant : "");
    rc |= db->ops->bind_text(st, 6, a->action ? a->action : "");
    rc |= db->ops->bind_text(st, 7, a->object ? a->object : "");
    rc |= a->object_id >= 0 ? db->ops->bind_int(st, 8, a->object_id) : db->ops->bind_null(st, 8);
    rc |= db->ops->bind_text(st, 9, a->object_name ? a->object_name : "");
    rc |= db->ops->bind_text(st, 10, a->arguments ? a->arguments : "{}");
    rc |= db->ops->bind_int(st, 11, a->status);
    rc |= db->ops->bind_text(st, 12, a->message ? a->message : "");
    rc |= db->ops->bind_text(st, 13, a->source ? a->source : "");
    rc |= db->ops->bind_text(st, 14, a->ip ? a->ip : "");
    if (rc == 0)
        rc = qvd_db_step(st) < 0 ? -1 : 0;
    qvd_db_done(st);
    return rc < 0 ? qvd_model_dbfail(db) : 0;
}

/* auth_default.c: the `default` authentication back-end: users of the database (argon2id
 * passwords, tenant from "login@tenant") and bearer tokens of user_tokens. Tokens are
 * stored as their SHA-256 so that the database never holds a usable credential. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "db.h"
#include "err.h"
#include "l7r.h"
#include "log.h"
#include "model.h"
#include "password.h"
#include "util.h"

#define TOKEN_LIFETIME (24 * 3600)

/* Fills u from the users row; 1 when the user and the tenant may log in, 0 if not. */
static int
load_user(struct l7r *l, int64_t id, struct l7r_user *u)
{
    struct qvd_stmt *st = qvd_db_query(l->db,
                                       "SELECT u.login, u.tenant_id, u.blocked, t.blocked"
                                       " FROM users u JOIN tenants t ON t.id = u.tenant_id"
                                       " WHERE u.id = ?",
                                       "i", id);
    int rc;

    if (st == NULL)
        return -1;
    rc = qvd_db_step(st);
    if (rc == 1) {
        u->id = id;
        u->tenant_id = qvd_db_int(st, 1);
        snprintf(u->login, sizeof(u->login), "%s", qvd_db_text(st, 0));
        rc = qvd_db_int(st, 2) == 0 && qvd_db_int(st, 3) == 0 && u->tenant_id > 0;
    }
    qvd_db_done(st);
    return rc;
}

/* The user of a login ("login@tenant"): 1 with *id and *u when it may log in, 0 if not. */
static int
find_login(struct l7r *l, const char *login, struct l7r_user *u, int64_t *id)
{
    if (qvd_model_user_find(l->db, l->cfg, login, NULL, id) < 0) {
        if (qvd_model_errkind() == QVD_MODEL_NOT_FOUND || qvd_model_errkind() == QVD_MODEL_INVALID)
            return 0;
        return -1;
    }
    return load_user(l, *id, u);
}

static int
default_basic(struct l7r *l, const char *login, const char *password, struct l7r_user *u)
{
    int64_t id;
    int rc = find_login(l, login, u, &id);

    if (rc == 0)
        qvd_password_refuse(l->cfg, password); /* as long as a wrong password */
    if (rc != 1)
        return rc;
    /* argon2id, ~20 ms of CPU: only when no worker threads run (see basic_hash) */
    return qvd_model_user_check_password(l->db, id, password);
}

/* The stored hash of a login that may log in, for the worker threads to check. */
static int
default_basic_hash(struct l7r *l, const char *login, struct l7r_user *u, char **hash)
{
    struct qvd_stmt *st;
    int64_t id;
    int rc = find_login(l, login, u, &id);

    if (rc != 1)
        return rc;
    st = qvd_db_query(l->db, "SELECT password FROM users WHERE id = ?", "i", id);
    if (st == NULL)
        return -1;
    rc = qvd_db_step(st);
    if (rc == 1)
        *hash = qvd_xstrdup(qvd_db_text(st, 0) ? qvd_db_text(st, 0) : "");
    qvd_db_done(st);
    return rc;
}

static void
default_login_key(struct l7r *l, const char *login, char *key, size_t len)
{
    qvd_model_user_key(l->cfg, login, key, len);
}

static void
hex(const unsigned char *md, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static int
default_bearer(struct l7r *l, const char *token, struct l7r_user *u)
{
    unsigned char md[32];
    char key[65];
    struct qvd_stmt *st;
    int64_t user_id = 0, expiration = 0, multi = 0;
    int rc;

    l7r_sha256(token, strlen(token), md);
    hex(md, sizeof(md), key);
    st = qvd_db_query(l->db,
                      "SELECT user_id, expiration, multi_use FROM user_tokens"
                      " WHERE token = ?",
                      "s", key);
    if (st == NULL)
        return -1;
    rc = qvd_db_step(st);
    if (rc == 1) {
        user_id = qvd_db_int(st, 0);
        expiration = qvd_db_int(st, 1);
        multi = qvd_db_int(st, 2);
    }
    qvd_db_done(st);
    if (rc != 1)
        return rc;
    if (expiration <= qvd_now() || !multi) {
        /* expired: gone; single use: this use is the only one */
        if (qvd_db_exec(l->db, "DELETE FROM user_tokens WHERE token = ?", "s", key) < 0)
            return -1;
        if (expiration <= qvd_now())
            return 0;
    }
    return load_user(l, user_id, u);
}

int
l7r_token_create(struct l7r *l, int64_t user_id, char **b64)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char token[44], key[65];
    unsigned char md[32], r;
    size_t n = 0;

    /* 43 base62 characters: 256 bits, like QVD's Session::Token */
    while (n < sizeof(token) - 1) {
        if (RAND_bytes(&r, 1) != 1)
            return qvd_seterr("no randomness for a token");
        if (r < 248) /* 248 = 4 * 62: no modulo bias */
            token[n++] = alnum[r % 62];
    }
    token[n] = '\0';
    l7r_sha256(token, n, md);
    hex(md, sizeof(md), key);
    if (qvd_db_exec(l->db,
                    "INSERT INTO user_tokens (token, user_id, vm_id, expiration, multi_use)"
                    " VALUES (?, ?, NULL, ?, 1)",
                    "sii", key, user_id, qvd_now() + TOKEN_LIFETIME) < 0)
        return -1;
    *b64 = l7r_b64_encode(token, n);
    qvd_wipe(token, sizeof(token));
    return 0;
}

const struct l7r_auth_ops l7r_auth_default = {
    .name = "default",
    .authenticate_basic = default_basic,
    .basic_hash = default_basic_hash,
    .authenticate_bearer = default_bearer,
    .login_key = default_login_key,
};

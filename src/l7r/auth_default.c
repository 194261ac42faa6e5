/* auth_default.c: the `default` authentication back-end: users of the database (argon2id
 * passwords, tenant from "login@tenant") and bearer tokens of user_tokens. Tokens are
 * stored as their SHA-256 so that the database never holds a usable credential. Its
 * checks run on the worker threads, each with its own database connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "err.h"
#include "l7r.h"
#include "log.h"
#include "model.h"
#include "model_l7r.h"
#include "password.h"
#include "util.h"

#define TOKEN_LIFETIME (24 * 3600)

/* Fills u from the users row; 1 when the user and the tenant may log in, 0 if not. */
static int
load_user(struct qvd_db *db, int64_t id, struct l7r_user *u)
{
    struct qvd_model_l7r_user mu = {0};
    int rc = qvd_model_l7r_user(db, id, &mu);

    if (rc == 1) {
        u->id = mu.id;
        u->tenant_id = mu.tenant_id;
        snprintf(u->login, sizeof(u->login), "%s", mu.login);
    }
    return rc;
}

/* The user of a login ("login@tenant"): 1 with *id and *u when it may log in, 0 if not. */
static int
find_login(struct qvd_db *db, struct qvd_config *cfg, const char *login, struct l7r_user *u,
           int64_t *id)
{
    if (qvd_model_user_find(db, cfg, login, NULL, id) < 0) {
        if (qvd_model_errkind() == QVD_MODEL_NOT_FOUND || qvd_model_errkind() == QVD_MODEL_INVALID)
            return 0;
        return -1;
    }
    return load_user(db, *id, u);
}

static int
default_basic(struct qvd_db *db, struct qvd_config *cfg, const char *login, const char *password,
              struct l7r_user *u)
{
    int64_t id;
    int rc = find_login(db, cfg, login, u, &id);

    if (rc == 0)
        qvd_password_refuse(cfg, password); /* as long as a wrong password */
    if (rc != 1)
        return rc;
    /* argon2id, ~20 ms of CPU, on this worker thread */
    return qvd_model_user_check_password(db, id, password);
}

static void
default_login_key(struct qvd_config *cfg, const char *login, char *key, size_t len)
{
    qvd_model_user_key(cfg, login, key, len);
}

static void
hex(const unsigned char *md, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static int
default_bearer(struct qvd_db *db, struct qvd_config *cfg, const char *token, struct l7r_user *u)
{
    unsigned char md[32];
    char key[65];
    int64_t user_id = 0;
    int rc;

    l7r_sha256(token, strlen(token), md);
    hex(md, sizeof(md), key);
    rc = qvd_model_l7r_token_use(db, key, qvd_now(), &user_id);
    if (rc != 1)
        return rc;
    return load_user(db, user_id, u);
}

int
l7r_token_create(struct qvd_db *db, int64_t user_id, char **b64)
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
    if (qvd_model_l7r_token_add(db, key, user_id, qvd_now() + TOKEN_LIFETIME) < 0)
        return -1;
    *b64 = l7r_b64_encode(token, n);
    qvd_wipe(token, sizeof(token));
    return 0;
}

const struct l7r_auth_ops l7r_auth_default = {
    .name = "default",
    .authenticate_basic = default_basic,
    .authenticate_bearer = default_bearer,
    .login_key = default_login_key,
};

/* auth.c: administrators' sessions (login, logout, tokens from the Authorization header or
 * the qvd_sid cookie), their operative ACLs and tenant scope, and the checks every handler
 * makes: ACL held, object in a tenant it may change, no escalation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "throttle.h"

/* The token of the request: Bearer first, then the cookie. NULL when none. */
static const char *
request_token(const struct api_request *r, char *buf, size_t len)
{
    const char *p;

    if (r->authorization && strncasecmp(r->authorization, "Bearer ", 7) == 0) {
        p = r->authorization + 7;
        while (*p == ' ')
            p++;
        snprintf(buf, len, "%s", p);
        return buf;
    }
    for (p = r->cookie; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncmp(p, "qvd_sid=", 8) == 0) {
            size_t n = strcspn(p + 8, "; ");
            snprintf(buf, len, "%.*s", (int)n, p + 8);
            return buf;
        }
        p += strcspn(p, ";");
    }
    return NULL;
}

static int
load_rights(struct api_ctx *x)
{
    if (qvd_acl_admin(x->db, x->who.admin_id, &x->acls) < 0) {
        log_err("ACLs of administrator %lld: %s", (long long)x->who.admin_id, qvd_strerror());
        return api_error(x, 500, "internal", "internal error: %s", qvd_strerror());
    }
    x->superadmin = x->who.tenant_id == QVD_TENANT_SUPER;
    if (x->superadmin) {
        x->nscope = 0;
    } else {
        x->scope[0] = x->who.tenant_id;
        x->scope[1] = QVD_TENANT_COMMON;
        x->nscope = 2;
    }
    x->authed = true;
    return 0;
}

int
api_auth(struct api_ctx *x)
{
    static __thread char token[128];
    const char *t = request_token(x->req, token, sizeof(token));

    if (t == NULL)
        return api_error(x, 401, "login_required",
                         "log in first: POST /api/v1/login, then send the token as"
                         " 'Authorization: Bearer TOKEN'");
    switch (qvd_model_admin_session(x->db, x->api->cfg, t, &x->who)) {
    case QVD_SESSION_VALID:
        break;
    case QVD_SESSION_EXPIRED:
        return api_error(x, 401, "session_expired", "the session has expired: log in again");
    case QVD_SESSION_UNKNOWN:
        return api_error(x, 401, "login_required", "the session is unknown: log in again");
    default:
        return api_model_error(x);
    }
    x->token = t;
    return load_rights(x);
}

static json_t *
acl_names(const struct qvd_acl_set *s)
{
    json_t *a = json_array();

    for (int i = 0; i < qvd_acl_count(); i++)
        if ((s->w[i / 64] >> (i % 64)) & 1)
            json_array_append_new(a, json_string(qvd_acl_name(i)));
    return a;
}

int
api_login(struct api_ctx *x)
{
    static const struct api_member m[] = {
        {"login", API_STR, true}, {"password", API_STR, true}, {"tenant", API_STR, false}, {0}};
    char token[44], ipkey[80], loginkey[200], cookie[160];
    const char *const keys[] = {ipkey, loginkey};
    const char *login, *tenant;
    int64_t now = time(NULL);
    long wait;
    int rc;

    x->action = "login";
    x->object = "administrator";
    if (api_body(x, m) < 0)
        return -1;
    login = api_str(x, "login");
    tenant = api_str(x, "tenant");
    snprintf(x->object_name, sizeof(x->object_name), "%s%s%s", login, tenant ? "@" : "",
             tenant ? tenant : "");
    qvd_throttle_ip_key(x->req->peer, x->api->throttle_v6_prefix, ipkey, sizeof(ipkey));
    /* one counter per administrator however the name and tenant are spelled */
    memcpy(loginkey, "admin:", 6);
    qvd_model_admin_key(login, tenant, loginkey + 6, sizeof(loginkey) - 6);
    /* counted as a failure from now on (also while other threads check more guesses),
     * given back if it succeeds */
    if ((wait = qvd_throttle_begin(x->api->throttle, keys, 2, now)) > 0)
        return api_error(x, 429, "throttled", "too many failed logins: try again in %ld s", wait);
    rc = qvd_model_admin_login(x->db, x->api->cfg, login, tenant, api_str(x, "password"),
                               x->req->peer, token, &x->who);
    if (rc != 0)
        qvd_throttle_ok(x->api->throttle, keys, 2, time(NULL));
    if (rc < 0)
        return api_model_error(x);
    if (rc == 0)
        return api_error(x, 401, "wrong_credentials",
                         "wrong administrator, tenant or password (or the administrator or its"
                         " tenant is blocked)");
    x->object_id = x->who.admin_id;
    if (load_rights(x) < 0)
        return -1;
    snprintf(cookie, sizeof(cookie),
             "qvd_sid=%s; Path=/api; HttpOnly; Secure; SameSite=Strict; Max-Age=%ld", token,
             qvd_config_int(x->api->cfg, "api.session.timeout"));
    x->res->set_cookie = qvd_xstrdup(cookie);
    api_reply(x, 200,
              json_pack("{s:s,s:I,s:{s:I,s:s,s:I,s:s,s:b},s:o}", "token", token, "expires",
                        (json_int_t)x->who.expires, "administrator", "id",
                        (json_int_t)x->who.admin_id, "name", x->who.name, "tenant_id",
                        (json_int_t)x->who.tenant_id, "tenant", x->who.tenant, "superadmin",
                        x->superadmin, "acls", acl_names(&x->acls)));
    qvd_wipe(token, sizeof(token));
    return 0;
}

int
api_logout(struct api_ctx *x)
{
    x->action = "logout";
    if (qvd_model_admin_logout(x->db, x->token) < 0)
        return api_model_error(x);
    x->res->set_cookie =
        qvd_xstrdup("qvd_sid=; Path=/api; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    return api_reply(x, 204, NULL);
}

int
api_need(struct api_ctx *x, const char *acl)
{
    if (qvd_acl_has(&x->acls, acl))
        return 0;
    return api_error(x, 403, "forbidden", "administrator '%s' lacks the ACL %s", x->who.name, acl);
}

int
api_may_change(struct api_ctx *x, int64_t tenant_id)
{
    if (x->superadmin || tenant_id == x->who.tenant_id)
        return 0;
    if (tenant_id == QVD_TENANT_COMMON || tenant_id == -2)
        return api_error(x, 403, "forbidden",
                         "only superadministrators change shared objects (hosts, the common"
                         " tenant's)");
    return api_error(x, 404, "not_found", "no such object");
}

int
api_no_escalation(struct api_ctx *x, const struct qvd_acl_set *grant)
{
    if (x->superadmin || qvd_acl_contains(&x->acls, grant))
        return 0;
    return api_error(x, 403, "forbidden", "an administrator may grant only ACLs it holds itself");
}

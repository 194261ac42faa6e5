/* auth.c: authentication of a request (Basic or Bearer) through the configured back-end,
 * with failed-login throttling, counters and a per-connection cache. The order of one
 * login: on the loop, the header is parsed and the throttle asked; on a worker, the
 * back-end checks the credentials (database and password hash); on the loop again, the
 * throttle learns the outcome and the request goes on (or gets its 401). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "err.h"
#include "http.h"
#include "l7r.h"
#include "throttle.h"
#include "log.h"
#include "util.h"

static const char *const unauthorized[] = {"WWW-Authenticate", "Basic realm=\"QVD\"", NULL};

char *
l7r_b64_decode(const char *in, size_t *outlen)
{
    size_t len = strlen(in), pad = 0;
    struct qvd_buf b = QVD_BUF_INIT;
    unsigned char *out;
    int n;

    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)in[i]) && in[i] != '+' && in[i] != '/' && in[i] != '=')
            return NULL;
    if (len == 0 || len % 4 == 1 || len > 8192)
        return NULL;
    qvd_buf_adds(&b, in);
    while (b.len % 4)
        qvd_buf_addc(&b, '='); /* tolerate missing padding */
    for (size_t i = b.len; i > 0 && b.data[i - 1] == '='; i--)
        pad++;
    out = qvd_xcalloc(1, b.len / 4 * 3 + 1);
    n = EVP_DecodeBlock(out, (const unsigned char *)b.data, (int)b.len);
    qvd_buf_free(&b);
    if (n < 0 || pad > 2 || (size_t)n < pad) {
        free(out);
        return NULL;
    }
    *outlen = (size_t)n - pad;
    out[*outlen] = '\0';
    return (char *)out;
}

char *
l7r_b64_encode(const void *in, size_t len)
{
    char *out = qvd_xcalloc(1, (len + 2) / 3 * 4 + 1);

    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

void
l7r_sha256(const void *data, size_t len, unsigned char md[32])
{
    unsigned int n = 32;

    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
}

/* A credentials check on a worker. */
struct auth_job {
    struct l7r_job j;
    bool basic;
    char *login, *secret; /* the password, or the bearer token */
    int result;           /* the back-end's 1, 0 or -1 */
    char error[256];
    char ipkey[80], loginkey[160];
    unsigned char md[32]; /* of the Authorization value */
    struct l7r_user user;
};

/* The throttle key of a login: one per user however it is spelled ("demo", "DEMO",
 * "demo@default"), else an attacker would get a fresh count of guesses with each spelling. */
static void
login_key(struct l7r *l, const char *login, char *key, size_t len)
{
    snprintf(key, len, "login:");
    if (l->auth->login_key != NULL) {
        l->auth->login_key(l->cfg, login, key + 6, len - 6);
        return;
    }
    snprintf(key + 6, len - 6, "%s", login);
    for (char *p = key; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

static void
auth_job_free(struct l7r_job *job)
{
    struct auth_job *a = (struct auth_job *)job;

    if (a->secret) {
        qvd_wipe(a->secret, strlen(a->secret));
        free(a->secret);
    }
    free(a->login);
    free(a);
}

static void
auth_run(struct l7r_job *job, struct qvd_db *db)
{
    struct auth_job *a = (struct auth_job *)job;
    const struct l7r_auth_ops *ops = job->l->auth;
    struct qvd_config *cfg = job->l->cfg;

    a->result = a->basic ? ops->authenticate_basic(db, cfg, a->login, a->secret, &a->user)
                         : ops->authenticate_bearer(db, cfg, a->secret, &a->user);
    if (a->result < 0)
        snprintf(a->error, sizeof(a->error), "%s", qvd_strerror());
}

/* The answer to a check's result: 1 authenticated, else 0 with the error sent. */
static int
conclude(struct l7r_conn *c, int rc, const char *ipkey, const char *loginkey,
         const unsigned char md[32])
{
    if (rc != 0) /* right, or not known to be wrong: the attempt is no failure */
        qvd_throttle_ok(c->l7r->throttle, (const char *const[]){ipkey, loginkey}, 2, qvd_now());
    if (rc < 0) {
        log_err("%s: authentication failed: %s", c->h.peer, qvd_strerror());
        l7r_conn_error(c, 500, NULL, "Internal error while authenticating");
        return 0;
    }
    if (rc == 0) {
        l7r_conn_error(c, 401, unauthorized, "Login failed");
        return 0;
    }
    l7r_counter(c->l7r, "auth_ok");
    c->authed = true;
    memcpy(c->auth_hash, md, sizeof(c->auth_hash));
    log_info("%s: authenticated as '%s' (user %lld)", c->h.peer, c->user.login,
             (long long)c->user.id);
    return 1;
}

/* Back on the loop. A connection gone meanwhile leaves its attempt counted as a failure,
 * as an answer never read would be. */
static void
auth_done(struct l7r_job *job)
{
    struct auth_job *a = (struct auth_job *)job;
    struct l7r_conn *c = job->conn;

    if (c != NULL) {
        if (a->result < 0)
            qvd_seterr("%s", a->error);
        if (a->result == 1)
            c->user = a->user;
        else if (a->result == 0 && a->basic)
            log_info("%s: login '%s' refused", c->h.peer, a->login);
        else if (a->result == 0)
            log_info("%s: bearer token refused", c->h.peer);
        if (conclude(c, a->result, a->ipkey, a->loginkey, a->md) == 1)
            l7r_api_authed(c);
    }
    auth_job_free(job);
}

/* Starts the check of the credentials (after the throttle's): L7R_AUTH_PENDING with *job
 * filled for a worker, or 0 (refused at once: not base64, no colon). Unless *wait is set
 * (throttled), the attempt counts as a failure of ipkey and loginkey from now on, until
 * conclude gives it back (see qvd_throttle_begin). */
static int
check(struct l7r_conn *c, const char *scheme, const char *cred, char *ipkey, char *loginkey,
      long *wait, struct auth_job **job)
{
    struct l7r *l = c->l7r;
    size_t len = 0;
    char *plain = l7r_b64_decode(cred, &len), *colon = NULL;
    bool decoded = plain != NULL && strlen(plain) == len; /* base64, and no embedded NUL */
    bool basic = strcasecmp(scheme, "Basic") == 0;
    int rc = 0;

    qvd_throttle_ip_key(c->h.peer, l->throttle_v6_prefix, ipkey, 80);
    if (decoded && basic && (colon = strchr(plain, ':')) != NULL) {
        *colon = '\0';
        login_key(l, plain, loginkey, 160);
    }
    *wait = qvd_throttle_begin(l->throttle, (const char *const[]){ipkey, loginkey}, 2, qvd_now());
    if (*wait == 0 && decoded && (!basic || colon != NULL)) {
        struct auth_job *a = qvd_xcalloc(1, sizeof(*a));
        l7r_counter(l, "auth_attempts");
        a->j.run = auth_run;
        a->j.done = auth_done;
        a->j.discard = auth_job_free;
        a->basic = basic;
        a->login = basic ? qvd_xstrdup(plain) : NULL;
        a->secret = qvd_xstrdup(basic ? colon + 1 : plain);
        *job = a;
        rc = L7R_AUTH_PENDING;
    }
    if (plain) {
        qvd_wipe(plain, len);
        free(plain);
    }
    return rc;
}

int
l7r_auth_request(struct l7r_conn *c, const struct qvd_http_msg *m)
{
    const char *hdr = qvd_http_msg_header(m, "Authorization");
    char scheme[16] = "", ipkey[80] = "", loginkey[160] = "";
    unsigned char md[32];
    struct auth_job *job = NULL;
    const char *cred;
    long wait = 0;
    size_t n;
    int rc;

    if (hdr == NULL) {
        l7r_conn_error(c, 401, unauthorized, "Authentication required");
        return 0;
    }
    l7r_sha256(hdr, strlen(hdr), md);
    if (c->authed && memcmp(md, c->auth_hash, sizeof(md)) == 0)
        return 1;
    c->authed = false;
    n = strcspn(hdr, " \t");
    if (n == 0 || n >= sizeof(scheme)) {
        l7r_conn_error(c, 401, unauthorized, "Unsupported authorization scheme");
        return 0;
    }
    memcpy(scheme, hdr, n);
    cred = hdr + n + strspn(hdr + n, " \t");
    if (strcasecmp(scheme, "Basic") != 0 && strcasecmp(scheme, "Bearer") != 0) {
        l7r_conn_error(c, 401, unauthorized, "Unsupported authorization scheme");
        return 0;
    }
    rc = check(c, scheme, cred, ipkey, loginkey, &wait, &job);
    if (wait > 0) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%ld", wait);
        l7r_conn_error(c, 429, (const char *const[]){"Retry-After", secs, NULL},
                       "Too many failed logins, retry in %ld seconds", wait);
        return 0;
    }
    if (rc == L7R_AUTH_PENDING) {
        memcpy(job->ipkey, ipkey, sizeof(job->ipkey));
        memcpy(job->loginkey, loginkey, sizeof(job->loginkey));
        memcpy(job->md, md, sizeof(job->md));
        l7r_work(c->l7r, &job->j, c);
        return L7R_AUTH_PENDING;
    }
    return conclude(c, rc, ipkey, loginkey, md);
}

/* remote.c: qvd-admin's remote mode: the choice of mode, the session with qvd-api (login
 * once, a token in ~/.qvd/admin-tokens, Bearer on every call, logout) and each call's
 * answer or error sentence. The commands themselves are in remote_cmd.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "admin.h"
#include "err.h"
#include "util.h"

#define SYSTEM_QA_CONF "/etc/qvd/qa.conf"

static const char *
env(const char *key)
{
    return getenv(key);
}

static char *
tokens_file(void)
{
    char *dir = remote_qvd_dir(), *file = qvd_xasprintf("%s/admin-tokens", dir);
    free(dir);
    return file;
}

/* The login the token file is keyed by: NAME[@TENANT], or NULL when none was given. */
static char *
login_key(const struct remote_opts *o)
{
    if (o->login == NULL)
        return NULL;
    if (o->tenant != NULL && strchr(o->login, '@') == NULL)
        return qvd_xasprintf("%s@%s", o->login, o->tenant);
    return qvd_xstrdup(o->login);
}

/* The API's sentence for a failed answer. */
static char *
error_sentence(int status, const json_t *answer, char **code)
{
    const json_t *e = json_object_get(answer, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *c = json_string_value(json_object_get(e, "code"));

    *code = qvd_xstrdup(c ? c : "");
    if (msg != NULL && *msg)
        return qvd_xstrdup(msg);
    return qvd_xasprintf("the server answered %d%s%s", status, c ? " " : "", c ? c : "");
}

/* The session is over: the stored token goes, and one sentence says what to do. */
static int
session_over(struct remote *r, const char *code)
{
    char *file = tokens_file();

    if (r->login != NULL)
        remote_token_put(file, r->url, r->login, NULL);
    free(file);
    fprintf(stderr, "qvd-admin: %s: run qvd-admin --url %s%s%s login\n",
            strcmp(code, "session_expired") == 0 ? "the session has expired"
                                                 : "you are not logged in",
            r->url, r->login ? " --login " : "", r->login ? r->login : "");
    return REMOTE_ABORT;
}

int
remote_call(struct remote *r, const char *method, const char *target, const json_t *body,
            json_t **answer, char **err)
{
    struct qvd_buf text = QVD_BUF_INIT;
    char *bearer = NULL, *sent = NULL, *code = NULL;
    const char *headers[16];
    json_t *j = NULL;
    int n = 0, status = 0, rc;

    *answer = NULL;
    *err = NULL;
    headers[n++] = "Accept", headers[n++] = "application/json";
    headers[n++] = "User-Agent", headers[n++] = "qvd-admin/" QVD_VERSION;
    headers[n++] = "X-QVD-Source", headers[n++] = "cli";
    if (r->token != NULL) {
        bearer = qvd_xasprintf("Bearer %s", r->token);
        headers[n++] = "Authorization", headers[n++] = bearer;
    }
    if (body != NULL) {
        sent = json_dumps(body, JSON_COMPACT);
        headers[n++] = "Content-Type", headers[n++] = "application/json";
    }
    headers[n] = NULL;
    rc = admin_http_request(r->http, method, target, headers, sent, sent ? strlen(sent) : 0,
                            &status, &text);
    if (sent != NULL) {
        qvd_wipe(sent, strlen(sent)); /* it may hold a password */
        free(sent);
    }
    if (bearer != NULL) {
        qvd_wipe(bearer, strlen(bearer));
        free(bearer);
    }
    if (rc < 0) {
        fprintf(stderr, "qvd-admin: cannot reach %s: %s\n", r->url, qvd_strerror());
        rc = REMOTE_ABORT;
        goto out;
    }
    if (text.len > 0)
        j = json_loadb(text.data, text.len, 0, NULL);
    if (status >= 200 && status < 300) {
        if (text.len > 0 && j == NULL) {
            *err = qvd_xasprintf("the server's answer to %s %s is not JSON", method, target);
            rc = ADMIN_REFUSED;
        } else {
            *answer = j;
            j = NULL;
            rc = ADMIN_OK;
        }
        goto out;
    }
    *err = error_sentence(status, j, &code);
    rc = ADMIN_REFUSED;
    if (status == 401 && r->token != NULL &&
        (strcmp(code, "session_expired") == 0 || strcmp(code, "login_required") == 0)) {
        rc = session_over(r, code);
        free(*err);
        *err = NULL;
    }
out:
    free(code);
    json_decref(j);
    if (text.data != NULL)
        qvd_wipe(text.data, text.len); /* a login answer holds the token */
    qvd_buf_free(&text);
    return rc;
}

int
remote_new_password(struct remote *r, char **out)
{
    char *again = NULL;
    int rc;

    if (!r->o->password_stdin && !isatty(0))
        return admin_usage("give the new password on a terminal or with --password-stdin");
    rc = admin_read_secret(r->o->password_stdin, "new password: ", out);
    if (rc != ADMIN_OK || r->o->password_stdin)
        return rc < 0 ? admin_usage("no terminal to ask the password on") : rc;
    rc = admin_read_secret(false, "again: ", &again);
    if (rc == ADMIN_OK && strcmp(*out, again) != 0)
        rc = admin_refusedf("the passwords differ: nothing changed");
    if (again != NULL) {
        qvd_wipe(again, strlen(again));
        free(again);
    }
    if (rc != ADMIN_OK) {
        qvd_wipe(*out, strlen(*out));
        free(*out);
        *out = NULL;
    }
    return rc < 0 ? admin_usage("no terminal to ask the password on") : rc;
}

/* Asks the login name on the terminal (with echo). */
static char *
ask_login(void)
{
    char buf[256];
    FILE *tty;

    if (!isatty(0) || (tty = fopen("/dev/tty", "r+")) == NULL)
        return NULL;
    fputs("login: ", stderr);
    fflush(stderr);
    if (fgets(buf, sizeof(buf), tty) == NULL)
        buf[0] = '\0';
    fclose(tty);
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf[0] ? qvd_xstrdup(buf) : NULL;
}

static int
do_login(struct remote *r)
{
    struct remote_opts *o = r->o;
    const char *env_pw = getenv("QVD_ADMIN_PASSWORD");
    char *password = NULL, *err = NULL, *key = NULL, *file = NULL;
    json_t *body = NULL, *answer = NULL;
    const char *token;
    int rc;

    if (o->login == NULL && (o->login = ask_login()) == NULL)
        return admin_usage("give --login NAME[@TENANT] (or qa.login)");
    if (o->password_stdin)
        rc = admin_read_secret(true, "", &password);
    else if (env_pw != NULL && *env_pw)
        password = qvd_xstrdup(env_pw), rc = ADMIN_OK;
    else if ((rc = admin_read_secret(false, "password: ", &password)) < 0)
        rc = admin_usage("give the password on a terminal, with --password-stdin or in"
                         " QVD_ADMIN_PASSWORD");
    if (rc != ADMIN_OK)
        return rc;
    body = json_pack("{s:s,s:s}", "login", o->login, "password", password);
    if (o->tenant != NULL)
        json_object_set_new(body, "tenant", json_string(o->tenant));
    qvd_wipe(password, strlen(password));
    free(password);

    rc = remote_call(r, "POST", "/api/v1/login", body, &answer, &err);
    json_object_set_new(body, "password", json_string(""));
    if (rc != ADMIN_OK)
        goto out;
    token = json_string_value(json_object_get(answer, "token"));
    if (token == NULL) {
        rc = admin_refusedf("the server's login answer holds no token");
        goto out;
    }
    key = login_key(o);
    file = tokens_file();
    if (remote_token_put(file, r->url, key, token) < 0) {
        rc = admin_refusedf("logged in, but cannot keep the session: %s", qvd_strerror());
        goto out;
    }
    {
        const json_t *a = json_object_get(answer, "administrator");
        const char *name = json_string_value(json_object_get(a, "name"));
        const char *tenant = json_string_value(json_object_get(a, "tenant"));
        printf("logged in to %s as %s%s%s\n", r->url, name ? name : key, tenant ? "@" : "",
               tenant ? tenant : "");
    }
out:
    if (err != NULL)
        admin_refusedf("%s", err);
    free(err);
    free(key);
    free(file);
    json_decref(body);
    if (answer != NULL) {
        json_object_set_new(answer, "token", json_string(""));
        json_decref(answer);
    }
    return rc == REMOTE_ABORT ? ADMIN_REFUSED : rc;
}

static int
do_logout(struct remote *r)
{
    char *file = tokens_file(), *err = NULL;
    json_t *answer = NULL;
    int rc = ADMIN_OK;

    if (r->token == NULL) {
        printf("not logged in to %s\n", r->url);
        goto out;
    }
    rc = remote_call(r, "POST", "/api/v1/logout", NULL, &answer, &err);
    json_decref(answer);
    /* an expired session is as good as ended */
    if (rc == REMOTE_ABORT || rc == ADMIN_REFUSED)
        fprintf(stderr, "qvd-admin: the server did not end the session (%s); forgetting it\n",
                err ? err : "see above");
    if (remote_token_put(file, r->url, r->login, NULL) < 0)
        rc = admin_refusedf("%s", qvd_strerror());
    else
        rc = ADMIN_OK, printf("logged out of %s\n", r->url);
out:
    free(err);
    free(file);
    return rc;
}

static void
usage_remote(FILE *f)
{
    fprintf(f,
            "usage: qvd-admin --url URL [OPTIONS] OBJECT [FILTERS] VERB [ARGS] [order [asc|desc]"
            " FIELD...]\n"
            "       qvd-admin --url URL [--login NAME[@TENANT]] login | logout\n"
            "       qvd-admin completion bash\n"
            "objects: vm user host osf di tenant role acl admin config property log tag\n"
            "  (qvd-admin OBJECT --help lists its verbs)\n"
            "FILTERS: a bare word is name=WORD (di: version, tag: tag, config: key; NAME@TENANT\n"
            "  for users and admins; '*' makes it a pattern); else FIELD OP VALUE with OP one of\n"
            "  = != < > <= >= ~, ',' and, ';' or, '!' not, ( ), [a,b] lists, [1:9] ranges.\n"
            "options:\n");
    remote_opts_usage(f);
    fprintf(f, "Without a URL (or with -c CONFIG) qvd-admin works on the database directly:\n"
               "  qvd-admin -c CONFIG --help.\n"
               "Exit status: 0 done, 1 refused, 2 usage error.\n");
}

bool
admin_remote_main(int argc, char **argv, int *rc)
{
    char *dir = remote_qvd_dir(), *user_conf = qvd_xasprintf("%s/qa.conf", dir);
    const char *const files[2] = {SYSTEM_QA_CONF, user_conf};
    struct remote_opts o = {0};
    struct remote r = {.o = &o};
    struct remote_url url = {0};
    char **args = NULL, *file = NULL;
    int n = argc;
    bool remote = remote_wanted(argc, argv, files, env);

    free(dir);
    if (!remote)
        goto out;
    /* what it writes (session tokens) is the caller's alone. Local mode keeps the caller's
     * umask: it makes the node's storage folders, which the containers' mapped users must
     * cross; its secret, the database, is created 0600 by db_sqlite.c. */
    umask(077);
    if (remote_opts_load(&o, files, env) < 0) {
        *rc = admin_refusedf("%s", qvd_strerror());
        goto out;
    }
    args = qvd_xcalloc((size_t)argc + 1, sizeof(*args));
    memcpy(args, argv, (size_t)argc * sizeof(*args));
    if ((*rc = remote_opts_take(&o, &n, args)) != ADMIN_OK)
        goto out;
    if (o.version) {
        printf("qvd-admin %s\n", QVD_VERSION);
        goto out;
    }
    if (n == 1 || (o.help && strcmp(args[1], "login") != 0 && strcmp(args[1], "logout") != 0 &&
                   remote_object_find(args[1]) == NULL && strcmp(args[1], "property") != 0)) {
        usage_remote(o.help ? stdout : stderr);
        *rc = o.help ? ADMIN_OK : ADMIN_USAGE;
        goto out;
    }
    if (o.help) {
        remote_usage_object(stdout, args[1]);
        *rc = ADMIN_OK;
        goto out;
    }
    if (o.url == NULL || remote_url_parse(o.url, &url) < 0) {
        *rc = admin_usage("%s", o.url ? qvd_strerror() : "give the API's URL with --url");
        goto out;
    }
    r.url = qvd_xstrdup(o.url);
    if (strlen(r.url) > 1 && r.url[strlen(r.url) - 1] == '/')
        r.url[strlen(r.url) - 1] = '\0';
    r.http = admin_http_new(&url, o.ca, o.insecure);
    file = tokens_file();
    r.login = login_key(&o);
    if (strcmp(args[1], "login") == 0) {
        *rc = n > 2 ? admin_usage("login takes no arguments") : do_login(&r);
        goto out;
    }
    {
        char *stored = NULL;
        r.token = remote_token_get(file, r.url, r.login, &stored);
        if (r.login == NULL)
            r.login = stored;
        else
            free(stored);
    }
    if (strcmp(args[1], "logout") == 0) {
        *rc = n > 2 ? admin_usage("logout takes no arguments") : do_logout(&r);
        goto out;
    }
    if (r.token == NULL) {
        fprintf(stderr,
                "qvd-admin: you are not logged in to %s: run qvd-admin --url %s%s%s"
                " login\n",
                r.url, r.url, r.login ? " --login " : "", r.login ? r.login : "");
        *rc = ADMIN_REFUSED;
        goto out;
    }
    *rc = remote_command(&r, n - 1, args + 1);
    if (*rc == REMOTE_ABORT)
        *rc = ADMIN_REFUSED;
out:
    if (r.token != NULL)
        qvd_wipe(r.token, strlen(r.token));
    free(r.token);
    free(r.login);
    free(r.url);
    admin_http_free(r.http);
    remote_url_free(&url);
    remote_opts_free(&o);
    free(args);
    free(file);
    free(user_conf);
    return remote;
}

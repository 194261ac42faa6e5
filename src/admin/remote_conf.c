/* remote_conf.c: remote mode's global options (one table: parsing and help), qa.conf files,
 * the environment, and the server URL. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "err.h"
#include "util.h"

#define API_DEFAULT_PORT 3443

enum gopt_id {
    G_URL,
    G_LOGIN,
    G_TENANT,
    G_CA,
    G_INSECURE,
    G_PASSWORD_STDIN,
    G_FORMAT,
    G_JSON,
    G_CSV,
    G_YES,
    G_LIMIT,
    G_OFFSET,
    G_HELP,
    G_VERSION
};

/* One global option of remote mode; `key` is its qa.conf key, if any. */
struct gopt {
    enum gopt_id id;
    const char *name, *shortname;
    const char *arg; /* NULL for flags */
    const char *key;
    const char *help;
};

static const struct gopt gopts[] = {
    {G_URL, "url", NULL, "URL", "qa.url",
     "the API: https://HOST[:PORT] or unix:/PATH/api.sock (also QVD_API_URL)"},
    {G_LOGIN, "login", NULL, "NAME[@TENANT]", "qa.login", "the administrator (login)"},
    {G_TENANT, "tenant", NULL, "TENANT", "qa.tenant", "the administrator's tenant (login)"},
    {G_CA, "ca", NULL, "FILE", "qa.ca", "trust the CA certificates of FILE too"},
    {G_INSECURE, "insecure", NULL, NULL, "qa.insecure", "do not verify the server certificate"},
    {G_PASSWORD_STDIN, "password-stdin", NULL, NULL, NULL,
     "read passwords from stdin (else QVD_ADMIN_PASSWORD for login, or the terminal)"},
    {G_FORMAT, "format", NULL, "table|csv|json", "qa.format", "output of listings"},
    {G_JSON, "json", NULL, NULL, NULL, "--format json"},
    {G_CSV, "csv", NULL, NULL, NULL, "--format csv"},
    {G_YES, "yes", "-y", NULL, NULL, "do not ask before deleting or stopping several objects"},
    {G_LIMIT, "limit", NULL, "N", NULL, "list at most N rows (default: all, in pages of 1000)"},
    {G_OFFSET, "offset", NULL, "N", NULL, "skip the first N rows"},
    {G_HELP, "help", "-h", NULL, NULL, "this help; OBJECT --help: its verbs"},
    {G_VERSION, "version", NULL, NULL, NULL, "print the version"},
};

static const struct gopt *
gopt_find(const char *a, const char **value)
{
    *value = NULL;
    for (size_t i = 0; i < QVD_ARRAY_LEN(gopts); i++) {
        const struct gopt *g = &gopts[i];
        size_t n = strlen(g->name);
        if (g->shortname && strcmp(a, g->shortname) == 0)
            return g;
        if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, g->name, n) != 0)
            continue;
        if (a[2 + n] == '\0')
            return g;
        if (a[2 + n] == '=' && g->arg) {
            *value = a + 3 + n;
            return g;
        }
    }
    return NULL;
}

static int
parse_format(const char *v, enum admin_format *f)
{
    if (strcasecmp(v, "table") == 0)
        *f = ADMIN_FMT_TABLE;
    else if (strcasecmp(v, "csv") == 0)
        *f = ADMIN_FMT_CSV;
    else if (strcasecmp(v, "json") == 0)
        *f = ADMIN_FMT_JSON;
    else
        return -1;
    return 0;
}

static void
set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v && *v ? qvd_xstrdup(v) : NULL;
}

/* Reads the qa.conf files in order (later wins); NULL + qvd_strerror() on a bad file. */
static struct qvd_config *
load_files(const char *const files[2])
{
    struct qvd_config *cfg = qvd_config_new();

    for (int i = 0; i < 2; i++)
        if (files[i] != NULL && qvd_config_load_file(cfg, files[i], false) < 0) {
            qvd_config_free(cfg);
            return NULL;
        }
    return cfg;
}

int
remote_opts_load(struct remote_opts *o, const char *const files[2],
                 const char *(*env)(const char *))
{
    struct qvd_config *cfg = load_files(files);
    const char *v;

    o->limit = o->offset = -1;
    if (cfg == NULL)
        return -1;
    set_str(&o->url, qvd_config_get(cfg, "qa.url"));
    set_str(&o->login, qvd_config_get(cfg, "qa.login"));
    set_str(&o->tenant, qvd_config_get(cfg, "qa.tenant"));
    set_str(&o->ca, qvd_config_get(cfg, "qa.ca"));
    o->insecure = qvd_config_bool(cfg, "qa.insecure");
    if ((v = qvd_config_get(cfg, "qa.format")) != NULL && *v && parse_format(v, &o->format) < 0) {
        qvd_config_free(cfg);
        return qvd_seterr("qa.format '%s' is not table, csv or json", v);
    }
    qvd_config_free(cfg);
    if (env != NULL && (v = env("QVD_API_URL")) != NULL && *v)
        set_str(&o->url, v);
    return 0;
}

bool
remote_wanted(int argc, char **argv, const char *const files[2], const char *(*env)(const char *))
{
    const char *v;
    bool url = false;
    int i = 1;

    /* the local mode's leading options: -c chooses it, db exists only there */
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        const struct gopt *g = gopt_find(argv[i], &v);
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
            return false;
        if (g != NULL && g->arg != NULL && v == NULL)
            i++;
    }
    if (i < argc && strcmp(argv[i], "db") == 0)
        return false;
    for (int j = 1; j < argc; j++)
        if (strcmp(argv[j], "--url") == 0 || strncmp(argv[j], "--url=", 6) == 0)
            url = true;
    if (url || (env != NULL && (v = env("QVD_API_URL")) != NULL && *v))
        return true;
    struct qvd_config *cfg = load_files(files);
    if (cfg == NULL) /* a broken qa.conf is reported by remote mode */
        return true;
    v = qvd_config_get(cfg, "qa.url");
    url = v != NULL && *v;
    qvd_config_free(cfg);
    return url;
}

int
remote_opts_take(struct remote_opts *o, int *argc, char **argv)
{
    bool json = false, csv = false, format = false;
    int out = 1;

    for (int i = 1; i < *argc; i++) {
        const char *v;
        const struct gopt *g = gopt_find(argv[i], &v);
        long n;

        if (g == NULL) {
            if (strncmp(argv[i], "--", 2) == 0 && argv[i][2] != '\0')
                return admin_usage("unknown option %s (see qvd-admin --help)", argv[i]);
            argv[out++] = argv[i];
            continue;
        }
        if (g->arg != NULL && v == NULL) {
            if (i + 1 == *argc)
                return admin_usage("--%s needs a value (%s)", g->name, g->arg);
            v = argv[++i];
        }
        switch (g->id) {
        case G_URL:
            set_str(&o->url, v);
            break;
        case G_LOGIN:
            set_str(&o->login, v);
            break;
        case G_TENANT:
            set_str(&o->tenant, v);
            break;
        case G_CA:
            set_str(&o->ca, v);
            break;
        case G_INSECURE:
            o->insecure = true;
            break;
        case G_PASSWORD_STDIN:
            o->password_stdin = true;
            break;
        case G_YES:
            o->yes = true;
            break;
        case G_HELP:
            o->help = true;
            break;
        case G_VERSION:
            o->version = true;
            break;
        case G_JSON:
            json = true;
            o->format = ADMIN_FMT_JSON;
            break;
        case G_CSV:
            csv = true;
            o->format = ADMIN_FMT_CSV;
            break;
        case G_FORMAT:
            if (parse_format(v, &o->format) < 0)
                return admin_usage("--format '%s': give table, csv or json", v);
            format = true;
            break;
        case G_LIMIT:
        case G_OFFSET:
            if (qvd_parse_long(v, &n) < 0 || n < (g->id == G_LIMIT ? 1 : 0))
                return admin_usage("--%s '%s' is not a number%s", g->name, v,
                                   g->id == G_LIMIT ? " above 0" : "");
            *(g->id == G_LIMIT ? &o->limit : &o->offset) = n;
            break;
        }
    }
    if (json + csv + format > 1)
        return admin_usage("--json, --csv and --format: give one of them");
    *argc = out;
    argv[out] = NULL;
    return ADMIN_OK;
}

void
remote_opts_free(struct remote_opts *o)
{
    free(o->url);
    free(o->login);
    free(o->tenant);
    free(o->ca);
    memset(o, 0, sizeof(*o));
}

void
remote_opts_usage(FILE *f)
{
    for (size_t i = 0; i < QVD_ARRAY_LEN(gopts); i++) {
        const struct gopt *g = &gopts[i];
        char head[64];
        snprintf(head, sizeof(head), "%s%s--%s%s%s", g->shortname ? g->shortname : "",
                 g->shortname ? ", " : "", g->name, g->arg ? " " : "", g->arg ? g->arg : "");
        fprintf(f, "  %-28s %s%s%s%s\n", head, g->help, g->key ? " (" : "", g->key ? g->key : "",
                g->key ? ")" : "");
    }
}

int
remote_url_parse(const char *url, struct remote_url *u)
{
    memset(u, 0, sizeof(*u));
    if (strncmp(url, "unix:", 5) == 0) {
        const char *p = url + 5;
        if (strncmp(p, "//", 2) == 0)
            p += 2;
        if (*p != '/')
            return qvd_seterr("the URL %s names no socket: give unix:/PATH/api.sock", url);
        u->unix_socket = true;
        u->path = qvd_xstrdup(p);
        return 0;
    }
    if (strncmp(url, "http://", 7) == 0)
        return qvd_seterr("the API is served over TLS: give https://HOST[:PORT], or unix:/PATH "
                          "for its local socket");
    if (strncmp(url, "https://", 8) != 0)
        return qvd_seterr("the URL %s is not https://HOST[:PORT] or unix:/PATH", url);

    const char *h = url + 8, *end, *rest;
    if (*h == '[') {
        end = strchr(h, ']');
        if (end == NULL || end == h + 1)
            return qvd_seterr("the URL %s has a bad IPv6 address", url);
        u->host = qvd_xstrndup(h + 1, (size_t)(end - h - 1));
        rest = end + 1;
    } else {
        end = h + strcspn(h, ":/");
        if (end == h) {
            return qvd_seterr("the URL %s names no host", url);
        }
        u->host = qvd_xstrndup(h, (size_t)(end - h));
        rest = end;
    }
    u->port = API_DEFAULT_PORT;
    if (*rest == ':') {
        char *port = qvd_xstrndup(rest + 1, strcspn(rest + 1, "/"));
        long n;
        int bad = qvd_parse_long(port, &n) < 0 || n < 1 || n > 65535;
        free(port);
        if (bad) {
            remote_url_free(u);
            return qvd_seterr("the URL %s has a bad port", url);
        }
        u->port = (int)n;
        rest += 1 + strcspn(rest + 1, "/");
    }
    if (*rest != '\0' && strcmp(rest, "/") != 0) {
        remote_url_free(u);
        return qvd_seterr("the URL %s has a path: give https://HOST[:PORT] only", url);
    }
    return 0;
}

void
remote_url_free(struct remote_url *u)
{
    free(u->host);
    free(u->path);
    memset(u, 0, sizeof(*u));
}

char *
remote_qvd_dir(void)
{
    const char *home = getenv("HOME");

    if (home == NULL || *home == '\0') {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : "/";
    }
    return qvd_xasprintf("%s/.qvd", home);
}

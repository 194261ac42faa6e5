/* main.c: qvd-admin: command-line administration with direct database access (local mode),
 * or through qvd-api when a URL is configured (remote mode, remote.c).
 * Grammar: qvd-admin [-c CONFIG] [--json] OBJECT VERB [--option value ...] [ARG ...] */
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "model.h"
#include "util.h"

static const char *const prop_objects[] = {"tenant", "user", "osf", "di", "vm", "host", NULL};

/* The verbs that change nothing: every other command is audited. */
static bool
verb_reads(const char *verb)
{
    static const char *const reads[] = {"list", "get", "proplist", "version", "defaults", NULL};

    for (int i = 0; reads[i]; i++)
        if (strcmp(reads[i], verb) == 0)
            return true;
    return false;
}

/* A change made in local mode goes to the audit log as qvd-api's do, with source "cli" and
 * the system user who ran it (local mode needs root on the node: there is no
 * administrator account to name). The options are the arguments, without passwords. */
static void
audit_cli(struct admin_ctx *ctx, int rc)
{
    const struct passwd *pw = getpwuid(getuid());
    char uid[32];
    json_t *args = json_object();
    char *text;

    snprintf(uid, sizeof(uid), "uid %u", (unsigned)getuid());
    for (int i = 0; i < ctx->nopts; i++)
        if (strstr(ctx->opt_name[i], "password") == NULL)
            json_object_set_new(args, ctx->opt_name[i],
                                ctx->opt_value[i] ? json_string(ctx->opt_value[i]) : json_true());
    for (int i = 0; i < ctx->npos; i++) {
        char key[16];
        snprintf(key, sizeof(key), "arg%d", i + 1);
        json_object_set_new(args, key, json_string(ctx->pos[i]));
    }
    text = json_dumps(args, JSON_COMPACT);
    char *action = qvd_xasprintf("%s.%s", ctx->object, ctx->verb);
    struct qvd_model_audit a = {
        .admin_id = -1,
        .admin = pw ? pw->pw_name : uid,
        .tenant_id = -2,
        .tenant = "",
        .action = action,
        .object = ctx->object,
        .object_id = -1,
        .object_name = "",
        .arguments = text ? text : "{}",
        .status = rc == ADMIN_OK ? 200 : 422,
        .message = rc == ADMIN_OK ? "" : qvd_strerror(),
        .source = "cli",
        .ip = "",
    };
    if (qvd_model_audit(ctx->db, &a) < 0)
        fprintf(stderr, "qvd-admin: warning: the audit log was not written: %s\n", qvd_strerror());
    free(action);
    free(text);
    json_decref(args);
}

static bool
has_props(const char *object)
{
    for (int i = 0; prop_objects[i]; i++)
        if (strcmp(prop_objects[i], object) == 0)
            return true;
    return false;
}

static bool
known_object(const char *object)
{
    for (int i = 0; admin_cmds[i]; i++)
        if (admin_cmds[i]->object && strcmp(admin_cmds[i]->object, object) == 0)
            return true;
    return false;
}

static void
usage_cmd(FILE *f, const char *object, const struct admin_cmd *c)
{
    fprintf(f, "  qvd-admin %s %-8s %s\n", object, c->verb, c->usage ? c->usage : "");
    if (c->help)
        fprintf(f, "      %s\n", c->help);
}

static void
usage_object(FILE *f, const char *object)
{
    fprintf(f, "usage:\n");
    for (int i = 0; admin_cmds[i]; i++) {
        const struct admin_cmd *c = admin_cmds[i];
        if (c->object ? strcmp(c->object, object) == 0 : has_props(object))
            usage_cmd(f, object, c);
    }
}

static void
usage_main(FILE *f)
{
    fprintf(f,
            "usage: qvd-admin [-c CONFIG] [--json | --csv] OBJECT VERB [--option value ...]\n"
            "objects: tenant user osf di vm host config admin role db (qvd-admin OBJECT --help)\n"
            "  -c CONFIG  node configuration (default: $QVD_CONFIG, else /etc/qvd/node.conf)\n"
            "  --json     print listings as a JSON array\n"
            "  --csv      print listings as CSV (RFC 4180, a header line first)\n"
            "Users are named LOGIN@TENANT or --tenant NAME; the common tenant is '-'.\n"
            "Exit status: 0 done, 1 refused (database unchanged), 2 usage error.\n"
            "Remote mode, through qvd-api: qvd-admin --url URL --help (docs/admin.md).\n");
}

static const struct admin_cmd *
find_cmd(const char *object, const char *verb)
{
    for (int i = 0; admin_cmds[i]; i++) {
        const struct admin_cmd *c = admin_cmds[i];
        if (strcmp(c->verb, verb) != 0)
            continue;
        if (c->object ? strcmp(c->object, object) == 0 : has_props(object))
            return c;
    }
    return NULL;
}

static const struct admin_opt *
find_opt(const struct admin_cmd *c, const char *name)
{
    for (const struct admin_opt *o = c->opts; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* Parses the options after the verb into ctx; ADMIN_OK or ADMIN_USAGE (printed). */
static int
parse_opts(struct admin_ctx *ctx, const struct admin_cmd *c, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        char *a = argv[i], *eq;
        const struct admin_opt *o;

        if (strcmp(a, "--json") == 0 || strcmp(a, "--csv") == 0) {
            *(a[2] == 'j' ? &ctx->json : &ctx->csv) = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (ctx->npos == ADMIN_MAX_POS || ctx->npos == c->npos)
                return admin_usage("unexpected argument '%s' for '%s %s' (see qvd-admin %s"
                                   " --help)",
                                   a, ctx->object, c->verb, ctx->object);
            ctx->pos[ctx->npos++] = a;
            continue;
        }
        a += 2;
        eq = strchr(a, '=');
        if (eq != NULL)
            *eq = '\0';
        o = find_opt(c, a);
        if (o == NULL)
            return admin_usage("unknown option --%s for '%s %s' (see qvd-admin %s --help)", a,
                               ctx->object, c->verb, ctx->object);
        if (admin_opt(ctx, a) != NULL || admin_flag(ctx, a))
            return admin_usage("option --%s given twice", a);
        if (ctx->nopts == ADMIN_MAX_OPTS)
            return admin_usage("too many options");
        ctx->opt_name[ctx->nopts] = o->name;
        if (!o->arg) {
            if (eq != NULL)
                return admin_usage("option --%s takes no value", a);
            ctx->opt_value[ctx->nopts++] = NULL;
        } else if (eq != NULL) {
            ctx->opt_value[ctx->nopts++] = eq + 1;
        } else if (i + 1 < argc) {
            ctx->opt_value[ctx->nopts++] = argv[++i];
        } else {
            return admin_usage("option --%s needs a value", a);
        }
    }
    for (const struct admin_opt *o = c->opts; o && o->name; o++)
        if (o->required && admin_opt(ctx, o->name) == NULL)
            return admin_usage("'%s %s' needs --%s (see qvd-admin %s --help)", ctx->object, c->verb,
                               o->name, ctx->object);
    if (ctx->npos < c->npos)
        return admin_usage("'%s %s' needs %d argument%s: %s", ctx->object, c->verb, c->npos,
                           c->npos > 1 ? "s" : "", c->usage);
    return ADMIN_OK;
}

int
main(int argc, char **argv)
{
    struct admin_ctx ctx = {0};
    const char *config_path = NULL;
    const struct admin_cmd *c;
    int i = 1, rc;

    qvd_log_init("qvd-admin", QVD_LOG_WARN, NULL);
    if (argc >= 2 && strcmp(argv[1], "completion") == 0)
        return admin_completion(argc - 1, argv + 1);
    /* a URL (--url, QVD_API_URL, qa.url) and no -c: the command goes to qvd-api */
    if (admin_remote_main(argc, argv, &rc))
        return rc;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (++i == argc)
                return admin_usage("-c needs a configuration file");
            config_path = argv[i];
        } else if (strcmp(argv[i], "--json") == 0) {
            ctx.json = true;
        } else if (strcmp(argv[i], "--csv") == 0) {
            ctx.csv = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_main(stdout);
            return ADMIN_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("qvd-admin %s\n", QVD_VERSION);
            return ADMIN_OK;
        } else if (strcmp(argv[i], "--login") == 0 || strcmp(argv[i], "--tenant") == 0 ||
                   strcmp(argv[i], "--insecure") == 0 || strcmp(argv[i], "--ca") == 0) {
            return admin_usage("%s is for remote mode: give --url URL (or QVD_API_URL, qa.url)"
                               " and no -c",
                               argv[i]);
        } else {
            return admin_usage("unknown option %s (see qvd-admin --help)", argv[i]);
        }
    }
    if (i == argc) {
        usage_main(stderr);
        return ADMIN_USAGE;
    }
    ctx.object = argv[i++];
    if (!known_object(ctx.object))
        return admin_usage(
            "unknown object '%s' (objects: tenant user osf di vm host config admin role db)",
            ctx.object);
    if (i == argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
        usage_object(i == argc ? stderr : stdout, ctx.object);
        return i == argc ? ADMIN_USAGE : ADMIN_OK;
    }
    ctx.verb = argv[i++];
    c = find_cmd(ctx.object, ctx.verb);
    if (c == NULL)
        return admin_usage("unknown verb '%s' for %s (see qvd-admin %s --help)", ctx.verb,
                           ctx.object, ctx.object);
    for (int j = i; j < argc; j++)
        if (strcmp(argv[j], "--help") == 0) {
            usage_cmd(stdout, ctx.object, c);
            return ADMIN_OK;
        }
    if ((rc = parse_opts(&ctx, c, argc - i, argv + i)) != ADMIN_OK)
        return rc;
    if (ctx.json && ctx.csv)
        return admin_usage("--json and --csv: give one of them");

    ctx.cfg = qvd_config_load_program("node.conf", config_path);
    if (ctx.cfg == NULL)
        return admin_refused();
    {
        const char *lvl = qvd_config_get(ctx.cfg, "log.level");
        enum qvd_log_level l = qvd_log_level_parse(lvl ? lvl : "warn");
        qvd_log_init("qvd-admin", l < QVD_LOG_WARN ? QVD_LOG_WARN : l, NULL);
    }
    if (!c->no_db) {
        ctx.db = qvd_db_open(ctx.cfg);
        if (ctx.db == NULL || qvd_db_migrate(ctx.db) < 0) {
            rc = admin_refused();
            goto out;
        }
    }
    rc = c->exec(&ctx);
    if (ctx.db != NULL && !verb_reads(ctx.verb))
        audit_cli(&ctx, rc);
out:
    qvd_db_close(ctx.db);
    qvd_config_free(ctx.cfg);
    return rc;
}

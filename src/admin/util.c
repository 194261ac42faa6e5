/* util.c: qvd-admin helpers: options, error lines, table/JSON output, object references. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "admin.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "model.h"
#include "model_stats.h"
#include "util.h"

const char *
admin_opt(struct admin_ctx *ctx, const char *name)
{
    for (int i = 0; i < ctx->nopts; i++)
        if (strcmp(ctx->opt_name[i], name) == 0)
            return ctx->opt_value[i];
    return NULL;
}

bool
admin_flag(struct admin_ctx *ctx, const char *name)
{
    for (int i = 0; i < ctx->nopts; i++)
        if (strcmp(ctx->opt_name[i], name) == 0)
            return true;
    return false;
}

int
admin_opt_int(struct admin_ctx *ctx, const char *name, int64_t *out)
{
    const char *v = admin_opt(ctx, name);
    long n;

    if (v == NULL)
        return 0;
    if (qvd_parse_long(v, &n) < 0) {
        admin_usage("--%s '%s' is not a number", name, v);
        return -1;
    }
    *out = n;
    return 1;
}

int
admin_opt_bool(struct admin_ctx *ctx, const char *name, int *bad)
{
    const char *v = admin_opt(ctx, name);

    if (v == NULL)
        return -1;
    if (strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
        return 1;
    if (strcmp(v, "0") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
        return 0;
    *bad = admin_usage("--%s '%s' is not 0 or 1", name, v);
    return -1;
}

__attribute__((format(printf, 2, 0))) static int
vline(int status, const char *fmt, va_list ap)
{
    char msg[1200];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* one line, whatever the message holds */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "qvd-admin: %s\n", msg);
    return status;
}

int
admin_usage(const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vline(ADMIN_USAGE, fmt, ap);
    va_end(ap);
    return rc;
}

int
admin_refusedf(const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vline(ADMIN_REFUSED, fmt, ap);
    va_end(ap);
    return rc;
}

int
admin_refused(void)
{
    return admin_refusedf("%s", qvd_strerror());
}

void
admin_done(struct admin_ctx *ctx, const char *what, int64_t id)
{
    if (ctx->json)
        printf("{\"id\": %lld}\n", (long long)id);
    else
        printf("%s %lld\n", what, (long long)id);
}

/* Columns printed as JSON numbers; everything else is a string. */
static bool
int_column(const char *name)
{
    static const char *const ints[] = {"id",
                                       "blocked",
                                       "memory",
                                       "use_overlay",
                                       "user_storage_size",
                                       "is_application",
                                       "dis",
                                       "vms",
                                       "frontend",
                                       "backend",
                                       "ok_ts",
                                       "usable_ram",
                                       "usable_cpu",
                                       "heartbeat_age",
                                       "memory_committed",
                                       "lost_ts",
                                       "object_id",
                                       NULL};
    size_t len = strlen(name);

    if (len > 3 && strcmp(name + len - 3, "_id") == 0)
        return true;
    for (int i = 0; ints[i]; i++)
        if (strcmp(ints[i], name) == 0)
            return true;
    return false;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break; then a
 * comma, or CRLF at the end of the record. */
static void
csv_field(struct qvd_buf *out, const char *v, bool more)
{
    if (strpbrk(v, ",\"\r\n") != NULL) {
        qvd_buf_addc(out, '"');
        for (const char *p = v; *p; p++) {
            if (*p == '"')
                qvd_buf_addc(out, '"');
            qvd_buf_addc(out, *p);
        }
        qvd_buf_addc(out, '"');
    } else {
        qvd_buf_adds(out, v);
    }
    qvd_buf_adds(out, more ? "," : "\r\n");
}

void
admin_print_rows(bool csv, const char *const *names, int ncol, char ***rows, size_t nrows)
{
    struct qvd_buf out = QVD_BUF_INIT;
    size_t *width = qvd_xcalloc((size_t)ncol + 1, sizeof(*width));

    if (csv) {
        for (int c = 0; c < ncol; c++)
            csv_field(&out, names[c], c + 1 < ncol);
        for (size_t r = 0; r < nrows; r++)
            for (int c = 0; c < ncol; c++)
                csv_field(&out, rows[r][c], c + 1 < ncol);
    } else {
        for (int c = 0; c < ncol; c++) {
            width[c] = strlen(names[c]);
            for (size_t r = 0; r < nrows; r++)
                if (strlen(rows[r][c]) > width[c])
                    width[c] = strlen(rows[r][c]);
        }
        for (int c = 0; c < ncol; c++)
            qvd_buf_printf(&out, "%-*s%s", c + 1 < ncol ? (int)width[c] : 0, names[c],
                           c + 1 < ncol ? "  " : "\n");
        for (size_t r = 0; r < nrows; r++)
            for (int c = 0; c < ncol; c++)
                qvd_buf_printf(&out, "%-*s%s", c + 1 < ncol ? (int)width[c] : 0, rows[r][c],
                               c + 1 < ncol ? "  " : "\n");
    }
    fputs(qvd_buf_str(&out), stdout);
    qvd_buf_free(&out);
    free(width);
}

int
admin_print(struct admin_ctx *ctx, struct qvd_stmt *st)
{
    struct qvd_model_table t;
    char ***rows;

    if (qvd_model_table_read(st, &t) < 0)
        return admin_refused();
    if (ctx->json) {
        json_t *arr = json_array();
        for (size_t r = 0; r < t.nrows; r++) {
            json_t *obj = json_object();
            for (int c = 0; c < t.ncol; c++) {
                const char *name = t.names[c], *v = t.rows[r][c];
                if (v == NULL)
                    json_object_set_new(obj, name, json_null());
                else if (int_column(name))
                    json_object_set_new(obj, name, json_integer(strtoll(v, NULL, 10)));
                else
                    json_object_set_new(obj, name, json_string(v));
            }
            json_array_append_new(arr, obj);
        }
        char *text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text ? text : "[]");
        free(text);
        json_decref(arr);
        qvd_model_table_free(&t);
        return ADMIN_OK;
    }
    /* the text and CSV forms show SQL NULL as an empty field */
    rows = qvd_xcalloc(t.nrows + 1, sizeof(*rows));
    for (size_t r = 0; r < t.nrows; r++) {
        rows[r] = qvd_xcalloc((size_t)t.ncol + 1, sizeof(**rows));
        for (int c = 0; c < t.ncol; c++)
            rows[r][c] = t.rows[r][c] ? t.rows[r][c] : "";
    }
    admin_print_rows(ctx->csv, (const char *const *)t.names, t.ncol, rows, t.nrows);
    for (size_t r = 0; r < t.nrows; r++)
        free(rows[r]);
    free(rows);
    qvd_model_table_free(&t);
    return ADMIN_OK;
}

int
admin_tenant(struct admin_ctx *ctx, const char *opt, bool use_default, int64_t *id)
{
    const char *name = admin_opt(ctx, opt);

    if (name == NULL && !use_default)
        return admin_usage("'%s %s' needs --%s", ctx->object, ctx->verb, opt);
    if (name == NULL)
        name = qvd_config_get(ctx->cfg, "l7r.auth.plugin.default.tenant");
    if (qvd_model_tenant_find(ctx->db, name ? name : "default", id) < 0)
        return admin_refused();
    return ADMIN_OK;
}

int
admin_user(struct admin_ctx *ctx, const char *id_opt, const char *login_opt, int64_t *id)
{
    const char *login = admin_opt(ctx, login_opt);
    int r = admin_opt_int(ctx, id_opt, id);

    if (r < 0)
        return ADMIN_USAGE;
    if (r == 1 && login != NULL)
        return admin_usage("give --%s or --%s, not both", id_opt, login_opt);
    if (r == 1)
        return ADMIN_OK;
    if (login == NULL)
        return admin_usage("'%s %s' needs --%s or --%s", ctx->object, ctx->verb, id_opt, login_opt);
    if (qvd_model_user_find(ctx->db, ctx->cfg, login, admin_opt(ctx, "tenant"), id) < 0)
        return admin_refused();
    return ADMIN_OK;
}

int
admin_osf(struct admin_ctx *ctx, int64_t tenant_id, int64_t *id)
{
    const char *name = admin_opt(ctx, "osf");
    int r = admin_opt_int(ctx, "osf-id", id);

    if (r < 0)
        return ADMIN_USAGE;
    if (r == 1 && name != NULL)
        return admin_usage("give --osf or --osf-id, not both");
    if (r == 1)
        return ADMIN_OK;
    if (name == NULL)
        return admin_usage("'%s %s' needs --osf NAME or --osf-id N", ctx->object, ctx->verb);
    if (qvd_model_osf_find(ctx->db, tenant_id, name, id) < 0)
        return admin_refused();
    return ADMIN_OK;
}

int
admin_host(struct admin_ctx *ctx, int64_t *id)
{
    const char *name = admin_opt(ctx, "name");
    int r = admin_opt_int(ctx, "id", id);

    if (r < 0)
        return ADMIN_USAGE;
    if (r == 1 && name != NULL)
        return admin_usage("give --id or --name, not both");
    if (r == 1)
        return ADMIN_OK;
    if (name == NULL)
        return admin_usage("'%s %s' needs --id N or --name NAME", ctx->object, ctx->verb);
    if (qvd_model_host_find(ctx->db, name, id) < 0)
        return admin_refused();
    return ADMIN_OK;
}

int
admin_need_id(struct admin_ctx *ctx, int64_t *id)
{
    int r = admin_opt_int(ctx, "id", id);

    if (r < 0)
        return ADMIN_USAGE;
    if (r == 0)
        return admin_usage("'%s %s' needs --id N", ctx->object, ctx->verb);
    return ADMIN_OK;
}

static char *
read_line(FILE *f)
{
    char buf[1100];

    if (fgets(buf, sizeof(buf), f) == NULL)
        return NULL;
    buf[strcspn(buf, "\r\n")] = '\0';
    char *s = qvd_xstrdup(buf);
    qvd_wipe(buf, sizeof(buf));
    return s;
}

int
admin_read_secret(bool from_stdin, const char *prompt, char **out)
{
    struct termios old, quiet;
    FILE *tty;

    *out = NULL;
    if (from_stdin) {
        *out = read_line(stdin);
    } else if (isatty(0) && (tty = fopen("/dev/tty", "r+")) != NULL) {
        fputs(prompt, stderr);
        fflush(stderr);
        tcgetattr(fileno(tty), &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
        *out = read_line(tty);
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
        fputs("\n", stderr);
        fclose(tty);
    } else {
        return -1;
    }
    if (*out == NULL || **out == '\0') {
        free(*out);
        *out = NULL;
        return admin_usage("the password is empty");
    }
    return ADMIN_OK;
}

int
admin_password(struct admin_ctx *ctx, char **out)
{
    const char *given = admin_opt(ctx, "password");
    int rc;

    *out = NULL;
    if (given != NULL && admin_flag(ctx, "password-stdin"))
        return admin_usage("give --password or --password-stdin, not both");
    if (given != NULL) {
        *out = qvd_xstrdup(given);
        if (**out == '\0') {
            free(*out);
            *out = NULL;
            return admin_usage("the password is empty");
        }
        return ADMIN_OK;
    }
    rc = admin_read_secret(admin_flag(ctx, "password-stdin"), "password: ", out);
    if (rc < 0)
        return admin_usage("give the password with --password, --password-stdin or on a"
                           " terminal");
    return rc;
}

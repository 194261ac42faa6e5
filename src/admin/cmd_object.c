/* cmd_object.c: local mode's options checked against the objects' description
 * (src/lib/resource.c), the one validation qvd-api runs on its bodies: an option that is a
 * member of the object (--memory, --user-storage-size) goes into a JSON object as the API
 * would get it, typed by the description, so a bad value is refused with the API's
 * sentence. Options that are the command's own (--id, --tenant NAME) are not members. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "admin.h"
#include "err.h"
#include "model.h"
#include "resource.h"
#include "util.h"

/* Local options that a member spells otherwise, per object. */
static const struct {
    const char *object, *option, *member;
} aliases[] = {
    {"user", "login", "name"},
    {"di", "path", "file"},
};

static const struct qvd_resource *
resource_of(const char *object)
{
    const char *o = strcmp(object, "admin") == 0 ? "administrator" : object;

    for (size_t i = 0; qvd_resources[i] != NULL; i++)
        if (strcmp(qvd_resources[i]->object, o) == 0)
            return qvd_resources[i];
    return NULL;
}

/* The member an option names: "user-storage-size" -> "user_storage_size". */
static void
member_name(const char *object, const char *option, char *out, size_t len)
{
    for (size_t i = 0; i < QVD_ARRAY_LEN(aliases); i++)
        if (strcmp(aliases[i].object, object) == 0 && strcmp(aliases[i].option, option) == 0) {
            snprintf(out, len, "%s", aliases[i].member);
            return;
        }
    snprintf(out, len, "%s", option);
    for (char *c = out; *c; c++)
        if (*c == '-')
            *c = '_';
}

/* The option's text as the member's JSON value; text that is not of the member's type
 * stays a string, for the check to refuse. */
static json_t *
typed(const struct qvd_field *f, const char *v)
{
    long n;

    if (f->type == QVD_FIELD_INT && qvd_parse_long(v, &n) == 0)
        return json_integer(n);
    if (f->type == QVD_FIELD_BOOL) {
        if (strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
            return json_true();
        if (strcmp(v, "0") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
            return json_false();
    }
    return json_string_nocheck(v);
}

int
admin_check_members(struct admin_ctx *ctx, bool create)
{
    return admin_members(ctx, create, NULL);
}

int
admin_members(struct admin_ctx *ctx, bool create, json_t **out)
{
    const struct qvd_resource *r = resource_of(ctx->object);
    json_t *values = json_object();
    char name[64];
    int rc = ADMIN_OK;

    if (out != NULL)
        *out = NULL;
    if (r == NULL) {
        json_decref(values);
        return ADMIN_OK;
    }
    for (int i = 0; i < ctx->nopts; i++) {
        const struct qvd_field *f;
        member_name(ctx->object, ctx->opt_name[i], name, sizeof(name));
        if (ctx->opt_value[i] != NULL && (f = qvd_resource_member(r, name, create)) != NULL)
            json_object_set_new(values, name, typed(f, ctx->opt_value[i]));
    }
    /* the command asks for what it requires itself (a password may come on stdin) */
    if (qvd_resource_check(r, values, create ? QVD_CHECK_CREATE | QVD_CHECK_PARTIAL : 0, NULL) < 0)
        rc = admin_refused();
    if (rc == ADMIN_OK && out != NULL)
        *out = values;
    else
        json_decref(values);
    return rc;
}

/* Appends the filter term FIELD=VALUE, ',' (and) before all but the first. */
static void
term(struct qvd_buf *b, const char *field, const char *value, bool quote)
{
    qvd_buf_printf(b, "%s%s=", b->len ? "," : "", field);
    if (!quote) {
        qvd_buf_adds(b, value);
        return;
    }
    qvd_buf_addc(b, '"');
    for (const char *c = value; *c; c++) {
        if (*c == '"' || *c == '\\')
            qvd_buf_addc(b, '\\');
        qvd_buf_addc(b, *c);
    }
    qvd_buf_addc(b, '"');
}

static void
int_term(struct qvd_buf *b, const char *field, int64_t v)
{
    char n[24];
    snprintf(n, sizeof(n), "%lld", (long long)v);
    term(b, field, n, false);
}

int
admin_list(struct admin_ctx *ctx, const char *resource, const char *fields,
           const struct qvd_model_filter *f, const char *name_field)
{
    const struct qvd_resource *r = qvd_resource_find(resource);
    struct qvd_list_query q = {.fields = fields, .every_row = true};
    struct qvd_buf filter = QVD_BUF_INIT;
    int rc;

    if (f->id >= 0)
        int_term(&filter, "id", f->id);
    if (f->tenant_id >= QVD_TENANT_COMMON)
        int_term(&filter, "tenant_id", f->tenant_id);
    if (f->osf_id >= 0)
        int_term(&filter, "osf_id", f->osf_id);
    if (f->user_id >= 0)
        int_term(&filter, "user_id", f->user_id);
    if (f->host_id >= 0)
        int_term(&filter, "host_id", f->host_id);
    if (f->name != NULL)
        term(&filter, name_field, f->name, true);
    q.filter = filter.data;
    rc = admin_print(ctx, qvd_resource_rows(ctx->db, r, &q));
    qvd_buf_free(&filter);
    return rc;
}

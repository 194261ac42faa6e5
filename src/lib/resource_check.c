/* resource_check.c: the one validation of what a create or update gives an object, read
 * from the description (resource.c): members, types, limits. qvd-api checks its bodies
 * with it and qvd-admin its options (as the same JSON object), so every front-end refuses
 * a value alike, with the same sentence. */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "model_int.h"
#include "resource.h"
#include "util.h"

static const struct qvd_field *
member_in(const struct qvd_field *f, size_t n, const char *name, unsigned flag)
{
    for (size_t i = 0; i < n; i++)
        if ((f[i].flags & flag) && strcmp(f[i].name, name) == 0)
            return &f[i];
    return NULL;
}

const struct qvd_field *
qvd_resource_member(const struct qvd_resource *r, const char *name, bool create)
{
    unsigned flag = create ? QVD_FIELD_CREATE : QVD_FIELD_UPDATE;
    const struct qvd_field *f = member_in(r->fields, r->nfields, name, flag);

    return f ? f : member_in(r->inputs, r->ninputs, name, flag);
}

static int fail(const char **code, const char *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(const char **code, const char *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (code != NULL)
        *code = c;
    return qvd_model_fail(QVD_MODEL_INVALID, "%s", msg);
}

/* The members a body may hold, for the refusal of an unknown one. */
static void
known_members(const struct qvd_resource *r, unsigned flag, struct qvd_buf *b)
{
    const struct qvd_field *lists[2] = {r->fields, r->inputs};
    size_t counts[2] = {r->nfields, r->ninputs};

    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < counts[l]; i++)
            if (lists[l][i].flags & flag)
                qvd_buf_printf(b, "%s%s", b->len ? ", " : "", lists[l][i].name);
}

/* Is `s` one of the comma-separated `values`? */
static bool
one_of(const char *values, const char *s)
{
    size_t len = strlen(s);

    for (const char *p = values; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, s, n) == 0)
            return true;
        p += n + (end != NULL);
    }
    return false;
}

static int
check_text(const struct qvd_field *f, json_t *v, const char **code)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);

    if (strlen(s) != len)
        return fail(code, "wrong_type", "member '%s' contains a NUL character", f->name);
    if ((int64_t)len < f->min || (int64_t)len > f->max)
        return fail(code, "invalid",
                    len == 0 ? "member '%s' is empty: give %" PRId64 "..%" PRId64 " bytes"
                             : "member '%s' is %zu bytes long: give %" PRId64 "..%" PRId64,
                    f->name, len, f->min, f->max);
    if (f->flags & QVD_FIELD_NAME) {
        if (len > 0 && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[len - 1])))
            return fail(code, "invalid", "member '%s' starts or ends with a space", f->name);
        for (const char *p = s; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return fail(code, "invalid", "member '%s' contains a control character", f->name);
    }
    if (f->values != NULL && !one_of(f->values, s))
        return fail(code, "invalid", "member '%s' is '%.64s': give one of %s", f->name, s,
                    f->values);
    return 0;
}

static int
check_value(const struct qvd_field *f, json_t *v, const char **code)
{
    switch (f->type) {
    case QVD_FIELD_INT:
        if (!json_is_integer(v))
            return fail(code, "wrong_type", "member '%s' must be an integer", f->name);
        if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            return fail(code, "invalid", "member '%s' is %" PRId64 ": give %" PRId64 "..%" PRId64,
                        f->name, (int64_t)json_integer_value(v), f->min, f->max);
        return 0;
    case QVD_FIELD_BOOL:
        if (json_is_boolean(v) ||
            (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)))
            return 0;
        return fail(code, "wrong_type", "member '%s' must be a boolean (true, false, 1 or 0)",
                    f->name);
    case QVD_FIELD_TEXT:
        if (!json_is_string(v))
            return fail(code, "wrong_type", "member '%s' must be a string", f->name);
        return check_text(f, v, code);
    }
    return 0;
}

static int
check_required(const struct qvd_field *f, size_t n, json_t *values, const char **code)
{
    for (size_t i = 0; i < n; i++)
        if ((f[i].flags & QVD_FIELD_REQUIRED) && json_object_get(values, f[i].name) == NULL)
            return fail(code, "missing_field", "member '%s' is required", f[i].name);
    return 0;
}

int
qvd_resource_check(const struct qvd_resource *r, json_t *values, unsigned how, const char **code)
{
    bool create = how & QVD_CHECK_CREATE;
    const char *key;
    json_t *v;

    if (!json_is_object(values))
        return fail(code, "bad_json", "this call needs a JSON object as its body");
    json_object_foreach(values, key, v)
    {
        const struct qvd_field *f = qvd_resource_member(r, key, create);
        if (f == NULL) {
            struct qvd_buf known = QVD_BUF_INIT;
            int rc;
            known_members(r, create ? QVD_FIELD_CREATE : QVD_FIELD_UPDATE, &known);
            rc = fail(code, "unknown_field", "unknown member '%s' (known: %s)", key,
                      known.data ? known.data : "none");
            qvd_buf_free(&known);
            return rc;
        }
        if (check_value(f, v, code) < 0)
            return -1;
    }
    if (!create || (how & QVD_CHECK_PARTIAL))
        return 0;
    if (check_required(r->fields, r->nfields, values, code) < 0 ||
        check_required(r->inputs, r->ninputs, values, code) < 0)
        return -1;
    return 0;
}

/* ---- the description as JSON ---- */

static json_t *
describe_field(const struct qvd_field *f)
{
    static const char *const types[] = {"integer", "string", "boolean"};
    json_t *o = json_pack(
        "{s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:b}", "name", f->name, "type", types[f->type],
        "listed", f->sql != NULL, "basic", (f->flags & QVD_FIELD_BASIC) != 0, "create",
        (f->flags & QVD_FIELD_CREATE) != 0, "update", (f->flags & QVD_FIELD_UPDATE) != 0,
        "required", (f->flags & QVD_FIELD_REQUIRED) != 0, "name_like",
        (f->flags & QVD_FIELD_NAME) != 0, "file", (f->flags & QVD_FIELD_FILE) != 0);

    if (f->flags & QVD_FIELD_WRITE) {
        json_object_set_new(o, "min", json_integer(f->min));
        json_object_set_new(o, "max", json_integer(f->max));
    }
    if (f->values != NULL)
        json_object_set_new(o, "values", json_string(f->values));
    if (f->ref != NULL)
        json_object_set_new(o, "ref", json_string(f->ref));
    return o;
}

static json_t *
describe(const struct qvd_resource *r)
{
    const struct qvd_resource_ops *ops = r->ops;
    json_t *fields = json_array();

    for (size_t i = 0; i < r->nfields; i++)
        json_array_append_new(fields, describe_field(&r->fields[i]));
    for (size_t i = 0; i < r->ninputs; i++)
        json_array_append_new(fields, describe_field(&r->inputs[i]));
    return json_pack("{s:s, s:s, s:b, s:{s:b, s:b, s:b}, s:s?, s:o}", "name", r->name, "object",
                     r->object, "id", r->id_sql != NULL, "verbs", "create",
                     ops != NULL && ops->create != NULL, "update",
                     ops != NULL && ops->update != NULL, "delete", ops != NULL && ops->del != NULL,
                     "tenant_ref", r->tenant_ref, "fields", fields);
}

json_t *
qvd_resource_describe(void)
{
    json_t *all = json_array();

    for (size_t i = 0; qvd_resources[i] != NULL; i++)
        json_array_append_new(all, describe(qvd_resources[i]));
    return all;
}

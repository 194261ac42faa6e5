/* reply.c: answers of qvd-api: JSON bodies, errors with stable codes (docs/api.md), and
 * strict checking of request bodies (unknown members, wrong types, missing members). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "err.h"
#include "log.h"

int
api_reply(struct api_ctx *x, int status, json_t *body)
{
    x->res->status = status;
    free(x->res->body);
    x->res->body = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(body);
    return 0;
}

/* Makes s valid UTF-8 in place: each byte that does not begin a whole, shortest-form
 * sequence of a code point becomes '?'. A message may hold raw bytes (a path) or end in a
 * sequence cut by the size of x->error, and the JSON answer cannot carry either (json_pack
 * would fail and the error would go out without its body). */
static void
utf8_clean(char *s)
{
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned char *p = (unsigned char *)s;

    while (*p) {
        size_t n = *p < 0x80                 ? 1
                   : *p >= 0xc0 && *p < 0xe0 ? 2
                   : *p >= 0xe0 && *p < 0xf0 ? 3
                   : *p >= 0xf0 && *p < 0xf8 ? 4
                                             : 0;
        unsigned cp = n == 1 ? *p : n ? *p & (0x7f >> n) : 0;
        size_t i = 1;
        for (; i < n && (p[i] & 0xc0) == 0x80; i++)
            cp = cp << 6 | (p[i] & 0x3f);
        if (n == 0 || i < n || cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

int
api_error(struct api_ctx *x, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(x->error, sizeof(x->error), fmt, ap);
    va_end(ap);
    utf8_clean(x->error);
    api_reply(x, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", x->error));
    return -1;
}

int
api_model_error(struct api_ctx *x)
{
    switch (qvd_model_errkind()) {
    case QVD_MODEL_INVALID:
        return api_error(x, 400, "invalid", "%s", qvd_strerror());
    case QVD_MODEL_NOT_FOUND:
        return api_error(x, 404, "not_found", "%s", qvd_strerror());
    case QVD_MODEL_CONFLICT:
        return api_error(x, 409, "conflict", "%s", qvd_strerror());
    case QVD_MODEL_BUSY:
        return api_error(x, 503, "busy", "%s", qvd_strerror());
    case QVD_MODEL_FORBIDDEN:
        return api_error(x, 403, "forbidden_field", "%s", qvd_strerror());
    default:
        log_err("%s %s: %s", x->req->method, x->req->path, qvd_strerror());
        return api_error(x, 500, "internal", "internal error: %s", qvd_strerror());
    }
}

static const char *
type_name(enum api_type t)
{
    return t == API_INT ? "an integer" : t == API_BOOL ? "a boolean" : "a string";
}

int
api_body(struct api_ctx *x, const struct api_member *m)
{
    const char *key;
    json_t *v;

    if (x->body == NULL)
        return api_error(x, 400, "bad_json", "this call needs a JSON object as its body");
    json_object_foreach(x->body, key, v)
    {
        const struct api_member *f = m;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        if (f->name == NULL) {
            struct qvd_buf known = QVD_BUF_INIT;
            for (f = m; f->name; f++)
                qvd_buf_printf(&known, "%s%s", f == m ? "" : ", ", f->name);
            api_error(x, 400, "unknown_field", "unknown member '%s' (known: %s)", key,
                      known.data ? known.data : "none");
            qvd_buf_free(&known);
            return -1;
        }
        if ((f->type == API_INT && !json_is_integer(v)) ||
            (f->type == API_STR && !json_is_string(v)) ||
            (f->type == API_BOOL && !json_is_boolean(v) &&
             !(json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))))
            return api_error(x, 400, "wrong_type", "member '%s' must be %s", key,
                             type_name(f->type));
        if (f->type == API_STR && strlen(json_string_value(v)) != json_string_length(v))
            return api_error(x, 400, "wrong_type", "member '%s' contains a NUL character", key);
    }
    for (const struct api_member *f = m; f->name; f++)
        if (f->required && json_object_get(x->body, f->name) == NULL)
            return api_error(x, 400, "missing_field", "member '%s' is required", f->name);
    return 0;
}

const char *
api_str(struct api_ctx *x, const char *name)
{
    json_t *v = x->body ? json_object_get(x->body, name) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool
api_int(struct api_ctx *x, const char *name, int64_t *out)
{
    json_t *v = x->body ? json_object_get(x->body, name) : NULL;

    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

int
api_bool(struct api_ctx *x, const char *name)
{
    json_t *v = x->body ? json_object_get(x->body, name) : NULL;

    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    return -1;
}

/* remote_plan.c: a parsed remote command as HTTP requests of docs/api.md: the list query,
 * the JSON body of KEY=VALUE arguments, and the requests that act on one object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "admin.h"
#include "http.h"
#include "resource.h"
#include "util.h"

#define API "/api/v1/"

/* Arguments the API takes as JSON integers or booleans that are no object's field (the
 * objects' fields are typed by their description, src/lib/resource.c), besides every *_id. */
static const char *const int_fields[] = {"id", NULL};
static const char *const bool_fields[] = {"positive", "superadmin", NULL};
/* References given by name and sent as REF_id (resolved by remote.c). */
static const char *const ref_fields[] = {"user", "osf", "tenant", "role", NULL};

static bool
in_list(const char *const *list, const char *s)
{
    for (int i = 0; list && list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static bool
int_field(const char *key)
{
    size_t n = strlen(key);
    return in_list(int_fields, key) || (n > 3 && strcmp(key + n - 3, "_id") == 0);
}

static int
parse_bool(const char *v)
{
    if (strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0)
        return 1;
    if (strcmp(v, "0") == 0 || strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0)
        return 0;
    return -1;
}

char *
remote_list_target(const struct remote_object *obj, const char *filter, const char *order,
                   const char *fields, long offset, long limit)
{
    struct qvd_buf b = QVD_BUF_INIT;
    char off[24], lim[24];
    const char *params[16];
    int n = 0;

    snprintf(off, sizeof(off), "%ld", offset);
    snprintf(lim, sizeof(lim), "%ld", limit);
    if (filter != NULL)
        params[n++] = "filter", params[n++] = filter;
    if (order != NULL)
        params[n++] = "order", params[n++] = order;
    if (fields != NULL)
        params[n++] = "fields", params[n++] = fields;
    params[n++] = "offset", params[n++] = off;
    params[n++] = "limit", params[n++] = lim;
    params[n++] = "count", params[n++] = "0";
    params[n] = NULL;
    qvd_buf_printf(&b, API "%s", obj->resource);
    qvd_http_append_query(&b, params);
    return qvd_buf_steal(&b);
}

/* A field (or write-only input) of the object's description, NULL if none. */
static const struct qvd_field *
described(const struct remote_object *obj, const char *key)
{
    const struct qvd_resource *r = qvd_resource_find(obj->resource);
    const struct qvd_field *f;

    if (r == NULL)
        return NULL;
    if ((f = qvd_resource_field(r, key)) != NULL && f->type != QVD_FIELD_TEXT)
        return f;
    return NULL;
}

int
remote_args_body(const struct remote_cmd *cmd, const char *const *skip, json_t **out)
{
    json_t *o = json_object();
    bool named = strcmp(cmd->obj->name, "user") == 0 || strcmp(cmd->obj->name, "admin") == 0;
    const char *name;

    *out = NULL;
    for (int i = 0; i < cmd->nargs; i++) {
        const char *a = cmd->args[i], *eq = strchr(a, '='), *v;
        const struct qvd_field *f;
        char *key;
        long n;
        int b, rc = ADMIN_OK;

        if (eq == NULL || eq == a) {
            json_decref(o);
            return admin_usage("'%s' is not KEY=VALUE", a);
        }
        key = qvd_xstrndup(a, (size_t)(eq - a));
        v = eq + 1;
        if (strcmp(cmd->obj->name, "vm") == 0 && strcmp(key, "tag") == 0) {
            free(key);
            key = qvd_xstrdup("di_tag");
        } else if (named && strcmp(key, "login") == 0) {
            free(key);
            key = qvd_xstrdup("name");
        }
        if (in_list(skip, key)) {
            free(key);
            continue;
        }
        if (json_object_get(o, key) != NULL) {
            rc = admin_usage("%s given twice", key);
        } else if (in_list(ref_fields, key)) {
            if (qvd_parse_long(v, &n) == 0) {
                char *id = qvd_xasprintf("%s_id", key);
                json_object_set_new(o, id, json_integer(n));
                free(id);
            } else {
                json_object_set_new(o, key, json_string(v));
            }
        } else if ((f = described(cmd->obj, key)) != NULL) {
            /* a value not of the field's type goes as a string: qvd-api refuses it with the
             * sentence every front-end gives */
            if (f->type == QVD_FIELD_INT && qvd_parse_long(v, &n) == 0)
                json_object_set_new(o, key, json_integer(n));
            else if (f->type == QVD_FIELD_BOOL && (b = parse_bool(v)) >= 0)
                json_object_set_new(o, key, json_boolean(b));
            else
                json_object_set_new(o, key, json_string_nocheck(v));
        } else if (int_field(key)) {
            if (qvd_parse_long(v, &n) < 0)
                rc = admin_usage("%s=%s: give a number", key, v);
            else
                json_object_set_new(o, key, json_integer(n));
        } else if (in_list(bool_fields, key)) {
            if ((b = parse_bool(v)) < 0)
                rc = admin_usage("%s=%s: give 1 or 0", key, v);
            else
                json_object_set_new(o, key, json_boolean(b));
        } else {
            json_object_set_new(o, key, json_string(v));
        }
        free(key);
        if (rc != ADMIN_OK) {
            json_decref(o);
            return rc;
        }
    }
    /* LOGIN@TENANT, as in local mode */
    if (named && (name = json_string_value(json_object_get(o, "name"))) != NULL &&
        strrchr(name, '@') != NULL && strrchr(name, '@') != name && strrchr(name, '@')[1] != '\0' &&
        json_object_get(o, "tenant") == NULL && json_object_get(o, "tenant_id") == NULL) {
        const char *at = strrchr(name, '@');
        char *login = qvd_xstrndup(name, (size_t)(at - name));
        json_object_set_new(o, "tenant", json_string(at + 1));
        json_object_set_new(o, "name", json_string(login));
        free(login);
    }
    *out = o;
    return ADMIN_OK;
}

/* ---- the requests on one object ---- */

struct plan {
    struct remote_step *steps;
    int n;
};

static void
add_step(struct plan *p, const char *method, char *target, json_t *body)
{
    p->steps = qvd_xrealloc(p->steps, (size_t)(p->n + 1) * sizeof(*p->steps));
    p->steps[p->n].method = method;
    p->steps[p->n].target = target;
    p->steps[p->n].body = body;
    p->n++;
}

/* Calls fn for each item of the comma-separated lists in the arguments: bare words, and
 * the values of `key=` arguments (key NULL: bare words only). */
static void
each_item(const struct remote_cmd *cmd, const char *key, struct plan *p,
          void (*fn)(struct plan *p, const struct remote_cmd *cmd, const char *base,
                     const char *item, const json_t *body),
          const char *base, const json_t *body)
{
    size_t klen = key ? strlen(key) : 0;

    for (int i = 0; i < cmd->nargs; i++) {
        const char *a = cmd->args[i], *eq = strchr(a, '=');
        if (eq != NULL) {
            if (key == NULL || (size_t)(eq - a) != klen || strncmp(a, key, klen) != 0)
                continue;
            a = eq + 1;
        }
        while (*a) {
            size_t len = strcspn(a, ",");
            if (len > 0) {
                char *item = qvd_xstrndup(a, len);
                fn(p, cmd, base, item, body);
                free(item);
            }
            a += len + (a[len] == ',');
        }
    }
}

static char *
target_for(const char *base, const char *what, const char *item)
{
    struct qvd_buf b = QVD_BUF_INIT;
    qvd_buf_printf(&b, "%s%s", base, what);
    qvd_http_urlencode(&b, item);
    return qvd_buf_steal(&b);
}

static void
tag_step(struct plan *p, const struct remote_cmd *cmd, const char *base, const char *item,
         const json_t *body)
{
    add_step(p, "POST", qvd_xasprintf("%s/%s", base, remote_verbs[cmd->verb].name),
             json_pack("{s:s}", "tag", item));
}

static void
acl_step(struct plan *p, const struct remote_cmd *cmd, const char *base, const char *item,
         const json_t *body)
{
    json_t *b = json_pack("{s:s}", "acl", item);
    const char *pos = remote_arg(cmd, "positive");
    if (cmd->verb == RV_GRANT)
        json_object_set_new(b, "positive", json_boolean(pos == NULL || parse_bool(pos) != 0));
    add_step(p, "POST", qvd_xasprintf("%s/%s", base, remote_verbs[cmd->verb].name), b);
}

static void
prop_del_step(struct plan *p, const struct remote_cmd *cmd, const char *base, const char *item,
              const json_t *body)
{
    add_step(p, "DELETE", target_for(base, "/properties/", item), NULL);
}

static void
config_del_step(struct plan *p, const struct remote_cmd *cmd, const char *base, const char *item,
                const json_t *body)
{
    char *target = target_for(base, "", item);
    json_t *tenant = json_object_get(body, "tenant_id");

    /* without tenant_id the API takes the administrator's own (global for superadmins) */
    if (tenant != NULL) {
        char *t = qvd_xasprintf("%s?tenant_id=%lld", target, (long long)json_integer_value(tenant));
        free(target);
        target = t;
    }
    add_step(p, "DELETE", target, NULL);
}

static json_t *
config_body(const char *value, const json_t *body)
{
    json_t *b = json_pack("{s:s}", "value", value);
    json_t *tenant = json_object_get(body, "tenant_id");
    if (tenant != NULL)
        json_object_set(b, "tenant_id", tenant);
    return b;
}

/* Property and config assignments KEY=VALUE (config: only keys with a dot). */
static void
assignments(struct plan *p, const struct remote_cmd *cmd, const char *base, const json_t *body)
{
    bool config = !cmd->property;

    for (int i = 0; i < cmd->nargs; i++) {
        const char *a = cmd->args[i], *eq = strchr(a, '=');
        if (eq == NULL || eq == a)
            continue;
        char *key = qvd_xstrndup(a, (size_t)(eq - a));
        if (!config || strchr(key, '.') != NULL)
            add_step(p, "PUT", target_for(base, config ? "" : "/properties/", key),
                     config ? config_body(eq + 1, body) : json_pack("{s:s}", "value", eq + 1));
        free(key);
    }
}

static void
config_steps(struct plan *p, const struct remote_cmd *cmd, const json_t *body)
{
    const char *base = API "configs/";

    if (cmd->verb == RV_DEL && cmd->key != NULL) {
        config_del_step(p, cmd, base, cmd->key, body);
    } else if (cmd->verb == RV_DEL) {
        each_item(cmd, NULL, p, config_del_step, base, body);
    } else if (cmd->key != NULL) {
        const char *value = remote_arg(cmd, "value");
        for (int i = 0; value == NULL && i < cmd->nargs; i++)
            if (strchr(cmd->args[i], '=') == NULL)
                value = cmd->args[i];
        add_step(p, "PUT", target_for(base, "", cmd->key), config_body(value ? value : "", body));
    } else {
        assignments(p, cmd, base, body);
    }
}

int
remote_steps(const struct remote_cmd *cmd, long long id, const json_t *body,
             struct remote_step **steps)
{
    struct plan p = {NULL, 0};
    char *base;

    if (strcmp(cmd->obj->name, "config") == 0) {
        config_steps(&p, cmd, body);
        *steps = p.steps;
        return p.n;
    }
    base = qvd_xasprintf(API "%s/%lld", cmd->obj->resource, id);
    if (cmd->property && cmd->verb == RV_SET)
        assignments(&p, cmd, base, body);
    else if (cmd->property && cmd->verb == RV_DEL)
        each_item(cmd, NULL, &p, prop_del_step, base, body);
    else if (cmd->property)
        add_step(&p, "GET", qvd_xasprintf("%s/properties", base), NULL);
    else if (cmd->verb == RV_SET)
        add_step(&p, "PATCH", qvd_xstrdup(base), json_deep_copy(body));
    else if (cmd->verb == RV_DEL)
        add_step(&p, "DELETE", qvd_xstrdup(base), NULL);
    else if (cmd->verb == RV_TAG || cmd->verb == RV_UNTAG)
        each_item(cmd, "tag", &p, tag_step, base, body);
    else if (cmd->verb == RV_GRANT || cmd->verb == RV_REVOKE)
        each_item(cmd, "acl", &p, acl_step, base, body);
    else
        add_step(&p, "POST", qvd_xasprintf("%s/%s", base, remote_verbs[cmd->verb].name),
                 body != NULL ? json_deep_copy(body) : NULL);
    free(base);
    *steps = p.steps;
    return p.n;
}

void
remote_steps_free(struct remote_step *steps, int n)
{
    for (int i = 0; i < n; i++) {
        free(steps[i].target);
        json_decref(steps[i].body);
    }
    free(steps);
}

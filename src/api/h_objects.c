/* h_objects.c: lists, single objects, create, update and delete for every resource; the
 * rules are the model's (model.h), the API adds ACLs, tenant scope and strict bodies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "resource.h"

static bool
field_visible(void *arg, const struct qvd_resource *r, const struct qvd_field *f)
{
    struct api_ctx *x = arg;
    char acl[160];

    if (f->flags & QVD_FIELD_BASIC)
        return true;
    snprintf(acl, sizeof(acl), "%s.see.%s", r->object, f->name);
    return qvd_acl_has(&x->acls, acl);
}

static const char *
param(struct api_ctx *x, const char *key)
{
    for (size_t i = 0; i < x->req->nparams; i++)
        if (strcmp(x->req->params[i].key, key) == 0)
            return x->req->params[i].value;
    return NULL;
}

/* The resource by URL name, and the ACL `<object>.<verb>`: NULL when answered. */
static const struct qvd_resource *
resource(struct api_ctx *x, const char *name, const char *verb)
{
    const struct qvd_resource *r = qvd_resource_find(name);
    static __thread char acl[96], action[96];

    if (r == NULL) {
        api_error(x, 404, "not_found", "no resource '%s' (see docs/api.md)", name);
        return NULL;
    }
    if (strcmp(verb, "see") != 0 && r->ops == NULL) {
        api_error(x, 405, "method_not_allowed", "%s are read-only here%s", name,
                  strcmp(name, "configs") == 0 ? ": PUT or DELETE /api/v1/configs/KEY" : "");
        return NULL;
    }
    snprintf(acl, sizeof(acl), "%s.%s", r->object, verb);
    snprintf(action, sizeof(action), "%s.%s", r->object, verb);
    x->object = r->object;
    if (strcmp(verb, "see") != 0)
        x->action = action;
    if (api_need(x, acl) < 0)
        return NULL;
    return r;
}

static void
list_query(struct api_ctx *x, struct qvd_list_query *q)
{
    q->tenants = x->superadmin ? NULL : x->scope;
    q->ntenants = x->superadmin ? 0 : x->nscope;
    q->visible = field_visible;
    q->visible_arg = x;
}

int
api_h_list(struct api_ctx *x, const char *name)
{
    const struct qvd_resource *r = resource(x, name, "see");
    struct qvd_list_query q = {.limit = 100, .count = true};
    const char *v;
    json_t *out = NULL;
    long n;

    if (r == NULL)
        return -1;
    list_query(x, &q);
    q.filter = param(x, "filter");
    q.order = param(x, "order");
    q.fields = param(x, "fields");
    if ((v = param(x, "offset")) != NULL) {
        if (qvd_parse_long(v, &n) < 0 || n < 0)
            return api_error(x, 400, "invalid", "offset '%s' must be a number >= 0", v);
        q.offset = n;
    }
    if ((v = param(x, "limit")) != NULL) {
        if (qvd_parse_long(v, &n) < 0 || n < 1 || n > QVD_LIST_MAX_LIMIT)
            return api_error(x, 400, "invalid", "limit '%s' must be 1..%d", v, QVD_LIST_MAX_LIMIT);
        q.limit = n;
    }
    if ((v = param(x, "count")) != NULL)
        q.count = strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
    if (qvd_resource_list(x->db, r, &q, &out) < 0)
        return qvd_model_errkind() == QVD_MODEL_INVALID
                   ? api_error(x, 400, "bad_filter", "%s", qvd_strerror())
                   : api_model_error(x);
    return api_reply(x, 200, out);
}

int
api_h_get(struct api_ctx *x, const char *name, int64_t id)
{
    const struct qvd_resource *r = resource(x, name, "see");
    struct qvd_list_query q = {.limit = 1};
    json_t *out = NULL;

    if (r == NULL)
        return -1;
    list_query(x, &q);
    q.fields = param(x, "fields");
    if (qvd_resource_get(x->db, r, id, &q, &out) < 0)
        return qvd_model_errkind() == QVD_MODEL_INVALID
                   ? api_error(x, 400, "bad_filter", "%s", qvd_strerror())
                   : api_model_error(x);
    return api_reply(x, 200, out);
}

int
api_object_tenant(struct api_ctx *x, const char *name, int64_t id, int64_t *tenant)
{
    const struct qvd_resource *r = qvd_resource_find(name);
    int rc;

    x->object_id = id;
    if (r == NULL)
        return api_error(x, 404, "not_found", "no resource '%s'", name);
    rc = qvd_resource_tenant(x->db, r, id, tenant);
    if (rc < 0)
        return api_model_error(x);
    /* objects of other tenants do not exist for a tenant's administrator */
    if (rc == 0 || (!x->superadmin && *tenant != -2 && *tenant != x->who.tenant_id &&
                    *tenant != QVD_TENANT_COMMON))
        return api_error(x, 404, "not_found", "%s %lld does not exist", r->object, (long long)id);
    return 0;
}

/* The tenant a new object goes to: that of the row its tenant_ref member names, else the
 * body's tenant_id, else the administrator's own; -2 for objects without a tenant member
 * (tenants, hosts: superadministrators' business). Every row a member refers to must be
 * in the caller's scope. */
static int
new_tenant(struct api_ctx *x, const struct qvd_resource *r, int64_t *tenant)
{
    bool has_tenant = qvd_resource_member(r, "tenant_id", true) != NULL;
    int64_t id, t;

    *tenant = -2;
    for (size_t i = 0; i < r->nfields; i++) {
        const struct qvd_field *f = &r->fields[i];
        if (f->ref == NULL || !(f->flags & QVD_FIELD_CREATE) || !api_int(x, f->name, &id))
            continue;
        if (api_object_tenant(x, f->ref, id, &t) < 0)
            return -1;
        x->object_id = -1;
        if (r->tenant_ref != NULL && strcmp(r->tenant_ref, f->name) == 0) {
            if (api_may_change(x, t) < 0)
                return -1;
            *tenant = t;
        }
    }
    if (r->tenant_ref != NULL)
        return 0;
    if (!has_tenant)
        return api_may_change(x, -2);
    if (!api_int(x, "tenant_id", tenant)) {
        if (x->superadmin)
            return api_error(x, 400, "missing_field",
                             "member 'tenant_id' is required for a superadministrator");
        *tenant = x->who.tenant_id;
    }
    return api_may_change(x, *tenant);
}

static int
created(struct api_ctx *x, const struct qvd_resource *r, int64_t id)
{
    struct qvd_list_query q = {.limit = 1};
    json_t *out = NULL;

    x->object_id = id;
    list_query(x, &q);
    q.tenants = NULL; /* just made by this administrator */
    if (qvd_resource_get(x->db, r, id, &q, &out) < 0)
        out = json_pack("{s:I}", "id", (json_int_t)id);
    return api_reply(x, 201, out);
}

static void
name_for_audit(struct api_ctx *x, const char *member)
{
    const char *s = api_str(x, member);
    if (s)
        snprintf(x->object_name, sizeof(x->object_name), "%s", s);
}

/* The body, checked against the resource's description: 0, or -1 answered. */
static int
checked_body(struct api_ctx *x, const struct qvd_resource *r, unsigned how)
{
    const char *code = "invalid";

    if (x->body == NULL)
        return api_error(x, 400, "bad_json", "this call needs a JSON object as its body");
    if (qvd_resource_check(r, x->body, how, &code) < 0)
        return api_error(x, 400, code, "%s", qvd_strerror());
    return 0;
}

/* A file member names a file in path.storage.staging (a plain name, no folders): the body
 * gets its path there. */
static int
staged_files(struct api_ctx *x, const struct qvd_resource *r)
{
    const char *staging = qvd_config_get(x->api->cfg, "path.storage.staging");

    for (size_t i = 0; i < r->ninputs; i++) {
        const struct qvd_field *f = &r->inputs[i];
        const char *file = api_str(x, f->name);
        if (!(f->flags & QVD_FIELD_FILE) || file == NULL)
            continue;
        name_for_audit(x, f->name);
        if (strchr(file, '/') || strcmp(file, ".") == 0 || strcmp(file, "..") == 0)
            return api_error(x, 400, "invalid",
                             "'%s' must name a file or folder in path.storage.staging, without"
                             " '/'",
                             f->name);
        json_object_set_new(x->body, f->name, json_sprintf("%s/%s", staging ? staging : ".", file));
    }
    return 0;
}

int
api_h_create(struct api_ctx *x, const char *name)
{
    const struct qvd_resource *r = resource(x, name, "create");
    int64_t id = -1, tenant;

    if (r == NULL)
        return -1;
    name_for_audit(x, "name");
    if (r->ops->create == NULL)
        return api_error(x, 405, "method_not_allowed", "%s cannot be created", name);
    if (checked_body(x, r, QVD_CHECK_CREATE) < 0 || new_tenant(x, r, &tenant) < 0 ||
        staged_files(x, r) < 0)
        return -1;
    if (r->ops->create(x->db, x->api->cfg, tenant, x->body, &id) < 0)
        return api_model_error(x);
    return created(x, r, id);
}

/* The resource of an object to update or delete, once the ACL, the object's existence in
 * scope and the right to change its tenant are checked (a row that is its own tenant, a
 * tenant: superadministrators). */
static const struct qvd_resource *
changing(struct api_ctx *x, const char *name, const char *verb, int64_t id)
{
    const struct qvd_resource *r = resource(x, name, verb);
    int64_t tenant;

    if (r == NULL || api_object_tenant(x, name, id, &tenant) < 0)
        return NULL;
    if (r->tenant_sql != NULL && strcmp(r->tenant_sql, r->id_sql) == 0)
        tenant = -2;
    if (api_may_change(x, tenant) < 0)
        return NULL;
    return r;
}

int
api_h_update(struct api_ctx *x, const char *name, int64_t id)
{
    const struct qvd_resource *r = changing(x, name, "update", id);
    char see[96];

    if (r == NULL)
        return -1;
    name_for_audit(x, "name");
    if (r->ops->update == NULL)
        return api_error(x, 405, "method_not_allowed", "%s cannot be changed", name);
    if (checked_body(x, r, 0) < 0)
        return -1;
    if (r->ops->update(x->db, x->api->cfg, id, x->body) < 0)
        return api_model_error(x);
    snprintf(see, sizeof(see), "%s.see", r->object);
    if (qvd_acl_has(&x->acls, see))
        return api_h_get(x, name, id);
    return api_reply(x, 200, json_pack("{s:I}", "id", (json_int_t)id));
}

int
api_h_delete(struct api_ctx *x, const char *name, int64_t id)
{
    const struct qvd_resource *r = changing(x, name, "delete", id);

    if (r == NULL)
        return -1;
    if (r->ops->del == NULL)
        return api_error(x, 405, "method_not_allowed", "%s cannot be deleted", name);
    /* the caller's own row: it would lock itself out */
    if (r->ops == &qvd_admin_ops && x->who.admin_id == id)
        return api_error(x, 409, "conflict", "an administrator cannot delete itself");
    if (r->ops->del(x->db, x->api->cfg, id) < 0)
        return x->res->status ? -1 : api_model_error(x);
    return api_reply(x, 204, NULL);
}

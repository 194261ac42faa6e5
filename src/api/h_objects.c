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

/* Resources that administrators create, update and delete (the others are read-only). */
static bool
writable(const char *name)
{
    static const char *const w[] = {"tenants", "users",          "vms",  "hosts", "osfs",
                                    "dis",     "administrators", "roles"};
    for (size_t i = 0; i < QVD_ARRAY_LEN(w); i++)
        if (strcmp(w[i], name) == 0)
            return true;
    return false;
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
    if (strcmp(verb, "see") != 0 && !writable(name)) {
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

/* The tenant a new object goes to: the body's tenant_id, else the administrator's own. */
static int
target_tenant(struct api_ctx *x, int64_t *tenant)
{
    if (!api_int(x, "tenant_id", tenant)) {
        if (x->superadmin)
            return api_error(x, 400, "missing_field",
                             "member 'tenant_id' is required for a superadministrator");
        *tenant = x->who.tenant_id;
    }
    return api_may_change(x, *tenant);
}

static int
created(struct api_ctx *x, const char *name, int64_t id)
{
    const struct qvd_resource *r = qvd_resource_find(name);
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

/* A file in path.storage.staging: a plain name, no folders. */
static char *
staging_file(struct api_ctx *x, const char *file)
{
    const char *staging = qvd_config_get(x->api->cfg, "path.storage.staging");

    if (file == NULL || *file == '\0' || strchr(file, '/') || strcmp(file, ".") == 0 ||
        strcmp(file, "..") == 0) {
        api_error(x, 400, "invalid",
                  "'file' must name a file or folder in path.storage.staging, without '/'");
        return NULL;
    }
    return qvd_xasprintf("%s/%s", staging ? staging : ".", file);
}

/* An OSF from the body's members; absent ones stay unset (defaults on add). */
static void
osf_members(struct api_ctx *x, struct qvd_model_osf *o)
{
    int64_t n;

    *o = (struct qvd_model_osf)QVD_MODEL_OSF_UNSET;
    o->name = api_str(x, "name");
    o->description = api_str(x, "description");
    if (api_int(x, "memory", &n))
        o->memory = n;
    if (api_int(x, "user_storage_size", &n))
        o->user_storage_size = n;
    o->use_overlay = api_bool(x, "use_overlay");
    o->is_application = api_bool(x, "is_application");
}

int
api_h_create(struct api_ctx *x, const char *name)
{
    const struct qvd_resource *r = resource(x, name, "create");
    struct qvd_config *cfg = x->api->cfg;
    int64_t id = -1, tenant, ref;
    int rc = 0;

    if (r == NULL)
        return -1;
    name_for_audit(x, "name");
    if (strcmp(name, "tenants") == 0) {
        static const struct api_member m[] = {
            {"name", API_STR, true}, {"description", API_STR, false}, {0}};
        if (api_body(x, m) < 0 || api_may_change(x, -2) < 0)
            return -1;
        rc = qvd_model_tenant_add(x->db, cfg, api_str(x, "name"), api_str(x, "description"), &id);
    } else if (strcmp(name, "users") == 0) {
        static const struct api_member m[] = {{"name", API_STR, true},
                                              {"password", API_STR, true},
                                              {"tenant_id", API_INT, false},
                                              {"description", API_STR, false},
                                              {0}};
        if (api_body(x, m) < 0 || target_tenant(x, &tenant) < 0)
            return -1;
        rc = qvd_model_user_add(x->db, cfg, tenant, api_str(x, "name"), api_str(x, "password"),
                                api_str(x, "description"), &id);
    } else if (strcmp(name, "vms") == 0) {
        static const struct api_member m[] = {
            {"name", API_STR, true},    {"user_id", API_INT, true},      {"osf_id", API_INT, true},
            {"di_tag", API_STR, false}, {"description", API_STR, false}, {0}};
        struct qvd_model_vm v = {0};
        if (api_body(x, m) < 0)
            return -1;
        api_int(x, "user_id", &v.user_id);
        api_int(x, "osf_id", &v.osf_id);
        if (api_object_tenant(x, "users", v.user_id, &tenant) < 0 ||
            api_may_change(x, tenant) < 0 || api_object_tenant(x, "osfs", v.osf_id, &ref) < 0)
            return -1;
        x->object_id = -1;
        v.name = api_str(x, "name");
        v.di_tag = api_str(x, "di_tag");
        v.description = api_str(x, "description");
        rc = qvd_model_vm_add(x->db, cfg, &v, &id);
    } else if (strcmp(name, "hosts") == 0) {
        static const struct api_member m[] = {
            {"name", API_STR, true},         {"address", API_STR, true},
            {"description", API_STR, false}, {"frontend", API_BOOL, false},
            {"backend", API_BOOL, false},    {0}};
        if (api_body(x, m) < 0 || api_may_change(x, -2) < 0)
            return -1;
        /* one transaction for both steps (the model's transactions nest) */
        if (qvd_db_begin(x->db) < 0)
            return api_error(x, 503, "busy", "%s", qvd_strerror());
        rc = qvd_model_host_add(x->db, cfg, api_str(x, "name"), api_str(x, "address"),
                                api_str(x, "description"), &id);
        if (rc == 0 && (api_bool(x, "frontend") >= 0 || api_bool(x, "backend") >= 0))
            rc = qvd_model_host_set(x->db, cfg, id, NULL, NULL, NULL, api_bool(x, "frontend"),
                                    api_bool(x, "backend"));
        if (rc == 0 && qvd_db_commit(x->db) < 0)
            return api_error(x, 503, "busy", "the host was not added: %s", qvd_strerror());
        if (rc < 0)
            qvd_db_rollback(x->db);
    } else if (strcmp(name, "osfs") == 0) {
        static const struct api_member m[] = {{"name", API_STR, true},
                                              {"tenant_id", API_INT, false},
                                              {"memory", API_INT, false},
                                              {"use_overlay", API_BOOL, false},
                                              {"user_storage_size", API_INT, false},
                                              {"is_application", API_BOOL, false},
                                              {"description", API_STR, false},
                                              {0}};
        struct qvd_model_osf o;
        if (api_body(x, m) < 0 || target_tenant(x, &tenant) < 0)
            return -1;
        osf_members(x, &o);
        rc = qvd_model_osf_add(x->db, cfg, tenant, &o, &id);
    } else if (strcmp(name, "dis") == 0) {
        static const struct api_member m[] = {{"osf_id", API_INT, true},
                                              {"file", API_STR, true},
                                              {"version", API_STR, false},
                                              {"description", API_STR, false},
                                              {0}};
        char *src;
        if (api_body(x, m) < 0)
            return -1;
        api_int(x, "osf_id", &ref);
        if (api_object_tenant(x, "osfs", ref, &tenant) < 0 || api_may_change(x, tenant) < 0)
            return -1;
        x->object_id = -1;
        name_for_audit(x, "file");
        if ((src = staging_file(x, api_str(x, "file"))) == NULL)
            return -1;
        rc = qvd_model_di_add(x->db, cfg, ref, src, api_str(x, "version"),
                              api_str(x, "description"), &id);
        free(src);
    } else if (strcmp(name, "administrators") == 0) {
        static const struct api_member m[] = {{"name", API_STR, true},
                                              {"password", API_STR, true},
                                              {"tenant_id", API_INT, false},
                                              {"description", API_STR, false},
                                              {0}};
        if (api_body(x, m) < 0 || target_tenant(x, &tenant) < 0)
            return -1;
        rc = qvd_model_admin_add(x->db, cfg, tenant, api_str(x, "name"), api_str(x, "password"),
                                 api_str(x, "description"), &id);
    } else if (strcmp(name, "roles") == 0) {
        static const struct api_member m[] = {{"name", API_STR, true},
                                              {"tenant_id", API_INT, false},
                                              {"description", API_STR, false},
                                              {0}};
        if (api_body(x, m) < 0 || target_tenant(x, &tenant) < 0)
            return -1;
        rc = qvd_model_role_add(x->db, cfg, tenant, api_str(x, "name"), api_str(x, "description"),
                                &id);
    } else {
        return api_error(x, 405, "method_not_allowed", "%s cannot be created", name);
    }
    if (rc < 0)
        return api_model_error(x);
    return created(x, name, id);
}

/* The resource of an object to update or delete, once the ACL, the object's existence in
 * scope and the right to change its tenant are checked (tenants: superadministrators). */
static const struct qvd_resource *
changing(struct api_ctx *x, const char *name, const char *verb, int64_t id)
{
    const struct qvd_resource *r = resource(x, name, verb);
    int64_t tenant;

    if (r == NULL || api_object_tenant(x, name, id, &tenant) < 0 ||
        api_may_change(x, strcmp(name, "tenants") == 0 ? -2 : tenant) < 0)
        return NULL;
    return r;
}

int
api_h_update(struct api_ctx *x, const char *name, int64_t id)
{
    const struct qvd_resource *r = changing(x, name, "update", id);
    struct qvd_config *cfg = x->api->cfg;
    int rc;

    if (r == NULL)
        return -1;
    name_for_audit(x, "name");
    if (strcmp(name, "tenants") == 0) {
        static const struct api_member m[] = {
            {"name", API_STR, false}, {"description", API_STR, false}, {0}};
        if (api_body(x, m) < 0)
            return -1;
        rc =
            qvd_model_tenant_set(x->db, cfg, id, api_str(x, "name"), api_str(x, "description"), -1);
    } else if (strcmp(name, "users") == 0) {
        static const struct api_member m[] = {{"name", API_STR, false},
                                              {"description", API_STR, false},
                                              {"language", API_STR, false},
                                              {0}};
        if (api_body(x, m) < 0)
            return -1;
        rc = qvd_model_user_set(x->db, cfg, id, api_str(x, "name"), api_str(x, "description"),
                                api_str(x, "language"), -1);
    } else if (strcmp(name, "vms") == 0) {
        static const struct api_member m[] = {{"name", API_STR, false},
                                              {"di_tag", API_STR, false},
                                              {"description", API_STR, false},
                                              {0}};
        if (api_body(x, m) < 0)
            return -1;
        rc = qvd_model_vm_set(x->db, cfg, id, api_str(x, "name"), api_str(x, "di_tag"),
                              api_str(x, "description"));
    } else if (strcmp(name, "hosts") == 0) {
        static const struct api_member m[] = {
            {"name", API_STR, false},        {"address", API_STR, false},
            {"description", API_STR, false}, {"frontend", API_BOOL, false},
            {"backend", API_BOOL, false},    {0}};
        if (api_body(x, m) < 0)
            return -1;
        rc = qvd_model_host_set(x->db, cfg, id, api_str(x, "name"), api_str(x, "address"),
                                api_str(x, "description"), api_bool(x, "frontend"),
                                api_bool(x, "backend"));
    } else if (strcmp(name, "osfs") == 0) {
        static const struct api_member m[] = {{"name", API_STR, false},
                                              {"memory", API_INT, false},
                                              {"use_overlay", API_BOOL, false},
                                              {"user_storage_size", API_INT, false},
                                              {"is_application", API_BOOL, false},
                                              {"description", API_STR, false},
                                              {0}};
        struct qvd_model_osf o;
        if (api_body(x, m) < 0)
            return -1;
        osf_members(x, &o);
        rc = qvd_model_osf_set(x->db, cfg, id, &o);
    } else if (strcmp(name, "dis") == 0) {
        static const struct api_member m[] = {{"description", API_STR, false}, {0}};
        if (api_body(x, m) < 0)
            return -1;
        rc = qvd_model_di_set(x->db, cfg, id, api_str(x, "description"), -1);
    } else if (strcmp(name, "administrators") == 0) {
        static const struct api_member m[] = {
            {"name", API_STR, false}, {"description", API_STR, false}, {0}};
        if (api_body(x, m) < 0)
            return -1;
        rc = qvd_model_admin_set(x->db, cfg, id, api_str(x, "name"), api_str(x, "description"), -1);
    } else if (strcmp(name, "roles") == 0) {
        static const struct api_member m[] = {
            {"name", API_STR, false}, {"description", API_STR, false}, {0}};
        if (api_body(x, m) < 0)
            return -1;
        rc = qvd_model_role_set(x->db, cfg, id, api_str(x, "name"), api_str(x, "description"));
    } else {
        return api_error(x, 405, "method_not_allowed", "%s cannot be changed", name);
    }
    if (rc < 0)
        return api_model_error(x);
    {
        char see[96];
        snprintf(see, sizeof(see), "%s.see", r->object);
        if (qvd_acl_has(&x->acls, see))
            return api_h_get(x, name, id);
    }
    return api_reply(x, 200, json_pack("{s:I}", "id", (json_int_t)id));
}

int
api_h_delete(struct api_ctx *x, const char *name, int64_t id)
{
    const struct qvd_resource *r = changing(x, name, "delete", id);
    struct qvd_config *cfg = x->api->cfg;
    int rc;

    if (r == NULL)
        return -1;
    if (strcmp(name, "tenants") == 0)
        rc = qvd_model_tenant_del(x->db, cfg, id);
    else if (strcmp(name, "users") == 0)
        rc = qvd_model_user_del(x->db, cfg, id);
    else if (strcmp(name, "vms") == 0)
        rc = qvd_model_vm_del(x->db, cfg, id);
    else if (strcmp(name, "hosts") == 0)
        rc = qvd_model_host_del(x->db, cfg, id);
    else if (strcmp(name, "osfs") == 0)
        rc = qvd_model_osf_del(x->db, cfg, id);
    else if (strcmp(name, "dis") == 0)
        rc = qvd_model_di_del(x->db, cfg, id);
    else if (strcmp(name, "administrators") == 0)
        rc = x->who.admin_id == id
                 ? api_error(x, 409, "conflict", "an administrator cannot delete itself")
                 : qvd_model_admin_del(x->db, cfg, id);
    else if (strcmp(name, "roles") == 0)
        rc = qvd_model_role_del(x->db, cfg, id);
    else
        return api_error(x, 405, "method_not_allowed", "%s cannot be deleted", name);
    if (rc < 0)
        return x->res->status ? -1 : api_model_error(x);
    return api_reply(x, 204, NULL);
}

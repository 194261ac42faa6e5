/* h_actions.c: actions on objects (POST /RESOURCE/ID/ACTION), properties and configuration
 * keys. Each action has its ACL; role and administrator actions also refuse escalation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "err.h"
#include "model_stats.h"
#include "resource.h"

struct action;
typedef int (*action_fn)(struct api_ctx *x, const struct action *a, int64_t id);

/* What each action does is a function of the table (no chain of names to compare): -1
 * refused, 0 done (answered {id, done}), 1 done and answered by the action. */
struct action {
    const char *resource, *name, *acl;
    action_fn run;
};

static const struct api_member no_members[] = {{0}};
static const struct api_member password_member[] = {{"password", API_STR, true}, {0}};
static const struct api_member tag_member[] = {{"tag", API_STR, true}, {0}};
static const struct api_member role_member[] = {{"role_id", API_INT, true}, {0}};
static const struct api_member revoke_member[] = {{"acl", API_STR, true}, {0}};
static const struct api_member acl_members[] = {
    {"acl", API_STR, true}, {"positive", API_BOOL, false}, {0}};
static const struct api_member force_member[] = {{"force", API_BOOL, false}, {0}};

/* An empty body is an empty object for actions whose members are all optional. */
static int
members(struct api_ctx *x, const struct api_member *m)
{
    bool required = false;

    for (const struct api_member *f = m; f->name != NULL; f++)
        required |= f->required;
    if (x->body == NULL && !required)
        return 0;
    return api_body(x, m);
}

/* A role the administrator may see, and whose operative ACLs it holds (no escalation). */
static int
role_in_reach(struct api_ctx *x, int64_t role_id)
{
    struct qvd_acl_set set;
    int64_t tenant, object_id = x->object_id;

    if (api_object_tenant(x, "roles", role_id, &tenant) < 0)
        return -1;
    x->object_id = object_id;
    if (qvd_acl_role(x->db, role_id, &set) < 0)
        return api_model_error(x);
    return api_no_escalation(x, &set);
}

/* block/unblock and password: the object's ops in the description */
static int
act_block(struct api_ctx *x, const struct action *a, int64_t id)
{
    const struct qvd_resource *r = qvd_resource_find(a->resource);
    if (members(x, no_members) < 0)
        return -1;
    return r->ops->block(x->db, x->api->cfg, id, strcmp(a->name, "block") == 0);
}

static int
act_password(struct api_ctx *x, const struct action *a, int64_t id)
{
    const struct qvd_resource *r = qvd_resource_find(a->resource);
    if (members(x, password_member) < 0)
        return -1;
    return r->ops->passwd(x->db, x->api->cfg, id, api_str(x, "password"));
}

static int
vm_start(struct api_ctx *x, const struct action *a, int64_t id)
{
    (void)a;
    return members(x, no_members) < 0 ? -1 : qvd_model_vm_start(x->db, x->api->cfg, id, NULL);
}

static int
vm_stop(struct api_ctx *x, const struct action *a, int64_t id)
{
    (void)a;
    return members(x, no_members) < 0 ? -1 : qvd_model_vm_stop(x->db, x->api->cfg, id);
}

static int
vm_disconnect(struct api_ctx *x, const struct action *a, int64_t id)
{
    (void)a;
    return members(x, no_members) < 0 ? -1 : qvd_model_vm_disconnect(x->db, x->api->cfg, id);
}

/* Answers itself (1): the reply tells how many VMs were asked to leave. */
static int
host_evacuate(struct api_ctx *x, const struct action *a, int64_t id)
{
    int64_t moved;

    (void)a;
    if (members(x, force_member) < 0 ||
        qvd_model_host_evacuate(x->db, x->api->cfg, id, api_bool(x, "force") == 1, &moved) < 0)
        return -1;
    api_reply(x, 200,
              json_pack("{s:I,s:s,s:I}", "id", (json_int_t)id, "done", "evacuate", "moved",
                        (json_int_t)moved));
    return 1;
}

static int
di_publish(struct api_ctx *x, const struct action *a, int64_t id)
{
    (void)a;
    return members(x, no_members) < 0 ? -1 : qvd_model_di_publish(x->db, x->api->cfg, id);
}

static int
di_tag(struct api_ctx *x, const struct action *a, int64_t id)
{
    if (members(x, tag_member) < 0)
        return -1;
    snprintf(x->object_name, sizeof(x->object_name), "%s", api_str(x, "tag"));
    return strcmp(a->name, "tag") == 0
               ? qvd_model_di_tag(x->db, x->api->cfg, id, api_str(x, "tag"))
               : qvd_model_di_untag(x->db, x->api->cfg, id, api_str(x, "tag"));
}

static int
admin_assign(struct api_ctx *x, const struct action *a, int64_t id)
{
    bool assign = strcmp(a->name, "assign") == 0;
    int64_t ref;

    if (members(x, role_member) < 0)
        return -1;
    api_int(x, "role_id", &ref);
    if (assign && role_in_reach(x, ref) < 0)
        return -1;
    return qvd_model_admin_assign(x->db, x->api->cfg, id, ref, assign);
}

static int
role_grant(struct api_ctx *x, const struct action *a, int64_t id)
{
    bool grant = strcmp(a->name, "grant") == 0;
    struct qvd_acl_set set;

    if (members(x, grant ? acl_members : revoke_member) < 0)
        return -1;
    snprintf(x->object_name, sizeof(x->object_name), "%s", api_str(x, "acl"));
    qvd_acl_match(api_str(x, "acl"), &set);
    if (api_no_escalation(x, &set) < 0)
        return -1;
    return grant ? qvd_model_role_grant(x->db, x->api->cfg, id, api_str(x, "acl"),
                                        api_bool(x, "positive") != 0)
                 : qvd_model_role_revoke(x->db, x->api->cfg, id, api_str(x, "acl"));
}

static int
role_inherit(struct api_ctx *x, const struct action *a, int64_t id)
{
    bool inherit = strcmp(a->name, "inherit") == 0;
    int64_t ref;

    if (members(x, role_member) < 0)
        return -1;
    api_int(x, "role_id", &ref);
    if (inherit && role_in_reach(x, ref) < 0)
        return -1;
    return qvd_model_role_inherit(x->db, x->api->cfg, id, ref, inherit);
}

static const struct action actions[] = {
    {"vms", "start", "vm.start", vm_start},
    {"vms", "stop", "vm.stop", vm_stop},
    {"vms", "disconnect", "vm.disconnect", vm_disconnect},
    {"vms", "block", "vm.block", act_block},
    {"vms", "unblock", "vm.block", act_block},
    {"users", "block", "user.block", act_block},
    {"users", "unblock", "user.block", act_block},
    {"users", "password", "user.password", act_password},
    {"hosts", "block", "host.block", act_block},
    {"hosts", "unblock", "host.block", act_block},
    {"hosts", "evacuate", "host.evacuate", host_evacuate},
    {"tenants", "block", "tenant.block", act_block},
    {"tenants", "unblock", "tenant.block", act_block},
    {"dis", "block", "di.block", act_block},
    {"dis", "unblock", "di.block", act_block},
    {"dis", "publish", "di.publish", di_publish},
    {"dis", "tag", "di.tag", di_tag},
    {"dis", "untag", "di.tag", di_tag},
    {"administrators", "block", "administrator.block", act_block},
    {"administrators", "unblock", "administrator.block", act_block},
    {"administrators", "password", "administrator.password", act_password},
    {"administrators", "assign", "administrator.assign", admin_assign},
    {"administrators", "unassign", "administrator.assign", admin_assign},
    {"roles", "grant", "role.grant", role_grant},
    {"roles", "revoke", "role.grant", role_grant},
    {"roles", "inherit", "role.inherit", role_inherit},
    {"roles", "disinherit", "role.inherit", role_inherit},
};

int
api_h_action(struct api_ctx *x, const char *resource, int64_t id, const char *name)
{
    static __thread char action[96];
    const struct action *a = NULL;
    int64_t tenant;

    for (size_t i = 0; i < QVD_ARRAY_LEN(actions); i++)
        if (strcmp(actions[i].resource, resource) == 0 && strcmp(actions[i].name, name) == 0)
            a = &actions[i];
    if (a == NULL)
        return api_error(x, 404, "not_found", "no action '%s' on %s (see docs/api.md)", name,
                         resource);
    x->object = qvd_resource_find(resource)->object;
    snprintf(action, sizeof(action), "%s.%s", x->object, name);
    x->action = action;
    /* an administrator may always change its own password */
    bool own_password = strcmp(resource, "administrators") == 0 && strcmp(name, "password") == 0 &&
                        id == x->who.admin_id;
    if ((!own_password && api_need(x, a->acl) < 0) ||
        api_object_tenant(x, resource, id, &tenant) < 0)
        return -1;
    if (api_may_change(x, strcmp(resource, "tenants") == 0 ? -2 : tenant) < 0)
        return -1;
    int rc = a->run(x, a, id);
    if (rc < 0)
        return x->res->status ? -1 : api_model_error(x);
    if (rc > 0) /* the action answered */
        return 0;
    return api_reply(x, 200, json_pack("{s:I,s:s}", "id", (json_int_t)id, "done", name));
}

/* ---- properties ---- */

int
api_h_props(struct api_ctx *x, const char *resource, int64_t id, const char *key)
{
    static const char *const with_props[] = {"tenants", "users", "vms", "hosts", "osfs", "dis"};
    static __thread char acl[96], action[96];
    const struct qvd_resource *r = qvd_resource_find(resource);
    bool get = strcmp(x->req->method, "GET") == 0, put = strcmp(x->req->method, "PUT") == 0;
    bool ok = false;
    int64_t tenant;
    int rc;

    for (size_t i = 0; i < QVD_ARRAY_LEN(with_props); i++)
        ok |= strcmp(with_props[i], resource) == 0;
    if (!ok || r == NULL)
        return api_error(x, 404, "not_found", "%s have no properties", resource);
    x->object = r->object;
    snprintf(acl, sizeof(acl), "%s.%s", r->object, get ? "see" : "update");
    if (!get) {
        snprintf(action, sizeof(action), "%s.property.%s", r->object, put ? "set" : "delete");
        x->action = action;
        snprintf(x->object_name, sizeof(x->object_name), "%s", key);
    }
    if (api_need(x, acl) < 0 || api_object_tenant(x, resource, id, &tenant) < 0)
        return -1;
    if (get) {
        struct qvd_model_table t;
        json_t *o = json_object();
        /* columns: object, object_id, key, value */
        if (qvd_model_table_read(qvd_model_prop_list(x->db, r->object, id), &t) < 0)
            return json_decref(o), api_error(x, 500, "internal", "%s", qvd_strerror());
        for (size_t i = 0; i < t.nrows; i++)
            json_object_set_new(o, t.rows[i][2], json_string(t.rows[i][3] ? t.rows[i][3] : ""));
        qvd_model_table_free(&t);
        return api_reply(x, 200, o);
    }
    /* a tenant's own properties are the superadministrators' like the tenant itself */
    if (api_may_change(x, strcmp(resource, "tenants") == 0 ? -2 : tenant) < 0)
        return -1;
    if (put) {
        static const struct api_member m[] = {{"value", API_STR, true}, {0}};
        if (api_body(x, m) < 0)
            return -1;
        rc = qvd_model_prop_set(x->db, x->api->cfg, r->object, id, key, api_str(x, "value"));
    } else {
        rc = qvd_model_prop_del(x->db, x->api->cfg, r->object, id, key);
    }
    if (rc < 0)
        return api_model_error(x);
    return api_reply(x, put ? 200 : 204,
                     put ? json_pack("{s:s,s:s}", "key", key, "value", api_str(x, "value")) : NULL);
}

/* ---- configuration keys: PUT/DELETE /configs/KEY ---- */

int
api_h_config(struct api_ctx *x, const char *key)
{
    bool put = strcmp(x->req->method, "PUT") == 0;
    int64_t tenant = x->superadmin ? QVD_TENANT_COMMON : x->who.tenant_id;
    int rc;

    x->object = "config";
    x->action = put ? "config.update" : "config.delete";
    snprintf(x->object_name, sizeof(x->object_name), "%s", key);
    if (api_need(x, x->action) < 0)
        return -1;
    if (put) {
        static const struct api_member m[] = {
            {"value", API_STR, true}, {"tenant_id", API_INT, false}, {0}};
        if (api_body(x, m) < 0)
            return -1;
        api_int(x, "tenant_id", &tenant);
    } else {
        for (size_t i = 0; i < x->req->nparams; i++)
            if (strcmp(x->req->params[i].key, "tenant_id") == 0) {
                long n;
                if (qvd_parse_long(x->req->params[i].value, &n) < 0)
                    return api_error(x, 400, "invalid", "tenant_id must be a number");
                tenant = n;
            }
    }
    x->object_id = tenant;
    if (api_may_change(x, tenant) < 0)
        return -1;
    rc = put ? qvd_model_config_set(x->db, x->api->cfg, tenant, key, api_str(x, "value"))
             : qvd_model_config_del(x->db, x->api->cfg, tenant, key);
    if (rc < 0)
        return api_model_error(x);
    return api_reply(x, put ? 200 : 204,
                     put ? json_pack("{s:s,s:s,s:I}", "key", key, "value", api_str(x, "value"),
                                     "tenant_id", (json_int_t)tenant)
                         : NULL);
}

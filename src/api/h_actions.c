/* h_actions.c: actions on objects (POST /RESOURCE/ID/ACTION), properties and configuration
 * keys. Each action has its ACL; role and administrator actions also refuse escalation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "err.h"
#include "resource.h"

struct action {
    const char *resource, *name, *acl;
};

static const struct action actions[] = {
    {"vms", "start", "vm.start"},
    {"vms", "stop", "vm.stop"},
    {"vms", "disconnect", "vm.disconnect"},
    {"vms", "block", "vm.block"},
    {"vms", "unblock", "vm.block"},
    {"users", "block", "user.block"},
    {"users", "unblock", "user.block"},
    {"users", "password", "user.password"},
    {"hosts", "block", "host.block"},
    {"hosts", "unblock", "host.block"},
    {"tenants", "block", "tenant.block"},
    {"tenants", "unblock", "tenant.block"},
    {"dis", "block", "di.block"},
    {"dis", "unblock", "di.block"},
    {"dis", "publish", "di.publish"},
    {"dis", "tag", "di.tag"},
    {"dis", "untag", "di.tag"},
    {"administrators", "block", "administrator.block"},
    {"administrators", "unblock", "administrator.block"},
    {"administrators", "password", "administrator.password"},
    {"administrators", "assign", "administrator.assign"},
    {"administrators", "unassign", "administrator.assign"},
    {"roles", "grant", "role.grant"},
    {"roles", "revoke", "role.grant"},
    {"roles", "inherit", "role.inherit"},
    {"roles", "disinherit", "role.inherit"},
};

static const struct api_member no_members[] = {{0}};
static const struct api_member password_member[] = {{"password", API_STR, true}, {0}};
static const struct api_member tag_member[] = {{"tag", API_STR, true}, {0}};
static const struct api_member role_member[] = {{"role_id", API_INT, true}, {0}};
static const struct api_member revoke_member[] = {{"acl", API_STR, true}, {0}};
static const struct api_member acl_members[] = {
    {"acl", API_STR, true}, {"positive", API_BOOL, false}, {0}};

/* An empty body is an empty object for actions without members. */
static int
members(struct api_ctx *x, const struct api_member *m)
{
    if (x->body == NULL && m[0].name == NULL)
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

static int
run(struct api_ctx *x, const struct action *a, int64_t id)
{
    struct qvd_config *cfg = x->api->cfg;
    struct qvd_db *db = x->db;
    const char *r = a->resource, *n = a->name;
    bool block = strcmp(n, "block") == 0;
    int64_t ref;

    if (strcmp(n, "block") == 0 || strcmp(n, "unblock") == 0) {
        if (members(x, no_members) < 0)
            return -1;
        if (strcmp(r, "vms") == 0)
            return qvd_model_vm_block(db, cfg, id, block);
        if (strcmp(r, "users") == 0)
            return qvd_model_user_set(db, cfg, id, NULL, NULL, NULL, block);
        if (strcmp(r, "hosts") == 0)
            return qvd_model_host_block(db, cfg, id, block);
        if (strcmp(r, "tenants") == 0)
            return qvd_model_tenant_set(db, cfg, id, NULL, NULL, block);
        if (strcmp(r, "dis") == 0)
            return qvd_model_di_set(db, cfg, id, NULL, block);
        return qvd_model_admin_set(db, cfg, id, NULL, NULL, block);
    }
    if (strcmp(n, "password") == 0) {
        if (members(x, password_member) < 0)
            return -1;
        return strcmp(r, "users") == 0
                   ? qvd_model_user_passwd(db, cfg, id, api_str(x, "password"))
                   : qvd_model_admin_passwd(db, cfg, id, api_str(x, "password"));
    }
    if (strcmp(r, "vms") == 0) {
        if (members(x, no_members) < 0)
            return -1;
        if (strcmp(n, "start") == 0)
            return qvd_model_vm_start(db, cfg, id, NULL);
        if (strcmp(n, "stop") == 0)
            return qvd_model_vm_stop(db, cfg, id);
        return qvd_model_vm_disconnect(db, cfg, id);
    }
    if (strcmp(r, "dis") == 0) {
        if (strcmp(n, "publish") == 0)
            return members(x, no_members) < 0 ? -1 : qvd_model_di_publish(db, cfg, id);
        if (members(x, tag_member) < 0)
            return -1;
        snprintf(x->object_name, sizeof(x->object_name), "%s", api_str(x, "tag"));
        return strcmp(n, "tag") == 0 ? qvd_model_di_tag(db, cfg, id, api_str(x, "tag"))
                                     : qvd_model_di_untag(db, cfg, id, api_str(x, "tag"));
    }
    if (strcmp(r, "administrators") == 0) {
        if (members(x, role_member) < 0)
            return -1;
        api_int(x, "role_id", &ref);
        if (strcmp(n, "assign") == 0 && role_in_reach(x, ref) < 0)
            return -1;
        return qvd_model_admin_assign(db, cfg, id, ref, strcmp(n, "assign") == 0);
    }
    if (strcmp(n, "grant") == 0 || strcmp(n, "revoke") == 0) {
        struct qvd_acl_set set;
        if (members(x, strcmp(n, "grant") == 0 ? acl_members : revoke_member) < 0)
            return -1;
        snprintf(x->object_name, sizeof(x->object_name), "%s", api_str(x, "acl"));
        qvd_acl_match(api_str(x, "acl"), &set);
        if (api_no_escalation(x, &set) < 0)
            return -1;
        return strcmp(n, "grant") == 0 ? qvd_model_role_grant(db, cfg, id, api_str(x, "acl"),
                                                              api_bool(x, "positive") != 0)
                                       : qvd_model_role_revoke(db, cfg, id, api_str(x, "acl"));
    }
    /* inherit, disinherit */
    if (members(x, role_member) < 0)
        return -1;
    api_int(x, "role_id", &ref);
    if (strcmp(n, "inherit") == 0 && role_in_reach(x, ref) < 0)
        return -1;
    return qvd_model_role_inherit(db, cfg, id, ref, strcmp(n, "inherit") == 0);
}

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
    if (run(x, a, id) < 0)
        return x->res->status ? -1 : api_model_error(x);
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
        struct qvd_stmt *st = qvd_model_prop_list(x->db, r->object, id);
        json_t *o = json_object();
        if (st == NULL)
            return json_decref(o), api_model_error(x);
        while ((rc = qvd_db_step(st)) == 1)
            json_object_set_new(o, qvd_db_text(st, 2), json_string(qvd_db_text(st, 3)));
        qvd_db_done(st);
        if (rc < 0)
            return json_decref(o), api_error(x, 500, "internal", "%s", qvd_strerror());
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

/* h_misc.c: /info, /stats (the dashboard's counts), /acls (the catalogue, or one
 * administrator's operative ACLs) and /events (the live feed's hand-off to the loop). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "db.h"
#include "err.h"
#include "model_stats.h"

int
api_h_info(struct api_ctx *x)
{
    int v = qvd_db_schema_version(x->db);

    return api_reply(x, 200,
                     json_pack("{s:s,s:s,s:i,s:I,s:b}", "status", "ok", "version", QVD_VERSION,
                               "schema_version", v, "server_time", (json_int_t)time(NULL),
                               "multitenant", 1));
}

static void
put_count(void *arg, const char *name, int64_t n)
{
    json_object_set_new(arg, name, json_integer(n));
}

static void
put_top(void *arg, int64_t id, const char *name, int64_t vms)
{
    json_array_append_new(arg, json_pack("{s:I,s:s,s:I}", "id", (json_int_t)id, "name", name, "vms",
                                         (json_int_t)vms));
}

int
api_h_stats(struct api_ctx *x)
{
    struct qvd_model_scope scope = {x->superadmin, x->who.tenant_id};
    bool hosts = qvd_acl_has(&x->acls, "host.see");
    json_t *o, *top;

    if (api_need(x, "stats.see") < 0)
        return -1;
    o = json_object();
    top = json_array();
    if (qvd_model_stats(x->db, &scope, hosts, put_count, o) < 0 ||
        (hosts && qvd_model_stats_top_hosts(x->db, &scope, put_top, top) < 0)) {
        json_decref(o);
        json_decref(top);
        return api_error(x, 500, "internal", "statistics: %s", qvd_strerror());
    }
    json_object_set_new(o, "top_hosts", top);
    return api_reply(x, 200, o);
}

int
api_h_acls(struct api_ctx *x, int64_t admin_id)
{
    struct qvd_acl_set set;
    json_t *rows = json_array();
    int64_t tenant;

    if (api_need(x, "acl.see") < 0)
        return json_decref(rows), -1;
    if (admin_id != API_NO_ID) {
        if (api_object_tenant(x, "administrators", admin_id, &tenant) < 0)
            return json_decref(rows), -1;
        if (qvd_acl_admin(x->db, admin_id, &set) < 0)
            return json_decref(rows), api_error(x, 500, "internal", "%s", qvd_strerror());
    }
    /* ?pattern=GLOB narrows the catalogue the way role grants name ACLs ("vm.*") */
    const char *pattern = NULL;
    struct qvd_acl_set match;
    for (size_t i = 0; i < x->req->nparams; i++)
        if (strcmp(x->req->params[i].key, "pattern") == 0)
            pattern = x->req->params[i].value;
    if (pattern != NULL && qvd_acl_match(pattern, &match) == 0)
        return json_decref(rows), api_error(x, 400, "bad_filter", "'%s' names no ACL", pattern);
    for (int i = 0; i < qvd_acl_count(); i++) {
        if (admin_id != API_NO_ID && !((set.w[i / 64] >> (i % 64)) & 1))
            continue;
        if (pattern != NULL && !((match.w[i / 64] >> (i % 64)) & 1))
            continue;
        json_array_append_new(rows, json_pack("{s:s,s:s}", "name", qvd_acl_name(i), "description",
                                              qvd_acl_description(i)));
    }
    return api_reply(
        x, 200, json_pack("{s:I,s:o}", "total", (json_int_t)json_array_size(rows), "rows", rows));
}

int
api_h_events(struct api_ctx *x)
{
    if (!qvd_acl_has(&x->acls, "vm.see") && !qvd_acl_has(&x->acls, "host.see"))
        return api_error(x, 403, "forbidden", "the live feed needs the ACL vm.see or host.see");
    x->res->status = 200;
    x->res->stream = true;
    x->res->superadmin = x->superadmin;
    x->res->tenant_id = x->who.tenant_id;
    x->res->acls = x->acls;
    return 0;
}

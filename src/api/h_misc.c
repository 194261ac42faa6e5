/* h_misc.c: /info, /stats (the dashboard's counts), /acls (the catalogue, or one
 * administrator's operative ACLs) and /events (the live feed's hand-off to the loop). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "db.h"
#include "err.h"

int
api_h_info(struct api_ctx *x)
{
    int v = qvd_db_schema_version(x->db);

    return api_reply(x, 200,
                     json_pack("{s:s,s:s,s:i,s:I,s:b}", "status", "ok", "version", QVD_VERSION,
                               "schema_version", v, "server_time", (json_int_t)time(NULL),
                               "multitenant", 1));
}

/* One count in scope: `sql` has two '?' for (all, tenant). */
static int
count(struct api_ctx *x, json_t *o, const char *name, const char *sql)
{
    int64_t n = 0;

    if (qvd_db_get_int(x->db, &n, sql, "ii", (int64_t)x->superadmin, x->who.tenant_id) < 0)
        return -1;
    json_object_set_new(o, name, json_integer(n));
    return 0;
}

int
api_h_stats(struct api_ctx *x)
{
    json_t *o = json_object(), *top = json_array();
    struct qvd_stmt *st;
    int rc = 0;

    if (api_need(x, "stats.see") < 0)
        return json_decref(o), json_decref(top), -1;
#define USERS " FROM users u WHERE (? = 1 OR u.tenant_id = ?)"
#define VMS                                                                                        \
    " FROM vms v JOIN users u ON u.id = v.user_id LEFT JOIN vm_runtimes r ON r.vm_id = v.id"       \
    " WHERE (? = 1 OR u.tenant_id = ?)"
    rc |= count(x, o, "users", "SELECT count(*)" USERS);
    rc |= count(x, o, "blocked_users", "SELECT count(*)" USERS " AND u.blocked = 1");
    rc |= count(x, o, "vms", "SELECT count(*)" VMS);
    rc |= count(x, o, "blocked_vms", "SELECT count(*)" VMS " AND r.blocked = 1");
    rc |= count(x, o, "running_vms", "SELECT count(*)" VMS " AND r.vm_state = 'running'");
    rc |= count(x, o, "connected_users", "SELECT count(*)" VMS " AND r.user_state = 'connected'");
    rc |= count(x, o, "vms_close_to_expiration",
                "SELECT count(*)" VMS " AND r.vm_expiration_soft IS NOT NULL");
    rc |=
        count(x, o, "osfs", "SELECT count(*) FROM osfs o WHERE (? = 1 OR o.tenant_id IN (?, -1))");
    rc |= count(x, o, "dis",
                "SELECT count(*) FROM dis d JOIN osfs o ON o.id = d.osf_id"
                " WHERE (? = 1 OR o.tenant_id IN (?, -1))");
    rc |= count(x, o, "blocked_dis",
                "SELECT count(*) FROM dis d JOIN osfs o ON o.id = d.osf_id"
                " WHERE (? = 1 OR o.tenant_id IN (?, -1)) AND d.blocked = 1");
    if (qvd_acl_has(&x->acls, "host.see")) {
        rc |= count(x, o, "hosts", "SELECT count(*) FROM hosts WHERE ? >= 0 OR ? >= 0");
        rc |= count(x, o, "blocked_hosts",
                    "SELECT count(*) FROM host_runtimes WHERE (? >= 0 OR ? >= 0) AND blocked = 1");
        rc |= count(x, o, "running_hosts",
                    "SELECT count(*) FROM host_runtimes WHERE (? >= 0 OR ? >= 0)"
                    " AND state = 'running'");
        st = qvd_db_query(x->db,
                          "SELECT h.id, h.name, count(v.id) AS n FROM hosts h"
                          " JOIN vm_runtimes r ON r.host_id = h.id JOIN vms v ON v.id = r.vm_id"
                          " JOIN users u ON u.id = v.user_id WHERE (? = 1 OR u.tenant_id = ?)"
                          " GROUP BY h.id, h.name ORDER BY n DESC, h.id LIMIT 5",
                          "ii", (int64_t)x->superadmin, x->who.tenant_id);
        if (st == NULL)
            rc = -1;
        while (st && (rc == 0) && qvd_db_step(st) == 1)
            json_array_append_new(
                top, json_pack("{s:I,s:s,s:I}", "id", (json_int_t)qvd_db_int(st, 0), "name",
                               qvd_db_text(st, 1), "vms", (json_int_t)qvd_db_int(st, 2)));
        qvd_db_done(st);
    }
    json_object_set_new(o, "top_hosts", top);
    if (rc != 0) {
        json_decref(o);
        return api_error(x, 500, "internal", "statistics: %s", qvd_strerror());
    }
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

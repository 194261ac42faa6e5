/* resource.c: the administration objects as data (their fields, joins and tenants) and the
 * lists, gets and tenant lookups run over them (the SQL comes from filter.c). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db.h"
#include "filter.h"
#include "log.h"
#include "model_int.h"
#include "resource.h"

/* A field names only what it has: a read-only one no limits (they stay zero). */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define INT QVD_FIELD_INT
#define TEXT QVD_FIELD_TEXT
#define BOOL QVD_FIELD_BOOL
#define BASIC QVD_FIELD_BASIC
#define C QVD_FIELD_CREATE
#define U QVD_FIELD_UPDATE
#define CU QVD_FIELD_WRITE
#define REQ QVD_FIELD_REQUIRED
#define NAME QVD_FIELD_NAME
#define RES_INPUTS(a) .inputs = (a), .ninputs = sizeof(a) / sizeof((a)[0])
/* The limits the fields share: names (64 bytes), free text, ids of other objects. */
#define NAME_LEN 1, 64
#define TEXT_LEN 0, 4096
#define REF_ID 1, INT32_MAX
#define TENANT_ID -1, INT32_MAX
#define RES_FIELDS(a) .fields = (a), .nfields = sizeof(a) / sizeof((a)[0])
#define RES_JOINS(a) .joins = (a), .njoins = sizeof(a) / sizeof((a)[0])

/* users: the tenant of each user, by name */
static const struct qvd_join user_joins[] = {{"t", "JOIN tenants t ON t.id = u.tenant_id"}};

/* ---- tenants ---- */
static const struct qvd_field tenant_fields[] = {
    {"id", "t.id", INT, BASIC},
    {"name", "t.name", TEXT, BASIC | CU | REQ | NAME, NAME_LEN},
    {"blocked", "t.blocked", BOOL, 0},
    {"description", "t.description", TEXT, CU, TEXT_LEN},
    /* (no VM count: it would read every VM of every tenant listed; /stats counts them) */
    {"users", "(SELECT count(*) FROM users x WHERE x.tenant_id = t.id)", INT, 0},
};
static const struct qvd_resource tenants = {
    .name = "tenants",
    .object = "tenant",
    .from = "tenants t",
    .tenant_sql = "t.id",
    .id_sql = "t.id",
    RES_FIELDS(tenant_fields),
    .ops = &qvd_tenant_ops,
};

/* ---- users ---- */
static const struct qvd_field user_fields[] = {
    {"id", "u.id", INT, BASIC},
    {"name", "u.login", TEXT, BASIC | CU | REQ | NAME, NAME_LEN},
    {"tenant_id", "u.tenant_id", INT, C, TENANT_ID},
    {"tenant", "t.name", TEXT, 0},
    {"blocked", "u.blocked", BOOL, 0},
    {"language", "u.language", TEXT, U, 1, 16, "es,en,auto,default"},
    {"description", "u.description", TEXT, CU, TEXT_LEN},
    {"vms", "(SELECT count(*) FROM vms x WHERE x.user_id = u.id)", INT, 0},
    {"created", "u.created_ts", INT, 0},
};
static const struct qvd_field user_inputs[] = {
    {"password", NULL, TEXT, C | REQ, 1, 1024},
};
static const struct qvd_resource users = {
    .name = "users",
    .object = "user",
    .from = "users u",
    .tenant_sql = "u.tenant_id",
    .id_sql = "u.id",
    RES_FIELDS(user_fields),
    RES_JOINS(user_joins),
    RES_INPUTS(user_inputs),
    .ops = &qvd_user_ops,
};

/* ---- VMs ---- */
static const struct qvd_join vm_joins[] = {
    {"u", "JOIN users u ON u.id = v.user_id"},
    {"t", "JOIN tenants t ON t.id = u.tenant_id"},
    {"o", "JOIN osfs o ON o.id = v.osf_id"},
    {"r", "LEFT JOIN vm_runtimes r ON r.vm_id = v.id"},
    {"h", "LEFT JOIN hosts h ON h.id = r.host_id"},
};
static const struct qvd_field vm_fields[] = {
    {"id", "v.id", INT, BASIC},
    {"name", "v.name", TEXT, BASIC | CU | REQ | NAME, NAME_LEN},
    {"user_id", "v.user_id", INT, C | REQ, REF_ID, NULL, "users"},
    {"user", "u.login", TEXT, 0},
    {"tenant_id", "u.tenant_id", INT, 0},
    {"tenant", "t.name", TEXT, 0},
    {"osf_id", "v.osf_id", INT, C | REQ, REF_ID, NULL, "osfs"},
    {"osf", "o.name", TEXT, 0},
    {"di_tag", "v.di_tag", TEXT, CU | NAME, 1, 128},
    {"di_id", "r.current_di_id", INT, 0},
    {"ip", "v.ip", TEXT, 0},
    {"mac", "v.mac", TEXT, 0},
    {"state", "r.vm_state", TEXT, 0},
    {"cmd", "r.vm_cmd", TEXT, 0},
    {"host_id", "r.host_id", INT, 0},
    {"host", "h.name", TEXT, 0},
    {"user_state", "r.user_state", TEXT, 0},
    {"blocked", "r.blocked", BOOL, 0},
    {"expiration_soft", "r.vm_expiration_soft", INT, 0},
    {"expiration_hard", "r.vm_expiration_hard", INT, 0},
    {"description", "v.description", TEXT, CU, TEXT_LEN},
    {"created", "v.created_ts", INT, 0},
};
static const struct qvd_resource vms = {
    .name = "vms",
    .object = "vm",
    .from = "vms v",
    .tenant_sql = "u.tenant_id",
    .id_sql = "v.id",
    RES_FIELDS(vm_fields),
    RES_JOINS(vm_joins),
    .ops = &qvd_vm_ops,
    .tenant_ref = "user_id",
};

/* ---- hosts (shared by every tenant) ---- */
static const struct qvd_join host_joins[] = {
    {"r", "LEFT JOIN host_runtimes r ON r.host_id = h.id"}};
/* A node's state as administrators read it: lost (declared so, or its HKD's last word),
 * blocked while its HKD runs, else its HKD's state. */
#define HOST_STATE                                                                                 \
    "CASE WHEN r.lost_ts IS NOT NULL OR r.state = 'lost' THEN 'lost'"                              \
    " WHEN r.blocked = 1 AND r.state IN ('starting', 'running') THEN 'blocked'"                    \
    " ELSE coalesce(r.state, 'stopped') END"
/* the VMs assigned to a host */
#define HOST_VMS "FROM vm_runtimes x WHERE x.host_id = h.id"
static const struct qvd_field host_fields[] = {
    {"id", "h.id", INT, BASIC},
    {"name", "h.name", TEXT, BASIC | CU | REQ | NAME, NAME_LEN},
    {"address", "h.address", TEXT, CU | REQ | NAME, 1, 255},
    /* CIDR, checked by qvd_model_host_subnet; '' = none */
    {"vm_subnet", "h.vm_subnet", TEXT, CU | NAME, 0, 18},
    {"frontend", "h.frontend", BOOL, CU},
    {"backend", "h.backend", BOOL, CU},
    {"state", HOST_STATE, TEXT, 0},
    {"hkd_state", "r.state", TEXT, 0},
    {"blocked", "r.blocked", BOOL, 0},
    {"ok_ts", "r.ok_ts", INT, 0},
    /* seconds since the HKD's last heartbeat, by the model's clock (@NOW@) */
    {"heartbeat_age", "@NOW@ - r.ok_ts", INT, 0},
    {"lost_ts", "r.lost_ts", INT, 0},
    {"usable_ram", "r.usable_ram", INT, 0},
    {"usable_cpu", "r.usable_cpu", INT, 0},
    {"vms", "(SELECT count(*) " HOST_VMS ")", INT, 0},
    /* MiB: the OSF memory of its VMs that are not stopped (or are being started there) */
    {"memory_committed",
     "(SELECT coalesce(sum(z.memory), 0) FROM vm_runtimes x JOIN vms y ON y.id = x.vm_id"
     " JOIN osfs z ON z.id = y.osf_id WHERE x.host_id = h.id"
     " AND (x.vm_state <> 'stopped' OR x.vm_cmd = 'start'))",
     INT, 0},
    {"vm_ids",
     "(SELECT @AGG@(z.v, ',') FROM (SELECT CAST(x.vm_id AS TEXT) AS v " HOST_VMS
     " ORDER BY x.vm_id) z)",
     TEXT, 0},
    {"description", "h.description", TEXT, CU, TEXT_LEN},
};
static const struct qvd_resource hosts = {
    .name = "hosts",
    .object = "host",
    .from = "hosts h",
    .tenant_sql = NULL,
    .id_sql = "h.id",
    RES_FIELDS(host_fields),
    RES_JOINS(host_joins),
    .ops = &qvd_host_ops,
};

/* ---- OSFs ---- */
static const struct qvd_join osf_joins[] = {{"t", "JOIN tenants t ON t.id = o.tenant_id"}};
static const struct qvd_field osf_fields[] = {
    {"id", "o.id", INT, BASIC},
    {"name", "o.name", TEXT, BASIC | CU | REQ | NAME, NAME_LEN},
    {"tenant_id", "o.tenant_id", INT, C, TENANT_ID},
    {"tenant", "t.name", TEXT, 0},
    {"memory", "o.memory", INT, CU, 16, 1024 * 1024}, /* MiB */
    {"use_overlay", "o.use_overlay", BOOL, CU},
    {"user_storage_size", "o.user_storage_size", INT, CU, 0, 1024 * 1024 * 1024}, /* MiB */
    {"is_application", "o.is_application", BOOL, CU},
    {"dis", "(SELECT count(*) FROM dis x WHERE x.osf_id = o.id)", INT, 0},
    {"vms", "(SELECT count(*) FROM vms x WHERE x.osf_id = o.id)", INT, 0},
    {"description", "o.description", TEXT, CU, TEXT_LEN},
};
static const struct qvd_resource osfs = {
    .name = "osfs",
    .object = "osf",
    .from = "osfs o",
    .tenant_sql = "o.tenant_id",
    .id_sql = "o.id",
    RES_FIELDS(osf_fields),
    RES_JOINS(osf_joins),
    .ops = &qvd_osf_ops,
};

/* ---- DIs: in the tenant of their OSF ---- */
static const struct qvd_join di_joins[] = {
    {"o", "JOIN osfs o ON o.id = d.osf_id"},
    {"r", "LEFT JOIN di_runtimes r ON r.di_id = d.id"},
};
static const struct qvd_field di_fields[] = {
    {"id", "d.id", INT, BASIC},
    {"version", "d.version", TEXT, BASIC | C | NAME, 1, 64},
    {"osf_id", "d.osf_id", INT, C | REQ, REF_ID, NULL, "osfs"},
    {"osf", "o.name", TEXT, 0},
    {"tenant_id", "o.tenant_id", INT, 0},
    {"path", "d.path", TEXT, 0},
    {"blocked", "d.blocked", BOOL, 0},
    {"state", "r.state", TEXT, 0},
    /* fixed tags (the version) first */
    {"tags",
     "(SELECT @AGG@(x.tag, ',') FROM (SELECT g.tag FROM di_tags g WHERE g.di_id = d.id"
     " ORDER BY g.fixed DESC, g.tag) x)",
     TEXT, 0},
    {"description", "d.description", TEXT, CU, TEXT_LEN},
    {"created", "d.created_ts", INT, 0},
};
/* the DI's image to import: qvd-api names a file of path.storage.staging, qvd-admin a path */
static const struct qvd_field di_inputs[] = {
    {"file", NULL, TEXT, C | REQ | QVD_FIELD_FILE, 1, 4096}};
static const struct qvd_resource dis = {
    .name = "dis",
    .object = "di",
    .from = "dis d",
    .tenant_sql = "o.tenant_id",
    .id_sql = "d.id",
    RES_FIELDS(di_fields),
    RES_JOINS(di_joins),
    RES_INPUTS(di_inputs),
    .ops = &qvd_di_ops,
    .tenant_ref = "osf_id",
};

/* ---- tags: in the tenant of their OSF ---- */
static const struct qvd_join tag_joins[] = {{"o", "JOIN osfs o ON o.id = g.osf_id"}};
static const struct qvd_field tag_fields[] = {
    {"id", "g.id", INT, BASIC},     {"tag", "g.tag", TEXT, BASIC}, {"di_id", "g.di_id", INT, 0},
    {"osf_id", "g.osf_id", INT, 0}, {"fixed", "g.fixed", BOOL, 0},
};
static const struct qvd_resource tags = {
    .name = "tags",
    .object = "tag",
    .from = "di_tags g",
    .tenant_sql = "o.tenant_id",
    .id_sql = "g.id",
    RES_FIELDS(tag_fields),
    RES_JOINS(tag_joins),
};

/* ---- configs: a row is a (tenant, key); tenant -1 holds the global ones ---- */
static const struct qvd_join config_joins[] = {{"t", "JOIN tenants t ON t.id = c.tenant_id"}};
static const struct qvd_field config_fields[] = {
    {"key", "c.key", TEXT, BASIC},
    {"value", "c.value", TEXT, 0},
    {"tenant_id", "c.tenant_id", INT, 0},
    {"tenant", "t.name", TEXT, 0},
};
static const struct qvd_resource configs = {
    .name = "configs",
    .object = "config",
    .from = "configs c",
    .tenant_sql = "c.tenant_id",
    .id_sql = NULL,
    RES_FIELDS(config_fields),
    RES_JOINS(config_joins),
    .order = "tenant_id,key",
};

/* ---- administrators ---- */
static const struct qvd_join admin_joins[] = {{"t", "JOIN tenants t ON t.id = a.tenant_id"}};
static const struct qvd_field admin_fields[] = {
    {"id", "a.id", INT, BASIC},
    {"name", "a.name", TEXT, BASIC | CU | REQ | NAME, NAME_LEN},
    {"tenant_id", "a.tenant_id", INT, C, TENANT_ID},
    {"tenant", "t.name", TEXT, 0},
    {"blocked", "a.blocked", BOOL, 0},
    {"description", "a.description", TEXT, CU, TEXT_LEN},
    {"roles",
     "(SELECT @AGG@(x.name, ',') FROM (SELECT y.name FROM administrator_roles z"
     " JOIN roles y ON y.id = z.role_id WHERE z.administrator_id = a.id ORDER BY y.name) x)",
     TEXT, 0},
    {"created", "a.created_ts", INT, 0},
};
static const struct qvd_field admin_inputs[] = {
    {"password", NULL, TEXT, C | REQ, 1, 1024},
};
static const struct qvd_resource administrators = {
    .name = "administrators",
    .object = "administrator",
    .from = "administrators a",
    .tenant_sql = "a.tenant_id",
    .id_sql = "a.id",
    RES_FIELDS(admin_fields),
    RES_JOINS(admin_joins),
    RES_INPUTS(admin_inputs),
    .ops = &qvd_admin_ops,
};

/* ---- roles ---- */
static const struct qvd_join role_joins[] = {{"t", "JOIN tenants t ON t.id = r.tenant_id"}};
static const struct qvd_field role_fields[] = {
    {"id", "r.id", INT, BASIC},
    {"name", "r.name", TEXT, BASIC | CU | REQ | NAME, NAME_LEN},
    {"tenant_id", "r.tenant_id", INT, C, TENANT_ID},
    {"tenant", "t.name", TEXT, 0},
    {"fixed", "r.fixed", BOOL, 0},
    {"description", "r.description", TEXT, CU, TEXT_LEN},
    {"inherits",
     "(SELECT @AGG@(x.name, ',') FROM (SELECT y.name FROM role_roles z"
     " JOIN roles y ON y.id = z.inherited_id WHERE z.inheritor_id = r.id ORDER BY y.name) x)",
     TEXT, 0},
    {"acls", "(SELECT count(*) FROM role_acls z WHERE z.role_id = r.id)", INT, 0},
};
static const struct qvd_resource roles = {
    .name = "roles",
    .object = "role",
    .from = "roles r",
    .tenant_sql = "r.tenant_id",
    .id_sql = "r.id",
    RES_FIELDS(role_fields),
    RES_JOINS(role_joins),
    .ops = &qvd_role_ops,
};

/* ---- the audit log: names are copied into each row, so it needs no join ---- */
static const struct qvd_field log_fields[] = {
    {"id", "l.id", INT, BASIC},
    {"time", "l.time", INT, 0},
    {"administrator_id", "l.administrator_id", INT, 0},
    {"administrator", "l.administrator", TEXT, 0},
    {"tenant_id", "l.tenant_id", INT, 0},
    {"tenant", "l.tenant", TEXT, 0},
    {"action", "l.action", TEXT, 0},
    {"object", "l.object", TEXT, 0},
    {"object_id", "l.object_id", INT, 0},
    {"object_name", "l.object_name", TEXT, 0},
    {"arguments", "l.arguments", TEXT, 0},
    {"status", "l.status", INT, 0},
    {"message", "l.message", TEXT, 0},
    {"source", "l.source", TEXT, 0},
    {"ip", "l.ip", TEXT, 0},
};
static const struct qvd_resource audit_log = {
    .name = "log",
    .object = "log",
    .from = "audit_log l",
    .tenant_sql = "l.tenant_id",
    .id_sql = "l.id",
    RES_FIELDS(log_fields),
    .order = "-id",
};

const struct qvd_resource *const qvd_resources[] = {
    &tenants, &users,          &vms,   &hosts,     &osfs, &dis, &tags,
    &configs, &administrators, &roles, &audit_log, NULL,
};

const struct qvd_resource *
qvd_resource_find(const char *name)
{
    for (size_t i = 0; qvd_resources[i] != NULL; i++)
        if (strcmp(qvd_resources[i]->name, name) == 0)
            return qvd_resources[i];
    return NULL;
}

const struct qvd_field *
qvd_resource_field(const struct qvd_resource *r, const char *name)
{
    for (size_t i = 0; i < r->nfields; i++)
        if (strcmp(r->fields[i].name, name) == 0)
            return &r->fields[i];
    return NULL;
}

/* ---- running the queries ---- */

/* A text column as a JSON string; bytes that are not UTF-8 become '?'. */
static json_t *
text_value(const char *s)
{
    json_t *j = json_string(s);
    char *copy;

    if (j != NULL)
        return j;
    copy = qvd_xstrdup(s);
    for (char *c = copy; *c; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* Steps the page statement: each row an object of the fields, appended to rows. */
static int
fetch_rows(struct qvd_db *db, struct qvd_stmt *st, const struct qvd_filter_list *l, json_t *rows)
{
    int rc;

    while ((rc = qvd_db_step(st)) == 1) {
        json_t *row = json_object(), *v;

        for (size_t i = 0; i < l->nfields; i++) {
            const struct qvd_field *f = l->fields[i];
            int col = (int)i;

            if (qvd_db_is_null(st, col))
                v = json_null();
            else if (f->type == QVD_FIELD_INT)
                v = json_integer(qvd_db_int(st, col));
            else if (f->type == QVD_FIELD_BOOL)
                v = json_boolean(qvd_db_int(st, col) != 0);
            else
                v = text_value(qvd_db_text(st, col));
            json_object_set_new(row, f->name, v);
        }
        json_array_append_new(rows, row);
    }
    return rc < 0 ? qvd_model_dbfail(db) : 0;
}

static struct qvd_stmt *
run(struct qvd_db *db, const struct qvd_filter_sql *s)
{
    struct qvd_stmt *st = qvd_db_query_params(db, s->text.data, s->params, s->nparams);
    if (st == NULL)
        qvd_model_dbfail(db);
    return st;
}

/* The total of a list whose page is done: a page that is not full ends the list (and gives
 * the total without a count), unless an offset past the end left it empty. */
static int
total_of(struct qvd_db *db, const struct qvd_filter_list *l, const struct qvd_list_query *q,
         size_t nrows, int64_t *total)
{
    struct qvd_stmt *st;
    int rc;

    if ((int64_t)nrows < q->limit && (nrows > 0 || q->offset == 0)) {
        *total = q->offset + (int64_t)nrows;
        return 0;
    }
    if ((st = run(db, &l->count)) == NULL)
        return -1;
    rc = qvd_db_step(st);
    if (rc == 1)
        *total = qvd_db_int(st, 0);
    qvd_db_done(st);
    return rc == 1 ? 0 : qvd_model_dbfail(db);
}

int
qvd_resource_list(struct qvd_db *db, const struct qvd_resource *r, const struct qvd_list_query *q,
                  json_t **out)
{
    struct qvd_filter_list l;
    struct qvd_stmt *st;
    json_t *rows = json_array();
    int64_t total = 0;
    int rc = -1;

    *out = NULL;
    if (qvd_filter_list_build(r, q, db->ops->string_agg, NULL, &l) < 0)
        goto out;
    log_debug("list %s: %s", r->name, l.page.text.data);
    if ((st = run(db, &l.page)) == NULL)
        goto out;
    rc = fetch_rows(db, st, &l, rows);
    qvd_db_done(st);
    if (rc < 0 || (q->count && (rc = total_of(db, &l, q, json_array_size(rows), &total)) < 0))
        goto out;
    *out = json_object();
    if (q->count)
        json_object_set_new(*out, "total", json_integer(total));
    json_object_set_new(*out, "offset", json_integer(q->offset));
    json_object_set_new(*out, "limit", json_integer(q->limit));
    json_object_set_new(*out, "rows", rows);
    rows = NULL;
out:
    json_decref(rows);
    qvd_filter_list_free(&l);
    return rc;
}

struct qvd_stmt *
qvd_resource_rows(struct qvd_db *db, const struct qvd_resource *r, const struct qvd_list_query *q)
{
    struct qvd_filter_list l;
    struct qvd_stmt *st = NULL;

    if (qvd_filter_list_build(r, q, db->ops->string_agg, NULL, &l) == 0)
        st = run(db, &l.page);
    qvd_filter_list_free(&l);
    return st;
}

int
qvd_resource_get(struct qvd_db *db, const struct qvd_resource *r, int64_t id,
                 const struct qvd_list_query *q, json_t **out)
{
    static const struct qvd_list_query everything;
    struct qvd_filter_list l;
    struct qvd_stmt *st = NULL;
    json_t *rows = json_array();
    int rc = -1;

    *out = NULL;
    if (qvd_filter_list_build(r, q ? q : &everything, db->ops->string_agg, &id, &l) < 0)
        goto out;
    if ((st = run(db, &l.page)) == NULL || fetch_rows(db, st, &l, rows) < 0)
        goto out;
    if (json_array_size(rows) == 0) {
        qvd_model_fail(QVD_MODEL_NOT_FOUND, "%s %lld not found", r->object, (long long)id);
        goto out;
    }
    *out = json_incref(json_array_get(rows, 0));
    rc = 0;
out:
    qvd_db_done(st);
    json_decref(rows);
    qvd_filter_list_free(&l);
    return rc;
}

int
qvd_resource_tenant(struct qvd_db *db, const struct qvd_resource *r, int64_t id, int64_t *tenant)
{
    struct qvd_filter_sql s;
    struct qvd_stmt *st;
    int rc;

    if (qvd_filter_tenant_build(r, id, &s) < 0)
        return -1;
    st = run(db, &s);
    qvd_filter_sql_free(&s);
    if (st == NULL)
        return -1;
    rc = qvd_db_step(st);
    if (rc == 1)
        *tenant = r->tenant_sql == NULL || qvd_db_is_null(st, 0) ? -2 : qvd_db_int(st, 0);
    else if (rc < 0)
        qvd_model_dbfail(db);
    qvd_db_done(st);
    return rc;
}

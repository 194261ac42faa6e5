/* resource.h: the administration objects as data. For each resource: its fields (name in
 * JSON and filters, SQL expression, type), the tenant a row belongs to, and one list query
 * built from a filter expression, an order, a page and the fields a caller may see.
 * qvd-api lists every resource through it; the ACL catalogue (acl.h) is derived from it. */
#ifndef QVD_RESOURCE_H
#define QVD_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qvd_db;
struct json_t;

enum qvd_field_type { QVD_FIELD_INT, QVD_FIELD_TEXT, QVD_FIELD_BOOL };

/* A field every caller that may see the resource sees (id, name): no <object>.see.<field>. */
#define QVD_FIELD_BASIC 0x1

struct qvd_field {
    const char *name; /* as in JSON, filters and order ("user", "state") */
    const char *sql;  /* expression over the resource's tables ("u.login"); @AGG@ stands for
                       * the back-end's string aggregate (group_concat, string_agg) */
    enum qvd_field_type type;
    unsigned flags;
};

/* A table joined to a resource's main table, named by its alias. A query has the joins
 * whose aliases ("u.") its fields, filter, order or tenant use, and the joins those use in
 * turn, so a count filtered on the name joins nothing. Each join matches at most one row
 * (an inner join exactly one): leaving one out never changes which rows there are.
 * Subqueries in field expressions use aliases that are not join aliases (x, y, z). */
struct qvd_join {
    const char *alias; /* "u" */
    const char *sql;   /* "JOIN users u ON u.id = v.user_id"; may use earlier aliases */
};

struct qvd_resource {
    const char *name;       /* the URL segment: "vms" */
    const char *object;     /* the ACL prefix and audit object: "vm" */
    const char *from;       /* the main table and its alias: "vms v" */
    const char *tenant_sql; /* the tenant id of a row ("u.tenant_id"); NULL: not per tenant */
    const char *id_sql;     /* the row's id ("v.id"); NULL: rows have no id (no get) */
    const struct qvd_field *fields;
    size_t nfields;
    const struct qvd_join *joins; /* in the order they are written */
    size_t njoins;
    const char *order; /* the default order, as the order parameter; NULL: "id" */
};

/* Every resource listed through this module, NULL-terminated. */
extern const struct qvd_resource *const qvd_resources[];
const struct qvd_resource *qvd_resource_find(const char *name);
const struct qvd_field *qvd_resource_field(const struct qvd_resource *r, const char *name);

/* May the caller see field f of r? (field-level ACLs) */
typedef bool (*qvd_field_visible_fn)(void *arg, const struct qvd_resource *r,
                                     const struct qvd_field *f);

/* One page of a list.
 * filter: the filter grammar (docs/api.md): terms FIELD OP VALUE with OP one of
 *   = != < > <= >= ~ (~: case-insensitive LIKE, '*' and '%' match any run, '_' one char);
 *   VALUE bare (up to one of , ; ) ] or the end) or "double-quoted" (\" and \\ escapes);
 *   FIELD=[a,b,c] / FIELD!=[a,b,c] (in / not in), FIELD=[1:9] (inclusive range);
 *   ',' AND, ';' OR (AND binds tighter), '!' NOT, parentheses. NULL or "" = everything.
 * order: comma-separated fields, '-' prefix for descending; NULL = the resource's default
 *   (by id; the log newest first). The id (or the default order) ends every order.
 * A NULL column never matches = < > <= >= ~ [..] and always matches != and negations;
 *   the bare value null with = / != means IS NULL / IS NOT NULL.
 * fields: comma-separated fields to return; NULL = every visible field.
 * tenants: the tenant ids the caller may see (ntenants entries); NULL = every tenant.
 * A field that is unknown is QVD_MODEL_INVALID; one the caller may not see (in filter,
 * order or fields) is QVD_MODEL_FORBIDDEN. Values are checked against the field's type. */
struct qvd_list_query {
    const char *filter;
    const char *order;
    const char *fields;
    int64_t offset; /* >= 0 */
    int64_t limit;  /* 1 .. QVD_LIST_MAX_LIMIT */
    bool count;     /* compute the total of matching rows */
    const int64_t *tenants;
    size_t ntenants;
    qvd_field_visible_fn visible; /* NULL: every field visible */
    void *visible_arg;
};
#define QVD_LIST_MAX_LIMIT 1000
#define QVD_LIST_MAX_FILTER 4096

/* Runs the list: *out gets {"total": N (when count), "offset": o, "limit": l, "rows": [{...}]}
 * with each row an object of the chosen fields (JSON integer, string, boolean or null). The
 * total costs a count query only when the page is full (or empty past the end).
 * 0, or -1 with qvd_strerror() and qvd_model_errkind() set. */
int qvd_resource_list(struct qvd_db *db, const struct qvd_resource *r,
                      const struct qvd_list_query *q, struct json_t **out);

/* One row by id, within the tenants (same rules as a list with filter id=ID; q's filter,
 * order, offset, limit and count are not used; q NULL: every tenant and field): 0, or -1
 * (QVD_MODEL_NOT_FOUND when no such row is in scope). */
int qvd_resource_get(struct qvd_db *db, const struct qvd_resource *r, int64_t id,
                     const struct qvd_list_query *q, struct json_t **out);

/* The tenant of row `id` of r: 1 found (*tenant set; -2 for resources without tenant),
 * 0 no such row, -1 error. */
int qvd_resource_tenant(struct qvd_db *db, const struct qvd_resource *r, int64_t id,
                        int64_t *tenant);

#endif

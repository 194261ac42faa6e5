/* resource.h: the administration objects as data. For each resource: its fields (name in
 * JSON and filters, SQL expression, type), the tenant a row belongs to, and one list query
 * built from a filter expression, an order, a page and the fields a caller may see.
 * qvd-api lists every resource through it; the ACL catalogue (acl.h) is derived from it. */
#ifndef QVD_RESOURCE_H
#define QVD_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qvd_config;
struct qvd_db;
struct json_t;

enum qvd_field_type { QVD_FIELD_INT, QVD_FIELD_TEXT, QVD_FIELD_BOOL };

/* A field every caller that may see the resource sees (id, name): no <object>.see.<field>. */
#define QVD_FIELD_BASIC 0x1
/* A member of the body that creates an object (qvd-api POST, qvd-admin add/new). */
#define QVD_FIELD_CREATE 0x2
/* A member of the body that changes an object (qvd-api PUT, qvd-admin set). */
#define QVD_FIELD_UPDATE 0x4
/* A member a create cannot do without. */
#define QVD_FIELD_REQUIRED 0x8
/* TEXT that names something: no space at either end, no control character. */
#define QVD_FIELD_NAME 0x10
/* TEXT: a file to read; qvd-api takes a name in path.storage.staging, qvd-admin a path. */
#define QVD_FIELD_FILE 0x20
#define QVD_FIELD_WRITE (QVD_FIELD_CREATE | QVD_FIELD_UPDATE)

struct qvd_field {
    const char *name; /* as in JSON, filters and order ("user", "state") */
    const char *sql;  /* expression over the resource's tables ("u.login"); @AGG@ stands for
                       * the back-end's string aggregate (group_concat, string_agg); NULL
                       * for an input that is never listed (a password, a file to import) */
    enum qvd_field_type type;
    unsigned flags;
    /* The limits of a writable field (qvd_resource_check): INT its value's range, TEXT its
     * length's in bytes; values: TEXT's allowed values, comma-separated (NULL: any). */
    int64_t min, max;
    const char *values;
    /* INT: the resource whose row's id this is ("users"): a front-end finds the row in the
     * caller's scope before it creates anything that points to it. */
    const char *ref;
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

/* What an object does when created, changed or deleted: the model's rules, reached through
 * the description (no front-end names a model function). `values` holds the members,
 * checked by qvd_resource_check (types and limits): create gets the tenant the front-end
 * chose and checked (-2 for objects without tenant); update only the members to change.
 * 0, or -1 with qvd_strerror() and qvd_model_errkind(). NULL: the verb is refused. */
struct qvd_resource_ops {
    int (*create)(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant, struct json_t *values,
                  int64_t *id);
    int (*update)(struct qvd_db *db, struct qvd_config *cfg, int64_t id, struct json_t *values);
    int (*del)(struct qvd_db *db, struct qvd_config *cfg, int64_t id);
    /* The object's blocked flag, and its password (NULL: it has none). */
    int (*block)(struct qvd_db *db, struct qvd_config *cfg, int64_t id, bool blocked);
    int (*passwd)(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *password);
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
    /* Members a create or update takes that are not listed (sql NULL): "password". */
    const struct qvd_field *inputs;
    size_t ninputs;
    const struct qvd_resource_ops *ops; /* NULL: read-only */
    /* The member (with a ref) whose row gives a new object its tenant ("user_id": a VM is
     * in its user's tenant). NULL: the body's tenant_id member, or no tenant (no such
     * member: tenants and hosts). */
    const char *tenant_ref;
};

/* The rules of the writable objects (model_object.c). */
extern const struct qvd_resource_ops qvd_tenant_ops, qvd_user_ops, qvd_vm_ops, qvd_host_ops,
    qvd_osf_ops, qvd_di_ops, qvd_admin_ops, qvd_role_ops;

/* Every resource listed through this module, NULL-terminated. */
extern const struct qvd_resource *const qvd_resources[];
const struct qvd_resource *qvd_resource_find(const char *name);
const struct qvd_field *qvd_resource_field(const struct qvd_resource *r, const char *name);

/* A member of a create (create true) or an update body: a writable field or an input. */
const struct qvd_field *qvd_resource_member(const struct qvd_resource *r, const char *name,
                                            bool create);

/* Checks the members of a create or update body against the description: each member
 * known and writable, of its type (INT a JSON integer, TEXT a string without NUL, BOOL
 * true/false or 0/1), within its limits; on create (unless partial) the required ones
 * present. The one validation of every front-end: qvd-api's bodies, qvd-admin's options
 * (local, as a JSON object), hence the same refusal everywhere. 0, or -1 with a message
 * naming the member, kind QVD_MODEL_INVALID and *code ("unknown_field", "wrong_type",
 * "missing_field", "invalid") for an API's error code. */
#define QVD_CHECK_CREATE 0x1
#define QVD_CHECK_PARTIAL 0x2 /* the front-end asks for the required members itself */
int qvd_resource_check(const struct qvd_resource *r, struct json_t *values, unsigned how,
                       const char **code);

/* The description of every resource as JSON: [{name, object, id, verbs: {create, update,
 * delete}, tenant_ref, fields: [{name, type ("integer", "string", "boolean"), listed, basic,
 * create, update, required, name_like, file, min, max, values, ref}]}] (min, max, values
 * and ref only where set). What documents and checks outside C read. */
struct json_t *qvd_resource_describe(void);

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
    bool every_row; /* no page: every matching row (offset, limit and count unused) */
};
#define QVD_LIST_MAX_LIMIT 1000
#define QVD_LIST_MAX_FILTER 4096

/* Runs the list: *out gets {"total": N (when count), "offset": o, "limit": l, "rows": [{...}]}
 * with each row an object of the chosen fields (JSON integer, string, boolean or null). The
 * total costs a count query only when the page is full (or empty past the end).
 * 0, or -1 with qvd_strerror() and qvd_model_errkind() set. */
int qvd_resource_list(struct qvd_db *db, const struct qvd_resource *r,
                      const struct qvd_list_query *q, struct json_t **out);

/* The rows of a list as a statement to step (qvd_resource_rows: columns named as the
 * fields, in q->fields' order), for a front-end that prints them as they come (qvd-admin
 * local mode); q->every_row lists them all. NULL with qvd_strerror() on error. */
struct qvd_stmt *qvd_resource_rows(struct qvd_db *db, const struct qvd_resource *r,
                                   const struct qvd_list_query *q);

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

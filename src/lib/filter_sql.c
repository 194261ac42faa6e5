/* filter_sql.c: SQL text with parameters, the joins a query needs, and the count and page
 * queries of a list around the condition from filter.c. */
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "model_int.h"
#include "util.h"

/* ---- SQL text with parameters ---- */

static void
add_param(struct qvd_filter_sql *q, char type, int64_t i, const char *s)
{
    if (q->nparams == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 16;
        q->params = qvd_xrealloc(q->params, q->cap * sizeof(*q->params));
    }
    q->params[q->nparams++] = (struct qvd_db_param){type, i, s ? qvd_xstrdup(s) : NULL};
    qvd_buf_addc(&q->text, '?');
}

void
qvd_filter_add_int(struct qvd_filter_sql *q, int64_t v)
{
    add_param(q, 'i', v, NULL);
}

void
qvd_filter_add_text(struct qvd_filter_sql *q, const char *s)
{
    add_param(q, 's', 0, s);
}

/* Appends src (its text and its parameters) to dst. */
void
qvd_filter_add_sql(struct qvd_filter_sql *dst, const struct qvd_filter_sql *src)
{
    const char *t = src->text.data ? src->text.data : "";
    size_t k = 0;

    for (const char *p = t; *p; p++) {
        if (*p == '?') {
            const struct qvd_db_param *v = &src->params[k++];
            add_param(dst, v->type, v->i, v->s);
        } else {
            qvd_buf_addc(&dst->text, *p);
        }
    }
}

/* Appends a field expression with @AGG@ replaced by the back-end's aggregate and @NOW@ by
 * the model's clock (seconds), the one every daemon writes its timestamps with. */
void
qvd_filter_add_expr(struct qvd_filter_sql *q, const char *sql, const char *agg)
{
    for (const char *p = sql; *p;) {
        if (strncmp(p, "@AGG@", 5) == 0) {
            qvd_buf_adds(&q->text, agg);
            p += 5;
        } else if (strncmp(p, "@NOW@", 5) == 0) {
            qvd_buf_printf(&q->text, "%lld", (long long)qvd_now());
            p += 5;
        } else {
            qvd_buf_addc(&q->text, *p++);
        }
    }
}

void
qvd_filter_sql_free(struct qvd_filter_sql *s)
{
    for (size_t i = 0; i < s->nparams; i++)
        free((char *)s->params[i].s); /* every text parameter is a copy (add_param) */
    free(s->params);
    qvd_buf_free(&s->text);
    memset(s, 0, sizeof(*s));
}

/* ---- joins ---- */

/* Does sql use `alias.` (not as the end of a longer name)? */
static bool
names_alias(const char *sql, const char *alias)
{
    size_t n = strlen(alias);

    for (const char *p = strstr(sql, alias); p != NULL; p = strstr(p + 1, alias))
        if (p[n] == '.' && (p == sql || !qvd_filter_name_char(p[-1])))
            return true;
    return false;
}

/* The joins sql needs: those whose alias it names, and those these name in turn. */
uint32_t
qvd_filter_joins(const struct qvd_resource *r, const char *sql)
{
    uint32_t m = 0;

    for (size_t j = 0; j < r->njoins; j++)
        if (names_alias(sql, r->joins[j].alias))
            m |= 1u << j;
    /* a join names only earlier ones: one pass from the last one closes the set */
    for (size_t j = r->njoins; j-- > 0;)
        if (m & (1u << j))
            for (size_t k = 0; k < j; k++)
                if (names_alias(r->joins[j].sql, r->joins[k].alias))
                    m |= 1u << k;
    return m;
}

static void
add_from(struct qvd_filter_sql *q, const struct qvd_resource *r, uint32_t joins)
{
    qvd_buf_adds(&q->text, r->from);
    for (size_t j = 0; j < r->njoins; j++)
        if (joins & (1u << j))
            qvd_buf_printf(&q->text, " %s", r->joins[j].sql);
}

/* ---- names ---- */

/* Finds field `name` of r for `what` (filter, order, fields): INVALID if r has none,
 * FORBIDDEN if the caller may not see it (unless q is NULL: the resource's own order). */
const struct qvd_field *
qvd_filter_field(const struct qvd_resource *r, const struct qvd_list_query *q, const char *what,
                 const char *name, size_t at)
{
    const struct qvd_field *f = qvd_resource_field(r, name);

    if (f == NULL) {
        qvd_model_fail(QVD_MODEL_INVALID, "%s: %s have no field '%s' (at offset %zu)", what,
                       r->name, name, at);
        return NULL;
    }
    if (q != NULL && q->visible != NULL && !q->visible(q->visible_arg, r, f)) {
        qvd_model_fail(QVD_MODEL_FORBIDDEN, "%s: field '%s' of %s may not be seen", what, name,
                       r->name);
        return NULL;
    }
    return f;
}

/* ASCII only, whatever the locale */
bool
qvd_filter_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool
qvd_filter_name_char(char c)
{
    return qvd_filter_name_start(c) || (c >= '0' && c <= '9');
}

/* ---- order and fields ---- */

struct item {
    const struct qvd_field *f;
    bool desc;
};

/* Parses `s`, comma-separated field names for `what` (order, fields), into items[] (room for
 * every field of r; a repeated field counts once); with `signs` a name may start with '-'
 * (descending) or '+'. q NULL: the resource's own order, not checked for visibility. */
static int
parse_names(const struct qvd_resource *r, const struct qvd_list_query *q, const char *what,
            const char *s, bool signs, struct item *items, size_t *n)
{
    size_t pos = 0;
    char name[65];

    if (strlen(s) > QVD_LIST_MAX_FILTER)
        return qvd_model_fail(QVD_MODEL_INVALID, "%s: longer than %d bytes", what,
                              QVD_LIST_MAX_FILTER);
    for (;;) {
        const struct qvd_field *f;
        size_t at, len = 0;
        bool desc = false, seen = false;

        while (s[pos] == ' ' || s[pos] == '\t')
            pos++;
        at = pos;
        if (signs && (s[pos] == '-' || s[pos] == '+'))
            desc = s[pos++] == '-';
        if (!qvd_filter_name_start(s[pos]))
            return qvd_model_fail(QVD_MODEL_INVALID, "%s: field name expected at offset %zu", what,
                                  pos);
        while (qvd_filter_name_char(s[pos + len]))
            len++;
        if (len >= sizeof(name))
            return qvd_model_fail(QVD_MODEL_INVALID,
                                  "%s: field name longer than %zu bytes at offset %zu", what,
                                  sizeof(name) - 1, pos);
        memcpy(name, s + pos, len);
        name[len] = '\0';
        if ((f = qvd_filter_field(r, q, what, name, at)) == NULL)
            return -1;
        for (size_t i = 0; i < *n; i++)
            seen |= items[i].f == f;
        if (!seen)
            items[(*n)++] = (struct item){f, desc};
        pos += len;
        while (s[pos] == ' ' || s[pos] == '\t')
            pos++;
        if (s[pos] == '\0')
            return 0;
        if (s[pos] != ',')
            return qvd_model_fail(QVD_MODEL_INVALID, "%s: ',' expected at offset %zu", what, pos);
        pos++;
    }
}

/* The order of a list: the caller's (or r's default), then what makes it total: the id, or
 * for rows without id the fields of r's default order. ORDER BY text into out. */
static int
build_order(const struct qvd_resource *r, const struct qvd_list_query *q, const char *agg,
            struct qvd_filter_sql *out, uint32_t *joins)
{
    struct item *items = qvd_xcalloc(r->nfields + 1, sizeof(*items));
    const char *dflt = r->order ? r->order : "id";
    bool has_id = false;
    size_t n = 0;
    int rc = -1;

    if (q->order != NULL && *q->order != '\0') {
        if (parse_names(r, q, "order", q->order, true, items, &n) < 0)
            goto out;
        if (r->id_sql == NULL && parse_names(r, NULL, "order", dflt, true, items, &n) < 0)
            goto out;
    } else if (parse_names(r, NULL, "order", dflt, true, items, &n) < 0) {
        goto out;
    }
    *joins = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            qvd_buf_adds(&out->text, ", ");
        qvd_filter_add_expr(out, items[i].f->sql, agg);
        qvd_buf_adds(&out->text, items[i].desc ? " DESC" : "");
        *joins |= qvd_filter_joins(r, items[i].f->sql);
        has_id |= r->id_sql != NULL && strcmp(items[i].f->sql, r->id_sql) == 0;
    }
    if (r->id_sql != NULL && !has_id) {
        qvd_buf_printf(&out->text, ", %s", r->id_sql);
        *joins |= qvd_filter_joins(r, r->id_sql);
    }
    rc = 0;
out:
    free(items);
    return rc;
}

/* The fields of the page: those named by q->fields, or every field q may see. */
static int
build_fields(const struct qvd_resource *r, const struct qvd_list_query *q,
             struct qvd_filter_list *out)
{
    struct item *items;
    size_t n = 0;

    out->fields = qvd_xcalloc(r->nfields + 1, sizeof(*out->fields));
    if (q->fields == NULL || *q->fields == '\0') {
        for (size_t i = 0; i < r->nfields; i++)
            if (q->visible == NULL || q->visible(q->visible_arg, r, &r->fields[i]))
                out->fields[out->nfields++] = &r->fields[i];
        return 0;
    }
    items = qvd_xcalloc(r->nfields + 1, sizeof(*items));
    if (parse_names(r, q, "fields", q->fields, false, items, &n) < 0) {
        free(items);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        out->fields[out->nfields++] = items[i].f;
    free(items);
    return 0;
}

/* ---- the queries ---- */

/* The condition of the rows: in the tenants, matching the filter (or having the id). */
static int
build_where(const struct qvd_resource *r, const struct qvd_list_query *q, const char *agg,
            const int64_t *id, struct qvd_filter_sql *out, uint32_t *joins)
{
    struct qvd_filter_sql filter = {QVD_BUF_INIT, NULL, 0, 0};
    const char *and = "";

    *joins = 0;
    if (r->tenant_sql != NULL && q->tenants != NULL) {
        if (q->ntenants == 0) {
            qvd_buf_adds(&out->text, "1 = 0");
        } else {
            qvd_buf_printf(&out->text, "%s IN (", r->tenant_sql);
            for (size_t i = 0; i < q->ntenants; i++) {
                qvd_buf_adds(&out->text, i ? "," : "");
                qvd_filter_add_int(out, q->tenants[i]);
            }
            qvd_buf_addc(&out->text, ')');
        }
        *joins |= qvd_filter_joins(r, r->tenant_sql);
        and = " AND ";
    }
    if (id != NULL) {
        qvd_buf_printf(&out->text, "%s%s = ", and, r->id_sql);
        qvd_filter_add_int(out, *id);
        *joins |= qvd_filter_joins(r, r->id_sql);
        return 0;
    }
    uint32_t fj;
    if (qvd_filter_parse(r, q, agg, &filter, &fj) < 0) {
        qvd_filter_sql_free(&filter);
        return -1;
    }
    if (filter.text.len > 0) {
        qvd_buf_adds(&out->text, and);
        qvd_filter_add_sql(out, &filter);
    }
    *joins |= fj;
    qvd_filter_sql_free(&filter);
    return 0;
}

static void
add_where(struct qvd_filter_sql *q, const struct qvd_filter_sql *where)
{
    if (where->text.len > 0) {
        qvd_buf_adds(&q->text, " WHERE ");
        qvd_filter_add_sql(q, where);
    }
}

/* ORDER BY, then the page: LIMIT and OFFSET as bound values */
static void
add_page(struct qvd_filter_sql *pg, const struct qvd_filter_sql *order,
         const struct qvd_list_query *q)
{
    qvd_buf_adds(&pg->text, " ORDER BY ");
    qvd_filter_add_sql(pg, order);
    if (q->every_row)
        return;
    qvd_buf_adds(&pg->text, " LIMIT ");
    qvd_filter_add_int(pg, q->limit);
    qvd_buf_adds(&pg->text, " OFFSET ");
    qvd_filter_add_int(pg, q->offset);
}

int
qvd_filter_list_build(const struct qvd_resource *r, const struct qvd_list_query *q, const char *agg,
                      const int64_t *id, struct qvd_filter_list *out)
{
    struct qvd_filter_sql where = {QVD_BUF_INIT, NULL, 0, 0};
    struct qvd_filter_sql order = {QVD_BUF_INIT, NULL, 0, 0};
    struct qvd_filter_sql *pg = &out->page;
    uint32_t jw = 0, jo = 0, jf = 0;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (r->njoins > QVD_FILTER_MAX_JOINS)
        return qvd_model_fail(QVD_MODEL_INTERNAL, "%s: more than %d joins", r->name,
                              QVD_FILTER_MAX_JOINS);
    if (id == NULL && !q->every_row &&
        (q->offset < 0 || q->limit < 1 || q->limit > QVD_LIST_MAX_LIMIT))
        return qvd_model_fail(QVD_MODEL_INVALID, "offset must be 0 or more and limit 1 to %d",
                              QVD_LIST_MAX_LIMIT);
    if (id != NULL && r->id_sql == NULL)
        return qvd_model_fail(QVD_MODEL_INVALID, "%s have no id", r->name);
    if (build_fields(r, q, out) < 0 || build_where(r, q, agg, id, &where, &jw) < 0 ||
        (id == NULL && build_order(r, q, agg, &order, &jo) < 0))
        goto out;
    for (size_t i = 0; i < out->nfields; i++)
        jf |= qvd_filter_joins(r, out->fields[i]->sql);

    qvd_buf_adds(&pg->text, "SELECT ");
    for (size_t i = 0; i < out->nfields; i++) {
        qvd_buf_adds(&pg->text, i ? ", " : "");
        qvd_filter_add_expr(pg, out->fields[i]->sql, agg);
        /* named as the field, for a front-end that prints a statement's columns */
        qvd_buf_printf(&pg->text, " AS \"%s\"", out->fields[i]->name);
    }
    qvd_buf_adds(&pg->text, out->nfields ? " FROM " : "NULL FROM ");
    if (id != NULL) {
        add_from(pg, r, jw | jf);
        add_where(pg, &where);
    } else if (r->id_sql == NULL) {
        add_from(pg, r, jw | jo | jf);
        add_where(pg, &where);
        add_page(pg, &order, q);
    } else {
        /* the page's ids first, then its fields for those rows only: counts and joins of
         * the fields are not computed for the rows the offset skips */
        qvd_buf_printf(&pg->text, "(SELECT %s AS qvd_id FROM ", r->id_sql);
        add_from(pg, r, jw | jo);
        add_where(pg, &where);
        add_page(pg, &order, q);
        qvd_buf_printf(&pg->text, ") qvd_page JOIN %s ON %s = qvd_page.qvd_id", r->from, r->id_sql);
        for (size_t j = 0; j < r->njoins; j++)
            if ((jf | jo) & (1u << j))
                qvd_buf_printf(&pg->text, " %s", r->joins[j].sql);
        qvd_buf_adds(&pg->text, " ORDER BY ");
        qvd_filter_add_sql(pg, &order);
    }
    if (id == NULL && q->count && !q->every_row) {
        qvd_buf_adds(&out->count.text, "SELECT count(*) FROM ");
        add_from(&out->count, r, jw);
        add_where(&out->count, &where);
    }
    rc = 0;
out:
    qvd_filter_sql_free(&where);
    qvd_filter_sql_free(&order);
    if (rc < 0)
        qvd_filter_list_free(out);
    return rc;
}

void
qvd_filter_list_free(struct qvd_filter_list *l)
{
    qvd_filter_sql_free(&l->page);
    qvd_filter_sql_free(&l->count);
    free(l->fields);
    memset(l, 0, sizeof(*l));
}

int
qvd_filter_tenant_build(const struct qvd_resource *r, int64_t id, struct qvd_filter_sql *out)
{
    const char *t = r->tenant_sql ? r->tenant_sql : "1";

    memset(out, 0, sizeof(*out));
    if (r->id_sql == NULL)
        return qvd_model_fail(QVD_MODEL_INVALID, "%s have no id", r->name);
    qvd_buf_printf(&out->text, "SELECT %s FROM ", t);
    add_from(out, r, qvd_filter_joins(r, t) | qvd_filter_joins(r, r->id_sql));
    qvd_buf_printf(&out->text, " WHERE %s = ", r->id_sql);
    qvd_filter_add_int(out, id);
    return 0;
}

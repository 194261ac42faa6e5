/* filter.h: a resource's list query as SQL text and parameters. Parses the filter, order and
 * fields parameters of a list (grammar in resource.h) and builds the count and page queries;
 * values are never written into the SQL, each is a `?` bound with its field's type. No
 * database is needed, so the fuzzer runs the whole of it. */
#ifndef QVD_FILTER_H
#define QVD_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "resource.h"
#include "util.h"

#define QVD_FILTER_MAX_DEPTH 32  /* nested '(' and '!' */
#define QVD_FILTER_MAX_TERMS 256 /* FIELD OP VALUE terms in one filter */
#define QVD_FILTER_MAX_LIST 1000 /* values in one [a,b,...] */
#define QVD_FILTER_MAX_JOINS 32  /* joins of one resource (a bit mask) */

/* SQL text with `?` placeholders and their parameters, in order. It owns the strings of
 * its 's' parameters. */
struct qvd_filter_sql {
    struct qvd_buf text;
    struct qvd_db_param *params;
    size_t nparams, cap;
};

/* The queries of one page of a list. */
struct qvd_filter_list {
    struct qvd_filter_sql page;  /* one column per entry of fields (and one more if none) */
    struct qvd_filter_sql count; /* one row, one column: the total; empty unless asked */
    const struct qvd_field **fields;
    size_t nfields;
};

/* Builds the queries of a page of r for q; `agg` replaces @AGG@ in field expressions
 * ("group_concat"). With `id` non-NULL the page is that one row in q's tenants, and q's
 * filter, order, offset, limit and count are not used. 0, or -1 with qvd_model_fail()
 * (INVALID, FORBIDDEN) and *out left empty. */
int qvd_filter_list_build(const struct qvd_resource *r, const struct qvd_list_query *q,
                          const char *agg, const int64_t *id, struct qvd_filter_list *out);
void qvd_filter_list_free(struct qvd_filter_list *l);

/* The query of the tenant of row `id` of r: one row with one column (the tenant id, or 1
 * when r has no tenant_sql) if the row exists. -1 (INVALID) if r has no id_sql. */
int qvd_filter_tenant_build(const struct qvd_resource *r, int64_t id, struct qvd_filter_sql *out);
void qvd_filter_sql_free(struct qvd_filter_sql *s);

/* ---- shared by filter.c (the condition) and filter_sql.c (the queries) ---- */

/* Append a `?` and its parameter (text is copied). */
void qvd_filter_add_int(struct qvd_filter_sql *q, int64_t v);
void qvd_filter_add_text(struct qvd_filter_sql *q, const char *s);
/* Appends src, its text and parameters, to dst. */
void qvd_filter_add_sql(struct qvd_filter_sql *dst, const struct qvd_filter_sql *src);
/* Appends a field expression, with @AGG@ replaced by agg. */
void qvd_filter_add_expr(struct qvd_filter_sql *q, const char *sql, const char *agg);
/* The joins of r (bit j: r->joins[j]) that expression sql needs, directly or through other
 * joins. */
uint32_t qvd_filter_joins(const struct qvd_resource *r, const char *sql);
/* Field `name` of r, named by parameter `what` at offset `at`: NULL with INVALID if r has
 * none, or FORBIDDEN if q's caller may not see it (q NULL: no check). */
const struct qvd_field *qvd_filter_field(const struct qvd_resource *r,
                                         const struct qvd_list_query *q, const char *what,
                                         const char *name, size_t at);
/* Field names: [A-Za-z_][A-Za-z0-9_]*. */
bool qvd_filter_name_start(char c);
bool qvd_filter_name_char(char c);
/* q->filter as a condition appended to out (nothing for an empty filter); *joins gets the
 * joins of its fields. 0, or -1 (INVALID with the offset of the error, or FORBIDDEN). */
int qvd_filter_parse(const struct qvd_resource *r, const struct qvd_list_query *q, const char *agg,
                     struct qvd_filter_sql *out, uint32_t *joins);

#endif

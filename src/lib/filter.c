/* filter.c: the filter parameter of a list (grammar in resource.h) as an SQL condition: a
 * `?` for every value, bound with the type of its field; negations pushed down to the terms
 * so that a negated term can match NULL columns. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "model_int.h"

/* ---- the filter ---- */

enum op { OP_EQ, OP_LT, OP_GT, OP_LE, OP_GE, OP_LIKE };

struct parser {
    const struct qvd_resource *r;
    const struct qvd_list_query *q;
    const char *s, *agg;
    size_t pos;
    int depth, terms;
    uint32_t joins;
    struct qvd_filter_sql *out;
};

/* A syntax error at offset `at`; always -1. */
static int __attribute__((format(printf, 3, 4)))
syntax(struct parser *p, size_t at, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return qvd_model_fail(QVD_MODEL_INVALID, "filter: %s at offset %zu", msg, at);
}

static void
skip_spaces(struct parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')
        p->pos++;
}

/* A description of the character at `at` for messages. */
static const char *
found(struct parser *p, size_t at, char buf[16])
{
    unsigned char c = (unsigned char)p->s[at];

    if (c == '\0')
        return "the end";
    snprintf(buf, 16, c >= 0x20 && c < 0x7f ? "'%c'" : "byte 0x%02x", c);
    return buf;
}

/* Reads one value: "quoted" (\" and \\ the only escapes) or bare, up to a character of
 * `stops` or the end, without leading and trailing spaces. An empty bare value is an error.
 * *start gets the offset where it starts. */
static int
read_value(struct parser *p, const char *stops, struct qvd_buf *v, bool *quoted, size_t *start)
{
    size_t at;
    char b[16];

    qvd_buf_reset(v);
    skip_spaces(p);
    at = *start = p->pos;
    *quoted = p->s[at] == '"';
    if (*quoted) {
        for (p->pos++; p->s[p->pos] != '"'; p->pos++) {
            char c = p->s[p->pos];
            if (c == '\0')
                return syntax(p, at, "unterminated quoted value");
            if (c == '\\') {
                c = p->s[++p->pos];
                if (c != '"' && c != '\\')
                    return syntax(p, p->pos - 1, "bad escape (only \\\" and \\\\)");
            }
            qvd_buf_addc(v, c);
        }
        p->pos++;
        skip_spaces(p);
        return 0;
    }
    while (p->s[p->pos] != '\0' && strchr(stops, p->s[p->pos]) == NULL)
        p->pos++;
    if (p->pos == at)
        return syntax(p, at, "value expected, found %s", found(p, at, b));
    qvd_buf_add(v, p->s + at, p->pos - at);
    while (v->len > 0 && (v->data[v->len - 1] == ' ' || v->data[v->len - 1] == '\t'))
        v->data[--v->len] = '\0';
    return 0;
}

/* Strict base-10 int64: an optional '-' and digits, nothing else. */
static int
parse_int64(const char *s, int64_t *out)
{
    const char *digits = s[0] == '-' ? s + 1 : s;
    char *end;
    long long v;

    if (!(*digits >= '0' && *digits <= '9'))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* Binds value v of field f: as an integer for INT and BOOL fields (which it must be), as text
 * otherwise; a pattern for ~ has '*' for '%' and its backslashes escaped (ESCAPE '\'). */
static int
add_value(struct parser *p, struct qvd_filter_sql *q, const struct qvd_field *f, enum op op,
          const char *v, size_t at)
{
    int64_t n;

    switch (f->type) {
    case QVD_FIELD_INT:
        if (parse_int64(v, &n) < 0)
            return syntax(p, at, "field '%s' takes an integer, not '%.40s'", f->name, v);
        qvd_filter_add_int(q, n);
        return 0;
    case QVD_FIELD_BOOL:
        if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
            qvd_filter_add_int(q, 1);
        else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
            qvd_filter_add_int(q, 0);
        else
            return syntax(p, at, "field '%s' takes 0, 1, true or false, not '%.40s'", f->name, v);
        return 0;
    case QVD_FIELD_TEXT:
        break;
    }
    if (op != OP_LIKE) {
        qvd_filter_add_text(q, v);
        return 0;
    }
    struct qvd_buf pat = QVD_BUF_INIT;
    for (const char *c = v; *c; c++) {
        if (*c == '*')
            qvd_buf_addc(&pat, '%');
        else if (*c == '\\')
            qvd_buf_adds(&pat, "\\\\");
        else
            qvd_buf_addc(&pat, *c);
    }
    qvd_filter_add_text(q, qvd_buf_str(&pat));
    qvd_buf_free(&pat);
    return 0;
}

/* Emits one comparison of expression e. A negated term also matches NULL, so that !t and t
 * split the rows in two (SQL's NOT of a NULL comparison would match neither). */
static void
emit_compare(struct parser *p, const char *e, enum op op, bool neg, struct qvd_filter_sql *v)
{
    static const char *const ops[] = {"=", "<", ">", "<=", ">="};
    static const char *const negs[] = {"<>", ">=", "<=", ">", "<"};
    struct qvd_buf *t = &p->out->text;

    if (neg)
        qvd_buf_printf(t, "(%s IS NULL OR ", e);
    if (op == OP_LIKE)
        qvd_buf_printf(t, "lower(%s) %sLIKE lower(", e, neg ? "NOT " : "");
    else
        qvd_buf_printf(t, "%s %s ", e, neg ? negs[op] : ops[op]);
    qvd_filter_add_sql(p->out, v);
    if (op == OP_LIKE)
        qvd_buf_adds(t, ") ESCAPE '\\'");
    if (neg)
        qvd_buf_addc(t, ')');
}

/* [a,b,...] or [a:b] after = or != of field f (expression e), from p->pos at '['. */
static int
parse_list(struct parser *p, const struct qvd_field *f, const char *e, bool neg)
{
    struct qvd_filter_sql vals = {QVD_BUF_INIT, NULL, 0, 0};
    struct qvd_buf v = QVD_BUF_INIT;
    bool quoted, range = false;
    size_t at, n = 0;
    char b[16];
    int rc = -1;

    p->pos++;
    for (;;) {
        if (read_value(p, ",:;)]", &v, &quoted, &at) < 0)
            goto out;
        if (!quoted && strcmp(qvd_buf_str(&v), "null") == 0) {
            syntax(p, at, "null cannot be in a list");
            goto out;
        }
        if (++n > QVD_FILTER_MAX_LIST) {
            syntax(p, at, "more than %d values in a list", QVD_FILTER_MAX_LIST);
            goto out;
        }
        if (add_value(p, &vals, f, OP_EQ, qvd_buf_str(&v), at) < 0)
            goto out;
        if (p->s[p->pos] == ']')
            break;
        if (p->s[p->pos] == ':' && n == 1) {
            range = true;
            qvd_buf_adds(&vals.text, " AND ");
        } else if (p->s[p->pos] == ',' && !range) {
            qvd_buf_addc(&vals.text, ',');
        } else {
            syntax(p, p->pos, "',' or ']' expected, found %s", found(p, p->pos, b));
            goto out;
        }
        p->pos++;
    }
    if (range && n != 2) {
        syntax(p, p->pos, "a range is [FIRST:LAST]");
        goto out;
    }
    p->pos++;
    if (neg)
        qvd_buf_printf(&p->out->text, "(%s IS NULL OR ", e);
    qvd_buf_printf(&p->out->text, "%s %s%s", e, neg ? "NOT " : "", range ? "BETWEEN " : "IN (");
    qvd_filter_add_sql(p->out, &vals);
    qvd_buf_adds(&p->out->text, range ? "" : ")");
    if (neg)
        qvd_buf_addc(&p->out->text, ')');
    rc = 0;
out:
    qvd_filter_sql_free(&vals);
    qvd_buf_free(&v);
    return rc;
}

/* FIELD OP VALUE, FIELD=[...], FIELD!=[...]; `neg`: under an odd number of '!'. */
static int
parse_term(struct parser *p, bool neg)
{
    struct qvd_filter_sql val = {QVD_BUF_INIT, NULL, 0, 0};
    struct qvd_buf v = QVD_BUF_INIT;
    const struct qvd_field *f;
    char name[65], b[16];
    const char *s = p->s;
    size_t at = p->pos, n = 0;
    struct qvd_filter_sql e = {QVD_BUF_INIT, NULL, 0, 0};
    enum op op;
    bool quoted;
    int rc = -1;

    if (++p->terms > QVD_FILTER_MAX_TERMS)
        return syntax(p, at, "more than %d terms", QVD_FILTER_MAX_TERMS);
    if (!qvd_filter_name_start(s[at]))
        return syntax(p, at, "field name expected, found %s", found(p, at, b));
    while (qvd_filter_name_char(s[at + n]))
        n++;
    if (n >= sizeof(name))
        return syntax(p, at, "field name longer than %zu bytes", sizeof(name) - 1);
    memcpy(name, s + at, n);
    name[n] = '\0';
    if ((f = qvd_filter_field(p->r, p->q, "filter", name, at)) == NULL)
        return -1;
    p->joins |= qvd_filter_joins(p->r, f->sql);
    p->pos += n;
    skip_spaces(p);
    at = p->pos;
    if (s[at] == '!' && s[at + 1] == '=')
        op = OP_EQ, neg = !neg, p->pos += 2;
    else if (s[at] == '<' || s[at] == '>') {
        bool eq = s[at + 1] == '=';
        op = s[at] == '<' ? (eq ? OP_LE : OP_LT) : (eq ? OP_GE : OP_GT);
        p->pos += eq ? 2 : 1;
    } else if (s[at] == '=' || s[at] == '~')
        op = s[at] == '=' ? OP_EQ : OP_LIKE, p->pos++;
    else
        return syntax(p, at, "operator (= != < > <= >= ~) expected after '%s', found %s", name,
                      found(p, at, b));
    qvd_filter_add_expr(&e, f->sql, p->agg);
    skip_spaces(p);
    if (op == OP_EQ && s[p->pos] == '[') {
        rc = parse_list(p, f, qvd_buf_str(&e.text), neg);
        goto out;
    }
    if (op == OP_LIKE && f->type != QVD_FIELD_TEXT) {
        syntax(p, at, "~ needs a text field, '%s' is not one", name);
        goto out;
    }
    if (read_value(p, ",;)]", &v, &quoted, &at) < 0)
        goto out;
    if (!quoted && strcmp(qvd_buf_str(&v), "null") == 0) {
        if (op != OP_EQ) {
            syntax(p, at, "null goes only with = and !=");
            goto out;
        }
        qvd_buf_printf(&p->out->text, "%s IS %sNULL", qvd_buf_str(&e.text), neg ? "NOT " : "");
        rc = 0;
        goto out;
    }
    if (add_value(p, &val, f, op, qvd_buf_str(&v), at) < 0)
        goto out;
    emit_compare(p, qvd_buf_str(&e.text), op, neg, &val);
    rc = 0;
out:
    qvd_filter_sql_free(&e);
    qvd_filter_sql_free(&val);
    qvd_buf_free(&v);
    return rc;
}

static int parse_or(struct parser *p, bool neg);

/* '!' UNARY, '(' OR-LIST ')', or a term; `neg`: under an odd number of '!'. */
static int
parse_unary(struct parser *p, bool neg)
{
    char b[16];
    int rc;

    skip_spaces(p);
    if (p->s[p->pos] != '!' && p->s[p->pos] != '(')
        return parse_term(p, neg);
    if (++p->depth > QVD_FILTER_MAX_DEPTH)
        return syntax(p, p->pos, "nested deeper than %d", QVD_FILTER_MAX_DEPTH);
    if (p->s[p->pos++] == '!') {
        rc = parse_unary(p, !neg);
    } else {
        rc = parse_or(p, neg);
        if (rc == 0 && p->s[p->pos] != ')')
            rc = syntax(p, p->pos, "')' expected, found %s", found(p, p->pos, b));
        if (rc == 0)
            p->pos++;
    }
    if (rc < 0)
        return -1;
    p->depth--;
    skip_spaces(p);
    return 0;
}

/* Operands separated by `sep`; under negation AND and OR swap places (De Morgan), so that
 * only terms are ever negated. */
static int
parse_list_of(struct parser *p, bool neg, char sep, const char *join, const char *negjoin)
{
    struct qvd_buf *t = &p->out->text;
    size_t start = t->len, n = 0;

    for (;; n++) {
        int rc = sep == ';' ? parse_list_of(p, neg, ',', " AND ", " OR ") : parse_unary(p, neg);
        if (rc < 0)
            return -1;
        skip_spaces(p);
        if (p->s[p->pos] != sep)
            break;
        p->pos++;
        qvd_buf_adds(t, neg ? negjoin : join);
    }
    if (n > 0) {              /* parentheses around two operands or more */
        qvd_buf_addc(t, ' '); /* room to shift the operands right by one */
        memmove(t->data + start + 1, t->data + start, t->len - 1 - start);
        t->data[start] = '(';
        qvd_buf_addc(t, ')');
    }
    return 0;
}

static int
parse_or(struct parser *p, bool neg)
{
    return parse_list_of(p, neg, ';', " OR ", " AND ");
}

/* The filter as a condition into out; *joins gets the joins its fields need. Nothing is
 * written for an empty filter. */
int
qvd_filter_parse(const struct qvd_resource *r, const struct qvd_list_query *q, const char *agg,
                 struct qvd_filter_sql *out, uint32_t *joins)
{
    struct parser p = {.r = r, .q = q, .s = q->filter, .agg = agg, .out = out};
    char b[16];

    *joins = 0;
    if (q->filter == NULL)
        return 0;
    if (strlen(q->filter) > QVD_LIST_MAX_FILTER)
        return qvd_model_fail(QVD_MODEL_INVALID, "filter: longer than %d bytes",
                              QVD_LIST_MAX_FILTER);
    skip_spaces(&p);
    if (p.s[p.pos] == '\0')
        return 0;
    if (parse_or(&p, false) < 0)
        return -1;
    if (p.s[p.pos] != '\0')
        return syntax(&p, p.pos, "',', ';' or the end expected, found %s", found(&p, p.pos, b));
    *joins = p.joins;
    return 0;
}

/* config.c: parser for Java-properties files and the key/value store with expansion. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "err.h"
#include "util.h"

#define QVD_CONFIG_MAX_FILE (1024 * 1024)
#define QVD_CONFIG_MAX_DEPTH 16
/* What one value may hold and expand to: without a bound, a few lines of ${a}${a}...
 * references nested QVD_CONFIG_MAX_DEPTH deep ask for 8^16 copies and stall whoever reads
 * the key. */
#define QVD_CONFIG_MAX_REFS 1024
#define QVD_CONFIG_MAX_VALUE (64 * 1024)

struct entry {
    char *key;
    char *raw;
    char *expanded; /* cache, cleared on every change */
};

struct qvd_config {
    struct entry *v;
    size_t n, cap;
    bool strict; /* a key outside qvd_config_defaults is an error (a program's own file) */
};

static struct entry *
find(const struct qvd_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (strcmp(cfg->v[i].key, key) == 0)
            return &cfg->v[i];
    return NULL;
}

static void
clear_cache(struct qvd_config *cfg)
{
    for (size_t i = 0; i < cfg->n; i++) {
        free(cfg->v[i].expanded);
        cfg->v[i].expanded = NULL;
    }
}

/* Adds a key known to be new (the caller checked, or copies keys that are unique). */
static void
append(struct qvd_config *cfg, const char *key, const char *value)
{
    if (cfg->n == cfg->cap) {
        cfg->cap = cfg->cap ? cfg->cap * 2 : 256;
        cfg->v = qvd_xrealloc(cfg->v, cfg->cap * sizeof(*cfg->v));
    }
    cfg->v[cfg->n++] = (struct entry){qvd_xstrdup(key), qvd_xstrdup(value), NULL};
}

static void
put(struct qvd_config *cfg, const char *key, const char *value)
{
    struct entry *e = find(cfg, key);

    clear_cache(cfg);
    if (e != NULL) {
        free(e->raw);
        e->raw = qvd_xstrdup(value);
        return;
    }
    append(cfg, key, value);
}

struct qvd_config *
qvd_config_new(void)
{
    struct qvd_config *cfg = qvd_xcalloc(1, sizeof(*cfg));

    /* the table names each option once (test_config checks it) */
    for (const struct qvd_config_default *d = qvd_config_defaults; d->key != NULL; d++)
        append(cfg, d->key, d->value);
    return cfg;
}

struct qvd_config *
qvd_config_dup(const struct qvd_config *cfg)
{
    struct qvd_config *c = qvd_xcalloc(1, sizeof(*c));

    for (size_t i = 0; i < cfg->n; i++)
        append(c, cfg->v[i].key, cfg->v[i].raw);
    return c;
}

void
qvd_config_free(struct qvd_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n; i++) {
        free(cfg->v[i].key);
        free(cfg->v[i].raw);
        free(cfg->v[i].expanded);
    }
    free(cfg->v);
    free(cfg);
}

int
qvd_config_set(struct qvd_config *cfg, const char *key, const char *value)
{
    if (key == NULL || *key == '\0')
        return qvd_seterr("empty configuration key");
    for (const char *p = key; *p; p++)
        if (isspace((unsigned char)*p) || *p == '=' || *p == ':')
            return qvd_seterr("invalid configuration key '%s'", key);
    if (qvd_config_check_value(key, value ? value : "") < 0)
        return -1;
    put(cfg, key, value ? value : "");
    return 0;
}

/* Un-escapes a properties token (\t \n \r \f \\ \uXXXX and \<char>) into `out`. */
static void
unescape(struct qvd_buf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 == len) {
            qvd_buf_addc(out, c);
            continue;
        }
        c = s[++i];
        switch (c) {
        case 't':
            qvd_buf_addc(out, '\t');
            break;
        case 'n':
            qvd_buf_addc(out, '\n');
            break;
        case 'r':
            qvd_buf_addc(out, '\r');
            break;
        case 'f':
            qvd_buf_addc(out, '\f');
            break;
        case 'u':
            if (i + 4 < len && isxdigit((unsigned char)s[i + 1])) {
                char hex[5] = {s[i + 1], s[i + 2], s[i + 3], s[i + 4], 0};
                unsigned long cp = strtoul(hex, NULL, 16);
                qvd_buf_add_utf8(out, (unsigned)cp);
                i += 4;
            } else {
                qvd_buf_addc(out, 'u');
            }
            break;
        default:
            qvd_buf_addc(out, c);
            break;
        }
    }
}

/* Edit distance between a and b (both short keys), for "did you mean". */
static size_t
distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[128];

    if (lb >= QVD_ARRAY_LEN(row))
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub = diag + (a[i - 1] != b[j - 1]);
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            diag = up;
        }
    }
    return row[lb];
}

static const struct qvd_config_default *
lookup_default(const char *key)
{
    for (const struct qvd_config_default *d = qvd_config_defaults; d->key; d++)
        if (strcmp(d->key, key) == 0)
            return d;
    return NULL;
}

bool
qvd_config_is_known(const char *key)
{
    return lookup_default(key) != NULL;
}

static int
parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off", ""};

    for (size_t i = 0; i < QVD_ARRAY_LEN(yes); i++)
        if (strcasecmp(v, yes[i]) == 0)
            return *out = true, 0;
    for (size_t i = 0; i < QVD_ARRAY_LEN(no); i++)
        if (strcasecmp(v, no[i]) == 0)
            return *out = false, 0;
    return -1;
}

static int
parse_number(const char *v, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(v, &end);
    return *v != '\0' && *end == '\0' && errno == 0 && *out >= 0 ? 0 : -1;
}

/* 0 when V is a value of type T. */
static int
typed_ok(enum qvd_config_type t, const char *v)
{
    long n;
    bool b;
    double d;

    switch (t) {
    case QVD_CONFIG_INT:
        return qvd_parse_long(v, &n);
    case QVD_CONFIG_BOOL:
        return parse_bool(v, &b);
    case QVD_CONFIG_NUMBER:
        return parse_number(v, &d);
    case QVD_CONFIG_TEXT:
        break;
    }
    return 0;
}

int
qvd_config_check_value(const char *key, const char *value)
{
    static const char *const need[] = {
        [QVD_CONFIG_INT] = "an integer",
        [QVD_CONFIG_BOOL] = "1 or 0 (true/false, yes/no, on/off)",
        [QVD_CONFIG_NUMBER] = "a number of 0 or more",
    };
    const struct qvd_config_default *d = lookup_default(key);

    if (d == NULL || strstr(value, "${") != NULL || typed_ok(d->type, value) == 0)
        return 0;
    return qvd_seterr("the value '%s' of %s is not valid: give %s", value, key, need[d->type]);
}

static int
check_known(const char *key, const char *origin, int lineno)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;

    if (qvd_config_is_known(key))
        return 0;
    for (const struct qvd_config_default *d = qvd_config_defaults; d->key; d++) {
        size_t dist = distance(key, d->key);
        if (dist < best_d)
            best_d = dist, best = d->key;
    }
    if (best && best_d <= 1 + strlen(key) / 6)
        return qvd_seterr("%s:%d: unknown key '%s': did you mean '%s'?", origin, lineno, key, best);
    return qvd_seterr("%s:%d: unknown key '%s' (docs/config.md lists every key)", origin, lineno,
                      key);
}

/* Splits one logical line into key and value following java.util.Properties.load rules. */
static int
parse_line(struct qvd_config *staged, const char *line, size_t len, const char *origin, int lineno,
           bool strict)
{
    size_t i = 0, kstart, kend;
    struct qvd_buf key = QVD_BUF_INIT, value = QVD_BUF_INIT;
    int rc = 0;

    while (i < len && isspace((unsigned char)line[i]))
        i++;
    if (i == len || line[i] == '#' || line[i] == '!')
        return 0;
    kstart = i;
    while (i < len && !(line[i] == '=' || line[i] == ':' || isspace((unsigned char)line[i]))) {
        if (line[i] == '\\')
            i++;
        i++;
    }
    kend = i > len ? len : i;
    while (i < len && isspace((unsigned char)line[i]))
        i++;
    if (i < len && (line[i] == '=' || line[i] == ':'))
        i++;
    while (i < len && isspace((unsigned char)line[i]))
        i++;
    unescape(&key, line + kstart, kend - kstart);
    unescape(&value, line + i, len - i);
    if (strict && check_known(qvd_buf_str(&key), origin, lineno) < 0)
        rc = -1;
    else if (qvd_config_set(staged, qvd_buf_str(&key), qvd_buf_str(&value)) < 0)
        rc = qvd_seterr("%s:%d: %s", origin, lineno, qvd_strerror());
    qvd_buf_free(&key);
    qvd_buf_free(&value);
    return rc;
}

int
qvd_config_load_string(struct qvd_config *cfg, const char *text, const char *origin)
{
    struct qvd_config *staged = qvd_xcalloc(1, sizeof(*staged));
    struct qvd_buf logical = QVD_BUF_INIT;
    const char *p = text;
    int lineno = 0, startline = 1, rc = 0;

    while (*p) {
        const char *eol = p + strcspn(p, "\r\n");
        size_t len = (size_t)(eol - p);
        size_t bs = 0;

        lineno++;
        if (logical.len == 0)
            startline = lineno;
        else /* continuation: leading whitespace is dropped */
            while (len > 0 && isspace((unsigned char)*p))
                p++, len--;
        /* an odd number of trailing backslashes continues the line */
        while (bs < len && p[len - 1 - bs] == '\\')
            bs++;
        if (bs % 2 == 1) {
            qvd_buf_add(&logical, p, len - 1);
        } else {
            qvd_buf_add(&logical, p, len);
            if (parse_line(staged, qvd_buf_str(&logical), logical.len, origin, startline,
                           cfg->strict) < 0) {
                rc = -1;
                break;
            }
            qvd_buf_reset(&logical);
        }
        p = eol;
        if (*p == '\r' && p[1] == '\n')
            p++;
        if (*p)
            p++;
    }
    if (rc == 0 && logical.len > 0)
        rc = parse_line(staged, qvd_buf_str(&logical), logical.len, origin, startline, cfg->strict);
    if (rc == 0)
        for (size_t i = 0; i < staged->n; i++)
            put(cfg, staged->v[i].key, staged->v[i].raw);
    qvd_buf_free(&logical);
    qvd_config_free(staged);
    return rc;
}

int
qvd_config_load_file(struct qvd_config *cfg, const char *path, bool must_exist)
{
    char *text = NULL;
    int rc;

    if (qvd_read_file(path, QVD_CONFIG_MAX_FILE, &text, NULL) < 0) {
        if (errno == ENOENT && !must_exist)
            return 0;
        return qvd_seterr("cannot read configuration file %s: %s", path, strerror(errno));
    }
    rc = qvd_config_load_string(cfg, text, path);
    free(text);
    return rc;
}

static int expanded(struct qvd_config *cfg, struct entry *e, int depth, const char **out);

/* Appends raw with its references expanded: 0, -1 (message set), or -2 when the value has
 * more than QVD_CONFIG_MAX_REFS references or grows past QVD_CONFIG_MAX_VALUE. A referenced
 * key is expanded once and cached, so the work stays linear in what is written out. */
static int
expand(struct qvd_config *cfg, const char *raw, struct qvd_buf *out, int depth)
{
    size_t refs = 0;

    for (const char *p = raw; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}'), *v = NULL;
            if (end == NULL)
                return qvd_seterr("unterminated ${ in configuration value '%s'", raw);
            if (++refs > QVD_CONFIG_MAX_REFS)
                return -2;
            char *name = qvd_xstrndup(p + 2, (size_t)(end - p - 2));
            struct entry *e = find(cfg, name);
            int rc = e ? expanded(cfg, e, depth + 1, &v)
                       : qvd_seterr("configuration references unknown key '%s'", name);
            free(name);
            if (rc < 0)
                return rc;
            qvd_buf_adds(out, v);
            p = end + 1;
        } else {
            qvd_buf_addc(out, *p++);
        }
        if (out->len > QVD_CONFIG_MAX_VALUE)
            return -2;
    }
    return 0;
}

/* e's value with its references expanded, from the cache or made now (depth: how deep in
 * references we are; a loop ends there). 0 with *out, or expand()'s -1/-2. */
static int
expanded(struct qvd_config *cfg, struct entry *e, int depth, const char **out)
{
    struct qvd_buf b = QVD_BUF_INIT;
    int rc;

    if (e->expanded == NULL) {
        if (depth > QVD_CONFIG_MAX_DEPTH)
            return qvd_seterr("configuration references nest too deeply (a loop?)");
        if ((rc = expand(cfg, e->raw, &b, depth)) < 0) {
            qvd_buf_free(&b);
            return rc;
        }
        e->expanded = qvd_buf_steal(&b);
    }
    *out = e->expanded;
    return 0;
}

/* A reader asked for KEY as type T: a key outside the table, or of another type, is a
 * mistake in the program. It stops here, naming the key, rather than run on a value no one
 * documented. */
static const struct qvd_config_default *
reader_key(const char *key, enum qvd_config_type t, bool any_type)
{
    const struct qvd_config_default *d = lookup_default(key);

    if (d != NULL && (any_type || d->type == t))
        return d;
    fprintf(stderr,
            d ? "internal error: configuration key '%s' is read with the wrong type\n"
              : "internal error: configuration key '%s' is not in the defaults table "
                "(src/lib/config_defaults.c)\n",
            key);
    abort();
}

static const char *
value_of(struct qvd_config *cfg, const char *key)
{
    struct entry *e = find(cfg, key);
    const char *v = NULL;
    int rc;

    if (e == NULL) {
        qvd_seterr("unknown configuration key '%s'", key);
        return NULL;
    }
    if ((rc = expanded(cfg, e, 0, &v)) == -2)
        qvd_seterr("configuration key '%s' expands to more than %d references or %d bytes: "
                   "give it fewer ${...} references",
                   key, QVD_CONFIG_MAX_REFS, QVD_CONFIG_MAX_VALUE);
    return rc < 0 ? NULL : v;
}

const char *
qvd_config_get(struct qvd_config *cfg, const char *key)
{
    reader_key(key, QVD_CONFIG_TEXT, true);
    return value_of(cfg, key);
}

const char *
qvd_config_lookup(struct qvd_config *cfg, const char *key)
{
    return value_of(cfg, key);
}

/* KEY's value if it is of its type, else the table's default (always of its type). */
static const char *
typed_value(struct qvd_config *cfg, const char *key, enum qvd_config_type t)
{
    const struct qvd_config_default *d = reader_key(key, t, false);
    const char *v = value_of(cfg, key);

    return v != NULL && typed_ok(t, v) == 0 ? v : d->value;
}

long
qvd_config_int(struct qvd_config *cfg, const char *key)
{
    long n = 0;

    qvd_parse_long(typed_value(cfg, key, QVD_CONFIG_INT), &n);
    return n;
}

bool
qvd_config_bool(struct qvd_config *cfg, const char *key)
{
    bool b = false;

    parse_bool(typed_value(cfg, key, QVD_CONFIG_BOOL), &b);
    return b;
}

double
qvd_config_number(struct qvd_config *cfg, const char *key)
{
    double d = 0;

    parse_number(typed_value(cfg, key, QVD_CONFIG_NUMBER), &d);
    return d;
}

void
qvd_config_foreach(struct qvd_config *cfg,
                   void (*fn)(const char *key, const char *value, void *arg), void *arg)
{
    for (size_t i = 0; i < cfg->n; i++) {
        const char *v = NULL;
        expanded(cfg, &cfg->v[i], 0, &v);
        fn(cfg->v[i].key, v ? v : cfg->v[i].raw, arg);
    }
}

struct qvd_config *
qvd_config_load_program(const char *name, const char *override)
{
    struct qvd_config *cfg = qvd_config_new();
    const char *env = getenv("QVD_CONFIG");
    char def[256];
    int rc;

    snprintf(def, sizeof(def), "/etc/qvd/%s", name);
    cfg->strict = true; /* a program's own file: a misspelt key is never silently ignored */
    if (override != NULL)
        rc = qvd_config_load_file(cfg, override, true);
    else if (env != NULL && *env)
        rc = qvd_config_load_file(cfg, env, true);
    else
        rc = qvd_config_load_file(cfg, def, false);
    if (rc < 0) {
        qvd_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* db.c: back-end independent part of the database interface: binding, transactions. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "util.h"

struct qvd_db *
qvd_db_open(struct qvd_config *cfg)
{
    const char *type = qvd_config_get(cfg, "database.type");
    const struct qvd_db_ops *ops = NULL;
    struct qvd_db *db;

    if (type == NULL || strcmp(type, "sqlite") == 0)
        ops = &qvd_db_sqlite_ops;
    else if (strcmp(type, "pg") == 0)
        ops = &qvd_db_pg_ops;
    else {
        qvd_seterr("unsupported database.type '%s' (this build supports: sqlite, pg)", type);
        return NULL;
    }
    db = qvd_xcalloc(1, sizeof(*db));
    db->ops = ops;
    db->cfg = cfg;
    if (ops->open(db, cfg) < 0) {
        free(db);
        return NULL;
    }
    return db;
}

void
qvd_db_close(struct qvd_db *db)
{
    if (db == NULL)
        return;
    db->ops->close(db);
    free(db);
}

static int
bind_args(struct qvd_db *db, struct qvd_stmt *st, const char *types, va_list ap)
{
    int idx = 1, rc = 0;

    for (const char *t = types ? types : ""; *t && rc == 0; t++, idx++) {
        switch (*t) {
        case 'i':
            rc = db->ops->bind_int(st, idx, va_arg(ap, int64_t));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            rc = db->ops->bind_text(st, idx, s);
            break;
        }
        case 'n':
            rc = db->ops->bind_null(st, idx);
            break;
        default:
            rc = qvd_seterr("bad bind type '%c'", *t);
            break;
        }
    }
    return rc;
}

static struct qvd_stmt *
vquery(struct qvd_db *db, const char *sql, const char *types, va_list ap)
{
    struct qvd_stmt *st = db->ops->prepare(db, sql);

    if (st == NULL)
        return NULL;
    if (bind_args(db, st, types, ap) < 0) {
        db->ops->finalize(st);
        return NULL;
    }
    return st;
}

struct qvd_stmt *
qvd_db_query(struct qvd_db *db, const char *sql, const char *types, ...)
{
    va_list ap;
    struct qvd_stmt *st;

    va_start(ap, types);
    st = vquery(db, sql, types, ap);
    va_end(ap);
    return st;
}

struct qvd_stmt *
qvd_db_query_params(struct qvd_db *db, const char *sql, const struct qvd_db_param *params, size_t n)
{
    struct qvd_stmt *st = db->ops->prepare(db, sql);
    int rc = 0;

    if (st == NULL)
        return NULL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct qvd_db_param *p = &params[i];
        int idx = (int)i + 1;

        switch (p->type) {
        case 'i':
            rc = db->ops->bind_int(st, idx, p->i);
            break;
        case 's':
            rc = db->ops->bind_text(st, idx, p->s);
            break;
        case 'n':
            rc = db->ops->bind_null(st, idx);
            break;
        default:
            rc = qvd_seterr("bad bind type '%c'", p->type);
            break;
        }
    }
    if (rc < 0) {
        db->ops->finalize(st);
        return NULL;
    }
    return st;
}

int64_t
qvd_db_exec(struct qvd_db *db, const char *sql, const char *types, ...)
{
    va_list ap;
    struct qvd_stmt *st;
    int rc;

    va_start(ap, types);
    st = vquery(db, sql, types, ap);
    va_end(ap);
    if (st == NULL)
        return -1;
    while ((rc = db->ops->step(st)) == 1)
        ;
    db->ops->finalize(st);
    return rc < 0 ? -1 : db->ops->changes(db);
}

int
qvd_db_get_int(struct qvd_db *db, int64_t *out, const char *sql, const char *types, ...)
{
    va_list ap;
    struct qvd_stmt *st;
    int rc;

    va_start(ap, types);
    st = vquery(db, sql, types, ap);
    va_end(ap);
    if (st == NULL)
        return -1;
    rc = db->ops->step(st);
    if (rc == 1)
        *out = db->ops->is_null(st, 0) ? 0 : db->ops->col_int(st, 0);
    db->ops->finalize(st);
    return rc;
}

int
qvd_db_clock(struct qvd_db *db, int64_t *now)
{
    return qvd_db_get_int(db, now, db->ops->clock_sql, NULL) == 1 ? 0 : -1;
}

int
qvd_db_cluster_lock(struct qvd_db *db)
{
    int64_t taken = 0;

    if (db->ops->cluster_lock_sql == NULL)
        return 1;
    return qvd_db_get_int(db, &taken, db->ops->cluster_lock_sql, NULL) == 1 ? taken == 1 : -1;
}

/* The statement keeps a pointer to its db as its first member in every back-end. */
struct stmt_head {
    struct qvd_db *db;
};
#define OPS(st) (((struct stmt_head *)(st))->db->ops)

int
qvd_db_step(struct qvd_stmt *st)
{
    return OPS(st)->step(st);
}

int
qvd_db_columns(struct qvd_stmt *st)
{
    return OPS(st)->columns(st);
}

const char *
qvd_db_column_name(struct qvd_stmt *st, int col)
{
    return OPS(st)->column_name(st, col);
}

bool
qvd_db_is_null(struct qvd_stmt *st, int col)
{
    return OPS(st)->is_null(st, col);
}

int64_t
qvd_db_int(struct qvd_stmt *st, int col)
{
    return OPS(st)->col_int(st, col);
}

const char *
qvd_db_text(struct qvd_stmt *st, int col)
{
    return OPS(st)->is_null(st, col) ? NULL : OPS(st)->col_text(st, col);
}

void
qvd_db_done(struct qvd_stmt *st)
{
    if (st != NULL)
        OPS(st)->finalize(st);
}

int
qvd_db_begin(struct qvd_db *db)
{
    if (db->tx_depth++ > 0)
        return 0;
    db->tx_failed = false;
    if (db->ops->exec_script(db, db->ops->begin_sql) < 0) {
        db->tx_depth = 0;
        return -1;
    }
    return 0;
}

int
qvd_db_commit(struct qvd_db *db)
{
    if (db->tx_depth == 0)
        return qvd_seterr("commit without a transaction");
    if (--db->tx_depth > 0)
        return 0;
    if (db->tx_failed) {
        db->ops->exec_script(db, "ROLLBACK");
        return qvd_seterr("transaction rolled back");
    }
    if (db->ops->exec_script(db, "COMMIT") < 0) {
        char msg[512];
        strncpy(msg, qvd_strerror(), sizeof(msg) - 1);
        msg[sizeof(msg) - 1] = '\0';
        db->ops->exec_script(db, "ROLLBACK");
        return qvd_seterr("%s", msg);
    }
    return 0;
}

void
qvd_db_rollback(struct qvd_db *db)
{
    char msg[512];

    if (db->tx_depth == 0)
        return;
    if (--db->tx_depth > 0) {
        db->tx_failed = true;
        return;
    }
    /* keep the error that made the caller roll back */
    strncpy(msg, qvd_strerror(), sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    db->ops->exec_script(db, "ROLLBACK");
    qvd_seterr("%s", msg);
}

enum qvd_db_errkind
qvd_db_errkind(struct qvd_db *db)
{
    return db->errkind;
}

int
qvd_db_notify(struct qvd_db *db, const char *channel)
{
    return db->ops->notify(db, channel);
}

int
qvd_db_listen(struct qvd_db *db, const char *channel)
{
    return db->ops->listen(db, channel);
}

int
qvd_db_drain(struct qvd_db *db, int *fd)
{
    return db->ops->drain(db, fd);
}

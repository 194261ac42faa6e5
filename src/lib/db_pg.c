/* db_pg.c: the PostgreSQL back-end (libpq) for clusters of nodes. Statements keep our `?`
 * placeholders until prepare turns them into $1..$n; values travel as text parameters.
 * Wake-ups are LISTEN/NOTIFY on the connection's socket. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "util.h"

/* type OIDs from catalog/pg_type.h, which libpq-dev does not ship to clients */
#define PG_INT8OID 20
#define PG_TEXTOID 25

struct qvd_stmt {
    struct qvd_db *db; /* first: see db.c */
    char *sql;         /* with $n placeholders */
    int nparams;
    char **values; /* owned; NULL binds SQL NULL */
    Oid *types;
    PGresult *res; /* NULL until the first step */
    int row;
};

struct pg_impl {
    PGconn *conn;
    PGconn *listen_conn; /* LISTENs on a connection of its own: queries on `conn` would
                          * swallow notifications without the socket becoming readable */
    char **chans;        /* what it listens to: made again on a new connection */
    size_t nchans;
    bool lost_listen; /* the wake-up connection was lost (drain): the next is a new one */
    int64_t changes;
};

#define IMPL(db) ((struct pg_impl *)(db)->impl)

/* Maps SQLSTATE classes to our error kinds: 23 integrity violations, 40001 serialization,
 * 40P01 deadlock and 55P03 lock not available are worth a retry. */
static enum qvd_db_errkind
errkind_of(const char *state)
{
    if (state == NULL)
        return QVD_DB_OTHER;
    if (strncmp(state, "23", 2) == 0)
        return QVD_DB_CONSTRAINT;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
        return QVD_DB_BUSY;
    return QVD_DB_OTHER;
}

/* Records a failed result (or a connection failure when res is NULL); always -1. */
static int
fail(struct qvd_db *db, const PGresult *res, const char *what)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char *m;
    int rc;

    db->errkind = res ? errkind_of(PQresultErrorField(res, PG_DIAG_SQLSTATE)) : QVD_DB_OTHER;
    m = qvd_xstrdup(msg ? msg : PQerrorMessage(IMPL(db)->conn));
    m[strcspn(m, "\n")] = '\0';
    rc = qvd_seterr("database: %s: %s", what, m);
    free(m);
    return rc;
}

static bool
result_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY;
}

static void
note_changes(struct qvd_db *db, const PGresult *res)
{
    const char *n = PQcmdTuples((PGresult *)res);
    IMPL(db)->changes = *n ? strtoll(n, NULL, 10) : 0;
}

/* Did this failure lose the connection, or find the server no longer the primary? Then
 * the statement may succeed on a new connection. 25006: a write on a server that became a
 * standby; 57P01-57P03: the server is shutting down or restarting. */
static bool
connection_lost(PGconn *conn, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (PQstatus(conn) == CONNECTION_BAD)
        return true;
    return state != NULL && (strcmp(state, "25006") == 0 || strncmp(state, "57P0", 4) == 0);
}

/* Connects again with the same parameters: with several hosts and
 * target_session_attrs=read-write, libpq finds the primary a failover promoted. */
static bool
reconnect(struct qvd_db *db)
{
    PGconn *conn = IMPL(db)->conn;

    PQreset(conn);
    if (PQstatus(conn) != CONNECTION_OK) {
        log_warn("database: cannot connect again: %.*s", (int)strcspn(PQerrorMessage(conn), "\n"),
                 PQerrorMessage(conn));
        return false;
    }
    log_info("database: connected again (to %s port %s)", PQhost(conn), PQport(conn));
    return true;
}

/* After a failed statement: true when it is worth running again on a new connection,
 * which is so when the connection was lost and the statement stood alone (`alone`: no
 * transaction of ours was open on the connection, or the statement opens one). A
 * transaction that was open is gone with its connection (*tx_lost): the statement fails as
 * busy, the caller's transaction is rolled back whole and may be tried again. A COMMIT is
 * never run again: on a new connection it would commit nothing and say it did. */
static bool
retry_after(struct qvd_db *db, const PGresult *res, bool alone, bool *tx_lost)
{
    *tx_lost = false;
    if (!connection_lost(IMPL(db)->conn, res))
        return false;
    *tx_lost = !alone;
    return reconnect(db) && alone;
}

/* Does exec_script's `sql` stand alone (see retry_after)? qvd_db_commit has already
 * counted its transaction closed when it sends COMMIT. */
static bool
script_alone(struct qvd_db *db, const char *sql)
{
    if (strcmp(sql, "COMMIT") == 0)
        return false;
    if (strcmp(sql, db->ops->begin_sql) == 0)
        return db->tx_depth <= 1;
    return db->tx_depth == 0;
}

static int
pg_exec_script(struct qvd_db *db, const char *sql)
{
    PGresult *res = PQexec(IMPL(db)->conn, sql);
    bool tx_lost = false;
    int rc = 0;

    if ((res == NULL || !result_ok(res)) && retry_after(db, res, script_alone(db, sql), &tx_lost)) {
        PQclear(res);
        res = PQexec(IMPL(db)->conn, sql);
    }

    if (res == NULL || !result_ok(res)) {
        rc = fail(db, res, "exec");
        if (tx_lost)
            db->errkind = QVD_DB_BUSY; /* its transaction went with the connection */
    } else {
        note_changes(db, res);
        db->errkind = QVD_DB_OK;
    }
    PQclear(res);
    return rc;
}

/* Server notices (e.g. "relation already exists, skipping") are for debugging only. */
static void
pg_notice(void *arg, const char *msg)
{
    (void)arg;
    log_debug("postgresql: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* Connects with the database.* keys; NULL with qvd_seterr() on failure. */
static PGconn *
pg_connect(struct qvd_config *cfg)
{
    /* a server that stops answering (a cut link: no reset ever comes) is given up after
     * database.timeout, not after TCP's quarter of an hour: a statement in flight fails, and
     * the caller's retry finds the new primary */
    long t = qvd_config_int(cfg, "database.timeout");
    char connect_s[24], user_ms[24], idle_s[24], count[24];
    const char *keys[] = {"host",
                          "port",
                          "dbname",
                          "user",
                          "password",
                          "application_name",
                          "target_session_attrs",
                          "connect_timeout",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          NULL};
    const char *vals[] = {qvd_config_get(cfg, "database.host"),
                          qvd_config_get(cfg, "database.port"),
                          qvd_config_get(cfg, "database.name"),
                          qvd_config_get(cfg, "database.user"),
                          qvd_config_get(cfg, "database.password"),
                          "qvd",
                          qvd_config_get(cfg, "database.target_session_attrs"),
                          connect_s,
                          "1",
                          idle_s,
                          "1",
                          count,
                          user_ms,
                          NULL};
    PGconn *conn;

    if (t < 2)
        t = 2; /* libpq's smallest connect_timeout */
    snprintf(connect_s, sizeof(connect_s), "%ld", t);
    snprintf(user_ms, sizeof(user_ms), "%ld", t * 1000);
    snprintf(idle_s, sizeof(idle_s), "%ld", (t + 1) / 2);
    snprintf(count, sizeof(count), "%ld", t - (t + 1) / 2);

    /* an empty value means libpq's default (PGHOST, ~/.pgpass...), not an empty setting */
    for (size_t i = 0; keys[i] != NULL; i++)
        if (vals[i] != NULL && *vals[i] == '\0')
            vals[i] = NULL;
    conn = PQconnectdbParams(keys, vals, 0);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        char *m = qvd_xstrdup(conn ? PQerrorMessage(conn) : "out of memory");

        m[strcspn(m, "\n")] = '\0';
        qvd_seterr("cannot connect to PostgreSQL database %s on %s: %s",
                   vals[2] ? vals[2] : "(default)", vals[0] ? vals[0] : "(default)", m);
        free(m);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, pg_notice, NULL);
    return conn;
}

static int
pg_open(struct qvd_db *db, struct qvd_config *cfg)
{
    struct pg_impl *im = qvd_xcalloc(1, sizeof(*im));

    im->conn = pg_connect(cfg);
    if (im->conn == NULL) {
        free(im);
        return -1;
    }
    db->impl = im;
    return 0;
}

static void
pg_close(struct qvd_db *db)
{
    PQfinish(IMPL(db)->listen_conn);
    PQfinish(IMPL(db)->conn);
    for (size_t i = 0; i < IMPL(db)->nchans; i++)
        free(IMPL(db)->chans[i]);
    free(IMPL(db)->chans);
    free(db->impl);
}

/* Rewrites `?` into $1..$n outside single-quoted literals, double-quoted identifiers and
 * comments-free SQL (ours has none); sets *n to the number of placeholders. */
static char *
number_placeholders(const char *sql, int *n)
{
    struct qvd_buf b = QVD_BUF_INIT;
    char quote = '\0';

    *n = 0;
    for (const char *p = sql; *p; p++) {
        if (quote != '\0') {
            if (*p == quote)
                quote = '\0'; /* a doubled quote closes and reopens: same result */
            qvd_buf_addc(&b, *p);
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            qvd_buf_addc(&b, *p);
        } else if (*p == '?') {
            qvd_buf_printf(&b, "$%d", ++*n);
        } else {
            qvd_buf_addc(&b, *p);
        }
    }
    return qvd_buf_steal(&b);
}

static struct qvd_stmt *
pg_prepare(struct qvd_db *db, const char *sql)
{
    struct qvd_stmt *st = qvd_xcalloc(1, sizeof(*st));

    st->db = db;
    st->sql = number_placeholders(sql, &st->nparams);
    st->values = qvd_xcalloc(st->nparams + 1, sizeof(*st->values));
    st->types = qvd_xcalloc(st->nparams + 1, sizeof(*st->types));
    st->row = -1;
    return st;
}

static int
bind_value(struct qvd_stmt *st, int idx, char *v, Oid type)
{
    if (idx < 1 || idx > st->nparams || st->res != NULL) {
        free(v);
        st->db->errkind = QVD_DB_OTHER;
        return qvd_seterr("database: bind: parameter %d out of range (%d)", idx, st->nparams);
    }
    free(st->values[idx - 1]);
    st->values[idx - 1] = v;
    st->types[idx - 1] = type;
    return 0;
}

static int
pg_bind_int(struct qvd_stmt *st, int idx, int64_t v)
{
    return bind_value(st, idx, qvd_xasprintf("%lld", (long long)v), PG_INT8OID);
}

/* A NULL string is a NULL of type text, so that `? IS NULL` has a type to resolve. */
static int
pg_bind_text(struct qvd_stmt *st, int idx, const char *v)
{
    return bind_value(st, idx, v ? qvd_xstrdup(v) : NULL, PG_TEXTOID);
}

/* An untyped NULL: the server infers its type from where it is used. */
static int
pg_bind_null(struct qvd_stmt *st, int idx)
{
    return bind_value(st, idx, NULL, 0);
}

/* Runs the statement once (at the first step, or when its columns are asked for first,
 * as SQLite can answer before stepping); on failure a failed result is kept so that a
 * second call does not run it again. */
static int
execute(struct qvd_stmt *st)
{
    if (st->res != NULL)
        return result_ok(st->res) ? 0 : -1;
    st->res = PQexecParams(IMPL(st->db)->conn, st->sql, st->nparams, st->types,
                           (const char *const *)st->values, NULL, NULL, 0);
    bool tx_lost = false;

    if ((st->res == NULL || !result_ok(st->res)) &&
        retry_after(st->db, st->res, st->db->tx_depth == 0, &tx_lost)) {
        PQclear(st->res);
        st->res = PQexecParams(IMPL(st->db)->conn, st->sql, st->nparams, st->types,
                               (const char *const *)st->values, NULL, NULL, 0);
    }
    if (st->res == NULL || !result_ok(st->res)) {
        int rc = fail(st->db, st->res, "query");
        if (tx_lost)
            st->db->errkind = QVD_DB_BUSY; /* its transaction went with the connection */
        if (st->res == NULL)
            st->res = PQmakeEmptyPGresult(IMPL(st->db)->conn, PGRES_FATAL_ERROR);
        st->row = PQntuples(st->res);
        return rc;
    }
    note_changes(st->db, st->res);
    return 0;
}

static int
pg_step(struct qvd_stmt *st)
{
    if (execute(st) < 0)
        return -1;
    if (st->row < PQntuples(st->res))
        st->row++;
    if (st->row < PQntuples(st->res))
        return 1;
    st->db->errkind = QVD_DB_OK;
    return 0;
}

static int
pg_columns(struct qvd_stmt *st)
{
    return execute(st) == 0 ? PQnfields(st->res) : 0;
}

static const char *
pg_column_name(struct qvd_stmt *st, int col)
{
    return execute(st) == 0 ? PQfname(st->res, col) : NULL;
}

static bool
in_row(struct qvd_stmt *st, int col)
{
    return st->res != NULL && st->row >= 0 && st->row < PQntuples(st->res) && col >= 0 &&
           col < PQnfields(st->res);
}

static bool
pg_is_null(struct qvd_stmt *st, int col)
{
    return !in_row(st, col) || PQgetisnull(st->res, st->row, col);
}

/* Integers come as text; a boolean expression comes as t/f. */
static int64_t
pg_col_int(struct qvd_stmt *st, int col)
{
    const char *v;

    if (pg_is_null(st, col))
        return 0;
    v = PQgetvalue(st->res, st->row, col);
    if (strcmp(v, "t") == 0)
        return 1;
    return strtoll(v, NULL, 10);
}

static const char *
pg_col_text(struct qvd_stmt *st, int col)
{
    return pg_is_null(st, col) ? NULL : PQgetvalue(st->res, st->row, col);
}

static void
pg_finalize(struct qvd_stmt *st)
{
    for (int i = 0; i < st->nparams; i++)
        free(st->values[i]);
    free(st->values);
    free(st->types);
    free(st->sql);
    PQclear(st->res);
    free(st);
}

static int64_t
pg_changes(struct qvd_db *db)
{
    return IMPL(db)->changes;
}

/* NOTIFY inside a transaction is sent at its commit, as the writers expect. */
static int
pg_notify(struct qvd_db *db, const char *channel)
{
    return qvd_db_exec(db, "SELECT pg_notify(?, '')", "s", channel) < 0 ? -1 : 0;
}

static int
listen_on(PGconn *conn, const char *channel)
{
    char *id = PQescapeIdentifier(conn, channel, strlen(channel)), *sql;
    PGresult *res;
    int rc = 0;

    if (id == NULL)
        return qvd_seterr("database: listen: %s", PQerrorMessage(conn));
    sql = qvd_xasprintf("LISTEN %s", id);
    PQfreemem(id);
    res = PQexec(conn, sql);
    free(sql);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = qvd_seterr("database: listen: %.*s", (int)strcspn(PQerrorMessage(conn), "\n"),
                        PQerrorMessage(conn));
    PQclear(res);
    return rc;
}

/* A new wake-up connection listening to every channel (after the first, or after a
 * failover took the old one): its socket, or -1 with qvd_seterr(). */
static int
listen_connect(struct qvd_db *db)
{
    struct pg_impl *im = IMPL(db);

    if (im->listen_conn == NULL && (im->listen_conn = pg_connect(db->cfg)) == NULL)
        return -1;
    for (size_t i = 0; i < im->nchans; i++)
        if (listen_on(im->listen_conn, im->chans[i]) < 0) {
            PQfinish(im->listen_conn);
            im->listen_conn = NULL;
            return -1;
        }
    return PQsocket(im->listen_conn);
}

static int
pg_listen(struct qvd_db *db, const char *channel)
{
    struct pg_impl *im = IMPL(db);
    size_t i;

    for (i = 0; i < im->nchans && strcmp(im->chans[i], channel) != 0; i++)
        ;
    if (i == im->nchans) {
        im->chans = qvd_xrealloc(im->chans, (im->nchans + 1) * sizeof(*im->chans));
        im->chans[im->nchans++] = qvd_xstrdup(channel);
    }
    if (im->listen_conn == NULL) {
        int fd = listen_connect(db);
        if (fd >= 0 && im->lost_listen)
            log_info("database: listening again for wake-ups (on %s port %s)",
                     PQhost(im->listen_conn), PQport(im->listen_conn));
        im->lost_listen = im->lost_listen && fd < 0;
        return fd;
    }
    return listen_on(im->listen_conn, channel) < 0 ? -1 : PQsocket(im->listen_conn);
}

/* A lost wake-up connection (the server died, a failover, a cut link) shows as a readable
 * socket that reads nothing: it is closed and the caller told (*fd -1). Not made again
 * here: a connect to a server that does not answer would hold the caller's event loop for
 * database.timeout per host; the caller listens again when its database answers. */
static int
pg_drain(struct qvd_db *db, int *fd)
{
    struct pg_impl *im = IMPL(db);
    PGconn *conn = im->listen_conn;
    PGnotify *n;

    if (conn == NULL)
        return 0;
    if (PQconsumeInput(conn) != 0 && PQstatus(conn) == CONNECTION_OK) {
        while ((n = PQnotifies(conn)) != NULL)
            PQfreemem(n);
        return 0;
    }
    log_warn("database: the wake-up connection is lost: %.*s",
             (int)strcspn(PQerrorMessage(conn), "\n"), PQerrorMessage(conn));
    PQfinish(conn);
    im->listen_conn = NULL;
    im->lost_listen = true;
    *fd = -1;
    return 1;
}

/* Rows inserted with explicit ids (the built-in tenants) leave identity sequences behind:
 * move each one past the largest id, as SQLite's INTEGER PRIMARY KEY does by itself. */
static int
pg_migrated(struct qvd_db *db)
{
    return pg_exec_script(
        db, "DO $$ DECLARE r record; BEGIN"
            " FOR r IN SELECT table_name AS t, column_name AS c FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND is_identity = 'YES' LOOP"
            " EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, %L),"
            " COALESCE((SELECT max(%I) FROM %I), 0) + 1, false)',"
            " quote_ident(r.t), r.c, r.c, r.t);"
            " END LOOP; END $$");
}

const struct qvd_db_ops qvd_db_pg_ops = {
    .name = "pg",
    .id_column = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    .int_column = "BIGINT",
    .begin_sql = "BEGIN",
    .string_agg = "string_agg",
    /* truncated as time(2) is: a cast of the numeric epoch would round to the nearest */
    .clock_sql = "SELECT CAST(floor(extract(epoch FROM now())) AS BIGINT)",
    /* one fixed key for the whole cluster ("QVDC" in ASCII) */
    .cluster_lock_sql = "SELECT CASE WHEN pg_try_advisory_xact_lock(1364542531) THEN 1 ELSE 0"
                        " END",
    .open = pg_open,
    .close = pg_close,
    .exec_script = pg_exec_script,
    .prepare = pg_prepare,
    .bind_int = pg_bind_int,
    .bind_text = pg_bind_text,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .columns = pg_columns,
    .column_name = pg_column_name,
    .is_null = pg_is_null,
    .col_int = pg_col_int,
    .col_text = pg_col_text,
    .finalize = pg_finalize,
    .changes = pg_changes,
    .notify = pg_notify,
    .listen = pg_listen,
    .drain = pg_drain,
    .migrated = pg_migrated,
};

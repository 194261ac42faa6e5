/* db.h: the database interface. One SQL text for every back-end: `?` placeholders, integer
 * epoch timestamps, integer booleans, CHECK instead of enums. Back-ends are ops tables. */
#ifndef QVD_DB_H
#define QVD_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qvd_config;
struct qvd_db;
struct qvd_stmt;

enum qvd_db_errkind { QVD_DB_OK, QVD_DB_CONSTRAINT, QVD_DB_BUSY, QVD_DB_OTHER };

/* What a back-end provides. Statements are created bound-less; binding is 1-based,
 * columns 0-based. step() returns 1 for a row, 0 when done, -1 on error. */
struct qvd_db_ops {
    const char *name;
    const char *id_column;  /* replaces @ID@ in migrations: an auto-increment primary key */
    const char *int_column; /* replaces INTEGER in migrations when set: a 64-bit integer */
    const char *begin_sql;  /* starts a transaction that takes the write lock when it can */
    const char *string_agg; /* aggregate (text, separator) -> joined text */
    bool wake_files;        /* wake-ups are Unix sockets under ${path.run}/wake */
    const char *clock_sql;  /* the database's clock, epoch seconds (one integer) */
    /* takes the cluster's lock until the transaction ends: one integer, 1 taken, 0 held by
     * another connection; NULL: the transaction's write lock is the cluster's lock */
    const char *cluster_lock_sql;
    int (*open)(struct qvd_db *db, struct qvd_config *cfg);
    void (*close)(struct qvd_db *db);
    int (*exec_script)(struct qvd_db *db, const char *sql);
    struct qvd_stmt *(*prepare)(struct qvd_db *db, const char *sql);
    int (*bind_int)(struct qvd_stmt *st, int idx, int64_t v);
    int (*bind_text)(struct qvd_stmt *st, int idx, const char *v); /* v NULL: a text NULL */
    int (*bind_null)(struct qvd_stmt *st, int idx);
    int (*step)(struct qvd_stmt *st);
    int (*columns)(struct qvd_stmt *st);
    const char *(*column_name)(struct qvd_stmt *st, int col);
    bool (*is_null)(struct qvd_stmt *st, int col);
    int64_t (*col_int)(struct qvd_stmt *st, int col);
    const char *(*col_text)(struct qvd_stmt *st, int col);
    void (*finalize)(struct qvd_stmt *st);
    int64_t (*changes)(struct qvd_db *db);
    int (*notify)(struct qvd_db *db, const char *channel);
    int (*listen)(struct qvd_db *db, const char *channel); /* returns a pollable fd */
    int (*drain)(struct qvd_db *db, int *fd);
    int (*migrated)(struct qvd_db *db); /* optional: after migrations, in their transaction */
};

/* Common part of every connection; back-ends embed their own data behind `impl`. */
struct qvd_db {
    const struct qvd_db_ops *ops;
    void *impl;
    struct qvd_config *cfg;
    enum qvd_db_errkind errkind;
    int tx_depth;
    bool tx_failed;
};

/* Opens the back-end named by `database.type`. NULL with qvd_strerror() on failure. */
struct qvd_db *qvd_db_open(struct qvd_config *cfg);
void qvd_db_close(struct qvd_db *db);
/* Applies the pending numbered migrations, each in its own transaction. */
int qvd_db_migrate(struct qvd_db *db);
/* The schema version of the database (0 if empty), -1 on error. */
int qvd_db_schema_version(struct qvd_db *db);
int qvd_db_latest_schema_version(void);

/* Prepares `sql` and binds the arguments described by `types`: 'i' int64_t, 's' const char *
 * (NULL binds NULL), 'n' (no argument) NULL. Returns a statement to step, or NULL. */
struct qvd_stmt *qvd_db_query(struct qvd_db *db, const char *sql, const char *types, ...);
/* One parameter of qvd_db_query_params, for statements whose parameters are known only at
 * run time: type 'i' binds i, 's' binds s (NULL binds a text NULL), 'n' an untyped NULL. */
struct qvd_db_param {
    char type;
    int64_t i;
    const char *s;
};
/* Prepares `sql` and binds params[0..n-1] to its `?` in order. A statement, or NULL. */
struct qvd_stmt *qvd_db_query_params(struct qvd_db *db, const char *sql,
                                     const struct qvd_db_param *params, size_t n);
/* Runs a statement without rows; returns the number of rows changed, or -1. */
int64_t qvd_db_exec(struct qvd_db *db, const char *sql, const char *types, ...);
/* Runs a query expected to give at most one integer: 1 found (*out set), 0 none, -1 error. */
int qvd_db_get_int(struct qvd_db *db, int64_t *out, const char *sql, const char *types, ...);
int qvd_db_step(struct qvd_stmt *st);
int qvd_db_columns(struct qvd_stmt *st);
const char *qvd_db_column_name(struct qvd_stmt *st, int col);
bool qvd_db_is_null(struct qvd_stmt *st, int col);
int64_t qvd_db_int(struct qvd_stmt *st, int col);
/* Text of a column; NULL for SQL NULL. Valid until the next step. */
const char *qvd_db_text(struct qvd_stmt *st, int col);
void qvd_db_done(struct qvd_stmt *st);

/* Transactions nest: only the outermost begin/commit reach the database; a rollback at any
 * depth makes the outermost commit fail. begin takes the write lock at once. */
int qvd_db_begin(struct qvd_db *db);
int qvd_db_commit(struct qvd_db *db);
void qvd_db_rollback(struct qvd_db *db);

/* What went wrong with the last failed call (unique/check/foreign-key violation, busy...). */
enum qvd_db_errkind qvd_db_errkind(struct qvd_db *db);

/* Wake-ups: notify a channel (no-op when nobody listens); listen gives an fd that becomes
 * readable on notification; drain consumes what is pending on *fd. The fd belongs to the
 * connection: qvd_db_close closes it, the caller never does. drain returns 1 when the
 * wake-up connection was lost (a failover, a cut link: *fd is -1 then, and the caller stops
 * watching it), else 0. listen again (once the database answers: it connects, on the
 * caller's thread) makes a new one listening to every channel listened to before, and
 * returns its fd; wake-ups sent meanwhile are lost. */
int qvd_db_notify(struct qvd_db *db, const char *channel);
int qvd_db_listen(struct qvd_db *db, const char *channel);
int qvd_db_drain(struct qvd_db *db, int *fd);
/* SQLite's wake-up folder ${path.run}/wake: made (0770; its parents 0755) if missing, so
 * that other users never reach the sockets in it. 0, or -1 with qvd_strerror(). */
int qvd_db_wake_dir(const char *dir);

/* The database's clock in epoch seconds: the one clock every node of a cluster agrees on
 * (the nodes' own clocks may differ). 0, or -1 with qvd_strerror(). */
int qvd_db_clock(struct qvd_db *db, int64_t *now);
/* Inside a transaction: takes the cluster-wide lock held until the transaction ends (a
 * PostgreSQL advisory lock; on SQLite the transaction's write lock already is one). 1
 * taken, 0 another connection holds it, -1 error. */
int qvd_db_cluster_lock(struct qvd_db *db);

/* Channel names shared by writers and daemons. */
#define QVD_CHAN_VM_CMD "qvd_cmd_for_vm_on_host%lld"
#define QVD_CHAN_HOST_CMD "qvd_cmd_for_host%lld"
#define QVD_CHAN_USER_CMD "qvd_cmd_for_user_on_host%lld"

extern const struct qvd_db_ops qvd_db_sqlite_ops;
extern const struct qvd_db_ops qvd_db_pg_ops;

#endif

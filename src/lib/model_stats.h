/* model_stats.h: read-only views of the model: the dashboard's counts (qvd-api's /stats),
 * the live feed's changes (/events), and a listing read into a table (qvd-admin local).
 * What each counts or reports is decided here, beside the schema, not in the front-end.
 * Every function returns 0, or -1 with qvd_strerror(). */
#ifndef QVD_MODEL_STATS_H
#define QVD_MODEL_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qvd_db;
struct qvd_stmt;

/* A listing's rows as text (cells NULL for SQL NULL), with its column names. */
struct qvd_model_table {
    int ncol;
    char **names;
    size_t nrows;
    char ***rows;
};
/* Reads every row of `st` (a qvd_model_*_list statement; NULL fails) and finishes it. On
 * failure *t is empty. */
int qvd_model_table_read(struct qvd_stmt *st, struct qvd_model_table *t);
void qvd_model_table_free(struct qvd_model_table *t);

/* Whose objects a summary counts: every tenant's (all), or tenant_id's (and, for OSFs and
 * DIs, the common tenant's). */
struct qvd_model_scope {
    bool all;
    int64_t tenant_id;
};

/* The dashboard's counts, each given to put(arg, name, n) under its JSON name ("users",
 * "running_vms"...); with `hosts`, the host counts too. */
int qvd_model_stats(struct qvd_db *db, const struct qvd_model_scope *scope, bool hosts,
                    void (*put)(void *arg, const char *name, int64_t n), void *arg);

/* The (at most) five hosts running the most of the scope's VMs, busiest first. */
int qvd_model_stats_top_hosts(struct qvd_db *db, const struct qvd_model_scope *scope,
                              void (*put)(void *arg, int64_t id, const char *name, int64_t vms),
                              void *arg);

/* The live feed's view of a VM and of a host. */
struct qvd_model_vm_seen {
    int64_t id, tenant_id;
    int64_t host_id; /* -1: none */
    const char *state, *user_state;
};
struct qvd_model_host_seen {
    int64_t id;
    const char *state; /* "stopped" for a host that never ran */
    bool blocked;
};
/* VMs whose state or user state changed at or after `since` (epoch seconds). The strings
 * are valid during the call only. */
int qvd_model_vm_changes(struct qvd_db *db, int64_t since,
                         void (*put)(void *arg, const struct qvd_model_vm_seen *v), void *arg);
/* Every host, by id. */
int qvd_model_host_states(struct qvd_db *db,
                          void (*put)(void *arg, const struct qvd_model_host_seen *h), void *arg);

#endif

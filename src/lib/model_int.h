/* model_int.h: helpers shared by the model_*.c files (not for front-ends). */
#ifndef QVD_MODEL_INT_H
#define QVD_MODEL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

struct qvd_db;

/* Records a failure of `kind` with a message; returns -1. */
int qvd_model_fail(enum qvd_model_errkind kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Records a database failure (kind from the back-end's errkind); returns -1. */
int qvd_model_dbfail(struct qvd_db *db);
/* begin, and end: commit when rc is 0, else roll back; returns 0 or -1. */
int qvd_model_begin(struct qvd_db *db);
int qvd_model_end(struct qvd_db *db, int rc);
/* Checks a display name / login: 1..max bytes, printable, no leading/trailing space. */
int qvd_model_check_name(const char *what, const char *s, size_t max);
/* 0, or -1 with INVALID when a login (its part before any '@') names a system account:
 * the built-in Debian names or model.user.login.reserved, matched case-insensitively. */
struct qvd_config;
int qvd_model_login_reserved(struct qvd_config *cfg, const char *login);
/* 1 if the query gives a row, 0 if not, -1 on error (database failure recorded). */
int qvd_model_exists(struct qvd_db *db, const char *sql, int64_t id);
/* 0 if `table` has a row with this id, else -1 with NOT_FOUND "<what> <id> does not exist"
 * (or the database failure). `table` is the caller's constant, never input. */
int qvd_model_need(struct qvd_db *db, const char *table, const char *what, int64_t id);
/* Integer result of a one-row query (0 if no row), -1 on error. */
int qvd_model_count(struct qvd_db *db, int64_t *out, const char *sql, int64_t id);
/* Removes the properties of an object (inside the caller's transaction). */
int qvd_model_prop_clear(struct qvd_db *db, const char *object, int64_t object_id);
/* 0 if no row of `table` but `self` (-1: none) has `column` = name in the tenant, else -1
 * with a CONFLICT "<what> 'name' already exists in tenant 'T' (id N)". `table` and
 * `column` are the caller's constants, never input. */
int qvd_model_name_free(struct qvd_db *db, const char *table, const char *column, const char *what,
                        int64_t tenant_id, const char *name, int64_t self);
/* A stopped VM's start, inside the caller's transaction: checks (unblocked, a published
 * DI), places it (qvd_model_cluster_place) and sets its start command there, *host_id. The
 * caller wakes the host once committed. Shared by qvd_model_vm_start and the takeover of a
 * lost node's VMs (model_cluster.c). */
int qvd_model_vm_start_tx(struct qvd_db *db, struct qvd_config *cfg, int64_t id, int64_t *host_id);
/* Tenant name for messages (static buffer per thread). */
const char *qvd_model_tenant_name(struct qvd_db *db, int64_t id);

#endif

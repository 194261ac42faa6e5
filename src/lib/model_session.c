/* model_session.c: why a user's session ended. The L7R that relays a session gives it an id
 * (its 101 header X-QVD-Session-Id) and a row in session_ends; whoever learns first why it
 * ended records the reason there (the L7R, or the node that saw the VM go), and the client
 * reads it back by id with its own credentials from any L7R of the cluster. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "model.h"
#include "model_int.h"
#include "util.h"

#define KEEP_S (2 * 86400) /* rows older than this are of no use to a client any more */
#define DETAIL_MAX 200     /* the column's limit: a longer detail is cut, never refused */

static const struct {
    const char *reason, *text;
} reasons[] = {
    {"admin_stop", "The virtual machine was stopped by an administrator"},
    {"admin_disconnect", "An administrator disconnected the session"},
    {"takeover", "The session was taken over by another client"},
    {"vm_crashed", "The virtual machine stopped unexpectedly"},
    {"node_lost", "The server that ran the virtual machine was lost"},
    {"server_shutdown", "The server is shutting down"},
    {"session_crashed", "The desktop session crashed and is lost"},
    {"connection_lost", "The connection to the virtual machine was lost; the session is kept"},
    {"client_closed", "The client closed the session"},
    {"logout", "The user logged out"},
};

const char *
qvd_model_end_reason_text(const char *reason)
{
    for (size_t i = 0; reason && i < QVD_ARRAY_LEN(reasons); i++)
        if (strcmp(reasons[i].reason, reason) == 0)
            return reasons[i].text;
    return NULL;
}

int
qvd_model_session_begin(struct qvd_db *db, const char *id, int64_t user_id, int64_t vm_id)
{
    int64_t now = qvd_now();

    if (qvd_db_exec(db, "DELETE FROM session_ends WHERE started_ts < ?", "i", now - KEEP_S) < 0 ||
        qvd_db_exec(db,
                    "INSERT INTO session_ends (id, user_id, vm_id, started_ts)"
                    " VALUES (?, ?, ?, ?)",
                    "siii", id, user_id, vm_id, now) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

/* Records REASON on the sessions not ended yet: the one of id ID, or else every one of
 * VM_ID. The number of sessions it ended, or -1. */
static int64_t
end_sessions(struct qvd_db *db, const char *id, int64_t vm_id, const char *reason,
             const char *detail)
{
    char short_detail[DETAIL_MAX + 1];
    int64_t n;

    snprintf(short_detail, sizeof(short_detail), "%s", detail ? detail : "");
    if (qvd_model_end_reason_text(reason) == NULL)
        return qvd_model_fail(QVD_MODEL_INVALID, "unknown session ending '%s'", reason);
    if (id)
        n = qvd_db_exec(db,
                        "UPDATE session_ends SET reason = ?, detail = ?, ended_ts = ?"
                        " WHERE id = ? AND reason IS NULL",
                        "ssis", reason, short_detail, qvd_now(), id);
    else
        n = qvd_db_exec(db,
                        "UPDATE session_ends SET reason = ?, detail = ?, ended_ts = ?"
                        " WHERE vm_id = ? AND reason IS NULL",
                        "ssii", reason, short_detail, qvd_now(), vm_id);
    return n < 0 ? qvd_model_dbfail(db) : n;
}

int
qvd_model_session_end(struct qvd_db *db, const char *id, const char *reason, const char *detail)
{
    return end_sessions(db, id, 0, reason, detail) < 0 ? -1 : 0;
}

int
qvd_model_vm_sessions_end(struct qvd_db *db, int64_t vm_id, const char *reason, const char *detail)
{
    int64_t n = end_sessions(db, NULL, vm_id, reason, detail);
    return n < 0 ? -1 : (int)n;
}

int
qvd_model_session_end_get(struct qvd_db *db, const char *id, int64_t user_id, char *reason,
                          size_t rlen, char *detail, size_t dlen)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT reason, detail FROM session_ends"
                                       " WHERE id = ? AND user_id = ?",
                                       "si", id, user_id);
    int rc;

    if (st == NULL)
        return qvd_model_dbfail(db);
    rc = qvd_db_step(st);
    if (rc == 1) {
        snprintf(reason, rlen, "%s", qvd_db_text(st, 0) ? qvd_db_text(st, 0) : "");
        snprintf(detail, dlen, "%s", qvd_db_text(st, 1) ? qvd_db_text(st, 1) : "");
    }
    qvd_db_done(st);
    return rc < 0 ? qvd_model_dbfail(db) : rc;
}

int
qvd_model_vm_end_cause(struct qvd_db *db, struct qvd_config *cfg, int64_t vm_id, char *reason,
                       size_t len)
{
    struct qvd_stmt *st;
    int64_t ticker = qvd_config_int(cfg, "hkd.cluster.node.timeout"), now;
    int rc;

    /* heartbeats are written with the database's clock (model_cluster.h) */
    if (qvd_db_clock(db, &now) < 0)
        return qvd_model_dbfail(db);
    st = qvd_db_query(db,
                      "SELECT r.vm_state, r.vm_cmd, r.host_id, h.state, h.ok_ts FROM vm_runtimes r"
                      " LEFT JOIN host_runtimes h ON h.host_id = r.host_id WHERE r.vm_id = ?",
                      "i", vm_id);

    if (st == NULL)
        return qvd_model_dbfail(db);
    rc = qvd_db_step(st);
    if (rc == 1) {
        const char *state = qvd_db_text(st, 0), *cmd = qvd_db_text(st, 1);
        const char *hstate = qvd_db_text(st, 3);
        bool host_gone =
            !qvd_db_is_null(st, 2) && (hstate == NULL || strcmp(hstate, "running") != 0 ||
                                       qvd_db_is_null(st, 4) || now - qvd_db_int(st, 4) > ticker);
        const char *r = NULL;

        /* a stop goes through 'stopping'; a VM that died is cleaned up straight to
         * 'stopped' (or 'zombie') by its node */
        if ((cmd && strcmp(cmd, "stop") == 0) || strcmp(state, "stopping") == 0)
            r = "admin_stop";
        else if (strcmp(state, "running") != 0)
            r = "vm_crashed";
        else if (host_gone)
            r = "node_lost";
        snprintf(reason, len, "%s", r ? r : "");
        rc = r != NULL;
    }
    qvd_db_done(st);
    return rc < 0 ? qvd_model_dbfail(db) : rc;
}

int
qvd_model_session_abort_by(struct qvd_db *db, int64_t vm_id, char *by, size_t len)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT user_cmd, user_cmd_by FROM vm_runtimes"
                                       " WHERE vm_id = ?",
                                       "i", vm_id);
    int rc;

    by[0] = '\0';
    if (st == NULL)
        return qvd_model_dbfail(db);
    rc = qvd_db_step(st);
    if (rc == 1 && qvd_db_text(st, 0) != NULL)
        snprintf(by, len, "%s", qvd_db_text(st, 1) ? qvd_db_text(st, 1) : "admin");
    qvd_db_done(st);
    return rc < 0 ? qvd_model_dbfail(db) : by[0] != '\0';
}

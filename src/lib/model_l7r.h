/* model_l7r.h: what the L7R reads and writes (its node's row, the VMs' user slots, the
 * users' VMs, bearer tokens, counters). The L7R calls these on its worker threads, each
 * with its own database connection (docs/l7r.md "Database workers"); every function is a
 * model function: 0/1 or -1 with qvd_strerror() and qvd_model_errkind(). */
#ifndef QVD_MODEL_L7R_H
#define QVD_MODEL_L7R_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qvd_db;

/* This node's hosts row: 0 when it runs and is not blocked, else -1 with the message for a
 * client's 503 ("Host is not registered in the database", "Server is blocked", ...).
 * *host_id is its id, or -1 when it has none. */
int qvd_model_l7r_host(struct qvd_db *db, const char *nodename, int64_t *host_id);
/* The node's counter `name` (http_requests, auth_attempts, auth_ok, nx_attempts, nx_ok,
 * short_sessions) goes up by n; another name is refused (INVALID). */
int qvd_model_l7r_counter(struct qvd_db *db, int64_t host_id, const char *name, int64_t n);
/* 0 when this connection can read the hosts and write the counters (start-up check). */
int qvd_model_l7r_check_access(struct qvd_db *db);
/* Frees the slots of the node held by another L7R process (crashed): how many, or -1. */
int64_t qvd_model_l7r_release_stale(struct qvd_db *db, int64_t host_id, int64_t pid);
/* Frees the user slot of vm_id if L7R (host_id, pid) holds it. */
int qvd_model_l7r_slot_release(struct qvd_db *db, int64_t host_id, int64_t pid, int64_t vm_id);

/* Who holds a slot. */
struct qvd_model_l7r_holder {
    char state[16];
    int64_t host_id, pid; /* -1: none */
};
/* One attempt of L7R (host_id, pid) at the user slot of vm_id for user_id: 1 taken
 * ('connecting'); 0 another L7R holds it: asked to abort (user_cmd 'abort' by 'takeover')
 * and woken; 2 this L7R holds it itself (the caller ends that session, frees the slot and
 * tries again); -1 error. *held says who held it. */
int qvd_model_l7r_slot_take(struct qvd_db *db, int64_t host_id, int64_t pid, int64_t vm_id,
                            int64_t user_id, struct qvd_model_l7r_holder *held);
/* The slot of L7R (host_id, pid), 'connecting' and not aborted, becomes 'connected':
 * 1, or 0 when it is no longer so (aborted), -1 error. */
int qvd_model_l7r_slot_connected(struct qvd_db *db, int64_t host_id, int64_t pid, int64_t vm_id);
/* The VMs whose slots L7R (host_id, pid) holds and must give up: aborted (user_cmd
 * 'abort'), or connected to a VM that no longer runs. Up to max ids; how many, or -1. */
int qvd_model_l7r_aborted(struct qvd_db *db, int64_t host_id, int64_t pid, int64_t *ids,
                          size_t max);

/* A VM's runtime as a connecting session sees it. */
struct qvd_model_l7r_vm {
    char state[16];   /* vm_state */
    bool cmd;         /* a command (start, stop) is pending */
    bool mine;        /* L7R (host_id, pid) holds the slot, not aborted */
    bool ready;       /* running with an address and a VMA port */
    char *vma_host;   /* when ready: new strings for the caller */
    char *vma_secret; /* "" when none */
    int vma_port;
};
/* 1 with *vm filled, 0 no such VM, -1 error. */
int qvd_model_l7r_vm(struct qvd_db *db, int64_t host_id, int64_t pid, int64_t vm_id,
                     struct qvd_model_l7r_vm *vm);
/* The owner and blocked flag of a VM: 1, 0 no such VM, -1 error. */
int qvd_model_l7r_vm_owner(struct qvd_db *db, int64_t vm_id, int64_t *user_id, bool *blocked);
/* 1 when the VM is stopped with no command pending, else 0 (*state its vm_state), -1. */
int qvd_model_l7r_vm_stopped(struct qvd_db *db, int64_t vm_id, char *state, size_t len);

/* Whether a VM is an application VM (its OSF has is_application): 1 with *command the
 * program it runs (a new string: the property qvd.app.command of the VM, else of the DI it
 * runs, else of its OSF; NULL when none is set), 0 a desktop VM or no such VM, -1 error. */
int qvd_model_l7r_vm_app(struct qvd_db *db, int64_t vm_id, char **command);

/* One of a user's VMs as the client lists it. */
struct qvd_model_l7r_vm_row {
    int64_t id, blocked;
    const char *state, *name;
    bool is_application;
};
/* Calls fn for each VM of user_id (desktops, or applications), by id: 0 or -1. */
int qvd_model_l7r_user_vms(struct qvd_db *db, int64_t user_id, bool applications,
                           void (*fn)(void *arg, const struct qvd_model_l7r_vm_row *r), void *arg);

/* A user that logs in. */
struct qvd_model_l7r_user {
    int64_t id, tenant_id;
    char login[128];
};
/* Fills *u: 1 when the user and its tenant may log in, 0 if not (or no such user), -1. */
int qvd_model_l7r_user(struct qvd_db *db, int64_t id, struct qvd_model_l7r_user *u);
/* The stored password hash of user id (a new string): 1, 0 no such user, -1. */
int qvd_model_l7r_user_hash(struct qvd_db *db, int64_t id, char **hash);
/* Bearer tokens, stored as the hex SHA-256 `key` of the token. A new multi-use token of
 * user_id valid until `expiration`: 0 or -1. */
int qvd_model_l7r_token_add(struct qvd_db *db, const char *key, int64_t user_id,
                            int64_t expiration);
/* The user of token `key` at time now: 1 with *user_id (a single-use token is used up),
 * 0 unknown or expired (an expired one is removed), -1. */
int qvd_model_l7r_token_use(struct qvd_db *db, const char *key, int64_t now, int64_t *user_id);

#endif

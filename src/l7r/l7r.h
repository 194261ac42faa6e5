/* l7r.h: private header of qvd-l7r, the users' TLS front door (one event loop per node). */
#ifndef QVD_L7R_H
#define QVD_L7R_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "hconn.h"

struct bufferevent;
struct event;
struct event_base;
struct evconnlistener;
struct qvd_config;
struct qvd_db;
struct qvd_http_msg;
struct qvd_http_parser;
struct qvd_rpc_call;
struct l7r;
struct l7r_conn;
struct l7r_session;
struct l7r_relay;
struct l7r_ending;
struct qvd_throttle;
struct qvd_workq;

#define L7R_MAX_LISTENERS 8
#define L7R_NCOUNTERS 6 /* the node's counters (work.c) */
/* Stop reading a side of a session while this much waits unsent to the other. */
#define L7R_RELAY_HIGH (256 * 1024)

/* Who a connection authenticated as (cached per connection). */
struct l7r_user {
    int64_t id;
    int64_t tenant_id;
    char login[128]; /* normalised login, without the tenant */
};

/* An authentication back-end. Its checks run on the worker threads (work.c), with the
 * worker's database connection: each returns 1 (authenticated, *u filled), 0 (refused: bad
 * credentials, unknown or blocked user or tenant) or -1 (internal error, message in
 * qvd_strerror()). Later plugins (ldap, pam, auto, totp) fill the same table. */
struct l7r_auth_ops {
    const char *name;
    /* A refusal takes as long as a wrong password, so that the answer time does not tell
     * who exists. */
    int (*authenticate_basic)(struct qvd_db *db, struct qvd_config *cfg, const char *login,
                              const char *password, struct l7r_user *u);
    int (*authenticate_bearer)(struct qvd_db *db, struct qvd_config *cfg, const char *token,
                               struct l7r_user *u);
    /* Optional, on the loop (no database): into key, the one spelling of the user that
     * `login` names (every spelling the back-end would accept for one user gives the same
     * key; an unknown login gets one too), so that failed logins of one user count together
     * however it is spelled. Without it, the login lowercased. */
    void (*login_key)(struct qvd_config *cfg, const char *login, char *key, size_t len);
};

/* Database work handed to the worker threads (work.c). A job is the first member of a
 * bigger structure of its own kind. */
struct l7r_job {
    void (*run)(struct l7r_job *j, struct qvd_db *db); /* on a worker */
    /* On the loop, once run: conn is NULL when the connection ended meanwhile (then only
     * clean up). Frees the job. */
    void (*done)(struct l7r_job *j);
    void (*discard)(struct l7r_job *j); /* at stop, never run or never done; NULL: free */
    struct l7r *l;
    struct l7r_conn *conn; /* the connection waiting for it, or NULL */
    int64_t host_id, pid;  /* this L7R as the loop knew it at the submit */
};
extern const struct l7r_auth_ops l7r_auth_default;

/* The process: configuration, database, listeners and every connection. */
struct l7r {
    struct qvd_config *cfg;
    struct qvd_db *db;
    struct event_base *base;
    SSL_CTX *ssl_ctx; /* NULL with l7r.use_ssl=0 */
    struct evconnlistener *listeners[L7R_MAX_LISTENERS];
    size_t nlisteners;
    struct event *accept_pause; /* accepting paused while out of descriptors */
    struct event *sig_term, *sig_int, *poll_ev, *wake_ev;
    struct event *grace_ev; /* stopping: session endings are still answered until it fires */
    int wake_fd;
    int64_t host_id; /* -1 until the HKD has registered this node */
    char nodename[256];
    pid_t pid;
    bool stopping;
    TAILQ_HEAD(, l7r_conn) conns;
    TAILQ_HEAD(, l7r_ending) endings; /* relays ended, their cause still being learnt */
    size_t nconns;
    uint64_t next_conn_id;
    struct qvd_throttle *throttle;
    int throttle_v6_prefix; /* IPv6 clients are throttled per network of this length */
    const struct l7r_auth_ops *auth;
    struct qvd_workq *pool;    /* database work and password checks, in parallel */
    struct qvd_workq *ordered; /* writes whose order matters, one at a time */
    size_t njobs;              /* submitted, not yet done */
    bool draining;             /* stopped: the loop runs until the jobs are done */
    /* this node's state as last read (l7r_host_refresh): /qvd/ping answers it */
    bool host_ok, host_job;
    char host_msg[256];
    int64_t counts[L7R_NCOUNTERS]; /* counted, not yet written */
    bool counter_job;              /* a write of counts runs */
    bool stale_done;               /* the slots of an earlier L7R were released */
    bool aborts_job, aborts_again; /* l7r_session_check_aborts running, asked again */
    /* timeouts in seconds, from the configuration */
    long t_request, t_idle, t_vm_start, t_vm_stop, t_takeover, t_x_start, t_vma;
    long x_start_retries, max_conns, t_grace;
    long vm_start_poll_ms; /* looks at a VM being started; the HKD's wake-ups come sooner */
};

/* One client connection (TLS or plain), with its HTTP state. */
struct l7r_conn {
    struct qvd_hconn h; /* the HTTP connection: socket, parser, deadlines, peer address */
    TAILQ_ENTRY(l7r_conn) entry;
    struct l7r *l7r;
    bool authed;
    unsigned char auth_hash[32]; /* SHA-256 of the Authorization value that authed */
    struct l7r_user user;
    struct l7r_job *job;      /* database work in progress for it */
    bool host_check;          /* its endpoint needs the node running */
    struct l7r_session *sess; /* connect_to_vm */
    struct l7r_relay *relay;  /* after the upgrade */
    struct event *wait_ev;    /* stop_vm waiting for the VM to stop */
    int64_t wait_vm, wait_deadline_ms;
};

/* main.c */
/* Reads this node's hosts row again on a worker (one read at a time): l->host_id,
 * host_ok and host_msg follow. */
void l7r_host_refresh(struct l7r *l);

/* work.c */
int l7r_work_start(struct l7r *l, int nthreads);
/* Runs j on a worker of the pool (in parallel), or of the ordered queue (in submission
 * order); c (or NULL) waits for it: a connection waits for one job at a time. */
void l7r_work(struct l7r *l, struct l7r_job *j, struct l7r_conn *c);
void l7r_work_ordered(struct l7r *l, struct l7r_job *j, struct l7r_conn *c);
/* Counts on the node's counter: written by one job at a time (ordered queue). */
void l7r_counter(struct l7r *l, const char *column);
/* Frees the user slot of vm_id if this process still holds it (ordered queue). */
void l7r_slot_release(struct l7r *l, int64_t vm_id);
/* Runs the loop until every job is done, for up to secs seconds (shutdown). */
void l7r_work_drain(struct l7r *l, long secs);
void l7r_work_stop(struct l7r *l);

/* conn.c */
void l7r_conn_accept(struct l7r *l, int fd, const struct sockaddr *sa, int salen);
/* Sends a final answer; the connection goes on with the next request when the client
 * allows keep-alive, else it closes after the flush. */
void l7r_conn_reply(struct l7r_conn *c, int status, const char *const *headers, const char *ctype,
                    const char *body, size_t len);
/* Sends an error (text/plain, one line) and closes the connection after the flush. */
void l7r_conn_error(struct l7r_conn *c, int status, const char *const *headers, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
/* Sends "102 Processing" with X-QVD-VM-Info: info. */
void l7r_conn_interim(struct l7r_conn *c, const char *info);
/* Ends a connection now (its session, if any, releases the user slot). */
void l7r_conn_close(struct l7r_conn *c, const char *why);
void l7r_conn_close_all(struct l7r *l);

/* api.c */
/* Handles one complete request head (state BUSY on entry). */
void l7r_api_dispatch(struct l7r_conn *c, const struct qvd_http_msg *m);
/* Goes on with the request once its credentials check (L7R_AUTH_PENDING) said yes. */
void l7r_api_authed(struct l7r_conn *c);

/* auth.c */
#define L7R_AUTH_PENDING 2
/* Authenticates the request: 1 yes (c->user set), 0 answered already (401/429/500), or
 * L7R_AUTH_PENDING: a worker checks the credentials, then l7r_api_authed or an answer. */
int l7r_auth_request(struct l7r_conn *c, const struct qvd_http_msg *m);
/* Base64 (standard alphabet; missing padding tolerated): new NUL-terminated strings. */
char *l7r_b64_decode(const char *in, size_t *outlen);
char *l7r_b64_encode(const void *in, size_t len);
void l7r_sha256(const void *data, size_t len, unsigned char md[32]);

/* auth_default.c */
/* A new multi-use token of the user valid for 24 h (on a worker): *b64 = base64(token)
 * for the client. */
int l7r_token_create(struct qvd_db *db, int64_t user_id, char **b64);

/* params.c: X-QVD-Features of the 101: the desktop features `cfg` has on, as
 * "audio,printing,slave" (those of them that are on; "" when none) into out. */
void l7r_features_of(struct qvd_config *cfg, char *out, size_t len);
/* The same for the configuration a tenant sees (cfg, then the global and the tenant's
 * `configs` rows); a database error falls back on cfg, with a warning. */
void l7r_features(struct qvd_config *cfg, struct qvd_db *db, int64_t tenant_id, char *out,
                  size_t len);
/* params.c: connect_to_vm's parameters. May a client give `key`? */
bool l7r_connect_param_allowed(const char *key);
/* The x_start parameters of a connect_to_vm request m: its own but the id, then the user's
 * login and id and the slave key; a new key, value, ..., NULL list of *n strings. */
char **l7r_x_start_params(const struct qvd_http_msg *m, const char *login, int64_t user_id,
                          const char *slave_key, size_t *n);
/* Appends key=value to the x_start parameters (p, *n strings, NULL-terminated). */
void l7r_x_start_params_add(char ***p, size_t *n, const char *key, const char *value);

/* session.c: connect_to_vm */
void l7r_session_start(struct l7r_conn *c, const struct qvd_http_msg *m, int64_t vm_id);
void l7r_session_free(struct l7r_session *s);
/* Sessions waiting for their VM to start look at it again now (a wake-up came). */
void l7r_session_wake(struct l7r *l);
/* Closes the sessions of this process whose slot carries user_cmd='abort' (read on the
 * ordered queue; one look at a time, another asked meanwhile follows it). */
void l7r_session_check_aborts(struct l7r *l);
/* The connection holding the slot of vm_id in this process, or NULL. */
struct l7r_conn *l7r_session_holder(struct l7r *l, int64_t vm_id);
/* Why the relayed session of c is about to end (a reason code of qvd_model_end_reason_text),
 * when this process knows it; the first reason given stays. */
void l7r_session_set_end(struct l7r_conn *c, const char *reason);
/* The client closed its side of the relay first. */
void l7r_session_client_eof(struct l7r_conn *c);

/* ending.c: why a relay ended, learnt after it did (docs/l7r.md "Session endings"). */
struct l7r_ending_info {
    char id[33];
    int64_t vm_id;
    char *vma_host, *secret; /* taken over by the resolver */
    int vma_port;
    long agent;      /* the VMA's number of the nxagent relayed to (-1 unknown) */
    bool client_eof; /* the client closed first */
};
/* Records why the relay of session info->id ended: from the database (a stop, a VM or
 * node gone), else by asking the VMA how its nxagent ended (x_end), else from who closed. */
void l7r_ending_resolve(struct l7r *l, struct l7r_ending_info *info);
/* Records that session id of vm_id ended for reason (ordered queue). */
void l7r_ending_record(struct l7r *l, int64_t vm_id, const char *id, const char *reason);
/* Abandons the resolutions in progress (shutdown). */
void l7r_ending_free_all(struct l7r *l);

/* relay.c */
/* Relays between the client connection and the VMA stream (owned from now on). */
void l7r_relay_start(struct l7r_conn *c, struct bufferevent *vma);
void l7r_relay_free(struct l7r_conn *c);

#endif

/* model.h: QVD's objects and their rules (tenants, users, OSFs, DIs, tags, VMs, hosts,
 * configs, properties), shared by every front-end (qvd-admin, the L7R, the REST API).
 *
 * Every mutating function validates its input, runs in one transaction (nothing is half
 * applied) and returns 0, or -1 with a message in qvd_strerror() that says what is wrong
 * and what to do, and a kind in qvd_model_errkind() that a REST API maps to a status. */
#ifndef QVD_MODEL_H
#define QVD_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qvd_config;
struct qvd_db;
struct qvd_stmt;

enum qvd_model_errkind {
    QVD_MODEL_OK,
    QVD_MODEL_INVALID,   /* bad input (400) */
    QVD_MODEL_NOT_FOUND, /* a named object does not exist (404) */
    QVD_MODEL_CONFLICT,  /* duplicate, or the object's state forbids it (409) */
    QVD_MODEL_BUSY,      /* the database is locked, or no host can take it: retry (503) */
    QVD_MODEL_INTERNAL,  /* database or system failure (500) */
    QVD_MODEL_FORBIDDEN, /* the caller may not do or see this (403) */
};
/* The kind of the last failure of a qvd_model_ function in this thread. */
enum qvd_model_errkind qvd_model_errkind(void);
const char *qvd_model_errkind_name(enum qvd_model_errkind kind);

/* Reserved tenants: -1 holds what every tenant shares (OSFs, global configs), 0 the
 * superadministrators; neither holds users. */
#define QVD_TENANT_COMMON -1
#define QVD_TENANT_SUPER 0

/* ---- lookups (no transaction; 0 found, -1 NOT_FOUND) ---- */
int qvd_model_tenant_find(struct qvd_db *db, const char *name, int64_t *id);
/* A login "bob@acme" names its tenant; without '@', `tenant` (or, if NULL, the key
 * l7r.auth.plugin.default.tenant) does. Logins compare as model.user.login.case-sensitive. */
int qvd_model_user_find(struct qvd_db *db, struct qvd_config *cfg, const char *login,
                        const char *tenant, int64_t *id);
/* The one spelling of the user that `login` names, for every spelling alike ("DEMO",
 * "demo@default" -> "demo@default"): the login folded as qvd_model_user_find compares it,
 * "@", the tenant it names. Needs no database: an unknown user has a key too. */
void qvd_model_user_key(struct qvd_config *cfg, const char *login, char *out, size_t len);
/* An OSF by name: in `tenant_id` first, then in the common tenant. */
int qvd_model_osf_find(struct qvd_db *db, int64_t tenant_id, const char *name, int64_t *id);
int qvd_model_host_find(struct qvd_db *db, const char *name, int64_t *id);
/* The DI of `osf_id` carrying `tag`: 1 found, 0 none, -1 error. */
int qvd_model_di_by_tag(struct qvd_db *db, int64_t osf_id, const char *tag, int64_t *di_id);

/* ---- listing: the objects are listed through their description (resource.h,
 * qvd_resource_list and qvd_resource_rows); a front-end's simple filter, where id < 0,
 * tenant_id < -1 and NULL strings mean "any" (qvd-admin local's options). */
struct qvd_model_filter {
    int64_t id;
    int64_t tenant_id;
    int64_t osf_id;
    int64_t user_id;
    const char *name;
    int64_t host_id; /* VMs: those assigned to the host */
};
#define QVD_MODEL_FILTER_ANY                                                                       \
    {                                                                                              \
        -1, -2, -1, -1, NULL, -1                                                                   \
    }
/* configs rows of one tenant (-1 global), or of all tenants when tenant_id < -1 */
struct qvd_stmt *qvd_model_config_list(struct qvd_db *db, int64_t tenant_id, const char *key);
struct qvd_stmt *qvd_model_prop_list(struct qvd_db *db, const char *object, int64_t object_id);

/* ---- tenants ---- */
int qvd_model_tenant_add(struct qvd_db *db, struct qvd_config *cfg, const char *name,
                         const char *description, int64_t *id);
/* NULL / -1 leave a field unchanged. */
int qvd_model_tenant_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *name,
                         const char *description, int blocked);
/* Refused while the tenant holds users or OSFs; its configs and properties go with it. */
int qvd_model_tenant_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id);

/* ---- users ---- */
/* A login (new or renamed) is refused (INVALID) when it names a system account: root,
 * daemon, www-data, systemd-*, ... or one of model.user.login.reserved, in any case. */
int qvd_model_user_add(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant_id,
                       const char *login, const char *password, const char *description,
                       int64_t *id);
int qvd_model_user_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *login,
                       const char *description, const char *language, int blocked);
int qvd_model_user_passwd(struct qvd_db *db, struct qvd_config *cfg, int64_t id,
                          const char *password);
/* Checks a login's password: 1 good (and the user not blocked), 0 bad, -1 error. */
int qvd_model_user_check_password(struct qvd_db *db, int64_t id, const char *password);
/* Refused while the user owns VMs. */
int qvd_model_user_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id);

/* ---- OSFs: -1 (or NULL) fields take osf.default.* on add and stay unchanged on set ---- */
struct qvd_model_osf {
    const char *name;
    const char *description;
    long memory;            /* MiB */
    int use_overlay;        /* 0/1 */
    long user_storage_size; /* MiB, 0 = no persistent user storage */
    int is_application;     /* 0/1 */
};
#define QVD_MODEL_OSF_UNSET                                                                        \
    {                                                                                              \
        NULL, NULL, -1, -1, -1, -1                                                                 \
    }
int qvd_model_osf_add(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant_id,
                      const struct qvd_model_osf *o, int64_t *id);
int qvd_model_osf_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id,
                      const struct qvd_model_osf *o);
/* Refused while VMs use the OSF or it has DIs. */
int qvd_model_osf_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id);

/* ---- DIs and tags ---- */
/* Imports a DI: `src` is a directory or a .tar, .tar.gz/.tgz, .tar.xz/.txz, .tar.zst or
 * .tar.bz2 file. The dis row is created (di_runtimes 'uploading', no tags), `src` is copied
 * to path.storage.images/<id>-<basename> (dis.path = "<id>-<basename>"), then in a second
 * transaction the DI is published: fixed tag = version, `head` moved to it, and `default`
 * if the OSF had none. If the copy fails the row and any partial copy are removed.
 * `version` NULL gives YYYY-MM-DD-NNN (UTC, first free NNN for the OSF that day). */
int qvd_model_di_add(struct qvd_db *db, struct qvd_config *cfg, int64_t osf_id, const char *src,
                     const char *version, const char *description, int64_t *id);
int qvd_model_di_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *description,
                     int blocked);
/* Tags a DI; the tag is moved from the DI of the same OSF that held it. Fixed tags never
 * move; tagging a DI with its own tag is a no-op. */
int qvd_model_di_tag(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *tag);
/* Removes a custom tag. Fixed tags, `head` and `default` cannot be removed, nor a tag that
 * VMs boot from. */
int qvd_model_di_untag(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *tag);
/* Deletes a DI and its file. `head`/`default` move to the newest remaining DI of the OSF.
 * Refused if a running VM uses it or a VM's tag would no longer resolve. */
int qvd_model_di_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id);
/* Publishes a 'ready' DI (tags as on import); a published DI is left as it is. */
int qvd_model_di_publish(struct qvd_db *db, struct qvd_config *cfg, int64_t id);
/* The version for a new DI of `osf_id` on the UTC day of `now`: out[15]. */
int qvd_model_di_next_version(struct qvd_db *db, int64_t osf_id, int64_t now, char out[16]);

/* ---- VMs ---- */
struct qvd_model_vm {
    const char *name;
    int64_t user_id;
    int64_t osf_id;
    const char *di_tag; /* NULL: "default" */
    const char *description;
};
/* Creates a VM with its runtime and counters rows and a free IP/MAC. The user and the OSF
 * must be in the same tenant, or the OSF in the common tenant; the tag must exist. */
int qvd_model_vm_add(struct qvd_db *db, struct qvd_config *cfg, const struct qvd_model_vm *v,
                     int64_t *id);
/* NULL leaves a field unchanged; a new di_tag must exist on a DI of the VM's OSF. */
int qvd_model_vm_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *name,
                     const char *di_tag, const char *description);
/* Refused unless the VM is stopped with no pending command. */
int qvd_model_vm_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id);
/* Asks the cluster to start a stopped VM: refuses a blocked VM, one whose tag does not name
 * an unblocked published DI of its OSF, or one not stopped (or with a command pending);
 * picks a host with the load balancer among backend hosts whose HKD runs, is unblocked and
 * sent a heartbeat within hkd.ticker.timeout; sets vm_cmd='start' and host_id, then after
 * the commit wakes that host's HKD (channel QVD_CHAN_VM_CMD). *host_id (if not NULL) gets
 * the host. No host: QVD_MODEL_BUSY. */
int qvd_model_vm_start(struct qvd_db *db, struct qvd_config *cfg, int64_t id, int64_t *host_id);
/* Asks the HKD to stop a starting/running/debugging VM (vm_cmd='stop' + wake-up); a start
 * that no HKD has taken yet is cancelled instead. Refused for a stopped VM. */
int qvd_model_vm_stop(struct qvd_db *db, struct qvd_config *cfg, int64_t id);
int qvd_model_vm_block(struct qvd_db *db, struct qvd_config *cfg, int64_t id, bool blocked);
/* Asks the L7R holding the VM's user session to end it (user_cmd 'abort' by 'admin');
 * refused when no user is connected. */
int qvd_model_vm_disconnect(struct qvd_db *db, struct qvd_config *cfg, int64_t id);
/* Wakes the L7R of node `host`. It listens on one channel: for user commands, and for
 * changes of the VMs whose sessions it holds. */
void qvd_model_l7r_wake(struct qvd_db *db, int64_t host);
/* Wakes the L7R that holds the VM's user slot, if any, after a change of the VM's state:
 * a session waiting for the VM to start goes on at once. Best effort: the L7R also polls. */
void qvd_model_vm_wake_l7r(struct qvd_db *db, int64_t id);

/* ---- session endings (model_session.c, docs/l7r.md) ---- */
/* The sentence for a reason code (admin_stop, admin_disconnect, takeover, vm_crashed,
 * node_lost, server_shutdown, session_crashed, connection_lost, client_closed, logout), or
 * NULL for a code that is none of them. */
const char *qvd_model_end_reason_text(const char *reason);
/* A relayed session `id` of the user on the VM begins (rows older than two days go). */
int qvd_model_session_begin(struct qvd_db *db, const char *id, int64_t user_id, int64_t vm_id);
/* Records why session `id` ended, unless a reason is there already: the first who knows
 * wins (the node that saw the VM go, before the L7R that only saw its stream end). */
int qvd_model_session_end(struct qvd_db *db, const char *id, const char *reason,
                          const char *detail);
/* The same for every session of VM vm_id that has no reason yet; returns how many, or -1. */
int qvd_model_vm_sessions_end(struct qvd_db *db, int64_t vm_id, const char *reason,
                              const char *detail);
/* The ending of session `id` if it is a session of user_id: 1 (reason "" while unknown),
 * 0 no such session of this user, -1 error. */
int qvd_model_session_end_get(struct qvd_db *db, const char *id, int64_t user_id, char *reason,
                              size_t rlen, char *detail, size_t dlen);
/* What the database tells of a VM whose session stream just ended: 1 with *reason
 * admin_stop (stop command or stopping), vm_crashed (not running without a stop) or
 * node_lost (its node's heartbeat is older than hkd.ticker.timeout, or it is not running);
 * 0 when the VM runs as far as the database knows; -1 error. */
int qvd_model_vm_end_cause(struct qvd_db *db, struct qvd_config *cfg, int64_t vm_id, char *reason,
                           size_t len);
/* Who asked the VM's session to end (user_cmd 'abort'): 1 with *by "takeover" or "admin"
 * (an abort without a name: QVD's tools, an administrator); 0 none asked; -1 error. */
int qvd_model_session_abort_by(struct qvd_db *db, int64_t vm_id, char *by, size_t len);

/* ---- hosts ---- */
int qvd_model_host_add(struct qvd_db *db, struct qvd_config *cfg, const char *name,
                       const char *address, const char *description, int64_t *id);
/* NULL / -1 leave a field unchanged. */
int qvd_model_host_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *name,
                       const char *address, const char *description, int frontend, int backend);
int qvd_model_host_block(struct qvd_db *db, struct qvd_config *cfg, int64_t id, bool blocked);
/* Refused while VMs are assigned to the host or its HKD runs. */
int qvd_model_host_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id);
/* The host's VM subnet (model_host.c): '' (none) or a.b.c.d/n with only network bits set,
 * n the prefix length of vm.network.netmask, outside the cluster's VM network
 * (vm.network.ip.start/netmask) and every other host's subnet. */
int qvd_model_host_subnet(struct qvd_db *db, struct qvd_config *cfg, int64_t id,
                          const char *subnet);
/* `host evacuate`: blocks the host, asks the L7Rs to end the sessions of its VMs (user_cmd
 * 'abort' by 'admin', as qvd_model_vm_disconnect) and its HKD to stop them (a start no HKD
 * took yet is cancelled), so that each user's next login starts their VM on another node.
 * *moved: the VMs asked to leave. Refused (CONFLICT) when the host has VMs and no other
 * backend host runs unblocked, unless `force`. */
int qvd_model_host_evacuate(struct qvd_db *db, struct qvd_config *cfg, int64_t id, bool force,
                            int64_t *moved);

/* ---- configs (tenant -1 = global) and properties ---- */
/* Keys must be in the built-in defaults table; notifies "qvd_config_changed". */
int qvd_model_config_set(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant_id,
                         const char *key, const char *value);
int qvd_model_config_del(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant_id,
                         const char *key);
/* object: user, vm, host, osf, di, tenant; the object must exist. */
int qvd_model_prop_set(struct qvd_db *db, struct qvd_config *cfg, const char *object,
                       int64_t object_id, const char *key, const char *value);
int qvd_model_prop_del(struct qvd_db *db, struct qvd_config *cfg, const char *object,
                       int64_t object_id, const char *key);

/* ---- administrators and roles ----
 * Administrators belong to a tenant (QVD_TENANT_SUPER: superadministrators). Roles belong to
 * a tenant or to the common one (built-in, fixed roles live there). An administrator may
 * hold roles of its tenant and of the common tenant; a role may inherit roles of its tenant
 * and of the common tenant, never in a cycle. Fixed roles cannot be changed. */
int qvd_model_admin_add(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant_id,
                        const char *name, const char *password, const char *description,
                        int64_t *id);
/* NULL / -1 leave a field unchanged. */
int qvd_model_admin_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *name,
                        const char *description, int blocked);
int qvd_model_admin_passwd(struct qvd_db *db, struct qvd_config *cfg, int64_t id,
                           const char *password);
/* Its sessions go with it. */
int qvd_model_admin_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id);
/* "name@tenant", or name and tenant apart (tenant "*" for superadministrators). */
int qvd_model_admin_find(struct qvd_db *db, const char *login, const char *tenant, int64_t *id);
/* The one spelling of the administrator that login and tenant name, as qvd_model_admin_find
 * reads them ("ann@acme" alone or "ann" with tenant "acme" -> "ann@acme"). No database. */
void qvd_model_admin_key(const char *login, const char *tenant, char *out, size_t len);
int qvd_model_admin_assign(struct qvd_db *db, struct qvd_config *cfg, int64_t admin_id,
                           int64_t role_id, bool assign);
int qvd_model_role_add(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant_id,
                       const char *name, const char *description, int64_t *id);
int qvd_model_role_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *name,
                       const char *description);
int qvd_model_role_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id);
/* A role by name: in `tenant_id` first, then in the common tenant. */
int qvd_model_role_find(struct qvd_db *db, int64_t tenant_id, const char *name, int64_t *id);
/* Grants an ACL pattern (acl.h) to a role, positive or as a negation; a pattern that names
 * no ACL is refused. Granting again replaces the sign. */
int qvd_model_role_grant(struct qvd_db *db, struct qvd_config *cfg, int64_t role_id,
                         const char *acl, bool positive);
int qvd_model_role_revoke(struct qvd_db *db, struct qvd_config *cfg, int64_t role_id,
                          const char *acl);
int qvd_model_role_inherit(struct qvd_db *db, struct qvd_config *cfg, int64_t role_id,
                           int64_t inherited_id, bool inherit);

/* ---- administrator sessions ---- */
struct qvd_model_admin_session {
    int64_t admin_id, tenant_id, expires;
    char name[65], tenant[65];
};
/* Checks an administrator's password and opens a session: 1 with token[44] (base64url, NUL
 * terminated) and *s filled, 0 wrong credentials (unknown, blocked, blocked tenant or bad
 * password), -1 error. The session lasts api.session.timeout seconds after its last use. */
int qvd_model_admin_login(struct qvd_db *db, struct qvd_config *cfg, const char *login,
                          const char *tenant, const char *password, const char *ip, char token[44],
                          struct qvd_model_admin_session *s);
enum qvd_model_session_state {
    QVD_SESSION_ERROR = -1,
    QVD_SESSION_UNKNOWN = 0,
    QVD_SESSION_VALID = 1,
    QVD_SESSION_EXPIRED = 2,
};
/* Looks a token up; a valid session's life is extended. Expired sessions are removed. */
enum qvd_model_session_state qvd_model_admin_session(struct qvd_db *db, struct qvd_config *cfg,
                                                     const char *token,
                                                     struct qvd_model_admin_session *s);
int qvd_model_admin_logout(struct qvd_db *db, const char *token);

/* ---- audit log ---- */
struct qvd_model_audit {
    int64_t admin_id;  /* -1: none (a failed login) */
    const char *admin; /* name as given */
    int64_t tenant_id; /* -2: none */
    const char *tenant;
    const char *action; /* "vm.start", "login", ... */
    const char *object; /* "vm" or NULL */
    int64_t object_id;  /* -1: none */
    const char *object_name;
    const char *arguments; /* JSON text, secrets removed */
    int status;            /* HTTP status of the answer */
    const char *message;
    const char *source; /* "api", "cli", "local" */
    const char *ip;
};
int qvd_model_audit(struct qvd_db *db, const struct qvd_model_audit *a);

/* ---- pure helpers (unit-tested) ---- */
/* The VM network from vm.network.ip.start and vm.network.netmask: VMs take first..last
 * (ip.start .. broadcast-1), hosts live in network+1 .. ip.start-1. Host byte order. */
struct qvd_model_net {
    uint32_t network, broadcast, first, last;
};
int qvd_model_net_parse(const char *ip_start, const char *netmask, struct qvd_model_net *net);
/* The highest address of first..last not in `used` (sorted ascending): 0 or -1 (full). */
int qvd_model_ip_pick(const struct qvd_model_net *net, const uint32_t *used, size_t n,
                      uint32_t *ip);
int qvd_model_ip_parse(const char *s, uint32_t *ip);
/* "a.b.c.d/n" with only network bits set: its network and n (1..32), or -1 INVALID. */
int qvd_model_cidr_parse(const char *s, uint32_t *network, int *prefix);
void qvd_model_ip_format(uint32_t ip, char out[16]);
/* prefix "54:52:00" + the last three octets of ip in lowercase hex: out[18]. */
int qvd_model_mac(const char *prefix, uint32_t ip, char out[18]);
/* QVD's default load-balancer score of a host; `rnd` is uniform in [0, 1). */
double qvd_model_lb_score(int64_t usable_ram, int64_t usable_cpu, int64_t assigned_vms,
                          double w_ram, double w_cpu, double w_random, double rnd);
/* Tag syntax: 1..128 printable characters without spaces. */
bool qvd_model_tag_valid(const char *tag);

#endif

/* hkd.h: private header of qvd-hkd, the node daemon: host registration and heartbeat, the
 * VM state machine, hypervisor back-ends (ops tables), storage and VM network. */
#ifndef QVD_HKD_H
#define QVD_HKD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

#include "util.h"

struct qvd_config;
struct qvd_db;
struct hkd_vm;
struct qvd_model_hkd_vm;
struct qvd_model_hkd_peer;
struct qvd_workq;

/* VM life cycle, as written to vm_runtimes.vm_state (sub-steps are only in memory). */
enum vm_step {
    VM_LOADING,           /* its row is being read and prepared (a database call is out) */
    VM_STARTING_FS,       /* preparing the root file system (may unpack the DI) */
    VM_STARTING_SETUP,    /* config, network, container start */
    VM_STARTING_VMA,      /* container up, waiting for the VMA to answer */
    VM_RUNNING,           /* VMA answering; pinged periodically */
    VM_STOPPING_POWEROFF, /* asked the VMA to power off, waiting for the container to end */
    VM_STOPPING_CLEANUP,  /* container gone or killed: undo network, mounts, files */
    VM_ZOMBIE,            /* cleanup failed: retried periodically */
    VM_ADOPTING,          /* left running by a previous run of the HKD: its VMA is asked */
};

/* Everything known about one VM while this node handles it. */
struct hkd_vm {
    int64_t id;
    uint64_t serial; /* unique in this run: a late result finds the VM it was for */
    bool db_busy;    /* a database call the machine waits for is out */
    char name[80];
    char login[80];
    int64_t user_id, osf_id, di_id;
    char ip[16], mac[18];
    char di_path[4096]; /* relative to path.storage.images */
    int memory_mb;
    bool use_overlay;
    int64_t user_storage_mb;
    char secret[65];   /* per start, hex; wiped when the VM stops */
    char rootfs[4096]; /* mount point of the VM's root file system */
    enum vm_step step;
    bool stop_requested;      /* stop arrived while starting */
    int64_t step_deadline_ms; /* monotonic deadline of the current step */
    int ping_failures;
    bool ping_in_flight;
    bool save_running_again; /* recording it running failed for want of a database */
    int64_t started_ms;      /* when the start command was taken */
    pid_t unpack_pid;        /* DI unpack child, or 0 */
    int unpack_fd;           /* pidfd of that child */
    struct event *unpack_ev;
    struct event *timer;
    struct hkd *hkd;
    struct hkd_vm *next;
};

/* A hypervisor back-end. Every function returns 0/-1 with qvd_seterr(). cleanup() must be
 * idempotent and work from nothing but the VM id (zombies of a previous run). */
struct hkd_hv_ops {
    const char *name;
    bool simulated; /* `nothing`: no image, no network, no agent to ping */
    int (*init)(struct hkd *hkd);
    int (*start)(struct hkd *hkd, struct hkd_vm *vm);
    bool (*is_running)(struct hkd *hkd, int64_t vm_id);
    pid_t (*init_pid)(struct hkd *hkd, int64_t vm_id);
    int (*kill)(struct hkd *hkd, int64_t vm_id);
    int (*cleanup)(struct hkd *hkd, int64_t vm_id);
    /* Ids of the VMs this back-end finds on the node (for sweeping strays); may be NULL. */
    int (*list)(struct hkd *hkd, int64_t **ids, size_t *n);
};
extern const struct hkd_hv_ops hkd_hv_lxc;
extern const struct hkd_hv_ops hkd_hv_nothing;

struct hkd {
    struct qvd_config *cfg;
    struct qvd_db *db;
    struct event_base *base;
    const struct hkd_hv_ops *hv;
    int64_t host_id;
    char host_address[16]; /* the node's address on its bridge (the VMs' gateway) */
    char node_address[64]; /* hosts.address: where the other nodes reach this one */
    char vm_subnet[64];    /* hosts.vm_subnet, "" for none (VMs at their vms.ip) */
    /* the address plan (network.c): a VM runs at (vms.ip & ~subnet_mask) | subnet_net;
     * both 0 without a VM subnet */
    uint32_t subnet_net, subnet_mask;
    char gateway[16];   /* vm.network.gateway in the node's subnet, "" for the bridge's */
    char lan_iface[16]; /* the interface that carries node.address, "" for none */
    char nodename[256];
    char lxcpath[4096];
    char seccomp_path[4200]; /* the containers' seccomp policy, written at start-up */
    char vma_copy[4200];     /* the copy of path.vma.binary that VMs run */
    int lock_fd;
    int wake_fd;
    int priv_fd; /* engine: the channel to the root parent (priv.c) */
    struct event *priv_ev;
    struct event *wake_ev, *poll_ev, *tick_ev, *sig_term, *sig_int, *sig_chld;
    struct event *fence_ev; /* fires hkd.ticker.timeout s after the last heartbeat */
    int64_t tick_sent_ms;   /* when the last heartbeat went to the worker */
    bool stopping;
    bool clustered;   /* another backend host was in `hosts` at the last heartbeat (PG) */
    bool fenced;      /* VMs killed for want of a heartbeat; no starts until it rejoins */
    bool rejoin_busy; /* the rejoin's database call is out */
    struct hkd_vm *vms;
    uint64_t next_serial;
    struct qvd_workq *dbq; /* dbq.c: the database worker */
    long jobs;             /* database calls out */
    bool poll_busy, poll_again, tick_busy;
    /* cluster.c: since when the heartbeats succeed one after the other (0: the last one
     * failed), the last success, and whether a look for lost nodes is out */
    int64_t cluster_ok_since_ms, cluster_last_ok_ms;
    bool cluster_busy;
};

/* dbq.c: a database call for the worker. run() (on the worker, with its connection)
 * returns 0 or -1 with qvd_strerror(); done() (on the loop; NULL: a failure is logged)
 * gets rc, err and kind back. The fields between are the calls' inputs and outputs. */
struct hkd_job {
    int (*run)(struct qvd_db *db, struct hkd_job *j);
    void (*done)(struct hkd *hkd, struct hkd_job *j);
    int64_t host_id, vm_id;
    uint64_t vm_serial;
    int rc;
    int kind; /* enum qvd_model_errkind of a failure */
    char err[512];
    const char *state;   /* a state to write (a constant) */
    int64_t pid, value;  /* pid to write; value: slots, or a result */
    int64_t count;       /* a count read (the heartbeat: other backend hosts) */
    int64_t *ids, *ids2; /* ids taken (stops, starts); freed with the job */
    size_t nids, nids2;
    int64_t released[64];
    size_t nreleased;
    char secret[65];
    int64_t vma_port, x_port;
    uint32_t subnet_net, subnet_mask; /* the node's address plan, for the loaded row */
    struct qvd_model_hkd_vm *row;     /* a loaded row, freed with the job */
    struct qvd_model_hkd_peer *peers; /* the other hosts (routes.c), freed with the job */
    size_t npeers;
    struct qvd_config *cfg; /* for a model call that needs it (never changed at run time) */
    const char *name;       /* the node's name (lives as long as the hkd) */
    struct qvd_buf text;    /* lines a call wrote, freed with the job */
};
int hkd_db_start(struct hkd *hkd);
void hkd_db_stop(struct hkd *hkd);
struct hkd_job *hkd_job_new(int (*run)(struct qvd_db *db, struct hkd_job *j),
                            void (*done)(struct hkd *hkd, struct hkd_job *j),
                            const struct hkd_vm *vm);
void hkd_db_submit(struct hkd *hkd, struct hkd_job *j);
/* The VM a job was for, if it is still the same VM; else NULL (a late result). */
struct hkd_vm *hkd_job_vm(struct hkd *hkd, const struct hkd_job *j);
/* Ends the loop when the node stops and nothing is left to do. */
void hkd_maybe_exit(struct hkd *hkd);

/* host.c */
int hkd_host_register(struct hkd *hkd);
int hkd_host_set_state(struct hkd *hkd, const char *state);
void hkd_host_tick(struct hkd *hkd);
void hkd_host_tick_due(struct hkd *hkd); /* a heartbeat if one is due (between long calls) */
/* main.c: listens for VM command wake-ups on the loop's connection (again after it was
 * lost: call it only when the database answers, the connect runs on the loop). */
int hkd_wake_listen(struct hkd *hkd);
/* Arms the self-fence (after the first heartbeat). */
void hkd_host_fence_arm(struct hkd *hkd);
/* At start-up: the self-fence must end before another node may declare this one lost. */
int hkd_host_check_fence(struct hkd *hkd);
void hkd_host_clean_l7r_zombies(struct hkd *hkd);

/* cluster.c: after each heartbeat (ok: it succeeded), the look for lost nodes once the
 * heartbeats have succeeded for hkd.cluster.node.timeout */
void hkd_cluster_ticked(struct hkd *hkd, bool ok);

/* vm.c */
void hkd_vm_poll_commands(struct hkd *hkd);
/* At start-up: adopts the VMs a previous run left healthy, reaps the others (0, or -1 when
 * some are left zombie and retried). */
int hkd_vm_adopt_or_reap(struct hkd *hkd);
void hkd_vm_stop_all(struct hkd *hkd);
/* Self-fence: every VM of the node is killed now (no poweroff) and cleaned up; their rows
 * are cleared when the database answers (a row another node took is not written). */
void hkd_vm_kill_all(struct hkd *hkd);
/* A row of this node that no VM in memory stands for: cleaned up and cleared to stopped. */
void hkd_vm_reap(struct hkd *hkd, int64_t id, const char *why);
/* Containers of the hypervisor that no VM in memory stands for: removed. */
void hkd_vm_sweep_strays(struct hkd *hkd);
struct hkd_vm *hkd_vm_find(struct hkd *hkd, int64_t id);
void hkd_vm_stop(struct hkd_vm *vm);

/* vma.c: talks to the VMA of a VM */
void hkd_vma_ping(struct hkd_vm *vm, void (*done)(struct hkd_vm *vm, bool alive));
void hkd_vma_poweroff(struct hkd_vm *vm);
int hkd_vma_write_files(struct hkd *hkd, struct hkd_vm *vm);
void hkd_vma_remove_files(struct hkd *hkd, int64_t vm_id);
/* Gives the per-VM files the engine wrote to the VM's root (the parent, at start). */
int hkd_vma_give_files(struct hkd *hkd, int64_t vm_id);
char *hkd_vma_dir(struct hkd *hkd, int64_t vm_id);
char *hkd_vma_log_dir(struct hkd *hkd, int64_t vm_id);

/* storage.c */
int hkd_storage_init(struct hkd *hkd);
/* Starts preparing the base image of vm; returns 1 when ready, 0 when an unpack child runs
 * (vm->unpack_pid set; call again when it exits), -1 on error. */
int hkd_storage_base(struct hkd *hkd, struct hkd_vm *vm);
/* Finishes what hkd_storage_base started once its child has exited (ok: status 0). */
int hkd_storage_unpacked(struct hkd *hkd, struct hkd_vm *vm, bool ok);
/* The VM's root file system on vm->rootfs, with its home (if its OSF has user storage). */
int hkd_storage_mount(struct hkd *hkd, struct hkd_vm *vm);
int hkd_storage_cleanup(struct hkd *hkd, int64_t vm_id);
char *hkd_storage_basefs(struct hkd *hkd, const char *di_path);

/* network.c */
/* Checks node.address and vm.network.subnet as configured (before they are registered). */
int hkd_net_check_keys(struct hkd *hkd);
/* The address plan from the registered row: subnet bits, bridge address, gateway. */
int hkd_net_plan(struct hkd *hkd);
/* Where a VM whose vms.ip is `ip` runs on a node with this plan: 0, or -1 (bad ip). */
int hkd_net_vm_address(uint32_t net, uint32_t mask, const char *ip, char *out, size_t len);
/* Parses a.b.c.d/len with no host bit set: 0, or -1 with qvd_seterr(). */
int hkd_net_parse_subnet(const char *s, uint32_t *net, int *plen);
int hkd_net_init(struct hkd *hkd);
int hkd_net_prefix_len(struct hkd *hkd);
const char *hkd_net_gateway(struct hkd *hkd);
int hkd_net_cleanup(struct hkd *hkd, int64_t vm_id);
void hkd_net_neighbour(struct hkd *hkd, const struct hkd_vm *vm);
void hkd_net_veth_name(struct hkd *hkd, int64_t vm_id, char *out, size_t len);
int hkd_net_default_host_address(struct hkd *hkd, char *out, size_t len);

/* routes.c: one route `<peer vm_subnet> via <peer address> proto HKD_RT_PROTO` per other
 * host with a subnet, in step with the hosts table (checked at every heartbeat). */
/* not one of the kernel's RTPROT_* nor iproute2's rt_protos (187 is IS-IS: a node running
 * FRR would have its routes taken for ours) */
#define HKD_RT_PROTO 77
void hkd_routes_tick(struct hkd *hkd);
/* The parent's side (priv.c): checked against the node's plan, then applied, with the
 * firewall's peer sets (a route's peer may reach the VMs' VMA and X ports). route_del
 * removes only a route of ours (our protocol), and succeeds when there is none. */
int hkd_net_route_set(struct hkd *hkd, const char *subnet, const char *via);
int hkd_net_route_del(struct hkd *hkd, const char *subnet);

/* userns.c: each VM's range of host ids (container root = the first) */
int hkd_userns_range(struct hkd *hkd, int64_t vm_id, uint32_t *base, uint32_t *size);
/* Gives path to id inside_id of the VM (host id: the VM's base + inside_id). */
int hkd_userns_chown(struct hkd *hkd, int64_t vm_id, const char *path, uint32_t inside_id);
/* Whether path's owner lies in the VM's range. */
bool hkd_userns_owns(struct hkd *hkd, int64_t vm_id, const char *path);
/* 0 if every folder on the way to path lets others through (and, with need_read, path
 * itself is readable and executable by others); else -1 with the chmod that fixes it. */
int hkd_userns_reachable(const char *path, bool need_read);
/* Mounts src on dst with its owners shifted into the VM's range (0 on disk is the VM's
 * root): how VMs share one read-only image without a copy or a chown per VM. */
int hkd_userns_mount(struct hkd *hkd, int64_t vm_id, const char *src, const char *dst, bool rdonly);

/* firewall.c: the nftables firewall of the VM network (see the file's header). Each returns
 * 0/-1 with qvd_seterr(); with a simulated hypervisor they do nothing. hkd_fw_init rebuilds
 * the tables from scratch (the HKD must not start without them); hkd_fw_vm_add lets a
 * started VM's port send with the VM's own MAC and address; hkd_fw_vm_del removes its
 * entries from nothing but its id, and succeeds when there are none. */
int hkd_fw_init(struct hkd *hkd);
void hkd_fw_fini(struct hkd *hkd);
int hkd_fw_vm_add(struct hkd *hkd, const struct hkd_vm *vm);
int hkd_fw_vm_del(struct hkd *hkd, int64_t vm_id);
/* A peer node (its address, its VM subnet) enters or leaves the firewall's peer sets: its
 * address may reach the VMs' VMA and X ports; VMs may open nothing towards either. */
int hkd_fw_peer(struct hkd *hkd, const char *subnet, const char *via, bool add);

/* priv.c: the root parent. hkd_priv_prepare() (as root, before the fork) gives the
 * engine's user the folders it writes; hkd_priv_fork() returns 0 in the engine, never in
 * the parent (which serves the engine and exits with it), -1 if it cannot fork. */
int hkd_priv_prepare(struct hkd *hkd);
int hkd_priv_fork(struct hkd *hkd);
void hkd_priv_rootfs(struct hkd *hkd, int64_t vm_id, char *out, size_t len);

/* priv_engine.c: the engine's privileged calls, each one request to the parent, with the
 * contract of the function the parent calls (hv ops, hkd_storage_*, hkd_net_cleanup).
 * hkd_priv_cleanup() = hv cleanup + network + mounts of a VM. */
int hkd_priv_start(struct hkd_vm *vm);
bool hkd_priv_is_running(struct hkd *hkd, int64_t vm_id);
pid_t hkd_priv_init_pid(struct hkd *hkd, int64_t vm_id);
int hkd_priv_kill(struct hkd *hkd, int64_t vm_id);
int hkd_priv_cleanup(struct hkd *hkd, int64_t vm_id);
int hkd_priv_base(struct hkd_vm *vm); /* hkd_storage_base; the unpack child's pidfd too */
int hkd_priv_unpacked(struct hkd_vm *vm);
int hkd_priv_mount(struct hkd_vm *vm);
int hkd_priv_fw_add(struct hkd_vm *vm); /* an adopted VM's firewall entries */
int hkd_priv_list(struct hkd *hkd, int64_t **ids, size_t *n);
int hkd_priv_route_set(struct hkd *hkd, const char *subnet, const char *via);
int hkd_priv_route_del(struct hkd *hkd, const char *subnet);
/* Exits the engine when the parent goes (EOF on the channel). */
void hkd_priv_watch(struct hkd *hkd);

/* run.c: runs a helper command synchronously (argv, no shell), capturing stderr. */
int hkd_run(char *const argv[]);

#endif

/* model_hkd.h: the node's part of the model, what qvd-hkd reads and writes: its host row
 * (registration, state, heartbeat, host commands), the VM commands it takes, and each VM's
 * runtime row through the VM state machine (see docs/hkd.md):
 *
 *   stopped --take_starts--> starting --running--> running
 *   starting|running|debugging --stopping--> stopping
 *   any but stopped --zombie--> zombie;  any --stopped--> stopped (row cleared)
 *
 * A node writes only the rows of VMs assigned to it (vm_runtimes.host_id), and only along
 * these transitions: a write that finds the row elsewhere (another state, another host)
 * changes nothing and fails with CONFLICT, so that a result the HKD computed from a stale
 * view never lands. Every function returns 0 (or what it says), or -1 with qvd_strerror()
 * and qvd_model_errkind(). Each runs in one transaction; none needs the node's config, so
 * any thread with its own connection may call them. */
#ifndef QVD_MODEL_HKD_H
#define QVD_MODEL_HKD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qvd_db;

/* ---- the host ---- */

/* What a node registers at each start (qvd_model_hkd_register). */
struct qvd_model_hkd_reg {
    const char *address;     /* node.address: written at every start; NULL: the row's stays */
    const char *new_address; /* a new host's address when address is NULL (NULL: none could
                              * be made, and a new host fails) */
    const char *vm_subnet;   /* vm.network.subnet: written when not NULL or ""; else the
                              * row's stays */
    int64_t usable_cpu, usable_ram;
};
/* The row a node runs with. */
struct qvd_model_hkd_host {
    int64_t id;
    char address[64];   /* hosts.address */
    char vm_subnet[64]; /* hosts.vm_subnet, "" for none */
};
/* Registers host `name` (new or known) and records its usable resources; an address or VM
 * subnet that another host has is refused (QVD_MODEL_INVALID). */
int qvd_model_hkd_register(struct qvd_db *db, const char *name, const struct qvd_model_hkd_reg *in,
                           struct qvd_model_hkd_host *out);
/* Every other host (the peers whose VM subnets a node routes to), by id: *out (free()) */
struct qvd_model_hkd_peer {
    int64_t id;
    char name[72];
    char address[64];
    char vm_subnet[64];
    char state[16]; /* host_runtimes.state, "stopped" without a row */
};
int qvd_model_hkd_peers(struct qvd_db *db, int64_t host_id, struct qvd_model_hkd_peer **out,
                        size_t *n);
/* The host's state ("starting", "running", "stopped") and the process that runs it (pid
 * < 0: none). */
int qvd_model_hkd_host_state(struct qvd_db *db, int64_t host_id, const char *state, int64_t pid);
/* Heartbeat: 1 refreshed, 0 not (the host is marked lost), -1 error. */
int qvd_model_hkd_heartbeat(struct qvd_db *db, int64_t host_id, int64_t pid);
/* Other hosts with backend=1 (*n): a node with none is alone and never fences. */
int qvd_model_hkd_peer_count(struct qvd_db *db, int64_t host_id, int64_t *n);
/* A fenced node rejoins (docs/cluster.md): its host row becomes running again with this
 * pid and a fresh heartbeat, and forgets a loss (lost_ts, lost_by). 1: it had been declared
 * lost (the takeover moved its VMs away in the transaction that wrote 'lost'), 0: it had
 * not, -1 error. Its VM rows are not touched: the node reaps those still its own. */
int qvd_model_hkd_rejoin(struct qvd_db *db, int64_t host_id, int64_t pid);
/* Takes the host's pending `stop` command: 1 taken (and cleared), 0 none. */
int qvd_model_hkd_host_take_stop(struct qvd_db *db, int64_t host_id);
/* Releases the user slots held through this node by L7R processes for which dead(pid) is
 * true (an L7R killed with -9 cannot release them itself); the VMs released go to
 * released[0..*n-1] (at most max). */
int qvd_model_hkd_release_l7r_slots(struct qvd_db *db, int64_t host_id, bool (*dead)(int64_t pid),
                                    int64_t *released, size_t max, size_t *n);

/* ---- VM commands ---- */

/* Takes the pending stop commands of this node's VMs: their ids in *ids (malloc'd). */
int qvd_model_hkd_take_stops(struct qvd_db *db, int64_t host_id, int64_t **ids, size_t *n);
/* Takes up to `slots` pending starts (oldest first, unblocked, stopped VMs): each becomes
 * starting, its command taken. */
int qvd_model_hkd_take_starts(struct qvd_db *db, int64_t host_id, long slots, int64_t **ids,
                              size_t *n);
/* Gives back a start taken while the node was stopping: the VM is stopped again with its
 * start pending (for the next run of this node). */
int qvd_model_hkd_give_back(struct qvd_db *db, int64_t host_id, int64_t vm_id);

/* ---- one VM ---- */

/* What a node needs to run a VM. */
struct qvd_model_hkd_vm {
    char name[80], login[80];
    int64_t user_id, osf_id, di_id;
    char ip[16], mac[18];
    char di_path[4096];
    int memory_mb;
    bool use_overlay;
    int64_t user_storage_mb;
};
/* A start takes the DI the VM's tag names now (unblocked); with `running` (adopting a VM a
 * previous run left), the DI it was started with. */
int qvd_model_hkd_vm_load(struct qvd_db *db, int64_t vm_id, bool running,
                          struct qvd_model_hkd_vm *out);
/* What a starting VM gets: recorded on its row (it must be starting on this host), and one
 * more run attempt counted. */
struct qvd_model_hkd_run {
    const char *address, *secret;
    int64_t vma_port, x_port, osf_id, di_id;
};
int qvd_model_hkd_vm_prepare(struct qvd_db *db, int64_t host_id, int64_t vm_id,
                             const struct qvd_model_hkd_run *run);
/* starting -> running (its VMA answered; pid: its init), one more success counted. */
int qvd_model_hkd_vm_running(struct qvd_db *db, int64_t host_id, int64_t vm_id, int64_t pid);
/* A running VM's VMA answered. */
int qvd_model_hkd_vm_alive(struct qvd_db *db, int64_t host_id, int64_t vm_id);
/* -> "stopping" or "zombie", along the transitions above. */
int qvd_model_hkd_vm_state(struct qvd_db *db, int64_t host_id, int64_t vm_id, const char *state);
/* -> stopped: nothing of the VM is left on the node; its row is cleared and unassigned. A
 * row no longer assigned to this node is left alone (0). */
int qvd_model_hkd_vm_stopped(struct qvd_db *db, int64_t host_id, int64_t vm_id);

/* What the rows say about the VMs a previous run of this node left active. */
struct qvd_model_hkd_left {
    int64_t id, pid;  /* pid: vm_pid, -1 if none */
    bool running;     /* vm_state is running (not starting, stopping or zombie) */
    char secret[65];  /* vma_secret, "" if none */
    char address[16]; /* vm_address */
};
int qvd_model_hkd_vms_left(struct qvd_db *db, int64_t host_id, struct qvd_model_hkd_left **out,
                           size_t *n);

#endif

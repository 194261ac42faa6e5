/* model_cluster.h: the cluster's part of the model (docs/cluster.md): where a VM starts
 * (placement), and what happens to a node that stops heartbeating (node loss): one
 * surviving node declares it lost, releases its user slots and restarts its VMs elsewhere.
 *
 * Every freshness judgement uses the database's clock (qvd_db_clock), which every node
 * shares; host_runtimes.ok_ts is written with it too (qvd_model_hkd_heartbeat). Every
 * function returns 0 (or what it says), or -1 with qvd_strerror() and qvd_model_errkind().
 *
 * A lost node's own HKD (the contract with src/hkd/host.c and main.c):
 * - qvd_model_hkd_heartbeat() returns 0 while its host is lost, and
 *   qvd_model_hkd_host_state() refuses "running" and "stopping" (CONFLICT, nothing
 *   written): a node declared lost must not count as alive again by accident.
 * - Its VM rows were cleared by the node that declared it lost: whatever container it still
 *   has runs a VM that now runs (or will) elsewhere. A running HKD that finds itself lost
 *   kills and cleans every one of them, and only then calls qvd_model_cluster_rejoin()
 *   (lost -> stopped); from there on heartbeat and host states work as for any node.
 * - A new HKD process may write "starting" over "lost": no row is assigned to it, so its
 *   start-up sweeps every container it finds as a stray before it writes "running". An
 *   HKD that stopped all its VMs and exits may write "stopped". */
#ifndef QVD_MODEL_CLUSTER_H
#define QVD_MODEL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qvd_config;
struct qvd_db;

/* ---- placement ---- */

/* The host QVD's load balancer chooses for VM vm_id (reference §3.8): among the hosts with
 * backend = 1, not blocked, state running and a heartbeat within hkd.cluster.node.timeout
 * (the database's clock), whose memory stays within usable_ram x
 * l7r.loadbalancer.memory.overcommit once the VM's OSF memory is added to that of the VMs
 * assigned to them, the best of (w_ram x usable_ram + w_cpu x usable_cpu) / (assigned VMs +
 * 1) + w_random x rand. BUSY with the reason when no host can take it. Runs inside the
 * caller's transaction when there is one (the VM start and the takeover both use it). */
int qvd_model_cluster_place(struct qvd_db *db, struct qvd_config *cfg, int64_t vm_id,
                            int64_t *host_id);

/* ---- node loss ---- */

/* One look for lost nodes by host `self` (named self_name), as every HKD runs about once
 * a heartbeat while its own heartbeats have succeeded for hkd.cluster.node.timeout: under
 * the cluster lock (qvd_db_cluster_lock: one checker at a time; when another holds it this
 * one does nothing), and only while self is running with a fresh heartbeat, each other host
 * whose heartbeat is older than hkd.cluster.node.timeout and whose state is not stopped or
 * lost is, in one transaction per host:
 * - marked lost (state 'lost', lost_ts, lost_by = self), audited as "host.lost";
 * - rid of the user slots its L7R held (user_state disconnected); the L7Rs of other nodes
 *   that relay a session to one of its VMs are woken (they end a session whose VM is not
 *   running any more, and release its slot themselves);
 * - rid of its VMs: each row is cleared as qvd_model_hkd_vm_stopped() does, its sessions end
 *   with the reason node_lost (their clients reconnect), and each VM that
 *   was starting, running or debugging (or had a start pending there) gets a start command
 *   on the host qvd_model_cluster_place() chooses, audited as "vm.restart"; a VM that cannot
 *   start (no host can take it, blocked, no DI) stays stopped, audited with the reason.
 * say(arg, line) gets one readable line per thing done, after its transaction committed.
 * Returns the number of nodes declared lost. */
int qvd_model_cluster_check(struct qvd_db *db, struct qvd_config *cfg, int64_t self,
                            const char *self_name, void (*say)(void *arg, const char *line),
                            void *arg);

/* 1 if host_id is marked lost, 0 if not. */
int qvd_model_cluster_host_lost(struct qvd_db *db, int64_t host_id);

/* A lost node joins again: called by its HKD once it runs no VM any more (every container
 * killed and cleaned). Its host goes from lost to stopped (audited as "host.rejoin"); from
 * then on its heartbeat and states work again. CONFLICT if a VM row is still assigned to it.
 * 1 rejoined, 0 it was not lost (nothing done). */
int qvd_model_cluster_rejoin(struct qvd_db *db, int64_t host_id);

/* ---- what the live feed shows ---- */

/* One entry the nodes wrote to the audit log (source "hkd"): a node lost or back, a VM
 * restarted elsewhere. The strings are valid during the call only. */
struct qvd_model_cluster_event {
    int64_t id, time;
    const char *node;   /* the node that acted */
    const char *action; /* "host.lost", "host.rejoin", "vm.restart" */
    const char *object; /* "host", "vm" */
    int64_t object_id;
    const char *message; /* "node B lost (no heartbeat for 12 s)" */
};
/* The events after audit log id `after`, oldest first (at most 1000); *last is the newest
 * audit log id seen (after, if none): pass it as `after` next time. after < 0: none given,
 * only *last is set (to the newest id of the whole log). */
int qvd_model_cluster_events(struct qvd_db *db, int64_t after,
                             void (*put)(void *arg, const struct qvd_model_cluster_event *e),
                             void *arg, int64_t *last);

#endif

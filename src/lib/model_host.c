/* model_host.c: a cluster's nodes as administrators see them: each host's VM subnet (checked
 * against the cluster's VM network and the other hosts' subnets) and `host evacuate` (block
 * the host, end its users' sessions, stop its VMs so that each user's next login starts
 * theirs on another node). The hosts' add/set/del/block are in model_vm.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "model_int.h"
#include "util.h"

/* ---- VM subnets ---- */

int
qvd_model_cidr_parse(const char *s, uint32_t *network, int *prefix)
{
    char ip[16];
    const char *slash = strchr(s, '/');
    long n;
    uint32_t a, mask;

    if (slash == NULL || (size_t)(slash - s) >= sizeof(ip) || qvd_parse_long(slash + 1, &n) < 0 ||
        n < 1 || n > 32 || slash[1] == '+' || slash[1] == '0')
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "'%.40s' is not a subnet: give a.b.c.d/n (n 1..32)", s);
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    if (qvd_model_ip_parse(ip, &a) < 0)
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "'%.40s' is not a subnet: give a.b.c.d/n (n 1..32)", s);
    mask = n == 32 ? 0xffffffffu : ~(0xffffffffu >> n);
    if ((a & ~mask) != 0) {
        char net[16];
        qvd_model_ip_format(a & mask, net);
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "subnet %s has host bits set: its network is %s/%ld", s, net, n);
    }
    *network = a;
    *prefix = (int)n;
    return 0;
}

/* Do two subnets share an address? Yes when they agree on the shorter prefix's bits. */
static bool
overlap(uint32_t a, int alen, uint32_t b, int blen)
{
    int len = alen < blen ? alen : blen;
    uint32_t mask = ~(0xffffffffu >> len);

    return (a & mask) == (b & mask);
}

/* The prefix length of a netmask (ones then zeros, checked by qvd_model_net_parse). */
static int
prefix_of(uint32_t mask)
{
    int n = 0;

    while (n < 32 && (mask & (0x80000000u >> n)))
        n++;
    return n;
}

/* The subnet against the cluster's VM network and every other host's subnet (inside the
 * caller's transaction). */
static int
subnet_fits(struct qvd_db *db, struct qvd_config *cfg, const char *subnet, uint32_t a, int len,
            int64_t self)
{
    const char *mask_s = qvd_config_get(cfg, "vm.network.netmask");
    struct qvd_model_net net;
    struct qvd_stmt *st;
    uint32_t mask;
    int rc;

    if (qvd_model_net_parse(qvd_config_get(cfg, "vm.network.ip.start"), mask_s, &net) < 0 ||
        qvd_model_ip_parse(mask_s, &mask) < 0)
        return -1;
    if (len != prefix_of(mask))
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "vm_subnet %s: a node's VM subnet has the prefix length of"
                              " vm.network.netmask (%s, /%d)",
                              subnet, mask_s, prefix_of(mask));
    if (overlap(a, len, net.network, prefix_of(mask)))
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "vm_subnet %s overlaps the cluster's VM network (vm.network.ip.start"
                              " %s, netmask %s): give each node a subnet outside it",
                              subnet, qvd_config_get(cfg, "vm.network.ip.start"), mask_s);
    st = qvd_db_query(db, "SELECT id, name, vm_subnet FROM hosts WHERE id <> ? AND vm_subnet <> ''",
                      "i", self);
    if (st == NULL)
        return qvd_model_dbfail(db);
    while ((rc = qvd_db_step(st)) == 1) {
        uint32_t b;
        int blen;
        if (qvd_model_cidr_parse(qvd_db_text(st, 2), &b, &blen) == 0 && overlap(a, len, b, blen)) {
            qvd_model_fail(QVD_MODEL_CONFLICT, "vm_subnet %s overlaps host %lld (%s)'s %s", subnet,
                           (long long)qvd_db_int(st, 0), qvd_db_text(st, 1), qvd_db_text(st, 2));
            break;
        }
    }
    qvd_db_done(st);
    if (rc < 0)
        return qvd_model_dbfail(db);
    return rc == 1 ? -1 : 0;
}

int
qvd_model_host_subnet(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *subnet)
{
    uint32_t a = 0;
    int len = 0, rc;

    if (*subnet != '\0' && qvd_model_cidr_parse(subnet, &a, &len) < 0) {
        char why[256];
        snprintf(why, sizeof(why), "%s", qvd_strerror());
        return qvd_model_fail(QVD_MODEL_INVALID, "vm_subnet: %s", why);
    }
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_model_need(db, "hosts", "host", id);
    if (rc == 0 && *subnet != '\0')
        rc = subnet_fits(db, cfg, subnet, a, len, id);
    if (rc == 0 &&
        qvd_db_exec(db, "UPDATE hosts SET vm_subnet = ? WHERE id = ?", "si", subnet, id) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

/* ---- evacuate ---- */

/* The other hosts a VM could start on now (as placement picks them: backend, unblocked,
 * running, fresh heartbeat). */
static int
others_open(struct qvd_db *db, struct qvd_config *cfg, int64_t id, int64_t *n)
{
    int64_t fresh = qvd_now() - qvd_config_int(cfg, "hkd.cluster.node.timeout");

    if (qvd_db_get_int(db, n,
                       "SELECT count(*) FROM hosts h JOIN host_runtimes r ON r.host_id = h.id"
                       " WHERE h.id <> ? AND h.backend = 1 AND r.blocked = 0"
                       " AND r.state = 'running' AND r.ok_ts >= ? AND r.lost_ts IS NULL",
                       "ii", id, fresh) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

/* The L7Rs that hold sessions of the host's VMs, to wake after the commit. */
static int
session_l7rs(struct qvd_db *db, int64_t id, int64_t *l7r, size_t max, size_t *n)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT DISTINCT l7r_host_id FROM vm_runtimes"
                                       " WHERE host_id = ? AND l7r_host_id IS NOT NULL"
                                       " AND user_state IN ('connecting', 'connected')",
                                       "i", id);
    int rc;

    *n = 0;
    if (st == NULL)
        return qvd_model_dbfail(db);
    while ((rc = qvd_db_step(st)) == 1)
        if (*n < max)
            l7r[(*n)++] = qvd_db_int(st, 0);
    qvd_db_done(st);
    return rc < 0 ? qvd_model_dbfail(db) : 0;
}

static int
evacuate_tx(struct qvd_db *db, struct qvd_config *cfg, int64_t id, bool force, int64_t *l7r,
            size_t max, size_t *nl7r, int64_t *moved)
{
    int64_t others, on;
    long long stopped, cancelled;

    if (qvd_model_need(db, "hosts", "host", id) < 0 || others_open(db, cfg, id, &others) < 0 ||
        qvd_model_count(db, &on,
                        "SELECT count(*) FROM vm_runtimes WHERE host_id = ?"
                        " AND (vm_state IN ('starting', 'running', 'debugging')"
                        " OR (vm_state = 'stopped' AND vm_cmd = 'start'))",
                        id) < 0)
        return -1;
    if (others == 0 && on > 0 && !force)
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "host %lld is the only node that can take VMs (no other backend"
                              " host runs unblocked): its %lld VMs would have nowhere to go;"
                              " unblock or start another node, or force it (--force, API"
                              " force: the VMs stay stopped until a node can take them)",
                              (long long)id, (long long)on);
    if (session_l7rs(db, id, l7r, max, nl7r) < 0 ||
        qvd_db_exec(db, "UPDATE host_runtimes SET blocked = 1 WHERE host_id = ?", "i", id) < 0 ||
        /* each session ends as `vm disconnect` ends it: the L7R aborts it, by 'admin' */
        qvd_db_exec(db,
                    "UPDATE vm_runtimes SET user_cmd = 'abort', user_cmd_by = 'admin'"
                    " WHERE host_id = ? AND user_state IN ('connecting', 'connected')",
                    "i", id) < 0 ||
        /* a start no HKD took yet is cancelled: the next login places it anew (first: a
         * start an HKD takes meanwhile is 'starting', which the stop below matches) */
        (cancelled = qvd_db_exec(db,
                                 "UPDATE vm_runtimes SET vm_cmd = NULL, host_id = NULL"
                                 " WHERE host_id = ? AND vm_state = 'stopped'"
                                 " AND vm_cmd = 'start'",
                                 "i", id)) < 0 ||
        (stopped = qvd_db_exec(db,
                               "UPDATE vm_runtimes SET vm_cmd = 'stop' WHERE host_id = ?"
                               " AND vm_state IN ('starting', 'running', 'debugging')"
                               " AND (vm_cmd IS NULL OR vm_cmd <> 'stop')",
                               "i", id)) < 0)
        return qvd_model_dbfail(db);
    *moved = stopped + cancelled;
    return 0;
}

int
qvd_model_host_evacuate(struct qvd_db *db, struct qvd_config *cfg, int64_t id, bool force,
                        int64_t *moved)
{
    int64_t l7r[64];
    size_t n = 0;
    char chan[96];

    *moved = 0;
    if (qvd_model_begin(db) < 0)
        return -1;
    if (qvd_model_end(db, evacuate_tx(db, cfg, id, force, l7r, QVD_ARRAY_LEN(l7r), &n, moved)) < 0)
        return -1;
    /* the host's HKD stops the VMs; each L7R ends its sessions (both also poll) */
    snprintf(chan, sizeof(chan), QVD_CHAN_VM_CMD, (long long)id);
    qvd_db_notify(db, chan);
    for (size_t i = 0; i < n; i++)
        qvd_model_l7r_wake(db, l7r[i]);
    return 0;
}

/* routes.c: the routes from this node to the other nodes' VM subnets, in step with the
 * hosts table (docs/cluster.md): one route `<peer vm_subnet> via <peer address>` per other
 * host that has both, tagged with our routing protocol number (HKD_RT_PROTO, `ip route
 * show proto 77`) so that we find our own routes, and only ours, again.
 *
 * At every heartbeat the peers are read on the database worker (never on the loop), then
 * on the loop the node's routes of our protocol are read from the kernel (netlink, no
 * privilege needed) and compared: a route missing or through another next hop is set, a
 * route of ours whose subnet no peer has any more is removed, both through the root
 * parent (HKD_PRIV_ROUTE_SET/DEL), which checks them against the node's plan and keeps
 * the firewall's peer sets with them. The first pass after start-up sets every route (the
 * firewall was rebuilt without its peers) and removes what a previous run left. A node
 * without a VM subnet keeps none. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "hkd.h"
#include "log.h"
#include "model_hkd.h"
#include "util.h"

struct route {
    char subnet[24], via[16];
    const char *peer; /* the peer's name (desired routes) */
};

static bool busy, synced;
static struct qvd_buf last_warnings = QVD_BUF_INIT;

/* Our routes in the main table: subnet and next hop of each. */
static int
dump_ours(struct route **out, size_t *n)
{
    struct {
        struct nlmsghdr nh;
        struct rtmsg rt;
    } req = {.nh = {.nlmsg_len = sizeof(req),
                    .nlmsg_type = RTM_GETROUTE,
                    .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                    .nlmsg_seq = 1},
             .rt = {.rtm_family = AF_INET}};
    static char buf[32768];
    size_t cap = 0;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), rc = -1;

    *out = NULL;
    *n = 0;
    if (fd < 0 || send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req)) {
        qvd_seterr("cannot read the routes: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        ssize_t len = recv(fd, buf, sizeof(buf), 0);
        struct nlmsghdr *nh = (struct nlmsghdr *)(void *)buf;

        if (len < 0 && errno == EINTR)
            continue;
        if (len <= 0) {
            qvd_seterr("cannot read the routes: %s", len < 0 ? strerror(errno) : "end of file");
            goto out;
        }
        for (; NLMSG_OK(nh, (size_t)len); nh = NLMSG_NEXT(nh, len)) {
            struct rtmsg *rt = NLMSG_DATA(nh);
            struct rtattr *a = RTM_RTA(rt);
            int alen = (int)RTM_PAYLOAD(nh);
            uint32_t dst = 0, gw = 0, table = 0;

            if (nh->nlmsg_type == NLMSG_DONE) {
                rc = 0;
                goto out;
            }
            if (nh->nlmsg_type == NLMSG_ERROR) {
                qvd_seterr("cannot read the routes: the kernel refused the dump");
                goto out;
            }
            if (nh->nlmsg_type != RTM_NEWROUTE || rt->rtm_protocol != HKD_RT_PROTO)
                continue;
            table = rt->rtm_table;
            for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
                if (a->rta_type == RTA_DST && RTA_PAYLOAD(a) == 4)
                    memcpy(&dst, RTA_DATA(a), 4);
                else if (a->rta_type == RTA_GATEWAY && RTA_PAYLOAD(a) == 4)
                    memcpy(&gw, RTA_DATA(a), 4);
                else if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) == 4)
                    memcpy(&table, RTA_DATA(a), 4);
            }
            if (table != RT_TABLE_MAIN)
                continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                *out = qvd_xrealloc(*out, cap * sizeof(**out));
            }
            struct route *r = &(*out)[(*n)++];
            char d[INET_ADDRSTRLEN] = "", g[INET_ADDRSTRLEN] = "";
            inet_ntop(AF_INET, &dst, d, sizeof(d));
            if (gw)
                inet_ntop(AF_INET, &gw, g, sizeof(g));
            snprintf(r->subnet, sizeof(r->subnet), "%s/%u", d, (unsigned)rt->rtm_dst_len);
            snprintf(r->via, sizeof(r->via), "%s", g);
            r->peer = NULL;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static struct route *
find(struct route *rs, size_t n, const char *subnet)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rs[i].subnet, subnet) == 0)
            return &rs[i];
    return NULL;
}

/* Logs the lines of `now` if they differ from the last ones of `last`: a lasting problem
 * is said once, not at every heartbeat. */
static void
warn_once(struct qvd_buf *now, struct qvd_buf *last)
{
    if (strcmp(qvd_buf_str(now), qvd_buf_str(last)) == 0)
        return;
    for (const char *l = qvd_buf_str(now); *l; l += strcspn(l, "\n") + 1)
        log_warn("%.*s", (int)strcspn(l, "\n"), l);
    qvd_buf_reset(last);
    qvd_buf_adds(last, qvd_buf_str(now));
}

/* The routes the peers call for: each with a subnet of our length that is not ours and
 * an IPv4 address. What is wrong with a peer is said once (until it changes), not at
 * every heartbeat. */
static size_t
wanted(struct hkd *hkd, const struct qvd_model_hkd_peer *p, size_t np, struct route *out)
{
    struct qvd_buf warn = QVD_BUF_INIT;
    size_t n = 0;

    for (size_t i = 0; i < np; i++) {
        uint32_t net = 0;
        int plen = 0;
        struct in_addr a;

        if (p[i].vm_subnet[0] == '\0')
            continue;
        if (hkd_net_parse_subnet(p[i].vm_subnet, &net, &plen) < 0 ||
            (plen < 32 ? ~(0xffffffffu >> plen) : 0xffffffffu) != hkd->subnet_mask ||
            net == hkd->subnet_net || inet_pton(AF_INET, p[i].address, &a) != 1 ||
            find(out, n, p[i].vm_subnet) != NULL) {
            qvd_buf_printf(&warn,
                           "host %s (%lld): no route to its VM subnet '%s' via '%s' (not "
                           "a subnet of this node's length other than ours and any "
                           "other host's, or not an IPv4 address)\n",
                           p[i].name, (long long)p[i].id, p[i].vm_subnet, p[i].address);
            continue;
        }
        snprintf(out[n].subnet, sizeof(out[n].subnet), "%s", p[i].vm_subnet);
        snprintf(out[n].via, sizeof(out[n].via), "%s", p[i].address);
        out[n++].peer = p[i].name;
    }
    warn_once(&warn, &last_warnings);
    qvd_buf_free(&warn);
    return n;
}

/* Brings the node's routes of our protocol to `want` (n of them). A failed change is
 * tried again at the next heartbeat (the route is still missing or wrong then). */
static void
sync_routes(struct hkd *hkd, const struct route *want, size_t n)
{
    static struct qvd_buf last_fails = QVD_BUF_INIT;
    struct qvd_buf fails = QVD_BUF_INIT;
    struct route *have = NULL, *h;
    size_t nhave = 0;

    if (dump_ours(&have, &nhave) < 0) {
        qvd_buf_printf(&fails, "routes: %s\n", qvd_strerror());
        warn_once(&fails, &last_fails);
        qvd_buf_free(&fails);
        return;
    }
    for (size_t i = 0; i < nhave; i++) {
        if (find((struct route *)want, n, have[i].subnet) != NULL)
            continue;
        if (hkd_priv_route_del(hkd, have[i].subnet) < 0)
            qvd_buf_printf(&fails, "route to %s: %s\n", have[i].subnet, qvd_strerror());
        else
            log_info("route to %s via %s removed (no host has that subnet)", have[i].subnet,
                     have[i].via);
    }
    for (size_t i = 0; i < n; i++) {
        h = find(have, nhave, want[i].subnet);
        if (synced && h != NULL && strcmp(h->via, want[i].via) == 0)
            continue;
        if (hkd_priv_route_set(hkd, want[i].subnet, want[i].via) < 0)
            qvd_buf_printf(&fails, "route to %s via %s (host %s): %s\n", want[i].subnet,
                           want[i].via, want[i].peer, qvd_strerror());
        else if (h == NULL || strcmp(h->via, want[i].via) != 0)
            log_info("route to %s via %s (host %s) %s", want[i].subnet, want[i].via, want[i].peer,
                     h == NULL ? "added" : "changed");
    }
    warn_once(&fails, &last_fails);
    qvd_buf_free(&fails);
    synced = true;
    free(have);
}

/* On the worker: the other hosts. */
static int
run_peers(struct qvd_db *db, struct hkd_job *j)
{
    return qvd_model_hkd_peers(db, j->host_id, &j->peers, &j->npeers);
}

static void
got_peers(struct hkd *hkd, struct hkd_job *j)
{
    struct route *want;
    size_t n;

    busy = false;
    if (j->rc < 0) {
        log_warn("routes: cannot read the hosts: %s", j->err);
        return;
    }
    if (hkd->stopping)
        return;
    want = qvd_xcalloc(j->npeers + 1, sizeof(*want));
    n = wanted(hkd, j->peers, j->npeers, want);
    sync_routes(hkd, want, n);
    free(want);
}

void
hkd_routes_tick(struct hkd *hkd)
{
    struct hkd_job *j;

    if (hkd->hv->simulated || busy)
        return; /* simulated VMs have no network */
    if (hkd->subnet_mask == 0) {
        /* no subnet, no routes: only what a previous run with one may have left */
        if (!synced)
            sync_routes(hkd, NULL, 0);
        return;
    }
    j = hkd_job_new(run_peers, got_peers, NULL);
    busy = true;
    hkd_db_submit(hkd, j);
}

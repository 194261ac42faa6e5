/* network.c: the VM network of a node: the bridge with the node's address, the address
 * plan of QVD (hosts range below vm.network.ip.start, VMs from it), per-VM veth cleanup,
 * and the cluster's plan on top (docs/cluster.md): a node with a VM subnet runs the VM
 * whose vms.ip is 10.0.0.150 at the same host bits in its subnet (10.2.0.150 in
 * 10.2.0.0/16), its bridge at the default host address's host bits (10.2.0.1), and the
 * routes to the other nodes' subnets through their node addresses (routes.c asks; the
 * root parent sets them here). */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "err.h"
#include "hkd.h"
#include "log.h"
#include "model.h"
#include "util.h"

static int
parse_v4(const char *s, uint32_t *out)
{
    struct in_addr a;

    if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
        return qvd_seterr("'%s' is not an IPv4 address", s ? s : "");
    *out = ntohl(a.s_addr);
    return 0;
}

static void
format_v4(uint32_t v, char *out, size_t len)
{
    struct in_addr a = {htonl(v)};
    inet_ntop(AF_INET, &a, out, (socklen_t)len);
}

static uint32_t
mask_of(int plen)
{
    return plen <= 0 ? 0 : plen >= 32 ? 0xffffffffu : ~(0xffffffffu >> plen);
}

int
hkd_net_prefix_len(struct hkd *hkd)
{
    uint32_t mask = 0;

    if (parse_v4(qvd_config_get(hkd->cfg, "vm.network.netmask"), &mask) < 0)
        return -1;
    if (mask != mask_of(__builtin_popcount(mask)))
        return qvd_seterr("vm.network.netmask %s is not a netmask (its bits must be contiguous)",
                          qvd_config_get(hkd->cfg, "vm.network.netmask"));
    return __builtin_popcount(mask);
}

int
hkd_net_parse_subnet(const char *s, uint32_t *net, int *plen)
{
    char addr[16];
    const char *slash = s ? strchr(s, '/') : NULL;
    long len;

    if (slash == NULL || slash - s >= (long)sizeof(addr) || slash[1] == '\0' ||
        strspn(slash + 1, "0123456789") != strlen(slash + 1) || strlen(slash + 1) > 2)
        return qvd_seterr("'%s' is not a subnet (a.b.c.d/len)", s ? s : "");
    memcpy(addr, s, (size_t)(slash - s));
    addr[slash - s] = '\0';
    len = strtol(slash + 1, NULL, 10);
    if (strspn(addr, "0123456789.") != strlen(addr) || parse_v4(addr, net) < 0 || len < 1 ||
        len > 32)
        return qvd_seterr("'%s' is not a subnet (a.b.c.d/len, len 1-32)", s);
    if (*net & ~mask_of((int)len))
        return qvd_seterr("'%s' has host bits set (a subnet is its network's address, e.g. "
                          "10.2.0.0/16)",
                          s);
    *plen = (int)len;
    return 0;
}

int
hkd_net_vm_address(uint32_t net, uint32_t mask, const char *ip, char *out, size_t len)
{
    uint32_t a = 0;

    if (parse_v4(ip, &a) < 0)
        return -1;
    format_v4((a & ~mask) | net, out, len);
    return 0;
}

/* The node's VM subnet: a.b.c.d/len whose length is vm.network.netmask's. */
static int
check_subnet(struct hkd *hkd, const char *subnet, uint32_t *net)
{
    int plen, want = hkd_net_prefix_len(hkd);

    if (want < 0)
        return -1;
    if (hkd_net_parse_subnet(subnet, net, &plen) < 0)
        return qvd_seterr("vm.network.subnet: %s", qvd_strerror());
    if (plen != want)
        return qvd_seterr("vm.network.subnet %s: its prefix length must be vm.network.netmask's "
                          "(/%d)",
                          subnet, want);
    return 0;
}

int
hkd_net_check_keys(struct hkd *hkd)
{
    const char *addr = qvd_config_get(hkd->cfg, "node.address");
    const char *subnet = qvd_config_get(hkd->cfg, "vm.network.subnet");
    uint32_t a, net;

    if (addr != NULL && *addr &&
        (strspn(addr, "0123456789.") != strlen(addr) || parse_v4(addr, &a) < 0))
        return qvd_seterr("node.address '%s' is not an IPv4 address", addr);
    if (subnet != NULL && *subnet && check_subnet(hkd, subnet, &net) < 0)
        return -1;
    if (subnet != NULL && *subnet && (addr == NULL || *addr == '\0'))
        return qvd_seterr("vm.network.subnet %s needs node.address (the other nodes route to "
                          "the subnet through it)",
                          subnet);
    return 0;
}

/* The interface whose IPv4 addresses include `addr`, into out ("" if none). */
static int
iface_of(const char *addr, char *out, size_t len)
{
    struct ifaddrs *ifs, *i;
    struct in_addr want;

    *out = '\0';
    if (inet_pton(AF_INET, addr, &want) != 1 || getifaddrs(&ifs) < 0)
        return qvd_seterr("cannot list the interfaces: %s", strerror(errno));
    for (i = ifs; i; i = i->ifa_next)
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
            ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr == want.s_addr) {
            snprintf(out, len, "%s", i->ifa_name);
            break;
        }
    freeifaddrs(ifs);
    return 0;
}

/* With a VM subnet, the node's address is where the others route to it: outside the VM
 * network, and on one of its interfaces (the one forwarding is turned on for). */
static int
check_node_address(struct hkd *hkd, uint32_t vmnet, uint32_t vmmask)
{
    uint32_t node = 0;

    if (parse_v4(hkd->node_address, &node) < 0)
        return qvd_seterr("the node's address (hosts.address) '%s' is not an IPv4 address: set "
                          "node.address",
                          hkd->node_address);
    if ((node & vmmask) == vmnet || (node & hkd->subnet_mask) == hkd->subnet_net)
        return qvd_seterr("the node's address %s lies in the VM network: node.address must be an "
                          "address on the nodes' network",
                          hkd->node_address);
    if (iface_of(hkd->node_address, hkd->lan_iface, sizeof(hkd->lan_iface)) < 0)
        return -1;
    if (!hkd->hv->simulated && hkd->lan_iface[0] == '\0')
        return qvd_seterr("node.address %s is on no interface of this node", hkd->node_address);
    return 0;
}

int
hkd_net_plan(struct hkd *hkd)
{
    const char *cfg_addr = qvd_config_get(hkd->cfg, "node.address");
    const char *gw = qvd_config_get(hkd->cfg, "vm.network.gateway");
    uint32_t net = 0, start = 0, vmmask = 0, g = 0;
    int plen = hkd_net_prefix_len(hkd);
    char def[16];

    hkd->subnet_net = hkd->subnet_mask = 0;
    hkd->gateway[0] = hkd->lan_iface[0] = '\0';
    if (plen < 0)
        return -1;
    /* one node: the bridge at hosts.address, as it always was */
    if (hkd->vm_subnet[0] == '\0' && (cfg_addr == NULL || *cfg_addr == '\0'))
        return 0;
    if (parse_v4(qvd_config_get(hkd->cfg, "vm.network.ip.start"), &start) < 0 ||
        parse_v4(qvd_config_get(hkd->cfg, "vm.network.netmask"), &vmmask) < 0)
        return -1;
    if (hkd->vm_subnet[0] != '\0') {
        if (check_subnet(hkd, hkd->vm_subnet, &net) < 0)
            return -1;
        hkd->subnet_net = net;
        hkd->subnet_mask = mask_of(plen);
        if (check_node_address(hkd, start & vmmask, vmmask) < 0)
            return -1;
    }
    if (hkd_net_default_host_address(hkd, def, sizeof(def)) < 0 ||
        hkd_net_vm_address(hkd->subnet_net, hkd->subnet_mask, def, hkd->host_address,
                           sizeof(hkd->host_address)) < 0)
        return -1;
    /* a gateway in the VM network is the node's counterpart in its subnet */
    if (gw != NULL && *gw && parse_v4(gw, &g) == 0 && (g & vmmask) == (start & vmmask))
        hkd_net_vm_address(hkd->subnet_net, hkd->subnet_mask, gw, hkd->gateway,
                           sizeof(hkd->gateway));
    return 0;
}

int
hkd_net_default_host_address(struct hkd *hkd, char *out, size_t len)
{
    const char *fixed = qvd_config_get(hkd->cfg, "vm.network.host.address");
    uint32_t start = 0, mask = 0, addr = 0;

    if (fixed != NULL && *fixed) {
        if (parse_v4(fixed, &addr) < 0)
            return -1;
        snprintf(out, len, "%s", fixed);
        return 0;
    }
    if (parse_v4(qvd_config_get(hkd->cfg, "vm.network.ip.start"), &start) < 0 ||
        parse_v4(qvd_config_get(hkd->cfg, "vm.network.netmask"), &mask) < 0)
        return -1;
    addr = (start & mask) + 1;
    if (addr >= start)
        return qvd_seterr("the hosts range below vm.network.ip.start is empty");
    format_v4(addr, out, len);
    return 0;
}

const char *
hkd_net_gateway(struct hkd *hkd)
{
    const char *gw = qvd_config_get(hkd->cfg, "vm.network.gateway");

    if (hkd->gateway[0] != '\0')
        return hkd->gateway;
    return (gw != NULL && *gw) ? gw : hkd->host_address;
}

void
hkd_net_veth_name(struct hkd *hkd, int64_t vm_id, char *out, size_t len)
{
    snprintf(out, len, "%s%lld", qvd_config_get(hkd->cfg, "internal.vm.network.device.prefix"),
             (long long)vm_id);
}

/* A permanent neighbour entry for the VM's address on the bridge: the node never has to
 * ask by ARP. Without it the first packet to a VM that has just (re)started can find the
 * address unresolved while the VM's interface is still coming up, and waits for the next
 * ARP probe, a second later. The MAC follows from the address, so the entry stays right
 * after the VM stops. Set once the VM's port is on the bridge. Best effort: without it
 * only the first ping may wait. */
void
hkd_net_neighbour(struct hkd *hkd, const struct hkd_vm *vm)
{
    char *br = (char *)qvd_config_get(hkd->cfg, "vm.network.bridge");
    char *cmd[] = {"ip",  "neigh", "replace", (char *)vm->ip, "lladdr", (char *)vm->mac,
                   "dev", br,      "nud",     "permanent",    NULL};

    if (hkd_run(cmd) < 0)
        log_warn("VM %lld: cannot set the neighbour entry of %s: %s", (long long)vm->id, vm->ip,
                 qvd_strerror());
}

static bool
link_exists(const char *name)
{
    return if_nametoindex(name) != 0;
}

static int
set_bridge_mac(struct hkd *hkd, const char *br)
{
    uint32_t addr = 0;
    char mac[18];

    if (parse_v4(hkd->host_address, &addr) < 0 ||
        qvd_model_mac(qvd_config_get(hkd->cfg, "vm.network.mac.prefix"), addr, mac) < 0)
        return -1;
    char *cmd[] = {"ip", "link", "set", "dev", (char *)br, "address", mac, NULL};
    if (hkd_run(cmd) < 0)
        return qvd_seterr("cannot set the address of bridge %s: %s", br, qvd_strerror());
    return 0;
}

int
hkd_net_init(struct hkd *hkd)
{
    const char *br = qvd_config_get(hkd->cfg, "vm.network.bridge");
    char cidr[32];
    int plen = hkd_net_prefix_len(hkd);

    if (hkd_net_plan(hkd) < 0)
        return -1;
    if (hkd->hv->simulated)
        return 0; /* simulated VMs have no network */
    if (plen < 0)
        return -1;
    if (br == NULL || *br == '\0' || strlen(br) >= IFNAMSIZ)
        return qvd_seterr("vm.network.bridge must be a network interface name");
    if (!link_exists(br)) {
        char *add[] = {"ip", "link", "add", "name", (char *)br, "type", "bridge", NULL};
        if (hkd_run(add) < 0)
            return qvd_seterr("cannot create bridge %s: %s", br, qvd_strerror());
        log_info("created bridge %s", br);
        /* a fixed address (the VMs' scheme, from the node's address): a bridge takes the
         * lowest of its ports' otherwise, so it would change as VMs come and go, flushing
         * the node's neighbour entries and leaving the VMs' ARP caches stale */
        if (set_bridge_mac(hkd, br) < 0)
            return -1;
    }
    snprintf(cidr, sizeof(cidr), "%s/%d", hkd->host_address, plen);
    /* `replace` is idempotent: the address may be there from a previous run */
    char *addr[] = {"ip", "addr", "replace", cidr, "dev", (char *)br, NULL};
    char *up[] = {"ip", "link", "set", (char *)br, "up", NULL};
    if (hkd_run(addr) < 0 || hkd_run(up) < 0)
        return qvd_seterr("cannot configure bridge %s: %s", br, qvd_strerror());
    return 0;
}

int
hkd_net_cleanup(struct hkd *hkd, int64_t vm_id)
{
    char name[IFNAMSIZ + 8];

    hkd_net_veth_name(hkd, vm_id, name, sizeof(name));
    if (!link_exists(name))
        return 0;
    char *del[] = {"ip", "link", "del", name, NULL};
    return hkd_run(del);
}

/* A unicast IPv4 address another node can be reached at (not 0/8, loopback, multicast or
 * broadcast). */
static bool
unicast(uint32_t a)
{
    return (a >> 24) != 0 && (a >> 24) != 127 && (a >> 28) < 14;
}

/* The routes this parent has set, with their next hops: which peer addresses the
 * firewall's sets hold (a next hop leaves them with the last route through it). */
static struct peer_route {
    char subnet[24], via[16];
} * routes;
static size_t nroutes;

static struct peer_route *
route_find(const char *subnet)
{
    for (size_t i = 0; i < nroutes; i++)
        if (strcmp(routes[i].subnet, subnet) == 0)
            return &routes[i];
    return NULL;
}

static bool
via_used(const char *via)
{
    for (size_t i = 0; i < nroutes; i++)
        if (strcmp(routes[i].via, via) == 0)
            return true;
    return false;
}

/* Forgets the route to `subnet`; its next hop leaves the firewall if no route uses it. */
static int
route_forget(struct hkd *hkd, const char *subnet)
{
    struct peer_route *r = route_find(subnet), gone;

    if (r == NULL)
        return 0;
    gone = *r;
    *r = routes[--nroutes];
    return hkd_fw_peer(hkd, gone.subnet, via_used(gone.via) ? NULL : gone.via, false);
}

/* What a peer's route must be to be set: this node has a subnet; the peer's has the same
 * length and is not ours, and holds neither this node's address nor the next hop; the
 * next hop is a unicast address outside both subnets and not ours. The route carries our
 * protocol number, by which routes.c finds (and only ever removes) its own. */
int
hkd_net_route_set(struct hkd *hkd, const char *subnet, const char *via)
{
    uint32_t net = 0, hop = 0, node = 0, mask;
    struct peer_route *r;
    int plen;
    char proto[8];

    if (hkd->subnet_mask == 0)
        return qvd_seterr("route to %s: this node has no VM subnet", subnet);
    if (hkd_net_parse_subnet(subnet, &net, &plen) < 0 || parse_v4(via, &hop) < 0 ||
        parse_v4(hkd->node_address, &node) < 0)
        return -1;
    mask = mask_of(plen);
    if (mask != hkd->subnet_mask || net == hkd->subnet_net)
        return qvd_seterr(
            "route to %s: a peer's subnet must have the prefix length of ours (%s) and not be it",
            subnet, hkd->vm_subnet);
    if ((node & mask) == net || (hop & mask) == net || (hop & mask) == hkd->subnet_net ||
        hop == node || !unicast(hop))
        return qvd_seterr("route to %s via %s: the next hop must be another node's address, "
                          "outside the VM subnets",
                          subnet, via);
    snprintf(proto, sizeof(proto), "%d", HKD_RT_PROTO);
    char *cmd[] = {"ip",  "-4",        "route", "replace", (char *)subnet,
                   "via", (char *)via, "proto", proto,     NULL};
    if (hkd_run(cmd) < 0)
        return qvd_seterr("route to %s via %s: %s", subnet, via, qvd_strerror());
    r = route_find(subnet);
    if (r != NULL && strcmp(r->via, via) != 0 && route_forget(hkd, subnet) < 0)
        return -1;
    if ((r = route_find(subnet)) == NULL) {
        routes = qvd_xrealloc(routes, (nroutes + 1) * sizeof(*routes));
        r = &routes[nroutes++];
        snprintf(r->subnet, sizeof(r->subnet), "%s", subnet);
        snprintf(r->via, sizeof(r->via), "%s", via);
    }
    return hkd_fw_peer(hkd, subnet, via, true);
}

int
hkd_net_route_del(struct hkd *hkd, const char *subnet)
{
    uint32_t net;
    int plen, rc = 0;
    char proto[8];

    if (hkd_net_parse_subnet(subnet, &net, &plen) < 0)
        return -1;
    snprintf(proto, sizeof(proto), "%d", HKD_RT_PROTO);
    /* `proto` is part of what a deletion matches: another route to the subnet stays */
    char *cmd[] = {"ip", "-4", "route", "del", (char *)subnet, "proto", proto, NULL};
    if (hkd_run(cmd) < 0)
        rc = qvd_seterr("removing the route to %s: %s", subnet, qvd_strerror());
    if (route_forget(hkd, subnet) < 0)
        rc = -1;
    return rc;
}

/* network.c: the VM network of a node: the bridge with the node's address, the address
 * plan of QVD (hosts range below vm.network.ip.start, VMs from it), per-VM veth cleanup. */
#include <arpa/inet.h>
#include <net/if.h>
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

int
hkd_net_prefix_len(struct hkd *hkd)
{
    uint32_t mask = 0;

    if (parse_v4(qvd_config_get(hkd->cfg, "vm.network.netmask"), &mask) < 0)
        return -1;
    return __builtin_popcount(mask);
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

/* firewall.c: the node's nftables firewall for the VM network, through libnftables: a VM
 * sends only with its own MAC and address, reaches on the node only what vm.network.allow
 * opens, never another VM, and leaves the node only masqueraded through vm.network.nat.iface.
 *
 * Two tables of our own, both named `qvd`, rebuilt in one transaction at start-up:
 *   bridge qvd  frames from the VMs' ports (veths `<prefix><id>`). The map `ports` sends
 *               each port to its chain `vm-<veth>`, which accepts IPv4 and ARP carrying
 *               that VM's MAC and address only; a port missing from the map (not started
 *               by us, or not yet set up) is dropped, and so is every frame bridged from a
 *               VM port to another port.
 *   inet qvd    packets from the bridge to the node: replies to what the node opened, and
 *               the allowed ports of the node's address on the VM network; nothing else.
 *               Forwarding from the bridge: replies, and new flows only out of the NAT
 *               interface (masqueraded); never back into the bridge (VM to VM by routing).
 * Only the VMs' traffic is filtered: what the node sends them is left as it is. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#include "config.h"
#include "err.h"
#include "hkd.h"
#include "log.h"
#include "util.h"

#define FW_TABLE "qvd"

static struct nft_ctx *nft;

/* Runs an nft script as one transaction: all of it applies, or nothing. */
static int
nft_apply(const char *script, const char *what)
{
    if (nft == NULL)
        return qvd_seterr("%s: the firewall is not set up", what);
    /* the buffers are read after every command: reading empties them */
    int rc = nft_run_cmd_from_buffer(nft, script);
    const char *msg = nft_ctx_get_error_buffer(nft);

    nft_ctx_get_output_buffer(nft);
    if (rc != 0)
        return qvd_seterr("%s: nftables refused it: %.*s", what,
                          (int)(msg ? strcspn(msg, "\n") : 0), msg ? msg : "");
    return 0;
}

/* A network interface name (what nftables quotes): 1-15 letters, digits, '.', '_', '-'. */
static bool
ifname_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n >= IFNAMSIZ)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* xx:xx:xx:xx:xx:xx in hex digits, nothing else */
static bool
mac_ok(const char *s)
{
    for (int i = 0; i < 17; i++)
        if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
            return false;
    return s[17] == '\0';
}

static int
parse_port(const char *s, long *out)
{
    if (qvd_parse_long(s, out) < 0 || *out < 1 || *out > 65535)
        return -1;
    return 0;
}

/* vm.network.allow: items separated by commas or spaces, each `tcp:PORT`, `udp:PORT`
 * (PORT may be a range LOW-HIGH) or `icmp` (echo requests). Appends the nft rules that
 * accept them towards `host` to `rules`. */
static int
allow_rules(const char *spec, const char *host, struct qvd_buf *rules)
{
    struct qvd_buf tcp = QVD_BUF_INIT, udp = QVD_BUF_INIT;
    const char *orig = spec ? spec : "";
    char *copy = qvd_xstrdup(orig), *save = NULL;
    bool icmp = false;
    int rc = 0;

    for (char *item = strtok_r(copy, ", \t", &save); item; item = strtok_r(NULL, ", \t", &save)) {
        char *colon = strchr(item, ':'), *dash = NULL;
        long lo, hi;
        struct qvd_buf *list;

        if (strcmp(item, "icmp") == 0) {
            icmp = true;
            continue;
        }
        if (colon == NULL)
            goto bad;
        *colon = '\0';
        if (strcmp(item, "tcp") == 0)
            list = &tcp;
        else if (strcmp(item, "udp") == 0)
            list = &udp;
        else
            goto bad;
        dash = strchr(colon + 1, '-');
        if (dash != NULL)
            *dash = '\0';
        if (parse_port(colon + 1, &lo) < 0 || (dash && parse_port(dash + 1, &hi) < 0))
            goto bad;
        if (dash == NULL)
            hi = lo;
        if (hi < lo)
            goto bad;
        qvd_buf_printf(list, list->len ? ", %ld" : "%ld", lo);
        if (hi > lo)
            qvd_buf_printf(list, "-%ld", hi);
        continue;
    bad:
        rc = qvd_seterr("vm.network.allow: '%.*s' is not tcp:PORT, udp:PORT, tcp:LOW-HIGH or icmp "
                        "(e.g. \"tcp:53,udp:53,tcp:631\")",
                        (int)strcspn(orig + (item - copy), ", \t"), orig + (item - copy));
        goto out;
    }
    if (tcp.len)
        qvd_buf_printf(rules, "ip daddr %s tcp dport { %s } accept\n", host, qvd_buf_str(&tcp));
    if (udp.len)
        qvd_buf_printf(rules, "ip daddr %s udp dport { %s } accept\n", host, qvd_buf_str(&udp));
    if (icmp)
        qvd_buf_printf(rules, "ip daddr %s icmp type echo-request accept\n", host);
out:
    qvd_buf_free(&tcp);
    qvd_buf_free(&udp);
    free(copy);
    return rc;
}

/* Routing is what carries VM traffic to the NAT interface and back: on for these two
 * interfaces only (not the node-wide ip_forward); the forward chain decides what passes. */
static int
enable_forwarding(const char *iface)
{
    char path[128];
    int fd, rc = 0;

    snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", iface);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "1", 1) != 1)
        rc = qvd_seterr("cannot turn on forwarding on %s: %s", iface, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

/* The database servers' IPv4 addresses (database.host: names or addresses, separated by
 * commas), as nft set elements into `out`: no VM opens anything to them, NAT or not. A name
 * that does not resolve is left out (a Unix socket folder too). */
static int
db_addrs(struct hkd *hkd, struct qvd_buf *out)
{
    const char *hosts = qvd_config_get(hkd->cfg, "database.host");
    char *copy = qvd_xstrdup(hosts ? hosts : ""), *save = NULL;

    for (char *h = strtok_r(copy, ", ", &save); h; h = strtok_r(NULL, ", ", &save)) {
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res, *a;
        char buf[INET_ADDRSTRLEN];

        if (*h == '/' || getaddrinfo(h, NULL, &hints, &res) != 0)
            continue;
        for (a = res; a; a = a->ai_next) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)a->ai_addr)->sin_addr, buf,
                      sizeof(buf));
            qvd_buf_printf(out, out->len ? ", %s" : "%s", buf);
        }
        freeaddrinfo(res);
    }
    free(copy);
    return 0;
}

/* The whole ruleset, with the tables of a previous run (if any) deleted first, in one
 * transaction: there is never a moment without a firewall, nor a duplicate rule. */
static int
build_ruleset(struct hkd *hkd, const char *br, const char *prefix, const char *nat,
              struct qvd_buf *s)
{
    struct qvd_buf allow = QVD_BUF_INIT, dbs = QVD_BUF_INIT;

    if (allow_rules(qvd_config_get(hkd->cfg, "vm.network.allow"), hkd->host_address, &allow) < 0)
        return -1;
    qvd_buf_printf(s,
                   "table bridge " FW_TABLE "\ndelete table bridge " FW_TABLE "\n"
                   "table inet " FW_TABLE "\ndelete table inet " FW_TABLE "\n"
                   "table bridge " FW_TABLE " {\n"
                   "  map ports { type ifname : verdict; }\n"
                   "  chain prerouting {\n"
                   "    type filter hook prerouting priority filter; policy accept;\n"
                   "    iifname vmap @ports\n"
                   "    iifname \"%s*\" counter drop\n"
                   "  }\n"
                   "  chain forward {\n"
                   "    type filter hook forward priority filter; policy accept;\n"
                   "    iifname \"%s*\" counter drop\n"
                   "  }\n"
                   "}\n",
                   prefix, prefix);
    qvd_buf_printf(s,
                   "table inet " FW_TABLE " {\n"
                   "  set peers { type ipv4_addr; }\n"
                   "  set peer_nets { type ipv4_addr; flags interval; }\n"
                   "  chain input {\n"
                   "    type filter hook input priority filter; policy accept;\n"
                   "    iifname \"%s\" jump from_vm\n"
                   "  }\n"
                   "  chain from_vm {\n"
                   "    ct state established,related accept\n"
                   "%s"
                   "    counter drop\n"
                   "  }\n"
                   "  chain forward {\n"
                   "    type filter hook forward priority filter; policy accept;\n"
                   "    iifname \"%s\" jump from_vm_routed\n"
                   "    oifname \"%s\" jump to_vm_routed\n"
                   "  }\n"
                   "  chain to_vm_routed {\n"
                   "    ct state established,related accept\n",
                   br, qvd_buf_str(&allow), br, br);
    /* routed in from outside the node: only the peers' L7Rs to the VMA and X ports */
    if (*hkd->lan_iface)
        qvd_buf_printf(s,
                       "    iifname \"%s\" ip saddr @peers tcp dport { %ld, %ld } ct state new "
                       "accept\n",
                       hkd->lan_iface, qvd_config_int(hkd->cfg, "internal.vm.port.vma"),
                       4000 + qvd_config_int(hkd->cfg, "internal.nxagent.display"));
    qvd_buf_printf(s,
                   "    counter drop\n"
                   "  }\n"
                   "  chain from_vm_routed {\n"
                   "    oifname \"%s\" counter drop\n"
                   "    ct state established,related accept\n"
                   "    ip daddr @peers counter drop\n"
                   "    ip daddr @peer_nets counter drop\n",
                   br);
    if (db_addrs(hkd, &dbs) == 0 && dbs.len)
        qvd_buf_printf(s, "    ip daddr { %s } counter drop\n", qvd_buf_str(&dbs));
    if (*nat)
        qvd_buf_printf(s, "    oifname \"%s\" accept\n", nat);
    qvd_buf_adds(s, "    counter drop\n  }\n");
    if (*nat)
        qvd_buf_printf(s,
                       "  chain postrouting {\n"
                       "    type nat hook postrouting priority srcnat; policy accept;\n"
                       "    iifname \"%s\" oifname \"%s\" masquerade\n"
                       "  }\n",
                       br, nat);
    qvd_buf_adds(s, "}\n");
    qvd_buf_free(&allow);
    qvd_buf_free(&dbs);
    return 0;
}

int
hkd_fw_init(struct hkd *hkd)
{
    const char *br = qvd_config_get(hkd->cfg, "vm.network.bridge");
    const char *prefix = qvd_config_get(hkd->cfg, "internal.vm.network.device.prefix");
    const char *nat = qvd_config_get(hkd->cfg, "vm.network.nat.iface");
    struct qvd_buf script = QVD_BUF_INIT;
    int rc = -1;

    if (hkd->hv->simulated)
        return 0; /* simulated VMs have no network */
    if (!ifname_ok(br) || !ifname_ok(prefix))
        return qvd_seterr("vm.network.bridge and internal.vm.network.device.prefix must be "
                          "interface names");
    if (nat == NULL)
        nat = "";
    if (*nat && (!ifname_ok(nat) || strcmp(nat, br) == 0))
        return qvd_seterr("vm.network.nat.iface '%s' must be the name of an interface other "
                          "than the bridge, or empty",
                          nat);
    if (*nat && if_nametoindex(nat) == 0)
        return qvd_seterr("vm.network.nat.iface %s: no such interface (it must exist when "
                          "qvd-hkd starts)",
                          nat);
    nft = nft_ctx_new(NFT_CTX_DEFAULT);
    if (nft == NULL)
        return qvd_seterr("cannot create a libnftables context");
    nft_ctx_buffer_output(nft);
    nft_ctx_buffer_error(nft);
    if (build_ruleset(hkd, br, prefix, nat, &script) < 0 ||
        nft_apply(qvd_buf_str(&script), "setting up the VM firewall") < 0)
        goto out;
    if (*nat && (enable_forwarding(br) < 0 || enable_forwarding(nat) < 0))
        goto out;
    /* a node with a VM subnet routes between its LAN interface and the bridge */
    if (*hkd->lan_iface && (enable_forwarding(br) < 0 || enable_forwarding(hkd->lan_iface) < 0))
        goto out;
    log_info("VM firewall up (tables bridge/inet %s)%s%s%s%s", FW_TABLE,
             *nat ? ", NAT out of " : "", nat, *hkd->lan_iface ? ", peers' L7Rs in from " : "",
             hkd->lan_iface);
    rc = 0;
out:
    if (rc < 0) {
        nft_ctx_free(nft);
        nft = NULL;
    }
    qvd_buf_free(&script);
    return rc;
}

void
hkd_fw_fini(struct hkd *hkd)
{
    if (nft == NULL)
        return;
    if (nft_apply("table bridge " FW_TABLE "\ndelete table bridge " FW_TABLE "\n"
                  "table inet " FW_TABLE "\ndelete table inet " FW_TABLE "\n",
                  "removing the VM firewall") < 0)
        log_warn("%s", qvd_strerror());
    nft_ctx_free(nft);
    nft = NULL;
}

/* The commands that remove a VM's entries, whether they exist or not: adding what is
 * already there is a no-op, so add-then-delete never fails on a missing entry. */
static void
del_commands(struct qvd_buf *s, const char *veth)
{
    qvd_buf_printf(s,
                   "add chain bridge " FW_TABLE " vm-%s\n"
                   "add element bridge " FW_TABLE " ports { \"%s\" : goto vm-%s }\n"
                   "delete element bridge " FW_TABLE " ports { \"%s\" }\n"
                   "flush chain bridge " FW_TABLE " vm-%s\n"
                   "delete chain bridge " FW_TABLE " vm-%s\n",
                   veth, veth, veth, veth, veth, veth);
}

int
hkd_fw_vm_add(struct hkd *hkd, const struct hkd_vm *vm)
{
    struct qvd_buf s = QVD_BUF_INIT;
    struct in_addr a;
    char veth[IFNAMSIZ + 8], what[64];
    int rc;

    if (hkd->hv->simulated)
        return 0;
    hkd_net_veth_name(hkd, vm->id, veth, sizeof(veth));
    /* the address and MAC go into an nft script: only well-formed values get there */
    if (inet_pton(AF_INET, vm->ip, &a) != 1 || !mac_ok(vm->mac) || !ifname_ok(veth))
        return qvd_seterr("VM %lld: bad address '%s', MAC '%s' or interface '%s' for the firewall",
                          (long long)vm->id, vm->ip, vm->mac, veth);
    /* replaces what a previous run may have left; the element, if there, is the same */
    qvd_buf_printf(&s,
                   "add chain bridge " FW_TABLE " vm-%s\n"
                   "flush chain bridge " FW_TABLE " vm-%s\n"
                   "add rule bridge " FW_TABLE " vm-%s ether saddr != %s counter drop\n"
                   "add rule bridge " FW_TABLE " vm-%s ip saddr %s accept\n"
                   "add rule bridge " FW_TABLE " vm-%s arp htype 1 arp ptype ip arp hlen 6 "
                   "arp plen 4 arp saddr ether %s arp saddr ip %s accept\n"
                   "add rule bridge " FW_TABLE " vm-%s counter drop\n"
                   "add element bridge " FW_TABLE " ports { \"%s\" : goto vm-%s }\n",
                   veth, veth, veth, vm->mac, veth, vm->ip, veth, vm->mac, vm->ip, veth, veth,
                   veth);
    snprintf(what, sizeof(what), "the firewall entries of VM %lld", (long long)vm->id);
    rc = nft_apply(qvd_buf_str(&s), what);
    qvd_buf_free(&s);
    return rc;
}

int
hkd_fw_vm_del(struct hkd *hkd, int64_t vm_id)
{
    struct qvd_buf s = QVD_BUF_INIT;
    char veth[IFNAMSIZ + 8], what[80];
    int rc;

    if (hkd->hv->simulated)
        return 0;
    hkd_net_veth_name(hkd, vm_id, veth, sizeof(veth));
    if (!ifname_ok(veth))
        return qvd_seterr("VM %lld: bad interface name '%s'", (long long)vm_id, veth);
    /* no table, nothing to remove; and never create it here: an empty table would let
     * the next VM's entries be added without the chains that enforce them */
    if (nft_apply("list table bridge " FW_TABLE, "") < 0)
        return 0;
    del_commands(&s, veth);
    snprintf(what, sizeof(what), "removing the firewall entries of VM %lld", (long long)vm_id);
    rc = nft_apply(qvd_buf_str(&s), what);
    qvd_buf_free(&s);
    return rc;
}

int
hkd_fw_peer(struct hkd *hkd, const char *subnet, const char *via, bool add)
{
    struct qvd_buf s = QVD_BUF_INIT;
    struct in_addr a;
    char what[96];
    int rc;

    if (hkd->hv->simulated)
        return 0;
    /* both go into an nft script: only well-formed values get there */
    if (strspn(subnet, "0123456789./") != strlen(subnet) || strchr(subnet, '/') == NULL ||
        (via != NULL && inet_pton(AF_INET, via, &a) != 1))
        return qvd_seterr("bad peer subnet '%s' or address '%s' for the firewall", subnet,
                          via ? via : "");
    /* adding what is there is a no-op: add-then-delete never fails on a missing element */
    qvd_buf_printf(&s, "add element inet " FW_TABLE " peer_nets { %s }\n", subnet);
    if (via != NULL)
        qvd_buf_printf(&s, "add element inet " FW_TABLE " peers { %s }\n", via);
    if (!add) {
        qvd_buf_printf(&s, "delete element inet " FW_TABLE " peer_nets { %s }\n", subnet);
        if (via != NULL)
            qvd_buf_printf(&s, "delete element inet " FW_TABLE " peers { %s }\n", via);
    }
    snprintf(what, sizeof(what), "%s peer %s of %s", add ? "adding" : "removing", via ? via : "-",
             subnet);
    rc = nft_apply(qvd_buf_str(&s), what);
    qvd_buf_free(&s);
    return rc;
}

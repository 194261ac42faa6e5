/* model_net.c: pure helpers of the model: VM address/MAC math, load-balancer score, tag
 * syntax. No database here, so the unit tests cover them directly. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "model_int.h"

int
qvd_model_ip_parse(const char *s, uint32_t *ip)
{
    struct in_addr a;

    if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
        return qvd_model_fail(QVD_MODEL_INVALID, "'%s' is not an IPv4 address (a.b.c.d)",
                              s ? s : "");
    *ip = ntohl(a.s_addr);
    return 0;
}

void
qvd_model_ip_format(uint32_t ip, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

int
qvd_model_net_parse(const char *ip_start, const char *netmask, struct qvd_model_net *net)
{
    uint32_t start, mask;

    if (qvd_model_ip_parse(ip_start, &start) < 0 || qvd_model_ip_parse(netmask, &mask) < 0)
        return qvd_model_fail(QVD_MODEL_INVALID, "vm.network.ip.start/netmask: %s", qvd_strerror());
    /* a netmask is ones then zeros: ~mask + 1 is a power of two */
    if (mask == 0 || ((~mask + 1) & ~mask) != 0)
        return qvd_model_fail(QVD_MODEL_INVALID, "vm.network.netmask %s is not a netmask", netmask);
    net->network = start & mask;
    net->broadcast = net->network | ~mask;
    net->first = start;
    net->last = net->broadcast - 1;
    if (start == net->network || start >= net->broadcast)
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "vm.network.ip.start %s leaves no VM addresses in its network",
                              ip_start);
    return 0;
}

static bool
used_has(const uint32_t *used, size_t n, uint32_t ip)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (used[mid] == ip)
            return true;
        if (used[mid] < ip)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

int
qvd_model_ip_pick(const struct qvd_model_net *net, const uint32_t *used, size_t n, uint32_t *ip)
{
    for (uint32_t a = net->last;; a--) {
        if (!used_has(used, n, a)) {
            *ip = a;
            return 0;
        }
        if (a == net->first)
            break;
    }
    return qvd_model_fail(QVD_MODEL_CONFLICT,
                          "no free VM address left in the VM network: widen vm.network.netmask"
                          " or lower vm.network.ip.start");
}

int
qvd_model_mac(const char *prefix, uint32_t ip, char out[18])
{
    /* three lowercase hex pairs separated by colons */
    if (prefix == NULL || strlen(prefix) != 8 || prefix[2] != ':' || prefix[5] != ':')
        goto bad;
    for (int i = 0; i < 8; i++)
        if (i % 3 != 2 && !isxdigit((unsigned char)prefix[i]))
            goto bad;
    snprintf(out, 18, "%c%c:%c%c:%c%c:%02x:%02x:%02x", tolower((unsigned char)prefix[0]),
             tolower((unsigned char)prefix[1]), tolower((unsigned char)prefix[3]),
             tolower((unsigned char)prefix[4]), tolower((unsigned char)prefix[6]),
             tolower((unsigned char)prefix[7]), (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
    return 0;
bad:
    return qvd_model_fail(QVD_MODEL_INVALID,
                          "vm.network.mac.prefix '%s' is not three hex pairs like 54:52:00",
                          prefix ? prefix : "");
}

double
qvd_model_lb_score(int64_t usable_ram, int64_t usable_cpu, int64_t assigned_vms, double w_ram,
                   double w_cpu, double w_random, double rnd)
{
    if (assigned_vms < 0)
        assigned_vms = 0;
    return (w_ram * (double)usable_ram + w_cpu * (double)usable_cpu) / (double)(assigned_vms + 1) +
           w_random * rnd;
}

bool
qvd_model_tag_valid(const char *tag)
{
    size_t len = tag ? strlen(tag) : 0;

    if (len == 0 || len > 128)
        return false;
    for (const char *p = tag; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
}

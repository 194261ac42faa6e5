/* priv_msg.c: the check of a request to the root parent of qvd-hkd (priv_msg.h). Pure:
 * no I/O, no state; the parent calls it on every packet before looking at any field. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "priv_msg.h"

/* the fields a request type uses; the others must be zero */
enum {
    U_VM = 1 << 0,
    U_DI = 1 << 1,
    U_STORAGE = 1 << 2,
    U_MEMORY = 1 << 3,
    U_NAME = 1 << 4,
    U_LOGIN = 1 << 5,
    U_IP = 1 << 6,
    U_MAC = 1 << 7,
    U_PATH = 1 << 8,
    U_FLAGS = 1 << 9,
    U_OFFSET = 1 << 10,
    U_SUBNET = 1 << 11,
};

static const struct {
    const char *name;
    unsigned used;
} types[HKD_PRIV_TYPE_END] = {
    [HKD_PRIV_START] = {"start", U_VM | U_DI | U_STORAGE | U_MEMORY | U_NAME | U_LOGIN | U_IP |
                                     U_MAC | U_PATH | U_FLAGS},
    [HKD_PRIV_IS_RUNNING] = {"is_running", U_VM},
    [HKD_PRIV_INIT_PID] = {"init_pid", U_VM},
    [HKD_PRIV_KILL] = {"kill", U_VM},
    [HKD_PRIV_CLEANUP] = {"cleanup", U_VM},
    [HKD_PRIV_BASE] = {"base", U_VM | U_PATH},
    [HKD_PRIV_UNPACKED] = {"unpacked", U_VM | U_PATH},
    /* the root file system and the home under it (per user: its login names it) */
    [HKD_PRIV_MOUNT] = {"mount", U_VM | U_DI | U_STORAGE | U_LOGIN | U_PATH | U_FLAGS},
    [HKD_PRIV_LIST] = {"list", U_OFFSET},
    [HKD_PRIV_FW_ADD] = {"fw_add", U_VM | U_IP | U_MAC},
    [HKD_PRIV_ROUTE_SET] = {"route_set", U_IP | U_SUBNET},
    [HKD_PRIV_ROUTE_DEL] = {"route_del", U_SUBNET},
};

const char *
hkd_priv_type_name(uint32_t type)
{
    return type > 0 && type < HKD_PRIV_TYPE_END ? types[type].name : "?";
}

static bool
zero(const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* A string field: ended within its size, not empty, no control character. */
static int
check_text(const char *what, const char *s, size_t size)
{
    const char *end = memchr(s, '\0', size);

    if (end == NULL)
        return qvd_seterr("%s is not NUL-terminated within its %zu bytes", what, size);
    if (end == s)
        return qvd_seterr("%s is empty", what);
    for (const char *p = s; p < end; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return qvd_seterr("%s contains a control character", what);
    return 0;
}

static bool
is_dots(const char *s, size_t n)
{
    return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

static int
check_ip(const char *ip)
{
    struct in_addr a;

    if (check_text("ip", ip, 16) < 0)
        return -1;
    if (strspn(ip, "0123456789.") != strlen(ip) || inet_pton(AF_INET, ip, &a) != 1)
        return qvd_seterr("ip is not a dotted IPv4 address");
    return 0;
}

static int
check_mac(const char *mac)
{
    if (check_text("mac", mac, 18) < 0)
        return -1;
    if (strlen(mac) != 17)
        return qvd_seterr("mac is not xx:xx:xx:xx:xx:xx");
    for (int i = 0; i < 17; i++)
        if (i % 3 == 2 ? mac[i] != ':' : strchr("0123456789abcdefABCDEF", mac[i]) == NULL)
            return qvd_seterr("mac is not xx:xx:xx:xx:xx:xx");
    return 0;
}

/* a.b.c.d/len (len 1-32) with no host bit set: the shape only (the parent checks that it
 * fits the node's address plan) */
static int
check_subnet(const char *s)
{
    const char *slash;
    struct in_addr a;
    char addr[16];
    unsigned long len;
    uint32_t v;

    if (check_text("subnet", s, 24) < 0)
        return -1;
    slash = strchr(s, '/');
    if (slash == NULL || slash == s || (size_t)(slash - s) >= sizeof(addr) ||
        strspn(slash + 1, "0123456789") != strlen(slash + 1) || strlen(slash + 1) < 1 ||
        strlen(slash + 1) > 2 || strspn(s, "0123456789.") != (size_t)(slash - s))
        return qvd_seterr("subnet is not a.b.c.d/len");
    memcpy(addr, s, (size_t)(slash - s));
    addr[slash - s] = '\0';
    len = strtoul(slash + 1, NULL, 10);
    if (inet_pton(AF_INET, addr, &a) != 1 || len < 1 || len > 32)
        return qvd_seterr("subnet is not a.b.c.d/len (len 1-32)");
    v = ntohl(a.s_addr);
    if (len < 32 && (v & (0xffffffffu >> len)) != 0)
        return qvd_seterr("subnet has host bits set");
    return 0;
}

/* Relative to the images folder and staying under it: no leading '/', no ".." part. */
static int
check_di_path(const char *path)
{
    if (check_text("di_path", path, 4096) < 0)
        return -1;
    if (path[0] == '/')
        return qvd_seterr("di_path is absolute (it must be relative to the images folder)");
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && is_dots(p, n))
            return qvd_seterr("di_path has a '..' part");
        p += n + (p[n] == '/');
    }
    return 0;
}

/* A login names a home folder (vm.lxc.home.per.user): one path component. */
static int
check_login(const char *login)
{
    if (check_text("login", login, 80) < 0)
        return -1;
    if (strchr(login, '/') != NULL || is_dots(login, strlen(login)))
        return qvd_seterr("login is not a single file name");
    return 0;
}

static int
check_fields(const struct hkd_priv_msg *m, unsigned used)
{
    if (!(used & U_VM) ? m->vm_id != 0 : m->vm_id < 1 || m->vm_id > HKD_PRIV_VM_ID_MAX)
        return qvd_seterr("vm_id %lld is out of range", (long long)m->vm_id);
    if (!(used & U_DI) ? m->di_id != 0 : m->di_id < 1)
        return qvd_seterr("di_id %lld is out of range", (long long)m->di_id);
    if (!(used & U_STORAGE) ? m->user_storage_mb != 0
                            : m->user_storage_mb < 0 || m->user_storage_mb > HKD_PRIV_STORAGE_MAX)
        return qvd_seterr("user_storage_mb %lld is out of range", (long long)m->user_storage_mb);
    if (!(used & U_MEMORY) ? m->memory_mb != 0
                           : m->memory_mb < 1 || m->memory_mb > HKD_PRIV_MEMORY_MAX)
        return qvd_seterr("memory_mb %d is out of range", (int)m->memory_mb);
    if (!(used & U_OFFSET) ? m->offset != 0 : m->offset < 0 || m->offset > HKD_PRIV_VM_ID_MAX)
        return qvd_seterr("offset %lld is out of range", (long long)m->offset);
    if (m->flags & ~((used & U_FLAGS) ? HKD_PRIV_F_OVERLAY : 0u))
        return qvd_seterr("flags 0x%x has unknown bits", (unsigned)m->flags);
    if (m->reserved != 0 || !zero(m->pad, sizeof(m->pad)))
        return qvd_seterr("padding is not zero");
    if ((used & U_NAME) ? check_text("name", m->name, sizeof(m->name)) < 0
                        : !zero(m->name, sizeof(m->name)))
        return (used & U_NAME) ? -1 : qvd_seterr("name is set but not used");
    if ((used & U_LOGIN) ? check_login(m->login) < 0 : !zero(m->login, sizeof(m->login)))
        return (used & U_LOGIN) ? -1 : qvd_seterr("login is set but not used");
    if ((used & U_IP) ? check_ip(m->ip) < 0 : !zero(m->ip, sizeof(m->ip)))
        return (used & U_IP) ? -1 : qvd_seterr("ip is set but not used");
    if ((used & U_MAC) ? check_mac(m->mac) < 0 : !zero(m->mac, sizeof(m->mac)))
        return (used & U_MAC) ? -1 : qvd_seterr("mac is set but not used");
    if ((used & U_PATH) ? check_di_path(m->di_path) < 0 : !zero(m->di_path, sizeof(m->di_path)))
        return (used & U_PATH) ? -1 : qvd_seterr("di_path is set but not used");
    if ((used & U_SUBNET) ? check_subnet(m->subnet) < 0 : !zero(m->subnet, sizeof(m->subnet)))
        return (used & U_SUBNET) ? -1 : qvd_seterr("subnet is set but not used");
    return 0;
}

int
hkd_priv_msg_check(const void *buf, size_t len)
{
    struct hkd_priv_msg m;

    if (len != sizeof(m))
        return qvd_seterr("a request of %zu bytes (a request is %zu)", len, sizeof(m));
    memcpy(&m, buf, sizeof(m));
    if (m.version != HKD_PRIV_VERSION)
        return qvd_seterr("version %u (this parent speaks %d)", (unsigned)m.version,
                          HKD_PRIV_VERSION);
    if (m.len != sizeof(m))
        return qvd_seterr("a length field of %u (a request is %zu)", (unsigned)m.len, sizeof(m));
    if (m.type == 0 || m.type >= HKD_PRIV_TYPE_END)
        return qvd_seterr("unknown request type %u", (unsigned)m.type);
    if (check_fields(&m, types[m.type].used) < 0)
        return qvd_seterr("%s request: %s", types[m.type].name, qvd_strerror());
    return 0;
}

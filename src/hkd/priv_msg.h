/* priv_msg.h: the fixed binary format of the requests the unprivileged engine of qvd-hkd
 * sends to its root parent over a SOCK_SEQPACKET socketpair, and the answers. One request
 * is one packet of exactly sizeof(struct hkd_priv_msg) bytes: no text is parsed, every
 * string has a fixed size and must end with a NUL inside it. */
#ifndef QVD_HKD_PRIV_MSG_H
#define QVD_HKD_PRIV_MSG_H

#include <stddef.h>
#include <stdint.h>

#define HKD_PRIV_VERSION 1
#define HKD_PRIV_VM_ID_MAX 999999999LL   /* 9 digits: "qvd" + id fits a veth name */
#define HKD_PRIV_MEMORY_MAX (1 << 20)    /* MiB of one VM: 1 TiB */
#define HKD_PRIV_STORAGE_MAX (1LL << 30) /* MiB of user storage */
#define HKD_PRIV_LIST_MAX 64             /* ids in one answer to HKD_PRIV_LIST */

/* What the engine asks for; each names the existing function the parent calls. */
enum hkd_priv_type {
    HKD_PRIV_START = 1,  /* hv->start: a VM's container (its fields, on the mounted root) */
    HKD_PRIV_IS_RUNNING, /* hv->is_running: value 1/0 */
    HKD_PRIV_INIT_PID,   /* hv->init_pid: value = pid or -1 */
    HKD_PRIV_KILL,       /* hv->kill */
    HKD_PRIV_CLEANUP,    /* hv->cleanup, hkd_net_cleanup, hkd_storage_cleanup, per-VM files */
    HKD_PRIV_BASE,       /* hkd_storage_base: rc 1 ready, 0 unpacking (value = pid, the
                          * child's pidfd passed along, or value -1: another VM unpacks) */
    HKD_PRIV_UNPACKED,   /* hkd_storage_unpacked once that child has exited */
    HKD_PRIV_MOUNT,      /* hkd_storage_mount */
    HKD_PRIV_LIST,       /* hv->list from index `offset`: ids, value = how many in all */
    HKD_PRIV_FW_ADD,     /* hkd_fw_vm_add: an adopted VM's entries (the tables were rebuilt) */
    HKD_PRIV_ROUTE_SET,  /* hkd_net_route_set: route `subnet` via `ip` (a peer node's) */
    HKD_PRIV_ROUTE_DEL,  /* hkd_net_route_del: our route to `subnet`, if there */
    HKD_PRIV_TYPE_END,
};

#define HKD_PRIV_F_OVERLAY 0x1u /* the OSF uses an overlay (else the image read-only) */

struct hkd_priv_msg {
    uint32_t version;        /* HKD_PRIV_VERSION */
    uint32_t type;           /* enum hkd_priv_type */
    uint32_t len;            /* sizeof(struct hkd_priv_msg) */
    uint32_t flags;          /* HKD_PRIV_F_* */
    int64_t vm_id;           /* 1 .. HKD_PRIV_VM_ID_MAX (LIST: 0) */
    int64_t di_id;           /* START, MOUNT: 1 .. */
    int64_t user_storage_mb; /* START: 0 .. HKD_PRIV_STORAGE_MAX */
    int64_t offset;          /* LIST: 0 .. */
    int32_t memory_mb;       /* START: 1 .. HKD_PRIV_MEMORY_MAX */
    uint32_t reserved;       /* 0 */
    char name[80];           /* START: the VM's name, printable */
    char login[80];          /* START: its user's login, a single path component */
    char ip[16];             /* START, FW_ADD: dotted IPv4; ROUTE_SET: the next hop */
    char mac[18];            /* START: xx:xx:xx:xx:xx:xx */
    char pad[6];             /* 0 */
    char di_path[4096];      /* START, BASE, UNPACKED, MOUNT: relative to path.storage.images */
    char subnet[24];         /* ROUTE_*: a.b.c.d/len, no host bit set */
};

struct hkd_priv_res {
    uint32_t version, type, len; /* as the request's, len = sizeof(struct hkd_priv_res) */
    int32_t rc;                  /* 0 / -1 (BASE: 1 / 0 / -1) */
    int64_t vm_id;
    int64_t value;
    uint32_t n_ids, reserved;
    int64_t ids[HKD_PRIV_LIST_MAX];
    char err[512]; /* the error when rc is -1 */
};

/* Checks one request as received (`len` bytes at `buf`, unaligned allowed): version,
 * exact length, known type, the VM id in range, and for its type every field it uses
 * (strings ended within their size and of their charset, a DI path that stays under the
 * images folder: relative, no "..", memory in bounds); unused numbers and padding zero.
 * Touches nothing else: the fuzz target calls it on any bytes. 0, or -1 with
 * qvd_strerror() saying what is wrong. */
int hkd_priv_msg_check(const void *buf, size_t len);

/* The name of a request type for logs ("start", ...), "?" for an unknown one. */
const char *hkd_priv_type_name(uint32_t type);

#endif

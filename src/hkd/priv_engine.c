/* priv_engine.c: the engine's side of the channel to the root parent (priv.c): one
 * synchronous request and answer per privileged call, as the calls were synchronous
 * before the split. The parent gone (EOF) ends the engine: its VMs go on running, and the
 * next qvd-hkd adopts them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "hkd.h"
#include "log.h"
#include "priv_msg.h"
#include "util.h"

static void
parent_gone(const char *why)
{
    qvd_fatal("the privileged parent is gone (%s): exiting; the VMs go on running and the"
              " next qvd-hkd adopts them",
              why);
}

/* Sends `m` (its version and length filled in here) and waits for the answer; a passed
 * descriptor goes to *fd (closed if fd is NULL). Returns the answer's rc, with
 * qvd_strerror() set from it on -1. */
static int
call(struct hkd *hkd, struct hkd_priv_msg *m, struct hkd_priv_res *r, int *fd)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {r, sizeof(*r)};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    ssize_t n;
    int got = -1;

    m->version = HKD_PRIV_VERSION;
    m->len = sizeof(*m);
    if (send(hkd->priv_fd, m, sizeof(*m), MSG_NOSIGNAL) != (ssize_t)sizeof(*m))
        parent_gone(strerror(errno));
    while ((n = recvmsg(hkd->priv_fd, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n <= 0)
        parent_gone(n == 0 ? "end of file" : strerror(errno));
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&got, CMSG_DATA(c), sizeof(int));
    if (fd != NULL)
        *fd = got;
    else if (got >= 0)
        close(got);
    if (n != (ssize_t)sizeof(*r) || r->len != sizeof(*r) || r->version != HKD_PRIV_VERSION)
        qvd_fatal("a malformed answer from the privileged parent (%zd bytes)", n);
    r->err[sizeof(r->err) - 1] = '\0';
    hkd_host_tick_due(hkd);
    if (r->rc < 0)
        return qvd_seterr("%s", r->err);
    if (r->type != m->type || r->vm_id != m->vm_id)
        qvd_fatal("an answer of the privileged parent out of step with the request");
    return r->rc;
}

/* A request about VM `id` that carries nothing else. */
static int
call_id(struct hkd *hkd, uint32_t type, int64_t id, int64_t *value)
{
    struct hkd_priv_msg m = {.type = type, .vm_id = id};
    struct hkd_priv_res r;
    int rc = call(hkd, &m, &r, NULL);

    if (value != NULL)
        *value = rc < 0 ? -1 : r.value;
    return rc;
}

/* The fields of `vm` that a request of `type` carries. */
static void
fill(struct hkd_priv_msg *m, uint32_t type, const struct hkd_vm *vm, bool all)
{
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->vm_id = vm->id;
    snprintf(m->di_path, sizeof(m->di_path), "%s", vm->di_path);
    if (type == HKD_PRIV_START || type == HKD_PRIV_MOUNT) {
        m->di_id = vm->di_id;
        m->flags = vm->use_overlay ? HKD_PRIV_F_OVERLAY : 0;
        m->user_storage_mb = vm->user_storage_mb;
        snprintf(m->login, sizeof(m->login), "%s", vm->login);
    }
    if (!all)
        return;
    m->memory_mb = vm->memory_mb;
    snprintf(m->name, sizeof(m->name), "%s", vm->name);
    snprintf(m->ip, sizeof(m->ip), "%s", vm->ip);
    snprintf(m->mac, sizeof(m->mac), "%s", vm->mac);
}

int
hkd_priv_fw_add(struct hkd_vm *vm)
{
    struct hkd_priv_msg m;
    struct hkd_priv_res r;

    fill(&m, HKD_PRIV_FW_ADD, vm, false);
    memset(m.di_path, 0, sizeof(m.di_path)); /* only the VM, its address and MAC */
    snprintf(m.ip, sizeof(m.ip), "%s", vm->ip);
    snprintf(m.mac, sizeof(m.mac), "%s", vm->mac);
    return call(vm->hkd, &m, &r, NULL);
}

int
hkd_priv_start(struct hkd_vm *vm)
{
    struct hkd_priv_msg m;
    struct hkd_priv_res r;

    fill(&m, HKD_PRIV_START, vm, true);
    return call(vm->hkd, &m, &r, NULL);
}

bool
hkd_priv_is_running(struct hkd *hkd, int64_t vm_id)
{
    int64_t v = 0;

    return call_id(hkd, HKD_PRIV_IS_RUNNING, vm_id, &v) == 0 && v == 1;
}

pid_t
hkd_priv_init_pid(struct hkd *hkd, int64_t vm_id)
{
    int64_t v = -1;

    call_id(hkd, HKD_PRIV_INIT_PID, vm_id, &v);
    return (pid_t)v;
}

int
hkd_priv_kill(struct hkd *hkd, int64_t vm_id)
{
    return call_id(hkd, HKD_PRIV_KILL, vm_id, NULL);
}

int
hkd_priv_cleanup(struct hkd *hkd, int64_t vm_id)
{
    return call_id(hkd, HKD_PRIV_CLEANUP, vm_id, NULL);
}

int
hkd_priv_base(struct hkd_vm *vm)
{
    struct hkd_priv_msg m;
    struct hkd_priv_res r;
    int rc;

    fill(&m, HKD_PRIV_BASE, vm, false);
    rc = call(vm->hkd, &m, &r, &vm->unpack_fd);
    if (rc == 0) {
        vm->unpack_pid = (pid_t)r.value; /* -1: another VM's child unpacks it */
        if (r.value > 0 && vm->unpack_fd < 0)
            return qvd_seterr("the privileged parent passed no pidfd for the unpack child");
    }
    return rc;
}

int
hkd_priv_unpacked(struct hkd_vm *vm)
{
    struct hkd_priv_msg m;
    struct hkd_priv_res r;

    fill(&m, HKD_PRIV_UNPACKED, vm, false);
    vm->unpack_pid = 0;
    return call(vm->hkd, &m, &r, NULL);
}

int
hkd_priv_mount(struct hkd_vm *vm)
{
    struct hkd_priv_msg m;
    struct hkd_priv_res r;

    fill(&m, HKD_PRIV_MOUNT, vm, false);
    hkd_priv_rootfs(vm->hkd, vm->id, vm->rootfs, sizeof(vm->rootfs));
    return call(vm->hkd, &m, &r, NULL);
}

int
hkd_priv_list(struct hkd *hkd, int64_t **ids, size_t *n)
{
    struct hkd_priv_msg m = {.type = HKD_PRIV_LIST};
    struct hkd_priv_res r;

    *ids = NULL;
    *n = 0;
    do {
        m.offset = (int64_t)*n;
        if (call(hkd, &m, &r, NULL) < 0)
            return -1;
        if (r.n_ids > HKD_PRIV_LIST_MAX)
            qvd_fatal("a malformed answer from the privileged parent (%u ids)", r.n_ids);
        *ids = qvd_xrealloc(*ids, (*n + r.n_ids + 1) * sizeof(**ids));
        memcpy(*ids + *n, r.ids, r.n_ids * sizeof(**ids));
        *n += r.n_ids;
    } while (r.n_ids > 0 && (int64_t)*n < r.value);
    return 0;
}

/* The end of the channel: the parent is gone. Only the hang-up is watched (EV_CLOSED): the
 * answers are read by call(). */
static void
on_parent(evutil_socket_t fd, short what, void *arg)
{
    parent_gone("end of file");
}

void
hkd_priv_watch(struct hkd *hkd)
{
    hkd->priv_ev = event_new(hkd->base, hkd->priv_fd, EV_CLOSED | EV_PERSIST, on_parent, hkd);
    event_add(hkd->priv_ev, NULL);
}

/* A route request: `subnet` (a.b.c.d/len) and, for ROUTE_SET, the next hop `via`. */
static int
call_route(struct hkd *hkd, uint32_t type, const char *subnet, const char *via)
{
    struct hkd_priv_msg m = {.type = type};
    struct hkd_priv_res r;

    snprintf(m.subnet, sizeof(m.subnet), "%s", subnet);
    snprintf(m.ip, sizeof(m.ip), "%s", via != NULL ? via : "");
    return call(hkd, &m, &r, NULL);
}

int
hkd_priv_route_set(struct hkd *hkd, const char *subnet, const char *via)
{
    return call_route(hkd, HKD_PRIV_ROUTE_SET, subnet, via);
}

int
hkd_priv_route_del(struct hkd *hkd, const char *subnet)
{
    return call_route(hkd, HKD_PRIV_ROUTE_DEL, subnet, NULL);
}

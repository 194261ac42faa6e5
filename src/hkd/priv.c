/* priv.c: the root parent of qvd-hkd, as OpenBSD's vmd: after the privileged start-up it
 * forks the engine (database, state machine, VMA calls, timers; unprivileged, hkd.user)
 * and then only serves the engine's requests (priv_msg.h) by calling the existing
 * functions that need root: containers (hv_*.c), mounts (storage.c), network devices
 * (network.c). It parses nothing from a guest and no text: every packet is checked by
 * hkd_priv_msg_check() first; a refused one is logged and answered with an error. */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "hkd.h"
#include "log.h"
#include "priv_msg.h"
#include "util.h"

static volatile pid_t engine_pid;

/* DI unpack children this parent started, by VM: only those may be finished. */
static struct {
    int64_t vm_id;
    pid_t pid;
} unpacks[64];

static void
forward_signal(int sig)
{
    if (engine_pid > 0)
        kill(engine_pid, sig); /* the engine stops the VMs through us, then exits */
}

/* The VM a request describes, as the called functions expect it. */
static void
vm_from(struct hkd *hkd, const struct hkd_priv_msg *m, struct hkd_vm *vm)
{
    memset(vm, 0, sizeof(*vm));
    vm->hkd = hkd;
    vm->id = m->vm_id;
    vm->unpack_fd = -1;
    vm->di_id = m->di_id;
    vm->memory_mb = m->memory_mb;
    vm->user_storage_mb = m->user_storage_mb;
    vm->use_overlay = (m->flags & HKD_PRIV_F_OVERLAY) != 0;
    snprintf(vm->name, sizeof(vm->name), "%s", m->name);
    snprintf(vm->login, sizeof(vm->login), "%s", m->login);
    snprintf(vm->ip, sizeof(vm->ip), "%s", m->ip);
    snprintf(vm->mac, sizeof(vm->mac), "%s", m->mac);
    snprintf(vm->di_path, sizeof(vm->di_path), "%s", m->di_path);
    hkd_priv_rootfs(hkd, vm->id, vm->rootfs, sizeof(vm->rootfs));
}

static int
unpack_slot(int64_t vm_id, pid_t pid)
{
    for (size_t i = 0; i < QVD_ARRAY_LEN(unpacks); i++)
        if (pid ? unpacks[i].pid == 0 : unpacks[i].vm_id == vm_id && unpacks[i].pid > 0) {
            if (pid)
                unpacks[i].vm_id = vm_id, unpacks[i].pid = pid;
            return (int)i;
        }
    return -1;
}

static int
finish_unpack(struct hkd *hkd, struct hkd_vm *vm)
{
    int slot = unpack_slot(vm->id, 0), status = 0;
    pid_t pid;

    if (slot < 0)
        return qvd_seterr("VM %lld has no unpack child", (long long)vm->id);
    pid = waitpid(unpacks[slot].pid, &status, WNOHANG);
    if (pid == 0)
        return qvd_seterr("the unpack child of VM %lld has not finished", (long long)vm->id);
    vm->unpack_pid = unpacks[slot].pid;
    unpacks[slot].pid = 0;
    return hkd_storage_unpacked(hkd, vm, pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int
cleanup(struct hkd *hkd, int64_t vm_id)
{
    char first[512] = "";
    int rc = 0;

    /* all of them run whatever fails: each removes what it can */
    if (hkd->hv->cleanup(hkd, vm_id) < 0)
        rc = -1, snprintf(first, sizeof(first), "%s", qvd_strerror());
    if (hkd_fw_vm_del(hkd, vm_id) < 0 && rc++ == 0)
        snprintf(first, sizeof(first), "%s", qvd_strerror());
    if (hkd_net_cleanup(hkd, vm_id) < 0 && rc++ == 0)
        snprintf(first, sizeof(first), "%s", qvd_strerror());
    if (hkd_storage_cleanup(hkd, vm_id) < 0 && rc++ == 0)
        snprintf(first, sizeof(first), "%s", qvd_strerror());
    /* the engine removes the per-VM files too; a folder left by a run that was all root
     * (before an upgrade) is only ours to remove */
    hkd_vma_remove_files(hkd, vm_id);
    return rc ? qvd_seterr("%s", first) : 0;
}

/* Runs one checked request; its answer goes to `r` (and a pidfd to *fd for BASE). */
static int
serve(struct hkd *hkd, const struct hkd_priv_msg *m, struct hkd_priv_res *r, int *fd)
{
    static struct hkd_vm vm; /* 8 KiB of paths */
    int64_t *ids = NULL;
    size_t n = 0;
    int rc;

    vm_from(hkd, m, &vm);
    switch (m->type) {
    case HKD_PRIV_START:
        return hkd->hv->start(hkd, &vm);
    case HKD_PRIV_IS_RUNNING:
        r->value = hkd->hv->is_running(hkd, m->vm_id);
        return 0;
    case HKD_PRIV_INIT_PID:
        r->value = hkd->hv->init_pid(hkd, m->vm_id);
        return 0;
    case HKD_PRIV_KILL:
        return hkd->hv->kill(hkd, m->vm_id);
    case HKD_PRIV_CLEANUP:
        return cleanup(hkd, m->vm_id);
    case HKD_PRIV_BASE:
        rc = hkd_storage_base(hkd, &vm);
        r->value = vm.unpack_pid;
        if (rc == 0 && vm.unpack_pid > 0) {
            if (unpack_slot(m->vm_id, vm.unpack_pid) < 0) {
                kill(vm.unpack_pid, SIGKILL); /* waited for by the next hkd_storage_init */
                close(vm.unpack_fd);
                return qvd_seterr("too many DIs are being unpacked at once");
            }
            *fd = vm.unpack_fd;
        }
        return rc;
    case HKD_PRIV_UNPACKED:
        return finish_unpack(hkd, &vm);
    case HKD_PRIV_MOUNT:
        return hkd_storage_mount(hkd, &vm);
    case HKD_PRIV_FW_ADD:
        return hkd_fw_vm_add(hkd, &vm);
    case HKD_PRIV_ROUTE_SET:
        return hkd_net_route_set(hkd, m->subnet, m->ip);
    case HKD_PRIV_ROUTE_DEL:
        return hkd_net_route_del(hkd, m->subnet);
    case HKD_PRIV_LIST:
        if (hkd->hv->list != NULL && hkd->hv->list(hkd, &ids, &n) < 0)
            return -1;
        r->value = (int64_t)n;
        for (size_t i = (size_t)m->offset; i < n && r->n_ids < HKD_PRIV_LIST_MAX; i++)
            r->ids[r->n_ids++] = ids[i];
        free(ids);
        return 0;
    }
    return qvd_seterr("unknown request type"); /* hkd_priv_msg_check() let none through */
}

static int
answer(int sock, const struct hkd_priv_res *r, int fd)
{
    struct iovec iov = {(void *)r, sizeof(*r)};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

    if (fd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(*r) ? 0 : -1;
}

/* The parent's whole life after the fork: serve until the engine goes (EOF), then exit
 * with its status. */
static int
parent_loop(struct hkd *hkd, int sock)
{
    static struct hkd_priv_msg m;
    static struct hkd_priv_res r;
    int status = 0;

    for (;;) {
        /* MSG_TRUNC: the packet's real length, so that a long one is refused as long */
        ssize_t n = recv(sock, &m, sizeof(m), MSG_TRUNC);
        int fd = -1;

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            log_info("the engine (pid %d) is gone: exiting", (int)engine_pid);
            break;
        }
        memset(&r, 0, sizeof(r));
        r.version = HKD_PRIV_VERSION;
        r.len = sizeof(r);
        if (hkd_priv_msg_check(&m, (size_t)n) < 0) {
            log_warn("refused a request of the engine: %s", qvd_strerror());
            r.rc = -1;
            snprintf(r.err, sizeof(r.err), "refused by the privileged parent: %s", qvd_strerror());
        } else {
            r.type = m.type;
            r.vm_id = m.vm_id;
            log_debug("request %s VM %lld", hkd_priv_type_name(m.type), (long long)m.vm_id);
            r.rc = serve(hkd, &m, &r, &fd);
            if (r.rc < 0)
                snprintf(r.err, sizeof(r.err), "%s", qvd_strerror());
        }
        if (answer(sock, &r, fd) < 0)
            log_warn("cannot answer the engine: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    while (waitpid(engine_pid, &status, 0) < 0 && errno == EINTR)
        ;
    /* an engine that stopped in order stopped every VM first: nothing is left to filter;
     * one that died leaves running VMs, which stay filtered for the next HKD to adopt */
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        hkd_fw_fini(hkd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int
hkd_priv_fork(struct hkd *hkd)
{
    struct sigaction sa = {.sa_handler = forward_signal};
    int sv[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return qvd_seterr("socketpair: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        return qvd_seterr("fork: %s", strerror(errno));
    if (pid == 0) {
        close(sv[0]);
        hkd->priv_fd = sv[1];
        return 0;
    }
    close(sv[1]);
    engine_pid = pid;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGHUP, SIG_IGN);
    qvd_log_init("qvd-hkd[priv]", qvd_log_level_parse(qvd_config_get(hkd->cfg, "log.level")), NULL);
    log_info("privileged parent serving the engine (pid %d)", (int)pid);
    exit(parent_loop(hkd, sv[0]));
}

/* The user of the engine: hkd.user; the default `qvd` falls back to nobody when this node
 * has no such user (with a warning: create it, see docs/hkd.md). */
static struct passwd *
engine_user(struct hkd *hkd)
{
    const char *name = qvd_config_get(hkd->cfg, "hkd.user");
    struct passwd *pw;

    if (name == NULL || *name == '\0')
        return NULL;
    pw = getpwnam(name);
    if (pw == NULL && strcmp(name, "qvd") == 0 && (pw = getpwnam("nobody")) != NULL) {
        log_warn("hkd.user 'qvd' does not exist: the engine runs as nobody (create the user:"
                 " useradd --system -g nogroup -M -s /usr/sbin/nologin qvd)");
        qvd_config_set(hkd->cfg, "hkd.user", "nobody");
    }
    if (pw == NULL)
        qvd_seterr("hkd.user '%s' does not exist: create it or set hkd.user", name);
    return pw;
}

int
hkd_priv_prepare(struct hkd *hkd)
{
    const char *keys[] = {"path.run", "path.log"};
    const char *name = qvd_config_get(hkd->cfg, "hkd.user");
    struct passwd *pw = engine_user(hkd);

    if (pw == NULL)
        return name == NULL || *name == '\0' ? 0 : -1;
    /* the engine writes the per-VM files (vma.conf, the secret) and the VMA's log folder */
    for (size_t i = 0; i < QVD_ARRAY_LEN(keys); i++) {
        const char *base = qvd_config_get(hkd->cfg, keys[i]);
        char *dir = qvd_xasprintf("%s/vm", base ? base : "/nonexistent");
        int rc = qvd_mkdir_p(dir, 0711);
        /* only passed through by VMs and others: nobody lists the VMs of the node */
        if (rc == 0 && (chown(dir, pw->pw_uid, pw->pw_gid) < 0 || chmod(dir, 0711) < 0))
            rc = qvd_seterr("cannot give %s to hkd.user: %s", dir, strerror(errno));
        free(dir);
        if (rc < 0)
            return -1;
    }
    return 0;
}

void
hkd_priv_rootfs(struct hkd *hkd, int64_t vm_id, char *out, size_t len)
{
    /* the mount point hkd_storage_mount() uses */
    snprintf(out, len, "%s/%lld-fs", qvd_config_get(hkd->cfg, "path.storage.rootfs"),
             (long long)vm_id);
}

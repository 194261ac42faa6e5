/* hv_lxc.c: the LXC hypervisor through liblxc: one container `qvd-<vm id>` per VM under
 * ${path.run}/lxc, the VMA of the node bind-mounted inside and run as the container's init. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "config.h"
#include "err.h"
#include "hkd.h"
#include "log.h"
#include "util.h"

/* where the node's VMA appears in every VM (relative to the root for mount entries) */
#define VMA_IN_VM_REL "usr/lib/qvd/bin/qvd-vma"
#define VMA_IN_VM "/" VMA_IN_VM_REL

static bool cgroup_v2_only;

/* What container root may still do: enough to provision the session user (useradd, chown
 * of the home) and to start the desktop as that user. Everything else, sys_admin (mounts),
 * dac_read_search (open_by_handle_at), net_admin/net_raw, sys_ptrace, mknod, bpf,
 * sys_boot, sys_module..., is gone, and only over the VM's own user namespace anyway. */
static const char default_caps[] = "chown dac_override fowner fsetid kill setgid setuid";

/* LXC's seccomp policy (v2 deny list) plus what a desktop never needs and an attacker
 * would: new user namespaces (root of a fresh one may mount tmpfs, proc...), mounts, keys,
 * bpf, perf, userfaultfd, kexec, handles, modules. clone3 hides its flags in memory, so it
 * answers ENOSYS and libc falls back to clone, whose flags are checked. */
static const char seccomp_policy[] = "2\n"
                                     "denylist\n"
                                     "reject_force_umount\n"
                                     "[all]\n"
                                     "kexec_load errno 1\n"
                                     "kexec_file_load errno 1\n"
                                     "open_by_handle_at errno 1\n"
                                     "name_to_handle_at errno 1\n"
                                     "init_module errno 1\n"
                                     "finit_module errno 1\n"
                                     "delete_module errno 1\n"
                                     "keyctl errno 38\n"
                                     "add_key errno 38\n"
                                     "request_key errno 38\n"
                                     "bpf errno 1\n"
                                     "perf_event_open errno 1\n"
                                     "userfaultfd errno 1\n"
                                     "mount errno 1\n"
                                     "umount2 errno 1\n"
                                     "pivot_root errno 1\n"
                                     "fsopen errno 1\n"
                                     "fsmount errno 1\n"
                                     "fspick errno 1\n"
                                     "open_tree errno 1\n"
                                     "move_mount errno 1\n"
                                     "mount_setattr errno 1\n"
                                     "swapon errno 1\n"
                                     "swapoff errno 1\n"
                                     "reboot errno 1\n"
                                     "setns errno 1\n"
                                     "clone3 errno 38\n"
                                     "unshare errno 1 [0,268435456,SCMP_CMP_MASKED_EQ,268435456]\n"
                                     "clone errno 1 [0,268435456,SCMP_CMP_MASKED_EQ,268435456]\n";

/* The devices a desktop uses: null, zero, full, random, urandom, tty, ptmx, the pts and
 * fuse. Nothing else may be opened or created, whatever /dev holds. */
static const char *const allowed_devices[] = {
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",   "c 1:8 rwm",    "c 1:9 rwm",
    "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:229 rwm",
};

static struct lxc_container *
open_ct(struct hkd *hkd, int64_t vm_id)
{
    char name[32];

    snprintf(name, sizeof(name), "qvd-%lld", (long long)vm_id);
    return lxc_container_new(name, hkd->lxcpath);
}

static int
lxc_init(struct hkd *hkd)
{
    struct stat st;

    snprintf(hkd->lxcpath, sizeof(hkd->lxcpath), "%s/lxc", qvd_config_get(hkd->cfg, "path.run"));
    /* LXC, as a VM's root, passes through it to the container's folder */
    if (qvd_mkdir_p(hkd->lxcpath, 0711) < 0 || chmod(hkd->lxcpath, 0711) < 0)
        return qvd_seterr("cannot prepare %s: %s", hkd->lxcpath, strerror(errno));
    cgroup_v2_only = stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
    snprintf(hkd->seccomp_path, sizeof(hkd->seccomp_path), "%s/qvd.seccomp", hkd->lxcpath);
    if (qvd_write_file(hkd->seccomp_path, seccomp_policy, strlen(seccomp_policy), 0600) < 0)
        return -1;
    if (access(qvd_config_get(hkd->cfg, "path.vma.binary"), X_OK) < 0)
        return qvd_seterr("path.vma.binary %s is not executable: the VMs need it",
                          qvd_config_get(hkd->cfg, "path.vma.binary"));
    /* the VMs run a copy of the node's: the installed one may lie where a VM's root cannot
     * pass (a build tree under /root), and an upgrade never changes a running VM's binary */
    char *vma = NULL;
    size_t vma_len = 0;
    snprintf(hkd->vma_copy, sizeof(hkd->vma_copy), "%s/qvd-vma", hkd->lxcpath);
    if (qvd_read_file(qvd_config_get(hkd->cfg, "path.vma.binary"), 64 << 20, &vma, &vma_len) < 0)
        return -1;
    int wrc = qvd_write_file(hkd->vma_copy, vma, vma_len, 0755);
    free(vma);
    if (wrc < 0)
        return -1;
    /* what a VM's root must reach from inside its user namespace: its root file system,
     * its per-VM files, log folder and home, and the node's VMA it runs */
    char *vmdir = hkd_vma_dir(hkd, 0), *logdir = hkd_vma_log_dir(hkd, 0);
    int rc = 0;
    *strrchr(vmdir, '/') = '\0';
    *strrchr(logdir, '/') = '\0';
    if (qvd_mkdir_p(vmdir, 0711) < 0 || qvd_mkdir_p(logdir, 0711) < 0 ||
        hkd_userns_reachable(hkd->vma_copy, true) < 0 ||
        hkd_userns_reachable(qvd_config_get(hkd->cfg, "path.storage.rootfs"), false) < 0 ||
        hkd_userns_reachable(qvd_config_get(hkd->cfg, "path.storage.homefs"), false) < 0 ||
        hkd_userns_reachable(vmdir, false) < 0 || hkd_userns_reachable(logdir, false) < 0)
        rc = -1;
    free(vmdir);
    free(logdir);
    return rc;
}

static int
set_item(struct lxc_container *c, const char *key, const char *value)
{
    if (!c->set_config_item(c, key, value))
        return qvd_seterr("LXC refused %s = %s", key, value);
    return 0;
}

/* A host name from the VM name: letters, digits and dashes only. */
static void
uts_name(const char *name, char *out, size_t len)
{
    size_t j = 0;

    for (size_t i = 0; name[i] && j + 1 < len && j < 63; i++) {
        char ch = name[i];
        out[j++] =
            (char)((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
                       ? ch
                       : '-');
    }
    out[j] = '\0';
    if (j == 0)
        snprintf(out, len, "qvd");
}

/* A cgroup setting by its v2 name, translated for a node on cgroup v1. */
static int
set_cgroup(struct lxc_container *c, const char *v2, const char *v1, const char *value)
{
    char key[96];

    snprintf(key, sizeof(key), "lxc.cgroup%s.%s", cgroup_v2_only ? "2" : "",
             cgroup_v2_only ? v2 : v1);
    return set_item(c, key, value);
}

/* The VM's sandbox: its own user namespace (root inside is an unprivileged range of host
 * ids, see userns.c; the root file system already shows the VM's ids, see storage.c), few
 * capabilities, seccomp, no_new_privs, a device allow list and
 * limits on memory, processes and CPU. */
static int
set_sandbox(struct hkd *hkd, struct lxc_container *c, const struct hkd_vm *vm)
{
    const char *caps = qvd_config_get(hkd->cfg, "vm.lxc.cap.keep");
    uint32_t base, size;
    char buf[128];
    long weight = qvd_config_int(hkd->cfg, "vm.lxc.cpu.weight");

    if (hkd_userns_range(hkd, vm->id, &base, &size) < 0)
        return -1;
    snprintf(buf, sizeof(buf), "u 0 %u %u", base, size);
    if (set_item(c, "lxc.idmap", buf) < 0)
        return -1;
    snprintf(buf, sizeof(buf), "g 0 %u %u", base, size);
    if (set_item(c, "lxc.idmap", buf) < 0 ||
        set_item(c, "lxc.cap.keep", caps != NULL && *caps ? caps : default_caps) < 0 ||
        set_item(c, "lxc.seccomp.profile", hkd->seccomp_path) < 0 ||
        set_item(c, "lxc.no_new_privs",
                 qvd_config_bool(hkd->cfg, "vm.lxc.no_new_privs") ? "1" : "0") < 0)
        return -1;
    if (set_cgroup(c, "devices.deny", "devices.deny", "a") < 0)
        return -1;
    for (size_t i = 0; i < QVD_ARRAY_LEN(allowed_devices); i++)
        if (set_cgroup(c, "devices.allow", "devices.allow", allowed_devices[i]) < 0)
            return -1;
    snprintf(buf, sizeof(buf), "%dM", vm->memory_mb);
    if (set_cgroup(c, "memory.max", "memory.limit_in_bytes", buf) < 0)
        return -1;
    snprintf(buf, sizeof(buf), "%ld", qvd_config_int(hkd->cfg, "vm.lxc.pids.max"));
    if (set_cgroup(c, "pids.max", "pids.max", buf) < 0)
        return -1;
    if (weight < 1 || weight > 10000)
        return qvd_seterr("vm.lxc.cpu.weight must be between 1 and 10000 (got %ld)", weight);
    /* v1 shares: the v2 default weight 100 is the v1 default 1024 */
    snprintf(buf, sizeof(buf), "%ld", cgroup_v2_only ? weight : weight * 1024 / 100);
    return set_cgroup(c, "cpu.weight", "cpu.shares", buf);
}

static int
lxc_start(struct hkd *hkd, struct hkd_vm *vm)
{
    struct lxc_container *c = open_ct(hkd, vm->id);
    char buf[8192], veth[32], uts[64];
    char *vmadir = hkd_vma_dir(hkd, vm->id);
    const char *init = qvd_config_get(hkd->cfg, "vm.lxc.init");
    const char *extra = qvd_config_get(hkd->cfg, "vm.lxc.conf.extra");
    int rc = -1;

    if (c == NULL) {
        free(vmadir);
        return qvd_seterr("cannot create LXC container object for VM %lld", (long long)vm->id);
    }
    c->clear_config(c);
    if (hkd_vma_give_files(hkd, vm->id) < 0)
        goto out;
    hkd_net_veth_name(hkd, vm->id, veth, sizeof(veth));
    uts_name(vm->name, uts, sizeof(uts));
    snprintf(buf, sizeof(buf), "dir:%s", vm->rootfs);
    if (set_item(c, "lxc.rootfs.path", buf) < 0 || set_item(c, "lxc.uts.name", uts) < 0 ||
        set_item(c, "lxc.mount.auto", "proc:mixed sys:ro cgroup:mixed") < 0 ||
        set_item(c, "lxc.autodev", "1") < 0 || set_item(c, "lxc.pty.max", "256") < 0 ||
        set_item(c, "lxc.tty.max", "0") < 0 || set_item(c, "lxc.console.path", "none") < 0 ||
        set_sandbox(hkd, c, vm) < 0)
        goto out;
    /* the network: a veth on the node's bridge with the VM's fixed MAC and address */
    snprintf(buf, sizeof(buf), "%s/%d", vm->ip, hkd_net_prefix_len(hkd));
    if (set_item(c, "lxc.net.0.type", "veth") < 0 ||
        set_item(c, "lxc.net.0.link", qvd_config_get(hkd->cfg, "vm.network.bridge")) < 0 ||
        set_item(c, "lxc.net.0.flags", "up") < 0 || set_item(c, "lxc.net.0.name", "eth0") < 0 ||
        set_item(c, "lxc.net.0.hwaddr", vm->mac) < 0 ||
        set_item(c, "lxc.net.0.veth.pair", veth) < 0 ||
        set_item(c, "lxc.net.0.ipv4.address", buf) < 0 ||
        set_item(c, "lxc.net.0.ipv4.gateway", hkd_net_gateway(hkd)) < 0)
        goto out;
    /* the node's VMA, its configuration and secret (read-only), its log folder */
    snprintf(buf, sizeof(buf), "%s %s none bind,ro,create=file 0 0", hkd->vma_copy, VMA_IN_VM_REL);
    if (set_item(c, "lxc.mount.entry", buf) < 0)
        goto out;
    snprintf(buf, sizeof(buf), "%s/etc etc/qvd none bind,ro,create=dir 0 0", vmadir);
    if (set_item(c, "lxc.mount.entry", buf) < 0)
        goto out;
    char *logdir = hkd_vma_log_dir(hkd, vm->id);
    snprintf(buf, sizeof(buf), "%s var/log/qvd none bind,create=dir 0 0", logdir);
    free(logdir);
    if (set_item(c, "lxc.mount.entry", buf) < 0)
        goto out;
    if (init != NULL && *init)
        snprintf(buf, sizeof(buf), "%s", init);
    else
        snprintf(buf, sizeof(buf), "%s --init -c /etc/qvd/vma.conf", VMA_IN_VM);
    if (set_item(c, "lxc.init.cmd", buf) < 0)
        goto out;
    /* beside the container folder, so that it outlives the cleanup of a failed start */
    snprintf(buf, sizeof(buf), "%s/qvd-%lld.log", hkd->lxcpath, (long long)vm->id);
    unlink(buf);
    if (set_item(c, "lxc.log.file", buf) < 0 || set_item(c, "lxc.log.level", "WARN") < 0)
        goto out;
    if (extra != NULL && *extra) {
        char *copy = qvd_xstrdup(extra), *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *eq = strchr(line, '=');
            if (eq == NULL)
                continue;
            *eq = '\0';
            char *k = line, *v = eq + 1;
            while (*k == ' ')
                k++;
            for (char *e = k + strlen(k); e > k && e[-1] == ' ';)
                *--e = '\0';
            while (*v == ' ')
                v++;
            if (set_item(c, k, v) < 0) {
                free(copy);
                goto out;
            }
        }
        free(copy);
    }
    snprintf(buf, sizeof(buf), "%s/qvd-%lld", hkd->lxcpath, (long long)vm->id);
    if (qvd_mkdir_p(buf, 0711) < 0)
        goto out;
    snprintf(buf, sizeof(buf), "%s/qvd-%lld/config", hkd->lxcpath, (long long)vm->id);
    c->save_config(c, buf); /* for people debugging with lxc-* tools */
    c->want_daemonize(c, true);
    c->want_close_all_fds(c, true);
    if (!c->start(c, 0, NULL)) {
        qvd_seterr("LXC could not start container qvd-%lld (see %s/qvd-%lld.log)",
                   (long long)vm->id, hkd->lxcpath, (long long)vm->id);
        goto out;
    }
    /* the VMs of different users share the bridge: an isolated port talks to the node only
     * (fails closed: a VM that cannot be isolated is not left running) */
    if (qvd_config_bool(hkd->cfg, "vm.network.isolated")) {
        char *iso[] = {"ip",   "link",         "set",      "dev", veth,
                       "type", "bridge_slave", "isolated", "on",  NULL};
        if (hkd_run(iso) < 0) {
            char *why = qvd_xstrdup(qvd_strerror());
            c->stop(c);
            qvd_seterr("cannot isolate the bridge port %s of VM %lld: %s", veth, (long long)vm->id,
                       why);
            free(why);
            goto out;
        }
    }
    if (hkd_fw_vm_add(hkd, vm) < 0)
        goto out; /* fails closed: the caller kills the container and cleans up */
    hkd_net_neighbour(hkd, vm);
    rc = 0;
out:
    free(vmadir);
    lxc_container_put(c);
    return rc;
}

static bool
lxc_is_running(struct hkd *hkd, int64_t vm_id)
{
    struct lxc_container *c = open_ct(hkd, vm_id);
    bool running = c != NULL && c->is_running(c);

    lxc_container_put(c);
    return running;
}

static pid_t
lxc_init_pid(struct hkd *hkd, int64_t vm_id)
{
    struct lxc_container *c = open_ct(hkd, vm_id);
    pid_t pid = c ? c->init_pid(c) : -1;

    lxc_container_put(c);
    return pid;
}

static int
lxc_kill(struct hkd *hkd, int64_t vm_id)
{
    struct lxc_container *c = open_ct(hkd, vm_id);
    int rc = 0;

    if (c != NULL && c->is_running(c) && !c->stop(c)) {
        pid_t pid = c->init_pid(c);
        /* last resort: the init of the container takes its whole pid namespace with it */
        if (pid > 0 && kill(pid, SIGKILL) < 0)
            rc =
                qvd_seterr("cannot kill container qvd-%lld: %s", (long long)vm_id, strerror(errno));
    }
    lxc_container_put(c);
    return rc;
}

/* LXC cannot remove the cgroup its monitor process still sits in: on cgroup v1 every run of
 * a container left an empty lxc.monitor.<name> folder behind, and LXC takes the next free
 * suffix (<name>-1, -2, ...) at each start, until after about a thousand runs the VM could
 * not start at all ("Failed to create monitor cgroup"). The cleanup before each start and
 * after each stop removes the folders of this container's name (exact, or with a numeric
 * suffix) that hold no process: rmdir refuses a cgroup in use. */
static int
rmdir_cgroup(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    return 0;
}

static bool
is_ct_cgroup(const char *entry, const char *name)
{
    static const char *const heads[] = {"lxc.monitor.", "lxc.payload."};

    for (size_t i = 0; i < QVD_ARRAY_LEN(heads); i++) {
        size_t h = strlen(heads[i]), n = strlen(name);
        if (strncmp(entry, heads[i], h) != 0 || strncmp(entry + h, name, n) != 0)
            continue;
        const char *rest = entry + h + n;
        if (*rest == '\0')
            return true;
        if (*rest++ != '-' || *rest == '\0')
            continue;
        while (*rest >= '0' && *rest <= '9')
            rest++;
        if (*rest == '\0')
            return true;
    }
    return false;
}

static void
sweep_cgroup_dir(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_type != DT_DIR || !is_ct_cgroup(de->d_name, name))
            continue;
        /* one made in the last minute may be another node's container being set up (test
         * nodes share this host's cgroups): LXC fills it within milliseconds */
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            time(NULL) - st.st_mtime < 60)
            continue;
        char *p = qvd_xasprintf("%s/%s", dir, de->d_name);
        nftw(p, rmdir_cgroup, 8, FTW_DEPTH | FTW_PHYS);
        free(p);
    }
    closedir(d);
}

/* every hierarchy: /sys/fs/cgroup itself (v2) and each folder in it (v1, hybrid) */
static void
sweep_cgroups(int64_t vm_id)
{
    char name[32];
    DIR *d = opendir("/sys/fs/cgroup");
    struct dirent *de;

    snprintf(name, sizeof(name), "qvd-%lld", (long long)vm_id);
    sweep_cgroup_dir("/sys/fs/cgroup", name);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.' || strncmp(de->d_name, "lxc.", 4) == 0)
            continue;
        char *p = qvd_xasprintf("/sys/fs/cgroup/%s", de->d_name);
        sweep_cgroup_dir(p, name);
        free(p);
    }
    if (d != NULL)
        closedir(d);
}

static int
lxc_cleanup(struct hkd *hkd, int64_t vm_id)
{
    char *dir = qvd_xasprintf("%s/qvd-%lld", hkd->lxcpath, (long long)vm_id);
    int rc = 0;

    if (lxc_is_running(hkd, vm_id)) {
        lxc_kill(hkd, vm_id);
        for (int i = 0; i < 50 && lxc_is_running(hkd, vm_id); i++)
            usleep(100000);
        if (lxc_is_running(hkd, vm_id))
            rc = qvd_seterr("container qvd-%lld does not die", (long long)vm_id);
    }
    /* the lxc folder only holds config and logs: the root file system is ours */
    if (rc == 0)
        rc = qvd_rm_rf(dir);
    if (rc == 0)
        sweep_cgroups(vm_id);
    free(dir);
    return rc;
}

static int
lxc_list(struct hkd *hkd, int64_t **ids, size_t *n)
{
    DIR *d = opendir(hkd->lxcpath);
    struct dirent *de;
    size_t cap = 0;

    *ids = NULL;
    *n = 0;
    if (d == NULL)
        return errno == ENOENT ? 0 : qvd_seterr("%s: %s", hkd->lxcpath, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        long id;
        if (de->d_type != DT_DIR || strncmp(de->d_name, "qvd-", 4) != 0 ||
            qvd_parse_long(de->d_name + 4, &id) < 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *ids = qvd_xrealloc(*ids, cap * sizeof(**ids));
        }
        (*ids)[(*n)++] = id;
    }
    closedir(d);
    return 0;
}

const struct hkd_hv_ops hkd_hv_lxc = {
    .name = "lxc",
    .simulated = false,
    .init = lxc_init,
    .start = lxc_start,
    .is_running = lxc_is_running,
    .init_pid = lxc_init_pid,
    .kill = lxc_kill,
    .cleanup = lxc_cleanup,
    .list = lxc_list,
};

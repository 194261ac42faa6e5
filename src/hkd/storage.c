/* storage.c: a VM's root file system: the DI unpacked once per node under basefs/
 * (read-only by convention), an overlayfs writable layer per VM (discarded at each start
 * unless vm.overlay.persistent), and the persistent user storage (homes). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "hkd.h"
#include "log.h"
#include "util.h"

extern char **environ;

/* The storage folders and their modes: images and writable layers are root's alone (an
 * upper layer holds what users wrote outside their homes); VMs, running as unprivileged
 * host ids, pass through the folders of their mount points and homes without listing them. */
static const struct {
    const char *key;
    mode_t mode;
} dirs[] = {
    {"path.storage.images", 0700}, {"path.storage.basefs", 0700}, {"path.storage.overlayfs", 0700},
    {"path.storage.rootfs", 0711}, {"path.storage.homefs", 0711},
};

/* DIs being unpacked right now (one child per DI; other VMs wait for it). */
static char *unpacking[64];

static const char *
path(struct hkd *hkd, const char *key)
{
    const char *p = qvd_config_get(hkd->cfg, key);
    return p ? p : "/nonexistent";
}

int
hkd_storage_init(struct hkd *hkd)
{
    const char *basefs = path(hkd, "path.storage.basefs");
    DIR *d;
    struct dirent *de;

    for (size_t i = 0; i < QVD_ARRAY_LEN(dirs); i++) {
        const char *p = path(hkd, dirs[i].key);
        if (qvd_mkdir_p(p, 0711) < 0)
            return -1;
        if (chmod(p, dirs[i].mode) < 0)
            return qvd_seterr("cannot set the mode of %s: %s", p, strerror(errno));
    }
    /* half-unpacked images of a previous run */
    if ((d = opendir(basefs)) != NULL) {
        while ((de = readdir(d)) != NULL) {
            if (strncmp(de->d_name, ".tmp.", 5) != 0)
                continue;
            char *p = qvd_xasprintf("%s/%s", basefs, de->d_name);
            if (qvd_rm_rf(p) < 0)
                log_warn("cannot remove %s: %s", p, qvd_strerror());
            free(p);
        }
        closedir(d);
    }
    return 0;
}

static bool
is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* basefs/<file name without its archive extension>, or the DI itself if a directory. */
char *
hkd_storage_basefs(struct hkd *hkd, const char *di_path)
{
    static const char *const exts[] = {".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2",
                                       ".tgz",    ".txz",    ".tbz",     ".tar"};
    char *image = qvd_xasprintf("%s/%s", path(hkd, "path.storage.images"), di_path);
    char *name, *out;

    if (is_dir(image))
        return image;
    free(image);
    name = qvd_xstrdup(strrchr(di_path, '/') ? strrchr(di_path, '/') + 1 : di_path);
    for (size_t i = 0; i < QVD_ARRAY_LEN(exts); i++) {
        size_t n = strlen(name), e = strlen(exts[i]);
        if (n > e && strcmp(name + n - e, exts[i]) == 0) {
            name[n - e] = '\0';
            break;
        }
    }
    out = qvd_xasprintf("%s/%s", path(hkd, "path.storage.basefs"), name);
    free(name);
    return out;
}

static int
unpacking_slot(const char *base, bool add)
{
    for (size_t i = 0; i < QVD_ARRAY_LEN(unpacking); i++)
        if (unpacking[i] && strcmp(unpacking[i], base) == 0)
            return (int)i;
    if (!add)
        return -1;
    for (size_t i = 0; i < QVD_ARRAY_LEN(unpacking); i++)
        if (unpacking[i] == NULL) {
            unpacking[i] = qvd_xstrdup(base);
            return (int)i;
        }
    return -1;
}

int
hkd_storage_unpacked(struct hkd *hkd, struct hkd_vm *vm, bool ok)
{
    char *base = hkd_storage_basefs(hkd, vm->di_path);
    char *tmp = qvd_xasprintf("%s/.tmp.%d", path(hkd, "path.storage.basefs"), (int)vm->unpack_pid);
    int slot = unpacking_slot(base, false), rc = -1;

    if (!ok)
        qvd_seterr("cannot unpack DI %s (tar failed: is the file a complete tarball?)",
                   vm->di_path);
    else if (rename(tmp, base) < 0 && !is_dir(base))
        qvd_seterr("cannot move the unpacked DI to %s: %s", base, strerror(errno));
    else {
        log_info("DI %s unpacked to %s", vm->di_path, base);
        rc = 0;
    }
    if (rc < 0)
        qvd_rm_rf(tmp);
    if (slot >= 0) {
        free(unpacking[slot]);
        unpacking[slot] = NULL;
    }
    vm->unpack_pid = 0;
    free(tmp);
    free(base);
    return rc;
}

int
hkd_storage_base(struct hkd *hkd, struct hkd_vm *vm)
{
    char *base = hkd_storage_basefs(hkd, vm->di_path);
    char *image = qvd_xasprintf("%s/%s", path(hkd, "path.storage.images"), vm->di_path);
    int rc = -1;

    if (is_dir(base)) {
        rc = 1;
        goto out;
    }
    if (access(image, R_OK) < 0) {
        qvd_seterr("DI file %s is missing on this node: %s", image, strerror(errno));
        goto out;
    }
    if (unpacking_slot(base, false) >= 0) {
        vm->unpack_pid = -1; /* another VM's child unpacks it: poll */
        rc = 0;
        goto out;
    }
    /* the child unpacks into a temp tree named after its pid */
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        qvd_seterr("pipe: %s", strerror(errno));
        goto out;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        qvd_seterr("fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        char buf;
        close(fds[1]);
        while (read(fds[0], &buf, 1) < 0 && errno == EINTR)
            ; /* wait until the parent knows our pid: EOF when it closes its end */
        char *t = qvd_xasprintf("%s/.tmp.%d", path(hkd, "path.storage.basefs"), (int)getpid());
        if (mkdir(t, 0755) < 0)
            _exit(1);
        execlp("tar", "tar", "-x", "--numeric-owner", "-p", "-C", t, "-f", image, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    vm->unpack_pid = pid;
    vm->unpack_fd = (int)syscall(SYS_pidfd_open, pid, 0);
    close(fds[1]);
    if (vm->unpack_fd < 0) {
        qvd_seterr("pidfd_open: %s", strerror(errno));
        goto out;
    }
    unpacking_slot(base, true);
    log_info("unpacking DI %s for VM %lld", vm->di_path, (long long)vm->id);
    rc = 0;
out:
    free(base);
    free(image);
    return rc;
}

/* The VM's home folder on the node: homefs/<vm>-fs, or homefs/<login> shared by the
 * user's VMs. A VM's own home is stored with the VM's host ids and bound as it is; a shared
 * one is stored with the ids seen inside (VMs of different ranges use it, even at once) and
 * reaches each VM through an idmapped mount. Its top is the VM's root's, 0755: users pass
 * through /home to their own folder. */
static int
mount_home(struct hkd *hkd, struct hkd_vm *vm)
{
    bool shared = qvd_config_bool(hkd->cfg, "vm.lxc.home.per.user");
    char *home, *target = qvd_xasprintf("%s/home", vm->rootfs);
    int rc = -1;

    if (shared)
        home = qvd_xasprintf("%s/%s", path(hkd, "path.storage.homefs"), vm->login);
    else
        home = qvd_xasprintf("%s/%lld-fs", path(hkd, "path.storage.homefs"), (long long)vm->id);
    if (qvd_mkdir_p(home, 0755) < 0 || qvd_mkdir_p(target, 0755) < 0)
        goto out;
    if (shared) {
        rc = hkd_userns_mount(hkd, vm->id, home, target, false);
        goto out;
    }
    /* a home made before user namespaces is taken over by the VM's root */
    if (!hkd_userns_owns(hkd, vm->id, home) && hkd_userns_chown(hkd, vm->id, home, 0) < 0)
        goto out;
    if (mount(home, target, NULL, MS_BIND, NULL) < 0) {
        qvd_seterr("cannot mount the home %s of VM %lld: %s", home, (long long)vm->id,
                   strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(home);
    free(target);
    return rc;
}

static char *
lower_path(struct hkd *hkd, int64_t vm_id)
{
    return qvd_xasprintf("%s/%lld-lower", path(hkd, "path.storage.overlayfs"), (long long)vm_id);
}

/* The VM's root file system: the shared image seen through an idmapped mount (its root
 * files belong to the VM's root, in the VM's range of host ids), under a writable overlay
 * layer of the VM's own, or read-only without one. LXC then uses it as it is. */
int
hkd_storage_mount(struct hkd *hkd, struct hkd_vm *vm)
{
    const char *ofs = path(hkd, "path.storage.overlayfs");
    char *base = hkd_storage_basefs(hkd, vm->di_path);
    char *upper =
        qvd_xasprintf("%s/%lld-%lld-overlayfs", ofs, (long long)vm->di_id, (long long)vm->id);
    char *work = qvd_xasprintf("%s/%lld-overlayfs-work", ofs, (long long)vm->id);
    char *lower = lower_path(hkd, vm->id);
    char *opts = NULL;
    const char *type = qvd_config_get(hkd->cfg, "vm.lxc.unionfs.type");
    struct stat st;
    int rc = -1;

    snprintf(vm->rootfs, sizeof(vm->rootfs), "%s/%lld-fs", path(hkd, "path.storage.rootfs"),
             (long long)vm->id);
    if (qvd_mkdir_p(vm->rootfs, 0755) < 0)
        goto out;
    if (!vm->use_overlay || (type && strcmp(type, "bind") == 0)) {
        /* no writable layer: the image itself, read-only */
        rc = hkd_userns_mount(hkd, vm->id, base, vm->rootfs, true);
        goto home;
    }
    if (!qvd_config_bool(hkd->cfg, "vm.overlay.persistent") && qvd_rm_rf(upper) < 0)
        goto out;
    if (qvd_rm_rf(work) < 0 || qvd_mkdir_p(upper, 0755) < 0 || qvd_mkdir_p(work, 0700) < 0 ||
        qvd_mkdir_p(lower, 0700) < 0)
        goto out;
    /* the overlay's root is the upper layer's: the VM's root owns it, with the image's mode */
    if (stat(base, &st) < 0 || chmod(upper, st.st_mode & 07777) < 0 ||
        hkd_userns_chown(hkd, vm->id, upper, 0) < 0) {
        qvd_seterr("cannot prepare %s: %s", upper, strerror(errno));
        goto out;
    }
    if (hkd_userns_mount(hkd, vm->id, base, lower, true) < 0)
        goto out;
    opts = qvd_xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    if (mount("overlay", vm->rootfs, "overlay", 0, opts) < 0)
        qvd_seterr("cannot mount the overlay of VM %lld on %s: %s", (long long)vm->id, vm->rootfs,
                   strerror(errno));
    else
        rc = 0;
    /* the overlay holds its own clone of the lower mount: ours can go at once */
    umount2(lower, MNT_DETACH);
    rmdir(lower);
home:
    /* under the root file system, so that the container takes it along */
    if (rc == 0 && vm->user_storage_mb > 0)
        rc = mount_home(hkd, vm);
out:
    free(base);
    free(upper);
    free(work);
    free(lower);
    free(opts);
    return rc;
}

/* Unmounts everything at or below `dir`, deepest first (from /proc/self/mountinfo). */
static int
umount_tree(const char *dir)
{
    for (int pass = 0; pass < 16; pass++) {
        char *text = NULL, *deepest = NULL;
        size_t dlen = strlen(dir), best = 0;

        if (qvd_read_file("/proc/self/mountinfo", 16 << 20, &text, NULL) < 0)
            return -1;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            char mp[PATH_MAX];
            /* id parent major:minor root mount-point ... */
            if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
                continue;
            if (strncmp(mp, dir, dlen) == 0 && (mp[dlen] == '\0' || mp[dlen] == '/') &&
                strlen(mp) >= best) {
                free(deepest);
                deepest = qvd_xstrdup(mp);
                best = strlen(mp);
            }
        }
        free(text);
        if (deepest == NULL)
            return 0;
        if (umount2(deepest, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
            qvd_seterr("cannot unmount %s: %s", deepest, strerror(errno));
            free(deepest);
            return -1;
        }
        free(deepest);
    }
    return qvd_seterr("mounts under %s keep coming back", dir);
}

int
hkd_storage_cleanup(struct hkd *hkd, int64_t vm_id)
{
    char *root = qvd_xasprintf("%s/%lld-fs", path(hkd, "path.storage.rootfs"), (long long)vm_id);
    char *lower = lower_path(hkd, vm_id);
    int rc = umount_tree(root);

    if (rc == 0 && rmdir(root) < 0 && errno != ENOENT)
        rc = qvd_seterr("cannot remove %s: %s", root, strerror(errno));
    /* a lower mount left by a start that died half-way */
    if (rc == 0 && (rc = umount_tree(lower)) == 0 && rmdir(lower) < 0 && errno != ENOENT)
        rc = qvd_seterr("cannot remove %s: %s", lower, strerror(errno));
    free(root);
    free(lower);
    return rc;
}

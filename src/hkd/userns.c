/* userns.c: the host uid/gid range of each VM's user namespace. Container root of VM N is
 * host uid vm.lxc.idmap.base + N * vm.lxc.idmap.size, and the range is the VM's for good
 * (its home keeps its owners across restarts). Files that the node hands to a VM (its
 * per-VM config and secret, log folder, home) are owned by the VM's mapped root, so that
 * root inside reads them while no other VM, and no local user of the node, does. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "hkd.h"
#include "util.h"

int
hkd_userns_range(struct hkd *hkd, int64_t vm_id, uint32_t *base, uint32_t *size)
{
    long b = qvd_config_int(hkd->cfg, "vm.lxc.idmap.base");
    long s = qvd_config_int(hkd->cfg, "vm.lxc.idmap.size");
    unsigned long long first, last;

    /* 65536 ids hold nobody (65534) and everything a Debian desktop creates */
    if (b < 65536 || s < 65536 || s > (1L << 24))
        return qvd_seterr("vm.lxc.idmap.base must be at least 65536 and vm.lxc.idmap.size "
                          "between 65536 and 16777216 (got %ld and %ld)",
                          b, s);
    if (vm_id < 0)
        return qvd_seterr("VM id %lld has no uid range", (long long)vm_id);
    first = (unsigned long long)b + (unsigned long long)vm_id * (unsigned long long)s;
    last = first + (unsigned long long)s - 1;
    /* (uid_t)-1 is "no uid" to the kernel: the range must stay below it */
    if (last >= 0xffffffffULL)
        return qvd_seterr("VM %lld has no uid range below 2^32 (vm.lxc.idmap.base %ld + id * "
                          "vm.lxc.idmap.size %ld): lower the base or the size",
                          (long long)vm_id, b, s);
    *base = (uint32_t)first;
    *size = (uint32_t)s;
    return 0;
}

int
hkd_userns_chown(struct hkd *hkd, int64_t vm_id, const char *path, uint32_t inside_id)
{
    uint32_t base, size;

    if (hkd_userns_range(hkd, vm_id, &base, &size) < 0)
        return -1;
    if (lchown(path, base + inside_id, base + inside_id) < 0)
        return qvd_seterr("cannot give %s to VM %lld: %s", path, (long long)vm_id, strerror(errno));
    return 0;
}

bool
hkd_userns_owns(struct hkd *hkd, int64_t vm_id, const char *path)
{
    uint32_t base, size;
    struct stat st;

    return hkd_userns_range(hkd, vm_id, &base, &size) == 0 && lstat(path, &st) == 0 &&
           st.st_uid >= base && st.st_uid - base < size;
}

int
hkd_userns_reachable(const char *path, bool need_read)
{
    char *p = qvd_xstrdup(path);
    struct stat st;
    int rc = 0;

    /* every folder above (and the file itself, for a program) must let "others" through:
     * a VM's root is, on the node, nobody in particular */
    for (char *s = p + strlen(p); rc == 0;) {
        if (stat(p, &st) < 0)
            rc = qvd_seterr("%s: %s", p, strerror(errno));
        else if (S_ISDIR(st.st_mode) && !(st.st_mode & S_IXOTH))
            rc = qvd_seterr("VMs run as unprivileged host ids and cannot pass through %s: "
                            "chmod o+x %s",
                            p, p);
        else if (!S_ISDIR(st.st_mode) && need_read &&
                 (st.st_mode & (S_IROTH | S_IXOTH)) != (S_IROTH | S_IXOTH))
            rc = qvd_seterr("VMs run as unprivileged host ids and cannot run %s: chmod o+rx %s", p,
                            p);
        while (s > p && *s != '/')
            s--;
        if (s == p)
            break;
        *s = '\0';
    }
    free(p);
    return rc;
}

/* Writes a proc file in one write(2), as the kernel wants for id maps. */
static int
write_proc(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));

    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)strlen(text))
        return qvd_seterr("cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* A user namespace with the VM's mapping, for idmapped mounts made before its container
 * exists: a child unshares one, the node writes its maps, opens it and lets the child go
 * (the namespace lives on in the descriptor). */
static int
userns_fd(uint32_t base, uint32_t size)
{
    int ready[2], go[2], fd = -1;
    char path[64], map[64], c;
    pid_t pid;

    if (pipe2(ready, O_CLOEXEC) < 0)
        return qvd_seterr("pipe: %s", strerror(errno));
    if (pipe2(go, O_CLOEXEC) < 0) {
        close(ready[0]);
        close(ready[1]);
        return qvd_seterr("pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        c = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        /* until the node has opened the namespace (EOF when it closes its end) */
        while (read(go[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    if (pid < 0) {
        qvd_seterr("fork: %s", strerror(errno));
        goto out;
    }
    if (read(ready[0], &c, 1) != 1 || c != 'y') {
        qvd_seterr("cannot create a user namespace for the VM (does the kernel allow them?)");
        goto out;
    }
    snprintf(map, sizeof(map), "0 %u %u\n", base, size);
    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
    if (write_proc(path, map) < 0)
        goto out;
    snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
    if (write_proc(path, map) < 0)
        goto out;
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        qvd_seterr("%s: %s", path, strerror(errno));
out:
    close(ready[0]);
    close(go[1]); /* the child reads EOF and leaves */
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    return fd;
}

int
hkd_userns_mount(struct hkd *hkd, int64_t vm_id, const char *src, const char *dst, bool rdonly)
{
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP};
    uint32_t base, size;
    int ns = -1, tree = -1, rc = -1;

    if (hkd_userns_range(hkd, vm_id, &base, &size) < 0 || (ns = userns_fd(base, size)) < 0)
        return -1;
    attr.userns_fd = (uint64_t)ns;
    if (rdonly)
        attr.attr_set |= MOUNT_ATTR_RDONLY;
    tree = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) {
        qvd_seterr("cannot clone the mount of %s: %s", src, strerror(errno));
        goto out;
    }
    if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
        qvd_seterr("cannot map the owners of %s into VM %lld (does its file system support "
                   "idmapped mounts?): %s",
                   src, (long long)vm_id, strerror(errno));
        goto out;
    }
    if (move_mount(tree, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        qvd_seterr("cannot mount %s on %s: %s", src, dst, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (tree >= 0)
        close(tree);
    close(ns);
    return rc;
}

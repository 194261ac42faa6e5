/* vm-escape.c: what root inside a VM tries in order to reach the node (tests/integration/
 * vm_sandbox.sh copies it into a VM and runs it there; never run it on a node: it mounts
 * and makes device nodes where it is allowed to). Each attempt prints one line:
 * "NAME refused (errno text)" when a permission check said no (EPERM, EACCES, EROFS, or
 * ENOSYS as a seccomp policy answers), "NAME ALLOWED", or "NAME UNCLEAR (...)" when it
 * failed for another reason, which proves nothing. The exit status counts the lines that
 * are not "refused". Built static: it must run on any image. */
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <netinet/in.h>

static int allowed;

static void
report(const char *name, long rc)
{
    if (rc >= 0) {
        printf("%s ALLOWED\n", name);
        allowed++;
    } else if (errno == EPERM || errno == EACCES || errno == EROFS || errno == ENOSYS) {
        printf("%s refused (%s)\n", name, strerror(errno));
    } else {
        printf("%s UNCLEAR (%s)\n", name, strerror(errno));
        allowed++;
    }
}

/* open_by_handle_at with a forged handle of the root inode of the file system under a
 * bind mount (the "shocker" escape): the node's own files are one handle away. */
static long
by_handle(const char *dir)
{
    struct {
        struct file_handle fh;
        unsigned char data[8];
    } h = {.fh = {.handle_bytes = 8, .handle_type = 1}};
    int dfd = open(dir, O_RDONLY | O_DIRECTORY), fd;
    unsigned int ino = 2, gen = 0;

    if (dfd < 0)
        return -1;
    memcpy(h.data, &ino, 4);
    memcpy(h.data + 4, &gen, 4);
    fd = (int)syscall(SYS_open_by_handle_at, dfd, &h.fh, O_RDONLY);
    close(dfd);
    if (fd >= 0)
        close(fd);
    return fd;
}

static long
try_mount(const char *type, const char *dir)
{
    mkdir(dir, 0700);
    long rc = mount(type, dir, type, 0, NULL);
    if (rc == 0)
        umount2(dir, MNT_DETACH);
    return rc;
}

static long
write_sysctl(void)
{
    /* through a fresh procfs (the container's own /proc/sys is read-only) */
    if (try_mount("proc", "/tmp/.p") < 0 && mount("proc", "/tmp/.p", "proc", 0, NULL) < 0)
        return -1;
    int fd = open("/tmp/.p/sys/kernel/core_pattern", O_WRONLY);
    umount2("/tmp/.p", MNT_DETACH);
    if (fd >= 0)
        close(fd);
    return fd;
}

int
main(int argc, char **argv)
{
    const char *bind_dir = argc > 1 ? argv[1] : "/etc/qvd";

    report("open_by_handle_at", by_handle(bind_dir));
    report("mount_proc", try_mount("proc", "/tmp/.m1"));
    report("mount_sysfs", try_mount("sysfs", "/tmp/.m2"));
    report("mount_tmpfs", try_mount("tmpfs", "/tmp/.m3"));
    report("mount_cgroup", try_mount("cgroup2", "/tmp/.m4"));
    report("write_core_pattern", write_sysctl());
    report("mknod_block", mknod("/tmp/.sda", S_IFBLK | 0600, makedev(8, 0)));
    report("mknod_char_mem", mknod("/tmp/.mem", S_IFCHR | 0600, makedev(1, 1)));
    /* no /dev/mem in a VM at all is as good as a refusal */
    int mem = open("/dev/mem", O_RDONLY);
    if (mem < 0 && errno == ENOENT)
        errno = EACCES;
    report("open_dev_mem", mem);
    report("raw_socket", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    report("packet_socket", socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
    report("unshare_userns", unshare(CLONE_NEWUSER));
    report("unshare_mountns", unshare(CLONE_NEWNS));
    report("init_module", syscall(SYS_init_module, "", 0, ""));
    report("finit_module", syscall(SYS_finit_module, 0, "", 0));
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    report("bpf", syscall(SYS_bpf, 0, NULL, 0));
    report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    report("userfaultfd", syscall(SYS_userfaultfd, 0));
    report("setns", syscall(SYS_setns, open("/proc/self/ns/net", O_RDONLY), 0));
    report("chroot", chroot("/tmp"));
    return allowed;
}

/* sandbox.c: the seccomp filter (libseccomp) of qvd-l7r and qvd-api; see sandbox.h for what
 * it refuses and docs/security.md for why a deny-list. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include <seccomp.h>

#include "err.h"
#include "sandbox.h"
#include "util.h"

/* Nothing the daemons do calls these: a call is an intrusion, the process dies. */
static const int kill_calls[] = {
    /* other processes' memory */
    SCMP_SYS(ptrace),
    SCMP_SYS(process_vm_readv),
    SCMP_SYS(process_vm_writev),
    SCMP_SYS(process_madvise),
    SCMP_SYS(pidfd_getfd),
    SCMP_SYS(kcmp),
    /* mounts and namespaces */
    SCMP_SYS(mount),
    SCMP_SYS(umount2),
    SCMP_SYS(pivot_root),
    SCMP_SYS(chroot),
    SCMP_SYS(move_mount),
    SCMP_SYS(open_tree),
    SCMP_SYS(fsopen),
    SCMP_SYS(fsconfig),
    SCMP_SYS(fsmount),
    SCMP_SYS(fspick),
    SCMP_SYS(mount_setattr),
    SCMP_SYS(setns),
    SCMP_SYS(unshare),
    /* the kernel itself */
    SCMP_SYS(kexec_load),
    SCMP_SYS(kexec_file_load),
    SCMP_SYS(init_module),
    SCMP_SYS(finit_module),
    SCMP_SYS(delete_module),
    SCMP_SYS(bpf),
    SCMP_SYS(perf_event_open),
    SCMP_SYS(keyctl),
    SCMP_SYS(add_key),
    SCMP_SYS(request_key),
    SCMP_SYS(userfaultfd),
    SCMP_SYS(lookup_dcookie),
    SCMP_SYS(uselib),
    SCMP_SYS(syslog),
    SCMP_SYS(fanotify_init),
    /* files by handle (escapes a chroot or a bind mount), device nodes */
    SCMP_SYS(open_by_handle_at),
    SCMP_SYS(name_to_handle_at),
    SCMP_SYS(mknod),
    SCMP_SYS(mknodat),
    /* the machine */
    SCMP_SYS(iopl),
    SCMP_SYS(ioperm),
    SCMP_SYS(modify_ldt),
    SCMP_SYS(swapon),
    SCMP_SYS(swapoff),
    SCMP_SYS(reboot),
    SCMP_SYS(acct),
    SCMP_SYS(quotactl),
    SCMP_SYS(quotactl_fd),
    SCMP_SYS(settimeofday),
    SCMP_SYS(clock_settime),
    SCMP_SYS(clock_adjtime),
    SCMP_SYS(adjtimex),
    SCMP_SYS(sethostname),
    SCMP_SYS(setdomainname),
    SCMP_SYS(vhangup),
};

/* Probed by libraries, or harmless to refuse politely: EPERM. */
static const int eperm_calls[] = {
    SCMP_SYS(personality),       SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter),
    SCMP_SYS(io_uring_register), SCMP_SYS(setuid),         SCMP_SYS(setgid),
    SCMP_SYS(setreuid),          SCMP_SYS(setregid),       SCMP_SYS(setresuid),
    SCMP_SYS(setresgid),         SCMP_SYS(setgroups),      SCMP_SYS(setfsuid),
    SCMP_SYS(setfsgid),          SCMP_SYS(capset),         SCMP_SYS(migrate_pages),
    SCMP_SYS(move_pages),
};

/* A new process (exec, or a clone that is not a thread). */
static const int exec_calls[] = {SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(fork),
                                 SCMP_SYS(vfork)};

static const unsigned long clone_ns_flags[] = {CLONE_NEWNS,    CLONE_NEWUTS, CLONE_NEWIPC,
                                               CLONE_NEWUSER,  CLONE_NEWPID, CLONE_NEWNET,
                                               CLONE_NEWCGROUP};

static int
deny(scmp_filter_ctx ctx, uint32_t action, const int *calls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = seccomp_rule_add(ctx, action, calls[i], 0);
        if (rc < 0) {
            char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, calls[i]);
            qvd_seterr("seccomp: cannot add a rule for %s: %s", name ? name : "?", strerror(-rc));
            free(name);
            return -1;
        }
    }
    return 0;
}

/* The rules on arguments. clone: namespace flags never; without CLONE_THREAD (a process)
 * only with `flags`' QVD_SANDBOX_EXEC. clone3 hides its flags in memory: ENOSYS sends glibc
 * back to clone. ioctl: no typing into a terminal. */
static int
deny_by_args(scmp_filter_ctx ctx, unsigned flags)
{
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);

    for (size_t i = 0; rc == 0 && i < QVD_ARRAY_LEN(clone_ns_flags); i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]));
    if (rc == 0 && !(flags & QVD_SANDBOX_EXEC))
        rc = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
    /* TIOCSTI: into the controlling terminal of whoever started the daemon */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_EQ, TIOCSTI, 0));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_EQ, TIOCLINUX, 0));
    return rc < 0 ? qvd_seterr("seccomp: cannot add the clone and ioctl rules: %s", strerror(-rc))
                  : 0;
}

int
qvd_sandbox_apply(unsigned flags)
{
    scmp_filter_ctx ctx;
    int rc = -1, e;

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return qvd_seterr("cannot set no_new_privs: %s", strerror(errno));
    ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL)
        return qvd_seterr("seccomp: out of memory");
    /* every thread: the worker pools are already running */
    if ((e = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0) {
        qvd_seterr("seccomp: cannot filter every thread: %s", strerror(-e));
        goto out;
    }
    if (deny(ctx, SCMP_ACT_KILL_PROCESS, kill_calls, QVD_ARRAY_LEN(kill_calls)) < 0 ||
        deny(ctx, SCMP_ACT_ERRNO(EPERM), eperm_calls, QVD_ARRAY_LEN(eperm_calls)) < 0 ||
        (!(flags & QVD_SANDBOX_EXEC) &&
         deny(ctx, SCMP_ACT_KILL_PROCESS, exec_calls, QVD_ARRAY_LEN(exec_calls)) < 0) ||
        deny_by_args(ctx, flags) < 0)
        goto out;
    if ((e = seccomp_load(ctx)) < 0) {
        qvd_seterr("seccomp: cannot load the filter: %s", strerror(-e));
        goto out;
    }
    rc = 0;
out:
    seccomp_release(ctx);
    return rc;
}

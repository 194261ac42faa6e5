/* sandbox.h: the seccomp filter of the daemons that face the network (qvd-l7r, qvd-api),
 * put on once they hold their sockets and keys and have dropped privileges. */
#ifndef QVD_SANDBOX_H
#define QVD_SANDBOX_H

/* The process may still fork and exec (qvd-api copies DIs with cp(1)); what it starts keeps
 * the filter. Without it, a fork or an exec kills the process. */
#define QVD_SANDBOX_EXEC 0x1

/* Sets no_new_privs and a seccomp filter on every thread of the process (threads started
 * later inherit it). The filter is a deny-list: what a daemon that relays bytes, speaks
 * TLS and uses a database never needs, and what an intruder would want next (ptrace and
 * process_vm_*, mount and namespaces, kernel modules and kexec, bpf, perf, keyrings,
 * userfaultfd, open_by_handle_at, raw I/O ports, swap, reboot, clock setting, TIOCSTI...)
 * kills the process (SIGSYS); a few calls that libraries probe (personality, io_uring,
 * set*id) fail with EPERM; clone3 fails with ENOSYS, so that glibc falls back to clone,
 * whose flags the filter can see. 0, or -1 with qvd_strerror(). */
int qvd_sandbox_apply(unsigned flags);

#endif

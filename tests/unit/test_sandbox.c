/* test_sandbox.c: the seccomp filter of qvd-l7r and qvd-api (sandbox.c), each case in a
 * child process that puts it on: what an intruder would call next dies (SIGSYS) or is
 * refused, while the daemons' own work (memory, threads, sockets, files, randomness) goes
 * on; with QVD_SANDBOX_EXEC a child may run a program, which keeps the filter. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox.h"

static char scratch[] = "/tmp/qvd-sandbox.XXXXXX";

/* Runs `fn` in a child under the filter (`flags`); its wait status. The child first gets a
 * mount namespace of its own when it can, so that a mount the filter let through would
 * touch nothing outside it. Exit 100: the filter could not be put on. */
static int
sandboxed(int (*fn)(void), unsigned flags)
{
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) == 0)
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
        if (qvd_sandbox_apply(flags) < 0)
            _exit(100);
        _exit(fn());
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void
assert_killed(int status)
{
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void
assert_exit(int status, int code)
{
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), code);
}

/* The line "KEY:\tVALUE" of /proc/self/status says VALUE. */
static int
status_says(const char *key, const char *value)
{
    char line[256], want[128];
    FILE *f = fopen("/proc/self/status", "r");
    int found = 0;

    if (f == NULL)
        return 0;
    snprintf(want, sizeof(want), "%s:\t%s\n", key, value);
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strcmp(line, want) == 0;
    fclose(f);
    return found;
}

static void *
thread_main(void *arg)
{
    *(int *)arg = 42;
    return NULL;
}

/* What a daemon does all day; 0 when every step worked. */
static int
daily_work(void)
{
    char path[sizeof(scratch) + 16], buf[8];
    unsigned char rnd[16];
    int sv[2], fd, seen = 0;
    pthread_t t;
    void *p = malloc(1 << 20);

    if (p == NULL || !status_says("Seccomp", "2") || !status_says("NoNewPrivs", "1"))
        return 1;
    memset(p, 1, 1 << 20);
    free(p);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || write(sv[0], "ping", 4) != 4 ||
        read(sv[1], buf, sizeof(buf)) != 4)
        return 2;
    snprintf(path, sizeof(path), "%s/file", scratch);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "data", 4) != 4 || fsync(fd) < 0 || close(fd) < 0 || unlink(path) < 0)
        return 3;
    if (pthread_create(&t, NULL, thread_main, &seen) != 0 || pthread_join(t, NULL) != 0 ||
        seen != 42)
        return 4;
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return 5;
    return 0;
}

static int
do_execve(void)
{
    char *argv[] = {"true", NULL};
    execve("/bin/true", argv, (char *[]){NULL});
    return 1;
}

static int
do_fork(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    return 1;
}

static int
do_ptrace(void)
{
    ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    return 1;
}

static int
do_mount(void)
{
    mount("none", scratch, "tmpfs", 0, NULL);
    return 1;
}

static int
do_unshare(void)
{
    unshare(CLONE_NEWUSER);
    return 1;
}

/* clone(2) itself, as a fork with a new network namespace */
static int
do_clone_newnet(void)
{
    long pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWNET | SIGCHLD), NULL, NULL, NULL, 0);
    if (pid == 0)
        _exit(0);
    return 1;
}

static int
do_bpf(void)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
    return 1;
}

static int
do_open_by_handle(void)
{
    syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY);
    return 1;
}

static int
do_process_vm_readv(void)
{
    syscall(SYS_process_vm_readv, getppid(), NULL, 0, NULL, 0, 0);
    return 1;
}

static int
do_keyctl(void)
{
    syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0);
    return 1;
}

/* Refused politely: 0 when the call fails with the errno the filter gives. */
static int
do_personality(void)
{
    return personality(0xffffffff) == -1 && errno == EPERM ? 0 : 1;
}

static int
do_clone3(void)
{
    return syscall(SYS_clone3, NULL, 0) == -1 && errno == ENOSYS ? 0 : 1;
}

/* With QVD_SANDBOX_EXEC: a child runs a program, and that program is filtered too. */
static int
do_exec_keeps_filter(void)
{
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return 1;
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "grep -q '^Seccomp:.2$' /proc/self/status", (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid)
        return 2;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 3;
}

static void
test_daily_work_goes_on(void **state)
{
    assert_exit(sandboxed(daily_work, 0), 0);
    assert_exit(sandboxed(daily_work, QVD_SANDBOX_EXEC), 0);
}

static void
test_execve_kills(void **state)
{
    assert_killed(sandboxed(do_execve, 0));
}

static void
test_fork_kills(void **state)
{
    assert_killed(sandboxed(do_fork, 0));
}

static void
test_ptrace_kills(void **state)
{
    assert_killed(sandboxed(do_ptrace, 0));
    assert_killed(sandboxed(do_ptrace, QVD_SANDBOX_EXEC));
}

static void
test_mount_kills(void **state)
{
    assert_killed(sandboxed(do_mount, QVD_SANDBOX_EXEC));
}

static void
test_namespaces_kill(void **state)
{
    assert_killed(sandboxed(do_unshare, QVD_SANDBOX_EXEC));
    assert_killed(sandboxed(do_clone_newnet, QVD_SANDBOX_EXEC));
}

static void
test_kernel_surface_kills(void **state)
{
    assert_killed(sandboxed(do_bpf, QVD_SANDBOX_EXEC));
    assert_killed(sandboxed(do_open_by_handle, QVD_SANDBOX_EXEC));
    assert_killed(sandboxed(do_process_vm_readv, QVD_SANDBOX_EXEC));
    assert_killed(sandboxed(do_keyctl, QVD_SANDBOX_EXEC));
}

static void
test_probes_are_refused(void **state)
{
    assert_exit(sandboxed(do_personality, 0), 0);
    assert_exit(sandboxed(do_clone3, 0), 0);
}

static void
test_exec_mode_runs_filtered_programs(void **state)
{
    assert_exit(sandboxed(do_exec_keeps_filter, QVD_SANDBOX_EXEC), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daily_work_goes_on),
        cmocka_unit_test(test_execve_kills),
        cmocka_unit_test(test_fork_kills),
        cmocka_unit_test(test_ptrace_kills),
        cmocka_unit_test(test_mount_kills),
        cmocka_unit_test(test_namespaces_kill),
        cmocka_unit_test(test_kernel_surface_kills),
        cmocka_unit_test(test_probes_are_refused),
        cmocka_unit_test(test_exec_mode_runs_filtered_programs),
    };
    int rc;

    if (mkdtemp(scratch) == NULL)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(scratch);
    return rc;
}

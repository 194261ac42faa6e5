/* printing.c: the client's printers in the VM's CUPS (docs/vma.md, "Printing"). nxagent
 * listens on 127.0.0.1:<2000 + display> (option cups=) and carries each connection to the
 * client's CUPS through nxproxy's cups channel. Once the session is connected, the printers
 * that CUPS lists are added to the VM's CUPS as QVD-<name>, raw queues whose device is
 * ipp://127.0.0.1:<port>/printers/<name>: a job printed in the VM is passed as it is to the
 * client's queue, whose driver renders it. They are removed when the session is suspended
 * or ends. The VM's cupsd is started by the VMA (PID 1 of the container: nothing else
 * starts services) at the first session that prints, and kept.
 *
 * The printer names come from the client: each is checked (letters, digits, _ . -) before
 * it reaches lpadmin. The registration and the removal run in a child of their own, so
 * that a client's CUPS that does not answer never blocks the VMA. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "util.h"
#include "vma.h"

#define LPSTAT "/usr/bin/lpstat"
#define LPADMIN "/usr/sbin/lpadmin"
#define NAME_MAX_LEN 100    /* CUPS allows 127; "QVD-" goes in front */
#define PRINTERS_MAX 64     /* more from one client are left out */
#define REGISTER_LIMIT_S 90 /* the registration child gives up after this */
#define OUT_MAX 65536       /* what is read of lpstat's output */

static struct {
    bool on;      /* this connection prints (server key and the client's parameter) */
    pid_t cupsd;  /* the VM's cupsd, started by us (0: none) */
    pid_t worker; /* the registration or removal child (0: none) */
    bool listed;  /* printers may be registered: remove them at the end */
} p;

static const char *
param(const struct qvd_http_param *params, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(params[i].key, key) == 0)
            return params[i].value;
    return NULL;
}

int
printing_port(void)
{
    return 2000 + vma.display; /* nxagent's default for cups=1, and QVD's */
}

/* QVD's clients send qvd.client.printing.enabled=1 to print; a client that sends nothing
 * (QVD's C library) does not print, as with QVD's VMA. */
void
printing_configure(const struct qvd_http_param *params, size_t n)
{
    const char *asked = param(params, n, "qvd.client.printing.enabled");
    bool want = asked != NULL && strcmp(asked, "1") == 0;
    p.on = want && qvd_config_bool(vma.cfg, "vma.printing.enable");
    if (want && !p.on)
        log_info("the client asked for printing; vma.printing.enable is off");
}

void
printing_agent_option(struct qvd_buf *b)
{
    if (p.on)
        qvd_buf_printf(b, ",cups=%d", printing_port());
}

/* In a child: default signals, no descriptor of the VMA's but 0-2 (and the log's when
 * keep_log), its own process group (killed as a whole). */
static void
child_reset(bool keep_log)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    setpgid(0, 0);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
    }
    int lfd = keep_log ? qvd_log_fd() : -1;
    if (lfd > 3)
        close_range(3, (unsigned)lfd - 1, 0);
    close_range(lfd >= 3 ? (unsigned)lfd + 1 : 3, ~0U, 0);
}

static void
start_cupsd(void)
{
    const char *bin = qvd_config_get(vma.cfg, "vma.printing.cupsd");
    if (p.cupsd > 0)
        return;
    if (access(bin, X_OK) < 0) {
        log_warn("printing: %s is not in the image: no printers in this session", bin);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        child_reset(false);
        execl(bin, bin, "-f", (char *)NULL);
        fprintf(stderr, "qvd-vma: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    if (pid < 0) {
        log_err("printing: fork: %s", strerror(errno));
        return;
    }
    p.cupsd = pid;
    log_info("printing: started %s (pid %d)", bin, (int)pid);
}

/* In the worker: runs argv with its output in out (at most cap - 1 bytes, NUL-ended). Its
 * exit status, or -1. */
static int
run_read(char *const argv[], char *out, size_t cap)
{
    int fds[2];
    size_t len = 0;
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        setenv("LC_ALL", "C", 1); /* lpstat's sentences are parsed */
        unsetenv("CUPS_SERVER");  /* the VM's own CUPS unless -h says otherwise */
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        char buf[4096];
        ssize_t r = read(fds[0], buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = (size_t)r < cap - 1 - len ? (size_t)r : cap - 1 - len;
        memcpy(out + len, buf, take);
        len += take;
    }
    out[len] = '\0';
    close(fds[0]);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
run_quiet(char *const argv[])
{
    char out[256];
    return run_read(argv, out, sizeof(out));
}

/* A printer name as the client gives it, fit for a queue name and a URI path. */
static bool
name_ok(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

static void
pause_s(int s)
{
    struct timespec ts = {s, 0};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The VM's own cupsd answers (it was just started, maybe). */
static bool
local_cups_up(void)
{
    char *argv[] = {LPSTAT, "-r", NULL};
    char out[256];
    return run_read(argv, out, sizeof(out)) == 0 && strstr(out, "is running") != NULL &&
           strstr(out, "not running") == NULL;
}

static void
add_printer(const char *name, size_t n, bool is_default)
{
    char queue[NAME_MAX_LEN + 8], uri[NAME_MAX_LEN + 64], info[NAME_MAX_LEN + 32];
    snprintf(queue, sizeof(queue), "QVD-%.*s", (int)n, name);
    snprintf(uri, sizeof(uri), "ipp://127.0.0.1:%d/printers/%.*s", printing_port(), (int)n, name);
    snprintf(info, sizeof(info), "%.*s on the client", (int)n, name);
    char *argv[] = {
        LPADMIN, "-p", queue, "-E", "-v", uri, "-D", info, "-o", "printer-is-shared=false", NULL};
    if (run_quiet(argv) != 0) {
        log_warn("printing: lpadmin could not add %s", queue);
        return;
    }
    log_info("printing: added %s (%s)", queue, uri);
    if (is_default) {
        char *dargv[] = {LPADMIN, "-d", queue, NULL};
        run_quiet(dargv);
    }
}

/* The client's default printer, from "system default destination: NAME". */
static void
client_default(const char *server, char *out, size_t cap)
{
    char *argv[] = {LPSTAT, "-h", (char *)server, "-d", NULL};
    char buf[1024];
    const char *tag = "destination: ";
    out[0] = '\0';
    if (run_read(argv, buf, sizeof(buf)) != 0 || !strstr(buf, tag))
        return;
    const char *s = strstr(buf, tag) + strlen(tag);
    size_t n = strcspn(s, "\r\n");
    if (name_ok(s, n) && n < cap)
        snprintf(out, cap, "%.*s", (int)n, s);
}

/* The worker that registers the client's printers (exits). */
static void
register_printers(void)
{
    char server[32], *out = qvd_xcalloc(1, OUT_MAX), dflt[NAME_MAX_LEN + 1];
    snprintf(server, sizeof(server), "127.0.0.1:%d", printing_port());
    alarm(REGISTER_LIMIT_S);
    for (int i = 0; i < 30 && !local_cups_up(); i++)
        pause_s(1);
    /* nxagent listens once the session is up; the client's CUPS may be slow */
    char *argv[] = {LPSTAT, "-h", server, "-e", NULL};
    int rc = -1;
    for (int i = 0; i < 10 && (rc = run_read(argv, out, OUT_MAX)) != 0; i++)
        pause_s(2);
    if (rc != 0) {
        log_warn("printing: the client's CUPS does not answer on %s", server);
        _exit(1);
    }
    client_default(server, dflt, sizeof(dflt));
    int count = 0;
    for (char *line = out; *line && count < PRINTERS_MAX;) {
        size_t n = strcspn(line, "\r\n");
        if (name_ok(line, n)) {
            add_printer(line, n, n == strlen(dflt) && strncmp(line, dflt, n) == 0);
            count++;
        } else if (n > 0) {
            log_warn("printing: a printer name of the client was refused (not letters, "
                     "digits, _ . - or longer than %d)",
                     NAME_MAX_LEN);
        }
        line += n;
        line += strspn(line, "\r\n");
    }
    log_info("printing: %d printer(s) of the client added", count);
    _exit(0);
}

/* The worker that removes every QVD-* queue (exits). */
static void
remove_printers(void)
{
    char *out = qvd_xcalloc(1, OUT_MAX);
    char *argv[] = {LPSTAT, "-e", NULL};
    alarm(REGISTER_LIMIT_S);
    if (!local_cups_up() || run_read(argv, out, OUT_MAX) != 0)
        _exit(1);
    for (char *line = out; *line;) {
        size_t n = strcspn(line, "\r\n");
        if (n > 4 && strncmp(line, "QVD-", 4) == 0 && name_ok(line + 4, n - 4)) {
            char queue[NAME_MAX_LEN + 8];
            snprintf(queue, sizeof(queue), "%.*s", (int)n, line);
            char *xargv[] = {LPADMIN, "-x", queue, NULL};
            if (run_quiet(xargv) == 0)
                log_info("printing: removed %s", queue);
        }
        line += n;
        line += strspn(line, "\r\n");
    }
    _exit(0);
}

/* Ends a worker still at work (its whole group: the lpstat it may wait on). */
static void
stop_worker(void)
{
    if (p.worker > 0)
        kill(-p.worker, SIGKILL);
}

static void
spawn_worker(void (*fn)(void))
{
    stop_worker();
    pid_t pid = fork();
    if (pid == 0) {
        child_reset(true); /* its lines go to the VMA's log */
        fn();
        _exit(0);
    }
    if (pid < 0) {
        log_err("printing: fork: %s", strerror(errno));
        return;
    }
    setpgid(pid, pid); /* also here: the kill above may come before the child's own call */
    p.worker = pid;
}

void
printing_session_connected(void)
{
    if (!p.on)
        return;
    start_cupsd();
    if (p.cupsd <= 0)
        return;
    p.listed = true;
    spawn_worker(register_printers);
}

void
printing_session_ended(void)
{
    if (!p.listed)
        return;
    p.listed = false;
    spawn_worker(remove_printers);
}

void
printing_child_exited(pid_t pid, int status)
{
    if (pid == p.cupsd) {
        log_warn("printing: cupsd (pid %d) ended with status %d", (int)pid, status);
        p.cupsd = 0;
    } else if (pid == p.worker) {
        kill(-pid, SIGKILL); /* an lpstat left behind by a worker that timed out */
        p.worker = 0;
    }
}

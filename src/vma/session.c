/* session.c: the X session state machine: nxagent started as the user, its log lines
 * tracked to know the state, the X session started once nxagent takes X clients. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
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

static struct {
    enum vma_state state;
    pid_t agent, xsession;
    struct bufferevent *log;
    struct event *timer;
    struct event *resume; /* re-sends the resume signal until nxagent acts on it */
    int resume_tries;
    bool resume_pending;
    /* from the resume signal until the session is suspended again, or RESUME_SETTLE_S after
     * nxagent said "Session resumed": its reconnection goes on when the link breaks in the
     * middle of it, and a death that soon is still a loss on resume */
    bool resuming;
    time_t resumed_at;   /* when nxagent said "Session resumed" (0: not yet) */
    bool resume_aborted; /* a stuck resume was made to fail once already */
    struct vma_user user;
    char *opts_path;
    char *app; /* an application VM's program (qvd.app.command, app.c), or NULL: the desktop */
} s;

#define RESUME_SETTLE_S 10

static const char *const state_names[] = {
    [VMA_STOPPED] = "stopped",           [VMA_STARTING] = "starting",
    [VMA_PROVISIONING] = "provisioning", [VMA_LISTENING] = "listening",
    [VMA_CONNECTING] = "connecting",     [VMA_CONNECTED] = "connected",
    [VMA_SUSPENDING] = "suspending",     [VMA_SUSPENDED] = "suspended",
    [VMA_STOPPING] = "stopping",
};

enum vma_state
session_state(void)
{
    return s.state;
}

const char *
session_state_name(enum vma_state st)
{
    return state_names[st];
}

static void set_state(enum vma_state st);
static void arm_timer(void);

/* A resume that does not complete in time must not cost the user's session: killing
 * nxagent, as for a stuck start, would lose every window. A client stuck in the NX
 * handshake or the reconnection is cut off instead: nxagent fails this reconnection and
 * suspends again, and the next x_start resumes it. nxagent that never took the resume
 * signal is still suspended. Only a second expiry in the same resume kills it. (Listening
 * has no timeout of ours: nxagent gives up waiting for a proxy by itself, after 60 s, and
 * suspends.) */
static bool
abort_resume(void)
{
    if (!s.resuming || s.resume_aborted || s.agent <= 0 ||
        (s.state != VMA_STARTING && s.state != VMA_CONNECTING))
        return false;
    s.resume_aborted = true;
    if (s.state == VMA_STARTING && s.resume_pending) {
        log_warn("nxagent did not take the resume signal: the session stays suspended");
        s.resume_pending = false;
        s.resuming = false;
        set_state(VMA_SUSPENDED);
        return true;
    }
    if (relay_drop_all() == 0)
        return false;
    log_warn("nxagent did not resume in time (state %s): client cut off, nxagent suspends again",
             state_names[s.state]);
    arm_timer(); /* the same timeout again for nxagent to suspend */
    return true;
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
    if (abort_resume())
        return;
    log_warn("nxagent stuck in state %s: killing it", state_names[s.state]);
    ending_stop_requested("timeout");
    if (s.agent > 0)
        kill(s.agent, SIGKILL);
    if (s.xsession > 0)
        kill(-s.xsession, SIGKILL);
}

/* nxagent ignores a SIGHUP that arrives while it is still cleaning up after a suspend
 * ("Waiting the cleanup timeout to complete"): until it logs "Resuming session", the
 * signal is sent again every 500 ms (at most 20 times). */
static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct timeval tv = {0, 500000};

    if (!s.resume_pending || s.state != VMA_STARTING || s.agent <= 0)
        return;
    if (++s.resume_tries > 20) {
        log_warn("nxagent does not resume the session");
        return;
    }
    log_debug("nxagent has not resumed yet: signalling it again");
    kill(s.agent, SIGHUP);
    evtimer_add(s.resume, &tv);
}

static void
resume_agent(void)
{
    struct timeval tv = {0, 500000};

    if (!s.resume)
        s.resume = evtimer_new(vma.base, resume_cb, NULL);
    s.resume_pending = true;
    s.resuming = true;
    s.resumed_at = 0;
    s.resume_aborted = false;
    s.resume_tries = 0;
    kill(s.agent, SIGHUP);
    evtimer_add(s.resume, &tv);
}

/* Arms the timeout of the current state (if it has one). */
static void
arm_timer(void)
{
    enum vma_state st = s.state;
    const char *key = st == VMA_STARTING || st == VMA_CONNECTING ? "vma.timeout.listening"
                      : st == VMA_SUSPENDING                     ? "vma.timeout.suspending"
                      : st == VMA_STOPPING                       ? "vma.timeout.stopping"
                                                                 : NULL;
    if (!s.timer)
        s.timer = evtimer_new(vma.base, timer_cb, NULL);
    evtimer_del(s.timer);
    if (key) {
        struct timeval tv = {qvd_config_int(vma.cfg, key), 0};
        evtimer_add(s.timer, &tv);
    }
}

/* Enters a state and arms the timeout that state has (if any). */
static void
set_state(enum vma_state st)
{
    if (st == s.state)
        return;
    log_info("session state %s -> %s", state_names[s.state], state_names[st]);
    s.state = st;
    arm_timer();
    if (st == VMA_CONNECTED)
        printing_session_connected();
    else if (st == VMA_SUSPENDED || st == VMA_STOPPING || st == VMA_STOPPED)
        printing_session_ended();
}

/* In a forked child: becomes the user in its home with a clean environment. */
void
session_become_user(const char *display)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    close_range(3, ~0U, 0);
    if (s.user.uid == 0 || s.user.gid == 0) { /* account.c refuses these; never as root */
        fprintf(stderr, "qvd-vma: refusing to run the session as root\n");
        _exit(126);
    }
    if (setgid(s.user.gid) < 0 || initgroups(s.user.name, s.user.gid) < 0 ||
        setuid(s.user.uid) < 0) {
        fprintf(stderr, "qvd-vma: cannot become %s: %s\n", s.user.name, strerror(errno));
        _exit(126);
    }
    if (chdir(s.user.home) < 0 && chdir("/") < 0)
        _exit(126);
    clearenv();
    setenv("HOME", s.user.home, 1);
    setenv("USER", s.user.name, 1);
    setenv("LOGNAME", s.user.name, 1);
    setenv("SHELL", s.user.shell, 1);
    setenv("PATH", "/usr/local/bin:/usr/bin:/bin", 1);
    if (display)
        setenv("DISPLAY", display, 1);
}

static void
start_xsession(void)
{
    const char *cmd = s.app ? s.app : qvd_config_get(vma.cfg, "vma.x_session");
    char **app = s.app ? app_argv(s.app) : NULL;
    char display[16];
    snprintf(display, sizeof(display), ":%d", vma.display);
    pid_t pid = fork();
    if (pid < 0) {
        log_err("fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        session_become_user(display);
        audio_session_env(&s.user);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        if (app != NULL) /* the one program, no desktop: without a shell (app.c) */
            execv(app[0], app);
        else
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        fprintf(stderr, "qvd-vma: exec %s: %s\n", cmd, strerror(errno));
        _exit(127);
    }
    app_argv_free(app);
    s.xsession = pid;
    log_info("%s %s started as %s (pid %d)", s.app ? "application" : "X session", cmd, s.user.name,
             (int)pid);
}

/* Maps nxagent's log lines (nx-libs 3.5.99) to session states. */
static void
agent_line(const char *line)
{
    static const struct {
        const char *text;
        enum vma_state state;
    } map[] = {
        {"Session: Starting session at", VMA_STARTING},
        {"Session: Resuming session at", VMA_STARTING},
        {"Info: Waiting for connection from", VMA_LISTENING},
        {"Info: Accepted connection from", VMA_CONNECTING},
        {"Session: Session started at", VMA_CONNECTED},
        {"Session: Session resumed at", VMA_CONNECTED},
        {"Session: Suspending session at", VMA_SUSPENDING},
        {"Session: Session suspended at", VMA_SUSPENDED},
        {"Session: Terminating session at", VMA_STOPPING},
        {"Session: Aborting session at", VMA_STOPPING},
        {"Session: Session terminated at", VMA_STOPPING},
        {"Session: Session aborted at", VMA_STOPPING},
    };
    /* which nxagent runs (QVD's build names its patches, images/build-nxagent.sh) is worth
     * a line in every log; the rest of nxagent's chatter only when debugging */
    if (strncmp(line, "NXAGENT - Version", 17) == 0 || strncmp(line, "QVD patches:", 12) == 0)
        log_info("nxagent: %s", line);
    else
        log_debug("nxagent: %s", line);
    audio_agent_line(line, &s.user);
    if (strncmp(line, "Session: Resuming session at", 28) == 0)
        s.resume_pending = false;
    for (size_t i = 0; i < QVD_ARRAY_LEN(map); i++) {
        if (strncmp(line, map[i].text, strlen(map[i].text)) != 0)
            continue;
        /* a stop in progress is not undone by late lines */
        if (s.state == VMA_STOPPING && map[i].state != VMA_STOPPING)
            return;
        set_state(map[i].state);
        if (map[i].state == VMA_CONNECTED && s.resuming)
            s.resumed_at = time(NULL);
        if (map[i].state == VMA_SUSPENDED) {
            s.resuming = false;
            audio_suspended(&s.user);
        }
        if (map[i].state == VMA_CONNECTED)
            ending_agent_connected();
        /* nxagent takes X clients once the first proxy connection is up */
        if (map[i].state == VMA_CONNECTED && s.xsession == 0)
            start_xsession();
        return;
    }
}

/* nxagent ends its list of keystrokes (printed at every start and resume) without a
 * newline: the line after it comes glued to the list's last, indented entry, as in
 * "  dump_clipboard : Ctrl+Shift+Alt+cSession: Session resumed at ...". The glued line, or
 * NULL. */
static const char *
glued_line(const char *line)
{
    static const char *const heads[] = {"Session: ", "Info: ", "Warning: ", "Error: "};
    const char *first = NULL;

    if (line[0] != ' ')
        return NULL;
    for (size_t i = 0; i < QVD_ARRAY_LEN(heads); i++) {
        const char *p = strstr(line, heads[i]);
        if (p != NULL && (first == NULL || p < first))
            first = p;
    }
    return first;
}

static void
log_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t len;
    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF))) {
        const char *glued = glued_line(line);
        if (glued != NULL)
            log_debug("nxagent: %.*s", (int)(glued - line), line);
        agent_line(glued != NULL ? glued : line);
        free(line);
    }
    if (evbuffer_get_length(in) > 65536) /* a line without end: drop it */
        evbuffer_drain(in, evbuffer_get_length(in));
}

static void
log_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        bufferevent_free(s.log);
        s.log = NULL;
    }
}

static const char *
param(const struct qvd_http_param *params, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(params[i].key, key) == 0)
            return *params[i].value ? params[i].value : NULL;
    return NULL;
}

/* nxagent's option string, read from the options file at the first start and again at each
 * resume, in QVD's order (keyboard, client, link, geometry, fullscreen). The values were
 * checked by vma_check_params. fullscreen is always given: a resume may change the mode.
 * resize=1: a resume takes the new client's size (nxagent keeps the old one otherwise).
 * clipboard=both: copy and paste both ways. loopback=1: nxagent listens for the proxy on
 * 127.0.0.1 only; the VMA's upgrade endpoint is the one way in. */
static void
agent_options(struct qvd_buf *b, const struct qvd_http_param *params, size_t n)
{
    const char *kbd = param(params, n, "qvd.client.keyboard");
    const char *os = param(params, n, "qvd.client.os");
    const char *link = param(params, n, "qvd.client.link");
    const char *geom = param(params, n, "qvd.client.geometry");
    const char *full = param(params, n, "qvd.client.fullscreen");

    qvd_buf_adds(b, "nx/nx");
    if (kbd)
        qvd_buf_printf(b, ",keyboard=%s", kbd);
    qvd_buf_printf(b, ",client=%s",
                   !os                          ? "linux"
                   : strcmp(os, "darwin") == 0  ? "macosx"
                   : strcmp(os, "windows") == 0 ? "windows"
                                                : "linux");
    if (link)
        qvd_buf_printf(b, ",link=%s", link);
    if (geom)
        qvd_buf_printf(b, ",geometry=%s", geom);
    qvd_buf_printf(b, ",fullscreen=%s", full && strcmp(full, "1") == 0 ? "1" : "0");
    printing_agent_option(b);
    if (audio_wanted()) /* nxagent listens for the user's PulseAudio (audio.c) */
        qvd_buf_adds(b, ",media=1");
    if (slave_wanted(params, n))
        qvd_buf_printf(b, ",slave=%d", slave_port());
    qvd_buf_printf(b, ",resize=1,clipboard=both,loopback=1:%d\n", vma.display);
}

static int
write_options(const struct qvd_http_param *params, size_t n)
{
    struct qvd_buf b = QVD_BUF_INIT;
    printing_configure(params, n);
    audio_configure(param(params, n, "qvd.client.audio.enable"),
                    param(params, n, "qvd.client.audio.compression.enable"),
                    param(params, n, "qvd.client.microphone.enable"));
    agent_options(&b, params, n);
    log_debug("nxagent options: %.*s", (int)b.len - 1, b.data);
    const char *dir = qvd_config_get(vma.cfg, "vma.run.path");
    free(s.opts_path);
    s.opts_path = qvd_xasprintf("%s/nxagent-%d.options", dir, vma.display);
    int rc = 0;
    if (qvd_mkdir_p(dir, 0755) < 0 || qvd_write_file(s.opts_path, b.data, b.len, 0644) < 0)
        rc = qvd_seterr("cannot write %s: %s", s.opts_path, strerror(errno));
    else if (slave_prepare(params, n, &s.user) < 0) /* in the folder made above */
        log_warn("no slave channel: %s", qvd_strerror());
    qvd_buf_free(&b);
    return rc;
}

/* What a previous X server of our display left when it was killed: its lock file and
 * socket. nxagent removes a stale lock only when it may, and in the sticky /tmp a lock of
 * another user is not its to remove: the next session, as another user, would abort with
 * "Could not create server lock file". Only one nxagent runs per VM, and none runs now. */
static void
clear_display_leftovers(void)
{
    char path[64];

    snprintf(path, sizeof(path), "/tmp/.X%d-lock", vma.display);
    if (unlink(path) == 0)
        log_debug("removed the stale %s", path);
    snprintf(path, sizeof(path), "/tmp/.X11-unix/X%d", vma.display);
    if (unlink(path) == 0)
        log_debug("removed the stale %s", path);
}

static int
spawn_agent(void)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return qvd_seterr("pipe: %s", strerror(errno));
    clear_display_leftovers();
    audio_prepare(&s.user);
    char *dispopt = qvd_xasprintf("nx/nx,options=%s:%d", s.opts_path, vma.display);
    char *dispname = qvd_xasprintf(":%d", vma.display);
    const char *bin = qvd_config_get(vma.cfg, "vma.nxagent");
    char *extra = qvd_xstrdup(qvd_config_get(vma.cfg, "vma.nxagent.extra_args"));
    char *argv[64] = {(char *)bin, "-ac", "-nolisten", "tcp", "-name", "QVD", "-display", dispopt};
    int n = 8;
    for (char *save = NULL, *t = strtok_r(extra, " \t", &save); t && n < 60;
         t = strtok_r(NULL, " \t", &save))
        argv[n++] = t;
    argv[n++] = dispname;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        session_become_user(NULL);
        slave_agent_env(&s.user);
        execv(bin, argv);
        fprintf(stderr, "qvd-vma: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    free(dispopt);
    free(dispname);
    free(extra);
    if (pid < 0) {
        close(fds[0]);
        return qvd_seterr("fork: %s", strerror(errno));
    }
    s.agent = pid;
    s.resuming = false;
    ending_agent_started();
    s.log = bufferevent_socket_new(vma.base, fds[0], BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s.log, log_read, NULL, log_event, NULL);
    bufferevent_enable(s.log, EV_READ);
    log_info("nxagent started as %s on display :%d (pid %d)", s.user.name, vma.display, (int)pid);
    return 0;
}

int
session_start(const struct qvd_http_param *params, size_t n)
{
    switch (s.state) {
    case VMA_LISTENING:
    case VMA_CONNECTING:
        /* An earlier client made its x_connect and is still in its NX handshake (nxagent
         * may not have said so yet): it is cut off like a connected one; nxagent then
         * fails that link and suspends (or, for a new session, ends), and the retry
         * resumes (or starts) for the new client. */
        if (relay_drop_all() > 0)
            log_info("x_start: a client was connecting: cut off");
        else if (s.state == VMA_LISTENING)
            return 0; /* already waiting for the client */
        return qvd_seterr("session busy, retry");
    case VMA_CONNECTED:
        /* A client holds the session: cut its stream off. nxagent sees the display fail and
         * suspends by itself, so that a retry resumes for the new client. Signalling it as
         * well raced with its own failure handling and left a session that could not be
         * resumed; when the old client is already gone, nxagent is suspending anyway. */
        if (relay_drop_all() > 0)
            log_info("x_start: the session was connected: old client cut off");
        return qvd_seterr("session busy, retry");
    case VMA_SUSPENDED:
        if (write_options(params, n) < 0)
            return -1;
        set_state(VMA_STARTING);
        resume_agent(); /* nxagent resumes: Resuming, then Waiting for connection */
        return 0;
    case VMA_STOPPED:
        break;
    default:
        return qvd_seterr("session is %s, retry later", state_names[s.state]);
    }
    const char *name = param(params, n, "qvd.vm.user.name");
    struct vma_account acct;
    if (!name)
        name = qvd_config_get(vma.cfg, "vma.user.default.name");
    /* refused before any state change, hook or useradd: nothing started, nothing created */
    if (account_plan(name ? name : "", param(params, n, "qvd.vm.user.uid"),
                     param(params, n, "qvd.vm.user.gid"), param(params, n, "qvd.vm.user.id"),
                     &acct) < 0)
        return VMA_REFUSED; /* the same account is refused on every try */
    set_state(VMA_PROVISIONING);
    vma_user_free(&s.user);
    free(s.app); /* a new session: the program of this start, or the desktop */
    s.app = param(params, n, "qvd.app.command") ? qvd_xstrdup(param(params, n, "qvd.app.command"))
                                                : NULL;
    if (provision_user(&acct, &s.user) < 0 ||
        hooks_run(qvd_config_get(vma.cfg, "vma.hooks.dir"), params, n) < 0 ||
        write_options(params, n) < 0 || spawn_agent() < 0) {
        set_state(VMA_STOPPED);
        return -1;
    }
    s.xsession = 0;
    set_state(VMA_STARTING);
    return 0;
}

int
session_suspend(void)
{
    if (s.state == VMA_CONNECTED) {
        kill(s.agent, SIGHUP);
        return 0;
    }
    if (s.state == VMA_SUSPENDED || s.state == VMA_SUSPENDING)
        return 0;
    return qvd_seterr("no connected session (state %s)", state_names[s.state]);
}

int
session_stop(void)
{
    if (!session_running()) {
        set_state(VMA_STOPPED);
        return 0;
    }
    ending_stop_requested("x_stop");
    if (s.agent > 0)
        kill(s.agent, SIGTERM);
    if (s.xsession > 0)
        kill(-s.xsession, SIGTERM);
    set_state(VMA_STOPPING);
    return 0;
}

bool
session_running(void)
{
    return s.agent > 0 || s.xsession > 0;
}

void
session_child_exited(pid_t pid, int status)
{
    if (audio_child_exited(pid, status))
        return;
    if (pid == s.agent) {
        log_info("nxagent (pid %d) exited with status %d", (int)pid, status);
        bool resuming =
            s.resuming && (!s.resumed_at || time(NULL) - s.resumed_at <= RESUME_SETTLE_S);
        ending_agent_exited(status, resuming ? "resuming" : state_names[s.state]);
        s.agent = 0;
        s.resuming = false;
        audio_stop(); /* the user's PulseAudio goes with its nxagent */
        if (s.xsession > 0)
            kill(-s.xsession, SIGTERM);
    } else if (pid == s.xsession) {
        log_info("X session (pid %d) ended with status %d", (int)pid, status);
        s.xsession = -1; /* ended: not started again for this nxagent */
        if (s.agent > 0) {
            ending_stop_requested("logout");
            kill(s.agent, SIGTERM);
            set_state(VMA_STOPPING);
        }
    } else {
        return;
    }
    if (s.agent == 0 && s.xsession <= 0) {
        s.xsession = 0;
        set_state(VMA_STOPPED);
    }
}

/* proxy.c: the local end of a session: a free port 4000+N on 127.0.0.1, nxproxy spawned to
 * connect to it, and the byte relay between nxproxy and the TLS stream until either closes. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "err.h"
#include "log.h"

#define RELAY_BUF 65536
#define NX_PORT_BASE 4000

static void
on_signal(int sig)
{
    client_interrupted = sig;
}

void
client_signals_init(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    /* no SA_RESTART: poll() must return so that the loops see the flag */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void
client_split_args(const char *s, char ***argv, size_t *argc)
{
    while (s != NULL && *s) {
        s += strspn(s, " \t\n");
        size_t n = strcspn(s, " \t\n");
        if (n == 0)
            break;
        *argv = qvd_xrealloc(*argv, (*argc + 2) * sizeof(**argv));
        (*argv)[(*argc)++] = qvd_xstrndup(s, n);
        (*argv)[*argc] = NULL;
        s += n;
    }
}

/* Listens on 127.0.0.1 on a free port in 4001..4999 (nxproxy's display N means port
 * 4000+N); the search starts at a random place so that two clients rarely collide. */
static int
listen_nx_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return qvd_seterr("socket: %s", strerror(errno));
    unsigned start = (unsigned)getpid() ^ (unsigned)qvd_mono_ms();
    for (unsigned i = 0; i < 999; i++) {
        int p = NX_PORT_BASE + 1 + (int)((start + i) % 999);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)p),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0) {
            *port = p;
            return fd;
        }
    }
    close(fd);
    return qvd_seterr("no free port in 4001-4999 on 127.0.0.1");
}

/* The program path: command as given if it has a '/', else found in PATH. NULL if none. */
static char *
find_program(const char *cmd)
{
    if (strchr(cmd, '/') != NULL)
        return access(cmd, X_OK) == 0 ? qvd_xstrdup(cmd) : NULL;
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        char *full = qvd_xasprintf("%.*s/%s", (int)n, path, cmd);
        if (n > 0 && access(full, X_OK) == 0)
            return full;
        free(full);
        path += n;
        if (*path == ':')
            path++;
    }
    return NULL;
}

/* nxproxy keeps its state in $HOME/.nx: use the user's if writable, else a private one. */
static char *
nx_home(const struct client_opts *o)
{
    const char *home = getenv("HOME");
    if (home != NULL && *home) {
        char *nx = qvd_xasprintf("%s/.nx", home);
        bool ok = (mkdir(nx, 0700) == 0 || errno == EEXIST) && access(nx, W_OK | X_OK) == 0;
        free(nx);
        if (ok)
            return NULL; /* keep HOME */
    }
    char *alt = qvd_xasprintf("%s/nxhome", o->qvd_dir);
    char *nx = qvd_xasprintf("%s/.nx", alt);
    if (qvd_mkdir_p(nx, 0700) < 0)
        log_warn("cannot create %s: %s", nx, strerror(errno));
    free(nx);
    return alt;
}

static pid_t
spawn_nxproxy(const struct client_opts *o, struct client_proxy *px, const char *prog, int display)
{
    char **argv = NULL;
    size_t argc = 0;
    client_split_args(o->nxproxy_command, &argv, &argc);
    client_split_args(o->nxproxy_extra_args, &argv, &argc);
    struct qvd_buf nxopts = QVD_BUF_INIT; /* " key=value" each */
    client_slave_nx_options(o, &nxopts);
    client_printing_nx_options(o, &nxopts);
    qvd_buf_adds(&nxopts, qvd_buf_str(&px->channels)); /* audio.c's */
    char *disp = qvd_xasprintf("-S%s localhost:%d", qvd_buf_str(&nxopts), display);
    qvd_buf_free(&nxopts);
    client_split_args(disp, &argv, &argc);
    free(disp);
    char *home = nx_home(o);
    if (o->verbose) {
        fprintf(stderr, "qvd-client: running");
        for (size_t i = 0; i < argc; i++)
            fprintf(stderr, " %s", argv[i]);
        fputc('\n', stderr);
    }
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        if (home != NULL)
            setenv("HOME", home, 1);
        /* when its link breaks nxproxy runs $NX_CLIENT (else nxdialog, nxclient) to show a
         * dialog, which would speak after our own sentence of why the session ended */
        setenv("NX_CLIENT", "/bin/true", 0);
        client_slave_nx_env(o);
        execv(prog, argv);
        _exit(127);
    }
    if (pid < 0)
        qvd_seterr("fork: %s", strerror(errno));
    for (size_t i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
    free(home);
    return pid;
}

/* Waits for nxproxy to connect; -1 if it exits, the time runs out or a signal comes. */
static int
accept_nxproxy(int lfd, pid_t pid, int timeout_s, int *status)
{
    int64_t deadline = qvd_mono_ms() + (int64_t)timeout_s * 1000;
    *status = -1;
    while (qvd_mono_ms() < deadline && !client_interrupted) {
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0)
                return fd;
        }
        if (waitpid(pid, status, WNOHANG) == pid)
            return qvd_seterr("nxproxy exited before connecting");
    }
    return qvd_seterr(client_interrupted ? "interrupted" : "nxproxy did not connect in time");
}

/* Ends nxproxy: a grace period to exit by itself (its socket is closed), then SIGTERM, then
 * SIGKILL. Returns its wait status (or -1 if it was already reaped). */
static int
reap_nxproxy(pid_t pid, int grace_ms)
{
    int status = -1;
    int64_t deadline = qvd_mono_ms() + grace_ms;
    int sig = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return status;
        if (qvd_mono_ms() >= deadline) {
            sig = sig == 0 ? SIGTERM : SIGKILL;
            kill(pid, sig);
            deadline = qvd_mono_ms() + 2000;
        }
        usleep(20000);
    }
}

/* A one-way buffer of the relay. */
struct pipe_buf {
    char data[RELAY_BUF];
    size_t off, len;
    bool eof;
};

/* Moves bytes both ways until either side closes. 0 when a side closed, -1 on an error. */
static int
relay(struct client_tls *t, int nx)
{
    static struct pipe_buf down, up; /* down: server -> nxproxy; up: nxproxy -> server */
    memset(&down, 0, sizeof(down));
    memset(&up, 0, sizeof(up));
    int tfd = client_tls_fd(t);
    for (;;) {
        short tls_events = 0, nx_events = 0;
        bool progress = false;
        if (client_interrupted)
            return 0;
        if (down.len == 0 && !down.eof) {
            short want = 0;
            ssize_t n = client_tls_read_nb(t, down.data, sizeof(down.data), &want);
            if (n > 0) {
                down.off = 0;
                down.len = (size_t)n;
                progress = true;
            } else if (n == 0) {
                down.eof = true;
            } else if (n == -2) {
                tls_events |= want;
            } else {
                return qvd_seterr("reading from the server: %s", qvd_strerror());
            }
        }
        if (down.len > 0) {
            ssize_t n = send(nx, down.data + down.off, down.len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                down.off += (size_t)n;
                down.len -= (size_t)n;
                progress = true;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                return 0; /* nxproxy went away */
            } else {
                nx_events |= POLLOUT;
            }
        }
        if (up.len == 0 && !up.eof) {
            ssize_t n = recv(nx, up.data, sizeof(up.data), MSG_DONTWAIT);
            if (n > 0) {
                up.off = 0;
                up.len = (size_t)n;
                progress = true;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                up.eof = true;
            } else {
                nx_events |= POLLIN;
            }
        }
        if (up.len > 0) {
            short want = 0;
            ssize_t n = client_tls_write_nb(t, up.data + up.off, up.len, &want);
            if (n > 0) {
                up.off += (size_t)n;
                up.len -= (size_t)n;
                progress = true;
            } else if (n == -2) {
                tls_events |= want;
            } else {
                return qvd_seterr("writing to the server: %s", qvd_strerror());
            }
        }
        if ((down.eof && down.len == 0) || (up.eof && up.len == 0)) {
            log_info("%s closed the session", down.eof ? "the server" : "nxproxy");
            return 0;
        }
        if (progress)
            continue;
        struct pollfd pfd[2] = {{.fd = tfd, .events = tls_events}, {.fd = nx, .events = nx_events}};
        if (poll(pfd, 2, -1) < 0 && errno != EINTR)
            return qvd_seterr("poll: %s", strerror(errno));
    }
}

/* Starts nxproxy and takes its connection on a free local port. */
int
client_proxy_start(const struct client_opts *o, struct client_proxy *px)
{
    char **words = NULL;
    size_t nfirst = 0;
    client_split_args(o->nxproxy_command, &words, &nfirst);
    char *prog = nfirst > 0 ? find_program(words[0]) : NULL;
    for (size_t i = 0; i < nfirst; i++)
        free(words[i]);
    free(words);
    px->pid = -1;
    px->nx = -1;
    if (prog == NULL)
        return client_fail(CLIENT_EXIT_NXPROXY, "nxproxy is not installed: apt-get install "
                                                "nxproxy.");
    int port = 0, code = CLIENT_EXIT_OK, status = -1;
    int lfd = listen_nx_port(&port);
    if (lfd < 0) {
        code = client_fail(CLIENT_EXIT_NXPROXY, "Cannot open a local port for nxproxy: %s.",
                           qvd_strerror());
        goto out;
    }
    log_debug("listening on 127.0.0.1:%d for nxproxy", port);
    px->pid = spawn_nxproxy(o, px, prog, port - NX_PORT_BASE);
    if (px->pid < 0) {
        code = client_fail(CLIENT_EXIT_NXPROXY, "Cannot start nxproxy: %s.", qvd_strerror());
        goto out;
    }
    px->nx = accept_nxproxy(lfd, px->pid, o->nxproxy_timeout_s, &status);
    if (px->nx < 0) {
        if (client_interrupted)
            code = CLIENT_EXIT_OK;
        else if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127)
            code = client_fail(CLIENT_EXIT_NXPROXY, "nxproxy is not installed: apt-get install "
                                                    "nxproxy.");
        else
            code = client_fail(CLIENT_EXIT_NXPROXY, "nxproxy did not start the session (%s).",
                               qvd_strerror());
        if (status >= 0)
            px->pid = -1; /* reaped */
        goto out;
    }
    int one = 1;
    setsockopt(px->nx, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
out:
    if (lfd >= 0)
        close(lfd);
    free(prog);
    return code;
}

/* Relays between nxproxy and the TLS stream (after the 101) until either side closes. */
int
client_proxy_relay(const struct client_opts *o, struct client_proxy *px, struct client_tls *t,
                   const struct qvd_buf *leftover)
{
    /* the bytes the server sent right behind its 101 belong to nxproxy */
    size_t off = 0;
    while (off < leftover->len) {
        ssize_t n = send(px->nx, leftover->data + off, leftover->len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR && !client_interrupted)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    fprintf(stderr, "qvd-client: Connected to virtual machine %ld.\n", o->vm_id);
    return relay(t, px->nx);
}

/* Ends nxproxy: its socket is closed, and it gets a grace period to exit by itself. */
void
client_proxy_stop(struct client_proxy *px)
{
    if (px->nx >= 0)
        close(px->nx);
    px->nx = -1;
    if (px->pid > 0) {
        int status = reap_nxproxy(px->pid, client_interrupted ? 0 : 3000);
        log_debug("nxproxy ended with status %d", status);
    }
    px->pid = -1;
}

/* audio.c: the client's side of the session's sound (docs/client.md "Sound"). The VM's
 * PulseAudio tunnels through nxagent's media channel; nxproxy, given media=<port>, carries
 * each of its connections to 127.0.0.1:<port> here, where the user's PulseAudio listens
 * for the session: module-native-protocol-tcp loaded with pactl into the PulseAudio that
 * runs (or one started for the session when none does), and unloaded at the end. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "err.h"
#include "log.h"

#define PACTL_TIMEOUT_MS 5000
#define PULSE_START_MS 10000
#define PORT_TRIES 5

/* Runs argv with stdout into out (NUL-terminated; may be NULL) and stderr dropped, for at
 * most PACTL_TIMEOUT_MS (then killed). The exit status, or -1. */
static int
run(char *const argv[], char *out, size_t outlen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(fds[1], 1);
        dup2(null, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    bool timed_out = true;
    int64_t deadline = qvd_mono_ms() + PACTL_TIMEOUT_MS;
    for (;;) {
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int64_t left = deadline - qvd_mono_ms();
        if (pid < 0 || left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        char buf[256];
        ssize_t n = read(fds[0], buf, sizeof(buf));
        if (n <= 0) {
            timed_out = n < 0;
            break;
        }
        if (out != NULL && len + 1 < outlen) {
            size_t k = (size_t)n < outlen - 1 - len ? (size_t)n : outlen - 1 - len;
            memcpy(out + len, buf, k);
            len += k;
        }
    }
    close(fds[0]);
    if (out != NULL && outlen > 0)
        out[len] = '\0';
    if (pid < 0)
        return -1;
    if (timed_out) /* it hangs (a PulseAudio that does not answer): no longer waited for */
        kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (timed_out)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool
pulse_answers(void)
{
    char *argv[] = {"pactl", "info", NULL};
    return run(argv, NULL, 0) == 0;
}

/* A PulseAudio for the session when none answers: the user's usual configuration, run in
 * the foreground so that it ends with the session. */
static int
start_pulse(const struct client_opts *o, struct client_audio *a)
{
    pid_t pid = fork();
    if (pid < 0)
        return qvd_seterr("fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execlp(o->pulseaudio, o->pulseaudio, "--daemonize=no", "--exit-idle-time=-1", (char *)NULL);
        _exit(127);
    }
    a->pulse = pid;
    int64_t deadline = qvd_mono_ms() + PULSE_START_MS;
    while (qvd_mono_ms() < deadline && !client_interrupted) {
        if (pulse_answers())
            return 0;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            a->pulse = -1;
            return qvd_seterr(WIFEXITED(status) && WEXITSTATUS(status) == 127
                                  ? "%s is not installed"
                                  : "%s did not start",
                              o->pulseaudio);
        }
        usleep(100000);
    }
    return qvd_seterr("%s did not answer in time", o->pulseaudio);
}

/* A port of 49152..65534 free on 127.0.0.1 now (QVD's range), from a random place on. */
static int
free_port(unsigned seed)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    for (unsigned i = 0; i < 200; i++) {
        int p = 49152 + (int)((seed + i * 7919u) % 16383u);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)p),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(fd);
            return p;
        }
    }
    close(fd);
    return -1;
}

/* Loads module-native-protocol-tcp on a free port of 127.0.0.1. Anonymous, as QVD's client
 * loads it: nxproxy cannot present a cookie. Only local programs reach that address
 * (docs/security.md says what that costs). */
static int
load_tcp(struct client_audio *a)
{
    unsigned seed = (unsigned)getpid() ^ (unsigned)qvd_mono_ms();
    for (int i = 0; i < PORT_TRIES; i++, seed += 104729u) {
        int port = free_port(seed);
        if (port < 0)
            break;
        char arg[64], out[64];
        snprintf(arg, sizeof(arg), "port=%d", port);
        char *argv[] = {"pactl",
                        "load-module",
                        "module-native-protocol-tcp",
                        arg,
                        "listen=127.0.0.1",
                        "auth-ip-acl=127.0.0.1",
                        "auth-anonymous=1",
                        NULL};
        long index;
        if (run(argv, out, sizeof(out)) != 0)
            continue;
        out[strcspn(out, "\n")] = '\0';
        if (qvd_parse_long(out, &index) == 0 && index >= 0) {
            a->module = (int)index;
            a->port = port;
            return 0;
        }
    }
    return qvd_seterr("pactl could not load module-native-protocol-tcp");
}

void
client_audio_start(const struct client_opts *o, struct client_audio *a)
{
    a->pulse = -1;
    a->module = -1;
    a->port = 0;
    if (!client_feature_use(o, "audio", o->audio)) /* its sentence when the server has it off */
        return;
    char *argv[] = {"pactl", "--version", NULL};
    if (run(argv, NULL, 0) != 0) {
        fprintf(stderr, "qvd-client: Sound needs PulseAudio on this computer (pactl is not "
                        "installed: apt-get install pulseaudio-utils); the session goes on "
                        "without it.\n");
        return;
    }
    if ((!pulse_answers() && start_pulse(o, a) < 0) || load_tcp(a) < 0) {
        fprintf(stderr,
                "qvd-client: Sound is not available: %s; the session goes on without "
                "it.\n",
                qvd_strerror());
        client_audio_stop(a);
        return;
    }
    log_info("sound: PulseAudio takes the session's connections on 127.0.0.1:%d", a->port);
}

void
client_audio_nxproxy_args(const struct client_audio *a, struct qvd_buf *args)
{
    if (a->port > 0)
        qvd_buf_printf(args, " media=%d", a->port);
}

void
client_audio_stop(struct client_audio *a)
{
    if (a->module >= 0 && a->pulse < 0) {
        char idx[24];
        snprintf(idx, sizeof(idx), "%d", a->module);
        char *argv[] = {"pactl", "unload-module", idx, NULL};
        if (run(argv, NULL, 0) != 0)
            log_warn("pactl could not unload module %d", a->module);
    }
    if (a->pulse > 0) {
        kill(a->pulse, SIGTERM);
        waitpid(a->pulse, NULL, 0);
    }
    a->pulse = -1;
    a->module = -1;
    a->port = 0;
}

/* audio.c: the session's sound, both ways (docs/vma.md "Sound"). Given media=1, nxagent
 * listens on 127.0.0.1 in the VM for PulseAudio connections and carries each through the NX
 * link to the client's PulseAudio (nxproxy's media=<port> on the client). When nxagent says
 * on which port, the user's PulseAudio is started (once per nxagent) and gets a tunnel sink
 * QVD_Audio and a tunnel source QVD_Microphone to that port, made its defaults, as QVD's
 * VMA does. At suspend the tunnels are unloaded (nothing carries them any more); the next
 * connection's port line loads them again. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "util.h"
#include "vma.h"

#define MEDIA_LINE "Info: Listening to multimedia connections on port '"
/* how often a tunnel that lost (or never got) its connection tries again, in ms: the
 * client's side may come up after nxagent's listener */
#define RECONNECT_MS "3000"

static struct {
    bool wanted;        /* this connection: vma.audio.enable and the client asked */
    bool compress, mic; /* Opus asked for; the microphone wanted */
    pid_t pulse;        /* the user's PulseAudio, started here (0: none) */
} a;

/* The tunnels, loaded or unloaded by the user's pactl ($1: load or unload; for load $2 the
 * port, $3 1 for Opus, $4 1 for the microphone). pactl waits for nothing: PulseAudio may
 * still be starting, so it is asked until it answers (10 s). A tunnel of an earlier
 * connection goes first: its port may have changed. Stock PulseAudio has no Opus in its
 * tunnels (QVD's patched one has): the sink is then loaded without it, and the log says so. */
static const char tunnels_sh[] =
    "exec >>\"$XDG_RUNTIME_DIR/qvd-audio.log\" 2>&1\n"
    "i=0\n"
    "until pactl info >/dev/null 2>&1; do\n"
    "  i=$((i + 1)); [ $i -le 100 ] || { echo 'PulseAudio does not answer'; exit 1; }\n"
    "  sleep 0.1\n"
    "done\n"
    "pactl unload-module module-tunnel-sink-new 2>/dev/null\n"
    "pactl unload-module module-tunnel-source-new 2>/dev/null\n"
    "[ \"$1\" = load ] || { echo 'tunnels unloaded'; exit 0; }\n"
    "t=\"server=tcp:127.0.0.1:$2 reconnect_interval_ms=" RECONNECT_MS "\"\n"
    "if [ \"$3\" = 1 ] && pactl load-module module-tunnel-sink-new sink_name=QVD_Audio $t "
    "compression=opus >/dev/null 2>&1; then\n"
    "  echo \"QVD_Audio to port $2 (Opus)\"\n"
    "else\n"
    "  [ \"$3\" = 1 ] && echo 'this PulseAudio has no Opus in its tunnels: uncompressed'\n"
    "  pactl load-module module-tunnel-sink-new sink_name=QVD_Audio $t >/dev/null || exit 1\n"
    "  echo \"QVD_Audio to port $2\"\n"
    "fi\n"
    "pactl set-default-sink QVD_Audio\n"
    "[ \"$4\" = 1 ] || exit 0\n"
    "pactl load-module module-tunnel-source-new source_name=QVD_Microphone $t >/dev/null &&\n"
    "  pactl set-default-source QVD_Microphone && echo \"QVD_Microphone to port $2\"\n";

/* PulseAudio's own start-up script (-n -F): its socket for the user's programs, a sink that
 * is always there, so that a program playing while the tunnels are away (suspended) does
 * not fail, and the suspension of idle sinks and sources: an idle tunnel would otherwise
 * stream silence both ways without end (48 kbit/s of the NX link for the sink alone,
 * bench/audio.sh); after 5 s without a stream (PulseAudio's default), so that sounds
 * close together do not wake the tunnel each time (it costs about 25 ms). */
static const char pulse_pa[] = ".fail\n"
                               "load-module module-native-protocol-unix\n"
                               "load-module module-always-sink\n"
                               "load-module module-suspend-on-idle\n";

void
audio_configure(const char *enable, const char *compression, const char *microphone)
{
    /* a parameter missing is what QVD's clients send: QVD's VMA gives them sound, and the
     * microphone, whenever the server has it on */
    a.wanted =
        qvd_config_bool(vma.cfg, "vma.audio.enable") && !(enable && strcmp(enable, "0") == 0);
    a.compress = compression && strcmp(compression, "1") == 0;
    a.mic = !(microphone && strcmp(microphone, "0") == 0);
}

bool
audio_wanted(void)
{
    return a.wanted;
}

/* /run/user/<uid>, the user's own (0700): PulseAudio's socket and its cookie-less access
 * live there. Made by root; an entry that is not a directory of the user is replaced. */
static char *
runtime_dir(const struct vma_user *u, bool make)
{
    char *dir = qvd_xasprintf("/run/user/%u", (unsigned)u->uid);
    struct stat st;

    if (!make)
        return dir;
    if (qvd_mkdir_p("/run/user", 0755) < 0) {
        log_warn("cannot create /run/user: %s", strerror(errno));
        free(dir);
        return NULL;
    }
    if (lstat(dir, &st) == 0 && (!S_ISDIR(st.st_mode) || st.st_uid != u->uid)) {
        log_warn("%s is not the user's folder: replaced", dir);
        char *cmd[] = {"/bin/rm", "-rf", "--", dir, NULL};
        vma_run(cmd);
    }
    if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || chown(dir, u->uid, u->gid) < 0 ||
        chmod(dir, 0700) < 0) {
        log_warn("cannot make %s: %s", dir, strerror(errno));
        free(dir);
        return NULL;
    }
    return dir;
}

void
audio_session_env(const struct vma_user *u)
{
    if (!qvd_config_bool(vma.cfg, "vma.audio.enable"))
        return;
    char *dir = runtime_dir(u, false);
    setenv("XDG_RUNTIME_DIR", dir, 1);
    free(dir);
}

void
audio_prepare(const struct vma_user *u)
{
    if (qvd_config_bool(vma.cfg, "vma.audio.enable"))
        free(runtime_dir(u, true));
}

/* Runs argv as the user (asynchronously: reaped by the SIGCHLD handler). */
static pid_t
spawn_as_user(const struct vma_user *u, char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0) {
        log_err("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        session_become_user(NULL);
        audio_session_env(u);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void
run_tunnels(const struct vma_user *u, const char *what, int port)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", port);
    char *argv[] = {"/bin/sh",    "-c", (char *)tunnels_sh,     "qvd-audio",
                    (char *)what, p,    a.compress ? "1" : "0", a.mic ? "1" : "0",
                    NULL};
    spawn_as_user(u, argv);
}

static int
start_pulse(const struct vma_user *u)
{
    const char *run = qvd_config_get(vma.cfg, "vma.run.path");
    char *script = qvd_xasprintf("%s/pulse.pa", run);
    char *dir = runtime_dir(u, true);
    int rc = -1;

    if (dir == NULL)
        goto out;
    if (qvd_mkdir_p(run, 0755) < 0 ||
        qvd_write_file(script, pulse_pa, strlen(pulse_pa), 0644) < 0) {
        log_warn("cannot write %s: %s", script, strerror(errno));
        goto out;
    }
    char *log = qvd_xasprintf("--log-target=newfile:%s/qvd-pulseaudio.log", dir);
    char *file = qvd_xasprintf("--file=%s", script);
    char *argv[] = {(char *)qvd_config_get(vma.cfg, "vma.audio.pulseaudio"),
                    "--daemonize=no",
                    "--exit-idle-time=-1",
                    "-n",
                    file,
                    log,
                    NULL};
    a.pulse = spawn_as_user(u, argv);
    free(log);
    free(file);
    if (a.pulse > 0) {
        log_info("PulseAudio started as %s (pid %d)", u->name, (int)a.pulse);
        rc = 0;
    }
out:
    free(script);
    free(dir);
    return rc;
}

/* The port of nxagent's line "Info: Listening to multimedia connections on port
 * 'tcp:localhost:7100'." (the spec's last number), or -1. */
static int
media_port(const char *line)
{
    const char *q = strchr(line + strlen(MEDIA_LINE), '\'');
    const char *d = q;

    if (q == NULL)
        return -1;
    while (d > line && d[-1] >= '0' && d[-1] <= '9' && q - d < 6)
        d--;
    if (d == q || (d[-1] != ':' && d[-1] != '\''))
        return -1;
    long port = strtol(d, NULL, 10);
    return port >= 1 && port <= 65535 ? (int)port : -1;
}

void
audio_agent_line(const char *line, const struct vma_user *u)
{
    if (strncmp(line, MEDIA_LINE, strlen(MEDIA_LINE)) != 0)
        return;
    int port = media_port(line);
    if (port < 0) {
        log_warn("nxagent's multimedia port is not understood: %.100s", line);
        return;
    }
    if (!a.wanted)
        return;
    log_info("sound: nxagent carries PulseAudio connections from port %d", port);
    if (a.pulse <= 0 && start_pulse(u) < 0)
        return;
    run_tunnels(u, "load", port);
}

void
audio_suspended(const struct vma_user *u)
{
    if (a.pulse > 0)
        run_tunnels(u, "unload", 0);
}

void
audio_stop(void)
{
    if (a.pulse > 0)
        kill(a.pulse, SIGTERM);
}

bool
audio_child_exited(pid_t pid, int status)
{
    if (pid != a.pulse || pid <= 0)
        return false;
    log_info("PulseAudio (pid %d) exited with status %d", (int)pid, status);
    a.pulse = 0;
    return true;
}

/* main.c: qvd-vma start-up: options, config, secret, signals, --init duties (PID 1 of the
 * container: loopback up, reaping, orderly poweroff). */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "util.h"
#include "vma.h"

struct vma vma;

static struct event *shutdown_timer;
static int shutdown_phase; /* 0 running, 1 stopping session, 2 TERM sent to all, 3 done */
static int64_t phase_start;

/* Brings `lo` up: a fresh network namespace starts with it down. */
static void
loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        log_warn("lo: %s", strerror(errno));
    } else if (!(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
            log_warn("cannot bring lo up: %s", strerror(errno));
        else
            log_info("brought lo up");
    }
    if (fd >= 0)
        close(fd);
}

static void
shutdown_step(evutil_socket_t fd, short what, void *arg)
{
    int64_t waited = qvd_mono_ms() - phase_start;
    if (shutdown_phase == 1) {
        long limit = qvd_config_int(vma.cfg, "vma.timeout.stopping") * 1000;
        if (session_running() && waited < limit)
            return;
        if (!vma.init_mode) {
            log_info("exiting");
            exit(0);
        }
        log_info("terminating every process");
        kill(-1, SIGTERM);
        shutdown_phase = 2;
        phase_start = qvd_mono_ms();
    } else if (shutdown_phase == 2) {
        /* ECHILD from a non-blocking wait means every process is gone */
        if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD) {
            log_info("all processes gone: exiting");
            exit(0);
        }
        if (waited < 2000)
            return;
        kill(-1, SIGKILL);
        log_info("killed the remaining processes: exiting");
        exit(0);
    }
}

void
vma_shutdown(void)
{
    if (shutdown_phase)
        return;
    log_info("shutting down");
    shutdown_phase = 1;
    phase_start = qvd_mono_ms();
    ending_stop_requested("poweroff");
    session_stop();
    shutdown_timer = event_new(vma.base, -1, EV_PERSIST, shutdown_step, NULL);
    struct timeval tv = {0, 100000};
    event_add(shutdown_timer, &tv);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    if (sig == SIGCHLD) {
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            session_child_exited(pid, status);
            printing_child_exited(pid, status);
        }
        return;
    }
    log_info("signal %d", (int)sig);
    vma_shutdown();
}

static int
load_secret(void)
{
    const char *path = qvd_config_get(vma.cfg, "vma.secret.file");
    char *data = NULL;
    size_t len = 0;
    if (!path || qvd_read_file(path, 4096, &data, &len) < 0)
        return qvd_seterr("cannot read the secret file %s: %s", path ? path : "(unset)",
                          strerror(errno));
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
        data[--len] = 0;
    if (len < 16) {
        qvd_wipe(data, len);
        free(data);
        return qvd_seterr("the secret in %s is too short (16 characters at least)", path);
    }
    vma.secret = data;
    return 0;
}

static _Noreturn void
usage(FILE *f, int status)
{
    fprintf(f,
            "usage: qvd-vma [-c config] [--init]\n"
            "       qvd-vma open FILE  (a file under ~/Redirected/<name>: opened on the client)\n"
            "  -c, --config FILE  configuration (default /etc/qvd/vma.conf)\n"
            "      --init         run as the container's PID 1\n"
            "  -h, --help         this help\n"
            "      --version      the version\n");
    exit(status);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"init", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int ch;
    /* nxagent runs NX_SLAVE_CMD without arguments: the slave mode (slave.c) */
    if (argc == 1 && getenv("QVD_VMA_SLAVE") != NULL)
        return slave_main();
    /* the session user's command: a file of a shared folder opened on the client */
    if (argc == 3 && strcmp(argv[1], "open") == 0)
        return slave_open_main(argv[2]);
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'i':
            vma.init_mode = true;
            break;
        case 'h':
            usage(stdout, 0);
        case 'V':
            printf("qvd-vma %s\n", QVD_VERSION);
            exit(0);
        default:
            usage(stderr, 2);
        }
    }
    qvd_log_init("qvd-vma", QVD_LOG_INFO, NULL);
    vma.cfg = qvd_config_load_program("vma.conf", config);
    if (!vma.cfg)
        qvd_fatal("config: %s", qvd_strerror());
    const char *logfile = qvd_config_get(vma.cfg, "log.filename");
    qvd_log_init("qvd-vma", qvd_log_level_parse(qvd_config_get(vma.cfg, "log.level")),
                 logfile && *logfile ? logfile : NULL);
    vma.display = (int)qvd_config_int(vma.cfg, "internal.nxagent.display");
    if (vma.init_mode)
        loopback_up();
    if (load_secret() < 0)
        qvd_fatal("%s", qvd_strerror());

    signal(SIGPIPE, SIG_IGN);
    vma.base = event_base_new();
    if (!vma.base)
        qvd_fatal("cannot create the event loop");
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGPWR};
    for (size_t i = 0; i < QVD_ARRAY_LEN(sigs); i++)
        event_add(evsignal_new(vma.base, sigs[i], on_signal, NULL), NULL);
    if (server_start() < 0)
        qvd_fatal("%s", qvd_strerror());
    log_info("qvd-vma %s running%s", QVD_VERSION, vma.init_mode ? " as init" : "");
    event_base_dispatch(vma.base);
    return 0;
}

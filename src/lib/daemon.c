/* daemon.c: command line, configuration and log of a node daemon (qvd-hkd, qvd-l7r). */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "daemon.h"
#include "err.h"
#include "log.h"

static void
usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-c node.conf] [-d]\n"
            "  -c FILE  configuration file (default $QVD_CONFIG or /etc/qvd/node.conf)\n"
            "  -d       debug logging\n",
            prog);
}

struct qvd_config *
qvd_daemon_start(const char *prog, int argc, char **argv)
{
    const char *cfgfile = NULL;
    struct qvd_config *cfg;
    bool debug = false;
    int opt;

    while ((opt = getopt(argc, argv, "c:dh")) != -1) {
        switch (opt) {
        case 'c': cfgfile = optarg; break;
        case 'd': debug = true; break;
        default: usage(prog); exit(opt == 'h' ? 0 : 2);
        }
    }
    if (optind < argc) {
        usage(prog);
        exit(2);
    }
    if (cfgfile == NULL && getenv("QVD_CONFIG") == NULL)
        cfgfile = "/etc/qvd/node.conf";
    cfg = qvd_config_load_program("node.conf", cfgfile);
    if (cfg == NULL) {
        fprintf(stderr, "%s: %s\n", prog, qvd_strerror());
        exit(1);
    }
    qvd_log_init(prog, debug ? QVD_LOG_DEBUG : qvd_log_level_parse(qvd_config_get(cfg, "log.level")),
                 qvd_config_get(cfg, "log.filename"));
    signal(SIGPIPE, SIG_IGN);
    return cfg;
}

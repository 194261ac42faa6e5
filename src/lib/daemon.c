/* daemon.c: command line, configuration and log of a node daemon (qvd-hkd, qvd-l7r,
 * qvd-api), and the privilege drop of those that face the network. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "err.h"
#include "log.h"
#include "util.h"

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

/* Gives `group` read/write on a path (and search on a folder) so that the dropped user
 * can use it. Missing paths are fine. */
static int
share_path(const char *path, gid_t gid, mode_t add)
{
    struct stat sb;

    if (stat(path, &sb) < 0)
        return errno == ENOENT ? 0 : qvd_seterr("%s: %s", path, strerror(errno));
    if (chown(path, (uid_t)-1, gid) < 0 || chmod(path, (sb.st_mode & 07777) | add) < 0)
        return qvd_seterr("cannot give group %u access to %s: %s", (unsigned)gid, path,
                          strerror(errno));
    return 0;
}

int
qvd_daemon_drop(struct qvd_config *cfg, const char *user_key)
{
    const char *name = qvd_config_get(cfg, user_key);
    const char *dbpath = qvd_config_get(cfg, "database.path");
    const char *run = qvd_config_get(cfg, "path.run");
    struct passwd *pw;
    char *p;
    int rc = 0;

    if (name == NULL || *name == '\0') {
        log_warn("%s is empty: running as uid %u (not recommended)", user_key,
                 (unsigned)getuid());
        return 0;
    }
    pw = getpwnam(name);
    if (pw == NULL)
        return qvd_seterr("%s '%s' does not exist", user_key, name);
    if (strcmp(qvd_config_get(cfg, "database.type"), "sqlite") == 0 && dbpath) {
        const char *sfx[] = {"", "-wal", "-shm"};
        for (size_t i = 0; i < QVD_ARRAY_LEN(sfx) && rc == 0; i++) {
            p = qvd_xasprintf("%s%s", dbpath, sfx[i]);
            rc = share_path(p, pw->pw_gid, S_IRGRP | S_IWGRP);
            free(p);
        }
        p = qvd_xstrdup(dbpath);
        if (rc == 0 && strrchr(p, '/') && strrchr(p, '/') != p) {
            *strrchr(p, '/') = '\0';
            rc = share_path(p, pw->pw_gid, S_IRWXG);
        }
        free(p);
    }
    p = qvd_xasprintf("%s/wake", run ? run : "/var/run/qvd");
    if (rc == 0 && (qvd_mkdir_p(p, 0755) < 0 || share_path(p, pw->pw_gid, S_IRWXG) < 0))
        rc = -1;
    free(p);
    if (rc < 0)
        return -1;
    if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
        return qvd_seterr("cannot become %s: %s", name, strerror(errno));
    if (setuid(0) == 0 || getuid() != pw->pw_uid || geteuid() != pw->pw_uid ||
        getegid() != pw->pw_gid)
        return qvd_seterr("privileges could not be dropped to %s", name);
    log_info("running as %s (uid %u, gid %u)", name, (unsigned)pw->pw_uid,
             (unsigned)pw->pw_gid);
    return 0;
}

/* daemon.c: command line, configuration and log of a node daemon (qvd-hkd, qvd-l7r,
 * qvd-api), and the privilege drop of those that face the network. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "db.h"
#include "err.h"
#include "log.h"
#include "util.h"

static void
usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s [-c node.conf] [-d]\n"
            "  -c, --config FILE  configuration file (default $QVD_CONFIG or /etc/qvd/node.conf)\n"
            "  -d, --debug        debug logging\n"
            "  -h, --help         this help\n"
            "      --version      the version\n",
            prog);
}

struct qvd_config *
qvd_daemon_start(const char *prog, int argc, char **argv)
{
    const char *cfgfile = NULL;
    struct qvd_config *cfg;
    bool debug = false;
    int opt;

    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"debug", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    while ((opt = getopt_long(argc, argv, "c:dh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            cfgfile = optarg;
            break;
        case 'd':
            debug = true;
            break;
        case 'h':
            usage(stdout, prog);
            exit(0);
        case 'V':
            printf("%s %s\n", prog, QVD_VERSION);
            exit(0);
        default:
            usage(stderr, prog);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, argv[optind]);
        usage(stderr, prog);
        exit(2);
    }
    if (cfgfile == NULL && getenv("QVD_CONFIG") == NULL)
        cfgfile = "/etc/qvd/node.conf";
    cfg = qvd_config_load_program("node.conf", cfgfile);
    if (cfg == NULL) {
        fprintf(stderr, "%s: %s\n", prog, qvd_strerror());
        exit(1);
    }
    qvd_log_init(prog,
                 debug ? QVD_LOG_DEBUG : qvd_log_level_parse(qvd_config_get(cfg, "log.level")),
                 qvd_config_get(cfg, "log.filename"));
    signal(SIGPIPE, SIG_IGN);
    return cfg;
}

int
qvd_daemon_mkdir(const char *dir)
{
    char *p = qvd_xstrdup(dir);
    int rc = 0;

    /* each missing component, from the top: mkdir under the umask, then widen it (it
     * holds nothing yet) */
    for (char *s = p + 1;; s++) {
        bool last = *s == '\0';
        if (!last && *s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) == 0)
            rc = chmod(p, 0755);
        else if (errno != EEXIST)
            rc = -1;
        if (rc < 0 || last)
            break;
        *s = '/';
    }
    if (rc < 0)
        qvd_seterr("cannot create directory %s: %s", p, strerror(errno));
    free(p);
    return rc;
}

/* The name of group `gid`, for messages (a static buffer). */
static const char *
group_name(gid_t gid)
{
    static char buf[32];
    struct group *gr = getgrgid(gid);

    if (gr != NULL)
        return gr->gr_name;
    snprintf(buf, sizeof(buf), "%u", (unsigned)gid);
    return buf;
}

/* Gives group `gid` the mode bits `add` on `path` and takes `del` away, if `path` is of
 * file type `type` (S_IFREG, S_IFDIR or S_IFSOCK). The folders are writable by that group:
 * a daemon of it may have put a symbolic link or anything else in the place of a file,
 * so the path is opened without following links and changed through that handle. A path
 * that already belongs to another group than root's is another daemon's: refused, not
 * taken from it. Missing paths and folders open to everyone (/tmp) are left alone. */
static int
share_path(const char *path, mode_t type, gid_t gid, mode_t add, mode_t del)
{
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC), rc = 0;
    char proc[64];
    struct stat sb;

    if (fd < 0)
        return errno == ENOENT ? 0 : qvd_seterr("%s: %s", path, strerror(errno));
    if (fstat(fd, &sb) < 0) {
        rc = qvd_seterr("%s: %s", path, strerror(errno));
        goto out;
    }
    if ((sb.st_mode & S_IFMT) != type) {
        rc = qvd_seterr("%s is not a %s: remove it", path,
                        type == S_IFDIR    ? "folder"
                        : type == S_IFSOCK ? "socket"
                                           : "file");
        goto out;
    }
    if (type == S_IFDIR && (sb.st_mode & S_IWOTH))
        goto out;
    if (sb.st_gid != 0 && sb.st_gid != gid) {
        /* group_name's answer lives until its next call: one copy per name */
        char have[64], want[64];
        snprintf(have, sizeof(have), "%s", group_name(sb.st_gid));
        snprintf(want, sizeof(want), "%s", group_name(gid));
        rc = qvd_seterr("%s belongs to group %s, not to %s: give hkd.user, l7r.user and "
                        "api.user one primary group (or chgrp %s %s)",
                        path, have, want, want, path);
        goto out;
    }
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (fchownat(fd, "", (uid_t)-1, gid, AT_EMPTY_PATH) < 0 ||
        chmod(proc, ((sb.st_mode & 07777) | add) & ~del) < 0)
        rc = qvd_seterr("cannot give group %s access to %s: %s", group_name(gid), path,
                        strerror(errno));
out:
    close(fd);
    return rc;
}

/* The SQLite database (file, WAL files, folder): read/write for the group. The files are
 * already closed to others: qvd_db_open refuses them otherwise. */
static int
share_db(const char *dbpath, gid_t gid)
{
    const char *sfx[] = {"", "-wal", "-shm"};
    char *p, *slash;
    int rc = 0;

    for (size_t i = 0; i < QVD_ARRAY_LEN(sfx) && rc == 0; i++) {
        p = qvd_xasprintf("%s%s", dbpath, sfx[i]);
        rc = share_path(p, S_IFREG, gid, S_IRGRP | S_IWGRP, S_IRWXO);
        free(p);
    }
    p = qvd_xstrdup(dbpath);
    if (rc == 0 && (slash = strrchr(p, '/')) != NULL && slash != p) {
        *slash = '\0';
        rc = share_path(p, S_IFDIR, gid, S_IRWXG, 0);
    }
    free(p);
    return rc;
}

/* ${path.run}/wake: the group's and set-group-ID (the sockets bound in it get the group),
 * closed to others; the sockets already in it (the HKD's, bound before this) 0660. */
static int
share_wake(const char *run, gid_t gid)
{
    char *dir = qvd_xasprintf("%s/wake", run ? run : "/var/run/qvd"), *p;
    struct dirent *de;
    struct stat sb;
    DIR *d = NULL;
    int rc;

    rc = qvd_db_wake_dir(dir);
    if (rc == 0)
        rc = share_path(dir, S_IFDIR, gid, S_IRWXG | S_ISGID, S_IRWXO);
    if (rc == 0 && (d = opendir(dir)) == NULL)
        rc = qvd_seterr("%s: %s", dir, strerror(errno));
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(sb.st_mode))
            continue;
        p = qvd_xasprintf("%s/%s", dir, de->d_name);
        rc = share_path(p, S_IFSOCK, gid, S_IRUSR | S_IWUSR | S_IRGRP | S_IWGRP,
                        S_IXUSR | S_IXGRP | S_IRWXO);
        free(p);
    }
    if (d != NULL)
        closedir(d);
    free(dir);
    return rc;
}

int
qvd_daemon_drop(struct qvd_config *cfg, const char *user_key)
{
    const char *name = qvd_config_get(cfg, user_key);
    const char *dbpath = qvd_config_get(cfg, "database.path");
    struct passwd *pw;

    if (name == NULL || *name == '\0') {
        log_warn("%s is empty: running as uid %u (not recommended)", user_key, (unsigned)getuid());
        return 0;
    }
    pw = getpwnam(name);
    if (pw == NULL)
        return qvd_seterr("%s '%s' does not exist", user_key, name);
    if (strcmp(qvd_config_get(cfg, "database.type"), "sqlite") == 0 && dbpath &&
        (share_db(dbpath, pw->pw_gid) < 0 ||
         share_wake(qvd_config_get(cfg, "path.run"), pw->pw_gid) < 0))
        return -1;
    if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
        return qvd_seterr("cannot become %s: %s", name, strerror(errno));
    if (setuid(0) == 0 || getuid() != pw->pw_uid || geteuid() != pw->pw_uid ||
        getegid() != pw->pw_gid)
        return qvd_seterr("privileges could not be dropped to %s", name);
    log_info("running as %s (uid %u, gid %u)", name, (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
    return 0;
}

/* provision.c: the session user: created with useradd when missing, home owned by it. */
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "util.h"
#include "vma.h"

static uid_t chown_uid;
static gid_t chown_gid;

static int
chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (lchown(path, chown_uid, chown_gid) < 0)
        log_warn("chown %s: %s", path, strerror(errno));
    return 0;
}

static bool
valid_name(const char *s)
{
    if (!*s || strlen(s) > 32 || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z')))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
              *s == '.'))
            return false;
    return true;
}

static bool
valid_id(const char *s)
{
    long v;
    return qvd_parse_long(s, &v) == 0 && v > 0 && v < 2000000000;
}

static int
add_user(const char *name, const char *uid, const char *gid)
{
    const char *base = qvd_config_get(vma.cfg, "vma.user.home.path");
    const char *shell = qvd_config_get(vma.cfg, "vma.user.shell");
    const char *groups = qvd_config_get(vma.cfg, "vma.user.default.groups");
    char *home = qvd_xasprintf("%s/%s", base ? base : "/home", name);
    char *argv[20];
    int n = 0, rc = 0;

    if (gid && !getgrgid((gid_t)atol(gid))) {
        char *gargv[] = {"/usr/sbin/groupadd", "-g", (char *)gid, (char *)name, NULL};
        if (vma_run(gargv) != 0)
            rc = qvd_seterr("groupadd %s failed", name);
    }
    if (rc == 0) {
        qvd_mkdir_p(base ? base : "/home", 0755);
        argv[n++] = "/usr/sbin/useradd";
        argv[n++] = "-m";
        argv[n++] = "-l"; /* no lastlog/faillog entries */
        argv[n++] = "-d";
        argv[n++] = home;
        argv[n++] = "-s";
        argv[n++] = (char *)(shell && *shell ? shell : "/bin/sh");
        if (uid) {
            argv[n++] = "-u";
            argv[n++] = (char *)uid;
        }
        if (gid) {
            argv[n++] = "-g";
            argv[n++] = (char *)gid;
        }
        if (groups && *groups) {
            argv[n++] = "-G";
            argv[n++] = (char *)groups;
        }
        argv[n++] = (char *)name;
        argv[n] = NULL;
        log_info("provisioning user %s (home %s)", name, home);
        int st = vma_run(argv);
        if (st != 0)
            rc = qvd_seterr("useradd %s failed (status %d)", name, st);
    }
    free(home);
    return rc;
}

int
provision_user(const char *name, const char *uid, const char *gid, struct vma_user *u)
{
    memset(u, 0, sizeof(*u));
    if (!valid_name(name))
        return qvd_seterr("invalid user name");
    if ((uid && !valid_id(uid)) || (gid && !valid_id(gid)))
        return qvd_seterr("invalid uid or gid");
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        if (add_user(name, uid, gid) < 0)
            return -1;
        pw = getpwnam(name);
        if (!pw)
            return qvd_seterr("user %s missing after useradd", name);
    } else if (uid && pw->pw_uid != (uid_t)atol(uid)) {
        return qvd_seterr("user %s exists with another uid", name);
    }
    u->name = qvd_xstrdup(pw->pw_name);
    u->home = qvd_xstrdup(pw->pw_dir);
    u->shell = qvd_xstrdup(pw->pw_shell);
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;

    /* The home may be a persistent folder bind-mounted from the node and created for
     * another uid (or by root): the session user must own it. */
    struct stat st;
    if (stat(u->home, &st) < 0) {
        if (qvd_mkdir_p(u->home, 0755) < 0 || chown(u->home, u->uid, u->gid) < 0) {
            vma_user_free(u);
            return qvd_seterr("cannot create home of %s", name);
        }
    } else if (st.st_uid != u->uid) {
        log_info("home %s not owned by %s: chown", u->home, name);
        chown_uid = u->uid;
        chown_gid = u->gid;
        nftw(u->home, chown_one, 32, FTW_PHYS | FTW_MOUNT);
    }
    return 0;
}

void
vma_user_free(struct vma_user *u)
{
    free(u->name);
    free(u->home);
    free(u->shell);
    memset(u, 0, sizeof(*u));
}

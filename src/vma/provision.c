/* provision.c: the session user: created with groupadd/useradd when missing, with the ids
 * account.c chose, and its home owned by it. */
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
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

static int
add_user(const struct vma_account *a)
{
    const char *base = qvd_config_get(vma.cfg, "vma.user.home.path");
    const char *shell = qvd_config_get(vma.cfg, "vma.user.shell");
    const char *groups = qvd_config_get(vma.cfg, "vma.user.default.groups");
    char *home = qvd_xasprintf("%s/%s", base ? base : "/home", a->name);
    char uid[24], gid[24];
    char *argv[20];
    int n = 0, rc = 0;

    snprintf(uid, sizeof(uid), "%ld", (long)a->uid);
    snprintf(gid, sizeof(gid), "%ld", (long)a->gid);
    if (a->new_group) {
        char *gargv[] = {"/usr/sbin/groupadd", "-g", gid, (char *)a->name, NULL};
        if (vma_run(gargv) != 0)
            rc = qvd_seterr("groupadd %s failed", a->name);
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
        argv[n++] = "-u";
        argv[n++] = uid;
        argv[n++] = "-g"; /* the group chosen inside the range, never one useradd picks */
        argv[n++] = gid;
        argv[n++] = "-N";
        if (groups && *groups) {
            argv[n++] = "-G";
            argv[n++] = (char *)groups;
        }
        argv[n++] = (char *)a->name;
        argv[n] = NULL;
        log_info("provisioning user %s (uid %s, gid %s, home %s)", a->name, uid, gid, home);
        int st = vma_run(argv);
        if (st != 0)
            rc = qvd_seterr("useradd %s failed (status %d)", a->name, st);
    }
    free(home);
    return rc;
}

int
provision_user(const struct vma_account *a, struct vma_user *u)
{
    memset(u, 0, sizeof(*u));
    if (!a->exists && add_user(a) < 0)
        return -1;
    struct passwd *pw = getpwnam(a->name);
    if (!pw)
        return qvd_seterr("user %s missing after useradd", a->name);
    /* whatever useradd or the image did, the session never runs outside the range */
    if (pw->pw_uid != a->uid || account_check(pw->pw_uid, pw->pw_gid) < 0)
        return qvd_seterr("user %s has uid %ld and gid %ld after provisioning, not the %ld"
                          " planned inside the range: refused",
                          a->name, (long)pw->pw_uid, (long)pw->pw_gid, (long)a->uid);
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
            return qvd_seterr("cannot create home of %s", a->name);
        }
    } else if (st.st_uid != u->uid) {
        log_info("home %s not owned by %s: chown", u->home, a->name);
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

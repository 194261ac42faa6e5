/* account.c: which account a session may run as. Desktop users get uids and gids of their
 * own range (vma.user.uid.min..max); a login that names a system account of the image
 * (root, or any user or group outside the range), or asks for an id outside the range, is
 * refused before anything is created. This holds whatever the database or the L7R says:
 * the VMA is the last line before a process runs as someone. */
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "util.h"
#include "vma.h"

/* The range from the configuration. It must leave out every id Debian reserves: 0..999
 * (system), 65534 (nobody) and 65535 ((uid_t)-1 as a 16-bit id). */
static int
range_get(long *min, long *max)
{
    *min = qvd_config_int(vma.cfg, "vma.user.uid.min");
    *max = qvd_config_int(vma.cfg, "vma.user.uid.max");
    if (*min < 1000 || *max < *min || *max > INT32_MAX - 1 || (*min <= 65535 && *max >= 65534))
        return qvd_seterr("vma.user.uid.min..max (%ld..%ld) is not a range of desktop users:"
                          " set it inside 1000..65533 or above 65535",
                          *min, *max);
    return 0;
}

static bool
in_range(long id, long min, long max)
{
    return id >= min && id <= max;
}

/* Debian's rule for user names (useradd's default NAME_REGEX, lowercase only). */
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

/* An id given as a parameter: a decimal inside the range. */
static int
id_param(const char *what, const char *s, long min, long max, long *out)
{
    if (qvd_parse_long(s, out) < 0 || !in_range(*out, min, max))
        return qvd_seterr("%s %.16s is outside the desktop users' range %ld..%ld"
                          " (vma.user.uid.min/max): give one inside it, or none",
                          what, s, min, max);
    return 0;
}

/* The ids of the range already taken, as a bit set over min..max (users or groups). */
static unsigned char *
taken_ids(bool groups, long min, long max)
{
    unsigned char *set = qvd_xcalloc((size_t)(max - min) / 8 + 1, 1);
    long id;

    if (groups) {
        struct group *g;
        setgrent();
        while ((g = getgrent()) != NULL)
            if (in_range(id = (long)g->gr_gid, min, max))
                set[(id - min) / 8] |= (unsigned char)(1u << ((id - min) % 8));
        endgrent();
    } else {
        struct passwd *p;
        setpwent();
        while ((p = getpwent()) != NULL)
            if (in_range(id = (long)p->pw_uid, min, max))
                set[(id - min) / 8] |= (unsigned char)(1u << ((id - min) % 8));
        endpwent();
    }
    return set;
}

static bool
is_taken(const unsigned char *set, long id, long min)
{
    return set[(id - min) / 8] & (1u << ((id - min) % 8));
}

/* The first id of the range free in both sets (a user's own group gets its uid), from
 * `from` on and then from the start; -1 when the range is full. */
static long
free_id(const unsigned char *a, const unsigned char *b, long from, long min, long max)
{
    for (long i = 0; i <= max - min; i++) {
        long id = min + (from - min + i) % (max - min + 1);
        if (!is_taken(a, id, min) && (b == NULL || !is_taken(b, id, min)))
            return id;
    }
    return -1;
}

/* A user that is new to the image: its uid (asked for, else derived from the QVD user id,
 * else the first free one) and its group (asked for, an existing group of its name inside
 * the range, else a new one with the uid as gid when that is free). */
static int
plan_new(const char *name, const char *uid, const char *gid, const char *qvd_id, long min, long max,
         struct vma_account *a)
{
    unsigned char *users = taken_ids(false, min, max), *groups = taken_ids(true, min, max);
    struct group *gr = getgrnam(name);
    long own_gid = gr != NULL ? (long)gr->gr_gid : -1; /* a group of the user's name */
    long v;
    int rc = -1;

    if (own_gid >= 0 && !in_range(own_gid, min, max)) {
        qvd_seterr("user name '%s' is a system group of this VM's image (gid %ld, outside"
                   " %ld..%ld): give the user another login",
                   name, own_gid, min, max);
        goto out;
    }
    if (uid != NULL) {
        if (id_param("uid", uid, min, max, &v) < 0)
            goto out;
        struct passwd *other = getpwuid((uid_t)v);
        if (other != NULL) {
            qvd_seterr("uid %ld belongs to '%.32s' in this VM's image: give '%s' another"
                       " uid, or none",
                       v, other->pw_name, name);
            goto out;
        }
        a->uid = (uid_t)v;
    } else {
        long from = min;
        if (qvd_id != NULL && qvd_parse_long(qvd_id, &v) == 0 && v > 0)
            from = min + v % (max - min + 1); /* the same uid in every VM of the user */
        if ((v = free_id(users, groups, from, min, max)) < 0 &&
            (v = free_id(users, NULL, from, min, max)) < 0) {
            qvd_seterr("no free uid left in %ld..%ld (vma.user.uid.min/max): widen the"
                       " range",
                       min, max);
            goto out;
        }
        a->uid = (uid_t)v;
    }
    if (gid != NULL) {
        if (id_param("gid", gid, min, max, &v) < 0)
            goto out;
        if (own_gid >= 0 && own_gid != v) {
            qvd_seterr("group %s exists in this VM's image with gid %ld, not %ld: give the"
                       " same gid, or none",
                       name, own_gid, v);
            goto out;
        }
        a->gid = (gid_t)v;
        a->new_group = getgrgid(a->gid) == NULL;
    } else if (own_gid >= 0) {
        a->gid = (gid_t)own_gid;
    } else {
        v = is_taken(groups, (long)a->uid, min) ? free_id(groups, NULL, (long)a->uid, min, max)
                                                : (long)a->uid;
        if (v < 0) {
            qvd_seterr("no free gid left in %ld..%ld (vma.user.uid.min/max): widen the"
                       " range",
                       min, max);
            goto out;
        }
        a->gid = (gid_t)v;
        a->new_group = true;
    }
    rc = 0;
out:
    free(users);
    free(groups);
    return rc;
}

int
account_plan(const char *name, const char *uid, const char *gid, const char *qvd_id,
             struct vma_account *a)
{
    long min, max;
    struct passwd *pw;

    memset(a, 0, sizeof(*a));
    if (range_get(&min, &max) < 0)
        return -1;
    if (!valid_name(name))
        return qvd_seterr("the user name is not a valid one for the VM (a lowercase letter or"
                          " '_' first, then a-z 0-9 _ . -, at most 32 characters): give the"
                          " user another login");
    if (strcmp(name, "root") == 0)
        return qvd_seterr("user name 'root' is the system's administrator: a desktop never runs"
                          " as root; give the user another login");
    snprintf(a->name, sizeof(a->name), "%s", name);
    pw = getpwnam(name);
    if (pw == NULL)
        return plan_new(name, uid, gid, qvd_id, min, max, a);
    if (!in_range((long)pw->pw_uid, min, max) || !in_range((long)pw->pw_gid, min, max))
        return qvd_seterr("user name '%s' is a system account of this VM's image (uid %ld,"
                          " gid %ld, outside %ld..%ld): give the user another login",
                          name, (long)pw->pw_uid, (long)pw->pw_gid, min, max);
    long v;
    if (uid != NULL) {
        if (id_param("uid", uid, min, max, &v) < 0)
            return -1;
        if (v != (long)pw->pw_uid)
            return qvd_seterr("user %s exists in this VM's image with uid %ld, not %ld: give"
                              " the same uid, or none",
                              name, (long)pw->pw_uid, v);
    }
    if (gid != NULL && id_param("gid", gid, min, max, &v) < 0)
        return -1;
    a->exists = true;
    a->uid = pw->pw_uid;
    a->gid = pw->pw_gid;
    return 0;
}

int
account_check(uid_t uid, gid_t gid)
{
    long min, max;

    if (range_get(&min, &max) < 0)
        return -1;
    if (!in_range((long)uid, min, max) || !in_range((long)gid, min, max))
        return qvd_seterr("the session user has uid %ld and gid %ld, outside %ld..%ld:"
                          " refused",
                          (long)uid, (long)gid, min, max);
    return 0;
}

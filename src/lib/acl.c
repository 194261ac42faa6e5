/* acl.c: the ACL catalogue, built once from the resources (see, see.FIELD, create, update,
 * delete) and the actions, and operative ACL sets computed from roles. */
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "resource.h"
#include "util.h"

struct acl_entry {
    char *name, *description;
};

static struct acl_entry catalogue[QVD_ACL_MAX];
static int ncatalogue;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Objects that administrators create, update and delete through the API. */
static const char *const writable[] = {"tenant", "user",          "vm", "host", "osf", "di",
                                       "role",   "administrator", NULL};

static const struct {
    const char *name, *description;
} actions[] = {
    {"vm.start", "start VMs"},
    {"vm.stop", "stop VMs"},
    {"vm.disconnect", "disconnect the user of a VM"},
    {"vm.block", "block and unblock VMs"},
    {"user.block", "block and unblock users"},
    {"user.password", "set users' passwords"},
    {"host.block", "block and unblock hosts"},
    {"host.evacuate", "evacuate hosts (block, end their sessions, stop their VMs)"},
    {"tenant.block", "block and unblock tenants"},
    {"di.block", "block and unblock DIs"},
    {"di.publish", "publish DIs"},
    {"di.tag", "tag and untag DIs"},
    {"config.update", "set configuration keys"},
    {"config.delete", "remove configuration keys"},
    {"administrator.block", "block and unblock administrators"},
    {"administrator.password", "set administrators' passwords"},
    {"administrator.assign", "assign roles to administrators and take them away"},
    {"role.grant", "grant and revoke ACLs of roles"},
    {"role.inherit", "make roles inherit roles"},
    {"acl.see", "see the ACL catalogue and operative ACLs"},
    {"stats.see", "see the dashboard statistics"},
};

static void
add(const char *name, const char *description)
{
    if (ncatalogue == QVD_ACL_MAX)
        qvd_fatal("the ACL catalogue is full (QVD_ACL_MAX %d)", QVD_ACL_MAX);
    for (int i = 0; i < ncatalogue; i++)
        if (strcmp(catalogue[i].name, name) == 0)
            return;
    catalogue[ncatalogue].name = qvd_xstrdup(name);
    catalogue[ncatalogue].description = qvd_xstrdup(description);
    ncatalogue++;
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(((const struct acl_entry *)a)->name, ((const struct acl_entry *)b)->name);
}

static void
build(void)
{
    char name[192], desc[256];

    for (int i = 0; qvd_resources[i]; i++) {
        const struct qvd_resource *r = qvd_resources[i];

        snprintf(name, sizeof(name), "%s.see", r->object);
        snprintf(desc, sizeof(desc), "list %s and see their basic fields", r->name);
        add(name, desc);
        for (size_t f = 0; f < r->nfields; f++) {
            if (r->fields[f].flags & QVD_FIELD_BASIC)
                continue;
            snprintf(name, sizeof(name), "%s.see.%s", r->object, r->fields[f].name);
            snprintf(desc, sizeof(desc), "see the field %s of %s", r->fields[f].name, r->name);
            add(name, desc);
        }
        for (int w = 0; writable[w]; w++) {
            if (strcmp(writable[w], r->object) != 0)
                continue;
            static const char *const verbs[] = {"create", "update", "delete"};
            for (int v = 0; v < 3; v++) {
                snprintf(name, sizeof(name), "%s.%s", r->object, verbs[v]);
                snprintf(desc, sizeof(desc), "%s %s", verbs[v], r->name);
                add(name, desc);
            }
        }
    }
    for (size_t a = 0; a < QVD_ARRAY_LEN(actions); a++)
        add(actions[a].name, actions[a].description);
    qsort(catalogue, (size_t)ncatalogue, sizeof(catalogue[0]), by_name);
}

int
qvd_acl_count(void)
{
    pthread_once(&once, build);
    return ncatalogue;
}

const char *
qvd_acl_name(int i)
{
    return i >= 0 && i < qvd_acl_count() ? catalogue[i].name : NULL;
}

const char *
qvd_acl_description(int i)
{
    return i >= 0 && i < qvd_acl_count() ? catalogue[i].description : NULL;
}

int
qvd_acl_index(const char *name)
{
    int lo = 0, hi = qvd_acl_count() - 1;

    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(name, catalogue[mid].name);
        if (c == 0)
            return mid;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

int
qvd_acl_match(const char *pattern, struct qvd_acl_set *out)
{
    int n = 0;

    memset(out, 0, sizeof(*out));
    if (pattern == NULL || *pattern == '\0' || strlen(pattern) > 128)
        return 0;
    for (int i = 0; i < qvd_acl_count(); i++)
        if (fnmatch(pattern, catalogue[i].name, FNM_NOESCAPE) == 0) {
            out->w[i / 64] |= 1ULL << (i % 64);
            n++;
        }
    return n;
}

bool
qvd_acl_has(const struct qvd_acl_set *s, const char *name)
{
    int i = qvd_acl_index(name);

    return i >= 0 && (s->w[i / 64] >> (i % 64)) & 1;
}

void
qvd_acl_add(struct qvd_acl_set *s, const struct qvd_acl_set *t)
{
    for (size_t i = 0; i < QVD_ARRAY_LEN(s->w); i++)
        s->w[i] |= t->w[i];
}

void
qvd_acl_remove(struct qvd_acl_set *s, const struct qvd_acl_set *t)
{
    for (size_t i = 0; i < QVD_ARRAY_LEN(s->w); i++)
        s->w[i] &= ~t->w[i];
}

bool
qvd_acl_contains(const struct qvd_acl_set *s, const struct qvd_acl_set *sub)
{
    for (size_t i = 0; i < QVD_ARRAY_LEN(s->w); i++)
        if ((sub->w[i] & ~s->w[i]) != 0)
            return false;
    return true;
}

int
qvd_acl_size(const struct qvd_acl_set *s)
{
    int n = 0;

    for (size_t i = 0; i < QVD_ARRAY_LEN(s->w); i++)
        n += __builtin_popcountll(s->w[i]);
    return n;
}

/* ---- operative sets ---- */

#define MAX_ROLES 256 /* roles reachable from one administrator */

struct role_memo {
    int64_t id[MAX_ROLES];
    struct qvd_acl_set set[MAX_ROLES];
    int state[MAX_ROLES]; /* 1 being computed (a cycle), 2 done */
    int n;
};

static int
role_eval(struct qvd_db *db, struct role_memo *m, int64_t role_id, int depth,
          struct qvd_acl_set *out)
{
    struct qvd_acl_set pos = {{0}}, neg = {{0}}, one;
    struct qvd_stmt *st;
    int64_t inherited[MAX_ROLES];
    int slot = -1, ninh = 0, rc;

    for (int i = 0; i < m->n; i++)
        if (m->id[i] == role_id)
            slot = i;
    if (slot >= 0 && m->state[slot] == 2) {
        *out = m->set[slot];
        return 0;
    }
    if (slot >= 0 || depth > 64) /* a cycle: contributes nothing more */
        return memset(out, 0, sizeof(*out)), 0;
    if (m->n == MAX_ROLES)
        return qvd_seterr("more than %d roles are reachable from one administrator", MAX_ROLES);
    slot = m->n++;
    m->id[slot] = role_id;
    m->state[slot] = 1;

    st = qvd_db_query(db, "SELECT inherited_id FROM role_roles WHERE inheritor_id = ?", "i",
                      role_id);
    if (st == NULL)
        return -1;
    while ((rc = qvd_db_step(st)) == 1 && ninh < MAX_ROLES)
        inherited[ninh++] = qvd_db_int(st, 0);
    qvd_db_done(st);
    if (rc < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < ninh; i++) {
        struct qvd_acl_set sub;
        if (role_eval(db, m, inherited[i], depth + 1, &sub) < 0)
            return -1;
        qvd_acl_add(out, &sub);
    }
    st = qvd_db_query(db, "SELECT acl, positive FROM role_acls WHERE role_id = ?", "i", role_id);
    if (st == NULL)
        return -1;
    while ((rc = qvd_db_step(st)) == 1) {
        qvd_acl_match(qvd_db_text(st, 0), &one);
        qvd_acl_add(qvd_db_int(st, 1) ? &pos : &neg, &one);
    }
    qvd_db_done(st);
    if (rc < 0)
        return -1;
    qvd_acl_add(out, &pos);
    qvd_acl_remove(out, &neg);
    m->set[slot] = *out;
    m->state[slot] = 2;
    return 0;
}

int
qvd_acl_role(struct qvd_db *db, int64_t role_id, struct qvd_acl_set *out)
{
    struct role_memo *m = qvd_xcalloc(1, sizeof(*m));
    int rc = role_eval(db, m, role_id, 0, out);

    free(m);
    return rc;
}

int
qvd_acl_admin(struct qvd_db *db, int64_t admin_id, struct qvd_acl_set *out)
{
    struct role_memo *m = qvd_xcalloc(1, sizeof(*m));
    int64_t roles[MAX_ROLES];
    struct qvd_stmt *st;
    int n = 0, rc = -1;

    memset(out, 0, sizeof(*out));
    st = qvd_db_query(db, "SELECT role_id FROM administrator_roles WHERE administrator_id = ?", "i",
                      admin_id);
    if (st == NULL)
        goto out;
    while ((rc = qvd_db_step(st)) == 1 && n < MAX_ROLES)
        roles[n++] = qvd_db_int(st, 0);
    qvd_db_done(st);
    if (rc < 0)
        goto out;
    rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        struct qvd_acl_set one;
        if ((rc = role_eval(db, m, roles[i], 0, &one)) == 0)
            qvd_acl_add(out, &one);
    }
out:
    free(m);
    return rc;
}

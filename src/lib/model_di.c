/* model_di.c: disk images and their tags (fixed version tag, head, default, custom), and DI
 * import into path.storage.images. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "model_int.h"
#include "util.h"

static const char *const di_suffixes[] = {".tar", ".tar.gz",  ".tgz",    ".tar.xz",
                                          ".txz", ".tar.zst", ".tar.bz2"};

int
qvd_model_di_by_tag(struct qvd_db *db, int64_t osf_id, const char *tag, int64_t *di_id)
{
    int rc = qvd_db_get_int(db, di_id, "SELECT di_id FROM di_tags WHERE osf_id = ? AND tag = ?",
                            "is", osf_id, tag);
    if (rc < 0)
        return qvd_model_dbfail(db);
    return rc;
}

int
qvd_model_di_next_version(struct qvd_db *db, int64_t osf_id, int64_t now, char out[16])
{
    bool taken[1000] = {false};
    char day[12], like[16];
    time_t t = (time_t)now;
    struct tm tm;
    struct qvd_stmt *st;
    int rc;

    gmtime_r(&t, &tm);
    strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    snprintf(like, sizeof(like), "%s-%%", day);
    st = qvd_db_query(db, "SELECT version FROM dis WHERE osf_id = ? AND version LIKE ?", "is",
                      osf_id, like);
    if (st == NULL)
        return qvd_model_dbfail(db);
    while ((rc = qvd_db_step(st)) == 1) {
        const char *v = qvd_db_text(st, 0);
        long n;
        if (v != NULL && strlen(v) == 14 && qvd_parse_long(v + 11, &n) == 0 && n >= 0 && n < 1000)
            taken[n] = true;
    }
    qvd_db_done(st);
    if (rc < 0)
        return qvd_model_dbfail(db);
    for (int n = 0; n < 1000; n++)
        if (!taken[n]) {
            snprintf(out, 16, "%s-%03d", day, n);
            return 0;
        }
    return qvd_model_fail(QVD_MODEL_CONFLICT,
                          "OSF %lld already has 1000 DIs versioned %s-NNN:"
                          " give --version",
                          (long long)osf_id, day);
}

/* Puts `tag` on DI `di_id`, taking it from the DI of the OSF that holds it. */
static int
tag_put(struct qvd_db *db, int64_t osf_id, int64_t di_id, const char *tag, bool fixed)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT di_id, fixed FROM di_tags"
                                       " WHERE osf_id = ? AND tag = ?",
                                       "is", osf_id, tag);
    int64_t holder = -1, holder_fixed = 0;
    int rc;

    if (st == NULL)
        return qvd_model_dbfail(db);
    rc = qvd_db_step(st);
    if (rc == 1) {
        holder = qvd_db_int(st, 0);
        holder_fixed = qvd_db_int(st, 1);
    }
    qvd_db_done(st);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (holder == di_id && !fixed)
        return 0;
    if (holder >= 0 && holder_fixed)
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "tag '%s' is the fixed version tag of DI %lld: fixed tags cannot be"
                              " moved",
                              tag, (long long)holder);
    if (holder >= 0 && fixed)
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "tag '%s' is already on DI %lld: choose another version", tag,
                              (long long)holder);
    if ((holder >= 0 && qvd_db_exec(db, "DELETE FROM di_tags WHERE osf_id = ? AND tag = ?", "is",
                                    osf_id, tag) < 0) ||
        qvd_db_exec(db, "INSERT INTO di_tags (di_id, osf_id, tag, fixed) VALUES (?, ?, ?, ?)",
                    "iisi", di_id, osf_id, tag, (int64_t)fixed) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

static int
di_osf(struct qvd_db *db, int64_t id, int64_t *osf_id)
{
    int rc = qvd_db_get_int(db, osf_id, "SELECT osf_id FROM dis WHERE id = ?", "i", id);

    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND, "DI %lld does not exist (see qvd-admin di list)",
                              (long long)id);
    return 0;
}

/* Refuses when a VM of the OSF boots from `tag`. */
static int
tag_unused(struct qvd_db *db, int64_t osf_id, const char *tag, const char *why)
{
    int64_t vm;
    int rc = qvd_db_get_int(db, &vm,
                            "SELECT id FROM vms WHERE osf_id = ? AND di_tag = ?"
                            " ORDER BY id LIMIT 1",
                            "is", osf_id, tag);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 1)
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "VM %lld boots from tag '%s': %s (or change the VM's tag with"
                              " qvd-admin vm set --id %lld --di-tag TAG)",
                              (long long)vm, tag, why, (long long)vm);
    return 0;
}

static int
di_src_check(const char *src, bool *is_dir)
{
    struct stat sb;
    size_t len;

    if (src == NULL || *src == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "the DI path is missing");
    if (stat(src, &sb) < 0)
        return qvd_model_fail(QVD_MODEL_INVALID, "cannot read %s: %s", src, strerror(errno));
    *is_dir = S_ISDIR(sb.st_mode);
    if (*is_dir)
        return 0;
    if (!S_ISREG(sb.st_mode))
        return qvd_model_fail(QVD_MODEL_INVALID, "%s is neither a file nor a directory", src);
    len = strlen(src);
    for (size_t i = 0; i < QVD_ARRAY_LEN(di_suffixes); i++) {
        size_t sl = strlen(di_suffixes[i]);
        if (len > sl && strcmp(src + len - sl, di_suffixes[i]) == 0)
            return 0;
    }
    return qvd_model_fail(QVD_MODEL_INVALID,
                          "%s is not a DI: give a directory or a .tar, .tar.gz, .tgz, .tar.xz,"
                          " .txz, .tar.zst or .tar.bz2 file",
                          src);
}

/* cp -a src dest, with cp's first error line in the message on failure. */
static int
copy_tree(const char *src, const char *dest)
{
    int pfd[2], status;
    char err[512] = "";
    ssize_t n, got = 0;
    pid_t pid;

    if (pipe2(pfd, O_CLOEXEC) < 0)
        return qvd_model_fail(QVD_MODEL_INTERNAL, "pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return qvd_model_fail(QVD_MODEL_INTERNAL, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(pfd[1], 2);
        execlp("cp", "cp", "-a", "-T", "--", src, dest, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    while ((n = read(pfd[0], err + got, sizeof(err) - 1 - (size_t)got)) > 0 &&
           (size_t)(got += n) < sizeof(err) - 1)
        ;
    close(pfd[0]);
    err[got] = '\0';
    err[strcspn(err, "\n")] = '\0';
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    return qvd_model_fail(QVD_MODEL_INTERNAL, "cannot copy %s to %s: %s", src, dest,
                          *err ? err : "cp failed");
}

/* Removes a DI row that never got published (import failure). */
static void
di_forget(struct qvd_db *db, int64_t id)
{
    char msg[1024];

    snprintf(msg, sizeof(msg), "%s", qvd_strerror());
    if (qvd_db_begin(db) == 0) {
        int rc = (qvd_db_exec(db, "DELETE FROM di_tags WHERE di_id = ?", "i", id) < 0 ||
                  qvd_db_exec(db, "DELETE FROM di_runtimes WHERE di_id = ?", "i", id) < 0 ||
                  qvd_db_exec(db, "DELETE FROM dis WHERE id = ?", "i", id) < 0)
                     ? -1
                     : 0;
        if (rc < 0)
            qvd_db_rollback(db);
        else
            qvd_db_commit(db);
    }
    qvd_seterr("%s", msg);
}

/* First transaction of an import: the row, its path and its 'uploading' runtime. */
static int
di_create_row(struct qvd_db *db, int64_t osf_id, const char *base, const char *version,
              const char *description, int64_t *id, char **path)
{
    char auto_version[16];
    int64_t other;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = qvd_model_exists(db, "SELECT 1 FROM osfs WHERE id = ?", osf_id);
    if (rc == 0)
        rc = qvd_model_fail(QVD_MODEL_NOT_FOUND, "OSF %lld does not exist (see qvd-admin osf list)",
                            (long long)osf_id);
    else if (rc == 1)
        rc = 0;
    if (rc == 0 && version == NULL &&
        (rc = qvd_model_di_next_version(db, osf_id, qvd_now(), auto_version)) == 0)
        version = auto_version;
    if (rc == 0) {
        int f = qvd_db_get_int(db, &other,
                               "SELECT di_id FROM di_tags WHERE osf_id = ? AND tag = ?"
                               " UNION SELECT id FROM dis WHERE osf_id = ? AND version = ?",
                               "isis", osf_id, version, osf_id, version);
        if (f < 0)
            rc = qvd_model_dbfail(db);
        else if (f == 1)
            rc = qvd_model_fail(QVD_MODEL_CONFLICT,
                                "DI %lld of OSF %lld already has version or tag '%s': choose"
                                " another --version",
                                (long long)other, (long long)osf_id, version);
    }
    if (rc == 0 &&
        (qvd_db_exec(db,
                     "INSERT INTO dis (osf_id, path, version, description, created_ts)"
                     " VALUES (?, '', ?, ?, ?)",
                     "issi", osf_id, version, description ? description : "", qvd_now()) < 0 ||
         qvd_db_get_int(db, id, "SELECT id FROM dis WHERE osf_id = ? AND version = ?", "is", osf_id,
                        version) != 1))
        rc = qvd_model_dbfail(db);
    if (rc == 0) {
        *path = qvd_xasprintf("%lld-%s", (long long)*id, base);
        if (qvd_db_exec(db, "UPDATE dis SET path = ? WHERE id = ?", "si", *path, *id) < 0 ||
            qvd_db_exec(db,
                        "INSERT INTO di_runtimes (di_id, state, state_ts)"
                        " VALUES (?, 'uploading', ?)",
                        "ii", *id, qvd_now()) < 0)
            rc = qvd_model_dbfail(db);
    }
    return qvd_model_end(db, rc);
}

/* Second transaction: tags (fixed version, head, default if none) and 'published'. */
static int
di_publish(struct qvd_db *db, int64_t osf_id, int64_t id)
{
    struct qvd_stmt *st;
    char *version = NULL;
    int64_t v;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    st = qvd_db_query(db, "SELECT version FROM dis WHERE id = ?", "i", id);
    if (st == NULL || qvd_db_step(st) != 1)
        rc = qvd_model_dbfail(db);
    else {
        version = qvd_xstrdup(qvd_db_text(st, 0));
        rc = 0;
    }
    qvd_db_done(st);
    if (rc == 0)
        rc = tag_put(db, osf_id, id, version, true);
    if (rc == 0)
        rc = tag_put(db, osf_id, id, "head", false);
    if (rc == 0) {
        int f = qvd_model_di_by_tag(db, osf_id, "default", &v);
        rc = f < 0 ? -1 : f == 0 ? tag_put(db, osf_id, id, "default", false) : 0;
    }
    if (rc == 0 && qvd_db_exec(db,
                               "UPDATE di_runtimes SET state = 'published', state_ts = ?"
                               " WHERE di_id = ?",
                               "ii", qvd_now(), id) < 0)
        rc = qvd_model_dbfail(db);
    free(version);
    return qvd_model_end(db, rc);
}

int
qvd_model_di_add(struct qvd_db *db, struct qvd_config *cfg, int64_t osf_id, const char *src,
                 const char *version, const char *description, int64_t *id)
{
    const char *images = qvd_config_get(cfg, "path.storage.images");
    char *copy = NULL, *base, *path = NULL, *dest = NULL;
    int64_t di_id = -1;
    bool is_dir;
    int rc = -1;

    if (di_src_check(src, &is_dir) < 0)
        return -1;
    if (version != NULL &&
        (qvd_model_check_name("version", version, 64) < 0 || !qvd_model_tag_valid(version)))
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "version '%s' must be 1..64 characters without"
                              " spaces",
                              version);
    if (images == NULL || *images == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "path.storage.images is not set: %s",
                              qvd_strerror());
    copy = qvd_xstrdup(src);
    while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
        copy[strlen(copy) - 1] = '\0';
    base = basename(copy);
    if (*base == '\0' || strcmp(base, "/") == 0 || strcmp(base, ".") == 0 ||
        strcmp(base, "..") == 0) {
        qvd_model_fail(QVD_MODEL_INVALID, "cannot name a DI after '%s': give its real path", src);
        goto out;
    }
    if (qvd_mkdir_p(images, 0755) < 0) {
        qvd_model_fail(QVD_MODEL_INTERNAL, "cannot create %s: %s", images, qvd_strerror());
        goto out;
    }
    if (di_create_row(db, osf_id, base, version, description, &di_id, &path) < 0)
        goto out;
    dest = qvd_xasprintf("%s/%s", images, path);
    qvd_rm_rf(dest);
    if (copy_tree(src, dest) < 0 || di_publish(db, osf_id, di_id) < 0) {
        qvd_rm_rf(dest);
        di_forget(db, di_id);
        goto out;
    }
    log_info("DI %lld imported from %s into %s", (long long)di_id, src, dest);
    if (id != NULL)
        *id = di_id;
    rc = 0;
out:
    free(copy);
    free(path);
    free(dest);
    return rc;
}

int
qvd_model_di_set(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *description,
                 int blocked)
{
    int64_t osf_id;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = di_osf(db, id, &osf_id);
    if (rc == 0 && description != NULL &&
        qvd_db_exec(db, "UPDATE dis SET description = ? WHERE id = ?", "si", description, id) < 0)
        rc = qvd_model_dbfail(db);
    if (rc == 0 && blocked >= 0 &&
        qvd_db_exec(db, "UPDATE dis SET blocked = ? WHERE id = ?", "ii", (int64_t)(blocked != 0),
                    id) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

int
qvd_model_di_tag(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *tag)
{
    int64_t osf_id;
    int rc;

    if (!qvd_model_tag_valid(tag))
        return qvd_model_fail(QVD_MODEL_INVALID,
                              "tag '%s' must be 1..128 characters without"
                              " spaces",
                              tag ? tag : "");
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = di_osf(db, id, &osf_id);
    if (rc == 0)
        rc = tag_put(db, osf_id, id, tag, false);
    return qvd_model_end(db, rc);
}

int
qvd_model_di_untag(struct qvd_db *db, struct qvd_config *cfg, int64_t id, const char *tag)
{
    int64_t osf_id, fixed = 0;
    int rc, f;

    if (tag == NULL || *tag == '\0')
        return qvd_model_fail(QVD_MODEL_INVALID, "tag is missing");
    if (qvd_model_begin(db) < 0)
        return -1;
    rc = di_osf(db, id, &osf_id);
    if (rc == 0) {
        f = qvd_db_get_int(db, &fixed, "SELECT fixed FROM di_tags WHERE di_id = ? AND tag = ?",
                           "is", id, tag);
        if (f < 0)
            rc = qvd_model_dbfail(db);
        else if (f == 0)
            rc = qvd_model_fail(QVD_MODEL_NOT_FOUND, "DI %lld has no tag '%s'", (long long)id, tag);
        else if (fixed)
            rc = qvd_model_fail(QVD_MODEL_CONFLICT,
                                "tag '%s' is the fixed version tag of DI %lld: it cannot be"
                                " removed",
                                tag, (long long)id);
        else if (strcmp(tag, "head") == 0 || strcmp(tag, "default") == 0)
            rc = qvd_model_fail(QVD_MODEL_CONFLICT,
                                "tag '%s' cannot be removed: move it by tagging another DI"
                                " (qvd-admin di tag --id N --tag %s)",
                                tag, tag);
    }
    if (rc == 0)
        rc = tag_unused(db, osf_id, tag, "tag another DI with it first");
    if (rc == 0 &&
        qvd_db_exec(db, "DELETE FROM di_tags WHERE di_id = ? AND tag = ?", "is", id, tag) < 0)
        rc = qvd_model_dbfail(db);
    return qvd_model_end(db, rc);
}

/* The checks and tag moves of a DI deletion, inside the transaction. */
static int
di_del_tx(struct qvd_db *db, int64_t id, int64_t osf_id)
{
    int64_t vm, heir = -1, n = 0;
    struct qvd_stmt *st;
    int rc;

    rc = qvd_db_get_int(db, &vm,
                        "SELECT vm_id FROM vm_runtimes WHERE current_di_id = ?"
                        " AND vm_state <> 'stopped' ORDER BY vm_id LIMIT 1",
                        "i", id);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 1)
        return qvd_model_fail(QVD_MODEL_CONFLICT,
                              "DI %lld is used by running VM %lld: stop it first (qvd-admin vm"
                              " stop --id %lld)",
                              (long long)id, (long long)vm, (long long)vm);
    rc = qvd_db_get_int(db, &heir,
                        "SELECT d.id FROM dis d JOIN di_runtimes r ON r.di_id = d.id"
                        " WHERE d.osf_id = ? AND d.id <> ? AND r.state = 'published'"
                        " ORDER BY d.created_ts DESC, d.id DESC LIMIT 1",
                        "ii", osf_id, id);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0) {
        heir = -1;
        if (qvd_model_count(db, &n, "SELECT count(*) FROM vms WHERE osf_id = ?", osf_id) < 0)
            return -1;
        if (n > 0)
            return qvd_model_fail(QVD_MODEL_CONFLICT,
                                  "DI %lld is the last DI of OSF %lld, which %lld VMs use: add"
                                  " another DI first, or delete the VMs",
                                  (long long)id, (long long)osf_id, (long long)n);
    }
    /* tags that do not move with head/default must not be what a VM boots from */
    st = qvd_db_query(db, "SELECT tag FROM di_tags WHERE di_id = ? ORDER BY tag", "i", id);
    if (st == NULL)
        return qvd_model_dbfail(db);
    while (rc == 0 || rc == 1) {
        rc = qvd_db_step(st);
        if (rc != 1)
            break;
        const char *tag = qvd_db_text(st, 0);
        if (heir >= 0 && (strcmp(tag, "head") == 0 || strcmp(tag, "default") == 0))
            continue;
        if (tag_unused(db, osf_id, tag, "tag another DI with it before deleting this one") < 0) {
            rc = -1;
            break;
        }
    }
    qvd_db_done(st);
    if (rc < 0)
        return qvd_model_errkind() == QVD_MODEL_OK ? qvd_model_dbfail(db) : -1;
    if (qvd_db_exec(db, "UPDATE vm_runtimes SET current_di_id = NULL WHERE current_di_id = ?", "i",
                    id) < 0 ||
        (heir >= 0 && qvd_db_exec(db,
                                  "UPDATE di_tags SET di_id = ? WHERE di_id = ?"
                                  " AND tag IN ('head', 'default')",
                                  "ii", heir, id) < 0) ||
        qvd_db_exec(db, "DELETE FROM di_tags WHERE di_id = ?", "i", id) < 0 ||
        qvd_model_prop_clear(db, "di", id) < 0 ||
        qvd_db_exec(db, "DELETE FROM di_runtimes WHERE di_id = ?", "i", id) < 0 ||
        qvd_db_exec(db, "DELETE FROM dis WHERE id = ?", "i", id) < 0)
        return qvd_model_dbfail(db);
    return 0;
}

int
qvd_model_di_del(struct qvd_db *db, struct qvd_config *cfg, int64_t id)
{
    const char *images = qvd_config_get(cfg, "path.storage.images");
    char *path = NULL;
    int64_t osf_id;
    int rc;

    if (qvd_model_begin(db) < 0)
        return -1;
    rc = di_osf(db, id, &osf_id);
    if (rc == 0) {
        struct qvd_stmt *st = qvd_db_query(db, "SELECT path FROM dis WHERE id = ?", "i", id);
        if (st != NULL && qvd_db_step(st) == 1 && qvd_db_text(st, 0) != NULL)
            path = qvd_xstrdup(qvd_db_text(st, 0));
        qvd_db_done(st);
        rc = di_del_tx(db, id, osf_id);
    }
    if (qvd_model_end(db, rc) < 0) {
        free(path);
        return -1;
    }
    /* the file goes after the commit: a failed removal leaves garbage, never a dangling row */
    if (images != NULL && path != NULL && *path != '\0' && strchr(path, '/') == NULL &&
        strcmp(path, "..") != 0 && strcmp(path, ".") != 0) {
        char *file = qvd_xasprintf("%s/%s", images, path);
        if (qvd_rm_rf(file) < 0)
            log_warn("DI %lld deleted but its file stays: %s", (long long)id, qvd_strerror());
        free(file);
    }
    free(path);
    return 0;
}

int
qvd_model_di_publish(struct qvd_db *db, struct qvd_config *cfg, int64_t id)
{
    struct qvd_stmt *st;
    char state[32] = "";
    int64_t osf_id = -1;
    int rc;

    st = qvd_db_query(db,
                      "SELECT d.osf_id, coalesce(r.state, '') FROM dis d"
                      " LEFT JOIN di_runtimes r ON r.di_id = d.id WHERE d.id = ?",
                      "i", id);
    if (st == NULL)
        return qvd_model_dbfail(db);
    rc = qvd_db_step(st);
    if (rc == 1) {
        osf_id = qvd_db_int(st, 0);
        snprintf(state, sizeof(state), "%s", qvd_db_text(st, 1));
    }
    qvd_db_done(st);
    if (rc < 0)
        return qvd_model_dbfail(db);
    if (rc == 0)
        return qvd_model_fail(QVD_MODEL_NOT_FOUND, "DI %lld does not exist", (long long)id);
    if (strcmp(state, "published") == 0)
        return 0;
    if (strcmp(state, "ready") != 0)
        return qvd_model_fail(QVD_MODEL_CONFLICT, "DI %lld is %s: only a ready DI can be published",
                              (long long)id, state[0] ? state : "without state");
    return di_publish(db, osf_id, id);
}

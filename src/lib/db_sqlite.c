/* db_sqlite.c: the embedded SQLite back-end (one node, zero set-up). Wake-ups between the
 * processes of that node are datagrams on Unix sockets under ${path.run}/wake/. The
 * database holds password hashes and every VM's secret: its files are never open to other
 * users (see docs/security.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sqlite3.h>

#include "config.h"
#include "daemon.h"
#include "db.h"
#include "err.h"
#include "util.h"

struct qvd_stmt {
    struct qvd_db *db; /* first: see db.c */
    sqlite3_stmt *st;
};

struct sqlite_impl {
    sqlite3 *conn;
    char *wake_dir;
    int wake_fd[4]; /* the listening sockets, closed with the connection */
    int nwake;
};

#define IMPL(db) ((struct sqlite_impl *)(db)->impl)

static int
fail(struct qvd_db *db, int code, const char *what)
{
    int primary = code & 0xff;

    db->errkind = primary == SQLITE_CONSTRAINT                           ? QVD_DB_CONSTRAINT
                  : (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) ? QVD_DB_BUSY
                                                                         : QVD_DB_OTHER;
    return qvd_seterr("database: %s: %s", what, sqlite3_errmsg(IMPL(db)->conn));
}

static int
sq_exec_script(struct qvd_db *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(IMPL(db)->conn, sql, NULL, NULL, &msg);

    sqlite3_free(msg);
    if (rc != SQLITE_OK)
        return fail(db, rc, "exec");
    db->errkind = QVD_DB_OK;
    return 0;
}

/* The database file and its WAL files: refused when other users may open them, created
 * 0600 from the first byte (SQLite gives its WAL files the database file's mode and owner;
 * qvd_daemon_drop then opens them to the daemons' group). */
static int
private_files(const char *path)
{
    const char *sfx[] = {"", "-wal", "-shm"};
    struct stat sb;
    int fd, rc = 0;

    for (size_t i = 0; i < QVD_ARRAY_LEN(sfx) && rc == 0; i++) {
        char *p = qvd_xasprintf("%s%s", path, sfx[i]);
        if (stat(p, &sb) < 0) {
            if (errno != ENOENT)
                rc = qvd_seterr("cannot open database %s: %s", p, strerror(errno));
        } else if (sb.st_mode & S_IRWXO) {
            rc = qvd_seterr("database file %s is open to other users (mode %04o): chmod 600 %s "
                            "(660 if its group is the one of qvd-l7r and qvd-api)",
                            p, (unsigned)(sb.st_mode & 07777), p);
        }
        free(p);
    }
    if (rc < 0)
        return -1;
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd); /* an empty file is a new SQLite database */
    else if (errno != EEXIST)
        return qvd_seterr("cannot create database %s: %s", path, strerror(errno));
    return 0;
}

static int
sq_open(struct qvd_db *db, struct qvd_config *cfg)
{
    const char *path = qvd_config_get(cfg, "database.path");
    const char *run = qvd_config_get(cfg, "path.run");
    struct sqlite_impl *im = qvd_xcalloc(1, sizeof(*im));
    char *dir;
    int rc;

    db->impl = im;
    if (path == NULL || *path == '\0') {
        free(im);
        return qvd_seterr("database.path is not set");
    }
    dir = qvd_xstrdup(path);
    if (strrchr(dir, '/') != NULL && strrchr(dir, '/') != dir) {
        *strrchr(dir, '/') = '\0';
        qvd_daemon_mkdir(dir);
    }
    free(dir);
    if (private_files(path) < 0) {
        free(im);
        return -1;
    }
    rc = sqlite3_open_v2(path, &im->conn,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        qvd_seterr("cannot open database %s: %s", path,
                   im->conn ? sqlite3_errmsg(im->conn) : "out of memory");
        sqlite3_close(im->conn);
        free(im);
        return -1;
    }
    sqlite3_busy_timeout(im->conn, (int)qvd_config_int(cfg, "database.busy_timeout"));
    if (sq_exec_script(db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; "
                           "PRAGMA synchronous=NORMAL;") < 0) {
        sqlite3_close(im->conn);
        free(im);
        return -1;
    }
    im->wake_dir = qvd_xasprintf("%s/wake", run ? run : "/var/run/qvd");
    return 0;
}

static void
sq_close(struct qvd_db *db)
{
    struct sqlite_impl *im = IMPL(db);

    for (int i = 0; i < im->nwake; i++)
        close(im->wake_fd[i]);
    sqlite3_close(im->conn);
    free(im->wake_dir);
    free(im);
}

static struct qvd_stmt *
sq_prepare(struct qvd_db *db, const char *sql)
{
    struct qvd_stmt *st = qvd_xcalloc(1, sizeof(*st));
    int rc = sqlite3_prepare_v2(IMPL(db)->conn, sql, -1, &st->st, NULL);

    st->db = db;
    if (rc != SQLITE_OK) {
        fail(db, rc, "prepare");
        free(st);
        return NULL;
    }
    return st;
}

static int
sq_bind_int(struct qvd_stmt *st, int idx, int64_t v)
{
    int rc = sqlite3_bind_int64(st->st, idx, v);
    return rc == SQLITE_OK ? 0 : fail(st->db, rc, "bind");
}

/* sqlite3_bind_text binds NULL for a NULL pointer, as the interface asks. */
static int
sq_bind_text(struct qvd_stmt *st, int idx, const char *v)
{
    int rc = sqlite3_bind_text(st->st, idx, v, -1, SQLITE_TRANSIENT);
    return rc == SQLITE_OK ? 0 : fail(st->db, rc, "bind");
}

static int
sq_bind_null(struct qvd_stmt *st, int idx)
{
    int rc = sqlite3_bind_null(st->st, idx);
    return rc == SQLITE_OK ? 0 : fail(st->db, rc, "bind");
}

static int
sq_step(struct qvd_stmt *st)
{
    int rc = sqlite3_step(st->st);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        st->db->errkind = QVD_DB_OK;
        return 0;
    }
    return fail(st->db, rc, "query");
}

static int
sq_columns(struct qvd_stmt *st)
{
    return sqlite3_column_count(st->st);
}

static const char *
sq_column_name(struct qvd_stmt *st, int col)
{
    return sqlite3_column_name(st->st, col);
}

static bool
sq_is_null(struct qvd_stmt *st, int col)
{
    return sqlite3_column_type(st->st, col) == SQLITE_NULL;
}

static int64_t
sq_col_int(struct qvd_stmt *st, int col)
{
    return sqlite3_column_int64(st->st, col);
}

static const char *
sq_col_text(struct qvd_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st->st, col);
}

static void
sq_finalize(struct qvd_stmt *st)
{
    sqlite3_finalize(st->st);
    free(st);
}

static int64_t
sq_changes(struct qvd_db *db)
{
    return sqlite3_changes64(IMPL(db)->conn);
}

static int
wake_addr(struct qvd_db *db, const char *channel, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if ((size_t)snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", IMPL(db)->wake_dir,
                         channel) >= sizeof(sa->sun_path))
        return qvd_seterr("wake-up socket path too long under %s", IMPL(db)->wake_dir);
    return 0;
}

int
qvd_db_wake_dir(const char *dir)
{
    char *parent = qvd_xstrdup(dir), *slash = strrchr(parent, '/');
    int rc = 0;

    if (slash != NULL && slash != parent) {
        *slash = '\0';
        rc = qvd_daemon_mkdir(parent);
    }
    free(parent);
    if (rc == 0 && mkdir(dir, 0770) < 0 && errno != EEXIST)
        rc = qvd_seterr("cannot create directory %s: %s", dir, strerror(errno));
    return rc;
}

static int
sq_notify(struct qvd_db *db, const char *channel)
{
    struct sockaddr_un sa;
    int fd;

    if (wake_addr(db, channel, &sa) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return qvd_seterr("socket: %s", strerror(errno));
    /* nobody listening (ENOENT, ECONNREFUSED) or a full queue (EAGAIN) are fine: the
     * listener polls as well, and one pending datagram is enough to wake it */
    (void)sendto(fd, "!", 1, 0, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    return 0;
}

static int
sq_listen(struct qvd_db *db, const char *channel)
{
    struct sockaddr_un sa;
    int fd;

    if ((size_t)IMPL(db)->nwake == QVD_ARRAY_LEN(IMPL(db)->wake_fd))
        return qvd_seterr("too many wake-up channels on one connection");
    if (wake_addr(db, channel, &sa) < 0 || qvd_db_wake_dir(IMPL(db)->wake_dir) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return qvd_seterr("socket: %s", strerror(errno));
    unlink(sa.sun_path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return qvd_seterr("cannot bind wake-up socket %s: %s", sa.sun_path, strerror(errno));
    }
    /* the folder keeps other users out: this widens the umask's mode to the daemons' group
     * (the folder's, set-group-ID), which the other daemons use to wake this one */
    if (chmod(sa.sun_path, 0660) < 0) {
        close(fd);
        return qvd_seterr("cannot chmod wake-up socket %s: %s", sa.sun_path, strerror(errno));
    }
    IMPL(db)->wake_fd[IMPL(db)->nwake++] = fd;
    return fd;
}

static int
sq_drain(struct qvd_db *db, int *fd)
{
    char buf[64];

    while (*fd >= 0 && recv(*fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
    return 0;
}

const struct qvd_db_ops qvd_db_sqlite_ops = {
    .name = "sqlite",
    .id_column = "INTEGER PRIMARY KEY",
    .begin_sql = "BEGIN IMMEDIATE",
    .string_agg = "group_concat",
    .wake_files = true,
    .clock_sql = "SELECT CAST(strftime('%s', 'now') AS INTEGER)",
    .open = sq_open,
    .close = sq_close,
    .exec_script = sq_exec_script,
    .prepare = sq_prepare,
    .bind_int = sq_bind_int,
    .bind_text = sq_bind_text,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .columns = sq_columns,
    .column_name = sq_column_name,
    .is_null = sq_is_null,
    .col_int = sq_col_int,
    .col_text = sq_col_text,
    .finalize = sq_finalize,
    .changes = sq_changes,
    .notify = sq_notify,
    .listen = sq_listen,
    .drain = sq_drain,
};

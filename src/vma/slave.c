/* slave.c: the VM's end of the slave channel (reference §7). The VMA gives nxagent
 * slave=<11000 + display> and NX_SLAVE_CMD (this program, in slave mode): each connection
 * the client opens to its nxproxy's slave port runs one slave process here, as the session
 * user, with the connection on stdin/stdout. It answers only requests that carry the
 * connection's slave key, which the VMA keeps for the user in a file only the user reads
 * (QVD's slave server checks nothing). Requests:
 *   GET /ping                         200
 *   POST /tunnel/<vm port>?to=<port>  101, then listens on 127.0.0.1:<vm port> in the VM
 *                                     while the connection lasts; each connection there
 *                                     is carried to the client's port (POST /tcp/connect)
 *   GET /shares/<folder>              101, then sftp-server in that folder (the client
 *                                     mounts it with sshfs -o slave)
 *   PUT /shares/<name>                QVD's client folder: 101, then sshfs -o slave mounts
 *                                     the client's sftp-server at ~/Redirected/<name>
 * And `qvd-vma open FILE`, run by the user: asks the client to open FILE, a file under
 * ~/Redirected/<name> (POST /open/<name>/<path>).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "slave.h"
#include "util.h"
#include "vma.h"

#define SLAVE_PORT_BASE 11000
#define SFTP_SERVER "/usr/lib/openssh/sftp-server"

/* ---- in the VMA ---- */

static const char *
param_of(const struct qvd_http_param *params, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(params[i].key, key) == 0)
            return params[i].value;
    return NULL;
}

int
slave_port(void)
{
    return SLAVE_PORT_BASE + vma.display;
}

bool
slave_wanted(const struct qvd_http_param *params, size_t n)
{
    const char *asked = param_of(params, n, "qvd.client.slave.enable");

    /* QVD's clients send no such parameter and always have the channel */
    return qvd_config_bool(vma.cfg, "vma.slave.enable") &&
           (asked == NULL || strcmp(asked, "0") != 0) &&
           qvd_slave_key_valid(param_of(params, n, "qvd.slave.key"));
}

static char *
key_path(uid_t uid)
{
    return qvd_xasprintf("%s/slave-%u.key", qvd_config_get(vma.cfg, "vma.run.path"), (unsigned)uid);
}

int
slave_prepare(const struct qvd_http_param *params, size_t n, const struct vma_user *u)
{
    const char *key = param_of(params, n, "qvd.slave.key");
    char *path = key_path(u->uid);
    int fd, rc = 0;

    /* a new file each time, in the VMA's own folder: nothing the user made is followed */
    unlink(path);
    if (!slave_wanted(params, n)) {
        free(path);
        return 0;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || fchown(fd, u->uid, u->gid) < 0 || qvd_slave_write_all(fd, key, strlen(key)) < 0)
        rc = qvd_seterr("cannot write the slave key file %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(path);
    free(path);
    return rc;
}

void
slave_agent_env(const struct vma_user *u)
{
    char self[512], port[16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *path = key_path(u->uid);

    if (n <= 0)
        return;
    self[n] = '\0';
    snprintf(port, sizeof(port), "%d", slave_port());
    setenv("NX_SLAVE_CMD", self, 1);
    setenv("QVD_VMA_SLAVE", "1", 1);
    setenv("QVD_SLAVE_KEY_FILE", path, 1);
    setenv("QVD_SLAVE_PORT", port, 1);
    free(path);
}

/* ---- the slave mode, as the session user ---- */

static void
answer(int status, const char *text)
{
    qvd_slave_answer(1, status, NULL, text);
}

/* Carries one connection accepted in the VM to the client's port `to`: a connection to
 * nxagent's slave port, POST /tcp/connect/<to> with the key, then the bytes. */
static void
carry(int cfd, int to)
{
    const char *port_s = getenv("QVD_SLAVE_PORT");
    char *key = qvd_slave_key_read(getenv("QVD_SLAVE_KEY_FILE"));
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    struct qvd_buf req = QVD_BUF_INIT, rest = QVD_BUF_INIT;
    char target[64];
    int sfd = -1;

    if (key == NULL || (sfd = qvd_slave_connect_local(qvd_slave_port(port_s))) < 0) {
        fprintf(stderr, "qvd-vma slave: tunnel: %s\n", qvd_strerror());
        goto out;
    }
    snprintf(target, sizeof(target), "/tcp/connect/%d", to);
    const char *hdrs[] = {"X-QVD-Slave-Key", key,           "Connection", "Upgrade",
                          "Upgrade",         "qvd:tcp/1.0", NULL};
    qvd_http_write_request(&req, "POST", target, hdrs);
    if (qvd_slave_write_all(sfd, req.data, req.len) < 0 || qvd_slave_read_head(sfd, p, &rest) < 0) {
        fprintf(stderr, "qvd-vma slave: tunnel to the client's port %d: %s\n", to, qvd_strerror());
        goto out;
    }
    if (qvd_http_parser_msg(p)->status != 101) {
        fprintf(stderr, "qvd-vma slave: the client refused its port %d: %d\n", to,
                qvd_http_parser_msg(p)->status);
        goto out;
    }
    qvd_slave_pipe(sfd, sfd, cfd, &rest);
out:
    if (key) {
        qvd_wipe(key, strlen(key));
        free(key);
    }
    qvd_wipe(req.data, req.len);
    qvd_buf_free(&req);
    qvd_buf_free(&rest);
    qvd_http_parser_free(p);
    if (sfd >= 0)
        close(sfd);
}

static int
listen_local(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* POST /tunnel/<vm port>?to=<client port>: listens while the client's connection lasts. */
static int
tunnel(const struct qvd_http_msg *m, const char *vm_port)
{
    int port = qvd_slave_port(vm_port), to = qvd_slave_port(qvd_http_msg_param(m, "to"));
    int lfd;
    char msg[160];

    if (port < 1024 || to < 0) {
        answer(400, "a tunnel needs a VM port of 1024..65535 and to=<client port>\n");
        return 1;
    }
    if ((lfd = listen_local(port)) < 0) {
        snprintf(msg, sizeof(msg), "port %d of the VM: %s\n", port, strerror(errno));
        answer(409, msg);
        return 1;
    }
    const char *hdrs[] = {"Connection", "Upgrade", "Upgrade", "qvd:tunnel/1.0", NULL};
    if (qvd_slave_answer(1, 101, hdrs, NULL) < 0)
        return 1;
    signal(SIGCHLD, SIG_IGN); /* the carriers are reaped by the kernel */
    for (;;) {
        struct pollfd pfd[2] = {{.fd = 0, .events = POLLIN}, {.fd = lfd, .events = POLLIN}};
        char buf[256];
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (pfd[0].revents) { /* the client's end: its close ends the tunnel */
            ssize_t n = read(0, buf, sizeof(buf));
            if (n == 0 || (n < 0 && errno != EINTR))
                return 0;
        }
        if (pfd[1].revents & POLLIN) {
            int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (cfd < 0)
                continue;
            pid_t pid = fork();
            if (pid == 0) {
                close(lfd);
                carry(cfd, to);
                _exit(0);
            }
            close(cfd);
        }
    }
}

/* GET /shares/<folder>: sftp-server in that folder (the user's own rights) on the stream. */
static int
share_out(const char *folder, const struct qvd_buf *rest)
{
    struct stat st;
    const char *dir = *folder ? folder : getenv("HOME");

    if (dir == NULL || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        answer(404, "no such folder in the VM\n");
        return 1;
    }
    if (rest->len > 0) { /* sftp speaks after the 101 only */
        answer(400, "bytes after the request\n");
        return 1;
    }
    const char *hdrs[] = {"Connection", "Upgrade", "Upgrade", "qvd:sftp/1.0", NULL};
    if (qvd_slave_answer(1, 101, hdrs, NULL) < 0)
        return 1;
    execl(SFTP_SERVER, "sftp-server", "-e", "-d", dir, (char *)NULL);
    fprintf(stderr, "qvd-vma slave: %s: %s\n", SFTP_SERVER, strerror(errno));
    return 1;
}

static const char *
home_dir(void)
{
    const char *home = getenv("HOME");
    struct passwd *pw;

    if (home != NULL && home[0] == '/')
        return home;
    pw = getpwuid(getuid());
    return pw ? pw->pw_dir : NULL;
}

/* A folder `name` under the folder fd `at`, made if missing; never a symlink: an open
 * O_DIRECTORY descriptor, or -1. */
static int
sub_dir(int at, const char *name)
{
    if (mkdirat(at, name, 0700) < 0 && errno != EEXIST)
        return -1;
    return openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Whether sshfs can mount here: /dev/fuse opens and sshfs and fusermount3 are installed.
 * The LXC sandbox has no /dev/fuse and refuses mount(2) (docs/security.md): there the
 * client gets a refusal at once instead of a share that never appears. */
static bool
fuse_usable(void)
{
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    bool ok = fd >= 0;
    const char *path = getenv("PATH");
    char *copy = qvd_xstrdup(path && *path ? path : "/usr/bin:/bin"), *save = NULL;
    int found = 0;

    if (fd >= 0)
        close(fd);
    for (char *d = strtok_r(copy, ":", &save); d && ok; d = strtok_r(NULL, ":", &save)) {
        char *a = qvd_xasprintf("%s/sshfs", d), *b = qvd_xasprintf("%s/fusermount3", d);
        found |= (access(a, X_OK) == 0 ? 1 : 0) | (access(b, X_OK) == 0 ? 2 : 0);
        free(a);
        free(b);
    }
    free(copy);
    return ok && found == 3;
}

/* PUT /shares/<name>: the client's folder at ~/Redirected/<name>, sshfs on the stream. */
static int
share_in(const char *name, const struct qvd_buf *rest)
{
    const char *home = home_dir();
    int hfd = -1, rfd = -1, mfd = -1;
    char *mnt;

    if (!qvd_slave_share_name_valid(name)) {
        answer(400, "not a valid share name\n");
        return 1;
    }
    if (rest->len > 0) { /* sftp speaks after the 101 only */
        answer(400, "bytes after the request\n");
        return 1;
    }
    if (!fuse_usable()) {
        answer(501, "folder sharing needs FUSE and sshfs in the VM, and this VM has not both\n");
        return 1;
    }
    if (home == NULL || (hfd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        (rfd = sub_dir(hfd, "Redirected")) < 0 || (mfd = sub_dir(rfd, name)) < 0) {
        answer(409, "cannot make the folder ~/Redirected/<name> in the VM\n");
        return 1;
    }
    close(hfd);
    close(rfd);
    close(mfd);
    const char *hdrs[] = {"Connection", "Upgrade", "Upgrade", "qvd:sftp/1.0", NULL};
    if (qvd_slave_answer(1, 101, hdrs, NULL) < 0)
        return 1;
    /* the user's own folder, checked above: the mount is the user's, with the user's rights
     * (fusermount3 applies its rules: nosuid, nodev, a folder the user may write) */
    mnt = qvd_xasprintf("%s/Redirected/%s", home, name);
    execlp("sshfs", "sshfs", "-f", "-o", "slave", "qvd-client:", mnt, (char *)NULL);
    fprintf(stderr, "qvd-vma slave: sshfs: %s\n", strerror(errno));
    return 1;
}

static int
route(const struct qvd_http_msg *m, const struct qvd_buf *rest)
{
    if (strcmp(m->method, "GET") == 0 && strcmp(m->path, "/ping") == 0) {
        answer(200, "pong\n");
        return 0;
    }
    if (strcmp(m->method, "POST") == 0 && strncmp(m->path, "/tunnel/", 8) == 0)
        return tunnel(m, m->path + 8);
    if (strcmp(m->method, "GET") == 0 && strncmp(m->path, "/shares/", 8) == 0 && m->upgrade)
        return share_out(m->path + 7, rest);
    if (strcmp(m->method, "PUT") == 0 && strncmp(m->path, "/shares/", 8) == 0 && m->upgrade)
        return share_in(m->path + 8, rest);
    answer(404, "no such slave request\n");
    return 1;
}

int
slave_main(void)
{
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    struct qvd_buf rest = QVD_BUF_INIT;
    char *key = qvd_slave_key_read(getenv("QVD_SLAVE_KEY_FILE"));
    int rc;

    signal(SIGPIPE, SIG_IGN);
    if (qvd_slave_read_head(0, p, &rest) < 0) {
        fprintf(stderr, "qvd-vma slave: %s\n", qvd_strerror());
        answer(400, "bad request\n");
        return 1;
    }
    const struct qvd_http_msg *m = qvd_http_parser_msg(p);
    if (!qvd_slave_authorized(m, key)) {
        fprintf(stderr, "qvd-vma slave: %s %s refused: no valid slave key\n", m->method, m->path);
        answer(401, "this slave server needs the session's slave key\n");
        return 1;
    }
    qvd_wipe(key, strlen(key));
    rc = route(m, &rest);
    qvd_http_parser_free(p);
    qvd_buf_free(&rest);
    return rc;
}

/* ---- qvd-vma open FILE, as the session user ---- */

/* `file` as an absolute path without "." nor ".." (its real path when it exists). */
static char *
normal_path(const char *file)
{
    char real[PATH_MAX], cwd[PATH_MAX];
    struct qvd_buf b = QVD_BUF_INIT;
    char *abs, *save = NULL;

    if (realpath(file, real) != NULL)
        return qvd_xstrdup(real);
    if (file[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
        return NULL;
    abs = file[0] == '/' ? qvd_xstrdup(file) : qvd_xasprintf("%s/%s", cwd, file);
    for (char *seg = strtok_r(abs, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        if (strcmp(seg, ".") == 0)
            continue;
        if (strcmp(seg, "..") == 0) {
            char *slash = memrchr(b.data ? b.data : "", '/', b.len);
            b.len = slash ? (size_t)(slash - b.data) : 0;
            continue;
        }
        qvd_buf_addc(&b, '/');
        qvd_buf_adds(&b, seg);
    }
    free(abs);
    if (b.len == 0)
        qvd_buf_addc(&b, '/');
    return qvd_buf_steal(&b);
}

/* The request target /open/<name>/<path> for `file` under ~/Redirected, or NULL. */
static char *
open_target(const char *file)
{
    const char *home = home_dir();
    char *path = normal_path(file), *prefix;
    struct qvd_buf t = QVD_BUF_INIT;

    if (home == NULL || path == NULL) {
        free(path);
        return NULL;
    }
    prefix = qvd_xasprintf("%s/Redirected/", home);
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl) != 0 || path[pl] == '\0') {
        free(prefix);
        free(path);
        return NULL;
    }
    qvd_buf_adds(&t, "/open");
    /* each segment encoded, the slashes kept */
    char *save = NULL;
    for (char *seg = strtok_r(path + pl, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        qvd_buf_addc(&t, '/');
        qvd_http_urlencode(&t, seg);
    }
    free(prefix);
    free(path);
    return qvd_buf_steal(&t);
}

/* nxagent's slave port for the desktop's DISPLAY (":N": 11000 + N), else QVD's 11100. */
static int
display_port(void)
{
    const char *d = getenv("DISPLAY");
    char *end = NULL;
    long n = d && d[0] == ':' ? strtol(d + 1, &end, 10) : -1;

    if (n < 0 || n > 50000 || end == d + 1 || (*end != '\0' && *end != '.'))
        return SLAVE_PORT_BASE + 100;
    return SLAVE_PORT_BASE + (int)n;
}

int
slave_open_main(const char *file)
{
    const char *key_file = getenv("QVD_SLAVE_KEY_FILE"), *port_s = getenv("QVD_SLAVE_PORT");
    char def_key[64], *key, *target = open_target(file);
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    struct qvd_buf req = QVD_BUF_INIT, rest = QVD_BUF_INIT;
    int fd = -1, rc = 1;

    signal(SIGPIPE, SIG_IGN);
    if (target == NULL) {
        fprintf(stderr, "qvd-vma open: %s is not in a shared folder (~/Redirected/<name>/...)\n",
                file);
        return 2;
    }
    /* outside the desktop (no environment from nxagent): the VMA's defaults */
    snprintf(def_key, sizeof(def_key), "/var/run/qvd/slave-%u.key", (unsigned)getuid());
    key = qvd_slave_key_read(key_file && *key_file ? key_file : def_key);
    if (key == NULL || (fd = qvd_slave_connect_local(port_s && *port_s ? qvd_slave_port(port_s)
                                                                       : display_port())) < 0) {
        fprintf(stderr, "qvd-vma open: no connection to the client: %s\n", qvd_strerror());
        goto out;
    }
    const char *hdrs[] = {"X-QVD-Slave-Key", key, NULL};
    qvd_http_write_request(&req, "POST", target, hdrs);
    if (qvd_slave_write_all(fd, req.data, req.len) < 0 || qvd_slave_read_head(fd, p, &rest) < 0) {
        fprintf(stderr, "qvd-vma open: %s\n", qvd_strerror());
        goto out;
    }
    const struct qvd_http_msg *m = qvd_http_parser_msg(p);
    rc = m->status == 200 ? 0 : 1;
    if (rc != 0)
        fprintf(stderr, "qvd-vma open: the client refused to open %s (%d)\n", file, m->status);
out:
    if (key) {
        qvd_wipe(key, strlen(key));
        free(key);
    }
    qvd_wipe(req.data, req.len);
    qvd_buf_free(&req);
    qvd_buf_free(&rest);
    qvd_http_parser_free(p);
    free(target);
    if (fd >= 0)
        close(fd);
    return rc;
}

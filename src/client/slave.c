/* slave.c: the client's end of the slave channel (reference §7). nxproxy gets
 * slave=<a free port>: a connection to that port on 127.0.0.1 reaches the VM's slave
 * server (qvd-vma's slave mode); a connection the VM makes to nxagent's slave port runs
 * NX_SLAVE_CMD here, this program in its slave mode, with the connection on stdin/stdout.
 * Both ends ask for the connection's slave key on every request (QVD's ask for nothing).
 *
 * --tunnel VMPORT:PORT   a port on 127.0.0.1 in the VM whose connections arrive at
 *                        127.0.0.1:PORT on this side (POST /tunnel, POST /tcp/connect);
 *                        the VM may reach no other port of this side
 * --vm-folder DIR:MOUNT  the VM's folder DIR mounted at MOUNT here (GET /shares/DIR,
 *                        sftp-server in the VM, sshfs -o slave here)
 * --share DIR            this folder in the VM at ~/Redirected/<name> (PUT /shares/<name>,
 *                        QVD's request; sshfs -o slave in the VM, sftp-server -e -d DIR
 *                        here); the VM may then ask to open one of its files here
 *                        (POST /open/<name>/<path>, client.open.command), no other file
 * The requests are made by a helper process (the keeper) while the session runs: its
 * connections end the tunnels and mounts when it ends. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "err.h"
#include "log.h"
#include "slave.h"

#define MAX_SLAVE_USES 16
/* How long the keeper tries to reach the VM's slave server (the session may still start). */
#define KEEPER_TRY_MS 120000
#define SFTP_SERVER "/usr/lib/openssh/sftp-server"
/* Landlock rights newer than some build machines' headers (the kernel's ABI 3 and 5) */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

/* nxproxy's slave port of this run (0: none). */
static int nx_slave_port;

/* ---- options ---- */

static int
split_pair(const char *arg, char **a, char **b)
{
    const char *colon = strrchr(arg, ':');

    if (colon == NULL || colon == arg || colon[1] == '\0')
        return -1;
    *a = qvd_xstrndup(arg, (size_t)(colon - arg));
    *b = qvd_xstrdup(colon + 1);
    return 0;
}

int
client_slave_add_tunnel(struct client_opts *o, const char *arg)
{
    char *a = NULL, *b = NULL;
    int vm, here;

    if (split_pair(arg, &a, &b) < 0 || (vm = qvd_slave_port(a)) < 1024 ||
        (here = qvd_slave_port(b)) < 0) {
        free(a);
        free(b);
        return qvd_seterr("--tunnel takes VMPORT:PORT, a port of 1024..65535 in the virtual "
                          "machine and a port on this computer, not \"%s\"",
                          arg);
    }
    free(a);
    free(b);
    if (o->ntunnels == MAX_SLAVE_USES)
        return qvd_seterr("at most %d tunnels (--tunnel)", MAX_SLAVE_USES);
    o->tunnels[o->ntunnels].vm_port = vm;
    o->tunnels[o->ntunnels++].port = here;
    return 0;
}

int
client_slave_add_folder(struct client_opts *o, const char *arg)
{
    char *dir = NULL, *mnt = NULL;
    struct stat st;

    if (split_pair(arg, &dir, &mnt) < 0 || dir[0] != '/' || strstr(dir, "/..") != NULL ||
        stat(mnt, &st) < 0 || !S_ISDIR(st.st_mode)) {
        free(dir);
        free(mnt);
        return qvd_seterr("--vm-folder takes DIR:MOUNT, an absolute folder of the virtual "
                          "machine and an existing folder here, not \"%s\"",
                          arg);
    }
    if (o->nfolders == MAX_SLAVE_USES) {
        free(dir);
        free(mnt);
        return qvd_seterr("at most %d folders (--vm-folder)", MAX_SLAVE_USES);
    }
    o->folders[o->nfolders].vm_dir = dir;
    o->folders[o->nfolders++].mount = mnt;
    return 0;
}

int
client_slave_add_share(struct client_opts *o, const char *arg)
{
    char real[PATH_MAX];
    struct stat st;
    const char *name;

    if (realpath(arg, real) == NULL || stat(real, &st) < 0 || !S_ISDIR(st.st_mode) ||
        strcmp(real, "/") == 0 || strpbrk(real, "\t\n") != NULL)
        return qvd_seterr("--share takes an existing folder (not /), not \"%s\"", arg);
    name = strrchr(real, '/') + 1;
    if (!qvd_slave_share_name_valid(name))
        return qvd_seterr("the folder name \"%s\" cannot be shown in the virtual machine: "
                          "give a folder whose name has letters, digits, '.', '_', '-', '+' "
                          "or spaces only (at most 64, not starting with a dot)",
                          name);
    for (size_t i = 0; i < o->nshares; i++)
        if (strcmp(o->shares[i].name, name) == 0)
            return strcmp(o->shares[i].dir, real) == 0
                       ? 0
                       : qvd_seterr("two shared folders are named \"%s\" (--share)", name);
    if (o->nshares == MAX_SLAVE_USES)
        return qvd_seterr("at most %d shared folders (--share)", MAX_SLAVE_USES);
    o->shares[o->nshares].dir = qvd_xstrdup(real);
    o->shares[o->nshares++].name = qvd_xstrdup(name);
    return 0;
}

int
client_slave_conf(struct client_opts *o, const char *folders, const char *open_command)
{
    char *copy = qvd_xstrdup(folders ? folders : ""), *save = NULL;
    int rc = 0;

    for (char *d = strtok_r(copy, ":", &save); d && rc == 0; d = strtok_r(NULL, ":", &save))
        if (client_slave_add_share(o, d) < 0)
            rc = qvd_seterr("client.share.folders: %s", qvd_strerror());
    free(copy);
    free(o->open_command);
    o->open_command = qvd_xstrdup(open_command && *open_command ? open_command : "xdg-open");
    return rc;
}

void
client_slave_opts_free(struct client_opts *o)
{
    for (size_t i = 0; i < o->nshares; i++) {
        free(o->shares[i].dir);
        free(o->shares[i].name);
    }
    o->nshares = 0;
    free(o->open_command);
    o->open_command = NULL;
    for (size_t i = 0; i < o->nfolders; i++) {
        free(o->folders[i].vm_dir);
        free(o->folders[i].mount);
    }
    o->nfolders = 0;
    if (o->slave_key) {
        qvd_wipe(o->slave_key, strlen(o->slave_key));
        free(o->slave_key);
        o->slave_key = NULL;
    }
}

/* ---- nxproxy ---- */

/* A port of 127.0.0.1 free now (nxproxy takes it a moment later). */
static int
free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool
slave_used(const struct client_opts *o)
{
    return o->slave_key != NULL &&
           client_feature_use(o, "slave", o->ntunnels + o->nfolders + o->nshares > 0);
}

void
client_slave_nx_options(const struct client_opts *o, struct qvd_buf *b)
{
    nx_slave_port = 0;
    if (!slave_used(o) || (nx_slave_port = free_port()) < 0) {
        nx_slave_port = 0;
        return;
    }
    qvd_buf_printf(b, " slave=%d", nx_slave_port);
}

void
client_slave_nx_env(const struct client_opts *o)
{
    char self[512], ports[MAX_SLAVE_USES * 6 + 1] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (nx_slave_port == 0 || n <= 0)
        return;
    self[n] = '\0';
    for (size_t i = 0; i < o->ntunnels; i++)
        snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports), "%s%d", i ? "," : "",
                 o->tunnels[i].port);
    /* the environment of nxproxy and its children, readable by this user only (never argv) */
    setenv("NX_SLAVE_CMD", self, 1);
    setenv("QVD_CLIENT_SLAVE", "1", 1);
    setenv("QVD_SLAVE_KEY", o->slave_key, 1);
    setenv("QVD_SLAVE_TUNNEL_PORTS", ports, 1);
    /* the shared folders, "<name>\t<dir>\n" each (neither holds a tab or a newline) */
    struct qvd_buf shares = QVD_BUF_INIT;
    for (size_t i = 0; i < o->nshares; i++)
        qvd_buf_printf(&shares, "%s\t%s\n", o->shares[i].name, o->shares[i].dir);
    setenv("QVD_SLAVE_SHARES", qvd_buf_str(&shares), 1);
    qvd_buf_free(&shares);
    setenv("QVD_SLAVE_OPEN_COMMAND", o->open_command ? o->open_command : "xdg-open", 1);
}

/* ---- the keeper: the requests to the VM while the session runs ---- */

/* One request to the VM's slave server; the connection after its 101, or -1 with the
 * reason (a refusal: *final set, no retry helps). */
static int
ask_vm(const struct client_opts *o, const char *method, const char *target, const char *upgrade,
       bool *final)
{
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    struct qvd_buf req = QVD_BUF_INIT, rest = QVD_BUF_INIT;
    const char *hdrs[] = {"X-QVD-Slave-Key", o->slave_key, "Connection", "Upgrade",
                          "Upgrade",         upgrade,      NULL};
    int fd = qvd_slave_connect_local(nx_slave_port);

    *final = false;
    qvd_http_write_request(&req, method, target, hdrs);
    if (fd >= 0 &&
        (qvd_slave_write_all(fd, req.data, req.len) < 0 || qvd_slave_read_head(fd, p, &rest) < 0)) {
        close(fd);
        fd = -1;
    } else if (fd >= 0 && qvd_http_parser_msg(p)->status != 101) {
        const struct qvd_http_msg *m = qvd_http_parser_msg(p);
        char said[101];
        /* the VM's text, hostile: its first line, printable characters only */
        snprintf(said, sizeof(said), "%s", qvd_buf_str((struct qvd_buf *)&m->body));
        said[strcspn(said, "\r\n")] = '\0';
        for (char *c = said; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                *c = '?';
        qvd_seterr("the virtual machine answered %d %s", m->status, said);
        *final = true;
        close(fd);
        fd = -1;
    }
    qvd_wipe(req.data, req.len);
    qvd_buf_free(&req);
    qvd_buf_free(&rest);
    qvd_http_parser_free(p);
    return fd;
}

static volatile sig_atomic_t keeper_stop;

/* ask_vm again while the session comes up (nxproxy's slave port answers once it is up). */
static int
ask_vm_retry(const struct client_opts *o, const char *method, const char *target,
             const char *upgrade)
{
    int64_t deadline = qvd_mono_ms() + KEEPER_TRY_MS;
    bool final = false;
    int fd;

    while ((fd = ask_vm(o, method, target, upgrade, &final)) < 0 && !final &&
           qvd_mono_ms() < deadline && !keeper_stop)
        usleep(300 * 1000);
    return fd;
}

static pid_t mounts[MAX_SLAVE_USES], servers[MAX_SLAVE_USES];

/* The file-system rights Landlock knows at `abi` (1..), all handled by the ruleset. */
static __u64
landlock_fs_rights(long abi)
{
    __u64 r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1 */

    if (abi >= 2)
        r |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        r |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return r;
}

static void
landlock_allow(int ruleset, const char *path, __u64 rights)
{
    struct stat st;
    struct landlock_path_beneath_attr pb = {0};
    int fd = open(path, O_PATH | O_CLOEXEC);

    if (fd < 0)
        return;                                      /* absent here: nothing to allow */
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) /* a file takes file rights only */
        rights &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |
                  LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE;
    pb.allowed_access = rights;
    pb.parent_fd = fd;
    syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
    close(fd);
}

int
client_slave_confine(const char *dir)
{
    /* what sftp-server needs to start and to name users: the system, read-only */
    static const char *const system[] = {"/usr",          "/lib",       "/lib64",
                                         "/bin",          "/sbin",      "/etc/ld.so.cache",
                                         "/etc/passwd",   "/etc/group", "/etc/nsswitch.conf",
                                         "/etc/localtime"};
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    struct landlock_ruleset_attr attr = {0};
    int ruleset, rc;

    if (abi < 1)
        return qvd_seterr("this computer's kernel has no Landlock to keep the virtual machine "
                          "inside the shared folder");
    attr.handled_access_fs = landlock_fs_rights(abi);
    ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (ruleset < 0)
        return qvd_seterr("Landlock: %s", strerror(errno));
    for (size_t i = 0; i < sizeof(system) / sizeof(system[0]); i++)
        landlock_allow(ruleset, system[i],
                       LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |
                           LANDLOCK_ACCESS_FS_READ_DIR);
    landlock_allow(ruleset, "/dev/null", /* sftp-server opens it at start */
                   LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE);
    landlock_allow(ruleset, dir, attr.handled_access_fs);
    rc = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
                 syscall(SYS_landlock_restrict_self, ruleset, 0) == 0
             ? 0
             : qvd_seterr("Landlock: %s", strerror(errno));
    close(ruleset);
    return rc;
}

/* --share: QVD's PUT /shares/<name>; after the VM's 101, sftp-server in the folder serves
 * the VM's sshfs on the connection. */
static void
keeper_share(const struct client_opts *o, size_t i)
{
    struct qvd_buf t = QVD_BUF_INIT;
    int fd;

    qvd_buf_adds(&t, "/shares/");
    qvd_http_urlencode(&t, o->shares[i].name);
    fd = ask_vm_retry(o, "PUT", qvd_buf_str(&t), "qvd:sftp/1.0");
    qvd_buf_free(&t);
    if (fd < 0) {
        fprintf(stderr, "qvd-client: The folder %s could not be shared: %s.\n", o->shares[i].dir,
                qvd_strerror());
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* sftp-server's -d is a starting folder, not a jail: the VM's sshfs may ask for any
         * path. Landlock keeps it to the shared folder (and the system, read-only). */
        if (client_slave_confine(o->shares[i].dir) < 0) {
            fprintf(stderr, "qvd-client: The folder %s is not shared: %s.\n", o->shares[i].dir,
                    qvd_strerror());
            _exit(126);
        }
        dup2(fd, 0);
        dup2(fd, 1);
        execl(SFTP_SERVER, "sftp-server", "-e", "-d", o->shares[i].dir, (char *)NULL);
        fprintf(stderr, "qvd-client: %s is needed to share a folder: %s.\n", SFTP_SERVER,
                strerror(errno));
        _exit(127);
    }
    close(fd);
    servers[i] = pid;
    log_info("folder %s shared as ~/Redirected/%s", o->shares[i].dir, o->shares[i].name);
}

static void
keeper_folder(const struct client_opts *o, size_t i)
{
    struct qvd_buf t = QVD_BUF_INIT;
    int fd;

    qvd_buf_adds(&t, "/shares");
    qvd_http_urlencode(&t, o->folders[i].vm_dir);
    /* the path's slashes stay slashes */
    for (char *c; (c = strstr(qvd_buf_str(&t), "%2F")) != NULL;) {
        *c = '/';
        memmove(c + 1, c + 3, strlen(c + 3) + 1);
        t.len -= 2;
    }
    fd = ask_vm_retry(o, "GET", qvd_buf_str(&t), "qvd:sftp/1.0");
    qvd_buf_free(&t);
    if (fd < 0) {
        fprintf(stderr,
                "qvd-client: The folder %s of the virtual machine could not be opened: %s.\n",
                o->folders[i].vm_dir, qvd_strerror());
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        execlp("sshfs", "sshfs", "-f", "-o", "slave", "qvd-vm:", o->folders[i].mount, (char *)NULL);
        fprintf(stderr,
                "qvd-client: sshfs is needed to open a folder of the virtual machine: %s.\n",
                strerror(errno));
        _exit(127);
    }
    close(fd);
    mounts[i] = pid;
    log_info("folder %s of the VM at %s", o->folders[i].vm_dir, o->folders[i].mount);
}

static void
keeper_on_term(int sig)
{
    keeper_stop = 1;
}

static _Noreturn void
keeper(const struct client_opts *o)
{
    int fds[MAX_SLAVE_USES];
    size_t nfds = 0;
    struct sigaction sa = {.sa_handler = keeper_on_term};

    sigaction(SIGTERM, &sa, NULL);
    signal(SIGINT, SIG_IGN); /* the parent ends the keeper */
    signal(SIGHUP, SIG_IGN);
    for (size_t i = 0; i < o->ntunnels && !keeper_stop; i++) {
        char target[64];
        snprintf(target, sizeof(target), "/tunnel/%d?to=%d", o->tunnels[i].vm_port,
                 o->tunnels[i].port);
        int fd = ask_vm_retry(o, "POST", target, "qvd:tunnel/1.0");
        if (fd < 0)
            fprintf(stderr,
                    "qvd-client: The tunnel from port %d of the virtual machine to port %d here "
                    "could not be opened: %s.\n",
                    o->tunnels[i].vm_port, o->tunnels[i].port, qvd_strerror());
        else
            fds[nfds++] = fd;
    }
    for (size_t i = 0; i < o->nfolders && !keeper_stop; i++)
        keeper_folder(o, i);
    for (size_t i = 0; i < o->nshares && !keeper_stop; i++)
        keeper_share(o, i);
    while (!keeper_stop)
        usleep(200 * 1000); /* the tunnels last while their connections are open */
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    for (size_t i = 0; i < o->nshares; i++)
        if (servers[i] > 0) {
            kill(servers[i], SIGTERM);
            waitpid(servers[i], NULL, 0);
        }
    for (size_t i = 0; i < o->nfolders; i++) {
        if (mounts[i] <= 0)
            continue;
        pid_t pid = fork();
        if (pid == 0) {
            execlp("fusermount", "fusermount", "-u", "-z", o->folders[i].mount, (char *)NULL);
            _exit(127);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
        kill(mounts[i], SIGTERM);
        waitpid(mounts[i], NULL, 0);
    }
    _exit(0);
}

pid_t
client_slave_start(const struct client_opts *o)
{
    pid_t pid;

    if (nx_slave_port == 0)
        return 0;
    pid = fork();
    if (pid == 0)
        keeper(o);
    if (pid < 0)
        log_warn("no tunnels nor folders: fork: %s", strerror(errno));
    return pid < 0 ? 0 : pid;
}

void
client_slave_stop(pid_t keeper_pid)
{
    if (keeper_pid <= 0)
        return;
    int64_t deadline = qvd_mono_ms() + 5000;

    kill(keeper_pid, SIGTERM); /* it unmounts its folders, then exits */
    while (waitpid(keeper_pid, NULL, WNOHANG) == 0) {
        if (qvd_mono_ms() > deadline) {
            kill(keeper_pid, SIGKILL);
            waitpid(keeper_pid, NULL, 0);
            return;
        }
        usleep(20 * 1000);
    }
}

/* ---- the slave mode: one request from the VM ---- */

/* Whether `port` is one of the user's --tunnel ports (the VM may reach no other). */
static bool
tunnel_port(int port)
{
    const char *list = getenv("QVD_SLAVE_TUNNEL_PORTS");

    while (list != NULL && *list) {
        size_t n = strcspn(list, ",");
        char one[8];
        snprintf(one, sizeof(one), "%.*s", (int)(n < 7 ? n : 7), list);
        if (qvd_slave_port(one) == port)
            return true;
        list += n + (list[n] == ',');
    }
    return false;
}

static int
tcp_connect(const char *port_s, const struct qvd_buf *rest)
{
    int port = qvd_slave_port(port_s), fd;

    if (port < 0 || !tunnel_port(port)) {
        qvd_slave_answer(1, 403, NULL, "not a port this client opened (--tunnel)\n");
        return 1;
    }
    if ((fd = qvd_slave_connect_local(port)) < 0) {
        qvd_slave_answer(1, 502, NULL, "nothing answers on that port\n");
        return 1;
    }
    const char *hdrs[] = {"Connection", "Upgrade", "Upgrade", "qvd:tcp/1.0", NULL};
    if (qvd_slave_answer(1, 101, hdrs, NULL) < 0)
        return 1;
    qvd_slave_pipe(0, 1, fd, rest);
    return 0;
}

/* The folder (real path) shared under `name` (QVD_SLAVE_SHARES), into dir; false: none. */
static bool
share_dir(const char *name, char *dir, size_t len)
{
    const char *list = getenv("QVD_SLAVE_SHARES");
    size_t n = strlen(name);

    while (list != NULL && *list) {
        const char *tab = strchr(list, '\t'), *nl = strchr(list, '\n');
        if (tab == NULL || nl == NULL || tab > nl)
            return false;
        if ((size_t)(tab - list) == n && strncmp(list, name, n) == 0) {
            snprintf(dir, len, "%.*s", (int)(nl - tab - 1), tab + 1);
            return true;
        }
        list = nl + 1;
    }
    return false;
}

/* Runs client.open.command with `path` as its last argument, detached (it may show a window
 * for long): sh gets the command as the user wrote it and the path as "$1", never parsed. */
static int
run_open_command(const char *path)
{
    const char *cmd = getenv("QVD_SLAVE_OPEN_COMMAND");
    char *script = qvd_xasprintf("%s \"$1\"", cmd && *cmd ? cmd : "xdg-open");
    pid_t pid = fork();

    if (pid == 0) {
        setsid();
        if (fork() == 0) {
            int null = open("/dev/null", O_RDWR | O_CLOEXEC);
            dup2(null, 0);
            dup2(2, 1);
            execl("/bin/sh", "sh", "-c", script, "qvd-open", path, (char *)NULL);
            _exit(127);
        }
        _exit(0);
    }
    free(script);
    if (pid < 0)
        return -1;
    waitpid(pid, NULL, 0);
    return 0;
}

/* POST /open/<name>/<path>: the file <path> of the shared folder <name> opened here. The
 * VM chooses the path: its real path (symlinks and .. resolved) must lie in that folder. */
static int
open_file(const char *target)
{
    char name[65], dir[PATH_MAX], real_dir[PATH_MAX], real[PATH_MAX];
    size_t n = strcspn(target, "/");
    char *want;

    if (n == 0 || n >= sizeof(name)) {
        qvd_slave_answer(1, 403, NULL, "not a shared folder\n");
        return 1;
    }
    snprintf(name, sizeof(name), "%.*s", (int)n, target);
    if (!qvd_slave_share_name_valid(name) || !share_dir(name, dir, sizeof(dir)) ||
        realpath(dir, real_dir) == NULL) {
        qvd_slave_answer(1, 403, NULL, "not a shared folder\n");
        return 1;
    }
    want = qvd_xasprintf("%s/%s", real_dir, target[n] ? target + n + 1 : "");
    if (realpath(want, real) == NULL) {
        free(want);
        qvd_slave_answer(1, 404, NULL, "no such file in the shared folder\n");
        return 1;
    }
    free(want);
    size_t dl = strlen(real_dir);
    if (strncmp(real, real_dir, dl) != 0 || (real[dl] != '/' && real[dl] != '\0')) {
        fprintf(stderr, "qvd-client: the virtual machine asked to open a file outside the "
                        "shared folders: refused\n");
        qvd_slave_answer(1, 403, NULL, "not in a shared folder\n");
        return 1;
    }
    if (run_open_command(real) < 0) {
        qvd_slave_answer(1, 500, NULL, "cannot run the open command\n");
        return 1;
    }
    return qvd_slave_answer(1, 200, NULL, "opened\n") < 0;
}

int
client_slave_main(void)
{
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    struct qvd_buf rest = QVD_BUF_INIT;
    const char *key = getenv("QVD_SLAVE_KEY");
    int rc = 1;

    signal(SIGPIPE, SIG_IGN);
    if (qvd_slave_read_head(0, p, &rest) < 0) {
        qvd_slave_answer(1, 400, NULL, "bad request\n");
    } else {
        const struct qvd_http_msg *m = qvd_http_parser_msg(p);
        if (!qvd_slave_authorized(m, key)) {
            fprintf(stderr, "qvd-client: a slave request without this session's key was refused\n");
            qvd_slave_answer(1, 401, NULL, "this slave server needs the session's slave key\n");
        } else if (strcmp(m->method, "GET") == 0 && strcmp(m->path, "/ping") == 0) {
            rc = qvd_slave_answer(1, 200, NULL, "pong\n") < 0;
        } else if (strcmp(m->method, "POST") == 0 && strncmp(m->path, "/tcp/connect/", 13) == 0) {
            rc = tcp_connect(m->path + 13, &rest);
        } else if (strcmp(m->method, "POST") == 0 && strncmp(m->path, "/open/", 6) == 0) {
            rc = open_file(m->path + 6);
        } else {
            qvd_slave_answer(1, 404, NULL, "no such slave request\n");
        }
    }
    qvd_http_parser_free(p);
    qvd_buf_free(&rest);
    return rc;
}

void
client_slave_set_key(struct client_opts *o, const char *key)
{
    if (o->slave_key) {
        qvd_wipe(o->slave_key, strlen(o->slave_key));
        free(o->slave_key);
    }
    o->slave_key = qvd_slave_key_valid(key) ? qvd_xstrdup(key) : NULL;
}

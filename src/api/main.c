/* main.c: qvd-api start-up (configuration, TLS and Unix listeners, database, privilege
 * drop, worker threads, live feed, seccomp filter), signals and shutdown. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "api.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "password.h"
#include "sandbox.h"
#include "throttle.h"
#include "tls.h"

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct api *a = arg;

    log_info("signal %d: stopping", (int)sig);
    a->stopping = true;
    event_base_loopexit(a->base, NULL);
}

static void
on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    struct api *a = arg;
    char host[64] = "local";
    bool tls = false;

    for (size_t i = 0; i < a->nlisteners; i++)
        if (a->listeners[i] == lis)
            tls = a->listener_tls[i];
    if (sa->sa_family != AF_UNIX) {
        /* answers span several segments: without this, Nagle's algorithm and the client's
         * delayed ACK add 40 ms to every answer larger than one segment */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
        getnameinfo(sa, (socklen_t)salen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
        if (strncmp(host, "::ffff:", 7) == 0)
            memmove(host, host + 7, strlen(host + 7) + 1);
    }
    api_conn_accept(a, fd, host, tls);
}

static int
add_listener(struct api *a, int fd, bool tls)
{
    if (a->nlisteners == API_MAX_LISTENERS) {
        close(fd);
        return qvd_seterr("too many listening addresses");
    }
    a->listeners[a->nlisteners] =
        evconnlistener_new(a->base, on_accept, a, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    a->listener_tls[a->nlisteners++] = tls;
    return 0;
}

static int
open_tcp(struct api *a)
{
    const char *addr = qvd_config_get(a->cfg, "api.address");
    const char *port = qvd_config_get(a->cfg, "api.port");
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST},
                    *ai, *p;
    int rc;

    if (addr == NULL || *addr == '\0')
        return 0;
    if (strcmp(addr, "*") == 0)
        addr = NULL;
    if ((rc = getaddrinfo(addr, port, &hints, &ai)) != 0)
        return qvd_seterr("api.address '%s' port '%s': %s", addr ? addr : "*", port,
                          gai_strerror(rc));
    for (p = ai; p; p = p->ai_next) {
        int fd = socket(p->ai_family, p->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
        if (p->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){1}, sizeof(int));
        if (bind(fd, p->ai_addr, p->ai_addrlen) < 0 || listen(fd, 512) < 0) {
            rc = qvd_seterr("cannot listen on %s port %s: %s", addr ? addr : "*", port,
                            strerror(errno));
            close(fd);
            freeaddrinfo(ai);
            return rc;
        }
        if (add_listener(a, fd, true) < 0) {
            freeaddrinfo(ai);
            return -1;
        }
    }
    freeaddrinfo(ai);
    return 0;
}

/* The local socket: plain HTTP, mode 0660 (root and the api.user's group). */
static int
open_unix(struct api *a)
{
    const char *path = qvd_config_get(a->cfg, "api.socket");
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char *dir, *slash;
    int fd;

    if (path == NULL || *path == '\0')
        return 0;
    if (strlen(path) >= sizeof(sun.sun_path))
        return qvd_seterr("api.socket '%s' is too long for a Unix socket", path);
    dir = qvd_xstrdup(path);
    if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
        *slash = '\0';
        qvd_daemon_mkdir(dir);
    }
    free(dir);
    strcpy(sun.sun_path, path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0660) < 0 ||
        listen(fd, 128) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return qvd_seterr("cannot listen on %s: %s", path, strerror(e));
    }
    a->socket_path = qvd_xstrdup(path);
    return add_listener(a, fd, false);
}

static void
noop(const char *key, const char *value, void *arg)
{
}

int
main(int argc, char **argv)
{
    struct api a = {0};
    long threads;

    signal(SIGPIPE, SIG_IGN);
    umask(077); /* what it makes is its own unless it says otherwise (docs/security.md) */
    a.cfg = qvd_daemon_start("qvd-api", argc, argv);
    /* expand every value now: the workers then only read the configuration */
    qvd_config_foreach(a.cfg, noop, NULL);
    TAILQ_INIT(&a.conns);
    a.t_request = qvd_config_int(a.cfg, "api.timeout.request");
    a.t_idle = qvd_config_int(a.cfg, "api.timeout.idle");
    a.max_conns = qvd_config_int(a.cfg, "api.max_connections");
    a.throttle = qvd_throttle_new(qvd_config_int(a.cfg, "api.auth.throttle.failures"),
                                  qvd_config_int(a.cfg, "api.auth.throttle.window"), 0);
    a.throttle_v6_prefix = (int)qvd_config_int(a.cfg, "api.auth.throttle.ipv6.prefix");
    if (a.throttle_v6_prefix < 1 || a.throttle_v6_prefix > 128)
        qvd_fatal("api.auth.throttle.ipv6.prefix must be a prefix length from 1 to 128");
    /* made now, not on the first unknown login, which would then take twice as long */
    if (qvd_password_dummy(a.cfg) == NULL)
        qvd_fatal("%s", qvd_strerror());
    a.base = event_base_new();
    if (a.base == NULL)
        qvd_fatal("cannot create the event loop");
    {
        const char *addr = qvd_config_get(a.cfg, "api.address");
        if (addr && *addr && (a.ssl_ctx = qvd_tls_server_ctx(a.cfg, "api")) == NULL)
            qvd_fatal("%s", qvd_strerror());
    }
    if (open_tcp(&a) < 0 || open_unix(&a) < 0)
        qvd_fatal("%s", qvd_strerror());
    if (a.nlisteners == 0)
        qvd_fatal("neither api.address nor api.socket is set: nothing to listen on");
    /* the loop holds no connection: the workers have theirs (the live feed's looks too) */
    struct qvd_db *db = qvd_db_open(a.cfg);
    if (db == NULL || qvd_db_migrate(db) < 0)
        qvd_fatal("%s", qvd_strerror());
    qvd_db_close(db);
    if (qvd_daemon_drop(a.cfg, "api.user") < 0)
        qvd_fatal("%s", qvd_strerror());
    if ((db = qvd_db_open(a.cfg)) == NULL)
        qvd_fatal("cannot open the database as api.user: %s", qvd_strerror());
    qvd_db_close(db);
    qvd_acl_count(); /* build the ACL catalogue before the threads */
    threads = qvd_config_int(a.cfg, "api.threads");
    if (api_pool_start(&a, (int)threads) < 0)
        qvd_fatal("%s", qvd_strerror());
    api_feed_start(&a);
    /* last: sockets, key, database and threads are all there; DI imports run cp(1) */
    if (qvd_config_bool(a.cfg, "api.seccomp") && qvd_sandbox_apply(QVD_SANDBOX_EXEC) < 0)
        qvd_fatal("%s (api.seccomp = 0 runs without the filter)", qvd_strerror());
    a.sig_term = evsignal_new(a.base, SIGTERM, on_signal, &a);
    a.sig_int = evsignal_new(a.base, SIGINT, on_signal, &a);
    event_add(a.sig_term, NULL);
    event_add(a.sig_int, NULL);
    log_info("listening on %s port %s (TLS) and %s", qvd_config_get(a.cfg, "api.address"),
             qvd_config_get(a.cfg, "api.port"), a.socket_path ? a.socket_path : "no socket");

    event_base_dispatch(a.base);

    for (size_t i = 0; i < a.nlisteners; i++)
        evconnlistener_free(a.listeners[i]);
    api_conn_close_all(&a);
    api_pool_stop(&a);
    api_feed_stop(&a);
    event_free(a.sig_term);
    event_free(a.sig_int);
    event_base_free(a.base);
    if (a.ssl_ctx)
        SSL_CTX_free(a.ssl_ctx);
    if (a.socket_path) {
        unlink(a.socket_path);
        free(a.socket_path);
    }
    qvd_throttle_free(a.throttle);
    qvd_config_free(a.cfg);
    log_info("stopped");
    return 0;
}

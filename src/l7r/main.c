/* main.c: qvd-l7r start-up (configuration, listening sockets, TLS key, database access for
 * the unprivileged user, privilege drop, worker threads, seccomp filter), the host row,
 * wake-ups, signals and shutdown. Once the loop runs, its own database connection only
 * listens for wake-ups: every query is a job for the workers (work.c). */
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "daemon.h"
#include "db.h"
#include "err.h"
#include "l7r.h"
#include "password.h"
#include "sandbox.h"
#include "throttle.h"
#include "log.h"
#include "model.h"
#include "model_l7r.h"
#include "tls.h"
#include "util.h"

/* What the node's row said: the host id, usable or why not. */
static void
host_seen(struct l7r *l, int rc, int64_t host_id, const char *msg)
{
    if (host_id >= 0)
        l->host_id = host_id;
    l->host_ok = rc == 0;
    snprintf(l->host_msg, sizeof(l->host_msg), "%s", rc == 0 ? "" : msg);
}

struct host_job {
    struct l7r_job j;
    int rc;
    bool db_ok; /* the database answered (whatever the row said) */
    int64_t host_id;
    bool stale_released;
    char msg[256];
};

static void
host_run(struct l7r_job *job, struct qvd_db *db)
{
    struct host_job *h = (struct host_job *)job;

    h->rc = qvd_model_l7r_host(db, job->l->nodename, &h->host_id);
    h->db_ok = h->rc == 0 ||
               (qvd_model_errkind() != QVD_MODEL_BUSY && qvd_model_errkind() != QVD_MODEL_INTERNAL);
    if (h->rc < 0)
        snprintf(h->msg, sizeof(h->msg), "%s", qvd_strerror());
}

static void registered(struct l7r *l);
static void listen_wake(struct l7r *l);

static void
host_done(struct l7r_job *job)
{
    struct host_job *h = (struct host_job *)job;
    struct l7r *l = job->l;
    bool first = l->host_id < 0 && h->host_id >= 0;

    l->host_job = false;
    host_seen(l, h->rc, h->host_id, h->msg);
    /* the database answers: listen (again, after a failover took the connection); the
     * connect runs on the loop, so never while the database may not answer */
    if (h->db_ok)
        listen_wake(l);
    free(h);
    if (first)
        registered(l); /* known now: slots, aborts */
}

void
l7r_host_refresh(struct l7r *l)
{
    struct host_job *h;

    if (l->host_job || l->pool == NULL)
        return;
    h = qvd_xcalloc(1, sizeof(*h));
    h->j.run = host_run;
    h->j.done = host_done;
    l->host_job = true;
    l7r_work(l, &h->j, NULL);
}

/* Slots of this host held by an earlier L7R (crashed) cannot be anyone's now. */
static void
stale_run(struct l7r_job *job, struct qvd_db *db)
{
    int64_t n = qvd_model_l7r_release_stale(db, job->host_id, job->pid);

    if (n > 0)
        log_info("released %lld user slots left by a previous L7R", (long long)n);
    else if (n < 0)
        log_warn("releasing the slots of a previous L7R: %s", qvd_strerror());
}

static void
stale_done(struct l7r_job *job)
{
    free(job);
}

static void
release_stale_slots(struct l7r *l)
{
    struct l7r_job *j = qvd_xcalloc(1, sizeof(*j));

    j->run = stale_run;
    j->done = stale_done;
    l7r_work_ordered(l, j, NULL);
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct l7r *l = arg;

    if (qvd_db_drain(l->db, &l->wake_fd) == 1) {
        /* its connection is lost (a failover): the next host refresh that the database
         * answers listens again */
        event_free(l->wake_ev);
        l->wake_ev = NULL;
    }
    l7r_session_check_aborts(l);
    l7r_session_wake(l);
}

/* Listens on the user-command channel of the node, on the loop's own connection, once the
 * node is known and while no connection listens. */
static void
listen_wake(struct l7r *l)
{
    char chan[64];

    if (l->host_id < 0 || l->stopping || l->wake_fd >= 0)
        return;
    snprintf(chan, sizeof(chan), QVD_CHAN_USER_CMD, (long long)l->host_id);
    l->wake_fd = qvd_db_listen(l->db, chan);
    if (l->wake_fd < 0) {
        log_warn("cannot listen for user commands: %s (polling only)", qvd_strerror());
        return;
    }
    l->wake_ev = event_new(l->base, l->wake_fd, EV_READ | EV_PERSIST, on_wake, l);
    event_add(l->wake_ev, NULL);
}

/* Once the node is known: free an earlier L7R's slots (once) and look for aborted sessions
 * (a lost wake-up only delays). */
static void
registered(struct l7r *l)
{
    if (l->host_id < 0 || l->stopping)
        return; /* host_done comes back here once known */
    if (!l->stale_done) {
        l->stale_done = true;
        release_stale_slots(l);
    }
    l7r_session_check_aborts(l);
}

/* Every few seconds (l7r.user_cmd.poll): the node's row read again, then as above. */
static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct l7r *l = arg;

    if (l->stopping)
        return; /* draining the jobs: nothing new */
    l7r_host_refresh(l);
    registered(l);
}

static void
on_grace_end(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(((struct l7r *)arg)->base);
}

/* The first SIGTERM/SIGINT ends every session, recording that the server shuts down, and
 * keeps answering /qvd/session_end (only) for l7r.shutdown.grace seconds, so that the
 * clients just cut off can learn why; a second signal, the grace's end, or no relayed
 * session to explain, exits. */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct l7r *l = arg;
    struct l7r_conn *c;
    struct timeval tv = {l->t_grace, 0};
    size_t relayed = 0;

    TAILQ_FOREACH(c, &l->conns, entry)
    relayed += c->relay != NULL;
    if (l->stopping || l->t_grace <= 0 || relayed == 0) {
        log_info("signal %d: stopping now", (int)sig);
        l->stopping = true;
        event_base_loopbreak(l->base);
        return;
    }
    log_info("signal %d: closing %zu connections (%zu sessions), stopping in %ld s", (int)sig,
             l->nconns, relayed, l->t_grace);
    l->stopping = true;
    TAILQ_FOREACH(c, &l->conns, entry)
    l7r_session_set_end(c, "server_shutdown");
    l7r_conn_close_all(l);
    l->grace_ev = evtimer_new(l->base, on_grace_end, l);
    evtimer_add(l->grace_ev, &tv);
}

static void
on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    l7r_conn_accept(arg, fd, sa, salen);
}

static void
resume_accepting(evutil_socket_t fd, short what, void *arg)
{
    struct l7r *l = arg;

    if (l->stopping)
        return;
    for (size_t i = 0; i < l->nlisteners; i++)
        evconnlistener_enable(l->listeners[i]);
}

/* Out of file descriptors, the waiting connection stays in the backlog and the listener
 * would fire again at once: accepting pauses for a second instead of spinning. */
static void
on_accept_error(struct evconnlistener *lis, void *arg)
{
    struct l7r *l = arg;
    int err = errno;
    struct timeval tv = {1, 0};

    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
        log_warn("accept: %s", strerror(err));
        return;
    }
    log_warn("accept: %s (%zu connections open): not accepting for 1 s", strerror(err), l->nconns);
    for (size_t i = 0; i < l->nlisteners; i++)
        evconnlistener_disable(l->listeners[i]);
    if (l->accept_pause == NULL)
        l->accept_pause = evtimer_new(l->base, resume_accepting, l);
    evtimer_add(l->accept_pause, &tv);
}

/* A relayed session holds two descriptors (client and VMA): the soft limit (often 1024)
 * would cap a node at ~500 sessions. Raised, as root before the drop, to what
 * l7r.max_connections needs. */
static void
raise_fd_limit(struct l7r *l)
{
    struct rlimit r;
    rlim_t want = (rlim_t)l->max_conns * 2 + 64;

    if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur >= want)
        return;
    struct rlimit n = {want, r.rlim_max >= want ? r.rlim_max : want};
    if (setrlimit(RLIMIT_NOFILE, &n) < 0) {
        n = (struct rlimit){r.rlim_max, r.rlim_max}; /* unprivileged: up to the hard limit */
        setrlimit(RLIMIT_NOFILE, &n);
    }
    getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur < want)
        log_warn("file descriptors limited to %llu: about %llu sessions at most, not the %ld of"
                 " l7r.max_connections (raise the hard limit, e.g. LimitNOFILE=)",
                 (unsigned long long)r.rlim_cur,
                 (unsigned long long)(r.rlim_cur > 64 ? (r.rlim_cur - 64) / 2 : 0), l->max_conns);
    else
        log_info("file descriptors: up to %llu", (unsigned long long)r.rlim_cur);
}

/* Binds every address of l7r.address:l7r.port ('*' = all). */
static int
open_listeners(struct l7r *l)
{
    const char *addr = qvd_config_get(l->cfg, "l7r.address");
    const char *port = qvd_config_get(l->cfg, "l7r.port");
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai, *a;
    int rc;

    if (addr == NULL || *addr == '\0' || strcmp(addr, "*") == 0)
        addr = NULL;
    rc = getaddrinfo(addr, port ? port : "8443", &hints, &ai);
    if (rc != 0)
        return qvd_seterr("l7r.address %s: %s", addr ? addr : "*", gai_strerror(rc));
    for (a = ai; a && l->nlisteners < L7R_MAX_LISTENERS; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (a->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
            qvd_seterr("cannot listen on %s port %s: %s", addr ? addr : "*", port, strerror(errno));
            close(fd);
            continue;
        }
        l->listeners[l->nlisteners] =
            evconnlistener_new(l->base, on_accept, l, LEV_OPT_CLOSE_ON_FREE, -1, fd);
        evconnlistener_set_error_cb(l->listeners[l->nlisteners], on_accept_error);
        l->nlisteners++;
    }
    freeaddrinfo(ai);
    return l->nlisteners > 0 ? 0 : -1;
}

/* After the drop: the database answers and the HKD's wake-up socket can be written. */
static int
check_access(struct l7r *l)
{
    const char *run = qvd_config_get(l->cfg, "path.run");
    char *p;
    int rc = 0;

    if (qvd_model_l7r_check_access(l->db) < 0)
        return qvd_seterr("the database is not usable as l7r.user: %s", qvd_strerror());
    if (!l->db->ops->wake_files)
        return 0; /* LISTEN/NOTIFY: nothing on disk */
    p = qvd_xasprintf("%s/wake", run ? run : "/var/run/qvd");
    if (access(p, W_OK | X_OK) < 0)
        rc =
            qvd_seterr("the wake-up folder %s is not writable as l7r.user: %s", p, strerror(errno));
    free(p);
    if (rc == 0 && l->host_id >= 0) {
        p = qvd_xasprintf("%s/wake/" QVD_CHAN_VM_CMD, run ? run : "/var/run/qvd",
                          (long long)l->host_id);
        if (access(p, F_OK) == 0 && access(p, W_OK) < 0)
            rc = qvd_seterr("the HKD's wake-up socket %s is not writable as l7r.user", p);
        free(p);
    }
    return rc;
}

static void
load_timeouts(struct l7r *l)
{
    l->t_request = qvd_config_int(l->cfg, "l7r.timeout.request");
    l->t_idle = qvd_config_int(l->cfg, "l7r.timeout.idle");
    l->t_vm_start = qvd_config_int(l->cfg, "l7r.timeout.vm_start");
    l->vm_start_poll_ms = qvd_config_int(l->cfg, "l7r.vm_start.poll");
    if (l->vm_start_poll_ms < 10)
        l->vm_start_poll_ms = 10; /* a poll, never a busy loop */
    l->t_vm_stop = qvd_config_int(l->cfg, "l7r.timeout.vm_stop");
    l->t_takeover = qvd_config_int(l->cfg, "l7r.timeout.takeover");
    l->t_x_start = qvd_config_int(l->cfg, "l7r.timeout.x_start");
    l->t_vma = qvd_config_int(l->cfg, "l7r.timeout.vma");
    l->x_start_retries = qvd_config_int(l->cfg, "l7r.retry.x_start");
    l->max_conns = qvd_config_int(l->cfg, "l7r.max_connections");
    l->t_grace = qvd_config_int(l->cfg, "l7r.shutdown.grace");
}

int
main(int argc, char **argv)
{
    struct l7r l_s = {.wake_fd = -1, .host_id = -1}, *l = &l_s;
    const char *name;
    struct timeval tv;

    umask(077); /* what it makes is its own unless it says otherwise (docs/security.md) */
    l->cfg = qvd_daemon_start("qvd-l7r", argc, argv);
    TAILQ_INIT(&l->conns);
    TAILQ_INIT(&l->endings);
    l->pid = getpid();
    l->auth = &l7r_auth_default;
    load_timeouts(l);
    name = qvd_config_get(l->cfg, "nodename");
    if (name == NULL || *name == '\0') {
        if (gethostname(l->nodename, sizeof(l->nodename) - 1) < 0)
            qvd_fatal("nodename is not set and the hostname is unknown");
    } else {
        snprintf(l->nodename, sizeof(l->nodename), "%s", name);
    }
    l->throttle = qvd_throttle_new(qvd_config_int(l->cfg, "l7r.auth.throttle.failures"),
                                   qvd_config_int(l->cfg, "l7r.auth.throttle.window"), 0);
    l->throttle_v6_prefix = (int)qvd_config_int(l->cfg, "l7r.auth.throttle.ipv6.prefix");
    if (l->throttle_v6_prefix < 1 || l->throttle_v6_prefix > 128)
        qvd_fatal("l7r.auth.throttle.ipv6.prefix must be a prefix length from 1 to 128");
    /* made now, not on the first unknown login, which would then take twice as long */
    if (qvd_password_dummy(l->cfg) == NULL)
        qvd_fatal("%s", qvd_strerror());

    /* privileged part: sockets, key, file access */
    l->base = event_base_new();
    if (l->base == NULL)
        qvd_fatal("cannot create the event loop");
    if (qvd_config_bool(l->cfg, "l7r.use_ssl")) {
        l->ssl_ctx = qvd_tls_server_ctx(l->cfg, "l7r");
        if (l->ssl_ctx == NULL)
            qvd_fatal("%s", qvd_strerror());
    } else {
        log_warn("l7r.use_ssl=0: serving plain HTTP (debugging only)");
    }
    raise_fd_limit(l);
    if (open_listeners(l) < 0)
        qvd_fatal("%s", qvd_strerror());
    l->db = qvd_db_open(l->cfg);
    if (l->db == NULL || qvd_db_migrate(l->db) < 0)
        qvd_fatal("%s", qvd_strerror());
    if (qvd_daemon_drop(l->cfg, "l7r.user") < 0)
        qvd_fatal("%s", qvd_strerror());
    /* reopen as the unprivileged user: what works now keeps working */
    qvd_db_close(l->db);
    l->db = qvd_db_open(l->cfg);
    if (l->db == NULL)
        qvd_fatal("cannot open the database as l7r.user: %s", qvd_strerror());
    /* before the loop: the one wait on the database outside the workers */
    int64_t host_id = -1;
    int rc = qvd_model_l7r_host(l->db, l->nodename, &host_id);
    host_seen(l, rc, host_id, qvd_strerror());
    if (check_access(l) < 0)
        qvd_fatal("%s", qvd_strerror());
    /* after the drop: the threads run as l7r.user too, each with its own connection; they
     * mostly wait on the database, so at least 4 */
    long workers = qvd_config_int(l->cfg, "l7r.auth.threads");
    if (workers <= 0)
        workers = sysconf(_SC_NPROCESSORS_ONLN) < 4 ? 4 : sysconf(_SC_NPROCESSORS_ONLN);
    if (l7r_work_start(l, (int)workers) < 0)
        qvd_fatal("%s", qvd_strerror());
    /* last: sockets, key, database and threads are all there */
    if (qvd_config_bool(l->cfg, "l7r.seccomp") && qvd_sandbox_apply(0) < 0)
        qvd_fatal("%s (l7r.seccomp = 0 runs without the filter)", qvd_strerror());
    if (l->host_id < 0)
        log_warn("node '%s' is not registered yet (is qvd-hkd running?): answering 503",
                 l->nodename);

    l->poll_ev = event_new(l->base, -1, EV_PERSIST, on_poll, l);
    tv = (struct timeval){qvd_config_int(l->cfg, "l7r.user_cmd.poll"), 0};
    event_add(l->poll_ev, &tv);
    l->sig_term = evsignal_new(l->base, SIGTERM, on_signal, l);
    l->sig_int = evsignal_new(l->base, SIGINT, on_signal, l);
    event_add(l->sig_term, NULL);
    event_add(l->sig_int, NULL);
    on_poll(-1, 0, l);
    log_info("node '%s': listening on %s port %s (%s)", l->nodename,
             qvd_config_get(l->cfg, "l7r.address"), qvd_config_get(l->cfg, "l7r.port"),
             l->ssl_ctx ? "TLS" : "plain HTTP");

    event_base_dispatch(l->base);

    for (size_t i = 0; i < l->nlisteners; i++)
        evconnlistener_free(l->listeners[i]);
    l->stopping = true;
    l7r_conn_close_all(l);
    l7r_ending_free_all(l);
    /* the slots' releases and the endings' records still queued: a stalled database gets
     * the grace (at least 5 s), then the next L7R frees what is left (release_stale_slots) */
    l7r_work_drain(l, l->t_grace > 5 ? l->t_grace : 5);
    l7r_work_stop(l);
    if (l->grace_ev)
        event_free(l->grace_ev);
    if (l->wake_ev)
        event_free(l->wake_ev);
    /* wake_fd belongs to the database connection, closed with it */
    event_free(l->poll_ev);
    if (l->accept_pause)
        event_free(l->accept_pause);
    event_free(l->sig_term);
    event_free(l->sig_int);
    event_base_free(l->base);
    if (l->ssl_ctx)
        SSL_CTX_free(l->ssl_ctx);
    qvd_throttle_free(l->throttle);
    qvd_db_close(l->db);
    qvd_config_free(l->cfg);
    log_info("stopped");
    return 0;
}

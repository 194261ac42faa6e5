/* server.c: the VMA's HTTP front: Bearer-secret check, SimpleRPC methods, and the
 * x_connect upgrade that hands the connection to the relay into nxagent. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "err.h"
#include "log.h"
#include "rpc.h"
#include "util.h"
#include "vma.h"

#define RPC_CTYPE "application/json-simplerpc"

struct conn {
    struct bufferevent *bev;
    struct qvd_http_parser *parser;
    char peer[64];
    bool closing;              /* close once the output is flushed */
    bool poweroff;             /* shut the VM down once the answer is out */
    struct bufferevent *agent; /* x_connect: connection to nxagent being made */
};

static void
conn_free(struct conn *c)
{
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->agent)
        bufferevent_free(c->agent);
    qvd_http_parser_free(c->parser);
    free(c);
}

static void
answer(struct conn *c, int status, const char *ctype, const char *body)
{
    qvd_http_evbuffer_response(bufferevent_get_output(c->bev), status, NULL, ctype, body,
                               body ? strlen(body) : 0);
}

static void
answer_rpc(struct conn *c, json_t *result, const char *err)
{
    struct qvd_buf b = QVD_BUF_INIT;
    qvd_rpc_encode(&b, result, err);
    answer(c, 200, RPC_CTYPE, b.data);
    qvd_buf_free(&b);
}

static void
m_ping(struct conn *c, const struct qvd_http_msg *m)
{
    json_t *r = json_string("ok");
    answer_rpc(c, r, NULL);
    json_decref(r);
}

static void
m_x_state(struct conn *c, const struct qvd_http_msg *m)
{
    json_t *r = json_string(session_state_name(session_state()));
    answer_rpc(c, r, NULL);
    json_decref(r);
}

static void
answer_rc(struct conn *c, int rc)
{
    if (rc < 0) {
        answer_rpc(c, NULL, qvd_strerror());
        return;
    }
    json_t *r = json_string("ok");
    answer_rpc(c, r, NULL);
    json_decref(r);
}

/* Errors that waiting cannot mend start with "refused: ": the L7R answers its client at
 * once instead of retrying (QVD's L7R simply retries them all). An invalid parameter
 * (params.c) is one of them, in any state. */
static void
m_x_start(struct conn *c, const struct qvd_http_msg *m)
{
    int rc = vma_check_params(m->params, m->nparams) < 0 ? VMA_REFUSED
                                                         : session_start(m->params, m->nparams);

    if (rc == VMA_REFUSED) {
        char *e = qvd_xasprintf("refused: %s", qvd_strerror());
        log_warn("x_start: %s (from %s; refused for good)", qvd_strerror(), c->peer);
        answer_rpc(c, NULL, e);
        free(e);
        return;
    }
    if (rc < 0)
        log_warn("x_start: %s", qvd_strerror());
    answer_rc(c, rc);
}

static void
m_x_end(struct conn *c, const struct qvd_http_msg *m)
{
    json_t *r = ending_json();

    json_object_set_new(r, "state", json_string(session_state_name(session_state())));
    answer_rpc(c, r, NULL);
    json_decref(r);
}

static void
m_x_suspend(struct conn *c, const struct qvd_http_msg *m)
{
    answer_rc(c, session_suspend());
}

static void
m_x_stop(struct conn *c, const struct qvd_http_msg *m)
{
    answer_rc(c, session_stop());
}

static void
m_poweroff(struct conn *c, const struct qvd_http_msg *m)
{
    log_info("poweroff requested by %s", c->peer);
    answer_rc(c, 0);
    c->poweroff = true;
    c->closing = true;
}

static const struct method {
    const char *name;
    void (*fn)(struct conn *, const struct qvd_http_msg *);
} methods[] = {
    {"ping", m_ping},           {"x_state", m_x_state}, {"x_start", m_x_start},
    {"x_suspend", m_x_suspend}, {"x_stop", m_x_stop},   {"poweroff", m_poweroff},
    {"x_end", m_x_end},
};

static bool
authorized(struct conn *c, const struct qvd_http_msg *m)
{
    const char *h = qvd_http_msg_header(m, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0 && qvd_secret_equal(h + 7, vma.secret))
        return true;
    log_warn("request %s from %s refused: %s secret", m->path, c->peer, h ? "wrong" : "no");
    return false;
}

static void conn_read(struct bufferevent *bev, void *arg);

static void
agent_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        log_info("x_connect from %s: relaying to nxagent", c->peer);
        qvd_http_evbuffer_response(
            bufferevent_get_output(c->bev), 101,
            (const char *const[]){"Connection", "Upgrade", "Upgrade", "QVD/1.0", NULL}, NULL, NULL,
            0);
        /* the relay owns both sockets now; bytes after the request head go to nxagent */
        bufferevent_set_timeouts(c->bev, NULL, NULL);
        relay_start(c->bev, c->agent);
        c->bev = c->agent = NULL;
        conn_free(c);
        return;
    }
    log_warn("x_connect from %s: nxagent unreachable", c->peer);
    bufferevent_free(c->agent);
    c->agent = NULL;
    answer(c, 502, RPC_CTYPE, "\"\",\"nxagent unreachable\"\r\n");
    c->closing = true;
    bufferevent_enable(c->bev, EV_WRITE);
}

static void
x_connect(struct conn *c, const struct qvd_http_msg *m)
{
    if (session_state() != VMA_LISTENING) {
        char *e = qvd_xasprintf("no session waiting for a connection (state %s)",
                                session_state_name(session_state()));
        struct qvd_buf b = QVD_BUF_INIT;
        qvd_rpc_encode(&b, NULL, e);
        answer(c, 409, RPC_CTYPE, b.data);
        qvd_buf_free(&b);
        free(e);
        c->closing = true;
        return;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(4000 + vma.display),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    c->agent = bufferevent_socket_new(vma.base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->agent, NULL, NULL, agent_event, c);
    bufferevent_disable(c->bev, EV_READ); /* stream bytes wait in the input buffer */
    if (bufferevent_socket_connect(c->agent, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        bufferevent_free(c->agent);
        c->agent = NULL;
        answer(c, 502, RPC_CTYPE, "\"\",\"nxagent unreachable\"\r\n");
        c->closing = true;
    }
}

/* Handles one complete request. Returns false when the connection left this module. */
static bool
handle(struct conn *c, const struct qvd_http_msg *m)
{
    if (!authorized(c, m)) {
        qvd_http_evbuffer_response(bufferevent_get_output(c->bev), 401,
                                   (const char *const[]){"WWW-Authenticate", "Bearer", NULL},
                                   "text/plain", "authentication required\n", 24);
        c->closing = !m->keep_alive;
        return true;
    }
    if (strncmp(m->path, "/vma/", 5) == 0) {
        const char *name = m->path + 5;
        if (strcmp(name, "x_connect") == 0) {
            if (!m->upgrade || !qvd_http_msg_header(m, "Upgrade") ||
                strcasecmp(qvd_http_msg_header(m, "Upgrade"), "QVD/1.0") != 0) {
                answer(c, 400, "text/plain",
                       "x_connect needs Connection: Upgrade, Upgrade: QVD/1.0\n");
                c->closing = true;
                return true;
            }
            x_connect(c, m);
            return !c->agent ? true : false;
        }
        for (size_t i = 0; i < QVD_ARRAY_LEN(methods); i++)
            if (strcmp(name, methods[i].name) == 0) {
                log_debug("%s from %s", name, c->peer);
                methods[i].fn(c, m);
                if (!m->keep_alive)
                    c->closing = true;
                return true;
            }
    }
    answer(c, 404, "text/plain", "no such method\n");
    c->closing = c->closing || !m->keep_alive;
    return true;
}

static void
conn_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (!c->closing || evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        return;
    bool off = c->poweroff;
    conn_free(c);
    if (off)
        vma_shutdown();
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!c->closing && evbuffer_get_length(in) > 0) {
        size_t len = evbuffer_get_length(in), used = 0;
        const char *data = (const char *)evbuffer_pullup(in, -1);
        enum qvd_http_result r = qvd_http_parser_feed(c->parser, data, len, &used);
        evbuffer_drain(in, used);
        if (r == QVD_HTTP_NEED_MORE)
            return;
        if (r != QVD_HTTP_COMPLETE) {
            int st = qvd_http_parser_error_status(c->parser);
            log_warn("bad request from %s: %s", c->peer, qvd_strerror());
            answer(c, st, "text/plain", "bad request\n");
            c->closing = true;
            break;
        }
        if (!handle(c, qvd_http_parser_msg(c->parser)))
            return; /* waiting for nxagent, then relayed */
    }
    if (c->closing) {
        bufferevent_disable(bev, EV_READ);
        conn_write(bev, c);
    }
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_free(arg);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    struct conn *c = qvd_xcalloc(1, sizeof(*c));
    c->bev = bufferevent_socket_new(vma.base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->parser = qvd_http_parser_new(QVD_HTTP_REQUEST);
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
    snprintf(c->peer, sizeof(c->peer), "%s", host);
    /* idle or slow clients of the API are dropped (the relay has no such limit) */
    struct timeval tv = {60, 0};
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int
server_start(void)
{
    const char *addr = qvd_config_get(vma.cfg, "vma.address");
    long port = qvd_config_int(vma.cfg, "internal.vm.port.vma");
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    char spec[128];
    snprintf(spec, sizeof(spec), strchr(addr, ':') ? "[%s]:%ld" : "%s:%ld", addr, port);
    if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) < 0)
        return qvd_seterr("bad listen address %s", spec);
    struct evconnlistener *l =
        evconnlistener_new_bind(vma.base, on_accept, NULL,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                64, (struct sockaddr *)&ss, sslen);
    if (!l)
        return qvd_seterr("cannot listen on %s: %s", spec, strerror(errno));
    log_info("listening on %s", spec);
    return 0;
}

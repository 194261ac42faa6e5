/* rpc.c: SimpleRPC client (async on libevent, blocking) and the authenticated upgrade call. */
#include "rpc.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "http.h"

#define RPC_CTYPE "application/json-simplerpc"

enum qvd_rpc_status
qvd_rpc_decode(const char *body, size_t len, json_t **result, char **error)
{
    *result = NULL;
    *error = NULL;
    struct qvd_buf b = QVD_BUF_INIT;
    qvd_buf_addc(&b, '[');
    qvd_buf_add(&b, body, len);
    qvd_buf_addc(&b, ']');
    json_error_t jerr;
    json_t *arr = json_loadb(b.data, b.len, 0, &jerr);
    qvd_buf_free(&b);
    enum qvd_rpc_status st = QVD_RPC_FAIL;
    if (!arr || !json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > 2) {
        *error = qvd_xstrdup("malformed SimpleRPC answer");
    } else if (json_array_size(arr) == 1) {
        *result = json_incref(json_array_get(arr, 0));
        st = QVD_RPC_OK;
    } else {
        json_t *e = json_array_get(arr, 1);
        *error = qvd_xstrdup(json_is_string(e) ? json_string_value(e) : "unknown error");
        st = QVD_RPC_ERROR;
    }
    json_decref(arr);
    return st;
}

void
qvd_rpc_encode(struct qvd_buf *b, const json_t *result, const char *err)
{
    json_t *tmp = NULL;
    if (err) {
        qvd_buf_adds(b, "\"\",");
        result = tmp = json_string(err);
        if (!tmp) /* not UTF-8 */
            result = tmp = json_string("error");
    }
    char *s = json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ENSURE_ASCII);
    qvd_buf_adds(b, s ? s : "null");
    qvd_buf_adds(b, "\r\n");
    free(s);
    json_decref(tmp);
}

/* The request text of a call. */
static void
build_request(struct qvd_buf *req, const struct qvd_rpc_target *t, const char *target,
              const char *const *extra)
{
    struct qvd_buf auth = QVD_BUF_INIT;
    if (t->secret)
        qvd_buf_printf(&auth, "Bearer %s", t->secret);
    const char *hdrs[32] = {"Host", t->host};
    size_t n = 2;
    if (t->secret) {
        hdrs[n++] = "Authorization";
        hdrs[n++] = auth.data;
    }
    for (size_t i = 0; extra && extra[i] && extra[i + 1] && n + 2 < QVD_ARRAY_LEN(hdrs); i += 2) {
        hdrs[n++] = extra[i];
        hdrs[n++] = extra[i + 1];
    }
    hdrs[n] = NULL;
    qvd_http_write_request(req, "GET", target, hdrs);
    if (auth.data)
        qvd_wipe(auth.data, auth.len);
    qvd_buf_free(&auth);
}

static char *
method_target(const char *method, const char *const *params)
{
    struct qvd_buf b = QVD_BUF_INIT;
    qvd_buf_adds(&b, "/vma/");
    qvd_http_urlencode(&b, method);
    qvd_http_append_query(&b, params);
    return qvd_buf_steal(&b);
}

/* Interprets a complete response of a call. */
static enum qvd_rpc_status
answer_status(const struct qvd_http_msg *m, json_t **result, char **error)
{
    if (m->status != 200) {
        *result = NULL;
        *error = qvd_xasprintf("HTTP %d %s: %.200s", m->status, m->reason ? m->reason : "",
                               qvd_buf_str((struct qvd_buf *)&m->body));
        return QVD_RPC_FAIL;
    }
    return qvd_rpc_decode(m->body.data ? m->body.data : "", m->body.len, result, error);
}

/* ---- asynchronous ---- */

struct qvd_rpc_call {
    struct bufferevent *bev;
    struct event *timer;
    struct qvd_http_parser *parser;
    qvd_rpc_cb cb;
    qvd_rpc_upgrade_cb upgrade_cb; /* set for an upgrade call instead of cb */
    void *arg;
};

void
qvd_rpc_call_cancel(struct qvd_rpc_call *c)
{
    if (!c)
        return;
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->timer)
        event_free(c->timer);
    qvd_http_parser_free(c->parser);
    free(c);
}

static void
call_done(struct qvd_rpc_call *c, enum qvd_rpc_status st, json_t *result, const char *error)
{
    if (c->upgrade_cb)
        c->upgrade_cb(-1, NULL, error ? error : "upgrade failed", c->arg);
    else
        c->cb(st, result, error, c->arg);
    qvd_rpc_call_cancel(c);
}

/* An upgrade call got its final answer: hand the stream over on 101, else fail. */
static void
upgrade_finish_msg(struct qvd_rpc_call *c)
{
    const struct qvd_http_msg *m = qvd_http_parser_msg(c->parser);
    if (m->status != 101) {
        char *msg =
            qvd_xasprintf("upgrade refused: HTTP %d %s: %.200s", m->status,
                          m->reason ? m->reason : "", qvd_buf_str((struct qvd_buf *)&m->body));
        call_done(c, QVD_RPC_FAIL, NULL, msg);
        free(msg);
        return;
    }
    struct bufferevent *bev = c->bev;
    c->bev = NULL;
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    c->upgrade_cb(0, bev, NULL, c->arg);
    qvd_rpc_call_cancel(c);
}

static void
call_finish_msg(struct qvd_rpc_call *c)
{
    if (c->upgrade_cb) {
        upgrade_finish_msg(c);
        return;
    }
    json_t *result;
    char *error;
    enum qvd_rpc_status st = answer_status(qvd_http_parser_msg(c->parser), &result, &error);
    call_done(c, st, result, error);
    json_decref(result);
    free(error);
}

static void
call_read(struct bufferevent *bev, void *arg)
{
    struct qvd_rpc_call *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t len = evbuffer_get_length(in), used = 0;
        if (len == 0)
            return;
        const char *data = (const char *)evbuffer_pullup(in, -1);
        enum qvd_http_result r = qvd_http_parser_feed(c->parser, data, len, &used);
        evbuffer_drain(in, used);
        if (r == QVD_HTTP_NEED_MORE)
            return;
        if (r == QVD_HTTP_ERROR) {
            call_done(c, QVD_RPC_FAIL, NULL, qvd_strerror());
            return;
        }
        if (r == QVD_HTTP_COMPLETE) {
            call_finish_msg(c);
            return;
        }
        /* INTERIM: go on with the rest */
    }
}

static void
call_event(struct bufferevent *bev, short what, void *arg)
{
    struct qvd_rpc_call *c = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (what & BEV_EVENT_EOF) {
        if (qvd_http_parser_eof(c->parser) == QVD_HTTP_COMPLETE) {
            call_finish_msg(c);
            return;
        }
        call_done(c, QVD_RPC_FAIL, NULL, "connection closed before the answer");
        return;
    }
    char msg[256];
    int err = EVUTIL_SOCKET_ERROR();
    snprintf(msg, sizeof(msg), "connection failed: %s", evutil_socket_error_to_string(err));
    call_done(c, QVD_RPC_FAIL, NULL, msg);
}

static void
call_timeout(evutil_socket_t fd, short what, void *arg)
{
    call_done(arg, QVD_RPC_FAIL, NULL, "timed out");
}

static struct addrinfo *
resolve(const char *host, int port)
{
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc != 0) {
        qvd_seterr("cannot resolve %s: %s", host, gai_strerror(rc));
        return NULL;
    }
    return ai;
}

/* Starts one asynchronous exchange: connect, send `req`, parse the answer. */
static struct qvd_rpc_call *
call_start(struct event_base *base, const struct qvd_rpc_target *t, struct qvd_rpc_call *c,
           struct qvd_buf *req)
{
    struct addrinfo *ai = resolve(t->host, t->port);
    if (!ai) {
        qvd_rpc_call_cancel(c);
        return NULL;
    }
    c->parser = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    c->timer = evtimer_new(base, call_timeout, c);
    if (!c->bev || !c->timer) {
        freeaddrinfo(ai);
        qvd_rpc_call_cancel(c);
        qvd_seterr("out of event resources");
        return NULL;
    }
    bufferevent_setcb(c->bev, call_read, NULL, call_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    bufferevent_write(c->bev, req->data, req->len);
    struct timeval tv = {t->timeout_ms / 1000, (t->timeout_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    int rc = bufferevent_socket_connect(c->bev, ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc < 0) {
        qvd_rpc_call_cancel(c);
        qvd_seterr("cannot connect to %s:%d", t->host, t->port);
        return NULL;
    }
    return c;
}

struct qvd_rpc_call *
qvd_rpc_call_async(struct event_base *base, const struct qvd_rpc_target *t, const char *method,
                   const char *const *params, qvd_rpc_cb cb, void *arg)
{
    struct qvd_rpc_call *c = qvd_xcalloc(1, sizeof(*c));
    c->cb = cb;
    c->arg = arg;
    char *target = method_target(method, params);
    struct qvd_buf req = QVD_BUF_INIT;
    build_request(&req, t, target, NULL);
    free(target);
    c = call_start(base, t, c, &req);
    qvd_wipe(req.data, req.len);
    qvd_buf_free(&req);
    return c;
}

/* The extra headers of an upgrade request: Connection, Upgrade, then the caller's. */
static void
upgrade_headers(const char **hdrs, size_t max, const char *proto, const char *const *headers)
{
    size_t n = 4;
    hdrs[0] = "Connection";
    hdrs[1] = "Upgrade";
    hdrs[2] = "Upgrade";
    hdrs[3] = proto;
    for (size_t i = 0; headers && headers[i] && headers[i + 1] && n + 2 < max; i += 2) {
        hdrs[n++] = headers[i];
        hdrs[n++] = headers[i + 1];
    }
    hdrs[n] = NULL;
}

struct qvd_rpc_call *
qvd_rpc_upgrade_async(struct event_base *base, const struct qvd_rpc_target *t, const char *target,
                      const char *proto, const char *const *headers, qvd_rpc_upgrade_cb cb,
                      void *arg)
{
    struct qvd_rpc_call *c = qvd_xcalloc(1, sizeof(*c));
    c->upgrade_cb = cb;
    c->arg = arg;
    const char *hdrs[40];
    upgrade_headers(hdrs, QVD_ARRAY_LEN(hdrs), proto, headers);
    struct qvd_buf req = QVD_BUF_INIT;
    build_request(&req, t, target, hdrs);
    c = call_start(base, t, c, &req);
    qvd_wipe(req.data, req.len);
    qvd_buf_free(&req);
    return c;
}

/* ---- blocking ---- */

static int
connect_deadline(const char *host, int port, int64_t deadline)
{
    struct addrinfo *ai = resolve(host, port);
    if (!ai)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        /* small requests, and upgraded streams carry interactive NX traffic */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
        int rc = connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS && qvd_wait_fd(fd, POLLOUT, deadline) == 0) {
            int err = 0;
            socklen_t l = sizeof(err);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
            rc = err ? -1 : 0;
            errno = err;
        }
        if (rc == 0)
            break;
        qvd_seterr("cannot connect to %s:%d: %s", host, port,
                   errno ? strerror(errno) : "timed out");
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

int
qvd_rpc_connect(const char *host, int port, int timeout_ms)
{
    return connect_deadline(host, port, qvd_mono_ms() + timeout_ms);
}

/* Sends the request and reads until a final (non-1xx, or 101) answer is parsed; the bytes
 * after it go to leftover (if not NULL). The socket is in blocking mode; poll bounds it. */
static int
exchange(int fd, const struct qvd_buf *req, int64_t deadline, struct qvd_http_parser *p,
         struct qvd_buf *leftover)
{
    size_t off = 0;
    while (off < req->len) {
        if (qvd_wait_fd(fd, POLLOUT, deadline) < 0)
            return -1;
        ssize_t n = send(fd, req->data + off, req->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            return qvd_seterr("send: %s", strerror(errno));
        if (n > 0)
            off += (size_t)n;
    }
    char buf[8192];
    for (;;) {
        if (qvd_wait_fd(fd, POLLIN, deadline) < 0)
            return -1;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return qvd_seterr("recv: %s", strerror(errno));
        }
        if (n == 0) {
            if (qvd_http_parser_eof(p) == QVD_HTTP_COMPLETE)
                return 0;
            return qvd_seterr("connection closed before the answer");
        }
        size_t pos = 0;
        while (pos < (size_t)n) {
            size_t used = 0;
            enum qvd_http_result r = qvd_http_parser_feed(p, buf + pos, (size_t)n - pos, &used);
            pos += used;
            if (r == QVD_HTTP_ERROR)
                return -1;
            if (r == QVD_HTTP_COMPLETE) {
                if (leftover)
                    qvd_buf_add(leftover, buf + pos, (size_t)n - pos);
                return 0;
            }
            if (r == QVD_HTTP_NEED_MORE)
                break;
        }
    }
}

enum qvd_rpc_status
qvd_rpc_call(const struct qvd_rpc_target *t, const char *method, const char *const *params,
             json_t **result)
{
    if (result)
        *result = NULL;
    int64_t deadline = qvd_mono_ms() + t->timeout_ms;
    int fd = connect_deadline(t->host, t->port, deadline);
    if (fd < 0)
        return QVD_RPC_FAIL;
    char *target = method_target(method, params);
    struct qvd_buf req = QVD_BUF_INIT;
    build_request(&req, t, target, (const char *const[]){"Connection", "close", NULL});
    free(target);
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    enum qvd_rpc_status st = QVD_RPC_FAIL;
    if (exchange(fd, &req, deadline, p, NULL) == 0) {
        json_t *res;
        char *error;
        st = answer_status(qvd_http_parser_msg(p), &res, &error);
        if (st == QVD_RPC_OK) {
            if (result)
                *result = res;
            else
                json_decref(res);
        } else {
            qvd_seterr("%s", error);
        }
        free(error);
    }
    qvd_wipe(req.data, req.len);
    qvd_buf_free(&req);
    qvd_http_parser_free(p);
    close(fd);
    return st;
}

int
qvd_rpc_upgrade(const struct qvd_rpc_target *t, const char *target, const char *proto,
                const char *const *headers, int *fd_out, struct qvd_buf *leftover)
{
    int64_t deadline = qvd_mono_ms() + t->timeout_ms;
    int fd = connect_deadline(t->host, t->port, deadline);
    if (fd < 0)
        return -1;
    const char *hdrs[40];
    upgrade_headers(hdrs, QVD_ARRAY_LEN(hdrs), proto, headers);
    struct qvd_buf req = QVD_BUF_INIT;
    build_request(&req, t, target, hdrs);
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    int rc = exchange(fd, &req, deadline, p, leftover);
    if (rc == 0) {
        const struct qvd_http_msg *m = qvd_http_parser_msg(p);
        if (m->status != 101)
            rc = qvd_seterr("upgrade refused: HTTP %d %s: %.200s", m->status,
                            m->reason ? m->reason : "", qvd_buf_str((struct qvd_buf *)&m->body));
    }
    qvd_wipe(req.data, req.len);
    qvd_buf_free(&req);
    qvd_http_parser_free(p);
    if (rc < 0) {
        close(fd);
        return -1;
    }
    *fd_out = fd;
    return 0;
}

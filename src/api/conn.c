/* conn.c: one client connection of qvd-api on the event loop: TLS accept (TCP) or plain
 * (Unix socket), requests through the bounded HTTP parser, request and idle deadlines,
 * hand-off to the workers, answers, keep-alive, and live-feed streams. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "api.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "tls.h"

/* A stream whose client reads slower than this is cut. */
#define API_STREAM_BACKLOG (1024 * 1024)

enum conn_state { CONN_HEAD, CONN_BUSY, CONN_STREAM, CONN_CLOSING };

struct api_conn {
    TAILQ_ENTRY(api_conn) entry;
    struct api *api;
    uint64_t id;
    struct bufferevent *bev;
    char peer[64];
    bool tls;
    enum conn_state state;
    struct qvd_http_parser *parser;
    struct event *timer;
    bool head_started, keep_alive;
};

static void conn_read(struct bufferevent *bev, void *arg);
static void conn_event(struct bufferevent *bev, short what, void *arg);

static void
arm(struct api_conn *c, long seconds)
{
    struct timeval tv = {seconds, 0};
    evtimer_add(c->timer, &tv);
}

static void
conn_close(struct api_conn *c, const char *why)
{
    struct api *a = c->api;

    log_debug("connection %llu from %s closed: %s", (unsigned long long)c->id, c->peer, why);
    if (c->state == CONN_STREAM)
        api_feed_remove(a, c);
    TAILQ_REMOVE(&a->conns, c, entry);
    a->nconns--;
    event_free(c->timer);
    qvd_http_parser_free(c->parser);
    qvd_tls_bev_free(c->bev);
    free(c);
}

void
api_conn_close_all(struct api *a)
{
    while (!TAILQ_EMPTY(&a->conns))
        conn_close(TAILQ_FIRST(&a->conns), "shutting down");
}

static void
conn_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct api_conn *c = arg;

    if (c->state == CONN_CLOSING)
        conn_close(c, "client does not read the answer");
    else if (c->head_started)
        conn_close(c, "request not complete in time");
    else
        conn_close(c, "idle");
}

static void
conn_flushed(struct bufferevent *bev, void *arg)
{
    struct api_conn *c = arg;

    if (c->state == CONN_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_close(c, "answered");
}

void
api_conn_accept(struct api *a, int fd, const char *peer, bool tls)
{
    struct api_conn *c;

    if (a->stopping || (long)a->nconns >= a->max_conns) {
        log_warn("refusing a connection from %s: %s", peer,
                 a->stopping ? "stopping" : "too many connections");
        evutil_closesocket(fd);
        return;
    }
    c = qvd_xcalloc(1, sizeof(*c));
    c->api = a;
    c->id = ++a->next_conn_id;
    c->tls = tls;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->bev = qvd_tls_accept_bev(a->base, fd, tls ? a->ssl_ctx : NULL);
    if (c->bev == NULL) {
        log_err("cannot set up a connection from %s", c->peer);
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->timer = evtimer_new(a->base, conn_timeout, c);
    c->parser = qvd_http_parser_new(QVD_HTTP_REQUEST);
    TAILQ_INSERT_TAIL(&a->conns, c, entry);
    a->nconns++;
    c->state = CONN_HEAD;
    c->head_started = true; /* the TLS handshake counts against the request deadline */
    arm(c, a->t_request);
    bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
write_answer(struct api_conn *c, int status, const char *ctype, const char *body, size_t len,
             const char *set_cookie, bool close)
{
    const char *hdrs[12];
    size_t n = 0;

    hdrs[n++] = "Cache-Control";
    hdrs[n++] = "no-store";
    hdrs[n++] = "X-Content-Type-Options";
    hdrs[n++] = "nosniff";
    if (set_cookie) {
        hdrs[n++] = "Set-Cookie";
        hdrs[n++] = set_cookie;
    }
    if (close) {
        hdrs[n++] = "Connection";
        hdrs[n++] = "close";
    }
    hdrs[n] = NULL;
    qvd_http_evbuffer_response(bufferevent_get_output(c->bev), status, hdrs, ctype, body, len);
}

static void
conn_closing(struct api_conn *c)
{
    c->state = CONN_CLOSING;
    c->head_started = false;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setcb(c->bev, NULL, conn_flushed, conn_event, c);
    arm(c, c->api->t_request);
}

/* An error found on the loop (malformed request): JSON like the workers', then close. */
static void
loop_error(struct api_conn *c, int status, const char *code, const char *msg)
{
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    char *text = json_dumps(o, JSON_COMPACT);

    log_info("%s: %d %s", c->peer, status, msg);
    write_answer(c, status, "application/json", text, strlen(text), NULL, true);
    free(text);
    json_decref(o);
    conn_closing(c);
}

static char *
dup_or_null(const char *s)
{
    return s ? qvd_xstrdup(s) : NULL;
}

/* A complete request: copied out of the parser and handed to a worker. */
static void
conn_request(struct api_conn *c)
{
    const struct qvd_http_msg *m = qvd_http_parser_msg(c->parser);
    struct api_request *r;

    evtimer_del(c->timer);
    c->head_started = false;
    if (m->http_major != 1) {
        loop_error(c, 505, "invalid", "only HTTP/1.x is supported");
        return;
    }
    c->state = CONN_BUSY;
    c->keep_alive = m->keep_alive;
    bufferevent_disable(c->bev, EV_READ);
    r = qvd_xcalloc(1, sizeof(*r));
    r->method = qvd_xstrdup(m->method);
    r->path = qvd_xstrdup(m->path ? m->path : "/");
    r->authorization = dup_or_null(qvd_http_msg_header(m, "Authorization"));
    r->cookie = dup_or_null(qvd_http_msg_header(m, "Cookie"));
    r->source = dup_or_null(qvd_http_msg_header(m, "X-QVD-Source"));
    r->content_type = dup_or_null(qvd_http_msg_header(m, "Content-Type"));
    r->nparams = m->nparams;
    r->params = qvd_xcalloc(m->nparams + 1, sizeof(*r->params));
    for (size_t i = 0; i < m->nparams; i++) {
        r->params[i].key = qvd_xstrdup(m->params[i].key);
        r->params[i].value = qvd_xstrdup(m->params[i].value);
    }
    if (m->body.len > 0) {
        r->body = qvd_xcalloc(m->body.len + 1, 1);
        memcpy(r->body, m->body.data, m->body.len);
        r->body[m->body.len] = '\0';
        r->body_len = m->body.len;
    }
    snprintf(r->peer, sizeof(r->peer), "%s", c->peer);
    r->tls = c->tls;
    api_pool_submit(c->api, c->id, r);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
    struct api_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    while (c->state == CONN_HEAD) {
        size_t len = evbuffer_get_length(in), used = 0;
        enum qvd_http_result r;

        if (len == 0)
            return;
        if (!c->head_started) {
            c->head_started = true;
            arm(c, c->api->t_request);
        }
        r = qvd_http_parser_feed(c->parser, (const char *)evbuffer_pullup(in, -1), len, &used);
        evbuffer_drain(in, used);
        if (r == QVD_HTTP_NEED_MORE)
            return;
        if (r == QVD_HTTP_ERROR) {
            int status = qvd_http_parser_error_status(c->parser);
            loop_error(c, status, status == 413 ? "body_too_large" : "invalid", qvd_strerror());
            return;
        }
        if (r == QVD_HTTP_INTERIM) {
            loop_error(c, 400, "invalid", "bad request");
            return;
        }
        conn_request(c);
    }
    if (c->state == CONN_STREAM)
        evbuffer_drain(in, evbuffer_get_length(in)); /* a stream listens only */
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
    struct api_conn *c = arg;

    if (what & BEV_EVENT_CONNECTED)
        return;
    conn_close(c, what & BEV_EVENT_EOF ? "closed by the client" : "connection error");
}

void
api_conn_answered(struct api *a, uint64_t id, struct api_response *res)
{
    struct api_conn *c;
    bool close;

    TAILQ_FOREACH(c, &a->conns, entry)
    if (c->id == id)
        break;
    if (c == NULL || c->state != CONN_BUSY)
        return; /* the client left meanwhile */
    if (res->stream) {
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                   "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n"
                                   "Connection: keep-alive\r\n\r\n: connected\n\n";
        bufferevent_write(c->bev, head, sizeof(head) - 1);
        c->state = CONN_STREAM;
        evtimer_del(c->timer);
        bufferevent_enable(c->bev, EV_READ);
        api_feed_add(a, c, res);
        return;
    }
    close = !c->keep_alive || a->stopping;
    write_answer(c, res->status, res->body ? "application/json" : NULL, res->body,
                 res->body ? strlen(res->body) : 0, res->set_cookie, close);
    if (close) {
        conn_closing(c);
        return;
    }
    c->state = CONN_HEAD;
    c->head_started = false;
    bufferevent_enable(c->bev, EV_READ);
    arm(c, a->t_idle);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

bool
api_conn_stream(struct api_conn *c, const char *text, size_t len)
{
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > API_STREAM_BACKLOG) {
        conn_close(c, "event stream client too slow");
        return false;
    }
    bufferevent_write(c->bev, text, len);
    return true;
}

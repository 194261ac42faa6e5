/* conn.c: one client connection of qvd-api: TLS (TCP) or plain (Unix socket), its requests
 * read by libqvd's HTTP connection core (hconn.c) and handed to the workers; here: answers,
 * keep-alive and live-feed streams. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "api.h"
#include "err.h"
#include "hconn.h"
#include "http.h"
#include "log.h"
#include "util.h"

/* A stream whose client reads slower than this is cut. */
#define API_STREAM_BACKLOG (1024 * 1024)

struct api_conn {
    struct qvd_hconn h; /* the HTTP connection: socket, parser, deadlines, peer address */
    TAILQ_ENTRY(api_conn) entry;
    struct api *api;
    bool tls;
    bool stream; /* a live-feed stream (state OWNED) */
};

static void
conn_close(struct api_conn *c, const char *why)
{
    struct api *a = c->api;

    log_debug("connection %llu from %s closed: %s", (unsigned long long)c->h.id, c->h.peer, why);
    if (c->stream)
        api_feed_remove(a, c);
    TAILQ_REMOVE(&a->conns, c, entry);
    a->nconns--;
    qvd_hconn_release(&c->h);
    free(c);
}

void
api_conn_close_all(struct api *a)
{
    while (!TAILQ_EMPTY(&a->conns))
        conn_close(TAILQ_FIRST(&a->conns), "shutting down");
}

static struct api_conn *
conn_of(struct qvd_hconn *h)
{
    return QVD_CONTAINER_OF(h, struct api_conn, h);
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
    qvd_http_evbuffer_response(bufferevent_get_output(c->h.bev), status, hdrs, ctype, body, len);
}

/* An error found on the loop (malformed request): JSON like the workers', then close. */
static void
loop_error(struct api_conn *c, int status, const char *code, const char *msg)
{
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    char *text = json_dumps(o, JSON_COMPACT);

    log_info("%s: %d %s", c->h.peer, status, msg);
    write_answer(c, status, "application/json", text, strlen(text), NULL, true);
    free(text);
    json_decref(o);
    qvd_hconn_done(&c->h, true);
}

static char *
dup_or_null(const char *s)
{
    return s ? qvd_xstrdup(s) : NULL;
}

/* A complete request: copied out of the parser and handed to a worker. */
static void
conn_request(struct qvd_hconn *h, const struct qvd_http_msg *m)
{
    struct api_conn *c = conn_of(h);
    struct api_request *r;

    if (m->http_major != 1) {
        loop_error(c, 505, "invalid", "only HTTP/1.x is supported");
        return;
    }
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
    snprintf(r->peer, sizeof(r->peer), "%s", h->peer);
    r->tls = c->tls;
    api_pool_submit(c->api, h->id, r);
}

static void
conn_bad_request(struct qvd_hconn *h, int status, const char *msg)
{
    loop_error(conn_of(h), status, status == 413 ? "body_too_large" : "invalid", msg);
}

static void
conn_closed(struct qvd_hconn *h, const char *why)
{
    conn_close(conn_of(h), why);
}

static const struct qvd_hconn_ops conn_ops = {conn_request, conn_bad_request, conn_closed};

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
    c->h.id = ++a->next_conn_id;
    c->tls = tls;
    snprintf(c->h.peer, sizeof(c->h.peer), "%s", peer);
    if (qvd_hconn_start(&c->h, &conn_ops, a->base, fd, tls ? a->ssl_ctx : NULL, a->t_request,
                        a->t_idle) < 0) {
        log_err("%s", qvd_strerror());
        evutil_closesocket(fd);
        free(c);
        return;
    }
    TAILQ_INSERT_TAIL(&a->conns, c, entry);
    a->nconns++;
}

void
api_conn_answered(struct api *a, uint64_t id, struct api_response *res)
{
    struct api_conn *c;
    bool close;

    TAILQ_FOREACH(c, &a->conns, entry)
    if (c->h.id == id)
        break;
    if (c == NULL || c->h.state != QVD_HCONN_BUSY)
        return; /* the client left meanwhile */
    if (res->stream) {
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                   "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n"
                                   "Connection: keep-alive\r\n\r\n: connected\n\n";
        bufferevent_write(c->h.bev, head, sizeof(head) - 1);
        c->h.state = QVD_HCONN_OWNED; /* the core drops what the client sends from now on */
        c->stream = true;
        bufferevent_setwatermark(c->h.bev, EV_READ, 0, 0);
        api_feed_add(a, c, res);
        return;
    }
    close = !c->h.keep_alive || a->stopping;
    write_answer(c, res->status, res->body ? "application/json" : NULL, res->body,
                 res->body ? strlen(res->body) : 0, res->set_cookie, close);
    qvd_hconn_done(&c->h, close);
}

bool
api_conn_stream(struct api_conn *c, const char *text, size_t len)
{
    if (evbuffer_get_length(bufferevent_get_output(c->h.bev)) > API_STREAM_BACKLOG) {
        conn_close(c, "event stream client too slow");
        return false;
    }
    bufferevent_write(c->h.bev, text, len);
    return true;
}

/* conn.c: one client connection: TLS accept, reading request heads through the bounded
 * HTTP parser, keep-alive, request and idle deadlines, answers and closing. */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "err.h"
#include "http.h"
#include "l7r.h"
#include "log.h"
#include "tls.h"
#include "util.h"

/* While an endpoint works, at most this much of what the client sends next is buffered. */
#define L7R_BUSY_READ_MAX 65536

static void conn_read(struct bufferevent *bev, void *arg);
static void conn_event(struct bufferevent *bev, short what, void *arg);

static void
arm(struct l7r_conn *c, long seconds)
{
    struct timeval tv = {seconds, 0};
    evtimer_add(c->timer, &tv);
}

static void
conn_free(struct l7r_conn *c)
{
    struct l7r *l = c->l7r;

    TAILQ_REMOVE(&l->conns, c, entry);
    l->nconns--;
    if (c->auth_job)
        c->auth_job->conn = NULL; /* the worker's result is dropped when it comes back */
    if (c->sess)
        l7r_session_free(c->sess);
    c->sess = NULL;
    l7r_relay_free(c);
    if (c->wait_ev)
        event_free(c->wait_ev);
    event_free(c->timer);
    qvd_http_parser_free(c->parser);
    qvd_tls_bev_free(c->bev);
    qvd_wipe(c->auth_hash, sizeof(c->auth_hash));
    free(c);
}

void
l7r_conn_close(struct l7r_conn *c, const char *why)
{
    log_debug("connection %llu from %s closed: %s", (unsigned long long)c->id, c->peer, why);
    conn_free(c);
}

void
l7r_conn_close_all(struct l7r *l)
{
    while (!TAILQ_EMPTY(&l->conns))
        l7r_conn_close(TAILQ_FIRST(&l->conns), "shutting down");
}

static void
conn_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct l7r_conn *c = arg;

    if (c->state == L7R_CONN_CLOSING)
        l7r_conn_close(c, "client does not read the answer");
    else if (c->head_started)
        l7r_conn_close(c, "request not complete in time");
    else
        l7r_conn_close(c, "idle");
}

static void
conn_flushed(struct bufferevent *bev, void *arg)
{
    struct l7r_conn *c = arg;

    if (c->state == L7R_CONN_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        l7r_conn_close(c, "answered");
}

void
l7r_conn_accept(struct l7r *l, int fd, const struct sockaddr *sa, int salen)
{
    char host[64] = "?";
    struct l7r_conn *c;

    if (l->stopping || (long)l->nconns >= l->max_conns) {
        log_warn("refusing a connection: %s", l->stopping ? "stopping" : "too many connections");
        evutil_closesocket(fd);
        return;
    }
    getnameinfo(sa, (socklen_t)salen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int)); /* NX is interactive */
    c = qvd_xcalloc(1, sizeof(*c));
    c->l7r = l;
    c->id = ++l->next_conn_id;
    memcpy(c->peer, strncmp(host, "::ffff:", 7) == 0 ? host + 7 : host, sizeof(c->peer) - 8);
    c->bev = qvd_tls_accept_bev(l->base, fd, l->ssl_ctx);
    if (c->bev == NULL) {
        log_err("cannot set up a connection from %s", c->peer);
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->timer = evtimer_new(l->base, conn_timeout, c);
    c->parser = qvd_http_parser_new(QVD_HTTP_REQUEST);
    TAILQ_INSERT_TAIL(&l->conns, c, entry);
    l->nconns++;
    c->state = L7R_CONN_HEAD;
    c->head_started = true; /* the TLS handshake counts against the request deadline */
    arm(c, l->t_request);
    bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    log_debug("connection %llu from %s", (unsigned long long)c->id, c->peer);
}

/* A complete request head: check the version, then hand it to the endpoints. */
static void
conn_request(struct l7r_conn *c)
{
    const struct qvd_http_msg *m = qvd_http_parser_msg(c->parser);

    evtimer_del(c->timer);
    c->head_started = false;
    c->state = L7R_CONN_BUSY;
    c->keep_alive = m->keep_alive;
    bufferevent_setwatermark(c->bev, EV_READ, 0, L7R_BUSY_READ_MAX);
    l7r_counter(c->l7r, "http_requests");
    log_info("%s %s %s", c->peer, m->method, m->path);
    if (m->http_major != 1 || m->http_minor != 1) {
        l7r_conn_error(c, 505, NULL, "Only HTTP/1.1 is supported");
        return;
    }
    l7r_api_dispatch(c, m);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
    struct l7r_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    while (c->state == L7R_CONN_HEAD) {
        size_t len = evbuffer_get_length(in), used = 0;
        enum qvd_http_result r;

        if (len == 0)
            return;
        if (!c->head_started) {
            c->head_started = true;
            arm(c, c->l7r->t_request);
        }
        r = qvd_http_parser_feed(c->parser, (const char *)evbuffer_pullup(in, -1), len, &used);
        evbuffer_drain(in, used);
        if (r == QVD_HTTP_NEED_MORE)
            return;
        if (r == QVD_HTTP_ERROR) {
            int status = qvd_http_parser_error_status(c->parser);
            l7r_conn_error(c, status, NULL, "%s", qvd_strerror());
            return;
        }
        if (r == QVD_HTTP_INTERIM) {
            l7r_conn_error(c, 400, NULL, "bad request");
            return;
        }
        conn_request(c);
    }
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
    struct l7r_conn *c = arg;
    unsigned long e;

    if (what & BEV_EVENT_CONNECTED)
        return;
    if (what & BEV_EVENT_ERROR) {
        while ((e = bufferevent_get_openssl_error(bev)) != 0) {
            char buf[160];
            ERR_error_string_n(e, buf, sizeof(buf));
            log_debug("connection %llu from %s: TLS: %s", (unsigned long long)c->id, c->peer,
                      buf);
        }
    }
    l7r_conn_close(c, what & BEV_EVENT_EOF ? "closed by the client" : "connection error");
}

static void
send_response(struct l7r_conn *c, int status, const char *const *headers, bool close,
              const char *ctype, const char *body, size_t len)
{
    const char *hdrs[24];
    size_t n = 0;

    for (size_t i = 0; headers && headers[i] && headers[i + 1] && n + 4 < QVD_ARRAY_LEN(hdrs);
         i += 2) {
        hdrs[n++] = headers[i];
        hdrs[n++] = headers[i + 1];
    }
    if (close) {
        hdrs[n++] = "Connection";
        hdrs[n++] = "close";
    }
    hdrs[n] = NULL;
    qvd_http_evbuffer_response(bufferevent_get_output(c->bev), status, hdrs, ctype, body, len);
}

/* After the answer: wait for the flush, then close. */
static void
conn_closing(struct l7r_conn *c)
{
    c->state = L7R_CONN_CLOSING;
    c->head_started = false;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setcb(c->bev, NULL, conn_flushed, conn_event, c);
    arm(c, c->l7r->t_request);
}

void
l7r_conn_reply(struct l7r_conn *c, int status, const char *const *headers, const char *ctype,
               const char *body, size_t len)
{
    bool close = !c->keep_alive || c->l7r->stopping;

    send_response(c, status, headers, close, ctype, body, len);
    if (close) {
        conn_closing(c);
        return;
    }
    c->state = L7R_CONN_HEAD;
    c->head_started = false;
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    arm(c, c->l7r->t_idle);
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

void
l7r_conn_error(struct l7r_conn *c, int status, const char *const *headers, const char *fmt,
               ...)
{
    struct qvd_buf b = QVD_BUF_INIT;
    char *msg;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        qvd_fatal("out of memory");
    /* one line: a message never carries the client's line breaks */
    for (char *p = msg; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    log_info("%s: %d %s", c->peer, status, msg);
    qvd_buf_printf(&b, "%s\r\n", msg);
    free(msg);
    send_response(c, status, headers, true, "text/plain", b.data, b.len);
    qvd_buf_free(&b);
    conn_closing(c);
}

void
l7r_conn_interim(struct l7r_conn *c, const char *info)
{
    const char *hdrs[] = {"X-QVD-VM-Info", info, NULL};

    qvd_http_evbuffer_response(bufferevent_get_output(c->bev), 102, hdrs, NULL, NULL, 0);
}

/* hconn.c: the server side of one HTTP/1.1 connection (see hconn.h). */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "err.h"
#include "hconn.h"
#include "http.h"
#include "log.h"
#include "tls.h"

/* While the owner works on a request, at most this much of what the client sends next is
 * buffered; reading goes on up to it, so that a client that leaves is noticed. */
#define HCONN_BUSY_READ_MAX 65536

static void hconn_read(struct bufferevent *bev, void *arg);
static void hconn_event(struct bufferevent *bev, short what, void *arg);

static void
arm(struct qvd_hconn *h, long seconds)
{
    struct timeval tv = {seconds, 0};
    evtimer_add(h->timer, &tv);
}

static void
hconn_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct qvd_hconn *h = arg;

    if (h->state == QVD_HCONN_CLOSING)
        h->ops->closed(h, "client does not read the answer");
    else if (h->head_started)
        h->ops->closed(h, "request not complete in time");
    else
        h->ops->closed(h, "idle");
}

static void
hconn_flushed(struct bufferevent *bev, void *arg)
{
    struct qvd_hconn *h = arg;

    if (h->state == QVD_HCONN_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        h->ops->closed(h, "answered");
}

int
qvd_hconn_start(struct qvd_hconn *h, const struct qvd_hconn_ops *ops, struct event_base *base,
                int fd, SSL_CTX *ctx, long t_request, long t_idle)
{
    h->ops = ops;
    h->t_request = t_request;
    h->t_idle = t_idle;
    h->bev = qvd_tls_accept_bev(base, fd, ctx);
    if (h->bev == NULL)
        return qvd_seterr("cannot set up a connection from %s", h->peer);
    h->timer = evtimer_new(base, hconn_timeout, h);
    h->parser = qvd_http_parser_new(QVD_HTTP_REQUEST);
    h->state = QVD_HCONN_HEAD;
    h->head_started = true; /* the TLS handshake counts against the request deadline */
    arm(h, t_request);
    bufferevent_setcb(h->bev, hconn_read, NULL, hconn_event, h);
    bufferevent_enable(h->bev, EV_READ | EV_WRITE);
    return 0;
}

void
qvd_hconn_release(struct qvd_hconn *h)
{
    if (h->timer)
        event_free(h->timer);
    qvd_http_parser_free(h->parser);
    if (h->bev)
        qvd_tls_bev_free(h->bev);
    h->timer = NULL;
    h->parser = NULL;
    h->bev = NULL;
}

/* A complete request: the owner's from now on. */
static void
hconn_request(struct qvd_hconn *h)
{
    const struct qvd_http_msg *m = qvd_http_parser_msg(h->parser);

    evtimer_del(h->timer);
    h->head_started = false;
    h->state = QVD_HCONN_BUSY;
    h->keep_alive = m->keep_alive;
    bufferevent_setwatermark(h->bev, EV_READ, 0, HCONN_BUSY_READ_MAX);
    h->ops->request(h, m);
}

/* One request per call: once the owner has it, the connection may be gone (an owner may
 * close it at once), so nothing here touches it again. A request that came right behind it
 * is read when the owner is done with this one (qvd_hconn_done triggers a read). */
static void
hconn_read(struct bufferevent *bev, void *arg)
{
    struct qvd_hconn *h = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in), used = 0;
    enum qvd_http_result r;

    if (h->state == QVD_HCONN_OWNED) {
        evbuffer_drain(in, len);
        return;
    }
    if (h->state != QVD_HCONN_HEAD || len == 0)
        return;
    if (!h->head_started) {
        h->head_started = true;
        arm(h, h->t_request);
    }
    r = qvd_http_parser_feed(h->parser, (const char *)evbuffer_pullup(in, -1), len, &used);
    evbuffer_drain(in, used);
    if (r == QVD_HTTP_NEED_MORE)
        return;
    if (r == QVD_HTTP_ERROR)
        h->ops->bad_request(h, qvd_http_parser_error_status(h->parser), qvd_strerror());
    else if (r == QVD_HTTP_INTERIM)
        h->ops->bad_request(h, 400, "bad request");
    else
        hconn_request(h);
}

static void
hconn_event(struct bufferevent *bev, short what, void *arg)
{
    struct qvd_hconn *h = arg;
    unsigned long e;

    if (what & BEV_EVENT_CONNECTED)
        return;
    if (what & BEV_EVENT_ERROR) {
        while ((e = bufferevent_get_openssl_error(bev)) != 0) {
            char buf[160];
            ERR_error_string_n(e, buf, sizeof(buf));
            log_debug("connection %llu from %s: TLS: %s", (unsigned long long)h->id, h->peer, buf);
        }
    }
    h->ops->closed(h, what & BEV_EVENT_EOF ? "closed by the client" : "connection error");
}

void
qvd_hconn_done(struct qvd_hconn *h, bool close)
{
    if (close || !h->keep_alive) {
        h->state = QVD_HCONN_CLOSING;
        h->head_started = false;
        bufferevent_disable(h->bev, EV_READ);
        bufferevent_setcb(h->bev, NULL, hconn_flushed, hconn_event, h);
        arm(h, h->t_request);
        return;
    }
    h->state = QVD_HCONN_HEAD;
    h->head_started = false;
    bufferevent_setwatermark(h->bev, EV_READ, 0, 0);
    arm(h, h->t_idle);
    if (evbuffer_get_length(bufferevent_get_input(h->bev)) > 0)
        bufferevent_trigger(h->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

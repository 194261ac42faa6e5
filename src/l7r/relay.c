/* relay.c: after the 101, bytes both ways between the client (TLS) and the VMA stream.
 * Each side stops reading while L7R_RELAY_HIGH bytes wait for the other; the VM's bytes
 * flow only once the 101 head has left on its own. Half-close: the client's EOF is passed
 * on as a TCP shutdown and the VM gets a moment to finish; the VM's EOF ends the session
 * once what it sent has been flushed to the client. */
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "l7r.h"
#include "log.h"
#include "util.h"

#define LINGER_S 5

struct l7r_relay {
    struct bufferevent *vma;
    struct event *linger;
    bool vma_on;     /* the 101 has been flushed: the VM's bytes may flow */
    bool client_eof; /* passed on to the VM as a shutdown */
    bool vma_eof;
};

static void
linger_done(evutil_socket_t fd, short what, void *arg)
{
    l7r_conn_close(arg, "session ended (half-closed)");
}

static void
start_linger(struct l7r_conn *c)
{
    struct timeval tv = {LINGER_S, 0};

    if (!evtimer_pending(c->relay->linger, NULL))
        evtimer_add(c->relay->linger, &tv);
}

static void
pass(struct bufferevent *from, struct bufferevent *to, struct bufferevent *stop)
{
    evbuffer_add_buffer(bufferevent_get_output(to), bufferevent_get_input(from));
    if (evbuffer_get_length(bufferevent_get_output(to)) >= L7R_RELAY_HIGH)
        bufferevent_disable(stop, EV_READ);
}

static void
client_read(struct bufferevent *bev, void *arg)
{
    struct l7r_conn *c = arg;

    pass(bev, c->relay->vma, bev);
}

static void
vma_read(struct bufferevent *bev, void *arg)
{
    struct l7r_conn *c = arg;

    pass(bev, c->h.bev, bev);
}

/* Client output drained: the VM's bytes may (again) flow; after the VM's EOF: done. */
static void
client_drained(struct bufferevent *bev, void *arg)
{
    struct l7r_conn *c = arg;
    struct l7r_relay *r = c->relay;

    if (r->vma_eof) {
        l7r_conn_close(c, "the VM closed the session");
        return;
    }
    r->vma_on = true;
    bufferevent_enable(r->vma, EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(r->vma)) > 0)
        vma_read(r->vma, c);
}

static void
vma_drained(struct bufferevent *bev, void *arg)
{
    struct l7r_conn *c = arg;
    struct l7r_relay *r = c->relay;

    if (r->client_eof) {
        shutdown(bufferevent_getfd(bev), SHUT_WR);
        start_linger(c);
        return;
    }
    bufferevent_enable(c->h.bev, EV_READ);
}

static void
client_event(struct bufferevent *bev, short what, void *arg)
{
    struct l7r_conn *c = arg;
    struct l7r_relay *r = c->relay;

    if (!(what & BEV_EVENT_EOF) || r->client_eof) {
        l7r_conn_close(c, "client connection error");
        return;
    }
    r->client_eof = true;
    l7r_session_client_eof(c);
    log_debug("connection %llu: client closed its side", (unsigned long long)c->h.id);
    bufferevent_disable(bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(r->vma)) == 0)
        vma_drained(r->vma, c);
}

static void
vma_event(struct bufferevent *bev, short what, void *arg)
{
    struct l7r_conn *c = arg;
    struct l7r_relay *r = c->relay;

    if (what & BEV_EVENT_CONNECTED)
        return;
    r->vma_eof = true;
    bufferevent_disable(bev, EV_READ | EV_WRITE);
    if (r->client_eof || !(what & BEV_EVENT_EOF) ||
        evbuffer_get_length(bufferevent_get_output(c->h.bev)) == 0) {
        l7r_conn_close(c, "the VM closed the session");
        return;
    }
    start_linger(c); /* bounded flush of what the VM sent last */
}

void
l7r_relay_start(struct l7r_conn *c, struct bufferevent *vma)
{
    struct l7r_relay *r = qvd_xcalloc(1, sizeof(*r));

    r->vma = vma;
    r->linger = evtimer_new(c->l7r->base, linger_done, c);
    c->relay = r;
    c->h.state = QVD_HCONN_OWNED;
    evtimer_del(c->h.timer);
    bufferevent_setwatermark(c->h.bev, EV_READ, 0, L7R_RELAY_HIGH);
    bufferevent_setwatermark(vma, EV_READ, 0, L7R_RELAY_HIGH);
    bufferevent_setwatermark(c->h.bev, EV_WRITE, 0, 0);
    bufferevent_setwatermark(vma, EV_WRITE, 0, 0);
    /* libevent moves at most 16 KiB per read or write call by default */
    bufferevent_set_max_single_read(vma, L7R_RELAY_HIGH / 4);
    bufferevent_set_max_single_write(vma, L7R_RELAY_HIGH);
    bufferevent_set_max_single_read(c->h.bev, L7R_RELAY_HIGH / 4);
    bufferevent_set_max_single_write(c->h.bev, L7R_RELAY_HIGH);
    bufferevent_setcb(c->h.bev, client_read, client_drained, client_event, c);
    bufferevent_setcb(vma, vma_read, vma_drained, vma_event, c);
    bufferevent_disable(vma, EV_READ); /* until the 101 has left */
    bufferevent_enable(vma, EV_WRITE);
    bufferevent_enable(c->h.bev, EV_READ | EV_WRITE);
    /* what the client sent right behind its request head goes first */
    if (evbuffer_get_length(bufferevent_get_input(c->h.bev)) > 0)
        client_read(c->h.bev, c);
    if (evbuffer_get_length(bufferevent_get_output(c->h.bev)) == 0)
        client_drained(c->h.bev, c);
}

void
l7r_relay_free(struct l7r_conn *c)
{
    struct l7r_relay *r = c->relay;

    if (r == NULL)
        return;
    if (r->vma)
        bufferevent_free(r->vma);
    event_free(r->linger);
    free(r);
    c->relay = NULL;
}

/* relay.c: the NX stream between the client and nxagent: splice.c's relay, or (when that
 * cannot start, or vma.relay.splice is 0) a bounded copy between two bufferevents. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"
#include "util.h"
#include "vma.h"

/* A side stops reading while its peer holds more than HIGH bytes unsent, and resumes once
 * the peer drained below LOW: memory stays bounded whichever side is slow. */
#define RELAY_HIGH (256 * 1024)
#define RELAY_LOW (64 * 1024)

struct relay {
    struct bufferevent *side[2];
    bool closing; /* one side is gone: flush the other, then free */
    struct relay *prev, *next;
};

/* Every live relay, so that a new client can cut an old one off. */
static struct relay *relays;

static int
side_of(struct relay *r, struct bufferevent *bev)
{
    return r->side[0] == bev ? 0 : 1;
}

static void
relay_free(struct relay *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        relays = r->next;
    if (r->next)
        r->next->prev = r->prev;
    for (int i = 0; i < 2; i++)
        if (r->side[i])
            bufferevent_free(r->side[i]);
    free(r);
}

static void
relay_read(struct bufferevent *bev, void *arg)
{
    struct relay *r = arg;
    struct bufferevent *peer = r->side[1 - side_of(r, bev)];
    if (!peer) {
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
        return;
    }
    struct evbuffer *out = bufferevent_get_output(peer);
    evbuffer_add_buffer(out, bufferevent_get_input(bev));
    if (evbuffer_get_length(out) >= RELAY_HIGH)
        bufferevent_disable(bev, EV_READ);
}

static void
relay_write(struct bufferevent *bev, void *arg)
{
    struct relay *r = arg;
    int i = side_of(r, bev);
    if (r->closing) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            relay_free(r);
        return;
    }
    /* the write callback fires below the low watermark: let the peer read again */
    if (r->side[1 - i])
        bufferevent_enable(r->side[1 - i], EV_READ);
}

static void
relay_event(struct bufferevent *bev, short what, void *arg)
{
    struct relay *r = arg;
    int i = side_of(r, bev);
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
        return;
    /* pass on what this side still had, then close it */
    struct bufferevent *peer = r->side[1 - i];
    if (peer && !r->closing)
        evbuffer_add_buffer(bufferevent_get_output(peer), bufferevent_get_input(bev));
    log_debug("relay: side %d closed (%s)", i, (what & BEV_EVENT_EOF) ? "eof" : "error");
    bufferevent_free(bev);
    r->side[i] = NULL;
    if (!peer || r->closing || evbuffer_get_length(bufferevent_get_output(peer)) == 0) {
        relay_free(r);
        return;
    }
    r->closing = true;
    bufferevent_disable(peer, EV_READ);
    bufferevent_setwatermark(peer, EV_WRITE, 0, 0);
}

void
relay_start(struct bufferevent *a, struct bufferevent *b)
{
    struct relay *r;

    for (int i = 0; i < 2; i++)
        /* NX is interactive: Nagle's algorithm against the peer's delayed ACKs stalls
         * every small round trip of the session set-up by up to 40 ms */
        setsockopt(bufferevent_getfd(i ? b : a), IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    if (qvd_config_bool(vma.cfg, "vma.relay.splice") && splice_relay_start(vma.base, a, b) == 0)
        return;
    log_debug("relay: by copy");
    r = qvd_xcalloc(1, sizeof(*r));
    r->side[0] = a;
    r->side[1] = b;
    r->next = relays;
    if (relays)
        relays->prev = r;
    relays = r;
    for (int i = 0; i < 2; i++) {
        bufferevent_setcb(r->side[i], relay_read, relay_write, relay_event, r);
        bufferevent_setwatermark(r->side[i], EV_WRITE, RELAY_LOW, 0);
        /* libevent moves at most 16 KiB per read or write call by default: bulk (a
         * picture) then costs a loop turn per 16 KiB */
        bufferevent_set_max_single_read(r->side[i], RELAY_LOW);
        bufferevent_set_max_single_write(r->side[i], RELAY_HIGH);
        bufferevent_enable(r->side[i], EV_READ | EV_WRITE);
    }
    /* bytes that arrived before the relay started */
    if (evbuffer_get_length(bufferevent_get_input(a)))
        relay_read(a, r);
    if (evbuffer_get_length(bufferevent_get_input(b)))
        relay_read(b, r);
}

int
relay_drop_all(void)
{
    int n = splice_relay_drop_all();

    while (relays != NULL) {
        relay_free(relays);
        n++;
    }
    return n;
}

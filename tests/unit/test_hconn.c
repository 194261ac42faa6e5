/* test_hconn.c: the server side of an HTTP connection (hconn.c) on a real event loop, over a
 * socketpair: keep-alive and pipelining, close after the flush, refused requests, the
 * request and idle deadlines, a client that leaves while the owner works, a taken-over
 * connection. */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "hconn.h"
#include "http.h"
#include "util.h"

/* The owner: records what the core tells it; answers at once unless `hold` is set. */
struct owner {
    struct qvd_hconn h;
    struct event_base *base;
    int client; /* the test's end of the socketpair */
    int requests, bad_status;
    char paths[4][64];
    char closed[64]; /* why, once closed */
    bool hold;
    bool close_in_request; /* the owner ends the connection inside its request callback */
    bool free_on_close;    /* ... and frees everything it holds, the core's part included */
};

static char last_closed[64]; /* why the last connection closed, outliving its owner */

static struct owner *
owner_of(struct qvd_hconn *h)
{
    return QVD_CONTAINER_OF(h, struct owner, h);
}

static void
answer(struct owner *o, bool close)
{
    const char *hdrs[] = {"Connection", "close", NULL};
    qvd_http_evbuffer_response(bufferevent_get_output(o->h.bev), 200, close ? hdrs : NULL,
                               "text/plain", "ok", 2);
    qvd_hconn_done(&o->h, close);
}

static void
on_request(struct qvd_hconn *h, const struct qvd_http_msg *m)
{
    struct owner *o = owner_of(h);

    assert_int_equal(h->state, QVD_HCONN_BUSY);
    if (o->requests < 4)
        snprintf(o->paths[o->requests], sizeof(o->paths[0]), "%s", m->path);
    o->requests++;
    if (o->close_in_request)
        h->ops->closed(h, "closed by the owner");
    else if (!o->hold)
        answer(o, false);
}

static void
on_bad_request(struct qvd_hconn *h, int status, const char *msg)
{
    struct owner *o = owner_of(h);

    o->bad_status = status;
    qvd_http_evbuffer_response(bufferevent_get_output(h->bev), status, NULL, "text/plain", msg,
                               strlen(msg));
    qvd_hconn_done(h, true);
}

static void
on_closed(struct qvd_hconn *h, const char *why)
{
    struct owner *o = owner_of(h);

    snprintf(o->closed, sizeof(o->closed), "%s", why);
    snprintf(last_closed, sizeof(last_closed), "%s", why);
    qvd_hconn_release(h);
    event_base_loopbreak(o->base);
    if (o->free_on_close)
        free(o);
}

static const struct qvd_hconn_ops ops = {on_request, on_bad_request, on_closed};

static int
setup(void **state)
{
    struct owner *o = qvd_xcalloc(1, sizeof(*o));
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    o->base = event_base_new();
    o->client = sv[1];
    snprintf(o->h.peer, sizeof(o->h.peer), "test");
    assert_int_equal(qvd_hconn_start(&o->h, &ops, o->base, sv[0], NULL, 1, 1), 0);
    *state = o;
    return 0;
}

static int
teardown(void **state)
{
    struct owner *o = *state;

    if (o == NULL)
        return 0; /* the test freed it */
    if (o->closed[0] == '\0')
        qvd_hconn_release(&o->h);
    close(o->client);
    event_base_free(o->base);
    free(o);
    return 0;
}

/* Runs the loop for at most `ms`, or until the connection closes. */
static void
run_base(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void
run(struct owner *o, int ms)
{
    run_base(o->base, ms);
}

static void
send_str(struct owner *o, const char *s)
{
    assert_int_equal(write(o->client, s, strlen(s)), (ssize_t)strlen(s));
}

/* What the server has sent so far (the client's end read without blocking). */
static char *
received(struct owner *o)
{
    static char buf[4096];
    ssize_t n, len = 0;

    fcntl(o->client, F_SETFL, O_NONBLOCK);
    while ((n = read(o->client, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
        len += n;
    buf[len] = '\0';
    return buf;
}

static int
count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void
keep_alive_pipelined(void **state)
{
    struct owner *o = *state;

    send_str(o, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    run(o, 100);
    assert_int_equal(o->requests, 2);
    assert_string_equal(o->paths[0], "/a");
    assert_string_equal(o->paths[1], "/b");
    assert_int_equal(count(received(o), "HTTP/1.1 200"), 2);
    assert_string_equal(o->closed, ""); /* still open, waiting for the next request */
    assert_int_equal(o->h.state, QVD_HCONN_HEAD);
}

static void
close_after_flush(void **state)
{
    struct owner *o = *state;

    send_str(o, "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    run(o, 2000);
    assert_string_equal(o->closed, "answered");
    assert_int_equal(count(received(o), "HTTP/1.1 200"), 1);
}

static void
http10_closes(void **state)
{
    struct owner *o = *state;

    send_str(o, "GET /a HTTP/1.0\r\n\r\n");
    run(o, 2000);
    assert_string_equal(o->closed, "answered");
}

static void
bad_request_answered_then_closed(void **state)
{
    struct owner *o = *state;

    send_str(o, "NOT HTTP AT ALL\r\n\r\n");
    run(o, 2000);
    assert_int_equal(o->bad_status, 400);
    assert_int_equal(o->requests, 0);
    assert_string_equal(o->closed, "answered");
    assert_non_null(strstr(received(o), "HTTP/1.1 400"));
}

static void
slow_request_cut(void **state)
{
    struct owner *o = *state;

    send_str(o, "GET /a HTTP/1.1\r\nHo");
    run(o, 3000);
    assert_string_equal(o->closed, "request not complete in time");
    assert_int_equal(o->requests, 0);
}

static void
idle_cut(void **state)
{
    struct owner *o = *state;

    send_str(o, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    run(o, 3000);
    assert_int_equal(o->requests, 1);
    assert_string_equal(o->closed, "idle");
}

static void
client_leaves_while_busy(void **state)
{
    struct owner *o = *state;

    o->hold = true;
    send_str(o, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    run(o, 100);
    assert_int_equal(o->requests, 1);
    assert_int_equal(o->h.state, QVD_HCONN_BUSY);
    shutdown(o->client, SHUT_WR);
    run(o, 2000);
    assert_string_equal(o->closed, "closed by the client");
}

static void
answer_later_then_next_request(void **state)
{
    struct owner *o = *state;

    o->hold = true;
    send_str(o, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    run(o, 100);
    assert_int_equal(o->requests, 1); /* the second waits while the owner works */
    o->hold = false;
    answer(o, false);
    run(o, 100);
    assert_int_equal(o->requests, 2);
    assert_string_equal(o->paths[1], "/b");
    assert_int_equal(count(received(o), "HTTP/1.1 200"), 2);
}

static void
owned_drops_input_and_ends_on_close(void **state)
{
    struct owner *o = *state;

    o->hold = true;
    send_str(o, "GET /feed HTTP/1.1\r\nHost: x\r\n\r\n");
    run(o, 100);
    o->h.state = QVD_HCONN_OWNED;
    bufferevent_setwatermark(o->h.bev, EV_READ, 0, 0);
    send_str(o, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    run(o, 100);
    assert_int_equal(o->requests, 1); /* not parsed: dropped */
    assert_int_equal(evbuffer_get_length(bufferevent_get_input(o->h.bev)), 0);
    close(o->client);
    o->client = open("/dev/null", O_RDONLY | O_CLOEXEC);
    run(o, 2000);
    assert_true(strcmp(o->closed, "closed by the client") == 0 ||
                strcmp(o->closed, "connection error") == 0);
}

/* The owner may end and free the connection inside its request callback, with another
 * request waiting behind it: the core must not touch it afterwards (the sanitizer build
 * of this test catches a use after free). */
static void
owner_closes_inside_request(void **state)
{
    struct owner *o = *state;
    struct event_base *base = o->base;
    int client = o->client;

    o->close_in_request = true;
    o->free_on_close = true;
    *state = NULL; /* the owner is gone after this */
    last_closed[0] = '\0';
    const char *two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(client, two, strlen(two)), (ssize_t)strlen(two));
    run_base(base, 200);
    assert_string_equal(last_closed, "closed by the owner");
    close(client);
    event_base_free(base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keep_alive_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(close_after_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(http10_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_request_answered_then_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(slow_request_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(idle_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(client_leaves_while_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(answer_later_then_next_request, setup, teardown),
        cmocka_unit_test_setup_teardown(owned_drops_input_and_ends_on_close, setup, teardown),
        cmocka_unit_test_setup_teardown(owner_closes_inside_request, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

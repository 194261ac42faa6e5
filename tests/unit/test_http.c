/* test_http.c: the HTTP parser/writers and the SimpleRPC client against a canned server. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "http.h"
#include "rpc.h"

static enum qvd_http_result
feed_all(struct qvd_http_parser *p, const char *s, size_t *used)
{
    return qvd_http_parser_feed(p, s, strlen(s), used);
}

static void
request_with_query_and_headers(void **state)
{
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    size_t used;
    const char *req = "GET /vma/x_start?qvd.client.geometry=1024x768&a=1&a=two%20words&b=x+y&e "
                      "HTTP/1.1\r\nAUTHORIZATION: Bearer s3cret\r\nX-Empty:\r\n\r\n";
    assert_int_equal(feed_all(p, req, &used), QVD_HTTP_COMPLETE);
    assert_int_equal(used, strlen(req));
    const struct qvd_http_msg *m = qvd_http_parser_msg(p);
    assert_string_equal(m->method, "GET");
    assert_string_equal(m->path, "/vma/x_start");
    assert_int_equal(m->nparams, 5);
    assert_string_equal(m->params[1].key, "a");
    assert_string_equal(m->params[1].value, "1");
    assert_string_equal(m->params[2].value, "two words");
    assert_string_equal(m->params[3].value, "x y");
    assert_string_equal(m->params[4].key, "e");
    assert_string_equal(m->params[4].value, "");
    assert_string_equal(qvd_http_msg_param(m, "a"), "1");
    assert_string_equal(qvd_http_msg_header(m, "authorization"), "Bearer s3cret");
    assert_string_equal(qvd_http_msg_header(m, "x-empty"), "");
    assert_null(qvd_http_msg_header(m, "Upgrade"));
    assert_false(m->upgrade);
    assert_true(m->keep_alive);
    qvd_http_parser_free(p);
}

static void
request_fed_byte_by_byte(void **state)
{
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    const char *req = "GET /a%2Fb?k=v HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET";
    size_t len = strlen(req), i, used;
    enum qvd_http_result r = QVD_HTTP_NEED_MORE;
    for (i = 0; i < len && r == QVD_HTTP_NEED_MORE; i++) {
        r = qvd_http_parser_feed(p, req + i, 1, &used);
        assert_int_equal(used, 1);
    }
    assert_int_equal(r, QVD_HTTP_COMPLETE);
    assert_int_equal(i, len - 3); /* stops after the body */
    const struct qvd_http_msg *m = qvd_http_parser_msg(p);
    assert_string_equal(m->path, "/a/b");
    assert_int_equal(m->body.len, 3);
    assert_memory_equal(m->body.data, "abc", 3);
    /* the next message on the same connection */
    assert_int_equal(feed_all(p, "GET /next HTTP/1.1\r\n\r\n", &used), QVD_HTTP_COMPLETE);
    assert_string_equal(qvd_http_parser_msg(p)->path, "/next");
    qvd_http_parser_free(p);
}

static void
upgrade_request_leaves_stream_bytes(void **state)
{
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    const char *req =
        "GET /vma/x_connect HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\n\r\n"
        "NXSTREAM";
    size_t used;
    assert_int_equal(feed_all(p, req, &used), QVD_HTTP_COMPLETE);
    assert_true(qvd_http_parser_msg(p)->upgrade);
    assert_string_equal(req + used, "NXSTREAM");
    qvd_http_parser_free(p);

    /* Upgrade header without Connection: Upgrade is no upgrade */
    p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    assert_int_equal(feed_all(p, "GET / HTTP/1.1\r\nUpgrade: QVD/1.0\r\n\r\n", &used),
                     QVD_HTTP_COMPLETE);
    assert_false(qvd_http_parser_msg(p)->upgrade);
    qvd_http_parser_free(p);
}

static void
malformed_request_is_400(void **state)
{
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    size_t used;
    assert_int_equal(feed_all(p, "GET / HTTP/1.1\r\nBad Header\r\n\r\n", &used), QVD_HTTP_ERROR);
    assert_int_equal(qvd_http_parser_error_status(p), 400);
    /* stays failed */
    assert_int_equal(feed_all(p, "GET / HTTP/1.1\r\n\r\n", &used), QVD_HTTP_ERROR);
    qvd_http_parser_free(p);

    p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    assert_int_equal(feed_all(p, "GET /?a=%zz HTTP/1.1\r\n\r\n", &used), QVD_HTTP_ERROR);
    assert_int_equal(qvd_http_parser_error_status(p), 400);
    qvd_http_parser_free(p);
}

static void
oversized_head_is_431(void **state)
{
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    size_t used;
    enum qvd_http_result r = feed_all(p, "GET / HTTP/1.1\r\nX-Big: ", &used);
    char chunk[1024];
    memset(chunk, 'a', sizeof(chunk));
    for (int i = 0; i < 20 && r == QVD_HTTP_NEED_MORE; i++)
        r = qvd_http_parser_feed(p, chunk, sizeof(chunk), &used);
    assert_int_equal(r, QVD_HTTP_ERROR);
    assert_int_equal(qvd_http_parser_error_status(p), 431);
    qvd_http_parser_free(p);

    p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    struct qvd_buf b = QVD_BUF_INIT;
    qvd_buf_adds(&b, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 65; i++)
        qvd_buf_printf(&b, "H%d: v\r\n", i);
    qvd_buf_adds(&b, "\r\n");
    assert_int_equal(feed_all(p, b.data, &used), QVD_HTTP_ERROR);
    assert_int_equal(qvd_http_parser_error_status(p), 431);
    qvd_buf_free(&b);
    qvd_http_parser_free(p);
}

static void
oversized_body_is_413(void **state)
{
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    size_t used;
    assert_int_equal(feed_all(p, "POST / HTTP/1.1\r\nContent-Length: 70000\r\n\r\n", &used),
                     QVD_HTTP_ERROR);
    assert_int_equal(qvd_http_parser_error_status(p), 413);
    qvd_http_parser_free(p);

    /* chunked bodies are counted as they come */
    p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    enum qvd_http_result r =
        feed_all(p, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &used);
    static char chunk[8192 + 16];
    memcpy(chunk, "2000\r\n", 6);
    memset(chunk + 6, 'x', 8192);
    memcpy(chunk + 6 + 8192, "\r\n", 2);
    for (int i = 0; i < 10 && r == QVD_HTTP_NEED_MORE; i++)
        r = qvd_http_parser_feed(p, chunk, 8192 + 8, &used);
    assert_int_equal(r, QVD_HTTP_ERROR);
    assert_int_equal(qvd_http_parser_error_status(p), 413);
    qvd_http_parser_free(p);
}

static void
response_interim_then_final(void **state)
{
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    const char *resp = "HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: starting\r\n\r\n"
                       "HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: waiting\r\n\r\n"
                       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Content-Length: 2\r\n\r\n[]";
    size_t used, off = 0;
    assert_int_equal(feed_all(p, resp, &used), QVD_HTTP_INTERIM);
    assert_int_equal(qvd_http_parser_msg(p)->status, 102);
    assert_string_equal(qvd_http_msg_header(qvd_http_parser_msg(p), "x-qvd-vm-info"), "starting");
    off += used;
    assert_int_equal(feed_all(p, resp + off, &used), QVD_HTTP_INTERIM);
    assert_string_equal(qvd_http_msg_header(qvd_http_parser_msg(p), "X-QVD-VM-Info"), "waiting");
    off += used;
    assert_int_equal(feed_all(p, resp + off, &used), QVD_HTTP_COMPLETE);
    const struct qvd_http_msg *m = qvd_http_parser_msg(p);
    assert_int_equal(m->status, 200);
    assert_string_equal(m->reason, "OK");
    assert_string_equal(qvd_buf_str((struct qvd_buf *)&m->body), "[]");
    qvd_http_parser_free(p);
}

static void
response_101_leaves_stream_bytes(void **state)
{
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    const char *resp = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                       "Upgrade: QVD/1.0\r\n\r\n\x01\x02stream";
    size_t used;
    assert_int_equal(feed_all(p, resp, &used), QVD_HTTP_COMPLETE);
    assert_int_equal(qvd_http_parser_msg(p)->status, 101);
    assert_true(qvd_http_parser_msg(p)->upgrade);
    assert_string_equal(resp + used, "\x01\x02stream");
    qvd_http_parser_free(p);
}

static void
response_until_eof(void **state)
{
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    size_t used;
    assert_int_equal(feed_all(p, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody", &used),
                     QVD_HTTP_NEED_MORE);
    assert_int_equal(qvd_http_parser_eof(p), QVD_HTTP_COMPLETE);
    assert_string_equal(qvd_buf_str((struct qvd_buf *)&qvd_http_parser_msg(p)->body), "body");
    qvd_http_parser_free(p);
}

static void
writers_and_urlencode(void **state)
{
    struct qvd_buf b = QVD_BUF_INIT;
    qvd_http_write_response(&b, 404, (const char *const[]){"X-A", "1", NULL}, "text/plain", "nope",
                            4);
    assert_string_equal(b.data, "HTTP/1.1 404 Not Found\r\nX-A: 1\r\nContent-Type: text/plain\r\n"
                                "Content-Length: 4\r\n\r\nnope");
    qvd_buf_reset(&b);
    qvd_http_write_response(&b, 101, (const char *const[]){"Upgrade", "QVD/1.0", NULL}, NULL, NULL,
                            0);
    assert_string_equal(b.data, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: QVD/1.0\r\n\r\n");
    qvd_buf_reset(&b);
    qvd_http_append_query(&b, (const char *const[]){"k", "a b&c=d/é", "x", "", NULL});
    assert_string_equal(b.data, "?k=a%20b%26c%3Dd%2F%C3%A9&x=");
    char *d = qvd_http_urldecode(b.data + 3, strlen(b.data + 3) - 3, true);
    assert_string_equal(d, "a b&c=d/é");
    free(d);
    assert_null(qvd_http_urldecode("%00", 3, false));
    assert_null(qvd_http_urldecode("%4", 2, false));
    qvd_buf_free(&b);
}

static void
simplerpc_encode_decode(void **state)
{
    struct qvd_buf b = QVD_BUF_INIT;
    json_t *r = json_string("listening");
    qvd_rpc_encode(&b, r, NULL);
    json_decref(r);
    assert_string_equal(b.data, "\"listening\"\r\n");
    json_t *res;
    char *err;
    assert_int_equal(qvd_rpc_decode(b.data, b.len, &res, &err), QVD_RPC_OK);
    assert_string_equal(json_string_value(res), "listening");
    json_decref(res);
    qvd_buf_reset(&b);
    qvd_rpc_encode(&b, NULL, "bad \"value\"");
    assert_string_equal(b.data, "\"\",\"bad \\\"value\\\"\"\r\n");
    assert_int_equal(qvd_rpc_decode(b.data, b.len, &res, &err), QVD_RPC_ERROR);
    assert_string_equal(err, "bad \"value\"");
    free(err);
    assert_int_equal(qvd_rpc_decode("1,2,3", 5, &res, &err), QVD_RPC_FAIL);
    free(err);
    qvd_buf_free(&b);
}

/* A one-shot server answering every connection with the given canned bytes. */
struct canned {
    int lfd, port, conns;
    const char *answer;
    char request[4096];
};

static void *
canned_serve(void *arg)
{
    struct canned *c = arg;
    for (int i = 0; i < c->conns; i++) {
        int fd = accept(c->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        ssize_t n = 0, r;
        while ((r = recv(fd, c->request + n, sizeof(c->request) - 1 - (size_t)n, 0)) > 0) {
            n += r;
            c->request[n] = 0;
            if (strstr(c->request, "\r\n\r\n"))
                break;
        }
        send(fd, c->answer, strlen(c->answer), MSG_NOSIGNAL);
        close(fd);
    }
    return NULL;
}

static pthread_t
canned_start(struct canned *c, const char *answer, int conns)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(sa);
    c->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->lfd >= 0);
    assert_int_equal(bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(c->lfd, 4), 0);
    getsockname(c->lfd, (struct sockaddr *)&sa, &l);
    c->port = ntohs(sa.sin_port);
    c->answer = answer;
    c->conns = conns;
    pthread_t t;
    pthread_create(&t, NULL, canned_serve, c);
    return t;
}

static void
rpc_blocking_call_sends_secret_and_decodes(void **state)
{
    struct canned c = {0};
    pthread_t t = canned_start(&c,
                               "HTTP/1.1 200 OK\r\nContent-Type: application/json-simplerpc\r\n"
                               "Content-Length: 6\r\n\r\n\"ok\"\r\n",
                               2);
    struct qvd_rpc_target tg = {"127.0.0.1", c.port, "s3cret", 2000};
    json_t *res = NULL;
    assert_int_equal(qvd_rpc_call(&tg, "ping", (const char *const[]){"k", "a b", NULL}, &res),
                     QVD_RPC_OK);
    assert_string_equal(json_string_value(res), "ok");
    json_decref(res);
    assert_non_null(strstr(c.request, "GET /vma/ping?k=a%20b HTTP/1.1\r\n"));
    assert_non_null(strstr(c.request, "Authorization: Bearer s3cret\r\n"));
    /* the upgrade call on a non-101 answer fails with the status */
    int fd = -1;
    struct qvd_buf left = QVD_BUF_INIT;
    assert_int_equal(qvd_rpc_upgrade(&tg, "/vma/x_connect", "QVD/1.0", NULL, &fd, &left), -1);
    assert_non_null(strstr(c.request, "Upgrade: QVD/1.0\r\n"));
    pthread_join(t, NULL);
    close(c.lfd);
    qvd_buf_free(&left);
}

static void
rpc_upgrade_returns_leftover(void **state)
{
    struct canned c = {0};
    pthread_t t = canned_start(&c,
                               "HTTP/1.1 102 Processing\r\n\r\n"
                               "HTTP/1.1 101 Switching Protocols\r\n\r\nNXDATA",
                               1);
    struct qvd_rpc_target tg = {"127.0.0.1", c.port, "s", 2000};
    int fd = -1;
    struct qvd_buf left = QVD_BUF_INIT;
    assert_int_equal(qvd_rpc_upgrade(&tg, "/vma/x_connect", "QVD/1.0", NULL, &fd, &left), 0);
    pthread_join(t, NULL);
    char rest[64] = "";
    ssize_t n = recv(fd, rest, sizeof(rest) - 1, 0);
    /* the 101 and the stream may arrive in one segment or two */
    qvd_buf_add(&left, rest, n > 0 ? (size_t)n : 0);
    assert_string_equal(qvd_buf_str(&left), "NXDATA");
    close(fd);
    close(c.lfd);
    qvd_buf_free(&left);
}

struct async_result {
    enum qvd_rpc_status st;
    char text[128];
    struct event_base *base;
};

static void
async_cb(enum qvd_rpc_status st, json_t *result, const char *error, void *arg)
{
    struct async_result *r = arg;
    r->st = st;
    snprintf(r->text, sizeof(r->text), "%s", st == QVD_RPC_OK ? json_string_value(result) : error);
    event_base_loopbreak(r->base);
}

static void
rpc_async_call_reports_result_and_error(void **state)
{
    struct canned c = {0};
    pthread_t t = canned_start(&c,
                               "HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n"
                               "\"\",\"session busy, retry\"\r\n",
                               1);
    struct async_result r = {.st = 99, .base = event_base_new()};
    struct qvd_rpc_target tg = {"127.0.0.1", c.port, "s", 2000};
    assert_non_null(qvd_rpc_call_async(r.base, &tg, "x_start", NULL, async_cb, &r));
    event_base_dispatch(r.base);
    assert_int_equal(r.st, QVD_RPC_ERROR);
    assert_string_equal(r.text, "session busy, retry");
    pthread_join(t, NULL);
    close(c.lfd);

    /* nobody listening: a transport failure, reported from the loop */
    tg.port = c.port;
    r.st = 99;
    assert_non_null(qvd_rpc_call_async(r.base, &tg, "ping", NULL, async_cb, &r));
    assert_int_equal(r.st, 99);
    event_base_dispatch(r.base);
    assert_int_equal(r.st, QVD_RPC_FAIL);
    event_base_free(r.base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_with_query_and_headers),
        cmocka_unit_test(request_fed_byte_by_byte),
        cmocka_unit_test(upgrade_request_leaves_stream_bytes),
        cmocka_unit_test(malformed_request_is_400),
        cmocka_unit_test(oversized_head_is_431),
        cmocka_unit_test(oversized_body_is_413),
        cmocka_unit_test(response_interim_then_final),
        cmocka_unit_test(response_101_leaves_stream_bytes),
        cmocka_unit_test(response_until_eof),
        cmocka_unit_test(writers_and_urlencode),
        cmocka_unit_test(simplerpc_encode_decode),
        cmocka_unit_test(rpc_blocking_call_sends_secret_and_decodes),
        cmocka_unit_test(rpc_upgrade_returns_leftover),
        cmocka_unit_test(rpc_async_call_reports_result_and_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* fuzz_rpc.c: libFuzzer target for QVD's SimpleRPC as both ends read it. The first byte
 * picks the side:
 *   0: the answer of a VMA (a guest: hostile) as the L7R and the HKD read it: an HTTP
 *      response fed in chunks, 1xx skipped, the body of a 200 decoded. A decoded result or
 *      error must encode and decode back to itself.
 *   1: requests as the VMA reads them (pipelined, as its connection loop feeds them).
 *   2: a call the L7R or the HKD makes: the rest, split at NUL bytes, is the method and
 *      key, value, ... parameters (some come from the user's client); the VMA must read back
 *      exactly that method and those parameters, none lost, merged or added. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "rpc.h"
#include "util.h"

#define MAX_PARAMS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* qvd_rpc_decode's contract, and encode then decode gives the same answer back. */
static void
check_decode(const char *body, size_t len)
{
    json_t *result, *again;
    char *error, *error2;
    struct qvd_buf b = QVD_BUF_INIT;
    enum qvd_rpc_status st = qvd_rpc_decode(body, len, &result, &error);

    if (st == QVD_RPC_OK) {
        if (result == NULL || error != NULL)
            __builtin_trap();
        qvd_rpc_encode(&b, result, NULL);
        if (qvd_rpc_decode(b.data, b.len, &again, &error2) != QVD_RPC_OK ||
            !json_equal(result, again))
            __builtin_trap();
        json_decref(again);
    } else {
        if (result != NULL || error == NULL)
            __builtin_trap();
        if (st == QVD_RPC_ERROR) {
            qvd_rpc_encode(&b, NULL, error);
            if (qvd_rpc_decode(b.data, b.len, &again, &error2) != QVD_RPC_ERROR ||
                strcmp(error, error2) != 0)
                __builtin_trap();
            free(error2);
        }
    }
    json_decref(result);
    free(error);
    qvd_buf_free(&b);
}

/* Feeds `kind` messages in chunks whose sizes come from the input; calls `done` on each
 * complete one. */
static void
feed(enum qvd_http_kind kind, const uint8_t *data, size_t size,
     void (*done)(const struct qvd_http_msg *m))
{
    struct qvd_http_parser *p = qvd_http_parser_new(kind);
    size_t off = 0;
    enum qvd_http_result r = QVD_HTTP_NEED_MORE;

    while (off < size) {
        size_t chunk = 1 + (data[off] % 128), used = 0;
        if (chunk > size - off)
            chunk = size - off;
        r = qvd_http_parser_feed(p, (const char *)data + off, chunk, &used);
        if (r == QVD_HTTP_ERROR)
            break;
        if (r == QVD_HTTP_COMPLETE)
            done(qvd_http_parser_msg(p));
        off += used;
        if (used == 0)
            break; /* nothing taken: the parser cannot go on */
    }
    if (r == QVD_HTTP_NEED_MORE && kind == QVD_HTTP_RESPONSE &&
        qvd_http_parser_eof(p) == QVD_HTTP_COMPLETE)
        done(qvd_http_parser_msg(p));
    qvd_http_parser_free(p);
}

static void
answer_done(const struct qvd_http_msg *m)
{
    if (m->status == 200)
        check_decode(m->body.data ? m->body.data : "", m->body.len);
}

/* What the VMA's server looks at in a request. */
static void
request_done(const struct qvd_http_msg *m)
{
    const char *auth = qvd_http_msg_header(m, "Authorization");

    if (m->method == NULL || m->path == NULL || (m->nparams > 0 && m->params == NULL))
        __builtin_trap();
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
        (void)qvd_secret_equal(auth + 7, "0123456789abcdef");
    for (size_t i = 0; i < m->nparams; i++)
        if (m->params[i].key == NULL || m->params[i].value == NULL)
            __builtin_trap();
    (void)qvd_http_msg_param(m, "qvd.vm.user.name");
}

/* A call as rpc.c writes it ("/vma/" method "?" params), read back by the VMA's parser. */
static void
round_trip(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *parts[1 + 2 * MAX_PARAMS + 1];
    struct qvd_buf target = QVD_BUF_INIT, req = QVD_BUF_INIT, path = QVD_BUF_INIT;
    size_t n = 0, used = 0;

    memcpy(text, data, size);
    text[size] = '\0';
    for (char *s = text; n < 1 + 2 * MAX_PARAMS && s <= text + size; s += strlen(s) + 1)
        parts[n++] = s;
    if (n % 2 == 0)
        n--; /* a key needs its value */
    parts[n] = NULL;
    qvd_buf_adds(&target, "/vma/");
    qvd_http_urlencode(&target, parts[0]);
    qvd_buf_adds(&path, "/vma/");
    qvd_buf_adds(&path, parts[0]);
    qvd_http_append_query(&target, (const char *const *)parts + 1);
    qvd_http_write_request(&req, "GET", target.data,
                           (const char *const[]){"Host", "10.0.0.2", NULL});
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    enum qvd_http_result r = qvd_http_parser_feed(p, req.data, req.len, &used);
    const struct qvd_http_msg *m = qvd_http_parser_msg(p);
    if (req.len <= QVD_HTTP_MAX_HEAD) { /* longer ones are refused, as they should */
        if (r != QVD_HTTP_COMPLETE || used != req.len || strcmp(m->path, path.data) != 0 ||
            m->nparams != (n - 1) / 2)
            __builtin_trap();
        for (size_t i = 0; i < m->nparams; i++)
            if (strcmp(m->params[i].key, parts[1 + 2 * i]) != 0 ||
                strcmp(m->params[i].value, parts[2 + 2 * i]) != 0)
                __builtin_trap();
    }
    qvd_http_parser_free(p);
    qvd_buf_free(&target);
    qvd_buf_free(&req);
    qvd_buf_free(&path);
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        feed(QVD_HTTP_RESPONSE, data + 1, size - 1, answer_done);
        break;
    case 1:
        feed(QVD_HTTP_REQUEST, data + 1, size - 1, request_done);
        break;
    default:
        round_trip(data + 1, size - 1);
    }
    return 0;
}

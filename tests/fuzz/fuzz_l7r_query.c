/* fuzz_l7r_query.c: libFuzzer target for the query string a user's client gives
 * connect_to_vm. The input follows "GET /qvd/connect_to_vm?"; a request the L7R would take
 * (parsed, only allowed keys, an id) becomes its x_start call, which the VMA parses in turn:
 * the VMA must get the client's parameters unchanged, and the login and slave key the L7R
 * set must be the first ones of their name it sees (no client parameter can stand in for
 * them, whatever its escapes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "l7r.h"
#include "util.h"

#define LOGIN "alice"
#define SLAVE_KEY "k3yk3yk3y"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The x_start call as rpc.c sends it, read by the VMA's parser: same list, same order. */
static void
check_x_start(char **params, size_t n)
{
    struct qvd_buf target = QVD_BUF_INIT, req = QVD_BUF_INIT;
    struct qvd_http_parser *vma = qvd_http_parser_new(QVD_HTTP_REQUEST);
    size_t used = 0;

    qvd_buf_adds(&target, "/vma/x_start");
    qvd_http_append_query(&target, (const char *const *)params);
    qvd_http_write_request(&req, "GET", target.data,
                           (const char *const[]){"Host", "10.0.0.2", NULL});
    enum qvd_http_result r = qvd_http_parser_feed(vma, req.data, req.len, &used);
    const struct qvd_http_msg *m = qvd_http_parser_msg(vma);
    if (req.len <= QVD_HTTP_MAX_HEAD) { /* longer ones the VMA refuses whole */
        if (r != QVD_HTTP_COMPLETE || strcmp(m->path, "/vma/x_start") != 0 || m->nparams != n / 2)
            __builtin_trap();
        for (size_t i = 0; i < m->nparams; i++)
            if (strcmp(m->params[i].key, params[2 * i]) != 0 ||
                strcmp(m->params[i].value, params[2 * i + 1]) != 0)
                __builtin_trap();
        if (strcmp(qvd_http_msg_param(m, "qvd.vm.user.name"), LOGIN) != 0 ||
            strcmp(qvd_http_msg_param(m, "qvd.slave.key"), SLAVE_KEY) != 0)
            __builtin_trap();
    }
    qvd_http_parser_free(vma);
    qvd_buf_free(&target);
    qvd_buf_free(&req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qvd_buf req = QVD_BUF_INIT;
    struct qvd_http_parser *l7r = qvd_http_parser_new(QVD_HTTP_REQUEST);
    size_t used = 0, n = 0;
    bool ok = true;

    qvd_buf_adds(&req, "GET /qvd/connect_to_vm?");
    qvd_buf_add(&req, data, size);
    qvd_buf_adds(&req, " HTTP/1.1\r\nHost: l7r\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\n"
                       "Authorization: Basic YWxpY2U6cw==\r\n\r\n");
    if (qvd_http_parser_feed(l7r, req.data, req.len, &used) == QVD_HTTP_COMPLETE) {
        const struct qvd_http_msg *m = qvd_http_parser_msg(l7r);
        for (size_t i = 0; i < m->nparams && ok; i++)
            ok = l7r_connect_param_allowed(m->params[i].key);
        if (ok && qvd_http_msg_param(m, "id") != NULL) {
            char **params = l7r_x_start_params(m, LOGIN, 42, SLAVE_KEY, &n);
            if (params[n] != NULL)
                __builtin_trap();
            check_x_start(params, n);
            for (size_t i = 0; i < n; i++)
                free(params[i]);
            free(params);
        }
    }
    qvd_http_parser_free(l7r);
    qvd_buf_free(&req);
    return 0;
}

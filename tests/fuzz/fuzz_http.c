/* fuzz_http.c: libFuzzer target for the HTTP parser: the first byte picks request (what
 * hconn reads for qvd-l7r and qvd-api, pipelined) or response, and the body limit (the
 * default, or qvd-admin's raised one); the rest is fed in chunks whose sizes come from the
 * input too. Every header and parameter of each message is walked. */
#include <stdint.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct qvd_http_parser *p;
    size_t off = 1;

    if (size < 2)
        return 0;
    p = qvd_http_parser_new(data[0] & 1 ? QVD_HTTP_RESPONSE : QVD_HTTP_REQUEST);
    if (data[0] & 2)
        qvd_http_parser_set_max_body(p, 32 * 1024 * 1024);
    while (off < size) {
        size_t chunk = 1 + (data[off] % 64), used = 0;
        if (chunk > size - off)
            chunk = size - off;
        enum qvd_http_result r = qvd_http_parser_feed(p, (const char *)data + off, chunk, &used);
        if (r == QVD_HTTP_ERROR)
            break;
        if (r == QVD_HTTP_COMPLETE || r == QVD_HTTP_INTERIM) {
            const struct qvd_http_msg *m = qvd_http_parser_msg(p);
            (void)qvd_http_msg_header(m, "Upgrade");
            (void)qvd_http_msg_param(m, "id");
            for (size_t i = 0; i < m->nheaders; i++)
                if (m->headers[i].name == NULL || m->headers[i].value == NULL)
                    __builtin_trap();
            for (size_t i = 0; i < m->nparams; i++)
                if (m->params[i].key == NULL || m->params[i].value == NULL)
                    __builtin_trap();
            if (r == QVD_HTTP_COMPLETE && !(data[0] & 1) && (m->path == NULL || m->method == NULL))
                __builtin_trap();
        }
        off += used ? used : chunk;
        if (used == 0 && r != QVD_HTTP_NEED_MORE)
            break;
    }
    qvd_http_parser_eof(p);
    qvd_http_parser_free(p);
    return 0;
}

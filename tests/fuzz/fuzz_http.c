/* fuzz_http.c: libFuzzer target for the HTTP parser: the first byte picks request or
 * response; the rest is fed in chunks whose sizes come from the input too. */
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
        }
        off += used ? used : chunk;
        if (used == 0 && r != QVD_HTTP_NEED_MORE)
            break;
    }
    qvd_http_parser_eof(p);
    qvd_http_parser_free(p);
    return 0;
}

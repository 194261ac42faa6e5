/* fuzz_client.c: libFuzzer target for qvd-client reading the L7R's answers (the server is
 * hostile as far as the client is concerned): the input is what the server sends, handed
 * to client_exchange in reads whose sizes come from the first byte; then, as the program
 * does, a 200 is read as the list of VMs and anything else becomes the sentence shown to
 * the user, which must stay printable text, as must the progress lines of 102 answers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "err.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct wire {
    const uint8_t *data;
    size_t size, off, step;
};

static int
wire_write(void *ctx, const void *data, size_t len, int64_t deadline)
{
    return 0;
}

/* Server bytes in reads of `step` bytes; 0 (the server closed) at the end. */
static ssize_t
wire_read(void *ctx, void *buf, size_t len, int64_t deadline)
{
    struct wire *w = ctx;
    size_t n = w->size - w->off;

    if (n > w->step)
        n = w->step;
    if (n > len)
        n = len;
    memcpy(buf, w->data + w->off, n);
    w->off += n;
    return (ssize_t)n;
}

/* No control character but the line ends (and, with ascii, nothing outside ASCII: the
 * sentences are; progress lines may carry UTF-8). */
static bool
printable(const char *s, size_t len, bool ascii)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n') || c == 0x7f || (ascii && c > 0x7f))
            return false;
    }
    return true;
}

static void
check_sentence(const struct qvd_http_msg *m)
{
    char out[512];
    int code = client_status_sentence(m->status, qvd_buf_str((struct qvd_buf *)&m->body),
                                      qvd_http_msg_header(m, "Retry-After"), out, sizeof(out));
    if (code <= CLIENT_EXIT_OK || strnlen(out, sizeof(out)) == sizeof(out) || out[0] == '\0')
        __builtin_trap();
    if (!printable(out, strlen(out), true))
        __builtin_trap(); /* server text reached the terminal unfiltered */
}

static void
check_list(const struct qvd_http_msg *m)
{
    struct client_vm *vms;
    size_t n;

    if (client_parse_vm_list(m->body.data ? m->body.data : "", m->body.len, &vms, &n) < 0) {
        if (*qvd_strerror() == '\0')
            __builtin_trap();
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (vms[i].id < 1 || vms[i].name == NULL || vms[i].state == NULL)
            __builtin_trap();
    client_free_vm_list(vms, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *progress;
    char *shown = NULL;
    size_t shown_len = 0;
    struct client_opts o = {
        .host = "l7r.example", .port = 8443, .idle_timeout_s = 60, .wait_timeout_s = 60};
    struct qvd_buf rest = QVD_BUF_INIT;
    struct qvd_http_parser *p;

    if (size < 1)
        return 0;
    if ((progress = open_memstream(&shown, &shown_len)) == NULL)
        abort();
    struct wire w = {.data = data + 1, .size = size - 1, .step = 1 + data[0] % 97};
    bool upgrade = (data[0] & 0x80) != 0;
    o.verbose = (data[0] & 0x40) != 0;
    p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    struct client_io io = {wire_write, wire_read, &w};
    if (client_exchange(&io, &o, "Basic dTpw",
                        upgrade ? "/qvd/connect_to_vm?id=1" : "/qvd/list_of_vm", upgrade, p, &rest,
                        progress) == CLIENT_XCHG_OK) {
        const struct qvd_http_msg *m = qvd_http_parser_msg(p);
        if (m->status == 200 && !upgrade)
            check_list(m);
        else if (m->status != 101)
            check_sentence(m);
    }
    fclose(progress);
    if (!printable(shown, shown_len, false))
        __builtin_trap(); /* a progress line let server control bytes through */
    free(shown);
    qvd_buf_free(&rest);
    qvd_http_parser_free(p);
    return 0;
}

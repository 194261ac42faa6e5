/* proto.c: the client side of QVD's L7R protocol: the request as QVD's clients write it,
 * answers read through 102 progress up to the final one (101 + stream bytes), VM lists. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "err.h"
#include "http.h"
#include "log.h"

#define USER_AGENT "qvd-client/" QVD_VERSION " (linux)"

int
client_parse_vm_list(const char *body, size_t len, struct client_vm **vms, size_t *n)
{
    json_error_t jerr;
    json_t *arr = json_loadb(body, len, 0, &jerr);
    *vms = NULL;
    *n = 0;
    if (arr == NULL || !json_is_array(arr)) {
        json_decref(arr);
        return qvd_seterr("the list of virtual machines is not a JSON array");
    }
    size_t count = json_array_size(arr);
    struct client_vm *v = qvd_xcalloc(count ? count : 1, sizeof(*v));
    for (size_t i = 0; i < count; i++) {
        json_t *o = json_array_get(arr, i);
        json_t *id = json_object_get(o, "id"), *name = json_object_get(o, "name");
        json_t *state = json_object_get(o, "state"), *blocked = json_object_get(o, "blocked");
        if (!json_is_object(o) || !json_is_integer(id) || json_integer_value(id) < 1) {
            client_free_vm_list(v, i);
            json_decref(arr);
            return qvd_seterr("entry %zu of the list of virtual machines has no valid id", i + 1);
        }
        v[i].id = (long)json_integer_value(id);
        v[i].name = qvd_xstrdup(json_is_string(name) ? json_string_value(name) : "");
        v[i].state = qvd_xstrdup(json_is_string(state) ? json_string_value(state) : "unknown");
        /* QVD sends an integer; accept a JSON boolean too */
        v[i].blocked =
            json_is_true(blocked) || (json_is_integer(blocked) && json_integer_value(blocked) != 0);
    }
    json_decref(arr);
    *vms = v;
    *n = count;
    return 0;
}

void
client_free_vm_list(struct client_vm *vms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(vms[i].name);
        free(vms[i].state);
    }
    free(vms);
}

char *
client_connect_target(const struct client_opts *o, long vm_id)
{
    char id[32];
    snprintf(id, sizeof(id), "%ld", vm_id);
    const char *params[] = {
        "id",
        id,
        "qvd.client.os",
        "linux",
        "qvd.client.geometry",
        o->geometry,
        "qvd.client.link",
        o->link,
        "qvd.client.keyboard",
        o->keyboard,
        "qvd.client.fullscreen",
        o->fullscreen ? "1" : "0",
        "qvd.client.printing.enabled", /* QVD's name and values */
        o->printing ? "1" : "0",
        /* QVD's VMA gives sound to a client that does not say: ours always says */
        "qvd.client.audio.enable",
        o->audio ? "1" : "0",
        "qvd.client.audio.compression.enable",
        o->audio_compression ? "1" : "0",
        "qvd.client.microphone.enable",
        o->audio && o->microphone ? "1" : "0",
        NULL,
    };
    struct qvd_buf b = QVD_BUF_INIT;
    qvd_buf_adds(&b, "/qvd/connect_to_vm");
    qvd_http_append_query(&b, params);
    return qvd_buf_steal(&b);
}

/* Server text made safe for the terminal: control characters become '?'. */
void
client_print_clean(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(iscntrl((unsigned char)*s) ? '?' : *s, f);
}

int
client_exchange(const struct client_io *io, const struct client_opts *o, const char *auth,
                const char *target, bool upgrade, struct qvd_http_parser *p, struct qvd_buf *rest,
                FILE *progress)
{
    char hostport[300];
    snprintf(hostport, sizeof(hostport), "%s:%d", o->host, o->port);
    const char *headers[] = {
        "Host",
        hostport,
        "Authorization",
        auth,
        "User-Agent",
        USER_AGENT,
        upgrade ? "Connection" : "Accept",
        upgrade ? "Upgrade" : "application/json",
        upgrade ? "Upgrade" : NULL,
        "QVD/1.0",
        NULL,
    };
    struct qvd_buf req = QVD_BUF_INIT;
    qvd_http_write_request(&req, "GET", target, headers);
    int64_t start = qvd_mono_ms();
    int64_t total = start + (int64_t)o->wait_timeout_s * 1000;
    int64_t idle = start + (int64_t)o->idle_timeout_s * 1000;
    log_debug("GET %s", target);
    int rc = io->write(io->ctx, req.data, req.len, idle < total ? idle : total);
    qvd_wipe(req.data, req.len);
    qvd_buf_free(&req);
    if (rc < 0)
        return CLIENT_XCHG_TRANSPORT;
    char last_info[256] = "";
    char buf[16384];
    for (;;) {
        if (qvd_mono_ms() >= total) {
            qvd_seterr("no answer after %d seconds", o->wait_timeout_s);
            return CLIENT_XCHG_TRANSPORT;
        }
        ssize_t n = io->read(io->ctx, buf, sizeof(buf), idle < total ? idle : total);
        if (n < 0)
            return CLIENT_XCHG_TRANSPORT;
        if (n == 0) {
            if (qvd_http_parser_eof(p) == QVD_HTTP_COMPLETE)
                return CLIENT_XCHG_OK;
            qvd_seterr("the server closed the connection without answering");
            return CLIENT_XCHG_TRANSPORT;
        }
        size_t pos = 0;
        while (pos < (size_t)n) {
            size_t used = 0;
            enum qvd_http_result r = qvd_http_parser_feed(p, buf + pos, (size_t)n - pos, &used);
            pos += used;
            if (r == QVD_HTTP_ERROR)
                return CLIENT_XCHG_MALFORMED;
            if (r == QVD_HTTP_COMPLETE) {
                qvd_buf_add(rest, buf + pos, (size_t)n - pos);
                return CLIENT_XCHG_OK;
            }
            if (r == QVD_HTTP_INTERIM) {
                const struct qvd_http_msg *m = qvd_http_parser_msg(p);
                const char *info = qvd_http_msg_header(m, "X-QVD-VM-Info");
                idle = qvd_mono_ms() + (int64_t)o->idle_timeout_s * 1000;
                if (info != NULL && (o->verbose || strncmp(info, last_info, 255) != 0)) {
                    snprintf(last_info, sizeof(last_info), "%s", info);
                    fputs("qvd-client: ", progress);
                    client_print_clean(progress, info);
                    fputc('\n', progress);
                    fflush(progress);
                }
                continue;
            }
            break; /* NEED_MORE: all consumed */
        }
    }
}

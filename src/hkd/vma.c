/* vma.c: the HKD's calls to the VMA of a VM (SimpleRPC over HTTP, authenticated with the
 * VM's per-start secret): liveness pings and poweroff, asynchronous on the event loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "config.h"
#include "hkd.h"
#include "log.h"
#include "util.h"

struct call {
    struct hkd_vm *vm;
    void (*done)(struct hkd_vm *vm, bool alive);
    struct evhttp_connection *conn;
};

/* A SimpleRPC answer is "<json result>\r\n", or "\"\",<json error>\r\n" on failure. */
static bool
answer_ok(struct evhttp_request *req)
{
    struct evbuffer *in;
    char body[1024];
    size_t len;
    json_t *arr;
    bool ok;

    if (req == NULL || evhttp_request_get_response_code(req) != 200)
        return false;
    in = evhttp_request_get_input_buffer(req);
    len = evbuffer_get_length(in);
    if (len == 0 || len > sizeof(body) - 3)
        return false;
    body[0] = '[';
    evbuffer_copyout(in, body + 1, len);
    body[len + 1] = ']';
    body[len + 2] = '\0';
    arr = json_loads(body, 0, NULL);
    ok = arr != NULL && json_is_array(arr) && json_array_size(arr) == 1;
    json_decref(arr);
    return ok;
}

static void
on_answer(struct evhttp_request *req, void *arg)
{
    struct call *c = arg;
    bool ok = answer_ok(req);

    if (c->done)
        c->done(c->vm, ok);
    /* the connection cannot be freed inside its own callback */
    evhttp_connection_free_on_completion(c->conn);
    free(c);
}

static void
call_vma(struct hkd_vm *vm, const char *method, int timeout_ms,
         void (*done)(struct hkd_vm *vm, bool alive))
{
    struct hkd *hkd = vm->hkd;
    struct call *c = qvd_xcalloc(1, sizeof(*c));
    struct evhttp_request *req;
    char uri[64], auth[128];

    c->vm = vm;
    c->done = done;
    c->conn = evhttp_connection_base_new(
        hkd->base, NULL, vm->ip, (unsigned short)qvd_config_int(hkd->cfg, "internal.vm.port.vma"));
    if (c->conn == NULL) {
        free(c);
        if (done)
            done(vm, false);
        return;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(c->conn, &tv);
    evhttp_connection_set_retries(c->conn, 0);
    req = evhttp_request_new(on_answer, c);
    snprintf(uri, sizeof(uri), "/vma/%s", method);
    snprintf(auth, sizeof(auth), "Bearer %s", vm->secret);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", vm->ip);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization", auth);
    qvd_wipe(auth, sizeof(auth));
    if (done)
        vm->ping_in_flight = true;
    if (evhttp_make_request(c->conn, req, EVHTTP_REQ_GET, uri) < 0) {
        vm->ping_in_flight = false;
        evhttp_connection_free(c->conn);
        free(c);
        if (done)
            done(vm, false);
    }
}

void
hkd_vma_ping(struct hkd_vm *vm, void (*done)(struct hkd_vm *vm, bool alive))
{
    /* while booting, a SYN sent before the VM's eth0 is up would wait a full second for
     * its retransmission: give up early and try again instead */
    int ms = vm->step == VM_STARTING_VMA
                 ? 200
                 : 1000 * (int)qvd_config_int(vm->hkd->cfg, "hkd.vma.ping.timeout");
    call_vma(vm, "ping", ms, done);
}

void
hkd_vma_poweroff(struct hkd_vm *vm)
{
    log_info("VM %lld: asking the VMA to power off", (long long)vm->id);
    call_vma(vm, "poweroff", 3000, NULL);
}

/* session.c: the flow of one run: list_of_vm / stop_vm / connect_to_vm on one TLS connection
 * while the server keeps it open (a new one otherwise), then the nxproxy relay. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "err.h"
#include "http.h"
#include "log.h"

#define SLAVE_KEY_MAX 128
#define END_ID_MAX 64
#define END_WAIT_MS 10000 /* the L7R may take a few seconds to learn why (a VMA to ask) */
#define END_POLL_MS 300

/* One TLS connection to the L7R and what its last answer said about reuse. */
struct conn {
    struct client_tls *tls;
    bool reusable;
};

static int
io_write(void *ctx, const void *data, size_t len, int64_t deadline)
{
    return client_tls_write(ctx, data, len, deadline);
}

static ssize_t
io_read(void *ctx, void *buf, size_t len, int64_t deadline)
{
    return client_tls_read(ctx, buf, len, deadline);
}

/* Runs one request; on a non-expected status prints the sentence for it. */
static int
request(struct conn *c, const struct client_opts *o, const char *auth, const char *target,
        bool upgrade, int expect, struct qvd_http_parser **pout, struct qvd_buf *rest)
{
    int code = 0;
    if (c->tls == NULL || !c->reusable) {
        client_tls_close(c->tls);
        c->tls = client_tls_connect(o, &code);
        if (c->tls == NULL)
            return code;
        c->reusable = true;
    }
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    struct client_io io = {io_write, io_read, c->tls};
    int x = client_exchange(&io, o, auth, target, upgrade, p, rest, stderr);
    if (x != CLIENT_XCHG_OK) {
        if (x == CLIENT_XCHG_MALFORMED)
            code = client_fail(CLIENT_EXIT_PROTOCOL, "The server sent a malformed answer (%s).",
                               qvd_strerror());
        else if (client_interrupted)
            code = client_fail(CLIENT_EXIT_INTERRUPTED, "Interrupted.");
        else
            code = client_fail(CLIENT_EXIT_UNREACHABLE,
                               "Lost the connection to %s:%d while "
                               "waiting for the server: %s.",
                               o->host, o->port, qvd_strerror());
        qvd_http_parser_free(p);
        return code;
    }
    const struct qvd_http_msg *m = qvd_http_parser_msg(p);
    c->reusable = m->keep_alive;
    log_debug("HTTP %d %s", m->status, m->reason ? m->reason : "");
    if (m->status != expect) {
        char sentence[512];
        code = client_status_sentence(m->status, qvd_buf_str((struct qvd_buf *)&m->body),
                                      qvd_http_msg_header(m, "Retry-After"), sentence,
                                      sizeof(sentence));
        client_fail(code, "%s", sentence);
        qvd_http_parser_free(p);
        return code;
    }
    *pout = p;
    return 0;
}

static void
print_vms(const struct client_vm *v, size_t n, bool json)
{
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:b}", "id", (json_int_t)v[i].id,
                                                 "name", v[i].name, "state", v[i].state, "blocked",
                                                 v[i].blocked));
        json_dumpf(arr, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(arr);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        printf("%ld\t", v[i].id);
        client_print_clean(stdout, v[i].name);
        fputc('\t', stdout);
        client_print_clean(stdout, v[i].state);
        fputs(v[i].blocked ? " (blocked)\n" : "\n", stdout);
    }
}

/* Lists the VMs, prints them for --list-vms, else picks the one to connect to. */
static int
list_and_choose(struct conn *c, struct client_opts *o, const char *auth)
{
    struct qvd_http_parser *p = NULL;
    struct qvd_buf rest = QVD_BUF_INIT;
    int code = request(c, o, auth, "/qvd/list_of_vm", false, 200, &p, &rest);
    qvd_buf_free(&rest);
    if (code != 0)
        return code;
    const struct qvd_http_msg *m = qvd_http_parser_msg(p);
    struct client_vm *vms;
    size_t n;
    if (client_parse_vm_list(m->body.data ? m->body.data : "", m->body.len, &vms, &n) < 0) {
        qvd_http_parser_free(p);
        return client_fail(CLIENT_EXIT_PROTOCOL, "The server sent a malformed answer (%s).",
                           qvd_strerror());
    }
    qvd_http_parser_free(p);
    if (o->list_vms) {
        print_vms(vms, n, o->json);
    } else if (n == 0) {
        code = client_fail(CLIENT_EXIT_NO_VM, "You have no virtual machine on this server.");
    } else if (n == 1) {
        o->vm_id = vms[0].id;
        log_info("connecting to the only virtual machine: %ld", o->vm_id);
    } else {
        print_vms(vms, n, false);
        code = client_fail(CLIENT_EXIT_CHOOSE,
                           "You have %zu virtual machines: choose one with "
                           "--vm-id ID (listed above).",
                           n);
    }
    client_free_vm_list(vms, n);
    return code;
}

/* Keeps the slave key as QVD's client does (~/.qvd/slave-key, 0600); failure only warns. */
static void
save_slave_key(const struct client_opts *o, const char *key)
{
    size_t n = key ? strlen(key) : 0;
    bool ok = n > 0 && n <= SLAVE_KEY_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)key[i]);
    if (!ok) {
        log_warn("no valid X-QVD-Slave-Key in the answer: slave channel features unavailable");
        return;
    }
    char *path = qvd_xasprintf("%s/slave-key", o->qvd_dir);
    if (qvd_mkdir_p(o->qvd_dir, 0700) < 0 || qvd_write_file(path, key, n, 0600) < 0)
        log_warn("cannot save the slave key in %s: %s", path, strerror(errno));
    free(path);
}

/* A token of 16..64 letters and digits (the L7R's X-QVD-Session-Id), else NULL. */
static const char *
valid_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;

    if (n < 16 || n > END_ID_MAX)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]))
            return NULL;
    return id;
}

/* One look at the ending: 1 with *reason (NULL: not known yet) and *message set (new
 * strings), or 0 with the reason it could not be asked in qvd_strerror(). */
static int
ask_end(struct conn *c, const struct client_opts *o, const char *auth, const char *id,
        char **reason, char **message)
{
    struct qvd_http_parser *p = NULL;
    struct qvd_buf rest = QVD_BUF_INIT;
    char *target = qvd_xasprintf("/qvd/session_end?id=%s", id);
    int code;

    client_fail_quiet = true;
    code = request(c, o, auth, target, false, 200, &p, &rest);
    client_fail_quiet = false;
    free(target);
    qvd_buf_free(&rest);
    if (code != 0)
        return 0;
    const struct qvd_http_msg *m = qvd_http_parser_msg(p);
    json_t *j = json_loadb(m->body.data ? m->body.data : "", m->body.len, 0, NULL);
    json_t *r = json_object_get(j, "reason"), *t = json_object_get(j, "message");
    int rc = json_is_object(j) ? 1 : 0;
    if (rc == 0)
        qvd_seterr("the server sent a malformed answer");
    *reason = json_is_string(r) ? qvd_xstrdup(json_string_value(r)) : NULL;
    *message = json_is_string(t) ? qvd_xstrdup(json_string_value(t)) : NULL;
    json_decref(j);
    qvd_http_parser_free(p);
    return rc;
}

/* The session's stream ended: asks the L7R why (a new connection, the same credentials)
 * for a while; the one sentence that says it goes to out (empty: nothing to say). Exit
 * status. */
static int
explain_end(const struct client_opts *o, const char *auth, const char *id, const char *broke,
            char *out, size_t outlen)
{
    struct conn c = {NULL, true};
    int64_t deadline = qvd_mono_ms() + END_WAIT_MS, unreachable_by = qvd_mono_ms() + 2000;
    char *reason = NULL, *message = NULL, why[300] = "";
    int code;

    out[0] = '\0';
    if (id == NULL) {
        /* an L7R that does not tell (QVD's) */
        if (broke == NULL)
            return CLIENT_EXIT_OK;
        snprintf(out, outlen, "The connection to %s:%d was lost: %s.", o->host, o->port, broke);
        return CLIENT_EXIT_LINK_LOST;
    }
    for (;;) {
        if (ask_end(&c, o, auth, id, &reason, &message) == 0) {
            snprintf(why, sizeof(why), "%s", qvd_strerror());
            c.reusable = false;
            if (qvd_mono_ms() >= unreachable_by)
                break;
        } else if (reason != NULL || qvd_mono_ms() >= deadline) {
            break;
        }
        if (qvd_mono_ms() >= deadline || client_interrupted)
            break;
        free(message);
        message = NULL;
        usleep(END_POLL_MS * 1000);
    }
    client_tls_close(c.tls);
    if (reason == NULL && message == NULL && why[0]) {
        size_t n = strlen(why);
        while (n > 0 && why[n - 1] == '.')
            why[--n] = '\0';
        snprintf(out, outlen, "The session ended and the server could not be asked why (%s).", why);
        code = CLIENT_EXIT_END_UNKNOWN;
    } else {
        code = client_end_sentence(reason, message, out, outlen);
    }
    free(reason);
    free(message);
    return code;
}

int
client_run(struct client_opts *o)
{
    struct conn c = {NULL, true};
    struct client_proxy px = {-1, -1};
    char *auth = client_auth_header(o->user, o->password, o->token);
    struct qvd_http_parser *p = NULL;
    struct qvd_buf rest = QVD_BUF_INIT;
    int code = 0;

    if (o->list_vms || o->vm_id == 0) {
        code = list_and_choose(&c, o, auth);
        if (code != 0 || o->list_vms)
            goto out;
    }
    if (o->restart) {
        char *target = qvd_xasprintf("/qvd/stop_vm?id=%ld", o->vm_id);
        code = request(&c, o, auth, target, false, 200, &p, &rest);
        free(target);
        if (code != 0)
            goto out;
        fprintf(stderr, "qvd-client: Stopped virtual machine %ld.\n", o->vm_id);
        qvd_http_parser_free(p);
        p = NULL;
        qvd_buf_reset(&rest);
    }
    char *target = client_connect_target(o, o->vm_id);
    code = request(&c, o, auth, target, true, 101, &p, &rest);
    free(target);
    if (code != 0)
        goto out;
    const struct qvd_http_msg *m = qvd_http_parser_msg(p);
    save_slave_key(o, qvd_http_msg_header(m, "X-QVD-Slave-Key"));
    char *end_id = valid_id(qvd_http_msg_header(m, "X-QVD-Session-Id"))
                       ? qvd_xstrdup(qvd_http_msg_header(m, "X-QVD-Session-Id"))
                       : NULL;
    const char *notice = qvd_http_msg_header(m, "X-QVD-Session-Notice");
    if (notice != NULL && strcmp(notice, "session_lost") == 0)
        fprintf(stderr, "qvd-client: Your previous session was lost (it crashed or was "
                        "stopped); this is a new session.\n");
    log_info("connected to virtual machine %ld; starting nxproxy", o->vm_id);
    code = client_proxy_start(o, &px);
    if (code == 0) {
        int rc = client_proxy_relay(o, &px, c.tls, &rest);
        char broke[256] = "";
        if (rc < 0)
            snprintf(broke, sizeof(broke), "%s", qvd_strerror());
        /* the question goes to the server the session came from, without asking the user
         * about its certificate a second time: exactly that certificate */
        struct client_opts again = *o;
        char fp[65] = "";
        if (client_tls_fingerprint(c.tls) != NULL) {
            snprintf(fp, sizeof(fp), "%s", client_tls_fingerprint(c.tls));
            again.fingerprint = fp;
            again.accept_cert = CLIENT_ACCEPT_ONCE;
        }
        client_tls_close(c.tls);
        c.tls = NULL;
        /* the user's own interruption needs no explaining; the sentence comes last, after
         * whatever nxproxy says while it ends */
        char sentence[512] = "";
        if (!client_interrupted)
            code = explain_end(&again, auth, end_id, rc < 0 ? broke : NULL, sentence,
                               sizeof(sentence));
        client_proxy_stop(&px);
        if (sentence[0])
            client_fail(code, "%s", sentence);
    }
    free(end_id);
out:
    client_proxy_stop(&px);
    qvd_wipe(auth, strlen(auth));
    free(auth);
    qvd_http_parser_free(p);
    qvd_buf_free(&rest);
    client_tls_close(c.tls);
    return code;
}

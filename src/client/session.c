/* session.c: the flow of one run: list_of_vm / stop_vm / connect_to_vm on one TLS connection
 * while the server keeps it open (a new one otherwise), then the nxproxy relay. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <sys/socket.h>
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
#define BACKOFF_MAX_S 16     /* the wait before a reconnect try doubles up to this */
#define RECONNECT_RESET_S 60 /* a reconnected session this old waits the shortest again */
#define SENTENCE_MAX 512

/* One TLS connection to the L7R and what its last answer said about reuse. */
struct conn {
    struct client_tls *tls;
    bool reusable;
    bool chosen;    /* a server of the list answered: the run's later connections go there */
    size_t first;   /* the server of the list to try first */
    int try, tries; /* the reconnect try this connection is for (0: the first connection) */
    char last[SENTENCE_MAX]; /* why the last try failed, for the progress line */
};

/* Makes servers[i] the one o->host and o->port name. */
static void
use_server(struct client_opts *o, size_t i)
{
    free(o->host);
    o->host = qvd_xstrdup(o->servers[i].host);
    o->port = o->servers[i].port;
}

/* "host:port", "[v6]:port" or "host (address):port" for a progress line. */
static void
describe(const struct client_opts *o, const struct addrinfo *a, char *out, size_t outlen)
{
    char addr[NI_MAXHOST] = "";
    bool v6 = strchr(o->host, ':') != NULL;

    if (a != NULL &&
        getnameinfo(a->ai_addr, a->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST) == 0 &&
        strcmp(addr, o->host) != 0)
        snprintf(out, outlen, "%s (%s):%d", o->host, addr, o->port);
    else
        snprintf(out, outlen, v6 ? "[%s]:%d" : "%s:%d", o->host, o->port);
}

/* The progress line before a try: every try of a reconnection, and on the first
 * connection every server after one that failed. */
static void
progress(const struct conn *c, const struct client_opts *o, const struct addrinfo *a, size_t i)
{
    char where[NI_MAXHOST + 300];

    if (c->try == 0 && c->last[0] == '\0')
        return;
    describe(o, a, where, sizeof(where));
    if (c->try > 0)
        fprintf(stderr, "qvd-client: Reconnecting to %s (try %d of %d): the last one failed: %s\n",
                where, c->try, c->tries, c->last);
    else
        fprintf(stderr, "qvd-client: Trying %s (server %zu of %zu): the last one failed: %s\n",
                where, i + 1, o->nservers, c->last);
}

/* One address (a) or, when the name does not resolve, none: connects c->tls. 0, or the
 * exit status with the sentence in c->last. */
static int
try_address(struct conn *c, struct client_opts *o, const struct addrinfo *a, size_t i)
{
    int code = 0;

    progress(c, o, a, i);
    bool quiet = client_fail_quiet;
    client_fail_quiet = true;
    c->tls = client_tls_connect(o, a ? a->ai_addr : NULL, a ? (unsigned)a->ai_addrlen : 0, &code);
    client_fail_quiet = quiet;
    if (c->tls != NULL)
        return 0;
    snprintf(c->last, sizeof(c->last), "%s", qvd_strerror());
    return code;
}

/* Connects to the first server of the list (from c->first on, and every address of each
 * name in turn) that answers. Only an unreachable server makes it move on: a certificate
 * that is not accepted is a final answer, as a wrong password is (docs/client.md). 0, or
 * the exit status with the sentence printed (on a reconnection, an unreachable list is left
 * to the caller: the sentence in c->last). */
static int
connect_any(struct conn *c, struct client_opts *o)
{
    int code = CLIENT_EXIT_UNREACHABLE;
    char port[16];

    for (size_t k = 0; k < o->nservers && code == CLIENT_EXIT_UNREACHABLE; k++) {
        size_t i = (c->first + k) % o->nservers;
        struct addrinfo hints = {
            .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
        struct addrinfo *ai = NULL;
        use_server(o, i);
        snprintf(port, sizeof(port), "%d", o->port);
        if (getaddrinfo(o->host, port, &hints, &ai) != 0) {
            code = try_address(c, o, NULL, i); /* says why the name does not resolve */
        } else {
            for (struct addrinfo *a = ai; a && code == CLIENT_EXIT_UNREACHABLE; a = a->ai_next)
                code = try_address(c, o, a, i);
            freeaddrinfo(ai);
        }
        if (code == 0) {
            c->chosen = true;
            c->first = i;
            free(o->once_hostport);
            free(o->once_fp);
            o->once_hostport = qvd_xasprintf("%s:%d", o->host, o->port);
            o->once_fp =
                qvd_xstrdup(client_tls_fingerprint(c->tls) ? client_tls_fingerprint(c->tls) : "");
            return 0;
        }
        if (client_interrupted)
            code = CLIENT_EXIT_INTERRUPTED;
    }
    if (c->try == 0 || code != CLIENT_EXIT_UNREACHABLE)
        client_fail(code, "%s", c->last);
    return code;
}

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
request(struct conn *c, struct client_opts *o, const char *auth, const char *target, bool upgrade,
        int expect, struct qvd_http_parser **pout, struct qvd_buf *rest)
{
    int code = 0;
    if (c->tls == NULL || !c->reusable) {
        client_tls_close(c->tls);
        c->tls = NULL;
        if (c->chosen)
            c->tls = client_tls_connect(o, NULL, 0, &code);
        else
            code = connect_any(c, o);
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

/* --app NAME|ID: the application of that id, else of that name (names are not unique: the
 * first, by id). Its name is kept for the ending's sentence. */
static int
choose_app(struct client_opts *o, const struct client_vm *vms, size_t n)
{
    long id = 0;
    bool numeric = qvd_parse_long(o->app, &id) == 0 && id > 0;
    const struct client_vm *hit = NULL;

    for (size_t i = 0; i < n && hit == NULL; i++)
        if (numeric && vms[i].id == id)
            hit = &vms[i];
    for (size_t i = 0; i < n && hit == NULL; i++)
        if (strcmp(vms[i].name, o->app) == 0)
            hit = &vms[i];
    if (hit == NULL)
        return client_fail(CLIENT_EXIT_NO_VM,
                           "You have no application \"%s\" on this server: see qvd-client "
                           "--list-apps.",
                           o->app);
    o->vm_id = hit->id;
    free(o->app);
    o->app = qvd_xstrdup(hit->name);
    log_info("connecting to application %ld", o->vm_id);
    return 0;
}

/* Lists the VMs (the applications for --list-apps and --app), prints them for --list-vms
 * and --list-apps, else picks the one to connect to. */
static int
list_and_choose(struct conn *c, struct client_opts *o, const char *auth)
{
    struct qvd_http_parser *p = NULL;
    struct qvd_buf rest = QVD_BUF_INIT;
    bool apps = o->list_apps || o->app != NULL;
    int code = request(c, o, auth, apps ? "/qvd/list_of_applications" : "/qvd/list_of_vm", false,
                       200, &p, &rest);
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
    if (o->list_vms || o->list_apps) {
        print_vms(vms, n, o->json);
    } else if (o->app != NULL) {
        code = choose_app(o, vms, n);
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
ask_end(struct conn *c, struct client_opts *o, const char *auth, const char *id, char **reason,
        char **message)
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
 * for a while; the one sentence that says it goes to out (empty: nothing to say), the
 * ending's name (client_end_reconnects) to key: the L7R's reason, or connection_lost when
 * the stream broke and no L7R is there to say more. Exit status. */
static int
explain_end(struct client_opts *o, const char *auth, const char *id, const char *broke, char *out,
            size_t outlen, char *key, size_t keylen)
{
    struct conn c = {.reusable = true, .chosen = true};
    int64_t deadline = qvd_mono_ms() + END_WAIT_MS, unreachable_by = qvd_mono_ms() + 2000;
    char *reason = NULL, *message = NULL, why[300] = "";
    int code;

    out[0] = '\0';
    key[0] = '\0';
    if (id == NULL) {
        /* an L7R that does not tell (QVD's) */
        if (broke == NULL)
            return CLIENT_EXIT_OK;
        snprintf(key, keylen, "connection_lost");
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
        snprintf(key, keylen, "connection_lost"); /* the L7R went away with the stream */
        code = CLIENT_EXIT_END_UNKNOWN;
    } else {
        snprintf(key, keylen, "%s", reason ? reason : "");
        code = client_end_sentence(reason, message, out, outlen);
    }
    free(reason);
    free(message);
    return code;
}

/* An application's session ends when the program exits, which the VMA reports as a
 * logout: said as what the user saw. The name is the server's: printable ASCII only. */
static void
app_ended(const char *name, char *out, size_t outlen)
{
    char clean[65];
    size_t i = 0;

    for (; name[i] && i < sizeof(clean) - 1; i++)
        clean[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
    clean[i] = '\0';
    snprintf(out, outlen, "The application %s ended.", clean);
}

/* How one connection to the session went (one_session). */
enum run_result {
    RUN_ENDED,     /* the session ran and ended; *key names the ending */
    RUN_REFUSED,   /* no session: a final answer, its sentence printed */
    RUN_NO_SERVER, /* no session: no server answered (or one was busy); sentence in c->last */
};

/* connect_to_vm on c (its server list), then nxproxy and the relay until the session ends,
 * then why it ended. The exit status in *code; on RUN_ENDED the ending's sentence in out
 * (not printed) and its name in key. */
static enum run_result
one_session(struct conn *c, struct client_opts *o, const char *auth, int *code, char *out,
            size_t outlen, char *key, size_t keylen)
{
    struct client_proxy px = {.pid = -1, .nx = -1, .channels = QVD_BUF_INIT};
    struct client_audio audio = {.pulse = -1, .module = -1};
    struct qvd_http_parser *p = NULL;
    struct qvd_buf rest = QVD_BUF_INIT;
    enum run_result res = RUN_REFUSED;
    char *target = client_connect_target(o, o->vm_id);

    out[0] = key[0] = '\0';
    bool quiet = client_fail_quiet;
    client_fail_quiet = c->try > 0; /* a reconnection says why a try failed in its progress */
    *code = request(c, o, auth, target, true, 101, &p, &rest);
    client_fail_quiet = quiet;
    free(target);
    if (*code != 0) {
        if (c->try > 0 && (*code == CLIENT_EXIT_UNREACHABLE || *code == CLIENT_EXIT_BUSY)) {
            if (c->tls != NULL) /* the server answered, then failed: its sentence */
                snprintf(c->last, sizeof(c->last), "%s", qvd_strerror());
            res = RUN_NO_SERVER;
        } else if (c->try > 0 && !client_interrupted) {
            client_fail(*code, "%s", qvd_strerror());
        }
        goto out;
    }
    const struct qvd_http_msg *m = qvd_http_parser_msg(p);
    save_slave_key(o, qvd_http_msg_header(m, "X-QVD-Slave-Key"));
    o->server_features = client_features_parse(qvd_http_msg_header(m, "X-QVD-Features"));
    client_slave_set_key(o, qvd_http_msg_header(m, "X-QVD-Slave-Key"));
    char *end_id = valid_id(qvd_http_msg_header(m, "X-QVD-Session-Id"))
                       ? qvd_xstrdup(qvd_http_msg_header(m, "X-QVD-Session-Id"))
                       : NULL;
    const char *notice = qvd_http_msg_header(m, "X-QVD-Session-Notice");
    if (notice != NULL && strcmp(notice, "session_lost") == 0)
        fprintf(stderr, "qvd-client: Your previous session was lost (it crashed or was "
                        "stopped); this is a new session.\n");
    if (c->try > 0)
        fprintf(stderr, "qvd-client: Reconnected to %s:%d.\n", o->host, o->port);
    client_audio_start(o, &audio);
    client_audio_nxproxy_args(&audio, &px.channels);
    log_info("connected to virtual machine %ld; starting nxproxy", o->vm_id);
    *code = client_proxy_start(o, &px);
    if (*code == 0) {
        res = RUN_ENDED;
        pid_t keeper = client_slave_start(o);
        int rc = client_proxy_relay(o, &px, c->tls, &rest);
        client_slave_stop(keeper);
        char broke[256] = "";
        if (rc < 0)
            snprintf(broke, sizeof(broke), "%s", qvd_strerror());
        /* the question goes to the server the session came from, without asking the user
         * about its certificate a second time: exactly that certificate */
        struct client_opts again = *o;
        char fp[65] = "";
        if (client_tls_fingerprint(c->tls) != NULL) {
            snprintf(fp, sizeof(fp), "%s", client_tls_fingerprint(c->tls));
            again.fingerprint = fp;
            again.accept_cert = CLIENT_ACCEPT_ONCE;
        }
        client_tls_close(c->tls);
        c->tls = NULL;
        /* the user's own interruption needs no explaining */
        if (!client_interrupted)
            *code =
                explain_end(&again, auth, end_id, rc < 0 ? broke : NULL, out, outlen, key, keylen);
        if (o->app != NULL && strcmp(key, "logout") == 0)
            app_ended(o->app, out, outlen);
    }
    free(end_id);
out:
    /* whatever nxproxy says while it ends comes before the ending's sentence */
    client_proxy_stop(&px);
    client_audio_stop(&audio);
    qvd_buf_free(&px.channels);
    qvd_http_parser_free(p);
    qvd_buf_free(&rest);
    client_tls_close(c->tls);
    c->tls = NULL;
    return res;
}

/* Waits `s` seconds before a reconnect try; false when a signal came (at once). */
static bool
backoff(int s)
{
    int64_t until = qvd_mono_ms() + (int64_t)s * 1000;
    while (!client_interrupted && qvd_mono_ms() < until)
        usleep(50 * 1000); /* a signal cuts it short */
    return !client_interrupted;
}

/* After a broken session (key names its ending, sentence says it): reconnects up to
 * o->reconnect_tries times with a growing wait, through the whole server list each time,
 * starting after the server that broke; the credentials are the ones in memory. Exit
 * status, its sentence printed. */
static int
reconnect(struct client_opts *o, const char *auth, size_t broke_at, char *key, char *sentence)
{
    char out[SENTENCE_MAX], nkey[64];
    int code = client_end_sentence(key, NULL, out, sizeof(out)), try = 0, wait_s = 1;
    struct conn c = {.reusable = true};

    snprintf(c.last, sizeof(c.last), "the session broke (%s).", key);
    for (;;) {
        if (++try > o->reconnect_tries) {
            fprintf(stderr,
                    "qvd-client: Gave up after %d tries to reconnect; the last one "
                    "failed: %s\n",
                    o->reconnect_tries, c.last);
            /* the ending that started it all, as a broken session that was not mended */
            code = client_end_sentence(key, NULL, sentence, SENTENCE_MAX);
            break;
        }
        if (!backoff(wait_s))
            return client_fail(CLIENT_EXIT_INTERRUPTED, "Interrupted while reconnecting.");
        wait_s = wait_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : wait_s * 2;
        c.chosen = false;
        c.reusable = true;
        c.first = (broke_at + 1) % o->nservers;
        c.try = try;
        c.tries = o->reconnect_tries;
        int64_t start = qvd_mono_ms();
        enum run_result r = one_session(&c, o, auth, &code, out, sizeof(out), nkey, sizeof(nkey));
        if (client_interrupted)
            return client_fail(CLIENT_EXIT_INTERRUPTED, "Interrupted while reconnecting.");
        if (r == RUN_REFUSED)
            return code; /* its sentence is printed */
        if (r == RUN_NO_SERVER)
            continue;
        /* the session ran again and ended */
        snprintf(sentence, SENTENCE_MAX, "%s", out);
        if (!client_end_reconnects(nkey))
            break;
        snprintf(key, 64, "%s", nkey);
        snprintf(c.last, sizeof(c.last), "the session broke (%s).", key);
        broke_at = c.first;
        /* a session that came back has its tries anew; the wait grows on while it keeps
         * breaking soon after, so that a flapping server is not hammered */
        try = 0;
        if (qvd_mono_ms() - start >= RECONNECT_RESET_S * 1000)
            wait_s = 1;
    }
    if (sentence[0])
        client_fail(code, "%s", sentence);
    return code;
}

int
client_run(struct client_opts *o)
{
    struct conn c = {.reusable = true};
    char *auth = client_auth_header(o->user, o->password, o->token);
    struct qvd_http_parser *p = NULL;
    struct qvd_buf rest = QVD_BUF_INIT;
    char sentence[SENTENCE_MAX], key[64];
    int code = 0;

    if (o->list_vms || o->list_apps || o->vm_id == 0) {
        code = list_and_choose(&c, o, auth);
        if (code != 0 || o->list_vms || o->list_apps)
            goto out;
    }
    if (o->restart) {
        char *target = qvd_xasprintf("/qvd/stop_vm?id=%ld", o->vm_id);
        code = request(&c, o, auth, target, false, 200, &p, &rest);
        free(target);
        if (code != 0)
            goto out;
        fprintf(stderr, "qvd-client: Stopped virtual machine %ld.\n", o->vm_id);
    }
    if (one_session(&c, o, auth, &code, sentence, sizeof(sentence), key, sizeof(key)) != RUN_ENDED)
        goto out;
    if (!client_interrupted && o->reconnect_tries > 0 && client_end_reconnects(key))
        code = reconnect(o, auth, c.first, key, sentence);
    else if (sentence[0])
        client_fail(code, "%s", sentence);
out:
    qvd_wipe(auth, strlen(auth));
    free(auth);
    qvd_http_parser_free(p);
    qvd_buf_free(&rest);
    client_tls_close(c.tls);
    return code;
}

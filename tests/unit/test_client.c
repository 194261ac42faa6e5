/* test_client.c: qvd-client's pure parts: config precedence and validation, status sentences,
 * the accepted-certificates file, credentials, VM lists and the request/answer exchange. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/client/client.h"
#include "err.h"
#include "http.h"
#include "slave.h"

static char tmpdir[64];

static int
setup_dir(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/qvd-test-client.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int
teardown_dir(void **state)
{
    qvd_rm_rf(tmpdir);
    return 0;
}

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *
fake_env(const char *name)
{
    if (strcmp(name, "QVDHOST") == 0)
        return "env.example";
    if (strcmp(name, "QVDLOGIN") == 0)
        return "envuser";
    return NULL;
}

static void
config_precedence_cli_env_user_system_default(void **state)
{
    char sys[128], user[128];
    snprintf(sys, sizeof(sys), "%s/system.conf", tmpdir);
    snprintf(user, sizeof(user), "%s/user.conf", tmpdir);
    write_text(sys,
               "client.host.name = sys.example\nclient.link = modem\nclient.geometry = 640x480\n"
               "client.keyboard = pc104/de\n");
    write_text(user,
               "client.host.name = user.example\nclient.link = wan\nclient.host.port = 9443\n");
    struct client_setting cli[] = {{"client.link", "lan"}};
    struct qvd_config *cfg = client_conf_load(sys, user, NULL, fake_env, cli, 1);
    assert_non_null(cfg);
    struct client_opts o = {0};
    assert_int_equal(client_conf_apply(cfg, &o), 0);
    assert_string_equal(o.host, "env.example"); /* environment over both files */
    assert_string_equal(o.user, "envuser");
    assert_string_equal(o.link, "lan");         /* command line over everything */
    assert_int_equal(o.port, 9443);             /* user file over the default */
    assert_string_equal(o.geometry, "640x480"); /* system file over the default */
    assert_string_equal(o.keyboard, "pc104/de");
    assert_false(o.fullscreen); /* default */
    assert_string_equal(o.nxproxy_command, "nxproxy");
    assert_int_equal(o.wait_timeout_s, 300);
    client_opts_free(&o);
    qvd_config_free(cfg);
}

static void
config_extra_file_over_user_file_and_must_exist(void **state)
{
    char user[128], extra[128], missing[128];
    snprintf(user, sizeof(user), "%s/u.conf", tmpdir);
    snprintf(extra, sizeof(extra), "%s/x.conf", tmpdir);
    snprintf(missing, sizeof(missing), "%s/none.conf", tmpdir);
    write_text(user, "client.host.name = u\n");
    write_text(extra, "client.host.name = x\nclient.fullscreen = 1\n");
    struct qvd_config *cfg = client_conf_load(NULL, user, extra, NULL, NULL, 0);
    struct client_opts o = {0};
    assert_int_equal(client_conf_apply(cfg, &o), 0);
    assert_string_equal(o.host, "x");
    assert_true(o.fullscreen);
    client_opts_free(&o);
    qvd_config_free(cfg);
    assert_null(client_conf_load(NULL, user, missing, NULL, NULL, 0));
    /* a missing user file is fine */
    cfg = client_conf_load(NULL, missing, NULL, NULL, NULL, 0);
    assert_non_null(cfg);
    qvd_config_free(cfg);
}

static void
validation_sentences_name_the_option(void **state)
{
    int port = 0;
    assert_int_equal(client_check_port("8443", &port), 0);
    assert_int_equal(port, 8443);
    assert_int_equal(client_check_port("0", &port), -1);
    assert_int_equal(client_check_port("65536", &port), -1);
    assert_int_equal(client_check_port("84x", &port), -1);
    assert_non_null(strstr(qvd_strerror(), "--port"));
    assert_int_equal(client_check_geometry("1024x768"), 0);
    assert_int_equal(client_check_geometry("1024X768"), -1);
    assert_int_equal(client_check_geometry("x768"), -1);
    assert_int_equal(client_check_geometry("1024x768x"), -1);
    assert_int_equal(client_check_geometry("0x768"), -1);
    assert_int_equal(client_check_geometry("99999x1"), -1);
    assert_string_equal(qvd_strerror(), "The geometry \"99999x1\" is not valid: give WIDTHxHEIGHT "
                                        "in pixels, each from 64 to 16384, like 1024x768 "
                                        "(--geometry or client.geometry).");
    assert_int_equal(client_check_geometry("63x768"), -1);
    assert_int_equal(client_check_geometry("64x64"), 0);
    assert_int_equal(client_check_geometry("16384x16385"), -1);
    for (const char *const *l =
             (const char *const[]){"modem", "isdn", "adsl", "wan", "lan", "local", NULL};
         *l; l++)
        assert_int_equal(client_check_link(*l), 0);
    assert_int_equal(client_check_link("fast"), -1);
    assert_non_null(strstr(qvd_strerror(), "modem, isdn, adsl, wan, lan or local"));
    assert_int_equal(client_check_keyboard("pc105/us"), 0);
    assert_int_equal(client_check_keyboard("pc105/latam"), 0);
    /* what the VMA refuses: a variant, a second layout (',' separates nxagent's options) */
    assert_int_equal(client_check_keyboard("pc105/us(intl)"), -1);
    assert_int_equal(client_check_keyboard("pc105/us,es"), -1);
    assert_int_equal(client_check_keyboard("us"), -1);
    assert_int_equal(client_check_keyboard("pc105/us&x=1"), -1);
}

static void
bad_values_in_config_are_refused(void **state)
{
    struct client_setting cli[] = {{"client.host.name", "h"}, {"client.fullscreen", "maybe"}};
    /* a value of the wrong type is refused where it is set, naming the key */
    struct qvd_config *cfg = client_conf_load(NULL, NULL, NULL, NULL, cli, 2);
    struct client_opts o = {0};
    assert_null(cfg);
    assert_non_null(strstr(qvd_strerror(), "client.fullscreen"));
    cfg = client_conf_load(NULL, NULL, NULL, NULL, NULL, 0);
    assert_int_equal(client_conf_apply(cfg, &o), -1);
    assert_string_equal(qvd_strerror(), "No server given: use --host HOST, QVDHOST or "
                                        "client.host.name.");
    client_opts_free(&o);
    qvd_config_free(cfg);
}

/* parses `list`, expects `n` servers written "host port" joined by blanks in `want` */
static void
servers_are(const char *list, const char *want)
{
    struct client_server *v = NULL;
    size_t n = 0;
    char got[512] = "";
    assert_int_equal(client_parse_servers(list, 8443, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s %d", i ? " " : "", v[i].host,
                 v[i].port);
    assert_string_equal(got, want);
    client_servers_free(v, n);
}

static void
server_bad(const char *list)
{
    struct client_server *v = NULL;
    size_t n = 0;
    assert_int_equal(client_parse_servers(list, 8443, &v, &n), -1);
    assert_null(v);
    assert_non_null(strstr(qvd_strerror(), "client.host.name"));
}

static void
server_lists_parse_names_ipv4_and_bracketed_ipv6(void **state)
{
    servers_are("l7r.example", "l7r.example 8443");
    servers_are("a,b:8444, 10.0.0.1 ,10.0.0.2:9000", "a 8443 b 8444 10.0.0.1 8443 10.0.0.2 9000");
    servers_are("[::1],[fd00::2]:8445,::1,fe80::1", "::1 8443 fd00::2 8445 ::1 8443 fe80::1 8443");
    servers_are("node-1.qvd_x", "node-1.qvd_x 8443");
    server_bad("");
    assert_string_equal(qvd_strerror(), "No server given: use --host HOST, QVDHOST or "
                                        "client.host.name.");
    server_bad("a,,b");
    assert_non_null(strstr(qvd_strerror(), "The server \"\" is not valid"));
    server_bad("a,");
    server_bad("a:0");
    server_bad("a:65536");
    server_bad("a:");
    server_bad(":8443");
    server_bad("a:b:c");
    server_bad("[::1]8443");
    server_bad("[::1");
    server_bad("[a.b]:1");
    server_bad("[]:1");
    server_bad("h/x");
    server_bad("a b");
    assert_non_null(strstr(qvd_strerror(), "The server \"a b\" is not valid"));
    char many[200] = "h";
    for (int i = 0; i < 32; i++)
        strcat(many, ",h");
    server_bad(many);
    assert_non_null(strstr(qvd_strerror(), "at most 32"));
    /* the list and the default port come from the config; the first server is used first */
    struct client_setting cli[] = {{"client.host.name", "x, [::1]:1"},
                                   {"client.host.port", "9443"},
                                   {"client.reconnect.tries", "3"}};
    struct qvd_config *cfg = client_conf_load(NULL, NULL, NULL, NULL, cli, 3);
    struct client_opts o = {0};
    assert_int_equal(client_conf_apply(cfg, &o), 0);
    assert_int_equal(o.nservers, 2);
    assert_string_equal(o.host, "x");
    assert_int_equal(o.port, 9443);
    assert_string_equal(o.servers[1].host, "::1");
    assert_int_equal(o.servers[1].port, 1);
    assert_int_equal(o.reconnect_tries, 3);
    client_opts_free(&o);
    qvd_config_free(cfg);
    struct client_setting bad[] = {{"client.host.name", "x"}, {"client.reconnect.tries", "-1"}};
    cfg = client_conf_load(NULL, NULL, NULL, NULL, bad, 2);
    assert_int_equal(client_conf_apply(cfg, &o), -1);
    assert_non_null(strstr(qvd_strerror(), "client.reconnect.tries"));
    client_opts_free(&o);
    qvd_config_free(cfg);
    /* the default: QVD's client retries 5 times */
    cfg = client_conf_load(NULL, NULL, NULL, NULL, cli, 1);
    assert_int_equal(client_conf_apply(cfg, &o), 0);
    assert_int_equal(o.reconnect_tries, 5);
    client_opts_free(&o);
    qvd_config_free(cfg);
}

static void
broken_sessions_reconnect_chosen_endings_do_not(void **state)
{
    /* broken: the stream cut (or the L7R gone with it), the node lost, the L7R stopping */
    assert_true(client_end_reconnects("connection_lost"));
    assert_true(client_end_reconnects("node_lost"));
    assert_true(client_end_reconnects("server_shutdown"));
    /* chosen by the user or an administrator, or the desktop lost */
    const char *const chosen[] = {"client_closed",   "logout",           "admin_stop",
                                  "takeover",        "admin_disconnect", "vm_crashed",
                                  "session_crashed", "moon_fell",        ""};
    for (size_t i = 0; i < sizeof(chosen) / sizeof(chosen[0]); i++)
        assert_false(client_end_reconnects(chosen[i]));
    assert_false(client_end_reconnects(NULL));
}

static int
sentence(int status, const char *body, const char *retry, char *out)
{
    return client_status_sentence(status, body, retry, out, 512);
}

static void
status_codes_become_sentences(void **state)
{
    char s[512];
    assert_int_equal(sentence(401, "", NULL, s), CLIENT_EXIT_LOGIN);
    assert_string_equal(s, "Login failed: wrong user name or password.");
    assert_int_equal(
        sentence(403, "The requested virtual machine is offline for maintenance", NULL, s),
        CLIENT_EXIT_FORBIDDEN);
    assert_string_equal(s, "The virtual machine is offline for maintenance.");
    assert_int_equal(
        sentence(403, "You are not allowed to access requested virtual machine", NULL, s),
        CLIENT_EXIT_FORBIDDEN);
    assert_string_equal(s, "You are not allowed to use this virtual machine.");
    assert_int_equal(sentence(404, "The requested virtual machine does not exist", NULL, s),
                     CLIENT_EXIT_NO_VM);
    assert_string_equal(s, "No such virtual machine.");
    assert_int_equal(sentence(429, "", "42", s), CLIENT_EXIT_THROTTLED);
    assert_string_equal(s, "Too many failed logins: try again in 42 seconds.");
    sentence(429, "Locked for 17 seconds", NULL, s);
    assert_string_equal(s, "Too many failed logins: try again in 17 seconds.");
    assert_int_equal(sentence(426, "", NULL, s), CLIENT_EXIT_OLD_CLIENT);
    assert_string_equal(s, "The server needs a newer client.");
    assert_int_equal(sentence(503, "", NULL, s), CLIENT_EXIT_BUSY);
    assert_string_equal(s, "The server is busy or under maintenance: try again later.");
    sentence(503, "Server is blocked\r\n", NULL, s);
    assert_string_equal(s, "The server is busy or under maintenance (it says: Server is blocked): "
                           "try again later.");
    assert_int_equal(sentence(500, "boom\x1b[2J", NULL, s), CLIENT_EXIT_PROTOCOL);
    assert_null(strchr(s, '\x1b')); /* server text cannot drive the terminal */
}

static void
final_refusals_and_endings_become_sentences(void **state)
{
    char s[512];
    assert_int_equal(sentence(403,
                              "The virtual machine refused the session: invalid value for "
                              "parameter qvd.client.geometry (WxH expected)\r\n",
                              NULL, s),
                     CLIENT_EXIT_FORBIDDEN);
    assert_string_equal(s, "The virtual machine refused the session; waiting will not help "
                           "(invalid value for parameter qvd.client.geometry (WxH expected)).");
    assert_int_equal(client_end_sentence("takeover", NULL, s, sizeof(s)), CLIENT_EXIT_TAKEN_OVER);
    assert_int_equal(client_end_sentence("admin_stop", NULL, s, sizeof(s)), CLIENT_EXIT_VM_STOPPED);
    assert_string_equal(
        s, "An administrator stopped your virtual machine: connect again to start it.");
    assert_int_equal(client_end_sentence("client_closed", NULL, s, sizeof(s)), CLIENT_EXIT_OK);
    assert_string_equal(s, "");
    assert_int_equal(client_end_sentence("logout", NULL, s, sizeof(s)), CLIENT_EXIT_OK);
    /* a reason of a newer server: its own sentence, made safe */
    assert_int_equal(client_end_sentence("moon_fell", "The moon fell\x1b[2J", s, sizeof(s)),
                     CLIENT_EXIT_END_UNKNOWN);
    assert_null(strchr(s, '\x1b'));
    assert_int_equal(client_end_sentence(NULL, NULL, s, sizeof(s)), CLIENT_EXIT_END_UNKNOWN);
    assert_string_equal(s, "The session ended and the server did not say why.");
}

#define FP_A "cb22b4fca352bf89c0de2443fd8ee19f70bbeecf18f45ddd193f7b5225e9d7b8"
#define FP_B "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void
fingerprint_file_store_lookup_and_modes(void **state)
{
    char dir[128], file[160], stored[65] = "";
    snprintf(dir, sizeof(dir), "%s/qvd", tmpdir);
    snprintf(file, sizeof(file), "%s/accepted_certs", dir);
    assert_int_equal(client_fp_lookup(file, "h:8443", FP_A, NULL), CLIENT_FP_UNKNOWN);
    assert_int_equal(client_fp_store(file, "h:8443", FP_A), 0);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(client_fp_lookup(file, "h:8443", FP_A, NULL), CLIENT_FP_MATCH);
    assert_int_equal(client_fp_lookup(file, "h:8443", FP_B, stored), CLIENT_FP_CHANGED);
    assert_string_equal(stored, FP_A);
    assert_int_equal(client_fp_lookup(file, "h:9443", FP_A, NULL), CLIENT_FP_UNKNOWN);
    assert_int_equal(client_fp_lookup(file, "h", FP_A, NULL), CLIENT_FP_UNKNOWN);
    /* a looser mode is tightened on the next store; a second host is appended */
    chmod(file, 0644);
    assert_int_equal(client_fp_store(file, "other:1", FP_B), 0);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(qvd_read_file(file, 4096, &text, &len), 0);
    assert_string_equal(text, "h:8443 " FP_A "\nother:1 " FP_B "\n");
    free(text);
}

static void
fingerprints_normalize_and_print(void **state)
{
    char fp[65], pretty[100];
    assert_int_equal(client_fp_normalize("CB:22:B4:FC:A3:52:BF:89:C0:DE:24:43:FD:8E:E1:9F:70:BB:"
                                         "EE:CF:18:F4:5D:DD:19:3F:7B:52:25:E9:D7:B8",
                                         fp),
                     0);
    assert_string_equal(fp, FP_A);
    assert_int_equal(client_fp_normalize("cb22", fp), -1);
    assert_int_equal(client_fp_normalize(FP_A "00", fp), -1);
    assert_int_equal(client_fp_normalize("zz" FP_A, fp), -1);
    client_fp_pretty(FP_A, pretty, sizeof(pretty));
    assert_string_equal(pretty, "CB:22:B4:FC:A3:52:BF:89:C0:DE:24:43:FD:8E:E1:9F:70:BB:EE:CF:18:"
                                "F4:5D:DD:19:3F:7B:52:25:E9:D7:B8");
}

static void
credentials_are_basic_base64_or_bearer_as_given(void **state)
{
    char *h = client_auth_header("alice", "secret", NULL);
    assert_string_equal(h, "Basic YWxpY2U6c2VjcmV0"); /* the value QVD's clients send */
    free(h);
    h = client_auth_header("bob@acme", "p:ss", NULL);
    assert_string_equal(h, "Basic Ym9iQGFjbWU6cDpzcw==");
    free(h);
    h = client_auth_header("alice", "secret", "dG9rZW4=");
    assert_string_equal(h, "Bearer dG9rZW4=");
    free(h);
    char *b = client_base64("token", 5);
    assert_string_equal(b, "dG9rZW4=");
    free(b);
}

static void
password_file_first_line(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/pw", tmpdir);
    write_text(path, "s3cret\r\nignored\n");
    char *pw = client_read_password_file(path);
    assert_string_equal(pw, "s3cret");
    free(pw);
    snprintf(path, sizeof(path), "%s/none", tmpdir);
    assert_null(client_read_password_file(path));
}

static void
vm_list_parses_qvd_json(void **state)
{
    const char *body = "[\n {\"id\":7,\"state\":\"stopped\",\"name\":\"desk\",\"blocked\":0,"
                       "\"is_application\":0},\n {\"id\":9,\"state\":\"running\",\"name\":\"lab\","
                       "\"blocked\":1}, {\"id\":10,\"blocked\":true}]";
    struct client_vm *v;
    size_t n;
    assert_int_equal(client_parse_vm_list(body, strlen(body), &v, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].id, 7);
    assert_string_equal(v[0].name, "desk");
    assert_false(v[0].blocked);
    assert_true(v[1].blocked);
    assert_true(v[2].blocked);
    assert_string_equal(v[2].state, "unknown");
    client_free_vm_list(v, n);
    assert_int_equal(client_parse_vm_list("{}", 2, &v, &n), -1);
    assert_int_equal(client_parse_vm_list("[{\"id\":\"7\"}]", 12, &v, &n), -1);
    assert_int_equal(client_parse_vm_list("[]", 2, &v, &n), 0);
    assert_int_equal(n, 0);
    client_free_vm_list(v, n);
}

static void
connect_target_has_qvd_parameters(void **state)
{
    struct client_opts o = {
        .geometry = "800x600", .link = "lan", .keyboard = "pc105/us", .fullscreen = true};
    char *t = client_connect_target(&o, 12);
    assert_string_equal(
        t, "/qvd/connect_to_vm?id=12&qvd.client.os=linux&qvd.client.geometry="
           "800x600&qvd.client.link=lan&qvd.client.keyboard=pc105%2Fus&"
           "qvd.client.fullscreen=1&qvd.client.printing.enabled=0&qvd.client.audio.enable=0&"
           "qvd.client.audio.compression.enable=0&qvd.client.microphone.enable=0");
    free(t);
    o.audio = o.microphone = o.audio_compression = true;
    t = client_connect_target(&o, 12);
    assert_non_null(strstr(t, "&qvd.client.audio.enable=1&qvd.client.audio.compression.enable=1&"
                              "qvd.client.microphone.enable=1"));
    free(t);
    o.printing = true; /* QVD's parameter and value for a client that prints */
    t = client_connect_target(&o, 12);
    assert_non_null(strstr(t, "&qvd.client.printing.enabled=1"));
    free(t);
}

/* printing: the CUPS port is checked; nxproxy gets cups=<port> only when the user asked and
 * the server has printing on */
static void
printing_options_and_nxproxy_word(void **state)
{
    struct client_opts o = {0};
    struct qvd_config *cfg = qvd_config_new();
    assert_int_equal(client_printing_apply(cfg, &o), 0);
    assert_false(o.printing);
    assert_int_equal(o.cups_port, 631);
    assert_int_equal(qvd_config_set(cfg, "client.printing.cups.port", "0"), 0);
    assert_int_equal(client_printing_apply(cfg, &o), -1);
    assert_non_null(strstr(qvd_strerror(), "client.printing.cups.port"));
    assert_int_equal(qvd_config_set(cfg, "client.printing.cups.port", "8631"), 0);
    assert_int_equal(qvd_config_set(cfg, "client.printing.enable", "1"), 0);
    assert_int_equal(client_printing_apply(cfg, &o), 0);
    assert_true(o.printing);
    qvd_config_free(cfg);

    struct qvd_buf w = QVD_BUF_INIT;
    o.server_features = client_features_parse("audio,printing");
    client_printing_nx_options(&o, &w);
    assert_string_equal(qvd_buf_str(&w), " cups=8631");
    o.server_features = client_features_parse("audio"); /* off there: nothing */
    client_printing_nx_options(&o, &w);
    o.printing = false;
    o.server_features = client_features_parse(NULL);
    client_printing_nx_options(&o, &w); /* not asked: nothing */
    assert_string_equal(qvd_buf_str(&w), " cups=8631");
    qvd_buf_free(&w);
}

/* ---- the exchange over a socketpair: the other end is a canned server ---- */

static int
fd_write(void *ctx, const void *data, size_t len, int64_t deadline)
{
    return write(*(int *)ctx, data, len) == (ssize_t)len ? 0 : -1;
}

static ssize_t
fd_read(void *ctx, void *buf, size_t len, int64_t deadline)
{
    struct pollfd p = {.fd = *(int *)ctx, .events = POLLIN};
    int64_t left = deadline - qvd_mono_ms();
    if (poll(&p, 1, left > 0 ? (int)left : 0) <= 0)
        return qvd_seterr("timed out");
    return read(*(int *)ctx, buf, len);
}

struct xchg {
    int rc;
    char request[2048];
    char progress[1024];
    struct qvd_buf rest;
    int status;
};

/* Runs one exchange with the canned server answer already waiting in the socket. */
static void
run_exchange(const char *answer, size_t alen, bool upgrade, int idle_s, struct xchg *x)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[1], answer, alen), (ssize_t)alen);
    struct client_opts o = {
        .host = "l7r", .port = 8443, .idle_timeout_s = idle_s, .wait_timeout_s = 300};
    struct client_io io = {fd_write, fd_read, &sv[0]};
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_RESPONSE);
    FILE *prog = fmemopen(x->progress, sizeof(x->progress), "w");
    memset(&x->rest, 0, sizeof(x->rest));
    x->rc = client_exchange(&io, &o, "Basic YWxpY2U6c2VjcmV0", "/qvd/connect_to_vm?id=1", upgrade,
                            p, &x->rest, prog);
    fclose(prog);
    x->status = x->rc == 0 ? qvd_http_parser_msg(p)->status : 0;
    ssize_t n = read(sv[1], x->request, sizeof(x->request) - 1);
    x->request[n > 0 ? n : 0] = '\0';
    qvd_http_parser_free(p);
    close(sv[0]);
    close(sv[1]);
}

static void
exchange_shows_progress_and_keeps_bytes_after_101(void **state)
{
    static const char answer[] =
        "HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Starting virtual machine\r\n\r\n"
        "HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Starting virtual machine\r\n\r\n"
        "HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Waiting for\tthe session\r\n\r\n"
        "HTTP/1.1 101 Switching Protocols\r\nX-QVD-Slave-Key: abc\r\n\r\nNX\0bytes";
    struct xchg x;
    run_exchange(answer, sizeof(answer) - 1, true, 5, &x);
    assert_int_equal(x.rc, CLIENT_XCHG_OK);
    assert_int_equal(x.status, 101);
    assert_int_equal(x.rest.len, 8);
    assert_memory_equal(x.rest.data, "NX\0bytes", 8);
    /* a repeated text is shown once; control characters are neutralised */
    assert_string_equal(x.progress, "qvd-client: Starting virtual machine\n"
                                    "qvd-client: Waiting for?the session\n");
    assert_non_null(strstr(x.request, "GET /qvd/connect_to_vm?id=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(x.request, "\r\nAuthorization: Basic YWxpY2U6c2VjcmV0\r\n"));
    assert_non_null(strstr(x.request, "\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\n"));
    qvd_buf_free(&x.rest);
}

static void
exchange_reads_error_answers_and_plain_requests(void **state)
{
    static const char answer[] = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                                 "Content-Length: 5\r\n\r\nnope!";
    struct xchg x;
    run_exchange(answer, sizeof(answer) - 1, false, 5, &x);
    assert_int_equal(x.rc, CLIENT_XCHG_OK);
    assert_int_equal(x.status, 404);
    assert_null(strstr(x.request, "Upgrade"));
    qvd_buf_free(&x.rest);
}

static void
exchange_gives_up_when_the_server_is_silent(void **state)
{
    static const char answer[] = "HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Starting\r\n\r\n";
    struct xchg x;
    int64_t t0 = qvd_mono_ms();
    run_exchange(answer, sizeof(answer) - 1, true, 1, &x);
    assert_int_equal(x.rc, CLIENT_XCHG_TRANSPORT);
    assert_true(qvd_mono_ms() - t0 >= 900);
    qvd_buf_free(&x.rest);
}

static void
exchange_rejects_malformed_and_oversized_answers(void **state)
{
    struct xchg x;
    run_exchange("HTTP/1.1 abc\r\n\r\n", 16, false, 5, &x);
    assert_int_equal(x.rc, CLIENT_XCHG_MALFORMED);
    qvd_buf_free(&x.rest);
    size_t big = QVD_HTTP_MAX_HEAD + 4096;
    char *huge = malloc(big);
    memcpy(huge, "HTTP/1.1 200 OK\r\nX-Fill: ", 25);
    memset(huge + 25, 'a', big - 25);
    /* a head over the parser's limit is refused, not buffered without end */
    run_exchange(huge, big, false, 5, &x);
    assert_int_equal(x.rc, CLIENT_XCHG_MALFORMED);
    qvd_buf_free(&x.rest);
    free(huge);
}

/* X-QVD-Features: absent means QVD's L7R (all on); names are exact; the rest adds nothing. */
static void
features_header_parses_names_and_absent_means_all(void **state)
{
    assert_int_equal(client_features_parse(NULL), CLIENT_FEATURES_ALL);
    assert_int_equal(client_features_parse(""), 0);
    assert_int_equal(client_features_parse("audio,printing,slave"), CLIENT_FEATURES_ALL);
    assert_int_equal(client_features_parse("audio"), CLIENT_FEATURE_AUDIO);
    assert_int_equal(client_features_parse(" printing , slave "),
                     CLIENT_FEATURE_PRINTING | CLIENT_FEATURE_SLAVE);
    assert_int_equal(client_features_parse("usb,audio,,"), CLIENT_FEATURE_AUDIO);
    assert_int_equal(client_features_parse("Audio,audi,audioX,sla ve,slave\r"), 0);
    assert_int_equal(client_features_parse("audio;printing"), 0);
    char big[400];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "audio,", 6);
    assert_int_equal(client_features_parse(big), 0);
}

/* Runs client_feature_use with stderr in a file; its text into out. */
static bool
use_feature(const struct client_opts *o, const char *name, bool asked, char *out, size_t len)
{
    char path[] = "/tmp/qvd-test-features.XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    bool r;

    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    r = client_feature_use(o, name, asked);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, out, len - 1, 0);
    out[n < 0 ? 0 : n] = '\0';
    close(fd);
    unlink(path);
    return r;
}

static void
feature_off_on_the_server_is_one_sentence_once(void **state)
{
    struct client_opts o = {.server_features = client_features_parse("printing")};
    char text[512];

    assert_false(client_server_has(&o, "audio"));
    assert_true(client_server_has(&o, "printing"));
    assert_false(client_server_has(&o, "slave"));
    assert_true(use_feature(&o, "printing", true, text, sizeof(text)));
    assert_string_equal(text, "");
    assert_false(use_feature(&o, "audio", false, text, sizeof(text)));
    assert_string_equal(text, "");
    assert_false(use_feature(&o, "audio", true, text, sizeof(text)));
    assert_string_equal(text, "qvd-client: Sound is turned off on this server "
                              "(vma.audio.enable); the session goes on without it.\n");
    assert_false(use_feature(&o, "audio", true, text, sizeof(text))); /* said once */
    assert_string_equal(text, "");
    assert_false(use_feature(&o, "slave", true, text, sizeof(text)));
    assert_non_null(strstr(text, "(vma.slave.enable)"));
    assert_null(strchr(text, '\n') == text + strlen(text) - 1 ? NULL : text);
}

/* The slave servers' key check (libqvd slave.c): X-QVD-Slave-Key or QVD's Basic forms. */
static const struct qvd_http_msg *
slave_request(struct qvd_http_parser *p, const char *headers)
{
    char req[1024];
    size_t used = 0;

    snprintf(req, sizeof(req), "GET /ping HTTP/1.1\r\n%s\r\n", headers);
    assert_int_equal(qvd_http_parser_feed(p, req, strlen(req), &used), QVD_HTTP_COMPLETE);
    return qvd_http_parser_msg(p);
}

static void
slave_requests_need_the_key(void **state)
{
    const char *key = "k3yOFtheSLAVEchannel0123456789ab";
    char h[512], *b64;
    struct {
        const char *headers;
        bool ok;
    } cases[] = {
        {"", false},
        {"X-QVD-Slave-Key: k3yOFtheSLAVEchannel0123456789ab\r\n", true},
        {"x-qvd-slave-key: k3yOFtheSLAVEchannel0123456789ab\r\n", true},
        {"X-QVD-Slave-Key: k3yOFtheSLAVEchannel0123456789aB\r\n", false},
        {"X-QVD-Slave-Key: k3yOFtheSLAVEchannel0123456789a\r\n", false},
        {"X-QVD-Slave-Key: k3yOFtheSLAVEchannel0123456789abc\r\n", false},
        {"Authorization: Basic k3yOFtheSLAVEchannel0123456789ab\r\n", true},
        {"Authorization: Bearer k3yOFtheSLAVEchannel0123456789ab\r\n", false},
        {"Authorization: Basic \r\n", false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_REQUEST);
        bool ok = qvd_slave_authorized(slave_request(p, cases[i].headers), key);
        if (ok != cases[i].ok)
            fail_msg("case %zu (%s): %d", i, cases[i].headers, ok);
        qvd_http_parser_free(p);
    }
    const char *basic[] = {"qvd:k3yOFtheSLAVEchannel0123456789ab",
                           "k3yOFtheSLAVEchannel0123456789ab"};
    for (size_t i = 0; i < 2; i++) {
        struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_REQUEST);
        b64 = client_base64(basic[i], strlen(basic[i]));
        snprintf(h, sizeof(h), "Authorization: Basic %s\r\n", b64);
        assert_true(qvd_slave_authorized(slave_request(p, h), key));
        qvd_http_parser_free(p);
        free(b64);
    }
    struct qvd_http_parser *p = qvd_http_parser_new(QVD_HTTP_REQUEST);
    const struct qvd_http_msg *m = slave_request(p, "X-QVD-Slave-Key: short\r\n");
    assert_false(qvd_slave_authorized(m, "short")); /* not a key at all */
    assert_false(qvd_slave_authorized(m, NULL));    /* no key on this side */
    qvd_http_parser_free(p);
    assert_int_equal(qvd_slave_port("7302"), 7302);
    assert_int_equal(qvd_slave_port("0"), -1);
    assert_int_equal(qvd_slave_port("65536"), -1);
    assert_int_equal(qvd_slave_port("80x"), -1);
    assert_int_equal(qvd_slave_port(""), -1);
}

static void
tunnel_and_folder_options_are_checked(void **state)
{
    struct client_opts o = {0};

    assert_int_equal(client_slave_add_tunnel(&o, "7301:7302"), 0);
    assert_int_equal(o.ntunnels, 1);
    assert_int_equal(o.tunnels[0].vm_port, 7301);
    assert_int_equal(o.tunnels[0].port, 7302);
    assert_int_equal(client_slave_add_tunnel(&o, "80:7302"), -1); /* a system port in the VM */
    assert_int_equal(client_slave_add_tunnel(&o, "7301"), -1);
    assert_int_equal(client_slave_add_tunnel(&o, "7301:"), -1);
    assert_int_equal(client_slave_add_tunnel(&o, "a:b"), -1);
    assert_int_equal(client_slave_add_folder(&o, "/home/u:/tmp"), 0);
    assert_int_equal(client_slave_add_folder(&o, "home/u:/tmp"), -1); /* not absolute */
    assert_int_equal(client_slave_add_folder(&o, "/home/u:/nonexistent/x"), -1);
    assert_int_equal(o.nfolders, 1);
    client_slave_opts_free(&o);
}

/* --share DIR: an existing folder, not /, with a name the VM can show; the same name twice
 * only for the same folder; client.share.folders adds colon-separated ones. */
static void
share_options_are_checked(void **state)
{
    struct client_opts o = {0};
    char top[] = "/tmp/qvd-share-XXXXXX";

    assert_non_null(mkdtemp(top));
    char *a = qvd_xasprintf("%s/docs", top), *b = qvd_xasprintf("%s/x/docs", top);
    char *bad = qvd_xasprintf("%s/.hidden", top), *odd = qvd_xasprintf("%s/a\"b", top);
    char *list = qvd_xasprintf("%s:%s/x", a, top);
    assert_int_equal(mkdir(a, 0700), 0);
    char *x = qvd_xasprintf("%s/x", top);
    assert_int_equal(mkdir(x, 0700), 0);
    assert_int_equal(mkdir(b, 0700), 0);
    assert_int_equal(mkdir(bad, 0700), 0);
    assert_int_equal(mkdir(odd, 0700), 0);
    assert_int_equal(client_slave_add_share(&o, a), 0);
    assert_int_equal(o.nshares, 1);
    assert_string_equal(o.shares[0].name, "docs");
    assert_int_equal(client_slave_add_share(&o, a), 0); /* the same folder again: once */
    assert_int_equal(o.nshares, 1);
    assert_int_equal(client_slave_add_share(&o, b), -1); /* another "docs" */
    assert_int_equal(client_slave_add_share(&o, bad), -1);
    assert_int_equal(client_slave_add_share(&o, odd), -1);
    assert_int_equal(client_slave_add_share(&o, "/"), -1);
    assert_int_equal(client_slave_add_share(&o, "/nonexistent/folder"), -1);
    assert_int_equal(client_slave_conf(&o, list, ""), 0);
    assert_int_equal(o.nshares, 2);
    assert_string_equal(o.shares[1].name, "x");
    assert_string_equal(o.open_command, "xdg-open");
    assert_int_equal(client_slave_conf(&o, "", "my-viewer --new"), 0);
    assert_string_equal(o.open_command, "my-viewer --new");
    client_slave_opts_free(&o);
    char *rm = qvd_xasprintf("rm -rf '%s'", top);
    assert_int_equal(system(rm), 0);
    free(rm);
    free(a);
    free(b);
    free(bad);
    free(odd);
    free(list);
    free(x);
}

/* The exit status of `sh -c script` run confined to `dir` (client_slave_confine). */
static int
confined_run(const char *dir, const char *script)
{
    int status;
    pid_t pid = fork();

    if (pid == 0) {
        if (client_slave_confine(dir) < 0)
            _exit(99);
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(98);
    }
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* What the share's sftp-server runs under: the shared folder in full, the system to run
 * programs, nothing else (a VM's sshfs may ask sftp-server for any path). */
static void
share_confinement_keeps_to_the_folder(void **state)
{
    char top[] = "/tmp/qvd-confine-XXXXXX";

    assert_non_null(mkdtemp(top));
    char *setup = qvd_xasprintf("mkdir %s/shared %s/other && echo in >%s/shared/f && "
                                "echo out >%s/other/f",
                                top, top, top, top);
    char *dir = qvd_xasprintf("%s/shared", top);
    char *in = qvd_xasprintf("cat %s/shared/f && echo new >%s/shared/g && mkdir %s/shared/d && "
                             "mv %s/shared/g %s/shared/d/g",
                             top, top, top, top, top);
    char *out_read = qvd_xasprintf("cat %s/other/f", top);
    char *out_write = qvd_xasprintf("echo x >%s/other/g", top);
    char *out_link =
        qvd_xasprintf("ln -s %s/other/f %s/shared/l && cat %s/shared/l", top, top, top);
    char *home = qvd_xasprintf("ls %s", getenv("HOME") ? getenv("HOME") : "/root");
    assert_int_equal(system(setup), 0);
    if (confined_run(dir, "true") == 99) { /* a kernel without Landlock: sharing is refused */
        skip();
    }
    assert_int_equal(confined_run(dir, in), 0);
    assert_int_not_equal(confined_run(dir, out_read), 0);
    assert_int_not_equal(confined_run(dir, out_write), 0);
    assert_int_not_equal(confined_run(dir, out_link), 0); /* a symlink out: still out */
    assert_int_not_equal(confined_run(dir, home), 0);
    assert_int_not_equal(confined_run(dir, "cat /etc/hostname"), 0);
    char *rm = qvd_xasprintf("rm -rf '%s'", top);
    assert_int_equal(system(rm), 0);
    free(rm);
    free(setup);
    free(dir);
    free(in);
    free(out_read);
    free(out_write);
    free(out_link);
    free(home);
}

static void
put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* One SFTP packet to fd and the type of the answer (SSH_FXP_*), or -1. */
static int
sftp_ask(int fd, const unsigned char *body, size_t len)
{
    unsigned char head[4], ans[4096];
    ssize_t n;
    size_t got = 0;

    put32(head, (uint32_t)len);
    if (write(fd, head, 4) != 4 || write(fd, body, len) != (ssize_t)len)
        return -1;
    while (got < 5 && (n = read(fd, ans + got, sizeof(ans) - got)) > 0)
        got += (size_t)n;
    return got >= 5 ? ans[4] : -1;
}

/* SSH_FXP_OPEN of `path` for reading: 102 (a handle) or 101 (a status: refused). */
static int
sftp_open(int fd, const char *path)
{
    unsigned char b[1024];
    size_t l = strlen(path);

    b[0] = 3; /* SSH_FXP_OPEN */
    put32(b + 1, 7);
    put32(b + 5, (uint32_t)l);
    memcpy(b + 9, path, l);
    put32(b + 9 + l, 1);  /* SSH_FXF_READ */
    put32(b + 13 + l, 0); /* no attributes */
    return sftp_ask(fd, b, 17 + l);
}

/* The real sftp-server as a share runs it (confined, -d DIR), asked for files in and out. */
static void
share_sftp_server_opens_only_the_folder(void **state)
{
    char top[] = "/tmp/qvd-sftp-XXXXXX";
    int sv[2];

    if (access("/usr/lib/openssh/sftp-server", X_OK) < 0)
        skip();
    assert_non_null(mkdtemp(top));
    char *setup = qvd_xasprintf("mkdir %s/shared %s/other && echo in >%s/shared/f && "
                                "echo out >%s/other/f && ln -s %s/other/f %s/shared/l",
                                top, top, top, top, top, top);
    char *dir = qvd_xasprintf("%s/shared", top), *in = qvd_xasprintf("%s/shared/f", top);
    char *out = qvd_xasprintf("%s/other/f", top), *link = qvd_xasprintf("%s/shared/l", top);
    assert_int_equal(system(setup), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        if (client_slave_confine(dir) < 0)
            _exit(99);
        dup2(sv[1], 0);
        dup2(sv[1], 1);
        execl("/usr/lib/openssh/sftp-server", "sftp-server", "-e", "-d", dir, (char *)NULL);
        _exit(98);
    }
    close(sv[1]);
    const unsigned char init[] = {1, 0, 0, 0, 3};             /* SSH_FXP_INIT, version 3 */
    assert_int_equal(sftp_ask(sv[0], init, sizeof(init)), 2); /* SSH_FXP_VERSION */
    assert_int_equal(sftp_open(sv[0], in), 102);
    assert_int_equal(sftp_open(sv[0], "f"), 102); /* relative: from -d */
    assert_int_equal(sftp_open(sv[0], out), 101);
    assert_int_equal(sftp_open(sv[0], "../other/f"), 101);
    assert_int_equal(sftp_open(sv[0], link), 101);
    assert_int_equal(sftp_open(sv[0], "/etc/hostname"), 101);
    close(sv[0]);
    waitpid(pid, NULL, 0);
    char *rm = qvd_xasprintf("rm -rf '%s'", top);
    assert_int_equal(system(rm), 0);
    free(rm);
    free(setup);
    free(dir);
    free(in);
    free(out);
    free(link);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(config_precedence_cli_env_user_system_default, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(config_extra_file_over_user_file_and_must_exist, setup_dir,
                                        teardown_dir),
        cmocka_unit_test(validation_sentences_name_the_option),
        cmocka_unit_test(server_lists_parse_names_ipv4_and_bracketed_ipv6),
        cmocka_unit_test(broken_sessions_reconnect_chosen_endings_do_not),
        cmocka_unit_test(bad_values_in_config_are_refused),
        cmocka_unit_test(status_codes_become_sentences),
        cmocka_unit_test(final_refusals_and_endings_become_sentences),
        cmocka_unit_test_setup_teardown(fingerprint_file_store_lookup_and_modes, setup_dir,
                                        teardown_dir),
        cmocka_unit_test(fingerprints_normalize_and_print),
        cmocka_unit_test(credentials_are_basic_base64_or_bearer_as_given),
        cmocka_unit_test_setup_teardown(password_file_first_line, setup_dir, teardown_dir),
        cmocka_unit_test(vm_list_parses_qvd_json),
        cmocka_unit_test(connect_target_has_qvd_parameters),
        cmocka_unit_test(printing_options_and_nxproxy_word),
        cmocka_unit_test(exchange_shows_progress_and_keeps_bytes_after_101),
        cmocka_unit_test(exchange_reads_error_answers_and_plain_requests),
        cmocka_unit_test(exchange_gives_up_when_the_server_is_silent),
        cmocka_unit_test(exchange_rejects_malformed_and_oversized_answers),
        cmocka_unit_test(features_header_parses_names_and_absent_means_all),
        cmocka_unit_test(feature_off_on_the_server_is_one_sentence_once),
        cmocka_unit_test(slave_requests_need_the_key),
        cmocka_unit_test(tunnel_and_folder_options_are_checked),
        cmocka_unit_test(share_options_are_checked),
        cmocka_unit_test(share_confinement_keeps_to_the_folder),
        cmocka_unit_test(share_sftp_server_opens_only_the_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

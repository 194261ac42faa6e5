/* conf.c: qvd-client's configuration: files, environment and options merged in precedence
 * order, then validated into struct client_opts with one sentence per bad value. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "client.h"
#include "err.h"

#define PASSWORD_FILE_MAX 4096

struct env_key {
    const char *env, *key;
};
/* QVD's environment variables that stand for config keys. */
static const struct env_key env_keys[] = {
    {"QVDHOST", "client.host.name"},
    {"QVDPORT", "client.host.port"},
    {"QVDLOGIN", "client.user.name"},
};

struct qvd_config *
client_conf_load(const char *system_file, const char *user_file, const char *extra_file,
                 const char *(*env)(const char *), const struct client_setting *cli, size_t ncli)
{
    struct qvd_config *cfg = qvd_config_new();

    if (system_file != NULL && qvd_config_load_file(cfg, system_file, false) < 0)
        goto fail;
    if (user_file != NULL && qvd_config_load_file(cfg, user_file, false) < 0)
        goto fail;
    if (extra_file != NULL && qvd_config_load_file(cfg, extra_file, true) < 0)
        goto fail;
    for (size_t i = 0; env != NULL && i < QVD_ARRAY_LEN(env_keys); i++) {
        const char *v = env(env_keys[i].env);
        if (v != NULL && *v && qvd_config_set(cfg, env_keys[i].key, v) < 0)
            goto fail;
    }
    for (size_t i = 0; i < ncli; i++)
        if (qvd_config_set(cfg, cli[i].key, cli[i].value) < 0)
            goto fail;
    return cfg;
fail:
    qvd_config_free(cfg);
    return NULL;
}

int
client_check_port(const char *s, int *port)
{
    long v;
    if (s == NULL || qvd_parse_long(s, &v) < 0 || v < 1 || v > 65535)
        return qvd_seterr("The port \"%s\" is not valid: give a number from 1 to 65535 "
                          "(--port, QVDPORT or client.host.port).",
                          s ? s : "");
    *port = (int)v;
    return 0;
}

/* Parses up to 5 digits at *s, advancing it; -1 if none or out of 64..max (the VMA's
 * limits). */
static long
small_number(const char **s, long max)
{
    long v = 0;
    int n = 0;
    while (isdigit((unsigned char)**s) && n < 6) {
        v = v * 10 + (**s - '0');
        (*s)++;
        n++;
    }
    return n == 0 || n > 5 || v < 64 || v > max ? -1 : v;
}

int
client_check_geometry(const char *g)
{
    const char *s = g;
    if (g != NULL && small_number(&s, 16384) > 0 && *s++ == 'x' && small_number(&s, 16384) > 0 &&
        *s == '\0')
        return 0;
    return qvd_seterr("The geometry \"%s\" is not valid: give WIDTHxHEIGHT in pixels, each "
                      "from 64 to 16384, like 1024x768 (--geometry or client.geometry).",
                      g ? g : "");
}

static const char *const links[] = {"modem", "isdn", "adsl", "wan", "lan", "local"};

int
client_check_link(const char *l)
{
    for (size_t i = 0; l != NULL && i < QVD_ARRAY_LEN(links); i++)
        if (strcmp(l, links[i]) == 0)
            return 0;
    return qvd_seterr("The link \"%s\" is not valid: use modem, isdn, adsl, wan, lan or local "
                      "(--link or client.link).",
                      l ? l : "");
}

static bool
keyboard_part_ok(const char *s, size_t n, const char *extra)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
            return false;
    return true;
}

int
client_check_keyboard(const char *k)
{
    const char *slash = k ? strchr(k, '/') : NULL;
    /* what the VMA takes: XKB model and layout names, no variant or second layout */
    if (slash != NULL && strlen(k) <= 64 && keyboard_part_ok(k, (size_t)(slash - k), "_-.") &&
        keyboard_part_ok(slash + 1, strlen(slash + 1), "_-"))
        return 0;
    return qvd_seterr("The keyboard \"%s\" is not valid: give MODEL/LAYOUT, like pc105/es "
                      "(--keyboard or client.keyboard).",
                      k ? k : "");
}

#define SERVERS_MAX 32
#define HOST_MAX 253

static bool
name_ok(const char *h, size_t n)
{
    if (n == 0 || n > HOST_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && strchr("-._", h[i]) == NULL)
            return false;
    return true;
}

static bool
ipv6_ok(const char *h, size_t n)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    unsigned char b[16];
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, h, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET6, tmp, b) == 1;
}

/* One entry of the list (e, n bytes) into *sv. 0 or -1 (the caller says which entry). */
static int
parse_server(const char *e, size_t n, int dflt_port, struct client_server *sv)
{
    const char *host = e, *port = NULL;
    size_t hl = n;
    const char *colon = memchr(e, ':', n);

    if (n > 0 && e[0] == '[') { /* [v6] or [v6]:port, as URLs write them */
        const char *close = memchr(e, ']', n);
        if (close == NULL || !ipv6_ok(e + 1, (size_t)(close - e - 1)))
            return -1;
        host = e + 1;
        hl = (size_t)(close - e - 1);
        if (close + 1 < e + n) {
            if (close[1] != ':')
                return -1;
            port = close + 2;
        }
    } else if (colon != NULL && memchr(colon + 1, ':', n - (size_t)(colon + 1 - e)) != NULL) {
        if (!ipv6_ok(e, n)) /* two colons or more: a bare IPv6 address, no port */
            return -1;
    } else if (colon != NULL) { /* name:port or v4:port */
        hl = (size_t)(colon - e);
        port = colon + 1;
    }
    if (host == e && !name_ok(host, hl) && !ipv6_ok(host, hl))
        return -1;
    sv->port = dflt_port;
    if (port != NULL) {
        char ps[8];
        size_t pl = n - (size_t)(port - e);
        long v;
        if (pl == 0 || pl >= sizeof(ps))
            return -1;
        memcpy(ps, port, pl);
        ps[pl] = '\0';
        if (qvd_parse_long(ps, &v) < 0 || v < 1 || v > 65535)
            return -1;
        sv->port = (int)v;
    }
    sv->host = qvd_xstrndup(host, hl);
    return 0;
}

int
client_parse_servers(const char *s, int dflt_port, struct client_server **out, size_t *n)
{
    struct client_server *v = qvd_xcalloc(SERVERS_MAX, sizeof(*v));
    size_t count = 0;

    *out = NULL;
    *n = 0;
    if (s == NULL || s[strspn(s, " \t")] == '\0') {
        free(v);
        return qvd_seterr("No server given: use --host HOST, QVDHOST or client.host.name.");
    }
    for (const char *p = s;;) {
        p += strspn(p, " \t");
        size_t len = strcspn(p, ",");
        size_t el = len;
        while (el > 0 && (p[el - 1] == ' ' || p[el - 1] == '\t'))
            el--;
        if (count == SERVERS_MAX) {
            client_servers_free(v, count);
            return qvd_seterr("Too many servers in \"%.80s\": give at most %d (--host, QVDHOST "
                              "or client.host.name).",
                              s, SERVERS_MAX);
        }
        if (parse_server(p, el, dflt_port, &v[count]) < 0) {
            client_servers_free(v, count);
            return qvd_seterr("The server \"%.*s\" is not valid: give a host name or address, "
                              "optionally with :PORT, and IPv6 addresses as [ADDRESS]:PORT; "
                              "separate several with commas (--host, QVDHOST or "
                              "client.host.name).",
                              (int)(el > 80 ? 80 : el), p);
        }
        count++;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *out = v;
    *n = count;
    return 0;
}

void
client_servers_free(struct client_server *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i].host);
    free(v);
}

/* A positive number of seconds from a config key. */
static int
seconds(struct qvd_config *cfg, const char *key, int *out)
{
    const char *s = qvd_config_get(cfg, key);
    long v;
    if (s == NULL || qvd_parse_long(s, &v) < 0 || v < 1 || v > 86400)
        return qvd_seterr("The value \"%s\" of %s is not valid: give seconds from 1 to 86400.",
                          s ? s : "", key);
    *out = (int)v;
    return 0;
}

static char *
dup_or_null(const char *s)
{
    return s != NULL && *s ? qvd_xstrdup(s) : NULL;
}

int
client_conf_apply(struct qvd_config *cfg, struct client_opts *o)
{
    if (client_check_port(qvd_config_get(cfg, "client.host.port"), &o->port) < 0 ||
        client_parse_servers(qvd_config_get(cfg, "client.host.name"), o->port, &o->servers,
                             &o->nservers) < 0)
        return -1;
    o->host = qvd_xstrdup(o->servers[0].host);
    o->port = o->servers[0].port;
    long tries = qvd_config_int(cfg, "client.reconnect.tries");
    if (tries < 0 || tries > 100)
        return qvd_seterr("The value %ld of client.reconnect.tries (--reconnect-tries) is not "
                          "valid: give a number of tries from 0 (never reconnect) to 100.",
                          tries);
    o->reconnect_tries = (int)tries;
    o->user = dup_or_null(qvd_config_get(cfg, "client.user.name"));
    const char *link = qvd_config_get(cfg, "client.link");
    const char *geom = qvd_config_get(cfg, "client.geometry");
    const char *kbd = qvd_config_get(cfg, "client.keyboard");
    if (client_check_link(link) < 0 || client_check_geometry(geom) < 0 ||
        (kbd != NULL && *kbd && client_check_keyboard(kbd) < 0))
        return -1;
    o->link = qvd_xstrdup(link);
    o->geometry = qvd_xstrdup(geom);
    o->keyboard = dup_or_null(kbd);                            /* none: client_keyboard_detect() */
    o->fullscreen = qvd_config_bool(cfg, "client.fullscreen"); /* a bool: checked when set */
    if (client_slave_conf(o, qvd_config_get(cfg, "client.share.folders"),
                          qvd_config_get(cfg, "client.open.command")) < 0)
        return -1;
    const char *cmd = qvd_config_get(cfg, "client.nxproxy.command");
    if (cmd == NULL || *cmd == '\0')
        return qvd_seterr("client.nxproxy.command is empty: it names the nxproxy program.");
    o->nxproxy_command = qvd_xstrdup(cmd);
    o->nxproxy_extra_args = dup_or_null(qvd_config_get(cfg, "client.nxproxy.extra_args"));
    o->audio = qvd_config_bool(cfg, "client.audio.enable");
    o->microphone = qvd_config_bool(cfg, "client.audio.microphone.enable");
    o->audio_compression = qvd_config_bool(cfg, "client.audio.compression.enable");
    const char *pulse = qvd_config_get(cfg, "client.audio.pulseaudio");
    o->pulseaudio = qvd_xstrdup(pulse && *pulse ? pulse : "pulseaudio");
    if (seconds(cfg, "client.timeout.connect", &o->connect_timeout_s) < 0 ||
        seconds(cfg, "client.timeout.idle", &o->idle_timeout_s) < 0 ||
        seconds(cfg, "client.timeout.wait", &o->wait_timeout_s) < 0 ||
        seconds(cfg, "client.timeout.nxproxy", &o->nxproxy_timeout_s) < 0 ||
        client_printing_apply(cfg, o) < 0)
        return -1;
    return 0;
}

char *
client_qvd_dir(void)
{
    const char *home = getenv("HOME");
    if (home == NULL || *home == '\0') {
        struct passwd *pw = getpwuid(getuid());
        home = pw != NULL ? pw->pw_dir : "/";
    }
    return qvd_xasprintf("%s/.qvd", home);
}

char *
client_read_password_file(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    if (qvd_read_file(path, PASSWORD_FILE_MAX, &data, &len) < 0) {
        qvd_seterr("Cannot read the password file %s: %s.", path, strerror(errno));
        return NULL;
    }
    data[strcspn(data, "\r\n")] = '\0';
    char *pw = qvd_xstrdup(data);
    qvd_wipe(data, len);
    free(data);
    return pw;
}

char *
client_base64(const void *data, size_t len)
{
    char *out = qvd_xcalloc(1, 4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

char *
client_auth_header(const char *user, const char *password, const char *token)
{
    if (token != NULL)
        return qvd_xasprintf("Bearer %s", token);
    char *plain = qvd_xasprintf("%s:%s", user ? user : "", password ? password : "");
    char *b64 = client_base64(plain, strlen(plain));
    char *h = qvd_xasprintf("Basic %s", b64);
    qvd_wipe(plain, strlen(plain));
    qvd_wipe(b64, strlen(b64));
    free(plain);
    free(b64);
    return h;
}

static void
free_secret(char *s)
{
    if (s != NULL)
        qvd_wipe(s, strlen(s));
    free(s);
}

void
client_opts_free(struct client_opts *o)
{
    free(o->host);
    client_servers_free(o->servers, o->nservers);
    free(o->once_hostport);
    free(o->once_fp);
    free(o->user);
    free_secret(o->password);
    free_secret(o->token);
    free(o->link);
    free(o->geometry);
    free(o->keyboard);
    free(o->fingerprint);
    free(o->qvd_dir);
    free(o->nxproxy_command);
    free(o->nxproxy_extra_args);
    free(o->pulseaudio);
    client_slave_opts_free(o);
    free(o->app);
    memset(o, 0, sizeof(*o));
}

bool
client_tty_available(void)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int
client_tty_prompt(const char *prompt, bool echo, char *buf, size_t len)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || len == 0)
        goto fail;
    struct termios old, quiet;
    bool restore = false;
    if (!echo && tcgetattr(fd, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
    if (write(fd, prompt, strlen(prompt)) < 0)
        goto fail_restore;
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR && !client_interrupted)
            continue;
        if (r <= 0)
            goto fail_restore;
        if (c == '\n' || c == '\r')
            break;
        if (n + 1 < len)
            buf[n++] = c;
    }
    buf[n] = '\0';
    if (restore) {
        tcsetattr(fd, TCSAFLUSH, &old);
        if (write(fd, "\n", 1) < 0) {
            /* nothing to do: the answer is read */
        }
    }
    close(fd);
    return 0;
fail_restore:
    if (restore)
        tcsetattr(fd, TCSAFLUSH, &old);
fail:
    if (fd >= 0)
        close(fd);
    qvd_wipe(buf, len);
    buf[0] = '\0';
    return -1;
}

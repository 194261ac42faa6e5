/* client.h: private header of qvd-client: options, TLS connection, L7R protocol, nxproxy relay. */
#ifndef QVD_CLIENT_H
#define QVD_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"
#include "util.h"

/* Exit statuses: one per kind of failure, documented in docs/client.md. */
enum client_exit {
    CLIENT_EXIT_OK = 0,
    CLIENT_EXIT_USAGE = 1,        /* bad option, config value or missing input */
    CLIENT_EXIT_UNREACHABLE = 2,  /* DNS, connection refused, timeout, connection lost */
    CLIENT_EXIT_CERT = 3,         /* certificate not accepted (or changed) */
    CLIENT_EXIT_LOGIN = 4,        /* 401 */
    CLIENT_EXIT_THROTTLED = 5,    /* 429 */
    CLIENT_EXIT_NO_VM = 6,        /* 404, or no VM to connect to */
    CLIENT_EXIT_FORBIDDEN = 7,    /* 403: maintenance or not allowed */
    CLIENT_EXIT_BUSY = 8,         /* 503, 408 */
    CLIENT_EXIT_OLD_CLIENT = 9,   /* 426 */
    CLIENT_EXIT_NXPROXY = 10,     /* nxproxy missing or failed to connect */
    CLIENT_EXIT_PROTOCOL = 11,    /* malformed or unexpected answer */
    CLIENT_EXIT_CHOOSE = 12,      /* several VMs and no --vm-id */
    CLIENT_EXIT_INTERRUPTED = 13, /* SIGINT/SIGTERM before the session started */
    /* the session ended, for the reason the L7R gives (GET /qvd/session_end) */
    CLIENT_EXIT_VM_STOPPED = 14,   /* an administrator stopped the VM */
    CLIENT_EXIT_TAKEN_OVER = 15,   /* another client took the session over */
    CLIENT_EXIT_DISCONNECTED = 16, /* an administrator disconnected the session */
    CLIENT_EXIT_VM_CRASHED = 17,   /* the VM stopped unexpectedly */
    CLIENT_EXIT_NODE_LOST = 18,    /* the server that ran the VM was lost */
    CLIENT_EXIT_SHUTDOWN = 19,     /* the L7R is shutting down */
    CLIENT_EXIT_SESSION_LOST = 20, /* the desktop session crashed (nxagent died) */
    CLIENT_EXIT_LINK_LOST = 21,    /* the stream was cut; the session is kept */
    CLIENT_EXIT_END_UNKNOWN = 22,  /* the server could not be asked, or did not know */
};

enum client_accept { CLIENT_ACCEPT_ASK, CLIENT_ACCEPT_ONCE, CLIENT_ACCEPT_ALWAYS };

/* One L7R of the list (--host a,b:8444,[::1]:8445): a name or address and its port. */
struct client_server {
    char *host; /* bare: an IPv6 address without its brackets */
    int port;
};

/* Everything a run needs, validated. Strings are owned (freed by client_opts_free). */
struct client_opts {
    char *host; /* the server of the list being used now (a copy of servers[i].host) */
    int port;
    struct client_server *servers; /* the list, in the order given */
    size_t nservers;
    int reconnect_tries; /* client.reconnect.tries: 0 never reconnects */
    /* a certificate accepted once in this run (host:port and fingerprint), accepted again
     * on reconnecting there without asking */
    char *once_hostport, *once_fp;
    char *user;
    char *password; /* wiped on free */
    char *token;    /* the Bearer value as sent on the wire (already base64) */
    long vm_id;     /* 0: none given */
    bool list_vms, json, restart;
    /* application VMs (/qvd/list_of_applications): --list-apps, and --app NAME|ID, the one
     * to connect to (its name, for the ending's sentence, once chosen) */
    bool list_apps;
    char *app;
    int verbose;
    char *link, *geometry, *keyboard;
    bool fullscreen;
    enum client_accept accept_cert;
    char *fingerprint; /* lowercase hex without colons, or NULL */
    char *qvd_dir;     /* ~/.qvd */
    char *nxproxy_command, *nxproxy_extra_args;
    int connect_timeout_s, idle_timeout_s, wait_timeout_s, nxproxy_timeout_s;
    bool printing; /* client.printing.enable: the VM gets this computer's printers */
    int cups_port; /* client.printing.cups.port: this computer's CUPS on 127.0.0.1 */
    bool audio, microphone, audio_compression; /* client.audio.* */
    char *pulseaudio;                          /* client.audio.pulseaudio */
    /* CLIENT_FEATURE_* the server has on (features.c), set from each 101 */
    unsigned server_features;
    /* the slave channel (slave.c): --tunnel, --vm-folder, the 101's key (wiped on free) */
    struct client_tunnel {
        int vm_port, port;
    } tunnels[16];
    size_t ntunnels;
    struct client_folder {
        char *vm_dir, *mount;
    } folders[16];
    size_t nfolders;
    /* --share DIR / client.share.folders: the folder (its real path) and its name */
    struct client_share {
        char *dir, *name;
    } shares[16];
    size_t nshares;
    char *open_command; /* client.open.command */
    char *slave_key;
};

/* ---- features.c ---- */
/* The desktop features a server may have turned off, as X-QVD-Features names them
 * ("audio", "printing", "slave"). */
enum {
    CLIENT_FEATURE_AUDIO = 1u << 0,    /* vma.audio.enable */
    CLIENT_FEATURE_PRINTING = 1u << 1, /* vma.printing.enable */
    CLIENT_FEATURE_SLAVE = 1u << 2,    /* vma.slave.enable */
    CLIENT_FEATURES_ALL = (1u << 3) - 1,
};
/* The features an X-QVD-Features value names ("audio,printing,slave"; unknown names and
 * malformed entries add nothing). NULL (no header: QVD's own L7R) gives all of them. */
unsigned client_features_parse(const char *header);
/* Whether the server has the feature `name` on for this session (o->server_features).
 * `name` must be one of the names above (another aborts: a bug of this program). */
bool client_server_has(const struct client_opts *o, const char *name);
/* Whether to use the feature: the user `asked` for it and the server has it on. When asked
 * and off, prints its one sentence on stderr (once per run), e.g. "qvd-client: Sound is
 * turned off on this server (vma.audio.enable); the session goes on without it." */
bool client_feature_use(const struct client_opts *o, const char *name, bool asked);

/* ---- printing.c ---- */
/* Reads client.printing.enable and client.printing.cups.port into o. 0, or -1 with a
 * sentence. */
int client_printing_apply(struct qvd_config *cfg, struct client_opts *o);
/* nxproxy's -S options: " cups=<port>" when printing is on here and on the server (else,
 * if asked, the server's sentence is printed). */
void client_printing_nx_options(const struct client_opts *o, struct qvd_buf *b);

/* ---- slave.c ---- */
/* --tunnel VMPORT:PORT and --vm-folder DIR:MOUNT. 0, or -1 with a sentence set. */
int client_slave_add_tunnel(struct client_opts *o, const char *arg);
int client_slave_add_folder(struct client_opts *o, const char *arg);
/* --share DIR: an existing folder here, shown in the VM at ~/Redirected/<its name>. */
int client_slave_add_share(struct client_opts *o, const char *arg);
/* Confines this process and what it runs (with no_new_privs) by Landlock: read and run the
 * system's programs and libraries, everything in `dir`, nothing else of the file system.
 * 0, or -1 with a sentence (no Landlock in this kernel). */
int client_slave_confine(const char *dir);
/* client.share.folders (colon separated) and client.open.command. 0, or -1 with a sentence. */
int client_slave_conf(struct client_opts *o, const char *folders, const char *open_command);
void client_slave_opts_free(struct client_opts *o);
/* Keeps the 101's X-QVD-Slave-Key for this session (NULL or invalid: none). */
void client_slave_set_key(struct client_opts *o, const char *key);
/* nxproxy's -S options: " slave=<free port>" when the session uses the channel (a key, a
 * tunnel or folder asked for, the server's "slave" on; else its sentence). */
void client_slave_nx_options(const struct client_opts *o, struct qvd_buf *b);
/* In nxproxy's child: NX_SLAVE_CMD (this program) and its slave mode's environment. */
void client_slave_nx_env(const struct client_opts *o);
/* After nxproxy started: the helper that opens the tunnels and folders (0: none). */
pid_t client_slave_start(const struct client_opts *o);
/* Ends it: its tunnels close, its folders are unmounted. */
void client_slave_stop(pid_t keeper);
/* The slave mode (QVD_CLIENT_SLAVE set, no arguments: nxproxy's NX_SLAVE_CMD). */
int client_slave_main(void);

/* ---- keyboard.c ---- */
/* MODEL/LAYOUT of the keyboard of $DISPLAY's X server (its _XKB_RULES_NAMES), else of
 * setxkbmap -query, else of the locale's country, else pc105/us. Never NULL. */
char *client_keyboard_detect(void);

/* ---- errors.c ---- */
/* Prints "qvd-client: <sentence>" on stderr and returns `code` (for `return client_fail(...)`). */
int client_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The sentence and exit status for a final HTTP answer that is not a success. `body` is
 * the server's text (may be NULL), `retry_after` its Retry-After header (may be NULL).
 * The sentence is written to out (always NUL-terminated). */
int client_status_sentence(int status, const char *body, const char *retry_after, char *out,
                           size_t outlen);
/* The sentence and exit status for a session ending: `reason` as the L7R's session_end
 * gives it (NULL: unknown), `message` its text for a reason this client does not know.
 * client_closed and logout are endings the user chose: status 0. */
int client_end_sentence(const char *reason, const char *message, char *out, size_t outlen);
/* Whether a session that ended for `reason` (as the L7R's session_end gives it) is broken
 * rather than ended: the stream cut, the node lost, the L7R gone. Such a session is
 * reconnected (session.c); the endings a user or an administrator chose and final
 * refusals are not. */
bool client_end_reconnects(const char *reason);
/* While set, client_fail keeps its sentence in qvd_strerror() instead of printing it. */
extern bool client_fail_quiet;

/* ---- conf.c ---- */
/* A command-line or environment value destined for a config key. */
struct client_setting {
    const char *key, *value;
};
/* Builds the configuration in precedence order: defaults < `system_file`
 * (/etc/qvd/client.conf) < `user_file` (~/.qvd/client.conf) < `extra_file` (--config, must
 * exist) < environment
 * (QVDHOST, QVDPORT, QVDLOGIN from `env`, a getenv-like function) < `cli` settings. Returns
 * NULL with qvd_strerror() set. */
struct qvd_config *client_conf_load(const char *system_file, const char *user_file,
                                    const char *extra_file, const char *(*env)(const char *),
                                    const struct client_setting *cli, size_t ncli);
/* Validates the connection values of `cfg` into `o` (host, port, user, link, geometry,
 * keyboard, fullscreen, nxproxy, timeouts). Returns 0, or -1 with a sentence in
 * qvd_strerror() that names the option and key. */
int client_conf_apply(struct qvd_config *cfg, struct client_opts *o);
/* Individual validators (also used by the tests). 0 or -1 with a sentence set. */
int client_check_geometry(const char *g);
int client_check_link(const char *l);
int client_check_port(const char *s, int *port);
int client_check_keyboard(const char *k);
/* Parses a server list "a,b:8444,10.0.0.1,[::1]:8445,::1" (comma separated, blanks
 * around entries ignored; a port after a name, an IPv4 address or a bracketed IPv6
 * address; `dflt_port` otherwise). 0 with a new array in *out (client_servers_free), or -1
 * with a sentence in qvd_strerror(). */
int client_parse_servers(const char *s, int dflt_port, struct client_server **out, size_t *n);
void client_servers_free(struct client_server *v, size_t n);
/* The ~/.qvd folder: $HOME/.qvd (or the passwd entry's home). New string. */
char *client_qvd_dir(void);
/* Reads the first line of a password file (at most 4 KiB). New string or NULL + error. */
char *client_read_password_file(const char *path);
/* "Basic " + base64(user:password) or "Bearer " + token: the Authorization value. */
char *client_auth_header(const char *user, const char *password, const char *token);
/* base64 of `len` bytes (new string). */
char *client_base64(const void *data, size_t len);
void client_opts_free(struct client_opts *o);
/* True when the process has a controlling terminal to ask on (/dev/tty opens). */
bool client_tty_available(void);
/* Writes `prompt` to the terminal and reads one line (without its newline) into buf; with
 * echo false the typing is hidden (passwords). 0, or -1 without a terminal or on EOF. */
int client_tty_prompt(const char *prompt, bool echo, char *buf, size_t len);

/* ---- tls.c ---- */
struct client_tls;
/* Lookup result of a fingerprint in the accepted-certificates file. */
enum client_fp_match { CLIENT_FP_UNKNOWN, CLIENT_FP_MATCH, CLIENT_FP_CHANGED };

/* Connects to o->host:o->port (to the address `sa` when not NULL, else every address of
 * the name in turn) and completes TLS with the certificate policy of the brief
 * (system CAs + <qvd_dir>/certs, host name, accepted fingerprints, prompt/flags). On failure
 * prints the sentence and returns NULL with *exit_code set. */
struct sockaddr;
struct client_tls *client_tls_connect(const struct client_opts *o, const struct sockaddr *sa,
                                      unsigned salen, int *exit_code);
void client_tls_close(struct client_tls *t);
int client_tls_fd(const struct client_tls *t);
/* The SHA-256 fingerprint (lowercase hex) of the certificate the connection accepted. */
const char *client_tls_fingerprint(const struct client_tls *t);
/* Writes all of data before the deadline (monotonic ms). 0 or -1 + qvd_strerror(). */
int client_tls_write(struct client_tls *t, const void *data, size_t len, int64_t deadline);
/* Reads some bytes before the deadline. >0 bytes, 0 on close, -1 + qvd_strerror(). */
ssize_t client_tls_read(struct client_tls *t, void *buf, size_t len, int64_t deadline);
/* Non-blocking forms for the relay: >0 bytes, 0 on close, -1 error, -2 would block (then
 * *want is POLLIN or POLLOUT). */
ssize_t client_tls_read_nb(struct client_tls *t, void *buf, size_t len, short *want);
ssize_t client_tls_write_nb(struct client_tls *t, const void *buf, size_t len, short *want);

/* ---- certs.c ---- */
struct x509_st;
/* Decides whether a certificate that failed verification (`vres`) may be used: stored
 * fingerprint, --fingerprint, --accept-cert, else the terminal prompt. 0, or -1 with the
 * sentence printed and *exit_code set. */
int client_cert_accept(const struct client_opts *o, struct x509_st *cert, long vres,
                       int *exit_code);
/* Fingerprint helpers. `fp` is lowercase hex without colons (64 chars for SHA-256). */
/* Normalizes user input (colons optional, any case) into out[65]. 0 or -1 + error. */
int client_fp_normalize(const char *in, char out[65]);
/* "AB:CD:..." for display into out (at least 96 bytes). */
void client_fp_pretty(const char *fp, char *out, size_t outlen);
/* Looks host:port up in the accepted-certificates file (missing file = unknown). On
 * CHANGED, stored[65] (if not NULL) gets the stored fingerprint. */
enum client_fp_match client_fp_lookup(const char *file, const char *hostport, const char *fp,
                                      char *stored);
/* Appends "host:port fp" to the file, creating it 0600 and its folder 0700; fixes looser
 * modes of an existing file. 0 or -1 + error. */
int client_fp_store(const char *file, const char *hostport, const char *fp);

/* ---- proto.c ---- */
struct client_vm {
    long id;
    char *name, *state;
    bool blocked;
};
/* Parses a list_of_vm body. 0 with a new array in *vms, or -1 + error. */
int client_parse_vm_list(const char *body, size_t len, struct client_vm **vms, size_t *n);
void client_free_vm_list(struct client_vm *vms, size_t n);
/* The connect_to_vm target ("/qvd/connect_to_vm?id=N&qvd.client..."), new string. */
char *client_connect_target(const struct client_opts *o, long vm_id);
struct qvd_http_parser;
/* The byte stream a request travels on (TLS in the program, a socketpair in the tests). */
struct client_io {
    int (*write)(void *ctx, const void *data, size_t len, int64_t deadline);
    ssize_t (*read)(void *ctx, void *buf, size_t len, int64_t deadline);
    void *ctx;
};
enum { CLIENT_XCHG_OK = 0, CLIENT_XCHG_TRANSPORT = -1, CLIENT_XCHG_MALFORMED = -2 };
/* Sends GET `target` with `auth` as Authorization (and Connection/Upgrade: QVD/1.0 when
 * `upgrade`), then reads answers into p until a final one, writing the X-QVD-VM-Info of
 * each 102 to `progress` as "qvd-client: <info>" (repeats only with -v). Bounded by
 * o->idle_timeout_s between answers and o->wait_timeout_s in all. OK: the answer is
 * qvd_http_parser_msg(p) and the bytes behind it are in `rest`; TRANSPORT/MALFORMED: reason
 * in qvd_strerror(). */
int client_exchange(const struct client_io *io, const struct client_opts *o, const char *auth,
                    const char *target, bool upgrade, struct qvd_http_parser *p,
                    struct qvd_buf *rest, FILE *progress);
/* Writes server text with control characters replaced by '?'. */
void client_print_clean(FILE *f, const char *s);

/* ---- session.c ---- */
/* The whole program flow after options: list / stop / connect / relay. Exit status. */
int client_run(struct client_opts *o);

/* ---- audio.c ---- */
/* The sound of one connection: this computer's PulseAudio listening for nxproxy. */
struct client_audio {
    pid_t pulse; /* a PulseAudio started for the session (-1: the user's own, or none) */
    int module;  /* module-native-protocol-tcp's index in it (-1: none) */
    int port;    /* where it listens on 127.0.0.1 (0: no sound) */
};
/* With o->audio: PulseAudio listens for the session. When sound cannot be had (the server
 * has it off: o->server_features; no PulseAudio here), one sentence on stderr, and the
 * session goes on. */
void client_audio_start(const struct client_opts *o, struct client_audio *a);
/* nxproxy's media=<port> (" media=P"), when there is sound. */
void client_audio_nxproxy_args(const struct client_audio *a, struct qvd_buf *args);
/* Unloads the module (or stops the PulseAudio started for the session). */
void client_audio_stop(struct client_audio *a);

/* ---- proxy.c ---- */
/* Set by the SIGINT/SIGTERM handler (errors.c holds it); every wait loop checks it. */
extern volatile sig_atomic_t client_interrupted;
void client_signals_init(void);
/* Spawns nxproxy, relays its connection into the TLS stream (after `leftover`) until one
 * side closes, then reaps nxproxy. Exit status. */
/* The local nxproxy of a session. */
struct client_proxy {
    pid_t pid;
    int nx; /* its connection to our local port */
    /* nxproxy's channel options (" media=P ..."), each feature adds its own */
    struct qvd_buf channels;
};
int client_proxy_start(const struct client_opts *o, struct client_proxy *px);
/* 0 when a side closed (or a signal came), -1 with the reason when the stream broke. */
int client_proxy_relay(const struct client_opts *o, struct client_proxy *px, struct client_tls *t,
                       const struct qvd_buf *leftover);
void client_proxy_stop(struct client_proxy *px);
/* Splits `s` on blanks into argv entries appended to *argv (count *argc). */
void client_split_args(const char *s, char ***argv, size_t *argc);

#endif

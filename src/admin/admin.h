/* admin.h: qvd-admin's private header: the command table, parsed options, helpers. */
#ifndef QVD_ADMIN_H
#define QVD_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct qvd_config;
struct qvd_db;
struct qvd_stmt;

/* Exit statuses: refused operations 1, usage errors 2. */
#define ADMIN_OK 0
#define ADMIN_REFUSED 1
#define ADMIN_USAGE 2

#define ADMIN_MAX_OPTS 24
#define ADMIN_MAX_POS 4

/* One --option a command accepts; `arg` false for flags. */
struct admin_opt {
    const char *name;
    bool arg;
    bool required;
};

struct admin_ctx {
    struct qvd_config *cfg;
    struct qvd_db *db;
    bool json, csv; /* listing formats (table otherwise) */
    const char *object, *verb;
    const char *opt_name[ADMIN_MAX_OPTS], *opt_value[ADMIN_MAX_OPTS];
    int nopts;
    const char *pos[ADMIN_MAX_POS];
    int npos;
};

/* One command: `object` NULL matches every object that has properties (prop* verbs). */
struct admin_cmd {
    const char *object;
    const char *verb;
    const char *usage; /* the options, as shown by --help */
    const char *help;  /* one line */
    const struct admin_opt *opts;
    int npos; /* positional arguments required after the verb */
    bool no_db;
    int (*exec)(struct admin_ctx *ctx);
};

extern const struct admin_cmd *const admin_cmds[];

/* Options given on the command line (NULL when absent). */
const char *admin_opt(struct admin_ctx *ctx, const char *name);
bool admin_flag(struct admin_ctx *ctx, const char *name);
/* Integer option: 0 absent, 1 set, -1 not a number (message printed). */
int admin_opt_int(struct admin_ctx *ctx, const char *name, int64_t *out);
/* 0/1 option (-1 when absent); ADMIN_USAGE via *bad on a bad value. */
int admin_opt_bool(struct admin_ctx *ctx, const char *name, int *bad);

/* Print "qvd-admin: ..." on stderr and return the status. */
int admin_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int admin_refused(void); /* with qvd_strerror() */
/* The command's options that are members of its object (--memory of an OSF), checked
 * against the objects' description as qvd-api checks its bodies: ADMIN_OK, or
 * ADMIN_REFUSED with the refusal printed (cmd_object.c). */
int admin_check_members(struct admin_ctx *ctx, bool create);
/* The same, with the members as that JSON object in *out (the caller's) when ADMIN_OK. */
struct json_t;
int admin_members(struct admin_ctx *ctx, bool create, struct json_t **out);
/* Prints the rows of `resource` (src/lib/resource.c's list, as qvd-api lists it) that f
 * matches (name: the field name_field), with the comma-separated `fields` as columns. */
struct qvd_model_filter;
int admin_list(struct admin_ctx *ctx, const char *resource, const char *fields,
               const struct qvd_model_filter *f, const char *name_field);
int admin_refusedf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the rows of a listing as an aligned table or a JSON array; frees st. */
int admin_print(struct admin_ctx *ctx, struct qvd_stmt *st);
/* Prints text rows (ncol columns named `names`) as an aligned table or, with `csv`, as CSV
 * (RFC 4180: a header line, CRLF line ends): the one printer of both modes. */
void admin_print_rows(bool csv, const char *const *names, int ncol, char ***rows, size_t nrows);
void admin_done(struct admin_ctx *ctx, const char *what, int64_t id);

/* Object references from the options; return ADMIN_OK or an exit status (printed). */
int admin_tenant(struct admin_ctx *ctx, const char *opt, bool use_default, int64_t *id);
int admin_user(struct admin_ctx *ctx, const char *id_opt, const char *login_opt, int64_t *id);
int admin_osf(struct admin_ctx *ctx, int64_t tenant_id, int64_t *id);
int admin_host(struct admin_ctx *ctx, int64_t *id);
int admin_need_id(struct admin_ctx *ctx, int64_t *id);
/* The password from --password, --password-stdin or a prompt; caller wipes and frees. */
int admin_password(struct admin_ctx *ctx, char **out);
/* A secret from one line of stdin, or asked on the terminal (no echo) after `prompt`:
 * ADMIN_OK, ADMIN_USAGE (empty, printed), or -1 when there is no terminal to ask on. */
int admin_read_secret(bool from_stdin, const char *prompt, char **out);

/* ---- remote mode: a client of qvd-api (docs/api.md) ---- */

struct json_t;

enum admin_format { ADMIN_FMT_TABLE, ADMIN_FMT_CSV, ADMIN_FMT_JSON };

/* Global options of remote mode. Precedence: command line > environment (QVD_API_URL) >
 * ~/.qvd/qa.conf > /etc/qvd/qa.conf. Strings are owned. */
struct remote_opts {
    char *url, *login, *tenant, *ca;
    bool insecure, password_stdin, yes, help, version;
    enum admin_format format;
    long limit, offset; /* -1: not given */
};

/* A parsed server address: "https://HOST[:PORT][/PREFIX]" or "unix:/PATH". */
struct remote_url {
    bool unix_socket;
    char *host; /* https: the host (IPv6 without brackets) */
    int port;   /* https: default 3443 */
    char *path; /* unix: the socket path */
};

/* remote_conf.c */
/* Is remote mode asked for? A URL from --url (anywhere), QVD_API_URL or qa.url of the files,
 * and no -c/--config before the object. `files` is {system, user} (NULL entries skipped). */
bool remote_wanted(int argc, char **argv, const char *const files[2],
                   const char *(*env)(const char *));
/* Loads qa.conf files then env (QVD_API_URL) into o; 0, or -1 with qvd_strerror(). */
int remote_opts_load(struct remote_opts *o, const char *const files[2],
                     const char *(*env)(const char *));
/* Takes the global options out of argv (anywhere), compacting it; ADMIN_OK or ADMIN_USAGE
 * (printed). */
int remote_opts_take(struct remote_opts *o, int *argc, char **argv);
void remote_opts_free(struct remote_opts *o);
void remote_opts_usage(FILE *f);
int remote_url_parse(const char *url, struct remote_url *u); /* 0, or -1 + qvd_strerror() */
void remote_url_free(struct remote_url *u);
/* The user's ~/.qvd (from $HOME, else the password database); caller frees. */
char *remote_qvd_dir(void);

/* remote_token.c: ~/.qvd/admin-tokens, "URL LOGIN TOKEN" lines, mode 0600. */
/* The token for url and login (login NULL: the last one stored for url), or NULL. *login_out
 * (may be NULL) gets the login of the line. Caller frees. */
char *remote_token_get(const char *file, const char *url, const char *login, char **login_out);
/* Stores (token non-NULL) or removes the line of url+login, atomically (temp + rename),
 * creating the directory 0700. 0, or -1 + qvd_strerror(). */
int remote_token_put(const char *file, const char *url, const char *login, const char *token);

/* remote_grammar.c: OBJECT [FILTERS] VERB [ARGS] [order [asc|desc] FIELD...] */
enum remote_verb {
    RV_GET,
    RV_NEW,
    RV_SET,
    RV_DEL,
    RV_BLOCK,
    RV_UNBLOCK,
    RV_START,
    RV_STOP,
    RV_DISCONNECT,
    RV_PUBLISH,
    RV_TAG,
    RV_UNTAG,
    RV_ASSIGN,
    RV_UNASSIGN,
    RV_GRANT,
    RV_REVOKE,
    RV_INHERIT,
    RV_DISINHERIT,
    RV_PASSWORD,
    RV_EVACUATE,
    RV_COUNT
};

struct remote_verb_def {
    const char *name;
    const char *done; /* for reports: "started" */
    const char *args; /* shown by --help */
    const char *help;
};
extern const struct remote_verb_def remote_verbs[RV_COUNT];

struct remote_object {
    const char *name;     /* "vm" */
    const char *resource; /* "vms": the URL segment */
    const char *label;    /* the field a bare word filters on: "name" */
    unsigned verbs;       /* 1 << enum remote_verb */
    bool props;           /* has properties */
};
extern const struct remote_object remote_objects[];
const struct remote_object *remote_object_find(const char *name);

struct remote_cmd {
    const struct remote_object *obj; /* property: the owner's object */
    bool property;
    enum remote_verb verb;
    char *filter; /* the API filter; NULL: every object */
    char *key;    /* config: the key named by the filter (bare word or key=K), or NULL */
    char *order;  /* the API order ("name,-id") or NULL */
    char *fields; /* get: the API fields or NULL */
    char **args;  /* the verb's arguments (into argv) */
    int nargs;
};

/* Splits argv (argv[0] is the object) into cmd; ADMIN_OK or ADMIN_USAGE (printed). */
int remote_parse(int argc, char **argv, struct remote_cmd *cmd);
void remote_cmd_free(struct remote_cmd *cmd);
/* The API filter of the words between the object and the verb: words are joined where an
 * operator meets them, else with ',' (and); a plain word means LABEL=WORD (LABEL~WORD with
 * '*' or '%'; NAME@TENANT for users and admins). NULL for no words. */
char *remote_filter_join(const struct remote_object *obj, int n, char **words);
/* `[asc|desc] FIELD...` after `order` into the API's order ("a,-b"); NULL + printed usage
 * error when empty. */
char *remote_order(const struct remote_object *obj, int n, char **words);
/* A filter term FIELD=VALUE with VALUE quoted when it needs it. Caller frees. */
char *remote_filter_term(const char *field, const char *op, const char *value);
/* "/api/v1/RES?filter=..&order=..&fields=..&offset=N&limit=N&count=0": a page of a list. */
char *remote_list_target(const struct remote_object *obj, const char *filter, const char *order,
                         const char *fields, long offset, long limit);
/* The value of argument KEY=VALUE (after aliases), or NULL. */
const char *remote_arg(const struct remote_cmd *cmd, const char *key);
/* k=v arguments into a JSON object: aliases, integers for integer fields, booleans for
 * boolean fields, `user osf tenant role` kept as strings (names to resolve) unless numeric
 * (then X_id). Users and admins: name=LOGIN@TENANT becomes name + tenant. `skip` names
 * keys left out (NULL-terminated, may be NULL). ADMIN_OK or ADMIN_USAGE (printed). */
int remote_args_body(const struct remote_cmd *cmd, const char *const *skip, struct json_t **out);

/* One HTTP request of a plan. */
struct remote_step {
    const char *method;
    char *target;
    struct json_t *body; /* NULL: none */
};
/* The requests that carry cmd's verb out on object `id` (config: id NULL, `body` holds
 * tenant_id). `body` is the resolved k=v body of set/assign/unassign/inherit/disinherit/
 * password. Returns the number of steps in the malloc'ed *steps. */
int remote_steps(const struct remote_cmd *cmd, long long id, const struct json_t *body,
                 struct remote_step **steps);
void remote_steps_free(struct remote_step *steps, int n);

/* http_client.c: blocking HTTP/1.1 to qvd-api over TLS (verified against the system CAs and
 * `ca`, host name checked, unless `insecure`) or a Unix socket, with deadlines; the
 * connection is kept for the next request when the server allows. */
struct admin_http;
struct qvd_buf;
struct admin_http *admin_http_new(const struct remote_url *u, const char *ca, bool insecure);
/* Sends one request (`headers`: NULL-terminated name, value, ...; Host and Content-Length
 * are added) and reads the answer: *status and its body into `answer` (reset).
 * 0, or -1 with qvd_strerror() for a transport failure. */
int admin_http_request(struct admin_http *h, const char *method, const char *target,
                       const char *const *headers, const char *body, size_t len, int *status,
                       struct qvd_buf *answer);
void admin_http_free(struct admin_http *h);

/* remote.c: the session with qvd-api. */
struct remote {
    struct remote_opts *o;
    struct admin_http *http;
    char *url;   /* as given, without a trailing '/' */
    char *token; /* NULL before login */
    char *login; /* the login the token belongs to, if known */
};
/* A call's outcome beyond ADMIN_OK/ADMIN_REFUSED: the server is unreachable or the session
 * is over; the sentence is printed and nothing more should be tried. */
#define REMOTE_ABORT 3
/* Runs the command in remote mode when a URL is configured: true and *rc set; false for
 * local mode. */
bool admin_remote_main(int argc, char **argv, int *rc);
/* One API call (`body` may be NULL). ADMIN_OK with *answer (NULL when empty); ADMIN_REFUSED
 * with the API's sentence in *err (caller prints and frees); REMOTE_ABORT (printed). */
int remote_call(struct remote *r, const char *method, const char *target, const struct json_t *body,
                struct json_t **answer, char **err);
/* A new password from stdin (--password-stdin) or asked twice on the terminal. */
int remote_new_password(struct remote *r, char **out);

/* remote_cmd.c: OBJECT [FILTERS] VERB ... carried out through the API. */
int remote_command(struct remote *r, int argc, char **argv);
void remote_usage_object(FILE *f, const char *object);

/* completion.c (generated from completion.c.in): `qvd-admin completion bash`. */
extern const char admin_completion_bash[];
int admin_completion(int argc, char **argv);

#endif

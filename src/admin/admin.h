/* admin.h: qvd-admin's private header: the command table, parsed options, helpers. */
#ifndef QVD_ADMIN_H
#define QVD_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

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
int admin_refusedf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the rows of a listing as an aligned table or a JSON array; frees st. */
int admin_print(struct admin_ctx *ctx, struct qvd_stmt *st);
void admin_done(struct admin_ctx *ctx, const char *what, int64_t id);

/* Object references from the options; return ADMIN_OK or an exit status (printed). */
int admin_tenant(struct admin_ctx *ctx, const char *opt, bool use_default, int64_t *id);
int admin_user(struct admin_ctx *ctx, const char *id_opt, const char *login_opt, int64_t *id);
int admin_osf(struct admin_ctx *ctx, int64_t tenant_id, int64_t *id);
int admin_host(struct admin_ctx *ctx, int64_t *id);
int admin_need_id(struct admin_ctx *ctx, int64_t *id);
/* The password from --password, --password-stdin or a prompt; caller wipes and frees. */
int admin_password(struct admin_ctx *ctx, char **out);

#endif

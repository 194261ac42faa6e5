/* config.h: QVD configuration: Java-properties files, ${key} expansion, built-in defaults,
 * per-tenant overrides. Precedence: tenant row > global row (-1) > file > default. */
#ifndef QVD_CONFIG_H
#define QVD_CONFIG_H

#include <stdbool.h>

struct qvd_config;
struct qvd_db;

/* What a key's value must be. A file, a command line or a configs row that gives another
 * kind of value is refused where it is read, naming the key (and the file and line). */
enum qvd_config_type {
    QVD_CONFIG_TEXT,
    QVD_CONFIG_INT,    /* a decimal integer (qvd_config_int) */
    QVD_CONFIG_BOOL,   /* 1/true/yes/on or 0/false/no/off (qvd_config_bool) */
    QVD_CONFIG_NUMBER, /* a decimal number >= 0, such as a weight (qvd_config_number) */
};

/* One built-in option: the table in config_defaults.c is the reference (docs/config.md) and
 * the only default: every key the programs read is in it, with its type. */
struct qvd_config_default {
    const char *key;
    enum qvd_config_type type;
    const char *value;
    const char *help;
};
extern const struct qvd_config_default qvd_config_defaults[];
/* KEY is one of qvd_config_defaults. */
bool qvd_config_is_known(const char *key);
/* 0 when VALUE suits KEY's type (a value with ${...} references is checked when read);
 * else -1 with an error that names the key and what it needs. Unknown keys pass. */
int qvd_config_check_value(const char *key, const char *value);

/* A configuration holding the built-in defaults. Never NULL (aborts on OOM). */
struct qvd_config *qvd_config_new(void);
/* A deep copy (for per-tenant views). */
struct qvd_config *qvd_config_dup(const struct qvd_config *cfg);
void qvd_config_free(struct qvd_config *cfg);

/* Reads a properties file over the current values. A missing file is an error only when
 * `must_exist`. A malformed line fails with its line number and changes nothing. */
int qvd_config_load_file(struct qvd_config *cfg, const char *path, bool must_exist);
/* Parses properties text (used by load_file and the tests). `origin` names it in errors. */
int qvd_config_load_string(struct qvd_config *cfg, const char *text, const char *origin);
/* Sets one value (copied). Keys must be non-empty and without whitespace. */
int qvd_config_set(struct qvd_config *cfg, const char *key, const char *value);

/* Reading a key: KEY must be in the defaults table, with the type the reader asks for. A
 * program that reads any other key is wrong, not its configuration: it stops with a message
 * naming the key (abort), so that the test that runs that code path fails.
 * The value with ${key} references expanded, or NULL when a reference cannot be resolved
 * (loop, unknown key). The string lives until the next set/load. */
const char *qvd_config_get(struct qvd_config *cfg, const char *key);
/* An integer key's value. A value that ${...} expansion left without a number reads as
 * the table's default. */
long qvd_config_int(struct qvd_config *cfg, const char *key);
/* A boolean key's value (1/true/yes/on, 0/false/no/off or empty), likewise. */
bool qvd_config_bool(struct qvd_config *cfg, const char *key);
/* A number key's value, likewise. */
double qvd_config_number(struct qvd_config *cfg, const char *key);
/* A key given by a user (qvd-admin config get KEY): NULL with an error when it is not in
 * the defaults table (or was not set by a file), never a stop. */
const char *qvd_config_lookup(struct qvd_config *cfg, const char *key);

/* Calls fn for every key in insertion order (defaults first) with its expanded value. */
void qvd_config_foreach(struct qvd_config *cfg,
                        void (*fn)(const char *key, const char *value, void *arg), void *arg);

/* Loads the standard file for a program: $QVD_CONFIG if set, else /etc/qvd/<name>.
 * `override` (from -c/--config) wins over both. Returns NULL with qvd_strerror() set. */
struct qvd_config *qvd_config_load_program(const char *name, const char *override);

/* Overlays the `configs` table: global rows (tenant -1), then tenant_id's rows if >= 0. */
int qvd_config_load_db(struct qvd_config *cfg, struct qvd_db *db, long long tenant_id);

#endif

/* config.h: QVD configuration: Java-properties files, ${key} expansion, built-in defaults,
 * per-tenant overrides. Precedence: tenant row > global row (-1) > file > default. */
#ifndef QVD_CONFIG_H
#define QVD_CONFIG_H

#include <stdbool.h>

struct qvd_config;
struct qvd_db;

/* One built-in option: the table in config_defaults.c is the reference (docs/config.md). */
struct qvd_config_default {
    const char *key;
    const char *value;
    const char *help;
};
extern const struct qvd_config_default qvd_config_defaults[];
/* KEY is one of qvd_config_defaults. */
bool qvd_config_is_known(const char *key);

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

/* The value with ${key} references expanded, or NULL when the key is unknown or a reference
 * cannot be resolved (loop, unknown key). The string lives until the next set/load. */
const char *qvd_config_get(struct qvd_config *cfg, const char *key);
/* Integer value; `dflt` when unset or not an integer. */
long qvd_config_int(struct qvd_config *cfg, const char *key, long dflt);
/* Boolean value: 1/true/yes/on, 0/false/no/off; `dflt` otherwise. */
bool qvd_config_bool(struct qvd_config *cfg, const char *key, bool dflt);

/* Calls fn for every key in insertion order (defaults first) with its expanded value. */
void qvd_config_foreach(struct qvd_config *cfg,
                        void (*fn)(const char *key, const char *value, void *arg), void *arg);

/* Loads the standard file for a program: $QVD_CONFIG if set, else /etc/qvd/<name>.
 * `override` (from -c/--config) wins over both. Returns NULL with qvd_strerror() set. */
struct qvd_config *qvd_config_load_program(const char *name, const char *override);

/* Overlays the `configs` table: global rows (tenant -1), then tenant_id's rows if >= 0. */
int qvd_config_load_db(struct qvd_config *cfg, struct qvd_db *db, long long tenant_id);

#endif

/* testdb.h: the database the unit tests run on: SQLite in the test's directory, or the
 * PostgreSQL server named by QVD_TEST_PG_HOST (see tests/pg.sh). */
#ifndef QVD_TESTDB_H
#define QVD_TESTDB_H

#include <stddef.h>

struct qvd_config;
struct qvd_db;

/* Opens an empty database for one test. The caller has set database.path (used for SQLite);
 * with QVD_TEST_PG_HOST set, database.* point at that server instead and its public schema
 * is dropped and created again. Further connections: qvd_db_open(cfg). NULL on failure. */
struct qvd_db *test_db_open(struct qvd_config *cfg);

/* A scratch folder /tmp/qvd-test-NAME.XXXXXX (into dir) and a configuration for it:
 * database.path, path.run and path.storage.root inside it, cheap argon2 costs. */
struct qvd_config *test_config_new(const char *name, char *dir, size_t dirlen);

/* Ends a test: closes the database, frees the configuration, removes the scratch folder. */
void test_db_free(struct qvd_db *db, struct qvd_config *cfg, const char *dir);

#endif

/* testdb.h: the database the unit tests run on: SQLite in the test's directory, or the
 * PostgreSQL server named by QVD_TEST_PG_HOST (see tests/pg.sh). */
#ifndef QVD_TESTDB_H
#define QVD_TESTDB_H

struct qvd_config;
struct qvd_db;

/* Opens an empty database for one test. The caller has set database.path (used for SQLite);
 * with QVD_TEST_PG_HOST set, database.* point at that server instead and its public schema
 * is dropped and created again. Further connections: qvd_db_open(cfg). NULL on failure. */
struct qvd_db *test_db_open(struct qvd_config *cfg);

#endif

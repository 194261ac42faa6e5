/* testdb.c: one switch between SQLite and PostgreSQL for every unit test that uses a database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "testdb.h"
#include "util.h"

struct qvd_db *
test_db_open(struct qvd_config *cfg)
{
    const char *host = getenv("QVD_TEST_PG_HOST");
    const char *env[][2] = {{"database.port", "QVD_TEST_PG_PORT"},
                            {"database.user", "QVD_TEST_PG_USER"},
                            {"database.name", "QVD_TEST_PG_NAME"}};
    struct qvd_db *db;

    if (host != NULL && *host != '\0') {
        qvd_config_set(cfg, "database.type", "pg");
        qvd_config_set(cfg, "database.host", host);
        for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
            if (getenv(env[i][1]) != NULL)
                qvd_config_set(cfg, env[i][0], getenv(env[i][1]));
    }
    db = qvd_db_open(cfg);
    if (db == NULL) {
        fprintf(stderr, "test database: %s\n", qvd_strerror());
        return NULL;
    }
    if (host != NULL && *host != '\0' &&
        db->ops->exec_script(db, "DROP SCHEMA public CASCADE; CREATE SCHEMA public") < 0) {
        fprintf(stderr, "test database: %s\n", qvd_strerror());
        qvd_db_close(db);
        return NULL;
    }
    return db;
}

struct qvd_config *
test_config_new(const char *name, char *dir, size_t dirlen)
{
    struct qvd_config *cfg;
    char path[256];

    snprintf(dir, dirlen, "/tmp/qvd-test-%s.XXXXXX", name);
    if (mkdtemp(dir) == NULL)
        return NULL;
    cfg = qvd_config_new();
    snprintf(path, sizeof(path), "%s/qvd.db", dir);
    qvd_config_set(cfg, "database.path", path);
    snprintf(path, sizeof(path), "%s/run", dir);
    qvd_config_set(cfg, "path.run", path);
    snprintf(path, sizeof(path), "%s/storage", dir);
    qvd_config_set(cfg, "path.storage.root", path);
    /* cheap hashes: the cost is configuration, the algorithm is the same */
    qvd_config_set(cfg, "password.argon2.t_cost", "1");
    qvd_config_set(cfg, "password.argon2.m_cost", "64");
    return cfg;
}

void
test_db_free(struct qvd_db *db, struct qvd_config *cfg, const char *dir)
{
    qvd_db_close(db);
    qvd_config_free(cfg);
    qvd_rm_rf(dir);
}

/* test_db.c: the database back-end (SQLite, or PostgreSQL with QVD_TEST_PG_HOST): migrations,
 * nested transactions, error kinds, wake-ups. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "db.h"
#include "log.h"
#include "testdb.h"
#include "util.h"

struct fixture {
    char dir[64];
    struct qvd_config *cfg;
    struct qvd_db *db;
};

static int
setup(void **state)
{
    struct fixture *f = qvd_xcalloc(1, sizeof(*f));

    f->cfg = test_config_new("db", f->dir, sizeof(f->dir));
    if (f->cfg == NULL)
        return -1;
    f->db = test_db_open(f->cfg);
    if (f->db == NULL || qvd_db_migrate(f->db) < 0)
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    test_db_free(f->db, f->cfg, f->dir);
    free(f);
    return 0;
}

static int64_t
count_tenants(struct qvd_db *db)
{
    int64_t n = -1;
    assert_int_equal(qvd_db_get_int(db, &n, "SELECT count(*) FROM tenants", NULL), 1);
    return n;
}

static void
migrate_twice_is_idempotent(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(qvd_db_schema_version(f->db), qvd_db_latest_schema_version());
    assert_int_equal(qvd_db_migrate(f->db), 0);
    assert_int_equal(qvd_db_schema_version(f->db), qvd_db_latest_schema_version());
    assert_int_equal(count_tenants(f->db), 3);
}

static void
nested_rollback_undoes_the_outer_transaction(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(qvd_db_begin(f->db), 0);
    assert_int_equal(qvd_db_exec(f->db, "INSERT INTO tenants (name) VALUES (?)", "s", "a"), 1);
    assert_int_equal(qvd_db_begin(f->db), 0);
    assert_int_equal(qvd_db_exec(f->db, "INSERT INTO tenants (name) VALUES (?)", "s", "b"), 1);
    qvd_db_rollback(f->db);
    assert_int_equal(qvd_db_commit(f->db), -1);
    assert_int_equal(count_tenants(f->db), 3);
    /* and a clean nested pair commits */
    assert_int_equal(qvd_db_begin(f->db), 0);
    assert_int_equal(qvd_db_begin(f->db), 0);
    assert_int_equal(qvd_db_exec(f->db, "INSERT INTO tenants (name) VALUES ('c')", NULL), 1);
    assert_int_equal(qvd_db_commit(f->db), 0);
    assert_int_equal(qvd_db_commit(f->db), 0);
    assert_int_equal(count_tenants(f->db), 4);
}

static void
constraint_violation_has_its_kind(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(qvd_db_exec(f->db, "INSERT INTO tenants (name) VALUES ('default')", NULL), -1);
    assert_int_equal(qvd_db_errkind(f->db), QVD_DB_CONSTRAINT);
    assert_int_equal(qvd_db_exec(f->db,
                                 "INSERT INTO users (tenant_id, login, password)"
                                 " VALUES (999, 'x', 'y')",
                                 NULL),
                     -1);
    assert_int_equal(qvd_db_errkind(f->db), QVD_DB_CONSTRAINT);
    assert_int_equal(qvd_db_exec(f->db, "SELECT nonsense FROM nowhere", NULL), -1);
    assert_int_equal(qvd_db_errkind(f->db), QVD_DB_OTHER);
}

/* qvd-admin prints the column names before the first row (and for no rows at all) */
static void
columns_are_known_before_the_first_step(void **state)
{
    struct fixture *f = *state;
    struct qvd_stmt *st = qvd_db_query(f->db,
                                       "SELECT id, name AS tenant FROM tenants"
                                       " WHERE name = ? ORDER BY id",
                                       "s", "default");

    assert_non_null(st);
    assert_int_equal(qvd_db_columns(st), 2);
    assert_string_equal(qvd_db_column_name(st, 0), "id");
    assert_string_equal(qvd_db_column_name(st, 1), "tenant");
    assert_int_equal(qvd_db_step(st), 1);
    assert_string_equal(qvd_db_text(st, 1), "default");
    assert_int_equal(qvd_db_step(st), 0);
    qvd_db_done(st);
    st = qvd_db_query(f->db, "SELECT id, name FROM tenants WHERE id > ?", "i", (int64_t)1000);
    assert_non_null(st);
    assert_int_equal(qvd_db_columns(st), 2);
    assert_string_equal(qvd_db_column_name(st, 1), "name");
    assert_int_equal(qvd_db_step(st), 0);
    qvd_db_done(st);
}

static void
query_binds_text_int_and_null(void **state)
{
    struct fixture *f = *state;
    struct qvd_stmt *st = qvd_db_query(f->db, "SELECT ?, ?, ?", "sin", "txt", (int64_t)42);

    assert_non_null(st);
    assert_int_equal(qvd_db_step(st), 1);
    assert_string_equal(qvd_db_text(st, 0), "txt");
    assert_int_equal(qvd_db_int(st, 1), 42);
    assert_true(qvd_db_is_null(st, 2));
    assert_null(qvd_db_text(st, 2));
    assert_int_equal(qvd_db_step(st), 0);
    qvd_db_done(st);
}

static void
notify_wakes_the_listener(void **state)
{
    struct fixture *f = *state;
    int fd = qvd_db_listen(f->db, "qvd_test_chan");
    struct qvd_db *writer = qvd_db_open(f->cfg); /* another process, as in production */
    struct pollfd p;

    assert_true(fd >= 0);
    assert_non_null(writer);
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_int_equal(qvd_db_notify(writer, "qvd_test_chan"), 0);
    assert_int_equal(poll(&p, 1, 1000), 1);
    qvd_db_drain(f->db, &fd);
    assert_int_equal(poll(&p, 1, 0), 0);
    /* notifying a channel nobody listens to is fine */
    assert_int_equal(qvd_db_notify(writer, "qvd_nobody"), 0);
    qvd_db_close(writer);
}

/* The database's clock (qvd_db_clock, which stamps heartbeats) is the model's clock,
 * qvd_now(), truncated to the second: never a second ahead of it (PostgreSQL's cast of its
 * epoch rounded to the nearest second, so a heartbeat could be -1 s old). */
static void
clock_never_runs_ahead(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i < 40; i++) {
        int64_t before = qvd_now(), now = 0;
        assert_int_equal(qvd_db_clock(f->db, &now), 0);
        int64_t after = qvd_now();
        assert_true(now >= before && now <= after);
        usleep(37 * 1000); /* samples spread over the fractions of a second */
    }
}

int
main(void)
{
    qvd_log_init("test-db", QVD_LOG_WARN, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrate_twice_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(nested_rollback_undoes_the_outer_transaction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(constraint_violation_has_its_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(query_binds_text_int_and_null, setup, teardown),
        cmocka_unit_test_setup_teardown(columns_are_known_before_the_first_step, setup, teardown),
        cmocka_unit_test_setup_teardown(notify_wakes_the_listener, setup, teardown),
        cmocka_unit_test_setup_teardown(clock_never_runs_ahead, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

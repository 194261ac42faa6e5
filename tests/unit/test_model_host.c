/* test_model_host.c: the cluster's hosts in the model (model_host.c) on a real database
 * (SQLite, or PostgreSQL with QVD_TEST_PG_HOST): CIDR parsing, the VM subnet's rules and
 * `host evacuate` (refused alone, the rows it changes, a start it cancels). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "model.h"
#include "testdb.h"
#include "util.h"

struct fixture {
    char dir[64];
    struct qvd_config *cfg;
    struct qvd_db *db;
    int64_t h1, h2;
};

static int
setup(void **state)
{
    struct fixture *f = qvd_xcalloc(1, sizeof(*f));

    f->cfg = test_config_new("model_host", f->dir, sizeof(f->dir));
    if (f->cfg == NULL || (f->db = test_db_open(f->cfg)) == NULL || qvd_db_migrate(f->db) < 0 ||
        qvd_model_host_add(f->db, f->cfg, "n1", "192.168.77.1", NULL, &f->h1) < 0 ||
        qvd_model_host_add(f->db, f->cfg, "n2", "192.168.77.2", NULL, &f->h2) < 0)
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

static void
cidr_parse_takes_networks_only(void **state)
{
    uint32_t net;
    int len;

    (void)state;
    assert_int_equal(qvd_model_cidr_parse("10.2.0.0/16", &net, &len), 0);
    assert_int_equal(net, 0x0a020000u);
    assert_int_equal(len, 16);
    assert_int_equal(qvd_model_cidr_parse("10.2.3.4/32", &net, &len), 0);
    static const char *const bad[] = {"10.2.0.0",    "10.2.0.1/16", "10.2.0.0/0",  "10.2.0.0/33",
                                      "10.2.0.0/+8", "10.2.0.0/08", "10.2.0/16",   "/16",
                                      "10.2.0.0/",   "x/16",        "10.2.0.0/16 "};
    for (size_t i = 0; i < QVD_ARRAY_LEN(bad); i++) {
        assert_int_equal(qvd_model_cidr_parse(bad[i], &net, &len), -1);
        assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
    }
}

static void
subnet_rules(void **state)
{
    struct fixture *f = *state;
    int64_t n;

    /* the cluster's VM network is 10.0.0.0/16 (vm.network.ip.start, netmask 255.255.0.0) */
    assert_int_equal(qvd_model_host_subnet(f->db, f->cfg, f->h1, "10.1.0.0/16"), 0);
    assert_int_equal(qvd_model_host_subnet(f->db, f->cfg, f->h2, "10.1.0.0/16"), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    assert_non_null(strstr(qvd_strerror(), "overlaps host"));
    assert_int_equal(qvd_model_host_subnet(f->db, f->cfg, f->h2, "10.2.0.0/24"), -1);
    assert_non_null(strstr(qvd_strerror(), "prefix length"));
    assert_int_equal(qvd_model_host_subnet(f->db, f->cfg, f->h2, "10.0.0.0/16"), -1);
    assert_non_null(strstr(qvd_strerror(), "cluster's VM network"));
    assert_int_equal(qvd_model_host_subnet(f->db, f->cfg, f->h2, "10.2.0.0/16"), 0);
    /* its own subnet again is no overlap; '' is none */
    assert_int_equal(qvd_model_host_subnet(f->db, f->cfg, f->h2, "10.2.0.0/16"), 0);
    assert_int_equal(qvd_model_host_subnet(f->db, f->cfg, f->h1, ""), 0);
    assert_int_equal(
        qvd_db_get_int(f->db, &n, "SELECT count(*) FROM hosts WHERE vm_subnet = ''", NULL), 1);
    assert_int_equal(n, 1);
    assert_int_equal(qvd_model_host_subnet(f->db, f->cfg, 999, "10.9.0.0/16"), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_NOT_FOUND);
}

/* VM rows on host h: 1 running with a user, 2 running, 3 a start no HKD took (raw rows: the
 * evacuation reads nothing else) */
static void
vms_on(struct fixture *f, int64_t h)
{
    int64_t t, u, o, id;
    struct qvd_model_osf osf = QVD_MODEL_OSF_UNSET;
    struct qvd_model_vm vm = {.name = "v1"};
    static const char *const names[] = {"v1", "v2", "v3"};
    char src[96], file[128];

    osf.name = "d";
    assert_int_equal(qvd_model_tenant_add(f->db, f->cfg, "acme", NULL, &t), 0);
    assert_int_equal(qvd_model_user_add(f->db, f->cfg, t, "bob", "pw", NULL, &u), 0);
    assert_int_equal(qvd_model_osf_add(f->db, f->cfg, t, &osf, &o), 0);
    snprintf(src, sizeof(src), "%s/image", f->dir);
    mkdir(src, 0755);
    snprintf(file, sizeof(file), "%s/hello", src);
    qvd_write_file(file, "hi\n", 3, 0644);
    assert_int_equal(qvd_model_di_add(f->db, f->cfg, o, src, NULL, NULL, &id), 0);
    vm.user_id = u;
    vm.osf_id = o;
    for (int i = 0; i < 3; i++) {
        vm.name = names[i];
        assert_int_equal(qvd_model_vm_add(f->db, f->cfg, &vm, &id), 0);
        qvd_db_exec(f->db,
                    "UPDATE vm_runtimes SET host_id = ?, vm_state = ?, vm_cmd = ? WHERE vm_id = ?",
                    "issi", h, i < 2 ? "running" : "stopped", i < 2 ? NULL : "start", id);
        if (i == 0)
            qvd_db_exec(f->db,
                        "UPDATE vm_runtimes SET user_state = 'connected', l7r_host_id = ?"
                        " WHERE vm_id = ?",
                        "ii", h, id);
    }
}

static void
evacuate_refused_alone_then_stops_everything(void **state)
{
    struct fixture *f = *state;
    int64_t moved = -1, n;

    vms_on(f, f->h1);
    qvd_db_exec(f->db, "UPDATE host_runtimes SET state = 'running', ok_ts = ?", "i", qvd_now());
    qvd_db_exec(f->db, "UPDATE host_runtimes SET blocked = 1 WHERE host_id = ?", "i", f->h2);
    assert_int_equal(qvd_model_host_evacuate(f->db, f->cfg, f->h1, false, &moved), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    assert_non_null(strstr(qvd_strerror(), "nowhere to go"));
    qvd_db_get_int(f->db, &n, "SELECT count(*) FROM vm_runtimes WHERE vm_cmd = 'stop'", NULL);
    assert_int_equal(n, 0);
    qvd_db_get_int(f->db, &n, "SELECT blocked FROM host_runtimes WHERE host_id = ?", "i", f->h1);
    assert_int_equal(n, 0);

    qvd_db_exec(f->db, "UPDATE host_runtimes SET blocked = 0 WHERE host_id = ?", "i", f->h2);
    assert_int_equal(qvd_model_host_evacuate(f->db, f->cfg, f->h1, false, &moved), 0);
    assert_int_equal(moved, 3);
    qvd_db_get_int(f->db, &n, "SELECT blocked FROM host_runtimes WHERE host_id = ?", "i", f->h1);
    assert_int_equal(n, 1);
    qvd_db_get_int(f->db, &n,
                   "SELECT count(*) FROM vm_runtimes WHERE vm_cmd = 'stop' AND host_id = ?", "i",
                   f->h1);
    assert_int_equal(n, 2);
    qvd_db_get_int(f->db, &n,
                   "SELECT count(*) FROM vm_runtimes WHERE user_cmd = 'abort'"
                   " AND user_cmd_by = 'admin'",
                   NULL);
    assert_int_equal(n, 1);
    qvd_db_get_int(f->db, &n,
                   "SELECT count(*) FROM vm_runtimes WHERE vm_state = 'stopped'"
                   " AND vm_cmd IS NULL AND host_id IS NULL",
                   NULL);
    assert_int_equal(n, 1);
    /* again: nothing left to move; forced on the other (empty) host: nothing either */
    assert_int_equal(qvd_model_host_evacuate(f->db, f->cfg, f->h1, false, &moved), 0);
    assert_int_equal(moved, 0);
    assert_int_equal(qvd_model_host_evacuate(f->db, f->cfg, f->h2, true, &moved), 0);
    assert_int_equal(moved, 0);
    assert_int_equal(qvd_model_host_evacuate(f->db, f->cfg, 999, true, &moved), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_NOT_FOUND);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cidr_parse_takes_networks_only),
        T(subnet_rules),
        T(evacuate_refused_alone_then_stops_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

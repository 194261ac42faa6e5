/* test_model_hkd.c: the node's part of the model (model_hkd.h) on a real database (SQLite,
 * or PostgreSQL with QVD_TEST_PG_HOST): registration, heartbeat, host commands, taking VM
 * commands, and the VM state machine's guards: a write whose transition no longer applies,
 * or for a row another node holds, changes nothing (what keeps a late result of the HKD's
 * database worker from landing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "model.h"
#include "model_hkd.h"
#include "testdb.h"
#include "util.h"

struct fixture {
    char dir[64], src[96];
    struct qvd_config *cfg;
    struct qvd_db *db;
    int64_t host, other, vm;
};

/* qvd_model_hkd_register as a node calls it (address: node.address; first: the address of
 * a new host without one; subnet: vm.network.subnet); the row's address and subnet go to
 * `row` when given. */
static int
reg(struct qvd_db *db, const char *name, const char *address, const char *first, const char *subnet,
    int64_t *id)
{
    struct qvd_model_hkd_reg in = {address, first, subnet, 100, 1000};
    struct qvd_model_hkd_host row;
    int rc = qvd_model_hkd_register(db, name, &in, &row);

    *id = row.id;
    return rc;
}

static struct qvd_model_hkd_host last_row;
static int
reg_row(struct qvd_db *db, const char *name, const char *address, const char *first,
        const char *subnet)
{
    struct qvd_model_hkd_reg in = {address, first, subnet, 1, 2};

    return qvd_model_hkd_register(db, name, &in, &last_row);
}

static int
setup(void **state)
{
    struct fixture *f = qvd_xcalloc(1, sizeof(*f));
    struct qvd_model_osf o = QVD_MODEL_OSF_UNSET;
    struct qvd_model_vm v = {.name = "v1"};
    char path[128];
    int64_t tenant, user, osf, di;

    f->cfg = test_config_new("model-hkd", f->dir, sizeof(f->dir));
    if (f->cfg == NULL)
        return -1;
    snprintf(f->src, sizeof(f->src), "%s/image", f->dir);
    mkdir(f->src, 0755);
    snprintf(path, sizeof(path), "%s/hello", f->src);
    qvd_write_file(path, "hi\n", 3, 0644);
    f->db = test_db_open(f->cfg);
    if (f->db == NULL || qvd_db_migrate(f->db) < 0)
        return -1;
    o.name = "desktop";
    if (qvd_model_tenant_add(f->db, f->cfg, "acme", NULL, &tenant) < 0 ||
        qvd_model_user_add(f->db, f->cfg, tenant, "bob", "secret", NULL, &user) < 0 ||
        qvd_model_osf_add(f->db, f->cfg, tenant, &o, &osf) < 0 ||
        qvd_model_di_add(f->db, f->cfg, osf, f->src, NULL, NULL, &di) < 0)
        return -1;
    v.user_id = user;
    v.osf_id = osf;
    if (qvd_model_vm_add(f->db, f->cfg, &v, &f->vm) < 0 ||
        reg(f->db, "n1", NULL, "10.9.0.1", NULL, &f->host) < 0 ||
        reg(f->db, "n2", NULL, "10.9.0.2", NULL, &f->other) < 0)
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

static char *
vm_state(struct fixture *f)
{
    static char out[64];
    struct qvd_stmt *st =
        qvd_db_query(f->db,
                     "SELECT vm_state || '/' || coalesce(vm_cmd, '-') || '/' ||"
                     " coalesce(CAST(host_id AS TEXT), '-') FROM vm_runtimes WHERE vm_id = ?",
                     "i", f->vm);

    assert_non_null(st);
    assert_int_equal(qvd_db_step(st), 1);
    snprintf(out, sizeof(out), "%s", qvd_db_text(st, 0));
    qvd_db_done(st);
    return out;
}

/* The VM's start asked for on `host` (as qvd_model_vm_start leaves it). */
static void
ask_start(struct fixture *f, int64_t host)
{
    assert_int_equal(qvd_db_exec(f->db,
                                 "UPDATE vm_runtimes SET vm_cmd = 'start', host_id = ?"
                                 " WHERE vm_id = ?",
                                 "ii", host, f->vm),
                     1);
}

static void
take_start(struct fixture *f)
{
    int64_t *ids = NULL;
    size_t n = 0;

    ask_start(f, f->host);
    assert_int_equal(qvd_model_hkd_take_starts(f->db, f->host, 5, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], f->vm);
    free(ids);
}

static void
registration_keeps_the_first_address(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(reg_row(f->db, "n1", NULL, "10.9.9.9", NULL), 0);
    assert_int_equal(last_row.id, f->host);
    assert_string_equal(last_row.address, "10.9.0.1");
    assert_string_equal(last_row.vm_subnet, "");
    /* a new host needs an address */
    assert_int_equal(reg_row(f->db, "n3", NULL, NULL, NULL), -1);
}

/* node.address and vm.network.subnet are written at every start, and the row says them
 * back; another host's address or subnet is refused, and nothing of the start is kept */
static void
registration_writes_address_and_subnet(void **state)
{
    struct fixture *f = *state;
    struct qvd_model_hkd_peer *peers = NULL;
    size_t n = 0;

    assert_int_equal(reg_row(f->db, "n1", "192.168.77.1", "10.9.9.9", "10.1.0.0/16"), 0);
    assert_int_equal(last_row.id, f->host);
    assert_string_equal(last_row.address, "192.168.77.1");
    assert_string_equal(last_row.vm_subnet, "10.1.0.0/16");
    /* without the keys, a known host keeps what its row says */
    assert_int_equal(reg_row(f->db, "n1", NULL, "10.9.9.9", ""), 0);
    assert_string_equal(last_row.address, "192.168.77.1");
    assert_string_equal(last_row.vm_subnet, "10.1.0.0/16");
    assert_int_equal(reg_row(f->db, "n2", "192.168.77.1", NULL, NULL), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
    assert_int_equal(reg_row(f->db, "n2", "192.168.77.2", NULL, "10.1.0.0/16"), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
    /* a new host refused leaves no row */
    assert_int_equal(reg_row(f->db, "n4", "192.168.77.4", NULL, "10.1.0.0/16"), -1);
    assert_int_equal(reg_row(f->db, "n2", "192.168.77.2", NULL, "10.2.0.0/16"), 0);
    /* the peers of n1: every other host, with its address, subnet and state */
    assert_int_equal(qvd_model_hkd_host_state(f->db, f->other, "running", 42), 0);
    assert_int_equal(qvd_model_hkd_peers(f->db, f->host, &peers, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(peers[0].id, f->other);
    assert_string_equal(peers[0].name, "n2");
    assert_string_equal(peers[0].address, "192.168.77.2");
    assert_string_equal(peers[0].vm_subnet, "10.2.0.0/16");
    assert_string_equal(peers[0].state, "running");
    free(peers);
    assert_int_equal(qvd_model_hkd_peers(f->db, f->other, &peers, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(peers[0].name, "n1");
    assert_string_equal(peers[0].vm_subnet, "10.1.0.0/16");
    free(peers);
}

static void
heartbeat_and_host_stop(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(qvd_model_hkd_host_state(f->db, f->host, "running", 42), 0);
    assert_int_equal(qvd_model_hkd_heartbeat(f->db, f->host, 42), 1);
    qvd_db_exec(f->db, "UPDATE host_runtimes SET state = 'lost' WHERE host_id = ?", "i", f->host);
    assert_int_equal(qvd_model_hkd_heartbeat(f->db, f->host, 42), 0);
    assert_int_equal(qvd_model_hkd_host_take_stop(f->db, f->host), 0);
    qvd_db_exec(f->db, "UPDATE host_runtimes SET cmd = 'stop' WHERE host_id = ?", "i", f->host);
    assert_int_equal(qvd_model_hkd_host_take_stop(f->db, f->other), 0);
    assert_int_equal(qvd_model_hkd_host_take_stop(f->db, f->host), 1);
    assert_int_equal(qvd_model_hkd_host_take_stop(f->db, f->host), 0);
}

/* A fenced node comes back (host.c): declared lost or not, its row is running again and
 * forgets the loss; other nodes count as peers only with backend=1. */
static void
rejoin_and_peers(void **state)
{
    struct fixture *f = *state;
    int64_t n = -1, lost_ts = -1;

    assert_int_equal(qvd_model_hkd_peer_count(f->db, f->host, &n), 0);
    assert_int_equal(n, 1);
    qvd_db_exec(f->db, "UPDATE hosts SET backend = 0 WHERE id = ?", "i", f->other);
    assert_int_equal(qvd_model_hkd_peer_count(f->db, f->host, &n), 0);
    assert_int_equal(n, 0);
    qvd_db_exec(
        f->db,
        "UPDATE host_runtimes SET state = 'lost', lost_ts = 5, lost_by = ? WHERE host_id = ?", "ii",
        f->other, f->host);
    assert_int_equal(qvd_model_hkd_heartbeat(f->db, f->host, 42), 0);
    assert_int_equal(qvd_model_hkd_rejoin(f->db, f->host, 43), 1);
    assert_int_equal(qvd_model_hkd_heartbeat(f->db, f->host, 43), 1);
    assert_int_equal(qvd_db_get_int(f->db, &lost_ts,
                                    "SELECT COALESCE(lost_ts, lost_by, -7) FROM host_runtimes"
                                    " WHERE host_id = ? AND state = 'running' AND pid = 43",
                                    "i", f->host),
                     1);
    assert_int_equal(lost_ts, -7);
    /* not lost: running again all the same */
    assert_int_equal(qvd_model_hkd_rejoin(f->db, f->host, 44), 0);
}

static void
a_start_runs_then_stops(void **state)
{
    struct fixture *f = *state;
    struct qvd_model_hkd_vm row;
    struct qvd_model_hkd_run run = {.address = "10.9.1.5", .secret = "s", .vma_port = 3030};
    int64_t n;

    take_start(f);
    assert_string_equal(vm_state(f), "starting/-/1");
    assert_int_equal(qvd_model_hkd_vm_load(f->db, f->vm, false, &row), 0);
    assert_string_equal(row.name, "v1");
    assert_string_equal(row.login, "bob");
    run.osf_id = row.osf_id;
    run.di_id = row.di_id;
    assert_int_equal(qvd_model_hkd_vm_prepare(f->db, f->host, f->vm, &run), 0);
    assert_int_equal(qvd_model_hkd_vm_running(f->db, f->host, f->vm, 77), 0);
    assert_int_equal(qvd_model_hkd_vm_alive(f->db, f->host, f->vm), 0);
    assert_int_equal(qvd_db_get_int(f->db, &n,
                                    "SELECT run_attempts * 10 + run_ok FROM vm_counters"
                                    " WHERE vm_id = ?",
                                    "i", f->vm),
                     1);
    assert_int_equal(n, 11);
    assert_int_equal(qvd_model_hkd_vm_state(f->db, f->host, f->vm, "stopping"), 0);
    assert_string_equal(vm_state(f), "stopping/-/1");
    assert_int_equal(qvd_model_hkd_vm_stopped(f->db, f->host, f->vm), 0);
    assert_string_equal(vm_state(f), "stopped/-/-");
    assert_int_equal(qvd_db_get_int(f->db, &n,
                                    "SELECT count(*) FROM vm_runtimes WHERE vm_id = ? AND"
                                    " (vma_secret IS NOT NULL OR vm_address IS NOT NULL)",
                                    "i", f->vm),
                     1);
    assert_int_equal(n, 0);
}

/* Late results: each write of the machine lands only from the state it expects. */
static void
stale_writes_change_nothing(void **state)
{
    struct fixture *f = *state;
    struct qvd_model_hkd_run run = {.address = "10.9.1.5", .secret = "s"};

    /* a stopped VM: nothing but a start makes it move */
    assert_int_equal(qvd_model_hkd_vm_running(f->db, f->host, f->vm, 1), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    assert_int_equal(qvd_model_hkd_vm_prepare(f->db, f->host, f->vm, &run), -1);
    assert_int_equal(qvd_model_hkd_vm_alive(f->db, f->host, f->vm), -1);
    assert_int_equal(qvd_model_hkd_vm_state(f->db, f->host, f->vm, "stopping"), -1);
    assert_int_equal(qvd_model_hkd_vm_state(f->db, f->host, f->vm, "zombie"), -1);
    assert_string_equal(vm_state(f), "stopped/-/-");
    /* started on this node: another node's writes do not land */
    take_start(f);
    assert_int_equal(qvd_model_hkd_vm_running(f->db, f->other, f->vm, 1), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    assert_int_equal(qvd_model_hkd_vm_state(f->db, f->other, f->vm, "zombie"), -1);
    assert_int_equal(qvd_model_hkd_vm_stopped(f->db, f->other, f->vm), 0); /* not its row */
    assert_string_equal(vm_state(f), "starting/-/1");
    /* running twice, or alive before running, is refused */
    assert_int_equal(qvd_model_hkd_vm_alive(f->db, f->host, f->vm), -1);
    assert_int_equal(qvd_model_hkd_vm_running(f->db, f->host, f->vm, 1), 0);
    assert_int_equal(qvd_model_hkd_vm_running(f->db, f->host, f->vm, 1), -1);
    /* a node sets no other state by name */
    assert_int_equal(qvd_model_hkd_vm_state(f->db, f->host, f->vm, "running"), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
    /* zombie from any active state; running from zombie is refused */
    assert_int_equal(qvd_model_hkd_vm_state(f->db, f->host, f->vm, "zombie"), 0);
    assert_int_equal(qvd_model_hkd_vm_running(f->db, f->host, f->vm, 1), -1);
    assert_int_equal(qvd_model_hkd_vm_stopped(f->db, f->host, f->vm), 0);
    assert_string_equal(vm_state(f), "stopped/-/-");
}

static void
commands_are_taken_once_and_given_back(void **state)
{
    struct fixture *f = *state;
    int64_t *ids = NULL;
    size_t n = 0;

    /* another node's start is not ours; a blocked VM's start waits */
    ask_start(f, f->other);
    assert_int_equal(qvd_model_hkd_take_starts(f->db, f->host, 5, &ids, &n), 0);
    assert_int_equal(n, 0);
    free(ids);
    ask_start(f, f->host);
    qvd_db_exec(f->db, "UPDATE vm_runtimes SET blocked = 1 WHERE vm_id = ?", "i", f->vm);
    assert_int_equal(qvd_model_hkd_take_starts(f->db, f->host, 5, &ids, &n), 0);
    assert_int_equal(n, 0);
    free(ids);
    qvd_db_exec(f->db, "UPDATE vm_runtimes SET blocked = 0 WHERE vm_id = ?", "i", f->vm);
    assert_int_equal(qvd_model_hkd_take_starts(f->db, f->host, 0, &ids, &n), 0);
    assert_int_equal(n, 0); /* no slot */
    free(ids);
    assert_int_equal(qvd_model_hkd_take_starts(f->db, f->host, 5, &ids, &n), 0);
    assert_int_equal(n, 1);
    free(ids);
    assert_int_equal(qvd_model_hkd_take_starts(f->db, f->host, 5, &ids, &n), 0);
    assert_int_equal(n, 0); /* taken once */
    free(ids);
    /* a start taken while the node stops goes back to waiting */
    assert_int_equal(qvd_model_hkd_give_back(f->db, f->host, f->vm), 0);
    assert_string_equal(vm_state(f), "stopped/start/1");
    assert_int_equal(qvd_model_hkd_give_back(f->db, f->host, f->vm), -1);
    /* stop commands */
    take_start(f);
    qvd_db_exec(f->db, "UPDATE vm_runtimes SET vm_cmd = 'stop' WHERE vm_id = ?", "i", f->vm);
    assert_int_equal(qvd_model_hkd_take_stops(f->db, f->other, &ids, &n), 0);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(qvd_model_hkd_take_stops(f->db, f->host, &ids, &n), 0);
    assert_int_equal(n, 1);
    free(ids);
    assert_string_equal(vm_state(f), "starting/-/1");
}

static bool
pid_dead(int64_t pid)
{
    return pid == 4242;
}

static void
dead_l7r_slots_are_released(void **state)
{
    struct fixture *f = *state;
    int64_t released[4];
    size_t n = 9;
    struct qvd_model_hkd_left *left = NULL;

    qvd_db_exec(f->db,
                "UPDATE vm_runtimes SET user_state = 'connected', l7r_host_id = ?, l7r_pid = 4242"
                " WHERE vm_id = ?",
                "ii", f->host, f->vm);
    assert_int_equal(qvd_model_hkd_release_l7r_slots(f->db, f->other, pid_dead, released, 4, &n),
                     0);
    assert_int_equal(n, 0);
    assert_int_equal(qvd_model_hkd_release_l7r_slots(f->db, f->host, pid_dead, released, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(released[0], f->vm);
    /* what a previous run left */
    take_start(f);
    assert_int_equal(qvd_model_hkd_vms_left(f->db, f->host, &left, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(left[0].id, f->vm);
    assert_false(left[0].running);
    assert_int_equal(left[0].pid, -1);
    free(left);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    qvd_log_init("test-model-hkd", QVD_LOG_WARN, NULL);
    const struct CMUnitTest tests[] = {
        T(registration_keeps_the_first_address),
        T(registration_writes_address_and_subnet),
        T(heartbeat_and_host_stop),
        T(rejoin_and_peers),
        T(a_start_runs_then_stops),
        T(stale_writes_change_nothing),
        T(commands_are_taken_once_and_given_back),
        T(dead_l7r_slots_are_released),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_model_cluster.c: placement and node loss (model_cluster.h) on a real database
 * (SQLite, or PostgreSQL with QVD_TEST_PG_HOST): the hosts placement never chooses, how it
 * spreads VMs, and the takeover of a lost node (host marked lost once, slots released, VMs
 * restarted elsewhere, audit entries, the lost node's rejoin). */
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
#include "model_cluster.h"
#include "model_hkd.h"
#include "testdb.h"
#include "util.h"

struct fixture {
    char dir[64], src[96];
    struct qvd_config *cfg;
    struct qvd_db *db;
    int64_t user, osf, now;
};

static int
setup(void **state)
{
    struct fixture *f = qvd_xcalloc(1, sizeof(*f));
    struct qvd_model_osf o = QVD_MODEL_OSF_UNSET;
    char path[128];
    int64_t tenant, di;

    f->cfg = test_config_new("model-cluster", f->dir, sizeof(f->dir));
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
    o.memory = 256;
    if (qvd_model_tenant_add(f->db, f->cfg, "acme", NULL, &tenant) < 0 ||
        qvd_model_user_add(f->db, f->cfg, tenant, "bob", "secret", NULL, &f->user) < 0 ||
        qvd_model_osf_add(f->db, f->cfg, tenant, &o, &f->osf) < 0 ||
        qvd_model_di_add(f->db, f->cfg, f->osf, f->src, NULL, NULL, &di) < 0 ||
        qvd_db_clock(f->db, &f->now) < 0)
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
add_vm(struct fixture *f, int i)
{
    char name[32];
    struct qvd_model_vm v = {.name = name, .user_id = f->user, .osf_id = f->osf};
    int64_t id = -1;

    snprintf(name, sizeof(name), "vm%d", i);
    if (qvd_model_vm_add(f->db, f->cfg, &v, &id) < 0)
        fail_msg("vm_add: %s", qvd_strerror());
    return id;
}

/* A host in `state` whose heartbeat is `age` seconds old (database clock), with ram MB. */
static int64_t
add_host(struct fixture *f, const char *name, const char *state, int64_t age, int64_t ram)
{
    static unsigned char n;
    char addr[16];
    int64_t h = -1;

    snprintf(addr, sizeof(addr), "10.9.0.%d", ++n);
    assert_int_equal(qvd_model_host_add(f->db, f->cfg, name, addr, NULL, &h), 0);
    assert_int_equal(qvd_db_exec(f->db,
                                 "UPDATE host_runtimes SET state = ?, ok_ts = ?, usable_ram = ?,"
                                 " usable_cpu = 100 WHERE host_id = ?",
                                 "siii", state, f->now - age, ram, h),
                     1);
    return h;
}

/* The VM's row as "state/cmd/host". */
static const char *
vm_row(struct fixture *f, int64_t vm)
{
    static char out[64];
    struct qvd_stmt *st =
        qvd_db_query(f->db,
                     "SELECT vm_state || '/' || coalesce(vm_cmd, '-') || '/' ||"
                     " coalesce(CAST(host_id AS TEXT), '-') FROM vm_runtimes WHERE vm_id = ?",
                     "i", vm);

    assert_non_null(st);
    assert_int_equal(qvd_db_step(st), 1);
    snprintf(out, sizeof(out), "%s", qvd_db_text(st, 0));
    qvd_db_done(st);
    return out;
}

static void
assign(struct fixture *f, int64_t vm, int64_t host, const char *state)
{
    assert_int_equal(qvd_db_exec(f->db,
                                 "UPDATE vm_runtimes SET host_id = ?, vm_state = ? WHERE vm_id = ?",
                                 "isi", host, state, vm),
                     1);
}

static int64_t
count(struct fixture *f, const char *sql, int64_t id)
{
    int64_t n = -1;
    assert_int_equal(qvd_db_get_int(f->db, &n, sql, "i", id), 1);
    return n;
}

/* ---- placement ---- */

static void
placement_skips_blocked_stopping_lost_stale_and_full_hosts(void **state)
{
    struct fixture *f = *state;
    int64_t vm = add_vm(f, 1), ok, blocked, host = -1;

    ok = add_host(f, "ok", "running", 0, 100000);
    blocked = add_host(f, "blocked", "running", 0, 1000000);
    assert_int_equal(qvd_model_host_block(f->db, f->cfg, blocked, true), 0);
    add_host(f, "stopping", "stopping", 0, 1000000);
    add_host(f, "starting", "starting", 0, 1000000);
    add_host(f, "lost", "lost", 0, 1000000);
    add_host(f, "stale", "running", 11, 1000000); /* timeout 10 s */
    add_host(f, "full", "running", 0, 80);        /* less than the OSF's 256 MB, even x 3 */
    assert_int_equal(
        qvd_db_exec(f->db, "UPDATE hosts SET backend = 0 WHERE name = 'starting'", NULL), 1);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(qvd_model_cluster_place(f->db, f->cfg, vm, &host), 0);
        assert_int_equal(host, ok);
    }
    /* the ok host full too: the reason is said */
    assert_int_equal(
        qvd_db_exec(f->db, "UPDATE host_runtimes SET usable_ram = 100 WHERE host_id = ?", "i", ok),
        1);
    assert_int_equal(qvd_model_cluster_place(f->db, f->cfg, vm, &host), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_BUSY);
    assert_non_null(strstr(qvd_strerror(), "memory"));
    /* overcommit: 3 x 100 MB may hold the 256 MB VM */
    qvd_config_set(f->cfg, "l7r.loadbalancer.memory.overcommit", "3");
    assert_int_equal(qvd_model_cluster_place(f->db, f->cfg, vm, &host), 0);
    assert_int_equal(host, ok);
}

/* Memory counts what the VMs already assigned to the host use. */
static void
placement_counts_the_memory_of_assigned_vms(void **state)
{
    struct fixture *f = *state;
    int64_t h = add_host(f, "small", "running", 0, 600), vms[3], got = -1;

    for (int i = 0; i < 3; i++)
        vms[i] = add_vm(f, i);
    assert_int_equal(qvd_model_vm_start(f->db, f->cfg, vms[0], &got), 0);
    assert_int_equal(got, h);
    assert_int_equal(qvd_model_vm_start(f->db, f->cfg, vms[1], &got), 0);
    assert_int_equal(qvd_model_vm_start(f->db, f->cfg, vms[2], &got), -1); /* 768 > 600 */
    assert_non_null(strstr(qvd_strerror(), "memory"));
    assert_string_equal(vm_row(f, vms[2]), "stopped/-/-");
}

/* 300 placements (each assigned, as a start leaves it) over hosts of weights w[]. */
static void
spread(struct fixture *f, const int64_t *ram, int nhosts, int64_t *got)
{
    int64_t hosts[4];
    char name[16];

    for (int i = 0; i < nhosts; i++) {
        snprintf(name, sizeof(name), "h%d", i);
        hosts[i] = add_host(f, name, "running", 0, ram[i]);
        got[i] = 0;
    }
    for (int i = 0; i < 300; i++) {
        int64_t vm = add_vm(f, i), h = -1;
        assert_int_equal(qvd_model_vm_start(f->db, f->cfg, vm, &h), 0);
        for (int k = 0; k < nhosts; k++)
            if (hosts[k] == h)
                got[k]++;
    }
    assert_int_equal(got[0] + got[1] + (nhosts > 2 ? got[2] : 0), 300);
}

static void
placement_spreads_equal_hosts_evenly(void **state)
{
    struct fixture *f = *state;
    int64_t ram[3] = {100000, 100000, 100000}, got[3];

    spread(f, ram, 3, got);
    /* score (ram + cpu) / (n + 1) + rand[0, 1): the weights dominate; chance only breaks
     * ties, so no host is more than one VM ahead */
    for (int i = 0; i < 3; i++)
        assert_in_range(got[i], 99, 101);
}

static void
placement_spreads_by_the_weights(void **state)
{
    struct fixture *f = *state;
    int64_t ram[2] = {200000 - 100, 100000 - 100}, got[2]; /* + cpu 100: 2:1 */

    spread(f, ram, 2, got);
    /* n1 + 1 : n2 + 1 = 2 : 1 at every step, so 200 and 100 within one */
    assert_in_range(got[0], 199, 201);
    assert_in_range(got[1], 99, 101);
}

/* ---- node loss ---- */

struct said {
    char text[4096];
};

static void
say(void *arg, const char *line)
{
    struct said *s = arg;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof(s->text) - len, "%s\n", line);
}

static void
a_lost_node_is_taken_over_once(void **state)
{
    struct fixture *f = *state;
    int64_t a = add_host(f, "A", "running", 0, 100000), b = add_host(f, "B", "running", 12, 100000),
            c = add_host(f, "C", "running", 0, 100000), v[6], n;
    struct said s = {""};
    const char *row;

    for (int i = 0; i < 6; i++)
        v[i] = add_vm(f, i);
    assign(f, v[0], b, "running");
    assign(f, v[1], b, "starting");
    assign(f, v[2], b, "stopping");
    assign(f, v[3], b, "running");
    assign(f, v[4], c, "running");
    assert_int_equal(qvd_model_vm_block(f->db, f->cfg, v[3], true), 0);
    assert_int_equal(qvd_model_session_begin(f->db, "session-of-vm-1-via-A", f->user, v[1]), 0);
    assert_int_equal(qvd_model_session_begin(f->db, "session-of-vm-4-via-B", f->user, v[4]), 0);
    /* v0's user came through B's L7R; v4 (on C) too; v1's through A's L7R */
    assert_int_equal(qvd_db_exec(f->db,
                                 "UPDATE vm_runtimes SET user_state = 'connected', l7r_host_id = ?,"
                                 " l7r_pid = 5 WHERE vm_id IN (?, ?)",
                                 "iii", b, v[0], v[4]),
                     2);
    assert_int_equal(qvd_db_exec(f->db,
                                 "UPDATE vm_runtimes SET user_state = 'connected', l7r_host_id = ?,"
                                 " l7r_pid = 6 WHERE vm_id = ?",
                                 "ii", a, v[1]),
                     1);

    assert_int_equal(qvd_model_cluster_check(f->db, f->cfg, a, "A", say, &s), 1);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM host_runtimes WHERE state = 'lost'"
                           " AND host_id = ?",
                           b),
                     1);
    assert_int_equal(count(f, "SELECT lost_by FROM host_runtimes WHERE host_id = ?", b), a);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM host_runtimes WHERE lost_ts IS NOT NULL"
                           " AND host_id <> ?",
                           b),
                     0);
    /* running and starting VMs restart on A or C; the stopping and the blocked one stop */
    for (int i = 0; i < 2; i++) {
        row = vm_row(f, v[i]);
        assert_true(strncmp(row, "stopped/start/", 14) == 0);
        assert_true(atoll(row + 14) == a || atoll(row + 14) == c);
    }
    assert_string_equal(vm_row(f, v[2]), "stopped/-/-");
    assert_string_equal(vm_row(f, v[3]), "stopped/-/-");
    assert_true(strncmp(vm_row(f, v[4]), "running/-/", 10) == 0); /* C's VM stays */
    /* B's L7R slots are free; A's L7R keeps its session with B's VM 1 (it ends it itself:
     * the VM is not running), which ended with node_lost; v4's session on C goes on */
    assert_int_equal(count(f, "SELECT count(*) FROM vm_runtimes WHERE l7r_host_id = ?", b), 0);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM vm_runtimes WHERE user_state = 'connected'"
                           " AND vm_id = ?",
                           v[4]),
                     0);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM vm_runtimes WHERE user_cmd IS NULL"
                           " AND l7r_host_id = ?",
                           a),
                     1);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM session_ends WHERE reason = 'node_lost'"
                           " AND vm_id = ?",
                           v[1]),
                     1);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM session_ends WHERE reason IS NULL"
                           " AND vm_id = ?",
                           v[4]),
                     1);
    /* audited, and told */
    assert_int_equal(count(f,
                           "SELECT count(*) FROM audit_log WHERE source = 'hkd'"
                           " AND action = 'host.lost' AND object_id = ?",
                           b),
                     1);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM audit_log WHERE source = 'hkd'"
                           " AND action = 'vm.restart' AND status = 200 AND object_id >= ?",
                           0),
                     2);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM audit_log WHERE action = 'vm.restart'"
                           " AND status = 503 AND object_id = ?",
                           v[3]),
                     1);
    assert_non_null(strstr(s.text, "node B lost (no heartbeat for 1"));
    assert_non_null(strstr(s.text, "restarted on"));
    assert_non_null(strstr(s.text, "left stopped"));

    /* a second look (another node's, or the same) finds nothing more */
    assert_int_equal(qvd_model_cluster_check(f->db, f->cfg, c, "C", NULL, NULL), 0);
    assert_int_equal(count(f,
                           "SELECT count(*) FROM audit_log WHERE action = 'host.lost'"
                           " AND object_id = ?",
                           b),
                     1);
    assert_int_equal(count(f, "SELECT lost_by FROM host_runtimes WHERE host_id = ?", b), a);

    /* B back: no heartbeat, no state until it rejoins */
    assert_int_equal(qvd_model_hkd_heartbeat(f->db, b, 77), 0);
    assert_int_equal(qvd_model_hkd_host_state(f->db, b, "running", 77), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    assert_int_equal(qvd_model_hkd_host_state(f->db, b, "stopping", 77), -1);
    assert_int_equal(qvd_model_cluster_host_lost(f->db, b), 1);
    assert_int_equal(qvd_model_cluster_rejoin(f->db, b), 1);
    assert_int_equal(qvd_model_cluster_rejoin(f->db, b), 0);
    assert_int_equal(qvd_model_hkd_host_state(f->db, b, "starting", 77), 0);
    assert_int_equal(qvd_model_hkd_heartbeat(f->db, b, 77), 1);
    assert_int_equal(qvd_model_cluster_host_lost(f->db, b), 0);
    n = count(f, "SELECT count(*) FROM audit_log WHERE action = 'host.rejoin' AND object_id = ?",
              b);
    assert_int_equal(n, 1);
    /* a new HKD process on a lost host starts afresh (it sweeps every container first) */
    assert_int_equal(
        qvd_db_exec(f->db, "UPDATE host_runtimes SET state = 'lost' WHERE host_id = ?", "i", b), 1);
    assert_int_equal(qvd_model_hkd_host_state(f->db, b, "starting", 78), 0);
    assert_int_equal(qvd_model_cluster_host_lost(f->db, b), 0);
}

static void
no_takeover_by_a_stale_checker_or_of_stopped_hosts(void **state)
{
    struct fixture *f = *state;
    int64_t a = add_host(f, "A", "running", 11, 100000),
            b = add_host(f, "B", "running", 30, 100000),
            c = add_host(f, "C", "stopped", 300, 100000), v = add_vm(f, 1);

    assign(f, v, b, "running");
    /* A's own heartbeat is old: it may be the one cut off */
    assert_int_equal(qvd_model_cluster_check(f->db, f->cfg, a, "A", NULL, NULL), 0);
    assert_int_equal(qvd_model_cluster_host_lost(f->db, b), 0);
    /* a stopped host is not lost; A fresh declares B, whose VM has nowhere to go but A */
    assert_int_equal(qvd_model_hkd_heartbeat(f->db, a, 1), 1);
    assert_int_equal(qvd_model_cluster_check(f->db, f->cfg, a, "A", NULL, NULL), 1);
    assert_int_equal(qvd_model_cluster_host_lost(f->db, c), 0);
    assert_true(strncmp(vm_row(f, v), "stopped/start/", 14) == 0);
    assert_int_equal(atoll(vm_row(f, v) + 14), a);
}

static void
no_host_left_leaves_the_vms_stopped(void **state)
{
    struct fixture *f = *state;
    int64_t a = add_host(f, "A", "running", 0, 100), b = add_host(f, "B", "running", 12, 100000),
            v = add_vm(f, 1);
    struct said s = {""};

    assign(f, v, b, "running");
    assert_int_equal(qvd_model_cluster_check(f->db, f->cfg, a, "A", say, &s), 1);
    assert_string_equal(vm_row(f, v), "stopped/-/-");
    assert_non_null(strstr(s.text, "left stopped: no host has 256 MB"));
    assert_int_equal(count(f,
                           "SELECT count(*) FROM audit_log WHERE action = 'vm.restart'"
                           " AND status = 503 AND object_id = ?",
                           v),
                     1);
}

/* PostgreSQL: while another connection holds the cluster lock, a look does nothing. */
static void
one_checker_at_a_time(void **state)
{
    struct fixture *f = *state;
    int64_t a = add_host(f, "A", "running", 0, 100000), b = add_host(f, "B", "running", 12, 100000);
    struct qvd_db *other;

    if (f->db->ops->cluster_lock_sql == NULL) {
        /* SQLite: one node; the transaction's write lock is the cluster lock */
        assert_int_equal(qvd_db_begin(f->db), 0);
        assert_int_equal(qvd_db_cluster_lock(f->db), 1);
        qvd_db_rollback(f->db);
        return;
    }
    other = qvd_db_open(f->cfg);
    assert_non_null(other);
    assert_int_equal(qvd_db_begin(other), 0);
    assert_int_equal(qvd_db_cluster_lock(other), 1);
    assert_int_equal(qvd_model_cluster_check(f->db, f->cfg, a, "A", NULL, NULL), 0);
    assert_int_equal(qvd_model_cluster_host_lost(f->db, b), 0);
    qvd_db_rollback(other);
    qvd_db_close(other);
    assert_int_equal(qvd_model_cluster_check(f->db, f->cfg, a, "A", NULL, NULL), 1);
    assert_int_equal(qvd_model_cluster_host_lost(f->db, b), 1);
}

struct seen {
    int n;
    char text[2048];
};

static void
put_event(void *arg, const struct qvd_model_cluster_event *e)
{
    struct seen *s = arg;
    size_t len = strlen(s->text);
    s->n++;
    snprintf(s->text + len, sizeof(s->text) - len, "%s %s %s|", e->node, e->action, e->message);
}

static void
events_are_the_nodes_audit_entries(void **state)
{
    struct fixture *f = *state;
    int64_t a = add_host(f, "A", "running", 0, 100000), b = add_host(f, "B", "running", 12, 100000),
            v = add_vm(f, 1), last = -5, last2 = -5;
    struct seen s = {0};

    assign(f, v, b, "running");
    assert_int_equal(qvd_model_cluster_events(f->db, -1, put_event, &s, &last), 0);
    assert_int_equal(s.n, 0);
    assert_true(last >= 0);
    assert_int_equal(qvd_model_cluster_check(f->db, f->cfg, a, "A", NULL, NULL), 1);
    assert_int_equal(qvd_model_cluster_events(f->db, last, put_event, &s, &last2), 0);
    assert_int_equal(s.n, 2);
    assert_true(last2 > last);
    assert_non_null(strstr(s.text, "A host.lost node B lost"));
    assert_non_null(strstr(s.text, "A vm.restart VM"));
    assert_non_null(strstr(s.text, "restarted on A"));
    s.n = 0;
    assert_int_equal(qvd_model_cluster_events(f->db, last2, put_event, &s, &last), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(last, last2);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    qvd_log_init("test-model-cluster", QVD_LOG_WARN, NULL);
    const struct CMUnitTest tests[] = {
        T(placement_skips_blocked_stopping_lost_stale_and_full_hosts),
        T(placement_counts_the_memory_of_assigned_vms),
        T(placement_spreads_equal_hosts_evenly),
        T(placement_spreads_by_the_weights),
        T(a_lost_node_is_taken_over_once),
        T(no_takeover_by_a_stale_checker_or_of_stopped_hosts),
        T(no_host_left_leaves_the_vms_stopped),
        T(one_checker_at_a_time),
        T(events_are_the_nodes_audit_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

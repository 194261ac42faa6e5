/* test_model.c: the model's rules on a real database (SQLite, or PostgreSQL with QVD_TEST_PG_HOST):
 * addresses, DI versions and tags, tenancy, placement, VM commands, passwords, the L7R's
 * user slots and tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "log.h"
#include "model.h"
#include "model_l7r.h"
#include "password.h"
#include "testdb.h"
#include "util.h"

struct fixture {
    char dir[64], src[96];
    struct qvd_config *cfg;
    struct qvd_db *db;
    int64_t tenant, user, osf;
};

static int
setup(void **state)
{
    struct fixture *f = qvd_xcalloc(1, sizeof(*f));
    char path[128];

    f->cfg = test_config_new("model", f->dir, sizeof(f->dir));
    if (f->cfg == NULL)
        return -1;
    snprintf(f->src, sizeof(f->src), "%s/image", f->dir);
    mkdir(f->src, 0755);
    snprintf(path, sizeof(path), "%s/hello", f->src);
    qvd_write_file(path, "hi\n", 3, 0644);
    f->db = test_db_open(f->cfg);
    if (f->db == NULL || qvd_db_migrate(f->db) < 0)
        return -1;
    struct qvd_model_osf o = QVD_MODEL_OSF_UNSET;
    o.name = "desktop";
    if (qvd_model_tenant_add(f->db, f->cfg, "acme", NULL, &f->tenant) < 0 ||
        qvd_model_user_add(f->db, f->cfg, f->tenant, "bob", "secret", NULL, &f->user) < 0 ||
        qvd_model_osf_add(f->db, f->cfg, f->tenant, &o, &f->osf) < 0)
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
add_di(struct fixture *f, int64_t osf, const char *version)
{
    int64_t id = -1;
    int rc = qvd_model_di_add(f->db, f->cfg, osf, f->src, version, NULL, &id);
    if (rc < 0)
        fail_msg("di_add: %s", qvd_strerror());
    return id;
}

/* the DI holding `tag` in `osf`, or -1 */
static int64_t
holder(struct fixture *f, int64_t osf, const char *tag)
{
    int64_t di;
    return qvd_model_di_by_tag(f->db, osf, tag, &di) == 1 ? di : -1;
}

static int64_t
add_vm(struct fixture *f, const char *name, const char *tag)
{
    struct qvd_model_vm v = {.name = name, .user_id = f->user, .osf_id = f->osf, .di_tag = tag};
    int64_t id = -1;
    if (qvd_model_vm_add(f->db, f->cfg, &v, &id) < 0)
        return -1;
    return id;
}

/* ---- pure helpers ---- */

static void
net_from_defaults(void **state)
{
    struct qvd_model_net n;
    char s[16];

    assert_int_equal(qvd_model_net_parse("10.0.0.100", "255.255.0.0", &n), 0);
    qvd_model_ip_format(n.network, s);
    assert_string_equal(s, "10.0.0.0");
    qvd_model_ip_format(n.broadcast, s);
    assert_string_equal(s, "10.0.255.255");
    qvd_model_ip_format(n.first, s);
    assert_string_equal(s, "10.0.0.100");
    qvd_model_ip_format(n.last, s);
    assert_string_equal(s, "10.0.255.254");
    assert_int_equal(qvd_model_net_parse("10.0.0.100", "255.0.255.0", &n), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
    assert_int_equal(qvd_model_net_parse("10.0.0.0", "255.255.0.0", &n), -1);
    assert_int_equal(qvd_model_net_parse("10.0.0.300", "255.255.0.0", &n), -1);
}

static void
ip_pick_takes_highest_free(void **state)
{
    struct qvd_model_net n;
    uint32_t ip, a, used[3];
    char s[16];

    qvd_model_net_parse("192.168.1.4", "255.255.255.248", &n); /* VMs .4 .. .6 */
    assert_int_equal(qvd_model_ip_pick(&n, NULL, 0, &ip), 0);
    qvd_model_ip_format(ip, s);
    assert_string_equal(s, "192.168.1.6");
    qvd_model_ip_parse("192.168.1.6", &used[0]);
    assert_int_equal(qvd_model_ip_pick(&n, used, 1, &ip), 0);
    qvd_model_ip_format(ip, s);
    assert_string_equal(s, "192.168.1.5");
    qvd_model_ip_parse("192.168.1.4", &a);
    used[0] = a, used[1] = a + 1, used[2] = a + 2;
    assert_int_equal(qvd_model_ip_pick(&n, used, 3, &ip), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
}

static void
mac_is_prefix_and_last_three_octets(void **state)
{
    uint32_t ip;
    char mac[18];

    qvd_model_ip_parse("10.0.171.205", &ip);
    assert_int_equal(qvd_model_mac("54:52:00", ip, mac), 0);
    assert_string_equal(mac, "54:52:00:00:ab:cd");
    assert_int_equal(qvd_model_mac("AA:BB:CC", ip, mac), 0);
    assert_string_equal(mac, "aa:bb:cc:00:ab:cd");
    assert_int_equal(qvd_model_mac("54-52-00", ip, mac), -1);
}

static void
lb_score_prefers_free_and_empty_hosts(void **state)
{
    /* (ram + cpu) / (vms + 1) + random */
    assert_true(qvd_model_lb_score(1000, 100, 0, 1, 1, 0, 0.5) == 1100.0);
    assert_true(qvd_model_lb_score(1000, 100, 1, 1, 1, 0, 0.5) == 550.0);
    assert_true(qvd_model_lb_score(1000, 100, 1, 1, 1, 2, 0.5) == 551.0);
    assert_true(qvd_model_lb_score(1000, 100, 0, 0, 1, 0, 0) == 100.0);
    assert_true(qvd_model_lb_score(4000, 0, 3, 1, 1, 1, 0) >
                qvd_model_lb_score(2000, 0, 3, 1, 1, 1, 0.99));
}

static void
password_hash_and_verify(void **state)
{
    struct fixture *f = *state;
    char *h1 = NULL, *h2 = NULL;

    assert_int_equal(qvd_password_hash(f->cfg, "s3cret", &h1), 0);
    assert_int_equal(qvd_password_hash(f->cfg, "s3cret", &h2), 0);
    assert_true(strncmp(h1, "$argon2id$", 10) == 0);
    assert_string_not_equal(h1, h2); /* random salt */
    assert_int_equal(qvd_password_verify(h1, "s3cret"), 1);
    assert_int_equal(qvd_password_verify(h1, "s3cret "), 0);
    assert_int_equal(qvd_password_verify("plain", "plain"), 0);
    free(h1);
    free(h2);
    h2 = NULL;
    assert_int_equal(qvd_password_hash(f->cfg, "", &h2), -1);
    assert_null(h2);
    assert_int_equal(qvd_model_user_check_password(f->db, f->user, "secret"), 1);
    assert_int_equal(qvd_model_user_check_password(f->db, f->user, "Secret"), 0);
    assert_int_equal(qvd_model_user_passwd(f->db, f->cfg, f->user, "new"), 0);
    assert_int_equal(qvd_model_user_check_password(f->db, f->user, "new"), 1);
}

/* ---- tenants and users ---- */

static void
duplicate_user_is_a_conflict(void **state)
{
    struct fixture *f = *state;
    int64_t id, other;

    assert_int_equal(qvd_model_user_add(f->db, f->cfg, f->tenant, "BOB", "x", NULL, &id), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    assert_non_null(strstr(qvd_strerror(), "already exists in tenant 'acme'"));
    /* the same login in another tenant is another user */
    assert_int_equal(qvd_model_tenant_add(f->db, f->cfg, "other", NULL, &other), 0);
    assert_int_equal(qvd_model_user_add(f->db, f->cfg, other, "bob", "x", NULL, &id), 0);
    assert_int_equal(qvd_model_user_find(f->db, f->cfg, "bob@other", NULL, &id), 0);
    assert_int_equal(qvd_model_user_find(f->db, f->cfg, "nobody@other", NULL, &id), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_NOT_FOUND);
    assert_int_equal(qvd_model_user_add(f->db, f->cfg, -1, "carl", "x", NULL, &id), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
}

static int64_t
users_count(struct fixture *f)
{
    int64_t n = -1;
    qvd_db_get_int(f->db, &n, "SELECT count(*) FROM users", NULL);
    return n;
}

/* A desktop session runs as the user its login names: a login that names a system account
 * (root, daemon, systemd-*...) is refused in any case, with the reason, and nothing is
 * written; names that merely start like one are fine. */
static void
system_account_logins_are_refused(void **state)
{
    static const char *const bad[] = {"root",
                                      "daemon",
                                      "ROOT",
                                      "Root",
                                      "bin",
                                      "www-data",
                                      "nobody",
                                      "_apt",
                                      "systemd-network",
                                      "SYSTEMD-Resolve",
                                      "sudo",
                                      "Debian-exim",
                                      "sshd",
                                      "root@acme"};
    struct fixture *f = *state;
    int64_t id;

    for (int pass = 0; pass < 2; pass++) {
        /* the rule holds whether logins compare case-sensitively or not */
        qvd_config_set(f->cfg, "model.user.login.case-sensitive", pass ? "1" : "0");
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            id = -7;
            assert_int_equal(qvd_model_user_add(f->db, f->cfg, f->tenant, bad[i], "x", NULL, &id),
                             -1);
            assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
            assert_non_null(strstr(qvd_strerror(), "names a system account"));
            assert_non_null(strstr(qvd_strerror(), "choose another login"));
            assert_int_equal(id, -7);
            assert_int_equal(users_count(f), 1);
        }
    }
    qvd_config_set(f->cfg, "model.user.login.case-sensitive", "0");
    assert_int_equal(qvd_model_user_add(f->db, f->cfg, f->tenant, "Alice", "x", NULL, &id), 0);
    assert_int_equal(qvd_model_user_add(f->db, f->cfg, f->tenant, "rooty", "x", NULL, &id), 0);
    assert_int_equal(qvd_model_user_add(f->db, f->cfg, f->tenant, "binder", "x", NULL, &id), 0);
    assert_int_equal(users_count(f), 4);
}

static void
renaming_to_a_system_account_is_refused(void **state)
{
    struct fixture *f = *state;
    int64_t id;

    assert_int_equal(qvd_model_user_set(f->db, f->cfg, f->user, "root", "d", NULL, -1), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
    assert_string_equal(qvd_strerror(), "login 'root' names a system account of the desktops'"
                                        " system (matches 'root'): its session would run as"
                                        " that account; choose another login");
    assert_int_equal(qvd_model_user_set(f->db, f->cfg, f->user, "SYS", NULL, NULL, -1), -1);
    assert_int_equal(qvd_model_user_set(f->db, f->cfg, f->user, "systemd-timesync", NULL, NULL, -1),
                     -1);
    /* nothing written, the description of the refused change included */
    assert_int_equal(qvd_model_user_find(f->db, f->cfg, "bob@acme", NULL, &id), 0);
    assert_int_equal(id, f->user);
    assert_int_equal(
        qvd_db_get_int(f->db, &id, "SELECT count(*) FROM users WHERE description = 'd'", NULL), 1);
    assert_int_equal(id, 0);
    assert_int_equal(qvd_model_user_set(f->db, f->cfg, f->user, "robert", NULL, NULL, -1), 0);
    assert_int_equal(qvd_model_user_find(f->db, f->cfg, "robert@acme", NULL, &id), 0);
}

/* model.user.login.reserved adds names (and name* prefixes) to the built-in ones */
static void
reserved_logins_option_adds_names(void **state)
{
    struct fixture *f = *state;
    int64_t id;

    qvd_config_set(f->cfg, "model.user.login.reserved", " guest , kiosk*,");
    assert_int_equal(qvd_model_user_add(f->db, f->cfg, f->tenant, "GUEST", "x", NULL, &id), -1);
    assert_string_equal(qvd_strerror(),
                        "login 'GUEST' is reserved (model.user.login.reserved): choose another"
                        " login");
    assert_int_equal(qvd_model_user_add(f->db, f->cfg, f->tenant, "kiosk12", "x", NULL, &id), -1);
    assert_int_equal(qvd_model_user_set(f->db, f->cfg, f->user, "guest", NULL, NULL, -1), -1);
    assert_int_equal(users_count(f), 1);
    assert_int_equal(qvd_model_user_add(f->db, f->cfg, f->tenant, "guests", "x", NULL, &id), 0);
    assert_int_equal(qvd_model_user_add(f->db, f->cfg, f->tenant, "kios", "x", NULL, &id), 0);
}

/* OSFs and administrators: a name is taken once per tenant, and a rename onto a taken
 * name is refused the same way, naming the one that has it */
static void
duplicate_names_are_conflicts(void **state)
{
    struct fixture *f = *state;
    struct qvd_model_osf o = QVD_MODEL_OSF_UNSET;
    int64_t osf2, adm, other;
    char want[80];

    o.name = "desktop";
    assert_int_equal(qvd_model_osf_add(f->db, f->cfg, f->tenant, &o, &osf2), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    snprintf(want, sizeof(want), "OSF 'desktop' already exists in tenant 'acme' (id %lld)",
             (long long)f->osf);
    assert_string_equal(qvd_strerror(), want);
    o.name = "office";
    assert_int_equal(qvd_model_osf_add(f->db, f->cfg, f->tenant, &o, &osf2), 0);
    o.name = "desktop";
    assert_int_equal(qvd_model_osf_set(f->db, f->cfg, osf2, &o), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    assert_int_equal(qvd_model_admin_add(f->db, f->cfg, f->tenant, "ann", "pw", NULL, &adm), 0);
    assert_int_equal(qvd_model_admin_add(f->db, f->cfg, f->tenant, "ann", "pw", NULL, &other), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    snprintf(want, sizeof(want), "administrator 'ann' already exists in tenant 'acme' (id %lld)",
             (long long)adm);
    assert_string_equal(qvd_strerror(), want);
    /* the same name in another tenant is another administrator */
    assert_int_equal(qvd_model_tenant_add(f->db, f->cfg, "other", NULL, &other), 0);
    assert_int_equal(qvd_model_admin_add(f->db, f->cfg, other, "ann", "pw", NULL, &adm), 0);
}

static void
vm_of_other_tenant_osf_is_refused(void **state)
{
    struct fixture *f = *state;
    struct qvd_model_osf o = QVD_MODEL_OSF_UNSET;
    int64_t other, osf_other, osf_common, id;

    assert_int_equal(qvd_model_tenant_add(f->db, f->cfg, "other", NULL, &other), 0);
    o.name = "theirs";
    assert_int_equal(qvd_model_osf_add(f->db, f->cfg, other, &o, &osf_other), 0);
    add_di(f, osf_other, NULL);
    struct qvd_model_vm v = {.name = "x", .user_id = f->user, .osf_id = osf_other};
    assert_int_equal(qvd_model_vm_add(f->db, f->cfg, &v, &id), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
    assert_non_null(strstr(qvd_strerror(), "tenant"));
    /* an OSF of the common tenant serves every tenant */
    o.name = "shared";
    assert_int_equal(qvd_model_osf_add(f->db, f->cfg, QVD_TENANT_COMMON, &o, &osf_common), 0);
    add_di(f, osf_common, NULL);
    v.osf_id = osf_common;
    assert_int_equal(qvd_model_vm_add(f->db, f->cfg, &v, &id), 0);
}

/* ---- VMs: addresses ---- */

static void
vm_addresses_are_highest_free_and_run_out(void **state)
{
    struct fixture *f = *state;
    struct qvd_stmt *st;

    qvd_config_set(f->cfg, "vm.network.ip.start", "192.168.7.5");
    qvd_config_set(f->cfg, "vm.network.netmask", "255.255.255.248"); /* .5 and .6 */
    add_di(f, f->osf, NULL);
    int64_t a = add_vm(f, "a", NULL), b = add_vm(f, "b", NULL);
    assert_true(a > 0 && b > 0);
    assert_int_equal(add_vm(f, "c", NULL), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    assert_non_null(strstr(qvd_strerror(), "no free VM address"));
    st = qvd_db_query(f->db, "SELECT ip, mac FROM vms ORDER BY id", NULL);
    assert_int_equal(qvd_db_step(st), 1);
    assert_string_equal(qvd_db_text(st, 0), "192.168.7.6");
    assert_string_equal(qvd_db_text(st, 1), "54:52:00:a8:07:06");
    assert_int_equal(qvd_db_step(st), 1);
    assert_string_equal(qvd_db_text(st, 0), "192.168.7.5");
    qvd_db_done(st);
    /* a deleted VM frees its address */
    assert_int_equal(qvd_model_vm_del(f->db, f->cfg, a), 0);
    assert_true(add_vm(f, "c", NULL) > 0);
}

static void
vm_needs_an_existing_tag_and_a_unique_name(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(add_vm(f, "a", NULL), -1); /* the OSF has no DI yet */
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
    add_di(f, f->osf, NULL);
    assert_int_equal(add_vm(f, "a", "nosuchtag"), -1);
    assert_true(add_vm(f, "a", "head") > 0);
    assert_int_equal(add_vm(f, "a", NULL), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
}

/* ---- DIs ---- */

static void
di_versions_count_up_per_osf_and_day(void **state)
{
    struct fixture *f = *state;
    struct qvd_model_osf o = QVD_MODEL_OSF_UNSET;
    char v[16], today[16];
    int64_t osf2;

    qvd_model_di_next_version(f->db, f->osf, qvd_now(), today);
    today[10] = '\0';
    add_di(f, f->osf, NULL);
    add_di(f, f->osf, NULL);
    add_di(f, f->osf, "custom-1");
    assert_int_equal(qvd_model_di_next_version(f->db, f->osf, qvd_now(), v), 0);
    assert_memory_equal(v, today, 10);
    assert_string_equal(v + 10, "-002");
    o.name = "second";
    qvd_model_osf_add(f->db, f->cfg, f->tenant, &o, &osf2);
    assert_int_equal(qvd_model_di_next_version(f->db, osf2, qvd_now(), v), 0);
    assert_string_equal(v + 10, "-000");
    /* another day starts again at 000, in UTC */
    assert_int_equal(qvd_model_di_next_version(f->db, f->osf, 86400 * 3 + 3600, v), 0);
    assert_string_equal(v, "1970-01-04-000");
    /* a version is unique per OSF */
    assert_int_equal(qvd_model_di_add(f->db, f->cfg, f->osf, f->src, "custom-1", NULL, NULL), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
}

static void
new_di_is_head_and_default_stays_on_first(void **state)
{
    struct fixture *f = *state;
    int64_t d1 = add_di(f, f->osf, "v1"), d2, d3;

    assert_int_equal(holder(f, f->osf, "head"), d1);
    assert_int_equal(holder(f, f->osf, "default"), d1);
    assert_int_equal(holder(f, f->osf, "v1"), d1);
    d2 = add_di(f, f->osf, "v2");
    assert_int_equal(holder(f, f->osf, "head"), d2);
    assert_int_equal(holder(f, f->osf, "default"), d1);
    /* default moves only when another DI is tagged with it */
    assert_int_equal(qvd_model_di_tag(f->db, f->cfg, d2, "default"), 0);
    assert_int_equal(holder(f, f->osf, "default"), d2);
    d3 = add_di(f, f->osf, "v3");
    assert_int_equal(holder(f, f->osf, "default"), d2);
    assert_int_equal(holder(f, f->osf, "head"), d3);
}

static void
fixed_tags_cannot_move_or_go(void **state)
{
    struct fixture *f = *state;
    int64_t d1 = add_di(f, f->osf, "v1"), d2 = add_di(f, f->osf, "v2");

    assert_int_equal(qvd_model_di_tag(f->db, f->cfg, d2, "v1"), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    assert_int_equal(holder(f, f->osf, "v1"), d1);
    assert_int_equal(qvd_model_di_untag(f->db, f->cfg, d1, "v1"), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    assert_int_equal(holder(f, f->osf, "v1"), d1);
}

static void
head_and_default_cannot_be_removed(void **state)
{
    struct fixture *f = *state;
    int64_t d1 = add_di(f, f->osf, "v1");

    assert_int_equal(qvd_model_di_untag(f->db, f->cfg, d1, "head"), -1);
    assert_int_equal(qvd_model_di_untag(f->db, f->cfg, d1, "default"), -1);
    assert_int_equal(holder(f, f->osf, "head"), d1);
    assert_int_equal(holder(f, f->osf, "default"), d1);
    /* custom tags come and go */
    assert_int_equal(qvd_model_di_tag(f->db, f->cfg, d1, "beta"), 0);
    assert_int_equal(qvd_model_di_untag(f->db, f->cfg, d1, "beta"), 0);
    assert_int_equal(holder(f, f->osf, "beta"), -1);
    assert_int_equal(qvd_model_di_untag(f->db, f->cfg, d1, "beta"), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_NOT_FOUND);
    assert_int_equal(qvd_model_di_tag(f->db, f->cfg, d1, "two words"), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
}

static void
tags_are_per_osf(void **state)
{
    struct fixture *f = *state;
    struct qvd_model_osf o = QVD_MODEL_OSF_UNSET;
    int64_t osf2, a, b;

    o.name = "second";
    qvd_model_osf_add(f->db, f->cfg, f->tenant, &o, &osf2);
    a = add_di(f, f->osf, "same");
    b = add_di(f, osf2, "same"); /* same version in another OSF */
    assert_int_equal(qvd_model_di_tag(f->db, f->cfg, a, "beta"), 0);
    assert_int_equal(qvd_model_di_tag(f->db, f->cfg, b, "beta"), 0);
    assert_int_equal(holder(f, f->osf, "beta"), a);
    assert_int_equal(holder(f, osf2, "beta"), b);
    assert_int_equal(holder(f, f->osf, "head"), a);
    assert_int_equal(holder(f, osf2, "head"), b);
}

static void
deleting_head_di_moves_head_to_newest(void **state)
{
    struct fixture *f = *state;
    int64_t d1 = add_di(f, f->osf, "v1"), d2 = add_di(f, f->osf, "v2"),
            d3 = add_di(f, f->osf, "v3");
    char path[160];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/storage/images/%lld-image/hello", f->dir, (long long)d3);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(qvd_model_di_del(f->db, f->cfg, d3), 0);
    assert_int_equal(stat(path, &sb), -1);
    assert_int_equal(holder(f, f->osf, "head"), d2);
    assert_int_equal(qvd_model_di_tag(f->db, f->cfg, d2, "default"), 0);
    assert_int_equal(qvd_model_di_del(f->db, f->cfg, d2), 0);
    assert_int_equal(holder(f, f->osf, "head"), d1);
    assert_int_equal(holder(f, f->osf, "default"), d1);
}

static void
di_deletion_refused_while_vms_need_it(void **state)
{
    struct fixture *f = *state;
    int64_t d1 = add_di(f, f->osf, "v1"), vm = add_vm(f, "a", NULL), d2;

    /* the last DI of an OSF with VMs */
    assert_int_equal(qvd_model_di_del(f->db, f->cfg, d1), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    /* a VM running it */
    d2 = add_di(f, f->osf, "v2");
    qvd_db_exec(f->db,
                "UPDATE vm_runtimes SET vm_state = 'running', current_di_id = ?"
                " WHERE vm_id = ?",
                "ii", d1, vm);
    assert_int_equal(qvd_model_di_del(f->db, f->cfg, d1), -1);
    assert_non_null(strstr(qvd_strerror(), "stop it first"));
    qvd_db_exec(f->db, "UPDATE vm_runtimes SET vm_state = 'stopped' WHERE vm_id = ?", "i", vm);
    /* a VM booting from a tag only that DI has */
    assert_int_equal(qvd_model_vm_set(f->db, f->cfg, vm, NULL, "v1", NULL), 0);
    assert_int_equal(qvd_model_di_del(f->db, f->cfg, d1), -1);
    assert_int_equal(qvd_model_vm_set(f->db, f->cfg, vm, NULL, "default", NULL), 0);
    assert_int_equal(qvd_model_di_del(f->db, f->cfg, d1), 0);
    assert_int_equal(holder(f, f->osf, "default"), d2);
}

static void
di_import_failure_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    int64_t n = -1;

    assert_int_equal(qvd_model_di_add(f->db, f->cfg, f->osf, "/nonexistent.tar", NULL, NULL, NULL),
                     -1);
    assert_int_equal(qvd_model_di_add(f->db, f->cfg, f->osf, "/etc/hostname", NULL, NULL, NULL),
                     -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
    /* a directory cp cannot read: the row is created, then removed */
    char bad[128];
    snprintf(bad, sizeof(bad), "%s/unreadable", f->dir);
    mkdir(bad, 0755);
    qvd_config_set(f->cfg, "path.storage.images", "/proc/qvd-no-such-dir");
    assert_int_equal(qvd_model_di_add(f->db, f->cfg, f->osf, bad, NULL, NULL, NULL), -1);
    qvd_db_get_int(f->db, &n, "SELECT count(*) FROM dis", NULL);
    assert_int_equal(n, 0);
}

/* ---- VM commands ---- */

static int64_t
add_running_host(struct fixture *f, const char *name, const char *addr)
{
    int64_t h = -1;
    assert_int_equal(qvd_model_host_add(f->db, f->cfg, name, addr, NULL, &h), 0);
    qvd_db_exec(f->db,
                "UPDATE host_runtimes SET state = 'running', ok_ts = ?, usable_ram = 1000"
                " WHERE host_id = ?",
                "ii", qvd_now(), h);
    return h;
}

static void
vm_start_assigns_a_host_and_stop_cancels(void **state)
{
    struct fixture *f = *state;
    int64_t vm, host, got = -1, n;

    add_di(f, f->osf, NULL);
    vm = add_vm(f, "a", NULL);
    assert_int_equal(qvd_model_vm_start(f->db, f->cfg, vm, &got), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_BUSY);
    assert_non_null(strstr(qvd_strerror(), "no host available"));
    host = add_running_host(f, "n1", "10.0.0.1");
    assert_int_equal(qvd_model_vm_start(f->db, f->cfg, vm, &got), 0);
    assert_int_equal(got, host);
    assert_int_equal(qvd_db_get_int(f->db, &n,
                                    "SELECT count(*) FROM vm_runtimes WHERE"
                                    " vm_cmd = 'start' AND host_id = ?",
                                    "i", host),
                     1);
    assert_int_equal(n, 1);
    assert_int_equal(qvd_model_vm_start(f->db, f->cfg, vm, &got), -1); /* already pending */
    assert_int_equal(qvd_model_vm_del(f->db, f->cfg, vm), -1);
    assert_int_equal(qvd_model_vm_stop(f->db, f->cfg, vm), 0);  /* cancels the start */
    assert_int_equal(qvd_model_vm_stop(f->db, f->cfg, vm), -1); /* nothing to stop */
    /* running: stop sets the command; delete is refused */
    qvd_db_exec(f->db, "UPDATE vm_runtimes SET vm_state = 'running', host_id = ? WHERE vm_id = ?",
                "ii", host, vm);
    assert_int_equal(qvd_model_vm_del(f->db, f->cfg, vm), -1);
    assert_non_null(strstr(qvd_strerror(), "stop it first"));
    assert_int_equal(qvd_model_vm_stop(f->db, f->cfg, vm), 0);
    qvd_db_get_int(f->db, &n, "SELECT count(*) FROM vm_runtimes WHERE vm_cmd = 'stop'", NULL);
    assert_int_equal(n, 1);
}

static void
vm_start_refuses_blocked_vm_blocked_di_and_blocked_host(void **state)
{
    struct fixture *f = *state;
    int64_t di = add_di(f, f->osf, NULL), vm = add_vm(f, "a", NULL), host;

    host = add_running_host(f, "n1", "10.0.0.1");
    assert_int_equal(qvd_model_vm_block(f->db, f->cfg, vm, true), 0);
    assert_int_equal(qvd_model_vm_start(f->db, f->cfg, vm, NULL), -1);
    assert_non_null(strstr(qvd_strerror(), "blocked"));
    assert_int_equal(qvd_model_vm_block(f->db, f->cfg, vm, false), 0);
    assert_int_equal(qvd_model_di_set(f->db, f->cfg, di, NULL, 1), 0);
    assert_int_equal(qvd_model_vm_start(f->db, f->cfg, vm, NULL), -1);
    assert_int_equal(qvd_model_di_set(f->db, f->cfg, di, NULL, 0), 0);
    assert_int_equal(qvd_model_host_block(f->db, f->cfg, host, true), 0);
    assert_int_equal(qvd_model_vm_start(f->db, f->cfg, vm, NULL), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_BUSY);
    /* a host whose heartbeat is old does not count */
    assert_int_equal(qvd_model_host_block(f->db, f->cfg, host, false), 0);
    qvd_db_exec(f->db, "UPDATE host_runtimes SET ok_ts = ?", "i", qvd_now() - 3600);
    assert_int_equal(qvd_model_vm_start(f->db, f->cfg, vm, NULL), -1);
}

static void
hosts_need_ipv4_and_unique_names(void **state)
{
    struct fixture *f = *state;
    int64_t h;

    assert_int_equal(qvd_model_host_add(f->db, f->cfg, "n1", "not-an-ip", NULL, &h), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
    assert_int_equal(qvd_model_host_add(f->db, f->cfg, "n1", "10.0.0.1", NULL, &h), 0);
    assert_int_equal(qvd_model_host_add(f->db, f->cfg, "n1", "10.0.0.2", NULL, &h), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_CONFLICT);
    assert_int_equal(qvd_model_host_add(f->db, f->cfg, "n2", "10.0.0.1", NULL, &h), -1);
}

static void
session_endings_first_reason_wins_and_only_its_user_reads_it(void **state)
{
    struct fixture *f = *state;
    const char *id = "AAAAbbbbCCCCdddd0123456789abcdef",
               *other = "ZZZZbbbbCCCCdddd0123456789abcdef";
    char reason[32], detail[201];

    assert_int_equal(qvd_model_session_begin(f->db, id, f->user, 7), 0);
    assert_int_equal(qvd_model_session_begin(f->db, other, f->user, 8), 0);
    assert_int_equal(qvd_model_session_end_get(f->db, id, f->user, reason, sizeof(reason), detail,
                                               sizeof(detail)),
                     1);
    assert_string_equal(reason, ""); /* not known yet */
    /* the node that saw the VM go records first; the L7R's later guess does not replace it */
    assert_int_equal(qvd_model_vm_sessions_end(f->db, 7, "node_lost", "heartbeat"), 1);
    assert_int_equal(qvd_model_session_end(f->db, id, "connection_lost", NULL), 0);
    assert_int_equal(qvd_model_session_end_get(f->db, id, f->user, reason, sizeof(reason), detail,
                                               sizeof(detail)),
                     1);
    assert_string_equal(reason, "node_lost");
    assert_string_equal(detail, "heartbeat");
    /* another user learns nothing, not even that the session exists */
    assert_int_equal(qvd_model_session_end_get(f->db, id, f->user + 1000, reason, sizeof(reason),
                                               detail, sizeof(detail)),
                     0);
    /* only known reasons, and a detail too long is cut, not refused */
    assert_int_equal(qvd_model_session_end(f->db, other, "moon_fell", NULL), -1);
    char longd[400];
    memset(longd, 'x', sizeof(longd) - 1);
    longd[sizeof(longd) - 1] = '\0';
    assert_int_equal(qvd_model_session_end(f->db, other, "takeover", longd), 0);
    assert_int_equal(qvd_model_session_end_get(f->db, other, f->user, reason, sizeof(reason),
                                               detail, sizeof(detail)),
                     1);
    assert_string_equal(reason, "takeover");
    assert_int_equal(strlen(detail), 200);
    assert_non_null(qvd_model_end_reason_text("server_shutdown"));
    assert_null(qvd_model_end_reason_text("moon_fell"));
}

/* ---- the L7R's reads and writes (model_l7r.c) ---- */

static void
l7r_host_state_and_counters(void **state)
{
    struct fixture *f = *state;
    int64_t h1 = add_running_host(f, "n1", "10.0.0.1"), h2 = add_running_host(f, "n2", "10.0.0.2");
    int64_t id = 0, n = -1;

    assert_int_equal(qvd_model_l7r_host(f->db, "n1", &id), 0);
    assert_int_equal(id, h1);
    assert_int_equal(qvd_model_l7r_host(f->db, "nowhere", &id), -1);
    assert_int_equal(id, -1);
    assert_string_equal(qvd_strerror(), "Host is not registered in the database");
    qvd_db_exec(f->db, "UPDATE host_runtimes SET blocked = 1 WHERE host_id = ?", "i", h2);
    assert_int_equal(qvd_model_l7r_host(f->db, "n2", &id), -1);
    assert_int_equal(id, h2);
    assert_string_equal(qvd_strerror(), "Server is blocked");
    assert_int_equal(qvd_model_l7r_counter(f->db, h1, "nx_ok", 1), 0);
    assert_int_equal(qvd_model_l7r_counter(f->db, h1, "nx_ok", 2), 0);
    assert_int_equal(
        qvd_db_get_int(f->db, &n, "SELECT nx_ok FROM host_counters WHERE host_id = ?", "i", h1), 1);
    assert_int_equal(n, 3);
    /* a name that is no counter is refused, never put into the statement */
    assert_int_equal(qvd_model_l7r_counter(f->db, h1, "nx_ok = 0, auth_ok", 1), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
    assert_int_equal(qvd_model_l7r_check_access(f->db), 0);
}

static void
l7r_slot_take_takeover_and_release(void **state)
{
    struct fixture *f = *state;
    int64_t h1 = add_running_host(f, "n1", "10.0.0.1"), h2 = add_running_host(f, "n2", "10.0.0.2");
    struct qvd_model_l7r_holder held;
    struct qvd_model_l7r_vm vm;
    int64_t v, ids[4], owner = 0;
    bool blocked = true;
    char by[16], st[16];

    add_di(f, f->osf, NULL);
    v = add_vm(f, "a", NULL);
    assert_int_equal(qvd_model_l7r_vm_owner(f->db, v, &owner, &blocked), 1);
    assert_int_equal(owner, f->user);
    assert_false(blocked);
    assert_int_equal(qvd_model_l7r_vm_owner(f->db, v + 100, &owner, &blocked), 0);
    assert_int_equal(qvd_model_l7r_vm_stopped(f->db, v, st, sizeof(st)), 1);
    /* L7R (h1, 100) takes the slot; a second take of its own says so */
    assert_int_equal(qvd_model_l7r_slot_take(f->db, h1, 100, v, f->user, &held), 1);
    assert_int_equal(qvd_model_l7r_slot_take(f->db, h1, 100, v, f->user, &held), 2);
    assert_int_equal(qvd_model_l7r_vm(f->db, h1, 100, v, &vm), 1);
    assert_true(vm.mine);
    assert_false(vm.ready);
    assert_string_equal(vm.state, "stopped");
    /* another L7R asks it to abort: its slot cannot become connected, and it finds it */
    assert_int_equal(qvd_model_l7r_slot_take(f->db, h2, 200, v, f->user, &held), 0);
    assert_int_equal(held.host_id, h1);
    assert_int_equal(held.pid, 100);
    assert_string_equal(held.state, "connecting");
    assert_int_equal(qvd_model_l7r_slot_connected(f->db, h1, 100, v), 0);
    assert_int_equal(qvd_model_l7r_aborted(f->db, h1, 100, ids, 4), 1);
    assert_int_equal(ids[0], v);
    assert_int_equal(qvd_model_session_abort_by(f->db, v, by, sizeof(by)), 1);
    assert_string_equal(by, "takeover");
    assert_int_equal(qvd_model_l7r_vm(f->db, h1, 100, v, &vm), 1);
    assert_false(vm.mine);
    /* released by its holder, taken by the other, connected */
    assert_int_equal(qvd_model_l7r_slot_release(f->db, h1, 100, v), 0);
    assert_int_equal(qvd_model_l7r_slot_take(f->db, h2, 200, v, f->user, &held), 1);
    assert_int_equal(qvd_model_l7r_slot_connected(f->db, h2, 200, v), 1);
    /* connected to a VM that does not run: to give up; running: kept */
    assert_int_equal(qvd_model_l7r_aborted(f->db, h2, 200, ids, 4), 1);
    qvd_db_exec(f->db, "UPDATE vm_runtimes SET vm_state = 'running' WHERE vm_id = ?", "i", v);
    assert_int_equal(qvd_model_l7r_aborted(f->db, h2, 200, ids, 4), 0);
    /* a release by another process of the node leaves it; a later L7R frees it as stale */
    assert_int_equal(qvd_model_l7r_slot_release(f->db, h2, 201, v), 0);
    assert_int_equal(qvd_model_l7r_slot_take(f->db, h1, 100, v, f->user, &held), 0);
    assert_int_equal(qvd_model_l7r_release_stale(f->db, h2, 200), 0);
    assert_int_equal(qvd_model_l7r_release_stale(f->db, h2, 201), 1);
    assert_int_equal(qvd_model_l7r_slot_take(f->db, h1, 100, v, f->user, &held), 1);
}

static void
count(void *arg, const struct qvd_model_l7r_vm_row *r)
{
    ++*(int *)arg;
}

/* An application VM's program: the VM's property over its running DI's over its OSF's;
 * none for a desktop VM, whatever its properties say. */
static void
l7r_application_program(void **state)
{
    struct fixture *f = *state;
    char *cmd = NULL;
    int64_t di = add_di(f, f->osf, NULL), vm = add_vm(f, "app", NULL);
    int n = 0;

    assert_true(vm > 0);
    assert_int_equal(
        qvd_model_prop_set(f->db, f->cfg, "osf", f->osf, "qvd.app.command", "/bin/osf"), 0);
    assert_int_equal(qvd_model_l7r_vm_app(f->db, vm, &cmd), 0); /* a desktop VM */
    assert_null(cmd);
    qvd_db_exec(f->db, "UPDATE osfs SET is_application = 1 WHERE id = ?", "i", f->osf);
    assert_int_equal(qvd_model_l7r_vm_app(f->db, vm, &cmd), 1);
    assert_string_equal(cmd, "/bin/osf");
    free(cmd);
    /* the DI counts once the VM runs it */
    qvd_db_exec(f->db, "UPDATE vm_runtimes SET current_di_id = ? WHERE vm_id = ?", "ii", di, vm);
    assert_int_equal(qvd_model_prop_set(f->db, f->cfg, "di", di, "qvd.app.command", "/bin/di a b"),
                     0);
    assert_int_equal(qvd_model_l7r_vm_app(f->db, vm, &cmd), 1);
    assert_string_equal(cmd, "/bin/di a b");
    free(cmd);
    assert_int_equal(qvd_model_prop_set(f->db, f->cfg, "vm", vm, "qvd.app.command", "/bin/vm"), 0);
    assert_int_equal(qvd_model_l7r_vm_app(f->db, vm, &cmd), 1);
    assert_string_equal(cmd, "/bin/vm");
    free(cmd);
    /* an application VM without a program: 1 and NULL (the L7R refuses it) */
    assert_int_equal(qvd_model_prop_del(f->db, f->cfg, "vm", vm, "qvd.app.command"), 0);
    assert_int_equal(qvd_model_prop_del(f->db, f->cfg, "di", di, "qvd.app.command"), 0);
    assert_int_equal(qvd_model_prop_del(f->db, f->cfg, "osf", f->osf, "qvd.app.command"), 0);
    assert_int_equal(qvd_model_l7r_vm_app(f->db, vm, &cmd), 1);
    assert_null(cmd);
    assert_int_equal(qvd_model_l7r_vm_app(f->db, vm + 100, &cmd), 0); /* no such VM */
    /* listed as an application, not as a desktop */
    assert_int_equal(qvd_model_l7r_user_vms(f->db, f->user, true, count, &n), 0);
    assert_int_equal(n, 1);
}

static void
l7r_users_vms_and_tokens(void **state)
{
    struct fixture *f = *state;
    struct qvd_model_l7r_user u = {0};
    int64_t uid = 0;
    char *hash = NULL;
    int n = 0;

    add_di(f, f->osf, NULL);
    assert_true(add_vm(f, "a", NULL) > 0);
    assert_int_equal(qvd_model_l7r_user(f->db, f->user, &u), 1);
    assert_string_equal(u.login, "bob");
    assert_int_equal(u.tenant_id, f->tenant);
    assert_int_equal(qvd_model_l7r_user(f->db, f->user + 100, &u), 0);
    assert_int_equal(qvd_model_l7r_user_hash(f->db, f->user, &hash), 1);
    assert_int_equal(qvd_password_verify(hash, "secret"), 1);
    free(hash);
    qvd_db_exec(f->db, "UPDATE users SET blocked = 1 WHERE id = ?", "i", f->user);
    assert_int_equal(qvd_model_l7r_user(f->db, f->user, &u), 0);
    /* the user's desktops, not its applications */
    assert_int_equal(qvd_model_l7r_user_vms(f->db, f->user, false, count, &n), 0);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(qvd_model_l7r_user_vms(f->db, f->user, true, count, &n), 0);
    assert_int_equal(n, 0);
    /* a token is good until it expires, then gone */
    assert_int_equal(qvd_model_l7r_token_add(f->db, "k1", f->user, qvd_now() + 100), 0);
    assert_int_equal(qvd_model_l7r_token_use(f->db, "k1", qvd_now(), &uid), 1);
    assert_int_equal(uid, f->user);
    assert_int_equal(qvd_model_l7r_token_use(f->db, "k1", qvd_now(), &uid), 1);
    assert_int_equal(qvd_model_l7r_token_use(f->db, "k1", qvd_now() + 200, &uid), 0);
    assert_int_equal(qvd_model_l7r_token_use(f->db, "k1", qvd_now(), &uid), 0);
    assert_int_equal(qvd_model_l7r_token_use(f->db, "nope", qvd_now(), &uid), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    qvd_log_init("test-model", QVD_LOG_WARN, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(net_from_defaults),
        cmocka_unit_test(ip_pick_takes_highest_free),
        cmocka_unit_test(mac_is_prefix_and_last_three_octets),
        cmocka_unit_test(lb_score_prefers_free_and_empty_hosts),
        T(password_hash_and_verify),
        T(duplicate_user_is_a_conflict),
        T(system_account_logins_are_refused),
        T(renaming_to_a_system_account_is_refused),
        T(reserved_logins_option_adds_names),
        T(duplicate_names_are_conflicts),
        T(vm_of_other_tenant_osf_is_refused),
        T(vm_addresses_are_highest_free_and_run_out),
        T(vm_needs_an_existing_tag_and_a_unique_name),
        T(di_versions_count_up_per_osf_and_day),
        T(new_di_is_head_and_default_stays_on_first),
        T(fixed_tags_cannot_move_or_go),
        T(head_and_default_cannot_be_removed),
        T(tags_are_per_osf),
        T(deleting_head_di_moves_head_to_newest),
        T(di_deletion_refused_while_vms_need_it),
        T(di_import_failure_leaves_nothing),
        T(vm_start_assigns_a_host_and_stop_cancels),
        T(vm_start_refuses_blocked_vm_blocked_di_and_blocked_host),
        T(hosts_need_ipv4_and_unique_names),
        T(session_endings_first_reason_wins_and_only_its_user_reads_it),
        T(l7r_host_state_and_counters),
        T(l7r_slot_take_takeover_and_release),
        T(l7r_users_vms_and_tokens),
        T(l7r_application_program),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_throttle.c: the failed-login table: locks, expiry, floods of keys that must not
 * unlock anybody, a table full of locks; the keys of IPv4 and IPv6 addresses, and of
 * logins (one per user or administrator however it is spelled). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "config.h"
#include "model.h"
#include "throttle.h"

#define T0 1000000

static void
fail_n(struct qvd_throttle *t, const char *key, int n, int64_t now)
{
    for (int i = 0; i < n; i++)
        qvd_throttle_fail(t, key, now);
}

static void
five_failures_lock_a_key_and_not_its_neighbours(void **state)
{
    struct qvd_throttle *t = qvd_throttle_new(5, 60, 0);

    fail_n(t, "login:demo@default", 4, T0);
    assert_int_equal(qvd_throttle_blocked(t, "login:demo@default", T0 + 1), 0);
    qvd_throttle_fail(t, "login:demo@default", T0 + 10);
    assert_int_equal(qvd_throttle_blocked(t, "login:demo@default", T0 + 10), 50);
    assert_int_equal(qvd_throttle_blocked(t, "login:other@default", T0 + 10), 0);
    qvd_throttle_free(t);
}

static void
a_lock_expires_with_its_window(void **state)
{
    struct qvd_throttle *t = qvd_throttle_new(5, 60, 0);

    fail_n(t, "ip:127.0.0.9", 5, T0);
    assert_int_equal(qvd_throttle_blocked(t, "ip:127.0.0.9", T0 + 59), 1);
    assert_int_equal(qvd_throttle_blocked(t, "ip:127.0.0.9", T0 + 60), 0);
    /* a new window starts from scratch: one failure does not lock again */
    qvd_throttle_fail(t, "ip:127.0.0.9", T0 + 61);
    assert_int_equal(qvd_throttle_blocked(t, "ip:127.0.0.9", T0 + 61), 0);
    qvd_throttle_free(t);
}

static void
failures_of_an_old_window_do_not_add_up(void **state)
{
    struct qvd_throttle *t = qvd_throttle_new(5, 60, 0);

    fail_n(t, "login:x@default", 4, T0);
    fail_n(t, "login:x@default", 4, T0 + 70);
    assert_int_equal(qvd_throttle_blocked(t, "login:x@default", T0 + 70), 0);
    qvd_throttle_free(t);
}

/* The attack: lock a real account, then 10,000 one-shot failures of distinct keys (many
 * addresses, made-up logins) in a table of 4096: the lock must survive it. */
static void
a_flood_of_10000_keys_never_evicts_an_active_lock(void **state)
{
    struct qvd_throttle *t = qvd_throttle_new(5, 60, 0);
    char key[64];

    fail_n(t, "login:demo@default", 5, T0);
    fail_n(t, "ip:10.0.0.1", 5, T0);
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "ip:127.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        qvd_throttle_fail(t, key, T0 + 1 + i / 1000);
        snprintf(key, sizeof(key), "login:u%d@default", i);
        qvd_throttle_fail(t, key, T0 + 1 + i / 1000);
    }
    assert_int_equal(qvd_throttle_blocked(t, "login:demo@default", T0 + 11), 49);
    assert_int_equal(qvd_throttle_blocked(t, "ip:10.0.0.1", T0 + 11), 49);
    qvd_throttle_free(t);
}

/* The flood makes room by dropping unlocked entries, oldest first: a key that failed
 * recently keeps its count, one of the oldest lost it. */
static void
a_flood_evicts_the_oldest_unlocked_entries_first(void **state)
{
    struct qvd_throttle *t = qvd_throttle_new(5, 60, 8);
    char key[32];

    fail_n(t, "old", 4, T0);
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        qvd_throttle_fail(t, key, T0 + 1);
    }
    fail_n(t, "recent", 4, T0 + 2);
    qvd_throttle_fail(t, "newcomer", T0 + 3); /* the table of 8 is full: "old" goes */
    qvd_throttle_fail(t, "old", T0 + 3);
    qvd_throttle_fail(t, "recent", T0 + 3);
    assert_int_equal(qvd_throttle_blocked(t, "old", T0 + 3), 0);
    assert_true(qvd_throttle_blocked(t, "recent", T0 + 3) > 0);
    qvd_throttle_free(t);
}

/* Every slot holds an active lock: the newcomer's failure cannot be recorded. Nobody is
 * unlocked, and keys without a slot are answered as throttled until the first lock ends. */
static void
a_table_full_of_locks_throttles_newcomers_and_unlocks_nobody(void **state)
{
    struct qvd_throttle *t = qvd_throttle_new(5, 60, 16);
    char key[32];

    for (int i = 0; i < 16; i++) {
        snprintf(key, sizeof(key), "locked%d", i);
        fail_n(t, key, 5, T0 + i);
    }
    assert_int_equal(qvd_throttle_blocked(t, "newcomer", T0 + 20), 0); /* nothing lost yet */
    qvd_throttle_fail(t, "newcomer", T0 + 20);
    for (int i = 0; i < 16; i++) {
        snprintf(key, sizeof(key), "locked%d", i);
        assert_int_equal(qvd_throttle_blocked(t, key, T0 + 20), 60 + i - 20);
    }
    /* until locked0's window ends at T0 + 60 */
    assert_int_equal(qvd_throttle_blocked(t, "newcomer", T0 + 20), 40);
    assert_int_equal(qvd_throttle_blocked(t, "someone-else", T0 + 59), 1);
    assert_int_equal(qvd_throttle_blocked(t, "someone-else", T0 + 60), 0);
    /* locked0's slot is free again: the next failure is recorded in it */
    fail_n(t, "newcomer", 5, T0 + 60);
    assert_int_equal(qvd_throttle_blocked(t, "newcomer", T0 + 60), 60);
    assert_int_equal(qvd_throttle_blocked(t, "locked15", T0 + 60), 15);
    qvd_throttle_free(t);
}

/* A thousand guesses sent at once: each counts from when it is let through, so only the
 * first five are checked, however slow the checks. One that succeeds is given back. */
static void
attempts_in_flight_count_as_failures_until_they_succeed(void **state)
{
    struct qvd_throttle *t = qvd_throttle_new(5, 60, 0);
    const char *const keys[] = {"ip:127.0.0.1", "login:demo@default"};
    int let_through = 0;

    for (int i = 0; i < 1000; i++)
        if (qvd_throttle_begin(t, keys, 2, T0) == 0)
            let_through++;
    assert_int_equal(let_through, 5);
    qvd_throttle_ok(t, keys, 2, T0 + 1); /* one of them was right */
    assert_int_equal(qvd_throttle_begin(t, keys, 2, T0 + 1), 0);
    assert_int_equal(qvd_throttle_begin(t, keys, 2, T0 + 1), 59);
    qvd_throttle_free(t);
}

/* A right login leaves nothing behind: the next failures start a window of their own. */
static void
a_success_alone_leaves_no_entry(void **state)
{
    struct qvd_throttle *t = qvd_throttle_new(5, 60, 0);
    const char *const keys[] = {"ip:127.0.0.1", "login:demo@default"};

    assert_int_equal(qvd_throttle_begin(t, keys, 2, T0), 0);
    qvd_throttle_ok(t, keys, 2, T0);
    fail_n(t, "login:demo@default", 5, T0 + 50);
    assert_int_equal(qvd_throttle_blocked(t, "login:demo@default", T0 + 50), 60);
    qvd_throttle_free(t);
}

static void
a_refused_attempt_counts_against_no_key(void **state)
{
    struct qvd_throttle *t = qvd_throttle_new(5, 60, 0);
    const char *const keys[] = {"ip:127.0.0.1", "login:demo@default", NULL, ""};

    fail_n(t, "ip:127.0.0.1", 5, T0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(qvd_throttle_begin(t, keys, 4, T0), 60);
    fail_n(t, "login:demo@default", 4, T0);
    assert_int_equal(qvd_throttle_blocked(t, "login:demo@default", T0), 0);
    qvd_throttle_free(t);
}

static void
an_attempt_that_finds_no_slot_is_refused(void **state)
{
    struct qvd_throttle *t = qvd_throttle_new(5, 60, 4);
    const char *const keys[] = {"ip:127.0.0.9", "login:x@default"};
    char key[32];

    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "locked%d", i);
        fail_n(t, key, 5, T0);
    }
    assert_int_equal(qvd_throttle_begin(t, keys, 2, T0 + 30), 30);
    assert_int_equal(qvd_throttle_blocked(t, "locked3", T0 + 30), 30);
    qvd_throttle_free(t);
}

static void
ipv4_addresses_are_keys_of_their_own(void **state)
{
    char k[80];

    qvd_throttle_ip_key("127.0.0.5", 64, k, sizeof(k));
    assert_string_equal(k, "ip:127.0.0.5");
    qvd_throttle_ip_key("::ffff:192.0.2.7", 64, k, sizeof(k));
    assert_string_equal(k, "ip:192.0.2.7");
    qvd_throttle_ip_key("local", 64, k, sizeof(k));
    assert_string_equal(k, "ip:local");
}

static void
ipv6_addresses_share_the_key_of_their_prefix(void **state)
{
    char a[80], b[80];

    qvd_throttle_ip_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, a, sizeof(a));
    assert_string_equal(a, "ip:2001:db8:1:2::/64");
    qvd_throttle_ip_key("2001:db8:1:2::1", 64, b, sizeof(b));
    assert_string_equal(a, b);
    qvd_throttle_ip_key("2001:db8:1:3::1", 64, b, sizeof(b));
    assert_string_equal(b, "ip:2001:db8:1:3::/64");
    qvd_throttle_ip_key("2001:db8:1:3::1", 48, b, sizeof(b));
    assert_string_equal(b, "ip:2001:db8:1::/48");
    qvd_throttle_ip_key("2001:db8:1:3::1", 60, b, sizeof(b));
    assert_string_equal(b, "ip:2001:db8:1::/60");
    qvd_throttle_ip_key("2001:db8::1f", 123, b, sizeof(b));
    assert_string_equal(b, "ip:2001:db8::/123");
    qvd_throttle_ip_key("2001:db8::1f", 128, b, sizeof(b));
    assert_string_equal(b, "ip:2001:db8::1f/128");
    qvd_throttle_ip_key("fe80::1:2%eth0", 64, b, sizeof(b));
    assert_string_equal(b, "ip:fe80::/64");
    qvd_throttle_ip_key("::1", 64, b, sizeof(b));
    assert_string_equal(b, "ip:::/64");
}

/* One host of a /64 rotating through its addresses fails against one counter. */
static void
rotating_through_a_64_hits_one_lock(void **state)
{
    struct qvd_throttle *t = qvd_throttle_new(5, 60, 0);
    char addr[64], k[80];

    for (int i = 1; i <= 5; i++) {
        snprintf(addr, sizeof(addr), "2001:db8:0:7::%x", i * 4099);
        qvd_throttle_ip_key(addr, 64, k, sizeof(k));
        qvd_throttle_fail(t, k, T0);
    }
    qvd_throttle_ip_key("2001:db8:0:7:ffff::1", 64, k, sizeof(k));
    assert_int_equal(qvd_throttle_blocked(t, k, T0), 60);
    qvd_throttle_ip_key("2001:db8:0:8::1", 64, k, sizeof(k));
    assert_int_equal(qvd_throttle_blocked(t, k, T0), 0);
    qvd_throttle_free(t);
}

static struct qvd_config *
config(const char *text)
{
    struct qvd_config *cfg = qvd_config_new();

    assert_int_equal(qvd_config_load_string(cfg, text, "test"), 0);
    return cfg;
}

static void
every_spelling_of_a_user_has_one_key(void **state)
{
    static const char *const spellings[] = {"demo",         "DEMO",         "Demo",
                                            "demo@default", "DEMO@default", "dEmO@default"};
    struct qvd_config *cfg = config("");
    char k[160];

    for (size_t i = 0; i < sizeof(spellings) / sizeof(*spellings); i++) {
        qvd_model_user_key(cfg, spellings[i], k, sizeof(k));
        assert_string_equal(k, "demo@default");
    }
    /* the tenant is matched as spelled, and the last '@' names it */
    qvd_model_user_key(cfg, "demo@Default", k, sizeof(k));
    assert_string_equal(k, "demo@Default");
    qvd_model_user_key(cfg, "De@mo@acme", k, sizeof(k));
    assert_string_equal(k, "de@mo@acme");
    qvd_config_free(cfg);
}

static void
user_keys_follow_the_default_tenant_and_case_sensitivity(void **state)
{
    struct qvd_config *cfg = config("l7r.auth.plugin.default.tenant = acme\n"
                                    "model.user.login.case-sensitive = 1\n");
    char k[160];

    qvd_model_user_key(cfg, "Demo", k, sizeof(k));
    assert_string_equal(k, "Demo@acme");
    qvd_model_user_key(cfg, "Demo@acme", k, sizeof(k));
    assert_string_equal(k, "Demo@acme");
    qvd_config_free(cfg);
}

static void
every_spelling_of_an_administrator_has_one_key(void **state)
{
    char a[160], b[160], c[160];

    qvd_model_admin_key("ann@acme", NULL, a, sizeof(a));
    qvd_model_admin_key("ann@acme", "", b, sizeof(b));
    qvd_model_admin_key("ann", "acme", c, sizeof(c));
    assert_string_equal(a, "ann@acme");
    assert_string_equal(b, "ann@acme");
    assert_string_equal(c, "ann@acme");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(five_failures_lock_a_key_and_not_its_neighbours),
        cmocka_unit_test(a_lock_expires_with_its_window),
        cmocka_unit_test(failures_of_an_old_window_do_not_add_up),
        cmocka_unit_test(a_flood_of_10000_keys_never_evicts_an_active_lock),
        cmocka_unit_test(a_flood_evicts_the_oldest_unlocked_entries_first),
        cmocka_unit_test(a_table_full_of_locks_throttles_newcomers_and_unlocks_nobody),
        cmocka_unit_test(attempts_in_flight_count_as_failures_until_they_succeed),
        cmocka_unit_test(a_success_alone_leaves_no_entry),
        cmocka_unit_test(a_refused_attempt_counts_against_no_key),
        cmocka_unit_test(an_attempt_that_finds_no_slot_is_refused),
        cmocka_unit_test(ipv4_addresses_are_keys_of_their_own),
        cmocka_unit_test(ipv6_addresses_share_the_key_of_their_prefix),
        cmocka_unit_test(rotating_through_a_64_hits_one_lock),
        cmocka_unit_test(every_spelling_of_a_user_has_one_key),
        cmocka_unit_test(user_keys_follow_the_default_tenant_and_case_sensitivity),
        cmocka_unit_test(every_spelling_of_an_administrator_has_one_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

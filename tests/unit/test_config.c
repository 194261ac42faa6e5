/* test_config.c: the Java-properties parser, ${key} expansion, defaults and typed getters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "err.h"
#include "util.h"

static struct qvd_config *
load(const char *text)
{
    struct qvd_config *cfg = qvd_config_new();
    assert_int_equal(qvd_config_load_string(cfg, text, "test"), 0);
    return cfg;
}

static void
separators_equal_colon_space(void **state)
{
    struct qvd_config *cfg = load("a=1\nb:2\nc 3\nd   =   4  \n e : five six\n");

    assert_string_equal(qvd_config_lookup(cfg, "a"), "1");
    assert_string_equal(qvd_config_lookup(cfg, "b"), "2");
    assert_string_equal(qvd_config_lookup(cfg, "c"), "3");
    assert_string_equal(qvd_config_lookup(cfg, "d"), "4  ");
    assert_string_equal(qvd_config_lookup(cfg, "e"), "five six");
    qvd_config_free(cfg);
}

static void
comments_and_blank_lines_are_ignored(void **state)
{
    struct qvd_config *cfg = load("# a=1\n! b=2\n\n   \n  # c=3\nd=4 # not a comment\n");

    assert_null(qvd_config_lookup(cfg, "a"));
    assert_null(qvd_config_lookup(cfg, "b"));
    assert_null(qvd_config_lookup(cfg, "c"));
    assert_string_equal(qvd_config_lookup(cfg, "d"), "4 # not a comment");
    qvd_config_free(cfg);
}

static void
continuation_lines_join(void **state)
{
    struct qvd_config *cfg = load("list = one, \\\n      two, \\\n      three\nafter=x\n"
                                  "even = ends with two \\\\\nnext=y\n");

    assert_string_equal(qvd_config_lookup(cfg, "list"), "one, two, three");
    assert_string_equal(qvd_config_lookup(cfg, "after"), "x");
    assert_string_equal(qvd_config_lookup(cfg, "even"), "ends with two \\");
    assert_string_equal(qvd_config_lookup(cfg, "next"), "y");
    qvd_config_free(cfg);
}

static void
escapes_are_decoded(void **state)
{
    struct qvd_config *cfg = load("tab=a\\tb\nnl=a\\nb\nu=\\u00e9\nsp=\\ lead\n");

    assert_string_equal(qvd_config_lookup(cfg, "tab"), "a\tb");
    assert_string_equal(qvd_config_lookup(cfg, "nl"), "a\nb");
    assert_string_equal(qvd_config_lookup(cfg, "u"), "\xc3\xa9");
    assert_string_equal(qvd_config_lookup(cfg, "sp"), " lead");
    qvd_config_free(cfg);
    /* keys may not hold separators or spaces, even escaped: the text is refused */
    cfg = qvd_config_new();
    assert_int_equal(qvd_config_load_string(cfg, "key\\ with\\ space=v\n", "t"), -1);
    qvd_config_free(cfg);
}

static void
references_expand(void **state)
{
    struct qvd_config *cfg = load("root=/srv\nimages=${root}/images\ndeep=${images}/x\n");

    assert_string_equal(qvd_config_lookup(cfg, "deep"), "/srv/images/x");
    /* a later change of the referenced key shows through */
    assert_int_equal(qvd_config_set(cfg, "root", "/data"), 0);
    assert_string_equal(qvd_config_lookup(cfg, "deep"), "/data/images/x");
    qvd_config_free(cfg);
}

static void
unknown_reference_and_loops_give_null(void **state)
{
    struct qvd_config *cfg = load("a=${nope}\nb=${c}\nc=${b}\nself=${self}\n");

    assert_null(qvd_config_lookup(cfg, "a"));
    assert_null(qvd_config_lookup(cfg, "b"));
    assert_null(qvd_config_lookup(cfg, "self"));
    qvd_config_free(cfg);
}

/* Sixteen levels of eight references each would expand to 8^16 copies: refused at once
 * (found by tests/fuzz/fuzz_config.c, which stalled on such values). */
static void
exploding_references_are_refused(void **state)
{
    struct qvd_buf text = QVD_BUF_INIT;

    for (int i = 0; i < 16; i++)
        qvd_buf_printf(&text, "l%d=${l%d}${l%d}${l%d}${l%d}${l%d}${l%d}${l%d}${l%d}\n", i, i + 1,
                       i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i + 1);
    qvd_buf_adds(&text, "l16=x\nempty=${e}${e}${e}${e}\ne=\n");
    struct qvd_config *cfg = load(text.data);
    assert_null(qvd_config_lookup(cfg, "l0"));
    assert_non_null(strstr(qvd_strerror(), "l0"));
    assert_int_equal(strlen(qvd_config_lookup(cfg, "l14")), 64); /* a few levels still expand */
    assert_string_equal(qvd_config_lookup(cfg, "empty"), "");
    qvd_buf_free(&text);
    qvd_config_free(cfg);
}

static void
every_default_is_named_once(void **state)
{
    /* qvd_config_new adds them without looking for an earlier copy */
    for (const struct qvd_config_default *a = qvd_config_defaults; a->key != NULL; a++)
        for (const struct qvd_config_default *b = a + 1; b->key != NULL; b++)
            if (strcmp(a->key, b->key) == 0)
                fail_msg("option %s is in the defaults table twice", a->key);
}

static void
defaults_are_present_and_overridable(void **state)
{
    struct qvd_config *cfg = qvd_config_new();

    assert_string_equal(qvd_config_get(cfg, "l7r.port"), "8443");
    assert_string_equal(qvd_config_get(cfg, "path.storage.images"), "/var/lib/qvd/storage/images");
    assert_int_equal(qvd_config_load_string(cfg, "path.storage.root=/t\n", "t"), 0);
    assert_string_equal(qvd_config_get(cfg, "path.storage.images"), "/t/images");
    qvd_config_free(cfg);
}

static void
typed_getters(void **state)
{
    struct qvd_config *cfg = load("vm.lxc.home.per.user=yes\nvm.network.isolated=Off\n"
                                  "l7r.port=9443\nhkd.vma.ping.interval=${l7r.port}x\n"
                                  "l7r.loadbalancer.plugin.default.weight.ram=2.5\n");

    assert_true(qvd_config_bool(cfg, "vm.lxc.home.per.user"));
    assert_false(qvd_config_bool(cfg, "vm.network.isolated"));
    assert_true(qvd_config_bool(cfg, "vm.lxc.no_new_privs")); /* the table's default */
    assert_int_equal(qvd_config_int(cfg, "l7r.port"), 9443);
    /* an expansion that yields no number reads as the table's default */
    assert_int_equal(qvd_config_int(cfg, "hkd.vma.ping.interval"), 5);
    assert_true(qvd_config_number(cfg, "l7r.loadbalancer.plugin.default.weight.ram") == 2.5);
    assert_true(qvd_config_number(cfg, "l7r.loadbalancer.plugin.default.weight.cpu") == 1);
    qvd_config_free(cfg);
}

static void
typed_values_are_checked_where_they_are_read(void **state)
{
    struct qvd_config *cfg = load("l7r.port=9443\n");

    assert_int_equal(qvd_config_load_string(cfg, "a=1\nl7r.port = 84x3\n", "node.conf"), -1);
    assert_string_equal(qvd_strerror(),
                        "node.conf:2: the value '84x3' of l7r.port is not valid: give an integer");
    assert_int_equal(qvd_config_int(cfg, "l7r.port"), 9443); /* nothing of the text taken */
    assert_int_equal(qvd_config_set(cfg, "vm.network.isolated", "maybe"), -1);
    assert_non_null(strstr(qvd_strerror(), "vm.network.isolated is not valid: give 1 or 0"));
    assert_int_equal(qvd_config_set(cfg, "l7r.loadbalancer.plugin.default.weight.cpu", "-1"), -1);
    assert_int_equal(qvd_config_check_value("hkd.max_heavy", "ten"), -1);
    assert_int_equal(qvd_config_check_value("hkd.max_heavy", "10"), 0);
    assert_int_equal(qvd_config_check_value("not.a.key", "x"), 0); /* strict files refuse it */
    qvd_config_free(cfg);
}

/* Runs fn in a child: 1 when the child was stopped by SIGABRT. */
static int
aborts(void (*fn)(struct qvd_config *))
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        struct qvd_config *cfg = qvd_config_new();
        if (freopen("/dev/null", "w", stderr) == NULL)
            _exit(3);
        fn(cfg);
        _exit(0);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void
read_unknown_int(struct qvd_config *c)
{
    (void)qvd_config_int(c, "l7r.prot");
}
static void
read_unknown_text(struct qvd_config *c)
{
    (void)qvd_config_get(c, "no.such.key");
}
static void
read_text_as_int(struct qvd_config *c)
{
    (void)qvd_config_int(c, "log.level");
}
static void
read_int_as_bool(struct qvd_config *c)
{
    (void)qvd_config_bool(c, "l7r.port");
}
static void
read_known(struct qvd_config *c)
{
    (void)qvd_config_int(c, "l7r.port");
}

static void
reading_a_key_outside_the_table_stops_the_program(void **state)
{
    assert_true(aborts(read_unknown_int));
    assert_true(aborts(read_unknown_text));
    assert_true(aborts(read_text_as_int));
    assert_true(aborts(read_int_as_bool));
    assert_false(aborts(read_known));
}

static void
every_default_is_of_its_type(void **state)
{
    for (const struct qvd_config_default *d = qvd_config_defaults; d->key != NULL; d++)
        if (qvd_config_check_value(d->key, d->value) < 0)
            fail_msg("default of %s: %s", d->key, qvd_strerror());
}

static void
malformed_line_changes_nothing(void **state)
{
    struct qvd_config *cfg = load("keep=old\n");

    /* "=x" has an empty key: the whole text is refused, earlier lines included */
    assert_int_equal(qvd_config_load_string(cfg, "keep=new\nadded=1\n=x\n", "bad.conf"), -1);
    assert_string_equal(qvd_config_lookup(cfg, "keep"), "old");
    assert_null(qvd_config_lookup(cfg, "added"));
    qvd_config_free(cfg);
}

static void
dup_is_independent(void **state)
{
    struct qvd_config *cfg = load("a=1\n"), *copy = qvd_config_dup(cfg);

    assert_int_equal(qvd_config_set(copy, "a", "2"), 0);
    assert_string_equal(qvd_config_lookup(cfg, "a"), "1");
    assert_string_equal(qvd_config_lookup(copy, "a"), "2");
    assert_int_equal(qvd_config_set(copy, "bad key", "x"), -1);
    qvd_config_free(cfg);
    qvd_config_free(copy);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(separators_equal_colon_space),
        cmocka_unit_test(comments_and_blank_lines_are_ignored),
        cmocka_unit_test(continuation_lines_join),
        cmocka_unit_test(escapes_are_decoded),
        cmocka_unit_test(references_expand),
        cmocka_unit_test(unknown_reference_and_loops_give_null),
        cmocka_unit_test(exploding_references_are_refused),
        cmocka_unit_test(every_default_is_named_once),
        cmocka_unit_test(defaults_are_present_and_overridable),
        cmocka_unit_test(typed_getters),
        cmocka_unit_test(typed_values_are_checked_where_they_are_read),
        cmocka_unit_test(reading_a_key_outside_the_table_stops_the_program),
        cmocka_unit_test(every_default_is_of_its_type),
        cmocka_unit_test(malformed_line_changes_nothing),
        cmocka_unit_test(dup_is_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_config.c: the Java-properties parser, ${key} expansion, defaults and typed getters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

    assert_string_equal(qvd_config_get(cfg, "a"), "1");
    assert_string_equal(qvd_config_get(cfg, "b"), "2");
    assert_string_equal(qvd_config_get(cfg, "c"), "3");
    assert_string_equal(qvd_config_get(cfg, "d"), "4  ");
    assert_string_equal(qvd_config_get(cfg, "e"), "five six");
    qvd_config_free(cfg);
}

static void
comments_and_blank_lines_are_ignored(void **state)
{
    struct qvd_config *cfg = load("# a=1\n! b=2\n\n   \n  # c=3\nd=4 # not a comment\n");

    assert_null(qvd_config_get(cfg, "a"));
    assert_null(qvd_config_get(cfg, "b"));
    assert_null(qvd_config_get(cfg, "c"));
    assert_string_equal(qvd_config_get(cfg, "d"), "4 # not a comment");
    qvd_config_free(cfg);
}

static void
continuation_lines_join(void **state)
{
    struct qvd_config *cfg = load("list = one, \\\n      two, \\\n      three\nafter=x\n"
                                  "even = ends with two \\\\\nnext=y\n");

    assert_string_equal(qvd_config_get(cfg, "list"), "one, two, three");
    assert_string_equal(qvd_config_get(cfg, "after"), "x");
    assert_string_equal(qvd_config_get(cfg, "even"), "ends with two \\");
    assert_string_equal(qvd_config_get(cfg, "next"), "y");
    qvd_config_free(cfg);
}

static void
escapes_are_decoded(void **state)
{
    struct qvd_config *cfg = load("tab=a\\tb\nnl=a\\nb\nu=\\u00e9\nsp=\\ lead\n");

    assert_string_equal(qvd_config_get(cfg, "tab"), "a\tb");
    assert_string_equal(qvd_config_get(cfg, "nl"), "a\nb");
    assert_string_equal(qvd_config_get(cfg, "u"), "\xc3\xa9");
    assert_string_equal(qvd_config_get(cfg, "sp"), " lead");
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

    assert_string_equal(qvd_config_get(cfg, "deep"), "/srv/images/x");
    /* a later change of the referenced key shows through */
    assert_int_equal(qvd_config_set(cfg, "root", "/data"), 0);
    assert_string_equal(qvd_config_get(cfg, "deep"), "/data/images/x");
    qvd_config_free(cfg);
}

static void
unknown_reference_and_loops_give_null(void **state)
{
    struct qvd_config *cfg = load("a=${nope}\nb=${c}\nc=${b}\nself=${self}\n");

    assert_null(qvd_config_get(cfg, "a"));
    assert_null(qvd_config_get(cfg, "b"));
    assert_null(qvd_config_get(cfg, "self"));
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
    assert_null(qvd_config_get(cfg, "l0"));
    assert_non_null(strstr(qvd_strerror(), "l0"));
    assert_int_equal(strlen(qvd_config_get(cfg, "l14")), 64); /* a few levels still expand */
    assert_string_equal(qvd_config_get(cfg, "empty"), "");
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
bool_and_int_helpers(void **state)
{
    struct qvd_config *cfg = load("t1=yes\nt2=On\nt3=1\nf1=off\nf2=0\nf3=false\nbad=maybe\n"
                                  "n=42\nneg=-7\nnan=4x\n");

    assert_true(qvd_config_bool(cfg, "t1", false));
    assert_true(qvd_config_bool(cfg, "t2", false));
    assert_true(qvd_config_bool(cfg, "t3", false));
    assert_false(qvd_config_bool(cfg, "f1", true));
    assert_false(qvd_config_bool(cfg, "f2", true));
    assert_false(qvd_config_bool(cfg, "f3", true));
    assert_true(qvd_config_bool(cfg, "bad", true));
    assert_true(qvd_config_bool(cfg, "missing", true));
    assert_int_equal(qvd_config_int(cfg, "n", 0), 42);
    assert_int_equal(qvd_config_int(cfg, "neg", 0), -7);
    assert_int_equal(qvd_config_int(cfg, "nan", 5), 5);
    assert_int_equal(qvd_config_int(cfg, "missing", 9), 9);
    qvd_config_free(cfg);
}

static void
malformed_line_changes_nothing(void **state)
{
    struct qvd_config *cfg = load("keep=old\n");

    /* "=x" has an empty key: the whole text is refused, earlier lines included */
    assert_int_equal(qvd_config_load_string(cfg, "keep=new\nadded=1\n=x\n", "bad.conf"), -1);
    assert_string_equal(qvd_config_get(cfg, "keep"), "old");
    assert_null(qvd_config_get(cfg, "added"));
    qvd_config_free(cfg);
}

static void
dup_is_independent(void **state)
{
    struct qvd_config *cfg = load("a=1\n"), *copy = qvd_config_dup(cfg);

    assert_int_equal(qvd_config_set(copy, "a", "2"), 0);
    assert_string_equal(qvd_config_get(cfg, "a"), "1");
    assert_string_equal(qvd_config_get(copy, "a"), "2");
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
        cmocka_unit_test(bool_and_int_helpers),
        cmocka_unit_test(malformed_line_changes_nothing),
        cmocka_unit_test(dup_is_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_resource.c: resource lists on a real database (SQLite, or PostgreSQL with
 * QVD_TEST_PG_HOST): the filter grammar, order and paging, fields, visibility, tenant scope,
 * injection attempts and the limits of the parser. */
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
#include <jansson.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "filter.h"
#include "log.h"
#include "model.h"
#include "resource.h"
#include "testdb.h"
#include "util.h"

/* One data set for every test (they only read it):
 *   tenant acme: users bob, alice (blocked); OSF desktop with one DI;
 *     VMs of bob: web1 (running on n1, description `a,b "c" \d`), web2 (running on n2),
 *     WEB3, db_1 (blocked), mail (command start); VM of alice: alice1
 *   tenant other: user carl, OSF theirs with one DI, VM carl1
 *   hosts n1, n2; one administrator; one audit log row of each tenant */
struct fixture {
    char dir[64];
    struct qvd_config *cfg;
    struct qvd_db *db;
    int64_t acme, other, bob, alice, carl, desktop, theirs, n1, n2;
    int64_t web1, web2, web3, db1, mail, alice1, carl1;
    char out[4096];
};

static int64_t
add_vm(struct fixture *f, const char *name, int64_t user, int64_t osf)
{
    struct qvd_model_vm v = {.name = name, .user_id = user, .osf_id = osf};
    int64_t id = -1;

    if (qvd_model_vm_add(f->db, f->cfg, &v, &id) < 0)
        fprintf(stderr, "vm_add %s: %s\n", name, qvd_strerror());
    return id;
}

static int
add_data(struct fixture *f)
{
    struct qvd_model_osf o = QVD_MODEL_OSF_UNSET;
    char src[128], path[160];
    int64_t di;

    snprintf(src, sizeof(src), "%s/image", f->dir);
    mkdir(src, 0755);
    snprintf(path, sizeof(path), "%s/hello", src);
    qvd_write_file(path, "hi\n", 3, 0644);
    if (qvd_model_tenant_add(f->db, f->cfg, "acme", NULL, &f->acme) < 0 ||
        qvd_model_tenant_add(f->db, f->cfg, "other", NULL, &f->other) < 0 ||
        qvd_model_user_add(f->db, f->cfg, f->acme, "bob", "x", NULL, &f->bob) < 0 ||
        qvd_model_user_add(f->db, f->cfg, f->acme, "alice", "x", NULL, &f->alice) < 0 ||
        qvd_model_user_set(f->db, f->cfg, f->alice, NULL, NULL, NULL, 1) < 0 ||
        qvd_model_user_add(f->db, f->cfg, f->other, "carl", "x", NULL, &f->carl) < 0)
        return -1;
    o.name = "desktop";
    if (qvd_model_osf_add(f->db, f->cfg, f->acme, &o, &f->desktop) < 0)
        return -1;
    o.name = "theirs";
    if (qvd_model_osf_add(f->db, f->cfg, f->other, &o, &f->theirs) < 0 ||
        qvd_model_di_add(f->db, f->cfg, f->desktop, src, "v1", NULL, &di) < 0 ||
        qvd_model_di_add(f->db, f->cfg, f->theirs, src, "v1", NULL, &di) < 0 ||
        qvd_model_host_add(f->db, f->cfg, "n1", "10.0.0.1", NULL, &f->n1) < 0 ||
        qvd_model_host_add(f->db, f->cfg, "n2", "10.0.0.2", NULL, &f->n2) < 0)
        return -1;
    f->web1 = add_vm(f, "web1", f->bob, f->desktop);
    f->web2 = add_vm(f, "web2", f->bob, f->desktop);
    f->web3 = add_vm(f, "WEB3", f->bob, f->desktop);
    f->db1 = add_vm(f, "db_1", f->bob, f->desktop);
    f->mail = add_vm(f, "mail", f->bob, f->desktop);
    f->alice1 = add_vm(f, "alice1", f->alice, f->desktop);
    f->carl1 = add_vm(f, "carl1", f->carl, f->theirs);
    if (f->carl1 < 0 || qvd_model_vm_set(f->db, f->cfg, f->web1, NULL, NULL, "a,b \"c\" \\d") < 0 ||
        qvd_model_vm_block(f->db, f->cfg, f->db1, true) < 0 ||
        qvd_db_exec(f->db,
                    "UPDATE vm_runtimes SET vm_state = 'running', host_id = ? WHERE vm_id = ?",
                    "ii", f->n1, f->web1) < 0 ||
        qvd_db_exec(f->db,
                    "UPDATE vm_runtimes SET vm_state = 'running', host_id = ? WHERE vm_id = ?",
                    "ii", f->n2, f->web2) < 0 ||
        qvd_db_exec(f->db, "UPDATE vm_runtimes SET vm_cmd = 'start' WHERE vm_id = ?", "i",
                    f->mail) < 0 ||
        qvd_db_exec(f->db,
                    "INSERT INTO administrators (tenant_id, name, password) VALUES (?,"
                    " 'root', 'x')",
                    "i", f->acme) < 0 ||
        qvd_db_exec(f->db,
                    "INSERT INTO administrator_roles (administrator_id, role_id)"
                    " SELECT a.id, r.id FROM administrators a, roles r"
                    " WHERE r.name IN ('reader', 'operator')",
                    NULL) < 0 ||
        qvd_db_exec(f->db,
                    "INSERT INTO audit_log (time, tenant_id, action, status)"
                    " VALUES (1, ?, 'vm.start', 200), (2, ?, 'login', 401)",
                    "ii", f->acme, f->other) < 0 ||
        qvd_model_config_set(f->db, f->cfg, f->acme, "vm.network.netmask", "255.255.0.0") < 0)
        return -1;
    return 0;
}

static int
setup(void **state)
{
    struct fixture *f = qvd_xcalloc(1, sizeof(*f));

    f->cfg = test_config_new("resource", f->dir, sizeof(f->dir));
    if (f->cfg == NULL)
        return -1;
    f->db = test_db_open(f->cfg);
    if (f->db == NULL || qvd_db_migrate(f->db) < 0 || add_data(f) < 0) {
        fprintf(stderr, "setup: %s\n", qvd_strerror());
        return -1;
    }
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

/* The `field` of every row of a list as "a,b,c", or "invalid: message" (the error kind and
 * message) when the list fails. */
static const char *
column(struct fixture *f, const char *res, const struct qvd_list_query *q, const char *field)
{
    const struct qvd_resource *r = qvd_resource_find(res);
    struct qvd_buf b = QVD_BUF_INIT;
    json_t *out, *row;
    size_t i;

    assert_non_null(r);
    if (qvd_resource_list(f->db, r, q, &out) < 0) {
        snprintf(f->out, sizeof(f->out), "%s: %s", qvd_model_errkind_name(qvd_model_errkind()),
                 qvd_strerror());
        return f->out;
    }
    json_array_foreach(json_object_get(out, "rows"), i, row)
    {
        json_t *v = json_object_get(row, field);
        char *s = json_dumps(v, JSON_ENCODE_ANY);

        qvd_buf_printf(&b, "%s%s", i ? "," : "", json_is_string(v) ? json_string_value(v) : s);
        free(s);
    }
    snprintf(f->out, sizeof(f->out), "%s", qvd_buf_str(&b));
    qvd_buf_free(&b);
    json_decref(out);
    return f->out;
}

/* The names of the rows a filter and an order give, in every tenant. */
static const char *
names(struct fixture *f, const char *res, const char *filter, const char *order)
{
    struct qvd_list_query q = {.filter = filter, .order = order, .limit = 1000};
    return column(f, res, &q, "name");
}

static const char *
vms(struct fixture *f, const char *filter)
{
    return names(f, "vms", filter, NULL);
}

/* ---- the grammar ---- */

static void
every_comparison_operator(void **state)
{
    struct fixture *f = *state;
    char flt[64];

    assert_string_equal(vms(f, "name=web1"), "web1");
    assert_string_equal(vms(f, "user=bob,name!=web1"), "web2,WEB3,db_1,mail");
    snprintf(flt, sizeof(flt), "id<%lld", (long long)f->web3);
    assert_string_equal(vms(f, flt), "web1,web2");
    snprintf(flt, sizeof(flt), "id<=%lld", (long long)f->web3);
    assert_string_equal(vms(f, flt), "web1,web2,WEB3");
    snprintf(flt, sizeof(flt), "id>%lld", (long long)f->alice1);
    assert_string_equal(vms(f, flt), "carl1");
    snprintf(flt, sizeof(flt), "id>=%lld", (long long)f->alice1);
    assert_string_equal(vms(f, flt), "alice1,carl1");
    assert_string_equal(vms(f, "user>=bob"), "web1,web2,WEB3,db_1,mail,carl1"); /* text too */
}

static void
match_is_case_insensitive_with_wildcards(void **state)
{
    struct fixture *f = *state;

    assert_string_equal(vms(f, "name~web*"), "web1,web2,WEB3");
    assert_string_equal(vms(f, "name~WEB%"), "web1,web2,WEB3");
    assert_string_equal(vms(f, "name~web_"), "web1,web2,WEB3");
    assert_string_equal(vms(f, "name~*_1"), "web1,db_1,alice1,carl1");
    assert_string_equal(vms(f, "name~web"), "");
    assert_string_equal(vms(f, "description~*\\d"), "web1"); /* a backslash is itself */
    assert_string_equal(vms(f, "id~1"), "invalid: filter: ~ needs a text field, 'id' is not one"
                                        " at offset 2");
}

static void
lists_and_ranges(void **state)
{
    struct fixture *f = *state;
    char flt[96];

    snprintf(flt, sizeof(flt), "id=[%lld,%lld]", (long long)f->web1, (long long)f->carl1);
    assert_string_equal(vms(f, flt), "web1,carl1");
    snprintf(flt, sizeof(flt), "user=bob,id!=[%lld, %lld]", (long long)f->web1, (long long)f->mail);
    assert_string_equal(vms(f, flt), "web2,WEB3,db_1");
    snprintf(flt, sizeof(flt), "id=[%lld:%lld]", (long long)f->web2, (long long)f->db1);
    assert_string_equal(vms(f, flt), "web2,WEB3,db_1");
    snprintf(flt, sizeof(flt), "user=bob,id!=[%lld:%lld]", (long long)f->web2, (long long)f->db1);
    assert_string_equal(vms(f, flt), "web1,mail");
    assert_string_equal(vms(f, "name=[mail,\"db_1\",nothing]"), "db_1,mail");
    assert_string_equal(vms(f, "name=[]"),
                        "invalid: filter: value expected, found ']' at offset 6");
    assert_string_equal(vms(f, "id=[1:2:3]"),
                        "invalid: filter: ',' or ']' expected, found ':' at offset 7");
    assert_string_equal(vms(f, "id=[1,null]"),
                        "invalid: filter: null cannot be in a list at offset 6");
}

static void
and_binds_tighter_than_or(void **state)
{
    struct fixture *f = *state;

    assert_string_equal(vms(f, "name=mail;user=bob,blocked=true"), "db_1,mail");
    assert_string_equal(vms(f, "(name=mail;user=bob),blocked=true"), "db_1");
    assert_string_equal(vms(f, "user=bob,!name~web*"), "db_1,mail");
    assert_string_equal(vms(f, "!(name~web*;user=bob)"), "alice1,carl1");
    assert_string_equal(vms(f, "!!name=mail"), "mail");
    assert_string_equal(vms(f, "!(!(name=mail))"), "mail");
    assert_string_equal(vms(f, " ( name = mail ; name = db_1 ) , tenant = acme "), "db_1,mail");
}

static void
quoted_values_keep_commas_quotes_and_backslashes(void **state)
{
    struct fixture *f = *state;

    assert_string_equal(vms(f, "description=\"a,b \\\"c\\\" \\\\d\""), "web1");
    assert_string_equal(vms(f, "name=\"null\""), "");
    assert_string_equal(vms(f, "name=\"web1"),
                        "invalid: filter: unterminated quoted value at offset 5");
    assert_string_equal(vms(f, "name=\"web\\1\""),
                        "invalid: filter: bad escape (only \\\" and \\\\) at offset 9");
    assert_string_equal(vms(f, "name=\"web1\"x"),
                        "invalid: filter: ',', ';' or the end expected, found 'x' at offset 11");
}

static void
null_columns_match_only_negations(void **state)
{
    struct fixture *f = *state;
    char flt[64];

    assert_string_equal(vms(f, "host=null"), "WEB3,db_1,mail,alice1,carl1");
    assert_string_equal(vms(f, "host!=null"), "web1,web2");
    assert_string_equal(vms(f, "cmd=start"), "mail");
    assert_string_equal(vms(f, "cmd!=start"), "web1,web2,WEB3,db_1,alice1,carl1");
    assert_string_equal(vms(f, "!cmd=start"), "web1,web2,WEB3,db_1,alice1,carl1");
    snprintf(flt, sizeof(flt), "host_id=%lld", (long long)f->n1);
    assert_string_equal(vms(f, flt), "web1");
    snprintf(flt, sizeof(flt), "host_id<%lld", (long long)f->n2);
    assert_string_equal(vms(f, flt), "web1");
    snprintf(flt, sizeof(flt), "!host_id<%lld", (long long)f->n2);
    assert_string_equal(vms(f, flt), "web2,WEB3,db_1,mail,alice1,carl1");
    assert_string_equal(vms(f, "host~n*"), "web1,web2");
    assert_string_equal(vms(f, "!host~n*"), "WEB3,db_1,mail,alice1,carl1");
    assert_string_equal(vms(f, "host<null"),
                        "invalid: filter: null goes only with = and != at offset 5");
}

static void
values_must_fit_the_field_type(void **state)
{
    struct fixture *f = *state;

    assert_string_equal(vms(f, "id=abc"),
                        "invalid: filter: field 'id' takes an integer, not 'abc' at offset 3");
    assert_string_equal(vms(f, "id=1x"),
                        "invalid: filter: field 'id' takes an integer, not '1x' at offset 3");
    assert_string_equal(vms(f, "id=99999999999999999999"),
                        "invalid: filter: field 'id' takes an integer, not"
                        " '99999999999999999999' at offset 3");
    assert_string_equal(vms(f, "id=-3"), "");
    assert_string_equal(vms(f, "blocked=yes"),
                        "invalid: filter: field 'blocked' takes 0, 1, true or false, not 'yes'"
                        " at offset 8");
    assert_string_equal(vms(f, "blocked=1"), "db_1");
    assert_string_equal(vms(f, "blocked=false,user=bob"), "web1,web2,WEB3,mail");
    assert_string_equal(vms(f, "name="), "invalid: filter: value expected, found the end"
                                         " at offset 5");
    assert_string_equal(vms(f, "name"), "invalid: filter: operator (= != < > <= >= ~) expected"
                                        " after 'name', found the end at offset 4");
}

/* ---- fields, order and visibility ---- */

static void
unknown_fields_are_invalid(void **state)
{
    struct fixture *f = *state;
    struct qvd_list_query q = {.fields = "id,nope", .limit = 10};

    assert_string_equal(vms(f, "nope=1"), "invalid: filter: vms have no field 'nope' (at"
                                          " offset 0)");
    assert_string_equal(names(f, "vms", NULL, "name,-nope"),
                        "invalid: order: vms have no field 'nope' (at offset 5)");
    assert_string_equal(column(f, "vms", &q, "id"),
                        "invalid: fields: vms have no field 'nope' (at offset 3)");
    assert_string_equal(names(f, "vms", NULL, "name,,id"),
                        "invalid: order: field name expected at offset 5");
}

/* The caller of these tests may see no ip, and no state (of any resource). */
static bool
no_ip_nor_state(void *arg, const struct qvd_resource *r, const struct qvd_field *fl)
{
    (void)arg;
    (void)r;
    return strcmp(fl->name, "ip") != 0 && strcmp(fl->name, "state") != 0;
}

static void
invisible_fields_are_forbidden(void **state)
{
    struct fixture *f = *state;
    struct qvd_list_query q = {.filter = "ip=10.0.0.1", .limit = 10, .visible = no_ip_nor_state};
    json_t *out, *row;

    assert_string_equal(column(f, "vms", &q, "name"),
                        "forbidden: filter: field 'ip' of vms may not be seen");
    q.filter = "name=web1;!(state=running)";
    assert_string_equal(column(f, "vms", &q, "name"),
                        "forbidden: filter: field 'state' of vms may not be seen");
    q.filter = NULL;
    q.order = "-ip";
    assert_string_equal(column(f, "vms", &q, "name"),
                        "forbidden: order: field 'ip' of vms may not be seen");
    q.order = NULL;
    q.fields = "name,ip";
    assert_string_equal(column(f, "vms", &q, "name"),
                        "forbidden: fields: field 'ip' of vms may not be seen");
    /* without fields: every field the caller may see */
    q.fields = NULL;
    q.filter = "name=web1";
    assert_int_equal(qvd_resource_list(f->db, qvd_resource_find("vms"), &q, &out), 0);
    row = json_array_get(json_object_get(out, "rows"), 0);
    assert_non_null(json_object_get(row, "mac"));
    assert_null(json_object_get(row, "ip"));
    assert_null(json_object_get(row, "state"));
    json_decref(out);
}

static void
rows_have_the_chosen_fields_typed(void **state)
{
    struct fixture *f = *state;
    struct qvd_list_query q = {
        .filter = "name=web1", .fields = "name, blocked,host_id ,cmd,name", .limit = 10};
    json_t *out, *row;

    assert_int_equal(qvd_resource_list(f->db, qvd_resource_find("vms"), &q, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 0); /* count not asked */
    assert_null(json_object_get(out, "total"));
    row = json_array_get(json_object_get(out, "rows"), 0);
    assert_int_equal(json_object_size(row), 4);
    assert_string_equal(json_string_value(json_object_get(row, "name")), "web1");
    assert_true(json_is_false(json_object_get(row, "blocked")));
    assert_int_equal(json_integer_value(json_object_get(row, "host_id")), f->n1);
    assert_true(json_is_null(json_object_get(row, "cmd")));
    json_decref(out);
    /* the tags of a DI, fixed (the version) first */
    q = (struct qvd_list_query){.fields = "tags", .limit = 1};
    assert_string_equal(column(f, "dis", &q, "tags"), "v1,default,head");
}

static void
order_by_fields_then_id(void **state)
{
    struct fixture *f = *state;

    /* (no mixed case: PostgreSQL sorts text by its collation) */
    assert_string_equal(names(f, "vms", "user=bob,name!=WEB3", "-name"), "web2,web1,mail,db_1");
    assert_string_equal(names(f, "vms", NULL, "tenant,-user"),
                        "web1,web2,WEB3,db_1,mail,alice1,carl1");
    assert_string_equal(names(f, "vms", NULL, "-tenant"), "carl1,web1,web2,WEB3,db_1,mail,alice1");
    assert_string_equal(names(f, "vms", NULL, "-id"), "carl1,alice1,mail,db_1,WEB3,web2,web1");
    assert_string_equal(names(f, "users", NULL, "-vms"), "bob,alice,carl");
    /* the log comes newest first, configs by tenant and key */
    struct qvd_list_query q = {.limit = 10};
    assert_string_equal(column(f, "log", &q, "action"), "login,vm.start");
    assert_string_equal(column(f, "configs", &q, "key"), "vm.network.netmask");
}

static void
pages_are_stable_and_counted(void **state)
{
    struct fixture *f = *state;
    struct qvd_list_query q = {.order = "user,blocked", .limit = 2, .count = true};
    struct qvd_buf all = QVD_BUF_INIT;
    json_t *out;

    for (q.offset = 0; q.offset < 8; q.offset += 2) {
        assert_int_equal(qvd_resource_list(f->db, qvd_resource_find("vms"), &q, &out), 0);
        assert_int_equal(json_integer_value(json_object_get(out, "total")), 7);
        assert_int_equal(json_integer_value(json_object_get(out, "offset")), q.offset);
        assert_int_equal(json_integer_value(json_object_get(out, "limit")), 2);
        json_t *row;
        size_t i;
        json_array_foreach(json_object_get(out, "rows"), i, row)
            qvd_buf_printf(&all, "%s,", json_string_value(json_object_get(row, "name")));
        json_decref(out);
    }
    /* alice < bob < carl; bob's blocked db_1 last of his, the rest by id */
    assert_string_equal(qvd_buf_str(&all), "alice1,web1,web2,WEB3,mail,db_1,carl1,");
    qvd_buf_free(&all);
    q.filter = "name~web*";
    q.offset = 0;
    assert_int_equal(qvd_resource_list(f->db, qvd_resource_find("vms"), &q, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
    assert_int_equal(json_array_size(json_object_get(out, "rows")), 2);
    json_decref(out);
    /* past the end: no rows, still the total */
    q.offset = 100;
    assert_int_equal(qvd_resource_list(f->db, qvd_resource_find("vms"), &q, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
    assert_int_equal(json_array_size(json_object_get(out, "rows")), 0);
    json_decref(out);
    q.offset = 0;
    q.filter = "name=nothing";
    assert_int_equal(qvd_resource_list(f->db, qvd_resource_find("vms"), &q, &out), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "total")), 0);
    json_decref(out);
}

/* ---- tenants ---- */

static void
rows_of_other_tenants_do_not_exist(void **state)
{
    struct fixture *f = *state;
    int64_t tenants[] = {f->acme, QVD_TENANT_COMMON};
    struct qvd_list_query q = {.limit = 100, .tenants = tenants, .ntenants = 2, .count = true};
    const struct qvd_resource *r = qvd_resource_find("vms");
    json_t *out;
    int64_t t;

    assert_string_equal(column(f, "vms", &q, "name"), "web1,web2,WEB3,db_1,mail,alice1");
    q.filter = "name=carl1;tenant=other";
    assert_string_equal(column(f, "vms", &q, "name"), "");
    q.filter = NULL;
    assert_string_equal(column(f, "users", &q, "name"), "bob,alice");
    assert_string_equal(column(f, "osfs", &q, "name"), "desktop");
    assert_string_equal(column(f, "tenants", &q, "name"), "-,acme");
    assert_string_equal(column(f, "log", &q, "action"), "vm.start");
    assert_string_equal(column(f, "hosts", &q, "name"), "n1,n2"); /* not per tenant */
    assert_string_equal(column(f, "roles", &q, "name"), "master,reader,operator");
    assert_int_equal(qvd_resource_get(f->db, r, f->web1, &q, &out), 0);
    assert_string_equal(json_string_value(json_object_get(out, "name")), "web1");
    assert_string_equal(json_string_value(json_object_get(out, "tenant")), "acme");
    json_decref(out);
    assert_int_equal(qvd_resource_get(f->db, r, f->carl1, &q, &out), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_NOT_FOUND);
    assert_null(out);
    q.ntenants = 0; /* no tenant at all: nothing */
    assert_string_equal(column(f, "vms", &q, "name"), "");
    /* the tenant of a row, whoever asks */
    assert_int_equal(qvd_resource_tenant(f->db, r, f->carl1, &t), 1);
    assert_int_equal(t, f->other);
    assert_int_equal(qvd_resource_tenant(f->db, qvd_resource_find("dis"), 1, &t), 1);
    assert_int_equal(t, f->acme);
    assert_int_equal(qvd_resource_tenant(f->db, qvd_resource_find("hosts"), f->n1, &t), 1);
    assert_int_equal(t, -2);
    assert_int_equal(qvd_resource_tenant(f->db, r, 999999, &t), 0);
    assert_int_equal(qvd_resource_tenant(f->db, qvd_resource_find("configs"), 1, &t), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
}

/* ---- every resource ---- */

/* A value of the field's type for filters. */
static const char *
sample(const struct qvd_field *fl)
{
    return fl->type == QVD_FIELD_INT ? "1" : fl->type == QVD_FIELD_BOOL ? "true" : "x";
}

static void
every_field_of_every_resource_lists_filters_and_orders(void **state)
{
    struct fixture *f = *state;
    char flt[256];
    json_t *out;

    for (size_t i = 0; qvd_resources[i] != NULL; i++) {
        const struct qvd_resource *r = qvd_resources[i];
        struct qvd_list_query q = {.limit = 5, .count = true};

        assert_ptr_equal(qvd_resource_find(r->name), r);
        if (qvd_resource_list(f->db, r, &q, &out) < 0)
            fail_msg("%s: %s", r->name, qvd_strerror());
        assert_true(json_integer_value(json_object_get(out, "total")) > 0);
        json_decref(out);
        for (size_t k = 0; k < r->nfields; k++) {
            const struct qvd_field *fl = &r->fields[k];
            snprintf(flt, sizeof(flt), "%s=%s;%s!=%s,!%s=[%s:%s];%s=null%s%s%s", fl->name,
                     sample(fl), fl->name, sample(fl), fl->name, sample(fl), sample(fl), fl->name,
                     fl->type == QVD_FIELD_TEXT ? ";" : "",
                     fl->type == QVD_FIELD_TEXT ? fl->name : "",
                     fl->type == QVD_FIELD_TEXT ? "~*x*" : "");
            q.filter = flt;
            q.order = fl->name;
            q.fields = fl->name;
            if (qvd_resource_list(f->db, r, &q, &out) < 0)
                fail_msg("%s %s: %s", r->name, flt, qvd_strerror());
            json_decref(out);
        }
        if (r->id_sql != NULL) {
            q = (struct qvd_list_query){.limit = 1};
            assert_int_equal(qvd_resource_list(f->db, r, &q, &out), 0);
            json_int_t id = json_integer_value(
                json_object_get(json_array_get(json_object_get(out, "rows"), 0), "id"));
            json_decref(out);
            if (qvd_resource_get(f->db, r, id, &q, &out) < 0)
                fail_msg("get %s %lld: %s", r->name, (long long)id, qvd_strerror());
            assert_int_equal(json_integer_value(json_object_get(out, "id")), id);
            assert_int_equal(json_object_size(out), r->nfields);
            json_decref(out);
        } else {
            assert_int_equal(qvd_resource_get(f->db, r, 1, &q, &out), -1);
            assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
        }
    }
}

/* ---- hostile input ---- */

static void
injection_is_bound_or_refused(void **state)
{
    struct fixture *f = *state;
    struct qvd_list_query q = {.limit = 10};
    int64_t n = 0;

    assert_string_equal(vms(f, "name=x' OR '1'='1"), "");
    assert_string_equal(vms(f, "name=\"x' OR 1=1 --\""), "");
    assert_string_equal(vms(f, "name~%' OR name LIKE '%"), "");
    assert_string_equal(vms(f, "name=\"web1'); DROP TABLE vms; --\""), "");
    assert_string_equal(vms(f, "name=web1'); DROP TABLE vms; --"),
                        "invalid: filter: ',', ';' or the end expected, found ')' at offset 10");
    assert_string_equal(vms(f, "name=?"), "");
    assert_string_equal(vms(f, "id=1 OR 1=1"),
                        "invalid: filter: field 'id' takes an integer, not '1 OR 1=1' at"
                        " offset 3");
    assert_string_equal(vms(f, "name;DROP TABLE vms=1"),
                        "invalid: filter: operator (= != < > <= >= ~) expected after 'name',"
                        " found ';' at offset 4");
    assert_string_equal(vms(f, "v.name=web1"),
                        "invalid: filter: vms have no field 'v' (at offset 0)");
    assert_string_equal(names(f, "vms", NULL, "id;DROP TABLE vms"),
                        "invalid: order: ',' expected at offset 2");
    assert_string_equal(names(f, "vms", NULL, "(SELECT 1)"),
                        "invalid: order: field name expected at offset 0");
    q.fields = "id,name FROM vms; --";
    assert_string_equal(column(f, "vms", &q, "id"), "invalid: fields: ',' expected at offset 8");
    assert_int_equal(qvd_db_get_int(f->db, &n, "SELECT count(*) FROM vms", NULL), 1);
    assert_int_equal(n, 7);
}

static void
limits_are_refused_with_a_reason(void **state)
{
    struct fixture *f = *state;
    struct qvd_list_query q = {.limit = 0};
    struct qvd_buf b = QVD_BUF_INIT;

    assert_string_equal(column(f, "vms", &q, "id"),
                        "invalid: offset must be 0 or more and limit 1 to 1000");
    q.limit = QVD_LIST_MAX_LIMIT + 1;
    assert_string_equal(column(f, "vms", &q, "id"),
                        "invalid: offset must be 0 or more and limit 1 to 1000");
    q.limit = 1, q.offset = -1;
    assert_string_equal(column(f, "vms", &q, "id"),
                        "invalid: offset must be 0 or more and limit 1 to 1000");
    /* length */
    qvd_buf_adds(&b, "name=");
    while (b.len <= QVD_LIST_MAX_FILTER)
        qvd_buf_addc(&b, 'x');
    assert_string_equal(vms(f, qvd_buf_str(&b)), "invalid: filter: longer than 4096 bytes");
    /* depth: 32 levels pass, 33 do not */
    qvd_buf_reset(&b);
    for (int i = 0; i < 32; i++)
        qvd_buf_adds(&b, i % 2 ? "!" : "(");
    qvd_buf_adds(&b, "name=mail");
    for (int i = 0; i < 16; i++)
        qvd_buf_addc(&b, ')');
    assert_string_equal(vms(f, qvd_buf_str(&b)), "mail");
    qvd_buf_reset(&b);
    for (int i = 0; i < 33; i++)
        qvd_buf_addc(&b, '!');
    qvd_buf_adds(&b, "name=mail");
    assert_string_equal(vms(f, qvd_buf_str(&b)), "invalid: filter: nested deeper than 32 at"
                                                 " offset 32");
    /* terms: 256 pass, 257 do not */
    qvd_buf_reset(&b);
    for (int i = 0; i < 256; i++)
        qvd_buf_adds(&b, i ? ";id=0" : "id=0");
    assert_string_equal(vms(f, qvd_buf_str(&b)), "");
    qvd_buf_adds(&b, ";id=0");
    assert_string_equal(vms(f, qvd_buf_str(&b)), "invalid: filter: more than 256 terms at"
                                                 " offset 1280");
    /* list values: 1000 pass, 1001 do not */
    qvd_buf_reset(&b);
    qvd_buf_printf(&b, "id=[%lld", (long long)f->mail);
    for (int i = 1; i < 1000; i++)
        qvd_buf_adds(&b, ",0");
    qvd_buf_addc(&b, ']');
    assert_string_equal(vms(f, qvd_buf_str(&b)), "mail");
    b.data[--b.len] = '\0';
    qvd_buf_adds(&b, ",0]");
    assert_string_equal(vms(f, qvd_buf_str(&b)), "invalid: filter: more than 1000 values in a"
                                                 " list at offset 2004");
    qvd_buf_free(&b);
}

/* ---- the SQL itself ---- */

static void
count_joins_only_what_the_filter_needs(void **state)
{
    const struct qvd_resource *r = qvd_resource_find("vms");
    struct qvd_list_query q = {
        .filter = "name~web*", .fields = "id,name", .limit = 10, .count = true};
    struct qvd_filter_list l;

    (void)state;
    assert_int_equal(qvd_filter_list_build(r, &q, "group_concat", NULL, &l), 0);
    assert_null(strstr(qvd_buf_str(&l.count.text), "JOIN"));
    assert_null(strstr(qvd_buf_str(&l.page.text), "JOIN users"));
    assert_null(strstr(qvd_buf_str(&l.page.text), "web"));
    assert_int_equal(l.count.nparams, 1);
    qvd_filter_list_free(&l);
    /* the host's name needs the runtime and the host; the tenant scope needs the user */
    int64_t t = 1;
    q = (struct qvd_list_query){
        .filter = "host=n1", .limit = 10, .count = true, .tenants = &t, .ntenants = 1};
    assert_int_equal(qvd_filter_list_build(r, &q, "group_concat", NULL, &l), 0);
    assert_string_equal(qvd_buf_str(&l.count.text),
                        "SELECT count(*) FROM vms v JOIN users u ON u.id = v.user_id"
                        " LEFT JOIN vm_runtimes r ON r.vm_id = v.id"
                        " LEFT JOIN hosts h ON h.id = r.host_id"
                        " WHERE u.tenant_id IN (?) AND h.name = ?");
    qvd_filter_list_free(&l);
}

/* ---- the one validation of create and update bodies ---- */

/* The check of `body` (JSON text) for r: 0, or -1 with the code and a message naming `name`. */
static void
refused(const char *res, const char *body, unsigned how, const char *code, const char *name)
{
    json_t *v = json_loads(body, 0, NULL);
    const char *c = NULL;

    assert_non_null(v);
    assert_int_equal(qvd_resource_check(qvd_resource_find(res), v, how, &c), -1);
    assert_int_equal(qvd_model_errkind(), QVD_MODEL_INVALID);
    assert_string_equal(c, code);
    assert_non_null(strstr(qvd_strerror(), name));
    json_decref(v);
}

static void
accepted(const char *res, const char *body, unsigned how)
{
    json_t *v = json_loads(body, 0, NULL);
    assert_int_equal(qvd_resource_check(qvd_resource_find(res), v, how, NULL), 0);
    json_decref(v);
}

static void
bodies_are_checked_against_the_description(void **state)
{
    (void)state;
    accepted("osfs", "{\"name\": \"d\", \"memory\": 512, \"use_overlay\": 1}", QVD_CHECK_CREATE);
    refused("osfs", "{\"name\": \"d\", \"memory\": -1}", QVD_CHECK_CREATE, "invalid",
            "member 'memory' is -1: give 16..1048576");
    refused("osfs", "{\"memory\": \"lots\"}", 0, "wrong_type",
            "member 'memory' must be an integer");
    refused("osfs", "{\"use_overlay\": 2}", 0, "wrong_type", "use_overlay");
    refused("osfs", "{\"memory\": 512}", QVD_CHECK_CREATE, "missing_field", "member 'name'");
    accepted("osfs", "{\"memory\": 512}", QVD_CHECK_CREATE | QVD_CHECK_PARTIAL);
    refused("osfs", "{\"tenant_id\": 2}", 0, "unknown_field", "tenant_id"); /* not on update */
    refused("users", "{\"name\": \" bob\"}", 0, "invalid", "member 'name' starts or ends");
    refused("users", "{\"language\": \"fr\"}", 0, "invalid", "es,en,auto,default");
    refused("users", "{\"name\": \"\"}", 0, "invalid", "member 'name' is empty");
    accepted("users", "{\"name\": \"bob\", \"password\": \"pw\"}", QVD_CHECK_CREATE);
    refused("users", "{\"name\": \"bob\"}", QVD_CHECK_CREATE, "missing_field", "password");
    refused("tags", "{\"tag\": \"x\"}", 0, "unknown_field", "tag"); /* read-only */
    /* every writable member has limits that let something through */
    for (size_t i = 0; qvd_resources[i] != NULL; i++)
        for (size_t f = 0; f < qvd_resources[i]->nfields; f++) {
            const struct qvd_field *fl = &qvd_resources[i]->fields[f];
            if (fl->flags & QVD_FIELD_WRITE && fl->type != QVD_FIELD_BOOL)
                assert_true(fl->min <= fl->max && fl->max > 0);
        }
}

#define T(name) cmocka_unit_test(name)

int
main(void)
{
    qvd_log_init("test-resource", QVD_LOG_WARN, NULL);
    const struct CMUnitTest tests[] = {
        T(every_comparison_operator),
        T(match_is_case_insensitive_with_wildcards),
        T(lists_and_ranges),
        T(and_binds_tighter_than_or),
        T(quoted_values_keep_commas_quotes_and_backslashes),
        T(null_columns_match_only_negations),
        T(values_must_fit_the_field_type),
        T(unknown_fields_are_invalid),
        T(invisible_fields_are_forbidden),
        T(rows_have_the_chosen_fields_typed),
        T(order_by_fields_then_id),
        T(pages_are_stable_and_counted),
        T(rows_of_other_tenants_do_not_exist),
        T(every_field_of_every_resource_lists_filters_and_orders),
        T(injection_is_bound_or_refused),
        T(limits_are_refused_with_a_reason),
        T(count_joins_only_what_the_filter_needs),
        T(bodies_are_checked_against_the_description),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

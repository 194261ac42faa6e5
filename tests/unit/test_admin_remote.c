/* test_admin_remote.c: qvd-admin's remote mode without a server: the command line turned
 * into filters, orders, list queries, JSON bodies and requests; global options, qa.conf and
 * URLs; the token file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../src/admin/admin.h"
#include "err.h"
#include "util.h"

static char tmpdir[64];

static int
setup_dir(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/qvd-test-admin.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int
teardown_dir(void **state)
{
    qvd_rm_rf(tmpdir);
    return 0;
}

/* Parses a command line given as one string of space-separated words (no quoting). */
struct line {
    char *buf;
    char *argv[32];
    int argc;
};

static int
parse(struct line *l, const char *text, struct remote_cmd *cmd)
{
    char *save = NULL;

    l->buf = qvd_xstrdup(text);
    l->argc = 0;
    for (char *w = strtok_r(l->buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
        l->argv[l->argc++] = w;
    l->argv[l->argc] = NULL;
    return remote_parse(l->argc, l->argv, cmd);
}

static void
done(struct line *l, struct remote_cmd *cmd)
{
    remote_cmd_free(cmd);
    free(l->buf);
}

/* The filter a command line gives (or NULL), the command parsed fine. */
static char *
filter_of(const char *text)
{
    struct line l;
    struct remote_cmd cmd;
    char *f;

    assert_int_equal(parse(&l, text, &cmd), ADMIN_OK);
    f = cmd.filter ? qvd_xstrdup(cmd.filter) : NULL;
    done(&l, &cmd);
    return f;
}

#define assert_filter(text, want)                                                                  \
    do {                                                                                           \
        char *f_ = filter_of(text);                                                                \
        assert_non_null(f_);                                                                       \
        assert_string_equal(f_, want);                                                             \
        free(f_);                                                                                  \
    } while (0)

/* ---- splitting the command line ---- */

static void
object_and_verb_without_filter(void **state)
{
    struct line l;
    struct remote_cmd cmd;

    assert_int_equal(parse(&l, "vm get", &cmd), ADMIN_OK);
    assert_string_equal(cmd.obj->resource, "vms");
    assert_int_equal(cmd.verb, RV_GET);
    assert_null(cmd.filter);
    assert_null(cmd.order);
    assert_null(cmd.fields);
    done(&l, &cmd);
}

static void
bare_word_is_the_name_filter(void **state)
{
    assert_filter("vm web1 get", "name=web1");
    assert_filter("user bob get", "name=bob");
    assert_filter("host node1 block", "name=node1");
}

static void
bare_word_field_depends_on_the_object(void **state)
{
    assert_filter("di 2024-01-01-001 get", "version=2024-01-01-001");
    assert_filter("tag head get", "tag=head");
    assert_filter("config vm.network.bridge get", "key=vm.network.bridge");
}

static void
bare_word_with_a_star_is_a_pattern(void **state)
{
    assert_filter("vm web* get", "name~web*");
}

static void
bare_word_login_at_tenant_names_a_user(void **state)
{
    assert_filter("user bob@acme get", "(name=bob,tenant=acme)");
    assert_filter("admin root@* get", "(name=root,tenant=*)");
    assert_filter("user bo*@acme get", "(name~bo*,tenant=acme)");
    assert_filter("osf desktop@- get", "(name=desktop,tenant=-)");
    assert_filter("vm a@b get", "name=a@b");
}

static void
filter_words_are_joined_at_operators_and_anded_otherwise(void **state)
{
    assert_filter("vm name=a, state=running get", "name=a,state=running");
    assert_filter("vm name=a state=running get", "name=a,state=running");
    assert_filter("vm name = a get", "name=a");
    assert_filter("vm state != running get", "state!=running");
    assert_filter("vm ( state=running ; state=stopped ) , blocked=0 get",
                  "(state=running;state=stopped),blocked=0");
    assert_filter("vm !state=running get", "!state=running");
}

static void
lists_and_ranges_pass_through(void **state)
{
    assert_filter("vm id=[1,5,9] get", "id=[1,5,9]");
    assert_filter("vm id=[1:3] del", "id=[1:3]");
    assert_filter("vm id!=[1,2],web1 get", "id!=[1,2],name=web1");
}

static void
bare_words_inside_an_expression_are_names_too(void **state)
{
    assert_filter("vm web1;web2 get", "name=web1;name=web2");
    assert_filter("vm !(web1;web2) get", "!(name=web1;name=web2)");
}

static void
field_aliases_apply_in_filters(void **state)
{
    assert_filter("vm tag=head get", "di_tag=head");
    assert_filter("user login~bo* get", "name~bo*");
}

static void
quoted_values_are_kept(void **state)
{
    assert_filter("vm name=\"a,b\" get", "name=\"a,b\"");
    assert_filter("vm \"a;b\" get", "name=\"a;b\"");
}

static void
filter_term_quotes_when_needed(void **state)
{
    char *t = remote_filter_term("name", "=", "plain");
    assert_string_equal(t, "name=plain");
    free(t);
    t = remote_filter_term("name", "=", "my vm, \"x\"");
    assert_string_equal(t, "name=\"my vm, \\\"x\\\"\"");
    free(t);
    t = remote_filter_term("name", "=", "");
    assert_string_equal(t, "name=\"\"");
    free(t);
}

static void
a_name_that_is_a_verb_is_a_filter_before_a_verb(void **state)
{
    struct line l;
    struct remote_cmd cmd;

    assert_int_equal(parse(&l, "vm stop stop", &cmd), ADMIN_OK);
    assert_int_equal(cmd.verb, RV_STOP);
    assert_string_equal(cmd.filter, "name=stop");
    done(&l, &cmd);
}

static void
unknown_object_or_missing_verb_is_a_usage_error(void **state)
{
    struct line l;
    struct remote_cmd cmd;

    assert_int_equal(parse(&l, "frob get", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "vm web1", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    /* a verb of another object */
    assert_int_equal(parse(&l, "osf desktop start", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "acl new name=x", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
}

static void
verb_arguments_are_checked(void **state)
{
    struct line l;
    struct remote_cmd cmd;

    assert_int_equal(parse(&l, "vm web1 start now", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "vm web1 set name", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "vm web1 new name=x", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "di x tag", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "admin a assign ops", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "role r grant", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "role r revoke acl=x positive=0", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "vm get state=running", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "config vm.x set", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "config key~vm.* del", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "property frob x get", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
}

/* ---- order and fields ---- */

static void
order_clause_becomes_the_api_order(void **state)
{
    struct line l;
    struct remote_cmd cmd;

    assert_int_equal(parse(&l, "vm get order desc id name", &cmd), ADMIN_OK);
    assert_string_equal(cmd.order, "-id,-name");
    done(&l, &cmd);
    assert_int_equal(parse(&l, "vm get id,name order name", &cmd), ADMIN_OK);
    assert_string_equal(cmd.order, "name");
    assert_string_equal(cmd.fields, "id,name");
    done(&l, &cmd);
    assert_int_equal(parse(&l, "vm web* stop order asc name desc id,tag", &cmd), ADMIN_OK);
    assert_string_equal(cmd.order, "name,-id,-di_tag");
    assert_int_equal(cmd.nargs, 0);
    done(&l, &cmd);
    assert_int_equal(parse(&l, "vm get order desc", &cmd), ADMIN_USAGE);
    done(&l, &cmd);
}

static void
get_fields_are_joined_with_aliases(void **state)
{
    struct line l;
    struct remote_cmd cmd;

    assert_int_equal(parse(&l, "vm get id name,tag", &cmd), ADMIN_OK);
    assert_string_equal(cmd.fields, "id,name,di_tag");
    done(&l, &cmd);
}

/* ---- list queries ---- */

static void
list_target_carries_filter_order_fields_and_page(void **state)
{
    struct line l;
    struct remote_cmd cmd;
    char *t;

    assert_int_equal(parse(&l, "vm web1 get id,name order desc id", &cmd), ADMIN_OK);
    t = remote_list_target(cmd.obj, cmd.filter, cmd.order, cmd.fields, 0, 1000);
    assert_string_equal(t, "/api/v1/vms?filter=name%3Dweb1&order=-id&fields=id%2Cname"
                           "&offset=0&limit=1000&count=0");
    free(t);
    done(&l, &cmd);
    t = remote_list_target(remote_object_find("admin"), NULL, NULL, NULL, 2000, 5);
    assert_string_equal(t, "/api/v1/administrators?offset=2000&limit=5&count=0");
    free(t);
}

/* ---- bodies ---- */

static json_t *
body_of(const char *text)
{
    struct line l;
    struct remote_cmd cmd;
    json_t *b = NULL;

    assert_int_equal(parse(&l, text, &cmd), ADMIN_OK);
    assert_int_equal(remote_args_body(&cmd, NULL, &b), ADMIN_OK);
    done(&l, &cmd);
    return b;
}

static void
assert_json(json_t *j, const char *want)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, want);
    free(s);
    json_decref(j);
}

static void
new_body_types_integers_booleans_and_references(void **state)
{
    assert_json(body_of("vm new name=x user=5 osf=desktop tag=head"),
                "{\"di_tag\":\"head\",\"name\":\"x\",\"osf\":\"desktop\",\"user_id\":5}");
    assert_json(body_of("osf new name=d tenant=acme memory=512 use_overlay=no is_application=1"
                        " user_storage_size=0 description=123"),
                "{\"description\":\"123\",\"is_application\":true,\"memory\":512,\"name\":\"d\","
                "\"tenant\":\"acme\",\"use_overlay\":false,\"user_storage_size\":0}");
    assert_json(body_of("host new name=n address=10.0.0.1 backend=true"),
                "{\"address\":\"10.0.0.1\",\"backend\":true,\"name\":\"n\"}");
    assert_json(body_of("osf new name=d tenant_id=-1"), "{\"name\":\"d\",\"tenant_id\":-1}");
}

static void
new_user_at_tenant_splits_the_login(void **state)
{
    assert_json(body_of("user new name=bob@acme password=pw"),
                "{\"name\":\"bob\",\"password\":\"pw\",\"tenant\":\"acme\"}");
    assert_json(body_of("admin new login=root@* password=pw"),
                "{\"name\":\"root\",\"password\":\"pw\",\"tenant\":\"*\"}");
    /* an explicit tenant wins: the name stays whole */
    assert_json(body_of("user new name=a@b tenant_id=3"), "{\"name\":\"a@b\",\"tenant_id\":3}");
}

/* A value not of its field's type goes to qvd-api as a string, which refuses it with the
 * sentence of every front-end (the description's check); a field given twice is a usage
 * error. */
static void
bad_values_for_typed_fields_go_as_strings(void **state)
{
    const char *bad[] = {"osf new name=d memory=lots", "host new name=n backend=maybe"};
    const char *key[] = {"memory", "backend"};
    struct line l;
    struct remote_cmd cmd;
    json_t *b = NULL;

    for (size_t i = 0; i < QVD_ARRAY_LEN(bad); i++) {
        assert_int_equal(parse(&l, bad[i], &cmd), ADMIN_OK);
        assert_int_equal(remote_args_body(&cmd, NULL, &b), ADMIN_OK);
        assert_true(json_is_string(json_object_get(b, key[i])));
        json_decref(b);
        b = NULL;
        done(&l, &cmd);
    }
    assert_int_equal(parse(&l, "vm new name=a name=b", &cmd), ADMIN_OK);
    assert_int_equal(remote_args_body(&cmd, NULL, &b), ADMIN_USAGE);
    assert_null(b);
    done(&l, &cmd);
}

/* ---- requests on objects ---- */

/* The steps of a command line on object 7, as "METHOD target body" lines. */
static char *
steps_of(const char *text, json_t *body)
{
    struct line l;
    struct remote_cmd cmd;
    struct remote_step *steps;
    struct qvd_buf out = QVD_BUF_INIT;
    int n;

    assert_int_equal(parse(&l, text, &cmd), ADMIN_OK);
    n = remote_steps(&cmd, 7, body, &steps);
    for (int i = 0; i < n; i++) {
        char *b = steps[i].body ? json_dumps(steps[i].body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        qvd_buf_printf(&out, "%s%s %s%s%s", i ? "\n" : "", steps[i].method, steps[i].target,
                       b ? " " : "", b ? b : "");
        free(b);
    }
    remote_steps_free(steps, n);
    done(&l, &cmd);
    json_decref(body);
    return qvd_buf_steal(&out);
}

#define assert_steps(text, body, want)                                                             \
    do {                                                                                           \
        char *s_ = steps_of(text, body);                                                           \
        assert_string_equal(s_, want);                                                             \
        free(s_);                                                                                  \
    } while (0)

static void
simple_verbs_post_their_action(void **state)
{
    assert_steps("vm web1 start", NULL, "POST /api/v1/vms/7/start");
    assert_steps("vm stop", NULL, "POST /api/v1/vms/7/stop");
    assert_steps("vm disconnect", NULL, "POST /api/v1/vms/7/disconnect");
    assert_steps("tenant acme block", NULL, "POST /api/v1/tenants/7/block");
    assert_steps("di x publish", NULL, "POST /api/v1/dis/7/publish");
}

static void
set_patches_and_del_deletes(void **state)
{
    assert_steps("vm web1 set name=x", json_pack("{s:s}", "name", "x"),
                 "PATCH /api/v1/vms/7 {\"name\":\"x\"}");
    assert_steps("admin del", NULL, "DELETE /api/v1/administrators/7");
}

static void
tag_lists_give_one_request_per_tag(void **state)
{
    assert_steps("di x tag head,beta", NULL,
                 "POST /api/v1/dis/7/tag {\"tag\":\"head\"}\n"
                 "POST /api/v1/dis/7/tag {\"tag\":\"beta\"}");
    assert_steps("di x untag tag=old", NULL, "POST /api/v1/dis/7/untag {\"tag\":\"old\"}");
}

static void
grant_and_revoke_carry_acls(void **state)
{
    assert_steps("role ops grant acl=vm.*,user.see", NULL,
                 "POST /api/v1/roles/7/grant {\"acl\":\"vm.*\",\"positive\":true}\n"
                 "POST /api/v1/roles/7/grant {\"acl\":\"user.see\",\"positive\":true}");
    assert_steps("role ops grant acl=vm.delete positive=0", NULL,
                 "POST /api/v1/roles/7/grant {\"acl\":\"vm.delete\",\"positive\":false}");
    assert_steps("role ops revoke acl=vm.*", NULL,
                 "POST /api/v1/roles/7/revoke {\"acl\":\"vm.*\"}");
}

static void
assign_and_inherit_send_the_resolved_role(void **state)
{
    assert_steps("admin bob assign role=ops", json_pack("{s:i}", "role_id", 3),
                 "POST /api/v1/administrators/7/assign {\"role_id\":3}");
    assert_steps("role ops inherit role=reader", json_pack("{s:i}", "role_id", 2),
                 "POST /api/v1/roles/7/inherit {\"role_id\":2}");
    assert_steps("user bob password", json_pack("{s:s}", "password", "pw"),
                 "POST /api/v1/users/7/password {\"password\":\"pw\"}");
}

static void
properties_are_put_and_deleted_by_key(void **state)
{
    assert_steps("property vm web1 set owner=ops a/b=x", NULL,
                 "PUT /api/v1/vms/7/properties/owner {\"value\":\"ops\"}\n"
                 "PUT /api/v1/vms/7/properties/a%2Fb {\"value\":\"x\"}");
    assert_steps("property host del owner,rack", NULL,
                 "DELETE /api/v1/hosts/7/properties/owner\n"
                 "DELETE /api/v1/hosts/7/properties/rack");
    assert_steps("property tenant get", NULL, "GET /api/v1/tenants/7/properties");
}

static void
config_keys_are_put_and_deleted(void **state)
{
    assert_steps("config vm.network.bridge set br0", NULL,
                 "PUT /api/v1/configs/vm.network.bridge {\"value\":\"br0\"}");
    assert_steps("config key=vm.network.bridge set value=br1 tenant=acme",
                 json_pack("{s:i}", "tenant_id", 2),
                 "PUT /api/v1/configs/vm.network.bridge {\"tenant_id\":2,\"value\":\"br1\"}");
    assert_steps("config set a.b=1 c.d=2", NULL,
                 "PUT /api/v1/configs/a.b {\"value\":\"1\"}\n"
                 "PUT /api/v1/configs/c.d {\"value\":\"2\"}");
    assert_steps("config a.b del tenant=acme", json_pack("{s:i}", "tenant_id", -1),
                 "DELETE /api/v1/configs/a.b?tenant_id=-1");
    assert_steps("config del a.b c.d", NULL,
                 "DELETE /api/v1/configs/a.b\nDELETE /api/v1/configs/c.d");
}

/* ---- options, qa.conf, URLs ---- */

static const char *
env_url(const char *name)
{
    return strcmp(name, "QVD_API_URL") == 0 ? "https://env.example" : NULL;
}

static const char *
env_none(const char *name)
{
    return NULL;
}

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
options_precedence_command_line_env_user_system(void **state)
{
    char sys[128], user[128];
    const char *files[2] = {sys, user};
    struct remote_opts o = {0};
    char *argv[] = {"qvd-admin", "vm", "--login", "cli", "get", "--csv", NULL};
    int argc = 6;

    snprintf(sys, sizeof(sys), "%s/sys.conf", tmpdir);
    snprintf(user, sizeof(user), "%s/user.conf", tmpdir);
    write_text(sys, "qa.url = https://sys.example\nqa.login = sys\nqa.tenant = acme\n"
                    "qa.format = json\nqa.insecure = 1\n");
    write_text(user, "qa.url = https://user.example\nqa.login = user\nqa.ca = /ca.pem\n");

    assert_int_equal(remote_opts_load(&o, files, env_none), 0);
    assert_string_equal(o.url, "https://user.example");
    assert_int_equal(remote_opts_load(&o, files, env_url), 0);
    assert_string_equal(o.url, "https://env.example");
    assert_int_equal(remote_opts_take(&o, &argc, argv), ADMIN_OK);
    assert_string_equal(o.login, "cli");
    assert_string_equal(o.tenant, "acme");
    assert_string_equal(o.ca, "/ca.pem");
    assert_true(o.insecure);
    assert_int_equal(o.format, ADMIN_FMT_CSV);
    assert_int_equal(o.limit, -1);
    /* the global options are taken out, wherever they were */
    assert_int_equal(argc, 3);
    assert_string_equal(argv[1], "vm");
    assert_string_equal(argv[2], "get");
    remote_opts_free(&o);
}

static void
bad_options_are_usage_errors(void **state)
{
    char *a1[] = {"qvd-admin", "--json", "--csv", "vm", "get", NULL};
    char *a2[] = {"qvd-admin", "--limit", "0", "vm", "get", NULL};
    char *a3[] = {"qvd-admin", "--frob", "vm", "get", NULL};
    char *a4[] = {"qvd-admin", "vm", "get", "--url", NULL};
    char **all[] = {a1, a2, a3, a4};
    int argcs[] = {5, 5, 4, 4};

    for (size_t i = 0; i < QVD_ARRAY_LEN(all); i++) {
        struct remote_opts o = {0};
        assert_int_equal(remote_opts_take(&o, &argcs[i], all[i]), ADMIN_USAGE);
        remote_opts_free(&o);
    }
}

static void
remote_mode_needs_a_url_and_no_config_option(void **state)
{
    char conf[128];
    const char *files[2] = {NULL, conf};
    const char *none[2] = {NULL, NULL};
    char *plain[] = {"qvd-admin", "vm", "get", NULL};
    char *url[] = {"qvd-admin", "vm", "get", "--url", "unix:/x", NULL};
    char *local[] = {"qvd-admin", "-c", "node.conf", "vm", "list", NULL};
    char *db[] = {"qvd-admin", "db", "init", NULL};

    snprintf(conf, sizeof(conf), "%s/qa.conf", tmpdir);
    write_text(conf, "qa.url = unix:/run/qvd/api.sock\n");
    assert_false(remote_wanted(3, plain, none, env_none));
    assert_true(remote_wanted(5, url, none, env_none));
    assert_true(remote_wanted(3, plain, none, env_url));
    assert_true(remote_wanted(3, plain, files, env_none));
    assert_false(remote_wanted(5, local, files, env_url));
    assert_false(remote_wanted(3, db, files, env_url));
}

static void
urls_https_and_unix(void **state)
{
    struct remote_url u;

    assert_int_equal(remote_url_parse("https://api.example", &u), 0);
    assert_false(u.unix_socket);
    assert_string_equal(u.host, "api.example");
    assert_int_equal(u.port, 3443);
    remote_url_free(&u);
    assert_int_equal(remote_url_parse("https://10.0.0.1:8443/", &u), 0);
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(u.port, 8443);
    remote_url_free(&u);
    assert_int_equal(remote_url_parse("https://[::1]:9", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 9);
    remote_url_free(&u);
    assert_int_equal(remote_url_parse("unix:/run/qvd/api.sock", &u), 0);
    assert_true(u.unix_socket);
    assert_string_equal(u.path, "/run/qvd/api.sock");
    remote_url_free(&u);

    const char *bad[] = {"http://api.example", "ftp://x",       "https://",      "https://h:0",
                         "https://h:99999",    "https://h/api", "unix:relative", "https://[::1"};
    for (size_t i = 0; i < QVD_ARRAY_LEN(bad); i++) {
        assert_int_equal(remote_url_parse(bad[i], &u), -1);
        assert_true(strlen(qvd_strerror()) > 0);
    }
}

/* ---- the token file ---- */

static void
token_file_keeps_one_line_per_url_and_login(void **state)
{
    char file[128], *t, *login;
    struct stat st;

    snprintf(file, sizeof(file), "%s/dot-qvd/admin-tokens", tmpdir);
    assert_null(remote_token_get(file, "https://a", NULL, NULL));
    assert_int_equal(remote_token_put(file, "https://a", "root@*", "T1"), 0);
    assert_int_equal(remote_token_put(file, "https://a", "ann@acme", "T2"), 0);
    assert_int_equal(remote_token_put(file, "unix:/s", "root@*", "T3"), 0);
    assert_int_equal(remote_token_put(file, "https://a", "root@*", "T4"), 0);

    t = remote_token_get(file, "https://a", "root@*", NULL);
    assert_string_equal(t, "T4");
    free(t);
    /* without a login: the newest of the URL */
    t = remote_token_get(file, "https://a", NULL, &login);
    assert_string_equal(t, "T4");
    assert_string_equal(login, "root@*");
    free(t);
    free(login);
    t = remote_token_get(file, "unix:/s", NULL, NULL);
    assert_string_equal(t, "T3");
    free(t);

    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    {
        char dir[128];
        snprintf(dir, sizeof(dir), "%s/dot-qvd", tmpdir);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
    }
    {
        char *text = NULL;
        assert_int_equal(qvd_read_file(file, 4096, &text, NULL), 0);
        assert_string_equal(text,
                            "https://a ann@acme T2\nunix:/s root@* T3\nhttps://a root@* T4\n");
        free(text);
    }

    assert_int_equal(remote_token_put(file, "https://a", "root@*", NULL), 0);
    assert_null(remote_token_get(file, "https://a", "root@*", NULL));
    t = remote_token_get(file, "https://a", NULL, NULL);
    assert_string_equal(t, "T2");
    free(t);
}

static void
token_file_refuses_words_with_spaces(void **state)
{
    char file[128];

    snprintf(file, sizeof(file), "%s/tokens", tmpdir);
    assert_int_equal(remote_token_put(file, "https://a", "a b", "T"), -1);
    assert_int_equal(remote_token_put(file, "https://a", "a", "T\nx"), -1);
    assert_int_equal(access(file, F_OK), -1);
}

static void
token_file_skips_malformed_lines(void **state)
{
    char file[128], *t;

    snprintf(file, sizeof(file), "%s/tokens", tmpdir);
    write_text(file, "garbage\nhttps://a root T1 extra\nhttps://a root T2\n");
    t = remote_token_get(file, "https://a", "root", NULL);
    assert_string_equal(t, "T2");
    free(t);
    assert_int_equal(remote_token_put(file, "https://b", "x", "T3"), 0);
    t = remote_token_get(file, "https://a", "root", NULL);
    assert_string_equal(t, "T2");
    free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(object_and_verb_without_filter),
        cmocka_unit_test(bare_word_is_the_name_filter),
        cmocka_unit_test(bare_word_field_depends_on_the_object),
        cmocka_unit_test(bare_word_with_a_star_is_a_pattern),
        cmocka_unit_test(bare_word_login_at_tenant_names_a_user),
        cmocka_unit_test(filter_words_are_joined_at_operators_and_anded_otherwise),
        cmocka_unit_test(lists_and_ranges_pass_through),
        cmocka_unit_test(bare_words_inside_an_expression_are_names_too),
        cmocka_unit_test(field_aliases_apply_in_filters),
        cmocka_unit_test(quoted_values_are_kept),
        cmocka_unit_test(filter_term_quotes_when_needed),
        cmocka_unit_test(a_name_that_is_a_verb_is_a_filter_before_a_verb),
        cmocka_unit_test(unknown_object_or_missing_verb_is_a_usage_error),
        cmocka_unit_test(verb_arguments_are_checked),
        cmocka_unit_test(order_clause_becomes_the_api_order),
        cmocka_unit_test(get_fields_are_joined_with_aliases),
        cmocka_unit_test(list_target_carries_filter_order_fields_and_page),
        cmocka_unit_test(new_body_types_integers_booleans_and_references),
        cmocka_unit_test(new_user_at_tenant_splits_the_login),
        cmocka_unit_test(bad_values_for_typed_fields_go_as_strings),
        cmocka_unit_test(simple_verbs_post_their_action),
        cmocka_unit_test(set_patches_and_del_deletes),
        cmocka_unit_test(tag_lists_give_one_request_per_tag),
        cmocka_unit_test(grant_and_revoke_carry_acls),
        cmocka_unit_test(assign_and_inherit_send_the_resolved_role),
        cmocka_unit_test(properties_are_put_and_deleted_by_key),
        cmocka_unit_test(config_keys_are_put_and_deleted),
        cmocka_unit_test_setup_teardown(options_precedence_command_line_env_user_system, setup_dir,
                                        teardown_dir),
        cmocka_unit_test(bad_options_are_usage_errors),
        cmocka_unit_test_setup_teardown(remote_mode_needs_a_url_and_no_config_option, setup_dir,
                                        teardown_dir),
        cmocka_unit_test(urls_https_and_unix),
        cmocka_unit_test_setup_teardown(token_file_keeps_one_line_per_url_and_login, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(token_file_refuses_words_with_spaces, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(token_file_skips_malformed_lines, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

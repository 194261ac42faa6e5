/* remote_cmd.c: remote commands carried out through qvd-api: listings (every page, printed
 * as a table, CSV or JSON), creation with names resolved to ids, and verbs applied to each
 * object a filter matches, one line per object and a summary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "admin.h"
#include "http.h"
#include "util.h"

#define PAGE 1000

/* Rows of obj matching filter from offset, at most limit (-1: all), fetched in pages. */
static int
list_rows(struct remote *r, const struct remote_object *obj, const char *filter, const char *order,
          const char *fields, long offset, long limit, json_t **rows)
{
    int rc = ADMIN_OK;

    *rows = json_array();
    while (limit != 0) {
        long page = limit < 0 || limit > PAGE ? PAGE : limit;
        char *target = remote_list_target(obj, filter, order, fields, offset, page), *err;
        json_t *answer, *got;
        size_t n;
        bool paged;

        rc = remote_call(r, "GET", target, NULL, &answer, &err);
        free(target);
        if (rc != ADMIN_OK) {
            if (err != NULL)
                admin_refusedf("%s", err);
            free(err);
            break;
        }
        got = json_object_get(answer, "rows");
        n = json_array_size(got);
        json_array_extend(*rows, got);
        /* an answer without "limit" is not paged (GET /acls): it is whole */
        paged = json_object_get(answer, "limit") != NULL;
        json_decref(answer);
        if ((long)n < page || !paged)
            break;
        offset += (long)n;
        if (limit > 0)
            limit -= (long)n;
    }
    if (rc != ADMIN_OK) {
        json_decref(*rows);
        *rows = NULL;
    }
    return rc;
}

/* ---- output ---- */

static char *
cell(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return qvd_xstrdup(json_string_value(v));
    case JSON_INTEGER:
        return qvd_xasprintf("%lld", (long long)json_integer_value(v));
    case JSON_REAL:
        return qvd_xasprintf("%g", json_real_value(v));
    case JSON_TRUE:
        return qvd_xstrdup("1");
    case JSON_FALSE:
        return qvd_xstrdup("0");
    case JSON_NULL:
        return qvd_xstrdup("");
    default: {
        char *s = json_dumps(v, JSON_COMPACT);
        return s ? s : qvd_xstrdup("");
    }
    }
}

/* Prints rows (an array of objects) in the chosen format; `fields` gives the columns'
 * order (else the members in order of appearance). */
static void
print_rows(struct remote *r, const json_t *rows, const char *fields)
{
    const char **names = NULL;
    char ***cells;
    int ncol = 0;
    size_t i;
    json_t *row;

    if (r->o->format == ADMIN_FMT_JSON) {
        char *s = json_dumps(rows, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "[]");
        free(s);
        return;
    }
    for (const char *f = fields; f && *f;) {
        size_t len = strcspn(f, ",");
        names = qvd_xrealloc(names, (size_t)(ncol + 1) * sizeof(*names));
        names[ncol++] = qvd_xstrndup(f, len);
        f += len + (f[len] == ',');
    }
    json_array_foreach(rows, i, row)
    {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)row, key, v)
        {
            int c = 0;
            while (c < ncol && strcmp(names[c], key) != 0)
                c++;
            if (c == ncol && fields == NULL) {
                names = qvd_xrealloc(names, (size_t)(ncol + 1) * sizeof(*names));
                names[ncol++] = qvd_xstrdup(key);
            }
        }
    }
    if (ncol == 0)
        return;
    cells = qvd_xcalloc(json_array_size(rows) + 1, sizeof(*cells));
    json_array_foreach(rows, i, row)
    {
        cells[i] = qvd_xcalloc((size_t)ncol, sizeof(**cells));
        for (int c = 0; c < ncol; c++)
            cells[i][c] = cell(json_object_get(row, names[c]));
    }
    admin_print_rows(r->o->format == ADMIN_FMT_CSV, names, ncol, cells, json_array_size(rows));
    for (i = 0; i < json_array_size(rows); i++) {
        for (int c = 0; c < ncol; c++)
            free(cells[i][c]);
        free(cells[i]);
    }
    free(cells);
    for (int c = 0; c < ncol; c++)
        free((char *)names[c]);
    free(names);
}

/* ---- names to ids ---- */

/* The one row of `what` matching filter. Among several, the one of tenant `want`, else the
 * one of the common tenant (-1). */
static int
lookup(struct remote *r, const char *what, const char *value, const char *filter, int64_t want,
       json_t **row)
{
    const struct remote_object *obj = remote_object_find(what);
    json_t *rows, *pick = NULL, *x;
    size_t i;
    int rc = list_rows(r, obj, filter, NULL, NULL, 0, -1, &rows);

    *row = NULL;
    if (rc != ADMIN_OK)
        return rc;
    if (json_array_size(rows) == 1)
        pick = json_array_get(rows, 0);
    for (int64_t t = want; pick == NULL && t >= -1; t = t == -1 ? -2 : -1) {
        int n = 0;
        json_array_foreach(rows, i, x)
        {
            const json_t *tid = json_object_get(x, "tenant_id");
            if (tid != NULL && json_integer_value(tid) == t)
                pick = x, n++;
        }
        if (n > 1) {
            pick = NULL;
            break;
        }
    }
    if (json_array_size(rows) == 0)
        rc = admin_refusedf("there is no %s %s", what, value);
    else if (pick == NULL)
        rc = admin_refusedf("%zu %ss are named %s: give %s=NAME@TENANT or %s=ID",
                            json_array_size(rows), obj->name, value, what, what);
    else
        *row = json_incref(pick);
    json_decref(rows);
    return rc;
}

/* Replaces the names of `user osf tenant role` in body by REF_id, looking them up. */
static int
resolve(struct remote *r, json_t *body)
{
    static const char *const refs[] = {"tenant", "user", "osf", "role"};
    int64_t tenant = -2;
    const json_t *t = json_object_get(body, "tenant_id");

    if (t != NULL)
        tenant = json_integer_value(t);
    for (size_t i = 0; i < QVD_ARRAY_LEN(refs); i++) {
        const char *ref = refs[i], *v = json_string_value(json_object_get(body, ref));
        char *filter, *key;
        json_t *row = NULL;
        int64_t id;
        int rc;

        if (v == NULL)
            continue;
        if (strcmp(ref, "tenant") == 0 && (strcmp(v, "-") == 0 || strcmp(v, "*") == 0)) {
            id = v[0] == '-' ? -1 : 0;
        } else {
            char *word = qvd_xstrdup(v);
            /* NAME@TENANT for users, OSFs and roles */
            filter = strcmp(ref, "tenant") != 0
                         ? remote_filter_join(remote_object_find(ref), 1, &word)
                         : remote_filter_term("name", "=", v);
            free(word);
            rc = lookup(r, ref, v, filter, strcmp(ref, "tenant") == 0 ? -2 : tenant, &row);
            free(filter);
            if (rc != ADMIN_OK)
                return rc;
            id = json_integer_value(json_object_get(row, "id"));
            /* the user's tenant picks among OSFs of the same name */
            if (strcmp(ref, "user") == 0 && tenant == -2 && json_object_get(row, "tenant_id"))
                tenant = json_integer_value(json_object_get(row, "tenant_id"));
            json_decref(row);
        }
        if (strcmp(ref, "tenant") == 0)
            tenant = id;
        key = qvd_xasprintf("%s_id", ref);
        json_object_set_new(body, key, json_integer(id));
        json_object_del(body, ref);
        free(key);
    }
    return ADMIN_OK;
}

/* ---- commands ---- */

static const char *
label_of(const json_t *row)
{
    const char *s = json_string_value(json_object_get(row, "name"));
    return s ? s : json_string_value(json_object_get(row, "version"));
}

static int
cmd_new(struct remote *r, struct remote_cmd *cmd)
{
    json_t *body = NULL, *answer = NULL;
    char *target = NULL, *err = NULL;
    int rc = remote_args_body(cmd, NULL, &body);
    bool named = strcmp(cmd->obj->name, "user") == 0 || strcmp(cmd->obj->name, "admin") == 0;

    if (rc == ADMIN_OK && named && json_object_get(body, "password") == NULL) {
        char *pw = NULL;
        if ((rc = remote_new_password(r, &pw)) == ADMIN_OK) {
            json_object_set_new(body, "password", json_string(pw));
            qvd_wipe(pw, strlen(pw));
            free(pw);
        }
    }
    if (rc == ADMIN_OK)
        rc = resolve(r, body);
    if (rc != ADMIN_OK)
        goto out;
    target = qvd_xasprintf("/api/v1/%s", cmd->obj->resource);
    rc = remote_call(r, "POST", target, body, &answer, &err);
    if (rc == ADMIN_REFUSED)
        admin_refusedf("%s", err);
    if (rc != ADMIN_OK)
        goto out;
    if (r->o->format == ADMIN_FMT_JSON) {
        char *s = json_dumps(answer, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "{}");
        free(s);
    } else {
        const char *label = label_of(answer);
        printf("%s %lld%s%s%s created\n", cmd->obj->name,
               (long long)json_integer_value(json_object_get(answer, "id")), label ? " (" : "",
               label ? label : "", label ? ")" : "");
    }
out:
    if (body != NULL)
        json_object_del(body, "password");
    json_decref(body);
    json_decref(answer);
    free(target);
    free(err);
    return rc;
}

static int
cmd_config(struct remote *r, struct remote_cmd *cmd)
{
    const char *tenant = remote_arg(cmd, "tenant");
    struct remote_step *steps = NULL;
    json_t *body = json_object();
    int rc = ADMIN_OK, failed = 0, n;

    if (tenant != NULL) {
        json_object_set_new(body, "tenant", json_string(tenant));
        rc = resolve(r, body);
    }
    n = rc == ADMIN_OK ? remote_steps(cmd, 0, body, &steps) : 0;
    for (int i = 0; i < n && rc != REMOTE_ABORT; i++) {
        const char *k = strrchr(steps[i].target, '/') + 1;
        char *key = qvd_http_urldecode(k, strcspn(k, "?"), false), *err;
        json_t *answer;
        rc = remote_call(r, steps[i].method, steps[i].target, steps[i].body, &answer, &err);
        if (rc == ADMIN_OK)
            printf("config %s %s\n", key ? key : k, remote_verbs[cmd->verb].done);
        else if (rc == ADMIN_REFUSED)
            admin_refusedf("config %s: %s", key ? key : k, err), failed++;
        json_decref(answer);
        free(err);
        free(key);
    }
    remote_steps_free(steps, n);
    json_decref(body);
    return rc == REMOTE_ABORT ? rc : failed ? ADMIN_REFUSED : rc;
}

/* Asks before deleting or stopping several objects (unless --yes). */
static int
confirm(struct remote *r, const struct remote_cmd *cmd, size_t n)
{
    char answer[16] = "";
    FILE *tty;

    if (n < 2 || r->o->yes || (cmd->verb != RV_DEL && cmd->verb != RV_STOP))
        return ADMIN_OK;
    if (!isatty(0) || (tty = fopen("/dev/tty", "r+")) == NULL)
        return admin_refusedf("%s %zu %s? give --yes to do it without a terminal",
                              remote_verbs[cmd->verb].name, n, cmd->obj->resource);
    fprintf(stderr, "%s %zu %s%s? [y/N] ", cmd->verb == RV_DEL ? "delete" : "stop", n,
            cmd->property ? "properties of " : "", cmd->obj->resource);
    fflush(stderr);
    if (fgets(answer, sizeof(answer), tty) == NULL)
        answer[0] = '\0';
    fclose(tty);
    if (answer[0] != 'y' && answer[0] != 'Y')
        return admin_refusedf("nothing done");
    return ADMIN_OK;
}

/* The body shared by every object: set's changes, the role of assign/inherit, a password. */
static int
verb_body(struct remote *r, const struct remote_cmd *cmd, json_t **body)
{
    int rc;
    char *pw = NULL;

    *body = NULL;
    switch (cmd->verb) {
    case RV_SET:
    case RV_ASSIGN:
    case RV_UNASSIGN:
    case RV_INHERIT:
    case RV_DISINHERIT:
        if (cmd->property)
            return ADMIN_OK;
        if ((rc = remote_args_body(cmd, NULL, body)) != ADMIN_OK)
            return rc;
        return resolve(r, *body);
    case RV_EVACUATE:
        *body = json_pack("{s:b}", "force", cmd->nargs == 1);
        return ADMIN_OK;
    case RV_PASSWORD:
        if ((rc = remote_new_password(r, &pw)) != ADMIN_OK)
            return rc;
        *body = json_pack("{s:s}", "password", pw);
        qvd_wipe(pw, strlen(pw));
        free(pw);
        return ADMIN_OK;
    default:
        return ADMIN_OK;
    }
}

/* Property listing rows of one object. */
static void
add_props(json_t *out, const json_t *row, const json_t *props)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)props, key, v)
    {
        json_t *p = json_object();
        json_object_set(p, "id", json_object_get(row, "id"));
        if (label_of(row) != NULL)
            json_object_set_new(p, "name", json_string(label_of(row)));
        json_object_set_new(p, "key", json_string(key));
        json_object_set(p, "value", v);
        json_array_append_new(out, p);
    }
}

static int
cmd_act(struct remote *r, struct remote_cmd *cmd)
{
    const struct remote_object *obj = cmd->obj;
    const char *fields = strcmp(obj->label, "name") == 0 || strcmp(obj->label, "version") == 0
                             ? (obj->label[0] == 'n' ? "id,name" : "id,version")
                             : "id";
    json_t *objects = NULL, *body = NULL, *props = json_array(), *row;
    size_t i, done = 0, n;
    long long moved = 0; /* evacuate: the VMs the host's answer says it stopped */
    int rc;

    if ((rc = list_rows(r, obj, cmd->filter, cmd->order, fields,
                        r->o->offset < 0 ? 0 : r->o->offset, r->o->limit, &objects)) != ADMIN_OK)
        goto out;
    n = json_array_size(objects);
    if (n == 0) {
        rc = admin_refusedf("no %s matches%s%s: nothing done", obj->name, cmd->filter ? " " : "",
                            cmd->filter ? cmd->filter : "");
        goto out;
    }
    if (cmd->verb == RV_PASSWORD && n > 1) {
        rc = admin_refusedf("%zu %s match: a password goes to one at a time", n, obj->resource);
        goto out;
    }
    if ((rc = confirm(r, cmd, n)) != ADMIN_OK || (rc = verb_body(r, cmd, &body)) != ADMIN_OK)
        goto out;
    json_array_foreach(objects, i, row)
    {
        long long id = json_integer_value(json_object_get(row, "id"));
        const char *label = label_of(row);
        struct remote_step *steps = NULL;
        int nsteps = remote_steps(cmd, id, body, &steps), s;
        for (s = 0; s < nsteps; s++) {
            json_t *answer = NULL;
            char *err = NULL;
            rc = remote_call(r, steps[s].method, steps[s].target, steps[s].body, &answer, &err);
            if (rc == ADMIN_OK && cmd->property && cmd->verb == RV_GET)
                add_props(props, row, answer);
            if (rc == ADMIN_OK && json_is_integer(json_object_get(answer, "moved")))
                moved += json_integer_value(json_object_get(answer, "moved"));
            if (rc == ADMIN_REFUSED)
                admin_refusedf("%s %lld%s%s%s: %s", obj->name, id, label ? " (" : "",
                               label ? label : "", label ? ")" : "", err);
            json_decref(answer);
            free(err);
            if (rc != ADMIN_OK)
                break;
        }
        remote_steps_free(steps, nsteps);
        if (rc == REMOTE_ABORT)
            goto out;
        if (s < nsteps)
            continue;
        done++;
        if (!(cmd->property && cmd->verb == RV_GET))
            printf("%s %lld%s%s%s %s%s\n", obj->name, id, label ? " (" : "", label ? label : "",
                   label ? ")" : "", cmd->property ? "properties " : "",
                   remote_verbs[cmd->verb].done);
        if (cmd->verb == RV_EVACUATE)
            printf("%lld VMs stopped, each starts on another node at its user's next login\n",
                   moved);
        moved = 0;
    }
    if (cmd->property && cmd->verb == RV_GET)
        print_rows(r, props, NULL);
    else if (n > 1 && done == n)
        printf("%zu %s %s\n", n, obj->resource, remote_verbs[cmd->verb].done);
    else if (n > 1)
        printf("%zu of %zu %s %s\n", done, n, obj->resource, remote_verbs[cmd->verb].done);
    rc = done == n ? ADMIN_OK : ADMIN_REFUSED;
out:
    json_decref(objects);
    if (body != NULL)
        json_object_del(body, "password");
    json_decref(body);
    json_decref(props);
    return rc;
}

int
remote_command(struct remote *r, int argc, char **argv)
{
    struct remote_cmd cmd;
    json_t *rows = NULL;
    int rc = remote_parse(argc, argv, &cmd);

    if (rc != ADMIN_OK)
        goto out;
    if (cmd.verb == RV_GET && !cmd.property) {
        rc = list_rows(r, cmd.obj, cmd.filter, cmd.order, cmd.fields,
                       r->o->offset < 0 ? 0 : r->o->offset, r->o->limit, &rows);
        if (rc == ADMIN_OK)
            print_rows(r, rows, cmd.fields);
    } else if (cmd.verb == RV_NEW) {
        rc = cmd_new(r, &cmd);
    } else if (strcmp(cmd.obj->name, "config") == 0) {
        rc = cmd_config(r, &cmd);
    } else {
        rc = cmd_act(r, &cmd);
    }
out:
    json_decref(rows);
    remote_cmd_free(&cmd);
    return rc;
}

void
remote_usage_object(FILE *f, const char *object)
{
    const struct remote_object *obj = remote_object_find(object);

    if (strcmp(object, "login") == 0 || strcmp(object, "logout") == 0) {
        fprintf(f, "usage: qvd-admin --url URL [--login NAME[@TENANT]] [--tenant T]"
                   " [--password-stdin] login\n"
                   "       qvd-admin --url URL logout\n");
        return;
    }
    if (obj == NULL) { /* property */
        fprintf(f, "usage:\n"
                   "  qvd-admin property OBJECT [FILTERS] get\n"
                   "  qvd-admin property OBJECT [FILTERS] set KEY=VALUE ...\n"
                   "  qvd-admin property OBJECT [FILTERS] del KEY ...\n"
                   "OBJECT: vm user host osf di tenant\n");
        return;
    }
    fprintf(f, "usage (a bare word as filter means %s=WORD):\n", obj->label);
    for (int v = 0; v < RV_COUNT; v++) {
        const struct remote_verb_def *d = &remote_verbs[v];
        if (!(obj->verbs & (1u << v)))
            continue;
        if (strcmp(object, "config") == 0 && v == RV_SET)
            fprintf(f, "  qvd-admin config KEY set VALUE [tenant=T]\n"
                       "  qvd-admin config set KEY=VALUE ... [tenant=T]\n");
        else if (strcmp(object, "config") == 0 && v == RV_DEL)
            fprintf(f, "  qvd-admin config KEY del [tenant=T]\n");
        else
            fprintf(f, "  qvd-admin %s %s%s%s%s\n      %s\n", object,
                    v == RV_NEW ? "" : "[FILTERS] ", d->name, *d->args ? " " : "", d->args,
                    d->help);
    }
    if (obj->verbs & (1u << RV_GET))
        fprintf(f, "  ... get [FIELDS] order [asc|desc] FIELD...: sorted\n");
}

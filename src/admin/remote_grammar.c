/* remote_grammar.c: remote mode's command line, after QVD's qa4:
 *   OBJECT [FILTERS] VERB [ARGS] [order [asc|desc] FIELD...]
 * The objects and verbs as data; the filter words joined into the API's filter expression
 * (the server parses it); the order clause; the checks of each verb's arguments. */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "util.h"

#define V(x) (1u << RV_##x)
#define CRUD (V(GET) | V(NEW) | V(SET) | V(DEL))
#define BLOCKS (V(BLOCK) | V(UNBLOCK))

const struct remote_object remote_objects[] = {
    {"vm", "vms", "name", CRUD | BLOCKS | V(START) | V(STOP) | V(DISCONNECT), true},
    {"user", "users", "name", CRUD | BLOCKS | V(PASSWORD), true},
    {"host", "hosts", "name", CRUD | BLOCKS | V(EVACUATE), true},
    {"osf", "osfs", "name", CRUD, true},
    {"di", "dis", "version", CRUD | BLOCKS | V(PUBLISH) | V(TAG) | V(UNTAG), true},
    {"tenant", "tenants", "name", CRUD | BLOCKS, true},
    {"role", "roles", "name", CRUD | V(GRANT) | V(REVOKE) | V(INHERIT) | V(DISINHERIT), false},
    {"acl", "acls", "name", V(GET), false},
    {"admin", "administrators", "name", CRUD | BLOCKS | V(PASSWORD) | V(ASSIGN) | V(UNASSIGN),
     false},
    {"config", "configs", "key", V(GET) | V(SET) | V(DEL), false},
    {"tag", "tags", "tag", V(GET), false},
    {"log", "log", "action", V(GET), false},
    {NULL, NULL, NULL, 0, false},
};

const struct remote_verb_def remote_verbs[RV_COUNT] = {
    [RV_GET] = {"get", "listed", "[FIELD[,FIELD...]]", "list the matching objects"},
    [RV_NEW] = {"new", "created", "KEY=VALUE ...", "create an object"},
    [RV_SET] = {"set", "changed", "KEY=VALUE ...", "change every matching object"},
    [RV_DEL] = {"del", "deleted", "", "delete every matching object"},
    [RV_BLOCK] = {"block", "blocked", "", "block every matching object"},
    [RV_UNBLOCK] = {"unblock", "unblocked", "", "unblock every matching object"},
    [RV_START] = {"start", "started", "", "start the VMs"},
    [RV_STOP] = {"stop", "stopped", "", "stop the VMs"},
    [RV_DISCONNECT] = {"disconnect", "disconnected", "", "disconnect the VMs' users"},
    [RV_PUBLISH] = {"publish", "published", "", "publish the DIs"},
    [RV_TAG] = {"tag", "tagged", "TAG[,TAG...]", "give the DIs these tags"},
    [RV_UNTAG] = {"untag", "untagged", "TAG[,TAG...]", "take these tags from the DIs"},
    [RV_ASSIGN] = {"assign", "assigned", "role=NAME|ID", "give the administrators a role"},
    [RV_UNASSIGN] = {"unassign", "unassigned", "role=NAME|ID", "take a role away"},
    [RV_GRANT] = {"grant", "granted", "acl=PATTERN[,...] [positive=0]",
                  "grant ACLs to the roles (positive=0: deny them)"},
    [RV_REVOKE] = {"revoke", "revoked", "acl=PATTERN[,...]", "remove ACL grants from the roles"},
    [RV_INHERIT] = {"inherit", "changed", "role=NAME|ID", "make the roles inherit a role"},
    [RV_DISINHERIT] = {"disinherit", "changed", "role=NAME|ID", "stop inheriting a role"},
    [RV_PASSWORD] = {"password", "changed", "", "set a new password (asked, or --password-stdin)"},
    [RV_EVACUATE] = {"evacuate", "evacuated", "[force]",
                     "block the hosts, end their sessions and stop their VMs (force: even when"
                     " no other node can take them)"},
};

/* Field names of qa4 that the API spells otherwise, per object. */
static const struct {
    const char *object, *alias, *field;
} aliases[] = {
    {"vm", "tag", "di_tag"},
    {"user", "login", "name"},
    {"admin", "login", "name"},
};

const struct remote_object *
remote_object_find(const char *name)
{
    for (const struct remote_object *o = remote_objects; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static const char *
alias(const struct remote_object *obj, const char *field, size_t len)
{
    for (size_t i = 0; i < QVD_ARRAY_LEN(aliases); i++)
        if (strcmp(aliases[i].object, obj->name) == 0 && strlen(aliases[i].alias) == len &&
            strncmp(aliases[i].alias, field, len) == 0)
            return aliases[i].field;
    return NULL;
}

/* Appends the field name field[0..len) as the API spells it. */
static void
add_field(struct qvd_buf *b, const struct remote_object *obj, const char *field, size_t len)
{
    const char *a = alias(obj, field, len);
    if (a != NULL)
        qvd_buf_adds(b, a);
    else
        qvd_buf_add(b, field, len);
}

static int
verb_find(const struct remote_object *obj, bool property, const char *word)
{
    unsigned allowed = property ? V(GET) | V(SET) | V(DEL) : obj->verbs;
    for (int v = 0; v < RV_COUNT; v++)
        if ((allowed & (1u << v)) && strcmp(remote_verbs[v].name, word) == 0)
            return v;
    return -1;
}

/* ---- filters ---- */

static bool
needs_quotes(const char *v, size_t len)
{
    if (len == 0)
        return true;
    for (size_t i = 0; i < len; i++)
        if (strchr(" \t,;()[]!=<>~\"\\", v[i]) != NULL)
            return true;
    return false;
}

static void
add_value(struct qvd_buf *b, const char *v, size_t len)
{
    if (!needs_quotes(v, len)) {
        qvd_buf_add(b, v, len);
        return;
    }
    qvd_buf_addc(b, '"');
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '"' || v[i] == '\\')
            qvd_buf_addc(b, '\\');
        qvd_buf_addc(b, v[i]);
    }
    qvd_buf_addc(b, '"');
}

char *
remote_filter_term(const char *field, const char *op, const char *value)
{
    struct qvd_buf b = QVD_BUF_INIT;
    qvd_buf_printf(&b, "%s%s", field, op);
    add_value(&b, value, strlen(value));
    return qvd_buf_steal(&b);
}

/* Objects whose names are unique within a tenant: NAME@TENANT names one. */
static bool
per_tenant(const struct remote_object *obj)
{
    static const char *const objs[] = {"user", "admin", "osf", "role"};
    for (size_t i = 0; i < QVD_ARRAY_LEN(objs); i++)
        if (strcmp(objs[i], obj->name) == 0)
            return true;
    return false;
}

/* A term without operator: the object's label field; NAME@TENANT for per_tenant objects. */
static void
plain_term(const struct remote_object *obj, const char *t, size_t len, struct qvd_buf *out)
{
    bool quoted = len >= 2 && t[0] == '"' && t[len - 1] == '"';
    const char *at = NULL;
    size_t n = len;

    for (size_t i = 0; !quoted && i < len; i++)
        if (t[i] == '@')
            at = t + i;
    if (at != NULL && at > t && at < t + len - 1 && per_tenant(obj)) {
        n = (size_t)(at - t);
        qvd_buf_addc(out, '(');
    } else {
        at = NULL;
    }
    /* the tenant after '@' is exact, even '*' (the superadministrators') */
    bool wild = !quoted && (memchr(t, '*', n) != NULL || memchr(t, '%', n) != NULL);
    qvd_buf_printf(out, "%s%s", obj->label, wild ? "~" : "=");
    if (quoted)
        qvd_buf_add(out, t, len);
    else
        add_value(out, t, n);
    if (at != NULL) {
        qvd_buf_adds(out, ",tenant=");
        add_value(out, at + 1, len - n - 1);
        qvd_buf_addc(out, ')');
    }
}

/* One term FIELD OP VALUE (field aliases applied) or a plain word. */
static void
add_term(const struct remote_object *obj, const char *t, size_t len, struct qvd_buf *out)
{
    bool q = false;

    for (size_t i = 0; i < len; i++) {
        if (q) {
            if (t[i] == '\\' && i + 1 < len)
                i++;
            else if (t[i] == '"')
                q = false;
        } else if (t[i] == '"') {
            q = true;
        } else if (strchr("=<>~!", t[i]) != NULL) {
            add_field(out, obj, t, i);
            qvd_buf_add(out, t + i, len - i);
            return;
        }
    }
    plain_term(obj, t, len, out);
}

/* Rewrites each term of a filter expression (between , ; ( ) and a leading !). */
static void
rewrite_terms(const struct remote_object *obj, const char *s, struct qvd_buf *out)
{
    while (*s) {
        if (strchr(",;()", *s) != NULL || (*s == '!' && s[1] != '=')) {
            qvd_buf_addc(out, *s++);
            continue;
        }
        const char *t = s;
        int depth = 0;
        bool q = false;
        for (; *s; s++) {
            if (q) {
                if (*s == '\\' && s[1] != '\0')
                    s++;
                else if (*s == '"')
                    q = false;
            } else if (*s == '"') {
                q = true;
            } else if (*s == '[') {
                depth++;
            } else if (*s == ']' && depth > 0) {
                depth--;
            } else if (depth == 0 && strchr(",;)", *s) != NULL) {
                break;
            }
        }
        add_term(obj, t, (size_t)(s - t), out);
    }
}

char *
remote_filter_join(const struct remote_object *obj, int n, char **words)
{
    struct qvd_buf joined = QVD_BUF_INIT, out = QVD_BUF_INIT;

    if (n == 0)
        return NULL;
    for (int i = 0; i < n; i++) {
        const char *w = words[i];
        if (i > 0) {
            char last = joined.len ? joined.data[joined.len - 1] : ',';
            /* glued where an operator or separator meets the word, else "and" */
            bool glue = strchr(",;(!=<>~[", last) != NULL || strchr(",;)=<>~]", w[0]) != NULL ||
                        strncmp(w, "!=", 2) == 0;
            if (!glue)
                qvd_buf_addc(&joined, ',');
        }
        qvd_buf_adds(&joined, w);
    }
    rewrite_terms(obj, qvd_buf_str(&joined), &out);
    qvd_buf_free(&joined);
    return qvd_buf_steal(&out);
}

/* ---- order and fields ---- */

char *
remote_order(const struct remote_object *obj, int n, char **words)
{
    struct qvd_buf b = QVD_BUF_INIT;
    bool desc = false;

    for (int i = 0; i < n; i++) {
        const char *w = words[i];
        if (strcmp(w, "asc") == 0 || strcmp(w, "desc") == 0) {
            desc = w[0] == 'd';
            continue;
        }
        while (*w) {
            size_t len = strcspn(w, ",");
            if (len > 0) {
                if (b.len)
                    qvd_buf_addc(&b, ',');
                if (desc)
                    qvd_buf_addc(&b, '-');
                add_field(&b, obj, w, len);
            }
            w += len + (w[len] == ',');
        }
    }
    if (b.len == 0) {
        admin_usage("order needs fields: order [asc|desc] FIELD...");
        return NULL;
    }
    return qvd_buf_steal(&b);
}

static char *
fields_join(const struct remote_object *obj, int n, char **words)
{
    struct qvd_buf b = QVD_BUF_INIT;

    for (int i = 0; i < n; i++)
        for (const char *w = words[i]; *w;) {
            size_t len = strcspn(w, ",");
            if (len > 0) {
                if (b.len)
                    qvd_buf_addc(&b, ',');
                add_field(&b, obj, w, len);
            }
            w += len + (w[len] == ',');
        }
    return b.len ? qvd_buf_steal(&b) : NULL;
}

/* ---- arguments ---- */

static bool
is_kv(const char *a)
{
    const char *eq = strchr(a, '=');
    return eq != NULL && eq != a;
}

static bool
has_key(const char *a, const char *key)
{
    size_t n = strlen(key);
    return strncmp(a, key, n) == 0 && a[n] == '=';
}

/* Checks the arguments of cmd's verb; ADMIN_OK or ADMIN_USAGE (printed). */
static int
check_args(struct remote_cmd *cmd, bool has_filter)
{
    const char *on = cmd->property ? "property" : cmd->obj->name;
    const char *verb = remote_verbs[cmd->verb].name;
    bool config = strcmp(cmd->obj->name, "config") == 0;
    int kv = 0, bare = 0;

    for (int i = 0; i < cmd->nargs; i++)
        is_kv(cmd->args[i]) ? kv++ : bare++;
    switch (cmd->verb) {
    case RV_GET:
        if (kv > 0)
            return admin_usage("get takes field names, not KEY=VALUE (filters go before the"
                               " verb: %s FILTER get)",
                               on);
        cmd->fields = fields_join(cmd->obj, cmd->nargs, cmd->args);
        return ADMIN_OK;
    case RV_NEW:
        if (has_filter)
            return admin_usage("new takes no filter: %s new KEY=VALUE ...", on);
        /* fall through */
    case RV_SET:
        if (config) {
            int value = remote_arg(cmd, "value") != NULL,
                tenant = remote_arg(cmd, "tenant") != NULL;
            if (cmd->key != NULL && (bare + value != 1 || kv != value + tenant))
                return admin_usage("config KEY set VALUE [tenant=T] (or config set KEY=VALUE"
                                   " ... [tenant=T])");
            if (cmd->key != NULL)
                return ADMIN_OK;
            if (has_filter)
                return admin_usage("config set changes named keys: config KEY set VALUE");
            if (bare > 0 || kv == tenant)
                return admin_usage("config set KEY=VALUE ... [tenant=T]");
            return ADMIN_OK;
        }
        if (bare > 0 || kv == 0)
            return admin_usage("%s %s needs KEY=VALUE arguments", on, verb);
        return ADMIN_OK;
    case RV_DEL:
        if (config) {
            if (has_filter && cmd->key == NULL)
                return admin_usage("config del deletes named keys: config KEY del [tenant=T]");
            if ((cmd->key == NULL) == (bare == 0) || kv != (remote_arg(cmd, "tenant") != NULL))
                return admin_usage("config KEY del [tenant=T] (or config del KEY ...)");
            return ADMIN_OK;
        }
        if (cmd->property) {
            if (bare == 0 || kv > 0)
                return admin_usage("property OBJECT [FILTER] del KEY ...");
            return ADMIN_OK;
        }
        break;
    case RV_TAG:
    case RV_UNTAG:
        for (int i = 0; i < cmd->nargs; i++)
            if (is_kv(cmd->args[i]) && !has_key(cmd->args[i], "tag"))
                return admin_usage("di %s TAG[,TAG...]", verb);
        if (cmd->nargs == 0)
            return admin_usage("di %s needs tags: di FILTER %s TAG[,TAG...]", verb, verb);
        return ADMIN_OK;
    case RV_ASSIGN:
    case RV_UNASSIGN:
    case RV_INHERIT:
    case RV_DISINHERIT:
        if (cmd->nargs != 1 || !has_key(cmd->args[0], "role"))
            return admin_usage("%s FILTER %s role=NAME|ID", on, verb);
        return ADMIN_OK;
    case RV_GRANT:
    case RV_REVOKE:
        if (remote_arg(cmd, "acl") == NULL && bare == 0)
            return admin_usage("role FILTER %s acl=PATTERN[,PATTERN...]%s", verb,
                               cmd->verb == RV_GRANT ? " [positive=0]" : "");
        for (int i = 0; i < cmd->nargs; i++)
            if (is_kv(cmd->args[i]) && !has_key(cmd->args[i], "acl") &&
                !(cmd->verb == RV_GRANT && has_key(cmd->args[i], "positive")))
                return admin_usage("unexpected argument '%s' for role %s", cmd->args[i], verb);
        return ADMIN_OK;
    case RV_EVACUATE:
        if (cmd->nargs > 1 || (cmd->nargs == 1 && strcmp(cmd->args[0], "force") != 0 &&
                               strcmp(cmd->args[0], "force=1") != 0))
            return admin_usage("host FILTER evacuate [force]");
        return ADMIN_OK;
    default:
        break;
    }
    if (cmd->nargs > 0)
        return admin_usage("unexpected argument '%s': %s %s takes none", cmd->args[0], on, verb);
    return ADMIN_OK;
}

/* config: the key a filter names by itself (a bare word or key=K), else NULL. */
static char *
config_key(int n, char **words)
{
    const char *w;

    if (n != 1)
        return NULL;
    w = strncmp(words[0], "key=", 4) == 0 ? words[0] + 4 : words[0];
    if (*w == '\0' || strpbrk(w, "=<>~!,;()[]\"*% \t") != NULL)
        return NULL;
    return qvd_xstrdup(w);
}

int
remote_parse(int argc, char **argv, struct remote_cmd *cmd)
{
    int first = 1, verb_at = -1, v = -1, order_at;

    memset(cmd, 0, sizeof(*cmd));
    if (argc < 1)
        return admin_usage("give an object (see qvd-admin --help)");
    if (strcmp(argv[0], "property") == 0) {
        if (argc < 2 || (cmd->obj = remote_object_find(argv[1])) == NULL || !cmd->obj->props)
            return admin_usage("property OBJECT [FILTER] get|set|del: OBJECT is one of vm user"
                               " host osf di tenant");
        cmd->property = true;
        first = 2;
    } else if ((cmd->obj = remote_object_find(argv[0])) == NULL) {
        return admin_usage("unknown object '%s' (objects: vm user host osf di tenant role acl"
                           " admin config property log tag)",
                           argv[0]);
    }
    for (int i = first; i < argc; i++)
        if ((v = verb_find(cmd->obj, cmd->property, argv[i])) >= 0) {
            verb_at = i;
            break;
        }
    if (verb_at < 0)
        return admin_usage("no verb for %s (see qvd-admin %s --help)",
                           cmd->property ? "property" : cmd->obj->name, argv[0]);
    /* `vm get get`: the first word is a name that happens to be a verb */
    if (verb_at == first && verb_at + 1 < argc &&
        verb_find(cmd->obj, cmd->property, argv[verb_at + 1]) >= 0)
        v = verb_find(cmd->obj, cmd->property, argv[++verb_at]);
    cmd->verb = (enum remote_verb)v;
    cmd->filter = remote_filter_join(cmd->obj, verb_at - first, argv + first);
    if (strcmp(cmd->obj->name, "config") == 0)
        cmd->key = config_key(verb_at - first, argv + first);

    for (order_at = verb_at + 1; order_at < argc; order_at++)
        if (strcmp(argv[order_at], "order") == 0)
            break;
    cmd->args = argv + verb_at + 1;
    cmd->nargs = order_at - verb_at - 1;
    if (order_at < argc &&
        (cmd->order = remote_order(cmd->obj, argc - order_at - 1, argv + order_at + 1)) == NULL)
        return ADMIN_USAGE;
    return check_args(cmd, verb_at > first);
}

void
remote_cmd_free(struct remote_cmd *cmd)
{
    free(cmd->filter);
    free(cmd->key);
    free(cmd->order);
    free(cmd->fields);
    memset(cmd, 0, sizeof(*cmd));
}

const char *
remote_arg(const struct remote_cmd *cmd, const char *key)
{
    for (int i = 0; i < cmd->nargs; i++) {
        const char *a = cmd->args[i], *eq = strchr(a, '=');
        if (eq == NULL || eq == a)
            continue;
        const char *f = alias(cmd->obj, a, (size_t)(eq - a));
        if (f != NULL ? strcmp(f, key) == 0 : has_key(a, key))
            return eq + 1;
    }
    return NULL;
}

/* cmd_user.c: qvd-admin user list|add|set|passwd|block|unblock|del. */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "model.h"
#include "util.h"

static int
user_list(struct admin_ctx *ctx)
{
    struct qvd_model_filter f = QVD_MODEL_FILTER_ANY;
    int rc;

    if (admin_opt_int(ctx, "id", &f.id) < 0)
        return ADMIN_USAGE;
    if (admin_opt(ctx, "tenant") && (rc = admin_tenant(ctx, "tenant", false, &f.tenant_id)))
        return rc;
    f.name = admin_opt(ctx, "login");
    return admin_list(ctx, "users", "id,name,tenant,blocked,language,vms,description", &f, "name");
}

static int
user_add(struct admin_ctx *ctx)
{
    const char *login = admin_opt(ctx, "login"), *at = strrchr(login, '@');
    char *name, *password = NULL;
    int64_t tenant_id, id;
    int rc;

    if (admin_check_members(ctx, true) != ADMIN_OK)
        return ADMIN_REFUSED;
    if (at != NULL && admin_opt(ctx, "tenant") != NULL)
        return admin_usage("give the tenant either as %s or as --tenant, not both", login);
    if (at != NULL) {
        char *t = qvd_xstrdup(at + 1);
        rc = qvd_model_tenant_find(ctx->db, t, &tenant_id) < 0 ? admin_refused() : ADMIN_OK;
        free(t);
        name = qvd_xstrndup(login, (size_t)(at - login));
    } else {
        rc = admin_tenant(ctx, "tenant", true, &tenant_id);
        name = qvd_xstrdup(login);
    }
    if (rc == ADMIN_OK)
        rc = admin_password(ctx, &password);
    if (rc == ADMIN_OK) {
        if (qvd_model_user_add(ctx->db, ctx->cfg, tenant_id, name, password,
                               admin_opt(ctx, "description"), &id) < 0)
            rc = admin_refused();
        else
            admin_done(ctx, "user", id);
    }
    if (password != NULL) {
        qvd_wipe(password, strlen(password));
        free(password);
    }
    free(name);
    return rc;
}

static int
user_set(struct admin_ctx *ctx)
{
    int64_t id;
    int bad = 0, blocked = admin_opt_bool(ctx, "blocked", &bad);

    if (admin_check_members(ctx, false) != ADMIN_OK)
        return ADMIN_REFUSED;
    if (bad || admin_need_id(ctx, &id) != ADMIN_OK)
        return ADMIN_USAGE;
    if (qvd_model_user_set(ctx->db, ctx->cfg, id, admin_opt(ctx, "login"),
                           admin_opt(ctx, "description"), admin_opt(ctx, "language"), blocked) < 0)
        return admin_refused();
    return ADMIN_OK;
}

static int
user_passwd(struct admin_ctx *ctx)
{
    char *password = NULL;
    int64_t id;
    int rc = admin_user(ctx, "id", "login", &id);

    if (rc == ADMIN_OK)
        rc = admin_password(ctx, &password);
    if (rc == ADMIN_OK && qvd_model_user_passwd(ctx->db, ctx->cfg, id, password) < 0)
        rc = admin_refused();
    if (password != NULL) {
        qvd_wipe(password, strlen(password));
        free(password);
    }
    return rc;
}

static int
user_block(struct admin_ctx *ctx)
{
    int64_t id;
    int rc = admin_user(ctx, "id", "login", &id);

    if (rc != ADMIN_OK)
        return rc;
    if (qvd_model_user_set(ctx->db, ctx->cfg, id, NULL, NULL, NULL,
                           strcmp(ctx->verb, "block") == 0) < 0)
        return admin_refused();
    return ADMIN_OK;
}

static int
user_del(struct admin_ctx *ctx)
{
    int64_t id;
    int rc = admin_user(ctx, "id", "login", &id);

    if (rc != ADMIN_OK)
        return rc;
    if (qvd_model_user_del(ctx->db, ctx->cfg, id) < 0)
        return admin_refused();
    return ADMIN_OK;
}

#define USER_REF_OPTS                                                                              \
    {"id", true, false}, {"login", true, false},                                                   \
    {                                                                                              \
        "tenant", true, false                                                                      \
    }

const struct admin_cmd cmd_user_list = {
    .object = "user",
    .verb = "list",
    .usage = "[--id N] [--login LOGIN] [--tenant NAME]",
    .opts = (const struct admin_opt[]){USER_REF_OPTS, {0}},
    .exec = user_list,
};
const struct admin_cmd cmd_user_add = {
    .object = "user",
    .verb = "add",
    .usage = "--login LOGIN[@TENANT] [--tenant NAME] [--password PW | --password-stdin]"
             " [--description TEXT]",
    .help = "without a password option, the password is asked on the terminal",
    .opts = (const struct admin_opt[]){{"login", true, true},
                                       {"tenant", true, false},
                                       {"password", true, false},
                                       {"password-stdin", false, false},
                                       {"description", true, false},
                                       {0}},
    .exec = user_add,
};
const struct admin_cmd cmd_user_set = {
    .object = "user",
    .verb = "set",
    .usage = "--id N [--login NEW] [--description TEXT] [--language es|en|auto|default]"
             " [--blocked 0|1]",
    .opts = (const struct admin_opt[]){{"id", true, true},
                                       {"login", true, false},
                                       {"description", true, false},
                                       {"language", true, false},
                                       {"blocked", true, false},
                                       {0}},
    .exec = user_set,
};
const struct admin_cmd cmd_user_passwd = {
    .object = "user",
    .verb = "passwd",
    .usage = "--id N | --login LOGIN[@TENANT] [--password PW | --password-stdin]",
    .opts =
        (const struct admin_opt[]){
            USER_REF_OPTS, {"password", true, false}, {"password-stdin", false, false}, {0}},
    .exec = user_passwd,
};
const struct admin_cmd cmd_user_block = {
    .object = "user",
    .verb = "block",
    .usage = "--id N | --login LOGIN[@TENANT]",
    .opts = (const struct admin_opt[]){USER_REF_OPTS, {0}},
    .exec = user_block,
};
const struct admin_cmd cmd_user_unblock = {
    .object = "user",
    .verb = "unblock",
    .usage = "--id N | --login LOGIN[@TENANT]",
    .opts = (const struct admin_opt[]){USER_REF_OPTS, {0}},
    .exec = user_block,
};
const struct admin_cmd cmd_user_del = {
    .object = "user",
    .verb = "del",
    .usage = "--id N | --login LOGIN[@TENANT]",
    .help = "refused while the user owns VMs",
    .opts = (const struct admin_opt[]){USER_REF_OPTS, {0}},
    .exec = user_del,
};

/* cmd_admin.c: qvd-admin admin list|add|passwd|del|assign|unassign and role list (local mode:
 * bootstrap and recovery of the administrators of qvd-api). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "model.h"
#include "resource.h"
#include "util.h"

/* --id N, or --name NAME[@TENANT] (with --tenant) */
static int
admin_ref(struct admin_ctx *ctx, int64_t *id)
{
    const char *name = admin_opt(ctx, "name");
    int r = admin_opt_int(ctx, "id", id);

    if (r < 0)
        return ADMIN_USAGE;
    if (r == 1)
        return ADMIN_OK;
    if (name == NULL)
        return admin_usage("'admin %s' needs --id or --name", ctx->verb);
    if (qvd_model_admin_find(ctx->db, name, admin_opt(ctx, "tenant"), id) < 0)
        return admin_refused();
    return ADMIN_OK;
}

static int
a_list(struct admin_ctx *ctx)
{
    struct qvd_model_filter any = QVD_MODEL_FILTER_ANY;
    return admin_list(ctx, "administrators", "id,name,tenant,blocked,roles,description", &any,
                      "name");
}

static int
a_add(struct admin_ctx *ctx)
{
    int64_t tenant_id, id, role_id;
    char *pw = NULL;
    int rc;

    if (admin_check_members(ctx, true) != ADMIN_OK)
        return ADMIN_REFUSED;
    if ((rc = admin_tenant(ctx, "tenant", false, &tenant_id)) != ADMIN_OK)
        return rc;
    if ((rc = admin_password(ctx, &pw)) != ADMIN_OK)
        return rc;
    rc = qvd_model_admin_add(ctx->db, ctx->cfg, tenant_id, admin_opt(ctx, "name"), pw,
                             admin_opt(ctx, "description"), &id);
    qvd_wipe(pw, strlen(pw));
    free(pw);
    if (rc < 0)
        return admin_refused();
    if (admin_opt(ctx, "role")) {
        if (qvd_model_role_find(ctx->db, tenant_id, admin_opt(ctx, "role"), &role_id) < 0 ||
            qvd_model_admin_assign(ctx->db, ctx->cfg, id, role_id, true) < 0)
            return admin_refused();
    }
    admin_done(ctx, "administrator", id);
    return ADMIN_OK;
}

static int
a_passwd(struct admin_ctx *ctx)
{
    int64_t id;
    char *pw = NULL;
    int rc;

    if ((rc = admin_ref(ctx, &id)) != ADMIN_OK || (rc = admin_password(ctx, &pw)) != ADMIN_OK)
        return rc;
    rc = qvd_model_admin_passwd(ctx->db, ctx->cfg, id, pw);
    qvd_wipe(pw, strlen(pw));
    free(pw);
    return rc < 0 ? admin_refused() : ADMIN_OK;
}

static int
a_del(struct admin_ctx *ctx)
{
    int64_t id;
    int rc;

    if ((rc = admin_ref(ctx, &id)) != ADMIN_OK)
        return rc;
    return qvd_model_admin_del(ctx->db, ctx->cfg, id) < 0 ? admin_refused() : ADMIN_OK;
}

static int
a_assign(struct admin_ctx *ctx)
{
    int64_t id, tenant_id, role_id;
    int rc;

    if ((rc = admin_ref(ctx, &id)) != ADMIN_OK)
        return rc;
    if (qvd_resource_tenant(ctx->db, qvd_resource_find("administrators"), id, &tenant_id) != 1)
        return admin_refusedf("administrator %lld does not exist", (long long)id);
    if (qvd_model_role_find(ctx->db, tenant_id, admin_opt(ctx, "role"), &role_id) < 0 ||
        qvd_model_admin_assign(ctx->db, ctx->cfg, id, role_id, strcmp(ctx->verb, "assign") == 0) <
            0)
        return admin_refused();
    return ADMIN_OK;
}

static int
r_list(struct admin_ctx *ctx)
{
    struct qvd_model_filter any = QVD_MODEL_FILTER_ANY;
    return admin_list(ctx, "roles", "id,name,tenant,fixed,acls,description", &any, "name");
}

#define ADMIN_REF_OPTS                                                                             \
    {"id", true, false}, {"name", true, false},                                                    \
    {                                                                                              \
        "tenant", true, false                                                                      \
    }

const struct admin_cmd cmd_admin_list = {
    .object = "admin",
    .verb = "list",
    .usage = "",
    .help = "the administrators of qvd-api",
    .exec = a_list,
};
const struct admin_cmd cmd_admin_add = {
    .object = "admin",
    .verb = "add",
    .usage = "--name NAME --tenant TENANT|'*' [--role ROLE] [--password PW | --password-stdin]"
             " [--description TEXT]",
    .help = "tenant '*' makes a superadministrator; --role master gives every ACL",
    .opts = (const struct admin_opt[]){{"name", true, true},
                                       {"tenant", true, true},
                                       {"role", true, false},
                                       {"password", true, false},
                                       {"password-stdin", false, false},
                                       {"description", true, false},
                                       {0}},
    .exec = a_add,
};
const struct admin_cmd cmd_admin_passwd = {
    .object = "admin",
    .verb = "passwd",
    .usage = "--id N | --name NAME[@TENANT] [--password PW | --password-stdin]",
    .opts =
        (const struct admin_opt[]){
            ADMIN_REF_OPTS, {"password", true, false}, {"password-stdin", false, false}, {0}},
    .exec = a_passwd,
};
const struct admin_cmd cmd_admin_del = {
    .object = "admin",
    .verb = "del",
    .usage = "--id N | --name NAME[@TENANT]",
    .opts = (const struct admin_opt[]){ADMIN_REF_OPTS, {0}},
    .exec = a_del,
};
const struct admin_cmd cmd_admin_assign = {
    .object = "admin",
    .verb = "assign",
    .usage = "--id N | --name NAME[@TENANT]  --role ROLE",
    .help = "gives a role of the administrator's tenant or of the common tenant",
    .opts = (const struct admin_opt[]){ADMIN_REF_OPTS, {"role", true, true}, {0}},
    .exec = a_assign,
};
const struct admin_cmd cmd_admin_unassign = {
    .object = "admin",
    .verb = "unassign",
    .usage = "--id N | --name NAME[@TENANT]  --role ROLE",
    .opts = (const struct admin_opt[]){ADMIN_REF_OPTS, {"role", true, true}, {0}},
    .exec = a_assign,
};
const struct admin_cmd cmd_role_list = {
    .object = "role",
    .verb = "list",
    .usage = "",
    .help = "roles (built-in ones are fixed; manage roles through qvd-api)",
    .exec = r_list,
};

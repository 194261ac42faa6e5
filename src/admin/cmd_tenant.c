/* cmd_tenant.c: qvd-admin tenant list|add|set|del. */
#include <stdlib.h>

#include "admin.h"
#include "model.h"

static int
tenant_list(struct admin_ctx *ctx)
{
    struct qvd_model_filter f = QVD_MODEL_FILTER_ANY;

    if (admin_opt_int(ctx, "id", &f.id) < 0)
        return ADMIN_USAGE;
    f.name = admin_opt(ctx, "name");
    return admin_list(ctx, "tenants", "id,name,blocked,description", &f, "name");
}

static int
tenant_add(struct admin_ctx *ctx)
{
    int64_t id;

    if (admin_check_members(ctx, true) != ADMIN_OK)
        return ADMIN_REFUSED;
    if (qvd_model_tenant_add(ctx->db, ctx->cfg, admin_opt(ctx, "name"),
                             admin_opt(ctx, "description"), &id) < 0)
        return admin_refused();
    admin_done(ctx, "tenant", id);
    return ADMIN_OK;
}

static int
tenant_set(struct admin_ctx *ctx)
{
    int64_t id;
    int bad = 0, blocked = admin_opt_bool(ctx, "blocked", &bad);

    if (admin_check_members(ctx, false) != ADMIN_OK)
        return ADMIN_REFUSED;
    if (bad || admin_need_id(ctx, &id) != ADMIN_OK)
        return ADMIN_USAGE;
    if (qvd_model_tenant_set(ctx->db, ctx->cfg, id, admin_opt(ctx, "name"),
                             admin_opt(ctx, "description"), blocked) < 0)
        return admin_refused();
    return ADMIN_OK;
}

static int
tenant_del(struct admin_ctx *ctx)
{
    int64_t id;
    int rc;

    if (admin_opt(ctx, "name") != NULL && admin_opt(ctx, "id") == NULL) {
        if ((rc = admin_tenant(ctx, "name", false, &id)) != ADMIN_OK)
            return rc;
    } else if ((rc = admin_need_id(ctx, &id)) != ADMIN_OK)
        return rc;
    if (qvd_model_tenant_del(ctx->db, ctx->cfg, id) < 0)
        return admin_refused();
    return ADMIN_OK;
}

const struct admin_cmd cmd_tenant_list = {
    .object = "tenant",
    .verb = "list",
    .usage = "[--id N] [--name NAME]",
    .opts = (const struct admin_opt[]){{"id", true, false}, {"name", true, false}, {0}},
    .exec = tenant_list,
};
const struct admin_cmd cmd_tenant_add = {
    .object = "tenant",
    .verb = "add",
    .usage = "--name NAME [--description TEXT]",
    .opts = (const struct admin_opt[]){{"name", true, true}, {"description", true, false}, {0}},
    .exec = tenant_add,
};
const struct admin_cmd cmd_tenant_set = {
    .object = "tenant",
    .verb = "set",
    .usage = "--id N [--name NEW] [--description TEXT] [--blocked 0|1]",
    .opts = (const struct admin_opt[]){{"id", true, true},
                                       {"name", true, false},
                                       {"description", true, false},
                                       {"blocked", true, false},
                                       {0}},
    .exec = tenant_set,
};
const struct admin_cmd cmd_tenant_del = {
    .object = "tenant",
    .verb = "del",
    .usage = "--id N | --name NAME",
    .help = "refused while the tenant has users or OSFs",
    .opts = (const struct admin_opt[]){{"id", true, false}, {"name", true, false}, {0}},
    .exec = tenant_del,
};

/* cmd_prop.c: qvd-admin OBJECT proplist|propset|propdel for every object with properties. */
#include <string.h>

#include "admin.h"
#include "model.h"

static int
prop_list(struct admin_ctx *ctx)
{
    int64_t id = -1;

    if (admin_opt_int(ctx, "id", &id) < 0)
        return ADMIN_USAGE;
    return admin_print(ctx, qvd_model_prop_list(ctx->db, ctx->object, id));
}

static int
prop_change(struct admin_ctx *ctx)
{
    int64_t id;
    int rc = admin_need_id(ctx, &id);

    if (rc != ADMIN_OK)
        return rc;
    if (strcmp(ctx->verb, "propset") == 0) {
        if (admin_opt(ctx, "value") == NULL)
            return admin_usage("'%s propset' needs --value", ctx->object);
        rc = qvd_model_prop_set(ctx->db, ctx->cfg, ctx->object, id, admin_opt(ctx, "key"),
                                admin_opt(ctx, "value"));
    } else {
        rc = qvd_model_prop_del(ctx->db, ctx->cfg, ctx->object, id, admin_opt(ctx, "key"));
    }
    return rc < 0 ? admin_refused() : ADMIN_OK;
}

const struct admin_cmd cmd_prop_list = {
    .verb = "proplist",
    .usage = "[--id N]",
    .opts = (const struct admin_opt[]){{"id", true, false}, {0}},
    .exec = prop_list,
};
const struct admin_cmd cmd_prop_set = {
    .verb = "propset",
    .usage = "--id N --key KEY --value VALUE",
    .opts =
        (const struct admin_opt[]){
            {"id", true, true}, {"key", true, true}, {"value", true, false}, {0}},
    .exec = prop_change,
};
const struct admin_cmd cmd_prop_del = {
    .verb = "propdel",
    .usage = "--id N --key KEY",
    .opts = (const struct admin_opt[]){{"id", true, true}, {"key", true, true}, {0}},
    .exec = prop_change,
};

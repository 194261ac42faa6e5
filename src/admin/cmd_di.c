/* cmd_di.c: qvd-admin di list|add|set|tag|untag|block|unblock|del. */
#include <string.h>

#include "admin.h"
#include "model.h"

static int
di_list(struct admin_ctx *ctx)
{
    struct qvd_model_filter f = QVD_MODEL_FILTER_ANY;
    int64_t tenant_id = -2;
    int rc;

    if (admin_opt_int(ctx, "id", &f.id) < 0)
        return ADMIN_USAGE;
    if (admin_opt(ctx, "tenant") && (rc = admin_tenant(ctx, "tenant", false, &tenant_id)))
        return rc;
    f.tenant_id = tenant_id;
    if ((admin_opt(ctx, "osf") || admin_opt(ctx, "osf-id")) &&
        (rc = admin_osf(ctx, tenant_id < -1 ? -1 : tenant_id, &f.osf_id)) != ADMIN_OK)
        return rc;
    f.name = admin_opt(ctx, "version");
    return admin_list(ctx, "dis", "id,osf,osf_id,version,path,blocked,state,tags,description", &f,
                      "version");
}

static int
di_add(struct admin_ctx *ctx)
{
    int64_t tenant_id = -1, osf_id, id;
    int rc;

    if (admin_check_members(ctx, true) != ADMIN_OK)
        return ADMIN_REFUSED;
    if (admin_opt(ctx, "osf") != NULL &&
        (rc = admin_tenant(ctx, "tenant", true, &tenant_id)) != ADMIN_OK)
        return rc;
    if ((rc = admin_osf(ctx, tenant_id, &osf_id)) != ADMIN_OK)
        return rc;
    if (qvd_model_di_add(ctx->db, ctx->cfg, osf_id, admin_opt(ctx, "path"),
                         admin_opt(ctx, "version"), admin_opt(ctx, "description"), &id) < 0)
        return admin_refused();
    admin_done(ctx, "di", id);
    return ADMIN_OK;
}

static int
di_set(struct admin_ctx *ctx)
{
    int64_t id;
    int bad = 0, blocked = admin_opt_bool(ctx, "blocked", &bad);

    if (admin_check_members(ctx, false) != ADMIN_OK)
        return ADMIN_REFUSED;
    if (bad || admin_need_id(ctx, &id) != ADMIN_OK)
        return ADMIN_USAGE;
    if (qvd_model_di_set(ctx->db, ctx->cfg, id, admin_opt(ctx, "description"), blocked) < 0)
        return admin_refused();
    return ADMIN_OK;
}

static int
di_block(struct admin_ctx *ctx)
{
    int64_t id;
    int rc = admin_need_id(ctx, &id);

    if (rc != ADMIN_OK)
        return rc;
    if (qvd_model_di_set(ctx->db, ctx->cfg, id, NULL, strcmp(ctx->verb, "block") == 0) < 0)
        return admin_refused();
    return ADMIN_OK;
}

static int
di_tag(struct admin_ctx *ctx)
{
    int64_t id;
    int rc = admin_need_id(ctx, &id);

    if (rc != ADMIN_OK)
        return rc;
    rc = strcmp(ctx->verb, "tag") == 0
             ? qvd_model_di_tag(ctx->db, ctx->cfg, id, admin_opt(ctx, "tag"))
             : qvd_model_di_untag(ctx->db, ctx->cfg, id, admin_opt(ctx, "tag"));
    return rc < 0 ? admin_refused() : ADMIN_OK;
}

static int
di_del(struct admin_ctx *ctx)
{
    int64_t id;
    int rc = admin_need_id(ctx, &id);

    if (rc != ADMIN_OK)
        return rc;
    if (qvd_model_di_del(ctx->db, ctx->cfg, id) < 0)
        return admin_refused();
    return ADMIN_OK;
}

#define ID_OPT                                                                                     \
    (const struct admin_opt[])                                                                     \
    {                                                                                              \
        {"id", true, true},                                                                        \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }
#define TAG_OPTS                                                                                   \
    (const struct admin_opt[])                                                                     \
    {                                                                                              \
        {"id", true, true}, {"tag", true, true},                                                   \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

const struct admin_cmd cmd_di_list = {
    .object = "di",
    .verb = "list",
    .usage = "[--id N] [--osf NAME | --osf-id N] [--tenant NAME] [--version V]",
    .opts = (const struct admin_opt[]){{"id", true, false},
                                       {"osf", true, false},
                                       {"osf-id", true, false},
                                       {"tenant", true, false},
                                       {"version", true, false},
                                       {0}},
    .exec = di_list,
};
const struct admin_cmd cmd_di_add = {
    .object = "di",
    .verb = "add",
    .usage = "--osf NAME [--tenant NAME] | --osf-id N, --path FILE_OR_DIR [--version V]"
             " [--description TEXT]",
    .help = "imports a directory or a .tar[.gz|.xz|.zst|.bz2] (.tgz, .txz) into"
            " path.storage.images; tags: its version (fixed), head, default if none",
    .opts = (const struct admin_opt[]){{"osf", true, false},
                                       {"osf-id", true, false},
                                       {"tenant", true, false},
                                       {"path", true, true},
                                       {"version", true, false},
                                       {"description", true, false},
                                       {0}},
    .exec = di_add,
};
const struct admin_cmd cmd_di_set = {
    .object = "di",
    .verb = "set",
    .usage = "--id N [--description TEXT] [--blocked 0|1]",
    .opts =
        (const struct admin_opt[]){
            {"id", true, true}, {"description", true, false}, {"blocked", true, false}, {0}},
    .exec = di_set,
};
const struct admin_cmd cmd_di_tag = {
    .object = "di",
    .verb = "tag",
    .usage = "--id N --tag TAG",
    .help = "moves TAG from the DI of the same OSF holding it (fixed version tags never move)",
    .opts = TAG_OPTS,
    .exec = di_tag,
};
const struct admin_cmd cmd_di_untag = {
    .object = "di",
    .verb = "untag",
    .usage = "--id N --tag TAG",
    .help = "fixed tags, head and default cannot be removed",
    .opts = TAG_OPTS,
    .exec = di_tag,
};
const struct admin_cmd cmd_di_block = {
    .object = "di",
    .verb = "block",
    .usage = "--id N",
    .opts = ID_OPT,
    .exec = di_block,
};
const struct admin_cmd cmd_di_unblock = {
    .object = "di",
    .verb = "unblock",
    .usage = "--id N",
    .opts = ID_OPT,
    .exec = di_block,
};
const struct admin_cmd cmd_di_del = {
    .object = "di",
    .verb = "del",
    .usage = "--id N",
    .help = "head/default move to the newest remaining DI; refused if VMs would lose their DI",
    .opts = ID_OPT,
    .exec = di_del,
};

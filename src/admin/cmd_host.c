/* cmd_host.c: qvd-admin host list|add|set|block|unblock|del. */
#include <string.h>

#include "admin.h"
#include "model.h"

static int
host_list(struct admin_ctx *ctx)
{
    struct qvd_model_filter f = QVD_MODEL_FILTER_ANY;

    if (admin_opt_int(ctx, "id", &f.id) < 0)
        return ADMIN_USAGE;
    f.name = admin_opt(ctx, "name");
    return admin_list(ctx, "hosts",
                      "id,name,address,frontend,backend,state,blocked,ok_ts,usable_ram,usable_cpu,"
                      "vms,description",
                      &f, "name");
}

static int
host_add(struct admin_ctx *ctx)
{
    int64_t id;

    if (admin_check_members(ctx, true) != ADMIN_OK)
        return ADMIN_REFUSED;
    if (qvd_model_host_add(ctx->db, ctx->cfg, admin_opt(ctx, "name"), admin_opt(ctx, "address"),
                           admin_opt(ctx, "description"), &id) < 0)
        return admin_refused();
    admin_done(ctx, "host", id);
    return ADMIN_OK;
}

static int
host_set(struct admin_ctx *ctx)
{
    int64_t id;
    int bad = 0, fe, be;

    if (admin_check_members(ctx, false) != ADMIN_OK)
        return ADMIN_REFUSED;
    fe = admin_opt_bool(ctx, "frontend", &bad);
    be = admin_opt_bool(ctx, "backend", &bad);
    if (bad || admin_need_id(ctx, &id) != ADMIN_OK)
        return ADMIN_USAGE;
    if (qvd_model_host_set(ctx->db, ctx->cfg, id, admin_opt(ctx, "name"), admin_opt(ctx, "address"),
                           admin_opt(ctx, "description"), fe, be) < 0)
        return admin_refused();
    return ADMIN_OK;
}

static int
host_verb(struct admin_ctx *ctx)
{
    int64_t id;
    int rc = admin_host(ctx, &id);

    if (rc != ADMIN_OK)
        return rc;
    if (strcmp(ctx->verb, "del") == 0)
        rc = qvd_model_host_del(ctx->db, ctx->cfg, id);
    else
        rc = qvd_model_host_block(ctx->db, ctx->cfg, id, strcmp(ctx->verb, "block") == 0);
    return rc < 0 ? admin_refused() : ADMIN_OK;
}

#define REF_OPTS                                                                                   \
    (const struct admin_opt[])                                                                     \
    {                                                                                              \
        {"id", true, false}, {"name", true, false},                                                \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

const struct admin_cmd cmd_host_list = {
    .object = "host",
    .verb = "list",
    .usage = "[--id N] [--name NAME]",
    .opts = REF_OPTS,
    .exec = host_list,
};
const struct admin_cmd cmd_host_add = {
    .object = "host",
    .verb = "add",
    .usage = "--name NODENAME --address IPV4 [--description TEXT]",
    .help = "NODENAME is the nodename the node's qvd-hkd registers as",
    .opts =
        (const struct admin_opt[]){
            {"name", true, true}, {"address", true, true}, {"description", true, false}, {0}},
    .exec = host_add,
};
const struct admin_cmd cmd_host_set = {
    .object = "host",
    .verb = "set",
    .usage = "--id N [--name NEW] [--address IPV4] [--description TEXT] [--frontend 0|1]"
             " [--backend 0|1]",
    .opts = (const struct admin_opt[]){{"id", true, true},
                                       {"name", true, false},
                                       {"address", true, false},
                                       {"description", true, false},
                                       {"frontend", true, false},
                                       {"backend", true, false},
                                       {0}},
    .exec = host_set,
};
const struct admin_cmd cmd_host_block = {
    .object = "host",
    .verb = "block",
    .usage = "--id N | --name NAME",
    .help = "a blocked host gets no new VMs",
    .opts = REF_OPTS,
    .exec = host_verb,
};
const struct admin_cmd cmd_host_unblock = {
    .object = "host",
    .verb = "unblock",
    .usage = "--id N | --name NAME",
    .opts = REF_OPTS,
    .exec = host_verb,
};
const struct admin_cmd cmd_host_del = {
    .object = "host",
    .verb = "del",
    .usage = "--id N | --name NAME",
    .help = "refused while VMs are assigned to it or its qvd-hkd runs",
    .opts = REF_OPTS,
    .exec = host_verb,
};

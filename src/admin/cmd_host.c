/* cmd_host.c: qvd-admin host list|add|set|block|unblock|evacuate|del. */
#include <string.h>

#include <stdio.h>

#include <jansson.h>

#include "admin.h"
#include "model.h"
#include "resource.h"

static int
host_list(struct admin_ctx *ctx)
{
    struct qvd_model_filter f = QVD_MODEL_FILTER_ANY;

    if (admin_opt_int(ctx, "id", &f.id) < 0)
        return ADMIN_USAGE;
    f.name = admin_opt(ctx, "name");
    return admin_list(ctx, "hosts",
                      "id,name,address,vm_subnet,frontend,backend,state,blocked,heartbeat_age,"
                      "usable_ram,memory_committed,usable_cpu,vms,vm_ids,description",
                      &f, "name");
}

/* add and set: the options as the members of the description, through the host's ops (one
 * transaction with the VM subnet, as qvd-api does it) */
static int
host_add(struct admin_ctx *ctx)
{
    json_t *v;
    int64_t id;
    int rc;

    if (admin_members(ctx, true, &v) != ADMIN_OK)
        return ADMIN_REFUSED;
    rc = qvd_host_ops.create(ctx->db, ctx->cfg, -2, v, &id);
    json_decref(v);
    if (rc < 0)
        return admin_refused();
    admin_done(ctx, "host", id);
    return ADMIN_OK;
}

static int
host_set(struct admin_ctx *ctx)
{
    json_t *v;
    int64_t id;
    int rc;

    if (admin_need_id(ctx, &id) != ADMIN_OK)
        return ADMIN_USAGE;
    if (admin_members(ctx, false, &v) != ADMIN_OK)
        return ADMIN_REFUSED;
    rc = qvd_host_ops.update(ctx->db, ctx->cfg, id, v);
    json_decref(v);
    return rc < 0 ? admin_refused() : ADMIN_OK;
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

static int
host_evacuate(struct admin_ctx *ctx)
{
    int64_t id, moved;
    int rc = admin_host(ctx, &id);

    if (rc != ADMIN_OK)
        return rc;
    if (qvd_model_host_evacuate(ctx->db, ctx->cfg, id, admin_flag(ctx, "force"), &moved) < 0)
        return admin_refused();
    printf("host %lld evacuated: %lld VMs stopped, each starts on another node at its user's"
           " next login\n",
           (long long)id, (long long)moved);
    return ADMIN_OK;
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
    .usage = "--name NODENAME --address IPV4 [--vm-subnet A.B.C.D/N] [--description TEXT]",
    .help = "NODENAME is the nodename the node's qvd-hkd registers as",
    .opts = (const struct admin_opt[]){{"name", true, true},
                                       {"address", true, true},
                                       {"vm-subnet", true, false},
                                       {"description", true, false},
                                       {0}},
    .exec = host_add,
};
const struct admin_cmd cmd_host_set = {
    .object = "host",
    .verb = "set",
    .usage = "--id N [--name NEW] [--address IPV4] [--vm-subnet A.B.C.D/N|''] [--description TEXT]"
             " [--frontend 0|1] [--backend 0|1]",
    .opts = (const struct admin_opt[]){{"id", true, true},
                                       {"name", true, false},
                                       {"address", true, false},
                                       {"vm-subnet", true, false},
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
const struct admin_cmd cmd_host_evacuate = {
    .object = "host",
    .verb = "evacuate",
    .usage = "--id N | --name NAME [--force]",
    .help = "blocks the host, ends its sessions and stops its VMs: each starts on another node at"
            " its user's next login (--force: even when no other node can take them)",
    .opts =
        (const struct admin_opt[]){
            {"id", true, false}, {"name", true, false}, {"force", false, false}, {0}},
    .exec = host_evacuate,
};
const struct admin_cmd cmd_host_del = {
    .object = "host",
    .verb = "del",
    .usage = "--id N | --name NAME",
    .help = "refused while VMs are assigned to it or its qvd-hkd runs",
    .opts = REF_OPTS,
    .exec = host_verb,
};

/* cmd_vm.c: qvd-admin vm list|add|set|del|start|stop|block|unblock. */
#include <string.h>

#include "admin.h"
#include "model.h"
#include "resource.h"

static int
vm_list(struct admin_ctx *ctx)
{
    struct qvd_model_filter f = QVD_MODEL_FILTER_ANY;
    int rc;

    if (admin_opt_int(ctx, "id", &f.id) < 0)
        return ADMIN_USAGE;
    if (admin_opt(ctx, "tenant") && (rc = admin_tenant(ctx, "tenant", false, &f.tenant_id)))
        return rc;
    if ((admin_opt(ctx, "user") || admin_opt(ctx, "user-id")) &&
        (rc = admin_user(ctx, "user-id", "user", &f.user_id)) != ADMIN_OK)
        return rc;
    if ((admin_opt(ctx, "osf") || admin_opt(ctx, "osf-id")) &&
        (rc = admin_osf(ctx, f.tenant_id < -1 ? -1 : f.tenant_id, &f.osf_id)) != ADMIN_OK)
        return rc;
    if (admin_opt(ctx, "host") != NULL &&
        qvd_model_host_find(ctx->db, admin_opt(ctx, "host"), &f.host_id) < 0)
        return admin_refused();
    f.name = admin_opt(ctx, "name");
    return admin_list(
        ctx, "vms",
        "id,name,user,tenant,osf,di_tag,ip,mac,state,cmd,host,blocked,user_state,description", &f,
        "name");
}

static int
vm_add(struct admin_ctx *ctx)
{
    struct qvd_model_vm v = {.name = admin_opt(ctx, "name"),
                             .di_tag = admin_opt(ctx, "di-tag"),
                             .description = admin_opt(ctx, "description")};
    int64_t tenant_id, id;
    int rc;

    if (admin_check_members(ctx, true) != ADMIN_OK)
        return ADMIN_REFUSED;
    if ((rc = admin_user(ctx, "user-id", "user", &v.user_id)) != ADMIN_OK)
        return rc;
    /* an OSF name is looked up in the user's tenant (then the common one) */
    if (qvd_resource_tenant(ctx->db, qvd_resource_find("users"), v.user_id, &tenant_id) != 1)
        return admin_refusedf("user %lld does not exist", (long long)v.user_id);
    if ((rc = admin_osf(ctx, tenant_id, &v.osf_id)) != ADMIN_OK)
        return rc;
    if (qvd_model_vm_add(ctx->db, ctx->cfg, &v, &id) < 0)
        return admin_refused();
    admin_done(ctx, "vm", id);
    return ADMIN_OK;
}

static int
vm_set(struct admin_ctx *ctx)
{
    int64_t id;
    int rc = admin_need_id(ctx, &id);

    if (admin_check_members(ctx, false) != ADMIN_OK)
        return ADMIN_REFUSED;
    if (rc != ADMIN_OK)
        return rc;
    if (qvd_model_vm_set(ctx->db, ctx->cfg, id, admin_opt(ctx, "name"), admin_opt(ctx, "di-tag"),
                         admin_opt(ctx, "description")) < 0)
        return admin_refused();
    return ADMIN_OK;
}

static int
vm_verb(struct admin_ctx *ctx)
{
    int64_t id, host = -1;
    int rc = admin_need_id(ctx, &id);

    if (rc != ADMIN_OK)
        return rc;
    if (strcmp(ctx->verb, "del") == 0)
        rc = qvd_model_vm_del(ctx->db, ctx->cfg, id);
    else if (strcmp(ctx->verb, "start") == 0)
        rc = qvd_model_vm_start(ctx->db, ctx->cfg, id, &host);
    else if (strcmp(ctx->verb, "stop") == 0)
        rc = qvd_model_vm_stop(ctx->db, ctx->cfg, id);
    else
        rc = qvd_model_vm_block(ctx->db, ctx->cfg, id, strcmp(ctx->verb, "block") == 0);
    if (rc < 0)
        return admin_refused();
    if (host >= 0)
        admin_done(ctx, "host", host);
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

const struct admin_cmd cmd_vm_list = {
    .object = "vm",
    .verb = "list",
    .usage = "[--id N] [--name NAME] [--tenant NAME] [--user LOGIN[@TENANT] | --user-id N]"
             " [--osf NAME | --osf-id N] [--host NAME]",
    .opts = (const struct admin_opt[]){{"id", true, false},
                                       {"name", true, false},
                                       {"tenant", true, false},
                                       {"user", true, false},
                                       {"user-id", true, false},
                                       {"osf", true, false},
                                       {"osf-id", true, false},
                                       {"host", true, false},
                                       {0}},
    .exec = vm_list,
};
const struct admin_cmd cmd_vm_add = {
    .object = "vm",
    .verb = "add",
    .usage = "--name NAME --user LOGIN[@TENANT] [--tenant NAME] | --user-id N,"
             " --osf NAME | --osf-id N [--di-tag TAG] [--description TEXT]",
    .help = "the OSF must be in the user's tenant or the common one; IP/MAC are allocated",
    .opts = (const struct admin_opt[]){{"name", true, true},
                                       {"user", true, false},
                                       {"user-id", true, false},
                                       {"tenant", true, false},
                                       {"osf", true, false},
                                       {"osf-id", true, false},
                                       {"di-tag", true, false},
                                       {"description", true, false},
                                       {0}},
    .exec = vm_add,
};
const struct admin_cmd cmd_vm_set = {
    .object = "vm",
    .verb = "set",
    .usage = "--id N [--name NEW] [--di-tag TAG] [--description TEXT]",
    .opts = (const struct admin_opt[]){{"id", true, true},
                                       {"name", true, false},
                                       {"di-tag", true, false},
                                       {"description", true, false},
                                       {0}},
    .exec = vm_set,
};
const struct admin_cmd cmd_vm_del = {
    .object = "vm",
    .verb = "del",
    .usage = "--id N",
    .help = "only a stopped VM",
    .opts = ID_OPT,
    .exec = vm_verb,
};
const struct admin_cmd cmd_vm_start = {
    .object = "vm",
    .verb = "start",
    .usage = "--id N",
    .help = "assigns a host (load balancer) and asks its qvd-hkd to start the VM",
    .opts = ID_OPT,
    .exec = vm_verb,
};
const struct admin_cmd cmd_vm_stop = {
    .object = "vm",
    .verb = "stop",
    .usage = "--id N",
    .opts = ID_OPT,
    .exec = vm_verb,
};
const struct admin_cmd cmd_vm_block = {
    .object = "vm",
    .verb = "block",
    .usage = "--id N",
    .opts = ID_OPT,
    .exec = vm_verb,
};
const struct admin_cmd cmd_vm_unblock = {
    .object = "vm",
    .verb = "unblock",
    .usage = "--id N",
    .opts = ID_OPT,
    .exec = vm_verb,
};

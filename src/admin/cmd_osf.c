/* cmd_osf.c: qvd-admin osf list|add|set|del. */
#include <stdlib.h>

#include "admin.h"
#include "model.h"

static int
osf_list(struct admin_ctx *ctx)
{
    struct qvd_model_filter f = QVD_MODEL_FILTER_ANY;
    int rc;

    if (admin_opt_int(ctx, "id", &f.id) < 0)
        return ADMIN_USAGE;
    if (admin_opt(ctx, "tenant") && (rc = admin_tenant(ctx, "tenant", false, &f.tenant_id)))
        return rc;
    f.name = admin_opt(ctx, "name");
    return admin_list(
        ctx, "osfs",
        "id,name,tenant,memory,use_overlay,user_storage_size,is_application,dis,vms,description",
        &f, "name");
}

/* The OSF fields from the options; ADMIN_USAGE on a bad number. */
static int
osf_fields(struct admin_ctx *ctx, struct qvd_model_osf *o)
{
    int64_t v;
    int bad = 0, r;

    o->name = admin_opt(ctx, "name");
    o->description = admin_opt(ctx, "description");
    if ((r = admin_opt_int(ctx, "memory", &v)) < 0)
        return ADMIN_USAGE;
    if (r == 1)
        o->memory = v < 0 ? -2 : (long)v;
    if ((r = admin_opt_int(ctx, "user-storage-size", &v)) < 0)
        return ADMIN_USAGE;
    if (r == 1)
        o->user_storage_size = v < 0 ? -2 : (long)v;
    o->use_overlay = admin_opt_bool(ctx, "use-overlay", &bad);
    o->is_application = admin_opt_bool(ctx, "is-application", &bad);
    return bad ? ADMIN_USAGE : ADMIN_OK;
}

static int
osf_add(struct admin_ctx *ctx)
{
    struct qvd_model_osf o = QVD_MODEL_OSF_UNSET;
    int64_t tenant_id, id;
    int rc;

    if (admin_check_members(ctx, true) != ADMIN_OK)
        return ADMIN_REFUSED;
    if ((rc = osf_fields(ctx, &o)) != ADMIN_OK ||
        (rc = admin_tenant(ctx, "tenant", true, &tenant_id)) != ADMIN_OK)
        return rc;
    if (qvd_model_osf_add(ctx->db, ctx->cfg, tenant_id, &o, &id) < 0)
        return admin_refused();
    admin_done(ctx, "osf", id);
    return ADMIN_OK;
}

static int
osf_set(struct admin_ctx *ctx)
{
    struct qvd_model_osf o = QVD_MODEL_OSF_UNSET;
    int64_t id;
    int rc;

    if (admin_check_members(ctx, false) != ADMIN_OK)
        return ADMIN_REFUSED;
    if ((rc = admin_need_id(ctx, &id)) != ADMIN_OK || (rc = osf_fields(ctx, &o)) != ADMIN_OK)
        return rc;
    if (qvd_model_osf_set(ctx->db, ctx->cfg, id, &o) < 0)
        return admin_refused();
    return ADMIN_OK;
}

static int
osf_del(struct admin_ctx *ctx)
{
    int64_t id, tenant_id;
    int rc;

    if (admin_opt(ctx, "id") == NULL && admin_opt(ctx, "name") != NULL) {
        if ((rc = admin_tenant(ctx, "tenant", true, &tenant_id)) != ADMIN_OK)
            return rc;
        if (qvd_model_osf_find(ctx->db, tenant_id, admin_opt(ctx, "name"), &id) < 0)
            return admin_refused();
    } else if ((rc = admin_need_id(ctx, &id)) != ADMIN_OK)
        return rc;
    if (qvd_model_osf_del(ctx->db, ctx->cfg, id) < 0)
        return admin_refused();
    return ADMIN_OK;
}

#define OSF_FIELD_OPTS                                                                             \
    {"description", true, false}, {"memory", true, false}, {"use-overlay", true, false},           \
        {"user-storage-size", true, false},                                                        \
    {                                                                                              \
        "is-application", true, false                                                              \
    }

const struct admin_cmd cmd_osf_list = {
    .object = "osf",
    .verb = "list",
    .usage = "[--id N] [--name NAME] [--tenant NAME]",
    .opts =
        (const struct admin_opt[]){
            {"id", true, false}, {"name", true, false}, {"tenant", true, false}, {0}},
    .exec = osf_list,
};
const struct admin_cmd cmd_osf_add = {
    .object = "osf",
    .verb = "add",
    .usage = "--name NAME [--tenant NAME|-] [--memory MIB] [--use-overlay 0|1]"
             " [--user-storage-size MIB] [--is-application 0|1] [--description TEXT]",
    .help = "an OSF of the common tenant '-' can be used by the VMs of every tenant",
    .opts =
        (const struct admin_opt[]){
            {"name", true, true}, {"tenant", true, false}, OSF_FIELD_OPTS, {0}},
    .exec = osf_add,
};
const struct admin_cmd cmd_osf_set = {
    .object = "osf",
    .verb = "set",
    .usage = "--id N [--name NEW] [--memory MIB] [--use-overlay 0|1] [--user-storage-size MIB]"
             " [--is-application 0|1] [--description TEXT]",
    .opts =
        (const struct admin_opt[]){{"id", true, true}, {"name", true, false}, OSF_FIELD_OPTS, {0}},
    .exec = osf_set,
};
const struct admin_cmd cmd_osf_del = {
    .object = "osf",
    .verb = "del",
    .usage = "--id N | --name NAME [--tenant NAME]",
    .help = "refused while VMs use the OSF or it has DIs",
    .opts =
        (const struct admin_opt[]){
            {"id", true, false}, {"name", true, false}, {"tenant", true, false}, {0}},
    .exec = osf_del,
};

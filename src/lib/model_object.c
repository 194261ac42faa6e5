/* model_object.c: the create, update and delete rules of each writable object, as the ops
 * of its description (resource.c): the members (already checked by qvd_resource_check)
 * handed to the model's functions. Absent members keep their value on update and take
 * the model's defaults on create. */
#include <jansson.h>

#include "db.h"
#include "err.h"
#include "model_int.h"
#include "resource.h"

static const char *
str(json_t *v, const char *name)
{
    return json_string_value(json_object_get(v, name));
}

/* An integer member, or `dflt` when absent. */
static int64_t
num(json_t *v, const char *name, int64_t dflt)
{
    json_t *j = json_object_get(v, name);
    return json_is_integer(j) ? json_integer_value(j) : dflt;
}

/* A boolean member (true/false or 1/0): 1, 0, or -1 when absent. */
static int
flag(json_t *v, const char *name)
{
    json_t *j = json_object_get(v, name);

    if (json_is_boolean(j))
        return json_is_true(j);
    if (json_is_integer(j))
        return json_integer_value(j) != 0;
    return -1;
}

/* ---- tenants ---- */
static int
tenant_create(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant, json_t *v, int64_t *id)
{
    (void)tenant;
    return qvd_model_tenant_add(db, cfg, str(v, "name"), str(v, "description"), id);
}
static int
tenant_update(struct qvd_db *db, struct qvd_config *cfg, int64_t id, json_t *v)
{
    return qvd_model_tenant_set(db, cfg, id, str(v, "name"), str(v, "description"), -1);
}
static int
tenant_block(struct qvd_db *db, struct qvd_config *cfg, int64_t id, bool blocked)
{
    return qvd_model_tenant_set(db, cfg, id, NULL, NULL, blocked);
}
const struct qvd_resource_ops qvd_tenant_ops = {tenant_create, tenant_update, qvd_model_tenant_del,
                                                tenant_block, NULL};

/* ---- users ---- */
static int
user_create(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant, json_t *v, int64_t *id)
{
    return qvd_model_user_add(db, cfg, tenant, str(v, "name"), str(v, "password"),
                              str(v, "description"), id);
}
static int
user_update(struct qvd_db *db, struct qvd_config *cfg, int64_t id, json_t *v)
{
    return qvd_model_user_set(db, cfg, id, str(v, "name"), str(v, "description"),
                              str(v, "language"), -1);
}
static int
user_block(struct qvd_db *db, struct qvd_config *cfg, int64_t id, bool blocked)
{
    return qvd_model_user_set(db, cfg, id, NULL, NULL, NULL, blocked);
}
const struct qvd_resource_ops qvd_user_ops = {user_create, user_update, qvd_model_user_del,
                                              user_block, qvd_model_user_passwd};

/* ---- VMs: in the tenant of their user ---- */
static int
vm_create(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant, json_t *v, int64_t *id)
{
    struct qvd_model_vm vm = {
        .name = str(v, "name"),
        .user_id = num(v, "user_id", -1),
        .osf_id = num(v, "osf_id", -1),
        .di_tag = str(v, "di_tag"),
        .description = str(v, "description"),
    };
    (void)tenant;
    return qvd_model_vm_add(db, cfg, &vm, id);
}
static int
vm_update(struct qvd_db *db, struct qvd_config *cfg, int64_t id, json_t *v)
{
    return qvd_model_vm_set(db, cfg, id, str(v, "name"), str(v, "di_tag"), str(v, "description"));
}
const struct qvd_resource_ops qvd_vm_ops = {vm_create, vm_update, qvd_model_vm_del,
                                            qvd_model_vm_block, NULL};

/* ---- hosts: shared by every tenant ---- */
/* Ends the transaction of a host's create or update: commits when rc is 0. */
static int
host_end(struct qvd_db *db, int rc, const char *what)
{
    if (rc < 0) {
        qvd_db_rollback(db);
        return -1;
    }
    if (qvd_db_commit(db) < 0)
        return qvd_model_fail(QVD_MODEL_BUSY, "the host was not %s: %s", what, qvd_strerror());
    return 0;
}
/* The host's fields and its VM subnet in one transaction (the model's transactions nest). */
static int
host_update(struct qvd_db *db, struct qvd_config *cfg, int64_t id, json_t *v)
{
    int rc;

    if (qvd_db_begin(db) < 0)
        return qvd_model_fail(QVD_MODEL_BUSY, "%s", qvd_strerror());
    rc = qvd_model_host_set(db, cfg, id, str(v, "name"), str(v, "address"), str(v, "description"),
                            flag(v, "frontend"), flag(v, "backend"));
    if (rc == 0 && str(v, "vm_subnet") != NULL)
        rc = qvd_model_host_subnet(db, cfg, id, str(v, "vm_subnet"));
    return host_end(db, rc, "changed");
}
/* The host, its roles and its VM subnet in one transaction. */
static int
host_create(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant, json_t *v, int64_t *id)
{
    int rc;

    (void)tenant;
    if (qvd_db_begin(db) < 0)
        return qvd_model_fail(QVD_MODEL_BUSY, "%s", qvd_strerror());
    rc = qvd_model_host_add(db, cfg, str(v, "name"), str(v, "address"), str(v, "description"), id);
    if (rc == 0 && (flag(v, "frontend") >= 0 || flag(v, "backend") >= 0))
        rc = qvd_model_host_set(db, cfg, *id, NULL, NULL, NULL, flag(v, "frontend"),
                                flag(v, "backend"));
    if (rc == 0 && str(v, "vm_subnet") != NULL)
        rc = qvd_model_host_subnet(db, cfg, *id, str(v, "vm_subnet"));
    return host_end(db, rc, "added");
}
const struct qvd_resource_ops qvd_host_ops = {host_create, host_update, qvd_model_host_del,
                                              qvd_model_host_block, NULL};

/* ---- OSFs ---- */
static void
osf_members(json_t *v, struct qvd_model_osf *o)
{
    *o = (struct qvd_model_osf)QVD_MODEL_OSF_UNSET;
    o->name = str(v, "name");
    o->description = str(v, "description");
    o->memory = (long)num(v, "memory", -1);
    o->user_storage_size = (long)num(v, "user_storage_size", -1);
    o->use_overlay = flag(v, "use_overlay");
    o->is_application = flag(v, "is_application");
}
static int
osf_create(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant, json_t *v, int64_t *id)
{
    struct qvd_model_osf o;
    osf_members(v, &o);
    return qvd_model_osf_add(db, cfg, tenant, &o, id);
}
static int
osf_update(struct qvd_db *db, struct qvd_config *cfg, int64_t id, json_t *v)
{
    struct qvd_model_osf o;
    osf_members(v, &o);
    return qvd_model_osf_set(db, cfg, id, &o);
}
const struct qvd_resource_ops qvd_osf_ops = {osf_create, osf_update, qvd_model_osf_del, NULL, NULL};

/* ---- DIs: `file` is the path of the image, as the front-end resolved it ---- */
static int
di_create(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant, json_t *v, int64_t *id)
{
    (void)tenant;
    return qvd_model_di_add(db, cfg, num(v, "osf_id", -1), str(v, "file"), str(v, "version"),
                            str(v, "description"), id);
}
static int
di_update(struct qvd_db *db, struct qvd_config *cfg, int64_t id, json_t *v)
{
    return qvd_model_di_set(db, cfg, id, str(v, "description"), -1);
}
static int
di_block(struct qvd_db *db, struct qvd_config *cfg, int64_t id, bool blocked)
{
    return qvd_model_di_set(db, cfg, id, NULL, blocked);
}
const struct qvd_resource_ops qvd_di_ops = {di_create, di_update, qvd_model_di_del, di_block, NULL};

/* ---- administrators and roles ---- */
static int
admin_create(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant, json_t *v, int64_t *id)
{
    return qvd_model_admin_add(db, cfg, tenant, str(v, "name"), str(v, "password"),
                               str(v, "description"), id);
}
static int
admin_update(struct qvd_db *db, struct qvd_config *cfg, int64_t id, json_t *v)
{
    return qvd_model_admin_set(db, cfg, id, str(v, "name"), str(v, "description"), -1);
}
static int
admin_block(struct qvd_db *db, struct qvd_config *cfg, int64_t id, bool blocked)
{
    return qvd_model_admin_set(db, cfg, id, NULL, NULL, blocked);
}
const struct qvd_resource_ops qvd_admin_ops = {admin_create, admin_update, qvd_model_admin_del,
                                               admin_block, qvd_model_admin_passwd};

static int
role_create(struct qvd_db *db, struct qvd_config *cfg, int64_t tenant, json_t *v, int64_t *id)
{
    return qvd_model_role_add(db, cfg, tenant, str(v, "name"), str(v, "description"), id);
}
static int
role_update(struct qvd_db *db, struct qvd_config *cfg, int64_t id, json_t *v)
{
    return qvd_model_role_set(db, cfg, id, str(v, "name"), str(v, "description"));
}
const struct qvd_resource_ops qvd_role_ops = {role_create, role_update, qvd_model_role_del, NULL,
                                              NULL};

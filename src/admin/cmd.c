/* cmd.c: the table of qvd-admin commands (each defined in its object's cmd_*.c). */
#include <stddef.h>

#include "admin.h"

extern const struct admin_cmd cmd_tenant_list, cmd_tenant_add, cmd_tenant_set, cmd_tenant_del;
extern const struct admin_cmd cmd_user_list, cmd_user_add, cmd_user_set, cmd_user_passwd,
    cmd_user_block, cmd_user_unblock, cmd_user_del;
extern const struct admin_cmd cmd_osf_list, cmd_osf_add, cmd_osf_set, cmd_osf_del;
extern const struct admin_cmd cmd_di_list, cmd_di_add, cmd_di_set, cmd_di_tag, cmd_di_untag,
    cmd_di_block, cmd_di_unblock, cmd_di_del;
extern const struct admin_cmd cmd_vm_list, cmd_vm_add, cmd_vm_set, cmd_vm_del, cmd_vm_start,
    cmd_vm_stop, cmd_vm_block, cmd_vm_unblock;
extern const struct admin_cmd cmd_host_list, cmd_host_add, cmd_host_set, cmd_host_block,
    cmd_host_unblock, cmd_host_evacuate, cmd_host_del;
extern const struct admin_cmd cmd_config_list, cmd_config_get, cmd_config_set, cmd_config_del,
    cmd_config_defaults, cmd_db_init, cmd_db_version;
extern const struct admin_cmd cmd_prop_list, cmd_prop_set, cmd_prop_del;
extern const struct admin_cmd cmd_admin_list, cmd_admin_add, cmd_admin_passwd, cmd_admin_del,
    cmd_admin_assign, cmd_admin_unassign, cmd_role_list;

const struct admin_cmd *const admin_cmds[] = {
    &cmd_tenant_list,   &cmd_tenant_add,     &cmd_tenant_set,      &cmd_tenant_del,
    &cmd_user_list,     &cmd_user_add,       &cmd_user_set,        &cmd_user_passwd,
    &cmd_user_block,    &cmd_user_unblock,   &cmd_user_del,        &cmd_osf_list,
    &cmd_osf_add,       &cmd_osf_set,        &cmd_osf_del,         &cmd_di_list,
    &cmd_di_add,        &cmd_di_set,         &cmd_di_tag,          &cmd_di_untag,
    &cmd_di_block,      &cmd_di_unblock,     &cmd_di_del,          &cmd_vm_list,
    &cmd_vm_add,        &cmd_vm_set,         &cmd_vm_start,        &cmd_vm_stop,
    &cmd_vm_block,      &cmd_vm_unblock,     &cmd_vm_del,          &cmd_host_list,
    &cmd_host_add,      &cmd_host_set,       &cmd_host_block,      &cmd_host_unblock,
    &cmd_host_evacuate, &cmd_host_del,       &cmd_config_list,     &cmd_config_get,
    &cmd_config_set,    &cmd_config_del,     &cmd_config_defaults, &cmd_db_init,
    &cmd_db_version,    &cmd_prop_list,      &cmd_prop_set,        &cmd_prop_del,
    &cmd_admin_list,    &cmd_admin_add,      &cmd_admin_passwd,    &cmd_admin_del,
    &cmd_admin_assign,  &cmd_admin_unassign, &cmd_role_list,       NULL,
};

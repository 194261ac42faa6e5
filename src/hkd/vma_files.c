/* vma_files.c: the per-VM folder ${path.run}/vm/<id> that the node shares with the VMA in
 * the container: etc/ (vma.conf and the per-start secret, read-only inside) and log/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "hkd.h"
#include "util.h"

char *
hkd_vma_dir(struct hkd *hkd, int64_t vm_id)
{
    return qvd_xasprintf("%s/vm/%lld", qvd_config_get(hkd->cfg, "path.run"), (long long)vm_id);
}

/* The VMA's log folder outlives the VM (${path.log}/vm/<id>), for post-mortems. */
char *
hkd_vma_log_dir(struct hkd *hkd, int64_t vm_id)
{
    return qvd_xasprintf("%s/vm/%lld", qvd_config_get(hkd->cfg, "path.log"), (long long)vm_id);
}

static void
add_vma_key(const char *key, const char *value, void *arg)
{
    if (strncmp(key, "vma.", 4) == 0 && strncmp(key, "vma.secret", 10) != 0)
        qvd_buf_printf(arg, "%s = %s\n", key, value);
}

int
hkd_vma_write_files(struct hkd *hkd, struct hkd_vm *vm)
{
    char *dir = hkd_vma_dir(hkd, vm->id);
    char *etc = qvd_xasprintf("%s/etc", dir), *log = hkd_vma_log_dir(hkd, vm->id);
    char *conf = qvd_xasprintf("%s/vma.conf", etc), *secret = qvd_xasprintf("%s/vma.secret", etc);
    struct qvd_buf b = QVD_BUF_INIT;
    int rc = -1;

    /* the VM's folder is only passed through; etc/ and the log folder are its root's */
    if (qvd_mkdir_p(dir, 0711) < 0 || qvd_mkdir_p(etc, 0700) < 0 || qvd_mkdir_p(log, 0700) < 0)
        goto out;
    qvd_buf_printf(&b, "# written by qvd-hkd for VM %lld at each start\n", (long long)vm->id);
    qvd_buf_printf(&b, "internal.vm.port.vma = %ld\n",
                   qvd_config_int(hkd->cfg, "internal.vm.port.vma"));
    qvd_buf_printf(&b, "internal.nxagent.display = %ld\n",
                   qvd_config_int(hkd->cfg, "internal.nxagent.display"));
    qvd_buf_printf(&b, "log.level = %s\n", qvd_config_get(hkd->cfg, "log.level"));
    qvd_buf_adds(&b, "log.filename = /var/log/qvd/vma.log\n");
    qvd_buf_adds(&b, "vma.secret.file = /etc/qvd/vma.secret\n");
    qvd_config_foreach(hkd->cfg, add_vma_key, &b);
    if (qvd_write_file(conf, b.data, b.len, 0600) < 0 ||
        qvd_write_file(secret, vm->secret, strlen(vm->secret), 0600) < 0)
        goto out;

    rc = 0;
out:
    qvd_buf_free(&b);
    free(dir);
    free(etc);
    free(log);
    free(conf);
    free(secret);
    return rc;
}

int
hkd_vma_give_files(struct hkd *hkd, int64_t vm_id)
{
    char *dir = hkd_vma_dir(hkd, vm_id), *log = hkd_vma_log_dir(hkd, vm_id);
    char *paths[] = {qvd_xasprintf("%s/etc", dir), qvd_xasprintf("%s/etc/vma.conf", dir),
                     qvd_xasprintf("%s/etc/vma.secret", dir), log};
    int rc = 0;

    /* read (and the log written) by root inside the VM: the VM's mapped root; the folders
     * above are only passed through, so no other VM and no local user reads them */
    for (size_t i = 0; i < QVD_ARRAY_LEN(paths); i++) {
        if (rc == 0)
            rc = hkd_userns_chown(hkd, vm_id, paths[i], 0);
        free(paths[i]);
    }
    free(dir);
    return rc;
}

void
hkd_vma_remove_files(struct hkd *hkd, int64_t vm_id)
{
    char *dir = hkd_vma_dir(hkd, vm_id);

    qvd_rm_rf(dir);
    free(dir);
}

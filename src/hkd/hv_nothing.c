/* hv_nothing.c: the `nothing` hypervisor: VMs that only exist as rows, so that the control
 * plane (commands, state machine, placement) can be tested and measured at scale. */
#include <stdlib.h>

#include "hkd.h"
#include "util.h"

static int64_t *running;
static size_t n_running, cap_running;

static int
nothing_init(struct hkd *hkd)
{
    return 0;
}

static int
nothing_start(struct hkd *hkd, struct hkd_vm *vm)
{
    if (n_running == cap_running) {
        cap_running = cap_running ? cap_running * 2 : 64;
        running = qvd_xrealloc(running, cap_running * sizeof(*running));
    }
    running[n_running++] = vm->id;
    return 0;
}

static bool
nothing_is_running(struct hkd *hkd, int64_t vm_id)
{
    for (size_t i = 0; i < n_running; i++)
        if (running[i] == vm_id)
            return true;
    return false;
}

static pid_t
nothing_init_pid(struct hkd *hkd, int64_t vm_id)
{
    return nothing_is_running(hkd, vm_id) ? 1 : -1;
}

static int
nothing_kill(struct hkd *hkd, int64_t vm_id)
{
    for (size_t i = 0; i < n_running; i++)
        if (running[i] == vm_id) {
            running[i] = running[--n_running];
            break;
        }
    return 0;
}

const struct hkd_hv_ops hkd_hv_nothing = {
    .name = "nothing",
    .simulated = true,
    .init = nothing_init,
    .start = nothing_start,
    .is_running = nothing_is_running,
    .init_pid = nothing_init_pid,
    .kill = nothing_kill,
    .cleanup = nothing_kill,
    .list = NULL,
};

/* fuzz_priv_msg.c: libFuzzer target for hkd_priv_msg_check, the check of every request
 * the root parent of qvd-hkd receives from its (possibly compromised) engine. A request
 * it accepts must hold what the parent relies on: NUL-terminated strings, a relative DI
 * path without "..". (The corpus holds one request of each kind, 4376 bytes.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/hkd/priv_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
ends_with_dotdot(const char *s)
{
    size_t n = strlen(s);
    return n >= 3 && strcmp(s + n - 3, "/..") == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hkd_priv_msg m;

    if (hkd_priv_msg_check(data, size) != 0)
        return 0;
    memcpy(&m, data, sizeof(m));
    if (memchr(m.name, 0, sizeof(m.name)) == NULL || memchr(m.login, 0, sizeof(m.login)) == NULL ||
        memchr(m.ip, 0, sizeof(m.ip)) == NULL || memchr(m.mac, 0, sizeof(m.mac)) == NULL ||
        memchr(m.di_path, 0, sizeof(m.di_path)) == NULL ||
        memchr(m.subnet, 0, sizeof(m.subnet)) == NULL || m.di_path[0] == '/' ||
        strcmp(m.di_path, "..") == 0 || strncmp(m.di_path, "../", 3) == 0 ||
        strstr(m.di_path, "/../") != NULL || ends_with_dotdot(m.di_path) ||
        m.vm_id > HKD_PRIV_VM_ID_MAX)
        abort();
    return 0;
}

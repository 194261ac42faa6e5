/* test_priv_msg.c: what the root parent of qvd-hkd accepts from its engine
 * (hkd_priv_msg_check): well-formed requests pass; a wrong version, type or length, an
 * unterminated or out-of-charset string, a DI path leaving the images folder, an id or a
 * memory limit out of range, and fields a type does not use are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/hkd/priv_msg.h"
#include "err.h"

static struct hkd_priv_msg m;

/* a start request as the engine sends it */
static void
start_msg(void)
{
    memset(&m, 0, sizeof(m));
    m.version = HKD_PRIV_VERSION;
    m.type = HKD_PRIV_START;
    m.len = sizeof(m);
    m.flags = HKD_PRIV_F_OVERLAY;
    m.vm_id = 7;
    m.di_id = 3;
    m.user_storage_mb = 100;
    m.memory_mb = 300;
    strcpy(m.name, "desk 1 of Ana (é)");
    strcpy(m.login, "ana@tenant");
    strcpy(m.ip, "10.0.0.7");
    strcpy(m.mac, "54:52:00:00:00:07");
    strcpy(m.di_path, "3-test-di.tar");
}

static void
id_msg(uint32_t type, int64_t id)
{
    memset(&m, 0, sizeof(m));
    m.version = HKD_PRIV_VERSION;
    m.type = type;
    m.len = sizeof(m);
    m.vm_id = id;
}

static void
refused(const char *why)
{
    assert_int_equal(hkd_priv_msg_check(&m, sizeof(m)), -1);
    if (strstr(qvd_strerror(), why) == NULL)
        fail_msg("refused for '%s', expected '%s'", qvd_strerror(), why);
}

static void
well_formed_requests_pass(void **state)
{
    start_msg();
    assert_int_equal(hkd_priv_msg_check(&m, sizeof(m)), 0);
    for (uint32_t t = HKD_PRIV_IS_RUNNING; t <= HKD_PRIV_CLEANUP; t++) {
        id_msg(t, HKD_PRIV_VM_ID_MAX);
        assert_int_equal(hkd_priv_msg_check(&m, sizeof(m)), 0);
    }
    id_msg(HKD_PRIV_MOUNT, 1);
    m.di_id = 1;
    m.user_storage_mb = 100;
    strcpy(m.login, "ana");
    strcpy(m.di_path, "sub/dir/1-x.tar.gz");
    assert_int_equal(hkd_priv_msg_check(&m, sizeof(m)), 0);
    id_msg(HKD_PRIV_LIST, 0);
    m.offset = 64;
    assert_int_equal(hkd_priv_msg_check(&m, sizeof(m)), 0);
    id_msg(HKD_PRIV_FW_ADD, 7);
    strcpy(m.ip, "10.0.0.7");
    strcpy(m.mac, "54:52:00:00:00:07");
    assert_int_equal(hkd_priv_msg_check(&m, sizeof(m)), 0);
    /* an adopted VM's entries need its address and MAC, and nothing else */
    m.mac[0] = '\0';
    refused("mac");
    strcpy(m.mac, "54:52:00:00:00:07");
    strcpy(m.di_path, "1-x.tar");
    refused("di_path is set but not used");
}

static void
wrong_version_or_type_is_refused(void **state)
{
    start_msg();
    m.version = 2;
    refused("version 2");
    start_msg();
    m.type = 0;
    refused("unknown request type 0");
    m.type = HKD_PRIV_TYPE_END;
    refused("unknown request type");
    m.type = 0xffffffff;
    refused("unknown request type");
}

static void
short_and_long_packets_are_refused(void **state)
{
    char big[sizeof(m) + 1];

    start_msg();
    assert_int_equal(hkd_priv_msg_check(&m, sizeof(m) - 1), -1);
    assert_int_equal(hkd_priv_msg_check(&m, 0), -1);
    memcpy(big, &m, sizeof(m));
    big[sizeof(m)] = 0;
    assert_int_equal(hkd_priv_msg_check(big, sizeof(big)), -1);
    m.len = sizeof(m) - 8; /* the packet is whole but says otherwise */
    refused("length field");
}

static void
unterminated_strings_are_refused(void **state)
{
    start_msg();
    memset(m.name, 'a', sizeof(m.name));
    refused("name is not NUL-terminated");
    start_msg();
    memset(m.ip, '1', sizeof(m.ip));
    refused("ip is not NUL-terminated");
    start_msg();
    memset(m.di_path, 'x', sizeof(m.di_path));
    refused("di_path is not NUL-terminated");
    start_msg();
    memset(m.mac, 'a', sizeof(m.mac));
    refused("mac is not NUL-terminated");
}

static void
strings_out_of_their_charset_are_refused(void **state)
{
    start_msg();
    strcpy(m.ip, "10.0.0.1; rm");
    refused("ip is not");
    strcpy(m.ip, "10.0.0.256");
    refused("ip is not");
    start_msg();
    strcpy(m.mac, "54:52:00:00:00:0g");
    refused("mac is not");
    strcpy(m.mac, "54-52-00-00-00-07");
    refused("mac is not");
    start_msg();
    strcpy(m.name, "a\nb");
    refused("name contains a control character");
    start_msg();
    m.name[0] = '\0';
    refused("name is empty");
    start_msg();
    strcpy(m.login, "../root");
    refused("login is not a single file name");
    strcpy(m.login, "..");
    refused("login is not a single file name");
}

static void
di_paths_leaving_the_images_folder_are_refused(void **state)
{
    const char *bad[] = {"../x.tar", "a/../../x.tar", "a/..", "..", "/etc/shadow", "/tmp/x.tar"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        start_msg();
        strcpy(m.di_path, bad[i]);
        refused(bad[i][0] == '/' ? "absolute" : "'..' part");
    }
    start_msg();
    strcpy(m.di_path, "a..b/..c.tar"); /* dots inside names are fine */
    assert_int_equal(hkd_priv_msg_check(&m, sizeof(m)), 0);
}

static void
ids_and_memory_out_of_range_are_refused(void **state)
{
    start_msg();
    m.vm_id = 0;
    refused("vm_id 0");
    m.vm_id = -1;
    refused("vm_id -1");
    m.vm_id = HKD_PRIV_VM_ID_MAX + 1;
    refused("vm_id");
    start_msg();
    m.memory_mb = 0;
    refused("memory_mb 0");
    m.memory_mb = HKD_PRIV_MEMORY_MAX + 1;
    refused("memory_mb");
    m.memory_mb = -300;
    refused("memory_mb");
    start_msg();
    m.user_storage_mb = -1;
    refused("user_storage_mb");
    start_msg();
    m.di_id = 0;
    refused("di_id");
    id_msg(HKD_PRIV_LIST, 5);
    refused("vm_id 5");
    id_msg(HKD_PRIV_LIST, 0);
    m.offset = -1;
    refused("offset");
}

static void
fields_a_type_does_not_use_are_refused(void **state)
{
    id_msg(HKD_PRIV_KILL, 4);
    strcpy(m.di_path, "x.tar");
    refused("di_path is set but not used");
    id_msg(HKD_PRIV_CLEANUP, 4);
    m.memory_mb = 10;
    refused("memory_mb");
    id_msg(HKD_PRIV_IS_RUNNING, 4);
    m.flags = HKD_PRIV_F_OVERLAY;
    refused("flags");
    start_msg();
    m.flags = 0x10;
    refused("flags 0x10");
    start_msg();
    m.pad[0] = 1;
    refused("padding");
}

/* Route requests (routes.c): a subnet of the shape a.b.c.d/len with no host bit set, and
 * for ROUTE_SET a dotted next hop; no VM id, nothing else. */
static void
route_requests_are_checked(void **state)
{
    id_msg(HKD_PRIV_ROUTE_SET, 0);
    strcpy(m.subnet, "10.2.0.0/16");
    strcpy(m.ip, "192.168.77.2");
    assert_int_equal(hkd_priv_msg_check(&m, sizeof(m)), 0);
    m.ip[0] = '\0';
    refused("ip is empty");
    strcpy(m.ip, "192.168.77.2 ");
    refused("ip is not a dotted IPv4 address");
    strcpy(m.ip, "192.168.77.2");
    const char *bad[] = {"10.2.0.1/16",  "10.2.0.0",       "10.2.0.0/",  "10.2.0.0/33",
                         "10.2.0.0/0",   "10.2.0.0/016",   "/16",        "10.2.0/16",
                         "10.2.0.0/16 ", "10.2.0.0/16;rm", "a.b.c.d/16", "10.2.0.0/-1",
                         "::1/128",      "10.2.0.0.0/16"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(m.subnet, 0, sizeof(m.subnet));
        strcpy(m.subnet, bad[i]);
        refused("subnet");
    }
    memset(m.subnet, 'x', sizeof(m.subnet));
    refused("subnet is not NUL-terminated");
    memset(m.subnet, 0, sizeof(m.subnet));
    strcpy(m.subnet, "10.2.0.0/16");
    m.vm_id = 3;
    refused("vm_id 3");
    id_msg(HKD_PRIV_ROUTE_DEL, 0);
    strcpy(m.subnet, "10.2.0.0/16");
    assert_int_equal(hkd_priv_msg_check(&m, sizeof(m)), 0);
    strcpy(m.ip, "192.168.77.2");
    refused("ip is set but not used");
    /* the other types leave it zero */
    id_msg(HKD_PRIV_KILL, 4);
    strcpy(m.subnet, "10.2.0.0/16");
    refused("subnet is set but not used");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(well_formed_requests_pass),
        cmocka_unit_test(wrong_version_or_type_is_refused),
        cmocka_unit_test(short_and_long_packets_are_refused),
        cmocka_unit_test(unterminated_strings_are_refused),
        cmocka_unit_test(strings_out_of_their_charset_are_refused),
        cmocka_unit_test(di_paths_leaving_the_images_folder_are_refused),
        cmocka_unit_test(ids_and_memory_out_of_range_are_refused),
        cmocka_unit_test(fields_a_type_does_not_use_are_refused),
        cmocka_unit_test(route_requests_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* priv-inject.c: plays a compromised qvd-hkd engine for tests/integration/hkd_lxc.sh. As
 * root it takes a copy of the engine's end of the channel to the root parent with
 * pidfd_getfd(2) (the access ptrace would give: no way in that the daemon offers), sends
 * one malformed request and prints the parent's answer.
 * Usage: priv-inject ENGINE_PID PARENT_PID long|short|type|unterminated|path|absolute
 *        priv-inject ENGINE_PID PARENT_PID route SUBNET VIA   (a route_set, as well formed
 *        as the check lets through, that the node's plan must refuse: prints the answer)
 * Exit 0 when the parent answered with a refusal, 1 otherwise. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../src/hkd/priv_msg.h"

/* The engine's descriptor whose peer is the parent (a seqpacket socketpair it made). */
static int
steal_channel(pid_t engine, pid_t parent)
{
    int pidfd = (int)syscall(SYS_pidfd_open, engine, 0);
    char dir[64];
    struct dirent *de;
    DIR *d;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)engine);
    if (pidfd < 0 || (d = opendir(dir)) == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        int fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0), type = 0;
        struct ucred cr;
        socklen_t len = sizeof(type), clen = sizeof(cr);

        if (fd < 0)
            continue;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_SEQPACKET &&
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &clen) == 0 && cr.pid == parent) {
            closedir(d);
            return fd;
        }
        close(fd);
    }
    closedir(d);
    return -1;
}

int
main(int argc, char **argv)
{
    static struct hkd_priv_msg m;
    static struct hkd_priv_res r;
    static char buf[sizeof(m) + 64];
    size_t len = sizeof(m);
    struct timeval tv = {5, 0};
    int fd;

    if (argc != 4 && !(argc == 6 && strcmp(argv[3], "route") == 0)) {
        fprintf(stderr, "usage: priv-inject ENGINE_PID PARENT_PID KIND | route SUBNET VIA\n");
        return 2;
    }
    fd = steal_channel(atoi(argv[1]), atoi(argv[2]));
    if (fd < 0) {
        fprintf(stderr, "priv-inject: no channel to the parent in the engine's descriptors\n");
        return 2;
    }
    m.version = HKD_PRIV_VERSION;
    m.len = sizeof(m);
    m.type = HKD_PRIV_MOUNT;
    m.vm_id = 1;
    m.di_id = 1;
    strcpy(m.login, "alice");
    strcpy(m.di_path, "1-test-di.tar");
    /* each malformation, and the reason the parent must give: refused for anything else
     * would mean the check under test was never reached */
    const char *why = NULL;
    if (strcmp(argv[3], "long") == 0)
        len = sizeof(buf), why = "bytes (a request is";
    else if (strcmp(argv[3], "short") == 0)
        len = sizeof(m) - 1, why = "bytes (a request is";
    else if (strcmp(argv[3], "type") == 0)
        m.type = 99, why = "unknown request type 99";
    else if (strcmp(argv[3], "unterminated") == 0)
        memset(m.di_path, 'a', sizeof(m.di_path)), why = "di_path is not NUL-terminated";
    else if (strcmp(argv[3], "path") == 0)
        strcpy(m.di_path, "../../../etc"), why = "di_path has a '..' part";
    else if (strcmp(argv[3], "absolute") == 0)
        strcpy(m.di_path, "/etc"), why = "di_path is absolute";
    else if (strcmp(argv[3], "route") == 0) {
        /* refused by the node's plan (hkd_net_route_set), after the check let it through */
        memset(&m, 0, sizeof(m));
        m.version = HKD_PRIV_VERSION;
        m.len = sizeof(m);
        m.type = HKD_PRIV_ROUTE_SET;
        snprintf(m.subnet, sizeof(m.subnet), "%s", argv[4]);
        snprintf(m.ip, sizeof(m.ip), "%s", argv[5]);
        why = "route to ";
    }
    if (why == NULL) {
        fprintf(stderr, "priv-inject: unknown KIND %s\n", argv[3]);
        return 2;
    }
    memcpy(buf, &m, sizeof(m));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (send(fd, buf, len, 0) != (ssize_t)len || recv(fd, &r, sizeof(r), 0) != sizeof(r)) {
        perror("priv-inject");
        return 1;
    }
    r.err[sizeof(r.err) - 1] = '\0';
    printf("rc=%d %s\n", (int)r.rc, r.err);
    if (m.type == HKD_PRIV_ROUTE_SET)
        return r.rc == -1 && strstr(r.err, why) != NULL ? 0 : 1;
    return r.rc == -1 && strstr(r.err, "refused") != NULL && strstr(r.err, why) != NULL ? 0 : 1;
}

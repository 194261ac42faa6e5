/* run.c: runs short helper commands (ip, tar) without a shell, keeping their stderr for
 * the error message. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "hkd.h"
#include "util.h"

extern char **environ;

int
hkd_run(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    int pipefd[2], status;
    char errbuf[512];
    ssize_t n, len = 0;
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return qvd_seterr("pipe: %s", strerror(errno));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        return qvd_seterr("cannot run %s: %s", argv[0], strerror(rc));
    }
    while ((n = read(pipefd[0], errbuf + len, sizeof(errbuf) - 1 - (size_t)len)) > 0)
        len += n;
    errbuf[len] = '\0';
    /* drain anything beyond the first bytes so the child never blocks */
    char sink[4096];
    while (read(pipefd[0], sink, sizeof(sink)) > 0)
        ;
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    errbuf[strcspn(errbuf, "\n")] = '\0';
    return qvd_seterr("%s failed (status %d): %s", argv[0],
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1, errbuf);
}

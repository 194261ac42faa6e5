/* hooks.c: running helper programs synchronously (useradd) and the connect hooks. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <unistd.h>

#include "err.h"
#include "log.h"
#include "util.h"
#include "vma.h"

int
vma_run(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return qvd_seterr("fork: %s", strerror(errno));
    if (pid == 0) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        close_range(3, ~0U, 0);
        execv(argv[0], argv);
        fprintf(stderr, "qvd-vma: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    /* Reaped here, not by the SIGCHLD handler: that one runs only from the event loop,
     * which this call blocks. */
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return qvd_seterr("waitpid: %s", strerror(errno));
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int
hooks_run(const char *dir, const struct qvd_http_param *params, size_t n)
{
    struct dirent **list = NULL;
    int count = scandir(dir, &list, NULL, alphasort);
    if (count < 0)
        return 0; /* no hooks folder: nothing to run */
    int rc = 0;
    for (int i = 0; i < count; i++) {
        char *path = qvd_xasprintf("%s/%s", dir, list[i]->d_name);
        struct stat st;
        if (rc == 0 && list[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            access(path, X_OK) == 0) {
            char **argv = qvd_xcalloc(2 * n + 2, sizeof(*argv));
            argv[0] = path;
            for (size_t j = 0; j < n; j++) {
                argv[1 + 2 * j] = params[j].key;
                argv[2 + 2 * j] = params[j].value;
            }
            log_info("running connect hook %s", path);
            int st_code = vma_run(argv);
            if (st_code != 0)
                rc = qvd_seterr("connect hook %s failed (status %d)", list[i]->d_name, st_code);
            free(argv);
        }
        free(path);
        free(list[i]);
    }
    free(list);
    return rc;
}

/* app.c: application VMs. The L7R sends qvd.app.command (the OSF, DI or VM property of an
 * OSF with is_application) and the session then runs that one program on nxagent's display
 * instead of the desktop (vma.x_session); when it exits the session ends, as a logout does.
 *
 * The command is an absolute path and its arguments separated by spaces, run without a
 * shell: no quoting, no variables, no redirections. It is set by an administrator, never by
 * a client (the L7R passes on qvd.client.* and custom.* only), but a VM that is QVD's L7R's
 * peer may be sent anything: the characters are checked like every other value, with the
 * space and a few that arguments need (=,@%) added. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vma.h"

#define APP_COMMAND_MAX 1024
#define APP_ARGS_MAX 32

static bool
app_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("_/-+.:=,@% ", c) != NULL);
}

bool
app_command_ok(const char *v)
{
    size_t words = 0;

    if (*v != '/' || strlen(v) > APP_COMMAND_MAX)
        return false;
    for (const char *p = v; *p; p++) {
        if (!app_char_ok(*p))
            return false;
        if (*p != ' ' && (p == v || p[-1] == ' '))
            words++;
    }
    return words <= APP_ARGS_MAX;
}

char **
app_argv(const char *cmd)
{
    char **argv = qvd_xcalloc(APP_ARGS_MAX + 1, sizeof(*argv));
    char *copy = qvd_xstrdup(cmd), *save = NULL;
    size_t n = 0;

    for (char *t = strtok_r(copy, " ", &save); t && n < APP_ARGS_MAX;
         t = strtok_r(NULL, " ", &save))
        argv[n++] = qvd_xstrdup(t);
    free(copy);
    return argv;
}

void
app_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* ending.c: how the VMA's last nxagent ended, so that the L7R can tell the user why a
 * session ended (a crash, a stop, a logout) and that a resume found the old session lost.
 * Kept apart from session.c: session.c only reports the events (started, connected, stop
 * asked for, exited) and this file decides what they mean. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "log.h"
#include "util.h"
#include "vma.h"

static struct {
    unsigned agent;     /* number of the nxagent running now, or of the last one (1, 2...) */
    bool running;       /* that nxagent runs */
    bool had_client;    /* it had a client once: it held a session the user can come back to */
    char stop_by[16];   /* who asked it to end: "x_stop", "logout", "timeout", or "" */
    bool replaced_lost; /* it started because the previous session was lost; no client yet */
    /* the last nxagent that ended */
    unsigned last_agent; /* 0: none ended yet */
    char how[16];        /* "stopped", "logout", "exited", "signal", "killed" */
    int code;            /* its exit status or signal */
    char during[16];     /* the session state it ended in */
    bool lost;           /* a session the user had is gone with it */
} e;

void
ending_agent_started(void)
{
    e.replaced_lost = e.last_agent != 0 && e.lost;
    e.agent++;
    e.running = true;
    e.had_client = false;
    e.stop_by[0] = '\0';
}

void
ending_agent_connected(void)
{
    e.had_client = true;
    e.replaced_lost = false;
}

void
ending_stop_requested(const char *by)
{
    if (e.running && e.stop_by[0] == '\0')
        snprintf(e.stop_by, sizeof(e.stop_by), "%s", by);
}

/* A stop we asked for ("x_stop", "logout") is an ending the user or an administrator
 * chose; a signal nobody asked for, or our kill of a stuck nxagent, loses the session. A
 * crash signal wins over a stop asked for meanwhile: the X session dies with its X server
 * and may be reaped first, which looks like a logout. */
void
ending_agent_exited(int status, const char *during)
{
    bool crash = WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM && WTERMSIG(status) != SIGKILL;
    bool asked = e.stop_by[0] != '\0' && strcmp(e.stop_by, "timeout") != 0 && !crash;

    e.running = false;
    e.last_agent = e.agent;
    e.code = WIFSIGNALED(status) ? WTERMSIG(status) : WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    if (asked)
        snprintf(e.how, sizeof(e.how), "%s",
                 strcmp(e.stop_by, "logout") == 0 ? "logout" : "stopped");
    else if (strcmp(e.stop_by, "timeout") == 0 && !crash)
        snprintf(e.how, sizeof(e.how), "killed");
    else if (WIFSIGNALED(status))
        snprintf(e.how, sizeof(e.how), "signal");
    else
        snprintf(e.how, sizeof(e.how), "exited");
    snprintf(e.during, sizeof(e.during), "%s", during);
    /* an nxagent that never had a client held nothing of the user's, but one started in
     * place of a lost session passes that news on until a client has heard it */
    e.lost = (e.had_client && !asked &&
              (WIFSIGNALED(status) || strcmp(e.how, "killed") == 0 || WEXITSTATUS(status) != 0)) ||
             (e.replaced_lost && !e.had_client);
    log_info("nxagent %u ended: %s %d while %s%s", e.agent, e.how, e.code, during,
             e.lost ? " (the user's session is lost)" : "");
}

json_t *
ending_json(void)
{
    json_t *o = json_pack("{s:i,s:b,s:b}", "agent", (int)e.agent, "running", e.running,
                          "replaced_lost", e.replaced_lost);

    if (e.last_agent != 0)
        json_object_set_new(o, "last",
                            json_pack("{s:i,s:s,s:i,s:s,s:b}", "agent", (int)e.last_agent, "how",
                                      e.how, "code", e.code, "during", e.during, "lost", e.lost));
    return o;
}

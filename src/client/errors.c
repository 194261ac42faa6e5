/* errors.c: every failure of qvd-client as one plain sentence and a documented exit status. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

#include "err.h"

volatile sig_atomic_t client_interrupted;
bool client_fail_quiet;

int
client_fail(int code, const char *fmt, ...)
{
    va_list ap;

    if (client_fail_quiet) {
        char msg[512];
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        qvd_seterr("%s", msg);
        return code;
    }
    fputs("qvd-client: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* The first line of the server's text, trimmed and without a final period, if it is short
 * enough to help (QVD's default bodies are long descriptions of the status code). */
static void
server_line(const char *body, char *out, size_t outlen)
{
    out[0] = '\0';
    if (body == NULL)
        return;
    while (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n')
        body++;
    size_t n = strcspn(body, "\r\n");
    while (n > 0 && (body[n - 1] == ' ' || body[n - 1] == '.'))
        n--;
    if (n == 0 || n > 200 || n + 1 > outlen)
        return;
    for (size_t i = 0; i < n; i++)
        out[i] = isprint((unsigned char)body[i]) ? body[i] : '?';
    out[n] = '\0';
}

/* Seconds to wait from Retry-After, or else the first number in the body; -1 if none. */
static long
retry_seconds(const char *retry_after, const char *body)
{
    const char *s = retry_after;
    if (s == NULL || !isdigit((unsigned char)*s)) {
        s = body;
        while (s != NULL && *s && !isdigit((unsigned char)*s))
            s++;
    }
    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    long v = strtol(s, NULL, 10);
    return v >= 0 && v < 86400 * 7 ? v : -1;
}

static bool
contains_ci(const char *hay, const char *needle)
{
    return hay != NULL && strcasestr(hay, needle) != NULL;
}

int
client_status_sentence(int status, const char *body, const char *retry_after, char *out,
                       size_t outlen)
{
    char line[256];
    server_line(body, line, sizeof(line));
    switch (status) {
    case 401:
        snprintf(out, outlen, "Login failed: wrong user name or password.");
        return CLIENT_EXIT_LOGIN;
    case 403:
        /* QVD answers 403 for maintenance, for a VM of someone else and for bad parameters;
         * only the text tells them apart. */
        if (contains_ci(body, "maintenance") || contains_ci(body, "offline") ||
            contains_ci(body, "blocked"))
            snprintf(out, outlen, "The virtual machine is offline for maintenance.");
        else if (contains_ci(body, "refused the session")) {
            /* what follows "refused the session: " is the VMA's reason */
            const char *why = strcasestr(body, "refused the session");
            why += strcspn(why, ":");
            server_line(*why ? why + 1 : why, line, sizeof(line));
            snprintf(out, outlen,
                     "The virtual machine refused the session; waiting will not "
                     "help (%s).",
                     line);
        } else if (contains_ci(body, "invalid param"))
            snprintf(out, outlen, "The server refused the connection parameters (%s).", line);
        else
            snprintf(out, outlen, "You are not allowed to use this virtual machine.");
        return CLIENT_EXIT_FORBIDDEN;
    case 404:
        snprintf(out, outlen, "No such virtual machine.");
        return CLIENT_EXIT_NO_VM;
    case 408:
        snprintf(out, outlen, "The server timed out%s%s: try again later.", line[0] ? ": " : "",
                 line);
        return CLIENT_EXIT_BUSY;
    case 426:
        snprintf(out, outlen, "The server needs a newer client.");
        return CLIENT_EXIT_OLD_CLIENT;
    case 429: {
        long s = retry_seconds(retry_after, body);
        if (s >= 0)
            snprintf(out, outlen, "Too many failed logins: try again in %ld seconds.", s);
        else
            snprintf(out, outlen, "Too many failed logins: try again later.");
        return CLIENT_EXIT_THROTTLED;
    }
    case 503:
        if (line[0])
            snprintf(out, outlen,
                     "The server is busy or under maintenance (it says: %s): try again later.",
                     line);
        else
            snprintf(out, outlen, "The server is busy or under maintenance: try again later.");
        return CLIENT_EXIT_BUSY;
    default:
        snprintf(out, outlen, "The server answered with an unexpected status %d%s%s.", status,
                 line[0] ? ": " : "", line);
        return CLIENT_EXIT_PROTOCOL;
    }
}

/* Every ending the L7R names. `reconnect`: the session broke without anyone choosing it
 * and connecting again mends it (the stream cut, the node lost: the VM starts elsewhere,
 * the L7R going away: another one of the list takes over), so the client reconnects by
 * itself. Not the endings a user or an administrator chose, and not a lost desktop (a
 * crash may repeat, and the user should learn that the work is gone). docs/client.md. */
static const struct {
    const char *reason;
    int code;
    bool reconnect;
    const char *sentence;
} endings[] = {
    {"client_closed", CLIENT_EXIT_OK, false, NULL},
    {"logout", CLIENT_EXIT_OK, false, "The session ended: you logged out."},
    {"admin_stop", CLIENT_EXIT_VM_STOPPED, false,
     "An administrator stopped your virtual machine: connect again to start it."},
    {"takeover", CLIENT_EXIT_TAKEN_OVER, false,
     "Your session was taken over by another client (you connected from somewhere else)."},
    {"admin_disconnect", CLIENT_EXIT_DISCONNECTED, false,
     "An administrator disconnected your session: connect again to resume it."},
    {"vm_crashed", CLIENT_EXIT_VM_CRASHED, false,
     "Your virtual machine stopped unexpectedly: connect again to start it."},
    {"node_lost", CLIENT_EXIT_NODE_LOST, true,
     "The server running your virtual machine was lost: connect again to start it elsewhere."},
    {"server_shutdown", CLIENT_EXIT_SHUTDOWN, true,
     "The server is shutting down: connect again in a moment."},
    {"session_crashed", CLIENT_EXIT_SESSION_LOST, false,
     "Your desktop session crashed and is lost: connect again to start a new one."},
    {"connection_lost", CLIENT_EXIT_LINK_LOST, true,
     "The connection to your virtual machine was lost; your session is kept: connect again "
     "to resume it."},
};

bool
client_end_reconnects(const char *reason)
{
    for (size_t i = 0; reason && i < sizeof(endings) / sizeof(endings[0]); i++)
        if (strcmp(reason, endings[i].reason) == 0)
            return endings[i].reconnect;
    return false; /* unknown: a newer server's ending, which may well be final */
}

int
client_end_sentence(const char *reason, const char *message, char *out, size_t outlen)
{
    char line[256];

    out[0] = '\0';
    for (size_t i = 0; reason && i < sizeof(endings) / sizeof(endings[0]); i++)
        if (strcmp(reason, endings[i].reason) == 0) {
            if (endings[i].sentence)
                snprintf(out, outlen, "%s", endings[i].sentence);
            return endings[i].code;
        }
    server_line(message, line, sizeof(line));
    if (line[0])
        snprintf(out, outlen, "The session ended: %s.", line);
    else
        snprintf(out, outlen, "The session ended and the server did not say why.");
    return CLIENT_EXIT_END_UNKNOWN;
}

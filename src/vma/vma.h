/* vma.h: private header of qvd-vma, the agent inside every VM (SimpleRPC API, nxagent
 * session, user provisioning, hooks, the upgrade relay to nxagent). */
#ifndef QVD_VMA_H
#define QVD_VMA_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "http.h"

#include <jansson.h>

struct event_base;
struct bufferevent;

enum vma_state {
    VMA_STOPPED,
    VMA_STARTING,
    VMA_PROVISIONING,
    VMA_LISTENING,
    VMA_CONNECTING, /* a proxy connected to nxagent: NX handshake and display set-up */
    VMA_CONNECTED,
    VMA_SUSPENDING,
    VMA_SUSPENDED,
    VMA_STOPPING,
};

struct vma {
    struct qvd_config *cfg;
    struct event_base *base;
    char *secret;
    bool init_mode;
    int display; /* nxagent display; nxagent's proxy port is 4000 + display */
};
extern struct vma vma;

/* main.c: stops the session, then exits (in --init mode after killing every process). */
void vma_shutdown(void);

/* server.c: listens on vma.address:internal.vm.port.vma. */
int server_start(void);

/* params.c: 0 when every x_start parameter is well formed (names and characters; the
 * geometry, fullscreen, keyboard, link and OS values in particular), else -1 with the
 * reason: a request that no retry can mend. */
int vma_check_params(const struct qvd_http_param *params, size_t n);

/* app.c: application VMs (qvd.app.command). True when v is an absolute path and arguments
 * separated by spaces, of safe characters (no shell runs it); argv of it, all new strings
 * (app_argv_free; NULL is nothing). */
bool app_command_ok(const char *v);
char **app_argv(const char *cmd);
void app_argv_free(char **argv);

/* session.c: the nxagent + X session state machine. */
enum vma_state session_state(void);
const char *session_state_name(enum vma_state st);
/* x_start's answer when waiting cannot help (an account that is refused, a bad value): the
 * L7R answers the client at once instead of retrying. */
#define VMA_REFUSED (-2)
/* x_start: params are validated already. 0 when accepted (poll x_state for listening), -1
 * (busy or failed: retry later) or VMA_REFUSED, with the reason in qvd_strerror(). */
int session_start(const struct qvd_http_param *params, size_t n);
int session_suspend(void);
int session_stop(void);
/* True while nxagent or the X session runs. */
bool session_running(void);
/* Called for every reaped child. */
void session_child_exited(pid_t pid, int status);
/* In a forked child: becomes the session user in its home, with a clean environment (and
 * DISPLAY when not NULL). Exits the child when it cannot. */
void session_become_user(const char *display);

/* audio.c: the session's sound (PulseAudio over nxagent's media channel). */
struct vma_user;
/* Each x_start, from its parameters (NULL when missing: on, as for QVD's clients). */
void audio_configure(const char *enable, const char *compression, const char *microphone);
/* Whether this connection has sound: nxagent gets media=1. */
bool audio_wanted(void);
/* Before nxagent starts: the user's /run/user/<uid> (with vma.audio.enable). */
void audio_prepare(const struct vma_user *u);
/* In a child that became the user: XDG_RUNTIME_DIR (with vma.audio.enable). */
void audio_session_env(const struct vma_user *u);
/* Every nxagent line: the multimedia port starts PulseAudio and loads the tunnels. */
void audio_agent_line(const char *line, const struct vma_user *u);
/* The session was suspended: the tunnels are unloaded. */
void audio_suspended(const struct vma_user *u);
/* nxagent is gone: PulseAudio is stopped. */
void audio_stop(void);
/* True when pid was the user's PulseAudio (reaped). */
bool audio_child_exited(pid_t pid, int status);

/* ending.c: how the last nxagent ended (SimpleRPC x_end, docs/vma.md). session.c reports
 * each nxagent's start, first client, the stop it was asked for (by "x_stop", "poweroff",
 * "logout" when the X session ended, "timeout" when it was stuck) and its exit. */
void ending_agent_started(void);
void ending_agent_connected(void);
void ending_stop_requested(const char *by);
void ending_agent_exited(int status, const char *during);
/* {"agent":N,"running":b,"replaced_lost":b[,"last":{"agent","how","code","during","lost"}]} */
json_t *ending_json(void);

/* account.c: the account a session runs as, decided before anything is created. */
struct vma_account {
    char name[33];
    uid_t uid;
    gid_t gid;
    bool exists;    /* the image has the user already */
    bool new_group; /* no group has gid yet: one named after the user is made */
};
/* Refuses (-1, with the reason) root, invalid names, names of users or groups of the image
 * outside vma.user.uid.min..max and uid/gid parameters outside it; otherwise fills *a: the
 * existing user, or the ids of a new one (uid asked for, else derived from the QVD user id
 * qvd_id, else the first free one; gid likewise). uid, gid, qvd_id may be NULL. Creates
 * nothing. */
int account_plan(const char *name, const char *uid, const char *gid, const char *qvd_id,
                 struct vma_account *a);
/* 0 when uid and gid are inside the range; checked again on the user as created. */
int account_check(uid_t uid, gid_t gid);

/* provision.c: the session user. */
struct vma_user {
    char *name, *home, *shell;
    uid_t uid;
    gid_t gid;
};
/* Creates the user of a plan if missing (groupadd, useradd), gives it its home, and checks
 * that what the image now holds is still inside the range. */
int provision_user(const struct vma_account *a, struct vma_user *u);
void vma_user_free(struct vma_user *u);

/* hooks.c: runs argv (absolute path) and waits; returns the exit status or -1. */
int vma_run(char *const argv[]);
/* Runs every executable of vma.hooks.dir in name order with key value argv pairs; the
 * first failure stops and fails. */
int hooks_run(const char *dir, const struct qvd_http_param *params, size_t n);

/* printing.c: the client's printers in the VM's CUPS, through nxagent's cups channel. */
/* The VM's port of that channel (2000 + display). */
int printing_port(void);
/* Whether this connection prints (vma.printing.enable and qvd.client.printing.enabled=1);
 * called with each x_start's parameters. */
void printing_configure(const struct qvd_http_param *params, size_t n);
/* Appends ",cups=<port>" to nxagent's options when this connection prints. */
struct qvd_buf;
void printing_agent_option(struct qvd_buf *b);
/* The session is connected: starts the VM's cupsd if needed and adds the client's printers
 * as QVD-<name> (in a child). */
void printing_session_connected(void);
/* The session was suspended or ended: removes the QVD-* printers (in a child). */
void printing_session_ended(void);
/* Called for every reaped child. */
void printing_child_exited(pid_t pid, int status);

/* relay.c: copies bytes both ways between two connected bufferevents until either side
 * closes; takes ownership of both. */
void relay_start(struct bufferevent *a, struct bufferevent *b);
/* Closes every relay at once (a new client takes the session over); returns how many. */
int relay_drop_all(void);

/* splice.c: takes both sockets over (writing first what the bufferevents hold) and frees the
 * bufferevents: 0 (also when a side was already gone: the relay then ended); or -1 with
 * both bufferevents untouched (no pipe or descriptor left: copy instead). */
int splice_relay_start(struct event_base *base, struct bufferevent *a, struct bufferevent *b);
int splice_relay_drop_all(void);

/* slave.c: the VM's end of the slave channel. */
/* nxagent's slave port in the VM (11000 + display, as QVD's). */
int slave_port(void);
/* Whether the session gets the channel: vma.slave.enable, a valid qvd.slave.key, and a
 * client that did not say qvd.client.slave.enable=0 (QVD's clients say nothing). */
bool slave_wanted(const struct qvd_http_param *params, size_t n);
/* At each x_start: the connection's key in a new file of the VMA's run folder that only
 * the user reads (removed when the channel is not wanted). 0 or -1 with an error. */
int slave_prepare(const struct qvd_http_param *params, size_t n, const struct vma_user *u);
/* In nxagent's child, as the user: NX_SLAVE_CMD (this program) and what its slave mode
 * needs to find (key file, slave port). */
void slave_agent_env(const struct vma_user *u);
/* The slave mode (QVD_VMA_SLAVE set, no arguments): one request on stdin/stdout. Exit status. */
/* qvd-vma open FILE: asks the client to open FILE of a shared folder. The exit status. */
int slave_open_main(const char *file);
int slave_main(void);

#endif

/* daemon.h: the start of every node daemon: its command line (-c FILE, -d), node.conf,
 * the log, and SIGPIPE ignored. */
#ifndef QVD_DAEMON_H
#define QVD_DAEMON_H

struct qvd_config;

/* Parses `prog [-c node.conf] [-d] [-h]`, loads the configuration (-c, else $QVD_CONFIG,
 * else /etc/qvd/node.conf) and starts the log named `prog`. Exits with a message on bad
 * usage (2), -h (0) or an unreadable configuration (1). Never returns NULL. */
struct qvd_config *qvd_daemon_start(const char *prog, int argc, char **argv);

#endif

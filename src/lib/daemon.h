/* daemon.h: the start of every node daemon: its command line (-c FILE, -d), node.conf,
 * the log, and SIGPIPE ignored. */
#ifndef QVD_DAEMON_H
#define QVD_DAEMON_H

struct qvd_config;

/* Parses `prog [-c node.conf] [-d] [-h]`, loads the configuration (-c, else $QVD_CONFIG,
 * else /etc/qvd/node.conf) and starts the log named `prog`. Exits with a message on bad
 * usage (2), -h (0) or an unreadable configuration (1). Never returns NULL. */
struct qvd_config *qvd_daemon_start(const char *prog, int argc, char **argv);

/* Makes folder `dir` (and its parents) 0755 whatever the umask (qvd-l7r and qvd-api run
 * under 077): a folder the other daemons and the containers' mapped users cross, such as
 * path.run or the database's. Existing folders are left as they are. 0, or -1 with
 * qvd_strerror(). */
int qvd_daemon_mkdir(const char *dir);

/* Becomes the user named by config key `user_key` (its primary group), after making the
 * SQLite database (file, WAL files, folder) and ${path.run}/wake usable by that group and
 * by no other: the daemons that drop (qvd-l7r, qvd-api) must share one primary group. An
 * empty user keeps the current one (with a warning). 0, or -1 with qvd_strerror(). */
int qvd_daemon_drop(struct qvd_config *cfg, const char *user_key);

#endif

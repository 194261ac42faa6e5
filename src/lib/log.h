/* log.h: the one logging API of every QVD program (levels, stderr or a file). */
#ifndef QVD_LOG_H
#define QVD_LOG_H

enum qvd_log_level { QVD_LOG_DEBUG, QVD_LOG_INFO, QVD_LOG_WARN, QVD_LOG_ERR };

/* Names the program in every line and sets the threshold; `path` NULL logs to stderr.
 * Returns -1 if the file cannot be opened (logging then stays on stderr). */
int qvd_log_init(const char *prog, enum qvd_log_level level, const char *path);
/* The descriptor log lines go to (the file's, else 2): a child that closes the others keeps
 * it to go on logging. */
int qvd_log_fd(void);
/* Parses "debug|info|warn|error"; unknown names give QVD_LOG_INFO. */
enum qvd_log_level qvd_log_level_parse(const char *name);
void qvd_log(enum qvd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void qvd_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define log_debug(...) qvd_log(QVD_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) qvd_log(QVD_LOG_INFO, __VA_ARGS__)
#define log_warn(...) qvd_log(QVD_LOG_WARN, __VA_ARGS__)
#define log_err(...) qvd_log(QVD_LOG_ERR, __VA_ARGS__)

#endif

/* log.c: timestamped log lines with a level, to stderr or an append-only file. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "qvd";
static enum qvd_log_level log_threshold = QVD_LOG_INFO;
static FILE *log_file;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int
qvd_log_init(const char *prog, enum qvd_log_level level, const char *path)
{
    log_prog = prog;
    log_threshold = level;
    if (path == NULL || *path == '\0')
        return 0;
    FILE *f = fopen(path, "ae");
    if (f == NULL)
        return -1;
    setvbuf(f, NULL, _IOLBF, 0);
    if (log_file != NULL)
        fclose(log_file);
    log_file = f;
    return 0;
}

int
qvd_log_fd(void)
{
    return log_file ? fileno(log_file) : 2;
}

enum qvd_log_level
qvd_log_level_parse(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (enum qvd_log_level)i;
    if (name != NULL && strcmp(name, "warning") == 0)
        return QVD_LOG_WARN;
    return QVD_LOG_INFO;
}

__attribute__((format(printf, 2, 0))) static void
vlog(enum qvd_log_level level, const char *fmt, va_list ap)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    FILE *out = log_file ? log_file : stderr;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    flockfile(out);
    fprintf(out, "%s.%03ldZ %s[%d] %s: ", stamp, ts.tv_nsec / 1000000, log_prog, (int)getpid(),
            level_names[level]);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    funlockfile(out);
}

void
qvd_log(enum qvd_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level < log_threshold)
        return;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void
qvd_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(QVD_LOG_ERR, fmt, ap);
    va_end(ap);
    exit(1);
}

/* err.c: per-thread "last error" message behind the 0/-1 return contract. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static __thread char last_error[512];

int
qvd_seterr(const char *fmt, ...)
{
    va_list ap;
    char msg[sizeof(last_error)];

    /* through a copy: callers often wrap the previous message with qvd_strerror() */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof(last_error));
    return -1;
}

const char *
qvd_strerror(void)
{
    return last_error;
}

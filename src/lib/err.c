/* err.c: per-thread "last error" message behind the 0/-1 return contract. */
#include <stdarg.h>
#include <stdio.h>

#include "err.h"

static __thread char last_error[512];

int
qvd_seterr(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    return -1;
}

const char *
qvd_strerror(void)
{
    return last_error;
}

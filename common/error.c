/* error.c: filling and wrapping ppr_err messages. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(ppr_err *e, int code, const char *fmt, ...)
{
    if (!e)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return code;
}

int err_wrap(ppr_err *e, const char *fmt, ...)
{
    if (!e)
        return PPR_EINTERNAL;
    char prefix[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%.500s: %.500s", prefix, old);
    return e->code;
}

int err_nomem(ppr_err *e)
{
    return err_set(e, PPR_EINTERNAL, "out of memory");
}

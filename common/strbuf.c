/* strbuf.c: the growable string of strbuf.h on top of mem_grow. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* Room for n more bytes and the NUL; 0 when there is, else sets failed. */
static int reserve(strbuf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (n >= SIZE_MAX - b->len || mem_grow((void **)&b->p, &b->cap, b->len + n + 1, 1)) {
        b->failed = 1;
        return -1;
    }
    return 0;
}

void strbuf_add(strbuf *b, const char *s, size_t n)
{
    if (reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void strbuf_adds(strbuf *b, const char *s)
{
    strbuf_add(b, s, strlen(s));
}

/* The first vsnprintf measures; the second writes in place, NUL included. */
void strbuf_addf(strbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void strbuf_release(strbuf *b)
{
    if (!b)
        return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

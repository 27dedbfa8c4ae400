/* strbuf.h: a growable NUL-terminated string for text built piece by piece.
 * An allocation failure is remembered rather than returned, so a caller makes
 * many adds and checks `failed` once at the end. */
#ifndef PPR_STRBUF_H
#define PPR_STRBUF_H

#include <stddef.h>

/* Start from `strbuf b = {0};`. p is NULL until the first add and always
 * NUL-terminated after it; len excludes the NUL. Once failed is set, adds do
 * nothing and p holds what was added before. */
typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} strbuf;

void strbuf_add(strbuf *b, const char *s, size_t n); /* n bytes of s */
void strbuf_adds(strbuf *b, const char *s);          /* a NUL-terminated string */
void strbuf_addf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Free the text and return b to its empty state; accepts NULL. */
void strbuf_release(strbuf *b);

#endif

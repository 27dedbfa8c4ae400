/* tokens.h: the word rule of docs/encoders.md ("hash"), shared by every
 * encoder that reads words, so that the hash encoder's word features and the
 * GloVe encoder's lookups see the same words. On bytes, never on characters:
 * ASCII A-Z are lower-cased; a word is a maximal run of [a-z0-9] and bytes
 * 0x80 and above, and an apostrophe that has such a byte on both sides belongs
 * to the word ("don't" is one word, "'tis" and "dogs'" lose it). Invalid UTF-8
 * is only more word bytes. Inline because the hash encoder's scan calls it on
 * every byte. */
#ifndef PPR_ENCODE_TOKENS_H
#define PPR_ENCODE_TOKENS_H

#include <stddef.h>

static inline unsigned token_lower(unsigned c)
{
    return c - 'A' < 26u ? c + 32 : c;
}

/* On a lower-cased byte: [a-z0-9] or any byte of 0x80 and above. */
static inline int token_is_word_byte(unsigned c)
{
    return c - 'a' < 26u || c - '0' < 10u || c >= 0x80;
}

/* Whether t[i] (lower-cased: c) is part of a word, given whether t[i - 1]
 * was (in_word). */
static inline int token_in_word(const unsigned char *t, size_t i, size_t len, unsigned c,
                                int in_word)
{
    return token_is_word_byte(c) ||
           (c == '\'' && in_word && i + 1 < len && token_is_word_byte(token_lower(t[i + 1])));
}

/* The next word of t[0, len) at or after *at: t[*start, *end), not yet
 * lower-cased; *at moves past it. 0 when no word is left. */
static inline int token_next(const unsigned char *t, size_t len, size_t *at, size_t *start,
                             size_t *end)
{
    size_t i = *at;
    while (i < len && !token_is_word_byte(token_lower(t[i])))
        i++;
    if (i == len) {
        *at = len;
        return 0;
    }
    *start = i++;
    while (i < len && token_in_word(t, i, len, token_lower(t[i]), 1))
        i++;
    *at = *end = i;
    return 1;
}

#endif

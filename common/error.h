/* error.h: the one error convention of ppr. Library code never exits: it returns
 * a code and leaves one message in a ppr_err; only a program's main decides. */
#ifndef PPR_ERROR_H
#define PPR_ERROR_H

enum {
    PPR_OK = 0,
    PPR_EINPUT = 2,    /* user-caused: bad config or data, missing or corrupt file */
    PPR_EINTERNAL = 3, /* a bug or an environment failure (out of memory) */
};

typedef struct {
    int code;
    char msg[1024];
} ppr_err;

/* Fill e (if not NULL) and return code, so callers can `return err_set(...)`. */
int err_set(ppr_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with more context ("reading 'x': <msg>"). */
int err_wrap(ppr_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Out-of-memory is an internal error with a fixed message. */
int err_nomem(ppr_err *e);

#endif

/* download.h: HTTP(S) downloads with libcurl for sources that are not in the
 * mirror (design section 8): retries with exponential backoff, resume of a cut
 * transfer, size and SHA-256 checks before a file appears at its final path.
 *
 * Retry policy, shared by every request: connection errors, timeouts, a cut
 * transfer, HTTP 5xx and 429 are retried; any other 4xx fails at once. The number
 * of attempts comes from env PPR_DOWNLOAD_ATTEMPTS (default 5) and the first
 * delay from PPR_DOWNLOAD_BACKOFF_MS (default 500), doubling after each failure
 * (a Retry-After header can lengthen it). An attempt that brings a file past the
 * most bytes it ever held is progress and starts the count again, so a long
 * download over a flaky link is not given up while it advances.
 *
 * Tests point every upstream at a loopback server through env PPR_UPSTREAM; see
 * download_url. A failed download is a user-level problem (PPR_EINPUT): the
 * message names the URL and says what went wrong. */
#ifndef PPR_DOWNLOAD_H
#define PPR_DOWNLOAD_H

#include <stdint.h>

#include "error.h"
#include "strbuf.h"

/* libcurl's process-wide setup and teardown: main calls init once before any
 * download and before starting threads, and release once at the end. */
int download_global_init(ppr_err *e);
void download_global_release(void);

/* The URL to fetch for an upstream URL: with env PPR_UPSTREAM set (e.g.
 * "http://127.0.0.1:8123"), "https://HOST/PATH" becomes "$PPR_UPSTREAM/HOST/PATH";
 * anything else, or any URL when PPR_UPSTREAM is unset or empty, is copied as is
 * (so an already rewritten http:// URL is left alone). malloc'd; NULL when out of
 * memory. */
char *download_url(const char *upstream);

/* Download url to dest through "<dest>.part", which survives a failure so that
 * the next call resumes it with an HTTP Range request (a server that answers
 * 200 instead makes it start over). want_sha256 (64 hex chars) and want_bytes
 * are checked against the whole file when given (NULL / 0: unknown, e.g. to pin
 * on first download); a mismatch deletes the .part. On success dest holds the
 * file (fsync, rename, fsync of the directory), got_sha256 its lower-case hex
 * SHA-256 and *got_bytes its size (either may be NULL); on failure nothing is at
 * dest. Progress with rate and ETA goes to stderr, and a summary line at the end.
 * Two processes downloading to the same dest at once: the second fails. */
int download_file(const char *url, const char *dest, const char *want_sha256,
                  uint64_t want_bytes, char got_sha256[65], uint64_t *got_bytes,
                  ppr_err *e);

/* GET url into out (emptied first) with the same retries: for small responses
 * such as one page of an API. Quiet: the caller reports progress. */
int download_buffer(const char *url, strbuf *out, ppr_err *e);

#endif

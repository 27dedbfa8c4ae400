/* fake_encoder.c: a stand-in for an embedding program, for test_cmdenc. It
 * speaks the `command` protocol of docs/encoders.md (JSON lines in, a
 * little-endian uint32 dimension then float32 vectors out) and misbehaves on
 * request, so each of ppr's checks can be triggered.
 *
 * Line k (from 0, per run) holding the bytes t[0, len) gets the vector
 *   v[0] = len, v[1] = count of 'a' bytes, v[2] = FNV-1a-32(t) & 0xffffff,
 *   v[3] = k, v[j] = j for j >= 4,
 * cut to the dimension; every value is exact in float32.
 *
 * Usage: fake_encoder MODE [N], MODE one of
 *   ok [DIM]        dimension DIM (default 4), as above
 *   stderr          as ok 4, then "fake_encoder: N texts" on stderr
 *   crash-after N   abort() once N lines are read
 *   wrong-dim       dimension 4 when the input is empty, 5 otherwise
 *   short           one vector fewer (the last is dropped)
 *   extra           one vector more (all zeros)
 *   partial         2 stray bytes after the vectors
 *   silent          reads everything, writes nothing
 *   nan             v[1] of line 0 is NaN
 *   exit N          correct output, then exit status N
 *   slow-reader     as ok 4, sleeping 1 ms per 256 KiB read
 * A line that is not exactly {"text":"..."} with the escapes ppr writes
 * (\" \\ \b \f \n \r \t \u00XX below 0x80) ends the program with status 2. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put_u32(uint32_t u)
{
    unsigned char b[4] = {u & 255, u >> 8 & 255, u >> 16 & 255, u >> 24};
    fwrite(b, 1, 4, stdout);
}

static void put_vec(const float *v, uint32_t dim)
{
    for (uint32_t j = 0; j < dim; j++) {
        uint32_t u;
        memcpy(&u, &v[j], 4);
        put_u32(u);
    }
}

static int hex_val(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode line [n] (newline stripped) in place; its text length, or -1. */
static long line_decode(char *line, size_t n)
{
    static const char head[] = "{\"text\":\"";
    if (n < sizeof head + 1 || memcmp(line, head, sizeof head - 1) ||
        memcmp(line + n - 2, "\"}", 2))
        return -1;
    const char *s = line + sizeof head - 1, *end = line + n - 2;
    char *d = line;
    while (s < end) {
        if (*s == '"')
            return -1;
        if (*s != '\\') {
            *d++ = *s++;
            continue;
        }
        if (++s == end)
            return -1;
        switch (*s++) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case 'b': *d++ = '\b'; break;
        case 'f': *d++ = '\f'; break;
        case 'n': *d++ = '\n'; break;
        case 'r': *d++ = '\r'; break;
        case 't': *d++ = '\t'; break;
        case 'u':
            if (end - s < 4 || memcmp(s, "00", 2) || hex_val(s[2]) < 0 || hex_val(s[2]) > 7 ||
                hex_val(s[3]) < 0)
                return -1;
            *d++ = (char)(hex_val(s[2]) << 4 | hex_val(s[3]));
            s += 4;
            break;
        default:
            return -1;
        }
    }
    return d - line;
}

static void vec_of(const unsigned char *t, size_t len, uint32_t k, float *v, uint32_t dim)
{
    uint32_t h = 2166136261u, a = 0;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ t[i]) * 16777619u;
        a += t[i] == 'a';
    }
    for (uint32_t j = 0; j < dim; j++)
        v[j] = j == 0 ? (float)len : j == 1 ? (float)a : j == 2 ? (float)(h & 0xffffff)
             : j == 3 ? (float)k : (float)j;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "ok";
    long arg = argc > 2 ? strtol(argv[2], NULL, 10) : -1;
    uint32_t dim = !strcmp(mode, "ok") && arg >= 0 ? (uint32_t)arg : 4;
    int slow = !strcmp(mode, "slow-reader");
    float *v = calloc(dim + 1, sizeof *v), *held = calloc(dim + 1, sizeof *held);
    char *line = NULL;
    size_t cap = 0, since_sleep = 0;
    uint32_t k = 0;
    ssize_t n;
    int announced = 0;
    if (!v || !held)
        return 2;
    if (!strcmp(mode, "crash-after") && arg == 0)
        abort();
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (slow && (since_sleep += (size_t)n) >= 262144) {
            nanosleep(&(struct timespec){0, 1000000}, NULL);
            since_sleep = 0;
        }
        if (line[n - 1] != '\n')
            return fprintf(stderr, "fake_encoder: line %u lacks its newline\n", k), 2;
        long len = line_decode(line, (size_t)n - 1);
        if (len < 0)
            return fprintf(stderr, "fake_encoder: line %u is not {\"text\":\"...\"}\n", k), 2;
        if (!announced) {
            if (!strcmp(mode, "wrong-dim"))
                dim = 5;
            if (strcmp(mode, "silent"))
                put_u32(dim);
            announced = 1;
        }
        vec_of((const unsigned char *)line, (size_t)len, k, v, dim);
        if (!strcmp(mode, "nan") && k == 0)
            v[1] = NAN;
        if (!strcmp(mode, "short")) {
            if (k > 0)
                put_vec(held, dim);
            memcpy(held, v, dim * sizeof *v);
        } else if (strcmp(mode, "silent")) {
            put_vec(v, dim);
        }
        if (++k == (uint32_t)arg && !strcmp(mode, "crash-after"))
            abort();
    }
    if (!announced && strcmp(mode, "silent"))
        put_u32(dim);
    if (!strcmp(mode, "extra")) {
        memset(v, 0, dim * sizeof *v);
        put_vec(v, dim);
    }
    if (!strcmp(mode, "partial"))
        fwrite("\0\0", 1, 2, stdout);
    if (!strcmp(mode, "stderr"))
        fprintf(stderr, "fake_encoder: %u texts\n", k);
    free(line);
    free(v);
    free(held);
    if (fflush(stdout))
        return 2;
    return !strcmp(mode, "exit") ? (int)arg : 0;
}

/* glove_fixture.c: the GloVe package test_glove.c converts: its JSON
 * document with hand-made and filler words, and the npm tarball around it
 * (see glove_fixture.h). */
#include "tests/03-encode/glove_fixture.h"

#include <CUnit/Basic.h>
#include <archive.h>
#include <archive_entry.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"

/* The hand-made words, their vectors as the document spells them (values,
 * norm, word index), in a vectors order that differs from the words order;
 * "caf\u00e9" and "a\"b" are spelled differently in the two places. */
static const char *const hand_words =
    "\"the\",\",\",\"cat\",\"sat\",\"don't\",\"caf\\u00e9\",\"a\\\"b\"";
static const char *const hand_vectors =
    "\"cat\":[2,-1,2,0,3,2],\n  \"the\" : [ 1, 2, 2, 0, 3.00000000, 0 ],"
    "\",\":[0,0,3,4,5.0,1],\"sat\":[5e-1,0.5,0.50,50E-2,1,3],\"don't\":[1,0,0,0,1,4],"
    "\"caf\xc3\xa9\":[-3,0,4,0,5,5],\"a\\u0022b\":[0,1,0,0,1,6]";
const float hand_rows[N_HAND][4] = {
    {1, 2, 2, 0}, {0, 0, 3, 4}, {2, -1, 2, 0}, {0.5f, 0.5f, 0.5f, 0.5f},
    {1, 0, 0, 0}, {-3, 0, 4, 0}, {0, 1, 0, 0},
};
const char *const hand_names[N_HAND] = {"the", ",", "cat", "sat", "don't",
                                        "caf\xc3\xa9", "a\"b"};

/* Filler word i (N_HAND <= i < N_HAND + N_FILLER): "w<i>" with values the
 * float type holds exactly. */
void filler_row(int i, float v[4])
{
    v[0] = (float)(i % 7 - 3);
    v[1] = 0.25f * (float)(i % 5);
    v[2] = 1.0f;
    v[3] = -0.5f;
}

/* The package's JSON with the hand-made words and n_filler more; malloc'd. */
char *doc_build_sized(int n_filler, size_t *n)
{
    strbuf b = {0};
    strbuf_addf(&b, "{\"precision\":8,\"l2NormIndex\":4,\"wordIndex\":5,\"size\":%d,"
                "\"dimensions\":4,\n\"words\":[%s", N_HAND + n_filler, hand_words);
    for (int i = N_HAND; i < N_HAND + n_filler; i++)
        strbuf_addf(&b, ",\"w%d\"", i);
    strbuf_addf(&b, "],\n\"vectors\":{%s", hand_vectors);
    for (int i = N_HAND; i < N_HAND + n_filler; i++) {
        float v[4];
        filler_row(i, v);
        double norm = sqrt((double)v[0] * v[0] + (double)v[1] * v[1] + 1.25);
        strbuf_addf(&b, ",\"w%d\":[%g,%g,1,-0.5,%.8f,%d]", i, v[0], v[1], norm, i);
    }
    strbuf_adds(&b, "},\"unkVector\":[0,0,0,0,0,-1],\"extra\":{\"a\":[true,false,null,\"x\"]}}\n");
    CU_ASSERT_FATAL(!b.failed);
    *n = b.len;
    return b.p;
}

char *doc_build(size_t *n)
{
    return doc_build_sized(N_FILLER, n);
}

/* doc with its first `from` replaced by `to`; malloc'd. */
char *doc_edit(const char *doc, const char *from, const char *to, size_t *n)
{
    const char *at = strstr(doc, from);
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    strbuf b = {0};
    strbuf_add(&b, doc, (size_t)(at - doc));
    strbuf_adds(&b, to);
    strbuf_adds(&b, at + strlen(from));
    CU_ASSERT_FATAL(!b.failed);
    *n = b.len;
    return b.p;
}

/* A gzip-compressed ustar archive of the k members names[i] = data[i]; malloc'd. */
char *tgz_build(const char *const *names, const char *const *data, const size_t *lens,
                size_t k, size_t *n)
{
    size_t cap = 65536;
    for (size_t i = 0; i < k; i++)
        cap += lens[i] + 1024;
    char *buf = malloc(cap);
    struct archive *a = archive_write_new();
    CU_ASSERT_FATAL(buf && a);
    CU_ASSERT_FATAL(archive_write_add_filter_gzip(a) == ARCHIVE_OK &&
                    archive_write_set_format_ustar(a) == ARCHIVE_OK &&
                    archive_write_open_memory(a, buf, cap, n) == ARCHIVE_OK);
    for (size_t i = 0; i < k; i++) {
        struct archive_entry *en = archive_entry_new();
        archive_entry_set_pathname(en, names[i]);
        archive_entry_set_size(en, (la_int64_t)lens[i]);
        archive_entry_set_filetype(en, AE_IFREG);
        archive_entry_set_perm(en, 0644);
        archive_entry_set_mtime(en, 499162500, 0);
        CU_ASSERT_FATAL(archive_write_header(a, en) == ARCHIVE_OK);
        CU_ASSERT_FATAL(archive_write_data(a, data[i], lens[i]) == (la_ssize_t)lens[i]);
        archive_entry_free(en);
    }
    CU_ASSERT_FATAL(archive_write_close(a) == ARCHIVE_OK);
    archive_write_free(a);
    return buf;
}

/* The npm tarball of a package whose data file holds doc. */
char *package_build(const char *doc, size_t doc_n, size_t *n)
{
    static const char pkg[] = "{\"name\":\"fixture\",\"version\":\"1.0.0\"}\n";
    const char *names[] = {"package/package.json", MEMBER};
    const char *data[] = {pkg, doc};
    size_t lens[] = {sizeof pkg - 1, doc_n};
    return tgz_build(names, data, lens, 2, n);
}

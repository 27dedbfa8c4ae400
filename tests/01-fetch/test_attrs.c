/* test_attrs.c: unit tests of the text attributes (stages/01-fetch/attrs.c): the
 * counts and raw measures of fixed strings, derived by hand in the comments, and
 * the corpus standardization of three answers. */
#include <CUnit/Basic.h>
#include <math.h>
#include <string.h>

#include "stages/01-fetch/attrs.h"
#include "tests/testlib.h"

#define NEAR(x, y) CU_ASSERT_DOUBLE_EQUAL((x), (y), 1e-6)

static void count_str(const char *s, attrs_counts *c, double raw[ATTR_COUNT])
{
    attrs_count(s, strlen(s), c);
    attrs_raw(c, raw);
}

static void test_names(void)
{
    for (int a = 0; a < ATTR_COUNT; a++)
        CU_ASSERT_EQUAL(attrs_lookup(attrs_name(a)), a);
    CU_ASSERT_EQUAL(attrs_lookup("quality"), ATTR_QUALITY);
    CU_ASSERT_EQUAL(attrs_lookup("verbosity"), -1);
}

/* "Hello! Thank you so much, this is wonderful."
 * words: Hello Thank you so much this is wonderful = 8
 * syllables: hello (e, o) 2; thank 1; you ("you" is one vowel run) 1; so, much,
 *   this, is 1; wonderful (o, e, u) 3 -> one complex word
 * friendly: hello, thank, wonderful (lexicon) + you (second person) + '!' = 5
 * expertise = 1/8 = 0.125; informativeness = ln(1 + 8) = 2.1972246;
 * style = (5 - 0.5) / (8 + 20) = 0.1607143; compliance +1; formatting ln 1 = 0 */
static void test_friendly(void)
{
    attrs_counts c;
    double raw[ATTR_COUNT];
    count_str("Hello! Thank you so much, this is wonderful.", &c, raw);
    CU_ASSERT_EQUAL(c.words, 8);
    CU_ASSERT_EQUAL(c.complex_words, 1);
    CU_ASSERT_EQUAL(c.friendly, 5);
    CU_ASSERT_EQUAL(c.markup, 0);
    CU_ASSERT_EQUAL(c.refusal, 0);
    NEAR(raw[ATTR_EXPERTISE], 0.125);
    NEAR(raw[ATTR_INFORMATIVENESS], 2.1972246);
    NEAR(raw[ATTR_STYLE], 0.1607143);
    NEAR(raw[ATTR_COMPLIANCE], 1.0);
    NEAR(raw[ATTR_FORMATTING], 0.0);
    NEAR(raw[ATTR_QUALITY], 0.0);
}

/* "I’m sorry, but I can’t help with that." with curly apostrophes (E2 80 99):
 * the apostrophes separate words: I m sorry but I can t help with that = 10;
 * no friendly marker: style = (0 - 0.5) / (10 + 20) = -0.0166667;
 * the folded opening "i'm sorry, but i can't ..." holds "i'm sorry, but":
 * compliance -1; sorry has two vowel runs (o, y): no complex word. */
static void test_refusal(void)
{
    attrs_counts c;
    double raw[ATTR_COUNT];
    count_str("I\xE2\x80\x99m sorry, but I can\xE2\x80\x99t help with that.", &c, raw);
    CU_ASSERT_EQUAL(c.words, 10);
    CU_ASSERT_EQUAL(c.complex_words, 0);
    CU_ASSERT_EQUAL(c.friendly, 0);
    CU_ASSERT_EQUAL(c.refusal, 1);
    NEAR(raw[ATTR_STYLE], -0.0166667);
    NEAR(raw[ATTR_COMPLIANCE], -1.0);
    count_str("As an AI language model, I do not have opinions.", &c, raw);
    CU_ASSERT_EQUAL(c.refusal, 1);
    count_str("I can help with that.", &c, raw);
    CU_ASSERT_EQUAL(c.refusal, 0);
}

/* A marker counts only inside the first ATTRS_REFUSAL_WINDOW bytes. */
static void test_refusal_window(void)
{
    char buf[ATTRS_REFUSAL_WINDOW + 64];
    memset(buf, ' ', sizeof buf);
    memcpy(buf + ATTRS_REFUSAL_WINDOW - 8, "I cannot", 8);
    attrs_counts c;
    attrs_count(buf, ATTRS_REFUSAL_WINDOW, &c);
    CU_ASSERT_EQUAL(c.refusal, 1);
    memset(buf, ' ', sizeof buf);
    memcpy(buf + ATTRS_REFUSAL_WINDOW - 7, "I cannot", 8);
    attrs_count(buf, ATTRS_REFUSAL_WINDOW + 1, &c);
    CU_ASSERT_EQUAL(c.refusal, 0);
    CU_ASSERT_EQUAL(c.words, 2);
}

/* Markup lines: "# Plan" header, "1. **Mix** flour" and "2. Bake" numbered items,
 * "- done" bullet, two "```" fences, "| a | b |" table = 7, plus one bold span
 * (two "**") = 8; "code" and the blank line are not markup.
 * formatting = ln(1 + 8) = 2.1972246.
 * words: Plan 1 Mix flour 2 Bake done code a b = 10 (digits are word bytes). */
static void test_markup(void)
{
    attrs_counts c;
    double raw[ATTR_COUNT];
    count_str("# Plan\n\n1. **Mix** flour\n2. Bake\n- done\n```\ncode\n```\n| a | b |", &c,
              raw);
    CU_ASSERT_EQUAL(c.markup, 8);
    CU_ASSERT_EQUAL(c.words, 10);
    NEAR(raw[ATTR_FORMATTING], 2.1972246);
    /* "-5 degrees" and "3.5 kg" open no list; "\xE2\x80\xA2 item" (a bullet) does */
    count_str("-5 degrees\n3.5 kg\n\xE2\x80\xA2 item", &c, raw);
    CU_ASSERT_EQUAL(c.markup, 1);
}

/* Syllables are vowel runs (a e i o u y), less a final 'e' after a consonant:
 * beautiful (eau, i, u) 3; make (a, e - 1) 1; free (ee) 1; everything
 * (e, e, y, i) 4; rhythm (y) 1 -> complex words: beautiful, everything. */
static void test_syllables(void)
{
    attrs_counts c;
    double raw[ATTR_COUNT];
    count_str("beautiful make free everything rhythm", &c, raw);
    CU_ASSERT_EQUAL(c.words, 5);
    CU_ASSERT_EQUAL(c.complex_words, 2);
    NEAR(raw[ATTR_EXPERTISE], 0.4);
}

/* Empty text: no words; expertise 0, informativeness ln 1 = 0,
 * style = -0.5 / 20 = -0.025. Bytes >= 0x80 are word bytes whatever their
 * UTF-8 validity; a complete 4-byte emoji (F0 9F ..) is a friendly separator. */
static void test_edge_bytes(void)
{
    attrs_counts c;
    double raw[ATTR_COUNT];
    count_str("", &c, raw);
    CU_ASSERT_EQUAL(c.words, 0);
    NEAR(raw[ATTR_EXPERTISE], 0.0);
    NEAR(raw[ATTR_INFORMATIVENESS], 0.0);
    NEAR(raw[ATTR_STYLE], -0.025);
    /* words: FF FE 80 | abc | C3 = 3 */
    count_str("\xFF\xFE\x80 abc \xC3", &c, raw);
    CU_ASSERT_EQUAL(c.words, 3);
    /* words: ok | done; the emoji is one friendly marker */
    count_str("ok\xF0\x9F\x98\x80" "done", &c, raw);
    CU_ASSERT_EQUAL(c.words, 2);
    CU_ASSERT_EQUAL(c.friendly, 1);
    /* a truncated emoji at the end is plain word bytes */
    count_str("ok \xF0\x9F", &c, raw);
    CU_ASSERT_EQUAL(c.words, 2);
    CU_ASSERT_EQUAL(c.friendly, 0);
    /* NUL bytes inside the counted length do not stop the scan */
    attrs_count("a\0b", 3, &c);
    CU_ASSERT_EQUAL(c.words, 2);
}

/* Three answers, models 0, 0, 1.
 * expertise raw 0, 0.5, 1: mean 0.5, sd sqrt(0.5 / 3) = 0.4082483,
 *   z = -1.2247449, 0, 1.2247449, tanh = -0.8410483, 0, 0.8410483
 * informativeness, style, formatting equal everywhere: sd 0, attribute 0
 * compliance raw +1, -1, +1 is kept as is
 * composite (inf + fmt + comp) / 3 = 1/3, -1/3, 1/3; model 0 mean 0, model 1 1/3
 * quality raw 0, 0, 1/3: mean 1/9, sd sqrt(2/81) = 0.1571348,
 *   z = -0.7071068, -0.7071068, 1.4142136, tanh = -0.6088594, -0.6088594, 0.8883856 */
static void test_standardize(void)
{
    double raw[3][ATTR_COUNT] = {
        {0.0, 1.0, 0.2, 1.0, 0.0, 0.0},
        {0.5, 1.0, 0.2, -1.0, 0.0, 0.0},
        {1.0, 1.0, 0.2, 1.0, 0.0, 0.0},
    };
    uint32_t model[3] = {0, 0, 1};
    float out[3][ATTR_COUNT];
    attrs_stats st;
    ppr_err e;
    CU_ASSERT_EQUAL_FATAL(attrs_standardize(&raw[0][0], model, 3, 2, &out[0][0], &st, &e),
                          PPR_OK);
    NEAR(out[0][ATTR_EXPERTISE], -0.8410483);
    NEAR(out[1][ATTR_EXPERTISE], 0.0);
    NEAR(out[2][ATTR_EXPERTISE], 0.8410483);
    NEAR(st.mean[ATTR_EXPERTISE], 0.5);
    NEAR(st.sd[ATTR_EXPERTISE], 0.4082483);
    for (int i = 0; i < 3; i++) {
        NEAR(out[i][ATTR_INFORMATIVENESS], 0.0);
        NEAR(out[i][ATTR_STYLE], 0.0);
        NEAR(out[i][ATTR_FORMATTING], 0.0);
    }
    NEAR(out[1][ATTR_COMPLIANCE], -1.0);
    NEAR(out[0][ATTR_QUALITY], -0.6088594);
    NEAR(out[1][ATTR_QUALITY], -0.6088594);
    NEAR(out[2][ATTR_QUALITY], 0.8883856);
    NEAR(st.mean[ATTR_QUALITY], 1.0 / 9.0);
    model[2] = 2;
    CU_ASSERT_EQUAL(attrs_standardize(&raw[0][0], model, 3, 2, &out[0][0], &st, &e),
                    PPR_EINTERNAL);
}

int main(void)
{
    static const test_case cases[] = {
        {"names", test_names},
        {"friendly text", test_friendly},
        {"refusal markers", test_refusal},
        {"refusal window", test_refusal_window},
        {"markup", test_markup},
        {"syllables", test_syllables},
        {"empty and invalid bytes", test_edge_bytes},
        {"standardize", test_standardize},
        {NULL, NULL},
    };
    return test_main("attrs", NULL, NULL, cases, CU_BRM_NORMAL);
}

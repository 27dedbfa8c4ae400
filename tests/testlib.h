/* testlib.h: the CUnit boilerplate every unit-test binary shares: register one
 * suite, run it with the basic interface, and turn the outcome into an exit code. */
#ifndef PPR_TESTLIB_H
#define PPR_TESTLIB_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

typedef struct {
    const char *name;
    CU_TestFunc fn;
} test_case;

/* Flip the lowest bit of the byte at offset at (from the end when negative). */
static inline void flip_byte(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, at, at < 0 ? SEEK_END : SEEK_SET);
    int c = fgetc(f);
    fseek(f, -1, SEEK_CUR);
    fputc(c ^ 0x01, f);
    fclose(f);
}

/* 1 when e's message contains s; otherwise says what it holds, for the log. */
static inline int err_has(const ppr_err *e, const char *s)
{
    int ok = strstr(e->msg, s) != NULL;
    if (!ok)
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", e->msg, s);
    return ok;
}

/* Run the suite of cases (ended by a {NULL, NULL} entry) in the given CUnit
 * basic mode. 0 when every test passed, 1 on any failure, including a suite
 * init or cleanup that failed or a registry that could not be set up. */
static inline int test_main(const char *suite, CU_InitializeFunc init, CU_CleanupFunc clean,
                            const test_case *cases, CU_BasicRunMode mode)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite(suite, init, clean);
    int ok = s != NULL;
    for (const test_case *c = cases; ok && c->name; c++)
        ok = CU_add_test(s, c->name, c->fn) != NULL;
    if (!ok) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(mode);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
                      CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}

#endif

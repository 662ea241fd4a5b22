/* check.h — the tiny test framework. Each tests/test_*.c is its own program;
 * CHECK records a failure and carries on, TEST_END prints the tally that
 * tests/run.sh sums into "N passed, N failed". */
#ifndef SLM_TESTS_CHECK_H
#define SLM_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            check_passed++;                                                     \
        } else {                                                                \
            check_failed++;                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* Where tests/data lives: the SLM_TEST_DATA environment variable or "tests/data". */
static inline const char *test_data_dir(void) {
    const char *d = getenv("SLM_TEST_DATA");
    return d ? d : "tests/data";
}

static inline const char *test_path(char *buf, size_t cap, const char *rel) {
    snprintf(buf, cap, "%s/%s", test_data_dir(), rel);
    return buf;
}

#define TEST_END()                                                              \
    do {                                                                        \
        printf("RESULT %d passed, %d failed\n", check_passed, check_failed);    \
        return check_failed ? 1 : 0;                                            \
    } while (0)

#endif

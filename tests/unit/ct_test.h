/*
 * A minimal unit-test harness: CHECK records a failure and goes on, the
 * test's main returns ct_test_report(), which prints "N passed, N failed".
 */
#ifndef CT_TEST_H
#define CT_TEST_H

#include <stdio.h>
#include <string.h>

static int ct_test_passed, ct_test_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            ct_test_passed++;                                                                      \
        } else {                                                                                   \
            ct_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ == vb_) {                                                                          \
            ct_test_passed++;                                                                      \
        } else {                                                                                   \
            ct_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b,  \
                    va_, vb_);                                                                     \
        }                                                                                          \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                            \
    do {                                                                                           \
        const char *h_ = (hay);                                                                    \
        if (h_ && strstr(h_, (needle))) {                                                          \
            ct_test_passed++;                                                                      \
        } else {                                                                                   \
            ct_test_failed++;                                                                      \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,         \
                    h_ ? h_ : "(null)", (needle));                                                 \
        }                                                                                          \
    } while (0)

static inline int ct_test_report(void)
{
    printf("%d passed, %d failed\n", ct_test_passed, ct_test_failed);
    return ct_test_failed ? 1 : 0;
}

#endif

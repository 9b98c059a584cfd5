/*
 * test_core_text.c: the UTF-8 sanitizer and its companions (pm/text.h),
 * driven with the malformed sequences of the Unicode conformance cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pm/text.h"

#define FFFD "\xef\xbf\xbd"

/* Sanitize `in` (length `len`) with room `cap` and compare with `want`. */
static void expect_sanitized(const char *in, size_t len, size_t cap, const char *want, bool want_changed)
{
    char out[256];
    bool changed = !want_changed;
    assert_true(cap <= sizeof(out));
    memset(out, 'X', sizeof(out));
    size_t n = pm_text_sanitize(in, len, out, cap, &changed);
    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);
    assert_int_equal(changed, want_changed);
    assert_true(pm_text_is_clean(out, n));
}

#define S(lit) lit, sizeof(lit) - 1

static void test_clean_text_is_copied(void **state)
{
    expect_sanitized(S("hello world"), 64, "hello world", false);
    expect_sanitized(S(""), 64, "", false);
    expect_sanitized(S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), 64, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                     false);
    expect_sanitized(S("\xef\xbf\xbf\xf4\x8f\xbf\xbf"), 64, "\xef\xbf\xbf\xf4\x8f\xbf\xbf", false);
}

static void test_controls(void **state)
{
    expect_sanitized(S("a\tb"), 64, "a b", true);
    expect_sanitized(S("a\r\nb\x1b[31m"), 64, "ab[31m", true);
    expect_sanitized(S("a\x7f" "b"), 64, "ab", true);
    expect_sanitized(S("a\0b"), 64, "ab", true);
    /* C1 controls are valid UTF-8 and not C0: kept, as documented. */
    expect_sanitized(S("\xc2\x85"), 64, "\xc2\x85", false);
}

static void test_invalid_bytes_each_replaced(void **state)
{
    expect_sanitized(S("\xff"), 64, FFFD, true);
    expect_sanitized(S("a\x80" "b"), 64, "a" FFFD "b", true);
    expect_sanitized(S("\xc3"), 64, FFFD, true);              /* truncated 2-byte */
    expect_sanitized(S("\xe2\x82" "A"), 64, FFFD FFFD "A", true); /* truncated 3-byte */
    expect_sanitized(S("\xc0\xaf"), 64, FFFD FFFD, true);     /* overlong '/' */
    expect_sanitized(S("\xe0\x80\xaf"), 64, FFFD FFFD FFFD, true);
    expect_sanitized(S("\xf0\x80\x80\xaf"), 64, FFFD FFFD FFFD FFFD, true);
    expect_sanitized(S("\xed\xa0\x80"), 64, FFFD FFFD FFFD, true); /* surrogate U+D800 */
    expect_sanitized(S("\xf4\x90\x80\x80"), 64, FFFD FFFD FFFD FFFD, true); /* > U+10FFFF */
    expect_sanitized(S("\xf5\x80\x80\x80"), 64, FFFD FFFD FFFD FFFD, true);
    expect_sanitized(S("\xfe\xfe\xff\xff"), 64, FFFD FFFD FFFD FFFD, true);
}

static void test_truncation_at_char_boundary(void **state)
{
    expect_sanitized(S("abcdef"), 4, "abc", true);
    expect_sanitized(S("ab\xc3\xa9"), 4, "ab", true);       /* é would need 2 of 1 left */
    expect_sanitized(S("a\xf0\x9f\x98\x80"), 5, "a", true); /* 4-byte char, 3 left */
    expect_sanitized(S("a\xf0\x9f\x98\x80"), 6, "a\xf0\x9f\x98\x80", false);
    expect_sanitized(S("ab\xff"), 5, "ab", true);           /* FFFD needs 3 */
    expect_sanitized(S("abc"), 4, "abc", false);            /* exact fit is no change */
}

static void test_output_never_overruns(void **state)
{
    char in[64], out[40];
    uint64_t x = 1;
    for (int round = 0; round < 20000; round++) {
        for (size_t i = 0; i < sizeof(in); i++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
            in[i] = (char)(x >> 56);
        }
        size_t cap = 4 + (size_t)round % 30;
        memset(out, 'Z', sizeof(out));
        size_t n = pm_text_sanitize(in, sizeof(in), out, cap, NULL);
        assert_true(n < cap);
        assert_int_equal(out[n], '\0');
        for (size_t i = cap; i < sizeof(out); i++)
            assert_int_equal(out[i], 'Z');
        assert_true(pm_text_is_clean(out, n));
    }
}

/* Every byte value at every position of a printable run: the word-at-a-time
 * fast path must agree with the byte-wise rules. */
static void test_each_byte_in_a_run(void **state)
{
    char in[24], out[64], want[64];
    for (int b = 0; b < 256; b++) {
        for (size_t at = 0; at < sizeof(in); at++) {
            memset(in, 'a', sizeof(in));
            in[at] = (char)b;
            size_t w = at;
            memset(want, 'a', at);
            if (b >= 0x20 && b < 0x7f) {
                want[w++] = (char)b;
            } else if (b == '\t') {
                want[w++] = ' ';
            } else if (b >= 0x80) {
                memcpy(want + w, FFFD, 3); /* a lone lead or continuation byte */
                w += 3;
            }
            memset(want + w, 'a', sizeof(in) - at - 1);
            w += sizeof(in) - at - 1;
            bool changed;
            size_t n = pm_text_sanitize(in, sizeof(in), out, sizeof(out), &changed);
            assert_int_equal(n, w);
            assert_memory_equal(out, want, w);
            assert_int_equal(changed, !(b >= 0x20 && b < 0x7f));
        }
    }
}

static void test_is_clean(void **state)
{
    assert_true(pm_text_is_clean(S("")));
    assert_true(pm_text_is_clean(S("plain \xc3\xa9")));
    assert_false(pm_text_is_clean(S("tab\there")));
    assert_false(pm_text_is_clean(S("nul\0")));
    assert_false(pm_text_is_clean(S("del\x7f")));
    assert_false(pm_text_is_clean(S("\xc3")));
    assert_false(pm_text_is_clean(S("\xed\xbf\xbf")));
    assert_false(pm_text_is_clean(S("\xc1\xbf")));
}

static void test_ieq(void **state)
{
    assert_true(pm_text_ieq(S("Content-Type"), S("content-type")));
    assert_true(pm_text_ieq(S(""), S("")));
    assert_false(pm_text_ieq(S("abc"), S("abcd")));
    assert_false(pm_text_ieq(S("abc"), S("abd")));
    /* ASCII only: '@' and '`' are not the case pair of anything. */
    assert_false(pm_text_ieq(S("@"), S("`")));
    assert_false(pm_text_ieq(S("\xc3\xa9"), S("\xc3\x89")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_text_is_copied),
        cmocka_unit_test(test_controls),
        cmocka_unit_test(test_invalid_bytes_each_replaced),
        cmocka_unit_test(test_truncation_at_char_boundary),
        cmocka_unit_test(test_output_never_overruns),
        cmocka_unit_test(test_each_byte_in_a_run),
        cmocka_unit_test(test_is_clean),
        cmocka_unit_test(test_ieq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_core_qs.c: query-string, form and Cookie parsing and URL encoding
 * (pm/qs.h), with the hostile input a tracker's click endpoint receives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pm/buf.h"
#include "pm/qs.h"
#include "pm/text.h"

#define FFFD "\xef\xbf\xbd"

static void parse(pm_qs_t *qs, const char *s) { pm_qs_parse(qs, s, strlen(s)); }

/* Every stored key and value is NUL-terminated, within caps and clean. */
static void check_invariants(const pm_qs_t *qs)
{
    assert_true(qs->count <= PM_QS_MAX_PARAMS);
    for (size_t i = 0; i < qs->count; i++) {
        const pm_qs_param_t *p = &qs->params[i];
        assert_true(p->key_len > 0 && p->key_len <= PM_QS_MAX_KEY);
        assert_true(p->value_len <= PM_QS_MAX_VALUE);
        assert_int_equal(strlen(p->key), p->key_len);
        assert_int_equal(strlen(p->value), p->value_len);
        assert_true(pm_text_is_clean(p->key, p->key_len));
        assert_true(pm_text_is_clean(p->value, p->value_len));
    }
}

static void expect_param(const pm_qs_t *qs, const char *key, const char *want)
{
    size_t len = 12345;
    const char *v = pm_qs_get(qs, key, &len);
    assert_non_null(v);
    assert_string_equal(v, want);
    assert_int_equal(len, strlen(want));
}

static void test_basic(void **state)
{
    pm_qs_t qs;
    parse(&qs, "a=1&b=x%20y&utm_source=google");
    check_invariants(&qs);
    assert_int_equal(qs.count, 3);
    expect_param(&qs, "a", "1");
    expect_param(&qs, "b", "x y");
    expect_param(&qs, "utm_source", "google");
    assert_null(pm_qs_get(&qs, "c", NULL));
    assert_null(pm_qs_get(&qs, "A", NULL)); /* case-sensitive */
    assert_int_equal(qs.dropped, 0);
    assert_int_equal(qs.truncated, 0);
    pm_qs_free(&qs);
}

static void test_decoding(void **state)
{
    pm_qs_t qs;
    parse(&qs, "p=a+b&q=%2B%2b&r=%C3%A9t%c3%A9&k%65y=v&s=%41%4a%6a");
    check_invariants(&qs);
    expect_param(&qs, "p", "a b");
    expect_param(&qs, "q", "++");
    expect_param(&qs, "r", "\xc3\xa9t\xc3\xa9");
    expect_param(&qs, "key", "v");
    expect_param(&qs, "s", "AJj");
    pm_qs_free(&qs);
}

static void test_malformed_escapes_kept(void **state)
{
    pm_qs_t qs;
    parse(&qs, "a=%zz&b=%4&c=%&d=%%41&e=100%&f=%G1&g=%4g");
    check_invariants(&qs);
    expect_param(&qs, "a", "%zz");
    expect_param(&qs, "b", "%4");
    expect_param(&qs, "c", "%");
    expect_param(&qs, "d", "%A");
    expect_param(&qs, "e", "100%");
    expect_param(&qs, "f", "%G1");
    expect_param(&qs, "g", "%4g");
    pm_qs_free(&qs);
}

static void test_shapes(void **state)
{
    pm_qs_t qs;
    parse(&qs, "&&a&=x&b=&c=d=e&&a=second&");
    check_invariants(&qs);
    assert_int_equal(qs.count, 4);
    expect_param(&qs, "a", ""); /* first wins */
    expect_param(&qs, "b", "");
    expect_param(&qs, "c", "d=e");
    assert_string_equal(qs.params[3].value, "second");
    assert_int_equal(qs.dropped, 0);
    pm_qs_free(&qs);
}

static void test_empty_input(void **state)
{
    pm_qs_t qs;
    pm_qs_parse(&qs, "", 0);
    assert_int_equal(qs.count, 0);
    assert_null(pm_qs_get(&qs, "a", NULL));
    pm_qs_free(&qs);
    pm_qs_free(&qs); /* idempotent */
    pm_qs_parse(&qs, "&&&", 3);
    assert_int_equal(qs.count, 0);
    pm_qs_free(&qs);
}

static void test_sanitized(void **state)
{
    pm_qs_t qs;
    parse(&qs, "a=%FF&b=x%00y%0Az%0D&c=tab%09here&d=%ED%A0%80&%00=gone&e=%C3");
    check_invariants(&qs);
    expect_param(&qs, "a", FFFD);
    expect_param(&qs, "b", "xyz");
    expect_param(&qs, "c", "tab here");
    expect_param(&qs, "d", FFFD FFFD FFFD);
    expect_param(&qs, "e", FFFD);
    assert_int_equal(qs.count, 5); /* "%00" is an empty key once sanitized: skipped */
    assert_int_equal(qs.dropped, 0);
    pm_qs_free(&qs);
}

static void test_param_cap(void **state)
{
    char s[1024];
    size_t n = 0;
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(s + n, sizeof(s) - n, "k%d=%d&", i, i);
    pm_qs_t qs;
    pm_qs_parse(&qs, s, n);
    check_invariants(&qs);
    assert_int_equal(qs.count, 64);
    assert_int_equal(qs.dropped, 1);
    expect_param(&qs, "k63", "63");
    assert_null(pm_qs_get(&qs, "k64", NULL));
    pm_qs_free(&qs);
}

static void test_key_cap(void **state)
{
    char s[256];
    memset(s, 'k', 64);
    memcpy(s + 64, "=1&", 3);
    memset(s + 67, 'q', 65);
    memcpy(s + 132, "=2&z=3", 7);
    pm_qs_t qs;
    parse(&qs, s);
    check_invariants(&qs);
    assert_int_equal(qs.count, 2);
    assert_int_equal(qs.params[0].key_len, 64);
    assert_int_equal(qs.dropped, 1);
    expect_param(&qs, "z", "3");
    pm_qs_free(&qs);
    /* 22 invalid bytes decode to 22 but sanitize to 66: still oversize. */
    char t[128] = "";
    for (int i = 0; i < 22; i++)
        strcat(t, "%FF");
    strcat(t, "=1");
    parse(&qs, t);
    assert_int_equal(qs.count, 0);
    assert_int_equal(qs.dropped, 1);
    pm_qs_free(&qs);
}

static void test_value_cap(void **state)
{
    static char s[8192];
    pm_qs_t qs;
    memcpy(s, "v=", 2);
    memset(s + 2, 'x', PM_QS_MAX_VALUE);
    pm_qs_parse(&qs, s, 2 + PM_QS_MAX_VALUE);
    assert_int_equal(qs.params[0].value_len, PM_QS_MAX_VALUE);
    assert_int_equal(qs.truncated, 0);
    pm_qs_free(&qs);
    memcpy(s + 2 + PM_QS_MAX_VALUE - 1, "%C3%A9", 6); /* é across the cap */
    pm_qs_parse(&qs, s, 2 + PM_QS_MAX_VALUE - 1 + 6);
    check_invariants(&qs);
    assert_int_equal(qs.params[0].value_len, PM_QS_MAX_VALUE - 1);
    assert_int_equal(qs.truncated, 1);
    pm_qs_free(&qs);
}

static void test_expanding_values_fit(void **state)
{
    /* 1000 invalid bytes become 3000 bytes of U+FFFD: cut at 682 chars. */
    static char s[4096];
    strcpy(s, "v=");
    for (int i = 0; i < 1000; i++)
        strcat(s, "%FF");
    strcat(s, "&w=ok");
    pm_qs_t qs;
    parse(&qs, s);
    check_invariants(&qs);
    assert_int_equal(qs.params[0].value_len, 682 * 3);
    assert_int_equal(qs.truncated, 1);
    expect_param(&qs, "w", "ok");
    pm_qs_free(&qs);
}

static void test_huge_inputs(void **state)
{
    size_t n = 1 << 20;
    char *s = pm_malloc(n);
    pm_qs_t qs;
    for (size_t i = 0; i < n; i += 4)
        memcpy(s + i, "a=1&", 4);
    pm_qs_parse(&qs, s, n);
    assert_int_equal(qs.count, 64);
    assert_int_equal(qs.dropped, n / 4 - 64);
    pm_qs_free(&qs);
    memset(s, 'x', n);
    memcpy(s, "v=", 2);
    pm_qs_parse(&qs, s, n);
    check_invariants(&qs);
    assert_int_equal(qs.params[0].value_len, PM_QS_MAX_VALUE);
    assert_int_equal(qs.truncated, 1);
    pm_qs_free(&qs);
    /* A huge key is dropped whole. */
    pm_qs_parse(&qs, s + 2, n - 2);
    assert_int_equal(qs.count, 0);
    assert_int_equal(qs.dropped, 1);
    pm_qs_free(&qs);
    pm_free(s);
}

static void test_control_flood(void **state)
{
    /* Mostly droppable bytes: bounded work, counted as truncated. */
    size_t n = 3 * 20000 + 3;
    char *s = pm_malloc(n);
    memcpy(s, "v=", 2);
    for (size_t i = 2; i + 3 <= n; i += 3)
        memcpy(s + i, "%01", 3);
    s[n - 1] = 'x';
    pm_qs_t qs;
    pm_qs_parse(&qs, s, n);
    check_invariants(&qs);
    assert_int_equal(qs.count, 1);
    assert_int_equal(qs.truncated, 1);
    pm_qs_free(&qs);
    pm_free(s);
}

static void test_cookies(void **state)
{
    pm_qs_t qs;
    const char *h = " sid = abc%41+ ;pm_vid=\"01ARYZ\";;flag; =nokey; q=\"; e=";
    pm_qs_parse_cookies(&qs, h, strlen(h));
    check_invariants(&qs);
    expect_param(&qs, "sid", "abc%41+"); /* no decoding, no '+' rule */
    expect_param(&qs, "pm_vid", "01ARYZ");
    expect_param(&qs, "flag", "");
    expect_param(&qs, "q", "\"");
    expect_param(&qs, "e", "");
    assert_int_equal(qs.count, 5);
    pm_qs_free(&qs);
}

static void test_cookies_hostile(void **state)
{
    pm_qs_t qs;
    const char h[] = "a=\x01\x02x\xff; b=\t\"v\"\t; c=\"\"";
    pm_qs_parse_cookies(&qs, h, sizeof(h) - 1);
    check_invariants(&qs);
    expect_param(&qs, "a", "x" FFFD);
    expect_param(&qs, "b", "v");
    expect_param(&qs, "c", "");
    pm_qs_free(&qs);
    char many[2048];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "c%d=%d; ", i, i);
    pm_qs_parse_cookies(&qs, many, n);
    assert_int_equal(qs.count, 64);
    assert_int_equal(qs.dropped, 36);
    pm_qs_free(&qs);
}

static void test_url_encode(void **state)
{
    pm_buf_t b;
    pm_buf_init(&b, 1024);
    const char in[] = "a b&c=d/\xc3\xa9~-._Z9\x00!";
    assert_int_equal(pm_url_encode(&b, in, sizeof(in) - 1), PM_OK);
    assert_string_equal(pm_buf_str(&b), "a%20b%26c%3Dd%2F%C3%A9~-._Z9%00%21");
    assert_int_equal(pm_url_encode(&b, "", 0), PM_OK);
    pm_buf_free(&b);
}

static void test_url_encode_long_and_capped(void **state)
{
    char in[1000];
    pm_buf_t b;
    memset(in, '/', sizeof(in));
    pm_buf_init(&b, 3000);
    assert_int_equal(pm_url_encode(&b, in, sizeof(in)), PM_OK);
    assert_int_equal(b.len, 3000);
    assert_int_equal(strspn(pm_buf_str(&b), "%2F"), 3000);
    assert_int_equal(pm_url_encode(&b, "a", 1), PM_ETOOBIG);
    assert_int_equal(b.len, 3000);
    pm_buf_free(&b);
    pm_buf_init(&b, 10);
    assert_int_equal(pm_buf_appends(&b, "abcdefgh"), PM_OK);
    assert_int_equal(pm_url_encode(&b, "/", 1), PM_ETOOBIG); /* whole or nothing */
    assert_string_equal(pm_buf_str(&b), "abcdefgh");
    assert_int_equal(pm_url_encode(&b, "ab", 2), PM_OK);
    assert_string_equal(pm_buf_str(&b), "abcdefghab");
    pm_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_decoding),
        cmocka_unit_test(test_malformed_escapes_kept),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_sanitized),
        cmocka_unit_test(test_param_cap),
        cmocka_unit_test(test_key_cap),
        cmocka_unit_test(test_value_cap),
        cmocka_unit_test(test_expanding_values_fit),
        cmocka_unit_test(test_huge_inputs),
        cmocka_unit_test(test_control_flood),
        cmocka_unit_test(test_cookies),
        cmocka_unit_test(test_cookies_hostile),
        cmocka_unit_test(test_url_encode),
        cmocka_unit_test(test_url_encode_long_and_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

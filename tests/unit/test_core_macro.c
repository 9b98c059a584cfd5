/*
 * test_core_macro.c: URL template expansion (pm/macro.h): known macros
 * replaced and encoded, unknown ones and broken braces kept verbatim.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pm/macro.h"

typedef struct lookup_s {
    int calls;
} lookup_t;

static bool resolve(void *ctx, const char *name, size_t len, const char **value, size_t *value_len)
{
    static const struct {
        const char *name, *value;
    } known[] = {
        {"clickid", "01ARYZ6S41TSV4RRFFQ69G5FAV"},
        {"sub1", "a b&c=d"},
        {"payout", "12.50"},
        {"empty", ""},
        {"utf8", "caf\xc3\xa9"},
        {"brace", "{clickid}"},
        {"long_name_of_exactly_32_chars_xx", "L"},
    };
    ((lookup_t *)ctx)->calls++;
    if (len == 4 && memcmp(name, "null", 4) == 0) {
        *value = NULL; /* known, absent */
        *value_len = 0;
        return true;
    }
    for (size_t i = 0; i < PM_ARRAY_LEN(known); i++) {
        if (strlen(known[i].name) == len && memcmp(known[i].name, name, len) == 0) {
            *value = known[i].value;
            *value_len = strlen(known[i].value);
            return true;
        }
    }
    return false;
}

static void expect_expansion(const char *tpl, bool encode, const char *want)
{
    pm_buf_t b;
    lookup_t ctx = {0};
    pm_buf_init(&b, 4096);
    assert_int_equal(pm_macro_expand(&b, tpl, strlen(tpl), resolve, &ctx, encode), PM_OK);
    assert_string_equal(pm_buf_str(&b), want);
    assert_int_equal(b.len, strlen(want));
    pm_buf_free(&b);
}

static void test_known_macros(void **state)
{
    expect_expansion("https://offer.example/?cid={clickid}&p={payout}", true,
                     "https://offer.example/?cid=01ARYZ6S41TSV4RRFFQ69G5FAV&p=12.50");
    expect_expansion("{clickid}", true, "01ARYZ6S41TSV4RRFFQ69G5FAV");
    expect_expansion("{clickid}{payout}", true, "01ARYZ6S41TSV4RRFFQ69G5FAV12.50");
}

static void test_encoding(void **state)
{
    expect_expansion("s1={sub1}&u={utf8}", true, "s1=a%20b%26c%3Dd&u=caf%C3%A9");
    expect_expansion("s1={sub1}&u={utf8}", false, "s1=a b&c=d&u=caf\xc3\xa9");
    /* A value is never re-expanded, even if it looks like a macro. */
    expect_expansion("x={brace}", false, "x={clickid}");
    expect_expansion("x={brace}", true, "x=%7Bclickid%7D");
}

static void test_empty_values(void **state)
{
    expect_expansion("a={empty}&b={null}&c=1", true, "a=&b=&c=1");
}

static void test_unknown_left_verbatim(void **state)
{
    expect_expansion("n={aff_sub}&c={clickid}", true, "n={aff_sub}&c=01ARYZ6S41TSV4RRFFQ69G5FAV");
    expect_expansion("{CLICKID}", true, "{CLICKID}"); /* names are case-sensitive */
}

static void test_not_macros(void **state)
{
    expect_expansion("", true, "");
    expect_expansion("plain text", true, "plain text");
    expect_expansion("{", true, "{");
    expect_expansion("}", true, "}");
    expect_expansion("{}", true, "{}");
    expect_expansion("a{clickid", true, "a{clickid");         /* unterminated */
    expect_expansion("{click id}", true, "{click id}");       /* bad character */
    expect_expansion("{click-id}", true, "{click-id}");
    expect_expansion("{{clickid}}", true, "{01ARYZ6S41TSV4RRFFQ69G5FAV}");
    expect_expansion("{sub1{clickid}", true, "{sub101ARYZ6S41TSV4RRFFQ69G5FAV");
    expect_expansion("json={\"a\":1}", true, "json={\"a\":1}");
    expect_expansion("{clickid}{", true, "01ARYZ6S41TSV4RRFFQ69G5FAV{");
}

static void test_name_length(void **state)
{
    expect_expansion("{long_name_of_exactly_32_chars_xx}", true, "L");
    expect_expansion("{long_name_of_exactly_32_chars_xxy}", true, "{long_name_of_exactly_32_chars_xxy}");
}

static void test_embedded_nul(void **state)
{
    pm_buf_t b;
    lookup_t ctx = {0};
    const char tpl[] = "a\0{clickid}";
    pm_buf_init(&b, 100);
    assert_int_equal(pm_macro_expand(&b, tpl, sizeof(tpl) - 1, resolve, &ctx, true), PM_OK);
    assert_int_equal(b.len, 2 + 26);
    assert_memory_equal(b.data, "a\0" "01ARYZ6S41TSV4RRFFQ69G5FAV", b.len);
    pm_buf_free(&b);
}

static void test_output_cap(void **state)
{
    pm_buf_t b;
    lookup_t ctx = {0};
    pm_buf_init(&b, 30);
    assert_int_equal(pm_macro_expand(&b, "cid={clickid}", 13, resolve, &ctx, true), PM_OK);
    pm_buf_reset(&b);
    assert_int_equal(pm_macro_expand(&b, "cid={clickid}x", 14, resolve, &ctx, true), PM_ETOOBIG);
    assert_true(b.len <= 30);
    pm_buf_reset(&b);
    assert_int_equal(pm_macro_expand(&b, "0123456789012345678901234567890", 31, resolve, &ctx, true),
                     PM_ETOOBIG);
    pm_buf_free(&b);
}

static void test_resolver_called_only_for_macros(void **state)
{
    pm_buf_t b;
    lookup_t ctx = {0};
    pm_buf_init(&b, 1000);
    const char *tpl = "{a}{b c}{clickid}{}{";
    assert_int_equal(pm_macro_expand(&b, tpl, strlen(tpl), resolve, &ctx, true), PM_OK);
    assert_int_equal(ctx.calls, 2);
    pm_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_macros),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_empty_values),
        cmocka_unit_test(test_unknown_left_verbatim),
        cmocka_unit_test(test_not_macros),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_output_cap),
        cmocka_unit_test(test_resolver_called_only_for_macros),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

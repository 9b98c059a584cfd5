/*
 * test_core_money.c: strict decimal parsing into micro-units, formatting,
 * currency codes and checked arithmetic (pm/money.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pm/money.h"

static void expect_amount(const char *s, bool neg, int64_t want)
{
    int64_t v = -42;
    const char *why = NULL;
    assert_int_equal(pm_money_parse(s, strlen(s), neg, &v, &why), PM_OK);
    assert_int_equal(v, want);
}

static void expect_reject(const char *s, bool neg, int rc)
{
    int64_t v = -42;
    const char *why = NULL;
    assert_int_equal(pm_money_parse(s, strlen(s), neg, &v, &why), rc);
    assert_non_null(why);
    assert_int_equal(v, -42);
}

static void test_parse_plain_decimals(void **state)
{
    expect_amount("12.50", false, 12500000);
    expect_amount("0.4", false, 400000);
    expect_amount("3", false, 3000000);
    expect_amount("0", false, 0);
    expect_amount("1.234567", false, 1234567);
    expect_amount("0.000001", false, 1);
    expect_amount("007.10", false, 7100000);
    expect_amount("1.000000", false, 1000000);
}

static void test_parse_negatives(void **state)
{
    expect_amount("-0.5", true, -500000);
    expect_amount("-3", true, -3000000);
    expect_amount("-0", true, 0);
    expect_reject("-0.5", false, PM_EINVAL);
    expect_reject("-", true, PM_EINVAL);
    expect_reject("--1", true, PM_EINVAL);
    expect_reject("-.5", true, PM_EINVAL);
}

static void test_parse_rejects_malformed(void **state)
{
    const char *bad[] = {"",     ".",     "1.",  ".5",   "1e3",  "1E3",  " 1",     "1 ",
                         "+1",   "1,000", "1.2.3", "0x10", "abc",  "1..2", "١",      "NaN",
                         "inf",  "12.5$", "$12",  "1_000", "1.-5", "1.+5", "1.2 ",   "\t1"};
    for (size_t i = 0; i < PM_ARRAY_LEN(bad); i++)
        expect_reject(bad[i], true, PM_EINVAL);
}

static void test_parse_reason(void **state)
{
    int64_t v;
    const char *why = NULL;
    assert_int_equal(pm_money_parse("1.2345678", 9, false, &v, &why), PM_EINVAL);
    assert_string_equal(why, "more than 6 decimal places");
    assert_int_equal(pm_money_parse("1.2345678", 9, false, &v, NULL), PM_EINVAL); /* why optional */
}

static void test_parse_embedded_nul_and_length(void **state)
{
    int64_t v = -42;
    assert_int_equal(pm_money_parse("1\0" "5", 3, false, &v, NULL), PM_EINVAL);
    /* Only `len` bytes count: the rest of the C string is not read. */
    assert_int_equal(pm_money_parse("12.50junk", 5, false, &v, NULL), PM_OK);
    assert_int_equal(v, 12500000);
}

static void test_parse_limits(void **state)
{
    expect_amount("9223372036854.775807", false, INT64_MAX);
    expect_amount("-9223372036854.775808", true, INT64_MIN);
    expect_reject("9223372036854.775808", false, PM_ERANGE);
    expect_reject("-9223372036854.775809", true, PM_ERANGE);
    expect_reject("9223372036855", false, PM_ERANGE);
    expect_reject("99999999999999999999999999999", false, PM_ERANGE);
    expect_amount("000000000000000000000000000001", false, 1000000);
}

static void expect_format(int64_t micros, const char *want)
{
    char out[PM_MONEY_STR_MAX];
    assert_int_equal(pm_money_format(micros, out), strlen(want));
    assert_string_equal(out, want);
}

static void test_format(void **state)
{
    expect_format(12500000, "12.50");
    expect_format(1234567, "1.234567");
    expect_format(-400000, "-0.40");
    expect_format(0, "0.00");
    expect_format(1, "0.000001");
    expect_format(-1, "-0.000001");
    expect_format(1230000, "1.23");
    expect_format(1234000, "1.234");
    expect_format(100000000, "100.00");
    expect_format(INT64_MAX, "9223372036854.775807");
    expect_format(INT64_MIN, "-9223372036854.775808");
}

static void test_format_parse_round_trip(void **state)
{
    char out[PM_MONEY_STR_MAX];
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t v = (int64_t)x >> (i % 60), back;
        size_t n = pm_money_format(v, out);
        assert_int_equal(pm_money_parse(out, n, true, &back, NULL), PM_OK);
        assert_int_equal(back, v);
    }
}

static void test_currency(void **state)
{
    pm_currency_t c;
    assert_int_equal(pm_currency_parse("USD", 3, &c), PM_OK);
    assert_string_equal(c.code, "USD");
    assert_int_equal(pm_currency_parse("eur", 3, &c), PM_OK);
    assert_string_equal(c.code, "EUR");
    assert_int_equal(pm_currency_parse("AED", 3, &c), PM_OK); /* first of the table */
    assert_int_equal(pm_currency_parse("ZWG", 3, &c), PM_OK); /* last-but-one */
    assert_int_equal(pm_currency_parse("ZWL", 3, &c), PM_OK); /* last */
    assert_int_equal(pm_currency_parse("XCG", 3, &c), PM_OK);
    memcpy(c.code, "GBP", 4);
    const char *bad[] = {"", "US", "USDX", "ZZZ", "AAA", "US1", "U D", "XXX", "XAU", "XTS", "HRK",
                         "\xc3\x9cSD", "us\0"};
    for (size_t i = 0; i < PM_ARRAY_LEN(bad); i++)
        assert_int_equal(pm_currency_parse(bad[i], i == PM_ARRAY_LEN(bad) - 1 ? 3 : strlen(bad[i]), &c),
                         PM_EINVAL);
    assert_string_equal(c.code, "GBP"); /* untouched on failure */
}

/* Every code of the table, and nothing else among all 17,576 letter
 * triples: a mis-sorted table would make bsearch miss some. */
static const char all_codes[] =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD "
    "BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU "
    "CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB "
    "EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD "
    "HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY "
    "KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR "
    "LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR "
    "MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD "
    "OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB "
    "RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD "
    "SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD "
    "TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES "
    "VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG "
    "ZWL ";

static void test_currency_table_exact(void **state)
{
    char code[4] = {0};
    size_t accepted = 0;
    pm_currency_t c;
    for (code[0] = 'A'; code[0] <= 'Z'; code[0]++)
        for (code[1] = 'A'; code[1] <= 'Z'; code[1]++)
            for (code[2] = 'A'; code[2] <= 'Z'; code[2]++) {
                bool listed = strstr(all_codes, code) != NULL; /* codes are space-separated */
                bool ok = pm_currency_parse(code, 3, &c) == PM_OK;
                assert_int_equal(ok, listed);
                accepted += ok;
            }
    assert_int_equal(accepted, 169);
}

static void test_add(void **state)
{
    int64_t out = 7;
    assert_int_equal(pm_money_add(1500000, 2500000, &out), PM_OK);
    assert_int_equal(out, 4000000);
    assert_int_equal(pm_money_add(-1, 1, &out), PM_OK);
    assert_int_equal(out, 0);
    out = 7;
    assert_int_equal(pm_money_add(INT64_MAX, 1, &out), PM_ERANGE);
    assert_int_equal(pm_money_add(INT64_MIN, -1, &out), PM_ERANGE);
    assert_int_equal(out, 7);
    assert_int_equal(pm_money_add(INT64_MAX, INT64_MIN, &out), PM_OK);
    assert_int_equal(out, -1);
}

static void expect_muldiv(int64_t m, int64_t num, int64_t den, int64_t want)
{
    int64_t out = 0;
    assert_int_equal(pm_money_muldiv(m, num, den, &out), PM_OK);
    assert_int_equal(out, want);
}

static void test_muldiv_rounding(void **state)
{
    expect_muldiv(10, 1, 4, 3);    /* 2.5 -> 3 */
    expect_muldiv(-10, 1, 4, -3);  /* -2.5 -> -3: away from zero */
    expect_muldiv(10, -1, 4, -3);
    expect_muldiv(10, 1, -4, -3);
    expect_muldiv(-10, -1, 4, 3);
    expect_muldiv(9, 1, 4, 2);     /* 2.25 -> 2 */
    expect_muldiv(11, 1, 4, 3);    /* 2.75 -> 3 */
    expect_muldiv(-9, 1, 4, -2);
    expect_muldiv(5, 1, 3, 2);     /* 1.67 -> 2 */
    expect_muldiv(0, 123, 7, 0);
    expect_muldiv(2500000, 1, 1000, 2500); /* CPM: $2.50 per mille */
    expect_muldiv(1000001, 1, 2, 500001);  /* 500000.5 -> 500001 */
    expect_muldiv(-1000001, 1, 2, -500001);
}

static void test_muldiv_wide(void **state)
{
    /* micros * num overflows 64 bits; the 128-bit product does not. */
    int64_t big = (INT64_C(1) << 62) - 1;
    expect_muldiv(big, INT32_MAX, INT32_MAX, big);
    expect_muldiv(big, 3, 4, (int64_t)(((__int128)big * 3 + 2) / 4));
    expect_muldiv(INT64_MIN, 1, 1, INT64_MIN);
    expect_muldiv(INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX);
    int64_t out = 7;
    assert_int_equal(pm_money_muldiv(big, 4, 1, &out), PM_ERANGE);
    assert_int_equal(pm_money_muldiv(INT64_MIN, -1, 1, &out), PM_ERANGE);
    assert_int_equal(pm_money_muldiv(1, 1, 0, &out), PM_EINVAL);
    assert_int_equal(out, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_plain_decimals),
        cmocka_unit_test(test_parse_negatives),
        cmocka_unit_test(test_parse_rejects_malformed),
        cmocka_unit_test(test_parse_reason),
        cmocka_unit_test(test_parse_embedded_nul_and_length),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_currency),
        cmocka_unit_test(test_currency_table_exact),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_muldiv_rounding),
        cmocka_unit_test(test_muldiv_wide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

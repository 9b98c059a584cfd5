/*
 * test_core_clock.c: calendar arithmetic, RFC 3339 formatting and the strict
 * RFC 3339 / YYYY-MM-DD parsers (pm/clock.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pm/clock.h"

static int parse(const char *s, pm_time_t *t) { return pm_time_parse_rfc3339(s, strlen(s), t); }

static void expect_time(const char *s, pm_time_t want)
{
    pm_time_t t = -42;
    assert_int_equal(parse(s, &t), PM_OK);
    assert_int_equal(t, want);
}

static void expect_bad(const char *s)
{
    pm_time_t t = -42;
    assert_int_equal(parse(s, &t), PM_EINVAL);
    assert_int_equal(t, -42);
}

static void test_days_from_civil_known_dates(void **state)
{
    assert_int_equal(pm_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(pm_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(pm_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(pm_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(pm_days_from_civil(9999, 12, 31), 2932896);
    assert_int_equal(pm_days_from_civil(0, 1, 1), -719528);
}

static void test_civil_round_trip(void **state)
{
    int y, m, d;
    for (int64_t days = -800000; days < 3000000; days += 7) {
        pm_civil_from_days(days, &y, &m, &d);
        assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
        assert_int_equal(pm_days_from_civil(y, m, d), days);
    }
    pm_civil_from_days(pm_days_from_civil(2024, 2, 29), &y, &m, &d);
    assert_int_equal(y * 10000 + m * 100 + d, 20240229);
}

static void test_format(void **state)
{
    char out[PM_RFC3339_MAX];
    assert_int_equal(pm_time_format(0, out), 27);
    assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
    pm_time_format(1795458600123456, out);
    assert_string_equal(out, "2026-11-23T18:30:00.123456Z");
    pm_time_format(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
    pm_time_format(1709251199000000, out);
    assert_string_equal(out, "2024-02-29T23:59:59.000000Z");
}

static void test_format_extreme_years_stay_in_buffer(void **state)
{
    char out[PM_RFC3339_MAX];
    size_t n = pm_time_format(INT64_MAX, out);
    assert_true(n < PM_RFC3339_MAX && strlen(out) == n);
    n = pm_time_format(INT64_MIN, out);
    assert_true(n < PM_RFC3339_MAX && strlen(out) == n);
    assert_int_equal(out[0], '-');
}

static void test_parse_utc_and_fraction(void **state)
{
    expect_time("2026-11-23T18:30:00Z", 1795458600000000);
    expect_time("2026-11-23T18:30:00.123456Z", 1795458600123456);
    expect_time("2026-11-23T18:30:00.1Z", 1795458600100000);
    expect_time("2026-11-23T18:30:00.123456789Z", 1795458600123456); /* 9 digits, truncated */
    expect_time("2026-11-23t18:30:00z", 1795458600000000);
    expect_time("1970-01-01T00:00:00Z", 0);
    expect_time("1969-12-31T23:59:59.999999Z", -1);
}

static void test_parse_offsets(void **state)
{
    expect_time("2026-11-23T18:30:00+05:30", 1795458600000000 - (5 * 3600 + 1800) * PM_USEC_PER_SEC);
    expect_time("2026-11-23T05:00:00-08:00", 1795438800000000);
    expect_time("2026-11-23T13:00:00+00:00", 1795438800000000);
    expect_time("2026-11-23T13:00:00-00:00", 1795438800000000);
    /* An offset may carry the instant into another day, month and year. */
    expect_time("2027-01-01T01:00:00+02:00", 1798758000000000);
}

static void test_parse_calendar_checks(void **state)
{
    expect_time("2024-02-29T23:59:59Z", 1709251199000000);
    expect_bad("2023-02-29T00:00:00Z");
    expect_bad("1900-02-29T00:00:00Z");
    pm_time_t t;
    assert_int_equal(parse("2000-02-29T00:00:00Z", &t), PM_OK);
    expect_bad("2026-04-31T00:00:00Z");
    expect_bad("2026-13-01T00:00:00Z");
    expect_bad("2026-00-10T00:00:00Z");
    expect_bad("2026-01-00T00:00:00Z");
    expect_bad("2026-01-32T00:00:00Z");
}

static void test_parse_clock_fields(void **state)
{
    expect_bad("2026-11-23T24:00:00Z");
    expect_bad("2026-11-23T23:60:00Z");
    expect_bad("2026-11-23T23:59:60Z"); /* leap second: Unix time has none */
    expect_bad("2026-11-23T18:30:00+24:00");
    expect_bad("2026-11-23T18:30:00+05:60");
    expect_bad("2026-11-23T18:30:00+0530");
    expect_bad("2026-11-23T18:30:00+05");
}

static void test_parse_rejects_malformed(void **state)
{
    expect_bad("");
    expect_bad("2026-11-23");
    expect_bad("2026-11-23 18:30:00Z");
    expect_bad("2026-11-23T18:30:00");
    expect_bad("2026-11-23T18:30Z");
    expect_bad("2026-11-23T18:30:00.Z");
    expect_bad("2026-11-23T18:30:00.1234567890Z"); /* 10 fraction digits */
    expect_bad("2026-11-23T18:30:00ZZ");
    expect_bad("2026-11-23T18:30:00Z ");
    expect_bad(" 2026-11-23T18:30:00Z");
    expect_bad("2026-1-23T18:30:00Z");
    expect_bad("+026-11-23T18:30:00Z");
    expect_bad("2026-11-23T1a:30:00Z");
    expect_bad("2026-11-23T18:30:00.12a4Z");
    expect_bad("2026/11/23T18:30:00Z");
}

static void test_parse_embedded_nul(void **state)
{
    static const char s[] = "2026-11-23T18:30:00\0Z";
    pm_time_t t;
    assert_int_equal(pm_time_parse_rfc3339(s, sizeof(s) - 1, &t), PM_EINVAL);
}

static void test_parse_range_is_formattable(void **state)
{
    expect_time("0000-01-01T00:00:00Z", INT64_C(-719528) * 86400 * PM_USEC_PER_SEC);
    expect_time("9999-12-31T23:59:59.999999Z", INT64_C(2932897) * 86400 * PM_USEC_PER_SEC - 1);
    expect_bad("0000-01-01T00:00:00+00:01"); /* would be year -1 in UTC */
    expect_bad("9999-12-31T23:59:59-00:01"); /* would be year 10000 */
}

static void test_format_parse_round_trip(void **state)
{
    char out[PM_RFC3339_MAX];
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pm_time_t t = (pm_time_t)(x % (UINT64_C(315537897600) * 1000000)) - INT64_C(62167219200000000);
        size_t n = pm_time_format(t, out);
        pm_time_t back;
        assert_int_equal(pm_time_parse_rfc3339(out, n, &back), PM_OK);
        assert_int_equal(back, t);
    }
}

static void test_date_parse(void **state)
{
    int y = 0, m = 0, d = 0;
    assert_int_equal(pm_date_parse("2026-11-23", 10, &y, &m, &d), PM_OK);
    assert_int_equal(y, 2026);
    assert_int_equal(m, 11);
    assert_int_equal(d, 23);
    assert_int_equal(pm_date_parse("2024-02-29", 10, &y, &m, &d), PM_OK);
    assert_int_equal(pm_date_parse("2100-02-29", 10, &y, &m, &d), PM_EINVAL);
    assert_int_equal(pm_date_parse("2026-11-23T", 11, &y, &m, &d), PM_EINVAL);
    assert_int_equal(pm_date_parse("2026-11-2", 9, &y, &m, &d), PM_EINVAL);
    assert_int_equal(pm_date_parse("2026_11_23", 10, &y, &m, &d), PM_EINVAL);
    assert_int_equal(pm_date_parse("2026-11--3", 10, &y, &m, &d), PM_EINVAL);
    assert_int_equal(pm_date_parse("", 0, &y, &m, &d), PM_EINVAL);
    assert_int_equal(pm_date_parse("2026-06-31", 10, &y, &m, &d), PM_EINVAL);
}

static void test_clocks_move(void **state)
{
    pm_time_t now = pm_now();
    assert_true(now > INT64_C(1700000000) * PM_USEC_PER_SEC); /* after Nov 2023 */
    int64_t a = pm_monotonic_us(), b = pm_monotonic_us();
    assert_true(b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_from_civil_known_dates),
        cmocka_unit_test(test_civil_round_trip),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_extreme_years_stay_in_buffer),
        cmocka_unit_test(test_parse_utc_and_fraction),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_calendar_checks),
        cmocka_unit_test(test_parse_clock_fields),
        cmocka_unit_test(test_parse_rejects_malformed),
        cmocka_unit_test(test_parse_embedded_nul),
        cmocka_unit_test(test_parse_range_is_formattable),
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_date_parse),
        cmocka_unit_test(test_clocks_move),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

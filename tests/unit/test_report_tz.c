/*
 * test_report_tz.c: time zones from the system tz database (pm/tz.h):
 * offsets either side of the Europe/Berlin changes of 2026, the POSIX
 * footer rule far past the file's last transition, half- and
 * quarter-hour zones, a 30-minute DST (Lord Howe), local midnight to UTC in
 * a normal day, a gap and a fold, name validation, and TZif files built
 * by hand (footer rules, corrupt input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pm/clock.h"
#include "pm/tz.h"

/* Seconds since the epoch of a UTC civil time. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    return pm_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static pm_tz_t *load(const char *name)
{
    pm_tz_t *tz = NULL;
    assert_int_equal(pm_tz_load(name, &tz), PM_OK);
    assert_string_equal(pm_tz_name(tz), name);
    return tz;
}

static void test_berlin_2026(void **state)
{
    pm_tz_t *tz = load("Europe/Berlin");
    int64_t spring = utc(2026, 3, 29, 1, 0), autumn = utc(2026, 10, 25, 1, 0);
    assert_int_equal(pm_tz_offset(tz, spring - 1), 3600);
    assert_int_equal(pm_tz_offset(tz, spring), 7200);
    assert_int_equal(pm_tz_offset(tz, autumn - 1), 7200);
    assert_int_equal(pm_tz_offset(tz, autumn), 3600);
    assert_int_equal(pm_tz_next_change(tz, utc(2026, 1, 1, 0, 0)), spring);
    assert_int_equal(pm_tz_next_change(tz, spring), autumn);
    /* Local midnights: the short day starts at 23:00Z, the next at 22:00Z. */
    assert_int_equal(pm_tz_local_to_utc(tz, utc(2026, 3, 29, 0, 0)), utc(2026, 3, 28, 23, 0));
    assert_int_equal(pm_tz_local_to_utc(tz, utc(2026, 3, 30, 0, 0)), utc(2026, 3, 29, 22, 0));
    /* 02:30 does not exist that night: the end of the gap. */
    assert_int_equal(pm_tz_local_to_utc(tz, utc(2026, 3, 29, 2, 30)), spring);
    /* 02:30 happens twice in October: the first. */
    assert_int_equal(pm_tz_local_to_utc(tz, utc(2026, 10, 25, 2, 30)), utc(2026, 10, 25, 0, 30));
    pm_tz_free(tz);
}

static void test_footer_rule_far_future(void **state)
{
    pm_tz_t *tz = load("Europe/Berlin");
    /* Last Sunday of March 2150 is the 29th; of October, the 25th. */
    assert_int_equal(pm_tz_offset(tz, utc(2150, 3, 29, 0, 59)), 3600);
    assert_int_equal(pm_tz_offset(tz, utc(2150, 3, 29, 1, 0)), 7200);
    assert_int_equal(pm_tz_offset(tz, utc(2150, 10, 25, 0, 59)), 7200);
    assert_int_equal(pm_tz_offset(tz, utc(2150, 10, 25, 1, 0)), 3600);
    pm_tz_free(tz);
    tz = load("America/New_York"); /* second Sunday of March, 2:00 local */
    assert_int_equal(pm_tz_offset(tz, utc(2100, 3, 14, 6, 59)), -5 * 3600);
    assert_int_equal(pm_tz_offset(tz, utc(2100, 3, 14, 7, 0)), -4 * 3600);
    pm_tz_free(tz);
}

static void test_odd_offsets(void **state)
{
    pm_tz_t *tz = load("Asia/Kolkata");
    assert_int_equal(pm_tz_offset(tz, utc(2026, 6, 1, 0, 0)), 19800);
    assert_int_equal(pm_tz_next_change(tz, utc(2026, 6, 1, 0, 0)), INT64_MAX);
    assert_int_equal(pm_tz_local_to_utc(tz, utc(2026, 6, 1, 0, 0)), utc(2026, 5, 31, 18, 30));
    pm_tz_free(tz);
    tz = load("Asia/Kathmandu");
    assert_int_equal(pm_tz_offset(tz, utc(2026, 6, 1, 0, 0)), 20700);
    pm_tz_free(tz);
    tz = load("Australia/Lord_Howe"); /* +10:30, +11 in (southern) summer */
    assert_int_equal(pm_tz_offset(tz, utc(2026, 7, 1, 0, 0)), 37800);
    assert_int_equal(pm_tz_offset(tz, utc(2026, 1, 1, 0, 0)), 39600);
    pm_tz_free(tz);
    tz = load("UTC");
    assert_int_equal(pm_tz_offset(tz, utc(2026, 6, 1, 0, 0)), 0);
    assert_int_equal(pm_tz_local_to_utc(tz, 12345), 12345);
    pm_tz_free(tz);
}

static void test_names(void **state)
{
    pm_tz_t *tz = NULL;
    static const char *const bad[] = {"",
                                      "/etc/localtime",
                                      "../../etc/passwd",
                                      "Europe/Ber lin",
                                      "zone.tab",
                                      "Europe/Berlin\n",
                                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < PM_ARRAY_LEN(bad); i++) {
        assert_int_equal(pm_tz_load(bad[i], &tz), PM_EINVAL);
        assert_null(tz);
    }
    assert_int_equal(pm_tz_load("Nowhere/Atlantis", &tz), PM_ENOTFOUND);
    assert_int_equal(pm_tz_load("Europe", &tz), PM_ENOTFOUND); /* a directory */
    pm_tz_free(NULL);
}

/* A v2 TZif file with one time type and a footer. */
static size_t tzif(uint8_t *out, int32_t utoff, const char *footer)
{
    size_t n = 0;
    for (int block = 0; block < 2; block++) {
        memcpy(out + n, "TZif2", 5);
        memset(out + n + 5, 0, 39);
        out[n + 39] = 1; /* typecnt */
        out[n + 43] = 4; /* charcnt */
        n += 44;
        out[n++] = (uint8_t)((uint32_t)utoff >> 24);
        out[n++] = (uint8_t)((uint32_t)utoff >> 16);
        out[n++] = (uint8_t)((uint32_t)utoff >> 8);
        out[n++] = (uint8_t)utoff;
        out[n++] = 0;
        out[n++] = 0;
        memcpy(out + n, "XYZ", 4);
        n += 4;
    }
    n += (size_t)sprintf((char *)out + n, "\n%s\n", footer);
    return n;
}

static void test_parsed_files(void **state)
{
    uint8_t buf[512];
    pm_tz_t *tz = NULL;
    size_t n = tzif(buf, 19800, "IST-5:30");
    assert_int_equal(pm_tz_parse(buf, n, &tz), PM_OK);
    assert_int_equal(pm_tz_offset(tz, 0), 19800);
    assert_int_equal(pm_tz_offset(tz, utc(2090, 1, 1, 0, 0)), 19800);
    pm_tz_free(tz);
    n = tzif(buf, -18000, "EST5EDT,M3.2.0,M11.1.0");
    assert_int_equal(pm_tz_parse(buf, n, &tz), PM_OK);
    assert_int_equal(pm_tz_offset(tz, utc(2030, 7, 1, 0, 0)), -14400);
    assert_int_equal(pm_tz_offset(tz, utc(2030, 12, 1, 0, 0)), -18000);
    pm_tz_free(tz);
    n = tzif(buf, 36000, "<+10>-10<+11>-11,M10.1.0,M4.1.0/3"); /* southern: DST over new year */
    assert_int_equal(pm_tz_parse(buf, n, &tz), PM_OK);
    assert_int_equal(pm_tz_offset(tz, utc(2030, 1, 15, 0, 0)), 39600);
    assert_int_equal(pm_tz_offset(tz, utc(2030, 7, 15, 0, 0)), 36000);
    pm_tz_free(tz);
    /* Corrupt: truncated, bad magic, bad footer. */
    n = tzif(buf, 0, "UTC0");
    assert_int_equal(pm_tz_parse(buf, 30, &tz), PM_ECORRUPT);
    assert_null(tz);
    buf[0] = 'X';
    assert_int_equal(pm_tz_parse(buf, n, &tz), PM_ECORRUPT);
    n = tzif(buf, 0, "1nonsense");
    assert_int_equal(pm_tz_parse(buf, n, &tz), PM_ECORRUPT);
    n = tzif(buf, 0, "AB-1"); /* names have 3+ letters */
    assert_int_equal(pm_tz_parse(buf, n, &tz), PM_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_berlin_2026),  cmocka_unit_test(test_footer_rule_far_future),
        cmocka_unit_test(test_odd_offsets),  cmocka_unit_test(test_names),
        cmocka_unit_test(test_parsed_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_route_geo.c: country lookups in the built-in DB-IP database and in
 * a user file (pm/geo.h). Region lookups from a GeoIP2-City-shaped file are
 * covered by tests/system/test_detect.py, which writes one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>

#include "pm/geo.h"

static pm_geo_result_t lookup(const pm_geo_t *g, const char *text, bool *found)
{
    pm_ip_t ip;
    assert_int_equal(pm_ip_parse(text, strlen(text), &ip), PM_OK);
    pm_geo_result_t r;
    *found = pm_geo_lookup(g, &ip, &r);
    return r;
}

static void test_builtin(void **state)
{
    (void)state;
    pm_geo_t *g = NULL;
    assert_int_equal(pm_geo_open(NULL, &g), PM_OK);
    assert_non_null(strstr(pm_geo_describe(g), "DB-IP"));
    bool found;
    pm_geo_result_t r = lookup(g, "8.8.8.8", &found); /* Google public DNS */
    assert_true(found);
    assert_string_equal(r.country, "US");
    assert_string_equal(r.region, "");                 /* a country database */
    r = lookup(g, "2a00:1450:4001:82b::200e", &found); /* Google, Frankfurt */
    assert_true(found);
    assert_string_equal(r.country, "DE");
    r = lookup(g, "::ffff:8.8.4.4", &found); /* v4-mapped is v4 */
    assert_true(found);
    assert_string_equal(r.country, "US");
    r = lookup(g, "193.0.6.139", &found); /* RIPE NCC, Amsterdam */
    assert_true(found);
    assert_string_equal(r.country, "NL");
    r = lookup(g, "10.1.2.3", &found); /* private */
    assert_false(found);
    assert_string_equal(r.country, "");
    r = lookup(g, "::1", &found);
    assert_false(found);
    pm_geo_close(g);
}

static void test_bad_files(void **state)
{
    (void)state;
    pm_geo_t *g = (pm_geo_t *)1;
    assert_int_equal(pm_geo_open("/nonexistent/x.mmdb", &g), PM_ENOTFOUND);
    assert_null(g);
    char path[] = "/tmp/pm-geo-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a database", 14), 14);
    close(fd);
    assert_int_equal(pm_geo_open(path, &g), PM_EINVAL);
    assert_null(g);
    unlink(path);
    pm_geo_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_builtin), cmocka_unit_test(test_bad_files)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_core_id.c: ULID-layout event ids (pm/id.h): ordering, recoverable
 * time, text round trips and the strictness of the parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pm/id.h"

#define T0 INT64_C(1795458600123456) /* 2026-11-23T18:30:00.123456Z */

static void test_time_is_recoverable(void **state)
{
    pm_idgen_t g;
    pm_idgen_init(&g);
    pm_id_t id = pm_id_next(&g, T0);
    assert_int_equal(pm_id_time(&id), T0 / 1000 * 1000);
    assert_false(pm_id_is_zero(&id));
}

static void test_monotonic_within_one_ms(void **state)
{
    pm_idgen_t g;
    pm_idgen_init(&g);
    pm_id_t prev = pm_id_next(&g, T0);
    for (int i = 0; i < 100000; i++) {
        pm_id_t id = pm_id_next(&g, T0);
        assert_true(pm_id_cmp(&prev, &id) < 0);
        prev = id;
    }
}

static void test_monotonic_when_clock_steps_back(void **state)
{
    pm_idgen_t g;
    pm_idgen_init(&g);
    pm_id_t a = pm_id_next(&g, T0);
    pm_id_t b = pm_id_next(&g, T0 - 5 * PM_USEC_PER_SEC);
    assert_true(pm_id_cmp(&a, &b) < 0);
    pm_id_t c = pm_id_next(&g, T0 + 1000);
    assert_true(pm_id_cmp(&b, &c) < 0);
    assert_int_equal(pm_id_time(&c), T0 / 1000 * 1000 + 1000);
}

static void test_later_ms_orders_after(void **state)
{
    pm_idgen_t g1, g2;
    pm_idgen_init(&g1);
    pm_idgen_init(&g2);
    for (int i = 0; i < 1000; i++) {
        pm_id_t a = pm_id_next(&g1, T0 + i * 1000);
        pm_id_t b = pm_id_next(&g2, T0 + i * 1000 + 1000);
        assert_true(pm_id_cmp(&a, &b) < 0);
    }
}

static void test_generators_differ(void **state)
{
    pm_idgen_t g1, g2;
    pm_idgen_init(&g1);
    pm_idgen_init(&g2);
    pm_id_t a = pm_id_next(&g1, T0), b = pm_id_next(&g2, T0);
    assert_int_not_equal(pm_id_cmp(&a, &b), 0);
}

static void test_increment_carries_into_time(void **state)
{
    /* A random part at its maximum must carry, not wrap: ids stay increasing. */
    pm_idgen_t g;
    pm_idgen_init(&g);
    pm_id_t a = pm_id_next(&g, T0);
    memset(g.last.b + 6, 0xff, 10);
    a = g.last;
    pm_id_t b = pm_id_next(&g, T0);
    assert_true(pm_id_cmp(&a, &b) < 0);
    assert_int_equal(pm_id_time(&b), pm_id_time(&a) + 1000);
    pm_id_t c = pm_id_next(&g, T0 + 1000); /* the same ms as b now */
    assert_true(pm_id_cmp(&b, &c) < 0);
}

static void test_format_parse_round_trip(void **state)
{
    pm_idgen_t g;
    pm_idgen_init(&g);
    char text[PM_ID_LEN + 1];
    for (int i = 0; i < 10000; i++) {
        pm_id_t id = pm_id_next(&g, T0 + i * 317), back;
        pm_id_format(&id, text);
        assert_int_equal(strlen(text), PM_ID_LEN);
        assert_int_equal(strspn(text, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"), PM_ID_LEN);
        assert_int_equal(pm_id_parse(text, PM_ID_LEN, &back), PM_OK);
        assert_memory_equal(id.b, back.b, 16);
    }
}

static void test_text_order_is_time_order(void **state)
{
    pm_idgen_t g;
    pm_idgen_init(&g);
    char a[PM_ID_LEN + 1], b[PM_ID_LEN + 1];
    pm_id_t x = pm_id_next(&g, T0), y = pm_id_next(&g, T0 + 1000);
    pm_id_format(&x, a);
    pm_id_format(&y, b);
    assert_true(strcmp(a, b) < 0);
}

static void test_known_values(void **state)
{
    pm_id_t id, zero = {{0}}, max;
    char text[PM_ID_LEN + 1];
    pm_id_format(&zero, text);
    assert_string_equal(text, "00000000000000000000000000");
    memset(max.b, 0xff, 16);
    pm_id_format(&max, text);
    assert_string_equal(text, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
    /* The ULID spec's example: time 1469918176385 ms. */
    assert_int_equal(pm_id_parse("01ARYZ6S41TSV4RRFFQ69G5FAV", PM_ID_LEN, &id), PM_OK);
    assert_int_equal(pm_id_time(&id), INT64_C(1469918176385) * 1000);
}

static void test_parse_aliases_and_case(void **state)
{
    pm_id_t a, b;
    assert_int_equal(pm_id_parse("01aryz6s41tsv4rrffq69g5fav", PM_ID_LEN, &a), PM_OK);
    assert_int_equal(pm_id_parse("01ARYZ6S41TSV4RRFFQ69G5FAV", PM_ID_LEN, &b), PM_OK);
    assert_memory_equal(a.b, b.b, 16);
    assert_int_equal(pm_id_parse("O1ARYZ6S4ITSV4RRFFQ69G5FAV", PM_ID_LEN, &a), PM_OK);
    assert_int_equal(pm_id_parse("01ARYZ6S41TSV4RRFFQ69G5FAV", PM_ID_LEN, &b), PM_OK);
    assert_memory_equal(a.b, b.b, 16);
    assert_int_equal(pm_id_parse("0lARYZ6S41TSV4RRFFQ69G5FAV", PM_ID_LEN, &a), PM_OK);
    assert_memory_equal(a.b, b.b, 16);
}

static void test_parse_rejects(void **state)
{
    pm_id_t id;
    memset(id.b, 0x5a, 16);
    assert_int_equal(pm_id_parse("", 0, &id), PM_EINVAL);
    assert_int_equal(pm_id_parse("01ARYZ6S41TSV4RRFFQ69G5FA", 25, &id), PM_EINVAL);
    assert_int_equal(pm_id_parse("01ARYZ6S41TSV4RRFFQ69G5FAVV", 27, &id), PM_EINVAL);
    assert_int_equal(pm_id_parse("01ARYZ6S41TSV4RRFFQ69G5FAU", 26, &id), PM_EINVAL); /* U */
    assert_int_equal(pm_id_parse("01ARYZ6S41TSV4RRFFQ69G5FA-", 26, &id), PM_EINVAL);
    assert_int_equal(pm_id_parse("01ARYZ6S41TSV4RRFFQ69G5FA ", 26, &id), PM_EINVAL);
    assert_int_equal(pm_id_parse("01ARYZ6S41TSV4RR\0FQ69G5FAV", 26, &id), PM_EINVAL);
    assert_int_equal(pm_id_parse("01ARYZ6S41TSV4RR\xc3\xa9Q69G5FA", 26, &id), PM_EINVAL);
    /* 130 bits of text, 128 of id: a first char past 7 overflows. */
    assert_int_equal(pm_id_parse("8ZZZZZZZZZZZZZZZZZZZZZZZZZ", 26, &id), PM_EINVAL);
    assert_int_equal(pm_id_parse("ZZZZZZZZZZZZZZZZZZZZZZZZZZ", 26, &id), PM_EINVAL);
    for (int i = 0; i < 16; i++)
        assert_int_equal(id.b[i], 0x5a); /* untouched on failure */
}

static void test_random_bytes(void **state)
{
    uint8_t a[64] = {0}, b[64] = {0}, zero[64] = {0};
    assert_int_equal(pm_random_bytes(a, sizeof(a)), PM_OK);
    assert_int_equal(pm_random_bytes(b, sizeof(b)), PM_OK);
    assert_memory_not_equal(a, zero, sizeof(a));
    assert_memory_not_equal(a, b, sizeof(a));
    static uint8_t big[1 << 20];
    assert_int_equal(pm_random_bytes(big, sizeof(big)), PM_OK); /* partial reads are retried */
    assert_int_equal(pm_random_bytes(NULL, 0), PM_OK);
}

static void test_negative_time_clamps_to_epoch(void **state)
{
    pm_idgen_t g;
    pm_idgen_init(&g);
    pm_id_t id = pm_id_next(&g, -5);
    assert_int_equal(pm_id_time(&id), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_is_recoverable),
        cmocka_unit_test(test_monotonic_within_one_ms),
        cmocka_unit_test(test_monotonic_when_clock_steps_back),
        cmocka_unit_test(test_later_ms_orders_after),
        cmocka_unit_test(test_generators_differ),
        cmocka_unit_test(test_increment_carries_into_time),
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_text_order_is_time_order),
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_parse_aliases_and_case),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_negative_time_clamps_to_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

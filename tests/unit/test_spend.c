/*
 * test_spend.c: budget and cap counters: refusal at the limit (never past
 * it), zero-cost clicks on a spent budget, day rollover (a new local day
 * starts from zero, the total does not), refunds, offer caps, local days in
 * a time zone with DST, exact totals under concurrent charges from several
 * threads, and the rebuild from the store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pm/spend.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define C(cents) ((int64_t)(cents)*10000) /* money in cents, as micro-units */

static void test_daily_budget_refuses_the_charge_past_it(void **state)
{
    pm_spend_t *s = pm_spend_create(16);
    int32_t day = 20000;
    for (int i = 0; i < 3; i++)
        assert_true(pm_spend_charge(s, 5, day, C(40), C(120), 0));
    assert_false(pm_spend_capped(s, 5, day, 0, 0, 0));
    assert_true(pm_spend_capped(s, 5, day, C(40), C(120), 0));
    assert_false(pm_spend_charge(s, 5, day, C(40), C(120), 0)); /* the 4th click */
    assert_false(pm_spend_charge(s, 5, day, 0, C(120), 0));     /* reached: even a free click */
    int64_t today, total;
    pm_spend_get(s, 5, day, &today, &total);
    assert_int_equal(today, C(120));
    assert_int_equal(total, C(120));
    /* A click that would pass the budget is refused though some is left. */
    assert_true(pm_spend_charge(s, 6, day, C(40), C(100), 0));
    assert_true(pm_spend_charge(s, 6, day, C(40), C(100), 0));
    assert_false(pm_spend_charge(s, 6, day, C(40), C(100), 0));
    assert_true(pm_spend_charge(s, 6, day, C(20), C(100), 0));
    pm_spend_get(s, 6, day, &today, &total);
    assert_int_equal(today, C(100));
    /* Unknown ids are at zero; other campaigns are untouched. */
    pm_spend_get(s, 99, day, &today, &total);
    assert_int_equal(today + total, 0);
    pm_spend_destroy(s);
}

static void test_new_day_resumes_and_total_holds(void **state)
{
    pm_spend_t *s = pm_spend_create(16);
    int32_t day = 20000;
    assert_true(pm_spend_charge(s, 5, day, C(100), C(100), C(250)));
    assert_false(pm_spend_charge(s, 5, day, C(100), C(100), C(250)));
    assert_true(pm_spend_charge(s, 5, day + 1, C(100), C(100), C(250))); /* next day */
    int64_t today, total;
    pm_spend_get(s, 5, day + 1, &today, &total);
    assert_int_equal(today, C(100));
    assert_int_equal(total, C(200));
    pm_spend_get(s, 5, day + 2, &today, &total);
    assert_int_equal(today, 0); /* read on a later day: nothing spent yet */
    /* The total budget refuses on day 3 with 0.50 left, and the refused
     * charge gives its daily reservation back. */
    assert_false(pm_spend_charge(s, 5, day + 2, C(100), C(100), C(250)));
    pm_spend_get(s, 5, day + 2, &today, &total);
    assert_int_equal(today, 0);
    assert_int_equal(total, C(200));
    assert_true(pm_spend_charge(s, 5, day + 2, C(50), C(100), C(250)));
    assert_true(pm_spend_capped(s, 5, day + 2, 0, 0, C(250)));
    /* Refund (an event that could not be journaled). */
    pm_spend_add(s, 5, day + 2, -C(50));
    pm_spend_get(s, 5, day + 2, &today, &total);
    assert_int_equal(today, 0);
    assert_int_equal(total, C(200));
    pm_spend_destroy(s);
}

static void test_offer_caps(void **state)
{
    pm_spend_t *s = pm_spend_create(16);
    assert_false(pm_spend_offer_capped(s, 7, 100, 2, 3));
    pm_spend_count_conversion(s, 7, 100);
    assert_false(pm_spend_offer_capped(s, 7, 100, 2, 3));
    pm_spend_count_conversion(s, 7, 100);
    assert_true(pm_spend_offer_capped(s, 7, 100, 2, 3));
    assert_false(pm_spend_offer_capped(s, 7, 100, 0, 0)); /* no caps */
    assert_false(pm_spend_offer_capped(s, 7, 101, 2, 3)); /* next day */
    pm_spend_count_conversion(s, 7, 101);
    assert_true(pm_spend_offer_capped(s, 7, 101, 2, 3)); /* the total cap */
    int64_t today, total;
    pm_spend_conversions(s, 7, 101, &today, &total);
    assert_int_equal(today, 1);
    assert_int_equal(total, 3);
    pm_spend_destroy(s);
}

static void test_local_days(void **state)
{
    pm_tz_t *ny = NULL;
    assert_int_equal(pm_tz_load("America/New_York", &ny), PM_OK);
    /* 2026-07-01T03:59:59Z is 23:59:59 EDT on June 30. */
    pm_time_t t = (pm_time_t)(pm_days_from_civil(2026, 7, 1) * 86400 + 3 * 3600 + 3599) * PM_USEC_PER_SEC;
    assert_int_equal(pm_spend_day(ny, t), pm_days_from_civil(2026, 6, 30));
    assert_int_equal(pm_spend_day(ny, t + PM_USEC_PER_SEC), pm_days_from_civil(2026, 7, 1));
    assert_int_equal(pm_spend_day(NULL, t), pm_days_from_civil(2026, 7, 1));
    assert_int_equal(pm_spend_day_start(ny, (int32_t)pm_days_from_civil(2026, 7, 1)), t + PM_USEC_PER_SEC);
    /* Winter: UTC-5. */
    int32_t jan = (int32_t)pm_days_from_civil(2026, 1, 15);
    assert_int_equal(pm_spend_day_start(ny, jan), ((int64_t)jan * 86400 + 5 * 3600) * PM_USEC_PER_SEC);
    assert_int_equal(pm_spend_day(NULL, -1), -1); /* floor, not truncation */
    pm_tz_free(ny);
}

/* Volume tiers: local months, places taken one by one, a new month
 * starting at 1. */
static void test_month_places(void **state)
{
    pm_tz_t *ny = NULL;
    assert_int_equal(pm_tz_load("America/New_York", &ny), PM_OK);
    /* 2026-07-01T03:59:59Z is still June 30 in New York. */
    pm_time_t t = (pm_time_t)(pm_days_from_civil(2026, 7, 1) * 86400 + 3 * 3600 + 3599) * PM_USEC_PER_SEC;
    assert_int_equal(pm_spend_month(ny, t), 2026 * 12 + 5);
    assert_int_equal(pm_spend_month(ny, t + PM_USEC_PER_SEC), 2026 * 12 + 6);
    assert_int_equal(pm_spend_month(NULL, t), 2026 * 12 + 6);
    assert_int_equal(pm_spend_month_start(ny, 2026 * 12 + 6), t + PM_USEC_PER_SEC);
    assert_int_equal(pm_spend_month_start(NULL, 2027 * 12), pm_days_from_civil(2027, 1, 1) * 86400 * PM_USEC_PER_SEC);
    pm_spend_t *s = pm_spend_create(16);
    int32_t june = 2026 * 12 + 5;
    assert_int_equal(pm_spend_take_place(s, 7, june), 1);
    assert_int_equal(pm_spend_take_place(s, 7, june), 2);
    assert_int_equal(pm_spend_take_place(s, 8, june), 1);
    assert_int_equal(pm_spend_places(s, 7, june), 2);
    assert_int_equal(pm_spend_take_place(s, 7, june + 1), 1); /* a new month */
    assert_int_equal(pm_spend_places(s, 7, june), 0);
    assert_int_equal(pm_spend_take_place(s, 0, june), 0);
    pm_spend_destroy(s);
    pm_tz_free(ny);
}

typedef struct hammer_s {
    pm_spend_t *s;
    int ok;
} hammer_t;

static void *hammer(void *arg)
{
    hammer_t *h = arg;
    for (int i = 0; i < 20000; i++)
        if (pm_spend_charge(h->s, 5, 20000, C(40), C(50000), C(70000))) h->ok++;
    return NULL;
}

/* 4 threads x 20000 charges of 0.40 against 500.00 a day: exactly 1250
 * succeed, the counter ends at the budget, never past it. */
static void test_concurrent_charges_are_exact(void **state)
{
    pm_spend_t *s = pm_spend_create(16);
    pthread_t th[4];
    hammer_t h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (hammer_t){.s = s};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &h[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += h[i].ok;
    }
    assert_int_equal(ok, 1250);
    int64_t today, total;
    pm_spend_get(s, 5, 20000, &today, &total);
    assert_int_equal(today, C(50000));
    assert_int_equal(total, C(50000));
    pm_spend_destroy(s);
}

static void test_rebuild_from_the_store(void **state)
{
    char dir[] = "/tmp/pm_spend_XXXXXX", db[64];
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/pm.db", dir);
    pm_store_t *store = NULL;
    assert_int_equal(pm_store_open(db, &store), PM_OK);
    pm_tz_t *utc = NULL;
    assert_int_equal(pm_tz_load("UTC", &utc), PM_OK);
    int32_t day = 20000;
    int64_t start = (int64_t)day * 86400 * PM_USEC_PER_SEC, y = start - 3600 * PM_USEC_PER_SEC;
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "INSERT INTO clicks(id,ts,campaign_id,cost_micros) VALUES('a',%lld,5,400000),('b',%lld,5,400000),"
             " ('c',%lld,5,400000),('d',%lld,6,0);"
             "INSERT INTO impressions(id,ts,campaign_id,cost_micros) VALUES('e',%lld,5,2000);"
             "INSERT INTO conversions(id,ts,campaign_id,offer_id,click_id,txid,status,conversion_type,method,"
             " cost_micros) VALUES('f',%lld,5,7,'a','t1','approved','sale','postback',1000000),"
             " ('g',%lld,5,7,'b','t2','rejected','sale','postback',0),"
             " ('h',%lld,5,7,'c','t3','pending','sale','postback',0);",
             (long long)y, (long long)start, (long long)(start + 1), (long long)start, (long long)start,
             (long long)start, (long long)start, (long long)y);
    assert_int_equal(pm_store_exec(store, sql), PM_OK);
    pm_spend_t *s = pm_spend_create(16);
    assert_int_equal(pm_spend_load(s, store, utc, start + 10 * PM_USEC_PER_SEC), PM_OK);
    int64_t today, total;
    pm_spend_get(s, 5, day, &today, &total);
    assert_int_equal(today, C(80) + 2000 + C(100));
    assert_int_equal(total, C(120) + 2000 + C(100));
    pm_spend_conversions(s, 7, day, &today, &total);
    assert_int_equal(today, 1); /* the rejected one does not count */
    assert_int_equal(total, 2);
    /* The month's places: approved f today, pending h an hour earlier
     * (same month); not rejected g. */
    assert_int_equal(pm_spend_places(s, 7, pm_spend_month(utc, start)), 2);
    assert_int_equal(pm_spend_take_place(s, 7, pm_spend_month(utc, start)), 3);
    pm_spend_destroy(s);
    pm_tz_free(utc);
    pm_store_close(store);
    snprintf(sql, sizeof(sql), "rm -rf %s", dir);
    assert_int_equal(system(sql), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daily_budget_refuses_the_charge_past_it),
        cmocka_unit_test(test_new_day_resumes_and_total_holds),
        cmocka_unit_test(test_offer_caps),
        cmocka_unit_test(test_local_days),
        cmocka_unit_test(test_month_places),
        cmocka_unit_test(test_concurrent_charges_are_exact),
        cmocka_unit_test(test_rebuild_from_the_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

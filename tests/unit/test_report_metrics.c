/*
 * test_report_metrics.c: every KPI function of pm/report.h on ordinary
 * counts and on the zero denominators that must give null (never NaN or
 * 0), the money rounding of the per-unit metrics, and the metric table
 * the API resolves names with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pm/report.h"

static pm_report_counts_t sample(void)
{
    pm_report_counts_t c = {0};
    c.impressions = 20000;
    c.clicks = 400;
    c.unique_clicks = 350;
    c.conversions = 12;
    c.leads = 5;
    c.pending_conversions = 3;
    c.rejected_conversions = 2;
    c.cost = 160000000;    /* 160.00 */
    c.revenue = 300000000; /* 300.00 */
    c.payout = 40000000;   /* 40.00 */
    c.pending_revenue = 75000000;
    return c;
}

static void assert_count(pm_report_value_t v, int64_t want)
{
    assert_int_equal(v.kind, PM_RV_COUNT);
    assert_int_equal(v.i, want);
}

static void assert_money(pm_report_value_t v, int64_t want)
{
    assert_int_equal(v.kind, PM_RV_MONEY);
    assert_int_equal(v.i, want);
}

static void assert_ratio(pm_report_value_t v, double want)
{
    assert_int_equal(v.kind, PM_RV_RATIO);
    assert_true(v.d == want);
}

static void expect_null_value(pm_report_value_t v)
{
    assert_int_equal(v.kind, PM_RV_NULL);
}

static void test_counts_and_money(void **state)
{
    pm_report_counts_t c = sample();
    assert_count(pm_metric_impressions(&c), 20000);
    assert_count(pm_metric_clicks(&c), 400);
    assert_count(pm_metric_unique_clicks(&c), 350);
    assert_count(pm_metric_conversions(&c), 12);
    assert_count(pm_metric_pending_conversions(&c), 3);
    assert_count(pm_metric_rejected_conversions(&c), 2);
    assert_money(pm_metric_cost(&c), 160000000);
    assert_money(pm_metric_revenue(&c), 300000000);
    assert_money(pm_metric_payout(&c), 40000000);
    assert_money(pm_metric_pending_revenue(&c), 75000000);
    assert_money(pm_metric_profit(&c), 100000000); /* 300 - 160 - 40 */
}

static void test_ratios(void **state)
{
    pm_report_counts_t c = sample();
    assert_ratio(pm_metric_ctr(&c), 400.0 / 20000.0);
    assert_ratio(pm_metric_cvr(&c), 12.0 / 400.0);
    assert_ratio(pm_metric_roi(&c), 100000000.0 / 200000000.0); /* profit / (cost + payout) */
    assert_ratio(pm_metric_roas(&c), 300.0 / 160.0);
    assert_money(pm_metric_cpm(&c), 8000000);  /* 160 / 20000 * 1000 = 8.00 */
    assert_money(pm_metric_cpc(&c), 400000);   /* 0.40 */
    assert_money(pm_metric_cpa(&c), 13333333); /* 13.333333 */
    assert_money(pm_metric_cpl(&c), 32000000); /* 32.00 */
    assert_money(pm_metric_epc(&c), 750000);   /* 0.75 */
}

static void test_zero_denominators_are_null(void **state)
{
    pm_report_counts_t z = {0};
    expect_null_value(pm_metric_ctr(&z));
    expect_null_value(pm_metric_cvr(&z));
    expect_null_value(pm_metric_cpm(&z));
    expect_null_value(pm_metric_cpc(&z));
    expect_null_value(pm_metric_cpa(&z));
    expect_null_value(pm_metric_cpl(&z));
    expect_null_value(pm_metric_epc(&z));
    expect_null_value(pm_metric_roi(&z));
    expect_null_value(pm_metric_roas(&z));
    /* Counts and sums of nothing are 0, not null. */
    assert_count(pm_metric_clicks(&z), 0);
    assert_money(pm_metric_profit(&z), 0);
    /* A denominator alone decides: revenue without cost has no ROAS, but
     * ROI exists when only payout was spent. */
    pm_report_counts_t c = {.revenue = 5000000, .payout = 1000000, .clicks = 0};
    expect_null_value(pm_metric_roas(&c));
    assert_ratio(pm_metric_roi(&c), 4.0);
    expect_null_value(pm_metric_epc(&c));
    pm_report_counts_t impressions_only = {.impressions = 10};
    assert_ratio(pm_metric_ctr(&impressions_only), 0.0);
}

static void test_money_rounding(void **state)
{
    int64_t v;
    assert_true(pm_report_muldiv(10, 1, 4, &v)); /* 2.5 -> 3 */
    assert_int_equal(v, 3);
    assert_true(pm_report_muldiv(-10, 1, 4, &v)); /* -2.5 -> -3: half away from zero */
    assert_int_equal(v, -3);
    assert_true(pm_report_muldiv(10, 1, 3, &v));
    assert_int_equal(v, 3);
    assert_true(pm_report_muldiv(INT64_MAX, 1000, 1000, &v)); /* 128-bit intermediate */
    assert_int_equal(v, INT64_MAX);
    assert_false(pm_report_muldiv(INT64_MAX, 2, 1, &v));
    assert_false(pm_report_muldiv(1, 1, 0, &v));
    /* Negative profit stays negative through the per-unit metrics. */
    pm_report_counts_t loss = {.clicks = 3, .revenue = -1000000};
    assert_money(pm_metric_epc(&loss), -333333);
    /* An overflowing profit is null rather than wrapped. */
    pm_report_counts_t huge = {.revenue = INT64_MIN + 5, .cost = 10};
    expect_null_value(pm_metric_profit(&huge));
}

static void test_metric_table(void **state)
{
    static const char *const issue_keys[] = {"impressions", "clicks",  "unique_clicks", "ctr",    "conversions", "cvr",
                                             "cost",        "revenue", "payout",        "profit", "cpm",         "cpc",
                                             "cpa",         "epc",     "roi",           "roas"};
    size_t n = 0;
    for (const pm_report_metric_t *m = pm_report_metrics; m->name; m++, n++)
        if (n < PM_ARRAY_LEN(issue_keys)) assert_string_equal(m->name, issue_keys[n]);
    /* cpl, pending and rejected, bot_clicks and _impressions, chargebacks, lander visits / clicks / CTR */
    assert_int_equal(n, PM_ARRAY_LEN(issue_keys) + 10);
    assert_ptr_equal(pm_report_metric_find("bot_impressions", 15)->fn, pm_metric_bot_impressions);
    assert_ptr_equal(pm_report_metric_find("bot_clicks", 10)->fn, pm_metric_bot_clicks);
    assert_ptr_equal(pm_report_metric_find("lander_ctr", 10)->fn, pm_metric_lander_ctr);
    pm_report_counts_t lc = {.lander_visits = 4, .lander_clicks = 1};
    assert_true(pm_metric_lander_ctr(&lc).kind == PM_RV_RATIO && pm_metric_lander_ctr(&lc).d == 0.25);
    assert_int_equal(pm_metric_lander_clicks(&lc).i, 1);
    lc.lander_visits = 0;
    assert_int_equal(pm_metric_lander_ctr(&lc).kind, PM_RV_NULL);
    assert_ptr_equal(pm_report_metric_find("chargebacks", 11)->fn, pm_metric_chargebacks);
    assert_ptr_equal(pm_report_metric_find("cpl", 3)->fn, pm_metric_cpl);
    assert_ptr_equal(pm_report_metric_find("roas", 4)->fn, pm_metric_roas);
    assert_null(pm_report_metric_find("ro", 2));
    assert_null(pm_report_metric_find("roasx", 5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_money),
        cmocka_unit_test(test_ratios),
        cmocka_unit_test(test_zero_denominators_are_null),
        cmocka_unit_test(test_money_rounding),
        cmocka_unit_test(test_metric_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

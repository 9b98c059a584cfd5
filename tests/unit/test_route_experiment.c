/*
 * test_route_experiment.c: live experiment results (pm/experiment.h) over a
 * real store holding routed clicks and conversions inserted with SQL: the
 * per-option sums for each goal, the comparison against the control being
 * exactly what pm/stats.h computes from those sums, the SRM check, clicks
 * of other flows and paths left out, and pm_experiment_show.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pm/experiment.h"
#include "pm/stats.h"

typedef struct fixture_s {
    char dir[64], path[128];
    pm_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pm_test_exp_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
    assert_int_equal(pm_store_open(f->path, &f->store), PM_OK);
    assert_int_equal(pm_store_exec(f->store, "PRAGMA synchronous=OFF"), PM_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    pm_store_close(f->store);
    for (size_t i = 0; i < 4; i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void exec(fixture_t *f, const char *sql)
{
    assert_int_equal(pm_store_exec(f->store, sql), PM_OK);
}

/* Click `id` of `visitor` routed to (flow, path, option), with `conv`
 * approved conversions of `micros` revenue each. */
static void click(fixture_t *f, int id, int visitor, int flow, const char *path, int option, int conv, int64_t micros)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO clicks(id, ts, campaign_id, visitor_id, route) VALUES('C%05d', %d, 1, 'V%05d',"
             " '{\"flow\":%d,\"by\":\"default\",\"path\":\"%s\",\"option\":%d,\"k\":\"0000000000000001\"}')",
             id, id, visitor, flow, path, option);
    exec(f, sql);
    for (int i = 0; i < conv; i++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO conversions(id, ts, click_id, txid, status, conversion_type, method, revenue_micros,"
                 " revenue_currency) VALUES('X%05d%d', %d, 'C%05d', 't%d-%d', 'approved', 'sale', 'postback', %lld,"
                 " 'USD')",
                 id, i, id, id, id, i, (long long)micros);
        exec(f, sql);
    }
}

static void fill(fixture_t *f)
{
    int id = 0;
    /* Control: 100 visitors with two clicks each, 10 converting once ($10). */
    for (int v = 0; v < 100; v++) {
        click(f, ++id, v, 1, "test", 0, v < 10, 10000000);
        click(f, ++id, v, 1, "test", 0, 0, 0);
    }
    /* Treatment: 100 visitors, one click each, 20 converting ($5), one twice. */
    for (int v = 100; v < 200; v++)
        click(f, ++id, v, 1, "test", 1, v < 120 ? (v == 100 ? 2 : 1) : 0, 5000000);
    /* Noise: another path, another flow, a pending conversion. */
    click(f, ++id, 500, 1, "other", 0, 1, 1000000);
    click(f, ++id, 501, 2, "test", 1, 1, 1000000);
    exec(f, "INSERT INTO conversions(id, ts, click_id, txid, status, conversion_type, method, revenue_micros)"
            " VALUES('P1', 1, 'C00001', 'p', 'pending', 'sale', 'postback', 99000000)");
}

static json_t *option(json_t *res, size_t i)
{
    return json_array_get(json_object_get(res, "options"), i);
}
static double num(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static void test_cvr(void **state)
{
    fixture_t *f = *state;
    fill(f);
    json_t *res = NULL;
    assert_int_equal(pm_experiment_results(f->store, 1, NULL, "test", PM_GOAL_CVR, &res), PM_OK);
    assert_int_equal(json_array_size(json_object_get(res, "options")), 2);
    json_t *a = option(res, 0), *b = option(res, 1);
    assert_true(num(a, "visitors") == 100 && num(a, "clicks") == 200 && num(a, "converted_visitors") == 10);
    assert_true(num(b, "visitors") == 100 && num(b, "clicks") == 100 && num(b, "converted_visitors") == 20);
    assert_true(num(b, "conversions") == 21);
    assert_string_equal(json_string_value(json_object_get(a, "revenue")), "100.00");
    assert_string_equal(json_string_value(json_object_get(b, "revenue")), "105.00");
    assert_true(fabs(num(b, "value") - 0.2) < 1e-12);
    assert_true(json_is_null(json_object_get(a, "vs_control")));
    /* The comparison is pm_stats_compare of the same sums. */
    pm_stats_proportion_t pa = {100, 10}, pb = {100, 20};
    pm_stats_sample_t sa, sb;
    pm_stats_comparison_t want;
    pm_stats_options_t opt = PM_STATS_OPTIONS_INIT;
    assert_int_equal(pm_stats_from_proportion(&pa, &sa), PM_OK);
    assert_int_equal(pm_stats_from_proportion(&pb, &sb), PM_OK);
    assert_int_equal(pm_stats_compare(&sa, &sb, &opt, &want), PM_OK);
    json_t *vs = json_object_get(b, "vs_control");
    json_t *uplift = json_object_get(vs, "uplift");
    assert_true(fabs(num(uplift, "expected") - want.frequentist.expected) < 1e-12);
    assert_true(fabs(json_number_value(json_array_get(json_object_get(uplift, "ci"), 0)) - want.frequentist.ci_low) <
                1e-12);
    assert_true(fabs(num(vs, "p_value") - want.frequentist.p_value) < 1e-12);
    assert_true(fabs(num(json_object_get(vs, "sequential"), "p_value") - want.sequential.p_value) < 1e-12);
    assert_true(fabs(num(vs, "chance_to_beat_control") - want.bayesian.chance_to_win) < 1e-12);
    assert_true(fabs(num(vs, "expected_loss") - want.bayesian.risk_treatment) < 1e-12);
    /* 100 / 100 visitors against equal weights: no mismatch. */
    json_t *srm = json_object_get(res, "srm");
    assert_true(fabs(num(srm, "p_value") - 1.0) < 1e-9);
    assert_false(json_is_true(json_object_get(srm, "warning")));
    json_decref(res);
}

static void test_epc_and_rpv(void **state)
{
    fixture_t *f = *state;
    fill(f);
    json_t *res = NULL;
    assert_int_equal(pm_experiment_results(f->store, 1, NULL, "test", PM_GOAL_EPC, &res), PM_OK);
    assert_true(fabs(num(option(res, 0), "value") - 0.5) < 1e-12);  /* $100 / 200 clicks */
    assert_true(fabs(num(option(res, 1), "value") - 1.05) < 1e-12); /* $105 / 100 clicks */
    json_decref(res);
    assert_int_equal(pm_experiment_results(f->store, 1, NULL, "test", PM_GOAL_RPV, &res), PM_OK);
    assert_true(fabs(num(option(res, 0), "value") - 1.0) < 1e-12); /* $100 / 100 visitors */
    assert_string_equal(json_string_value(json_object_get(res, "goal")), "rpv");
    /* A mean comparison: the per-visitor sums of squares feed the variance. */
    pm_stats_mean_t ma = {100, 100, 10 * 100.0}, mb = {100, 105, 19 * 25.0 + 100.0};
    pm_stats_sample_t sa, sb;
    pm_stats_result_t want;
    pm_stats_options_t opt = PM_STATS_OPTIONS_INIT;
    assert_int_equal(pm_stats_from_mean(&ma, &sa), PM_OK);
    assert_int_equal(pm_stats_from_mean(&mb, &sb), PM_OK);
    assert_int_equal(pm_stats_ttest(&sa, &sb, &opt, &want), PM_OK);
    json_t *vs = json_object_get(option(res, 1), "vs_control");
    assert_true(fabs(num(vs, "p_value") - want.p_value) < 1e-9);
    json_decref(res);
}

static void test_srm_warning_and_show(void **state)
{
    fixture_t *f = *state;
    int id = 0;
    for (int v = 0; v < 300; v++)
        click(f, ++id, v, 3, "ab", v < 200 ? 0 : 1, 0, 0);
    json_t *res = NULL;
    assert_int_equal(pm_experiment_results(f->store, 3, NULL, "ab", PM_GOAL_CVR, &res), PM_OK);
    assert_true(json_is_true(json_object_get(json_object_get(res, "srm"), "warning")));
    /* No conversions at all: an uninformative comparison, still valid JSON. */
    json_t *vs = json_object_get(option(res, 1), "vs_control");
    assert_string_equal(json_string_value(json_object_get(vs, "status")), "baseline_zero");
    json_decref(res);
    json_t *doc = NULL;
    assert_int_equal(pm_experiment_show(f->store, 1, &doc), PM_ENOTFOUND);
    exec(f, "INSERT INTO flows(id, name, default_path, created_at, updated_at) VALUES(3, 'f',"
            " '{\"name\":\"ab\",\"rotation\":\"split\",\"options\":[{\"offer_id\":1,\"weight\":2},{\"offer_id\":2}]}', "
            "0, 0)");
    exec(f, "INSERT INTO experiments(id, name, flow_id, path, goal, created_at, updated_at)"
            " VALUES(1, 'e', 3, 'ab', 'cvr', 0, 0)");
    assert_int_equal(pm_experiment_show(f->store, 1, &doc), PM_OK);
    res = json_object_get(doc, "results");
    /* With the flow known, the weights (2:1) make the 200:100 split right. */
    assert_false(json_is_true(json_object_get(json_object_get(res, "srm"), "warning")));
    assert_int_equal(json_integer_value(json_object_get(option(res, 0), "weight")), 2);
    assert_string_equal(json_string_value(json_object_get(doc, "path")), "ab");
    char *text = json_dumps(doc, 0);
    assert_non_null(text);
    free(text);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cvr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epc_and_rpv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_srm_warning_and_show, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

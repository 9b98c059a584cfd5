/*
 * test_stats.c: the distributions (pm/stats_dist.h) against known values,
 * the comparisons (pm/stats.h) against gbstats' reference vectors
 * (../shared/data/abtest/stats_vectors.json: every computed field of every
 * case, to 1e-4), their uninformative and invalid cases, and the SRM check
 * on hand-computed cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pm/stats.h"
#include "pm/stats_dist.h"

#define VECTORS PM_SOURCE_DIR "/../shared/data/abtest/stats_vectors.json"

static void near(double got, double want, double tol, const char *what)
{
    if (fabs(got - want) <= tol) return;
    fail_msg("%s: got %.17g, want %.17g (tolerance %g)", what, got, want, tol);
}

/* --- distributions ---------------------------------------------------------------- */

static void test_normal_known_values(void **state)
{
    near(pm_stats_norm_ppf(0.975), 1.959963984540054, 1e-12, "z(0.975)");
    near(pm_stats_norm_ppf(0.5), 0, 0, "z(0.5)");
    near(pm_stats_norm_ppf(0.025), -1.959963984540054, 1e-12, "z(0.025)");
    near(pm_stats_norm_ppf(0.995), 2.5758293035489004, 1e-12, "z(0.995)");
    near(pm_stats_norm_ppf(1e-10), -6.361340902404056, 1e-9, "z(1e-10)");
    near(pm_stats_norm_cdf(1.96), 0.9750021048517795, 1e-14, "Phi(1.96)");
    near(pm_stats_norm_sf(1.96), 0.024997895148220435, 1e-15, "1-Phi(1.96)");
    near(pm_stats_norm_sf(10) / 7.619853024160527e-24, 1, 1e-12, "tail at 10, relative");
    near(pm_stats_norm_pdf(0), 0.3989422804014327, 1e-15, "phi(0)");
    assert_true(isinf(pm_stats_norm_ppf(0)) && pm_stats_norm_ppf(0) < 0);
    assert_true(isinf(pm_stats_norm_ppf(1)) && pm_stats_norm_ppf(1) > 0);
    assert_true(isnan(pm_stats_norm_ppf(-0.1)) && isnan(pm_stats_norm_ppf(1.1)) && isnan(pm_stats_norm_ppf(NAN)));
}

/* ppf(cdf(x)) = x on the side where cdf keeps its precision. */
static void test_normal_round_trip(void **state)
{
    for (double x = -37; x <= 0; x += 0.173) {
        double back = pm_stats_norm_ppf(pm_stats_norm_cdf(x));
        near(back, x, 1e-13 * fmax(1, fabs(x)), "ppf(cdf(x))");
        near(pm_stats_norm_ppf(pm_stats_norm_sf(-x)), x, 1e-13 * fmax(1, fabs(x)), "ppf(sf(-x))");
    }
}

static void test_t_known_values(void **state)
{
    near(pm_stats_t_ppf(0.975, 10), 2.228138851986, 1e-9, "t(0.975, 10)");
    near(pm_stats_t_ppf(0.975, 1), 12.706204736174707, 1e-9, "t(0.975, 1)");
    near(pm_stats_t_ppf(0.975, 2), 4.302652729749464, 1e-10, "t(0.975, 2)");
    near(pm_stats_t_ppf(0.975, 30), 2.0422724563012373, 1e-10, "t(0.975, 30)");
    near(pm_stats_t_ppf(0.995, 5), 4.032142983557536, 1e-9, "t(0.995, 5)");
    near(pm_stats_t_ppf(0.025, 10), -2.228138851986, 1e-9, "t(0.025, 10)");
    near(pm_stats_t_ppf(0.975, 1e6), 1.9599663568141068, 1e-9, "t(0.975, 1e6): Cornish-Fisher");
    near(pm_stats_t_ppf(0.975, INFINITY), 1.959963984540054, 1e-12, "t(0.975, inf)");
    near(pm_stats_t_cdf(2, 5), 0.9490302605850709, 1e-12, "T5(2)");
    near(pm_stats_t_cdf(-2, 5), 0.050969739414929105, 1e-12, "T5(-2)");
    near(pm_stats_t_sf(0, 7.3), 0.5, 1e-15, "T(0)");
    /* closed forms: df 1 is Cauchy, df 2 has cdf 1/2 + t / (2 sqrt(t^2 + 2)) */
    for (double t = -50; t <= 50; t += 1.7) {
        near(pm_stats_t_cdf(t, 1), 0.5 + atan(t) / M_PI, 1e-13, "Cauchy cdf");
        near(pm_stats_t_cdf(t, 2), 0.5 + t / (2 * sqrt(t * t + 2)), 1e-13, "t2 cdf");
    }
    near(pm_stats_t_ppf(0.9, 1), tan(M_PI * 0.4), 1e-11, "Cauchy quantile");
    assert_true(isnan(pm_stats_t_cdf(1, 0)) && isnan(pm_stats_t_ppf(0.5, -1)) && isnan(pm_stats_t_ppf(2, 3)));
    assert_true(pm_stats_t_ppf(0, 4) < 0 && isinf(pm_stats_t_ppf(1, 4)));
}

static void test_t_round_trip(void **state)
{
    static const double dfs[] = {0.5, 1, 1.5, 2, 3, 4.7, 10, 56.3, 1000, 5841.742, 1e5, 1e8};
    static const double ps[] = {1e-12, 1e-6, 0.001, 0.025, 0.1, 0.3, 0.5, 0.77, 0.95, 0.975, 0.999};
    for (size_t i = 0; i < PM_ARRAY_LEN(dfs); i++)
        for (size_t j = 0; j < PM_ARRAY_LEN(ps); j++) {
            double t = pm_stats_t_ppf(ps[j], dfs[i]);
            double back = ps[j] < 0.5 ? pm_stats_t_cdf(t, dfs[i]) : 1 - pm_stats_t_sf(t, dfs[i]);
            near(back / ps[j], 1, 1e-10, "t cdf(ppf(p)) / p");
        }
    /* huge df: the t tail tends to the normal one, with a 1/df correction */
    near(pm_stats_t_sf(1.5, 5e9), pm_stats_norm_sf(1.5), 1e-9, "t(5e9) ~ normal");
}

static void test_chisq_and_special_functions(void **state)
{
    near(pm_stats_chisq_sf(3.841458820694124, 1), 0.05, 1e-12, "chi2_1 95%");
    near(pm_stats_chisq_sf(5.991464547107979, 2), 0.05, 1e-12, "chi2_2 95%");
    near(pm_stats_chisq_sf(10, 3), 0.01856613546304325, 1e-13, "chi2_3(10)");
    near(pm_stats_chisq_sf(100, 50), 3.454931382984867e-05, 1e-15, "chi2_50(100) = Q(25, 50)");
    for (double x = 0.5; x < 60; x += 3.1) near(pm_stats_chisq_sf(x, 2), exp(-x / 2), 1e-14, "chi2_2 = exp(-x/2)");
    near(pm_stats_chisq_sf(0, 3), 1, 0, "chi2 at 0");
    for (double x = 0.05; x < 1; x += 0.1) {
        near(pm_stats_beta_inc(3.5, 1, x), pow(x, 3.5), 1e-14, "I_x(a, 1) = x^a");
        near(pm_stats_beta_inc(1, 2.5, x), 1 - pow(1 - x, 2.5), 1e-14, "I_x(1, b)");
    }
    near(pm_stats_beta_inc(7.3, 7.3, 0.5), 0.5, 1e-14, "I_1/2(a, a)");
    near(pm_stats_gamma_q(1, 2.5), exp(-2.5), 1e-15, "Q(1, x) = exp(-x)");
    assert_true(isnan(pm_stats_beta_inc(-1, 1, 0.5)) && isnan(pm_stats_gamma_q(1, -1)));
}

/* --- reference vectors --------------------------------------------------------------- */

typedef enum { SEC_FREQ, SEC_SEQ, SEC_BAYES } section_t;

static pm_stats_sample_t arm_sample(const json_t *arm)
{
    pm_stats_sample_t s;
    uint64_t n = (uint64_t)json_integer_value(json_object_get(arm, "n"));
    const json_t *conv = json_object_get(arm, "conversions");
    if (conv != NULL) {
        pm_stats_proportion_t p = {n, (uint64_t)json_integer_value(conv)};
        assert_int_equal(pm_stats_from_proportion(&p, &s), PM_OK);
    } else {
        pm_stats_mean_t m = {n, json_number_value(json_object_get(arm, "sum")),
                             json_number_value(json_object_get(arm, "sum_squares"))};
        assert_int_equal(pm_stats_from_mean(&m, &s), PM_OK);
    }
    return s;
}

static pm_stats_options_t case_options(const json_t *cs)
{
    pm_stats_options_t o = PM_STATS_OPTIONS_INIT;
    const char *diff = json_string_value(json_object_get(cs, "difference"));
    const json_t *tuning = json_object_get(cs, "tuning_parameter"), *prior = json_object_get(cs, "prior");
    if (diff && strcmp(diff, "absolute") == 0) o.difference = PM_STATS_ABSOLUTE;
    if (tuning) o.tuning_parameter = json_number_value(tuning);
    if (prior) {
        o.prior_proper = true;
        o.prior_mean = json_number_value(json_object_get(prior, "mean"));
        o.prior_variance = json_number_value(json_object_get(prior, "variance"));
    }
    return o;
}

/* Compare one reference field; returns how many numbers it held. */
static int check_field(const char *name, const char *key, const json_t *want, const pm_stats_result_t *r)
{
    char what[160];
    double got[2];
    int n = 1;
    if (strcmp(key, "expected") == 0) got[0] = r->expected;
    else if (strcmp(key, "stddev") == 0) got[0] = r->stddev;
    else if (strcmp(key, "p_value") == 0) got[0] = r->p_value;
    else if (strcmp(key, "chance_to_win") == 0) got[0] = r->chance_to_win;
    else if (strcmp(key, "ci") == 0) got[0] = r->ci_low, got[1] = r->ci_high, n = 2;
    else if (strcmp(key, "risk") == 0) got[0] = r->risk_control, got[1] = r->risk_treatment, n = 2;
    else fail_msg("%s: unknown computed field \"%s\" in the reference", name, key);
    for (int i = 0; i < n; i++) {
        const json_t *w = n == 1 ? want : json_array_get(want, (size_t)i);
        snprintf(what, sizeof(what), "%s.%s[%d]", name, key, i);
        if (!json_is_number(w)) fail_msg("%s: reference is not a number", what);
        near(got[i], json_number_value(w), 1e-4, what);
    }
    return n;
}

static bool is_input(const char *key)
{
    static const char *const inputs[] = {"name", "difference", "tuning_parameter", "prior", "a", "b"};
    for (size_t i = 0; i < PM_ARRAY_LEN(inputs); i++)
        if (strcmp(key, inputs[i]) == 0) return true;
    return false;
}

static int check_case(section_t sec, const json_t *cs, int *fields)
{
    pm_stats_sample_t a = arm_sample(json_object_get(cs, "a")), b = arm_sample(json_object_get(cs, "b"));
    pm_stats_options_t o = case_options(cs);
    pm_stats_result_t r;
    const char *name = json_string_value(json_object_get(cs, "name")), *key;
    const json_t *v;
    int rc = sec == SEC_FREQ ? pm_stats_ttest(&a, &b, &o, &r)
             : sec == SEC_SEQ ? pm_stats_sequential(&a, &b, &o, &r)
                              : pm_stats_bayes(&a, &b, &o, &r);
    assert_int_equal(rc, PM_OK);
    json_object_foreach((json_t *)cs, key, v) if (!is_input(key)) *fields += check_field(name, key, v, &r);
    return 1;
}

static void test_reference_vectors(void **state)
{
    static const char *const sections[] = {"frequentist", "sequential", "bayesian"};
    json_error_t err;
    json_t *doc = json_load_file(VECTORS, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL) {
        print_message("SKIPPED: reference vectors not found at %s (%s)\n", VECTORS, err.text);
        skip();
    }
    int total = 0, fields = 0;
    for (size_t s = 0; s < PM_ARRAY_LEN(sections); s++) {
        const json_t *list = json_object_get(doc, sections[s]), *cs;
        size_t i;
        int matched = 0;
        assert_true(json_array_size(list) > 0);
        json_array_foreach(list, i, cs) matched += check_case((section_t)s, cs, &fields);
        print_message("stats_vectors %s: %d/%zu cases match to 1e-4\n", sections[s], matched, json_array_size(list));
        total += matched;
    }
    print_message("stats_vectors: %d cases, %d figures, all within 1e-4\n", total, fields);
    assert_int_equal(total, 9);
    json_decref(doc);
}

/* --- behaviour at the edges ---------------------------------------------------------------- */

static pm_stats_sample_t prop(uint64_t n, uint64_t c)
{
    pm_stats_sample_t s;
    assert_int_equal(pm_stats_from_proportion(&(pm_stats_proportion_t){n, c}, &s), PM_OK);
    return s;
}

static void test_uninformative_results(void **state)
{
    pm_stats_options_t o = PM_STATS_OPTIONS_INIT;
    pm_stats_result_t r;
    pm_stats_sample_t empty = prop(0, 0), zero = prop(100, 0), some = prop(100, 10), all = prop(50, 50);
    assert_int_equal(pm_stats_ttest(&empty, &some, &o, &r), PM_OK);
    assert_int_equal(r.status, PM_STATS_NO_UNITS);
    assert_true(r.expected == 0 && r.p_value == 1 && isnan(r.ci_low) && isnan(r.stddev));
    assert_int_equal(pm_stats_sequential(&zero, &some, &o, &r), PM_OK);
    assert_int_equal(r.status, PM_STATS_BASELINE_ZERO);
    assert_int_equal(pm_stats_bayes(&some, &all, &o, &r), PM_OK);
    assert_int_equal(r.status, PM_STATS_ZERO_VARIANCE);
    assert_true(r.expected == 0 && r.chance_to_win == 0.5 && isnan(r.risk_control));
    /* absolute differences do not need a non-zero baseline, but still variance */
    o.difference = PM_STATS_ABSOLUTE;
    assert_int_equal(pm_stats_ttest(&zero, &some, &o, &r), PM_OK);
    assert_int_equal(r.status, PM_STATS_ZERO_VARIANCE);
    pm_stats_sample_t one;
    assert_int_equal(pm_stats_from_mean(&(pm_stats_mean_t){1, 5, 25}, &one), PM_OK);
    assert_true(one.variance == 0);
    assert_int_equal(pm_stats_ttest(&one, &some, &o, &r), PM_OK);
    assert_int_equal(r.status, PM_STATS_ZERO_VARIANCE);
    assert_string_equal(pm_stats_status_str(PM_STATS_NO_UNITS), "an arm has no units");
}

static void test_invalid_arguments(void **state)
{
    pm_stats_options_t o = PM_STATS_OPTIONS_INIT;
    pm_stats_result_t r;
    pm_stats_sample_t a = prop(1000, 100), b = prop(1000, 120), bad = {NAN, 0.1, 0.09}, s;
    assert_int_equal(pm_stats_ttest(&bad, &b, &o, &r), PM_EINVAL);
    assert_true(isnan(r.expected));
    o.alpha = 1;
    assert_int_equal(pm_stats_ttest(&a, &b, &o, &r), PM_EINVAL);
    o = PM_STATS_OPTIONS_INIT;
    o.tuning_parameter = 0;
    assert_int_equal(pm_stats_sequential(&a, &b, &o, &r), PM_EINVAL);
    o = PM_STATS_OPTIONS_INIT;
    o.prior_proper = true;
    o.prior_variance = 0;
    assert_int_equal(pm_stats_bayes(&a, &b, &o, &r), PM_EINVAL);
    assert_int_equal(pm_stats_from_proportion(&(pm_stats_proportion_t){10, 11}, &s), PM_EINVAL);
    assert_int_equal(pm_stats_from_mean(&(pm_stats_mean_t){10, NAN, 1}, &s), PM_EINVAL);
    assert_int_equal(pm_stats_from_mean(&(pm_stats_mean_t){10, 1e200, 1e300}, &s), PM_ERANGE);
    /* finite inputs whose effect overflows: ERANGE, figures NaN */
    pm_stats_sample_t tiny = {10, 1e-300, 1e-300};
    o = PM_STATS_OPTIONS_INIT;
    assert_int_equal(pm_stats_ttest(&tiny, &b, &o, &r), PM_ERANGE);
    assert_true(isnan(r.expected) && isnan(r.p_value));
}

static void test_bayes_inverse_and_absolute_prior(void **state)
{
    pm_stats_options_t o = PM_STATS_OPTIONS_INIT;
    pm_stats_result_t up, down;
    pm_stats_sample_t a = prop(1000, 100), b = prop(1000, 130);
    assert_int_equal(pm_stats_bayes(&a, &b, &o, &up), PM_OK);
    o.inverse = true;
    assert_int_equal(pm_stats_bayes(&a, &b, &o, &down), PM_OK);
    near(down.chance_to_win, 1 - up.chance_to_win, 1e-15, "inverse chance to win");
    near(down.risk_control, up.risk_treatment, 0, "inverse risk");
    near(up.risk_control - up.risk_treatment, up.expected, 1e-15, "E[max(d,0)] - E[max(-d,0)] = E[d]");
    /* a relative prior N(0.1, 0.1) equals an absolute N(0.1 ma, 0.1 ma^2) */
    o = PM_STATS_OPTIONS_INIT;
    o.difference = PM_STATS_ABSOLUTE;
    o.prior_proper = true;
    o.prior_mean = 0.1;
    o.prior_variance = 0.1;
    assert_int_equal(pm_stats_bayes(&a, &b, &o, &up), PM_OK);
    double v = (a.variance / a.n + b.variance / b.n), pm = 0.1 * 0.1, pv = 0.1 * 0.01;
    double prec = 1 / v + 1 / pv;
    near(up.expected, ((b.mean - a.mean) / v + pm / pv) / prec, 1e-15, "absolute posterior mean");
    near(up.stddev, sqrt(1 / prec), 1e-15, "absolute posterior sd");
}

/* The sequential interval is wider than the fixed-horizon one: the price of
 * peeking; and it is always valid (p = 1 when the e-value is below 1). */
static void test_sequential_is_conservative(void **state)
{
    pm_stats_options_t o = PM_STATS_OPTIONS_INIT;
    pm_stats_result_t fixed, seq;
    pm_stats_sample_t a = prop(20000, 1000), b = prop(20000, 1100);
    assert_int_equal(pm_stats_ttest(&a, &b, &o, &fixed), PM_OK);
    assert_int_equal(pm_stats_sequential(&a, &b, &o, &seq), PM_OK);
    assert_true(seq.ci_high - seq.ci_low > fixed.ci_high - fixed.ci_low);
    assert_true(seq.p_value >= fixed.p_value);
    near(seq.expected, fixed.expected, 0, "same point estimate");
}

static void same_result(const pm_stats_result_t *x, const pm_stats_result_t *y)
{
    const double gx[] = {x->expected, x->ci_low, x->ci_high, x->stddev, x->p_value, x->dof, x->chance_to_win,
                         x->risk_control, x->risk_treatment};
    const double gy[] = {y->expected, y->ci_low, y->ci_high, y->stddev, y->p_value, y->dof, y->chance_to_win,
                         y->risk_control, y->risk_treatment};
    assert_int_equal(x->status, y->status);
    for (size_t i = 0; i < PM_ARRAY_LEN(gx); i++) assert_true(gx[i] == gy[i] || (isnan(gx[i]) && isnan(gy[i])));
}

static void test_compare_runs_all_three(void **state)
{
    pm_stats_options_t o = PM_STATS_OPTIONS_INIT;
    pm_stats_comparison_t c;
    pm_stats_result_t f, s, b;
    pm_stats_sample_t ctl = prop(5000, 250), opt = prop(5000, 290);
    assert_int_equal(pm_stats_compare(&ctl, &opt, &o, &c), PM_OK);
    assert_int_equal(pm_stats_ttest(&ctl, &opt, &o, &f), PM_OK);
    assert_int_equal(pm_stats_sequential(&ctl, &opt, &o, &s), PM_OK);
    assert_int_equal(pm_stats_bayes(&ctl, &opt, &o, &b), PM_OK);
    same_result(&c.frequentist, &f);
    same_result(&c.sequential, &s);
    same_result(&c.bayesian, &b);
    o.alpha = 0;
    assert_int_equal(pm_stats_compare(&ctl, &opt, &o, &c), PM_EINVAL);
}

/* --- SRM --------------------------------------------------------------------------- */

static void test_srm_hand_cases(void **state)
{
    double p;
    double half[] = {0.5, 0.5}, thirds[] = {0.2, 0.3, 0.5}, skip_zero[] = {0.5, 0.5, 0};
    /* 1000 vs 1100 at 50/50: chi2 = 2 * 50^2 / 1050 = 4.7619, df 1 */
    assert_int_equal(pm_stats_srm((uint64_t[]){1000, 1100}, half, 2, &p), PM_OK);
    near(p, erfc(sqrt(2 * 50.0 * 50 / 1050 / 2)), 1e-14, "srm 1000/1100");
    near(p, 0.029096331741252, 1e-12, "srm 1000/1100 value");
    /* 10000 vs 10500: chi2 = 12.195, p = 0.00048 < 0.001: a mismatch */
    assert_int_equal(pm_stats_srm((uint64_t[]){10000, 10500}, half, 2, &p), PM_OK);
    near(p, erfc(sqrt(2 * 250.0 * 250 / 10250 / 2)), 1e-15, "srm 10000/10500");
    assert_true(p < PM_STATS_SRM_THRESHOLD);
    /* exact split: chi2 = 0, p = 1; unnormalised weights are fine */
    assert_int_equal(pm_stats_srm((uint64_t[]){200, 300, 500}, thirds, 3, &p), PM_OK);
    near(p, 1, 1e-15, "srm exact");
    assert_int_equal(pm_stats_srm((uint64_t[]){200, 300, 500}, (double[]){2, 3, 5}, 3, &p), PM_OK);
    near(p, 1, 1e-15, "srm scaled weights");
    /* 3 arms 20/30/50 with 230/300/470: chi2 = 30^2/200 + 0 + 30^2/500 = 6.3, df 2 */
    assert_int_equal(pm_stats_srm((uint64_t[]){230, 300, 470}, thirds, 3, &p), PM_OK);
    near(p, exp(-6.3 / 2), 1e-14, "srm 3 arms");
    /* an arm with weight 0 is left out of the sum but its units count in the
     * total and df stays k - 1 (gbstats check_srm) */
    assert_int_equal(pm_stats_srm((uint64_t[]){1000, 1100, 7}, skip_zero, 3, &p), PM_OK);
    near(p, exp(-((53.5 * 53.5 + 46.5 * 46.5) / 1053.5) / 2), 1e-14, "srm zero weight");
    assert_int_equal(pm_stats_srm((uint64_t[]){0, 0}, half, 2, &p), PM_OK);
    near(p, 1, 0, "srm no units");
    assert_int_equal(pm_stats_srm((uint64_t[]){1, 2}, half, 1, &p), PM_EINVAL);
    assert_int_equal(pm_stats_srm((uint64_t[]){1, 2}, (double[]){-1, 2}, 2, &p), PM_EINVAL);
    assert_int_equal(pm_stats_srm((uint64_t[]){1, 2}, (double[]){0, 0}, 2, &p), PM_EINVAL);
    assert_int_equal(pm_stats_srm((uint64_t[]){1, 2}, (double[]){NAN, 1}, 2, &p), PM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_known_values),
        cmocka_unit_test(test_normal_round_trip),
        cmocka_unit_test(test_t_known_values),
        cmocka_unit_test(test_t_round_trip),
        cmocka_unit_test(test_chisq_and_special_functions),
        cmocka_unit_test(test_reference_vectors),
        cmocka_unit_test(test_uninformative_results),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_bayes_inverse_and_absolute_prior),
        cmocka_unit_test(test_sequential_is_conservative),
        cmocka_unit_test(test_compare_runs_all_three),
        cmocka_unit_test(test_srm_hand_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

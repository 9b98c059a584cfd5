/*
 * stats.c: treatment-vs-control comparisons and the SRM check (pm/stats.h).
 *
 * The formulas are gbstats' (GrowthBook's statistics engine, MIT):
 * frequentist/tests.py (TwoSidedTTest, SequentialTwoSidedTTest),
 * bayesian/tests.py (EffectBayesianABTest), utils.py (frequentist_diff,
 * frequentist_variance, check_srm). docs/statistics.md writes them out with
 * their sources; the unit tests check them against gbstats' own figures.
 *
 * All three analyses start from the same two moments of the effect: its
 * point estimate and its variance (the delta method for a relative effect).
 */
#include "pm/stats.h"

#include <math.h>

#include "pm/stats_dist.h"

const char *pm_stats_status_str(pm_stats_status_t s)
{
    switch (s) {
    case PM_STATS_OK: return "ok";
    case PM_STATS_NO_UNITS: return "an arm has no units";
    case PM_STATS_ZERO_VARIANCE: return "an arm has zero variance";
    case PM_STATS_BASELINE_ZERO: return "the control mean is 0, so a relative difference is undefined";
    }
    return "unknown status";
}

/* --- samples ------------------------------------------------------------------- */

static const pm_stats_sample_t nan_sample = {NAN, NAN, NAN};

int pm_stats_from_proportion(const pm_stats_proportion_t *p, pm_stats_sample_t *out)
{
    if (p->conversions > p->visitors) {
        *out = nan_sample;
        return PM_EINVAL;
    }
    double n = (double)p->visitors, mean = n > 0 ? (double)p->conversions / n : 0;
    *out = (pm_stats_sample_t){.n = n, .mean = mean, .variance = mean * (1 - mean)};
    return PM_OK;
}

int pm_stats_from_mean(const pm_stats_mean_t *m, pm_stats_sample_t *out)
{
    *out = nan_sample;
    if (!isfinite(m->sum) || !isfinite(m->sum_squares) || m->sum_squares < 0) return PM_EINVAL;
    double n = (double)m->n;
    double mean = n > 0 ? m->sum / n : 0;
    double variance = n > 1 ? (m->sum_squares - m->sum * m->sum / n) / (n - 1) : 0;
    if (!isfinite(mean) || !isfinite(variance)) return PM_ERANGE;
    *out = (pm_stats_sample_t){.n = n, .mean = mean, .variance = variance};
    return PM_OK;
}

/* --- shared steps ---------------------------------------------------------------- */

static bool sample_valid(const pm_stats_sample_t *s)
{
    return isfinite(s->n) && s->n >= 0 && isfinite(s->mean) && isfinite(s->variance);
}

static bool options_valid(const pm_stats_options_t *o)
{
    if (o->difference != PM_STATS_RELATIVE && o->difference != PM_STATS_ABSOLUTE) return false;
    if (!(o->alpha > 0 && o->alpha < 1)) return false;
    if (!(o->tuning_parameter > 0) || !isfinite(o->tuning_parameter)) return false;
    if (o->prior_proper && (!isfinite(o->prior_mean) || !(o->prior_variance > 0) || !isfinite(o->prior_variance)))
        return false;
    return true;
}

static void result_blank(pm_stats_result_t *out, pm_stats_status_t status)
{
    *out = (pm_stats_result_t){.status = status, .expected = NAN, .ci_low = NAN, .ci_high = NAN, .stddev = NAN,
                               .p_value = NAN, .dof = NAN, .chance_to_win = NAN, .risk_control = NAN,
                               .risk_treatment = NAN};
}

static int check_args(const pm_stats_sample_t *a, const pm_stats_sample_t *b, const pm_stats_options_t *opt,
                      pm_stats_result_t *out)
{
    result_blank(out, PM_STATS_OK);
    if (!sample_valid(a) || !sample_valid(b) || !options_valid(opt)) {
        out->status = PM_STATS_NO_UNITS;
        return PM_EINVAL;
    }
    return PM_OK;
}

/* gbstats' guards before any test ("default output" when one fails). n <= 1
 * is folded into zero variance: the sample variance needs two units, and the
 * Welch degrees of freedom divide by n - 1. */
static pm_stats_status_t screen(const pm_stats_sample_t *a, const pm_stats_sample_t *b, bool relative)
{
    if (a->n == 0 || b->n == 0) return PM_STATS_NO_UNITS;
    if (relative && a->mean == 0) return PM_STATS_BASELINE_ZERO;
    if (a->variance <= 0 || b->variance <= 0 || a->n <= 1 || b->n <= 1) return PM_STATS_ZERO_VARIANCE;
    return PM_STATS_OK;
}

typedef struct effect_s {
    double estimate;
    double variance;
} effect_t;

/* frequentist_diff and frequentist_variance: the relative effect's variance
 * is the delta method for (mean_b / mean_a): var_b / (n_b ma^2) +
 * var_a mb^2 / (n_a ma^4). */
static effect_t effect_moments(const pm_stats_sample_t *a, const pm_stats_sample_t *b, bool relative)
{
    double va = a->variance / a->n, vb = b->variance / b->n, ma = a->mean, mb = b->mean;
    if (!relative) return (effect_t){mb - ma, vb + va};
    double ma2 = ma * ma;
    return (effect_t){(mb - ma) / fabs(ma), vb / ma2 + va * mb * mb / (ma2 * ma2)};
}

/* Screen the samples and form the effect. PM_OK with out->status set when
 * the result is uninformative (out then holds the default output); PM_ERANGE
 * when finite inputs overflow the arithmetic. */
static int prepare(const pm_stats_sample_t *a, const pm_stats_sample_t *b, const pm_stats_options_t *opt,
                   pm_stats_result_t *out, effect_t *e)
{
    out->status = screen(a, b, opt->difference == PM_STATS_RELATIVE);
    if (out->status != PM_STATS_OK) return PM_OK;
    *e = effect_moments(a, b, opt->difference == PM_STATS_RELATIVE);
    if (!isfinite(e->estimate) || !isfinite(e->variance)) return PM_ERANGE;
    if (e->variance <= 0) out->status = PM_STATS_ZERO_VARIANCE;
    return PM_OK;
}

/* --- frequentist ----------------------------------------------------------------- */

/* Welch-Satterthwaite, as gbstats TTest.dof. */
static double welch_dof(const pm_stats_sample_t *a, const pm_stats_sample_t *b)
{
    double sa = a->variance / a->n, sb = b->variance / b->n;
    return (sa + sb) * (sa + sb) / (sb * sb / (b->n - 1) + sa * sa / (a->n - 1));
}

int pm_stats_ttest(const pm_stats_sample_t *a, const pm_stats_sample_t *b, const pm_stats_options_t *opt,
                   pm_stats_result_t *out)
{
    effect_t e;
    int rc = check_args(a, b, opt, out);
    if (rc == PM_OK) rc = prepare(a, b, opt, out, &e);
    if (rc != PM_OK || out->status != PM_STATS_OK) {
        if (rc == PM_OK) out->expected = 0, out->p_value = 1;
        return rc;
    }
    double se = sqrt(e.variance), dof = welch_dof(a, b);
    double width = pm_stats_t_ppf(1 - opt->alpha / 2, dof) * se;
    out->expected = e.estimate;
    out->stddev = se;
    out->dof = dof;
    out->p_value = fmin(1, 2 * pm_stats_t_sf(fabs(e.estimate / se), dof));
    out->ci_low = e.estimate - width;
    out->ci_high = e.estimate + width;
    return PM_OK;
}

/* --- sequential -------------------------------------------------------------------- */

/* The mixing parameter rho that makes the confidence sequence tightest at
 * N = tuning (Waudby-Smith et al. 2023, eq. 161). */
static double sequential_rho(double alpha, double tuning)
{
    return sqrt((-2 * log(alpha) + log(-2 * log(alpha) + 1)) / tuning);
}

int pm_stats_sequential(const pm_stats_sample_t *a, const pm_stats_sample_t *b, const pm_stats_options_t *opt,
                        pm_stats_result_t *out)
{
    effect_t e;
    int rc = check_args(a, b, opt, out);
    if (rc == PM_OK) rc = prepare(a, b, opt, out, &e);
    if (rc != PM_OK || out->status != PM_STATS_OK) {
        if (rc == PM_OK) out->expected = 0, out->p_value = 1;
        return rc;
    }
    double n = a->n + b->n, rho = sequential_rho(opt->alpha, opt->tuning_parameter);
    double nr2p1 = n * rho * rho + 1; /* N rho^2 + 1 */
    /* eq. 9: half-width sqrt(s2) sqrt(2 (N rho^2 + 1) log(sqrt(N rho^2 + 1) / alpha) / (N rho)^2) */
    double width = sqrt(e.variance * n) * sqrt(2 * nr2p1 * log(sqrt(nr2p1) / opt->alpha) / ((n * rho) * (n * rho)));
    /* eq. 155: p = min(1, 1 / e-value), e = exp(rho^2 S_t^2 / (2 (N rho^2 + 1))) / sqrt(N rho^2 + 1),
     * in logs so a huge e-value gives p = 0 rather than inf / inf */
    double st2 = e.estimate * e.estimate * n / e.variance;
    double log_evalue = rho * rho * st2 / (2 * nr2p1) - 0.5 * log(nr2p1);
    out->expected = e.estimate;
    out->stddev = sqrt(e.variance);
    out->p_value = fmin(1, exp(-log_evalue));
    out->ci_low = e.estimate - width;
    out->ci_high = e.estimate + width;
    return PM_OK;
}

/* --- Bayesian -------------------------------------------------------------------- */

/* Expected loss of each decision under delta ~ N(mu, sigma^2) (gbstats
 * get_risk, in closed form): choosing control loses E[max(delta, 0)],
 * choosing the treatment loses E[max(-delta, 0)]. */
static void gaussian_risk(double mu, double sigma, double *risk_control, double *risk_treatment)
{
    double z = mu / sigma, dens = sigma * pm_stats_norm_pdf(z);
    *risk_control = mu * pm_stats_norm_cdf(z) + dens;
    *risk_treatment = -mu * pm_stats_norm_cdf(-z) + dens;
}

int pm_stats_bayes(const pm_stats_sample_t *a, const pm_stats_sample_t *b, const pm_stats_options_t *opt,
                   pm_stats_result_t *out)
{
    effect_t e;
    int rc = check_args(a, b, opt, out);
    if (rc == PM_OK) rc = prepare(a, b, opt, out, &e);
    double prior_mean = opt->prior_mean, prior_var = opt->prior_variance;
    if (rc == PM_OK && out->status == PM_STATS_OK && opt->prior_proper && opt->difference == PM_STATS_ABSOLUTE) {
        /* the prior is on the relative scale: rescale it to absolute */
        if (a->mean == 0) out->status = PM_STATS_BASELINE_ZERO;
        prior_mean *= fabs(a->mean);
        prior_var *= a->mean * a->mean;
    }
    if (rc != PM_OK || out->status != PM_STATS_OK) {
        if (rc == PM_OK) out->expected = 0, out->chance_to_win = 0.5;
        return rc;
    }
    double precision = 1 / e.variance + (opt->prior_proper ? 1 / prior_var : 0);
    double mean = opt->prior_proper ? (e.estimate / e.variance + prior_mean / prior_var) / precision : e.estimate;
    double sd = sqrt(1 / precision), z = pm_stats_norm_ppf(1 - opt->alpha / 2);
    double ctw = pm_stats_norm_cdf(mean / sd), risk_c, risk_t;
    gaussian_risk(mean, sd, &risk_c, &risk_t);
    if (!isfinite(mean) || !isfinite(sd) || sd <= 0) return PM_ERANGE;
    out->expected = mean;
    out->stddev = sd;
    out->ci_low = mean - z * sd;
    out->ci_high = mean + z * sd;
    out->chance_to_win = opt->inverse ? 1 - ctw : ctw;
    out->risk_control = opt->inverse ? risk_t : risk_c;
    out->risk_treatment = opt->inverse ? risk_c : risk_t;
    return PM_OK;
}

int pm_stats_compare(const pm_stats_sample_t *a, const pm_stats_sample_t *b, const pm_stats_options_t *opt,
                     pm_stats_comparison_t *out)
{
    int rc_f = pm_stats_ttest(a, b, opt, &out->frequentist);
    int rc_s = pm_stats_sequential(a, b, opt, &out->sequential);
    int rc_b = pm_stats_bayes(a, b, opt, &out->bayesian);
    return rc_f != PM_OK ? rc_f : rc_s != PM_OK ? rc_s : rc_b;
}

/* --- sample ratio mismatch -------------------------------------------------------------- */

int pm_stats_srm(const uint64_t *units, const double *weights, size_t k, double *p_value)
{
    double total = 0, total_weight = 0;
    bool any_weight = false;
    *p_value = NAN;
    if (k < 2) return PM_EINVAL;
    for (size_t i = 0; i < k; i++) {
        if (!isfinite(weights[i]) || weights[i] < 0) return PM_EINVAL;
        any_weight |= weights[i] > 0;
        total += (double)units[i];
        total_weight += weights[i];
    }
    if (!any_weight || !isfinite(total_weight)) return PM_EINVAL;
    if (total == 0) {
        *p_value = 1;
        return PM_OK;
    }
    double x2 = 0;
    for (size_t i = 0; i < k; i++) {
        if (weights[i] <= 0) continue;
        double expected = weights[i] / total_weight * total, d = (double)units[i] - expected;
        x2 += d * d / expected;
    }
    *p_value = pm_stats_chisq_sf(x2, (double)(k - 1));
    return PM_OK;
}

/*
 * stats.h: the statistics of split tests. An experiment shows visitors one
 * of several options (arms); each option is compared with the control on a
 * goal metric, from per-arm sufficient statistics only (what the store can
 * sum on the fly): visitors and conversions for a proportion (CVR), or
 * units, sum and sum of squares for a mean (EPC, revenue per visitor).
 *
 * Three analyses, reproducing GrowthBook's gbstats engine formula for
 * formula (docs/statistics.md derives each one):
 *   - fixed-horizon frequentist: Welch's two-sample t-test, delta-method
 *     variance for relative uplift, Welch-Satterthwaite degrees of freedom;
 *   - sequential: always-valid p-value and confidence sequence (mixture
 *     SPRT, Waudby-Smith et al.), safe to look at every day;
 *   - Bayesian: Gaussian posterior of the effect with an optional Gaussian
 *     prior: chance to beat control and expected loss (risk).
 * plus the sample-ratio-mismatch (SRM) check of the observed split.
 *
 * Everything here is a pure function of its arguments: no global state,
 * no allocation, thread-safe. Inputs are borrowed; results are written to
 * caller-owned structs.
 */
#ifndef PM_STATS_H
#define PM_STATS_H

#include "pm/common.h"

/* --- inputs ----------------------------------------------------------------- */

/* A proportion metric for one arm: units (visitors) and how many of them
 * converted. */
typedef struct pm_stats_proportion_s {
    uint64_t visitors;
    uint64_t conversions;
} pm_stats_proportion_t;

/* A mean metric for one arm (revenue per visitor, EPC): units, and the sum
 * and sum of squares of the per-unit values (units without a value count 0). */
typedef struct pm_stats_mean_s {
    uint64_t n;
    double sum;
    double sum_squares;
} pm_stats_mean_t;

/* What every test works on: an arm's unit count, sample mean and sample
 * variance (gbstats' Statistic). Build it with pm_stats_from_*. */
typedef struct pm_stats_sample_s {
    double n;
    double mean;
    double variance;
} pm_stats_sample_t;

/* mean = conversions / visitors, variance = mean (1 - mean) (0/0 gives 0).
 * PM_EINVAL when conversions > visitors. */
int pm_stats_from_proportion(const pm_stats_proportion_t *p, pm_stats_sample_t *out) PM_MUST_CHECK;
/* mean = sum / n, variance = (sum_squares - sum^2 / n) / (n - 1), 0 for
 * n <= 1 (the sample variance; a negative one, from inconsistent sums, is
 * kept so the tests can report it). PM_EINVAL for non-finite sums. */
int pm_stats_from_mean(const pm_stats_mean_t *m, pm_stats_sample_t *out) PM_MUST_CHECK;

typedef enum pm_stats_difference_e {
    PM_STATS_RELATIVE = 0, /* (mean_b - mean_a) / |mean_a|: "uplift" */
    PM_STATS_ABSOLUTE = 1, /* mean_b - mean_a */
} pm_stats_difference_t;

#define PM_STATS_DEFAULT_ALPHA 0.05
#define PM_STATS_DEFAULT_TUNING 5000.0 /* gbstats' default N* for sequential tests */

/* Options shared by the analyses; PM_STATS_OPTIONS_INIT gives gbstats'
 * defaults (relative, 95%, N* = 5000, flat prior). */
typedef struct pm_stats_options_s {
    pm_stats_difference_t difference;
    double alpha;            /* 1 - confidence level, in (0, 1) */
    double tuning_parameter; /* sequential: N*, the total sample size where the CI is tightest, > 0 */
    bool prior_proper;       /* Bayesian: use the Gaussian prior below (else flat/improper) */
    double prior_mean;       /* on the relative scale (gbstats prior_type "relative"); an */
    double prior_variance;   /* absolute analysis scales them by |mean_a| and mean_a^2; > 0 */
    bool inverse;            /* lower is better (e.g. CPA): swaps chance to win and the risks */
} pm_stats_options_t;

#define PM_STATS_OPTIONS_INIT                                                                                  \
    ((pm_stats_options_t){.difference = PM_STATS_RELATIVE, .alpha = PM_STATS_DEFAULT_ALPHA,                     \
                          .tuning_parameter = PM_STATS_DEFAULT_TUNING, .prior_variance = 1})

/* --- results ---------------------------------------------------------------- */

/* Why a comparison is uninformative. gbstats' "default output" cases: the
 * result then holds expected 0, p-value 1, chance to win 0.5 and the
 * other figures NaN (not computable). */
typedef enum pm_stats_status_e {
    PM_STATS_OK = 0,
    PM_STATS_NO_UNITS,      /* an arm has no units */
    PM_STATS_ZERO_VARIANCE, /* an arm's variance is <= 0 (e.g. 0 conversions, or n = 1) */
    PM_STATS_BASELINE_ZERO, /* relative difference with a control mean of 0 */
} pm_stats_status_t;

/* A short static description of a status. Can't fail. */
const char *pm_stats_status_str(pm_stats_status_t s);

/* One treatment-vs-control comparison. Figures an analysis does not
 * produce are NaN (e.g. chance_to_win of a t-test). */
typedef struct pm_stats_result_s {
    pm_stats_status_t status;
    double expected;        /* point estimate (Bayesian: posterior mean) of the difference */
    double ci_low, ci_high; /* (1 - alpha) confidence / credible interval */
    double stddev;          /* standard error of the estimate (posterior sd) */
    double p_value;         /* two-sided; frequentist and sequential */
    double dof;             /* Welch-Satterthwaite degrees of freedom (frequentist) */
    double chance_to_win;   /* Bayesian: P(treatment better than control) */
    double risk_control;    /* Bayesian expected loss of choosing control: E[max(delta, 0)] */
    double risk_treatment;  /* ... of choosing the treatment: E[max(-delta, 0)] */
} pm_stats_result_t;

/* --- analyses ---------------------------------------------------------------- */

/* Each compares treatment `b` with control `a` and fills `out` (always,
 * also on an uninformative status). PM_EINVAL (and `out` all NaN with
 * status NO_UNITS) for invalid arguments: NaN/infinite or negative sample
 * fields, alpha outside (0, 1), tuning <= 0, a proper prior with variance
 * <= 0 or non-finite. */

/* Fixed-horizon two-sided Welch t-test (gbstats TwoSidedTTest). */
int pm_stats_ttest(const pm_stats_sample_t *a, const pm_stats_sample_t *b, const pm_stats_options_t *opt,
                   pm_stats_result_t *out) PM_MUST_CHECK;
/* Always-valid sequential test (gbstats SequentialTwoSidedTTest). */
int pm_stats_sequential(const pm_stats_sample_t *a, const pm_stats_sample_t *b, const pm_stats_options_t *opt,
                        pm_stats_result_t *out) PM_MUST_CHECK;
/* Bayesian Gaussian effect model (gbstats EffectBayesianABTest). */
int pm_stats_bayes(const pm_stats_sample_t *a, const pm_stats_sample_t *b, const pm_stats_options_t *opt,
                   pm_stats_result_t *out) PM_MUST_CHECK;

/* What a report shows for one option against the control: all three. */
typedef struct pm_stats_comparison_s {
    pm_stats_result_t frequentist;
    pm_stats_result_t sequential;
    pm_stats_result_t bayesian;
} pm_stats_comparison_t;

/* The three analyses of `b` against control `a` with the same options.
 * PM_OK, or the first error of the three (each result is still filled). */
int pm_stats_compare(const pm_stats_sample_t *a, const pm_stats_sample_t *b, const pm_stats_options_t *opt,
                     pm_stats_comparison_t *out) PM_MUST_CHECK;

/* --- sample ratio mismatch ------------------------------------------------------ */

#define PM_STATS_SRM_THRESHOLD 0.001 /* warn when the SRM p-value is below this */

/* Chi-square goodness-of-fit p-value of the observed units per arm against
 * the configured weights (any positive scale; arms with weight <= 0 are left
 * out of the sum, df stays k - 1, as gbstats check_srm). 1 when no units.
 * PM_EINVAL for k < 2, NaN/negative/infinite weights, or all weights <= 0. */
int pm_stats_srm(const uint64_t *units, const double *weights, size_t k, double *p_value) PM_MUST_CHECK;

#endif

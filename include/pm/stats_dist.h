/*
 * stats_dist.h: the probability distributions the experiment statistics
 * need: the standard normal, Student's t (any real degrees of freedom, as
 * Welch's test produces) and the chi-square upper tail (for the
 * sample-ratio-mismatch check), with the special functions under them.
 *
 * Written here rather than taken from a library: the handful of functions
 * fit in a few hundred lines, and the figures must agree with SciPy (which
 * gbstats uses) to far better than the 1e-4 our reference vectors ask for.
 * docs/statistics.md gives each algorithm and its source, and why GSL was
 * not used.
 *
 * Every function is pure, thread-safe, can't fail and never allocates:
 * arguments outside the domain (NaN, df <= 0, p outside [0, 1]) give NaN;
 * infinite arguments give the limits. Upper tails (`_sf`) are computed
 * directly, not as 1 - cdf, so tiny p-values keep their precision.
 */
#ifndef PM_STATS_DIST_H
#define PM_STATS_DIST_H

/* Standard normal density, P(Z <= x), P(Z > x) (via erfc, so full relative
 * precision in both tails). */
double pm_stats_norm_pdf(double x);
double pm_stats_norm_cdf(double x);
double pm_stats_norm_sf(double x);
/* The x with P(Z <= x) = p (Wichura's AS 241, relative error ~1e-16);
 * -inf at 0, +inf at 1. */
double pm_stats_norm_ppf(double p);

/* Student's t with `df` > 0 degrees of freedom (df = +inf is the normal):
 * density, P(T <= t), P(T > t), and the quantile (P(T <= t) = p). */
double pm_stats_t_pdf(double t, double df);
double pm_stats_t_cdf(double t, double df);
double pm_stats_t_sf(double t, double df);
double pm_stats_t_ppf(double p, double df);

/* P(X > x) for X ~ chi-square with `df` > 0 degrees of freedom. */
double pm_stats_chisq_sf(double x, double df);

/* The regularized incomplete beta function I_x(a, b), a, b > 0, x in [0, 1]. */
double pm_stats_beta_inc(double a, double b, double x);
/* The regularized upper incomplete gamma function Q(a, x), a > 0, x >= 0. */
double pm_stats_gamma_q(double a, double x);

#endif

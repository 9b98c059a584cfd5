/*
 * dist.c: normal, Student-t and chi-square distributions (pm/stats_dist.h).
 *
 * The normal comes from libm's erfc (both tails at full relative precision)
 * and Wichura's AS 241 for the quantile. Student's t and the chi-square tail
 * reduce to the regularized incomplete beta and gamma functions, evaluated
 * with the continued fractions of Numerical Recipes (modified Lentz), which
 * converge for any real degrees of freedom. The t quantile is a safeguarded
 * Newton iteration on the upper tail, bracketed so it cannot wander.
 *
 * lgamma_r is used instead of lgamma: lgamma writes the global `signgam`,
 * a data race when the server calls these from several event loops.
 */
#include "pm/stats_dist.h"

#include <math.h>
#include <stdbool.h>

#define EPS 1e-16        /* continued-fraction convergence: below double precision */
#define TINY 1e-300      /* Lentz: keeps denominators off zero */
#define MAX_ITER 1000000 /* cf terms; ~sqrt(a) are needed, so only huge df get near */
#define FISHER_DF 1e5       /* from here on, Fisher's expansion near the centre */
#define T_NORMAL_DF 1e12    /* past this, only tails below 1e-300 are left to the normal */

static double log_gamma(double x)
{
    int sign;
    return lgamma_r(x, &sign);
}

/* --- normal ---------------------------------------------------------------- */

double pm_stats_norm_pdf(double x) { return exp(-0.5 * x * x) / sqrt(2 * M_PI); }

double pm_stats_norm_cdf(double x) { return 0.5 * erfc(-x / M_SQRT2); }

double pm_stats_norm_sf(double x) { return 0.5 * erfc(x / M_SQRT2); }

static double poly7(const double c[8], double r)
{
    return ((((((c[7] * r + c[6]) * r + c[5]) * r + c[4]) * r + c[3]) * r + c[2]) * r + c[1]) * r + c[0];
}

/* Wichura, M. J. (1988) Algorithm AS 241: The percentage points of the
 * normal distribution. Applied Statistics 37(3), 477-484 (PPND16). */
double pm_stats_norm_ppf(double p)
{
    static const double a[8] = {3.3871328727963666080e0, 1.3314166789178437745e+2, 1.9715909503065514427e+3,
                                1.3731693765509461125e+4, 4.5921953931549871457e+4, 6.7265770927008700853e+4,
                                3.3430575583588128105e+4, 2.5090809287301226727e+3};
    static const double b[8] = {1.0, 4.2313330701600911252e+1, 6.8718700749205790830e+2, 5.3941960214247511077e+3,
                                2.1213794301586595867e+4, 3.9307895800092710610e+4, 2.8729085735721942674e+4,
                                5.2264952788528545610e+3};
    static const double c[8] = {1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
                                3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
                                2.27238449892691845833e-2, 7.74545014278341407640e-4};
    static const double d[8] = {1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
                                1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
                                1.05075007164441684324e-9};
    static const double e[8] = {6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
                                2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
                                2.71155556874348757815e-5, 2.01033439929228813265e-7};
    static const double f[8] = {1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
                                7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
                                2.04426310338993978564e-15};
    if (isnan(p) || p < 0 || p > 1) return NAN;
    if (p == 0) return -INFINITY;
    if (p == 1) return INFINITY;
    double q = p - 0.5;
    if (fabs(q) <= 0.425) {
        double r = 0.180625 - q * q;
        return q * poly7(a, r) / poly7(b, r);
    }
    double r = sqrt(-log(q < 0 ? p : 1 - p));
    double x = r <= 5 ? poly7(c, r - 1.6) / poly7(d, r - 1.6) : poly7(e, r - 5) / poly7(f, r - 5);
    return q < 0 ? -x : x;
}

/* --- incomplete beta and gamma -------------------------------------------- */

static double lentz_guard(double v) { return fabs(v) < TINY ? TINY : v; }

/* The continued fraction for I_x(a, b) (Numerical Recipes betacf); it
 * converges fast for x < (a + 1) / (a + b + 2). */
static double beta_cf(double a, double b, double x)
{
    double c = 1, d = 1 / lentz_guard(1 - (a + b) * x / (a + 1)), h = d;
    for (int m = 1; m <= MAX_ITER; m++) {
        double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((a - 1 + m2) * (a + m2));
        d = 1 / lentz_guard(1 + aa * d);
        c = lentz_guard(1 + aa / c);
        h *= d * c;
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1 + m2));
        d = 1 / lentz_guard(1 + aa * d);
        c = lentz_guard(1 + aa / c);
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < EPS) break;
    }
    return h;
}

/* lgamma(x) minus its Stirling approximation (x - 1/2) ln x - x + ln(2 pi)/2,
 * for x >= 10 (the series' error is then below 1e-16). */
static double stirling_rest(double x)
{
    double r = 1 / x, r2 = r * r;
    return r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 / 1680)));
}

/* ln B(a, b). For a large argument, lgamma(a) - lgamma(a + b) is formed
 * without the cancellation of two huge values (at df = 1e8 the naive sum
 * loses 1e-7 of the result): -b ln a - (a + b - 1/2) log1p(b / a) + b plus
 * the Stirling remainders. */
static double log_beta(double a, double b)
{
    double big = fmax(a, b), small = fmin(a, b);
    if (big < 10) return log_gamma(a) + log_gamma(b) - log_gamma(a + b);
    return log_gamma(small) - small * log(big) - (big + small - 0.5) * log1p(small / big) + small +
           stirling_rest(big) - stirling_rest(big + small);
}

/* I_x(a, b) given both x and y = 1 - x, so a caller that knows the small one
 * exactly (the t tail does) loses nothing to the subtraction. */
static double beta_inc_xy(double a, double b, double x, double y)
{
    if (x <= 0) return 0;
    if (y <= 0) return 1;
    double lx = x < 0.5 ? log(x) : log1p(-y), ly = y < 0.5 ? log(y) : log1p(-x);
    double front = exp(a * lx + b * ly - log_beta(a, b));
    if (x < (a + 1) / (a + b + 2)) return front * beta_cf(a, b, x) / a;
    return 1 - front * beta_cf(b, a, y) / b;
}

double pm_stats_beta_inc(double a, double b, double x)
{
    if (isnan(a) || isnan(b) || isnan(x) || a <= 0 || b <= 0 || x < 0 || x > 1) return NAN;
    if (isinf(a) || isinf(b)) return NAN;
    return beta_inc_xy(a, b, x, 1 - x);
}

double pm_stats_gamma_q(double a, double x)
{
    if (isnan(a) || isnan(x) || a <= 0 || x < 0 || isinf(a)) return NAN;
    if (x == 0) return 1;
    if (isinf(x)) return 0;
    double front = exp(-x + a * log(x) - log_gamma(a));
    if (x < a + 1) { /* series for P(a, x), then Q = 1 - P */
        double ap = a, del = 1 / a, sum = del;
        for (int n = 0; n < MAX_ITER && fabs(del) >= fabs(sum) * EPS; n++) {
            ap += 1;
            del *= x / ap;
            sum += del;
        }
        return 1 - sum * front;
    }
    /* continued fraction for Q(a, x) (Numerical Recipes gcf) */
    double b = x + 1 - a, c = 1 / TINY, d = 1 / b, h = d;
    for (int i = 1; i <= MAX_ITER; i++) {
        double an = -i * (i - a);
        b += 2;
        d = 1 / lentz_guard(an * d + b);
        c = lentz_guard(b + an / c);
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < EPS) break;
    }
    return front * h;
}

double pm_stats_chisq_sf(double x, double df)
{
    if (isnan(x) || isnan(df) || df <= 0) return NAN;
    if (x <= 0) return 1;
    return pm_stats_gamma_q(df / 2, x / 2);
}

/* --- Student's t ------------------------------------------------------------ */

/* P(T > t) for large df from Fisher's expansion in powers of 1/df (Fisher
 * 1926; Johnson, Kotz & Balakrishnan, Continuous Univariate Distributions
 * vol. 2, 28.4): Q(t) + phi(t) (g1/df + g2/df^2 + g3/df^3). Where it is
 * used (df >= FISHER_DF and t^4 < df / 1000) the next term is below 1e-15
 * relative; the continued fraction there would lose ~1e-16 df / t^2, because
 * x = df / (df + t^2) is within rounding of 1. */
static double t_tail_fisher(double t, double df)
{
    double t2 = t * t, t3 = t2 * t, t5 = t3 * t2, t7 = t5 * t2, t9 = t7 * t2, t11 = t9 * t2;
    double g1 = (t3 + t) / 4;
    double g2 = (3 * t7 - 7 * t5 - 5 * t3 - 3 * t) / 96;
    double g3 = (t11 - 11 * t9 + 14 * t7 + 6 * t5 - 3 * t3 - 15 * t) / 384;
    return pm_stats_norm_sf(t) + pm_stats_norm_pdf(t) * ((g3 / df + g2) / df + g1) / df;
}

/* P(T > t) for t >= 0: 0.5 * I_{df/(df+t^2)}(df/2, 1/2). */
static double t_tail(double t, double df)
{
    if (isinf(t)) return 0;
    if (isinf(df)) return pm_stats_norm_sf(t);
    double t2 = t * t;
    if (df >= FISHER_DF && t2 * t2 < df / 1000) return t_tail_fisher(t, df);
    if (df > T_NORMAL_DF) return pm_stats_norm_sf(t); /* t > 178 here: both tails are below 1e-300 */
    return 0.5 * beta_inc_xy(df / 2, 0.5, df / (df + t2), t2 / (df + t2));
}

static bool t_args_bad(double t, double df) { return isnan(t) || isnan(df) || df <= 0; }

double pm_stats_t_pdf(double t, double df)
{
    if (t_args_bad(t, df)) return NAN;
    if (isinf(df)) return pm_stats_norm_pdf(t);
    /* Gamma((df+1)/2) / (Gamma(df/2) sqrt(df pi)) = 1 / (B(df/2, 1/2) sqrt(df)) */
    return exp(-log_beta(df / 2, 0.5) - 0.5 * log(df) - (df + 1) / 2 * log1p(t * t / df));
}

double pm_stats_t_sf(double t, double df)
{
    if (t_args_bad(t, df)) return NAN;
    return t >= 0 ? t_tail(t, df) : 1 - t_tail(-t, df);
}

double pm_stats_t_cdf(double t, double df)
{
    if (t_args_bad(t, df)) return NAN;
    return t <= 0 ? t_tail(-t, df) : 1 - t_tail(t, df);
}

/* Initial guess for the t > 0 with P(T > t) = q: the normal quantile with
 * the first Cornish-Fisher terms (Abramowitz & Stegun 26.7.5). */
static double t_guess(double q, double df)
{
    double z = -pm_stats_norm_ppf(q), z3 = z * z * z, z5 = z3 * z * z;
    return z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df * df);
}

double pm_stats_t_ppf(double p, double df)
{
    if (isnan(p) || isnan(df) || df <= 0 || p < 0 || p > 1) return NAN;
    if (p == 0) return -INFINITY;
    if (p == 1) return INFINITY;
    if (p == 0.5) return 0;
    if (isinf(df)) return pm_stats_norm_ppf(p);
    double q = p < 0.5 ? p : 1 - p; /* solve P(T > t) = q for t > 0 */
    double lo = 0, hi = fmax(t_guess(q, df), 1);
    while (t_tail(hi, df) > q) { /* widen the bracket: tail(lo) >= q > tail(hi) */
        lo = hi;
        hi *= 2;
        if (isinf(hi)) return p < 0.5 ? -INFINITY : INFINITY;
    }
    double t = fmin(fmax(t_guess(q, df), lo), hi);
    for (int i = 0; i < 200; i++) {
        double f = t_tail(t, df) - q;
        if (f == 0) break;
        if (f > 0) lo = t;
        else hi = t;
        double next = t + f / pm_stats_t_pdf(t, df);
        if (!(next > lo && next < hi)) next = 0.5 * (lo + hi); /* Newton left the bracket: bisect */
        bool done = fabs(next - t) <= 4 * EPS * next || hi - lo <= 4 * EPS * hi;
        t = next;
        if (done) break;
    }
    return p < 0.5 ? -t : t;
}

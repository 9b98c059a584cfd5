/*
 * json.c: the analyze document: read, validate, compute, write back
 * (pm/stats_json.h).
 *
 * One pass validates every case and computes its figures into the jansson
 * tree, keeping a small record per case; then the tree is printed (our own
 * printer: reals in their shortest round-trip form so inputs come back as
 * they were written, short arrays and flat objects on one line) or the
 * records become a table. Input is hostile: every field is type-checked and
 * named in the error, sizes are capped, NaN cannot get in (jansson rejects
 * it) and a figure that overflows comes out as null.
 */
#include "pm/stats_json.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pm/stats.h"
#include "pm/stats_assign.h"

#define PATH_MAX_LEN 160
#define MAX_COUNT 9007199254740992.0 /* 2^53: counts stay exact as doubles */

typedef enum section_e { SEC_FREQUENTIST, SEC_SEQUENTIAL, SEC_BAYESIAN, SEC_SRM, SEC_COUNT } section_t;

static const char *const section_names[SEC_COUNT] = {"frequentist", "sequential", "bayesian", "srm"};

/* What a case turned into, for the table. Borrowed strings live in the tree. */
typedef struct case_rec_s {
    section_t section;
    const char *name;
    const json_t *node;
    bool proportion;
    pm_stats_options_t opt;
    pm_stats_sample_t a, b;
    pm_stats_result_t res;
    int rc;         /* the analysis: PM_OK or PM_ERANGE (figures null) */
    double srm_p;   /* SRM cases */
} case_rec_t;

typedef struct ctx_s {
    char *err;
    size_t err_len;
    case_rec_t *recs;
    size_t n_recs;
} ctx_t;

static int fail(ctx_t *c, const char *path, const char *fmt, ...) PM_PRINTF(3, 4);

static int fail(ctx_t *c, const char *path, const char *fmt, ...)
{
    if (c->err_len == 0) return PM_EINVAL;
    int n = snprintf(c->err, c->err_len, "%s: ", path);
    if (n >= 0 && (size_t)n < c->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return PM_EINVAL;
}

/* base + suffix into buf (cut to fit: paths are short, cases are named by index) */
static void subpath(char *buf, size_t size, const char *base, const char *suffix)
{
    size_t lb = strnlen(base, size - 1), ls = strnlen(suffix, size - 1 - lb);
    memcpy(buf, base, lb);
    memcpy(buf + lb, suffix, ls);
    buf[lb + ls] = '\0';
}

/* --- field readers ------------------------------------------------------------- */

static int read_count(ctx_t *c, const json_t *v, const char *path, uint64_t *out)
{
    double d = json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ? json_real_value(v) : -1;
    if (!json_is_number(v) || d < 0 || d > MAX_COUNT || d != floor(d))
        return fail(c, path, "must be a whole number between 0 and 2^53");
    *out = (uint64_t)d;
    return PM_OK;
}

static int read_number(ctx_t *c, const json_t *v, const char *path, double *out)
{
    if (!json_is_number(v)) return fail(c, path, "must be a number");
    *out = json_number_value(v);
    return isfinite(*out) ? PM_OK : fail(c, path, "must be a finite number");
}

/* Keys of `o` must all be in `allowed` (NULL-terminated). */
static int only_keys(ctx_t *c, const json_t *o, const char *path, const char *const *allowed, const char *expected)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++) ok = strcmp(key, allowed[i]) == 0;
        if (!ok) return fail(c, path, "unknown field \"%s\" (expected %s)", key, expected);
    }
    return PM_OK;
}

/* An arm: {"n", "conversions"} (proportion) or {"n", "sum", "sum_squares"} (mean). */
static int read_arm(ctx_t *c, const json_t *arm, const char *path, bool *proportion, pm_stats_sample_t *out)
{
    static const char *const keys[] = {"n", "conversions", "sum", "sum_squares", NULL};
    char p[PATH_MAX_LEN];
    uint64_t n = 0, conv = 0;
    int rc;
    if (!json_is_object(arm))
        return fail(c, path, "must be an object: {\"n\", \"conversions\"} or {\"n\", \"sum\", \"sum_squares\"}");
    if ((rc = only_keys(c, arm, path, keys, "n, conversions, sum, sum_squares")) != PM_OK) return rc;
    const json_t *jn = json_object_get(arm, "n"), *jc = json_object_get(arm, "conversions");
    const json_t *js = json_object_get(arm, "sum"), *jss = json_object_get(arm, "sum_squares");
    subpath(p, sizeof(p), path, ".n");
    if (jn == NULL) return fail(c, p, "missing (the number of units)");
    if ((rc = read_count(c, jn, p, &n)) != PM_OK) return rc;
    if (jc != NULL && (js != NULL || jss != NULL))
        return fail(c, path, "has both conversions (a proportion) and sum/sum_squares (a mean)");
    if (jc != NULL) {
        subpath(p, sizeof(p), path, ".conversions");
        if ((rc = read_count(c, jc, p, &conv)) != PM_OK) return rc;
        if (conv > n) return fail(c, p, "more conversions than n");
        *proportion = true;
        return pm_stats_from_proportion(&(pm_stats_proportion_t){n, conv}, out);
    }
    if (js == NULL || jss == NULL)
        return fail(c, path, "needs conversions (a proportion) or both sum and sum_squares (a mean)");
    pm_stats_mean_t m = {.n = n};
    subpath(p, sizeof(p), path, ".sum");
    if ((rc = read_number(c, js, p, &m.sum)) != PM_OK) return rc;
    subpath(p, sizeof(p), path, ".sum_squares");
    if ((rc = read_number(c, jss, p, &m.sum_squares)) != PM_OK) return rc;
    if (m.sum_squares < 0) return fail(c, p, "must be >= 0");
    *proportion = false;
    rc = pm_stats_from_mean(&m, out);
    return rc == PM_OK ? PM_OK : fail(c, path, "sum and sum_squares are too large to analyse");
}

static int read_prior(ctx_t *c, const json_t *prior, const char *path, pm_stats_options_t *opt)
{
    static const char *const keys[] = {"mean", "variance", "proper", NULL};
    char p[PATH_MAX_LEN];
    int rc;
    if (!json_is_object(prior)) return fail(c, path, "must be an object {\"mean\", \"variance\"}");
    if ((rc = only_keys(c, prior, path, keys, "mean, variance, proper")) != PM_OK) return rc;
    const json_t *jm = json_object_get(prior, "mean"), *jv = json_object_get(prior, "variance");
    const json_t *jp = json_object_get(prior, "proper");
    subpath(p, sizeof(p), path, ".mean");
    if (jm == NULL) return fail(c, p, "missing");
    if ((rc = read_number(c, jm, p, &opt->prior_mean)) != PM_OK) return rc;
    subpath(p, sizeof(p), path, ".variance");
    if (jv == NULL || read_number(c, jv, p, &opt->prior_variance) != PM_OK || !(opt->prior_variance > 0))
        return fail(c, p, "must be a number > 0");
    subpath(p, sizeof(p), path, ".proper");
    if (jp != NULL && !json_is_boolean(jp)) return fail(c, p, "must be true or false");
    opt->prior_proper = jp == NULL || json_is_true(jp);
    return PM_OK;
}

/* name, difference, alpha and the section's own options. */
static int read_options(ctx_t *c, const json_t *cs, const char *path, case_rec_t *r)
{
    char p[PATH_MAX_LEN];
    const json_t *v;
    int rc;
    r->opt = PM_STATS_OPTIONS_INIT;
    if ((v = json_object_get(cs, "name")) != NULL && !json_is_string(v))
        return fail(c, path, "\"name\" must be a string");
    r->name = json_string_value(v);
    if ((v = json_object_get(cs, "difference")) != NULL) {
        const char *d = json_string_value(v);
        if (d == NULL || (strcmp(d, "relative") != 0 && strcmp(d, "absolute") != 0))
            return fail(c, path, "\"difference\" must be \"relative\" or \"absolute\"");
        r->opt.difference = strcmp(d, "absolute") == 0 ? PM_STATS_ABSOLUTE : PM_STATS_RELATIVE;
    }
    subpath(p, sizeof(p), path, ".alpha");
    if ((v = json_object_get(cs, "alpha")) != NULL &&
        (read_number(c, v, p, &r->opt.alpha) != PM_OK || !(r->opt.alpha > 0 && r->opt.alpha < 1)))
        return fail(c, p, "must be a number between 0 and 1 (0.05 for 95%% intervals)");
    subpath(p, sizeof(p), path, ".tuning_parameter");
    if (r->section == SEC_SEQUENTIAL && (v = json_object_get(cs, "tuning_parameter")) != NULL &&
        (read_number(c, v, p, &r->opt.tuning_parameter) != PM_OK || !(r->opt.tuning_parameter > 0)))
        return fail(c, p, "must be a number > 0 (N*, the total sample size to tune for)");
    if (r->section != SEC_BAYESIAN) return PM_OK;
    subpath(p, sizeof(p), path, ".prior");
    if ((v = json_object_get(cs, "prior")) != NULL && !json_is_null(v) &&
        (rc = read_prior(c, v, p, &r->opt)) != PM_OK)
        return rc;
    if ((v = json_object_get(cs, "inverse")) != NULL && !json_is_boolean(v))
        return fail(c, path, "\"inverse\" must be true or false");
    r->opt.inverse = json_is_true(v);
    return PM_OK;
}

/* --- writing the figures back -------------------------------------------------------- */

static json_t *num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static int put(json_t *o, const char *key, json_t *v) { return json_object_set_new(o, key, v) == 0 ? PM_OK : -ENOMEM; }

static int put_pair(json_t *o, const char *key, double x, double y)
{
    json_t *a = json_array();
    if (a == NULL || json_array_append_new(a, num(x)) != 0 || json_array_append_new(a, num(y)) != 0) {
        json_decref(a);
        return -ENOMEM;
    }
    return put(o, key, a);
}

static int write_comparison(json_t *cs, const case_rec_t *r)
{
    const pm_stats_result_t *res = &r->res;
    bool bayes = r->section == SEC_BAYESIAN;
    int rc = put(cs, "expected", num(res->expected));
    if (r->rc == PM_OK && res->status != PM_STATS_OK) { /* gbstats' default output: the figures that apply */
        json_object_del(cs, "ci");
        json_object_del(cs, "stddev");
        if (bayes) json_object_del(cs, "risk");
        return rc == PM_OK ? put(cs, bayes ? "chance_to_win" : "p_value", num(bayes ? 0.5 : 1)) : rc;
    }
    if (rc == PM_OK) rc = put_pair(cs, "ci", res->ci_low, res->ci_high);
    if (rc == PM_OK) rc = put(cs, "stddev", num(res->stddev));
    if (rc == PM_OK && !bayes) rc = put(cs, "p_value", num(res->p_value));
    if (rc == PM_OK && bayes) rc = put(cs, "chance_to_win", num(res->chance_to_win));
    if (rc == PM_OK && bayes) rc = put_pair(cs, "risk", res->risk_control, res->risk_treatment);
    return rc;
}

/* --- cases --------------------------------------------------------------------- */

static int analyze_comparison(ctx_t *c, json_t *cs, const char *path, case_rec_t *r)
{
    char p[PATH_MAX_LEN];
    bool prop_b = false;
    int rc = read_options(c, cs, path, r);
    subpath(p, sizeof(p), path, ".a");
    if (rc == PM_OK && json_object_get(cs, "a") == NULL) return fail(c, p, "missing (the control arm)");
    if (rc == PM_OK) rc = read_arm(c, json_object_get(cs, "a"), p, &r->proportion, &r->a);
    subpath(p, sizeof(p), path, ".b");
    if (rc == PM_OK && json_object_get(cs, "b") == NULL) return fail(c, p, "missing (the treatment arm)");
    if (rc == PM_OK) rc = read_arm(c, json_object_get(cs, "b"), p, &prop_b, &r->b);
    if (rc != PM_OK) return rc;
    if (prop_b != r->proportion)
        return fail(c, p, "is a %s but a is a %s", prop_b ? "proportion" : "mean", prop_b ? "mean" : "proportion");
    switch (r->section) {
    case SEC_FREQUENTIST: r->rc = pm_stats_ttest(&r->a, &r->b, &r->opt, &r->res); break;
    case SEC_SEQUENTIAL: r->rc = pm_stats_sequential(&r->a, &r->b, &r->opt, &r->res); break;
    default: r->rc = pm_stats_bayes(&r->a, &r->b, &r->opt, &r->res); break;
    }
    if (r->rc != PM_OK && r->rc != PM_ERANGE) return fail(c, path, "cannot be analysed: %s", pm_strerror(r->rc));
    return write_comparison(cs, r);
}

static int read_srm_arrays(ctx_t *c, const json_t *cs, const char *path, uint64_t *units, double *weights,
                           size_t *k)
{
    char p[PATH_MAX_LEN];
    const json_t *jv = json_object_get(cs, "visitors"), *jw = json_object_get(cs, "weights");
    int rc;
    subpath(p, sizeof(p), path, ".visitors");
    if (!json_is_array(jv) || json_array_size(jv) < 2 || json_array_size(jv) > PM_STATS_MAX_VARIATIONS)
        return fail(c, p, "must be a list of 2 to %d visitor counts, one per arm", PM_STATS_MAX_VARIATIONS);
    *k = json_array_size(jv);
    subpath(p, sizeof(p), path, ".weights");
    if (!json_is_array(jw) || json_array_size(jw) != *k)
        return fail(c, p, "must be a list of %zu weights, one per arm", *k);
    for (size_t i = 0; i < *k; i++) {
        snprintf(p, sizeof(p), "%s.visitors[%zu]", path, i);
        if ((rc = read_count(c, json_array_get(jv, i), p, &units[i])) != PM_OK) return rc;
        snprintf(p, sizeof(p), "%s.weights[%zu]", path, i);
        if ((rc = read_number(c, json_array_get(jw, i), p, &weights[i])) != PM_OK) return rc;
        if (weights[i] < 0) return fail(c, p, "must be >= 0");
    }
    return PM_OK;
}

static int analyze_srm(ctx_t *c, json_t *cs, const char *path, case_rec_t *r)
{
    uint64_t units[PM_STATS_MAX_VARIATIONS];
    double weights[PM_STATS_MAX_VARIATIONS];
    size_t k = 0;
    const json_t *v = json_object_get(cs, "name");
    if (v != NULL && !json_is_string(v)) return fail(c, path, "\"name\" must be a string");
    r->name = json_string_value(v);
    int rc = read_srm_arrays(c, cs, path, units, weights, &k);
    if (rc != PM_OK) return rc;
    if (pm_stats_srm(units, weights, k, &r->srm_p) != PM_OK) return fail(c, path, "weights: need one > 0");
    rc = put(cs, "p_value", num(r->srm_p));
    return rc == PM_OK ? put(cs, "mismatch", json_boolean(r->srm_p < PM_STATS_SRM_THRESHOLD)) : rc;
}

static int analyze_section(ctx_t *c, json_t *root, section_t s)
{
    json_t *list = json_object_get(root, section_names[s]);
    char path[PATH_MAX_LEN];
    if (list == NULL) return PM_OK;
    if (!json_is_array(list)) return fail(c, section_names[s], "must be a list of cases");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *cs = json_array_get(list, i);
        snprintf(path, sizeof(path), "%s[%zu]", section_names[s], i);
        if (!json_is_object(cs)) return fail(c, path, "must be an object");
        case_rec_t *r = &c->recs[c->n_recs++];
        *r = (case_rec_t){.section = s, .node = cs};
        int rc = s == SEC_SRM ? analyze_srm(c, cs, path, r) : analyze_comparison(c, cs, path, r);
        if (rc != PM_OK) return rc;
    }
    return PM_OK;
}

/* --- JSON printer ---------------------------------------------------------------- */

/* The shortest of %.15g..%.17g that reads back as the same double, so
 * 52377.9767 stays 52377.9767; always with a '.' or exponent, so a real
 * stays a real (1.0, as gbstats' vectors write it). */
static void format_real(char *buf, size_t size, double x)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    if (strpbrk(buf, ".eEn") == NULL) strncat(buf, ".0", size - strlen(buf) - 1);
}

static bool is_scalar(const json_t *v) { return !json_is_object(v) && !json_is_array(v); }

static bool all_scalar(const json_t *v)
{
    size_t i;
    const char *k;
    json_t *e;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e) if (!is_scalar(e)) return false;
    } else {
        json_object_foreach((json_t *)v, k, e) if (!is_scalar(e)) return false;
    }
    return true;
}

static int print_value(pm_buf_t *b, const json_t *v, int depth);

static int print_string(pm_buf_t *b, const char *s)
{
    json_t *str = json_string(s);
    char *enc = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
    int rc = enc ? pm_buf_appends(b, enc) : -ENOMEM;
    free(enc);
    json_decref(str);
    return rc;
}

static int print_indent(pm_buf_t *b, bool inline_, int depth)
{
    if (inline_) return PM_OK;
    int rc = pm_buf_appendc(b, '\n');
    for (int i = 0; i < depth && rc == PM_OK; i++) rc = pm_buf_appends(b, "  ");
    return rc;
}

static int print_container(pm_buf_t *b, const json_t *v, int depth)
{
    bool obj = json_is_object(v), inline_ = all_scalar(v);
    size_t n = obj ? json_object_size(v) : json_array_size(v), i = 0;
    int rc = pm_buf_appendc(b, obj ? '{' : '[');
    if (obj) {
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            if (rc == PM_OK) rc = print_indent(b, inline_, depth + 1);
            if (rc == PM_OK) rc = print_string(b, k);
            if (rc == PM_OK) rc = pm_buf_appends(b, ": ");
            if (rc == PM_OK) rc = print_value(b, e, depth + 1);
            if (rc == PM_OK && ++i < n) rc = pm_buf_appends(b, inline_ ? ", " : ",");
        }
    } else {
        json_t *e;
        json_array_foreach(v, i, e) {
            if (rc == PM_OK) rc = print_indent(b, inline_, depth + 1);
            if (rc == PM_OK) rc = print_value(b, e, depth + 1);
            if (rc == PM_OK && i + 1 < n) rc = pm_buf_appends(b, inline_ ? ", " : ",");
        }
    }
    if (rc == PM_OK && n > 0) rc = print_indent(b, inline_, depth);
    return rc == PM_OK ? pm_buf_appendc(b, obj ? '}' : ']') : rc;
}

static int print_value(pm_buf_t *b, const json_t *v, int depth)
{
    char num_buf[40];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY: return print_container(b, v, depth);
    case JSON_STRING: return print_string(b, json_string_value(v));
    case JSON_INTEGER: return pm_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL: format_real(num_buf, sizeof(num_buf), json_real_value(v)); return pm_buf_appends(b, num_buf);
    case JSON_TRUE: return pm_buf_appends(b, "true");
    case JSON_FALSE: return pm_buf_appends(b, "false");
    case JSON_NULL: return pm_buf_appends(b, "null");
    }
    return PM_EINVAL;
}

/* --- table ------------------------------------------------------------------------ */

#define CELLS 9
#define CELL_LEN 48

typedef struct row_s {
    char cell[CELLS][CELL_LEN];
} row_t;

static const char *const comparison_heads[CELLS] = {"case", "metric", "control", "treatment", "effect", "CI",
                                                    "stddev", "p-value", "note"};
static const char *const bayes_heads[CELLS] = {"case", "metric", "control", "treatment", "effect", "CI",
                                               "P(beat control)", "risk control/treatment", "note"};
static const char *const srm_heads[CELLS] = {"case", "visitors", "weights", "p-value", "verdict", "", "", "", ""};

static const char *const section_titles[SEC_COUNT] = {
    "fixed-horizon two-sided t-test (Welch, delta method for relative effects)",
    "sequential test (always-valid p-value and confidence sequence)",
    "Bayesian (Gaussian effect model; risk = expected loss)",
    "sample ratio mismatch (chi-square goodness of fit; mismatch when p < 0.001)",
};

#define NUM_LEN 22 /* one figure; two fit a cell as "[lo, hi]" */

static void fmt_effect(char *out, double x, bool relative)
{
    if (!isfinite(x)) snprintf(out, NUM_LEN, "null");
    else if (relative && fabs(x) < 1e7) snprintf(out, NUM_LEN, "%+.2f%%", 100 * x);
    else if (relative) snprintf(out, NUM_LEN, "%+.3e%%", 100 * x);
    else snprintf(out, NUM_LEN, "%+.4g", x);
}

static void fmt_arm(char *out, const pm_stats_sample_t *s, bool proportion)
{
    if (proportion) snprintf(out, CELL_LEN, "%.0f/%.0f (%.2f%%)", s->mean * s->n, s->n, 100 * s->mean);
    else snprintf(out, CELL_LEN, "%.4g (n=%.0f)", s->mean, s->n);
}

static void fmt_p(char *out, double p)
{
    if (!isfinite(p)) snprintf(out, CELL_LEN, "null");
    else if (p < 0.0001) snprintf(out, CELL_LEN, "<0.0001");
    else snprintf(out, CELL_LEN, "%.4f", p);
}

static void comparison_row(const case_rec_t *r, row_t *row, size_t index)
{
    bool rel = r->opt.difference == PM_STATS_RELATIVE, bayes = r->section == SEC_BAYESIAN;
    const pm_stats_result_t *res = &r->res;
    char lo[NUM_LEN], hi[NUM_LEN];
    if (r->name) snprintf(row->cell[0], CELL_LEN, "%s", r->name);
    else snprintf(row->cell[0], CELL_LEN, "#%zu", index);
    snprintf(row->cell[1], CELL_LEN, "%s %s", r->proportion ? "proportion" : "mean", rel ? "rel" : "abs");
    fmt_arm(row->cell[2], &r->a, r->proportion);
    fmt_arm(row->cell[3], &r->b, r->proportion);
    if (r->rc != PM_OK || res->status != PM_STATS_OK) {
        snprintf(row->cell[4], CELL_LEN, "-");
        snprintf(row->cell[5], CELL_LEN, "-");
        snprintf(row->cell[6], CELL_LEN, bayes ? "0.5" : "-");
        snprintf(row->cell[7], CELL_LEN, bayes ? "-" : "1");
        snprintf(row->cell[8], CELL_LEN, "%s",
                 r->rc != PM_OK ? "overflow: inputs too large" : pm_stats_status_str(res->status));
        return;
    }
    fmt_effect(row->cell[4], res->expected, rel);
    fmt_effect(lo, res->ci_low, rel);
    fmt_effect(hi, res->ci_high, rel);
    snprintf(row->cell[5], CELL_LEN, "[%s, %s]", lo, hi);
    if (bayes) {
        snprintf(row->cell[6], CELL_LEN, "%.2f%%", 100 * res->chance_to_win);
        fmt_effect(lo, res->risk_control, rel);
        fmt_effect(hi, res->risk_treatment, rel);
        snprintf(row->cell[7], CELL_LEN, "%s / %s", lo + (lo[0] == '+'), hi + (hi[0] == '+'));
    } else {
        fmt_effect(lo, res->stddev, rel);
        snprintf(row->cell[6], CELL_LEN, "%s", lo + (lo[0] == '+'));
        fmt_p(row->cell[7], res->p_value);
    }
    if (r->opt.alpha != PM_STATS_DEFAULT_ALPHA)
        snprintf(row->cell[8], CELL_LEN, "%g%% interval", 100 * (1 - r->opt.alpha));
    else if (r->section == SEC_SEQUENTIAL)
        snprintf(row->cell[8], CELL_LEN, "N*=%g", r->opt.tuning_parameter);
}

/* Append "x/y/z" from a JSON list, cut with "..." when it does not fit. */
static void fmt_list(char *out, const json_t *list)
{
    size_t used = 0, i;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(list, i, e) {
        char item[32];
        format_real(item, sizeof(item), json_number_value(e));
        if (json_is_integer(e)) snprintf(item, sizeof(item), "%" JSON_INTEGER_FORMAT, json_integer_value(e));
        if (used + strlen(item) + 5 >= CELL_LEN) {
            strcpy(out + used, "/...");
            return;
        }
        used += (size_t)snprintf(out + used, CELL_LEN - used, "%s%s", i ? "/" : "", item);
    }
}

static void srm_row(const case_rec_t *r, row_t *row, size_t index)
{
    if (r->name) snprintf(row->cell[0], CELL_LEN, "%s", r->name);
    else snprintf(row->cell[0], CELL_LEN, "#%zu", index);
    fmt_list(row->cell[1], json_object_get(r->node, "visitors"));
    fmt_list(row->cell[2], json_object_get(r->node, "weights"));
    fmt_p(row->cell[3], r->srm_p);
    snprintf(row->cell[4], CELL_LEN, "%s", r->srm_p < PM_STATS_SRM_THRESHOLD ? "MISMATCH: check assignment" : "ok");
}

static int print_rows(pm_buf_t *b, const row_t *rows, size_t n, const char *const *heads)
{
    size_t width[CELLS] = {0};
    int rc = PM_OK;
    for (size_t c = 0; c < CELLS; c++) width[c] = strlen(heads[c]);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < CELLS; c++)
            if (strlen(rows[i].cell[c]) > width[c]) width[c] = strlen(rows[i].cell[c]);
    for (size_t i = 0; i <= n && rc == PM_OK; i++) {
        const char *line[CELLS];
        size_t last = 0;
        for (size_t c = 0; c < CELLS; c++) {
            line[c] = i == 0 ? heads[c] : rows[i - 1].cell[c];
            if (line[c][0]) last = c;
        }
        rc = pm_buf_appends(b, "  ");
        for (size_t c = 0; c <= last && rc == PM_OK; c++)
            rc = pm_buf_printf(b, "%-*s%s", c < last ? (int)width[c] : 0, line[c], c < last ? "  " : "\n");
    }
    return rc;
}

static int print_table(pm_buf_t *b, const ctx_t *c)
{
    row_t *rows = pm_calloc(c->n_recs ? c->n_recs : 1, sizeof(*rows));
    int rc = PM_OK;
    bool first = true;
    for (section_t s = 0; s < SEC_COUNT && rc == PM_OK; s++) {
        size_t n = 0;
        for (size_t i = 0; i < c->n_recs; i++) {
            if (c->recs[i].section != s) continue;
            memset(&rows[n], 0, sizeof(rows[n]));
            if (s == SEC_SRM) srm_row(&c->recs[i], &rows[n], n);
            else comparison_row(&c->recs[i], &rows[n], n);
            n++;
        }
        if (n == 0) continue;
        rc = pm_buf_printf(b, "%s%s: %s\n", first ? "" : "\n", section_names[s], section_titles[s]);
        first = false;
        if (rc == PM_OK)
            rc = print_rows(b, rows, n, s == SEC_SRM ? srm_heads : s == SEC_BAYESIAN ? bayes_heads : comparison_heads);
    }
    pm_free(rows);
    return rc;
}

/* --- entry point ------------------------------------------------------------------- */

static int load(ctx_t *c, const char *text, size_t len, json_t **root)
{
    json_error_t jerr;
    *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (*root == NULL) {
        if (c->err_len) snprintf(c->err, c->err_len, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return PM_EINVAL;
    }
    if (!json_is_object(*root)) return fail(c, "document", "must be a JSON object with the sections as keys");
    const json_t *about = json_object_get(*root, "about");
    if (about != NULL && !json_is_string(about)) return fail(c, "about", "must be a string");
    for (section_t s = 0; s < SEC_COUNT; s++)
        if (json_object_get(*root, section_names[s]) != NULL) return PM_OK;
    return fail(c, "document", "has none of the sections frequentist, sequential, bayesian, srm");
}

int pm_stats_json_analyze(const char *text, size_t len, pm_stats_format_t format, pm_buf_t *out, char *err,
                          size_t err_len)
{
    ctx_t c = {.err = err, .err_len = err_len};
    json_t *root = NULL;
    int rc;
    if (err_len) err[0] = '\0';
    pm_buf_reset(out);
    if (len > PM_STATS_JSON_MAX_BYTES) {
        fail(&c, "document", "larger than %zu bytes", PM_STATS_JSON_MAX_BYTES);
        return PM_ETOOBIG;
    }
    if ((rc = load(&c, text, len, &root)) != PM_OK) goto out;
    size_t total = 0;
    for (section_t s = 0; s < SEC_COUNT; s++) total += json_array_size(json_object_get(root, section_names[s]));
    if (total > PM_STATS_JSON_MAX_CASES) {
        fail(&c, "document", "more than %d cases", PM_STATS_JSON_MAX_CASES);
        rc = PM_ETOOBIG;
        goto out;
    }
    c.recs = pm_calloc(total ? total : 1, sizeof(*c.recs));
    for (section_t s = 0; s < SEC_COUNT && rc == PM_OK; s++) rc = analyze_section(&c, root, s);
    if (rc != PM_OK) goto out;
    rc = format == PM_STATS_FORMAT_JSON ? print_value(out, root, 0) : print_table(out, &c);
    if (rc == PM_OK && format == PM_STATS_FORMAT_JSON) rc = pm_buf_appendc(out, '\n');
    if (rc == PM_ETOOBIG) fail(&c, "output", "larger than the output buffer allows");
    else if (rc != PM_OK && rc != PM_EINVAL && err_len && !err[0]) snprintf(err, err_len, "%s", pm_strerror(rc));
out:
    if (rc != PM_OK) pm_buf_reset(out); /* no half answers */
    for (char *e = err; err_len && *e; e++) /* one line: input echoed in it (keys, jansson's "near") */
        if ((unsigned char)*e < 0x20 || *e == 0x7f) *e = ' ';
    pm_free(c.recs);
    json_decref(root);
    return rc;
}

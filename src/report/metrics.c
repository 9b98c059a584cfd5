/*
 * metrics.c: every KPI, defined once (docs/metrics.md). Each function reads
 * the additive counts of a report row and returns a count, an amount of
 * money (micro-units), a plain ratio, or null when its denominator is zero.
 *
 * Money per unit (cpm, cpc, cpa, cpl, epc) stays money: micro-units,
 * rounded half away from zero with 128-bit intermediates, so a 100M-click
 * row cannot overflow or drift through floating point. Pure ratios (ctr,
 * cvr, roi, roas) are doubles.
 */
#include "pm/report.h"

#include <string.h>

static pm_report_value_t count(int64_t v)
{
    return (pm_report_value_t){PM_RV_COUNT, v, 0};
}
static pm_report_value_t money(int64_t v)
{
    return (pm_report_value_t){PM_RV_MONEY, v, 0};
}
static const pm_report_value_t null_value = {PM_RV_NULL, 0, 0};

static pm_report_value_t ratio(double num, double den)
{
    if (den == 0) return null_value;
    return (pm_report_value_t){PM_RV_RATIO, 0, num / den};
}

bool pm_report_muldiv(int64_t a, int64_t num, int64_t den, int64_t *out)
{
    if (den <= 0) return false;
    __int128 p = (__int128)a * num;
    __int128 q = p / den, r = p % den;
    if (r < 0) r = -r;
    if (2 * r >= den) q += p < 0 ? -1 : 1; /* half away from zero */
    if (q > INT64_MAX || q < INT64_MIN) return false;
    *out = (int64_t)q;
    return true;
}

static pm_report_value_t money_per(int64_t micros, int64_t scale, int64_t units)
{
    int64_t v;
    if (units == 0 || !pm_report_muldiv(micros, scale, units, &v)) return null_value;
    return money(v);
}

pm_report_value_t pm_metric_impressions(const pm_report_counts_t *c)
{
    return count(c->impressions);
}
pm_report_value_t pm_metric_clicks(const pm_report_counts_t *c)
{
    return count(c->clicks);
}
pm_report_value_t pm_metric_unique_clicks(const pm_report_counts_t *c)
{
    return count(c->unique_clicks);
}
pm_report_value_t pm_metric_bot_clicks(const pm_report_counts_t *c)
{
    return count(c->bot_clicks);
}
pm_report_value_t pm_metric_bot_impressions(const pm_report_counts_t *c)
{
    return count(c->bot_impressions);
}
pm_report_value_t pm_metric_lander_visits(const pm_report_counts_t *c)
{
    return count(c->lander_visits);
}
pm_report_value_t pm_metric_lander_clicks(const pm_report_counts_t *c)
{
    return count(c->lander_clicks);
}
pm_report_value_t pm_metric_lander_ctr(const pm_report_counts_t *c)
{
    return ratio((double)c->lander_clicks, (double)c->lander_visits);
}
pm_report_value_t pm_metric_conversions(const pm_report_counts_t *c)
{
    return count(c->conversions);
}
pm_report_value_t pm_metric_pending_conversions(const pm_report_counts_t *c)
{
    return count(c->pending_conversions);
}
pm_report_value_t pm_metric_rejected_conversions(const pm_report_counts_t *c)
{
    return count(c->rejected_conversions);
}
pm_report_value_t pm_metric_chargebacks(const pm_report_counts_t *c)
{
    return count(c->chargebacks);
}
pm_report_value_t pm_metric_pending_revenue(const pm_report_counts_t *c)
{
    return money(c->pending_revenue);
}
pm_report_value_t pm_metric_ctr(const pm_report_counts_t *c)
{
    return ratio((double)c->clicks, (double)c->impressions);
}
pm_report_value_t pm_metric_cvr(const pm_report_counts_t *c)
{
    return ratio((double)c->conversions, (double)c->clicks);
}
pm_report_value_t pm_metric_cost(const pm_report_counts_t *c)
{
    return money(c->cost);
}
pm_report_value_t pm_metric_revenue(const pm_report_counts_t *c)
{
    return money(c->revenue);
}
pm_report_value_t pm_metric_payout(const pm_report_counts_t *c)
{
    return money(c->payout);
}

pm_report_value_t pm_metric_profit(const pm_report_counts_t *c)
{
    int64_t v;
    if (__builtin_sub_overflow(c->revenue, c->cost, &v) || __builtin_sub_overflow(v, c->payout, &v)) return null_value;
    return money(v);
}

pm_report_value_t pm_metric_cpm(const pm_report_counts_t *c)
{
    return money_per(c->cost, 1000, c->impressions);
}
pm_report_value_t pm_metric_cpc(const pm_report_counts_t *c)
{
    return money_per(c->cost, 1, c->clicks);
}
pm_report_value_t pm_metric_cpa(const pm_report_counts_t *c)
{
    return money_per(c->cost, 1, c->conversions);
}
pm_report_value_t pm_metric_cpl(const pm_report_counts_t *c)
{
    return money_per(c->cost, 1, c->leads);
}
pm_report_value_t pm_metric_epc(const pm_report_counts_t *c)
{
    return money_per(c->revenue, 1, c->clicks);
}

pm_report_value_t pm_metric_roi(const pm_report_counts_t *c)
{
    /* (revenue - cost - payout) / (cost + payout), in exact integers first. */
    __int128 spend = (__int128)c->cost + c->payout, profit = (__int128)c->revenue - c->cost - c->payout;
    return ratio((double)profit, (double)spend);
}

pm_report_value_t pm_metric_roas(const pm_report_counts_t *c)
{
    return ratio((double)c->revenue, (double)c->cost);
}

const pm_report_metric_t pm_report_metrics[] = {
    {"impressions", pm_metric_impressions},
    {"clicks", pm_metric_clicks},
    {"unique_clicks", pm_metric_unique_clicks},
    {"ctr", pm_metric_ctr},
    {"conversions", pm_metric_conversions},
    {"cvr", pm_metric_cvr},
    {"cost", pm_metric_cost},
    {"revenue", pm_metric_revenue},
    {"payout", pm_metric_payout},
    {"profit", pm_metric_profit},
    {"cpm", pm_metric_cpm},
    {"cpc", pm_metric_cpc},
    {"cpa", pm_metric_cpa},
    {"epc", pm_metric_epc},
    {"roi", pm_metric_roi},
    {"roas", pm_metric_roas},
    /* Not in the default set: */
    {"cpl", pm_metric_cpl},
    {"pending_conversions", pm_metric_pending_conversions},
    {"pending_revenue", pm_metric_pending_revenue},
    {"rejected_conversions", pm_metric_rejected_conversions},
    {"bot_clicks", pm_metric_bot_clicks},
    {"bot_impressions", pm_metric_bot_impressions},
    {"lander_visits", pm_metric_lander_visits},
    {"lander_clicks", pm_metric_lander_clicks},
    {"lander_ctr", pm_metric_lander_ctr},
    {"chargebacks", pm_metric_chargebacks},
    {NULL, NULL},
};

const pm_report_metric_t *pm_report_metric_find(const char *name, size_t len)
{
    for (const pm_report_metric_t *m = pm_report_metrics; m->name; m++)
        if (strlen(m->name) == len && memcmp(m->name, name, len) == 0) return m;
    return NULL;
}

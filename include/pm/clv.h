/*
 * clv.h: customer lifetime value per cohort. A visitor's cohort is the
 * month (in the workspace or the requested time zone) of their first
 * approved conversion; a cohort's CLV over a window of W days is the
 * approved revenue its visitors brought within W days of their own first
 * conversion, divided by the cohort's visitors. Windows are 30, 90 and 365
 * days. A window is `complete` when every visitor of the cohort has had its
 * W days by now; an incomplete one is a floor, still growing.
 *
 * The figures come straight from the conversions table (one scan, grouped
 * per visitor in SQL, then per cohort here), so they follow the
 * conversions' current status. Money is in the workspace's reporting
 * currency, exact micro-units; conversions in other currencies count in
 * `excluded_conversions` and nowhere else. Definitions: docs/metrics.md.
 *
 * Thread-safety: a pm_clv_t belongs to one thread; the store connection is
 * the caller's (the query runs in one read transaction).
 */
#ifndef PM_CLV_H
#define PM_CLV_H

#include "pm/buf.h"
#include "pm/report.h"

#define PM_CLV_WINDOWS 3
extern const int pm_clv_window_days[PM_CLV_WINDOWS]; /* 30, 90, 365 */

typedef struct pm_clv_cohort_s {
    char month[16];     /* "2026-11" */
    int64_t start, end; /* the month's instants, UTC microseconds, [start, end) */
    int64_t visitors, conversions;
    int64_t revenue[PM_CLV_WINDOWS]; /* micro-units: within W days of each visitor's first conversion */
    int64_t revenue_total;           /* every approved conversion of these visitors so far */
} pm_clv_cohort_t;

typedef struct pm_clv_s pm_clv_t;

/* Run over the store `db`: cohorts whose month lies within [from, to]
 * ("YYYY-MM", both inclusive; NULL from = 11 months before `to`, NULL to =
 * this month), in zone `tz` (NULL = the workspace setting). On a bad
 * parameter PM_EINVAL with *err naming it (422); PM_ESTORE on a store
 * failure (500). *out is the caller's (pm_clv_destroy) on PM_OK only. */
int pm_clv_run(sqlite3 *db, const char *from, const char *to, const char *tz, pm_clv_t **out,
               pm_report_error_t *err) PM_MUST_CHECK;
void pm_clv_destroy(pm_clv_t *c); /* accepts NULL */

/* The cohorts in month order, and their totals (month ""). Borrowed. */
size_t pm_clv_count(const pm_clv_t *c);
const pm_clv_cohort_t *pm_clv_cohort(const pm_clv_t *c, size_t i);
const pm_clv_cohort_t *pm_clv_totals(const pm_clv_t *c);
const char *pm_clv_currency(const pm_clv_t *c);
int64_t pm_clv_excluded(const pm_clv_t *c); /* conversions in other currencies */

/* CLV of cohort `k` over window `w`: revenue[w] / visitors, rounded half
 * away from zero to the micro-unit; PM_RV_NULL when the cohort is empty. */
pm_report_value_t pm_clv_value(const pm_clv_cohort_t *k, int w);
/* Whether every visitor of `k` has had window `w` by `now`. */
bool pm_clv_complete(const pm_clv_cohort_t *k, int w, int64_t now);

/* Append the result as JSON ({"currency","tz","cohorts":[...],"totals"}),
 * CSV (one row per cohort, then a "total" row) or an aligned table.
 * PM_ETOOBIG past out's cap. */
int pm_clv_render(const pm_clv_t *c, pm_report_format_t fmt, int64_t now, pm_buf_t *out) PM_MUST_CHECK;

#endif

/*
 * report.h: perfmark's reporting engine: the KPI definitions, the rollups
 * that keep them cheap, and the query engine behind GET /api/v1/reports,
 * `perfmark report` and the dashboard (docs/metrics.md, docs/reports.md).
 *
 * Three parts:
 * - Metrics: every KPI is one function over additive counts
 *   (pm_report_counts_t), defined once here and used by every surface. A
 *   zero denominator gives a null value, never NaN or 0.
 * - Rollups: pm_report_sink is a materializer sink (pm/materializer.h)
 *   that keeps additive counters per 15-minute UTC bucket and per UTC day in
 *   three cubes (campaign; campaign x one dimension such as sub1, offer or
 *   utm_source; campaign x source x offer x lander x language). It rolls up
 *   the event rows past a watermark in batches, inside the materializer's
 *   transaction, so the rollups are exactly-once like the events; reports
 *   add the few rows past the watermark, read raw.
 * - Queries: a pm_report_t is a query built from named parameters (the API's
 *   query-string names), run against a store connection (the planner picks
 *   the smallest cube that covers the request, or scans the raw event tables
 *   with the same code when none does), and rendered as JSON, CSV or an
 *   aligned text table.
 *
 * Thread-safety: the metric functions are pure; the sink's state belongs to
 * the materializer's thread; a pm_report_t belongs to one thread.
 */
#ifndef PM_REPORT_H
#define PM_REPORT_H

#include "pm/buf.h"
#include "pm/materializer.h"

typedef struct sqlite3 sqlite3;

/* --- metrics --------------------------------------------------------------- */

/* Additive counts of one report row; money in micro-units of the reporting
 * currency (amounts in other currencies are left out and counted in
 * excluded_events). Rejected conversions count only in
 * rejected_conversions; pending ones only in pending_*. */
typedef struct pm_report_counts_s {
    int64_t impressions, clicks, unique_clicks;
    int64_t conversions; /* approved */
    int64_t leads;       /* approved, conversion type "lead" */
    int64_t pending_conversions, rejected_conversions;
    int64_t chargebacks; /* charged back or refunded after approval */
    int64_t cost, revenue, payout; /* approved revenue and payout; cost of impressions, clicks, approved conversions */
    int64_t pending_revenue;
    int64_t excluded_events; /* events whose money was in another currency */
    int64_t bot_clicks;      /* clicks the bot filter flagged (in no other count) */
    int64_t lander_visits;   /* human clicks sent to a lander */
    int64_t lander_clicks;   /* human lander clicks (GET /go) */
    int64_t bot_impressions; /* impressions the bot filter flagged (in no other count) */
} pm_report_counts_t;

typedef enum pm_report_vkind_e {
    PM_RV_NULL,  /* zero denominator */
    PM_RV_COUNT, /* integer count: .i */
    PM_RV_MONEY, /* micro-units: .i, printed with pm_money_format */
    PM_RV_RATIO, /* plain number: .d (0.05 means 5%) */
} pm_report_vkind_t;

typedef struct pm_report_value_s {
    pm_report_vkind_t kind;
    int64_t i;
    double d;
} pm_report_value_t;

/* One function per metric. Can't fail; pure. Money ratios (cpm, cpc, cpa,
 * cpl, epc) are micro-units rounded half away from zero. */
pm_report_value_t pm_metric_impressions(const pm_report_counts_t *c);
pm_report_value_t pm_metric_clicks(const pm_report_counts_t *c);
pm_report_value_t pm_metric_unique_clicks(const pm_report_counts_t *c);
pm_report_value_t pm_metric_bot_clicks(const pm_report_counts_t *c);
pm_report_value_t pm_metric_bot_impressions(const pm_report_counts_t *c);
pm_report_value_t pm_metric_lander_visits(const pm_report_counts_t *c);
pm_report_value_t pm_metric_lander_clicks(const pm_report_counts_t *c);
pm_report_value_t pm_metric_lander_ctr(const pm_report_counts_t *c); /* lander clicks / lander visits */
pm_report_value_t pm_metric_conversions(const pm_report_counts_t *c);
pm_report_value_t pm_metric_pending_conversions(const pm_report_counts_t *c);
pm_report_value_t pm_metric_rejected_conversions(const pm_report_counts_t *c);
pm_report_value_t pm_metric_pending_revenue(const pm_report_counts_t *c);
pm_report_value_t pm_metric_chargebacks(const pm_report_counts_t *c);
pm_report_value_t pm_metric_ctr(const pm_report_counts_t *c); /* clicks / impressions */
pm_report_value_t pm_metric_cvr(const pm_report_counts_t *c); /* conversions / clicks */
pm_report_value_t pm_metric_cost(const pm_report_counts_t *c);
pm_report_value_t pm_metric_revenue(const pm_report_counts_t *c);
pm_report_value_t pm_metric_payout(const pm_report_counts_t *c);
pm_report_value_t pm_metric_profit(const pm_report_counts_t *c); /* revenue - cost - payout */
pm_report_value_t pm_metric_cpm(const pm_report_counts_t *c);    /* cost / impressions * 1000 */
pm_report_value_t pm_metric_cpc(const pm_report_counts_t *c);    /* cost / clicks */
pm_report_value_t pm_metric_cpa(const pm_report_counts_t *c);    /* cost / conversions */
pm_report_value_t pm_metric_cpl(const pm_report_counts_t *c);    /* cost / leads */
pm_report_value_t pm_metric_epc(const pm_report_counts_t *c);    /* revenue / clicks */
pm_report_value_t pm_metric_roi(const pm_report_counts_t *c);    /* profit / (cost + payout) */
pm_report_value_t pm_metric_roas(const pm_report_counts_t *c);   /* revenue / cost */

typedef struct pm_report_metric_s {
    const char *name; /* the API key: "ctr" */
    pm_report_value_t (*fn)(const pm_report_counts_t *c);
} pm_report_metric_t;

/* Every metric, in the documented order; NULL-terminated by name. */
extern const pm_report_metric_t pm_report_metrics[];
/* The metric named `name`, or NULL. */
const pm_report_metric_t *pm_report_metric_find(const char *name, size_t len);

/* (a * num) / den rounded half away from zero, den > 0; false on overflow. */
bool pm_report_muldiv(int64_t a, int64_t num, int64_t den, int64_t *out);

/* --- rollups ---------------------------------------------------------------- */

/* The rollup sink, for pm_materializer_recover and the materializer config.
 * open() sets the connection's page cache to 64 MiB and catches up with
 * every event row (after the migration that created the rollups, or a
 * change of their shape, that is a rebuild: logged with its progress);
 * apply() rolls up every 4000 events or 1 s. */
extern const pm_sink_ops_t pm_report_sink;

/* Empty the rollups and recompute them from every event in the store, in
 * the caller's write transaction (one transaction: for a big store, set the
 * 'rebuild' flag in report_meta and open the sink instead, as
 * `perfmark report --rebuild` does). *events_out = the event rows read.
 * PM_OK or PM_ESTORE. */
int pm_report_rebuild(sqlite3 *db, uint64_t *events_out) PM_MUST_CHECK;

/* --- queries ---------------------------------------------------------------- */

typedef struct pm_report_s pm_report_t;

typedef struct pm_report_error_s {
    const char *field; /* the parameter at fault (static), or NULL */
    int status;        /* HTTP status the API answers: 422 (bad or too big a request), 500 */
    const char *code;  /* "invalid", "not_tracked", "too_big", "internal" */
    char message[256];
} pm_report_error_t;

typedef enum pm_report_format_e { PM_REPORT_JSON, PM_REPORT_CSV, PM_REPORT_TABLE } pm_report_format_t;

pm_report_t *pm_report_create(void);    /* can't fail */
void pm_report_destroy(pm_report_t *r); /* accepts NULL */

/* Set one parameter by its API name: group_by, metrics, from, to, tz,
 * filter (repeatable), sort, limit, offset, compare, format, source. The
 * value is copied. PM_EINVAL with *err naming the parameter. */
int pm_report_param(pm_report_t *r, const char *name, const char *value, size_t len,
                    pm_report_error_t *err) PM_MUST_CHECK;

/* Whether `name` is a parameter pm_report_param knows (`repeatable` set for
 * filter). */
bool pm_report_param_known(const char *name, bool *repeatable);

/* The format asked for with format= (JSON by default). */
pm_report_format_t pm_report_format(const pm_report_t *r);

/* Run the query on `db` (read-only use; one read transaction unless the
 * caller holds one). Settings (timezone, currency) and entity names come from
 * the same store. Once per pm_report_t. PM_OK, or PM_EINVAL (the request:
 * err->status 422) / PM_ESTORE (err->status 500) with *err filled. */
int pm_report_run(pm_report_t *r, sqlite3 *db, pm_report_error_t *err) PM_MUST_CHECK;

/* Render the result of pm_report_run. PM_ETOOBIG past out's cap. */
int pm_report_render(const pm_report_t *r, pm_report_format_t fmt, pm_buf_t *out) PM_MUST_CHECK;

/* What answered: "rollup:<cube>" or "raw". Borrowed; valid after run. */
const char *pm_report_source(const pm_report_t *r);

#endif

/*
 * clv.c: customer lifetime value per first-conversion cohort (pm/clv.h).
 *
 * One SQL statement groups the approved conversions per visitor (the
 * click's visitor cookie, or the click itself when it had none): the
 * visitor's first conversion, and the revenue in the reporting currency
 * within each window of it. The first conversion is taken over every
 * approved conversion, whatever its currency, so a visitor's cohort does not
 * depend on the currency setting. Rows then land in their local month here;
 * months come from the time zone, so a cohort is a calendar month where the
 * user lives, not a UTC one.
 */
#include "pm/clv.h"

#include "report_internal.h"

#include "pm/clock.h"
#include "pm/money.h"
#include "pm/store.h"
#include "pm/tz.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

const int pm_clv_window_days[PM_CLV_WINDOWS] = {30, 90, 365};

#define MAX_MONTHS 120 /* ten years of cohorts */

struct pm_clv_s {
    char currency[4], tz[72];
    pm_clv_cohort_t *k;
    size_t n;
    pm_clv_cohort_t totals;
    int64_t excluded;
};

/* ?1 currency, ?2..?4 window lengths (us), ?5/?6 the first-conversion range. */
static const char per_visitor_sql[] =
    "WITH c AS (SELECT COALESCE(NULLIF(visitor_id, ''), click_id) AS v, ts, revenue_micros AS r,"
    "  revenue_currency = ?1 AS ours FROM conversions WHERE status = 'approved'),"
    " f AS (SELECT v, MIN(ts) AS first FROM c GROUP BY v)"
    " SELECT f.first, COUNT(*),"
    "  SUM(CASE WHEN ours AND c.ts < f.first + ?2 THEN c.r ELSE 0 END),"
    "  SUM(CASE WHEN ours AND c.ts < f.first + ?3 THEN c.r ELSE 0 END),"
    "  SUM(CASE WHEN ours AND c.ts < f.first + ?4 THEN c.r ELSE 0 END),"
    "  SUM(CASE WHEN ours THEN c.r ELSE 0 END), SUM(NOT ours)"
    " FROM f JOIN c ON c.v = f.v WHERE f.first >= ?5 AND f.first < ?6 GROUP BY f.v";

static int fail(pm_report_error_t *err, int status, const char *code, const char *field, const char *msg)
{
    err->status = status;
    err->code = code;
    err->field = field;
    snprintf(err->message, sizeof(err->message), "%s", msg);
    return status == 500 ? PM_ESTORE : PM_EINVAL;
}

/* "YYYY-MM" -> months since year 0, or -1. */
static int64_t parse_month(const char *s)
{
    char day[11];
    int y, m, d;
    if (strlen(s) != 7) return -1;
    snprintf(day, sizeof(day), "%s-01", s);
    if (pm_date_parse(day, 10, &y, &m, &d) != PM_OK) return -1;
    return (int64_t)y * 12 + (m - 1);
}

static int64_t month_start(const pm_tz_t *tz, int64_t month)
{
    int64_t local = pm_days_from_civil((int)(month / 12), (int)(month % 12) + 1, 1) * 86400;
    return pm_tz_local_to_utc(tz, local) * PM_USEC_PER_SEC;
}

static int64_t month_of(const pm_tz_t *tz, int64_t t_us)
{
    int64_t s = t_us / PM_USEC_PER_SEC - (t_us % PM_USEC_PER_SEC < 0);
    int64_t local = s + pm_tz_offset(tz, s), days = local / 86400 - (local % 86400 < 0);
    int y, m, d;
    pm_civil_from_days(days, &y, &m, &d);
    return (int64_t)y * 12 + (m - 1);
}

/* The cohort range [first, last] in months, from the parameters. */
static int resolve_months(const pm_tz_t *tz, const char *from, const char *to, int64_t *first, int64_t *last,
                          pm_report_error_t *err)
{
    *last = to ? parse_month(to) : month_of(tz, pm_now());
    if (*last < 0) return fail(err, 422, "invalid", "to", "to must be a month (YYYY-MM)");
    *first = from ? parse_month(from) : *last - 11;
    if (*first < 0) return fail(err, 422, "invalid", "from", "from must be a month (YYYY-MM)");
    if (*first > *last) return fail(err, 422, "invalid", "to", "to must not be before from");
    if (*last - *first >= MAX_MONTHS) return fail(err, 422, "invalid", "from", "the range is longer than 120 months");
    return PM_OK;
}

static void cohorts_init(pm_clv_t *c, const pm_tz_t *tz, int64_t first, int64_t last)
{
    c->n = (size_t)(last - first + 1);
    c->k = pm_calloc(c->n, sizeof(*c->k));
    for (size_t i = 0; i < c->n; i++) {
        int64_t m = first + (int64_t)i;
        snprintf(c->k[i].month, sizeof(c->k[i].month), "%04d-%02d", (int)(m / 12), (int)(m % 12) + 1);
        c->k[i].start = month_start(tz, m);
        c->k[i].end = month_start(tz, m + 1);
    }
    c->totals.start = c->k[0].start;
    c->totals.end = c->k[c->n - 1].end;
}

static void add_visitor(pm_clv_cohort_t *k, sqlite3_stmt *st)
{
    k->visitors++;
    k->conversions += sqlite3_column_int64(st, 1);
    for (int w = 0; w < PM_CLV_WINDOWS; w++)
        k->revenue[w] += sqlite3_column_int64(st, 2 + w);
    k->revenue_total += sqlite3_column_int64(st, 5);
}

static int scan(pm_clv_t *c, sqlite3 *db, const pm_tz_t *tz, int64_t first_month)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, per_visitor_sql, -1, &st, NULL) != SQLITE_OK) return PM_ESTORE;
    sqlite3_bind_text(st, 1, c->currency, -1, SQLITE_STATIC);
    for (int w = 0; w < PM_CLV_WINDOWS; w++)
        sqlite3_bind_int64(st, 2 + w, (int64_t)pm_clv_window_days[w] * 86400 * PM_USEC_PER_SEC);
    sqlite3_bind_int64(st, 5, c->totals.start);
    sqlite3_bind_int64(st, 6, c->totals.end);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t i = month_of(tz, sqlite3_column_int64(st, 0)) - first_month;
        if (PM_NEVER(i < 0 || (size_t)i >= c->n)) continue;
        add_visitor(&c->k[i], st);
        add_visitor(&c->totals, st);
        c->excluded += sqlite3_column_int64(st, 6);
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? PM_OK : PM_ESTORE;
}

int pm_clv_run(sqlite3 *db, const char *from, const char *to, const char *tz_name, pm_clv_t **out,
               pm_report_error_t *err)
{
    memset(err, 0, sizeof(*err));
    pm_clv_t *c = pm_calloc(1, sizeof(*c));
    pm_tz_t *tz = NULL;
    int64_t first = 0, last = 0;
    bool own_txn = sqlite3_get_autocommit(db);
    int rc = PM_OK;
    if (pm__rp_setting(db, "currency", c->currency, sizeof(c->currency)) != PM_OK ||
        (tz_name == NULL && pm__rp_setting(db, "timezone", c->tz, sizeof(c->tz)) != PM_OK)) {
        rc = fail(err, 500, "internal", NULL, "the settings cannot be read");
        goto out;
    }
    if (tz_name) snprintf(c->tz, sizeof(c->tz), "%s", tz_name);
    if (pm_tz_load(c->tz, &tz) != PM_OK) {
        rc = fail(err, tz_name ? 422 : 500, tz_name ? "invalid" : "internal", tz_name ? "tz" : NULL,
                  "tz must be an IANA time zone name such as Europe/Berlin");
        goto out;
    }
    if ((rc = resolve_months(tz, from, to, &first, &last, err)) != PM_OK) goto out;
    cohorts_init(c, tz, first, last);
    if (own_txn && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = fail(err, 500, "internal", NULL, "the store cannot be read");
        goto out;
    }
    if (scan(c, db, tz, first) != PM_OK) rc = fail(err, 500, "internal", NULL, "the store cannot be read");
    if (own_txn) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
out:
    pm_tz_free(tz);
    if (rc != PM_OK)
        pm_clv_destroy(c);
    else
        *out = c;
    return rc;
}

void pm_clv_destroy(pm_clv_t *c)
{
    if (c == NULL) return;
    pm_free(c->k);
    pm_free(c);
}

size_t pm_clv_count(const pm_clv_t *c)
{
    return c->n;
}
const pm_clv_cohort_t *pm_clv_cohort(const pm_clv_t *c, size_t i)
{
    return i < c->n ? &c->k[i] : NULL;
}
const pm_clv_cohort_t *pm_clv_totals(const pm_clv_t *c)
{
    return &c->totals;
}
const char *pm_clv_currency(const pm_clv_t *c)
{
    return c->currency;
}
int64_t pm_clv_excluded(const pm_clv_t *c)
{
    return c->excluded;
}

pm_report_value_t pm_clv_value(const pm_clv_cohort_t *k, int w)
{
    pm_report_value_t v = {PM_RV_NULL, 0, 0};
    if (k->visitors > 0 && pm_report_muldiv(k->revenue[w], 1, k->visitors, &v.i)) v.kind = PM_RV_MONEY;
    return v;
}

bool pm_clv_complete(const pm_clv_cohort_t *k, int w, int64_t now)
{
    return k->end + (int64_t)pm_clv_window_days[w] * 86400 * PM_USEC_PER_SEC <= now;
}

/* --- rendering ------------------------------------------------------------------ */

/* The cells of one cohort row, in column order; "" for null. */
#define NCOLS (4 + 3 * PM_CLV_WINDOWS)
typedef char cells_t[NCOLS][32];

static const char *const col_names[NCOLS] = {
    "cohort",      "visitors", "conversions",  "revenue",      "revenue_30d", "clv_30d",       "complete_30d",
    "revenue_90d", "clv_90d",  "complete_90d", "revenue_365d", "clv_365d",    "complete_365d",
};

static void row_cells(const pm_clv_cohort_t *k, const char *label, int64_t now, cells_t out)
{
    char m[PM_MONEY_STR_MAX];
    snprintf(out[0], sizeof(out[0]), "%s", label);
    snprintf(out[1], sizeof(out[1]), "%lld", (long long)k->visitors);
    snprintf(out[2], sizeof(out[2]), "%lld", (long long)k->conversions);
    pm_money_format(k->revenue_total, m);
    snprintf(out[3], sizeof(out[3]), "%s", m);
    for (int w = 0; w < PM_CLV_WINDOWS; w++) {
        pm_report_value_t v = pm_clv_value(k, w);
        pm_money_format(k->revenue[w], m);
        snprintf(out[4 + 3 * w], sizeof(out[0]), "%s", m);
        out[5 + 3 * w][0] = '\0';
        if (v.kind == PM_RV_MONEY) pm_money_format(v.i, out[5 + 3 * w]);
        snprintf(out[6 + 3 * w], sizeof(out[0]), "%s", pm_clv_complete(k, w, now) ? "true" : "false");
    }
}

static bool is_money_col(int i)
{
    return i == 3 || (i >= 4 && (i - 4) % 3 != 2);
}

static int json_row(pm_buf_t *b, const cells_t cells, bool with_label)
{
    int rc = pm_buf_appendc(b, '{');
    for (int i = with_label ? 0 : 1; i < NCOLS && rc == PM_OK; i++) {
        const char *v = cells[i];
        bool quoted = i == 0 || (is_money_col(i) && v[0]);
        rc = pm_buf_printf(b, "%s\"%s\":%s%s%s", i > (with_label ? 0 : 1) ? "," : "", col_names[i], quoted ? "\"" : "",
                           v[0] ? v : "null", quoted ? "\"" : "");
    }
    return rc == PM_OK ? pm_buf_appendc(b, '}') : rc;
}

static int render_json(const pm_clv_t *c, int64_t now, pm_buf_t *b)
{
    cells_t cells;
    int rc = pm_buf_printf(b,
                           "{\"currency\":\"%s\",\"tz\":\"%s\",\"windows\":[30,90,365],\"excluded_conversions\":%lld,"
                           "\"cohorts\":[",
                           c->currency, c->tz, (long long)c->excluded);
    for (size_t i = 0; i < c->n && rc == PM_OK; i++) {
        row_cells(&c->k[i], c->k[i].month, now, cells);
        if (i) rc = pm_buf_appendc(b, ',');
        if (rc == PM_OK) rc = json_row(b, (const char(*)[32])cells, true);
    }
    row_cells(&c->totals, "", now, cells);
    if (rc == PM_OK) rc = pm_buf_appends(b, "],\"totals\":");
    if (rc == PM_OK) rc = json_row(b, (const char(*)[32])cells, false);
    return rc == PM_OK ? pm_buf_appends(b, "}\n") : rc;
}

static int render_lines(const pm_clv_t *c, int64_t now, bool csv, pm_buf_t *b)
{
    static const int width[NCOLS] = {-7, 9, 11, 12, 12, 10, 13, 12, 10, 13, 12, 10, 13};
    cells_t cells;
    int rc = PM_OK;
    for (size_t r = 0; r <= c->n + 1 && rc == PM_OK; r++) {
        if (r == 0)
            for (int i = 0; i < NCOLS; i++)
                snprintf(cells[i], sizeof(cells[i]), "%s", col_names[i]);
        else if (r <= c->n)
            row_cells(&c->k[r - 1], c->k[r - 1].month, now, cells);
        else
            row_cells(&c->totals, "total", now, cells);
        for (int i = 0; i < NCOLS && rc == PM_OK; i++)
            rc = csv ? pm_buf_printf(b, "%s%s", i ? "," : "", cells[i])
                     : pm_buf_printf(b, "%s%*s", i ? "  " : "", width[i], cells[i]);
        if (rc == PM_OK) rc = pm_buf_appendc(b, '\n');
    }
    return rc;
}

int pm_clv_render(const pm_clv_t *c, pm_report_format_t fmt, int64_t now, pm_buf_t *out)
{
    if (fmt == PM_REPORT_JSON) return render_json(c, now, out);
    return render_lines(c, now, fmt == PM_REPORT_CSV, out);
}

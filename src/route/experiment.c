/*
 * experiment.c: live split-test results from the store (see
 * pm/experiment.h). One query walks the experiment's clicks (those whose
 * route names the flow and path) with their approved conversions, sorted by
 * option and visitor, so per-click figures (EPC) and per-visitor figures
 * (CVR, revenue per visitor) are summed in one pass with no per-visitor
 * memory. The sums feed pm/stats.h; option 0 is the control.
 *
 * Revenue is summed in micro-units whatever the conversion's currency
 * (a path's offers normally share one) and shown as a decimal string.
 */
#include "pm/experiment.h"
#include "pm/money.h"
#include "pm/stats.h"

#include <math.h>
#include <sqlite3.h>
#include <string.h>

typedef struct arm_s {
    uint64_t clicks, visitors, converted, conversions;
    int64_t revenue_micros;
    double click_sum, click_sq;     /* revenue per click, currency units */
    double visitor_sum, visitor_sq; /* revenue per visitor */
} arm_t;

int pm_experiment_goal_parse(const char *s, pm_experiment_goal_t *out)
{
    static const char *const names[] = {"cvr", "epc", "rpv"};
    for (size_t i = 0; i < PM_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (pm_experiment_goal_t)i;
            return PM_OK;
        }
    }
    return PM_EINVAL;
}

static const char *goal_name(pm_experiment_goal_t g)
{
    return g == PM_GOAL_EPC ? "epc" : g == PM_GOAL_RPV ? "rpv" : "cvr";
}

/* The visitor being summed: flushed into its arm when the next starts. */
typedef struct visitor_s {
    int option;
    char id[32];
    uint64_t conversions;
    double revenue;
} visitor_t;

static void flush_visitor(visitor_t *v, arm_t *arms)
{
    if (v->option < 0) return;
    arm_t *a = &arms[v->option];
    a->visitors++;
    if (v->conversions) a->converted++;
    a->visitor_sum += v->revenue;
    a->visitor_sq += v->revenue * v->revenue;
    v->option = -1;
}

static void add_click(arm_t *arms, visitor_t *v, int option, const char *visitor, uint64_t conv, int64_t micros)
{
    if (v->option != option || strcmp(v->id, visitor) != 0) {
        flush_visitor(v, arms);
        v->option = option;
        snprintf(v->id, sizeof(v->id), "%s", visitor);
        v->conversions = 0;
        v->revenue = 0;
    }
    arm_t *a = &arms[option];
    double rev = (double)micros / 1e6;
    a->clicks++;
    a->conversions += conv;
    a->revenue_micros += micros;
    a->click_sum += rev;
    a->click_sq += rev * rev;
    v->conversions += conv;
    v->revenue += rev;
}

static int load_arms(pm_store_t *store, int64_t flow_id, const char *path, arm_t *arms, size_t *narms)
{
    sqlite3 *db = pm_store_db(store);
    sqlite3_stmt *st = NULL;
    const char *sql =
        "SELECT json_extract(k.route,'$.option') opt, coalesce(k.visitor_id,k.id) v,"
        " count(c.id), coalesce(sum(c.revenue_micros),0) FROM clicks k"
        " LEFT JOIN conversions c ON c.click_id=k.id AND c.status='approved'"
        " WHERE k.route IS NOT NULL AND json_extract(k.route,'$.flow')=?1 AND json_extract(k.route,'$.path')=?2"
        " GROUP BY k.id ORDER BY opt, v";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        pm_error("experiment: %s", sqlite3_errmsg(db));
        return PM_ESTORE;
    }
    sqlite3_bind_int64(st, 1, flow_id);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    visitor_t v = {.option = -1};
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t opt = sqlite3_column_int64(st, 0);
        const char *visitor = (const char *)sqlite3_column_text(st, 1);
        if (opt < 0 || opt >= PM_FLOW_MAX_OPTIONS || visitor == NULL) continue;
        if ((size_t)opt >= *narms) *narms = (size_t)opt + 1;
        add_click(arms, &v, (int)opt, visitor, (uint64_t)sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3));
    }
    flush_visitor(&v, arms);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? PM_OK : PM_ESTORE;
}

static json_t *jnum(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *jci(double lo, double hi)
{
    return json_pack("[o,o]", jnum(lo), jnum(hi));
}

static int arm_sample(const arm_t *a, pm_experiment_goal_t goal, pm_stats_sample_t *out)
{
    if (goal == PM_GOAL_CVR) {
        pm_stats_proportion_t p = {.visitors = a->visitors, .conversions = a->converted};
        return pm_stats_from_proportion(&p, out);
    }
    pm_stats_mean_t m = goal == PM_GOAL_EPC ? (pm_stats_mean_t){a->clicks, a->click_sum, a->click_sq}
                                            : (pm_stats_mean_t){a->visitors, a->visitor_sum, a->visitor_sq};
    return pm_stats_from_mean(&m, out);
}

static const char *status_code(pm_stats_status_t s)
{
    switch (s) {
    case PM_STATS_OK: return "ok";
    case PM_STATS_NO_UNITS: return "no_units";
    case PM_STATS_ZERO_VARIANCE: return "zero_variance";
    case PM_STATS_BASELINE_ZERO: return "baseline_zero";
    }
    return "ok";
}

static json_t *comparison(const arm_t *control, const arm_t *a, pm_experiment_goal_t goal)
{
    pm_stats_sample_t sa, sb;
    pm_stats_comparison_t cmp;
    pm_stats_options_t opt = PM_STATS_OPTIONS_INIT;
    if (arm_sample(control, goal, &sa) != PM_OK || arm_sample(a, goal, &sb) != PM_OK) return json_null();
    pm_ignore_rc(pm_stats_compare(&sa, &sb, &opt, &cmp));
    json_t *out;
    const pm_stats_result_t *f = &cmp.frequentist, *q = &cmp.sequential, *b = &cmp.bayesian;
    out = json_pack("{s:s, s:s, s:{s:o, s:o}, s:o, s:{s:o, s:o}, s:o, s:o}", "status", status_code(f->status),
                    "status_message", pm_stats_status_str(f->status), "uplift", "expected", jnum(f->expected), "ci",
                    jci(f->ci_low, f->ci_high), "p_value", jnum(f->p_value), "sequential", "p_value", jnum(q->p_value),
                    "ci", jci(q->ci_low, q->ci_high), "chance_to_beat_control", jnum(b->chance_to_win), "expected_loss",
                    jnum(b->risk_treatment));
    return out ? out : json_null();
}

static double goal_value(const arm_t *a, pm_experiment_goal_t goal)
{
    if (goal == PM_GOAL_CVR) return a->visitors ? (double)a->converted / (double)a->visitors : NAN;
    if (goal == PM_GOAL_EPC) return a->clicks ? a->click_sum / (double)a->clicks : NAN;
    return a->visitors ? a->visitor_sum / (double)a->visitors : NAN;
}

static json_t *option_json(const arm_t *arms, size_t i, const pm_flow_path_t *p, pm_experiment_goal_t goal)
{
    const arm_t *a = &arms[i];
    char revenue[PM_MONEY_STR_MAX];
    pm_money_format(a->revenue_micros, revenue);
    json_t *o =
        json_pack("{s:i, s:I, s:I, s:I, s:I, s:s, s:o}", "option", (int)i, "visitors", (json_int_t)a->visitors,
                  "clicks", (json_int_t)a->clicks, "converted_visitors", (json_int_t)a->converted, "conversions",
                  (json_int_t)a->conversions, "revenue", revenue, "value", jnum(goal_value(a, goal)));
    json_object_set_new(o, "rate", jnum(a->visitors ? (double)a->converted / (double)a->visitors : NAN));
    if (p && i < p->noptions) {
        const pm_flow_option_t *op = &p->options[i];
        json_object_set_new(o, "weight", json_integer(op->weight));
        json_object_set_new(o, "offer_id", op->offer_id ? json_integer(op->offer_id) : json_null());
        json_object_set_new(o, "lander_id", op->lander_id ? json_integer(op->lander_id) : json_null());
        if (op->url) json_object_set_new(o, "url", json_string(op->url));
    }
    json_object_set_new(o, "vs_control", i == 0 ? json_null() : comparison(&arms[0], a, goal));
    return o;
}

static json_t *srm_json(const arm_t *arms, size_t n, const pm_flow_path_t *p)
{
    uint64_t units[PM_FLOW_MAX_OPTIONS];
    double weights[PM_FLOW_MAX_OPTIONS];
    double pv = NAN;
    for (size_t i = 0; i < n; i++) {
        units[i] = arms[i].visitors;
        weights[i] = p && i < p->noptions ? (double)p->options[i].weight : 1.0;
    }
    if (n < 2 || pm_stats_srm(units, weights, n, &pv) != PM_OK) return json_pack("{s:n, s:b}", "p_value", "warning", 0);
    return json_pack("{s:o, s:b}", "p_value", jnum(pv), "warning", pv < PM_STATS_SRM_THRESHOLD);
}

int pm_experiment_results(pm_store_t *store, int64_t flow_id, const pm_flow_t *flow, const char *path,
                          pm_experiment_goal_t goal, json_t **out)
{
    arm_t arms[PM_FLOW_MAX_OPTIONS];
    const pm_flow_path_t *p = flow ? pm_flow_path_by_name(flow, path) : NULL;
    size_t n = p ? p->noptions : 0;
    memset(arms, 0, sizeof(arms));
    *out = NULL;
    int rc = load_arms(store, flow_id, path, arms, &n);
    if (rc != PM_OK) return rc;
    json_t *opts = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(opts, option_json(arms, i, p, goal));
    *out = json_pack("{s:s, s:i, s:o, s:o}", "goal", goal_name(goal), "control", 0, "options", opts, "srm",
                     srm_json(arms, n, p));
    return *out ? PM_OK : PM_ESTORE;
}

/* The flow row's definition, compiled as the tracker does. */
static pm_flow_t *stored_flow(sqlite3 *db, int64_t id)
{
    static const char *const members[] = {"rules", "default_path", "fallback_path", "bot_path", "frequency_cap"};
    sqlite3_stmt *st = NULL;
    pm_flow_t *flow = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT rules, default_path, fallback_path, bot_path, frequency_cap FROM flows WHERE id=?1",
                           -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        json_t *def = json_object();
        for (int i = 0; i < (int)PM_ARRAY_LEN(members); i++) {
            const char *text = (const char *)sqlite3_column_text(st, i);
            json_t *v = text ? json_loads(text, 0, NULL) : NULL;
            if (v) json_object_set_new(def, members[i], v);
        }
        if (pm_flow_compile(id, def, &flow, NULL) != PM_OK) flow = NULL;
        json_decref(def);
    }
    sqlite3_finalize(st);
    return flow;
}

int pm_experiment_show(pm_store_t *store, int64_t id, json_t **out)
{
    sqlite3 *db = pm_store_db(store);
    sqlite3_stmt *st = NULL;
    *out = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name, flow_id, path, goal FROM experiments WHERE id=?1 AND deleted_at IS NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return PM_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st), rc = step == SQLITE_ROW ? PM_OK : step == SQLITE_DONE ? PM_ENOTFOUND : PM_ESTORE;
    if (rc == PM_OK) {
        int64_t flow_id = sqlite3_column_int64(st, 1);
        const char *path = (const char *)sqlite3_column_text(st, 2), *g = (const char *)sqlite3_column_text(st, 3);
        pm_experiment_goal_t goal = PM_GOAL_CVR;
        if (g && pm_experiment_goal_parse(g, &goal) != PM_OK) goal = PM_GOAL_CVR;
        pm_flow_t *flow = stored_flow(db, flow_id);
        json_t *results = NULL;
        rc = pm_experiment_results(store, flow_id, flow, path ? path : "", goal, &results);
        if (rc == PM_OK)
            *out = json_pack("{s:I, s:s, s:I, s:s, s:s, s:o}", "id", (json_int_t)id, "name",
                             (const char *)sqlite3_column_text(st, 0), "flow_id", (json_int_t)flow_id, "path",
                             path ? path : "", "goal", goal_name(goal), "results", results);
        pm_flow_free(flow);
    }
    sqlite3_finalize(st);
    return rc;
}

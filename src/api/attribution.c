/*
 * attribution.c: GET /api/v1/attribution, attributed conversions and value
 * per channel (traffic source) or campaign for one attribution model or all
 * of them, over the journeys the store holds (pm/attrib_store.h,
 * docs/attribution.md).
 *
 * Parameters are checked like the reports': unknown names and repeated ones
 * are 422 by name, values by pm_attrib_query_param. Money is printed as a
 * decimal string in the reporting currency, rounded to micro-units; the
 * totals are the exact sums of the attributed conversions' revenue. The work
 * runs on the event loop's thread, in one read transaction; the range is
 * capped (PM_ATTRIB_RANGE_MAX_DAYS, max_events) so it stays bounded.
 */
#include "api_internal.h"

#include "pm/attrib_store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int read_params(pm__api_ctx_t *c, pm_qs_t *qs, pm_attrib_query_t *q)
{
    const pm_slice_t s = c->req->query;
    pm_qs_parse(qs, s.p ? s.p : "", s.p ? s.len : 0);
    if (qs->dropped || qs->truncated) {
        pm_http_res_error(c->res, 422, "invalid", NULL, "too many or too long query parameters");
        return PM_EINVAL;
    }
    for (size_t i = 0; i < qs->count; i++) {
        const pm_qs_param_t *p = &qs->params[i];
        if (!pm_attrib_query_param_known(p->key)) {
            pm_http_res_error(c->res, 422, "unknown_field", p->key, "unknown query parameter \"%s\"", p->key);
            return PM_EINVAL;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(qs->params[k].key, p->key) != 0) continue;
            pm_http_res_error(c->res, 422, "invalid", p->key, "query parameter \"%s\" given more than once", p->key);
            return PM_EINVAL;
        }
        pm_attrib_error_t err;
        if (pm_attrib_query_param(q, p->key, p->value, p->value_len, &err) != PM_OK) {
            pm_http_res_error(c->res, err.status, err.code, err.field ? err.field : p->key, "%s", err.message);
            return PM_EINVAL;
        }
    }
    return PM_OK;
}

/* --- rendering ------------------------------------------------------------- */

static json_t *jcount(double v) { return json_real(round(v * 1e6) / 1e6); }

static json_t *jvalue(double v)
{
    char text[PM_MONEY_STR_MAX];
    double micros = round(v * 1e6);
    if (!(fabs(micros) < 9e18)) micros = 0;
    pm_money_format((int64_t)micros, text);
    return json_string(text);
}

/* Natural order: all-digit names by number ("2" before "10"), then bytes. */
static int name_cmp(const char *a, const char *b)
{
    size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
    if (la && lb && !a[la] && !b[lb] && la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}

static const pm_attrib_journeys_t *sort_j;

static int row_cmp(const void *x, const void *y)
{
    return name_cmp(pm_attrib_channel_name(sort_j, *(const uint32_t *)x),
                    pm_attrib_channel_name(sort_j, *(const uint32_t *)y));
}

/* The row's label: {"channel": name} or {"campaign_id", "campaign_name"}. */
static void row_label(pm__api_ctx_t *c, const pm_attrib_query_t *q, const char *name, json_t *row)
{
    if (q->by == PM_ATTRIB_BY_CHANNEL) {
        json_object_set_new(row, "channel", pm__api_jstr(name, strlen(name)));
        return;
    }
    int64_t id = 0;
    if (!pm__api_parse_int(name, strlen(name), 0, INT64_MAX, &id)) id = 0;
    json_object_set_new(row, "campaign_id", json_integer(id));
    sqlite3_stmt *st = pm__api_stmt(c->api, "SELECT name FROM campaigns WHERE id=?");
    const unsigned char *cn = NULL;
    if (st) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) cn = sqlite3_column_text(st, 0);
    }
    json_object_set_new(row, "campaign_name",
                        cn ? pm__api_jstr((const char *)cn, strlen((const char *)cn)) : json_null());
    if (st) sqlite3_reset(st);
}

static void add_warnings(const pm_attrib_query_t *q, const pm_attrib_load_stats_t *st, const pm_attrib_result_t *res,
                         size_t nres, json_t *warnings)
{
    char text[256];
    if (st->other_currency) {
        snprintf(text, sizeof(text), "%llu approved conversion(s) with revenue in a currency other than %s were left out",
                 (unsigned long long)st->other_currency, q->currency);
        json_array_append_new(warnings, json_string(text));
    }
    if (st->untouched) {
        snprintf(text, sizeof(text),
                 "%llu approved conversion(s) had no click or impression within the lookback windows and are not attributed",
                 (unsigned long long)st->untouched);
        json_array_append_new(warnings, json_string(text));
    }
    if (st->truncated) {
        snprintf(text, sizeof(text), "%llu journey(s) were cut to their last %d touches",
                 (unsigned long long)st->truncated, PM_ATTRIB_STORE_MAX_TOUCHES);
        json_array_append_new(warnings, json_string(text));
    }
    for (size_t m = 0; m < nres; m++) {
        if (res[m].model == PM_ATTRIB_MARKOV && res[m].iterations && !res[m].converged) {
            json_array_append_new(warnings, json_string("markov: the iterative solve did not converge"));
        } else if (res[m].model == PM_ATTRIB_SHAPLEY && res[m].error_bound > 0) {
            snprintf(text, sizeof(text), "shapley: sampled; every channel within %.4f conversions with 95%% confidence",
                     res[m].error_bound);
            json_array_append_new(warnings, json_string(text));
        }
    }
}

static json_t *render(pm__api_ctx_t *c, const pm_attrib_query_t *q, const pm_attrib_journeys_t *j,
                      const pm_attrib_load_stats_t *st, const pm_attrib_result_t *res, size_t nres)
{
    uint32_t n = nres ? pm_attrib_channel_count(j) : 0;
    uint32_t *order = pm_malloc((n ? n : 1) * sizeof(*order));
    json_t *rows = json_array(), *models = json_array(), *warnings = json_array();
    char total[PM_MONEY_STR_MAX];
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    sort_j = j;
    qsort(order, n, sizeof(*order), row_cmp);
    for (uint32_t r = 0; r < n; r++) {
        uint32_t ch = order[r];
        json_t *row = json_object();
        row_label(c, q, pm_attrib_channel_name(j, ch), row);
        if (!q->all_models) {
            json_object_set_new(row, "conversions", jcount(res[0].conversions[ch]));
            json_object_set_new(row, "value", jvalue(res[0].value[ch]));
        } else {
            json_t *conv = json_object(), *val = json_object();
            for (size_t m = 0; m < nres; m++) {
                json_object_set_new(conv, pm_attrib_model_name(res[m].model), jcount(res[m].conversions[ch]));
                json_object_set_new(val, pm_attrib_model_name(res[m].model), jvalue(res[m].value[ch]));
            }
            json_object_set_new(row, "conversions", conv);
            json_object_set_new(row, "value", val);
        }
        for (size_t m = 0; m < nres; m++)
            if (res[m].removal_effect) json_object_set_new(row, "removal_effect", json_real(round(res[m].removal_effect[ch] * 1e6) / 1e6));
        json_array_append_new(rows, row);
    }
    pm_free(order);
    for (unsigned m = 0; m < PM_ATTRIB_MODEL_COUNT; m++)
        if (q->all_models || m == (unsigned)q->model) json_array_append_new(models, json_string(pm_attrib_model_name(m)));
    add_warnings(q, st, res, nres, warnings);
    pm_money_format(st->value_micros, total);
    bool markov = q->all_models || q->model == PM_ATTRIB_MARKOV;
    json_t *doc = json_pack("{s:s, s:o, s:s, s:o, s:o, s:s, s:s, s:i, s:i, s:s}", "model",
                            q->all_models ? "all" : pm_attrib_model_name(q->model), "models", models, "by",
                            q->by == PM_ATTRIB_BY_CAMPAIGN ? "campaign" : "channel", "from", pm__api_jtime(q->from),
                            "to", pm__api_jtime(q->to), "tz", q->tz, "currency", q->currency, "click_lookback",
                            q->click_lookback_days, "impression_lookback", q->impression_lookback_days, "impressions",
                            q->impressions ? "include" : "exclude");
    if (markov) json_object_set_new(doc, "order", json_integer(q->opts.markov_order));
    json_object_set_new(doc, "rows", rows);
    json_object_set_new(doc, "totals", json_pack("{s:I, s:s}", "conversions", (json_int_t)st->conversions, "value", total));
    json_object_set_new(doc, "journeys", json_integer((json_int_t)(st->converting_journeys + st->null_journeys)));
    json_object_set_new(doc, "converting_journeys", json_integer((json_int_t)st->converting_journeys));
    json_object_set_new(doc, "linked_visitors", json_integer((json_int_t)st->linked_visitors));
    json_object_set_new(doc, "warnings", warnings);
    return doc;
}

/* --- the endpoint ------------------------------------------------------------ */

void pm__api_attribution_get(pm__api_ctx_t *c)
{
    pm_qs_t qs;
    pm_attrib_query_t q;
    pm_attrib_error_t err;
    pm_attrib_load_stats_t st;
    pm_attrib_result_t res[PM_ATTRIB_MODEL_COUNT];
    size_t nres = 0;
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    pm_attrib_query_init(&q);
    memset(res, 0, sizeof(res));
    if (read_params(c, &qs, &q) != PM_OK) goto out;
    if (pm_attrib_store_load(pm_store_db(c->api->store), &q, j, &st, &err) != PM_OK) {
        pm_http_res_error(c->res, err.status, err.code, err.field, "%s", err.message);
        goto out;
    }
    for (unsigned m = 0; pm_attrib_journeys_path_count(j) && m < PM_ATTRIB_MODEL_COUNT; m++) {
        if (!q.all_models && m != (unsigned)q.model) continue;
        int rc = pm_attrib_run(j, (pm_attrib_model_t)m, &q.opts, &res[nres++]);
        if (rc != PM_OK) {
            pm_http_res_error(c->res, rc == PM_ETOOBIG ? 422 : 500, rc == PM_ETOOBIG ? "too_big" : "internal",
                              rc == PM_ETOOBIG ? "order" : NULL, "%s: %s", pm_attrib_model_name(m), pm_strerror(rc));
            goto out;
        }
    }
    json_t *doc = render(c, &q, j, &st, res, nres);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (text) pm_http_res_json(c->res, 200, text, strlen(text));
    else pm_http_res_error(c->res, 500, "internal", NULL, "cannot format the answer");
    free(text);
    json_decref(doc);
out:
    for (size_t m = 0; m < nres; m++)
        pm_attrib_result_free(&res[m]);
    pm_attrib_journeys_destroy(j);
    pm_attrib_query_free(&q);
    pm_qs_free(&qs);
}

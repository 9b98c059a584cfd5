/*
 * money.c: the money endpoints of the admin API (docs/money.md, docs/api.md):
 *
 *   GET   /api/v1/conversions/{id}   a conversion, its current state and its history
 *   PATCH /api/v1/conversions/{id}   {"status":"approved"[, "revenue":{"amount","currency"}]}
 *   GET   /api/v1/ledger/entries     the ledger legs, filtered, paged by entry id
 *   GET   /api/v1/ledger/balances    debits, credits and balance per account (and day)
 *   GET   /api/v1/rates, PUT         exchange rates into the reporting currency
 *
 * A status change goes through the tracking path of this loop
 * (pm_track_set_status: journal, fsync, materializer), never straight to
 * the store: the ledger stays a function of the events.
 */
#include "api_internal.h"

#include "pm/csv.h"
#include "pm/id.h"
#include "pm/ledger.h"
#include "pm/pricing.h"
#include "pm/tz.h"

#include <stdio.h>
#include <string.h>

/* --- conversions ------------------------------------------------------------ */

static int conversion_id(pm__api_ctx_t *c, pm_id_t *id, char *text)
{
    if (pm_id_parse(c->item, strlen(c->item), id) != PM_OK) {
        pm_http_res_error(c->res, 404, "not_found", NULL, "no such conversion");
        return PM_ENOTFOUND;
    }
    pm_id_format(id, text);
    return PM_OK;
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: return json_null();
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, i));
    default: return pm__api_jstr((const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i));
    }
}

static json_t *col_money(sqlite3_stmt *st, int i)
{
    const char *cur = (const char *)sqlite3_column_text(st, i + 1);
    return pm__api_jmoney(sqlite3_column_int64(st, i), cur ? cur : "");
}

static int conversion_history(pm__api_ctx_t *c, const char *id, json_t *out)
{
    sqlite3_stmt *st = pm__api_stmt(c->api, "SELECT id, ts, version, prev_status, status, method, actor,"
                                            " revenue_micros, revenue_currency, cost_micros, cost_currency,"
                                            " payout_micros, payout_currency FROM conversion_changes"
                                            " WHERE conversion_id=?1 ORDER BY version");
    if (st == NULL) return pm__api_store_failed(c, "history");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *h =
            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", col_json(st, 0), "ts",
                      pm__api_jtime(sqlite3_column_int64(st, 1)), "version", col_json(st, 2), "from", col_json(st, 3),
                      "status", col_json(st, 4), "method", col_json(st, 5), "actor", col_json(st, 6), "revenue",
                      col_money(st, 7), "cost", col_money(st, 9), "payout", col_money(st, 11));
        json_array_append_new(out, h);
    }
    sqlite3_reset(st);
    return step == SQLITE_DONE ? PM_OK : pm__api_store_failed(c, "history");
}

void pm__api_conversion_get(pm__api_ctx_t *c)
{
    pm_id_t id;
    char text[PM_ID_LEN + 1];
    if (conversion_id(c, &id, text) != PM_OK) return;
    sqlite3_stmt *st = pm__api_stmt(
        c->api, "SELECT c.id, c.ts, c.click_id, c.campaign_id, c.traffic_source_id, c.offer_id, c.partner_id,"
                " c.txid, c.conversion_type, coalesce(s.status, c.status), coalesce(s.version, 0),"
                " coalesce(s.revenue_micros, c.revenue_micros), coalesce(s.revenue_currency, c.revenue_currency),"
                " coalesce(s.cost_micros, c.cost_micros), coalesce(s.cost_currency, c.cost_currency),"
                " coalesce(s.payout_micros, c.payout_micros), coalesce(s.payout_currency, c.payout_currency),"
                " c.lead_id, c.place FROM conversions c LEFT JOIN conversion_state s ON s.conversion_id=c.id WHERE c.id=?1");
    if (st == NULL) {
        pm__api_store_failed(c, "conversion");
        return;
    }
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW) {
        sqlite3_reset(st);
        if (step == SQLITE_DONE)
            pm_http_res_error(c->res, 404, "not_found", NULL, "no such conversion");
        else
            pm__api_store_failed(c, "conversion");
        return;
    }
    json_t *doc = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", col_json(st, 0), "ts",
        pm__api_jtime(sqlite3_column_int64(st, 1)), "click_id", col_json(st, 2), "campaign_id", col_json(st, 3),
        "traffic_source_id", col_json(st, 4), "offer_id", col_json(st, 5), "partner_id", col_json(st, 6), "txid",
        col_json(st, 7), "type", col_json(st, 8), "status", col_json(st, 9), "version", col_json(st, 10), "revenue",
        col_money(st, 11), "cost", col_money(st, 13), "payout", col_money(st, 15), "lead_id", col_json(st, 17));
    json_object_set_new(doc, "place", col_json(st, 18)); /* volume tiers (docs/money.md) */
    sqlite3_reset(st);
    json_t *history = json_array();
    json_object_set_new(doc, "history", history);
    if (conversion_history(c, text, history) == PM_OK)
        pm__api_send(c, 200, doc);
    else
        json_decref(doc);
}

static int parse_revenue(pm__api_ctx_t *c, json_t *v, pm_track_status_t *req)
{
    json_t *amount = json_object_get(v, "amount"), *cur = json_object_get(v, "currency");
    const char *why = "malformed";
    if (!json_is_object(v) || !json_is_string(amount) || json_object_size(v) > 2 || (cur && !json_is_string(cur))) {
        pm_http_res_error(c->res, 422, "invalid", "revenue",
                          "revenue must be {\"amount\":\"12.50\",\"currency\":\"USD\"}");
        return PM_EINVAL;
    }
    if (pm_money_parse(json_string_value(amount), json_string_length(amount), false, &req->revenue.micros, &why) !=
        PM_OK) {
        pm_http_res_error(c->res, 422, "invalid", "revenue.amount", "revenue.amount must be a decimal string (%s)",
                          why);
        return PM_EINVAL;
    }
    if (cur && pm_currency_parse(json_string_value(cur), json_string_length(cur), &req->revenue.currency) != PM_OK) {
        pm_http_res_error(c->res, 422, "invalid", "revenue.currency", "revenue.currency must be an ISO 4217 code");
        return PM_EINVAL;
    }
    req->has_revenue = true;
    return PM_OK;
}

static int patch_body(pm__api_ctx_t *c, json_t *body, pm_track_status_t *req)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "status") != 0 && strcmp(key, "revenue") != 0) {
            pm_http_res_error(c->res, 422, "unknown_field", key, "unknown field \"%.100s\"", key);
            return PM_EINVAL;
        }
    }
    v = json_object_get(body, "status");
    req->status = json_is_string(v) ? pm_status_name(json_string_value(v), json_string_length(v)) : NULL;
    if (req->status == NULL) {
        pm_http_res_error(c->res, 422, "invalid", "status",
                          "status must be pending, approved, rejected, chargeback or refund");
        return PM_EINVAL;
    }
    v = json_object_get(body, "revenue");
    return v ? parse_revenue(c, v, req) : PM_OK;
}

void pm__api_conversion_patch(pm__api_ctx_t *c)
{
    pm_track_status_t req = {.method = "api"};
    char text[PM_ID_LEN + 1], actor[64];
    if (conversion_id(c, &req.conversion_id, text) != PM_OK) return;
    json_t *body = pm__api_body(c);
    if (body == NULL) return;
    if (patch_body(c, body, &req) == PM_OK) {
        if (c->api->track == NULL || c->cfg == NULL) {
            pm_http_res_error(c->res, 503, "unavailable", NULL, "status changes need a running server");
        } else {
            snprintf(actor, sizeof(actor), "api:%s", c->role ? c->role : "admin");
            req.actor = actor;
            pm_ignore_rc(pm_track_set_status(c->api->track, c->cfg, &req, c->res));
        }
    }
    json_decref(body);
}

/* --- time ranges in the workspace's zone ------------------------------------------ */

typedef struct range_s {
    int64_t from, to; /* UTC microseconds, [from, to) */
    pm_tz_t *tz;
} range_t;

/* `YYYY-MM-DD` (local midnight; `end`: of the next day) or RFC 3339. */
static int parse_bound(pm__api_ctx_t *c, const pm_qs_t *qs, const char *name, bool end, const pm_tz_t *tz, int64_t def,
                       int64_t *out)
{
    size_t len = 0;
    const char *v = pm_qs_get(qs, name, &len);
    int y, m, d;
    if (v == NULL) {
        *out = def;
        return PM_OK;
    }
    if (len == 10 && pm_date_parse(v, len, &y, &m, &d) == PM_OK) {
        int64_t day = pm_days_from_civil(y, m, d) + (end ? 1 : 0);
        *out = pm_tz_local_to_utc(tz, day * 86400) * PM_USEC_PER_SEC;
        return PM_OK;
    }
    if (pm_time_parse_rfc3339(v, len, out) == PM_OK) return PM_OK;
    pm_http_res_error(c->res, 422, "invalid", name, "%s must be YYYY-MM-DD or an RFC 3339 timestamp", name);
    return PM_EINVAL;
}

static int parse_range(pm__api_ctx_t *c, const pm_qs_t *qs, range_t *r)
{
    size_t len = 0;
    const char *zone = pm_qs_get(qs, "tz", &len);
    const char *ws = c->cfg ? pm_config_settings(c->cfg)->timezone : "UTC";
    if (pm_tz_load(zone ? zone : ws, &r->tz) != PM_OK) {
        if (zone) {
            pm_http_res_error(c->res, 422, "invalid", "tz", "tz must be an IANA time zone name");
            return PM_EINVAL;
        }
        if (pm_tz_load("UTC", &r->tz) != PM_OK) return pm__api_store_failed(c, "time zone");
    }
    if (parse_bound(c, qs, "from", false, r->tz, INT64_MIN, &r->from) != PM_OK) return PM_EINVAL;
    return parse_bound(c, qs, "to", true, r->tz, INT64_MAX, &r->to);
}

/* --- ledger entries --------------------------------------------------------------- */

static const char *const account_types[] = {PM_ACCOUNT_ADVERTISER,
                                            PM_ACCOUNT_SOURCE,
                                            PM_ACCOUNT_PARTNER,
                                            PM_ACCOUNT_REVENUE,
                                            PM_ACCOUNT_COST,
                                            PM_ACCOUNT_PAYOUT,
                                            NULL};

static int parse_account(pm__api_ctx_t *c, const pm_qs_t *qs, const char **type, int64_t *id)
{
    size_t len = 0;
    const char *v = pm_qs_get(qs, "account_type", &len);
    *type = NULL;
    for (size_t i = 0; v && account_types[i]; i++)
        if (strcmp(v, account_types[i]) == 0) *type = account_types[i];
    if (v && *type == NULL) {
        pm_http_res_error(c->res, 422, "invalid", "account_type",
                          "account_type must be advertiser, traffic_source, partner, revenue, cost or payout");
        return PM_EINVAL;
    }
    return pm__api_query_int(c, qs, "account_id", 0, INT64_MAX, -1, id);
}

void pm__api_ledger_entries(pm__api_ctx_t *c)
{
    static const char *const allowed[] = {"from",  "to",    "tz", "account_type", "account_id", "conversion",
                                          "limit", "after", NULL};
    pm_qs_t qs;
    range_t r = {0};
    const char *type = NULL, *conv = NULL;
    int64_t id = -1, limit = 0, after = 0;
    json_t *rows = json_array();
    if (pm__api_query(c, &qs, allowed) != PM_OK || parse_range(c, &qs, &r) != PM_OK ||
        parse_account(c, &qs, &type, &id) != PM_OK ||
        pm__api_query_int(c, &qs, "limit", 1, PM__API_LIMIT_MAX, PM__API_LIMIT_DEFAULT, &limit) != PM_OK ||
        pm__api_query_int(c, &qs, "after", 0, INT64_MAX, 0, &after) != PM_OK)
        goto out;
    conv = pm_qs_get(&qs, "conversion", NULL);
    sqlite3_stmt *st = pm__api_stmt(
        c->api, "SELECT id, movement, ts, event_id, event_type, conversion_id, campaign_id, kind, account_type,"
                " account_id, amount_micros, currency FROM ledger_entries WHERE id>?1 AND ts>=?2 AND ts<?3"
                " AND (?4 IS NULL OR account_type=?4) AND (?5 < 0 OR account_id=?5)"
                " AND (?6 IS NULL OR conversion_id=?6) ORDER BY id LIMIT ?7");
    if (st == NULL) {
        pm__api_store_failed(c, "ledger");
        goto out;
    }
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, r.from);
    sqlite3_bind_int64(st, 3, r.to);
    if (type) sqlite3_bind_text(st, 4, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, id);
    if (conv) sqlite3_bind_text(st, 6, conv, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, limit + 1);
    int step, n = 0;
    int64_t last = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
        last = sqlite3_column_int64(st, 0);
        json_array_append_new(
            rows, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", col_json(st, 0),
                            "movement", col_json(st, 1), "ts", pm__api_jtime(sqlite3_column_int64(st, 2)), "event_id",
                            col_json(st, 3), "event_type", col_json(st, 4), "conversion_id", col_json(st, 5),
                            "campaign_id", col_json(st, 6), "kind", col_json(st, 7), "account_type", col_json(st, 8),
                            "account_id", col_json(st, 9), "amount", col_money(st, 10)));
        n++;
    }
    bool more = step == SQLITE_ROW;
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        pm__api_store_failed(c, "ledger");
        goto out;
    }
    pm__api_send(c, 200, json_pack("{s:O, s:o}", "rows", rows, "next", more ? json_integer(last) : json_null()));
out:
    json_decref(rows);
    pm_tz_free(r.tz);
    pm_qs_free(&qs);
}

/* --- balances ------------------------------------------------------------------ */

#define MAX_BALANCES 10000

typedef struct balance_s {
    int64_t day; /* local day number, or INT64_MIN when not grouped by day */
    char type[16], currency[4];
    int64_t id, debits, credits;
} balance_t;

typedef struct balances_s {
    balance_t *b;
    size_t n;
    const pm_tz_t *tz;
    bool by_day;
} balances_t;

static int64_t local_day(const pm_tz_t *tz, int64_t ts_us)
{
    int64_t s = ts_us / PM_USEC_PER_SEC - (ts_us % PM_USEC_PER_SEC < 0);
    int64_t local = s + pm_tz_offset(tz, s);
    return local / 86400 - (local % 86400 < 0);
}

/* The balance row of (day, account, currency): rows arrive sorted by
 * account and currency, then ts, so the match is the last row or a new one. */
static balance_t *balance_of(balances_t *bs, int64_t day, const char *type, int64_t id, const char *cur)
{
    for (size_t i = bs->n; i-- > 0;) {
        balance_t *b = &bs->b[i];
        if (b->id != id || strcmp(b->type, type) != 0 || strcmp(b->currency, cur) != 0) break;
        if (b->day == day) return b;
    }
    if (bs->n == MAX_BALANCES) return NULL;
    balance_t *b = &bs->b[bs->n++];
    memset(b, 0, sizeof(*b));
    b->day = day;
    b->id = id;
    snprintf(b->type, sizeof(b->type), "%s", type);
    snprintf(b->currency, sizeof(b->currency), "%s", cur);
    return b;
}

static int rate_of(pm__api_ctx_t *c, const char *from, const char *to, int64_t *rate)
{
    if (strcmp(from, to) == 0) {
        *rate = PM_MICROS;
        return PM_OK;
    }
    sqlite3_stmt *st = pm__api_stmt(c->api, "SELECT rate_micros FROM fx_rates WHERE currency=?1");
    if (st == NULL) return PM_ESTORE;
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) *rate = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return step == SQLITE_ROW ? PM_OK : PM_ENOTFOUND;
}

static json_t *balance_json(pm__api_ctx_t *c, const balance_t *b, const char *reporting)
{
    char day[16];
    int y, m, d;
    json_t *row = json_object();
    if (b->day != INT64_MIN) {
        pm_civil_from_days(b->day, &y, &m, &d);
        snprintf(day, sizeof(day), "%04d-%02d-%02d", y, m, d);
        json_object_set_new(row, "day", json_string(day));
    }
    json_object_set_new(row, "account_type", json_string(b->type));
    json_object_set_new(row, "account_id", json_integer(b->id));
    json_object_set_new(row, "debits", pm__api_jmoney(b->debits, b->currency));
    json_object_set_new(row, "credits", pm__api_jmoney(b->credits, b->currency));
    json_object_set_new(row, "balance", pm__api_jmoney(b->debits - b->credits, b->currency));
    int64_t rate, conv;
    if (rate_of(c, b->currency, reporting, &rate) == PM_OK &&
        pm_ledger_convert(b->debits - b->credits, rate, &conv) == PM_OK)
        json_object_set_new(row, "balance_converted", pm__api_jmoney(conv, reporting));
    else
        json_object_set_new(row, "balance_converted", json_null());
    return row;
}

static int sum_balances(pm__api_ctx_t *c, const range_t *r, const char *type, int64_t id, balances_t *bs)
{
    sqlite3_stmt *st =
        pm__api_stmt(c->api, "SELECT account_type, account_id, currency, ts, amount_micros FROM ledger_entries"
                             " WHERE ts>=?1 AND ts<?2 AND (?3 IS NULL OR account_type=?3) AND (?4 < 0 OR account_id=?4)"
                             " ORDER BY account_type, account_id, currency, ts");
    if (st == NULL) return pm__api_store_failed(c, "balances");
    sqlite3_bind_int64(st, 1, r->from);
    sqlite3_bind_int64(st, 2, r->to);
    if (type) sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, id);
    int step, rc = PM_OK;
    while (rc == PM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t day = bs->by_day ? local_day(bs->tz, sqlite3_column_int64(st, 3)) : INT64_MIN;
        balance_t *b = balance_of(bs, day, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
                                  (const char *)sqlite3_column_text(st, 2));
        int64_t amount = sqlite3_column_int64(st, 4);
        if (b == NULL) {
            pm_http_res_error(c->res, 422, "too_big", NULL, "more than %d balances: narrow the range or the account",
                              MAX_BALANCES);
            rc = PM_ETOOBIG;
        } else if (amount >= 0) {
            b->debits += amount;
        } else {
            b->credits -= amount;
        }
    }
    sqlite3_reset(st);
    if (rc == PM_OK && step != SQLITE_DONE) rc = pm__api_store_failed(c, "balances");
    return rc;
}

void pm__api_ledger_balances(pm__api_ctx_t *c)
{
    static const char *const allowed[] = {"from", "to", "tz", "account_type", "account_id", "group", NULL};
    pm_qs_t qs;
    range_t r = {0};
    const char *type = NULL;
    int64_t id = -1;
    balances_t bs = {.b = NULL};
    if (pm__api_query(c, &qs, allowed) != PM_OK || parse_range(c, &qs, &r) != PM_OK ||
        parse_account(c, &qs, &type, &id) != PM_OK)
        goto out;
    const char *group = pm_qs_get(&qs, "group", NULL);
    if (group && strcmp(group, "day") != 0 && strcmp(group, "none") != 0) {
        pm_http_res_error(c->res, 422, "invalid", "group", "group must be day or none");
        goto out;
    }
    bs.by_day = group && strcmp(group, "day") == 0;
    bs.tz = r.tz;
    bs.b = pm_calloc(MAX_BALANCES, sizeof(balance_t));
    if (sum_balances(c, &r, type, id, &bs) != PM_OK) goto out;
    const char *reporting = c->cfg ? pm_config_settings(c->cfg)->currency.code : "USD";
    json_t *rows = json_array();
    for (size_t i = 0; i < bs.n; i++)
        json_array_append_new(rows, balance_json(c, &bs.b[i], reporting));
    pm__api_send(c, 200,
                 json_pack("{s:s, s:s, s:o}", "currency", reporting, "timezone", pm_tz_name(r.tz), "rows", rows));
out:
    pm_free(bs.b);
    pm_tz_free(r.tz);
    pm_qs_free(&qs);
}

/* --- exchange rates ------------------------------------------------------------- */

static void rates_answer(pm__api_ctx_t *c)
{
    sqlite3_stmt *st = pm__api_stmt(c->api, "SELECT currency, rate_micros FROM fx_rates ORDER BY currency");
    if (st == NULL) {
        pm__api_store_failed(c, "rates");
        return;
    }
    json_t *rates = json_object();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        char amount[PM_MONEY_STR_MAX];
        size_t n = pm_money_format(sqlite3_column_int64(st, 1), amount);
        json_object_set_new(rates, (const char *)sqlite3_column_text(st, 0), json_stringn(amount, n));
    }
    sqlite3_reset(st);
    const char *reporting = c->cfg ? pm_config_settings(c->cfg)->currency.code : "USD";
    if (step == SQLITE_DONE)
        pm__api_send(c, 200, json_pack("{s:s, s:o}", "currency", reporting, "rates", rates));
    else
        json_decref(rates), pm__api_store_failed(c, "rates");
}

void pm__api_rates_get(pm__api_ctx_t *c)
{
    rates_answer(c);
}

/* One rate: "<currency>": "1.08" (units of the reporting currency per unit). */
static int put_rate(pm__api_ctx_t *c, const char *key, json_t *v)
{
    pm_currency_t cur;
    int64_t micros;
    const char *why = "malformed";
    char field[32];
    snprintf(field, sizeof(field), "rates.%.3s", key);
    if (pm_currency_parse(key, strlen(key), &cur) != PM_OK) {
        pm_http_res_error(c->res, 422, "invalid", "rates", "rates keys must be ISO 4217 codes");
        return PM_EINVAL;
    }
    if (!json_is_string(v) ||
        pm_money_parse(json_string_value(v), json_string_length(v), false, &micros, &why) != PM_OK || micros <= 0) {
        pm_http_res_error(c->res, 422, "invalid", field, "%s must be a positive decimal string such as \"1.08\"",
                          field);
        return PM_EINVAL;
    }
    sqlite3_stmt *st = pm__api_stmt(c->api, "INSERT INTO fx_rates(currency, rate_micros, updated_at) VALUES(?1,?2,?3)");
    if (st == NULL) return pm__api_store_failed(c, "rates");
    sqlite3_bind_text(st, 1, cur.code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, micros);
    sqlite3_bind_int64(st, 3, pm_now());
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    return step == SQLITE_DONE ? PM_OK : pm__api_store_failed(c, "rates");
}

/* PUT {"rates": {"EUR": "1.08", ...}}: replaces the whole table. */
void pm__api_rates_put(pm__api_ctx_t *c)
{
    json_t *body = pm__api_body(c), *rates = body ? json_object_get(body, "rates") : NULL;
    const char *key;
    json_t *v;
    if (body == NULL) return;
    if (!json_is_object(rates) || json_object_size(body) != 1) {
        pm_http_res_error(c->res, 422, "invalid", "rates", "the body must be {\"rates\": {\"EUR\": \"1.08\", ...}}");
        goto out;
    }
    if (pm__api_begin(c) != PM_OK) goto out;
    int rc = pm_store_exec(c->api->store, "DELETE FROM fx_rates") == PM_OK ? PM_OK : pm__api_store_failed(c, "rates");
    json_object_foreach(rates, key, v)
    {
        if (rc == PM_OK) rc = put_rate(c, key, v);
    }
    if (rc != PM_OK) {
        pm_store_rollback(c->api->store);
        goto out;
    }
    if (pm__api_commit(c) == PM_OK) rates_answer(c);
out:
    json_decref(body);
}

/* --- reported cost ("auto") ---------------------------------------------------------- */

typedef struct cost_batch_s {
    pm_tz_t *tz;
    json_t *errors;
    int64_t recorded;
    uint64_t lsn;
    char actor[32];
} cost_batch_t;

static void cost_error(cost_batch_t *b, int64_t line, const char *field, const char *msg)
{
    json_array_append_new(b->errors, json_pack("{s:I, s:s, s:s, s:s}", "line", (json_int_t)line, "code", "invalid",
                                               "field", field, "message", msg));
}

/* One day's cost of one campaign, from text values; `line` names it in errors. */
static void cost_row(pm__api_ctx_t *c, cost_batch_t *b, int64_t line, const char *campaign, const char *day,
                     const char *amount, const char *currency)
{
    int64_t id = 0;
    int y, m, d;
    pm_track_cost_t req = {.method = "api", .actor = b->actor};
    const pm_campaign_t *k = NULL;
    if (campaign == NULL || !pm__api_parse_int(campaign, strlen(campaign), 1, INT64_MAX, &id) ||
        (k = pm_config_campaign_by_id(c->cfg, id)) == NULL)
        return cost_error(b, line, "campaign_id", "campaign_id must name a live campaign");
    if (day == NULL || strlen(day) != 10 || pm_date_parse(day, 10, &y, &m, &d) != PM_OK)
        return cost_error(b, line, "day", "day must be YYYY-MM-DD (in the workspace's time zone)");
    if (amount == NULL || pm_money_parse(amount, strlen(amount), false, &req.cost.micros, NULL) != PM_OK)
        return cost_error(b, line, "amount", "amount must be a non-negative decimal string");
    const char *cur = currency && *currency ? currency : k->cost.currency.code;
    if (pm_currency_parse(cur, strlen(cur), &req.cost.currency) != PM_OK)
        return cost_error(b, line, "currency", "currency must be an ISO 4217 code");
    int64_t days = pm_days_from_civil(y, m, d);
    req.campaign_id = k->id;
    req.traffic_source_id = k->source->id;
    req.day_start = pm_tz_local_to_utc(b->tz, days * 86400) * PM_USEC_PER_SEC;
    req.day_end = pm_tz_local_to_utc(b->tz, (days + 1) * 86400) * PM_USEC_PER_SEC;
    uint64_t lsn = 0;
    if (pm_track_report_cost(c->api->track, &req, &lsn) != PM_OK)
        return cost_error(b, line, "", "the journal could not record this row; retry");
    b->recorded++;
    if (lsn > b->lsn) b->lsn = lsn;
}

static const char *jtext(json_t *o, const char *key, char *buf, size_t cap)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_integer(v)) return snprintf(buf, cap, "%lld", (long long)json_integer_value(v)), buf;
    return NULL;
}

static void cost_json(pm__api_ctx_t *c, cost_batch_t *b, json_t *body)
{
    json_t *rows = json_object_get(body, "rows"), *row;
    size_t i;
    if (!json_is_array(rows)) {
        pm_http_res_error(
            c->res, 422, "invalid", "rows",
            "the body must be {\"rows\":[{\"campaign_id\":1,\"day\":\"2026-12-03\",\"amount\":\"12.00\"}]}");
        return;
    }
    json_array_foreach(rows, i, row)
    {
        char id[24];
        cost_row(c, b, (int64_t)i + 1, jtext(row, "campaign_id", id, sizeof(id)), jtext(row, "day", NULL, 0),
                 jtext(row, "amount", NULL, 0), jtext(row, "currency", NULL, 0));
    }
}

/* CSV: a header naming campaign_id, day, amount[, currency]. */
static void cost_csv(pm__api_ctx_t *c, cost_batch_t *b)
{
    static const char *const names[] = {"campaign_id", "day", "amount", "currency"};
    pm_csv_t *csv = pm_malloc(sizeof(*csv));
    int col[4] = {-1, -1, -1, -1};
    pm_csv_init(csv, c->req->body.p ? c->req->body.p : "", c->req->body.len);
    if (pm_csv_next(csv) == PM_OK) {
        for (size_t i = 0; i < csv->nfields; i++)
            for (int k = 0; k < 4; k++)
                if (strcmp(csv->field[i], names[k]) == 0) col[k] = (int)i;
    }
    if (col[0] < 0 || col[1] < 0 || col[2] < 0) {
        pm_http_res_error(c->res, 422, "invalid", "body", "line 1: the header needs campaign_id, day and amount");
        pm_free(csv);
        return;
    }
    int rc;
    while ((rc = pm_csv_next(csv)) != PM_ENOTFOUND) {
        if (rc != PM_OK) {
            cost_error(b, (int64_t)csv->line, "", csv->error);
            continue;
        }
        const char *v[4] = {NULL, NULL, NULL, NULL};
        for (int k = 0; k < 4; k++)
            if (col[k] >= 0 && (size_t)col[k] < csv->nfields) v[k] = csv->field[col[k]];
        cost_row(c, b, (int64_t)csv->line, v[0], v[1], v[2], v[3]);
    }
    pm_free(csv);
}

/* POST /api/v1/costs: each row sets one campaign's cost for one local day
 * (a later report of the same day replaces it). JSON {"rows":[...]} or CSV. */
void pm__api_costs_post(pm__api_ctx_t *c)
{
    cost_batch_t b = {.errors = json_array()};
    snprintf(b.actor, sizeof(b.actor), "api:%s", c->role ? c->role : "admin");
    const char *zone = c->cfg ? pm_config_settings(c->cfg)->timezone : "UTC";
    bool csv = c->req->content_type.len >= 8 && strncmp(c->req->content_type.p, "text/csv", 8) == 0;
    json_t *body = NULL;
    if (c->api->track == NULL || c->cfg == NULL) {
        pm_http_res_error(c->res, 503, "unavailable", NULL, "cost reports need a running server");
        goto out;
    }
    if (pm_tz_load(zone, &b.tz) != PM_OK && pm_tz_load("UTC", &b.tz) != PM_OK) {
        pm__api_store_failed(c, "time zone");
        goto out;
    }
    if (csv) {
        cost_csv(c, &b);
    } else if ((body = pm__api_body(c)) != NULL) {
        cost_json(c, &b, body);
    }
    if (c->res->status == 0) {
        c->res->wait_lsn = b.lsn;
        pm__api_send(c, 200, json_pack("{s:I, s:O}", "recorded", (json_int_t)b.recorded, "errors", b.errors));
    }
out:
    json_decref(body);
    json_decref(b.errors);
    pm_tz_free(b.tz);
}

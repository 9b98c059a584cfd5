/*
 * kinds.c: the four entity kinds of the admin API as data: their table, the
 * columns the API reads and writes, and the field table that says what a
 * body may hold and how a row is rendered (validate.c runs the tables,
 * entities.c the CRUD). What tables cannot say lives in two hooks, both for
 * campaigns: the cross-field checks and generated token (finish), and the
 * URLs a media buyer copies into a traffic source (decorate).
 */
#include "api_internal.h"

#include "pm/experiment.h"
#include "pm/flow.h"
#include "pm/id.h"

#include <stdio.h>
#include <string.h>

#define GENERATED_TOKEN_LEN 10
#define TOKEN_ATTEMPTS 8

#define COL_TEXT PM__API_COL_TEXT
#define COL_INT PM__API_COL_INT

/* --- traffic sources --------------------------------------------------- */

enum { SRC_NAME, SRC_POSTBACK_URL };

static const pm__api_column_t source_cols[] = {
    [SRC_NAME] = {"name", COL_TEXT},
    [SRC_POSTBACK_URL] = {"postback_url", COL_TEXT},
};

static const pm__api_field_t source_fields[] = {
    {.name = "name", .kind = PM__API_F_NAME, .col = SRC_NAME, .flags = PM__API_REQUIRED},
    {.name = "postback_url", .kind = PM__API_F_URL_OPT, .col = SRC_POSTBACK_URL, .def = ""},
    {0},
};

static const pm__api_entity_t sources = {
    .path = "traffic-sources",
    .table = "traffic_sources",
    .singular = "traffic source",
    .cols = source_cols,
    .ncols = PM_ARRAY_LEN(source_cols),
    .fields = source_fields,
    .ref_column = "traffic_source_id",
    .ref_field = "traffic_source_id",
};

/* --- offers ------------------------------------------------------------ */

enum {
    OFF_NAME,
    OFF_URL,
    OFF_PAYOUT_TYPE,
    OFF_PAYOUT_MICROS,
    OFF_PAYOUT_CURRENCY,
    OFF_CAP_DAILY,
    OFF_CAP_TOTAL,
    OFF_PAYOUT_PERCENT,
    OFF_REPEATS
};

static const pm__api_column_t offer_cols[] = {
    [OFF_NAME] = {"name", COL_TEXT},
    [OFF_URL] = {"url", COL_TEXT},
    [OFF_PAYOUT_TYPE] = {"payout_type", COL_TEXT},
    [OFF_PAYOUT_MICROS] = {"payout_micros", COL_INT},
    [OFF_PAYOUT_CURRENCY] = {"payout_currency", COL_TEXT},
    [OFF_CAP_DAILY] = {"cap_daily", COL_INT},
    [OFF_CAP_TOTAL] = {"cap_total", COL_INT},
    [OFF_PAYOUT_PERCENT] = {"payout_percent_micros", COL_INT},
    [OFF_REPEATS] = {"repeat_conversions", COL_INT},
};

static const char *const payout_types[] = {"cpa", "cpl", "cpi", "cps", NULL};

static const pm__api_field_t payout_fields[] = {
    {.name = "type", .kind = PM__API_F_ENUM, .col = OFF_PAYOUT_TYPE, .flags = PM__API_REQUIRED,
     .choices = payout_types},
    {.name = "amount", .kind = PM__API_F_AMOUNT, .col = OFF_PAYOUT_MICROS, .flags = PM__API_REQUIRED},
    {.name = "currency", .kind = PM__API_F_CURRENCY, .col = OFF_PAYOUT_CURRENCY, .flags = PM__API_REQUIRED},
    /* > 0: the revenue is this share of the sale value (postback amount=) instead of `amount`. */
    {.name = "percent", .kind = PM__API_F_PERCENT, .col = OFF_PAYOUT_PERCENT, .def = "0"},
    {0},
};

/* Conversions per local day of the workspace and in total; null = no cap. */
static const pm__api_field_t cap_fields[] = {
    {.name = "daily", .kind = PM__API_F_COUNT, .col = OFF_CAP_DAILY, .flags = PM__API_NULLABLE},
    {.name = "total", .kind = PM__API_F_COUNT, .col = OFF_CAP_TOTAL, .flags = PM__API_NULLABLE},
    {0},
};

static const pm__api_field_t offer_fields[] = {
    {.name = "name", .kind = PM__API_F_NAME, .col = OFF_NAME, .flags = PM__API_REQUIRED},
    {.name = "url", .kind = PM__API_F_URL, .col = OFF_URL, .flags = PM__API_REQUIRED},
    {.name = "payout", .kind = PM__API_F_OBJECT, .flags = PM__API_REQUIRED, .children = payout_fields},
    {.name = "caps", .kind = PM__API_F_OBJECT, .children = cap_fields},
    {.name = "repeat_conversions", .kind = PM__API_F_BOOL, .col = OFF_REPEATS, .def = "0"},
    {0},
};

static int32_t today(pm__api_ctx_t *c)
{
    return pm_spend_day(c->cfg ? pm_config_tz(c->cfg) : NULL, pm_now());
}

/* The offer's conversions against its caps (read-only output). */
static void offer_decorate(pm__api_ctx_t *c, const pm__api_record_t *rec, json_t *obj)
{
    int64_t day_n = 0, total_n = 0;
    int32_t day = today(c);
    int64_t daily = rec->v[OFF_CAP_DAILY].null ? 0 : rec->v[OFF_CAP_DAILY].i;
    int64_t total = rec->v[OFF_CAP_TOTAL].null ? 0 : rec->v[OFF_CAP_TOTAL].i;
    if (c->api->spend) pm_spend_conversions(c->api->spend, rec->id, day, &day_n, &total_n);
    json_object_set_new(obj, "conversions_today", json_integer(day_n));
    json_object_set_new(obj, "conversions_total", json_integer(total_n));
    json_object_set_new(obj, "capped", json_boolean(c->api->spend && pm_spend_offer_capped(c->api->spend, rec->id,
                                                                                            day, daily, total)));
}

static const pm__api_entity_t offers = {
    .path = "offers",
    .table = "offers",
    .singular = "offer",
    .cols = offer_cols,
    .ncols = PM_ARRAY_LEN(offer_cols),
    .fields = offer_fields,
    .ref_column = "offer_id",
    .ref_field = "destination.offer_id",
    .decorate = offer_decorate,
};

/* --- landers ----------------------------------------------------------- */

enum { LAN_NAME, LAN_URL };

static const pm__api_column_t lander_cols[] = {
    [LAN_NAME] = {"name", COL_TEXT},
    [LAN_URL] = {"url", COL_TEXT},
};

static const pm__api_field_t lander_fields[] = {
    {.name = "name", .kind = PM__API_F_NAME, .col = LAN_NAME, .flags = PM__API_REQUIRED},
    {.name = "url", .kind = PM__API_F_URL, .col = LAN_URL, .flags = PM__API_REQUIRED},
    {0},
};

static const pm__api_entity_t landers = {
    .path = "landers",
    .table = "landers",
    .singular = "lander",
    .cols = lander_cols,
    .ncols = PM_ARRAY_LEN(lander_cols),
    .fields = lander_fields,
    .ref_column = "lander_id",
    .ref_field = "destination.lander_id",
};

/* --- creatives ---------------------------------------------------------- */

enum { CRE_CAMPAIGN, CRE_NAME, CRE_URL, CRE_STATUS, CRE_CAP };

static const pm__api_column_t creative_cols[] = {
    [CRE_CAMPAIGN] = {"campaign_id", COL_INT},
    [CRE_NAME] = {"name", COL_TEXT},
    [CRE_URL] = {"url", COL_TEXT},
    [CRE_STATUS] = {"status", COL_TEXT},
    [CRE_CAP] = {"frequency_cap", COL_TEXT},
};

static const char *const creative_statuses[] = {"active", "paused", NULL};

static const pm__api_field_t creative_fields[] = {
    {.name = "campaign_id", .kind = PM__API_F_REF, .col = CRE_CAMPAIGN, .flags = PM__API_REQUIRED,
     .ref_table = "campaigns"},
    {.name = "name", .kind = PM__API_F_NAME, .col = CRE_NAME, .flags = PM__API_REQUIRED},
    {.name = "url", .kind = PM__API_F_URL_OPT, .col = CRE_URL, .def = ""},
    {.name = "status", .kind = PM__API_F_ENUM, .col = CRE_STATUS, .def = "active", .choices = creative_statuses},
    {.name = "frequency_cap", .kind = PM__API_F_JSON, .col = CRE_CAP, .flags = PM__API_NULLABLE},
    {0},
};

/* The cap is parsed as the tracker parses it (a flow's frequency_cap). */
static int creative_finish(pm__api_ctx_t *c, pm__api_record_t *rec, const pm__api_record_t *old)
{
    (void)old;
    if (rec->v[CRE_CAP].null) return PM_OK;
    json_t *v = json_loads(rec->v[CRE_CAP].text, 0, NULL);
    pm_flow_cap_t cap;
    pm_flow_error_t err;
    int rc = pm_flow_cap_parse(v, &cap, &err);
    if (rc != PM_OK) pm_http_res_error(c->res, 422, "invalid", err.field, "%s", err.message);
    json_decref(v);
    return rc;
}

static const pm__api_entity_t creatives = {
    .path = "creatives",
    .table = "creatives",
    .singular = "creative",
    .cols = creative_cols,
    .ncols = PM_ARRAY_LEN(creative_cols),
    .fields = creative_fields,
    .finish = creative_finish,
};

/* --- campaigns --------------------------------------------------------- */

enum {
    CMP_NAME, CMP_STATUS, CMP_TOKEN, CMP_SOURCE, CMP_OFFER, CMP_LANDER,
    CMP_COST_MODEL, CMP_COST_MICROS, CMP_COST_CURRENCY, CMP_FLOW,
    CMP_BUDGET_DAILY, CMP_BUDGET_TOTAL, CMP_BUDGET_CURRENCY, CMP_FALLBACK_URL,
    CMP_PARTNER, CMP_COST_PERCENT, CMP_COST_TYPE, CMP_BOT_CHECK,
};

static const pm__api_column_t campaign_cols[] = {
    [CMP_NAME] = {"name", COL_TEXT},
    [CMP_STATUS] = {"status", COL_TEXT},
    [CMP_TOKEN] = {"token", COL_TEXT},
    [CMP_SOURCE] = {"traffic_source_id", COL_INT},
    [CMP_OFFER] = {"offer_id", COL_INT},
    [CMP_LANDER] = {"lander_id", COL_INT},
    [CMP_COST_MODEL] = {"cost_model", COL_TEXT},
    [CMP_COST_MICROS] = {"cost_micros", COL_INT},
    [CMP_COST_CURRENCY] = {"cost_currency", COL_TEXT},
    [CMP_BUDGET_DAILY] = {"budget_daily_micros", COL_INT},
    [CMP_BUDGET_TOTAL] = {"budget_total_micros", COL_INT},
    [CMP_BUDGET_CURRENCY] = {"budget_currency", COL_TEXT},
    [CMP_FALLBACK_URL] = {"fallback_url", COL_TEXT},
    [CMP_FLOW] = {"flow_id", COL_INT},
    [CMP_PARTNER] = {"partner_id", COL_INT},
    [CMP_COST_PERCENT] = {"cost_percent_micros", COL_INT},
    [CMP_COST_TYPE] = {"cost_conversion_type", COL_TEXT},
    [CMP_BOT_CHECK] = {"bot_check", COL_TEXT},
};

static const char *const campaign_statuses[] = {"active", "paused", NULL};
static const char *const bot_checks[] = {"none", "js", NULL};

static const pm__api_field_t destination_fields[] = {
    {.name = "offer_id", .kind = PM__API_F_REF, .col = CMP_OFFER, .flags = PM__API_NULLABLE,
     .ref_table = "offers"},
    {.name = "lander_id", .kind = PM__API_F_REF, .col = CMP_LANDER, .flags = PM__API_NULLABLE,
     .ref_table = "landers"},
    {0},
};

static const pm__api_field_t cost_fields[] = {
    {.name = "model", .kind = PM__API_F_COST_MODEL, .col = CMP_COST_MODEL, .flags = PM__API_REQUIRED},
    {.name = "amount", .kind = PM__API_F_AMOUNT, .col = CMP_COST_MICROS, .flags = PM__API_REQUIRED},
    {.name = "currency", .kind = PM__API_F_CURRENCY, .col = CMP_COST_CURRENCY, .flags = PM__API_REQUIRED},
    {.name = "percent", .kind = PM__API_F_PERCENT, .col = CMP_COST_PERCENT, .def = "0"}, /* revshare */
    {.name = "conversion_type", .kind = PM__API_F_CONV_TYPE, .col = CMP_COST_TYPE, .def = ""}, /* cpa */
    {0},
};

/* Money per local day of the workspace and in total; null = no budget. */
static const pm__api_field_t budget_fields[] = {
    {.name = "daily", .kind = PM__API_F_AMOUNT, .col = CMP_BUDGET_DAILY, .flags = PM__API_NULLABLE},
    {.name = "total", .kind = PM__API_F_AMOUNT, .col = CMP_BUDGET_TOTAL, .flags = PM__API_NULLABLE},
    {.name = "currency", .kind = PM__API_F_CURRENCY, .col = CMP_BUDGET_CURRENCY, .flags = PM__API_NULLABLE},
    {0},
};

static const pm__api_field_t campaign_fields[] = {
    {.name = "name", .kind = PM__API_F_NAME, .col = CMP_NAME, .flags = PM__API_REQUIRED},
    {.name = "status", .kind = PM__API_F_ENUM, .col = CMP_STATUS, .def = "active", .choices = campaign_statuses},
    /* No default: finish() keeps the old token on a replace, else generates one. */
    {.name = "token", .kind = PM__API_F_TOKEN, .col = CMP_TOKEN},
    {.name = "traffic_source_id", .kind = PM__API_F_REF, .col = CMP_SOURCE, .flags = PM__API_REQUIRED,
     .ref_table = "traffic_sources"},
    {.name = "destination", .kind = PM__API_F_OBJECT, .flags = PM__API_REQUIRED, .children = destination_fields},
    {.name = "cost", .kind = PM__API_F_OBJECT, .flags = PM__API_REQUIRED, .children = cost_fields},
    {.name = "budget", .kind = PM__API_F_OBJECT, .children = budget_fields},
    /* Where visitors go while the campaign is capped; "" = the workspace's fallback_url. */
    {.name = "fallback_url", .kind = PM__API_F_URL_OPT, .col = CMP_FALLBACK_URL, .def = ""},
    {.name = "flow_id", .kind = PM__API_F_REF, .col = CMP_FLOW, .flags = PM__API_NULLABLE, .ref_table = "flows"},
    {.name = "partner_id", .kind = PM__API_F_REF, .col = CMP_PARTNER, .flags = PM__API_NULLABLE,
     .ref_table = "partners"},
    /* "js": a click without the script check's mark gets a page that sets a
     * cookie from script and comes back (docs/routing.md). */
    {.name = "bot_check", .kind = PM__API_F_ENUM, .col = CMP_BOT_CHECK, .def = "none", .choices = bot_checks},
    {0},
};

/* Is `token` used by a campaign other than `own_id` (deleted ones count:
 * the column is UNIQUE, and an old link must not start counting for a new
 * campaign)? */
static int token_taken(pm__api_ctx_t *c, const char *token, int64_t own_id, bool *taken)
{
    sqlite3_stmt *st = pm__api_stmt(c->api, "SELECT 1 FROM campaigns WHERE token=?1 AND id<>?2");
    if (st == NULL) return pm__api_store_failed(c, "token lookup");
    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, own_id);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) return pm__api_store_failed(c, "token lookup");
    *taken = step == SQLITE_ROW;
    return PM_OK;
}

/* 10 characters of lowercase RFC 4648 base32: 50 bits, short enough to
 * type, unguessable enough that campaigns cannot be enumerated. */
static int generate_token(pm__api_ctx_t *c, pm__api_record_t *rec)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    for (int attempt = 0; attempt < TOKEN_ATTEMPTS; attempt++) {
        uint8_t rnd[GENERATED_TOKEN_LEN];
        char token[GENERATED_TOKEN_LEN + 1];
        bool taken = true;
        if (pm_random_bytes(rnd, sizeof(rnd)) != PM_OK) break;
        for (size_t i = 0; i < GENERATED_TOKEN_LEN; i++)
            token[i] = alphabet[rnd[i] & 31];
        token[GENERATED_TOKEN_LEN] = '\0';
        if (token_taken(c, token, rec->id, &taken) != PM_OK) return PM_ESTORE;
        if (!taken) {
            pm__api_record_set_text(rec, CMP_TOKEN, token, GENERATED_TOKEN_LEN);
            return PM_OK;
        }
    }
    pm_http_res_error(c->res, 500, "internal", NULL, "could not generate a campaign token");
    return PM_EINVAL;
}

static int campaign_token(pm__api_ctx_t *c, pm__api_record_t *rec, const pm__api_record_t *old)
{
    const char *token = rec->v[CMP_TOKEN].text;
    bool taken = false;
    if (token == NULL && old && old->v[CMP_TOKEN].text) {
        token = old->v[CMP_TOKEN].text;
        pm__api_record_set_text(rec, CMP_TOKEN, token, strlen(token));
        return PM_OK;
    }
    if (token == NULL) return generate_token(c, rec);
    if (token_taken(c, token, rec->id, &taken) != PM_OK) return PM_ESTORE;
    if (!taken) return PM_OK;
    pm_http_res_error(c->res, 409, "conflict", "token",
                      "token \"%s\" is already used by another campaign (deleted ones included)", token);
    return PM_EEXIST;
}

/* Budgets count the campaign's cost, so they are in its cost currency
 * (taken as the default); no budget leaves no currency. */
static int campaign_budget(pm__api_ctx_t *c, pm__api_record_t *rec)
{
    bool any = !rec->v[CMP_BUDGET_DAILY].null || !rec->v[CMP_BUDGET_TOTAL].null;
    const char *cost = rec->v[CMP_COST_CURRENCY].text, *cur = rec->v[CMP_BUDGET_CURRENCY].text;
    if (!any) {
        pm__api_record_set_null(rec, CMP_BUDGET_CURRENCY);
        return PM_OK;
    }
    if (!rec->v[CMP_BUDGET_DAILY].null && rec->v[CMP_BUDGET_DAILY].i > PM_SPEND_DAILY_MAX) {
        pm_http_res_error(c->res, 422, "invalid", "budget.daily", "budget.daily is out of range");
        return PM_EINVAL;
    }
    if (cur && cost && strcmp(cur, cost) != 0) {
        pm_http_res_error(c->res, 422, "invalid", "budget.currency",
                          "budget.currency must be the campaign's cost currency (%s)", cost);
        return PM_EINVAL;
    }
    if (cur == NULL && cost) pm__api_record_set_text(rec, CMP_BUDGET_CURRENCY, cost, strlen(cost));
    return PM_OK;
}

static int campaign_finish(pm__api_ctx_t *c, pm__api_record_t *rec, const pm__api_record_t *old)
{
    if (rec->v[CMP_OFFER].null && rec->v[CMP_LANDER].null && rec->v[CMP_FLOW].null) {
        pm_http_res_error(c->res, 422, "required", "destination",
                          "destination needs an offer_id, a lander_id or both (or the campaign a flow_id)");
        return PM_EINVAL;
    }
    if (campaign_budget(c, rec) != PM_OK) return PM_EINVAL;
    return campaign_token(c, rec, old);
}

/* Why the campaign's clicks go to its fallback now, or NULL. With a flow,
 * the options' offers are capped one by one (docs/flows.md): the
 * campaign's own offer does not cap it. */
static const char *capped_reason(pm__api_ctx_t *c, const pm__api_record_t *rec, int32_t day)
{
    pm_spend_t *sp = c->api->spend;
    bool own_offer = c->cfg && !rec->v[CMP_OFFER].null && rec->v[CMP_FLOW].null;
    const pm_offer_t *offer = own_offer ? pm_config_offer_by_id(c->cfg, rec->v[CMP_OFFER].i) : NULL;
    int64_t daily = rec->v[CMP_BUDGET_DAILY].null ? 0 : rec->v[CMP_BUDGET_DAILY].i;
    int64_t total = rec->v[CMP_BUDGET_TOTAL].null ? 0 : rec->v[CMP_BUDGET_TOTAL].i;
    const char *model = rec->v[CMP_COST_MODEL].text;
    int64_t next = model && strcmp(model, "cpc") == 0 ? rec->v[CMP_COST_MICROS].i : 0; /* the next click's cost */
    if (sp == NULL) return NULL;
    if (pm_spend_capped(sp, rec->id, day, next, daily, 0)) return "daily_budget";
    if (pm_spend_capped(sp, rec->id, day, next, 0, total)) return "total_budget";
    if (offer && pm_spend_offer_capped(sp, offer->id, day, offer->cap_daily, 0)) return "offer_daily_cap";
    if (offer && pm_spend_offer_capped(sp, offer->id, day, 0, offer->cap_total)) return "offer_total_cap";
    return NULL;
}

/* Spend against the budget (read-only output). */
static void campaign_spend(pm__api_ctx_t *c, const pm__api_record_t *rec, json_t *obj)
{
    int64_t spent_today = 0, spent_total = 0;
    int32_t day = today(c);
    if (c->api->spend) pm_spend_get(c->api->spend, rec->id, day, &spent_today, &spent_total);
    const char *cur = rec->v[CMP_COST_CURRENCY].text, *why = capped_reason(c, rec, day);
    json_object_set_new(obj, "budget_spent_today", pm__api_jmoney(spent_today, cur));
    json_object_set_new(obj, "budget_spent_total", pm__api_jmoney(spent_total, cur));
    json_object_set_new(obj, "capped", json_boolean(why != NULL));
    json_object_set_new(obj, "capped_reason", why ? json_string(why) : json_null());
}

static void set_url(json_t *obj, const char *key, const char *base, const char *rest, const char *token)
{
    json_t *url = json_sprintf("%s%s%s", base, rest, token ? token : "");
    json_object_set_new(obj, key, url ? url : json_null());
}

static void campaign_decorate(pm__api_ctx_t *c, const pm__api_record_t *rec, json_t *obj)
{
    const pm_settings_t *s = c->cfg ? pm_config_settings(c->cfg) : NULL;
    const char *base = s && s->base_url ? s->base_url : "";
    const char *token = rec->v[CMP_TOKEN].text;
    set_url(obj, "tracking_url", base, "/c/", token);
    set_url(obj, "impression_url", base, "/i/", token);
    set_url(obj, "postback_url", base, "/pb?clickid={clickid}&payout={payout}&txid={txid}", NULL);
    campaign_spend(c, rec, obj);
}

static const pm__api_entity_t campaigns = {
    .path = "campaigns",
    .table = "campaigns",
    .singular = "campaign",
    .cols = campaign_cols,
    .ncols = PM_ARRAY_LEN(campaign_cols),
    .fields = campaign_fields,
    .finish = campaign_finish,
    .decorate = campaign_decorate,
};

/* --- flows ------------------------------------------------------------- */

enum { FLW_NAME, FLW_RULES, FLW_DEFAULT, FLW_FALLBACK, FLW_BOT, FLW_CAP };

static const pm__api_column_t flow_cols[] = {
    [FLW_NAME] = {"name", COL_TEXT},          [FLW_RULES] = {"rules", COL_TEXT},
    [FLW_DEFAULT] = {"default_path", COL_TEXT}, [FLW_FALLBACK] = {"fallback_path", COL_TEXT},
    [FLW_BOT] = {"bot_path", COL_TEXT},       [FLW_CAP] = {"frequency_cap", COL_TEXT},
};

static const pm__api_field_t flow_fields[] = {
    {.name = "name", .kind = PM__API_F_NAME, .col = FLW_NAME, .flags = PM__API_REQUIRED},
    {.name = "rules", .kind = PM__API_F_JSON, .col = FLW_RULES, .def = "[]"},
    {.name = "default_path", .kind = PM__API_F_JSON, .col = FLW_DEFAULT, .flags = PM__API_REQUIRED},
    {.name = "fallback_path", .kind = PM__API_F_JSON, .col = FLW_FALLBACK, .flags = PM__API_NULLABLE},
    {.name = "bot_path", .kind = PM__API_F_JSON, .col = FLW_BOT, .flags = PM__API_NULLABLE},
    {.name = "frequency_cap", .kind = PM__API_F_JSON, .col = FLW_CAP, .flags = PM__API_NULLABLE},
    {0},
};

/* The definition the compiler reads, from the record's JSON columns. */
static json_t *flow_definition(const pm__api_record_t *rec)
{
    json_t *def = json_object();
    for (const pm__api_field_t *f = flow_fields + 1; f->name; f++) {
        const char *text = rec->v[f->col].null ? NULL : rec->v[f->col].text;
        json_t *v = text ? json_loads(text, 0, NULL) : NULL;
        if (v) json_object_set_new(def, f->name, v);
    }
    return def;
}

/* Is `id` a live row of `table`? */
static int live_row(pm__api_ctx_t *c, const char *table, json_int_t id, bool *live)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id=?1 AND deleted_at IS NULL", table);
    sqlite3_stmt *st = pm__api_stmt(c->api, sql);
    if (st == NULL) return pm__api_store_failed(c, "reference lookup");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) return pm__api_store_failed(c, "reference lookup");
    *live = step == SQLITE_ROW;
    return PM_OK;
}

/* Every offer_id and lander_id of one path must name a live row. */
static int check_path_refs(pm__api_ctx_t *c, json_t *path, const char *where)
{
    static const char *const refs[][2] = {{"offer_id", "offers"}, {"lander_id", "landers"}};
    json_t *opts = json_object_get(path, "options");
    for (size_t i = 0; i < json_array_size(opts); i++) {
        for (size_t r = 0; r < PM_ARRAY_LEN(refs); r++) {
            json_t *v = json_object_get(json_array_get(opts, i), refs[r][0]);
            bool live = true;
            if (!json_is_integer(v)) continue;
            if (live_row(c, refs[r][1], json_integer_value(v), &live) != PM_OK) return PM_ESTORE;
            if (live) continue;
            char field[PM_FLOW_FIELD_MAX];
            snprintf(field, sizeof(field), "%s.options[%zu].%s", where, i, refs[r][0]);
            pm_http_res_error(c->res, 422, "not_found", field, "%s: %lld does not exist or was deleted", field,
                              (long long)json_integer_value(v));
            return PM_EINVAL;
        }
    }
    return PM_OK;
}

static int check_flow_refs(pm__api_ctx_t *c, json_t *def)
{
    static const char *const paths[] = {"default_path", "fallback_path", "bot_path"};
    json_t *rules = json_object_get(def, "rules");
    for (size_t i = 0; i < json_array_size(rules); i++) {
        char where[48];
        snprintf(where, sizeof(where), "rules[%zu].path", i);
        int rc = check_path_refs(c, json_object_get(json_array_get(rules, i), "path"), where);
        if (rc != PM_OK) return rc;
    }
    for (size_t i = 0; i < PM_ARRAY_LEN(paths); i++) {
        json_t *p = json_object_get(def, paths[i]);
        int rc = p ? check_path_refs(c, p, paths[i]) : PM_OK;
        if (rc != PM_OK) return rc;
    }
    return PM_OK;
}

/* The whole definition is compiled as the tracker will compile it, so a
 * flow that is stored is a flow that runs. */
static int flow_finish(pm__api_ctx_t *c, pm__api_record_t *rec, const pm__api_record_t *old)
{
    json_t *def = flow_definition(rec);
    pm_flow_t *flow = NULL;
    pm_flow_error_t err;
    int rc = pm_flow_compile(rec->id, def, &flow, &err);
    if (rc != PM_OK)
        pm_http_res_error(c->res, 422, "invalid", err.field[0] ? err.field : NULL, "%s", err.message);
    else
        rc = check_flow_refs(c, def);
    pm_flow_free(flow);
    json_decref(def);
    return rc;
}

static const pm__api_entity_t flows = {
    .path = "flows",
    .table = "flows",
    .singular = "flow",
    .cols = flow_cols,
    .ncols = PM_ARRAY_LEN(flow_cols),
    .fields = flow_fields,
    .ref_column = "flow_id",
    .ref_field = "flow_id",
    .finish = flow_finish,
};

/* --- experiments --------------------------------------------------------- */

enum { EXP_NAME, EXP_FLOW, EXP_PATH, EXP_GOAL };

static const pm__api_column_t experiment_cols[] = {
    [EXP_NAME] = {"name", COL_TEXT},
    [EXP_FLOW] = {"flow_id", COL_INT},
    [EXP_PATH] = {"path", COL_TEXT},
    [EXP_GOAL] = {"goal", COL_TEXT},
};

static const char *const goals[] = {"cvr", "epc", "rpv", NULL};

static const pm__api_field_t experiment_fields[] = {
    {.name = "name", .kind = PM__API_F_NAME, .col = EXP_NAME, .flags = PM__API_REQUIRED},
    {.name = "flow_id", .kind = PM__API_F_REF, .col = EXP_FLOW, .flags = PM__API_REQUIRED, .ref_table = "flows"},
    {.name = "path", .kind = PM__API_F_NAME, .col = EXP_PATH, .flags = PM__API_REQUIRED},
    {.name = "goal", .kind = PM__API_F_ENUM, .col = EXP_GOAL, .def = "cvr", .choices = goals},
    {0},
};

/* The path must exist in the flow as the tracker runs it. */
static int experiment_finish(pm__api_ctx_t *c, pm__api_record_t *rec, const pm__api_record_t *old)
{
    pm_config_t *cfg = NULL;
    if (c->api->confhold) pm_confhold_refresh(c->api->confhold, &cfg);
    const pm_flow_t *flow = cfg ? pm_config_flow_by_id(cfg, rec->v[EXP_FLOW].i) : NULL;
    bool ok = flow && pm_flow_path_by_name(flow, rec->v[EXP_PATH].text);
    pm_config_release(cfg);
    if (ok) return PM_OK;
    pm_http_res_error(c->res, 422, "not_found", "path", "flow %lld has no path named \"%s\"",
                      (long long)rec->v[EXP_FLOW].i, rec->v[EXP_PATH].text);
    return PM_EINVAL;
}

/* A single experiment (GET .../experiments/{id}) carries its live results. */
static void experiment_decorate(pm__api_ctx_t *c, const pm__api_record_t *rec, json_t *obj)
{
    pm_experiment_goal_t goal = PM_GOAL_CVR;
    /* The hash seed of a split path, for `perfmark experiment assign`. */
    json_t *seed = json_sprintf("flow-%lld-%s", (long long)rec->v[EXP_FLOW].i,
                                rec->v[EXP_PATH].text ? rec->v[EXP_PATH].text : "");
    json_object_set_new(obj, "assignment_seed", seed ? seed : json_null());
    if (c->id == 0 || !pm_slice_eq(c->req->method, "GET")) return;
    if (rec->v[EXP_GOAL].text && pm_experiment_goal_parse(rec->v[EXP_GOAL].text, &goal) != PM_OK) goal = PM_GOAL_CVR;
    pm_config_t *cfg = NULL;
    if (c->api->confhold) pm_confhold_refresh(c->api->confhold, &cfg);
    const pm_flow_t *flow = cfg ? pm_config_flow_by_id(cfg, rec->v[EXP_FLOW].i) : NULL;
    json_t *results = NULL;
    if (pm_experiment_results(c->api->store, rec->v[EXP_FLOW].i, flow, rec->v[EXP_PATH].text, goal, &results) ==
        PM_OK)
        json_object_set_new(obj, "results", results);
    else
        json_object_set_new(obj, "results", json_null());
    pm_config_release(cfg);
}

static const pm__api_entity_t experiments = {
    .path = "experiments",
    .table = "experiments",
    .singular = "experiment",
    .cols = experiment_cols,
    .ncols = PM_ARRAY_LEN(experiment_cols),
    .fields = experiment_fields,
    .finish = experiment_finish,
    .decorate = experiment_decorate,
};


/* --- partners (docs/money.md) -------------------------------------------- */

enum { PAR_NAME, PAR_MODEL, PAR_MICROS, PAR_CURRENCY, PAR_PERCENT, PAR_POSTBACK_URL };

static const pm__api_column_t partner_cols[] = {
    [PAR_NAME] = {"name", COL_TEXT},
    [PAR_MODEL] = {"payout_model", COL_TEXT},
    [PAR_MICROS] = {"payout_micros", COL_INT},
    [PAR_CURRENCY] = {"payout_currency", COL_TEXT},
    [PAR_PERCENT] = {"payout_percent_micros", COL_INT},
    [PAR_POSTBACK_URL] = {"postback_url", COL_TEXT},
};

static const char *const partner_models[] = {"none", "fixed", "percent", NULL};

static const pm__api_field_t partner_payout_fields[] = {
    {.name = "model", .kind = PM__API_F_ENUM, .col = PAR_MODEL, .def = "none", .choices = partner_models},
    {.name = "amount", .kind = PM__API_F_AMOUNT, .col = PAR_MICROS, .def = "0"},
    {.name = "currency", .kind = PM__API_F_CURRENCY, .col = PAR_CURRENCY, .def = "USD"},
    {.name = "percent", .kind = PM__API_F_PERCENT, .col = PAR_PERCENT, .def = "0"},
    {0},
};

static const pm__api_field_t partner_fields[] = {
    {.name = "name", .kind = PM__API_F_NAME, .col = PAR_NAME, .flags = PM__API_REQUIRED},
    {.name = "payout", .kind = PM__API_F_OBJECT, .children = partner_payout_fields},
    /* The partner's postback template (docs/postbacks.md): {payout} is its payout. */
    {.name = "postback_url", .kind = PM__API_F_URL_OPT, .col = PAR_POSTBACK_URL, .def = ""},
    {0},
};

static const pm__api_entity_t partners = {
    .path = "partners",
    .table = "partners",
    .singular = "partner",
    .cols = partner_cols,
    .ncols = PM_ARRAY_LEN(partner_cols),
    .fields = partner_fields,
    .ref_column = "partner_id",
    .ref_field = "partner_id",
};

/* --- pricing rules --------------------------------------------------------- */

enum { RUL_SIDE, RUL_OFFER, RUL_PARTNER, RUL_TYPE, RUL_MODEL, RUL_MICROS, RUL_CURRENCY, RUL_PERCENT, RUL_VOLUME };

static const pm__api_column_t rule_cols[] = {
    [RUL_SIDE] = {"side", COL_TEXT},
    [RUL_OFFER] = {"offer_id", COL_INT},
    [RUL_PARTNER] = {"partner_id", COL_INT},
    [RUL_TYPE] = {"conversion_type", COL_TEXT},
    [RUL_MODEL] = {"model", COL_TEXT},
    [RUL_MICROS] = {"amount_micros", COL_INT},
    [RUL_CURRENCY] = {"currency", COL_TEXT},
    [RUL_PERCENT] = {"percent_micros", COL_INT},
    [RUL_VOLUME] = {"volume_from", COL_INT},
};

static const char *const rule_sides[] = {"revenue", "payout", NULL};
static const char *const rule_models[] = {"fixed", "percent", NULL};

static const pm__api_field_t rule_fields[] = {
    {.name = "side", .kind = PM__API_F_ENUM, .col = RUL_SIDE, .flags = PM__API_REQUIRED, .choices = rule_sides},
    {.name = "offer_id", .kind = PM__API_F_REF, .col = RUL_OFFER, .flags = PM__API_NULLABLE, .ref_table = "offers"},
    {.name = "partner_id", .kind = PM__API_F_REF, .col = RUL_PARTNER, .flags = PM__API_NULLABLE,
     .ref_table = "partners"},
    {.name = "conversion_type", .kind = PM__API_F_CONV_TYPE, .col = RUL_TYPE, .def = ""},
    {.name = "model", .kind = PM__API_F_ENUM, .col = RUL_MODEL, .flags = PM__API_REQUIRED, .choices = rule_models},
    {.name = "amount", .kind = PM__API_F_AMOUNT, .col = RUL_MICROS, .def = "0"},
    {.name = "currency", .kind = PM__API_F_CURRENCY, .col = RUL_CURRENCY, .flags = PM__API_REQUIRED},
    {.name = "percent", .kind = PM__API_F_PERCENT, .col = RUL_PERCENT, .def = "0"},
    /* A volume tier: from the offer's n-th conversion of the month (docs/money.md). */
    {.name = "volume_from", .kind = PM__API_F_COUNT, .col = RUL_VOLUME, .flags = PM__API_NULLABLE},
    {0},
};

/* A revenue rule names no partner (the workspace is paid by the offer);
 * volume tiers count an offer's conversions: revenue rules of an offer. */
static int rule_finish(pm__api_ctx_t *c, pm__api_record_t *rec, const pm__api_record_t *old)
{
    (void)old;
    if (strcmp(rec->v[RUL_SIDE].text, "revenue") == 0 && !rec->v[RUL_PARTNER].null) {
        pm_http_res_error(c->res, 422, "invalid", "partner_id", "a revenue rule applies to offers, not partners");
        return PM_EINVAL;
    }
    if (!rec->v[RUL_VOLUME].null && (strcmp(rec->v[RUL_SIDE].text, "revenue") != 0 || rec->v[RUL_OFFER].null)) {
        pm_http_res_error(c->res, 422, "invalid", "volume_from", "volume tiers are revenue rules of one offer");
        return PM_EINVAL;
    }
    return PM_OK;
}

static const pm__api_entity_t rules = {
    .path = "pricing-rules",
    .table = "pricing_rules",
    .singular = "pricing rule",
    .cols = rule_cols,
    .ncols = PM_ARRAY_LEN(rule_cols),
    .fields = rule_fields,
    .finish = rule_finish,
};


const pm__api_entity_t *const pm__api_entities[] = {&sources,  &offers,    &landers,     &flows, &partners,
                                                    &campaigns, &creatives, &experiments, &rules, NULL};

/*
 * kinds.c: the four entity kinds of the admin API as data: their table, the
 * columns the API reads and writes, and the field table that says what a
 * body may hold and how a row is rendered (validate.c runs the tables,
 * entities.c the CRUD). What tables cannot say lives in two hooks, both for
 * campaigns: the cross-field checks and generated token (finish), and the
 * URLs a media buyer copies into a traffic source (decorate).
 */
#include "api_internal.h"

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

enum { OFF_NAME, OFF_URL, OFF_PAYOUT_TYPE, OFF_PAYOUT_MICROS, OFF_PAYOUT_CURRENCY, OFF_PAYOUT_PERCENT, OFF_REPEATS };

static const pm__api_column_t offer_cols[] = {
    [OFF_NAME] = {"name", COL_TEXT},
    [OFF_URL] = {"url", COL_TEXT},
    [OFF_PAYOUT_TYPE] = {"payout_type", COL_TEXT},
    [OFF_PAYOUT_MICROS] = {"payout_micros", COL_INT},
    [OFF_PAYOUT_CURRENCY] = {"payout_currency", COL_TEXT},
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

static const pm__api_field_t offer_fields[] = {
    {.name = "name", .kind = PM__API_F_NAME, .col = OFF_NAME, .flags = PM__API_REQUIRED},
    {.name = "url", .kind = PM__API_F_URL, .col = OFF_URL, .flags = PM__API_REQUIRED},
    {.name = "payout", .kind = PM__API_F_OBJECT, .flags = PM__API_REQUIRED, .children = payout_fields},
    {.name = "repeat_conversions", .kind = PM__API_F_BOOL, .col = OFF_REPEATS, .def = "0"},
    {0},
};

static const pm__api_entity_t offers = {
    .path = "offers",
    .table = "offers",
    .singular = "offer",
    .cols = offer_cols,
    .ncols = PM_ARRAY_LEN(offer_cols),
    .fields = offer_fields,
    .ref_column = "offer_id",
    .ref_field = "destination.offer_id",
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

/* --- campaigns --------------------------------------------------------- */

enum {
    CMP_NAME, CMP_STATUS, CMP_TOKEN, CMP_SOURCE, CMP_OFFER, CMP_LANDER,
    CMP_COST_MODEL, CMP_COST_MICROS, CMP_COST_CURRENCY, CMP_PARTNER, CMP_COST_PERCENT, CMP_COST_TYPE,
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
    [CMP_PARTNER] = {"partner_id", COL_INT},
    [CMP_COST_PERCENT] = {"cost_percent_micros", COL_INT},
    [CMP_COST_TYPE] = {"cost_conversion_type", COL_TEXT},
};

static const char *const campaign_statuses[] = {"active", "paused", NULL};

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

static const pm__api_field_t campaign_fields[] = {
    {.name = "name", .kind = PM__API_F_NAME, .col = CMP_NAME, .flags = PM__API_REQUIRED},
    {.name = "status", .kind = PM__API_F_ENUM, .col = CMP_STATUS, .def = "active", .choices = campaign_statuses},
    /* No default: finish() keeps the old token on a replace, else generates one. */
    {.name = "token", .kind = PM__API_F_TOKEN, .col = CMP_TOKEN},
    {.name = "traffic_source_id", .kind = PM__API_F_REF, .col = CMP_SOURCE, .flags = PM__API_REQUIRED,
     .ref_table = "traffic_sources"},
    {.name = "destination", .kind = PM__API_F_OBJECT, .flags = PM__API_REQUIRED, .children = destination_fields},
    {.name = "cost", .kind = PM__API_F_OBJECT, .flags = PM__API_REQUIRED, .children = cost_fields},
    {.name = "partner_id", .kind = PM__API_F_REF, .col = CMP_PARTNER, .flags = PM__API_NULLABLE,
     .ref_table = "partners"},
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

static int campaign_finish(pm__api_ctx_t *c, pm__api_record_t *rec, const pm__api_record_t *old)
{
    if (rec->v[CMP_OFFER].null && rec->v[CMP_LANDER].null) {
        pm_http_res_error(c->res, 422, "required", "destination",
                          "destination needs an offer_id, a lander_id or both");
        return PM_EINVAL;
    }
    return campaign_token(c, rec, old);
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

/* --- partners (docs/money.md) -------------------------------------------- */

enum { PAR_NAME, PAR_MODEL, PAR_MICROS, PAR_CURRENCY, PAR_PERCENT };

static const pm__api_column_t partner_cols[] = {
    [PAR_NAME] = {"name", COL_TEXT},
    [PAR_MODEL] = {"payout_model", COL_TEXT},
    [PAR_MICROS] = {"payout_micros", COL_INT},
    [PAR_CURRENCY] = {"payout_currency", COL_TEXT},
    [PAR_PERCENT] = {"payout_percent_micros", COL_INT},
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

enum { RUL_SIDE, RUL_OFFER, RUL_PARTNER, RUL_TYPE, RUL_MODEL, RUL_MICROS, RUL_CURRENCY, RUL_PERCENT };

static const pm__api_column_t rule_cols[] = {
    [RUL_SIDE] = {"side", COL_TEXT},
    [RUL_OFFER] = {"offer_id", COL_INT},
    [RUL_PARTNER] = {"partner_id", COL_INT},
    [RUL_TYPE] = {"conversion_type", COL_TEXT},
    [RUL_MODEL] = {"model", COL_TEXT},
    [RUL_MICROS] = {"amount_micros", COL_INT},
    [RUL_CURRENCY] = {"currency", COL_TEXT},
    [RUL_PERCENT] = {"percent_micros", COL_INT},
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
    {0},
};

/* A revenue rule names no partner (the workspace is paid by the offer). */
static int rule_finish(pm__api_ctx_t *c, pm__api_record_t *rec, const pm__api_record_t *old)
{
    (void)old;
    if (strcmp(rec->v[RUL_SIDE].text, "revenue") == 0 && !rec->v[RUL_PARTNER].null) {
        pm_http_res_error(c->res, 422, "invalid", "partner_id", "a revenue rule applies to offers, not partners");
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

const pm__api_entity_t *const pm__api_entities[] = {&sources, &offers, &landers, &campaigns, &partners, &rules, NULL};

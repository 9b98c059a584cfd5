/*
 * config.c: the immutable configuration snapshot (see pm/config.h).
 *
 * A snapshot is loaded from the store in one read transaction and indexed
 * for the click path: campaigns by token in an open-addressing hash table,
 * everything else by id in sorted arrays (ids come out of SQLite ascending).
 * Publication is a mutex-protected pointer plus an atomic generation: event
 * loops compare the generation on each request (one atomic load) and take
 * the mutex only when it moved.
 */
#include "pm/config.h"
#include "pm/flow.h"
#include "pm/hash.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct pm_config_s {
    _Atomic long refs;
    uint64_t generation;
    char *default_base_url; /* as passed to pm_config_load, for reloads */
    pm_settings_t settings;
    pm_source_t *sources;
    size_t nsources;
    pm_offer_t *offers;
    size_t noffers;
    pm_lander_t *landers;
    size_t nlanders;
    pm_creative_t *creatives;
    size_t ncreatives;
    pm_campaign_t *campaigns;
    size_t ncampaigns;
    pm_tz_t *tz;        /* settings.timezone, loaded */
    pm_flow_t **flows; /* compiled, by ascending id */
    size_t nflows;
    pm_partner_t *partners;
    size_t npartners;
    pm_rule_t *rules;
    size_t nrules;
    uint32_t *by_token; /* indexes into campaigns, +1 (0 = empty slot) */
    size_t token_slots; /* power of two */
};

int pm_cost_model_parse(const char *s, pm_cost_model_t *out)
{
    static const char *const names[] = {"cpc", "cpm", "cpa", "revshare", "auto"};
    for (size_t i = 0; i < PM_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (pm_cost_model_t)i;
            return PM_OK;
        }
    }
    return PM_EINVAL;
}

const char *pm_cost_model_name(pm_cost_model_t m)
{
    switch (m) {
    case PM_COST_CPC: return "cpc";
    case PM_COST_CPM: return "cpm";
    case PM_COST_CPA: return "cpa";
    case PM_COST_REVSHARE: return "revshare";
    case PM_COST_AUTO: return "auto";
    }
    return "cpc";
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return pm_strdup(t ? (const char *)t : "");
}

static void col_currency(sqlite3_stmt *st, int i, pm_currency_t *out)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    memset(out, 0, sizeof(*out));
    if (t) snprintf(out->code, sizeof(out->code), "%s", (const char *)t);
}

/* Run `sql` and call `row` for each result; `count` rows are expected at
 * most (the array was sized by a count query in the same transaction). */
typedef void (*row_fn)(pm_config_t *c, sqlite3_stmt *st, size_t i);

static int load_rows(pm_config_t *c, sqlite3 *db, const char *table, const char *cols, row_fn row,
                     void **array, size_t elem, size_t *n)
{
    char sql[512];
    sqlite3_stmt *st = NULL;
    int rc = PM_ESTORE;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE deleted_at IS NULL", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) goto out;
    size_t cap = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    *array = pm_calloc(cap ? cap : 1, elem);
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE deleted_at IS NULL ORDER BY id", cols, table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) goto out;
    int step;
    for (*n = 0; *n < cap && (step = sqlite3_step(st)) == SQLITE_ROW; (*n)++)
        row(c, st, *n);
    rc = PM_OK;
out:
    if (rc != PM_OK) pm_error("config: loading %s: %s", table, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

static void source_row(pm_config_t *c, sqlite3_stmt *st, size_t i)
{
    pm_source_t *s = &c->sources[i];
    s->id = sqlite3_column_int64(st, 0);
    s->name = col_text(st, 1);
    s->postback_url = col_text(st, 2);
}

static void offer_row(pm_config_t *c, sqlite3_stmt *st, size_t i)
{
    pm_offer_t *o = &c->offers[i];
    o->id = sqlite3_column_int64(st, 0);
    o->name = col_text(st, 1);
    o->url = col_text(st, 2);
    const unsigned char *t = sqlite3_column_text(st, 3);
    snprintf(o->payout_type, sizeof(o->payout_type), "%s", t ? (const char *)t : "cpa");
    o->payout.micros = sqlite3_column_int64(st, 4);
    col_currency(st, 5, &o->payout.currency);
    o->cap_daily = sqlite3_column_int64(st, 6); /* NULL reads as 0: no cap */
    o->cap_total = sqlite3_column_int64(st, 7);
    o->payout_percent = sqlite3_column_int64(st, 8);
    o->repeat_conversions = sqlite3_column_int(st, 9) != 0;
}

static pm_price_model_t price_model(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (t && strcmp((const char *)t, "fixed") == 0) return PM_PRICE_FIXED;
    if (t && strcmp((const char *)t, "percent") == 0) return PM_PRICE_PERCENT;
    return PM_PRICE_NONE;
}

static void partner_row(pm_config_t *c, sqlite3_stmt *st, size_t i)
{
    pm_partner_t *p = &c->partners[i];
    p->id = sqlite3_column_int64(st, 0);
    p->name = col_text(st, 1);
    p->model = price_model(st, 2);
    p->amount.micros = sqlite3_column_int64(st, 3);
    col_currency(st, 4, &p->amount.currency);
    p->percent = sqlite3_column_int64(st, 5);
}

static void rule_row(pm_config_t *c, sqlite3_stmt *st, size_t i)
{
    pm_rule_t *r = &c->rules[i];
    const unsigned char *side = sqlite3_column_text(st, 1), *type = sqlite3_column_text(st, 4);
    r->id = sqlite3_column_int64(st, 0);
    r->side = side && strcmp((const char *)side, "payout") == 0 ? PM_RULE_PAYOUT : PM_RULE_REVENUE;
    r->offer_id = sqlite3_column_int64(st, 2);
    r->partner_id = sqlite3_column_int64(st, 3);
    snprintf(r->conversion_type, sizeof(r->conversion_type), "%s", type ? (const char *)type : "");
    r->model = price_model(st, 5);
    r->amount.micros = sqlite3_column_int64(st, 6);
    col_currency(st, 7, &r->amount.currency);
    r->percent = sqlite3_column_int64(st, 8);
    r->volume_from = sqlite3_column_int64(st, 9);
}

static void lander_row(pm_config_t *c, sqlite3_stmt *st, size_t i)
{
    pm_lander_t *l = &c->landers[i];
    l->id = sqlite3_column_int64(st, 0);
    l->name = col_text(st, 1);
    l->url = col_text(st, 2);
}

static void creative_row(pm_config_t *c, sqlite3_stmt *st, size_t i)
{
    pm_creative_t *k = &c->creatives[i];
    const unsigned char *status = sqlite3_column_text(st, 4);
    k->id = sqlite3_column_int64(st, 0);
    k->campaign_id = sqlite3_column_int64(st, 1);
    k->name = col_text(st, 2);
    k->url = col_text(st, 3);
    k->active = status && strcmp((const char *)status, "active") == 0;
    /* The API stores only caps that parse; one that no longer does (an
     * edited database) is no cap, said in the log. */
    const char *cap = (const char *)sqlite3_column_text(st, 5);
    json_t *v = cap ? json_loads(cap, 0, NULL) : NULL;
    pm_flow_error_t err;
    if (v && pm_flow_cap_parse(v, &k->cap, &err) != PM_OK) {
        pm_warn("config: creative %lld: %s; no frequency cap", (long long)k->id, err.message);
        k->cap = (pm_flow_cap_t){0};
    }
    json_decref(v);
}

#define FIND_BY_ID(arr, n, want)                                                                   \
    do {                                                                                           \
        size_t lo = 0, hi = (n);                                                                   \
        while (lo < hi) {                                                                          \
            size_t mid = lo + (hi - lo) / 2;                                                       \
            if ((arr)[mid].id < (want)) lo = mid + 1;                                              \
            else hi = mid;                                                                         \
        }                                                                                          \
        return lo < (n) && (arr)[lo].id == (want) ? &(arr)[lo] : NULL;                             \
    } while (0)

static const pm_source_t *source_by_id(const pm_config_t *c, int64_t id) { FIND_BY_ID(c->sources, c->nsources, id); }
const pm_lander_t *pm_config_lander_by_id(const pm_config_t *c, int64_t id) { FIND_BY_ID(c->landers, c->nlanders, id); }
static const pm_lander_t *lander_by_id(const pm_config_t *c, int64_t id) { return pm_config_lander_by_id(c, id); }
static const pm_creative_t *creative_by_id(const pm_config_t *c, int64_t id)
{
    FIND_BY_ID(c->creatives, c->ncreatives, id);
}

const pm_creative_t *pm_config_creative_of(const pm_config_t *c, int64_t campaign_id, int64_t id)
{
    const pm_creative_t *k = id > 0 ? creative_by_id(c, id) : NULL;
    return k && k->campaign_id == campaign_id ? k : NULL;
}

size_t pm_config_creative_count(const pm_config_t *c) { return c->ncreatives; }
const pm_creative_t *pm_config_creative_at(const pm_config_t *c, size_t i) { return &c->creatives[i]; }

const pm_flow_t *pm_config_flow_by_id(const pm_config_t *c, int64_t id)
{
    size_t lo = 0, hi = c->nflows;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pm_flow_id(c->flows[mid]) < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->nflows && pm_flow_id(c->flows[lo]) == id ? c->flows[lo] : NULL;
}

size_t pm_config_campaign_count(const pm_config_t *c) { return c->ncampaigns; }
const pm_campaign_t *pm_config_campaign_at(const pm_config_t *c, size_t i)
{
    return i < c->ncampaigns ? &c->campaigns[i] : NULL;
}
const pm_offer_t *pm_config_offer_by_id(const pm_config_t *c, int64_t id) { FIND_BY_ID(c->offers, c->noffers, id); }
const pm_partner_t *pm_config_partner_by_id(const pm_config_t *c, int64_t id)
{
    FIND_BY_ID(c->partners, c->npartners, id);
}

const pm_rule_t *pm_config_rules(const pm_config_t *c, size_t *n)
{
    *n = c->nrules;
    return c->rules;
}
const pm_campaign_t *pm_config_campaign_by_id(const pm_config_t *c, int64_t id)
{
    FIND_BY_ID(c->campaigns, c->ncampaigns, id);
}

static void campaign_row(pm_config_t *c, sqlite3_stmt *st, size_t i)
{
    pm_campaign_t *k = &c->campaigns[i];
    k->id = sqlite3_column_int64(st, 0);
    k->name = col_text(st, 1);
    k->token = col_text(st, 2);
    const unsigned char *status = sqlite3_column_text(st, 3);
    k->active = status && strcmp((const char *)status, "active") == 0;
    k->source = source_by_id(c, sqlite3_column_int64(st, 4));
    k->offer = sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL : pm_config_offer_by_id(c, sqlite3_column_int64(st, 5));
    k->lander = sqlite3_column_type(st, 6) == SQLITE_NULL ? NULL : lander_by_id(c, sqlite3_column_int64(st, 6));
    const unsigned char *model = sqlite3_column_text(st, 7);
    if (model == NULL || pm_cost_model_parse((const char *)model, &k->cost_model) != PM_OK)
        k->cost_model = PM_COST_CPC;
    k->cost.micros = sqlite3_column_int64(st, 8);
    col_currency(st, 9, &k->cost.currency);
    /* The API keeps the budget currency equal to the cost currency. */
    k->budget_daily = sqlite3_column_int64(st, 10);
    k->budget_total = sqlite3_column_int64(st, 11);
    k->fallback_url = col_text(st, 12);
    k->flow = sqlite3_column_type(st, 13) == SQLITE_NULL ? NULL : pm_config_flow_by_id(c, sqlite3_column_int64(st, 13));
    k->partner = sqlite3_column_type(st, 14) == SQLITE_NULL ? NULL
                                                           : pm_config_partner_by_id(c, sqlite3_column_int64(st, 14));
    k->cost_percent = sqlite3_column_int64(st, 15);
    const unsigned char *ctype = sqlite3_column_text(st, 16);
    snprintf(k->cost_conversion_type, sizeof(k->cost_conversion_type), "%s", ctype ? (const char *)ctype : "");
    const unsigned char *check = sqlite3_column_text(st, 17);
    k->js_check = check && strcmp((const char *)check, "js") == 0;
    /* A campaign whose source was deleted under it cannot be attributed:
     * treat it as paused rather than crash on a NULL source. */
    if (PM_NEVER(k->source == NULL)) k->active = false;
}

static void index_tokens(pm_config_t *c)
{
    size_t slots = 16;
    while (slots < c->ncampaigns * 2)
        slots *= 2;
    c->token_slots = slots;
    c->by_token = pm_calloc(slots, sizeof(uint32_t));
    for (size_t i = 0; i < c->ncampaigns; i++) {
        size_t len = strlen(c->campaigns[i].token);
        size_t at = pm_hash64(c->campaigns[i].token, len) & (slots - 1);
        while (c->by_token[at])
            at = (at + 1) & (slots - 1);
        c->by_token[at] = (uint32_t)i + 1;
    }
}

const pm_campaign_t *pm_config_campaign_by_token(const pm_config_t *c, const char *token, size_t len)
{
    size_t at = pm_hash64(token, len) & (c->token_slots - 1);
    for (uint32_t idx; (idx = c->by_token[at]) != 0; at = (at + 1) & (c->token_slots - 1)) {
        const pm_campaign_t *k = &c->campaigns[idx - 1];
        /* The token comes from the URL and may hold NULs: compare bytes. */
        if (strlen(k->token) == len && memcmp(k->token, token, len) == 0) return k;
    }
    return NULL;
}

const pm_settings_t *pm_config_settings(const pm_config_t *c) { return &c->settings; }
const pm_tz_t *pm_config_tz(const pm_config_t *c) { return c->tz; }
uint64_t pm_config_generation(const pm_config_t *c) { return c->generation; }

/* --- settings ---------------------------------------------------------- */

static bool is_http_url(const char *v)
{
    return strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0;
}

static bool has_space_or_control(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) return true;
    return false;
}

bool pm_timezone_known(const char *name)
{
    if (strcmp(name, "UTC") == 0) return true;
    if (*name == '\0' || name[0] == '/' || strstr(name, "..") || has_space_or_control(name) || strlen(name) > 64)
        return false;
    /* The system's tz database (Debian tzdata) is the authority. */
    char path[128];
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int parse_int_range(const char *v, int lo, int hi, int *out)
{
    if (*v == '\0' || strlen(v) > 6) return PM_EINVAL;
    int n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9') return PM_EINVAL;
        n = n * 10 + (*p - '0');
    }
    if (n < lo || n > hi) return PM_ERANGE;
    *out = n;
    return PM_OK;
}

/* Parse "cidr,cidr,..." into out[]; PM_EINVAL on a bad entry, PM_ETOOBIG
 * past PM_MAX_TRUSTED_PROXIES. */
static int parse_cidr_list(const char *v, pm_cidr_t *out, size_t *n)
{
    *n = 0;
    while (*v) {
        const char *end = strchr(v, ',');
        size_t len = end ? (size_t)(end - v) : strlen(v);
        while (len && v[0] == ' ') v++, len--;
        while (len && v[len - 1] == ' ') len--;
        if (len) {
            pm_cidr_t c;
            if (*n >= PM_MAX_TRUSTED_PROXIES) return PM_ETOOBIG;
            if (pm_cidr_parse(v, len, &c) != PM_OK) return PM_EINVAL;
            out[(*n)++] = c;
        }
        if (end == NULL) break;
        v = end + 1;
    }
    return PM_OK;
}

int pm_settings_validate(const char *key, const char *value, const char **why)
{
    int n;
    *why = NULL;
    if (strlen(value) > 2048) {
        *why = "longer than 2048 characters";
    } else if (strcmp(key, "fallback_url") == 0) {
        if (!is_http_url(value) || has_space_or_control(value)) *why = "must be an http(s) URL without spaces";
    } else if (strcmp(key, "base_url") == 0) {
        if (*value && (!is_http_url(value) || has_space_or_control(value)))
            *why = "must be empty or an http(s) URL without spaces";
    } else if (strcmp(key, "timezone") == 0) {
        if (!pm_timezone_known(value)) *why = "must be an IANA time zone name such as Europe/Berlin";
    } else if (strcmp(key, "ip_v4_prefix") == 0) {
        if (parse_int_range(value, 0, 32, &n) != PM_OK) *why = "must be a number of bits from 0 to 32";
    } else if (strcmp(key, "ip_v6_prefix") == 0) {
        if (parse_int_range(value, 0, 128, &n) != PM_OK) *why = "must be a number of bits from 0 to 128";
    } else if (strcmp(key, "cookie_days") == 0) {
        if (parse_int_range(value, 0, 3650, &n) != PM_OK) *why = "must be a number of days from 0 to 3650";
    } else if (strcmp(key, "trusted_proxies") == 0) {
        pm_cidr_t tmp[PM_MAX_TRUSTED_PROXIES];
        size_t cnt;
        if (parse_cidr_list(value, tmp, &cnt) != PM_OK) *why = "must be a comma-separated list of CIDR ranges (at most 32)";
    } else if (strcmp(key, "currency") == 0) {
        pm_currency_t cur;
        if (pm_currency_parse(value, strlen(value), &cur) != PM_OK) *why = "must be an ISO 4217 currency code";
    } else if (strcmp(key, "postback_secret") == 0) {
        if (has_space_or_control(value) || strlen(value) > 128) *why = "must be at most 128 characters without spaces";
    } else {
        *why = "unknown setting";
    }
    return *why ? PM_EINVAL : PM_OK;
}

static int load_settings(pm_config_t *c, pm_store_t *store, const char *default_base_url)
{
    pm_settings_t *s = &c->settings;
    char *v[16] = {0};
    int rc = PM_OK;
    size_t nkeys = 0;
    for (; pm_store_setting_keys[nkeys]; nkeys++)
        if ((rc = pm_store_setting_get(store, pm_store_setting_keys[nkeys], &v[nkeys])) != PM_OK) goto out;
    /* Values were validated when set; a bad one (edited by hand) falls back
     * to the default instead of taking the tracker down. */
    for (size_t i = 0; i < nkeys; i++) {
        const char *why;
        if (pm_settings_validate(pm_store_setting_keys[i], v[i], &why) != PM_OK) {
            pm_warn("config: setting %s=\"%s\" ignored: %s", pm_store_setting_keys[i], v[i], why);
            pm_free(v[i]);
            v[i] = pm_strdup(pm_store_setting_default(pm_store_setting_keys[i]));
        }
    }
    s->fallback_url = v[0], v[0] = NULL;
    s->timezone = v[1], v[1] = NULL;
    (void)parse_int_range(v[2], 0, 32, &s->ip_v4_prefix);
    (void)parse_int_range(v[3], 0, 128, &s->ip_v6_prefix);
    (void)parse_cidr_list(v[4], s->trusted, &s->ntrusted);
    const char *base = *v[5] ? v[5] : default_base_url;
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/') blen--;
    s->base_url = pm_strndup(base, blen);
    pm_ignore_rc(pm_currency_parse(v[6], strlen(v[6]), &s->currency));
    s->postback_secret = v[7], v[7] = NULL;
    (void)parse_int_range(v[8], 0, 3650, &s->cookie_days);
out:
    for (size_t i = 0; i < PM_ARRAY_LEN(v); i++)
        pm_free(v[i]);
    return rc;
}

/* --- flows ------------------------------------------------------------- */

/* The stored definition of a flow row as one JSON object (each column
 * holds the JSON text of one member; NULL columns are left out). */
static json_t *flow_definition(sqlite3_stmt *st)
{
    static const char *const members[] = {"rules", "default_path", "fallback_path", "bot_path", "frequency_cap"};
    json_t *def = json_object();
    for (size_t i = 0; i < PM_ARRAY_LEN(members); i++) {
        const char *text = (const char *)sqlite3_column_text(st, (int)i + 1);
        json_t *v = text ? json_loads(text, 0, NULL) : NULL;
        if (v) json_object_set_new(def, members[i], v);
    }
    return def;
}

/* Compile every live flow. One that no longer compiles (an edit by hand,
 * a time zone gone from tzdata) is skipped with a warning: its campaigns
 * fall back to their own destination rather than the tracker failing. */
static int load_flows(pm_config_t *c, sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, rules, default_path, fallback_path, bot_path, frequency_cap FROM flows"
                           " WHERE deleted_at IS NULL ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        pm_error("config: loading flows: %s", sqlite3_errmsg(db));
        return PM_ESTORE;
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        json_t *def = flow_definition(st);
        pm_flow_error_t err;
        pm_flow_t *f = NULL;
        if (pm_flow_compile(id, def, &f, &err) != PM_OK) {
            pm_warn("config: flow %lld ignored: %s: %s", (long long)id, err.field, err.message);
        } else {
            if (c->nflows == cap) c->flows = pm_realloc(c->flows, (cap = cap ? cap * 2 : 8) * sizeof(*c->flows));
            c->flows[c->nflows++] = f;
        }
        json_decref(def);
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? PM_OK : PM_ESTORE;
}

/* --- load, reference counting ----------------------------------------- */

static void config_free(pm_config_t *c)
{
    for (size_t i = 0; i < c->nsources; i++)
        pm_free(c->sources[i].name), pm_free(c->sources[i].postback_url);
    for (size_t i = 0; i < c->noffers; i++)
        pm_free(c->offers[i].name), pm_free(c->offers[i].url);
    for (size_t i = 0; i < c->nlanders; i++)
        pm_free(c->landers[i].name), pm_free(c->landers[i].url);
    for (size_t i = 0; i < c->ncreatives; i++)
        pm_free(c->creatives[i].name), pm_free(c->creatives[i].url);
    pm_free(c->creatives);
    for (size_t i = 0; i < c->ncampaigns; i++)
        pm_free(c->campaigns[i].name), pm_free(c->campaigns[i].token), pm_free(c->campaigns[i].fallback_url);
    for (size_t i = 0; i < c->npartners; i++)
        pm_free(c->partners[i].name);
    pm_free(c->partners);
    pm_free(c->rules);
    pm_free(c->sources);
    pm_free(c->offers);
    pm_free(c->landers);
    pm_free(c->campaigns);
    for (size_t i = 0; i < c->nflows; i++)
        pm_flow_free(c->flows[i]);
    pm_free(c->flows);
    pm_free(c->by_token);
    pm_tz_free(c->tz);
    pm_free(c->settings.fallback_url);
    pm_free(c->settings.timezone);
    pm_free(c->settings.base_url);
    pm_free(c->settings.postback_secret);
    pm_free(c->default_base_url);
    pm_free(c);
}

static _Atomic uint64_t generations;

int pm_config_load(pm_store_t *store, const char *default_base_url, pm_config_t **out)
{
    sqlite3 *db = pm_store_db(store);
    pm_config_t *c = pm_calloc(1, sizeof(*c));
    atomic_init(&c->refs, 1);
    c->generation = atomic_fetch_add(&generations, 1) + 1;
    c->default_base_url = pm_strdup(default_base_url);
    int rc = pm_store_exec(store, "BEGIN");
    if (rc != PM_OK) goto out;
    if ((rc = load_settings(c, store, default_base_url)) != PM_OK ||
        (rc = load_rows(c, db, "traffic_sources", "id, name, postback_url", source_row, (void **)&c->sources,
                        sizeof(pm_source_t), &c->nsources)) != PM_OK ||
        (rc = load_rows(c, db, "offers",
                        "id, name, url, payout_type, payout_micros, payout_currency, cap_daily, cap_total,"
                        " payout_percent_micros, repeat_conversions",
                        offer_row, (void **)&c->offers, sizeof(pm_offer_t), &c->noffers)) != PM_OK ||
        (rc = load_rows(c, db, "partners",
                        "id, name, payout_model, payout_micros, payout_currency, payout_percent_micros", partner_row,
                        (void **)&c->partners, sizeof(pm_partner_t), &c->npartners)) != PM_OK ||
        (rc = load_rows(c, db, "pricing_rules",
                        "id, side, offer_id, partner_id, conversion_type, model, amount_micros, currency,"
                        " percent_micros, volume_from",
                        rule_row, (void **)&c->rules, sizeof(pm_rule_t), &c->nrules)) != PM_OK ||
        (rc = load_rows(c, db, "landers", "id, name, url", lander_row, (void **)&c->landers, sizeof(pm_lander_t),
                        &c->nlanders)) != PM_OK ||
        (rc = load_rows(c, db, "creatives", "id, campaign_id, name, url, status, frequency_cap", creative_row,
                        (void **)&c->creatives, sizeof(pm_creative_t), &c->ncreatives)) != PM_OK ||
        (rc = load_flows(c, db)) != PM_OK ||
        (rc = load_rows(c, db, "campaigns",
                        "id, name, token, status, traffic_source_id, offer_id, lander_id, cost_model,"
                        " cost_micros, cost_currency, budget_daily_micros, budget_total_micros, fallback_url,"
                        " flow_id, partner_id, cost_percent_micros, cost_conversion_type, bot_check",
                        campaign_row, (void **)&c->campaigns, sizeof(pm_campaign_t), &c->ncampaigns)) != PM_OK)
        goto out;
    index_tokens(c);
    if (pm_tz_load(c->settings.timezone, &c->tz) != PM_OK) {
        pm_warn("config: time zone \"%s\" cannot be loaded: budgets count UTC days", c->settings.timezone);
        rc = pm_tz_load("UTC", &c->tz);
    }
out:
    pm_store_rollback(store); /* read-only transaction: nothing to keep */
    if (rc != PM_OK) {
        config_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

void pm_config_retain(pm_config_t *c) { atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed); }

void pm_config_release(pm_config_t *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) config_free(c);
}

/* --- publication --------------------------------------------------------- */

struct pm_confhold_s {
    pthread_mutex_t mu;
    pm_config_t *cur;
    _Atomic uint64_t generation;
    char *default_base_url;
};

pm_confhold_t *pm_confhold_create(pm_config_t *initial)
{
    pm_confhold_t *h = pm_calloc(1, sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    h->cur = initial;
    atomic_init(&h->generation, initial->generation);
    h->default_base_url = pm_strdup(initial->default_base_url);
    return h;
}

void pm_confhold_destroy(pm_confhold_t *h)
{
    if (h == NULL) return;
    pm_config_release(h->cur);
    pthread_mutex_destroy(&h->mu);
    pm_free(h->default_base_url);
    pm_free(h);
}

void pm_confhold_publish(pm_confhold_t *h, pm_config_t *c)
{
    pthread_mutex_lock(&h->mu);
    pm_config_t *old = h->cur;
    h->cur = c;
    atomic_store_explicit(&h->generation, c->generation, memory_order_release);
    pthread_mutex_unlock(&h->mu);
    pm_config_release(old);
}

int pm_confhold_reload(pm_confhold_t *h, pm_store_t *store)
{
    pm_config_t *c = NULL;
    int rc = pm_config_load(store, h->default_base_url, &c);
    if (rc == PM_OK) pm_confhold_publish(h, c);
    return rc;
}

void pm_confhold_refresh(pm_confhold_t *h, pm_config_t **cur)
{
    uint64_t gen = atomic_load_explicit(&h->generation, memory_order_acquire);
    if (*cur != NULL && (*cur)->generation == gen) return;
    pthread_mutex_lock(&h->mu);
    pm_config_t *c = h->cur;
    pm_config_retain(c);
    pthread_mutex_unlock(&h->mu);
    pm_config_release(*cur);
    *cur = c;
}

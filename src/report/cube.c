/*
 * cube.c: the tables that describe reports: dimensions (what a report can
 * group and filter by, and where each value comes from in an event), cubes
 * (which rollup tables keep which dimensions), and the two functions every
 * path shares to turn an event into numbers: its dimension values and its
 * cells (see report_internal.h).
 *
 * Adding a dimension once the event model carries it is one line in
 * `dims` below (with a new `code` if it should get per-dimension rollups;
 * the rollups are then rebuilt once on the next start, because the codes
 * signature changes).
 */
#include "report_internal.h"

#include <stdio.h>
#include <string.h>

const char *const pm__rp_counter_cols[PM__RC_COUNT] = {
    "impressions",
    "clicks",
    "unique_clicks",
    "conversions",
    "pending_conversions",
    "rejected_conversions",
    "cost_micros",
    "revenue_micros",
    "pending_revenue_micros",
    "payout_micros",
    "money_events",
    "bot_clicks",
    "chargebacks",
    "lander_visits",
    "lander_clicks",
    "bot_impressions",
};

/* --- dimensions ------------------------------------------------------------- */

#define TIME(n, u)                                                                                                     \
    {                                                                                                                  \
        .name = n, .kind = PM__DK_TIME, .unit = u                                                                      \
    }
#define ENTITY(n, s, col, lbl, tbl, c)                                                                                 \
    {                                                                                                                  \
        .name = n, .kind = PM__DK_ENTITY, .src = s, .column = col, .label = lbl, .table = tbl, .code = c               \
    }
#define TEXT(n, f, c)                                                                                                  \
    {                                                                                                                  \
        .name = n, .kind = PM__DK_TEXT, .src = PM__SRC_STR, .str = f, .column = n, .code = c                           \
    }
/* A text dimension whose values most campaigns share (see pm__rp_dim_t.shared). */
#define SHARED(n, f, c)                                                                                                \
    {                                                                                                                  \
        .name = n, .kind = PM__DK_TEXT, .src = PM__SRC_STR, .str = f, .column = n, .code = c, .shared = true           \
    }
const pm__rp_dim_t pm__rp_dims[] = {
    TIME("day", PM__TU_DAY),
    TIME("hour", PM__TU_HOUR),
    TIME("week", PM__TU_WEEK),
    TIME("month", PM__TU_MONTH),
    ENTITY("campaign", PM__SRC_CAMPAIGN, "campaign_id", "campaign_name", "campaigns", 0),
    ENTITY("traffic_source", PM__SRC_SOURCE, "traffic_source_id", "traffic_source_name", "traffic_sources", 0),
    ENTITY("offer", PM__SRC_OFFER, "offer_id", "offer_name", "offers", 16),
    ENTITY("lander", PM__SRC_LANDER, "lander_id", "lander_name", "landers", 17),
    TEXT("sub1", PM_EVS_SUB1, 1),
    TEXT("sub2", PM_EVS_SUB2, 2),
    TEXT("sub3", PM_EVS_SUB3, 3),
    TEXT("sub4", PM_EVS_SUB4, 4),
    TEXT("sub5", PM_EVS_SUB5, 5),
    TEXT("sub6", PM_EVS_SUB6, 6),
    TEXT("sub7", PM_EVS_SUB7, 7),
    TEXT("sub8", PM_EVS_SUB8, 8),
    TEXT("sub9", PM_EVS_SUB9, 9),
    TEXT("sub10", PM_EVS_SUB10, 10),
    SHARED("utm_source", PM_EVS_UTM_SOURCE, 11),
    SHARED("utm_medium", PM_EVS_UTM_MEDIUM, 12),
    TEXT("utm_campaign", PM_EVS_UTM_CAMPAIGN, 13),
    TEXT("utm_content", PM_EVS_UTM_CONTENT, 14),
    TEXT("utm_term", PM_EVS_UTM_TERM, 15),
    {.name = "language",
     .kind = PM__DK_TEXT,
     .src = PM__SRC_LANGUAGE,
     .column = "language",
     .code = 18,
     .shared = true},
    {.name = "conversion_type", .kind = PM__DK_TEXT, .src = PM__SRC_CONV_TYPE, .column = "conversion_type"},
    /* The visitor context of the detectors (src/route, docs/routing.md). */
    SHARED("country", PM_EVS_COUNTRY, 19),
    SHARED("region", PM_EVS_REGION, 20),
    SHARED("device_type", PM_EVS_DEVICE_TYPE, 21),
    SHARED("os", PM_EVS_OS, 22),
    SHARED("browser", PM_EVS_BROWSER, 23),
    SHARED("bot_reason", PM_EVS_BOT_REASON, 24),
    /* The ad (creative_id= on the click or impression) and the partner who
     * brought the traffic (the campaign's, at click time). */
    ENTITY("creative", PM__SRC_CREATIVE, "creative_id", "creative_name", "creatives", 25),
    ENTITY("partner", PM__SRC_PARTNER, "partner_id", "partner_name", "partners", 26),
};
const int pm__rp_ndims = (int)PM_ARRAY_LEN(pm__rp_dims);
_Static_assert(PM_ARRAY_LEN(pm__rp_dims) <= PM__RP_MAX_DIMS, "raise PM__RP_MAX_DIMS");

int pm__rp_dim_find(const char *name, size_t len)
{
    for (int i = 0; i < pm__rp_ndims; i++)
        if (strlen(pm__rp_dims[i].name) == len && memcmp(pm__rp_dims[i].name, name, len) == 0) return i;
    return -1;
}

int pm__rp_dim_by_src(pm__rp_src_t src)
{
    for (int i = 0; i < pm__rp_ndims; i++)
        if (pm__rp_dims[i].src == src) return i;
    return -1;
}

size_t pm__rp_language(const char *s, size_t len, char *out)
{
    size_t i = 0, n = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    for (; i < len && n < 8; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c < 'a' || c > 'z') break;
        out[n++] = c;
    }
    /* Only a whole primary subtag counts: "en", "en-US", "en;q=1"; not "*"
     * or a 9-letter word. */
    bool end = i == len || s[i] == '-' || s[i] == '_' || s[i] == ',' || s[i] == ';' || s[i] == ' ';
    if (!end || n < 2) n = 0;
    out[n] = '\0';
    return n;
}

static void set_text(pm__rp_val_t *v, const pm_str_t *s)
{
    v->i = 0;
    v->s = s->len ? s->p : "";
    v->len = s->len;
}

void pm__rp_event_values(const pm_event_t *ev, pm__rp_vals_t *out)
{
    for (int i = 0; i < pm__rp_ndims; i++) {
        const pm__rp_dim_t *d = &pm__rp_dims[i];
        pm__rp_val_t *v = &out->v[i];
        *v = (pm__rp_val_t){0, "", 0};
        switch (d->src) {
        case PM__SRC_NONE: break;
        case PM__SRC_CAMPAIGN: v->i = ev->campaign_id; break;
        case PM__SRC_SOURCE: v->i = ev->traffic_source_id; break;
        case PM__SRC_OFFER: v->i = ev->offer_id; break;
        case PM__SRC_LANDER: v->i = ev->lander_id; break;
        case PM__SRC_CREATIVE: v->i = ev->creative_id; break;
        case PM__SRC_PARTNER: v->i = ev->partner_id; break;
        case PM__SRC_LANGUAGE: {
            const pm_str_t *l = &ev->s[PM_EVS_LANGUAGE];
            v->len = (uint32_t)pm__rp_language(l->p ? l->p : "", l->len, out->language);
            v->s = out->language;
            break;
        }
        case PM__SRC_CONV_TYPE:
            if (ev->type == PM_EV_CONVERSION) set_text(v, &ev->s[PM_EVS_CONV_TYPE]);
            break;
        case PM__SRC_STR: set_text(v, &ev->s[d->str]); break;
        }
    }
}

/* --- cells -------------------------------------------------------------------- */

static bool str_is(const pm_str_t *s, const char *lit)
{
    size_t n = strlen(lit);
    return s->len == n && s->p && memcmp(s->p, lit, n) == 0;
}

/* Add `micros` of `cur` to counter `k` of the cell of that currency. */
static int add_money(pm__rp_cell_t *cells, int n, int k, const pm_money_t *m)
{
    const char *cur = m->currency.code[0] ? m->currency.code : "XXX"; /* ISO 4217 "no currency" */
    int i = 0;
    if (cells[0].currency[0] == '\0') {
        memcpy(cells[0].currency, cur, 4);
    } else {
        while (i < n && strcmp(cells[i].currency, cur) != 0)
            i++;
        if (i == n) {
            memset(&cells[n], 0, sizeof(cells[n]));
            memcpy(cells[n].currency, cur, 4);
            n++;
        }
    }
    cells[i].c[k] += m->micros;
    cells[i].c[PM__RC_MONEY_EVENTS] = 1;
    return n;
}

int pm__rp_cells(const pm_event_t *ev, bool unique, pm__rp_cell_t out[PM__RP_MAX_CELLS])
{
    memset(&out[0], 0, sizeof(out[0]));
    bool approved = false, pending = false;
    switch (ev->type) {
    case PM_EV_IMPRESSION:
        /* Like a bot click: no impressions, no cost, so CTR and CPM are human. */
        if (ev->s[PM_EVS_BOT_REASON].len) {
            out[0].c[PM__RC_BOT_IMPRESSIONS] = 1;
            return 1;
        }
        out[0].c[PM__RC_IMPRESSIONS] = 1;
        break;
    case PM_EV_CLICK:
        /* A flagged click counts only as a bot click: no clicks, uniques or
         * cost, so CTR, CPC and EPC describe human traffic (docs/metrics.md). */
        if (ev->s[PM_EVS_BOT_REASON].len) {
            out[0].c[PM__RC_BOT_CLICKS] = 1;
            return 1;
        }
        out[0].c[PM__RC_CLICKS] = 1;
        out[0].c[PM__RC_UNIQUE_CLICKS] = unique;
        out[0].c[PM__RC_LANDER_VISITS] = ev->lander_id != 0;
        break;
    case PM_EV_LANDER_CLICK:
        /* A bot's lander click counts nowhere, like its click. */
        if (ev->s[PM_EVS_BOT_REASON].len || ev->lander_id == 0) return 0;
        out[0].c[PM__RC_LANDER_CLICKS] = 1;
        return 1;
    case PM_EV_COST_REPORT: break; /* a share of a reported cost: money only */
    case PM_EV_CONVERSION:
        approved = str_is(&ev->s[PM_EVS_STATUS], "approved");
        pending = str_is(&ev->s[PM_EVS_STATUS], "pending");
        if (str_is(&ev->s[PM_EVS_STATUS], "chargeback") || str_is(&ev->s[PM_EVS_STATUS], "refund"))
            out[0].c[PM__RC_CHARGEBACKS] = 1;
        else
            out[0].c[approved ? PM__RC_CONVERSIONS : pending ? PM__RC_PENDING : PM__RC_REJECTED] = 1;
        break;
    default: return 0;
    }
    int n = 1;
    if (ev->cost.micros && (ev->type != PM_EV_CONVERSION || approved)) n = add_money(out, n, PM__RC_COST, &ev->cost);
    if (ev->revenue.micros && (approved || pending))
        n = add_money(out, n, approved ? PM__RC_REVENUE : PM__RC_PENDING_REVENUE, &ev->revenue);
    if (ev->payout.micros && approved) n = add_money(out, n, PM__RC_PAYOUT, &ev->payout);
    return n;
}

/* --- cubes -------------------------------------------------------------------- */

#define DIMCOL(src)                                                                                                    \
    {                                                                                                                  \
        PM__COL_DIM, src                                                                                               \
    }
/* Dimension indices are positions in `dims`; named here for the cube table. */
enum { D_CAMPAIGN = 4, D_SOURCE = 5, D_OFFER = 6, D_LANDER = 7, D_LANGUAGE = 23, D_CONV_TYPE = 24 };

const pm__rp_cube_t pm__rp_cubes[PM__CUBE__COUNT] = {
    [PM__CUBE_CAMPAIGN] = {"campaign",
                           "rollup_campaign",
                           {DIMCOL(D_CAMPAIGN),
                            {PM__COL_BUCKET, 0},
                            DIMCOL(D_SOURCE),
                            DIMCOL(D_CONV_TYPE),
                            {PM__COL_CURRENCY, 0},
                            {PM__COL_END, 0}},
                           false},
    [PM__CUBE_MAIN] = {"main",
                       "rollup_main",
                       {DIMCOL(D_CAMPAIGN),
                        {PM__COL_BUCKET, 0},
                        DIMCOL(D_SOURCE),
                        DIMCOL(D_OFFER),
                        DIMCOL(D_LANDER),
                        DIMCOL(D_LANGUAGE),
                        DIMCOL(D_CONV_TYPE),
                        {PM__COL_CURRENCY, 0},
                        {PM__COL_END, 0}},
                       false},
    [PM__CUBE_DIM] = {"dim",
                      "rollup_dim",
                      {{PM__COL_CODE, 0},
                       DIMCOL(D_CAMPAIGN),
                       {PM__COL_BUCKET, 0},
                       DIMCOL(D_SOURCE),
                       {PM__COL_VALUE, 0},
                       DIMCOL(D_CONV_TYPE),
                       {PM__COL_CURRENCY, 0},
                       {PM__COL_END, 0}},
                      true},
};

bool pm__rp_cube_has(const pm__rp_cube_t *c, int coded, int dim)
{
    if (c->per_dim && dim == coded) return true;
    for (const pm__rp_col_t *col = c->cols; col->kind != PM__COL_END; col++)
        if (col->kind == PM__COL_DIM && col->dim == dim) return true;
    return false;
}

const char *pm__rp_col_name(const pm__rp_col_t *col)
{
    switch (col->kind) {
    case PM__COL_DIM: return pm__rp_dims[col->dim].column;
    case PM__COL_BUCKET: return "bucket";
    case PM__COL_CODE: return "dim";
    case PM__COL_VALUE: return "value";
    case PM__COL_CURRENCY: return "currency";
    case PM__COL_END: break;
    }
    return "";
}

const char pm__rp_tier_suffix[PM__TIER__COUNT] = {'q', 'd', 'w'};

void pm__rp_signature(char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "v7 fine=%d week=%d+%d all-campaigns=%d", PM__RP_FINE_SEC, PM__RP_WEEK_DAYS,
                                PM__RP_WEEK_DAY0, PM__RP_ALL_CAMPAIGNS);
    for (int i = 0; i < pm__rp_ndims && n < cap; i++)
        if (pm__rp_dims[i].code)
            n += (size_t)snprintf(out + n, cap - n, " %s=%d%s", pm__rp_dims[i].name, pm__rp_dims[i].code,
                                  pm__rp_dims[i].shared ? "s" : "");
}

/* --- reading events back ------------------------------------------------------ */

enum {
    RC_ID,
    RC_TS,
    RC_CAMPAIGN,
    RC_SOURCE,
    RC_OFFER,
    RC_LANDER,
    RC_VISITOR,
    RC_LANGUAGE,
    RC_SUB1, /* ... sub10, then the five utm fields */
    RC_STATUS = RC_SUB1 + 15,
    RC_CONV_TYPE,
    RC_REVENUE,
    RC_REVENUE_CUR,
    RC_PAYOUT,
    RC_PAYOUT_CUR,
    RC_COST,
    RC_COST_CUR,
    RC_COUNTRY, /* ... the visitor context, in the order of `context` below */
    RC_CREATIVE = RC_COUNTRY + 6,
    RC_PARTNER,
    RC_ROWID,
    RC_SIGN,
    RC_FIRST
};

int pm__rp_rowid_col(void)
{
    return RC_ROWID;
}
int pm__rp_sign_col(void)
{
    return RC_SIGN;
}
int pm__rp_first_col(void)
{
    return RC_FIRST;
}

/* The visitor-context columns the raw scan reads, in RC_COUNTRY order. */
static const pm_event_str_t context[] = {PM_EVS_COUNTRY, PM_EVS_REGION,  PM_EVS_DEVICE_TYPE,
                                         PM_EVS_OS,      PM_EVS_BROWSER, PM_EVS_BOT_REASON};
_Static_assert(PM_ARRAY_LEN(context) == RC_CREATIVE - RC_COUNTRY, "context columns");

const pm_event_type_t pm__rp_tables[PM__RP_NTABLES] = {PM_EV_CLICK,         PM_EV_IMPRESSION,  PM_EV_CONVERSION,
                                                       PM_EV_STATUS_CHANGE, PM_EV_COST_REPORT, PM_EV_LANDER_CLICK};

const char *pm__rp_table_name(pm_event_type_t type)
{
    switch (type) {
    case PM_EV_CLICK: return "clicks";
    case PM_EV_IMPRESSION: return "impressions";
    case PM_EV_STATUS_CHANGE: return "conversion_adjustments";
    case PM_EV_COST_REPORT: return "cost_adjustments";
    case PM_EV_LANDER_CLICK: return "lander_clicks";
    default: return "conversions";
    }
}

void pm__rp_event_select(pm_event_type_t type, bool with_first, const char *tail, char *out, size_t cap)
{
    static const char common[] =
        "SELECT id, ts, campaign_id, traffic_source_id, offer_id, lander_id, visitor_id, language,"
        " sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10,"
        " utm_source, utm_medium, utm_campaign, utm_content, utm_term, ";
    bool conv_like = type == PM_EV_CONVERSION || type == PM_EV_STATUS_CHANGE;
    const char *conv =
        conv_like ? "status, conversion_type, revenue_micros, revenue_currency, payout_micros, payout_currency,"
                  : "NULL, NULL, 0, NULL, 0, NULL,";
    const char *sign = type == PM_EV_STATUS_CHANGE ? "sign" : "1";
    /* The first click of a visitor in a campaign on a UTC day, by id; a
     * click without a visitor is always its own first. */
    const char *first = with_first && type == PM_EV_CLICK
                            ? ", CASE WHEN visitor_id IS NULL THEN 1 ELSE row_number() OVER (PARTITION BY"
                              " coalesce(campaign_id, 0), visitor_id, ts / 86400000000 ORDER BY id) = 1 END"
                            : "";
    snprintf(out, cap,
             "%s%s cost_micros, cost_currency, country, region, device_type, os, browser, bot_reason, creative_id,"
             " partner_id, rowid, %s%s"
             " FROM %s %s",
             common, conv, sign, first, pm__rp_table_name(type), tail ? tail : "");
}

static void col_str(sqlite3_stmt *st, int i, pm_str_t *s)
{
    const unsigned char *p = sqlite3_column_text(st, i);
    s->len = p ? (uint32_t)sqlite3_column_bytes(st, i) : 0;
    s->p = p ? (const char *)p : NULL;
}

static void col_id(sqlite3_stmt *st, int i, pm_id_t *id)
{
    memset(id, 0, sizeof(*id));
    const unsigned char *p = sqlite3_column_text(st, i);
    if (p && pm_id_parse((const char *)p, (size_t)sqlite3_column_bytes(st, i), id) != PM_OK) memset(id, 0, sizeof(*id));
}

static void col_money(sqlite3_stmt *st, int amount, int cur, pm_money_t *m)
{
    memset(m, 0, sizeof(*m));
    m->micros = sqlite3_column_int64(st, amount);
    const unsigned char *p = sqlite3_column_text(st, cur);
    if (p && sqlite3_column_bytes(st, cur) == 3) memcpy(m->currency.code, p, 3);
}

void pm__rp_row_event(sqlite3_stmt *st, pm_event_type_t type, pm_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = type == PM_EV_STATUS_CHANGE ? PM_EV_CONVERSION : type; /* an adjustment counts as its conversion */
    if (type != PM_EV_STATUS_CHANGE && type != PM_EV_COST_REPORT)
        col_id(st, RC_ID, &ev->id); /* adjustments: the id is a rowid */
    ev->ts = sqlite3_column_int64(st, RC_TS);
    ev->campaign_id = sqlite3_column_int64(st, RC_CAMPAIGN);
    ev->traffic_source_id = sqlite3_column_int64(st, RC_SOURCE);
    ev->offer_id = sqlite3_column_int64(st, RC_OFFER);
    ev->lander_id = sqlite3_column_int64(st, RC_LANDER);
    ev->creative_id = sqlite3_column_int64(st, RC_CREATIVE);
    ev->partner_id = sqlite3_column_int64(st, RC_PARTNER);
    col_id(st, RC_VISITOR, &ev->visitor_id);
    col_str(st, RC_LANGUAGE, &ev->s[PM_EVS_LANGUAGE]);
    for (int i = 0; i < 15; i++) /* sub1..sub10 and the utm fields are consecutive in both */
        col_str(st, RC_SUB1 + i, &ev->s[PM_EVS_SUB1 + i]);
    col_str(st, RC_STATUS, &ev->s[PM_EVS_STATUS]);
    col_str(st, RC_CONV_TYPE, &ev->s[PM_EVS_CONV_TYPE]);
    col_money(st, RC_REVENUE, RC_REVENUE_CUR, &ev->revenue);
    col_money(st, RC_PAYOUT, RC_PAYOUT_CUR, &ev->payout);
    col_money(st, RC_COST, RC_COST_CUR, &ev->cost);
    for (size_t i = 0; i < PM_ARRAY_LEN(context); i++)
        col_str(st, RC_COUNTRY + (int)i, &ev->s[context[i]]);
}

/*
 * ledger.c: the ledger sink (see pm/ledger.h).
 *
 * For each event new to the store: a click or impression with a cost books
 * its cost; a conversion records its state (version 0) and, when approved,
 * books its revenue, cost and payout; a status change moves the state
 * forward (only to a higher version: changes may be materialized out of
 * order), writes the report adjustment (old state -1, new state +1, at the
 * conversion's time) and reverses and rebooks the money.
 */
#include "pm/ledger.h"
#include "pm/pricing.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/* The visitor context (clicks' columns, docs/routing.md) that adjustments
 * copy, so a chargeback or a reported cost lands in the same country,
 * device, OS, browser and bot rows as the events it adjusts. */
#define CONTEXT_COLUMNS "country, region, device_type, os, os_version, browser, browser_version, bot_reason"
static const pm_event_str_t context_fields[] = {PM_EVS_COUNTRY, PM_EVS_REGION,  PM_EVS_DEVICE_TYPE,
                                                PM_EVS_OS,      PM_EVS_OS_VERSION, PM_EVS_BROWSER,
                                                PM_EVS_BROWSER_VERSION, PM_EVS_BOT_REASON};

typedef struct ledger_s {
    sqlite3 *db;
    sqlite3_stmt *leg, *state, *adjust, *cost_get, *cost_put, *clicks, *nclicks, *cost_adjust;
    int64_t next_movement;
} ledger_t;

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK) return PM_OK;
    pm_error("ledger: prepare: %s", sqlite3_errmsg(db));
    return PM_ESTORE;
}

static int step_done(ledger_t *l, sqlite3_stmt *st, const char *what)
{
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (step == SQLITE_DONE) return PM_OK;
    pm_error("ledger: %s: %s", what, sqlite3_errmsg(l->db));
    return PM_ESTORE;
}

static void bind_str(sqlite3_stmt *st, int i, const pm_str_t *s, bool null_if_empty)
{
    if (s->len == 0 && null_if_empty)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, s->p ? s->p : "", (int)s->len, SQLITE_STATIC);
}

static void bind_money(sqlite3_stmt *st, int i, const pm_money_t *m)
{
    sqlite3_bind_int64(st, i, m->micros);
    if (m->currency.code[0])
        sqlite3_bind_text(st, i + 1, m->currency.code, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i + 1);
}

/* --- movements ----------------------------------------------------------- */

typedef struct account_s {
    const char *type;
    int64_t id;
} account_t;

static int leg(ledger_t *l, const pm_event_t *ev, int64_t movement, const char *kind, account_t a, int64_t amount,
               const char *currency)
{
    sqlite3_stmt *st = l->leg;
    const pm_id_t *conv = ev->type == PM_EV_STATUS_CHANGE ? &ev->ref_id : ev->type == PM_EV_CONVERSION ? &ev->id : NULL;
    sqlite3_bind_int64(st, 1, movement);
    sqlite3_bind_int64(st, 2, ev->ts);
    pm_store_bind_id(st, 3, &ev->id);
    sqlite3_bind_text(st, 4, pm_event_type_name(ev->type), -1, SQLITE_STATIC);
    if (conv) pm_store_bind_id(st, 5, conv);
    pm_store_bind_ref(st, 6, ev->campaign_id);
    sqlite3_bind_text(st, 7, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, a.type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, a.id);
    sqlite3_bind_int64(st, 10, amount);
    sqlite3_bind_text(st, 11, currency, -1, SQLITE_TRANSIENT);
    return step_done(l, st, "entry");
}

/* One movement of `sign` * m from `credit` to `debit`: two legs. */
static int movement(ledger_t *l, const pm_event_t *ev, const char *kind, account_t debit, account_t credit,
                    const pm_money_t *m, int sign)
{
    if (m->micros == 0) return PM_OK;
    const char *cur = m->currency.code[0] ? m->currency.code : "XXX"; /* ISO 4217: no currency */
    int64_t n = l->next_movement++, amount = sign * m->micros;
    int rc = leg(l, ev, n, kind, debit, amount, cur);
    if (rc == PM_OK) rc = leg(l, ev, n, kind, credit, -amount, cur);
    return rc;
}

static const account_t revenue_account = {PM_ACCOUNT_REVENUE, 0};
static const account_t cost_account = {PM_ACCOUNT_COST, 0};
static const account_t payout_account = {PM_ACCOUNT_PAYOUT, 0};

static int book_cost(ledger_t *l, const pm_event_t *ev, const pm_money_t *cost, int sign)
{
    return movement(l, ev, "cost", cost_account, (account_t){PM_ACCOUNT_SOURCE, ev->traffic_source_id}, cost, sign);
}

/* What an approved conversion books: revenue, cost, payout. */
static int book_conversion(ledger_t *l, const pm_event_t *ev, const pm_money_t *revenue, const pm_money_t *cost,
                           const pm_money_t *payout, int sign)
{
    int rc =
        movement(l, ev, "revenue", (account_t){PM_ACCOUNT_ADVERTISER, ev->offer_id}, revenue_account, revenue, sign);
    if (rc == PM_OK) rc = book_cost(l, ev, cost, sign);
    if (rc == PM_OK && ev->partner_id)
        rc = movement(l, ev, "payout", payout_account, (account_t){PM_ACCOUNT_PARTNER, ev->partner_id}, payout, sign);
    return rc;
}

static bool books(const pm_str_t *status)
{
    return status->len == 8 && memcmp(status->p, "approved", 8) == 0;
}

/* --- conversion state and report adjustments ------------------------------ */

static int save_state(ledger_t *l, const pm_id_t *conv, const pm_event_t *ev)
{
    sqlite3_stmt *st = l->state;
    pm_store_bind_id(st, 1, conv);
    sqlite3_bind_int64(st, 2, ev->type == PM_EV_STATUS_CHANGE ? ev->version : 0);
    bind_str(st, 3, &ev->s[PM_EVS_STATUS], false);
    bind_money(st, 4, &ev->revenue);
    bind_money(st, 6, &ev->cost);
    bind_money(st, 8, &ev->payout);
    sqlite3_bind_int64(st, 10, ev->ts);
    return step_done(l, st, "conversion state");
}

/* One adjustment row: the conversion in `status` with these amounts,
 * counted `sign` times, at the conversion's own time. */
static int adjust(ledger_t *l, const pm_event_t *ev, int sign, const pm_str_t *status, const pm_money_t *revenue,
                  const pm_money_t *payout, const pm_money_t *cost)
{
    sqlite3_stmt *st = l->adjust;
    int i = 1;
    pm_store_bind_id(st, i++, &ev->id);
    sqlite3_bind_int(st, i++, sign);
    sqlite3_bind_int64(st, i++, ev->ref_ts);
    pm_store_bind_ref(st, i++, ev->campaign_id);
    pm_store_bind_ref(st, i++, ev->traffic_source_id);
    pm_store_bind_ref(st, i++, ev->offer_id);
    pm_store_bind_ref(st, i++, ev->lander_id);
    pm_store_bind_id(st, i++, &ev->visitor_id);
    bind_str(st, i++, &ev->s[PM_EVS_LANGUAGE], true);
    for (int f = PM_EVS_SUB1; f <= PM_EVS_EXTERNAL_ID; f++)
        bind_str(st, i++, &ev->s[f], true);
    bind_str(st, i++, status, false);
    bind_str(st, i++, &ev->s[PM_EVS_CONV_TYPE], false);
    bind_money(st, i, revenue), i += 2;
    bind_money(st, i, payout), i += 2;
    bind_money(st, i, cost), i += 2;
    for (size_t f = 0; f < PM_ARRAY_LEN(context_fields); f++)
        bind_str(st, i++, &ev->s[context_fields[f]], true);
    pm_store_bind_ref(st, i++, ev->creative_id);
    pm_store_bind_ref(st, i, ev->partner_id);
    return step_done(l, st, "adjustment");
}

static int apply_change(ledger_t *l, const pm_event_t *ev)
{
    const pm_str_t *prev = &ev->s[PM_EVS_PREV_STATUS], *now = &ev->s[PM_EVS_STATUS];
    int rc = save_state(l, &ev->ref_id, ev);
    if (rc == PM_OK) rc = adjust(l, ev, -1, prev, &ev->prev_revenue, &ev->prev_payout, &ev->prev_cost);
    if (rc == PM_OK) rc = adjust(l, ev, 1, now, &ev->revenue, &ev->payout, &ev->cost);
    if (rc == PM_OK && books(prev))
        rc = book_conversion(l, ev, &ev->prev_revenue, &ev->prev_cost, &ev->prev_payout, -1);
    if (rc == PM_OK && books(now)) rc = book_conversion(l, ev, &ev->revenue, &ev->cost, &ev->payout, 1);
    return rc;
}

/* --- reported cost ("auto"): a day's total, spread over its clicks ------------ */

/* floor(a * i / n) without overflow. */
static int64_t share_upto(int64_t a, int64_t i, int64_t n)
{
    __int128 p = (__int128)a * i;
    __int128 q = p / n;
    if ((p % n != 0) && (p < 0)) q--;
    return (int64_t)q;
}

static int cost_row(ledger_t *l, const pm_event_t *ev, sqlite3_stmt *click, int64_t ts, int64_t micros, const char *cur)
{
    sqlite3_stmt *st = l->cost_adjust;
    int i = 1;
    pm_store_bind_id(st, i++, &ev->id);
    sqlite3_bind_int64(st, i++, ts);
    pm_store_bind_ref(st, i++, ev->campaign_id);
    pm_store_bind_ref(st, i++, ev->traffic_source_id);
    /* offer, lander, visitor, language, sub1..utm_term, external_id, the
     * visitor context, creative and partner: the click's, or none */
    for (int k = 0; k < 22 + (int)PM_ARRAY_LEN(context_fields); k++, i++) {
        if (click)
            sqlite3_bind_value(st, i, sqlite3_column_value(click, 1 + k));
        else
            sqlite3_bind_null(st, i);
    }
    sqlite3_bind_int64(st, i++, micros);
    sqlite3_bind_text(st, i, cur, -1, SQLITE_TRANSIENT);
    return step_done(l, st, "cost adjustment");
}

/* `delta` of the day's cost spread over the campaign's clicks of the day
 * (exactly: the shares add up to delta), or on the day itself when it had
 * no click. */
static int spread(ledger_t *l, const pm_event_t *ev, int64_t delta, const char *cur)
{
    int64_t n = 0;
    sqlite3_bind_int64(l->nclicks, 1, ev->campaign_id);
    sqlite3_bind_int64(l->nclicks, 2, ev->ref_ts);
    sqlite3_bind_int64(l->nclicks, 3, ev->ref_end);
    if (sqlite3_step(l->nclicks) == SQLITE_ROW) n = sqlite3_column_int64(l->nclicks, 0);
    sqlite3_reset(l->nclicks);
    if (n == 0) return delta ? cost_row(l, ev, NULL, ev->ref_ts, delta, cur) : PM_OK;
    sqlite3_stmt *st = l->clicks;
    sqlite3_bind_int64(st, 1, ev->campaign_id);
    sqlite3_bind_int64(st, 2, ev->ref_ts);
    sqlite3_bind_int64(st, 3, ev->ref_end);
    int rc = PM_OK, step;
    for (int64_t i = 0; rc == PM_OK && i < n && (step = sqlite3_step(st)) == SQLITE_ROW; i++) {
        int64_t share = share_upto(delta, i + 1, n) - share_upto(delta, i, n);
        if (share) rc = cost_row(l, ev, st, sqlite3_column_int64(st, 0), share, cur);
    }
    sqlite3_reset(st);
    return rc;
}

static int apply_cost_report(ledger_t *l, const pm_event_t *ev)
{
    char id[PM_ID_LEN + 1];
    pm_money_t prev = {0};
    pm_id_format(&ev->id, id);
    sqlite3_stmt *st = l->cost_get;
    sqlite3_bind_int64(st, 1, ev->campaign_id);
    sqlite3_bind_int64(st, 2, ev->ref_ts);
    int step = sqlite3_step(st);
    bool newer = false;
    if (step == SQLITE_ROW) {
        prev.micros = sqlite3_column_int64(st, 0);
        snprintf(prev.currency.code, sizeof(prev.currency.code), "%s", (const char *)sqlite3_column_text(st, 1));
        newer = strcmp((const char *)sqlite3_column_text(st, 2), id) > 0;
    }
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) return step_done(l, st, "cost day");
    if (newer) return PM_OK; /* a later report of the same day is already applied: it is the total */
    const char *cur = ev->cost.currency.code[0] ? ev->cost.currency.code : "XXX";
    st = l->cost_put;
    sqlite3_bind_int64(st, 1, ev->campaign_id);
    sqlite3_bind_int64(st, 2, ev->ref_ts);
    sqlite3_bind_int64(st, 3, ev->cost.micros);
    sqlite3_bind_text(st, 4, cur, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, id, -1, SQLITE_TRANSIENT);
    int rc = step_done(l, st, "cost day");
    if (rc == PM_OK) rc = book_cost(l, ev, &prev, -1);
    if (rc == PM_OK) rc = book_cost(l, ev, &ev->cost, 1);
    bool same = prev.micros == 0 || strcmp(prev.currency.code, cur) == 0;
    if (rc == PM_OK && !same) rc = spread(l, ev, -prev.micros, prev.currency.code);
    if (rc == PM_OK) rc = spread(l, ev, same ? ev->cost.micros - prev.micros : ev->cost.micros, cur);
    return rc;
}

/* --- the sink ------------------------------------------------------------------ */

static int sink_apply(void *state, const pm_event_t *ev)
{
    ledger_t *l = state;
    switch (ev->type) {
    case PM_EV_CLICK:
    case PM_EV_IMPRESSION: return book_cost(l, ev, &ev->cost, 1);
    case PM_EV_CONVERSION: {
        int rc = save_state(l, &ev->id, ev);
        if (rc == PM_OK && books(&ev->s[PM_EVS_STATUS]))
            rc = book_conversion(l, ev, &ev->revenue, &ev->cost, &ev->payout, 1);
        return rc;
    }
    case PM_EV_STATUS_CHANGE: return apply_change(l, ev);
    case PM_EV_COST_REPORT: return apply_cost_report(l, ev);
    default: return PM_OK;
    }
}

static void sink_close(void *state)
{
    ledger_t *l = state;
    if (l == NULL) return;
    sqlite3_finalize(l->leg);
    sqlite3_finalize(l->state);
    sqlite3_finalize(l->adjust);
    sqlite3_finalize(l->cost_get);
    sqlite3_finalize(l->cost_put);
    sqlite3_finalize(l->clicks);
    sqlite3_finalize(l->nclicks);
    sqlite3_finalize(l->cost_adjust);
    pm_free(l);
}

static int last_movement(ledger_t *l)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(l->db, "SELECT coalesce(max(movement), 0) FROM ledger_entries", &st);
    if (rc == PM_OK && sqlite3_step(st) == SQLITE_ROW)
        l->next_movement = sqlite3_column_int64(st, 0) + 1;
    else
        rc = PM_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

static int prepare_costs(ledger_t *l)
{
    int rc = prepare(l->db,
                     "SELECT cost_micros, cost_currency, report_id FROM cost_days"
                     " WHERE campaign_id=? AND day_start=?",
                     &l->cost_get);
    if (rc == PM_OK)
        rc = prepare(l->db,
                     "INSERT OR REPLACE INTO cost_days(campaign_id, day_start, cost_micros, cost_currency,"
                     " report_id) VALUES(?,?,?,?,?)",
                     &l->cost_put);
    if (rc == PM_OK)
        rc = prepare(l->db,
                     "SELECT count(*) FROM clicks WHERE campaign_id=? AND ts>=? AND ts<? AND bot_reason IS NULL",
                     &l->nclicks);
    if (rc == PM_OK)
        rc = prepare(l->db,
                     "SELECT ts, offer_id, lander_id, visitor_id, language, sub1, sub2, sub3, sub4, sub5, sub6,"
                     " sub7, sub8, sub9, sub10, utm_source, utm_medium, utm_campaign, utm_content, utm_term,"
                     " external_id, " CONTEXT_COLUMNS ", creative_id, partner_id FROM clicks"
                     " WHERE campaign_id=? AND ts>=? AND ts<? AND bot_reason IS NULL ORDER BY id",
                     &l->clicks);
    if (rc == PM_OK)
        rc = prepare(l->db,
                     "INSERT INTO cost_adjustments(report_id, ts, campaign_id, traffic_source_id, offer_id,"
                     " lander_id, visitor_id, language, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9,"
                     " sub10, utm_source, utm_medium, utm_campaign, utm_content, utm_term, external_id,"
                     " " CONTEXT_COLUMNS ", creative_id, partner_id, cost_micros, cost_currency)"
                     " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     &l->cost_adjust);
    return rc;
}

/* --- books for events stored before the ledger existed --------------------------- */

static void row_money(sqlite3_stmt *st, int i, pm_money_t *m)
{
    const unsigned char *cur = sqlite3_column_text(st, i + 1);
    memset(m, 0, sizeof(*m));
    m->micros = sqlite3_column_int64(st, i);
    if (cur) snprintf(m->currency.code, sizeof(m->currency.code), "%s", (const char *)cur);
}

static void row_id(sqlite3_stmt *st, int i, pm_id_t *id)
{
    const unsigned char *p = sqlite3_column_text(st, i);
    if (p == NULL || pm_id_parse((const char *)p, (size_t)sqlite3_column_bytes(st, i), id) != PM_OK)
        memset(id, 0, sizeof(*id));
}

/* Book every row of `sql` (id, ts, campaign, source, offer, status, cost,
 * revenue, payout) as an event of `type` would be booked. */
static int backfill_table(ledger_t *l, pm_event_type_t type, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(l->db, sql, &st), step;
    while (rc == PM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        pm_event_t ev = {.type = type};
        row_id(st, 0, &ev.id);
        ev.ts = sqlite3_column_int64(st, 1);
        ev.campaign_id = sqlite3_column_int64(st, 2);
        ev.traffic_source_id = sqlite3_column_int64(st, 3);
        ev.offer_id = sqlite3_column_int64(st, 4);
        const unsigned char *status = sqlite3_column_text(st, 5);
        if (status) pm_event_set(&ev, PM_EVS_STATUS, (const char *)status, (size_t)sqlite3_column_bytes(st, 5));
        row_money(st, 6, &ev.cost);
        row_money(st, 8, &ev.revenue);
        row_money(st, 10, &ev.payout);
        if (type != PM_EV_CONVERSION)
            rc = book_cost(l, &ev, &ev.cost, 1);
        else if (books(&ev.s[PM_EVS_STATUS]))
            rc = book_conversion(l, &ev, &ev.revenue, &ev.cost, &ev.payout, 1);
    }
    if (rc == PM_OK && step != SQLITE_DONE) rc = step_done(l, st, "backfill");
    sqlite3_finalize(st);
    return rc;
}

/* After an upgrade: the events already stored, booked once (their
 * conversions got their state in the migration). */
static int backfill(pm_store_t *store, ledger_t *l)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(l->db, "SELECT count(*) FROM report_meta WHERE key='ledger_backfill'", &st);
    bool wanted = rc == PM_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    if (rc != PM_OK || !wanted) return rc;
    pm_info("ledger: booking the events stored before the ledger existed");
    if ((rc = pm_store_begin(store)) != PM_OK) return rc;
    rc = backfill_table(l, PM_EV_CLICK,
                        "SELECT id, ts, campaign_id, traffic_source_id, offer_id, NULL, cost_micros,"
                        " cost_currency, 0, NULL, 0, NULL FROM clicks WHERE cost_micros<>0");
    if (rc == PM_OK)
        rc = backfill_table(l, PM_EV_IMPRESSION,
                            "SELECT id, ts, campaign_id, traffic_source_id, offer_id, NULL, cost_micros, cost_currency,"
                            " 0, NULL, 0, NULL FROM impressions WHERE cost_micros<>0");
    if (rc == PM_OK)
        rc = backfill_table(l, PM_EV_CONVERSION,
                            "SELECT id, ts, campaign_id, traffic_source_id, offer_id, status, cost_micros,"
                            " cost_currency, revenue_micros, revenue_currency, payout_micros, payout_currency"
                            " FROM conversions WHERE id NOT IN (SELECT conversion_id FROM conversion_changes)");
    if (rc == PM_OK) rc = pm_store_exec(store, "DELETE FROM report_meta WHERE key='ledger_backfill'");
    if (rc == PM_OK) rc = pm_store_commit(store);
    if (rc != PM_OK) pm_store_rollback(store);
    return rc;
}

static int sink_open(pm_store_t *store, void **state)
{
    ledger_t *l = pm_calloc(1, sizeof(*l));
    l->db = pm_store_db(store);
    int rc = prepare(l->db,
                     "INSERT INTO ledger_entries(movement, ts, event_id, event_type, conversion_id, campaign_id,"
                     " kind, account_type, account_id, amount_micros, currency) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                     &l->leg);
    if (rc == PM_OK)
        rc = prepare(l->db,
                     "INSERT INTO conversion_state(conversion_id, version, status, revenue_micros, revenue_currency,"
                     " cost_micros, cost_currency, payout_micros, payout_currency, updated_ts)"
                     " VALUES(?,?,?,?,?,?,?,?,?,?) ON CONFLICT(conversion_id) DO UPDATE SET"
                     " version=excluded.version, status=excluded.status, revenue_micros=excluded.revenue_micros,"
                     " revenue_currency=excluded.revenue_currency, cost_micros=excluded.cost_micros,"
                     " cost_currency=excluded.cost_currency, payout_micros=excluded.payout_micros,"
                     " payout_currency=excluded.payout_currency, updated_ts=excluded.updated_ts"
                     " WHERE excluded.version > conversion_state.version",
                     &l->state);
    if (rc == PM_OK)
        rc = prepare(l->db,
                     "INSERT INTO conversion_adjustments(change_id, sign, ts, campaign_id, traffic_source_id,"
                     " offer_id, lander_id, visitor_id, language, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8,"
                     " sub9, sub10, utm_source, utm_medium, utm_campaign, utm_content, utm_term, external_id,"
                     " status, conversion_type, revenue_micros, revenue_currency, payout_micros, payout_currency,"
                     " cost_micros, cost_currency, " CONTEXT_COLUMNS ", creative_id, partner_id)"
                     " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     &l->adjust);
    if (rc == PM_OK) rc = prepare_costs(l);
    if (rc == PM_OK) rc = last_movement(l);
    if (rc == PM_OK) rc = backfill(store, l);
    if (rc != PM_OK) {
        sink_close(l);
        l = NULL;
    }
    *state = l;
    return rc;
}

const pm_sink_ops_t pm_ledger_sink = {"ledger", sink_open, sink_apply, sink_close, false};

int pm_ledger_convert(int64_t micros, int64_t rate_micros, int64_t *out)
{
    __int128 p = (__int128)micros * rate_micros;
    __int128 half = PM_MICROS / 2, q = p >= 0 ? (p + half) / PM_MICROS : (p - half) / PM_MICROS;
    if (q > INT64_MAX || q < INT64_MIN) return PM_ERANGE;
    *out = (int64_t)q;
    return PM_OK;
}

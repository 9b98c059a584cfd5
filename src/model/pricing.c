/*
 * pricing.c: conversion pricing and the lifecycle state machine (see
 * pm/pricing.h and docs/money.md).
 *
 * Rules are few (tens), so the most specific match is a linear scan of the
 * snapshot's array: a rule matches when each of its offer, partner and
 * conversion type is unset or equal; the most specific wins (partner 4,
 * offer 2, type 1), the lowest id among equals. A revenue rule with a
 * volume_from matches from the offer's volume_from-th conversion of the
 * month on; among rules as specific, the highest tier reached wins.
 */
#include "pm/pricing.h"

#include <string.h>

int pm_price_percent(int64_t micros, int64_t percent, int64_t *out)
{
    return pm_money_muldiv(micros, percent, 100 * PM_PERCENT_ONE, out);
}

static bool type_matches(const char *rule_type, const char *type)
{
    return rule_type[0] == '\0' || strcmp(rule_type, type) == 0;
}

/* The best rule of `side` for (offer, partner, type) and the conversion's
 * place in its offer's month (revenue tiers), or NULL. */
static const pm_rule_t *best_rule(const pm_config_t *cfg, pm_rule_side_t side, int64_t offer, int64_t partner,
                                  const char *type, int64_t place)
{
    size_t n;
    const pm_rule_t *rules = pm_config_rules(cfg, &n), *best = NULL;
    int best_score = -1;
    if (place < 1) place = 1;
    for (size_t i = 0; i < n; i++) {
        const pm_rule_t *r = &rules[i];
        if (r->side != side || (r->offer_id && r->offer_id != offer) || (r->partner_id && r->partner_id != partner) ||
            !type_matches(r->conversion_type, type) || r->volume_from > place)
            continue;
        int score = (r->partner_id ? 4 : 0) + (r->offer_id ? 2 : 0) + (r->conversion_type[0] ? 1 : 0);
        if (score > best_score || (score == best_score && r->volume_from > best->volume_from))
            best = r, best_score = score;
    }
    return best;
}

bool pm_price_has_tiers(const pm_config_t *cfg, int64_t offer_id)
{
    size_t n;
    const pm_rule_t *rules = pm_config_rules(cfg, &n);
    for (size_t i = 0; offer_id && i < n; i++)
        if (rules[i].side == PM_RULE_REVENUE && rules[i].offer_id == offer_id && rules[i].volume_from > 1) return true;
    return false;
}

static const char *money_currency(const pm_money_t *m, const pm_currency_t *fallback)
{
    return m->currency.code[0] ? m->currency.code : fallback->code;
}

static void set_currency(pm_money_t *m, const char *code)
{
    memset(&m->currency, 0, sizeof(m->currency));
    memcpy(m->currency.code, code, 3);
}

/* The revenue: the postback's own amount, else a revenue rule, else the
 * offer (fixed, or a share of the sale value). */
static int price_revenue(const pm_config_t *cfg, const pm_price_in_t *in, pm_money_t *out)
{
    const pm_offer_t *o = in->offer;
    pm_currency_t offer_cur = o ? o->payout.currency : in->fallback;
    int64_t sale = in->has_sale ? in->sale_micros : 0;
    memset(out, 0, sizeof(*out));
    if (in->has_revenue) {
        out->micros = in->revenue.micros;
        set_currency(out, money_currency(&in->revenue, &offer_cur));
        return PM_OK;
    }
    const pm_rule_t *r = best_rule(cfg, PM_RULE_REVENUE, o ? o->id : 0, 0, in->type, in->place);
    if (r && r->model == PM_PRICE_PERCENT) {
        set_currency(out, money_currency(&r->amount, &offer_cur));
        return pm_price_percent(sale, r->percent, &out->micros);
    }
    if (r) {
        *out = r->amount;
        return PM_OK;
    }
    set_currency(out, offer_cur.code);
    if (o && o->payout_percent > 0) return pm_price_percent(sale, o->payout_percent, &out->micros);
    if (o) out->micros = o->payout.micros;
    return PM_OK;
}

/* The traffic source's cost of this conversion (CPA, revenue share). */
static int price_cost(const pm_price_in_t *in, const pm_money_t *revenue, pm_money_t *out)
{
    const pm_campaign_t *k = in->campaign;
    memset(out, 0, sizeof(*out));
    if (k == NULL) return PM_OK;
    if (k->cost_model == PM_COST_CPA && type_matches(k->cost_conversion_type, in->type)) {
        *out = k->cost;
    } else if (k->cost_model == PM_COST_REVSHARE) {
        out->currency = revenue->currency;
        return pm_price_percent(revenue->micros, k->cost_percent, &out->micros);
    }
    return PM_OK;
}

/* The partner's payout: a payout rule, else the partner's own terms. */
static int price_payout(const pm_config_t *cfg, const pm_price_in_t *in, const pm_money_t *revenue, pm_price_t *out)
{
    const pm_partner_t *p = in->campaign ? in->campaign->partner : NULL;
    memset(&out->payout, 0, sizeof(out->payout));
    out->partner_id = p ? p->id : 0;
    if (p == NULL) return PM_OK;
    const pm_rule_t *r = best_rule(cfg, PM_RULE_PAYOUT, in->offer ? in->offer->id : 0, p->id, in->type, 0);
    pm_price_model_t model = r ? r->model : p->model;
    if (model == PM_PRICE_FIXED) {
        out->payout = r ? r->amount : p->amount;
    } else if (model == PM_PRICE_PERCENT) {
        out->payout.currency = revenue->currency;
        return pm_price_percent(revenue->micros, r ? r->percent : p->percent, &out->payout.micros);
    }
    return PM_OK;
}

int pm_price_conversion(const pm_config_t *cfg, const pm_price_in_t *in, pm_price_t *out)
{
    memset(out, 0, sizeof(*out));
    int rc = price_revenue(cfg, in, &out->revenue);
    if (rc == PM_OK) rc = price_cost(in, &out->revenue, &out->cost);
    if (rc == PM_OK) rc = price_payout(cfg, in, &out->revenue, out);
    return rc;
}

int pm_price_reprice(const pm_config_t *cfg, const pm_price_in_t *in, pm_price_t *inout)
{
    pm_price_t fresh;
    int rc = price_cost(in, &inout->revenue, &fresh.cost);
    if (rc == PM_OK) rc = price_payout(cfg, in, &inout->revenue, &fresh);
    if (rc != PM_OK) return rc;
    const pm_campaign_t *k = in->campaign;
    if (k && k->cost_model == PM_COST_REVSHARE) inout->cost = fresh.cost;
    const pm_partner_t *p = k ? k->partner : NULL;
    const pm_rule_t *r = p ? best_rule(cfg, PM_RULE_PAYOUT, in->offer ? in->offer->id : 0, p->id, in->type, 0) : NULL;
    if (p && (r ? r->model : p->model) == PM_PRICE_PERCENT) inout->payout = fresh.payout;
    return PM_OK;
}

/* --- lifecycle ------------------------------------------------------------ */

static const char *const statuses[] = {"pending", "approved", "rejected", "chargeback", "refund"};

const char *pm_status_name(const char *s, size_t len)
{
    for (size_t i = 0; i < PM_ARRAY_LEN(statuses); i++) {
        size_t n = strlen(statuses[i]);
        if (n != len) continue;
        size_t j = 0;
        for (; j < n; j++) {
            char c = s[j] >= 'A' && s[j] <= 'Z' ? (char)(s[j] - 'A' + 'a') : s[j];
            if (c != statuses[i][j]) break;
        }
        if (j == n) return statuses[i];
    }
    return NULL;
}

bool pm_status_transition_ok(const char *from, const char *to)
{
    if (strcmp(from, "pending") == 0)
        return strcmp(to, "pending") == 0 || strcmp(to, "approved") == 0 || strcmp(to, "rejected") == 0;
    if (strcmp(from, "approved") == 0)
        return strcmp(to, "approved") == 0 || strcmp(to, "chargeback") == 0 || strcmp(to, "refund") == 0;
    return false;
}

bool pm_status_books(const char *status)
{
    return strcmp(status, "approved") == 0;
}

bool pm_status_initial(const char *status)
{
    return strcmp(status, "pending") == 0 || strcmp(status, "approved") == 0 || strcmp(status, "rejected") == 0;
}

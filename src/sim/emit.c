/*
 * emit.c: turning a due node into the pm_event_t the tracking path would
 * have journaled, and what follows from it. An impression on social,
 * native or CTV sometimes sends its viewer to search for the offer later;
 * a click converts with the campaign's CVR (times its sub1's factor and the
 * visitor's intent) after a log-normal lag; a lead or install sometimes
 * becomes a sale days later (a second conversion of the same click).
 *
 * Money follows the live rules (src/track/track.c): a CPC campaign's cost
 * on each click, bots' included; CPM's on each impression (price / 1000);
 * CPA's on each approved conversion. A conversion's revenue is its offer's
 * payout, or the sale value the advertiser posts back for per-sale offers.
 *
 * A campaign whose click shows a lander: a share of its human visitors
 * (per channel, LANDER_SHARE) click through to the offer a few seconds
 * later, a lander click (GET /go), and only they convert, with CVR / share
 * per lander click, so the campaign's CVR per click stays the model's and
 * the dashboard's lander_ctr is the share.
 */
#include "sim_internal.h"

#include <string.h>

#define HOUR_US (3600 * PM_USEC_PER_SEC)
#define DAY_US (24 * HOUR_US)
#define MIN_LAG_US (30 * PM_USEC_PER_SEC)
#define MAX_LAG_US (30 * DAY_US)
#define PIXEL_SHARE 0.15
#define FOLLOWUP_CHANCE 0.12
#define CHARGEBACK_CHANCE 0.025
#define CHARGEBACK_MIN_AGE (5 * DAY_US)
#define LANDER_MEDIAN_S    6.0 /* seconds on the lander before clicking through */

/* Share of a lander's human visitors who click through to the offer. */
static const double lander_share[PM_SIM__CHANNELS] = {
    [PM_SIM_SEARCH] = 0.62,    [PM_SIM_SOCIAL] = 0.38, [PM_SIM_NATIVE] = 0.45,
    [PM_SIM_AFFILIATE] = 0.55, [PM_SIM_CTV] = 0.30,
};

/* A conversion's life so far, from how long ago it happened. */
typedef struct outcome_s {
    const char *status;
    bool chargeback;
} outcome_t;

static bool is_sale(const char *type) { return strcmp(type, "sale") == 0 || strcmp(type, "purchase") == 0; }

/* Recent conversions are often still pending (advertisers approve in
 * batches); a few are rejected (fraud, duplicates, failed checks); a few
 * older sales are charged back, which the event model records as rejected. */
static outcome_t outcome(pm__sim_t *s, const pm__sim_node_t *n, const char *type)
{
    pm_time_t age = s->cfg->end - n->ts;
    double pending = 0.03 + (age < 3 * DAY_US ? 0.6 * (1.0 - (double)age / (3.0 * DAY_US)) : 0.0);
    if (strcmp(type, "install") == 0) pending *= 0.3;
    double rejected = strcmp(type, "lead") == 0 ? 0.10 : 0.06, u = pm__sim_unit(&s->rng);
    if (is_sale(type) && age > CHARGEBACK_MIN_AGE && pm__sim_chance(&s->rng, CHARGEBACK_CHANCE))
        return (outcome_t){"rejected", true};
    if (u < pending) return (outcome_t){"pending", false};
    if (u < pending + rejected) return (outcome_t){"rejected", false};
    return (outcome_t){"approved", false};
}

static int64_t round_cents(int64_t micros) { return (micros + 5000) / 10000 * 10000; }

/* The workspace's revenue: the offer's payout; per-sale offers post back
 * the order's value (60-180% of the payout); follow-up sales are worth a
 * few times the lead or install that preceded them. */
static pm_money_t revenue(pm__sim_t *s, const pm__sim_node_t *n)
{
    const pm_sim_campaign_t *c = s->camps[n->campaign].c;
    pm_money_t m = {0};
    if (c->offer_id == 0 || c->payout.currency.code[0] == '\0') {
        m.currency = s->cfg->currency;
        return m;
    }
    m = c->payout;
    int64_t pct = 100;
    if (n->conv_type == 1) pct = 300 + pm__sim_below(&s->rng, 200);
    else if (c->payout_type && strcmp(c->payout_type, "cps") == 0) pct = 60 + pm__sim_below(&s->rng, 121);
    if (pct != 100 && pm_money_muldiv(m.micros, pct, 100, &m.micros) == PM_OK) m.micros = round_cents(m.micros);
    return m;
}

static pm_id_t visitor_id(pm__sim_t *s, const pm__sim_node_t *n, pm_time_t ts)
{
    if ((n->flags & (NF_BOT | NF_COOKIELESS)) || n->visitor == NO_VISITOR) return pm_id_next(&s->ids, ts);
    pm__sim_visitor_t *v = &s->visitors[n->visitor];
    if (!v->has_id) {
        v->id = pm_id_next(&s->ids, ts);
        v->has_id = true;
    }
    return v->id;
}

static void base_event(pm__sim_t *s, const pm__sim_node_t *n, pm_event_t *ev)
{
    const pm_sim_campaign_t *c = s->camps[n->campaign].c;
    memset(ev, 0, sizeof(*ev));
    s->used = 0;
    ev->type = (pm_event_type_t)n->kind;
    ev->ts = n->ts;
    ev->id = pm_id_next(&s->ids, n->ts);
    ev->campaign_id = c->id;
    ev->traffic_source_id = c->traffic_source_id;
    ev->offer_id = c->offer_id;
    ev->lander_id = c->lander_id;
    /* The creative its sub2 names; a conversion's node is its click's copy. */
    if (c->creative_ids && n->sub2 < c->ncreatives) ev->creative_id = c->creative_ids[n->sub2];
}

static int deliver(pm__sim_t *s, const pm__sim_node_t *n, const pm_event_t *ev, pm_sim_meta_t *meta)
{
    meta->campaign = n->campaign;
    meta->channel = s->camps[n->campaign].channel;
    meta->bot = (n->flags & NF_BOT) != 0;
    s->stats.events[ev->type]++;
    s->stats.by_channel[meta->channel][ev->type]++;
    return s->emit(s->emit_ctx, ev, meta);
}

/* Sometimes the viewer of an ad searches for the offer later. */
static void maybe_search_later(pm__sim_t *s, const pm__sim_node_t *n, double chance)
{
    int32_t peer = s->camps[n->campaign].search_peer;
    if (peer < 0 || (n->flags & NF_BOT) || !pm__sim_chance(&s->rng, chance)) return;
    pm_time_t later = (pm_time_t)(pm__sim_lognormal(&s->rng, 6.0 * 3600, 1.0) * PM_USEC_PER_SEC);
    pm__sim_add_impression(s, (uint32_t)peer, n->visitor, n->ts + PM_USEC_PER_SEC + later);
}

static int emit_impression(pm__sim_t *s, const pm__sim_node_t *n)
{
    const pm_sim_campaign_t *c = s->camps[n->campaign].c;
    pm_event_t ev;
    pm_sim_meta_t meta = {0};
    base_event(s, n, &ev);
    ev.visitor_id = visitor_id(s, n, n->ts);
    pm__sim_render_fields(s, n, PM_EV_IMPRESSION, &ev);
    if (c->cost_model == PM_COST_CPM && pm_money_muldiv(c->cost.micros, 1, 1000, &ev.cost.micros) == PM_OK)
        ev.cost.currency = c->cost.currency;
    if (n->flags & NF_BOT) s->stats.bot_impressions++;
    int rc = deliver(s, n, &ev, &meta);
    if (rc == 0) maybe_search_later(s, n, s->camps[n->campaign].p->followup_search_after_impression);
    return rc;
}

/* Queue the conversion of a click (reached the offer at node n: the click
 * itself, or its lander click), if it converts with probability p. */
static void maybe_convert(pm__sim_t *s, const pm__sim_node_t *n, pm_time_t click_ts, const pm_id_t *click_id,
                          const pm_id_t *visitor, double p)
{
    const pm__sim_campaign_t *k = &s->camps[n->campaign];
    if (!pm__sim_chance(&s->rng, p)) return;
    double lag = pm__sim_lognormal(&s->rng, k->rates.lag_median_s, k->rates.lag_sigma) * PM_USEC_PER_SEC;
    pm__sim_node_t conv = *n;
    conv.kind = PM_EV_CONVERSION;
    conv.click_ts = click_ts;
    conv.click_id = *click_id;
    conv.visitor_id = *visitor;
    conv.conv_type = 0;
    conv.ts = n->ts + (lag < MIN_LAG_US ? MIN_LAG_US : lag > MAX_LAG_US ? MAX_LAG_US : (pm_time_t)lag);
    pm__sim_push(s, &conv);
}

/* What follows a human click: on a lander campaign, maybe a lander click
 * (which may convert); else maybe a conversion. */
static void after_click(pm__sim_t *s, const pm__sim_node_t *n, const pm_event_t *click)
{
    const pm__sim_campaign_t *k = &s->camps[n->campaign];
    if ((n->flags & NF_BOT) || n->visitor == NO_VISITOR) return;
    double p = k->rates.cvr * k->sub1_cvr[n->sub1] * s->visitors[n->visitor].intent;
    if (k->c->lander_id == 0 || k->c->offer_id == 0) { /* no lander, or nothing past it (/go records nothing) */
        maybe_convert(s, n, n->ts, &click->id, &click->visitor_id, p);
        return;
    }
    double share = lander_share[k->channel];
    if (!pm__sim_chance(&s->rng, share)) return;
    double wait = pm__sim_lognormal(&s->rng, LANDER_MEDIAN_S, 0.7) * PM_USEC_PER_SEC;
    pm__sim_node_t hop = *n;
    hop.kind = PM_EV_LANDER_CLICK;
    hop.click_ts = n->ts;
    hop.click_id = click->id;
    hop.visitor_id = click->visitor_id;
    hop.ts = n->ts + (wait < PM_USEC_PER_SEC ? PM_USEC_PER_SEC : (pm_time_t)wait);
    pm__sim_push(s, &hop);
}

static int emit_click(pm__sim_t *s, const pm__sim_node_t *n)
{
    const pm_sim_campaign_t *c = s->camps[n->campaign].c;
    pm_event_t ev;
    pm_sim_meta_t meta = {0};
    base_event(s, n, &ev);
    ev.visitor_id = visitor_id(s, n, n->ts);
    pm__sim_render_fields(s, n, PM_EV_CLICK, &ev);
    pm__sim_render_destination(s, n, &ev);
    if (c->cost_model == PM_COST_CPC) ev.cost = c->cost;
    if (n->flags & NF_BOT) s->stats.bot_clicks++;
    int rc = deliver(s, n, &ev, &meta);
    if (rc != 0) return rc;
    after_click(s, n, &ev);
    maybe_search_later(s, n, s->camps[n->campaign].p->followup_search_after_click);
    return 0;
}

/* The visitor left the lander for the offer: the click's fields again, its
 * own id and time, click_id = the click, no money (as GET /go journals it). */
static int emit_lander_click(pm__sim_t *s, const pm__sim_node_t *n)
{
    const pm__sim_campaign_t *k = &s->camps[n->campaign];
    pm_event_t ev;
    pm_sim_meta_t meta = {.click_ts = n->click_ts};
    base_event(s, n, &ev);
    ev.visitor_id = n->visitor_id;
    ev.click_id = n->click_id;
    pm__sim_render_fields(s, n, PM_EV_CLICK, &ev); /* inherited from the click */
    int rc = deliver(s, n, &ev, &meta);
    if (rc != 0) return rc;
    double p = k->rates.cvr * k->sub1_cvr[n->sub1] * s->visitors[n->visitor].intent / lander_share[k->channel];
    maybe_convert(s, n, n->click_ts, &n->click_id, &n->visitor_id, p);
    return 0;
}

static void count_status(pm__sim_t *s, const outcome_t *o, bool followup)
{
    if (o->chargeback) s->stats.chargebacks++;
    if (strcmp(o->status, "approved") == 0) s->stats.approved++;
    else if (strcmp(o->status, "pending") == 0) s->stats.pending++;
    else s->stats.rejected++;
    if (followup) s->stats.followups++;
}

/* A lead or an install that was not rejected may turn into a sale. */
static void maybe_followup(pm__sim_t *s, const pm__sim_node_t *n, const char *type, const outcome_t *o)
{
    if (n->conv_type != 0 || (strcmp(type, "lead") != 0 && strcmp(type, "install") != 0)) return;
    if (strcmp(o->status, "rejected") == 0 || !pm__sim_chance(&s->rng, FOLLOWUP_CHANCE)) return;
    pm__sim_node_t next = *n;
    next.conv_type = 1;
    next.flags |= NF_FOLLOWUP;
    next.ts = n->ts + (pm_time_t)(pm__sim_lognormal(&s->rng, 2.0 * 86400, 0.6) * PM_USEC_PER_SEC);
    pm__sim_push(s, &next);
}

static int emit_conversion(pm__sim_t *s, const pm__sim_node_t *node)
{
    const pm_sim_campaign_t *c = s->camps[node->campaign].c;
    pm__sim_node_t n = *node;
    const char *primary = pm__sim_conv_type(c->payout_type);
    const char *type = n.conv_type == 0 ? primary : strcmp(primary, "lead") == 0 ? "sale" : "purchase";
    outcome_t o = outcome(s, &n, type);
    if (o.chargeback) n.flags |= NF_CHARGEBACK;
    bool pixel = pm__sim_chance(&s->rng, PIXEL_SHARE);
    pm_event_t ev;
    pm_sim_meta_t meta = {.followup = n.conv_type == 1, .chargeback = o.chargeback, .click_ts = n.click_ts};
    base_event(s, &n, &ev);
    ev.visitor_id = n.visitor_id;
    ev.click_id = n.click_id;
    pm__sim_render_fields(s, &n, PM_EV_CLICK, &ev); /* inherited from the click */
    pm_event_set(&ev, PM_EVS_STATUS, o.status, strlen(o.status));
    pm_event_set(&ev, PM_EVS_CONV_TYPE, type, strlen(type));
    pm_event_set(&ev, PM_EVS_METHOD, pixel ? "pixel" : "postback", pixel ? 5 : 8);
    pm__sim_render_txid(s, &n, type, pixel, &ev);
    ev.revenue = revenue(s, &n);
    if (c->cost_model == PM_COST_CPA && strcmp(o.status, "approved") == 0) ev.cost = c->cost;
    count_status(s, &o, meta.followup);
    int rc = deliver(s, &n, &ev, &meta);
    if (rc == 0) maybe_followup(s, &n, type, &o);
    return rc;
}

int pm__sim_emit(pm__sim_t *s, const pm__sim_node_t *n)
{
    switch (n->kind) {
    case PM_EV_IMPRESSION: return emit_impression(s, n);
    case PM_EV_CLICK: return emit_click(s, n);
    case PM_EV_CONVERSION: return emit_conversion(s, n);
    case PM_EV_LANDER_CLICK: return emit_lander_click(s, n);
    default: PM_NEVER(1); return 0;
    }
}

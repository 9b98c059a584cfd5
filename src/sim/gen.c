/*
 * gen.c: the generator's clock (see pm/sim.h). Time advances an hour at a
 * time. Each hour every campaign gets a Poisson number of impressions for
 * its volume, the channel's hour-of-day and day-of-week shape and the day's
 * noise; each impression may lead to a click seconds later. Bots are added
 * on top: bot impressions, declared crawlers following links, and now and
 * then a click-fraud burst from one data-center address.
 *
 * Everything that will happen goes into one queue ordered by (time,
 * creation order) and is emitted when the clock passes it, so events come
 * out in time order even when a conversion lands days after its click, and
 * ids made at the event's time are time-ordered. The creation order breaks
 * ties, which keeps runs deterministic.
 */
#include "sim_internal.h"

#include <string.h>

#define HOUR_US (3600 * PM_USEC_PER_SEC)
#define DAY_US (24 * HOUR_US)
#define COOKIELESS_SHARE 0.07 /* private windows, blocked cookies: a new visitor id each time */
#define SPIKE_CHANCE 0.03      /* a campaign's promotion day */
#define SPIKE_FACTOR 1.6
#define DAY_NOISE_SIGMA 0.12
#define MAX_DAYS 3660

/* --- the queue: a binary heap of (ts, order) over a pool of nodes ---------- */

static uint32_t node_alloc(pm__sim_t *s)
{
    if (s->free_head != NO_NODE) {
        uint32_t i = s->free_head;
        s->free_head = s->nodes[i].next_free;
        return i;
    }
    if (s->nnodes == s->node_cap) {
        s->node_cap = s->node_cap ? s->node_cap * 2 : 4096;
        s->nodes = pm_realloc(s->nodes, s->node_cap * sizeof(*s->nodes));
    }
    return s->nnodes++;
}

static bool before(const pm__sim_heap_t *a, const pm__sim_heap_t *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->order < b->order);
}

void pm__sim_push(pm__sim_t *s, const pm__sim_node_t *n)
{
    if (n->ts >= s->cfg->end) return;
    uint32_t i = node_alloc(s);
    s->nodes[i] = *n;
    if (s->heap_n == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 4096;
        s->heap = pm_realloc(s->heap, s->heap_cap * sizeof(*s->heap));
    }
    pm__sim_heap_t e = {.ts = n->ts, .order = s->order++, .node = i};
    uint32_t k = s->heap_n++;
    while (k > 0 && before(&e, &s->heap[(k - 1) / 2])) {
        s->heap[k] = s->heap[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    s->heap[k] = e;
}

/* Remove the earliest entry into *out (its node slot is freed). */
static void pop(pm__sim_t *s, pm__sim_node_t *out)
{
    uint32_t i = s->heap[0].node;
    *out = s->nodes[i];
    s->nodes[i].next_free = s->free_head;
    s->free_head = i;
    pm__sim_heap_t last = s->heap[--s->heap_n];
    uint32_t k = 0;
    for (;;) {
        uint32_t c = 2 * k + 1;
        if (c >= s->heap_n) break;
        if (c + 1 < s->heap_n && before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!before(&s->heap[c], &last)) break;
        s->heap[k] = s->heap[c];
        k = c;
    }
    if (s->heap_n) s->heap[k] = last;
}

/* Emit everything due before `until`. */
static int drain(pm__sim_t *s, pm_time_t until)
{
    while (s->heap_n && s->heap[0].ts < until) {
        pm__sim_node_t n;
        pop(s, &n);
        int rc = pm__sim_emit(s, &n);
        if (rc != 0) return rc;
    }
    return 0;
}

/* --- what happens ----------------------------------------------------------- */

static uint8_t variant_of(pm__sim_t *s, pm_sim_channel_t ch, uint32_t sub1)
{
    if (ch == PM_SIM_SEARCH) return pm__sim_chance(&s->rng, 0.15); /* Bing */
    if (ch == PM_SIM_SOCIAL) {
        const char *placement = pm__sim_social_placements.v[sub1 % pm__sim_social_placements.n];
        return strcmp(placement, "stories") == 0 || strcmp(placement, "reels") == 0; /* Instagram */
    }
    return 0;
}

/* Sub-ids and random bits of a new event of campaign k. */
static void dims(pm__sim_t *s, uint32_t k, pm__sim_node_t *n)
{
    const pm__sim_campaign_t *c = &s->camps[k];
    n->campaign = (uint16_t)k;
    n->sub1 = (uint16_t)pm__sim_pick(c->sub1_cdf, c->p->sub1_count, pm__sim_unit(&s->rng));
    n->sub2 = (uint8_t)pm__sim_pick(c->crea_cdf, c->p->creatives, pm__sim_unit(&s->rng));
    n->sub3 = (uint8_t)pm__sim_below(&s->rng, 240);
    n->variant = variant_of(s, c->channel, n->sub1);
    n->detail = pm__sim_u64(&s->rng);
}

void pm__sim_add_impression(pm__sim_t *s, uint32_t k, uint32_t visitor, pm_time_t ts)
{
    const pm__sim_campaign_t *c = &s->camps[k];
    pm__sim_node_t n = {.kind = PM_EV_IMPRESSION, .ts = ts, .visitor = visitor};
    dims(s, k, &n);
    if (pm__sim_chance(&s->rng, COOKIELESS_SHARE)) n.flags |= NF_COOKIELESS;
    bool click = pm__sim_chance(&s->rng, c->rates.ctr * c->crea_ctr[n.sub2]);
    pm__sim_push(s, &n);
    if (!click) return;
    n.kind = PM_EV_CLICK;
    n.ts = ts + 1 + (pm_time_t)(pm__sim_lognormal(&s->rng, 8.0, 0.8) * PM_USEC_PER_SEC);
    n.detail = pm__sim_u64(&s->rng);
    pm__sim_push(s, &n);
}

static uint32_t datacenter_ip(pm__sim_t *s)
{
    const uint8_t *p = pm__sim_datacenter_v4[pm__sim_below(&s->rng, pm__sim_ndatacenter)];
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (pm__sim_u64(&s->rng) & 0xffff);
}

static void add_bot(pm__sim_t *s, uint32_t k, pm_time_t ts, uint8_t kind, uint8_t flags)
{
    pm__sim_node_t n = {.kind = kind, .ts = ts, .visitor = NO_VISITOR, .flags = (uint8_t)(NF_BOT | flags)};
    dims(s, k, &n);
    n.bot_ip = datacenter_ip(s);
    pm_sim_channel_t ch = s->camps[k].channel;
    if (!(flags & NF_CRAWLER)) n.bot_agent = (uint8_t)pm__sim_below(&s->rng, pm__sim_headless_agents.n);
    else if (ch == PM_SIM_SEARCH) n.bot_agent = (uint8_t)pm__sim_below(&s->rng, 2); /* AdsBot, bingbot */
    else if (ch == PM_SIM_SOCIAL) n.bot_agent = 2;                                  /* link previews */
    else n.bot_agent = (uint8_t)(3 + pm__sim_below(&s->rng, pm__sim_crawler_agents.n - 3));
    pm__sim_push(s, &n);
}

/* Click fraud: 40-250 clicks in 5-30 minutes from one address and agent on
 * one placement. Each gets a new visitor id (no cookies) and, on a CPC
 * campaign, costs money: the waste bot filtering is for. */
static void add_burst(pm__sim_t *s, uint32_t k, pm_time_t day_start)
{
    pm__sim_node_t n = {.kind = PM_EV_CLICK, .visitor = NO_VISITOR, .flags = NF_BOT};
    dims(s, k, &n);
    n.bot_ip = datacenter_ip(s);
    n.bot_agent = (uint8_t)pm__sim_below(&s->rng, pm__sim_headless_agents.n);
    double count = (40 + pm__sim_below(&s->rng, 211)) * (s->cfg->scale < 1 ? s->cfg->scale : 1);
    pm_time_t start = day_start + (pm_time_t)(pm__sim_unit(&s->rng) * DAY_US);
    pm_time_t span = (5 + pm__sim_below(&s->rng, 26)) * 60 * PM_USEC_PER_SEC;
    for (uint32_t i = 0; i < (uint32_t)count + 1; i++) {
        n.ts = start + (pm_time_t)(pm__sim_unit(&s->rng) * span);
        n.sub2 = (uint8_t)pm__sim_pick(s->camps[k].crea_cdf, s->camps[k].p->creatives, pm__sim_unit(&s->rng));
        n.detail = pm__sim_u64(&s->rng);
        pm__sim_push(s, &n);
    }
}

/* A new local day: each campaign's volume factor (trend, noise, the odd
 * promotion) and its bursts. */
static void new_day(pm__sim_t *s, pm_time_t day_start)
{
    const pm_sim_config_t *cfg = s->cfg;
    double frac = (double)(day_start - cfg->start) / (double)(cfg->end - cfg->start);
    for (uint32_t k = 0; k < cfg->ncampaigns; k++) {
        pm__sim_campaign_t *c = &s->camps[k];
        c->day_factor = (1.0 + c->trend * (frac - 0.5)) * pm__sim_lognormal(&s->rng, 1.0, DAY_NOISE_SIGMA);
        if (pm__sim_chance(&s->rng, SPIKE_CHANCE)) c->day_factor *= SPIKE_FACTOR;
        if (c->c->cost_model == PM_COST_CPC && pm__sim_chance(&s->rng, c->p->bursts_per_day)) add_burst(s, k, day_start);
    }
}

/* The impressions and crawler hits of the hour starting at `slot`. */
static void gen_hour(pm__sim_t *s, pm_time_t slot, int local_hour, int weekday)
{
    const pm_sim_config_t *cfg = s->cfg;
    for (uint32_t k = 0; k < cfg->ncampaigns; k++) {
        const pm__sim_campaign_t *c = &s->camps[k];
        double lambda = c->rates.impressions_per_day * cfg->scale / 24.0 * c->day_factor *
                        pm__sim_hour_factor(c->channel, local_hour) * pm__sim_weekday_factor(c->channel, weekday);
        uint32_t n = pm__sim_poisson(&s->rng, lambda);
        for (uint32_t i = 0; i < n; i++) {
            pm_time_t ts = slot + (pm_time_t)(pm__sim_unit(&s->rng) * HOUR_US);
            if (pm__sim_chance(&s->rng, c->p->bot_impression_share)) add_bot(s, k, ts, PM_EV_IMPRESSION, 0);
            else pm__sim_add_impression(s, k, pm__sim_visitor_pick(s, c->channel), ts);
        }
        n = pm__sim_poisson(&s->rng, c->p->crawls_per_day * cfg->scale / 24.0);
        for (uint32_t i = 0; i < n; i++)
            add_bot(s, k, slot + (pm_time_t)(pm__sim_unit(&s->rng) * HOUR_US), PM_EV_CLICK, NF_CRAWLER);
    }
}

/* --- the run ------------------------------------------------------------------ */

static int check(const pm_sim_config_t *cfg)
{
    if (cfg->end <= cfg->start || cfg->end - cfg->start > MAX_DAYS * DAY_US) return PM_EINVAL;
    if (!(cfg->scale > 0 && cfg->scale <= 100) || cfg->ncampaigns > UINT16_MAX) return PM_EINVAL;
    return PM_OK;
}

/* Ids are made from the seed, not the kernel, so a run can be repeated:
 * the generator's state is the documented value type of pm/id.h. */
static void seed_ids(pm__sim_t *s)
{
    memset(&s->ids, 0, sizeof(s->ids));
    s->ids.rng[0] = pm__sim_hash(s->cfg->seed, 0x1d5);
    s->ids.rng[1] = pm__sim_hash(s->cfg->seed, 0x1d6) | 1;
}

static int run(pm__sim_t *s)
{
    const pm_sim_config_t *cfg = s->cfg;
    int rc = 0;
    bool first = true;
    for (pm_time_t slot = cfg->start; rc == 0 && slot < cfg->end; slot += HOUR_US) {
        int64_t local_hours = (slot + (pm_time_t)cfg->utc_offset_s * PM_USEC_PER_SEC) / HOUR_US;
        int local_hour = (int)(local_hours % 24);
        int weekday = (int)((local_hours / 24 + 3) % 7); /* 1970-01-01 was a Thursday */
        if (first || local_hour == 0) {
            new_day(s, slot);
            if (!first && cfg->progress) cfg->progress(cfg->progress_arg, slot, cfg->start, cfg->end);
            first = false;
        }
        gen_hour(s, slot, local_hour, weekday);
        rc = drain(s, slot + HOUR_US < cfg->end ? slot + HOUR_US : cfg->end);
    }
    if (rc == 0 && cfg->progress) cfg->progress(cfg->progress_arg, cfg->end, cfg->start, cfg->end);
    return rc;
}

int pm_sim_run(const pm_sim_config_t *cfg, pm_sim_emit_fn emit, void *ctx, pm_sim_stats_t *out)
{
    int rc = check(cfg);
    if (rc != PM_OK) return rc;
    pm__sim_t *s = pm_calloc(1, sizeof(*s));
    s->cfg = cfg;
    s->emit = emit;
    s->emit_ctx = ctx;
    s->free_head = NO_NODE;
    pm__sim_rng_seed(&s->rng, cfg->seed);
    seed_ids(s);
    pm_buf_init(&s->url, 8192);
    pm__sim_visitors_create(s);
    pm__sim_campaigns_create(s);
    if (cfg->detect) s->detect = pm_detect_local_create(cfg->detect);
    rc = run(s);
    s->stats.visitors = 0;
    for (uint32_t i = 0; i < s->nvisitors; i++)
        s->stats.visitors += s->visitors[i].has_id;
    if (out) *out = s->stats;
    pm__sim_campaigns_destroy(s);
    pm__sim_visitors_destroy(s);
    pm_detect_local_destroy(s->detect);
    pm_buf_free(&s->url);
    pm_free(s->nodes);
    pm_free(s->heap);
    pm_free(s);
    return rc;
}

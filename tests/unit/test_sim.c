/*
 * test_sim.c: the traffic generator (pm_sim_run), on five campaigns, one per
 * channel, over six weeks. Checks that a seed gives the same events (and
 * another seed others), that events come in time order with ids made at
 * their timestamps, that every event encodes, that conversions point at an
 * earlier click and carry its fields, and the statistical shape within
 * tolerance: CTR and CVR per campaign near the model's configured values
 * (4 standard deviations of a Poisson count), the conversion lag's median
 * and spread, evening and weekday peaks, bots, statuses, money rules, and
 * visitors seen on several channels; events carry the creative entity
 * their sub2 names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pm/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DAY_US (86400 * PM_USEC_PER_SEC)
#define NCAMP 5

static const pm_sim_campaign_t campaigns[NCAMP] = {
    {.id = 1, .traffic_source_id = 1, .offer_id = 1, .name = "Search VPN", .channel = PM_SIM_SEARCH,
     .cost_model = PM_COST_CPC, .cost = {1000000, {"USD"}}, .payout = {12500000, {"USD"}}, .payout_type = "cpa",
     .dest_url = "https://offer.example/?c={clickid}&s={sub1}&k={utm_term}"},
    {.id = 2, .traffic_source_id = 2, .offer_id = 2, .lander_id = 1, .name = "Social fitness app",
     .channel = PM_SIM_SOCIAL, .cost_model = PM_COST_CPM, .cost = {5000000, {"USD"}}, .payout = {3200000, {"USD"}},
     .payout_type = "cpi", .dest_url = "https://lp.example/?go={offer_url}"},
    {.id = 3, .traffic_source_id = 3, .offer_id = 3, .name = "Native meal kit", .channel = PM_SIM_NATIVE,
     .cost_model = PM_COST_CPC, .cost = {200000, {"USD"}}, .payout = {35000000, {"EUR"}}, .payout_type = "cps",
     .dest_url = "https://meal.example/?c={clickid}"},
    {.id = 4, .traffic_source_id = 4, .offer_id = 1, .name = "Affiliate VPN", .channel = PM_SIM_AFFILIATE,
     .cost_model = PM_COST_CPA, .cost = {6000000, {"USD"}}, .payout = {12500000, {"USD"}}, .payout_type = "cpa",
     .dest_url = "https://offer.example/?c={clickid}"},
    {.id = 5, .traffic_source_id = 5, .offer_id = 4, .name = "CTV insurance", .channel = PM_SIM_CTV,
     .cost_model = PM_COST_CPM, .cost = {20000000, {"USD"}}, .payout = {18000000, {"USD"}}, .payout_type = "cpl",
     .dest_url = "https://quotes.example/?c={clickid}"},
};

static pm_sim_config_t config(uint64_t seed, int days, double scale)
{
    pm_time_t start = pm_days_from_civil(2026, 1, 5) * DAY_US; /* a Monday */
    return (pm_sim_config_t){.seed = seed, .start = start, .end = start + days * DAY_US, .scale = scale,
                             .campaigns = campaigns, .ncampaigns = NCAMP, .base_url = "http://t.example",
                             .currency = {"USD"}, .ip_v4_prefix = 24, .ip_v6_prefix = 48};
}

/* --- a tally of everything emitted ----------------------------------------- */

typedef struct click_s {
    pm_id_t id, visitor;
    pm_time_t ts;
    size_t campaign;
    uint64_t fields; /* hash of the fields a conversion inherits */
    bool lander;     /* has its lander click */
} click_t;

typedef struct tally_s {
    const pm_sim_config_t *cfg;
    uint64_t n, hash;
    pm_time_t last_ts;
    pm_id_t last_id;
    bool out_of_order, bad_id_time, bad_encoding, bad_conversion, bad_money;
    uint64_t imps[NCAMP], clicks[NCAMP], bot_imps, bot_clicks, crawlers;
    uint64_t old_clicks[NCAMP], old_convs[NCAMP], old_landers[NCAMP], landers[NCAMP];
    bool bad_lander;
    double *lags[NCAMP];
    size_t nlags[NCAMP];
    uint64_t hour[NCAMP][24], weekday[NCAMP][7];
    uint64_t approved, pending, rejected, chargebacks, followups, pixels;
    click_t *clicks_seen;
    size_t nclicks, cap;
    pm_buf_t rec;
} tally_t;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

static uint64_t inherited(const pm_event_t *ev)
{
    static const pm_event_str_t f[] = {PM_EVS_IP, PM_EVS_USER_AGENT, PM_EVS_REFERRER, PM_EVS_LANGUAGE,
                                       PM_EVS_SUB1, PM_EVS_SUB2, PM_EVS_SUB3, PM_EVS_UTM_TERM, PM_EVS_EXTERNAL_ID,
                                       /* the visitor context, when the detectors are on */
                                       PM_EVS_COUNTRY, PM_EVS_DEVICE_TYPE, PM_EVS_OS, PM_EVS_BROWSER,
                                       PM_EVS_BOT_REASON};
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < PM_ARRAY_LEN(f); i++)
        h = fnv(fnv(h, ev->s[f[i]].p ? ev->s[f[i]].p : "", ev->s[f[i]].len), "|", 1);
    return h;
}

static bool str_is(const pm_event_t *ev, pm_event_str_t f, const char *s)
{
    return ev->s[f].len == strlen(s) && memcmp(ev->s[f].p, s, ev->s[f].len) == 0;
}

static const click_t *find_click(const tally_t *t, const pm_id_t *id)
{
    size_t lo = 0, hi = t->nclicks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = pm_id_cmp(&t->clicks_seen[mid].id, id);
        if (c == 0) return &t->clicks_seen[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static void on_click(tally_t *t, const pm_event_t *ev, const pm_sim_meta_t *m)
{
    const pm_sim_campaign_t *c = &t->cfg->campaigns[m->campaign];
    if (c->cost_model == PM_COST_CPC ? ev->cost.micros != c->cost.micros : ev->cost.micros != 0) t->bad_money = true;
    if (ev->s[PM_EVS_DEST_URL].len == 0) t->bad_encoding = true;
    if (t->nclicks == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 4096;
        t->clicks_seen = realloc(t->clicks_seen, t->cap * sizeof(*t->clicks_seen));
    }
    t->clicks_seen[t->nclicks++] = (click_t){ev->id, ev->visitor_id, ev->ts, m->campaign, inherited(ev), false};
    if (m->bot) {
        t->bot_clicks++;
        t->crawlers += ev->s[PM_EVS_LANGUAGE].len == 0;
        return;
    }
    t->clicks[m->campaign]++;
    if (ev->ts < t->cfg->end - 10 * DAY_US) t->old_clicks[m->campaign]++;
}

static void on_impression(tally_t *t, const pm_event_t *ev, const pm_sim_meta_t *m)
{
    const pm_sim_campaign_t *c = &t->cfg->campaigns[m->campaign];
    int64_t want = c->cost_model == PM_COST_CPM ? c->cost.micros / 1000 : 0;
    if (ev->cost.micros != want) t->bad_money = true;
    if (m->bot) {
        t->bot_imps++;
        return;
    }
    t->imps[m->campaign]++;
    t->hour[m->campaign][(ev->ts / (3600 * PM_USEC_PER_SEC)) % 24]++;
    t->weekday[m->campaign][(ev->ts / DAY_US + 3) % 7]++;
}

static void count_status(tally_t *t, const pm_event_t *ev, const pm_sim_meta_t *m)
{
    if (str_is(ev, PM_EVS_STATUS, "approved")) t->approved++;
    else if (str_is(ev, PM_EVS_STATUS, "pending")) t->pending++;
    else if (str_is(ev, PM_EVS_STATUS, "rejected")) t->rejected++;
    else t->bad_conversion = true;
    if (m->chargeback) {
        t->chargebacks++;
        if (!str_is(ev, PM_EVS_STATUS, "rejected") || ev->s[PM_EVS_TXID].len < 3 ||
            memcmp(ev->s[PM_EVS_TXID].p, "CB-", 3) != 0)
            t->bad_conversion = true;
    }
    t->followups += m->followup;
    t->pixels += str_is(ev, PM_EVS_METHOD, "pixel");
}

static void on_conversion(tally_t *t, const pm_event_t *ev, const pm_sim_meta_t *m)
{
    const pm_sim_campaign_t *c = &t->cfg->campaigns[m->campaign];
    const click_t *click = find_click(t, &ev->click_id);
    if (click == NULL || click->ts >= ev->ts || click->ts != m->click_ts || click->campaign != m->campaign ||
        pm_id_cmp(&click->visitor, &ev->visitor_id) != 0 || click->fields != inherited(ev) || m->bot)
        t->bad_conversion = true;
    if (c->lander_id && (click == NULL || !click->lander)) t->bad_lander = true; /* converts only through /go */
    bool approved = str_is(ev, PM_EVS_STATUS, "approved");
    if (ev->cost.micros != (c->cost_model == PM_COST_CPA && approved ? c->cost.micros : 0)) t->bad_money = true;
    if (strcmp(ev->revenue.currency.code, c->payout.currency.code) != 0 || ev->revenue.micros <= 0 ||
        ev->revenue.micros % 10000 != 0)
        t->bad_money = true;
    count_status(t, ev, m);
    if (m->followup) return;
    if (m->click_ts < t->cfg->end - 10 * DAY_US) t->old_convs[m->campaign]++;
    if (m->click_ts < t->cfg->end - 14 * DAY_US) {
        t->lags[m->campaign] = realloc(t->lags[m->campaign], (t->nlags[m->campaign] + 1) * sizeof(double));
        t->lags[m->campaign][t->nlags[m->campaign]++] = (double)(ev->ts - m->click_ts) / PM_USEC_PER_SEC;
    }
}

/* A lander click: once per click, a human's, on a campaign with a lander,
 * after its click, with the click's fields and no money. */
static void on_lander_click(tally_t *t, const pm_event_t *ev, const pm_sim_meta_t *m)
{
    const pm_sim_campaign_t *c = &t->cfg->campaigns[m->campaign];
    click_t *click = (click_t *)find_click(t, &ev->click_id);
    if (click == NULL || click->lander || click->ts >= ev->ts || click->ts != m->click_ts ||
        click->campaign != m->campaign || pm_id_cmp(&click->visitor, &ev->visitor_id) != 0 ||
        click->fields != inherited(ev) || m->bot || c->lander_id == 0 || ev->lander_id != c->lander_id ||
        ev->ts - click->ts > 10 * 60 * PM_USEC_PER_SEC)
        t->bad_lander = true;
    if (ev->cost.micros || ev->revenue.micros || ev->payout.micros) t->bad_money = true;
    if (click == NULL) return;
    click->lander = true;
    t->landers[m->campaign]++;
    if (m->click_ts < t->cfg->end - 10 * DAY_US) t->old_landers[m->campaign]++;
}

static int on_event(void *ctx, const pm_event_t *ev, const pm_sim_meta_t *m)
{
    tally_t *t = ctx;
    if (ev->ts < t->last_ts || (t->n && pm_id_cmp(&ev->id, &t->last_id) <= 0)) t->out_of_order = true;
    if (pm_id_time(&ev->id) != ev->ts / 1000 * 1000) t->bad_id_time = true;
    if (ev->ts < t->cfg->start || ev->ts >= t->cfg->end) t->out_of_order = true;
    t->last_ts = ev->ts;
    t->last_id = ev->id;
    t->n++;
    pm_buf_reset(&t->rec);
    if (pm_event_encode(ev, &t->rec) != PM_OK) t->bad_encoding = true;
    t->hash = fnv(t->hash, t->rec.data, t->rec.len);
    if (ev->campaign_id != t->cfg->campaigns[m->campaign].id || pm_id_is_zero(&ev->visitor_id))
        t->bad_encoding = true;
    if (ev->type == PM_EV_CLICK) on_click(t, ev, m);
    else if (ev->type == PM_EV_IMPRESSION) on_impression(t, ev, m);
    else if (ev->type == PM_EV_CONVERSION) on_conversion(t, ev, m);
    else if (ev->type == PM_EV_LANDER_CLICK) on_lander_click(t, ev, m);
    else t->bad_encoding = true;
    return 0;
}

static void tally_init(tally_t *t, const pm_sim_config_t *cfg)
{
    memset(t, 0, sizeof(*t));
    t->cfg = cfg;
    t->hash = UINT64_C(0xcbf29ce484222325);
    pm_buf_init(&t->rec, 1 << 20);
}

static void tally_free(tally_t *t)
{
    for (int i = 0; i < NCAMP; i++)
        free(t->lags[i]);
    free(t->clicks_seen);
    pm_buf_free(&t->rec);
}

/* --- the big run, shared by the shape tests -------------------------------- */

static pm_sim_config_t big_cfg;
static tally_t big;
static pm_sim_stats_t big_stats;

static int setup_big(void **state)
{
    big_cfg = config(42, 42, 3.0);
    tally_init(&big, &big_cfg);
    return pm_sim_run(&big_cfg, on_event, &big, &big_stats) == PM_OK ? 0 : -1;
}

static int teardown_big(void **state)
{
    tally_free(&big);
    return 0;
}

/* |observed - expected| within 4 standard deviations of a Poisson count. */
static void assert_near_count(double observed, double expected, const char *what, size_t campaign)
{
    double tol = 4 * sqrt(expected) + 2;
    if (fabs(observed - expected) > tol)
        fail_msg("%s of campaign %zu: observed %.0f, expected %.1f +- %.1f", what, campaign, observed, expected, tol);
}

/* --- tests --------------------------------------------------------------------- */

static void test_order_ids_and_encoding(void **state)
{
    assert_true(big.n > 300000);
    assert_false(big.out_of_order);
    assert_false(big.bad_id_time);
    assert_false(big.bad_encoding);
    assert_int_equal(big.n, big_stats.events[PM_EV_IMPRESSION] + big_stats.events[PM_EV_CLICK] +
                                big_stats.events[PM_EV_CONVERSION] + big_stats.events[PM_EV_LANDER_CLICK]);
}

static void test_conversions_follow_their_clicks(void **state)
{
    assert_true(big_stats.events[PM_EV_CONVERSION] > 1000);
    assert_false(big.bad_conversion);
}

static void test_every_channel_has_traffic(void **state)
{
    for (int c = 0; c < PM_SIM__CHANNELS; c++) {
        assert_true(big_stats.by_channel[c][PM_EV_IMPRESSION] > 1000);
        assert_true(big_stats.by_channel[c][PM_EV_CLICK] > 100);
        assert_true(big_stats.by_channel[c][PM_EV_CONVERSION] > 10);
    }
}

static void test_ctr_per_campaign(void **state)
{
    for (size_t i = 0; i < NCAMP; i++) {
        pm_sim_rates_t r;
        pm_sim_campaign_rates(&big_cfg, i, &r);
        assert_true(r.ctr > 0.003 && r.ctr < 0.1);
        print_message("campaign %zu: %llu impressions, %llu clicks: ctr %.4f (model %.4f)\n", i,
                      (unsigned long long)big.imps[i], (unsigned long long)big.clicks[i],
                      (double)big.clicks[i] / (double)big.imps[i], r.ctr);
        assert_near_count((double)big.clicks[i], (double)big.imps[i] * r.ctr, "clicks", i);
    }
}

static void test_cvr_per_campaign(void **state)
{
    for (size_t i = 0; i < NCAMP; i++) {
        pm_sim_rates_t r;
        pm_sim_campaign_rates(&big_cfg, i, &r);
        assert_true(big.old_clicks[i] > 500);
        print_message("campaign %zu: %llu clicks, %llu conversions: cvr %.4f (model %.4f)\n", i,
                      (unsigned long long)big.old_clicks[i], (unsigned long long)big.old_convs[i],
                      (double)big.old_convs[i] / (double)big.old_clicks[i], r.cvr);
        assert_near_count((double)big.old_convs[i], (double)big.old_clicks[i] * r.cvr, "conversions", i);
    }
}

/* Lander clicks: only on the lander campaign (social, 38% of its human
 * clicks click through), at most one per click, and its conversions only
 * from visitors who clicked through, so lander_ctr is in (0, 1) while CVR
 * per click stays the model's (test_cvr_per_campaign). */
static void test_lander_clicks(void **state)
{
    assert_false(big.bad_lander);
    for (size_t i = 0; i < NCAMP; i++) {
        if (campaigns[i].lander_id == 0) {
            assert_int_equal(big.landers[i], 0);
            continue;
        }
        double ctr = (double)big.old_landers[i] / (double)big.old_clicks[i];
        print_message("campaign %zu: %llu clicks, %llu lander clicks: lander_ctr %.4f\n", i,
                      (unsigned long long)big.old_clicks[i], (unsigned long long)big.old_landers[i], ctr);
        assert_true(ctr > 0.0 && ctr < 1.0);
        assert_near_count((double)big.old_landers[i], (double)big.old_clicks[i] * 0.38, "lander clicks", i);
        assert_true(big.old_convs[i] <= big.old_landers[i]);
    }
    assert_int_equal(big_stats.events[PM_EV_LANDER_CLICK], big.landers[1]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Log-normal: half the lags under the median, 84% under median * e^sigma. */
static void test_conversion_lag(void **state)
{
    for (size_t i = 0; i < NCAMP; i++) {
        pm_sim_rates_t r;
        pm_sim_campaign_rates(&big_cfg, i, &r);
        size_t n = big.nlags[i], below = 0, below_sd = 0;
        if (n < 100) continue;
        qsort(big.lags[i], n, sizeof(double), cmp_double);
        for (size_t k = 0; k < n; k++) {
            below += big.lags[i][k] < r.lag_median_s;
            below_sd += big.lags[i][k] < r.lag_median_s * exp(r.lag_sigma);
        }
        double sd = sqrt(n * 0.25);
        if (fabs(below - n * 0.5) > 4 * sd) fail_msg("campaign %zu: %zu of %zu under the median", i, below, n);
        if (fabs(below_sd - n * 0.8413) > 4 * sqrt(n * 0.8413 * 0.1587))
            fail_msg("campaign %zu: %zu of %zu under median*e^sigma", i, below_sd, n);
        assert_true(big.lags[i][0] >= 30); /* never within 30 s */
        print_message("campaign %zu: lag median %.0f s (model %.0f s), %zu conversions\n", i, big.lags[i][n / 2],
                      r.lag_median_s, n);
    }
    /* Leads come within the hour, sales take hours: search (sale) vs CTV (lead). */
    pm_sim_rates_t lead, sale;
    pm_sim_campaign_rates(&big_cfg, 4, &lead);
    pm_sim_campaign_rates(&big_cfg, 2, &sale);
    assert_true(lead.lag_median_s < sale.lag_median_s);
}

static void test_evenings_and_weekdays(void **state)
{
    /* CTV: prime time beats the small hours; search: weekdays beat weekends. */
    assert_true(big.hour[4][21] > 5 * big.hour[4][4]);
    assert_true(big.hour[1][20] > 2 * big.hour[1][9]);
    double weekday = 0, weekend = 0;
    for (int d = 0; d < 5; d++)
        weekday += big.weekday[0][d] / 5.0;
    weekend = (big.weekday[0][5] + big.weekday[0][6]) / 2.0;
    assert_true(weekday > 1.15 * weekend);
}

static void test_bots_statuses_money(void **state)
{
    assert_int_equal(big.bot_imps, big_stats.bot_impressions);
    assert_int_equal(big.bot_clicks, big_stats.bot_clicks);
    assert_true(big.bot_imps > 1000 && big.bot_clicks > 100 && big.crawlers > 50);
    assert_true(big.approved > big.pending && big.pending > 0 && big.rejected > 0);
    assert_true(big.chargebacks > 0 && big.followups > 0 && big.pixels > 0);
    assert_int_equal(big.chargebacks, big_stats.chargebacks);
    assert_false(big.bad_money);
}

/* Visitors: the same ids recur, on several channels. */
static int cmp_visitor(const void *a, const void *b)
{
    const click_t *x = a, *y = b;
    int c = pm_id_cmp(&x->visitor, &y->visitor);
    return c ? c : (x->campaign > y->campaign) - (x->campaign < y->campaign);
}

static void test_cross_channel_visitors(void **state)
{
    click_t *c = malloc(big.nclicks * sizeof(*c));
    memcpy(c, big.clicks_seen, big.nclicks * sizeof(*c));
    qsort(c, big.nclicks, sizeof(*c), cmp_visitor);
    size_t multi_click = 0, multi_channel = 0;
    for (size_t i = 0, j; i < big.nclicks; i = j) {
        bool channels = false;
        for (j = i + 1; j < big.nclicks && pm_id_cmp(&c[j].visitor, &c[i].visitor) == 0; j++)
            channels |= c[j].campaign != c[i].campaign;
        multi_click += j - i > 1;
        multi_channel += channels;
    }
    free(c);
    assert_true(multi_click > 500);
    assert_true(multi_channel > 200);
}

static void test_same_seed_same_events(void **state)
{
    pm_sim_config_t a = config(7, 4, 0.5), b = config(7, 4, 0.5), other = config(8, 4, 0.5);
    tally_t ta, tb, to;
    tally_init(&ta, &a);
    tally_init(&tb, &b);
    tally_init(&to, &other);
    assert_int_equal(pm_sim_run(&a, on_event, &ta, NULL), PM_OK);
    assert_int_equal(pm_sim_run(&b, on_event, &tb, NULL), PM_OK);
    assert_int_equal(pm_sim_run(&other, on_event, &to, NULL), PM_OK);
    assert_true(ta.n > 10000);
    assert_int_equal(ta.n, tb.n);
    assert_true(ta.hash == tb.hash);
    assert_true(ta.hash != to.hash);
    tally_free(&ta);
    tally_free(&tb);
    tally_free(&to);
}

static int stop_at_100(void *ctx, const pm_event_t *ev, const pm_sim_meta_t *m)
{
    return ++*(int *)ctx == 100 ? 42 : 0;
}

static void test_bad_configs_and_stop(void **state)
{
    pm_sim_config_t c = config(1, 2, 1.0);
    int n = 0;
    c.end = c.start;
    assert_int_equal(pm_sim_run(&c, stop_at_100, &n, NULL), PM_EINVAL);
    c = config(1, 2, 0);
    assert_int_equal(pm_sim_run(&c, stop_at_100, &n, NULL), PM_EINVAL);
    c = config(1, 2, 101);
    assert_int_equal(pm_sim_run(&c, stop_at_100, &n, NULL), PM_EINVAL);
    c = config(1, 2, 1.0);
    assert_int_equal(pm_sim_run(&c, stop_at_100, &n, NULL), 42);
    assert_int_equal(n, 100);
}

static void test_channel_guess(void **state)
{
    assert_int_equal(pm_sim_channel_guess("Google Ads"), PM_SIM_SEARCH);
    assert_int_equal(pm_sim_channel_guess("Social network ads"), PM_SIM_SOCIAL);
    assert_int_equal(pm_sim_channel_guess("TABOOLA"), PM_SIM_NATIVE);
    assert_int_equal(pm_sim_channel_guess("Affiliate Partners"), PM_SIM_AFFILIATE);
    assert_int_equal(pm_sim_channel_guess("Connected TV"), PM_SIM_CTV);
    assert_int_equal(pm_sim_channel_guess("Acme"), -1);
    assert_int_equal(pm_sim_channel_guess(NULL), -1);
    assert_string_equal(pm_sim_channel_name(PM_SIM_CTV), "ctv");
    assert_null(pm_sim_channel_name(PM_SIM__CHANNELS));
}

/* Creative entities: each event's creative_id is the id its sub2 names
 * (pm_sim_creative_name at the index the id stands at), a conversion's is
 * its click's; past ncreatives or for a 0 entry none; without creative ids
 * none at all. Campaign 4 lists only two creatives, campaign 5's second is
 * 0 (a paused one). */
typedef struct creative_tally_s {
    const pm_sim_config_t *cfg;
    uint64_t with[PM_EV__MAX], without[PM_EV__MAX], bad, bad_conversion;
    struct {
        pm_id_t id;
        int64_t creative;
    } clicks[200000];
    size_t nclicks;
} creative_tally_t;

static int on_creative(void *ctx, const pm_event_t *ev, const pm_sim_meta_t *m)
{
    creative_tally_t *t = ctx;
    const pm_sim_campaign_t *c = &t->cfg->campaigns[m->campaign];
    unsigned idx = 0, count = pm_sim_creative_count(c->channel);
    char name[64];
    /* The index sub2 names ("<prefix>-<campaign>-<i+1>"). */
    for (; idx < count; idx++) {
        int n = pm_sim_creative_name(c->channel, c->id, idx, name, sizeof(name));
        if (str_is(ev, PM_EVS_SUB2, name) && n > 0) break;
    }
    if (idx == count) t->bad++;
    int64_t want = c->creative_ids && idx < c->ncreatives ? c->creative_ids[idx] : 0;
    if (ev->creative_id != want) t->bad++;
    if (ev->creative_id) t->with[ev->type]++;
    else t->without[ev->type]++;
    if (ev->type == PM_EV_CLICK && t->nclicks < PM_ARRAY_LEN(t->clicks)) {
        t->clicks[t->nclicks].id = ev->id;
        t->clicks[t->nclicks++].creative = ev->creative_id;
    }
    if (ev->type == PM_EV_CONVERSION || ev->type == PM_EV_LANDER_CLICK) {
        size_t lo = 0, hi = t->nclicks; /* clicks come in time order, so in id order */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (pm_id_cmp(&t->clicks[mid].id, &ev->click_id) < 0) lo = mid + 1;
            else hi = mid;
        }
        if (lo == t->nclicks || pm_id_cmp(&t->clicks[lo].id, &ev->click_id) != 0 ||
            t->clicks[lo].creative != ev->creative_id)
            t->bad_conversion++;
    }
    return 0;
}

static void test_creatives(void **state)
{
    (void)state;
    static const int64_t ids[NCAMP][8] = {{101, 102, 103, 104, 105}, {201, 202, 203, 204, 205, 206, 207, 208},
                                          {301, 302, 303, 304, 305, 306}, {401, 402}, {501, 0, 503}};
    pm_sim_campaign_t camps[NCAMP];
    memcpy(camps, campaigns, sizeof(camps));
    for (int i = 0; i < NCAMP; i++) {
        camps[i].creative_ids = ids[i];
        camps[i].ncreatives = i == 3 ? 2 : pm_sim_creative_count(camps[i].channel);
    }
    assert_int_equal(pm_sim_creative_count(PM_SIM_SEARCH), 5);
    assert_int_equal(pm_sim_creative_count(PM_SIM_SOCIAL), 8);
    assert_int_equal(pm_sim_creative_count(PM_SIM_CTV), 3);
    assert_int_equal(pm_sim_creative_count(PM_SIM__CHANNELS), 0);
    char name[64];
    assert_int_equal(pm_sim_creative_name(PM_SIM_SEARCH, 7, 0, name, sizeof(name)), 6);
    assert_string_equal(name, "ad-7-1");
    pm_sim_creative_name(PM_SIM_CTV, 12, 2, name, sizeof(name));
    assert_string_equal(name, "spot-12-3");

    pm_sim_config_t cfg = config(5, 3, 0.5);
    cfg.campaigns = camps;
    creative_tally_t *t = calloc(1, sizeof(*t));
    t->cfg = &cfg;
    assert_int_equal(pm_sim_run(&cfg, on_creative, t, NULL), PM_OK);
    assert_int_equal(t->bad, 0);
    assert_int_equal(t->bad_conversion, 0);
    /* Campaign 4's others and campaign 5's second name none. */
    assert_true(t->with[PM_EV_CLICK] > 0 && t->without[PM_EV_CLICK] > 0);
    assert_true(t->with[PM_EV_IMPRESSION] > 0 && t->without[PM_EV_IMPRESSION] > 0);
    assert_true(t->with[PM_EV_CONVERSION] > 0 && t->with[PM_EV_LANDER_CLICK] > 0);

    /* Without creative ids: no event names a creative. */
    memset(t, 0, sizeof(*t));
    cfg = config(5, 1, 0.3);
    t->cfg = &cfg;
    assert_int_equal(pm_sim_run(&cfg, on_creative, t, NULL), PM_OK);
    assert_int_equal(t->bad, 0);
    for (int type = 0; type < PM_EV__MAX; type++)
        assert_int_equal(t->with[type], 0);
    assert_true(t->without[PM_EV_CLICK] > 0);
    free(t);
}

/* With the visitor detectors: clicks get the context the tracking path
 * would give them, conversions carry their click's, declared crawlers are
 * flagged and humans are not. */
typedef struct context_tally_s {
    tally_t t;
    uint64_t clicks, with_country, with_device, crawlers_flagged, humans_flagged, humans;
} context_tally_t;

static int on_context(void *ctx, const pm_event_t *ev, const pm_sim_meta_t *m)
{
    context_tally_t *c = ctx;
    if (ev->type == PM_EV_CLICK) {
        c->clicks++;
        c->with_country += ev->s[PM_EVS_COUNTRY].len == 2;
        c->with_device += ev->s[PM_EVS_DEVICE_TYPE].len > 0;
        if (m->bot) c->crawlers_flagged += ev->s[PM_EVS_BOT_REASON].len > 0;
        else c->humans++, c->humans_flagged += ev->s[PM_EVS_BOT_REASON].len > 0;
    }
    return on_event(&c->t, ev, m);
}

static void test_visitor_context(void **state)
{
    (void)state;
    pm_detect_config_t dc = {.velocity_limit = 0};
    pm_detect_t *d;
    assert_int_equal(pm_detect_create(&dc, &d), PM_OK);
    pm_sim_config_t cfg = config(3, 3, 0.5);
    cfg.detect = d;
    context_tally_t c;
    memset(&c, 0, sizeof(c));
    tally_init(&c.t, &cfg);
    assert_int_equal(pm_sim_run(&cfg, on_context, &c, NULL), PM_OK);
    print_message("sim with detectors: %llu clicks, %llu with a country, %llu humans (%llu flagged), %llu bot clicks"
                  " flagged\n",
                  (unsigned long long)c.clicks, (unsigned long long)c.with_country, (unsigned long long)c.humans,
                  (unsigned long long)c.humans_flagged, (unsigned long long)c.crawlers_flagged);
    assert_false(c.t.bad_conversion); /* conversions carry their click's context */
    assert_true(c.clicks > 100);
    assert_true(c.with_device == c.clicks);
    assert_true(c.with_country * 10 >= c.clicks * 9);
    assert_true(c.crawlers_flagged > 0);
    assert_true(c.humans_flagged * 100 <= c.humans); /* at most 1% of human clicks */
    tally_free(&c.t);
    pm_detect_destroy(d);
}

int main(void)
{
    const struct CMUnitTest shape[] = {
        cmocka_unit_test(test_order_ids_and_encoding), cmocka_unit_test(test_conversions_follow_their_clicks),
        cmocka_unit_test(test_every_channel_has_traffic), cmocka_unit_test(test_ctr_per_campaign),
        cmocka_unit_test(test_cvr_per_campaign),        cmocka_unit_test(test_lander_clicks),
        cmocka_unit_test(test_conversion_lag),
        cmocka_unit_test(test_evenings_and_weekdays),   cmocka_unit_test(test_bots_statuses_money),
        cmocka_unit_test(test_cross_channel_visitors),
    };
    const struct CMUnitTest small[] = {
        cmocka_unit_test(test_same_seed_same_events),
        cmocka_unit_test(test_bad_configs_and_stop),
        cmocka_unit_test(test_channel_guess),
        cmocka_unit_test(test_visitor_context),
        cmocka_unit_test(test_creatives),
    };
    int failed = cmocka_run_group_tests_name("sim shape", shape, setup_big, teardown_big);
    return failed + cmocka_run_group_tests_name("sim", small, NULL, NULL);
}

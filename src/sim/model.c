/*
 * model.c: the numbers of the simulated world. One profile per channel
 * (volume, CTR, CVR, daily and weekly shape, which devices it reaches, its
 * bots), the conversion lag by offer type, and how a campaign's own rates
 * are drawn around its channel's (a hash of the seed and the campaign id,
 * so a campaign keeps its rates whatever else the workspace holds). Also
 * the small random-number helpers every file uses.
 *
 * The values are plausible for paid traffic to consumer offers, pitched so
 * 30 days of a dozen campaigns give about 330,000 events (impressions are
 * 95% of them; their count is what storing them costs): search
 * converts best, CTV is seen most and clicked least, evenings are strong
 * (prime time on CTV), weekdays beat weekends except on CTV.
 */
#include "sim_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* --- random helpers ---------------------------------------------------------- */

void pm__sim_rng_seed(pm__sim_rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        x += UINT64_C(0x9e3779b97f4a7c15);
        r->s[i] = pm__sim_mix(x);
    }
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) r->s[0] = 1;
}

double pm__sim_normal(pm__sim_rng_t *r)
{
    double u1 = 1.0 - pm__sim_unit(r), u2 = pm__sim_unit(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double pm__sim_lognormal(pm__sim_rng_t *r, double median, double sigma)
{
    return median * exp(sigma * pm__sim_normal(r));
}

/* Knuth's method for small means, a rounded normal for large ones: volumes
 * only need the right mean and spread. */
uint32_t pm__sim_poisson(pm__sim_rng_t *r, double lambda)
{
    if (lambda <= 0) return 0;
    if (lambda >= 30) {
        double v = lambda + sqrt(lambda) * pm__sim_normal(r) + 0.5;
        return v < 0 ? 0 : (uint32_t)v;
    }
    double limit = exp(-lambda), p = 1.0;
    uint32_t k = 0;
    do {
        k++;
        p *= pm__sim_unit(r);
    } while (p > limit);
    return k - 1;
}

uint32_t pm__sim_pick(const double *cdf, uint32_t n, double u)
{
    double target = u * cdf[n - 1];
    uint32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > target) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* --- channels ----------------------------------------------------------------- */

static const char *const channel_names[PM_SIM__CHANNELS] = {"search", "social", "native", "affiliate", "ctv"};

const char *pm_sim_channel_name(pm_sim_channel_t c)
{
    return (unsigned)c < PM_SIM__CHANNELS ? channel_names[c] : NULL;
}

/* Words in traffic source names, first match wins (so "Social network"
 * is social, not an affiliate network). */
static const char *const channel_words[PM_SIM__CHANNELS][10] = {
    [PM_SIM_SEARCH] = {"search", "google", "bing", "adwords", "ppc", "sem ", "yahoo", "baidu", "yandex", NULL},
    [PM_SIM_SOCIAL] = {"social", "facebook", "meta", "instagram", "tiktok", "snap", "twitter", "linkedin", "pinterest", "reddit"},
    [PM_SIM_NATIVE] = {"native", "taboola", "outbrain", "mgid", "revcontent", "content", "push", NULL},
    [PM_SIM_AFFILIATE] = {"affil", "partner", "coupon", "cashback", "publisher", NULL},
    [PM_SIM_CTV] = {"ctv", "tv", "roku", "ott", "streaming", "video", NULL},
};

int pm_sim_channel_guess(const char *name)
{
    if (name == NULL) return -1;
    for (int c = 0; c < PM_SIM__CHANNELS; c++)
        for (int w = 0; w < 10 && channel_words[c][w]; w++)
            if (strcasestr(name, channel_words[c][w])) return c;
    return -1;
}

const pm__sim_profile_t pm__sim_profiles[PM_SIM__CHANNELS] = {
    [PM_SIM_SEARCH] = {
        .impressions_per_day = 700, .ctr = 0.080, .cvr = 0.080, .lag_mult = 0.7,
        .hour = {0.35, 0.25, 0.18, 0.15, 0.15, 0.22, 0.45, 0.75, 1.05, 1.25, 1.35, 1.40,
                 1.40, 1.35, 1.30, 1.30, 1.30, 1.35, 1.45, 1.55, 1.55, 1.40, 1.05, 0.65},
        .weekday = {1.12, 1.12, 1.10, 1.06, 0.96, 0.80, 0.84},
        .device = {0.45, 0.48, 0.07}, .bot_impression_share = 0.010, .crawls_per_day = 2,
        .bursts_per_day = 0.02, .sub1_count = 40, .creatives = 5,
    },
    [PM_SIM_SOCIAL] = {
        .impressions_per_day = 1000, .ctr = 0.028, .cvr = 0.040, .lag_mult = 1.3,
        .hour = {0.55, 0.35, 0.22, 0.15, 0.14, 0.20, 0.40, 0.70, 0.85, 0.85, 0.85, 0.95,
                 1.15, 1.05, 0.95, 0.95, 1.00, 1.15, 1.40, 1.70, 1.95, 2.00, 1.70, 1.05},
        .weekday = {1.02, 1.03, 1.03, 1.02, 0.98, 0.95, 0.97},
        .device = {0.12, 0.83, 0.05}, .bot_impression_share = 0.015, .crawls_per_day = 3,
        .bursts_per_day = 0.04, .sub1_count = 6, .creatives = 8,
        .followup_search_after_impression = 0.010, .followup_search_after_click = 0.08,
    },
    [PM_SIM_NATIVE] = {
        .impressions_per_day = 1100, .ctr = 0.018, .cvr = 0.040, .lag_mult = 1.0,
        .hour = {0.40, 0.28, 0.20, 0.16, 0.18, 0.35, 0.85, 1.35, 1.45, 1.25, 1.10, 1.10,
                 1.30, 1.20, 1.05, 1.00, 1.05, 1.15, 1.25, 1.35, 1.40, 1.30, 0.95, 0.60},
        .weekday = {1.10, 1.10, 1.08, 1.05, 0.97, 0.83, 0.87},
        .device = {0.35, 0.57, 0.08}, .bot_impression_share = 0.035, .crawls_per_day = 1,
        .bursts_per_day = 0.08, .sub1_count = 300, .creatives = 6,
        .followup_search_after_impression = 0.008, .followup_search_after_click = 0.06,
    },
    [PM_SIM_AFFILIATE] = {
        .impressions_per_day = 450, .ctr = 0.060, .cvr = 0.060, .lag_mult = 0.8,
        .hour = {0.40, 0.30, 0.20, 0.16, 0.16, 0.22, 0.42, 0.70, 1.00, 1.20, 1.30, 1.35,
                 1.40, 1.35, 1.30, 1.25, 1.25, 1.30, 1.40, 1.50, 1.55, 1.45, 1.10, 0.70},
        .weekday = {1.12, 1.10, 1.08, 1.05, 0.97, 0.83, 0.85},
        .device = {0.55, 0.38, 0.07}, .bot_impression_share = 0.020, .crawls_per_day = 1.5,
        .bursts_per_day = 0.03, .sub1_count = 30, .creatives = 4,
        .followup_search_after_click = 0.03,
    },
    [PM_SIM_CTV] = {
        .impressions_per_day = 1100, .ctr = 0.012, .cvr = 0.045, .lag_mult = 2.5,
        .hour = {0.60, 0.35, 0.20, 0.12, 0.10, 0.12, 0.30, 0.50, 0.55, 0.50, 0.50, 0.55,
                 0.65, 0.65, 0.65, 0.70, 0.80, 1.00, 1.40, 2.10, 2.60, 2.70, 2.20, 1.20},
        .weekday = {0.96, 0.96, 0.97, 1.00, 1.05, 1.04, 1.02},
        .device = {0.10, 0.85, 0.05}, .bot_impression_share = 0.020, .crawls_per_day = 0.3,
        .bursts_per_day = 0, .sub1_count = 12, .creatives = 3,
        .followup_search_after_impression = 0.015, .followup_search_after_click = 0.10,
    },
};

double pm__sim_hour_factor(pm_sim_channel_t c, int local_hour)
{
    const double *h = pm__sim_profiles[c].hour;
    double sum = 0;
    for (int i = 0; i < 24; i++)
        sum += h[i];
    return h[local_hour] * 24.0 / sum;
}

double pm__sim_weekday_factor(pm_sim_channel_t c, int weekday)
{
    const double *w = pm__sim_profiles[c].weekday;
    double sum = 0;
    for (int i = 0; i < 7; i++)
        sum += w[i];
    return w[weekday] * 7.0 / sum;
}

/* --- offers: conversion types and lags ------------------------------------------ */

typedef struct lag_s {
    const char *payout_type, *conv_type;
    double median_s, sigma;
} lag_t;

/* Leads and installs follow the click within the hour; sales take hours
 * to days (the visitor comes back to buy). The last row is "no offer". */
static const lag_t lags[] = {
    {"cpl", "lead", 20 * 60, 1.3},
    {"cpi", "install", 40 * 60, 1.2},
    {"cpa", "sale", 3 * 3600, 1.5},
    {"cps", "sale", 8 * 3600, 1.6},
    {NULL, "conversion", 2 * 3600, 1.5},
};

static const lag_t *lag_for(const char *payout_type)
{
    size_t i = 0;
    for (; lags[i].payout_type; i++)
        if (payout_type && strcmp(payout_type, lags[i].payout_type) == 0) break;
    return &lags[i];
}

const char *pm__sim_conv_type(const char *payout_type) { return lag_for(payout_type)->conv_type; }

/* A campaign's factor in [lo, hi), fixed by seed, campaign and purpose. */
static double factor(const pm_sim_config_t *cfg, int64_t campaign, uint64_t purpose, double lo, double hi)
{
    uint64_t h = pm__sim_hash(cfg->seed ^ purpose * UINT64_C(0x2545f4914f6cdd1d), (uint64_t)campaign);
    return lo + (hi - lo) * pm__sim_hash_unit(h);
}

void pm_sim_campaign_rates(const pm_sim_config_t *cfg, size_t i, pm_sim_rates_t *out)
{
    const pm_sim_campaign_t *c = &cfg->campaigns[i];
    const pm__sim_profile_t *p = &pm__sim_profiles[c->channel];
    const lag_t *lag = lag_for(c->payout_type);
    out->impressions_per_day = p->impressions_per_day * factor(cfg, c->id, 1, 0.6, 1.5);
    out->ctr = p->ctr * factor(cfg, c->id, 2, 0.75, 1.3);
    out->cvr = p->cvr * factor(cfg, c->id, 3, 0.7, 1.35);
    out->lag_median_s = lag->median_s * p->lag_mult;
    out->lag_sigma = lag->sigma;
}

/* --- creatives ------------------------------------------------------------------ */

/* What a channel calls its ads in sub2: text ads, social creatives, native
 * headlines, affiliate banners, TV spots. */
static const char *const creative_prefix[PM_SIM__CHANNELS] = {"ad", "cr", "hl", "bn", "spot"};

unsigned pm_sim_creative_count(pm_sim_channel_t c)
{
    return (unsigned)c < PM_SIM__CHANNELS ? pm__sim_profiles[c].creatives : 0;
}

int pm_sim_creative_name(pm_sim_channel_t c, int64_t campaign_id, unsigned i, char *out, size_t cap)
{
    const char *prefix = creative_prefix[(unsigned)c < PM_SIM__CHANNELS ? c : PM_SIM_NATIVE];
    return snprintf(out, cap, "%s-%lld-%u", prefix, (long long)campaign_id, i + 1u);
}

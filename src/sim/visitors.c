/*
 * visitors.c: the visitor pool. Each visitor is a person with a cookie (a
 * visitor id made at their first event), a device and browser, a country
 * (language and address), a heavy-tailed activity (a few people are seen
 * daily, most a couple of times a month) and an intent (how likely a click
 * of theirs converts). Channels draw visitors independently, weighted by
 * activity and by the devices the channel reaches, so the same person shows
 * up on several channels over the days: the cross-channel journeys that
 * attribution works on.
 *
 * Intent is normalised per device class to a mean of 1 under the activity
 * weights, so a channel's conversion rate is its configured CVR whatever
 * visitors it happens to reach.
 */
#include "sim_internal.h"

#include <stdio.h>
#include <string.h>

#define POOL_BASE 3000.0
#define POOL_PER_DAY 1500.0
#define POOL_MAX 5000000u
#define ACTIVITY_CAP 200.0
#define V6_SHARE_MOBILE 0.3

typedef struct cdfs_s {
    double os[OS__COUNT], country[64];
} cdfs_t;

static void tables_cdf(cdfs_t *c)
{
    double sum = 0;
    for (int i = 0; i < OS__COUNT; i++)
        c->os[i] = sum += pm__sim_os_weight[i];
    sum = 0;
    for (uint32_t i = 0; i < pm__sim_ncountries && i < PM_ARRAY_LEN(c->country); i++)
        c->country[i] = sum += pm__sim_countries[i].weight;
}

/* A residential address of the visitor's country, truncated as the
 * workspace stores addresses. */
static void visitor_ip(pm__sim_t *s, pm__sim_visitor_t *v)
{
    const pm__sim_country_t *c = &pm__sim_countries[v->country];
    pm_ip_t ip = {.v4 = false};
    bool v6 = c->v6[0] && pm__sim_os_device[v->os] == DEV_MOBILE && pm__sim_chance(&s->rng, V6_SHARE_MOBILE);
    uint64_t bits = pm__sim_u64(&s->rng);
    if (v6) {
        ip.b[0] = (uint8_t)(c->v6[0] >> 8), ip.b[1] = (uint8_t)c->v6[0];
        ip.b[2] = (uint8_t)(c->v6[1] >> 8), ip.b[3] = (uint8_t)c->v6[1];
        for (int i = 4; i < 16; i++, bits = pm__sim_mix(bits))
            ip.b[i] = (uint8_t)bits;
    } else {
        uint32_t n = 0;
        while (n < 6 && c->v4[n][0]) n++;
        const uint8_t *p = c->v4[bits % n];
        ip.v4 = true;
        ip.b[10] = ip.b[11] = 0xff;
        ip.b[12] = p[0], ip.b[13] = p[1], ip.b[14] = (uint8_t)(bits >> 8), ip.b[15] = (uint8_t)(1 + (bits >> 16) % 254);
    }
    pm_ip_truncate(&ip, s->cfg->ip_v4_prefix, s->cfg->ip_v6_prefix);
    pm_ip_format(&ip, v->ip);
}

/* Intent levels: most clicks come from browsers, a fifth from buyers. */
static float draw_intent(pm__sim_t *s)
{
    double u = pm__sim_unit(&s->rng);
    return u < 0.5 ? 0.4f : u < 0.8 ? 1.0f : 2.5f;
}

static uint32_t pool_size(const pm_sim_config_t *cfg)
{
    double days = (double)(cfg->end - cfg->start) / (86400.0 * PM_USEC_PER_SEC);
    double n = POOL_BASE + POOL_PER_DAY * cfg->scale * (days < 1 ? 1 : days);
    return n > POOL_MAX ? POOL_MAX : (uint32_t)n;
}

/* Group visitors by device class with their cumulative activity, and scale
 * intent to a weighted mean of 1 in each class. */
static void build_classes(pm__sim_t *s, const double *activity)
{
    for (int d = 0; d < DEV__COUNT; d++) {
        s->class_members[d] = pm_malloc((s->nvisitors + 1) * sizeof(uint32_t));
        s->class_cdf[d] = pm_malloc((s->nvisitors + 1) * sizeof(double));
        s->class_n[d] = 0;
    }
    double intent_sum[DEV__COUNT] = {0};
    for (uint32_t i = 0; i < s->nvisitors; i++) {
        int d = pm__sim_os_device[s->visitors[i].os];
        uint32_t k = s->class_n[d]++;
        s->class_members[d][k] = i;
        s->class_cdf[d][k] = (k ? s->class_cdf[d][k - 1] : 0) + activity[i];
        intent_sum[d] += activity[i] * s->visitors[i].intent;
    }
    for (uint32_t i = 0; i < s->nvisitors; i++) {
        int d = pm__sim_os_device[s->visitors[i].os];
        double mean = intent_sum[d] / s->class_cdf[d][s->class_n[d] - 1];
        s->visitors[i].intent = (float)(s->visitors[i].intent / mean);
    }
}

void pm__sim_visitors_create(pm__sim_t *s)
{
    cdfs_t cdf;
    tables_cdf(&cdf);
    s->nvisitors = pool_size(s->cfg);
    s->visitors = pm_calloc(s->nvisitors, sizeof(*s->visitors));
    double *activity = pm_malloc(s->nvisitors * sizeof(double));
    for (uint32_t i = 0; i < s->nvisitors; i++) {
        pm__sim_visitor_t *v = &s->visitors[i];
        v->os = (uint8_t)pm__sim_pick(cdf.os, OS__COUNT, pm__sim_unit(&s->rng));
        v->country = (uint8_t)pm__sim_pick(cdf.country, pm__sim_ncountries, pm__sim_unit(&s->rng));
        v->agent = (uint8_t)pm__sim_below(&s->rng, pm__sim_user_agents[v->os].n);
        v->tv_agent = (uint8_t)pm__sim_below(&s->rng, pm__sim_tv_agents.n);
        v->intent = draw_intent(s);
        /* Pareto(1.3): a long tail of heavy users. */
        double a = pow(1.0 - pm__sim_unit(&s->rng), -1.0 / 1.3);
        activity[i] = a > ACTIVITY_CAP ? ACTIVITY_CAP : a;
        visitor_ip(s, v);
    }
    build_classes(s, activity);
    pm_free(activity);
}

void pm__sim_visitors_destroy(pm__sim_t *s)
{
    for (int d = 0; d < DEV__COUNT; d++) {
        pm_free(s->class_members[d]);
        pm_free(s->class_cdf[d]);
    }
    pm_free(s->visitors);
}

uint32_t pm__sim_visitor_pick(pm__sim_t *s, pm_sim_channel_t ch)
{
    const double *dev = pm__sim_profiles[ch].device;
    double cdf[DEV__COUNT] = {dev[0], dev[0] + dev[1], dev[0] + dev[1] + dev[2]};
    uint32_t d = pm__sim_pick(cdf, DEV__COUNT, pm__sim_unit(&s->rng));
    while (s->class_n[d] == 0) /* an empty class (tiny pools only): the next one */
        d = (d + 1) % DEV__COUNT;
    uint32_t k = pm__sim_pick(s->class_cdf[d], s->class_n[d], pm__sim_unit(&s->rng));
    return s->class_members[d][k];
}

/*
 * campaigns.c: what each simulated campaign carries beyond its entity: its
 * rates (model.c), a keyword theme, the popularity and conversion factor of
 * each sub1 (keyword, placement, site...), the popularity and CTR factor of
 * each creative, a volume trend over the window, and for non-search
 * campaigns the search campaign their audience later searches on.
 *
 * The tables come from a random stream of their own, seeded by the seed and
 * the campaign id, so adding a campaign to a workspace does not reshuffle
 * the others. Factors are normalised under the popularity they are drawn
 * with, so the campaign's CTR and CVR stay the configured ones: some
 * keywords and sites win and others lose, the average holds.
 */
#include "sim_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Popularity ~ 1/(rank+1)^skew (cumulative) and a log-normal factor per
 * entry, scaled so the popularity-weighted mean factor is 1. */
static void weighted_table(pm__sim_rng_t *r, uint32_t n, double skew, double sigma, double **cdf_out,
                           double **factor_out)
{
    double *cdf = pm_malloc(n * sizeof(double)), *f = pm_malloc(n * sizeof(double));
    double total = 0, mean = 0;
    for (uint32_t i = 0; i < n; i++) {
        double w = pow(i + 1.0, -skew);
        cdf[i] = total += w;
        double x = exp(sigma * pm__sim_normal(r));
        f[i] = x < 0.2 ? 0.2 : x > 3.0 ? 3.0 : x;
        mean += w * f[i];
    }
    mean /= total;
    for (uint32_t i = 0; i < n; i++)
        f[i] /= mean;
    *cdf_out = cdf;
    *factor_out = f;
}

static const pm__sim_theme_t *theme_of(const char *hint)
{
    for (uint32_t t = 0; hint && t + 1 < pm__sim_nthemes; t++)
        for (int m = 0; m < 4 && pm__sim_themes[t].match[m]; m++)
            if (strcasestr(hint, pm__sim_themes[t].match[m])) return &pm__sim_themes[t];
    return &pm__sim_themes[pm__sim_nthemes - 1];
}

/* "Search · VPN brand" -> "search-vpn-brand". */
static void slug(const char *name, char *out, size_t cap)
{
    size_t n = 0;
    bool dash = false;
    for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p && n + 2 < cap; p++) {
        if (isalnum(*p)) {
            if (dash && n) out[n++] = '-';
            out[n++] = (char)tolower(*p);
            dash = false;
        } else {
            dash = true;
        }
    }
    out[n] = '\0';
    if (n == 0) snprintf(out, cap, "campaign");
}

/* A search campaign the audience of campaign k searches on afterwards:
 * one of the same offer if any, else the first search campaign. */
static int32_t search_peer(const pm__sim_t *s, uint32_t k)
{
    const pm_sim_config_t *cfg = s->cfg;
    int32_t any = -1;
    if (cfg->campaigns[k].channel == PM_SIM_SEARCH) return -1;
    for (uint32_t i = 0; i < cfg->ncampaigns; i++) {
        if (cfg->campaigns[i].channel != PM_SIM_SEARCH) continue;
        if (cfg->campaigns[i].offer_id && cfg->campaigns[i].offer_id == cfg->campaigns[k].offer_id) return (int32_t)i;
        if (any < 0) any = (int32_t)i;
    }
    return any;
}

void pm__sim_campaigns_create(pm__sim_t *s)
{
    const pm_sim_config_t *cfg = s->cfg;
    s->camps = pm_calloc(cfg->ncampaigns ? cfg->ncampaigns : 1, sizeof(*s->camps));
    for (uint32_t i = 0; i < cfg->ncampaigns; i++) {
        pm__sim_campaign_t *k = &s->camps[i];
        pm__sim_rng_t r;
        k->c = &cfg->campaigns[i];
        k->channel = (unsigned)k->c->channel < PM_SIM__CHANNELS ? k->c->channel : PM_SIM_NATIVE;
        k->p = &pm__sim_profiles[k->channel];
        pm_sim_campaign_rates(cfg, i, &k->rates);
        k->theme = theme_of(k->c->theme_hint ? k->c->theme_hint : k->c->name);
        pm__sim_rng_seed(&r, pm__sim_hash(cfg->seed, (uint64_t)k->c->id));
        weighted_table(&r, k->p->sub1_count, 1.1, 0.45, &k->sub1_cdf, &k->sub1_cvr);
        weighted_table(&r, k->p->creatives, 0.6, 0.3, &k->crea_cdf, &k->crea_ctr);
        k->trend = 0.7 * (pm__sim_unit(&r) - 0.5); /* -35% .. +35% across the window */
        k->day_factor = 1.0;
        k->search_peer = search_peer(s, i);
        slug(k->c->name, k->slug, sizeof(k->slug));
    }
}

void pm__sim_campaigns_destroy(pm__sim_t *s)
{
    for (uint32_t i = 0; s->camps && i < s->cfg->ncampaigns; i++) {
        pm_free(s->camps[i].sub1_cdf);
        pm_free(s->camps[i].sub1_cvr);
        pm_free(s->camps[i].crea_cdf);
        pm_free(s->camps[i].crea_ctr);
    }
    pm_free(s->camps);
}

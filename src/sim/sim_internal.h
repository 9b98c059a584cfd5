/*
 * sim_internal.h: what the simulator's files share (see pm/sim.h): the
 * seeded random source, the data tables (user agents, languages, address
 * prefixes, referrers, keywords), the channel profiles, and the generator's
 * state: visitors, per-campaign tables, and the time-ordered queue of
 * events still to emit.
 */
#ifndef PM_SIM_INTERNAL_H
#define PM_SIM_INTERNAL_H

#include "pm/buf.h"
#include "pm/ip.h"
#include "pm/sim.h"

#include <math.h>

/* --- random source: xoshiro256** seeded through splitmix64 ------------------ */

typedef struct pm__sim_rng_s {
    uint64_t s[4];
} pm__sim_rng_t;

static inline uint64_t pm__sim_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A well-spread hash of two values: per-campaign factors that do not
 * depend on the order the random stream is consumed in. */
static inline uint64_t pm__sim_hash(uint64_t a, uint64_t b)
{
    return pm__sim_mix(pm__sim_mix(a + UINT64_C(0x9e3779b97f4a7c15)) ^ (b * UINT64_C(0xd1b54a32d192ed03)));
}

/* A uniform double in [0, 1) from a hash value. */
static inline double pm__sim_hash_unit(uint64_t h) { return (double)(h >> 11) * 0x1.0p-53; }

void pm__sim_rng_seed(pm__sim_rng_t *r, uint64_t seed);

static inline uint64_t pm__sim_u64(pm__sim_rng_t *r)
{
    uint64_t *s = r->s, result = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3] << 45 | s[3] >> 19;
    return result;
}

static inline double pm__sim_unit(pm__sim_rng_t *r) { return (double)(pm__sim_u64(r) >> 11) * 0x1.0p-53; }
static inline bool pm__sim_chance(pm__sim_rng_t *r, double p) { return pm__sim_unit(r) < p; }
/* Uniform in [0, n); n > 0. */
static inline uint32_t pm__sim_below(pm__sim_rng_t *r, uint32_t n) { return (uint32_t)(pm__sim_unit(r) * n); }

double pm__sim_normal(pm__sim_rng_t *r);
/* Log-normal with the given median and sigma (of the log). */
double pm__sim_lognormal(pm__sim_rng_t *r, double median, double sigma);
uint32_t pm__sim_poisson(pm__sim_rng_t *r, double lambda);
/* Index of the first cdf[i] > u * cdf[n-1] (a weighted choice). */
uint32_t pm__sim_pick(const double *cdf, uint32_t n, double u);

/* --- data tables (tables.c) ----------------------------------------------- */

/* Operating systems; a visitor has one. Device classes group them. */
enum { OS_WINDOWS, OS_MACOS, OS_LINUX, OS_IOS, OS_ANDROID, OS_IPADOS, OS_ANDROID_TABLET, OS__COUNT };
enum { DEV_DESKTOP, DEV_MOBILE, DEV_TABLET, DEV__COUNT };

typedef struct pm__sim_strings_s {
    const char *const *v;
    uint32_t n;
} pm__sim_strings_t;

extern const pm__sim_strings_t pm__sim_user_agents[OS__COUNT];
extern const uint8_t pm__sim_os_device[OS__COUNT];
extern const double pm__sim_os_weight[OS__COUNT];     /* share of visitors */
extern const pm__sim_strings_t pm__sim_tv_agents;     /* CTV impressions */
extern const pm__sim_strings_t pm__sim_inapp_ios, pm__sim_inapp_android; /* social in-app suffixes */
extern const pm__sim_strings_t pm__sim_crawler_agents;  /* declared bots */
extern const pm__sim_strings_t pm__sim_headless_agents; /* undeclared automation */

typedef struct pm__sim_country_s {
    const char *accept_language;
    double weight;
    uint8_t v4[6][2];   /* /16 prefixes of residential ISPs; {0,0} ends the list */
    uint16_t v6[2];     /* a /32 of a mobile ISP, or {0,0} */
} pm__sim_country_t;
extern const pm__sim_country_t pm__sim_countries[];
extern const uint32_t pm__sim_ncountries;
extern const uint8_t pm__sim_datacenter_v4[][2]; /* cloud and hosting /16s */
extern const uint32_t pm__sim_ndatacenter;

extern const pm__sim_strings_t pm__sim_publishers;  /* native: news and lifestyle sites */
extern const pm__sim_strings_t pm__sim_sections;    /* native: article sections */
extern const pm__sim_strings_t pm__sim_partners;    /* affiliate: coupon and review sites */
extern const pm__sim_strings_t pm__sim_ctv_apps;
extern const pm__sim_strings_t pm__sim_social_placements;
extern const pm__sim_strings_t pm__sim_social_audiences;
extern const pm__sim_strings_t pm__sim_match_types;
extern const pm__sim_strings_t pm__sim_native_positions;
extern const pm__sim_strings_t pm__sim_keyword_prefixes;

typedef struct pm__sim_theme_s {
    const char *match[4]; /* substrings of offer/campaign names that select it */
    pm__sim_strings_t keywords;
} pm__sim_theme_t;
extern const pm__sim_theme_t pm__sim_themes[];
extern const uint32_t pm__sim_nthemes; /* the last one is generic and matches anything */

/* --- channel profiles (model.c) --------------------------------------------- */

typedef struct pm__sim_profile_s {
    double impressions_per_day, ctr, cvr; /* base rates; campaigns vary around them */
    double lag_mult;                      /* conversion lag relative to the offer type's */
    double hour[24];                      /* local hour shape (any scale) */
    double weekday[7];                    /* Monday first */
    double device[DEV__COUNT];            /* which visitors it reaches */
    double bot_impression_share;          /* impressions from bots */
    double crawls_per_day;                /* declared crawlers' clicks per campaign */
    double bursts_per_day;                /* chance of a click-fraud burst per campaign-day (CPC only) */
    uint16_t sub1_count;                  /* keywords, placements, sites, partners, apps */
    uint8_t creatives;
    double followup_search_after_impression, followup_search_after_click;
} pm__sim_profile_t;

extern const pm__sim_profile_t pm__sim_profiles[PM_SIM__CHANNELS];
/* Normalised shapes: hour factors with mean 1, weekday factors with mean 1. */
double pm__sim_hour_factor(pm_sim_channel_t c, int local_hour);
double pm__sim_weekday_factor(pm_sim_channel_t c, int weekday);
/* The conversion type of a primary conversion for an offer payout type. */
const char *pm__sim_conv_type(const char *payout_type);

/* --- the generator ------------------------------------------------------------ */

enum {
    NF_BOT = 1,        /* not a person */
    NF_CRAWLER = 2,    /* a declared crawler (no referrer, no language) */
    NF_COOKIELESS = 4, /* no visitor cookie: a fresh visitor id */
    NF_FOLLOWUP = 8,   /* conversions: the second one of a click */
    NF_CHARGEBACK = 16,
};

#define NO_VISITOR UINT32_MAX
#define NO_NODE UINT32_MAX /* ends the free list of nodes */

/* An event waiting in the queue. Everything its strings are made of is here
 * (indices and random bits), so a conversion renders its click's fields
 * again from a copy of the click's node. */
typedef struct pm__sim_node_s {
    pm_time_t ts;
    pm_time_t click_ts;   /* conversions */
    pm_id_t click_id;     /* conversions */
    pm_id_t visitor_id;   /* conversions: the click's */
    uint64_t detail;      /* random bits for external ids and txids */
    int64_t revenue;      /* conversions: micros */
    uint32_t visitor;     /* index, or NO_VISITOR */
    uint32_t bot_ip;      /* bots: IPv4 address */
    uint32_t next_free;
    uint16_t campaign, sub1;
    uint8_t kind;         /* pm_event_type_t */
    uint8_t flags;        /* NF_* */
    uint8_t variant;      /* search engine, social app */
    uint8_t sub2, sub3;
    uint8_t bot_agent;
    uint8_t conv_type;    /* 0 primary, 1 follow-up */
} pm__sim_node_t;

typedef struct pm__sim_visitor_s {
    pm_id_t id;
    float intent;         /* conversion propensity, mean 1 over the pool */
    uint8_t os, country, agent, tv_agent;
    bool has_id;
    char ip[PM_IP_STR_MAX];
} pm__sim_visitor_t;

typedef struct pm__sim_campaign_s {
    const pm_sim_campaign_t *c;
    pm_sim_rates_t rates;
    pm_sim_channel_t channel;
    const pm__sim_profile_t *p;
    const pm__sim_theme_t *theme;
    double *sub1_cdf, *sub1_cvr;   /* popularity (cumulative) and CVR factor per sub1 */
    double *crea_cdf, *crea_ctr;   /* popularity (cumulative) and CTR factor per creative */
    double trend, day_factor;      /* volume: slope over the window, today's factor */
    int32_t search_peer;           /* a search campaign of the same offer, or -1 */
    char slug[64];                 /* utm_campaign */
} pm__sim_campaign_t;

typedef struct pm__sim_heap_s {
    pm_time_t ts;
    uint64_t order;
    uint32_t node;
} pm__sim_heap_t;

typedef struct pm__sim_s {
    const pm_sim_config_t *cfg;
    pm__sim_rng_t rng;
    pm_idgen_t ids;
    pm__sim_visitor_t *visitors;
    uint32_t nvisitors;
    uint32_t *class_members[DEV__COUNT]; /* visitor indices by device class */
    double *class_cdf[DEV__COUNT];       /* cumulative activity */
    uint32_t class_n[DEV__COUNT];
    pm__sim_campaign_t *camps;
    pm__sim_node_t *nodes;
    uint32_t nnodes, node_cap, free_head;
    pm__sim_heap_t *heap;
    uint32_t heap_n, heap_cap;
    uint64_t order;
    pm_sim_emit_fn emit;
    void *emit_ctx;
    pm_sim_stats_t stats;
    pm_buf_t url;                 /* the click's destination URL */
    size_t used;                  /* bump allocator over scratch, reset per event */
    char scratch[8192];
    pm_detect_local_t *detect; /* NULL without cfg->detect */
    pm_visitor_t visitor;      /* the current event's visitor context */
} pm__sim_t;

/* visitors.c */
void pm__sim_visitors_create(pm__sim_t *s);
void pm__sim_visitors_destroy(pm__sim_t *s);
/* A visitor the channel reaches (weighted by activity). */
uint32_t pm__sim_visitor_pick(pm__sim_t *s, pm_sim_channel_t ch);

/* campaigns.c: per-campaign rates, sub-id tables and trends. */
void pm__sim_campaigns_create(pm__sim_t *s);
void pm__sim_campaigns_destroy(pm__sim_t *s);

/* gen.c: queue an event (copied; dropped when at or past the window's
 * end), and queue a person's impression on campaign `k` (and the click it
 * may lead to). */
void pm__sim_push(pm__sim_t *s, const pm__sim_node_t *n);
void pm__sim_add_impression(pm__sim_t *s, uint32_t k, uint32_t visitor, pm_time_t ts);

/* emit.c: make the event of node `n` (now due), hand it to the callback and
 * queue what follows from it (a conversion, a follow-up search...). Returns
 * the callback's value. */
int pm__sim_emit(pm__sim_t *s, const pm__sim_node_t *n);

/* render.c: fill `ev`'s visitor fields (ip, agent, referrer, language, subs,
 * utm, external id) for node `n` seen as an event of type `as`. */
void pm__sim_render_fields(pm__sim_t *s, const pm__sim_node_t *n, pm_event_type_t as, pm_event_t *ev);
/* The click's destination URL (into s->url) and the conversion's txid. */
void pm__sim_render_destination(pm__sim_t *s, const pm__sim_node_t *n, pm_event_t *ev);
void pm__sim_render_txid(pm__sim_t *s, const pm__sim_node_t *n, const char *type, bool pixel, pm_event_t *ev);

#endif

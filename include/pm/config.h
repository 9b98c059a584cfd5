/*
 * config.h: the configuration the tracking path reads on every request:
 * campaigns by token, their offers, landers and traffic sources, and the
 * workspace settings. It is an immutable, reference-counted snapshot built
 * from the store whenever an admin write changes it, and swapped atomically:
 * request handlers never lock and never see a half-applied change.
 *
 * Threading: a pm_config_t is read-only after pm_config_load and may be read
 * from any thread that holds a reference. The holder (pm_confhold_t) is the
 * publication point: pm_confhold_publish from any thread, and each event loop
 * keeps its own reference, refreshed cheaply with pm_confhold_refresh (one
 * atomic load per request when nothing changed).
 */
#ifndef PM_CONFIG_H
#define PM_CONFIG_H

#include "pm/flow.h"
#include "pm/ip.h"
#include "pm/money.h"
#include "pm/store.h"
#include "pm/tz.h"

typedef enum pm_cost_model_e {
    PM_COST_CPC,      /* per click */
    PM_COST_CPM,      /* per thousand impressions */
    PM_COST_CPA,      /* per approved conversion (optionally of one conversion type) */
    PM_COST_REVSHARE, /* a percentage of each approved conversion's revenue */
    PM_COST_AUTO,     /* reported later by the source (cost import), nothing at event time */
} pm_cost_model_t;

/* Parse/print "cpc" | "cpm" | "cpa" | "revshare" | "auto".
 * pm_cost_model_parse: PM_EINVAL. */
int pm_cost_model_parse(const char *s, pm_cost_model_t *out) PM_MUST_CHECK;
const char *pm_cost_model_name(pm_cost_model_t m);

typedef struct pm_offer_s {
    int64_t id;
    char *name, *url;
    char payout_type[8]; /* "cpa" | "cpl" | "cpi" | "cps" */
    pm_money_t payout;   /* the workspace's revenue per conversion */
    int64_t cap_daily, cap_total; /* conversions per local day / in total; 0 = no cap */
    int64_t payout_percent; /* > 0: revenue is this share of the sale value instead (percent micros: 1% = 1000000) */
    bool repeat_conversions; /* every postback without a txid counts (not one per click and type) */
} pm_offer_t;

/* How a partner is paid by default, and pricing rules that override the
 * defaults per offer / partner / conversion type (docs/money.md). */
typedef enum pm_price_model_e { PM_PRICE_NONE, PM_PRICE_FIXED, PM_PRICE_PERCENT } pm_price_model_t;

typedef struct pm_partner_s {
    int64_t id;
    char *name;
    pm_price_model_t model;
    pm_money_t amount;  /* PM_PRICE_FIXED */
    int64_t percent;    /* PM_PRICE_PERCENT: of the conversion's revenue, percent micros */
} pm_partner_t;

typedef enum pm_rule_side_e { PM_RULE_REVENUE, PM_RULE_PAYOUT } pm_rule_side_t;

typedef struct pm_rule_s {
    int64_t id;
    pm_rule_side_t side;
    int64_t offer_id, partner_id; /* 0 = any */
    char conversion_type[33];     /* "" = any */
    pm_price_model_t model;       /* FIXED or PERCENT */
    pm_money_t amount;
    int64_t percent; /* revenue side: of the sale value; payout side: of the revenue */
    int64_t volume_from; /* revenue side: applies from the offer's n-th conversion of the month (0 = 1st) */
} pm_rule_t;

typedef struct pm_lander_s {
    int64_t id;
    char *name, *url;
} pm_lander_t;

/* A campaign's ad (creative_id= on clicks and impressions). */
typedef struct pm_creative_s {
    int64_t id, campaign_id;
    char *name, *url; /* url: "" = none */
    bool active;
    pm_flow_cap_t cap; /* the creative's own frequency cap; max 0 = none */
} pm_creative_t;

typedef struct pm_source_s {
    int64_t id;
    char *name, *postback_url;
} pm_source_t;

typedef struct pm_campaign_s {
    int64_t id;
    char *name, *token;
    bool active;
    const pm_source_t *source;  /* never NULL */
    const pm_offer_t *offer;    /* may be NULL */
    const pm_lander_t *lander;  /* may be NULL; when set the visitor goes here first */
    const struct pm_flow_s *flow; /* may be NULL; when set it decides the destination (pm/flow.h) */
    pm_cost_model_t cost_model;
    pm_money_t cost;
    int64_t budget_daily, budget_total; /* micro-units of the cost currency; 0 = no budget */
    char *fallback_url;                 /* "" = the workspace's fallback_url */
    int64_t cost_percent;            /* PM_COST_REVSHARE: percent micros of revenue */
    char cost_conversion_type[33];   /* PM_COST_CPA: only this type costs ("" = every type) */
    const pm_partner_t *partner;     /* who brought the traffic (payouts); may be NULL */
    bool js_check;                   /* bot_check "js": clicks pass the script page first */
} pm_campaign_t;

#define PM_MAX_TRUSTED_PROXIES 32

typedef struct pm_settings_s {
    char *fallback_url;
    char *timezone;
    int ip_v4_prefix, ip_v6_prefix; /* bits kept when storing visitor IPs */
    pm_cidr_t trusted[PM_MAX_TRUSTED_PROXIES];
    size_t ntrusted;
    char *base_url;        /* public URL of this tracker, no trailing '/' */
    pm_currency_t currency;/* reporting currency */
    char *postback_secret; /* "" = postbacks need no secret */
    int cookie_days;
} pm_settings_t;

typedef struct pm_config_s pm_config_t;

/* Build a snapshot from the store. `default_base_url` is used when the
 * base_url setting is empty (e.g. "http://127.0.0.1:8080"). PM_ESTORE. The
 * caller owns one reference. Reads in its own transaction: never call it
 * (or pm_confhold_reload) inside an open transaction on the same connection. */
int pm_config_load(pm_store_t *store, const char *default_base_url, pm_config_t **out) PM_MUST_CHECK;
void pm_config_retain(pm_config_t *c);
void pm_config_release(pm_config_t *c); /* accepts NULL */

/* Lookups; returned pointers live as long as the snapshot. NULL if absent. */
const pm_campaign_t *pm_config_campaign_by_token(const pm_config_t *c, const char *token, size_t len);
const pm_campaign_t *pm_config_campaign_by_id(const pm_config_t *c, int64_t id);
const pm_offer_t *pm_config_offer_by_id(const pm_config_t *c, int64_t id);
const pm_lander_t *pm_config_lander_by_id(const pm_config_t *c, int64_t id);
/* Creative `id` if it is campaign `campaign_id`'s own, else NULL. */
const pm_creative_t *pm_config_creative_of(const pm_config_t *c, int64_t campaign_id, int64_t id);
size_t pm_config_creative_count(const pm_config_t *c);
const pm_creative_t *pm_config_creative_at(const pm_config_t *c, size_t i); /* i < count */
/* The compiled flow `id` (a flow whose definition no longer compiles is
 * left out, with a warning in the log). */
const struct pm_flow_s *pm_config_flow_by_id(const pm_config_t *c, int64_t id);
/* Campaigns in id order: i from 0 to pm_config_campaign_count - 1. */
size_t pm_config_campaign_count(const pm_config_t *c);
const pm_campaign_t *pm_config_campaign_at(const pm_config_t *c, size_t i);
const pm_partner_t *pm_config_partner_by_id(const pm_config_t *c, int64_t id);
/* The pricing rules, in id order (borrowed, *n of them). */
const pm_rule_t *pm_config_rules(const pm_config_t *c, size_t *n);
const pm_settings_t *pm_config_settings(const pm_config_t *c);
/* The workspace time zone (settings.timezone; UTC when it cannot be
 * loaded). Lives as long as the snapshot; never NULL. */
const pm_tz_t *pm_config_tz(const pm_config_t *c);
uint64_t pm_config_generation(const pm_config_t *c);

/* True if `name` is "UTC" or a zone of the system's tz database. */
bool pm_timezone_known(const char *name);

/* Validate one setting value; PM_OK or PM_EINVAL with *why (static text). */
int pm_settings_validate(const char *key, const char *value, const char **why) PM_MUST_CHECK;

/* --- publication ------------------------------------------------------- */
typedef struct pm_confhold_s pm_confhold_t;

pm_confhold_t *pm_confhold_create(pm_config_t *initial); /* takes the reference */
void pm_confhold_destroy(pm_confhold_t *h);                 /* accepts NULL */
/* Replace the current snapshot (takes the caller's reference). */
void pm_confhold_publish(pm_confhold_t *h, pm_config_t *c);
/* Rebuild from `store` and publish. PM_ESTORE (old snapshot kept). */
int pm_confhold_reload(pm_confhold_t *h, pm_store_t *store) PM_MUST_CHECK;
/* Make *cur the current snapshot: if it is not, release it and take a
 * reference to the new one. *cur may be NULL at first. Thread-safe. */
void pm_confhold_refresh(pm_confhold_t *h, pm_config_t **cur);

#endif

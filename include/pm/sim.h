/*
 * sim.h: the traffic simulator behind `perfmark simulate` and `perfmark
 * demo`. It turns a workspace's campaigns into weeks of believable traffic:
 * impressions, clicks and conversions from a pool of visitors who come back
 * over days and across channels (search, social, native, affiliate, CTV),
 * with daily and weekly rhythms, per-channel CTR/CVR and costs, conversion
 * lags of minutes to days, statuses, a few chargebacks, and bots.
 *
 * Two layers:
 *  - pm_sim_run() is the pure generator: it calls `emit` for every event in
 *    time order, each a pm_event_t exactly as the tracking path would have
 *    journaled it (ids made by pm_id_next at the event's timestamp, money in
 *    the campaign's or offer's currency). Deterministic for a given config
 *    (same seed, window, campaigns and binary: same events, same ids).
 *  - pm_sim_workspace() reads the campaigns of a store, runs the generator
 *    and writes the events as journal segments of the import lineage
 *    (PM_SIM_LINEAGE), which the recovery of the next server start
 *    materializes like any journal: exactly once, through the same sinks.
 *
 * docs/demo.md describes the model and its numbers.
 */
#ifndef PM_SIM_H
#define PM_SIM_H

#include "pm/config.h"
#include "pm/detect.h"
#include "pm/event.h"

/* The journal lineage simulated (imported) records are written to. The
 * server's event loops use lineages 0..threads-1, so it is free unless a
 * server runs 64 loops. */
#define PM_SIM_LINEAGE 63u

typedef enum pm_sim_channel_e {
    PM_SIM_SEARCH,
    PM_SIM_SOCIAL,
    PM_SIM_NATIVE,
    PM_SIM_AFFILIATE,
    PM_SIM_CTV,
    PM_SIM__CHANNELS
} pm_sim_channel_t;

/* "search", "social", "native", "affiliate", "ctv"; NULL if out of range. */
const char *pm_sim_channel_name(pm_sim_channel_t c);

/* The channel a traffic source's name suggests ("Search Ads", "Meta",
 * "Taboola", "Affiliate partners", "Roku CTV"...), or -1 when it suggests
 * none. Case-insensitive. Can't fail. */
int pm_sim_channel_guess(const char *source_name);

/* One campaign as the generator sees it. Strings are borrowed. */
typedef struct pm_sim_campaign_s {
    int64_t id, traffic_source_id, offer_id, lander_id; /* offer/lander 0 = none */
    const char *name;
    const char *theme_hint; /* offer and campaign names: picks keywords; may be NULL */
    pm_sim_channel_t channel;
    pm_cost_model_t cost_model;
    pm_money_t cost;        /* per click, per 1000 impressions, or per approved conversion */
    pm_money_t payout;      /* the offer's payout = the workspace's revenue per conversion */
    const char *payout_type; /* "cpa" | "cpl" | "cpi" | "cps"; NULL without an offer */
    const char *dest_url;   /* the lander's URL if any, else the offer's (a macro template) */
    /* The campaign's creative entities, by the index the generator picks
     * (creative_ids[i] is the ad its sub2 names "<prefix>-<id>-<i+1>", see
     * pm_sim_creative_name): its events carry creative_id = that id, 0 past
     * ncreatives or for a 0 entry (no creative, as the tracker records
     * none). Borrowed; may be NULL. pm_sim_workspace fills them. */
    const int64_t *creative_ids;
    size_t ncreatives;
} pm_sim_campaign_t;

/* How many creatives a campaign of channel c runs (the sub2 values its
 * events take). Can't fail; 0 for a channel out of range. */
unsigned pm_sim_creative_count(pm_sim_channel_t c);

/* The name of creative i (0-based) of campaign `campaign_id` on channel c,
 * which is also the sub2 of its events: "ad-7-1" (search), "cr-" (social),
 * "hl-" (native headline), "bn-" (affiliate banner), "spot-" (CTV). Writes
 * at most cap bytes, NUL-terminated; returns the length snprintf would. */
int pm_sim_creative_name(pm_sim_channel_t c, int64_t campaign_id, unsigned i, char *out, size_t cap);

/* Called once per simulated day with the time reached in the window
 * [start, end) (for a progress bar). */
typedef void (*pm_sim_progress_fn)(void *arg, pm_time_t reached, pm_time_t start, pm_time_t end);

typedef struct pm_sim_config_s {
    uint64_t seed;
    pm_time_t start, end;        /* the window [start, end), UTC microseconds */
    double scale;                /* volume multiplier; 1.0 = the default (0 < scale <= 100) */
    int32_t utc_offset_s;        /* the workspace's local time, for daily/weekly shapes */
    const pm_sim_campaign_t *campaigns; /* borrowed; at most 65535 */
    size_t ncampaigns;
    const char *base_url;        /* "{offer_url}" of a lander = <base_url>/go?clickid=... */
    pm_currency_t currency;      /* revenue currency of campaigns without an offer */
    int ip_v4_prefix, ip_v6_prefix; /* bits of visitor IPs kept, as the workspace stores them */
    pm_sim_progress_fn progress; /* may be NULL */
    void *progress_arg;
    /* Visitor detectors (pm/detect.h): when set, impressions, clicks and
     * conversions get the visitor context (country, device, OS, browser,
     * bot reason) the tracking path would give them. Borrowed; create it
     * with velocity off, which keeps the context a function of the
     * event's address and user agent (a conversion = its click). */
    pm_detect_t *detect;
} pm_sim_config_t;

/* The rates the model configures for campaign `i` of `cfg` (human traffic;
 * bots come on top): impressions per average day at scale 1, CTR, CVR
 * (conversions per human click, before follow-up conversions), and the
 * conversion lag, log-normal with this median and sigma (of ln seconds).
 * Can't fail (i must be < cfg->ncampaigns). */
typedef struct pm_sim_rates_s {
    double impressions_per_day, ctr, cvr;
    double lag_median_s, lag_sigma;
} pm_sim_rates_t;
void pm_sim_campaign_rates(const pm_sim_config_t *cfg, size_t i, pm_sim_rates_t *out);

/* What the generator knows about an event beyond the event itself. */
typedef struct pm_sim_meta_s {
    size_t campaign;          /* index into cfg->campaigns */
    pm_sim_channel_t channel;
    bool bot;                 /* crawler, data-center burst or bot impression */
    bool followup;            /* a second conversion of the same click (lead -> sale) */
    bool chargeback;          /* a sale charged back (status "rejected", txid "CB-...") */
    pm_time_t click_ts;       /* conversions: their click's timestamp */
} pm_sim_meta_t;

/* Receives each event; its strings live until the callback returns. A
 * non-zero return stops the run and is returned by pm_sim_run. */
typedef int (*pm_sim_emit_fn)(void *ctx, const pm_event_t *ev, const pm_sim_meta_t *meta);

typedef struct pm_sim_stats_s {
    uint64_t events[PM_EV__MAX];                  /* by pm_event_type_t */
    uint64_t by_channel[PM_SIM__CHANNELS][PM_EV__MAX];
    uint64_t bot_impressions, bot_clicks, visitors;
    uint64_t approved, pending, rejected, chargebacks, followups;
} pm_sim_stats_t;

/* Generate the window's traffic in time order. PM_EINVAL for a bad config
 * (empty window, scale out of range, too many campaigns), or the callback's
 * non-zero value. *out (may be NULL) gets the counts. Not thread-safe
 * per config; independent runs may go in parallel. */
int pm_sim_run(const pm_sim_config_t *cfg, pm_sim_emit_fn emit, void *ctx, pm_sim_stats_t *out) PM_MUST_CHECK;

/* --- a workspace on disk ----------------------------------------------- */

typedef struct pm_sim_options_s {
    uint64_t seed;
    int days;               /* 1..3650 */
    double scale;
    int64_t end_day;        /* last day, in days since the epoch (workspace time zone); INT64_MIN = today */
    pm_time_t now;          /* 0 = the wall clock; events never go past it */
    const char *base_url;   /* the tracker's address when the base_url setting is empty;
                               NULL = http://127.0.0.1:8080 */
    pm_sim_progress_fn progress;
    void *progress_arg;
} pm_sim_options_t;

typedef struct pm_sim_result_s {
    pm_sim_stats_t stats;
    size_t campaigns;
    pm_time_t start, end;   /* the window simulated */
    uint64_t bytes;         /* journal bytes written */
    uint32_t first_seq, last_seq; /* the lineage's new segments */
    double seconds;         /* generation and writing */
} pm_sim_result_t;

/*
 * Simulate traffic for the active campaigns of the store at `db_path` and
 * write it to `journal_dir` as new segments of lineage PM_SIM_LINEAGE. The
 * segments are written aside and renamed into place when complete, so a
 * server starting meanwhile never replays half of them; the next server
 * start materializes them (a running server does not follow this lineage).
 * The same seed and window give the same event ids, so running it twice
 * stores nothing twice. PM_ENOTFOUND when the workspace has no active
 * campaign, PM_EINVAL for bad options, PM_EEXIST when another simulation
 * writes to the same journal, PM_ESTORE or -errno. Opens its
 * own store connection; safe to call while another process serves DIR.
 */
int pm_sim_workspace(const char *db_path, const char *journal_dir, const pm_sim_options_t *o,
                     pm_sim_result_t *out) PM_MUST_CHECK;

#endif

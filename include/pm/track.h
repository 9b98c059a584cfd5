/*
 * track.h: the public tracking endpoints: clicks (GET /c/{token} -> 302),
 * impressions (GET /i/{token} -> GIF/204), server-to-server postbacks
 * (GET|POST /pb), conversion pixels (GET /px) and the lander-to-offer hop
 * (GET /go).
 *
 * Every handler turns the request into one pm_event_t, appends it to the
 * loop's journal before answering, and never fails toward a human visitor:
 * an unknown or paused campaign, or garbage input, still gets a redirect to
 * the workspace's fallback URL. Conversions (money) are answered only once
 * the journal's fsync covers them (res->wait_lsn).
 *
 * One pm_track_t per event loop thread (not thread-safe); the pm_recent_t
 * maps it points to are shared by all loops.
 */
#ifndef PM_TRACK_H
#define PM_TRACK_H

#include "pm/audience.h"
#include "pm/bandit.h"
#include "pm/config.h"
#include "pm/detect.h"
#include "pm/event.h"
#include "pm/fcap.h"
#include "pm/flow.h"
#include "pm/http.h"
#include "pm/journal.h"
#include "pm/recent.h"
#include "pm/spend.h"
#include "pm/store.h"

typedef struct pm_track_s pm_track_t;

typedef struct pm_track_shared_s {
    pm_recent_t *clicks;      /* click id (16 bytes) -> encoded click record */
    pm_recent_t *conversions; /* conversion key -> encoded conversion record */
    pm_detect_t *detect;      /* visitor detectors (geo, UA, bots); NULL = none */
    pm_spend_t *spend;        /* budget and cap counters; NULL = none enforced */
    pm_bandit_t *bandit;      /* auto-rotation counters (pm/bandit.h); may be NULL */
    pm_fcap_t *fcap;          /* frequency-cap counts (pm/fcap.h); NULL = caps not enforced */
    pm_audience_t *audience;  /* last click / conversion per visitor (pm/audience.h); may be NULL */
} pm_track_shared_t;

/* All arguments are borrowed and must outlive the tracker. When
 * shared->detect is set, the tracker makes its own UA parser over it and
 * fills every click's and impression's visitor context (country, region,
 * device type, OS, browser, bot reason). Can't fail. */
pm_track_t *pm_track_create(pm_journal_t *journal, pm_store_t *store, pm_track_shared_t *shared);
void pm_track_destroy(pm_track_t *t); /* accepts NULL */

void pm_track_click(pm_track_t *t, const pm_config_t *cfg, const pm_http_req_t *req, pm_slice_t token,
                    pm_http_res_t *res);
void pm_track_impression(pm_track_t *t, const pm_config_t *cfg, const pm_http_req_t *req, pm_slice_t token,
                         pm_http_res_t *res);
/* `pixel`: GET /px (click from the visitor's cookie, answers a GIF). */
void pm_track_conversion(pm_track_t *t, const pm_config_t *cfg, const pm_http_req_t *req, bool pixel,
                         pm_http_res_t *res);
void pm_track_go(pm_track_t *t, const pm_config_t *cfg, const pm_http_req_t *req, pm_http_res_t *res);

/* End of an event-loop pass: ask the journal for the fsync that the pass's
 * conversions wait for. Asking once per pass rather than per conversion
 * lets one fsync cover every conversion that arrived in the same pass
 * (group commit), instead of starting a sync for the first one while the
 * rest wait for the next. Owning thread. */
void pm_track_flush(pm_track_t *t);

/* Staging (the server turns it on): clicks and impressions are staged in
 * the journal (pm_journal_stage) instead of written one by one, and their
 * responses carry wait_write; pm_track_write() writes every staged record
 * with one pwrite, after which those responses may go. A failed write is
 * counted per lost record in journal_errors (the visitors still got their
 * redirects: a tracker never blocks them on its disk). Off: every record
 * is written before its handler returns. Owning thread. */
void pm_track_set_staging(pm_track_t *t, bool on);
void pm_track_write(pm_track_t *t);

/* A status change asked for outside a postback (the admin API, an
 * import): the conversion, its new status, optionally a new revenue. */
typedef struct pm_track_status_s {
    pm_id_t conversion_id;
    const char *status;   /* canonical, from pm_status_name() */
    bool has_revenue;
    pm_money_t revenue;
    const char *method;   /* "api" | "import" */
    const char *actor;    /* who: "api:key 3" (copied into the event) */
} pm_track_status_t;

/* Change the status (and/or revenue) of a stored conversion through the
 * journal, like a postback with the same txid would: an unchanged status
 * and revenue records nothing; a transition the lifecycle forbids answers
 * 409; an unknown conversion 404. The answer (postback-style JSON) waits
 * for the fsync (res->wait_lsn). Returns PM_OK when `res` holds a 200, else
 * an error (res holds the JSON error). Owning thread. */
int pm_track_set_status(pm_track_t *t, const pm_config_t *cfg, const pm_track_status_t *req, pm_http_res_t *res);

/* One offline (CRM) conversion, as postback parameters (`params`, an
 * application/x-www-form-urlencoded string: click_id or lead_id, type,
 * status, payout, currency, amount, txid, lead_id): recorded, repeated or
 * changed exactly like a postback with method "import" and `actor`
 * (copied). A row that names no click may name the lead_id of an earlier
 * conversion: the click of that conversion gets the credit. A bad row
 * answers its JSON error in `res` and records nothing (no orphan). A
 * recorded row sets res->wait_lsn. Owning thread. */
void pm_track_import(pm_track_t *t, const pm_config_t *cfg, const char *params, size_t len, const char *actor,
                     pm_http_res_t *res);

/* A traffic source's reported cost of one campaign and local day (cost
 * model "auto"): the day's new total, which replaces any earlier report of
 * the same day (docs/money.md). Journaled; *lsn is what the answer must
 * wait for (res->wait_lsn). PM_OK or the journal's error. Owning thread. */
typedef struct pm_track_cost_s {
    int64_t campaign_id, traffic_source_id;
    pm_time_t day_start, day_end; /* UTC microseconds of the local day */
    pm_money_t cost;
    const char *method, *actor;   /* copied */
} pm_track_cost_t;
int pm_track_report_cost(pm_track_t *t, const pm_track_cost_t *req, uint64_t *lsn) PM_MUST_CHECK;

/* The materializer stored `ev`: drop it from the shared maps. Thread-safe. */
void pm_track_forget(pm_track_shared_t *shared, const pm_event_t *ev);

typedef struct pm_track_stats_s {
    uint64_t clicks, impressions, conversions, status_changes, duplicate_postbacks, orphan_postbacks,
        fallback_redirects, journal_errors, capped_redirects, bot_clicks;
    uint64_t flow_clicks, capped_clicks, bot_path_clicks; /* clicks routed by a flow; of them by cap / bot path */
    uint64_t offer_capped_clicks;                         /* flow clicks that skipped an option whose offer is capped */
    uint64_t creative_capped_clicks;                      /* clicks past their creative's own frequency cap */
    uint64_t js_check_pages;                              /* script-check pages sent (campaign bot_check js) */
    uint64_t lander_clicks;                               /* lander clicks journaled by GET /go */
    uint64_t bot_impressions;                             /* impressions the bot filter flagged */
} pm_track_stats_t;
/* Add this tracker's counters to *out. Thread-safe. */
void pm_track_stats_add(pm_track_t *t, pm_track_stats_t *out);

/* The 43-byte transparent 1x1 GIF the impression and pixel endpoints send. */
extern const unsigned char pm_track_gif[43];

#endif

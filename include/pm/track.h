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

/* The materializer stored `ev`: drop it from the shared maps. Thread-safe. */
void pm_track_forget(pm_track_shared_t *shared, const pm_event_t *ev);

typedef struct pm_track_stats_s {
    uint64_t clicks, impressions, conversions, duplicate_postbacks, orphan_postbacks, fallback_redirects,
        journal_errors, capped_redirects, bot_clicks;
    uint64_t flow_clicks, capped_clicks, bot_path_clicks; /* clicks routed by a flow; of them by cap / bot path */
} pm_track_stats_t;
/* Add this tracker's counters to *out. Thread-safe. */
void pm_track_stats_add(pm_track_t *t, pm_track_stats_t *out);

/* The 43-byte transparent 1x1 GIF the impression and pixel endpoints send. */
extern const unsigned char pm_track_gif[43];

#endif

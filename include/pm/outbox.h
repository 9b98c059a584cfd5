/*
 * outbox.h: server-to-server postbacks out (docs/postbacks.md). When a
 * conversion or a status change of one is materialized, the outbox sink
 * expands the traffic source's (and the campaign partner's) postback URL
 * template with the conversion's values and enqueues the
 * result as a `postbacks` row, inside the materializer's transaction: the
 * enqueue is exactly-once (a replayed conversion is not applied twice) and
 * survives any crash. A worker thread delivers the queue over the libcurl
 * multi interface, never on the tracking path, retrying with exponential
 * backoff and jitter until a 2xx (delivered) or the attempt / age limit
 * (failed). Every attempt is recorded in `postback_attempts`.
 *
 * Delivery is at-least-once: a process killed between a receiver's 2xx and
 * the commit that records it sends that postback again after the restart.
 */
#ifndef PM_OUTBOX_H
#define PM_OUTBOX_H

#include "pm/buf.h"
#include "pm/event.h"
#include "pm/materializer.h"

/* Retry and delivery limits. Zero fields take the defaults noted. */
typedef struct pm_outbox_policy_s {
    int64_t backoff_base_us; /* delay after the first failure; 0 = 30 s */
    int64_t backoff_max_us;  /* cap of one delay; 0 = 1 h */
    unsigned max_attempts;   /* attempts before `failed`; 0 = 10 */
    int64_t max_age_us;      /* since queued: no attempt later than this; 0 = 3 days */
    int64_t timeout_us;      /* one attempt, connect to last byte; 0 = 10 s */
    unsigned concurrency;    /* transfers in flight; 0 = 32 (max 256) */
    int64_t poll_us;         /* re-scan of the queue when idle; 0 = 1 s */
} pm_outbox_policy_t;

/* Fill the zero fields of *p with the defaults. Can't fail. */
void pm_outbox_policy_defaults(pm_outbox_policy_t *p);

/* The delay before the next attempt after `failures` failed ones (>= 1):
 * d = min(max, base * 2^(failures-1)), then "equal jitter": d/2 plus a
 * uniform part of [0, d/2] taken from `rnd` (any 64-bit random value), so
 * receivers that come back are not hit by every queued postback at once.
 * Pure; `p` must have its defaults filled. */
int64_t pm_outbox_backoff_us(const pm_outbox_policy_t *p, unsigned failures, uint64_t rnd);

/* Whether a postback queued at `queued_at` that has used `attempts` of its
 * budget and would next be tried at `next_at` must be given up (failed). */
bool pm_outbox_give_up(const pm_outbox_policy_t *p, unsigned attempts, int64_t queued_at, int64_t next_at);

/* Who a postback is for: the traffic source of the click, or the partner
 * (affiliate) of the campaign. */
typedef enum pm_outbox_target_e { PM_OUTBOX_TO_SOURCE, PM_OUTBOX_TO_PARTNER } pm_outbox_target_t;

/* Expand a postback URL template for conversion or status change `ev`
 * reporting status `status` into `out` (appended). Macros: {clickid}
 * {click_id} {conversion_id} {external_id} {payout} {revenue} {currency}
 * {status} {prev_status} {event} {txid} {type} {campaign_id}
 * {traffic_source_id} {offer_id} {partner_id} {sub1}..{sub10} and the utm_*
 * fields; values are percent-encoded, unknown macros kept. For the traffic
 * source {payout} and {revenue} are both the conversion's value (what the
 * advertiser pays), the tracker convention; for a partner both are the
 * partner's payout (the advertiser's price is not shown to it).
 * {conversion_id} of a status change is its conversion's id.
 * PM_ETOOBIG past out's cap. Pure and thread-safe. */
int pm_outbox_build_url(pm_buf_t *out, const char *tpl, const pm_event_t *ev, const char *status,
                        pm_outbox_target_t target) PM_MUST_CHECK;

/* The materializer sink that enqueues postbacks (stateless across opens). */
extern const pm_sink_ops_t pm_outbox_sink;

/* --- the delivery worker --------------------------------------------- */

typedef struct pm_outbox_s pm_outbox_t;

/* Open a store connection on `db_path` and start the worker thread.
 * Call once per process before other threads use libcurl (it runs
 * curl_global_init). PM_ESTORE, PM_EINVAL (libcurl), -errno. */
int pm_outbox_start(const char *db_path, const pm_outbox_policy_t *policy, pm_outbox_t **out) PM_MUST_CHECK;
/* Stop and join: transfers in flight are abandoned (their rows stay
 * pending and are sent again next start). Accepts NULL. */
void pm_outbox_stop(pm_outbox_t *o);
/* Look at the queue now (new rows, a retry). Thread-safe, async-safe
 * enough for any thread; accepts NULL. */
void pm_outbox_wake(pm_outbox_t *o);

typedef struct pm_outbox_stats_s {
    uint64_t attempts, delivered, failed;          /* this process, counters */
    uint64_t pending, delivered_rows, failed_rows; /* the store, refreshed about once a second */
    uint64_t in_flight;
} pm_outbox_stats_t;
void pm_outbox_stats(pm_outbox_t *o, pm_outbox_stats_t *out); /* thread-safe; zeros for NULL */

#endif

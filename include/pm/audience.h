/*
 * audience.h: the bounded per-visitor memory behind audience conditions
 * ("clicked in the last 7 days but did not convert"): for each visitor the
 * time of the last click and of the last approved conversion, in minutes.
 *
 * 16-byte entries in mutex-protected shards, like the frequency-cap table
 * (pm/fcap.h), but in 8-entry buckets: the least recently active entry of
 * a full bucket is replaced, so memory stays fixed whatever the traffic
 * and a lookup touches two cache lines. Clicks are recorded by the click path after routing (the
 * condition sees the visitor's previous clicks), conversions by the
 * materializer's callback, and both are rebuilt from the store at start.
 * Thread-safe.
 */
#ifndef PM_AUDIENCE_H
#define PM_AUDIENCE_H

#include "pm/event.h"
#include "pm/store.h"

#define PM_AUDIENCE_MAX_DAYS 30 /* the longest look-back a condition may ask for */

typedef struct pm_audience_s pm_audience_t;

/* What is known of one visitor; 0 = never (within what the table holds). */
typedef struct pm_audience_visitor_s {
    int64_t last_click_us, last_conversion_us;
} pm_audience_visitor_t;

/* A table for `visitors` entries (load <= 0.75). Can't fail. */
pm_audience_t *pm_audience_create(size_t visitors);
void pm_audience_destroy(pm_audience_t *a); /* accepts NULL */

/* What the table knows of `visitor`. Thread-safe. */
pm_audience_visitor_t pm_audience_get(pm_audience_t *a, const pm_id_t *visitor);
/* Record a click (or an approved conversion) of `visitor` at `ts_us`; an
 * older time than the one held changes nothing. Thread-safe. */
void pm_audience_click(pm_audience_t *a, const pm_id_t *visitor, int64_t ts_us);
void pm_audience_conversion(pm_audience_t *a, const pm_id_t *visitor, int64_t ts_us);
/* Count a materialized approved conversion. Thread-safe. */
void pm_audience_observe(pm_audience_t *a, const pm_event_t *ev);
/* Rebuild from the store's clicks and approved conversions since
 * `since_us`. PM_ESTORE. */
int pm_audience_load(pm_audience_t *a, pm_store_t *store, int64_t since_us) PM_MUST_CHECK;

#endif

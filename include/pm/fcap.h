/*
 * fcap.h: frequency caps: how many clicks each visitor made in each capped
 * campaign in the current window (UTC hour, UTC day, or the campaign's
 * life), so the click path can send a visitor past the cap to the flow's
 * fallback path.
 *
 * A compact open-addressing table of 16-byte entries (a 64-bit tag of
 * campaign and visitor, the window number, the count), split into shards
 * with a mutex each; 10 million visitors take 256 MiB (bench/fcap_bench.c).
 * When a probe sequence is full the entry of the oldest window is
 * replaced: the table is bounded whatever the traffic. It is rebuilt from
 * the store's clicks at start (pm_fcap_load), so a restart keeps caps.
 * Thread-safe.
 */
#ifndef PM_FCAP_H
#define PM_FCAP_H

#include "pm/flow.h"
#include "pm/id.h"
#include "pm/store.h"

typedef struct pm_fcap_s pm_fcap_t;

/* A table sized for `visitors` entries at a load of at most 0.75 (rounded
 * up to a power of two). Can't fail (allocation aborts). */
pm_fcap_t *pm_fcap_create(size_t visitors);
void pm_fcap_destroy(pm_fcap_t *f); /* accepts NULL */
/* Bytes the table holds (for /metrics and the benchmark). */
size_t pm_fcap_bytes(const pm_fcap_t *f);

/* The scope of creative `creative_id`'s own cap. */
static inline int64_t pm_fcap_creative(int64_t creative_id) { return -creative_id; }

/* Count one click of `visitor` in `scope` at `ts_us` in the window of
 * `per`, and return how many clicks it had in that window before this one
 * (the caller compares with the cap). Thread-safe. */
uint32_t pm_fcap_count(pm_fcap_t *f, int64_t scope, const pm_id_t *visitor, pm_flow_per_t per, int64_t ts_us);

/* How many events `visitor` has in `scope` in the window of `per` at
 * `ts_us`, without counting one. Thread-safe. */
uint32_t pm_fcap_peek(pm_fcap_t *f, int64_t scope, const pm_id_t *visitor, pm_flow_per_t per, int64_t ts_us);

/* Rebuild the counts of `scope` (its campaign's or creative's events) from
 * the store's clicks (or, with `impressions`, its impressions) in the
 * current window of `per` (all of them for life caps). PM_ESTORE. */
int pm_fcap_load(pm_fcap_t *f, pm_store_t *store, int64_t scope, pm_flow_per_t per, bool impressions,
                 int64_t now_us) PM_MUST_CHECK;

#endif

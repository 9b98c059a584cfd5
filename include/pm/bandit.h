/*
 * bandit.h: the clicks and conversions per rotation option that auto
 * rotation (Thompson sampling, pm/flow.h) draws its Beta posteriors from.
 * Keyed by the option key a route reason records, so the counters survive
 * flow edits that keep an option and configuration reloads.
 *
 * Fed from the materializer's on_materialized callback (clicks with a route,
 * conversions that inherited their click's route), rebuilt from the store
 * at start (pm_bandit_load). A fixed-size open-addressing table with atomic
 * slots: lock-free, thread-safe; past its capacity new keys are dropped
 * (those options then sample from the prior).
 */
#ifndef PM_BANDIT_H
#define PM_BANDIT_H

#include "pm/event.h"
#include "pm/store.h"

typedef struct pm_bandit_s pm_bandit_t;

/* A table for up to `capacity` option keys (rounded up to a power of two,
 * at least 64). Can't fail (allocation aborts). */
pm_bandit_t *pm_bandit_create(size_t capacity);
void pm_bandit_destroy(pm_bandit_t *b); /* accepts NULL */

/* Add to the counters of `key`. Thread-safe. */
void pm_bandit_add(pm_bandit_t *b, uint64_t key, uint64_t clicks, uint64_t conversions);
/* The counters of `key` (0, 0 when unknown). Thread-safe. */
void pm_bandit_get(const pm_bandit_t *b, uint64_t key, uint64_t *clicks, uint64_t *conversions);
/* Count a materialized event: a click with a route, or an approved
 * conversion carrying its click's route. Thread-safe. */
void pm_bandit_observe(pm_bandit_t *b, const pm_event_t *ev);
/* Rebuild from the store's routed clicks and their conversions since
 * `since_us`. PM_ESTORE. Call before serving. */
int pm_bandit_load(pm_bandit_t *b, pm_store_t *store, int64_t since_us) PM_MUST_CHECK;

#endif

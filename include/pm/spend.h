/*
 * spend.h: the hot counters behind budgets and caps (docs/budgets.md): per
 * campaign the money spent today and in total, per offer the conversions
 * today and in total. The click path checks and charges them with atomic
 * operations only (no lock, no SQL): a charge that would pass a limit is
 * refused, so a campaign never spends past its budget, whatever the number
 * of event loops charging it at once.
 *
 * "Today" is a local day number in the workspace's time zone
 * (pm_spend_day); a counter remembers the day it counts, so the first
 * charge of a new day starts it from zero: budgets resume at local
 * midnight with no timer.
 *
 * The counters are rebuilt from the store at start (pm_spend_load, after
 * the journal's recovery has materialized everything): the sums of today's
 * and of all cost of clicks, impressions and conversions, and the counts of
 * non-rejected conversions.
 *
 * Thread-safe: every function may be called from any thread at once.
 */
#ifndef PM_SPEND_H
#define PM_SPEND_H

#include "pm/clock.h"
#include "pm/store.h"
#include "pm/tz.h"

typedef struct pm_spend_s pm_spend_t;

/* Room for `capacity` campaigns and as many offers (rounded up to a power
 * of two). Ids past the room are not limited (logged once). Can't fail. */
pm_spend_t *pm_spend_create(size_t capacity);
void pm_spend_destroy(pm_spend_t *s); /* accepts NULL */

/* The local day number (days since 1970-01-01 in `tz`; UTC when NULL) of
 * UTC microseconds `now`. Pure. */
int32_t pm_spend_day(const pm_tz_t *tz, pm_time_t now);
/* The UTC microsecond at which local day `day` starts in `tz`. Pure. */
pm_time_t pm_spend_day_start(const pm_tz_t *tz, int32_t day);

/* Largest daily spend a counter holds (micro-units); budgets above it are
 * refused by the API. */
#define PM_SPEND_DAILY_MAX ((INT64_C(1) << 43) - 1)

/* Charge `cost` (>= 0 micro-units) to campaign `id` on day `day` unless the
 * result would pass `daily_limit` or `total_limit` (0 = no limit), or a
 * limit is already reached. true when charged, false when capped (nothing
 * charged). */
bool pm_spend_charge(pm_spend_t *s, int64_t id, int32_t day, int64_t cost, int64_t daily_limit, int64_t total_limit);
/* Add `cost` unconditionally (impressions, CPA conversions; a negative
 * cost refunds a charge whose event could not be journaled). */
void pm_spend_add(pm_spend_t *s, int64_t id, int32_t day, int64_t cost);
/* Spend of campaign `id` today and in total (0 for an unknown id). */
void pm_spend_get(pm_spend_t *s, int64_t id, int32_t day, int64_t *today, int64_t *total);
/* Whether a charge of `cost` would be refused (the `capped` of the API). */
bool pm_spend_capped(pm_spend_t *s, int64_t id, int32_t day, int64_t cost, int64_t daily_limit, int64_t total_limit);

/* One more conversion for offer `id` on day `day`. */
void pm_spend_count_conversion(pm_spend_t *s, int64_t id, int32_t day);
void pm_spend_conversions(pm_spend_t *s, int64_t id, int32_t day, int64_t *today, int64_t *total);
/* Whether offer `id` reached its cap (0 = none) of conversions per day or
 * in total. */
bool pm_spend_offer_capped(pm_spend_t *s, int64_t id, int32_t day, int64_t daily_cap, int64_t total_cap);

/* Volume tiers (docs/money.md): the local month number (year * 12 +
 * month - 1, in `tz`) of UTC microseconds `now`, and the UTC microsecond
 * at which it starts. Pure. */
int32_t pm_spend_month(const pm_tz_t *tz, pm_time_t now);
pm_time_t pm_spend_month_start(const pm_tz_t *tz, int32_t month);
/* Take the next place of offer `id` in month `month`: 1 for its first
 * conversion of the month, 2, ...; every caller gets a distinct place
 * (atomic). 0 when the offer has no slot (table full). */
int64_t pm_spend_take_place(pm_spend_t *s, int64_t id, int32_t month);
/* The places taken so far in `month` (0 for an unknown id). */
int64_t pm_spend_places(pm_spend_t *s, int64_t id, int32_t month);

/* Rebuild every counter from the store for day pm_spend_day(tz, now) (and
 * the month's places: the offer's conversions of the month not rejected at
 * their first postback).
 * Call before the event loops start. PM_ESTORE. */
int pm_spend_load(pm_spend_t *s, pm_store_t *store, const pm_tz_t *tz, pm_time_t now) PM_MUST_CHECK;

/* The workspace's time zone changed: "today" is another window. Recount
 * every daily counter (and the month's places) from the store for day
 * pm_spend_day(tz, now) (the totals are unchanged). Events journaled but not yet materialized (a few
 * milliseconds' worth) are missed by the recount. PM_ESTORE. */
int pm_spend_recount_today(pm_spend_t *s, pm_store_t *store, const pm_tz_t *tz, pm_time_t now) PM_MUST_CHECK;

#endif

/*
 * ledger.h: the double-entry money ledger (docs/money.md).
 *
 * Every money movement is two legs in ledger_entries (append-only): a debit
 * (+amount) and a credit (-amount) in integer micro-units of one currency,
 * each naming the event that caused it. The legs of a movement sum to zero,
 * so every balance below is exact and the whole ledger sums to zero.
 *
 *   cost of traffic (CPC, CPM, CPA, revshare):  debit cost            credit traffic_source:<id>
 *   revenue of an approved conversion:          debit advertiser:<offer id>  credit revenue
 *   payout of an approved conversion:           debit payout          credit partner:<id>
 *
 * A status change reverses what the old status booked (the same legs,
 * negated) and books what the new one does: only "approved" books money.
 *
 * pm_ledger_sink keeps it, inside the materializer's transaction (see
 * pm/materializer.h), so each movement is written exactly once whatever is
 * replayed, duplicated or materialized out of order (a change before its
 * conversion: the sums commute). The same sink keeps conversion_state (the
 * current status and money of each conversion) and conversion_adjustments
 * (what a change does to reports). Its state belongs to the materializer
 * thread.
 */
#ifndef PM_LEDGER_H
#define PM_LEDGER_H

#include "pm/materializer.h"

extern const pm_sink_ops_t pm_ledger_sink;

/* Account types, as stored in ledger_entries.account_type. */
#define PM_ACCOUNT_ADVERTISER "advertiser"     /* id: the offer (the advertiser side) */
#define PM_ACCOUNT_SOURCE     "traffic_source" /* id: the traffic source */
#define PM_ACCOUNT_PARTNER    "partner"        /* id: the partner */
#define PM_ACCOUNT_REVENUE    "revenue"        /* the workspace's income, id 0 */
#define PM_ACCOUNT_COST       "cost"           /* the workspace's traffic expense, id 0 */
#define PM_ACCOUNT_PAYOUT     "payout"         /* the workspace's partner expense, id 0 */

/* Convert `micros` of a currency at `rate_micros` (units of the target per
 * unit, micro-units: 1.08 = 1080000), rounded half away from zero, without
 * overflow in the intermediate product. PM_ERANGE when the result does not
 * fit. Pure. */
int pm_ledger_convert(int64_t micros, int64_t rate_micros, int64_t *out) PM_MUST_CHECK;

#endif

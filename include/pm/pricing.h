/*
 * pricing.h: what a conversion is worth, on all three sides (docs/money.md):
 * the revenue the workspace earns from the advertiser, the cost it pays the
 * traffic source (CPA and revenue share; CPC and CPM are priced on the
 * click and impression themselves), and the payout it owes the partner who
 * brought the traffic. And the conversion lifecycle: which status may
 * follow which, and what a status books.
 *
 * Pure functions over the configuration snapshot: no allocation, no SQL,
 * safe on the tracking path and from any thread holding the snapshot.
 */
#ifndef PM_PRICING_H
#define PM_PRICING_H

#include "pm/config.h"

/* 100% in percent micros (the unit of every percentage): 1% = 1,000,000. */
#define PM_PERCENT_ONE INT64_C(1000000)

typedef struct pm_price_in_s {
    const pm_campaign_t *campaign; /* may be NULL (deleted since the click) */
    const pm_offer_t *offer;       /* may be NULL */
    const char *type;              /* conversion type, NUL-terminated */
    bool has_revenue;              /* the postback's payout= overrides the revenue */
    pm_money_t revenue;            /* ... with this amount (currency "" = the offer's) */
    bool has_sale;                 /* sale value (amount=), for percent revenue */
    int64_t sale_micros;
    pm_currency_t fallback; /* the workspace currency, when nothing else names one */
    int64_t place;          /* the conversion's place among its offer's of the month (volume tiers); 0 = 1st */
} pm_price_in_t;

typedef struct pm_price_s {
    pm_money_t revenue, cost, payout;
    int64_t partner_id; /* 0 = no partner */
} pm_price_t;

/* Price one conversion. PM_OK, or PM_ERANGE when an amount overflows (the
 * caller answers 400). Amounts are what the conversion is worth whatever its
 * status: pm_status_books() says whether they count. */
int pm_price_conversion(const pm_config_t *cfg, const pm_price_in_t *in, pm_price_t *out) PM_MUST_CHECK;

/* Cost and payout again for a new revenue (a status change that reports a
 * different amount): the fixed parts stay, percentages follow the revenue. */
int pm_price_reprice(const pm_config_t *cfg, const pm_price_in_t *in, pm_price_t *inout) PM_MUST_CHECK;

/* Does offer `offer_id` have volume tiers (a revenue rule with
 * volume_from > 1)? Then its conversions are priced with their place. */
bool pm_price_has_tiers(const pm_config_t *cfg, int64_t offer_id);

/* amount * percent / 100%, rounded half away from zero. PM_ERANGE. */
int pm_price_percent(int64_t micros, int64_t percent, int64_t *out) PM_MUST_CHECK;

/* --- lifecycle ------------------------------------------------------------ */

/* The statuses: "pending", "approved", "rejected", "chargeback", "refund".
 * The canonical (static) spelling of `s` (case-insensitive), or NULL. */
const char *pm_status_name(const char *s, size_t len);
/* May a conversion in status `from` move to `to`? pending -> approved |
 * rejected; approved -> chargeback | refund; a status to itself (with other
 * money) is allowed for pending and approved. Rejected, chargeback and
 * refund are final. */
bool pm_status_transition_ok(const char *from, const char *to);
/* Does a conversion in this status book its money (ledger, revenue, cost,
 * payout)? Only "approved". */
bool pm_status_books(const char *status);
/* May a conversion start in this status (its first postback)? pending,
 * approved, rejected. */
bool pm_status_initial(const char *status);

#endif

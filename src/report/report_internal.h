/*
 * report_internal.h: what the files of the report module share (and unit
 * tests include): the dimension table, the cube table, how an event becomes
 * rollup cells, and how an event row is read back from the store.
 *
 * The one rule that keeps rollups and raw scans exactly equal: both turn
 * an event into dimension values (pm__rp_event_values) and cells
 * (pm__rp_cells) with the same functions below; only where the event comes
 * from differs (the materializer, or a row of the event tables).
 */
#ifndef PM_REPORT_INTERNAL_H
#define PM_REPORT_INTERNAL_H

#include "pm/event.h"
#include "pm/report.h"

#include <sqlite3.h>

/* Rollup time buckets: 15 minutes (every zone in use today has offsets and
 * transitions on quarter hours: India +5:30, Nepal +5:45, Chatham +12:45),
 * UTC days, and ISO weeks in UTC (Monday to Sunday; day 4 of the epoch was
 * a Monday). See docs/reports.md for the measured trade-off. */
#define PM__RP_FINE_SEC     900
#define PM__RP_DAY_SEC      86400
#define PM__RP_FINE_US      ((int64_t)PM__RP_FINE_SEC * PM_USEC_PER_SEC)
#define PM__RP_DAY_US       ((int64_t)PM__RP_DAY_SEC * PM_USEC_PER_SEC)
#define PM__RP_FINE_PER_DAY (PM__RP_DAY_SEC / PM__RP_FINE_SEC)
#define PM__RP_WEEK_DAYS    7
#define PM__RP_WEEK_DAY0    4 /* the first day of week 0: 1970-01-05, a Monday */

/* Floor division for bucket numbers (timestamps before 1970 stay correct). */
static inline int64_t pm__rp_floordiv(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* --- counters of a rollup row (column order of every rollup table) ------- */

enum {
    PM__RC_IMPRESSIONS,
    PM__RC_CLICKS,
    PM__RC_UNIQUE_CLICKS,
    PM__RC_CONVERSIONS, /* approved */
    PM__RC_PENDING,
    PM__RC_REJECTED, /* rejected and any other non-approved, non-pending status */
    PM__RC_COST,     /* micros in the row's currency */
    PM__RC_REVENUE,  /* approved */
    PM__RC_PENDING_REVENUE,
    PM__RC_PAYOUT,          /* approved */
    PM__RC_MONEY_EVENTS,    /* events that put money into this row */
    PM__RC_BOT_CLICKS,      /* clicks the bot filter flagged: in no other counter */
    PM__RC_CHARGEBACKS,     /* charged back or refunded (counted nowhere else) */
    PM__RC_LANDER_VISITS,   /* human clicks sent to a lander */
    PM__RC_LANDER_CLICKS,   /* human lander clicks (GET /go): the lander led on to its offer */
    PM__RC_BOT_IMPRESSIONS, /* impressions the bot filter flagged: in no other counter */
    PM__RC_COUNT
};
extern const char *const pm__rp_counter_cols[PM__RC_COUNT];

/* One row's worth of an event: its currency ("" when it moves no money)
 * and counter increments. An event gives 1 to 3 cells: cell 0 carries the
 * counts (and the money of its currency); another currency among cost,
 * revenue and payout gets a cell of its own, so sums never mix currencies. */
typedef struct pm__rp_cell_s {
    char currency[4];
    int64_t c[PM__RC_COUNT];
} pm__rp_cell_t;

#define PM__RP_MAX_CELLS 3

/* The cells of `ev` (`unique`: this click is the first of its visitor in
 * its campaign that UTC day). 0 for events reports ignore (orphans). */
int pm__rp_cells(const pm_event_t *ev, bool unique, pm__rp_cell_t out[PM__RP_MAX_CELLS]);

/* --- dimensions -------------------------------------------------------------- */

typedef enum pm__rp_dkind_e { PM__DK_TIME, PM__DK_ENTITY, PM__DK_TEXT } pm__rp_dkind_t;
typedef enum pm__rp_tunit_e { PM__TU_HOUR, PM__TU_DAY, PM__TU_WEEK, PM__TU_MONTH } pm__rp_tunit_t;

/* Where a dimension's value comes from in an event. */
typedef enum pm__rp_src_e {
    PM__SRC_NONE,
    PM__SRC_CAMPAIGN,
    PM__SRC_SOURCE,
    PM__SRC_OFFER,
    PM__SRC_LANDER,
    PM__SRC_CREATIVE,
    PM__SRC_PARTNER,
    PM__SRC_LANGUAGE,  /* normalized: primary subtag of the first Accept-Language range */
    PM__SRC_CONV_TYPE, /* conversions only; "" for clicks and impressions */
    PM__SRC_STR,       /* the event string field `str` as is */
} pm__rp_src_t;

typedef struct pm__rp_dim_s {
    const char *name; /* API name: "campaign", "sub1", "day" */
    pm__rp_dkind_t kind;
    pm__rp_tunit_t unit; /* time dimensions */
    pm__rp_src_t src;
    pm_event_str_t str; /* PM__SRC_STR */
    const char *column; /* column in the event and cube tables; entity: "<x>_id" */
    const char *label;  /* entity: the name key in rows ("campaign_name"); table below */
    const char *table;  /* entity: where names live */
    int code;           /* > 0: kept in the per-dimension cube under this code (on disk: never reuse);
                         * entity ids are kept there as text */
    bool shared;        /* values shared by most campaigns (a country, a browser): the cube's
                         * 15-minute tier also keeps this dimension's rows summed over all
                         * campaigns, which cost little and answer reports across campaigns */
} pm__rp_dim_t;

extern const pm__rp_dim_t pm__rp_dims[];
extern const int pm__rp_ndims;
#define PM__RP_MAX_DIMS 40

/* Index of the dimension named (name, len), or -1. */
int pm__rp_dim_find(const char *name, size_t len);
/* Index of the dimension with source `src` (not STR), or -1. */
int pm__rp_dim_by_src(pm__rp_src_t src);

/* A dimension value: entities use i (0 = none), text uses s/len ("" = none). */
typedef struct pm__rp_val_s {
    int64_t i;
    const char *s;
    uint32_t len;
} pm__rp_val_t;

/* Whether a value is "none" (entity id 0, empty text). */
static inline bool pm__rp_val_empty(const pm__rp_dim_t *d, const pm__rp_val_t *v)
{
    return d->kind == PM__DK_ENTITY ? v->i == 0 : v->len == 0;
}

typedef struct pm__rp_vals_s {
    pm__rp_val_t v[PM__RP_MAX_DIMS]; /* by dimension index; time dimensions unused */
    char language[12];
} pm__rp_vals_t;

/* The value of every non-time dimension of `ev` (borrowing ev's strings).
 * Can't fail. */
void pm__rp_event_values(const pm_event_t *ev, pm__rp_vals_t *out);

/* Normalize an Accept-Language header to its first primary language subtag
 * in lower case ("en-US,en;q=0.9" -> "en"), "" when there is none. `out`
 * holds 12 bytes. Returns the length. */
size_t pm__rp_language(const char *s, size_t len, char *out);

/* --- cubes --------------------------------------------------------------------- */

/* Column kinds of a cube table's key. */
typedef enum pm__rp_colk_e {
    PM__COL_DIM,    /* the dimension's column */
    PM__COL_BUCKET, /* 15-minute or day number */
    PM__COL_CODE,   /* per-dimension cube: which dimension (pm__rp_dim_t.code) */
    PM__COL_VALUE,  /* per-dimension cube: its value */
    PM__COL_CURRENCY,
    PM__COL_END
} pm__rp_colk_t;

typedef struct pm__rp_col_s {
    pm__rp_colk_t kind;
    int dim; /* PM__COL_DIM */
} pm__rp_col_t;

#define PM__RP_MAX_COLS 10

typedef struct pm__rp_cube_s {
    const char *name;                   /* "campaign", "main", "dim" */
    const char *table;                  /* prefix; tiers are <table>_q (15 min), _d (UTC day), _w (week) */
    pm__rp_col_t cols[PM__RP_MAX_COLS]; /* key columns in primary-key order, PM__COL_END-terminated */
    bool per_dim;                       /* one row set per coded dimension, empty values not stored */
} pm__rp_cube_t;

/* In the planner's order of preference (smallest first for what it covers). */
enum { PM__CUBE_CAMPAIGN, PM__CUBE_DIM, PM__CUBE_MAIN, PM__CUBE__COUNT };

/* The campaign cube (every tier) and the per-dimension cube's day and week
 * tiers also keep their rows summed over every campaign and source, under this
 * campaign id (and source id): a report that neither groups nor filters by
 * campaign or source reads one row per value and bucket, not one per
 * campaign (the per-dimension cube's few quarter-hour corrections come from
 * its per-campaign rows; counters add up either way). */
#define PM__RP_ALL_CAMPAIGNS     (-1)
#define PM__RP_ALL_CAMPAIGNS_STR "-1"
extern const pm__rp_cube_t pm__rp_cubes[PM__CUBE__COUNT];

/* Tables <table>_q, <table>_d, <table>_w. */
enum { PM__TIER_FINE, PM__TIER_DAY, PM__TIER_WEEK, PM__TIER__COUNT };
extern const char pm__rp_tier_suffix[PM__TIER__COUNT];

/* The week of UTC day number `day`, and the first day of week `week`. */
static inline int64_t pm__rp_week_of_day(int64_t day)
{
    return pm__rp_floordiv(day - PM__RP_WEEK_DAY0, PM__RP_WEEK_DAYS);
}
static inline int64_t pm__rp_week_start(int64_t week)
{
    return week * PM__RP_WEEK_DAYS + PM__RP_WEEK_DAY0;
}

/* Bucket number of `ts` (UTC microseconds) in a tier. */
static inline int64_t pm__rp_bucket(int tier, pm_time_t ts)
{
    if (tier == PM__TIER_FINE) return pm__rp_floordiv(ts, PM__RP_FINE_US);
    int64_t day = pm__rp_floordiv(ts, PM__RP_DAY_US);
    return tier == PM__TIER_DAY ? day : pm__rp_week_of_day(day);
}

/* Whether cube `c` holds dimension `dim` (for the per-dimension cube: the
 * shared columns, or `dim` == coded dimension `coded`). */
bool pm__rp_cube_has(const pm__rp_cube_t *c, int coded, int dim);

/* Column name of a key column. */
const char *pm__rp_col_name(const pm__rp_col_t *col);

/* "codes signature" of the rollups on disk: when it changes (a dimension
 * gains a code, the bucket size changes), the rollups are rebuilt. */
void pm__rp_signature(char *out, size_t cap); /* cap >= 512 */

/* --- events read back from the store ----------------------------------------- */

/* SELECT text for the event table of `type` (click, impression,
 * conversion) with a WHERE/ORDER tail appended by the caller (`tail`),
 * columns in the order pm__rp_row_event reads, then the rowid, then for
 * clicks `with_first` a column telling whether the click is the first of
 * its visitor in its campaign that UTC day (a window function: the raw
 * path's own formulation of unique clicks). Written to `out`. */
void pm__rp_event_select(pm_event_type_t type, bool with_first, const char *tail, char *out, size_t cap);

/* Fill `ev` from the current row of a statement prepared from
 * pm__rp_event_select; strings borrow from the statement (valid until its
 * next step). */
void pm__rp_row_event(sqlite3_stmt *st, pm_event_type_t type, pm_event_t *ev);
int pm__rp_rowid_col(void); /* index of the rowid column */
int pm__rp_sign_col(void);  /* index of the sign column: -1 or +1 (adjustments), 1 otherwise */
int pm__rp_first_col(void); /* index of the "first" column (clicks, with_first) */

/* The event tables, in the order rollups consume them. PM_EV_STATUS_CHANGE
 * stands for conversion_adjustments: what status changes do to reports,
 * rows shaped like conversions with a sign (docs/money.md). */
#define PM__RP_NTABLES 6 /* PM_EV_COST_REPORT: cost_adjustments, reported cost spread over clicks */
extern const pm_event_type_t pm__rp_tables[PM__RP_NTABLES];
const char *pm__rp_table_name(pm_event_type_t type);

/* --- unique clicks: who holds the credit ------------------------------------- */

/* The credit of a (UTC day, campaign, visitor) goes to its first click by
 * id. report_seen holds it for the rolled-up clicks; a pm__rp_credits_t is
 * an overlay in memory over it, for the clicks being rolled up (written
 * back with pm__rp_credits_save) or, at query time, for the clicks not
 * rolled up yet (never written). */
typedef struct pm__rp_credits_s pm__rp_credits_t;
int pm__rp_credits_create(sqlite3 *db, pm__rp_credits_t **out) PM_MUST_CHECK;
void pm__rp_credits_destroy(pm__rp_credits_t *c);           /* accepts NULL */
int pm__rp_credits_save(pm__rp_credits_t *c) PM_MUST_CHECK; /* the changed credits into report_seen */

/* --- feeding events to an aggregator ------------------------------------------ */

/* Receives an event's cells with a sign: +1 as it comes, -1 (unique clicks
 * only) for a click that loses its credit to an earlier one. */
typedef void (*pm__rp_emit_fn)(void *ctx, const pm_event_t *ev, const pm__rp_cell_t *cells, int n, int sign);

typedef struct pm__rp_feed_s {
    sqlite3 *db;
    pm__rp_credits_t *credits;
    pm__rp_emit_fn emit;
    void *ctx;
} pm__rp_feed_t;

/* Feed the rows of the `type` table with rowid > `after`, in rowid order
 * (the tail: a catch-up merges the tables instead, rollup.c); *last = the
 * last rowid fed (after when none), *count = rows fed. PM_OK or PM_ESTORE. */
int pm__rp_feed(const pm__rp_feed_t *f, pm_event_type_t type, int64_t after, int64_t *last,
                int64_t *count) PM_MUST_CHECK;

/* How far the rollups have consumed table `type` (a rowid; 0 = nothing). */
int pm__rp_hwm_get(sqlite3 *db, pm_event_type_t type, int64_t *rowid) PM_MUST_CHECK;

/* A workspace setting (its default when unset) into out[cap], read on
 * `db` (the settings table). PM_OK or PM_ESTORE. */
int pm__rp_setting(sqlite3 *db, const char *key, char *out, size_t cap) PM_MUST_CHECK;

/* --- the sink's engine, shared with rebuild --------------------------------- */

typedef struct pm__rp_rollup_s pm__rp_rollup_t;
int pm__rp_rollup_open(sqlite3 *db, pm__rp_rollup_t **out) PM_MUST_CHECK;
void pm__rp_rollup_close(pm__rp_rollup_t *r);
/* Roll up at most `max_rows` event rows past the watermarks, in the
 * caller's transaction; *more = rows remain. */
int pm__rp_catch_up(pm__rp_rollup_t *r, int64_t max_rows, bool *more) PM_MUST_CHECK;

#endif

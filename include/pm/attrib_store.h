/*
 * attrib_store.h: journeys from the store. For a time range and lookback
 * windows, read the clicks, impressions and conversions perfmark recorded,
 * join visitors across devices through an identity graph (union-find over
 * visitor ids linked by a shared user id or email hash), cut each person's
 * touches into journeys at their approved conversions, and feed them to a
 * pm_attrib_journeys_t (pm/attrib.h) for any model. Definitions:
 * docs/attribution.md, "Journeys from the store".
 *
 * A pm_attrib_query_t is built from named parameters, the query-string names
 * of GET /api/v1/attribution (the CLI maps its flags onto them), so both
 * surfaces validate alike. The loader only reads: it runs in one read
 * transaction on the caller's connection (a read-only one is fine, so the
 * CLI works while the server runs).
 *
 * Thread safety: a query belongs to one thread; the loader touches nothing
 * global.
 */
#ifndef PM_ATTRIB_STORE_H
#define PM_ATTRIB_STORE_H

#include "pm/attrib.h"
#include "pm/clock.h"

typedef struct sqlite3 sqlite3;

typedef enum pm_attrib_by_e {
    PM_ATTRIB_BY_CHANNEL,  /* channel = traffic source name */
    PM_ATTRIB_BY_CAMPAIGN, /* channel = campaign id in decimal ("12") */
} pm_attrib_by_t;

#define PM_ATTRIB_LOOKBACK_MAX_DAYS 365
#define PM_ATTRIB_RANGE_MAX_DAYS 400
#define PM_ATTRIB_MAX_EVENTS_DEFAULT ((size_t)50 * 1000 * 1000)
#define PM_ATTRIB_STORE_MAX_TOUCHES 1000 /* per journey: the most recent are kept */

typedef struct pm_attrib_query_s {
    /* Parameters (defaults from pm_attrib_query_init). */
    char *from_text, *to_text, *tz_text; /* owned; NULL = default */
    bool all_models;                     /* model=all */
    pm_attrib_model_t model;             /* markov */
    pm_attrib_options_t opts;            /* order -> opts.markov_order */
    pm_attrib_by_t by;                   /* channel */
    int click_lookback_days;             /* 30 */
    int impression_lookback_days;        /* 1 */
    bool impressions;                    /* include (true) */
    size_t max_events;                   /* PM_ATTRIB_MAX_EVENTS_DEFAULT: cap on events read (STYLE 11) */
    /* Resolved by pm_attrib_store_load. */
    pm_time_t from, to;                  /* UTC microseconds, [from, to) */
    char tz[128];                        /* the zone dates were read in */
    char currency[4];                    /* the reporting currency */
} pm_attrib_query_t;

typedef struct pm_attrib_error_s {
    const char *field; /* the parameter at fault (static), or NULL */
    int status;        /* HTTP status: 422 for the request, 500 for the store */
    const char *code;  /* "invalid", "too_big", "internal" */
    char message[256];
} pm_attrib_error_t;

/* Defaults as above. Can't fail. Release with pm_attrib_query_free. */
void pm_attrib_query_init(pm_attrib_query_t *q);
void pm_attrib_query_free(pm_attrib_query_t *q); /* accepts NULL */

/* Whether `name` is a parameter pm_attrib_query_param knows: model, order,
 * from, to, tz, by, click_lookback, impression_lookback, impressions. */
bool pm_attrib_query_param_known(const char *name);

/*
 * Set parameter `name` to `value[0..len)` (copied). from/to: YYYY-MM-DD
 * (local days in tz; `to` is inclusive) or RFC 3339; model: a model name or
 * "all"; order 1..8; by: channel|campaign; lookbacks: whole days
 * 0..PM_ATTRIB_LOOKBACK_MAX_DAYS; impressions: include|exclude. PM_EINVAL
 * with *err (status 422, field = the parameter) for a bad value or an
 * unknown name.
 */
int pm_attrib_query_param(pm_attrib_query_t *q, const char *name, const char *value, size_t len,
                          pm_attrib_error_t *err) PM_MUST_CHECK;

/* What the loader found. */
typedef struct pm_attrib_load_stats_s {
    uint64_t converting_journeys, null_journeys;
    uint64_t conversions;       /* approved conversions in range that were attributed */
    int64_t value_micros;       /* their revenue, in the reporting currency */
    uint64_t other_currency;    /* approved conversions in range left out: revenue in another currency */
    uint64_t untouched;         /* approved conversions in range with no touch in the lookback windows */
    uint64_t truncated;         /* journeys cut to their last PM_ATTRIB_STORE_MAX_TOUCHES touches */
    uint64_t events;            /* clicks, impressions and conversions read */
    uint64_t linked_visitors;   /* visitor ids joined to at least one other through an identity */
} pm_attrib_load_stats_t;

/*
 * Resolve q's range (time zone: q->tz_text, else the workspace setting) and
 * currency (the workspace setting), read the events of the range and its
 * lookback windows from `db`, and add one journey per approved conversion in
 * [from, to) and one null journey per person whose touches in range were
 * not followed by a conversion. Channels are interned in `j` as they are
 * met. OUT: *stats, q->from/to/tz/currency.
 *
 * PM_OK; PM_EINVAL (err->status 422: a bad tz, to <= from, a range over
 * PM_ATTRIB_RANGE_MAX_DAYS); PM_ETOOBIG (422 "too_big": more than
 * q->max_events events, or a container cap); PM_ESTORE (500). On failure
 * `j` may hold part of the journeys.
 */
int pm_attrib_store_load(sqlite3 *db, pm_attrib_query_t *q, pm_attrib_journeys_t *j, pm_attrib_load_stats_t *stats,
                         pm_attrib_error_t *err) PM_MUST_CHECK;

#endif

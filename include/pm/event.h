/*
 * event.h: the event model. Every fact perfmark tracks (an impression, a
 * click, a conversion, an orphan postback) is one pm_event_t. The tracking
 * path fills one, encodes it into a journal record, and the materializer
 * decodes the record and writes it to the store. Later capabilities
 * (pricing, routing, attribution) add fields as new tags: the encoding is
 * tag-length-value, decoders skip tags they do not know, so old journals stay
 * readable and new fields need no format break.
 *
 * Record payload layout (all integers little-endian):
 *   u8 version (=1) | u8 type | then fields, each: u8 tag | varint len | bytes
 * Integer fields are 8 bytes, ids 16 bytes, currencies 3 bytes, strings
 * their UTF-8 bytes (already sanitized by the tracking path).
 *
 * Decoded strings borrow from the record buffer. Pure and thread-safe.
 */
#ifndef PM_EVENT_H
#define PM_EVENT_H

#include "pm/buf.h"
#include "pm/clock.h"
#include "pm/id.h"
#include "pm/money.h"

typedef enum pm_event_type_e {
    PM_EV_NONE = 0,
    PM_EV_CLICK = 1,
    PM_EV_IMPRESSION = 2,
    PM_EV_CONVERSION = 3,
    PM_EV_ORPHAN = 4, /* a postback we could not attribute (data-quality report) */
    /* A conversion's status or money changed (a later postback with the same
     * txid, PATCH /api/v1/conversions/{id}, an import). It carries the whole
     * conversion as it now is (ids, dimensions, new status and money) and
     * what it was before (prev_*), so whoever applies it needs no lookup and
     * changes commute: see docs/money.md. */
    PM_EV_STATUS_CHANGE = 5,
    /* The cost a traffic source reported for one campaign and local day
     * (cost model "auto"): the new total, spread over that day's clicks. */
    PM_EV_COST_REPORT = 6,
    /* The visitor left a lander for its offer (GET /go): a copy of the
     * click's dimensions and visitor context with click_id = the click, its
     * own id and time, no money. Lander CTR = lander clicks / lander visits. */
    PM_EV_LANDER_CLICK = 7,
    PM_EV__MAX
} pm_event_type_t;

/* String fields. The order is part of the journal format: append only. */
typedef enum pm_event_str_e {
    PM_EVS_IP,          /* truncated per workspace setting, text form */
    PM_EVS_USER_AGENT,
    PM_EVS_REFERRER,
    PM_EVS_LANGUAGE,    /* Accept-Language as sent (capped) */
    PM_EVS_SUB1,
    PM_EVS_SUB2,
    PM_EVS_SUB3,
    PM_EVS_SUB4,
    PM_EVS_SUB5,
    PM_EVS_SUB6,
    PM_EVS_SUB7,
    PM_EVS_SUB8,
    PM_EVS_SUB9,
    PM_EVS_SUB10,
    PM_EVS_UTM_SOURCE,
    PM_EVS_UTM_MEDIUM,
    PM_EVS_UTM_CAMPAIGN,
    PM_EVS_UTM_CONTENT,
    PM_EVS_UTM_TERM,
    PM_EVS_EXTERNAL_ID, /* the traffic source's own click id */
    PM_EVS_TXID,        /* conversion: transaction id from the advertiser */
    PM_EVS_STATUS,      /* conversion: approved | pending | rejected | ... */
    PM_EVS_CONV_TYPE,   /* conversion: lead | sale | install | ... */
    PM_EVS_METHOD,      /* conversion/orphan: "postback" | "pixel" */
    PM_EVS_REASON,      /* orphan: unknown_click | missing_clickid | ... */
    PM_EVS_QUERY,       /* orphan: the raw parameters received (capped) */
    PM_EVS_DEST_URL,    /* click: the URL the visitor was sent to */
    PM_EVS_USER_ID,     /* the advertiser's user id (?uid= or ?user_id=): links devices */
    PM_EVS_EMAIL_HASH,  /* conversion: SHA-256 hex of the trimmed, lower-cased ?email= */
    /* Visitor context, detected on the click path (src/route): filled by the
     * geo / user-agent / bot detectors, read by flow rules and reports. */
    PM_EVS_COUNTRY,         /* ISO 3166-1 alpha-2, upper case; empty if unknown */
    PM_EVS_REGION,          /* ISO 3166-2 subdivision code when the database has one */
    PM_EVS_DEVICE_TYPE,     /* desktop | mobile | tablet | tv | console | bot | other */
    PM_EVS_OS,              /* uap-core os family ("iOS", "Windows") */
    PM_EVS_OS_VERSION,      /* "17.2" */
    PM_EVS_BROWSER,         /* uap-core user-agent family ("Chrome Mobile") */
    PM_EVS_BROWSER_VERSION, /* "120.0" */
    PM_EVS_BOT_REASON,      /* empty for humans; else a reason code (ua_crawler, datacenter_ip, velocity, ...) */
    PM_EVS_ROUTE,           /* click: how the destination was chosen (rule, path, option, weights) */
    /* Money (docs/money.md). */
    PM_EVS_PREV_STATUS, /* status change: the status before */
    PM_EVS_ACTOR,       /* status change: who changed it ("postback", "api:key 3", "import:file.csv") */
    PM_EVS_LEAD_ID,     /* conversion: the advertiser's own id for the lead (CRM imports credit it later) */
    PM_EVS__COUNT
} pm_event_str_t;

typedef struct pm_str_s {
    const char *p; /* not NUL-terminated in decoded events */
    uint32_t len;
} pm_str_t;

typedef struct pm_event_s {
    pm_event_type_t type;
    pm_id_t id;         /* unique; the idempotency key of replay */
    pm_time_t ts;       /* UTC microseconds */
    pm_id_t visitor_id; /* zero if none */
    pm_id_t click_id;   /* conversion: the click it is credited to */
    int64_t campaign_id, traffic_source_id, offer_id, lander_id; /* 0 = none */
    pm_money_t cost;    /* what the workspace pays for this event (CPC/CPM) */
    pm_money_t revenue; /* conversion: what the workspace earns */
    pm_money_t payout;  /* conversion: what the workspace pays a partner */
    int64_t partner_id; /* conversion: the partner the payout goes to (0 = none) */
    /* Status changes (PM_EV_STATUS_CHANGE): */
    pm_id_t ref_id;     /* the conversion's own id */
    pm_time_t ref_ts;   /* the conversion's time (reports count the change there) */
    int64_t version;    /* 1, 2, ...: the n-th change of this conversion (the conversion itself is 0) */
    pm_money_t prev_cost, prev_revenue, prev_payout; /* the amounts before the change */
    pm_time_t ref_end;  /* cost report: the day is [ref_ts, ref_end) */
    int64_t place;      /* conversion: its place among its offer's conversions of the month (volume tiers); 0 = none */
    int64_t creative_id; /* click/impression: the campaign's creative (creative_id= / crid=); conversion: its click's; 0 = none */
    pm_str_t s[PM_EVS__COUNT];
} pm_event_t;

/* Name of a type ("click", "impression", "conversion", "orphan") or NULL. */
const char *pm_event_type_name(pm_event_type_t t);
/* Column-style name of a string field ("ip", "user_agent", "sub1", ...). */
const char *pm_event_str_name(pm_event_str_t f);

/* Set a string field (borrowed: the memory must outlive encoding). */
static inline void pm_event_set(pm_event_t *ev, pm_event_str_t f, const char *p, size_t len)
{
    ev->s[f].p = p;
    ev->s[f].len = (uint32_t)len;
}

/* Append the encoded record payload to `out`. Zero/empty fields are
 * omitted. PM_ETOOBIG if out's cap is reached. */
int pm_event_encode(const pm_event_t *ev, pm_buf_t *out) PM_MUST_CHECK;

/* Decode a payload. Strings borrow from `p`. Unknown tags are skipped.
 * PM_ECORRUPT for a truncated field, a bad length or an unknown version. */
int pm_event_decode(const void *p, size_t len, pm_event_t *out) PM_MUST_CHECK;

#endif

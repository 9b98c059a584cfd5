/*
 * detect.h: the visitor detectors together, as the tracking path uses
 * them: where the visitor is (pm/geo.h), what it browses with (pm/ua.h),
 * and whether it is a bot (pm/bot.h), for one click or impression.
 *
 * A pm_detect_t holds the shared, read-only parts (the geo database, the
 * compiled uap-core regexes, the bot filter) and is thread-safe; each event
 * loop makes its own pm_detect_local_t (UA parser and its LRU cache), which
 * is not.
 */
#ifndef PM_DETECT_H
#define PM_DETECT_H

#include "pm/bot.h"
#include "pm/geo.h"
#include "pm/event.h"
#include "pm/ua.h"

typedef struct pm_detect_config_s {
    const char *geoip_file;      /* NULL = the built-in DB-IP country lite database */
    const char *datacenter_file; /* NULL = no data-center list */
    const char *datacenter_text; /* the list as text, when there is no file */
    int velocity_limit;          /* clicks per address per minute; 0 = off, < 0 = default */
    size_t ua_cache_entries;     /* per loop; 0 = default (4096) */
} pm_detect_config_t;

typedef struct pm_detect_s pm_detect_t;
typedef struct pm_detect_local_s pm_detect_local_t;

/* What the detectors say about one visitor: strings, "" when unknown. */
typedef struct pm_visitor_s {
    char country[3];
    char region[8];
    const char *device_type; /* static: "desktop", "mobile", ... */
    char os[PM_UA_NAME_MAX];
    char os_version[2 * PM_UA_VER_MAX];
    char browser[PM_UA_NAME_MAX];
    char browser_version[2 * PM_UA_VER_MAX];
    const char *bot_reason; /* static reason code, or NULL for a human */
} pm_visitor_t;

/* Load everything (logged on failure: a bad --geoip or CIDR file). */
int pm_detect_create(const pm_detect_config_t *cfg, pm_detect_t **out) PM_MUST_CHECK;
void pm_detect_destroy(pm_detect_t *d); /* accepts NULL */
/* One line on what was loaded, for the server's start-up log. */
void pm_detect_describe(const pm_detect_t *d, char *out, size_t cap);

/* A loop's parser over `d` (borrowed). Can't fail. */
pm_detect_local_t *pm_detect_local_create(pm_detect_t *d);
void pm_detect_local_destroy(pm_detect_local_t *l); /* accepts NULL */

/* Detect a visitor from its full client address and user agent (`ua_len`
 * 0 = none sent). `click` counts toward the address's velocity. Can't fail. */
void pm_detect_visitor(pm_detect_local_t *l, const pm_ip_t *ip, const char *ua, size_t ua_len, bool click,
                       pm_time_t now, pm_visitor_t *out);

/* Set the event's visitor-context fields (PM_EVS_COUNTRY ... BOT_REASON)
 * from `v`, leaving unknown ones empty. The strings are borrowed from `v`:
 * it must outlive the event's encoding. Can't fail. */
void pm_detect_fill_event(const pm_visitor_t *v, pm_event_t *ev);

/* The loop's UA cache counters (for /metrics). */
pm_ua_cache_stats_t pm_detect_ua_cache(const pm_detect_local_t *l);

#endif

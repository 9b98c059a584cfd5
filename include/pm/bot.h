/*
 * bot.h: the first line of bot detection on the click path. A visitor is
 * flagged with the first of these reason codes that applies (the order of
 * the list), written to the event's bot_reason:
 *
 *   empty_ua       no User-Agent header at all
 *   ua_crawler     the UA matches the crawler-user-agents list (npm
 *                  crawler-user-agents, MIT: regex patterns, built in)
 *   ua_spider      uap-core classifies the device as "Spider"
 *   datacenter_ip  the client address is in the data-center CIDR list
 *                  (`perfmark serve --datacenter-cidrs FILE`)
 *   velocity       more than N clicks from the address within the current
 *                  UTC minute (`--bot-velocity N`, default 60; 0 = off)
 *
 * Bots are still redirected and recorded; reports count them apart
 * (docs/routing.md). The velocity counters live in a fixed table (bounded
 * memory whatever the number of addresses: a flood of new addresses evicts
 * the quietest ones first).
 *
 * A pm_bot_t is shared by all event loops: the crawler regex and the CIDR
 * list are read-only, the velocity table is lock-striped. Thread-safe.
 */
#ifndef PM_BOT_H
#define PM_BOT_H

#include "pm/clock.h"
#include "pm/iplist.h"
#include "pm/ua.h"

typedef struct pm_bot_s pm_bot_t;

typedef struct pm_bot_config_s {
    const char *datacenter_file; /* CIDR list (pm/iplist.h format); NULL = none */
    const char *datacenter_text; /* the same as text, used when there is no file (the simulator's) */
    int velocity_limit;          /* clicks per address per minute; 0 = off, < 0 = default (60) */
    size_t velocity_slots;       /* addresses tracked at once; 0 = default (65536) */
} pm_bot_config_t;

#define PM_BOT_DEFAULT_VELOCITY 60
#define PM_BOT_TAG_CRAWLER      1u /* pm_ua_t.tags bit set by pm_bot_ua_tagger */

/* Build the filter: compiles the built-in crawler list, reads the CIDR
 * file. PM_ENOTFOUND / PM_EINVAL (logged) for a missing or bad CIDR file. */
int pm_bot_create(const pm_bot_config_t *cfg, pm_bot_t **out) PM_MUST_CHECK;
void pm_bot_destroy(pm_bot_t *b); /* accepts NULL */

/* The pm_ua_tagger_fn that runs the crawler list (arg = the pm_bot_t):
 * install it on each loop's UA parser so the list runs once per distinct
 * user agent. Returns PM_BOT_TAG_CRAWLER or 0. */
uint32_t pm_bot_ua_tagger(void *bot, const char *ua, size_t len);
/* How many crawler patterns are compiled in. */
size_t pm_bot_crawler_patterns(const pm_bot_t *b);

/* The reason code for a visitor, or NULL for a human. `ua` is the parse
 * of its user agent (tagged by pm_bot_ua_tagger), `has_ua` whether it sent
 * a non-empty one, `ip` its full (untruncated) address. `click` counts
 * this request toward the address's velocity (impressions are checked but
 * not counted). Thread-safe; never allocates. */
const char *pm_bot_check(pm_bot_t *b, const pm_ip_t *ip, bool has_ua, const pm_ua_t *ua, bool click, pm_time_t now);

#endif

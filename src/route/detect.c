/*
 * detect.c: geo + user agent + bot filter for one visitor (see
 * pm/detect.h). The crawler list runs as the UA parser's tagger, so both
 * regex passes happen once per distinct user agent per loop.
 */
#include "pm/detect.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_UA_CACHE 4096

struct pm_detect_s {
    pm_geo_t *geo;
    pm_ua_db_t *ua;
    pm_bot_t *bot;
    size_t ua_cache_entries;
};

struct pm_detect_local_s {
    pm_detect_t *d;
    pm_ua_parser_t *parser;
};

int pm_detect_create(const pm_detect_config_t *cfg, pm_detect_t **out)
{
    pm_detect_t *d = pm_calloc(1, sizeof(*d));
    pm_bot_config_t bc = {.datacenter_file = cfg->datacenter_file,
                          .datacenter_text = cfg->datacenter_text,
                          .velocity_limit = cfg->velocity_limit};
    int rc = pm_geo_open(cfg->geoip_file, &d->geo);
    if (rc == PM_OK && (rc = pm_ua_db_load_default(&d->ua)) != PM_OK)
        pm_error("detect: uap-core regexes: %s", pm_strerror(rc));
    if (rc == PM_OK) rc = pm_bot_create(&bc, &d->bot);
    d->ua_cache_entries = cfg->ua_cache_entries ? cfg->ua_cache_entries : DEFAULT_UA_CACHE;
    if (rc != PM_OK) {
        pm_detect_destroy(d);
        d = NULL;
    }
    *out = d;
    return rc;
}

void pm_detect_destroy(pm_detect_t *d)
{
    if (d == NULL) return;
    pm_geo_close(d->geo);
    pm_ua_db_destroy(d->ua);
    pm_bot_destroy(d->bot);
    pm_free(d);
}

void pm_detect_describe(const pm_detect_t *d, char *out, size_t cap)
{
    snprintf(out, cap, "geo: %s; uap-core: %zu regexes; crawler list: %zu patterns", pm_geo_describe(d->geo),
             pm_ua_db_count(d->ua), pm_bot_crawler_patterns(d->bot));
}

pm_detect_local_t *pm_detect_local_create(pm_detect_t *d)
{
    pm_detect_local_t *l = pm_calloc(1, sizeof(*l));
    l->d = d;
    l->parser = pm_ua_parser_create(d->ua, d->ua_cache_entries);
    pm_ua_parser_set_tagger(l->parser, pm_bot_ua_tagger, d->bot);
    return l;
}

void pm_detect_local_destroy(pm_detect_local_t *l)
{
    if (l == NULL) return;
    pm_ua_parser_destroy(l->parser);
    pm_free(l);
}

pm_ua_cache_stats_t pm_detect_ua_cache(const pm_detect_local_t *l)
{
    return pm_ua_cache_stats(l->parser);
}

void pm_detect_visitor(pm_detect_local_t *l, const pm_ip_t *ip, const char *ua, size_t ua_len, bool click,
                       pm_time_t now, pm_visitor_t *out)
{
    pm_geo_result_t geo; /* empty when the address is unknown */
    (void)pm_geo_lookup(l->d->geo, ip, &geo);
    memcpy(out->country, geo.country, sizeof(out->country));
    memcpy(out->region, geo.region, sizeof(out->region));
    const pm_ua_t *r = pm_ua_parse(l->parser, ua, ua_len);
    out->device_type = pm_ua_device_type_name(r->type);
    memcpy(out->os, r->os, sizeof(out->os));
    memcpy(out->browser, r->browser, sizeof(out->browser));
    pm_ua_version(r->os_v, out->os_version);
    pm_ua_version(r->browser_v, out->browser_version);
    out->bot_reason = pm_bot_check(l->d->bot, ip, ua_len > 0, r, click, now);
}

static void context_field(pm_event_t *ev, pm_event_str_t f, const char *v)
{
    if (v && *v) pm_event_set(ev, f, v, strlen(v));
}

void pm_detect_fill_event(const pm_visitor_t *v, pm_event_t *ev)
{
    context_field(ev, PM_EVS_COUNTRY, v->country);
    context_field(ev, PM_EVS_REGION, v->region);
    context_field(ev, PM_EVS_DEVICE_TYPE, v->device_type);
    context_field(ev, PM_EVS_OS, v->os);
    context_field(ev, PM_EVS_OS_VERSION, v->os_version);
    context_field(ev, PM_EVS_BROWSER, v->browser);
    context_field(ev, PM_EVS_BROWSER_VERSION, v->browser_version);
    context_field(ev, PM_EVS_BOT_REASON, v->bot_reason);
}

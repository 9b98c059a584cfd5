/*
 * track.c: the tracking endpoints (see pm/track.h).
 *
 * The click path is the hot one (tens of thousands per second per core):
 * it allocates only for the parsed query string and the response headers,
 * formats into per-tracker scratch space reset on every request, and does
 * one write(2) to the journal. Postbacks additionally look up their click
 * (the shared recent map first, then the store) and dedupe on
 * (offer, transaction id) before they are journaled and fsync'd.
 */
#include "pm/track.h"
#include "pm/macro.h"
#include "pm/pricing.h"
#include "pm/qs.h"
#include "pm/text.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define SCRATCH_SIZE (48u << 10)
#define MAX_URL 8192
#define CAP_UA 512
#define CAP_REFERRER 1024
#define CAP_LANGUAGE 128
#define CAP_PARAM 256
#define CAP_TXID 128
#define CAP_ORPHAN_QUERY 2048
#define CAP_EMAIL 320 /* RFC 5321: 64 + @ + 255 */
#define CAP_ROUTE 1024 /* the route reason of a click (pm_flow_route) */

const unsigned char pm_track_gif[43] = {
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

typedef struct counters_s {
    _Atomic uint64_t clicks, impressions, conversions, status_changes, duplicates, orphans, fallbacks, journal_errors,
        capped, bot_clicks, bot_impressions;
    _Atomic uint64_t flow_clicks, capped_clicks, bot_path_clicks, offer_capped_clicks, lander_clicks;
    _Atomic uint64_t creative_capped_clicks, js_check_pages;
} counters_t;

struct pm_track_s {
    pm_journal_t *journal;
    pm_store_t *store;
    pm_track_shared_t *shared;
    pm_idgen_t ids;
    pm_buf_t rec;  /* the encoded record of the current request */
    pm_buf_t url;  /* the destination URL being built */
    pm_buf_t tmp;  /* the click record copied out of the shared map */
    pm_buf_t dup;  /* a duplicate conversion's record copied out of it */
    sqlite3_stmt *click_by_id, *conversion_by_key, *conversion_by_id, *click_by_lead;
    pm_detect_local_t *detect; /* NULL without detectors */
    pm_visitor_t visitor;      /* the current request's visitor context */
    counters_t n;
    bool sync_wanted; /* a conversion waits for an fsync not yet asked for */
    bool staging;     /* clicks and impressions are staged (pm_track_set_staging) */
    void *match_data; /* flow regexes (pcre2 match data), made once */
    uint64_t rng;     /* rotation's PRNG state */
    size_t used;   /* bump allocator over scratch, reset per request */
    char scratch[SCRATCH_SIZE];
};

static void count(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }

pm_track_t *pm_track_create(pm_journal_t *journal, pm_store_t *store, pm_track_shared_t *shared)
{
    pm_track_t *t = pm_calloc(1, sizeof(*t));
    t->journal = journal;
    t->store = store;
    t->shared = shared;
    pm_idgen_init(&t->ids);
    t->match_data = pm_flow_match_data_create();
    uint64_t seed = 0;
    pm_ignore_rc(pm_random_bytes((uint8_t *)&seed, sizeof(seed)));
    pm_flow_rng_seed(&t->rng, seed);
    pm_buf_init(&t->rec, PM_JOURNAL_MAX_RECORD);
    pm_buf_init(&t->url, MAX_URL);
    pm_buf_init(&t->tmp, PM_JOURNAL_MAX_RECORD);
    pm_buf_init(&t->dup, PM_JOURNAL_MAX_RECORD);
    if (shared->detect) t->detect = pm_detect_local_create(shared->detect);
    return t;
}

void pm_track_destroy(pm_track_t *t)
{
    if (t == NULL) return;
    sqlite3_finalize(t->click_by_id);
    sqlite3_finalize(t->conversion_by_key);
    pm_flow_match_data_free(t->match_data);
    pm_detect_local_destroy(t->detect);
    sqlite3_finalize(t->conversion_by_id);
    sqlite3_finalize(t->click_by_lead);
    pm_buf_free(&t->rec);
    pm_buf_free(&t->url);
    pm_buf_free(&t->tmp);
    pm_buf_free(&t->dup);
    pm_free(t);
}

void pm_track_flush(pm_track_t *t)
{
    if (!t->sync_wanted) return;
    t->sync_wanted = false;
    pm_journal_request_sync(t->journal);
}

void pm_track_stats_add(pm_track_t *t, pm_track_stats_t *out)
{
    out->clicks += atomic_load(&t->n.clicks);
    out->impressions += atomic_load(&t->n.impressions);
    out->conversions += atomic_load(&t->n.conversions);
    out->status_changes += atomic_load(&t->n.status_changes);
    out->duplicate_postbacks += atomic_load(&t->n.duplicates);
    out->orphan_postbacks += atomic_load(&t->n.orphans);
    out->fallback_redirects += atomic_load(&t->n.fallbacks);
    out->journal_errors += atomic_load(&t->n.journal_errors);
    out->capped_redirects += atomic_load(&t->n.capped);
    out->flow_clicks += atomic_load(&t->n.flow_clicks);
    out->capped_clicks += atomic_load(&t->n.capped_clicks);
    out->bot_path_clicks += atomic_load(&t->n.bot_path_clicks);
    out->offer_capped_clicks += atomic_load(&t->n.offer_capped_clicks);
    out->creative_capped_clicks += atomic_load(&t->n.creative_capped_clicks);
    out->js_check_pages += atomic_load(&t->n.js_check_pages);
    out->lander_clicks += atomic_load(&t->n.lander_clicks);
    out->bot_clicks += atomic_load(&t->n.bot_clicks);
    out->bot_impressions += atomic_load(&t->n.bot_impressions);
}

/* --- request-scoped helpers -------------------------------------------- */

static char *scratch(pm_track_t *t, size_t n)
{
    if (n > SCRATCH_SIZE - t->used) return NULL;
    char *p = t->scratch + t->used;
    t->used += n;
    return p;
}

/* Store a sanitized copy (at most `cap` bytes) of untrusted text in field f. */
static void set_text(pm_track_t *t, pm_event_t *ev, pm_event_str_t f, const char *p, size_t len, size_t cap)
{
    if (p == NULL || len == 0) return;
    char *out = scratch(t, cap + 1);
    if (out == NULL) return;
    size_t n = pm_text_sanitize(p, len, out, cap + 1, NULL);
    pm_event_set(ev, f, out, n);
}

/* The visitor's address (truncated), user agent, referrer and language;
 * the full address goes to *client when asked for (the detectors need it). */
static void record_visitor(pm_track_t *t, const pm_settings_t *set, const pm_http_req_t *req, pm_event_t *ev,
                           pm_ip_t *client)
{
    pm_ip_t ip = pm_ip_client(&req->peer, req->x_forwarded_for.p, req->x_forwarded_for.len, req->x_real_ip.p,
                              req->x_real_ip.len, set->trusted, set->ntrusted);
    if (client) *client = ip;
    pm_ip_truncate(&ip, set->ip_v4_prefix, set->ip_v6_prefix);
    char *text = scratch(t, PM_IP_STR_MAX);
    if (text) pm_event_set(ev, PM_EVS_IP, text, pm_ip_format(&ip, text));
    set_text(t, ev, PM_EVS_USER_AGENT, req->user_agent.p, req->user_agent.len, CAP_UA);
    set_text(t, ev, PM_EVS_REFERRER, req->referer.p, req->referer.len, CAP_REFERRER);
    set_text(t, ev, PM_EVS_LANGUAGE, req->accept_language.p, req->accept_language.len, CAP_LANGUAGE);
}

/* The event field a query parameter is captured into, or -1. */
static int param_field(const pm_qs_param_t *p)
{
    for (int f = PM_EVS_SUB1; f <= PM_EVS_EXTERNAL_ID; f++) {
        const char *name = pm_event_str_name((pm_event_str_t)f);
        if (p->key[0] == name[0] && strcmp(p->key, name) == 0) return f;
    }
    if (strcmp(p->key, "uid") == 0 || strcmp(p->key, "user_id") == 0) return PM_EVS_USER_ID;
    return -1;
}

/* sub1..sub10, utm_*, external_id, and the user id (uid or user_id):
 * captured verbatim (sanitized, capped); the first occurrence of a
 * parameter wins. One pass over the parameters. */
static void record_params(pm_track_t *t, const pm_qs_t *qs, pm_event_t *ev)
{
    for (size_t i = 0; i < qs->count; i++) {
        int f = param_field(&qs->params[i]);
        if (f >= 0 && ev->s[f].p == NULL)
            set_text(t, ev, (pm_event_str_t)f, qs->params[i].value, qs->params[i].value_len, CAP_PARAM);
    }
}

static bool cookie_id(const pm_http_req_t *req, const char *name, pm_id_t *out)
{
    if (req->cookie.len == 0) return false;
    pm_qs_t c;
    pm_qs_parse_cookies(&c, req->cookie.p, req->cookie.len);
    size_t len;
    const char *v = pm_qs_get(&c, name, &len);
    bool ok = v && pm_id_parse(v, len, out) == PM_OK;
    pm_qs_free(&c);
    return ok;
}

static size_t append(char *out, size_t at, const char *s, size_t n)
{
    memcpy(out + at, s, n);
    return at + n;
}

#define APPEND_LIT(out, at, lit) append(out, at, lit, sizeof(lit) - 1)

static void set_cookie(pm_track_t *t, const pm_settings_t *set, const pm_http_req_t *req, pm_http_res_t *res,
                       const char *name, const pm_id_t *id)
{
    char value[160], age[24];
    bool https = req->tls || pm_slice_eq(req->x_forwarded_proto, "https");
    /* Built by hand, not snprintf: two of these go out with every click. */
    size_t n = append(value, 0, name, strlen(name));
    value[n++] = '=';
    pm_id_format(id, value + n);
    n += PM_ID_LEN;
    n = APPEND_LIT(value, n, "; Max-Age=");
    size_t alen = 0;
    for (int64_t v = (int64_t)set->cookie_days * 86400; alen == 0 || v > 0; v /= 10)
        age[alen++] = (char)('0' + v % 10);
    while (alen)
        value[n++] = age[--alen];
    n = APPEND_LIT(value, n, "; Path=/; HttpOnly; ");
    /* Cross-site pixels need SameSite=None, which browsers accept only with
     * Secure, i.e. over https. */
    n = https ? APPEND_LIT(value, n, "SameSite=None; Secure") : APPEND_LIT(value, n, "SameSite=Lax");
    pm_http_res_header(res, "set-cookie", value, n);
}

static void redirect(pm_http_res_t *res, const char *url, size_t len)
{
    res->status = 302;
    pm_http_res_header(res, "location", url, len);
    pm_http_res_header(res, "cache-control", "no-store", 8);
}

static void fallback(pm_track_t *t, const pm_settings_t *set, pm_http_res_t *res)
{
    count(&t->n.fallbacks);
    redirect(res, set->fallback_url, strlen(set->fallback_url));
}

/* --- budgets and caps ---------------------------------------------------- */

/* A capped campaign's visitors go to its own fallback URL, else the
 * workspace's. They are not journaled: like a paused campaign's, they cost
 * nothing the tracker bought. */
static void capped_fallback(pm_track_t *t, const pm_settings_t *set, const pm_campaign_t *k, pm_http_res_t *res)
{
    count(&t->n.capped);
    if (k->fallback_url && k->fallback_url[0]) redirect(res, k->fallback_url, strlen(k->fallback_url));
    else fallback(t, set, res);
}

/* Reserve the click's cost on the campaign's budget (atomically, with the
 * other loops) unless the budget or the offer's cap is reached. With a
 * flow, the options' offers are checked as the flow chooses (offer_capped). */
static bool within_limits(pm_track_t *t, const pm_config_t *cfg, const pm_campaign_t *k, const pm_event_t *ev,
                          int32_t day)
{
    pm_spend_t *sp = t->shared->spend;
    if (sp == NULL) return true;
    if (k->offer && !k->flow && pm_spend_offer_capped(sp, k->offer->id, day, k->offer->cap_daily, k->offer->cap_total))
        return false;
    return pm_spend_charge(sp, k->id, day, ev->cost.micros, k->budget_daily, k->budget_total);
}

/* Encode the record and append it to the journal, or with `stage` stage
 * it (written by pm_track_write; *lsn untouched). On failure the event is
 * lost to the store, so it is counted where /metrics shows it. */
static int journal_record(pm_track_t *t, const pm_event_t *ev, bool stage, uint64_t *lsn)
{
    pm_buf_reset(&t->rec);
    int rc = pm_event_encode(ev, &t->rec);
    if (rc == PM_OK)
        rc = stage ? pm_journal_stage(t->journal, t->rec.data, t->rec.len)
                   : pm_journal_append(t->journal, t->rec.data, t->rec.len, lsn);
    if (rc != PM_OK) {
        count(&t->n.journal_errors);
        pm_error("track: journal append failed: %s", pm_strerror(rc));
    }
    return rc;
}

static int journal(pm_track_t *t, const pm_event_t *ev, uint64_t *lsn) { return journal_record(t, ev, false, lsn); }

/* A click's or impression's record: staged when the loop writes a turn's
 * records together (the response then waits for pm_track_write), else
 * appended at once. */
static int journal_visit(pm_track_t *t, const pm_event_t *ev, pm_http_res_t *res)
{
    uint64_t lsn;
    int rc = journal_record(t, ev, t->staging, &lsn);
    if (rc == PM_OK && t->staging) res->wait_write = true;
    return rc;
}

void pm_track_set_staging(pm_track_t *t, bool on)
{
    if (!on) pm_track_write(t);
    t->staging = on;
}

void pm_track_write(pm_track_t *t)
{
    uint64_t lost = 0;
    int rc = pm_journal_flush(t->journal, &lost);
    if (rc == PM_OK) return;
    atomic_fetch_add(&t->n.journal_errors, lost);
    pm_error("track: journal write of %" PRIu64 " staged records failed: %s", lost, pm_strerror(rc));
}

/* --- macros -------------------------------------------------------------- */

/* Macro values for one click, formatted only when a template asks for them
 * (most templates use two or three macros). */
typedef struct macro_ctx_s {
    const pm_event_t *ev;
    int64_t offer_id;
    const pm_settings_t *set; /* for {offer_url}; NULL when not offered */
    char buf[2][MAX_URL / 4]; /* room for formatted values */
    int next;                 /* which buffer the next value uses (two in turn) */
} macro_ctx_t;

static bool name_is(const char *name, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

static char *macro_buf(macro_ctx_t *c)
{
    char *b = c->buf[c->next];
    c->next ^= 1;
    return b;
}

static size_t ref_text(char *out, int64_t id)
{
    char tmp[24];
    size_t n = 0, len = 0;
    if (id == 0) return 0;
    for (uint64_t v = (uint64_t)id; v; v /= 10)
        tmp[len++] = (char)('0' + v % 10);
    while (len)
        out[n++] = tmp[--len];
    return n;
}

static bool resolve_ref(macro_ctx_t *c, const char *name, size_t len, const char **value, size_t *vlen)
{
    const pm_event_t *ev = c->ev;
    int64_t id;
    if (name_is(name, len, "campaign_id")) id = ev->campaign_id;
    else if (name_is(name, len, "traffic_source_id")) id = ev->traffic_source_id;
    else if (name_is(name, len, "offer_id")) id = c->offer_id;
    else if (name_is(name, len, "lander_id")) id = ev->lander_id;
    else return false;
    char *b = macro_buf(c);
    *vlen = ref_text(b, id);
    *value = b;
    return true;
}

static bool resolve_macro(void *arg, const char *name, size_t len, const char **value, size_t *vlen)
{
    macro_ctx_t *c = arg;
    const pm_id_t *id = NULL;
    if (name_is(name, len, "clickid") || name_is(name, len, "click_id")) id = &c->ev->id;
    else if (name_is(name, len, "visitor_id")) id = &c->ev->visitor_id;
    if (id) {
        char *b = macro_buf(c);
        pm_id_format(id, b);
        *value = b;
        *vlen = PM_ID_LEN;
        return true;
    }
    if (c->set && name_is(name, len, "offer_url")) {
        char *b = macro_buf(c), click[PM_ID_LEN + 1];
        pm_id_format(&c->ev->id, click);
        int n = snprintf(b, sizeof(c->buf[0]), "%s/go?clickid=%s", c->set->base_url, click);
        *value = b;
        *vlen = n < 0 || (size_t)n >= sizeof(c->buf[0]) ? 0 : (size_t)n;
        return true;
    }
    if (resolve_ref(c, name, len, value, vlen)) return true;
    for (int f = PM_EVS_SUB1; f <= PM_EVS_EXTERNAL_ID; f++) {
        if (name_is(name, len, pm_event_str_name((pm_event_str_t)f))) {
            *value = c->ev->s[f].p;
            *vlen = c->ev->s[f].len;
            return true;
        }
    }
    return false;
}

/* Expand `tpl` for click `ev` sent to offer `offer_id` into t->url. */
static int expand(pm_track_t *t, const char *tpl, const pm_event_t *ev, int64_t offer_id, const pm_settings_t *set)
{
    macro_ctx_t c = {.ev = ev, .offer_id = offer_id, .set = set};
    pm_buf_reset(&t->url);
    return pm_macro_expand(&t->url, tpl, strlen(tpl), resolve_macro, &c, true);
}

/* Where the visitor goes: the lander when the campaign has one (with
 * {offer_url} pointing at /go so the hop to the offer is tracked), else the
 * offer. The URL is left in t->url. */
static int build_destination(pm_track_t *t, const pm_settings_t *set, const pm_campaign_t *k, const pm_event_t *ev)
{
    return k->lander ? expand(t, k->lander->url, ev, ev->offer_id, set) : expand(t, k->offer->url, ev, ev->offer_id, NULL);
}

/* --- clicks and impressions --------------------------------------------- */

static const pm_campaign_t *live_campaign(const pm_config_t *cfg, pm_slice_t token)
{
    const pm_campaign_t *k = token.len ? pm_config_campaign_by_token(cfg, token.p, token.len) : NULL;
    return k && k->active ? k : NULL;
}

/* Where and what the visitor is (pm/detect.h), into the event's visitor
 * context fields; the strings live in t->visitor until the next request.
 * The UA is read from the request (the parser takes any bytes and cuts
 * them at PM_UA_MAX_LEN), so detection never depends on scratch space. */
static void detect_visitor(pm_track_t *t, const pm_http_req_t *req, const pm_ip_t *client, pm_event_t *ev)
{
    if (t->detect == NULL) return;
    pm_visitor_t *v = &t->visitor;
    pm_detect_visitor(t->detect, client, req->user_agent.p, req->user_agent.len, ev->type == PM_EV_CLICK, ev->ts, v);
    pm_detect_fill_event(v, ev);
}

/* creative_id= (or crid=): a positive decimal id of one of campaign k's
 * live creatives, else 0; a visitor never sees an error for a bad one. */
static int64_t creative_param(const pm_config_t *cfg, const pm_campaign_t *k, const pm_qs_t *qs)
{
    size_t len;
    const char *v = pm_qs_get(qs, "creative_id", &len);
    if (v == NULL) v = pm_qs_get(qs, "crid", &len);
    if (v == NULL || len == 0 || len > 18) return 0;
    int64_t id = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return 0;
        id = id * 10 + (v[i] - '0');
    }
    return pm_config_creative_of(cfg, k->id, id) ? id : 0;
}

/* Fill the visitor's side of a click or impression, with the visitor
 * context from the detectors. True when the visitor brought a perfmark
 * cookie (returning); `ip` (may be NULL) gets the full client address, for
 * the flows' IP rules (only the truncated one is stored). */
static bool visitor_event(pm_track_t *t, const pm_config_t *cfg, const pm_settings_t *set,
                          const pm_http_req_t *req, const pm_campaign_t *k, const pm_qs_t *qs, pm_event_t *ev,
                          pm_ip_t *ip)
{
    ev->ts = pm_now();
    ev->id = pm_id_next(&t->ids, ev->ts);
    bool returning = cookie_id(req, "pmv", &ev->visitor_id);
    if (!returning) ev->visitor_id = pm_id_next(&t->ids, ev->ts);
    ev->campaign_id = k->id;
    ev->traffic_source_id = k->source->id;
    ev->offer_id = k->offer ? k->offer->id : 0;
    ev->lander_id = k->lander ? k->lander->id : 0;
    ev->creative_id = creative_param(cfg, k, qs);
    ev->partner_id = k->partner ? k->partner->id : 0;
    pm_ip_t client;
    record_visitor(t, set, req, ev, &client);
    record_params(t, qs, ev);
    detect_visitor(t, req, &client, ev);
    if (ip) *ip = client;
    return returning;
}

/* Is the visitor of click `ev` past `cap` in `scope` (pm/fcap.h)? A click
 * cap counts this click; an impression cap only reads, impressions count
 * at the impression (count_impression). */
static bool over_cap(pm_track_t *t, const pm_flow_cap_t *cap, int64_t scope, const pm_event_t *ev)
{
    pm_fcap_t *fcap = cap->max ? t->shared->fcap : NULL;
    if (fcap == NULL) return false;
    uint32_t seen = cap->impressions ? pm_fcap_peek(fcap, scope, &ev->visitor_id, cap->per, ev->ts)
                                     : pm_fcap_count(fcap, scope, &ev->visitor_id, cap->per, ev->ts);
    return seen >= cap->max;
}

/* The creative of click `ev`, when it has its own cap, or NULL. */
static const pm_creative_t *capped_creative(const pm_config_t *cfg, const pm_campaign_t *k, const pm_event_t *ev)
{
    const pm_creative_t *c = ev->creative_id ? pm_config_creative_of(cfg, k->id, ev->creative_id) : NULL;
    return c && c->cap.max ? c : NULL;
}

/* What the flow's offer-cap check reads (pm_flow_input_t.offer_capped). */
typedef struct cap_ctx_s {
    pm_spend_t *spend;
    const pm_config_t *cfg;
    int32_t day;
} cap_ctx_t;

static bool offer_capped(void *arg, int64_t offer_id)
{
    const cap_ctx_t *c = arg;
    const pm_offer_t *offer = pm_config_offer_by_id(c->cfg, offer_id);
    if (offer == NULL || (offer->cap_daily == 0 && offer->cap_total == 0)) return false;
    return pm_spend_offer_capped(c->spend, offer_id, c->day, offer->cap_daily, offer->cap_total);
}

#define ROUTE_CAPPED 1 /* route_click: every option's offer is capped, no fallback path */

/* A campaign with a flow: the flow picks the path and option (recorded in
 * the click's route field) among those whose offer is not capped, and the
 * option gives the destination. The URL is left in t->url; PM_ENOTFOUND
 * when the option's lander or offer is gone from the configuration,
 * ROUTE_CAPPED when every option left is capped. */
static int route_click(pm_track_t *t, const pm_config_t *cfg, const pm_campaign_t *k, const pm_qs_t *qs,
                       const pm_ip_t *ip, bool returning, bool creative_over, int32_t day, pm_event_t *ev)
{
    const pm_settings_t *set = pm_config_settings(cfg);
    const pm_flow_t *flow = k->flow;
    bool over = over_cap(t, pm_flow_cap(flow), k->id, ev) || creative_over;
    pm_audience_visitor_t history = {0, 0};
    if (t->shared->audience && returning) history = pm_audience_get(t->shared->audience, &ev->visitor_id);
    pm_flow_input_t in = {.ev = ev, .qs = qs, .ip = ip, .returning = returning, .over_cap = over, .now_us = ev->ts,
                          .rng = &t->rng, .match_data = t->match_data, .bandit = t->shared->bandit,
                          .history = &history};
    cap_ctx_t caps = {.spend = t->shared->spend, .cfg = cfg, .day = day};
    if (caps.spend) in.offer_capped = offer_capped, in.capped_ctx = &caps;
    pm_flow_choice_t choice;
    char *reason = scratch(t, CAP_ROUTE), none[1];
    size_t len = 0;
    pm_flow_route(flow, &in, &choice, reason ? reason : none, reason ? CAP_ROUTE : 0, &len);
    if (len) pm_event_set(ev, PM_EVS_ROUTE, reason, len);
    count(&t->n.flow_clicks);
    if (choice.by[0] == 'c') count(&t->n.capped_clicks);
    else if (choice.by[0] == 'b') count(&t->n.bot_path_clicks);
    if (choice.offer_capped) count(&t->n.offer_capped_clicks);
    const pm_flow_option_t *o = choice.option;
    if (o == NULL) return ROUTE_CAPPED;
    ev->offer_id = o->offer_id;
    ev->lander_id = o->lander_id;
    if (o->url) return expand(t, o->url, ev, 0, NULL);
    const pm_lander_t *lander = o->lander_id ? pm_config_lander_by_id(cfg, o->lander_id) : NULL;
    const pm_offer_t *offer = o->offer_id ? pm_config_offer_by_id(cfg, o->offer_id) : NULL;
    if (lander) return expand(t, lander->url, ev, ev->offer_id, set);
    if (offer) return expand(t, offer->url, ev, ev->offer_id, NULL);
    return PM_ENOTFOUND;
}

/* --- the script check (campaign bot_check "js", docs/routing.md) ---------- */

/* Bytes the script page's URLs keep as they are: the URL then sits in a
 * JS string and an HTML attribute with no escaping but & -> &amp;. */
static bool url_plain(unsigned char ch, bool query_syntax)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) return true;
    if (ch && strchr("-._~", ch)) return true;
    return query_syntax && ch && strchr("/?=&%+,;:@!$*()", ch);
}

static int append_escaped(pm_buf_t *b, const char *p, size_t n, bool query_syntax)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = PM_OK;
    for (size_t i = 0; i < n && rc == PM_OK; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (url_plain(ch, query_syntax)) {
            rc = pm_buf_appendc(b, (char)ch);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = pm_buf_append(b, e, 3);
        }
    }
    return rc;
}

/* This click's URL again with pmjs=`mark` (and the first hop's referrer in
 * pmref, which the second hop records as its referrer), into t->url. */
static int js_return_url(pm_track_t *t, const pm_http_req_t *req, char mark)
{
    pm_buf_reset(&t->url);
    int rc = append_escaped(&t->url, req->path.p, req->path.len, true);
    if (rc == PM_OK) rc = pm_buf_appendc(&t->url, '?');
    if (rc == PM_OK && req->query.len) rc = append_escaped(&t->url, req->query.p, req->query.len, true);
    if (rc == PM_OK && req->query.len) rc = pm_buf_appendc(&t->url, '&');
    if (rc == PM_OK) rc = pm_buf_appends(&t->url, "pmjs=");
    if (rc == PM_OK) rc = pm_buf_appendc(&t->url, mark);
    if (rc == PM_OK && req->referer.len) rc = pm_buf_appends(&t->url, "&pmref=");
    if (rc == PM_OK && req->referer.len) rc = append_escaped(&t->url, req->referer.p, req->referer.len, false);
    return rc;
}

/* The page a first click of a js-checked campaign gets: its script sets a
 * cookie and comes back with pmjs=1; without script, the meta refresh
 * comes back with pmjs=0 (flagged no_js). Nothing is recorded here. */
static void js_check_page(pm_track_t *t, const pm_settings_t *set, const pm_http_req_t *req, pm_http_res_t *res)
{
    pm_buf_t *b = &res->body;
    int rc = pm_buf_appends(b, "<!doctype html><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">"
                               "<title>Redirecting</title><script>document.cookie=\"pmjs=1; path=/; max-age=300;"
                               " SameSite=Lax\";location.replace(\"");
    if (rc == PM_OK) rc = js_return_url(t, req, '1');
    if (rc == PM_OK) rc = pm_buf_append(b, t->url.data, t->url.len);
    if (rc == PM_OK) rc = pm_buf_appends(b, "\")</script><noscript><meta http-equiv=\"refresh\" content=\"0;url=");
    if (rc == PM_OK) rc = js_return_url(t, req, '0');
    for (size_t i = 0; rc == PM_OK && i < t->url.len; i++)
        rc = t->url.data[i] == '&' ? pm_buf_appends(b, "&amp;") : pm_buf_appendc(b, t->url.data[i]);
    if (rc == PM_OK) rc = pm_buf_appends(b, "\"></noscript>\n");
    if (rc != PM_OK) { /* a URL too long for the page: the visitor still goes somewhere safe */
        pm_buf_reset(b);
        fallback(t, set, res);
        return;
    }
    count(&t->n.js_check_pages);
    res->status = 200;
    res->content_type = "text/html; charset=utf-8";
    pm_http_res_header(res, "cache-control", "no-store", 8);
}

/* The second hop of the script check: the bot reason when it failed (no
 * script ran, or its cookie did not come back), else NULL. */
static const char *js_check_failed(const pm_http_req_t *req, const char *mark, size_t len)
{
    if (len != 1 || mark[0] != '1') return "no_js";
    if (req->cookie.len == 0) return "no_cookie";
    pm_qs_t c;
    pm_qs_parse_cookies(&c, req->cookie.p, req->cookie.len);
    size_t n;
    const char *v = pm_qs_get(&c, "pmjs", &n);
    bool ok = v && n == 1 && v[0] == '1';
    pm_qs_free(&c);
    return ok ? NULL : "no_cookie";
}

void pm_track_click(pm_track_t *t, const pm_config_t *cfg, const pm_http_req_t *req, pm_slice_t token,
                    pm_http_res_t *res)
{
    const pm_settings_t *set = pm_config_settings(cfg);
    const pm_campaign_t *k = live_campaign(cfg, token);
    if (k == NULL || (k->offer == NULL && k->lander == NULL && k->flow == NULL)) {
        fallback(t, set, res);
        return;
    }
    t->used = 0;
    pm_qs_t qs;
    pm_qs_parse(&qs, req->query.p, req->query.len);
    const char *js_fail = NULL;
    pm_http_req_t second_hop;
    if (k->js_check) {
        size_t len;
        const char *mark = pm_qs_get(&qs, "pmjs", &len);
        if (mark == NULL) {
            pm_qs_free(&qs);
            js_check_page(t, set, req, res);
            return;
        }
        js_fail = js_check_failed(req, mark, len);
        /* The referrer is the first hop's, carried in pmref. */
        second_hop = *req;
        second_hop.referer.p = pm_qs_get(&qs, "pmref", &second_hop.referer.len);
        if (second_hop.referer.p == NULL) second_hop.referer.len = 0;
        req = &second_hop;
    }
    pm_event_t ev = {.type = PM_EV_CLICK};
    pm_ip_t ip;
    bool returning = visitor_event(t, cfg, set, req, k, &qs, &ev, &ip);
    if (js_fail && ev.s[PM_EVS_BOT_REASON].len == 0) pm_event_set(&ev, PM_EVS_BOT_REASON, js_fail, strlen(js_fail));
    /* A click the bot filter flagged costs nothing: reports, budgets and the
     * ledger leave bots out of cost alike (docs/metrics.md). */
    if (k->cost_model == PM_COST_CPC && ev.s[PM_EVS_BOT_REASON].len == 0) ev.cost = k->cost;
    int32_t day = pm_spend_day(pm_config_tz(cfg), ev.ts);
    /* A visitor past its creative's cap goes to the flow's fallback path,
     * or, with no such path, where a budget cap sends it. */
    const pm_creative_t *cr = capped_creative(cfg, k, &ev);
    bool creative_over = cr && over_cap(t, &cr->cap, pm_fcap_creative(cr->id), &ev);
    if (creative_over) count(&t->n.creative_capped_clicks);
    if ((creative_over && !(k->flow && pm_flow_has_fallback(k->flow))) || !within_limits(t, cfg, k, &ev, day)) {
        pm_qs_free(&qs);
        capped_fallback(t, set, k, res);
        return;
    }
    int dest = k->flow ? route_click(t, cfg, k, &qs, &ip, returning, creative_over, day, &ev)
                       : build_destination(t, set, k, &ev);
    if (dest != PM_OK) {
        pm_qs_free(&qs);
        if (t->shared->spend) pm_spend_add(t->shared->spend, k->id, day, -ev.cost.micros);
        if (dest == ROUTE_CAPPED)
            capped_fallback(t, set, k, res);
        else
            fallback(t, set, res);
        return;
    }
    pm_event_set(&ev, PM_EVS_DEST_URL, t->url.data, t->url.len);
    if (journal_visit(t, &ev, res) == PM_OK) {
        count(&t->n.clicks);
        if (t->shared->audience) pm_audience_click(t->shared->audience, &ev.visitor_id, ev.ts);
        if (ev.s[PM_EVS_BOT_REASON].len) count(&t->n.bot_clicks);
        /* Full map: postbacks for this click will find it in the store. */
        pm_ignore_rc(pm_recent_put(t->shared->clicks, ev.id.b, sizeof(ev.id.b), t->rec.data, t->rec.len, NULL));
    } else if (t->shared->spend) {
        pm_spend_add(t->shared->spend, k->id, day, -ev.cost.micros); /* not recorded: not spent */
    }
    redirect(res, t->url.data, t->url.len);
    set_cookie(t, set, req, res, "pmv", &ev.visitor_id);
    set_cookie(t, set, req, res, "pmc", &ev.id);
    pm_qs_free(&qs);
}

/* Impression caps count at the impression; the click path only reads. */
static void count_impression(pm_track_t *t, const pm_config_t *cfg, const pm_campaign_t *k, const pm_event_t *ev)
{
    const pm_flow_cap_t *cap = k->flow ? pm_flow_cap(k->flow) : NULL;
    if (t->shared->fcap == NULL) return;
    if (cap && cap->max && cap->impressions)
        (void)pm_fcap_count(t->shared->fcap, k->id, &ev->visitor_id, cap->per, ev->ts);
    const pm_creative_t *cr = capped_creative(cfg, k, ev);
    if (cr && cr->cap.impressions)
        (void)pm_fcap_count(t->shared->fcap, pm_fcap_creative(cr->id), &ev->visitor_id, cr->cap.per, ev->ts);
}

void pm_track_impression(pm_track_t *t, const pm_config_t *cfg, const pm_http_req_t *req, pm_slice_t token,
                         pm_http_res_t *res)
{
    const pm_settings_t *set = pm_config_settings(cfg);
    const pm_campaign_t *k = live_campaign(cfg, token);
    t->used = 0;
    pm_qs_t qs;
    pm_qs_parse(&qs, req->query.p, req->query.len);
    size_t fmt_len;
    const char *fmt = pm_qs_get(&qs, "fmt", &fmt_len);
    bool no_content = fmt && fmt_len == 3 && memcmp(fmt, "204", 3) == 0;
    if (k) {
        pm_event_t ev = {.type = PM_EV_IMPRESSION};
        (void)visitor_event(t, cfg, set, req, k, &qs, &ev, NULL);
        /* A flagged impression costs nothing, like a flagged click. */
        if (k->cost_model == PM_COST_CPM && ev.s[PM_EVS_BOT_REASON].len == 0 &&
            pm_money_muldiv(k->cost.micros, 1, 1000, &ev.cost.micros) == PM_OK)
            ev.cost.currency = k->cost.currency;
        if (journal_visit(t, &ev, res) == PM_OK) {
            count(&t->n.impressions);
            if (ev.s[PM_EVS_BOT_REASON].len) count(&t->n.bot_impressions);
            /* The impression was served whatever our budget says: its cost counts. */
            if (t->shared->spend && ev.cost.micros)
                pm_spend_add(t->shared->spend, k->id, pm_spend_day(pm_config_tz(cfg), ev.ts), ev.cost.micros);
            count_impression(t, cfg, k, &ev);
        }
        set_cookie(t, set, req, res, "pmv", &ev.visitor_id);
    }
    pm_http_res_header(res, "cache-control", "no-store", 8);
    res->status = no_content ? 204 : 200;
    if (!no_content) {
        res->content_type = "image/gif";
        pm_ignore_rc(pm_buf_append(&res->body, pm_track_gif, sizeof(pm_track_gif)));
    }
    pm_qs_free(&qs);
}

/* --- click and conversion lookups ---------------------------------------- */

static int prepare(pm_track_t *t, sqlite3_stmt **st, const char *sql)
{
    if (*st) return PM_OK;
    if (sqlite3_prepare_v3(pm_store_db(t->store), sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK)
        return PM_OK;
    pm_error("track: prepare: %s", sqlite3_errmsg(pm_store_db(t->store)));
    return PM_ESTORE;
}

/* Copy a text column into scratch and into field f. */
static void col_field(pm_track_t *t, sqlite3_stmt *st, int i, pm_event_t *ev, pm_event_str_t f)
{
    const unsigned char *p = sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    if (p == NULL || n == 0) return;
    char *out = scratch(t, n + 1);
    if (out == NULL) return;
    memcpy(out, p, n);
    out[n] = '\0';
    pm_event_set(ev, f, out, n);
}

static void col_id(sqlite3_stmt *st, int i, pm_id_t *out)
{
    const unsigned char *p = sqlite3_column_text(st, i);
    if (p == NULL || pm_id_parse((const char *)p, (size_t)sqlite3_column_bytes(st, i), out) != PM_OK)
        memset(out, 0, sizeof(*out));
}

static void col_currency(sqlite3_stmt *st, int i, pm_currency_t *out)
{
    const unsigned char *p = sqlite3_column_text(st, i);
    memset(out, 0, sizeof(*out));
    if (p) snprintf(out->code, sizeof(out->code), "%s", (const char *)p);
}

/* The visitor fields a conversion inherits from its click, in the column
 * order of the SELECT below (after ts and the four entity ids). */
static const pm_event_str_t click_fields[] = {
    PM_EVS_IP,         PM_EVS_USER_AGENT, PM_EVS_REFERRER,     PM_EVS_LANGUAGE,    PM_EVS_SUB1,
    PM_EVS_SUB2,       PM_EVS_SUB3,       PM_EVS_SUB4,         PM_EVS_SUB5,        PM_EVS_SUB6,
    PM_EVS_SUB7,       PM_EVS_SUB8,       PM_EVS_SUB9,         PM_EVS_SUB10,       PM_EVS_UTM_SOURCE,
    PM_EVS_UTM_MEDIUM, PM_EVS_UTM_CAMPAIGN, PM_EVS_UTM_CONTENT, PM_EVS_UTM_TERM,   PM_EVS_EXTERNAL_ID,
    PM_EVS_USER_ID,    PM_EVS_ROUTE,      PM_EVS_COUNTRY,      PM_EVS_REGION,      PM_EVS_DEVICE_TYPE,
    PM_EVS_OS,         PM_EVS_OS_VERSION, PM_EVS_BROWSER,      PM_EVS_BROWSER_VERSION, PM_EVS_BOT_REASON,
};

/* Find click `id`: first among the recently journaled, then in the store.
 * On PM_OK *click holds it (strings in scratch or t->tmp). */
static int find_click(pm_track_t *t, const pm_id_t *id, pm_event_t *click)
{
    pm_buf_reset(&t->tmp);
    if (pm_recent_get(t->shared->clicks, id->b, sizeof(id->b), &t->tmp) == PM_OK)
        return pm_event_decode(t->tmp.data, t->tmp.len, click) == PM_OK ? PM_OK : PM_ENOTFOUND;
    int rc = prepare(t, &t->click_by_id,
                     "SELECT ts, campaign_id, traffic_source_id, offer_id, lander_id, visitor_id, ip, user_agent,"
                     " referrer, language, sub1, sub2, sub3, sub4, sub5, sub6, sub7, sub8, sub9, sub10,"
                     " utm_source, utm_medium, utm_campaign, utm_content, utm_term, external_id, user_id, route,"
                     " country, region, device_type, os, os_version, browser, browser_version, bot_reason,"
                     " creative_id, partner_id FROM clicks WHERE id=?");
    if (rc != PM_OK) return rc;
    char text[PM_ID_LEN + 1];
    pm_id_format(id, text);
    sqlite3_stmt *st = t->click_by_id;
    sqlite3_bind_text(st, 1, text, PM_ID_LEN, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        memset(click, 0, sizeof(*click));
        click->type = PM_EV_CLICK;
        click->id = *id;
        click->ts = sqlite3_column_int64(st, 0);
        click->campaign_id = sqlite3_column_int64(st, 1);
        click->traffic_source_id = sqlite3_column_int64(st, 2);
        click->offer_id = sqlite3_column_int64(st, 3);
        click->lander_id = sqlite3_column_int64(st, 4);
        col_id(st, 5, &click->visitor_id);
        for (size_t i = 0; i < PM_ARRAY_LEN(click_fields); i++)
            col_field(t, st, 6 + (int)i, click, click_fields[i]);
        click->creative_id = sqlite3_column_int64(st, 6 + (int)PM_ARRAY_LEN(click_fields));
        click->partner_id = sqlite3_column_int64(st, 7 + (int)PM_ARRAY_LEN(click_fields));
    }
    sqlite3_reset(st);
    return step == SQLITE_ROW ? PM_OK : step == SQLITE_DONE ? PM_ENOTFOUND : PM_ESTORE;
}

/* The columns of a stored conversion as the lifecycle needs it: its own
 * fields, its current state (conversion_state, kept by the ledger sink) and
 * the click fields it inherited, in click_fields order. */
#define CONVERSION_SELECT                                                                                              \
    "SELECT c.id, c.ts, c.click_id, c.campaign_id, c.traffic_source_id, c.offer_id, c.lander_id, c.visitor_id,"        \
    " c.partner_id, c.txid, c.conversion_type, c.method, coalesce(s.status, c.status),"                                \
    " coalesce(s.revenue_micros, c.revenue_micros), coalesce(s.revenue_currency, c.revenue_currency),"                 \
    " coalesce(s.cost_micros, c.cost_micros), coalesce(s.cost_currency, c.cost_currency),"                             \
    " coalesce(s.payout_micros, c.payout_micros), coalesce(s.payout_currency, c.payout_currency),"                     \
    " coalesce(s.version, 0), c.lead_id, c.email_hash, c.ip, c.user_agent, c.referrer, c.language, c.sub1, c.sub2,"    \
    " c.sub3, c.sub4, c.sub5, c.sub6, c.sub7, c.sub8, c.sub9, c.sub10, c.utm_source, c.utm_medium,"                    \
    " c.utm_campaign, c.utm_content, c.utm_term, c.external_id, c.user_id, NULL, c.country, c.region,"                 \
    " c.device_type, c.os, c.os_version, c.browser, c.browser_version, c.bot_reason," /* click_fields' order */        \
    " c.place, c.creative_id"                                                                                          \
    " FROM conversions c LEFT JOIN conversion_state s ON s.conversion_id = c.id"

static void col_money(sqlite3_stmt *st, int i, pm_money_t *m)
{
    m->micros = sqlite3_column_int64(st, i);
    col_currency(st, i + 1, &m->currency);
}

/* Fill *conv (a PM_EV_CONVERSION in its current state, strings in scratch)
 * from the current row; *version = its number of status changes. */
static void conversion_row(pm_track_t *t, sqlite3_stmt *st, pm_event_t *conv, int64_t *version)
{
    memset(conv, 0, sizeof(*conv));
    conv->type = PM_EV_CONVERSION;
    col_id(st, 0, &conv->id);
    conv->ts = sqlite3_column_int64(st, 1);
    col_id(st, 2, &conv->click_id);
    conv->campaign_id = sqlite3_column_int64(st, 3);
    conv->traffic_source_id = sqlite3_column_int64(st, 4);
    conv->offer_id = sqlite3_column_int64(st, 5);
    conv->lander_id = sqlite3_column_int64(st, 6);
    col_id(st, 7, &conv->visitor_id);
    conv->partner_id = sqlite3_column_int64(st, 8);
    col_field(t, st, 9, conv, PM_EVS_TXID);
    col_field(t, st, 10, conv, PM_EVS_CONV_TYPE);
    col_field(t, st, 11, conv, PM_EVS_METHOD);
    col_field(t, st, 12, conv, PM_EVS_STATUS);
    col_money(st, 13, &conv->revenue);
    col_money(st, 15, &conv->cost);
    col_money(st, 17, &conv->payout);
    *version = sqlite3_column_int64(st, 19);
    col_field(t, st, 20, conv, PM_EVS_LEAD_ID);
    col_field(t, st, 21, conv, PM_EVS_EMAIL_HASH);
    for (size_t i = 0; i < PM_ARRAY_LEN(click_fields); i++)
        col_field(t, st, 22 + (int)i, conv, click_fields[i]);
    conv->place = sqlite3_column_int64(st, 22 + (int)PM_ARRAY_LEN(click_fields));
    conv->creative_id = sqlite3_column_int64(st, 23 + (int)PM_ARRAY_LEN(click_fields));
}

/* A conversion already stored under (offer, txid), in its current state. */
static int find_stored_conversion(pm_track_t *t, int64_t offer_id, pm_str_t txid, pm_event_t *conv,
                                  int64_t *version)
{
    int rc = prepare(t, &t->conversion_by_key, CONVERSION_SELECT " WHERE c.offer_id IS ? AND c.txid=?");
    if (rc != PM_OK) return rc;
    sqlite3_stmt *st = t->conversion_by_key;
    if (offer_id) sqlite3_bind_int64(st, 1, offer_id);
    else sqlite3_bind_null(st, 1);
    sqlite3_bind_text(st, 2, txid.p ? txid.p : "", (int)txid.len, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) conversion_row(t, st, conv, version);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return step == SQLITE_ROW ? PM_OK : step == SQLITE_DONE ? PM_ENOTFOUND : PM_ESTORE;
}

/* The stored conversion with event id `id` (for the admin API). */
static int find_conversion_by_id(pm_track_t *t, const pm_id_t *id, pm_event_t *conv, int64_t *version)
{
    int rc = prepare(t, &t->conversion_by_id, CONVERSION_SELECT " WHERE c.id=?");
    if (rc != PM_OK) return rc;
    char text[PM_ID_LEN + 1];
    pm_id_format(id, text);
    sqlite3_stmt *st = t->conversion_by_id;
    sqlite3_bind_text(st, 1, text, PM_ID_LEN, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) conversion_row(t, st, conv, version);
    sqlite3_reset(st);
    return step == SQLITE_ROW ? PM_OK : step == SQLITE_DONE ? PM_ENOTFOUND : PM_ESTORE;
}

/* The dedupe key of a conversion: offer id (8 bytes) then the txid. */
static size_t conversion_key(int64_t offer_id, pm_str_t txid, unsigned char *out, size_t cap)
{
    size_t n = sizeof(offer_id) + txid.len;
    if (n > cap) return 0;
    memcpy(out, &offer_id, sizeof(offer_id));
    memcpy(out + sizeof(offer_id), txid.p, txid.len);
    return n;
}

/* Does the map still hold the very event the store now has? */
static bool same_event(void *ctx, const void *val, size_t vlen)
{
    const pm_event_t *ev = ctx;
    pm_event_t held;
    return pm_event_decode(val, vlen, &held) == PM_OK && memcmp(held.id.b, ev->id.b, sizeof(ev->id.b)) == 0;
}

void pm_track_forget(pm_track_shared_t *shared, const pm_event_t *ev)
{
    if (ev->type == PM_EV_CLICK) {
        pm_recent_remove(shared->clicks, ev->id.b, sizeof(ev->id.b));
    } else if (ev->type == PM_EV_CONVERSION || ev->type == PM_EV_STATUS_CHANGE) {
        /* The entry may hold a later status change than the one stored:
         * it stays until that one is stored too. */
        unsigned char key[sizeof(int64_t) + CAP_TXID + PM_ID_LEN + 40];
        size_t n = conversion_key(ev->offer_id, ev->s[PM_EVS_TXID], key, sizeof(key));
        if (n) pm_recent_remove_if(shared->conversions, key, n, same_event, (void *)ev);
    }
}

/* --- conversions ------------------------------------------------------- */

/* A postback's parameters, each under its usual names across trackers. */
static const char *param(const pm_qs_t *qs, const char *const *names, size_t *len)
{
    for (; *names; names++) {
        const char *v = pm_qs_get(qs, *names, len);
        if (v) return v;
    }
    *len = 0;
    return NULL;
}

static const char *const p_clickid[] = {"clickid", "click_id", "cid", NULL};
static const char *const p_payout[] = {"payout", "revenue", NULL};
static const char *const p_txid[] = {"txid", "transaction_id", NULL};
static const char *const p_status[] = {"status", NULL};
static const char *const p_type[] = {"type", NULL};
static const char *const p_currency[] = {"currency", NULL};
static const char *const p_secret[] = {"secret", NULL};
static const char *const p_user_id[] = {"uid", "user_id", NULL};
static const char *const p_email[] = {"email", NULL};
static const char *const p_sale[] = {"amount", "sale_amount", "sale", NULL};
static const char *const p_lead[] = {"lead_id", NULL};

/* The status a postback reports ("approved" when it names none). */
static const char *normal_status(const char *v, size_t len)
{
    if (v == NULL || len == 0) return "approved";
    return pm_status_name(v, len);
}

static bool valid_type(const char *v, size_t len)
{
    if (len == 0 || len > 32) return false;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
    }
    return true;
}

typedef struct postback_s {
    pm_qs_t qs;
    bool pixel;
    const char *reason, *field; /* set when rejected */
    int status;                 /* HTTP status of a rejection */
    char message[160];
} postback_t;

static void reject(postback_t *pb, int status, const char *reason, const char *field, const char *msg)
{
    pb->status = status;
    pb->reason = reason;
    pb->field = field;
    snprintf(pb->message, sizeof(pb->message), "%s", msg);
}

/* The raw parameters of an orphan, for the data-quality report, with the
 * value of any email parameter blanked: raw addresses are never stored. */
static void orphan_query(pm_track_t *t, pm_event_t *ev, const char *p, size_t len)
{
    char *copy = scratch(t, len + 1);
    size_t n = 0;
    if (copy == NULL) return;
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(p + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - p) : len;
        bool email = end - i >= 6 && memcmp(p + i, "email=", 6) == 0;
        size_t keep = email ? 6 : end - i;
        memcpy(copy + n, p + i, keep);
        n += keep;
        if (amp) copy[n++] = '&';
        i = end + 1;
    }
    set_text(t, ev, PM_EVS_QUERY, copy, n, CAP_ORPHAN_QUERY);
}

/* Record an unattributable postback for the data-quality report and answer
 * it: JSON error for servers, the GIF for pixels (browsers see no errors). */
static void orphan(pm_track_t *t, const pm_config_t *cfg, const pm_http_req_t *req, postback_t *pb,
                   const pm_id_t *click_id, pm_http_res_t *res)
{
    const pm_settings_t *set = pm_config_settings(cfg);
    pm_event_t ev = {.type = PM_EV_ORPHAN};
    ev.ts = pm_now();
    ev.id = pm_id_next(&t->ids, ev.ts);
    if (click_id) ev.click_id = *click_id;
    pm_event_set(&ev, PM_EVS_REASON, pb->reason, strlen(pb->reason));
    pm_event_set(&ev, PM_EVS_METHOD, pb->pixel ? "pixel" : "postback", pb->pixel ? 5 : 8);
    orphan_query(t, &ev, req->query.p, req->query.len);
    if (req->body.len && ev.s[PM_EVS_QUERY].len == 0) orphan_query(t, &ev, req->body.p, req->body.len);
    size_t len;
    const char *txid = param(&pb->qs, p_txid, &len);
    if (txid) set_text(t, &ev, PM_EVS_TXID, txid, len, CAP_TXID);
    record_visitor(t, set, req, &ev, NULL);
    uint64_t lsn;
    if (journal(t, &ev, &lsn) == PM_OK) count(&t->n.orphans);
    if (pb->pixel) {
        res->status = 200;
        res->content_type = "image/gif";
        pm_ignore_rc(pm_buf_append(&res->body, pm_track_gif, sizeof(pm_track_gif)));
        return;
    }
    pm_http_res_error(res, pb->status, pb->reason, pb->field, "%s", pb->message);
}

/* The answer to a conversion, identical for its first and repeated
 * postbacks: it is built from the recorded conversion alone. */
static void answer(const pm_event_t *conv, bool pixel, pm_http_res_t *res)
{
    res->status = 200;
    if (pixel) {
        res->content_type = "image/gif";
        pm_ignore_rc(pm_buf_append(&res->body, pm_track_gif, sizeof(pm_track_gif)));
        return;
    }
    char conv_id[PM_ID_LEN + 1], click_id[PM_ID_LEN + 1], amount[PM_MONEY_STR_MAX];
    pm_id_format(&conv->id, conv_id);
    pm_id_format(&conv->click_id, click_id);
    pm_money_format(conv->revenue.micros, amount);
    const pm_str_t *s = conv->s;
    json_t *j = json_pack("{s:s, s:s, s:s, s:s#, s:s#, s:s#, s:{s:s, s:s}}", "result", "accepted",
                          "conversion_id", conv_id, "click_id", click_id, "txid", s[PM_EVS_TXID].p ? s[PM_EVS_TXID].p : "",
                          (int)s[PM_EVS_TXID].len, "status", s[PM_EVS_STATUS].p ? s[PM_EVS_STATUS].p : "",
                          (int)s[PM_EVS_STATUS].len, "type", s[PM_EVS_CONV_TYPE].p ? s[PM_EVS_CONV_TYPE].p : "",
                          (int)s[PM_EVS_CONV_TYPE].len, "revenue", "amount", amount, "currency",
                          conv->revenue.currency.code);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (text) pm_http_res_json(res, 200, text, strlen(text));
    else pm_http_res_error(res, 500, "internal", NULL, "cannot format the answer");
    free(text);
    json_decref(j);
}

/* Parameters come from a form body on POST, else from the query string
 * (also when a POST body holds no parameters at all). */
static void parse_params(const pm_http_req_t *req, postback_t *pb)
{
    if (req->body.len) {
        pm_qs_parse(&pb->qs, req->body.p, req->body.len);
        if (pb->qs.count) return;
        pm_qs_free(&pb->qs);
    }
    pm_qs_parse(&pb->qs, req->query.p, req->query.len);
}

/* A decimal parameter into micro-units; false (pb rejected) when malformed. */
static bool amount_param(postback_t *pb, const char *const *names, const char *code, int64_t *out, bool *present)
{
    size_t len;
    const char *why = "not a decimal amount", *v = param(&pb->qs, names, &len);
    *present = v && len;
    if (!*present || pm_money_parse(v, len, false, out, &why) == PM_OK) return true;
    char msg[sizeof(pb->message)];
    snprintf(msg, sizeof(msg), "%s: %s", names[0], why);
    reject(pb, 400, code, names[0], msg);
    return false;
}

/* Fill the labels of conversion `ev` from the postback and price it
 * (pm/pricing.h); false (with pb rejected) on a malformed value. */
static bool conversion_values(pm_track_t *t, const pm_config_t *cfg, postback_t *pb, pm_event_t *ev,
                              pm_price_in_t *in)
{
    size_t len;
    const char *v = param(&pb->qs, p_status, &len);
    const char *status = normal_status(v, len);
    if (status == NULL) {
        reject(pb, 400, "invalid_status", "status",
               "status must be approved, pending, rejected, chargeback or refund");
        return false;
    }
    pm_event_set(ev, PM_EVS_STATUS, status, strlen(status));
    v = param(&pb->qs, p_type, &len);
    if (v && !valid_type(v, len)) {
        reject(pb, 400, "invalid_type", "type", "type must be 1-32 characters of a-z, 0-9, _ or -");
        return false;
    }
    if (v) set_text(t, ev, PM_EVS_CONV_TYPE, v, len, 32);
    else pm_event_set(ev, PM_EVS_CONV_TYPE, "conversion", 10);
    memset(in, 0, sizeof(*in));
    in->offer = ev->offer_id ? pm_config_offer_by_id(cfg, ev->offer_id) : NULL;
    in->campaign = pm_config_campaign_by_id(cfg, ev->campaign_id);
    in->fallback = pm_config_settings(cfg)->currency;
    if (!amount_param(pb, p_payout, "invalid_payout", &in->revenue.micros, &in->has_revenue)) return false;
    if (!amount_param(pb, p_sale, "invalid_amount", &in->sale_micros, &in->has_sale)) return false;
    v = param(&pb->qs, p_currency, &len);
    if (v && len && pm_currency_parse(v, len, &in->revenue.currency) != PM_OK) {
        reject(pb, 400, "invalid_currency", "currency", "currency must be an ISO 4217 code");
        return false;
    }
    v = param(&pb->qs, p_txid, &len);
    if (v && len > CAP_TXID) {
        reject(pb, 400, "invalid_txid", "txid", "txid is longer than 128 characters");
        return false;
    }
    v = param(&pb->qs, p_lead, &len);
    if (v && len) set_text(t, ev, PM_EVS_LEAD_ID, v, len, CAP_PARAM);
    return true;
}

/* Price `ev` (its type string must be NUL-terminated in scratch). */
static bool conversion_price(const pm_config_t *cfg, postback_t *pb, pm_event_t *ev, pm_price_in_t *in)
{
    char type[33];
    snprintf(type, sizeof(type), "%.*s", (int)ev->s[PM_EVS_CONV_TYPE].len, ev->s[PM_EVS_CONV_TYPE].p);
    in->type = type;
    pm_price_t price;
    if (pm_price_conversion(cfg, in, &price) != PM_OK) {
        reject(pb, 400, "invalid_payout", "payout", "the amount is out of range");
        return false;
    }
    in->type = NULL; /* the local buffer ends here */
    ev->revenue = price.revenue;
    ev->cost = price.cost;
    ev->payout = price.payout;
    ev->partner_id = price.partner_id;
    return true;
}

/* The transaction id: as sent, or "<click id>:<type>" when the advertiser
 * sends none, so a repeated postback for the same click and type is still
 * recognised as the same conversion. */
static void conversion_txid(pm_track_t *t, postback_t *pb, const pm_offer_t *offer, pm_event_t *ev)
{
    size_t len;
    const char *v = param(&pb->qs, p_txid, &len);
    if (v && len) {
        set_text(t, ev, PM_EVS_TXID, v, len, CAP_TXID);
        return;
    }
    /* An offer that counts repeats from a click: each postback is its own
     * conversion (":<conversion id>"). */
    bool repeats = offer && offer->repeat_conversions;
    const pm_str_t *type = &ev->s[PM_EVS_CONV_TYPE];
    char *p = scratch(t, 2 * PM_ID_LEN + 3 + type->len);
    if (p == NULL) return;
    pm_id_format(&ev->click_id, p);
    p[PM_ID_LEN] = ':';
    memcpy(p + PM_ID_LEN + 1, type->p, type->len);
    size_t n = PM_ID_LEN + 1 + type->len;
    if (repeats) {
        p[n++] = ':';
        pm_id_format(&ev->id, p + n);
        n += PM_ID_LEN;
    }
    pm_event_set(ev, PM_EVS_TXID, p, n);
}

/* A postback's own identity parameters: its user id wins over the one
 * inherited from the click; an email is kept only as the SHA-256 hex of the
 * address trimmed of blanks and lower-cased (ASCII), never as sent. */
static void conversion_identity(pm_track_t *t, postback_t *pb, pm_event_t *ev)
{
    size_t len;
    const char *v = param(&pb->qs, p_user_id, &len);
    if (v && len) set_text(t, ev, PM_EVS_USER_ID, v, len, CAP_PARAM);
    v = param(&pb->qs, p_email, &len);
    while (v && len && (v[0] == ' ' || v[0] == '\t'))
        v++, len--;
    while (v && len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (v == NULL || len == 0 || len > CAP_EMAIL) return;
    char lower[CAP_EMAIL];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    for (size_t i = 0; i < len; i++)
        lower[i] = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] - 'A' + 'a') : v[i];
    SHA256((const unsigned char *)lower, len, digest);
    char *hex = scratch(t, 2 * SHA256_DIGEST_LENGTH);
    if (hex == NULL) return;
    for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        hex[2 * i] = "0123456789abcdef"[digest[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[digest[i] & 15];
    }
    pm_event_set(ev, PM_EVS_EMAIL_HASH, hex, 2 * SHA256_DIGEST_LENGTH);
}

/* The conversion inherits who, where and from which campaign from its
 * click: reports by sub-id or source need no join. */
static void inherit_click(pm_event_t *ev, const pm_event_t *click)
{
    ev->click_id = click->id;
    ev->visitor_id = click->visitor_id;
    ev->campaign_id = click->campaign_id;
    ev->traffic_source_id = click->traffic_source_id;
    ev->offer_id = click->offer_id;
    ev->lander_id = click->lander_id;
    ev->creative_id = click->creative_id;
    for (size_t i = 0; i < PM_ARRAY_LEN(click_fields); i++)
        ev->s[click_fields[i]] = click->s[click_fields[i]];
}

static bool click_from_request(const pm_http_req_t *req, postback_t *pb, pm_id_t *id, bool *present)
{
    size_t len;
    const char *v = param(&pb->qs, p_clickid, &len);
    *present = v && len;
    if (*present) return pm_id_parse(v, len, id) == PM_OK;
    *present = pb->pixel && cookie_id(req, "pmc", id);
    return *present;
}

/* --- the conversion lifecycle ------------------------------------------- */

/* What one postback (or API call) does to the conversion under its key,
 * decided under the key's lock in the shared map (see record_conversion). */
typedef enum conv_result_e { CONV_NEW, CONV_DUPLICATE, CONV_CHANGE, CONV_INVALID, CONV_MISSING } conv_result_t;

typedef struct conv_op_s {
    pm_track_t *t;
    const pm_config_t *cfg;
    pm_event_t *ev;         /* the conversion as this request reports it (priced) */
    const pm_price_in_t *in; /* how it was priced (for a change of revenue) */
    bool has_revenue;       /* the request names an amount: a different one is a change */
    bool must_exist;        /* API: change an existing conversion only */
    const char *method, *actor;
    pm_event_t cur;         /* the conversion's current state (CONVERSION-shaped) */
    int64_t version;        /* cur's number of changes */
    pm_event_t change;      /* the status change built, CONV_CHANGE */
    conv_result_t result;
    uint64_t lsn;
    int rc;
} conv_op_t;

/* The current state from a map value (a conversion or a status change);
 * strings borrow from t->dup, where the value is copied first. */
static int state_from_record(conv_op_t *op, const void *val, size_t vlen)
{
    pm_buf_reset(&op->t->dup);
    if (pm_buf_append(&op->t->dup, val, vlen) != PM_OK ||
        pm_event_decode(op->t->dup.data, op->t->dup.len, &op->cur) != PM_OK)
        return PM_ESTORE;
    op->version = 0;
    if (op->cur.type == PM_EV_STATUS_CHANGE) {
        op->version = op->cur.version;
        op->cur.type = PM_EV_CONVERSION;
        op->cur.id = op->cur.ref_id;
        op->cur.ts = op->cur.ref_ts;
    }
    return PM_OK;
}

static bool same_money(const pm_money_t *a, const pm_money_t *b)
{
    return a->micros == b->micros && strcmp(a->currency.code, b->currency.code) == 0;
}

static bool str_eq(pm_str_t a, pm_str_t b) { return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0); }

/* The status change from op->cur to what op->ev reports. */
static int build_change(conv_op_t *op)
{
    pm_track_t *t = op->t;
    pm_event_t *c = &op->change;
    const pm_event_t *cur = &op->cur, *ev = op->ev;
    *c = *cur; /* every dimension, the txid, the type, the lead id */
    c->type = PM_EV_STATUS_CHANGE;
    c->ts = pm_now();
    c->id = pm_id_next(&t->ids, c->ts);
    c->ref_id = cur->id;
    c->ref_ts = cur->ts;
    c->version = op->version + 1;
    c->prev_cost = cur->cost;
    c->prev_revenue = cur->revenue;
    c->prev_payout = cur->payout;
    c->s[PM_EVS_PREV_STATUS] = cur->s[PM_EVS_STATUS];
    c->s[PM_EVS_STATUS] = ev->s[PM_EVS_STATUS];
    pm_event_set(c, PM_EVS_METHOD, op->method, strlen(op->method));
    pm_event_set(c, PM_EVS_ACTOR, op->actor, strlen(op->actor));
    if (!op->has_revenue || same_money(&ev->revenue, &cur->revenue)) return PM_OK;
    /* A new amount: the fixed cost and payout stay, percentages follow. */
    pm_price_t price = {.revenue = ev->revenue, .cost = cur->cost, .payout = cur->payout,
                        .partner_id = cur->partner_id};
    char type[33];
    pm_price_in_t in = *op->in;
    snprintf(type, sizeof(type), "%.*s", (int)cur->s[PM_EVS_CONV_TYPE].len, cur->s[PM_EVS_CONV_TYPE].p);
    in.type = type;
    int rc = pm_price_reprice(op->cfg, &in, &price);
    c->revenue = price.revenue;
    c->cost = price.cost;
    c->payout = price.payout;
    return rc;
}

/* Journal `ev`, encoded into t->rec; *val and *vlen point at the record. */
static int journal_conversion(conv_op_t *op, const pm_event_t *ev, const void **val, size_t *vlen)
{
    pm_track_t *t = op->t;
    pm_buf_reset(&t->rec);
    int rc = pm_event_encode(ev, &t->rec);
    if (rc != PM_OK) return PM_ETOOBIG;
    if (pm_journal_append(t->journal, t->rec.data, t->rec.len, &op->lsn) != PM_OK) {
        count(&t->n.journal_errors);
        return PM_ESTORE;
    }
    *val = t->rec.data;
    *vlen = t->rec.len;
    return PM_OK;
}

/* Volume tiers (docs/money.md): `ev` at its place `place` in its offer's
 * month. An offer with tiers prices the conversion again at that place,
 * unless the postback named the revenue itself. */
static int price_at_place(conv_op_t *op, int64_t place)
{
    pm_event_t *ev = op->ev;
    ev->place = place;
    if (op->in->has_revenue || !pm_price_has_tiers(op->cfg, ev->offer_id)) return PM_OK;
    char type[33];
    snprintf(type, sizeof(type), "%.*s", (int)ev->s[PM_EVS_CONV_TYPE].len, ev->s[PM_EVS_CONV_TYPE].p);
    pm_price_in_t in = *op->in;
    in.type = type;
    in.place = place;
    pm_price_t price;
    int rc = pm_price_conversion(op->cfg, &in, &price);
    if (rc != PM_OK) return rc;
    ev->revenue = price.revenue;
    ev->cost = price.cost;
    ev->payout = price.payout;
    return PM_OK;
}

/* A new conversion not rejected takes the next place of its offer's month
 * (atomic: two loops never get the same one) and is priced at it. */
static int take_place(conv_op_t *op)
{
    pm_spend_t *sp = op->t->shared->spend;
    const pm_event_t *ev = op->ev;
    if (sp == NULL || ev->offer_id == 0 || strcmp(ev->s[PM_EVS_STATUS].p, "rejected") == 0) return PM_OK;
    int32_t month = pm_spend_month(pm_config_tz(op->cfg), ev->ts);
    return price_at_place(op, pm_spend_take_place(sp, ev->offer_id, month));
}

/* Decide, journal, and say what the map should hold now. Runs under the
 * conversion key's lock (or alone when the map is full). */
static int decide(void *arg, const void *cur, size_t curlen, const void **val, size_t *vlen)
{
    conv_op_t *op = arg;
    const pm_event_t *ev = op->ev;
    int rc = cur ? state_from_record(op, cur, curlen)
                 : find_stored_conversion(op->t, ev->offer_id, ev->s[PM_EVS_TXID], &op->cur, &op->version);
    if (rc == PM_ENOTFOUND) {
        bool ok = !op->must_exist && pm_status_initial(ev->s[PM_EVS_STATUS].p);
        op->result = op->must_exist ? CONV_MISSING : ok ? CONV_NEW : CONV_INVALID;
        if (!ok) return PM_OK;
        if ((rc = take_place(op)) != PM_OK) return rc;
        return journal_conversion(op, ev, val, vlen);
    }
    if (rc != PM_OK) return rc;
    /* A repeat or a change keeps the conversion's place (and tier). */
    if ((rc = price_at_place(op, op->cur.place)) != PM_OK) return rc;
    bool same_status = str_eq(op->cur.s[PM_EVS_STATUS], ev->s[PM_EVS_STATUS]);
    if (same_status && (!op->has_revenue || same_money(&op->cur.revenue, &ev->revenue))) {
        op->result = CONV_DUPLICATE;
        return PM_OK;
    }
    char from[16];
    snprintf(from, sizeof(from), "%.*s", (int)op->cur.s[PM_EVS_STATUS].len, op->cur.s[PM_EVS_STATUS].p);
    if (!pm_status_transition_ok(from, ev->s[PM_EVS_STATUS].p)) {
        op->result = CONV_INVALID;
        return PM_OK;
    }
    if ((rc = build_change(op)) != PM_OK) return rc;
    op->result = CONV_CHANGE;
    return journal_conversion(op, &op->change, val, vlen);
}

/* Run `decide` for the conversion's key under the shared map's lock (so
 * two loops cannot both record, or both change, the same conversion; the
 * store is checked under the same lock, so a conversion the materializer
 * is just forgetting cannot slip between). */
static int run_conversion(conv_op_t *op)
{
    unsigned char key[sizeof(int64_t) + CAP_TXID + PM_ID_LEN + 40];
    size_t klen = conversion_key(op->ev->offer_id, op->ev->s[PM_EVS_TXID], key, sizeof(key));
    int rc = klen ? pm_recent_update(op->t->shared->conversions, key, klen, decide, op) : PM_ETOOBIG;
    if (rc == PM_ETOOBIG) {
        /* The map is full: the store alone decides. */
        const void *val = NULL;
        size_t vlen = 0;
        rc = decide(op, NULL, 0, &val, &vlen);
    }
    return rc;
}

/* The answer to a conversion, identical for its first and repeated
 * postbacks: it is built from the recorded conversion alone. */
static void conversion_answer(conv_op_t *op, bool pixel, pm_http_res_t *res)
{
    pm_track_t *t = op->t;
    if (op->result == CONV_NEW || op->result == CONV_CHANGE) {
        count(op->result == CONV_NEW ? &t->n.conversions : &t->n.status_changes);
        t->sync_wanted = true; /* asked once per loop pass: see pm_track_flush */
        res->wait_lsn = op->lsn;
    }
    if (op->result == CONV_DUPLICATE) count(&t->n.duplicates);
    if (op->result == CONV_CHANGE) {
        pm_event_t now = op->change;
        now.id = op->change.ref_id;
        answer(&now, pixel, res);
    } else if (op->result == CONV_INVALID) {
        char from[16];
        snprintf(from, sizeof(from), "%.*s", (int)op->cur.s[PM_EVS_STATUS].len, op->cur.s[PM_EVS_STATUS].p);
        if (op->cur.type == PM_EV_NONE)
            pm_http_res_error(res, 409, "invalid_transition", "status", "a conversion cannot start as %s",
                              op->ev->s[PM_EVS_STATUS].p);
        else
            pm_http_res_error(res, 409, "invalid_transition", "status", "a conversion cannot go from %s to %s", from,
                              op->ev->s[PM_EVS_STATUS].p);
    } else if (op->result == CONV_MISSING) {
        pm_http_res_error(res, 404, "not_found", NULL, "no such conversion");
    } else {
        answer(op->result == CONV_NEW ? op->ev : &op->cur, pixel, res);
    }
}

/* Budgets and caps count what was journaled, as pm_spend_load counts the
 * store at start: a new conversion toward its offer's caps (unless
 * rejected) and its cost toward its campaign's budget. (A later status
 * change moves the ledger and the reports, not these counters.) */
static void count_conversion(pm_track_t *t, const pm_config_t *cfg, const conv_op_t *op)
{
    pm_spend_t *sp = t->shared->spend;
    const pm_event_t *ev = op->ev;
    if (sp == NULL || op->result != CONV_NEW) return;
    int32_t day = pm_spend_day(pm_config_tz(cfg), ev->ts);
    if (ev->offer_id && strcmp(ev->s[PM_EVS_STATUS].p, "rejected") != 0) pm_spend_count_conversion(sp, ev->offer_id, day);
    if (ev->cost.micros) pm_spend_add(sp, ev->campaign_id, day, ev->cost.micros);
}

/* How a conversion arrived: postback, pixel or import row. */
typedef struct conv_source_s {
    bool pixel, import;
    const char *method, *actor;
} conv_source_t;

static void record_conversion(pm_track_t *t, const pm_config_t *cfg, pm_event_t *ev, const pm_price_in_t *in,
                              const conv_source_t *src, pm_http_res_t *res)
{
    conv_op_t op = {.t = t, .cfg = cfg, .ev = ev, .in = in, .has_revenue = in->has_revenue || in->has_sale,
                    .method = src->method, .actor = src->actor};
    int rc = run_conversion(&op);
    if (rc == PM_ETOOBIG) {
        pm_http_res_error(res, 400, "too_big", NULL, "postback too large");
        return;
    }
    if (rc != PM_OK) {
        pm_http_res_error(res, 503, "unavailable", NULL, "the conversion could not be recorded; retry later");
        return;
    }
    count_conversion(t, cfg, &op);
    conversion_answer(&op, src->pixel, res);
}

/* An import row names the click, or the lead id recorded on an earlier
 * conversion of that click (a CRM sale closed weeks after the lead). */
static int click_of_lead(pm_track_t *t, postback_t *pb, pm_id_t *id)
{
    size_t len;
    const char *lead = param(&pb->qs, p_lead, &len);
    if (lead == NULL || len == 0) return PM_EINVAL;
    int rc = prepare(t, &t->click_by_lead,
                     "SELECT click_id FROM conversions WHERE lead_id=? ORDER BY ts, id LIMIT 1");
    if (rc != PM_OK) return rc;
    sqlite3_stmt *st = t->click_by_lead;
    sqlite3_bind_text(st, 1, lead, (int)len, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) col_id(st, 0, id);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return step == SQLITE_ROW ? PM_OK : step == SQLITE_DONE ? PM_ENOTFOUND : PM_ESTORE;
}

/* The click of a request into *click, or pb rejected. */
static bool conversion_click(pm_track_t *t, const pm_http_req_t *req, const conv_source_t *src, postback_t *pb,
                             pm_id_t *click_id, bool *present, pm_event_t *click)
{
    size_t len;
    if (src->import && param(&pb->qs, p_clickid, &len) == NULL) {
        int rc = click_of_lead(t, pb, click_id);
        if (rc == PM_EINVAL) reject(pb, 400, "missing_clickid", "click_id", "a row needs click_id or lead_id");
        else if (rc == PM_ENOTFOUND) reject(pb, 404, "unknown_lead", "lead_id", "no conversion with this lead_id");
        else if (rc != PM_OK) reject(pb, 503, "unavailable", NULL, "the store could not be read; retry later");
        if (rc != PM_OK) return false;
        *present = true;
    } else if (!click_from_request(req, pb, click_id, present)) {
        if (*present) reject(pb, 404, "unknown_click", "clickid", "the click id is not a perfmark click id");
        else reject(pb, 400, "missing_clickid", "clickid", "clickid is required");
        return false;
    }
    if (find_click(t, click_id, click) == PM_OK) return true;
    reject(pb, 404, "unknown_click", "clickid", "no click with this id");
    return false;
}

static void conversion_request(pm_track_t *t, const pm_config_t *cfg, const pm_http_req_t *req,
                               const conv_source_t *src, pm_http_res_t *res)
{
    const pm_settings_t *set = pm_config_settings(cfg);
    postback_t pb = {.pixel = src->pixel};
    pm_id_t click_id;
    bool present = false;
    size_t len;
    t->used = 0;
    parse_params(req, &pb);
    const char *secret = param(&pb.qs, p_secret, &len);
    pm_event_t click, ev = {.type = PM_EV_CONVERSION};
    pm_price_in_t in;
    if (!src->pixel && !src->import && set->postback_secret[0] &&
        (secret == NULL || strlen(set->postback_secret) != len || memcmp(secret, set->postback_secret, len) != 0)) {
        reject(&pb, 403, "bad_secret", "secret", "the postback secret is missing or wrong");
    } else if (conversion_click(t, req, src, &pb, &click_id, &present, &click)) {
        inherit_click(&ev, &click);
        if (conversion_values(t, cfg, &pb, &ev, &in) && conversion_price(cfg, &pb, &ev, &in)) {
            ev.ts = pm_now();
            ev.id = pm_id_next(&t->ids, ev.ts);
            pm_event_set(&ev, PM_EVS_METHOD, src->method, strlen(src->method));
            conversion_txid(t, &pb, in.offer, &ev);
            conversion_identity(t, &pb, &ev);
            record_conversion(t, cfg, &ev, &in, src, res);
        }
    }
    /* Imports report bad rows to their sender; they are no orphans. */
    if (pb.reason && src->import) pm_http_res_error(res, pb.status, pb.reason, pb.field, "%s", pb.message);
    else if (pb.reason) orphan(t, cfg, req, &pb, present ? &click_id : NULL, res);
    pm_qs_free(&pb.qs);
}

void pm_track_conversion(pm_track_t *t, const pm_config_t *cfg, const pm_http_req_t *req, bool pixel,
                         pm_http_res_t *res)
{
    conv_source_t src = {.pixel = pixel, .method = pixel ? "pixel" : "postback", .actor = pixel ? "pixel" : "postback"};
    conversion_request(t, cfg, req, &src, res);
}

void pm_track_import(pm_track_t *t, const pm_config_t *cfg, const char *params, size_t len, const char *actor,
                     pm_http_res_t *res)
{
    pm_http_req_t req;
    memset(&req, 0, sizeof(req));
    req.query = (pm_slice_t){params, len};
    conv_source_t src = {.import = true, .method = "import", .actor = actor};
    conversion_request(t, cfg, &req, &src, res);
}

int pm_track_report_cost(pm_track_t *t, const pm_track_cost_t *req, uint64_t *lsn)
{
    pm_event_t ev = {.type = PM_EV_COST_REPORT};
    ev.ts = pm_now();
    ev.id = pm_id_next(&t->ids, ev.ts);
    ev.campaign_id = req->campaign_id;
    ev.traffic_source_id = req->traffic_source_id;
    ev.ref_ts = req->day_start;
    ev.ref_end = req->day_end;
    ev.cost = req->cost;
    pm_event_set(&ev, PM_EVS_METHOD, req->method, strlen(req->method));
    pm_event_set(&ev, PM_EVS_ACTOR, req->actor, strlen(req->actor));
    int rc = journal(t, &ev, lsn);
    if (rc == PM_OK) t->sync_wanted = true; /* money: answered after the fsync */
    return rc;
}

int pm_track_set_status(pm_track_t *t, const pm_config_t *cfg, const pm_track_status_t *req, pm_http_res_t *res)
{
    pm_event_t ev;
    int64_t version;
    t->used = 0;
    int rc = find_conversion_by_id(t, &req->conversion_id, &ev, &version);
    if (rc == PM_ENOTFOUND) {
        pm_http_res_error(res, 404, "not_found", NULL, "no such conversion (or not stored yet: retry in a moment)");
        return rc;
    }
    if (rc != PM_OK) {
        pm_http_res_error(res, 503, "unavailable", NULL, "the conversion could not be read; retry later");
        return rc;
    }
    pm_price_in_t in = {.offer = ev.offer_id ? pm_config_offer_by_id(cfg, ev.offer_id) : NULL,
                        .campaign = pm_config_campaign_by_id(cfg, ev.campaign_id),
                        .fallback = pm_config_settings(cfg)->currency};
    pm_event_set(&ev, PM_EVS_STATUS, req->status, strlen(req->status));
    if (req->has_revenue) ev.revenue = req->revenue;
    conv_op_t op = {.t = t, .cfg = cfg, .ev = &ev, .in = &in, .has_revenue = req->has_revenue, .must_exist = true,
                    .method = req->method, .actor = req->actor};
    rc = run_conversion(&op);
    if (rc != PM_OK) {
        pm_http_res_error(res, 503, "unavailable", NULL, "the change could not be recorded; retry later");
        return rc;
    }
    conversion_answer(&op, false, res);
    return PM_OK;
}

/* The visitor left the click's lander for its offer: a lander click,
 * journaled before the redirect (its dimensions and visitor context are
 * the click's, so reports put it in the click's rows). Failing to journal
 * it loses only the count (journal_errors), never the visitor's redirect. */
static void record_lander_click(pm_track_t *t, const pm_event_t *click)
{
    if (click->lander_id == 0) return;
    pm_event_t ev = *click;
    ev.type = PM_EV_LANDER_CLICK;
    ev.ts = pm_now();
    ev.id = pm_id_next(&t->ids, ev.ts);
    ev.click_id = click->id;
    memset(&ev.cost, 0, sizeof(ev.cost));
    memset(&ev.revenue, 0, sizeof(ev.revenue));
    memset(&ev.payout, 0, sizeof(ev.payout));
    pm_event_set(&ev, PM_EVS_DEST_URL, NULL, 0);
    pm_event_set(&ev, PM_EVS_ROUTE, NULL, 0);
    uint64_t lsn;
    if (journal(t, &ev, &lsn) == PM_OK) count(&t->n.lander_clicks);
}

/* GET /go: the lander's link to the offer. The click (from ?clickid= or the
 * visitor's cookie) tells which campaign, hence which offer; the hop is
 * recorded as a lander click. */
void pm_track_go(pm_track_t *t, const pm_config_t *cfg, const pm_http_req_t *req, pm_http_res_t *res)
{
    const pm_settings_t *set = pm_config_settings(cfg);
    postback_t pb = {.pixel = true};
    pm_id_t click_id;
    bool present = false;
    pm_event_t click;
    t->used = 0;
    pm_qs_parse(&pb.qs, req->query.p, req->query.len);
    const pm_campaign_t *k = NULL;
    const pm_offer_t *offer = NULL;
    if (click_from_request(req, &pb, &click_id, &present) && find_click(t, &click_id, &click) == PM_OK)
        k = pm_config_campaign_by_id(cfg, click.campaign_id);
    /* A flow may have sent this click to another offer than the campaign's. */
    if (k) offer = click.offer_id ? pm_config_offer_by_id(cfg, click.offer_id) : k->offer;
    if (offer == NULL) {
        fallback(t, set, res);
    } else if (expand(t, offer->url, &click, offer->id, NULL) == PM_OK) {
        record_lander_click(t, &click);
        redirect(res, t->url.data, t->url.len);
    } else {
        fallback(t, set, res);
    }
    pm_qs_free(&pb.qs);
}

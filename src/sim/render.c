/*
 * render.c: the text of a simulated event, as the tracking path would have
 * captured it from the request: the visitor's (truncated) address, user
 * agent and Accept-Language, the referrer, and the parameters traffic
 * sources put on tracking links: sub1 = keyword / placement / site /
 * partner / app id, sub2 = the creative's name (pm_sim_creative_name,
 * the name of its entity; the event's creative_id is set in emit.c), sub3 = match type / audience /
 * widget position / sub-affiliate, UTM parameters on search and social, and
 * the source's own click id (gclid, msclkid, fbclid...) as external_id.
 *
 * Everything derives from the node (indices and random bits), so a
 * conversion rendered from a copy of its click's node carries exactly the
 * click's fields, as the tracking path copies them. Strings go to the
 * generator's scratch space, reset before each event.
 */
#include "sim_internal.h"

#include "pm/macro.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char base32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *scratch(pm__sim_t *s, size_t n)
{
    if (PM_NEVER(n > sizeof(s->scratch) - s->used)) return NULL;
    char *p = s->scratch + s->used;
    s->used += n;
    return p;
}

static void put(pm__sim_t *s, pm_event_t *ev, pm_event_str_t f, const char *fmt, ...) PM_PRINTF(4, 5);
static void put(pm__sim_t *s, pm_event_t *ev, pm_event_str_t f, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1;
    char *p = scratch(s, len + 1);
    if (p == NULL) return;
    memcpy(p, tmp, len + 1);
    pm_event_set(ev, f, p, len);
}

static void lit(pm_event_t *ev, pm_event_str_t f, const char *text) { pm_event_set(ev, f, text, strlen(text)); }

/* `n` characters of `alphabet` (64 or 32 long) drawn from `bits`. */
static void random_chars(char *out, size_t n, const char *alphabet, size_t alen, uint64_t bits)
{
    for (size_t i = 0; i < n; i++) {
        if (i % 8 == 0) bits = pm__sim_mix(bits + i);
        out[i] = alphabet[(bits >> (8 * (i % 8))) % alen];
    }
    out[n] = '\0';
}

/* sub2: the creative's name, as its entity is named (pm_sim_creative_name). */
static void creative(pm__sim_t *s, pm_event_t *ev, pm_sim_channel_t ch, int64_t campaign, unsigned i)
{
    char name[64];
    int n = pm_sim_creative_name(ch, campaign, i, name, sizeof(name));
    if (n > 0 && (size_t)n < sizeof(name)) put(s, ev, PM_EVS_SUB2, "%s", name);
}

static const char *pick(const pm__sim_strings_t *t, uint32_t i) { return t->v[i % t->n]; }

/* --- who: address, agent, language ------------------------------------------ */

static void bot_ip(pm__sim_t *s, const pm__sim_node_t *n, pm_event_t *ev)
{
    pm_ip_t ip = {.v4 = true};
    ip.b[10] = ip.b[11] = 0xff;
    for (int i = 0; i < 4; i++)
        ip.b[12 + i] = (uint8_t)(n->bot_ip >> (24 - 8 * i));
    pm_ip_truncate(&ip, s->cfg->ip_v4_prefix, s->cfg->ip_v6_prefix);
    char *text = scratch(s, PM_IP_STR_MAX);
    if (text) pm_event_set(ev, PM_EVS_IP, text, pm_ip_format(&ip, text));
}

static void agent(pm__sim_t *s, const pm__sim_node_t *n, pm_event_type_t as, pm_event_t *ev)
{
    if (n->flags & NF_BOT) {
        lit(ev, PM_EVS_USER_AGENT, pick(n->flags & NF_CRAWLER ? &pm__sim_crawler_agents : &pm__sim_headless_agents,
                                        n->bot_agent));
        return;
    }
    const pm__sim_visitor_t *v = &s->visitors[n->visitor];
    pm_sim_channel_t ch = s->camps[n->campaign].channel;
    if (ch == PM_SIM_CTV && as == PM_EV_IMPRESSION) {
        lit(ev, PM_EVS_USER_AGENT, pick(&pm__sim_tv_agents, v->tv_agent)); /* the household's TV */
    } else if (ch == PM_SIM_SOCIAL && (v->os == OS_IOS || v->os == OS_ANDROID)) {
        /* In-app browsers: Facebook's or Instagram's suffix on the system agent. */
        const pm__sim_strings_t *suffix = v->os == OS_IOS ? &pm__sim_inapp_ios : &pm__sim_inapp_android;
        put(s, ev, PM_EVS_USER_AGENT, "%s%s", pick(&pm__sim_user_agents[v->os], v->agent), pick(suffix, n->variant));
    } else {
        lit(ev, PM_EVS_USER_AGENT, pick(&pm__sim_user_agents[v->os], v->agent));
    }
}

static void who(pm__sim_t *s, const pm__sim_node_t *n, pm_event_type_t as, pm_event_t *ev)
{
    if (n->flags & NF_BOT) {
        bot_ip(s, n, ev);
        agent(s, n, as, ev);
        if (!(n->flags & NF_CRAWLER)) lit(ev, PM_EVS_LANGUAGE, "en-US,en;q=0.9");
        return;
    }
    const pm__sim_visitor_t *v = &s->visitors[n->visitor];
    lit(ev, PM_EVS_IP, v->ip);
    agent(s, n, as, ev);
    lit(ev, PM_EVS_LANGUAGE, pm__sim_countries[v->country].accept_language);
}

/* The visitor context, as the tracking path would detect it (pm/detect.h)
 * from the event's address and user agent; strings in s->visitor, which
 * lives until the next event. Never counted toward velocity: the
 * simulator's context is a function of address and agent alone. */
static void detect(pm__sim_t *s, pm_event_t *ev)
{
    const pm_str_t *ip_text = &ev->s[PM_EVS_IP], *ua = &ev->s[PM_EVS_USER_AGENT];
    pm_ip_t ip;
    if (s->detect == NULL || ip_text->p == NULL || pm_ip_parse(ip_text->p, ip_text->len, &ip) != PM_OK) return;
    pm_visitor_t *v = &s->visitor;
    pm_detect_visitor(s->detect, &ip, ua->p, ua->len, false, ev->ts, v);
    pm_detect_fill_event(v, ev);
}

/* --- where from: channel fields --------------------------------------------- */

static void search_fields(pm__sim_t *s, const pm__sim_node_t *n, pm_event_type_t as, pm_event_t *ev)
{
    const pm__sim_campaign_t *k = &s->camps[n->campaign];
    const pm__sim_strings_t *kw = &k->theme->keywords;
    bool bing = n->variant == 1;
    char id[40];
    put(s, ev, PM_EVS_SUB1, "kw-%lld%03u", (long long)k->c->id, (unsigned)n->sub1);
    creative(s, ev, PM_SIM_SEARCH, k->c->id, n->sub2);
    lit(ev, PM_EVS_SUB3, pick(&pm__sim_match_types, n->sub3));
    lit(ev, PM_EVS_UTM_SOURCE, bing ? "bing" : "google");
    lit(ev, PM_EVS_UTM_MEDIUM, "cpc");
    lit(ev, PM_EVS_UTM_CAMPAIGN, k->slug);
    ev->s[PM_EVS_UTM_CONTENT] = ev->s[PM_EVS_SUB2];
    put(s, ev, PM_EVS_UTM_TERM, "%s%s", pick(&pm__sim_keyword_prefixes, n->sub1 / kw->n), pick(kw, n->sub1));
    if (!(n->flags & NF_CRAWLER)) lit(ev, PM_EVS_REFERRER, bing ? "https://www.bing.com/" : "https://www.google.com/");
    if (as == PM_EV_IMPRESSION) return;
    if (bing) {
        random_chars(id, 32, "0123456789abcdef", 16, n->detail);
        put(s, ev, PM_EVS_EXTERNAL_ID, "%s", id);
    } else {
        random_chars(id, 22, b64url, 64, n->detail);
        put(s, ev, PM_EVS_EXTERNAL_ID, "EAIaIQobChMI%s", id);
    }
}

static void social_fields(pm__sim_t *s, const pm__sim_node_t *n, pm_event_type_t as, pm_event_t *ev)
{
    const pm__sim_campaign_t *k = &s->camps[n->campaign];
    bool instagram = n->variant == 1;
    bool mobile = !(n->flags & NF_BOT) && pm__sim_os_device[s->visitors[n->visitor].os] != DEV_DESKTOP;
    char id[40];
    lit(ev, PM_EVS_SUB1, pick(&pm__sim_social_placements, n->sub1));
    creative(s, ev, PM_SIM_SOCIAL, k->c->id, n->sub2);
    lit(ev, PM_EVS_SUB3, pick(&pm__sim_social_audiences, n->sub3));
    lit(ev, PM_EVS_UTM_SOURCE, instagram ? "instagram" : "facebook");
    lit(ev, PM_EVS_UTM_MEDIUM, "paid_social");
    lit(ev, PM_EVS_UTM_CAMPAIGN, k->slug);
    ev->s[PM_EVS_UTM_CONTENT] = ev->s[PM_EVS_SUB2];
    if (!(n->flags & NF_CRAWLER))
        lit(ev, PM_EVS_REFERRER, instagram ? "https://l.instagram.com/" : mobile ? "https://m.facebook.com/"
                                                                               : "https://www.facebook.com/");
    if (as == PM_EV_IMPRESSION) return;
    random_chars(id, 30, b64url, 64, n->detail);
    put(s, ev, PM_EVS_EXTERNAL_ID, "IwAR%s", id);
}

static void native_fields(pm__sim_t *s, const pm__sim_node_t *n, pm_event_type_t as, pm_event_t *ev)
{
    const pm__sim_campaign_t *k = &s->camps[n->campaign];
    unsigned site = 10000u + (n->sub1 * 7919u) % 90000u;
    put(s, ev, PM_EVS_SUB1, "site-%u", site);
    creative(s, ev, PM_SIM_NATIVE, k->c->id, n->sub2);
    lit(ev, PM_EVS_SUB3, pick(&pm__sim_native_positions, n->sub3));
    if (!(n->flags & NF_CRAWLER))
        put(s, ev, PM_EVS_REFERRER, "https://www.%s/%s/%u", pick(&pm__sim_publishers, n->sub1),
            pick(&pm__sim_sections, n->sub1 / pm__sim_publishers.n), (unsigned)(100000 + (n->detail >> 20) % 900000));
    if (as == PM_EV_IMPRESSION) return;
    put(s, ev, PM_EVS_EXTERNAL_ID, "%019llu", (unsigned long long)(n->detail % UINT64_C(10000000000000000000)));
}

static void affiliate_fields(pm__sim_t *s, const pm__sim_node_t *n, pm_event_type_t as, pm_event_t *ev)
{
    const pm__sim_campaign_t *k = &s->camps[n->campaign];
    put(s, ev, PM_EVS_SUB1, "aff-%u", 100u + n->sub1);
    creative(s, ev, PM_SIM_AFFILIATE, k->c->id, n->sub2);
    put(s, ev, PM_EVS_SUB3, "s%u", (unsigned)(n->sub3 % 50));
    if (!(n->flags & NF_CRAWLER)) put(s, ev, PM_EVS_REFERRER, "https://www.%s/", pick(&pm__sim_partners, n->sub1));
    if (as == PM_EV_IMPRESSION) return;
    put(s, ev, PM_EVS_EXTERNAL_ID, "AFF%016llX", (unsigned long long)n->detail);
}

static void ctv_fields(pm__sim_t *s, const pm__sim_node_t *n, pm_event_t *ev)
{
    const pm__sim_campaign_t *k = &s->camps[n->campaign];
    lit(ev, PM_EVS_SUB1, pick(&pm__sim_ctv_apps, n->sub1));
    creative(s, ev, PM_SIM_CTV, k->c->id, n->sub2);
    lit(ev, PM_EVS_SUB3, n->sub2 % 2 ? "15s" : "30s");
}

void pm__sim_render_fields(pm__sim_t *s, const pm__sim_node_t *n, pm_event_type_t as, pm_event_t *ev)
{
    who(s, n, as, ev);
    detect(s, ev);
    switch (s->camps[n->campaign].channel) {
    case PM_SIM_SEARCH: search_fields(s, n, as, ev); break;
    case PM_SIM_SOCIAL: social_fields(s, n, as, ev); break;
    case PM_SIM_NATIVE: native_fields(s, n, as, ev); break;
    case PM_SIM_AFFILIATE: affiliate_fields(s, n, as, ev); break;
    default: ctv_fields(s, n, ev); break;
    }
}

/* --- the click's destination -------------------------------------------------- */

typedef struct macro_ctx_s {
    const pm_event_t *ev;
    char click[PM_ID_LEN + 1], visitor[PM_ID_LEN + 1], go[512];
    char campaign[24], source[24], offer[24], lander[24];
} macro_ctx_t;

static bool is(const char *name, size_t len, const char *lit_name)
{
    return strlen(lit_name) == len && memcmp(name, lit_name, len) == 0;
}

/* The macros the tracking path knows (src/track/track.c), same values. */
static bool resolve(void *arg, const char *name, size_t len, const char **value, size_t *vlen)
{
    macro_ctx_t *c = arg;
    const char *v = NULL;
    if (is(name, len, "clickid") || is(name, len, "click_id")) v = c->click;
    else if (is(name, len, "visitor_id")) v = c->visitor;
    else if (is(name, len, "campaign_id")) v = c->campaign;
    else if (is(name, len, "traffic_source_id")) v = c->source;
    else if (is(name, len, "offer_id")) v = c->offer;
    else if (is(name, len, "lander_id")) v = c->lander;
    else if (is(name, len, "offer_url")) v = c->go;
    if (v) {
        *value = v;
        *vlen = strlen(v);
        return true;
    }
    for (int f = PM_EVS_SUB1; f <= PM_EVS_EXTERNAL_ID; f++) {
        if (!is(name, len, pm_event_str_name((pm_event_str_t)f))) continue;
        *value = c->ev->s[f].p;
        *vlen = c->ev->s[f].len;
        return true;
    }
    return false;
}

static void ref_text(char *out, size_t cap, int64_t id)
{
    if (id) snprintf(out, cap, "%lld", (long long)id);
    else out[0] = '\0';
}

void pm__sim_render_destination(pm__sim_t *s, const pm__sim_node_t *n, pm_event_t *ev)
{
    const pm_sim_campaign_t *c = s->camps[n->campaign].c;
    macro_ctx_t m = {.ev = ev};
    pm_id_format(&ev->id, m.click);
    pm_id_format(&ev->visitor_id, m.visitor);
    ref_text(m.campaign, sizeof(m.campaign), c->id);
    ref_text(m.source, sizeof(m.source), c->traffic_source_id);
    ref_text(m.offer, sizeof(m.offer), c->offer_id);
    ref_text(m.lander, sizeof(m.lander), c->lander_id);
    snprintf(m.go, sizeof(m.go), "%s/go?clickid=%s", s->cfg->base_url ? s->cfg->base_url : "", m.click);
    pm_buf_reset(&s->url);
    if (c->dest_url && pm_macro_expand(&s->url, c->dest_url, strlen(c->dest_url), resolve, &m, true) == PM_OK)
        pm_event_set(ev, PM_EVS_DEST_URL, pm_buf_str(&s->url), s->url.len);
}

/* --- the conversion's transaction id ------------------------------------------ */

static const char *txid_prefix(const char *payout_type)
{
    if (payout_type == NULL) return "T";
    if (strcmp(payout_type, "cpl") == 0) return "LD";
    if (strcmp(payout_type, "cpi") == 0) return "INS";
    if (strcmp(payout_type, "cps") == 0) return "ORD";
    return "TX";
}

/* What the advertiser sends: its own order or lead number mostly; none on
 * pixels and on a quarter of postbacks, where the tracking path makes it
 * "<click id>:<type>". Charged-back sales are marked "CB-" (the event
 * model has no chargeback status yet; see docs/demo.md). */
void pm__sim_render_txid(pm__sim_t *s, const pm__sim_node_t *n, const char *type, bool pixel, pm_event_t *ev)
{
    char id[16], click[PM_ID_LEN + 1];
    uint64_t bits = pm__sim_hash(n->detail, n->conv_type + 1u);
    random_chars(id, 12, base32, 32, bits);
    if (n->flags & NF_CHARGEBACK) {
        put(s, ev, PM_EVS_TXID, "CB-%s", id);
    } else if (pixel || bits % 4 == 0) {
        pm_id_format(&n->click_id, click);
        put(s, ev, PM_EVS_TXID, "%s:%s", click, type);
    } else {
        put(s, ev, PM_EVS_TXID, "%s-%s", txid_prefix(s->camps[n->campaign].c->payout_type), id);
    }
}

/*
 * flow_eval.c: the click path's half of flows (see pm/flow.h): conditions
 * evaluated against the click, the path chosen (bot, cap, first matching
 * rule, default), an option rotated among those whose offer is not capped
 * (else the fallback path), and the reason written as compact JSON into
 * the caller's buffer.
 *
 * Nothing here allocates: regexes run with the caller's match data, the
 * PRNG state is the caller's, and the reason is formatted in place. The
 * compiled flow is only read, so event loops share it freely.
 */
#include "flow_internal.h"

#include "pm/bandit.h"
#include "pm/stats_assign.h"
#include "pm/text.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* --- randomness ------------------------------------------------------------- */

void pm_flow_rng_seed(uint64_t *rng, uint64_t seed)
{
    *rng = seed ? seed : UINT64_C(0x9e3779b97f4a7c15);
}

/* splitmix64: tiny state, passes BigCrush, plenty for rotation. */
uint64_t pm_flow_rng_next(uint64_t *rng)
{
    uint64_t z = (*rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

double pm_flow_rng_unit(uint64_t *rng)
{
    return (double)(pm_flow_rng_next(rng) >> 11) * 0x1.0p-53;
}

static double normal(uint64_t *rng)
{
    double u = pm_flow_rng_unit(rng), v = pm_flow_rng_unit(rng);
    return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

/* Marsaglia and Tsang (2000), "A simple method for generating gamma
 * variables", for shape a >= 1. */
static double gamma_draw(uint64_t *rng, double a)
{
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = normal(rng), v = 1.0 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = pm_flow_rng_unit(rng);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

double pm_flow_sample_beta(uint64_t *rng, double a, double b)
{
    double x = gamma_draw(rng, a < 1 ? 1 : a), y = gamma_draw(rng, b < 1 ? 1 : b);
    return x + y > 0 ? x / (x + y) : 0.5;
}

/* One match context for every loop (read-only once made): it caps the work
 * a regex may do per click, so a catastrophic pattern ("(a+)+$") costs a
 * bounded time and simply does not match. */
#define REGEX_MATCH_LIMIT 100000
#define REGEX_DEPTH_LIMIT 10000

static pcre2_match_context *match_context;
static pthread_once_t match_context_once = PTHREAD_ONCE_INIT;

static void make_match_context(void)
{
    match_context = pcre2_match_context_create(NULL);
    if (match_context == NULL) return;
    pcre2_set_match_limit(match_context, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(match_context, REGEX_DEPTH_LIMIT);
}

void *pm_flow_match_data_create(void)
{
    pthread_once(&match_context_once, make_match_context);
    return pcre2_match_data_create(1, NULL);
}
void pm_flow_match_data_free(void *md)
{
    pcre2_match_data_free(md);
}

/* --- conditions -------------------------------------------------------------- */

int pm__flow_version_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, j = 0;
    while (i < alen || j < blen) {
        uint64_t x = 0, y = 0;
        for (; i < alen && a[i] >= '0' && a[i] <= '9'; i++)
            x = x < UINT64_MAX / 10 ? x * 10 + (uint64_t)(a[i] - '0') : x;
        for (; j < blen && b[j] >= '0' && b[j] <= '9'; j++)
            y = y < UINT64_MAX / 10 ? y * 10 + (uint64_t)(b[j] - '0') : y;
        if (x != y) return x < y ? -1 : 1;
        /* Skip the separator (or anything that is not a digit). */
        while (i < alen && (a[i] < '0' || a[i] > '9'))
            i++;
        while (j < blen && (b[j] < '0' || b[j] > '9'))
            j++;
    }
    return 0;
}

static bool regex_match(const cond_t *k, const char *s, size_t len, void *md)
{
    return md && pcre2_match(k->re, (PCRE2_SPTR)s, len, 0, 0, md, match_context) >= 0;
}

/* A string operand against the condition's operator. */
static bool text_match(const cond_t *k, const char *s, size_t len, void *md)
{
    switch (k->op) {
    case OP_EQUALS:
    case OP_IN:
        for (size_t i = 0; i < k->nvalues; i++)
            if (pm_text_ieq(s, len, k->values[i], strlen(k->values[i]))) return true;
        return false;
    case OP_REGEX: return regex_match(k, s, len, md);
    case OP_GTE: return len && pm__flow_version_cmp(s, len, k->values[0], strlen(k->values[0])) >= 0;
    case OP_LT: return len && pm__flow_version_cmp(s, len, k->values[0], strlen(k->values[0])) < 0;
    }
    return false;
}

/* "de" matches the tags de and de-AT; "de-AT" only de-AT. */
static bool language_tag_match(const cond_t *k, const char *tag, size_t len, void *md)
{
    if (k->op == OP_REGEX) return regex_match(k, tag, len, md);
    for (size_t i = 0; i < k->nvalues; i++) {
        size_t vlen = strlen(k->values[i]);
        if (pm_text_ieq(tag, len, k->values[i], vlen)) return true;
        if (len > vlen && tag[vlen] == '-' && pm_text_ieq(tag, vlen, k->values[i], vlen)) return true;
    }
    return false;
}

/* A q=0 range means "not acceptable": it never matches. */
static bool q_zero(const char *params, const char *end)
{
    const char *q = params;
    while (q < end && *q != 'q')
        q++;
    if (end - q < 3 || q[1] != '=') return false;
    for (const char *p = q + 2; p < end; p++)
        if (*p >= '1' && *p <= '9') return false;
    return true;
}

static bool language_match(const cond_t *k, const pm_str_t *v, void *md)
{
    const char *p = v->p, *end = v->p + v->len;
    while (p && p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        while (p < stop && *p == ' ')
            p++;
        const char *semi = p;
        while (semi < stop && *semi != ';')
            semi++;
        const char *tag_end = semi;
        if (semi == stop) semi = NULL;
        while (tag_end > p && tag_end[-1] == ' ')
            tag_end--;
        bool rejected = semi && q_zero(semi + 1, stop);
        if (tag_end > p && !rejected && language_tag_match(k, p, (size_t)(tag_end - p), md)) return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

/* The host of a referrer URL; false when it has none. */
static bool referrer_host(const pm_str_t *v, const char **host, size_t *len)
{
    const char *p = v->p, *end = v->p + v->len;
    const char *scheme = v->len > 3 ? memchr(p, ':', v->len) : NULL;
    if (scheme == NULL || end - scheme < 3 || scheme[1] != '/' || scheme[2] != '/') return false;
    p = scheme + 3;
    const char *h = p;
    while (p < end && *p != '/' && *p != '?' && *p != '#') {
        if (*p == '@') h = p + 1;
        p++;
    }
    const char *colon = memchr(h, ':', (size_t)(p - h));
    *host = h;
    *len = (size_t)((colon ? colon : p) - h);
    return *len > 0;
}

static bool referrer_match(const cond_t *k, const pm_str_t *v, void *md)
{
    const char *host;
    size_t len;
    if (!referrer_host(v, &host, &len)) return false;
    if (k->op == OP_REGEX) return regex_match(k, host, len, md);
    for (size_t i = 0; i < k->nvalues; i++) {
        size_t dlen = strlen(k->values[i]);
        if (pm_text_ieq(host, len, k->values[i], dlen)) return true;
        if (len > dlen && host[len - dlen - 1] == '.' && pm_text_ieq(host + len - dlen, dlen, k->values[i], dlen))
            return true;
    }
    return false;
}

static bool time_match(const cond_t *k, int64_t now_us)
{
    int64_t utc = now_us / PM_USEC_PER_SEC;
    int64_t local = utc + pm_tz_offset(k->tz, utc);
    int64_t day = local >= 0 ? local / 86400 : (local - 86399) / 86400;
    int hour = (int)((local - day * 86400) / 3600);
    int weekday = (int)(((day % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    return (k->hours & (1u << hour)) && (k->days & (1u << weekday));
}

/* Clicked within the look-back, and converted in it or not. */
static bool audience_match(const cond_t *k, const pm_flow_input_t *in)
{
    const pm_audience_visitor_t *h = in->history;
    int64_t since = in->now_us - (int64_t)k->lookback_days * 86400 * PM_USEC_PER_SEC;
    if (h == NULL || h->last_click_us == 0 || h->last_click_us < since) return false;
    bool converted = h->last_conversion_us && h->last_conversion_us >= since;
    return converted == k->converted;
}

static bool cond_eval(const cond_t *k, const pm_flow_input_t *in)
{
    const pm_event_t *ev = in->ev;
    switch (k->kind) {
    case C_ALL:
        for (size_t i = 0; i < k->nkids; i++)
            if (!cond_eval(k->kids[i], in)) return false;
        return true;
    case C_ANY:
        for (size_t i = 0; i < k->nkids; i++)
            if (cond_eval(k->kids[i], in)) return true;
        return false;
    case C_NOT: return !cond_eval(k->kids[0], in);
    case C_FIELD: return ev->s[k->field].len && text_match(k, ev->s[k->field].p, ev->s[k->field].len, in->match_data);
    case C_PARAM: {
        size_t len = 0;
        const char *v = in->qs ? pm_qs_get(in->qs, k->param, &len) : NULL;
        return v && text_match(k, v, len, in->match_data);
    }
    case C_LANGUAGE: return language_match(k, &ev->s[PM_EVS_LANGUAGE], in->match_data);
    case C_REFERRER: return referrer_match(k, &ev->s[PM_EVS_REFERRER], in->match_data);
    case C_IP:
        for (size_t i = 0; in->ip && i < k->ncidrs; i++)
            if (pm_cidr_match(&k->cidrs[i], in->ip)) return true;
        return false;
    case C_TIME: return time_match(k, in->now_us);
    case C_VISITOR: return in->returning == k->returning;
    case C_AUDIENCE: return audience_match(k, in);
    }
    return false;
}

/* --- the reason ----------------------------------------------------------------- */

typedef struct out_s {
    char *p;
    size_t cap, n;
    bool over;
} out_t;

static void put(out_t *o, const char *s, size_t len)
{
    if (o->over || o->n + len >= o->cap) {
        o->over = true;
        return;
    }
    memcpy(o->p + o->n, s, len);
    o->n += len;
}

static void putf(out_t *o, const char *fmt, ...) PM_PRINTF(2, 3);

static void putf(out_t *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0) put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A JSON string; names were checked as clean UTF-8 by the compiler. */
static void put_jstr(out_t *o, const char *s)
{
    put(o, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') put(o, "\\", 1);
        put(o, s, 1);
    }
    put(o, "\"", 1);
}

/* --- rotation ----------------------------------------------------------------- */

/* Which options may take the click, one bit each: those without an offer
 * or whose offer has not reached its conversion cap (docs/budgets.md). */
static uint32_t open_options(const pm_flow_path_t *p, const pm_flow_input_t *in)
{
    uint32_t open = 0;
    for (size_t i = 0; i < p->noptions; i++) {
        int64_t offer = p->options[i].offer_id;
        if (offer == 0 || in->offer_capped == NULL || !in->offer_capped(in->capped_ctx, offer)) open |= 1u << i;
    }
    return open;
}

static bool is_open(uint32_t open, size_t i)
{
    return (open >> i) & 1u;
}

/* The r-th open option (r < number of open options). */
static int nth_open(const pm_flow_path_t *p, uint32_t open, uint64_t r)
{
    for (size_t i = 0; i < p->noptions; i++)
        if (is_open(open, i) && r-- == 0) return (int)i;
    return 0;
}

static int pick_uniform(const pm_flow_path_t *p, uint32_t open, uint64_t *rng)
{
    return nth_open(p, open, pm_flow_rng_next(rng) % (uint64_t)__builtin_popcount(open));
}

static int pick_weighted(const pm_flow_path_t *p, uint32_t open, uint64_t *rng)
{
    uint64_t total = 0;
    for (size_t i = 0; i < p->noptions; i++)
        if (is_open(open, i)) total += p->options[i].weight;
    if (total == 0) return pick_uniform(p, open, rng);
    uint64_t r = pm_flow_rng_next(rng) % total;
    for (size_t i = 0; i < p->noptions; i++) {
        if (!is_open(open, i)) continue;
        if (r < p->options[i].weight) return (int)i;
        r -= p->options[i].weight;
    }
    return nth_open(p, open, 0);
}

static void put_weights(out_t *o, const pm_flow_path_t *p)
{
    put(o, ",\"weights\":[", 12);
    for (size_t i = 0; i < p->noptions; i++)
        putf(o, "%s%u", i ? "," : "", p->options[i].weight);
    put(o, "]", 1);
}

/* The visitor's variation among the options of `open` (weights of the
 * others taken as 0 and the rest renormalized); -1 when none. */
static int assign_open(const pm_flow_path_t *p, const char *visitor, uint32_t open)
{
    double weights[PM_FLOW_MAX_OPTIONS];
    uint64_t total = 0;
    int variation = -1;
    for (size_t i = 0; i < p->noptions; i++)
        if (is_open(open, i)) total += p->options[i].weight;
    if (total == 0) return -1;
    for (size_t i = 0; i < p->noptions; i++)
        weights[i] = is_open(open, i) ? (double)p->options[i].weight / (double)total : 0.0;
    if (pm_stats_assign(visitor, p->seed, weights, p->noptions, &variation) != PM_OK) return -1;
    return variation >= 0 && is_open(open, (size_t)variation) ? variation : -1;
}

/* Split: the visitor's GrowthBook assignment over every option; when that
 * option's offer is capped, a second assignment among the open ones (so
 * visitors of open options keep theirs). */
static int pick_split(const pm_flow_path_t *p, const pm_flow_input_t *in, uint32_t open, out_t *o)
{
    char visitor[PM_ID_LEN + 1];
    int variation = -1;
    uint32_t all = (uint32_t)((1ull << p->noptions) - 1);
    put(o, ",\"seed\":", 8);
    put_jstr(o, p->seed);
    put_weights(o, p);
    if (p->noptions == 1) return 0;
    if (!pm_id_is_zero(&in->ev->visitor_id)) {
        pm_id_format(&in->ev->visitor_id, visitor);
        variation = assign_open(p, visitor, all);
        if (variation >= 0 && !is_open(open, (size_t)variation)) variation = assign_open(p, visitor, open);
    }
    return variation >= 0 ? variation : pick_weighted(p, open, in->rng);
}

/* Thompson sampling: each open option's conversion rate drawn from its
 * Beta posterior (uniform prior), the best draw wins; with probability
 * min_share * n the pick is uniform instead, so no option starves. A
 * capped option's draw is written as null. */
static int pick_auto(const pm_flow_path_t *p, const pm_flow_input_t *in, uint32_t open, out_t *o)
{
    int best = -1;
    double best_draw = -1;
    if (pm_flow_rng_unit(in->rng) < p->min_share * (double)p->noptions) {
        put(o, ",\"explore\":true", 15);
        return pick_uniform(p, open, in->rng);
    }
    put(o, ",\"sampled\":[", 12);
    for (size_t i = 0; i < p->noptions; i++) {
        if (!is_open(open, i)) {
            putf(o, "%snull", i ? "," : "");
            continue;
        }
        uint64_t clicks = 0, conv = 0;
        if (in->bandit) pm_bandit_get(in->bandit, p->options[i].key, &clicks, &conv);
        if (conv > clicks) conv = clicks;
        double draw = pm_flow_sample_beta(in->rng, 1.0 + (double)conv, 1.0 + (double)(clicks - conv));
        putf(o, "%s%.5f", i ? "," : "", draw);
        if (draw > best_draw) best_draw = draw, best = (int)i;
    }
    put(o, "]", 1);
    return best >= 0 ? best : nth_open(p, open, 0);
}

static const char *const rotation_names[] = {"weighted", "auto", "split"};

/* One of the options in `open` (not empty). */
static int rotate(const pm_flow_path_t *p, const pm_flow_input_t *in, uint32_t open, out_t *o)
{
    put(o, ",\"rotation\":", 12);
    put_jstr(o, rotation_names[p->rotation]);
    switch (p->rotation) {
    case PM_FLOW_AUTO: return pick_auto(p, in, open, o);
    case PM_FLOW_SPLIT: return pick_split(p, in, open, o);
    case PM_FLOW_WEIGHTED: break;
    }
    put_weights(o, p);
    return pick_weighted(p, open, in->rng);
}

/* The indices of the options skipped for their offer's cap. */
static void put_capped(out_t *o, const pm_flow_path_t *p, uint32_t open)
{
    bool first = true;
    put(o, ",\"capped\":[", 11);
    for (size_t i = 0; i < p->noptions; i++) {
        if (is_open(open, i)) continue;
        putf(o, "%s%zu", first ? "" : ",", i);
        first = false;
    }
    put(o, "]", 1);
}

/* --- the decision -------------------------------------------------------------- */

static const pm_flow_path_t *choose_path(const pm_flow_t *f, const pm_flow_input_t *in, pm_flow_choice_t *out)
{
    out->rule = -1;
    if (f->has_bot && in->ev->s[PM_EVS_BOT_REASON].len) {
        out->by = "bot";
        return &f->bot_path;
    }
    if (f->has_fallback && in->over_cap) {
        out->by = "cap";
        return &f->fallback_path;
    }
    for (size_t i = 0; i < f->nrules; i++) {
        if (cond_eval(f->rules[i].when, in)) {
            out->by = "rule";
            out->rule = (int)i;
            return &f->rules[i].path;
        }
    }
    out->by = "default";
    return &f->default_path;
}

/* Every option of the chosen path capped: the flow's fallback path, when
 * it has one and is not already on it. Updates *p, *open and out. */
static void offer_cap_fallback(const pm_flow_t *f, const pm_flow_input_t *in, const pm_flow_path_t **p, uint32_t *open,
                               pm_flow_choice_t *out)
{
    out->offer_capped = true;
    if (!f->has_fallback || *p == &f->fallback_path) return;
    *p = &f->fallback_path;
    *open = open_options(*p, in);
    out->by = "offer_cap";
    out->rule = -1;
}

void pm_flow_route(const pm_flow_t *f, const pm_flow_input_t *in, pm_flow_choice_t *out, char *reason, size_t cap,
                   size_t *reason_len)
{
    out_t o = {.p = reason, .cap = cap};
    out->offer_capped = false;
    const pm_flow_path_t *p = choose_path(f, in, out);
    uint32_t all = (uint32_t)((1ull << p->noptions) - 1), open = open_options(p, in);
    if (open != all) out->offer_capped = true;
    if (open == 0) offer_cap_fallback(f, in, &p, &open, out);
    putf(&o, "{\"flow\":%lld,\"by\":", (long long)f->id);
    put_jstr(&o, out->by);
    if (out->rule >= 0) {
        putf(&o, ",\"rule\":%d,\"rule_name\":", out->rule);
        put_jstr(&o, f->rules[out->rule].name);
    }
    put(&o, ",\"path\":", 8);
    put_jstr(&o, p->name);
    out->path = p;
    if (open != (uint32_t)((1ull << p->noptions) - 1)) put_capped(&o, p, open);
    if (open == 0) {
        out->option = NULL;
        out->option_index = -1;
        put(&o, ",\"option\":null}", 15);
    } else {
        int i = rotate(p, in, open, &o);
        putf(&o, ",\"option\":%d,\"k\":\"%016llx\"}", i, (unsigned long long)p->options[i].key);
        out->option = &p->options[i];
        out->option_index = i;
    }
    if (o.over || cap == 0) o.n = 0;
    if (cap) reason[o.n] = '\0';
    *reason_len = o.n;
}

bool pm_flow_reason_key(const char *reason, size_t len, uint64_t *key)
{
    static const char tag[] = "\"k\":\"";
    const char *p = reason;
    size_t tlen = sizeof(tag) - 1;
    if (reason == NULL || len < tlen + 16) return false;
    const char *end = reason + len;
    /* The key is the last member: search from the end. */
    for (const char *q = end - tlen - 16; q >= p; q--) {
        if (memcmp(q, tag, tlen) != 0) continue;
        uint64_t v = 0;
        for (const char *h = q + tlen; h < q + tlen + 16; h++) {
            int d = *h >= '0' && *h <= '9' ? *h - '0' : *h >= 'a' && *h <= 'f' ? *h - 'a' + 10 : -1;
            if (d < 0) return false;
            v = v << 4 | (uint64_t)d;
        }
        *key = v;
        return true;
    }
    return false;
}

/*
 * ua.c: uap-core user-agent parsing (see pm/ua.h).
 *
 * regexes.yaml holds three ordered lists (user agents, OSes, devices); each
 * entry is a regex plus optional replacements with $1..$9 references. The
 * semantics follow uap-core's reference parsers (ua-parser for Python):
 * the first regex that matches *and* yields a non-empty family wins,
 * replacements are expanded then trimmed, an empty result is null. The
 * regexes are written for Python's `re`; PCRE2 compiles all of those in
 * uap-core 0.16 (any it rejects are skipped and counted).
 *
 * Cold parses walk up to ~1,200 JIT-compiled regexes; user agents repeat a
 * lot in real traffic, so each parser keeps an LRU cache of results: a
 * chained hash table over a fixed array of entries, with the LRU order as an
 * index-linked list. Entries store the UA bytes, so a hash collision is a
 * miss, never a wrong answer.
 */
#include "pm/ua.h"
#include "pm/hash.h"
#include "route/route_data.h"
#include "literal.h"
#include "yaml.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>

enum { LIST_UA, LIST_OS, LIST_DEVICE, LIST__COUNT };
#define NREPL       5
#define MATCH_LIMIT 200000 /* backtracking steps per regex: bounds hostile input */

static const char *const list_names[LIST__COUNT] = {"user_agent_parsers", "os_parsers", "device_parsers"};
/* Replacement keys per list, in the order of rule_t.repl. */
static const char *const repl_keys[LIST__COUNT][NREPL] = {
    {"family_replacement", "v1_replacement", "v2_replacement", "v3_replacement", NULL},
    {"os_replacement", "os_v1_replacement", "os_v2_replacement", "os_v3_replacement", "os_v4_replacement"},
    {"device_replacement", "brand_replacement", "model_replacement", NULL, NULL},
};

typedef struct rule_s {
    pcre2_code *re;
    char *repl[NREPL];
    char lit[PM__LITERAL_MAX]; /* every match contains it (literal.h); lit_len 0 = none known */
    size_t lit_len;
} rule_t;

typedef struct rules_s {
    rule_t *v;
    size_t n, cap;
} rules_t;

struct pm_ua_db_s {
    rules_t list[LIST__COUNT];
    size_t skipped;
    uint32_t max_groups;
};

/* --- loading ---------------------------------------------------------------- */

static int list_of(const char *section)
{
    for (int i = 0; i < LIST__COUNT; i++)
        if (strcmp(section, list_names[i]) == 0) return i;
    return -1;
}

static int add_rule(void *arg, const pm__yaml_item_t *item)
{
    pm_ua_db_t *db = arg;
    int l = list_of(item->section);
    const char *regex = pm__yaml_get(item, "regex");
    if (l < 0 || regex == NULL) return PM_OK;
    const char *flag = pm__yaml_get(item, "regex_flag");
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (flag && strchr(flag, 'i') ? PCRE2_CASELESS : 0);
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, opts, &err, &off, NULL);
    if (re == NULL) {
        db->skipped++;
        return PM_OK;
    }
    pm_ignore_rc(pcre2_jit_compile(re, PCRE2_JIT_COMPLETE)); /* without JIT it is only slower */
    uint32_t groups = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &groups);
    if (groups > db->max_groups) db->max_groups = groups;
    rules_t *r = &db->list[l];
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->v = pm_realloc(r->v, r->cap * sizeof(*r->v));
    }
    rule_t *rule = &r->v[r->n++];
    memset(rule, 0, sizeof(*rule));
    rule->re = re;
    if (!(opts & PCRE2_CASELESS)) rule->lit_len = pm__re_required_literal(regex, rule->lit);
    for (int i = 0; i < NREPL; i++) {
        const char *v = repl_keys[l][i] ? pm__yaml_get(item, repl_keys[l][i]) : NULL;
        rule->repl[i] = v ? pm_strdup(v) : NULL;
    }
    return PM_OK;
}

int pm_ua_db_load(const char *yaml, size_t len, pm_ua_db_t **out)
{
    pm_ua_db_t *db = pm_calloc(1, sizeof(*db));
    int rc = pm__yaml_each(yaml, len, add_rule, db);
    if (rc == PM_OK && db->list[LIST_UA].n + db->list[LIST_OS].n + db->list[LIST_DEVICE].n == 0) rc = PM_EINVAL;
    if (rc != PM_OK) {
        pm_ua_db_destroy(db);
        db = NULL;
    }
    *out = db;
    return rc;
}

int pm_ua_db_load_default(pm_ua_db_t **out)
{
    return pm_ua_db_load((const char *)pm__uap_regexes_start, (size_t)(pm__uap_regexes_end - pm__uap_regexes_start),
                         out);
}

void pm_ua_db_destroy(pm_ua_db_t *db)
{
    if (db == NULL) return;
    for (int l = 0; l < LIST__COUNT; l++) {
        for (size_t i = 0; i < db->list[l].n; i++) {
            pcre2_code_free(db->list[l].v[i].re);
            for (int k = 0; k < NREPL; k++)
                pm_free(db->list[l].v[i].repl[k]);
        }
        pm_free(db->list[l].v);
    }
    pm_free(db);
}

size_t pm_ua_db_count(const pm_ua_db_t *db)
{
    return db->list[LIST_UA].n + db->list[LIST_OS].n + db->list[LIST_DEVICE].n;
}

size_t pm_ua_db_skipped(const pm_ua_db_t *db)
{
    return db->skipped;
}

/* --- the parser and its cache -------------------------------------------------- */

typedef struct entry_s {
    uint64_t hash;
    int32_t chain;      /* next entry in the same bucket, -1 = end */
    int32_t prev, next; /* LRU order: head = most recent */
    uint16_t len;
    char ua[PM_UA_MAX_LEN];
    pm_ua_t result;
} entry_t;

struct pm_ua_parser_s {
    const pm_ua_db_t *db;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    pm_ua_tagger_fn tagger;
    void *tagger_arg;
    pm_ua_t scratch; /* the answer without a cache */
    entry_t *entries;
    int32_t *buckets;
    size_t cap, used, mask;
    int32_t head, tail;
    pm_ua_cache_stats_t stats;
};

pm_ua_parser_t *pm_ua_parser_create(const pm_ua_db_t *db, size_t cache_entries)
{
    pm_ua_parser_t *p = pm_calloc(1, sizeof(*p));
    p->db = db;
    p->md = pcre2_match_data_create(db->max_groups + 1, NULL);
    p->mctx = pcre2_match_context_create(NULL);
    p->jit = pcre2_jit_stack_create(32 << 10, 1 << 20, NULL);
    if (p->md == NULL || p->mctx == NULL || p->jit == NULL) pm_panic("ua: out of memory");
    pcre2_set_match_limit(p->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(p->mctx, 10000);
    pcre2_jit_stack_assign(p->mctx, NULL, p->jit);
    if (cache_entries > 1u << 20) cache_entries = 1u << 20;
    p->cap = cache_entries;
    p->head = p->tail = -1;
    if (cache_entries) {
        size_t nb = 1;
        while (nb < cache_entries * 2)
            nb <<= 1;
        p->mask = nb - 1;
        p->entries = pm_malloc(cache_entries * sizeof(*p->entries));
        p->buckets = pm_malloc(nb * sizeof(*p->buckets));
        memset(p->buckets, 0xff, nb * sizeof(*p->buckets));
    }
    return p;
}

void pm_ua_parser_destroy(pm_ua_parser_t *p)
{
    if (p == NULL) return;
    pcre2_match_data_free(p->md);
    pcre2_match_context_free(p->mctx);
    pcre2_jit_stack_free(p->jit);
    pm_free(p->entries);
    pm_free(p->buckets);
    pm_free(p);
}

pm_ua_cache_stats_t pm_ua_cache_stats(const pm_ua_parser_t *p)
{
    return p->stats;
}

void pm_ua_parser_set_tagger(pm_ua_parser_t *p, pm_ua_tagger_fn fn, void *arg)
{
    p->tagger = fn;
    p->tagger_arg = arg;
}

/* --- matching ------------------------------------------------------------------- */

typedef struct match_s {
    const char *subject;
    const PCRE2_SIZE *ov;
    uint32_t n; /* groups set: 1 + highest group number that matched */
} match_t;

/* Group g of the match (empty when it did not take part). */
static size_t group(const match_t *m, uint32_t g, const char **p)
{
    if (g >= m->n || m->ov[2 * g] == PCRE2_UNSET) {
        *p = "";
        return 0;
    }
    *p = m->subject + m->ov[2 * g];
    return m->ov[2 * g + 1] - m->ov[2 * g];
}

static void copy_trim(char *out, size_t cap, const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= cap) n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* uap-core's MultiReplace: $1..$9 become their groups, then trim. */
static void expand(const match_t *m, const char *tpl, char *out, size_t cap)
{
    char tmp[4 * PM_UA_NAME_MAX];
    size_t n = 0;
    for (const char *c = tpl; *c && n < sizeof(tmp) - 1; c++) {
        if (c[0] == '$' && c[1] >= '1' && c[1] <= '9') {
            const char *g;
            size_t len = group(m, (uint32_t)(c[1] - '0'), &g);
            if (len > sizeof(tmp) - 1 - n) len = sizeof(tmp) - 1 - n;
            memcpy(tmp + n, g, len);
            n += len;
            c++;
        } else {
            tmp[n++] = *c;
        }
    }
    copy_trim(out, cap, tmp, n);
}

/* Field k of a match: the replacement expanded, else group `g` (0 = none). */
static void field(const match_t *m, const rule_t *r, int k, uint32_t g, char *out, size_t cap)
{
    out[0] = '\0';
    if (r->repl[k]) {
        expand(m, r->repl[k], out, cap);
    } else if (g) {
        const char *p;
        size_t n = group(m, g, &p);
        copy_trim(out, cap, p, n);
    }
}

/* The first rule of list l that matches `ua`, or NULL. */
static const rule_t *first_match(pm_ua_parser_t *p, int l, const char *ua, size_t len, size_t *from, match_t *m)
{
    const rules_t *rs = &p->db->list[l];
    for (size_t i = *from; i < rs->n; i++) {
        const rule_t *r = &rs->v[i];
        if (r->lit_len && memmem(ua, len, r->lit, r->lit_len) == NULL) continue; /* cannot match */
        int rc = pcre2_match(r->re, (PCRE2_SPTR)ua, len, 0, 0, p->md, p->mctx);
        if (rc > 0) {
            *from = i + 1;
            m->subject = ua;
            m->ov = pcre2_get_ovector_pointer(p->md);
            m->n = (uint32_t)rc;
            return &rs->v[i];
        }
    }
    *from = rs->n;
    return NULL;
}

static void parse_browser(pm_ua_parser_t *p, const char *ua, size_t len, pm_ua_t *out)
{
    match_t m;
    const rule_t *r;
    for (size_t from = 0; (r = first_match(p, LIST_UA, ua, len, &from, &m));) {
        field(&m, r, 0, 1, out->browser, sizeof(out->browser));
        if (out->browser[0] == '\0') continue;
        for (int k = 0; k < 3; k++)
            field(&m, r, k + 1, (uint32_t)k + 2, out->browser_v[k], PM_UA_VER_MAX);
        return;
    }
    strcpy(out->browser, "Other");
}

static void parse_os(pm_ua_parser_t *p, const char *ua, size_t len, pm_ua_t *out)
{
    match_t m;
    const rule_t *r;
    for (size_t from = 0; (r = first_match(p, LIST_OS, ua, len, &from, &m));) {
        field(&m, r, 0, 1, out->os, sizeof(out->os));
        if (out->os[0] == '\0') continue;
        for (int k = 0; k < 4; k++)
            field(&m, r, k + 1, (uint32_t)k + 2, out->os_v[k], PM_UA_VER_MAX);
        return;
    }
    strcpy(out->os, "Other");
}

static void parse_device(pm_ua_parser_t *p, const char *ua, size_t len, pm_ua_t *out)
{
    match_t m;
    const rule_t *r;
    for (size_t from = 0; (r = first_match(p, LIST_DEVICE, ua, len, &from, &m));) {
        field(&m, r, 0, 1, out->device, sizeof(out->device));
        if (out->device[0] == '\0') continue;
        field(&m, r, 1, 0, out->brand, sizeof(out->brand));
        field(&m, r, 2, 1, out->model, sizeof(out->model));
        return;
    }
    strcpy(out->device, "Other");
}

/* --- device type ----------------------------------------------------------------- */

static bool has(const char *s, const char *needle)
{
    return strstr(s, needle) != NULL;
}

static bool any_of(const char *s, const char *const *needles)
{
    for (; *needles; needles++)
        if (strstr(s, *needles)) return true;
    return false;
}

static bool is(const char *s, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(s, *names) == 0) return true;
    return false;
}

static const char *const tv_marks[] = {
    "SmartTV",   "SMART-TV", "Smart-TV", "SmartTv", "HbbTV",   "AppleTV", "Apple TV", "GoogleTV", "Android TV",
    "AndroidTV", "CrKey",    "Roku",     "BRAVIA",  "NetCast", "Web0S",   "webOS.TV", "Tizen TV", "TV Safari",
    "AFTB",      "AFTM",     "AFTS",     "AFTT",    "AFTK",    "AFTN",    "DTV",      NULL};
static const char *const console_marks[] = {"PlayStation", "Xbox", "Nintendo", "PLAYSTATION", NULL};
static const char *const tablet_marks[] = {"iPad",     "Tablet",  "tablet",  "Kindle",   "Silk/",
                                           "PlayBook", "Nexus 7", "Nexus 9", "Nexus 10", NULL};
static const char *const mobile_oses[] = {"iOS",
                                          "Android",
                                          "Windows Phone",
                                          "Windows Mobile",
                                          "BlackBerry OS",
                                          "Symbian OS",
                                          "Symbian^3",
                                          "Symbian^3 Anna",
                                          "Symbian^3 Belle",
                                          "KaiOS",
                                          "Firefox OS",
                                          "Sailfish",
                                          "Ubuntu Touch",
                                          "webOS",
                                          "Bada",
                                          "Nokia Series 40",
                                          "Nokia Series 30 Plus",
                                          "Brew MP",
                                          "Tizen",
                                          "WatchOS",
                                          "MeeGo",
                                          "Maemo",
                                          NULL};
static const char *const desktop_oses[] = {
    "Windows",    "Mac OS X",  "Mac OS",  "Linux",   "Ubuntu", "Debian",  "Fedora", "Red Hat",   "Gentoo", "Mint",
    "Arch Linux", "Chrome OS", "FreeBSD", "OpenBSD", "NetBSD", "Solaris", "SUSE",   "Slackware", "CentOS", NULL};

/* Derivation order (docs/routing.md): uap-core's Spider device -> bot;
 * consoles and TVs by their device, OS or UA marks; tablets by device or
 * marks, and Android without "Mobile" (Google's convention for tablet
 * browsers); phones by a mobile OS, a "Mobi" mark or a generic phone
 * device; desktops by a desktop OS; else other. */
static pm_ua_device_type_t device_type(const pm_ua_t *r, const char *ua)
{
    if (strcmp(r->device, "Spider") == 0) return PM_UA_BOT;
    if (any_of(r->device, console_marks) || any_of(r->os, console_marks) || any_of(ua, console_marks))
        return PM_UA_CONSOLE;
    if (any_of(ua, tv_marks) || has(r->device, "TV") || strcmp(r->os, "tvOS") == 0 ||
        strcmp(r->os, "Chromecast") == 0 || strcmp(r->os, "ATV OS X") == 0 || strcmp(r->os, "FireHbbTV") == 0)
        return PM_UA_TV;
    if (strcmp(r->device, "Generic Tablet") == 0 || any_of(r->device, tablet_marks) || any_of(ua, tablet_marks) ||
        strcmp(r->os, "BlackBerry Tablet OS") == 0 || (strcmp(r->os, "Android") == 0 && !has(ua, "Mobile")))
        return PM_UA_TABLET;
    if (is(r->os, mobile_oses) || has(ua, "Mobi") || strncmp(r->device, "Generic ", 8) == 0) return PM_UA_MOBILE;
    if (is(r->os, desktop_oses)) return PM_UA_DESKTOP;
    return PM_UA_OTHER;
}

static void parse_uncached(pm_ua_parser_t *p, const char *ua, size_t len, pm_ua_t *out)
{
    memset(out, 0, sizeof(*out));
    parse_browser(p, ua, len, out);
    parse_os(p, ua, len, out);
    parse_device(p, ua, len, out);
    /* device_type's marks need a NUL-terminated copy */
    char text[PM_UA_MAX_LEN + 1];
    memcpy(text, ua, len);
    text[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\0') text[i] = ' ';
    out->type = device_type(out, text);
    if (p->tagger) out->tags = p->tagger(p->tagger_arg, ua, len);
}

/* --- the LRU cache ---------------------------------------------------------------- */

static void lru_unlink(pm_ua_parser_t *p, int32_t i)
{
    entry_t *e = &p->entries[i];
    if (e->prev >= 0)
        p->entries[e->prev].next = e->next;
    else
        p->head = e->next;
    if (e->next >= 0)
        p->entries[e->next].prev = e->prev;
    else
        p->tail = e->prev;
}

static void lru_push_front(pm_ua_parser_t *p, int32_t i)
{
    entry_t *e = &p->entries[i];
    e->prev = -1;
    e->next = p->head;
    if (p->head >= 0) p->entries[p->head].prev = i;
    p->head = i;
    if (p->tail < 0) p->tail = i;
}

static void bucket_remove(pm_ua_parser_t *p, int32_t i)
{
    int32_t *link = &p->buckets[p->entries[i].hash & p->mask];
    while (*link != i)
        link = &p->entries[*link].chain;
    *link = p->entries[i].chain;
}

static int32_t cache_find(pm_ua_parser_t *p, uint64_t h, const char *ua, size_t len)
{
    for (int32_t i = p->buckets[h & p->mask]; i >= 0; i = p->entries[i].chain) {
        const entry_t *e = &p->entries[i];
        if (e->hash == h && e->len == len && memcmp(e->ua, ua, len) == 0) return i;
    }
    return -1;
}

/* A slot for a new entry: a fresh one, or the least recently used. */
static int32_t cache_slot(pm_ua_parser_t *p)
{
    int32_t i;
    if (p->used < p->cap) {
        i = (int32_t)p->used++;
    } else {
        i = p->tail;
        lru_unlink(p, i);
        bucket_remove(p, i);
    }
    return i;
}

const pm_ua_t *pm_ua_parse(pm_ua_parser_t *p, const char *ua, size_t len)
{
    if (ua == NULL) ua = "", len = 0;
    if (len > PM_UA_MAX_LEN) len = PM_UA_MAX_LEN;
    if (p->cap == 0) {
        parse_uncached(p, ua ? ua : "", len, &p->scratch);
        return &p->scratch;
    }
    uint64_t h = pm_hash64(ua, len);
    int32_t i = cache_find(p, h, ua, len);
    if (i >= 0) {
        p->stats.hits++;
        lru_unlink(p, i);
        lru_push_front(p, i);
        return &p->entries[i].result;
    }
    p->stats.misses++;
    i = cache_slot(p);
    entry_t *e = &p->entries[i];
    e->hash = h;
    e->len = (uint16_t)len;
    if (len) memcpy(e->ua, ua, len);
    parse_uncached(p, e->ua, len, &e->result);
    e->chain = p->buckets[h & p->mask];
    p->buckets[h & p->mask] = i;
    lru_push_front(p, i);
    return &e->result;
}

const char *pm_ua_device_type_name(pm_ua_device_type_t t)
{
    static const char *const names[] = {"other", "desktop", "mobile", "tablet", "tv", "console", "bot"};
    return (unsigned)t < PM_ARRAY_LEN(names) ? names[t] : "other";
}

size_t pm_ua_version(const char (*v)[PM_UA_VER_MAX], char *out)
{
    size_t n = 0;
    if (v[0][0] == '\0') {
        out[0] = '\0';
        return 0;
    }
    n = strlen(v[0]);
    memcpy(out, v[0], n);
    if (v[1][0]) {
        out[n++] = '.';
        size_t m = strlen(v[1]);
        memcpy(out + n, v[1], m);
        n += m;
    }
    out[n] = '\0';
    return n;
}

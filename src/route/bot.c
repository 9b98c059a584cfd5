/*
 * bot.c: the first-line bot filter (see pm/bot.h).
 *
 * The crawler list's ~1,500 patterns are compiled one by one under the
 * JIT and tried in turn, on the UA cache's misses only. Before a regex
 * runs, a literal it requires (literal.h: e.g. "Googlebot/" of
 * "Googlebot\/") is looked for with memmem: most patterns reject a user
 * agent there, several times faster than entering the regex (one
 * alternation of all patterns was slower still: it defeats PCRE2's own
 * start-of-match optimizations).
 *
 * Velocity: a table of (address hash, minute, count) slots in sets of
 * WAYS, one mutex per STRIPES sets. A click finds its address in its set,
 * or takes the slot of a past minute, or else the set's quietest slot.
 */
#include "pm/bot.h"
#include "pm/hash.h"
#include "literal.h"
#include "route/route_data.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <pthread.h>
#include <string.h>

#define WAYS          8
#define STRIPES       64
#define DEFAULT_SLOTS 65536

typedef struct crawler_s {
    pcre2_code *re;
    char lit[PM__LITERAL_MAX]; /* a substring every match contains (lit_len 0: none known) */
    size_t lit_len;
} crawler_t;

typedef struct slot_s {
    uint64_t key; /* 0 = free */
    uint32_t minute;
    uint32_t count;
} slot_t;

struct pm_bot_s {
    crawler_t *crawlers;
    size_t npatterns;
    pm_iplist_t *datacenters;
    uint32_t velocity_limit;
    slot_t *slots;
    size_t nsets; /* power of two */
    pthread_mutex_t locks[STRIPES];
};

/* --- the crawler list ------------------------------------------------------ */

static pcre2_code *compile(const char *re)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *c =
        pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err, &off, NULL);
    if (c) pm_ignore_rc(pcre2_jit_compile(c, PCRE2_JIT_COMPLETE)); /* without JIT only slower */
    return c;
}

static int load_crawlers(pm_bot_t *b)
{
    json_error_t jerr;
    size_t len = (size_t)(pm__crawlers_json_end - pm__crawlers_json_start), i;
    json_t *list = json_loadb((const char *)pm__crawlers_json_start, len, 0, &jerr), *e;
    if (!json_is_array(list)) {
        pm_error("bot: the built-in crawler list: line %d: %s", jerr.line, jerr.text);
        json_decref(list);
        return PM_EINVAL;
    }
    b->crawlers = pm_calloc(json_array_size(list) + 1, sizeof(*b->crawlers));
    json_array_foreach(list, i, e)
    {
        const char *p = json_string_value(json_object_get(e, "pattern"));
        pcre2_code *c = p && *p ? compile(p) : NULL;
        if (c == NULL) continue; /* a pattern PCRE2 rejects is skipped (pm_bot_crawler_patterns tells) */
        crawler_t *k = &b->crawlers[b->npatterns++];
        k->re = c;
        k->lit_len = pm__re_required_literal(p, k->lit);
    }
    json_decref(list);
    return b->npatterns ? PM_OK : PM_EINVAL;
}

uint32_t pm_bot_ua_tagger(void *bot, const char *ua, size_t len)
{
    pm_bot_t *b = bot;
    if (len == 0) return 0;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (md == NULL) pm_panic("bot: out of memory");
    int rc = PCRE2_ERROR_NOMATCH;
    for (size_t i = 0; i < b->npatterns && rc < 0; i++) { /* rc 0: matched, groups past the one pair not kept */
        const crawler_t *k = &b->crawlers[i];
        if (k->lit_len && memmem(ua, len, k->lit, k->lit_len) == NULL) continue;
        rc = pcre2_match(k->re, (PCRE2_SPTR)ua, len, 0, 0, md, NULL);
    }
    pcre2_match_data_free(md);
    return rc >= 0 ? PM_BOT_TAG_CRAWLER : 0;
}

size_t pm_bot_crawler_patterns(const pm_bot_t *b)
{
    return b->npatterns;
}

/* --- lifecycle --------------------------------------------------------------- */

int pm_bot_create(const pm_bot_config_t *cfg, pm_bot_t **out)
{
    pm_bot_t *b = pm_calloc(1, sizeof(*b));
    int rc = load_crawlers(b);
    size_t bad;
    if (rc == PM_OK && cfg->datacenter_file)
        rc = pm_iplist_load(cfg->datacenter_file, &b->datacenters);
    else if (rc == PM_OK && cfg->datacenter_text &&
             (rc = pm_iplist_parse(cfg->datacenter_text, strlen(cfg->datacenter_text), &b->datacenters, &bad)) != PM_OK)
        pm_error("bot: the data-center list, line %zu: not an address or CIDR", bad);
    if (rc != PM_OK) {
        pm_bot_destroy(b);
        *out = NULL;
        return rc;
    }
    b->velocity_limit = cfg->velocity_limit < 0 ? PM_BOT_DEFAULT_VELOCITY : (uint32_t)cfg->velocity_limit;
    size_t want = cfg->velocity_slots ? cfg->velocity_slots : DEFAULT_SLOTS;
    b->nsets = 1;
    while (b->nsets * WAYS < want && b->nsets < (1u << 24))
        b->nsets <<= 1;
    if (b->nsets < STRIPES) b->nsets = STRIPES;
    b->slots = pm_calloc(b->nsets * WAYS, sizeof(*b->slots));
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&b->locks[i], NULL);
    *out = b;
    return PM_OK;
}

void pm_bot_destroy(pm_bot_t *b)
{
    if (b == NULL) return;
    for (size_t i = 0; i < b->npatterns; i++)
        pcre2_code_free(b->crawlers[i].re);
    pm_free(b->crawlers);
    pm_iplist_destroy(b->datacenters);
    if (b->slots)
        for (int i = 0; i < STRIPES; i++)
            pthread_mutex_destroy(&b->locks[i]);
    pm_free(b->slots);
    pm_free(b);
}

/* --- velocity ----------------------------------------------------------------- */

/* Count one click of `ip` in `minute`; returns the count so far. */
static uint32_t velocity_count(pm_bot_t *b, const pm_ip_t *ip, uint32_t minute)
{
    uint64_t key = pm_hash64(ip->b, sizeof(ip->b)) | 1;
    size_t set = (size_t)(key >> 1) & (b->nsets - 1);
    slot_t *s = &b->slots[set * WAYS], *victim = NULL;
    pthread_mutex_t *lock = &b->locks[set % STRIPES];
    uint32_t n;
    pthread_mutex_lock(lock);
    for (int i = 0; i < WAYS && victim == NULL; i++)
        if (s[i].key == key) victim = &s[i];
    if (victim && victim->minute == minute) {
        n = ++victim->count;
    } else {
        for (int i = 0; i < WAYS && victim == NULL; i++)
            if (s[i].key == 0 || s[i].minute != minute) victim = &s[i];
        if (victim == NULL) { /* all live this minute: the quietest goes */
            victim = &s[0];
            for (int i = 1; i < WAYS; i++)
                if (s[i].count < victim->count) victim = &s[i];
        }
        *victim = (slot_t){key, minute, 1};
        n = 1;
    }
    pthread_mutex_unlock(lock);
    return n;
}

const char *pm_bot_check(pm_bot_t *b, const pm_ip_t *ip, bool has_ua, const pm_ua_t *ua, bool click, pm_time_t now)
{
    /* Velocity counts every click, flagged for another reason or not, so
     * a crawler that also floods is still seen flooding. */
    bool fast = false;
    if (click && b->velocity_limit) fast = velocity_count(b, ip, (uint32_t)(now / 60000000)) > b->velocity_limit;
    if (!has_ua) return "empty_ua";
    if (ua && (ua->tags & PM_BOT_TAG_CRAWLER)) return "ua_crawler";
    if (ua && ua->type == PM_UA_BOT) return "ua_spider";
    if (b->datacenters && pm_iplist_contains(b->datacenters, ip)) return "datacenter_ip";
    if (fast) return "velocity";
    return NULL;
}

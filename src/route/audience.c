/*
 * audience.c: last click and last conversion per visitor (see
 * pm/audience.h). Times are kept in minutes since the epoch (32 bits last
 * until the year 10000); a condition's look-back is in days, so a minute's
 * precision is plenty. The tag is a 64-bit hash of the visitor id: its top
 * byte picks the shard, its low bits the bucket.
 */
#include "pm/audience.h"
#include "pm/hash.h"

#include <pthread.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <string.h>

#define SHARDS        256
/* A visitor lives in one bucket of WAYS entries (two cache lines); a full
 * bucket gives up its least recently active entry. A probe sequence across
 * buckets (32 entries, as before) cost a click 32 cache misses once the
 * table had filled up: a hit or a miss now costs at most two lines. */
#define WAYS 8
#define US_PER_MINUTE (60 * PM_USEC_PER_SEC)

typedef struct entry_s {
    uint64_t tag;               /* 0 = free */
    uint32_t click, conversion; /* minutes since the epoch, 0 = none */
} entry_t;

typedef struct shard_s {
    pthread_mutex_t mu;
    entry_t *slots;
} shard_t;

struct pm_audience_s {
    shard_t shards[SHARDS];
    size_t mask;
};

pm_audience_t *pm_audience_create(size_t visitors)
{
    size_t per = 64;
    while (per * SHARDS * 3 / 4 < visitors)
        per *= 2;
    pm_audience_t *a = pm_calloc(1, sizeof(*a));
    a->mask = per - 1;
    for (size_t i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&a->shards[i].mu, NULL);
        void *p = NULL;
        if (posix_memalign(&p, WAYS * sizeof(entry_t), per * sizeof(entry_t)) != 0)
            pm_panic("out of memory allocating %zu bytes", per * sizeof(entry_t));
        memset(p, 0, per * sizeof(entry_t));
        a->shards[i].slots = p;
    }
    return a;
}

void pm_audience_destroy(pm_audience_t *a)
{
    if (a == NULL) return;
    for (size_t i = 0; i < SHARDS; i++) {
        pthread_mutex_destroy(&a->shards[i].mu);
        pm_free(a->shards[i].slots);
    }
    pm_free(a);
}

static uint64_t tag_of(const pm_id_t *visitor)
{
    uint64_t t = pm_hash64(visitor->b, sizeof(visitor->b));
    return t ? t : 1;
}

static uint32_t latest(const entry_t *e)
{
    return e->click > e->conversion ? e->click : e->conversion;
}

/* The entry of `tag`; with `claim`, a free one or the least recently
 * active one of its bucket is taken over. NULL when absent and not
 * claiming. Entries are never freed, only taken over, so the first free
 * entry ends the search. */
static entry_t *slot_for(pm_audience_t *a, entry_t *slots, uint64_t tag, bool claim)
{
    entry_t *bucket = &slots[tag & a->mask & ~(uint64_t)(WAYS - 1)], *oldest = NULL;
    for (size_t i = 0; i < WAYS; i++) {
        entry_t *e = &bucket[i];
        if (e->tag == tag) return e;
        if (e->tag == 0) return claim ? e : NULL;
        if (oldest == NULL || latest(e) < latest(oldest)) oldest = e;
    }
    return claim ? oldest : NULL;
}

pm_audience_visitor_t pm_audience_get(pm_audience_t *a, const pm_id_t *visitor)
{
    uint64_t tag = tag_of(visitor);
    shard_t *sh = &a->shards[tag >> 56];
    pm_audience_visitor_t out = {0, 0};
    pthread_mutex_lock(&sh->mu);
    entry_t *e = slot_for(a, sh->slots, tag, false);
    if (e) {
        out.last_click_us = (int64_t)e->click * US_PER_MINUTE;
        out.last_conversion_us = (int64_t)e->conversion * US_PER_MINUTE;
    }
    pthread_mutex_unlock(&sh->mu);
    return out;
}

static void record(pm_audience_t *a, const pm_id_t *visitor, int64_t ts_us, bool conversion)
{
    if (ts_us <= 0 || pm_id_is_zero(visitor)) return;
    uint64_t tag = tag_of(visitor);
    uint32_t minute = (uint32_t)(ts_us / US_PER_MINUTE);
    shard_t *sh = &a->shards[tag >> 56];
    pthread_mutex_lock(&sh->mu);
    entry_t *e = slot_for(a, sh->slots, tag, true);
    if (e->tag != tag) *e = (entry_t){.tag = tag};
    uint32_t *t = conversion ? &e->conversion : &e->click;
    if (minute > *t) *t = minute;
    pthread_mutex_unlock(&sh->mu);
}

void pm_audience_click(pm_audience_t *a, const pm_id_t *visitor, int64_t ts_us)
{
    record(a, visitor, ts_us, false);
}

void pm_audience_conversion(pm_audience_t *a, const pm_id_t *visitor, int64_t ts_us)
{
    record(a, visitor, ts_us, true);
}

void pm_audience_observe(pm_audience_t *a, const pm_event_t *ev)
{
    const pm_str_t *st = &ev->s[PM_EVS_STATUS];
    if (ev->type == PM_EV_CONVERSION && st->len == 8 && memcmp(st->p, "approved", 8) == 0)
        pm_audience_conversion(a, &ev->visitor_id, ev->ts);
}

static int load(pm_audience_t *a, sqlite3 *db, const char *sql, int64_t since, bool conversion)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        pm_error("audience: %s", sqlite3_errmsg(db));
        return PM_ESTORE;
    }
    sqlite3_bind_int64(st, 1, since);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        pm_id_t v;
        const char *text = (const char *)sqlite3_column_text(st, 0);
        if (text && pm_id_parse(text, (size_t)sqlite3_column_bytes(st, 0), &v) == PM_OK)
            record(a, &v, sqlite3_column_int64(st, 1), conversion);
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? PM_OK : PM_ESTORE;
}

int pm_audience_load(pm_audience_t *a, pm_store_t *store, int64_t since_us)
{
    sqlite3 *db = pm_store_db(store);
    int rc = load(a, db,
                  "SELECT visitor_id, max(ts) FROM clicks WHERE ts>=?1 AND visitor_id IS NOT NULL"
                  " GROUP BY visitor_id",
                  since_us, false);
    if (rc == PM_OK)
        rc = load(a, db,
                  "SELECT visitor_id, max(ts) FROM conversions WHERE ts>=?1 AND status='approved'"
                  " AND visitor_id IS NOT NULL GROUP BY visitor_id",
                  since_us, true);
    return rc;
}

/*
 * fcap.c: the frequency-cap table (see pm/fcap.h). The tag is a 64-bit
 * hash of (scope, visitor): two visitors colliding on all 64 bits would
 * share a count, which at 10^7 visitors happens with probability ~3e-6.
 * Shards pick by the tag's top bits, slots by its low bits, with linear
 * probing of at most MAX_PROBES slots.
 */
#include "pm/fcap.h"
#include "pm/hash.h"

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#define SHARDS     256
#define MAX_PROBES 32

typedef struct entry_s {
    uint64_t tag;    /* 0 = free */
    uint32_t window; /* hour or day number since the epoch; 0 for life */
    uint32_t count;
} entry_t;

typedef struct shard_s {
    pthread_mutex_t mu;
    entry_t *slots;
} shard_t;

struct pm_fcap_s {
    shard_t shards[SHARDS];
    size_t mask; /* slots per shard - 1 */
};

pm_fcap_t *pm_fcap_create(size_t visitors)
{
    size_t per = 64;
    while (per * SHARDS * 3 / 4 < visitors)
        per *= 2;
    pm_fcap_t *f = pm_calloc(1, sizeof(*f));
    f->mask = per - 1;
    for (size_t i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&f->shards[i].mu, NULL);
        f->shards[i].slots = pm_calloc(per, sizeof(entry_t));
    }
    return f;
}

void pm_fcap_destroy(pm_fcap_t *f)
{
    if (f == NULL) return;
    for (size_t i = 0; i < SHARDS; i++) {
        pthread_mutex_destroy(&f->shards[i].mu);
        pm_free(f->shards[i].slots);
    }
    pm_free(f);
}

size_t pm_fcap_bytes(const pm_fcap_t *f)
{
    return sizeof(*f) + SHARDS * (f->mask + 1) * sizeof(entry_t);
}

static uint32_t window_of(pm_flow_per_t per, int64_t ts_us)
{
    int64_t s = ts_us / PM_USEC_PER_SEC;
    switch (per) {
    case PM_FLOW_PER_HOUR: return (uint32_t)(s / 3600) + 1;
    case PM_FLOW_PER_DAY: return (uint32_t)(s / 86400) + 1;
    case PM_FLOW_PER_LIFE: break;
    }
    return 0;
}

static uint64_t tag_of(int64_t scope, const pm_id_t *visitor)
{
    unsigned char key[sizeof(scope) + sizeof(visitor->b)];
    memcpy(key, &scope, sizeof(scope));
    memcpy(key + sizeof(scope), visitor->b, sizeof(visitor->b));
    uint64_t t = pm_hash64(key, sizeof(key));
    return t ? t : 1;
}

/* The entry for `tag`: found, a free slot, or the oldest one probed. */
static entry_t *slot_for(pm_fcap_t *f, entry_t *slots, uint64_t tag)
{
    entry_t *oldest = NULL;
    for (size_t i = 0, at = tag & f->mask; i < MAX_PROBES; i++, at = (at + 1) & f->mask) {
        entry_t *e = &slots[at];
        if (e->tag == tag || e->tag == 0) return e;
        if (oldest == NULL || e->window < oldest->window) oldest = e;
    }
    return oldest;
}

uint32_t pm_fcap_count(pm_fcap_t *f, int64_t scope, const pm_id_t *visitor, pm_flow_per_t per, int64_t ts_us)
{
    uint64_t tag = tag_of(scope, visitor);
    uint32_t window = window_of(per, ts_us), before;
    shard_t *sh = &f->shards[tag >> 56];
    pthread_mutex_lock(&sh->mu);
    entry_t *e = slot_for(f, sh->slots, tag);
    if (e->tag != tag || e->window != window) {
        /* A new visitor, an evicted one, or a new window: start over. A
         * click from an older window (replayed at start) does not reset. */
        if (e->tag == tag && e->window > window) {
            pthread_mutex_unlock(&sh->mu);
            return 0;
        }
        *e = (entry_t){.tag = tag, .window = window, .count = 0};
    }
    before = e->count;
    if (e->count < UINT32_MAX) e->count++;
    pthread_mutex_unlock(&sh->mu);
    return before;
}

uint32_t pm_fcap_peek(pm_fcap_t *f, int64_t scope, const pm_id_t *visitor, pm_flow_per_t per, int64_t ts_us)
{
    uint64_t tag = tag_of(scope, visitor);
    uint32_t window = window_of(per, ts_us), n = 0;
    shard_t *sh = &f->shards[tag >> 56];
    pthread_mutex_lock(&sh->mu);
    entry_t *e = slot_for(f, sh->slots, tag);
    if (e->tag == tag && e->window == window) n = e->count;
    pthread_mutex_unlock(&sh->mu);
    return n;
}

int pm_fcap_load(pm_fcap_t *f, pm_store_t *store, int64_t scope, pm_flow_per_t per, bool impressions,
                 int64_t now_us)
{
    sqlite3 *db = pm_store_db(store);
    sqlite3_stmt *st = NULL;
    int64_t since = 0;
    if (per == PM_FLOW_PER_HOUR) since = (now_us / (3600 * PM_USEC_PER_SEC)) * 3600 * PM_USEC_PER_SEC;
    if (per == PM_FLOW_PER_DAY) since = (now_us / (86400 * PM_USEC_PER_SEC)) * 86400 * PM_USEC_PER_SEC;
    static const char *const sqls[2][2] = {
        {"SELECT visitor_id, ts FROM clicks WHERE campaign_id=?1 AND ts>=?2",
         "SELECT visitor_id, ts FROM impressions WHERE campaign_id=?1 AND ts>=?2"},
        {"SELECT visitor_id, ts FROM clicks WHERE creative_id=?1 AND ts>=?2",
         "SELECT visitor_id, ts FROM impressions WHERE creative_id=?1 AND ts>=?2"},
    };
    const char *sql = sqls[scope < 0][impressions];
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        pm_error("fcap: %s", sqlite3_errmsg(db));
        return PM_ESTORE;
    }
    sqlite3_bind_int64(st, 1, scope < 0 ? -scope : scope);
    sqlite3_bind_int64(st, 2, since);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        pm_id_t v;
        const char *text = (const char *)sqlite3_column_text(st, 0);
        if (text && pm_id_parse(text, (size_t)sqlite3_column_bytes(st, 0), &v) == PM_OK)
            (void)pm_fcap_count(f, scope, &v, per, sqlite3_column_int64(st, 1));
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? PM_OK : PM_ESTORE;
}

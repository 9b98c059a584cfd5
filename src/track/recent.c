/*
 * recent.c: the sharded map of recently journaled events (see pm/recent.h).
 * Each shard is a chained hash table that doubles when its load passes 1;
 * an entry is one allocation holding key and value.
 */
#include "pm/recent.h"
#include "pm/hash.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define SHARDS 64

typedef struct entry_s {
    struct entry_s *next;
    uint64_t hash;
    uint32_t klen, vlen;
    unsigned char data[]; /* key then value */
} entry_t;

typedef struct shard_s {
    pthread_mutex_t mu;
    entry_t **slots;
    size_t nslots, count;
} shard_t;

struct pm_recent_s {
    shard_t shards[SHARDS];
    size_t max_per_shard;
    _Atomic size_t count;
};

pm_recent_t *pm_recent_create(size_t max_entries)
{
    pm_recent_t *r = pm_calloc(1, sizeof(*r));
    r->max_per_shard = max_entries / SHARDS + 1;
    for (size_t i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&r->shards[i].mu, NULL);
        r->shards[i].nslots = 64;
        r->shards[i].slots = pm_calloc(64, sizeof(entry_t *));
    }
    return r;
}

void pm_recent_destroy(pm_recent_t *r)
{
    if (r == NULL) return;
    for (size_t i = 0; i < SHARDS; i++) {
        shard_t *s = &r->shards[i];
        for (size_t j = 0; j < s->nslots; j++) {
            for (entry_t *e = s->slots[j], *next; e; e = next) {
                next = e->next;
                pm_free(e);
            }
        }
        pm_free(s->slots);
        pthread_mutex_destroy(&s->mu);
    }
    pm_free(r);
}

static shard_t *shard_of(pm_recent_t *r, uint64_t h) { return &r->shards[h >> 58]; }

static entry_t **find(shard_t *s, uint64_t h, const void *key, size_t klen)
{
    entry_t **pp = &s->slots[h & (s->nslots - 1)];
    for (; *pp; pp = &(*pp)->next) {
        entry_t *e = *pp;
        if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0) break;
    }
    return pp;
}

static void grow(shard_t *s)
{
    size_t n = s->nslots * 2;
    entry_t **slots = pm_calloc(n, sizeof(entry_t *));
    for (size_t i = 0; i < s->nslots; i++) {
        for (entry_t *e = s->slots[i], *next; e; e = next) {
            next = e->next;
            e->next = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
        }
    }
    pm_free(s->slots);
    s->slots = slots;
    s->nslots = n;
}

static entry_t *new_entry(uint64_t h, const void *key, size_t klen, const void *val, size_t vlen)
{
    entry_t *e = pm_malloc(sizeof(*e) + klen + vlen);
    e->hash = h;
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    memcpy(e->data, key, klen);
    memcpy(e->data + klen, val, vlen);
    e->next = NULL;
    return e;
}

int pm_recent_put(pm_recent_t *r, const void *key, size_t klen, const void *val, size_t vlen, pm_buf_t *existing)
{
    return pm_recent_put_checked(r, key, klen, val, vlen, NULL, NULL, existing);
}

int pm_recent_put_checked(pm_recent_t *r, const void *key, size_t klen, const void *val, size_t vlen,
                          pm_recent_check_fn check, void *ctx, pm_buf_t *existing)
{
    uint64_t h = pm_hash64(key, klen);
    shard_t *s = shard_of(r, h);
    int rc = PM_OK;
    pthread_mutex_lock(&s->mu);
    entry_t **pp = find(s, h, key, klen);
    if (*pp) {
        rc = PM_EEXIST;
        if (existing && pm_buf_append(existing, (*pp)->data + (*pp)->klen, (*pp)->vlen) != PM_OK) rc = PM_ETOOBIG;
        goto out;
    }
    if (check && (rc = check(ctx)) != PM_OK) goto out;
    if (s->count >= r->max_per_shard) {
        rc = PM_ETOOBIG;
        goto out;
    }
    *pp = new_entry(h, key, klen, val, vlen);
    if (++s->count > s->nslots) grow(s);
    atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int pm_recent_update(pm_recent_t *r, const void *key, size_t klen, pm_recent_update_fn fn, void *ctx)
{
    uint64_t h = pm_hash64(key, klen);
    shard_t *s = shard_of(r, h);
    const void *val = NULL;
    size_t vlen = 0;
    int rc;
    pthread_mutex_lock(&s->mu);
    entry_t **pp = find(s, h, key, klen), *old = *pp;
    if (old == NULL && s->count >= r->max_per_shard) {
        rc = PM_ETOOBIG;
        goto out;
    }
    rc = fn(ctx, old ? old->data + old->klen : NULL, old ? old->vlen : 0, &val, &vlen);
    if (rc != PM_OK || val == NULL) goto out;
    entry_t *e = new_entry(h, key, klen, val, vlen);
    if (old) {
        e->next = old->next;
        *pp = e;
        pm_free(old);
        goto out;
    }
    *pp = e;
    if (++s->count > s->nslots) grow(s);
    atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void pm_recent_remove_if(pm_recent_t *r, const void *key, size_t klen, pm_recent_match_fn match, void *ctx)
{
    uint64_t h = pm_hash64(key, klen);
    shard_t *s = shard_of(r, h);
    pthread_mutex_lock(&s->mu);
    entry_t **pp = find(s, h, key, klen);
    entry_t *e = *pp;
    if (e && match(ctx, e->data + e->klen, e->vlen)) {
        *pp = e->next;
        s->count--;
        atomic_fetch_sub_explicit(&r->count, 1, memory_order_relaxed);
    } else {
        e = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    pm_free(e);
}

int pm_recent_get(pm_recent_t *r, const void *key, size_t klen, pm_buf_t *out)
{
    uint64_t h = pm_hash64(key, klen);
    shard_t *s = shard_of(r, h);
    int rc = PM_ENOTFOUND;
    pthread_mutex_lock(&s->mu);
    entry_t *e = *find(s, h, key, klen);
    if (e) rc = pm_buf_append(out, e->data + e->klen, e->vlen);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void pm_recent_remove(pm_recent_t *r, const void *key, size_t klen)
{
    uint64_t h = pm_hash64(key, klen);
    shard_t *s = shard_of(r, h);
    pthread_mutex_lock(&s->mu);
    entry_t **pp = find(s, h, key, klen);
    entry_t *e = *pp;
    if (e) {
        *pp = e->next;
        s->count--;
        atomic_fetch_sub_explicit(&r->count, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->mu);
    pm_free(e);
}

size_t pm_recent_count(pm_recent_t *r) { return atomic_load_explicit(&r->count, memory_order_relaxed); }

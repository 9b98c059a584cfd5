/*
 * recent.h: a concurrent map of what the tracking path has journaled but the
 * store may not hold yet. A postback can arrive a millisecond after its click,
 * on another event loop, before the materializer has written the click: the
 * lookup must not depend on the store having caught up (DESIGN §3). Entries
 * are removed by the materializer once the store holds them, so the map stays
 * as small as the materializer's lag.
 *
 * Keys and values are byte strings, copied in. The map is split into shards,
 * each with its own mutex; operations hold one shard lock for a hash-table
 * probe and a memcpy. The number of entries is capped: past the cap, puts
 * fail with PM_ETOOBIG (the caller then relies on the store alone).
 * Thread-safe.
 */
#ifndef PM_RECENT_H
#define PM_RECENT_H

#include "pm/buf.h"

typedef struct pm_recent_s pm_recent_t;

pm_recent_t *pm_recent_create(size_t max_entries);
void pm_recent_destroy(pm_recent_t *r); /* accepts NULL */

/* Insert key -> value unless the key is present. PM_OK when inserted;
 * PM_EEXIST when present, with the present value appended to `existing`
 * (may be NULL); PM_ETOOBIG when full. */
int pm_recent_put(pm_recent_t *r, const void *key, size_t klen, const void *val, size_t vlen,
                  pm_buf_t *existing) PM_MUST_CHECK;
/* Like pm_recent_put, but when the key is absent `check(ctx)` runs under the
 * shard's lock before inserting: if it returns PM_EEXIST (the caller found
 * the key elsewhere, e.g. in the store) nothing is inserted and PM_EEXIST is
 * returned with `existing` untouched. Holding the lock across the check
 * closes the window where a concurrent pm_recent_remove (the materializer
 * forgetting what it stored) falls between the caller's check and its put.
 * Other errors from check are returned as they are. */
typedef int (*pm_recent_check_fn)(void *ctx);
int pm_recent_put_checked(pm_recent_t *r, const void *key, size_t klen, const void *val, size_t vlen,
                          pm_recent_check_fn check, void *ctx, pm_buf_t *existing) PM_MUST_CHECK;
/* Read-modify-write of one key under its shard's lock: fn(ctx, cur, curlen,
 * &val, &vlen) sees the present value (cur NULL when absent) and either sets
 * *val (borrowed until fn's caller returns) to the value to store in its
 * place and returns PM_OK, or leaves *val NULL (nothing changes), or returns
 * an error that is passed back with nothing changed. fn runs under the lock:
 * it may check the store or append to a journal, so that two loops updating
 * the same key are serialized. PM_ETOOBIG without calling fn when the key is
 * absent and the map is full. */
typedef int (*pm_recent_update_fn)(void *ctx, const void *cur, size_t curlen, const void **val, size_t *vlen);
int pm_recent_update(pm_recent_t *r, const void *key, size_t klen, pm_recent_update_fn fn, void *ctx) PM_MUST_CHECK;
/* Remove `key` only if match(ctx, value, vlen) says so (the materializer
 * forgets a conversion only while the map still holds the version it stored,
 * not a newer status change). */
typedef bool (*pm_recent_match_fn)(void *ctx, const void *val, size_t vlen);
void pm_recent_remove_if(pm_recent_t *r, const void *key, size_t klen, pm_recent_match_fn match, void *ctx);
/* Append the value of `key` to `out`. PM_OK, PM_ENOTFOUND, or PM_ETOOBIG
 * when out's cap is reached. */
int pm_recent_get(pm_recent_t *r, const void *key, size_t klen, pm_buf_t *out) PM_MUST_CHECK;
/* Remove `key` if present. */
void pm_recent_remove(pm_recent_t *r, const void *key, size_t klen);
size_t pm_recent_count(pm_recent_t *r);

#endif

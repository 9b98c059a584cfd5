/*
 * hash.h: the one hash function perfmark's in-memory tables use (campaign
 * tokens, the recent-events map, attribution's name and identity tables).
 * FNV-1a over the bytes, finished with murmur3's 64-bit mixer so that both
 * the low bits (table slots) and the high bits (shard choice) are well
 * spread. Not for anything persisted or security-related. Pure, thread-safe.
 */
#ifndef PM_HASH_H
#define PM_HASH_H

#include "pm/common.h"

static inline uint64_t pm_hash64(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * UINT64_C(1099511628211);
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    return h ^ (h >> 33);
}

#endif

/*
 * assign.c: GrowthBook-compatible hashing and bucketing (pm/stats_assign.h).
 *
 * Follows the JavaScript SDK (src/util.ts: hashFnv32a, hash,
 * getBucketRanges, chooseVariation, inNamespace, getEqualWeights; and the
 * order of checks in GrowthBook.run) and is tested against the SDK's shared
 * cases.json. JavaScript hashes strings as UTF-16 code units, so the UTF-8
 * input is decoded here (WHATWG rules: each maximal invalid subpart is one
 * U+FFFD) and astral characters hash as their two surrogates.
 */
#include "pm/stats_assign.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define FNV_OFFSET 0x811c9dc5u
#define FNV_PRIME 16777619u /* = 1 + 2 + 16 + 128 + 256 + 2^24, the SDK's shifts */
#define REPLACEMENT 0xFFFDu

static uint32_t fnv_unit(uint32_t h, uint32_t unit) { return (h ^ unit) * FNV_PRIME; }

static uint32_t fnv_code_point(uint32_t h, uint32_t cp)
{
    if (cp < 0x10000) return fnv_unit(h, cp);
    cp -= 0x10000;
    return fnv_unit(fnv_unit(h, 0xD800 + (cp >> 10)), 0xDC00 + (cp & 0x3FF));
}

/* The WHATWG UTF-8 decoder's state between bytes. */
typedef struct utf8_s {
    uint32_t cp;
    int needed, seen;
    uint8_t lower, upper;
} utf8_t;

static void utf8_reset(utf8_t *u) { *u = (utf8_t){.lower = 0x80, .upper = 0xBF}; }

/* A lead byte: start a sequence, or hash it (ASCII or invalid lead). */
static uint32_t utf8_lead(utf8_t *u, uint32_t h, uint8_t b)
{
    if (b <= 0x7F) return fnv_unit(h, b);
    if (b >= 0xC2 && b <= 0xDF) u->needed = 1, u->cp = b & 0x1F;
    else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) u->lower = 0xA0;
        if (b == 0xED) u->upper = 0x9F; /* no surrogates */
        u->needed = 2, u->cp = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) u->lower = 0x90;
        if (b == 0xF4) u->upper = 0x8F; /* nothing past U+10FFFF */
        u->needed = 3, u->cp = b & 0x07;
    } else return fnv_unit(h, REPLACEMENT);
    return h;
}

/* FNV-1a over a stream of UTF-8 pieces: the decoder's state carries over,
 * so hashing "a" then "b" is hashing the concatenation "ab" (what the SDK
 * does with `seed + value`) without building it. */
typedef struct fnv_stream_s {
    uint32_t h;
    utf8_t u;
} fnv_stream_t;

static void fnv_begin(fnv_stream_t *f)
{
    f->h = FNV_OFFSET;
    utf8_reset(&f->u);
}

static void fnv_feed(fnv_stream_t *f, const char *s, size_t len)
{
    utf8_t *u = &f->u;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)s[i];
        if (u->needed == 0) {
            f->h = utf8_lead(u, f->h, b);
            continue;
        }
        if (b < u->lower || b > u->upper) { /* broken sequence: U+FFFD, then b afresh */
            utf8_reset(u);
            f->h = fnv_unit(f->h, REPLACEMENT);
            i--;
            continue;
        }
        u->lower = 0x80, u->upper = 0xBF;
        u->cp = (u->cp << 6) | (b & 0x3F);
        if (++u->seen == u->needed) {
            f->h = fnv_code_point(f->h, u->cp);
            utf8_reset(u);
        }
    }
}

static uint32_t fnv_end(fnv_stream_t *f) { return f->u.needed ? fnv_unit(f->h, REPLACEMENT) : f->h; }

uint32_t pm_stats_fnv1a32(const char *s, size_t len)
{
    fnv_stream_t f;
    fnv_begin(&f);
    fnv_feed(&f, s, len);
    return fnv_end(&f);
}

static uint32_t fnv_concat(const char *a, const char *b)
{
    fnv_stream_t f;
    fnv_begin(&f);
    fnv_feed(&f, a, strlen(a));
    fnv_feed(&f, b, strlen(b));
    return fnv_end(&f);
}

int pm_stats_hash(const char *seed, const char *value, int version, double *out)
{
    if (version == 1) {
        *out = (double)(fnv_concat(value, seed) % 1000) / 1000;
        return PM_OK;
    }
    if (version == 2) {
        char dec[16];
        int n = snprintf(dec, sizeof(dec), "%u", (unsigned)fnv_concat(seed, value));
        *out = (double)(pm_stats_fnv1a32(dec, (size_t)n) % 10000) / 10000;
        return PM_OK;
    }
    *out = NAN;
    return PM_EINVAL;
}

size_t pm_stats_equal_weights(size_t n, double *out)
{
    for (size_t i = 0; i < n; i++) out[i] = 1.0 / (double)n;
    return n;
}

int pm_stats_bucket_ranges(size_t n, double coverage, const double *weights, size_t n_weights,
                           pm_stats_range_t *out)
{
    if (n == 0 || isnan(coverage)) return PM_EINVAL;
    coverage = coverage < 0 ? 0 : coverage > 1 ? 1 : coverage;
    bool equal = weights == NULL || n_weights != n;
    if (!equal) {
        double total = 0;
        for (size_t i = 0; i < n; i++) {
            if (isnan(weights[i])) return PM_EINVAL;
            total += weights[i];
        }
        equal = total < 0.99 || total > 1.01;
    }
    double cumulative = 0;
    for (size_t i = 0; i < n; i++) {
        double w = equal ? 1.0 / (double)n : weights[i];
        out[i] = (pm_stats_range_t){cumulative, cumulative + coverage * w};
        cumulative += w;
    }
    return PM_OK;
}

int pm_stats_choose_variation(double h, const pm_stats_range_t *ranges, size_t n)
{
    for (size_t i = 0; i < n && i <= INT32_MAX; i++)
        if (h >= ranges[i].start && h < ranges[i].end) return (int)i;
    return -1;
}

bool pm_stats_in_namespace(const char *hash_value, const pm_stats_namespace_t *ns)
{
    /* hash("__" + id, value, 1) = fnv(value + "__" + id) mod 1000 / 1000 */
    fnv_stream_t f;
    fnv_begin(&f);
    fnv_feed(&f, hash_value, strlen(hash_value));
    fnv_feed(&f, "__", 2);
    fnv_feed(&f, ns->id, strlen(ns->id));
    double h = (double)(fnv_end(&f) % 1000) / 1000;
    return h >= ns->start && h < ns->end;
}

int pm_stats_assign_ex(const char *visitor_id, const pm_stats_experiment_t *exp, int *variation)
{
    pm_stats_range_t computed[PM_STATS_MAX_VARIATIONS];
    double h;
    *variation = -1;
    if (exp->key == NULL || (exp->hash_version != 1 && exp->hash_version != 2)) return PM_EINVAL;
    if (exp->variations > PM_STATS_MAX_VARIATIONS) return PM_ETOOBIG;
    if (exp->variations < 2 || visitor_id == NULL || visitor_id[0] == '\0') return PM_OK;
    if (exp->ns != NULL && !pm_stats_in_namespace(visitor_id, exp->ns)) return PM_OK;
    int rc = pm_stats_hash(exp->seed ? exp->seed : exp->key, visitor_id, exp->hash_version, &h);
    if (rc != PM_OK) return rc;
    const pm_stats_range_t *ranges = exp->ranges;
    if (ranges == NULL) {
        rc = pm_stats_bucket_ranges(exp->variations, exp->coverage, exp->weights, exp->n_weights, computed);
        if (rc != PM_OK) return rc;
        ranges = computed;
    }
    *variation = pm_stats_choose_variation(h, ranges, exp->variations);
    return PM_OK;
}

int pm_stats_assign(const char *visitor_id, const char *experiment_id, const double *weights, size_t n,
                    int *variation)
{
    pm_stats_experiment_t exp = PM_STATS_EXPERIMENT_INIT;
    exp.key = experiment_id;
    exp.hash_version = 2;
    exp.variations = n;
    exp.weights = weights;
    exp.n_weights = weights ? n : 0;
    return pm_stats_assign_ex(visitor_id, &exp, variation);
}

/*
 * stats_assign.h: deterministic assignment of visitors to experiment
 * options, bit for bit as GrowthBook's SDKs do it, so an experiment run by
 * perfmark can be analysed (or re-run) by anything that speaks GrowthBook,
 * and the other way round.
 *
 * A visitor id and a seed are hashed (FNV-1a, 32 bits) to a number in
 * [0, 1); the options own consecutive ranges of [0, 1) sized by their
 * weights and shrunk by the coverage; the visitor gets the option whose
 * range holds the number, or none (-1) when it falls in no range. Hash
 * version 1 is fnv(value + seed) mod 1000 / 1000; version 2 (what GrowthBook
 * recommends for new experiments) is fnv(decimal(fnv(seed + value))) mod
 * 10000 / 10000. Strings are hashed as
 * JavaScript does: FNV over UTF-16 code units, the bytes decoded as UTF-8
 * (an invalid sequence counts as U+FFFD, as a browser would decode it).
 *
 * All functions are pure and thread-safe; nothing is allocated; strings are
 * borrowed and must be NUL-terminated.
 */
#ifndef PM_STATS_ASSIGN_H
#define PM_STATS_ASSIGN_H

#include "pm/common.h"

#define PM_STATS_MAX_VARIATIONS 256 /* options per experiment */

typedef struct pm_stats_range_s {
    double start, end; /* [start, end) */
} pm_stats_range_t;

/* A namespace keeps experiments mutually exclusive: a visitor is in the
 * namespace slice [start, end) of `id` when hash("__" id, visitor, 1) lies in
 * it (GrowthBook inNamespace). */
typedef struct pm_stats_namespace_s {
    const char *id;
    double start, end;
} pm_stats_namespace_t;

/* FNV-1a 32 over the UTF-16 code units of the UTF-8 string s[0..len). */
uint32_t pm_stats_fnv1a32(const char *s, size_t len);

/* GrowthBook hash(seed, value, version) into [0, 1). PM_EINVAL (and *out
 * NaN) for a version other than 1 or 2, where the SDK returns null. */
int pm_stats_hash(const char *seed, const char *value, int version, double *out) PM_MUST_CHECK;

/* Fill out[0..n) with 1/n (getEqualWeights). Returns n. */
size_t pm_stats_equal_weights(size_t n, double *out);

/* GrowthBook getBucketRanges: out[0..n) from the weights (NULL, a count
 * other than n, or a sum outside [0.99, 1.01] mean equal weights) and the
 * coverage (clamped to [0, 1]). PM_EINVAL for n = 0 or a NaN coverage or
 * weight. */
int pm_stats_bucket_ranges(size_t n, double coverage, const double *weights, size_t n_weights,
                           pm_stats_range_t *out) PM_MUST_CHECK;

/* The index of the first range holding h (start <= h < end), or -1
 * (chooseVariation). Can't fail. */
int pm_stats_choose_variation(double h, const pm_stats_range_t *ranges, size_t n);

/* Whether `hash_value` (the visitor id) is in the namespace slice. Can't fail. */
bool pm_stats_in_namespace(const char *hash_value, const pm_stats_namespace_t *ns);

/* An experiment as GrowthBook's SDK runs it (the part of `run` that
 * decides the variation; targeting, forcing and QA mode are the caller's).
 * Start from PM_STATS_EXPERIMENT_INIT: full coverage, hash version 1 (the
 * SDK's default when an experiment names none). */
typedef struct pm_stats_experiment_s {
    const char *key;                 /* experiment key; the hash seed unless `seed` is set */
    const char *seed;                /* NULL: use key */
    int hash_version;                /* 1 or 2 */
    size_t variations;               /* number of options; under 2 nobody is assigned */
    const double *weights;           /* NULL: equal; see pm_stats_bucket_ranges */
    size_t n_weights;
    double coverage;                 /* share of visitors that enter, [0, 1] */
    const pm_stats_range_t *ranges;  /* NULL: from weights and coverage; else one per variation */
    const pm_stats_namespace_t *ns;  /* NULL: none */
} pm_stats_experiment_t;

#define PM_STATS_EXPERIMENT_INIT ((pm_stats_experiment_t){.hash_version = 1, .coverage = 1})

/* The variation `visitor_id` sees: 0..variations-1, or -1 when the visitor
 * is not in the experiment (empty id, outside the namespace or coverage,
 * fewer than 2 variations). PM_EINVAL for a NULL key, an unknown hash
 * version or bad weights/coverage; PM_ETOOBIG past PM_STATS_MAX_VARIATIONS. */
int pm_stats_assign_ex(const char *visitor_id, const pm_stats_experiment_t *exp, int *variation) PM_MUST_CHECK;

/* The common case: hash version 2 seeded by the experiment id, full
 * coverage, weights[0..n) (NULL for equal split). Same results and errors as
 * pm_stats_assign_ex. */
int pm_stats_assign(const char *visitor_id, const char *experiment_id, const double *weights, size_t n,
                    int *variation) PM_MUST_CHECK;

#endif

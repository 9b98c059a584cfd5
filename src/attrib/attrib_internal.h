/*
 * attrib_internal.h: what the files of src/attrib share and nobody else
 * sees: the journeys container's layout (paths in CSR form: path i holds
 * touches[off[i] .. off[i+1])), the per-model entry points pm_attrib_run()
 * dispatches to, the linear solvers of the Markov model, hashing and a small
 * deterministic random generator.
 */
#ifndef PM_ATTRIB_INTERNAL_H
#define PM_ATTRIB_INTERNAL_H

#include "pm/attrib.h"

#include <math.h>

struct pm_attrib_journeys_s {
    pm_attrib_limits_t limits;
    /* channel dictionary: names[id], open-addressed slots hold id + 1 */
    char **names;
    uint32_t nchannels, names_cap;
    uint32_t *name_slots;
    size_t name_slots_cap; /* power of two */
    /* distinct paths, CSR */
    uint32_t *touches;
    size_t ntouches, touches_cap;
    size_t *off;  /* npaths + 1 entries */
    double *ages; /* NULL until a timed path arrives; NAN for untimed touches */
    double *conv, *value, *nulls;
    uint64_t *hash;
    size_t npaths, paths_cap;
    uint32_t *path_slots; /* untimed paths only; index + 1 */
    size_t path_slots_cap;
    size_t max_len;
    double total_conv, total_value, total_nulls;
};

static inline size_t pm__attrib_path_len(const pm_attrib_journeys_t *j, size_t p) { return j->off[p + 1] - j->off[p]; }
static inline const uint32_t *pm__attrib_path(const pm_attrib_journeys_t *j, size_t p) { return j->touches + j->off[p]; }
static inline bool pm__attrib_path_timed(const pm_attrib_journeys_t *j, size_t p)
{
    return j->ages != NULL && !isnan(j->ages[j->off[p]]);
}

/* Results: allocate the per-channel arrays (zeroed), with or without the
 * Markov ones. Can't fail. */
void pm__attrib_result_alloc(pm_attrib_result_t *r, pm_attrib_model_t model, uint32_t nchannels, bool markov);

/* The models. `o` is validated and complete; `out` is allocated. */
void pm__attrib_rules_run(const pm_attrib_journeys_t *j, pm_attrib_model_t model, const pm_attrib_options_t *o,
                          pm_attrib_result_t *out);
int pm__attrib_markov_run(const pm_attrib_journeys_t *j, const pm_attrib_options_t *o,
                          pm_attrib_result_t *out) PM_MUST_CHECK;
int pm__attrib_shapley_run(const pm_attrib_journeys_t *j, const pm_attrib_options_t *o,
                           pm_attrib_result_t *out) PM_MUST_CHECK;

/*
 * An absorbing chain's transient part in CSR form: row s holds the
 * transitions s -> col[k] with probability prob[k] for k in
 * rowptr[s]..rowptr[s+1] (self-loops included), and two right-hand sides:
 * rhs_conv[s] = P(s -> conversion) and rhs_value[s] = expected value
 * collected on that step.
 */
typedef struct pm__attrib_chain_s {
    size_t nstates;
    size_t *rowptr;
    uint32_t *col;
    double *prob;
    double *rhs_conv, *rhs_value;
} pm__attrib_chain_t;

/*
 * Solve x = Q x + b for both right-hand sides over the states with
 * keep[s] (others are absorbing failures: x = 0), into x_conv and x_value
 * (nstates entries; removed states get 0). Dense Gaussian elimination with
 * partial pivoting when the kept states are at most o->dense_max_states,
 * else Gauss-Seidel sweeps started from the values already in x_* (which
 * must be >= the solution or 0) until no entry moves by more than
 * o->tolerance. OUT: *sweeps (0 for dense), *last_change, *converged.
 */
void pm__attrib_chain_solve(const pm__attrib_chain_t *c, const bool *keep, const pm_attrib_options_t *o,
                            double *x_conv, double *x_value, uint64_t *sweeps, double *last_change, bool *converged);

/* 64-bit mixing of a word sequence (for path and state hashing). */
static inline uint64_t pm__attrib_hash_words(const uint32_t *w, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    for (size_t i = 0; i < n; i++) {
        h ^= w[i];
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    h ^= h >> 29;
    h *= 0x94D049BB133111EBull;
    return h ^ (h >> 32);
}

/* splitmix64: small, fast and good enough for sampling and test data. */
static inline uint64_t pm__attrib_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double pm__attrib_rand_unit(uint64_t *state) { return (double)(pm__attrib_rand(state) >> 11) * 0x1.0p-53; }

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; bias < n / 2^64). */
static inline uint64_t pm__attrib_rand_below(uint64_t *state, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)pm__attrib_rand(state) * n) >> 64);
}

#endif

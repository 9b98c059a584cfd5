/*
 * shapley.c: Shapley values over channels with the characteristic function
 * of the public journey-set implementations (Zhao et al. 2018, "Shapley
 * value methods for attribution modeling in online advertising"):
 *
 *     v(S) = sum of the conversions (value) of the converting journeys whose
 *            set of channels is a subset of S.
 *
 * Three ways to the same numbers:
 *  - enumerate: v over all 2^n coalitions by a subset-sum (zeta) transform,
 *    then phi_i = sum_{S not i} |S|! (n-|S|-1)! / n! (v(S+i) - v(S)).
 *    O(n 2^n) time and 2^n memory: the default up to 20 channels in play.
 *  - dividends: v is a sum of unanimity games, one per channel set T with
 *    weight R(T) (the conversions of journeys with exactly that set), so
 *    phi_i = sum_{T containing i} R(T) / |T| exactly (Harsanyi). Linear in
 *    the data: the default past 20 channels.
 *  - sample: random orderings of the channels (Castro et al. 2009); in each,
 *    a journey set's R(T) goes to the member of T that comes last. Unbiased,
 *    efficient per ordering; a Hoeffding bound is reported.
 * Channels in no converting journey are null players and get 0.
 */
#include "attrib_internal.h"

#include <string.h>

#define MAX_ENUMERATE 24

typedef struct play_s {
    uint32_t n;        /* channels in play */
    uint32_t *compact; /* channel id -> index in play, or UINT32_MAX */
    uint32_t *channel; /* index in play -> channel id */
} play_t;

static void play_init(const pm_attrib_journeys_t *j, play_t *pl)
{
    pl->compact = pm_malloc((j->nchannels ? j->nchannels : 1) * sizeof(uint32_t));
    pl->channel = pm_malloc((j->nchannels ? j->nchannels : 1) * sizeof(uint32_t));
    memset(pl->compact, 0xff, j->nchannels * sizeof(uint32_t));
    for (size_t p = 0; p < j->npaths; p++) {
        if (j->conv[p] == 0) continue;
        for (size_t i = 0; i < pm__attrib_path_len(j, p); i++)
            pl->compact[pm__attrib_path(j, p)[i]] = 0;
    }
    pl->n = 0;
    for (uint32_t c = 0; c < j->nchannels; c++)
        if (pl->compact[c] == 0) {
            pl->compact[c] = pl->n;
            pl->channel[pl->n++] = c;
        }
}

static void play_free(play_t *pl)
{
    pm_free(pl->compact);
    pm_free(pl->channel);
}

/* --- enumerate ------------------------------------------------------------- */

/* weight[s] = s! (n-s-1)! / n! = 1 / (n * C(n-1, s)), for s = 0..n-1 */
static double *coalition_weights(uint32_t n)
{
    double *w = pm_malloc((n + 1) * sizeof(double)), binom = 1;
    w[n] = 0; /* the grand coalition has no one left to join it */
    for (uint32_t s = 0; s < n; s++) {
        w[s] = 1.0 / ((double)n * binom);
        binom = binom * (double)(n - 1 - s) / (double)(s + 1);
    }
    return w;
}

static void zeta_transform(double *v, uint32_t n)
{
    size_t full = (size_t)1 << n;
    for (uint32_t i = 0; i < n; i++)
        for (size_t m = 0; m < full; m++)
            if (m & ((size_t)1 << i)) v[m] += v[m ^ ((size_t)1 << i)];
}

static void shapley_enumerate(const pm_attrib_journeys_t *j, const play_t *pl, pm_attrib_result_t *out)
{
    uint32_t n = pl->n;
    size_t full = (size_t)1 << n;
    double *vc = pm_calloc(full, sizeof(double)), *vv = pm_calloc(full, sizeof(double)), *w = coalition_weights(n);
    for (size_t p = 0; p < j->npaths; p++) {
        if (j->conv[p] == 0) continue;
        size_t mask = 0;
        for (size_t i = 0; i < pm__attrib_path_len(j, p); i++)
            mask |= (size_t)1 << pl->compact[pm__attrib_path(j, p)[i]];
        vc[mask] += j->conv[p];
        vv[mask] += j->value[p];
    }
    zeta_transform(vc, n);
    zeta_transform(vv, n);
    for (size_t m = 0; m < full; m++) {
        double ws = w[__builtin_popcountll(m)];
        for (uint32_t i = 0; i < n; i++) {
            size_t bit = (size_t)1 << i;
            if (m & bit) continue;
            out->conversions[pl->channel[i]] += ws * (vc[m | bit] - vc[m]);
            out->value[pl->channel[i]] += ws * (vv[m | bit] - vv[m]);
        }
    }
    out->method = "enumerate";
    pm_free(vc);
    pm_free(vv);
    pm_free(w);
}

/* --- dividends ------------------------------------------------------------- */

static void shapley_dividends(const pm_attrib_journeys_t *j, const play_t *pl, pm_attrib_result_t *out)
{
    size_t *stamp = pm_calloc(pl->n ? pl->n : 1, sizeof(size_t));
    for (size_t p = 0; p < j->npaths; p++) {
        if (j->conv[p] == 0) continue;
        const uint32_t *path = pm__attrib_path(j, p);
        size_t len = pm__attrib_path_len(j, p), distinct = 0;
        for (size_t i = 0; i < len; i++)
            if (stamp[pl->compact[path[i]]] != p + 1) {
                stamp[pl->compact[path[i]]] = p + 1;
                distinct++;
            }
        for (size_t i = 0; i < len; i++)
            if (stamp[pl->compact[path[i]]] == p + 1) {
                stamp[pl->compact[path[i]]] = 0; /* credit each channel once */
                out->conversions[path[i]] += j->conv[p] / (double)distinct;
                out->value[path[i]] += j->value[p] / (double)distinct;
            }
    }
    out->method = "dividends";
    pm_free(stamp);
}

/* --- sample ---------------------------------------------------------------- */

/* Distinct channel sets of converting journeys, as sorted index lists. */
typedef struct sets_s {
    pm_attrib_journeys_t *agg; /* reuses the container's aggregation */
    double *range_conv;        /* per index in play: sum of R(T) over T holding it */
} sets_t;

static int sets_build(const pm_attrib_journeys_t *j, const play_t *pl, sets_t *st)
{
    int rc = PM_OK;
    uint32_t *set = pm_malloc((j->max_len + 1) * sizeof(uint32_t)), id;
    bool *seen = pm_calloc(pl->n ? pl->n : 1, sizeof(bool));
    pm_attrib_limits_t lim = j->limits;
    st->agg = pm_attrib_journeys_create(&lim);
    st->range_conv = pm_calloc(pl->n ? pl->n : 1, sizeof(double));
    for (uint32_t i = 0; i < pl->n && rc == PM_OK; i++)
        rc = pm_attrib_channel_intern(st->agg, j->names[pl->channel[i]], strlen(j->names[pl->channel[i]]), &id);
    for (size_t p = 0; p < j->npaths && rc == PM_OK; p++) {
        if (j->conv[p] == 0) continue;
        size_t k = 0;
        for (size_t i = 0; i < pm__attrib_path_len(j, p); i++) {
            uint32_t c = pl->compact[pm__attrib_path(j, p)[i]];
            if (seen[c]) continue;
            seen[c] = true;
            size_t at = k++;
            for (; at > 0 && set[at - 1] > c; at--) /* insertion sort: sets are short */
                set[at] = set[at - 1];
            set[at] = c;
            st->range_conv[c] += j->conv[p];
        }
        for (size_t i = 0; i < k; i++)
            seen[set[i]] = false;
        rc = pm_attrib_journeys_add(st->agg, set, k, NULL, j->conv[p], j->value[p], 0);
    }
    pm_free(seen);
    pm_free(set);
    return rc;
}

static void sample_run(const play_t *pl, const sets_t *st, const pm_attrib_options_t *o, pm_attrib_result_t *out)
{
    const pm_attrib_journeys_t *a = st->agg;
    uint32_t *order = pm_malloc(pl->n * sizeof(uint32_t)), *rank = pm_malloc(pl->n * sizeof(uint32_t));
    double *sc = pm_calloc(pl->n, sizeof(double)), *sv = pm_calloc(pl->n, sizeof(double));
    uint64_t rng = o->seed;
    for (uint32_t i = 0; i < pl->n; i++)
        order[i] = i;
    for (uint64_t s = 0; s < o->shapley_samples; s++) {
        for (uint32_t i = pl->n; i > 1; i--) { /* Fisher-Yates */
            uint32_t k = (uint32_t)pm__attrib_rand_below(&rng, i), t = order[i - 1];
            order[i - 1] = order[k];
            order[k] = t;
        }
        for (uint32_t i = 0; i < pl->n; i++)
            rank[order[i]] = i;
        for (size_t p = 0; p < a->npaths; p++) {
            const uint32_t *set = pm__attrib_path(a, p);
            uint32_t last = set[0];
            for (size_t i = 1; i < pm__attrib_path_len(a, p); i++)
                if (rank[set[i]] > rank[last]) last = set[i];
            sc[last] += a->conv[p];
            sv[last] += a->value[p];
        }
    }
    /* Each channel's marginal lies in [0, range]; Hoeffding with a union
     * bound over the channels: P(any |error| > eps) <= 0.05. */
    double z = sqrt(log(2.0 * pl->n / 0.05) / (2.0 * (double)o->shapley_samples));
    for (uint32_t i = 0; i < pl->n; i++) {
        out->conversions[pl->channel[i]] = sc[i] / (double)o->shapley_samples;
        out->value[pl->channel[i]] = sv[i] / (double)o->shapley_samples;
        if (st->range_conv[i] * z > out->error_bound) out->error_bound = st->range_conv[i] * z;
    }
    out->method = "sample";
    out->iterations = o->shapley_samples;
    pm_free(order);
    pm_free(rank);
    pm_free(sc);
    pm_free(sv);
}

static int shapley_sample(const pm_attrib_journeys_t *j, const play_t *pl, const pm_attrib_options_t *o,
                          pm_attrib_result_t *out)
{
    sets_t st = {0};
    int rc = sets_build(j, pl, &st);
    if (rc == PM_OK) sample_run(pl, &st, o, out);
    pm_attrib_journeys_destroy(st.agg);
    pm_free(st.range_conv);
    return rc;
}

int pm__attrib_shapley_run(const pm_attrib_journeys_t *j, const pm_attrib_options_t *o, pm_attrib_result_t *out)
{
    play_t pl;
    int rc = PM_OK;
    pm_attrib_shapley_method_t m = o->shapley_method;
    play_init(j, &pl);
    out->states = pl.n;
    if (m == PM_ATTRIB_SHAPLEY_AUTO)
        m = pl.n <= o->max_exact_channels ? PM_ATTRIB_SHAPLEY_ENUMERATE : PM_ATTRIB_SHAPLEY_DIVIDENDS;
    if (m == PM_ATTRIB_SHAPLEY_ENUMERATE && pl.n > MAX_ENUMERATE) rc = PM_EINVAL;
    else if (pl.n == 0) out->method = "none";
    else if (m == PM_ATTRIB_SHAPLEY_ENUMERATE) shapley_enumerate(j, &pl, out);
    else if (m == PM_ATTRIB_SHAPLEY_DIVIDENDS) shapley_dividends(j, &pl, out);
    else rc = shapley_sample(j, &pl, o, out);
    play_free(&pl);
    return rc;
}

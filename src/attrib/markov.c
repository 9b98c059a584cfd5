/*
 * markov.c: data-driven attribution with an absorbing Markov chain of order
 * k and the removal effect, solved exactly.
 *
 * States are the last k channels seen (shorter tuples at the start of a
 * path), plus start, conversion and null. Every distinct path adds its
 * journeys (conversions + nulls) to each transition it makes, self-loops as
 * written, and its conversions / nulls to the final transition. The
 * probability of converting from each state is the solution of
 * (I - Q) x = R (Q: transient-to-transient probabilities, R: one-step
 * conversion probabilities); P(conversion) = start distribution . x. Removing
 * channel c turns every state whose tuple holds c into a failure (x = 0);
 * its removal effect is 1 - P_without_c / P. The same system with R weighted
 * by the value of the conversions gives value removal effects. Attributed
 * conversions (value) are removal effects normalised to the totals.
 */
#include "attrib_internal.h"

#include <string.h>

#define EMPTY_EDGE UINT64_MAX
#define NO_CHANNEL UINT32_MAX
#define MAX_STATES ((size_t)1 << 31)

/* The chain as it is counted, before it becomes pm__attrib_chain_t. */
typedef struct counts_s {
    unsigned order;
    /* states: keys[s * order ..] is the tuple, padded with NO_CHANNEL */
    uint32_t *keys;
    double *start_w, *out_w, *conv_w, *value_w;
    size_t nstates, states_cap;
    uint32_t *slots; /* state index + 1 */
    size_t slots_cap;
    /* edges from -> to, keyed (from << 32 | to) */
    uint64_t *edge_key;
    double *edge_w;
    size_t nedges, edges_cap; /* edges_cap: power of two, slot count */
} counts_t;

static size_t state_slot(const counts_t *x, const uint32_t *key, uint64_t h)
{
    size_t mask = x->slots_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t v = x->slots[i];
        if (v == 0 || memcmp(x->keys + (size_t)(v - 1) * x->order, key, x->order * sizeof(*key)) == 0) return i;
    }
}

static void states_grow(counts_t *x)
{
    size_t cap = x->states_cap ? x->states_cap * 2 : 64, k = x->order;
    x->keys = pm_realloc(x->keys, cap * k * sizeof(*x->keys));
    x->start_w = pm_realloc(x->start_w, cap * sizeof(double));
    x->out_w = pm_realloc(x->out_w, cap * sizeof(double));
    x->conv_w = pm_realloc(x->conv_w, cap * sizeof(double));
    x->value_w = pm_realloc(x->value_w, cap * sizeof(double));
    x->states_cap = cap;
    pm_free(x->slots);
    x->slots_cap = cap * 2;
    x->slots = pm_calloc(x->slots_cap, sizeof(*x->slots));
    for (size_t s = 0; s < x->nstates; s++)
        x->slots[state_slot(x, x->keys + s * k, pm__attrib_hash_words(x->keys + s * k, k))] = (uint32_t)s + 1;
}

/* The state for `key`, added when new. PM_ETOOBIG past MAX_STATES. */
static int state_id(counts_t *x, const uint32_t *key, uint32_t *out)
{
    uint64_t h = pm__attrib_hash_words(key, x->order);
    size_t slot = x->slots_cap ? state_slot(x, key, h) : 0;
    if (x->slots_cap && x->slots[slot] != 0) {
        *out = x->slots[slot] - 1;
        return PM_OK;
    }
    if (x->nstates + 1 >= MAX_STATES) return PM_ETOOBIG;
    if (x->nstates == x->states_cap) {
        states_grow(x);
        slot = state_slot(x, key, h);
    }
    size_t s = x->nstates++;
    memcpy(x->keys + s * x->order, key, x->order * sizeof(*key));
    x->start_w[s] = x->out_w[s] = x->conv_w[s] = x->value_w[s] = 0;
    x->slots[slot] = (uint32_t)s + 1;
    *out = (uint32_t)s;
    return PM_OK;
}

static uint64_t edge_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    return k ^ (k >> 33);
}

static size_t edge_slot(const counts_t *x, uint64_t key)
{
    size_t mask = x->edges_cap - 1;
    for (size_t i = edge_hash(key) & mask;; i = (i + 1) & mask)
        if (x->edge_key[i] == key || x->edge_key[i] == EMPTY_EDGE) return i;
}

static void edges_grow(counts_t *x)
{
    uint64_t *old_key = x->edge_key;
    double *old_w = x->edge_w;
    size_t old_cap = x->edges_cap;
    x->edges_cap = old_cap ? old_cap * 2 : 1024;
    x->edge_key = pm_malloc(x->edges_cap * sizeof(*x->edge_key));
    x->edge_w = pm_malloc(x->edges_cap * sizeof(*x->edge_w));
    memset(x->edge_key, 0xff, x->edges_cap * sizeof(*x->edge_key));
    for (size_t i = 0; i < old_cap; i++)
        if (old_key[i] != EMPTY_EDGE) {
            size_t slot = edge_slot(x, old_key[i]);
            x->edge_key[slot] = old_key[i];
            x->edge_w[slot] = old_w[i];
        }
    pm_free(old_key);
    pm_free(old_w);
}

static void edge_add(counts_t *x, uint32_t from, uint32_t to, double w)
{
    if (2 * (x->nedges + 1) > x->edges_cap) edges_grow(x);
    uint64_t key = (uint64_t)from << 32 | to;
    size_t slot = edge_slot(x, key);
    if (x->edge_key[slot] == EMPTY_EDGE) {
        x->edge_key[slot] = key;
        x->edge_w[slot] = 0;
        x->nedges++;
    }
    x->edge_w[slot] += w;
}

/* Count one distinct path's transitions, weighted by its journeys. */
static int count_path(counts_t *x, const pm_attrib_journeys_t *j, size_t p)
{
    const uint32_t *path = pm__attrib_path(j, p);
    size_t n = pm__attrib_path_len(j, p), k = x->order;
    double w = j->conv[p] + j->nulls[p];
    uint32_t key[PM_ATTRIB_MAX_ORDER], prev = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = i + 1 < k ? i + 1 : k;
        for (size_t t = 0; t < k; t++)
            key[t] = t < len ? path[i + 1 - len + t] : NO_CHANNEL;
        int rc = state_id(x, key, &s);
        if (rc != PM_OK) return rc;
        if (i == 0) x->start_w[s] += w;
        else edge_add(x, prev, s, w);
        x->out_w[s] += w;
        prev = s;
    }
    x->conv_w[s] += j->conv[p];
    x->value_w[s] += j->value[p];
    return PM_OK;
}

static void counts_free(counts_t *x)
{
    pm_free(x->keys);
    pm_free(x->start_w);
    pm_free(x->out_w);
    pm_free(x->conv_w);
    pm_free(x->value_w);
    pm_free(x->slots);
    pm_free(x->edge_key);
    pm_free(x->edge_w);
}

/* Turn counts into transition probabilities in CSR form. */
static void chain_build(const counts_t *x, pm__attrib_chain_t *c)
{
    size_t n = x->nstates;
    c->nstates = n;
    c->rowptr = pm_calloc(n + 1, sizeof(*c->rowptr));
    c->col = pm_malloc((x->nedges ? x->nedges : 1) * sizeof(*c->col));
    c->prob = pm_malloc((x->nedges ? x->nedges : 1) * sizeof(*c->prob));
    c->rhs_conv = pm_malloc((n ? n : 1) * sizeof(double));
    c->rhs_value = pm_malloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < x->edges_cap; i++)
        if (x->edge_key[i] != EMPTY_EDGE) c->rowptr[(x->edge_key[i] >> 32) + 1]++;
    for (size_t s = 0; s < n; s++)
        c->rowptr[s + 1] += c->rowptr[s];
    size_t *fill = pm_malloc((n ? n : 1) * sizeof(*fill));
    memcpy(fill, c->rowptr, n * sizeof(*fill));
    for (size_t i = 0; i < x->edges_cap; i++) {
        if (x->edge_key[i] == EMPTY_EDGE) continue;
        size_t from = x->edge_key[i] >> 32, k = fill[from]++;
        c->col[k] = (uint32_t)(x->edge_key[i] & 0xffffffffu);
        c->prob[k] = x->edge_w[i] / x->out_w[from];
    }
    for (size_t s = 0; s < n; s++) {
        c->rhs_conv[s] = x->conv_w[s] / x->out_w[s];
        c->rhs_value[s] = x->value_w[s] / x->out_w[s];
    }
    pm_free(fill);
}

static void chain_free(pm__attrib_chain_t *c)
{
    pm_free(c->rowptr);
    pm_free(c->col);
    pm_free(c->prob);
    pm_free(c->rhs_conv);
    pm_free(c->rhs_value);
}

static bool state_has(const counts_t *x, size_t s, uint32_t channel)
{
    for (unsigned t = 0; t < x->order; t++)
        if (x->keys[s * x->order + t] == channel) return true;
    return false;
}

typedef struct solve_ctx_s {
    const counts_t *counts;
    const pm__attrib_chain_t *chain;
    const pm_attrib_options_t *o;
    double start_total;
    bool *keep;
    double *x_conv, *x_value;
    pm_attrib_result_t *out;
} solve_ctx_t;

/* P(conversion) and expected value from start with the states not in
 * `keep` removed; x_* hold the warm start on entry. */
static void solve_from_start(solve_ctx_t *s, double *p_conv, double *p_value)
{
    uint64_t sweeps = 0;
    double change = 0;
    bool converged = true;
    pm__attrib_chain_solve(s->chain, s->keep, s->o, s->x_conv, s->x_value, &sweeps, &change, &converged);
    s->out->iterations += sweeps;
    if (change > s->out->residual) s->out->residual = change;
    if (!converged) s->out->converged = false;
    if (sweeps) s->out->method = "gauss-seidel";
    double pc = 0, pv = 0;
    for (size_t i = 0; i < s->counts->nstates; i++) {
        pc += s->counts->start_w[i] * s->x_conv[i];
        pv += s->counts->start_w[i] * s->x_value[i];
    }
    *p_conv = pc / s->start_total;
    *p_value = pv / s->start_total;
}

/* Removal effects of every channel that has a state, then the shares. */
static void removal_effects(solve_ctx_t *s, const double *full_conv, const double *full_value, double p, double v)
{
    const counts_t *x = s->counts;
    pm_attrib_result_t *out = s->out;
    for (uint32_t c = 0; c < out->nchannels; c++) {
        bool any = false;
        for (size_t i = 0; i < x->nstates; i++) {
            s->keep[i] = !state_has(x, i, c);
            any |= !s->keep[i];
            s->x_conv[i] = s->keep[i] ? full_conv[i] : 0; /* an upper bound: a warm start */
            s->x_value[i] = s->keep[i] ? full_value[i] : 0;
        }
        if (!any) continue;
        double pc, pv;
        solve_from_start(s, &pc, &pv);
        out->removal_effect[c] = p > 0 ? fmax(0.0, 1 - pc / p) : 0;
        out->value_removal_effect[c] = v > 0 ? fmax(0.0, 1 - pv / v) : 0;
    }
}

static double sum_of(const double *v, uint32_t n)
{
    double sum = 0;
    for (uint32_t c = 0; c < n; c++)
        sum += v[c];
    return sum;
}

/*
 * The fallback weights when every removal effect rounds to zero although
 * there is something to attribute (only seen on degenerate input, such as
 * one conversion among 1e58 non-converting journeys, where the chain's
 * probabilities are below what doubles resolve): each channel weighs the
 * conversions (or value) of the distinct paths it appears on. Totals are
 * then still conserved: attribution never loses a conversion.
 */
static void presence_weights(const pm_attrib_journeys_t *j, uint32_t n, bool value, double *w)
{
    memset(w, 0, n * sizeof(*w));
    for (size_t p = 0; p < j->npaths; p++) {
        double amount = value ? j->value[p] : j->conv[p];
        const uint32_t *path = pm__attrib_path(j, p);
        size_t len = pm__attrib_path_len(j, p);
        for (size_t i = 0; i < len && amount > 0; i++) {
            bool seen = false;
            for (size_t k = 0; k < i && !seen; k++)
                seen = path[k] == path[i];
            if (!seen && path[i] < n) w[path[i]] += amount;
        }
    }
}

static void normalise(const pm_attrib_journeys_t *j, const double *effect, bool value, double *share, uint32_t n,
                      double total)
{
    double sum = sum_of(effect, n), *fallback = NULL;
    if (!(sum > 0 && isfinite(sum)) && total > 0) {
        fallback = pm_malloc((n ? n : 1) * sizeof(double));
        presence_weights(j, n, value, fallback);
        effect = fallback;
        sum = sum_of(effect, n);
    }
    for (uint32_t c = 0; c < n; c++)
        share[c] = sum > 0 ? effect[c] / sum * total : 0;
    pm_free(fallback);
}

static void solve_all(const counts_t *x, const pm_attrib_options_t *o, pm_attrib_result_t *out)
{
    pm__attrib_chain_t chain = {0};
    size_t n = x->nstates ? x->nstates : 1;
    chain_build(x, &chain);
    solve_ctx_t s = {.counts = x, .chain = &chain, .o = o, .out = out, .keep = pm_malloc(n * sizeof(bool)),
                     .x_conv = pm_calloc(n, sizeof(double)), .x_value = pm_calloc(n, sizeof(double))};
    double *full_conv = pm_malloc(n * sizeof(double)), *full_value = pm_malloc(n * sizeof(double)), p, v;
    for (size_t i = 0; i < x->nstates; i++) {
        s.keep[i] = true;
        s.start_total += x->start_w[i];
    }
    out->method = "dense";
    out->states = x->nstates;
    if (s.start_total > 0) {
        solve_from_start(&s, &p, &v);
        out->conversion_probability = p;
        memcpy(full_conv, s.x_conv, x->nstates * sizeof(double));
        memcpy(full_value, s.x_value, x->nstates * sizeof(double));
        removal_effects(&s, full_conv, full_value, p, v);
    }
    pm_free(full_conv);
    pm_free(full_value);
    pm_free(s.keep);
    pm_free(s.x_conv);
    pm_free(s.x_value);
    chain_free(&chain);
}

int pm__attrib_markov_run(const pm_attrib_journeys_t *j, const pm_attrib_options_t *o, pm_attrib_result_t *out)
{
    counts_t x = {.order = o->markov_order};
    int rc = PM_OK;
    edges_grow(&x);
    for (size_t p = 0; p < j->npaths; p++) {
        if (j->conv[p] + j->nulls[p] <= 0) continue;
        rc = count_path(&x, j, p);
        if (rc != PM_OK) goto out;
    }
    solve_all(&x, o, out);
    if (out->total_conversions > 0) { /* else nothing to attribute (pm/attrib.h) */
        normalise(j, out->removal_effect, false, out->conversions, out->nchannels, out->total_conversions);
        normalise(j, out->value_removal_effect, true, out->value, out->nchannels, out->total_value);
    }
out:
    counts_free(&x);
    return rc;
}

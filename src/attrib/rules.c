/*
 * rules.c: the rule-based models. Each gives every touch of a converting
 * path a weight (the weights of a path sum to 1) and credits the touch's
 * channel with that share of the path's conversions and value. A channel
 * touched twice gets both touches' weights. Definitions: docs/attribution.md.
 */
#include "attrib_internal.h"

#include <string.h>
#include <strings.h>

typedef struct rules_ctx_s {
    pm_attrib_model_t model;
    const pm_attrib_options_t *o;
    const bool *is_direct; /* per channel */
    double *w;             /* scratch, one weight per touch */
} rules_ctx_t;

static size_t last_non_direct(const rules_ctx_t *x, const uint32_t *path, size_t n)
{
    for (size_t i = n; i-- > 0;)
        if (!x->is_direct[path[i]]) return i;
    return n - 1; /* only direct touches: direct keeps the credit */
}

/* Time decay: weight 2^(-age / half-life), ages in days before the end of
 * the journey; untimed paths count one day per later touch. Ages are taken
 * relative to the youngest touch so the weights cannot all underflow. */
static void time_decay_weights(const rules_ctx_t *x, const pm_attrib_journeys_t *j, size_t p, size_t n)
{
    const double *ages = pm__attrib_path_timed(j, p) ? j->ages + j->off[p] : NULL;
    double youngest = INFINITY, sum = 0;
    for (size_t i = 0; i < n; i++) {
        x->w[i] = ages ? ages[i] : (double)(n - 1 - i);
        if (x->w[i] < youngest) youngest = x->w[i];
    }
    for (size_t i = 0; i < n; i++) {
        x->w[i] = exp2(-(x->w[i] - youngest) / x->o->half_life_days);
        sum += x->w[i];
    }
    for (size_t i = 0; i < n; i++)
        x->w[i] /= sum;
}

/* Position-based: one touch takes all; two split first : last (50/50 with
 * the default 40/20/40); three or more give the first and last their share
 * and split the middle share evenly between the touches in between. */
static void position_weights(const rules_ctx_t *x, size_t n)
{
    double f = x->o->position_first / 100, m = x->o->position_middle / 100, l = x->o->position_last / 100;
    if (n == 1) {
        x->w[0] = 1;
    } else if (n == 2) {
        x->w[0] = f + l > 0 ? f / (f + l) : 0.5;
        x->w[1] = 1 - x->w[0];
    } else {
        x->w[0] = f;
        x->w[n - 1] = l;
        for (size_t i = 1; i + 1 < n; i++)
            x->w[i] = m / (double)(n - 2);
    }
}

static void path_weights(const rules_ctx_t *x, const pm_attrib_journeys_t *j, size_t p)
{
    const uint32_t *path = pm__attrib_path(j, p);
    size_t n = pm__attrib_path_len(j, p);
    switch (x->model) {
    case PM_ATTRIB_TIME_DECAY: time_decay_weights(x, j, p, n); return;
    case PM_ATTRIB_POSITION: position_weights(x, n); return;
    case PM_ATTRIB_LINEAR:
        for (size_t i = 0; i < n; i++)
            x->w[i] = 1.0 / (double)n;
        return;
    default: break;
    }
    memset(x->w, 0, n * sizeof(*x->w));
    if (x->model == PM_ATTRIB_FIRST) x->w[0] = 1;
    else if (x->model == PM_ATTRIB_LAST) x->w[n - 1] = 1;
    else x->w[last_non_direct(x, path, n)] = 1;
}

void pm__attrib_rules_run(const pm_attrib_journeys_t *j, pm_attrib_model_t model, const pm_attrib_options_t *o,
                          pm_attrib_result_t *out)
{
    bool *is_direct = pm_calloc(j->nchannels, sizeof(*is_direct));
    rules_ctx_t x = {.model = model, .o = o, .is_direct = is_direct, .w = pm_malloc((j->max_len + 1) * sizeof(double))};
    const char *direct = o->direct_channel ? o->direct_channel : "";
    for (uint32_t c = 0; c < j->nchannels; c++)
        is_direct[c] = strcasecmp(j->names[c], direct) == 0;
    for (size_t p = 0; p < j->npaths; p++) {
        if (j->conv[p] == 0) continue;
        const uint32_t *path = pm__attrib_path(j, p);
        path_weights(&x, j, p);
        for (size_t i = 0; i < pm__attrib_path_len(j, p); i++) {
            out->conversions[path[i]] += j->conv[p] * x.w[i];
            out->value[path[i]] += j->value[p] * x.w[i];
        }
    }
    out->method = "rule";
    pm_free(x.w);
    pm_free(is_direct);
}

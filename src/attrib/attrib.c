/*
 * attrib.c: the one entry point of the attribution models (pm/attrib.h):
 * model names, default options and their validation, and the result's
 * memory. The models themselves live in rules.c, markov.c and shapley.c.
 */
#include "attrib_internal.h"

#include <string.h>

static const char *const model_names[PM_ATTRIB_MODEL_COUNT] = {
    [PM_ATTRIB_FIRST] = "first",       [PM_ATTRIB_LAST] = "last",         [PM_ATTRIB_LAST_NON_DIRECT] = "last_non_direct",
    [PM_ATTRIB_LINEAR] = "linear",     [PM_ATTRIB_TIME_DECAY] = "time_decay", [PM_ATTRIB_POSITION] = "position",
    [PM_ATTRIB_MARKOV] = "markov",     [PM_ATTRIB_SHAPLEY] = "shapley",
};

const char *pm_attrib_model_name(pm_attrib_model_t m)
{
    return (unsigned)m < PM_ATTRIB_MODEL_COUNT ? model_names[m] : NULL;
}

int pm_attrib_model_parse(const char *name, pm_attrib_model_t *out)
{
    for (unsigned m = 0; m < PM_ATTRIB_MODEL_COUNT; m++)
        if (strcmp(name, model_names[m]) == 0) {
            *out = (pm_attrib_model_t)m;
            return PM_OK;
        }
    return PM_ENOTFOUND;
}

void pm_attrib_options_default(pm_attrib_options_t *o)
{
    *o = (pm_attrib_options_t){
        .direct_channel = "direct",
        .half_life_days = 7.0,
        .position_first = 40.0,
        .position_middle = 20.0,
        .position_last = 40.0,
        .markov_order = 1,
        .dense_max_states = 200,
        .tolerance = 1e-13,
        .max_iterations = 100000,
        .shapley_method = PM_ATTRIB_SHAPLEY_AUTO,
        .max_exact_channels = 20,
        .shapley_samples = 10000,
        .seed = 1,
    };
}

static int options_check(const pm_attrib_options_t *o)
{
    double f = o->position_first, m = o->position_middle, l = o->position_last;
    if (!(o->half_life_days > 0) || !isfinite(o->half_life_days)) return PM_EINVAL;
    if (!(f >= 0 && m >= 0 && l >= 0) || fabs(f + m + l - 100.0) > 1e-9) return PM_EINVAL;
    if (o->markov_order < 1 || o->markov_order > PM_ATTRIB_MAX_ORDER) return PM_EINVAL;
    if (!(o->tolerance > 0) || o->max_iterations == 0) return PM_EINVAL;
    if ((unsigned)o->shapley_method > PM_ATTRIB_SHAPLEY_SAMPLE || o->max_exact_channels > 24) return PM_EINVAL;
    if (o->shapley_method == PM_ATTRIB_SHAPLEY_SAMPLE && o->shapley_samples == 0) return PM_EINVAL;
    return PM_OK;
}

void pm__attrib_result_alloc(pm_attrib_result_t *r, pm_attrib_model_t model, uint32_t nchannels, bool markov)
{
    memset(r, 0, sizeof(*r));
    r->model = model;
    r->nchannels = nchannels;
    r->conversions = pm_calloc(nchannels, sizeof(double));
    r->value = pm_calloc(nchannels, sizeof(double));
    if (markov) {
        r->removal_effect = pm_calloc(nchannels, sizeof(double));
        r->value_removal_effect = pm_calloc(nchannels, sizeof(double));
    }
    r->converged = true;
}

void pm_attrib_result_free(pm_attrib_result_t *r)
{
    if (r == NULL) return;
    pm_free(r->conversions);
    pm_free(r->value);
    pm_free(r->removal_effect);
    pm_free(r->value_removal_effect);
    memset(r, 0, sizeof(*r));
}

int pm_attrib_run(const pm_attrib_journeys_t *j, pm_attrib_model_t model, const pm_attrib_options_t *o,
                  pm_attrib_result_t *out)
{
    pm_attrib_options_t defaults;
    int rc = PM_OK;
    memset(out, 0, sizeof(*out));
    if (o == NULL) {
        pm_attrib_options_default(&defaults);
        o = &defaults;
    }
    if ((unsigned)model >= PM_ATTRIB_MODEL_COUNT || options_check(o) != PM_OK) return PM_EINVAL;
    pm__attrib_result_alloc(out, model, j->nchannels, model == PM_ATTRIB_MARKOV);
    out->total_conversions = j->total_conv;
    out->total_value = j->total_value;
    if (model == PM_ATTRIB_MARKOV) rc = pm__attrib_markov_run(j, o, out);
    else if (model == PM_ATTRIB_SHAPLEY) rc = pm__attrib_shapley_run(j, o, out);
    else pm__attrib_rules_run(j, model, o, out);
    return rc;
}

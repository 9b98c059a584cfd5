/*
 * fuzz_paths.c: the journey readers of pm/attrib_io.h — the paths CSV parser
 * and the JSON journeys reader — fed the same bytes, then every model run on
 * whatever they accepted. The readers must only answer PM_OK, PM_EINVAL or
 * PM_ETOOBIG, report every rejected line, and leave a container whose
 * totals every model reproduces: attribution may never create or lose a
 * conversion. Caps are small so one input stays fast.
 */
#include "pm/attrib.h"
#include "pm/attrib_io.h"

#include <math.h>
#include <string.h>

static void count_report(void *ctx, size_t where, const char *why)
{
    if (why == NULL || why[0] == '\0') abort();
    ++*(size_t *)ctx;
}

static void check_sum(const double *v, uint32_t n, double total)
{
    double sum = 0;
    for (uint32_t c = 0; c < n; c++) {
        if (!(v[c] >= -1e-9 * (1 + total))) abort(); /* also catches NaN */
        sum += v[c];
    }
    if (total > 1e200) return; /* sums of huge values may round past it */
    if (fabs(sum - total) > 1e-6 * (1 + total)) abort();
}

static void run_models(const pm_attrib_journeys_t *j, uint8_t knob)
{
    pm_attrib_options_t o;
    pm_attrib_options_default(&o);
    o.markov_order = 1 + knob % 3;
    o.dense_max_states = knob & 8 ? 0 : 64; /* both solvers */
    o.max_iterations = 2000;
    o.shapley_method = knob & 16 ? PM_ATTRIB_SHAPLEY_SAMPLE : PM_ATTRIB_SHAPLEY_AUTO;
    o.max_exact_channels = 10;
    o.shapley_samples = 50;
    for (unsigned m = 0; m < PM_ATTRIB_MODEL_COUNT; m++) {
        pm_attrib_result_t r;
        int rc = pm_attrib_run(j, (pm_attrib_model_t)m, &o, &r);
        if (rc != PM_OK) abort();
        bool nothing = m == PM_ATTRIB_MARKOV && r.total_conversions == 0;
        if (!nothing) check_sum(r.conversions, r.nchannels, r.total_conversions);
        if (!nothing) check_sum(r.value, r.nchannels, r.total_value);
        pm_attrib_result_free(&r);
    }
}

static void one_reader(const uint8_t *data, size_t size, bool json)
{
    pm_attrib_limits_t lim = {.max_channels = 40, .max_path_len = 64, .max_name_len = 32, .max_paths = 256,
                              .max_touches = 4096};
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(&lim);
    pm_attrib_read_stats_t st = {0};
    size_t reports = 0;
    int rc = json ? pm_attrib_journeys_json_parse(j, (const char *)data, size, count_report, &reports, &st)
                  : pm_attrib_paths_parse(j, (const char *)data, size, 512, count_report, &reports, &st);
    if (rc != PM_OK && rc != PM_EINVAL && rc != PM_ETOOBIG) abort();
    if (reports != st.rejected + (rc == PM_EINVAL)) abort();
    if (!isfinite(pm_attrib_journeys_total_conversions(j)) || pm_attrib_journeys_total_nulls(j) < 0) abort();
    if (st.accepted > 0 && pm_attrib_journeys_path_count(j) == 0) abort();
    if (st.accepted > 0 && isfinite(pm_attrib_journeys_total_value(j))) run_models(j, size ? data[size - 1] : 0);
    pm_attrib_journeys_destroy(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_reader(data, size, false);
    one_reader(data, size, true);
    return 0;
}

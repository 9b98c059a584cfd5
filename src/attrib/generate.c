/*
 * generate.c: synthetic journeys in the paths CSV format, for benchmarks
 * and for trying the models on something with known structure. Channels
 * have a Zipf-like reach and a per-channel conversion lift; journeys repeat
 * their previous channel now and then, like real ones do. Deterministic for
 * a seed (splitmix64), so benchmark inputs can be rebuilt anywhere.
 */
#include "pm/attrib_io.h"

#include "attrib_internal.h"

#include <string.h>

#define MAX_TOUCHES 20

typedef struct gen_s {
    unsigned channels;
    double *reach_cdf; /* cumulative reach */
    double *lift;      /* log-odds added when the channel is in the journey */
    uint64_t rng;
} gen_t;

static unsigned draw_channel(gen_t *g)
{
    double u = pm__attrib_rand_unit(&g->rng) * g->reach_cdf[g->channels - 1];
    unsigned lo = 0, hi = g->channels - 1;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (g->reach_cdf[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

static void channel_name(unsigned c, char *out, size_t cap)
{
    if (c == 0) snprintf(out, cap, "direct");
    else snprintf(out, cap, "ch%02u", c);
}

/* One journey as a CSV line. */
static int write_journey(gen_t *g, FILE *out, bool *seen)
{
    unsigned len = 1, prev = 0;
    while (len < MAX_TOUCHES && pm__attrib_rand_unit(&g->rng) < 0.65)
        len++;
    double logit = -3.2 + 0.08 * len;
    char name[16];
    memset(seen, 0, g->channels * sizeof(*seen));
    for (unsigned i = 0; i < len; i++) {
        unsigned c = i > 0 && pm__attrib_rand_unit(&g->rng) < 0.3 ? prev : draw_channel(g);
        if (!seen[c]) logit += g->lift[c];
        seen[c] = true;
        channel_name(c, name, sizeof(name));
        if (fputs(i ? " > " : "", out) < 0 || fputs(name, out) < 0) return -EIO;
        prev = c;
    }
    bool converted = pm__attrib_rand_unit(&g->rng) < 1.0 / (1.0 + exp(-logit));
    double value = 20.0 + 80.0 * pm__attrib_rand_unit(&g->rng);
    int n = converted ? fprintf(out, ";1;%.2f;0\n", value) : fprintf(out, ";0;0;1\n");
    return n < 0 ? -EIO : PM_OK;
}

int pm_attrib_generate(FILE *out, uint64_t n, unsigned channels, uint64_t seed)
{
    if (channels < 2 || channels > 999) return PM_EINVAL;
    gen_t g = {.channels = channels, .rng = seed};
    int rc = PM_OK;
    g.reach_cdf = pm_malloc(channels * sizeof(double));
    g.lift = pm_malloc(channels * sizeof(double));
    bool *seen = pm_malloc(channels * sizeof(bool));
    for (unsigned c = 0; c < channels; c++) {
        g.reach_cdf[c] = (c ? g.reach_cdf[c - 1] : 0) + 1.0 / pow(c + 1.0, 0.8);
        g.lift[c] = c == 0 ? 0.1 : -0.4 + 1.4 * pm__attrib_rand_unit(&g.rng);
    }
    if (fputs("path;total_conversions;total_conversion_value;total_null\n", out) < 0) rc = -EIO;
    for (uint64_t i = 0; i < n && rc == PM_OK; i++)
        rc = write_journey(&g, out, seen);
    if (rc == PM_OK && fflush(out) != 0) rc = -errno;
    pm_free(seen);
    pm_free(g.lift);
    pm_free(g.reach_cdf);
    return rc;
}

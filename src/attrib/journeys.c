/*
 * journeys.c: the journeys container (pm/attrib.h): a channel dictionary
 * and the distinct paths in CSR form with their conversion, value and null
 * counts. Identical untimed paths are merged through an open-addressed hash
 * of the touch sequence, so the models work on distinct paths only.
 */
#include "attrib_internal.h"
#include "pm/hash.h"

#include <string.h>

#define DEFAULT_MAX_CHANNELS 65536u
#define DEFAULT_MAX_PATH_LEN 10000u
#define DEFAULT_MAX_NAME_LEN 256u
#define DEFAULT_MAX_PATHS ((size_t)1 << 24)
#define DEFAULT_MAX_TOUCHES ((size_t)1 << 28)

pm_attrib_journeys_t *pm_attrib_journeys_create(const pm_attrib_limits_t *limits)
{
    pm_attrib_journeys_t *j = pm_calloc(1, sizeof(*j));
    if (limits) j->limits = *limits;
    if (!j->limits.max_channels) j->limits.max_channels = DEFAULT_MAX_CHANNELS;
    if (!j->limits.max_path_len) j->limits.max_path_len = DEFAULT_MAX_PATH_LEN;
    if (!j->limits.max_name_len) j->limits.max_name_len = DEFAULT_MAX_NAME_LEN;
    if (!j->limits.max_paths) j->limits.max_paths = DEFAULT_MAX_PATHS;
    if (j->limits.max_paths > UINT32_MAX - 1) j->limits.max_paths = UINT32_MAX - 1; /* slots hold index + 1 */
    if (!j->limits.max_touches) j->limits.max_touches = DEFAULT_MAX_TOUCHES;
    j->off = pm_calloc(1, sizeof(*j->off));
    return j;
}

void pm_attrib_journeys_destroy(pm_attrib_journeys_t *j)
{
    if (j == NULL) return;
    for (uint32_t i = 0; i < j->nchannels; i++)
        pm_free(j->names[i]);
    pm_free(j->names);
    pm_free(j->name_slots);
    pm_free(j->touches);
    pm_free(j->off);
    pm_free(j->ages);
    pm_free(j->conv);
    pm_free(j->value);
    pm_free(j->nulls);
    pm_free(j->hash);
    pm_free(j->path_slots);
    pm_free(j);
}

/* --- channel dictionary ---------------------------------------------------- */

/* The slot holding `name`, or the empty slot where it would go. */
static size_t name_slot(const pm_attrib_journeys_t *j, const char *name, size_t len)
{
    size_t mask = j->name_slots_cap - 1;
    for (size_t i = pm_hash64(name, len) & mask;; i = (i + 1) & mask) {
        uint32_t v = j->name_slots[i];
        if (v == 0) return i;
        const char *have = j->names[v - 1];
        if (strlen(have) == len && memcmp(have, name, len) == 0) return i;
    }
}

static void name_slots_grow(pm_attrib_journeys_t *j)
{
    pm_free(j->name_slots);
    j->name_slots_cap = j->name_slots_cap ? j->name_slots_cap * 2 : 64;
    j->name_slots = pm_calloc(j->name_slots_cap, sizeof(*j->name_slots));
    for (uint32_t id = 0; id < j->nchannels; id++)
        j->name_slots[name_slot(j, j->names[id], strlen(j->names[id]))] = id + 1;
}

int pm_attrib_channel_find(const pm_attrib_journeys_t *j, const char *name, size_t len, uint32_t *id)
{
    if (j->name_slots_cap == 0 || memchr(name, '\0', len) != NULL) return PM_ENOTFOUND;
    uint32_t v = j->name_slots[name_slot(j, name, len)];
    if (v == 0) return PM_ENOTFOUND;
    *id = v - 1;
    return PM_OK;
}

int pm_attrib_channel_intern(pm_attrib_journeys_t *j, const char *name, size_t len, uint32_t *id)
{
    if (len == 0 || memchr(name, '\0', len) != NULL) return PM_EINVAL;
    if (len > j->limits.max_name_len) return PM_ETOOBIG;
    if (pm_attrib_channel_find(j, name, len, id) == PM_OK) return PM_OK;
    if (j->nchannels >= j->limits.max_channels) return PM_ETOOBIG;
    if (j->nchannels == j->names_cap) {
        j->names_cap = j->names_cap ? j->names_cap * 2 : 16;
        j->names = pm_realloc(j->names, j->names_cap * sizeof(*j->names));
    }
    j->names[j->nchannels++] = pm_strndup(name, len);
    if (2 * (size_t)j->nchannels > j->name_slots_cap) name_slots_grow(j);
    else j->name_slots[name_slot(j, name, len)] = j->nchannels;
    *id = j->nchannels - 1;
    return PM_OK;
}

const char *pm_attrib_channel_name(const pm_attrib_journeys_t *j, uint32_t id)
{
    return id < j->nchannels ? j->names[id] : NULL;
}

uint32_t pm_attrib_channel_count(const pm_attrib_journeys_t *j) { return j->nchannels; }

/* --- paths ----------------------------------------------------------------- */

/* The slot holding the untimed path `w[0..n)` with hash h, or the empty
 * slot where it would go. */
static size_t path_slot(const pm_attrib_journeys_t *j, const uint32_t *w, size_t n, uint64_t h)
{
    size_t mask = j->path_slots_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t v = j->path_slots[i];
        if (v == 0) return i;
        size_t p = v - 1;
        if (j->hash[p] == h && pm__attrib_path_len(j, p) == n &&
            memcmp(pm__attrib_path(j, p), w, n * sizeof(*w)) == 0)
            return i;
    }
}

static void path_slots_grow(pm_attrib_journeys_t *j)
{
    pm_free(j->path_slots);
    j->path_slots_cap = j->path_slots_cap ? j->path_slots_cap * 2 : 1024;
    j->path_slots = pm_calloc(j->path_slots_cap, sizeof(*j->path_slots));
    for (size_t p = 0; p < j->npaths; p++)
        if (!pm__attrib_path_timed(j, p))
            j->path_slots[path_slot(j, pm__attrib_path(j, p), pm__attrib_path_len(j, p), j->hash[p])] = (uint32_t)p + 1;
}

static void paths_reserve(pm_attrib_journeys_t *j, size_t n)
{
    if (j->npaths == j->paths_cap) {
        j->paths_cap = j->paths_cap ? j->paths_cap * 2 : 256;
        j->off = pm_realloc(j->off, (j->paths_cap + 1) * sizeof(*j->off));
        j->conv = pm_realloc(j->conv, j->paths_cap * sizeof(*j->conv));
        j->value = pm_realloc(j->value, j->paths_cap * sizeof(*j->value));
        j->nulls = pm_realloc(j->nulls, j->paths_cap * sizeof(*j->nulls));
        j->hash = pm_realloc(j->hash, j->paths_cap * sizeof(*j->hash));
    }
    if (j->ntouches + n > j->touches_cap) {
        size_t cap = j->touches_cap ? j->touches_cap : 1024;
        while (cap < j->ntouches + n)
            cap *= 2;
        j->touches = pm_realloc(j->touches, cap * sizeof(*j->touches));
        if (j->ages) j->ages = pm_realloc(j->ages, cap * sizeof(*j->ages));
        j->touches_cap = cap;
    }
}

static bool counts_valid(double conversions, double value, double nulls)
{
    if (!isfinite(conversions) || !isfinite(value) || !isfinite(nulls)) return false;
    if (conversions < 0 || value < 0 || nulls < 0) return false;
    return !(value > 0 && conversions == 0);
}

static int check_add(const pm_attrib_journeys_t *j, const uint32_t *channels, size_t n, const double *ages,
                     double conversions, double value, double nulls)
{
    if (n == 0 || !counts_valid(conversions, value, nulls)) return PM_EINVAL;
    if (n > j->limits.max_path_len) return PM_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        if (channels[i] >= j->nchannels) return PM_EINVAL;
        if (ages && (!isfinite(ages[i]) || ages[i] < 0)) return PM_EINVAL;
    }
    return PM_OK;
}

static void totals_add(pm_attrib_journeys_t *j, double conversions, double value, double nulls)
{
    j->total_conv += conversions;
    j->total_value += value;
    j->total_nulls += nulls;
}

int pm_attrib_journeys_add(pm_attrib_journeys_t *j, const uint32_t *channels, size_t n, const double *ages_days,
                           double conversions, double value, double nulls)
{
    int rc = check_add(j, channels, n, ages_days, conversions, value, nulls);
    if (rc != PM_OK) return rc;
    uint64_t h = pm__attrib_hash_words(channels, n);
    size_t slot = 0;
    if (ages_days == NULL) {
        if (2 * (j->npaths + 1) > j->path_slots_cap) path_slots_grow(j);
        slot = path_slot(j, channels, n, h);
        uint32_t v = j->path_slots[slot];
        if (v != 0) {
            j->conv[v - 1] += conversions;
            j->value[v - 1] += value;
            j->nulls[v - 1] += nulls;
            totals_add(j, conversions, value, nulls);
            return PM_OK;
        }
    }
    if (j->npaths >= j->limits.max_paths || j->ntouches + n > j->limits.max_touches) return PM_ETOOBIG;
    paths_reserve(j, n);
    if (ages_days && j->ages == NULL) {
        j->ages = pm_malloc(j->touches_cap * sizeof(*j->ages));
        for (size_t i = 0; i < j->ntouches; i++)
            j->ages[i] = NAN;
    }
    size_t p = j->npaths++;
    memcpy(j->touches + j->ntouches, channels, n * sizeof(*channels));
    for (size_t i = 0; j->ages && i < n; i++)
        j->ages[j->ntouches + i] = ages_days ? ages_days[i] : NAN;
    j->ntouches += n;
    j->off[p + 1] = j->ntouches;
    j->conv[p] = conversions;
    j->value[p] = value;
    j->nulls[p] = nulls;
    j->hash[p] = h;
    if (ages_days == NULL) j->path_slots[slot] = (uint32_t)p + 1;
    if (n > j->max_len) j->max_len = n;
    totals_add(j, conversions, value, nulls);
    return PM_OK;
}

size_t pm_attrib_journeys_path_count(const pm_attrib_journeys_t *j) { return j->npaths; }
double pm_attrib_journeys_total_conversions(const pm_attrib_journeys_t *j) { return j->total_conv; }
double pm_attrib_journeys_total_value(const pm_attrib_journeys_t *j) { return j->total_value; }
double pm_attrib_journeys_total_nulls(const pm_attrib_journeys_t *j) { return j->total_nulls; }

/*
 * attrib.h: multi-touch attribution. Journeys (ordered channel sequences with
 * how many times each led to a conversion, the conversion value, and how many
 * times it ended without one) go into a pm_attrib_journeys_t; a model turns
 * them into attributed conversions and value per channel that add up to the
 * real totals. Rule-based models (first, last, last non-direct, linear, time
 * decay, position-based) and data-driven ones (Markov chains of any order with
 * the removal effect, solved exactly; Shapley values) share one entry point,
 * pm_attrib_run(). Definitions and their references: docs/attribution.md.
 *
 * The container is fed by the file readers (pm/attrib_io.h) today and by the
 * store later: anything that can name channels and list touch sequences can
 * call pm_attrib_channel_intern() and pm_attrib_journeys_add(). Identical
 * untimed sequences are aggregated on insertion, so a million raw journeys
 * cost what their distinct paths cost.
 *
 * Numbers are doubles: attribution shares are estimates, not ledger money.
 * Thread safety: a container is not safe to modify from two threads; once
 * filled it is only read, so models may run on it concurrently.
 */
#ifndef PM_ATTRIB_H
#define PM_ATTRIB_H

#include "pm/common.h"

typedef struct pm_attrib_journeys_s pm_attrib_journeys_t;

/* Caps on what input can make the container grow to (STYLE 11). Zero fields
 * take the defaults shown. */
typedef struct pm_attrib_limits_s {
    uint32_t max_channels;     /* distinct channels (default 65,536) */
    uint32_t max_path_len;     /* touches in one journey (default 10,000) */
    uint32_t max_name_len;     /* bytes in a channel name (default 256) */
    size_t max_paths;          /* distinct journeys kept (default 16,777,216) */
    size_t max_touches;        /* touches over all distinct journeys (default 268,435,456) */
} pm_attrib_limits_t;

/* A new empty container with `limits` (NULL: defaults). Caller owns it and
 * releases it with pm_attrib_journeys_destroy(). Can't fail (pm_malloc). */
pm_attrib_journeys_t *pm_attrib_journeys_create(const pm_attrib_limits_t *limits);
/* Release a container; NULL is fine. */
void pm_attrib_journeys_destroy(pm_attrib_journeys_t *j);

/*
 * The id of channel `name` (`len` bytes, copied), adding it to the
 * dictionary when new. Ids are dense, 0.. in order of first appearance.
 * Fails with PM_EINVAL for an empty name and PM_ETOOBIG past max_name_len or
 * max_channels (*id untouched). Names are compared byte for byte.
 */
int pm_attrib_channel_intern(pm_attrib_journeys_t *j, const char *name, size_t len, uint32_t *id) PM_MUST_CHECK;
/* The id of an existing channel, or PM_ENOTFOUND. */
int pm_attrib_channel_find(const pm_attrib_journeys_t *j, const char *name, size_t len, uint32_t *id) PM_MUST_CHECK;
/* Name of channel `id` (borrowed, NUL-terminated, valid while the container
 * lives); NULL for an unknown id. */
const char *pm_attrib_channel_name(const pm_attrib_journeys_t *j, uint32_t id);
uint32_t pm_attrib_channel_count(const pm_attrib_journeys_t *j);

/*
 * Add `conversions` converting journeys worth `value` in total and `nulls`
 * journeys that ended without a conversion, all with the touch sequence
 * `channels[0..n)` (ids from pm_attrib_channel_intern, copied). `ages_days`
 * is NULL, or per touch the time in days between that touch and the end of
 * the journey (its conversion), used by the time-decay model; untimed
 * journeys use the number of touches after the touch instead. Untimed
 * journeys with a sequence already present are summed into it.
 *
 * Fails, adding nothing, with PM_EINVAL when n is 0, an id is unknown, a
 * count or value is negative or not finite, an age is negative or not
 * finite, or value > 0 comes with no conversions; PM_ETOOBIG past
 * max_path_len, max_paths or max_touches.
 */
int pm_attrib_journeys_add(pm_attrib_journeys_t *j, const uint32_t *channels, size_t n, const double *ages_days,
                           double conversions, double value, double nulls) PM_MUST_CHECK;

/* Distinct journeys held (after aggregation), and the totals over all. */
size_t pm_attrib_journeys_path_count(const pm_attrib_journeys_t *j);
double pm_attrib_journeys_total_conversions(const pm_attrib_journeys_t *j);
double pm_attrib_journeys_total_value(const pm_attrib_journeys_t *j);
double pm_attrib_journeys_total_nulls(const pm_attrib_journeys_t *j);

typedef enum pm_attrib_model_e {
    PM_ATTRIB_FIRST,
    PM_ATTRIB_LAST,
    PM_ATTRIB_LAST_NON_DIRECT,
    PM_ATTRIB_LINEAR,
    PM_ATTRIB_TIME_DECAY,
    PM_ATTRIB_POSITION,
    PM_ATTRIB_MARKOV,
    PM_ATTRIB_SHAPLEY,
    PM_ATTRIB_MODEL_COUNT
} pm_attrib_model_t;

/* The model's CLI name ("first", "last", "last_non_direct", "linear",
 * "time_decay", "position", "markov", "shapley"); NULL when out of range. */
const char *pm_attrib_model_name(pm_attrib_model_t m);
/* The model named `name`, or PM_ENOTFOUND. */
int pm_attrib_model_parse(const char *name, pm_attrib_model_t *out) PM_MUST_CHECK;

typedef enum pm_attrib_shapley_method_e {
    PM_ATTRIB_SHAPLEY_AUTO,      /* enumerate up to max_exact_channels, else dividends */
    PM_ATTRIB_SHAPLEY_ENUMERATE, /* all 2^n coalitions (n <= 24) */
    PM_ATTRIB_SHAPLEY_DIVIDENDS, /* exact closed form through Harsanyi dividends */
    PM_ATTRIB_SHAPLEY_SAMPLE,    /* random permutations, with a Hoeffding bound */
} pm_attrib_shapley_method_t;

/* Model parameters. Start from pm_attrib_options_default(). */
typedef struct pm_attrib_options_s {
    const char *direct_channel; /* skipped by last_non_direct (ASCII case-insensitive); "direct" */
    double half_life_days;      /* time decay: weight halves every half-life (7) */
    double position_first, position_middle, position_last; /* shares in percent (40, 20, 40) */
    unsigned markov_order;      /* 1..PM_ATTRIB_MAX_ORDER (1) */
    uint32_t dense_max_states;  /* solve densely up to this many states, iteratively past it (200) */
    /* iterative solver: stop when no entry moves by more, relative to the
     * largest one-step conversion probability (or value) (1e-13) */
    double tolerance;
    unsigned max_iterations;    /* iterative solver: sweeps per system (100,000) */
    pm_attrib_shapley_method_t shapley_method;
    uint32_t max_exact_channels; /* AUTO enumerates up to this many channels (20, at most 24) */
    uint64_t shapley_samples;    /* permutations for SAMPLE (10,000) */
    uint64_t seed;               /* for SAMPLE (1) */
} pm_attrib_options_t;

#define PM_ATTRIB_MAX_ORDER 8

/* Fill `o` with the defaults above. Can't fail. */
void pm_attrib_options_default(pm_attrib_options_t *o);

/*
 * What a model attributed. Arrays are indexed by channel id and hold
 * `nchannels` entries; they belong to the result (pm_attrib_result_free).
 * `conversions` sums to total_conversions and `value` to total_value up to
 * rounding, except that a Markov run over journeys without one conversion
 * attributes nothing.
 */
typedef struct pm_attrib_result_s {
    pm_attrib_model_t model;
    uint32_t nchannels;
    double *conversions;
    double *value;
    double *removal_effect;       /* Markov only (else NULL): 1 - P(conv | c removed) / P(conv) */
    double *value_removal_effect; /* Markov only: the same for expected conversion value */
    double total_conversions;
    double total_value;
    /* How the numbers were obtained. */
    const char *method;            /* static text: "rule", "dense", "gauss-seidel", "enumerate", ... */
    double conversion_probability; /* Markov: P(conversion) from the start state */
    size_t states;                 /* Markov: transient states; Shapley: channels in play */
    uint64_t iterations;           /* Gauss-Seidel sweeps (all systems) or Shapley samples */
    double residual;               /* Gauss-Seidel: largest last change, relative as `tolerance` */
    bool converged;                /* false if an iterative solve hit max_iterations */
    double error_bound;            /* Shapley SAMPLE: 95% bound on |error| of any channel; else 0 */
} pm_attrib_result_t;

/*
 * Run `model` over `j` with options `o` (NULL: defaults), filling *out
 * (OUT:, released with pm_attrib_result_free even on failure). Fails with
 * PM_EINVAL for bad options (order out of range, half-life <= 0, position
 * shares negative or not summing to 100, ENUMERATE over more than 24
 * channels) and PM_ETOOBIG when a Markov state space would pass 2^31 states.
 * Reads `j` only. Thread-safe for distinct `out`.
 */
int pm_attrib_run(const pm_attrib_journeys_t *j, pm_attrib_model_t model, const pm_attrib_options_t *o,
                  pm_attrib_result_t *out) PM_MUST_CHECK;
/* Release what a result holds (it is zeroed); NULL is fine. */
void pm_attrib_result_free(pm_attrib_result_t *r);

#endif

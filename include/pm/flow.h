/*
 * flow.h: campaign flows, the decision engine of the click path. A flow is
 * an ordered list of rules (a condition and a path; the first match wins), a
 * default path for the rest, an optional bot path (visitors the detectors
 * marked with a bot reason), and an optional frequency cap with its fallback
 * path. A path is a weighted set of options (a lander, an offer, both: the
 * lander then the offer through /go, or a plain URL) rotated by fixed
 * weights, by Thompson sampling on the options' conversion rates ("auto"),
 * or by deterministic per-visitor assignment ("split", for experiments).
 *
 * Flows arrive as JSON through the admin API and are compiled here once:
 * conditions into a tree, regexes into PCRE2 JIT code, CIDRs parsed, time
 * zones loaded. A compiled pm_flow_t is immutable and lives in the
 * configuration snapshot (pm/config.h), so any number of event loops read it
 * at once without locks. pm_flow_route allocates nothing: it writes its
 * reason text into a caller-provided buffer. docs/flows.md gives the JSON.
 */
#ifndef PM_FLOW_H
#define PM_FLOW_H

#include "pm/audience.h"
#include "pm/event.h"
#include "pm/ip.h"
#include "pm/qs.h"

#include <jansson.h>

typedef struct pm_flow_s pm_flow_t;
typedef struct pm_bandit_s pm_bandit_t;

#define PM_FLOW_MAX_OPTIONS 16
#define PM_FLOW_MAX_RULES   100
#define PM_FLOW_FIELD_MAX   160

/* Why a definition was refused: the dotted path of the offending field
 * ("rules[2].when.any[0].country.in") and a message for humans. */
typedef struct pm_flow_error_s {
    char field[PM_FLOW_FIELD_MAX];
    char message[256];
} pm_flow_error_t;

typedef enum pm_flow_rotation_e {
    PM_FLOW_WEIGHTED, /* fixed weights */
    PM_FLOW_AUTO,     /* Thompson sampling on conversion rates */
    PM_FLOW_SPLIT,    /* deterministic by visitor: an experiment */
} pm_flow_rotation_t;

typedef struct pm_flow_option_s {
    int64_t offer_id, lander_id; /* 0 = none */
    char *url;                   /* NULL = none; a direct destination (safe pages) */
    uint32_t weight;
    uint64_t key; /* identity of (flow, path, option) for the bandit counters */
} pm_flow_option_t;

typedef struct pm_flow_path_s {
    char *name;
    pm_flow_rotation_t rotation;
    double min_share; /* auto: the share every option gets at least */
    char *seed;       /* split: the assignment's hash seed ("flow-<id>-<name>") */
    pm_flow_option_t options[PM_FLOW_MAX_OPTIONS];
    size_t noptions;
} pm_flow_path_t;

typedef enum pm_flow_per_e { PM_FLOW_PER_HOUR, PM_FLOW_PER_DAY, PM_FLOW_PER_LIFE } pm_flow_per_t;

typedef struct pm_flow_cap_s {
    uint32_t max; /* clicks (or impressions) per visitor per window; 0 = no cap */
    pm_flow_per_t per;
    bool impressions; /* count the visitor's impressions, not its clicks */
} pm_flow_cap_t;

/* Compile a definition {"rules":[...], "default_path":{...}, "fallback_path",
 * "bot_path", "frequency_cap"} of flow `id`. PM_OK with *out owned by the
 * caller (pm_flow_free); PM_EINVAL with *err filled. Strict: unknown keys,
 * wrong types and out-of-range values are refused. Thread-safe. */
int pm_flow_compile(int64_t id, json_t *def, pm_flow_t **out, pm_flow_error_t *err) PM_MUST_CHECK;
/* The same from JSON text (the fuzzer's entry). */
int pm_flow_compile_text(int64_t id, const char *text, size_t len, pm_flow_t **out, pm_flow_error_t *err) PM_MUST_CHECK;
void pm_flow_free(pm_flow_t *f); /* accepts NULL */

int64_t pm_flow_id(const pm_flow_t *f);
const pm_flow_cap_t *pm_flow_cap(const pm_flow_t *f); /* max 0 when none */
bool pm_flow_has_fallback(const pm_flow_t *f);
/* Parse a frequency cap {"max": N, "per": "hour|day|life", "count":
 * "clicks|impressions"} as a flow's (also a creative's); NULL or JSON null
 * is no cap (max 0). PM_EINVAL with *err filled (fields named
 * "frequency_cap.max"...). */
int pm_flow_cap_parse(json_t *v, pm_flow_cap_t *cap, pm_flow_error_t *err) PM_MUST_CHECK;
/* Every path of the flow (rules' first, then default, fallback, bot), for
 * reference checks and experiments. `i` from 0; NULL past the end. */
const pm_flow_path_t *pm_flow_path_at(const pm_flow_t *f, size_t i);
/* The path called `name`, or NULL. */
const pm_flow_path_t *pm_flow_path_by_name(const pm_flow_t *f, const char *name);

/* What a click brings to the decision. Borrowed for the call. */
typedef struct pm_flow_input_s {
    const pm_event_t *ev;                 /* country, device, os, browser, language, referrer, subs, bot reason */
    const pm_qs_t *qs;                    /* the click's query parameters (param conditions); may be NULL */
    const pm_ip_t *ip;                    /* the client address before truncation; may be NULL */
    bool returning;                       /* the visitor brought a perfmark cookie */
    bool over_cap;                        /* the frequency cap is reached: fallback path */
    int64_t now_us;                       /* UTC microseconds */
    uint64_t *rng;                        /* the caller's PRNG state (pm_flow_rng_seed) */
    void *match_data;                     /* a pcre2_match_data_8 from pm_flow_match_data_create */
    const pm_bandit_t *bandit;            /* conversion counters for auto rotation; NULL = priors only */
    const pm_audience_visitor_t *history; /* the visitor's earlier clicks and conversions; NULL = none known */
    /* Whether offer `offer_id` reached its conversion cap (docs/budgets.md):
     * such options are skipped. NULL = no offer is capped. Must be
     * thread-safe and not block (the click path). */
    bool (*offer_capped)(void *ctx, int64_t offer_id);
    void *capped_ctx;
} pm_flow_input_t;

typedef struct pm_flow_choice_s {
    const pm_flow_path_t *path;
    const pm_flow_option_t *option; /* NULL: every option's offer is capped, no fallback path left */
    int option_index;               /* -1 with option NULL */
    int rule;                       /* index of the matched rule, -1 for the other paths */
    const char *by;                 /* "rule" | "default" | "bot" | "cap" | "offer_cap" */
    bool offer_capped;              /* some option was skipped for its offer's cap */
} pm_flow_choice_t;

/* Decide where the click goes and write the reason (a small JSON object:
 * flow, by, rule, path, capped, option, rotation, weights or sampled
 * values, key) into reason[0..cap), NUL-terminated; *reason_len is its
 * length (0 when it did not fit). Options whose offer is capped
 * (in->offer_capped) are skipped; when every option of the chosen path is,
 * the fallback path is used (by "offer_cap"), and when that is capped too
 * or missing, out->option is NULL (the caller sends the visitor to the
 * campaign's fallback). Allocates nothing; thread-safe for distinct
 * rng/match_data. */
void pm_flow_route(const pm_flow_t *f, const pm_flow_input_t *in, pm_flow_choice_t *out, char *reason, size_t cap,
                   size_t *reason_len);

/* Per-thread helpers for pm_flow_input_t. */
void *pm_flow_match_data_create(void);
void pm_flow_match_data_free(void *md); /* accepts NULL */
void pm_flow_rng_seed(uint64_t *rng, uint64_t seed);
uint64_t pm_flow_rng_next(uint64_t *rng);
double pm_flow_rng_unit(uint64_t *rng); /* uniform in [0, 1) */
/* A Beta(a, b) draw (a, b >= 1), Marsaglia-Tsang gammas. */
double pm_flow_sample_beta(uint64_t *rng, double a, double b);

/* The option key recorded in a route reason ("k":"<16 hex>"), for the
 * bandit's feed. False when the text holds none. */
bool pm_flow_reason_key(const char *reason, size_t len, uint64_t *key);

#endif

/*
 * stats_json.h: experiment-statistics documents, the format of
 * `perfmark experiment analyze` (docs/statistics.md#the-analyze-format).
 *
 * A document is a JSON object with up to four sections, each a list of
 * cases: "frequentist", "sequential" and "bayesian" compare arm "b"
 * (treatment) with arm "a" (control) from sufficient statistics
 * ({"n", "conversions"} or {"n", "sum", "sum_squares"}), and "srm" checks an
 * observed split against its weights. Analysing a document fills in each
 * case's computed fields ("expected", "ci", "stddev", "p_value",
 * "chance_to_win", "risk"; "p_value", "mismatch" for SRM cases), replacing any
 * already there, and keeps everything else (inputs, "about", fields it does
 * not know) as it was, in order. It is the shape of GrowthBook's published
 * statistics vectors, so figures can be compared with any other engine.
 *
 * A figure that cannot be computed is null; one that does not apply to an
 * uninformative comparison (no units, zero variance, zero baseline: gbstats'
 * "default output") is left out, as in gbstats' reference vectors.
 */
#ifndef PM_STATS_JSON_H
#define PM_STATS_JSON_H

#include "pm/buf.h"
#include "pm/common.h"

#define PM_STATS_JSON_MAX_BYTES ((size_t)16 << 20) /* input cap */
#define PM_STATS_JSON_MAX_CASES 10000              /* cases per document */
#define PM_STATS_JSON_MAX_OUTPUT ((size_t)64 << 20)

typedef enum pm_stats_format_e {
    PM_STATS_FORMAT_TABLE = 0, /* aligned text for people */
    PM_STATS_FORMAT_JSON = 1,  /* the input document with the figures filled in */
} pm_stats_format_t;

/*
 * Parse (strict JSON: no duplicate keys, no trailing data, no NaN),
 * validate and analyse `text[0..len)`, writing the result in `format` to
 * `out` (caller-owned; reset first, and left empty on failure).
 *
 * Returns PM_OK; PM_EINVAL for malformed input, with `err` holding one line
 * that names the place ("line 3, column 7: ..." or
 * "bayesian[2].prior.variance: must be a number > 0"); PM_ETOOBIG past the
 * caps above or the capacity of `out`. `err` is always NUL-terminated when
 * err_len > 0. Thread-safe; nothing is kept between calls.
 */
int pm_stats_json_analyze(const char *text, size_t len, pm_stats_format_t format, pm_buf_t *out, char *err,
                          size_t err_len) PM_MUST_CHECK;

#endif

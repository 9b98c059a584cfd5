/*
 * attrib_io.h: reading journeys into a pm_attrib_journeys_t from the two
 * file formats attribution tools exchange, and writing synthetic ones.
 *
 * Paths CSV (the ChannelAttribution layout):
 *     path;total_conversions;total_conversion_value;total_null
 *     alpha > beta > alpha;2;31.5;7
 * One header line, then one line per path: channels joined by ">" (spaces
 * around names are trimmed), then three non-negative decimal numbers.
 * Parsing is strict: a line that does not fit is reported through the
 * callback with its line number and skipped; the rest still count.
 *
 * Journeys JSON (the layout of the public Shapley attribution samples): a list
 * of lists of channel ids, each list one converting journey worth one
 * conversion and a value of one: [[16, 4, 3], [2, 1]]. Ids may be integers
 * or strings; they become channel names as written.
 *
 * The input is borrowed; the readers are reentrant.
 */
#ifndef PM_ATTRIB_IO_H
#define PM_ATTRIB_IO_H

#include "pm/attrib.h"

#include <stdio.h>

/* Called once per rejected line (CSV: 1-based line number) or journey (JSON:
 * 1-based position in the list; 0 for the document as a whole). `why` is
 * borrowed for the call. */
typedef void (*pm_attrib_report_fn)(void *ctx, size_t where, const char *why);

typedef struct pm_attrib_read_stats_s {
    size_t accepted; /* lines or journeys added */
    size_t rejected; /* lines or journeys reported and skipped */
} pm_attrib_read_stats_t;

#define PM_ATTRIB_MAX_LINE_DEFAULT (1u << 20)

/*
 * Parse the paths CSV in `data[0..len)` into `j`. `max_line` caps a line's
 * length in bytes (0: PM_ATTRIB_MAX_LINE_DEFAULT): longer lines are reported
 * and skipped. Blank lines are ignored; CRLF endings and a UTF-8 byte order
 * mark are accepted. `report` may be NULL. OUT: *stats (may be NULL).
 *
 * Returns PM_OK when the header was right, whatever the lines held (look at
 * stats->accepted); PM_EINVAL when the header is missing or wrong (reported
 * as line 1, nothing added); PM_ETOOBIG when the container's caps on
 * channels, distinct paths or touches are reached (reported with the line;
 * what was added before stays).
 */
int pm_attrib_paths_parse(pm_attrib_journeys_t *j, const char *data, size_t len, size_t max_line,
                          pm_attrib_report_fn report, void *ctx, pm_attrib_read_stats_t *stats) PM_MUST_CHECK;

/*
 * Parse the journeys JSON in `data[0..len)` into `j` (jansson, strict).
 * Entries that are not a non-empty list of non-negative integers or
 * non-empty strings are reported with their position and skipped. Returns
 * PM_OK when the document is a JSON list; PM_EINVAL when it does not parse
 * or is not a list (reported as position 0 with jansson's line and column);
 * PM_ETOOBIG like pm_attrib_paths_parse.
 */
int pm_attrib_journeys_json_parse(pm_attrib_journeys_t *j, const char *data, size_t len, pm_attrib_report_fn report,
                                  void *ctx, pm_attrib_read_stats_t *stats) PM_MUST_CHECK;

/*
 * Write `n` synthetic journeys over `channels` channels (2..999; channel 0 is
 * "direct", the others "ch01", "ch02", ...) to `out` in the paths CSV
 * format, one line per journey, deterministic for a given `seed`. Channels
 * differ in reach and in conversion lift, so models have something to find.
 * Returns PM_OK, PM_EINVAL for bad arguments, or -errno when writing fails.
 */
int pm_attrib_generate(FILE *out, uint64_t n, unsigned channels, uint64_t seed) PM_MUST_CHECK;

#endif

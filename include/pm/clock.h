/*
 * clock.h: time as perfmark keeps it: int64 microseconds since the Unix
 * epoch, UTC. Formatting and parsing of RFC 3339 and YYYY-MM-DD dates.
 * All functions are thread-safe.
 */
#ifndef PM_CLOCK_H
#define PM_CLOCK_H

#include "pm/common.h"

typedef int64_t pm_time_t; /* microseconds since 1970-01-01T00:00:00Z */

#define PM_USEC_PER_SEC INT64_C(1000000)
#define PM_RFC3339_MAX 40

/* Wall clock, UTC microseconds. Can't fail. */
pm_time_t pm_now(void);
/* Monotonic clock in microseconds, for durations. Can't fail. */
int64_t pm_monotonic_us(void);

/* Write `t` as "2026-11-23T18:30:00.123456Z" into out (>= PM_RFC3339_MAX
 * bytes). Returns the length written. Can't fail for years 0..9999. */
size_t pm_time_format(pm_time_t t, char *out);

/* Parse an RFC 3339 timestamp ("2026-11-23T18:30:00Z", optional fraction of
 * up to 9 digits, "Z" or "+hh:mm"/"-hh:mm" offset; 't'/'z' accepted) into UTC
 * microseconds. PM_EINVAL on anything else (strict: no spaces, no missing
 * fields, calendar-checked day of month). */
int pm_time_parse_rfc3339(const char *s, size_t len, pm_time_t *out) PM_MUST_CHECK;

/* Parse "YYYY-MM-DD" into (y, m, d), calendar-checked. PM_EINVAL otherwise. */
int pm_date_parse(const char *s, size_t len, int *y, int *m, int *d) PM_MUST_CHECK;

/* Days since the epoch for a civil UTC date, and back (proleptic Gregorian).
 * Can't fail. */
int64_t pm_days_from_civil(int y, int m, int d);
void pm_civil_from_days(int64_t days, int *y, int *m, int *d);

#endif

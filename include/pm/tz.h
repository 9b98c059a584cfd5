/*
 * tz.h: IANA time zones read from the system tz database (Debian tzdata,
 * /usr/share/zoneinfo, or $TZDIR), for reports that group by local day,
 * hour, week or month.
 *
 * Why our own reader rather than setenv("TZ") + localtime_r: TZ is process
 * state, and changing it while other threads call getenv/localtime is a data
 * race; a loaded pm_tz_t is immutable, so any number of threads may query
 * one at once. A zone is the TZif file's transitions (64-bit section)
 * followed by its POSIX TZ footer rule ("CET-1CEST,M3.5.0,M10.5.0/3"),
 * expanded into explicit transitions up to the year 2200 at load time, so a
 * lookup is one binary search.
 */
#ifndef PM_TZ_H
#define PM_TZ_H

#include "pm/common.h"

typedef struct pm_tz_s pm_tz_t;

/* Load zone `name` ("Europe/Berlin", "UTC"). "UTC" works without a tz
 * database. PM_EINVAL for a name that cannot be a zone (empty, absolute,
 * "..", characters outside [A-Za-z0-9_+-/], longer than 64), PM_ENOTFOUND
 * when no such file exists, PM_ECORRUPT when the file is not TZif. *out is
 * owned by the caller (pm_tz_free). Thread-safe. */
int pm_tz_load(const char *name, pm_tz_t **out) PM_MUST_CHECK;

/* Parse a zone from TZif bytes (for tests and for pm_tz_load). Same
 * results. The bytes are not kept. */
int pm_tz_parse(const void *data, size_t len, pm_tz_t **out) PM_MUST_CHECK;

void pm_tz_free(pm_tz_t *tz); /* accepts NULL */

/* The zone's name as loaded ("" for parsed bytes). Borrowed. */
const char *pm_tz_name(const pm_tz_t *tz);

/* UTC offset in seconds (east positive) in force at `utc` (seconds since
 * the epoch). Can't fail. Thread-safe. */
int32_t pm_tz_offset(const pm_tz_t *tz, int64_t utc);

/* The first instant > `utc` at which the offset changes, or INT64_MAX when
 * it never does again. Can't fail. */
int64_t pm_tz_next_change(const pm_tz_t *tz, int64_t utc);

/* The earliest instant whose local time is >= `local` (seconds since the
 * epoch of a local wall-clock time): the wall time itself when it exists,
 * the end of the gap when clocks jump over it (spring forward), the first of
 * the two instants when it happens twice (fall back). Can't fail. */
int64_t pm_tz_local_to_utc(const pm_tz_t *tz, int64_t local);

#endif

/*
 * fuzz_time.c: the RFC 3339 and YYYY-MM-DD parsers. A parsed timestamp must
 * format and parse back to the same microsecond; a parsed date must survive
 * the trip through days since the epoch.
 */
#include "pm/clock.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    pm_time_t t, back;
    if (pm_time_parse_rfc3339(s, size, &t) == PM_OK) {
        char out[PM_RFC3339_MAX];
        size_t n = pm_time_format(t, out);
        if (n >= PM_RFC3339_MAX || strlen(out) != n) abort();
        if (pm_time_parse_rfc3339(out, n, &back) != PM_OK || back != t) abort();
    }
    int y, m, d, y2, m2, d2;
    if (pm_date_parse(s, size, &y, &m, &d) == PM_OK) {
        pm_civil_from_days(pm_days_from_civil(y, m, d), &y2, &m2, &d2);
        if (y != y2 || m != m2 || d != d2) abort();
    }
    return 0;
}

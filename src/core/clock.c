/*
 * clock.c: perfmark's one notion of time, int64 UTC microseconds since the
 * epoch, and its two text forms: RFC 3339 timestamps (what the API accepts and
 * every log line and export writes) and YYYY-MM-DD dates (report ranges).
 *
 * Calendar arithmetic is Howard Hinnant's days_from_civil / civil_from_days:
 * exact for the proleptic Gregorian calendar, no tables, no libc time zone
 * state (gmtime/timegm touch TZ and are slower on the click path).
 *
 * Parsing is strict because timestamps arrive from postbacks and API callers:
 * every field has a fixed width, the day of month is checked against the
 * month and leap year, and a result outside years 0000..9999 UTC is refused,
 * so that anything parsed can be formatted and parsed back to the same value.
 */
#include "pm/clock.h"

#include <stdio.h>
#include <time.h>

/* The range pm_time_format writes with a 4-digit year, and thus the range a
 * parse may return: 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z. */
#define MIN_DAYS INT64_C(-719528) /* days_from_civil(0, 1, 1) */
#define MAX_DAYS INT64_C(2932896) /* days_from_civil(9999, 12, 31) */
#define USEC_PER_DAY (INT64_C(86400) * PM_USEC_PER_SEC)

static int64_t timespec_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * PM_USEC_PER_SEC + ts.tv_nsec / 1000;
}

pm_time_t pm_now(void) { return timespec_us(CLOCK_REALTIME); }

int64_t pm_monotonic_us(void) { return timespec_us(CLOCK_MONOTONIC); }

/* Floor division: time before the epoch must land on the previous day. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

int64_t pm_days_from_civil(int y, int m, int d)
{
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = floor_div(yy, 400);
    int64_t yoe = yy - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

void pm_civil_from_days(int64_t days, int *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m)
{
    static const uint8_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Write `v` as exactly `width` decimal digits (v < 10^width). */
static char *put_digits(char *p, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* Years outside 0..9999 only arise from hand-made values; snprintf keeps
 * them readable without burdening the fast path. */
static char *put_year(char *p, int y)
{
    if (y >= 0 && y <= 9999) return put_digits(p, y, 4);
    return p + snprintf(p, 12, "%05d", y);
}

size_t pm_time_format(pm_time_t t, char *out)
{
    int64_t days = floor_div(t, USEC_PER_DAY);
    int64_t us = t % USEC_PER_DAY; /* not t - days * USEC_PER_DAY: that overflows near INT64_MIN */
    if (us < 0) us += USEC_PER_DAY;
    int y, m, d;
    pm_civil_from_days(days, &y, &m, &d);
    char *p = put_year(out, y);
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p++ = 'T';
    p = put_digits(p, us / (3600 * PM_USEC_PER_SEC), 2);
    *p++ = ':';
    p = put_digits(p, us / (60 * PM_USEC_PER_SEC) % 60, 2);
    *p++ = ':';
    p = put_digits(p, us / PM_USEC_PER_SEC % 60, 2);
    *p++ = '.';
    p = put_digits(p, us % PM_USEC_PER_SEC, 6);
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - out);
}

/* Read exactly `width` ASCII digits at s; -1 if any is not a digit. */
static int read_digits(const char *s, int width)
{
    int v = 0;
    for (int i = 0; i < width; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int pm_date_parse(const char *s, size_t len, int *y, int *m, int *d)
{
    if (len != 10 || s[4] != '-' || s[7] != '-') return PM_EINVAL;
    int yy = read_digits(s, 4), mm = read_digits(s + 5, 2), dd = read_digits(s + 8, 2);
    if (yy < 0 || mm < 1 || mm > 12 || dd < 1 || dd > days_in_month(yy, mm)) return PM_EINVAL;
    *y = yy;
    *m = mm;
    *d = dd;
    return PM_OK;
}

/* "hh:mm:ss" at s (8 chars, caller checked the length): seconds of the day.
 * Second 60 is refused: Unix time has no leap seconds to put it in. */
static int64_t parse_clock(const char *s)
{
    if (s[2] != ':' || s[5] != ':') return -1;
    int hh = read_digits(s, 2), mi = read_digits(s + 3, 2), ss = read_digits(s + 6, 2);
    if (hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 59) return -1;
    return (int64_t)hh * 3600 + mi * 60 + ss;
}

/* Optional ".digits" at *pos: up to 9 digits, kept to microseconds
 * (truncated, which is floor for the non-negative fraction). -1 if bad. */
static int64_t parse_fraction(const char *s, size_t len, size_t *pos)
{
    size_t i = *pos;
    if (i >= len || s[i] != '.') return 0;
    int64_t us = 0;
    int n = 0;
    for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
        if (n == 9) return -1;
        if (n < 6) us = us * 10 + (s[i] - '0');
    }
    if (n == 0) return -1;
    for (int k = n; k < 6; k++)
        us *= 10;
    *pos = i;
    return us;
}

/* "Z"/"z" or "+hh:mm"/"-hh:mm" making up the rest of the text: the offset
 * east of UTC in seconds, through *offset. */
static int parse_offset(const char *s, size_t rest, int64_t *offset)
{
    if (rest == 1 && (s[0] == 'Z' || s[0] == 'z')) {
        *offset = 0;
        return PM_OK;
    }
    if (rest != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':') return PM_EINVAL;
    int hh = read_digits(s + 1, 2), mm = read_digits(s + 4, 2);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59) return PM_EINVAL;
    *offset = (s[0] == '-' ? -1 : 1) * ((int64_t)hh * 3600 + mm * 60);
    return PM_OK;
}

int pm_time_parse_rfc3339(const char *s, size_t len, pm_time_t *out)
{
    int y, m, d;
    int64_t offset;
    if (len < 20 || (s[10] != 'T' && s[10] != 't')) return PM_EINVAL;
    if (pm_date_parse(s, 10, &y, &m, &d) != PM_OK) return PM_EINVAL;
    int64_t secs = parse_clock(s + 11);
    size_t pos = 19;
    int64_t frac = parse_fraction(s, len, &pos);
    if (secs < 0 || frac < 0) return PM_EINVAL;
    if (parse_offset(s + pos, len - pos, &offset) != PM_OK) return PM_EINVAL;
    int64_t days = pm_days_from_civil(y, m, d);
    pm_time_t t = (days * 86400 + secs - offset) * PM_USEC_PER_SEC + frac;
    if (t < MIN_DAYS * USEC_PER_DAY || t >= (MAX_DAYS + 1) * USEC_PER_DAY) return PM_EINVAL;
    *out = t;
    return PM_OK;
}

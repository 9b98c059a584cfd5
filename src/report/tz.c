/*
 * tz.c: IANA time zones from TZif files (RFC 8536), see pm/tz.h.
 *
 * A zone becomes one sorted array of (instant, offset) changes: the file's
 * explicit transitions (only those that change the UTC offset; a change of
 * abbreviation or of the isdst flag alone does not matter to reports),
 * then the POSIX TZ footer rule expanded year by year up to 2200. Leap
 * second records ("right/" zones) are ignored: perfmark time is POSIX time.
 */
#include "pm/tz.h"
#include "pm/clock.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_NAME_MAX    64
#define TZ_FILE_MAX    (1u << 20) /* real zones are < 4 KiB */
#define TZ_LAST_YEAR   2200
#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"

struct pm_tz_s {
    char name[TZ_NAME_MAX + 1];
    int32_t before; /* offset before the first change */
    size_t n, cap;
    int64_t *at;  /* instants of the changes, increasing */
    int32_t *off; /* offset from at[i] on */
};

/* --- building ------------------------------------------------------------ */

static void push_change(pm_tz_t *tz, int64_t at, int32_t off)
{
    int32_t cur = tz->n ? tz->off[tz->n - 1] : tz->before;
    if (off == cur) return;
    if (tz->n && at <= tz->at[tz->n - 1]) {
        /* Out of order (a rule change inside the explicit range): the later
         * statement wins for instants after it. */
        while (tz->n && at <= tz->at[tz->n - 1])
            tz->n--;
        cur = tz->n ? tz->off[tz->n - 1] : tz->before;
        if (off == cur) return;
    }
    if (tz->n == tz->cap) {
        tz->cap = tz->cap ? tz->cap * 2 : 64;
        tz->at = pm_realloc(tz->at, tz->cap * sizeof(*tz->at));
        tz->off = pm_realloc(tz->off, tz->cap * sizeof(*tz->off));
    }
    tz->at[tz->n] = at;
    tz->off[tz->n] = off;
    tz->n++;
}

/* --- POSIX TZ footer ----------------------------------------------------- */

typedef struct rule_s {
    char kind; /* 'M', 'J' (1..365, no Feb 29) or 'D' (0..365) */
    int month, week, wday, day;
    int32_t time; /* seconds after local midnight; may be < 0 or > 24h */
} rule_t;

typedef struct posix_s {
    int32_t std, dst; /* offsets east of UTC */
    bool has_dst;
    rule_t start, end;
} posix_t;

static const char *parse_name(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q && q - p >= 4 ? q + 1 : NULL;
    }
    const char *q = p;
    while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z'))
        q++;
    return q - p >= 3 ? q : NULL;
}

static int parse_num(const char **pp, int max)
{
    const char *p = *pp;
    int v = 0;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > max) return -1;
    }
    *pp = p;
    return v;
}

/* [+-]hh[:mm[:ss]] -> seconds; `hours_max` 24 for offsets, 167 for rule times. */
static const char *parse_hms(const char *p, int hours_max, int32_t *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    int h = parse_num(&p, hours_max), m = 0, s = 0;
    if (h < 0) return NULL;
    if (*p == ':') {
        p++;
        if ((m = parse_num(&p, 59)) < 0) return NULL;
        if (*p == ':') {
            p++;
            if ((s = parse_num(&p, 59)) < 0) return NULL;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *parse_rule(const char *p, rule_t *r)
{
    r->time = 7200;
    if (*p == 'M') {
        p++;
        r->kind = 'M';
        if ((r->month = parse_num(&p, 12)) < 1 || *p++ != '.') return NULL;
        if ((r->week = parse_num(&p, 5)) < 1 || *p++ != '.') return NULL;
        if ((r->wday = parse_num(&p, 6)) < 0) return NULL;
    } else if (*p == 'J') {
        p++;
        r->kind = 'J';
        if ((r->day = parse_num(&p, 365)) < 1) return NULL;
    } else {
        r->kind = 'D';
        if ((r->day = parse_num(&p, 365)) < 0) return NULL;
    }
    if (*p == '/') p = parse_hms(p + 1, 167, &r->time);
    return p;
}

static bool parse_posix(const char *s, posix_t *out)
{
    int32_t v;
    const char *p = parse_name(s);
    if (p == NULL || (p = parse_hms(p, 24, &v)) == NULL) return false;
    out->std = -v; /* POSIX offsets count west of UTC */
    out->has_dst = false;
    if (*p == '\0') return true;
    if ((p = parse_name(p)) == NULL) return false;
    out->has_dst = true;
    out->dst = out->std + 3600;
    if (*p && *p != ',') {
        if ((p = parse_hms(p, 24, &v)) == NULL) return false;
        out->dst = -v;
    }
    if (*p == '\0') { /* no rule: the US rules, as glibc assumes */
        out->start = (rule_t){'M', 3, 2, 0, 0, 7200};
        out->end = (rule_t){'M', 11, 1, 0, 0, 7200};
        return true;
    }
    if (*p++ != ',' || (p = parse_rule(p, &out->start)) == NULL || *p++ != ',' ||
        (p = parse_rule(p, &out->end)) == NULL)
        return false;
    return *p == '\0';
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Local midnight (seconds since the epoch, as if UTC) of the rule's day in year y. */
static int64_t rule_day(int y, const rule_t *r)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t jan1 = pm_days_from_civil(y, 1, 1), day;
    if (r->kind == 'J') {
        day = jan1 + r->day - 1 + (is_leap(y) && r->day >= 60 ? 1 : 0);
    } else if (r->kind == 'D') {
        day = jan1 + r->day;
    } else {
        int64_t first = pm_days_from_civil(y, r->month, 1);
        int wday_first = (int)(((first % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
        int d = 1 + (r->wday - wday_first + 7) % 7 + 7 * (r->week - 1);
        int len = mdays[r->month - 1] + (r->month == 2 && is_leap(y) ? 1 : 0);
        while (d > len)
            d -= 7;
        day = first + d - 1;
    }
    return day * 86400;
}

static void expand_posix(pm_tz_t *tz, const posix_t *px)
{
    int64_t last = tz->n ? tz->at[tz->n - 1] : INT64_MIN;
    if (!px->has_dst) {
        push_change(tz, last == INT64_MIN ? INT64_MIN + 1 : last + 1, px->std);
        return;
    }
    int y0 = 1970;
    if (last != INT64_MIN) {
        int m, d;
        int64_t days = last / 86400 - (last % 86400 < 0);
        pm_civil_from_days(days, &y0, &m, &d);
    }
    for (int y = y0; y <= TZ_LAST_YEAR; y++) {
        int64_t start = rule_day(y, &px->start) + px->start.time - px->std;
        int64_t end = rule_day(y, &px->end) + px->end.time - px->dst;
        int64_t first = start < end ? start : end, second = start < end ? end : start;
        int32_t off_first = start < end ? px->dst : px->std, off_second = start < end ? px->std : px->dst;
        if (first > last) push_change(tz, first, off_first);
        if (second > last) push_change(tz, second, off_second);
    }
}

/* --- TZif ---------------------------------------------------------------- */

typedef struct reader_s {
    const uint8_t *p, *end;
} reader_t;

static bool need(const reader_t *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct header_s {
    char version;
    uint32_t isut, isstd, leap, time, type, chars;
} header_t;

static bool read_header(reader_t *r, header_t *h)
{
    if (!need(r, 44) || memcmp(r->p, "TZif", 4) != 0) return false;
    h->version = (char)r->p[4];
    h->isut = be32(r->p + 20);
    h->isstd = be32(r->p + 24);
    h->leap = be32(r->p + 28);
    h->time = be32(r->p + 32);
    h->type = be32(r->p + 36);
    h->chars = be32(r->p + 40);
    r->p += 44;
    return h->type >= 1 && h->type <= 256 && h->time <= 100000 && h->leap <= 10000 && h->chars <= 100000 &&
           (h->isut == 0 || h->isut == h->type) && (h->isstd == 0 || h->isstd == h->type);
}

static size_t block_size(const header_t *h, size_t tsize)
{
    return h->time * tsize + h->time + h->type * 6 + h->chars + h->leap * (tsize + 4) + h->isstd + h->isut;
}

/* Read the data block that follows header h (times of `tsize` bytes). */
static bool read_block(reader_t *r, const header_t *h, size_t tsize, pm_tz_t *tz)
{
    if (!need(r, block_size(h, tsize))) return false;
    const uint8_t *times = r->p, *idx = times + h->time * tsize, *types = idx + h->time;
    for (uint32_t i = 0; i < h->time; i++)
        if (idx[i] >= h->type) return false;
    tz->before = (int32_t)be32(types);
    tz->n = 0;
    for (uint32_t i = 0; i < h->time; i++) {
        int64_t at = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        int32_t off = (int32_t)be32(types + 6 * idx[i]);
        if (off < -26 * 3600 || off > 26 * 3600) return false;
        push_change(tz, at, off);
    }
    r->p += block_size(h, tsize);
    return true;
}

int pm_tz_parse(const void *data, size_t len, pm_tz_t **out)
{
    reader_t r = {data, (const uint8_t *)data + len};
    header_t h;
    pm_tz_t *tz = pm_calloc(1, sizeof(*tz));
    int rc = PM_ECORRUPT;
    *out = NULL;
    if (!read_header(&r, &h)) goto out;
    if (h.version >= '2') {
        r.p += block_size(&h, 4); /* skip the 32-bit data */
        if (!need(&r, 0) || !read_header(&r, &h) || !read_block(&r, &h, 8, tz)) goto out;
        /* Footer: "\n<POSIX TZ>\n"; empty means "no rule". */
        if (need(&r, 2) && *r.p == '\n') {
            const uint8_t *nl = memchr(r.p + 1, '\n', (size_t)(r.end - r.p - 1));
            char footer[128];
            size_t flen = nl ? (size_t)(nl - r.p - 1) : 0;
            posix_t px;
            if (nl && flen > 0 && flen < sizeof(footer)) {
                memcpy(footer, r.p + 1, flen);
                footer[flen] = '\0';
                if (!parse_posix(footer, &px)) goto out;
                expand_posix(tz, &px);
            }
        }
    } else if (!read_block(&r, &h, 4, tz)) {
        goto out;
    }
    rc = PM_OK;
out:
    if (rc != PM_OK)
        pm_tz_free(tz);
    else
        *out = tz;
    return rc;
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || strstr(name, "..")) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
              c == '-' || c == '/'))
            return false;
    }
    return true;
}

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? PM_ENOTFOUND : -errno;
    struct stat st;
    int rc = PM_OK;
    if (fstat(fd, &st) != 0)
        rc = -errno;
    else if (!S_ISREG(st.st_mode))
        rc = PM_ENOTFOUND;
    else if (st.st_size > (off_t)TZ_FILE_MAX)
        rc = PM_ECORRUPT;
    if (rc == PM_OK) {
        *data = pm_malloc((size_t)st.st_size + 1);
        ssize_t got = read(fd, *data, (size_t)st.st_size);
        if (got != (ssize_t)st.st_size) {
            rc = got < 0 ? -errno : PM_ECORRUPT;
            pm_free(*data);
            *data = NULL;
        }
        *len = (size_t)st.st_size;
    }
    close(fd);
    return rc;
}

int pm_tz_load(const char *name, pm_tz_t **out)
{
    *out = NULL;
    if (!valid_name(name)) return PM_EINVAL;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : TZ_DEFAULT_DIR, name);
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = read_file(path, &data, &len);
    if (rc == PM_ENOTFOUND && (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)) {
        *out = pm_calloc(1, sizeof(pm_tz_t)); /* no changes, offset 0 */
        rc = PM_OK;
    } else if (rc == PM_OK) {
        rc = pm_tz_parse(data, len, out);
    }
    pm_free(data);
    if (rc == PM_OK) snprintf((*out)->name, sizeof((*out)->name), "%s", name);
    return rc;
}

void pm_tz_free(pm_tz_t *tz)
{
    if (tz == NULL) return;
    pm_free(tz->at);
    pm_free(tz->off);
    pm_free(tz);
}

const char *pm_tz_name(const pm_tz_t *tz)
{
    return tz->name;
}

/* --- queries ------------------------------------------------------------- */

/* Index of the last change at or before `utc`, or -1. */
static ptrdiff_t find(const pm_tz_t *tz, int64_t utc)
{
    size_t lo = 0, hi = tz->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= utc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

int32_t pm_tz_offset(const pm_tz_t *tz, int64_t utc)
{
    ptrdiff_t i = find(tz, utc);
    return i < 0 ? tz->before : tz->off[i];
}

int64_t pm_tz_next_change(const pm_tz_t *tz, int64_t utc)
{
    ptrdiff_t i = find(tz, utc);
    return (size_t)(i + 1) < tz->n ? tz->at[i + 1] : INT64_MAX;
}

int64_t pm_tz_local_to_utc(const pm_tz_t *tz, int64_t local)
{
    /* Offsets stay within +-26 h, so every instant that can show wall time
     * `local` lies within 26 h of it, and so does every change that matters. */
    const int64_t w = 26 * 3600;
    int64_t best = INT64_MAX;
    int32_t cands[3] = {pm_tz_offset(tz, local - w), pm_tz_offset(tz, local), pm_tz_offset(tz, local + w)};
    for (int i = 0; i < 3; i++) {
        int64_t t = local - cands[i];
        if (pm_tz_offset(tz, t) == cands[i] && t < best) best = t;
    }
    for (int64_t t = local - w; best == INT64_MAX && t < local + w;) {
        /* In a gap: the first change after which the wall time has passed. */
        int64_t next = pm_tz_next_change(tz, t);
        if (next == INT64_MAX) break;
        if (next + pm_tz_offset(tz, next) >= local) best = next;
        t = next;
    }
    return best == INT64_MAX ? local : best;
}

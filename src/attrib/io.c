/*
 * io.c: the journey readers of pm/attrib_io.h: the paths CSV
 * (path;total_conversions;total_conversion_value;total_null) with strict,
 * line-numbered rejection of what does not fit, and the JSON list of
 * converting journeys (jansson). Input is hostile: every line is checked in
 * full before anything of it enters the container, so a rejected line
 * leaves no channel behind.
 */
#include "pm/attrib_io.h"
#include "pm/text.h"

#include "attrib_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char header_fields[4][24] = {"path", "total_conversions", "total_conversion_value", "total_null"};

typedef struct span_s {
    const char *p;
    size_t n;
} span_t;

static span_t trim(const char *p, size_t n)
{
    while (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return (span_t){p, n};
}

/* Split `line` on `sep` into at most `max` trimmed fields; returns how many
 * fields there are (possibly more than max, which are not stored). */
static size_t split(const char *line, size_t n, char sep, span_t *out, size_t max)
{
    size_t count = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && line[i] != sep) continue;
        if (count < max) out[count] = trim(line + start, i - start);
        count++;
        start = i + 1;
    }
    return count;
}

/* --- numbers --------------------------------------------------------------- */

static bool digits(const char *s, size_t n, size_t *i)
{
    size_t start = *i;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9')
        ++*i;
    return *i > start;
}

/* A non-negative decimal: digits [. digits] [e [+-] digits]. */
static const char *parse_count(span_t f, double *out)
{
    char tmp[64];
    size_t i = 0;
    if (f.n == 0) return "is empty";
    if (f.p[0] == '-') return "is negative";
    if (f.n >= sizeof(tmp)) return "is too long for a number";
    if (!digits(f.p, f.n, &i)) return "is not a number";
    if (i < f.n && f.p[i] == '.') {
        i++;
        if (!digits(f.p, f.n, &i)) return "is not a number";
    }
    if (i < f.n && (f.p[i] == 'e' || f.p[i] == 'E')) {
        i++;
        if (i < f.n && (f.p[i] == '+' || f.p[i] == '-')) i++;
        if (!digits(f.p, f.n, &i)) return "is not a number";
    }
    if (i != f.n) return "is not a number";
    memcpy(tmp, f.p, f.n);
    tmp[f.n] = '\0';
    *out = strtod(tmp, NULL);
    return isfinite(*out) ? NULL : "is out of range";
}

/* --- CSV ------------------------------------------------------------------- */

typedef struct csv_s {
    pm_attrib_journeys_t *j;
    pm_attrib_report_fn report;
    void *ctx;
    span_t *names; /* max_path_len + 1 */
    uint32_t *ids;
    char why[160];
} csv_t;

static bool header_ok(const char *line, size_t n)
{
    span_t f[4];
    if (split(line, n, ';', f, 4) != 4) return false;
    for (size_t i = 0; i < 4; i++)
        if (f[i].n != strlen(header_fields[i]) || memcmp(f[i].p, header_fields[i], f[i].n) != 0) return false;
    return true;
}

/* Split and check the path; OUT: *count names in x->names. */
static const char *check_path(csv_t *x, span_t path, size_t *count)
{
    const pm_attrib_limits_t *lim = &x->j->limits;
    if (path.n == 0) return "empty path";
    size_t n = split(path.p, path.n, '>', x->names, lim->max_path_len);
    if (n > lim->max_path_len) return "path has more touches than the limit";
    for (size_t i = 0; i < n; i++) {
        if (x->names[i].n == 0) return "empty channel name in path";
        if (x->names[i].n > lim->max_name_len) return "channel name longer than the limit";
        if (!pm_text_is_clean(x->names[i].p, x->names[i].n)) return "channel name is not clean UTF-8 text";
    }
    *count = n;
    return NULL;
}

/* One data line. Returns PM_OK (added), PM_EINVAL (x->why says why) or
 * PM_ETOOBIG (a container cap: the caller stops). */
static int csv_line(csv_t *x, const char *line, size_t len)
{
    span_t f[4];
    double num[3];
    size_t nf = split(line, len, ';', f, 4), count = 0;
    const char *why = NULL;
    if (nf != 4) {
        snprintf(x->why, sizeof(x->why), "expected 4 fields separated by ';', found %zu", nf);
        return PM_EINVAL;
    }
    for (int i = 0; i < 3; i++) {
        why = parse_count(f[i + 1], &num[i]);
        if (why) {
            snprintf(x->why, sizeof(x->why), "%s %s", header_fields[i + 1], why);
            return PM_EINVAL;
        }
    }
    if (num[1] > 0 && num[0] == 0) why = "total_conversion_value without total_conversions";
    if (why == NULL) why = check_path(x, f[0], &count);
    if (why) {
        snprintf(x->why, sizeof(x->why), "%s", why);
        return PM_EINVAL;
    }
    for (size_t i = 0; i < count; i++) {
        int rc = pm_attrib_channel_intern(x->j, x->names[i].p, x->names[i].n, &x->ids[i]);
        if (rc != PM_OK) {
            snprintf(x->why, sizeof(x->why), "more channels than the limit (%u)", x->j->limits.max_channels);
            return PM_ETOOBIG;
        }
    }
    int rc = pm_attrib_journeys_add(x->j, x->ids, count, NULL, num[0], num[1], num[2]);
    if (rc == PM_ETOOBIG) snprintf(x->why, sizeof(x->why), "more distinct paths or touches than the limit");
    else if (rc != PM_OK) snprintf(x->why, sizeof(x->why), "rejected (%s)", pm_strerror(rc));
    return rc;
}

static void report(csv_t *x, size_t line, const char *why)
{
    if (x->report) x->report(x->ctx, line, why);
}

static bool blank(const char *p, size_t n) { return trim(p, n).n == 0; }

int pm_attrib_paths_parse(pm_attrib_journeys_t *j, const char *data, size_t len, size_t max_line,
                          pm_attrib_report_fn report_fn, void *ctx, pm_attrib_read_stats_t *stats)
{
    csv_t x = {.j = j, .report = report_fn, .ctx = ctx};
    pm_attrib_read_stats_t st = {0};
    size_t pos = 0, lineno = 0;
    int rc = PM_OK;
    if (max_line == 0) max_line = PM_ATTRIB_MAX_LINE_DEFAULT;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) pos = 3;
    x.names = pm_malloc(((size_t)j->limits.max_path_len + 1) * sizeof(*x.names));
    x.ids = pm_malloc(((size_t)j->limits.max_path_len + 1) * sizeof(*x.ids));
    while (pos < len) {
        const char *line = data + pos, *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl != NULL);
        if (n > 0 && line[n - 1] == '\r') n--;
        lineno++;
        if (lineno == 1) {
            if (n > max_line || !header_ok(line, n)) {
                report(&x, 1, "expected the header path;total_conversions;total_conversion_value;total_null");
                rc = PM_EINVAL;
                goto out;
            }
            continue;
        }
        if (n <= max_line && blank(line, n)) continue;
        rc = n > max_line ? PM_EINVAL : csv_line(&x, line, n);
        if (n > max_line) snprintf(x.why, sizeof(x.why), "line longer than %zu bytes", max_line);
        if (rc == PM_OK) {
            st.accepted++;
            continue;
        }
        report(&x, lineno, x.why);
        st.rejected++;
        if (rc == PM_ETOOBIG) goto out;
        rc = PM_OK;
    }
    if (lineno == 0) {
        report(&x, 1, "empty input: expected the header path;total_conversions;total_conversion_value;total_null");
        rc = PM_EINVAL;
    }
out:
    pm_free(x.names);
    pm_free(x.ids);
    if (stats) *stats = st;
    return rc;
}

/* --- JSON ------------------------------------------------------------------ */

/* Check one journey and intern its channels; ids[] gets them. Returns
 * PM_OK, PM_EINVAL (why set) or PM_ETOOBIG. */
static int json_journey(pm_attrib_journeys_t *j, json_t *touches, uint32_t *ids, char *why, size_t why_len)
{
    size_t n = json_is_array(touches) ? json_array_size(touches) : 0;
    char name[32];
    if (n == 0) {
        snprintf(why, why_len, "not a non-empty list of channel ids");
        return PM_EINVAL;
    }
    if (n > j->limits.max_path_len) {
        snprintf(why, why_len, "more touches than the limit (%u)", j->limits.max_path_len);
        return PM_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(touches, i);
        const char *s = json_string_value(t);
        bool ok = json_is_integer(t) ? json_integer_value(t) >= 0
                                     : s && json_string_length(t) > 0 && json_string_length(t) <= j->limits.max_name_len &&
                                           pm_text_is_clean(s, json_string_length(t));
        if (!ok) {
            snprintf(why, why_len, "touch %zu is not a channel id (a non-negative integer or a clean string)", i + 1);
            return PM_EINVAL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(touches, i);
        const char *s = json_string_value(t);
        size_t len = s ? json_string_length(t) : (size_t)snprintf(name, sizeof(name), "%lld", (long long)json_integer_value(t));
        if (pm_attrib_channel_intern(j, s ? s : name, len, &ids[i]) != PM_OK) {
            snprintf(why, why_len, "more channels than the limit (%u)", j->limits.max_channels);
            return PM_ETOOBIG;
        }
    }
    int rc = pm_attrib_journeys_add(j, ids, n, NULL, 1, 1, 0);
    if (rc != PM_OK) snprintf(why, why_len, "more distinct journeys or touches than the limit");
    return rc;
}

int pm_attrib_journeys_json_parse(pm_attrib_journeys_t *j, const char *data, size_t len, pm_attrib_report_fn report_fn,
                                  void *ctx, pm_attrib_read_stats_t *stats)
{
    pm_attrib_read_stats_t st = {0};
    json_error_t err;
    char why[200];
    uint32_t *ids = NULL;
    int rc = PM_OK;
    json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL || !json_is_array(doc)) {
        if (doc == NULL) snprintf(why, sizeof(why), "line %d column %d: %s", err.line, err.column, err.text);
        else snprintf(why, sizeof(why), "expected a JSON list of journeys");
        if (report_fn) report_fn(ctx, 0, why);
        rc = PM_EINVAL;
        goto out;
    }
    ids = pm_malloc(((size_t)j->limits.max_path_len + 1) * sizeof(*ids));
    for (size_t i = 0; i < json_array_size(doc); i++) {
        rc = json_journey(j, json_array_get(doc, i), ids, why, sizeof(why));
        if (rc == PM_OK) {
            st.accepted++;
            continue;
        }
        st.rejected++;
        if (report_fn) report_fn(ctx, i + 1, why);
        if (rc == PM_ETOOBIG) goto out;
        rc = PM_OK;
    }
out:
    pm_free(ids);
    json_decref(doc);
    if (stats) *stats = st;
    return rc;
}

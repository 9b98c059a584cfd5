/*
 * report.c: the report query engine (see pm/report.h, docs/reports.md).
 *
 * A run answers one period (and the previous one for compare=previous):
 *
 * 1. Time labels. Walking the period in 15-minute steps gives the local
 *    labels (hour, day, week, month in the report's time zone) in order.
 * 2. Plan. The smallest cube that holds every dimension of group_by and
 *    filter; the per-dimension cube when one high-cardinality dimension is
 *    asked for. Rollups answer only when the range edges and the zone's
 *    offsets fall on 15-minute boundaries (true of every zone in use today)
 *    and the store's rollups are current; otherwise the raw event tables
 *    are scanned (source "raw"), with the same event -> cells code.
 * 3. Day tier. A UTC day whose 96 quarter hours mostly share one label is
 *    read as one day row (added to that label) and corrected with the
 *    quarter hours that belong elsewhere (added to theirs, subtracted from
 *    the day's); counters are additive, so the result is exact. A 30-day
 *    report by day in Europe/Berlin reads 30 day rows and 30 x 2 hours of
 *    quarter hours per key instead of 30 x 96 quarter hours.
 * 4. Empty values. The per-dimension cube does not store events whose value
 *    is empty (most of sub6..sub10 are); the "" row is the campaign cube
 *    minus the per-dimension rows, again exact by additivity.
 * 5. Aggregation into a hash table keyed by (label, group values), then
 *    rows whose counts are all zero are dropped, totals summed, names
 *    attached, rows sorted.
 */
#include "report_query.h"

#include "pm/clock.h"
#include "pm/money.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LIST_MAX 64 /* entries in a comma-separated parameter */

/* --- errors ------------------------------------------------------------------- */

static int fail(pm_report_error_t *err, int status, const char *code, const char *field, const char *fmt, ...)
    PM_PRINTF(5, 6);
static int fail(pm_report_error_t *err, int status, const char *code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    err->status = status;
    err->code = code;
    err->field = field;
    return status == 422 ? PM_EINVAL : PM_ESTORE;
}

#define invalid(err, field, ...) fail(err, 422, "invalid", field, __VA_ARGS__)

static int store_failed(pm_report_error_t *err, sqlite3 *db, const char *what)
{
    pm_error("report: %s: %s", what, sqlite3_errmsg(db));
    return fail(err, 500, "internal", NULL, "the store failed; see the server log");
}

/* --- lifecycle ------------------------------------------------------------------ */

pm_report_t *pm_report_create(void)
{
    pm_report_t *r = pm_calloc(1, sizeof(*r));
    r->limit = PM__RQ_LIMIT_DEFAULT;
    pm_buf_init(&r->warnings, 1u << 16);
    pm_buf_init(&r->cur.keys, (size_t)1 << 31);
    pm_buf_init(&r->prev.keys, (size_t)1 << 31);
    snprintf(r->source, sizeof(r->source), "none");
    return r;
}

static void agg_free(pm__rq_agg_t *a)
{
    pm_free(a->g);
    pm_buf_free(&a->keys);
    pm_free(a->slots);
    pm_free(a->labels.v);
    pm_free(a->labels.slots);
}

void pm_report_destroy(pm_report_t *r)
{
    if (r == NULL) return;
    for (int i = 0; i < r->nfilters; i++)
        pm_free(r->filters[i].text);
    pm_free(r->from_text);
    pm_free(r->to_text);
    pm_free(r->tz_text);
    pm_free(r->sort_text);
    pm_tz_free(r->tz);
    pm_buf_free(&r->warnings);
    agg_free(&r->cur);
    agg_free(&r->prev);
    pm_free(r->order);
    for (int p = 0; p < PM__RQ_MAX_GROUP; p++) {
        for (size_t i = 0; i < r->names[p].n; i++)
            pm_free(r->names[p].names[i]);
        pm_free(r->names[p].ids);
        pm_free(r->names[p].names);
    }
    pm_free(r);
}

pm_report_format_t pm_report_format(const pm_report_t *r)
{
    return r->format;
}
const char *pm_report_source(const pm_report_t *r)
{
    return r->source;
}

/* --- parameters ----------------------------------------------------------------- */

typedef struct slice_s {
    const char *p;
    size_t len;
} slice_t;

/* Split on `sep`; false on an empty item or more than `max` items. */
static bool split(const char *s, size_t len, char sep, slice_t *out, int max, int *n)
{
    *n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != sep) continue;
        if (i == start || *n == max) return false;
        out[(*n)++] = (slice_t){s + start, i - start};
        start = i + 1;
    }
    return true;
}

static bool valid_type(const char *s, size_t len)
{
    if (len == 0 || len > 32) return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-')) return false;
    return true;
}

/* Resolve a metric name (a known metric or conversions_<type>) into *m. */
static int metric_ref(pm_report_t *r, const char *s, size_t len, pm__rq_metric_t *m, const char *field,
                      pm_report_error_t *err)
{
    static const char per_type[] = "conversions_";
    size_t plen = sizeof(per_type) - 1;
    memset(m, 0, sizeof(*m));
    if (len >= sizeof(m->name)) return invalid(err, field, "unknown metric \"%.*s\"", (int)(len > 60 ? 60 : len), s);
    memcpy(m->name, s, len);
    m->name[len] = '\0';
    if ((m->m = pm_report_metric_find(s, len)) != NULL) return PM_OK;
    if (len <= plen || memcmp(s, per_type, plen) != 0 || !valid_type(s + plen, len - plen))
        return invalid(err, field, "unknown metric \"%s\"", m->name);
    const char *type = s + plen;
    size_t tlen = len - plen;
    for (m->type = 0; m->type < r->ntypes; m->type++)
        if (strlen(r->types[m->type]) == tlen && memcmp(r->types[m->type], type, tlen) == 0) return PM_OK;
    if (r->ntypes == PM__RQ_MAX_TYPES)
        return invalid(err, field, "at most %d conversions_<type> metrics", PM__RQ_MAX_TYPES);
    memcpy(r->types[r->ntypes], type, tlen);
    r->types[r->ntypes][tlen] = '\0';
    m->type = r->ntypes++;
    return PM_OK;
}

static int dim_ref(const char *s, size_t len, const char *field, bool allow_time, pm_report_error_t *err, int *out)
{
    int d = pm__rp_dim_find(s, len);
    if (d < 0) return invalid(err, field, "unknown dimension \"%.*s\"", (int)(len > 60 ? 60 : len), s);
    if (!allow_time && pm__rp_dims[d].kind == PM__DK_TIME)
        return invalid(err, field, "%s cannot be a filter: use from and to", pm__rp_dims[d].name);
    *out = d;
    return PM_OK;
}

static int param_group_by(pm_report_t *r, const char *v, size_t len, pm_report_error_t *err)
{
    slice_t items[LIST_MAX];
    int n;
    if (!split(v, len, ',', items, LIST_MAX, &n) || n > PM__RQ_MAX_GROUP)
        return invalid(err, "group_by", "group_by takes 1 to %d comma-separated dimensions", PM__RQ_MAX_GROUP);
    r->ngroup = r->ntime = 0;
    for (int i = 0; i < n; i++) {
        int d = -1;
        if (dim_ref(items[i].p, items[i].len, "group_by", true, err, &d) != PM_OK) return PM_EINVAL;
        for (int j = 0; j < r->ngroup; j++)
            if (r->group[j] == d) return invalid(err, "group_by", "%s is given twice", pm__rp_dims[d].name);
        r->time_pos[r->ngroup] = pm__rp_dims[d].kind == PM__DK_TIME ? r->ntime++ : -1;
        r->group[r->ngroup++] = d;
    }
    r->have_group = true;
    return PM_OK;
}

static int param_metrics(pm_report_t *r, const char *v, size_t len, pm_report_error_t *err)
{
    slice_t items[PM__RQ_MAX_METRICS + 1];
    int n;
    if (!split(v, len, ',', items, PM__RQ_MAX_METRICS, &n))
        return invalid(err, "metrics", "metrics takes 1 to %d comma-separated metric names", PM__RQ_MAX_METRICS);
    r->nmetrics = 0;
    for (int i = 0; i < n; i++) {
        pm__rq_metric_t *m = &r->metrics[r->nmetrics];
        if (metric_ref(r, items[i].p, items[i].len, m, "metrics", err) != PM_OK) return PM_EINVAL;
        for (int j = 0; j < r->nmetrics; j++)
            if (strcmp(r->metrics[j].name, m->name) == 0) return invalid(err, "metrics", "%s is given twice", m->name);
        r->nmetrics++;
    }
    r->have_metrics = true;
    return PM_OK;
}

static int filter_values(pm__rq_filter_t *f, pm_report_error_t *err)
{
    slice_t items[PM__RQ_MAX_VALUES + 1];
    size_t len = strlen(f->text);
    bool entity = pm__rp_dims[f->dim].kind == PM__DK_ENTITY;
    if (f->op == PM__OP_EQ) {
        items[0] = (slice_t){f->text, len};
        f->n = 1;
    } else {
        /* "a|b|c"; an empty list means the one empty value ("not set"). */
        int n = 0;
        size_t start = 0;
        for (size_t i = 0; i <= len; i++) {
            if (i < len && f->text[i] != '|') continue;
            if (n == PM__RQ_MAX_VALUES)
                return invalid(err, "filter", "a filter takes at most %d values", PM__RQ_MAX_VALUES);
            items[n++] = (slice_t){f->text + start, i - start};
            start = i + 1;
        }
        f->n = n;
    }
    for (int i = 0; i < f->n; i++) {
        f->v[i] = (pm__rp_val_t){0, items[i].p, (uint32_t)items[i].len};
        if (!entity || items[i].len == 0) continue; /* "" = none (id 0) */
        int64_t id = 0;
        for (size_t k = 0; k < items[i].len; k++) {
            char c = items[i].p[k];
            if (c < '0' || c > '9' || id > (INT64_MAX - 9) / 10)
                return invalid(err, "filter", "%s filter values are ids (integers)", pm__rp_dims[f->dim].name);
            id = id * 10 + (c - '0');
        }
        f->v[i].i = id;
    }
    return PM_OK;
}

/* filter=dim:op:values with op eq, in, not_in. */
static int param_filter(pm_report_t *r, const char *v, size_t len, pm_report_error_t *err)
{
    if (r->nfilters == PM__RQ_MAX_FILTERS) return invalid(err, "filter", "at most %d filters", PM__RQ_MAX_FILTERS);
    const char *c1 = memchr(v, ':', len);
    const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - v)) : NULL;
    if (c2 == NULL) return invalid(err, "filter", "filter must be dimension:op:value with op eq, in or not_in");
    pm__rq_filter_t *f = &r->filters[r->nfilters];
    memset(f, 0, sizeof(*f));
    if (dim_ref(v, (size_t)(c1 - v), "filter", false, err, &f->dim) != PM_OK) return PM_EINVAL;
    slice_t op = {c1 + 1, (size_t)(c2 - c1 - 1)};
    if (op.len == 2 && memcmp(op.p, "eq", 2) == 0)
        f->op = PM__OP_EQ;
    else if (op.len == 2 && memcmp(op.p, "in", 2) == 0)
        f->op = PM__OP_IN;
    else if (op.len == 6 && memcmp(op.p, "not_in", 6) == 0)
        f->op = PM__OP_NOT_IN;
    else
        return invalid(err, "filter", "unknown filter operator \"%.*s\": use eq, in or not_in",
                       (int)(op.len > 20 ? 20 : op.len), op.p);
    f->text = pm_strndup(c2 + 1, len - (size_t)(c2 + 1 - v));
    if (filter_values(f, err) != PM_OK) {
        pm_free(f->text);
        f->text = NULL;
        return PM_EINVAL;
    }
    r->nfilters++;
    return PM_OK;
}

/* Sort keys are resolved at run time, when group_by is known whatever the
 * order of the parameters. */
static int resolve_sort(pm_report_t *r, pm_report_error_t *err)
{
    const char *v = r->sort_text;
    size_t len = strlen(v);
    slice_t items[LIST_MAX];
    int n;
    if (!split(v, len, ',', items, LIST_MAX, &n) || n > PM__RQ_MAX_SORT)
        return invalid(err, "sort", "sort takes 1 to %d comma-separated keys, each [-]metric or [-]dimension",
                       PM__RQ_MAX_SORT);
    r->nsort = 0;
    for (int i = 0; i < n; i++) {
        pm__rq_sort_t *s = &r->sort[r->nsort++];
        slice_t key = items[i];
        s->desc = key.p[0] == '-';
        if (key.p[0] == '-' || key.p[0] == '+') key.p++, key.len--;
        s->group = -1;
        int d = pm__rp_dim_find(key.p, key.len);
        if (d >= 0) {
            for (int j = 0; j < PM__RQ_MAX_GROUP && s->group < 0; j++)
                if (j < r->ngroup && r->group[j] == d) s->group = j;
            if (s->group < 0)
                return invalid(err, "sort", "sort by %s needs %s in group_by", pm__rp_dims[d].name,
                               pm__rp_dims[d].name);
            continue;
        }
        if (metric_ref(r, key.p, key.len, &s->metric, "sort", err) != PM_OK) return PM_EINVAL;
    }
    return PM_OK;
}

static int param_int(const char *v, size_t len, int64_t min, int64_t max, int64_t *out)
{
    int64_t x = 0;
    if (len == 0 || len > 12) return PM_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return PM_EINVAL;
        x = x * 10 + (v[i] - '0');
    }
    if (x < min || x > max) return PM_EINVAL;
    *out = x;
    return PM_OK;
}

static bool is_date(const char *v, size_t len)
{
    int y, m, d;
    return len == 10 && pm_date_parse(v, len, &y, &m, &d) == PM_OK;
}

static int param_time(char **dst, const char *field, const char *v, size_t len, pm_report_error_t *err)
{
    pm_time_t t;
    if (!is_date(v, len) && pm_time_parse_rfc3339(v, len, &t) != PM_OK)
        return invalid(err, field, "%s must be a date (YYYY-MM-DD) or an RFC 3339 timestamp", field);
    pm_free(*dst);
    *dst = pm_strndup(v, len);
    return PM_OK;
}

static const struct {
    const char *name;
    bool repeatable;
} param_names[] = {
    {"group_by", false}, {"metrics", false}, {"from", false},   {"to", false},
    {"tz", false},       {"filter", true},   {"sort", false},   {"limit", false},
    {"offset", false},   {"compare", false}, {"format", false}, {"source", false},
};

bool pm_report_param_known(const char *name, bool *repeatable)
{
    for (size_t i = 0; i < PM_ARRAY_LEN(param_names); i++) {
        if (strcmp(name, param_names[i].name) != 0) continue;
        if (repeatable) *repeatable = param_names[i].repeatable;
        return true;
    }
    return false;
}

static bool eq(const char *v, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(v, lit, len) == 0;
}

int pm_report_param(pm_report_t *r, const char *name, const char *v, size_t len, pm_report_error_t *err)
{
    memset(err, 0, sizeof(*err));
    if (strcmp(name, "group_by") == 0) return param_group_by(r, v, len, err);
    if (strcmp(name, "metrics") == 0) return param_metrics(r, v, len, err);
    if (strcmp(name, "filter") == 0) return param_filter(r, v, len, err);
    if (strcmp(name, "sort") == 0) {
        pm_free(r->sort_text);
        r->sort_text = pm_strndup(v, len);
        r->have_sort = true;
        return PM_OK;
    }
    if (strcmp(name, "from") == 0) return param_time(&r->from_text, "from", v, len, err);
    if (strcmp(name, "to") == 0) return param_time(&r->to_text, "to", v, len, err);
    if (strcmp(name, "tz") == 0) {
        if (len == 0 || len > 64) return invalid(err, "tz", "tz must be an IANA time zone name such as Europe/Berlin");
        pm_free(r->tz_text);
        r->tz_text = pm_strndup(v, len);
        return PM_OK;
    }
    if (strcmp(name, "limit") == 0) {
        r->have_limit = true;
        if (param_int(v, len, 1, PM__RQ_LIMIT_MAX, &r->limit) == PM_OK) return PM_OK;
        return invalid(err, "limit", "limit must be an integer from 1 to %d", PM__RQ_LIMIT_MAX);
    }
    if (strcmp(name, "offset") == 0) {
        r->have_offset = true;
        if (param_int(v, len, 0, 1000000000, &r->offset) == PM_OK) return PM_OK;
        return invalid(err, "offset", "offset must be an integer from 0 to 1000000000");
    }
    if (strcmp(name, "compare") == 0) {
        if (eq(v, len, "previous") || eq(v, len, "none")) {
            r->compare = eq(v, len, "previous");
            return PM_OK;
        }
        return invalid(err, "compare", "compare must be previous or none");
    }
    if (strcmp(name, "format") == 0) {
        if (eq(v, len, "json"))
            r->format = PM_REPORT_JSON;
        else if (eq(v, len, "csv"))
            r->format = PM_REPORT_CSV;
        else
            return invalid(err, "format", "format must be json or csv");
        return PM_OK;
    }
    if (strcmp(name, "source") == 0) {
        if (eq(v, len, "auto"))
            r->want = PM__SRC_AUTO;
        else if (eq(v, len, "rollup"))
            r->want = PM__SRC_ROLLUP;
        else if (eq(v, len, "raw"))
            r->want = PM__SRC_RAW;
        else
            return invalid(err, "source", "source must be auto, rollup or raw");
        return PM_OK;
    }
    return fail(err, 422, "unknown_field", NULL, "unknown report parameter \"%s\"", name);
}

/* --- warnings ------------------------------------------------------------------- */

static void warn(pm_report_t *r, const char *code, const char *fmt, ...) PM_PRINTF(3, 4);
static void warn(pm_report_t *r, const char *code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Messages are ours (names of dimensions, currencies, numbers): no quoting needed beyond '"'. */
    for (char *p = msg; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '\'';
    pm_ignore_rc(
        pm_buf_printf(&r->warnings, "%s{\"code\":\"%s\",\"message\":\"%s\"}", r->nwarnings ? "," : "", code, msg));
    r->nwarnings++;
}

/* --- time ------------------------------------------------------------------------- */

static int64_t floormod(int64_t a, int64_t b)
{
    return a - pm__rp_floordiv(a, b) * b;
}

/* The label tuple of instant `t` (seconds). */
static void label_at(const pm_report_t *r, int64_t t, int64_t out[PM__RQ_MAX_GROUP])
{
    int64_t local = t + pm_tz_offset(r->tz, t);
    int64_t day = pm__rp_floordiv(local, 86400);
    memset(out, 0, sizeof(int64_t) * PM__RQ_MAX_GROUP);
    for (int p = 0; p < r->ngroup; p++) {
        int k = r->time_pos[p];
        if (k < 0) continue;
        switch (pm__rp_dims[r->group[p]].unit) {
        case PM__TU_HOUR: out[k] = t - floormod(local, 3600); break;
        case PM__TU_DAY: out[k] = day; break;
        case PM__TU_WEEK: out[k] = day - floormod(day + 3, 7); break; /* Monday; day 0 was a Thursday */
        case PM__TU_MONTH: {
            int y, m, d;
            pm_civil_from_days(day, &y, &m, &d);
            out[k] = (int64_t)y * 12 + m - 1;
            break;
        }
        }
    }
}

/* A fast non-cryptographic hash (8 bytes at a time, then a final mix);
 * keys come from our own rows, so no flooding concern beyond the row cap. */
static uint32_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *b = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ seed ^ n, w;
    for (; n >= 8; n -= 8, b += 8) {
        memcpy(&w, b, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, b, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

static int32_t labels_find(pm__rq_labels_t *l, const int64_t v[PM__RQ_MAX_GROUP], bool add)
{
    if (l->nslots == 0 || (add && l->n * 2 >= l->nslots)) {
        int ns = l->nslots ? l->nslots * 2 : 256;
        pm_free(l->slots);
        l->slots = pm_calloc((size_t)ns, sizeof(int32_t));
        l->nslots = ns;
        for (int i = 0; i < l->n; i++) {
            uint32_t h = hash_bytes(l->v[i], sizeof(l->v[i]), 0) & (uint32_t)(ns - 1);
            while (l->slots[h])
                h = (h + 1) & (uint32_t)(ns - 1);
            l->slots[h] = i + 1;
        }
    }
    uint32_t h = hash_bytes(v, sizeof(int64_t) * PM__RQ_MAX_GROUP, 0) & (uint32_t)(l->nslots - 1);
    for (; l->slots[h]; h = (h + 1) & (uint32_t)(l->nslots - 1))
        if (memcmp(l->v[l->slots[h] - 1], v, sizeof(int64_t) * PM__RQ_MAX_GROUP) == 0) return l->slots[h] - 1;
    if (!add) return -1;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = pm_realloc(l->v, (size_t)l->cap * sizeof(*l->v));
    }
    memcpy(l->v[l->n], v, sizeof(l->v[0]));
    l->slots[h] = l->n + 1;
    return l->n++;
}

static int32_t label_of(const pm_report_t *r, pm__rq_agg_t *a, int64_t t_sec)
{
    int64_t v[PM__RQ_MAX_GROUP];
    label_at(r, t_sec, v);
    return labels_find(&a->labels, v, true);
}

/* Labels of [from, to) in order: every 15 minutes from `from`, and the last instant. */
static void labels_build(const pm_report_t *r, pm__rq_agg_t *a, int64_t from, int64_t to)
{
    int64_t f = pm__rp_floordiv(from, PM_USEC_PER_SEC), t = pm__rp_floordiv(to - 1, PM_USEC_PER_SEC);
    for (int64_t s = f; s <= t; s += PM__RP_FINE_SEC)
        label_of(r, a, s);
    label_of(r, a, t);
}

/* Midnight of local date (y, m, d) + `add_days`, as UTC microseconds. */
static int64_t local_midnight(const pm_tz_t *tz, int y, int m, int d, int add_days)
{
    int64_t local = (pm_days_from_civil(y, m, d) + add_days) * 86400;
    return pm_tz_local_to_utc(tz, local) * PM_USEC_PER_SEC;
}

static int resolve_range(pm_report_t *r, pm_report_error_t *err)
{
    int fy, fm, fd, ty, tm, td;
    bool from_date = r->from_text && is_date(r->from_text, strlen(r->from_text));
    bool to_date = r->to_text && is_date(r->to_text, strlen(r->to_text));
    int64_t now = pm_now() / PM_USEC_PER_SEC, today = pm__rp_floordiv(now + pm_tz_offset(r->tz, now), 86400);
    /* Defaults: the last 7 days, today included. */
    if (r->to_text == NULL)
        to_date = true, pm_civil_from_days(today, &ty, &tm, &td);
    else if (to_date)
        pm_ignore_rc(pm_date_parse(r->to_text, 10, &ty, &tm, &td));
    if (r->from_text == NULL) {
        from_date = true;
        int64_t base = to_date ? pm_days_from_civil(ty, tm, td) : today;
        pm_civil_from_days(base - 6, &fy, &fm, &fd);
    } else if (from_date) {
        pm_ignore_rc(pm_date_parse(r->from_text, 10, &fy, &fm, &fd));
    }
    if (from_date)
        r->from = local_midnight(r->tz, fy, fm, fd, 0);
    else
        pm_ignore_rc(pm_time_parse_rfc3339(r->from_text, strlen(r->from_text), &r->from));
    if (to_date)
        r->to = local_midnight(r->tz, ty, tm, td, 1); /* `to` is inclusive for dates */
    else
        pm_ignore_rc(pm_time_parse_rfc3339(r->to_text, strlen(r->to_text), &r->to));
    if (r->to <= r->from) return invalid(err, "to", "to must be after from");
    if (r->to - r->from > (int64_t)PM__RQ_MAX_DAYS * PM__RP_DAY_US)
        return invalid(err, "to", "the range is longer than %d days", PM__RQ_MAX_DAYS);
    if (from_date && to_date) {
        /* The previous period: as many whole local days, just before. */
        int64_t days = pm_days_from_civil(ty, tm, td) - pm_days_from_civil(fy, fm, fd) + 1;
        r->prev_from = local_midnight(r->tz, fy, fm, fd, (int)-days);
    } else {
        r->prev_from = r->from - (r->to - r->from);
    }
    r->prev_to = r->from;
    return PM_OK;
}

/* --- aggregation ------------------------------------------------------------------ */

static bool val_eq(const pm__rp_dim_t *d, const pm__rp_val_t *a, const pm__rp_val_t *b)
{
    if (d->kind == PM__DK_ENTITY) return a->i == b->i;
    return a->len == b->len && (a->len == 0 || memcmp(a->s, b->s, a->len) == 0);
}

static bool filter_pass(const pm__rq_filter_t *f, const pm__rp_val_t *v)
{
    bool hit = false;
    for (int i = 0; i < f->n && !hit; i++)
        hit = val_eq(&pm__rp_dims[f->dim], &f->v[i], v);
    return f->op == PM__OP_NOT_IN ? !hit : hit;
}

static bool filters_pass(const pm_report_t *r, const pm__rp_vals_t *v)
{
    for (int i = 0; i < r->nfilters; i++)
        if (!filter_pass(&r->filters[i], &v->v[r->filters[i].dim])) return false;
    return true;
}

static void agg_rehash(pm__rq_agg_t *a, size_t nslots)
{
    pm_free(a->slots);
    a->slots = pm_calloc(nslots, sizeof(uint32_t));
    a->nslots = nslots;
    for (size_t i = 0; i < a->n; i++) {
        size_t h = a->g[i].hash & (nslots - 1);
        while (a->slots[h])
            h = (h + 1) & (nslots - 1);
        a->slots[h] = (uint32_t)i + 1;
    }
}

static pm__rq_group_t *agg_find(const pm__rq_agg_t *a, const void *key, size_t len, uint32_t hash)
{
    if (a->nslots == 0) return NULL;
    for (size_t h = hash & (a->nslots - 1); a->slots[h]; h = (h + 1) & (a->nslots - 1)) {
        pm__rq_group_t *g = &a->g[a->slots[h] - 1];
        if (g->hash == hash && g->key_len == len && memcmp(a->keys.data + g->key_off, key, len) == 0) return g;
    }
    return NULL;
}

static pm__rq_group_t *agg_group(pm__rq_agg_t *a, const void *key, size_t len, int32_t label)
{
    uint32_t hash = hash_bytes(key, len, 0);
    pm__rq_group_t *g = agg_find(a, key, len, hash);
    if (g) return g;
    if (a->n >= PM__RQ_MAX_GROUPS) {
        a->toobig = true;
        return NULL;
    }
    if ((a->n + 1) * 2 > a->nslots) agg_rehash(a, a->nslots ? a->nslots * 2 : 1024);
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->g = pm_realloc(a->g, a->cap * sizeof(*a->g));
    }
    g = &a->g[a->n];
    memset(g, 0, sizeof(*g));
    g->key_off = (uint32_t)a->keys.len;
    g->key_len = (uint32_t)len;
    g->hash = hash;
    g->label = label;
    if (pm_buf_append(&a->keys, key, len) != PM_OK) {
        a->toobig = true;
        return NULL;
    }
    size_t h = hash & (a->nslots - 1);
    while (a->slots[h])
        h = (h + 1) & (a->nslots - 1);
    a->slots[h] = (uint32_t)++a->n;
    return g;
}

/* The key of a group: label, then each non-time group value. */
static size_t build_key(const pm_report_t *r, const pm__rp_vals_t *v, int32_t label, uint8_t *key, size_t cap)
{
    size_t n = 0;
    memcpy(key, &label, sizeof(label));
    n += sizeof(label);
    for (int p = 0; p < r->ngroup; p++) {
        const pm__rp_dim_t *d = &pm__rp_dims[r->group[p]];
        const pm__rp_val_t *x = &v->v[r->group[p]];
        if (d->kind == PM__DK_TIME) continue;
        if (d->kind == PM__DK_ENTITY) {
            memcpy(key + n, &x->i, sizeof(x->i));
            n += sizeof(x->i);
            continue;
        }
        uint32_t len = x->len > 1024 ? 1024 : x->len;
        if (n + 4 + len > cap) break;
        memcpy(key + n, &len, 4);
        memcpy(key + n + 4, x->s, len);
        n += 4 + len;
    }
    return n;
}

static void add(pm__rq_agg_t *a, int64_t *dst, int64_t v)
{
    if (__builtin_add_overflow(*dst, v, dst)) a->overflow = true;
}

static void count_foreign(pm__rq_agg_t *a, const char *currency, int64_t events)
{
    for (int i = 0; i < a->nforeign; i++) {
        if (strcmp(a->foreign[i].code, currency) != 0) continue;
        a->foreign[i].events += events;
        return;
    }
    if (a->nforeign == PM__RQ_MAX_FOREIGN) {
        a->foreign_other += events;
        return;
    }
    snprintf(a->foreign[a->nforeign].code, 4, "%s", currency);
    a->foreign[a->nforeign++].events = events;
}

/* One contribution: `sign` x counters `c` (of currency `currency`) to the
 * group of values `v` at time label `label`, if the filters pass. */
static void contribute(const pm_report_t *r, pm__rq_agg_t *a, const pm__rp_vals_t *v, int32_t label,
                       const char *currency, const int64_t *c, int sign)
{
    if (!filters_pass(r, v)) return;
    uint8_t key[4 + PM__RQ_MAX_GROUP * (4 + 1024)];
    size_t n = build_key(r, v, label, key, sizeof(key));
    pm__rq_group_t *g = agg_group(a, key, n, label);
    if (g == NULL) return;
    pm_report_counts_t *k = &g->c;
    add(a, &k->impressions, sign * c[PM__RC_IMPRESSIONS]);
    add(a, &k->clicks, sign * c[PM__RC_CLICKS]);
    add(a, &k->unique_clicks, sign * c[PM__RC_UNIQUE_CLICKS]);
    add(a, &k->conversions, sign * c[PM__RC_CONVERSIONS]);
    add(a, &k->pending_conversions, sign * c[PM__RC_PENDING]);
    add(a, &k->rejected_conversions, sign * c[PM__RC_REJECTED]);
    add(a, &k->bot_clicks, sign * c[PM__RC_BOT_CLICKS]);
    add(a, &k->lander_visits, sign * c[PM__RC_LANDER_VISITS]);
    add(a, &k->lander_clicks, sign * c[PM__RC_LANDER_CLICKS]);
    add(a, &k->bot_impressions, sign * c[PM__RC_BOT_IMPRESSIONS]);
    add(a, &k->chargebacks, sign * c[PM__RC_CHARGEBACKS]);
    if (strcmp(currency, r->currency) == 0) {
        add(a, &k->cost, sign * c[PM__RC_COST]);
        add(a, &k->revenue, sign * c[PM__RC_REVENUE]);
        add(a, &k->pending_revenue, sign * c[PM__RC_PENDING_REVENUE]);
        add(a, &k->payout, sign * c[PM__RC_PAYOUT]);
    } else if (currency[0] && c[PM__RC_MONEY_EVENTS]) {
        add(a, &k->excluded_events, sign * c[PM__RC_MONEY_EVENTS]);
        count_foreign(a, currency, sign * c[PM__RC_MONEY_EVENTS]);
    }
    const pm__rp_val_t *type = &v->v[r->conv_dim];
    if (c[PM__RC_CONVERSIONS] == 0 || type->len == 0) return;
    if (type->len == 4 && memcmp(type->s, "lead", 4) == 0) add(a, &k->leads, sign * c[PM__RC_CONVERSIONS]);
    for (int i = 0; i < r->ntypes; i++)
        if (strlen(r->types[i]) == type->len && memcmp(r->types[i], type->s, type->len) == 0)
            add(a, &g->types[i], sign * c[PM__RC_CONVERSIONS]);
}

/* --- the plan ---------------------------------------------------------------------- */

typedef struct plan_s {
    const pm__rp_cube_t *cube;
    int cube_index;
    int coded;          /* per-dimension cube: the dimension */
    bool derive_empty;  /* per-dimension cube: the "" value comes from the campaign cube */
    bool all_campaigns; /* per-dimension cube: its rows summed over campaigns (campaign_id -1) answer */
} plan_t;

static bool needed(const pm_report_t *r, int d)
{
    for (int p = 0; p < r->ngroup; p++)
        if (r->group[p] == d) return true;
    for (int i = 0; i < r->nfilters; i++)
        if (r->filters[i].dim == d) return true;
    return false;
}

/* The smallest cube that covers every needed dimension; false (with the
 * uncovered dimensions in `why`) when none does. */
static bool choose_cube(const pm_report_t *r, plan_t *plan, char *why, size_t cap)
{
    memset(plan, 0, sizeof(*plan));
    for (int c = 0; c < PM__CUBE__COUNT; c++) {
        const pm__rp_cube_t *cube = &pm__rp_cubes[c];
        int coded = -1;
        bool ok = true;
        for (int d = 0; ok && d < pm__rp_ndims; d++) {
            if (pm__rp_dims[d].kind == PM__DK_TIME || !needed(r, d) || pm__rp_cube_has(cube, -1, d)) continue;
            if (cube->per_dim && coded < 0 && pm__rp_dims[d].code)
                coded = d;
            else
                ok = false;
        }
        if (!ok || (cube->per_dim && coded < 0)) continue;
        *plan = (plan_t){cube, c, coded, false, false};
        plan->all_campaigns = c != PM__CUBE_MAIN && !needed(r, pm__rp_dim_by_src(PM__SRC_CAMPAIGN)) &&
                              !needed(r, pm__rp_dim_by_src(PM__SRC_SOURCE));
        if (cube->per_dim) {
            pm__rp_val_t empty = {0, "", 0};
            plan->derive_empty = true;
            for (int i = 0; i < r->nfilters; i++)
                if (r->filters[i].dim == coded && !filter_pass(&r->filters[i], &empty)) plan->derive_empty = false;
        }
        return true;
    }
    size_t n = 0;
    why[0] = '\0';
    for (int d = 0; d < pm__rp_ndims; d++)
        if (pm__rp_dims[d].kind != PM__DK_TIME && needed(r, d))
            n += (size_t)snprintf(why + n, n < cap ? cap - n : 0, "%s%s", n ? " x " : "", pm__rp_dims[d].name);
    return false;
}

/* Are the store's rollups there and current? */
static bool rollups_ready(sqlite3 *db, char *why, size_t cap)
{
    sqlite3_stmt *st = NULL;
    char sig[512];
    pm__rp_signature(sig, sizeof(sig));
    const char *sql = "SELECT (SELECT count(*) FROM report_meta WHERE key='rebuild'),"
                      " (SELECT value FROM report_meta WHERE key='signature')";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(why, cap, "the store has no rollups yet (start perfmark serve once to migrate it)");
        return false;
    }
    bool ok = false;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *have = (const char *)sqlite3_column_text(st, 1);
        ok = sqlite3_column_int(st, 0) == 0 && have && strcmp(have, sig) == 0;
    }
    sqlite3_finalize(st);
    if (!ok) snprintf(why, cap, "the rollups are being built (they are rebuilt when perfmark serve starts)");
    return ok;
}

/* Do the range and the zone fit 15-minute buckets? */
static bool time_fits(const pm_report_t *r, int64_t from, int64_t to, char *why, size_t cap)
{
    if (from % PM__RP_FINE_US || to % PM__RP_FINE_US) {
        snprintf(why, cap, "from/to are not on 15-minute boundaries");
        return false;
    }
    int64_t t = from / PM_USEC_PER_SEC - 2 * PM__RP_DAY_SEC, end = to / PM_USEC_PER_SEC + 2 * PM__RP_DAY_SEC;
    for (;;) {
        if (pm_tz_offset(r->tz, t) % PM__RP_FINE_SEC != 0) {
            snprintf(why, cap, "the time zone's offset is not a whole number of quarter hours in this range");
            return false;
        }
        int64_t next = pm_tz_next_change(r->tz, t);
        if (next >= end) return true;
        if (next % PM__RP_FINE_SEC != 0) {
            snprintf(why, cap, "the time zone changes offset off a quarter hour in this range");
            return false;
        }
        t = next;
    }
}

/* --- time plan: which day rows and which quarter hours, with which labels -------- */

typedef struct tplan_s {
    int64_t b0; /* first quarter hour of the hull (a UTC midnight) */
    int64_t day0, ndays;
    int64_t week0, nweeks; /* the weeks of the hull, whole or not */
    int32_t *add, *sub;    /* per quarter hour of the hull: label or -1 */
    int32_t *day_label;    /* per day: the label its day row goes to, or -1 when not read */
    int32_t *week_label;   /* per week: the label its week row goes to, or -1 when not read */
} tplan_t;

static void tplan_free(tplan_t *t)
{
    pm_free(t->add);
    pm_free(t->sub);
    pm_free(t->day_label);
    pm_free(t->week_label);
}

/* A week whose seven days all read their day row, into one label, reads
 * its week row instead: the same sums in one row per key, and the days'
 * quarter-hour corrections stay as they are (they correct against that
 * label either way). */
static void tplan_weeks(tplan_t *t)
{
    t->week0 = pm__rp_week_of_day(t->day0);
    t->nweeks = pm__rp_week_of_day(t->day0 + t->ndays - 1) - t->week0 + 1;
    t->week_label = pm_malloc((size_t)t->nweeks * sizeof(int32_t));
    for (int64_t w = 0; w < t->nweeks; w++) {
        int64_t first = pm__rp_week_start(t->week0 + w) - t->day0;
        int32_t label = first >= 0 && first + PM__RP_WEEK_DAYS <= t->ndays ? t->day_label[first] : -1;
        for (int64_t d = first; label >= 0 && d < first + PM__RP_WEEK_DAYS; d++)
            if (t->day_label[d] != label) label = -1;
        t->week_label[w] = label;
        for (int64_t d = first; label >= 0 && d < first + PM__RP_WEEK_DAYS; d++)
            t->day_label[d] = -1;
    }
}

static void tplan_build(const pm_report_t *r, pm__rq_agg_t *a, int64_t from, int64_t to, tplan_t *t)
{
    int64_t fb = from / PM__RP_FINE_US, tb = to / PM__RP_FINE_US;
    t->day0 = pm__rp_floordiv(fb, PM__RP_FINE_PER_DAY);
    t->ndays = pm__rp_floordiv(tb - 1, PM__RP_FINE_PER_DAY) - t->day0 + 1;
    t->b0 = t->day0 * PM__RP_FINE_PER_DAY;
    size_t nb = (size_t)(t->ndays * PM__RP_FINE_PER_DAY);
    t->add = pm_malloc(nb * sizeof(int32_t));
    t->sub = pm_malloc(nb * sizeof(int32_t));
    t->day_label = pm_malloc((size_t)t->ndays * sizeof(int32_t));
    int32_t labels[PM__RP_FINE_PER_DAY];
    for (int64_t d = 0; d < t->ndays; d++) {
        int32_t best = -1, run_label = -1;
        int best_n = 0, run_n = 0, in = 0;
        for (int q = 0; q < PM__RP_FINE_PER_DAY; q++) {
            int64_t b = t->b0 + d * PM__RP_FINE_PER_DAY + q;
            labels[q] = b >= fb && b < tb ? label_of(r, a, b * PM__RP_FINE_SEC) : -1;
            if (labels[q] < 0) continue;
            in++;
            run_n = labels[q] == run_label ? run_n + 1 : 1;
            run_label = labels[q];
            if (run_n > best_n) best_n = run_n, best = run_label;
        }
        /* Read the day row when it saves rows: 1 + the quarter hours to
         * correct, against every quarter hour in range. */
        bool use = best >= 0 && 1 + (PM__RP_FINE_PER_DAY - best_n) < in;
        t->day_label[d] = use ? best : -1;
        for (int q = 0; q < PM__RP_FINE_PER_DAY; q++) {
            size_t i = (size_t)(d * PM__RP_FINE_PER_DAY + q);
            t->add[i] = t->sub[i] = -1;
            if (use && labels[q] == best) continue;
            t->add[i] = labels[q];
            if (use) t->sub[i] = best;
        }
    }
    tplan_weeks(t);
}

/* --- reading cube rows ---------------------------------------------------------- */

typedef struct scan_s {
    pm_report_t *r;
    pm__rq_agg_t *a;
    const plan_t *plan;
    const tplan_t *t;
    int tier;
    bool base; /* rows of the campaign cube standing in for the "" value */
} scan_t;

/* One rollup row: read its key and counters, then contribute it. */
static void scan_row(const scan_t *s, const pm__rp_cube_t *cube, sqlite3_stmt *st)
{
    pm__rp_vals_t v; /* only the cube's dimensions are set: the planner asks for no other */
    int64_t c[PM__RC_COUNT], bucket = 0;
    const char *currency = "";
    int i = 0;
    for (const pm__rp_col_t *col = cube->cols; col->kind != PM__COL_END; col++, i++) {
        switch (col->kind) {
        case PM__COL_BUCKET: bucket = sqlite3_column_int64(st, i); break;
        case PM__COL_CURRENCY: currency = (const char *)sqlite3_column_text(st, i); break;
        case PM__COL_CODE: break;
        case PM__COL_VALUE:
        case PM__COL_DIM: {
            int d = col->kind == PM__COL_VALUE ? s->plan->coded : col->dim;
            if (pm__rp_dims[d].kind == PM__DK_ENTITY) {
                v.v[d] = (pm__rp_val_t){sqlite3_column_int64(st, i), "", 0};
            } else {
                const char *txt = (const char *)sqlite3_column_text(st, i);
                v.v[d] = (pm__rp_val_t){0, txt ? txt : "", txt ? (uint32_t)sqlite3_column_bytes(st, i) : 0};
            }
            break;
        }
        case PM__COL_END: break;
        }
    }
    for (int k = 0; k < PM__RC_COUNT; k++)
        c[k] = sqlite3_column_int64(st, i + k);
    if (currency == NULL) currency = "";
    pm__rp_vals_t empty;
    if (s->plan->cube->per_dim) {
        if (s->base) v.v[s->plan->coded] = (pm__rp_val_t){0, "", 0};
        empty = v;
        empty.v[s->plan->coded] = (pm__rp_val_t){0, "", 0};
    }
    int32_t labels[2];
    int signs[2], n = 0;
    if (s->tier != PM__TIER_FINE) {
        int32_t l =
            s->tier == PM__TIER_DAY ? s->t->day_label[bucket - s->t->day0] : s->t->week_label[bucket - s->t->week0];
        if (l >= 0) labels[n] = l, signs[n++] = 1;
    } else {
        size_t q = (size_t)(bucket - s->t->b0);
        if (s->t->add[q] >= 0) labels[n] = s->t->add[q], signs[n++] = 1;
        if (s->t->sub[q] >= 0) labels[n] = s->t->sub[q], signs[n++] = -1;
    }
    for (int k = 0; k < n; k++) {
        contribute(s->r, s->a, &v, labels[k], currency, c, signs[k]);
        if (s->plan->cube->per_dim && s->plan->derive_empty && !s->base)
            contribute(s->r, s->a, &empty, labels[k], currency, c, -signs[k]);
    }
}

/* The campaigns the rollups know, minus those a campaign filter excludes,
 * as a JSON list "[1,2,3]" (distinct values of the day tier's leading key,
 * one index seek each). */
static int campaign_list(pm_report_t *r, sqlite3 *db, pm_buf_t *out, int *count, pm_report_error_t *err)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT campaign_id FROM rollup_campaign_d WHERE campaign_id > ? ORDER BY campaign_id LIMIT 1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return store_failed(err, db, "campaigns");
    int dcamp = pm__rp_dim_by_src(PM__SRC_CAMPAIGN), step;
    int64_t last = PM__RP_ALL_CAMPAIGNS; /* the summed rows are not a campaign */
    *count = 0;
    int rc = pm_buf_appendc(out, '[');
    while (rc == PM_OK && (sqlite3_bind_int64(st, 1, last), step = sqlite3_step(st)) == SQLITE_ROW) {
        last = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        pm__rp_val_t v = {last, "", 0};
        bool pass = true;
        for (int i = 0; i < r->nfilters && pass; i++)
            if (r->filters[i].dim == dcamp) pass = filter_pass(&r->filters[i], &v);
        if (pass && (rc = pm_buf_printf(out, "%s%lld", *count ? "," : "", (long long)last)) == PM_OK) (*count)++;
    }
    sqlite3_finalize(st);
    if (rc == PM_OK) rc = pm_buf_appendc(out, ']');
    if (rc != PM_OK) return fail(err, 500, "internal", NULL, "too many campaigns for one query");
    return step == SQLITE_DONE || step == SQLITE_ROW ? PM_OK : store_failed(err, db, "campaigns");
}

/* With a traffic source filter: keep only the campaigns that have rows of a
 * passing source in the days read (one pass over the campaign cube's day
 * rows of those campaigns, much smaller than what it saves). */
static int prune_by_source(pm_report_t *r, sqlite3 *db, const tplan_t *t, pm_buf_t *list, int *count,
                           pm_report_error_t *err)
{
    int dsrc = pm__rp_dim_by_src(PM__SRC_SOURCE), i;
    for (i = 0; i < r->nfilters && r->filters[i].dim != dsrc; i++)
        ;
    if (i == r->nfilters || *count == 0) return PM_OK;
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT DISTINCT campaign_id, traffic_source_id FROM rollup_campaign_d"
                      " WHERE campaign_id IN (SELECT value FROM json_each(?1)) AND bucket >= ?2 AND bucket < ?3"
                      " ORDER BY campaign_id";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return store_failed(err, db, "sources");
    sqlite3_bind_text(st, 1, pm_buf_str(list), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, t->day0);
    sqlite3_bind_int64(st, 3, t->day0 + t->ndays);
    pm_buf_reset(list);
    int rc = pm_buf_appendc(list, '['), step, n = 0;
    int64_t prev = INT64_MIN;
    while (rc == PM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t campaign = sqlite3_column_int64(st, 0);
        pm__rp_val_t v = {sqlite3_column_int64(st, 1), "", 0};
        bool pass = campaign != prev;
        for (int k = 0; k < r->nfilters && pass; k++)
            if (r->filters[k].dim == dsrc) pass = filter_pass(&r->filters[k], &v);
        if (pass && (rc = pm_buf_printf(list, "%s%lld", n ? "," : "", (long long)campaign)) == PM_OK) {
            n++;
            prev = campaign;
        }
    }
    sqlite3_finalize(st);
    if (rc == PM_OK) rc = pm_buf_appendc(list, ']');
    if (rc != PM_OK) return fail(err, 500, "internal", NULL, "too many campaigns for one query");
    if (step != SQLITE_DONE) return store_failed(err, db, "sources");
    *count = n;
    return PM_OK;
}

/* Does the plan read bucket `i` (from the hull's first) of `tier`? */
static bool tplan_wants(const tplan_t *t, int tier, int64_t i)
{
    switch (tier) {
    case PM__TIER_WEEK: return t->week_label[i] >= 0;
    case PM__TIER_DAY: return t->day_label[i] >= 0;
    default: return t->add[i] >= 0 || t->sub[i] >= 0;
    }
}

/* Read the rows of cube `cube` in tier `tier` for the planned runs. */
static int scan_tier(const scan_t *s, sqlite3 *db, const pm__rp_cube_t *cube, const char *campaigns,
                     pm_report_error_t *err)
{
    char sql[4096];
    size_t n = (size_t)snprintf(sql, sizeof(sql), "SELECT ");
    for (const pm__rp_col_t *col = cube->cols; col->kind != PM__COL_END; col++)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s,", pm__rp_col_name(col));
    for (int k = 0; k < PM__RC_COUNT; k++)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s", k ? "," : "", pm__rp_counter_cols[k]);
    n += (size_t)snprintf(sql + n, sizeof(sql) - n, " FROM %s_%c WHERE ", cube->table, pm__rp_tier_suffix[s->tier]);
    if (cube->per_dim) n += (size_t)snprintf(sql + n, sizeof(sql) - n, "dim=%d AND ", pm__rp_dims[s->plan->coded].code);
    snprintf(sql + n, sizeof(sql) - n, "campaign_id IN (SELECT value FROM json_each(?3)) AND bucket>=?1 AND bucket<?2");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return store_failed(err, db, "rollup query");
    sqlite3_bind_text(st, 3, campaigns, -1, SQLITE_STATIC);
    int rc = PM_OK;
    const tplan_t *t = s->t;
    int64_t units = s->tier == PM__TIER_WEEK  ? t->nweeks
                    : s->tier == PM__TIER_DAY ? t->ndays
                                              : t->ndays * PM__RP_FINE_PER_DAY;
    int64_t base = s->tier == PM__TIER_WEEK ? t->week0 : s->tier == PM__TIER_DAY ? t->day0 : t->b0;
    for (int64_t i = 0; rc == PM_OK && i < units;) {
        if (!tplan_wants(t, s->tier, i)) {
            i++;
            continue;
        }
        int64_t j = i + 1;
        while (j < units && tplan_wants(t, s->tier, j))
            j++;
        sqlite3_bind_int64(st, 1, base + i);
        sqlite3_bind_int64(st, 2, base + j);
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW)
            scan_row(s, cube, st);
        if (step != SQLITE_DONE) rc = store_failed(err, db, "rollup read");
        sqlite3_reset(st);
        i = j;
    }
    sqlite3_finalize(st);
    return rc;
}

static int run_rollup(pm_report_t *r, sqlite3 *db, const plan_t *plan, pm__rq_agg_t *a, int64_t from, int64_t to,
                      pm_report_error_t *err)
{
    pm_buf_t list;
    int ncamp = 0;
    tplan_t t = {0};
    pm_buf_init(&list, 16u << 20);
    int rc = campaign_list(r, db, &list, &ncamp, err);
    if (rc == PM_OK && ncamp > 0) tplan_build(r, a, from, to, &t);
    if (rc == PM_OK && ncamp > 0) rc = prune_by_source(r, db, &t, &list, &ncamp, err);
    /* Rows summed over all campaigns: every tier of the campaign cube, the
     * day and week tiers of the per-dimension cube, and its 15-minute tier
     * for a shared dimension. */
    const char *all = "[" PM__RP_ALL_CAMPAIGNS_STR "]";
    for (int tier = 0; rc == PM_OK && ncamp > 0 && tier < PM__TIER__COUNT; tier++) {
        scan_t s = {r, a, plan, &t, tier, false};
        bool sums =
            plan->all_campaigns && (!plan->cube->per_dim || tier != PM__TIER_FINE || pm__rp_dims[plan->coded].shared);
        rc = scan_tier(&s, db, plan->cube, sums ? all : pm_buf_str(&list), err);
        if (rc == PM_OK && plan->derive_empty) {
            s.base = true;
            rc =
                scan_tier(&s, db, &pm__rp_cubes[PM__CUBE_CAMPAIGN], plan->all_campaigns ? all : pm_buf_str(&list), err);
        }
    }
    tplan_free(&t);
    pm_buf_free(&list);
    return rc;
}

/* --- the raw path and the tail ------------------------------------------------- */

static void contribute_event(pm_report_t *r, pm__rq_agg_t *a, const pm_event_t *ev, const pm__rp_cell_t *cells, int n,
                             int sign)
{
    pm__rp_vals_t v;
    pm__rp_event_values(ev, &v);
    int32_t label = label_of(r, a, pm__rp_floordiv(ev->ts, PM_USEC_PER_SEC));
    for (int k = 0; k < n; k++)
        contribute(r, a, &v, label, cells[k].currency, cells[k].c, sign);
}

static void raw_event(pm_report_t *r, pm__rq_agg_t *a, const pm_event_t *ev, bool first, int sign)
{
    pm__rp_cell_t cells[PM__RP_MAX_CELLS];
    int n = pm__rp_cells(ev, first, cells);
    contribute_event(r, a, ev, cells, n, sign);
}

typedef struct tail_s {
    pm_report_t *r;
    pm__rq_agg_t *a;
    int64_t from, to;
} tail_t;

static void tail_emit(void *ctx, const pm_event_t *ev, const pm__rp_cell_t *cells, int n, int sign)
{
    tail_t *t = ctx;
    if (ev->ts >= t->from && ev->ts < t->to) contribute_event(t->r, t->a, ev, cells, n, sign);
}

/* The events the rollups have not consumed yet (past the watermarks), fed
 * through the same code as a catch-up, into the report instead. */
static int run_tail(pm_report_t *r, sqlite3 *db, pm__rq_agg_t *a, int64_t from, int64_t to, pm_report_error_t *err)
{
    pm__rp_credits_t *credits = NULL;
    tail_t t = {r, a, from, to};
    if (pm__rp_credits_create(db, &credits) != PM_OK) return store_failed(err, db, "tail");
    pm__rp_feed_t f = {db, credits, tail_emit, &t};
    int rc = PM_OK;
    for (int i = 0; rc == PM_OK && i < PM__RP_NTABLES; i++) {
        int64_t after, last, n;
        if (pm__rp_hwm_get(db, pm__rp_tables[i], &after) != PM_OK ||
            pm__rp_feed(&f, pm__rp_tables[i], after, &last, &n) != PM_OK)
            rc = store_failed(err, db, "tail");
    }
    pm__rp_credits_destroy(credits); /* never saved: queries do not write */
    return rc;
}

static int raw_table(pm_report_t *r, sqlite3 *db, pm__rq_agg_t *a, pm_event_type_t type, int64_t from, int64_t to,
                     pm_report_error_t *err)
{
    char sql[2048], tail[256];
    /* Clicks: whole UTC days around the range, for the first-click window
     * (the first by id of a day may lie outside the range). */
    bool click = type == PM_EV_CLICK;
    int64_t lo = click ? pm__rp_floordiv(from, PM__RP_DAY_US) * PM__RP_DAY_US : from;
    int64_t hi = click ? (pm__rp_floordiv(to - 1, PM__RP_DAY_US) + 1) * PM__RP_DAY_US : to;
    snprintf(tail, sizeof(tail), "WHERE ts >= %lld AND ts < %lld", (long long)lo, (long long)hi);
    pm__rp_event_select(type, true, tail, sql, sizeof(sql));
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return store_failed(err, db, "raw query");
    int step, first_col = pm__rp_first_col();
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        pm_event_t ev;
        pm__rp_row_event(st, type, &ev);
        if (ev.ts < from || ev.ts >= to) continue;
        raw_event(r, a, &ev, type == PM_EV_CLICK && sqlite3_column_int(st, first_col),
                  sqlite3_column_int(st, pm__rp_sign_col()));
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? PM_OK : store_failed(err, db, "raw read");
}

static int run_raw(pm_report_t *r, sqlite3 *db, pm__rq_agg_t *a, int64_t from, int64_t to, pm_report_error_t *err)
{
    static const pm_event_type_t types[] = {PM_EV_CLICK,         PM_EV_IMPRESSION,  PM_EV_CONVERSION,
                                            PM_EV_STATUS_CHANGE, PM_EV_COST_REPORT, PM_EV_LANDER_CLICK};
    int rc = PM_OK;
    for (size_t i = 0; rc == PM_OK && i < PM_ARRAY_LEN(types); i++)
        rc = raw_table(r, db, a, types[i], from, to, err);
    return rc;
}

/* --- a period ----------------------------------------------------------------------- */

static int run_period(pm_report_t *r, sqlite3 *db, pm__rq_agg_t *a, int64_t from, int64_t to, char *source, size_t cap,
                      bool primary, pm_report_error_t *err)
{
    char why[256] = "";
    plan_t plan;
    bool rollup = false;
    labels_build(r, a, from, to);
    if (r->want != PM__SRC_RAW) {
        char cube_why[200];
        if (!choose_cube(r, &plan, cube_why, sizeof(cube_why)))
            snprintf(why, sizeof(why), "no rollup keeps %s together", cube_why);
        else if (rollups_ready(db, why, sizeof(why)) && time_fits(r, from, to, why, sizeof(why)))
            rollup = true;
        if (!rollup && r->want == PM__SRC_ROLLUP) return invalid(err, "source", "no rollup can answer: %s", why);
        if (!rollup && primary) warn(r, "raw_scan", "answered from the raw event tables: %s", why);
    }
    int rc;
    if (rollup) {
        snprintf(source, cap, "rollup:%s", plan.cube->per_dim ? pm__rp_dims[plan.coded].name : plan.cube->name);
        rc = run_rollup(r, db, &plan, a, from, to, err);
        if (rc == PM_OK) rc = run_tail(r, db, a, from, to, err);
    } else {
        snprintf(source, cap, "raw");
        rc = run_raw(r, db, a, from, to, err);
    }
    if (rc == PM_OK && a->toobig)
        rc = fail(err, 422, "too_big", "group_by", "more than %d rows: narrow the range, the filters or group_by",
                  PM__RQ_MAX_GROUPS);
    if (rc == PM_OK && a->overflow) rc = fail(err, 500, "internal", NULL, "a sum overflowed 64 bits");
    return rc;
}

/* --- settings and names ------------------------------------------------------------- */

int pm__rp_setting(sqlite3 *db, const char *key, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    const char *def = pm_store_setting_default(key);
    snprintf(out, cap, "%s", def ? def : "");
    if (sqlite3_prepare_v2(db, "SELECT value FROM settings WHERE key=?", -1, &st, NULL) != SQLITE_OK) return PM_ESTORE;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW && sqlite3_column_text(st, 0)) snprintf(out, cap, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? PM_OK : PM_ESTORE;
}

static int load_names(pm_report_t *r, sqlite3 *db, pm_report_error_t *err)
{
    for (int p = 0; p < r->ngroup; p++) {
        const pm__rp_dim_t *d = &pm__rp_dims[r->group[p]];
        if (d->kind != PM__DK_ENTITY) continue;
        char sql[128];
        sqlite3_stmt *st = NULL;
        snprintf(sql, sizeof(sql), "SELECT id, name FROM %s ORDER BY id", d->table);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return store_failed(err, db, "names");
        pm__rq_names_t *nm = &r->names[p];
        size_t cap = 0;
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            if (nm->n == cap) {
                cap = cap ? cap * 2 : 64;
                nm->ids = pm_realloc(nm->ids, cap * sizeof(*nm->ids));
                nm->names = pm_realloc(nm->names, cap * sizeof(*nm->names));
            }
            const char *name = (const char *)sqlite3_column_text(st, 1);
            nm->ids[nm->n] = sqlite3_column_int64(st, 0);
            nm->names[nm->n++] = pm_strdup(name ? name : "");
        }
        sqlite3_finalize(st);
        if (step != SQLITE_DONE) return store_failed(err, db, "names");
    }
    return PM_OK;
}

const char *pm__rq_name(const pm_report_t *r, int pos, int64_t id)
{
    const pm__rq_names_t *nm = &r->names[pos];
    size_t lo = 0, hi = nm->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nm->ids[mid] == id) return nm->names[mid];
        if (nm->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* --- ordering ----------------------------------------------------------------------- */

pm__rp_val_t pm__rq_key_value(const pm_report_t *r, const pm__rq_agg_t *a, const pm__rq_group_t *g, int pos)
{
    const char *k = a->keys.data + g->key_off + sizeof(int32_t);
    pm__rp_val_t v = {0, "", 0};
    for (int p = 0; p < r->ngroup; p++) {
        const pm__rp_dim_t *d = &pm__rp_dims[r->group[p]];
        if (d->kind == PM__DK_TIME) continue;
        if (d->kind == PM__DK_ENTITY) {
            if (p == pos) memcpy(&v.i, k, sizeof(v.i));
            k += sizeof(int64_t);
            continue;
        }
        uint32_t len;
        memcpy(&len, k, 4);
        if (p == pos) v = (pm__rp_val_t){0, k + 4, len};
        k += 4 + len;
    }
    return v;
}

pm_report_value_t pm__rq_metric_value(const pm__rq_metric_t *m, const pm_report_counts_t *c, const int64_t *types)
{
    if (m->m) return m->m->fn(c);
    return (pm_report_value_t){PM_RV_COUNT, types[m->type], 0};
}

static int cmp_value(pm_report_value_t a, pm_report_value_t b, bool desc)
{
    if (a.kind == PM_RV_NULL || b.kind == PM_RV_NULL) /* nulls last, either way */
        return (a.kind == PM_RV_NULL) - (b.kind == PM_RV_NULL);
    int c = a.kind == PM_RV_RATIO ? (a.d > b.d) - (a.d < b.d) : (a.i > b.i) - (a.i < b.i);
    return desc ? -c : c;
}

static int cmp_text(const pm__rp_val_t *a, const pm__rp_val_t *b)
{
    if (a->len == 0 || b->len == 0) return (a->len == 0) - (b->len == 0); /* none last */
    int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int cmp_dim(const pm_report_t *r, const pm__rq_group_t *a, const pm__rq_group_t *b, int pos, bool desc)
{
    const pm__rp_dim_t *d = &pm__rp_dims[r->group[pos]];
    int c;
    if (d->kind == PM__DK_TIME) {
        c = (a->label > b->label) - (a->label < b->label);
    } else {
        pm__rp_val_t va = pm__rq_key_value(r, &r->cur, a, pos), vb = pm__rq_key_value(r, &r->cur, b, pos);
        if (d->kind == PM__DK_ENTITY) {
            if (va.i == 0 || vb.i == 0) return (va.i == 0) - (vb.i == 0);
            const char *na = pm__rq_name(r, pos, va.i), *nb = pm__rq_name(r, pos, vb.i);
            c = strcmp(na ? na : "", nb ? nb : "");
            if (c == 0) c = (va.i > vb.i) - (va.i < vb.i);
        } else {
            if (va.len == 0 || vb.len == 0) return cmp_text(&va, &vb);
            c = cmp_text(&va, &vb);
        }
    }
    return desc ? -c : c;
}

static int cmp_groups(const void *pa, const void *pb, void *arg)
{
    const pm_report_t *r = arg;
    const pm__rq_group_t *a = &r->cur.g[*(const size_t *)pa], *b = &r->cur.g[*(const size_t *)pb];
    for (int i = 0; i < r->nsort; i++) {
        const pm__rq_sort_t *s = &r->sort[i];
        int c = s->group >= 0 ? cmp_dim(r, a, b, s->group, s->desc)
                              : cmp_value(pm__rq_metric_value(&s->metric, &a->c, a->types),
                                          pm__rq_metric_value(&s->metric, &b->c, b->types), s->desc);
        if (c) return c;
    }
    for (int p = 0; p < r->ngroup; p++) { /* then by the groups, ascending: a stable order */
        int c = cmp_dim(r, a, b, p, false);
        if (c) return c;
    }
    return 0;
}

static bool group_empty(const pm_report_t *r, const pm__rq_group_t *g)
{
    const pm_report_counts_t *c = &g->c;
    if (c->impressions || c->clicks || c->unique_clicks || c->conversions || c->leads || c->pending_conversions ||
        c->rejected_conversions || c->chargebacks || c->cost || c->revenue || c->payout || c->pending_revenue ||
        c->excluded_events || c->bot_clicks || c->lander_visits || c->lander_clicks || c->bot_impressions)
        return false;
    for (int i = 0; i < r->ntypes; i++)
        if (g->types[i]) return false;
    return true;
}

static void sum_totals(const pm_report_t *r, pm__rq_agg_t *a)
{
    memset(&a->total, 0, sizeof(a->total));
    memset(a->total_types, 0, sizeof(a->total_types));
    for (size_t i = 0; i < a->n; i++) {
        const pm_report_counts_t *c = &a->g[i].c;
        pm_report_counts_t *t = &a->total;
        add(a, &t->impressions, c->impressions);
        add(a, &t->clicks, c->clicks);
        add(a, &t->unique_clicks, c->unique_clicks);
        add(a, &t->conversions, c->conversions);
        add(a, &t->leads, c->leads);
        add(a, &t->pending_conversions, c->pending_conversions);
        add(a, &t->rejected_conversions, c->rejected_conversions);
        add(a, &t->bot_clicks, c->bot_clicks);
        add(a, &t->lander_visits, c->lander_visits);
        add(a, &t->lander_clicks, c->lander_clicks);
        add(a, &t->bot_impressions, c->bot_impressions);
        add(a, &t->chargebacks, c->chargebacks);
        add(a, &t->cost, c->cost);
        add(a, &t->revenue, c->revenue);
        add(a, &t->payout, c->payout);
        add(a, &t->pending_revenue, c->pending_revenue);
        add(a, &t->excluded_events, c->excluded_events);
        for (int k = 0; k < r->ntypes; k++)
            add(a, &a->total_types[k], a->g[i].types[k]);
    }
}

const pm__rq_group_t *pm__rq_previous(const pm_report_t *r, const pm__rq_group_t *g)
{
    return agg_find(&r->prev, r->cur.keys.data + g->key_off, g->key_len, g->hash);
}

static void finish(pm_report_t *r)
{
    r->order = pm_malloc((r->cur.n ? r->cur.n : 1) * sizeof(size_t));
    r->norder = 0;
    for (size_t i = 0; i < r->cur.n; i++)
        if (!group_empty(r, &r->cur.g[i])) r->order[r->norder++] = i;
    qsort_r(r->order, r->norder, sizeof(size_t), cmp_groups, r);
    sum_totals(r, &r->cur);
    if (r->compare) sum_totals(r, &r->prev);
    for (int i = 0; i < r->cur.nforeign; i++)
        if (r->cur.foreign[i].events)
            warn(r, "currency_excluded",
                 "%lld events with amounts in %s were left out of the money sums (reports are in %s; there are no "
                 "exchange rates yet)",
                 (long long)r->cur.foreign[i].events, r->cur.foreign[i].code, r->currency);
    if (r->cur.foreign_other)
        warn(r, "currency_excluded", "%lld more events in other currencies were left out of the money sums",
             (long long)r->cur.foreign_other);
}

/* --- run ------------------------------------------------------------------------------ */

static void default_metrics(pm_report_t *r)
{
    r->nmetrics = 0;
    for (const pm_report_metric_t *m = pm_report_metrics; m->name && strcmp(m->name, "cpl") != 0; m++) {
        pm__rq_metric_t *x = &r->metrics[r->nmetrics++];
        memset(x, 0, sizeof(*x));
        x->m = m;
        snprintf(x->name, sizeof(x->name), "%s", m->name);
    }
}

static int load_tz(pm_report_t *r, sqlite3 *db, pm_report_error_t *err)
{
    char name[128];
    bool from_setting = r->tz_text == NULL;
    if (from_setting && pm__rp_setting(db, "timezone", name, sizeof(name)) != PM_OK)
        return store_failed(err, db, "settings");
    int rc = pm_tz_load(from_setting ? name : r->tz_text, &r->tz);
    if (rc == PM_OK) return PM_OK;
    if (!from_setting) return invalid(err, "tz", "tz must be an IANA time zone name such as Europe/Berlin");
    pm_error("report: the timezone setting \"%s\" cannot be loaded: %s", name, pm_strerror(rc));
    return fail(err, 500, "internal", NULL, "the workspace time zone setting cannot be loaded");
}

int pm_report_run(pm_report_t *r, sqlite3 *db, pm_report_error_t *err)
{
    memset(err, 0, sizeof(*err));
    if (PM_NEVER(r->ran)) return fail(err, 500, "internal", NULL, "a report runs once");
    r->ran = true;
    if (!r->have_group) return fail(err, 422, "required", "group_by", "group_by is required (up to 3 dimensions)");
    if (!r->have_metrics) default_metrics(r);
    r->conv_dim = pm__rp_dim_by_src(PM__SRC_CONV_TYPE);
    int rc = r->have_sort ? resolve_sort(r, err) : PM_OK;
    if (rc == PM_OK) rc = load_tz(r, db, err);
    if (rc != PM_OK) return rc;
    if (pm__rp_setting(db, "currency", r->currency, sizeof(r->currency)) != PM_OK)
        return store_failed(err, db, "settings");
    if ((rc = resolve_range(r, err)) != PM_OK) return rc;
    bool own_txn = sqlite3_get_autocommit(db);
    /* One read transaction: every table read sees the same commit. */
    if (own_txn && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return store_failed(err, db, "begin");
    rc = run_period(r, db, &r->cur, r->from, r->to, r->source, sizeof(r->source), true, err);
    if (rc == PM_OK && r->compare)
        rc = run_period(r, db, &r->prev, r->prev_from, r->prev_to, r->source_prev, sizeof(r->source_prev), false, err);
    if (rc == PM_OK) rc = load_names(r, db, err);
    if (own_txn) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc == PM_OK) finish(r);
    return rc;
}

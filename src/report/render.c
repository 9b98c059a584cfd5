/*
 * render.c: a report's result as JSON (the API's document), CSV (the same
 * rows, one header line) or an aligned text table (the CLI).
 *
 * Values: counts as integers, money as decimal strings in the reporting
 * currency (pm_money_format), ratios as the shortest decimal that reads
 * back as the same double, null for a zero denominator. With
 * compare=previous each row and the totals carry "previous" (the previous
 * period's values) and "change" ((current - previous) / |previous|, null
 * when previous is 0 or null).
 *
 * CSV cells that hold text from the outside world (sub ids, names) and
 * start with = + - @ or a tab get a leading apostrophe, so a spreadsheet
 * shows them instead of running them as formulas.
 */
#include "report_query.h"

#include "pm/money.h"
#include "pm/text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- values -------------------------------------------------------------------- */

static size_t fmt_double(double d, char *out, size_t cap)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, d);
        if (strtod(out, NULL) == d) break;
    }
    return strlen(out);
}

/* A value as text: "" for null. */
static size_t fmt_value(pm_report_value_t v, char *out, size_t cap)
{
    switch (v.kind) {
    case PM_RV_NULL: out[0] = '\0'; return 0;
    case PM_RV_COUNT: return (size_t)snprintf(out, cap, "%lld", (long long)v.i);
    case PM_RV_MONEY: return pm_money_format(v.i, out);
    case PM_RV_RATIO: return isfinite(v.d) ? fmt_double(v.d, out, cap) : (out[0] = '\0', 0);
    }
    return 0;
}

static double as_double(pm_report_value_t v)
{
    return v.kind == PM_RV_RATIO ? v.d : (double)v.i;
}

static pm_report_value_t change(pm_report_value_t cur, pm_report_value_t prev)
{
    pm_report_value_t out = {PM_RV_NULL, 0, 0};
    if (cur.kind == PM_RV_NULL || prev.kind == PM_RV_NULL) return out;
    double p = as_double(prev);
    if (p == 0) return out;
    out.kind = PM_RV_RATIO;
    out.d = (as_double(cur) - p) / fabs(p);
    return out;
}

static const pm_report_counts_t zero_counts;
static const int64_t zero_types[PM__RQ_MAX_TYPES];

/* --- labels and dimension cells ------------------------------------------------ */

void pm__rq_label_text(const pm_report_t *r, const pm__rq_agg_t *a, int32_t label, int pos, char *out, size_t cap)
{
    int k = r->time_pos[pos], y, m, d;
    int64_t v = a->labels.v[label][k];
    switch (pm__rp_dims[r->group[pos]].unit) {
    case PM__TU_HOUR: {
        int32_t off = pm_tz_offset(r->tz, v);
        int64_t local = v + off, day = local >= 0 ? local / 86400 : (local - 86399) / 86400;
        int hour = (int)((local - day * 86400) / 3600), aoff = off < 0 ? -off : off;
        pm_civil_from_days(day, &y, &m, &d);
        snprintf(out, cap, "%04d-%02d-%02dT%02d:00:00%c%02d:%02d", y, m, d, hour, off < 0 ? '-' : '+', aoff / 3600,
                 aoff % 3600 / 60);
        break;
    }
    case PM__TU_DAY:
    case PM__TU_WEEK:
        pm_civil_from_days(v, &y, &m, &d);
        snprintf(out, cap, "%04d-%02d-%02d", y, m, d);
        break;
    case PM__TU_MONTH: snprintf(out, cap, "%04d-%02d", (int)(v / 12), (int)(v % 12) + 1); break;
    }
}

/* The cells a group position contributes: time (1), entity (id, name),
 * text (1). Kinds: 'n' number or null, 's' string or null. */
typedef struct cell_s {
    const char *key;
    char kind;
    bool null, outside; /* outside: text from the outside world (CSV guard) */
    const char *s;
    size_t len;
    char buf[48];
} cell_t;

static int dim_cells(const pm_report_t *r, const pm__rq_group_t *g, int pos, cell_t out[2])
{
    const pm__rp_dim_t *d = &pm__rp_dims[r->group[pos]];
    memset(out, 0, 2 * sizeof(cell_t));
    if (d->kind == PM__DK_TIME) {
        out[0].key = d->name;
        out[0].kind = 's';
        pm__rq_label_text(r, &r->cur, g->label, pos, out[0].buf, sizeof(out[0].buf));
        out[0].s = out[0].buf;
        out[0].len = strlen(out[0].buf);
        return 1;
    }
    pm__rp_val_t v = pm__rq_key_value(r, &r->cur, g, pos);
    if (d->kind == PM__DK_ENTITY) {
        const char *name = v.i ? pm__rq_name(r, pos, v.i) : NULL;
        out[0] = (cell_t){.key = d->column, .kind = 'n', .null = v.i == 0};
        out[0].len = (size_t)snprintf(out[0].buf, sizeof(out[0].buf), "%lld", (long long)v.i);
        out[0].s = out[0].buf;
        out[1] = (cell_t){.key = d->label,
                          .kind = 's',
                          .null = name == NULL,
                          .outside = true,
                          .s = name,
                          .len = name ? strlen(name) : 0};
        return 2;
    }
    out[0] = (cell_t){.key = d->name, .kind = 's', .null = v.len == 0, .outside = true, .s = v.s, .len = v.len};
    return 1;
}

static int header_cells(const pm_report_t *r, int pos, const char *keys[2])
{
    const pm__rp_dim_t *d = &pm__rp_dims[r->group[pos]];
    if (d->kind == PM__DK_ENTITY) {
        keys[0] = d->column;
        keys[1] = d->label;
        return 2;
    }
    keys[0] = d->name;
    return 1;
}

/* --- JSON ---------------------------------------------------------------------- */

static int json_str(pm_buf_t *b, const char *s, size_t len)
{
    char *clean = NULL;
    if (!pm_text_is_clean(s, len)) {
        size_t cap = len * 3 + 4;
        clean = pm_malloc(cap);
        len = pm_text_sanitize(s, len, clean, cap, NULL);
        s = clean;
    }
    int rc = pm_buf_appendc(b, '"');
    for (size_t i = 0; rc == PM_OK && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            rc = pm_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            rc = pm_buf_printf(b, "\\u%04x", c);
        else
            rc = pm_buf_appendc(b, (char)c);
    }
    if (rc == PM_OK) rc = pm_buf_appendc(b, '"');
    pm_free(clean);
    return rc;
}

static int json_value(pm_buf_t *b, pm_report_value_t v)
{
    char text[64];
    size_t n = fmt_value(v, text, sizeof(text));
    if (v.kind == PM_RV_NULL || n == 0) return pm_buf_appends(b, "null");
    if (v.kind == PM_RV_MONEY) return json_str(b, text, n);
    return pm_buf_append(b, text, n);
}

/* "m1":v1,"m2":v2,... for counts c (and per-type counts). */
static int json_metrics(pm_buf_t *b, const pm_report_t *r, const pm_report_counts_t *c, const int64_t *types)
{
    int rc = PM_OK;
    for (int i = 0; rc == PM_OK && i < r->nmetrics; i++) {
        rc = pm_buf_printf(b, "%s\"%s\":", i ? "," : "", r->metrics[i].name);
        if (rc == PM_OK) rc = json_value(b, pm__rq_metric_value(&r->metrics[i], c, types));
    }
    return rc;
}

static int json_compare(pm_buf_t *b, const pm_report_t *r, const pm_report_counts_t *c, const int64_t *types,
                        const pm_report_counts_t *pc, const int64_t *ptypes)
{
    int rc = pm_buf_appends(b, ",\"previous\":{");
    if (rc == PM_OK) rc = json_metrics(b, r, pc, ptypes);
    if (rc == PM_OK) rc = pm_buf_appends(b, "},\"change\":{");
    for (int i = 0; rc == PM_OK && i < r->nmetrics; i++) {
        rc = pm_buf_printf(b, "%s\"%s\":", i ? "," : "", r->metrics[i].name);
        if (rc == PM_OK)
            rc = json_value(b, change(pm__rq_metric_value(&r->metrics[i], c, types),
                                      pm__rq_metric_value(&r->metrics[i], pc, ptypes)));
    }
    return rc == PM_OK ? pm_buf_appendc(b, '}') : rc;
}

static int json_row(pm_buf_t *b, const pm_report_t *r, const pm__rq_group_t *g)
{
    int rc = pm_buf_appendc(b, '{');
    for (int p = 0; rc == PM_OK && p < r->ngroup; p++) {
        cell_t cells[2];
        int n = dim_cells(r, g, p, cells);
        for (int k = 0; rc == PM_OK && k < n; k++) {
            rc = pm_buf_printf(b, "\"%s\":", cells[k].key);
            if (rc != PM_OK) break;
            if (cells[k].null)
                rc = pm_buf_appends(b, "null");
            else if (cells[k].kind == 'n')
                rc = pm_buf_append(b, cells[k].s, cells[k].len);
            else
                rc = json_str(b, cells[k].s, cells[k].len);
            if (rc == PM_OK) rc = pm_buf_appendc(b, ',');
        }
    }
    if (rc == PM_OK) rc = json_metrics(b, r, &g->c, g->types);
    if (rc == PM_OK && r->compare) {
        const pm__rq_group_t *pg = pm__rq_previous(r, g);
        rc = json_compare(b, r, &g->c, g->types, pg ? &pg->c : &zero_counts, pg ? pg->types : zero_types);
    }
    return rc == PM_OK ? pm_buf_appendc(b, '}') : rc;
}

static int json_time(pm_buf_t *b, const char *key, int64_t t)
{
    char text[PM_RFC3339_MAX];
    pm_time_format(t, text);
    return pm_buf_printf(b, ",\"%s\":\"%s\"", key, text);
}

static int render_json(const pm_report_t *r, pm_buf_t *b)
{
    int rc = pm_buf_appends(b, "{\"rows\":[");
    size_t end = (size_t)r->offset + (size_t)r->limit;
    for (size_t i = (size_t)r->offset; rc == PM_OK && i < r->norder && i < end; i++) {
        if (i > (size_t)r->offset) rc = pm_buf_appendc(b, ',');
        if (rc == PM_OK) rc = json_row(b, r, &r->cur.g[r->order[i]]);
    }
    if (rc == PM_OK) rc = pm_buf_appends(b, "],\"totals\":{");
    if (rc == PM_OK) rc = json_metrics(b, r, &r->cur.total, r->cur.total_types);
    if (rc == PM_OK && r->compare)
        rc = json_compare(b, r, &r->cur.total, r->cur.total_types, &r->prev.total, r->prev.total_types);
    if (rc == PM_OK)
        rc = pm_buf_printf(b,
                           "},\"total_rows\":%zu,\"limit\":%lld,\"offset\":%lld,\"source\":\"%s\",\"currency\":\"%s\","
                           "\"timezone\":",
                           r->norder, (long long)r->limit, (long long)r->offset, r->source, r->currency);
    if (rc == PM_OK) rc = json_str(b, pm_tz_name(r->tz), strlen(pm_tz_name(r->tz)));
    if (rc == PM_OK) rc = json_time(b, "from", r->from);
    if (rc == PM_OK) rc = json_time(b, "to", r->to);
    if (rc == PM_OK && r->compare) rc = json_time(b, "previous_from", r->prev_from);
    if (rc == PM_OK && r->compare) rc = json_time(b, "previous_to", r->prev_to);
    if (rc == PM_OK) rc = pm_buf_printf(b, ",\"warnings\":[%s]}", pm_buf_str(&r->warnings));
    return rc;
}

/* --- CSV and table: a grid of text cells ----------------------------------------- */

typedef struct grid_s {
    size_t ncols, nrows;
    char **cells;  /* nrows x ncols, owned */
    bool *numeric; /* per column: right-aligned in a table */
    bool *outside; /* per cell: text from the outside world */
} grid_t;

static void grid_set(grid_t *g, size_t row, size_t col, const char *s, size_t len, bool outside)
{
    g->cells[row * g->ncols + col] = pm_strndup(s ? s : "", s ? len : 0);
    g->outside[row * g->ncols + col] = outside;
}

static void grid_free(grid_t *g)
{
    for (size_t i = 0; i < g->ncols * g->nrows; i++)
        pm_free(g->cells[i]);
    pm_free(g->cells);
    pm_free(g->numeric);
    pm_free(g->outside);
}

static bool percent_metric(const char *name)
{
    return strcmp(name, "ctr") == 0 || strcmp(name, "cvr") == 0 || strcmp(name, "roi") == 0;
}

/* A value for humans: ratios rounded, percentages where the industry uses them. */
static size_t fmt_human(const pm__rq_metric_t *m, pm_report_value_t v, bool is_change, char *out, size_t cap)
{
    if (v.kind == PM_RV_NULL) return (size_t)snprintf(out, cap, "-");
    if (v.kind != PM_RV_RATIO) return fmt_value(v, out, cap);
    if (is_change) return (size_t)snprintf(out, cap, "%+.1f%%", v.d * 100);
    if (percent_metric(m->name)) return (size_t)snprintf(out, cap, "%.2f%%", v.d * 100);
    return (size_t)snprintf(out, cap, "%.2f", v.d);
}

static void grid_metrics(grid_t *g, size_t row, size_t col, const pm_report_t *r, const pm_report_counts_t *c,
                         const int64_t *t, const pm_report_counts_t *pc, const int64_t *pt, bool human)
{
    char text[64];
    for (int i = 0; i < r->nmetrics; i++) {
        const pm__rq_metric_t *m = &r->metrics[i];
        pm_report_value_t v = pm__rq_metric_value(m, c, t);
        size_t n = human ? fmt_human(m, v, false, text, sizeof(text)) : fmt_value(v, text, sizeof(text));
        grid_set(g, row, col++, text, n, false);
        if (!r->compare) continue;
        pm_report_value_t pv = pm__rq_metric_value(m, pc, pt), ch = change(v, pv);
        n = human ? fmt_human(m, pv, false, text, sizeof(text)) : fmt_value(pv, text, sizeof(text));
        grid_set(g, row, col++, text, n, false);
        n = human ? fmt_human(m, ch, true, text, sizeof(text)) : fmt_value(ch, text, sizeof(text));
        grid_set(g, row, col++, text, n, false);
    }
}

static void build_grid(const pm_report_t *r, bool human, grid_t *g)
{
    size_t first = (size_t)r->offset, end = first + (size_t)r->limit;
    if (end > r->norder) end = r->norder;
    size_t nrows = (end > first ? end - first : 0) + 1 + (human ? 1 : 0); /* header (+ totals) */
    size_t dims = 0;
    for (int p = 0; p < r->ngroup; p++) {
        const char *keys[2];
        dims += (size_t)header_cells(r, p, keys);
    }
    g->ncols = dims + (size_t)r->nmetrics * (r->compare ? 3 : 1);
    g->nrows = nrows;
    g->cells = pm_calloc(g->ncols * nrows, sizeof(char *));
    g->numeric = pm_calloc(g->ncols, sizeof(bool));
    g->outside = pm_calloc(g->ncols * nrows, sizeof(bool));
    size_t col = 0;
    for (int p = 0; p < r->ngroup; p++) {
        const char *keys[2];
        int n = header_cells(r, p, keys);
        for (int k = 0; k < n; k++, col++) {
            grid_set(g, 0, col, keys[k], strlen(keys[k]), false);
            g->numeric[col] = pm__rp_dims[r->group[p]].kind == PM__DK_ENTITY && k == 0;
        }
    }
    for (int i = 0; i < r->nmetrics; i++) {
        char name[64];
        g->numeric[col] = true;
        grid_set(g, 0, col++, r->metrics[i].name, strlen(r->metrics[i].name), false);
        if (!r->compare) continue;
        g->numeric[col] = g->numeric[col + 1] = true;
        int n = snprintf(name, sizeof(name), "%s_previous", r->metrics[i].name);
        grid_set(g, 0, col++, name, (size_t)n, false);
        n = snprintf(name, sizeof(name), "%s_change", r->metrics[i].name);
        grid_set(g, 0, col++, name, (size_t)n, false);
    }
    for (size_t i = first, row = 1; i < end; i++, row++) {
        const pm__rq_group_t *gr = &r->cur.g[r->order[i]];
        col = 0;
        for (int p = 0; p < r->ngroup; p++) {
            cell_t cells[2];
            int n = dim_cells(r, gr, p, cells);
            for (int k = 0; k < n; k++, col++)
                grid_set(g, row, col, cells[k].null ? (human ? "-" : "") : cells[k].s,
                         cells[k].null ? (human ? 1 : 0) : cells[k].len, cells[k].outside);
        }
        const pm__rq_group_t *pg = r->compare ? pm__rq_previous(r, gr) : NULL;
        grid_metrics(g, row, col, r, &gr->c, gr->types, pg ? &pg->c : &zero_counts, pg ? pg->types : zero_types, human);
    }
    if (human) {
        size_t row = nrows - 1;
        for (col = 0; col < dims; col++)
            grid_set(g, row, col, col == 0 ? "total" : "", col == 0 ? 5 : 0, false);
        grid_metrics(g, row, dims, r, &r->cur.total, r->cur.total_types, &r->prev.total, r->prev.total_types, true);
    }
}

static int csv_cell(pm_buf_t *b, const char *s, bool outside)
{
    size_t len = strlen(s);
    bool guard = outside && len && strchr("=+-@\t\r", s[0]);
    bool quote = guard || strpbrk(s, ",\"\r\n") != NULL;
    int rc = quote ? pm_buf_appendc(b, '"') : PM_OK;
    if (rc == PM_OK && guard) rc = pm_buf_appendc(b, '\'');
    for (size_t i = 0; rc == PM_OK && i < len; i++)
        rc = s[i] == '"' ? pm_buf_appends(b, "\"\"") : pm_buf_appendc(b, s[i]);
    if (rc == PM_OK && quote) rc = pm_buf_appendc(b, '"');
    return rc;
}

static int render_csv(const pm_report_t *r, pm_buf_t *b)
{
    grid_t g;
    build_grid(r, false, &g);
    int rc = PM_OK;
    for (size_t row = 0; rc == PM_OK && row < g.nrows; row++) {
        for (size_t col = 0; rc == PM_OK && col < g.ncols; col++) {
            if (col) rc = pm_buf_appendc(b, ',');
            if (rc == PM_OK) rc = csv_cell(b, g.cells[row * g.ncols + col], g.outside[row * g.ncols + col]);
        }
        if (rc == PM_OK) rc = pm_buf_appends(b, "\r\n");
    }
    grid_free(&g);
    return rc;
}

/* Display width of UTF-8 text: code points (wide characters count one). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

#define TABLE_CELL_MAX 40 /* longer text is cut with "..." */

static void clip(char **cell)
{
    if (width(*cell) <= TABLE_CELL_MAX) return;
    size_t i = 0, w = 0;
    for (; (*cell)[i] && w < TABLE_CELL_MAX - 3; i++)
        w += ((unsigned char)(*cell)[i] & 0xc0) != 0x80;
    while ((*cell)[i] && ((unsigned char)(*cell)[i] & 0xc0) == 0x80)
        i++;
    memcpy(*cell + i, "...", 4);
}

static int render_table(const pm_report_t *r, pm_buf_t *b)
{
    grid_t g;
    build_grid(r, true, &g);
    size_t *w = pm_calloc(g.ncols, sizeof(size_t));
    for (size_t i = 0; i < g.ncols * g.nrows; i++) {
        char *c = g.cells[i];
        size_t len = strlen(c);
        for (size_t k = 0; k < len; k++) /* control characters would break the layout */
            if ((unsigned char)c[k] < 0x20) c[k] = ' ';
        if (width(c) > TABLE_CELL_MAX) {
            g.cells[i] = pm_realloc(c, len + 4);
            clip(&g.cells[i]);
        }
        if (width(g.cells[i]) > w[i % g.ncols]) w[i % g.ncols] = width(g.cells[i]);
    }
    int rc = PM_OK;
    for (size_t row = 0; rc == PM_OK && row < g.nrows; row++) {
        if (row == g.nrows - 1 || row == 1) { /* rule under the header and over the totals */
            for (size_t col = 0; rc == PM_OK && col < g.ncols; col++)
                for (size_t k = 0; rc == PM_OK && k < w[col] + (col ? 2 : 0); k++)
                    rc = pm_buf_appendc(b, '-');
            if (rc == PM_OK) rc = pm_buf_appendc(b, '\n');
        }
        for (size_t col = 0; rc == PM_OK && col < g.ncols; col++) {
            const char *c = g.cells[row * g.ncols + col];
            size_t pad = w[col] - width(c);
            rc = pm_buf_printf(b, "%s%*s%s%*s", col ? "  " : "", g.numeric[col] ? (int)pad : 0, "", c,
                               g.numeric[col] || col == g.ncols - 1 ? 0 : (int)pad, "");
        }
        if (rc == PM_OK) rc = pm_buf_appendc(b, '\n');
    }
    if (rc == PM_OK && r->norder > (size_t)(r->offset + r->limit))
        rc = pm_buf_printf(b, "(%zu of %zu rows; see --limit and --offset)\n", g.nrows - 2, r->norder);
    pm_free(w);
    grid_free(&g);
    return rc;
}

int pm_report_render(const pm_report_t *r, pm_report_format_t fmt, pm_buf_t *out)
{
    if (PM_NEVER(!r->ran || r->tz == NULL)) return PM_EINVAL;
    switch (fmt) {
    case PM_REPORT_JSON: return render_json(r, out);
    case PM_REPORT_CSV: return render_csv(r, out);
    case PM_REPORT_TABLE: return render_table(r, out);
    }
    return PM_EINVAL;
}

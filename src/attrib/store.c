/*
 * store.c: journeys from the store (pm/attrib_store.h).
 *
 * Three passes over memory, one over the store:
 * 1. Read the touches (clicks, impressions) of [from - lookback, to) and the
 *    conversions of [from - click lookback, to) in ts order of each table,
 *    interning every visitor id and identity key ("u" + user id, "e" + email
 *    hash) as a node; an event that carries both a visitor id and an
 *    identity unites their nodes (union-find, union by size, path halving).
 * 2. Sort the events by (person = root node, ts, touches before a
 *    conversion at the same instant).
 * 3. Walk each person's events: an approved conversion in range takes the
 *    touches since the person's previous approved conversion that lie in
 *    its lookback window (clicks and impressions each their own); whatever
 *    touches in range follow the last conversion form a null journey.
 *
 * Only approved conversions cut journeys: pending and rejected ones are
 * not conversions (yet), so they neither count nor consume touches.
 */
#include "pm/attrib_store.h"
#include "pm/hash.h"
#include "pm/tz.h"

#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_US ((int64_t)86400 * PM_USEC_PER_SEC)
#define DEFAULT_RANGE_DAYS 30

enum { K_CLICK, K_IMPRESSION, K_CONVERSION };

/* One event as the journey builder needs it. */
typedef struct ev_s {
    int64_t ts;
    int64_t ref;    /* touch: traffic source or campaign id; conversion: revenue micros */
    uint32_t node;  /* the visitor's node, then its root */
    uint8_t kind;
    uint8_t usable; /* conversion: approved and in the reporting currency */
    uint8_t approved;
} ev_t;

/* --- the identity graph: interned keys and union-find ----------------------- */

typedef struct graph_s {
    char *blob;           /* keys, NUL-terminated, back to back */
    size_t blob_len, blob_cap;
    size_t *key_off;      /* node -> offset in blob */
    uint32_t *parent, *size;
    uint8_t *is_visitor;
    uint32_t n, cap;
    uint32_t *slots;      /* node + 1, open addressing */
    size_t nslots;        /* power of two */
} graph_t;

static size_t graph_slot(const graph_t *g, const char *k, size_t len)
{
    size_t mask = g->nslots - 1;
    for (size_t i = pm_hash64(k, len) & mask;; i = (i + 1) & mask) {
        uint32_t v = g->slots[i];
        if (v == 0) return i;
        const char *have = g->blob + g->key_off[v - 1];
        if (strlen(have) == len && memcmp(have, k, len) == 0) return i;
    }
}

static void graph_rehash(graph_t *g)
{
    pm_free(g->slots);
    g->nslots = g->nslots ? g->nslots * 2 : 1024;
    g->slots = pm_calloc(g->nslots, sizeof(*g->slots));
    for (uint32_t v = 0; v < g->n; v++) {
        const char *k = g->blob + g->key_off[v];
        g->slots[graph_slot(g, k, strlen(k))] = v + 1;
    }
}

/* The node of key `prefix` + k[0..len), added when new. */
static uint32_t graph_node(graph_t *g, char prefix, const char *k, size_t len)
{
    char tmp[300];
    if (len + 1 > sizeof(tmp)) len = sizeof(tmp) - 1; /* stored values are capped well below */
    tmp[0] = prefix;
    memcpy(tmp + 1, k, len);
    len++;
    if (2 * ((size_t)g->n + 1) > g->nslots) graph_rehash(g);
    size_t slot = graph_slot(g, tmp, len);
    if (g->slots[slot]) return g->slots[slot] - 1;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 1024;
        g->key_off = pm_realloc(g->key_off, g->cap * sizeof(*g->key_off));
        g->parent = pm_realloc(g->parent, g->cap * sizeof(*g->parent));
        g->size = pm_realloc(g->size, g->cap * sizeof(*g->size));
        g->is_visitor = pm_realloc(g->is_visitor, g->cap * sizeof(*g->is_visitor));
    }
    if (g->blob_len + len + 1 > g->blob_cap) {
        while (g->blob_len + len + 1 > g->blob_cap)
            g->blob_cap = g->blob_cap ? g->blob_cap * 2 : 65536;
        g->blob = pm_realloc(g->blob, g->blob_cap);
    }
    uint32_t v = g->n++;
    memcpy(g->blob + g->blob_len, tmp, len);
    g->blob[g->blob_len + len] = '\0';
    g->key_off[v] = g->blob_len;
    g->blob_len += len + 1;
    g->parent[v] = v;
    g->size[v] = 1;
    g->is_visitor[v] = prefix == 'v';
    g->slots[slot] = v + 1;
    return v;
}

static uint32_t graph_find(graph_t *g, uint32_t v)
{
    while (g->parent[v] != v) {
        g->parent[v] = g->parent[g->parent[v]];
        v = g->parent[v];
    }
    return v;
}

static void graph_union(graph_t *g, uint32_t a, uint32_t b)
{
    a = graph_find(g, a);
    b = graph_find(g, b);
    if (a == b) return;
    if (g->size[a] < g->size[b]) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    g->parent[b] = a;
    g->size[a] += g->size[b];
}

static void graph_free(graph_t *g)
{
    pm_free(g->blob);
    pm_free(g->key_off);
    pm_free(g->parent);
    pm_free(g->size);
    pm_free(g->is_visitor);
    pm_free(g->slots);
}

/* --- the query --------------------------------------------------------------- */

static const char *const param_names[] = {"model", "order", "from", "to", "tz", "by",
                                          "click_lookback", "impression_lookback", "impressions"};

void pm_attrib_query_init(pm_attrib_query_t *q)
{
    memset(q, 0, sizeof(*q));
    q->model = PM_ATTRIB_MARKOV;
    pm_attrib_options_default(&q->opts);
    q->by = PM_ATTRIB_BY_CHANNEL;
    q->click_lookback_days = 30;
    q->impression_lookback_days = 1;
    q->impressions = true;
    q->max_events = PM_ATTRIB_MAX_EVENTS_DEFAULT;
}

void pm_attrib_query_free(pm_attrib_query_t *q)
{
    if (q == NULL) return;
    pm_free(q->from_text);
    pm_free(q->to_text);
    pm_free(q->tz_text);
    q->from_text = q->to_text = q->tz_text = NULL;
}

bool pm_attrib_query_param_known(const char *name)
{
    for (size_t i = 0; i < PM_ARRAY_LEN(param_names); i++)
        if (strcmp(name, param_names[i]) == 0) return true;
    return false;
}

static int fail(pm_attrib_error_t *err, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(pm_attrib_error_t *err, int status, const char *code, const char *field, const char *fmt, ...)
{
    va_list ap;
    err->status = status;
    err->code = code;
    err->field = field;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return status == 500 ? PM_ESTORE : status == 422 && strcmp(code, "too_big") == 0 ? PM_ETOOBIG : PM_EINVAL;
}

static bool eq(const char *v, size_t len, const char *lit) { return strlen(lit) == len && memcmp(v, lit, len) == 0; }

static bool is_date(const char *v, size_t len)
{
    int y, m, d;
    return len == 10 && pm_date_parse(v, len, &y, &m, &d) == PM_OK;
}

static bool small_int(const char *v, size_t len, int lo, int hi, int *out)
{
    int x = 0;
    if (len == 0 || len > 4) return false;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        x = x * 10 + (v[i] - '0');
    }
    if (x < lo || x > hi) return false;
    *out = x;
    return true;
}

static int param_time(char **slot, const char *name, const char *v, size_t len, pm_attrib_error_t *err)
{
    pm_time_t t;
    if (!is_date(v, len) && pm_time_parse_rfc3339(v, len, &t) != PM_OK)
        return fail(err, 422, "invalid", name, "%s must be a date (YYYY-MM-DD) or an RFC 3339 time", name);
    pm_free(*slot);
    *slot = pm_strndup(v, len);
    return PM_OK;
}

static int param_model(pm_attrib_query_t *q, const char *v, size_t len, pm_attrib_error_t *err)
{
    char name[32];
    q->all_models = eq(v, len, "all");
    if (q->all_models) return PM_OK;
    if (len < sizeof(name)) {
        memcpy(name, v, len);
        name[len] = '\0';
        if (pm_attrib_model_parse(name, &q->model) == PM_OK) return PM_OK;
    }
    return fail(err, 422, "invalid", "model",
                "model must be markov, first, last, last_non_direct, linear, time_decay, position, shapley or all");
}

int pm_attrib_query_param(pm_attrib_query_t *q, const char *name, const char *v, size_t len, pm_attrib_error_t *err)
{
    int x;
    memset(err, 0, sizeof(*err));
    if (strcmp(name, "model") == 0) return param_model(q, v, len, err);
    if (strcmp(name, "from") == 0) return param_time(&q->from_text, "from", v, len, err);
    if (strcmp(name, "to") == 0) return param_time(&q->to_text, "to", v, len, err);
    if (strcmp(name, "tz") == 0) {
        if (len == 0 || len > 64) return fail(err, 422, "invalid", "tz", "tz must be an IANA time zone name");
        pm_free(q->tz_text);
        q->tz_text = pm_strndup(v, len);
        return PM_OK;
    }
    if (strcmp(name, "order") == 0) {
        if (!small_int(v, len, 1, PM_ATTRIB_MAX_ORDER, &x))
            return fail(err, 422, "invalid", "order", "order must be an integer from 1 to %d", PM_ATTRIB_MAX_ORDER);
        q->opts.markov_order = (unsigned)x;
        return PM_OK;
    }
    if (strcmp(name, "by") == 0) {
        if (eq(v, len, "channel")) q->by = PM_ATTRIB_BY_CHANNEL;
        else if (eq(v, len, "campaign")) q->by = PM_ATTRIB_BY_CAMPAIGN;
        else return fail(err, 422, "invalid", "by", "by must be channel or campaign");
        return PM_OK;
    }
    if (strcmp(name, "click_lookback") == 0 || strcmp(name, "impression_lookback") == 0) {
        bool click = name[0] == 'c';
        const char *field = click ? "click_lookback" : "impression_lookback";
        if (!small_int(v, len, 0, PM_ATTRIB_LOOKBACK_MAX_DAYS, &x))
            return fail(err, 422, "invalid", field, "%s must be a whole number of days from 0 to %d", field,
                        PM_ATTRIB_LOOKBACK_MAX_DAYS);
        *(click ? &q->click_lookback_days : &q->impression_lookback_days) = x;
        return PM_OK;
    }
    if (strcmp(name, "impressions") == 0) {
        if (eq(v, len, "include")) q->impressions = true;
        else if (eq(v, len, "exclude")) q->impressions = false;
        else return fail(err, 422, "invalid", "impressions", "impressions must be include or exclude");
        return PM_OK;
    }
    return fail(err, 422, "unknown_field", NULL, "unknown parameter \"%s\"", name);
}

/* --- settings and range -------------------------------------------------------- */

static int setting(sqlite3 *db, const char *key, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT value FROM settings WHERE key=?", -1, &st, NULL) != SQLITE_OK)
        return PM_ESTORE;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    const char *v = step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (v == NULL) {
        if (strcmp(key, "timezone") == 0) v = "UTC";
        else v = "USD";
    }
    snprintf(out, cap, "%s", v);
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? PM_OK : PM_ESTORE;
}

static int64_t local_midnight(const pm_tz_t *tz, int y, int m, int d, int add_days)
{
    int64_t local = (pm_days_from_civil(y, m, d) + add_days) * 86400;
    return pm_tz_local_to_utc(tz, local) * PM_USEC_PER_SEC;
}

/* from/to as UTC microseconds: dates are local midnights, `to` inclusive. */
static int resolve_range(pm_attrib_query_t *q, const pm_tz_t *tz, pm_attrib_error_t *err)
{
    int fy, fm, fd, ty, tm, td;
    int64_t now = pm_now() / PM_USEC_PER_SEC;
    int64_t today = (now + pm_tz_offset(tz, now)) / 86400;
    bool to_date = q->to_text == NULL || is_date(q->to_text, strlen(q->to_text));
    if (q->to_text == NULL) pm_civil_from_days(today, &ty, &tm, &td);
    else if (to_date) pm_ignore_rc(pm_date_parse(q->to_text, 10, &ty, &tm, &td));
    if (to_date) q->to = local_midnight(tz, ty, tm, td, 1);
    else pm_ignore_rc(pm_time_parse_rfc3339(q->to_text, strlen(q->to_text), &q->to));
    if (q->from_text == NULL) {
        int64_t base = to_date ? pm_days_from_civil(ty, tm, td) : today;
        pm_civil_from_days(base - (DEFAULT_RANGE_DAYS - 1), &fy, &fm, &fd);
        q->from = local_midnight(tz, fy, fm, fd, 0);
    } else if (is_date(q->from_text, strlen(q->from_text))) {
        pm_ignore_rc(pm_date_parse(q->from_text, 10, &fy, &fm, &fd));
        q->from = local_midnight(tz, fy, fm, fd, 0);
    } else {
        pm_ignore_rc(pm_time_parse_rfc3339(q->from_text, strlen(q->from_text), &q->from));
    }
    if (q->to <= q->from) return fail(err, 422, "invalid", "to", "to must be after from");
    if (q->to - q->from > (int64_t)PM_ATTRIB_RANGE_MAX_DAYS * DAY_US)
        return fail(err, 422, "invalid", "to", "the range is longer than %d days", PM_ATTRIB_RANGE_MAX_DAYS);
    return PM_OK;
}

static int resolve(sqlite3 *db, pm_attrib_query_t *q, pm_attrib_error_t *err)
{
    char name[128];
    pm_tz_t *tz = NULL;
    if (setting(db, "currency", q->currency, sizeof(q->currency)) != PM_OK ||
        (q->tz_text == NULL && setting(db, "timezone", name, sizeof(name)) != PM_OK))
        return fail(err, 500, "internal", NULL, "cannot read the settings");
    if (q->tz_text) snprintf(name, sizeof(name), "%s", q->tz_text);
    if (pm_tz_load(name, &tz) != PM_OK) {
        if (q->tz_text) return fail(err, 422, "invalid", "tz", "tz must be an IANA time zone name such as Europe/Berlin");
        return fail(err, 500, "internal", NULL, "the workspace time zone setting cannot be loaded");
    }
    snprintf(q->tz, sizeof(q->tz), "%s", name);
    int rc = resolve_range(q, tz, err);
    pm_tz_free(tz);
    return rc;
}

/* --- reading -------------------------------------------------------------------- */

typedef struct loader_s {
    sqlite3 *db;
    pm_attrib_query_t *q;
    pm_attrib_journeys_t *j;
    pm_attrib_load_stats_t *stats;
    pm_attrib_error_t *err;
    graph_t g;
    ev_t *ev;
    size_t nev, cap;
    /* channel ids in j by traffic source or campaign id */
    int64_t *ref_keys;
    uint32_t *ref_vals; /* channel id + 1 */
    size_t ref_slots;   /* power of two */
    size_t nrefs;
    uint32_t *touch_buf;
    double *age_buf;
} loader_t;

static int store_failed(loader_t *l, const char *what)
{
    pm_error("attribution: %s: %s", what, sqlite3_errmsg(l->db));
    return fail(l->err, 500, "internal", NULL, "the store could not be read (%s)", what);
}

static ev_t *push(loader_t *l)
{
    if (l->nev == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->ev = pm_realloc(l->ev, l->cap * sizeof(*l->ev));
    }
    ev_t *e = &l->ev[l->nev++];
    memset(e, 0, sizeof(*e));
    return e;
}

/* The node of the visitor in column `col`, uniting it with the identities
 * in columns `id_cols` (-1 for none). */
static uint32_t event_node(loader_t *l, sqlite3_stmt *st, int col, const int *id_cols, size_t nid)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    uint32_t node;
    if (v && *v) {
        node = graph_node(&l->g, 'v', v, (size_t)sqlite3_column_bytes(st, col));
    } else {
        char anon[32]; /* an event without a visitor is a person of its own */
        int n = snprintf(anon, sizeof(anon), "%zu", l->nev);
        node = graph_node(&l->g, 'a', anon, (size_t)n);
    }
    for (size_t i = 0; i < nid; i++) {
        const char *k = (const char *)sqlite3_column_text(st, id_cols[i]);
        if (k && *k) graph_union(&l->g, node, graph_node(&l->g, i == 0 ? 'u' : 'e', k, (size_t)sqlite3_column_bytes(st, id_cols[i])));
    }
    return node;
}

static int read_touches(loader_t *l, bool impressions)
{
    const pm_attrib_query_t *q = l->q;
    int days = impressions ? q->impression_lookback_days : q->click_lookback_days;
    const char *sql = impressions ? "SELECT ts, visitor_id, traffic_source_id, campaign_id, user_id FROM impressions"
                                    " WHERE ts >= ? AND ts < ?"
                                  : "SELECT ts, visitor_id, traffic_source_id, campaign_id, user_id FROM clicks"
                                    " WHERE ts >= ? AND ts < ?";
    static const int id_cols[] = {4};
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK) return store_failed(l, "touches");
    sqlite3_bind_int64(st, 1, q->from - (int64_t)days * DAY_US);
    sqlite3_bind_int64(st, 2, q->to);
    int step, rc = PM_OK;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (l->nev >= q->max_events) {
            rc = fail(l->err, 422, "too_big", "from", "more than %zu events in the range: narrow it", q->max_events);
            break;
        }
        uint32_t node = event_node(l, st, 1, id_cols, 1);
        ev_t *e = push(l);
        e->ts = sqlite3_column_int64(st, 0);
        e->kind = impressions ? K_IMPRESSION : K_CLICK;
        e->ref = sqlite3_column_int64(st, q->by == PM_ATTRIB_BY_CAMPAIGN ? 3 : 2);
        e->node = node;
    }
    if (rc == PM_OK && step != SQLITE_DONE) rc = store_failed(l, "touches");
    sqlite3_finalize(st);
    return rc;
}

static int read_conversions(loader_t *l)
{
    const pm_attrib_query_t *q = l->q;
    static const int id_cols[] = {5, 6};
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT ts, visitor_id, status, revenue_micros, revenue_currency, user_id, email_hash"
                      " FROM conversions WHERE ts >= ? AND ts < ?";
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK) return store_failed(l, "conversions");
    sqlite3_bind_int64(st, 1, q->from - (int64_t)q->click_lookback_days * DAY_US);
    sqlite3_bind_int64(st, 2, q->to);
    int step, rc = PM_OK;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (l->nev >= q->max_events) {
            rc = fail(l->err, 422, "too_big", "from", "more than %zu events in the range: narrow it", q->max_events);
            break;
        }
        uint32_t node = event_node(l, st, 1, id_cols, 2);
        const char *status = (const char *)sqlite3_column_text(st, 2);
        const char *currency = (const char *)sqlite3_column_text(st, 4);
        ev_t *e = push(l);
        e->ts = sqlite3_column_int64(st, 0);
        e->kind = K_CONVERSION;
        e->node = node;
        e->ref = sqlite3_column_int64(st, 3);
        e->approved = status && strcmp(status, "approved") == 0;
        /* No revenue and no currency is still a conversion worth 0. */
        e->usable = e->approved && ((currency && strcmp(currency, q->currency) == 0) || (currency == NULL && e->ref == 0));
    }
    if (rc == PM_OK && step != SQLITE_DONE) rc = store_failed(l, "conversions");
    sqlite3_finalize(st);
    return rc;
}

/* --- channels -------------------------------------------------------------------- */

static size_t ref_slot(const loader_t *l, int64_t key)
{
    size_t mask = l->ref_slots - 1;
    for (size_t i = (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 20) & mask;; i = (i + 1) & mask)
        if (l->ref_vals[i] == 0 || l->ref_keys[i] == key) return i;
}

static void ref_grow(loader_t *l)
{
    int64_t *keys = l->ref_keys;
    uint32_t *vals = l->ref_vals;
    size_t n = l->ref_slots;
    l->ref_slots = n ? n * 2 : 64;
    l->ref_keys = pm_calloc(l->ref_slots, sizeof(*l->ref_keys));
    l->ref_vals = pm_calloc(l->ref_slots, sizeof(*l->ref_vals));
    for (size_t i = 0; i < n; i++) {
        if (vals[i] == 0) continue;
        size_t s = ref_slot(l, keys[i]);
        l->ref_keys[s] = keys[i];
        l->ref_vals[s] = vals[i];
    }
    pm_free(keys);
    pm_free(vals);
}

/* The name of traffic source `id` ("source #<id>" when it has none). */
static int source_name(loader_t *l, int64_t id, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db, "SELECT name FROM traffic_sources WHERE id=?", -1, &st, NULL) != SQLITE_OK)
        return store_failed(l, "traffic sources");
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st);
    const char *name = step == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (name && *name) snprintf(out, cap, "%s", name);
    else if (id) snprintf(out, cap, "source #%lld", (long long)id);
    else snprintf(out, cap, "(none)");
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? PM_OK : store_failed(l, "traffic sources");
}

/* The channel id in j of a touch's source or campaign. */
static int channel_of(loader_t *l, int64_t ref, uint32_t *out)
{
    if (2 * (l->nrefs + 1) > l->ref_slots) ref_grow(l);
    size_t s = ref_slot(l, ref);
    if (l->ref_vals[s]) {
        *out = l->ref_vals[s] - 1;
        return PM_OK;
    }
    char name[300];
    int rc = PM_OK;
    if (l->q->by == PM_ATTRIB_BY_CAMPAIGN) snprintf(name, sizeof(name), "%lld", (long long)ref);
    else rc = source_name(l, ref, name, sizeof(name));
    if (rc == PM_OK) rc = pm_attrib_channel_intern(l->j, name, strlen(name), out);
    if (rc == PM_ETOOBIG) return fail(l->err, 422, "too_big", "by", "too many channels");
    if (rc != PM_OK) return fail(l->err, 500, "internal", NULL, "cannot name channel %lld", (long long)ref);
    l->ref_keys[s] = ref;
    l->ref_vals[s] = *out + 1;
    l->nrefs++;
    return PM_OK;
}

/* --- journeys -------------------------------------------------------------------- */

static int ev_cmp(const void *a, const void *b)
{
    const ev_t *x = a, *y = b;
    if (x->node != y->node) return x->node < y->node ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return (int)(x->kind == K_CONVERSION) - (int)(y->kind == K_CONVERSION);
}

/* Add the touches among ev[lo..hi) as one journey: for conversion `conv`
 * those in its lookback windows, for a null journey (conv NULL) those in
 * range. Other conversions in between (not approved) are not touches. */
static int add_journey(loader_t *l, size_t lo, size_t hi, const ev_t *conv)
{
    const pm_attrib_query_t *q = l->q;
    size_t n = 0;
    bool truncated = false;
    int rc = PM_OK;
    for (size_t i = lo; i < hi; i++) {
        const ev_t *e = &l->ev[i];
        if (e->kind == K_CONVERSION) continue;
        if (conv) {
            int64_t window = (e->kind == K_CLICK ? q->click_lookback_days : q->impression_lookback_days) * DAY_US;
            if (e->ts < conv->ts - window) continue;
        } else if (e->ts < q->from) {
            continue;
        }
        if (n == PM_ATTRIB_STORE_MAX_TOUCHES) { /* keep the most recent */
            memmove(l->touch_buf, l->touch_buf + 1, (n - 1) * sizeof(*l->touch_buf));
            memmove(l->age_buf, l->age_buf + 1, (n - 1) * sizeof(*l->age_buf));
            n--;
            truncated = true;
        }
        if ((rc = channel_of(l, e->ref, &l->touch_buf[n])) != PM_OK) return rc;
        l->age_buf[n++] = conv ? (double)(conv->ts - e->ts) / (double)DAY_US : 0;
    }
    if (n == 0) {
        if (conv) l->stats->untouched++;
        return PM_OK;
    }
    if (truncated) l->stats->truncated++;
    if (conv) {
        rc = pm_attrib_journeys_add(l->j, l->touch_buf, n, l->age_buf, 1, (double)conv->ref / 1e6, 0);
        l->stats->converting_journeys++;
        l->stats->conversions++;
        l->stats->value_micros += conv->ref;
    } else {
        rc = pm_attrib_journeys_add(l->j, l->touch_buf, n, NULL, 0, 0, 1);
        l->stats->null_journeys++;
    }
    if (rc == PM_ETOOBIG) return fail(l->err, 422, "too_big", "from", "too many journeys in the range: narrow it");
    return rc == PM_OK ? PM_OK : fail(l->err, 500, "internal", NULL, "cannot add a journey: %s", pm_strerror(rc));
}

/* One person's events ev[lo..hi), sorted by time. */
static int person_journeys(loader_t *l, size_t lo, size_t hi)
{
    size_t seg = lo;
    int rc = PM_OK;
    for (size_t i = lo; rc == PM_OK && i < hi; i++) {
        const ev_t *e = &l->ev[i];
        if (e->kind != K_CONVERSION || !e->approved) continue;
        if (e->ts >= l->q->from) {
            if (!e->usable) l->stats->other_currency++;
            else rc = add_journey(l, seg, i, e);
        }
        seg = i + 1;
    }
    if (rc == PM_OK) rc = add_journey(l, seg, hi, NULL);
    return rc;
}

/* Group the events by person and build every person's journeys. */
static int build(loader_t *l)
{
    for (size_t i = 0; i < l->nev; i++)
        l->ev[i].node = graph_find(&l->g, l->ev[i].node);
    if (l->nev) qsort(l->ev, l->nev, sizeof(*l->ev), ev_cmp);
    l->touch_buf = pm_malloc(PM_ATTRIB_STORE_MAX_TOUCHES * sizeof(*l->touch_buf));
    l->age_buf = pm_malloc(PM_ATTRIB_STORE_MAX_TOUCHES * sizeof(*l->age_buf));
    int rc = PM_OK;
    for (size_t lo = 0, hi; rc == PM_OK && lo < l->nev; lo = hi) {
        for (hi = lo + 1; hi < l->nev && l->ev[hi].node == l->ev[lo].node;)
            hi++;
        rc = person_journeys(l, lo, hi);
    }
    /* Visitors that share their person with another visitor. */
    uint32_t *visitors = pm_calloc(l->g.n ? l->g.n : 1, sizeof(*visitors));
    for (uint32_t v = 0; v < l->g.n; v++)
        if (l->g.is_visitor[v]) visitors[graph_find(&l->g, v)]++;
    for (uint32_t v = 0; v < l->g.n; v++)
        if (l->g.is_visitor[v] && visitors[graph_find(&l->g, v)] > 1) l->stats->linked_visitors++;
    pm_free(visitors);
    return rc;
}

int pm_attrib_store_load(sqlite3 *db, pm_attrib_query_t *q, pm_attrib_journeys_t *j, pm_attrib_load_stats_t *stats,
                         pm_attrib_error_t *err)
{
    loader_t l = {.db = db, .q = q, .j = j, .stats = stats, .err = err};
    memset(err, 0, sizeof(*err));
    memset(stats, 0, sizeof(*stats));
    bool own_txn = sqlite3_get_autocommit(db) != 0;
    if (own_txn && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) return store_failed(&l, "begin");
    int rc = resolve(db, q, err);
    if (rc == PM_OK) rc = read_touches(&l, false);
    if (rc == PM_OK && q->impressions) rc = read_touches(&l, true);
    if (rc == PM_OK) rc = read_conversions(&l);
    if (rc == PM_OK) {
        stats->events = l.nev;
        rc = build(&l);
    }
    if (own_txn) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    graph_free(&l.g);
    pm_free(l.ev);
    pm_free(l.ref_keys);
    pm_free(l.ref_vals);
    pm_free(l.touch_buf);
    pm_free(l.age_buf);
    return rc;
}

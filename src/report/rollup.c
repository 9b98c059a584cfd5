/*
 * rollup.c: the report rollups and the sink that keeps them.
 *
 * Rollups are derived from the event tables, consumed in rowid order (rows
 * are appended by the materializer) past a watermark per table kept in
 * report_meta. Catching up reads the new rows, aggregates their cells in
 * memory per cube row (cube, tier, bucket, key, currency), then writes one
 * UPSERT per distinct row and moves the watermarks, all in one transaction:
 * the watermark commits with the counters, so no row is counted twice or
 * lost, whatever crashes or rolls back.
 *
 * The sink (pm_report_sink) runs the catch-up inside the materializer's
 * transaction every CATCHUP_EVENTS new events or CATCHUP_US: a burst of
 * 4000 events costs 4000 row reads and one UPSERT per distinct rollup row
 * instead of ~20 UPSERTs per event (measured 10k events/s that way, 18-33k/s
 * batched on bulk history; docs/reports.md). The rows past the watermark
 * (the tail) are few; reports read them raw through the same feed and
 * credit code (report.c), so answers are exact and current.
 *
 * Unique clicks: report_seen holds, per (UTC day, campaign, visitor), the
 * click credited with the unique: the visitor's first click by id (ids are
 * time-ordered). A click earlier than the credited one (lineages are
 * materialized in turn, so it can come later) takes the credit: -1 unique
 * on the click that had it, +1 on the new one. The result does not depend
 * on arrival order, which lets the raw path compute it with a window
 * function and compare.
 */
#include "report_internal.h"

#include <stdio.h>
#include <string.h>

#define CATCHUP_EVENTS 4000
#define CATCHUP_US     (1 * PM_USEC_PER_SEC)
/* Bulk catch-ups (at open: an upgrade, a rebuild, bench-load) read up to
 * CATCHUP_MAX_ROWS rows and stop early once they hold
 * CATCHUP_MAX_AGGREGATES fine-tier rows (~150 MiB with their day rows):
 * dense traffic collapses into few rows per event and goes in long
 * batches, sparse history in short ones, in bounded memory either way. */
#define CATCHUP_MAX_ROWS       1000000
#define CATCHUP_MAX_AGGREGATES 600000

/* --- small hash map of byte keys ------------------------------------------------ */

typedef struct entry_s {
    uint32_t key_off, key_len, hash;
    int64_t c[PM__RC_COUNT];
} entry_t;

typedef struct map_s {
    entry_t *e;
    size_t n, cap, nslots;
    uint32_t *slots; /* index + 1 */
    pm_buf_t keys;
} map_t;

/* Eight bytes a round (the keys are 16-byte heads plus ids and short
 * strings): a byte-at-a-time FNV was a visible share of every click. The
 * hash only places entries in memory; nothing stores it. */
static uint32_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n, w;
    for (; n >= 8; b += 8, n -= 8) {
        memcpy(&w, b, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)b[i] << (8 * i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (uint32_t)h;
}

static void map_init(map_t *m)
{
    memset(m, 0, sizeof(*m)), pm_buf_init(&m->keys, (size_t)1 << 31);
}

static void map_free(map_t *m)
{
    pm_free(m->e);
    pm_free(m->slots);
    pm_buf_free(&m->keys);
    memset(m, 0, sizeof(*m));
}

static void map_reset(map_t *m)
{
    m->n = 0;
    pm_buf_reset(&m->keys);
    if (m->slots) memset(m->slots, 0, m->nslots * sizeof(uint32_t));
}

static void map_rehash(map_t *m, size_t nslots)
{
    pm_free(m->slots);
    m->slots = pm_calloc(nslots, sizeof(uint32_t));
    m->nslots = nslots;
    for (size_t i = 0; i < m->n; i++) {
        size_t h = m->e[i].hash & (nslots - 1);
        while (m->slots[h])
            h = (h + 1) & (nslots - 1);
        m->slots[h] = (uint32_t)i + 1;
    }
}

/* The entry for `key`, created zeroed when new. */
static entry_t *map_get(map_t *m, const void *key, size_t len)
{
    uint32_t hash = hash_bytes(key, len);
    if ((m->n + 1) * 2 > m->nslots) map_rehash(m, m->nslots ? m->nslots * 2 : 4096);
    size_t h = hash & (m->nslots - 1);
    for (; m->slots[h]; h = (h + 1) & (m->nslots - 1)) {
        entry_t *e = &m->e[m->slots[h] - 1];
        if (e->hash == hash && e->key_len == len && memcmp(m->keys.data + e->key_off, key, len) == 0) return e;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 4096;
        m->e = pm_realloc(m->e, m->cap * sizeof(*m->e));
    }
    entry_t *e = &m->e[m->n];
    memset(e, 0, sizeof(*e));
    e->key_off = (uint32_t)m->keys.len;
    e->key_len = (uint32_t)len;
    e->hash = hash;
    if (pm_buf_append(&m->keys, key, len) != PM_OK) pm_panic("report: rollup key space exhausted");
    m->slots[h] = (uint32_t)++m->n;
    return e;
}

/* --- unique-click credits -------------------------------------------------------- */

typedef struct credit_s {
    int64_t day, campaign;
    uint8_t visitor[16], credited[16];
    bool used, dirty, absent; /* absent: no credit anywhere yet (credited unset) */
} credit_t;

struct pm__rp_credits_s {
    sqlite3 *db;
    sqlite3_stmt *get, *put, *click;
    credit_t *slots;
    size_t nslots, n;
};

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK) return PM_OK;
    pm_error("report: prepare failed: %s: %s", sqlite3_errmsg(db), sql);
    return PM_ESTORE;
}

int pm__rp_credits_create(sqlite3 *db, pm__rp_credits_t **out)
{
    pm__rp_credits_t *c = pm_calloc(1, sizeof(*c));
    char click_sql[1024];
    c->db = db;
    pm__rp_event_select(PM_EV_CLICK, false, "WHERE id=?", click_sql, sizeof(click_sql));
    int rc = prepare(db, "SELECT click_id FROM report_seen WHERE day=? AND campaign_id=? AND visitor_id=?", &c->get);
    if (rc == PM_OK)
        rc = prepare(db, "INSERT OR REPLACE INTO report_seen(day, campaign_id, visitor_id, click_id) VALUES(?,?,?,?)",
                     &c->put);
    if (rc == PM_OK) rc = prepare(db, click_sql, &c->click);
    if (rc != PM_OK) {
        pm__rp_credits_destroy(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

void pm__rp_credits_destroy(pm__rp_credits_t *c)
{
    if (c == NULL) return;
    sqlite3_finalize(c->get);
    sqlite3_finalize(c->put);
    sqlite3_finalize(c->click);
    pm_free(c->slots);
    pm_free(c);
}

static size_t credit_hash(int64_t day, int64_t campaign, const uint8_t *visitor)
{
    uint8_t k[32];
    memcpy(k, &day, 8);
    memcpy(k + 8, &campaign, 8);
    memcpy(k + 16, visitor, 16);
    return hash_bytes(k, sizeof(k));
}

static void credits_grow(pm__rp_credits_t *c)
{
    credit_t *old = c->slots;
    size_t n = c->nslots;
    c->nslots = n ? n * 2 : 4096;
    c->slots = pm_calloc(c->nslots, sizeof(credit_t));
    for (size_t i = 0; i < n; i++) {
        if (!old[i].used) continue;
        size_t h = credit_hash(old[i].day, old[i].campaign, old[i].visitor) & (c->nslots - 1);
        while (c->slots[h].used)
            h = (h + 1) & (c->nslots - 1);
        c->slots[h] = old[i];
    }
    pm_free(old);
}

/* The overlay entry of (day, campaign, visitor), loaded from report_seen
 * on first use. NULL on a store failure. */
static credit_t *credit_entry(pm__rp_credits_t *c, int64_t day, int64_t campaign, const uint8_t *visitor)
{
    if ((c->n + 1) * 2 > c->nslots) credits_grow(c);
    size_t h = credit_hash(day, campaign, visitor) & (c->nslots - 1);
    for (; c->slots[h].used; h = (h + 1) & (c->nslots - 1)) {
        credit_t *e = &c->slots[h];
        if (e->day == day && e->campaign == campaign && memcmp(e->visitor, visitor, 16) == 0) return e;
    }
    credit_t *e = &c->slots[h];
    memset(e, 0, sizeof(*e));
    e->used = true;
    e->day = day;
    e->campaign = campaign;
    memcpy(e->visitor, visitor, 16);
    sqlite3_bind_int64(c->get, 1, day);
    sqlite3_bind_int64(c->get, 2, campaign);
    sqlite3_bind_blob(c->get, 3, visitor, 16, SQLITE_STATIC);
    int step = sqlite3_step(c->get);
    e->absent = step != SQLITE_ROW || sqlite3_column_bytes(c->get, 0) != 16;
    if (!e->absent) memcpy(e->credited, sqlite3_column_blob(c->get, 0), 16);
    sqlite3_reset(c->get);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        pm_error("report: report_seen: %s", sqlite3_errmsg(c->db));
        e->used = false;
        return NULL;
    }
    c->n++;
    return e;
}

/* Forget the overlay (the statements stay): the next use reloads from
 * report_seen, which may have been rolled back since. */
static void credits_clear(pm__rp_credits_t *c)
{
    if (c->nslots > 65536) { /* grown by a bulk catch-up: not worth clearing each time */
        pm_free(c->slots);
        c->slots = NULL;
        c->nslots = 0;
    }
    if (c->slots) memset(c->slots, 0, c->nslots * sizeof(credit_t));
    c->n = 0;
}

int pm__rp_credits_save(pm__rp_credits_t *c)
{
    for (size_t i = 0; i < c->nslots; i++) {
        credit_t *e = &c->slots[i];
        if (!e->used || !e->dirty) continue;
        sqlite3_bind_int64(c->put, 1, e->day);
        sqlite3_bind_int64(c->put, 2, e->campaign);
        sqlite3_bind_blob(c->put, 3, e->visitor, 16, SQLITE_STATIC);
        sqlite3_bind_blob(c->put, 4, e->credited, 16, SQLITE_STATIC);
        int step = sqlite3_step(c->put);
        sqlite3_reset(c->put);
        if (step != SQLITE_DONE) {
            pm_error("report: report_seen write: %s", sqlite3_errmsg(c->db));
            return PM_ESTORE;
        }
        e->dirty = false;
    }
    return PM_OK;
}

/* --- feeding -------------------------------------------------------------------- */

/* Click `id` (text form of `b`) loses its unique: emit -1 on its cells. */
static int take_credit_from(const pm__rp_feed_t *f, const uint8_t *b)
{
    pm_id_t id;
    char text[PM_ID_LEN + 1];
    memcpy(id.b, b, 16);
    pm_id_format(&id, text);
    sqlite3_stmt *st = f->credits->click;
    sqlite3_bind_text(st, 1, text, PM_ID_LEN, SQLITE_STATIC);
    int step = sqlite3_step(st), rc = PM_OK;
    if (step == SQLITE_ROW) {
        pm_event_t old;
        pm__rp_cell_t cells[PM__RP_MAX_CELLS], only;
        pm__rp_row_event(st, PM_EV_CLICK, &old);
        pm__rp_cells(&old, true, cells);
        memset(&only, 0, sizeof(only));
        memcpy(only.currency, cells[0].currency, sizeof(only.currency));
        only.c[PM__RC_UNIQUE_CLICKS] = 1;
        /* Take back only what was given: a bot click held no unique. */
        if (cells[0].c[PM__RC_UNIQUE_CLICKS]) f->emit(f->ctx, &old, &only, 1, -1);
    } else if (step != SQLITE_DONE) {
        pm_error("report: click lookup: %s", sqlite3_errmsg(f->db));
        rc = PM_ESTORE;
    } else {
        PM_NEVER(1); /* the credited click is in the store */
    }
    sqlite3_reset(st);
    return rc;
}

/* Does click `ev` hold the unique of its (day, campaign, visitor)? */
static int credit(const pm__rp_feed_t *f, const pm_event_t *ev, bool *unique)
{
    *unique = true;
    if (pm_id_is_zero(&ev->visitor_id)) return PM_OK;
    credit_t *e = credit_entry(f->credits, pm__rp_bucket(PM__TIER_DAY, ev->ts), ev->campaign_id, ev->visitor_id.b);
    if (e == NULL) return PM_ESTORE;
    int cmp = e->absent ? 1 : memcmp(e->credited, ev->id.b, 16);
    if (cmp < 0) {
        *unique = false;
        return PM_OK;
    }
    if (cmp == 0) return PM_OK;
    uint8_t previous[16];
    bool had = !e->absent;
    memcpy(previous, e->credited, 16);
    memcpy(e->credited, ev->id.b, 16);
    e->absent = false;
    e->dirty = true;
    return had ? take_credit_from(f, previous) : PM_OK;
}

/* The statement over the `type` table's rows past ?1 in rowid order;
 * `limited`: at most ?2, prepared to be kept (a catch-up's), else for one
 * use (the tail's). NULL on a store failure. */
static sqlite3_stmt *feed_stmt(sqlite3 *db, pm_event_type_t type, bool limited)
{
    char sql[1024];
    sqlite3_stmt *st = NULL;
    pm__rp_event_select(type, false,
                        limited ? "WHERE rowid > ?1 ORDER BY rowid LIMIT ?2" : "WHERE rowid > ?1 ORDER BY rowid", sql,
                        sizeof(sql));
    if (sqlite3_prepare_v3(db, sql, -1, limited ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) == SQLITE_OK) return st;
    pm_error("report: feed: %s", sqlite3_errmsg(db));
    return NULL;
}

/* Feed row `ev` of the `type` table, the current row of `st`: its unique
 * credit (clicks), its cells, their sign. */
static int feed_row(const pm__rp_feed_t *f, sqlite3_stmt *st, pm_event_type_t type, const pm_event_t *ev)
{
    pm__rp_cell_t cells[PM__RP_MAX_CELLS];
    bool unique = false;
    int rc = type == PM_EV_CLICK ? credit(f, ev, &unique) : PM_OK;
    int n = pm__rp_cells(ev, unique, cells), sign = sqlite3_column_int(st, pm__rp_sign_col());
    if (rc == PM_OK && n > 0) f->emit(f->ctx, ev, cells, n, sign);
    return rc;
}

int pm__rp_feed(const pm__rp_feed_t *f, pm_event_type_t type, int64_t after, int64_t *last, int64_t *count)
{
    sqlite3_stmt *st = feed_stmt(f->db, type, false);
    *last = after;
    *count = 0;
    if (st == NULL) return PM_ESTORE;
    sqlite3_bind_int64(st, 1, after);
    int rc = PM_OK, step;
    while (rc == PM_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        pm_event_t ev;
        pm__rp_row_event(st, type, &ev);
        *last = sqlite3_column_int64(st, pm__rp_rowid_col());
        (*count)++;
        rc = feed_row(f, st, type, &ev);
    }
    if (rc == PM_OK && step != SQLITE_DONE) {
        pm_error("report: feed: %s", sqlite3_errmsg(f->db));
        rc = PM_ESTORE;
    }
    sqlite3_finalize(st);
    return rc;
}

/* --- watermarks ------------------------------------------------------------------- */

static void hwm_key(pm_event_type_t type, char *out, size_t cap)
{
    snprintf(out, cap, "rowid:%s", pm__rp_table_name(type));
}

#define HWM_GET_SQL  "SELECT CAST(value AS INTEGER) FROM report_meta WHERE key=?"
#define META_SET_SQL "INSERT OR REPLACE INTO report_meta(key, value) VALUES(?, ?)"

/* pm__rp_hwm_get on a prepared HWM_GET_SQL (reset, not finalized). */
static int hwm_get_with(sqlite3_stmt *st, pm_event_type_t type, int64_t *rowid)
{
    char key[64];
    hwm_key(type, key, sizeof(key));
    *rowid = 0;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) *rowid = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? PM_OK : PM_ESTORE;
}

int pm__rp_hwm_get(sqlite3 *db, pm_event_type_t type, int64_t *rowid)
{
    sqlite3_stmt *st = NULL;
    *rowid = 0;
    if (sqlite3_prepare_v2(db, HWM_GET_SQL, -1, &st, NULL) != SQLITE_OK) return PM_ESTORE;
    int rc = hwm_get_with(st, type, rowid);
    sqlite3_finalize(st);
    return rc;
}

/* report_meta[key] = value on a prepared META_SET_SQL (reset after). */
static int meta_set_with(sqlite3_stmt *st, const char *key, const char *value)
{
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return step == SQLITE_DONE ? PM_OK : PM_ESTORE;
}

static int meta_set(sqlite3 *db, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, META_SET_SQL, -1, &st, NULL) != SQLITE_OK) return PM_ESTORE;
    int rc = meta_set_with(st, key, value);
    sqlite3_finalize(st);
    return rc;
}

/* --- the rollup writer ------------------------------------------------------------ */

struct pm__rp_rollup_s {
    sqlite3 *db;
    sqlite3_stmt *upsert[PM__CUBE__COUNT][PM__TIER__COUNT];
    /* Prepared once (the feeds on first use), used by every catch-up: the
     * watermarks, the feeds and the credit overlay (cleared per catch-up). */
    sqlite3_stmt *hwm_get, *meta_set, *feed[PM_EV__MAX];
    pm__rp_credits_t *credits;
    map_t rows;
    int dim_campaign, dim_source;
    int64_t rows_read; /* event rows rolled up by this handle, for progress reports */
};

/* INSERT ... ON CONFLICT(key) DO UPDATE SET counter = counter + excluded.counter. */
static int prepare_upsert(sqlite3 *db, const pm__rp_cube_t *c, int tier, sqlite3_stmt **st)
{
    char sql[2048], keys[256] = "", vals[128] = "";
    size_t k = 0, v = 0, n;
    for (const pm__rp_col_t *col = c->cols; col->kind != PM__COL_END; col++) {
        k += (size_t)snprintf(keys + k, sizeof(keys) - k, "%s%s", k ? "," : "", pm__rp_col_name(col));
        v += (size_t)snprintf(vals + v, sizeof(vals) - v, "%s?", v ? "," : "");
    }
    n = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO %s_%c(%s", c->table, pm__rp_tier_suffix[tier], keys);
    for (int i = 0; i < PM__RC_COUNT; i++)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, ",%s", pm__rp_counter_cols[i]);
    n += (size_t)snprintf(sql + n, sizeof(sql) - n, ") VALUES(%s", vals);
    for (int i = 0; i < PM__RC_COUNT; i++)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, ",?");
    n += (size_t)snprintf(sql + n, sizeof(sql) - n, ") ON CONFLICT(%s) DO UPDATE SET ", keys);
    for (int i = 0; i < PM__RC_COUNT; i++)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s=%s+excluded.%s", i ? "," : "", pm__rp_counter_cols[i],
                              pm__rp_counter_cols[i], pm__rp_counter_cols[i]);
    if (PM_NEVER(n >= sizeof(sql))) return PM_ETOOBIG;
    return prepare(db, sql, st);
}

int pm__rp_rollup_open(sqlite3 *db, pm__rp_rollup_t **out)
{
    pm__rp_rollup_t *r = pm_calloc(1, sizeof(*r));
    int rc = PM_OK;
    r->db = db;
    r->dim_campaign = pm__rp_dim_by_src(PM__SRC_CAMPAIGN);
    r->dim_source = pm__rp_dim_by_src(PM__SRC_SOURCE);
    /* day_rows() relies on the per-dimension cube's key starting with the
     * campaign and the source (two 8-byte entities after the head). */
    const pm__rp_col_t *dc = pm__rp_cubes[PM__CUBE_DIM].cols;
    if (PM_NEVER(dc[0].kind != PM__COL_CODE || dc[1].kind != PM__COL_DIM || dc[1].dim != r->dim_campaign ||
                 dc[2].kind != PM__COL_BUCKET || dc[3].kind != PM__COL_DIM || dc[3].dim != r->dim_source))
        rc = PM_EINVAL;
    map_init(&r->rows);
    for (int c = 0; rc == PM_OK && c < PM__CUBE__COUNT; c++)
        for (int t = 0; rc == PM_OK && t < PM__TIER__COUNT; t++)
            rc = prepare_upsert(db, &pm__rp_cubes[c], t, &r->upsert[c][t]);
    if (rc == PM_OK) rc = prepare(db, HWM_GET_SQL, &r->hwm_get);
    if (rc == PM_OK) rc = prepare(db, META_SET_SQL, &r->meta_set);
    if (rc == PM_OK) rc = pm__rp_credits_create(db, &r->credits);
    if (rc != PM_OK) {
        pm__rp_rollup_close(r);
        r = NULL;
    }
    *out = r;
    return rc;
}

void pm__rp_rollup_close(pm__rp_rollup_t *r)
{
    if (r == NULL) return;
    for (int c = 0; c < PM__CUBE__COUNT; c++)
        for (int t = 0; t < PM__TIER__COUNT; t++)
            sqlite3_finalize(r->upsert[c][t]);
    sqlite3_finalize(r->hwm_get);
    sqlite3_finalize(r->meta_set);
    for (int t = 0; t < PM_EV__MAX; t++)
        sqlite3_finalize(r->feed[t]);
    pm__rp_credits_destroy(r->credits);
    map_free(&r->rows);
    pm_free(r);
}

/* Row key: cube, tier, coded dimension, bucket, currency, then the key
 * columns' values in column order (entity: 8 bytes; text: length + bytes). */
#define KEY_HEAD 16
#define KEY_MAX  (KEY_HEAD + PM__RP_MAX_COLS * (4 + 1024))

static size_t row_key(int cube, int tier, int coded, int64_t bucket, const char *currency, const pm__rp_vals_t *v,
                      uint8_t *key)
{
    memset(key, 0, KEY_HEAD);
    key[0] = (uint8_t)cube;
    key[1] = (uint8_t)tier;
    key[2] = (uint8_t)(coded < 0 ? 0xff : coded);
    memcpy(key + 4, &bucket, 8);
    memcpy(key + 12, currency, 4);
    size_t n = KEY_HEAD;
    for (const pm__rp_col_t *col = pm__rp_cubes[cube].cols; col->kind != PM__COL_END; col++) {
        if (col->kind != PM__COL_DIM && col->kind != PM__COL_VALUE) continue;
        int d = col->kind == PM__COL_VALUE ? coded : col->dim;
        const pm__rp_val_t *x = &v->v[d];
        if (pm__rp_dims[d].kind == PM__DK_ENTITY) {
            memcpy(key + n, &x->i, 8);
            n += 8;
        } else {
            uint32_t len = x->len > 1024 ? 1024 : x->len;
            memcpy(key + n, &len, 4);
            memcpy(key + n + 4, x->s, len);
            n += 4 + len;
        }
    }
    return n;
}

static void add_row(pm__rp_rollup_t *r, int cube, int tier, int coded, int64_t bucket, const pm__rp_vals_t *v,
                    const pm__rp_cell_t *cell, int sign)
{
    uint8_t key[KEY_MAX];
    size_t n = row_key(cube, tier, coded, bucket, cell->currency, v, key);
    entry_t *e = map_get(&r->rows, key, n);
    for (int k = 0; k < PM__RC_COUNT; k++)
        e->c[k] += sign * cell->c[k];
}

/* The emit callback of a catch-up: the fine tier of every cube; the day
 * and week tiers are summed from the fine rows at the end (day_rows), a third of the
 * map lookups per event. */
static void rollup_emit(void *ctx, const pm_event_t *ev, const pm__rp_cell_t *cells, int n, int sign)
{
    pm__rp_rollup_t *r = ctx;
    pm__rp_vals_t v, all;
    pm__rp_event_values(ev, &v);
    all = v;
    all.v[r->dim_campaign].i = PM__RP_ALL_CAMPAIGNS;
    all.v[r->dim_source].i = PM__RP_ALL_CAMPAIGNS;
    int64_t bucket = pm__rp_bucket(PM__TIER_FINE, ev->ts);
    for (int k = 0; k < n; k++) {
        add_row(r, PM__CUBE_CAMPAIGN, PM__TIER_FINE, -1, bucket, &v, &cells[k], sign);
        add_row(r, PM__CUBE_CAMPAIGN, PM__TIER_FINE, -1, bucket, &all, &cells[k], sign);
        add_row(r, PM__CUBE_MAIN, PM__TIER_FINE, -1, bucket, &v, &cells[k], sign);
        for (int d = 0; d < pm__rp_ndims; d++) {
            if (!pm__rp_dims[d].code || pm__rp_val_empty(&pm__rp_dims[d], &v.v[d])) continue;
            add_row(r, PM__CUBE_DIM, PM__TIER_FINE, d, bucket, &v, &cells[k], sign);
            if (pm__rp_dims[d].shared) add_row(r, PM__CUBE_DIM, PM__TIER_FINE, d, bucket, &all, &cells[k], sign);
        }
    }
}

static void add_counters(map_t *m, const uint8_t *key, size_t len, const int64_t *c)
{
    entry_t *e = map_get(m, key, len);
    for (int k = 0; k < PM__RC_COUNT; k++)
        e->c[k] += c[k];
}

/* Entry `i` of the map moved to `tier` and its `bucket` there: its key
 * into key[] (returns the length) and its counters into c (copies: the
 * entry may move, map_get grows the array). */
static size_t rebucketed(const map_t *m, size_t i, int tier, int64_t (*bucket_in)(int64_t), uint8_t *key, int64_t *c)
{
    const entry_t *e = &m->e[i];
    int64_t bucket;
    memcpy(key, m->keys.data + e->key_off, e->key_len);
    memcpy(c, e->c, sizeof(e->c));
    memcpy(&bucket, key + 4, 8);
    bucket = bucket_in(bucket);
    key[1] = (uint8_t)tier;
    memcpy(key + 4, &bucket, 8);
    return e->key_len;
}

static int64_t day_of_fine(int64_t fine)
{
    return pm__rp_floordiv(fine, PM__RP_FINE_PER_DAY);
}

/* The day tier from the fine rows: each fine row added into its day's row
 * (the same key with the day's bucket), and the per-dimension cube's day
 * tier also into the row of all campaigns (campaign and source -1; the
 * cube's first two key columns) — except for a shared dimension, whose
 * fine rows of all campaigns exist already and roll into that day row
 * themselves. Then the week tier from the day rows, the same keys with
 * the week's bucket. */
static void day_rows(pm__rp_rollup_t *r)
{
    const int64_t all = PM__RP_ALL_CAMPAIGNS;
    uint8_t key[KEY_MAX];
    int64_t c[PM__RC_COUNT];
    size_t nfine = r->rows.n;
    for (size_t i = 0; i < nfine; i++) {
        size_t len = rebucketed(&r->rows, i, PM__TIER_DAY, day_of_fine, key, c);
        add_counters(&r->rows, key, len, c);
        if (key[0] == PM__CUBE_DIM && !pm__rp_dims[key[2]].shared) {
            memcpy(key + KEY_HEAD, &all, 8);
            memcpy(key + KEY_HEAD + 8, &all, 8);
            add_counters(&r->rows, key, len, c);
        }
    }
    /* The map held fine rows only: every entry past them is a day row. */
    for (size_t i = nfine, nday = r->rows.n; i < nday; i++) {
        size_t len = rebucketed(&r->rows, i, PM__TIER_WEEK, pm__rp_week_of_day, key, c);
        add_counters(&r->rows, key, len, c);
    }
}

/* Write one aggregated row. */
static int upsert(pm__rp_rollup_t *r, const entry_t *e)
{
    const uint8_t *key = (const uint8_t *)r->rows.keys.data + e->key_off, *p = key + KEY_HEAD;
    int cube = key[0], tier = key[1], coded = key[2] == 0xff ? -1 : key[2];
    int64_t bucket;
    memcpy(&bucket, key + 4, 8);
    sqlite3_stmt *st = r->upsert[cube][tier];
    int i = 1;
    for (const pm__rp_col_t *col = pm__rp_cubes[cube].cols; col->kind != PM__COL_END; col++, i++) {
        switch (col->kind) {
        case PM__COL_BUCKET: sqlite3_bind_int64(st, i, bucket); break;
        case PM__COL_CODE: sqlite3_bind_int(st, i, pm__rp_dims[coded].code); break;
        case PM__COL_CURRENCY: sqlite3_bind_text(st, i, (const char *)key + 12, -1, SQLITE_STATIC); break;
        case PM__COL_VALUE:
        case PM__COL_DIM: {
            int d = col->kind == PM__COL_VALUE ? coded : col->dim;
            if (pm__rp_dims[d].kind == PM__DK_ENTITY) {
                int64_t id;
                memcpy(&id, p, 8);
                sqlite3_bind_int64(st, i, id);
                p += 8;
            } else {
                uint32_t len;
                memcpy(&len, p, 4);
                sqlite3_bind_text(st, i, (const char *)p + 4, (int)len, SQLITE_STATIC);
                p += 4 + len;
            }
            break;
        }
        case PM__COL_END: break;
        }
    }
    for (int k = 0; k < PM__RC_COUNT; k++)
        sqlite3_bind_int64(st, i + k, e->c[k]);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step == SQLITE_DONE) return PM_OK;
    pm_error("report: %s: %s", pm__rp_cubes[cube].table, sqlite3_errmsg(r->db));
    return PM_ESTORE;
}

static bool entry_zero(const entry_t *e)
{
    for (int k = 0; k < PM__RC_COUNT; k++)
        if (e->c[k]) return false;
    return true;
}

/* Upserts in the order of the rollup tables' primary keys walk each
 * table's B-tree from left to right, each leaf page read and dirtied once
 * per catch-up, instead of hopping between random pages of tables far
 * larger than the page cache (a bulk catch-up ran its upserts 1.8x faster;
 * docs/reports.md). The order is by the leading key columns only — cube,
 * tier, dimension code, campaign, bucket — packed into two integers: rows
 * that tie share a few leaf pages anyway. */
typedef struct order_s {
    uint64_t hi, lo;
    size_t i;
} order_t;

static int cmp_order(const void *pa, const void *pb)
{
    const order_t *a = pa, *b = pb;
    if (a->hi != b->hi) return a->hi < b->hi ? -1 : 1;
    return (a->lo > b->lo) - (a->lo < b->lo);
}

static order_t *sorted_rows(const map_t *m)
{
    order_t *o = pm_malloc((m->n ? m->n : 1) * sizeof(*o));
    for (size_t i = 0; i < m->n; i++) {
        const uint8_t *key = (const uint8_t *)m->keys.data + m->e[i].key_off;
        int cube = key[0], coded = key[2] == 0xff ? -1 : key[2];
        int64_t campaign = 0, bucket;
        memcpy(&bucket, key + 4, 8);
        /* The campaign is the first entity column after the head in every cube. */
        for (const pm__rp_col_t *col = pm__rp_cubes[cube].cols; col->kind != PM__COL_END; col++)
            if (col->kind == PM__COL_DIM) {
                if (col->dim == pm__rp_dim_by_src(PM__SRC_CAMPAIGN)) memcpy(&campaign, key + KEY_HEAD, 8);
                break;
            }
        o[i].hi = (uint64_t)cube << 58 | (uint64_t)key[1] << 56 |
                  (uint64_t)(coded < 0 ? 0 : pm__rp_dims[coded].code) << 48 |
                  ((uint64_t)(campaign + 1) & 0xffffffffffffu);
        o[i].lo = (uint64_t)bucket ^ (1ull << 63);
        o[i].i = i;
    }
    qsort(o, m->n, sizeof(*o), cmp_order);
    return o;
}

/* A catch-up reads the event tables side by side, merged by timestamp
 * (each table is in rowid order, which is arrival order, which is nearly
 * time order): a batch then covers the same hours of every table, and each
 * rollup row is written once with all its counters. Table after table, a
 * bulk catch-up of 100M events wrote the clicks' rows of all 30 days, then
 * went back to update them for the impressions, conversions and lander
 * clicks: one random page per upsert once the rollups outgrew memory
 * (docs/reports.md). */
typedef struct cursor_s {
    pm_event_type_t type;
    sqlite3_stmt *st;
    int64_t from, last; /* the watermark, the last rowid consumed */
    bool on_row;        /* st holds a row not consumed yet, ev */
    pm_event_t ev;      /* its strings borrow from st */
} cursor_t;

static int cursor_step(sqlite3 *db, cursor_t *c)
{
    int step = sqlite3_step(c->st);
    c->on_row = step == SQLITE_ROW;
    if (c->on_row) pm__rp_row_event(c->st, c->type, &c->ev);
    if (c->on_row || step == SQLITE_DONE) return PM_OK;
    pm_error("report: feed %s: %s", pm__rp_table_name(c->type), sqlite3_errmsg(db));
    return PM_ESTORE;
}

/* Consume up to `max_rows` rows of the tables, oldest timestamp first,
 * until the aggregates fill; the watermarks moved to what was consumed. */
static int merge_feed(pm__rp_rollup_t *r, int64_t max_rows, bool *more)
{
    pm__rp_feed_t f = {r->db, r->credits, rollup_emit, r};
    cursor_t cur[PM__RP_NTABLES];
    int64_t read = 0;
    int rc = PM_OK, n = 0, rowid_col = pm__rp_rowid_col();
    for (; rc == PM_OK && n < PM__RP_NTABLES; n++) {
        cursor_t *c = &cur[n];
        memset(c, 0, sizeof(*c));
        c->type = pm__rp_tables[n];
        if ((rc = hwm_get_with(r->hwm_get, c->type, &c->from)) != PM_OK) break;
        c->last = c->from;
        if (r->feed[c->type] == NULL && (r->feed[c->type] = feed_stmt(r->db, c->type, true)) == NULL) {
            rc = PM_ESTORE;
            break;
        }
        c->st = r->feed[c->type];
        sqlite3_bind_int64(c->st, 1, c->from);
        sqlite3_bind_int64(c->st, 2, max_rows);
        rc = cursor_step(r->db, c);
    }
    while (rc == PM_OK && read < max_rows && r->rows.n < CATCHUP_MAX_AGGREGATES) {
        cursor_t *next = NULL;
        for (int t = 0; t < n; t++)
            if (cur[t].on_row && (next == NULL || cur[t].ev.ts < next->ev.ts)) next = &cur[t];
        if (next == NULL) break;
        rc = feed_row(&f, next->st, next->type, &next->ev);
        next->last = sqlite3_column_int64(next->st, rowid_col);
        read++;
        if (rc == PM_OK) rc = cursor_step(r->db, next);
    }
    *more = read >= max_rows;
    for (int t = 0; t < n; t++) {
        cursor_t *c = &cur[t];
        *more = *more || c->on_row;
        if (c->st) sqlite3_reset(c->st);
        if (rc != PM_OK || c->last == c->from) continue;
        char key[64], value[32];
        hwm_key(c->type, key, sizeof(key));
        snprintf(value, sizeof(value), "%lld", (long long)c->last);
        rc = meta_set_with(r->meta_set, key, value);
    }
    r->rows_read += read;
    return rc;
}

int pm__rp_catch_up(pm__rp_rollup_t *r, int64_t max_rows, bool *more)
{
    map_reset(&r->rows);
    credits_clear(r->credits);
    int rc = merge_feed(r, max_rows, more);
    if (rc == PM_OK) {
        day_rows(r);
        order_t *order = sorted_rows(&r->rows);
        for (size_t i = 0; rc == PM_OK && i < r->rows.n; i++)
            if (!entry_zero(&r->rows.e[order[i].i])) rc = upsert(r, &r->rows.e[order[i].i]);
        pm_free(order);
    }
    if (rc == PM_OK) rc = pm__rp_credits_save(r->credits);
    credits_clear(r->credits);
    map_reset(&r->rows);
    return rc;
}

/* --- rebuild ------------------------------------------------------------------------ */

/* The connection's PRAGMA secure_delete (Debian's SQLite defaults to on),
 * -1 when it cannot be read. */
static int secure_delete_get(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA secure_delete", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Empty the rollups. secure_delete=FAST for it: on, SQLite zeroes every
 * freed page through the WAL, and a rebuild of a 100M-event store wrote
 * 13 GB of zeroes there before its first row (and ran the disk full). FAST
 * zeroes what it rewrites anyway; the pages left behind are reused by the
 * rebuild at once, for the same aggregates and the same credits. */
static int wipe(sqlite3 *db)
{
    static const char sql[] = "DELETE FROM report_seen; DELETE FROM rollup_campaign_q; DELETE FROM rollup_campaign_d;"
                              " DELETE FROM rollup_campaign_w; DELETE FROM rollup_main_q; DELETE FROM rollup_main_d;"
                              " DELETE FROM rollup_main_w; DELETE FROM rollup_dim_q; DELETE FROM rollup_dim_d;"
                              " DELETE FROM rollup_dim_w; DELETE FROM report_meta WHERE key LIKE 'rowid:%';"
                              " DELETE FROM report_meta WHERE key='rebuild';";
    char *err = NULL, sig[512], pragma[64];
    int secure = secure_delete_get(db);
    sqlite3_exec(db, "PRAGMA secure_delete=FAST", NULL, NULL, NULL);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK ? PM_OK : PM_ESTORE;
    if (rc != PM_OK) pm_error("report: rebuild: %s", err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    if (secure >= 0) {
        snprintf(pragma, sizeof(pragma), "PRAGMA secure_delete=%d", secure);
        sqlite3_exec(db, pragma, NULL, NULL, NULL);
    }
    pm__rp_signature(sig, sizeof(sig));
    if (rc == PM_OK) rc = meta_set(db, "signature", sig);
    return rc;
}

int pm_report_rebuild(sqlite3 *db, uint64_t *events_out)
{
    pm__rp_rollup_t *r = NULL;
    bool more = true;
    int rc = wipe(db);
    if (rc == PM_OK) rc = pm__rp_rollup_open(db, &r);
    while (rc == PM_OK && more)
        rc = pm__rp_catch_up(r, CATCHUP_MAX_ROWS, &more);
    if (events_out) *events_out = rc == PM_OK ? (uint64_t)r->rows_read : 0;
    pm__rp_rollup_close(r);
    return rc;
}

/* --- the sink ------------------------------------------------------------------------ */

/* Page cache of the materializer's connection: the hot pages of the event
 * tables and of the rollups being updated must stay in memory across a
 * batch, or SQLite spills dirty pages to the WAL mid-transaction and reads
 * them back (measured: 2.5x slower materialization with the 2 MiB default). */
#define SINK_CACHE_KIB 65536
/* A bulk catch-up (an upgrade, a rebuild, bench-load) dirties far more
 * pages per transaction: with 256 MiB it spills and re-reads less (a
 * rebuild of 1.3M events over 30 days: 117 s -> 86-94 s, peak RSS 347 ->
 * 582 MiB; 1 GiB bought only 3 s more). Pages are allocated as used, and the
 * cache shrinks back to SINK_CACHE_KIB when the catch-up is done. */
#define BULK_CACHE_KIB 262144

static int cache_size(pm_store_t *store, int kib)
{
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA cache_size=-%d", kib);
    return pm_store_exec(store, pragma);
}

typedef struct sink_s {
    pm__rp_rollup_t *r;
    int64_t pending, last_us;
} sink_t;

/* Does the store ask for a rebuild (flag, or rollups of another shape)? */
static int needs_rebuild(sqlite3 *db, bool *yes)
{
    char sig[512];
    sqlite3_stmt *st = NULL;
    pm__rp_signature(sig, sizeof(sig));
    const char *sql = "SELECT (SELECT count(*) FROM report_meta WHERE key='rebuild'),"
                      " (SELECT value FROM report_meta WHERE key='signature')";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        pm_error("report: %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return PM_ESTORE;
    }
    const char *have = (const char *)sqlite3_column_text(st, 1);
    *yes = sqlite3_column_int(st, 0) > 0 || have == NULL || strcmp(have, sig) != 0;
    sqlite3_finalize(st);
    return PM_OK;
}

/* Bring the rollups up to date in transactions of their own (at start:
 * after an upgrade this is the whole store). */
static int catch_up_all(pm_store_t *store, pm__rp_rollup_t *r, bool rebuild)
{
    sqlite3 *db = pm_store_db(store);
    int64_t t0 = pm_monotonic_us(), chunks = 0;
    bool more = true;
    int rc = PM_OK;
    if (rebuild) {
        pm_info("report: building the rollups from the event tables"); /* count(*) would read them all */
        if ((rc = pm_store_begin(store)) == PM_OK && (rc = wipe(db)) == PM_OK) rc = pm_store_commit(store);
        if (rc != PM_OK) pm_store_rollback(store);
    }
    while (rc == PM_OK && more) {
        if ((rc = pm_store_begin(store)) != PM_OK) break;
        rc = pm__rp_catch_up(r, CATCHUP_MAX_ROWS, &more);
        if (rc == PM_OK) rc = pm_store_commit(store);
        if (rc != PM_OK) pm_store_rollback(store);
        if (++chunks == 1 && more && rc == PM_OK) rc = cache_size(store, BULK_CACHE_KIB);
        if (chunks % 10 == 0 && more) pm_info("report: rolled up %lld event rows...", (long long)r->rows_read);
    }
    if (chunks > 1) {
        int rc2 = cache_size(store, SINK_CACHE_KIB);
        if (rc == PM_OK) rc = rc2;
    }
    if (rc == PM_OK && (rebuild || chunks > 1))
        pm_info("report: rollups up to date in %.1f s (%lld event rows)", (double)(pm_monotonic_us() - t0) / 1e6,
                (long long)r->rows_read);
    return rc;
}

static int sink_open(pm_store_t *store, void **state)
{
    sqlite3 *db = pm_store_db(store);
    sink_t *s = pm_calloc(1, sizeof(*s));
    bool rebuild = false;
    int rc = cache_size(store, SINK_CACHE_KIB);
    if (rc == PM_OK) rc = needs_rebuild(db, &rebuild);
    if (rc == PM_OK) rc = pm__rp_rollup_open(db, &s->r);
    if (rc == PM_OK) rc = catch_up_all(store, s->r, rebuild);
    if (rc != PM_OK) {
        pm__rp_rollup_close(s->r);
        pm_free(s);
        s = NULL;
    } else {
        s->last_us = pm_monotonic_us();
    }
    *state = s;
    return rc;
}

/* Called for each event new to the store, inside the materializer's
 * transaction: every CATCHUP_EVENTS events or CATCHUP_US, roll up what
 * the tables hold past the watermarks (this event included). */
static int sink_apply(void *state, const pm_event_t *ev)
{
    sink_t *s = state;
    if (ev->type != PM_EV_CLICK && ev->type != PM_EV_IMPRESSION && ev->type != PM_EV_CONVERSION &&
        ev->type != PM_EV_LANDER_CLICK)
        return PM_OK;
    int64_t now = pm_monotonic_us();
    if (++s->pending < CATCHUP_EVENTS && now - s->last_us < CATCHUP_US) return PM_OK;
    bool more;
    int rc = pm__rp_catch_up(s->r, CATCHUP_MAX_ROWS, &more);
    if (rc == PM_OK) s->pending = 0, s->last_us = now;
    return rc;
}

static void sink_close(void *state)
{
    sink_t *s = state;
    if (s == NULL) return;
    pm__rp_rollup_close(s->r);
    pm_free(s);
}

const pm_sink_ops_t pm_report_sink = {"report", sink_open, sink_apply, sink_close, .skip_imports = false};

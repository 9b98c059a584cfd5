/*
 * materializer.c: journal records -> store rows (see pm/materializer.h).
 *
 * Each event type maps to one table through a column list (`layouts`); the
 * INSERT statements are generated from those lists once per connection, so
 * adding a field to the event model is one line here and one in the schema.
 */
#include "pm/materializer.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Column kinds: fixed fields below 100, string field f as 100 + f. */
enum {
    COL_END = -1,
    COL_ID,
    COL_TS,
    COL_CAMPAIGN,
    COL_SOURCE,
    COL_OFFER,
    COL_LANDER,
    COL_VISITOR,
    COL_CLICK,
    COL_COST_MICROS,
    COL_COST_CURRENCY,
    COL_REVENUE_MICROS,
    COL_REVENUE_CURRENCY,
    COL_PAYOUT_MICROS,
    COL_PAYOUT_CURRENCY,
    COL_PARTNER,
    COL_REF_ID,
    COL_REF_TS,
    COL_VERSION,
    COL_PREV_REVENUE_MICROS,
    COL_PREV_REVENUE_CURRENCY,
    COL_PREV_COST_MICROS,
    COL_PREV_COST_CURRENCY,
    COL_PREV_PAYOUT_MICROS,
    COL_PREV_PAYOUT_CURRENCY,
    COL_REF_END,
    COL_DAY_START,
    COL_PLACE,
    COL_CREATIVE,
    COL_STR = 100,
};

static const char *const fixed_names[] = {
    "id", "ts", "campaign_id", "traffic_source_id", "offer_id", "lander_id", "visitor_id", "click_id",
    "cost_micros", "cost_currency", "revenue_micros", "revenue_currency", "payout_micros", "payout_currency",
    "partner_id", "conversion_id", "conversion_ts", "version", "prev_revenue_micros", "prev_revenue_currency",
    "prev_cost_micros", "prev_cost_currency", "prev_payout_micros", "prev_payout_currency", "day_end",
    "day_start", "place", "creative_id",
};

#define S(f) (COL_STR + (f))
#define VISITOR_COLS                                                                               \
    COL_ID, COL_TS, COL_CAMPAIGN, COL_SOURCE, COL_OFFER, COL_LANDER, COL_VISITOR, S(PM_EVS_IP),     \
        S(PM_EVS_USER_AGENT), S(PM_EVS_REFERRER), S(PM_EVS_LANGUAGE), S(PM_EVS_SUB1), S(PM_EVS_SUB2),  \
        S(PM_EVS_SUB3), S(PM_EVS_SUB4), S(PM_EVS_SUB5), S(PM_EVS_SUB6), S(PM_EVS_SUB7), S(PM_EVS_SUB8), \
        S(PM_EVS_SUB9), S(PM_EVS_SUB10), S(PM_EVS_UTM_SOURCE), S(PM_EVS_UTM_MEDIUM),                   \
        S(PM_EVS_UTM_CAMPAIGN), S(PM_EVS_UTM_CONTENT), S(PM_EVS_UTM_TERM), S(PM_EVS_EXTERNAL_ID)

/* The visitor context of the detectors (src/route): clicks, impressions
 * and conversions (inherited from the click) all carry it. */
#define CONTEXT_COLS                                                                               \
    S(PM_EVS_COUNTRY), S(PM_EVS_REGION), S(PM_EVS_DEVICE_TYPE), S(PM_EVS_OS), S(PM_EVS_OS_VERSION),   \
        S(PM_EVS_BROWSER), S(PM_EVS_BROWSER_VERSION), S(PM_EVS_BOT_REASON)

static const int click_cols[] = {
    VISITOR_COLS,    S(PM_EVS_DEST_URL), COL_COST_MICROS, COL_COST_CURRENCY, S(PM_EVS_USER_ID),
    S(PM_EVS_ROUTE), CONTEXT_COLS,       COL_CREATIVE,    COL_PARTNER,       COL_END};
static const int impression_cols[] = {VISITOR_COLS, COL_COST_MICROS, COL_COST_CURRENCY, S(PM_EVS_USER_ID),
                                      CONTEXT_COLS, COL_CREATIVE,    COL_PARTNER,       COL_END};
static const int conversion_cols[] = {
    VISITOR_COLS,        COL_CLICK,          S(PM_EVS_TXID),        S(PM_EVS_STATUS),
    S(PM_EVS_CONV_TYPE), S(PM_EVS_METHOD),   COL_REVENUE_MICROS,    COL_REVENUE_CURRENCY,
    COL_PAYOUT_MICROS,   COL_PAYOUT_CURRENCY, COL_COST_MICROS,      COL_COST_CURRENCY,
    S(PM_EVS_USER_ID),   S(PM_EVS_EMAIL_HASH), COL_PARTNER,         S(PM_EVS_LEAD_ID),
    CONTEXT_COLS,        COL_PLACE,          COL_CREATIVE,       COL_END};
static const int change_cols[] = {
    COL_ID,       COL_TS,        COL_REF_ID,           COL_VERSION,       COL_REF_TS,
    COL_CLICK,    COL_CAMPAIGN,  COL_SOURCE,           COL_OFFER,         COL_LANDER,
    COL_PARTNER,  S(PM_EVS_TXID), S(PM_EVS_CONV_TYPE), S(PM_EVS_PREV_STATUS), S(PM_EVS_STATUS),
    S(PM_EVS_METHOD), S(PM_EVS_ACTOR), COL_REVENUE_MICROS, COL_REVENUE_CURRENCY, COL_PREV_REVENUE_MICROS,
    COL_PREV_REVENUE_CURRENCY, COL_COST_MICROS, COL_COST_CURRENCY, COL_PREV_COST_MICROS, COL_PREV_COST_CURRENCY,
    COL_PAYOUT_MICROS, COL_PAYOUT_CURRENCY, COL_PREV_PAYOUT_MICROS, COL_PREV_PAYOUT_CURRENCY, COL_END};
static const int orphan_cols[] = {COL_ID,        COL_TS,         S(PM_EVS_REASON),     S(PM_EVS_METHOD),
                                  COL_CLICK,     S(PM_EVS_TXID), S(PM_EVS_QUERY),      S(PM_EVS_IP),
                                  S(PM_EVS_USER_AGENT), COL_END};

static const int lander_click_cols[] = {VISITOR_COLS,    COL_CLICK,         S(PM_EVS_USER_ID),
                                        COL_COST_MICROS, COL_COST_CURRENCY, CONTEXT_COLS,
                                        COL_CREATIVE,    COL_PARTNER,       COL_END};

/* The day of a cost report is [ref_ts, ref_end). */
static const int cost_report_cols[] = {COL_ID,           COL_TS,         COL_CAMPAIGN,      COL_SOURCE,
                                       COL_DAY_START,       COL_REF_END,    COL_COST_MICROS,   COL_COST_CURRENCY,
                                       S(PM_EVS_METHOD), S(PM_EVS_ACTOR), COL_END};

static const struct layout_s {
    const char *table;
    const int *cols;
} layouts[PM_EV__MAX] = {
    [PM_EV_CLICK] = {"clicks", click_cols},
    [PM_EV_IMPRESSION] = {"impressions", impression_cols},
    [PM_EV_CONVERSION] = {"conversions", conversion_cols},
    [PM_EV_ORPHAN] = {"orphan_postbacks", orphan_cols},
    [PM_EV_STATUS_CHANGE] = {"conversion_changes", change_cols},
    [PM_EV_COST_REPORT] = {"cost_reports", cost_report_cols},
    [PM_EV_LANDER_CLICK] = {"lander_clicks", lander_click_cols},
};

static const char *col_name(int col)
{
    return col >= COL_STR ? pm_event_str_name((pm_event_str_t)(col - COL_STR)) : fixed_names[col];
}

/* The per-connection writer: prepared INSERTs and the batch bookkeeping. */
typedef struct writer_s {
    pm_store_t *store;
    sqlite3_stmt *insert[PM_EV__MAX];
    pm_buf_t done; /* records of the open transaction: u32 length + payload */
    bool keep_done;
    unsigned lineage; /* of the records being applied */
    uint64_t applied;
    const pm_sink_ops_t *sinks[PM_MAX_SINKS];
    void *sink_state[PM_MAX_SINKS];
    size_t nsinks;
} writer_t;

static int open_sinks(writer_t *w, const pm_sink_ops_t *const *sinks, size_t n)
{
    for (size_t i = 0; i < n && i < PM_MAX_SINKS; i++) {
        int rc = sinks[i]->open(w->store, &w->sink_state[i]);
        if (rc != PM_OK) {
            pm_error("materializer: sink %s: %s", sinks[i]->name, pm_strerror(rc));
            return rc;
        }
        w->sinks[w->nsinks++] = sinks[i];
    }
    return PM_OK;
}

static int prepare_inserts(writer_t *w)
{
    for (int t = 1; t < PM_EV__MAX; t++) {
        pm_buf_t sql, vals;
        pm_buf_init(&sql, 8192);
        pm_buf_init(&vals, 1024);
        int rc = pm_buf_printf(&sql, "INSERT OR IGNORE INTO %s(", layouts[t].table);
        for (const int *c = layouts[t].cols; rc == PM_OK && *c != COL_END; c++) {
            bool first = c == layouts[t].cols;
            rc = pm_buf_printf(&sql, "%s%s", first ? "" : ",", col_name(*c));
            if (rc == PM_OK) rc = pm_buf_appends(&vals, first ? "?" : ",?");
        }
        if (rc == PM_OK) rc = pm_buf_printf(&sql, ") VALUES(%s)", pm_buf_str(&vals));
        if (rc == PM_OK && sqlite3_prepare_v3(pm_store_db(w->store), pm_buf_str(&sql), -1,
                                              SQLITE_PREPARE_PERSISTENT, &w->insert[t], NULL) != SQLITE_OK) {
            pm_error("materializer: prepare %s: %s", layouts[t].table, sqlite3_errmsg(pm_store_db(w->store)));
            rc = PM_ESTORE;
        }
        pm_buf_free(&sql);
        pm_buf_free(&vals);
        if (rc != PM_OK) return rc;
    }
    return PM_OK;
}

static void writer_free(writer_t *w)
{
    for (size_t i = 0; i < w->nsinks; i++)
        w->sinks[i]->close(w->sink_state[i]);
    w->nsinks = 0;
    for (int t = 0; t < PM_EV__MAX; t++)
        sqlite3_finalize(w->insert[t]);
    pm_buf_free(&w->done);
}

static void bind_currency(sqlite3_stmt *st, int i, const pm_money_t *m)
{
    if (m->currency.code[0]) sqlite3_bind_text(st, i, m->currency.code, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

static void bind_column(sqlite3_stmt *st, int i, int col, const pm_event_t *ev)
{
    if (col >= COL_STR) {
        const pm_str_t *s = &ev->s[col - COL_STR];
        /* The NOT NULL text columns (txid, status, ...) get "" rather than
         * NULL; other empty fields are NULL, as on every table. */
        pm_event_str_t f = (pm_event_str_t)(col - COL_STR);
        bool required = f == PM_EVS_TXID || f == PM_EVS_STATUS || f == PM_EVS_CONV_TYPE || f == PM_EVS_METHOD ||
                        f == PM_EVS_REASON || f == PM_EVS_PREV_STATUS;
        if (s->len || (required && ev->type != PM_EV_CLICK && ev->type != PM_EV_IMPRESSION))
            sqlite3_bind_text(st, i, s->p ? s->p : "", (int)s->len, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, i);
        return;
    }
    switch (col) {
    case COL_ID: pm_store_bind_id(st, i, &ev->id); break;
    case COL_TS: sqlite3_bind_int64(st, i, ev->ts); break;
    case COL_CAMPAIGN: pm_store_bind_ref(st, i, ev->campaign_id); break;
    case COL_SOURCE: pm_store_bind_ref(st, i, ev->traffic_source_id); break;
    case COL_OFFER: pm_store_bind_ref(st, i, ev->offer_id); break;
    case COL_LANDER: pm_store_bind_ref(st, i, ev->lander_id); break;
    case COL_CREATIVE: pm_store_bind_ref(st, i, ev->creative_id); break;
    case COL_VISITOR: pm_store_bind_id(st, i, &ev->visitor_id); break;
    case COL_CLICK: pm_store_bind_id(st, i, &ev->click_id); break;
    case COL_COST_MICROS: sqlite3_bind_int64(st, i, ev->cost.micros); break;
    case COL_COST_CURRENCY: bind_currency(st, i, &ev->cost); break;
    case COL_REVENUE_MICROS: sqlite3_bind_int64(st, i, ev->revenue.micros); break;
    case COL_REVENUE_CURRENCY: bind_currency(st, i, &ev->revenue); break;
    case COL_PAYOUT_MICROS: sqlite3_bind_int64(st, i, ev->payout.micros); break;
    case COL_PAYOUT_CURRENCY: bind_currency(st, i, &ev->payout); break;
    case COL_PARTNER: pm_store_bind_ref(st, i, ev->partner_id); break;
    case COL_PLACE: pm_store_bind_ref(st, i, ev->place); break;
    case COL_REF_ID: pm_store_bind_id(st, i, &ev->ref_id); break;
    case COL_REF_TS: sqlite3_bind_int64(st, i, ev->ref_ts); break;
    case COL_VERSION: sqlite3_bind_int64(st, i, ev->version); break;
    case COL_PREV_REVENUE_MICROS: sqlite3_bind_int64(st, i, ev->prev_revenue.micros); break;
    case COL_PREV_REVENUE_CURRENCY: bind_currency(st, i, &ev->prev_revenue); break;
    case COL_PREV_COST_MICROS: sqlite3_bind_int64(st, i, ev->prev_cost.micros); break;
    case COL_PREV_COST_CURRENCY: bind_currency(st, i, &ev->prev_cost); break;
    case COL_PREV_PAYOUT_MICROS: sqlite3_bind_int64(st, i, ev->prev_payout.micros); break;
    case COL_PREV_PAYOUT_CURRENCY: bind_currency(st, i, &ev->prev_payout); break;
    case COL_REF_END: sqlite3_bind_int64(st, i, ev->ref_end); break;
    case COL_DAY_START: sqlite3_bind_int64(st, i, ev->ref_ts); break;
    default: PM_NEVER(1); sqlite3_bind_null(st, i); break;
    }
}

/* Insert one event. A record that does not decode was checksummed, so it was
 * written by a buggy or newer binary: it is logged and skipped, not fatal. */
static int apply_record(writer_t *w, const uint8_t *p, size_t len)
{
    pm_event_t ev;
    if (pm_event_decode(p, len, &ev) != PM_OK || ev.type <= PM_EV_NONE || ev.type >= PM_EV__MAX) {
        pm_warn("materializer: skipping an undecodable record of %zu bytes", len);
        return PM_OK;
    }
    sqlite3_stmt *st = w->insert[ev.type];
    int col = 1;
    for (const int *c = layouts[ev.type].cols; *c != COL_END; c++)
        bind_column(st, col++, *c, &ev);
    int step = sqlite3_step(st);
    /* Derived state only for rows new to the store: a replay is a no-op. */
    bool inserted = step == SQLITE_DONE && sqlite3_changes(pm_store_db(w->store)) > 0;
    sqlite3_reset(st); /* no clear_bindings: the next insert binds every column again */
    if (step != SQLITE_DONE) {
        pm_error("materializer: insert into %s: %s", layouts[ev.type].table, sqlite3_errmsg(pm_store_db(w->store)));
        return PM_ESTORE;
    }
    w->applied++;
    for (size_t i = 0; inserted && i < w->nsinks; i++) {
        if (w->sinks[i]->skip_imports && w->lineage == PM_IMPORT_LINEAGE) continue;
        int rc = w->sinks[i]->apply(w->sink_state[i], &ev);
        if (rc != PM_OK) {
            pm_error("materializer: sink %s: %s", w->sinks[i]->name, pm_strerror(rc));
            return rc;
        }
    }
    if (w->keep_done) {
        uint32_t n = (uint32_t)len;
        if (pm_buf_append(&w->done, &n, sizeof(n)) != PM_OK || pm_buf_append(&w->done, p, len) != PM_OK)
            return PM_ETOOBIG;
    }
    return PM_OK;
}

static int on_record(void *ctx, const uint8_t *payload, size_t len, uint64_t end_offset)
{
    return apply_record(ctx, payload, len);
}

/* --- recovery ------------------------------------------------------------ */

/* Replay one dead segment from `from` to its end in one transaction, moving
 * the lineage's high-water mark to the end. */
static int recover_segment(writer_t *w, const pm_jsegment_t *seg, uint64_t from, pm_recovery_t *out)
{
    pm_journal_scan_t res;
    memset(&res, 0, sizeof(res));
    int rc = pm_store_begin(w->store);
    if (rc != PM_OK) return rc;
    w->lineage = seg->lineage;
    rc = pm_journal_scan(seg->path, from, UINT64_MAX, true, on_record, w, &res);
    if (rc == PM_OK) rc = pm_store_hwm_set(w->store, seg->lineage, seg->seq, res.end_offset);
    if (rc == PM_OK) rc = pm_store_commit(w->store);
    if (rc != PM_OK) {
        pm_store_rollback(w->store);
        pm_error("materializer: recovery of %s failed: %s", seg->path, pm_strerror(rc));
        return rc;
    }
    out->segments++;
    out->records += res.records;
    out->corrupt_regions += res.corrupt;
    out->corrupt_bytes += res.corrupt_bytes;
    if (res.torn_tail) {
        out->torn_tails++;
        out->corrupt_bytes += res.torn_bytes;
        pm_warn("journal: torn tail in %s at offset %llu (%llu bytes skipped)", seg->path,
                (unsigned long long)res.torn_offset, (unsigned long long)res.torn_bytes);
    }
    return PM_OK;
}

int pm_materializer_recover(pm_store_t *store, const char *dir, const pm_sink_ops_t *const *sinks, size_t nsinks,
                            pm_recovery_t *out)
{
    writer_t w = {.store = store};
    pm_jsegment_t *segs = NULL;
    size_t n = 0;
    memset(out, 0, sizeof(*out));
    int rc = pm_journal_list(dir, &segs, &n);
    if (rc == PM_OK) rc = prepare_inserts(&w);
    if (rc == PM_OK) rc = open_sinks(&w, sinks, nsinks);
    for (size_t i = 0; rc == PM_OK && i < n; i++) {
        uint32_t hseq;
        uint64_t hoff;
        if ((rc = pm_store_hwm_get(store, segs[i].lineage, &hseq, &hoff)) != PM_OK) break;
        if (segs[i].seq >= hseq) rc = recover_segment(&w, &segs[i], segs[i].seq == hseq ? hoff : 0, out);
    }
    /* Everything on disk is in the store now. The next process numbers its
     * segments from 1 again, so the marks must go before the files do: a
     * crash in between only replays (idempotently) what is still there. */
    if (rc == PM_OK && n > 0) rc = pm_store_exec(store, "DELETE FROM journal_hwm");
    for (size_t i = 0; rc == PM_OK && i < n; i++)
        if (unlink(segs[i].path) == 0) out->segments_deleted++;
    if (rc == PM_OK && (out->records || out->torn_tails || out->corrupt_regions))
        pm_info("journal: recovered %llu events from %llu segments (%llu torn tails, %llu corrupt regions)",
                (unsigned long long)out->records, (unsigned long long)out->segments,
                (unsigned long long)out->torn_tails, (unsigned long long)out->corrupt_regions);
    writer_free(&w);
    pm_free(segs);
    return rc;
}

/* --- the live thread ------------------------------------------------------ */

typedef struct cursor_s {
    uint32_t seq;
    uint64_t offset;
    _Atomic uint64_t published; /* seq << 40 | offset, for /metrics */
} cursor_t;

struct pm_materializer_s {
    pm_materializer_config_t cfg;
    pm_journal_t *journals[PM_MAX_LINEAGES]; /* cfg.journals points here */
    char *journal_dir;
    writer_t w;
    cursor_t *cursors;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping;
    _Atomic uint64_t events, batches, errors;
    _Atomic int64_t last_commit_us;
};

#define BATCH_BYTES_PER_LINEAGE (8u << 20)

/* A pass that applied at least this many events goes again at once (a
 * backlog is waiting); a smaller one waits the poll interval first, so
 * under a steady stream of clicks the events gather into batches instead
 * of paying a transaction (BEGIN, high-water mark, COMMIT and its fsync)
 * for every few clicks. The wait adds at most interval_us to the lag. */
#define BUSY_BATCH_EVENTS 1024

typedef struct pending_s {
    unsigned lineage;
    uint32_t seq;      /* position after this batch */
    uint64_t offset;
    uint32_t delete_below; /* segments < this were completed in this batch */
} pending_t;

/* Read what lineage `l` has written past its cursor into the open
 * transaction; `p` receives the new position. Rotated segments are read to
 * their end (complete), the live one up to its published written offset. */
static int follow_lineage(pm_materializer_t *m, unsigned l, pending_t *p)
{
    cursor_t *c = &m->cursors[l];
    uint32_t wseq;
    uint64_t woff;
    pm_journal_written(m->cfg.journals[l], &wseq, &woff);
    *p = (pending_t){.lineage = l, .seq = c->seq, .offset = c->offset, .delete_below = c->seq};
    uint64_t budget = BATCH_BYTES_PER_LINEAGE;
    while (budget > 0) {
        bool live = p->seq == wseq;
        if (live && p->offset >= woff) break;
        char path[512];
        pm_journal_segment_path(m->journal_dir, l, p->seq, path, sizeof(path));
        /* A rotated segment is read to its end, the live one to its
         * published written offset; either in windows of the batch budget. */
        uint64_t end = woff;
        if (!live) {
            struct stat st;
            end = stat(path, &st) == 0 ? (uint64_t)st.st_size : p->offset; /* gone: nothing left to read */
        }
        uint64_t limit = end - p->offset > budget ? p->offset + budget : end;
        bool complete = !live && limit == end;
        pm_journal_scan_t res;
        memset(&res, 0, sizeof(res));
        int rc = limit > p->offset ? pm_journal_scan(path, p->offset, limit, complete, on_record, &m->w, &res) : PM_OK;
        if (rc != PM_OK) return rc;
        if (limit == p->offset) res.end_offset = p->offset;
        uint64_t used = res.end_offset - p->offset;
        budget = used >= budget ? 0 : budget - used;
        p->offset = res.end_offset;
        if (complete) {
            p->seq++; /* the segment is done: the next one starts at 0 */
            p->offset = 0;
            p->delete_below = p->seq;
        } else if (res.end_offset < limit || used == 0) {
            break; /* an incomplete record at the window's edge: next pass */
        }
    }
    return PM_OK;
}

static void forget_materialized(pm_materializer_t *m)
{
    const char *p = m->w.done.data, *end = p + m->w.done.len;
    while (p && p < end) {
        uint32_t n;
        memcpy(&n, p, sizeof(n));
        pm_event_t ev;
        if (pm_event_decode(p + sizeof(n), n, &ev) == PM_OK) m->cfg.on_materialized(m->cfg.arg, &ev);
        p += sizeof(n) + n;
    }
    pm_buf_reset(&m->w.done);
}

/* One pass over every lineage in one transaction. Returns the number of
 * events applied (>= 0) or an error. */
static int pass(pm_materializer_t *m)
{
    pending_t p[PM_MAX_LINEAGES];
    int rc = pm_store_begin(m->w.store);
    if (rc != PM_OK) return rc;
    m->w.applied = 0;
    bool moved = false;
    for (unsigned l = 0; rc == PM_OK && l < m->cfg.njournals; l++) {
        m->w.lineage = l;
        rc = follow_lineage(m, l, &p[l]);
        if (rc == PM_OK && (p[l].seq != m->cursors[l].seq || p[l].offset != m->cursors[l].offset)) {
            moved = true;
            rc = pm_store_hwm_set(m->w.store, l, p[l].seq, p[l].offset);
        }
    }
    if (rc == PM_OK) rc = moved ? pm_store_commit(m->w.store) : PM_OK;
    if (rc != PM_OK || !moved) pm_store_rollback(m->w.store);
    if (rc != PM_OK) {
        pm_buf_reset(&m->w.done);
        return rc;
    }
    for (unsigned l = 0; l < m->cfg.njournals; l++) {
        for (uint32_t s = m->cursors[l].seq; s < p[l].delete_below; s++) {
            char path[512];
            pm_journal_segment_path(m->journal_dir, l, s, path, sizeof(path));
            unlink(path);
        }
        m->cursors[l].seq = p[l].seq;
        m->cursors[l].offset = p[l].offset;
    }
    if (m->cfg.on_materialized) forget_materialized(m);
    else pm_buf_reset(&m->w.done);
    return (int)(m->w.applied > INT32_MAX ? INT32_MAX : m->w.applied);
}

/* Publish the cursors for pm_materializer_stats (offsets stay < 2^40). */
static void publish_cursors(pm_materializer_t *m)
{
    for (unsigned l = 0; l < m->cfg.njournals; l++)
        atomic_store(&m->cursors[l].published, (uint64_t)m->cursors[l].seq << 40 | m->cursors[l].offset);
}

static void *run(void *arg)
{
    pm_materializer_t *m = arg;
    int64_t backoff_us = 0;
    /* Tracking answers first; the store catches up (its lag is in /metrics). */
    pm_thread_background();
    for (;;) {
        pthread_mutex_lock(&m->mu);
        bool stopping = m->stopping;
        pthread_mutex_unlock(&m->mu);
        int n = pass(m);
        publish_cursors(m);
        if (n > 0) {
            atomic_fetch_add(&m->events, (uint64_t)n);
            atomic_fetch_add(&m->batches, 1);
            atomic_store(&m->last_commit_us, pm_now());
            backoff_us = 0;
            if (n >= BUSY_BATCH_EVENTS) continue; /* a backlog: no sleep while busy */
        }
        if (n < 0) {
            atomic_fetch_add(&m->errors, 1);
            backoff_us = backoff_us ? (backoff_us * 2 > 1000000 ? 1000000 : backoff_us * 2) : 10000;
        }
        if (stopping && n <= 0) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait = backoff_us ? backoff_us : m->cfg.interval_us;
        ts.tv_nsec += (long)(wait % 1000000) * 1000;
        ts.tv_sec += wait / 1000000 + ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        pthread_mutex_lock(&m->mu);
        if (!m->stopping) pthread_cond_timedwait(&m->cond, &m->mu, &ts);
        pthread_mutex_unlock(&m->mu);
    }
    return NULL;
}

int pm_materializer_start(const pm_materializer_config_t *cfg, pm_materializer_t **out)
{
    pm_materializer_t *m = pm_calloc(1, sizeof(*m));
    m->cfg = *cfg;
    m->cfg.journals = m->journals;
    memcpy(m->journals, cfg->journals, cfg->njournals * sizeof(cfg->journals[0]));
    if (m->cfg.interval_us <= 0) m->cfg.interval_us = 2000;
    m->journal_dir = pm_strdup(cfg->journal_dir);
    m->cursors = pm_calloc(cfg->njournals ? cfg->njournals : 1, sizeof(cursor_t));
    pm_buf_init(&m->w.done, 256u << 20);
    m->w.keep_done = cfg->on_materialized != NULL;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cond, NULL);
    for (unsigned l = 0; l < cfg->njournals; l++) {
        uint64_t off;
        pm_journal_written(cfg->journals[l], &m->cursors[l].seq, &off);
    }
    publish_cursors(m);
    int rc = pm_store_open(cfg->db_path, &m->w.store);
    if (rc == PM_OK) rc = prepare_inserts(&m->w);
    if (rc == PM_OK) rc = open_sinks(&m->w, cfg->sinks, cfg->nsinks);
    if (rc == PM_OK && (rc = -pthread_create(&m->thread, NULL, run, m)) != 0)
        pm_error("materializer: cannot start thread: %s", pm_strerror(rc));
    if (rc != PM_OK) {
        writer_free(&m->w);
        pm_store_close(m->w.store);
        pm_free(m->cursors);
        pm_free(m->journal_dir);
        pm_free(m);
        m = NULL;
    }
    *out = m;
    return rc;
}

void pm_materializer_stop(pm_materializer_t *m)
{
    if (m == NULL) return;
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    writer_free(&m->w);
    pm_store_close(m->w.store);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cond);
    pm_free(m->cursors);
    pm_free(m->journal_dir);
    pm_free(m);
}

void pm_materializer_stats(pm_materializer_t *m, pm_materializer_stats_t *out)
{
    out->events = atomic_load(&m->events);
    out->batches = atomic_load(&m->batches);
    out->errors = atomic_load(&m->errors);
    out->last_commit_us = atomic_load(&m->last_commit_us);
    /* Computed now from both ends, so a store that blocks the materializer
     * (busy, slow disk) shows its lag while it blocks. Across a rotation the
     * exact figure needs the old segment's size; the live segment's part is
     * a fair lower bound. */
    out->lag_bytes = 0;
    for (unsigned l = 0; l < m->cfg.njournals; l++) {
        uint32_t wseq;
        uint64_t woff, pos = atomic_load(&m->cursors[l].published);
        pm_journal_written(m->cfg.journals[l], &wseq, &woff);
        uint32_t cseq = (uint32_t)(pos >> 40);
        uint64_t coff = pos & ((UINT64_C(1) << 40) - 1);
        out->lag_bytes += wseq != cseq ? woff : woff > coff ? woff - coff : 0;
    }
}

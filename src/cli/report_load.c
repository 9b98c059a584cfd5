/*
 * report_load.c: `perfmark report --bench-load N`, a generator of N
 * synthetic but plausible events for the report benchmark and the
 * rollup-equals-raw check (bench/report.sh, tests/system/test_reports.py).
 *
 * It goes through the real write path: events are encoded into journal
 * segments of a private lineage (in DIR/bench-journal) and materialized by
 * pm_materializer_recover, as a server's recovery would (without the
 * ledger sink: materialize_chunk says why), one transaction per 64 MiB
 * segment, a chunk of CHUNK_EVENTS at a time (so the journal never holds
 * more than ~1 GiB on disk beside the store). The
 * rollups are then built as a server start builds them for events it has
 * not rolled up yet (an upgraded store, a rebuild): the report sink's open,
 * which catches up with every event row in bulk. The lineage's high-water
 * mark is removed afterwards so a server's own lineages are never confused
 * with it.
 *
 * The traffic: 200 campaigns over 20 sources (CPC, CPM or CPA; Zipf-like
 * volumes), each rotating 3 offers and 3 landers; impressions (CPM
 * campaigns, CTR ~3%) and clicks with a daily curve over `days` days ending now; returning visitors; sub1
 * placements (~2000 per source), sub2 creatives, sub3 device, sub4
 * keywords on half the traffic, utm_source/medium/campaign always and
 * utm_term sometimes; 11 Accept-Language values; conversions 1-72 h after
 * their click (lead/sale/install; approved/pending/rejected), 1% of them
 * paid in EUR; partner payouts on affiliate campaigns.
 */
#include "pm/event.h"
#include "pm/journal.h"
#include "pm/materializer.h"
#include "pm/report.h"
#include "pm/server.h"
#include "pm/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NCAMPAIGNS   200
#define NSOURCES     20
#define NOFFERS      50
#define NLANDERS     100
#define NPARTNERS    10
#define NCREATIVES   16                    /* per campaign; a fifth of the traffic names none (e->creative >= 16) */
#define LINEAGE      (PM_MAX_LINEAGES - 2) /* 63 is perfmark simulate's */
#define RECENT       4096
#define CHUNK_EVENTS 4000000 /* journaled, then materialized, at a time */

typedef struct gen_ev_s {
    int64_t ts;
    pm_id_t click_id;
    uint32_t visitor, placement, keyword;
    uint16_t campaign;
    uint8_t type, status, ctype, lang, device, offer_k, lander_k, creative;
    bool term, eur;
} gen_ev_t;

typedef struct vec_s {
    gen_ev_t *v;
    size_t n, cap;
} vec_t;

typedef struct campaign_s {
    int64_t id, source_id, offers[3], payouts[3], landers[3], partner_id, creatives[NCREATIVES];
    int model; /* 0 cpc, 1 cpm, 2 cpa */
    int64_t cost;
    double weight, cvr;
    bool affiliate;
} campaign_t;

typedef struct gen_s {
    uint64_t rng;
    campaign_t c[NCAMPAIGNS];
    int64_t offer_payout[NOFFERS + 1];
    double cum[NCAMPAIGNS];
    gen_ev_t recent[RECENT];
    size_t nrecent;
    uint32_t next_visitor;
    pm_idgen_t ids;
    pm_journal_t *j;
    pm_buf_t rec;
    uint64_t written, chunk;
    /* Where chunks go: the store, the journal directory, what recovery saw. */
    pm_store_t *store;
    const char *jdir;
    pm_recovery_t rec_total;
    int64_t materialize_us;
} gen_t;

static uint64_t rnd(gen_t *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}
static double unif(gen_t *g)
{
    return (double)(rnd(g) >> 11) / 9007199254740992.0;
}
static uint32_t below(gen_t *g, uint32_t n)
{
    return (uint32_t)(unif(g) * n);
}
/* A Zipf-like pick in [1, n]: small values much more likely. */
static uint32_t zipf(gen_t *g, uint32_t n)
{
    return 1 + (uint32_t)(pow(unif(g), 2.5) * n);
}

static void push(vec_t *v, const gen_ev_t *e)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 1024;
        v->v = pm_realloc(v->v, v->cap * sizeof(*v->v));
    }
    v->v[v->n++] = *e;
}

/* --- entities ---------------------------------------------------------------- */

static int64_t insert_row(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        pm_error("bench-load: %s: %s", sqlite3_errmsg(db), sql);
        return 0;
    }
    return sqlite3_last_insert_rowid(db);
}

static int64_t existing(sqlite3 *db, const char *table, const char *name)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    snprintf(sql, sizeof(sql), "SELECT id FROM %s WHERE name='%s'", table, name);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

/* The bench workspace, created once per store and reused after. */
static int entities(gen_t *g, sqlite3 *db)
{
    char sql[1024], name[64];
    int64_t now = pm_now(), sources[NSOURCES], offers[NOFFERS], landers[NLANDERS];
    for (int i = 0; i < NSOURCES; i++) {
        snprintf(name, sizeof(name), "bench source %d", i + 1);
        snprintf(sql, sizeof(sql), "INSERT INTO traffic_sources(name, created_at, updated_at) VALUES('%s', %lld, %lld)",
                 name, (long long)now, (long long)now);
        if (!(sources[i] = existing(db, "traffic_sources", name)) && !(sources[i] = insert_row(db, sql)))
            return PM_ESTORE;
    }
    for (int i = 0; i < NOFFERS; i++) {
        g->offer_payout[i] = (int64_t)(1 + (i * 7) % 50) * 1000000 + (i % 4) * 250000;
        snprintf(name, sizeof(name), "bench offer %d", i + 1);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO offers(name, url, payout_type, payout_micros, payout_currency, created_at, updated_at)"
                 " VALUES('%s', 'https://offer.example/%d?c={clickid}', 'cpa', %lld, 'USD', %lld, %lld)",
                 name, i + 1, (long long)g->offer_payout[i], (long long)now, (long long)now);
        if (!(offers[i] = existing(db, "offers", name)) && !(offers[i] = insert_row(db, sql))) return PM_ESTORE;
    }
    for (int i = 0; i < NLANDERS; i++) {
        snprintf(name, sizeof(name), "bench lander %d", i + 1);
        snprintf(
            sql, sizeof(sql),
            "INSERT INTO landers(name, url, created_at, updated_at) VALUES('%s', 'https://lp.example/%d', %lld, %lld)",
            name, i + 1, (long long)now, (long long)now);
        if (!(landers[i] = existing(db, "landers", name)) && !(landers[i] = insert_row(db, sql))) return PM_ESTORE;
    }
    int64_t partners[NPARTNERS];
    for (int i = 0; i < NPARTNERS; i++) {
        snprintf(name, sizeof(name), "bench partner %d", i + 1);
        snprintf(sql, sizeof(sql), "INSERT INTO partners(name, created_at, updated_at) VALUES('%s', %lld, %lld)", name,
                 (long long)now, (long long)now);
        if (!(partners[i] = existing(db, "partners", name)) && !(partners[i] = insert_row(db, sql))) return PM_ESTORE;
    }
    static const char *const models[] = {"cpc", "cpm", "cpa"};
    double total = 0;
    for (int i = 0; i < NCAMPAIGNS; i++) {
        campaign_t *c = &g->c[i];
        c->source_id = sources[i % NSOURCES];
        for (int k = 0; k < 3; k++) {
            c->offers[k] = offers[(i + k * 7) % NOFFERS];
            c->payouts[k] = g->offer_payout[(i + k * 7) % NOFFERS];
            c->landers[k] = landers[(i * 3 + k) % NLANDERS];
        }
        c->model = i % 10 < 6 ? 0 : i % 10 < 8 ? 1 : 2;
        c->cost = c->model == 0   ? 50000 + (i * 37 % 150) * 10000
                  : c->model == 1 ? 500000 + (i % 30) * 100000
                                  : 5000000 + (i % 20) * 1000000;
        c->weight = 1.0 / pow(i + 1, 0.8);
        c->cvr = 0.02 + (i % 9) * 0.01;
        c->affiliate = i % 5 == 4;
        total += c->weight;
        g->cum[i] = total;
        snprintf(name, sizeof(name), "bench campaign %d", i + 1);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO campaigns(name, token, traffic_source_id, offer_id, lander_id, cost_model, cost_micros,"
                 " cost_currency, created_at, updated_at) VALUES('%s', 'bench-%d', %lld, %lld, %lld, '%s', %lld, 'USD',"
                 " %lld, %lld)",
                 name, i + 1, (long long)c->source_id, (long long)c->offers[0], (long long)c->landers[0],
                 models[c->model], (long long)c->cost, (long long)now, (long long)now);
        if (!(c->id = existing(db, "campaigns", name)) && !(c->id = insert_row(db, sql))) return PM_ESTORE;
        /* Affiliate campaigns: a partner's traffic (payouts, the partner dimension). */
        c->partner_id = c->affiliate ? partners[i / 5 % NPARTNERS] : 0;
        snprintf(sql, sizeof(sql), "UPDATE campaigns SET partner_id=%lld WHERE id=%lld AND %d",
                 (long long)c->partner_id, (long long)c->id, c->affiliate);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) return PM_ESTORE;
        for (int k = 0; k < NCREATIVES; k++) {
            snprintf(name, sizeof(name), "bench creative %d-%d", i + 1, k + 1);
            snprintf(sql, sizeof(sql),
                     "INSERT INTO creatives(campaign_id, name, created_at, updated_at) VALUES(%lld, '%s', %lld, %lld)",
                     (long long)c->id, name, (long long)now, (long long)now);
            if (!(c->creatives[k] = existing(db, "creatives", name)) && !(c->creatives[k] = insert_row(db, sql)))
                return PM_ESTORE;
        }
    }
    for (int i = 0; i < NCAMPAIGNS; i++)
        g->cum[i] /= total;
    return PM_OK;
}

static int pick_campaign(gen_t *g)
{
    double u = unif(g);
    int lo = 0, hi = NCAMPAIGNS - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (g->cum[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* --- events ------------------------------------------------------------------- */

static const char *const languages[] = {"en-US,en;q=0.9",
                                        "de-DE,de;q=0.9,en;q=0.8",
                                        "fr-FR,fr;q=0.9",
                                        "es-ES,es;q=0.9",
                                        "pt-BR,pt;q=0.9",
                                        "it-IT",
                                        "nl-NL,nl;q=0.9",
                                        "pl-PL",
                                        "ja-JP",
                                        "ru-RU",
                                        ""};
static const char *const devices[] = {"mobile", "desktop", "tablet"};
/* The visitor context (src/route) as the detectors would set it: the
 * country follows the language, the OS and browser the device. */
static const char *const countries[] = {"US", "DE", "FR", "ES", "BR", "IT", "NL", "PL", "JP", "RU", ""};
static const char *const oses[][2] = {{"Android", "iOS"}, {"Windows", "Mac OS X"}, {"iOS", "Android"}};
static const char *const browsers[][2] = {
    {"Chrome Mobile", "Mobile Safari"}, {"Chrome", "Firefox"}, {"Mobile Safari", "Chrome"}};

static void set_lit(pm_event_t *ev, pm_event_str_t f, const char *s)
{
    pm_event_set(ev, f, s, strlen(s));
}

static void emit_context(const gen_ev_t *e, pm_event_t *ev)
{
    int odd = (int)(e->visitor & 1);
    set_lit(ev, PM_EVS_COUNTRY, countries[e->lang]);
    if (e->lang == 0) set_lit(ev, PM_EVS_REGION, odd ? "US-NY" : "US-CA");
    set_lit(ev, PM_EVS_DEVICE_TYPE, devices[e->device]);
    set_lit(ev, PM_EVS_OS, oses[e->device][odd]);
    set_lit(ev, PM_EVS_BROWSER, browsers[e->device][odd]);
    if (e->visitor % 97 == 0) set_lit(ev, PM_EVS_BOT_REASON, "datacenter_ip");
}
static const char *const mediums[] = {"cpc", "display", "native", "social"};
static const char *const ctypes[] = {"lead", "sale", "install"};
static const char *const statuses[] = {"approved", "pending", "rejected"};

static int open_journal(gen_t *g)
{
    pm_journal_config_t jc = {.dir = g->jdir, .lineage = LINEAGE, .sync_interval_us = 1000000};
    return pm_journal_open(&jc, &g->j);
}

/* Close the journal, materialize what it holds (recovery deletes the
 * segments and the marks, so the next journal numbers from 1 again) and,
 * if `more`, open a fresh one. The event rows only: the rollups are built
 * in bulk at the end, and the ledger is not kept at all. Reports read
 * neither its money movements nor its conversion states (the generator
 * makes no status changes, the only thing the ledger turns into report
 * adjustments), and its two rows per priced event are 17% of a store of
 * this traffic (140 of 804 MiB per 1M events): without them 100M events
 * fit on a disk with 70 GB free. */
static int materialize_chunk(gen_t *g, bool more)
{
    pm_recovery_t rec;
    pm_journal_close(g->j);
    g->j = NULL;
    g->chunk = 0;
    int64_t t0 = pm_monotonic_us();
    int rc = pm_materializer_recover(g->store, g->jdir, NULL, 0, &rec);
    g->materialize_us += pm_monotonic_us() - t0;
    g->rec_total.records += rec.records;
    g->rec_total.segments += rec.segments;
    if (rc == PM_OK && (rec.torn_tails || rec.corrupt_regions)) rc = PM_ECORRUPT;
    if (rc == PM_OK && more) rc = open_journal(g);
    return rc;
}

static int emit(gen_t *g, const gen_ev_t *e)
{
    char s1[32], s2[32], s4[32], us[32], uc[32], txid[PM_ID_LEN + 1];
    const campaign_t *c = &g->c[e->campaign];
    pm_event_t ev = {.type = e->type == 0   ? PM_EV_IMPRESSION
                             : e->type == 1 ? PM_EV_CLICK
                             : e->type == 3 ? PM_EV_LANDER_CLICK
                                            : PM_EV_CONVERSION};
    ev.ts = e->type == 3 ? e->ts + 20 * PM_USEC_PER_SEC : e->ts; /* a lander click: 20 s on the lander */
    if (e->type == 3) ev.click_id = e->click_id;
    ev.id = pm_id_next(&g->ids, e->ts);
    memset(&ev.visitor_id, 0, sizeof(ev.visitor_id));
    memcpy(ev.visitor_id.b, "bv", 2);
    memcpy(ev.visitor_id.b + 4, &e->visitor, sizeof(e->visitor));
    memcpy(ev.visitor_id.b + 8, &e->campaign, sizeof(e->campaign));
    ev.campaign_id = c->id;
    ev.traffic_source_id = c->source_id;
    ev.offer_id = c->offers[e->offer_k];
    ev.lander_id = c->landers[e->lander_k];
    ev.creative_id = e->creative < NCREATIVES ? c->creatives[e->creative] : 0;
    ev.partner_id = c->partner_id;
    int n1 = snprintf(s1, sizeof(s1), "p%d-%u", (int)(e->campaign % NSOURCES), e->placement);
    int n2 = snprintf(s2, sizeof(s2), "cr%u-%u", e->campaign, e->creative);
    int n4 = e->keyword ? snprintf(s4, sizeof(s4), "kw%u", e->keyword) : 0;
    int nus = snprintf(us, sizeof(us), "src%d", (int)(e->campaign % NSOURCES) + 1);
    int nuc = snprintf(uc, sizeof(uc), "camp%u", e->campaign + 1);
    const char *lang = languages[e->lang], *medium = mediums[e->campaign % NSOURCES % 4];
    pm_event_set(&ev, PM_EVS_LANGUAGE, lang, strlen(lang));
    pm_event_set(&ev, PM_EVS_SUB1, s1, (size_t)n1);
    pm_event_set(&ev, PM_EVS_SUB2, s2, (size_t)n2);
    pm_event_set(&ev, PM_EVS_SUB3, devices[e->device], strlen(devices[e->device]));
    pm_event_set(&ev, PM_EVS_SUB4, s4, (size_t)n4);
    pm_event_set(&ev, PM_EVS_UTM_SOURCE, us, (size_t)nus);
    pm_event_set(&ev, PM_EVS_UTM_MEDIUM, medium, strlen(medium));
    pm_event_set(&ev, PM_EVS_UTM_CAMPAIGN, uc, (size_t)nuc);
    if (e->term) pm_event_set(&ev, PM_EVS_UTM_TERM, s4, (size_t)n4);
    pm_event_set(&ev, PM_EVS_USER_AGENT, "Mozilla/5.0 (bench)", 19);
    pm_event_set(&ev, PM_EVS_IP, "192.0.2.0", 9);
    emit_context(e, &ev);
    bool cost_here = (ev.type == PM_EV_CLICK && c->model == 0) || (ev.type == PM_EV_IMPRESSION && c->model == 1);
    if (ev.type == PM_EV_CONVERSION) {
        ev.click_id = e->click_id;
        pm_id_format(&e->click_id, txid);
        pm_event_set(&ev, PM_EVS_TXID, txid, PM_ID_LEN);
        pm_event_set(&ev, PM_EVS_STATUS, statuses[e->status], strlen(statuses[e->status]));
        pm_event_set(&ev, PM_EVS_CONV_TYPE, ctypes[e->ctype], strlen(ctypes[e->ctype]));
        pm_event_set(&ev, PM_EVS_METHOD, "postback", 8);
        ev.revenue.micros = c->payouts[e->offer_k] * (e->ctype == 1 ? 3 : 1);
        memcpy(ev.revenue.currency.code, e->eur ? "EUR" : "USD", 4);
        if (c->affiliate && e->status == 0) {
            ev.payout.micros = ev.revenue.micros * 3 / 10;
            memcpy(ev.payout.currency.code, "USD", 4);
        }
        cost_here = c->model == 2 && e->status == 0;
    }
    if (cost_here) {
        ev.cost.micros = ev.type == PM_EV_IMPRESSION ? c->cost / 1000 : c->cost;
        memcpy(ev.cost.currency.code, "USD", 4);
    }
    pm_buf_reset(&g->rec);
    int rc = pm_event_encode(&ev, &g->rec);
    uint64_t lsn;
    if (rc == PM_OK) rc = pm_journal_append(g->j, g->rec.data, g->rec.len, &lsn);
    g->written++;
    if (rc == PM_OK && ++g->chunk >= CHUNK_EVENTS) rc = materialize_chunk(g, true);
    return rc;
}

static int cmp_ts(const void *a, const void *b)
{
    int64_t x = ((const gen_ev_t *)a)->ts, y = ((const gen_ev_t *)b)->ts;
    return (x > y) - (x < y);
}

/* A visitor action at `ts`: an impression or a click (and maybe, later, a conversion). */
static void action(gen_t *g, int64_t ts, vec_t *now)
{
    gen_ev_t e = {.ts = ts};
    if (g->nrecent && unif(g) < 0.25) { /* a returning visitor, same campaign and sub ids */
        e = g->recent[below(g, (uint32_t)(g->nrecent < RECENT ? g->nrecent : RECENT))];
        e.ts = ts;
    } else {
        e.campaign = (uint16_t)pick_campaign(g);
        e.visitor = g->next_visitor++;
        e.offer_k = (uint8_t)below(g, 3);
        e.lander_k = (uint8_t)below(g, 3);
        e.placement = zipf(g, 2000);
        e.creative = (uint8_t)below(g, 20);
        e.keyword = unif(g) < 0.5 ? zipf(g, 500) : 0;
        e.term = e.keyword && unif(g) < 0.4;
        e.device = (uint8_t)(unif(g) < 0.6 ? 0 : unif(g) < 0.8 ? 1 : 2);
        e.lang = (uint8_t)(unif(g) < 0.5 ? 0 : below(g, PM_ARRAY_LEN(languages)));
    }
    /* CPM campaigns buy impressions (CTR ~3%); the others are click-only. */
    e.type = g->c[e.campaign].model == 1 && unif(g) < 0.97 ? 0 : 1;
    push(now, &e);
    if (e.type == 1) g->recent[g->nrecent++ % RECENT] = e;
}

/* Conversions of this hour's clicks, into the hour buckets they fall in. */
static void convert(gen_t *g, const gen_ev_t *click, vec_t *later, size_t nlater, int64_t h, int64_t end)
{
    const campaign_t *c = &g->c[click->campaign];
    if (unif(g) >= c->cvr) return;
    gen_ev_t e = *click;
    e.type = 2;
    e.ts = click->ts + (int64_t)((1.0 + -log(1.0 - unif(g) * 0.999) * 6.0) * 3600e6);
    if (e.ts >= end) return;
    double u = unif(g);
    e.status = (uint8_t)(u < 0.75 ? 0 : u < 0.92 ? 1 : 2);
    e.ctype = (uint8_t)(unif(g) < 0.5 ? 0 : unif(g) < 0.8 ? 1 : 2);
    e.eur = unif(g) < 0.01;
    int64_t hour = e.ts / (3600 * PM_USEC_PER_SEC) - h;
    if (hour < 0 || (size_t)hour >= nlater) return;
    push(&later[hour], &e);
}

static int generate(gen_t *g, uint64_t n, int days)
{
    int64_t end = pm_now() / (3600 * PM_USEC_PER_SEC) * 3600 * PM_USEC_PER_SEC, hours = (int64_t)days * 24;
    int64_t start_h = end / (3600 * PM_USEC_PER_SEC) - hours;
    vec_t *buckets = pm_calloc((size_t)hours, sizeof(vec_t)); /* conversions waiting for their hour */
    double wsum = 0;
    for (int64_t h = 0; h < hours; h++)
        wsum += 1.0 + 0.6 * sin(((h % 24) - 9) * M_PI / 12) + ((h / 24 + 3) % 7 >= 5 ? -0.2 : 0);
    uint64_t made = 0;
    int rc = PM_OK;
    for (int64_t h = 0; rc == PM_OK && h < hours; h++) {
        double w = 1.0 + 0.6 * sin(((h % 24) - 9) * M_PI / 12) + ((h / 24 + 3) % 7 >= 5 ? -0.2 : 0);
        uint64_t k = (uint64_t)((double)n * 0.96 * w / wsum + unif(g));
        if (h == hours - 1 || made + k > n) k = n > made ? (n - made) : 0;
        vec_t *now = &buckets[h];
        int64_t t0 = (start_h + h) * 3600 * PM_USEC_PER_SEC;
        size_t before = now->n;
        for (uint64_t i = 0; i < k && made + (now->n - before) < n; i++)
            action(g, t0 + (int64_t)(unif(g) * 3600e6), now);
        qsort(now->v, now->n, sizeof(gen_ev_t), cmp_ts);
        for (size_t i = 0; rc == PM_OK && i < now->n && made < n; i++) {
            gen_ev_t *e = &now->v[i];
            rc = emit(g, e);
            made++;
            if (e->type == 1) {
                e->click_id = g->ids.last;
                convert(g, e, buckets + h, (size_t)(hours - h), start_h + h, end);
                /* A third of the visitors who saw a lander go on through /go. */
                if (rc == PM_OK && g->c[e->campaign].landers[e->lander_k] && e->visitor % 3 == 0) {
                    gen_ev_t hop = *e;
                    hop.type = 3;
                    rc = emit(g, &hop);
                }
            }
        }
        pm_free(now->v);
        *now = (vec_t){0};
        if (h % 24 == 23) fprintf(stderr, "\rbench-load: %llu events stored", (unsigned long long)made);
    }
    for (int64_t h = 0; h < hours; h++)
        pm_free(buckets[h].v);
    pm_free(buckets);
    fprintf(stderr, "\rbench-load: %llu events stored\n", (unsigned long long)made);
    return rc;
}

static int mkdir_p(const char *dir)
{
    return mkdir(dir, 0700) == 0 || errno == EEXIST ? PM_OK : -errno;
}

static void remove_dir(const char *dir)
{
    pm_jsegment_t *segs = NULL;
    size_t n = 0;
    if (pm_journal_list(dir, &segs, &n) == PM_OK)
        for (size_t i = 0; i < n; i++)
            unlink(segs[i].path);
    pm_free(segs);
    rmdir(dir);
}

int pm__cli_report_load(const char *data_dir, uint64_t events, int days, uint64_t seed);
int pm__cli_report_load(const char *data_dir, uint64_t events, int days, uint64_t seed)
{
    char db_path[4200], jdir[4200];
    gen_t *g = pm_calloc(1, sizeof(*g));
    pm_store_t *store = NULL;
    int rc = mkdir_p(data_dir);
    g->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    pm_idgen_init(&g->ids);
    pm_buf_init(&g->rec, 1u << 20);
    pm_server_db_path(data_dir, db_path, sizeof(db_path));
    snprintf(jdir, sizeof(jdir), "%s/bench-journal", data_dir);
    g->jdir = jdir;
    if (rc == PM_OK) rc = pm_store_open(db_path, &store);
    g->store = store;
    if (rc == PM_OK) rc = pm_store_begin(store); /* the entities in one transaction, not 4000 */
    if (rc == PM_OK) {
        rc = entities(g, pm_store_db(store));
        rc = rc == PM_OK ? pm_store_commit(store) : (pm_store_rollback(store), rc);
    }
    uint32_t hseq;
    uint64_t hoff;
    if (rc == PM_OK) rc = pm_store_hwm_get(store, LINEAGE, &hseq, &hoff);
    if (rc == PM_OK && (hseq || hoff)) {
        pm_error("bench-load: lineage %d of this store is in use; refusing to write into it", LINEAGE);
        rc = PM_EEXIST;
    }
    /* What the rollups already cover: the sink's open below rolls up the rest. */
    void *sink = NULL;
    if (rc == PM_OK && (rc = pm_report_sink.open(store, &sink)) == PM_OK) pm_report_sink.close(sink);
    remove_dir(jdir);
    if (rc == PM_OK) rc = open_journal(g);
    int64_t t0 = pm_monotonic_us();
    if (rc == PM_OK) rc = generate(g, events, days);
    if (rc == PM_OK) rc = materialize_chunk(g, false);
    pm_journal_close(g->j);
    int64_t t1 = pm_monotonic_us();
    /* What a server start does next: the sink rolls up every event row it
     * has not seen, in bulk. */
    if (rc == PM_OK) {
        fprintf(stderr, "bench-load: building the rollups...\n");
        if ((rc = pm_report_sink.open(store, &sink)) == PM_OK) pm_report_sink.close(sink);
    }
    int64_t t2 = pm_monotonic_us();
    char sql[64];
    snprintf(sql, sizeof(sql), "DELETE FROM journal_hwm WHERE lineage=%d", LINEAGE);
    if (rc == PM_OK) rc = pm_store_exec(store, sql);
    remove_dir(jdir);
    uint64_t n = g->rec_total.records;
    double gen_s = (double)(t1 - t0 - g->materialize_us) / 1e6, mat_s = (double)g->materialize_us / 1e6,
           roll_s = (double)(t2 - t1) / 1e6;
    if (rc == PM_OK)
        fprintf(stderr,
                "bench-load: %llu events: generated and journaled in %.1f s, event rows materialized in %.1f s"
                " (%.0f events/s), rolled up in %.1f s (%.0f events/s); %.0f events/s end to end\n",
                (unsigned long long)n, gen_s, mat_s, (double)n / mat_s, roll_s, (double)n / roll_s,
                (double)n / ((double)(t2 - t0) / 1e6));
    else
        fprintf(stderr, "bench-load: failed: %s\n", pm_strerror(rc));
    pm_store_close(store);
    pm_buf_free(&g->rec);
    pm_free(g);
    return rc;
}

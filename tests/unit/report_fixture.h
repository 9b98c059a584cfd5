/*
 * report_fixture.h: what the report unit tests share: a store in a
 * temporary directory with a small workspace (5 campaigns over 3 sources),
 * and a way to put events into it through the real write path (journal
 * segments, then pm_materializer_recover with the report sink), plus a
 * deterministic generator of varied events around the Europe/Berlin
 * spring-forward night (2026-03-29 01:00 UTC) on two lineages, so clicks of
 * one visitor can reach the store out of id order.
 *
 * Header-only (static functions): each test file includes it once.
 */
#ifndef PM_TEST_REPORT_FIXTURE_H
#define PM_TEST_REPORT_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "pm/journal.h"
#include "pm/materializer.h"
#include "pm/report.h"
#include "pm/store.h"

typedef struct fx_s {
    char dir[64], db[128], jdir[128];
    pm_store_t *store;
    pm_idgen_t ids[2];
    uint64_t rng;
} fx_t;

static const pm_sink_ops_t *const fx_sinks[] = {&pm_report_sink};

static void fx_exec(fx_t *f, const char *sql)
{
    assert_int_equal(pm_store_exec(f->store, sql), PM_OK);
}

static fx_t *fx_open(void)
{
    fx_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pm_test_report_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/store.db", f->dir);
    snprintf(f->jdir, sizeof(f->jdir), "%s/journal", f->dir);
    assert_int_equal(pm_store_open(f->db, &f->store), PM_OK);
    fx_exec(f, "PRAGMA synchronous=OFF");
    fx_exec(f,
            "INSERT INTO traffic_sources(id, name, created_at, updated_at) VALUES"
            " (1,'Search',0,0),(2,'Social',0,0),(3,'Native',0,0);"
            "INSERT INTO offers(id, name, url, payout_type, payout_micros, payout_currency, created_at, updated_at)"
            " VALUES (1,'Offer A','https://a.example/','cpa',2000000,'USD',0,0),"
            " (2,'Offer B','https://b.example/','cpa',5000000,'USD',0,0);"
            "INSERT INTO landers(id, name, url, created_at, updated_at) VALUES (1,'Lander 1','https://l.example/',0,0);"
            "INSERT INTO campaigns(id, name, token, traffic_source_id, offer_id, cost_model, cost_micros,"
            " cost_currency, created_at, updated_at) VALUES"
            " (1,'Zeta','t1xx',1,1,'cpc',400000,'USD',0,0),(2,'Alpha','t2xx',2,2,'cpm',2000000,'USD',0,0),"
            " (3,'Mid','t3xx',3,1,'cpa',1500000,'USD',0,0),(4,'=cmd','t4xx',1,2,'cpc',100000,'USD',0,0),"
            " (5,'Beta','t5xx',2,1,'cpc',250000,'USD',0,0);");
    for (int i = 0; i < 2; i++)
        pm_idgen_init(&f->ids[i]);
    f->rng = 0x2545F4914F6CDD1Dull;
    return f;
}

static void fx_remove_tree(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void fx_close(fx_t *f)
{
    pm_store_close(f->store);
    fx_remove_tree(f->dir);
    free(f);
}

/* Journal `n` events on `lineage` (in the order given), in a new segment. */
static void fx_journal(fx_t *f, const pm_event_t *evs, size_t n, unsigned lineage)
{
    pm_journal_t *j = NULL;
    pm_journal_config_t jc = {.dir = f->jdir, .lineage = lineage};
    assert_int_equal(pm_journal_open(&jc, &j), PM_OK);
    pm_buf_t rec;
    pm_buf_init(&rec, 1u << 20);
    for (size_t i = 0; i < n; i++) {
        uint64_t lsn;
        pm_buf_reset(&rec);
        assert_int_equal(pm_event_encode(&evs[i], &rec), PM_OK);
        assert_int_equal(pm_journal_append(j, rec.data, rec.len, &lsn), PM_OK);
    }
    pm_buf_free(&rec);
    pm_journal_close(j);
}

/* Recover what is journaled into the store with the report sink (the
 * server's start path: lineage by lineage, segment by segment). */
static void fx_recover(fx_t *f)
{
    pm_recovery_t r;
    assert_int_equal(pm_materializer_recover(f->store, f->jdir, fx_sinks, 1, &r), PM_OK);
}

static void fx_materialize(fx_t *f, const pm_event_t *evs, size_t n, unsigned lineage)
{
    fx_journal(f, evs, n, lineage);
    fx_recover(f);
}

/* What a server start does: the sink catches up with every row. */
static void fx_catch_up(fx_t *f)
{
    void *state = NULL;
    assert_int_equal(pm_report_sink.open(f->store, &state), PM_OK);
    pm_report_sink.close(state);
}

static uint64_t fx_rand(fx_t *f)
{
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return f->rng;
}

/* 2026-03-27T00:00:00Z and 5 days after: the Berlin spring-forward
 * (2026-03-29 01:00 UTC) sits in the middle. */
#define FX_T0   INT64_C(1774569600000000)
#define FX_SPAN (5 * 86400 * INT64_C(1000000))

static const char *const fx_sub1[] = {"", "alpha", "beta", "gamma", "=SUM(A1)", "delta"};
static const char *const fx_langs[] = {"en-US,en;q=0.9", "de-DE", "", "fr", "*"};
static const char *const fx_status[] = {"approved", "approved", "approved", "pending", "rejected"};
static const char *const fx_types[] = {"lead", "sale", "install"};

typedef struct fx_click_s {
    pm_id_t id, visitor;
    int64_t ts, campaign;
    const char *sub1, *lang;
    int sub3;
} fx_click_t;

/* A varied event stream: `n` events over [FX_T0, FX_T0 + FX_SPAN), sorted by
 * time, ids from lineage `lineage`'s generator. Visitors repeat (a pool of
 * 40) so unique clicks differ from clicks. Strings are static. */
__attribute__((unused)) static size_t fx_generate(fx_t *f, pm_event_t *out, size_t n, unsigned lineage)
{
    int64_t *ts = malloc(n * sizeof(int64_t));
    for (size_t i = 0; i < n; i++)
        ts[i] = FX_T0 + (int64_t)(fx_rand(f) % (uint64_t)FX_SPAN);
    for (size_t i = 1; i < n; i++) /* insertion sort: n is small */
        for (size_t k = i; k > 0 && ts[k] < ts[k - 1]; k--) {
            int64_t t = ts[k];
            ts[k] = ts[k - 1];
            ts[k - 1] = t;
        }
    static fx_click_t clicks[4096];
    static size_t nclicks;
    static const char *const sub3s[] = {"", "mobile", "desktop"};
    for (size_t i = 0; i < n; i++) {
        pm_event_t *ev = &out[i];
        memset(ev, 0, sizeof(*ev));
        uint64_t r = fx_rand(f);
        int kind = nclicks && r % 10 == 0 ? 2 : r % 10 < 4 ? 1 : 0; /* conversion, impression, click */
        ev->ts = ts[i];
        ev->id = pm_id_next(&f->ids[lineage], ev->ts);
        if (kind == 2) {
            const fx_click_t *c = &clicks[fx_rand(f) % nclicks];
            ev->type = PM_EV_CONVERSION;
            ev->click_id = c->id;
            ev->visitor_id = c->visitor;
            ev->campaign_id = c->campaign;
            pm_event_set(ev, PM_EVS_SUB1, c->sub1, strlen(c->sub1));
            pm_event_set(ev, PM_EVS_SUB3, sub3s[c->sub3], strlen(sub3s[c->sub3]));
            pm_event_set(ev, PM_EVS_LANGUAGE, c->lang, strlen(c->lang));
            const char *st = fx_status[fx_rand(f) % 5], *ty = fx_types[fx_rand(f) % 3];
            pm_event_set(ev, PM_EVS_STATUS, st, strlen(st));
            pm_event_set(ev, PM_EVS_CONV_TYPE, ty, strlen(ty));
            static char txids[16384][24]; /* event strings must outlive their encoding */
            static unsigned txn;
            char *txid = txids[txn++ % 16384];
            snprintf(txid, 24, "tx%u-%u", txn, lineage);
            pm_event_set(ev, PM_EVS_TXID, txid, strlen(txid));
            pm_event_set(ev, PM_EVS_METHOD, "postback", 8);
            ev->revenue.micros = (int64_t)(fx_rand(f) % 9000000) + 1000000;
            memcpy(ev->revenue.currency.code, fx_rand(f) % 8 == 0 ? "EUR" : "USD", 4);
            if (ev->campaign_id == 5) {
                ev->payout.micros = ev->revenue.micros / 4;
                memcpy(ev->payout.currency.code, "USD", 4);
            }
            if (ev->campaign_id == 3 && strcmp(st, "approved") == 0) {
                ev->cost.micros = 1500000;
                memcpy(ev->cost.currency.code, "USD", 4);
            }
        } else {
            ev->type = kind == 1 ? PM_EV_IMPRESSION : PM_EV_CLICK;
            ev->campaign_id = 1 + (int64_t)(fx_rand(f) % 5);
            memset(ev->visitor_id.b, 0, 16);
            ev->visitor_id.b[0] = 0x42;
            ev->visitor_id.b[15] = (uint8_t)(1 + fx_rand(f) % 40);
            const char *s1 = fx_sub1[fx_rand(f) % 6], *lang = fx_langs[fx_rand(f) % 5];
            int s3 = (int)(fx_rand(f) % 3);
            pm_event_set(ev, PM_EVS_SUB1, s1, strlen(s1));
            pm_event_set(ev, PM_EVS_SUB3, sub3s[s3], strlen(sub3s[s3]));
            pm_event_set(ev, PM_EVS_LANGUAGE, lang, strlen(lang));
            bool cpc = ev->campaign_id == 1 || ev->campaign_id == 4 || ev->campaign_id == 5;
            if (ev->type == PM_EV_CLICK && cpc) {
                ev->cost.micros = ev->campaign_id == 1 ? 400000 : ev->campaign_id == 4 ? 100000 : 250000;
                memcpy(ev->cost.currency.code, "USD", 4);
            }
            if (ev->type == PM_EV_IMPRESSION && ev->campaign_id == 2) {
                ev->cost.micros = 2000;
                memcpy(ev->cost.currency.code, "USD", 4);
            }
            if (ev->type == PM_EV_CLICK && nclicks < 4096)
                clicks[nclicks++] = (fx_click_t){ev->id, ev->visitor_id, ev->ts, ev->campaign_id, s1, lang, s3};
        }
        ev->traffic_source_id = ev->campaign_id == 1 || ev->campaign_id == 4 ? 1 : ev->campaign_id == 3 ? 3 : 2;
        ev->offer_id = ev->campaign_id % 2 ? 1 : 2;
        ev->lander_id = ev->campaign_id == 1 ? 1 : 0;
    }
    free(ts);
    return n;
}

/* Run a report with `params` ("k=v" strings, NULL-terminated) and return its
 * rendering in `fmt` (malloc'd), or NULL with *err filled. */
static char *fx_report(fx_t *f, pm_report_format_t fmt, pm_report_error_t *err, const char *const *params)
{
    pm_report_t *r = pm_report_create();
    pm_report_error_t local;
    if (err == NULL) err = &local;
    char *out = NULL;
    for (const char *const *p = params; *p; p++) {
        const char *eq = strchr(*p, '=');
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - *p), *p);
        if (pm_report_param(r, key, eq + 1, strlen(eq + 1), err) != PM_OK) goto out;
    }
    if (pm_report_run(r, pm_store_db(f->store), err) != PM_OK) goto out;
    pm_buf_t b;
    pm_buf_init(&b, 64u << 20);
    assert_int_equal(pm_report_render(r, fmt, &b), PM_OK);
    out = strdup(pm_buf_str(&b));
    pm_buf_free(&b);
out:
    pm_report_destroy(r);
    return out;
}

#endif

/*
 * test_outbox.c: the postback outbox without the network: the backoff
 * schedule (doubling, cap, jitter bounds), the give-up rule, URL building
 * with every macro and percent-encoding, and the sink: one postback per new
 * conversion with the expanded URL, none for a source without a template,
 * none for the import lineage, none twice on a replay; one per status
 * change with the new status and amounts; one to the campaign's partner
 * with its payout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pm/journal.h"
#include "pm/outbox.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S PM_USEC_PER_SEC

static pm_outbox_policy_t policy(int64_t base, int64_t max)
{
    pm_outbox_policy_t p = {.backoff_base_us = base, .backoff_max_us = max};
    pm_outbox_policy_defaults(&p);
    return p;
}

static void test_defaults(void **state)
{
    pm_outbox_policy_t p = {0};
    pm_outbox_policy_defaults(&p);
    assert_int_equal(p.backoff_base_us, 30 * S);
    assert_int_equal(p.backoff_max_us, 3600 * S);
    assert_int_equal(p.max_attempts, 10);
    assert_int_equal(p.max_age_us, 3 * 86400 * S);
    assert_int_equal(p.timeout_us, 10 * S);
    assert_int_equal(p.concurrency, 32);
    pm_outbox_policy_t q = {.backoff_base_us = 10 * S, .backoff_max_us = 1 * S, .concurrency = 100000};
    pm_outbox_policy_defaults(&q);
    assert_int_equal(q.backoff_max_us, 10 * S); /* the cap is never below the base */
    assert_int_equal(q.concurrency, 256);
}

/* rnd = 0 gives the lower bound d/2, rnd = d/2 the upper bound d. */
static void test_backoff_doubles_and_caps(void **state)
{
    pm_outbox_policy_t p = policy(1 * S, 60 * S);
    int64_t expect[] = {1, 2, 4, 8, 16, 32, 60, 60, 60};
    for (unsigned f = 1; f <= PM_ARRAY_LEN(expect); f++) {
        int64_t d = expect[f - 1] * S;
        assert_int_equal(pm_outbox_backoff_us(&p, f, 0), d - d / 2);
        assert_int_equal(pm_outbox_backoff_us(&p, f, (uint64_t)(d / 2)), d);
    }
    /* Huge failure counts neither overflow nor pass the cap. */
    assert_int_equal(pm_outbox_backoff_us(&p, 4000000000u, (uint64_t)(30 * S)), 60 * S);
    pm_outbox_policy_t big = policy(INT64_MAX / 4, INT64_MAX / 2);
    assert_true(pm_outbox_backoff_us(&big, 200, UINT64_MAX) <= INT64_MAX / 2);
}

static void test_backoff_jitter_stays_in_bounds_and_spreads(void **state)
{
    pm_outbox_policy_t p = policy(30 * S, 3600 * S);
    uint64_t x = 88172645463325252ull;
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 10000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t d = pm_outbox_backoff_us(&p, 3, x); /* nominal 120 s */
        assert_true(d >= 60 * S && d <= 120 * S);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    /* The spread covers most of the window (receivers are not hit in step). */
    assert_true(lo < 62 * S && hi > 118 * S);
}

static void test_give_up(void **state)
{
    pm_outbox_policy_t p = {.max_attempts = 3, .max_age_us = 100 * S};
    pm_outbox_policy_defaults(&p);
    assert_false(pm_outbox_give_up(&p, 1, 0, 10 * S));
    assert_false(pm_outbox_give_up(&p, 2, 0, 100 * S));
    assert_true(pm_outbox_give_up(&p, 3, 0, 10 * S));        /* attempts */
    assert_true(pm_outbox_give_up(&p, 1, 0, 100 * S + 1));   /* age of the next attempt */
    assert_false(pm_outbox_give_up(&p, 1, 50 * S, 140 * S)); /* age counts from the (re)queue */
}

static void conversion(pm_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = PM_EV_CONVERSION;
    ev->ts = 1700000000 * S;
    assert_int_equal(pm_id_parse("01HF0000000000000000000001", 26, &ev->id), PM_OK);
    assert_int_equal(pm_id_parse("01HF0000000000000000000002", 26, &ev->click_id), PM_OK);
    ev->campaign_id = 5, ev->traffic_source_id = 1, ev->offer_id = 7;
    ev->revenue.micros = 12500000;
    memcpy(ev->revenue.currency.code, "EUR", 4);
    pm_event_set(ev, PM_EVS_EXTERNAL_ID, "g c&l=1", 7);
    pm_event_set(ev, PM_EVS_SUB1, "kw one", 6);
    pm_event_set(ev, PM_EVS_SUB10, "z", 1);
    pm_event_set(ev, PM_EVS_TXID, "T/1", 3);
    pm_event_set(ev, PM_EVS_STATUS, "approved", 8);
    pm_event_set(ev, PM_EVS_CONV_TYPE, "sale", 4);
}

static void test_build_url_every_macro(void **state)
{
    pm_event_t ev;
    conversion(&ev);
    pm_buf_t out;
    pm_buf_init(&out, 4096);
    const char *tpl = "https://ts.example/pb?e={external_id}&c={clickid}&c2={click_id}&v={conversion_id}"
                      "&p={payout}&r={revenue}&cur={currency}&st={status}&tx={txid}&t={type}&k={campaign_id}"
                      "&src={traffic_source_id}&o={offer_id}&l={lander_id}&s1={sub1}&s2={sub2}&s10={sub10}"
                      "&u={utm_source}&keep={aff_sub}&brace={&{}";
    assert_int_equal(pm_outbox_build_url(&out, tpl, &ev, "pending", PM_OUTBOX_TO_SOURCE), PM_OK);
    assert_string_equal(pm_buf_str(&out),
                        "https://ts.example/pb?e=g%20c%26l%3D1&c=01HF0000000000000000000002"
                        "&c2=01HF0000000000000000000002&v=01HF0000000000000000000001&p=12.50&r=12.50&cur=EUR"
                        "&st=pending&tx=T%2F1&t=sale&k=5&src=1&o=7&l=&s1=kw%20one&s2=&s10=z&u=&keep={aff_sub}"
                        "&brace={&{}");
    pm_buf_free(&out);
}

/* A status change names its conversion; a partner sees its payout only. */
static void status_change(pm_event_t *ev, const char *id, const char *prev, const char *status, int64_t revenue)
{
    conversion(ev);
    ev->type = PM_EV_STATUS_CHANGE;
    ev->ref_id = ev->id;
    ev->ref_ts = ev->ts;
    assert_int_equal(pm_id_parse(id, 26, &ev->id), PM_OK);
    ev->ts += 60 * S;
    ev->revenue.micros = revenue;
    pm_event_set(ev, PM_EVS_PREV_STATUS, prev, strlen(prev));
    pm_event_set(ev, PM_EVS_STATUS, status, strlen(status));
}

static void partnered(pm_event_t *ev)
{
    ev->partner_id = 3;
    ev->payout.micros = 4000000;
    memcpy(ev->payout.currency.code, "USD", 4);
}

static void test_build_url_status_change_and_partner(void **state)
{
    pm_event_t ev;
    status_change(&ev, "01HF0000000000000000000009", "pending", "approved", 13000000);
    partnered(&ev);
    pm_buf_t out;
    pm_buf_init(&out, 4096);
    const char *tpl = "?v={conversion_id}&st={status}&was={prev_status}&e={event}&p={payout}&r={revenue}"
                      "&cur={currency}&pa={partner_id}";
    assert_int_equal(pm_outbox_build_url(&out, tpl, &ev, "approved", PM_OUTBOX_TO_SOURCE), PM_OK);
    assert_string_equal(pm_buf_str(&out), "?v=01HF0000000000000000000001&st=approved&was=pending&e=status_change"
                                          "&p=13.00&r=13.00&cur=EUR&pa=3");
    pm_buf_reset(&out);
    assert_int_equal(pm_outbox_build_url(&out, tpl, &ev, "approved", PM_OUTBOX_TO_PARTNER), PM_OK);
    assert_string_equal(pm_buf_str(&out), "?v=01HF0000000000000000000001&st=approved&was=pending&e=status_change"
                                          "&p=4.00&r=4.00&cur=USD&pa=3");
    pm_buf_reset(&out);
    conversion(&ev);
    assert_int_equal(
        pm_outbox_build_url(&out, "{event}|{prev_status}|{partner_id}", &ev, "approved", PM_OUTBOX_TO_SOURCE), PM_OK);
    assert_string_equal(pm_buf_str(&out), "conversion||");
    pm_buf_free(&out);
}

static void test_build_url_cap(void **state)
{
    pm_event_t ev;
    conversion(&ev);
    pm_buf_t out;
    pm_buf_init(&out, 16);
    assert_int_equal(
        pm_outbox_build_url(&out, "https://ts.example/pb?c={clickid}", &ev, "approved", PM_OUTBOX_TO_SOURCE),
        PM_ETOOBIG);
    pm_buf_free(&out);
}

/* --- the sink through the materializer's recovery ------------------------- */

typedef struct fixture_s {
    char dir[64], db[128], jdir[128];
    pm_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pm_outbox_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/pm.db", f->dir);
    snprintf(f->jdir, sizeof(f->jdir), "%s/journal", f->dir);
    assert_int_equal(pm_store_open(f->db, &f->store), PM_OK);
    assert_int_equal(pm_store_exec(f->store,
                                   "INSERT INTO traffic_sources(id,name,postback_url,created_at,updated_at) VALUES"
                                   " (1,'s','https://ts.example/pb?c={clickid}&st={status}&p={payout}',0,0),"
                                   " (2,'quiet','',0,0);"
                                   "INSERT INTO partners(id,name,postback_url,created_at,updated_at) VALUES"
                                   " (3,'aff','https://aff.example/pb?v={conversion_id}&st={status}&p={payout}',0,0),"
                                   " (4,'mute','',0,0);"),
                     PM_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    pm_store_close(f->store);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void journal_events(fixture_t *f, unsigned lineage, pm_event_t *evs, size_t n)
{
    pm_journal_config_t jc = {.dir = f->jdir, .lineage = lineage, .sync_interval_us = 1000};
    pm_journal_t *j = NULL;
    assert_int_equal(mkdir(f->jdir, 0700) == 0 || errno == EEXIST, 1);
    assert_int_equal(pm_journal_open(&jc, &j), PM_OK);
    pm_buf_t rec;
    pm_buf_init(&rec, PM_JOURNAL_MAX_RECORD);
    for (size_t i = 0; i < n; i++) {
        uint64_t lsn;
        pm_buf_reset(&rec);
        assert_int_equal(pm_event_encode(&evs[i], &rec), PM_OK);
        assert_int_equal(pm_journal_append(j, rec.data, rec.len, &lsn), PM_OK);
    }
    pm_buf_free(&rec);
    pm_journal_close(j);
}

static void recover(fixture_t *f)
{
    const pm_sink_ops_t *const sinks[] = {&pm_outbox_sink};
    pm_recovery_t rec;
    assert_int_equal(pm_materializer_recover(f->store, f->jdir, sinks, 1, &rec), PM_OK);
}

static int64_t count(fixture_t *f, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(pm_store_db(f->store), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void test_sink_enqueues_once_per_new_conversion(void **state)
{
    fixture_t *f = *state;
    pm_event_t evs[4];
    conversion(&evs[0]);
    conversion(&evs[1]); /* same id: a replayed duplicate */
    conversion(&evs[2]);
    evs[2].id.b[15] ^= 0x7f, evs[2].traffic_source_id = 2; /* a source without a template */
    pm_event_set(&evs[2], PM_EVS_TXID, "T/2", 3);
    conversion(&evs[3]);
    evs[3].id.b[15] ^= 0x3c;
    pm_event_set(&evs[3], PM_EVS_TXID, "T/3", 3);
    pm_event_set(&evs[3], PM_EVS_STATUS, "pending", 7);
    journal_events(f, 0, evs, 4);
    recover(f);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks"), 2);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks WHERE status='pending' AND attempts=0"
                              " AND next_attempt_at=0 AND target='traffic_source' AND event='conversion'"
                              " AND url='https://ts.example/pb?c=01HF0000000000000000000002&st=approved&p=12.50'"
                              " AND conversion_id='01HF0000000000000000000001' AND campaign_id=5"),
                     1);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks WHERE conversion_status='pending'"
                              " AND url LIKE '%st=pending%'"),
                     1);
    /* Replaying the same journal again (a crash before the segments went)
     * enqueues nothing more. */
    journal_events(f, 0, evs, 4);
    recover(f);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks"), 2);
}

static void test_sink_enqueues_once_per_status_change(void **state)
{
    fixture_t *f = *state;
    pm_event_t evs[4];
    conversion(&evs[0]);
    pm_event_set(&evs[0], PM_EVS_STATUS, "pending", 7);
    status_change(&evs[1], "01HF0000000000000000000009", "pending", "approved", 13000000);
    evs[1].version = 1;
    status_change(&evs[2], "01HF000000000000000000000A", "approved", "chargeback", 13000000);
    evs[2].version = 2;
    evs[3] = evs[2]; /* a replayed duplicate of the chargeback */
    journal_events(f, 0, evs, 4);
    recover(f);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks"), 3);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks WHERE conversion_id='01HF0000000000000000000001'"
                              " AND target='traffic_source'"),
                     3);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks WHERE event='conversion' AND conversion_status='pending'"
                              " AND url='https://ts.example/pb?c=01HF0000000000000000000002&st=pending&p=12.50'"),
                     1);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks WHERE event_id='01HF0000000000000000000009'"
                              " AND event='status_change' AND conversion_status='approved'"
                              " AND url='https://ts.example/pb?c=01HF0000000000000000000002&st=approved&p=13.00'"),
                     1);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks WHERE event_id='01HF000000000000000000000A'"
                              " AND event='status_change' AND conversion_status='chargeback'"
                              " AND url LIKE '%st=chargeback&p=13.00'"),
                     1);
    journal_events(f, 0, evs, 4);
    recover(f);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks"), 3);
}

static void test_sink_enqueues_to_the_partner(void **state)
{
    fixture_t *f = *state;
    pm_event_t evs[3];
    conversion(&evs[0]);
    partnered(&evs[0]);
    status_change(&evs[1], "01HF0000000000000000000009", "approved", "refund", 12500000);
    partnered(&evs[1]);
    conversion(&evs[2]); /* a partner without a template, a source without one */
    evs[2].id.b[15] ^= 0x7f, evs[2].traffic_source_id = 2, evs[2].partner_id = 4;
    journal_events(f, 0, evs, 3);
    recover(f);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks WHERE target='traffic_source'"), 2);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks WHERE target='partner'"), 2);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks WHERE target='partner' AND partner_id=3"
                              " AND traffic_source_id=1 AND event='conversion' AND conversion_status='approved'"
                              " AND url='https://aff.example/pb?v=01HF0000000000000000000001&st=approved&p=4.00'"),
                     1);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks WHERE target='partner' AND event='status_change'"
                              " AND url='https://aff.example/pb?v=01HF0000000000000000000001&st=refund&p=4.00'"),
                     1);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks WHERE target='traffic_source' AND url LIKE '%p=12.50'"),
                     2);
}

static void test_sink_skips_the_import_lineage(void **state)
{
    fixture_t *f = *state;
    pm_event_t ev;
    conversion(&ev);
    journal_events(f, PM_IMPORT_LINEAGE, &ev, 1);
    recover(f);
    assert_int_equal(count(f, "SELECT count(*) FROM conversions"), 1);
    assert_int_equal(count(f, "SELECT count(*) FROM postbacks"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_backoff_doubles_and_caps),
        cmocka_unit_test(test_backoff_jitter_stays_in_bounds_and_spreads),
        cmocka_unit_test(test_give_up),
        cmocka_unit_test(test_build_url_every_macro),
        cmocka_unit_test(test_build_url_status_change_and_partner),
        cmocka_unit_test(test_build_url_cap),
        cmocka_unit_test_setup_teardown(test_sink_enqueues_once_per_new_conversion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_enqueues_once_per_status_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_enqueues_to_the_partner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sink_skips_the_import_lineage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_track.c: the tracking handlers and the materializer, driven directly
 * (no HTTP): a temp store with one campaign, a real journal, the shared
 * recent maps. Checks redirects and macros, fallbacks, impressions,
 * postbacks (recent map and store lookups, duplicates, orphans), pixels, and
 * that the materializer stores exactly what was journaled.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pm/ledger.h"
#include "pm/materializer.h"
#include "pm/track.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fixture_s {
    char dir[64], db[128], jdir[128];
    pm_store_t *store;
    pm_config_t *cfg;
    pm_journal_t *journal;
    pm_track_shared_t shared;
    pm_track_t *track;
} fixture_t;

static const char seed_sql[] =
    "INSERT INTO traffic_sources(id,name,postback_url,created_at,updated_at) VALUES(1,'src','',0,0);"
    "INSERT INTO offers(id,name,url,payout_type,payout_micros,payout_currency,created_at,updated_at)"
    " VALUES(7,'offer','https://o.example/?c={clickid}&s={sub1}&u={utm_source}&k={campaign_id}&x={nope}',"
    " 'cpa',12500000,'USD',0,0);"
    "INSERT INTO landers(id,name,url,created_at,updated_at) VALUES(3,'lp','https://lp.example/?go={offer_url}',0,0);"
    "INSERT INTO campaigns(id,name,token,status,traffic_source_id,offer_id,lander_id,cost_model,cost_micros,"
    " cost_currency,created_at,updated_at) VALUES(5,'c','tok1','active',1,7,NULL,'cpc',400000,'USD',0,0),"
    " (6,'p','paused1','paused',1,7,NULL,'cpc',400000,'USD',0,0),"
    " (8,'l','land1','active',1,7,3,'cpm',2000000,'USD',0,0);"
    "INSERT INTO settings(key,value) VALUES('fallback_url','https://fallback.example/');";

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/pm-track-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/db", f->dir);
    snprintf(f->jdir, sizeof(f->jdir), "%s/journal", f->dir);
    assert_int_equal(pm_store_open(f->db, &f->store), PM_OK);
    assert_int_equal(pm_store_exec(f->store, seed_sql), PM_OK);
    assert_int_equal(pm_config_load(f->store, "http://t.example", &f->cfg), PM_OK);
    pm_journal_config_t jc = {.dir = f->jdir, .lineage = 0, .sync_interval_us = 1000};
    assert_int_equal(pm_journal_open(&jc, &f->journal), PM_OK);
    f->shared.clicks = pm_recent_create(1000);
    f->shared.conversions = pm_recent_create(1000);
    f->track = pm_track_create(f->journal, f->store, &f->shared);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    pm_track_destroy(f->track);
    pm_journal_close(f->journal);
    pm_recent_destroy(f->shared.clicks);
    pm_recent_destroy(f->shared.conversions);
    pm_config_release(f->cfg);
    pm_store_close(f->store);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static pm_slice_t S(const char *s) { return (pm_slice_t){s, s ? strlen(s) : 0}; }

static pm_http_req_t request(const char *query)
{
    pm_http_req_t r = {.method = S("GET"), .query = S(query), .user_agent = S("Mozilla/5.0 test")};
    assert_int_equal(pm_ip_parse("203.0.113.77", 12, &r.peer), PM_OK);
    return r;
}

static const char *header(const pm_http_res_t *res, const char *name, int nth)
{
    for (size_t i = 0; i < res->nheaders; i++)
        if (strcmp(res->headers[i].name, name) == 0 && nth-- == 0) return res->headers[i].value;
    return NULL;
}

/* Click and return the click id found in the Location (26 chars). */
static void click(fixture_t *f, const char *token, const char *query, char *id_out)
{
    pm_http_req_t r = request(query);
    pm_http_res_t res;
    pm_http_res_init(&res);
    pm_track_click(f->track, f->cfg, &r, S(token), &res);
    assert_int_equal(res.status, 302);
    const char *loc = header(&res, "location", 0);
    assert_non_null(loc);
    const char *c = strstr(loc, "c=");
    if (id_out && c) {
        memcpy(id_out, c + 2, PM_ID_LEN);
        id_out[PM_ID_LEN] = '\0';
    }
    pm_http_res_free(&res);
}

static void test_click_redirects_with_macros(void **state)
{
    fixture_t *f = *state;
    pm_http_req_t r = request("sub1=a%20b&utm_source=goo%26gle&external_id=x1");
    pm_http_res_t res;
    pm_http_res_init(&res);
    pm_track_click(f->track, f->cfg, &r, S("tok1"), &res);
    assert_int_equal(res.status, 302);
    const char *loc = header(&res, "location", 0);
    assert_non_null(loc);
    assert_int_equal(strncmp(loc, "https://o.example/?c=", 21), 0);
    assert_non_null(strstr(loc, "&s=a%20b&u=goo%26gle&k=5&x={nope}"));
    assert_non_null(header(&res, "set-cookie", 0));
    assert_int_equal(strncmp(header(&res, "set-cookie", 0), "pmv=", 4), 0);
    assert_int_equal(strncmp(header(&res, "set-cookie", 1), "pmc=", 4), 0);
    assert_int_equal(pm_recent_count(f->shared.clicks), 1);
    pm_http_res_free(&res);
}

static void test_unknown_and_paused_fall_back(void **state)
{
    fixture_t *f = *state;
    const char *tokens[] = {"nope", "paused1", "", "tok1x"};
    for (size_t i = 0; i < 4; i++) {
        pm_http_req_t r = request("sub1=1");
        pm_http_res_t res;
        pm_http_res_init(&res);
        pm_track_click(f->track, f->cfg, &r, S(tokens[i]), &res);
        assert_int_equal(res.status, 302);
        assert_string_equal(header(&res, "location", 0), "https://fallback.example/");
        pm_http_res_free(&res);
    }
    assert_int_equal(pm_recent_count(f->shared.clicks), 0);
}

static void test_lander_gets_offer_url(void **state)
{
    fixture_t *f = *state;
    pm_http_req_t r = request("");
    pm_http_res_t res;
    pm_http_res_init(&res);
    pm_track_click(f->track, f->cfg, &r, S("land1"), &res);
    const char *loc = header(&res, "location", 0);
    assert_int_equal(strncmp(loc, "https://lp.example/?go=http%3A%2F%2Ft.example%2Fgo%3Fclickid%3D", 63), 0);
    pm_http_res_free(&res);
}

static void test_impression_gif_and_204(void **state)
{
    fixture_t *f = *state;
    pm_http_req_t r = request("");
    pm_http_res_t res;
    pm_http_res_init(&res);
    pm_track_impression(f->track, f->cfg, &r, S("tok1"), &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "image/gif");
    assert_int_equal(res.body.len, sizeof(pm_track_gif));
    pm_http_res_free(&res);
    r = request("fmt=204");
    pm_http_res_init(&res);
    pm_track_impression(f->track, f->cfg, &r, S("unknown"), &res);
    assert_int_equal(res.status, 204);
    assert_int_equal(res.body.len, 0);
    pm_http_res_free(&res);
}

static void postback(fixture_t *f, const char *query, int status, pm_buf_t *body)
{
    pm_http_req_t r = request(query);
    pm_http_res_t res;
    pm_http_res_init(&res);
    pm_track_conversion(f->track, f->cfg, &r, false, &res);
    assert_int_equal(res.status, status);
    if (body) assert_int_equal(pm_buf_append(body, res.body.data, res.body.len), PM_OK);
    if (status == 200) assert_true(res.wait_lsn > 0 || strstr(pm_buf_str(&res.body), "accepted"));
    pm_http_res_free(&res);
}

static void test_postback_duplicate_and_orphans(void **state)
{
    fixture_t *f = *state;
    char id[PM_ID_LEN + 1], q[256];
    click(f, "tok1", "sub1=s", id);
    pm_buf_t first, again;
    pm_buf_init(&first, 4096);
    pm_buf_init(&again, 4096);
    snprintf(q, sizeof(q), "clickid=%s&payout=3.25&txid=T1", id);
    postback(f, q, 200, &first);
    assert_non_null(strstr(pm_buf_str(&first), "\"revenue\":{\"amount\":\"3.25\",\"currency\":\"USD\"}"));
    snprintf(q, sizeof(q), "clickid=%s&payout=3.25&txid=T1", id);
    postback(f, q, 200, &again);
    assert_string_equal(pm_buf_str(&first), pm_buf_str(&again)); /* an exact repeat: the same answer */
    pm_buf_reset(&again);
    /* A new amount for the same txid is a change of the same conversion. */
    snprintf(q, sizeof(q), "clickid=%s&payout=99&txid=T1", id);
    postback(f, q, 200, &again);
    assert_non_null(strstr(pm_buf_str(&again), "\"revenue\":{\"amount\":\"99.00\""));
    assert_memory_equal(strstr(pm_buf_str(&first), "conversion_id"), strstr(pm_buf_str(&again), "conversion_id"), 44);
    postback(f, "clickid=01M84TS2N3985ZJT2JJM5TJGRA", 404, NULL);
    postback(f, "clickid=garbage", 404, NULL);
    postback(f, "payout=1", 400, NULL);
    snprintf(q, sizeof(q), "clickid=%s&payout=1.2345678", id);
    postback(f, q, 400, NULL);
    snprintf(q, sizeof(q), "clickid=%s&status=maybe", id);
    postback(f, q, 400, NULL);
    pm_track_stats_t st = {0};
    pm_track_stats_add(f->track, &st);
    assert_int_equal(st.conversions, 1);
    assert_int_equal(st.status_changes, 1);
    assert_int_equal(st.duplicate_postbacks, 1);
    assert_int_equal(st.orphan_postbacks, 5);
    pm_buf_free(&first);
    pm_buf_free(&again);
}

static void test_pixel_uses_cookie(void **state)
{
    fixture_t *f = *state;
    char id[PM_ID_LEN + 1], cookie[64];
    click(f, "tok1", "", id);
    snprintf(cookie, sizeof(cookie), "other=1; pmc=%s", id);
    pm_http_req_t r = request("txid=px1");
    r.cookie = S(cookie);
    pm_http_res_t res;
    pm_http_res_init(&res);
    pm_track_conversion(f->track, f->cfg, &r, true, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "image/gif");
    assert_true(res.wait_lsn > 0);
    pm_http_res_free(&res);
}

static int count_rows(fixture_t *f, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(pm_store_db(f->store), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void forget(void *arg, const pm_event_t *ev) { pm_track_forget(arg, ev); }

/* Events reach the store exactly once, the recent maps empty, and a postback
 * for a click that is only in the store still finds it. */
static void test_materializer_and_store_lookup(void **state)
{
    fixture_t *f = *state;
    char id[PM_ID_LEN + 1], q[128];
    click(f, "tok1", "sub2=deep&utm_medium=cpc", id);
    snprintf(q, sizeof(q), "clickid=%s&txid=M1", id);
    postback(f, q, 200, NULL);
    pm_materializer_t *m;
    pm_materializer_config_t mc = {.db_path = f->db,
                                   .journal_dir = f->jdir,
                                   .journals = &f->journal,
                                   .njournals = 1,
                                   .on_materialized = forget,
                                   .arg = &f->shared};
    assert_int_equal(pm_materializer_start(&mc, &m), PM_OK);
    pm_materializer_stop(m); /* drains what is written */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM clicks"), 1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM conversions WHERE txid='M1' AND sub2='deep'"
                                   " AND utm_medium='cpc' AND revenue_micros=12500000 AND campaign_id=5"),
                     1);
    assert_int_equal(pm_recent_count(f->shared.clicks), 0);
    assert_int_equal(pm_recent_count(f->shared.conversions), 0);
    /* The duplicate is now answered from the store, the new txid is new. */
    postback(f, q, 200, NULL);
    snprintf(q, sizeof(q), "clickid=%s&txid=M2&type=upsell", id);
    postback(f, q, 200, NULL);
    pm_track_stats_t st = {0};
    pm_track_stats_add(f->track, &st);
    assert_int_equal(st.duplicate_postbacks, 1);
    assert_int_equal(st.conversions, 2);
}

static void materialize_with_ledger(fixture_t *f)
{
    static const pm_sink_ops_t *const sinks[] = {&pm_ledger_sink};
    pm_materializer_t *m;
    pm_materializer_config_t mc = {.db_path = f->db, .journal_dir = f->jdir, .journals = &f->journal,
                                   .njournals = 1, .on_materialized = forget, .arg = &f->shared,
                                   .sinks = sinks, .nsinks = 1};
    assert_int_equal(pm_materializer_start(&mc, &m), PM_OK);
    pm_materializer_stop(m);
}

/* The lifecycle: a change decided from the shared map before anything is
 * stored, a repeat, a refused transition, the map keeping the change when
 * the materializer forgets the older conversion, then a change decided
 * from the store; the ledger books each state once. */
static void test_status_changes_map_then_store(void **state)
{
    fixture_t *f = *state;
    char id[PM_ID_LEN + 1], q[128];
    pm_buf_t body;
    pm_buf_init(&body, 4096);
    click(f, "tok1", "", id);
    snprintf(q, sizeof(q), "clickid=%s&txid=L1&status=pending", id);
    postback(f, q, 200, &body);
    const char *cid = strstr(pm_buf_str(&body), "\"conversion_id\":\"") + 17;
    pm_event_t conv = {.type = PM_EV_CONVERSION, .offer_id = 7};
    assert_int_equal(pm_id_parse(cid, PM_ID_LEN, &conv.id), PM_OK);
    pm_event_set(&conv, PM_EVS_TXID, "L1", 2);
    snprintf(q, sizeof(q), "clickid=%s&txid=L1&status=approved", id);
    pm_buf_reset(&body);
    postback(f, q, 200, &body);
    assert_non_null(strstr(pm_buf_str(&body), "\"status\":\"approved\""));
    assert_memory_equal(strstr(pm_buf_str(&body), "\"conversion_id\":\"") + 17, cid, PM_ID_LEN);
    postback(f, q, 200, NULL); /* a repeat */
    snprintf(q, sizeof(q), "clickid=%s&txid=L1&status=pending", id);
    postback(f, q, 409, NULL);
    assert_int_equal(pm_recent_count(f->shared.conversions), 1);
    pm_track_forget(&f->shared, &conv); /* the map holds the change, not this */
    assert_int_equal(pm_recent_count(f->shared.conversions), 1);
    materialize_with_ledger(f);
    assert_int_equal(pm_recent_count(f->shared.conversions), 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM conversions WHERE status='pending'"), 1);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM conversion_state WHERE status='approved' AND version=1"), 1);
    assert_int_equal(count_rows(f, "SELECT sum(amount_micros) FROM ledger_entries WHERE account_type='advertiser'"),
                     12500000);
    /* From the store now: approved -> chargeback. */
    snprintf(q, sizeof(q), "clickid=%s&txid=L1&status=chargeback", id);
    postback(f, q, 200, NULL);
    materialize_with_ledger(f);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM conversion_state WHERE status='chargeback' AND version=2"), 1);
    assert_int_equal(count_rows(f, "SELECT sum(amount_micros) FROM ledger_entries WHERE account_type='advertiser'"),
                     0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM ledger_entries"), 4 + 2); /* revenue, reversal; the click */
    pm_track_stats_t st = {0};
    pm_track_stats_add(f->track, &st);
    assert_int_equal(st.conversions, 1);
    assert_int_equal(st.status_changes, 2);
    assert_int_equal(st.duplicate_postbacks, 1);
    pm_buf_free(&body);
}

/* The live materializer follows a journal across many rotations, in
 * budget-sized windows, and deletes the segments it has finished. */
static void test_materializer_follows_rotations(void **state)
{
    fixture_t *f = *state;
    pm_track_destroy(f->track);
    pm_journal_close(f->journal);
    pm_journal_config_t jc = {.dir = f->jdir, .lineage = 1, .segment_max = 4096, .sync_interval_us = 1000};
    assert_int_equal(pm_journal_open(&jc, &f->journal), PM_OK);
    f->track = pm_track_create(f->journal, f->store, &f->shared);
    pm_materializer_t *m;
    pm_journal_t *journals[2] = {NULL, f->journal};
    pm_journal_config_t jc0 = {.dir = f->jdir, .lineage = 0};
    assert_int_equal(pm_journal_open(&jc0, &journals[0]), PM_OK);
    pm_materializer_config_t mc = {.db_path = f->db,
                                   .journal_dir = f->jdir,
                                   .journals = journals,
                                   .njournals = 2,
                                   .on_materialized = forget,
                                   .arg = &f->shared};
    assert_int_equal(pm_materializer_start(&mc, &m), PM_OK);
    char id[PM_ID_LEN + 1];
    for (int i = 0; i < 600; i++)
        click(f, "tok1", "sub1=rotate&sub2=a-longer-value-to-fill-segments-faster", id);
    pm_materializer_stop(m);
    pm_journal_close(journals[0]);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM clicks WHERE sub1='rotate'"), 600);
    assert_int_equal(pm_recent_count(f->shared.clicks), 0);
    pm_jsegment_t *segs = NULL;
    size_t n = 0;
    assert_int_equal(pm_journal_list(f->jdir, &segs, &n), PM_OK);
    assert_true(n <= 3); /* finished segments are gone: the live ones remain */
    pm_free(segs);
}

/* Recovery replays a journal left behind, once. */
static void test_recovery_is_idempotent(void **state)
{
    fixture_t *f = *state;
    char id[PM_ID_LEN + 1];
    for (int i = 0; i < 50; i++)
        click(f, "tok1", "sub1=r", id);
    pm_recovery_t rec;
    assert_int_equal(pm_materializer_recover(f->store, f->jdir, NULL, 0, &rec), PM_OK);
    assert_int_equal(rec.records, 50);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM clicks"), 50);
    assert_int_equal(pm_materializer_recover(f->store, f->jdir, NULL, 0, &rec), PM_OK);
    assert_int_equal(rec.records, 0);
    assert_int_equal(count_rows(f, "SELECT count(*) FROM clicks"), 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_click_redirects_with_macros, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_paused_fall_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lander_gets_offer_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_impression_gif_and_204, setup, teardown),
        cmocka_unit_test_setup_teardown(test_postback_duplicate_and_orphans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pixel_uses_cookie, setup, teardown),
        cmocka_unit_test_setup_teardown(test_materializer_and_store_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_materializer_follows_rotations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_changes_map_then_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

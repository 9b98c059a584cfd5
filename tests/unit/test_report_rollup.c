/*
 * test_report_rollup.c: the report rollups against the raw event tables.
 * Events go through the real write path (journal, recovery, report sink);
 * the rollup tables are then compared with plain SQL over the raw tables
 * (counts per campaign and UTC day, per 15 minutes and sub1, unique
 * visitors, money per currency), replays must not count twice, a click
 * that reaches the store after a later click of its visitor takes the
 * unique, a rebuild gives the same tables, and the report engine answers
 * the same from rollups (plus the not yet rolled-up tail) as from a raw scan
 * for many group-bys, filters and time zones. One long-lived rollup engine
 * (statements and credit overlay kept across catch-ups, as in the server)
 * with rolled-back catch-ups in between ends where a rebuild does.
 */
#include "report_fixture.h"
#include "report/report_internal.h"

#include <jansson.h>

/* --- helpers ------------------------------------------------------------------- */

static int dump_row(void *arg, int n, char **vals, char **names)
{
    pm_buf_t *b = arg;
    for (int i = 0; i < n; i++)
        assert_int_equal(pm_buf_printf(b, "%s%s", i ? "|" : "", vals[i] ? vals[i] : "NULL"), PM_OK);
    assert_int_equal(pm_buf_appendc(b, '\n'), PM_OK);
    return 0;
}

/* The rows of `sql` as text (caller frees). */
static char *dump(fx_t *f, const char *sql)
{
    pm_buf_t b;
    char *err = NULL;
    pm_buf_init(&b, 256u << 20);
    if (sqlite3_exec(pm_store_db(f->store), sql, dump_row, &b, &err) != SQLITE_OK) fail_msg("%s: %s", sql, err);
    return pm_buf_take(&b, NULL);
}

static void assert_same(fx_t *f, const char *rollup_sql, const char *raw_sql)
{
    char *a = dump(f, rollup_sql), *b = dump(f, raw_sql);
    if (strcmp(a, b) != 0) {
        fprintf(stderr, "rollup: %s\n---\n%.2000s\n--- raw: %s\n---\n%.2000s\n", rollup_sql, a, raw_sql, b);
        fail();
    }
    assert_true(strlen(a) > 0);
    pm_free(a);
    pm_free(b);
}

static const char all_tables[] = "SELECT 'c', * FROM rollup_campaign_q UNION ALL SELECT 'C', * FROM rollup_campaign_d"
                                 " UNION ALL SELECT 'W', * FROM rollup_campaign_w ORDER BY 1,2,3,4,5,6;"
                                 "SELECT 'm', * FROM rollup_main_q UNION ALL SELECT 'M', * FROM rollup_main_d"
                                 " UNION ALL SELECT 'N', * FROM rollup_main_w ORDER BY 1,2,3,4,5,6,7,8,9;"
                                 "SELECT 'd', * FROM rollup_dim_q UNION ALL SELECT 'D', * FROM rollup_dim_d"
                                 " UNION ALL SELECT 'E', * FROM rollup_dim_w ORDER BY 1,2,3,4,5,6,7,8;"
                                 "SELECT * FROM report_seen ORDER BY 1,2,3;";

/* Events from two lineages with overlapping visitors, all rolled up. */
static fx_t *loaded(size_t n)
{
    fx_t *f = fx_open();
    pm_event_t *evs = calloc(n, sizeof(pm_event_t));
    fx_catch_up(f);
    fx_generate(f, evs, n, 0);
    fx_journal(f, evs, n, 0);
    fx_generate(f, evs, n, 1);
    fx_journal(f, evs, n, 1);
    fx_recover(f);
    fx_catch_up(f);
    free(evs);
    return f;
}

/* --- rollup tables = SQL over the raw tables ------------------------------------ */

static void test_rollups_match_raw_sql(void **state)
{
    fx_t *f = loaded(1500);
    /* Counts per campaign and UTC day. */
    assert_same(
        f,
        "SELECT campaign_id, bucket, sum(impressions), sum(clicks), sum(unique_clicks), sum(conversions),"
        " sum(pending_conversions), sum(rejected_conversions) FROM rollup_campaign_d WHERE campaign_id>=0 GROUP BY 1,2"
        " HAVING sum(impressions)+sum(clicks)+sum(conversions)+sum(pending_conversions)+sum(rejected_conversions)>0"
        " ORDER BY 1,2",
        "WITH e AS (SELECT campaign_id c, ts/86400000000 d, 1 i, 0 k, NULL v, NULL s FROM impressions"
        " UNION ALL SELECT campaign_id, ts/86400000000, 0, 1, visitor_id, NULL FROM clicks"
        " UNION ALL SELECT campaign_id, ts/86400000000, 0, 0, NULL, status FROM conversions)"
        " SELECT c, d, sum(i), sum(k), count(DISTINCT v), sum(s='approved'), sum(s='pending'),"
        " sum(s='rejected') FROM e GROUP BY 1,2 ORDER BY 1,2");
    /* The same per 15 minutes. */
    assert_same(
        f,
        "SELECT campaign_id, bucket, sum(impressions), sum(clicks), sum(conversions) FROM rollup_campaign_q"
        " WHERE campaign_id>=0 GROUP BY 1,2 HAVING sum(impressions)+sum(clicks)+sum(conversions)>0 ORDER BY 1,2",
        "WITH e AS (SELECT campaign_id c, ts/900000000 b, 1 i, 0 k, 0 a FROM impressions"
        " UNION ALL SELECT campaign_id, ts/900000000, 0, 1, 0 FROM clicks"
        " UNION ALL SELECT campaign_id, ts/900000000, 0, 0, status='approved' FROM conversions)"
        " SELECT c, b, sum(i), sum(k), sum(a) FROM e GROUP BY 1,2 HAVING sum(i)+sum(k)+sum(a)>0 ORDER BY 1,2");
    /* Money per currency: cost of impressions, clicks and approved
     * conversions; approved revenue and payout; pending revenue. */
    assert_same(
        f,
        "SELECT currency, sum(cost_micros), sum(revenue_micros), sum(payout_micros), sum(pending_revenue_micros)"
        " FROM rollup_campaign_d WHERE currency<>'' AND campaign_id>=0 GROUP BY 1 ORDER BY 1",
        "WITH m AS (SELECT cost_currency cur, cost_micros c, 0 r, 0 p, 0 pr FROM impressions WHERE cost_micros<>0"
        " UNION ALL SELECT cost_currency, cost_micros, 0, 0, 0 FROM clicks WHERE cost_micros<>0"
        " UNION ALL SELECT cost_currency, cost_micros, 0, 0, 0 FROM conversions WHERE cost_micros<>0 AND "
        "status='approved'"
        " UNION ALL SELECT revenue_currency, 0, revenue_micros, 0, 0 FROM conversions WHERE status='approved'"
        " UNION ALL SELECT payout_currency, 0, 0, payout_micros, 0 FROM conversions WHERE status='approved' AND "
        "payout_micros<>0"
        " UNION ALL SELECT revenue_currency, 0, 0, 0, revenue_micros FROM conversions WHERE status='pending')"
        " SELECT cur, sum(c), sum(r), sum(p), sum(pr) FROM m GROUP BY 1 ORDER BY 1");
    /* sub1 per campaign and 15 minutes (empty values are not stored). */
    assert_same(f,
                "SELECT campaign_id, bucket, value, sum(clicks), sum(unique_clicks) FROM rollup_dim_q WHERE dim=1"
                " AND campaign_id>=0 GROUP BY 1,2,3 HAVING sum(clicks)>0 ORDER BY 1,2,3",
                "SELECT campaign_id, ts/900000000, sub1, count(*), sum(first) FROM (SELECT *, row_number() OVER"
                " (PARTITION BY campaign_id, visitor_id, ts/86400000000 ORDER BY id)=1 AS first FROM clicks)"
                " WHERE sub1 IS NOT NULL GROUP BY 1,2,3 ORDER BY 1,2,3");
    /* The per-dimension cube and the main cube hold every event once. */
    assert_same(
        f, "SELECT sum(clicks), sum(unique_clicks) FROM rollup_main_d",
        "SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT campaign_id, visitor_id, ts/86400000000 FROM clicks))"
        " FROM clicks");
    assert_same(f, "SELECT sum(clicks) FROM rollup_dim_d WHERE dim=3 AND campaign_id>=0",
                "SELECT count(*) FROM clicks WHERE sub3 IS NOT NULL");
    /* The all-campaigns rows of the per-dimension cube are the sums over
     * campaigns: in the day tier for every dimension, in the 15-minute tier
     * for the shared ones only (utm_source, utm_medium, language and the
     * visitor context: codes 11, 12, 18-24). */
    char *none =
        dump(f, "SELECT count(*) FROM rollup_dim_q WHERE campaign_id<0 AND dim NOT IN (11,12,18,19,20,21,22,23,24)");
    assert_string_equal(none, "0\n");
    pm_free(none);
    char *shared = dump(f, "SELECT count(*) > 0 FROM rollup_dim_q WHERE campaign_id<0 AND dim IN (11,12,18)");
    assert_string_equal(shared, "1\n");
    pm_free(shared);
    static const char *const camp_cols = "bucket, conversion_type, currency, sum(impressions), sum(clicks),"
                                         " sum(unique_clicks), sum(conversions), sum(cost_micros), sum(money_events)";
    for (int tier = 0; tier < 2; tier++) { /* and of the campaign cube, both tiers */
        char a[512], b[512];
        snprintf(a, sizeof(a),
                 "SELECT %s FROM rollup_campaign_%s WHERE campaign_id=-1 AND traffic_source_id=-1"
                 " GROUP BY 1,2,3 ORDER BY 1,2,3",
                 camp_cols, tier ? "d" : "q");
        snprintf(b, sizeof(b), "SELECT %s FROM rollup_campaign_%s WHERE campaign_id>=0 GROUP BY 1,2,3 ORDER BY 1,2,3",
                 camp_cols, tier ? "d" : "q");
        assert_same(f, a, b);
    }
    for (int tier = 0; tier < 2; tier++) {
        char a[640], b[640];
        const char *cols = "dim, bucket, value, conversion_type, currency, sum(impressions), sum(clicks),"
                           " sum(unique_clicks), sum(conversions), sum(cost_micros), sum(revenue_micros)";
        const char *dims = tier ? "1" : "dim IN (11,12,18,19,20,21,22,23,24)";
        snprintf(a, sizeof(a),
                 "SELECT %s FROM rollup_dim_%s WHERE campaign_id=-1 AND traffic_source_id=-1 AND %s"
                 " GROUP BY 1,2,3,4,5 ORDER BY 1,2,3,4,5",
                 cols, tier ? "d" : "q", dims);
        snprintf(b, sizeof(b),
                 "SELECT %s FROM rollup_dim_%s WHERE campaign_id>=0 AND %s GROUP BY 1,2,3,4,5"
                 " HAVING count(*)>0 ORDER BY 1,2,3,4,5",
                 cols, tier ? "d" : "q", dims);
        assert_same(f, a, b);
    }
    fx_close(f);
}

/* --- replays ------------------------------------------------------------------------ */

static void test_replay_does_not_double_count(void **state)
{
    fx_t *f = fx_open();
    size_t n = 800;
    pm_event_t *evs = calloc(n, sizeof(pm_event_t));
    fx_catch_up(f);
    fx_generate(f, evs, n, 0);
    fx_materialize(f, evs, n, 0);
    fx_catch_up(f);
    char *before = dump(f, all_tables);
    /* The same records again (a replayed journal), then a catch-up. */
    fx_materialize(f, evs, n, 0);
    fx_materialize(f, evs, n / 2, 0);
    fx_catch_up(f);
    char *after = dump(f, all_tables);
    assert_string_equal(before, after);
    char *count = dump(f, "SELECT count(*) FROM clicks");
    char expect[32];
    size_t clicks = 0;
    for (size_t i = 0; i < n; i++)
        clicks += evs[i].type == PM_EV_CLICK;
    snprintf(expect, sizeof(expect), "%zu\n", clicks);
    assert_string_equal(count, expect);
    pm_free(before);
    pm_free(after);
    pm_free(count);
    free(evs);
    fx_close(f);
}

static void test_rebuild_gives_the_same_tables(void **state)
{
    fx_t *f = loaded(700);
    char *before = dump(f, all_tables);
    uint64_t n = 0;
    sqlite3 *db = pm_store_db(f->store);
    /* The wipe lowers secure_delete for itself and puts it back. */
    assert_int_equal(sqlite3_exec(db, "PRAGMA secure_delete=ON", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(pm_store_begin(f->store), PM_OK);
    assert_int_equal(pm_report_rebuild(db, &n), PM_OK);
    assert_int_equal(pm_store_commit(f->store), PM_OK);
    assert_true(n > 1000);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA secure_delete", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    char *after = dump(f, all_tables);
    assert_string_equal(before, after);
    pm_free(before);
    pm_free(after);
    fx_close(f);
}

/* A store migrated with events in it is flagged; the sink rebuilds on open. */
static void test_flagged_store_rebuilds_on_open(void **state)
{
    fx_t *f = loaded(300);
    char *before = dump(f, all_tables);
    fx_exec(f, "DELETE FROM rollup_campaign_d; DELETE FROM report_seen; INSERT INTO report_meta VALUES('rebuild','1')");
    fx_catch_up(f);
    char *after = dump(f, all_tables);
    assert_string_equal(before, after);
    pm_free(before);
    pm_free(after);
    fx_close(f);
}

/* --- unique clicks -------------------------------------------------------------------- */

static pm_event_t click(fx_t *f, unsigned lineage, int64_t ts, uint8_t visitor, const char *sub1)
{
    pm_event_t ev = {.type = PM_EV_CLICK, .ts = ts, .campaign_id = 1, .traffic_source_id = 1};
    ev.id = pm_id_next(&f->ids[lineage], ts);
    ev.visitor_id.b[0] = 7;
    ev.visitor_id.b[15] = visitor;
    pm_event_set(&ev, PM_EVS_SUB1, sub1, strlen(sub1));
    return ev;
}

/* --- lander clicks: one per click ----------------------------------------------------- */

static pm_event_t lander_click(fx_t *f, const pm_event_t *c, int64_t after_us)
{
    pm_event_t ev = *c;
    ev.type = PM_EV_LANDER_CLICK;
    ev.ts = c->ts + after_us;
    ev.id = pm_id_next(&f->ids[0], ev.ts);
    ev.click_id = c->id;
    memset(&ev.cost, 0, sizeof(ev.cost));
    return ev;
}

static const char lander_sums[] =
    "SELECT (SELECT count(*) FROM lander_clicks),"
    " (SELECT sum(lander_clicks) FROM rollup_campaign_d WHERE campaign_id = 1),"
    " (SELECT sum(lander_clicks) FROM rollup_campaign_q WHERE campaign_id = 1),"
    " (SELECT sum(lander_clicks) FROM rollup_main_d), (SELECT sum(lander_clicks) FROM rollup_main_q)";

/* Two lander clicks of one click (a reload of /go), in one segment, again
 * in a replay and from the other lineage: one row, one counted. */
static void test_one_lander_click_per_click(void **state)
{
    fx_t *f = fx_open();
    fx_catch_up(f);
    pm_event_t c = click(f, 0, FX_T0 + 3600 * INT64_C(1000000), 1, "x");
    c.lander_id = 1;
    c.offer_id = 1;
    pm_event_t evs[] = {c, lander_click(f, &c, 3000000), lander_click(f, &c, 9000000)};
    fx_materialize(f, evs, 3, 0);
    fx_catch_up(f);
    char *got = dump(f, lander_sums);
    assert_string_equal(got, "1|1|1|1|1\n");
    pm_free(got);
    pm_event_t again = lander_click(f, &c, 20000000);
    fx_materialize(f, evs, 3, 0);
    fx_materialize(f, &again, 1, 1);
    fx_catch_up(f);
    got = dump(f, lander_sums);
    assert_string_equal(got, "1|1|1|1|1\n");
    pm_free(got);
    /* The first one is kept. */
    char idtext[32];
    pm_id_format(&evs[1].id, idtext);
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT id = '%s' FROM lander_clicks", idtext);
    got = dump(f, sql);
    assert_string_equal(got, "1\n");
    pm_free(got);
    fx_close(f);
}

/* A version 9 store holding duplicates (and rollups that counted them):
 * migration 10 keeps the earliest per click and has the rollups rebuilt. */
static void test_migration_drops_duplicate_lander_clicks(void **state)
{
    fx_t *f = fx_open();
    fx_catch_up(f);
    pm_event_t c = click(f, 0, FX_T0 + 3600 * INT64_C(1000000), 1, "x");
    c.lander_id = 1;
    c.offer_id = 1;
    pm_event_t evs[] = {c, lander_click(f, &c, 3000000)};
    fx_materialize(f, evs, 2, 0);
    fx_catch_up(f);
    /* Back to what version 9 allowed: a copy under a later id, stored and counted. */
    fx_exec(f,
            "DROP INDEX lander_clicks_click; CREATE INDEX lander_clicks_click ON lander_clicks(click_id);"
            /* and without what later versions (11: creatives; 12: caps, bot check; 13: creative and
             * partner on every table a rollup reads; 14: the week tier) added */
            "DROP TABLE rollup_campaign_w; DROP TABLE rollup_main_w; DROP TABLE rollup_dim_w;"
            "ALTER TABLE clicks DROP COLUMN partner_id; ALTER TABLE impressions DROP COLUMN partner_id;"
            "ALTER TABLE lander_clicks DROP COLUMN creative_id; ALTER TABLE lander_clicks DROP COLUMN partner_id;"
            "ALTER TABLE conversion_adjustments DROP COLUMN creative_id;"
            "ALTER TABLE conversion_adjustments DROP COLUMN partner_id;"
            "ALTER TABLE cost_adjustments DROP COLUMN creative_id; ALTER TABLE cost_adjustments DROP COLUMN partner_id;"
            "DROP INDEX clicks_creative; DROP INDEX impressions_creative; ALTER TABLE campaigns DROP COLUMN bot_check;"
            "DROP TABLE creatives; ALTER TABLE clicks DROP COLUMN creative_id;"
            "ALTER TABLE impressions DROP COLUMN creative_id; ALTER TABLE conversions DROP COLUMN creative_id;"
            "PRAGMA user_version=9");
    char *got;
    char idtext[32];
    pm_id_format(&evs[1].id, idtext);
    char sql[256];
    fx_exec(f, "CREATE TEMP TABLE dup AS SELECT * FROM lander_clicks; UPDATE dup SET id = id || 'z', ts = ts + 1;"
               "INSERT INTO lander_clicks SELECT * FROM dup; DROP TABLE dup;"
               "UPDATE rollup_campaign_d SET lander_clicks = 2 WHERE lander_clicks = 1;"
               "DELETE FROM report_meta WHERE key = 'rebuild'");
    got = dump(f, "SELECT count(*), (SELECT sum(lander_clicks) FROM rollup_campaign_d WHERE campaign_id = 1)"
                  " FROM lander_clicks");
    assert_string_equal(got, "2|2\n");
    pm_free(got);
    pm_store_close(f->store);
    assert_int_equal(pm_store_open(f->db, &f->store), PM_OK);
    got = dump(f, "PRAGMA user_version");
    assert_true(atoi(got) >= 10);
    pm_free(got);
    snprintf(sql, sizeof(sql),
             "SELECT id = '%s', (SELECT count(*) FROM report_meta WHERE key = 'rebuild')"
             " FROM lander_clicks",
             idtext);
    got = dump(f, sql);
    assert_string_equal(got, "1|1\n");
    pm_free(got);
    fx_catch_up(f);
    got = dump(f, lander_sums);
    assert_string_equal(got, "1|1|1|1|1\n");
    pm_free(got);
    /* The index is unique now. */
    fx_materialize(f, evs, 2, 1);
    pm_event_t later = lander_click(f, &c, 5000000);
    fx_materialize(f, &later, 1, 0);
    fx_catch_up(f);
    got = dump(f, lander_sums);
    assert_string_equal(got, "1|1|1|1|1\n");
    pm_free(got);
    fx_close(f);
}

/* --- migration 13: creative and partner on every table a rollup reads ----------------- */

/* A store of version 12: its lander click and click carry no partner, its
 * lander click no creative. The migration fills them from the click and
 * the campaign, and the rebuilt rollups count them under both dimensions. */
static void test_migration_fills_creative_and_partner(void **state)
{
    (void)state;
    fx_t *f = fx_open();
    fx_exec(f, "INSERT INTO partners(id, name, created_at, updated_at) VALUES (1, 'Aff', 0, 0);"
               "INSERT INTO creatives(id, campaign_id, name, created_at, updated_at) VALUES (9, 1, 'Banner', 0, 0);");
    fx_catch_up(f);
    pm_event_t c = click(f, 0, FX_T0 + 3600 * INT64_C(1000000), 1, "x");
    c.lander_id = 1;
    c.creative_id = 9;
    pm_event_t evs[] = {c, lander_click(f, &c, 3000000)};
    fx_materialize(f, evs, 2, 0);
    fx_exec(f,
            "UPDATE campaigns SET partner_id = 1 WHERE id = 1;"
            "DROP TABLE rollup_campaign_w; DROP TABLE rollup_main_w; DROP TABLE rollup_dim_w;" /* version 14 */
            "ALTER TABLE clicks DROP COLUMN partner_id; ALTER TABLE impressions DROP COLUMN partner_id;"
            "ALTER TABLE lander_clicks DROP COLUMN creative_id; ALTER TABLE lander_clicks DROP COLUMN partner_id;"
            "ALTER TABLE conversion_adjustments DROP COLUMN creative_id;"
            "ALTER TABLE conversion_adjustments DROP COLUMN partner_id;"
            "ALTER TABLE cost_adjustments DROP COLUMN creative_id; ALTER TABLE cost_adjustments DROP COLUMN partner_id;"
            "UPDATE report_meta SET value = 'an older signature' WHERE key = 'signature';"
            "PRAGMA user_version=12");
    pm_store_close(f->store);
    assert_int_equal(pm_store_open(f->db, &f->store), PM_OK);
    char *got =
        dump(f, "SELECT (SELECT partner_id FROM clicks), (SELECT creative_id || '|' || partner_id FROM lander_clicks)");
    assert_string_equal(got, "1|9|1\n");
    pm_free(got);
    fx_catch_up(f); /* the signature changed: rebuilt */
    got = dump(
        f,
        "SELECT dim, value, sum(clicks), sum(lander_clicks) FROM rollup_dim_d WHERE dim IN (25, 26) AND campaign_id = 1"
        " GROUP BY dim, value ORDER BY dim");
    assert_string_equal(got, "25|9|1|1\n26|1|1|1\n");
    pm_free(got);
    fx_close(f);
}

static void test_earlier_click_takes_the_unique(void **state)
{
    fx_t *f = fx_open();
    fx_catch_up(f);
    int64_t ten = FX_T0 + INT64_C(10) * 3600 * 1000000;
    /* Lineage 0 holds the later click, lineage 1 the earlier one; recovery
     * stores lineage 0 first. A second visitor only clicks once. */
    pm_event_t later = click(f, 0, ten + 3600 * INT64_C(1000000), 1, "late");
    pm_event_t earlier = click(f, 1, ten, 1, "early");
    pm_event_t other = click(f, 1, ten + 60 * INT64_C(1000000), 2, "late");
    fx_journal(f, &later, 1, 0);
    pm_event_t two[] = {earlier, other};
    fx_journal(f, two, 2, 1);
    fx_recover(f);
    /* Before the catch-up the tail answers; after it the rollups do. */
    for (int round = 0; round < 2; round++) {
        static const char *const q[] = {
            "group_by=sub1", "from=2026-03-27", "to=2026-03-27", "tz=UTC", "metrics=clicks,unique_clicks", NULL};
        char *doc = fx_report(f, PM_REPORT_CSV, NULL, q);
        assert_non_null(doc);
        assert_string_equal(doc, "sub1,clicks,unique_clicks\r\nearly,1,1\r\nlate,2,1\r\n");
        free(doc);
        fx_catch_up(f);
    }
    char *rows =
        dump(f, "SELECT value, sum(clicks), sum(unique_clicks) FROM rollup_dim_q WHERE dim=1 AND campaign_id>=0"
                " GROUP BY 1 ORDER BY 1");
    assert_string_equal(rows, "early|1|1\nlate|2|1\n");
    pm_free(rows);
    fx_close(f);
}

/* --- the report engine: rollups (+ tail) = raw --------------------------------------- */

static void strip(json_t *doc)
{
    json_object_del(doc, "source");
    json_object_del(doc, "warnings");
}

static void compare_engine(fx_t *f, const char *const *params)
{
    const char *p[32];
    size_t n = 0;
    for (; params[n]; n++)
        p[n] = params[n];
    p[n] = "source=raw";
    p[n + 1] = NULL;
    pm_report_error_t e1, e2;
    char *a = fx_report(f, PM_REPORT_JSON, &e1, params), *b = fx_report(f, PM_REPORT_JSON, &e2, p);
    if (a == NULL || b == NULL)
        fail_msg("report failed: %s / %s (%s)", a ? "" : e1.message, b ? "" : e2.message, params[0]);
    json_t *ja = json_loads(a, 0, NULL), *jb = json_loads(b, 0, NULL);
    assert_non_null(ja);
    assert_non_null(jb);
    const char *source = json_string_value(json_object_get(ja, "source"));
    assert_non_null(source);
    assert_true(strncmp(source, "rollup:", 7) == 0);
    strip(ja);
    strip(jb);
    if (!json_equal(ja, jb)) {
        FILE *dbg = fopen("/tmp/report_engine_diff.txt", "w");
        if (dbg) fprintf(dbg, "%s\n%s\n", a, b), fclose(dbg);
        fail_msg("rollup != raw for %s %s (both in /tmp/report_engine_diff.txt)", params[0], params[1]);
    }
    assert_true(json_integer_value(json_object_get(ja, "total_rows")) > 0);
    json_decref(ja);
    json_decref(jb);
    free(a);
    free(b);
}

#define Q(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_engine_rollup_equals_raw(void **state)
{
    fx_t *f = loaded(1500);
    /* A tail: rows the rollups have not consumed (inserted behind the sink's back). */
    fx_exec(f, "INSERT INTO clicks(id, ts, campaign_id, traffic_source_id, offer_id, visitor_id, sub1, language,"
               " cost_micros, cost_currency) SELECT '7' || substr(id, 2), ts + 1000, campaign_id, traffic_source_id,"
               " offer_id, visitor_id, sub1, language, cost_micros, cost_currency FROM clicks WHERE rowid % 7 = 0");
    fx_exec(f, "INSERT INTO clicks(id, ts, campaign_id, traffic_source_id, offer_id, visitor_id, sub1, cost_micros)"
               " SELECT '00' || substr(id, 3), ts - 1000, campaign_id, traffic_source_id, offer_id, visitor_id, 'tail',"
               " 0 FROM clicks WHERE rowid % 11 = 0 AND id < '7'");
    const char *const *queries[] = {
        Q("group_by=campaign", "from=2026-03-27", "to=2026-03-31", "tz=UTC"),
        Q("group_by=day", "from=2026-03-27", "to=2026-03-31", "tz=Europe/Berlin"),
        Q("group_by=hour", "from=2026-03-28", "to=2026-03-29", "tz=Europe/Berlin"),
        Q("group_by=day,campaign", "from=2026-03-28", "to=2026-03-30", "tz=America/New_York", "sort=-clicks"),
        Q("group_by=sub1", "from=2026-03-27", "to=2026-03-31", "tz=Asia/Kolkata"),
        Q("group_by=sub1,day", "from=2026-03-27", "to=2026-03-30", "tz=Asia/Kathmandu",
          "filter=sub1:not_in:alpha|beta"),
        Q("group_by=sub3", "from=2026-03-27", "to=2026-03-31", "filter=sub3:in:|mobile", "filter=campaign:not_in:2"),
        Q("group_by=offer,language", "from=2026-03-27", "to=2026-03-31", "tz=Europe/Berlin"),
        Q("group_by=conversion_type,traffic_source", "from=2026-03-27", "to=2026-03-31",
          "metrics=conversions,conversions_lead,conversions_sale,cpl,pending_conversions,pending_revenue,rejected_"
          "conversions,revenue,cost,payout"),
        Q("group_by=week,month", "from=2026-03-20", "to=2026-04-05", "tz=Australia/Adelaide"),
        Q("group_by=campaign", "from=2026-03-29", "to=2026-03-30", "tz=Europe/Berlin", "compare=previous"),
        Q("group_by=lander", "from=2026-03-28T06:00:00Z", "to=2026-03-30T18:45:00Z"),
        Q("group_by=traffic_source,sub1", "from=2026-03-27", "to=2026-03-31", "filter=sub1:eq:gamma"),
        Q("group_by=lander,day", "from=2026-03-27", "to=2026-03-31", "tz=Europe/Berlin", "filter=lander:in:|1"),
        Q("group_by=language", "from=2026-03-27", "to=2026-03-31", "filter=language:not_in:en"),
        Q("group_by=offer,hour", "from=2026-03-29", "to=2026-03-29", "tz=Europe/Berlin"),
        Q("group_by=offer", "from=2026-03-27", "to=2026-03-31", "tz=Asia/Kolkata", "filter=traffic_source:in:2|3"),
        Q("group_by=conversion_type,day", "from=2026-03-27", "to=2026-03-31", "filter=traffic_source:not_in:1"),
        Q("group_by=sub1", "from=2026-03-28", "to=2026-03-30", "tz=Europe/Berlin", "filter=traffic_source:eq:1",
          "filter=sub1:not_in:"),
    };
    for (size_t i = 0; i < PM_ARRAY_LEN(queries); i++)
        compare_engine(f, queries[i]);
    fx_close(f);
}

/* --- a long-lived engine ------------------------------------------------------------- */

/* The server's sink keeps one engine for its life: prepared feeds,
 * watermark statements and the credit overlay are reused by every
 * catch-up. Batches arrive in turn from two lineages (earlier clicks of a
 * visitor after later ones), some catch-ups roll back and are redone: the
 * tables must be those of a rebuild from scratch. */
static void test_long_lived_engine_equals_rebuild(void **state)
{
    fx_t *f = fx_open();
    sqlite3 *db = pm_store_db(f->store);
    size_t n = 300;
    pm_event_t *evs = calloc(n, sizeof(pm_event_t));
    pm__rp_rollup_t *r = NULL;
    bool more = false;
    fx_catch_up(f);
    assert_int_equal(pm__rp_rollup_open(db, &r), PM_OK);
    for (int round = 0; round < 6; round++) {
        pm_recovery_t rec;
        fx_generate(f, evs, n, (unsigned)(round % 2));
        fx_journal(f, evs, n, (unsigned)(round % 2));
        /* No sink here: opening one would catch up by itself. */
        assert_int_equal(pm_materializer_recover(f->store, f->jdir, NULL, 0, &rec), PM_OK);
        if (round % 3 == 1) { /* a catch-up whose transaction rolls back */
            assert_int_equal(pm_store_begin(f->store), PM_OK);
            assert_int_equal(pm__rp_catch_up(r, 100000, &more), PM_OK);
            pm_store_rollback(f->store);
        }
        do { /* small chunks: more than one catch-up per round */
            assert_int_equal(pm_store_begin(f->store), PM_OK);
            assert_int_equal(pm__rp_catch_up(r, 97, &more), PM_OK);
            assert_int_equal(pm_store_commit(f->store), PM_OK);
        } while (more);
    }
    pm__rp_rollup_close(r);
    char *live = dump(f, all_tables);
    uint64_t events = 0;
    assert_int_equal(pm_store_begin(f->store), PM_OK);
    assert_int_equal(pm_report_rebuild(db, &events), PM_OK);
    assert_int_equal(pm_store_commit(f->store), PM_OK);
    assert_true(events > 1000);
    char *rebuilt = dump(f, all_tables);
    assert_string_equal(live, rebuilt);
    pm_free(live);
    pm_free(rebuilt);
    free(evs);
    fx_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollups_match_raw_sql),
        cmocka_unit_test(test_replay_does_not_double_count),
        cmocka_unit_test(test_rebuild_gives_the_same_tables),
        cmocka_unit_test(test_flagged_store_rebuilds_on_open),
        cmocka_unit_test(test_earlier_click_takes_the_unique),
        cmocka_unit_test(test_one_lander_click_per_click),
        cmocka_unit_test(test_migration_drops_duplicate_lander_clicks),
        cmocka_unit_test(test_migration_fills_creative_and_partner),
        cmocka_unit_test(test_engine_rollup_equals_raw),
        cmocka_unit_test(test_long_lived_engine_equals_rebuild),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

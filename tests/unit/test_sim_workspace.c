/*
 * test_sim_workspace.c: pm_sim_workspace on a real store and journal
 * directory. The simulated segments land in the journal directory as
 * lineage 63, numbered past the files there and past a high-water mark the
 * store may hold for the lineage (a lower number would pass for replayed);
 * recovery
 * stores exactly what was generated; simulating the same seed and window
 * again stores nothing new; channels follow the traffic source names;
 * paused campaigns get no traffic; each campaign gets its creative
 * entities, once, and its events carry them (none for a paused one, a
 * deleted one made again); a workspace without campaigns and a
 * second simulation on the same journal are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pm/materializer.h"
#include "pm/sim.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY_US (86400 * PM_USEC_PER_SEC)

static const char seed_sql[] =
    "INSERT INTO traffic_sources(id,name,postback_url,created_at,updated_at) VALUES"
    " (1,'Google search','',0,0),(2,'Roku CTV','',0,0),(3,'Acme media','',0,0);"
    "INSERT INTO offers(id,name,url,payout_type,payout_micros,payout_currency,created_at,updated_at) VALUES"
    " (1,'VPN trial','https://o.example/?c={clickid}&s={sub1}','cpa',12500000,'USD',0,0),"
    " (2,'Meal kit','https://m.example/?c={clickid}','cps',35000000,'EUR',0,0);"
    "INSERT INTO landers(id,name,url,created_at,updated_at) VALUES(1,'lp','https://lp.example/?go={offer_url}',0,0);"
    "INSERT INTO campaigns(id,name,token,status,traffic_source_id,offer_id,lander_id,cost_model,cost_micros,"
    " cost_currency,created_at,updated_at) VALUES"
    " (1,'VPN search','t1','active',1,1,NULL,'cpc',900000,'USD',0,0),"
    " (2,'Meal kit TV','t2','active',2,2,1,'cpm',20000000,'USD',0,0),"
    " (3,'paused','t3','paused',1,1,NULL,'cpc',900000,'USD',0,0),"
    " (4,'lander only','t4','active',3,NULL,1,'cpc',100000,'USD',0,0);";

typedef struct fixture_s {
    char dir[64], db[128], jdir[128];
    pm_store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/pm-simws-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->db, sizeof(f->db), "%s/perfmark.db", f->dir);
    snprintf(f->jdir, sizeof(f->jdir), "%s/journal", f->dir);
    if (pm_store_open(f->db, &f->store) != PM_OK || pm_store_exec(f->store, seed_sql) != PM_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    pm_store_close(f->store);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
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

static bool exists(const char *dir, uint32_t seq)
{
    char path[512];
    struct stat st;
    pm_journal_segment_path(dir, PM_SIM_LINEAGE, seq, path, sizeof(path));
    return stat(path, &st) == 0;
}

/* Three whole days ending 2026-03-12, simulated "now" a day later. */
static pm_sim_options_t options(uint64_t seed)
{
    int64_t day = pm_days_from_civil(2026, 3, 12);
    return (pm_sim_options_t){.seed = seed, .days = 3, .scale = 0.5, .end_day = day, .now = (day + 2) * DAY_US};
}

static void test_simulate_recover_resimulate(void **state)
{
    fixture_t *f = *state;
    pm_sim_options_t o = options(3);
    pm_sim_result_t r;
    pm_recovery_t rec;
    char staging[160];
    struct stat st;
    assert_int_equal(pm_sim_workspace(f->db, f->jdir, &o, &r), PM_OK);
    assert_int_equal(r.campaigns, 3); /* the paused one is left out */
    assert_int_equal(r.start, pm_days_from_civil(2026, 3, 10) * DAY_US);
    assert_int_equal(r.end, pm_days_from_civil(2026, 3, 13) * DAY_US);
    assert_int_equal(r.first_seq, 1);
    assert_true(exists(f->jdir, 1));
    snprintf(staging, sizeof(staging), "%s.sim", f->jdir);
    assert_int_not_equal(stat(staging, &st), 0); /* the staging directory is gone */
    assert_true(r.stats.by_channel[PM_SIM_SEARCH][PM_EV_CLICK] > 0);
    assert_true(r.stats.by_channel[PM_SIM_CTV][PM_EV_IMPRESSION] > 0);
    uint64_t total = r.stats.events[PM_EV_IMPRESSION] + r.stats.events[PM_EV_CLICK] + r.stats.events[PM_EV_CONVERSION] +
                     r.stats.events[PM_EV_LANDER_CLICK];

    assert_int_equal(pm_materializer_recover(f->store, f->jdir, NULL, 0, &rec), PM_OK);
    assert_int_equal(rec.records, total);
    assert_false(exists(f->jdir, 1));
    assert_int_equal(count(f, "SELECT count(*) FROM clicks"), r.stats.events[PM_EV_CLICK]);
    assert_int_equal(count(f, "SELECT count(*) FROM impressions"), r.stats.events[PM_EV_IMPRESSION]);
    assert_int_equal(count(f, "SELECT count(*) FROM conversions"), r.stats.events[PM_EV_CONVERSION]);
    assert_int_equal(count(f, "SELECT count(*) FROM lander_clicks"), r.stats.events[PM_EV_LANDER_CLICK]);
    /* Campaign 2 shows a lander before its offer; 4 has no offer past its lander. */
    assert_true(r.stats.events[PM_EV_LANDER_CLICK] > 0);
    assert_int_equal(count(f, "SELECT count(*) FROM lander_clicks WHERE campaign_id <> 2"), 0);
    assert_true(count(f, "SELECT count(*) FROM lander_clicks") < count(f, "SELECT count(*) FROM clicks"
                                                                          " WHERE campaign_id = 2"));
    /* Every lander click continues a stored click of a campaign with a lander, once. */
    assert_int_equal(count(f, "SELECT count(*) FROM lander_clicks l JOIN clicks c ON c.id = l.click_id"
                              " WHERE c.lander_id IS NOT NULL AND c.lander_id = l.lander_id AND c.ts < l.ts"),
                     r.stats.events[PM_EV_LANDER_CLICK]);
    /* ... and carries its click's creative (the creative report dimension). */
    assert_int_equal(count(f, "SELECT count(*) FROM lander_clicks l JOIN clicks c ON c.id = l.click_id"
                              " WHERE l.creative_id IS c.creative_id"),
                     r.stats.events[PM_EV_LANDER_CLICK]);
    assert_int_equal(count(f, "SELECT count(*) FROM clicks WHERE campaign_id = 3"), 0);
    assert_int_equal(count(f, "SELECT count(*) FROM conversions v LEFT JOIN clicks c ON c.id = v.click_id"
                              " WHERE c.id IS NULL OR c.ts >= v.ts OR c.visitor_id != v.visitor_id"), 0);
    assert_int_equal(count(f, "SELECT count(*) FROM conversions WHERE campaign_id = 2 AND revenue_currency != 'EUR'"), 0);

    /* Creatives: each active campaign has its channel's, named as its sub2
     * values, active, with a URL; the paused one none. Every click
     * and impression carries the creative its sub2 names, of
     * its own campaign; a conversion its click's. */
    assert_int_equal(count(f, "SELECT count(*) FROM creatives WHERE campaign_id = 1"),
                     pm_sim_creative_count(PM_SIM_SEARCH));
    assert_int_equal(count(f, "SELECT count(*) FROM creatives WHERE campaign_id = 2"),
                     pm_sim_creative_count(PM_SIM_CTV));
    assert_true(count(f, "SELECT count(*) FROM creatives WHERE campaign_id = 4") > 0);
    assert_int_equal(count(f, "SELECT count(*) FROM creatives WHERE campaign_id = 3"), 0);
    assert_int_equal(count(f, "SELECT count(*) FROM creatives WHERE status != 'active' OR url NOT LIKE 'https://%'"
                              " OR deleted_at IS NOT NULL"),
                     0);
    assert_int_equal(count(f, "SELECT count(*) FROM creatives WHERE campaign_id = 1 AND name = 'ad-1-5'"), 1);
    assert_int_equal(count(f, "SELECT count(*) FROM creatives WHERE campaign_id = 2 AND name = 'spot-2-3'"), 1);
    int64_t ncreatives = count(f, "SELECT count(*) FROM creatives");
    static const char *const tables[] = {"clicks", "impressions"}; /* lander_clicks have no creative column */
    for (size_t i = 0; i < PM_ARRAY_LEN(tables); i++) {
        char sql[300];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM %s e LEFT JOIN creatives k ON k.id = e.creative_id"
                 " WHERE k.id IS NULL OR k.campaign_id != e.campaign_id OR k.name != e.sub2",
                 tables[i]);
        assert_int_equal(count(f, sql), 0);
    }
    assert_true(count(f, "SELECT count(DISTINCT creative_id) FROM clicks WHERE campaign_id = 1") > 1);
    assert_int_equal(count(f, "SELECT count(*) FROM conversions v JOIN clicks c ON c.id = v.click_id"
                              " WHERE v.creative_id IS NOT c.creative_id OR v.creative_id IS NULL"),
                     0);

    /* Again, with a high-water mark left for the lineage (a segment numbered
     * at or below it would pass for replayed): numbered past it, replayed,
     * nothing new stored. */
    pm_sim_result_t again;
    assert_int_equal(pm_store_hwm_set(f->store, PM_SIM_LINEAGE, 5, 100), PM_OK);
    assert_int_equal(pm_sim_workspace(f->db, f->jdir, &o, &again), PM_OK);
    assert_int_equal(again.first_seq, 6);
    assert_true(exists(f->jdir, 6));
    assert_int_equal(pm_materializer_recover(f->store, f->jdir, NULL, 0, &rec), PM_OK);
    assert_int_equal(rec.records, total);
    assert_int_equal(count(f, "SELECT count(*) FROM clicks"), r.stats.events[PM_EV_CLICK]);
    assert_int_equal(count(f, "SELECT count(*) FROM impressions"), r.stats.events[PM_EV_IMPRESSION]);
    assert_int_equal(count(f, "SELECT count(*) FROM creatives"), ncreatives); /* found again, not made twice */

    /* Another seed: other events. */
    o = options(4);
    assert_int_equal(pm_sim_workspace(f->db, f->jdir, &o, &again), PM_OK);
    assert_true(exists(f->jdir, again.first_seq));
    assert_int_equal(pm_materializer_recover(f->store, f->jdir, NULL, 0, &rec), PM_OK);
    assert_int_equal(count(f, "SELECT count(*) FROM clicks"),
                     r.stats.events[PM_EV_CLICK] + again.stats.events[PM_EV_CLICK]);

    /* A paused creative: a new simulation records none for it (the tracker
     * would not), and makes no other of that name; a deleted one is made
     * again. */
    assert_int_equal(pm_store_exec(f->store, "UPDATE creatives SET status = 'paused' WHERE name = 'ad-1-1';"
                                             "UPDATE creatives SET deleted_at = 1 WHERE name = 'ad-1-2'"),
                     PM_OK);
    o = options(7);
    assert_int_equal(pm_sim_workspace(f->db, f->jdir, &o, &again), PM_OK);
    assert_int_equal(pm_materializer_recover(f->store, f->jdir, NULL, 0, &rec), PM_OK);
    assert_int_equal(count(f, "SELECT count(*) FROM creatives"), ncreatives + 1);
    assert_int_equal(count(f, "SELECT count(*) FROM creatives WHERE name = 'ad-1-2' AND deleted_at IS NULL"), 1);
    assert_true(count(f, "SELECT count(*) FROM clicks WHERE sub2 = 'ad-1-1' AND creative_id IS NULL") > 0);
    assert_int_equal(count(f, "SELECT count(*) FROM clicks WHERE campaign_id = 1 AND creative_id IS NULL"
                              " AND sub2 != 'ad-1-1'"),
                     0);
}

static void test_refusals(void **state)
{
    fixture_t *f = *state;
    pm_sim_options_t o = options(1);
    pm_sim_result_t r;
    o.days = 0;
    assert_int_equal(pm_sim_workspace(f->db, f->jdir, &o, &r), PM_EINVAL);
    o = options(1);
    o.now = pm_days_from_civil(2026, 3, 1) * DAY_US; /* the whole window lies in the future */
    assert_int_equal(pm_sim_workspace(f->db, f->jdir, &o, &r), PM_EINVAL);
    /* Another simulation holds the staging directory's lock. */
    char lock[200];
    snprintf(lock, sizeof(lock), "%s.sim", f->jdir);
    assert_int_equal(mkdir(lock, 0700), 0);
    strcat(lock, "/lock");
    int fd = open(lock, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0 && flock(fd, LOCK_EX) == 0);
    o = options(1);
    assert_int_equal(pm_sim_workspace(f->db, f->jdir, &o, &r), PM_EEXIST);
    close(fd);
    assert_int_equal(pm_sim_workspace(f->db, f->jdir, &o, &r), PM_OK);
    assert_true(exists(f->jdir, r.first_seq));
    assert_int_equal(pm_store_exec(f->store, "UPDATE campaigns SET status = 'paused'"), PM_OK);
    o = options(1);
    assert_int_equal(pm_sim_workspace(f->db, f->jdir, &o, &r), PM_ENOTFOUND);
    assert_false(exists(f->jdir, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_simulate_recover_resimulate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    };
    return cmocka_run_group_tests_name("sim workspace", tests, NULL, NULL);
}

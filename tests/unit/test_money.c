/*
 * test_money.c: pricing (every cost, revenue and payout model, rule
 * specificity, rounding), the lifecycle state machine, and the ledger sink
 * (legs sum to zero, approvals book, changes reverse and rebook, a change
 * applied before its conversion gives the same books, replays are no-ops).
 * A temp store seeded by SQL gives a real configuration snapshot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pm/ledger.h"
#include "pm/pricing.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fixture_s {
    char dir[64], db[128];
    pm_store_t *store;
    pm_config_t *cfg;
} fixture_t;

/* Offers: 1 fixed 10.00; 2 revshare 12.5% of the sale; 3 fixed 4.00 EUR.
 * Partners: 1 percent 30%; 2 fixed 2.00; 3 none.
 * Rules: offer 1 sales 20% of the sale; partner 1 leads 1.50; partner 1 on
 * offer 3 (any type) 0.75; payout for any partner on offer 3 leads 0.10.
 * Campaigns: 1 cpc + partner 1; 2 cpa 3.00 only sales; 3 revshare 40%;
 * 4 cpm; 5 cpa any type, partner 2; 6 auto, partner 3. */
static const char seed_sql[] =
    "INSERT INTO traffic_sources(id,name,postback_url,created_at,updated_at) VALUES(1,'s','',0,0);"
    "INSERT INTO offers(id,name,url,payout_type,payout_micros,payout_currency,payout_percent_micros,created_at,"
    " updated_at) VALUES(1,'o1','https://o.example/','cpa',10000000,'USD',0,0,0),"
    " (2,'o2','https://o.example/','cps',0,'USD',12500000,0,0), "
    "(3,'o3','https://o.example/','cpa',4000000,'EUR',0,0,0);"
    "INSERT INTO partners(id,name,payout_model,payout_micros,payout_currency,payout_percent_micros,created_at,"
    " updated_at) VALUES(1,'p1','percent',0,'USD',30000000,0,0),(2,'p2','fixed',2000000,'USD',0,0,0),"
    " (3,'p3','none',0,'USD',0,0,0);"
    "INSERT INTO pricing_rules(side,offer_id,partner_id,conversion_type,model,amount_micros,currency,percent_micros,"
    " created_at,updated_at) VALUES('revenue',1,NULL,'sale','percent',0,'USD',20000000,0,0),"
    " ('payout',NULL,1,'lead','fixed',1500000,'USD',0,0,0), ('payout',3,1,'','fixed',750000,'EUR',0,0,0),"
    " ('payout',3,NULL,'lead','fixed',100000,'EUR',0,0,0);"
    "INSERT INTO campaigns(id,name,token,status,traffic_source_id,offer_id,cost_model,cost_micros,cost_currency,"
    " cost_percent_micros,cost_conversion_type,partner_id,created_at,updated_at) VALUES"
    " (1,'c1','t1','active',1,1,'cpc',400000,'USD',0,'',1,0,0),"
    " (2,'c2','t2','active',1,1,'cpa',3000000,'USD',0,'sale',NULL,0,0),"
    " (3,'c3','t3','active',1,2,'revshare',0,'USD',40000000,'',NULL,0,0),"
    " (4,'c4','t4','active',1,1,'cpm',2000000,'USD',0,'',NULL,0,0),"
    " (5,'c5','t5','active',1,3,'cpa',1000000,'EUR',0,'',2,0,0),"
    " (6,'c6','t6','active',1,3,'auto',0,'USD',0,'',3,0,0);";

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/pm-money-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/db", f->dir);
    assert_int_equal(pm_store_open(f->db, &f->store), PM_OK);
    assert_int_equal(pm_store_exec(f->store, seed_sql), PM_OK);
    assert_int_equal(pm_config_load(f->store, "http://t.example", &f->cfg), PM_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    pm_config_release(f->cfg);
    pm_store_close(f->store);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static pm_price_t price(fixture_t *f, int64_t campaign, const char *type, const char *payout, const char *sale)
{
    const pm_campaign_t *k = pm_config_campaign_by_id(f->cfg, campaign);
    pm_price_in_t in = {.campaign = k, .offer = k->offer, .type = type};
    assert_int_equal(pm_currency_parse("USD", 3, &in.fallback), PM_OK);
    if (payout) {
        in.has_revenue = true;
        assert_int_equal(pm_money_parse(payout, strlen(payout), false, &in.revenue.micros, NULL), PM_OK);
    }
    if (sale) {
        in.has_sale = true;
        assert_int_equal(pm_money_parse(sale, strlen(sale), false, &in.sale_micros, NULL), PM_OK);
    }
    pm_price_t out;
    assert_int_equal(pm_price_conversion(f->cfg, &in, &out), PM_OK);
    return out;
}

static void assert_money(pm_money_t m, int64_t micros, const char *cur)
{
    assert_int_equal(m.micros, micros);
    if (micros) assert_string_equal(m.currency.code, cur);
}

static void test_revenue_models(void **state)
{
    fixture_t *f = *state;
    /* Fixed per conversion (the offer), a postback's payout overrides. */
    assert_money(price(f, 1, "conversion", NULL, NULL).revenue, 10000000, "USD");
    assert_money(price(f, 1, "conversion", "7.25", NULL).revenue, 7250000, "USD");
    /* Per conversion type: sales of offer 1 earn 20% of the sale value. */
    assert_money(price(f, 1, "sale", NULL, "250").revenue, 50000000, "USD");
    assert_money(price(f, 1, "sale", NULL, NULL).revenue, 0, "USD"); /* no sale value: 0 */
    assert_money(price(f, 1, "lead", NULL, "250").revenue, 10000000, "USD");
    /* The offer's own revenue share, rounded half away from zero. */
    assert_money(price(f, 3, "sale", NULL, "0.04").revenue, 5000, "USD");  /* 12.5% of 0.04 = 0.005 */
    assert_money(price(f, 3, "sale", NULL, "0.000004").revenue, 1, "USD"); /* 0.5 micro -> 1 */
    assert_money(price(f, 5, "x", NULL, NULL).revenue, 4000000, "EUR");
}

/* Volume tiers: offer 3 earns 4.00 (its own payout), 5.00 from its 3rd
 * conversion of the month, 6.00 from the 10th; a rule naming the
 * conversion type is more specific than any tier. */
static void test_revenue_tiers(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(
        pm_store_exec(f->store, "INSERT INTO pricing_rules(side,offer_id,conversion_type,model,amount_micros,currency,"
                                " volume_from,created_at,updated_at) VALUES"
                                " ('revenue',3,'','fixed',6000000,'EUR',10,0,0),"
                                " ('revenue',3,'','fixed',5000000,'EUR',3,0,0),"
                                " ('revenue',3,'lead','fixed',1000000,'EUR',NULL,0,0);"),
        PM_OK);
    pm_config_release(f->cfg);
    assert_int_equal(pm_config_load(f->store, "http://t.example", &f->cfg), PM_OK);
    assert_true(pm_price_has_tiers(f->cfg, 3));
    assert_false(pm_price_has_tiers(f->cfg, 1));
    const pm_campaign_t *k = pm_config_campaign_by_id(f->cfg, 5);
    pm_price_in_t in = {.campaign = k, .offer = k->offer, .type = "sale"};
    static const struct {
        int64_t place, micros;
    } want[] = {{0, 4000000}, {1, 4000000}, {2, 4000000}, {3, 5000000}, {9, 5000000}, {10, 6000000}, {500, 6000000}};
    for (size_t i = 0; i < PM_ARRAY_LEN(want); i++) {
        pm_price_t out;
        in.place = want[i].place;
        assert_int_equal(pm_price_conversion(f->cfg, &in, &out), PM_OK);
        assert_money(out.revenue, want[i].micros, "EUR");
    }
    in.type = "lead";
    in.place = 50;
    pm_price_t out;
    assert_int_equal(pm_price_conversion(f->cfg, &in, &out), PM_OK);
    assert_money(out.revenue, 1000000, "EUR");
}

static void test_cost_models(void **state)
{
    fixture_t *f = *state;
    /* CPC and CPM are priced on the click and impression: nothing here. */
    assert_int_equal(price(f, 1, "sale", NULL, "100").cost.micros, 0);
    assert_int_equal(price(f, 4, "sale", NULL, "100").cost.micros, 0);
    /* CPA only for its conversion type. */
    assert_money(price(f, 2, "sale", NULL, "100").cost, 3000000, "USD");
    assert_int_equal(price(f, 2, "lead", NULL, NULL).cost.micros, 0);
    assert_money(price(f, 5, "lead", NULL, NULL).cost, 1000000, "EUR");
    /* Revenue share: 40% of 12.5% of 80.00 = 4.00. */
    assert_money(price(f, 3, "sale", NULL, "80").cost, 4000000, "USD");
    /* Auto: reported later. */
    assert_int_equal(price(f, 6, "sale", NULL, NULL).cost.micros, 0);
    int64_t m;
    assert_int_equal(pm_price_percent(INT64_C(1) << 62, 1000 * PM_PERCENT_ONE, &m), PM_ERANGE);
}

static void test_payout_models_and_rule_specificity(void **state)
{
    fixture_t *f = *state;
    pm_price_t p = price(f, 1, "sale", NULL, "250"); /* partner 1: 30% of 50.00 */
    assert_money(p.payout, 15000000, "USD");
    assert_int_equal(p.partner_id, 1);
    assert_money(price(f, 1, "lead", NULL, NULL).payout, 1500000, "USD"); /* rule: partner + type */
    assert_money(price(f, 5, "sale", NULL, NULL).payout, 2000000, "USD"); /* partner 2 fixed */
    /* Offer 3, partner 3 (none): the offer+type rule pays leads 0.10, other types nothing. */
    assert_money(price(f, 6, "lead", NULL, NULL).payout, 100000, "EUR");
    assert_int_equal(price(f, 6, "sale", NULL, NULL).payout.micros, 0);
    assert_int_equal(price(f, 2, "sale", NULL, "1").payout.micros, 0); /* no partner */
    assert_int_equal(price(f, 2, "sale", NULL, "1").partner_id, 0);
}

static void test_reprice_follows_revenue(void **state)
{
    fixture_t *f = *state;
    const pm_campaign_t *k = pm_config_campaign_by_id(f->cfg, 1);
    pm_price_in_t in = {.campaign = k, .offer = k->offer, .type = "sale"};
    pm_price_t p = price(f, 1, "sale", NULL, "250");
    p.revenue.micros = 20000000;
    assert_int_equal(pm_price_reprice(f->cfg, &in, &p), PM_OK);
    assert_int_equal(p.payout.micros, 6000000); /* 30% of the new 20.00 */
    k = pm_config_campaign_by_id(f->cfg, 5);
    in = (pm_price_in_t){.campaign = k, .offer = k->offer, .type = "sale"};
    p = price(f, 5, "sale", NULL, NULL);
    p.revenue.micros = 1;
    assert_int_equal(pm_price_reprice(f->cfg, &in, &p), PM_OK);
    assert_int_equal(p.payout.micros, 2000000); /* fixed stays */
    assert_int_equal(p.cost.micros, 1000000);
}

static void test_lifecycle(void **state)
{
    (void)state;
    assert_string_equal(pm_status_name("Approved", 8), "approved");
    assert_string_equal(pm_status_name("REFUND", 6), "refund");
    assert_null(pm_status_name("maybe", 5));
    assert_null(pm_status_name("approve", 7));
    static const char *const all[] = {"pending", "approved", "rejected", "chargeback", "refund"};
    /* from x to: 1 = allowed */
    static const int ok[5][5] = {
        {1, 1, 1, 0, 0}, {0, 1, 0, 1, 1}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0},
    };
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            assert_int_equal(pm_status_transition_ok(all[i], all[j]), ok[i][j]);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(pm_status_books(all[i]), i == 1);
        assert_int_equal(pm_status_initial(all[i]), i < 3);
    }
}

/* --- the ledger sink ---------------------------------------------------------- */

static int64_t q(fixture_t *f, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(pm_store_db(f->store), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static pm_event_t conversion(const char *status)
{
    pm_event_t ev = {
        .type = PM_EV_CONVERSION, .ts = 1000, .campaign_id = 1, .traffic_source_id = 1, .offer_id = 1, .partner_id = 1};
    ev.id.b[15] = 1;
    ev.revenue = (pm_money_t){50000000, {"USD"}};
    ev.cost = (pm_money_t){3000000, {"USD"}};
    ev.payout = (pm_money_t){15000000, {"USD"}};
    pm_event_set(&ev, PM_EVS_STATUS, status, strlen(status));
    pm_event_set(&ev, PM_EVS_CONV_TYPE, "sale", 4);
    pm_event_set(&ev, PM_EVS_TXID, "T", 1);
    return ev;
}

static pm_event_t change(const pm_event_t *conv, int64_t version, const char *from, const char *to)
{
    pm_event_t c = *conv;
    c.type = PM_EV_STATUS_CHANGE;
    c.id.b[15] = (uint8_t)(10 + version);
    c.ts = 2000 + version;
    bool again = conv->type == PM_EV_STATUS_CHANGE;
    c.ref_id = again ? conv->ref_id : conv->id;
    c.ref_ts = again ? conv->ref_ts : conv->ts;
    c.version = version;
    c.prev_revenue = conv->revenue, c.prev_cost = conv->cost, c.prev_payout = conv->payout;
    pm_event_set(&c, PM_EVS_PREV_STATUS, from, strlen(from));
    pm_event_set(&c, PM_EVS_STATUS, to, strlen(to));
    return c;
}

static void apply_all(fixture_t *f, const pm_event_t *evs, size_t n)
{
    void *sink = NULL;
    assert_int_equal(pm_store_begin(f->store), PM_OK);
    assert_int_equal(pm_ledger_sink.open(f->store, &sink), PM_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pm_ledger_sink.apply(sink, &evs[i]), PM_OK);
    pm_ledger_sink.close(sink);
    assert_int_equal(pm_store_commit(f->store), PM_OK);
}

static int64_t balance(fixture_t *f, const char *type)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT coalesce(sum(amount_micros),0) FROM ledger_entries WHERE account_type='%s'",
             type);
    return q(f, sql);
}

static void test_ledger_books_and_reverses(void **state)
{
    fixture_t *f = *state;
    pm_event_t click = {.type = PM_EV_CLICK, .ts = 500, .traffic_source_id = 1, .cost = {400000, {"USD"}}};
    click.id.b[15] = 99;
    pm_event_t pend = conversion("pending");
    pm_event_t evs[] = {click, pend, change(&pend, 1, "pending", "approved")};
    pm_event_t cb = change(&evs[2], 2, "approved", "chargeback");
    apply_all(f, evs, 3);
    assert_int_equal(balance(f, "advertiser"), 50000000);
    assert_int_equal(balance(f, "traffic_source"), -3400000);
    assert_int_equal(balance(f, "partner"), -15000000);
    assert_int_equal(q(f, "SELECT sum(amount_micros) FROM ledger_entries"), 0);
    assert_int_equal(q(f, "SELECT count(*) FROM (SELECT movement FROM ledger_entries GROUP BY movement"
                          " HAVING sum(amount_micros) <> 0 OR count(*) <> 2)"),
                     0);
    apply_all(f, &cb, 1);
    assert_int_equal(balance(f, "advertiser"), 0);
    assert_int_equal(balance(f, "traffic_source"), -400000); /* the click stays paid */
    assert_int_equal(balance(f, "partner"), 0);
    assert_int_equal(q(f, "SELECT version FROM conversion_state"), 2);
    /* The report adjustments: -pending +approved, -approved +chargeback. */
    assert_int_equal(q(f, "SELECT count(*) FROM conversion_adjustments"), 4);
    assert_int_equal(q(f, "SELECT sum(sign) FROM conversion_adjustments WHERE status='approved'"), 0);
}

static void test_ledger_change_before_conversion(void **state)
{
    fixture_t *f = *state;
    pm_event_t conv = conversion("pending");
    pm_event_t evs[] = {change(&conv, 1, "pending", "approved"), conv};
    apply_all(f, evs, 2);
    assert_int_equal(balance(f, "advertiser"), 50000000);
    assert_int_equal(balance(f, "partner"), -15000000);
    /* The older state does not overwrite the newer one. */
    assert_int_equal(q(f, "SELECT version FROM conversion_state"), 1);
    assert_int_equal(q(f, "SELECT status = 'approved' FROM conversion_state"), 1);
}

/* A store upgraded with events in it: the sink books them once on open. */
static void test_ledger_backfill(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(
        pm_store_exec(f->store, "INSERT INTO clicks(id, ts, campaign_id, traffic_source_id, cost_micros, cost_currency)"
                                " VALUES('01M84TS2N3985ZJT2JJM5TJGRA', 1, 1, 1, 400000, 'USD');"
                                "INSERT INTO conversions(id, ts, campaign_id, traffic_source_id, offer_id, click_id,"
                                " txid, status, conversion_type, method, revenue_micros, revenue_currency)"
                                " VALUES('01M84TS2N3985ZJT2JJM5TJGRB', 2, 1, 1, 1, 'x', 't', 'approved', 'c',"
                                " 'postback', 10000000, 'USD'), ('01M84TS2N3985ZJT2JJM5TJGRC', 3, 1, 1, 1, 'x', 'u',"
                                " 'rejected', 'c', 'postback', 5000000, 'USD');"
                                "INSERT INTO report_meta(key, value) VALUES('ledger_backfill', '1');"),
        PM_OK);
    for (int i = 0; i < 2; i++) { /* the second open finds nothing to do */
        void *sink = NULL;
        assert_int_equal(pm_ledger_sink.open(f->store, &sink), PM_OK);
        pm_ledger_sink.close(sink);
    }
    assert_int_equal(balance(f, "traffic_source"), -400000);
    assert_int_equal(balance(f, "advertiser"), 10000000);
    assert_int_equal(q(f, "SELECT count(*) FROM ledger_entries"), 4);
}

static void test_convert(void **state)
{
    (void)state;
    int64_t out;
    assert_int_equal(pm_ledger_convert(10000000, 1080000, &out), PM_OK);
    assert_int_equal(out, 10800000);
    assert_int_equal(pm_ledger_convert(-5, 1500000, &out), PM_OK); /* -7.5 -> -8 */
    assert_int_equal(out, -8);
    assert_int_equal(pm_ledger_convert(1000000, 16000000000, &out), PM_OK); /* a rate past 2^31 micros */
    assert_int_equal(out, 16000000000);
    assert_int_equal(pm_ledger_convert(INT64_MAX, 2000000, &out), PM_ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_revenue_models, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revenue_tiers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cost_models, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payout_models_and_rule_specificity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reprice_follows_revenue, setup, teardown),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test_setup_teardown(test_ledger_books_and_reverses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_change_before_conversion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_backfill, setup, teardown),
        cmocka_unit_test(test_convert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

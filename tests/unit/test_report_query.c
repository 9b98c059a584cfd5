/*
 * test_report_query.c: the report query engine on hand-placed events:
 * parameter validation (each error names its parameter), the planner's
 * choice of cube (and the raw fallback, said in "source" and a warning),
 * local days across the Europe/Berlin spring-forward night, hour, week and
 * month labels, filters, sorting and paging, compare=previous, money in
 * another currency left out with a warning, and the CSV and table forms.
 */
#include "report_fixture.h"
#include "report/report_internal.h"

#include <jansson.h>

#define Q(...) ((const char *const[]){__VA_ARGS__, NULL})
#define US     INT64_C(1000000)

static int64_t utc_us(int y, int mo, int d, int h, int mi)
{
    return (pm_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60) * US;
}

static int setup(void **state)
{
    fx_t *f = fx_open();
    fx_catch_up(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_close(*state);
    return 0;
}

static pm_event_t ev_at(fx_t *f, pm_event_type_t type, int64_t campaign, int64_t ts_us)
{
    pm_event_t ev = {.type = type, .ts = ts_us, .campaign_id = campaign, .traffic_source_id = campaign == 2 ? 2 : 1};
    ev.id = pm_id_next(&f->ids[0], ts_us);
    ev.visitor_id = pm_id_next(&f->ids[1], ts_us); /* a new visitor each time */
    if (type == PM_EV_CLICK) {
        ev.cost.micros = 500000;
        memcpy(ev.cost.currency.code, "USD", 4);
    }
    return ev;
}

static pm_event_t conversion_at(fx_t *f, int64_t campaign, int64_t ts_us, const char *status, const char *type,
                                int64_t revenue, const char *currency)
{
    static char txids[64][16];
    static int n;
    pm_event_t ev = ev_at(f, PM_EV_CONVERSION, campaign, ts_us);
    ev.click_id = pm_id_next(&f->ids[1], ts_us); /* the store requires one */
    char *txid = txids[n++ % 64];
    snprintf(txid, 16, "q%d", n);
    pm_event_set(&ev, PM_EVS_TXID, txid, strlen(txid));
    pm_event_set(&ev, PM_EVS_STATUS, status, strlen(status));
    pm_event_set(&ev, PM_EVS_CONV_TYPE, type, strlen(type));
    pm_event_set(&ev, PM_EVS_METHOD, "postback", 8);
    ev.revenue.micros = revenue;
    memcpy(ev.revenue.currency.code, currency, 4);
    return ev;
}

/* 2026-03-28T22:30Z (Berlin 23:30 on the 28th), 23:30Z (00:30 on the 29th),
 * 2026-03-29T21:30Z (23:30 CEST on the 29th), 22:30Z (00:30 on the 30th). */
static void load_dst_events(fx_t *f)
{
    int64_t base = utc_us(2026, 3, 28, 22, 30);
    pm_event_t evs[] = {
        ev_at(f, PM_EV_CLICK, 1, base),
        ev_at(f, PM_EV_CLICK, 1, base + 3600 * US),
        ev_at(f, PM_EV_CLICK, 2, base + 23 * 3600 * US),
        ev_at(f, PM_EV_CLICK, 2, base + 24 * 3600 * US),
        ev_at(f, PM_EV_IMPRESSION, 2, base + 24 * 3600 * US),
        conversion_at(f, 1, base + 3600 * US + 60 * US, "approved", "lead", 3000000, "USD"),
        conversion_at(f, 1, base + 3600 * US + 120 * US, "pending", "sale", 9000000, "USD"),
        conversion_at(f, 2, base + 24 * 3600 * US, "approved", "sale", 7000000, "EUR"),
        conversion_at(f, 2, base + 24 * 3600 * US + 1, "rejected", "lead", 1000000, "USD"),
    };
    fx_materialize(f, evs, PM_ARRAY_LEN(evs), 0);
    fx_catch_up(f);
}

static json_t *report(fx_t *f, const char *const *params)
{
    pm_report_error_t err;
    char *text = fx_report(f, PM_REPORT_JSON, &err, params);
    if (text == NULL) fail_msg("report failed: %s: %s", err.field ? err.field : "-", err.message);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (doc == NULL) fail_msg("bad JSON (%s): %s", jerr.text, text);
    free(text);
    return doc;
}

static void expect_error(fx_t *f, const char *const *params, const char *field, const char *code, const char *text)
{
    pm_report_error_t err;
    char *out = fx_report(f, PM_REPORT_JSON, &err, params);
    if (out) fail_msg("expected an error on %s, got %s", field, out);
    assert_int_equal(err.status, 422);
    if (field)
        assert_string_equal(err.field, field);
    else
        assert_null(err.field);
    assert_string_equal(err.code, code);
    if (text && strstr(err.message, text) == NULL) fail_msg("message \"%s\" lacks \"%s\"", err.message, text);
}

static const char *row_str(json_t *doc, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(doc, "rows"), i), key));
}

static json_int_t row_int(json_t *doc, size_t i, const char *key)
{
    json_t *v = json_object_get(json_array_get(json_object_get(doc, "rows"), i), key);
    if (!json_is_integer(v)) fail_msg("row %zu: %s is not an integer", i, key);
    return json_integer_value(v);
}

static size_t nrows(json_t *doc)
{
    return json_array_size(json_object_get(doc, "rows"));
}

/* --- parameters ----------------------------------------------------------------- */

static void test_parameter_errors(void **state)
{
    fx_t *f = *state;
    expect_error(f, Q("from=2026-03-01"), "group_by", "required", "group_by");
    expect_error(f, Q("group_by=campaign,day,offer,lander"), "group_by", "invalid", "1 to 3");
    expect_error(f, Q("group_by=campagin"), "group_by", "invalid", "campagin");
    expect_error(f, Q("group_by=day,day"), "group_by", "invalid", "twice");
    expect_error(f, Q("group_by=day", "filter=partner:eq:p1"), "filter", "invalid", "ids");
    expect_error(f, Q("group_by=day", "filter=creative:in:1,x"), "filter", "invalid", "ids");
    expect_error(f, Q("group_by=day", "filter=campaign:like:3"), "filter", "invalid", "eq, in or not_in");
    expect_error(f, Q("group_by=day", "filter=campaign:eq:abc"), "filter", "invalid", "ids");
    expect_error(f, Q("group_by=day", "filter=day:eq:2026-03-01"), "filter", "invalid", "from and to");
    expect_error(f, Q("group_by=day", "filter=campaign"), "filter", "invalid", "dimension:op:value");
    expect_error(f, Q("group_by=day", "metrics=clicks,magic"), "metrics", "invalid", "magic");
    expect_error(f, Q("group_by=day", "metrics=clicks,clicks"), "metrics", "invalid", "twice");
    expect_error(f, Q("group_by=day", "metrics=conversions_LEAD"), "metrics", "invalid", NULL);
    expect_error(f, Q("group_by=day", "metrics=clicks,"), "metrics", "invalid", NULL);
    expect_error(f, Q("group_by=day", "limit=0"), "limit", "invalid", NULL);
    expect_error(f, Q("group_by=day", "limit=10001"), "limit", "invalid", NULL);
    expect_error(f, Q("group_by=day", "offset=-1"), "offset", "invalid", NULL);
    expect_error(f, Q("group_by=day", "compare=yesterday"), "compare", "invalid", NULL);
    expect_error(f, Q("group_by=day", "format=xml"), "format", "invalid", NULL);
    expect_error(f, Q("group_by=day", "source=magic"), "source", "invalid", NULL);
    expect_error(f, Q("group_by=day", "from=2026-02-30"), "from", "invalid", NULL);
    expect_error(f, Q("group_by=day", "from=yesterday"), "from", "invalid", NULL);
    expect_error(f, Q("group_by=day", "from=2026-03-05", "to=2026-03-01"), "to", "invalid", "after");
    expect_error(f, Q("group_by=day", "from=2000-01-01", "to=2026-03-01"), "to", "invalid", "longer");
    expect_error(f, Q("group_by=day", "tz=Mars/Olympus"), "tz", "invalid", NULL);
    expect_error(f, Q("group_by=day", "tz=../etc/passwd"), "tz", "invalid", NULL);
    expect_error(f, Q("group_by=day", "sort=-magic"), "sort", "invalid", "magic");
    expect_error(f, Q("group_by=day", "sort=campaign"), "sort", "invalid", "group_by");
    expect_error(f, Q("group_by=sub1,sub2", "source=rollup"), "source", "invalid", "sub1 x sub2");
    expect_error(f, Q("group_by=day", "bogus=1"), NULL, "unknown_field", "bogus");
    /* conversions_<type> of a valid type is a metric; sort may come before group_by. */
    json_t *doc = report(f, Q("sort=-campaign", "group_by=campaign", "metrics=conversions_lead,conversions_x-1"));
    json_decref(doc);
}

/* --- the planner ----------------------------------------------------------------- */

static void expect_source(fx_t *f, const char *const *params, const char *source, bool raw_warning)
{
    json_t *doc = report(f, params);
    assert_string_equal(json_string_value(json_object_get(doc, "source")), source);
    json_t *w = json_object_get(doc, "warnings");
    bool warned = false;
    for (size_t i = 0; i < json_array_size(w); i++)
        warned |= strcmp(json_string_value(json_object_get(json_array_get(w, i), "code")), "raw_scan") == 0;
    assert_int_equal(warned, raw_warning);
    json_decref(doc);
}

static void test_planner(void **state)
{
    fx_t *f = *state;
    load_dst_events(f);
    const char *d = "from=2026-03-28", *t = "to=2026-03-30";
    expect_source(f, Q("group_by=campaign", d, t), "rollup:campaign", false);
    expect_source(f, Q("group_by=day,traffic_source", d, t, "filter=campaign:eq:1"), "rollup:campaign", false);
    expect_source(f, Q("group_by=conversion_type", d, t), "rollup:campaign", false);
    expect_source(f, Q("group_by=offer", d, t), "rollup:offer", false);
    expect_source(f, Q("group_by=campaign", d, t, "filter=language:eq:en"), "rollup:language", false);
    expect_source(f, Q("group_by=offer,lander", d, t), "rollup:main", false);
    expect_source(f, Q("group_by=offer", d, t, "filter=language:in:en|de"), "rollup:main", false);
    expect_source(f, Q("group_by=sub1", d, t), "rollup:sub1", false);
    expect_source(f, Q("group_by=sub1,traffic_source", d, t), "rollup:sub1", false);
    expect_source(f, Q("group_by=campaign,utm_term", d, t, "filter=traffic_source:in:1|2"), "rollup:utm_term", false);
    expect_source(f, Q("group_by=day", d, t, "filter=sub7:eq:x"), "rollup:sub7", false);
    /* No cube holds two high-cardinality dimensions, or one with offer. */
    expect_source(f, Q("group_by=sub1,sub2", d, t), "raw", true);
    expect_source(f, Q("group_by=offer", d, t, "filter=sub1:eq:x"), "raw", true);
    /* Edges off the 15-minute grid, or a zone off it. */
    expect_source(f, Q("group_by=day", "from=2026-03-28T10:07:00Z", "to=2026-03-29T00:00:00Z"), "raw", true);
    expect_source(f, Q("group_by=day", "from=2026-03-28T10:15:00Z", "to=2026-03-29T00:00:00Z"), "rollup:campaign",
                  false);
    expect_source(f, Q("group_by=day", d, t, "tz=Asia/Kolkata"), "rollup:campaign", false);
    expect_source(f, Q("group_by=day", "from=1890-01-01", "to=1890-01-02", "tz=Europe/Berlin"), "raw", true); /* LMT */
    /* Forced. */
    expect_source(f, Q("group_by=campaign", d, t, "source=raw"), "raw", false);
    expect_source(f, Q("group_by=campaign", d, t, "source=rollup"), "rollup:campaign", false);
}

/* --- time ------------------------------------------------------------------------- */

static void test_local_days_across_dst(void **state)
{
    fx_t *f = *state;
    load_dst_events(f);
    json_t *doc = report(
        f, Q("group_by=day", "from=2026-03-28", "to=2026-03-30", "tz=Europe/Berlin", "metrics=clicks,impressions"));
    assert_int_equal(nrows(doc), 3);
    assert_string_equal(row_str(doc, 0, "day"), "2026-03-28");
    assert_int_equal(row_int(doc, 0, "clicks"), 1);
    assert_string_equal(row_str(doc, 1, "day"), "2026-03-29"); /* 23 hours long */
    assert_int_equal(row_int(doc, 1, "clicks"), 2);
    assert_string_equal(row_str(doc, 2, "day"), "2026-03-30");
    assert_int_equal(row_int(doc, 2, "clicks"), 1);
    assert_int_equal(row_int(doc, 2, "impressions"), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "from")), "2026-03-27T23:00:00.000000Z");
    assert_string_equal(json_string_value(json_object_get(doc, "to")), "2026-03-30T22:00:00.000000Z");
    json_decref(doc);
    /* The same in UTC: 28th x2, 29th x2. */
    doc = report(f, Q("group_by=day", "from=2026-03-28", "to=2026-03-30", "tz=UTC", "metrics=clicks"));
    assert_int_equal(nrows(doc), 2);
    assert_int_equal(row_int(doc, 0, "clicks"), 2);
    assert_int_equal(row_int(doc, 1, "clicks"), 2);
    json_decref(doc);
    /* Only the 29th in Berlin: 23:00Z on the 28th to 22:00Z on the 29th. */
    doc = report(f, Q("group_by=campaign", "from=2026-03-29", "to=2026-03-29", "tz=Europe/Berlin", "metrics=clicks"));
    assert_int_equal(nrows(doc), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "totals"), "clicks")), 2);
    json_decref(doc);
}

static void test_hour_week_month_labels(void **state)
{
    fx_t *f = *state;
    load_dst_events(f);
    json_t *doc =
        report(f, Q("group_by=hour", "from=2026-03-29", "to=2026-03-29", "tz=Europe/Berlin", "metrics=clicks"));
    assert_int_equal(nrows(doc), 2);
    assert_string_equal(row_str(doc, 0, "hour"), "2026-03-29T00:00:00+01:00");
    assert_string_equal(row_str(doc, 1, "hour"), "2026-03-29T23:00:00+02:00");
    json_decref(doc);
    doc = report(f, Q("group_by=week,month", "from=2026-03-28", "to=2026-03-31", "tz=Europe/Berlin", "metrics=clicks"));
    /* Saturday 28th and Sunday 29th are in the week of Monday 23rd; Monday 30th starts the next. */
    assert_int_equal(nrows(doc), 2);
    assert_string_equal(row_str(doc, 0, "week"), "2026-03-23");
    assert_string_equal(row_str(doc, 0, "month"), "2026-03");
    assert_int_equal(row_int(doc, 0, "clicks"), 3);
    assert_string_equal(row_str(doc, 1, "week"), "2026-03-30");
    json_decref(doc);
    doc = report(f, Q("group_by=hour", "from=2026-03-28", "to=2026-03-28", "tz=Asia/Kolkata", "metrics=clicks"));
    assert_int_equal(nrows(doc), 0); /* 22:30Z on the 28th is 04:00 on the 29th in India */
    json_decref(doc);
    doc = report(f, Q("group_by=hour", "from=2026-03-29", "to=2026-03-29", "tz=Asia/Kolkata", "metrics=clicks"));
    assert_string_equal(row_str(doc, 0, "hour"), "2026-03-29T04:00:00+05:30");
    json_decref(doc);
}

/* --- rows ----------------------------------------------------------------------------- */

static void test_rows_filters_sorting_paging(void **state)
{
    fx_t *f = *state;
    load_dst_events(f);
    const char *range[] = {"from=2026-03-27", "to=2026-03-31", "tz=UTC"};
    json_t *doc = report(f, Q("group_by=campaign", range[0], range[1], range[2]));
    /* Sorted by name: "Alpha" (2) before "Zeta" (1); ids and names on each row. */
    assert_int_equal(nrows(doc), 2);
    assert_int_equal(row_int(doc, 0, "campaign_id"), 2);
    assert_string_equal(row_str(doc, 0, "campaign_name"), "Alpha");
    assert_string_equal(row_str(doc, 1, "campaign_name"), "Zeta");
    json_t *row1 = json_array_get(json_object_get(doc, "rows"), 1);
    assert_string_equal(json_string_value(json_object_get(row1, "cost")), "1.00");
    assert_string_equal(json_string_value(json_object_get(row1, "revenue")), "3.00");
    assert_string_equal(json_string_value(json_object_get(row1, "cpc")), "0.50");
    assert_true(json_is_null(json_object_get(row1, "ctr"))); /* no impressions: null, not 0 */
    assert_true(json_number_value(json_object_get(row1, "cvr")) == 0.5);
    assert_true(json_number_value(json_object_get(row1, "roas")) == 3.0);
    const char *const keys[] = {"impressions", "clicks",  "unique_clicks", "ctr",    "conversions", "cvr",
                                "cost",        "revenue", "payout",        "profit", "cpm",         "cpc",
                                "cpa",         "epc",     "roi",           "roas"};
    for (size_t i = 0; i < PM_ARRAY_LEN(keys); i++)
        assert_non_null(json_object_get(row1, keys[i]));
    json_decref(doc);
    doc = report(f, Q("group_by=campaign", range[0], range[1], range[2], "sort=-revenue", "limit=1"));
    assert_int_equal(nrows(doc), 1);
    assert_string_equal(row_str(doc, 0, "campaign_name"), "Zeta");
    assert_int_equal(json_integer_value(json_object_get(doc, "total_rows")), 2);
    json_decref(doc);
    doc = report(f, Q("group_by=campaign", range[0], range[1], range[2], "sort=-revenue", "offset=1"));
    assert_string_equal(row_str(doc, 0, "campaign_name"), "Alpha");
    json_decref(doc);
    doc = report(f, Q("group_by=conversion_type", range[0], range[1], range[2], "filter=campaign:eq:1",
                      "metrics=clicks,conversions,pending_conversions,pending_revenue,cpl,conversions_lead"));
    /* "" (the clicks) sorts last; lead, sale. */
    assert_int_equal(nrows(doc), 3);
    assert_string_equal(row_str(doc, 0, "conversion_type"), "lead");
    assert_int_equal(row_int(doc, 0, "conversions_lead"), 1);
    assert_string_equal(row_str(doc, 1, "conversion_type"), "sale");
    assert_int_equal(row_int(doc, 1, "pending_conversions"), 1);
    assert_string_equal(row_str(doc, 1, "pending_revenue"), "9.00");
    assert_true(json_is_null(json_object_get(json_array_get(json_object_get(doc, "rows"), 2), "conversion_type")));
    json_t *totals = json_object_get(doc, "totals");
    assert_string_equal(json_string_value(json_object_get(totals, "cpl")), "1.00"); /* 1.00 cost / 1 lead */
    json_decref(doc);
    doc = report(f, Q("group_by=campaign", range[0], range[1], range[2], "filter=traffic_source:not_in:1"));
    assert_int_equal(nrows(doc), 1);
    assert_string_equal(row_str(doc, 0, "campaign_name"), "Alpha");
    json_decref(doc);
}

static void test_currency_and_compare(void **state)
{
    fx_t *f = *state;
    load_dst_events(f);
    json_t *doc = report(f, Q("group_by=campaign", "from=2026-03-29", "to=2026-03-30", "tz=UTC", "filter=campaign:eq:2",
                              "metrics=conversions,revenue"));
    /* The EUR sale counts as a conversion, its money is left out and said so. */
    assert_int_equal(row_int(doc, 0, "conversions"), 1);
    assert_string_equal(row_str(doc, 0, "revenue"), "0.00");
    json_t *w = json_object_get(doc, "warnings");
    assert_int_equal(json_array_size(w), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(w, 0), "code")), "currency_excluded");
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(w, 0), "message")), "1 events with amounts in EUR"));
    assert_string_equal(json_string_value(json_object_get(doc, "currency")), "USD");
    json_decref(doc);
    /* compare=previous: the 29th against the 28th (Berlin). */
    doc = report(f, Q("group_by=campaign", "from=2026-03-29", "to=2026-03-29", "tz=Europe/Berlin", "compare=previous",
                      "metrics=clicks,conversions"));
    assert_string_equal(json_string_value(json_object_get(doc, "previous_from")), "2026-03-27T23:00:00.000000Z");
    json_t *row = json_array_get(json_object_get(doc, "rows"), 1); /* Zeta: 1 click on the 29th, 1 on the 28th */
    assert_string_equal(json_string_value(json_object_get(row, "campaign_name")), "Zeta");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(row, "previous"), "clicks")), 1);
    assert_true(json_number_value(json_object_get(json_object_get(row, "change"), "clicks")) == 0.0);
    assert_true(json_is_null(json_object_get(json_object_get(row, "change"), "conversions"))); /* previous 0 */
    json_t *totals = json_object_get(doc, "totals");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(totals, "previous"), "clicks")), 1);
    assert_true(json_number_value(json_object_get(json_object_get(totals, "change"), "clicks")) == 1.0);
    json_decref(doc);
}

static void test_csv_and_table(void **state)
{
    fx_t *f = *state;
    load_dst_events(f);
    fx_exec(f, "UPDATE campaigns SET name='=HYPERLINK(\"x\")' WHERE id=1");
    char *csv =
        fx_report(f, PM_REPORT_CSV, NULL,
                  Q("group_by=campaign", "from=2026-03-27", "to=2026-03-31", "tz=UTC", "metrics=clicks,cost,ctr"));
    assert_non_null(csv);
    assert_string_equal(csv, "campaign_id,campaign_name,clicks,cost,ctr\r\n"
                             "1,\"'=HYPERLINK(\"\"x\"\")\",2,1.00,\r\n"
                             "2,Alpha,2,1.00,2\r\n");
    free(csv);
    char *table = fx_report(f, PM_REPORT_TABLE, NULL,
                            Q("group_by=campaign", "from=2026-03-27", "to=2026-03-31", "tz=UTC", "metrics=clicks,ctr"));
    assert_non_null(table);
    assert_non_null(strstr(table, "campaign_id  campaign_name"));
    assert_non_null(strstr(table, "200.00%"));
    assert_non_null(strstr(table, "total"));
    free(table);
}

/* The cube table matches the schema of store.c (column names and order). */
static void test_cube_columns(void **state)
{
    static const char *const want[PM__CUBE__COUNT] = {
        [PM__CUBE_CAMPAIGN] = "campaign_id,bucket,traffic_source_id,conversion_type,currency",
        [PM__CUBE_DIM] = "dim,campaign_id,bucket,traffic_source_id,value,conversion_type,currency",
        [PM__CUBE_MAIN] = "campaign_id,bucket,traffic_source_id,offer_id,lander_id,language,conversion_type,currency",
    };
    for (int c = 0; c < PM__CUBE__COUNT; c++) {
        char got[256] = "";
        size_t n = 0;
        for (const pm__rp_col_t *col = pm__rp_cubes[c].cols; col->kind != PM__COL_END; col++)
            n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s", n ? "," : "", pm__rp_col_name(col));
        assert_string_equal(got, want[c]);
    }
    assert_string_equal(pm__rp_dims[pm__rp_dim_by_src(PM__SRC_CAMPAIGN)].name, "campaign");
    assert_string_equal(pm__rp_dims[pm__rp_dim_by_src(PM__SRC_CONV_TYPE)].name, "conversion_type");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cube_columns),
        cmocka_unit_test_setup_teardown(test_parameter_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_planner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_days_across_dst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hour_week_month_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_filters_sorting_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_currency_and_compare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_and_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

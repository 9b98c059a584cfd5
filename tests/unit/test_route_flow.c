/*
 * test_route_flow.c: the flow compiler and validator, the condition
 * evaluator, rotation (weighted distribution, Thompson sampling, split
 * assignment), route reasons, the bandit counters and the frequency-cap
 * table (pm/flow.h, pm/bandit.h, pm/fcap.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pm/audience.h"
#include "pm/bandit.h"
#include "pm/fcap.h"
#include "pm/flow.h"
#include "pm/stats_assign.h"
#include "route/flow_internal.h"

static pm_flow_t *flow_of(const char *json)
{
    pm_flow_t *f = NULL;
    pm_flow_error_t err;
    int rc = pm_flow_compile_text(7, json, strlen(json), &f, &err);
    if (rc != PM_OK) fail_msg("compile failed: %s: %s", err.field, err.message);
    return f;
}

static void expect_error(const char *json, const char *field)
{
    pm_flow_t *f = NULL;
    pm_flow_error_t err;
    assert_int_equal(pm_flow_compile_text(7, json, strlen(json), &f, &err), PM_EINVAL);
    assert_null(f);
    assert_string_equal(err.field, field);
    assert_true(strlen(err.message) > 0);
}

typedef struct fixture_s {
    pm_event_t ev;
    pm_qs_t qs;
    pm_ip_t ip;
    uint64_t rng;
    void *md;
    pm_flow_input_t in;
    char reason[1024];
    size_t reason_len;
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    fx->ev.type = PM_EV_CLICK;
    fx->md = pm_flow_match_data_create();
    pm_flow_rng_seed(&fx->rng, 42);
    pm_qs_parse(&fx->qs, "", 0);
    fx->in = (pm_flow_input_t){.ev = &fx->ev,
                               .qs = &fx->qs,
                               .rng = &fx->rng,
                               .match_data = fx->md,
                               .now_us = INT64_C(1767600000) * PM_USEC_PER_SEC};
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    pm_qs_free(&fx->qs);
    pm_flow_match_data_free(fx->md);
    free(fx);
    return 0;
}

static void set(fixture_t *fx, pm_event_str_t f, const char *v)
{
    pm_event_set(&fx->ev, f, v, strlen(v));
}

static void set_query(fixture_t *fx, const char *q)
{
    pm_qs_free(&fx->qs);
    pm_qs_parse(&fx->qs, q, strlen(q));
}

/* The name of the path the flow picks for the fixture's click. */
static const char *route(fixture_t *fx, const pm_flow_t *f)
{
    pm_flow_choice_t c;
    pm_flow_route(f, &fx->in, &c, fx->reason, sizeof(fx->reason), &fx->reason_len);
    assert_true(fx->reason_len > 0);
    return c.path->name;
}

#define ONE_OPTION       "\"options\":[{\"url\":\"https://x.example/\"}]"
#define RULE(name, when) "{\"when\":" when ",\"path\":{\"name\":\"" name "\"," ONE_OPTION "}}"
#define FLOW(rules)      "{\"rules\":[" rules "],\"default_path\":{\"name\":\"default\"," ONE_OPTION "}}"

/* --- conditions ------------------------------------------------------------------ */

static void test_geo_and_ua_fields(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f = flow_of(FLOW(RULE(
        "de-mobile",
        "{\"all\":[{\"country\":{\"in\":[\"DE\",\"AT\"]}},{\"device_type\":{\"equals\":"
        "\"mobile\"}}]}") "," RULE("new-ios",
                                   "{\"all\":[{\"os\":{\"equals\":\"iOS\"}},{\"os_"
                                   "version\":{\"gte\":\"17.2\"}}]}") "," RULE("old-chrome",
                                                                               "{\"all\":[{\"browser\":{\"regex\":\"^"
                                                                               "Chrome\"}},{\"browser_version\":{"
                                                                               "\"lt\":\"100\"}}]"
                                                                               "}") "," RULE("not-us",
                                                                                             "{\"not\":{\"any\":[{"
                                                                                             "\"country\":{\"equals\":"
                                                                                             "\"US\"}},{"
                                                                                             "\"region\":{\"equals\":"
                                                                                             "\"CA-QC\"}}]}}")));
    set(fx, PM_EVS_COUNTRY, "US");
    assert_string_equal(route(fx, f), "default");
    set(fx, PM_EVS_COUNTRY, "at"); /* case-insensitive */
    assert_string_equal(route(fx, f), "not-us");
    set(fx, PM_EVS_DEVICE_TYPE, "mobile");
    assert_string_equal(route(fx, f), "de-mobile");
    set(fx, PM_EVS_COUNTRY, "US");
    set(fx, PM_EVS_OS, "iOS");
    set(fx, PM_EVS_OS_VERSION, "17.10");
    assert_string_equal(route(fx, f), "new-ios");
    set(fx, PM_EVS_OS_VERSION, "17.1.9");
    assert_string_equal(route(fx, f), "default");
    set(fx, PM_EVS_BROWSER, "Chrome Mobile");
    set(fx, PM_EVS_BROWSER_VERSION, "99.0.1");
    assert_string_equal(route(fx, f), "old-chrome");
    set(fx, PM_EVS_BROWSER_VERSION, "120.0");
    assert_string_equal(route(fx, f), "default");
    pm_flow_free(f);
}

static void test_language(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f = flow_of(FLOW(
        RULE("de", "{\"language\":{\"in\":[\"de\"]}}") "," RULE("pt-br", "{\"language\":{\"equals\":\"pt-BR\"}}")));
    set(fx, PM_EVS_LANGUAGE, "fr-FR,fr;q=0.9, de-AT ;q=0.8");
    assert_string_equal(route(fx, f), "de");
    set(fx, PM_EVS_LANGUAGE, "de;q=0, en");
    assert_string_equal(route(fx, f), "default");
    set(fx, PM_EVS_LANGUAGE, "deu, pt");
    assert_string_equal(route(fx, f), "default");
    set(fx, PM_EVS_LANGUAGE, "en-US, pt-br;q=0.5");
    assert_string_equal(route(fx, f), "pt-br");
    pm_flow_free(f);
}

static void test_referrer_domain(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f = flow_of(FLOW(RULE("google", "{\"referrer_domain\":{\"in\":[\"google.com\"]}}")));
    set(fx, PM_EVS_REFERRER, "https://news.google.com/article?x=1");
    assert_string_equal(route(fx, f), "google");
    set(fx, PM_EVS_REFERRER, "https://user@GOOGLE.com:443/");
    assert_string_equal(route(fx, f), "google");
    set(fx, PM_EVS_REFERRER, "https://notgoogle.com/");
    assert_string_equal(route(fx, f), "default");
    set(fx, PM_EVS_REFERRER, "google.com");
    assert_string_equal(route(fx, f), "default");
    pm_flow_free(f);
}

static void test_ip_ranges(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f = flow_of(FLOW(RULE("office", "{\"ip\":{\"in\":[\"10.1.0.0/16\",\"2001:db8::/32\"]}}")));
    assert_string_equal(route(fx, f), "default"); /* no address */
    fx->in.ip = &fx->ip;
    assert_int_equal(pm_ip_parse("10.1.200.3", 10, &fx->ip), PM_OK);
    assert_string_equal(route(fx, f), "office");
    assert_int_equal(pm_ip_parse("10.2.0.1", 8, &fx->ip), PM_OK);
    assert_string_equal(route(fx, f), "default");
    assert_int_equal(pm_ip_parse("2001:db8:5::1", 13, &fx->ip), PM_OK);
    assert_string_equal(route(fx, f), "office");
    pm_flow_free(f);
}

static void test_time_of_day_and_weekday(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f =
        flow_of(FLOW(RULE("weekend", "{\"time\":{\"tz\":\"Europe/Berlin\",\"days\":[\"sat\",\"sun\"]}}") "," RULE(
            "office", "{\"time\":{\"tz\":\"Europe/"
                      "Berlin\",\"hours\":{\"from\":9,\"to\":17},\"days\":[\"mon\"]}}") "," RULE("night", "{\"time\":{"
                                                                                                          "\"hours\":{"
                                                                                                          "\"from\":22,"
                                                                                                          "\"to\":6}}"
                                                                                                          "}")));
    /* 2026-01-05 is a Monday; Berlin is UTC+1 in January. */
    int64_t monday = INT64_C(1767571200);                         /* 2026-01-05T00:00:00Z */
    fx->in.now_us = (monday + 8 * 3600 + 1800) * PM_USEC_PER_SEC; /* 09:30 Berlin */
    assert_string_equal(route(fx, f), "office");
    fx->in.now_us = (monday + 16 * 3600) * PM_USEC_PER_SEC; /* 17:00 Berlin: to is exclusive */
    assert_string_equal(route(fx, f), "default");
    fx->in.now_us = (monday + 23 * 3600) * PM_USEC_PER_SEC; /* 23:00 UTC */
    assert_string_equal(route(fx, f), "night");
    fx->in.now_us = (monday - 3600) * PM_USEC_PER_SEC; /* Sunday 23:00 UTC, 00:00 Monday in Berlin */
    assert_string_equal(route(fx, f), "night");
    fx->in.now_us = (monday - 7200) * PM_USEC_PER_SEC; /* Sunday 23:00 in Berlin */
    assert_string_equal(route(fx, f), "weekend");
    pm_flow_free(f);
}

static void test_params_subs_and_visitor(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f = flow_of(FLOW(RULE("zone", "{\"param\":{\"name\":\"zone\",\"in\":[\"a1\",\"b2\"]}}") "," RULE(
        "sub", "{\"sub3\":{\"regex\":\"^camp-[0-9]{3}$\"}}") "," RULE("back", "{\"visitor\":\"returning\"}")));
    set_query(fx, "zone=b2&x=1");
    assert_string_equal(route(fx, f), "zone");
    set_query(fx, "zone=c3");
    assert_string_equal(route(fx, f), "default");
    set(fx, PM_EVS_SUB3, "camp-123");
    assert_string_equal(route(fx, f), "sub");
    set(fx, PM_EVS_SUB3, "camp-1234");
    assert_string_equal(route(fx, f), "default");
    fx->in.returning = true;
    assert_string_equal(route(fx, f), "back");
    pm_flow_free(f);
}

static void test_audience(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f = flow_of(FLOW(RULE("lapsed", "{\"audience\":{\"clicked_within_days\":7}}") "," RULE(
        "buyer", "{\"audience\":{\"clicked_within_days\":30,\"converted\":true}}")));
    int64_t day = 86400 * PM_USEC_PER_SEC, now = fx->in.now_us;
    pm_audience_visitor_t h = {0, 0};
    assert_string_equal(route(fx, f), "default"); /* nothing known */
    fx->in.history = &h;
    assert_string_equal(route(fx, f), "default");
    h.last_click_us = now - 2 * day;
    assert_string_equal(route(fx, f), "lapsed");
    h.last_conversion_us = now - 1 * day;
    assert_string_equal(route(fx, f), "buyer");
    h.last_conversion_us = now - 10 * day; /* converted, but before the 7 days */
    assert_string_equal(route(fx, f), "lapsed");
    h.last_click_us = now - 8 * day;
    assert_string_equal(route(fx, f), "buyer");
    pm_flow_free(f);
    expect_error(FLOW(RULE("r", "{\"audience\":{\"clicked_within_days\":31}}")),
                 "rules[0].when.audience.clicked_within_days");
    expect_error(FLOW(RULE("r", "{\"audience\":{\"clicked_within_days\":3,\"converted\":1}}")),
                 "rules[0].when.audience.converted");
}

static void test_audience_table(void **state)
{
    (void)state;
    pm_audience_t *a = pm_audience_create(100);
    pm_id_t v = {{7}}, w = {{8}};
    int64_t t = INT64_C(1767571200) * PM_USEC_PER_SEC;
    pm_audience_visitor_t h = pm_audience_get(a, &v);
    assert_true(h.last_click_us == 0 && h.last_conversion_us == 0);
    pm_audience_click(a, &v, t);
    pm_audience_click(a, &v, t - 3600 * PM_USEC_PER_SEC); /* older: ignored */
    pm_event_t conv = {.type = PM_EV_CONVERSION, .visitor_id = v, .ts = t + 120 * PM_USEC_PER_SEC};
    pm_event_set(&conv, PM_EVS_STATUS, "approved", 8);
    pm_audience_observe(a, &conv);
    h = pm_audience_get(a, &v);
    assert_true(h.last_click_us == t); /* minutes: t is on a minute */
    assert_true(h.last_conversion_us == t + 120 * PM_USEC_PER_SEC);
    assert_true(pm_audience_get(a, &w).last_click_us == 0);
    /* Bounded: flooding the table keeps it working. */
    pm_id_t x = {{0}};
    for (uint32_t i = 0; i < 100000; i++) {
        memcpy(x.b + 4, &i, sizeof(i));
        pm_audience_click(a, &x, t + (int64_t)i * 60 * PM_USEC_PER_SEC);
    }
    assert_true(pm_audience_get(a, &x).last_click_us > t);
    pm_audience_destroy(a);
    /* Eviction takes the least recently active: after 10x the table's
     * visitors, most of the last quarter's worth are still known (buckets
     * fill unevenly, so not all), and the first ones are gone. */
    a = pm_audience_create(20000);
    uint32_t n = 200000, recent = 5000, kept = 0, old = 0;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(x.b + 4, &i, sizeof(i));
        pm_audience_click(a, &x, t + (int64_t)i * 60 * PM_USEC_PER_SEC);
    }
    for (uint32_t i = 0; i < recent; i++) {
        uint32_t k = n - 1 - i;
        memcpy(x.b + 4, &k, sizeof(k));
        kept += pm_audience_get(a, &x).last_click_us == t + (int64_t)k * 60 * PM_USEC_PER_SEC;
        memcpy(x.b + 4, &i, sizeof(i));
        old += pm_audience_get(a, &x).last_click_us != 0;
    }
    assert_true(kept > recent * 99 / 100);
    assert_true(old < recent / 100);
    pm_audience_destroy(a);
}

static void test_catastrophic_regex_is_bounded(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f = flow_of(FLOW(RULE("evil", "{\"sub1\":{\"regex\":\"^(a|a)+$\"}}")));
    char subject[64];
    memset(subject, 'a', 40);
    subject[40] = 'b';
    subject[41] = '\0';
    set(fx, PM_EVS_SUB1, subject); /* 2^40 paths: hits the match limit, so no match */
    assert_string_equal(route(fx, f), "default");
    set(fx, PM_EVS_SUB1, "aaaa");
    assert_string_equal(route(fx, f), "evil");
    pm_flow_free(f);
}

static void test_bot_and_cap_paths(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f = flow_of("{\"rules\":[" RULE(
        "all",
        "{\"visitor\":\"new\"}") "],"
                                 "\"default_path\":{" ONE_OPTION "},"
                                 "\"fallback_path\":{\"name\":\"capped\"," ONE_OPTION "},"
                                 "\"bot_path\":{\"name\":\"safe\",\"options\":[{\"url\":\"https://safe.example/\"}]},"
                                 "\"frequency_cap\":{\"max\":3,\"per\":\"hour\"}}");
    assert_string_equal(route(fx, f), "all");
    fx->in.over_cap = true;
    assert_string_equal(route(fx, f), "capped");
    assert_non_null(strstr(fx->reason, "\"by\":\"cap\""));
    set(fx, PM_EVS_BOT_REASON, "ua_crawler");
    assert_string_equal(route(fx, f), "safe"); /* bots first: they are not counted as capped humans */
    assert_int_equal(pm_flow_cap(f)->max, 3);
    assert_int_equal(pm_flow_cap(f)->per, PM_FLOW_PER_HOUR);
    pm_flow_free(f);
}

/* --- the compiler ---------------------------------------------------------------- */

static void test_compile_errors_name_the_field(void **state)
{
    (void)state;
    expect_error("[]", "");
    expect_error("{\"rules\":[]}", "default_path");
    expect_error("{\"default_path\":{" ONE_OPTION "},\"extra\":1}", "extra");
    expect_error(FLOW(RULE("r", "{\"country\":{\"in\":[]}}")), "rules[0].when.country.in");
    expect_error(FLOW(RULE("r", "{\"country\":{\"in\":[\"DE\"],\"equals\":\"FR\"}}")), "rules[0].when.country.in");
    expect_error(FLOW(RULE("r", "{\"country\":{\"gte\":\"1\"}}")), "rules[0].when.country.gte");
    expect_error(FLOW(RULE("r", "{\"all\":[{\"os\":{\"regex\":\"[a-\"}}]}")), "rules[0].when.all[0].os.regex");
    expect_error(FLOW(RULE("r", "{\"country\":{\"in\":[\"DE\"]},\"os\":{\"equals\":\"iOS\"}}")), "rules[0].when");
    expect_error(FLOW(RULE("r", "{\"visitor\":\"maybe\"}")), "rules[0].when.visitor");
    expect_error(FLOW(RULE("r", "{\"time\":{\"hours\":{\"from\":9,\"to\":9}}}")), "rules[0].when.time.hours");
    expect_error(FLOW(RULE("r", "{\"time\":{\"days\":[\"funday\"]}}")), "rules[0].when.time.days[0]");
    expect_error(FLOW(RULE("r", "{\"param\":{\"equals\":\"x\"}}")), "rules[0].when.param.name");
    expect_error("{\"rules\":[{\"when\":{\"visitor\":\"new\"}}],\"default_path\":{" ONE_OPTION "}}", "rules[0].path");
    expect_error("{\"default_path\":{\"options\":[]}}", "default_path.options");
    expect_error("{\"default_path\":{\"options\":[{\"weight\":1}]}}", "default_path.options[0]");
    expect_error("{\"default_path\":{\"options\":[{\"url\":\"ftp://x\"}]}}", "default_path.options[0].url");
    expect_error("{\"default_path\":{\"options\":[{\"offer_id\":1,\"weight\":0}]}}", "default_path.options");
    expect_error("{\"default_path\":{\"min_share\":0.1,\"options\":[{\"offer_id\":1}]}}", "default_path.min_share");
    expect_error("{\"default_path\":{\"rotation\":\"auto\",\"min_share\":0.6,\"options\":[{\"offer_id\":1},"
                 "{\"offer_id\":2}]}}",
                 "default_path.min_share");
    expect_error("{\"default_path\":{" ONE_OPTION "},\"frequency_cap\":{\"max\":0,\"per\":\"day\"}}",
                 "frequency_cap.max");
    expect_error("{\"default_path\":{" ONE_OPTION "},\"frequency_cap\":{\"max\":1,\"per\":\"week\"}}",
                 "frequency_cap.per");
    expect_error("{\"default_path\":{" ONE_OPTION "},\"frequency_cap\":{\"max\":1,\"per\":\"day\"}}", "fallback_path");
    expect_error("{\"rules\":[" RULE("default", "{\"visitor\":\"new\"}") "],\"default_path\":{" ONE_OPTION "}}",
                 "default_path");
    /* Nesting is capped. */
    expect_error(FLOW(RULE("r", "{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":{\"not\":"
                                "{\"visitor\":\"new\"}}}}}}}}}")),
                 "rules[0].when.not.not.not.not.not.not.not.not");
}

static void test_paths_are_listed_and_named(void **state)
{
    (void)state;
    pm_flow_t *f = flow_of("{\"rules\":[" RULE("a", "{\"visitor\":\"new\"}") "," RULE(
        "b", "{\"visitor\":\"new\"}") "],"
                                      "\"default_path\":{" ONE_OPTION "},\"bot_path\":{" ONE_OPTION "}}");
    const char *names[] = {"a", "b", "default", "bot"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(pm_flow_path_at(f, i)->name, names[i]);
    assert_null(pm_flow_path_at(f, 4));
    assert_ptr_equal(pm_flow_path_by_name(f, "bot"), pm_flow_path_at(f, 3));
    assert_null(pm_flow_path_by_name(f, "fallback"));
    assert_int_equal(pm_flow_id(f), 7);
    pm_flow_free(f);
}

static void test_version_compare(void **state)
{
    (void)state;
    assert_true(pm__flow_version_cmp("10.2", 4, "9.14", 4) > 0);
    assert_true(pm__flow_version_cmp("17", 2, "17.0", 4) == 0);
    assert_true(pm__flow_version_cmp("17.0.1", 6, "17.1", 4) < 0);
    assert_true(pm__flow_version_cmp("120.0.6099.71", 13, "120", 3) > 0);
}

/* --- rotation ------------------------------------------------------------------- */

static void test_weighted_distribution(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f =
        flow_of("{\"default_path\":{\"options\":[{\"offer_id\":1,\"weight\":1},{\"offer_id\":2,\"weight\":2},"
                "{\"offer_id\":3,\"weight\":7},{\"offer_id\":4,\"weight\":0}]}}");
    enum { N = 100000 };
    double seen[4] = {0}, want[4] = {0.1, 0.2, 0.7, 0};
    for (int i = 0; i < N; i++) {
        pm_flow_choice_t c;
        pm_flow_route(f, &fx->in, &c, fx->reason, sizeof(fx->reason), &fx->reason_len);
        seen[c.option_index]++;
    }
    assert_true(seen[3] == 0);
    double chi2 = 0;
    for (int i = 0; i < 3; i++)
        chi2 += (seen[i] - N * want[i]) * (seen[i] - N * want[i]) / (N * want[i]);
    /* Critical value of chi-square with 2 degrees of freedom at p = 0.001. */
    assert_true(chi2 < 13.82);
    pm_flow_free(f);
}

static void test_thompson_favours_the_better_option(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f = flow_of("{\"default_path\":{\"rotation\":\"auto\",\"min_share\":0.02,"
                           "\"options\":[{\"offer_id\":1},{\"offer_id\":2},{\"offer_id\":3}]}}");
    const pm_flow_path_t *p = pm_flow_path_at(f, 0);
    pm_bandit_t *b = pm_bandit_create(16);
    pm_bandit_add(b, p->options[0].key, 2000, 20); /* 1% */
    pm_bandit_add(b, p->options[1].key, 2000, 80); /* 4% */
    pm_bandit_add(b, p->options[2].key, 2000, 40); /* 2% */
    fx->in.bandit = b;
    int seen[3] = {0};
    for (int i = 0; i < 5000; i++) {
        pm_flow_choice_t c;
        pm_flow_route(f, &fx->in, &c, fx->reason, sizeof(fx->reason), &fx->reason_len);
        seen[c.option_index]++;
    }
    assert_true(seen[1] > 4500);
    /* The exploration share keeps the others alive: 2% each, at least. */
    assert_true(seen[0] > 50 && seen[2] > 50);
    assert_non_null(strstr(fx->reason, "\"rotation\":\"auto\""));
    /* Without data every option is a fair draw. */
    fx->in.bandit = NULL;
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < 3000; i++) {
        pm_flow_choice_t c;
        pm_flow_route(f, &fx->in, &c, fx->reason, sizeof(fx->reason), &fx->reason_len);
        seen[c.option_index]++;
    }
    for (int i = 0; i < 3; i++)
        assert_true(seen[i] > 800 && seen[i] < 1200);
    pm_bandit_destroy(b);
    pm_flow_free(f);
}

/* Offer 2 "reached its cap" in these tests. */
static bool offer_two_capped(void *ctx, int64_t offer_id)
{
    (void)ctx;
    return offer_id == 2;
}

static bool every_offer_capped(void *ctx, int64_t offer_id)
{
    (void)ctx;
    return offer_id != 0;
}

/* Capped offers get no traffic in any rotation; a path entirely capped
 * goes to the fallback path, and without one the choice is empty. */
static void test_capped_offers_are_skipped(void **state)
{
    fixture_t *fx = *state;
    static const char *const rotations[] = {"weighted", "auto", "split"};
    pm_idgen_t ids;
    pm_idgen_init(&ids);
    fx->in.offer_capped = offer_two_capped;
    for (size_t r = 0; r < 3; r++) {
        char def[512];
        snprintf(def, sizeof(def),
                 "{\"default_path\":{\"name\":\"p\",\"rotation\":\"%s\",\"options\":[{\"offer_id\":1,\"weight\":1},"
                 "{\"offer_id\":2,\"weight\":9},{\"lander_id\":4,\"offer_id\":3,\"weight\":1}]}}",
                 rotations[r]);
        pm_flow_t *f = flow_of(def);
        int seen[3] = {0};
        for (int i = 0; i < 2000; i++) {
            fx->ev.visitor_id = pm_id_next(&ids, INT64_C(1767571200000000) + i);
            pm_flow_choice_t c;
            pm_flow_route(f, &fx->in, &c, fx->reason, sizeof(fx->reason), &fx->reason_len);
            assert_non_null(c.option);
            assert_true(c.offer_capped);
            assert_string_equal(c.by, "default");
            seen[c.option_index]++;
        }
        assert_int_equal(seen[1], 0);
        assert_true(seen[0] > 500 && seen[2] > 500);
        assert_non_null(strstr(fx->reason, "\"capped\":[1]"));
        json_error_t jerr;
        json_t *j = json_loadb(fx->reason, fx->reason_len, 0, &jerr);
        assert_non_null(j); /* null draws of auto stay valid JSON */
        json_decref(j);
        pm_flow_free(f);
    }
    /* Every option capped: the fallback path (when it is open). */
    pm_flow_t *f = flow_of("{\"default_path\":{\"options\":[{\"offer_id\":2}]},"
                           "\"fallback_path\":{\"name\":\"fb\",\"options\":[{\"url\":\"https://x.example/\"}]}}");
    pm_flow_choice_t c;
    pm_flow_route(f, &fx->in, &c, fx->reason, sizeof(fx->reason), &fx->reason_len);
    assert_non_null(c.option);
    assert_string_equal(c.path->name, "fb");
    assert_string_equal(c.by, "offer_cap");
    assert_true(c.offer_capped);
    assert_non_null(strstr(fx->reason, "\"by\":\"offer_cap\""));
    /* ... and nothing when the fallback is capped too. */
    fx->in.offer_capped = every_offer_capped;
    pm_flow_free(f);
    f = flow_of("{\"default_path\":{\"options\":[{\"offer_id\":2}]},"
                "\"fallback_path\":{\"name\":\"fb\",\"options\":[{\"offer_id\":5}]}}");
    pm_flow_route(f, &fx->in, &c, fx->reason, sizeof(fx->reason), &fx->reason_len);
    assert_null(c.option);
    assert_int_equal(c.option_index, -1);
    assert_non_null(strstr(fx->reason, "\"option\":null"));
    pm_flow_free(f);
    /* No fallback path at all: nothing either. */
    f = flow_of("{\"default_path\":{\"options\":[{\"offer_id\":2},{\"offer_id\":3}]}}");
    pm_flow_route(f, &fx->in, &c, fx->reason, sizeof(fx->reason), &fx->reason_len);
    assert_null(c.option);
    fx->in.offer_capped = NULL;
    pm_flow_route(f, &fx->in, &c, fx->reason, sizeof(fx->reason), &fx->reason_len);
    assert_non_null(c.option);
    assert_false(c.offer_capped);
    assert_null(strstr(fx->reason, "capped"));
    pm_flow_free(f);
}

static void test_beta_sampler_mean(void **state)
{
    (void)state;
    uint64_t rng;
    pm_flow_rng_seed(&rng, 7);
    double sum = 0;
    for (int i = 0; i < 20000; i++) {
        double x = pm_flow_sample_beta(&rng, 3, 7);
        assert_true(x >= 0 && x <= 1);
        sum += x;
    }
    assert_true(sum / 20000 > 0.29 && sum / 20000 < 0.31);
}

static void test_split_is_deterministic_per_visitor(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f = flow_of("{\"default_path\":{\"name\":\"ab\",\"rotation\":\"split\","
                           "\"options\":[{\"offer_id\":1,\"weight\":1},{\"offer_id\":2,\"weight\":1}]}}");
    pm_idgen_t ids;
    pm_idgen_init(&ids);
    int counts[2] = {0};
    for (int i = 0; i < 200; i++) {
        fx->ev.visitor_id = pm_id_next(&ids, INT64_C(1767571200000000) + i);
        char text[PM_ID_LEN + 1];
        pm_id_format(&fx->ev.visitor_id, text);
        double w[2] = {0.5, 0.5};
        int want;
        assert_int_equal(pm_stats_assign(text, "flow-7-ab", w, 2, &want), PM_OK);
        pm_flow_choice_t c;
        pm_flow_route(f, &fx->in, &c, fx->reason, sizeof(fx->reason), &fx->reason_len);
        assert_int_equal(c.option_index, want);
        pm_flow_route(f, &fx->in, &c, fx->reason, sizeof(fx->reason), &fx->reason_len);
        assert_int_equal(c.option_index, want);
        counts[want]++;
    }
    assert_true(counts[0] > 60 && counts[1] > 60);
    assert_non_null(strstr(fx->reason, "\"seed\":\"flow-7-ab\""));
    pm_flow_free(f);
}

static void test_reason_is_json_with_the_key(void **state)
{
    fixture_t *fx = *state;
    pm_flow_t *f = flow_of("{\"rules\":[{\"name\":\"q\\\"uote\",\"when\":{\"visitor\":\"new\"},"
                           "\"path\":{\"name\":\"p\\\\1\",\"options\":[{\"offer_id\":5,\"lander_id\":6}]}}],"
                           "\"default_path\":{" ONE_OPTION "}}");
    pm_flow_choice_t c;
    pm_flow_route(f, &fx->in, &c, fx->reason, sizeof(fx->reason), &fx->reason_len);
    json_error_t err;
    json_t *doc = json_loads(fx->reason, 0, &err);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "flow")), 7);
    assert_string_equal(json_string_value(json_object_get(doc, "by")), "rule");
    assert_string_equal(json_string_value(json_object_get(doc, "rule_name")), "q\"uote");
    assert_string_equal(json_string_value(json_object_get(doc, "path")), "p\\1");
    assert_int_equal(json_integer_value(json_object_get(doc, "option")), 0);
    json_decref(doc);
    uint64_t key = 0;
    assert_true(pm_flow_reason_key(fx->reason, fx->reason_len, &key));
    assert_true(key == c.option->key);
    assert_int_equal(c.option->offer_id, 5);
    assert_int_equal(c.option->lander_id, 6);
    /* Too small a buffer: no reason, still a decision. */
    char tiny[16];
    size_t len = 99;
    pm_flow_route(f, &fx->in, &c, tiny, sizeof(tiny), &len);
    assert_int_equal(len, 0);
    assert_non_null(c.option);
    assert_false(pm_flow_reason_key("{\"k\":\"12\"}", 10, &key));
    pm_flow_free(f);
}

/* --- counters -------------------------------------------------------------------- */

static void test_bandit_observes_routed_events(void **state)
{
    (void)state;
    pm_bandit_t *b = pm_bandit_create(4);
    pm_event_t ev = {.type = PM_EV_CLICK};
    const char *route = "{\"flow\":1,\"option\":0,\"k\":\"00000000000000ab\"}";
    pm_event_set(&ev, PM_EVS_ROUTE, route, strlen(route));
    pm_bandit_observe(b, &ev);
    pm_bandit_observe(b, &ev);
    ev.type = PM_EV_CONVERSION;
    pm_event_set(&ev, PM_EVS_STATUS, "approved", 8);
    pm_bandit_observe(b, &ev);
    pm_event_set(&ev, PM_EVS_STATUS, "pending", 7);
    pm_bandit_observe(b, &ev);
    uint64_t clicks, conv;
    pm_bandit_get(b, 0xab, &clicks, &conv);
    assert_int_equal(clicks, 2);
    assert_int_equal(conv, 1);
    pm_bandit_get(b, 0xac, &clicks, &conv);
    assert_int_equal(clicks + conv, 0);
    /* Full: new keys are dropped, known ones still count. */
    for (uint64_t k = 1; k < 1000; k++)
        pm_bandit_add(b, k << 20, 1, 0);
    pm_bandit_add(b, 0xab, 1, 0);
    pm_bandit_get(b, 0xab, &clicks, &conv);
    assert_int_equal(clicks, 3);
    pm_bandit_destroy(b);
}

static void test_fcap_windows_and_campaigns(void **state)
{
    (void)state;
    pm_fcap_t *f = pm_fcap_create(1000);
    pm_id_t v = {{1, 2, 3}}, w = {{9, 9, 9}};
    int64_t t0 = INT64_C(1767571200) * PM_USEC_PER_SEC;
    assert_int_equal(pm_fcap_count(f, 1, &v, PM_FLOW_PER_HOUR, t0), 0);
    assert_int_equal(pm_fcap_count(f, 1, &v, PM_FLOW_PER_HOUR, t0 + 1), 1);
    assert_int_equal(pm_fcap_count(f, 1, &v, PM_FLOW_PER_HOUR, t0 + 2), 2);
    assert_int_equal(pm_fcap_count(f, 2, &v, PM_FLOW_PER_HOUR, t0), 0); /* another campaign */
    assert_int_equal(pm_fcap_count(f, pm_fcap_creative(1), &v, PM_FLOW_PER_HOUR, t0), 0); /* creative 1, not campaign 1 */
    assert_int_equal(pm_fcap_peek(f, pm_fcap_creative(1), &v, PM_FLOW_PER_HOUR, t0), 1);
    assert_int_equal(pm_fcap_count(f, 1, &w, PM_FLOW_PER_HOUR, t0), 0); /* another visitor */
    int64_t next_hour = t0 + 3600 * PM_USEC_PER_SEC;
    assert_int_equal(pm_fcap_count(f, 1, &v, PM_FLOW_PER_HOUR, next_hour), 0);
    assert_int_equal(pm_fcap_count(f, 1, &v, PM_FLOW_PER_HOUR, t0), 0); /* late: does not reset */
    assert_int_equal(pm_fcap_count(f, 1, &v, PM_FLOW_PER_HOUR, next_hour), 1);
    assert_int_equal(pm_fcap_peek(f, 1, &v, PM_FLOW_PER_HOUR, next_hour), 2);
    assert_int_equal(pm_fcap_peek(f, 1, &v, PM_FLOW_PER_HOUR, next_hour), 2); /* peeking counts nothing */
    assert_int_equal(pm_fcap_peek(f, 1, &v, PM_FLOW_PER_HOUR, t0), 0);        /* another window */
    assert_int_equal(pm_fcap_count(f, 3, &v, PM_FLOW_PER_LIFE, t0), 0);
    assert_int_equal(pm_fcap_count(f, 3, &v, PM_FLOW_PER_LIFE, t0 + INT64_C(86400000000) * 400), 1);
    assert_true(pm_fcap_bytes(f) >= 1000 * 16);
    pm_fcap_destroy(f);
}

/* A creative's cap is parsed by the flow's parser, alone. */
static void test_cap_parse(void **state)
{
    (void)state;
    pm_flow_cap_t cap;
    pm_flow_error_t err;
    assert_int_equal(pm_flow_cap_parse(NULL, &cap, &err), PM_OK);
    assert_int_equal(cap.max, 0);
    json_t *v = json_loads("{\"max\":3,\"per\":\"life\",\"count\":\"impressions\"}", 0, NULL);
    assert_int_equal(pm_flow_cap_parse(v, &cap, &err), PM_OK);
    assert_int_equal(cap.max, 3);
    assert_int_equal(cap.per, PM_FLOW_PER_LIFE);
    assert_true(cap.impressions);
    json_decref(v);
    v = json_loads("{\"max\":3}", 0, NULL);
    assert_int_equal(pm_flow_cap_parse(v, &cap, &err), PM_EINVAL);
    assert_string_equal(err.field, "frequency_cap.per");
    assert_int_equal(cap.max, 0);
    json_decref(v);
}

static void test_fcap_stays_bounded(void **state)
{
    (void)state;
    pm_fcap_t *f = pm_fcap_create(100);
    size_t bytes = pm_fcap_bytes(f);
    pm_id_t v = {{0}};
    for (uint32_t i = 0; i < 200000; i++) {
        memcpy(v.b, &i, sizeof(i));
        (void)pm_fcap_count(f, 1, &v, PM_FLOW_PER_DAY, INT64_C(1767571200000000) + i);
    }
    assert_int_equal(pm_fcap_bytes(f), bytes);
    /* The latest visitors are still counted. */
    assert_int_equal(pm_fcap_count(f, 1, &v, PM_FLOW_PER_DAY, INT64_C(1767571200000000) + 200000), 1);
    pm_fcap_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_geo_and_ua_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_language, setup, teardown),
        cmocka_unit_test_setup_teardown(test_referrer_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ip_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_of_day_and_weekday, setup, teardown),
        cmocka_unit_test_setup_teardown(test_params_subs_and_visitor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audience, setup, teardown),
        cmocka_unit_test(test_audience_table),
        cmocka_unit_test_setup_teardown(test_catastrophic_regex_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bot_and_cap_paths, setup, teardown),
        cmocka_unit_test(test_compile_errors_name_the_field),
        cmocka_unit_test(test_paths_are_listed_and_named),
        cmocka_unit_test(test_version_compare),
        cmocka_unit_test_setup_teardown(test_weighted_distribution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thompson_favours_the_better_option, setup, teardown),
        cmocka_unit_test(test_beta_sampler_mean),
        cmocka_unit_test_setup_teardown(test_split_is_deterministic_per_visitor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capped_offers_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reason_is_json_with_the_key, setup, teardown),
        cmocka_unit_test(test_bandit_observes_routed_events),
        cmocka_unit_test(test_fcap_windows_and_campaigns),
        cmocka_unit_test(test_cap_parse),
        cmocka_unit_test(test_fcap_stays_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

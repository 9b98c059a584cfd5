/*
 * test_stats_json.c: the analyze document (pm/stats_json.h): the reference
 * vectors go through the reader and come back in the same structure with
 * every computed field within 1e-4; malformed input is refused with the
 * field named; overflow gives null; the table; SRM cases; the caps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pm/stats_json.h"

#define VECTORS PM_SOURCE_DIR "/../shared/data/abtest/stats_vectors.json"

static int analyze(const char *text, pm_stats_format_t fmt, pm_buf_t *out, char *err, size_t err_len)
{
    pm_buf_init(out, PM_STATS_JSON_MAX_OUTPUT);
    return pm_stats_json_analyze(text, strlen(text), fmt, out, err, err_len);
}

static json_t *analyze_json(const char *text)
{
    pm_buf_t out;
    char err[256];
    int rc = analyze(text, PM_STATS_FORMAT_JSON, &out, err, sizeof(err));
    if (rc != PM_OK) fail_msg("analyze failed: %s", err);
    json_error_t jerr;
    json_t *doc = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) fail_msg("output is not JSON: %s", jerr.text);
    pm_buf_free(&out);
    return doc;
}

static bool is_computed(const char *key)
{
    static const char *const computed[] = {"expected", "ci", "stddev", "p_value", "chance_to_win", "risk"};
    for (size_t i = 0; i < PM_ARRAY_LEN(computed); i++)
        if (strcmp(key, computed[i]) == 0) return true;
    return false;
}

static void near_json(const json_t *got, const json_t *want, const char *what)
{
    if (json_is_array(want)) {
        assert_int_equal(json_array_size(got), json_array_size(want));
        for (size_t i = 0; i < json_array_size(want); i++)
            near_json(json_array_get(got, i), json_array_get(want, i), what);
        return;
    }
    if (!json_is_number(got) || fabs(json_number_value(got) - json_number_value(want)) > 1e-4)
        fail_msg("%s: got %g, want %g", what, json_number_value(got), json_number_value(want));
}

/* Same keys in the same order; inputs identical; figures within 1e-4. */
static double compare_case(const json_t *got, const json_t *want, const char *where)
{
    const char *key;
    const json_t *w;
    void *it = json_object_iter((json_t *)got);
    double worst = 0;
    char what[200];
    assert_int_equal(json_object_size(got), json_object_size(want));
    json_object_foreach((json_t *)want, key, w) {
        if (it == NULL || strcmp(json_object_iter_key(it), key) != 0)
            fail_msg("%s: key \"%s\" out of place", where, key);
        const json_t *g = json_object_iter_value(it);
        snprintf(what, sizeof(what), "%s.%s", where, key);
        if (!is_computed(key)) {
            if (!json_equal((json_t *)g, (json_t *)w)) fail_msg("%s: input changed", what);
        } else {
            near_json(g, w, what);
            bool pair = json_is_array(w);
            for (size_t i = 0; i < (pair ? json_array_size(w) : 1); i++) {
                const json_t *gi = pair ? json_array_get(g, i) : g, *wi = pair ? json_array_get(w, i) : w;
                worst = fmax(worst, fabs(json_number_value(gi) - json_number_value(wi)));
            }
        }
        it = json_object_iter_next((json_t *)got, it);
    }
    return worst;
}

static void test_reference_round_trip(void **state)
{
    static const char *const sections[] = {"frequentist", "sequential", "bayesian"};
    json_error_t err;
    json_t *want = json_load_file(VECTORS, 0, &err);
    if (want == NULL) {
        print_message("SKIPPED: reference vectors not found at %s (%s)\n", VECTORS, err.text);
        skip();
    }
    char *text = json_dumps(want, 0);
    json_t *got = analyze_json(text);
    assert_int_equal(json_object_size(got), json_object_size(want));
    assert_true(json_equal(json_object_get(got, "about"), json_object_get(want, "about")));
    double worst = 0;
    for (size_t s = 0; s < PM_ARRAY_LEN(sections); s++) {
        const json_t *gl = json_object_get(got, sections[s]), *wl = json_object_get(want, sections[s]);
        size_t n = json_array_size(wl);
        assert_int_equal(json_array_size(gl), n);
        for (size_t i = 0; i < n; i++) {
            char where[64];
            snprintf(where, sizeof(where), "%s[%zu]", sections[s], i);
            worst = fmax(worst, compare_case(json_array_get(gl, i), json_array_get(wl, i), where));
        }
        print_message("analyze %s: %zu/%zu cases, same structure, figures within 1e-4\n", sections[s], n, n);
    }
    print_message("analyze: largest difference from the reference %.2g (its figures are rounded to 5 decimals)\n",
                  worst);
    assert_true(worst < 1e-5);
    free(text);
    json_decref(got);
    json_decref(want);
}

static void expect_error(const char *text, const char *needle)
{
    pm_buf_t out;
    char err[256];
    int rc = analyze(text, PM_STATS_FORMAT_JSON, &out, err, sizeof(err));
    if (rc != PM_EINVAL) fail_msg("accepted (%d): %s", rc, text);
    if (strstr(err, needle) == NULL) fail_msg("error \"%s\" lacks \"%s\" for %s", err, needle, text);
    assert_null(strchr(err, '\n'));
    assert_int_equal(out.len, 0);
    pm_buf_free(&out);
}

#define ARM_A "\"a\":{\"n\":100,\"conversions\":10}"
#define ARM_B "\"b\":{\"n\":100,\"conversions\":12}"

static void test_malformed_inputs(void **state)
{
    expect_error("", "line 1");
    expect_error("{\"frequentist\": [", "line 1, column");
    expect_error("[1,2]", "document: must be a JSON object");
    expect_error("{\"about\": \"x\"}", "has none of the sections");
    expect_error("{\"frequentist\": {}}", "frequentist: must be a list");
    expect_error("{\"frequentist\": [1]}", "frequentist[0]: must be an object");
    expect_error("{\"frequentist\": [{" ARM_A "}]}", "frequentist[0].b: missing");
    expect_error("{\"frequentist\": [{" ARM_B "}]}", "frequentist[0].a: missing");
    expect_error("{\"frequentist\": [{\"a\":{\"conversions\":1}," ARM_B "}]}", "frequentist[0].a.n: missing");
    expect_error("{\"frequentist\": [{\"a\":{\"n\":-1,\"conversions\":0}," ARM_B "}]}",
                 "frequentist[0].a.n: must be a whole");
    expect_error("{\"frequentist\": [{\"a\":{\"n\":1.5,\"conversions\":0}," ARM_B "}]}", "a.n: must be a whole");
    expect_error("{\"frequentist\": [{\"a\":{\"n\":\"10\",\"conversions\":0}," ARM_B "}]}", "a.n: must be a whole");
    expect_error("{\"frequentist\": [{\"a\":{\"n\":10,\"conversions\":11}," ARM_B "}]}",
                 "a.conversions: more conversions");
    expect_error("{\"frequentist\": [{\"a\":{\"n\":10,\"conversion\":1}," ARM_B "}]}",
                 "a: unknown field \"conversion\"");
    expect_error("{\"frequentist\": [{\"a\":{\"n\":10,\"sum\":1}," ARM_B "}]}", "a: needs conversions");
    expect_error("{\"frequentist\": [{\"a\":{\"n\":10,\"sum\":1,\"sum_squares\":-1}," ARM_B "}]}",
                 "a.sum_squares: must be >= 0");
    expect_error("{\"frequentist\": [{\"a\":{\"n\":10,\"sum\":true,\"sum_squares\":1}," ARM_B "}]}",
                 "a.sum: must be a number");
    expect_error("{\"frequentist\": [{\"a\":{\"n\":10,\"sum\":1,\"sum_squares\":3,\"conversions\":1}," ARM_B "}]}",
                 "a: has both");
    expect_error("{\"frequentist\": [{\"a\":{\"n\":10,\"sum\":1,\"sum_squares\":3}," ARM_B "}]}",
                 "b: is a proportion but a is a mean");
    expect_error("{\"frequentist\": [{\"name\": 7," ARM_A "," ARM_B "}]}", "\"name\" must be a string");
    expect_error("{\"frequentist\": [{\"difference\": \"ratio\"," ARM_A "," ARM_B "}]}", "\"difference\" must be");
    expect_error("{\"frequentist\": [{\"alpha\": 1.5," ARM_A "," ARM_B "}]}", "frequentist[0].alpha: must be");
    expect_error("{\"sequential\": [{\"tuning_parameter\": 0," ARM_A "," ARM_B "}]}",
                 "sequential[0].tuning_parameter: must be a number > 0");
    expect_error("{\"bayesian\": [{\"prior\": {\"mean\": 0}," ARM_A "," ARM_B "}]}",
                 "bayesian[0].prior.variance: must be a number > 0");
    expect_error("{\"bayesian\": [{\"prior\": {\"mean\": 0, \"variance\": 1, \"sd\": 1}," ARM_A "," ARM_B "}]}",
                 "bayesian[0].prior: unknown field \"sd\"");
    expect_error("{\"bayesian\": [{\"prior\": 3," ARM_A "," ARM_B "}]}", "bayesian[0].prior: must be an object");
    expect_error("{\"bayesian\": [{\"inverse\": 1," ARM_A "," ARM_B "}]}", "\"inverse\" must be true or false");
    /* strict JSON: no NaN or Infinity, no duplicate keys, no trailing data, no NUL */
    expect_error("{\"frequentist\": [{\"a\":{\"n\":10,\"sum\":NaN,\"sum_squares\":3}," ARM_B "}]}", "line 1");
    expect_error("{\"frequentist\": [{\"a\":{\"n\":10,\"sum\":1e999,\"sum_squares\":3}," ARM_B "}]}", "overflow");
    expect_error("{\"frequentist\": [], \"frequentist\": []}", "duplicate");
    expect_error("{\"frequentist\": []} x", "end of file expected");
    expect_error("{\"srm\": [{\"visitors\": [1], \"weights\": [1]}]}", "srm[0].visitors: must be a list of 2");
    expect_error("{\"srm\": [{\"visitors\": [1, 2], \"weights\": [1]}]}", "srm[0].weights: must be a list of 2");
    expect_error("{\"srm\": [{\"visitors\": [1, 2], \"weights\": [1, -1]}]}", "srm[0].weights[1]: must be >= 0");
    expect_error("{\"srm\": [{\"visitors\": [1, 2], \"weights\": [0, 0]}]}", "need one > 0");
    /* sums whose variance overflows are refused, not turned into inf */
    expect_error("{\"frequentist\": [{\"a\":{\"n\":10,\"sum\":1e200,\"sum_squares\":1e300}," ARM_B "}]}",
                 "too large to analyse");
    /* the message stays one line even when it echoes input */
    expect_error("{\"frequentist\": [{\"a\":{\"n\":1,\"x\\ny\":1}," ARM_B "}]}", "unknown field \"x y\"");
    expect_error("{\"frequentist\": [\"\\ud83d\\ude0\n\"]}", "invalid escape");
    pm_buf_t out;
    char err[8];
    assert_int_equal(analyze("{", PM_STATS_FORMAT_JSON, &out, err, sizeof(err)), PM_EINVAL);
    assert_int_equal(strlen(err), sizeof(err) - 1); /* truncated, terminated */
    pm_buf_free(&out);
}

static void test_uninformative_and_overflow(void **state)
{
    json_t *doc = analyze_json("{\"frequentist\": [{\"a\":{\"n\":0,\"conversions\":0},"
                               "\"b\":{\"n\":5,\"conversions\":1},"
                               "\"ci\":[1,2],\"stddev\":3},"
                               "{\"a\":{\"n\":10,\"sum\":1e-300,\"sum_squares\":1e-300},"
                               "\"b\":{\"n\":10,\"sum\":5,\"sum_squares\":9}}]}");
    const json_t *c0 = json_array_get(json_object_get(doc, "frequentist"), 0);
    const json_t *c1 = json_array_get(json_object_get(doc, "frequentist"), 1);
    /* gbstats' default output: expected 0 and p 1; stale ci/stddev removed */
    assert_true(json_number_value(json_object_get(c0, "expected")) == 0);
    assert_true(json_number_value(json_object_get(c0, "p_value")) == 1);
    assert_null(json_object_get(c0, "ci"));
    assert_null(json_object_get(c0, "stddev"));
    /* an effect that overflows the arithmetic: every figure null */
    assert_true(json_is_null(json_object_get(c1, "expected")));
    assert_true(json_is_null(json_array_get(json_object_get(c1, "ci"), 0)));
    assert_true(json_is_null(json_object_get(c1, "p_value")));
    json_decref(doc);
}

static void test_output_keeps_input(void **state)
{
    const char *text = "{\"z_first\": {\"deep\": [1, {\"x\": null}]}, \"bayesian\": [{\"name\": \"n\\u00e9\\\"q\","
                       "\"extra\": 1.25, \"a\": {\"sum\": 52377.9767, \"sum_squares\": 1e10, \"n\": 3407},"
                       "\"b\": {\"sum\": 2422.7, \"sum_squares\": 1e10, \"n\": 3461}, \"tail\": \"kept\"}]}";
    pm_buf_t out;
    char err[256];
    assert_int_equal(analyze(text, PM_STATS_FORMAT_JSON, &out, err, sizeof(err)), PM_OK);
    const char *s = pm_buf_str(&out);
    assert_non_null(strstr(s, "52377.9767"));     /* reals come back as written */
    assert_non_null(strstr(s, "\"n\": 3407"));     /* integers stay integers */
    assert_non_null(strstr(s, "10000000000.0")); /* 1e10 is a real: printed as one */
    assert_true(strstr(s, "z_first") < strstr(s, "bayesian"));
    assert_true(strstr(s, "\"extra\"") < strstr(s, "\"tail\"") && strstr(s, "\"tail\"") < strstr(s, "\"expected\""));
    json_t *got = json_loadb(out.data, out.len, 0, NULL), *in = json_loads(text, 0, NULL);
    assert_non_null(got);
    assert_true(json_equal(json_object_get(got, "z_first"), json_object_get(in, "z_first")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(got, "bayesian"), 0), "name")),
                        "n\xc3\xa9\"q");
    json_decref(got);
    json_decref(in);
    pm_buf_free(&out);
}

static void test_table(void **state)
{
    pm_buf_t out;
    char err[256];
    const char *text = "{\"frequentist\": [{\"name\": \"cvr\", " ARM_A ", " ARM_B "}],"
                       "\"sequential\": [{\"name\": \"cvr seq\", \"tuning_parameter\": 2000, " ARM_A ", " ARM_B "}],"
                       "\"bayesian\": [{\"name\": \"empty\", \"a\": {\"n\": 0, \"conversions\": 0},"
                       "\"b\": {\"n\": 0, \"conversions\": 0}}],"
                       "\"srm\": [{\"name\": \"split\", \"visitors\": [10000, 10500], \"weights\": [0.5, 0.5]}]}";
    assert_int_equal(analyze(text, PM_STATS_FORMAT_TABLE, &out, err, sizeof(err)), PM_OK);
    const char *s = pm_buf_str(&out);
    assert_non_null(strstr(s, "frequentist: "));
    assert_non_null(strstr(s, "cvr "));
    assert_non_null(strstr(s, "10/100 (10.00%)"));
    assert_non_null(strstr(s, "+20.00%"));
    assert_non_null(strstr(s, "N*=2000"));
    assert_non_null(strstr(s, "an arm has no units"));
    assert_non_null(strstr(s, "MISMATCH"));
    pm_buf_free(&out);
}

static void test_srm_section(void **state)
{
    json_t *doc = analyze_json("{\"srm\": [{\"visitors\": [10000, 10500], \"weights\": [0.5, 0.5]},"
                               "{\"visitors\": [200, 300, 500], \"weights\": [2, 3, 5]}]}");
    const json_t *list = json_object_get(doc, "srm");
    const json_t *c0 = json_array_get(list, 0), *c1 = json_array_get(list, 1);
    assert_true(fabs(json_number_value(json_object_get(c0, "p_value")) - erfc(sqrt(12.195121951219512 / 2))) < 1e-12);
    assert_true(json_is_true(json_object_get(c0, "mismatch")));
    assert_true(json_number_value(json_object_get(c1, "p_value")) == 1);
    assert_true(json_is_false(json_object_get(c1, "mismatch")));
    json_decref(doc);
}

static void test_caps(void **state)
{
    pm_buf_t out, in;
    char err[256];
    pm_buf_init(&in, (size_t)1 << 21);
    pm_ignore_rc(pm_buf_appends(&in, "{\"frequentist\": ["));
    for (int i = 0; i <= PM_STATS_JSON_MAX_CASES; i++)
        pm_ignore_rc(pm_buf_printf(&in, "%s{\"a\":{\"n\":1,\"conversions\":0},\"b\":{\"n\":1,\"conversions\":0}}",
                                   i ? "," : ""));
    pm_ignore_rc(pm_buf_appends(&in, "]}"));
    pm_buf_init(&out, PM_STATS_JSON_MAX_OUTPUT);
    assert_int_equal(pm_stats_json_analyze(in.data, in.len, PM_STATS_FORMAT_JSON, &out, err, sizeof(err)), PM_ETOOBIG);
    assert_non_null(strstr(err, "more than 10000 cases"));
    /* the size is checked before a byte is read */
    assert_int_equal(pm_stats_json_analyze(in.data, PM_STATS_JSON_MAX_BYTES + 1, PM_STATS_FORMAT_JSON, &out, err,
                                           sizeof(err)),
                     PM_ETOOBIG);
    pm_buf_free(&out);
    /* an output buffer too small for the result */
    const char *small = "{\"frequentist\": [{" ARM_A "," ARM_B "}]}";
    pm_buf_init(&out, 16);
    assert_int_equal(pm_stats_json_analyze(small, strlen(small), PM_STATS_FORMAT_JSON, &out, err, sizeof(err)),
                     PM_ETOOBIG);
    assert_non_null(strstr(err, "output"));
    pm_buf_free(&out);
    pm_buf_free(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_round_trip),
        cmocka_unit_test(test_malformed_inputs),
        cmocka_unit_test(test_uninformative_and_overflow),
        cmocka_unit_test(test_output_keeps_input),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_srm_section),
        cmocka_unit_test(test_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

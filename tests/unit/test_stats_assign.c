/*
 * test_stats_assign.c: GrowthBook-compatible assignment (pm/stats_assign.h)
 * against the SDKs' shared cases (../shared/data/abtest/
 * growthbook_sdk_cases.json): every case of "hash", "getBucketRange",
 * "chooseVariation", "inNamespace" and "getEqualWeights", and the "run"
 * cases that exercise only what assignment covers (hashing, weights,
 * coverage, namespaces, ranges, seeds, hash versions); plus the UTF-16
 * hashing of non-ASCII ids and the spread of pm_stats_assign.
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

#include "pm/stats_assign.h"

#define CASES PM_SOURCE_DIR "/../shared/data/abtest/growthbook_sdk_cases.json"

static json_t *load_cases(void)
{
    json_error_t err;
    json_t *doc = json_load_file(CASES, 0, &err);
    if (doc == NULL) {
        print_message("SKIPPED: GrowthBook SDK cases not found at %s (%s)\n", CASES, err.text);
        skip();
    }
    return doc;
}

static const json_t *section(const json_t *doc, const char *name)
{
    const json_t *list = json_object_get(doc, name);
    if (json_array_size(list) == 0) fail_msg("section \"%s\" missing or empty", name);
    return list;
}

static void report(const char *name, size_t matched, size_t total)
{
    print_message("growthbook %s: %zu/%zu cases match\n", name, matched, total);
    assert_int_equal(matched, total);
}

static void test_hash_cases(void **state)
{
    json_t *doc = load_cases();
    const json_t *list = section(doc, "hash"), *c;
    size_t i, matched = 0;
    json_array_foreach(list, i, c) {
        const char *seed = json_string_value(json_array_get(c, 0)), *value = json_string_value(json_array_get(c, 1));
        int version = (int)json_integer_value(json_array_get(c, 2));
        const json_t *want = json_array_get(c, 3);
        double got;
        int rc = pm_stats_hash(seed, value, version, &got);
        if (json_is_null(want)) {
            assert_int_equal(rc, PM_EINVAL);
            assert_true(isnan(got));
        } else {
            assert_int_equal(rc, PM_OK);
            if (fabs(got - json_number_value(want)) > 1e-9)
                fail_msg("hash(%s, %s, %d) = %.6f, want %.6f", seed, value, version, got, json_number_value(want));
        }
        matched++;
    }
    report("hash", matched, json_array_size(list));
    json_decref(doc);
}

static size_t read_doubles(const json_t *arr, double *out, size_t cap)
{
    size_t i, n = json_array_size(arr);
    const json_t *v;
    assert_true(n <= cap);
    json_array_foreach(arr, i, v) out[i] = json_number_value(v);
    return n;
}

static size_t read_ranges(const json_t *arr, pm_stats_range_t *out, size_t cap)
{
    size_t i, n = json_array_size(arr);
    const json_t *r;
    assert_true(n <= cap);
    json_array_foreach(arr, i, r) out[i] = (pm_stats_range_t){json_number_value(json_array_get(r, 0)),
                                                              json_number_value(json_array_get(r, 1))};
    return n;
}

static void test_bucket_range_cases(void **state)
{
    json_t *doc = load_cases();
    const json_t *list = section(doc, "getBucketRange"), *c;
    size_t i, matched = 0;
    json_array_foreach(list, i, c) {
        const json_t *args = json_array_get(c, 1), *jw = json_array_get(args, 2);
        size_t n = (size_t)json_integer_value(json_array_get(args, 0)), nw = 0;
        double weights[16];
        pm_stats_range_t got[16], want[16];
        if (json_is_array(jw)) nw = read_doubles(jw, weights, 16);
        assert_int_equal(read_ranges(json_array_get(c, 2), want, 16), n);
        assert_int_equal(pm_stats_bucket_ranges(n, json_number_value(json_array_get(args, 1)),
                                                json_is_array(jw) ? weights : NULL, nw, got),
                         PM_OK);
        for (size_t k = 0; k < n; k++)
            if (fabs(got[k].start - want[k].start) > 1e-9 || fabs(got[k].end - want[k].end) > 1e-9)
                fail_msg("%s: range %zu is [%g, %g), want [%g, %g)", json_string_value(json_array_get(c, 0)), k,
                         got[k].start, got[k].end, want[k].start, want[k].end);
        matched++;
    }
    report("getBucketRange", matched, json_array_size(list));
    json_decref(doc);
}

static void test_choose_variation_cases(void **state)
{
    json_t *doc = load_cases();
    const json_t *list = section(doc, "chooseVariation"), *c;
    size_t i, matched = 0;
    json_array_foreach(list, i, c) {
        pm_stats_range_t ranges[16];
        size_t n = read_ranges(json_array_get(c, 2), ranges, 16);
        int got = pm_stats_choose_variation(json_number_value(json_array_get(c, 1)), ranges, n);
        if (got != (int)json_integer_value(json_array_get(c, 3)))
            fail_msg("%s: got %d", json_string_value(json_array_get(c, 0)), got);
        matched++;
    }
    report("chooseVariation", matched, json_array_size(list));
    json_decref(doc);
}

static void test_namespace_cases(void **state)
{
    json_t *doc = load_cases();
    const json_t *list = section(doc, "inNamespace"), *c;
    size_t i, matched = 0;
    json_array_foreach(list, i, c) {
        const json_t *ns = json_array_get(c, 2);
        pm_stats_namespace_t n = {json_string_value(json_array_get(ns, 0)), json_number_value(json_array_get(ns, 1)),
                                  json_number_value(json_array_get(ns, 2))};
        bool got = pm_stats_in_namespace(json_string_value(json_array_get(c, 1)), &n);
        if (got != json_is_true(json_array_get(c, 3)))
            fail_msg("%s: got %s", json_string_value(json_array_get(c, 0)), got ? "true" : "false");
        matched++;
    }
    report("inNamespace", matched, json_array_size(list));
    json_decref(doc);
}

static void test_equal_weights_cases(void **state)
{
    json_t *doc = load_cases();
    const json_t *list = section(doc, "getEqualWeights"), *c;
    size_t i, matched = 0;
    json_array_foreach(list, i, c) {
        json_int_t n = json_integer_value(json_array_get(c, 0));
        const json_t *want = json_array_get(c, 1);
        double got[16];
        size_t k = pm_stats_equal_weights(n > 0 ? (size_t)n : 0, got);
        assert_int_equal(k, json_array_size(want));
        for (size_t j = 0; j < k; j++) assert_true(fabs(got[j] - json_number_value(json_array_get(want, j))) < 1e-8);
        matched++;
    }
    report("getEqualWeights", matched, json_array_size(list));
    json_decref(doc);
}

/* --- run ------------------------------------------------------------------------- */

static bool only_keys(const json_t *o, const char *const *allowed, size_t n)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        bool ok = false;
        for (size_t i = 0; i < n && !ok; i++) ok = strcmp(key, allowed[i]) == 0;
        if (!ok) return false;
    }
    return true;
}

/* A "run" case is ours when it needs nothing beyond assignment: no
 * targeting, forcing, QA mode, URL overrides, filters or other attributes. */
static bool run_case_applies(const json_t *ctx, const json_t *exp)
{
    static const char *const ctx_keys[] = {"attributes"};
    static const char *const exp_keys[] = {"key",  "variations", "weights", "coverage",
                                           "namespace", "ranges", "seed", "hashVersion"};
    static const char *const attr_keys[] = {"id"};
    const json_t *attrs = json_object_get(ctx, "attributes"), *id = json_object_get(attrs, "id");
    return only_keys(ctx, ctx_keys, 1) && only_keys(exp, exp_keys, PM_ARRAY_LEN(exp_keys)) &&
           (attrs == NULL || only_keys(attrs, attr_keys, 1)) && (id == NULL || json_is_string(id) || json_is_null(id));
}

static void run_one(const char *name, const json_t *ctx, const json_t *exp, const json_t *want_value, bool want_in)
{
    pm_stats_experiment_t e = PM_STATS_EXPERIMENT_INIT;
    const json_t *variations = json_object_get(exp, "variations"), *v;
    double weights[16];
    pm_stats_range_t ranges[16];
    pm_stats_namespace_t ns;
    e.key = json_string_value(json_object_get(exp, "key"));
    e.seed = json_string_value(json_object_get(exp, "seed"));
    e.variations = json_array_size(variations);
    if ((v = json_object_get(exp, "hashVersion")) != NULL) e.hash_version = (int)json_integer_value(v);
    if ((v = json_object_get(exp, "coverage")) != NULL) e.coverage = json_number_value(v);
    if ((v = json_object_get(exp, "weights")) != NULL) e.n_weights = read_doubles(v, weights, 16), e.weights = weights;
    if ((v = json_object_get(exp, "ranges")) != NULL) {
        assert_int_equal(read_ranges(v, ranges, 16), e.variations);
        e.ranges = ranges;
    }
    if ((v = json_object_get(exp, "namespace")) != NULL) {
        ns = (pm_stats_namespace_t){json_string_value(json_array_get(v, 0)), json_number_value(json_array_get(v, 1)),
                                    json_number_value(json_array_get(v, 2))};
        e.ns = &ns;
    }
    const char *id = json_string_value(json_object_get(json_object_get(ctx, "attributes"), "id"));
    int got;
    assert_int_equal(pm_stats_assign_ex(id ? id : "", &e, &got), PM_OK);
    if ((got >= 0) != want_in) fail_msg("run \"%s\": in experiment %d, want %d", name, got >= 0, want_in);
    /* the SDK's value is the chosen variation, or the first one when not in */
    if (!json_equal(json_array_get(variations, got >= 0 ? (size_t)got : 0), (json_t *)want_value))
        fail_msg("run \"%s\": variation %d does not hold the expected value", name, got);
}

static void test_run_cases(void **state)
{
    json_t *doc = load_cases();
    const json_t *list = section(doc, "run"), *c;
    size_t i, applicable = 0, matched = 0;
    json_array_foreach(list, i, c) {
        const json_t *ctx = json_array_get(c, 1), *exp = json_array_get(c, 2);
        if (!run_case_applies(ctx, exp)) continue;
        applicable++;
        run_one(json_string_value(json_array_get(c, 0)), ctx, exp, json_array_get(c, 3),
                json_is_true(json_array_get(c, 4)));
        matched++;
    }
    print_message("growthbook run: %zu/%zu applicable cases match (%zu need targeting, forcing or QA mode: not "
                  "assignment's)\n",
                  matched, applicable, json_array_size(list) - applicable);
    assert_true(applicable >= 40);
    assert_int_equal(matched, applicable);
    json_decref(doc);
}

/* --- beyond the shared cases ----------------------------------------------------------- */

static uint32_t fnv_units(const uint16_t *u, size_t n)
{
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++) h = (h ^ u[i]) * 16777619u;
    return h;
}

/* JavaScript hashes UTF-16 code units: "é" is one unit, an emoji two
 * surrogates, and broken UTF-8 decodes to U+FFFD per maximal subpart. */
static void test_utf16_hashing(void **state)
{
    assert_int_equal(pm_stats_fnv1a32("", 0), 0x811c9dc5u);
    assert_int_equal(pm_stats_fnv1a32("a", 1), fnv_units((uint16_t[]){'a'}, 1));
    assert_int_equal(pm_stats_fnv1a32("\xc3\xa9", 2), fnv_units((uint16_t[]){0xE9}, 1));
    assert_int_equal(pm_stats_fnv1a32("\xe2\x82\xac", 3), fnv_units((uint16_t[]){0x20AC}, 1));
    assert_int_equal(pm_stats_fnv1a32("\xf0\x9f\x98\x80", 4), fnv_units((uint16_t[]){0xD83D, 0xDE00}, 2));
    assert_int_equal(pm_stats_fnv1a32("\xff", 1), fnv_units((uint16_t[]){0xFFFD}, 1));
    assert_int_equal(pm_stats_fnv1a32("\xe2\x82", 2), fnv_units((uint16_t[]){0xFFFD}, 1));
    assert_int_equal(pm_stats_fnv1a32("\xe2\x82z", 3), fnv_units((uint16_t[]){0xFFFD, 'z'}, 2));
    assert_int_equal(pm_stats_fnv1a32("\xed\xa0\x80", 3), fnv_units((uint16_t[]){0xFFFD, 0xFFFD, 0xFFFD}, 3));
    assert_int_equal(pm_stats_fnv1a32("\xc0\xaf", 2), fnv_units((uint16_t[]){0xFFFD, 0xFFFD}, 2));
    /* hashing seed + value in pieces is hashing the joined string, even when
     * a character straddles the seam */
    double joined, split;
    assert_int_equal(pm_stats_hash("s\xc3", "\xa9x", 2, &split), PM_OK);
    char dec[16];
    snprintf(dec, sizeof(dec), "%u", (unsigned)pm_stats_fnv1a32("s\xc3\xa9x", 4));
    joined = (double)(pm_stats_fnv1a32(dec, strlen(dec)) % 10000) / 10000;
    assert_true(joined == split);
}

static void test_assign_spread_and_errors(void **state)
{
    int counts[3] = {0}, v, again;
    double w[] = {0.2, 0.3, 0.5};
    char id[32];
    for (int i = 0; i < 30000; i++) {
        snprintf(id, sizeof(id), "visitor-%d", i);
        assert_int_equal(pm_stats_assign(id, "landing-test", w, 3, &v), PM_OK);
        assert_true(v >= 0 && v < 3);
        assert_int_equal(pm_stats_assign(id, "landing-test", w, 3, &again), PM_OK);
        assert_int_equal(v, again); /* deterministic */
        counts[v]++;
    }
    /* 30000 draws: each share within 5 standard deviations */
    for (int k = 0; k < 3; k++) {
        double expect = 30000 * w[k], sd = sqrt(30000 * w[k] * (1 - w[k]));
        assert_true(fabs(counts[k] - expect) < 5 * sd);
    }
    assert_int_equal(pm_stats_assign("", "t", NULL, 2, &v), PM_OK);
    assert_int_equal(v, -1);
    assert_int_equal(pm_stats_assign("x", "t", NULL, 1, &v), PM_OK);
    assert_int_equal(v, -1);
    assert_int_equal(pm_stats_assign("x", NULL, NULL, 2, &v), PM_EINVAL);
    assert_int_equal(pm_stats_assign("x", "t", NULL, PM_STATS_MAX_VARIATIONS + 1, &v), PM_ETOOBIG);
    pm_stats_experiment_t e = PM_STATS_EXPERIMENT_INIT;
    e.key = "t";
    e.variations = 2;
    e.hash_version = 3;
    assert_int_equal(pm_stats_assign_ex("x", &e, &v), PM_EINVAL);
    e.hash_version = 1;
    e.coverage = NAN;
    assert_int_equal(pm_stats_assign_ex("x", &e, &v), PM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_cases),
        cmocka_unit_test(test_bucket_range_cases),
        cmocka_unit_test(test_choose_variation_cases),
        cmocka_unit_test(test_namespace_cases),
        cmocka_unit_test(test_equal_weights_cases),
        cmocka_unit_test(test_run_cases),
        cmocka_unit_test(test_utf16_hashing),
        cmocka_unit_test(test_assign_spread_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

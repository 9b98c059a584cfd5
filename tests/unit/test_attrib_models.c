/*
 * test_attrib_models.c: the journeys container (interning, aggregation,
 * caps) and the rule-based and Shapley models (pm/attrib.h) on small cases
 * computed by hand, plus the Shapley axioms: efficiency, symmetry, null
 * player, and agreement of the three Shapley methods.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pm/attrib.h"

#define EPS 1e-9

/* Add "A > B > C" style paths; names are single letters. */
static void add(pm_attrib_journeys_t *j, const char *path, double conv, double value, double nulls)
{
    uint32_t ids[64];
    size_t n = 0;
    for (const char *p = path; *p; p++) {
        if (*p == ' ' || *p == '>') continue;
        assert_int_equal(pm_attrib_channel_intern(j, p, 1, &ids[n++]), PM_OK);
    }
    assert_int_equal(pm_attrib_journeys_add(j, ids, n, NULL, conv, value, nulls), PM_OK);
}

static uint32_t id(const pm_attrib_journeys_t *j, const char *name)
{
    uint32_t c = UINT32_MAX;
    assert_int_equal(pm_attrib_channel_find(j, name, strlen(name), &c), PM_OK);
    return c;
}

/* Run `m` and check the totals are preserved. */
static void run(const pm_attrib_journeys_t *j, pm_attrib_model_t m, const pm_attrib_options_t *o, pm_attrib_result_t *r)
{
    assert_int_equal(pm_attrib_run(j, m, o, r), PM_OK);
    double sc = 0, sv = 0;
    for (uint32_t c = 0; c < r->nchannels; c++) {
        sc += r->conversions[c];
        sv += r->value[c];
    }
    assert_true(fabs(sc - pm_attrib_journeys_total_conversions(j)) < EPS * (1 + sc));
    assert_true(fabs(sv - pm_attrib_journeys_total_value(j)) < EPS * (1 + sv));
}

static void expect(const pm_attrib_journeys_t *j, const pm_attrib_result_t *r, const char *name, double conv, double value)
{
    uint32_t c = id(j, name);
    if (fabs(r->conversions[c] - conv) > EPS || fabs(r->value[c] - value) > EPS)
        fail_msg("%s: %s got %.12f / %.12f, want %.12f / %.12f", pm_attrib_model_name(r->model), name,
                 r->conversions[c], r->value[c], conv, value);
}

/* --- container ----------------------------------------------------------- */

static void test_container_interns_and_aggregates(void **state)
{
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    uint32_t a, b, again;
    assert_int_equal(pm_attrib_channel_intern(j, "alpha", 5, &a), PM_OK);
    assert_int_equal(pm_attrib_channel_intern(j, "beta", 4, &b), PM_OK);
    assert_int_equal(pm_attrib_channel_intern(j, "alpha", 5, &again), PM_OK);
    assert_int_equal(a, 0);
    assert_int_equal(b, 1);
    assert_int_equal(again, a);
    assert_string_equal(pm_attrib_channel_name(j, b), "beta");
    assert_null(pm_attrib_channel_name(j, 2));
    assert_int_equal(pm_attrib_channel_find(j, "alph", 4, &again), PM_ENOTFOUND);
    assert_int_equal(pm_attrib_channel_intern(j, "", 0, &again), PM_EINVAL);
    assert_int_equal(pm_attrib_channel_intern(j, "a\0b", 3, &again), PM_EINVAL);
    for (int i = 0; i < 1000; i++) { /* grow the dictionary's hash */
        char name[16];
        snprintf(name, sizeof(name), "c%d", i);
        assert_int_equal(pm_attrib_channel_intern(j, name, strlen(name), &again), PM_OK);
        assert_int_equal(again, (uint32_t)i + 2);
    }
    assert_int_equal(pm_attrib_channel_intern(j, "c500", 4, &again), PM_OK);
    assert_int_equal(again, 502);

    uint32_t ab[] = {a, b}, ba[] = {b, a};
    assert_int_equal(pm_attrib_journeys_add(j, ab, 2, NULL, 1, 10, 2), PM_OK);
    assert_int_equal(pm_attrib_journeys_add(j, ba, 2, NULL, 0, 0, 1), PM_OK);
    assert_int_equal(pm_attrib_journeys_add(j, ab, 2, NULL, 2, 5, 0), PM_OK);
    assert_int_equal(pm_attrib_journeys_path_count(j), 2);
    double ages[] = {3, 0};
    assert_int_equal(pm_attrib_journeys_add(j, ab, 2, ages, 1, 1, 0), PM_OK); /* timed: kept apart */
    assert_int_equal(pm_attrib_journeys_path_count(j), 3);
    assert_true(pm_attrib_journeys_total_conversions(j) == 4);
    assert_true(pm_attrib_journeys_total_value(j) == 16);
    assert_true(pm_attrib_journeys_total_nulls(j) == 3);

    uint32_t unknown[] = {a, 99999};
    double bad_ages[] = {-1, 0};
    assert_int_equal(pm_attrib_journeys_add(j, ab, 0, NULL, 1, 1, 0), PM_EINVAL);
    assert_int_equal(pm_attrib_journeys_add(j, unknown, 2, NULL, 1, 1, 0), PM_EINVAL);
    assert_int_equal(pm_attrib_journeys_add(j, ab, 2, NULL, -1, 0, 0), PM_EINVAL);
    assert_int_equal(pm_attrib_journeys_add(j, ab, 2, NULL, 0, 3, 0), PM_EINVAL); /* value without conversions */
    assert_int_equal(pm_attrib_journeys_add(j, ab, 2, NULL, NAN, 0, 0), PM_EINVAL);
    assert_int_equal(pm_attrib_journeys_add(j, ab, 2, NULL, 1, INFINITY, 0), PM_EINVAL);
    assert_int_equal(pm_attrib_journeys_add(j, ab, 2, bad_ages, 1, 1, 0), PM_EINVAL);
    assert_true(pm_attrib_journeys_total_conversions(j) == 4);
    pm_attrib_journeys_destroy(j);
    pm_attrib_journeys_destroy(NULL);
}

static void test_container_caps(void **state)
{
    pm_attrib_limits_t lim = {.max_channels = 2, .max_path_len = 3, .max_name_len = 4, .max_paths = 2};
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(&lim);
    uint32_t a, b, c;
    assert_int_equal(pm_attrib_channel_intern(j, "toolong", 7, &c), PM_ETOOBIG);
    assert_int_equal(pm_attrib_channel_intern(j, "a", 1, &a), PM_OK);
    assert_int_equal(pm_attrib_channel_intern(j, "b", 1, &b), PM_OK);
    assert_int_equal(pm_attrib_channel_intern(j, "c", 1, &c), PM_ETOOBIG);
    uint32_t four[] = {a, b, a, b};
    assert_int_equal(pm_attrib_journeys_add(j, four, 4, NULL, 1, 1, 0), PM_ETOOBIG);
    assert_int_equal(pm_attrib_journeys_add(j, four, 1, NULL, 1, 1, 0), PM_OK);
    assert_int_equal(pm_attrib_journeys_add(j, four, 2, NULL, 1, 1, 0), PM_OK);
    assert_int_equal(pm_attrib_journeys_add(j, four, 3, NULL, 1, 1, 0), PM_ETOOBIG);
    assert_int_equal(pm_attrib_journeys_add(j, four, 2, NULL, 1, 1, 0), PM_OK); /* aggregates: no new path */
    pm_attrib_journeys_destroy(j);
}

static void test_options_validated(void **state)
{
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    pm_attrib_result_t r;
    pm_attrib_options_t o;
    add(j, "A > B", 1, 1, 0);
    pm_attrib_options_default(&o);
    o.half_life_days = 0;
    assert_int_equal(pm_attrib_run(j, PM_ATTRIB_TIME_DECAY, &o, &r), PM_EINVAL);
    pm_attrib_result_free(&r);
    pm_attrib_options_default(&o);
    o.position_first = 50;
    assert_int_equal(pm_attrib_run(j, PM_ATTRIB_POSITION, &o, &r), PM_EINVAL);
    pm_attrib_result_free(&r);
    pm_attrib_options_default(&o);
    o.markov_order = 0;
    assert_int_equal(pm_attrib_run(j, PM_ATTRIB_MARKOV, &o, &r), PM_EINVAL);
    o.markov_order = PM_ATTRIB_MAX_ORDER + 1;
    assert_int_equal(pm_attrib_run(j, PM_ATTRIB_MARKOV, &o, &r), PM_EINVAL);
    assert_int_equal(pm_attrib_run(j, PM_ATTRIB_MODEL_COUNT, NULL, &r), PM_EINVAL);
    pm_attrib_result_free(&r);
    pm_attrib_result_free(NULL);
    pm_attrib_model_t m;
    assert_int_equal(pm_attrib_model_parse("last_non_direct", &m), PM_OK);
    assert_int_equal(m, PM_ATTRIB_LAST_NON_DIRECT);
    assert_int_equal(pm_attrib_model_parse("nope", &m), PM_ENOTFOUND);
    for (unsigned i = 0; i < PM_ATTRIB_MODEL_COUNT; i++) {
        assert_int_equal(pm_attrib_model_parse(pm_attrib_model_name((pm_attrib_model_t)i), &m), PM_OK);
        assert_int_equal(m, i);
    }
    assert_null(pm_attrib_model_name(PM_ATTRIB_MODEL_COUNT));
    pm_attrib_journeys_destroy(j);
}

/* --- rules ------------------------------------------------------------------ */

/* D is the direct channel (named "Direct" to check the case rule). */
static pm_attrib_journeys_t *rules_fixture(void)
{
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    uint32_t d;
    assert_int_equal(pm_attrib_channel_intern(j, "Direct", 6, &d), PM_OK);
    uint32_t p1[] = {d}, p2[4];
    assert_int_equal(pm_attrib_journeys_add(j, p1, 1, NULL, 1, 5, 0), PM_OK);  /* Direct;1;5;0 */
    add(j, "A > B > C > D", 2, 40, 3);                                          /* D is a plain channel */
    for (int i = 0; i < 3; i++)
        assert_int_equal(pm_attrib_channel_intern(j, i == 1 ? "Direct" : "A", i == 1 ? 6 : 1, &p2[i]), PM_OK);
    assert_int_equal(pm_attrib_journeys_add(j, p2, 3, NULL, 1, 10, 0), PM_OK); /* A > Direct > A */
    assert_int_equal(pm_attrib_channel_intern(j, "Direct", 6, &p2[1]), PM_OK);
    p2[0] = id(j, "B");
    assert_int_equal(pm_attrib_journeys_add(j, p2, 2, NULL, 1, 2, 0), PM_OK);  /* B > Direct */
    add(j, "C", 0, 0, 9);                                                       /* never converts */
    return j;
}

static void test_first_last_last_non_direct(void **state)
{
    pm_attrib_journeys_t *j = rules_fixture();
    pm_attrib_result_t r;
    pm_attrib_options_t o;
    pm_attrib_options_default(&o);
    run(j, PM_ATTRIB_FIRST, &o, &r);
    expect(j, &r, "Direct", 1, 5);
    expect(j, &r, "A", 3, 50);
    expect(j, &r, "B", 1, 2);
    expect(j, &r, "C", 0, 0);
    expect(j, &r, "D", 0, 0);
    pm_attrib_result_free(&r);
    run(j, PM_ATTRIB_LAST, &o, &r);
    expect(j, &r, "Direct", 2, 7);
    expect(j, &r, "A", 1, 10);
    expect(j, &r, "D", 2, 40);
    expect(j, &r, "B", 0, 0);
    pm_attrib_result_free(&r);
    run(j, PM_ATTRIB_LAST_NON_DIRECT, &o, &r);
    expect(j, &r, "Direct", 1, 5); /* the only touch: keeps its credit */
    expect(j, &r, "A", 1, 10);
    expect(j, &r, "B", 1, 2);
    expect(j, &r, "D", 2, 40);
    pm_attrib_result_free(&r);
    o.direct_channel = "A"; /* any channel can play direct */
    run(j, PM_ATTRIB_LAST_NON_DIRECT, &o, &r);
    expect(j, &r, "Direct", 3, 17);
    expect(j, &r, "A", 0, 0);
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);
}

static void test_linear_and_position(void **state)
{
    pm_attrib_journeys_t *j = rules_fixture();
    pm_attrib_result_t r;
    pm_attrib_options_t o;
    pm_attrib_options_default(&o);
    run(j, PM_ATTRIB_LINEAR, &o, &r);
    /* A>B>C>D: 2 conv / 40 → 0.5 / 10 each; A>Direct>A: 1/3 each; B>Direct: 1/2 */
    expect(j, &r, "A", 0.5 + 2.0 / 3, 10 + 20.0 / 3);
    expect(j, &r, "Direct", 1 + 1.0 / 3 + 0.5, 5 + 10.0 / 3 + 1);
    expect(j, &r, "B", 0.5 + 0.5, 10 + 1);
    expect(j, &r, "C", 0.5, 10);
    pm_attrib_result_free(&r);
    run(j, PM_ATTRIB_POSITION, &o, &r);
    /* 4 touches: .4 .1 .1 .4; 3 touches: .4 .2 .4; 2 touches: .5 .5; 1: 1 */
    expect(j, &r, "A", 2 * 0.4 + 0.8, 40 * 0.4 + 8);
    expect(j, &r, "B", 2 * 0.1 + 0.5, 40 * 0.1 + 1);
    expect(j, &r, "C", 2 * 0.1, 4);
    expect(j, &r, "D", 2 * 0.4, 16);
    expect(j, &r, "Direct", 1 + 0.2 + 0.5, 5 + 2 + 1);
    pm_attrib_result_free(&r);
    o.position_first = 30, o.position_middle = 0, o.position_last = 70;
    run(j, PM_ATTRIB_POSITION, &o, &r);
    expect(j, &r, "B", 0.3 + 0, 0.3 * 2); /* B>Direct: 30:70; A>B>C>D: B gets no middle share */
    expect(j, &r, "C", 0, 0);
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);
}

static void test_time_decay(void **state)
{
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    pm_attrib_result_t r;
    pm_attrib_options_t o;
    pm_attrib_options_default(&o);
    o.half_life_days = 1;
    add(j, "A > B > C", 7, 70, 0); /* untimed: ages 2, 1, 0 → weights 1/4, 1/2, 1 */
    run(j, PM_ATTRIB_TIME_DECAY, &o, &r);
    expect(j, &r, "A", 7 * 0.25 / 1.75, 70 * 0.25 / 1.75);
    expect(j, &r, "B", 7 * 0.5 / 1.75, 70 * 0.5 / 1.75);
    expect(j, &r, "C", 7 * 1 / 1.75, 70 * 1 / 1.75);
    pm_attrib_result_free(&r);
    o.half_life_days = 2;
    run(j, PM_ATTRIB_TIME_DECAY, &o, &r);
    double wa = 0.5, wb = sqrt(0.5), s = wa + wb + 1;
    expect(j, &r, "A", 7 * wa / s, 70 * wa / s);
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);

    /* Timed journeys use their ages; huge ages must not underflow to 0/0. */
    j = pm_attrib_journeys_create(NULL);
    uint32_t ids[2];
    assert_int_equal(pm_attrib_channel_intern(j, "A", 1, &ids[0]), PM_OK);
    assert_int_equal(pm_attrib_channel_intern(j, "B", 1, &ids[1]), PM_OK);
    double ages[] = {1e6 + 7, 1e6};
    assert_int_equal(pm_attrib_journeys_add(j, ids, 2, ages, 3, 3, 0), PM_OK);
    o.half_life_days = 7;
    run(j, PM_ATTRIB_TIME_DECAY, &o, &r);
    expect(j, &r, "A", 1, 1);
    expect(j, &r, "B", 2, 2);
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);
}

/* --- Shapley ------------------------------------------------------------------ */

static void shapley(const pm_attrib_journeys_t *j, pm_attrib_shapley_method_t m, pm_attrib_result_t *r)
{
    pm_attrib_options_t o;
    pm_attrib_options_default(&o);
    o.shapley_method = m;
    o.shapley_samples = 20000;
    run(j, PM_ATTRIB_SHAPLEY, &o, r);
}

static void test_shapley_known_values(void **state)
{
    static const pm_attrib_shapley_method_t exact[] = {PM_ATTRIB_SHAPLEY_ENUMERATE, PM_ATTRIB_SHAPLEY_DIVIDENDS,
                                                       PM_ATTRIB_SHAPLEY_AUTO};
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    pm_attrib_result_t r;
    /* v(A)=1, v(B)=0, v(AB)=2: phi_A = (1 + (2-0)) / 2 = 1.5, phi_B = 0.5 */
    add(j, "A", 1, 10, 0);
    add(j, "B > A > B", 1, 4, 0);
    add(j, "E", 0, 0, 5); /* null player: never converts */
    for (size_t m = 0; m < PM_ARRAY_LEN(exact); m++) {
        shapley(j, exact[m], &r);
        expect(j, &r, "A", 1.5, 12);
        expect(j, &r, "B", 0.5, 2);
        expect(j, &r, "E", 0, 0);
        assert_true(r.error_bound == 0);
        pm_attrib_result_free(&r);
    }
    pm_attrib_journeys_destroy(j);

    /* A glove-like game: L and R only convert together (symmetric: equal
     * values); C only ever converts with both, so it earns a third of those. */
    j = pm_attrib_journeys_create(NULL);
    add(j, "L > R", 4, 4, 0);
    add(j, "R > C > L", 3, 6, 0);
    for (size_t m = 0; m < PM_ARRAY_LEN(exact); m++) {
        shapley(j, exact[m], &r);
        expect(j, &r, "L", 2 + 1, 2 + 2);
        expect(j, &r, "R", 3, 4);
        expect(j, &r, "C", 1, 2);
        pm_attrib_result_free(&r);
    }
    pm_attrib_journeys_destroy(j);
}

/* Random journeys over `n` channels, fixed seed. */
static pm_attrib_journeys_t *random_journeys(unsigned n, unsigned paths, uint64_t seed)
{
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    uint32_t ids[8];
    for (unsigned c = 0; c < n; c++) {
        char name[16];
        snprintf(name, sizeof(name), "c%u", c);
        assert_int_equal(pm_attrib_channel_intern(j, name, strlen(name), &ids[0]), PM_OK);
    }
    for (unsigned p = 0; p < paths; p++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned len = 1 + (unsigned)(seed >> 61);
        for (unsigned i = 0; i < len; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            ids[i] = (uint32_t)((seed >> 33) % n);
        }
        double conv = (double)((seed >> 20) % 3), value = conv * (double)((seed >> 40) % 50);
        assert_int_equal(pm_attrib_journeys_add(j, ids, len, NULL, conv, value, (double)((seed >> 10) % 4)), PM_OK);
    }
    return j;
}

static void test_shapley_methods_agree(void **state)
{
    pm_attrib_journeys_t *j = random_journeys(11, 400, 7);
    pm_attrib_result_t e, d, s;
    shapley(j, PM_ATTRIB_SHAPLEY_ENUMERATE, &e);
    shapley(j, PM_ATTRIB_SHAPLEY_DIVIDENDS, &d);
    shapley(j, PM_ATTRIB_SHAPLEY_SAMPLE, &s);
    assert_string_equal(e.method, "enumerate");
    assert_string_equal(d.method, "dividends");
    assert_string_equal(s.method, "sample");
    assert_true(s.error_bound > 0);
    for (uint32_t c = 0; c < e.nchannels; c++) {
        assert_true(fabs(e.conversions[c] - d.conversions[c]) < 1e-9);
        assert_true(fabs(e.value[c] - d.value[c]) < 1e-7);
        if (fabs(s.conversions[c] - e.conversions[c]) > s.error_bound)
            fail_msg("channel %u: sampled %.4f, exact %.4f, bound %.4f", c, s.conversions[c], e.conversions[c],
                     s.error_bound);
    }
    pm_attrib_result_free(&e);
    pm_attrib_result_free(&d);
    pm_attrib_result_free(&s);
    pm_attrib_journeys_destroy(j);
}

static void test_shapley_symmetry_and_limits(void **state)
{
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    pm_attrib_result_t r;
    pm_attrib_options_t o;
    /* X and Y always travel together: equal values whatever else happens. */
    add(j, "X > Z > Y", 5, 5, 1);
    add(j, "Y > X", 2, 9, 0);
    add(j, "Z", 3, 1, 4);
    shapley(j, PM_ATTRIB_SHAPLEY_AUTO, &r);
    assert_true(fabs(r.conversions[id(j, "X")] - r.conversions[id(j, "Y")]) < EPS);
    assert_true(fabs(r.value[id(j, "X")] - r.value[id(j, "Y")]) < EPS);
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);

    /* Past 24 channels enumeration is refused; AUTO falls back to exact dividends. */
    j = random_journeys(30, 300, 3);
    pm_attrib_options_default(&o);
    o.shapley_method = PM_ATTRIB_SHAPLEY_ENUMERATE;
    assert_int_equal(pm_attrib_run(j, PM_ATTRIB_SHAPLEY, &o, &r), PM_EINVAL);
    pm_attrib_result_free(&r);
    shapley(j, PM_ATTRIB_SHAPLEY_AUTO, &r);
    assert_string_equal(r.method, "dividends");
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);

    /* No conversions at all: nothing to share, nothing crashes. */
    j = pm_attrib_journeys_create(NULL);
    add(j, "A > B", 0, 0, 3);
    for (unsigned m = 0; m < PM_ATTRIB_MODEL_COUNT; m++) {
        run(j, (pm_attrib_model_t)m, NULL, &r);
        assert_true(r.conversions[0] == 0 && r.conversions[1] == 0);
        pm_attrib_result_free(&r);
    }
    pm_attrib_journeys_destroy(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_container_interns_and_aggregates),
        cmocka_unit_test(test_container_caps),
        cmocka_unit_test(test_options_validated),
        cmocka_unit_test(test_first_last_last_non_direct),
        cmocka_unit_test(test_linear_and_position),
        cmocka_unit_test(test_time_decay),
        cmocka_unit_test(test_shapley_known_values),
        cmocka_unit_test(test_shapley_methods_agree),
        cmocka_unit_test(test_shapley_symmetry_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

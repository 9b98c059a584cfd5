/*
 * test_attrib_markov.c: the Markov removal-effect model (pm/attrib.h) on
 * chains small enough to solve by hand (with cycles and self-loops), order
 * 2 against order 1, the dense solver against Gauss-Seidel, and the
 * reference data in shared/data/attribution: the whitepaper example
 * (removal effects A = 1, B = 0.5) and the ChannelAttribution sample of
 * 10,000 paths, checked against an independent Monte Carlo simulation of
 * the chain estimated here from the raw paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attrib/attrib_internal.h"
#include "pm/attrib.h"
#include "pm/attrib_io.h"

#define EPS 1e-10
#define DATA_DIR PM_SOURCE_DIR "/../shared/data/attribution/"

static pm_attrib_journeys_t *from_csv(const char *text)
{
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    pm_attrib_read_stats_t st;
    assert_int_equal(pm_attrib_paths_parse(j, text, strlen(text), 0, NULL, NULL, &st), PM_OK);
    assert_int_equal(st.rejected, 0);
    return j;
}

/* NULL (after saying so) when the shared data is not there. */
static pm_attrib_journeys_t *from_file(const char *name)
{
    char path[512], *data = NULL;
    snprintf(path, sizeof(path), "%s%s", DATA_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        print_message("SKIP: reference data %s not found\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc((size_t)len + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    pm_attrib_read_stats_t st;
    assert_int_equal(pm_attrib_paths_parse(j, data, (size_t)len, 0, NULL, NULL, &st), PM_OK);
    assert_int_equal(st.rejected, 0);
    free(data);
    return j;
}

static void markov(const pm_attrib_journeys_t *j, unsigned order, uint32_t dense_max, pm_attrib_result_t *r)
{
    pm_attrib_options_t o;
    pm_attrib_options_default(&o);
    o.markov_order = order;
    o.dense_max_states = dense_max;
    assert_int_equal(pm_attrib_run(j, PM_ATTRIB_MARKOV, &o, r), PM_OK);
    assert_true(r->converged);
    double sc = 0, sv = 0;
    for (uint32_t c = 0; c < r->nchannels; c++) {
        sc += r->conversions[c];
        sv += r->value[c];
    }
    assert_true(fabs(sc - r->total_conversions) < 1e-9 * (1 + sc));
    assert_true(fabs(sv - r->total_value) < 1e-9 * (1 + sv));
}

static void expect(const pm_attrib_journeys_t *j, const pm_attrib_result_t *r, const char *name, double re,
                   double conv, double value)
{
    uint32_t c = 0;
    assert_int_equal(pm_attrib_channel_find(j, name, strlen(name), &c), PM_OK);
    if (fabs(r->removal_effect[c] - re) > EPS || fabs(r->conversions[c] - conv) > EPS ||
        fabs(r->value[c] - value) > EPS)
        fail_msg("%s: removal effect %.12f conversions %.12f value %.12f; want %.12f %.12f %.12f", name,
                 r->removal_effect[c], r->conversions[c], r->value[c], re, conv, value);
}

/* --- hand-solved chains ------------------------------------------------------ */

static void test_closed_form_chain(void **state)
{
    /* start->A 2, start->B 2; A->B 1/2, A->null 1/2; B->conv 2/3, B->null 1/3.
     * x_B = 2/3, x_A = 1/3, P = 1/2. Without A: 1/3 (RE 1/3); without B: 0. */
    pm_attrib_journeys_t *j = from_csv("path;total_conversions;total_conversion_value;total_null\n"
                                       "A > B;1;30;0\nA;0;0;1\nB;1;10;1\n");
    pm_attrib_result_t r;
    for (uint32_t dense = 0; dense <= 200; dense += 200) {
        markov(j, 1, dense, &r);
        assert_true(fabs(r.conversion_probability - 0.5) < EPS);
        /* value: y_B = 40/3, y_A = 20/3; without A 20/3 of 10 (1/3), without B 0 */
        expect(j, &r, "A", 1.0 / 3, 0.5, 10);
        expect(j, &r, "B", 1, 1.5, 30);
        assert_true(fabs(r.value_removal_effect[0] - 1.0 / 3) < EPS);
        pm_attrib_result_free(&r);
    }
    pm_attrib_journeys_destroy(j);
}

static void test_closed_form_cycle(void **state)
{
    /* A->B 1/3, A->conv 1/3, A->null 1/3, B->A 1: x_A = 1/3 + x_A / 3 = 1/2.
     * Without B: x_A = 1/3, removal effect 1/3. Shares 1 : 1/3. */
    pm_attrib_journeys_t *j = from_csv("path;total_conversions;total_conversion_value;total_null\n"
                                       "A > B > A;0;0;1\nA;1;5;0\n");
    pm_attrib_result_t r;
    markov(j, 1, 200, &r);
    assert_true(fabs(r.conversion_probability - 0.5) < EPS);
    expect(j, &r, "A", 1, 0.75, 3.75);
    expect(j, &r, "B", 1.0 / 3, 0.25, 1.25);
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);
}

static void test_whitepaper_inline(void **state)
{
    /* The same three journeys as shared/data/attribution/paths_whitepaper3.csv,
     * so the check runs even where the shared data is absent. */
    pm_attrib_journeys_t *j = from_csv("path;total_conversions;total_conversion_value;total_null\r\n"
                                       "A > B > A > B > B > A;1;1;0\r\n"
                                       "A > B > B > A > A;1;1;0\r\n"
                                       "A > A;1;1;0\r\n");
    pm_attrib_result_t r;
    markov(j, 1, 200, &r);
    expect(j, &r, "A", 1, 2, 2);
    expect(j, &r, "B", 0.5, 1, 1);
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);
}

static void test_order_two(void **state)
{
    /* Order 1 cannot tell that C converts only after A; order 2 can. */
    pm_attrib_journeys_t *j = from_csv("path;total_conversions;total_conversion_value;total_null\n"
                                       "A > C;1;8;0\nB > C;0;0;1\n");
    pm_attrib_result_t r;
    markov(j, 1, 200, &r);
    expect(j, &r, "A", 0.5, 0.25, 2);
    expect(j, &r, "B", 0.5, 0.25, 2);
    expect(j, &r, "C", 1, 0.5, 4);
    assert_int_equal(r.states, 3);
    pm_attrib_result_free(&r);
    markov(j, 2, 200, &r);
    expect(j, &r, "A", 1, 0.5, 4);
    expect(j, &r, "B", 0, 0, 0);
    expect(j, &r, "C", 1, 0.5, 4);
    assert_int_equal(r.states, 4); /* (A) (A,C) (B) (B,C) */
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);

    /* Self-loops are states too at order 2: (A) (A,A) (A,B) (B) (B,A). */
    j = from_csv("path;total_conversions;total_conversion_value;total_null\n"
                 "A > A > B;1;1;0\nB > A;0;0;2\n");
    markov(j, 2, 200, &r);
    assert_int_equal(r.states, 5);
    assert_true(fabs(r.conversion_probability - 1.0 / 3) < EPS);
    expect(j, &r, "A", 1, 0.5, 0.5);
    expect(j, &r, "B", 1, 0.5, 0.5);
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);
}

static void test_order_one_ignores_repeats(void **state)
{
    /* At order 1 a self-loop only delays: collapsing repeats changes the
     * transition matrix but not a single removal effect. */
    pm_attrib_journeys_t *loops = from_csv("path;total_conversions;total_conversion_value;total_null\n"
                                           "A > A > B > B > B > C;3;9;2\nB > B > A;1;2;4\nC > C;0;0;3\n"
                                           "A > C > C > A;2;2;1\n");
    pm_attrib_journeys_t *flat = from_csv("path;total_conversions;total_conversion_value;total_null\n"
                                          "A > B > C;3;9;2\nB > A;1;2;4\nC;0;0;3\nA > C > A;2;2;1\n");
    pm_attrib_result_t a, b;
    markov(loops, 1, 200, &a);
    markov(flat, 1, 200, &b);
    for (uint32_t c = 0; c < 3; c++) {
        assert_true(fabs(a.removal_effect[c] - b.removal_effect[c]) < EPS);
        assert_true(fabs(a.conversions[c] - b.conversions[c]) < EPS);
    }
    pm_attrib_result_free(&a);
    pm_attrib_result_free(&b);
    pm_attrib_journeys_destroy(loops);
    pm_attrib_journeys_destroy(flat);
}

/* --- reference data ------------------------------------------------------- */

static void test_whitepaper_file(void **state)
{
    pm_attrib_journeys_t *j = from_file("paths_whitepaper3.csv");
    if (j == NULL) skip();
    pm_attrib_result_t r;
    markov(j, 1, 200, &r);
    expect(j, &r, "A", 1, 2, 2);
    expect(j, &r, "B", 0.5, 1, 1);
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);
}

/*
 * The flow of an absorbing chain estimated from paths balances at every
 * state, so the expected absorptions equal the observed ones: P(conversion)
 * from start is exactly conversions / (conversions + nulls), at any order.
 * And the dense and iterative solvers must agree.
 */
static void test_channelattribution_totals_and_solvers(void **state)
{
    pm_attrib_journeys_t *j = from_file("paths_channelattribution.csv");
    if (j == NULL) skip();
    assert_int_equal(pm_attrib_channel_count(j), 12);
    assert_true(pm_attrib_journeys_total_conversions(j) == 19785);
    assert_true(pm_attrib_journeys_total_nulls(j) == 68602);
    double want = 19785.0 / (19785 + 68602);
    for (unsigned order = 1; order <= 2; order++) {
        pm_attrib_result_t dense, iter;
        markov(j, order, 100000, &dense);
        markov(j, order, 0, &iter);
        assert_string_equal(dense.method, "dense");
        assert_string_equal(iter.method, "gauss-seidel");
        assert_true(fabs(dense.conversion_probability - want) < 1e-12);
        assert_true(fabs(iter.conversion_probability - want) < 1e-10);
        for (uint32_t c = 0; c < dense.nchannels; c++) {
            assert_true(fabs(dense.removal_effect[c] - iter.removal_effect[c]) < 1e-9);
            assert_true(fabs(dense.conversions[c] - iter.conversions[c]) < 1e-6);
            assert_true(fabs(dense.value[c] - iter.value[c]) < 1e-6);
        }
        pm_attrib_result_free(&dense);
        pm_attrib_result_free(&iter);
    }
    /* Order 4 (a few thousand states) only iteratively: dense would be slow here. */
    pm_attrib_result_t r;
    markov(j, 4, 200, &r);
    assert_string_equal(r.method, "gauss-seidel");
    assert_true(r.states > 1000);
    assert_true(fabs(r.conversion_probability - want) < 1e-10);
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);
}

/*
 * A chain whose conversion probabilities are all tiny (one conversion among
 * 1e59 non-converting journeys; found by fuzz_paths): the iterative solver
 * works on a relative tolerance, so it agrees with the dense one and still
 * attributes the one conversion instead of stopping at "all zero".
 */
static void test_tiny_probabilities(void **state)
{
    pm_attrib_journeys_t *j = from_csv("path;total_conversions;total_conversion_value;total_null\n"
                                       "A > B > A;1;10;0\n"
                                       "B > A > B;0;0;1e59\n");
    for (unsigned order = 1; order <= 2; order++) {
        pm_attrib_result_t dense, iter;
        markov(j, order, 100000, &dense);
        markov(j, order, 0, &iter);
        assert_string_equal(iter.method, "gauss-seidel");
        assert_true(dense.conversion_probability > 0);
        assert_true(fabs(iter.conversion_probability / dense.conversion_probability - 1) < 1e-9);
        for (uint32_t c = 0; c < dense.nchannels; c++) {
            assert_true(fabs(dense.removal_effect[c] - iter.removal_effect[c]) < 1e-9);
            assert_true(fabs(dense.conversions[c] - iter.conversions[c]) < 1e-9);
        }
        pm_attrib_result_free(&dense);
        pm_attrib_result_free(&iter);
    }
    pm_attrib_journeys_destroy(j);
}

/*
 * Removal effects that all round to zero (a path with 1e58 non-converting
 * journeys beside a few conversions: the input fuzz_paths found, kept in its
 * corpus): the conversions and their value are still attributed in full, by
 * the fallback weights of docs/attribution.md, with either solver.
 */
static void test_vanishing_removal_effects_conserve_totals(void **state)
{
    static const char path[] = PM_SOURCE_DIR "/fuzz/corpus/paths/vanishing-removal-effects.csv";
    char buf[8192];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    pm_attrib_read_stats_t st;
    assert_int_equal(pm_attrib_paths_parse(j, buf, len, 0, NULL, NULL, &st), PM_OK);
    assert_true(st.accepted > 10);
    for (unsigned order = 1; order <= 3; order++)
        for (int dense = 0; dense <= 1; dense++) {
            pm_attrib_result_t r;
            markov(j, order, dense ? 100000 : 0, &r); /* asserts the sums */
            pm_attrib_result_free(&r);
        }
    pm_attrib_journeys_destroy(j);
}

/*
 * Monte Carlo: estimate the first-order chain from the paths here (a dense
 * count matrix, no code shared with markov.c), walk it WALKS times from the
 * start, and count for each channel the walks that converted without ever
 * touching it: that is P(conversion | channel removed), because removing a
 * channel sends exactly the walks that reach it to null. Each estimate is a
 * binomial proportion with standard error sqrt(p (1 - p) / WALKS) (< 0.0011
 * here); the exact solution must lie within 5 of them (a false alarm has
 * probability < 1e-5 over the 13 checks, and the seed is fixed anyway).
 */
#define WALKS 200000
#define MAXC 16

typedef struct mc_chain_s {
    uint32_t n;
    double start[MAXC];
    double row[MAXC][MAXC + 2]; /* to channels, then conversion, null */
} mc_chain_t;

static void mc_estimate(const pm_attrib_journeys_t *j, mc_chain_t *m)
{
    memset(m, 0, sizeof(*m));
    m->n = pm_attrib_channel_count(j);
    assert_true(m->n <= MAXC);
    for (size_t p = 0; p < j->npaths; p++) {
        const uint32_t *path = j->touches + j->off[p];
        size_t len = j->off[p + 1] - j->off[p];
        double w = j->conv[p] + j->nulls[p];
        m->start[path[0]] += w;
        for (size_t i = 1; i < len; i++)
            m->row[path[i - 1]][path[i]] += w;
        m->row[path[len - 1]][m->n] += j->conv[p];
        m->row[path[len - 1]][m->n + 1] += j->nulls[p];
    }
}

static uint32_t mc_pick(const double *w, uint32_t n, uint64_t *rng)
{
    double total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += w[i];
    double u = pm__attrib_rand_unit(rng) * total;
    for (uint32_t i = 0; i < n; i++) {
        if (u < w[i]) return i;
        u -= w[i];
    }
    return n - 1;
}

static void test_channelattribution_monte_carlo(void **state)
{
    pm_attrib_journeys_t *j = from_file("paths_channelattribution.csv");
    if (j == NULL) skip();
    static mc_chain_t m;
    double conv_all = 0, conv_without[MAXC] = {0};
    uint64_t rng = 12345;
    mc_estimate(j, &m);
    for (int walk = 0; walk < WALKS; walk++) {
        uint32_t s = mc_pick(m.start, m.n, &rng), seen = 0;
        for (;;) {
            seen |= 1u << s;
            uint32_t next = mc_pick(m.row[s], m.n + 2, &rng);
            if (next >= m.n) {
                if (next == m.n) {
                    conv_all++;
                    for (uint32_t c = 0; c < m.n; c++)
                        if (!(seen & (1u << c))) conv_without[c]++;
                }
                break;
            }
            s = next;
        }
    }
    pm_attrib_result_t r;
    markov(j, 1, 200, &r);
    double p = conv_all / WALKS, se = sqrt(p * (1 - p) / WALKS);
    assert_true(fabs(r.conversion_probability - p) < 5 * se);
    for (uint32_t c = 0; c < m.n; c++) {
        double exact = r.conversion_probability * (1 - r.removal_effect[c]);
        double mc = conv_without[c] / WALKS, sc = sqrt(mc * (1 - mc) / WALKS) + 1e-12;
        if (fabs(exact - mc) > 5 * sc + 1.0 / WALKS)
            fail_msg("%s: exact P(conv | removed) %.6f, Monte Carlo %.6f +/- %.6f", pm_attrib_channel_name(j, c),
                     exact, mc, sc);
        print_message("%-8s removal effect %.6f  conversions %10.4f  value %11.4f\n", pm_attrib_channel_name(j, c),
                      r.removal_effect[c], r.conversions[c], r.value[c]);
    }
    pm_attrib_result_free(&r);
    pm_attrib_journeys_destroy(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_form_chain),
        cmocka_unit_test(test_closed_form_cycle),
        cmocka_unit_test(test_whitepaper_inline),
        cmocka_unit_test(test_order_two),
        cmocka_unit_test(test_order_one_ignores_repeats),
        cmocka_unit_test(test_whitepaper_file),
        cmocka_unit_test(test_channelattribution_totals_and_solvers),
        cmocka_unit_test(test_channelattribution_monte_carlo),
        cmocka_unit_test(test_tiny_probabilities),
        cmocka_unit_test(test_vanishing_removal_effects_conserve_totals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

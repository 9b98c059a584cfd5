/*
 * test_attrib_io.c: the journey readers (pm/attrib_io.h) — the strict paths
 * CSV parser's edge cases and line numbers, the JSON journeys reader, the
 * Shapley sample of shared/data/attribution — and the `perfmark attribute`
 * verb driven in-process with its stdout captured.
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
#include <unistd.h>

#include "pm/attrib.h"
#include "pm/attrib_io.h"
#include "pm/cli.h"


#define HEADER "path;total_conversions;total_conversion_value;total_null\n"
#define DATA_DIR PM_SOURCE_DIR "/../shared/data/attribution/"

typedef struct reports_s {
    size_t n;
    size_t where[64];
    char why[64][160];
} reports_t;

static void collect(void *ctx, size_t where, const char *why)
{
    reports_t *r = ctx;
    if (r->n < 64) {
        r->where[r->n] = where;
        snprintf(r->why[r->n], sizeof(r->why[0]), "%s", why);
    }
    r->n++;
}

static pm_attrib_journeys_t *parse(const char *text, size_t len, int want_rc, reports_t *rep, pm_attrib_read_stats_t *st)
{
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    memset(rep, 0, sizeof(*rep));
    assert_int_equal(pm_attrib_paths_parse(j, text, len, 0, collect, rep, st), want_rc);
    return j;
}

/* One data line alone after the header: accepted or not. */
static void expect_line(const char *line, bool ok)
{
    char text[512];
    reports_t rep;
    pm_attrib_read_stats_t st;
    snprintf(text, sizeof(text), HEADER "%s\n", line);
    pm_attrib_journeys_t *j = parse(text, strlen(text), PM_OK, &rep, &st);
    if ((st.accepted == 1) != ok) fail_msg("line \"%s\": accepted %zu, want %s", line, st.accepted, ok ? "1" : "0");
    if (!ok) {
        assert_int_equal(rep.n, 1);
        assert_int_equal(rep.where[0], 2);
        assert_int_equal(pm_attrib_channel_count(j), 0); /* a rejected line leaves no channel behind */
    }
    pm_attrib_journeys_destroy(j);
}

static void test_csv_accepts(void **state)
{
    static const char *const good[] = {
        "A;1;2;3",          "A > B > A;0;0;1",  "  A  >  B  ; 1 ; 2.5 ;0  ", "A\t>\tB;1;1;0",
        "A;1e3;2.5E+2;0",   "A;0.5;0.25;0.5",   "A;0;0;0",                   "ünïcødé > 渠道;1;1;0",
        "a b c > d-e_f;1;1;1", "A;007;1;0",
    };
    for (size_t i = 0; i < PM_ARRAY_LEN(good); i++)
        expect_line(good[i], true);
}

static void test_csv_rejects(void **state)
{
    static const char *const bad[] = {
        ";1;1;0",       "  ;1;1;0",     "A >  > B;1;1;0", "A > ;1;1;0",  "> A;1;1;0",     "A;-1;0;0",
        "A;1;-2;0",     "A;1;1;-0",     "A;abc;1;0",      "A;1x;1;0",    "A;0x10;1;0",    "A;nan;1;0",
        "A;inf;1;0",    "A;+1;1;0",     "A;.5;1;0",       "A;1.;1;0",    "A;1e;1;0",      "A;1e999;1;0",
        "A;;1;0",       "A;1;1",        "A;1;1;0;5",      "A;1;1;0;",    "A",             "A;0;5;1",
        "A\x01;1;1;0",  "A\xff;1;1;0",  "A;1,5;1;0",      "\"A\";1;1;0x",
    };
    for (size_t i = 0; i < PM_ARRAY_LEN(bad); i++)
        expect_line(bad[i], false);
}

static void test_csv_lines_and_numbers(void **state)
{
    static const char text[] = "\xEF\xBB\xBFpath;total_conversions;total_conversion_value;total_null\r\n"
                               "A > B;1;10;2\r\n"
                               "\r\n"
                               "oops\r\n"
                               "   \n"
                               "A > B;2;5;0\n"
                               "B;0;0;3\n"
                               "C > ;1;1;1\n"
                               "A;1;1;1"; /* no final newline */
    reports_t rep;
    pm_attrib_read_stats_t st;
    pm_attrib_journeys_t *j = parse(text, sizeof(text) - 1, PM_OK, &rep, &st);
    assert_int_equal(st.accepted, 4);
    assert_int_equal(st.rejected, 2);
    assert_int_equal(rep.n, 2);
    assert_int_equal(rep.where[0], 4);
    assert_string_equal(rep.why[0], "expected 4 fields separated by ';', found 1");
    assert_int_equal(rep.where[1], 8);
    assert_string_equal(rep.why[1], "empty channel name in path");
    assert_int_equal(pm_attrib_channel_count(j), 2); /* C only appeared on a rejected line */
    assert_int_equal(pm_attrib_journeys_path_count(j), 3);
    assert_true(pm_attrib_journeys_total_conversions(j) == 4);
    assert_true(pm_attrib_journeys_total_value(j) == 16);
    assert_true(pm_attrib_journeys_total_nulls(j) == 6);
    pm_attrib_journeys_destroy(j);

    /* Messages name the field. */
    j = parse(HEADER "A;1;x;0\n", strlen(HEADER "A;1;x;0\n"), PM_OK, &rep, &st);
    assert_string_equal(rep.why[0], "total_conversion_value is not a number");
    pm_attrib_journeys_destroy(j);
}

static void test_csv_header(void **state)
{
    static const char *const bad[] = {"", "\n", "A;1;1;0\n", "path;conversions;value;null\nA;1;1;0\n",
                                      "path;total_conversions;total_conversion_value\nA;1;1\n",
                                      "path,total_conversions,total_conversion_value,total_null\n"};
    reports_t rep;
    pm_attrib_read_stats_t st;
    for (size_t i = 0; i < PM_ARRAY_LEN(bad); i++) {
        pm_attrib_journeys_t *j = parse(bad[i], strlen(bad[i]), PM_EINVAL, &rep, &st);
        assert_int_equal(rep.n, 1);
        assert_int_equal(rep.where[0], 1);
        assert_int_equal(st.accepted, 0);
        pm_attrib_journeys_destroy(j);
    }
    /* Spaces around header names are fine, like around values. */
    static const char spaced[] = " path ; total_conversions;total_conversion_value ; total_null \nA;1;1;0\n";
    pm_attrib_journeys_t *j = parse(spaced, strlen(spaced), PM_OK, &rep, &st);
    assert_int_equal(st.accepted, 1);
    pm_attrib_journeys_destroy(j);
}

/* "c0 > c1 > ... " with n touches over `distinct` channels, then ";1;1;0". */
static char *long_path(size_t n, size_t distinct)
{
    char *text = malloc(strlen(HEADER) + n * 12 + 32), *p = text;
    assert_non_null(text);
    p += sprintf(p, "%s", HEADER);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%sc%zu", i ? " > " : "", i % distinct);
    sprintf(p, ";1;1;0\n");
    return text;
}

static void test_csv_long_lines_and_caps(void **state)
{
    reports_t rep;
    pm_attrib_read_stats_t st;
    char *text = long_path(5000, 7);
    pm_attrib_journeys_t *j = parse(text, strlen(text), PM_OK, &rep, &st);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(pm_attrib_channel_count(j), 7);
    pm_attrib_journeys_destroy(j);
    free(text);

    text = long_path(10001, 3); /* past max_path_len */
    j = parse(text, strlen(text), PM_OK, &rep, &st);
    assert_int_equal(st.rejected, 1);
    assert_string_equal(rep.why[0], "path has more touches than the limit");
    pm_attrib_journeys_destroy(j);

    /* past the line cap: refused whatever it holds, the next line still read */
    j = pm_attrib_journeys_create(NULL);
    memset(&rep, 0, sizeof(rep));
    size_t len = strlen(text);
    text = realloc(text, len + 16);
    strcpy(text + len, "A;1;1;0\n");
    assert_int_equal(pm_attrib_paths_parse(j, text, strlen(text), 1000, collect, &rep, &st), PM_OK);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.rejected, 1);
    assert_string_equal(rep.why[0], "line longer than 1000 bytes");
    pm_attrib_journeys_destroy(j);
    free(text);

    /* container caps stop the parse with PM_ETOOBIG and say where */
    pm_attrib_limits_t lim = {.max_channels = 2};
    static const char three[] = HEADER "A;1;1;0\nB;1;1;0\nC;1;1;0\nA;1;1;0\n";
    j = pm_attrib_journeys_create(&lim);
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(pm_attrib_paths_parse(j, three, strlen(three), 0, collect, &rep, &st), PM_ETOOBIG);
    assert_int_equal(st.accepted, 2);
    assert_int_equal(rep.where[0], 4);
    pm_attrib_journeys_destroy(j);

    /* an embedded NUL is not text */
    static const char nul[] = HEADER "A\0B;1;1;0\nA;1;1;0\n";
    j = parse(nul, sizeof(nul) - 1, PM_OK, &rep, &st);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.rejected, 1);
    pm_attrib_journeys_destroy(j);
}

/* --- JSON ------------------------------------------------------------------ */

static void test_json_journeys(void **state)
{
    static const char doc[] = "[[16, 4, 3], [2, 1], [], \"x\", [1, -2], [1.5], [1, \"email\"], [\"\"], [2, 1]]";
    reports_t rep = {0};
    pm_attrib_read_stats_t st;
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    assert_int_equal(pm_attrib_journeys_json_parse(j, doc, strlen(doc), collect, &rep, &st), PM_OK);
    assert_int_equal(st.accepted, 4);
    assert_int_equal(st.rejected, 5);
    assert_int_equal(rep.where[0], 3);
    assert_int_equal(rep.where[4], 8);
    assert_int_equal(pm_attrib_journeys_path_count(j), 3); /* [2,1] twice */
    assert_true(pm_attrib_journeys_total_conversions(j) == 4);
    assert_true(pm_attrib_journeys_total_value(j) == 4);
    assert_int_equal(pm_attrib_channel_count(j), 6);
    assert_string_equal(pm_attrib_channel_name(j, 0), "16");
    assert_string_equal(pm_attrib_channel_name(j, 5), "email");
    pm_attrib_journeys_destroy(j);

    static const char *const bad[] = {"", "{", "{\"a\": 1}", "[[1]", "[[1]] x", "17"};
    for (size_t i = 0; i < PM_ARRAY_LEN(bad); i++) {
        j = pm_attrib_journeys_create(NULL);
        memset(&rep, 0, sizeof(rep));
        assert_int_equal(pm_attrib_journeys_json_parse(j, bad[i], strlen(bad[i]), collect, &rep, &st), PM_EINVAL);
        assert_int_equal(rep.n, 1);
        assert_int_equal(rep.where[0], 0);
        pm_attrib_journeys_destroy(j);
    }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc(*len + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, *len, f), *len);
    data[*len] = '\0';
    fclose(f);
    return data;
}

static void test_shapley_sample_file(void **state)
{
    size_t len = 0;
    char *data = slurp(DATA_DIR "journeys_shapley_sample.json", &len);
    if (data == NULL) {
        print_message("SKIP: reference data " DATA_DIR "journeys_shapley_sample.json not found\n");
        skip();
    }
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    pm_attrib_read_stats_t st;
    assert_int_equal(pm_attrib_journeys_json_parse(j, data, len, NULL, NULL, &st), PM_OK);
    assert_int_equal(st.accepted, 2392);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(pm_attrib_channel_count(j), 20);
    pm_attrib_result_t e, d;
    pm_attrib_options_t o;
    pm_attrib_options_default(&o);
    o.shapley_method = PM_ATTRIB_SHAPLEY_ENUMERATE;
    assert_int_equal(pm_attrib_run(j, PM_ATTRIB_SHAPLEY, &o, &e), PM_OK);
    o.shapley_method = PM_ATTRIB_SHAPLEY_DIVIDENDS;
    assert_int_equal(pm_attrib_run(j, PM_ATTRIB_SHAPLEY, &o, &d), PM_OK);
    double sum = 0;
    for (uint32_t c = 0; c < e.nchannels; c++) {
        sum += e.conversions[c];
        assert_true(e.conversions[c] > 0);
        assert_true(fabs(e.conversions[c] - d.conversions[c]) < 1e-9);
        assert_true(fabs(e.value[c] - e.conversions[c]) < 1e-9); /* value 1 per journey */
    }
    assert_true(fabs(sum - 2392) < 1e-9);
    pm_attrib_result_free(&e);
    pm_attrib_result_free(&d);
    pm_attrib_journeys_destroy(j);
    free(data);
}

/* --- the verb -------------------------------------------------------------- */

typedef struct verb_run_s {
    int status;
    char *out;
    size_t out_len;
} verb_run_t;

/* Run `perfmark attribute ARGS...` with stdout and stderr captured. */
static verb_run_t verb(const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "attribute";
    for (; args[argc - 1] && argc < 31; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(out), 1);
    dup2(fileno(err), 2);
    verb_run_t r = {.status = pm_cli_attribute.run(argc, argv)};
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    fseek(out, 0, SEEK_END);
    r.out_len = (size_t)ftell(out);
    rewind(out);
    r.out = calloc(1, r.out_len + 1);
    assert_int_equal(fread(r.out, 1, r.out_len, out), r.out_len);
    fclose(out);
    fclose(err);
    return r;
}

static char *temp_file(const char *content)
{
    static char names[4][64];
    static int next;
    char *name = names[next++ % 4];
    snprintf(name, sizeof(names[0]), "/tmp/pm_attrib_test_XXXXXX");
    int fd = mkstemp(name);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return name;
}

static void test_verb_outputs(void **state)
{
    char *wp = temp_file(HEADER "A > B > A > B > B > A;1;1;0\nA > B > B > A > A;1;1;0\nA > A;1;1;0\n");
    verb_run_t r = verb((const char *[]){"--paths", wp, "--format", "csv", NULL});
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "channel,conversions,value,removal_effect,value_removal_effect\n"
                               "A,2.000000,2.000000,1.000000,1.000000\n"
                               "B,1.000000,1.000000,0.500000,0.500000\n");
    free(r.out);

    r = verb((const char *[]){"--paths", wp, "--model", "all", "--format", "csv", NULL});
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "channel,first,last,last_non_direct,linear,time_decay,position,markov,shapley\n"
                                  "A,3.000000,3.000000,3.000000,"));
    free(r.out);

    r = verb((const char *[]){"--paths", wp, "--model", "markov", "--format", "json", NULL});
    assert_int_equal(r.status, 0);
    json_t *doc = json_loads(r.out, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "model")), "markov");
    json_t *b = json_array_get(json_object_get(doc, "channels"), 1);
    assert_string_equal(json_string_value(json_object_get(b, "channel")), "B");
    assert_true(json_real_value(json_object_get(b, "removal_effect")) == 0.5);
    assert_true(json_real_value(json_object_get(doc, "total_conversions")) == 3);
    json_decref(doc);
    free(r.out);

    r = verb((const char *[]){"--paths", wp, "--model", "all", "--format", "json", NULL});
    assert_int_equal(r.status, 0);
    doc = json_loads(r.out, 0, NULL);
    assert_non_null(doc);
    json_t *a = json_array_get(json_object_get(doc, "channels"), 0);
    assert_true(json_real_value(json_object_get(json_object_get(a, "conversions"), "shapley")) == 2);
    json_decref(doc);
    free(r.out);

    r = verb((const char *[]){"--paths", wp, "--model", "position", NULL});
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "total"));
    free(r.out);
    unlink(wp);
}

static void test_verb_failures(void **state)
{
    char *none = temp_file(HEADER "A;-1;0;0\n;1;1;0\n");
    char *some = temp_file(HEADER "A;-1;0;0\nB;1;1;0\n");
    char *json = temp_file("[[1,2],[2]]");
    verb_run_t r = verb((const char *[]){"--paths", none, NULL});
    assert_int_equal(r.status, 1);
    assert_int_equal(r.out_len, 0);
    free(r.out);
    r = verb((const char *[]){"--paths", some, NULL});
    assert_int_equal(r.status, 0);
    free(r.out);
    r = verb((const char *[]){"--journeys", json, "--model", "shapley", "--format", "csv", NULL});
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "channel,conversions,value\n1,0.500000,0.500000\n2,1.500000,1.500000\n");
    free(r.out);
    r = verb((const char *[]){"--paths", "/nonexistent/x.csv", NULL});
    assert_int_equal(r.status, 1);
    free(r.out);
    const char *const *usage[] = {
        (const char *[]){NULL},
        (const char *[]){"--paths", "a", "--journeys", "b", NULL},
        (const char *[]){"--paths", "a", "--model", "nope", NULL},
        (const char *[]){"--paths", "a", "--order", "0", NULL},
        (const char *[]){"--paths", "a", "--order", "9", NULL},
        (const char *[]){"--paths", "a", "--half-life", "-1", NULL},
        (const char *[]){"--paths", "a", "--position", "40,20,30", NULL},
        (const char *[]){"--paths", "a", "--position", "40,20", NULL},
        (const char *[]){"--paths", "a", "--format", "xml", NULL},
        (const char *[]){"--paths", "a", "--bogus", NULL},
        (const char *[]){"--paths", "a", "extra", NULL},
    };
    for (size_t i = 0; i < PM_ARRAY_LEN(usage); i++) {
        r = verb(usage[i]);
        if (r.status != 2) fail_msg("usage case %zu: status %d", i, r.status);
        free(r.out);
    }
    r = verb((const char *[]){"--help", NULL});
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--half-life"));
    free(r.out);
    unlink(none);
    unlink(some);
    unlink(json);
}

static void test_verb_generate(void **state)
{
    verb_run_t r = verb((const char *[]){"--generate", "500", "--channels", "6", "--seed", "9", NULL});
    assert_int_equal(r.status, 0);
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    pm_attrib_read_stats_t st;
    assert_int_equal(pm_attrib_paths_parse(j, r.out, r.out_len, 0, NULL, NULL, &st), PM_OK);
    assert_int_equal(st.accepted, 500);
    assert_int_equal(st.rejected, 0);
    assert_true(pm_attrib_channel_count(j) <= 6);
    assert_true(pm_attrib_journeys_total_conversions(j) + pm_attrib_journeys_total_nulls(j) == 500);
    verb_run_t again = verb((const char *[]){"--generate", "500", "--channels", "6", "--seed", "9", NULL});
    assert_string_equal(r.out, again.out); /* deterministic */
    free(again.out);
    free(r.out);
    pm_attrib_journeys_destroy(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_accepts),
        cmocka_unit_test(test_csv_rejects),
        cmocka_unit_test(test_csv_lines_and_numbers),
        cmocka_unit_test(test_csv_header),
        cmocka_unit_test(test_csv_long_lines_and_caps),
        cmocka_unit_test(test_json_journeys),
        cmocka_unit_test(test_shapley_sample_file),
        cmocka_unit_test(test_verb_outputs),
        cmocka_unit_test(test_verb_failures),
        cmocka_unit_test(test_verb_generate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

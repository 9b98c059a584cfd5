/*
 * test_attrib_store.c: the journey builder over the store
 * (src/attrib/store.c): lookback windows per touch kind, journeys cut at
 * approved conversions (pending ones do not cut, conversions before the
 * range still do), identity merges through a user id and an email hash,
 * impressions excluded, null journeys, other currencies left out, and the
 * parameter checks. Events are written straight into a fresh store's
 * tables; the container's paths are read back through attrib_internal.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "attrib/attrib_internal.h"
#include "pm/attrib_store.h"
#include "pm/store.h"

#define DAY ((int64_t)86400 * 1000000)
#define T0 ((int64_t)1767225600 * 1000000) /* 2026-01-01T00:00:00Z */

typedef struct fx_s {
    char dir[64], db[128];
    pm_store_t *store;
    int seq;
} fx_t;

static fx_t *fx_open(void)
{
    fx_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/pm_test_attrib_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/store.db", f->dir);
    assert_int_equal(pm_store_open(f->db, &f->store), PM_OK);
    assert_int_equal(pm_store_exec(f->store, "INSERT INTO traffic_sources(id, name, created_at, updated_at) VALUES"
                                             " (1,'A',0,0),(2,'B',0,0),(3,'C',0,0),(4,'D',0,0)"),
                     PM_OK);
    return f;
}

static void fx_close(fx_t *f)
{
    char cmd[200];
    pm_store_close(f->store);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
}

/* A touch: kind 'c' click or 'i' impression, at T0 + at_us, from source src. */
static void touch(fx_t *f, char kind, int64_t at_us, const char *visitor, int src, const char *uid)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "INSERT INTO %s(id, ts, visitor_id, traffic_source_id, campaign_id, user_id)"
                               " VALUES('e%04d', %lld, '%s', %d, %d, %s%s%s)",
             kind == 'c' ? "clicks" : "impressions", f->seq++, (long long)(T0 + at_us), visitor, src, 10 + src,
             uid ? "'" : "", uid ? uid : "NULL", uid ? "'" : "");
    assert_int_equal(pm_store_exec(f->store, sql), PM_OK);
}

static void conversion(fx_t *f, int64_t at_us, const char *visitor, const char *status, int64_t micros,
                       const char *currency, const char *uid, const char *email_hash)
{
    char sql[768];
    int n = f->seq++;
    snprintf(sql, sizeof(sql),
             "INSERT INTO conversions(id, ts, visitor_id, offer_id, click_id, txid, status, conversion_type, method,"
             " revenue_micros, revenue_currency, user_id, email_hash)"
             " VALUES('v%04d', %lld, '%s', 1, 'x', 'tx%d', '%s', 'sale', 'postback', %lld, '%s', %s%s%s, %s%s%s)",
             n, (long long)(T0 + at_us), visitor, n, status, (long long)micros, currency, uid ? "'" : "",
             uid ? uid : "NULL", uid ? "'" : "", email_hash ? "'" : "", email_hash ? email_hash : "NULL",
             email_hash ? "'" : "");
    assert_int_equal(pm_store_exec(f->store, sql), PM_OK);
}

/* The container's journeys as sorted text: "A>B c=1 v=10 n=0;..." */
static void paths_text(const pm_attrib_journeys_t *j, char *out, size_t cap)
{
    char lines[64][128];
    size_t n = j->npaths < 64 ? j->npaths : 64;
    for (size_t p = 0; p < n; p++) {
        size_t len = 0;
        for (size_t i = 0; i < pm__attrib_path_len(j, p); i++)
            len += (size_t)snprintf(lines[p] + len, sizeof(lines[p]) - len, "%s%s", i ? ">" : "",
                                    pm_attrib_channel_name(j, pm__attrib_path(j, p)[i]));
        snprintf(lines[p] + len, sizeof(lines[p]) - len, " c=%g v=%g n=%g", j->conv[p], j->value[p], j->nulls[p]);
    }
    qsort(lines, n, sizeof(lines[0]), (int (*)(const void *, const void *))strcmp);
    out[0] = '\0';
    for (size_t p = 0; p < n; p++) {
        strncat(out, lines[p], cap - strlen(out) - 2);
        strncat(out, ";", cap - strlen(out) - 1);
    }
}

static void set(pm_attrib_query_t *q, const char *name, const char *v)
{
    pm_attrib_error_t err;
    assert_int_equal(pm_attrib_query_param(q, name, v, strlen(v), &err), PM_OK);
}

/* Load [2026-01-01, 2026-01-31] in UTC with extra parameters name=value,... */
static void load(fx_t *f, pm_attrib_load_stats_t *st, char *text, size_t cap, const char *const *params)
{
    pm_attrib_query_t q;
    pm_attrib_error_t err;
    pm_attrib_query_init(&q);
    set(&q, "from", "2026-01-01");
    set(&q, "to", "2026-01-31");
    set(&q, "tz", "UTC");
    for (; params && params[0]; params += 2)
        set(&q, params[0], params[1]);
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    int rc = pm_attrib_store_load(pm_store_db(f->store), &q, j, st, &err);
    if (rc != PM_OK) fprintf(stderr, "load: %s\n", err.message);
    assert_int_equal(rc, PM_OK);
    assert_string_equal(q.currency, "USD");
    paths_text(j, text, cap);
    pm_attrib_journeys_destroy(j);
    pm_attrib_query_free(&q);
}

static void test_lookback_windows(void **state)
{
    (void)state;
    fx_t *f = fx_open();
    int64_t conv = 45 * DAY;
    touch(f, 'c', conv - 40 * DAY, "V", 1, NULL); /* past the 30-day click window */
    touch(f, 'c', conv - 10 * DAY, "V", 2, NULL);
    touch(f, 'i', conv - 2 * DAY, "V", 3, NULL);  /* past the 1-day impression window */
    touch(f, 'i', conv - DAY / 2, "V", 4, NULL);
    conversion(f, conv, "V", "approved", 12500000, "USD", NULL, NULL);
    /* The conversion is on Feb 15: widen the range to it. */
    static const char *const wide[] = {"to", "2026-02-28", NULL};
    pm_attrib_load_stats_t st;
    char text[2048];
    load(f, &st, text, sizeof(text), wide);
    assert_string_equal(text, "B>D c=1 v=12.5 n=0;");
    static const char *const longer[] = {"to", "2026-02-28", "click_lookback", "45", "impression_lookback", "3", NULL};
    load(f, &st, text, sizeof(text), longer);
    /* Longer windows take in the old click and the older impression. */
    assert_string_equal(text, "A>B>C>D c=1 v=12.5 n=0;");
    assert_int_equal(st.conversions, 1);
    assert_int_equal(st.value_micros, 12500000);
    fx_close(f);
}

static void test_conversion_boundaries(void **state)
{
    (void)state;
    fx_t *f = fx_open();
    touch(f, 'c', 1 * DAY, "V", 1, NULL);
    conversion(f, 2 * DAY, "V", "approved", 10000000, "USD", NULL, NULL);
    touch(f, 'c', 3 * DAY, "V", 2, NULL);
    conversion(f, 4 * DAY, "V", "pending", 5000000, "USD", NULL, NULL); /* not a cut */
    touch(f, 'c', 5 * DAY, "V", 3, NULL);
    conversion(f, 5 * DAY, "V", "approved", 20000000, "USD", NULL, NULL); /* same instant: the touch counts */
    touch(f, 'c', 6 * DAY, "V", 4, NULL);                                 /* after the last: a null path */
    conversion(f, 7 * DAY, "W", "rejected", 1000000, "USD", NULL, NULL);
    touch(f, 'c', 6 * DAY, "W", 1, NULL);
    pm_attrib_load_stats_t st;
    char text[2048];
    load(f, &st, text, sizeof(text), NULL);
    assert_string_equal(text, "A c=0 v=0 n=1;A c=1 v=10 n=0;B>C c=1 v=20 n=0;D c=0 v=0 n=1;");
    assert_int_equal(st.conversions, 2);
    assert_int_equal(st.value_micros, 30000000);
    assert_int_equal(st.null_journeys, 2);
    /* From Jan 4: the first conversion (Jan 3) is before the range but still cuts. */
    static const char *const later[] = {"from", "2026-01-04", NULL};
    load(f, &st, text, sizeof(text), later);
    assert_string_equal(text, "A c=0 v=0 n=1;B>C c=1 v=20 n=0;D c=0 v=0 n=1;");
    assert_int_equal(st.conversions, 1);
    fx_close(f);
}

static void test_identity_merges(void **state)
{
    (void)state;
    fx_t *f = fx_open();
    static const char h[] = "6a4ab1ba7b1eaa09aa3bd1bb2b67d5e4b8f0c4e5f1e1dc58b8aeb5d2c3f0a1b2";
    touch(f, 'c', 1 * DAY, "laptop", 1, "u-1");
    touch(f, 'c', 2 * DAY, "phone", 2, "u-1");
    conversion(f, 3 * DAY, "phone", "approved", 7000000, "USD", NULL, NULL);
    touch(f, 'c', 1 * DAY, "tablet", 3, NULL);
    conversion(f, 1 * DAY + 1, "tablet", "pending", 0, "USD", NULL, h); /* links, does not cut */
    touch(f, 'c', 2 * DAY, "desktop", 4, NULL);
    conversion(f, 3 * DAY, "desktop", "approved", 9000000, "USD", NULL, h);
    conversion(f, 4 * DAY, "stranger", "approved", 1000000, "USD", NULL, NULL); /* no touch */
    conversion(f, 4 * DAY, "desktop", "approved", 2000000, "EUR", NULL, NULL);  /* other currency */
    pm_attrib_load_stats_t st;
    char text[2048];
    load(f, &st, text, sizeof(text), NULL);
    assert_string_equal(text, "A>B c=1 v=7 n=0;C>D c=1 v=9 n=0;");
    assert_int_equal(st.linked_visitors, 4);
    assert_int_equal(st.untouched, 1);
    assert_int_equal(st.other_currency, 1);
    assert_int_equal(st.value_micros, 16000000);
    fx_close(f);
}

static void test_impressions_exclude(void **state)
{
    (void)state;
    fx_t *f = fx_open();
    touch(f, 'i', 1 * DAY, "V", 1, "u-9");
    touch(f, 'c', 1 * DAY + 5, "V", 2, NULL);
    conversion(f, 1 * DAY + 9, "V", "approved", 3000000, "USD", NULL, NULL);
    pm_attrib_load_stats_t st;
    char text[2048];
    load(f, &st, text, sizeof(text), NULL);
    assert_string_equal(text, "A>B c=1 v=3 n=0;");
    static const char *const excl[] = {"impressions", "exclude", NULL};
    load(f, &st, text, sizeof(text), excl);
    assert_string_equal(text, "B c=1 v=3 n=0;");
    static const char *const camp[] = {"by", "campaign", NULL};
    load(f, &st, text, sizeof(text), camp);
    assert_string_equal(text, "11>12 c=1 v=3 n=0;");
    fx_close(f);
}

static void test_params(void **state)
{
    (void)state;
    static const char *const bad[][2] = {{"model", "nope"},       {"order", "9"},        {"order", ""},
                                         {"from", "2026-02-30"},  {"to", "soon"},         {"by", "x"},
                                         {"click_lookback", "366"}, {"impression_lookback", "1.5"},
                                         {"impressions", "yes"},  {"tz", ""}};
    pm_attrib_query_t q;
    pm_attrib_error_t err;
    pm_attrib_query_init(&q);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pm_attrib_query_param(&q, bad[i][0], bad[i][1], strlen(bad[i][1]), &err), PM_EINVAL);
        assert_int_equal(err.status, 422);
        assert_string_equal(err.field, bad[i][0]);
    }
    assert_int_equal(pm_attrib_query_param(&q, "model", "all", 3, &err), PM_OK);
    assert_true(q.all_models);
    assert_false(pm_attrib_query_param_known("limit"));
    /* to before from, and a bad zone, fail at load. */
    fx_t *f = fx_open();
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    pm_attrib_load_stats_t st;
    set(&q, "from", "2026-02-01");
    set(&q, "to", "2026-01-01");
    assert_int_equal(pm_attrib_store_load(pm_store_db(f->store), &q, j, &st, &err), PM_EINVAL);
    assert_string_equal(err.field, "to");
    set(&q, "to", "2026-02-02");
    set(&q, "tz", "No/Such_Zone");
    assert_int_equal(pm_attrib_store_load(pm_store_db(f->store), &q, j, &st, &err), PM_EINVAL);
    assert_string_equal(err.field, "tz");
    pm_attrib_journeys_destroy(j);
    pm_attrib_query_free(&q);
    fx_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookback_windows),  cmocka_unit_test(test_conversion_boundaries),
        cmocka_unit_test(test_identity_merges),   cmocka_unit_test(test_impressions_exclude),
        cmocka_unit_test(test_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

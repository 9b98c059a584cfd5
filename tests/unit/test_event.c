/*
 * test_event.c: the journal encoding of events. Round trips of every field,
 * omission of empty ones, forward compatibility (unknown tags skipped) and
 * robustness: every truncation, a wrong version, wrong sizes, bad varints.
 * Inputs are copied into exact-size heap blocks so ASan sees any overread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pm/event.h"
#include "pm/journal.h"

static pm_id_t make_id(uint8_t seed)
{
    pm_id_t id;
    for (int i = 0; i < 16; i++)
        id.b[i] = (uint8_t)(seed + i * 7);
    return id;
}

static void set_currency(pm_currency_t *c, const char *code) { snprintf(c->code, sizeof(c->code), "%s", code); }

/* Every field set; strings name their field so mix-ups show. */
static void fill_full(pm_event_t *ev, char strs[PM_EVS__COUNT][48])
{
    memset(ev, 0, sizeof(*ev));
    ev->type = PM_EV_CONVERSION;
    ev->id = make_id(1);
    ev->ts = INT64_C(1795000000123456);
    ev->visitor_id = make_id(2);
    ev->click_id = make_id(3);
    ev->campaign_id = 42;
    ev->traffic_source_id = -7;
    ev->offer_id = INT64_MAX;
    ev->lander_id = INT64_MIN;
    ev->creative_id = 31;
    ev->cost.micros = 1500;
    set_currency(&ev->cost.currency, "USD");
    ev->revenue.micros = 12500000;
    set_currency(&ev->revenue.currency, "EUR");
    ev->payout.micros = -400000;
    set_currency(&ev->payout.currency, "GBP");
    ev->partner_id = 5;
    ev->ref_id = make_id(4);
    ev->ref_ts = INT64_C(1795000000000001);
    ev->version = 2;
    ev->prev_cost.micros = 1;
    set_currency(&ev->prev_cost.currency, "USD");
    ev->prev_revenue.micros = -2;
    set_currency(&ev->prev_revenue.currency, "EUR");
    ev->prev_payout.micros = 3;
    set_currency(&ev->prev_payout.currency, "GBP");
    for (int i = 0; i < PM_EVS__COUNT; i++) {
        snprintf(strs[i], 48, "value of %s \xc3\xa9", pm_event_str_name((pm_event_str_t)i));
        pm_event_set(ev, (pm_event_str_t)i, strs[i], strlen(strs[i]));
    }
}

static void assert_str_eq(pm_str_t a, pm_str_t b)
{
    assert_int_equal(a.len, b.len);
    if (a.len) assert_memory_equal(a.p, b.p, a.len);
}

static void assert_events_equal(const pm_event_t *a, const pm_event_t *b)
{
    assert_int_equal(a->type, b->type);
    assert_memory_equal(&a->id, &b->id, 16);
    assert_true(a->ts == b->ts);
    assert_memory_equal(&a->visitor_id, &b->visitor_id, 16);
    assert_memory_equal(&a->click_id, &b->click_id, 16);
    assert_true(a->campaign_id == b->campaign_id && a->traffic_source_id == b->traffic_source_id);
    assert_true(a->offer_id == b->offer_id && a->lander_id == b->lander_id);
    assert_true(a->creative_id == b->creative_id);
    assert_true(a->cost.micros == b->cost.micros && a->revenue.micros == b->revenue.micros);
    assert_true(a->payout.micros == b->payout.micros);
    assert_string_equal(a->cost.currency.code, b->cost.currency.code);
    assert_string_equal(a->revenue.currency.code, b->revenue.currency.code);
    assert_string_equal(a->payout.currency.code, b->payout.currency.code);
    for (int i = 0; i < PM_EVS__COUNT; i++)
        assert_str_eq(a->s[i], b->s[i]);
}

/* Decode from an exact-size heap copy so a one-byte overread trips ASan. */
static int decode_copy(const void *p, size_t len, pm_event_t *out, uint8_t **keep)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, p, len);
    int rc = pm_event_decode(copy, len, out);
    *keep = copy;
    return rc;
}

static void test_round_trip_every_field(void **state)
{
    (void)state;
    char strs[PM_EVS__COUNT][48];
    pm_event_t ev, back;
    pm_buf_t b;
    uint8_t *copy;
    fill_full(&ev, strs);
    pm_buf_init(&b, 1 << 16);
    assert_int_equal(pm_event_encode(&ev, &b), PM_OK);
    assert_int_equal(decode_copy(b.data, b.len, &back, &copy), PM_OK);
    assert_events_equal(&ev, &back);
    /* Strings borrow from the input buffer. */
    assert_true((const uint8_t *)back.s[PM_EVS_IP].p >= copy && (const uint8_t *)back.s[PM_EVS_IP].p < copy + b.len);
    free(copy);
    pm_buf_free(&b);
}

/* Lengths that take 1, 2 and 3 varint bytes, and the largest allowed. */
static void test_long_strings_round_trip(void **state)
{
    (void)state;
    static const size_t lens[] = {127, 128, 300, 16383, 16384, 70000, PM_JOURNAL_MAX_RECORD};
    char *text = malloc(PM_JOURNAL_MAX_RECORD);
    for (size_t i = 0; i < PM_JOURNAL_MAX_RECORD; i++)
        text[i] = (char)('a' + i % 26);
    for (size_t k = 0; k < PM_ARRAY_LEN(lens); k++) {
        pm_event_t ev = {.type = PM_EV_ORPHAN}, back;
        pm_event_set(&ev, PM_EVS_QUERY, text, lens[k]);
        pm_event_set(&ev, PM_EVS_REASON, "unknown_click", 13);
        pm_buf_t b;
        pm_buf_init(&b, 2 * (size_t)PM_JOURNAL_MAX_RECORD);
        assert_int_equal(pm_event_encode(&ev, &b), PM_OK);
        assert_int_equal(pm_event_decode(b.data, b.len, &back), PM_OK);
        assert_events_equal(&ev, &back);
        pm_buf_free(&b);
    }
    free(text);
}

static void test_every_type_round_trips(void **state)
{
    (void)state;
    for (int t = PM_EV_CLICK; t < PM_EV__MAX; t++) {
        pm_event_t ev = {.type = (pm_event_type_t)t}, back;
        pm_buf_t b;
        pm_buf_init(&b, 1024);
        assert_int_equal(pm_event_encode(&ev, &b), PM_OK);
        assert_int_equal(pm_event_decode(b.data, b.len, &back), PM_OK);
        assert_int_equal(back.type, t);
        pm_buf_free(&b);
    }
}

static void test_empty_fields_omitted(void **state)
{
    (void)state;
    pm_event_t ev = {.type = PM_EV_CLICK}, back;
    pm_buf_t b;
    pm_buf_init(&b, 1024);
    assert_int_equal(pm_event_encode(&ev, &b), PM_OK);
    assert_int_equal(b.len, 2); /* version, type: nothing else */
    ev.id = make_id(9);
    pm_event_set(&ev, PM_EVS_SUB3, "", 0);
    set_currency(&ev.cost.currency, ""); /* amount 0, no currency */
    pm_buf_reset(&b);
    assert_int_equal(pm_event_encode(&ev, &b), PM_OK);
    assert_int_equal(b.len, 2 + 1 + 1 + 16);
    assert_int_equal((uint8_t)b.data[2], 1); /* the id tag */
    assert_int_equal(pm_event_decode(b.data, b.len, &back), PM_OK);
    assert_memory_equal(&back.id, &ev.id, 16);
    assert_int_equal(back.s[PM_EVS_SUB3].len, 0);
    pm_buf_free(&b);
}

static void test_unknown_tags_skipped(void **state)
{
    (void)state;
    pm_event_t ev = {.type = PM_EV_IMPRESSION, .campaign_id = 5}, back;
    pm_buf_t b;
    pm_buf_init(&b, 4096);
    assert_int_equal(pm_event_encode(&ev, &b), PM_OK);
    /* A future fixed field, and a future string with a 2-byte varint length. */
    const uint8_t future1[] = {200, 5, 1, 2, 3, 4, 5};
    assert_int_equal(pm_buf_append(&b, future1, sizeof(future1)), PM_OK);
    uint8_t future2[3 + 300] = {(uint8_t)(64 + PM_EVS__COUNT), 0xAC, 0x02}; /* 300 */
    memset(future2 + 3, 'x', 300);
    assert_int_equal(pm_buf_append(&b, future2, sizeof(future2)), PM_OK);
    pm_event_set(&ev, PM_EVS_SUB1, "after", 5);
    pm_buf_t tail;
    pm_buf_init(&tail, 4096);
    assert_int_equal(pm_event_encode(&ev, &tail), PM_OK);
    assert_int_equal(pm_buf_append(&b, tail.data + 2, tail.len - 2), PM_OK); /* fields after the unknown */
    assert_int_equal(pm_event_decode(b.data, b.len, &back), PM_OK);
    assert_int_equal(back.campaign_id, 5);
    assert_int_equal(back.s[PM_EVS_SUB1].len, 5);
    assert_memory_equal(back.s[PM_EVS_SUB1].p, "after", 5);
    pm_buf_free(&tail);
    pm_buf_free(&b);
}

/* The offsets at which a prefix is itself a whole encoding. */
static bool at_field_boundary(const uint8_t *p, size_t len, size_t cut)
{
    size_t pos = 2;
    while (pos < cut) {
        pos++; /* tag */
        uint32_t n = 0;
        for (int shift = 0; pos < len; shift += 7) {
            uint8_t c = p[pos++];
            n |= (uint32_t)(c & 0x7f) << shift;
            if (!(c & 0x80)) break;
        }
        pos += n;
    }
    return pos == cut;
}

/* A record cut anywhere but between fields is corrupt; cut between fields
 * it is a shorter valid event (TLV has no total length: the journal's
 * record length and CRC guard against that). Never a crash or overread. */
static void test_truncation_at_every_length(void **state)
{
    (void)state;
    char strs[PM_EVS__COUNT][48];
    pm_event_t ev, back;
    pm_buf_t b;
    fill_full(&ev, strs);
    pm_buf_init(&b, 1 << 16);
    assert_int_equal(pm_event_encode(&ev, &b), PM_OK);
    size_t valid_cuts = 0;
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *copy;
        int rc = decode_copy(b.data, cut, &back, &copy);
        bool boundary = cut >= 2 && at_field_boundary((const uint8_t *)b.data, b.len, cut);
        assert_int_equal(rc, boundary ? PM_OK : PM_ECORRUPT);
        valid_cuts += boundary;
        if (rc != PM_OK) assert_int_equal(back.type, PM_EV_NONE); /* zeroed on failure */
        free(copy);
    }
    /* Header only, then after each of the 25 fixed and every string field but the last. */
    assert_int_equal(valid_cuts, 25 + PM_EVS__COUNT);
    pm_buf_free(&b);
}

static void test_wrong_version_and_type(void **state)
{
    (void)state;
    pm_event_t back;
    const uint8_t v0[] = {0, 1}, v2[] = {2, 1}, t0[] = {1, 0}, t9[] = {1, 9}, one[] = {1};
    assert_int_equal(pm_event_decode(v0, sizeof(v0), &back), PM_ECORRUPT);
    assert_int_equal(pm_event_decode(v2, sizeof(v2), &back), PM_ECORRUPT);
    assert_int_equal(pm_event_decode(t0, sizeof(t0), &back), PM_ECORRUPT);
    assert_int_equal(pm_event_decode(t9, sizeof(t9), &back), PM_ECORRUPT);
    assert_int_equal(pm_event_decode(one, sizeof(one), &back), PM_ECORRUPT);
    assert_int_equal(pm_event_decode(NULL, 0, &back), PM_ECORRUPT);
    pm_event_t bad = {.type = PM_EV_NONE};
    pm_buf_t b;
    pm_buf_init(&b, 64);
    assert_int_equal(pm_event_encode(&bad, &b), PM_EINVAL);
    assert_int_equal(b.len, 0);
    pm_buf_free(&b);
}

static void test_wrong_sizes_and_lengths(void **state)
{
    (void)state;
    pm_event_t back;
    const uint8_t short_id[] = {1, 1, 1, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    const uint8_t short_ts[] = {1, 1, 2, 4, 1, 2, 3, 4};
    const uint8_t long_cur[] = {1, 1, 10, 4, 'U', 'S', 'D', 'X'};
    const uint8_t past_end[] = {1, 1, 64, 5, 'a', 'b'};
    const uint8_t varint_6[] = {1, 1, 64, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    const uint8_t varint_cap[] = {1, 1, 200, 0x81, 0x80, 0x40}; /* 2^20 + 1 */
    const uint8_t varint_cut[] = {1, 1, 64, 0x80};
    assert_int_equal(pm_event_decode(short_id, sizeof(short_id), &back), PM_ECORRUPT);
    assert_int_equal(pm_event_decode(short_ts, sizeof(short_ts), &back), PM_ECORRUPT);
    assert_int_equal(pm_event_decode(long_cur, sizeof(long_cur), &back), PM_ECORRUPT);
    assert_int_equal(pm_event_decode(past_end, sizeof(past_end), &back), PM_ECORRUPT);
    assert_int_equal(pm_event_decode(varint_6, sizeof(varint_6), &back), PM_ECORRUPT);
    assert_int_equal(pm_event_decode(varint_cap, sizeof(varint_cap), &back), PM_ECORRUPT);
    assert_int_equal(pm_event_decode(varint_cut, sizeof(varint_cut), &back), PM_ECORRUPT);
    /* A non-minimal varint is still a length. */
    const uint8_t padded[] = {1, 1, 64, 0x82, 0x80, 0x00, 'h', 'i'};
    assert_int_equal(pm_event_decode(padded, sizeof(padded), &back), PM_OK);
    assert_int_equal(back.s[PM_EVS_IP].len, 2);
}

static void test_encode_cap_leaves_buffer(void **state)
{
    (void)state;
    char strs[PM_EVS__COUNT][48];
    pm_event_t ev;
    pm_buf_t b;
    fill_full(&ev, strs);
    pm_buf_init(&b, 100);
    assert_int_equal(pm_buf_append(&b, "prefix", 6), PM_OK);
    assert_int_equal(pm_event_encode(&ev, &b), PM_ETOOBIG);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.data, "prefix");
    pm_buf_free(&b);
    /* A string the decoder would refuse is refused at encode time. */
    pm_event_t big = {.type = PM_EV_CLICK};
    pm_event_set(&big, PM_EVS_QUERY, "x", (size_t)PM_JOURNAL_MAX_RECORD + 1);
    pm_buf_init(&b, SIZE_MAX / 2);
    assert_int_equal(pm_event_encode(&big, &b), PM_ETOOBIG);
    assert_int_equal(b.len, 0);
    pm_buf_free(&b);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(pm_event_type_name(PM_EV_CLICK), "click");
    assert_string_equal(pm_event_type_name(PM_EV_IMPRESSION), "impression");
    assert_string_equal(pm_event_type_name(PM_EV_CONVERSION), "conversion");
    assert_string_equal(pm_event_type_name(PM_EV_ORPHAN), "orphan");
    assert_null(pm_event_type_name(PM_EV_NONE));
    assert_null(pm_event_type_name(PM_EV__MAX));
    assert_string_equal(pm_event_str_name(PM_EVS_IP), "ip");
    assert_string_equal(pm_event_str_name(PM_EVS_SUB1), "sub1");
    assert_string_equal(pm_event_str_name(PM_EVS_SUB10), "sub10");
    assert_string_equal(pm_event_str_name(PM_EVS_UTM_TERM), "utm_term");
    assert_string_equal(pm_event_str_name(PM_EVS_CONV_TYPE), "conversion_type");
    assert_string_equal(pm_event_str_name(PM_EVS_DEST_URL), "destination_url");
    assert_null(pm_event_str_name(PM_EVS__COUNT));
    for (int i = 0; i < PM_EVS__COUNT; i++)
        assert_non_null(pm_event_str_name((pm_event_str_t)i));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_field),
        cmocka_unit_test(test_long_strings_round_trip),
        cmocka_unit_test(test_every_type_round_trips),
        cmocka_unit_test(test_empty_fields_omitted),
        cmocka_unit_test(test_unknown_tags_skipped),
        cmocka_unit_test(test_truncation_at_every_length),
        cmocka_unit_test(test_wrong_version_and_type),
        cmocka_unit_test(test_wrong_sizes_and_lengths),
        cmocka_unit_test(test_encode_cap_leaves_buffer),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

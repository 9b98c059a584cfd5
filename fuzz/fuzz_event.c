/*
 * fuzz_event.c: pm_event_decode on arbitrary bytes (it reads journal files,
 * which may be corrupt). It must never read outside the input; when it
 * accepts an input, encoding the result and decoding that again must give
 * the same event: the encoder and decoder agree on every field.
 */
#include <string.h>

#include "pm/event.h"
#include "pm/journal.h"

static void check_str(pm_str_t a, pm_str_t b)
{
    if (a.len != b.len || (a.len && memcmp(a.p, b.p, a.len) != 0)) __builtin_trap();
}

/* Currencies compare as C strings: a decoded "\0AB" means "none" and is
 * (rightly) omitted when encoded again. */
static void check_currency(const pm_currency_t *a, const pm_currency_t *b)
{
    if (strncmp(a->code, b->code, sizeof(a->code)) != 0) __builtin_trap();
}

static void check_equal(const pm_event_t *a, const pm_event_t *b)
{
    if (a->type != b->type || memcmp(&a->id, &b->id, 16) || a->ts != b->ts) __builtin_trap();
    if (memcmp(&a->visitor_id, &b->visitor_id, 16) || memcmp(&a->click_id, &b->click_id, 16)) __builtin_trap();
    if (a->campaign_id != b->campaign_id || a->traffic_source_id != b->traffic_source_id) __builtin_trap();
    if (a->offer_id != b->offer_id || a->lander_id != b->lander_id) __builtin_trap();
    if (a->cost.micros != b->cost.micros || a->revenue.micros != b->revenue.micros) __builtin_trap();
    if (a->payout.micros != b->payout.micros) __builtin_trap();
    check_currency(&a->cost.currency, &b->cost.currency);
    check_currency(&a->revenue.currency, &b->revenue.currency);
    check_currency(&a->payout.currency, &b->payout.currency);
    for (int i = 0; i < PM_EVS__COUNT; i++)
        check_str(a->s[i], b->s[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pm_event_t ev, again;
    if (pm_event_decode(data, size, &ev) != PM_OK) return 0;
    pm_buf_t b;
    pm_buf_init(&b, 2 * (size_t)PM_JOURNAL_MAX_RECORD);
    if (pm_event_encode(&ev, &b) != PM_OK) __builtin_trap();
    if (b.len > size) __builtin_trap(); /* canonical form is never longer */
    if (pm_event_decode(b.data, b.len, &again) != PM_OK) __builtin_trap();
    check_equal(&ev, &again);
    pm_buf_free(&b);
    return 0;
}

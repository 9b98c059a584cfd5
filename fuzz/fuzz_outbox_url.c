/*
 * fuzz_outbox_url.c: the outbox's postback URL building on arbitrary
 * templates and arbitrary conversion values (external id, sub-ids, txid,
 * status come from visitors and advertisers). Input: NUL-separated
 * template, external_id, sub1, txid, status. Checks the output cap, that a
 * template without '{' is copied unchanged, and that "{external_id}" alone
 * gives the value percent-encoded (only unreserved characters and %XX).
 */
#include "pm/outbox.h"

#include <stdio.h>
#include <string.h>

static const char *piece(const uint8_t **p, const uint8_t *end, size_t *len)
{
    const uint8_t *start = *p, *nul = memchr(start, 0, (size_t)(end - start));
    *len = (size_t)((nul ? nul : end) - start);
    *p = nul ? nul + 1 : end;
    return (const char *)start;
}

static bool url_safe(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.' || c == '~' || c == '%';
        if (!ok) return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    size_t tlen, n;
    const char *t = piece(&p, end, &tlen);
    char *tpl = strndup(t, tlen); /* templates are NUL-terminated strings */
    pm_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = size & 1 ? PM_EV_STATUS_CHANGE : PM_EV_CONVERSION;
    ev.campaign_id = 5;
    ev.partner_id = 9;
    ev.revenue.micros = (int64_t)size * 12345;
    memcpy(ev.revenue.currency.code, "USD", 4);
    ev.payout.micros = -(int64_t)size * 321;
    memcpy(ev.payout.currency.code, "EUR", 4);
    pm_outbox_target_t target = size & 2 ? PM_OUTBOX_TO_PARTNER : PM_OUTBOX_TO_SOURCE;
    const char *v = piece(&p, end, &n);
    pm_event_set(&ev, PM_EVS_EXTERNAL_ID, v, n);
    v = piece(&p, end, &n);
    pm_event_set(&ev, PM_EVS_SUB1, v, n);
    v = piece(&p, end, &n);
    pm_event_set(&ev, PM_EVS_TXID, v, n);
    char status[64];
    v = piece(&p, end, &n);
    pm_event_set(&ev, PM_EVS_PREV_STATUS, v, n);
    snprintf(status, sizeof(status), "%.*s", (int)(n < 63 ? n : 63), v);
    pm_buf_t out;
    pm_buf_init(&out, 4096);
    int rc = pm_outbox_build_url(&out, tpl, &ev, status, target);
    if (rc != PM_OK && rc != PM_ETOOBIG) abort();
    if (out.len > out.max) abort();
    size_t plain = strlen(tpl);
    if (rc == PM_OK && memchr(tpl, '{', plain) == NULL && (out.len != plain || memcmp(out.data, tpl, plain) != 0))
        abort();
    pm_buf_reset(&out);
    rc = pm_outbox_build_url(&out, "{external_id}{prev_status}", &ev, status, target);
    if (rc == PM_OK && !url_safe(out.data ? out.data : "", out.len)) abort();
    pm_buf_free(&out);
    free(tpl);
    return 0;
}

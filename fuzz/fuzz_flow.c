/*
 * fuzz_flow.c: arbitrary bytes into the flow compiler (pm_flow_compile_text),
 * and every flow that compiles routed for a few fixed clicks.
 *
 * Beyond memory safety it checks the contract: the answer is PM_OK or
 * PM_EINVAL; a refusal names a message (and no flow); an accepted flow
 * routes every click to an option of one of its paths, and the reason it
 * writes is strict JSON whose option key is the chosen option's. With odd
 * offer ids capped, the chosen option is never a capped one, and an empty
 * choice (every option capped) says option null.
 */
#include "pm/flow.h"

#include <jansson.h>
#include <string.h>

static bool odd_capped(void *ctx, int64_t offer_id)
{
    (void)ctx;
    return offer_id & 1;
}

static void route_one(const pm_flow_t *f, pm_event_t *ev, const pm_qs_t *qs, const pm_ip_t *ip, bool returning,
                      bool caps)
{
    static uint64_t rng = 1;
    static void *md;
    if (md == NULL) md = pm_flow_match_data_create();
    pm_flow_input_t in = {.ev = ev,
                          .qs = qs,
                          .ip = ip,
                          .returning = returning,
                          .over_cap = returning,
                          .now_us = INT64_C(1767600000000000),
                          .rng = &rng,
                          .match_data = md,
                          .offer_capped = caps ? odd_capped : NULL};
    pm_flow_choice_t c;
    char reason[1024];
    size_t len = 0;
    pm_flow_route(f, &in, &c, reason, sizeof(reason), &len);
    if (c.path == NULL) abort();
    if (c.option == NULL) { /* every option capped, and no open fallback */
        if (!caps || c.option_index != -1) abort();
        for (size_t i = 0; i < c.path->noptions; i++)
            if (!(c.path->options[i].offer_id & 1)) abort();
    } else {
        if (c.option_index < 0 || (size_t)c.option_index >= c.path->noptions) abort();
        if (caps && (c.option->offer_id & 1)) abort();
    }
    if (len == 0) return; /* a reason too long for the buffer is dropped, not cut */
    json_t *doc = json_loadb(reason, len, JSON_REJECT_DUPLICATES, NULL);
    uint64_t key = 0;
    if (!json_is_object(doc)) abort();
    if (c.option && (!pm_flow_reason_key(reason, len, &key) || key != c.option->key)) abort();
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pm_flow_t *f = NULL;
    pm_flow_error_t err;
    int rc = pm_flow_compile_text(3, (const char *)data, size, &f, &err);
    if (rc != PM_OK && rc != PM_EINVAL) abort();
    if (rc != PM_OK) {
        if (f != NULL || err.message[0] == '\0') abort();
        return 0;
    }
    pm_event_t ev = {.type = PM_EV_CLICK};
    pm_qs_t qs;
    pm_ip_t ip;
    pm_qs_parse(&qs, "sub1=zone-1&zone=a1", 19);
    if (pm_ip_parse("10.1.2.3", 8, &ip) != PM_OK) abort();
    route_one(f, &ev, &qs, NULL, false, false);
    route_one(f, &ev, &qs, NULL, false, true);
    pm_event_set(&ev, PM_EVS_COUNTRY, "DE", 2);
    pm_event_set(&ev, PM_EVS_LANGUAGE, "de-AT,de;q=0.9,en;q=0", 21);
    pm_event_set(&ev, PM_EVS_REFERRER, "https://news.google.com/x", 25);
    pm_event_set(&ev, PM_EVS_OS_VERSION, "17.2.1", 6);
    pm_event_set(&ev, PM_EVS_SUB1, "zone-1", 6);
    ev.visitor_id.b[0] = 1;
    route_one(f, &ev, &qs, &ip, true, false);
    route_one(f, &ev, &qs, &ip, true, true);
    pm_event_set(&ev, PM_EVS_BOT_REASON, "ua_crawler", 10);
    route_one(f, &ev, &qs, &ip, false, false);
    pm_qs_free(&qs);
    pm_flow_free(f);
    return 0;
}

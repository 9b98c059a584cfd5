/*
 * fuzz_track.c: hostile requests against the tracking handlers. The input is
 * split on 0xFF bytes into query string, cookie, user agent,
 * X-Forwarded-For, body and path token; each run sends them to the click,
 * impression, postback, pixel and /go handlers over a real store and
 * journal, with the visitor detectors on. Invariants: no crash or sanitizer report; clicks always answer
 * 302 with a Location that holds no control characters or spaces; pixels
 * always answer a GIF.
 */
#include "pm/text.h"
#include "pm/track.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64], jdir[128];
static pm_store_t *store;
static pm_config_t *cfg;
static pm_journal_t *journal;
static pm_track_shared_t shared;
static pm_track_t *track;
static unsigned long runs;

static void open_journal(void)
{
    pm_journal_config_t jc = {.dir = jdir, .lineage = 0, .segment_max = 1u << 20, .sync_interval_us = 100000};
    if (pm_journal_open(&jc, &journal) != PM_OK) abort();
    track = pm_track_create(journal, store, &shared);
}

/* Journals of a long run would fill the disk: start over now and then. */
static void recycle_journal(void)
{
    pm_track_destroy(track);
    pm_journal_close(journal);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -f %s/*.pmj", jdir);
    if (system(cmd) != 0) abort();
    open_journal();
}

static void init(void)
{
    char db[128];
    strcpy(dir, "/tmp/pm-fuzz-track-XXXXXX");
    if (!mkdtemp(dir)) abort();
    snprintf(db, sizeof(db), "%s/db", dir);
    snprintf(jdir, sizeof(jdir), "%s/journal", dir);
    pm_log_set_level(PM_LOG_ERROR + 1);
    if (pm_store_open(db, &store) != PM_OK) abort();
    if (pm_store_exec(store,
                      "INSERT INTO traffic_sources(id,name,created_at,updated_at) VALUES(1,'s',0,0);"
                      "INSERT INTO offers(id,name,url,payout_type,payout_micros,payout_currency,created_at,"
                      " updated_at) VALUES(1,'o','https://o.example/?c={clickid}&s={sub1}&e={external_id}"
                      "&u={utm_term}&{','cpa',1000000,'USD',0,0);"
                      "INSERT INTO campaigns(id,name,token,traffic_source_id,offer_id,cost_model,cost_micros,"
                      " cost_currency,created_at,updated_at) VALUES(1,'c','t',1,1,'cpa',1,'USD',0,0);") != PM_OK)
        abort();
    if (pm_config_load(store, "http://f.example", &cfg) != PM_OK) abort();
    shared.clicks = pm_recent_create(4096);
    shared.conversions = pm_recent_create(4096);
    /* The visitor detectors as `perfmark serve` runs them (a low velocity
     * limit, so that path is taken too). */
    pm_detect_config_t dc = {.velocity_limit = 3, .ua_cache_entries = 64};
    if (pm_detect_create(&dc, &shared.detect) != PM_OK) abort();
    open_journal();
}

static void check_location(const pm_http_res_t *res)
{
    if (res->status != 302) abort();
    for (size_t i = 0; i < res->nheaders; i++) {
        if (strcmp(res->headers[i].name, "location") != 0) continue;
        for (size_t j = 0; j < res->headers[i].len; j++)
            if ((unsigned char)res->headers[i].value[j] <= 0x20 || res->headers[i].value[j] == 0x7f) abort();
        return;
    }
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (store == NULL) init();
    if (++runs % 20000 == 0) recycle_journal();
    pm_slice_t part[6] = {{0}};
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 6; i++) {
        if (i == size || data[i] == 0xff) {
            part[n++] = (pm_slice_t){(const char *)data + start, i - start};
            start = i + 1;
        }
    }
    pm_http_req_t req = {.method = {"GET", 3}, .query = part[0], .cookie = part[1], .user_agent = part[2],
                         .x_forwarded_for = part[3], .body = part[4]};
    (void)pm_ip_parse("127.0.0.1", 9, &req.peer);
    pm_slice_t token = part[5].len ? part[5] : (pm_slice_t){"t", 1};
    pm_http_res_t res;

    pm_http_res_init(&res);
    pm_track_click(track, cfg, &req, token, &res);
    check_location(&res);
    pm_http_res_free(&res);

    pm_http_res_init(&res);
    pm_track_impression(track, cfg, &req, token, &res);
    pm_http_res_free(&res);

    pm_http_res_init(&res);
    pm_track_conversion(track, cfg, &req, false, &res);
    if (res.status == 0) abort();
    pm_http_res_free(&res);

    pm_http_res_init(&res);
    pm_track_conversion(track, cfg, &req, true, &res);
    if (res.status != 200 || res.body.len != sizeof(pm_track_gif)) abort();
    pm_http_res_free(&res);

    pm_http_res_init(&res);
    pm_track_go(track, cfg, &req, &res);
    check_location(&res);
    pm_http_res_free(&res);
    return 0;
}

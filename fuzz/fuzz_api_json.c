/*
 * fuzz_api_json.c: arbitrary bytes as the JSON body of the admin API's
 * writes: POST /api/v1/campaigns, POST /api/v1/offers, PATCH
 * /api/v1/settings and PATCH /api/v1/campaigns/1, over one store created on
 * first use in a temporary directory (removed at exit) that holds a source,
 * an offer, a lander and a campaign for the bodies to reference, and is
 * reset to that after every input.
 *
 * Beyond memory safety it checks what clients rely on: every answer has a
 * status the API documents, a JSON body, and on errors the
 * {"error":{"code","message","field"}} shape; and no transaction is left
 * open behind a request.
 */
#include "pm/api.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct {
    char dir[64], path[128];
    pm_store_t *store;
    pm_confhold_t *hold;
    pm_config_t *cur;
    pm_api_t *api;
    char auth[128];
} g;

static void cleanup(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    pm_api_destroy(g.api);
    pm_config_release(g.cur);
    pm_confhold_destroy(g.hold);
    pm_store_close(g.store);
    for (size_t i = 0; i < PM_ARRAY_LEN(suffixes); i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", g.path, suffixes[i]);
        unlink(p);
    }
    rmdir(g.dir);
}

static void must(int rc, const char *what)
{
    if (rc == PM_OK) return;
    fprintf(stderr, "fuzz_api_json: %s failed: %s\n", what, pm_strerror(rc));
    abort();
}

static const char seed_sql[] =
    "INSERT INTO traffic_sources(name, created_at, updated_at) VALUES('src', 0, 0);"
    "INSERT INTO offers(name, url, payout_type, payout_micros, payout_currency, created_at, updated_at)"
    " VALUES('offer', 'https://o.example/', 'cpa', 1000000, 'USD', 0, 0);"
    "INSERT INTO landers(name, url, created_at, updated_at) VALUES('lander', 'https://l.example/', 0, 0);"
    "INSERT INTO campaigns(name, token, traffic_source_id, offer_id, cost_model, cost_micros, cost_currency,"
    " created_at, updated_at) VALUES('camp', 'seedtoken', 1, 1, 'cpc', 10000, 'USD', 0, 0);";

/* Back to the seeded state after each input, so an input's outcome does
 * not depend on the ones before it (libFuzzer assumes determinism) and the
 * store does not grow for the length of the run. */
static const char reset_sql[] =
    "DELETE FROM campaigns WHERE id>1;"
    "UPDATE campaigns SET name='camp', token='seedtoken', status='active', traffic_source_id=1, offer_id=1,"
    " lander_id=NULL, cost_model='cpc', cost_micros=10000, cost_currency='USD', deleted_at=NULL,"
    " budget_daily_micros=NULL, budget_total_micros=NULL, budget_currency=NULL, fallback_url='' WHERE id=1;"
    "DELETE FROM offers WHERE id>1;"
    "DELETE FROM settings;"
    "UPDATE sqlite_sequence SET seq=1 WHERE name IN ('offers','campaigns');";

static void reset(void)
{
    must(pm_store_exec(g.store, reset_sql), "reset");
    must(pm_confhold_reload(g.hold, g.store), "reload");
}

static void init(void)
{
    char *key = NULL;
    pm_config_t *cfg = NULL;
    pm_log_set_level(PM_LOG_ERROR); /* store errors would be bugs: keep them */
    snprintf(g.dir, sizeof(g.dir), "/tmp/pm_fuzz_api_XXXXXX");
    if (mkdtemp(g.dir) == NULL) abort();
    snprintf(g.path, sizeof(g.path), "%s/store.db", g.dir);
    must(pm_store_open(g.path, &g.store), "store open");
    must(pm_store_exec(g.store, "PRAGMA synchronous=OFF"), "pragma");
    must(pm_store_exec(g.store, seed_sql), "seed");
    must(pm_store_key_create(g.store, "admin", "fuzz", &key), "key");
    snprintf(g.auth, sizeof(g.auth), "Bearer %s", key);
    pm_free(key);
    must(pm_config_load(g.store, "http://127.0.0.1:8080", &cfg), "config load");
    g.hold = pm_confhold_create(cfg);
    pm_api_config_t ac = {.store = g.store, .confhold = g.hold};
    g.api = pm_api_create(&ac);
    atexit(cleanup);
}

static bool documented(int status)
{
    static const int ok[] = {200, 201, 204, 400, 404, 409, 422};
    for (size_t i = 0; i < PM_ARRAY_LEN(ok); i++)
        if (status == ok[i]) return true;
    return false;
}

static void check(const pm_http_res_t *res)
{
    if (!documented(res->status)) abort();
    if (!sqlite3_get_autocommit(pm_store_db(g.store))) abort();
    if (res->status == 204) return;
    json_error_t err;
    json_t *doc = json_loadb(res->body.data, res->body.len, 0, &err);
    if (!json_is_object(doc)) abort();
    if (res->status >= 400) {
        json_t *e = json_object_get(doc, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        /* "internal" is also what pm_http_res_error falls back to when a
         * message does not serialize: neither may happen here. */
        if (code == NULL || strcmp(code, "internal") == 0) abort();
        if (!json_is_string(json_object_get(e, "message"))) abort();
        json_t *field = json_object_get(e, "field");
        if (!json_is_string(field) && !json_is_null(field)) abort();
    }
    json_decref(doc);
}

static void run(const char *method, const char *path, const uint8_t *data, size_t size)
{
    pm_http_req_t req;
    pm_http_res_t res;
    memset(&req, 0, sizeof(req));
    req.method = (pm_slice_t){method, strlen(method)};
    req.path = (pm_slice_t){path, strlen(path)};
    req.query = (pm_slice_t){"", 0};
    req.body = (pm_slice_t){(const char *)data, size};
    req.authorization = (pm_slice_t){g.auth, strlen(g.auth)};
    pm_http_res_init(&res);
    pm_confhold_refresh(g.hold, &g.cur);
    pm_api_handle(g.api, g.cur, &req, &res);
    check(&res);
    pm_http_res_free(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g.api == NULL) init();
    run("POST", "/api/v1/campaigns", data, size);
    run("POST", "/api/v1/offers", data, size);
    run("PATCH", "/api/v1/settings", data, size);
    run("PATCH", "/api/v1/campaigns/1", data, size);
    reset();
    return 0;
}

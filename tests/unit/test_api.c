/*
 * test_api.c: the admin REST API, driven through pm_api_handle with
 * hand-built requests over a real SQLite store in a temporary directory
 * (a fresh one per test). Covers authentication and roles, routing answers
 * (404/405), full CRUD of every entity kind, paging, the validation errors
 * a client will meet (each naming its field), soft deletes and the 409 on
 * referenced rows, the campaign URLs and the configuration reload, settings,
 * API keys and the event listing over rows inserted with SQL.
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
#include <jansson.h>
#include <sqlite3.h>

#include "pm/api.h"
#include "pm/id.h"

#define BASE_URL "http://127.0.0.1:8080"

typedef struct fixture_s {
    char dir[64];
    char path[128];
    pm_store_t *store;
    pm_confhold_t *hold;
    pm_config_t *cur;
    pm_api_t *api;
    char *admin, *viewer;
} fixture_t;

/* --- fixture ----------------------------------------------------------- */

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    pm_config_t *cfg = NULL;
    snprintf(f->dir, sizeof(f->dir), "/tmp/pm_test_api_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
    assert_int_equal(pm_store_open(f->path, &f->store), PM_OK);
    assert_int_equal(pm_store_exec(f->store, "PRAGMA synchronous=OFF"), PM_OK);
    assert_int_equal(pm_store_key_create(f->store, "admin", "test", &f->admin), PM_OK);
    assert_int_equal(pm_store_key_create(f->store, "viewer", NULL, &f->viewer), PM_OK);
    assert_int_equal(pm_config_load(f->store, BASE_URL, &cfg), PM_OK);
    f->hold = pm_confhold_create(cfg);
    pm_api_config_t ac = {.store = f->store, .confhold = f->hold};
    f->api = pm_api_create(&ac);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    pm_api_destroy(f->api);
    pm_config_release(f->cur);
    pm_confhold_destroy(f->hold);
    pm_store_close(f->store);
    for (size_t i = 0; i < 4; i++) {
        char p[160];
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    pm_free(f->admin);
    pm_free(f->viewer);
    free(f);
    return 0;
}

/* --- requests ---------------------------------------------------------- */

static pm_slice_t slice(const char *s) { return (pm_slice_t){s, s ? strlen(s) : 0}; }

/* Run `method url` (url may hold "?query") with `body` and API key `key`
 * (NULL: no Authorization). The response is left in *res for the caller
 * to inspect and pm_http_res_free. */
static void call_res(fixture_t *f, const char *method, const char *url, const char *body, const char *key,
                     pm_http_res_t *res)
{
    char auth[128];
    pm_http_req_t req;
    memset(&req, 0, sizeof(req));
    const char *q = strchr(url, '?');
    req.method = slice(method);
    req.path = (pm_slice_t){url, q ? (size_t)(q - url) : strlen(url)};
    req.query = q ? slice(q + 1) : (pm_slice_t){"", 0};
    req.body = slice(body);
    if (key) {
        snprintf(auth, sizeof(auth), "Bearer %s", key);
        req.authorization = slice(auth);
    }
    pm_http_res_init(res);
    pm_confhold_refresh(f->hold, &f->cur);
    pm_api_handle(f->api, f->cur, &req, res);
}

/* As call_res with the admin key; returns the status and the parsed body
 * (NULL when empty) in *out (the caller json_decref()s it). */
static int call_as(fixture_t *f, const char *key, const char *method, const char *url, const char *body,
                   json_t **out)
{
    pm_http_res_t res;
    call_res(f, method, url, body, key, &res);
    int status = res.status;
    json_t *doc = NULL;
    if (res.body.len) {
        json_error_t err;
        assert_string_equal(res.content_type, "application/json");
        doc = json_loadb(res.body.data, res.body.len, 0, &err);
        if (doc == NULL) fail_msg("response is not JSON: %s", pm_buf_str(&res.body));
    }
    pm_http_res_free(&res);
    if (out)
        *out = doc;
    else
        json_decref(doc);
    return status;
}

static int call(fixture_t *f, const char *method, const char *url, const char *body, json_t **out)
{
    return call_as(f, f->admin, method, url, body, out);
}

/* Assert `status` and the error body's code and field (NULL: null). */
static void expect_error(fixture_t *f, const char *method, const char *url, const char *body, int status,
                         const char *code, const char *field)
{
    json_t *doc = NULL;
    int got = call(f, method, url, body, &doc);
    if (got != status) fail_msg("%s %s %s: status %d, want %d", method, url, body ? body : "", got, status);
    json_t *err = json_object_get(doc, "error");
    assert_non_null(err);
    assert_string_equal(json_string_value(json_object_get(err, "code")), code);
    assert_non_null(json_string_value(json_object_get(err, "message")));
    json_t *fj = json_object_get(err, "field");
    if (field)
        assert_string_equal(json_string_value(fj), field);
    else
        assert_true(json_is_null(fj));
    json_decref(doc);
}

static const char *str_at(json_t *doc, const char *path)
{
    json_t *j = json_object_get(doc, path);
    return json_string_value(j);
}

static int64_t create(fixture_t *f, const char *url, const char *body)
{
    json_t *doc = NULL;
    int status = call(f, "POST", url, body, &doc);
    if (status != 201) fail_msg("POST %s %s: %d", url, body, status);
    int64_t id = json_integer_value(json_object_get(doc, "id"));
    assert_true(id > 0);
    json_decref(doc);
    return id;
}

static int64_t make_source(fixture_t *f)
{
    return create(f, "/api/v1/traffic-sources", "{\"name\":\"Src\"}");
}

static int64_t make_offer(fixture_t *f)
{
    return create(f, "/api/v1/offers",
                  "{\"name\":\"Offer\",\"url\":\"https://offer.example/?c={clickid}\","
                  "\"payout\":{\"type\":\"cpa\",\"amount\":\"12.5\",\"currency\":\"usd\"}}");
}

static int64_t make_campaign(fixture_t *f, int64_t source, int64_t offer, const char *extra)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"Camp\",\"traffic_source_id\":%lld,\"destination\":{\"offer_id\":%lld},"
             "\"cost\":{\"model\":\"cpc\",\"amount\":\"0.05\",\"currency\":\"EUR\"}%s}",
             (long long)source, (long long)offer, extra ? extra : "");
    return create(f, "/api/v1/campaigns", body);
}

/* --- auth and routing -------------------------------------------------- */

static void test_auth(void **state)
{
    fixture_t *f = *state;
    pm_http_res_t res;
    call_res(f, "GET", "/api/v1/offers", NULL, NULL, &res);
    assert_int_equal(res.status, 401);
    assert_true(res.nheaders >= 1);
    assert_string_equal(res.headers[0].name, "www-authenticate");
    pm_http_res_free(&res);
    assert_int_equal(call_as(f, "pm_nope", "GET", "/api/v1/offers", NULL, NULL), 401);
    assert_int_equal(call_as(f, "", "GET", "/api/v1/offers", NULL, NULL), 401);

    /* The scheme is case-insensitive; spaces around the key do not matter. */
    char auth[128];
    pm_http_req_t req;
    memset(&req, 0, sizeof(req));
    snprintf(auth, sizeof(auth), "bearer  %s ", f->admin);
    req.method = slice("GET");
    req.path = slice("/api/v1/settings");
    req.authorization = slice(auth);
    pm_http_res_init(&res);
    pm_confhold_refresh(f->hold, &f->cur);
    pm_api_handle(f->api, f->cur, &req, &res);
    assert_int_equal(res.status, 200);
    pm_http_res_free(&res);
    req.authorization = slice("Basic YWRtaW46YWRtaW4=");
    pm_http_res_init(&res);
    pm_api_handle(f->api, f->cur, &req, &res);
    assert_int_equal(res.status, 401);
    pm_http_res_free(&res);

    json_t *doc = NULL;
    assert_int_equal(call_as(f, f->viewer, "GET", "/api/v1/offers", NULL, &doc), 200);
    json_decref(doc);
    assert_int_equal(call_as(f, f->viewer, "HEAD", "/api/v1/settings", NULL, NULL), 200);
    assert_int_equal(call_as(f, f->viewer, "POST", "/api/v1/offers", "{}", &doc), 403);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "error"), "code")), "forbidden");
    json_decref(doc);
    assert_int_equal(call_as(f, f->viewer, "PATCH", "/api/v1/settings", "{}", NULL), 403);
    assert_int_equal(call_as(f, f->viewer, "POST", "/api/v1/keys", "{\"role\":\"admin\"}", NULL), 403);
    /* Unknown paths still need a key: nothing is revealed before auth. */
    assert_int_equal(call_as(f, NULL, "GET", "/api/v1/nope", NULL, NULL), 401);
}

static void test_routing(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "GET", "/api/v1/nope", NULL, 404, "not_found", NULL);
    expect_error(f, "GET", "/api/v1", NULL, 404, "not_found", NULL);
    expect_error(f, "GET", "/api/v1/", NULL, 404, "not_found", NULL);
    expect_error(f, "GET", "/api/v1/offers/abc", NULL, 404, "not_found", NULL);
    expect_error(f, "GET", "/api/v1/offers/-1", NULL, 404, "not_found", NULL);
    expect_error(f, "GET", "/api/v1/offers/0", NULL, 404, "not_found", NULL);
    expect_error(f, "GET", "/api/v1/offers/99999999999999999999", NULL, 404, "not_found", NULL);
    expect_error(f, "GET", "/api/v1/offers/42", NULL, 404, "not_found", NULL);
    expect_error(f, "DELETE", "/api/v1/offers/42", NULL, 404, "not_found", NULL);
    expect_error(f, "PATCH", "/api/v1/offers/42", "{}", 404, "not_found", NULL);
    expect_error(f, "GET", "/api/v1/offers/1/x", NULL, 404, "not_found", NULL);
    expect_error(f, "GET", "/api/v1/settings/1", NULL, 404, "not_found", NULL);

    pm_http_res_t res;
    call_res(f, "DELETE", "/api/v1/offers", NULL, f->admin, &res);
    assert_int_equal(res.status, 405);
    bool found = false;
    for (size_t i = 0; i < res.nheaders; i++) {
        if (strcmp(res.headers[i].name, "allow") != 0) continue;
        assert_string_equal(res.headers[i].value, "GET, HEAD, POST");
        found = true;
    }
    assert_true(found);
    pm_http_res_free(&res);
    expect_error(f, "POST", "/api/v1/offers/1", "{}", 405, "method_not_allowed", NULL);
    expect_error(f, "PUT", "/api/v1/keys", NULL, 405, "method_not_allowed", NULL);
    expect_error(f, "BREW", "/api/v1/settings", NULL, 405, "method_not_allowed", NULL);
}

/* --- CRUD -------------------------------------------------------------- */

static void test_source_crud(void **state)
{
    fixture_t *f = *state;
    json_t *doc = NULL;
    pm_http_res_t res;
    call_res(f, "POST", "/api/v1/traffic-sources", "{\"name\":\"First\"}", f->admin, &res);
    assert_int_equal(res.status, 201);
    assert_int_equal(res.nheaders, 1);
    assert_string_equal(res.headers[0].name, "location");
    assert_string_equal(res.headers[0].value, "/api/v1/traffic-sources/1");
    pm_http_res_free(&res);
    assert_int_equal(call(f, "DELETE", "/api/v1/traffic-sources/1", NULL, NULL), 204);
    assert_int_equal(call(f, "PATCH", "/api/v1/traffic-sources/1", "{}", NULL), 404);

    assert_int_equal(call(f, "POST", "/api/v1/traffic-sources",
                          "{\"name\":\"Push \xc3\xa9\",\"postback_url\":\"https://src.example/pb?c={clickid}\"}", &doc),
                     201);
    int64_t id = json_integer_value(json_object_get(doc, "id"));
    assert_string_equal(str_at(doc, "name"), "Push \xc3\xa9");
    assert_string_equal(str_at(doc, "postback_url"), "https://src.example/pb?c={clickid}");
    assert_int_equal(strlen(str_at(doc, "created_at")), 27);
    assert_non_null(str_at(doc, "updated_at"));
    json_decref(doc);

    char url[64];
    snprintf(url, sizeof(url), "/api/v1/traffic-sources/%lld", (long long)id);
    assert_int_equal(call(f, "GET", url, NULL, &doc), 200);
    assert_string_equal(str_at(doc, "name"), "Push \xc3\xa9");
    json_decref(doc);

    assert_int_equal(call(f, "PATCH", url, "{}", NULL), 200);
    assert_int_equal(call_as(f, f->viewer, "HEAD", url, NULL, NULL), 200);
    expect_error(f, "GET", "/api/v1/traffic-sources/1?x=1", NULL, 422, "unknown_field", "x");
    assert_int_equal(call(f, "PATCH", url, "{\"name\":\"Renamed\"}", &doc), 200);
    assert_string_equal(str_at(doc, "name"), "Renamed");
    assert_string_equal(str_at(doc, "postback_url"), "https://src.example/pb?c={clickid}");
    json_decref(doc);

    /* PUT replaces: the omitted optional postback_url goes back to "". */
    assert_int_equal(call(f, "PUT", url, "{\"name\":\"Replaced\"}", &doc), 200);
    assert_string_equal(str_at(doc, "postback_url"), "");
    json_decref(doc);
    expect_error(f, "PUT", url, "{\"postback_url\":\"\"}", 422, "required", "name");

    assert_int_equal(call(f, "DELETE", url, NULL, &doc), 204);
    assert_null(doc);
    expect_error(f, "GET", url, NULL, 404, "not_found", NULL);
    expect_error(f, "DELETE", url, NULL, 404, "not_found", NULL);
    assert_int_equal(call(f, "GET", "/api/v1/traffic-sources", NULL, &doc), 200);
    assert_int_equal(json_array_size(json_object_get(doc, "rows")), 0);
    json_decref(doc);
}

static void test_offer_crud(void **state)
{
    fixture_t *f = *state;
    int64_t id = make_offer(f);
    char url[64];
    json_t *doc = NULL;
    snprintf(url, sizeof(url), "/api/v1/offers/%lld", (long long)id);
    assert_int_equal(call(f, "GET", url, NULL, &doc), 200);
    json_t *payout = json_object_get(doc, "payout");
    assert_string_equal(str_at(payout, "type"), "cpa");
    assert_string_equal(str_at(payout, "amount"), "12.50");
    assert_string_equal(str_at(payout, "currency"), "USD");
    assert_string_equal(str_at(doc, "url"), "https://offer.example/?c={clickid}");
    json_decref(doc);

    /* A merge patch of one nested member keeps its siblings. */
    assert_int_equal(call(f, "PATCH", url, "{\"payout\":{\"amount\":\"3.123456\"}}", &doc), 200);
    payout = json_object_get(doc, "payout");
    assert_string_equal(str_at(payout, "amount"), "3.123456");
    assert_string_equal(str_at(payout, "type"), "cpa");
    json_decref(doc);

    expect_error(f, "PUT", url, "{\"name\":\"O\",\"url\":\"https://o.example/\",\"payout\":{\"type\":\"cpl\"}}", 422,
                 "required", "payout.amount");
    assert_int_equal(call(f, "PUT", url,
                          "{\"name\":\"O2\",\"url\":\"https://o.example/\","
                          "\"payout\":{\"type\":\"cpl\",\"amount\":\"0\","
                          "\"currency\":\"EUR\"}}",
                          &doc),
                     200);
    payout = json_object_get(doc, "payout");
    assert_string_equal(str_at(payout, "amount"), "0.00");
    assert_string_equal(str_at(payout, "currency"), "EUR");
    assert_string_equal(str_at(doc, "name"), "O2");
    json_decref(doc);

    /* The tracking configuration was reloaded with the write. */
    pm_confhold_refresh(f->hold, &f->cur);
    const pm_offer_t *o = pm_config_offer_by_id(f->cur, id);
    assert_non_null(o);
    assert_string_equal(o->name, "O2");

    assert_int_equal(call(f, "DELETE", url, NULL, NULL), 204);
    pm_confhold_refresh(f->hold, &f->cur);
    assert_null(pm_config_offer_by_id(f->cur, id));
}

static void test_lander_crud(void **state)
{
    fixture_t *f = *state;
    json_t *doc = NULL;
    int64_t id = create(f, "/api/v1/landers", "{\"name\":\"L\",\"url\":\"http://lp.example/a?b={sub1}\"}");
    char url[64];
    snprintf(url, sizeof(url), "/api/v1/landers/%lld", (long long)id);
    assert_int_equal(call(f, "PATCH", url, "{\"url\":\"https://lp.example/b\"}", &doc), 200);
    assert_string_equal(str_at(doc, "url"), "https://lp.example/b");
    assert_string_equal(str_at(doc, "name"), "L");
    json_decref(doc);
    assert_int_equal(call(f, "PUT", url, "{\"name\":\"L2\",\"url\":\"https://lp.example/c\"}", &doc), 200);
    assert_string_equal(str_at(doc, "name"), "L2");
    json_decref(doc);
    expect_error(f, "PUT", url, "{\"name\":\"L2\"}", 422, "required", "url");
    assert_int_equal(call(f, "DELETE", url, NULL, NULL), 204);
    expect_error(f, "PATCH", url, "{\"name\":\"x\"}", 404, "not_found", NULL);
}

static bool is_base32_lower(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '2' && *s <= '7'))) return false;
    return true;
}

static void test_campaign_crud(void **state)
{
    fixture_t *f = *state;
    int64_t src = make_source(f), offer = make_offer(f);
    int64_t lander = create(f, "/api/v1/landers", "{\"name\":\"L\",\"url\":\"https://lp.example/\"}");
    int64_t id = make_campaign(f, src, offer, NULL);
    char url[64], want[128];
    json_t *doc = NULL;
    snprintf(url, sizeof(url), "/api/v1/campaigns/%lld", (long long)id);
    assert_int_equal(call(f, "GET", url, NULL, &doc), 200);
    const char *token = str_at(doc, "token");
    assert_int_equal(strlen(token), 10);
    assert_true(is_base32_lower(token));
    snprintf(want, sizeof(want), BASE_URL "/c/%s", token);
    assert_string_equal(str_at(doc, "tracking_url"), want);
    snprintf(want, sizeof(want), BASE_URL "/i/%s", token);
    assert_string_equal(str_at(doc, "impression_url"), want);
    assert_string_equal(str_at(doc, "postback_url"), BASE_URL "/pb?clickid={clickid}&payout={payout}&txid={txid}");
    assert_string_equal(str_at(doc, "status"), "active");
    assert_int_equal(json_integer_value(json_object_get(doc, "traffic_source_id")), src);
    json_t *dest = json_object_get(doc, "destination");
    assert_int_equal(json_integer_value(json_object_get(dest, "offer_id")), offer);
    assert_true(json_is_null(json_object_get(dest, "lander_id")));
    json_t *cost = json_object_get(doc, "cost");
    assert_string_equal(str_at(cost, "model"), "cpc");
    assert_string_equal(str_at(cost, "amount"), "0.05");
    assert_string_equal(str_at(cost, "currency"), "EUR");
    char saved_token[16];
    snprintf(saved_token, sizeof(saved_token), "%s", token);
    json_decref(doc);

    /* The tracking path sees the campaign by token at once. */
    pm_confhold_refresh(f->hold, &f->cur);
    const pm_campaign_t *k = pm_config_campaign_by_token(f->cur, saved_token, strlen(saved_token));
    assert_non_null(k);
    assert_int_equal(k->id, id);
    assert_true(k->active);

    char body[256];
    snprintf(body, sizeof(body), "{\"status\":\"paused\",\"destination\":{\"lander_id\":%lld}}", (long long)lander);
    assert_int_equal(call(f, "PATCH", url, body, &doc), 200);
    assert_string_equal(str_at(doc, "status"), "paused");
    dest = json_object_get(doc, "destination");
    assert_int_equal(json_integer_value(json_object_get(dest, "offer_id")), offer);
    assert_int_equal(json_integer_value(json_object_get(dest, "lander_id")), lander);
    json_decref(doc);
    pm_confhold_refresh(f->hold, &f->cur);
    k = pm_config_campaign_by_token(f->cur, saved_token, strlen(saved_token));
    assert_false(k->active);
    assert_non_null(k->lander);

    /* PUT without a token keeps the live links working. */
    snprintf(body, sizeof(body),
             "{\"name\":\"C2\",\"traffic_source_id\":%lld,\"destination\":{\"lander_id\":%lld},"
             "\"cost\":{\"model\":\"cpm\",\"amount\":\"1.5\",\"currency\":\"USD\"}}",
             (long long)src, (long long)lander);
    assert_int_equal(call(f, "PUT", url, body, &doc), 200);
    assert_string_equal(str_at(doc, "token"), saved_token);
    assert_string_equal(str_at(doc, "status"), "active");
    assert_true(json_is_null(json_object_get(json_object_get(doc, "destination"), "offer_id")));
    json_decref(doc);

    /* Chosen tokens, and their uniqueness. */
    int64_t id2 = make_campaign(f, src, offer, ",\"token\":\"spring-sale_1\"");
    assert_true(id2 > id);
    snprintf(body, sizeof(body),
             "{\"name\":\"C3\",\"traffic_source_id\":%lld,\"destination\":{\"offer_id\":%lld},"
             "\"cost\":{\"model\":\"cpa\",\"amount\":\"2\",\"currency\":\"USD\"},\"token\":\"spring-sale_1\"}",
             (long long)src, (long long)offer);
    expect_error(f, "POST", "/api/v1/campaigns", body, 409, "conflict", "token");
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", saved_token);
    char url2[64];
    snprintf(url2, sizeof(url2), "/api/v1/campaigns/%lld", (long long)id2);
    expect_error(f, "PATCH", url2, body, 409, "conflict", "token");
    assert_int_equal(call(f, "PATCH", url2, "{\"token\":\"spring-sale_1\"}", NULL), 200); /* its own */

    assert_int_equal(call(f, "DELETE", url, NULL, NULL), 204);
    expect_error(f, "GET", url, NULL, 404, "not_found", NULL);
    pm_confhold_refresh(f->hold, &f->cur);
    assert_null(pm_config_campaign_by_token(f->cur, saved_token, strlen(saved_token)));
    /* A deleted campaign's token is not handed to a new one. */
    snprintf(body, sizeof(body), ",\"token\":\"%s\"", saved_token);
    char full[512];
    snprintf(full, sizeof(full),
             "{\"name\":\"C4\",\"traffic_source_id\":%lld,\"destination\":{\"offer_id\":%lld},"
             "\"cost\":{\"model\":\"cpc\",\"amount\":\"1\",\"currency\":\"USD\"}%s}",
             (long long)src, (long long)offer, body);
    expect_error(f, "POST", "/api/v1/campaigns", full, 409, "conflict", "token");
}

static void test_campaign_references(void **state)
{
    fixture_t *f = *state;
    int64_t src = make_source(f), offer = make_offer(f);
    char body[512];
    const char *cost = "\"cost\":{\"model\":\"cpc\",\"amount\":\"0.05\",\"currency\":\"USD\"}";
    snprintf(body, sizeof(body), "{\"name\":\"C\",\"traffic_source_id\":999,\"destination\":{\"offer_id\":%lld},%s}",
             (long long)offer, cost);
    expect_error(f, "POST", "/api/v1/campaigns", body, 422, "not_found", "traffic_source_id");
    snprintf(body, sizeof(body), "{\"name\":\"C\",\"traffic_source_id\":%lld,\"destination\":{\"offer_id\":777},%s}",
             (long long)src, cost);
    expect_error(f, "POST", "/api/v1/campaigns", body, 422, "not_found", "destination.offer_id");
    snprintf(body, sizeof(body), "{\"name\":\"C\",\"traffic_source_id\":%lld,\"destination\":{\"lander_id\":5},%s}",
             (long long)src, cost);
    expect_error(f, "POST", "/api/v1/campaigns", body, 422, "not_found", "destination.lander_id");
    snprintf(body, sizeof(body), "{\"name\":\"C\",\"traffic_source_id\":%lld,\"destination\":{},%s}", (long long)src,
             cost);
    expect_error(f, "POST", "/api/v1/campaigns", body, 422, "required", "destination");
    snprintf(body, sizeof(body), "{\"name\":\"C\",\"traffic_source_id\":%lld,%s}", (long long)src, cost);
    expect_error(f, "POST", "/api/v1/campaigns", body, 422, "required", "destination");
    snprintf(body, sizeof(body),
             "{\"name\":\"C\",\"traffic_source_id\":\"%lld\",\"destination\":{\"offer_id\":%lld},%s}",
             (long long)src, (long long)offer, cost);
    expect_error(f, "POST", "/api/v1/campaigns", body, 422, "invalid", "traffic_source_id");

    /* A deleted source cannot be referenced. */
    int64_t src2 = make_source(f);
    char url[64];
    snprintf(url, sizeof(url), "/api/v1/traffic-sources/%lld", (long long)src2);
    assert_int_equal(call(f, "DELETE", url, NULL, NULL), 204);
    snprintf(body, sizeof(body), "{\"name\":\"C\",\"traffic_source_id\":%lld,\"destination\":{\"offer_id\":%lld},%s}",
             (long long)src2, (long long)offer, cost);
    expect_error(f, "POST", "/api/v1/campaigns", body, 422, "not_found", "traffic_source_id");

    /* Removing the only destination of a campaign. */
    int64_t id = make_campaign(f, src, offer, NULL);
    snprintf(url, sizeof(url), "/api/v1/campaigns/%lld", (long long)id);
    expect_error(f, "PATCH", url, "{\"destination\":{\"offer_id\":null}}", 422, "required", "destination");
}

static void test_delete_referenced(void **state)
{
    fixture_t *f = *state;
    int64_t src = make_source(f), offer = make_offer(f);
    int64_t lander = create(f, "/api/v1/landers", "{\"name\":\"L\",\"url\":\"https://lp.example/\"}");
    int64_t id = make_campaign(f, src, offer, NULL);
    char url[64], body[128];
    snprintf(url, sizeof(url), "/api/v1/campaigns/%lld", (long long)id);
    snprintf(body, sizeof(body), "{\"destination\":{\"lander_id\":%lld}}", (long long)lander);
    assert_int_equal(call(f, "PATCH", url, body, NULL), 200);

    snprintf(url, sizeof(url), "/api/v1/traffic-sources/%lld", (long long)src);
    expect_error(f, "DELETE", url, NULL, 409, "conflict", "traffic_source_id");
    snprintf(url, sizeof(url), "/api/v1/offers/%lld", (long long)offer);
    expect_error(f, "DELETE", url, NULL, 409, "conflict", "destination.offer_id");
    snprintf(url, sizeof(url), "/api/v1/landers/%lld", (long long)lander);
    expect_error(f, "DELETE", url, NULL, 409, "conflict", "destination.lander_id");

    snprintf(url, sizeof(url), "/api/v1/campaigns/%lld", (long long)id);
    assert_int_equal(call(f, "DELETE", url, NULL, NULL), 204);
    snprintf(url, sizeof(url), "/api/v1/traffic-sources/%lld", (long long)src);
    assert_int_equal(call(f, "DELETE", url, NULL, NULL), 204);
    snprintf(url, sizeof(url), "/api/v1/offers/%lld", (long long)offer);
    assert_int_equal(call(f, "DELETE", url, NULL, NULL), 204);
}

/* --- validation -------------------------------------------------------- */

#define OFFER_WITH(payout) "{\"name\":\"O\",\"url\":\"https://o.example/\",\"payout\":" payout "}"

static void test_validation(void **state)
{
    fixture_t *f = *state;
    const char *offers = "/api/v1/offers";
    expect_error(f, "POST", offers, OFFER_WITH("{\"type\":\"cpa\",\"amount\":\"1.2345678\",\"currency\":\"USD\"}"), 422,
                 "invalid", "payout.amount");
    expect_error(f, "POST", offers, OFFER_WITH("{\"type\":\"cpa\",\"amount\":12.5,\"currency\":\"USD\"}"), 422,
                 "invalid", "payout.amount");
    expect_error(f, "POST", offers, OFFER_WITH("{\"type\":\"cpa\",\"amount\":12,\"currency\":\"USD\"}"), 422,
                 "invalid", "payout.amount");
    expect_error(f, "POST", offers, OFFER_WITH("{\"type\":\"cpa\",\"amount\":\"-1\",\"currency\":\"USD\"}"), 422,
                 "invalid", "payout.amount");
    expect_error(f, "POST", offers, OFFER_WITH("{\"type\":\"cpa\",\"amount\":\"1e3\",\"currency\":\"USD\"}"), 422,
                 "invalid", "payout.amount");
    expect_error(f, "POST", offers, OFFER_WITH("{\"type\":\"cpa\",\"amount\":\"1\",\"currency\":\"XYZ\"}"), 422,
                 "invalid", "payout.currency");
    expect_error(f, "POST", offers, OFFER_WITH("{\"type\":\"cpx\",\"amount\":\"1\",\"currency\":\"USD\"}"), 422,
                 "invalid", "payout.type");
    expect_error(f, "POST", offers, OFFER_WITH("{\"type\":\"cpa\",\"amount\":\"1\",\"currency\":\"USD\",\"rate\":1}"),
                 422, "unknown_field", "payout.rate");
    expect_error(f, "POST", offers, OFFER_WITH("\"12.50\""), 422, "invalid", "payout");
    expect_error(f, "POST", offers, "{\"name\":\"O\",\"url\":\"https://o.example/\"}", 422, "required", "payout");

    /* The message of a number amount tells the client what to send. */
    json_t *doc = NULL;
    assert_int_equal(
        call(f, "POST", offers, OFFER_WITH("{\"type\":\"cpa\",\"amount\":12.5,\"currency\":\"USD\"}"), &doc), 422);
    assert_non_null(strstr(str_at(json_object_get(doc, "error"), "message"), "string"));
    json_decref(doc);

    const char *sources = "/api/v1/traffic-sources";
    expect_error(f, "POST", sources, "{}", 422, "required", "name");
    expect_error(f, "POST", sources, "{\"name\":\"\"}", 422, "invalid", "name");
    expect_error(f, "POST", sources, "{\"name\":null}", 422, "invalid", "name");
    expect_error(f, "POST", sources, "{\"name\":5}", 422, "invalid", "name");
    expect_error(f, "POST", sources, "{\"name\":\"a\\u0001b\"}", 422, "invalid", "name");
    expect_error(f, "POST", sources, "{\"name\":\"S\",\"foo\":1}", 422, "unknown_field", "foo");
    expect_error(f, "POST", sources, "{\"name\":\"S\",\"id\":1}", 422, "unknown_field", "id");
    expect_error(f, "POST", sources, "{\"name\":\"S\",\"postback_url\":\"ftp://x.example/\"}", 422, "invalid",
                 "postback_url");
    expect_error(f, "POST", sources, "{\"name\":\"S\",\"postback_url\":\"http://exa mple.com/\"}", 422, "invalid",
                 "postback_url");
    expect_error(f, "POST", sources, "{\"name\":\"S\",\"postback_url\":\"https://\"}", 422, "invalid", "postback_url");

    char name[1024] = "{\"name\":\"";
    for (int i = 0; i < 200; i++)
        strcat(name, "\xc3\xa9"); /* 200 characters, 400 bytes: fine */
    strcat(name, "\"}");
    assert_int_equal(call(f, "POST", sources, name, NULL), 201);
    name[strlen(name) - 2] = '\0';
    strcat(name, "x\"}");
    expect_error(f, "POST", sources, name, 422, "invalid", "name");

    char long_url[2200] = "{\"name\":\"L\",\"url\":\"https://lp.example/";
    while (strlen(long_url) < 2100)
        strcat(long_url, "a");
    strcat(long_url, "\"}");
    expect_error(f, "POST", "/api/v1/landers", long_url, 422, "invalid", "url");
    expect_error(f, "POST", "/api/v1/landers", "{\"name\":\"L\",\"url\":\"https://lp.example/\xc3\xa9\"}", 422,
                 "invalid", "url");

    int64_t src = make_source(f), offer = make_offer(f);
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"C\",\"traffic_source_id\":%lld,\"destination\":{\"offer_id\":%lld},"
             "\"cost\":{\"model\":\"cpc\",\"amount\":\"0.05\",\"currency\":\"USD\",\"rate\":\"1\"}}",
             (long long)src, (long long)offer);
    expect_error(f, "POST", "/api/v1/campaigns", body, 422, "unknown_field", "cost.rate");
    snprintf(body, sizeof(body),
             "{\"name\":\"C\",\"traffic_source_id\":%lld,\"destination\":{\"offer_id\":%lld},"
             "\"cost\":{\"model\":\"cpx\",\"amount\":\"0.05\",\"currency\":\"USD\"}}",
             (long long)src, (long long)offer);
    expect_error(f, "POST", "/api/v1/campaigns", body, 422, "invalid", "cost.model");
    snprintf(body, sizeof(body),
             "{\"name\":\"C\",\"traffic_source_id\":%lld,\"destination\":{\"offer_id\":%lld},"
             "\"cost\":{\"model\":\"cpc\",\"amount\":\"0.05\",\"currency\":\"USD\"},\"token\":\"a b\"}",
             (long long)src, (long long)offer);
    expect_error(f, "POST", "/api/v1/campaigns", body, 422, "invalid", "token");
    snprintf(body, sizeof(body),
             "{\"name\":\"C\",\"traffic_source_id\":%lld,\"destination\":{\"offer_id\":%lld},"
             "\"cost\":{\"model\":\"cpc\",\"amount\":\"0.05\",\"currency\":\"USD\"},\"status\":\"stopped\"}",
             (long long)src, (long long)offer);
    expect_error(f, "POST", "/api/v1/campaigns", body, 422, "invalid", "status");
}

static void test_bad_json(void **state)
{
    fixture_t *f = *state;
    const char *url = "/api/v1/traffic-sources";
    expect_error(f, "POST", url, NULL, 400, "invalid_json", NULL);
    expect_error(f, "POST", url, "", 400, "invalid_json", NULL);
    expect_error(f, "POST", url, "[1,2]", 400, "invalid_json", NULL);
    expect_error(f, "POST", url, "\"name\"", 400, "invalid_json", NULL);
    expect_error(f, "POST", url, "{\"name\":\"a\",\"name\":\"b\"}", 400, "invalid_json", NULL);
    expect_error(f, "POST", url, "{\"name\":\"\xff\"}", 400, "invalid_json", NULL);
    json_t *doc = NULL;
    assert_int_equal(call(f, "POST", url, "{\n  \"name\": \"x\",\n  oops\n}", &doc), 400);
    const char *msg = str_at(json_object_get(doc, "error"), "message");
    assert_non_null(strstr(msg, "line 3"));
    assert_non_null(strstr(msg, "column"));
    json_decref(doc);
}

/* --- paging ------------------------------------------------------------ */

static void test_paging(void **state)
{
    fixture_t *f = *state;
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = create(f, "/api/v1/landers", "{\"name\":\"L\",\"url\":\"https://lp.example/\"}");
    char url[128];
    snprintf(url, sizeof(url), "/api/v1/landers/%lld", (long long)ids[2]);
    assert_int_equal(call(f, "DELETE", url, NULL, NULL), 204);

    json_t *doc = NULL;
    assert_int_equal(call(f, "GET", "/api/v1/landers?limit=2", NULL, &doc), 200);
    json_t *rows = json_object_get(doc, "rows");
    assert_int_equal(json_array_size(rows), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "id")), ids[0]);
    assert_int_equal(json_integer_value(json_object_get(doc, "next")), ids[1]);
    json_decref(doc);

    snprintf(url, sizeof(url), "/api/v1/landers?limit=2&after=%lld", (long long)ids[1]);
    assert_int_equal(call(f, "GET", url, NULL, &doc), 200);
    rows = json_object_get(doc, "rows");
    assert_int_equal(json_array_size(rows), 2); /* ids[2] is deleted */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "id")), ids[3]);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 1), "id")), ids[4]);
    assert_true(json_is_null(json_object_get(doc, "next")));
    json_decref(doc);

    assert_int_equal(call(f, "GET", "/api/v1/landers", NULL, &doc), 200);
    assert_int_equal(json_array_size(json_object_get(doc, "rows")), 4);
    assert_true(json_is_null(json_object_get(doc, "next")));
    json_decref(doc);

    expect_error(f, "GET", "/api/v1/landers?limit=0", NULL, 422, "invalid", "limit");
    expect_error(f, "GET", "/api/v1/landers?limit=1001", NULL, 422, "invalid", "limit");
    expect_error(f, "GET", "/api/v1/landers?limit=-1", NULL, 422, "invalid", "limit");
    expect_error(f, "GET", "/api/v1/landers?limit=1x", NULL, 422, "invalid", "limit");
    expect_error(f, "GET", "/api/v1/landers?limit=", NULL, 422, "invalid", "limit");
    expect_error(f, "GET", "/api/v1/landers?after=abc", NULL, 422, "invalid", "after");
    expect_error(f, "GET", "/api/v1/landers?after=99999999999999999999", NULL, 422, "invalid", "after");
    expect_error(f, "GET", "/api/v1/landers?limt=5", NULL, 422, "unknown_field", "limt");
    expect_error(f, "GET", "/api/v1/landers?limit=1&limit=2", NULL, 422, "invalid", "limit");
    assert_int_equal(call(f, "GET", "/api/v1/landers?limit=1000", NULL, NULL), 200);
}

/* --- settings and keys ------------------------------------------------- */

static void test_settings(void **state)
{
    fixture_t *f = *state;
    json_t *doc = NULL;
    assert_int_equal(call(f, "GET", "/api/v1/settings", NULL, &doc), 200);
    for (size_t i = 0; pm_store_setting_keys[i]; i++)
        assert_non_null(str_at(doc, pm_store_setting_keys[i]));
    assert_string_equal(str_at(doc, "timezone"), "UTC");
    assert_string_equal(str_at(doc, "postback_secret"), "");
    json_decref(doc);

    assert_int_equal(call(f, "PATCH", "/api/v1/settings",
                          "{\"base_url\":\"https://trk.example.com\",\"postback_secret\":\"s3cret\"}", &doc),
                     200);
    assert_string_equal(str_at(doc, "base_url"), "https://trk.example.com");
    assert_string_equal(str_at(doc, "postback_secret"), "***");
    json_decref(doc);

    /* "***" sent back leaves the secret alone. */
    assert_int_equal(call(f, "PATCH", "/api/v1/settings", "{\"postback_secret\":\"***\",\"cookie_days\":\"30\"}", NULL),
                     200);
    char *secret = NULL;
    assert_int_equal(pm_store_setting_get(f->store, "postback_secret", &secret), PM_OK);
    assert_string_equal(secret, "s3cret");
    pm_free(secret);

    /* The new base URL reaches generated campaign URLs at once. */
    int64_t id = make_campaign(f, make_source(f), make_offer(f), ",\"token\":\"tok123\"");
    char url[64];
    snprintf(url, sizeof(url), "/api/v1/campaigns/%lld", (long long)id);
    assert_int_equal(call(f, "GET", url, NULL, &doc), 200);
    assert_string_equal(str_at(doc, "tracking_url"), "https://trk.example.com/c/tok123");
    json_decref(doc);

    expect_error(f, "PATCH", "/api/v1/settings", "{\"colour\":\"red\"}", 422, "unknown_field", "colour");
    expect_error(f, "PATCH", "/api/v1/settings", "{\"cookie_days\":30}", 422, "invalid", "cookie_days");
    expect_error(f, "PATCH", "/api/v1/settings", "{\"ip_v4_prefix\":\"99\"}", 422, "invalid", "ip_v4_prefix");
    expect_error(f, "PATCH", "/api/v1/settings", "[]", 400, "invalid_json", NULL);
    /* All or nothing. */
    expect_error(f, "PATCH", "/api/v1/settings", "{\"timezone\":\"Europe/Berlin\",\"currency\":\"XYZ\"}", 422,
                 "invalid", "currency");
    assert_int_equal(call(f, "GET", "/api/v1/settings", NULL, &doc), 200);
    assert_string_equal(str_at(doc, "timezone"), "UTC");
    assert_string_equal(str_at(doc, "cookie_days"), "30");
    json_decref(doc);
    assert_int_equal(call(f, "PATCH", "/api/v1/settings", "{}", NULL), 200);
}

static void test_keys(void **state)
{
    fixture_t *f = *state;
    json_t *doc = NULL;
    assert_int_equal(call(f, "POST", "/api/v1/keys", "{\"role\":\"viewer\",\"name\":\"dashboard\"}", &doc), 201);
    const char *key = str_at(doc, "key");
    assert_non_null(key);
    assert_string_equal(str_at(doc, "role"), "viewer");
    assert_string_equal(str_at(doc, "name"), "dashboard");
    assert_int_equal(call_as(f, key, "GET", "/api/v1/settings", NULL, NULL), 200);
    assert_int_equal(call_as(f, key, "PATCH", "/api/v1/settings", "{}", NULL), 403);
    json_decref(doc);

    assert_int_equal(call(f, "POST", "/api/v1/keys", "{\"role\":\"admin\"}", &doc), 201);
    assert_true(json_is_null(json_object_get(doc, "name")));
    assert_int_equal(call_as(f, str_at(doc, "key"), "POST", "/api/v1/keys", "{\"role\":\"viewer\"}", NULL), 201);
    json_decref(doc);
    expect_error(f, "POST", "/api/v1/keys", "{}", 422, "required", "role");
    expect_error(f, "POST", "/api/v1/keys", "{\"role\":\"root\"}", 422, "invalid", "role");
    expect_error(f, "POST", "/api/v1/keys", "{\"role\":\"admin\",\"scope\":\"x\"}", 422, "unknown_field", "scope");

    /* Listing shows every key without its secret; revoking stops it at once. */
    assert_int_equal(call(f, "POST", "/api/v1/keys", "{\"role\":\"viewer\",\"name\":\"gone\"}", &doc), 201);
    char *gone = strdup(str_at(doc, "key")), path[64];
    snprintf(path, sizeof(path), "/api/v1/keys/%lld", (long long)json_integer_value(json_object_get(doc, "id")));
    json_decref(doc);
    assert_int_equal(call_as(f, gone, "GET", "/api/v1/settings", NULL, NULL), 200);
    assert_int_equal(call(f, "GET", "/api/v1/keys", NULL, &doc), 200);
    json_t *rows = json_object_get(doc, "rows");
    assert_true(json_array_size(rows) >= 5);
    assert_null(json_object_get(json_array_get(rows, 0), "key"));
    json_decref(doc);
    assert_int_equal(call_as(f, gone, "DELETE", path, NULL, NULL), 403);
    assert_int_equal(call(f, "DELETE", path, NULL, NULL), 204);
    assert_int_equal(call_as(f, gone, "GET", "/api/v1/settings", NULL, NULL), 401);
    expect_error(f, "DELETE", path, NULL, 404, "not_found", NULL);
    expect_error(f, "DELETE", "/api/v1/keys/abc", NULL, 404, "not_found", NULL);
    free(gone);
}

/* --- events ------------------------------------------------------------ */

static void exec_ok(fixture_t *f, const char *sql)
{
    if (pm_store_exec(f->store, sql) != PM_OK) fail_msg("SQL failed: %s", sql);
}

/* Insert n clicks for `campaign`, ids from one generator (ascending). */
static void insert_clicks(fixture_t *f, pm_idgen_t *g, int n, int campaign, char ids[][PM_ID_LEN + 1])
{
    for (int i = 0; i < n; i++) {
        pm_id_t id = pm_id_next(g, pm_now());
        char sql[512];
        pm_id_format(&id, ids[i]);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO clicks(id, ts, campaign_id, traffic_source_id, offer_id, visitor_id, ip, sub1,"
                 " utm_source, cost_micros, cost_currency) VALUES('%s', 1795000000123456, %d, 1, 2,"
                 " 'V1', '203.0.113.0', 'sub-%d', 'google', 50000, 'USD')",
                 ids[i], campaign, i);
        exec_ok(f, sql);
    }
}

static void test_events(void **state)
{
    fixture_t *f = *state;
    pm_idgen_t g;
    char ids[5][PM_ID_LEN + 1];
    pm_idgen_init(&g);
    insert_clicks(f, &g, 3, 7, ids);
    insert_clicks(f, &g, 2, 8, ids + 3);

    json_t *doc = NULL;
    assert_int_equal(call(f, "GET", "/api/v1/events?type=click", NULL, &doc), 200);
    json_t *rows = json_object_get(doc, "rows");
    assert_int_equal(json_array_size(rows), 5);
    json_t *r = json_array_get(rows, 0);
    assert_string_equal(str_at(r, "id"), ids[0]);
    assert_string_equal(str_at(r, "type"), "click");
    assert_string_equal(str_at(r, "ts"), "2026-11-18T11:06:40.123456Z");
    assert_int_equal(json_integer_value(json_object_get(r, "campaign_id")), 7);
    assert_int_equal(json_integer_value(json_object_get(r, "offer_id")), 2);
    assert_true(json_is_null(json_object_get(r, "lander_id")));
    assert_string_equal(str_at(r, "visitor_id"), "V1");
    assert_string_equal(str_at(r, "ip"), "203.0.113.0");
    assert_string_equal(str_at(r, "sub1"), "sub-0");
    assert_string_equal(str_at(r, "utm_source"), "google");
    assert_null(json_object_get(r, "sub2"));
    assert_null(json_object_get(r, "cost_micros"));
    assert_null(json_object_get(r, "cost_currency"));
    json_t *cost = json_object_get(r, "cost");
    assert_string_equal(str_at(cost, "amount"), "0.05");
    assert_string_equal(str_at(cost, "currency"), "USD");
    assert_true(json_is_null(json_object_get(doc, "next")));
    json_decref(doc);

    /* Paging with after/next; lower case ids are accepted. */
    assert_int_equal(call(f, "GET", "/api/v1/events?type=click&limit=2", NULL, &doc), 200);
    assert_int_equal(json_array_size(json_object_get(doc, "rows")), 2);
    assert_string_equal(str_at(doc, "next"), ids[1]);
    json_decref(doc);
    char url[160], lower[PM_ID_LEN + 1];
    for (int i = 0; i <= PM_ID_LEN; i++)
        lower[i] = (char)(ids[1][i] >= 'A' && ids[1][i] <= 'Z' ? ids[1][i] + 32 : ids[1][i]);
    snprintf(url, sizeof(url), "/api/v1/events?type=click&limit=2&after=%s", lower);
    assert_int_equal(call(f, "GET", url, NULL, &doc), 200);
    rows = json_object_get(doc, "rows");
    assert_int_equal(json_array_size(rows), 2);
    assert_string_equal(str_at(json_array_get(rows, 0), "id"), ids[2]);
    assert_string_equal(str_at(doc, "next"), ids[3]);
    json_decref(doc);

    assert_int_equal(call(f, "GET", "/api/v1/events?type=click&campaign=8", NULL, &doc), 200);
    rows = json_object_get(doc, "rows");
    assert_int_equal(json_array_size(rows), 2);
    assert_string_equal(str_at(json_array_get(rows, 0), "id"), ids[3]);
    json_decref(doc);
    assert_int_equal(call(f, "GET", "/api/v1/events?type=impression", NULL, &doc), 200);
    assert_int_equal(json_array_size(json_object_get(doc, "rows")), 0);
    json_decref(doc);

    expect_error(f, "GET", "/api/v1/events", NULL, 422, "required", "type");
    expect_error(f, "GET", "/api/v1/events?type=clicks", NULL, 422, "invalid", "type");
    expect_error(f, "GET", "/api/v1/events?type=click&after=123", NULL, 422, "invalid", "after");
    expect_error(f, "GET", "/api/v1/events?type=click&campaign=x", NULL, 422, "invalid", "campaign");
    expect_error(f, "GET", "/api/v1/events?type=click&limit=5000", NULL, 422, "invalid", "limit");
    expect_error(f, "GET", "/api/v1/events?type=orphan&campaign=1", NULL, 422, "invalid", "campaign");
    expect_error(f, "GET", "/api/v1/events?type=click&campaign_id=1", NULL, 422, "unknown_field", "campaign_id");
}

static void test_events_conversions_orphans(void **state)
{
    fixture_t *f = *state;
    pm_idgen_t g;
    char id[PM_ID_LEN + 1], click[PM_ID_LEN + 1], sql[1024];
    pm_idgen_init(&g);
    pm_id_t cid = pm_id_next(&g, pm_now()), vid = pm_id_next(&g, pm_now());
    pm_id_format(&cid, click);
    pm_id_format(&vid, id);
    snprintf(sql, sizeof(sql),
             "INSERT INTO conversions(id, ts, campaign_id, offer_id, click_id, txid, status, conversion_type,"
             " method, revenue_micros, revenue_currency, payout_micros) VALUES('%s', 0, 3, 4, '%s', 'T-1',"
             " 'approved', 'sale', 'postback', 12500000, 'EUR', 0)",
             id, click);
    exec_ok(f, sql);
    json_t *doc = NULL;
    assert_int_equal(call(f, "GET", "/api/v1/events?type=conversion", NULL, &doc), 200);
    json_t *r = json_array_get(json_object_get(doc, "rows"), 0);
    assert_non_null(r);
    assert_string_equal(str_at(r, "txid"), "T-1");
    assert_string_equal(str_at(r, "click_id"), click);
    assert_string_equal(str_at(r, "status"), "approved");
    assert_string_equal(str_at(r, "conversion_type"), "sale");
    assert_string_equal(str_at(r, "method"), "postback");
    assert_string_equal(str_at(r, "ts"), "1970-01-01T00:00:00.000000Z");
    assert_string_equal(str_at(json_object_get(r, "revenue"), "amount"), "12.50");
    assert_string_equal(str_at(json_object_get(r, "revenue"), "currency"), "EUR");
    assert_null(json_object_get(r, "payout")); /* no currency: no money */
    assert_null(json_object_get(r, "cost"));
    assert_true(json_is_null(json_object_get(r, "visitor_id")));
    json_decref(doc);

    pm_id_t oid = pm_id_next(&g, pm_now());
    pm_id_format(&oid, id);
    snprintf(sql, sizeof(sql),
             "INSERT INTO orphan_postbacks(id, ts, reason, method, txid, query, user_agent)"
             " VALUES('%s', 1, 'unknown_click', 'GET', 'T-9', 'clickid=zz', 'bad\xff')",
             id);
    exec_ok(f, sql);
    assert_int_equal(call(f, "GET", "/api/v1/events?type=orphan", NULL, &doc), 200);
    r = json_array_get(json_object_get(doc, "rows"), 0);
    assert_string_equal(str_at(r, "type"), "orphan");
    assert_string_equal(str_at(r, "reason"), "unknown_click");
    assert_string_equal(str_at(r, "query"), "clickid=zz");
    assert_string_equal(str_at(r, "user_agent"), "bad\xef\xbf\xbd"); /* invalid UTF-8 in the store, safe out */
    assert_true(json_is_null(json_object_get(r, "campaign_id")));
    assert_null(json_object_get(r, "click_id"));
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offer_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lander_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_campaign_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_campaign_references, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_referenced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_conversions_orphans, setup, teardown),
    };
    pm_log_set_level(PM_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * postbacks.c: the outbox through the admin API (docs/postbacks.md).
 *   GET  /api/v1/postbacks?status=pending|delivered|failed&conversion_id=&limit=&after=
 *   GET  /api/v1/postbacks/{id}         one postback with its attempts
 *   POST /api/v1/postbacks/{id}/retry   re-queue a failed postback (admin)
 * Ids are the outbox's integer row ids (they grow with time); lists page
 * with `after` = the last id seen, like the entity lists.
 */
#include "api_internal.h"

#include "pm/id.h"

#include <string.h>

#define POSTBACK_COLUMNS                                                                                               \
    "id, conversion_id, click_id, campaign_id, traffic_source_id, target, event, conversion_status, url,"              \
    " status, attempts, created_at, queued_at, next_attempt_at, delivered_at, last_http_status, last_error,"           \
    " partner_id"

static json_t *col_text(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? pm__api_jstr(s, (size_t)sqlite3_column_bytes(st, i)) : json_null();
}

static json_t *col_int(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? json_null() : json_integer(sqlite3_column_int64(st, i));
}

static json_t *col_time(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? json_null() : pm__api_jtime(sqlite3_column_int64(st, i));
}

/* One row of POSTBACK_COLUMNS as JSON. */
static json_t *render(sqlite3_stmt *st)
{
    json_t *o = json_object();
    const char *status = (const char *)sqlite3_column_text(st, 9);
    bool pending = status && strcmp(status, "pending") == 0;
    json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(o, "conversion_id", col_text(st, 1));
    json_object_set_new(o, "click_id", col_text(st, 2));
    json_object_set_new(o, "campaign_id", col_int(st, 3));
    json_object_set_new(o, "traffic_source_id", col_int(st, 4));
    json_object_set_new(o, "partner_id", col_int(st, 17));
    json_object_set_new(o, "target", col_text(st, 5));
    json_object_set_new(o, "event", col_text(st, 6));
    json_object_set_new(o, "conversion_status", col_text(st, 7));
    json_object_set_new(o, "url", col_text(st, 8));
    json_object_set_new(o, "status", col_text(st, 9));
    json_object_set_new(o, "attempt_count", json_integer(sqlite3_column_int64(st, 10)));
    json_object_set_new(o, "created_at", col_time(st, 11));
    json_object_set_new(o, "queued_at", col_time(st, 12));
    /* 0 = due at once (never tried, or re-queued): shown as the queue time. */
    int64_t next = sqlite3_column_int64(st, 13);
    json_object_set_new(o, "next_attempt_at", !pending ? json_null() : next ? pm__api_jtime(next) : col_time(st, 12));
    json_object_set_new(o, "delivered_at", col_time(st, 14));
    json_object_set_new(o, "last_http_status", col_int(st, 15));
    json_object_set_new(o, "last_error", col_text(st, 16));
    return o;
}

static const char *const list_params[] = {"status", "conversion_id", "limit", "after", NULL};

static bool valid_status(const char *s)
{
    return s == NULL || strcmp(s, "pending") == 0 || strcmp(s, "delivered") == 0 || strcmp(s, "failed") == 0;
}

void pm__api_postbacks_list(pm__api_ctx_t *c)
{
    pm_qs_t qs;
    int64_t limit = 0, after = 0, last = 0;
    json_t *rows = NULL;
    if (pm__api_query(c, &qs, list_params) != PM_OK ||
        pm__api_query_int(c, &qs, "limit", 1, PM__API_LIMIT_MAX, PM__API_LIMIT_DEFAULT, &limit) != PM_OK ||
        pm__api_query_int(c, &qs, "after", 0, INT64_MAX, 0, &after) != PM_OK)
        goto out;
    const char *status = pm_qs_get(&qs, "status", NULL), *conv = pm_qs_get(&qs, "conversion_id", NULL);
    if (!valid_status(status)) {
        pm_http_res_error(c->res, 422, "invalid", "status", "status must be pending, delivered or failed");
        goto out;
    }
    sqlite3_stmt *st = pm__api_stmt(c->api, "SELECT " POSTBACK_COLUMNS " FROM postbacks WHERE id>?1"
                                            " AND (?2 IS NULL OR status=?2) AND (?3 IS NULL OR conversion_id=?3)"
                                            " ORDER BY id LIMIT ?4");
    if (st == NULL) {
        pm__api_store_failed(c, "postback list");
        goto out;
    }
    sqlite3_bind_int64(st, 1, after);
    if (status) sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    if (conv) sqlite3_bind_text(st, 3, conv, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, limit + 1); /* one more tells whether a next page exists */
    rows = json_array();
    int step, n = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
        json_array_append_new(rows, render(st));
        last = sqlite3_column_int64(st, 0);
        n++;
    }
    bool more = step == SQLITE_ROW;
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        pm__api_store_failed(c, "postback list");
        goto out;
    }
    pm__api_send(c, 200, json_pack("{s:O, s:o}", "rows", rows, "next", more ? json_integer(last) : json_null()));
out:
    json_decref(rows);
    pm_qs_free(&qs);
}

static const char *const no_params[] = {NULL};

/* The attempts of postback `id`, oldest first. NULL after a store failure. */
static json_t *attempts_of(pm__api_ctx_t *c, int64_t id)
{
    sqlite3_stmt *st = pm__api_stmt(c->api, "SELECT n, started_at, duration_us, http_status, error"
                                            " FROM postback_attempts WHERE postback_id=? ORDER BY n");
    if (st == NULL) return NULL;
    sqlite3_bind_int64(st, 1, id);
    json_t *list = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *a = json_object();
        json_object_set_new(a, "n", json_integer(sqlite3_column_int64(st, 0)));
        json_object_set_new(a, "at", pm__api_jtime(sqlite3_column_int64(st, 1)));
        json_object_set_new(a, "duration_us", json_integer(sqlite3_column_int64(st, 2)));
        json_object_set_new(a, "http_status", col_int(st, 3));
        json_object_set_new(a, "error", col_text(st, 4));
        json_array_append_new(list, a);
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        json_decref(list);
        return NULL;
    }
    return list;
}

/* The postback c->id as JSON with its attempts; answers 404/500 itself. */
static json_t *load(pm__api_ctx_t *c)
{
    sqlite3_stmt *st = pm__api_stmt(c->api, "SELECT " POSTBACK_COLUMNS " FROM postbacks WHERE id=?");
    if (st == NULL) {
        pm__api_store_failed(c, "postback get");
        return NULL;
    }
    sqlite3_bind_int64(st, 1, c->id);
    int step = sqlite3_step(st);
    json_t *o = step == SQLITE_ROW ? render(st) : NULL;
    sqlite3_reset(st);
    if (step == SQLITE_DONE) pm_http_res_error(c->res, 404, "not_found", NULL, "no postback %lld", (long long)c->id);
    if (o == NULL) {
        if (step != SQLITE_DONE) pm__api_store_failed(c, "postback get");
        return NULL;
    }
    json_t *attempts = attempts_of(c, c->id);
    if (attempts == NULL) {
        json_decref(o);
        pm__api_store_failed(c, "postback attempts");
        return NULL;
    }
    json_object_set_new(o, "attempts", attempts);
    return o;
}

void pm__api_postbacks_get(pm__api_ctx_t *c)
{
    pm_qs_t qs;
    if (pm__api_query(c, &qs, no_params) == PM_OK) {
        json_t *o = load(c);
        if (o) pm__api_send(c, 200, o);
    }
    pm_qs_free(&qs);
}

/* Re-queue a failed postback: due now, with a fresh attempt budget and age. */
void pm__api_postbacks_retry(pm__api_ctx_t *c)
{
    pm_qs_t qs;
    if (pm__api_query(c, &qs, no_params) != PM_OK) goto out;
    sqlite3_stmt *st = pm__api_stmt(c->api, "UPDATE postbacks SET status='pending', next_attempt_at=0, queued_at=?2,"
                                            " budget_start=attempts, updated_at=?2 WHERE id=?1 AND status='failed'");
    if (st == NULL) {
        pm__api_store_failed(c, "postback retry");
        goto out;
    }
    sqlite3_bind_int64(st, 1, c->id);
    sqlite3_bind_int64(st, 2, pm_now());
    int step = sqlite3_step(st);
    int changed = sqlite3_changes(pm_store_db(c->api->store));
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        pm__api_store_failed(c, "postback retry");
        goto out;
    }
    json_t *o = load(c);
    if (o == NULL) goto out;
    if (changed == 0) {
        json_t *status = json_object_get(o, "status");
        pm_http_res_error(c->res, 409, "conflict", "status", "only a failed postback can be retried (this one is %s)",
                          json_string_value(status) ? json_string_value(status) : "?");
        json_decref(o);
        goto out;
    }
    pm_outbox_wake(c->api->outbox);
    pm__api_send(c, 200, o);
out:
    pm_qs_free(&qs);
}

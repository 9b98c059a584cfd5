/*
 * events.c: GET /api/v1/events, the raw event log one type at a time
 * (clicks, impressions, conversions, orphan postbacks, status changes,
 * lander clicks), in id order, which
 * is time order (ids are ULIDs), paged with `after` = the last id seen.
 *
 * Rows are rendered from whatever columns the table has, so a column added
 * by a later migration shows up without a change here: integer ids stay
 * integers (null when unset), text columns appear by their column name when
 * set, `ts` becomes RFC 3339, and a `<x>_micros` column with its
 * `<x>_currency` becomes the money object `<x>` when a currency is set.
 */
#include "api_internal.h"

#include "pm/id.h"

#include <stdio.h>
#include <string.h>

#define MAX_EVENT_COLS 64

typedef struct event_table_s {
    const char *type, *table;
    bool has_campaign;
} event_table_t;

static const event_table_t event_tables[] = {
    {"click", "clicks", true},
    {"impression", "impressions", true},
    {"conversion", "conversions", true},
    {"orphan", "orphan_postbacks", false},
    {"status_change", "conversion_changes", true},
    {"lander_click", "lander_clicks", true},
};

/* Present on every row, null when the table lacks them or they are unset. */
static const char *const always_keys[] = {"campaign_id", "traffic_source_id", "offer_id",  "lander_id",
                                          "creative_id", "partner_id",        "visitor_id"};

typedef enum col_role_e { ROLE_PLAIN, ROLE_ID, ROLE_TS, ROLE_MONEY, ROLE_SKIP } col_role_t;

/* How each column of the result renders; computed once per query. */
typedef struct layout_s {
    int ncols;
    col_role_t role[MAX_EVENT_COLS];
    int currency_col[MAX_EVENT_COLS]; /* ROLE_MONEY: the matching currency column */
    char money_name[MAX_EVENT_COLS][32];
} layout_t;

typedef struct events_query_s {
    const event_table_t *t;
    int64_t campaign, limit;
    char after[PM_ID_LEN + 1]; /* canonical text; "" = from the start */
} events_query_t;

/* --- query ------------------------------------------------------------- */

static int parse_type(pm__api_ctx_t *c, const pm_qs_t *qs, events_query_t *q)
{
    const char *type = pm_qs_get(qs, "type", NULL);
    if (type == NULL) {
        pm_http_res_error(c->res, 422, "required", "type",
                          "type is required: click, impression, conversion, orphan, status_change or lander_click");
        return PM_EINVAL;
    }
    for (size_t i = 0; i < PM_ARRAY_LEN(event_tables); i++) {
        if (strcmp(type, event_tables[i].type) != 0) continue;
        q->t = &event_tables[i];
        return PM_OK;
    }
    pm_http_res_error(c->res, 422, "invalid", "type",
                      "type must be click, impression, conversion, orphan, status_change or lander_click");
    return PM_EINVAL;
}

static int parse_after(pm__api_ctx_t *c, const pm_qs_t *qs, events_query_t *q)
{
    size_t len = 0;
    const char *after = pm_qs_get(qs, "after", &len);
    pm_id_t id;
    q->after[0] = '\0';
    if (after == NULL) return PM_OK;
    if (pm_id_parse(after, len, &id) != PM_OK) {
        pm_http_res_error(c->res, 422, "invalid", "after", "after must be an event id (26 characters)");
        return PM_EINVAL;
    }
    pm_id_format(&id, q->after); /* the stored form: ids compare as text */
    return PM_OK;
}

static int parse_query(pm__api_ctx_t *c, const pm_qs_t *qs, events_query_t *q)
{
    if (parse_type(c, qs, q) != PM_OK) return PM_EINVAL;
    if (pm__api_query_int(c, qs, "campaign", 1, INT64_MAX, 0, &q->campaign) != PM_OK) return PM_EINVAL;
    if (q->campaign && !q->t->has_campaign) {
        pm_http_res_error(c->res, 422, "invalid", "campaign", "orphan postbacks belong to no campaign");
        return PM_EINVAL;
    }
    if (parse_after(c, qs, q) != PM_OK) return PM_EINVAL;
    return pm__api_query_int(c, qs, "limit", 1, PM__API_LIMIT_MAX, PM__API_LIMIT_DEFAULT, &q->limit);
}

static sqlite3_stmt *events_stmt(pm__api_ctx_t *c, const events_query_t *q)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE id>?1%s ORDER BY id LIMIT ?2", q->t->table,
             q->campaign ? " AND campaign_id=?3" : "");
    sqlite3_stmt *st = pm__api_stmt(c->api, sql);
    if (st == NULL) return NULL;
    sqlite3_bind_text(st, 1, q->after, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, q->limit + 1); /* one more tells whether a next page exists */
    if (q->campaign) sqlite3_bind_int64(st, 3, q->campaign);
    return st;
}

/* --- rendering --------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix, size_t *stem)
{
    size_t n = strlen(s), m = strlen(suffix);
    *stem = n >= m ? n - m : 0;
    return n > m && strcmp(s + n - m, suffix) == 0;
}

static int find_col(sqlite3_stmt *st, int ncols, const char *name, size_t len)
{
    for (int i = 0; i < ncols; i++) {
        const char *n = sqlite3_column_name(st, i);
        if (n && strlen(n) == len && memcmp(n, name, len) == 0) return i;
    }
    return -1;
}

static col_role_t column_role(sqlite3_stmt *st, layout_t *l, int i)
{
    const char *name = sqlite3_column_name(st, i);
    size_t stem;
    char pair[64];
    if (name == NULL) return ROLE_SKIP;
    if (strcmp(name, "ts") == 0) return ROLE_TS;
    if (strcmp(name, "id") == 0) return ROLE_ID;
    if (strcmp(name, "type") == 0) return ROLE_SKIP; /* ours: the table */
    if (ends_with(name, "_micros", &stem) && stem < sizeof(l->money_name[i])) {
        snprintf(pair, sizeof(pair), "%.*s_currency", (int)stem, name);
        l->currency_col[i] = find_col(st, l->ncols, pair, strlen(pair));
        snprintf(l->money_name[i], sizeof(l->money_name[i]), "%.*s", (int)stem, name);
        if (l->currency_col[i] >= 0) return ROLE_MONEY;
    }
    if (ends_with(name, "_currency", &stem)) {
        snprintf(pair, sizeof(pair), "%.*s_micros", (int)stem, name);
        if (find_col(st, l->ncols, pair, strlen(pair)) >= 0) return ROLE_SKIP;
    }
    return ROLE_PLAIN;
}

static void layout_init(sqlite3_stmt *st, layout_t *l)
{
    int n = sqlite3_column_count(st);
    l->ncols = PM_NEVER(n > MAX_EVENT_COLS) ? MAX_EVENT_COLS : n;
    for (int i = 0; i < l->ncols; i++)
        l->role[i] = column_role(st, l, i);
}

static json_t *column_value(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_TEXT:
        return pm__api_jstr((const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i));
    default: return NULL; /* NULL, and types no event table uses */
    }
}

static void render_column(sqlite3_stmt *st, const layout_t *l, int i, json_t *row)
{
    const char *name = sqlite3_column_name(st, i);
    int cur = l->currency_col[i];
    switch (l->role[i]) {
    case ROLE_TS: json_object_set_new(row, name, pm__api_jtime(sqlite3_column_int64(st, i))); return;
    case ROLE_MONEY:
        if (sqlite3_column_type(st, cur) != SQLITE_TEXT || sqlite3_column_bytes(st, cur) == 0) return;
        json_object_set_new(row, l->money_name[i], pm__api_jmoney(sqlite3_column_int64(st, i),
                                                                  (const char *)sqlite3_column_text(st, cur)));
        return;
    case ROLE_ID: json_object_set_new(row, "id", column_value(st, i)); return;
    case ROLE_SKIP: return;
    case ROLE_PLAIN: break;
    }
    json_t *v = column_value(st, i);
    if (v) json_object_set_new(row, name, v);
}

static json_t *render_event(sqlite3_stmt *st, const layout_t *l, const char *type)
{
    json_t *row = json_object();
    json_object_set_new(row, "id", json_null());
    json_object_set_new(row, "type", json_string(type));
    json_object_set_new(row, "ts", json_null());
    for (size_t k = 0; k < PM_ARRAY_LEN(always_keys); k++)
        json_object_set_new(row, always_keys[k], json_null());
    for (int i = 0; i < l->ncols; i++)
        render_column(st, l, i, row);
    return row;
}

/* --- the endpoint ------------------------------------------------------ */

/* Rows into `rows`; *next = a copy of the last id when more follow. */
static int list_events(pm__api_ctx_t *c, const events_query_t *q, json_t *rows, json_t **next)
{
    sqlite3_stmt *st = events_stmt(c, q);
    if (st == NULL) return pm__api_store_failed(c, "events");
    layout_t layout;
    layout_init(st, &layout);
    int64_t n = 0;
    int step;
    json_t *last = NULL;
    for (;;) {
        step = sqlite3_step(st);
        if (step != SQLITE_ROW || n == q->limit) break;
        json_t *row = render_event(st, &layout, q->t->type);
        json_array_append_new(rows, row);
        last = json_object_get(row, "id");
        n++;
    }
    *next = step == SQLITE_ROW && last ? json_incref(last) : json_null();
    sqlite3_reset(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? PM_OK : pm__api_store_failed(c, "events");
}

void pm__api_events_list(pm__api_ctx_t *c)
{
    static const char *const allowed[] = {"type", "campaign", "after", "limit", NULL};
    pm_qs_t qs;
    events_query_t q = {0};
    json_t *rows = json_array(), *next = NULL;
    if (pm__api_query(c, &qs, allowed) != PM_OK || parse_query(c, &qs, &q) != PM_OK) goto out;
    if (list_events(c, &q, rows, &next) != PM_OK) goto out;
    pm__api_send(c, 200, json_pack("{s:O, s:O}", "rows", rows, "next", next));
out:
    json_decref(next);
    json_decref(rows);
    pm_qs_free(&qs);
}

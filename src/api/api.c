/*
 * api.c: the front of the admin API. pm_api_handle authenticates the
 * request (a Bearer API key checked against the store), resolves the path
 * to an endpoint (an entity collection or item, settings, events, keys),
 * answers 404/405/403 for what does not fit, and hands the request to the
 * endpoint's handler with a pm__api_ctx_t.
 *
 * It also holds what every handler shares: the cache of prepared statements
 * (an admin API runs a few dozen distinct SQL texts, so a linear cache keyed
 * by the text is enough), transactions and the config reload that follows a
 * write, JSON response helpers and strict query-string parsing.
 *
 * Order of checks, so that answers never leak more than the caller may
 * know: 401 before anything else, then 404 (path), 405 (method), 403
 * (role), then the handler's own 400/404/409/422.
 */
#include "api_internal.h"

#include "pm/text.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define API_PREFIX "/api/v1/"
#define API_KEY_MAX 256 /* longer Authorization values are not our keys */

/* --- handle ------------------------------------------------------------ */

pm_api_t *pm_api_create(const pm_api_config_t *cfg)
{
    pm_api_t *api = pm_calloc(1, sizeof(*api));
    api->store = cfg->store;
    api->confhold = cfg->confhold;
    api->outbox = cfg->outbox;
    api->spend = cfg->spend;
    api->track = cfg->track;
    return api;
}

void pm_api_destroy(pm_api_t *api)
{
    if (api == NULL) return;
    for (size_t i = 0; i < api->nstmts; i++) {
        sqlite3_finalize(api->stmts[i].st);
        pm_free(api->stmts[i].sql);
    }
    pm_free(api->stmts);
    pm_free(api);
}

sqlite3_stmt *pm__api_stmt(pm_api_t *api, const char *sql)
{
    for (size_t i = 0; i < api->nstmts; i++) {
        if (strcmp(api->stmts[i].sql, sql) != 0) continue;
        sqlite3_reset(api->stmts[i].st);
        sqlite3_clear_bindings(api->stmts[i].st);
        return api->stmts[i].st;
    }
    sqlite3_stmt *st = NULL;
    sqlite3 *db = pm_store_db(api->store);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        pm_error("api: prepare failed: %s: %s", sqlite3_errmsg(db), sql);
        sqlite3_finalize(st);
        return NULL;
    }
    if (api->nstmts == api->stmts_cap) {
        api->stmts_cap = api->stmts_cap ? api->stmts_cap * 2 : 32;
        api->stmts = pm_realloc(api->stmts, api->stmts_cap * sizeof(*api->stmts));
    }
    api->stmts[api->nstmts++] = (pm__api_stmt_t){pm_strdup(sql), st};
    return st;
}

/* --- transactions and publication ------------------------------------- */

int pm__api_store_failed(pm__api_ctx_t *c, const char *what)
{
    pm_error("api: %s: %s", what, sqlite3_errmsg(pm_store_db(c->api->store)));
    pm_http_res_error(c->res, 500, "internal", NULL, "the store failed; see the server log");
    return PM_ESTORE;
}

int pm__api_begin(pm__api_ctx_t *c)
{
    if (pm_store_begin(c->api->store) == PM_OK) return PM_OK;
    return pm__api_store_failed(c, "begin");
}

int pm__api_commit(pm__api_ctx_t *c)
{
    if (pm_store_commit(c->api->store) == PM_OK) return PM_OK;
    pm_store_rollback(c->api->store);
    return pm__api_store_failed(c, "commit");
}

int pm__api_reload(pm__api_ctx_t *c)
{
    int rc = pm_confhold_reload(c->api->confhold, c->api->store);
    if (rc == PM_OK) return PM_OK;
    pm_error("api: config reload after a write failed: %s", pm_strerror(rc));
    pm_http_res_error(c->res, 500, "internal", NULL,
                      "the change was saved but the tracking configuration could not be rebuilt");
    return rc;
}

/* --- responses --------------------------------------------------------- */

void pm__api_send(pm__api_ctx_t *c, int status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text)
        pm_http_res_json(c->res, status, text, strlen(text));
    else
        pm_http_res_error(c->res, 500, "internal", NULL, "could not build the response");
    free(text);
    json_decref(doc);
}

json_t *pm__api_jstr(const char *s, size_t len)
{
    if (s == NULL) return json_string("");
    json_t *j = json_stringn(s, len);
    if (j) return j;
    size_t cap = len * 3 + 4; /* every bad byte may become U+FFFD */
    char *clean = pm_malloc(cap);
    size_t n = pm_text_sanitize(s, len, clean, cap, NULL);
    j = json_stringn(clean, n);
    pm_free(clean);
    return j ? j : json_string("");
}

json_t *pm__api_jtime(pm_time_t t)
{
    char buf[PM_RFC3339_MAX];
    size_t n = pm_time_format(t, buf);
    return json_stringn(buf, n);
}

json_t *pm__api_jmoney(int64_t micros, const char *currency)
{
    char amount[PM_MONEY_STR_MAX];
    size_t n = pm_money_format(micros, amount);
    json_t *m = json_object();
    json_object_set_new(m, "amount", json_stringn(amount, n));
    json_object_set_new(m, "currency", pm__api_jstr(currency, currency ? strlen(currency) : 0));
    return m;
}

/* --- query strings ----------------------------------------------------- */

bool pm__api_parse_int(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
    if (len == 0 || len > 19) return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        if (v > (INT64_MAX - (s[i] - '0')) / 10) return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max) return false;
    *out = v;
    return true;
}

static bool is_allowed(const char *key, const char *const *allowed)
{
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(key, allowed[i]) == 0) return true;
    return false;
}

static bool seen_before(const pm_qs_t *qs, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(qs->params[j].key, qs->params[i].key) == 0) return true;
    return false;
}

int pm__api_query(pm__api_ctx_t *c, pm_qs_t *qs, const char *const *allowed)
{
    const pm_slice_t q = c->req->query;
    pm_qs_parse(qs, q.p ? q.p : "", q.p ? q.len : 0);
    if (qs->dropped || qs->truncated) {
        pm_http_res_error(c->res, 422, "invalid", NULL, "too many or too long query parameters");
        return PM_EINVAL;
    }
    for (size_t i = 0; i < qs->count; i++) {
        const char *key = qs->params[i].key;
        if (!is_allowed(key, allowed)) {
            pm_http_res_error(c->res, 422, "unknown_field", key, "unknown query parameter \"%s\"", key);
            return PM_EINVAL;
        }
        if (seen_before(qs, i)) {
            pm_http_res_error(c->res, 422, "invalid", key, "query parameter \"%s\" given more than once", key);
            return PM_EINVAL;
        }
    }
    return PM_OK;
}

int pm__api_query_int(pm__api_ctx_t *c, const pm_qs_t *qs, const char *name, int64_t min, int64_t max,
                      int64_t def, int64_t *out)
{
    size_t len = 0;
    const char *v = pm_qs_get(qs, name, &len);
    if (v == NULL) {
        *out = def;
        return PM_OK;
    }
    if (pm__api_parse_int(v, len, min, max, out)) return PM_OK;
    pm_http_res_error(c->res, 422, "invalid", name, "%s must be an integer from %lld to %lld", name,
                      (long long)min, (long long)max);
    return PM_EINVAL;
}

/* --- authentication ---------------------------------------------------- */

static int unauthorized(pm__api_ctx_t *c, const char *why)
{
    static const char challenge[] = "Bearer realm=\"perfmark\"";
    pm_http_res_error(c->res, 401, "unauthorized", NULL, "%s", why);
    pm_http_res_header(c->res, "www-authenticate", challenge, sizeof(challenge) - 1);
    return PM_EINVAL;
}

/* The role of the presented key ("admin" or "viewer"), or an answered 401. */
static int authenticate(pm__api_ctx_t *c, const char **role)
{
    pm_slice_t a = c->req->authorization;
    if (a.p == NULL || a.len < 7 || strncasecmp(a.p, "Bearer ", 7) != 0)
        return unauthorized(c, "an API key is required: Authorization: Bearer <key>");
    const char *key = a.p + 7;
    size_t len = a.len - 7;
    while (len > 0 && *key == ' ')
        key++, len--;
    while (len > 0 && key[len - 1] == ' ')
        len--;
    if (len == 0 || len > API_KEY_MAX) return unauthorized(c, "unknown or revoked API key");
    int rc = pm_store_key_check(c->api->store, key, len, role);
    if (rc == PM_ENOTFOUND) return unauthorized(c, "unknown or revoked API key");
    if (rc != PM_OK) return pm__api_store_failed(c, "key check");
    return PM_OK;
}

/* --- routing ----------------------------------------------------------- */

typedef void (*handler_fn)(pm__api_ctx_t *c);

enum { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE, M__COUNT };

typedef struct endpoint_s {
    handler_fn by_method[M__COUNT];
} endpoint_t;

static const endpoint_t collection_ep = {{pm__api_entity_list, pm__api_entity_create, NULL, NULL, NULL}};
static const endpoint_t item_ep = {
    {pm__api_entity_get, NULL, pm__api_entity_replace, pm__api_entity_patch, pm__api_entity_delete}};

static const struct {
    const char *segment;
    endpoint_t ep;
} fixed_routes[] = {
    {"settings", {{pm__api_settings_get, NULL, NULL, pm__api_settings_patch, NULL}}},
    {"events", {{pm__api_events_list, NULL, NULL, NULL, NULL}}},
    {"reports", {{pm__api_reports_get, NULL, NULL, NULL, NULL}}},
    {"attribution", {{pm__api_attribution_get, NULL, NULL, NULL, NULL}}},
    {"clv", {{pm__api_clv_get, NULL, NULL, NULL, NULL}}},
    {"keys", {{pm__api_keys_list, pm__api_keys_create, NULL, NULL, NULL}}},
    {"postbacks", {{pm__api_postbacks_list, NULL, NULL, NULL, NULL}}},
    {"rates", {{pm__api_rates_get, NULL, pm__api_rates_put, NULL, NULL}}},
    {"conversions:batch", {{NULL, pm__api_conversions_batch, NULL, NULL, NULL}}},
    {"costs", {{NULL, pm__api_costs_post, NULL, NULL, NULL}}},
};

/* Two-segment paths. */
static const struct {
    const char *path;
    endpoint_t ep;
} nested_routes[] = {
    {"ledger/balances", {{pm__api_ledger_balances, NULL, NULL, NULL, NULL}}},
    {"ledger/entries", {{pm__api_ledger_entries, NULL, NULL, NULL, NULL}}},
};

static const endpoint_t conversion_item_ep = {{pm__api_conversion_get, NULL, NULL, pm__api_conversion_patch, NULL}};

static const endpoint_t key_item_ep = {{NULL, NULL, NULL, NULL, pm__api_keys_revoke}};
static const endpoint_t postback_item_ep = {{pm__api_postbacks_get, NULL, NULL, NULL, NULL}};
static const endpoint_t postback_retry_ep = {{NULL, pm__api_postbacks_retry, NULL, NULL, NULL}};

static const char *const method_names[M__COUNT] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

static int method_index(pm_slice_t m)
{
    if (pm_slice_eq(m, "HEAD")) return M_GET;
    for (int i = 0; i < M__COUNT; i++)
        if (pm_slice_eq(m, method_names[i])) return i;
    return -1;
}

static bool segment_eq(const char *p, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(p, lit, len) == 0;
}

static const pm__api_entity_t *entity_by_segment(const char *p, size_t len)
{
    for (size_t i = 0; pm__api_entities[i]; i++)
        if (segment_eq(p, len, pm__api_entities[i]->path)) return pm__api_entities[i];
    return NULL;
}

/* /postbacks/{id} and /postbacks/{id}/retry. */
static const endpoint_t *postback_route(pm__api_ctx_t *c, const char *id, const char *end)
{
    const char *slash = memchr(id, '/', (size_t)(end - id));
    if (!pm__api_parse_int(id, (size_t)((slash ? slash : end) - id), 1, INT64_MAX, &c->id)) return NULL;
    if (slash == NULL) return &postback_item_ep;
    return segment_eq(slash + 1, (size_t)(end - slash - 1), "retry") ? &postback_retry_ep : NULL;
}

/* The endpoint for the path (setting c->entity and c->id), or NULL. */
static const endpoint_t *resolve(pm__api_ctx_t *c)
{
    pm_slice_t path = c->req->path;
    size_t plen = sizeof(API_PREFIX) - 1;
    if (path.p == NULL || path.len <= plen || memcmp(path.p, API_PREFIX, plen) != 0) return NULL;
    const char *seg = path.p + plen, *end = path.p + path.len;
    const char *slash = memchr(seg, '/', (size_t)(end - seg));
    size_t seglen = (size_t)((slash ? slash : end) - seg);
    c->entity = entity_by_segment(seg, seglen);
    if (c->entity && slash == NULL) return &collection_ep;
    if (c->entity) {
        const char *id = slash + 1;
        bool ok = pm__api_parse_int(id, (size_t)(end - id), 1, INT64_MAX, &c->id);
        return ok ? &item_ep : NULL;
    }
    for (size_t i = 0; slash && i < PM_ARRAY_LEN(nested_routes); i++)
        if (segment_eq(seg, (size_t)(end - seg), nested_routes[i].path)) return &nested_routes[i].ep;
    if (slash && segment_eq(seg, seglen, "conversions")) {
        size_t n = (size_t)(end - slash - 1);
        if (n == 0 || n >= sizeof(c->item) || memchr(slash + 1, '/', n)) return NULL;
        memcpy(c->item, slash + 1, n);
        c->item[n] = '\0';
        return &conversion_item_ep;
    }
    if (slash && segment_eq(seg, seglen, "keys")) {
        const char *id = slash + 1;
        return pm__api_parse_int(id, (size_t)(end - id), 1, INT64_MAX, &c->id) ? &key_item_ep : NULL;
    }
    if (slash && segment_eq(seg, seglen, "postbacks")) return postback_route(c, slash + 1, end);
    for (size_t i = 0; slash == NULL && i < PM_ARRAY_LEN(fixed_routes); i++)
        if (segment_eq(seg, seglen, fixed_routes[i].segment)) return &fixed_routes[i].ep;
    return NULL;
}

static void method_not_allowed(pm__api_ctx_t *c, const endpoint_t *ep)
{
    char allow[64] = "";
    size_t n = 0;
    for (int i = 0; i < M__COUNT; i++) {
        if (ep->by_method[i] == NULL) continue;
        n += (size_t)snprintf(allow + n, sizeof(allow) - n, "%s%s%s", n ? ", " : "", method_names[i],
                              i == M_GET ? ", HEAD" : "");
    }
    pm_http_res_error(c->res, 405, "method_not_allowed", NULL, "allowed methods: %s", allow);
    pm_http_res_header(c->res, "allow", allow, strlen(allow));
}

void pm_api_handle(pm_api_t *api, const pm_config_t *cfg, const pm_http_req_t *req, pm_http_res_t *res)
{
    pm__api_ctx_t c = {.api = api, .cfg = cfg, .req = req, .res = res};
    const char *role = NULL;
    if (authenticate(&c, &role) != PM_OK) goto out;
    const endpoint_t *ep = resolve(&c);
    if (ep == NULL) {
        pm_http_res_error(res, 404, "not_found", NULL, "no such resource");
        goto out;
    }
    int m = method_index(req->method);
    handler_fn fn = m >= 0 ? ep->by_method[m] : NULL;
    if (fn == NULL) {
        method_not_allowed(&c, ep);
        goto out;
    }
    c.role = role;
    if (m != M_GET && strcmp(role, "admin") != 0) {
        pm_http_res_error(res, 403, "forbidden", NULL, "this API key may only read (role viewer)");
        goto out;
    }
    fn(&c);
out:
    /* Handlers close their transactions on every path; recover if one did not. */
    if (PM_NEVER(!sqlite3_get_autocommit(pm_store_db(api->store)))) pm_store_rollback(api->store);
    if (PM_NEVER(res->status == 0)) pm_http_res_error(res, 500, "internal", NULL, "no response");
}

/*
 * settings.c: the workspace-wide endpoints: the settings (GET and PATCH
 * /api/v1/settings, every key of pm_store_setting_keys as a string) and the
 * creation of API keys (POST /api/v1/keys).
 *
 * A settings PATCH is all or nothing: every key is checked (known, a string,
 * accepted by pm_settings_validate) before any is written, the writes share
 * one transaction, and the tracking configuration is rebuilt after. The
 * postback secret is never shown: GET answers "***" when one is set, and a
 * PATCH that sends "***" back leaves it unchanged, so a client may PATCH
 * what it got from GET.
 */
#include "api_internal.h"

#include <string.h>

#define SECRET_KEY "postback_secret"
#define SECRET_MASK "***"
#define SETTING_VALUE_MAX 4096

static const char *const no_params[] = {NULL};

/* --- settings ---------------------------------------------------------- */

static bool is_masked_secret(const char *key, const char *value)
{
    return strcmp(key, SECRET_KEY) == 0 && strcmp(value, SECRET_MASK) == 0;
}

static json_t *settings_doc(pm__api_ctx_t *c)
{
    json_t *doc = json_object();
    for (size_t i = 0; pm_store_setting_keys[i]; i++) {
        const char *key = pm_store_setting_keys[i];
        char *value = NULL;
        if (pm_store_setting_get(c->api->store, key, &value) != PM_OK) {
            json_decref(doc);
            pm__api_store_failed(c, "settings");
            return NULL;
        }
        bool hide = strcmp(key, SECRET_KEY) == 0 && value[0] != '\0';
        json_object_set_new(doc, key, hide ? json_string(SECRET_MASK) : pm__api_jstr(value, strlen(value)));
        pm_free(value);
    }
    return doc;
}

static int query_none(pm__api_ctx_t *c)
{
    pm_qs_t qs;
    int rc = pm__api_query(c, &qs, no_params);
    pm_qs_free(&qs);
    return rc;
}

void pm__api_settings_get(pm__api_ctx_t *c)
{
    if (query_none(c) != PM_OK) return;
    json_t *doc = settings_doc(c);
    if (doc) pm__api_send(c, 200, doc);
}

static int check_setting(pm__api_ctx_t *c, const char *key, json_t *value)
{
    const char *why = NULL;
    if (pm_store_setting_default(key) == NULL) {
        pm_http_res_error(c->res, 422, "unknown_field", key, "unknown setting");
        return PM_EINVAL;
    }
    if (!json_is_string(value)) {
        pm_http_res_error(c->res, 422, "invalid", key, "%s must be a string", key);
        return PM_EINVAL;
    }
    const char *s = json_string_value(value);
    if (is_masked_secret(key, s)) return PM_OK;
    if (json_string_length(value) > SETTING_VALUE_MAX) {
        pm_http_res_error(c->res, 422, "invalid", key, "%s is longer than 4096 bytes", key);
        return PM_EINVAL;
    }
    if (pm_settings_validate(key, s, &why) != PM_OK) {
        pm_http_res_error(c->res, 422, "invalid", key, "%s: %s", key, why ? why : "invalid value");
        return PM_EINVAL;
    }
    return PM_OK;
}

static int write_settings(pm__api_ctx_t *c, json_t *body)
{
    const char *key;
    json_t *value;
    if (pm__api_begin(c) != PM_OK) return PM_ESTORE;
    json_object_foreach(body, key, value) {
        const char *s = json_string_value(value);
        if (is_masked_secret(key, s)) continue;
        if (pm_store_setting_set(c->api->store, key, s) != PM_OK) {
            pm_store_rollback(c->api->store);
            return pm__api_store_failed(c, "settings");
        }
    }
    if (pm__api_commit(c) != PM_OK) return PM_ESTORE;
    return pm__api_reload(c);
}

/* A new time zone makes "today" another window: the budget and cap
 * counters recount it from the store (docs/budgets.md). */
static int recount_budgets(pm__api_ctx_t *c, const char *zone)
{
    pm_tz_t *tz = NULL;
    if (c->api->spend == NULL || zone == NULL) return PM_OK;
    if (pm_tz_load(zone, &tz) != PM_OK) return PM_OK; /* validated: the config falls back to UTC likewise */
    int rc = pm_spend_recount_today(c->api->spend, c->api->store, tz, pm_now());
    pm_tz_free(tz);
    if (rc != PM_OK) return pm__api_store_failed(c, "budget recount");
    return PM_OK;
}

void pm__api_settings_patch(pm__api_ctx_t *c)
{
    const char *key;
    json_t *value, *doc = NULL, *body = NULL;
    if (query_none(c) != PM_OK) goto out;
    body = pm__api_body(c);
    if (body == NULL) goto out;
    json_object_foreach(body, key, value) {
        if (check_setting(c, key, value) != PM_OK) goto out;
    }
    if (json_object_size(body) > 0 && write_settings(c, body) != PM_OK) goto out;
    json_t *zone = json_object_get(body, "timezone");
    if (zone && recount_budgets(c, json_string_value(zone)) != PM_OK) goto out;
    doc = settings_doc(c);
    if (doc) pm__api_send(c, 200, doc);
out:
    json_decref(body);
}

/* --- API keys ---------------------------------------------------------- */

enum { KEY_ROLE, KEY_NAME };

static const char *const key_roles[] = {"admin", "viewer", NULL};

static const pm__api_field_t key_fields[] = {
    {.name = "role", .kind = PM__API_F_ENUM, .col = KEY_ROLE, .flags = PM__API_REQUIRED, .choices = key_roles},
    {.name = "name", .kind = PM__API_F_NAME, .col = KEY_NAME},
    {0},
};

void pm__api_keys_create(pm__api_ctx_t *c)
{
    json_t *body = NULL;
    char *key = NULL;
    pm__api_record_t rec;
    pm__api_record_init(&rec);
    if (query_none(c) != PM_OK) goto out;
    body = pm__api_body(c);
    if (body == NULL || pm__api_apply(c, key_fields, body, true, &rec) != PM_OK) goto out;
    const char *role = rec.v[KEY_ROLE].text, *name = rec.v[KEY_NAME].text;
    if (pm_store_key_create(c->api->store, role, name, &key) != PM_OK) {
        pm__api_store_failed(c, "key create");
        goto out;
    }
    /* The key is shown this once: only its hash is stored. */
    pm__api_send(c, 201, json_pack("{s:I, s:s, s:s, s:s?}", "id", (json_int_t)sqlite3_last_insert_rowid(
                                       pm_store_db(c->api->store)), "key", key, "role", role, "name", name));
out:
    pm_free(key);
    pm__api_record_free(&rec);
    json_decref(body);
}

/* GET /api/v1/keys: every key ever made, without the secret (only its hash
 * is stored anyway), newest last. */
void pm__api_keys_list(pm__api_ctx_t *c)
{
    if (query_none(c) != PM_OK) return;
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT id, role, name, created_at, revoked_at FROM api_keys ORDER BY id";
    if (sqlite3_prepare_v2(pm_store_db(c->api->store), sql, -1, &st, NULL) != SQLITE_OK) {
        pm__api_store_failed(c, "key list");
        return;
    }
    json_t *rows = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 2);
        json_t *row = json_pack("{s:I, s:s, s:o, s:o, s:o}", "id", (json_int_t)sqlite3_column_int64(st, 0), "role",
                                (const char *)sqlite3_column_text(st, 1), "name", pm__api_jstr(name ? name : "", name ? strlen(name) : 0),
                                "created_at", pm__api_jtime(sqlite3_column_int64(st, 3)), "revoked_at",
                                sqlite3_column_type(st, 4) == SQLITE_NULL ? json_null()
                                                                          : pm__api_jtime(sqlite3_column_int64(st, 4)));
        json_array_append_new(rows, row);
    }
    sqlite3_finalize(st);
    pm__api_send(c, 200, json_pack("{s:o, s:n}", "rows", rows, "next"));
}

/* DELETE /api/v1/keys/{id}: revoke. A key may revoke itself. */
void pm__api_keys_revoke(pm__api_ctx_t *c)
{
    if (query_none(c) != PM_OK) return;
    int rc = pm_store_key_revoke(c->api->store, c->id);
    if (rc == PM_ENOTFOUND) {
        pm_http_res_error(c->res, 404, "not_found", NULL, "no usable key with id %lld", (long long)c->id);
    } else if (rc != PM_OK) {
        pm__api_store_failed(c, "key revoke");
    } else {
        c->res->status = 204;
    }
}

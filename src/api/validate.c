/*
 * validate.c: from a request body to a record, and from a record back to
 * JSON, both driven by one table of fields per entity (kinds.c).
 *
 * A field table says for each JSON key what it must hold (a name, a URL, a
 * money amount, the id of a live row...), whether it is required, and which
 * record column receives it; nested objects ("payout", "cost") have their
 * own table. The same table renders the record, so what the API accepts and
 * what it answers cannot drift apart.
 *
 * Rules every field shares: unknown keys are rejected with their dotted name
 * ("cost.rate"); money amounts are decimal strings, never JSON numbers (a
 * double cannot hold 0.1 exactly); URLs are printable ASCII http(s) URLs that
 * may hold {macros}; errors name the field and answer 422.
 */
#include "api_internal.h"

#include "pm/money.h"
#include "pm/text.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_CHARS 200
#define URL_MAX 2048
#define TOKEN_MIN 4
#define TOKEN_MAX 64
#define FIELD_PATH_MAX 128  /* dotted paths of table fields: short, ours */
#define ECHO_MAX 100        /* longest client-chosen key echoed in a message */

/* --- records ----------------------------------------------------------- */

void pm__api_record_init(pm__api_record_t *r)
{
    memset(r, 0, sizeof(*r));
    for (int i = 0; i < PM__API_MAX_COLS; i++)
        r->v[i].null = true;
}

void pm__api_record_free(pm__api_record_t *r)
{
    for (int i = 0; i < PM__API_MAX_COLS; i++)
        pm_free(r->v[i].text);
    pm__api_record_init(r);
}

void pm__api_record_set_text(pm__api_record_t *r, int col, const char *s, size_t len)
{
    pm__api_value_t *v = &r->v[col];
    pm_free(v->text);
    v->text = pm_strndup(s, len);
    v->null = false;
    v->i = 0;
}

void pm__api_record_set_int(pm__api_record_t *r, int col, int64_t i)
{
    pm__api_value_t *v = &r->v[col];
    pm_free(v->text);
    v->text = NULL;
    v->null = false;
    v->i = i;
}

void pm__api_record_set_null(pm__api_record_t *r, int col)
{
    pm__api_value_t *v = &r->v[col];
    pm_free(v->text);
    v->text = NULL;
    v->null = true;
    v->i = 0;
}

/* --- value checks ------------------------------------------------------ */

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

bool pm__api_check_name(const char *s, size_t len, const char **why)
{
    *why = NULL;
    if (len == 0)
        *why = "must not be empty";
    else if (!pm_text_is_clean(s, len))
        *why = "must be UTF-8 text without control characters";
    else if (utf8_chars(s, len) > NAME_MAX_CHARS)
        *why = "must be at most 200 characters";
    return *why == NULL;
}

static size_t scheme_len(const char *s, size_t len)
{
    if (len >= 8 && strncasecmp(s, "https://", 8) == 0) return 8;
    if (len >= 7 && strncasecmp(s, "http://", 7) == 0) return 7;
    return 0;
}

bool pm__api_check_url(const char *s, size_t len, const char **why)
{
    size_t start = scheme_len(s, len);
    *why = NULL;
    if (len > URL_MAX) {
        *why = "must be at most 2048 characters";
    } else if (start == 0) {
        *why = "must be an http:// or https:// URL";
    } else if (start == len || strchr("/?#", s[start])) {
        *why = "must name a host";
    } else {
        for (size_t i = 0; i < len && *why == NULL; i++)
            if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
                *why = "must not contain spaces, control or non-ASCII characters (percent-encode them)";
    }
    return *why == NULL;
}

bool pm__api_check_token(const char *s, size_t len)
{
    if (len < TOKEN_MIN || len > TOKEN_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '_' || ch == '-';
        if (!ok) return false;
    }
    return true;
}

/* --- the body ---------------------------------------------------------- */

/* jansson quotes the input near an error; keep the message printable ASCII
 * so it always serializes. */
static void printable(char *dst, const char *src, size_t cap)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (unsigned char)src[i] >= 0x20 && (unsigned char)src[i] < 0x7f ? src[i] : '?';
    dst[i] = '\0';
}

json_t *pm__api_body(pm__api_ctx_t *c)
{
    pm_slice_t b = c->req->body;
    json_error_t err;
    json_t *doc = b.p && b.len ? json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &err) : NULL;
    if (b.p == NULL || b.len == 0) {
        pm_http_res_error(c->res, 400, "invalid_json", NULL, "the body must be a JSON object; it is empty");
    } else if (doc == NULL) {
        char text[JSON_ERROR_TEXT_LENGTH];
        printable(text, err.text, sizeof(text));
        pm_http_res_error(c->res, 400, "invalid_json", NULL, "invalid JSON at line %d, column %d: %s", err.line,
                          err.column, text);
    } else if (!json_is_object(doc)) {
        pm_http_res_error(c->res, 400, "invalid_json", NULL, "the body must be a JSON object");
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* --- applying a body to a record -------------------------------------- */

static int reject(pm__api_ctx_t *c, const char *code, const char *field, const char *fmt, ...) PM_PRINTF(4, 5);

static int reject(pm__api_ctx_t *c, const char *code, const char *field, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pm_http_res_error(c->res, 422, code, field, "%s", msg);
    return PM_EINVAL;
}

static const pm__api_field_t *find_field(const pm__api_field_t *fields, const char *key)
{
    for (const pm__api_field_t *f = fields; f->name; f++)
        if (strcmp(f->name, key) == 0) return f;
    return NULL;
}

/* Output-only keys a client may echo back from a GET. */
static bool read_only(const char *key)
{
    static const char *const keys[] = {"id", "created_at", "updated_at", "tracking_url", "impression_url",
                                       "postback_url", "budget_spent_today", "budget_spent_total", "capped",
                                       "capped_reason", "conversions_today", "conversions_total", "assignment_seed",
                                       "results", NULL};
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(keys[i], key) == 0) return true;
    return false;
}

static int reject_unknown(pm__api_ctx_t *c, const char *prefix, const char *key)
{
    size_t plen = strlen(prefix), klen = strlen(key);
    char *dotted = pm_malloc(plen + klen + 2);
    snprintf(dotted, plen + klen + 2, "%s%s%s", prefix, plen ? "." : "", key);
    if (klen > ECHO_MAX)
        reject(c, "unknown_field", dotted, "unknown field");
    else if (plen == 0 && read_only(key))
        reject(c, "unknown_field", dotted, "\"%s\" is read-only", dotted);
    else
        reject(c, "unknown_field", dotted, "unknown field \"%s\"", dotted);
    pm_free(dotted);
    return PM_EINVAL;
}

static int apply_object(pm__api_ctx_t *c, const pm__api_field_t *fields, json_t *obj, const char *prefix,
                        bool full, pm__api_record_t *rec);

static int want_string(pm__api_ctx_t *c, const char *path, json_t *v, const char **s, size_t *len)
{
    if (!json_is_string(v)) return reject(c, "invalid", path, "%s must be a string", path);
    *s = json_string_value(v);
    *len = json_string_length(v);
    return PM_OK;
}

static bool text_ok(pm__api_kind_t kind, const char *s, size_t len, const char **why)
{
    *why = NULL;
    switch (kind) {
    case PM__API_F_NAME: return pm__api_check_name(s, len, why);
    case PM__API_F_URL: return pm__api_check_url(s, len, why);
    case PM__API_F_URL_OPT: return len == 0 || pm__api_check_url(s, len, why);
    case PM__API_F_TOKEN:
        *why = "must be 4 to 64 characters of A-Z, a-z, 0-9, '_' or '-'";
        return pm__api_check_token(s, len);
    default: return true;
    }
}

static int apply_text(pm__api_ctx_t *c, const pm__api_field_t *f, const char *path, json_t *v,
                      pm__api_record_t *rec)
{
    const char *s = NULL, *why = NULL;
    size_t len = 0;
    if (want_string(c, path, v, &s, &len) != PM_OK) return PM_EINVAL;
    if (!text_ok(f->kind, s, len, &why)) return reject(c, "invalid", path, "%s %s", path, why);
    pm__api_record_set_text(rec, f->col, s, len);
    return PM_OK;
}

static int apply_enum(pm__api_ctx_t *c, const pm__api_field_t *f, const char *path, json_t *v,
                      pm__api_record_t *rec)
{
    const char *s = NULL;
    size_t len = 0;
    if (want_string(c, path, v, &s, &len) != PM_OK) return PM_EINVAL;
    char list[128] = "";
    size_t n = 0;
    for (size_t i = 0; f->choices[i]; i++) {
        if (strcmp(s, f->choices[i]) == 0) {
            pm__api_record_set_text(rec, f->col, s, len);
            return PM_OK;
        }
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", f->choices[i]);
        if (n >= sizeof(list)) n = sizeof(list) - 1;
    }
    return reject(c, "invalid", path, "%s must be one of %s", path, list);
}

static int apply_cost_model(pm__api_ctx_t *c, const pm__api_field_t *f, const char *path, json_t *v,
                            pm__api_record_t *rec)
{
    const char *s = NULL;
    size_t len = 0;
    pm_cost_model_t m;
    if (want_string(c, path, v, &s, &len) != PM_OK) return PM_EINVAL;
    if (pm_cost_model_parse(s, &m) != PM_OK) return reject(c, "invalid", path, "%s must be one of cpc, cpm, cpa", path);
    const char *name = pm_cost_model_name(m);
    pm__api_record_set_text(rec, f->col, name, strlen(name));
    return PM_OK;
}

static int apply_amount(pm__api_ctx_t *c, const pm__api_field_t *f, const char *path, json_t *v,
                        pm__api_record_t *rec)
{
    if (json_is_number(v))
        return reject(c, "invalid", path, "%s must be a decimal string such as \"12.50\", not a JSON number", path);
    const char *s = NULL, *why = NULL;
    size_t len = 0;
    int64_t micros = 0;
    if (want_string(c, path, v, &s, &len) != PM_OK) return PM_EINVAL;
    if (len > 0 && s[0] == '-') return reject(c, "invalid", path, "%s must not be negative", path);
    int rc = pm_money_parse(s, len, false, &micros, &why);
    if (rc == PM_ERANGE) return reject(c, "invalid", path, "%s is out of range", path);
    if (rc != PM_OK)
        return reject(c, "invalid", path, "%s must be a decimal string such as \"12.50\" (%s)", path,
                      why ? why : "malformed");
    pm__api_record_set_int(rec, f->col, micros);
    return PM_OK;
}

static int apply_currency(pm__api_ctx_t *c, const pm__api_field_t *f, const char *path, json_t *v,
                          pm__api_record_t *rec)
{
    const char *s = NULL;
    size_t len = 0;
    pm_currency_t cur;
    if (want_string(c, path, v, &s, &len) != PM_OK) return PM_EINVAL;
    if (pm_currency_parse(s, len, &cur) != PM_OK)
        return reject(c, "invalid", path, "%s must be an ISO 4217 currency code such as \"USD\"", path);
    pm__api_record_set_text(rec, f->col, cur.code, strlen(cur.code));
    return PM_OK;
}

/* A reference must name a live (not deleted) row, checked inside the
 * caller's transaction so it cannot be deleted before the write lands. */
static int apply_ref(pm__api_ctx_t *c, const pm__api_field_t *f, const char *path, json_t *v,
                     pm__api_record_t *rec)
{
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return reject(c, "invalid", path, "%s must be a positive integer id", path);
    json_int_t id = json_integer_value(v);
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id=?1 AND deleted_at IS NULL", f->ref_table);
    sqlite3_stmt *st = pm__api_stmt(c->api, sql);
    if (st == NULL) return pm__api_store_failed(c, "reference lookup");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step == SQLITE_DONE)
        return reject(c, "not_found", path, "%s: %lld does not exist or was deleted", path, (long long)id);
    if (step != SQLITE_ROW) return pm__api_store_failed(c, "reference lookup");
    pm__api_record_set_int(rec, f->col, (int64_t)id);
    return PM_OK;
}

/* Structure is the kind's business (its finish hook compiles it); here it
 * only has to be an object or array, kept as compact text. */
static int apply_json(pm__api_ctx_t *c, const pm__api_field_t *f, const char *path, json_t *v, pm__api_record_t *rec)
{
    if (!json_is_object(v) && !json_is_array(v))
        return reject(c, "invalid", path, "%s must be a JSON object or array", path);
    char *text = json_dumps(v, JSON_COMPACT);
    if (text == NULL) return reject(c, "invalid", path, "%s cannot be serialized", path);
    pm__api_record_set_text(rec, f->col, text, strlen(text));
    free(text);
    return PM_OK;
}

static int apply_present(pm__api_ctx_t *c, const pm__api_field_t *f, const char *path, json_t *v, bool full,
                         pm__api_record_t *rec)
{
    if (json_is_null(v) && (f->flags & PM__API_NULLABLE)) {
        pm__api_record_set_null(rec, f->col);
        return PM_OK;
    }
    if (json_is_null(v)) return reject(c, "invalid", path, "%s may not be null", path);
    switch (f->kind) {
    case PM__API_F_NAME:
    case PM__API_F_URL:
    case PM__API_F_URL_OPT:
    case PM__API_F_TOKEN: return apply_text(c, f, path, v, rec);
    case PM__API_F_ENUM: return apply_enum(c, f, path, v, rec);
    case PM__API_F_COST_MODEL: return apply_cost_model(c, f, path, v, rec);
    case PM__API_F_AMOUNT: return apply_amount(c, f, path, v, rec);
    case PM__API_F_CURRENCY: return apply_currency(c, f, path, v, rec);
    case PM__API_F_REF: return apply_ref(c, f, path, v, rec);
    case PM__API_F_COUNT:
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000000000LL)
            return reject(c, "invalid", path, "%s must be an integer from 1 to 1000000000000 (or null)", path);
        pm__api_record_set_int(rec, f->col, (int64_t)json_integer_value(v));
        return PM_OK;
    case PM__API_F_OBJECT:
        if (!json_is_object(v)) return reject(c, "invalid", path, "%s must be an object", path);
        return apply_object(c, f->children, v, path, full, rec);
    case PM__API_F_JSON: return apply_json(c, f, path, v, rec);
    }
    return reject(c, "invalid", path, "%s is not accepted", path);
}

/* The default of an optional field (an object: of each member). */
static void set_default(const pm__api_field_t *f, pm__api_record_t *rec)
{
    if (f->kind == PM__API_F_OBJECT) {
        for (const pm__api_field_t *ch = f->children; ch->name; ch++)
            set_default(ch, rec);
    } else if (f->def) {
        pm__api_record_set_text(rec, f->col, f->def, strlen(f->def));
    } else {
        pm__api_record_set_null(rec, f->col);
    }
}

/* An absent field: on a merge patch it keeps its value; on a full write it
 * is required or takes its default. */
static int apply_absent(pm__api_ctx_t *c, const pm__api_field_t *f, const char *path, bool full,
                        pm__api_record_t *rec)
{
    if (!full) return PM_OK;
    if (f->flags & PM__API_REQUIRED) return reject(c, "required", path, "%s is required", path);
    set_default(f, rec);
    return PM_OK;
}

static int apply_object(pm__api_ctx_t *c, const pm__api_field_t *fields, json_t *obj, const char *prefix,
                        bool full, pm__api_record_t *rec)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        if (find_field(fields, key) == NULL) return reject_unknown(c, prefix, key);
    }
    for (const pm__api_field_t *f = fields; f->name; f++) {
        char path[FIELD_PATH_MAX];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", f->name);
        json_t *v = json_object_get(obj, f->name);
        int rc = v ? apply_present(c, f, path, v, full, rec) : apply_absent(c, f, path, full, rec);
        if (rc != PM_OK) return rc;
    }
    return PM_OK;
}

int pm__api_apply(pm__api_ctx_t *c, const pm__api_field_t *fields, json_t *obj, bool full, pm__api_record_t *rec)
{
    return apply_object(c, fields, obj, "", full, rec);
}

/* --- rendering a record ------------------------------------------------ */

static json_t *render_value(const pm__api_field_t *f, const pm__api_record_t *rec)
{
    const pm__api_value_t *v = &rec->v[f->col];
    if (f->kind == PM__API_F_OBJECT) {
        json_t *child = json_object();
        pm__api_render(f->children, rec, child);
        return child;
    }
    if (v->null) return json_null();
    if (f->kind == PM__API_F_REF || f->kind == PM__API_F_COUNT) return json_integer(v->i);
    if (f->kind == PM__API_F_JSON) {
        json_t *doc = v->text ? json_loads(v->text, 0, NULL) : NULL;
        return doc ? doc : json_null();
    }
    if (f->kind == PM__API_F_AMOUNT) {
        char amount[PM_MONEY_STR_MAX];
        size_t n = pm_money_format(v->i, amount);
        return json_stringn(amount, n);
    }
    return pm__api_jstr(v->text, v->text ? strlen(v->text) : 0);
}

void pm__api_render(const pm__api_field_t *fields, const pm__api_record_t *rec, json_t *obj)
{
    for (const pm__api_field_t *f = fields; f->name; f++)
        json_object_set_new(obj, f->name, render_value(f, rec));
}

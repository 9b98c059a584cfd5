/*
 * api_internal.h: what the files of the admin API share, and nothing else
 * includes. The per-thread handle with its prepared-statement cache, the
 * per-request context handed to every handler, the response helpers, the
 * table-driven body checker (validate.c) and the entity tables (kinds.c)
 * that the generic CRUD engine (entities.c) runs on.
 *
 * Error convention inside the module: a helper that can reject a request
 * answers it itself (sets the JSON error on c->res) and returns a negative
 * code; the caller just stops. So PM_OK means "carry on" and anything else
 * means "the response is already written".
 */
#ifndef PM_API_INTERNAL_H
#define PM_API_INTERNAL_H

#include "pm/api.h"
#include "pm/qs.h"

#include <jansson.h>
#include <sqlite3.h>

/* --- the handle and the request context ------------------------------- */

typedef struct pm__api_stmt_s {
    char *sql;         /* owned copy: the cache key */
    sqlite3_stmt *st;  /* owned; finalized in pm_api_destroy */
} pm__api_stmt_t;

struct pm_api_s {
    pm_store_t *store;       /* borrowed */
    pm_confhold_t *confhold; /* borrowed */
    pm_outbox_t *outbox;     /* borrowed, may be NULL */
    pm_spend_t *spend;       /* borrowed, may be NULL */
    pm__api_stmt_t *stmts;   /* grows: the SQL texts are fixed by the code */
    size_t nstmts, stmts_cap;
};

struct pm__api_entity_s;

typedef struct pm__api_ctx_s {
    pm_api_t *api;
    const pm_config_t *cfg;   /* the caller's snapshot (base_url); may be NULL */
    const pm_http_req_t *req;
    pm_http_res_t *res;
    const struct pm__api_entity_s *entity; /* for entity routes */
    int64_t id;                            /* for item routes, else 0 */
} pm__api_ctx_t;

/* --- statements --------------------------------------------------------- */

/* The cached statement for `sql` (prepared on first use), reset and with
 * its bindings cleared. NULL when SQLite rejects it (logged). The caller
 * sqlite3_reset()s it when done so no read lock outlives the request. */
sqlite3_stmt *pm__api_stmt(pm_api_t *api, const char *sql);

/* BEGIN IMMEDIATE / COMMIT on the handle's store; answer 500 on failure. */
int pm__api_begin(pm__api_ctx_t *c) PM_MUST_CHECK;
int pm__api_commit(pm__api_ctx_t *c) PM_MUST_CHECK;
/* Rebuild and publish the tracking configuration; 500 on failure. */
int pm__api_reload(pm__api_ctx_t *c) PM_MUST_CHECK;

/* --- responses ---------------------------------------------------------- */

/* 500 "internal" after a store failure (SQLite's message goes to the log,
 * never to the client). Returns PM_ESTORE for the caller to pass up. */
int pm__api_store_failed(pm__api_ctx_t *c, const char *what);
/* Serialize `doc` (reference taken) as the response body with `status`. */
void pm__api_send(pm__api_ctx_t *c, int status, json_t *doc);
/* A JSON string for text that should be UTF-8 but comes from the store:
 * invalid bytes are replaced so the document still serializes. Never NULL. */
json_t *pm__api_jstr(const char *s, size_t len);
/* An RFC 3339 string for UTC microseconds. */
json_t *pm__api_jtime(pm_time_t t);
/* {"amount":"12.50","currency":"USD"}. */
json_t *pm__api_jmoney(int64_t micros, const char *currency);

/* --- query strings ------------------------------------------------------ */

/* Parse the query string into *qs and reject parameters not in `allowed`
 * (NULL-terminated), repeated ones and overflowing ones (422). The caller
 * pm_qs_free()s *qs whatever the result. */
int pm__api_query(pm__api_ctx_t *c, pm_qs_t *qs, const char *const *allowed) PM_MUST_CHECK;
/* The integer parameter `name` (digits only, within [min, max]) or `def`
 * when absent; 422 naming the parameter otherwise. */
int pm__api_query_int(pm__api_ctx_t *c, const pm_qs_t *qs, const char *name, int64_t min, int64_t max,
                      int64_t def, int64_t *out) PM_MUST_CHECK;
/* Strict decimal integer: digits only, no sign, within [min, max]. */
bool pm__api_parse_int(const char *s, size_t len, int64_t min, int64_t max, int64_t *out);

#define PM__API_LIMIT_DEFAULT 100
#define PM__API_LIMIT_MAX 1000

/* --- records: one entity row as the API moves it ------------------------ */

#define PM__API_MAX_COLS 16

typedef enum pm__api_coltype_e { PM__API_COL_TEXT, PM__API_COL_INT } pm__api_coltype_t;

typedef struct pm__api_column_s {
    const char *name; /* SQL column name */
    pm__api_coltype_t type;
} pm__api_column_t;

typedef struct pm__api_value_s {
    bool null;
    int64_t i;
    char *text; /* owned, for text columns */
} pm__api_value_t;

typedef struct pm__api_record_s {
    int64_t id, created_at, updated_at;
    pm__api_value_t v[PM__API_MAX_COLS];
} pm__api_record_t;

void pm__api_record_init(pm__api_record_t *r); /* every column NULL */
void pm__api_record_free(pm__api_record_t *r); /* frees texts; reusable after */
void pm__api_record_set_text(pm__api_record_t *r, int col, const char *s, size_t len);
void pm__api_record_set_int(pm__api_record_t *r, int col, int64_t i);
void pm__api_record_set_null(pm__api_record_t *r, int col);

/* --- the body checker (validate.c) -------------------------------------- */

typedef enum pm__api_kind_e {
    PM__API_F_NAME,       /* clean UTF-8, 1..200 characters */
    PM__API_F_URL,        /* http(s) URL, may hold {macros} */
    PM__API_F_URL_OPT,    /* "" or an http(s) URL */
    PM__API_F_ENUM,       /* one of `choices` */
    PM__API_F_COST_MODEL, /* pm_cost_model_parse */
    PM__API_F_AMOUNT,     /* non-negative decimal string -> micro-units */
    PM__API_F_CURRENCY,   /* ISO 4217 */
    PM__API_F_REF,        /* id of a live row of `ref_table` */
    PM__API_F_TOKEN,      /* [A-Za-z0-9_-]{4,64} */
    PM__API_F_OBJECT,     /* nested object described by `children` */
    PM__API_F_COUNT,      /* JSON integer, 1 .. 10^12 */
    PM__API_F_JSON,       /* any JSON object or array, stored as its text; the kind's finish hook checks it */
} pm__api_kind_t;

enum {
    PM__API_REQUIRED = 1, /* must be present on create and full replace */
    PM__API_NULLABLE = 2, /* JSON null stores NULL */
};

typedef struct pm__api_field_s {
    const char *name;  /* JSON key; NULL ends a table */
    pm__api_kind_t kind;
    int col;           /* record column (unused for objects) */
    unsigned flags;
    const char *def;   /* text default when absent on a full write; NULL = NULL */
    const char *const *choices;              /* ENUM: NULL-terminated */
    const char *ref_table;                   /* REF */
    const struct pm__api_field_s *children;  /* OBJECT */
} pm__api_field_t;

/* The request body as a JSON object (reference owned by the caller), or
 * NULL after answering 400 "invalid_json". */
json_t *pm__api_body(pm__api_ctx_t *c);

/* Check `obj` against `fields` and store the values into `rec`. `full`
 * (create, replace): required fields must be there and absent ones take
 * their default; otherwise (PATCH, a JSON merge patch) absent fields keep
 * what `rec` holds. Unknown keys are rejected by their dotted name. REF
 * fields are looked up in the store. Answers 422 itself on failure. */
int pm__api_apply(pm__api_ctx_t *c, const pm__api_field_t *fields, json_t *obj, bool full,
                  pm__api_record_t *rec) PM_MUST_CHECK;

/* Add the JSON form of `rec` as described by `fields` to `obj`. */
void pm__api_render(const pm__api_field_t *fields, const pm__api_record_t *rec, json_t *obj);

/* Value checks shared with other files; *why is a static reason. */
bool pm__api_check_name(const char *s, size_t len, const char **why);
bool pm__api_check_url(const char *s, size_t len, const char **why);
bool pm__api_check_token(const char *s, size_t len);

/* --- entities (kinds.c describes them, entities.c serves them) --------- */

typedef struct pm__api_entity_s {
    const char *path;     /* collection segment: "offers" */
    const char *table;    /* SQL table */
    const char *singular; /* for messages: "offer" */
    const pm__api_column_t *cols;
    int ncols;
    const pm__api_field_t *fields;
    /* The campaigns column and JSON field that reference this entity (a
     * delete is refused while a live campaign does), or NULL. */
    const char *ref_column, *ref_field;
    /* Cross-field checks and generated values after the body was applied;
     * `old` is the row being replaced or patched (NULL on create). */
    int (*finish)(pm__api_ctx_t *c, pm__api_record_t *rec, const pm__api_record_t *old);
    /* Extra read-only output (a campaign's URLs). */
    void (*decorate)(pm__api_ctx_t *c, const pm__api_record_t *rec, json_t *obj);
} pm__api_entity_t;

extern const pm__api_entity_t *const pm__api_entities[]; /* NULL-terminated */

void pm__api_entity_list(pm__api_ctx_t *c);
void pm__api_entity_get(pm__api_ctx_t *c);
void pm__api_entity_create(pm__api_ctx_t *c);
void pm__api_entity_replace(pm__api_ctx_t *c);
void pm__api_entity_patch(pm__api_ctx_t *c);
void pm__api_entity_delete(pm__api_ctx_t *c);

/* --- the other endpoints ------------------------------------------------ */

void pm__api_events_list(pm__api_ctx_t *c);   /* events.c */
void pm__api_reports_get(pm__api_ctx_t *c);  /* reports.c */
void pm__api_attribution_get(pm__api_ctx_t *c); /* attribution.c */
void pm__api_clv_get(pm__api_ctx_t *c);         /* reports.c */
void pm__api_settings_get(pm__api_ctx_t *c);  /* settings.c */
void pm__api_settings_patch(pm__api_ctx_t *c);
void pm__api_postbacks_list(pm__api_ctx_t *c); /* postbacks.c */
void pm__api_postbacks_get(pm__api_ctx_t *c);
void pm__api_postbacks_retry(pm__api_ctx_t *c);
void pm__api_keys_create(pm__api_ctx_t *c);
void pm__api_keys_list(pm__api_ctx_t *c);
void pm__api_keys_revoke(pm__api_ctx_t *c);

#endif

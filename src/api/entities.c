/*
 * entities.c: create, read, list, replace, patch and delete for every
 * entity kind described in kinds.c, with one implementation: the SQL is
 * built from the kind's column list (and cached as prepared statements by
 * its text), bodies go through the kind's field table (validate.c), and a
 * written row is read back from the store before it is answered, so the
 * client sees exactly what was stored.
 *
 * Every write runs in one BEGIN IMMEDIATE transaction, from the reference
 * checks to the UPDATE, and is followed by a configuration reload so the
 * tracking path sees it on its next request. Deletes are soft (deleted_at):
 * events keep pointing at rows that still exist, and a row still used by a
 * live campaign cannot be deleted (409 naming the campaign's field).
 */
#include "api_internal.h"

#include <stdio.h>
#include <string.h>

#define SQL_MAX 1024

typedef enum entity_op_e { OP_GET, OP_LIST, OP_INSERT, OP_UPDATE, OP_DELETE, OP_USED_BY } entity_op_t;

static const char *const no_params[] = {NULL};

/* --- SQL --------------------------------------------------------------- */

typedef struct sql_s {
    char s[SQL_MAX];
    size_t n;
} sql_t;

static void sql_add(sql_t *q, const char *fmt, ...) PM_PRINTF(2, 3);

static void sql_add(sql_t *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(q->s + q->n, sizeof(q->s) - q->n, fmt, ap);
    va_end(ap);
    /* The texts come from our tables; a cut would be a programming error. */
    if (PM_NEVER(n < 0 || (size_t)n >= sizeof(q->s) - q->n)) return;
    q->n += (size_t)n;
}

/* "id,created_at,updated_at,<columns>" */
static void sql_select_list(sql_t *q, const pm__api_entity_t *e)
{
    sql_add(q, "SELECT id,created_at,updated_at");
    for (int i = 0; i < e->ncols; i++)
        sql_add(q, ",%s", e->cols[i].name);
}

static void sql_insert(sql_t *q, const pm__api_entity_t *e)
{
    sql_add(q, "INSERT INTO %s(", e->table);
    for (int i = 0; i < e->ncols; i++)
        sql_add(q, "%s,", e->cols[i].name);
    sql_add(q, "created_at,updated_at) VALUES(");
    for (int i = 0; i < e->ncols; i++)
        sql_add(q, "?%d,", i + 1);
    sql_add(q, "?%d,?%d)", e->ncols + 1, e->ncols + 1);
}

static void sql_update(sql_t *q, const pm__api_entity_t *e)
{
    sql_add(q, "UPDATE %s SET ", e->table);
    for (int i = 0; i < e->ncols; i++)
        sql_add(q, "%s=?%d,", e->cols[i].name, i + 1);
    sql_add(q, "updated_at=?%d WHERE id=?%d AND deleted_at IS NULL", e->ncols + 1, e->ncols + 2);
}

static sqlite3_stmt *entity_stmt(pm__api_ctx_t *c, entity_op_t op)
{
    const pm__api_entity_t *e = c->entity;
    sql_t q = {.n = 0};
    switch (op) {
    case OP_GET:
        sql_select_list(&q, e);
        sql_add(&q, " FROM %s WHERE id=?1 AND deleted_at IS NULL", e->table);
        break;
    case OP_LIST:
        sql_select_list(&q, e);
        sql_add(&q, " FROM %s WHERE deleted_at IS NULL AND id>?1 ORDER BY id LIMIT ?2", e->table);
        break;
    case OP_INSERT: sql_insert(&q, e); break;
    case OP_UPDATE: sql_update(&q, e); break;
    case OP_DELETE:
        sql_add(&q, "UPDATE %s SET deleted_at=?1,updated_at=?1 WHERE id=?2 AND deleted_at IS NULL", e->table);
        break;
    case OP_USED_BY:
        sql_add(&q, "SELECT id FROM campaigns WHERE %s=?1 AND deleted_at IS NULL ORDER BY id LIMIT 1",
                e->ref_column);
        break;
    }
    return pm__api_stmt(c->api, q.s);
}

/* --- rows and records -------------------------------------------------- */

static void load_row(sqlite3_stmt *st, const pm__api_entity_t *e, pm__api_record_t *rec)
{
    rec->id = sqlite3_column_int64(st, 0);
    rec->created_at = sqlite3_column_int64(st, 1);
    rec->updated_at = sqlite3_column_int64(st, 2);
    for (int i = 0; i < e->ncols; i++) {
        int col = i + 3;
        if (sqlite3_column_type(st, col) == SQLITE_NULL)
            pm__api_record_set_null(rec, i);
        else if (e->cols[i].type == PM__API_COL_INT)
            pm__api_record_set_int(rec, i, sqlite3_column_int64(st, col));
        else
            pm__api_record_set_text(rec, i, (const char *)sqlite3_column_text(st, col),
                                    (size_t)sqlite3_column_bytes(st, col));
    }
}

static void bind_record(sqlite3_stmt *st, const pm__api_entity_t *e, const pm__api_record_t *rec)
{
    for (int i = 0; i < e->ncols; i++) {
        const pm__api_value_t *v = &rec->v[i];
        if (v->null)
            sqlite3_bind_null(st, i + 1);
        else if (e->cols[i].type == PM__API_COL_INT)
            sqlite3_bind_int64(st, i + 1, v->i);
        else
            sqlite3_bind_text(st, i + 1, v->text, -1, SQLITE_STATIC);
    }
}

static json_t *render_record(pm__api_ctx_t *c, const pm__api_record_t *rec)
{
    json_t *obj = json_object();
    json_object_set_new(obj, "id", json_integer(rec->id));
    pm__api_render(c->entity->fields, rec, obj);
    json_object_set_new(obj, "created_at", pm__api_jtime(rec->created_at));
    json_object_set_new(obj, "updated_at", pm__api_jtime(rec->updated_at));
    if (c->entity->decorate) c->entity->decorate(c, rec, obj);
    return obj;
}

static int not_found(pm__api_ctx_t *c, int64_t id)
{
    pm_http_res_error(c->res, 404, "not_found", NULL, "no %s with id %lld", c->entity->singular, (long long)id);
    return PM_ENOTFOUND;
}

/* The live row `id` into rec, or an answered 404 / 500. */
static int fetch(pm__api_ctx_t *c, int64_t id, pm__api_record_t *rec)
{
    sqlite3_stmt *st = entity_stmt(c, OP_GET);
    if (st == NULL) return pm__api_store_failed(c, "select");
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st), rc = PM_OK;
    if (step == SQLITE_ROW)
        load_row(st, c->entity, rec);
    else if (step == SQLITE_DONE)
        rc = not_found(c, id);
    else
        rc = pm__api_store_failed(c, "select");
    sqlite3_reset(st);
    return rc;
}

/* Run a write statement; a unique constraint (a race the checks did not
 * see) is a 409, anything else a 500. */
static int run_write(pm__api_ctx_t *c, sqlite3_stmt *st, const char *what)
{
    int step = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(pm_store_db(c->api->store));
    sqlite3_reset(st);
    if (step == SQLITE_DONE) return PM_OK;
    if (ext == SQLITE_CONSTRAINT_UNIQUE) {
        pm_http_res_error(c->res, 409, "conflict", NULL, "a unique value is already taken");
        return PM_EEXIST;
    }
    return pm__api_store_failed(c, what);
}

static int insert_record(pm__api_ctx_t *c, pm__api_record_t *rec)
{
    sqlite3_stmt *st = entity_stmt(c, OP_INSERT);
    if (st == NULL) return pm__api_store_failed(c, "insert");
    bind_record(st, c->entity, rec);
    sqlite3_bind_int64(st, c->entity->ncols + 1, pm_now());
    int rc = run_write(c, st, "insert");
    if (rc == PM_OK) rec->id = sqlite3_last_insert_rowid(pm_store_db(c->api->store));
    return rc;
}

static int update_record(pm__api_ctx_t *c, const pm__api_record_t *rec)
{
    sqlite3_stmt *st = entity_stmt(c, OP_UPDATE);
    if (st == NULL) return pm__api_store_failed(c, "update");
    bind_record(st, c->entity, rec);
    sqlite3_bind_int64(st, c->entity->ncols + 1, pm_now());
    sqlite3_bind_int64(st, c->entity->ncols + 2, rec->id);
    return run_write(c, st, "update");
}

/* After the row is written inside the open transaction: commit, publish
 * the new configuration, and answer the row as stored. */
static void commit_and_answer(pm__api_ctx_t *c, int64_t id, int status)
{
    pm__api_record_t rec;
    pm__api_record_init(&rec);
    if (pm__api_commit(c) != PM_OK || pm__api_reload(c) != PM_OK || fetch(c, id, &rec) != PM_OK) goto out;
    if (status == 201) {
        char location[96];
        int n = snprintf(location, sizeof(location), "/api/v1/%s/%lld", c->entity->path, (long long)id);
        pm_http_res_header(c->res, "location", location, (size_t)n);
    }
    pm__api_send(c, status, render_record(c, &rec));
out:
    pm__api_record_free(&rec);
}

static int no_query(pm__api_ctx_t *c)
{
    pm_qs_t qs;
    int rc = pm__api_query(c, &qs, no_params);
    pm_qs_free(&qs);
    return rc;
}

/* --- reads ------------------------------------------------------------- */

void pm__api_entity_get(pm__api_ctx_t *c)
{
    pm__api_record_t rec;
    pm__api_record_init(&rec);
    if (no_query(c) != PM_OK || fetch(c, c->id, &rec) != PM_OK) goto out;
    pm__api_send(c, 200, render_record(c, &rec));
out:
    pm__api_record_free(&rec);
}

/* Up to `limit` rows after id `after` into `rows`; *next is the last id
 * when more rows follow, else 0. */
static int list_rows(pm__api_ctx_t *c, int64_t after, int64_t limit, json_t *rows, int64_t *next)
{
    sqlite3_stmt *st = entity_stmt(c, OP_LIST);
    if (st == NULL) return pm__api_store_failed(c, "list");
    pm__api_record_t rec;
    pm__api_record_init(&rec);
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, limit + 1); /* one more tells whether a next page exists */
    int64_t n = 0, last = 0;
    int step;
    for (;;) {
        step = sqlite3_step(st);
        if (step != SQLITE_ROW || n == limit) break;
        load_row(st, c->entity, &rec);
        json_array_append_new(rows, render_record(c, &rec));
        last = rec.id;
        n++;
    }
    sqlite3_reset(st);
    pm__api_record_free(&rec);
    *next = step == SQLITE_ROW ? last : 0;
    return step == SQLITE_ROW || step == SQLITE_DONE ? PM_OK : pm__api_store_failed(c, "list");
}

void pm__api_entity_list(pm__api_ctx_t *c)
{
    static const char *const allowed[] = {"limit", "after", NULL};
    pm_qs_t qs;
    int64_t limit = 0, after = 0, next = 0;
    json_t *rows = json_array();
    if (pm__api_query(c, &qs, allowed) != PM_OK) goto out;
    if (pm__api_query_int(c, &qs, "limit", 1, PM__API_LIMIT_MAX, PM__API_LIMIT_DEFAULT, &limit) != PM_OK) goto out;
    if (pm__api_query_int(c, &qs, "after", 0, INT64_MAX, 0, &after) != PM_OK) goto out;
    if (list_rows(c, after, limit, rows, &next) != PM_OK) goto out;
    pm__api_send(c, 200, json_pack("{s:O, s:o}", "rows", rows, "next", next ? json_integer(next) : json_null()));
out:
    json_decref(rows);
    pm_qs_free(&qs);
}

/* --- writes ------------------------------------------------------------ */

void pm__api_entity_create(pm__api_ctx_t *c)
{
    json_t *body = NULL;
    pm__api_record_t rec;
    pm__api_record_init(&rec);
    if (no_query(c) != PM_OK) goto out;
    body = pm__api_body(c);
    if (body == NULL || pm__api_begin(c) != PM_OK) goto out;
    if (pm__api_apply(c, c->entity->fields, body, true, &rec) != PM_OK) goto rollback;
    if (c->entity->finish && c->entity->finish(c, &rec, NULL) != PM_OK) goto rollback;
    if (insert_record(c, &rec) != PM_OK) goto rollback;
    commit_and_answer(c, rec.id, 201);
    goto out;
rollback:
    pm_store_rollback(c->api->store);
out:
    pm__api_record_free(&rec);
    json_decref(body);
}

/* PUT: the body replaces every field, with the same rules as a create. */
void pm__api_entity_replace(pm__api_ctx_t *c)
{
    json_t *body = NULL;
    pm__api_record_t old, rec;
    pm__api_record_init(&old);
    pm__api_record_init(&rec);
    if (no_query(c) != PM_OK) goto out;
    body = pm__api_body(c);
    if (body == NULL || pm__api_begin(c) != PM_OK) goto out;
    if (fetch(c, c->id, &old) != PM_OK) goto rollback;
    rec.id = c->id;
    if (pm__api_apply(c, c->entity->fields, body, true, &rec) != PM_OK) goto rollback;
    if (c->entity->finish && c->entity->finish(c, &rec, &old) != PM_OK) goto rollback;
    if (update_record(c, &rec) != PM_OK) goto rollback;
    commit_and_answer(c, c->id, 200);
    goto out;
rollback:
    pm_store_rollback(c->api->store);
out:
    pm__api_record_free(&rec);
    pm__api_record_free(&old);
    json_decref(body);
}

/* PATCH: a JSON merge patch over the stored row, checked as a whole. */
void pm__api_entity_patch(pm__api_ctx_t *c)
{
    json_t *body = NULL;
    pm__api_record_t rec;
    pm__api_record_init(&rec);
    if (no_query(c) != PM_OK) goto out;
    body = pm__api_body(c);
    if (body == NULL || pm__api_begin(c) != PM_OK) goto out;
    if (fetch(c, c->id, &rec) != PM_OK) goto rollback;
    if (pm__api_apply(c, c->entity->fields, body, false, &rec) != PM_OK) goto rollback;
    if (c->entity->finish && c->entity->finish(c, &rec, NULL) != PM_OK) goto rollback;
    if (update_record(c, &rec) != PM_OK) goto rollback;
    commit_and_answer(c, c->id, 200);
    goto out;
rollback:
    pm_store_rollback(c->api->store);
out:
    pm__api_record_free(&rec);
    json_decref(body);
}

/* 409 when a live campaign still uses row `id` of this kind. */
static int check_unused(pm__api_ctx_t *c, int64_t id)
{
    if (c->entity->ref_column == NULL) return PM_OK;
    sqlite3_stmt *st = entity_stmt(c, OP_USED_BY);
    if (st == NULL) return pm__api_store_failed(c, "reference check");
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st);
    int64_t campaign = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (step == SQLITE_DONE) return PM_OK;
    if (step != SQLITE_ROW) return pm__api_store_failed(c, "reference check");
    pm_http_res_error(c->res, 409, "conflict", c->entity->ref_field,
                      "%s %lld is used by campaign %lld (%s); change or delete the campaign first",
                      c->entity->singular, (long long)id, (long long)campaign, c->entity->ref_field);
    return PM_EEXIST;
}

static int soft_delete(pm__api_ctx_t *c, int64_t id)
{
    sqlite3_stmt *st = entity_stmt(c, OP_DELETE);
    if (st == NULL) return pm__api_store_failed(c, "delete");
    sqlite3_bind_int64(st, 1, pm_now());
    sqlite3_bind_int64(st, 2, id);
    return run_write(c, st, "delete");
}

void pm__api_entity_delete(pm__api_ctx_t *c)
{
    pm__api_record_t rec;
    pm__api_record_init(&rec);
    if (no_query(c) != PM_OK || pm__api_begin(c) != PM_OK) goto out;
    if (fetch(c, c->id, &rec) != PM_OK || check_unused(c, c->id) != PM_OK || soft_delete(c, c->id) != PM_OK) {
        pm_store_rollback(c->api->store);
        goto out;
    }
    if (pm__api_commit(c) != PM_OK || pm__api_reload(c) != PM_OK) goto out;
    c->res->status = 204;
out:
    pm__api_record_free(&rec);
}

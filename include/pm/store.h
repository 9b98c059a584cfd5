/*
 * store.h: the embedded store, SQLite in WAL mode. One pm_store_t is one
 * connection and belongs to one thread (each event loop has its own for
 * reads and admin writes; the materializer thread owns the event writes).
 *
 * The schema (entities, events, journal high-water marks, settings, API
 * keys) is created and migrated by pm_store_open; its version lives in
 * PRAGMA user_version.
 */
#ifndef PM_STORE_H
#define PM_STORE_H

#include "pm/common.h"
#include "pm/clock.h"
#include "pm/id.h"

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
typedef struct pm_store_s pm_store_t;

/* Open (creating when missing) the store at `path` and bring the schema up
 * to date. PM_ESTORE (logged with SQLite's message) on failure. */
int pm_store_open(const char *path, pm_store_t **out) PM_MUST_CHECK;
void pm_store_close(pm_store_t *s); /* accepts NULL */
/* The raw connection, for modules that run their own SQL. Borrowed. */
sqlite3 *pm_store_db(pm_store_t *s);

/* Run SQL with no result rows (may hold several statements). PM_ESTORE. */
int pm_store_exec(pm_store_t *s, const char *sql) PM_MUST_CHECK;

/* --- settings: workspace-wide key/value ------------------------------- */
/* Copy the value of `key` into a pm_malloc'd string (*out), or the default
 * when unset. Returns PM_OK, or PM_ESTORE. */
int pm_store_setting_get(pm_store_t *s, const char *key, char **out) PM_MUST_CHECK;
int pm_store_setting_set(pm_store_t *s, const char *key, const char *value) PM_MUST_CHECK;
/* The default for a known key, or NULL for an unknown key. */
const char *pm_store_setting_default(const char *key);
/* NULL-terminated list of known setting keys. */
extern const char *const pm_store_setting_keys[];

/* --- API keys ---------------------------------------------------------- */
/* Create a key for `role` ("admin" or "viewer"): writes its SHA-256 and
 * returns the key text (pm_malloc'd, shown once) in *key_out.
 * PM_EINVAL for an unknown role, PM_ESTORE. */
int pm_store_key_create(pm_store_t *s, const char *role, const char *name, char **key_out) PM_MUST_CHECK;
/* Look up a presented key. PM_OK with *role_out (static string "admin" or
 * "viewer"), PM_ENOTFOUND for an unknown or revoked key, PM_ESTORE. */
int pm_store_key_check(pm_store_t *s, const char *key, size_t len, const char **role_out) PM_MUST_CHECK;
/* Revoke key `id` (it stops working at once; the row stays for the record).
 * PM_OK, PM_ENOTFOUND for an unknown or already revoked key, PM_ESTORE. */
int pm_store_key_revoke(pm_store_t *s, int64_t id) PM_MUST_CHECK;
/* Number of usable keys (to decide whether to print a first key). */
int pm_store_key_count(pm_store_t *s, int64_t *count) PM_MUST_CHECK;

/* --- journal high-water marks ----------------------------------------- */
/* The position up to which lineage `lineage` is materialized; (0, 0) if
 * never. */
int pm_store_hwm_get(pm_store_t *s, unsigned lineage, uint32_t *seq, uint64_t *offset) PM_MUST_CHECK;
int pm_store_hwm_set(pm_store_t *s, unsigned lineage, uint32_t seq, uint64_t offset) PM_MUST_CHECK;

/* Begin/commit/rollback a write transaction (BEGIN IMMEDIATE). */
int pm_store_begin(pm_store_t *s) PM_MUST_CHECK;
int pm_store_commit(pm_store_t *s) PM_MUST_CHECK;
void pm_store_rollback(pm_store_t *s);

/* --- binding helpers shared by the store's writers ----------------------- */

/* Bind parameter `i` of `st` to an event id as its 26-character text, or to
 * NULL when the id is zero; to an entity id, or NULL when 0. SQLite copies
 * the text. Can't fail. */
void pm_store_bind_id(sqlite3_stmt *st, int i, const pm_id_t *id);
void pm_store_bind_ref(sqlite3_stmt *st, int i, int64_t v);

#endif

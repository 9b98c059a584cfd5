/*
 * deliver.c: the outbox's delivery worker (see pm/outbox.h). One thread,
 * one store connection, one libcurl multi handle: it scans the due
 * `pending` rows, starts up to `concurrency` GET transfers, and when one
 * ends records the attempt and the row's next state in one transaction:
 * 2xx -> delivered; anything else (HTTP status, curl error, timeout) ->
 * pending again after the backoff, or failed past the attempt/age limits.
 *
 * The queue lives in the store, not in memory: the worker keeps only the
 * ids in flight, so a kill -9 loses nothing (a row in flight is simply
 * still pending at the next start). Scans are cheap (an index on (status,
 * next_attempt_at)) and happen when woken (new conversions, a retry), when
 * a transfer ends, at the earliest due time, or every poll interval.
 */
#include "pm/outbox.h"
#include "pm/id.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define COUNTS_EVERY_US PM_USEC_PER_SEC

typedef struct outcome_s {
    long http;         /* 0 when no response */
    const char *error; /* NULL on a 2xx */
    char text[CURL_ERROR_SIZE + 32];
} outcome_t;

typedef struct transfer_s {
    bool used, finished;
    int64_t id;
    unsigned attempts, budget_start;
    int64_t queued_at;
    int64_t started_at, started_mono;
    CURL *easy;
    char *url;
    char err[CURL_ERROR_SIZE];
    /* Set when curl reports the end, until the batch is recorded. */
    outcome_t oc;
    int64_t finished_at, duration_us, next_at;
    const char *state; /* "delivered" | "pending" | "failed" */
} transfer_t;

struct pm_outbox_s {
    pm_outbox_policy_t pol;
    pm_store_t *store;
    CURLM *multi;
    pthread_t thread;
    _Atomic int stopping, woken;
    _Atomic uint64_t attempts, delivered, failed, pending_rows, delivered_rows, failed_rows, in_flight;
    sqlite3_stmt *due, *next_due, *add_attempt, *update, *counts;
    transfer_t *slots;
    unsigned nflight;
    int64_t next_scan_mono, next_counts_mono;
    uint64_t delivered_at_start;
    uint64_t rng;
};

/* --- store ---------------------------------------------------------------- */

static int prepare(pm_outbox_t *o, const char *sql, sqlite3_stmt **st)
{
    sqlite3 *db = pm_store_db(o->store);
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK) return PM_OK;
    pm_error("outbox: prepare: %s", sqlite3_errmsg(db));
    return PM_ESTORE;
}

static int prepare_all(pm_outbox_t *o)
{
    int rc = prepare(o,
                     "SELECT id, url, attempts, budget_start, queued_at FROM postbacks"
                     " WHERE status='pending' AND next_attempt_at<=?1 ORDER BY next_attempt_at, id LIMIT ?2",
                     &o->due);
    if (rc == PM_OK)
        rc = prepare(o, "SELECT min(next_attempt_at) FROM postbacks WHERE status='pending' AND next_attempt_at>?1",
                     &o->next_due);
    if (rc == PM_OK)
        rc = prepare(o,
                     "INSERT OR REPLACE INTO postback_attempts(postback_id, n, started_at, duration_us, http_status,"
                     " error) VALUES(?1,?2,?3,?4,?5,?6)",
                     &o->add_attempt);
    if (rc == PM_OK)
        rc = prepare(o,
                     "UPDATE postbacks SET attempts=?2, status=?3, next_attempt_at=?4, updated_at=?5,"
                     " delivered_at=?6, last_http_status=?7, last_error=?8 WHERE id=?1 AND status='pending'",
                     &o->update);
    if (rc == PM_OK) rc = prepare(o, "SELECT count(*) FROM postbacks WHERE status=?", &o->counts);
    return rc;
}

static bool in_flight(const pm_outbox_t *o, int64_t id)
{
    for (unsigned i = 0; i < o->pol.concurrency; i++)
        if (o->slots[i].used && o->slots[i].id == id) return true;
    return false;
}

static transfer_t *free_slot(pm_outbox_t *o)
{
    for (unsigned i = 0; i < o->pol.concurrency; i++)
        if (!o->slots[i].used) return &o->slots[i];
    return NULL;
}

/* --- transfers ---------------------------------------------------------- */

static size_t drop_body(char *p, size_t size, size_t n, void *arg)
{
    return size * n;
}

static int start_transfer(pm_outbox_t *o, transfer_t *t)
{
    t->easy = curl_easy_init();
    if (t->easy == NULL) return PM_EINVAL;
    t->err[0] = '\0';
    long timeout_ms = (long)(o->pol.timeout_us / 1000);
    curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
    curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->err);
    curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "perfmark-postback/1");
    curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, drop_body);
    /* Do not wait for a DNS thread still resolving when we stop. */
    curl_easy_setopt(t->easy, CURLOPT_QUICK_EXIT, 1L);
    t->started_at = pm_now();
    t->started_mono = pm_monotonic_us();
    if (curl_multi_add_handle(o->multi, t->easy) != CURLM_OK) {
        curl_easy_cleanup(t->easy);
        t->easy = NULL;
        return PM_EINVAL;
    }
    t->used = true;
    o->nflight++;
    atomic_store(&o->in_flight, o->nflight);
    return PM_OK;
}

static void release(pm_outbox_t *o, transfer_t *t)
{
    if (t->easy) {
        curl_multi_remove_handle(o->multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    pm_free(t->url);
    memset(t, 0, sizeof(*t));
    o->nflight--;
    atomic_store(&o->in_flight, o->nflight);
}

/* Start transfers for due rows while slots are free. */
static int scan(pm_outbox_t *o, int64_t now)
{
    sqlite3_stmt *st = o->due;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)o->pol.concurrency * 2);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        transfer_t *t = in_flight(o, id) ? NULL : free_slot(o);
        if (t == NULL) {
            if (free_slot(o) == NULL) break;
            continue;
        }
        t->id = id;
        t->url = pm_strdup((const char *)sqlite3_column_text(st, 1));
        t->attempts = (unsigned)sqlite3_column_int64(st, 2);
        t->budget_start = (unsigned)sqlite3_column_int64(st, 3);
        t->queued_at = sqlite3_column_int64(st, 4);
        if (start_transfer(o, t) != PM_OK) {
            pm_free(t->url);
            memset(t, 0, sizeof(*t));
            break;
        }
    }
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        pm_error("outbox: scan: %s", sqlite3_errmsg(pm_store_db(o->store)));
        return PM_ESTORE;
    }
    return PM_OK;
}

/* The earliest future due time of a pending row, or INT64_MAX. */
static int64_t next_due(pm_outbox_t *o, int64_t now)
{
    sqlite3_bind_int64(o->next_due, 1, now);
    int64_t at = INT64_MAX;
    if (sqlite3_step(o->next_due) == SQLITE_ROW && sqlite3_column_type(o->next_due, 0) != SQLITE_NULL)
        at = sqlite3_column_int64(o->next_due, 0);
    sqlite3_reset(o->next_due);
    return at;
}

static uint64_t next_random(pm_outbox_t *o)
{
    /* splitmix64: jitter needs spread, not secrecy. */
    uint64_t z = (o->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void outcome_of(transfer_t *t, CURLcode res)
{
    outcome_t *out = &t->oc;
    out->http = 0;
    out->error = NULL;
    if (res == CURLE_OK) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &out->http);
    if (res != CURLE_OK) {
        snprintf(out->text, sizeof(out->text), "%s%s%s", curl_easy_strerror(res), t->err[0] ? ": " : "", t->err);
        out->error = out->text;
    } else if (out->http < 200 || out->http > 299) {
        snprintf(out->text, sizeof(out->text), "HTTP %ld", out->http);
        out->error = out->text;
    }
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_int_or_null(sqlite3_stmt *st, int i, int64_t v, bool null)
{
    if (null)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

/* Decide what finished transfer `t` leads to (t->state, t->next_at). */
static void decide(pm_outbox_t *o, transfer_t *t)
{
    unsigned used = t->attempts + 1 - t->budget_start;
    t->next_at = 0;
    t->state = "delivered";
    if (t->oc.error == NULL) return;
    t->next_at = t->finished_at + pm_outbox_backoff_us(&o->pol, used, next_random(o));
    t->state = pm_outbox_give_up(&o->pol, used, t->queued_at, t->next_at) ? "failed" : "pending";
}

/* The attempt row and the postback's new state of `t` (in the open
 * transaction). PM_ESTORE. */
static int record_one(pm_outbox_t *o, const transfer_t *t)
{
    sqlite3_stmt *a = o->add_attempt, *u = o->update;
    const outcome_t *oc = &t->oc;
    sqlite3_bind_int64(a, 1, t->id);
    sqlite3_bind_int64(a, 2, t->attempts + 1);
    sqlite3_bind_int64(a, 3, t->started_at);
    sqlite3_bind_int64(a, 4, t->duration_us);
    bind_int_or_null(a, 5, oc->http, oc->http == 0);
    bind_text_or_null(a, 6, oc->error);
    int s1 = sqlite3_step(a);
    sqlite3_bind_int64(u, 1, t->id);
    sqlite3_bind_int64(u, 2, t->attempts + 1);
    sqlite3_bind_text(u, 3, t->state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(u, 4, t->next_at);
    sqlite3_bind_int64(u, 5, t->finished_at);
    bind_int_or_null(u, 6, t->finished_at, oc->error != NULL);
    bind_int_or_null(u, 7, oc->http, oc->http == 0);
    bind_text_or_null(u, 8, oc->error);
    int s2 = s1 == SQLITE_DONE ? sqlite3_step(u) : s1;
    sqlite3_reset(a);
    sqlite3_clear_bindings(a);
    sqlite3_reset(u);
    sqlite3_clear_bindings(u);
    if (s1 == SQLITE_DONE && s2 == SQLITE_DONE) return PM_OK;
    pm_error("outbox: recording an attempt: %s", sqlite3_errmsg(pm_store_db(o->store)));
    return PM_ESTORE;
}

/* Record every finished transfer in one transaction (one fsync for a whole
 * burst of answers), then free their slots. On a store failure they all
 * stay pending, to be sent again. */
static void record_finished(pm_outbox_t *o, unsigned n)
{
    int rc = pm_store_begin(o->store);
    for (unsigned i = 0; rc == PM_OK && i < o->pol.concurrency; i++)
        if (o->slots[i].finished) rc = record_one(o, &o->slots[i]);
    if (rc == PM_OK) rc = pm_store_commit(o->store);
    if (rc != PM_OK) {
        pm_store_rollback(o->store);
        pm_error("outbox: %u attempts could not be recorded; their postbacks stay pending", n);
    }
    for (unsigned i = 0; i < o->pol.concurrency; i++) {
        transfer_t *t = &o->slots[i];
        if (!t->finished) continue;
        if (rc == PM_OK && strcmp(t->state, "delivered") == 0) atomic_fetch_add(&o->delivered, 1);
        if (rc == PM_OK && strcmp(t->state, "failed") == 0) {
            atomic_fetch_add(&o->failed, 1);
            pm_warn("outbox: postback %lld failed for good after %u attempts (%s)", (long long)t->id, t->attempts + 1,
                    t->oc.error);
        }
        release(o, t);
    }
    o->next_scan_mono = 0; /* slots are free: look at the queue again */
}

/* Take the answers curl has, then record them together. */
static void collect(pm_outbox_t *o)
{
    CURLMsg *msg;
    int left;
    unsigned n = 0;
    while ((msg = curl_multi_info_read(o->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        transfer_t *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (PM_NEVER(t == NULL)) continue;
        outcome_of(t, msg->data.result);
        t->finished = true;
        t->finished_at = pm_now();
        t->duration_us = pm_monotonic_us() - t->started_mono;
        atomic_fetch_add(&o->attempts, 1);
        decide(o, t);
        n++;
    }
    if (n) record_finished(o, n);
}

/* --- the thread --------------------------------------------------------------- */

/* Rows in `status` (a range of the (status, next_attempt_at) index). */
static uint64_t count_status(pm_outbox_t *o, const char *status)
{
    sqlite3_bind_text(o->counts, 1, status, -1, SQLITE_STATIC);
    uint64_t n = sqlite3_step(o->counts) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(o->counts, 0) : 0;
    sqlite3_reset(o->counts);
    return n;
}

/* The gauges. Pending and failed rows are counted each time (the queue and
 * what awaits a retry by hand stay small); delivered rows only grow, so
 * they are counted once at start and followed from there, never scanned
 * every second. */
static void refresh_counts(pm_outbox_t *o)
{
    atomic_store(&o->pending_rows, count_status(o, "pending"));
    atomic_store(&o->failed_rows, count_status(o, "failed"));
    atomic_store(&o->delivered_rows, o->delivered_at_start + atomic_load(&o->delivered));
}

/* One turn: maybe scan, drive transfers, collect, then wait. */
static void turn(pm_outbox_t *o)
{
    int64_t mono = pm_monotonic_us(), now = pm_now();
    if (atomic_exchange(&o->woken, 0)) o->next_scan_mono = 0;
    if (mono >= o->next_scan_mono) {
        if (free_slot(o)) pm_ignore_rc(scan(o, now)); /* a failed scan is logged and tried again */
        int64_t due = next_due(o, now), wait = o->pol.poll_us;
        if (due != INT64_MAX && due - now < wait) wait = due - now;
        o->next_scan_mono = mono + (wait > 0 ? wait : 0);
    }
    if (mono >= o->next_counts_mono) {
        refresh_counts(o);
        o->next_counts_mono = mono + COUNTS_EVERY_US;
    }
    int running = 0;
    curl_multi_perform(o->multi, &running);
    collect(o);
    int64_t wait_us = o->next_scan_mono - pm_monotonic_us();
    if (wait_us > COUNTS_EVERY_US) wait_us = COUNTS_EVERY_US;
    if (wait_us < 0) wait_us = 0;
    curl_multi_poll(o->multi, NULL, 0, (int)((wait_us + 999) / 1000), NULL);
}

static void *run(void *arg)
{
    pm_outbox_t *o = arg;
    pm_thread_background();
    while (!atomic_load(&o->stopping))
        turn(o);
    for (unsigned i = 0; i < o->pol.concurrency; i++)
        if (o->slots[i].used) release(o, &o->slots[i]);
    return NULL;
}

static void outbox_free(pm_outbox_t *o)
{
    sqlite3_finalize(o->due);
    sqlite3_finalize(o->next_due);
    sqlite3_finalize(o->add_attempt);
    sqlite3_finalize(o->update);
    sqlite3_finalize(o->counts);
    if (o->multi) curl_multi_cleanup(o->multi);
    pm_store_close(o->store);
    pm_free(o->slots);
    pm_free(o);
}

int pm_outbox_start(const char *db_path, const pm_outbox_policy_t *policy, pm_outbox_t **out)
{
    pm_outbox_t *o = pm_calloc(1, sizeof(*o));
    int rc = PM_OK;
    *out = NULL;
    o->pol = *policy;
    pm_outbox_policy_defaults(&o->pol);
    o->slots = pm_calloc(o->pol.concurrency, sizeof(transfer_t));
    if (pm_random_bytes(&o->rng, sizeof(o->rng)) != PM_OK) o->rng = (uint64_t)pm_now();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (o->multi = curl_multi_init()) == NULL) {
        pm_error("outbox: libcurl could not be initialised");
        rc = PM_EINVAL;
    }
    if (rc == PM_OK) rc = pm_store_open(db_path, &o->store);
    if (rc == PM_OK) rc = prepare_all(o);
    if (rc == PM_OK) o->delivered_at_start = count_status(o, "delivered");
    if (rc == PM_OK && (rc = -pthread_create(&o->thread, NULL, run, o)) != PM_OK)
        pm_error("outbox: cannot start the worker: %s", pm_strerror(rc));
    if (rc != PM_OK) {
        outbox_free(o);
        return rc;
    }
    *out = o;
    return PM_OK;
}

void pm_outbox_wake(pm_outbox_t *o)
{
    if (o == NULL) return;
    atomic_store(&o->woken, 1);
    curl_multi_wakeup(o->multi);
}

void pm_outbox_stop(pm_outbox_t *o)
{
    if (o == NULL) return;
    atomic_store(&o->stopping, 1);
    curl_multi_wakeup(o->multi);
    pthread_join(o->thread, NULL);
    outbox_free(o);
}

void pm_outbox_stats(pm_outbox_t *o, pm_outbox_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (o == NULL) return;
    out->attempts = atomic_load(&o->attempts);
    out->delivered = atomic_load(&o->delivered);
    out->failed = atomic_load(&o->failed);
    out->pending = atomic_load(&o->pending_rows);
    out->delivered_rows = atomic_load(&o->delivered_rows);
    out->failed_rows = atomic_load(&o->failed_rows);
    out->in_flight = atomic_load(&o->in_flight);
}

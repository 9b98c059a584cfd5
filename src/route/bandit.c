/*
 * bandit.c: per-option click and conversion counters for Thompson sampling
 * (see pm/bandit.h). Slots are claimed with a compare-and-swap on the key
 * and counted with relaxed atomic adds: the event loops read while the
 * materializer thread writes, and a read that misses the latest click only
 * makes one draw a little staler.
 */
#include "pm/bandit.h"
#include "pm/flow.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

#define MAX_PROBES 64

typedef struct slot_s {
    _Atomic uint64_t key; /* 0 = free */
    _Atomic uint64_t clicks, conversions;
} slot_t;

struct pm_bandit_s {
    slot_t *slots;
    size_t mask;
};

pm_bandit_t *pm_bandit_create(size_t capacity)
{
    size_t n = 64;
    while (n < capacity * 2)
        n *= 2;
    pm_bandit_t *b = pm_calloc(1, sizeof(*b));
    b->slots = pm_calloc(n, sizeof(slot_t));
    b->mask = n - 1;
    return b;
}

void pm_bandit_destroy(pm_bandit_t *b)
{
    if (b == NULL) return;
    pm_free(b->slots);
    pm_free(b);
}

static uint64_t nonzero(uint64_t key)
{
    return key ? key : 1;
}

/* The slot of `key`, claimed when `claim`; NULL when absent or full. */
static slot_t *find(const pm_bandit_t *b, uint64_t key, bool claim)
{
    key = nonzero(key);
    for (size_t i = 0, at = key & b->mask; i < MAX_PROBES; i++, at = (at + 1) & b->mask) {
        slot_t *s = &b->slots[at];
        uint64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == key) return s;
        if (k != 0) continue;
        if (!claim) return NULL;
        uint64_t expected = 0;
        if (atomic_compare_exchange_strong(&s->key, &expected, key) || expected == key) return s;
    }
    return NULL;
}

void pm_bandit_add(pm_bandit_t *b, uint64_t key, uint64_t clicks, uint64_t conversions)
{
    slot_t *s = find(b, key, true);
    if (s == NULL) return;
    atomic_fetch_add_explicit(&s->clicks, clicks, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->conversions, conversions, memory_order_relaxed);
}

void pm_bandit_get(const pm_bandit_t *b, uint64_t key, uint64_t *clicks, uint64_t *conversions)
{
    slot_t *s = find(b, key, false);
    *clicks = s ? atomic_load_explicit(&s->clicks, memory_order_relaxed) : 0;
    *conversions = s ? atomic_load_explicit(&s->conversions, memory_order_relaxed) : 0;
}

void pm_bandit_observe(pm_bandit_t *b, const pm_event_t *ev)
{
    const pm_str_t *route = &ev->s[PM_EVS_ROUTE];
    uint64_t key;
    if (route->len == 0 || !pm_flow_reason_key(route->p, route->len, &key)) return;
    if (ev->type == PM_EV_CLICK) {
        pm_bandit_add(b, key, 1, 0);
    } else if (ev->type == PM_EV_CONVERSION) {
        const pm_str_t *st = &ev->s[PM_EVS_STATUS];
        if (st->len == 8 && memcmp(st->p, "approved", 8) == 0) pm_bandit_add(b, key, 0, 1);
    }
}

static bool hex_key(const unsigned char *t, int len, uint64_t *key)
{
    if (t == NULL || len != 16) return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        int d = t[i] >= '0' && t[i] <= '9' ? t[i] - '0' : t[i] >= 'a' && t[i] <= 'f' ? t[i] - 'a' + 10 : -1;
        if (d < 0) return false;
        v = v << 4 | (uint64_t)d;
    }
    *key = v;
    return true;
}

static int load_counts(pm_bandit_t *b, sqlite3 *db, const char *sql, int64_t since, bool conversions)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        pm_error("bandit: %s", sqlite3_errmsg(db));
        return PM_ESTORE;
    }
    sqlite3_bind_int64(st, 1, since);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t key, n = (uint64_t)sqlite3_column_int64(st, 1);
        if (hex_key(sqlite3_column_text(st, 0), sqlite3_column_bytes(st, 0), &key))
            pm_bandit_add(b, key, conversions ? 0 : n, conversions ? n : 0);
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? PM_OK : PM_ESTORE;
}

int pm_bandit_load(pm_bandit_t *b, pm_store_t *store, int64_t since_us)
{
    sqlite3 *db = pm_store_db(store);
    int rc = load_counts(b, db,
                         "SELECT json_extract(route,'$.k') k, count(*) FROM clicks"
                         " WHERE route IS NOT NULL AND ts>=?1 GROUP BY k",
                         since_us, false);
    if (rc == PM_OK)
        rc = load_counts(b, db,
                         "SELECT json_extract(k.route,'$.k') key, count(*) FROM conversions c"
                         " JOIN clicks k ON k.id=c.click_id WHERE k.route IS NOT NULL AND k.ts>=?1"
                         " AND c.status='approved' GROUP BY key",
                         since_us, true);
    return rc;
}

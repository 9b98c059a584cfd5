/*
 * spend.c: budget and cap counters (see pm/spend.h).
 *
 * Two open-addressing tables (campaigns, offers) of fixed size, keyed by
 * id; a slot is claimed once with a compare-and-swap on its key and never
 * freed (ids are not reused), so lookups need no lock. A slot holds the
 * total as an int64 and today's count packed with its day number in one
 * 64-bit word (day in the top 20 bits, value in the low 43), so "reset on
 * a new day, then add" is a single compare-and-swap: two loops charging
 * the same campaign at midnight cannot lose a charge or keep yesterday's.
 *
 * A charge reserves on the daily word first, then on the total, and gives
 * the daily part back if the total refuses; both are compare-and-swap
 * loops that re-check the limit, which is what makes overspend impossible
 * rather than bounded.
 */
#include "pm/spend.h"
#include "pm/hash.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define DAY_SHIFT  43
#define VALUE_MASK ((UINT64_C(1) << DAY_SHIFT) - 1)
#define DAY_MASK   ((UINT64_C(1) << 20) - 1)

typedef struct slot_s {
    _Atomic int64_t key; /* 0 = free */
    _Atomic uint64_t daily;
    _Atomic int64_t total;
    _Atomic uint64_t monthly; /* offers: places taken this month, packed like daily */
} slot_t;

typedef struct table_s {
    slot_t *slots;
    size_t mask;
    _Atomic int warned;
    const char *what;
} table_t;

struct pm_spend_s {
    table_t campaigns, offers;
};

static void table_init(table_t *t, size_t capacity, const char *what)
{
    size_t n = 1024;
    while (n < capacity * 2)
        n *= 2;
    t->slots = pm_calloc(n, sizeof(slot_t));
    t->mask = n - 1;
    t->what = what;
}

pm_spend_t *pm_spend_create(size_t capacity)
{
    pm_spend_t *s = pm_calloc(1, sizeof(*s));
    table_init(&s->campaigns, capacity, "campaigns");
    table_init(&s->offers, capacity, "offers");
    return s;
}

void pm_spend_destroy(pm_spend_t *s)
{
    if (s == NULL) return;
    pm_free(s->campaigns.slots);
    pm_free(s->offers.slots);
    pm_free(s);
}

/* The slot of `id`, claimed when `create` and absent; NULL when the table
 * is full (or for ids < 1). */
static slot_t *find(table_t *t, int64_t id, bool create)
{
    if (id < 1) return NULL;
    size_t h = (size_t)pm_hash64(&id, sizeof(id)) & t->mask;
    for (size_t i = 0; i <= t->mask; i++, h = (h + 1) & t->mask) {
        slot_t *sl = &t->slots[h];
        int64_t k = atomic_load_explicit(&sl->key, memory_order_acquire);
        if (k == id) return sl;
        if (k != 0) continue;
        if (!create) return NULL;
        if (atomic_compare_exchange_strong(&sl->key, &k, id) || k == id) return sl;
    }
    if (create && atomic_exchange(&t->warned, 1) == 0)
        pm_warn("spend: the %s table is full: budgets and caps of new ids are not enforced", t->what);
    return NULL;
}

/* --- days ------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int32_t pm_spend_day(const pm_tz_t *tz, pm_time_t now)
{
    int64_t secs = floor_div(now, PM_USEC_PER_SEC);
    int64_t local = secs + (tz ? pm_tz_offset(tz, secs) : 0);
    return (int32_t)floor_div(local, 86400);
}

pm_time_t pm_spend_day_start(const pm_tz_t *tz, int32_t day)
{
    int64_t local = (int64_t)day * 86400;
    return (tz ? pm_tz_local_to_utc(tz, local) : local) * PM_USEC_PER_SEC;
}

/* --- the daily word --------------------------------------------------------- */

static uint64_t pack(int32_t day, int64_t value)
{
    if (value < 0) value = 0;
    if ((uint64_t)value > VALUE_MASK) value = (int64_t)VALUE_MASK;
    return ((uint64_t)day & DAY_MASK) << DAY_SHIFT | (uint64_t)value;
}

/* The value of `word` if it counts day `day`, else 0 (a new day). */
static int64_t value_on(uint64_t word, int32_t day)
{
    return (word >> DAY_SHIFT) == ((uint64_t)day & DAY_MASK) ? (int64_t)(word & VALUE_MASK) : 0;
}

static bool refused(int64_t have, int64_t add, int64_t limit)
{
    return limit > 0 && (have >= limit || add > limit - have);
}

/* Add `n` to today's word unless it would pass `limit` (0 = none). */
static bool daily_add(slot_t *sl, int32_t day, int64_t n, int64_t limit)
{
    uint64_t old = atomic_load(&sl->daily);
    for (;;) {
        int64_t have = value_on(old, day);
        if (refused(have, n, limit)) return false;
        if (atomic_compare_exchange_weak(&sl->daily, &old, pack(day, have + n))) return true;
    }
}

static bool total_add(slot_t *sl, int64_t n, int64_t limit)
{
    if (limit <= 0) {
        atomic_fetch_add(&sl->total, n);
        return true;
    }
    int64_t old = atomic_load(&sl->total);
    for (;;) {
        if (refused(old, n, limit)) return false;
        if (atomic_compare_exchange_weak(&sl->total, &old, old + n)) return true;
    }
}

static bool charge(table_t *t, int64_t id, int32_t day, int64_t n, int64_t daily_limit, int64_t total_limit)
{
    slot_t *sl = find(t, id, true);
    if (sl == NULL) return true;
    if (!daily_add(sl, day, n, daily_limit)) return false;
    if (total_add(sl, n, total_limit)) return true;
    pm_ignore_rc(daily_add(sl, day, -n, 0)); /* give the daily part back */
    return false;
}

static void get(table_t *t, int64_t id, int32_t day, int64_t *today, int64_t *total)
{
    slot_t *sl = find(t, id, false);
    *today = sl ? value_on(atomic_load(&sl->daily), day) : 0;
    *total = sl ? atomic_load(&sl->total) : 0;
}

static bool capped(table_t *t, int64_t id, int32_t day, int64_t n, int64_t daily_limit, int64_t total_limit)
{
    int64_t today, total;
    get(t, id, day, &today, &total);
    return refused(today, n, daily_limit) || refused(total, n, total_limit);
}

/* --- campaigns and offers ------------------------------------------------------- */

bool pm_spend_charge(pm_spend_t *s, int64_t id, int32_t day, int64_t cost, int64_t daily_limit, int64_t total_limit)
{
    return charge(&s->campaigns, id, day, cost < 0 ? 0 : cost, daily_limit, total_limit);
}

void pm_spend_add(pm_spend_t *s, int64_t id, int32_t day, int64_t cost)
{
    pm_ignore_rc(charge(&s->campaigns, id, day, cost, 0, 0));
}

void pm_spend_get(pm_spend_t *s, int64_t id, int32_t day, int64_t *today, int64_t *total)
{
    get(&s->campaigns, id, day, today, total);
}

bool pm_spend_capped(pm_spend_t *s, int64_t id, int32_t day, int64_t cost, int64_t daily_limit, int64_t total_limit)
{
    return capped(&s->campaigns, id, day, cost, daily_limit, total_limit);
}

/* --- months (volume tiers) ------------------------------------------------- */

int32_t pm_spend_month(const pm_tz_t *tz, pm_time_t now)
{
    int y, m, d;
    pm_civil_from_days(pm_spend_day(tz, now), &y, &m, &d);
    return y * 12 + m - 1;
}

pm_time_t pm_spend_month_start(const pm_tz_t *tz, int32_t month)
{
    int y = (int)floor_div(month, 12), m = month - y * 12 + 1;
    return pm_spend_day_start(tz, (int32_t)pm_days_from_civil(y, m, 1));
}

int64_t pm_spend_take_place(pm_spend_t *s, int64_t id, int32_t month)
{
    slot_t *sl = find(&s->offers, id, true);
    if (sl == NULL) return 0;
    uint64_t old = atomic_load(&sl->monthly);
    int64_t next;
    do
        next = value_on(old, month) + 1;
    while (!atomic_compare_exchange_weak(&sl->monthly, &old, pack(month, next)));
    return next;
}

int64_t pm_spend_places(pm_spend_t *s, int64_t id, int32_t month)
{
    slot_t *sl = find(&s->offers, id, false);
    return sl ? value_on(atomic_load(&sl->monthly), month) : 0;
}

/* Add `n` places of month `month` (a rebuild). */
static void places_add(slot_t *sl, int32_t month, int64_t n)
{
    uint64_t old = atomic_load(&sl->monthly);
    while (!atomic_compare_exchange_weak(&sl->monthly, &old, pack(month, value_on(old, month) + n)))
        ;
}

/* --- offers ------------------------------------------------------------------- */

void pm_spend_count_conversion(pm_spend_t *s, int64_t id, int32_t day)
{
    pm_ignore_rc(charge(&s->offers, id, day, 1, 0, 0));
}

void pm_spend_conversions(pm_spend_t *s, int64_t id, int32_t day, int64_t *today, int64_t *total)
{
    get(&s->offers, id, day, today, total);
}

bool pm_spend_offer_capped(pm_spend_t *s, int64_t id, int32_t day, int64_t daily_cap, int64_t total_cap)
{
    return (daily_cap > 0 || total_cap > 0) && capped(&s->offers, id, day, 0, daily_cap, total_cap);
}

/* --- rebuild ---------------------------------------------------------------------- */

/* How a row of a rebuild query lands in a slot. */
typedef enum load_mode_e { LOAD_ADD, LOAD_SET_TODAY } load_mode_t;

static void load_row(slot_t *sl, load_mode_t mode, int32_t day, int64_t total, int64_t today)
{
    if (mode == LOAD_SET_TODAY) {
        uint64_t old = atomic_load(&sl->daily);
        /* Our own charges since the query started count too. */
        while (!atomic_compare_exchange_weak(&sl->daily, &old, pack(day, today + value_on(old, day))))
            ;
        return;
    }
    atomic_fetch_add(&sl->total, total);
    pm_ignore_rc(daily_add(sl, day, today, 0));
}

/* Run `sql` (?1 = start of today) and add each row (id, total, today) to `t`. */
static int load_sums(table_t *t, sqlite3 *db, const char *sql, int32_t day, pm_time_t day_start, load_mode_t mode)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        pm_error("spend: rebuild: %s", sqlite3_errmsg(db));
        return PM_ESTORE;
    }
    sqlite3_bind_int64(st, 1, day_start);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        slot_t *sl = find(t, sqlite3_column_int64(st, 0), true);
        if (sl) load_row(sl, mode, day, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2));
    }
    sqlite3_finalize(st);
    if (step == SQLITE_DONE) return PM_OK;
    pm_error("spend: rebuild: %s", sqlite3_errmsg(db));
    return PM_ESTORE;
}

/* The month's places per offer, as pm_spend_take_place hands them out:
 * conversions of the month not rejected at their first postback. */
static int load_places(pm_spend_t *s, sqlite3 *db, const pm_tz_t *tz, pm_time_t now)
{
    int32_t month = pm_spend_month(tz, now);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT offer_id, count(*) FROM conversions WHERE offer_id IS NOT NULL AND ts>=?1"
                           " AND status<>'rejected' GROUP BY offer_id",
                           -1, &st, NULL) != SQLITE_OK) {
        pm_error("spend: rebuild: %s", sqlite3_errmsg(db));
        return PM_ESTORE;
    }
    sqlite3_bind_int64(st, 1, pm_spend_month_start(tz, month));
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        slot_t *sl = find(&s->offers, sqlite3_column_int64(st, 0), true);
        if (sl) places_add(sl, month, sqlite3_column_int64(st, 1));
    }
    sqlite3_finalize(st);
    if (step == SQLITE_DONE) return PM_OK;
    pm_error("spend: rebuild: %s", sqlite3_errmsg(db));
    return PM_ESTORE;
}

static int load(pm_spend_t *s, pm_store_t *store, const pm_tz_t *tz, pm_time_t now, load_mode_t mode)
{
    static const char *const tables[] = {"clicks", "impressions", "conversions"};
    sqlite3 *db = pm_store_db(store);
    int32_t day = pm_spend_day(tz, now);
    pm_time_t start = pm_spend_day_start(tz, day);
    int rc = PM_OK;
    for (size_t i = 0; rc == PM_OK && i < PM_ARRAY_LEN(tables); i++) {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "SELECT campaign_id, sum(cost_micros), sum(CASE WHEN ts>=?1 THEN cost_micros ELSE 0 END) FROM %s"
                 " WHERE campaign_id IS NOT NULL AND cost_micros<>0 GROUP BY campaign_id",
                 tables[i]);
        rc = load_sums(&s->campaigns, db, sql, day, start, mode);
    }
    if (rc == PM_OK)
        rc = load_sums(&s->offers, db,
                       "SELECT offer_id, count(*), sum(ts>=?1) FROM conversions"
                       " WHERE offer_id IS NOT NULL AND status<>'rejected' GROUP BY offer_id",
                       day, start, mode);
    if (rc == PM_OK) rc = load_places(s, db, tz, now);
    return rc;
}

int pm_spend_load(pm_spend_t *s, pm_store_t *store, const pm_tz_t *tz, pm_time_t now)
{
    return load(s, store, tz, now, LOAD_ADD);
}

/* Every slot starts the new window at zero, then the store's sums of the
 * window are added: a campaign with no event in it stays at zero. */
static void zero_today(table_t *t, int32_t day, int32_t month)
{
    for (size_t i = 0; i <= t->mask; i++)
        if (atomic_load(&t->slots[i].key)) {
            atomic_store(&t->slots[i].daily, pack(day, 0));
            atomic_store(&t->slots[i].monthly, pack(month, 0));
        }
}

int pm_spend_recount_today(pm_spend_t *s, pm_store_t *store, const pm_tz_t *tz, pm_time_t now)
{
    int32_t day = pm_spend_day(tz, now);
    int32_t month = pm_spend_month(tz, now);
    zero_today(&s->campaigns, day, month);
    zero_today(&s->offers, day, month);
    return load(s, store, tz, now, LOAD_SET_TODAY);
}

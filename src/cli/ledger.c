/*
 * ledger.c: `perfmark ledger`: the ledger's balances read straight from the
 * store (read-only; safe beside a running server, WAL), per account and
 * currency, optionally per local day: the same sums as GET
 * /api/v1/ledger/balances, as an aligned text table.
 */
#include "pm/cli.h"
#include "pm/clock.h"
#include "pm/money.h"
#include "pm/server.h"
#include "pm/store.h"
#include "pm/tz.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] = "usage: perfmark ledger balances [--data DIR] [--from DATE] [--to DATE] [--tz ZONE]\n"
                           "                                [--account-type TYPE] [--by-day]\n"
                           "\n"
                           "Balances of the double-entry ledger (docs/money.md): debits, credits and\n"
                           "balance per account (advertiser, traffic_source, partner, revenue, cost,\n"
                           "payout) and currency. DATE is YYYY-MM-DD in ZONE (default: the workspace's\n"
                           "time zone), --to inclusive; --by-day splits the sums per local day.\n"
                           "  --data DIR   data directory (default ./data)\n";

typedef struct opts_s {
    const char *data, *from, *to, *tz, *type;
    bool by_day;
} opts_t;

static int parse(int argc, char **argv, opts_t *o)
{
    if (argc < 2 || strcmp(argv[1], "balances") != 0) return 2;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(a, "--by-day") == 0)
            o->by_day = true;
        else if (strcmp(a, "--data") == 0 && more)
            o->data = argv[++i];
        else if (strcmp(a, "--from") == 0 && more)
            o->from = argv[++i];
        else if (strcmp(a, "--to") == 0 && more)
            o->to = argv[++i];
        else if (strcmp(a, "--tz") == 0 && more)
            o->tz = argv[++i];
        else if (strcmp(a, "--account-type") == 0 && more)
            o->type = argv[++i];
        else
            return 2;
    }
    return 0;
}

static bool day_bound(const char *s, const pm_tz_t *tz, bool end, int64_t *out)
{
    int y, m, d;
    if (s == NULL) return true;
    if (pm_date_parse(s, strlen(s), &y, &m, &d) != PM_OK) return false;
    *out = pm_tz_local_to_utc(tz, (pm_days_from_civil(y, m, d) + (end ? 1 : 0)) * 86400) * PM_USEC_PER_SEC;
    return true;
}

static int64_t local_day(const pm_tz_t *tz, int64_t ts_us)
{
    int64_t s = ts_us / PM_USEC_PER_SEC - (ts_us % PM_USEC_PER_SEC < 0);
    int64_t local = s + pm_tz_offset(tz, s);
    return local / 86400 - (local % 86400 < 0);
}

typedef struct row_s {
    char type[16], cur[4];
    int64_t id, day, debits, credits;
    bool used;
} row_t;

static void print_row(const row_t *r, bool by_day)
{
    char d[PM_MONEY_STR_MAX], c[PM_MONEY_STR_MAX], b[PM_MONEY_STR_MAX], day[16] = "";
    int y, m, dd;
    pm_money_format(r->debits, d);
    pm_money_format(r->credits, c);
    pm_money_format(r->debits - r->credits, b);
    if (by_day) {
        pm_civil_from_days(r->day, &y, &m, &dd);
        snprintf(day, sizeof(day), "%04d-%02d-%02d  ", y, m, dd);
    }
    printf("%s%-16s %8lld  %-3s %16s %16s %16s\n", day, r->type, (long long)r->id, r->cur, d, c, b);
}

/* Rows come sorted by account, currency, then time: one running row. */
static int sum(sqlite3 *db, const opts_t *o, const pm_tz_t *tz, int64_t from, int64_t to)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT account_type, account_id, currency, ts, amount_micros FROM ledger_entries"
                      " WHERE ts>=?1 AND ts<?2 AND (?3 IS NULL OR account_type=?3)"
                      " ORDER BY account_type, account_id, currency, ts";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "perfmark ledger: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    if (o->type) sqlite3_bind_text(st, 3, o->type, -1, SQLITE_STATIC);
    printf("%s%-16s %8s  %-3s %16s %16s %16s\n", o->by_day ? "day         " : "", "account", "id", "cur", "debits",
           "credits", "balance");
    row_t r = {.used = false};
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 0), *cur = (const char *)sqlite3_column_text(st, 2);
        int64_t id = sqlite3_column_int64(st, 1), amount = sqlite3_column_int64(st, 4);
        int64_t day = o->by_day ? local_day(tz, sqlite3_column_int64(st, 3)) : 0;
        if (!r.used || r.id != id || r.day != day || strcmp(r.type, type) != 0 || strcmp(r.cur, cur) != 0) {
            if (r.used) print_row(&r, o->by_day);
            r = (row_t){.id = id, .day = day, .used = true};
            snprintf(r.type, sizeof(r.type), "%s", type);
            snprintf(r.cur, sizeof(r.cur), "%s", cur);
        }
        if (amount >= 0)
            r.debits += amount;
        else
            r.credits -= amount;
    }
    if (r.used) print_row(&r, o->by_day);
    sqlite3_finalize(st);
    return 0;
}

static int run(const opts_t *o)
{
    char path[4096], *zone = NULL;
    struct stat sb;
    pm_store_t *store = NULL;
    pm_tz_t *tz = NULL;
    int64_t from = INT64_MIN, to = INT64_MAX;
    int code = 1;
    pm_server_db_path(o->data, path, sizeof(path));
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "perfmark ledger: no store at %s (see --data)\n", path);
        return 1;
    }
    if (pm_store_open(path, &store) != PM_OK || pm_store_setting_get(store, "timezone", &zone) != PM_OK) goto out;
    if (pm_tz_load(o->tz ? o->tz : zone, &tz) != PM_OK) {
        fprintf(stderr, "perfmark ledger: unknown time zone\n");
        goto out;
    }
    if (!day_bound(o->from, tz, false, &from) || !day_bound(o->to, tz, true, &to)) {
        fprintf(stderr, "perfmark ledger: --from and --to take YYYY-MM-DD\n");
        code = 2;
        goto out;
    }
    code = sum(pm_store_db(store), o, tz, from, to);
out:
    pm_tz_free(tz);
    pm_free(zone);
    pm_store_close(store);
    return code;
}

static int ledger_run(int argc, char **argv)
{
    opts_t o = {.data = "./data"};
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(help, stdout);
        return 0;
    }
    if (parse(argc, argv, &o) != 0) {
        fputs(help, stderr);
        return 2;
    }
    return run(&o);
}

const pm_cli_verb_t pm_cli_ledger = {"ledger", "balances of the money ledger per account and day", ledger_run};

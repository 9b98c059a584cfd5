/*
 * report.c: `perfmark report`, the KPI report of the admin API
 * (GET /api/v1/reports) in a terminal. It opens the store read-only, so it
 * runs beside a live server (WAL readers never block the writer), and
 * prints an aligned table, CSV or the API's JSON document.
 *
 * Hidden maintenance and benchmark flags (docs/reports.md, bench/report.sh):
 *   --rebuild        recompute the rollups from the events (opens read-write)
 *   --bench-load N   append N synthetic events to the store (report_load.c)
 *   --timing         print the query time to stderr
 */
#include "pm/cli.h"
#include "pm/report.h"
#include "pm/server.h"
#include "pm/store.h"

#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_DATA "./data"

int pm__cli_report_load(const char *data_dir, uint64_t events, int days, uint64_t seed); /* report_load.c */

static const char report_help[] =
    "usage: perfmark report [--data DIR] --group-by DIMS [--from DATE] [--to DATE] [--tz ZONE]\n"
    "                       [--metrics LIST] [--filter DIM:OP:VALUES]... [--sort KEYS]\n"
    "                       [--limit N] [--offset N] [--compare previous]\n"
    "                       [--format table|csv|json] [--source auto|rollup|raw]\n\n"
    "KPIs grouped by up to 3 dimensions, the same numbers as GET /api/v1/reports.\n"
    "Reads the store directly (read-only): it works while perfmark serve runs.\n\n"
    "  --data DIR         data directory (default " DEFAULT_DATA ")\n"
    "  --group-by DIMS    up to 3 of: day hour week month campaign traffic_source offer lander\n"
    "                     sub1..sub10 utm_source utm_medium utm_campaign utm_content utm_term\n"
    "                     language conversion_type (comma-separated)\n"
    "  --from, --to       YYYY-MM-DD (whole days in the time zone, --to inclusive) or RFC 3339;\n"
    "                     default: the last 7 days\n"
    "  --tz ZONE          IANA time zone (default: the workspace setting)\n"
    "  --metrics LIST     default: impressions clicks unique_clicks ctr conversions cvr cost\n"
    "                     revenue payout profit cpm cpc cpa epc roi roas; also cpl,\n"
    "                     pending_conversions, pending_revenue, rejected_conversions,\n"
    "                     chargebacks, bot_clicks, bot_impressions, lander_visits,\n"
    "                     lander_clicks, lander_ctr, conversions_<type>\n"
    "  --filter F         DIM:eq:VALUE, DIM:in:A|B, DIM:not_in:A|B (repeatable; ids for\n"
    "                     campaign, traffic_source, offer, lander)\n"
    "  --sort KEYS        e.g. -revenue,campaign (a leading - sorts descending)\n"
    "  --limit N          rows to print (default 100, at most 10000); --offset N skips rows\n"
    "  --compare previous add the previous period of the same length and the change\n"
    "  --format FMT       table (default), csv or json\n"
    "  --source SRC       auto (default), rollup (fail if no rollup can answer) or raw\n"
    "  -h, --help         this text\n\n"
    "Metrics are defined in docs/metrics.md.\n";

typedef struct report_opts_s {
    const char *data;
    pm_report_format_t format;
    bool help, rebuild, timing;
    uint64_t bench_events;
    int bench_days;
    uint64_t bench_seed;
} report_opts_t;

enum { OPT_REBUILD = 1000, OPT_BENCH_LOAD, OPT_BENCH_DAYS, OPT_BENCH_SEED, OPT_TIMING };

static const struct option longs[] = {{"data", required_argument, NULL, 'd'},
                                      {"group-by", required_argument, NULL, 'g'},
                                      {"from", required_argument, NULL, 'f'},
                                      {"to", required_argument, NULL, 't'},
                                      {"tz", required_argument, NULL, 'z'},
                                      {"metrics", required_argument, NULL, 'm'},
                                      {"filter", required_argument, NULL, 'F'},
                                      {"sort", required_argument, NULL, 's'},
                                      {"limit", required_argument, NULL, 'l'},
                                      {"offset", required_argument, NULL, 'o'},
                                      {"compare", required_argument, NULL, 'c'},
                                      {"format", required_argument, NULL, 'x'},
                                      {"source", required_argument, NULL, 'S'},
                                      {"help", no_argument, NULL, 'h'},
                                      {"rebuild", no_argument, NULL, OPT_REBUILD},
                                      {"bench-load", required_argument, NULL, OPT_BENCH_LOAD},
                                      {"bench-days", required_argument, NULL, OPT_BENCH_DAYS},
                                      {"bench-seed", required_argument, NULL, OPT_BENCH_SEED},
                                      {"timing", no_argument, NULL, OPT_TIMING},
                                      {NULL, 0, NULL, 0}};

/* The report parameter behind a flag, or NULL. */
static const char *param_of(int c)
{
    switch (c) {
    case 'g': return "group_by";
    case 'f': return "from";
    case 't': return "to";
    case 'z': return "tz";
    case 'm': return "metrics";
    case 'F': return "filter";
    case 's': return "sort";
    case 'l': return "limit";
    case 'o': return "offset";
    case 'c': return "compare";
    case 'S': return "source";
    default: return NULL;
    }
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9') return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v > max) return false;
    *out = v;
    return true;
}

static int parse_report(int argc, char **argv, report_opts_t *o, pm_report_t *r)
{
    o->data = DEFAULT_DATA;
    o->format = PM_REPORT_TABLE;
    o->bench_days = 30;
    o->bench_seed = 1;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "d:g:f:t:z:m:F:s:l:o:c:x:S:h", longs, NULL)) != -1;) {
        const char *param = param_of(c);
        uint64_t v;
        if (param) {
            pm_report_error_t err;
            if (pm_report_param(r, param, optarg, strlen(optarg), &err) != PM_OK) {
                fprintf(stderr, "perfmark report: %s\n", err.message);
                return 2;
            }
            continue;
        }
        switch (c) {
        case 'd': o->data = optarg; break;
        case 'x':
            if (strcmp(optarg, "table") == 0)
                o->format = PM_REPORT_TABLE;
            else if (strcmp(optarg, "csv") == 0)
                o->format = PM_REPORT_CSV;
            else if (strcmp(optarg, "json") == 0)
                o->format = PM_REPORT_JSON;
            else {
                fprintf(stderr, "perfmark report: --format must be table, csv or json\n");
                return 2;
            }
            break;
        case 'h': o->help = true; break;
        case OPT_REBUILD: o->rebuild = true; break;
        case OPT_TIMING: o->timing = true; break;
        case OPT_BENCH_LOAD:
        case OPT_BENCH_DAYS:
        case OPT_BENCH_SEED:
            if (!parse_u64(optarg, c == OPT_BENCH_DAYS ? 3650 : UINT64_MAX / 2, &v) ||
                (c != OPT_BENCH_SEED && v == 0)) {
                fprintf(stderr, "perfmark report: bad number \"%s\"\n", optarg);
                return 2;
            }
            if (c == OPT_BENCH_LOAD)
                o->bench_events = v;
            else if (c == OPT_BENCH_DAYS)
                o->bench_days = (int)v;
            else
                o->bench_seed = v;
            break;
        default: return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "perfmark report: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* Ask for a rebuild and let the sink do it as a server start would: in
 * transactions of CATCHUP_MAX_ROWS rows, with the sink's page cache. */
static int rebuild(const char *db_path)
{
    pm_store_t *store = NULL;
    void *sink = NULL;
    int64_t t0 = pm_monotonic_us();
    int rc = pm_store_open(db_path, &store);
    if (rc == PM_OK) rc = pm_store_exec(store, "INSERT OR REPLACE INTO report_meta(key, value) VALUES('rebuild', '1')");
    if (rc == PM_OK) rc = pm_report_sink.open(store, &sink);
    pm_report_sink.close(sink);
    pm_store_close(store);
    if (rc != PM_OK) {
        fprintf(stderr, "perfmark report: rebuild failed: %s\n", pm_strerror(rc));
        return 1;
    }
    fprintf(stderr, "perfmark report: rollups rebuilt in %.1f s\n", (double)(pm_monotonic_us() - t0) / 1e6);
    return 0;
}

static int run_query(const char *db_path, pm_report_t *r, const report_opts_t *o)
{
    sqlite3 *db = NULL;
    pm_report_error_t err;
    pm_buf_t out;
    int code = 1;
    pm_buf_init(&out, (size_t)1 << 30);
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fprintf(stderr, "perfmark report: cannot open %s: %s\n", db_path, db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    int64_t t0 = pm_monotonic_us();
    if (pm_report_run(r, db, &err) != PM_OK) {
        fprintf(stderr, "perfmark report: %s%s%s\n", err.field ? err.field : "", err.field ? ": " : "", err.message);
        code = err.status == 422 ? 2 : 1;
        goto out;
    }
    int64_t t1 = pm_monotonic_us();
    if (pm_report_render(r, o->format, &out) != PM_OK) {
        fprintf(stderr, "perfmark report: the output is too large\n");
        goto out;
    }
    if (o->timing) fprintf(stderr, "report: %.3f ms (%s)\n", (double)(t1 - t0) / 1000.0, pm_report_source(r));
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    if (o->format == PM_REPORT_JSON) fputc('\n', stdout);
    code = fflush(stdout) == 0 ? 0 : 1;
out:
    sqlite3_close_v2(db);
    pm_buf_free(&out);
    return code;
}

static int report_run(int argc, char **argv)
{
    report_opts_t o = {0};
    pm_report_t *r = pm_report_create();
    int code = parse_report(argc, argv, &o, r);
    char db_path[4200];
    struct stat st;
    if (code || o.help) {
        fputs(report_help, code ? stderr : stdout);
        goto out;
    }
    pm_server_db_path(o.data, db_path, sizeof(db_path));
    if (o.bench_events) {
        code = pm__cli_report_load(o.data, o.bench_events, o.bench_days, o.bench_seed) == PM_OK ? 0 : 1;
        goto out;
    }
    if (stat(db_path, &st) != 0) {
        fprintf(stderr, "perfmark report: no store at %s (see --data)\n", db_path);
        code = 1;
        goto out;
    }
    code = o.rebuild ? rebuild(db_path) : run_query(db_path, r, &o);
out:
    pm_report_destroy(r);
    return code;
}

const pm_cli_verb_t pm_cli_report = {"report", "KPI reports by day, campaign, source, sub id...", report_run};

/*
 * clv.c: `perfmark clv`, customer lifetime value per first-conversion
 * cohort (pm/clv.h), the numbers of GET /api/v1/clv in a terminal. Reads
 * the store read-only, so it runs beside a live server.
 */
#include "pm/cli.h"
#include "pm/clv.h"
#include "pm/server.h"

#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static const char clv_help[] = "usage: perfmark clv [--data DIR] [--from YYYY-MM] [--to YYYY-MM] [--tz ZONE]\n"
                               "                    [--format table|csv|json]\n\n"
                               "Customer lifetime value per cohort: visitors grouped by the month of their\n"
                               "first approved conversion; for each cohort the approved revenue within 30, 90\n"
                               "and 365 days of each visitor's first conversion, per visitor (clv_30d ...),\n"
                               "and whether that window is complete yet. Same numbers as GET /api/v1/clv.\n\n"
                               "  --data DIR     data directory (default ./data)\n"
                               "  --from, --to   first and last cohort month (default: the last 12 months)\n"
                               "  --tz ZONE      IANA time zone of the months (default: the workspace setting)\n"
                               "  --format FMT   table (default), csv or json\n"
                               "  -h, --help     this text\n\n"
                               "Definitions: docs/metrics.md.\n";

static const struct option longs[] = {{"data", required_argument, NULL, 'd'},
                                      {"from", required_argument, NULL, 'f'},
                                      {"to", required_argument, NULL, 't'},
                                      {"tz", required_argument, NULL, 'z'},
                                      {"format", required_argument, NULL, 'x'},
                                      {"help", no_argument, NULL, 'h'},
                                      {NULL, 0, NULL, 0}};

static int print_clv(const char *db_path, const char *from, const char *to, const char *tz, pm_report_format_t fmt)
{
    sqlite3 *db = NULL;
    pm_clv_t *clv = NULL;
    pm_report_error_t err;
    pm_buf_t out;
    int code = 1;
    pm_buf_init(&out, (size_t)1 << 24);
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fprintf(stderr, "perfmark clv: cannot open %s (see --data)\n", db_path);
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    if (pm_clv_run(db, from, to, tz, &clv, &err) != PM_OK) {
        fprintf(stderr, "perfmark clv: %s%s%s\n", err.field ? "--" : "", err.field ? err.field : "", err.message);
        code = err.status == 422 ? 2 : 1;
        goto out;
    }
    if (pm_clv_render(clv, fmt, pm_now(), &out) != PM_OK) goto out;
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    code = fflush(stdout) == 0 ? 0 : 1;
out:
    pm_clv_destroy(clv);
    sqlite3_close_v2(db);
    pm_buf_free(&out);
    return code;
}

static int clv_run(int argc, char **argv)
{
    const char *data = "./data", *from = NULL, *to = NULL, *tz = NULL;
    pm_report_format_t fmt = PM_REPORT_TABLE;
    char db_path[4200];
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "d:f:t:z:x:h", longs, NULL)) != -1;) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'z': tz = optarg; break;
        case 'x':
            if (strcmp(optarg, "table") == 0)
                fmt = PM_REPORT_TABLE;
            else if (strcmp(optarg, "csv") == 0)
                fmt = PM_REPORT_CSV;
            else if (strcmp(optarg, "json") == 0)
                fmt = PM_REPORT_JSON;
            else {
                fprintf(stderr, "perfmark clv: --format must be table, csv or json\n");
                return 2;
            }
            break;
        case 'h': fputs(clv_help, stdout); return 0;
        default: fputs(clv_help, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "perfmark clv: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    pm_server_db_path(data, db_path, sizeof(db_path));
    return print_clv(db_path, from, to, tz, fmt);
}

const pm_cli_verb_t pm_cli_clv = {"clv", "customer lifetime value per first-conversion cohort", clv_run};

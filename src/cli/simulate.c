/*
 * simulate.c: `perfmark simulate`: generate realistic traffic for the
 * campaigns of a workspace into its journal (pm/sim.h), to be materialized
 * at the next start of `perfmark serve` on the same data directory.
 */
#include "pm/cli.h"
#include "pm/server.h"
#include "pm/sim.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_DATA "./data"

static const char simulate_help[] =
    "usage: perfmark simulate [--data DIR] [--days N] [--seed N] [--scale S] [--end YYYY-MM-DD]\n\n"
    "Generate realistic traffic for the active campaigns of the workspace in DIR:\n"
    "impressions, clicks and conversions from returning visitors across search,\n"
    "social, native, affiliate and CTV channels (guessed from traffic source names),\n"
    "with daily and weekly seasonality, conversion lags, statuses and bots.\n"
    "Each campaign's creative entities (named as its clicks' sub2) are made if missing.\n\n"
    "  --data DIR         data directory of the workspace (default " DEFAULT_DATA ")\n"
    "  --days N           days to simulate, 1-3650 (default 30)\n"
    "  --seed N           random seed (default 1); the same seed and window give the same events\n"
    "  --scale S          volume multiplier, 0 < S <= 100 (default 1: ~330k events per 30 days\n"
    "                     for a dozen campaigns)\n"
    "  --end YYYY-MM-DD   last day simulated, in the workspace time zone (default today;\n"
    "                     events never go past now)\n"
    "  --base-url URL     the tracker's address for lander links when the workspace's\n"
    "                     base_url setting is empty (default http://127.0.0.1:8080)\n"
    "  -h, --help         this text\n\n"
    "The events are written to the journal (lineage 63) and stored by the next start of\n"
    "`perfmark serve --data DIR`, through the same path as live traffic; a running\n"
    "server shows them after its restart. Simulating the same seed and window twice\n"
    "stores nothing twice. See docs/demo.md.\n";

typedef struct simulate_opts_s {
    const char *data;
    pm_sim_options_t sim;
    bool help;
} simulate_opts_t;

static int bad_value(const char *flag, const char *v)
{
    fprintf(stderr, "perfmark simulate: --%s: bad value \"%s\"\n", flag, v);
    return 2;
}

static int parse_number_flag(int c, const char *v, simulate_opts_t *o)
{
    char *end = NULL;
    errno = 0;
    if (c == 'n') {
        long days = strtol(v, &end, 10);
        if (*v == '\0' || *end || days < 1 || days > 3650) return bad_value("days", v);
        o->sim.days = (int)days;
    } else if (c == 's') {
        unsigned long long seed = strtoull(v, &end, 10);
        if (*v == '\0' || *end || *v == '-' || errno) return bad_value("seed", v);
        o->sim.seed = seed;
    } else {
        double scale = strtod(v, &end);
        if (*v == '\0' || *end || !(scale > 0 && scale <= 100)) return bad_value("scale", v);
        o->sim.scale = scale;
    }
    return 0;
}

static int parse_simulate(int argc, char **argv, simulate_opts_t *o)
{
    static const struct option longs[] = {
        {"data", required_argument, NULL, 'd'}, {"days", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'}, {"scale", required_argument, NULL, 'x'},
        {"end", required_argument, NULL, 'e'},  {"base-url", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    o->data = DEFAULT_DATA;
    o->sim = (pm_sim_options_t){.seed = 1, .days = 30, .scale = 1.0, .end_day = INT64_MIN};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "d:n:s:x:e:b:h", longs, NULL)) != -1;) {
        int y, m, d, rc = 0;
        switch (c) {
        case 'd': o->data = optarg; break;
        case 'b': o->sim.base_url = optarg; break;
        case 'n':
        case 's':
        case 'x': rc = parse_number_flag(c, optarg, o); break;
        case 'e':
            if (pm_date_parse(optarg, strlen(optarg), &y, &m, &d) != PM_OK) return bad_value("end", optarg);
            o->sim.end_day = pm_days_from_civil(y, m, d);
            break;
        case 'h': o->help = true; break;
        default: return 2;
        }
        if (rc) return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "perfmark simulate: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* A one-line progress bar when stderr is a terminal (arg != NULL). */
static void on_progress(void *arg, pm_time_t reached, pm_time_t start, pm_time_t end)
{
    if (arg == NULL || end <= start) return;
    int pct = (int)((reached - start) * 100 / (end - start));
    char day[PM_RFC3339_MAX];
    pm_time_format(reached, day);
    day[10] = '\0';
    fprintf(stderr, "\rperfmark simulate: [%-25.*s] %3d%%  %s", pct / 4, "#########################", pct, day);
    if (reached >= end) fputc('\n', stderr);
}

/* Whether a server runs on DIR: it holds DIR/serve.lock exclusively
 * (src/http/server.c). The probe's shared lock lasts an instant. */
static bool server_running(const char *data)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/serve.lock", data);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

static void print_result(const char *data, const pm_sim_options_t *o, const pm_sim_result_t *r)
{
    char from[PM_RFC3339_MAX], to[PM_RFC3339_MAX];
    const pm_sim_stats_t *s = &r->stats;
    pm_time_format(r->start, from);
    pm_time_format(r->end, to);
    printf("perfmark simulate: %zu campaigns, %s .. %s, seed %llu, scale %g\n", r->campaigns, from, to,
           (unsigned long long)o->seed, o->scale);
    printf("  %-10s %12s %10s %14s %12s\n", "channel", "impressions", "clicks", "lander clicks", "conversions");
    for (int c = 0; c < PM_SIM__CHANNELS; c++) {
        const uint64_t *n = s->by_channel[c];
        if (n[PM_EV_IMPRESSION] + n[PM_EV_CLICK] + n[PM_EV_CONVERSION] == 0) continue;
        printf("  %-10s %12llu %10llu %14llu %12llu\n", pm_sim_channel_name((pm_sim_channel_t)c),
               (unsigned long long)n[PM_EV_IMPRESSION], (unsigned long long)n[PM_EV_CLICK],
               (unsigned long long)n[PM_EV_LANDER_CLICK], (unsigned long long)n[PM_EV_CONVERSION]);
    }
    printf("  %-10s %12llu %10llu %14llu %12llu\n", "total", (unsigned long long)s->events[PM_EV_IMPRESSION],
           (unsigned long long)s->events[PM_EV_CLICK], (unsigned long long)s->events[PM_EV_LANDER_CLICK],
           (unsigned long long)s->events[PM_EV_CONVERSION]);
    printf("  bots: %llu impressions, %llu clicks; %llu visitors; conversions: %llu approved, %llu pending,"
           " %llu rejected (%llu chargebacks), %llu follow-up sales\n",
           (unsigned long long)s->bot_impressions, (unsigned long long)s->bot_clicks, (unsigned long long)s->visitors,
           (unsigned long long)s->approved, (unsigned long long)s->pending, (unsigned long long)s->rejected,
           (unsigned long long)s->chargebacks, (unsigned long long)s->followups);
    printf("  %.1f MB journaled in %.2f s (lineage %u, segments %u..%u)\n", (double)r->bytes / 1e6, r->seconds,
           PM_SIM_LINEAGE, r->first_seq, r->last_seq);
    if (server_running(data))
        printf("  a server is running on %s: it stores this traffic when it restarts\n", data);
    else
        printf("  the next start of `perfmark serve --data %s` stores this traffic\n", data);
}

static int simulate_run(int argc, char **argv)
{
    simulate_opts_t o = {0};
    int rc = parse_simulate(argc, argv, &o);
    if (rc || o.help) {
        fputs(simulate_help, rc ? stderr : stdout);
        return rc;
    }
    char db[4096], journal[4096];
    struct stat st;
    pm_server_db_path(o.data, db, sizeof(db));
    pm_server_journal_dir(o.data, journal, sizeof(journal));
    if (stat(db, &st) != 0) {
        fprintf(stderr, "perfmark simulate: no workspace in %s (run `perfmark demo` or `perfmark serve` first)\n",
                o.data);
        return 1;
    }
    pm_sim_result_t r;
    o.sim.progress = on_progress;
    o.sim.progress_arg = isatty(STDERR_FILENO) ? &o : NULL;
    rc = pm_sim_workspace(db, journal, &o.sim, &r);
    if (rc == PM_ENOTFOUND) fprintf(stderr, "perfmark simulate: the workspace in %s has no active campaign\n", o.data);
    else if (rc == PM_EINVAL) fprintf(stderr, "perfmark simulate: the window is empty (is --end in the future?)\n");
    else if (rc == PM_EEXIST) fprintf(stderr, "perfmark simulate: another simulation is writing to %s\n", o.data);
    else if (rc != PM_OK) fprintf(stderr, "perfmark simulate: failed: %s\n", pm_strerror(rc));
    if (rc != PM_OK) return 1;
    print_result(o.data, &o.sim, &r);
    return 0;
}

const pm_cli_verb_t pm_cli_simulate = {"simulate", "generate realistic traffic for a workspace's campaigns",
                                       simulate_run};

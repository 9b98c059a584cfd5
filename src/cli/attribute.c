/*
 * attribute.c: the `perfmark attribute` verb: read journeys from a paths CSV
 * or a journeys JSON file, run one attribution model or all of them, and
 * print attributed conversions and value per channel as a table, CSV or
 * JSON. Bad input lines are reported on stderr with their line number and
 * skipped; the verb fails only when nothing valid is left. A hidden-in-
 * plain-sight helper, --generate, writes synthetic journeys for benchmarks.
 *
 * With --data DIR (and neither file), the journeys come from the store
 * (pm/attrib_store.h): the flags --from, --to, --tz, --by, --click-lookback,
 * --impression-lookback and --impressions are the API's parameters of the
 * same names; the store is opened read-only, so this works while the server
 * runs.
 */
#include "pm/attrib.h"
#include "pm/attrib_io.h"
#include "pm/attrib_store.h"
#include "pm/buf.h"
#include "pm/cli.h"
#include "pm/money.h"
#include "pm/server.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_INPUT ((size_t)1 << 30)
#define MAX_REPORTED 50

static const char attribute_help[] =
    "usage: perfmark attribute (--paths FILE.csv | --journeys FILE.json) [--model MODEL]\n"
    "       perfmark attribute --data DIR [--from DATE] [--to DATE] [--tz ZONE] [--by channel|campaign]\n"
    "                          [--click-lookback DAYS] [--impression-lookback DAYS]\n"
    "                          [--impressions include|exclude] [--model MODEL] ...\n"
    "                          [--order N] [--half-life DAYS] [--position F,M,L] [--direct NAME]\n"
    "                          [--shapley-method auto|enumerate|dividends|sample] [--samples N] [--seed S]\n"
    "                          [--format table|csv|json] [--metric conversions|value]\n"
    "       perfmark attribute --generate N [--channels C] [--seed S] > journeys.csv\n\n"
    "Attribute conversions and conversion value to channels. Every model's numbers add up\n"
    "to the real totals. Definitions: docs/attribution.md.\n\n"
    "  --paths FILE       paths CSV (\"-\" for stdin): header\n"
    "                     path;total_conversions;total_conversion_value;total_null, then lines\n"
    "                     like \"alpha > beta;2;31.5;7\". Bad lines are reported and skipped.\n"
    "  --journeys FILE    JSON list of converting journeys, each a list of channel ids:\n"
    "                     [[16,4,3],[2,1]] (one conversion worth 1 per journey)\n"
    "  --data DIR         read journeys from the store in DIR (read-only; works while the\n"
    "                     server runs): approved conversions in [--from, --to] and the\n"
    "                     touches before them, visitors joined through user ids and emails\n"
    "  --from, --to       YYYY-MM-DD (local days, --to inclusive) or RFC 3339; default: the\n"
    "                     last 30 days\n"
    "  --tz ZONE          time zone of the dates (default: the workspace setting)\n"
    "  --by WHAT          channel (traffic source name, default) or campaign (campaign id)\n"
    "  --click-lookback DAYS       clicks count this long before a conversion (default 30)\n"
    "  --impression-lookback DAYS  impressions likewise (default 1)\n"
    "  --impressions include|exclude  impressions as touches (default include)\n"
    "  --model MODEL      markov (default), first, last, last_non_direct, linear, time_decay,\n"
    "                     position, shapley, or all (one column per model)\n"
    "  --order N          Markov chain order, 1..8 (default 1): states are the last N channels\n"
    "  --half-life DAYS   time decay half-life (default 7); the CSV has no timestamps, so a\n"
    "                     touch's age is the number of touches after it (one per day)\n"
    "  --position F,M,L   position-based shares of first, middle and last touches in percent,\n"
    "                     summing to 100 (default 40,20,40)\n"
    "  --direct NAME      the channel last_non_direct skips (default \"direct\", any case)\n"
    "  --shapley-method M auto (default: every coalition up to 20 channels, else the exact\n"
    "                     closed form), enumerate, dividends (closed form) or sample\n"
    "  --samples N        permutations for --shapley-method sample (default 10000)\n"
    "  --seed S           random seed for sampling and --generate (default 1)\n"
    "  --format FMT       table (default), csv or json (csv and json print 6 decimals)\n"
    "  --metric WHAT      with --model all in table or csv: conversions (default) or value\n"
    "  --generate N       write N synthetic journeys (paths CSV, one line each) to stdout\n"
    "  --channels C       channels for --generate, 2..999 (default 20; channel 0 is \"direct\")\n"
    "  -h, --help         this text\n\n"
    "Output columns: channel, conversions, value, and for markov removal_effect and\n"
    "value_removal_effect. Exit status: 0 done, 1 no valid input or a failure, 2 usage.\n";

typedef enum format_e { FORMAT_TABLE, FORMAT_CSV, FORMAT_JSON } format_t;

typedef struct attribute_opts_s {
    const char *paths, *journeys, *model, *data;
    pm_attrib_query_t query; /* store mode */
    int query_status;        /* 2 after a bad store flag */
    pm_attrib_options_t model_opts;
    format_t format;
    bool metric_value, help;
    uint64_t generate;
    unsigned channels;
} attribute_opts_t;

/* --- flags ----------------------------------------------------------------- */

static int bad_value(const char *flag, const char *v)
{
    fprintf(stderr, "perfmark attribute: --%s: bad value \"%s\"\n", flag, v);
    return 2;
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_position(const char *s, pm_attrib_options_t *o)
{
    double v[3];
    char *end;
    for (int i = 0; i < 3; i++) {
        if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '.')) return false;
        v[i] = strtod(s, &end);
        if (end == s || (i < 2 && *end != ',') || (i == 2 && *end != '\0')) return false;
        s = end + 1;
    }
    if (!isfinite(v[0] + v[1] + v[2]) || fabs(v[0] + v[1] + v[2] - 100) > 1e-9) return false;
    o->position_first = v[0];
    o->position_middle = v[1];
    o->position_last = v[2];
    return true;
}

static int parse_choice(const char *flag, const char *v, const char *const *names, size_t n, int *out)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    return bad_value(flag, v);
}

/* A store-mode flag, checked as the API checks its parameter. */
static int store_flag(attribute_opts_t *o, const char *name, const char *arg)
{
    pm_attrib_error_t err;
    if (pm_attrib_query_param(&o->query, name, arg, strlen(arg), &err) == PM_OK) return 0;
    fprintf(stderr, "perfmark attribute: %s\n", err.message);
    return 2;
}

static int parse_flag(int c, const char *arg, attribute_opts_t *o)
{
    static const char *const formats[] = {"table", "csv", "json"}, *const metrics[] = {"conversions", "value"},
                             *const methods[] = {"auto", "enumerate", "dividends", "sample"};
    pm_attrib_options_t *m = &o->model_opts;
    uint64_t v;
    int choice = 0, rc = 0;
    char *end;
    switch (c) {
    case 'p': o->paths = arg; break;
    case 'j': o->journeys = arg; break;
    case 'm': o->model = arg; break;
    case 'd': m->direct_channel = arg; break;
    case 'o':
        if (!parse_u64(arg, 1, PM_ATTRIB_MAX_ORDER, &v)) return bad_value("order", arg);
        m->markov_order = (unsigned)v;
        break;
    case 'H':
        m->half_life_days = strtod(arg, &end);
        if (end == arg || *end || !(m->half_life_days > 0) || !isfinite(m->half_life_days))
            return bad_value("half-life", arg);
        break;
    case 'P':
        if (!parse_position(arg, m)) return bad_value("position", arg);
        break;
    case 'f': rc = parse_choice("format", arg, formats, 3, &choice), o->format = (format_t)choice; break;
    case 'M': rc = parse_choice("metric", arg, metrics, 2, &choice), o->metric_value = choice == 1; break;
    case 'S': rc = parse_choice("shapley-method", arg, methods, 4, &choice), m->shapley_method = choice; break;
    case 'n':
        if (!parse_u64(arg, 1, UINT32_MAX, &m->shapley_samples)) return bad_value("samples", arg);
        break;
    case 's':
        if (!parse_u64(arg, 0, UINT64_MAX, &m->seed)) return bad_value("seed", arg);
        break;
    case 'g':
        if (!parse_u64(arg, 1, (uint64_t)1 << 40, &o->generate)) return bad_value("generate", arg);
        break;
    case 'c':
        if (!parse_u64(arg, 2, 999, &v)) return bad_value("channels", arg);
        o->channels = (unsigned)v;
        break;
    case 'h': o->help = true; break;
    case 'D': o->data = arg; break;
    case 'F': return store_flag(o, "from", arg);
    case 'T': return store_flag(o, "to", arg);
    case 'Z': return store_flag(o, "tz", arg);
    case 'B': return store_flag(o, "by", arg);
    case 'C': return store_flag(o, "click_lookback", arg);
    case 'I': return store_flag(o, "impression_lookback", arg);
    case 'X': return store_flag(o, "impressions", arg);
    default: return 2;
    }
    return rc;
}

static int parse_attribute(int argc, char **argv, attribute_opts_t *o)
{
    static const struct option longs[] = {
        {"paths", required_argument, NULL, 'p'},     {"journeys", required_argument, NULL, 'j'},
        {"model", required_argument, NULL, 'm'},     {"order", required_argument, NULL, 'o'},
        {"half-life", required_argument, NULL, 'H'}, {"position", required_argument, NULL, 'P'},
        {"direct", required_argument, NULL, 'd'},    {"format", required_argument, NULL, 'f'},
        {"metric", required_argument, NULL, 'M'},    {"shapley-method", required_argument, NULL, 'S'},
        {"samples", required_argument, NULL, 'n'},   {"seed", required_argument, NULL, 's'},
        {"generate", required_argument, NULL, 'g'},  {"channels", required_argument, NULL, 'c'},
        {"data", required_argument, NULL, 'D'},      {"from", required_argument, NULL, 'F'},
        {"to", required_argument, NULL, 'T'},        {"tz", required_argument, NULL, 'Z'},
        {"by", required_argument, NULL, 'B'},        {"click-lookback", required_argument, NULL, 'C'},
        {"impression-lookback", required_argument, NULL, 'I'},
        {"impressions", required_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    pm_attrib_model_t model;
    o->model = "markov";
    o->channels = 20;
    pm_attrib_options_default(&o->model_opts);
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "h", longs, NULL)) != -1;) {
        int rc = parse_flag(c, optarg, o);
        if (rc) return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "perfmark attribute: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (o->help || o->generate) return 0;
    if (o->paths && o->journeys) {
        fprintf(stderr, "perfmark attribute: give one of --paths and --journeys\n");
        return 2;
    }
    if (o->paths == NULL && o->journeys == NULL && o->data == NULL) {
        fprintf(stderr, "perfmark attribute: give --paths, --journeys or --data\n");
        return 2;
    }
    if (strcmp(o->model, "all") != 0 && pm_attrib_model_parse(o->model, &model) != PM_OK) return bad_value("model", o->model);
    return 0;
}

/* --- input ----------------------------------------------------------------- */

typedef struct reporter_s {
    const char *file;
    bool json;
    size_t count;
} reporter_t;

static void report_line(void *ctx, size_t where, const char *why)
{
    reporter_t *r = ctx;
    if (r->count++ >= MAX_REPORTED) return;
    if (r->json && where == 0) fprintf(stderr, "perfmark attribute: %s: %s\n", r->file, why);
    else if (r->json) fprintf(stderr, "perfmark attribute: %s: journey %zu: %s\n", r->file, where, why);
    else fprintf(stderr, "perfmark attribute: %s:%zu: %s\n", r->file, where, why);
}

static int read_all(const char *path, pm_buf_t *b)
{
    char chunk[65536];
    int rc = PM_OK;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) return -errno;
    for (size_t n; rc == PM_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0;)
        rc = pm_buf_append(b, chunk, n);
    if (rc == PM_OK && ferror(f)) rc = -EIO;
    if (f != stdin) fclose(f);
    return rc;
}

/* Fill `j` from the chosen file; 0 or the exit status. */
static int load(const attribute_opts_t *o, pm_attrib_journeys_t *j)
{
    const char *file = o->paths ? o->paths : o->journeys;
    reporter_t rep = {.file = file, .json = o->journeys != NULL};
    pm_attrib_read_stats_t st = {0};
    pm_buf_t b;
    pm_buf_init(&b, MAX_INPUT);
    int rc = read_all(file, &b);
    if (rc != PM_OK) {
        fprintf(stderr, "perfmark attribute: %s: %s\n", file, rc == PM_ETOOBIG ? "larger than 1 GiB" : pm_strerror(rc));
        goto out;
    }
    if (o->paths) rc = pm_attrib_paths_parse(j, pm_buf_str(&b), b.len, 0, report_line, &rep, &st);
    else rc = pm_attrib_journeys_json_parse(j, pm_buf_str(&b), b.len, report_line, &rep, &st);
    if (rep.count > MAX_REPORTED)
        fprintf(stderr, "perfmark attribute: %s: %zu more problems not shown\n", file, rep.count - MAX_REPORTED);
    if (st.rejected)
        fprintf(stderr, "perfmark attribute: %s: %zu %s%s skipped, %zu used\n", file, st.rejected,
                o->paths ? "line" : "journey", st.rejected == 1 ? "" : "s", st.accepted);
    if (rc == PM_OK && st.accepted == 0) {
        fprintf(stderr, "perfmark attribute: %s: no valid %s\n", file, o->paths ? "paths" : "journeys");
        rc = PM_EINVAL;
    }
out:
    pm_buf_free(&b);
    return rc == PM_OK ? 0 : 1;
}

/* Fill `j` from the store under o->data; 0 or the exit status. Notes on
 * what was left out go to stderr. */
static int load_store(attribute_opts_t *o, pm_attrib_journeys_t *j)
{
    char path[4200];
    struct stat st;
    sqlite3 *db = NULL;
    pm_attrib_load_stats_t ls;
    pm_attrib_error_t err;
    int code = 1;
    pm_server_db_path(o->data, path, sizeof(path));
    if (stat(path, &st) != 0) {
        fprintf(stderr, "perfmark attribute: no store at %s (see --data)\n", path);
        return 1;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fprintf(stderr, "perfmark attribute: cannot open %s: %s\n", path, db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    o->query.opts.markov_order = o->model_opts.markov_order;
    if (pm_attrib_store_load(db, &o->query, j, &ls, &err) != PM_OK) {
        fprintf(stderr, "perfmark attribute: %s%s%s\n", err.field ? err.field : "", err.field ? ": " : "", err.message);
        code = err.status == 422 ? 2 : 1;
        goto out;
    }
    char total[PM_MONEY_STR_MAX];
    pm_money_format(ls.value_micros, total);
    fprintf(stderr, "perfmark attribute: %llu converting and %llu non-converting journeys, %llu conversions worth %s %s\n",
            (unsigned long long)ls.converting_journeys, (unsigned long long)ls.null_journeys,
            (unsigned long long)ls.conversions, total, o->query.currency);
    if (ls.other_currency)
        fprintf(stderr, "perfmark attribute: %llu approved conversion(s) in a currency other than %s left out\n",
                (unsigned long long)ls.other_currency, o->query.currency);
    if (ls.untouched)
        fprintf(stderr, "perfmark attribute: %llu approved conversion(s) without a touch in the lookback windows\n",
                (unsigned long long)ls.untouched);
    code = 0;
    if (pm_attrib_journeys_path_count(j) == 0) {
        fprintf(stderr, "perfmark attribute: no journeys in the range\n");
        code = 1;
    }
out:
    sqlite3_close_v2(db);
    return code;
}

/* --- output ---------------------------------------------------------------- */

typedef struct table_s {
    const pm_attrib_journeys_t *j;
    const pm_attrib_result_t *res; /* one per model shown */
    const pm_attrib_model_t *models;
    size_t nmodels;
    uint32_t *rows; /* channel ids in display order */
    bool all, metric_value;
} table_t;

/* Natural order: all-digit names by number ("2" before "10"), then bytes. */
static int name_cmp(const char *a, const char *b)
{
    size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
    if (la && lb && !a[la] && !b[lb] && la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}

static const pm_attrib_journeys_t *sort_journeys;

static int row_cmp(const void *x, const void *y)
{
    return name_cmp(pm_attrib_channel_name(sort_journeys, *(const uint32_t *)x),
                    pm_attrib_channel_name(sort_journeys, *(const uint32_t *)y));
}

static void print_csv_name(const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_json_string(const char *s)
{
    json_t *str = json_string(s);
    char *text = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
    fputs(text ? text : "\"\"", stdout);
    free(text);
    json_decref(str);
}

static double cell(const table_t *t, size_t m, uint32_t c, bool value)
{
    return value ? t->res[m].value[c] : t->res[m].conversions[c];
}

static void print_table(const table_t *t)
{
    int w = 7;
    uint32_t n = pm_attrib_channel_count(t->j);
    for (uint32_t r = 0; r < n; r++) {
        int len = (int)strlen(pm_attrib_channel_name(t->j, t->rows[r]));
        if (len > w) w = len < 40 ? len : 40;
    }
    printf("%-*s", w, "channel");
    for (size_t m = 0; t->all && m < t->nmodels; m++)
        printf(" %15s", pm_attrib_model_name(t->models[m]));
    if (!t->all) printf(" %15s %15s%s", "conversions", "value", t->res[0].removal_effect ? "  removal_effect" : "");
    putchar('\n');
    for (uint32_t r = 0; r <= n; r++) {
        uint32_t c = r < n ? t->rows[r] : 0;
        const char *name = r < n ? pm_attrib_channel_name(t->j, c) : "total";
        printf("%-*s", w, name);
        for (size_t m = 0; t->all && m < t->nmodels; m++)
            printf(" %15.2f", r < n ? cell(t, m, c, t->metric_value)
                                    : (t->metric_value ? t->res[m].total_value : t->res[m].total_conversions));
        if (!t->all && r < n) printf(" %15.2f %15.2f", t->res[0].conversions[c], t->res[0].value[c]);
        if (!t->all && r == n) printf(" %15.2f %15.2f", t->res[0].total_conversions, t->res[0].total_value);
        if (!t->all && r < n && t->res[0].removal_effect) printf(" %15.6f", t->res[0].removal_effect[c]);
        putchar('\n');
    }
}

static void print_csv(const table_t *t)
{
    uint32_t n = pm_attrib_channel_count(t->j);
    fputs("channel", stdout);
    for (size_t m = 0; t->all && m < t->nmodels; m++)
        printf(",%s", pm_attrib_model_name(t->models[m]));
    if (!t->all) printf(",conversions,value%s", t->res[0].removal_effect ? ",removal_effect,value_removal_effect" : "");
    putchar('\n');
    for (uint32_t r = 0; r < n; r++) {
        uint32_t c = t->rows[r];
        print_csv_name(pm_attrib_channel_name(t->j, c));
        for (size_t m = 0; t->all && m < t->nmodels; m++)
            printf(",%.6f", cell(t, m, c, t->metric_value));
        if (!t->all) printf(",%.6f,%.6f", t->res[0].conversions[c], t->res[0].value[c]);
        if (!t->all && t->res[0].removal_effect)
            printf(",%.6f,%.6f", t->res[0].removal_effect[c], t->res[0].value_removal_effect[c]);
        putchar('\n');
    }
}

static void print_json_diagnostics(const pm_attrib_result_t *r)
{
    printf("{\"method\":\"%s\"", r->method ? r->method : "");
    if (r->model == PM_ATTRIB_MARKOV)
        printf(",\"states\":%zu,\"conversion_probability\":%.6f,\"iterations\":%llu,\"residual\":%.3g,"
               "\"converged\":%s",
               r->states, r->conversion_probability, (unsigned long long)r->iterations, r->residual,
               r->converged ? "true" : "false");
    if (r->model == PM_ATTRIB_SHAPLEY)
        printf(",\"channels\":%zu,\"samples\":%llu,\"error_bound\":%.6f", r->states, (unsigned long long)r->iterations,
               r->error_bound);
    putchar('}');
}

static void print_json_model_row(const pm_attrib_result_t *r, uint32_t c)
{
    printf("\"conversions\":%.6f,\"value\":%.6f", r->conversions[c], r->value[c]);
    if (r->removal_effect)
        printf(",\"removal_effect\":%.6f,\"value_removal_effect\":%.6f", r->removal_effect[c], r->value_removal_effect[c]);
}

static void print_json_all_row(const table_t *t, uint32_t c)
{
    for (int v = 0; v < 2; v++) {
        printf(",\"%s\":{", v ? "value" : "conversions");
        for (size_t m = 0; m < t->nmodels; m++)
            printf("%s\"%s\":%.6f", m ? "," : "", pm_attrib_model_name(t->models[m]), cell(t, m, c, v));
        putchar('}');
    }
}

static void print_json(const table_t *t, unsigned order)
{
    uint32_t n = pm_attrib_channel_count(t->j);
    if (t->all) printf("{\"model\":\"all\",\"order\":%u", order);
    else printf("{\"model\":\"%s\"", pm_attrib_model_name(t->models[0]));
    if (!t->all && t->models[0] == PM_ATTRIB_MARKOV) printf(",\"order\":%u", order);
    printf(",\"total_conversions\":%.6f,\"total_value\":%.6f,\"channels\":[", t->res[0].total_conversions,
           t->res[0].total_value);
    for (uint32_t r = 0; r < n; r++) {
        fputs(r ? ",{\"channel\":" : "{\"channel\":", stdout);
        print_json_string(pm_attrib_channel_name(t->j, t->rows[r]));
        if (t->all) print_json_all_row(t, t->rows[r]);
        else putchar(','), print_json_model_row(&t->res[0], t->rows[r]);
        putchar('}');
    }
    fputs("],\"diagnostics\":", stdout);
    if (!t->all) print_json_diagnostics(&t->res[0]);
    for (size_t m = 0; t->all && m < t->nmodels; m++) {
        printf("%s\"%s\":", m ? "," : "{", pm_attrib_model_name(t->models[m]));
        print_json_diagnostics(&t->res[m]);
    }
    fputs(t->all ? "}}\n" : "}\n", stdout);
}

/* Say on stderr when numbers are estimates rather than exact. */
static void note_quality(const pm_attrib_result_t *r)
{
    if (r->model == PM_ATTRIB_MARKOV && r->iterations)
        fprintf(stderr, "perfmark attribute: markov: %zu states solved by Gauss-Seidel (%llu sweeps, last change %.2g)%s\n",
                r->states, (unsigned long long)r->iterations, r->residual,
                r->converged ? "" : ": NOT converged, raise the iteration budget");
    if (r->model == PM_ATTRIB_SHAPLEY && r->error_bound > 0)
        fprintf(stderr, "perfmark attribute: shapley: %llu sampled orderings; every channel within +/- %.4f conversions"
                        " of the exact value with 95%% confidence\n",
                (unsigned long long)r->iterations, r->error_bound);
}

/* --- run ------------------------------------------------------------------- */

static int attribute_models(const attribute_opts_t *o, const pm_attrib_journeys_t *j)
{
    pm_attrib_model_t models[PM_ATTRIB_MODEL_COUNT];
    pm_attrib_result_t res[PM_ATTRIB_MODEL_COUNT];
    size_t nmodels = 0, done = 0;
    int status = 0;
    bool all = strcmp(o->model, "all") == 0;
    if (all)
        for (unsigned m = 0; m < PM_ATTRIB_MODEL_COUNT; m++)
            models[nmodels++] = (pm_attrib_model_t)m;
    else if (pm_attrib_model_parse(o->model, &models[nmodels++]) != PM_OK) return 2;
    for (; done < nmodels; done++) {
        int rc = pm_attrib_run(j, models[done], &o->model_opts, &res[done]);
        if (rc != PM_OK) {
            fprintf(stderr, "perfmark attribute: %s: %s\n", pm_attrib_model_name(models[done]), pm_strerror(rc));
            pm_attrib_result_free(&res[done]);
            status = 1;
            goto out;
        }
        note_quality(&res[done]);
    }
    uint32_t n = pm_attrib_channel_count(j);
    table_t t = {.j = j, .res = res, .models = models, .nmodels = nmodels, .all = all,
                 .metric_value = o->metric_value, .rows = pm_malloc((n ? n : 1) * sizeof(uint32_t))};
    for (uint32_t c = 0; c < n; c++)
        t.rows[c] = c;
    sort_journeys = j;
    qsort(t.rows, n, sizeof(*t.rows), row_cmp);
    if (o->format == FORMAT_TABLE) print_table(&t);
    else if (o->format == FORMAT_CSV) print_csv(&t);
    else print_json(&t, o->model_opts.markov_order);
    pm_free(t.rows);
    if (fflush(stdout) != 0) status = 1;
out:
    for (size_t m = 0; m < done; m++)
        pm_attrib_result_free(&res[m]);
    return status;
}

static int attribute_run(int argc, char **argv)
{
    attribute_opts_t o = {0};
    pm_attrib_query_init(&o.query);
    int rc = parse_attribute(argc, argv, &o);
    if (rc || o.help) {
        fputs(attribute_help, rc ? stderr : stdout);
        pm_attrib_query_free(&o.query);
        return rc;
    }
    if (o.generate) {
        rc = pm_attrib_generate(stdout, o.generate, o.channels, o.model_opts.seed);
        if (rc != PM_OK) fprintf(stderr, "perfmark attribute: --generate: %s\n", pm_strerror(rc));
        return rc == PM_OK ? 0 : 1;
    }
    pm_attrib_journeys_t *j = pm_attrib_journeys_create(NULL);
    rc = o.paths || o.journeys ? load(&o, j) : load_store(&o, j);
    if (rc == 0) rc = attribute_models(&o, j);
    pm_attrib_journeys_destroy(j);
    pm_attrib_query_free(&o.query);
    return rc;
}

const pm_cli_verb_t pm_cli_attribute = {"attribute", "attribute conversions to channels (markov, shapley, rules)",
                                        attribute_run};

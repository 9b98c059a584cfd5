/*
 * experiment.c: `perfmark experiment`, split-test statistics from the
 * command line (see pm/cli.h). `analyze` reads a statistics document
 * (pm/stats_json.h) and prints a table or the document with its figures
 * filled in; `assign` shows which option visitors get, with GrowthBook's
 * hashing (pm/stats_assign.h). Both are thin over the library.
 */
#include "pm/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "pm/buf.h"
#include "pm/experiment.h"
#include "pm/server.h"
#include "pm/stats_assign.h"
#include "pm/stats_json.h"

#include <math.h>

static const char experiment_help[] =
    "usage: perfmark experiment analyze [--format table|json] FILE.json\n"
    "       perfmark experiment assign --experiment KEY [options] VISITOR...\n"
    "       perfmark experiment show [--data DIR] [--format table|json] ID\n\n"
    "Split-test statistics (docs/statistics.md).\n\n"
    "analyze: read a statistics document (\"-\" for stdin) whose sections \"frequentist\",\n"
    "\"sequential\", \"bayesian\" (and \"srm\") list cases comparing arm \"b\" with control \"a\"\n"
    "from sufficient statistics: {\"n\", \"conversions\"} for a rate (CVR) or\n"
    "{\"n\", \"sum\", \"sum_squares\"} for a mean (EPC, revenue per visitor). Optional per case:\n"
    "\"difference\" (\"relative\" default, or \"absolute\"), \"alpha\" (0.05), \"tuning_parameter\"\n"
    "(sequential N*, 5000), \"prior\" {\"mean\", \"variance\"} and \"inverse\" (Bayesian).\n"
    "  --format table   aligned text (default)\n"
    "  --format json    the same document with \"expected\", \"ci\", \"stddev\", \"p_value\",\n"
    "                   \"chance_to_win\" and \"risk\" filled in (SRM cases: \"p_value\", \"mismatch\")\n\n"
    "assign: print \"VISITOR<TAB>VARIATION\" per visitor (-1: not in the experiment), hashing as\n"
    "GrowthBook's SDKs do.\n"
    "  --experiment KEY      experiment key (the hash seed unless --seed)\n"
    "  --variations N        number of options (default: the number of weights, else 2)\n"
    "  --weights W,W,...     traffic split (default equal; must sum to 1 +- 0.01)\n"
    "  --coverage C          share of visitors in the experiment, 0..1 (default 1)\n"
    "  --hash-version 1|2    GrowthBook hash version (default 2)\n"
    "  --seed S              hash seed (default: the key)\n"
    "  --namespace ID:START:END   only visitors in this namespace slice\n\n"
    "show: the live results of experiment ID (created with POST /api/v1/experiments): per option\n"
    "of the flow path, visitors, clicks, conversions, the goal's rate or value, uplift against\n"
    "option 0 with its 95% CI and p-value, the sequential p-value and CI, the chance to beat the\n"
    "control, the expected loss, and the SRM check (docs/flows.md). The same figures as\n"
    "GET /api/v1/experiments/ID.\n"
    "  --data DIR            data directory (default ./data)\n"
    "  --format table|json   aligned text (default) or the API's JSON document\n\n"
    "  -h, --help            this text\n\n"
    "Exit status: 0 success, 1 bad input or I/O error, 2 usage error.\n";

/* --- analyze ------------------------------------------------------------------- */

/* Read all of `path` ("-": stdin) into `b`, capped at the analyzer's input limit. */
static int read_input(const char *path, pm_buf_t *b)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char chunk[65536];
    int rc = PM_OK;
    if (f == NULL) return -errno;
    for (size_t n; rc == PM_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0;) rc = pm_buf_append(b, chunk, n);
    if (rc == PM_OK && ferror(f)) rc = -EIO;
    if (f != stdin) fclose(f);
    return rc;
}

static int analyze_run(int argc, char **argv)
{
    static const struct option longs[] = {{"format", required_argument, NULL, 'f'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    pm_stats_format_t format = PM_STATS_FORMAT_TABLE;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "f:h", longs, NULL)) != -1;) {
        if (c == 'h') return fputs(experiment_help, stdout) < 0;
        if (c != 'f') return 2;
        if (strcmp(optarg, "json") == 0) format = PM_STATS_FORMAT_JSON;
        else if (strcmp(optarg, "table") == 0) format = PM_STATS_FORMAT_TABLE;
        else {
            fprintf(stderr, "perfmark experiment analyze: --format: \"%s\" is neither table nor json\n", optarg);
            return 2;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "perfmark experiment analyze: expected one FILE.json\n");
        return 2;
    }
    const char *path = argv[optind];
    pm_buf_t in, out;
    char err[512];
    pm_buf_init(&in, PM_STATS_JSON_MAX_BYTES);
    pm_buf_init(&out, PM_STATS_JSON_MAX_OUTPUT);
    int rc = read_input(path, &in);
    if (rc != PM_OK) {
        fprintf(stderr, "perfmark experiment analyze: %s: %s\n", path,
                rc == PM_ETOOBIG ? "larger than 16 MiB" : strerror(-rc));
    } else if ((rc = pm_stats_json_analyze(pm_buf_str(&in), in.len, format, &out, err, sizeof(err))) != PM_OK) {
        fprintf(stderr, "perfmark experiment analyze: %s: %s\n", path, err);
    } else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
        fprintf(stderr, "perfmark experiment analyze: writing the result: %s\n", strerror(errno));
        rc = -EIO;
    }
    pm_buf_free(&in);
    pm_buf_free(&out);
    return rc == PM_OK ? 0 : 1;
}

/* --- assign -------------------------------------------------------------------- */

typedef struct assign_opts_s {
    pm_stats_experiment_t exp;
    double weights[PM_STATS_MAX_VARIATIONS];
    pm_stats_namespace_t ns;
    char ns_id[128];
} assign_opts_t;

static int parse_number(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (end == s || *end || errno || !(*out >= lo && *out <= hi)) {
        fprintf(stderr, "perfmark experiment assign: %s: bad value \"%s\"\n", flag, s);
        return 2;
    }
    return 0;
}

static int parse_int(const char *flag, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    *out = strtol(s, &end, 10);
    if (end == s || *end || errno || *out < lo || *out > hi) {
        fprintf(stderr, "perfmark experiment assign: %s: bad value \"%s\"\n", flag, s);
        return 2;
    }
    return 0;
}

static int parse_weights(const char *s, assign_opts_t *o)
{
    size_t n = 0;
    char item[64];
    for (const char *p = s; *p;) {
        size_t len = strcspn(p, ",");
        if (n == PM_STATS_MAX_VARIATIONS || len == 0 || len >= sizeof(item)) {
            fprintf(stderr, "perfmark experiment assign: --weights: expected up to %d numbers like 0.5,0.5\n",
                    PM_STATS_MAX_VARIATIONS);
            return 2;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (parse_number("--weights", item, 0, 1, &o->weights[n++])) return 2;
        p += len + (p[len] == ',');
    }
    o->exp.weights = o->weights;
    o->exp.n_weights = n;
    return 0;
}

static int parse_namespace(const char *s, assign_opts_t *o)
{
    const char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    char num[64];
    if (c1 == NULL || c2 == NULL || c1 == s || (size_t)(c1 - s) >= sizeof(o->ns_id) ||
        (size_t)(c2 - c1 - 1) >= sizeof(num)) {
        fprintf(stderr, "perfmark experiment assign: --namespace: expected ID:START:END, e.g. pricing:0:0.5\n");
        return 2;
    }
    memcpy(o->ns_id, s, (size_t)(c1 - s));
    o->ns_id[c1 - s] = '\0';
    memcpy(num, c1 + 1, (size_t)(c2 - c1 - 1));
    num[c2 - c1 - 1] = '\0';
    if (parse_number("--namespace", num, 0, 1, &o->ns.start) || parse_number("--namespace", c2 + 1, 0, 1, &o->ns.end))
        return 2;
    o->ns.id = o->ns_id;
    o->exp.ns = &o->ns;
    return 0;
}

static int parse_assign(int argc, char **argv, assign_opts_t *o, bool *help)
{
    static const struct option longs[] = {
        {"experiment", required_argument, NULL, 'e'}, {"variations", required_argument, NULL, 'n'},
        {"weights", required_argument, NULL, 'w'},    {"coverage", required_argument, NULL, 'c'},
        {"hash-version", required_argument, NULL, 'v'}, {"seed", required_argument, NULL, 's'},
        {"namespace", required_argument, NULL, 'N'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    long v = 0;
    o->exp = PM_STATS_EXPERIMENT_INIT;
    o->exp.hash_version = 2;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "e:n:w:c:v:s:N:h", longs, NULL)) != -1;) {
        int rc = 0;
        switch (c) {
        case 'e': o->exp.key = optarg; break;
        case 's': o->exp.seed = optarg; break;
        case 'n':
            rc = parse_int("--variations", optarg, 1, PM_STATS_MAX_VARIATIONS, &v);
            o->exp.variations = (size_t)v;
            break;
        case 'w': rc = parse_weights(optarg, o); break;
        case 'c': rc = parse_number("--coverage", optarg, 0, 1, &o->exp.coverage); break;
        case 'v':
            rc = parse_int("--hash-version", optarg, 1, 2, &v);
            o->exp.hash_version = (int)v;
            break;
        case 'N': rc = parse_namespace(optarg, o); break;
        case 'h': *help = true; break;
        default: return 2;
        }
        if (rc) return rc;
    }
    if (*help) return 0;
    if (o->exp.key == NULL || optind == argc) {
        fprintf(stderr, "perfmark experiment assign: needs --experiment KEY and at least one VISITOR\n");
        return 2;
    }
    if (o->exp.variations == 0) o->exp.variations = o->exp.n_weights ? o->exp.n_weights : 2;
    return 0;
}

static int assign_run(int argc, char **argv)
{
    assign_opts_t o = {0};
    bool help = false;
    int rc = parse_assign(argc, argv, &o, &help);
    if (rc) fputs("(perfmark experiment --help lists the flags)\n", stderr);
    if (rc || help) return rc ? rc : fputs(experiment_help, stdout) < 0;
    for (int i = optind; i < argc; i++) {
        int variation;
        if (pm_stats_assign_ex(argv[i], &o.exp, &variation) != PM_OK) {
            fprintf(stderr, "perfmark experiment assign: invalid experiment settings\n");
            return 1;
        }
        printf("%s\t%d\n", argv[i], variation);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

/* --- show --------------------------------------------------------------------- */

static double num(json_t *o, const char *path)
{
    json_t *v = o;
    char key[64];
    for (const char *p = path; v && *p;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(key)) : json_object_get(v, key);
        p = dot ? dot + 1 : p + n;
    }
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void print_table(json_t *doc)
{
    json_t *res = json_object_get(doc, "results");
    printf("experiment %lld \"%s\": flow %lld, path \"%s\", goal %s, control = option 0\n",
           (long long)json_integer_value(json_object_get(doc, "id")), json_string_value(json_object_get(doc, "name")),
           (long long)json_integer_value(json_object_get(doc, "flow_id")),
           json_string_value(json_object_get(doc, "path")), json_string_value(json_object_get(doc, "goal")));
    printf("%-6s %9s %9s %9s %10s %9s %21s %8s %8s %8s %8s\n", "option", "visitors", "clicks", "convs", "revenue",
           "value", "uplift [95% CI]", "p", "seq p", "P(beat)", "loss");
    json_t *opts = json_object_get(res, "options");
    for (size_t i = 0; i < json_array_size(opts); i++) {
        json_t *o = json_array_get(opts, i), *vs = json_object_get(o, "vs_control");
        printf("%-6zu %9.0f %9.0f %9.0f %10s %9.5f", i, num(o, "visitors"), num(o, "clicks"),
               num(o, "converted_visitors"), json_string_value(json_object_get(o, "revenue")), num(o, "value"));
        if (json_is_object(vs))
            printf(" %+6.1f%% [%+6.1f%%,%+6.1f%%] %8.4f %8.4f %8.3f %8.5f\n", 100 * num(vs, "uplift.expected"),
                   100 * num(vs, "uplift.ci.0"), 100 * num(vs, "uplift.ci.1"), num(vs, "p_value"),
                   num(vs, "sequential.p_value"), num(vs, "chance_to_beat_control"), num(vs, "expected_loss"));
        else
            printf(" %21s\n", "(control)");
    }
    json_t *srm = json_object_get(res, "srm");
    printf("SRM p-value %.4f%s\n", num(srm, "p_value"),
           json_is_true(json_object_get(srm, "warning")) ? "  WARNING: the observed split does not match the weights"
                                                          : "");
}

static int show_run(int argc, char **argv)
{
    static const struct option longs[] = {{"data", required_argument, NULL, 'd'},
                                          {"format", required_argument, NULL, 'f'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *data = "./data", *format = "table";
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "d:f:h", longs, NULL)) != -1;) {
        if (c == 'd') data = optarg;
        else if (c == 'f') format = optarg;
        else if (c == 'h') return fputs(experiment_help, stdout) < 0;
        else return 2;
    }
    char *end = NULL;
    long long id = optind == argc - 1 ? strtoll(argv[optind], &end, 10) : 0;
    if (id <= 0 || (end && *end) || (strcmp(format, "table") != 0 && strcmp(format, "json") != 0)) {
        fprintf(stderr, "perfmark experiment show: needs one experiment ID and --format table or json\n");
        return 2;
    }
    char db[4200];
    pm_store_t *store = NULL;
    json_t *doc = NULL;
    pm_server_db_path(data, db, sizeof(db));
    int rc = pm_store_open(db, &store);
    if (rc == PM_OK) rc = pm_experiment_show(store, id, &doc);
    if (rc == PM_ENOTFOUND) fprintf(stderr, "perfmark experiment show: no experiment %lld in %s\n", id, data);
    else if (rc != PM_OK) fprintf(stderr, "perfmark experiment show: cannot read %s: %s\n", db, pm_strerror(rc));
    if (rc == PM_OK && strcmp(format, "json") == 0) {
        char *text = json_dumps(doc, JSON_INDENT(2));
        puts(text ? text : "null");
        free(text);
    } else if (rc == PM_OK) {
        print_table(doc);
    }
    json_decref(doc);
    pm_store_close(store);
    return rc == PM_OK ? (fflush(stdout) == 0 ? 0 : 1) : 1;
}

/* --- verb ---------------------------------------------------------------------- */

static int experiment_run(int argc, char **argv)
{
    if (argc < 2) {
        fputs(experiment_help, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(experiment_help, stdout);
        return 0;
    }
    if (strcmp(argv[1], "analyze") == 0) return analyze_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "assign") == 0) return assign_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0) return show_run(argc - 1, argv + 1);
    fprintf(stderr, "perfmark experiment: unknown command \"%s\" (analyze, assign or show; --help for more)\n",
            argv[1]);
    return 2;
}

const pm_cli_verb_t pm_cli_experiment = {"experiment", "split-test statistics: analyze results, assign visitors, show live experiments",
                                         experiment_run};

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
#include "pm/stats_assign.h"
#include "pm/stats_json.h"

static const char experiment_help[] =
    "usage: perfmark experiment analyze [--format table|json] FILE.json\n"
    "       perfmark experiment assign --experiment KEY [options] VISITOR...\n\n"
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
    fprintf(stderr, "perfmark experiment: unknown command \"%s\" (analyze or assign; --help for more)\n", argv[1]);
    return 2;
}

const pm_cli_verb_t pm_cli_experiment = {"experiment", "split-test statistics: analyze results, assign visitors",
                                         experiment_run};

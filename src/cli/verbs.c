/*
 * verbs.c: serve, demo, keys and version (see pm/cli.h). The demo seeds its
 * workspace through the admin API in-process and simulates its traffic with
 * pm_sim_workspace (pm/sim.h) before serving.
 */
#include "pm/api.h"
#include "pm/cli.h"
#include "pm/server.h"
#include "pm/sim.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_DATA "./data"

/* --- serve ----------------------------------------------------------------- */

static const char serve_help[] =
    "usage: perfmark serve [--listen HOST:PORT] [--data DIR] [--threads N] [--sync-ms MS] [--visitors N]\n"
    "                      [--geoip FILE] [--datacenter-cidrs FILE] [--bot-velocity N]\n"
    "                      [--postback-backoff-ms MS] [--postback-backoff-max-ms MS]\n"
    "                      [--postback-attempts N] [--postback-max-age S] [--postback-timeout-ms MS]\n"
    "                      [--postback-poll-ms MS]\n\n"
    "Run the tracker: click, impression, postback and pixel endpoints, the admin API\n"
    "(/api/v1), /metrics and /healthz, all on one port.\n\n"
    "  --listen HOST:PORT  address to listen on (default " DEFAULT_LISTEN "; [::1]:8080 for IPv6)\n"
    "  --data DIR          data directory: store (perfmark.db) and journal (default " DEFAULT_DATA ")\n"
    "  --threads N         event loops (1-63), one per core by default\n"
    "  --sync-ms MS        journal group-commit period in milliseconds (default 10);\n"
    "                      conversions are always answered after the fsync that covers them\n"
    "  --visitors N        visitors the flows' frequency-cap and audience tables hold (default\n"
    "                      1048576, 32 MiB each; 10000000 take 256 MiB each; docs/flows.md)\n"
    "  --geoip FILE        a MaxMind DB (GeoIP2/GeoLite2 Country or City, DB-IP) for the\n"
    "                      visitor's country and region; default: the built-in DB-IP\n"
    "                      country lite database (CC BY 4.0, https://db-ip.com)\n"
    "  --datacenter-cidrs FILE  data-center ranges, one CIDR a line (# comments): clicks\n"
    "                      from them are flagged as bots (datacenter_ip)\n"
    "  --bot-velocity N    flag clicks past N per address per minute as bots (velocity);\n"
    "                      default 60, 0 = off\n"
    "  --postback-backoff-ms MS      delay before the 2nd attempt of an outgoing postback\n"
    "                                (default 30000); doubles per failure, with jitter\n"
    "  --postback-backoff-max-ms MS  cap of one retry delay (default 3600000)\n"
    "  --postback-attempts N         attempts before a postback is failed (default 10)\n"
    "  --postback-max-age S          no attempt later than S seconds after queuing (default 259200)\n"
    "  --postback-timeout-ms MS      one attempt, connect to last byte (default 10000)\n"
    "  --postback-poll-ms MS         re-scan of the postback queue when idle (default 1000)\n"
    "  -h, --help          this text\n\n"
    "On the first start of a data directory an admin API key is printed once on stdout.\n";

typedef struct serve_opts_s {
    pm_server_config_t server;
    bool help;
} serve_opts_t;

/* One --postback-* flag into the outbox policy; 2 (usage) on a bad value. */
static int parse_outbox_flag(int c, const char *arg, pm_outbox_policy_t *p)
{
    char *end;
    long long v = strtoll(arg, &end, 10);
    long long max = c == 'A' ? 1000 : c == 'G' ? 365LL * 86400 : 86400LL * 1000;
    if (*end || end == arg || v < 1 || v > max) {
        fprintf(stderr, "perfmark serve: bad value \"%s\" for a --postback-* flag (1-%lld)\n", arg, max);
        return 2;
    }
    switch (c) {
    case 'B': p->backoff_base_us = v * 1000; break;
    case 'M': p->backoff_max_us = v * 1000; break;
    case 'A': p->max_attempts = (unsigned)v; break;
    case 'G': p->max_age_us = v * PM_USEC_PER_SEC; break;
    case 'T': p->timeout_us = v * 1000; break;
    default: p->poll_us = v * 1000; break;
    }
    return 0;
}

/* Long-only serve flags (no short letter). */
enum { OPT_BOT_VELOCITY = 0x100 };

static int parse_serve(int argc, char **argv, serve_opts_t *o)
{
    static const struct option longs[] = {{"listen", required_argument, NULL, 'l'},
                                          {"data", required_argument, NULL, 'd'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"sync-ms", required_argument, NULL, 's'},
                                          {"geoip", required_argument, NULL, 'g'},
                                          {"datacenter-cidrs", required_argument, NULL, 'D'},
                                          {"bot-velocity", required_argument, NULL, OPT_BOT_VELOCITY},
                                          {"postback-backoff-ms", required_argument, NULL, 'B'},
                                          {"postback-backoff-max-ms", required_argument, NULL, 'M'},
                                          {"postback-attempts", required_argument, NULL, 'A'},
                                          {"postback-max-age", required_argument, NULL, 'G'},
                                          {"postback-timeout-ms", required_argument, NULL, 'T'},
                                          {"postback-poll-ms", required_argument, NULL, 'P'},
                                          {"visitors", required_argument, NULL, 'V'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    o->server.listen = DEFAULT_LISTEN;
    o->server.data_dir = DEFAULT_DATA;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "l:d:t:s:g:D:V:h", longs, NULL)) != -1;) {
        char *end;
        long v;
        switch (c) {
        case 'l': o->server.listen = optarg; break;
        case 'd': o->server.data_dir = optarg; break;
        case 'V':
            v = strtol(optarg, &end, 10);
            if (*end || v < 1000 || v > 100000000) {
                fprintf(stderr, "perfmark serve: --visitors: bad value \"%s\" (1000 to 100000000)\n", optarg);
                return 2;
            }
            o->server.route_visitors = (size_t)v;
            break;
        case 't':
        case 's':
            v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > (c == 't' ? 63 : 1000)) {
                fprintf(stderr, "perfmark serve: --%s: bad value \"%s\"\n", c == 't' ? "threads" : "sync-ms", optarg);
                return 2;
            }
            if (c == 't') o->server.threads = (unsigned)v;
            else o->server.sync_interval_us = v * 1000;
            break;
        case 'g': o->server.geoip_file = optarg; break;
        case 'D': o->server.datacenter_file = optarg; break;
        case OPT_BOT_VELOCITY:
            v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || v > 1000000) {
                fprintf(stderr, "perfmark serve: --bot-velocity: bad value \"%s\" (0-1000000)\n", optarg);
                return 2;
            }
            o->server.bot_velocity = v == 0 ? -1 : (int)v;
            break;
        case 'B':
        case 'M':
        case 'A':
        case 'G':
        case 'T':
        case 'P':
            if (parse_outbox_flag(c, optarg, &o->server.outbox) != 0) return 2;
            break;
        case 'h': o->help = true; break;
        default: return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "perfmark serve: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    return 0;
}

static int serve_run(int argc, char **argv)
{
    serve_opts_t o = {0};
    int rc = parse_serve(argc, argv, &o);
    if (rc || o.help) {
        fputs(serve_help, rc ? stderr : stdout);
        return rc;
    }
    return pm_server_run(&o.server) == PM_OK ? 0 : 1;
}

const pm_cli_verb_t pm_cli_serve = {"serve", "run the tracker, admin API and metrics on one port", serve_run};

/* --- demo ------------------------------------------------------------------ */

static const char demo_help[] =
    "usage: perfmark demo [--listen HOST:PORT] [--data DIR] [--threads N] [--sync-ms MS]\n"
    "                     [--days N] [--seed N] [--scale S]\n\n"
    "Create a demo workspace in DIR unless it already has one, then serve it like\n"
    "`perfmark serve`. The workspace: five traffic sources (search, social, native,\n"
    "affiliate, CTV), twelve campaigns (one with the token \"demo\"), four offers and\n"
    "five landers, with N days of traffic up to now from `perfmark simulate`, which the\n"
    "first start stores (a few seconds). Prints an admin API key and a short guide.\n"
    "Each campaign gets creative entities, named as its clicks' sub2 (none with --days 0).\n\n"
    "  --listen HOST:PORT  address to listen on (default " DEFAULT_LISTEN ")\n"
    "  --data DIR          data directory (default " DEFAULT_DATA ")\n"
    "  --threads N         event loops (1-63), one per core by default\n"
    "  --sync-ms MS        journal group-commit period in milliseconds (default 10)\n"
    "  --days N            days of simulated traffic, 0-3650 (default 30; 0 = none)\n"
    "  --seed N            random seed of the simulation (default 1)\n"
    "  --scale S           traffic volume, 0 < S <= 100 (default 1: ~330k events per 30 days)\n"
    "  -h, --help          this text\n\n"
    "A second start on the same DIR neither seeds nor simulates again.\n";

typedef struct demo_opts_s {
    serve_opts_t serve;
    pm_sim_options_t sim;
} demo_opts_t;

static int demo_bad(const char *flag, const char *v)
{
    fprintf(stderr, "perfmark demo: --%s: bad value \"%s\"\n", flag, v);
    return 2;
}

/* The flags demo adds to serve's. */
static int demo_flag(int c, const char *v, demo_opts_t *o)
{
    char *end = NULL;
    errno = 0;
    if (c == 'n') {
        long days = strtol(v, &end, 10);
        if (*v == '\0' || *end || days < 0 || days > 3650) return demo_bad("days", v);
        o->sim.days = (int)days;
    } else if (c == 'e') {
        unsigned long long seed = strtoull(v, &end, 10);
        if (*v == '\0' || *end || *v == '-' || errno) return demo_bad("seed", v);
        o->sim.seed = seed;
    } else {
        double scale = strtod(v, &end);
        if (*v == '\0' || *end || !(scale > 0 && scale <= 100)) return demo_bad("scale", v);
        o->sim.scale = scale;
    }
    return 0;
}

static int parse_demo(int argc, char **argv, demo_opts_t *o)
{
    static const struct option longs[] = {
        {"listen", required_argument, NULL, 'l'}, {"data", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'}, {"sync-ms", required_argument, NULL, 's'},
        {"days", required_argument, NULL, 'n'},   {"seed", required_argument, NULL, 'e'},
        {"scale", required_argument, NULL, 'x'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    o->serve.server.listen = DEFAULT_LISTEN;
    o->serve.server.data_dir = DEFAULT_DATA;
    o->sim = (pm_sim_options_t){.seed = 1, .days = 30, .scale = 1.0, .end_day = INT64_MIN};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "l:d:t:s:n:e:x:h", longs, NULL)) != -1;) {
        char *end;
        long v;
        int rc = 0;
        switch (c) {
        case 'l': o->serve.server.listen = optarg; break;
        case 'd': o->serve.server.data_dir = optarg; break;
        case 't':
        case 's':
            v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > (c == 't' ? 63 : 1000)) return demo_bad(c == 't' ? "threads" : "sync-ms", optarg);
            if (c == 't') o->serve.server.threads = (unsigned)v;
            else o->serve.server.sync_interval_us = v * 1000;
            break;
        case 'n':
        case 'e':
        case 'x': rc = demo_flag(c, optarg, o); break;
        case 'h': o->serve.help = true; break;
        default: return 2;
        }
        if (rc) return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "perfmark demo: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* Send one admin API request in-process; returns the response JSON (owned
 * by the caller) or NULL with the error printed. */
static json_t *demo_call(pm_api_t *api, pm_confhold_t *hold, const char *key, const char *method, const char *path,
                         const char *body)
{
    char auth[128];
    snprintf(auth, sizeof(auth), "Bearer %s", key);
    pm_http_req_t req = {.method = {method, strlen(method)},
                         .path = {path, strlen(path)},
                         .body = {body, body ? strlen(body) : 0},
                         .authorization = {auth, strlen(auth)},
                         .content_type = {"application/json", 16}};
    pm_http_res_t res;
    pm_http_res_init(&res);
    pm_config_t *cfg = NULL;
    pm_confhold_refresh(hold, &cfg);
    pm_api_handle(api, cfg, &req, &res);
    pm_config_release(cfg);
    json_t *j = res.status / 100 == 2 ? json_loadb(pm_buf_str(&res.body), res.body.len, 0, NULL) : NULL;
    if (j == NULL) fprintf(stderr, "perfmark demo: %s %s -> %d %s\n", method, path, res.status, pm_buf_str(&res.body));
    pm_http_res_free(&res);
    return j;
}

static int64_t created_id(json_t *j)
{
    int64_t id = j ? (int64_t)json_integer_value(json_object_get(j, "id")) : 0;
    json_decref(j);
    return id;
}

/* The demo workspace. Source names say their channel (the simulator reads
 * them); offers and landers are example.com URLs with tracker macros. */
static const char *const demo_sources[][2] = {
    {"Search Ads", "https://ads.search.example/conversion?gclid={external_id}&value={payout}"},
    {"Social Ads", "https://graph.social.example/events?fbclid={external_id}&event=Purchase&value={payout}"},
    {"Native Network", "https://native.example/pb?click={external_id}&payout={payout}"},
    {"Affiliate Partners", "https://partners.example/postback?aff_click={external_id}&amount={payout}"},
    {"Connected TV", ""},
};

static const struct {
    const char *name, *url, *type, *amount;
} demo_offers[] = {
    {"VPN trial", "https://offer.example.com/?clickid={clickid}&s1={sub1}", "cpa", "12.50"},
    {"Car insurance quote", "https://quotes.example.com/start?cid={clickid}&src={traffic_source_id}&kw={sub1}", "cpl",
     "18.00"},
    {"Fitness app install", "https://apps.example.com/fitpro?click_id={clickid}&pub={sub1}&cr={sub2}", "cpi", "3.20"},
    {"Meal kit subscription", "https://mealkit.example.com/order?aff_click={clickid}&sub={sub1}", "cps", "35.00"},
};

static const char *const demo_landers[][2] = {
    {"VPN comparison", "https://lp.example.com/vpn-compare?go={offer_url}&kw={sub1}"},
    {"Insurance quiz", "https://lp.example.com/insurance-quiz?next={offer_url}"},
    {"Fitness quiz", "https://lp.example.com/fit-quiz?next={offer_url}&cr={sub2}"},
    {"Recipes advertorial", "https://lp.example.com/recipes?next={offer_url}&site={sub1}"},
    {"Privacy advertorial", "https://lp.example.com/privacy-story?next={offer_url}"},
};

/* source, offer, lander: indices into the tables above (-1: no lander). */
static const struct {
    const char *name, *token;
    int source, offer, lander;
    const char *model, *amount;
} demo_campaigns[] = {
    {"Search: VPN brand", "demo", 0, 0, -1, "cpc", "0.85"},
    {"Search: VPN generic", "search-vpn", 0, 0, 0, "cpc", "0.75"},
    {"Search: car insurance quotes", "search-insurance", 0, 1, 1, "cpc", "1.35"},
    {"Social: fitness app video", "social-fitness", 1, 2, 2, "cpm", "2.80"},
    {"Social: insurance lead ads", "social-insurance", 1, 1, -1, "cpm", "9.00"},
    {"Social: meal kit carousel", "social-mealkit", 1, 3, -1, "cpc", "0.55"},
    {"Native: VPN advertorial", "native-vpn", 2, 0, 4, "cpc", "0.22"},
    {"Native: meal kit recipes", "native-mealkit", 2, 3, 3, "cpc", "0.18"},
    {"Affiliates: VPN coupons", "aff-vpn", 3, 0, -1, "cpa", "6.00"},
    {"Affiliates: fitness reviews", "aff-fitness", 3, 2, -1, "cpa", "1.50"},
    {"CTV: meal kit 30s spot", "ctv-mealkit", 4, 3, -1, "cpm", "24.00"},
    {"CTV: insurance 15s spot", "ctv-insurance", 4, 1, -1, "cpm", "18.00"},
};

typedef struct demo_ids_s {
    int64_t source[PM_ARRAY_LEN(demo_sources)], offer[PM_ARRAY_LEN(demo_offers)], lander[PM_ARRAY_LEN(demo_landers)];
} demo_ids_t;

static bool demo_entities(pm_api_t *api, pm_confhold_t *hold, const char *key, demo_ids_t *ids)
{
    char body[1024];
    bool ok = true;
    for (size_t i = 0; i < PM_ARRAY_LEN(demo_sources); i++) {
        snprintf(body, sizeof(body), "{\"name\":\"%s\",\"postback_url\":\"%s\"}", demo_sources[i][0], demo_sources[i][1]);
        ok &= (ids->source[i] = created_id(demo_call(api, hold, key, "POST", "/api/v1/traffic-sources", body))) != 0;
    }
    for (size_t i = 0; i < PM_ARRAY_LEN(demo_offers); i++) {
        snprintf(body, sizeof(body),
                 "{\"name\":\"%s\",\"url\":\"%s\",\"payout\":{\"type\":\"%s\",\"amount\":\"%s\",\"currency\":\"USD\"}}",
                 demo_offers[i].name, demo_offers[i].url, demo_offers[i].type, demo_offers[i].amount);
        ok &= (ids->offer[i] = created_id(demo_call(api, hold, key, "POST", "/api/v1/offers", body))) != 0;
    }
    for (size_t i = 0; i < PM_ARRAY_LEN(demo_landers); i++) {
        snprintf(body, sizeof(body), "{\"name\":\"%s\",\"url\":\"%s\"}", demo_landers[i][0], demo_landers[i][1]);
        ok &= (ids->lander[i] = created_id(demo_call(api, hold, key, "POST", "/api/v1/landers", body))) != 0;
    }
    return ok;
}

/* Create the workspace; print the "demo" campaign's URLs. */
static int demo_seed(pm_api_t *api, pm_confhold_t *hold, const char *key)
{
    demo_ids_t ids;
    char body[1024], lander[48];
    if (!demo_entities(api, hold, key, &ids)) return 1;
    for (size_t i = 0; i < PM_ARRAY_LEN(demo_campaigns); i++) {
        int l = demo_campaigns[i].lander;
        snprintf(lander, sizeof(lander), ",\"lander_id\":%lld", l >= 0 ? (long long)ids.lander[l] : 0LL);
        snprintf(body, sizeof(body),
                 "{\"name\":\"%s\",\"token\":\"%s\",\"traffic_source_id\":%lld,\"destination\":{\"offer_id\":%lld%s},"
                 "\"cost\":{\"model\":\"%s\",\"amount\":\"%s\",\"currency\":\"USD\"}}",
                 demo_campaigns[i].name, demo_campaigns[i].token, (long long)ids.source[demo_campaigns[i].source],
                 (long long)ids.offer[demo_campaigns[i].offer], l >= 0 ? lander : "", demo_campaigns[i].model,
                 demo_campaigns[i].amount);
        json_t *campaign = demo_call(api, hold, key, "POST", "/api/v1/campaigns", body);
        if (campaign == NULL) return 1;
        if (i == 0)
            printf("perfmark: demo workspace created: %zu traffic sources, %zu campaigns, %zu offers, %zu landers\n"
                   "  tracking URL:   %s?sub1=hello   (a click: 302 to the offer, the click id in its URL)\n"
                   "  impression URL: %s\n"
                   "  postback URL:   %s\n",
                   PM_ARRAY_LEN(demo_sources), PM_ARRAY_LEN(demo_campaigns), PM_ARRAY_LEN(demo_offers),
                   PM_ARRAY_LEN(demo_landers), json_string_value(json_object_get(campaign, "tracking_url")),
                   json_string_value(json_object_get(campaign, "impression_url")),
                   json_string_value(json_object_get(campaign, "postback_url")));
        json_decref(campaign);
    }
    return 0;
}

static void demo_progress(void *arg, pm_time_t reached, pm_time_t start, pm_time_t end)
{
    if (arg == NULL || end <= start) return;
    int pct = (int)((reached - start) * 100 / (end - start));
    fprintf(stderr, "\rperfmark demo: simulating traffic [%-25.*s] %3d%%", pct / 4, "#########################", pct);
    if (reached >= end) fputc('\n', stderr);
}

/* N days of traffic into the journal, stored by the server's first start. */
static int demo_simulate(const pm_server_config_t *sc, pm_sim_options_t *so, const char *base)
{
    char db[4096], journal[4096];
    pm_sim_result_t r;
    pm_server_db_path(sc->data_dir, db, sizeof(db));
    pm_server_journal_dir(sc->data_dir, journal, sizeof(journal));
    so->base_url = base;
    so->progress = demo_progress;
    so->progress_arg = isatty(STDERR_FILENO) ? so : NULL;
    int rc = pm_sim_workspace(db, journal, so, &r);
    if (rc != PM_OK) {
        fprintf(stderr, "perfmark demo: simulating traffic failed: %s\n", pm_strerror(rc));
        return 1;
    }
    const uint64_t *n = r.stats.events;
    printf("perfmark: simulated %d days of traffic in %.1f s: %llu impressions, %llu clicks, %llu conversions\n"
           "          (stored by the first start below: a few seconds; `perfmark simulate --help` for more)\n",
           so->days, r.seconds, (unsigned long long)n[PM_EV_IMPRESSION], (unsigned long long)n[PM_EV_CLICK],
           (unsigned long long)n[PM_EV_CONVERSION]);
    return 0;
}

static void demo_guide(const char *base, const char *key)
{
    printf("  dashboard:      %s/ui   (log in with the admin API key)\n"
           "  try a click:    curl -si '%s/c/demo?sub1=hello' | grep -i '^location'\n"
           "  then convert:   curl '%s/pb?clickid=CLICKID&payout=12.50&txid=T-1001'   (CLICKID from the location)\n"
           "  see events:     curl -H 'Authorization: Bearer %s' '%s/api/v1/events?type=conversion&limit=5'\n",
           base, base, base, key ? key : "KEY", base);
}

/* Seed and simulate the demo workspace unless the store already has keys. */
static int demo_prepare(const pm_server_config_t *sc, pm_sim_options_t *so)
{
    char db[4096], base[300];
    pm_store_t *store = NULL;
    pm_config_t *cfg = NULL;
    int rc = 1;
    bool fresh = false;
    if (mkdir(sc->data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "perfmark demo: cannot create %s: %s\n", sc->data_dir, strerror(errno));
        return 1;
    }
    pm_server_db_path(sc->data_dir, db, sizeof(db));
    snprintf(base, sizeof(base), "http://%s", sc->listen[0] == ':' ? "127.0.0.1" : sc->listen);
    if (sc->listen[0] == ':') strncat(base, sc->listen, sizeof(base) - strlen(base) - 1);
    if (pm_store_open(db, &store) != PM_OK || pm_config_load(store, base, &cfg) != PM_OK) goto out;
    pm_confhold_t *hold = pm_confhold_create(cfg);
    pm_api_t *api = pm_api_create(&(pm_api_config_t){.store = store, .confhold = hold});
    int64_t keys = 0;
    char *key = NULL;
    if (pm_store_key_count(store, &keys) == PM_OK && keys == 0 &&
        pm_store_key_create(store, "admin", "demo", &key) == PM_OK) {
        fresh = true;
        rc = demo_seed(api, hold, key);
        if (rc == 0) printf("  admin API key:  %s   (shown once, store it now)\n", key);
    } else {
        printf("perfmark: using the existing workspace in %s (its admin key was shown at its first start;"
               " `perfmark keys create --data %s` makes another)\n", sc->data_dir, sc->data_dir);
        rc = 0;
    }
    pm_api_destroy(api);
    pm_confhold_destroy(hold);
    pm_store_close(store);
    store = NULL;
    if (rc == 0 && fresh && so->days > 0) rc = demo_simulate(sc, so, base);
    if (rc == 0) demo_guide(base, key);
    fflush(stdout);
    pm_free(key);
out:
    pm_store_close(store);
    return rc;
}

static int demo_run(int argc, char **argv)
{
    demo_opts_t o = {0};
    int rc = parse_demo(argc, argv, &o);
    if (rc || o.serve.help) {
        fputs(demo_help, rc ? stderr : stdout);
        return rc;
    }
    if (demo_prepare(&o.serve.server, &o.sim) != 0) return 1;
    return pm_server_run(&o.serve.server) == PM_OK ? 0 : 1;
}

const pm_cli_verb_t pm_cli_demo = {"demo", "create a demo workspace with simulated traffic (once) and serve it",
                                   demo_run};

/* --- keys ------------------------------------------------------------------ */

static const char keys_help[] =
    "usage: perfmark keys create [--data DIR] [--role admin|viewer] [--name TEXT]\n"
    "       perfmark keys revoke ID [--data DIR]\n\n"
    "create: make an API key and print it alone on stdout (shown once; only its\n"
    "hash is stored).\n"
    "revoke: stop key ID from working (ids are listed by GET /api/v1/keys).\n"
    "Both work while the server runs.\n\n"
    "  --data DIR            the server's data directory (default " DEFAULT_DATA ")\n"
    "  --role admin|viewer   admin keys may change everything, viewer keys may only read\n"
    "                        (default admin)\n"
    "  --name TEXT           a label to recognise the key by in GET /api/v1/keys\n"
    "  -h, --help            this text\n";

static int keys_run(int argc, char **argv)
{
    static const struct option longs[] = {{"data", required_argument, NULL, 'd'},
                                          {"role", required_argument, NULL, 'r'},
                                          {"name", required_argument, NULL, 'n'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *data = DEFAULT_DATA, *role = "admin", *name = "";
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(keys_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    bool revoke = strcmp(argv[1], "revoke") == 0;
    if (!revoke && strcmp(argv[1], "create") != 0) {
        fprintf(stderr, "perfmark keys: unknown action \"%s\"\n\n%s", argv[1], keys_help);
        return 2;
    }
    optind = 1;
    for (int c; (c = getopt_long(argc - 1, argv + 1, "d:r:n:h", longs, NULL)) != -1;) {
        if (c == 'd') data = optarg;
        else if (c == 'r') role = optarg;
        else if (c == 'n') name = optarg;
        else {
            fputs(keys_help, c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (strcmp(role, "admin") != 0 && strcmp(role, "viewer") != 0) {
        fprintf(stderr, "perfmark keys: --role must be admin or viewer\n");
        return 2;
    }
    if (!revoke && optind + 1 != argc) {
        fprintf(stderr, "perfmark keys create: unexpected argument \"%s\"\n", argv[optind + 1]);
        return 2;
    }
    char *end = NULL;
    long long id = revoke && optind + 1 < argc ? strtoll(argv[optind + 1], &end, 10) : 0;
    if (revoke && (id <= 0 || *end != '\0' || optind + 2 != argc)) {
        fprintf(stderr, "perfmark keys revoke: give one key id\n");
        return 2;
    }
    char db[4096];
    pm_server_db_path(data, db, sizeof(db));
    struct stat st;
    if (stat(data, &st) != 0 && mkdir(data, 0700) != 0) {
        fprintf(stderr, "perfmark keys: cannot create %s: %s\n", data, strerror(errno));
        return 1;
    }
    pm_store_t *store = NULL;
    char *key = NULL;
    int rc = pm_store_open(db, &store) == PM_OK ? 0 : 1;
    if (rc == 0 && revoke) {
        int r = pm_store_key_revoke(store, id);
        if (r == PM_ENOTFOUND) fprintf(stderr, "perfmark keys: no usable key with id %lld\n", id);
        rc = r == PM_OK ? 0 : 1;
    } else if (rc == 0) {
        rc = pm_store_key_create(store, role, name, &key) == PM_OK ? 0 : 1;
        if (rc == 0) printf("%s\n", key);
    }
    pm_free(key);
    pm_store_close(store);
    return rc;
}

const pm_cli_verb_t pm_cli_keys = {"keys", "create or revoke API keys", keys_run};

/* --- version --------------------------------------------------------------- */

static int version_run(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: perfmark version\n\nPrint perfmark's version.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: perfmark version\n");
        return 2;
    }
    printf("perfmark 0.1.0\n");
    return 0;
}

const pm_cli_verb_t pm_cli_version = {"version", "print the version", version_run};

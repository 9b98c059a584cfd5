/*
 * verbs.c: serve, demo, keys and version (see pm/cli.h).
 */
#include "pm/api.h"
#include "pm/cli.h"
#include "pm/server.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_DATA "./data"

/* --- serve ----------------------------------------------------------------- */

static const char serve_help[] =
    "usage: perfmark serve [--listen HOST:PORT] [--data DIR] [--threads N] [--sync-ms MS]\n\n"
    "Run the tracker: click, impression, postback and pixel endpoints, the admin API\n"
    "(/api/v1), /metrics and /healthz, all on one port.\n\n"
    "  --listen HOST:PORT  address to listen on (default " DEFAULT_LISTEN "; [::1]:8080 for IPv6)\n"
    "  --data DIR          data directory: store (perfmark.db) and journal (default " DEFAULT_DATA ")\n"
    "  --threads N         event loops, one per core by default\n"
    "  --sync-ms MS        journal group-commit period in milliseconds (default 10);\n"
    "                      conversions are always answered after the fsync that covers them\n"
    "  -h, --help          this text\n\n"
    "On the first start of a data directory an admin API key is printed once on stdout.\n";

typedef struct serve_opts_s {
    pm_server_config_t server;
    bool help;
} serve_opts_t;

static int parse_serve(int argc, char **argv, serve_opts_t *o)
{
    static const struct option longs[] = {{"listen", required_argument, NULL, 'l'},
                                          {"data", required_argument, NULL, 'd'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"sync-ms", required_argument, NULL, 's'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    o->server.listen = DEFAULT_LISTEN;
    o->server.data_dir = DEFAULT_DATA;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "l:d:t:s:h", longs, NULL)) != -1;) {
        char *end;
        long v;
        switch (c) {
        case 'l': o->server.listen = optarg; break;
        case 'd': o->server.data_dir = optarg; break;
        case 't':
        case 's':
            v = strtol(optarg, &end, 10);
            if (*end || v < (c == 't' ? 1 : 1) || v > (c == 't' ? 64 : 1000)) {
                fprintf(stderr, "perfmark serve: --%s: bad value \"%s\"\n", c == 't' ? "threads" : "sync-ms", optarg);
                return 2;
            }
            if (c == 't') o->server.threads = (unsigned)v;
            else o->server.sync_interval_us = v * 1000;
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
    "usage: perfmark demo [--listen HOST:PORT] [--data DIR] [--threads N]\n\n"
    "Create a demo workspace in DIR (a traffic source, an offer, a lander and a\n"
    "campaign with the token \"demo\") unless it already has one, print its\n"
    "URLs and an admin API key, then serve it like `perfmark serve`.\n";

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

static int demo_seed(pm_store_t *store, pm_api_t *api, pm_confhold_t *hold, const char *key)
{
    char body[1024];
    int64_t src = created_id(demo_call(api, hold, key, "POST", "/api/v1/traffic-sources",
                                       "{\"name\":\"Demo search\",\"postback_url\":"
                                       "\"https://ads.example.com/conversion?click={external_id}&payout={payout}\"}"));
    int64_t offer = created_id(demo_call(api, hold, key, "POST", "/api/v1/offers",
                                         "{\"name\":\"Demo offer\",\"url\":\"https://offer.example.com/"
                                         "?clickid={clickid}&s1={sub1}\",\"payout\":{\"type\":\"cpa\","
                                         "\"amount\":\"12.50\",\"currency\":\"USD\"}}"));
    int64_t lander = created_id(demo_call(api, hold, key, "POST", "/api/v1/landers",
                                          "{\"name\":\"Demo lander\",\"url\":"
                                          "\"https://lander.example.com/?go={offer_url}\"}"));
    if (!src || !offer || !lander) return 1;
    snprintf(body, sizeof(body),
             "{\"name\":\"Demo campaign\",\"token\":\"demo\",\"traffic_source_id\":%lld,"
             "\"destination\":{\"offer_id\":%lld},\"cost\":{\"model\":\"cpc\",\"amount\":\"0.40\","
             "\"currency\":\"USD\"}}",
             (long long)src, (long long)offer);
    json_t *campaign = demo_call(api, hold, key, "POST", "/api/v1/campaigns", body);
    if (campaign == NULL) return 1;
    printf("perfmark: demo workspace created\n  tracking URL:   %s\n  impression URL: %s\n  postback URL:   %s\n",
           json_string_value(json_object_get(campaign, "tracking_url")),
           json_string_value(json_object_get(campaign, "impression_url")),
           json_string_value(json_object_get(campaign, "postback_url")));
    json_decref(campaign);
    return 0;
}

/* Seed the demo workspace unless the store already has campaigns. */
static int demo_prepare(const pm_server_config_t *sc)
{
    char db[4096], base[300];
    pm_store_t *store = NULL;
    pm_config_t *cfg = NULL;
    int rc = 1;
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
        rc = demo_seed(store, api, hold, key);
        if (rc == 0) printf("  admin API key:  %s   (shown once, store it now)\n", key);
    } else {
        printf("perfmark: using the existing workspace in %s (its admin key was shown at its first start;"
               " `perfmark keys create --data %s` makes another)\n", sc->data_dir, sc->data_dir);
        rc = 0;
    }
    fflush(stdout);
    pm_free(key);
    pm_api_destroy(api);
    pm_confhold_destroy(hold);
out:
    pm_store_close(store);
    return rc;
}

static int demo_run(int argc, char **argv)
{
    serve_opts_t o = {0};
    int rc = parse_serve(argc, argv, &o);
    if (rc || o.help) {
        fputs(demo_help, rc ? stderr : stdout);
        return rc;
    }
    if (demo_prepare(&o.server) != 0) return 1;
    return pm_server_run(&o.server) == PM_OK ? 0 : 1;
}

const pm_cli_verb_t pm_cli_demo = {"demo", "create a demo workspace (once) and serve it", demo_run};

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

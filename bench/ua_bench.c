/*
 * ua_bench.c: cost of the visitor detectors (src/route) on real user
 * agents: uap-core's own test_ua.yaml fixtures (~1,400 distinct strings).
 * Prints ns per parse cold (no cache: the ~1,200 regexes of regexes.yaml),
 * cold with the crawler list (the bot filter's tagger), warm (every UA in
 * the LRU cache), and ns per geo lookup in the built-in database.
 *
 *   build/bench_ua [/usr/share/uap-core/tests/test_ua.yaml]   (bench/ua.sh)
 */
#include "pm/bot.h"
#include "pm/geo.h"
#include "pm/ua.h"
#include "route/yaml.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct uas_s {
    char **v;
    size_t n, cap;
} uas_t;

static int keep(void *arg, const pm__yaml_item_t *it)
{
    uas_t *u = arg;
    const char *s = pm__yaml_get(it, "user_agent_string");
    if (s == NULL) return PM_OK;
    if (u->n == u->cap) u->v = pm_realloc(u->v, (u->cap = u->cap ? 2 * u->cap : 1024) * sizeof(char *));
    u->v[u->n++] = pm_strdup(s);
    return PM_OK;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per parse over `rounds` passes of all user agents. */
static double run(pm_ua_parser_t *p, const uas_t *u, int rounds)
{
    volatile unsigned sink = 0;
    double t0 = now_ns();
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < u->n; i++)
            sink += (unsigned)pm_ua_parse(p, u->v[i], strlen(u->v[i]))->type;
    (void)sink;
    return (now_ns() - t0) / ((double)rounds * (double)u->n);
}

static double geo_ns(const pm_geo_t *g)
{
    enum { N = 1000000 };
    volatile unsigned sink = 0;
    pm_ip_t ip = {.v4 = true};
    ip.b[10] = ip.b[11] = 0xff;
    double t0 = now_ns();
    for (uint32_t i = 0; i < N; i++) {
        uint32_t a = i * 2654435761u; /* spread over the space */
        memcpy(ip.b + 12, &a, 4);
        pm_geo_result_t r;
        sink += pm_geo_lookup(g, &ip, &r);
    }
    (void)sink;
    return (now_ns() - t0) / N;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/usr/share/uap-core/tests/test_ua.yaml";
    uas_t u = {0};
    pm_ua_db_t *db;
    pm_bot_t *bot;
    pm_geo_t *geo;
    pm_bot_config_t bc = {.velocity_limit = 0};
    double t0 = now_ns();
    if (pm_ua_db_load_default(&db) != PM_OK || pm_bot_create(&bc, &bot) != PM_OK || pm_geo_open(NULL, &geo) != PM_OK)
        return 1;
    double load_ms = (now_ns() - t0) / 1e6;
    if (pm__yaml_each_file(path, keep, &u) != PM_OK || u.n == 0) {
        fprintf(stderr, "bench_ua: cannot read user agents from %s\n", path);
        return 1;
    }
    pm_ua_parser_t *cold = pm_ua_parser_create(db, 0), *tagged = pm_ua_parser_create(db, 0);
    pm_ua_parser_t *warm = pm_ua_parser_create(db, 4096);
    pm_ua_parser_set_tagger(tagged, pm_bot_ua_tagger, bot);
    pm_ua_parser_set_tagger(warm, pm_bot_ua_tagger, bot);
    printf("load (uap-core regexes, crawler list, geo db): %.0f ms\n", load_ms);
    printf("user agents: %zu (%s)\n", u.n, path);
    printf("ua parse, cold (no cache):              %8.0f ns\n", run(cold, &u, 2));
    printf("ua parse + crawler list, cold:          %8.0f ns\n", run(tagged, &u, 2));
    run(warm, &u, 1);
    printf("ua parse + crawler list, warm (cached): %8.0f ns\n", run(warm, &u, 200));
    printf("geo lookup (built-in DB-IP country):    %8.0f ns\n", geo_ns(geo));
    for (size_t i = 0; i < u.n; i++)
        pm_free(u.v[i]);
    pm_free(u.v);
    pm_ua_parser_destroy(cold);
    pm_ua_parser_destroy(tagged);
    pm_ua_parser_destroy(warm);
    pm_ua_db_destroy(db);
    pm_bot_destroy(bot);
    pm_geo_close(geo);
    return 0;
}

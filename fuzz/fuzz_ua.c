/*
 * fuzz_ua.c: the user-agent parser (pm/ua.h) with the built-in uap-core
 * regexes and the bot filter's crawler tagger, on arbitrary bytes. Checks
 * that every result is NUL-terminated with a family ("Other" at worst) and
 * a known device type, and that the cached answer for the same bytes is
 * the uncached one. The cache is tiny so eviction runs all the time.
 */
#include "pm/bot.h"
#include "pm/ua.h"

#include <stdlib.h>
#include <string.h>

static pm_ua_db_t *db;
static pm_bot_t *bot;
static pm_ua_parser_t *cached, *fresh;

static void init(void)
{
    pm_bot_config_t cfg = {.velocity_limit = 0};
    if (pm_ua_db_load_default(&db) != PM_OK || pm_bot_create(&cfg, &bot) != PM_OK) abort();
    cached = pm_ua_parser_create(db, 4);
    fresh = pm_ua_parser_create(db, 0);
    pm_ua_parser_set_tagger(cached, pm_bot_ua_tagger, bot);
    pm_ua_parser_set_tagger(fresh, pm_bot_ua_tagger, bot);
}

static void check_str(const char *s, size_t cap, bool nonempty)
{
    size_t n = strnlen(s, cap);
    if (n == cap || (nonempty && n == 0)) abort();
}

static void check(const pm_ua_t *r)
{
    check_str(r->browser, sizeof(r->browser), true);
    check_str(r->os, sizeof(r->os), true);
    check_str(r->device, sizeof(r->device), true);
    check_str(r->brand, sizeof(r->brand), false);
    check_str(r->model, sizeof(r->model), false);
    for (int i = 0; i < 3; i++)
        check_str(r->browser_v[i], PM_UA_VER_MAX, false);
    for (int i = 0; i < 4; i++)
        check_str(r->os_v[i], PM_UA_VER_MAX, false);
    if (r->type > PM_UA_BOT || r->tags > PM_BOT_TAG_CRAWLER) abort();
    char v[2 * PM_UA_VER_MAX];
    if (pm_ua_version(r->os_v, v) >= sizeof(v)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (db == NULL) init();
    const char *s = (const char *)data;
    pm_ua_t a = *pm_ua_parse(cached, s, size);
    const pm_ua_t *b = pm_ua_parse(fresh, s, size);
    check(&a);
    if (memcmp(&a, b, sizeof(a)) != 0) abort();
    const pm_ua_t *again = pm_ua_parse(cached, s, size); /* a hit */
    if (memcmp(&a, again, sizeof(a)) != 0) abort();
    return 0;
}

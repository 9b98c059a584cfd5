/*
 * test_route_bot.c: the bot filter (pm/bot.h) and CIDR lists (pm/iplist.h):
 * every example user agent of the crawler-user-agents list is flagged,
 * common browsers are not, reason precedence, data-center ranges, the
 * velocity window and its bounded table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pm/bot.h"
#include "route/route_data.h"

static pm_ua_db_t *db;

static int setup(void **state)
{
    (void)state;
    return pm_ua_db_load_default(&db) == PM_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pm_ua_db_destroy(db);
    return 0;
}

static pm_ip_t ip_of(const char *s)
{
    pm_ip_t ip;
    assert_int_equal(pm_ip_parse(s, strlen(s), &ip), PM_OK);
    return ip;
}

static pm_iplist_t *list_of(const char *text)
{
    pm_iplist_t *l = NULL;
    size_t bad;
    assert_int_equal(pm_iplist_parse(text, strlen(text), &l, &bad), PM_OK);
    return l;
}

static void test_iplist(void **state)
{
    (void)state;
    pm_iplist_t *l = list_of("# data centers\n192.0.2.0/24\n  198.51.100.7 # one host\n\n"
                             "2001:db8::/32, 10.0.0.0/8\r\n10.1.0.0/16\n203.0.113.0/25\n203.0.113.128/25\n");
    assert_int_equal(pm_iplist_count(l), 5); /* 10.1/16 merges into 10/8, the two /25s into one */
    const char *in[] = {"192.0.2.0",      "192.0.2.255",   "198.51.100.7",    "2001:db8::1", "2001:db8:ffff:ffff::",
                        "10.255.255.255", "203.0.113.200", "::ffff:192.0.2.9"};
    const char *out[] = {"192.0.3.0", "192.0.1.255", "198.51.100.8", "2001:db9::", "11.0.0.0", "::1", "::"};
    for (size_t i = 0; i < PM_ARRAY_LEN(in); i++) {
        pm_ip_t ip = ip_of(in[i]);
        assert_true(pm_iplist_contains(l, &ip));
    }
    for (size_t i = 0; i < PM_ARRAY_LEN(out); i++) {
        pm_ip_t ip = ip_of(out[i]);
        assert_false(pm_iplist_contains(l, &ip));
    }
    pm_iplist_destroy(l);
    l = list_of("::/0");
    pm_ip_t any = ip_of("8.8.8.8");
    assert_true(pm_iplist_contains(l, &any));
    pm_iplist_destroy(l);
    l = list_of("");
    assert_false(pm_iplist_contains(l, &any));
    pm_iplist_destroy(l);
    size_t bad = 0;
    assert_int_equal(pm_iplist_parse("10.0.0.0/8\n\n10.0.0.0/33\n", 26, &l, &bad), PM_EINVAL);
    assert_null(l);
    assert_int_equal(bad, 3);
    assert_int_equal(pm_iplist_load("/nonexistent/list", &l), PM_ENOTFOUND);
}

/* Each "instances" example of the list is flagged ua_crawler. */
static void test_crawler_instances(void **state)
{
    (void)state;
    pm_bot_config_t cfg = {.velocity_limit = 0};
    pm_bot_t *b;
    assert_int_equal(pm_bot_create(&cfg, &b), PM_OK);
    json_t *list = json_loadb((const char *)pm__crawlers_json_start,
                              (size_t)(pm__crawlers_json_end - pm__crawlers_json_start), 0, NULL);
    assert_true(json_is_array(list));
    printf("crawler-user-agents: %zu of %zu patterns compiled\n", pm_bot_crawler_patterns(b), json_array_size(list));
    assert_true(pm_bot_crawler_patterns(b) >= json_array_size(list) - 5);
    size_t i, total = 0, flagged = 0;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        size_t j;
        json_t *inst;
        json_array_foreach(json_object_get(e, "instances"), j, inst)
        {
            const char *ua = json_string_value(inst);
            total++;
            bool hit = pm_bot_ua_tagger(b, ua, strlen(ua)) == PM_BOT_TAG_CRAWLER;
            flagged += hit;
            if (!hit) printf("  not flagged: %s\n", ua);
        }
    }
    printf("crawler-user-agents: %zu of %zu example user agents flagged\n", flagged, total);
    assert_true(total > 1000);
    assert_int_equal(flagged, total); /* measured: all of them */
    json_decref(list);
    const char *humans[] = {
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0"
        " Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        " Version/17.2 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43"
        " Mobile Safari/537.36",
    };
    for (i = 0; i < PM_ARRAY_LEN(humans); i++)
        assert_int_equal(pm_bot_ua_tagger(b, humans[i], strlen(humans[i])), 0);
    pm_bot_destroy(b);
}

static const pm_ua_t *parse(pm_ua_parser_t *p, const char *ua)
{
    return pm_ua_parse(p, ua, strlen(ua));
}

static void test_reasons(void **state)
{
    (void)state;
    char path[] = "/tmp/pm-dc-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "192.0.2.0/24\n", 13), 13);
    close(fd);
    pm_bot_config_t cfg = {.datacenter_file = path, .velocity_limit = 3};
    pm_bot_t *b;
    assert_int_equal(pm_bot_create(&cfg, &b), PM_OK);
    unlink(path);
    pm_ua_parser_t *p = pm_ua_parser_create(db, 8);
    pm_ua_parser_set_tagger(p, pm_bot_ua_tagger, b);
    const char *chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
                         " Chrome/120.0.0.0 Safari/537.36";
    pm_ip_t home = ip_of("198.51.100.1"), dc = ip_of("192.0.2.77");
    pm_time_t t = (pm_time_t)1700000000 * 1000000;
    t -= t % 60000000; /* the start of a minute */
    assert_null(pm_bot_check(b, &home, true, parse(p, chrome), false, t));
    assert_string_equal(pm_bot_check(b, &home, false, parse(p, ""), false, t), "empty_ua");
    assert_string_equal(pm_bot_check(b, &home, true, parse(p, "Mozilla/5.0 (compatible; bingbot/2.0)"), false, t),
                        "ua_crawler");
    /* uap-core's Spider without a crawler-list match (the crawler list
     * covers uap-core's examples, so the parse is made by hand) */
    const pm_ua_t *r = parse(p, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
    assert_int_equal(r->type, PM_UA_BOT);
    assert_int_equal(r->tags, PM_BOT_TAG_CRAWLER);
    pm_ua_t spider = *r;
    spider.tags = 0;
    assert_string_equal(pm_bot_check(b, &home, true, &spider, false, t), "ua_spider");
    assert_string_equal(pm_bot_check(b, &dc, true, parse(p, chrome), false, t), "datacenter_ip");
    /* velocity: clicks 1..3 pass, the 4th in the same minute is flagged,
     * impressions are not counted, the next minute starts afresh */
    pm_ip_t fast = ip_of("2001:db8::5");
    for (int i = 0; i < 3; i++)
        assert_null(pm_bot_check(b, &fast, true, parse(p, chrome), true, t + i));
    assert_null(pm_bot_check(b, &fast, true, parse(p, chrome), false, t + 10));
    assert_string_equal(pm_bot_check(b, &fast, true, parse(p, chrome), true, t + 20), "velocity");
    assert_null(pm_bot_check(b, &fast, true, parse(p, chrome), true, t + 60000000));
    pm_ua_parser_destroy(p);
    pm_bot_destroy(b);
}

/* A table of 64 sets x 8 ways under 100k distinct addresses stays bounded
 * and still catches one address that floods. */
static void test_velocity_bounded(void **state)
{
    (void)state;
    pm_bot_config_t cfg = {.velocity_limit = 50, .velocity_slots = 512};
    pm_bot_t *b;
    assert_int_equal(pm_bot_create(&cfg, &b), PM_OK);
    pm_ua_t human = {.type = PM_UA_DESKTOP};
    pm_ip_t flood = ip_of("203.0.113.9");
    pm_time_t t = (pm_time_t)1700000040 * 1000000;
    int flagged = 0;
    for (int i = 0; i < 100000; i++) {
        pm_ip_t ip = ip_of("10.0.0.0");
        ip.b[13] = (uint8_t)(i >> 16);
        ip.b[14] = (uint8_t)(i >> 8);
        ip.b[15] = (uint8_t)i;
        assert_null(pm_bot_check(b, &ip, true, &human, true, t));
        if (i % 100 == 0) flagged += pm_bot_check(b, &flood, true, &human, true, t) != NULL;
    }
    assert_true(flagged > 900); /* 1000 clicks, limit 50 */
    pm_bot_destroy(b);
}

static void test_datacenter_text(void **state)
{
    (void)state;
    pm_bot_config_t cfg = {.datacenter_text = "3.88.0.0/16\n2001:db8::/32\n", .velocity_limit = 0};
    pm_bot_t *b;
    assert_int_equal(pm_bot_create(&cfg, &b), PM_OK);
    pm_ua_t human = {.type = PM_UA_DESKTOP};
    pm_ip_t in = ip_of("3.88.1.2"), out = ip_of("3.89.0.1");
    assert_string_equal(pm_bot_check(b, &in, true, &human, true, 0), "datacenter_ip");
    assert_null(pm_bot_check(b, &out, true, &human, true, 0));
    pm_bot_destroy(b);
    cfg.datacenter_text = "3.88.0.0/16\nnope\n";
    b = (pm_bot_t *)1;
    assert_int_equal(pm_bot_create(&cfg, &b), PM_EINVAL);
    assert_null(b);
}

static void test_bad_datacenter_file(void **state)
{
    (void)state;
    char path[] = "/tmp/pm-dc-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "192.0.2.0/24\nnot-an-ip\n", 23), 23);
    close(fd);
    pm_bot_config_t cfg = {.datacenter_file = path};
    pm_bot_t *b = (pm_bot_t *)1;
    assert_int_equal(pm_bot_create(&cfg, &b), PM_EINVAL);
    assert_null(b);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iplist),
        cmocka_unit_test(test_crawler_instances),
        cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_velocity_bounded),
        cmocka_unit_test(test_bad_datacenter_file),
        cmocka_unit_test(test_datacenter_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

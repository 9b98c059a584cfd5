/*
 * test_core_ip.c: address parsing and formatting, truncation, CIDR matching
 * and the X-Forwarded-For walk (pm/ip.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "pm/ip.h"

static pm_ip_t ip_of(const char *s)
{
    pm_ip_t ip;
    assert_int_equal(pm_ip_parse(s, strlen(s), &ip), PM_OK);
    return ip;
}

static pm_cidr_t cidr_of(const char *s)
{
    pm_cidr_t c;
    assert_int_equal(pm_cidr_parse(s, strlen(s), &c), PM_OK);
    return c;
}

static void expect_format(const pm_ip_t *ip, const char *want)
{
    char out[PM_IP_STR_MAX];
    assert_int_equal(pm_ip_format(ip, out), strlen(want));
    assert_string_equal(out, want);
}

static void test_parse_v4(void **state)
{
    pm_ip_t ip = ip_of("192.0.2.33");
    static const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 33};
    assert_true(ip.v4);
    assert_memory_equal(ip.b, want, 16);
    expect_format(&ip, "192.0.2.33");
    ip = ip_of("::ffff:192.0.2.33");
    assert_true(ip.v4);
    assert_memory_equal(ip.b, want, 16);
    expect_format(&ip, "192.0.2.33");
    ip = ip_of("0.0.0.0");
    expect_format(&ip, "0.0.0.0");
}

static void test_parse_v6(void **state)
{
    pm_ip_t ip = ip_of("2001:DB8::1");
    assert_false(ip.v4);
    expect_format(&ip, "2001:db8::1");
    ip = ip_of("::1");
    assert_false(ip.v4);
    expect_format(&ip, "::1");
    ip = ip_of("::");
    assert_false(ip.v4);
    ip = ip_of("::ffff:0:1"); /* the mapped prefix in hex groups: 0.0.0.1 */
    assert_true(ip.v4);
    ip = ip_of("64:ff9b::1.2.3.4"); /* NAT64: v6, not v4 */
    assert_false(ip.v4);
}

static void test_parse_rejects(void **state)
{
    const char *bad[] = {
        "",         "1.2.3",      "1.2.3.4.5",    "256.1.1.1", "01.2.3.4",   " 1.2.3.4",
        "1.2.3.4 ", "1.2.3.4/24", "[::1]",        "1.2.3.4:80", "fe80::1%eth0", ":::",
        "1::2::3",  "abc",        "0x7f.0.0.1",   "1.2.3.-4",  "12345::",    "::ffff:1.2.3.256",
        "1111:2222:3333:4444:5555:6666:7777:8888:9999",
    };
    pm_ip_t ip;
    for (size_t i = 0; i < PM_ARRAY_LEN(bad); i++)
        assert_int_equal(pm_ip_parse(bad[i], strlen(bad[i]), &ip), PM_EINVAL);
    assert_int_equal(pm_ip_parse("1.2.3.4\0", 8, &ip), PM_EINVAL);
    char longs[200];
    memset(longs, '1', sizeof(longs));
    assert_int_equal(pm_ip_parse(longs, sizeof(longs), &ip), PM_EINVAL);
    /* Only `len` bytes are read. */
    assert_int_equal(pm_ip_parse("1.2.3.4junk", 7, &ip), PM_OK);
}

static void test_from_sockaddr(void **state)
{
    struct sockaddr_in sin = {0};
    struct sockaddr_in6 sin6 = {0};
    pm_ip_t ip;
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, "203.0.113.7", &sin.sin_addr);
    assert_int_equal(pm_ip_from_sockaddr((struct sockaddr *)&sin, &ip), PM_OK);
    expect_format(&ip, "203.0.113.7");
    assert_true(ip.v4);
    sin6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr);
    assert_int_equal(pm_ip_from_sockaddr((struct sockaddr *)&sin6, &ip), PM_OK);
    expect_format(&ip, "2001:db8::5");
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &sin6.sin6_addr); /* dual-stack socket */
    assert_int_equal(pm_ip_from_sockaddr((struct sockaddr *)&sin6, &ip), PM_OK);
    assert_true(ip.v4);
    expect_format(&ip, "10.1.2.3");
    struct sockaddr other = {0};
    other.sa_family = AF_UNIX;
    assert_int_equal(pm_ip_from_sockaddr(&other, &ip), PM_EINVAL);
}

static void test_truncate(void **state)
{
    pm_ip_t ip = ip_of("192.0.2.33");
    pm_ip_truncate(&ip, 24, 48);
    expect_format(&ip, "192.0.2.0");
    assert_true(ip.v4);
    ip = ip_of("2001:db8:abcd:1234:5678::1");
    pm_ip_truncate(&ip, 24, 48);
    expect_format(&ip, "2001:db8:abcd::");
    ip = ip_of("192.0.2.255");
    pm_ip_truncate(&ip, 20, 48);
    expect_format(&ip, "192.0.0.0");
    ip = ip_of("192.0.2.255");
    pm_ip_truncate(&ip, 0, 0);
    expect_format(&ip, "0.0.0.0"); /* still v4: the mapped prefix is kept */
    ip = ip_of("192.0.2.255");
    pm_ip_truncate(&ip, 99, -5);
    expect_format(&ip, "192.0.2.255");
    ip = ip_of("2001:db8::ff");
    pm_ip_truncate(&ip, 24, 999);
    expect_format(&ip, "2001:db8::ff");
    ip = ip_of("2001:db8:ffff::");
    pm_ip_truncate(&ip, 24, 41);
    expect_format(&ip, "2001:db8:ff80::");
}

static void test_cidr_parse(void **state)
{
    pm_cidr_t c = cidr_of("10.0.0.0/8");
    assert_int_equal(c.prefix, 104);
    assert_true(c.net.v4);
    c = cidr_of("10.1.2.3/24"); /* host bits are masked */
    expect_format(&c.net, "10.1.2.0");
    assert_int_equal(c.prefix, 120);
    c = cidr_of("::1");
    assert_int_equal(c.prefix, 128);
    c = cidr_of("1.2.3.4");
    assert_int_equal(c.prefix, 128);
    c = cidr_of("2001:db8::/32");
    assert_int_equal(c.prefix, 32);
    c = cidr_of("::ffff:10.0.0.0/104");
    assert_int_equal(c.prefix, 104);
    c = cidr_of("0.0.0.0/0");
    assert_int_equal(c.prefix, 96);
    assert_true(c.net.v4);
    c = cidr_of("::ffff:1.2.3.4/8"); /* masks to a v6 network: no longer v4 */
    assert_false(c.net.v4);
    expect_format(&c.net, "::");
    const char *bad[] = {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "/8",
                         "10.0.0.0/8/8", "10.0.0.0/ 8", "10.0.0.0/0008", "10.0.0/8", "x/8"};
    for (size_t i = 0; i < PM_ARRAY_LEN(bad); i++)
        assert_int_equal(pm_cidr_parse(bad[i], strlen(bad[i]), &c), PM_EINVAL);
}

static void test_cidr_match(void **state)
{
    pm_cidr_t c = cidr_of("10.0.0.0/8");
    pm_ip_t in = ip_of("10.255.1.2"), out = ip_of("11.0.0.1"), v6 = ip_of("2001:db8::1");
    assert_true(pm_cidr_match(&c, &in));
    assert_false(pm_cidr_match(&c, &out));
    assert_false(pm_cidr_match(&c, &v6));
    c = cidr_of("192.168.1.128/25");
    pm_ip_t a = ip_of("192.168.1.200"), b = ip_of("192.168.1.127");
    assert_true(pm_cidr_match(&c, &a));
    assert_false(pm_cidr_match(&c, &b));
    c = cidr_of("0.0.0.0/0"); /* every v4, no v6 */
    assert_true(pm_cidr_match(&c, &out));
    assert_false(pm_cidr_match(&c, &v6));
    c = cidr_of("::/0"); /* everything */
    assert_true(pm_cidr_match(&c, &out));
    assert_true(pm_cidr_match(&c, &v6));
    c = cidr_of("2001:db8::/33");
    pm_ip_t d = ip_of("2001:db8:7fff::1"), e = ip_of("2001:db8:8000::1");
    assert_true(pm_cidr_match(&c, &d));
    assert_false(pm_cidr_match(&c, &e));
    c = cidr_of("::1");
    pm_ip_t lo = ip_of("::1"), lo2 = ip_of("::2");
    assert_true(pm_cidr_match(&c, &lo));
    assert_false(pm_cidr_match(&c, &lo2));
}

/* The trusted proxies of these tests: loopback and a private range. */
static pm_cidr_t trusted[3];

static int setup_trusted(void **state)
{
    trusted[0] = cidr_of("127.0.0.0/8");
    trusted[1] = cidr_of("::1");
    trusted[2] = cidr_of("10.0.0.0/8");
    return 0;
}

static void expect_client(const char *peer, const char *xff, const char *xrip, const char *want)
{
    pm_ip_t p = ip_of(peer);
    pm_ip_t got = pm_ip_client(&p, xff, xff ? strlen(xff) : 0, xrip, xrip ? strlen(xrip) : 0, trusted,
                               PM_ARRAY_LEN(trusted));
    expect_format(&got, want);
}

static void test_client_untrusted_peer_ignores_headers(void **state)
{
    expect_client("203.0.113.9", "1.1.1.1", "2.2.2.2", "203.0.113.9");
    expect_client("203.0.113.9", NULL, NULL, "203.0.113.9");
}

static void test_client_walks_from_the_right(void **state)
{
    expect_client("127.0.0.1", "1.1.1.1", NULL, "1.1.1.1");
    /* The leftmost entry is whatever the client claimed: not believed. */
    expect_client("127.0.0.1", "6.6.6.6, 1.1.1.1", NULL, "1.1.1.1");
    expect_client("127.0.0.1", "6.6.6.6, 1.1.1.1, 10.0.0.2,10.0.0.3", NULL, "1.1.1.1");
    expect_client("::1", "2001:db8::7, ::1", NULL, "2001:db8::7");
    expect_client("127.0.0.1", "  1.1.1.1  ,\t10.0.0.2\t", NULL, "1.1.1.1");
}

static void test_client_all_trusted_takes_leftmost(void **state)
{
    expect_client("127.0.0.1", "10.0.0.1, 10.0.0.2", NULL, "10.0.0.1");
}

static void test_client_garbage_ends_walk(void **state)
{
    expect_client("127.0.0.1", "1.1.1.1, unknown, 10.0.0.2", NULL, "10.0.0.2");
    expect_client("127.0.0.1", "1.1.1.1,, 10.0.0.2", NULL, "10.0.0.2");
    /* Nothing usable in XFF: X-Real-IP, then the peer. */
    expect_client("127.0.0.1", "garbage", "5.5.5.5", "5.5.5.5");
    expect_client("127.0.0.1", "1.1.1.1, garbage", "5.5.5.5", "5.5.5.5");
    expect_client("127.0.0.1", "", "5.5.5.5", "5.5.5.5");
    expect_client("127.0.0.1", NULL, "5.5.5.5", "5.5.5.5");
    expect_client("127.0.0.1", NULL, "nonsense", "127.0.0.1");
    expect_client("127.0.0.1", ",", NULL, "127.0.0.1");
}

static void test_client_ports_and_brackets(void **state)
{
    expect_client("127.0.0.1", "1.1.1.1:4711", NULL, "1.1.1.1");
    expect_client("127.0.0.1", "[2001:db8::9]:443", NULL, "2001:db8::9");
    expect_client("127.0.0.1", "[2001:db8::9]", NULL, "2001:db8::9");
    expect_client("127.0.0.1", "[2001:db8::9]x", "5.5.5.5", "5.5.5.5");
    expect_client("127.0.0.1", "[2001:db8::9", "5.5.5.5", "5.5.5.5");
    expect_client("127.0.0.1", "::ffff:1.1.1.1", NULL, "1.1.1.1");
}

static void test_client_no_trusted_list(void **state)
{
    pm_ip_t p = ip_of("127.0.0.1");
    pm_ip_t got = pm_ip_client(&p, "1.1.1.1", 7, NULL, 0, NULL, 0);
    expect_format(&got, "127.0.0.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_v4),
        cmocka_unit_test(test_parse_v6),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_from_sockaddr),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_match),
        cmocka_unit_test_setup(test_client_untrusted_peer_ignores_headers, setup_trusted),
        cmocka_unit_test_setup(test_client_walks_from_the_right, setup_trusted),
        cmocka_unit_test_setup(test_client_all_trusted_takes_leftmost, setup_trusted),
        cmocka_unit_test_setup(test_client_garbage_ends_walk, setup_trusted),
        cmocka_unit_test_setup(test_client_ports_and_brackets, setup_trusted),
        cmocka_unit_test(test_client_no_trusted_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

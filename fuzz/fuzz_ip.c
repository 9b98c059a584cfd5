/*
 * fuzz_ip.c: address and CIDR parsing and the X-Forwarded-For walk. The
 * input is used whole as an address, a CIDR and an XFF header (its first
 * line, with the second as X-Real-IP). Checks that parsed addresses format
 * and reparse to themselves and that the client address of a trusted peer
 * is always the peer or an address written in the headers.
 */
#include "pm/ip.h"

#include <string.h>

static void check_ip(const pm_ip_t *ip)
{
    char out[PM_IP_STR_MAX];
    pm_ip_t back;
    size_t n = pm_ip_format(ip, out);
    if (n >= PM_IP_STR_MAX || pm_ip_parse(out, n, &back) != PM_OK) abort();
    if (memcmp(back.b, ip->b, 16) != 0 || back.v4 != ip->v4) abort();
}

static void check_client(const char *s, size_t size)
{
    pm_cidr_t trusted[2];
    pm_ip_t peer;
    if (pm_cidr_parse("127.0.0.0/8", 11, &trusted[0]) != PM_OK) abort();
    if (pm_cidr_parse("10.0.0.0/8", 10, &trusted[1]) != PM_OK) abort();
    if (pm_ip_parse("127.0.0.1", 9, &peer) != PM_OK) abort();
    const char *nl = memchr(s, '\n', size);
    size_t xff_len = nl ? (size_t)(nl - s) : size;
    const char *xrip = nl ? nl + 1 : NULL;
    size_t xrip_len = nl ? size - xff_len - 1 : 0;
    pm_ip_t ip = pm_ip_client(&peer, s, xff_len, xrip, xrip_len, trusted, 2);
    check_ip(&ip);
    pm_ip_t untrusted = pm_ip_client(&peer, s, xff_len, xrip, xrip_len, NULL, 0);
    if (memcmp(untrusted.b, peer.b, 16) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    pm_ip_t ip;
    pm_cidr_t c;
    if (pm_ip_parse(s, size, &ip) == PM_OK) {
        check_ip(&ip);
        pm_ip_truncate(&ip, 24, 48);
        check_ip(&ip);
    }
    if (pm_cidr_parse(s, size, &c) == PM_OK) {
        if (c.prefix > 128 || !pm_cidr_match(&c, &c.net)) abort();
        check_ip(&c.net);
    }
    check_client(s, size);
    return 0;
}

/*
 * ip.h: client addresses: parsing (v4 and v6 text), truncation for privacy
 * (GDPR: keep a /24 of IPv4 and a /48 of IPv6 by default), CIDR matching for
 * trusted proxies and IP rules, and picking the client address from
 * X-Forwarded-For when the peer is a trusted proxy. Thread-safe, pure.
 */
#ifndef PM_IP_H
#define PM_IP_H

#include "pm/common.h"

#define PM_IP_STR_MAX 46 /* INET6_ADDRSTRLEN */

typedef struct pm_ip_s {
    uint8_t b[16]; /* IPv4 stored as IPv4-mapped IPv6 (::ffff:a.b.c.d) */
    bool v4;
} pm_ip_t;

typedef struct pm_cidr_s {
    pm_ip_t net;
    uint8_t prefix; /* in bits of the 128-bit form (v4 /24 is stored as 120) */
} pm_cidr_t;

/* Parse text (no port, no brackets; "::ffff:1.2.3.4" is v4). PM_EINVAL. */
int pm_ip_parse(const char *s, size_t len, pm_ip_t *out) PM_MUST_CHECK;
/* From a sockaddr (AF_INET or AF_INET6). PM_EINVAL for other families. */
struct sockaddr;
int pm_ip_from_sockaddr(const struct sockaddr *sa, pm_ip_t *out) PM_MUST_CHECK;
/* Text form into out (>= PM_IP_STR_MAX bytes). Returns length. */
size_t pm_ip_format(const pm_ip_t *ip, char *out);

/* Parse "10.0.0.0/8", "::1/128" or a bare address (a host route).
 * PM_EINVAL for a bad address or prefix (v4 > 32, v6 > 128). */
int pm_cidr_parse(const char *s, size_t len, pm_cidr_t *out) PM_MUST_CHECK;
bool pm_cidr_match(const pm_cidr_t *c, const pm_ip_t *ip);

/* Zero all but the first `v4_bits` (v4) or `v6_bits` (v6) bits. */
void pm_ip_truncate(pm_ip_t *ip, int v4_bits, int v6_bits);

/*
 * The client address of a request: the peer, unless the peer matches one of
 * `trusted` (n entries), in which case walk X-Forwarded-For from the right,
 * skipping trusted hops, and take the first untrusted one (or the leftmost
 * valid entry if all are trusted); if there is no usable XFF, X-Real-IP.
 * Garbage entries end the walk (the last good address is used). Can't fail.
 */
pm_ip_t pm_ip_client(const pm_ip_t *peer, const char *xff, size_t xff_len, const char *xrip,
                     size_t xrip_len, const pm_cidr_t *trusted, size_t n);

#endif

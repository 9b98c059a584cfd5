/*
 * ip.c: client addresses. One 128-bit form for both families (IPv4 as
 * ::ffff:a.b.c.d) so that truncation, CIDR rules and storage need no
 * per-family branches. Text conversion is left to inet_pton/inet_ntop, which
 * are strict (no octal, no short forms, no zone ids) and well tested.
 *
 * X-Forwarded-For is only believed from trusted proxies: anyone else can
 * write any address into it, and click fraud rules and GDPR truncation both
 * depend on the address being the real one.
 */
#include "pm/ip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void set_v4(pm_ip_t *ip, const void *addr4)
{
    memcpy(ip->b, v4_mapped_prefix, sizeof(v4_mapped_prefix));
    memcpy(ip->b + 12, addr4, 4);
    ip->v4 = true;
}

static bool is_v4_mapped(const uint8_t b[16])
{
    return memcmp(b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

static void set_v6(pm_ip_t *ip, const void *addr6)
{
    memcpy(ip->b, addr6, 16);
    ip->v4 = is_v4_mapped(ip->b);
}

int pm_ip_parse(const char *s, size_t len, pm_ip_t *out)
{
    char text[PM_IP_STR_MAX];
    uint8_t addr[16];
    /* inet_pton wants a C string: copy, and refuse embedded NULs. */
    if (len == 0 || len >= sizeof(text) || memchr(s, '\0', len)) return PM_EINVAL;
    memcpy(text, s, len);
    text[len] = '\0';
    if (memchr(text, ':', len)) {
        if (inet_pton(AF_INET6, text, addr) != 1) return PM_EINVAL;
        set_v6(out, addr);
    } else {
        if (inet_pton(AF_INET, text, addr) != 1) return PM_EINVAL;
        set_v4(out, addr);
    }
    return PM_OK;
}

int pm_ip_from_sockaddr(const struct sockaddr *sa, pm_ip_t *out)
{
    if (sa->sa_family == AF_INET) {
        set_v4(out, &((const struct sockaddr_in *)sa)->sin_addr);
        return PM_OK;
    }
    if (sa->sa_family == AF_INET6) {
        set_v6(out, &((const struct sockaddr_in6 *)sa)->sin6_addr);
        return PM_OK;
    }
    return PM_EINVAL;
}

/* Dotted quad by hand: inet_ntop goes through sprintf, and this runs on
 * every click. */
static size_t format_v4(const uint8_t *b, char *out)
{
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (i) out[n++] = '.';
        if (v >= 100) out[n++] = (char)('0' + v / 100);
        if (v >= 10) out[n++] = (char)('0' + v / 10 % 10);
        out[n++] = (char)('0' + v % 10);
    }
    out[n] = '\0';
    return n;
}

size_t pm_ip_format(const pm_ip_t *ip, char *out)
{
    if (ip->v4) return format_v4(ip->b + 12, out);
    const char *ok = inet_ntop(AF_INET6, ip->b, out, PM_IP_STR_MAX);
    /* Can't happen with a PM_IP_STR_MAX buffer; an empty string beats garbage. */
    if (PM_NEVER(ok == NULL)) out[0] = '\0';
    return strlen(out);
}

/* Zero every bit of the 128-bit form after the first `bits`. */
static void mask_bits(uint8_t b[16], int bits)
{
    for (int i = 0; i < 16; i++) {
        int keep = bits - i * 8;
        if (keep <= 0) b[i] = 0;
        else if (keep < 8) b[i] &= (uint8_t)(0xff << (8 - keep));
    }
}

/* Decimal prefix length of 1..3 digits, at most `max`; -1 otherwise. */
static int parse_prefix(const char *s, size_t len, int max)
{
    int v = 0;
    if (len == 0 || len > 3) return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

int pm_cidr_parse(const char *s, size_t len, pm_cidr_t *out)
{
    const char *slash = memchr(s, '/', len);
    size_t addr_len = slash ? (size_t)(slash - s) : len;
    pm_ip_t net;
    if (pm_ip_parse(s, addr_len, &net) != PM_OK) return PM_EINVAL;
    /* The prefix counts bits of the form it was written in: "::ffff:10.0.0.0/104"
     * is a v6 prefix even though the address is a mapped v4 one. */
    bool v6_text = memchr(s, ':', addr_len) != NULL;
    int prefix = 128;
    if (slash) {
        prefix = parse_prefix(slash + 1, len - addr_len - 1, v6_text ? 128 : 32);
        if (prefix < 0) return PM_EINVAL;
        prefix += v6_text ? 0 : 96;
    }
    mask_bits(net.b, prefix);
    net.v4 = is_v4_mapped(net.b); /* "::ffff:1.2.3.4/8" masks to a v6 network */
    out->net = net;
    out->prefix = (uint8_t)prefix;
    return PM_OK;
}

bool pm_cidr_match(const pm_cidr_t *c, const pm_ip_t *ip)
{
    int whole = c->prefix / 8, rest = c->prefix % 8;
    if (c->prefix > 128) return false;
    if (memcmp(c->net.b, ip->b, (size_t)whole) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->net.b[whole] & mask) == (ip->b[whole] & mask);
}

static int clamp_bits(int bits, int max) { return bits < 0 ? 0 : bits > max ? max : bits; }

void pm_ip_truncate(pm_ip_t *ip, int v4_bits, int v6_bits)
{
    if (ip->v4) mask_bits(ip->b, 96 + clamp_bits(v4_bits, 32));
    else mask_bits(ip->b, clamp_bits(v6_bits, 128));
}

static bool is_trusted(const pm_ip_t *ip, const pm_cidr_t *trusted, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pm_cidr_match(&trusted[i], ip)) return true;
    return false;
}

static const char *trim_blanks(const char *s, size_t *len)
{
    while (*len > 0 && (s[0] == ' ' || s[0] == '\t')) {
        s++;
        (*len)--;
    }
    while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
        (*len)--;
    return s;
}

/* Parse one X-Forwarded-For entry: blanks trimmed, and the "[v6]:port",
 * "[v6]" and "a.b.c.d:port" forms some proxies write also understood. */
static int parse_hop(const char *s, size_t len, pm_ip_t *out)
{
    s = trim_blanks(s, &len);
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL) return PM_EINVAL;
        if (close + 1 < s + len && close[1] != ':') return PM_EINVAL;
        return pm_ip_parse(s + 1, (size_t)(close - s) - 1, out);
    }
    /* One colon after a dotted quad is a port; more make it IPv6. */
    const char *colon = memchr(s, ':', len);
    size_t after = colon ? len - (size_t)(colon - s) - 1 : 0;
    if (colon && memchr(s, '.', len) && memchr(colon + 1, ':', after) == NULL)
        len = (size_t)(colon - s);
    return pm_ip_parse(s, len, out);
}

/* Walk X-Forwarded-For from the right (the hop nearest us first). Returns
 * whether an address was found. */
static bool walk_xff(const char *xff, size_t len, const pm_cidr_t *trusted, size_t n, pm_ip_t *out)
{
    bool found = false;
    size_t end = len;
    for (;;) {
        const char *comma = memrchr(xff, ',', end);
        size_t start = comma ? (size_t)(comma - xff) + 1 : 0;
        pm_ip_t hop;
        if (parse_hop(xff + start, end - start, &hop) != PM_OK) break;
        *out = hop;
        found = true;
        if (!is_trusted(&hop, trusted, n) || start == 0) break;
        end = start - 1;
    }
    return found;
}

pm_ip_t pm_ip_client(const pm_ip_t *peer, const char *xff, size_t xff_len, const char *xrip,
                     size_t xrip_len, const pm_cidr_t *trusted, size_t n)
{
    pm_ip_t ip;
    if (!is_trusted(peer, trusted, n)) return *peer;
    if (xff && walk_xff(xff, xff_len, trusted, n, &ip)) return ip;
    if (xrip && parse_hop(xrip, xrip_len, &ip) == PM_OK) return ip;
    return *peer;
}

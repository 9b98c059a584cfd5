/*
 * iplist.c: CIDR lists as sorted, merged intervals (see pm/iplist.h).
 * Addresses are compared as two big-endian 64-bit halves.
 */
#include "pm/iplist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct u128_s {
    uint64_t hi, lo;
} u128_t;

typedef struct range_s {
    u128_t first, last;
} range_t;

struct pm_iplist_s {
    range_t *v;
    size_t n, cap;
};

static u128_t u128_of(const uint8_t b[16])
{
    u128_t x = {0, 0};
    for (int i = 0; i < 8; i++) {
        x.hi = x.hi << 8 | b[i];
        x.lo = x.lo << 8 | b[8 + i];
    }
    return x;
}

static int cmp(u128_t a, u128_t b)
{
    if (a.hi != b.hi) return a.hi < b.hi ? -1 : 1;
    return a.lo < b.lo ? -1 : a.lo > b.lo;
}

/* The interval of a (masked) CIDR. */
static range_t range_of(const pm_cidr_t *c)
{
    range_t r = {u128_of(c->net.b), u128_of(c->net.b)};
    int host = 128 - c->prefix;
    uint64_t lo_mask = host >= 64 ? UINT64_MAX : host ? (UINT64_C(1) << host) - 1 : 0;
    uint64_t hi_mask = host <= 64 ? 0 : host >= 128 ? UINT64_MAX : (UINT64_C(1) << (host - 64)) - 1;
    r.last.lo |= lo_mask;
    r.last.hi |= hi_mask;
    return r;
}

static int add(pm_iplist_t *l, const pm_cidr_t *c)
{
    if (l->n == PM_IPLIST_MAX) return PM_ETOOBIG;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = pm_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = range_of(c);
    return PM_OK;
}

static int by_first(const void *a, const void *b)
{
    return cmp(((const range_t *)a)->first, ((const range_t *)b)->first);
}

static bool succ_of(u128_t a, u128_t b) /* b == a + 1 */
{
    u128_t s = {a.hi + (a.lo == UINT64_MAX), a.lo + 1};
    return s.hi == b.hi && s.lo == b.lo && !(a.hi == UINT64_MAX && a.lo == UINT64_MAX);
}

static void merge(pm_iplist_t *l)
{
    if (l->n == 0) return;
    qsort(l->v, l->n, sizeof(*l->v), by_first);
    size_t w = 0;
    for (size_t i = 1; i < l->n; i++) {
        range_t *cur = &l->v[w];
        if (cmp(l->v[i].first, cur->last) <= 0 || succ_of(cur->last, l->v[i].first)) {
            if (cmp(l->v[i].last, cur->last) > 0) cur->last = l->v[i].last;
        } else {
            l->v[++w] = l->v[i];
        }
    }
    l->n = w + 1;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* One entry (between separators), trimmed; empty is fine. */
static int entry(pm_iplist_t *l, const char *s, size_t n)
{
    while (n && blank(*s))
        s++, n--;
    while (n && blank(s[n - 1]))
        n--;
    if (n == 0) return PM_OK;
    pm_cidr_t c;
    if (n > 64 || pm_cidr_parse(s, n, &c) != PM_OK) return PM_EINVAL;
    return add(l, &c);
}

/* One line: entries separated by commas, up to a "#". */
static int line(pm_iplist_t *l, const char *s, size_t n)
{
    const char *hash = memchr(s, '#', n);
    if (hash) n = (size_t)(hash - s);
    while (n) {
        const char *comma = memchr(s, ',', n);
        size_t len = comma ? (size_t)(comma - s) : n;
        int rc = entry(l, s, len);
        if (rc != PM_OK) return rc;
        if (comma == NULL) break;
        s += len + 1;
        n -= len + 1;
    }
    return PM_OK;
}

int pm_iplist_parse(const char *text, size_t len, pm_iplist_t **out, size_t *bad_line)
{
    pm_iplist_t *l = pm_calloc(1, sizeof(*l));
    int rc = PM_OK;
    size_t no = 0;
    *bad_line = 0;
    for (size_t i = 0; i < len && rc == PM_OK;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        no++;
        rc = line(l, text + i, end - i);
        i = end + 1;
    }
    if (rc != PM_OK) {
        *bad_line = no;
        pm_iplist_destroy(l);
        l = NULL;
    } else {
        merge(l);
    }
    *out = l;
    return rc;
}

int pm_iplist_load(const char *path, pm_iplist_t **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        pm_error("iplist: cannot read %s: %s", path, strerror(errno));
        return PM_ENOTFOUND;
    }
    char *text = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (cap - len < 65536) text = pm_realloc(text, cap = cap ? cap * 2 : 65536);
        got = fread(text + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    bool failed = ferror(f);
    fclose(f);
    size_t bad = 0;
    int rc = failed ? -EIO : pm_iplist_parse(text, len, out, &bad);
    if (rc == PM_EINVAL)
        pm_error("iplist: %s:%zu: not an address or CIDR", path, bad);
    else if (rc != PM_OK)
        pm_error("iplist: %s: %s", path, pm_strerror(rc));
    pm_free(text);
    return rc;
}

void pm_iplist_destroy(pm_iplist_t *l)
{
    if (l == NULL) return;
    pm_free(l->v);
    pm_free(l);
}

bool pm_iplist_contains(const pm_iplist_t *l, const pm_ip_t *ip)
{
    u128_t x = u128_of(ip->b);
    size_t lo = 0, hi = l->n; /* the last range whose first <= x */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp(l->v[mid].first, x) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && cmp(x, l->v[lo - 1].last) <= 0;
}

size_t pm_iplist_count(const pm_iplist_t *l)
{
    return l->n;
}

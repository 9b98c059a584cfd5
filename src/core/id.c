/*
 * id.c: event identifiers in the ULID layout (48 bits of milliseconds, 80
 * random bits, 26 characters of Crockford base32), and the kernel random
 * source behind them and behind API keys.
 *
 * Ids are made on the click path, so a generator draws its random bits from
 * a per-thread xorshift128+ seeded once from getrandom(2) rather than making
 * a system call per id: ids must be unique and hard to guess in bulk, not
 * secret. Secrets (keys, tokens) come from pm_random_bytes instead.
 *
 * Within one generator ids strictly increase. When the clock has not moved
 * past the previous id's millisecond (same millisecond, or the wall clock
 * stepped back), the previous id is incremented instead of drawing new bits;
 * the increment is a random 1..2^32 rather than ULID's +1 so the next click
 * id cannot be guessed from the last one.
 */
#include "pm/id.h"

#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define ID_TIME_MASK ((UINT64_C(1) << 48) - 1)

typedef unsigned __int128 u128;

static const char crockford[32] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static uint64_t xorshift128p(uint64_t s[2])
{
    uint64_t x = s[0];
    uint64_t const y = s[1];
    s[0] = y;
    x ^= x << 23;
    s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return s[1] + y;
}

/* splitmix64: spreads weak fallback entropy over all 64 bits. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

int pm_random_bytes(void *out, size_t n)
{
    uint8_t *p = out;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += got;
        n -= (size_t)got;
    }
    return PM_OK;
}

void pm_idgen_init(pm_idgen_t *g)
{
    memset(g, 0, sizeof(*g));
    if (pm_random_bytes(g->rng, sizeof(g->rng)) != PM_OK) {
        uint64_t seed = (uint64_t)pm_now() ^ ((uint64_t)pm_monotonic_us() << 20) ^
                        (uint64_t)(uintptr_t)g ^ ((uint64_t)getpid() << 40);
        g->rng[0] = splitmix64(&seed);
        g->rng[1] = splitmix64(&seed);
    }
    /* xorshift128+ never leaves the all-zero state. */
    if (g->rng[0] == 0 && g->rng[1] == 0) g->rng[1] = 1;
}

static u128 id_to_u128(const pm_id_t *id)
{
    u128 v = 0;
    for (int i = 0; i < 16; i++)
        v = v << 8 | id->b[i];
    return v;
}

static pm_id_t id_from_u128(u128 v)
{
    pm_id_t id;
    for (int i = 15; i >= 0; i--) {
        id.b[i] = (uint8_t)v;
        v >>= 8;
    }
    return id;
}

pm_id_t pm_id_next(pm_idgen_t *g, pm_time_t now)
{
    uint64_t ms = now > 0 ? ((uint64_t)now / 1000) & ID_TIME_MASK : 0;
    u128 v;
    if (!pm_id_is_zero(&g->last) && ms <= g->last_ms) {
        /* A carry out of the random part moves the id into the next
         * millisecond: one ms of skew beats a duplicate or a decrease. */
        v = id_to_u128(&g->last) + 1 + (xorshift128p(g->rng) & UINT32_MAX);
    } else {
        u128 rnd = (u128)(xorshift128p(g->rng) & 0xffff) << 64 | xorshift128p(g->rng);
        v = (u128)ms << 80 | rnd;
    }
    g->last_ms = (uint64_t)(v >> 80);
    g->last = id_from_u128(v);
    return g->last;
}

void pm_id_format(const pm_id_t *id, char *out)
{
    u128 v = id_to_u128(id);
    for (int i = PM_ID_LEN - 1; i >= 0; i--) {
        out[i] = crockford[v & 31];
        v >>= 5;
    }
    out[PM_ID_LEN] = '\0';
}

/* Crockford value + 1 of each byte, 0 for an invalid one. Case-insensitive;
 * I and L read as 1 and O as 0, as people copying ids by hand write them.
 * U is invalid. A table: ids are parsed for every event row a report or
 * the rollups read back. */
static const uint8_t crockford_plus1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,  ['8'] = 9,
    ['9'] = 10, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16, ['G'] = 17, ['H'] = 18,
    ['I'] = 2,  ['J'] = 19, ['K'] = 20, ['L'] = 2,  ['M'] = 21, ['N'] = 22, ['O'] = 1,  ['P'] = 23, ['Q'] = 24,
    ['R'] = 25, ['S'] = 26, ['T'] = 27, ['V'] = 28, ['W'] = 29, ['X'] = 30, ['Y'] = 31, ['Z'] = 32, ['a'] = 11,
    ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['g'] = 17, ['h'] = 18, ['i'] = 2,  ['j'] = 19,
    ['k'] = 20, ['l'] = 2,  ['m'] = 21, ['n'] = 22, ['o'] = 1,  ['p'] = 23, ['q'] = 24, ['r'] = 25, ['s'] = 26,
    ['t'] = 27, ['v'] = 28, ['w'] = 29, ['x'] = 30, ['y'] = 31, ['z'] = 32};

static int crockford_value(unsigned char c)
{
    return crockford_plus1[c] - 1;
}

int pm_id_parse(const char *s, size_t len, pm_id_t *out)
{
    if (len != PM_ID_LEN) return PM_EINVAL;
    u128 v = 0;
    for (size_t i = 0; i < len; i++) {
        int d = crockford_value((unsigned char)s[i]);
        /* 26 chars hold 130 bits: the first may carry only 3. */
        if (d < 0 || (i == 0 && d > 7)) return PM_EINVAL;
        v = v << 5 | (u128)d;
    }
    *out = id_from_u128(v);
    return PM_OK;
}

pm_time_t pm_id_time(const pm_id_t *id)
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | id->b[i];
    return (pm_time_t)ms * 1000;
}

int pm_id_cmp(const pm_id_t *a, const pm_id_t *b)
{
    int c = memcmp(a->b, b->b, sizeof(a->b));
    return (c > 0) - (c < 0);
}

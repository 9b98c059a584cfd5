/*
 * id.h: event identifiers. 128 bits, time-ordered, URL-safe: 48 bits of
 * milliseconds since the epoch followed by 80 random bits, written as 26
 * characters of Crockford base32 (the ULID layout). The creation time is
 * recoverable from the id, so lookback windows need no lookup.
 *
 * A generator is per thread (not thread-safe, no locks): within one
 * generator ids are strictly increasing, also within one millisecond (the
 * random part is incremented, as ULID's monotonic mode does).
 */
#ifndef PM_ID_H
#define PM_ID_H

#include "pm/common.h"
#include "pm/clock.h"

#define PM_ID_LEN 26 /* characters, without NUL */

typedef struct pm_id_s {
    uint8_t b[16]; /* big-endian: ms time first, so memcmp orders by time */
} pm_id_t;

typedef struct pm_idgen_s {
    uint64_t last_ms;
    pm_id_t last;
    uint64_t rng[2]; /* xorshift128+ state, seeded from getrandom(2) */
} pm_idgen_t;

/* Seed a generator from the kernel's random source. Can't fail (falls back
 * to time and address entropy if getrandom is unavailable). */
void pm_idgen_init(pm_idgen_t *g);
/* A new id for time `now` (UTC microseconds). Can't fail. */
pm_id_t pm_id_next(pm_idgen_t *g, pm_time_t now);
/* Write the 26-char text form into out (>= PM_ID_LEN + 1 bytes, NUL added). */
void pm_id_format(const pm_id_t *id, char *out);
/* Parse the text form (case-insensitive; Crockford aliases I/L->1, O->0
 * accepted). PM_EINVAL if not exactly 26 valid chars or if the value
 * overflows 128 bits (first char must be 0-7). */
int pm_id_parse(const char *s, size_t len, pm_id_t *out) PM_MUST_CHECK;
/* The creation time recorded in the id, in microseconds (ms precision). */
pm_time_t pm_id_time(const pm_id_t *id);
/* memcmp order, which is time order. */
int pm_id_cmp(const pm_id_t *a, const pm_id_t *b);
static inline bool pm_id_is_zero(const pm_id_t *id)
{
    for (int i = 0; i < 16; i++)
        if (id->b[i]) return false;
    return true;
}
/* Fill `out` with `n` random bytes from a thread-safe CSPRNG (getrandom).
 * Used for API keys and tokens. PM_OK or -errno. */
int pm_random_bytes(void *out, size_t n) PM_MUST_CHECK;

#endif

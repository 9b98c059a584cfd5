/*
 * text.c: making untrusted text safe to store and echo. Everything a visitor
 * or a partner sends (query parameters, cookies, user agents, postback
 * fields) passes through pm_text_sanitize before it reaches the journal, the
 * store or the dashboard, so downstream code may assume valid UTF-8 without
 * control characters: JSON encoders never fail, terminals and log lines
 * cannot be spoofed, and truncation never splits a character.
 *
 * The sanitizer is one pass with no allocation: it runs on every parameter
 * of every click.
 */
#include "pm/text.h"

#include <string.h>

static const char replacement[3] = {(char)0xEF, (char)0xBF, (char)0xBD}; /* U+FFFD */

static bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/*
 * Length of the valid UTF-8 sequence (RFC 3629) starting at s[0], or 0 if
 * s[0] does not start one. The second-byte ranges of E0, ED, F0 and F4 are
 * what exclude overlongs, surrogates and code points past U+10FFFF.
 */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c < 0xC2 || c > 0xF4) return 0;
    n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    if (avail < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (!is_cont(s[i])) return 0;
    return n;
}

static bool is_control(unsigned char c) { return c < 0x20 || c == 0x7F; }

static bool is_printable_ascii(unsigned char c) { return c >= 0x20 && c < 0x7F; }

#define BYTES(x) (UINT64_C(0x0101010101010101) * (x))

/* Whether all 8 bytes of w are printable ASCII, by the bit tricks of
 * "Bit Twiddling Hacks" (haszero/hasless): exact for "any byte" questions. */
static bool word_is_printable(uint64_t w)
{
    uint64_t high = w & BYTES(0x80);
    uint64_t below_space = (w - BYTES(0x20)) & ~w & BYTES(0x80);
    uint64_t del = w ^ BYTES(0x7F);
    uint64_t has_del = (del - BYTES(0x01)) & ~del & BYTES(0x80);
    return (high | below_space | has_del) == 0;
}

/* Length of the run of printable ASCII at s, at most `max`. User agents and
 * URLs are long runs of it, so whole words are checked first. */
static size_t ascii_run(const unsigned char *s, size_t len, size_t max)
{
    size_t n = 0, lim = len < max ? len : max;
    uint64_t w;
    while (n + 8 <= lim) {
        memcpy(&w, s + n, 8);
        if (!word_is_printable(w)) break;
        n += 8;
    }
    while (n < lim && is_printable_ascii(s[n]))
        n++;
    return n;
}

/* What a non-ASCII-printable sequence at s becomes: sets *src and *src_len to
 * the bytes to write and returns how many input bytes it stands for. */
static size_t translate(const unsigned char *s, size_t avail, const char **src, size_t *src_len)
{
    size_t n = utf8_seq_len(s, avail);
    if (n == 0) {
        *src = replacement; /* every invalid byte gets its own U+FFFD */
        *src_len = sizeof(replacement);
        return 1;
    }
    *src = (const char *)s;
    *src_len = n;
    if (is_control(s[0])) {
        *src = " ";
        *src_len = s[0] == '\t';
    }
    return n;
}

size_t pm_text_sanitize(const char *in, size_t in_len, char *out, size_t out_cap, bool *changed)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, o = 0, room = out_cap - 1;
    bool chg = false;
    if (PM_NEVER(out_cap == 0)) { /* outside the contract: no room even for the NUL */
        if (changed) *changed = in_len > 0;
        return 0;
    }
    while (i < in_len) {
        /* Printable ASCII is the overwhelming case: copy whole runs. */
        size_t run = ascii_run(s + i, in_len - i, room - o);
        memcpy(out + o, s + i, run);
        o += run;
        i += run;
        if (i == in_len || is_printable_ascii(s[i])) break; /* done, or out of room */
        const char *src;
        size_t src_len, n = translate(s + i, in_len - i, &src, &src_len);
        if (src_len > room - o) break;
        memcpy(out + o, src, src_len);
        chg |= src != (const char *)s + i;
        o += src_len;
        i += n;
    }
    out[o] = '\0';
    if (changed) *changed = chg || i < in_len;
    return o;
}

bool pm_text_is_clean(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (is_control(u[i])) return false;
        size_t n = utf8_seq_len(u + i, len - i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

bool pm_text_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen) return false;
    for (size_t i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
        if (x != y) return false;
    }
    return true;
}

/*
 * qs.c: query strings, form bodies and Cookie headers: the first code to
 * touch what a visitor's browser or a partner's server sends, on every
 * click. Input is hostile and unbounded, so the work done is bounded instead:
 * at most PM_QS_MAX_PARAMS parameters are decoded, each key and value is
 * capped, and a parse makes exactly one allocation, sized up front from the
 * input length, that holds every key and value.
 *
 * That allocation is laid out as [scratch | strings]. A field is first
 * percent-decoded into the scratch area, then pm_text_sanitize copies it into
 * the strings area, so what callers see is always valid UTF-8 without control
 * characters. Sanitizing can grow a field (each invalid byte becomes the
 * 3-byte U+FFFD) but never past 3 bytes per input byte, which is what the
 * strings area is sized by.
 */
#include "pm/qs.h"
#include "pm/buf.h"
#include "pm/text.h"

#include <string.h>

/* Sanitizing into one character (<= 4 bytes) more than the cap tells an
 * oversize field from one that fits exactly. */
#define KEY_ROOM (PM_QS_MAX_KEY + 4)
#define VALUE_ROOM (PM_QS_MAX_VALUE + 4)
#define PARAM_ROOM (KEY_ROOM + 1 + VALUE_ROOM + 1)
/* Decoded bytes looked at per field that needs decoding. Past this much a
 * value has either filled its cap or is mostly dropped control characters;
 * either way it is counted as truncated. */
#define SCRATCH_MAX (4 * VALUE_ROOM)

typedef struct parse_s {
    pm_qs_t *qs;
    bool decode;    /* percent-escapes and '+' (query strings, not cookies) */
    char *scratch;  /* decoded field, SCRATCH_MAX bytes at most */
    size_t scratch_cap;
    char *pos, *end; /* free part of the strings area */
} parse_t;

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

static void parse_begin(parse_t *p, pm_qs_t *qs, size_t len, bool decode)
{
    /* Not the whole pm_qs_t: params past `count` are never read, and
     * clearing 2 KiB per click is measurable. */
    qs->count = qs->dropped = qs->truncated = 0;
    qs->storage = NULL;
    memset(p, 0, sizeof(*p));
    p->qs = qs;
    p->decode = decode;
    if (len == 0) return;
    size_t strings = len > PM_QS_MAX_PARAMS * PARAM_ROOM / 3
                         ? PM_QS_MAX_PARAMS * PARAM_ROOM
                         : min_size(3 * len + 2 * PM_QS_MAX_PARAMS, PM_QS_MAX_PARAMS * PARAM_ROOM);
    p->scratch_cap = decode ? min_size(len, SCRATCH_MAX) : 0;
    qs->storage = pm_malloc(p->scratch_cap + strings);
    p->scratch = qs->storage;
    p->pos = qs->storage + p->scratch_cap;
    p->end = p->pos + strings;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20; /* ASCII lower case */
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Percent-decode s[0..len) into the scratch area; *cut when it did not fit. */
static size_t decode_field(parse_t *p, const char *s, size_t len, bool *cut)
{
    size_t i = 0, o = 0;
    for (; i < len && o < p->scratch_cap; o++) {
        unsigned char c = (unsigned char)s[i++];
        int hi, lo;
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 1 < len && (hi = hex_value((unsigned char)s[i])) >= 0 &&
                   (lo = hex_value((unsigned char)s[i + 1])) >= 0) {
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        p->scratch[o] = (char)c;
    }
    *cut = i < len;
    return o;
}

/* Sanitize one field into the strings area (not yet committed: p->pos is
 * unchanged). Returns the sanitized length, up to `room`; *cut as above. */
static size_t put_field(parse_t *p, const char *s, size_t len, size_t room, bool *cut)
{
    *cut = false;
    /* Most fields have nothing to decode: sanitize straight from the input. */
    if (p->decode && (memchr(s, '%', len) || memchr(s, '+', len))) {
        len = decode_field(p, s, len, cut);
        s = p->scratch;
    }
    size_t cap = min_size(room + 1, (size_t)(p->end - p->pos));
    return pm_text_sanitize(s, len, p->pos, cap, NULL);
}

/* Cut a sanitized (valid UTF-8) string to at most `max` bytes at a
 * character boundary. */
static size_t cut_utf8(char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    s[max] = '\0';
    return max;
}

static void add_param(parse_t *p, const char *k, size_t klen, const char *v, size_t vlen)
{
    pm_qs_t *qs = p->qs;
    pm_qs_param_t *param = &qs->params[qs->count];
    bool cut;
    param->key = p->pos;
    param->key_len = put_field(p, k, klen, KEY_ROOM, &cut);
    if (param->key_len == 0 && !cut) return; /* empty once sanitized */
    if (param->key_len > PM_QS_MAX_KEY || cut) {
        qs->dropped++;
        return;
    }
    p->pos += param->key_len + 1;
    param->value = p->pos;
    size_t n = put_field(p, v, vlen, VALUE_ROOM, &cut);
    param->value_len = cut_utf8(p->pos, n, PM_QS_MAX_VALUE);
    if (cut || n > PM_QS_MAX_VALUE) qs->truncated++;
    p->pos += param->value_len + 1;
    qs->count++;
}

/* Split one "key=value" field and hand it on; past the parameter cap it is
 * only counted. */
static void add_field(parse_t *p, const char *s, size_t len)
{
    const char *eq = memchr(s, '=', len);
    size_t klen = eq ? (size_t)(eq - s) : len;
    if (klen == 0) return;
    if (p->qs->count == PM_QS_MAX_PARAMS) {
        p->qs->dropped++;
        return;
    }
    const char *v = eq ? eq + 1 : s + len;
    add_param(p, s, klen, v, (size_t)(s + len - v));
}

void pm_qs_parse(pm_qs_t *qs, const char *s, size_t len)
{
    parse_t p;
    parse_begin(&p, qs, len, true);
    const char *end = s + len;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *field_end = amp ? amp : end;
        add_field(&p, s, (size_t)(field_end - s));
        s = field_end + (amp != NULL);
    }
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* Trim blanks around s[0..*len); returns the new start. */
static const char *trim(const char *s, size_t *len)
{
    while (*len > 0 && is_blank(s[0])) {
        s++;
        (*len)--;
    }
    while (*len > 0 && is_blank(s[*len - 1]))
        (*len)--;
    return s;
}

static void add_cookie(parse_t *p, const char *s, size_t len)
{
    const char *eq = memchr(s, '=', len);
    size_t klen = eq ? (size_t)(eq - s) : len;
    const char *k = trim(s, &klen);
    if (klen == 0) return;
    if (p->qs->count == PM_QS_MAX_PARAMS) {
        p->qs->dropped++;
        return;
    }
    size_t vlen = eq ? (size_t)(s + len - eq - 1) : 0;
    const char *v = eq ? trim(eq + 1, &vlen) : s + len;
    if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
        v++;
        vlen -= 2;
    }
    add_param(p, k, klen, v, vlen);
}

void pm_qs_parse_cookies(pm_qs_t *qs, const char *s, size_t len)
{
    parse_t p;
    parse_begin(&p, qs, len, false);
    const char *end = s + len;
    while (s < end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        const char *field_end = semi ? semi : end;
        add_cookie(&p, s, (size_t)(field_end - s));
        s = field_end + (semi != NULL);
    }
}

void pm_qs_free(pm_qs_t *qs)
{
    pm_free(qs->storage);
    qs->storage = NULL;
    qs->count = 0;
}

const char *pm_qs_get(const pm_qs_t *qs, const char *key, size_t *len_out)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < qs->count; i++) {
        const pm_qs_param_t *param = &qs->params[i];
        if (param->key_len == klen && memcmp(param->key, key, klen) == 0) {
            if (len_out) *len_out = param->value_len;
            return param->value;
        }
    }
    return NULL;
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int pm_url_encode(pm_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t need = 0;
    for (size_t i = 0; i < len; i++)
        need += is_unreserved((unsigned char)s[i]) ? 1 : 3;
    /* Checked up front so a failed call leaves the buffer as it was. */
    if (need > b->max - b->len) return PM_ETOOBIG;
    char chunk[256];
    size_t n = 0;
    int rc = PM_OK;
    for (size_t i = 0; i < len && rc == PM_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c)) {
            chunk[n++] = (char)c;
        } else {
            chunk[n++] = '%';
            chunk[n++] = hex[c >> 4];
            chunk[n++] = hex[c & 15];
        }
        if (n > sizeof(chunk) - 3) {
            rc = pm_buf_append(b, chunk, n);
            n = 0;
        }
    }
    return rc == PM_OK ? pm_buf_append(b, chunk, n) : rc;
}

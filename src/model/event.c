/*
 * event.c: the journal encoding of pm_event_t (see pm/event.h).
 *
 * Tags are part of the journal format, fixed forever; new fields take new
 * tags and a decoder skips the tags it does not know:
 *
 *    1 id                 16 bytes     9 cost micros         8 bytes
 *    2 ts                  8 bytes    10 cost currency       3 bytes
 *    3 visitor_id         16 bytes    11 revenue micros      8 bytes
 *    4 click_id           16 bytes    12 revenue currency    3 bytes
 *    5 campaign_id         8 bytes    13 payout micros       8 bytes
 *    6 traffic_source_id   8 bytes    14 payout currency     3 bytes
 *    7 offer_id            8 bytes    64 + i  string field i (pm_event_str_t),
 *    8 lander_id           8 bytes            UTF-8 bytes, any length
 *
 * Integers are two's complement little-endian; ids are copied as their 16
 * big-endian bytes; a currency is its three ISO 4217 letters. Lengths are
 * unsigned LEB128 varints capped at PM_JOURNAL_MAX_RECORD.
 *
 * The decoder reads journal files that may be corrupt, so it trusts no
 * length: every read is bounded by the input, a fixed-size field of another
 * size is corruption, and an unknown event type is corruption too (no
 * consumer could act on it, and its switch statements should not have to).
 */
#include "pm/event.h"
#include "pm/journal.h"

#include <string.h>

#define EVENT_VERSION 1
#define TAG_STR_BASE 64
#define VARINT_MAX_BYTES 5 /* 35 bits: ample for lengths capped at 2^20 */

enum field_kind { K_ID, K_I64, K_CURRENCY };

typedef struct field_s {
    uint8_t tag;
    uint8_t kind;
    size_t off; /* offsetof the member in pm_event_t */
} field_t;

static const field_t FIELDS[] = {
    {1, K_ID, offsetof(pm_event_t, id)},
    {2, K_I64, offsetof(pm_event_t, ts)},
    {3, K_ID, offsetof(pm_event_t, visitor_id)},
    {4, K_ID, offsetof(pm_event_t, click_id)},
    {5, K_I64, offsetof(pm_event_t, campaign_id)},
    {6, K_I64, offsetof(pm_event_t, traffic_source_id)},
    {7, K_I64, offsetof(pm_event_t, offer_id)},
    {8, K_I64, offsetof(pm_event_t, lander_id)},
    {9, K_I64, offsetof(pm_event_t, cost.micros)},
    {10, K_CURRENCY, offsetof(pm_event_t, cost.currency)},
    {11, K_I64, offsetof(pm_event_t, revenue.micros)},
    {12, K_CURRENCY, offsetof(pm_event_t, revenue.currency)},
    {13, K_I64, offsetof(pm_event_t, payout.micros)},
    {14, K_CURRENCY, offsetof(pm_event_t, payout.currency)},
};

static const size_t KIND_SIZE[] = {[K_ID] = 16, [K_I64] = 8, [K_CURRENCY] = 3};

static const char *const TYPE_NAMES[PM_EV__MAX] = {
    [PM_EV_CLICK] = "click",
    [PM_EV_IMPRESSION] = "impression",
    [PM_EV_CONVERSION] = "conversion",
    [PM_EV_ORPHAN] = "orphan",
};

static const char *const STR_NAMES[PM_EVS__COUNT] = {
    "ip",         "user_agent", "referrer",     "language",    "sub1",        "sub2",
    "sub3",       "sub4",       "sub5",         "sub6",        "sub7",        "sub8",
    "sub9",       "sub10",      "utm_source",   "utm_medium",  "utm_campaign", "utm_content",
    "utm_term",   "external_id", "txid",        "status",      "conversion_type", "method",
    "reason",     "query",      "destination_url",
};

/* A new string field without a name would silently print as NULL. */
_Static_assert(PM_ARRAY_LEN(STR_NAMES) == PM_EVS__COUNT, "every string field has a name");
_Static_assert(TAG_STR_BASE + PM_EVS__COUNT <= 256, "string tags fit in a byte");

const char *pm_event_type_name(pm_event_type_t t)
{
    if ((unsigned)t >= PM_EV__MAX) return NULL;
    return TYPE_NAMES[t];
}

const char *pm_event_str_name(pm_event_str_t f)
{
    if ((unsigned)f >= PM_EVS__COUNT) return NULL;
    return STR_NAMES[f];
}

static bool valid_type(unsigned t) { return t > PM_EV_NONE && t < PM_EV__MAX; }

/* --- encoding ------------------------------------------------------------- */

static size_t put_varint(uint8_t *p, uint32_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Serialize a fixed-size member into `val`; false when it is zero/empty
 * (omitted on the wire: most events leave most fields unset). */
static bool fixed_value(const pm_event_t *ev, const field_t *f, uint8_t *val)
{
    const char *member = (const char *)ev + f->off;
    if (f->kind == K_ID) {
        memcpy(val, member, 16);
        return !pm_id_is_zero((const pm_id_t *)member);
    }
    if (f->kind == K_CURRENCY) {
        memcpy(val, member, 3);
        return member[0] != '\0';
    }
    int64_t v;
    memcpy(&v, member, sizeof(v));
    put_le64(val, (uint64_t)v);
    return v != 0;
}

static int encode_fixed(const pm_event_t *ev, const field_t *f, pm_buf_t *out)
{
    uint8_t field[2 + 16];
    if (!fixed_value(ev, f, field + 2)) return PM_OK;
    field[0] = f->tag;
    field[1] = (uint8_t)KIND_SIZE[f->kind]; /* < 128: a one-byte varint */
    return pm_buf_append(out, field, 2 + KIND_SIZE[f->kind]);
}

static int encode_str(const pm_str_t *s, unsigned idx, pm_buf_t *out)
{
    uint8_t head[1 + VARINT_MAX_BYTES];
    if (s->len == 0) return PM_OK;
    if (s->len > PM_JOURNAL_MAX_RECORD) return PM_ETOOBIG; /* the decoder would refuse it */
    head[0] = (uint8_t)(TAG_STR_BASE + idx);
    size_t n = 1 + put_varint(head + 1, s->len);
    int rc = pm_buf_append(out, head, n);
    if (rc != PM_OK) return rc;
    return pm_buf_append(out, s->p, s->len);
}

/* On failure the buffer is cut back, so a caller never journals half an
 * event. An invalid type is PM_EINVAL: the decoder would reject it. */
int pm_event_encode(const pm_event_t *ev, pm_buf_t *out)
{
    size_t mark = out->len;
    const uint8_t head[2] = {EVENT_VERSION, (uint8_t)ev->type};
    int rc = valid_type(ev->type) ? pm_buf_append(out, head, sizeof(head)) : PM_EINVAL;
    for (size_t i = 0; rc == PM_OK && i < PM_ARRAY_LEN(FIELDS); i++)
        rc = encode_fixed(ev, &FIELDS[i], out);
    for (unsigned i = 0; rc == PM_OK && i < PM_EVS__COUNT; i++)
        rc = encode_str(&ev->s[i], i, out);
    if (rc != PM_OK && out->data) {
        out->len = mark;
        out->data[mark] = '\0';
    }
    return rc;
}

/* --- decoding ------------------------------------------------------------- */

typedef struct reader_s {
    const uint8_t *p;
    size_t len, pos;
} reader_t;

static int read_varint(reader_t *r, uint32_t *out)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < VARINT_MAX_BYTES; i++) {
        if (r->pos >= r->len) return PM_ECORRUPT;
        uint8_t c = r->p[r->pos++];
        v |= (uint64_t)(c & 0x7f) << (7 * i);
        if (c & 0x80) continue;
        if (v > PM_JOURNAL_MAX_RECORD) return PM_ECORRUPT;
        *out = (uint32_t)v;
        return PM_OK;
    }
    return PM_ECORRUPT;
}

static const field_t *find_field(uint8_t tag)
{
    for (size_t i = 0; i < PM_ARRAY_LEN(FIELDS); i++)
        if (FIELDS[i].tag == tag) return &FIELDS[i];
    return NULL;
}

static int decode_fixed(pm_event_t *ev, const field_t *f, const uint8_t *v, uint32_t n)
{
    char *member = (char *)ev + f->off;
    if (n != KIND_SIZE[f->kind]) return PM_ECORRUPT;
    if (f->kind == K_ID) {
        memcpy(member, v, 16);
    } else if (f->kind == K_CURRENCY) {
        memcpy(member, v, 3);
        member[3] = '\0';
    } else {
        int64_t x = (int64_t)get_le64(v);
        memcpy(member, &x, sizeof(x));
    }
    return PM_OK;
}

/* A repeated tag overwrites: last one wins, as the encoder never repeats. */
static int decode_field(pm_event_t *ev, uint8_t tag, const uint8_t *v, uint32_t n)
{
    if (tag >= TAG_STR_BASE && tag < TAG_STR_BASE + PM_EVS__COUNT) {
        pm_event_set(ev, (pm_event_str_t)(tag - TAG_STR_BASE), (const char *)v, n);
        return PM_OK;
    }
    const field_t *f = find_field(tag);
    return f ? decode_fixed(ev, f, v, n) : PM_OK; /* unknown: a newer writer's field */
}

static int decode_fields(reader_t *r, pm_event_t *ev)
{
    while (r->pos < r->len) {
        uint8_t tag = r->p[r->pos++];
        uint32_t n;
        int rc = read_varint(r, &n);
        if (rc != PM_OK) return rc;
        if (n > r->len - r->pos) return PM_ECORRUPT;
        rc = decode_field(ev, tag, r->p + r->pos, n);
        if (rc != PM_OK) return rc;
        r->pos += n;
    }
    return PM_OK;
}

int pm_event_decode(const void *p, size_t len, pm_event_t *out)
{
    reader_t r = {.p = p, .len = len, .pos = 2};
    int rc = PM_ECORRUPT;
    memset(out, 0, sizeof(*out));
    if (len < 2 || r.p[0] != EVENT_VERSION || !valid_type(r.p[1])) goto out;
    out->type = (pm_event_type_t)r.p[1];
    rc = decode_fields(&r, out);
out:
    if (rc != PM_OK) memset(out, 0, sizeof(*out)); /* no half-decoded event */
    return rc;
}

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
 *   15 creative_id         8 bytes
 *   40 partner_id          8 bytes    45 prev cost currency  3 bytes
 *   41 ref_id (conversion)16 bytes    46 prev revenue micros 8 bytes
 *   42 ref_ts              8 bytes    47 prev revenue cur.   3 bytes
 *   43 version             8 bytes    48 prev payout micros  8 bytes
 *   44 prev cost micros    8 bytes    49 prev payout cur.    3 bytes
 *   50 ref_end             8 bytes    59 place (volume tier)  8 bytes
 *
 * Tags 16..39, 51..58 and 60..63 are kept for future fixed-size fields and 64 + PM_EVS__COUNT
 * onwards for future strings; tag 0 is never used.
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
/* Events up to this size are built on the stack: every click, nearly every
 * conversion. Larger ones (long orphan queries) take one allocation. */
#define ENCODE_STACK 4096

enum field_kind { K_ID, K_I64, K_CURRENCY };

typedef struct field_s {
    uint8_t kind;
    uint8_t size; /* 0: no fixed field has this tag */
    size_t off;   /* offsetof the member in pm_event_t */
} field_t;

#define F_ID(m) {K_ID, 16, offsetof(pm_event_t, m)}
#define F_I64(m) {K_I64, 8, offsetof(pm_event_t, m)}
#define F_CUR(m) {K_CURRENCY, 3, offsetof(pm_event_t, m)}

/* Indexed by tag, so the decoder finds a field without a search. */
static const field_t FIELDS[] = {
    [1] = F_ID(id),
    [2] = F_I64(ts),
    [3] = F_ID(visitor_id),
    [4] = F_ID(click_id),
    [5] = F_I64(campaign_id),
    [6] = F_I64(traffic_source_id),
    [7] = F_I64(offer_id),
    [8] = F_I64(lander_id),
    [9] = F_I64(cost.micros),
    [10] = F_CUR(cost.currency),
    [11] = F_I64(revenue.micros),
    [12] = F_CUR(revenue.currency),
    [13] = F_I64(payout.micros),
    [14] = F_CUR(payout.currency),
    [15] = F_I64(creative_id),
    /* Money (docs/money.md). */
    [40] = F_I64(partner_id),
    [41] = F_ID(ref_id),
    [42] = F_I64(ref_ts),
    [43] = F_I64(version),
    [44] = F_I64(prev_cost.micros),
    [45] = F_CUR(prev_cost.currency),
    [46] = F_I64(prev_revenue.micros),
    [47] = F_CUR(prev_revenue.currency),
    [48] = F_I64(prev_payout.micros),
    [49] = F_CUR(prev_payout.currency),
    [50] = F_I64(ref_end),
    [59] = F_I64(place),
};

static const char *const TYPE_NAMES[PM_EV__MAX] = {
    [PM_EV_CLICK] = "click",
    [PM_EV_IMPRESSION] = "impression",
    [PM_EV_CONVERSION] = "conversion",
    [PM_EV_ORPHAN] = "orphan",
    [PM_EV_STATUS_CHANGE] = "status_change",
    [PM_EV_COST_REPORT] = "cost_report",
    [PM_EV_LANDER_CLICK] = "lander_click",
};

static const char *const STR_NAMES[PM_EVS__COUNT] = {
    "ip",         "user_agent", "referrer",     "language",    "sub1",        "sub2",
    "sub3",       "sub4",       "sub5",         "sub6",        "sub7",        "sub8",
    "sub9",       "sub10",      "utm_source",   "utm_medium",  "utm_campaign", "utm_content",
    "utm_term",   "external_id", "txid",        "status",      "conversion_type", "method",
    "reason",     "query",      "destination_url", "user_id", "email_hash", "country",
    "region",     "device_type", "os",          "os_version",  "browser",     "browser_version",
    "bot_reason", "route",      "prev_status", "actor",      "lead_id",
};

/* A new string field without a name would silently print as NULL. */
_Static_assert(PM_ARRAY_LEN(STR_NAMES) == PM_EVS__COUNT, "every string field has a name");
_Static_assert(TAG_STR_BASE + PM_EVS__COUNT <= 256, "string tags fit in a byte");
_Static_assert(PM_ARRAY_LEN(FIELDS) <= TAG_STR_BASE, "fixed tags stay below string tags");

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

static size_t varint_len(uint32_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7)
        n++;
    return n;
}

static size_t put_varint(uint8_t *p, uint32_t v)
{
    size_t n = 0;
    for (; v >= 0x80; v >>= 7)
        p[n++] = (uint8_t)(v | 0x80);
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

/* Zero and empty members are omitted: most events leave most fields unset. */
static bool fixed_present(const pm_event_t *ev, const field_t *f)
{
    const char *member = (const char *)ev + f->off;
    int64_t v;
    if (f->size == 0) return false; /* a tag no field uses (yet) */
    if (f->kind == K_ID) return !pm_id_is_zero((const pm_id_t *)member);
    if (f->kind == K_CURRENCY) return member[0] != '\0';
    memcpy(&v, member, sizeof(v));
    return v != 0;
}

static uint8_t *put_fixed(const pm_event_t *ev, uint8_t tag, const field_t *f, uint8_t *p)
{
    const char *member = (const char *)ev + f->off;
    *p++ = tag;
    *p++ = f->size; /* < 128: a one-byte varint */
    if (f->kind == K_I64) {
        int64_t v;
        memcpy(&v, member, sizeof(v));
        put_le64(p, (uint64_t)v);
    } else {
        memcpy(p, member, f->size);
    }
    return p + f->size;
}

static uint8_t *put_str(const pm_str_t *s, unsigned idx, uint8_t *p)
{
    *p++ = (uint8_t)(TAG_STR_BASE + idx);
    p += put_varint(p, s->len);
    memcpy(p, s->p, s->len);
    return p + s->len;
}

/* Exact size of the encoding; PM_ETOOBIG for a string the decoder would
 * refuse. Measuring first lets the encoding be one append. */
static int encoded_size(const pm_event_t *ev, size_t *out)
{
    size_t n = 2;
    for (size_t tag = 1; tag < PM_ARRAY_LEN(FIELDS); tag++)
        if (fixed_present(ev, &FIELDS[tag])) n += 2 + FIELDS[tag].size;
    for (unsigned i = 0; i < PM_EVS__COUNT; i++) {
        uint32_t len = ev->s[i].len;
        if (len > PM_JOURNAL_MAX_RECORD) return PM_ETOOBIG;
        if (len) n += 1 + varint_len(len) + len;
    }
    *out = n;
    return PM_OK;
}

static size_t encode_into(const pm_event_t *ev, uint8_t *start)
{
    uint8_t *p = start;
    *p++ = EVENT_VERSION;
    *p++ = (uint8_t)ev->type;
    for (size_t tag = 1; tag < PM_ARRAY_LEN(FIELDS); tag++)
        if (fixed_present(ev, &FIELDS[tag])) p = put_fixed(ev, (uint8_t)tag, &FIELDS[tag], p);
    for (unsigned i = 0; i < PM_EVS__COUNT; i++)
        if (ev->s[i].len) p = put_str(&ev->s[i], i, p);
    return (size_t)(p - start);
}

/* One append, so a failure leaves `out` as it was: a caller never journals
 * half an event. An invalid type is PM_EINVAL: the decoder would reject it. */
int pm_event_encode(const pm_event_t *ev, pm_buf_t *out)
{
    uint8_t stack[ENCODE_STACK];
    size_t size;
    if (!valid_type(ev->type)) return PM_EINVAL;
    int rc = encoded_size(ev, &size);
    if (rc != PM_OK) return rc;
    uint8_t *p = size <= sizeof(stack) ? stack : pm_malloc(size);
    size_t written = encode_into(ev, p);
    rc = PM_ALWAYS(written == size) ? pm_buf_append(out, p, size) : PM_EINVAL;
    if (p != stack) pm_free(p);
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

static int decode_fixed(pm_event_t *ev, const field_t *f, const uint8_t *v, uint32_t n)
{
    char *member = (char *)ev + f->off;
    if (n != f->size) return PM_ECORRUPT;
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
    if (tag < PM_ARRAY_LEN(FIELDS) && FIELDS[tag].size) return decode_fixed(ev, &FIELDS[tag], v, n);
    return PM_OK; /* unknown: a newer writer's field */
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

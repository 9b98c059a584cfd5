/*
 * money.c: exact money as int64 micro-units. Amounts arrive as text from
 * postbacks and the API, and a tracker's ledger must never drift, so the
 * parser is strict (plain decimals only; anything a float parser would
 * guess at, such as "1e3", " 1" or "1,000", is refused with a reason the
 * caller can echo) and arithmetic is integer-only and overflow-checked.
 */
#include "pm/money.h"

#include <string.h>

/*
 * ISO 4217 codes a conversion may carry, sorted for binary search: list one
 * without the precious metals, bond units, SDR, testing and "no currency"
 * codes (XAG XAU XBA-XBD XDR XPD XPT XSU XTS XUA XXX), which no ad network
 * pays in. ANG, BGN, CUC, SLL and ZWL have successors but are kept while
 * advertisers' feeds lag the switch-over; HRK (gone since 2023) is not.
 */
static const char currencies[][4] = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
};

#define FRACTION_DIGITS 6

static int fail(const char **why, const char *reason, int rc)
{
    if (why) *why = reason;
    return rc;
}

/* Accumulate the integer digits of s[*pos..] into *mag, refusing a value
 * past `limit` micro-units. Returns the number of digits, or -1 on overflow. */
static int parse_whole(const char *s, size_t len, size_t *pos, uint64_t limit, uint64_t *mag)
{
    uint64_t whole = 0;
    int n = 0;
    for (size_t i = *pos; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
        whole = whole * 10 + (uint64_t)(s[i] - '0');
        if (whole > limit / PM_MICROS) return -1;
    }
    *pos += (size_t)n;
    *mag = whole * PM_MICROS;
    return n;
}

/* The fraction after the '.' at s[*pos]: 1..6 digits, added to *mag. */
static int parse_fraction(const char *s, size_t len, size_t *pos, uint64_t *frac, const char **why)
{
    size_t i = *pos + 1;
    uint64_t scale = PM_MICROS / 10, f = 0;
    int n = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
        if (n == FRACTION_DIGITS) return fail(why, "more than 6 decimal places", PM_EINVAL);
        f += (uint64_t)(s[i] - '0') * scale;
        scale /= 10;
    }
    if (n == 0) return fail(why, "no digits after the decimal point", PM_EINVAL);
    *pos = i;
    *frac = f;
    return PM_OK;
}

int pm_money_parse(const char *s, size_t len, bool allow_negative, int64_t *micros,
                   const char **why)
{
    size_t pos = 0;
    uint64_t mag = 0, frac = 0;
    bool negative = len > 0 && s[0] == '-';
    if (len == 0) return fail(why, "empty amount", PM_EINVAL);
    if (negative && !allow_negative) return fail(why, "negative amount not allowed", PM_EINVAL);
    pos = negative;
    /* -INT64_MIN is one more than INT64_MAX. */
    uint64_t limit = (uint64_t)INT64_MAX + negative;
    int digits = parse_whole(s, len, &pos, limit, &mag);
    if (digits < 0) return fail(why, "amount out of range", PM_ERANGE);
    if (digits == 0) return fail(why, "not a decimal number", PM_EINVAL);
    if (pos < len && s[pos] == '.') {
        int rc = parse_fraction(s, len, &pos, &frac, why);
        if (rc != PM_OK) return rc;
    }
    if (pos != len) return fail(why, "not a decimal number", PM_EINVAL);
    if (frac > limit - mag) return fail(why, "amount out of range", PM_ERANGE);
    mag += frac;
    *micros = negative ? (int64_t)(0 - mag) : (int64_t)mag;
    return PM_OK;
}

size_t pm_money_format(int64_t micros, char *out)
{
    uint64_t mag = micros < 0 ? 0 - (uint64_t)micros : (uint64_t)micros;
    char tmp[PM_MONEY_STR_MAX];
    char *p = tmp + sizeof(tmp);
    uint64_t frac = mag % PM_MICROS, whole = mag / PM_MICROS;
    int keep = FRACTION_DIGITS;
    while (keep > 2 && frac % 10 == 0) {
        frac /= 10;
        keep--;
    }
    for (int i = 0; i < keep; i++, frac /= 10)
        *--p = (char)('0' + frac % 10);
    *--p = '.';
    do {
        *--p = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    if (micros < 0) *--p = '-';
    size_t n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

static int code_cmp(const void *key, const void *elem) { return memcmp(key, elem, 3); }

int pm_currency_parse(const char *s, size_t len, pm_currency_t *out)
{
    char code[4] = {0};
    if (len != 3) return PM_EINVAL;
    for (int i = 0; i < 3; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if (c < 'A' || c > 'Z') return PM_EINVAL;
        code[i] = c;
    }
    if (!bsearch(code, currencies, PM_ARRAY_LEN(currencies), sizeof(currencies[0]), code_cmp))
        return PM_EINVAL;
    memcpy(out->code, code, sizeof(code));
    return PM_OK;
}

int pm_money_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t sum;
    if (__builtin_add_overflow(a, b, &sum)) return PM_ERANGE;
    *out = sum;
    return PM_OK;
}

int pm_money_muldiv(int64_t micros, int64_t num, int64_t den, int64_t *out)
{
    if (den == 0) return PM_EINVAL;
    __int128 p = (__int128)micros * num;
    __int128 q = p / den, r = p % den;
    __int128 abs_r = r < 0 ? -r : r, abs_den = den < 0 ? -(__int128)den : den;
    /* Half away from zero: a remainder of at least half a unit moves the
     * quotient one step further from zero, in the sign of the exact result. */
    if (2 * abs_r >= abs_den) q += ((p < 0) != (den < 0)) ? -1 : 1;
    if (q > INT64_MAX || q < INT64_MIN) return PM_ERANGE;
    *out = (int64_t)q;
    return PM_OK;
}

/*
 * money.h: exact money. An amount is int64 micro-units (1 USD = 1,000,000)
 * with an explicit ISO 4217 currency code. No floating point ever touches an
 * amount. Parsing is strict: decimal strings only ("12.50", "0.4", "-3"),
 * at most 6 fraction digits, no exponent, no spaces, no '+', no thousands
 * separators, overflow rejected.
 */
#ifndef PM_MONEY_H
#define PM_MONEY_H

#include "pm/common.h"

#define PM_MICROS INT64_C(1000000)
#define PM_MONEY_STR_MAX 32 /* enough for "-9223372036854.775808" + NUL */

typedef struct pm_currency_s {
    char code[4]; /* "USD", NUL-terminated; "" = none */
} pm_currency_t;

typedef struct pm_money_s {
    int64_t micros;
    pm_currency_t currency;
} pm_money_t;

/* Parse a decimal amount into micro-units. `allow_negative` permits a
 * leading '-'. PM_EINVAL for malformed text (with *why set to a short static
 * reason such as "more than 6 decimal places"), PM_ERANGE on overflow.
 * `why` may be NULL. */
int pm_money_parse(const char *s, size_t len, bool allow_negative, int64_t *micros,
                   const char **why) PM_MUST_CHECK;

/* Format micro-units as a decimal string with at least 2 and at most 6
 * fraction digits, trailing zeros beyond the 2nd trimmed: 12500000 ->
 * "12.50", 1234567 -> "1.234567", -400000 -> "-0.40". `out` must hold
 * PM_MONEY_STR_MAX bytes. Returns the length. Can't fail. */
size_t pm_money_format(int64_t micros, char *out);

/* Validate and copy an ISO 4217 code: three ASCII letters that name an active
 * currency (the table in money.c); lower case is upper-cased. PM_EINVAL
 * otherwise. */
int pm_currency_parse(const char *s, size_t len, pm_currency_t *out) PM_MUST_CHECK;

/* Checked arithmetic: PM_ERANGE on overflow, *out untouched. */
int pm_money_add(int64_t a, int64_t b, int64_t *out) PM_MUST_CHECK;
/* micros * num / den, rounded half away from zero, without intermediate
 * overflow for |micros| < 2^62 and num, den < 2^31 (uses 128-bit math).
 * PM_EINVAL if den == 0, PM_ERANGE on overflow. For revenue shares and CPM
 * (cost per mille: price * 1 / 1000). */
int pm_money_muldiv(int64_t micros, int64_t num, int64_t den, int64_t *out) PM_MUST_CHECK;

#endif

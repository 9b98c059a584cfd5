/*
 * fuzz_money.c: the strict amount parser. Whatever parses must format and
 * parse back to the same micro-units, and the formatted text must fit its
 * documented buffer; currency codes and the arithmetic helpers ride along.
 */
#include "pm/money.h"

#include <string.h>

static void round_trip(const char *s, size_t len)
{
    int64_t v, back;
    const char *why = NULL;
    int rc = pm_money_parse(s, len, true, &v, &why);
    if (rc != PM_OK) {
        if (why == NULL || (rc != PM_EINVAL && rc != PM_ERANGE)) abort();
        return;
    }
    char out[PM_MONEY_STR_MAX];
    size_t n = pm_money_format(v, out);
    if (n >= PM_MONEY_STR_MAX || strlen(out) != n) abort();
    if (pm_money_parse(out, n, true, &back, NULL) != PM_OK || back != v) abort();
    /* Refusing negatives must refuse exactly the '-' texts. */
    rc = pm_money_parse(s, len, false, &back, NULL);
    if ((rc == PM_OK) != (s[0] != '-')) abort();
}

static void arithmetic(const uint8_t *data, size_t size)
{
    int64_t a, b, c, out;
    if (size < 24) return;
    memcpy(&a, data, 8);
    memcpy(&b, data + 8, 8);
    memcpy(&c, data + 16, 8);
    if (pm_money_add(a, b, &out) == PM_OK && out - b != a) abort();
    c = (int64_t)((uint64_t)c & INT32_MAX);
    if (pm_money_muldiv(a >> 2, b & INT32_MAX, c, &out) == PM_OK && c == 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pm_currency_t cur;
    round_trip((const char *)data, size);
    if (pm_currency_parse((const char *)data, size, &cur) == PM_OK && strlen(cur.code) != 3) abort();
    arithmetic(data, size);
    return 0;
}

/*
 * fuzz_macro.c: template expansion on arbitrary templates, with a resolver
 * that knows a few names (one of them known but absent). Checks that the
 * output cap holds, and that a template with no '{' is copied unchanged.
 */
#include "pm/macro.h"

#include <string.h>

static bool resolve(void *ctx, const char *name, size_t len, const char **value, size_t *value_len)
{
    static const char *const known[][2] = {
        {"clickid", "01ARYZ6S41TSV4RRFFQ69G5FAV"}, {"sub1", "a b&c={sub1}%"}, {"payout", "12.50"},
        {"empty", ""}, {"utf8", "caf\xc3\xa9\xff"},
    };
    (void)ctx;
    if (len == 4 && memcmp(name, "null", 4) == 0) {
        *value = NULL;
        *value_len = 0;
        return true;
    }
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strlen(known[i][0]) == len && memcmp(known[i][0], name, len) == 0) {
            *value = known[i][1];
            *value_len = strlen(known[i][1]);
            return true;
        }
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *tpl = (const char *)data;
    for (int encode = 0; encode < 2; encode++) {
        pm_buf_t out;
        pm_buf_init(&out, 4096);
        int rc = pm_macro_expand(&out, tpl, size, resolve, NULL, encode);
        if (rc != PM_OK && rc != PM_ETOOBIG) abort();
        if (out.len > out.max) abort();
        if (rc == PM_OK && memchr(tpl, '{', size) == NULL &&
            (out.len != size || (size && memcmp(out.data, tpl, size) != 0)))
            abort();
        pm_buf_free(&out);
    }
    return 0;
}

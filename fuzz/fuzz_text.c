/*
 * fuzz_text.c: the UTF-8 sanitizer. Output must be clean, NUL-terminated,
 * within its capacity (checked at several capacities, in an exactly sized
 * heap buffer so ASan sees any overrun), unchanged for clean input, and
 * idempotent.
 */
#include "pm/text.h"

#include <string.h>

static void sanitize_into(const char *in, size_t len, size_t cap)
{
    char *out = malloc(cap);
    bool changed = false;
    size_t n = pm_text_sanitize(in, len, out, cap, &changed);
    if (n >= cap || out[n] != '\0' || !pm_text_is_clean(out, n)) abort();
    if (!changed && (n != len || memcmp(in, out, len) != 0)) abort();
    if (pm_text_is_clean(in, len) && n == len && changed) abort();
    char *again = malloc(cap);
    size_t m = pm_text_sanitize(out, n, again, cap, &changed);
    if (m != n || changed || memcmp(out, again, n) != 0) abort();
    free(again);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    sanitize_into(in, size, 4);
    sanitize_into(in, size, 7);
    sanitize_into(in, size, size + 1);
    sanitize_into(in, size, 3 * size + 1);
    return 0;
}

/*
 * fuzz_qs.c: pm_qs_parse and pm_qs_parse_cookies on arbitrary bytes. Beyond
 * memory safety, checks what callers rely on: caps respected, every key and
 * value NUL-terminated, clean UTF-8, and pm_qs_get finding each stored key.
 */
#include "pm/qs.h"
#include "pm/text.h"

#include <string.h>

static void check(const pm_qs_t *qs)
{
    if (qs->count > PM_QS_MAX_PARAMS) abort();
    for (size_t i = 0; i < qs->count; i++) {
        const pm_qs_param_t *p = &qs->params[i];
        if (p->key_len == 0 || p->key_len > PM_QS_MAX_KEY || p->value_len > PM_QS_MAX_VALUE) abort();
        if (strlen(p->key) != p->key_len || strlen(p->value) != p->value_len) abort();
        if (!pm_text_is_clean(p->key, p->key_len) || !pm_text_is_clean(p->value, p->value_len)) abort();
        if (pm_qs_get(qs, p->key, NULL) == NULL) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pm_qs_t qs;
    pm_qs_parse(&qs, (const char *)data, size);
    check(&qs);
    pm_qs_free(&qs);
    pm_qs_parse_cookies(&qs, (const char *)data, size);
    check(&qs);
    pm_qs_free(&qs);
    return 0;
}

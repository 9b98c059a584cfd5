/*
 * macro.c: expanding tracker macros in URL templates, e.g. an offer URL
 * "https://offer.example/?cid={clickid}&s1={sub1}" on every redirect, or a
 * traffic source's postback URL on every conversion.
 *
 * Templates are written by people and by other trackers, so expansion never
 * fails on their content: text that is not a well-formed `{name}` is copied
 * untouched, and an unknown name is kept verbatim because it may belong to
 * the next system in the chain (a network's own {aff_sub} for instance).
 * Only the output cap can stop an expansion.
 */
#include "pm/macro.h"
#include "pm/qs.h"

#include <string.h>

#define MACRO_NAME_MAX 32

static bool is_name_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Length of a valid macro name after the '{' at s[0] when a '}' closes it,
 * else 0. */
static size_t macro_name_len(const char *s, size_t len)
{
    size_t n = 0;
    while (n < MACRO_NAME_MAX && 1 + n < len && is_name_char((unsigned char)s[1 + n]))
        n++;
    if (n == 0 || 1 + n >= len || s[1 + n] != '}') return 0;
    return n;
}

/* Append the value of macro `name`, or the macro text itself if unknown. */
static int expand_one(pm_buf_t *out, const char *name, size_t n, pm_macro_resolve_fn resolve,
                      void *ctx, bool encode)
{
    const char *value = NULL;
    size_t value_len = 0;
    if (!resolve(ctx, name, n, &value, &value_len)) return pm_buf_append(out, name - 1, n + 2);
    if (value == NULL || value_len == 0) return PM_OK;
    if (encode) return pm_url_encode(out, value, value_len);
    return pm_buf_append(out, value, value_len);
}

int pm_macro_expand(pm_buf_t *out, const char *tpl, size_t tpl_len, pm_macro_resolve_fn resolve,
                    void *ctx, bool encode)
{
    const char *p = tpl, *end = tpl + tpl_len;
    int rc = PM_OK;
    while (p < end && rc == PM_OK) {
        const char *brace = memchr(p, '{', (size_t)(end - p));
        const char *lit_end = brace ? brace : end;
        rc = pm_buf_append(out, p, (size_t)(lit_end - p));
        if (rc != PM_OK || brace == NULL) break;
        size_t n = macro_name_len(brace, (size_t)(end - brace));
        if (n == 0) {
            /* Not a macro: keep the '{' and look for one right after it. */
            rc = pm_buf_appendc(out, '{');
            p = brace + 1;
        } else {
            rc = expand_one(out, brace + 1, n, resolve, ctx, encode);
            p = brace + n + 2;
        }
    }
    return rc;
}

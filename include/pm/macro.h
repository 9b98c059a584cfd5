/*
 * macro.h: URL templates with tracker macros, e.g.
 *   "https://offer.example/?cid={clickid}&s1={sub1}&src={utm_source}"
 * A macro is `{name}` with name of [A-Za-z0-9_]{1,32}. Known names are
 * replaced by the percent-encoded value the resolver returns (an empty
 * string when the value is absent); unknown names are left verbatim, so a
 * template meant for another system survives. A '{' that does not open a
 * valid macro is copied as is. Thread-safe, pure.
 */
#ifndef PM_MACRO_H
#define PM_MACRO_H

#include "pm/buf.h"

/* Resolve macro `name` (not NUL-terminated). Return true and set *value /
 * *len when the macro is known (value may be NULL/0 for "known but empty");
 * false when unknown. */
typedef bool (*pm_macro_resolve_fn)(void *ctx, const char *name, size_t name_len, const char **value,
                                    size_t *len);

/* Expand `tpl` into `out` (appending). `encode` percent-encodes values
 * (true for URLs). PM_ETOOBIG if out's cap is reached. */
int pm_macro_expand(pm_buf_t *out, const char *tpl, size_t tpl_len, pm_macro_resolve_fn resolve,
                    void *ctx, bool encode) PM_MUST_CHECK;

#endif

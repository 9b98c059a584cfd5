/*
 * text.h: making untrusted text safe to store and echo. Thread-safe, pure.
 */
#ifndef PM_TEXT_H
#define PM_TEXT_H

#include "pm/common.h"

/*
 * Copy `in` to `out` (room for `out_cap` bytes including a NUL; out_cap >= 4)
 * keeping only valid UTF-8 (RFC 3629: no overlongs, no surrogates, <=
 * U+10FFFF) with C0 controls and DEL dropped (tab becomes a space) and every
 * invalid byte replaced by U+FFFD. Output is truncated at a character
 * boundary to fit. Returns the output length; sets *changed (may be NULL)
 * when anything was replaced, dropped or truncated. Can't fail.
 */
size_t pm_text_sanitize(const char *in, size_t in_len, char *out, size_t out_cap, bool *changed);

/* True if `s` is valid UTF-8 with no C0 control characters and no DEL. */
bool pm_text_is_clean(const char *s, size_t len);

/* Case-insensitive ASCII equality of two byte ranges. */
bool pm_text_ieq(const char *a, size_t alen, const char *b, size_t blen);

#endif

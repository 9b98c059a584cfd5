/*
 * qs.h: query strings and form bodies (application/x-www-form-urlencoded),
 * plus the Cookie header. Input is hostile: the number of parameters and the
 * length of each key and value are capped; percent-escapes are decoded, '+'
 * is a space, malformed escapes are kept literally (as browsers do); keys and
 * values are then made safe with pm_text_sanitize (valid UTF-8, no control
 * characters) so nothing downstream sees raw bytes.
 *
 * Parsed strings live in the caller's pm_qs_t (one allocation per parse,
 * freed with pm_qs_free). Not thread-safe per object.
 */
#ifndef PM_QS_H
#define PM_QS_H

#include "pm/common.h"

#define PM_QS_MAX_PARAMS 64
#define PM_QS_MAX_KEY 64
#define PM_QS_MAX_VALUE 2048 /* decoded bytes; longer values are truncated at a UTF-8 boundary */

typedef struct pm_qs_param_s {
    const char *key; /* NUL-terminated, decoded, sanitized */
    size_t key_len;
    const char *value;
    size_t value_len;
} pm_qs_param_t;

typedef struct pm_qs_s {
    pm_qs_param_t params[PM_QS_MAX_PARAMS];
    size_t count;
    size_t dropped;  /* parameters past PM_QS_MAX_PARAMS or with oversize keys */
    size_t truncated;/* values cut to PM_QS_MAX_VALUE */
    char *storage;   /* owns every key and value */
} pm_qs_t;

/* Parse "a=1&b=x%20y" (no leading '?'). Empty keys are skipped; "a" alone is
 * a = "". Input of any size is accepted (excess is dropped/counted, never an
 * error). Can't fail except for memory (which aborts). `qs` need not be
 * initialised; call pm_qs_free after. */
void pm_qs_parse(pm_qs_t *qs, const char *s, size_t len);

/* Parse a Cookie header ("a=1; b=2"): same caps, no percent-decoding, no '+'
 * rule, surrounding spaces trimmed, quotes around a value removed. */
void pm_qs_parse_cookies(pm_qs_t *qs, const char *s, size_t len);

void pm_qs_free(pm_qs_t *qs);

/* The first value for `key` (exact, case-sensitive), or NULL. Borrowed. */
const char *pm_qs_get(const pm_qs_t *qs, const char *key, size_t *len_out);

/* Percent-encode `s` for use inside a URL query value (RFC 3986 unreserved
 * kept, everything else %XX) appending to `b`. PM_ETOOBIG past b's cap. */
struct pm_buf_s;
int pm_url_encode(struct pm_buf_s *b, const char *s, size_t len) PM_MUST_CHECK;

#endif

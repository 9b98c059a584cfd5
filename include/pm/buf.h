/*
 * buf.h: a growable byte buffer with a hard cap (curl's dynbuf). Every buffer
 * that input can grow is a pm_buf_t with a cap set at init; appends past the
 * cap fail with PM_ETOOBIG and leave the buffer as it was.
 *
 * The buffer keeps a NUL after its contents so `data` can be used as a C
 * string when the contents hold no NUL. Not thread-safe; owned by its user.
 */
#ifndef PM_BUF_H
#define PM_BUF_H

#include "pm/common.h"

typedef struct pm_buf_s {
    char *data; /* NULL until the first append; else NUL-terminated */
    size_t len;
    size_t cap_alloc;
    size_t max; /* hard cap on len */
} pm_buf_t;

/* Initialise an empty buffer that may grow to `max` bytes. Can't fail. */
void pm_buf_init(pm_buf_t *b, size_t max);
/* Release the memory; the buffer is empty again (and reusable). */
void pm_buf_free(pm_buf_t *b);
/* Empty the buffer, keeping its memory. */
void pm_buf_reset(pm_buf_t *b);
/* Append bytes. PM_ETOOBIG past the cap (nothing appended). */
int pm_buf_append(pm_buf_t *b, const void *p, size_t n) PM_MUST_CHECK;
int pm_buf_appends(pm_buf_t *b, const char *s) PM_MUST_CHECK;
int pm_buf_appendc(pm_buf_t *b, char c) PM_MUST_CHECK;
int pm_buf_printf(pm_buf_t *b, const char *fmt, ...) PM_PRINTF(2, 3) PM_MUST_CHECK;
/* Take the contents (caller frees with pm_free); the buffer is empty after.
 * Returns an empty allocated string when nothing was appended. */
char *pm_buf_take(pm_buf_t *b, size_t *len_out);
/* Contents as a C string ("" when empty); borrowed. */
static inline const char *pm_buf_str(const pm_buf_t *b) { return b->data ? b->data : ""; }

#endif

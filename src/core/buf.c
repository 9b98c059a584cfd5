/*
 * buf.c: the capped growable buffer (see pm/buf.h).
 */
#include "pm/buf.h"

#include <stdio.h>
#include <string.h>

void pm_buf_init(pm_buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap_alloc = 0;
    b->max = max;
}

void pm_buf_free(pm_buf_t *b)
{
    pm_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap_alloc = 0;
}

void pm_buf_reset(pm_buf_t *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

static int reserve(pm_buf_t *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) return PM_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap_alloc) return PM_OK;
    size_t cap = b->cap_alloc ? b->cap_alloc : 64;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1) cap = b->max + 1;
    b->data = pm_realloc(b->data, cap);
    b->cap_alloc = cap;
    return PM_OK;
}

int pm_buf_append(pm_buf_t *b, const void *p, size_t n)
{
    int rc = reserve(b, n);
    if (rc != PM_OK) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return PM_OK;
}

int pm_buf_appends(pm_buf_t *b, const char *s) { return pm_buf_append(b, s, strlen(s)); }

int pm_buf_appendc(pm_buf_t *b, char c) { return pm_buf_append(b, &c, 1); }

int pm_buf_printf(pm_buf_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) return PM_EINVAL;
    if ((size_t)n < sizeof(small)) return pm_buf_append(b, small, (size_t)n);
    int rc = reserve(b, (size_t)n);
    if (rc != PM_OK) return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return PM_OK;
}

char *pm_buf_take(pm_buf_t *b, size_t *len_out)
{
    char *p = b->data ? b->data : pm_strdup("");
    if (len_out) *len_out = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap_alloc = 0;
    return p;
}

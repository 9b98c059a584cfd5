/*
 * csv.c: the strict CSV reader (see pm/csv.h). One pass over the bytes of
 * a record; a malformed record is skipped to the end of its line so the
 * following records still read.
 */
#include "pm/csv.h"

#include <string.h>

void pm_csv_init(pm_csv_t *c, const char *p, size_t len)
{
    memset(c, 0, offsetof(pm_csv_t, store));
    c->p = p;
    c->len = len;
    c->next_line = 1;
}

/* Skip to just past the next newline (error recovery). */
static void skip_line(pm_csv_t *c)
{
    while (c->pos < c->len && c->p[c->pos] != '\n')
        c->pos++;
    if (c->pos < c->len) c->pos++, c->next_line++;
}

static int fail(pm_csv_t *c, const char *why)
{
    c->error = why;
    skip_line(c);
    return PM_EINVAL;
}

/* Read one field starting at c->pos into `out`; *end says whether the
 * record ended after it. */
static int read_field(pm_csv_t *c, char *out, size_t *n, bool *end)
{
    bool quoted = c->pos < c->len && c->p[c->pos] == '"';
    *n = 0;
    if (quoted) c->pos++;
    for (;;) {
        if (c->pos >= c->len) {
            if (quoted) return fail(c, "unterminated quoted field");
            *end = true;
            return PM_OK;
        }
        char ch = c->p[c->pos++];
        if (ch == '\0') return fail(c, "NUL byte");
        if (quoted && ch == '"') {
            if (c->pos < c->len && c->p[c->pos] == '"') {
                c->pos++;
            } else {
                quoted = false;
                if (c->pos < c->len && !strchr(",\r\n", c->p[c->pos])) return fail(c, "text after a closing quote");
                continue;
            }
        } else if (!quoted && ch == '"') {
            return fail(c, "quote inside an unquoted field");
        } else if (!quoted && ch == ',') {
            *end = false;
            return PM_OK;
        } else if (!quoted && (ch == '\n' || ch == '\r')) {
            if (ch == '\r' && (c->pos >= c->len || c->p[c->pos] != '\n')) return fail(c, "CR without LF");
            if (ch == '\r') c->pos++;
            c->next_line++;
            *end = true;
            return PM_OK;
        } else if (ch == '\n') {
            c->next_line++; /* a newline inside quotes: part of the field */
        }
        if (*n == PM_CSV_MAX_FIELD) return fail(c, "field longer than 1024 bytes");
        out[(*n)++] = ch;
    }
}

static bool blank_line(const pm_csv_t *c)
{
    return c->p[c->pos] == '\n' || (c->p[c->pos] == '\r' && c->pos + 1 < c->len && c->p[c->pos + 1] == '\n');
}

int pm_csv_next(pm_csv_t *c)
{
    while (c->pos < c->len && blank_line(c)) {
        c->pos += c->p[c->pos] == '\r' ? 2 : 1;
        c->next_line++;
    }
    if (c->pos >= c->len) return PM_ENOTFOUND;
    c->line = c->next_line;
    c->nfields = 0;
    bool end = false;
    while (!end) {
        if (c->nfields == PM_CSV_MAX_FIELDS) return fail(c, "more than 32 fields");
        char *out = c->store + c->nfields * (PM_CSV_MAX_FIELD + 1);
        size_t n;
        int rc = read_field(c, out, &n, &end);
        if (rc != PM_OK) return rc;
        out[n] = '\0';
        c->field[c->nfields] = out;
        c->field_len[c->nfields++] = n;
    }
    return PM_OK;
}

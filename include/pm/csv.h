/*
 * csv.h: a strict RFC 4180 reader for imports (offline conversions):
 * comma-separated fields, optionally double-quoted (a quote inside a quoted
 * field is doubled), records ended by LF or CRLF, a final record without a
 * newline accepted. Input is untrusted: field count and field length are
 * capped, NUL bytes and stray quotes are errors, and an error names its line.
 *
 * pm_csv_next() returns one record at a time from a borrowed buffer; field
 * texts are copied into the reader's own storage (unquoted), valid until
 * the next call. Pure; one reader per thread.
 */
#ifndef PM_CSV_H
#define PM_CSV_H

#include "pm/common.h"

#define PM_CSV_MAX_FIELDS 32
#define PM_CSV_MAX_FIELD  1024

typedef struct pm_csv_s {
    const char *p;
    size_t len, pos;
    uint64_t line;      /* line number of the record last returned (1-based) */
    uint64_t next_line; /* where the next record starts */
    size_t nfields;
    const char *field[PM_CSV_MAX_FIELDS];
    size_t field_len[PM_CSV_MAX_FIELDS];
    char store[PM_CSV_MAX_FIELDS * (PM_CSV_MAX_FIELD + 1)];
    const char *error; /* static reason of the last PM_EINVAL */
} pm_csv_t;

/* Start reading `p` (borrowed, len bytes). Can't fail. */
void pm_csv_init(pm_csv_t *c, const char *p, size_t len);

/* The next record into c->field / c->nfields (c->line = its first line).
 * PM_OK; PM_ENOTFOUND at the end of the input; PM_EINVAL for a malformed
 * record (c->error says why, c->line where), after which reading resumes
 * at the next line. Blank lines are skipped. */
int pm_csv_next(pm_csv_t *c) PM_MUST_CHECK;

#endif

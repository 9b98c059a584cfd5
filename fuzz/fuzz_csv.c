/*
 * fuzz_csv.c: arbitrary bytes through the CSV reader of conversion imports
 * (src/model/csv.c). Beyond memory safety: the reader always advances and
 * ends, line numbers never go back, caps hold, and every record it accepts
 * reads back the same after being written out again in canonical form
 * (every field quoted, quotes doubled).
 */
#include "pm/csv.h"

#include <stdlib.h>
#include <string.h>

static pm_csv_t a, b;
static char out[PM_CSV_MAX_FIELDS * (2 * PM_CSV_MAX_FIELD + 3) + 2];

static size_t canonical(const pm_csv_t *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nfields; i++) {
        if (i) out[n++] = ',';
        out[n++] = '"';
        for (size_t j = 0; j < c->field_len[i]; j++) {
            if (c->field[i][j] == '"') out[n++] = '"';
            out[n++] = c->field[i][j];
        }
        out[n++] = '"';
    }
    out[n++] = '\n';
    return n;
}

static void round_trip(const pm_csv_t *c)
{
    size_t n = canonical(c);
    pm_csv_init(&b, out, n);
    if (pm_csv_next(&b) != PM_OK || b.nfields != c->nfields) abort();
    for (size_t i = 0; i < c->nfields; i++)
        if (b.field_len[i] != c->field_len[i] || memcmp(b.field[i], c->field[i], c->field_len[i]) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pm_csv_init(&a, (const char *)data, size);
    uint64_t last = 0;
    for (size_t guard = 0; guard <= size + 1; guard++) {
        size_t before = a.pos;
        int rc = pm_csv_next(&a);
        if (rc == PM_ENOTFOUND) return 0;
        if (a.line < last || a.pos <= before || a.pos > size) abort();
        last = a.line;
        if (rc == PM_EINVAL) {
            if (a.error == NULL) abort();
            continue;
        }
        if (rc != PM_OK || a.nfields == 0 || a.nfields > PM_CSV_MAX_FIELDS) abort();
        for (size_t i = 0; i < a.nfields; i++)
            if (a.field_len[i] > PM_CSV_MAX_FIELD || a.field[i][a.field_len[i]] != '\0') abort();
        /* A field with a NUL cannot come back; the reader rejects NUL. */
        round_trip(&a);
    }
    abort(); /* no progress */
}

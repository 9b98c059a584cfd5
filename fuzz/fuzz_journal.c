/*
 * fuzz_journal.c: pm_journal_scan over an arbitrary segment file. The input
 * is written to one temp file per run and scanned as a finished segment and
 * as a live one. Invariants: the scan never fails on content, stops within
 * the file, delivers only records whose header and CRC check out against the
 * file's own bytes, in increasing order, and accounts for every byte: each
 * one is in a delivered record, a skipped corrupt region, or the torn tail.
 * A live scan delivers the same records and stops where the tail begins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "pm/journal.h"

static char path[64];
static int fd = -1;

typedef struct check_s {
    const uint8_t *data;
    size_t size;
    uint64_t last_end, record_bytes, records;
} check_t;

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static int on_record(void *ctx, const uint8_t *payload, size_t len, uint64_t end)
{
    check_t *c = ctx;
    if (end > c->size || end < len + PM_JOURNAL_HEADER || len > PM_JOURNAL_MAX_RECORD) __builtin_trap();
    const uint8_t *rec = c->data + end - len - PM_JOURNAL_HEADER;
    if (end - len - PM_JOURNAL_HEADER < c->last_end) __builtin_trap(); /* overlap or reorder */
    if (le32(rec) != PM_JOURNAL_MAGIC || le32(rec + 4) != len) __builtin_trap();
    uLong crc = crc32(crc32(0L, rec + 4, 4), rec + PM_JOURNAL_HEADER, (uInt)len);
    if ((uint32_t)crc != le32(rec + 8) || memcmp(payload, rec + PM_JOURNAL_HEADER, len) != 0) __builtin_trap();
    c->last_end = end;
    c->record_bytes += len + PM_JOURNAL_HEADER;
    c->records++;
    return 0;
}

static void remove_file(void) { unlink(path); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pm_log_set_level(PM_LOG_ERROR); /* every skip warns; the fuzzer makes many */
    /* tmpfs if there is one: truncating a file on a disk (with discard)
     * each run costs milliseconds and slows the fuzzer forty-fold. */
    snprintf(path, sizeof(path), "/dev/shm/fuzz-journal-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0) {
        snprintf(path, sizeof(path), "/tmp/fuzz-journal-XXXXXX");
        fd = mkstemp(path);
    }
    if (fd < 0) abort();
    atexit(remove_file);
    return 0;
}

static void write_input(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0) abort();
    if (size && pwrite(fd, data, size, 0) != (ssize_t)size) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_t full = {.data = data, .size = size}, live = {.data = data, .size = size};
    pm_journal_scan_t r, lr;
    write_input(data, size);
    if (pm_journal_scan(path, 0, UINT64_MAX, true, on_record, &full, &r) != PM_OK) __builtin_trap();
    if (r.end_offset != size || r.records != full.records) __builtin_trap();
    if (full.record_bytes + r.corrupt_bytes + (r.torn_tail ? r.torn_bytes : 0) != size) __builtin_trap();
    if (r.torn_tail && r.torn_offset + r.torn_bytes != size) __builtin_trap();
    if (pm_journal_scan(path, 0, UINT64_MAX, false, on_record, &live, &lr) != PM_OK) __builtin_trap();
    if (lr.records != r.records || lr.corrupt != r.corrupt || lr.torn_tail) __builtin_trap();
    if (lr.end_offset != (r.torn_tail ? r.torn_offset : size)) __builtin_trap();
    return 0;
}

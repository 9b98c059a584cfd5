/*
 * journal.h: the append-only journal that makes "acknowledged" mean durable.
 *
 * Each event loop owns one journal *lineage* (numbered 0..n-1); a lineage is
 * a sequence of segment files `<dir>/L<lineage:03>-<seq:010>.pmj`. Every
 * server start opens a fresh segment (seq = last + 1), so a torn tail left by
 * a crash is never appended to. A segment is rotated past `segment_max`.
 *
 * Record on disk (little-endian):
 *   u32 magic 0x314A4D50 ("PMJ1") | u32 payload length | u32 crc32 | payload
 * crc32 (zlib) covers the length field and the payload. A reader that meets
 * a bad record reports it and resynchronises on the next magic whose record
 * checks out; a partial record at the end of a dead segment is a torn tail.
 *
 * Durability: pm_journal_append() write(2)s the record before it returns
 * (pm_journal_stage(): at the next pm_journal_flush()), so
 * a process crash (kill -9) loses nothing appended. A syncer thread per
 * journal fdatasync(2)s in groups: every `sync_interval_us`, or at once when
 * pm_journal_request_sync() is called (conversions: money waits for the
 * fsync that covers it). After each fdatasync the `on_synced` callback runs
 * on the syncer thread with the highest LSN now on stable storage.
 *
 * An LSN is the count of bytes appended to this journal object since it was
 * opened (a position in this process' life of the lineage, not a file
 * offset). Threading: append/request_sync belong to the owning thread;
 * written/synced queries are thread-safe.
 */
#ifndef PM_JOURNAL_H
#define PM_JOURNAL_H

#include "pm/common.h"

#define PM_JOURNAL_MAGIC UINT32_C(0x314A4D50)
#define PM_JOURNAL_HEADER 12
#define PM_JOURNAL_MAX_RECORD (1u << 20) /* payload cap: 1 MiB */

typedef struct pm_journal_s pm_journal_t;

typedef void (*pm_journal_synced_fn)(void *arg, uint64_t synced_lsn);

typedef struct pm_journal_config_s {
    const char *dir;            /* created if missing */
    unsigned lineage;
    uint64_t segment_max;       /* bytes; 0 = 64 MiB */
    int64_t sync_interval_us;   /* 0 = 10 ms */
    pm_journal_synced_fn on_synced; /* may be NULL */
    void *on_synced_arg;
} pm_journal_config_t;

/* Open a new segment for the lineage and start its syncer thread.
 * -errno on I/O failure. *out owned by the caller (pm_journal_close). */
int pm_journal_open(const pm_journal_config_t *cfg, pm_journal_t **out) PM_MUST_CHECK;

/* fdatasync what is pending, stop the syncer, close. Accepts NULL. */
void pm_journal_close(pm_journal_t *j);

/* Append one record (payload of `len` bytes, <= PM_JOURNAL_MAX_RECORD).
 * Returns PM_OK with *lsn_out = the LSN just past the record, PM_ETOOBIG for
 * an oversize payload, or -errno if the write failed (nothing appended: a
 * partial write is truncated away). Owning thread only. */
int pm_journal_append(pm_journal_t *j, const void *payload, size_t len, uint64_t *lsn_out) PM_MUST_CHECK;

/* Staged appends, for the event loop's clicks and impressions: the record
 * is copied into the journal's stage and written, with every record staged
 * beside it, by one pwrite in pm_journal_flush() (or by the next
 * pm_journal_append(), which writes the stage first, so the file keeps the
 * order of the calls). A staged record is not written: whoever answers for
 * it (the click's redirect) must wait for the flush. PM_ETOOBIG, else
 * PM_OK; a record too big to stage is written at once. Owning thread. */
int pm_journal_stage(pm_journal_t *j, const void *payload, size_t len) PM_MUST_CHECK;

/* Write the staged records (one pwrite). PM_OK, or -errno when the write
 * failed: then none of them is in the journal and *lost (may be NULL) says
 * how many were dropped. Owning thread. */
int pm_journal_flush(pm_journal_t *j, uint64_t *lost) PM_MUST_CHECK;

/* Records staged and not yet flushed. */
size_t pm_journal_staged(const pm_journal_t *j);

/* Ask the syncer to fdatasync now (group commit). Cheap; owning thread. */
void pm_journal_request_sync(pm_journal_t *j);

/* Highest LSN covered by a completed fdatasync. Thread-safe. */
uint64_t pm_journal_synced_lsn(pm_journal_t *j);

/* The current segment and how many bytes of it hold complete records;
 * readers may read up to that. Thread-safe. */
void pm_journal_written(pm_journal_t *j, uint32_t *seq, uint64_t *offset);
unsigned pm_journal_lineage(const pm_journal_t *j);

/* Statistics for /metrics. Thread-safe. */
typedef struct pm_journal_stats_s {
    uint64_t records, bytes, fsyncs, write_errors;
} pm_journal_stats_t;
void pm_journal_stats(pm_journal_t *j, pm_journal_stats_t *out);

/* --- reading ------------------------------------------------------------ */

typedef struct pm_jsegment_s {
    unsigned lineage;
    uint32_t seq;
    char path[512];
} pm_jsegment_t;

/* List the segments in `dir`, sorted by (lineage, seq). *out is pm_malloc'd
 * (caller pm_free's it); a missing directory gives 0 segments. -errno. */
int pm_journal_list(const char *dir, pm_jsegment_t **out, size_t *n) PM_MUST_CHECK;

/* Path of a segment. `out` holds >= 512 bytes. */
void pm_journal_segment_path(const char *dir, unsigned lineage, uint32_t seq, char *out, size_t cap);

/* Called for each valid record: payload and the file offset just past it.
 * A non-zero return stops the scan and is returned by pm_journal_scan. */
typedef int (*pm_journal_record_fn)(void *ctx, const uint8_t *payload, size_t len, uint64_t end_offset);

typedef struct pm_journal_scan_s {
    uint64_t end_offset;    /* where the scan stopped: resume here */
    uint64_t records;
    uint64_t corrupt;       /* corrupt regions skipped (mid-file) */
    uint64_t corrupt_bytes;
    bool torn_tail;         /* an incomplete/bad record ran to EOF */
    uint64_t torn_offset, torn_bytes;
} pm_journal_scan_t;

/*
 * Scan segment `path` from `from` up to `limit` bytes (UINT64_MAX = to
 * EOF). With `complete` (a segment no writer will extend), a bad or partial
 * record at the end is a torn tail: reported in *res and end_offset moves
 * past it (EOF). Without it (a live segment read up to its written offset),
 * the scan stops before an incomplete record. Corrupt regions in the middle
 * are skipped by resynchronising on the next valid record and counted. Every
 * skip is logged with the path and offsets. Returns PM_OK, the callback's
 * non-zero value, or -errno.
 */
int pm_journal_scan(const char *path, uint64_t from, uint64_t limit, bool complete, pm_journal_record_fn fn,
                    void *ctx, pm_journal_scan_t *res) PM_MUST_CHECK;

#endif

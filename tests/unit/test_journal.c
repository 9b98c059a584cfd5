/*
 * test_journal.c: the journal, end to end on real files under /tmp.
 * Appends come back from scans in order across rotations; a reopen starts a
 * new segment; corruption mid-file is skipped and counted; a torn tail is
 * reported (complete scans) or waited for (live scans); the syncer reports
 * increasing LSNs; a reader thread tailing a live journal sees only whole
 * records; listing sorts segments and ignores everything else.
 *
 * Every record i carries i in its first 4 bytes and a pattern derived from
 * i after it, so a scan can check order and content without a copy.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "pm/journal.h"

#define HDR PM_JOURNAL_HEADER

/* --- fixtures ------------------------------------------------------------- */

static int setup_dir(void **state)
{
    char *dir = strdup("/tmp/pmj-test-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    *state = dir;
    pm_log_set_level(PM_LOG_ERROR); /* the skips we provoke warn by design */
    return 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (unlink(path) != 0) remove_tree(path);
    }
    closedir(d);
    rmdir(dir);
}

static int teardown_dir(void **state)
{
    remove_tree(*state);
    free(*state);
    return 0;
}

/* --- records -------------------------------------------------------------- */

static size_t record_len(uint32_t i) { return 4 + (i * 37u) % 300u; }

static void make_record(uint32_t i, uint8_t *out)
{
    size_t len = record_len(i);
    memcpy(out, &i, 4);
    for (size_t k = 4; k < len; k++)
        out[k] = (uint8_t)(i * 31u + k);
}

static bool record_ok(const uint8_t *p, size_t len, uint32_t *index)
{
    uint8_t want[512];
    if (len < 4) return false;
    memcpy(index, p, 4);
    if (record_len(*index) != len) return false;
    make_record(*index, want);
    return memcmp(want, p, len) == 0;
}

static pm_journal_t *open_journal(const char *dir, unsigned lineage, uint64_t segment_max)
{
    pm_journal_config_t cfg = {.dir = dir, .lineage = lineage, .segment_max = segment_max};
    pm_journal_t *j = NULL;
    assert_int_equal(pm_journal_open(&cfg, &j), PM_OK);
    assert_non_null(j);
    return j;
}

/* Append records [first, first + n); returns the last LSN. */
static uint64_t append_range(pm_journal_t *j, uint32_t first, uint32_t n)
{
    uint8_t rec[512];
    uint64_t lsn = 0, prev;
    pm_journal_stats_t st;
    pm_journal_stats(j, &st);
    prev = st.bytes;
    for (uint32_t i = first; i < first + n; i++) {
        make_record(i, rec);
        assert_int_equal(pm_journal_append(j, rec, record_len(i), &lsn), PM_OK);
        assert_true(lsn == prev + HDR + record_len(i));
        prev = lsn;
    }
    return lsn;
}

/* What a scan saw. Records must come in increasing index order. */
typedef struct seen_s {
    uint32_t count;
    uint32_t indices[4096];
    uint64_t ends[4096];
    int stop_at; /* return non-zero at this count (-1: never) */
    int bad;
} seen_t;

static int collect(void *ctx, const uint8_t *payload, size_t len, uint64_t end_offset)
{
    seen_t *s = ctx;
    uint32_t index;
    if (s->stop_at >= 0 && s->count == (uint32_t)s->stop_at) return 7;
    if (!record_ok(payload, len, &index) || s->count >= 4096) {
        s->bad++;
        return 0;
    }
    s->indices[s->count] = index;
    s->ends[s->count++] = end_offset;
    return 0;
}

static void scan_all(const char *path, uint64_t from, bool complete, seen_t *s, pm_journal_scan_t *res)
{
    memset(s, 0, sizeof(*s));
    s->stop_at = -1;
    assert_int_equal(pm_journal_scan(path, from, UINT64_MAX, complete, collect, s, res), PM_OK);
    assert_int_equal(s->bad, 0);
    assert_int_equal(res->records, s->count);
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static void xor_byte(const char *path, uint64_t off, uint8_t mask)
{
    int fd = open(path, O_RDWR);
    uint8_t c;
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
    c ^= mask;
    assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
    close(fd);
}

/* One segment holding records [0, n): its path in `path`, scan into s. */
static void write_one_segment(const char *dir, uint32_t n, char *path, seen_t *s)
{
    pm_journal_t *j = open_journal(dir, 0, 0);
    uint32_t seq;
    uint64_t off;
    append_range(j, 0, n);
    pm_journal_written(j, &seq, &off);
    pm_journal_close(j);
    pm_journal_segment_path(dir, 0, seq, path, 512);
    assert_true(file_size(path) == off);
    pm_journal_scan_t res;
    scan_all(path, 0, true, s, &res);
    assert_int_equal(s->count, n);
}

/* --- tests ---------------------------------------------------------------- */

static void test_round_trip_across_rotation(void **state)
{
    const char *dir = *state;
    pm_journal_t *j = open_journal(dir, 0, 4096);
    uint64_t lsn = append_range(j, 0, 2000);
    pm_journal_stats_t st;
    pm_journal_stats(j, &st);
    assert_true(st.records == 2000 && st.bytes == lsn && st.write_errors == 0);
    pm_journal_close(j);

    pm_jsegment_t *segs;
    size_t n;
    assert_int_equal(pm_journal_list(dir, &segs, &n), PM_OK);
    assert_true(n > 50);
    uint32_t next = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        seen_t s;
        pm_journal_scan_t res;
        assert_true(i == 0 || segs[i].seq == segs[i - 1].seq + 1);
        assert_true(file_size(segs[i].path) <= 4096);
        scan_all(segs[i].path, 0, true, &s, &res);
        assert_true(res.corrupt == 0 && !res.torn_tail && res.end_offset == file_size(segs[i].path));
        for (uint32_t k = 0; k < s.count; k++)
            assert_int_equal(s.indices[k], next++);
        total += res.end_offset;
    }
    assert_int_equal(next, 2000);
    assert_true(total == lsn);
    free(segs);
}

static void test_reopen_gives_new_segment(void **state)
{
    const char *dir = *state;
    uint32_t seq1, seq2, seq3;
    uint64_t off;
    pm_journal_t *j = open_journal(dir, 0, 0);
    append_range(j, 0, 3);
    pm_journal_written(j, &seq1, &off);
    pm_journal_close(j);

    j = open_journal(dir, 0, 0);
    pm_journal_written(j, &seq2, &off);
    assert_int_equal(seq2, seq1 + 1);
    assert_true(off == 0);
    assert_int_equal(pm_journal_lineage(j), 0);
    append_range(j, 3, 1);
    pm_journal_close(j);

    j = open_journal(dir, 7, 0); /* another lineage numbers on its own */
    pm_journal_written(j, &seq3, &off);
    assert_int_equal(seq3, 1);
    pm_journal_close(j);

    pm_jsegment_t *segs;
    size_t n;
    assert_int_equal(pm_journal_list(dir, &segs, &n), PM_OK);
    assert_int_equal(n, 3);
    assert_true(segs[0].seq == seq1 && segs[1].seq == seq2 && segs[2].lineage == 7);
    free(segs);
}

static void test_scan_from_middle_and_limit(void **state)
{
    const char *dir = *state;
    char path[512];
    seen_t all, s;
    pm_journal_scan_t res;
    write_one_segment(dir, 100, path, &all);

    scan_all(path, all.ends[49], true, &s, &res);
    assert_int_equal(s.count, 50);
    assert_int_equal(s.indices[0], 50);
    assert_true(res.end_offset == file_size(path) && res.corrupt == 0);

    memset(&s, 0, sizeof(s));
    s.stop_at = -1;
    assert_int_equal(pm_journal_scan(path, 0, all.ends[9], false, collect, &s, &res), PM_OK);
    assert_true(s.count == 10 && res.end_offset == all.ends[9]);

    /* A callback that stops the scan gets its value back; end_offset is
     * before the refused record, so resuming delivers it again. */
    memset(&s, 0, sizeof(s));
    s.stop_at = 20;
    assert_int_equal(pm_journal_scan(path, 0, UINT64_MAX, true, collect, &s, &res), 7);
    assert_true(res.records == 20 && res.end_offset == all.ends[19]);

    assert_true(pm_journal_scan("/nonexistent/x.pmj", 0, UINT64_MAX, true, collect, &s, &res) == -ENOENT);
}

/* Flip one byte of record 50 (magic, length, crc or payload): exactly that
 * record is skipped and counted, the ones after it still arrive. */
static void test_corrupt_byte_mid_file(void **state)
{
    const char *dir = *state;
    static const struct {
        uint32_t at;
        uint8_t mask;
    } hits[] = {{0, 0xFF}, {1, 0x01}, {5, 0x01}, {6, 0x10}, {9, 0x80}, {HDR + 2, 0x04}};
    char path[512];
    seen_t all, s;
    write_one_segment(dir, 100, path, &all);
    uint64_t start = all.ends[49], rec = all.ends[50] - all.ends[49];
    for (size_t h = 0; h < PM_ARRAY_LEN(hits); h++) {
        pm_journal_scan_t res;
        xor_byte(path, start + hits[h].at, hits[h].mask);
        scan_all(path, 0, true, &s, &res);
        assert_int_equal(s.count, 99);
        assert_int_equal(s.indices[49], 49);
        assert_int_equal(s.indices[50], 51);
        assert_true(res.corrupt == 1 && res.corrupt_bytes == rec && !res.torn_tail);
        assert_true(res.end_offset == file_size(path));
        xor_byte(path, start + hits[h].at, hits[h].mask); /* heal for the next case */
    }
    /* Two regions, one of them the very first record. */
    pm_journal_scan_t res;
    xor_byte(path, 0, 0x01);
    xor_byte(path, all.ends[79] + HDR, 0x01);
    scan_all(path, 0, true, &s, &res);
    assert_true(s.count == 98 && s.indices[0] == 1 && res.corrupt == 2);
}

static void test_torn_tail(void **state)
{
    const char *dir = *state;
    char path[512];
    seen_t all, s;
    pm_journal_scan_t res;
    write_one_segment(dir, 100, path, &all);
    uint64_t last = all.ends[98], size = all.ends[99];

    /* Cut inside the payload, then inside the header. */
    const uint64_t cuts[] = {size - 5, last + 6, last + 1};
    for (size_t c = 0; c < PM_ARRAY_LEN(cuts); c++) {
        assert_int_equal(truncate(path, (off_t)cuts[c]), 0);
        scan_all(path, 0, true, &s, &res);
        assert_int_equal(s.count, 99);
        assert_true(res.torn_tail && res.torn_offset == last && res.torn_bytes == cuts[c] - last);
        assert_true(res.end_offset == cuts[c] && res.corrupt == 0);
    }
    /* Zeros after the last record (preallocation, a crash): a torn tail. */
    assert_int_equal(truncate(path, (off_t)(last + 4096)), 0);
    scan_all(path, 0, true, &s, &res);
    assert_true(s.count == 99 && res.torn_tail && res.torn_bytes == 4096);
}

static void test_live_scan_stops_before_partial(void **state)
{
    const char *dir = *state;
    char path[512];
    seen_t all, s;
    pm_journal_scan_t res;
    write_one_segment(dir, 100, path, &all);
    uint64_t last = all.ends[98], size = all.ends[99];
    uint8_t tail[512];
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_true(pread(fd, tail, size - last, (off_t)last) == (ssize_t)(size - last));
    assert_int_equal(ftruncate(fd, (off_t)(size - 5)), 0);

    scan_all(path, 0, false, &s, &res);
    assert_int_equal(s.count, 99);
    assert_true(!res.torn_tail && res.corrupt == 0 && res.end_offset == last);

    /* The writer finishes the record: resuming delivers it. */
    assert_true(pwrite(fd, tail, size - last, (off_t)last) == (ssize_t)(size - last));
    close(fd);
    scan_all(path, res.end_offset, false, &s, &res);
    assert_true(s.count == 1 && s.indices[0] == 99 && res.end_offset == size);
}

/* --- large segments against a reference scanner ----------------------------
 * Files larger than the scan window (2 MiB) with random damage, scanned by
 * pm_journal_scan and by a naive whole-file scanner that resynchronises one
 * byte at a time: both must agree on every record and every skip. This is
 * what reaches the window refills, which the small fuzz inputs cannot. */

typedef struct offsets_s {
    uint64_t *v;
    size_t n, cap;
} offsets_t;

static void offsets_push(offsets_t *o, uint64_t x)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 256;
        o->v = realloc(o->v, o->cap * sizeof(*o->v));
    }
    o->v[o->n++] = x;
}

static int collect_offsets(void *ctx, const uint8_t *payload, size_t len, uint64_t end_offset)
{
    offsets_push(ctx, end_offset);
    return 0;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static bool ref_valid(const uint8_t *d, uint64_t size, uint64_t at, uint64_t *next)
{
    if (size - at < HDR || rd32(d + at) != PM_JOURNAL_MAGIC) return false;
    uint32_t n = rd32(d + at + 4);
    if (n > PM_JOURNAL_MAX_RECORD || size - at - HDR < n) return false;
    uint32_t crc = (uint32_t)crc32(crc32(0L, d + at + 4, 4), d + at + HDR, n);
    *next = at + HDR + n;
    return crc == rd32(d + at + 8);
}

static void ref_scan(const uint8_t *d, uint64_t size, bool complete, offsets_t *out, pm_journal_scan_t *res)
{
    uint64_t pos = 0, next, q;
    memset(res, 0, sizeof(*res));
    while (pos < size) {
        if (ref_valid(d, size, pos, &next)) {
            offsets_push(out, next);
            res->records++;
            pos = next;
            continue;
        }
        for (q = pos + 1; q < size && !ref_valid(d, size, q, &next); q++)
            ;
        if (q < size) {
            res->corrupt++;
            res->corrupt_bytes += q - pos;
            pos = q;
            continue;
        }
        if (complete) {
            res->torn_tail = true;
            res->torn_offset = pos;
            res->torn_bytes = size - pos;
            pos = size;
        }
        break;
    }
    res->end_offset = pos;
}

/* Mostly click-sized records with a near-1 MiB one every 97: about 9 MiB. */
static size_t large_len(uint32_t i) { return i % 97 == 0 ? 600000 + (i * 7919u) % 448000 : 4 + (i * 37u) % 300u; }

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void damage(uint8_t *d, uint64_t size, uint64_t *rng)
{
    int hits = 1 + (int)(xorshift(rng) % 6);
    for (int h = 0; h < hits; h++) {
        uint64_t at = xorshift(rng) % size;
        if (xorshift(rng) % 3 == 0) {
            uint64_t n = 1 + xorshift(rng) % 5000;
            memset(d + at, 0, (size_t)(n < size - at ? n : size - at));
        } else {
            d[at] ^= (uint8_t)(1u << (xorshift(rng) % 8));
        }
    }
}

static void compare_scans(const char *path, const uint8_t *d, uint64_t size, bool complete)
{
    offsets_t got = {0}, want = {0};
    pm_journal_scan_t r, w;
    assert_int_equal(pm_journal_scan(path, 0, UINT64_MAX, complete, collect_offsets, &got, &r), PM_OK);
    ref_scan(d, size, complete, &want, &w);
    assert_int_equal(got.n, want.n);
    if (got.n) assert_memory_equal(got.v, want.v, got.n * sizeof(*got.v));
    assert_true(r.records == w.records && r.corrupt == w.corrupt && r.corrupt_bytes == w.corrupt_bytes);
    assert_true(r.torn_tail == w.torn_tail && r.torn_offset == w.torn_offset && r.torn_bytes == w.torn_bytes);
    assert_true(r.end_offset == w.end_offset);
    free(got.v);
    free(want.v);
}

static void test_large_segments_match_reference(void **state)
{
    const char *dir = *state;
    pm_journal_t *j = open_journal(dir, 0, 0);
    uint8_t *rec = calloc(1, PM_JOURNAL_MAX_RECORD);
    uint64_t lsn, rng = 0x9E3779B97F4A7C15u;
    for (uint32_t i = 0; i < 1200; i++) {
        memcpy(rec, &i, 4);
        assert_int_equal(pm_journal_append(j, rec, large_len(i), &lsn), PM_OK);
    }
    uint32_t seq;
    uint64_t size;
    pm_journal_written(j, &seq, &size);
    pm_journal_close(j);
    free(rec);
    char path[512], copy[600];
    pm_journal_segment_path(dir, 0, seq, path, sizeof(path));
    snprintf(copy, sizeof(copy), "%s/damaged", dir);
    uint8_t *orig = malloc(size), *d = malloc(size);
    int fd = open(path, O_RDONLY);
    assert_true(pread(fd, orig, size, 0) == (ssize_t)size);
    close(fd);
    compare_scans(path, orig, size, true);
    /* Lengths just past the cap, with megabytes behind them to "fit". */
    memcpy(d, orig, size);
    const uint8_t over[4] = {0x01, 0x00, 0x10, 0x00}; /* MAX_RECORD + 1 */
    memcpy(d + 4, over, 4);
    memcpy(d + size / 2 - (size / 2) % 4096, "PMJ1\x00\x00\x30\x00", 8); /* 3 MiB: past the window */
    fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(pwrite(fd, d, size, 0) == (ssize_t)size);
    close(fd);
    compare_scans(copy, d, size, true);
    for (int round = 0; round < 12; round++) {
        memcpy(d, orig, size);
        damage(d, size, &rng);
        uint64_t cut = round % 3 == 2 ? size - xorshift(&rng) % 2000000 : size; /* sometimes torn */
        fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(pwrite(fd, d, cut, 0) == (ssize_t)cut);
        close(fd);
        compare_scans(copy, d, cut, true);
        compare_scans(copy, d, cut, false);
    }
    free(orig);
    free(d);
}

/* The file shrinks under the scanner (an operator truncating a segment):
 * the scan ends where the data ends, with the cut record as its torn tail. */
typedef struct shrink_s {
    offsets_t seen;
    const char *path;
    uint64_t to;
} shrink_t;

static int shrink_on_first(void *ctx, const uint8_t *payload, size_t len, uint64_t end_offset)
{
    shrink_t *sh = ctx;
    if (sh->seen.n == 0 && truncate(sh->path, (off_t)sh->to) != 0) return -1;
    offsets_push(&sh->seen, end_offset);
    return 0;
}

static void test_file_shrinks_during_scan(void **state)
{
    const char *dir = *state;
    pm_journal_t *j = open_journal(dir, 0, 0);
    uint8_t *rec = calloc(1, PM_JOURNAL_MAX_RECORD);
    uint64_t lsn, size;
    uint32_t seq;
    for (uint32_t i = 0; i < 900; i++) /* about 8 MiB */
        assert_int_equal(pm_journal_append(j, rec, large_len(i), &lsn), PM_OK);
    pm_journal_written(j, &seq, &size);
    pm_journal_close(j);
    free(rec);
    char path[512];
    pm_journal_segment_path(dir, 0, seq, path, sizeof(path));
    shrink_t sh = {.path = path, .to = size / 2 + 5};
    pm_journal_scan_t res;
    assert_int_equal(pm_journal_scan(path, 0, UINT64_MAX, true, shrink_on_first, &sh, &res), PM_OK);
    assert_true(size > 3 * 2 * (uint64_t)PM_JOURNAL_MAX_RECORD); /* several windows */
    assert_true(res.end_offset <= sh.to && res.torn_tail && res.torn_offset + res.torn_bytes == res.end_offset);
    assert_true(sh.seen.n > 1 && sh.seen.v[sh.seen.n - 1] <= sh.to);
    free(sh.seen.v);
}

/* Write `pre` junk bytes, then the segment's bytes from `from` on. */
static void write_with_gap(const char *path, const uint8_t *seg, uint64_t seg_size, const uint8_t *head,
                           uint64_t head_len, uint64_t gap, uint64_t from)
{
    uint64_t size = head_len + gap + (seg_size - from);
    uint8_t *d = calloc(1, size);
    memcpy(d, head, head_len);
    memcpy(d + head_len + gap, seg + from, seg_size - from);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(pwrite(fd, d, size, 0) == (ssize_t)size);
    close(fd);
    free(d);
}

/* Resynchronisation at its edges: a record right after one junk byte, after
 * a partial magic, and a record whose magic straddles the end of the scan
 * window (2 * (MAX_RECORD + HEADER) bytes, reached by a long zeroed run). */
static void test_resync_edges(void **state)
{
    const char *dir = *state;
    char path[512], other[600];
    seen_t all, s;
    pm_journal_scan_t res;
    write_one_segment(dir, 100, path, &all);
    uint64_t size = all.ends[99];
    uint8_t *seg = malloc(size);
    int fd = open(path, O_RDONLY);
    assert_true(pread(fd, seg, size, 0) == (ssize_t)size);
    close(fd);
    snprintf(other, sizeof(other), "%s/edges", dir);

    const uint8_t junk[] = "\x50\x4D\x4A"; /* "PMJ": a magic cut short */
    for (uint64_t n = 1; n <= 3; n++) {
        write_with_gap(other, seg, size, junk, n, 0, 0);
        scan_all(other, 0, true, &s, &res);
        assert_true(s.count == 100 && res.corrupt == 1 && res.corrupt_bytes == n && !res.torn_tail);
    }
    const uint64_t window = 2 * ((uint64_t)PM_JOURNAL_MAX_RECORD + HDR);
    for (uint64_t start = window - 5; start <= window + 1; start++) {
        uint64_t gap = start - all.ends[0];
        write_with_gap(other, seg, size, seg, all.ends[0], gap, all.ends[0]);
        scan_all(other, 0, true, &s, &res);
        assert_true(s.count == 100 && res.corrupt == 1 && res.corrupt_bytes == gap && !res.torn_tail);
    }
    free(seg);
}

/* --- syncing -------------------------------------------------------------- */

typedef struct sync_seen_s {
    _Atomic uint64_t last;
    _Atomic uint64_t calls;
    _Atomic int decreasing;
} sync_seen_t;

static void on_synced(void *arg, uint64_t lsn)
{
    sync_seen_t *s = arg;
    if (lsn <= atomic_load(&s->last)) atomic_store(&s->decreasing, 1);
    atomic_store(&s->last, lsn);
    atomic_fetch_add(&s->calls, 1);
}

static bool wait_synced(pm_journal_t *j, uint64_t lsn)
{
    for (int i = 0; i < 5000; i++) {
        if (pm_journal_synced_lsn(j) >= lsn) return true;
        usleep(1000);
    }
    return false;
}

static void test_on_synced_after_request(void **state)
{
    const char *dir = *state;
    sync_seen_t seen = {0};
    pm_journal_config_t cfg = {
        .dir = dir, .sync_interval_us = 60 * 1000000, .on_synced = on_synced, .on_synced_arg = &seen};
    pm_journal_t *j;
    assert_int_equal(pm_journal_open(&cfg, &j), PM_OK);
    for (uint32_t round = 0; round < 20; round++) {
        uint64_t lsn = append_range(j, round * 10, 10);
        pm_journal_request_sync(j);
        pm_journal_request_sync(j); /* a second ask while one is pending is free */
        assert_true(wait_synced(j, lsn));
        /* synced_lsn is stored before the callback runs: wait for both. */
        for (int i = 0; i < 5000 && atomic_load(&seen.last) < lsn; i++)
            usleep(1000);
        assert_true(atomic_load(&seen.last) >= lsn);
    }
    pm_journal_stats_t st;
    pm_journal_stats(j, &st);
    assert_true(st.fsyncs >= 1 && st.fsyncs <= 20);
    pm_journal_request_sync(j); /* nothing new: no fsync */
    usleep(20000);
    pm_journal_stats_t st2;
    pm_journal_stats(j, &st2);
    assert_true(st2.fsyncs == st.fsyncs);
    uint64_t lsn = append_range(j, 1000, 5); /* close syncs what is pending */
    pm_journal_close(j);
    assert_true(atomic_load(&seen.last) == lsn);
    assert_int_equal(atomic_load(&seen.decreasing), 0);
}

static void test_periodic_sync(void **state)
{
    const char *dir = *state;
    sync_seen_t seen = {0};
    pm_journal_config_t cfg = {
        .dir = dir, .sync_interval_us = 2000, .on_synced = on_synced, .on_synced_arg = &seen};
    pm_journal_t *j;
    assert_int_equal(pm_journal_open(&cfg, &j), PM_OK);
    uint64_t lsn = append_range(j, 0, 50);
    assert_true(wait_synced(j, lsn)); /* no request: the interval does it */
    pm_journal_close(j);
    assert_int_equal(atomic_load(&seen.decreasing), 0);
}

/* --- a reader thread tailing the writer ------------------------------------ */

#define TAIL_RECORDS 20000

typedef struct tail_s {
    pm_journal_t *j;
    const char *dir;
    uint32_t first_seq; /* read before the writer starts: it may rotate at once */
    uint32_t next;     /* index expected next */
    int errors;        /* cmocka asserts are for the main thread only */
    uint64_t corrupt;
} tail_t;

static int tail_record(void *ctx, const uint8_t *payload, size_t len, uint64_t end_offset)
{
    tail_t *t = ctx;
    uint32_t index;
    if (!record_ok(payload, len, &index) || index != t->next) t->errors++;
    t->next = index + 1;
    return 0;
}

/* Scan one segment from *pos: a finished one to its end, the live one up
 * to the written offset. */
static void tail_segment(tail_t *t, uint32_t seq, uint64_t *pos, uint64_t limit, bool complete)
{
    char path[512];
    pm_journal_scan_t res;
    pm_journal_segment_path(t->dir, 0, seq, path, sizeof(path));
    if (pm_journal_scan(path, *pos, limit, complete, tail_record, t, &res) != PM_OK) t->errors++;
    if (res.torn_tail) t->errors++;
    t->corrupt += res.corrupt;
    *pos = res.end_offset;
}

static void *tail_main(void *arg)
{
    tail_t *t = arg;
    uint32_t cur = t->first_seq, seq;
    uint64_t pos = 0, off;
    while (t->next < TAIL_RECORDS && t->errors == 0) {
        pm_journal_written(t->j, &seq, &off);
        for (; cur < seq; cur++, pos = 0)
            tail_segment(t, cur, &pos, UINT64_MAX, true);
        tail_segment(t, cur, &pos, off, false);
        if (pos != off) t->errors++; /* written offsets fall on record boundaries */
        sched_yield();
    }
    return NULL;
}

static void test_concurrent_reader(void **state)
{
    const char *dir = *state;
    pm_journal_t *j = open_journal(dir, 0, 64 * 1024);
    tail_t t = {.j = j, .dir = dir};
    uint64_t off;
    pm_journal_written(j, &t.first_seq, &off);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, tail_main, &t), 0);
    append_range(j, 0, TAIL_RECORDS);
    pm_journal_request_sync(j);
    assert_int_equal(pthread_join(th, NULL), 0);
    pm_journal_close(j);
    assert_int_equal(t.errors, 0);
    assert_int_equal(t.next, TAIL_RECORDS);
    assert_true(t.corrupt == 0);
}

/* --- write failures ---------------------------------------------------------- */

/* A file-size limit inside the record makes the kernel write part of it and
 * fail the retry (EFBIG): the append must fail and leave no partial record. */
/* Make writes past `bytes` fail with EFBIG (SIGXFSZ ignored); returns the
 * limit to restore. */
static struct rlimit limit_file_size(uint64_t bytes)
{
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    low = old;
    low.rlim_cur = bytes;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
    return old;
}

static void test_failed_write_leaves_no_partial_record(void **state)
{
    const char *dir = *state;
    pm_journal_t *j = open_journal(dir, 0, 0);
    uint64_t lsn = append_range(j, 0, 10), lsn2;
    uint32_t seq;
    uint64_t off;
    pm_journal_written(j, &seq, &off);
    struct rlimit old = limit_file_size(off + 20);
    uint8_t rec[512];
    make_record(10, rec);
    int rc = pm_journal_append(j, rec, record_len(10), &lsn2);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, -EFBIG);
    char path[512];
    pm_journal_segment_path(dir, 0, seq, path, sizeof(path));
    assert_true(file_size(path) == off); /* the 20 bytes that made it are gone */
    pm_journal_stats_t st;
    pm_journal_stats(j, &st);
    assert_true(st.write_errors == 1 && st.records == 10 && st.bytes == lsn);
    assert_true(append_range(j, 10, 5) > lsn); /* and the journal goes on */
    pm_journal_close(j);
    seen_t s;
    pm_journal_scan_t res;
    scan_all(path, 0, true, &s, &res);
    assert_true(s.count == 15 && s.indices[10] == 10 && res.corrupt == 0 && !res.torn_tail);
}

/* Staged records reach the file only at the flush (or before the next
 * plain append), in call order, and never split across a rotation. */
static void test_staged_records(void **state)
{
    const char *dir = *state;
    pm_journal_t *j = open_journal(dir, 0, 4096);
    uint8_t rec[512];
    uint32_t seq0, seq;
    uint64_t off0, off;
    pm_journal_written(j, &seq0, &off0);
    for (uint32_t i = 0; i < 5; i++) {
        make_record(i, rec);
        assert_int_equal(pm_journal_stage(j, rec, record_len(i)), PM_OK);
    }
    assert_int_equal(pm_journal_staged(j), 5);
    pm_journal_written(j, &seq, &off);
    assert_true(seq == seq0 && off == off0); /* nothing written, nothing published */
    uint64_t lost = 99;
    assert_int_equal(pm_journal_flush(j, &lost), PM_OK);
    assert_true(lost == 0 && pm_journal_staged(j) == 0);
    pm_journal_stats_t st;
    pm_journal_stats(j, &st);
    assert_true(st.records == 5);
    pm_journal_written(j, &seq, &off);
    uint64_t expect = 0;
    for (uint32_t i = 0; i < 5; i++)
        expect += HDR + record_len(i);
    assert_true(off == expect);
    /* A plain append writes the stage first. */
    make_record(5, rec);
    assert_int_equal(pm_journal_stage(j, rec, record_len(5)), PM_OK);
    uint64_t lsn;
    make_record(6, rec);
    assert_int_equal(pm_journal_append(j, rec, record_len(6), &lsn), PM_OK);
    assert_int_equal(pm_journal_staged(j), 0);
    /* Many more than a segment holds, staged: the batches rotate whole. */
    for (uint32_t i = 7; i < 1500; i++) {
        make_record(i, rec);
        assert_int_equal(pm_journal_stage(j, rec, record_len(i)), PM_OK);
        if (i % 17 == 0) assert_int_equal(pm_journal_flush(j, NULL), PM_OK);
    }
    pm_journal_close(j); /* flushes the rest */

    pm_jsegment_t *segs;
    size_t n;
    assert_int_equal(pm_journal_list(dir, &segs, &n), PM_OK);
    assert_true(n > 20);
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        seen_t s;
        pm_journal_scan_t res;
        scan_all(segs[i].path, 0, true, &s, &res);
        assert_true(res.corrupt == 0 && !res.torn_tail);
        assert_true(file_size(segs[i].path) <= 4096);
        for (uint32_t k = 0; k < s.count; k++)
            assert_int_equal(s.indices[k], next++);
    }
    assert_int_equal(next, 1500);
    free(segs);
}

/* A failed flush drops the whole batch, says how many, leaves no partial
 * record, and the journal goes on. */
static void test_failed_flush(void **state)
{
    const char *dir = *state;
    pm_journal_t *j = open_journal(dir, 0, 0);
    uint64_t lsn = append_range(j, 0, 3);
    uint32_t seq;
    uint64_t off;
    pm_journal_written(j, &seq, &off);
    uint8_t rec[512];
    for (uint32_t i = 3; i < 9; i++) {
        make_record(i, rec);
        assert_int_equal(pm_journal_stage(j, rec, record_len(i)), PM_OK);
    }
    struct rlimit old = limit_file_size(off + 100);
    uint64_t lost = 0;
    int rc = pm_journal_flush(j, &lost);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, -EFBIG);
    assert_true(lost == 6 && pm_journal_staged(j) == 0);
    char path[512];
    pm_journal_segment_path(dir, 0, seq, path, sizeof(path));
    assert_true(file_size(path) == off);
    pm_journal_stats_t st;
    pm_journal_stats(j, &st);
    assert_true(st.write_errors == 1 && st.records == 3 && st.bytes == lsn);
    make_record(9, rec);
    assert_int_equal(pm_journal_stage(j, rec, record_len(9)), PM_OK);
    pm_journal_close(j);
    seen_t s;
    pm_journal_scan_t res;
    scan_all(path, 0, true, &s, &res);
    assert_true(s.count == 4 && s.indices[3] == 9 && res.corrupt == 0 && !res.torn_tail);
}

/* Out of fds at rotation time: appending goes on in the full segment (a
 * segment over its size beats refusing clicks), and rotation is retried. */
static void test_rotation_failure_keeps_appending(void **state)
{
    const char *dir = *state;
    pm_journal_t *j = open_journal(dir, 0, 4096);
    uint32_t seq0, seq;
    uint64_t off;
    pm_journal_written(j, &seq0, &off);
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 64;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fds[64], nfds = 0;
    while (nfds < 64 && (fds[nfds] = dup(0)) >= 0)
        nfds++;
    append_range(j, 0, 60); /* logs the failed rotations (expected) */ /* about 10 KB: past segment_max twice */
    pm_journal_written(j, &seq, &off);
    while (nfds > 0)
        close(fds[--nfds]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_true(seq == seq0 && off > 4096);
    append_range(j, 60, 60);
    pm_journal_written(j, &seq, &off);
    assert_true(seq > seq0);
    pm_journal_close(j);
}

/* --- listing and limits ---------------------------------------------------- */

static void touch(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
}

static void test_list_orders_and_ignores_junk(void **state)
{
    const char *dir = *state;
    static const char *const names[] = {
        "L002-0000000003.pmj", "L001-0000000010.pmj", "L001-0000000002.pmj", "L1000-0000000001.pmj",
        /* junk */
        "foo", "L001-0000000002.pmj.tmp", "L01-0000000001.pmj", "L001-000000001.pmj", "L001-00000000011.pmj",
        "X001-0000000001.pmj", "L001-0000000001.pmJ", "L-01-0000000001.pmj", "L001-+000000001.pmj",
        "L001-9999999999.pmj", ".L001-0000000001.pmj"};
    for (size_t i = 0; i < PM_ARRAY_LEN(names); i++)
        touch(dir, names[i]);
    char sub[1024];
    snprintf(sub, sizeof(sub), "%s/L003-0000000001.pmj", dir);
    assert_int_equal(mkdir(sub, 0755), 0);

    pm_jsegment_t *segs;
    size_t n;
    assert_int_equal(pm_journal_list(dir, &segs, &n), PM_OK);
    assert_int_equal(n, 4);
    assert_true(segs[0].lineage == 1 && segs[0].seq == 2);
    assert_true(segs[1].lineage == 1 && segs[1].seq == 10);
    assert_true(segs[2].lineage == 2 && segs[2].seq == 3);
    assert_true(segs[3].lineage == 1000 && segs[3].seq == 1);
    char want[512];
    pm_journal_segment_path(dir, 1, 10, want, sizeof(want));
    assert_string_equal(segs[1].path, want);
    pm_free(segs);

    char missing[1024];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    assert_int_equal(pm_journal_list(missing, &segs, &n), PM_OK);
    assert_int_equal(n, 0);
    pm_free(segs);
}

/* ctx: size_t[2] = {lengths seen..., next slot}; keeps the last two. */
static int note_len(void *ctx, const uint8_t *payload, size_t len, uint64_t end_offset)
{
    size_t *lens = ctx;
    if (len == PM_JOURNAL_MAX_RECORD && payload[len - 1] == 0xAB) lens[0] = len;
    else lens[1] = len;
    return 0;
}

static void test_append_limits(void **state)
{
    const char *dir = *state;
    pm_journal_t *j = open_journal(dir, 0, 0);
    uint8_t *big = calloc(1, (size_t)PM_JOURNAL_MAX_RECORD + 1);
    uint64_t lsn = 0;
    assert_int_equal(pm_journal_append(j, big, (size_t)PM_JOURNAL_MAX_RECORD + 1, &lsn), PM_ETOOBIG);
    big[PM_JOURNAL_MAX_RECORD - 1] = 0xAB;
    assert_int_equal(pm_journal_append(j, big, PM_JOURNAL_MAX_RECORD, &lsn), PM_OK);
    assert_int_equal(pm_journal_append(j, "", 0, &lsn), PM_OK);
    assert_true(lsn == 2 * HDR + PM_JOURNAL_MAX_RECORD);
    uint32_t seq;
    uint64_t off;
    pm_journal_written(j, &seq, &off);
    pm_journal_close(j);
    free(big);

    char path[512];
    pm_journal_segment_path(dir, 0, seq, path, sizeof(path));
    pm_journal_scan_t res;
    size_t lens[2] = {0, 1};
    assert_int_equal(pm_journal_scan(path, 0, UINT64_MAX, true, note_len, lens, &res), PM_OK);
    assert_true(res.records == 2 && res.end_offset == off && res.corrupt == 0);
    assert_true(lens[0] == PM_JOURNAL_MAX_RECORD && lens[1] == 0);
}

static void test_open_fails_cleanly(void **state)
{
    const char *dir = *state;
    char file[1024];
    snprintf(file, sizeof(file), "%s/plain", dir);
    touch(dir, "plain");
    pm_journal_config_t cfg = {.dir = file};
    pm_journal_t *j = (pm_journal_t *)&cfg;
    assert_true(pm_journal_open(&cfg, &j) < 0);
    assert_null(j);
    pm_journal_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_across_rotation, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_staged_records, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_failed_flush, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_reopen_gives_new_segment, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_scan_from_middle_and_limit, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_corrupt_byte_mid_file, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_live_scan_stops_before_partial, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_large_segments_match_reference, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_resync_edges, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_file_shrinks_during_scan, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_on_synced_after_request, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_periodic_sync, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_concurrent_reader, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_failed_write_leaves_no_partial_record, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_rotation_failure_keeps_appending, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_list_orders_and_ignores_junk, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_append_limits, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_open_fails_cleanly, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

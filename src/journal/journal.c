/*
 * journal.c: the append-only journal (see pm/journal.h).
 *
 * Three parties touch a journal. The owning thread appends: one pwritev(2)
 * per record, no lock and no allocation, then publishes the new end of the
 * segment through a seqlock so reader threads can ask how far it holds whole
 * records. The syncer thread fdatasync(2)s in groups and publishes the synced
 * LSN. Readers (recovery, the materializer) never touch the journal object
 * beyond pm_journal_written(): they scan segment files with pm_journal_scan.
 *
 * Syncer and writer share the segment fd. When the writer rotates it swaps
 * in the new fd under the mutex and hands the old one to the syncer (the
 * "retired" list) instead of syncing it itself: a 64 MiB segment's last
 * fdatasync took up to 74 ms here, a stall no click should wait through.
 * A sync round takes the retired fds, the directory (dirty after a new
 * segment) and the current fd together, syncs them all and only then
 * advances the synced LSN, so every LSN it captured is covered. Only the
 * syncer closes retired fds, so no fd number is reused under an fdatasync.
 *
 * An fdatasync failure is sticky: after one, Linux may have dropped the dirty
 * pages and a retry can succeed without the data ("fsyncgate"), so the synced
 * LSN never advances again for this journal object and the error is counted.
 * Money then waits (and times out) rather than being acknowledged as durable.
 */
#include "pm/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define DEFAULT_SEGMENT_MAX (UINT64_C(64) << 20)
#define DEFAULT_SYNC_INTERVAL_US INT64_C(10000)
#define PATH_CAP 512
/* A window must hold the largest record; twice that keeps refills rare. */
#define SCAN_BUF (2 * ((size_t)PM_JOURNAL_MAX_RECORD + PM_JOURNAL_HEADER))
#define NO_RECORD UINT64_MAX
/* Tries to create a segment when another process raced us to a name. */
#define CREATE_ATTEMPTS 16
/* Rotations the syncer may fall behind before the writer syncs them itself. */
#define RETIRED_MAX 8
/* Staged records are written together once this many bytes wait: a loop
 * turn's clicks are a few KiB, so it bounds only a burst. */
#define STAGE_MAX ((size_t)64 << 10)

struct pm_journal_s {
    /* Configuration, immutable after open. */
    char *dir;
    unsigned lineage;
    uint64_t segment_max;
    int64_t sync_interval_us;
    pm_journal_synced_fn on_synced;
    void *on_synced_arg;

    /* Owning thread. fd is also read by the syncer, under mu. */
    int fd;
    uint32_t seq;
    uint64_t offset;    /* bytes of whole records in the segment */
    uint64_t lsn;       /* bytes appended since open */
    uint64_t rotate_at; /* offset past which the next append rotates */
    bool must_rotate;   /* a failed write left bytes we could not cut off */
    uint8_t *stage;     /* staged records (headers and payloads), not yet written */
    size_t staged;      /* bytes in stage */
    uint64_t staged_records;

    /* Published by the owning thread. (seq, offset) form a seqlock: an odd
     * generation means an update is in progress. */
    _Atomic uint64_t pub_gen;
    _Atomic uint32_t pub_seq;
    _Atomic uint64_t pub_offset;
    _Atomic uint64_t written_lsn;
    _Atomic uint64_t records;
    _Atomic bool sync_requested;
    char pad_[64]; /* keep the writer's lines apart from the syncer's */

    /* Published by the syncer. */
    _Atomic uint64_t synced_lsn;
    _Atomic uint64_t fsyncs;
    _Atomic uint64_t write_errors;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* the syncer waits here: request, stop, interval */
    pthread_cond_t idle; /* a full retired list waits here for a round */
    int retired[RETIRED_MAX]; /* under mu: rotated-out fds not yet synced */
    unsigned n_retired;       /* under mu */
    bool dir_dirty;           /* under mu: a segment was created since */
    bool syncing;             /* under mu: a round is running unlocked */
    bool stop;                /* under mu */
    bool sync_failed;         /* under mu; sticky, see the top of the file */
    int dir_fd;
    bool sync_primitives;
    bool thread_started;
    pthread_t thread;
};

/* --- small helpers -------------------------------------------------------- */

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* crc32 over the 4 length bytes and the payload: a length bit flipped on
 * disk must fail the check, not send the reader into the weeds. */
static uint32_t record_crc(const uint8_t *len_field, const void *payload, size_t len)
{
    uLong crc = crc32(0L, len_field, 4);
    return (uint32_t)crc32(crc, payload, (uInt)len);
}

static void encode_header(uint8_t *hdr, const void *payload, size_t len)
{
    put_le32(hdr, PM_JOURNAL_MAGIC);
    put_le32(hdr + 4, (uint32_t)len);
    put_le32(hdr + 8, record_crc(hdr + 4, payload, len));
}

/* Owning thread only, so a load-and-store beats a locked add. */
static void bump(_Atomic uint64_t *counter, uint64_t by)
{
    uint64_t v = atomic_load_explicit(counter, memory_order_relaxed);
    atomic_store_explicit(counter, v + by, memory_order_relaxed);
}

void pm_journal_segment_path(const char *dir, unsigned lineage, uint32_t seq, char *out, size_t cap)
{
    snprintf(out, cap, "%s/L%03u-%010" PRIu32 ".pmj", dir, lineage, seq);
}

/* --- directories and segment files -------------------------------------- */

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST) return PM_OK;
    return -errno;
}

/* mkdir -p: the configured directory may be several levels deep. */
static int make_dirs(const char *dir)
{
    char *copy = pm_strdup(dir);
    int rc = PM_OK;
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        rc = make_dir(copy);
        *p = '/';
        if (rc != PM_OK) goto out;
    }
    rc = make_dir(copy);
out:
    pm_free(copy);
    return rc;
}

/* Create segment *seq, or the next free one if a name is taken (a second
 * process on the same lineage is a misconfiguration, but it must not make
 * us append to its file). */
static int create_segment(const char *dir, unsigned lineage, uint32_t *seq, int *fd_out)
{
    char path[PATH_CAP];
    for (int i = 0; i < CREATE_ATTEMPTS; i++, (*seq)++) {
        pm_journal_segment_path(dir, lineage, *seq, path, sizeof(path));
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EEXIST) continue;
        if (fd < 0) return -errno;
        *fd_out = fd; /* its name is durable once the directory is synced */
        return PM_OK;
    }
    return -EEXIST;
}

/* The seq after the highest one on disk for this lineage (1 if none). */
static int next_seq(const char *dir, unsigned lineage, uint32_t *seq)
{
    pm_jsegment_t *segs = NULL;
    size_t n = 0;
    int rc = pm_journal_list(dir, &segs, &n);
    if (rc != PM_OK) goto out;
    *seq = 1;
    for (size_t i = 0; i < n; i++)
        if (segs[i].lineage == lineage && segs[i].seq >= *seq) *seq = segs[i].seq + 1;
out:
    pm_free(segs);
    return rc;
}

/* --- publication ---------------------------------------------------------- */

static void publish(pm_journal_t *j)
{
    uint64_t gen = atomic_load_explicit(&j->pub_gen, memory_order_relaxed);
    atomic_store_explicit(&j->pub_gen, gen + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&j->pub_seq, j->seq, memory_order_relaxed);
    atomic_store_explicit(&j->pub_offset, j->offset, memory_order_relaxed);
    atomic_store_explicit(&j->pub_gen, gen + 2, memory_order_release);
    atomic_store_explicit(&j->written_lsn, j->lsn, memory_order_release);
}

void pm_journal_written(pm_journal_t *j, uint32_t *seq, uint64_t *offset)
{
    uint64_t g1, g2;
    do {
        g1 = atomic_load_explicit(&j->pub_gen, memory_order_acquire);
        *seq = atomic_load_explicit(&j->pub_seq, memory_order_relaxed);
        *offset = atomic_load_explicit(&j->pub_offset, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        g2 = atomic_load_explicit(&j->pub_gen, memory_order_relaxed);
    } while ((g1 & 1) || g1 != g2);
}

uint64_t pm_journal_synced_lsn(pm_journal_t *j) { return atomic_load_explicit(&j->synced_lsn, memory_order_acquire); }

unsigned pm_journal_lineage(const pm_journal_t *j) { return j->lineage; }

void pm_journal_stats(pm_journal_t *j, pm_journal_stats_t *out)
{
    out->records = atomic_load_explicit(&j->records, memory_order_relaxed);
    out->bytes = atomic_load_explicit(&j->written_lsn, memory_order_relaxed);
    out->fsyncs = atomic_load_explicit(&j->fsyncs, memory_order_relaxed);
    out->write_errors = atomic_load_explicit(&j->write_errors, memory_order_relaxed);
}

/* --- the syncer ----------------------------------------------------------- */

static struct timespec deadline_after(int64_t us)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (us % 1000000) * 1000;
    ts.tv_sec += (time_t)(us / 1000000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

/* mu held. Sleep until a request, a stop or the interval; true if stopping. */
static bool wait_for_work(pm_journal_t *j)
{
    struct timespec deadline = deadline_after(j->sync_interval_us);
    while (!j->stop && !atomic_load_explicit(&j->sync_requested, memory_order_acquire)) {
        if (pthread_cond_timedwait(&j->wake, &j->mu, &deadline) != 0) break; /* ETIMEDOUT */
    }
    return j->stop;
}

/* What one sync round makes durable, taken under mu and synced without. */
typedef struct sync_job_s {
    int retired[RETIRED_MAX];
    unsigned n_retired;
    bool dir;
    int fd;
    uint64_t target;
} sync_job_t;

/* mu held. Clearing the request before capturing the target is what makes
 * group commit safe: a request that finds the flag cleared either is
 * covered by this target or sets the flag again for the next round. */
static bool take_job(pm_journal_t *j, sync_job_t *job)
{
    atomic_exchange_explicit(&j->sync_requested, false, memory_order_acq_rel);
    job->target = atomic_load_explicit(&j->written_lsn, memory_order_acquire);
    job->n_retired = j->n_retired;
    memcpy(job->retired, j->retired, j->n_retired * sizeof(int));
    j->n_retired = 0;
    job->dir = j->dir_dirty;
    j->dir_dirty = false;
    job->fd = j->fd;
    return job->n_retired || job->dir || job->target > atomic_load_explicit(&j->synced_lsn, memory_order_relaxed);
}

/* fdatasync and close retired segments (mu held or not: the caller owns
 * them). Returns the first errno, 0 if all went well. */
static int sync_retired(const int *fds, unsigned n)
{
    int err = 0;
    for (unsigned i = 0; i < n; i++) {
        if (fdatasync(fds[i]) != 0 && err == 0) err = errno;
        close(fds[i]);
    }
    return err;
}

static int run_job(pm_journal_t *j, const sync_job_t *job)
{
    int err = sync_retired(job->retired, job->n_retired);
    if (job->dir && fsync(j->dir_fd) != 0 && err == 0) err = errno;
    if (fdatasync(job->fd) != 0 && err == 0) err = errno;
    return err;
}

/* mu held. A failure is sticky (see the top of the file). */
static bool note_sync_result(pm_journal_t *j, int err)
{
    if (err == 0) {
        atomic_fetch_add_explicit(&j->fsyncs, 1, memory_order_relaxed);
        return !j->sync_failed;
    }
    if (!j->sync_failed)
        pm_error("journal %s lineage %u: fdatasync failed: %s; durability lost", j->dir, j->lineage, strerror(err));
    j->sync_failed = true;
    atomic_fetch_add_explicit(&j->write_errors, 1, memory_order_relaxed);
    return false;
}

/* mu held on entry and exit; dropped during the syncs and the callback so
 * requests and rotations are never stuck behind the disk. */
static void sync_once(pm_journal_t *j)
{
    sync_job_t job;
    if (!take_job(j, &job)) return;
    j->syncing = true;
    pthread_mutex_unlock(&j->mu);
    int err = run_job(j, &job);
    pthread_mutex_lock(&j->mu);
    j->syncing = false;
    pthread_cond_broadcast(&j->idle);
    if (!note_sync_result(j, err)) return;
    if (job.target <= atomic_load_explicit(&j->synced_lsn, memory_order_relaxed)) return;
    atomic_store_explicit(&j->synced_lsn, job.target, memory_order_release);
    if (!j->on_synced) return;
    pthread_mutex_unlock(&j->mu);
    j->on_synced(j->on_synced_arg, job.target);
    pthread_mutex_lock(&j->mu);
}

static void *syncer_main(void *arg)
{
    pm_journal_t *j = arg;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        bool stopping = wait_for_work(j);
        sync_once(j); /* on stop too: close promises a final sync */
        if (stopping) break;
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static int init_sync_primitives(pm_journal_t *j)
{
    pthread_condattr_t attr;
    int err = pthread_condattr_init(&attr);
    if (err != 0) return -err;
    /* Monotonic, so a wall-clock step cannot stall or rush the syncer. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->wake, &attr);
    pthread_cond_init(&j->idle, &attr);
    pthread_condattr_destroy(&attr);
    j->sync_primitives = true;
    return PM_OK;
}

/* The syncer runs with every signal blocked: signals are the event loops'
 * business, and a handler must never run on this thread by accident. */
static int start_syncer(pm_journal_t *j)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&j->thread, NULL, syncer_main, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) return -err;
    j->thread_started = true;
    pthread_setname_np(j->thread, "pm-journal-sync");
    return PM_OK;
}

static void stop_syncer(pm_journal_t *j)
{
    if (!j->thread_started) return;
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_signal(&j->wake);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->thread, NULL);
    j->thread_started = false;
}

void pm_journal_request_sync(pm_journal_t *j)
{
    if (atomic_load_explicit(&j->synced_lsn, memory_order_acquire) >= j->lsn) return; /* already durable */
    /* The exchange pairs with the syncer's: whichever comes second sees the
     * other's side, so a request is never lost between flag and target. */
    if (atomic_exchange_explicit(&j->sync_requested, true, memory_order_acq_rel)) return;
    pthread_mutex_lock(&j->mu);
    pthread_cond_signal(&j->wake);
    pthread_mutex_unlock(&j->mu);
}

/* --- open and close ------------------------------------------------------- */

static void destroy(pm_journal_t *j)
{
    stop_syncer(j); /* its last round synced and closed the retired fds */
    if (j->fd >= 0) close(j->fd);
    if (j->dir_fd >= 0) close(j->dir_fd);
    pm_free(j->stage);
    if (j->sync_primitives) {
        pthread_cond_destroy(&j->idle);
        pthread_cond_destroy(&j->wake);
        pthread_mutex_destroy(&j->mu);
    }
    pm_free(j->dir);
    pm_free(j);
}

static pm_journal_t *journal_new(const pm_journal_config_t *cfg)
{
    pm_journal_t *j = pm_calloc(1, sizeof(*j));
    j->dir = pm_strdup(cfg->dir);
    j->lineage = cfg->lineage;
    j->segment_max = cfg->segment_max ? cfg->segment_max : DEFAULT_SEGMENT_MAX;
    j->sync_interval_us = cfg->sync_interval_us > 0 ? cfg->sync_interval_us : DEFAULT_SYNC_INTERVAL_US;
    j->on_synced = cfg->on_synced;
    j->on_synced_arg = cfg->on_synced_arg;
    j->fd = -1;
    j->dir_fd = -1;
    j->rotate_at = j->segment_max;
    return j;
}

int pm_journal_open(const pm_journal_config_t *cfg, pm_journal_t **out)
{
    *out = NULL;
    if (!cfg->dir || !cfg->dir[0]) return PM_EINVAL;
    if (strlen(cfg->dir) + 32 >= PATH_CAP) return -ENAMETOOLONG; /* room for "/L...-....pmj" */
    pm_journal_t *j = journal_new(cfg);
    int rc = make_dirs(j->dir);
    if (rc != PM_OK) goto out;
    j->dir_fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rc = j->dir_fd >= 0 ? PM_OK : -errno;
    if (rc != PM_OK) goto out;
    rc = next_seq(j->dir, j->lineage, &j->seq);
    if (rc != PM_OK) goto out;
    rc = create_segment(j->dir, j->lineage, &j->seq, &j->fd);
    if (rc != PM_OK) goto out;
    rc = fsync(j->dir_fd) == 0 ? PM_OK : -errno; /* off the hot path: do it now */
    if (rc != PM_OK) goto out;
    publish(j);
    rc = init_sync_primitives(j);
    if (rc != PM_OK) goto out;
    rc = start_syncer(j);
out:
    if (rc != PM_OK) {
        destroy(j);
        j = NULL;
    }
    *out = j;
    return rc;
}

void pm_journal_close(pm_journal_t *j)
{
    if (!j) return;
    pm_ignore_rc(pm_journal_flush(j, NULL));
    destroy(j);
}

/* --- appending ------------------------------------------------------------ */

/* mu held. The syncer is RETIRED_MAX rotations behind: sync the retired
 * segments here, which also slows the writer to the disk's pace. Waits for
 * a running round, whose current fd may be among them. */
static void drain_retired(pm_journal_t *j)
{
    while (j->syncing)
        pthread_cond_wait(&j->idle, &j->mu);
    int err = sync_retired(j->retired, j->n_retired);
    j->n_retired = 0;
    if (err != 0) note_sync_result(j, err);
}

/* Swap in the new segment and hand the old one to the syncer. */
static void retire_segment(pm_journal_t *j, int new_fd)
{
    pthread_mutex_lock(&j->mu);
    if (j->n_retired == RETIRED_MAX) drain_retired(j);
    j->retired[j->n_retired++] = j->fd;
    j->fd = new_fd;
    j->dir_dirty = true;
    pthread_mutex_unlock(&j->mu);
}

/* A failed rotation is not fatal unless the current segment is unusable:
 * a segment over its size is better than refusing clicks (EMFILE, say).
 * We try again a little later rather than on every append. */
static int rotate(pm_journal_t *j)
{
    uint32_t seq = j->seq + 1;
    int fd = -1;
    int rc = create_segment(j->dir, j->lineage, &seq, &fd);
    if (rc != PM_OK) {
        pm_error("journal %s lineage %u: cannot rotate: %s", j->dir, j->lineage, pm_strerror(rc));
        j->rotate_at = j->offset + j->segment_max / 8 + 1;
        return j->must_rotate ? rc : PM_OK;
    }
    retire_segment(j, fd);
    j->seq = seq;
    j->offset = 0;
    j->rotate_at = j->segment_max;
    j->must_rotate = false;
    publish(j);
    return PM_OK;
}

static void advance(struct iovec **iov, int *cnt, size_t done)
{
    while (*cnt > 0 && done >= (*iov)->iov_len) {
        done -= (*iov)->iov_len;
        (*iov)++;
        (*cnt)--;
    }
    if (*cnt == 0) return;
    (*iov)->iov_base = (char *)(*iov)->iov_base + done;
    (*iov)->iov_len -= done;
}

/* Short writes are retried where they stopped (a signal, a full pipe of
 * dirty pages): the record is one pwritev in the common case. */
static int write_all(int fd, struct iovec *iov, int cnt, uint64_t off)
{
    while (cnt > 0) {
        ssize_t w = pwritev(fd, iov, cnt, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -errno;
        if (w == 0) return -EIO;
        off += (uint64_t)w;
        advance(&iov, &cnt, (size_t)w);
    }
    return PM_OK;
}

/* Write one record at the end of the segment; on failure cut off whatever
 * part of it reached the file, so no reader ever meets half a record. */
/* After a failed write, cut off whatever part reached the file, so no
 * reader ever meets half a record. */
static void cut_back(pm_journal_t *j)
{
    atomic_fetch_add_explicit(&j->write_errors, 1, memory_order_relaxed);
    if (ftruncate(j->fd, (off_t)j->offset) != 0) {
        pm_error("journal %s lineage %u: cannot truncate segment %" PRIu32 " after a failed write: %s", j->dir,
                 j->lineage, j->seq, strerror(errno));
        j->must_rotate = true;
    }
}

/* Write one record at the end of the segment. */
static int write_record(pm_journal_t *j, const uint8_t *hdr, const void *payload, size_t len)
{
    struct iovec iov[2] = {{(void *)hdr, PM_JOURNAL_HEADER}, {(void *)payload, len}};
    int rc = write_all(j->fd, iov, len ? 2 : 1, j->offset);
    if (rc != PM_OK) cut_back(j);
    return rc;
}

/* Rotate first when `total` more bytes would cross the segment's end. */
static int room_for(pm_journal_t *j, size_t total)
{
    if (j->must_rotate || (j->offset > 0 && j->offset + total > j->rotate_at)) return rotate(j);
    return PM_OK;
}

int pm_journal_flush(pm_journal_t *j, uint64_t *lost)
{
    if (lost) *lost = 0;
    if (j->staged == 0) return PM_OK;
    size_t total = j->staged;
    uint64_t n = j->staged_records;
    j->staged = 0;
    j->staged_records = 0;
    int rc = room_for(j, total);
    if (rc == PM_OK) {
        struct iovec iov = {j->stage, total};
        rc = write_all(j->fd, &iov, 1, j->offset);
        if (rc != PM_OK) cut_back(j);
    }
    if (rc != PM_OK) {
        if (lost) *lost = n;
        return rc;
    }
    j->offset += total;
    j->lsn += total;
    bump(&j->records, n);
    publish(j);
    return PM_OK;
}

/* Write the stage ahead of another write. Its failure is not the next
 * record's: logged (the write error is counted) and the next write goes on. */
static void flush_before(pm_journal_t *j)
{
    int rc = pm_journal_flush(j, NULL);
    if (rc != PM_OK) pm_error("journal %s lineage %u: staged records lost: %s", j->dir, j->lineage, pm_strerror(rc));
}

int pm_journal_stage(pm_journal_t *j, const void *payload, size_t len)
{
    if (len > PM_JOURNAL_MAX_RECORD) return PM_ETOOBIG;
    size_t total = PM_JOURNAL_HEADER + len;
    if (total > STAGE_MAX) {
        uint64_t lsn;
        return pm_journal_append(j, payload, len, &lsn); /* too big to stage: written now */
    }
    /* A batch never crosses a rotation: flush what would, then stage. */
    if (j->staged + total > STAGE_MAX || (j->staged && j->offset + j->staged + total > j->rotate_at)) {
        flush_before(j);
    }
    if (j->stage == NULL) j->stage = pm_malloc(STAGE_MAX);
    encode_header(j->stage + j->staged, payload, len);
    memcpy(j->stage + j->staged + PM_JOURNAL_HEADER, payload, len);
    j->staged += total;
    j->staged_records++;
    return PM_OK;
}

size_t pm_journal_staged(const pm_journal_t *j) { return (size_t)j->staged_records; }

int pm_journal_append(pm_journal_t *j, const void *payload, size_t len, uint64_t *lsn_out)
{
    if (len > PM_JOURNAL_MAX_RECORD) return PM_ETOOBIG;
    /* Records staged before this one come first in the file. */
    flush_before(j);
    size_t total = PM_JOURNAL_HEADER + len;
    int rc = room_for(j, total);
    if (rc != PM_OK) goto out;
    uint8_t hdr[PM_JOURNAL_HEADER];
    encode_header(hdr, payload, len);
    rc = write_record(j, hdr, payload, len);
    if (rc != PM_OK) goto out;
    j->offset += total;
    j->lsn += total;
    bump(&j->records, 1);
    publish(j);
    *lsn_out = j->lsn;
out:
    return rc;
}

/* --- listing -------------------------------------------------------------- */

/* Only the exact names pm_journal_segment_path makes: a stray "x.pmj.tmp"
 * or a hand-renamed file must never be replayed as a segment. */
static bool parse_segment_name(const char *name, unsigned *lineage, uint32_t *seq)
{
    unsigned long lin;
    unsigned long long s;
    if (name[0] != 'L' || name[1] < '0' || name[1] > '9') return false;
    if (sscanf(name, "L%lu-%llu", &lin, &s) != 2 || lin > UINT32_MAX || s > UINT32_MAX) return false;
    char canon[64];
    snprintf(canon, sizeof(canon), "L%03u-%010" PRIu32 ".pmj", (unsigned)lin, (uint32_t)s);
    if (strcmp(canon, name) != 0) return false;
    *lineage = (unsigned)lin;
    *seq = (uint32_t)s;
    return true;
}

static int segment_cmp(const void *a, const void *b)
{
    const pm_jsegment_t *x = a, *y = b;
    if (x->lineage != y->lineage) return x->lineage < y->lineage ? -1 : 1;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    return 0;
}

static int add_segment(const char *dir, const char *name, pm_jsegment_t **v, size_t *n, size_t *cap)
{
    unsigned lineage;
    uint32_t seq;
    if (!parse_segment_name(name, &lineage, &seq)) return PM_OK;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = pm_realloc(*v, *cap * sizeof(**v));
    }
    pm_jsegment_t *s = &(*v)[*n];
    s->lineage = lineage;
    s->seq = seq;
    int len = snprintf(s->path, sizeof(s->path), "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= sizeof(s->path)) return -ENAMETOOLONG;
    (*n)++;
    return PM_OK;
}

static int read_segments(DIR *d, const char *dir, pm_jsegment_t **v, size_t *n)
{
    size_t cap = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) return errno ? -errno : PM_OK;
        if (e->d_type == DT_DIR) continue; /* DT_UNKNOWN falls through to the name check */
        int rc = add_segment(dir, e->d_name, v, n, &cap);
        if (rc != PM_OK) return rc;
    }
}

int pm_journal_list(const char *dir, pm_jsegment_t **out, size_t *n)
{
    pm_jsegment_t *v = NULL;
    size_t cnt = 0;
    int rc = PM_OK;
    DIR *d = opendir(dir);
    if (!d) {
        rc = errno == ENOENT ? PM_OK : -errno;
        goto out;
    }
    rc = read_segments(d, dir, &v, &cnt);
    closedir(d);
    if (rc == PM_OK && cnt > 1) qsort(v, cnt, sizeof(*v), segment_cmp);
out:
    if (rc != PM_OK) {
        pm_free(v);
        v = NULL;
        cnt = 0;
    }
    *out = v;
    *n = cnt;
    return rc;
}

/* --- scanning ------------------------------------------------------------- */

/* A window of the file in memory: buf holds [win_off, win_off + win_len). */
typedef struct scanner_s {
    const char *path;
    int fd;
    uint8_t *buf;
    size_t cap;
    uint64_t win_off;
    size_t win_len;
    uint64_t end; /* min(limit, file size); shrinks if the file does */
} scanner_t;

static uint64_t avail(const scanner_t *s, uint64_t off) { return off < s->end ? s->end - off : 0; }

/* Start the window at `off`, keeping the bytes already read past it. */
static void slide(scanner_t *s, uint64_t off)
{
    uint64_t win_end = s->win_off + s->win_len;
    if (off >= s->win_off && off < win_end) {
        size_t keep = (size_t)(win_end - off);
        memmove(s->buf, s->buf + (off - s->win_off), keep);
        s->win_len = keep;
    } else {
        s->win_len = 0;
    }
    s->win_off = off;
}

/* Make at least `need` bytes at `off` contiguous in memory (need <= cap,
 * off + need <= end); *have says how many there are. Reads in large chunks.
 * PM_AGAIN if the file turned out shorter (then `end` shrinks to match). */
static int window_at(scanner_t *s, uint64_t off, size_t need, const uint8_t **p, size_t *have)
{
    if (off < s->win_off || off + need > s->win_off + s->win_len) {
        slide(s, off);
        uint64_t left = avail(s, off);
        size_t want = left < s->cap ? (size_t)left : s->cap;
        while (s->win_len < need) {
            ssize_t r = pread(s->fd, s->buf + s->win_len, want - s->win_len, (off_t)(off + s->win_len));
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) return -errno;
            if (r == 0) {
                s->end = off + s->win_len;
                return PM_AGAIN;
            }
            s->win_len += (size_t)r;
        }
    }
    *p = s->buf + (off - s->win_off);
    *have = (size_t)(s->win_off + s->win_len - off);
    return PM_OK;
}

/* Is there a whole valid record at `off`? If so, *payload points into the
 * window (valid until the next window_at). The length is capped before it is
 * trusted: a corrupt one must not ask for more than the window holds. */
static int check_record(scanner_t *s, uint64_t off, bool *valid, const uint8_t **payload, uint32_t *len)
{
    const uint8_t *p = NULL; /* set by window_at; gcc -O3 cannot tell */
    size_t have = 0;
    *valid = false;
    if (avail(s, off) < PM_JOURNAL_HEADER) return PM_OK;
    int rc = window_at(s, off, PM_JOURNAL_HEADER, &p, &have);
    if (rc != PM_OK) return rc == PM_AGAIN ? PM_OK : rc;
    uint32_t n = get_le32(p + 4);
    if (get_le32(p) != PM_JOURNAL_MAGIC || n > PM_JOURNAL_MAX_RECORD) return PM_OK;
    if (avail(s, off) - PM_JOURNAL_HEADER < n) return PM_OK;
    rc = window_at(s, off, PM_JOURNAL_HEADER + (size_t)n, &p, &have);
    if (rc != PM_OK) return rc == PM_AGAIN ? PM_OK : rc;
    *valid = record_crc(p + 4, p + PM_JOURNAL_HEADER, n) == get_le32(p + 8);
    *payload = p + PM_JOURNAL_HEADER;
    *len = n;
    return PM_OK;
}

/* The first offset after `bad` where a whole valid record starts, or
 * NO_RECORD. memmem finds magic candidates; each is checked in full. */
static int resync(scanner_t *s, uint64_t bad, uint64_t *found)
{
    static const uint8_t magic[4] = {0x50, 0x4D, 0x4A, 0x31}; /* PM_JOURNAL_MAGIC, LE */
    uint64_t q = bad + 1;
    *found = NO_RECORD;
    while (avail(s, q) >= PM_JOURNAL_HEADER) {
        const uint8_t *p = NULL, *payload;
        size_t have = 0;
        int rc = window_at(s, q, PM_JOURNAL_HEADER, &p, &have);
        if (rc == PM_AGAIN) continue; /* end shrank; re-test the loop bound */
        if (rc != PM_OK) return rc;
        const uint8_t *m = memmem(p, have, magic, sizeof(magic));
        if (!m) {
            q += have - (sizeof(magic) - 1); /* a magic may straddle the window */
            continue;
        }
        uint64_t cand = q + (uint64_t)(m - p);
        bool valid;
        uint32_t len;
        rc = check_record(s, cand, &valid, &payload, &len);
        if (rc != PM_OK) return rc;
        if (valid) {
            *found = cand;
            return PM_OK;
        }
        q = cand + 1;
    }
    return PM_OK;
}

/* A bad record at *pos: skip to the next valid one, or deal with the tail. */
static int skip_bad(scanner_t *s, uint64_t *pos, bool complete, pm_journal_scan_t *res, bool *stop)
{
    uint64_t next;
    int rc = resync(s, *pos, &next);
    if (rc != PM_OK) return rc;
    if (next != NO_RECORD) {
        pm_warn("journal %s: corrupt region at offset %" PRIu64 ": skipped %" PRIu64 " bytes", s->path, *pos,
                next - *pos);
        res->corrupt++;
        res->corrupt_bytes += next - *pos;
        *pos = next;
        return PM_OK;
    }
    *stop = true;
    if (!complete) return PM_OK; /* live: the writer may still be at it */
    res->torn_tail = true;
    res->torn_offset = *pos;
    res->torn_bytes = s->end - *pos;
    pm_warn("journal %s: torn tail at offset %" PRIu64 ": skipped %" PRIu64 " bytes", s->path, *pos,
            res->torn_bytes);
    *pos = s->end;
    return PM_OK;
}

/* A callback that refuses a record leaves *pos before it: resuming at
 * end_offset delivers it again (replay is idempotent; skipping is loss). */
static int scan_step(scanner_t *s, uint64_t *pos, bool complete, pm_journal_record_fn fn, void *ctx,
                     pm_journal_scan_t *res, bool *stop)
{
    bool valid;
    const uint8_t *payload;
    uint32_t len;
    int rc = check_record(s, *pos, &valid, &payload, &len);
    if (rc != PM_OK) return rc;
    if (!valid) return skip_bad(s, pos, complete, res, stop);
    uint64_t next = *pos + PM_JOURNAL_HEADER + len;
    rc = fn(ctx, payload, len, next);
    if (rc != 0) {
        *stop = true;
        return rc;
    }
    res->records++;
    *pos = next;
    return PM_OK;
}

static int scanner_open(scanner_t *s, const char *path, uint64_t from, uint64_t limit)
{
    struct stat st;
    s->path = path;
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) return -errno;
    if (fstat(s->fd, &st) != 0) return -errno;
    s->end = (uint64_t)st.st_size < limit ? (uint64_t)st.st_size : limit;
    s->win_off = from;
    uint64_t span = avail(s, from);
    s->cap = span < SCAN_BUF ? (size_t)span : SCAN_BUF; /* any record in range fits */
    s->buf = pm_malloc(s->cap);
    return PM_OK;
}

int pm_journal_scan(const char *path, uint64_t from, uint64_t limit, bool complete, pm_journal_record_fn fn,
                    void *ctx, pm_journal_scan_t *res)
{
    scanner_t s = {.fd = -1};
    uint64_t pos = from;
    bool stop = false;
    memset(res, 0, sizeof(*res));
    int rc = scanner_open(&s, path, from, limit);
    if (rc != PM_OK) goto out;
    while (!stop && pos < s.end) {
        rc = scan_step(&s, &pos, complete, fn, ctx, res, &stop);
        if (rc != PM_OK) break;
    }
out:
    res->end_offset = pos;
    if (s.fd >= 0) close(s.fd);
    pm_free(s.buf);
    return rc;
}

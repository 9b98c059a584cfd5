/*
 * materializer.h: the single writer that turns journal records into store
 * rows. It runs once synchronously at start (recovery: everything left on
 * disk by the previous process) and then as a thread that follows the live
 * journals of the event loops.
 *
 * Exactly-once: rows are inserted with INSERT OR IGNORE on the event id (and
 * conversions also on (offer_id, txid)), and the per-lineage high-water mark
 * (segment, offset) is committed in the same transaction as the rows it
 * covers, so replaying any prefix twice changes nothing. A segment is deleted
 * only after the commit that covers all of it (synchronous=FULL).
 */
#ifndef PM_MATERIALIZER_H
#define PM_MATERIALIZER_H

#include "pm/event.h"
#include "pm/journal.h"
#include "pm/store.h"

typedef struct pm_materializer_s pm_materializer_t;

/*
 * A sink derives state from events (report rollups, ledger entries...) inside
 * the materializer's transaction: what it writes commits atomically with the
 * event rows and the high-water mark, so derived state is exactly-once like
 * the events themselves. apply() is called only for events the store did not
 * hold yet (a replayed duplicate is not applied twice), in journal order per
 * lineage. A failing apply() rolls the whole batch back (it is retried).
 */
typedef struct pm_sink_ops_s {
    const char *name;
    /* Prepare on the materializer's connection; *state is the sink's own.
     * PM_OK or an error (the materializer then does not start). */
    int (*open)(pm_store_t *store, void **state);
    int (*apply)(void *state, const pm_event_t *ev);
    void (*close)(void *state); /* accepts NULL state */
    /* Not applied to events of the import lineage (PM_IMPORT_LINEAGE:
     * simulated or imported history), e.g. postbacks that must only be
     * sent for live conversions. */
    bool skip_imports;
} pm_sink_ops_t;

#define PM_MAX_SINKS 8

/* Called after a commit for each event it covered (on the materializer
 * thread); lets the tracking path forget what the store now holds. */
typedef void (*pm_materialized_fn)(void *arg, const pm_event_t *ev);

typedef struct pm_recovery_s {
    uint64_t segments, records, corrupt_regions, corrupt_bytes, torn_tails, segments_deleted;
} pm_recovery_t;

/* Replay every segment in `dir` past the store's high-water marks, report
 * (log) torn tails and corrupt regions, and delete the replayed segments.
 * Call before any journal is opened for writing. PM_ESTORE or -errno. */
int pm_materializer_recover(pm_store_t *store, const char *dir, const pm_sink_ops_t *const *sinks, size_t nsinks,
                            pm_recovery_t *out) PM_MUST_CHECK;

#define PM_MAX_LINEAGES 64
/* The last lineage is reserved for imports (perfmark simulate). */
#define PM_IMPORT_LINEAGE (PM_MAX_LINEAGES - 1)

typedef struct pm_materializer_config_s {
    const char *db_path;
    const char *journal_dir;
    pm_journal_t **journals; /* the live journals (array copied, journals borrowed); index = lineage */
    size_t njournals;        /* <= PM_MAX_LINEAGES */
    int64_t interval_us;     /* idle poll period, and the wait after a small batch; 0 = 2 ms */
    pm_materialized_fn on_materialized;
    void *arg;
    const pm_sink_ops_t *const *sinks; /* derived state to maintain (borrowed) */
    size_t nsinks;                     /* <= PM_MAX_SINKS */
} pm_materializer_config_t;

/* Open a store connection and start the thread. PM_ESTORE / -errno. */
int pm_materializer_start(const pm_materializer_config_t *cfg, pm_materializer_t **out) PM_MUST_CHECK;
/* Materialize what is written, stop and join. Accepts NULL. */
void pm_materializer_stop(pm_materializer_t *m);

typedef struct pm_materializer_stats_s {
    uint64_t events, batches, errors;
    uint64_t lag_bytes;       /* journaled but not yet in the store */
    int64_t last_commit_us;   /* wall time of the last commit, 0 if none */
} pm_materializer_stats_t;
void pm_materializer_stats(pm_materializer_t *m, pm_materializer_stats_t *out); /* thread-safe */

#endif

/*
 * workspace.c: simulating a workspace on disk (pm_sim_workspace in
 * pm/sim.h). The active campaigns come from the store: their ids and
 * traffic source names by SQL, everything else from the same configuration
 * snapshot the tracking path uses (costs, offers, payouts, URLs, settings).
 *
 * Each campaign gets the creative entities its sub2 values name (as many
 * as its channel runs, pm_sim_creative_name), found by name or inserted
 * into the store, and its events carry their ids.
 *
 * Events are journaled like live ones, into the import lineage, in a
 * staging directory beside the journal (`<journal>.sim`). Only when the run
 * is complete and synced are the segments renamed into the journal
 * directory, numbered after both what is on disk and the lineage's
 * high-water mark if the store holds one: recovery deletes the segments it
 * replayed, and a segment numbered at or below a mark would be taken for
 * one already replayed up to the mark's offset.
 */
#include "pm/sim.h"
#include "pm/journal.h"
#include "pm/tz.h"
#include "sim_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_BASE_URL "http://127.0.0.1:8080"
#define DAY_US (86400 * PM_USEC_PER_SEC)
#define SYNC_INTERVAL_US (1000 * 1000) /* nothing waits on it: close() syncs */

typedef struct workspace_s {
    pm_store_t *store;
    pm_config_t *cfg;
    pm_sim_campaign_t *campaigns;
    char **hints; /* owned theme hints, one per campaign */
    int64_t *creative_ids; /* all campaigns' creatives, each campaign's slice in turn */
    size_t n;
    pm_detect_t *detect; /* the visitor detectors the events are given context by */
} workspace_t;

static void workspace_free(workspace_t *w)
{
    for (size_t i = 0; i < w->n; i++)
        pm_free(w->hints[i]);
    pm_free(w->hints);
    pm_free(w->creative_ids);
    pm_free(w->campaigns);
    pm_config_release(w->cfg);
    pm_store_close(w->store);
    pm_detect_destroy(w->detect);
}

/* Fill campaign `c` from the snapshot; false when it is not live. */
static bool campaign_from(const pm_config_t *cfg, int64_t id, pm_sim_campaign_t *c)
{
    const pm_campaign_t *k = pm_config_campaign_by_id(cfg, id);
    if (k == NULL || !k->active || (k->offer == NULL && k->lander == NULL)) return false;
    *c = (pm_sim_campaign_t){.id = k->id,
                             .traffic_source_id = k->source->id,
                             .offer_id = k->offer ? k->offer->id : 0,
                             .lander_id = k->lander ? k->lander->id : 0,
                             .name = k->name,
                             .cost_model = k->cost_model,
                             .cost = k->cost,
                             .payout = k->offer ? k->offer->payout : (pm_money_t){0},
                             .payout_type = k->offer ? k->offer->payout_type : NULL,
                             .dest_url = k->lander ? k->lander->url : k->offer->url};
    return true;
}

/* The channel: the source's name says it, else the campaign's, else the
 * source's rank among the workspace's sources picks one in turn. */
static pm_sim_channel_t channel_of(const char *source, const char *campaign, int source_rank)
{
    int c = pm_sim_channel_guess(source);
    if (c < 0) c = pm_sim_channel_guess(campaign);
    return c >= 0 ? (pm_sim_channel_t)c : (pm_sim_channel_t)(source_rank % PM_SIM__CHANNELS);
}

static int load_campaigns(workspace_t *w)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT c.id, s.name, c.name, coalesce(o.name, ''),"
                      " dense_rank() OVER (ORDER BY s.id) - 1"
                      " FROM campaigns c JOIN traffic_sources s ON s.id = c.traffic_source_id"
                      " LEFT JOIN offers o ON o.id = c.offer_id"
                      " WHERE c.deleted_at IS NULL AND c.status = 'active' ORDER BY c.id";
    if (sqlite3_prepare_v2(pm_store_db(w->store), sql, -1, &st, NULL) != SQLITE_OK) {
        pm_error("simulate: %s", sqlite3_errmsg(pm_store_db(w->store)));
        return PM_ESTORE;
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && w->n < UINT16_MAX) {
        pm_sim_campaign_t c;
        if (!campaign_from(w->cfg, sqlite3_column_int64(st, 0), &c)) continue;
        const char *source = (const char *)sqlite3_column_text(st, 1), *offer = (const char *)sqlite3_column_text(st, 3);
        c.channel = channel_of(source, c.name, sqlite3_column_int(st, 4));
        w->campaigns = pm_realloc(w->campaigns, (w->n + 1) * sizeof(*w->campaigns));
        w->hints = pm_realloc(w->hints, (w->n + 1) * sizeof(*w->hints));
        size_t len = strlen(offer) + strlen(c.name) + 2;
        w->hints[w->n] = pm_malloc(len);
        snprintf(w->hints[w->n], len, "%s %s", offer, c.name);
        c.theme_hint = w->hints[w->n];
        w->campaigns[w->n++] = c;
    }
    int rc = step == SQLITE_DONE || step == SQLITE_ROW ? PM_OK : PM_ESTORE;
    if (rc != PM_OK) pm_error("simulate: %s", sqlite3_errmsg(pm_store_db(w->store)));
    sqlite3_finalize(st);
    return rc;
}

/* --- creatives ------------------------------------------------------------- */

/* The ad's asset, as a workspace would link it: a text ad's preview, a
 * video, a headline's thumbnail, a banner, a TV spot. */
static const char *const creative_url[PM_SIM__CHANNELS] = {
    [PM_SIM_SEARCH] = "https://ads.example.com/preview/%s",
    [PM_SIM_SOCIAL] = "https://cdn.example.com/video/%s.mp4",
    [PM_SIM_NATIVE] = "https://cdn.example.com/thumbs/%s.jpg",
    [PM_SIM_AFFILIATE] = "https://cdn.example.com/banners/%s-300x250.png",
    [PM_SIM_CTV] = "https://cdn.example.com/spots/%s.mp4",
};

/* The id of campaign c's live creative named `name`, inserted (active)
 * when there is none; 0 when the one there is paused (the tracker would
 * record none for it). */
static int creative_id(sqlite3 *db, sqlite3_stmt *find, sqlite3_stmt *add, const pm_sim_campaign_t *c, const char *name,
                       int64_t *id)
{
    char url[256];
    *id = 0;
    sqlite3_reset(find);
    sqlite3_bind_int64(find, 1, c->id);
    sqlite3_bind_text(find, 2, name, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(find);
    if (step == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(find, 1);
        if (status && strcmp(status, "active") == 0) *id = sqlite3_column_int64(find, 0);
        return PM_OK;
    }
    if (step != SQLITE_DONE) return PM_ESTORE;
    snprintf(url, sizeof(url), creative_url[c->channel], name);
    pm_time_t now = pm_now();
    sqlite3_reset(add);
    sqlite3_bind_int64(add, 1, c->id);
    sqlite3_bind_text(add, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(add, 3, url, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(add, 4, now);
    if (sqlite3_step(add) != SQLITE_DONE) return PM_ESTORE;
    *id = sqlite3_last_insert_rowid(db);
    return PM_OK;
}

/* Every campaign's creatives, in one transaction: a second simulation
 * finds the same ones (so its events are the same), a deleted one is made
 * again. */
static int load_creatives(workspace_t *w)
{
    sqlite3 *db = pm_store_db(w->store);
    sqlite3_stmt *find = NULL, *add = NULL;
    size_t total = 0, at = 0;
    for (size_t i = 0; i < w->n; i++)
        total += pm_sim_creative_count(w->campaigns[i].channel);
    w->creative_ids = pm_calloc(total ? total : 1, sizeof(int64_t));
    int rc = pm_store_begin(w->store);
    if (rc != PM_OK) return rc;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, status FROM creatives WHERE campaign_id = ?1 AND name = ?2"
                           " AND deleted_at IS NULL ORDER BY id LIMIT 1",
                           -1, &find, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO creatives(campaign_id, name, url, status, created_at, updated_at)"
                           " VALUES(?1, ?2, ?3, 'active', ?4, ?4)",
                           -1, &add, NULL) != SQLITE_OK)
        rc = PM_ESTORE;
    for (size_t i = 0; rc == PM_OK && i < w->n; i++) {
        pm_sim_campaign_t *c = &w->campaigns[i];
        unsigned count = pm_sim_creative_count(c->channel);
        c->creative_ids = &w->creative_ids[at];
        c->ncreatives = count;
        for (unsigned k = 0; rc == PM_OK && k < count; k++, at++) {
            char name[64];
            pm_sim_creative_name(c->channel, c->id, k, name, sizeof(name));
            rc = creative_id(db, find, add, c, name, &w->creative_ids[at]);
        }
    }
    if (rc != PM_OK) pm_error("simulate: creatives: %s", sqlite3_errmsg(db));
    sqlite3_finalize(find);
    sqlite3_finalize(add);
    if (rc == PM_OK) rc = pm_store_commit(w->store);
    else pm_store_rollback(w->store);
    return rc;
}

/* --- the window ------------------------------------------------------------- */

static int32_t zone_offset(const char *name, pm_time_t at)
{
    pm_tz_t *tz = NULL;
    if (pm_tz_load(name, &tz) != PM_OK) {
        pm_warn("simulate: time zone %s not found; days follow UTC", name);
        return 0;
    }
    int32_t off = pm_tz_offset(tz, at / PM_USEC_PER_SEC);
    pm_tz_free(tz);
    return off;
}

/* Whole local days [end_day - days + 1, end_day], never past `now`. */
static int window(const pm_sim_options_t *o, pm_time_t now, int32_t offset, pm_time_t *start, pm_time_t *end)
{
    pm_time_t off = (pm_time_t)offset * PM_USEC_PER_SEC;
    int64_t today = (now + off) / DAY_US;
    int64_t last = o->end_day == INT64_MIN ? today : o->end_day;
    *start = (last - o->days + 1) * DAY_US - off;
    *end = (last + 1) * DAY_US - off;
    if (*end > now) *end = now;
    return *start < *end ? PM_OK : PM_EINVAL;
}

/* --- journaling ---------------------------------------------------------------- */

typedef struct writer_s {
    pm_journal_t *journal;
    pm_buf_t rec;
    uint64_t bytes;
} writer_t;

static int write_event(void *ctx, const pm_event_t *ev, const pm_sim_meta_t *meta)
{
    writer_t *w = ctx;
    uint64_t lsn;
    pm_buf_reset(&w->rec);
    int rc = pm_event_encode(ev, &w->rec);
    if (rc == PM_OK) rc = pm_journal_append(w->journal, w->rec.data, w->rec.len, &lsn);
    if (rc == PM_OK) w->bytes = lsn;
    return rc;
}

/* Remove the staging directory's segment files (a crashed run's). */
static void clear_staging(const char *dir)
{
    pm_jsegment_t *segs = NULL;
    size_t n = 0;
    if (pm_journal_list(dir, &segs, &n) == PM_OK)
        for (size_t i = 0; i < n; i++)
            unlink(segs[i].path);
    pm_free(segs);
}

/* One simulation at a time per journal: the staging directory's lock. */
static int lock_staging(const char *staging, int *fd)
{
    char path[600];
    *fd = -1;
    if (mkdir(staging, 0700) != 0 && errno != EEXIST) return -errno;
    snprintf(path, sizeof(path), "%s/lock", staging);
    int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0) return -errno;
    if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        close(lfd);
        return PM_EEXIST;
    }
    *fd = lfd;
    return PM_OK;
}

static void unlock_staging(const char *staging, int fd)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/lock", staging);
    unlink(path);
    close(fd);
    rmdir(staging);
}

/* The first free seq of the lineage: past the segments on disk and past
 * the high-water mark (the numbers of replayed, deleted segments). */
static int first_free_seq(pm_store_t *store, const char *journal_dir, uint32_t *seq)
{
    pm_jsegment_t *segs = NULL;
    size_t n = 0;
    uint64_t off;
    int rc = pm_store_hwm_get(store, PM_SIM_LINEAGE, seq, &off);
    if (rc == PM_OK) rc = pm_journal_list(journal_dir, &segs, &n);
    for (size_t i = 0; rc == PM_OK && i < n; i++)
        if (segs[i].lineage == PM_SIM_LINEAGE && segs[i].seq > *seq) *seq = segs[i].seq;
    (*seq)++;
    pm_free(segs);
    return rc;
}

/* Move the staged segments into the journal directory and make the names
 * durable. */
static int publish(pm_store_t *store, const char *staging, const char *journal_dir, pm_sim_result_t *out)
{
    pm_jsegment_t *segs = NULL;
    size_t n = 0;
    uint32_t seq = 0;
    int rc = mkdir(journal_dir, 0700) == 0 || errno == EEXIST ? PM_OK : -errno; /* a store never served */
    if (rc == PM_OK) rc = pm_journal_list(staging, &segs, &n);
    if (rc == PM_OK) rc = first_free_seq(store, journal_dir, &seq);
    out->first_seq = seq;
    for (size_t i = 0; rc == PM_OK && i < n; i++, seq++) {
        char path[512];
        pm_journal_segment_path(journal_dir, PM_SIM_LINEAGE, seq, path, sizeof(path));
        if (rename(segs[i].path, path) != 0) rc = -errno;
        out->last_seq = seq;
    }
    int fd = rc == PM_OK ? open(journal_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0 && fsync(fd) != 0) rc = -errno;
    if (fd >= 0) close(fd);
    pm_free(segs);
    return rc;
}

static int generate(workspace_t *w, const pm_sim_config_t *sc, const char *staging, pm_sim_result_t *out)
{
    writer_t wr = {0};
    pm_journal_config_t jc = {.dir = staging, .lineage = PM_SIM_LINEAGE, .sync_interval_us = SYNC_INTERVAL_US};
    clear_staging(staging);
    int rc = pm_journal_open(&jc, &wr.journal);
    if (rc != PM_OK) {
        pm_error("simulate: cannot open a journal in %s: %s", staging, pm_strerror(rc));
        return rc;
    }
    pm_buf_init(&wr.rec, PM_JOURNAL_MAX_RECORD);
    rc = pm_sim_run(sc, write_event, &wr, &out->stats);
    if (rc != PM_OK) pm_error("simulate: writing the journal failed: %s", pm_strerror(rc));
    pm_journal_stats_t js;
    pm_journal_stats(wr.journal, &js);
    pm_journal_close(wr.journal); /* fdatasyncs what is pending */
    pm_buf_free(&wr.rec);
    out->bytes = wr.bytes;
    if (rc == PM_OK && js.write_errors) rc = -EIO;
    return rc;
}

int pm_sim_workspace(const char *db_path, const char *journal_dir, const pm_sim_options_t *o, pm_sim_result_t *out)
{
    workspace_t w = {0};
    char staging[512];
    int64_t t0 = pm_monotonic_us();
    memset(out, 0, sizeof(*out));
    if (o->days < 1 || o->days > 3650 || !(o->scale > 0 && o->scale <= 100)) return PM_EINVAL;
    if (snprintf(staging, sizeof(staging), "%s.sim", journal_dir) >= (int)sizeof(staging)) return -ENAMETOOLONG;
    int rc = pm_store_open(db_path, &w.store);
    if (rc == PM_OK) rc = pm_config_load(w.store, o->base_url ? o->base_url : DEFAULT_BASE_URL, &w.cfg);
    if (rc == PM_OK) rc = load_campaigns(&w);
    if (rc == PM_OK && w.n == 0) rc = PM_ENOTFOUND;
    if (rc != PM_OK) goto out;
    const pm_settings_t *set = pm_config_settings(w.cfg);
    pm_time_t now = o->now ? o->now : pm_now();
    int32_t offset = zone_offset(set->timezone, now);
    pm_sim_config_t sc = {.seed = o->seed, .scale = o->scale, .utc_offset_s = offset, .campaigns = w.campaigns,
                          .ncampaigns = w.n, .base_url = set->base_url,
                          .currency = set->currency, .ip_v4_prefix = set->ip_v4_prefix,
                          .ip_v6_prefix = set->ip_v6_prefix, .progress = o->progress, .progress_arg = o->progress_arg};
    /* The visitor context as the tracking path gives it (velocity off: it
     * needs real time, and a conversion must carry its click's context),
     * with the simulator's cloud ranges as the data-center list. */
    char cloud[32 * 24] = "";
    size_t used = 0;
    for (uint32_t i = 0; i < pm__sim_ndatacenter && used < sizeof(cloud) - 24; i++)
        used += (size_t)snprintf(cloud + used, sizeof(cloud) - used, "%u.%u.0.0/16\n", pm__sim_datacenter_v4[i][0],
                                 pm__sim_datacenter_v4[i][1]);
    pm_detect_config_t dc = {.velocity_limit = 0, .datacenter_text = cloud};
    if ((rc = pm_detect_create(&dc, &w.detect)) != PM_OK) goto out;
    sc.detect = w.detect;
    if ((rc = window(o, now, offset, &sc.start, &sc.end)) != PM_OK) goto out;
    out->campaigns = w.n;
    out->start = sc.start;
    out->end = sc.end;
    int lock = -1;
    if ((rc = lock_staging(staging, &lock)) != PM_OK) goto out;
    rc = load_creatives(&w); /* fills w.campaigns, which sc points to */
    if (rc == PM_OK) rc = generate(&w, &sc, staging, out);
    if (rc == PM_OK) rc = publish(w.store, staging, journal_dir, out);
    if (rc != PM_OK) clear_staging(staging);
    unlock_staging(staging, lock);
out:
    workspace_free(&w);
    out->seconds = (double)(pm_monotonic_us() - t0) / 1e6;
    return rc;
}

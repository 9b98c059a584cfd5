/*
 * store.c: opening the SQLite store, its schema and migrations, and the
 * small tables every module needs (settings, API keys, journal high-water
 * marks). Entity CRUD lives with the admin API; event writes live with the
 * materializer; both use the connection through pm_store_db().
 *
 * Connections use WAL (readers never block the single writer) with
 * synchronous=FULL: a materialized batch is durable when its commit returns,
 * which is what lets the materializer delete journal segments behind it.
 */
#include "pm/store.h"
#include "pm/id.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <sqlite3.h>
#include <string.h>

/* The statements every materializer batch runs, prepared once per
 * connection (on first use): parsing BEGIN/COMMIT/the high-water mark
 * UPSERT again per batch was a measurable share of a click's CPU. */
enum { ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_HWM_SET, ST__COUNT };

struct pm_store_s {
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
};

#define PM_EVENT_COMMON_COLUMNS                                                                                        \
    "id TEXT PRIMARY KEY, ts INTEGER NOT NULL, campaign_id INTEGER, traffic_source_id INTEGER,"                        \
    " offer_id INTEGER, lander_id INTEGER, visitor_id TEXT, ip TEXT, user_agent TEXT,"                                 \
    " referrer TEXT, language TEXT,"
#define PM_EVENT_SUB_COLUMNS                                                                                           \
    " sub1 TEXT, sub2 TEXT, sub3 TEXT, sub4 TEXT, sub5 TEXT, sub6 TEXT, sub7 TEXT, sub8 TEXT,"                         \
    " sub9 TEXT, sub10 TEXT, utm_source TEXT, utm_medium TEXT, utm_campaign TEXT,"                                     \
    " utm_content TEXT, utm_term TEXT, external_id TEXT,"

/* Version 1: the foundation. Money columns are int64 micro-units with a
 * currency column beside them. Timestamps are UTC microseconds. */
static const char schema_v1[] = "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                                "CREATE TABLE api_keys(id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,"
                                "  role TEXT NOT NULL CHECK(role IN ('admin','viewer')), name TEXT,"
                                "  created_at INTEGER NOT NULL, revoked_at INTEGER);"
                                "CREATE TABLE journal_hwm(lineage INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
                                "  offset INTEGER NOT NULL);"
                                "CREATE TABLE traffic_sources(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
                                "  postback_url TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,"
                                "  updated_at INTEGER NOT NULL, deleted_at INTEGER);"
                                "CREATE TABLE offers(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
                                "  url TEXT NOT NULL, payout_type TEXT NOT NULL, payout_micros INTEGER NOT NULL,"
                                "  payout_currency TEXT NOT NULL, created_at INTEGER NOT NULL,"
                                "  updated_at INTEGER NOT NULL, deleted_at INTEGER);"
                                "CREATE TABLE landers(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
                                "  url TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
                                "  deleted_at INTEGER);"
                                "CREATE TABLE campaigns(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
                                "  token TEXT NOT NULL UNIQUE, status TEXT NOT NULL DEFAULT 'active'"
                                "  CHECK(status IN ('active','paused')),"
                                "  traffic_source_id INTEGER NOT NULL REFERENCES traffic_sources(id),"
                                "  offer_id INTEGER REFERENCES offers(id), lander_id INTEGER REFERENCES landers(id),"
                                "  cost_model TEXT NOT NULL, cost_micros INTEGER NOT NULL, cost_currency TEXT NOT NULL,"
                                "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted_at INTEGER);"
                                "CREATE TABLE clicks(" PM_EVENT_COMMON_COLUMNS PM_EVENT_SUB_COLUMNS
                                "  destination_url TEXT, cost_micros INTEGER NOT NULL DEFAULT 0, cost_currency TEXT);"
                                "CREATE INDEX clicks_campaign ON clicks(campaign_id, id);"
                                "CREATE TABLE impressions(" PM_EVENT_COMMON_COLUMNS PM_EVENT_SUB_COLUMNS
                                "  cost_micros INTEGER NOT NULL DEFAULT 0, cost_currency TEXT);"
                                "CREATE INDEX impressions_campaign ON impressions(campaign_id, id);"
                                "CREATE TABLE conversions(" PM_EVENT_COMMON_COLUMNS PM_EVENT_SUB_COLUMNS
                                "  click_id TEXT NOT NULL, txid TEXT NOT NULL, status TEXT NOT NULL,"
                                "  conversion_type TEXT NOT NULL, method TEXT NOT NULL,"
                                "  revenue_micros INTEGER NOT NULL DEFAULT 0, revenue_currency TEXT,"
                                "  payout_micros INTEGER NOT NULL DEFAULT 0, payout_currency TEXT,"
                                "  cost_micros INTEGER NOT NULL DEFAULT 0, cost_currency TEXT);"
                                "CREATE UNIQUE INDEX conversions_offer_txid ON conversions(offer_id, txid);"
                                "CREATE INDEX conversions_campaign ON conversions(campaign_id, id);"
                                "CREATE INDEX conversions_click ON conversions(click_id);"
                                "CREATE TABLE orphan_postbacks(id TEXT PRIMARY KEY, ts INTEGER NOT NULL,"
                                "  reason TEXT NOT NULL, method TEXT NOT NULL, click_id TEXT, txid TEXT, query TEXT,"
                                "  ip TEXT, user_agent TEXT);";

/* Version 2: report rollups (src/report, docs/reports.md). Additive
 * counters per 15-minute UTC bucket (_q) and per UTC day (_d) in three
 * cubes; money columns are micro-units of the row's `currency` (part of the
 * key, so sums never mix currencies). `report_seen` is the exact set of
 * (UTC day, campaign, visitor) behind unique clicks, with the click credited.
 * Stores that already hold events are flagged for a rebuild, which the
 * report sink runs when it opens (the rollups derive from the events). */
#define PM_ROLLUP_COUNTERS                                                                                             \
    " impressions INTEGER NOT NULL DEFAULT 0, clicks INTEGER NOT NULL DEFAULT 0,"                                      \
    " unique_clicks INTEGER NOT NULL DEFAULT 0, conversions INTEGER NOT NULL DEFAULT 0,"                               \
    " pending_conversions INTEGER NOT NULL DEFAULT 0, rejected_conversions INTEGER NOT NULL DEFAULT 0,"                \
    " cost_micros INTEGER NOT NULL DEFAULT 0, revenue_micros INTEGER NOT NULL DEFAULT 0,"                              \
    " pending_revenue_micros INTEGER NOT NULL DEFAULT 0, payout_micros INTEGER NOT NULL DEFAULT 0,"                    \
    " money_events INTEGER NOT NULL DEFAULT 0,"
/* The three rollup tables of a tier, with `counters` (the columns of their
 * time: later versions add counters with ALTER TABLE). */
#define PM_ROLLUP_CAMPAIGN(tier, counters)                                                                             \
    "CREATE TABLE rollup_campaign_" tier "(campaign_id INTEGER NOT NULL, bucket INTEGER NOT NULL,"                     \
    " traffic_source_id INTEGER NOT NULL, conversion_type TEXT NOT NULL, currency TEXT NOT NULL," counters             \
    " PRIMARY KEY(campaign_id, bucket, traffic_source_id, conversion_type, currency)) WITHOUT ROWID;"
#define PM_ROLLUP_MAIN(tier, counters)                                                                                 \
    "CREATE TABLE rollup_main_" tier "(campaign_id INTEGER NOT NULL, bucket INTEGER NOT NULL,"                         \
    " traffic_source_id INTEGER NOT NULL, offer_id INTEGER NOT NULL, lander_id INTEGER NOT NULL,"                      \
    " language TEXT NOT NULL, conversion_type TEXT NOT NULL, currency TEXT NOT NULL," counters                         \
    " PRIMARY KEY(campaign_id, bucket, traffic_source_id, offer_id, lander_id, language,"                              \
    " conversion_type, currency)) WITHOUT ROWID;"
#define PM_ROLLUP_DIM(tier, counters)                                                                                  \
    "CREATE TABLE rollup_dim_" tier "(dim INTEGER NOT NULL, campaign_id INTEGER NOT NULL,"                             \
    " bucket INTEGER NOT NULL, traffic_source_id INTEGER NOT NULL, value TEXT NOT NULL,"                               \
    " conversion_type TEXT NOT NULL, currency TEXT NOT NULL," counters                                                 \
    " PRIMARY KEY(dim, campaign_id, bucket, traffic_source_id, value, conversion_type, currency))"                     \
    " WITHOUT ROWID;"
static const char schema_v2[] =
    "CREATE TABLE report_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO report_meta(key, value) SELECT 'rebuild', '1' WHERE EXISTS(SELECT 1 FROM clicks)"
    "  OR EXISTS(SELECT 1 FROM impressions) OR EXISTS(SELECT 1 FROM conversions);"
    "CREATE TABLE report_seen(day INTEGER NOT NULL, campaign_id INTEGER NOT NULL,"
    "  visitor_id BLOB NOT NULL, click_id BLOB NOT NULL,"
    "  PRIMARY KEY(day, campaign_id, visitor_id)) WITHOUT ROWID;" PM_ROLLUP_CAMPAIGN("q", PM_ROLLUP_COUNTERS)
        PM_ROLLUP_CAMPAIGN("d", PM_ROLLUP_COUNTERS) PM_ROLLUP_MAIN("q", PM_ROLLUP_COUNTERS)
            PM_ROLLUP_MAIN("d", PM_ROLLUP_COUNTERS) PM_ROLLUP_DIM("q", PM_ROLLUP_COUNTERS)
                PM_ROLLUP_DIM("d", PM_ROLLUP_COUNTERS);

/* Version 3: identity for cross-device journeys (docs/attribution.md).
 * user_id is the advertiser's id for a person (?uid=), email_hash the
 * SHA-256 hex of a postback's normalised ?email= (the address itself is
 * never stored). The (ts) indexes serve the attribution loader's range
 * scans; ts only grows on insert, so they cost little on the write path. */
static const char schema_v3[] = "ALTER TABLE clicks ADD COLUMN user_id TEXT;"
                                "ALTER TABLE impressions ADD COLUMN user_id TEXT;"
                                "ALTER TABLE conversions ADD COLUMN user_id TEXT;"
                                "ALTER TABLE conversions ADD COLUMN email_hash TEXT;"
                                "CREATE INDEX clicks_ts ON clicks(ts);"
                                "CREATE INDEX impressions_ts ON impressions(ts);"
                                "CREATE INDEX conversions_ts ON conversions(ts);";

/* Version 4: the postback outbox (src/outbox, docs/postbacks.md), and
 * budgets and caps (docs/budgets.md): a campaign's daily and total budget
 * (micro-units of budget_currency, NULL = none) and own fallback URL ('' =
 * the workspace's), an offer's caps of conversions per day and in total.
 * A row per
 * postback to send, enqueued by the outbox sink in the transaction of the
 * conversion it reports (UNIQUE(event_id, target): exactly-once), and a row
 * per delivery attempt. `queued_at` and `budget_start` restart the age and
 * attempt limits when a failed postback is re-queued by hand. */
static const char schema_v4[] =
    "CREATE TABLE postbacks(id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,"
    "  conversion_id TEXT NOT NULL, click_id TEXT, campaign_id INTEGER, traffic_source_id INTEGER,"
    "  target TEXT NOT NULL, event TEXT NOT NULL, conversion_status TEXT NOT NULL, url TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK(status IN ('pending','delivered','failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0, budget_start INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL, queued_at INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL, delivered_at INTEGER, last_http_status INTEGER, last_error TEXT,"
    "  UNIQUE(event_id, target));"
    "CREATE INDEX postbacks_due ON postbacks(status, next_attempt_at);"
    "CREATE INDEX postbacks_conversion ON postbacks(conversion_id);"
    "CREATE TABLE postback_attempts(postback_id INTEGER NOT NULL, n INTEGER NOT NULL,"
    "  started_at INTEGER NOT NULL, duration_us INTEGER NOT NULL, http_status INTEGER, error TEXT,"
    "  PRIMARY KEY(postback_id, n)) WITHOUT ROWID;"
    "ALTER TABLE campaigns ADD COLUMN budget_daily_micros INTEGER;"
    "ALTER TABLE campaigns ADD COLUMN budget_total_micros INTEGER;"
    "ALTER TABLE campaigns ADD COLUMN budget_currency TEXT;"
    "ALTER TABLE campaigns ADD COLUMN fallback_url TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE offers ADD COLUMN cap_daily INTEGER;"
    "ALTER TABLE offers ADD COLUMN cap_total INTEGER;";

/* Version 5: flows (src/route, docs/flows.md). A flow row keeps each member
 * of its JSON definition as JSON text, checked by the flow compiler before
 * it is written; a campaign may point at one. A click records how its
 * destination was chosen (route: compact JSON with the flow, path, option
 * and option key), indexed by flow and path for experiment results (a
 * partial index: clicks without a flow cost nothing). Experiments compare
 * the options of one flow path. */
static const char schema_v5[] =
    "CREATE TABLE flows(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
    "  rules TEXT NOT NULL DEFAULT '[]', default_path TEXT NOT NULL, fallback_path TEXT, bot_path TEXT,"
    "  frequency_cap TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted_at INTEGER);"
    "ALTER TABLE campaigns ADD COLUMN flow_id INTEGER REFERENCES flows(id);"
    "ALTER TABLE clicks ADD COLUMN route TEXT;"
    "CREATE INDEX clicks_route ON clicks(json_extract(route,'$.flow'), json_extract(route,'$.path'))"
    "  WHERE route IS NOT NULL;"
    "CREATE TABLE experiments(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
    "  flow_id INTEGER NOT NULL REFERENCES flows(id), path TEXT NOT NULL, goal TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted_at INTEGER);";

/* Version 6: the visitor context the detectors fill on the click path
 * (src/route, docs/routing.md): geo, device, OS, browser and the bot
 * filter's reason code (NULL for humans). Conversions inherit them from
 * their click, so reports by country or device need no join. */
#define PM_VISITOR_CONTEXT_COLUMNS(t)                                                                                  \
    "ALTER TABLE " t " ADD COLUMN country TEXT;"                                                                       \
    "ALTER TABLE " t " ADD COLUMN region TEXT;"                                                                        \
    "ALTER TABLE " t " ADD COLUMN device_type TEXT;"                                                                   \
    "ALTER TABLE " t " ADD COLUMN os TEXT;"                                                                            \
    "ALTER TABLE " t " ADD COLUMN os_version TEXT;"                                                                    \
    "ALTER TABLE " t " ADD COLUMN browser TEXT;"                                                                       \
    "ALTER TABLE " t " ADD COLUMN browser_version TEXT;"                                                               \
    "ALTER TABLE " t " ADD COLUMN bot_reason TEXT;"
#define PM_ROLLUP_BOT_CLICKS(t)                                                                                        \
    "ALTER TABLE rollup_" t "_q ADD COLUMN bot_clicks INTEGER NOT NULL DEFAULT 0;"                                     \
    "ALTER TABLE rollup_" t "_d ADD COLUMN bot_clicks INTEGER NOT NULL DEFAULT 0;"
/* Reports count flagged clicks apart (bot_clicks); the rollups' codes
 * signature changes with the new dimensions, so they are rebuilt once. */
static const char schema_v6[] = PM_VISITOR_CONTEXT_COLUMNS("clicks") PM_VISITOR_CONTEXT_COLUMNS("impressions")
    PM_VISITOR_CONTEXT_COLUMNS("conversions") PM_ROLLUP_BOT_CLICKS("campaign") PM_ROLLUP_BOT_CLICKS("main")
        PM_ROLLUP_BOT_CLICKS("dim");

/* Version 7: money (docs/money.md). Pricing on both sides (partners and
 * their payouts, pricing rules per offer / partner / conversion type, the
 * campaign's revenue-share and auto cost), the conversion lifecycle
 * (status changes as events, each conversion's current state) and the
 * double-entry ledger with its exchange rates. conversion_adjustments holds
 * what a status change does to reports: the old state with sign -1 and the
 * new one with sign +1, at the conversion's own time, in the columns the
 * report feed reads; the rollups consume it like the other event tables.
 * conversion_state, conversion_adjustments and ledger_entries are derived
 * (the ledger sink writes them in the materializer's transaction); a store
 * that already holds events is flagged for the sink to book them once.
 * Adjustments carry the visitor context of version 6 (a chargeback leaves
 * the country and device rows of its conversion). */
#define PM_VISITOR_CONTEXT_DECL                                                                                        \
    " country TEXT, region TEXT, device_type TEXT, os TEXT, os_version TEXT, browser TEXT,"                            \
    " browser_version TEXT, bot_reason TEXT"
#define PM_ADJUSTMENT_COLUMNS                                                                                          \
    "id INTEGER PRIMARY KEY, change_id TEXT NOT NULL, sign INTEGER NOT NULL, ts INTEGER NOT NULL,"                     \
    " campaign_id INTEGER, traffic_source_id INTEGER, offer_id INTEGER, lander_id INTEGER,"                            \
    " visitor_id TEXT, language TEXT," PM_EVENT_SUB_COLUMNS " status TEXT NOT NULL, conversion_type TEXT NOT NULL,"    \
    " revenue_micros INTEGER NOT NULL DEFAULT 0, revenue_currency TEXT,"                                               \
    " payout_micros INTEGER NOT NULL DEFAULT 0, payout_currency TEXT,"                                                 \
    " cost_micros INTEGER NOT NULL DEFAULT 0, cost_currency TEXT," PM_VISITOR_CONTEXT_DECL
static const char schema_v7[] =
    "CREATE TABLE partners(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
    "  payout_model TEXT NOT NULL DEFAULT 'none', payout_micros INTEGER NOT NULL DEFAULT 0,"
    "  payout_currency TEXT NOT NULL DEFAULT 'USD', payout_percent_micros INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted_at INTEGER);"
    "ALTER TABLE campaigns ADD COLUMN partner_id INTEGER REFERENCES partners(id);"
    "ALTER TABLE campaigns ADD COLUMN cost_percent_micros INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE campaigns ADD COLUMN cost_conversion_type TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE offers ADD COLUMN payout_percent_micros INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE offers ADD COLUMN repeat_conversions INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE pricing_rules(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  side TEXT NOT NULL CHECK(side IN ('revenue','payout')),"
    "  offer_id INTEGER REFERENCES offers(id), partner_id INTEGER REFERENCES partners(id),"
    "  conversion_type TEXT NOT NULL DEFAULT '', model TEXT NOT NULL CHECK(model IN ('fixed','percent')),"
    "  amount_micros INTEGER NOT NULL DEFAULT 0, currency TEXT NOT NULL,"
    "  percent_micros INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted_at INTEGER);"
    "ALTER TABLE conversions ADD COLUMN partner_id INTEGER;"
    "ALTER TABLE conversions ADD COLUMN lead_id TEXT;"
    "CREATE INDEX conversions_lead ON conversions(lead_id) WHERE lead_id IS NOT NULL;"
    "CREATE TABLE conversion_changes(id TEXT PRIMARY KEY, ts INTEGER NOT NULL,"
    "  conversion_id TEXT NOT NULL, version INTEGER NOT NULL, conversion_ts INTEGER NOT NULL,"
    "  click_id TEXT, campaign_id INTEGER, traffic_source_id INTEGER, offer_id INTEGER,"
    "  lander_id INTEGER, partner_id INTEGER, txid TEXT NOT NULL, conversion_type TEXT NOT NULL,"
    "  prev_status TEXT NOT NULL, status TEXT NOT NULL, method TEXT NOT NULL, actor TEXT,"
    "  revenue_micros INTEGER NOT NULL DEFAULT 0, revenue_currency TEXT,"
    "  prev_revenue_micros INTEGER NOT NULL DEFAULT 0, prev_revenue_currency TEXT,"
    "  cost_micros INTEGER NOT NULL DEFAULT 0, cost_currency TEXT,"
    "  prev_cost_micros INTEGER NOT NULL DEFAULT 0, prev_cost_currency TEXT,"
    "  payout_micros INTEGER NOT NULL DEFAULT 0, payout_currency TEXT,"
    "  prev_payout_micros INTEGER NOT NULL DEFAULT 0, prev_payout_currency TEXT,"
    "  UNIQUE(conversion_id, version));"
    "CREATE INDEX conversion_changes_ts ON conversion_changes(ts);"
    "CREATE TABLE conversion_state(conversion_id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    "  status TEXT NOT NULL, revenue_micros INTEGER NOT NULL, revenue_currency TEXT,"
    "  cost_micros INTEGER NOT NULL, cost_currency TEXT, payout_micros INTEGER NOT NULL,"
    "  payout_currency TEXT, updated_ts INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO conversion_state SELECT id, 0, status, revenue_micros, revenue_currency, cost_micros,"
    "  cost_currency, payout_micros, payout_currency, ts FROM conversions;"
    "CREATE TABLE conversion_adjustments(" PM_ADJUSTMENT_COLUMNS ");"
    "CREATE TABLE ledger_entries(id INTEGER PRIMARY KEY, movement INTEGER NOT NULL,"
    "  ts INTEGER NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL, conversion_id TEXT,"
    "  campaign_id INTEGER, kind TEXT NOT NULL, account_type TEXT NOT NULL, account_id INTEGER NOT NULL,"
    "  amount_micros INTEGER NOT NULL, currency TEXT NOT NULL);"
    "CREATE INDEX ledger_conversion ON ledger_entries(conversion_id) WHERE conversion_id IS NOT NULL;"
    "ALTER TABLE rollup_campaign_q ADD COLUMN chargebacks INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE rollup_campaign_d ADD COLUMN chargebacks INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE rollup_main_q ADD COLUMN chargebacks INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE rollup_main_d ADD COLUMN chargebacks INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE rollup_dim_q ADD COLUMN chargebacks INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE rollup_dim_d ADD COLUMN chargebacks INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE cost_reports(id TEXT PRIMARY KEY, ts INTEGER NOT NULL, campaign_id INTEGER NOT NULL,"
    "  traffic_source_id INTEGER, day_start INTEGER NOT NULL, day_end INTEGER NOT NULL,"
    "  cost_micros INTEGER NOT NULL, cost_currency TEXT, method TEXT NOT NULL, actor TEXT);"
    "CREATE TABLE cost_days(campaign_id INTEGER NOT NULL, day_start INTEGER NOT NULL,"
    "  cost_micros INTEGER NOT NULL, cost_currency TEXT NOT NULL, report_id TEXT NOT NULL,"
    "  PRIMARY KEY(campaign_id, day_start)) WITHOUT ROWID;"
    "CREATE TABLE cost_adjustments(id INTEGER PRIMARY KEY, report_id TEXT NOT NULL, ts INTEGER NOT NULL,"
    "  campaign_id INTEGER, traffic_source_id INTEGER, offer_id INTEGER, lander_id INTEGER, visitor_id TEXT,"
    "  language TEXT," PM_EVENT_SUB_COLUMNS " cost_micros INTEGER NOT NULL, cost_currency TEXT," PM_VISITOR_CONTEXT_DECL
    ");"
    "CREATE TABLE fx_rates(currency TEXT PRIMARY KEY, rate_micros INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "INSERT INTO report_meta(key, value) SELECT 'ledger_backfill', '1' WHERE EXISTS(SELECT 1 FROM clicks)"
    "  OR EXISTS(SELECT 1 FROM impressions) OR EXISTS(SELECT 1 FROM conversions);";

/* Version 8: lander clicks (GET /go, docs/flows.md): the click's
 * dimensions and visitor context again, with the click they continue; and
 * the report counters lander_visits (human clicks that showed a lander) and
 * lander_clicks; and bot_impressions (flagged impressions, in no other
 * counter). The rollups' signature changes, so they are rebuilt once
 * (lander_visits and bot_impressions of the events stored before). */
#define PM_ROLLUP_LANDER(t)                                                                                            \
    "ALTER TABLE rollup_" t "_q ADD COLUMN lander_visits INTEGER NOT NULL DEFAULT 0;"                                  \
    "ALTER TABLE rollup_" t "_d ADD COLUMN lander_visits INTEGER NOT NULL DEFAULT 0;"                                  \
    "ALTER TABLE rollup_" t "_q ADD COLUMN lander_clicks INTEGER NOT NULL DEFAULT 0;"                                  \
    "ALTER TABLE rollup_" t "_d ADD COLUMN lander_clicks INTEGER NOT NULL DEFAULT 0;"                                  \
    "ALTER TABLE rollup_" t "_q ADD COLUMN bot_impressions INTEGER NOT NULL DEFAULT 0;"                                \
    "ALTER TABLE rollup_" t "_d ADD COLUMN bot_impressions INTEGER NOT NULL DEFAULT 0;"
static const char schema_v8[] =
    "CREATE TABLE lander_clicks(" PM_EVENT_COMMON_COLUMNS PM_EVENT_SUB_COLUMNS
    "  click_id TEXT NOT NULL, user_id TEXT, cost_micros INTEGER NOT NULL DEFAULT 0, cost_currency "
    "TEXT," PM_VISITOR_CONTEXT_DECL ");"
    "CREATE INDEX lander_clicks_campaign ON lander_clicks(campaign_id, id);"
    "CREATE INDEX lander_clicks_click ON lander_clicks(click_id);" PM_ROLLUP_LANDER("campaign") PM_ROLLUP_LANDER("main")
        PM_ROLLUP_LANDER("dim");

/* Version 9: postbacks to partners and on status changes
 * (docs/postbacks.md): a partner's own postback template, and the partner a
 * postback row goes to (target 'partner'); revenue tiers by volume
 * (docs/money.md): a revenue rule applies from the offer's n-th conversion
 * of the month (NULL = from the first), and a conversion records its place
 * (n) in its offer's month. */
static const char schema_v9[] = "ALTER TABLE partners ADD COLUMN postback_url TEXT NOT NULL DEFAULT '';"
                                "ALTER TABLE postbacks ADD COLUMN partner_id INTEGER;"
                                "ALTER TABLE pricing_rules ADD COLUMN volume_from INTEGER;"
                                "ALTER TABLE conversions ADD COLUMN place INTEGER;";

/* Version 10: one lander click per click (docs/flows.md). A visitor who
 * reloads the lander's link or clicks it twice used to store a lander click
 * each time, so lander_ctr could pass 1. The earliest lander click (by id,
 * which is time-ordered) of each click stays, the later ones go, and the
 * index becomes unique so the materializer's INSERT OR IGNORE drops any
 * later one, also on a journal replay. The rollups counted the deleted rows:
 * if any went, they are rebuilt from the tables once (report_meta 'rebuild',
 * set right after the DELETE, while changes() is still its count). */
static const char schema_v10[] =
    "DELETE FROM lander_clicks WHERE EXISTS(SELECT 1 FROM lander_clicks o"
    "  WHERE o.click_id = lander_clicks.click_id AND o.id < lander_clicks.id);"
    "INSERT OR REPLACE INTO report_meta(key, value) SELECT 'rebuild', '1' WHERE changes() > 0;"
    "DROP INDEX lander_clicks_click;"
    "CREATE UNIQUE INDEX lander_clicks_click ON lander_clicks(click_id);";

/* Version 11: creatives (perfmark issue 4): the ad a click or impression
 * came from, one campaign's own; events record it (0/NULL = none). */
static const char schema_v11[] =
    "CREATE TABLE creatives(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  campaign_id INTEGER NOT NULL REFERENCES campaigns(id), name TEXT NOT NULL,"
    "  url TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT 'active' CHECK(status IN ('active','paused')),"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted_at INTEGER);"
    "CREATE INDEX creatives_campaign ON creatives(campaign_id);"
    "ALTER TABLE clicks ADD COLUMN creative_id INTEGER;"
    "ALTER TABLE impressions ADD COLUMN creative_id INTEGER;"
    "ALTER TABLE conversions ADD COLUMN creative_id INTEGER;";

/* Version 12 (perfmark issue 5): a creative's own frequency cap, the JSON
 * {"max","per","count"} a flow's frequency_cap takes; NULL = none. The
 * partial indexes let a start rebuild a creative's counts without a scan
 * (pm_fcap_load), and cost nothing for events without a creative. And a
 * campaign's bot check: 'js' sends first clicks through a script page. */
static const char schema_v12[] =
    "ALTER TABLE creatives ADD COLUMN frequency_cap TEXT;"
    "ALTER TABLE campaigns ADD COLUMN bot_check TEXT NOT NULL DEFAULT 'none' CHECK(bot_check IN ('none','js'));"
    "CREATE INDEX clicks_creative ON clicks(creative_id, ts) WHERE creative_id IS NOT NULL;"
    "CREATE INDEX impressions_creative ON impressions(creative_id, ts) WHERE creative_id IS NOT NULL;";

/* Version 13 (perfmark issue 4): the creative and partner report
 * dimensions. Every table a rollup is built from carries both: clicks and
 * impressions get the campaign's partner at click time, lander clicks and
 * adjustments copy their click's or conversion's. Rows stored before are
 * filled where the store still knows the answer: a campaign's current
 * partner for its clicks and impressions, a lander click's click, an
 * adjustment's conversion; a cost share never recorded its click, so old
 * ones keep no creative. The rollups are rebuilt once (their signature
 * changes with the two new dimension codes). */
static const char schema_v13[] =
    "ALTER TABLE clicks ADD COLUMN partner_id INTEGER;"
    "ALTER TABLE impressions ADD COLUMN partner_id INTEGER;"
    "ALTER TABLE lander_clicks ADD COLUMN creative_id INTEGER;"
    "ALTER TABLE lander_clicks ADD COLUMN partner_id INTEGER;"
    "ALTER TABLE conversion_adjustments ADD COLUMN creative_id INTEGER;"
    "ALTER TABLE conversion_adjustments ADD COLUMN partner_id INTEGER;"
    "ALTER TABLE cost_adjustments ADD COLUMN creative_id INTEGER;"
    "ALTER TABLE cost_adjustments ADD COLUMN partner_id INTEGER;"
    "UPDATE clicks SET partner_id=(SELECT partner_id FROM campaigns k WHERE k.id=clicks.campaign_id)"
    "  WHERE campaign_id IN (SELECT id FROM campaigns WHERE partner_id IS NOT NULL);"
    "UPDATE impressions SET partner_id=(SELECT partner_id FROM campaigns k WHERE k.id=impressions.campaign_id)"
    "  WHERE campaign_id IN (SELECT id FROM campaigns WHERE partner_id IS NOT NULL);"
    "UPDATE cost_adjustments SET partner_id=(SELECT partner_id FROM campaigns k WHERE "
    "k.id=cost_adjustments.campaign_id)"
    "  WHERE campaign_id IN (SELECT id FROM campaigns WHERE partner_id IS NOT NULL);"
    "UPDATE lander_clicks SET (creative_id, partner_id)=(SELECT c.creative_id, c.partner_id FROM clicks c"
    "  WHERE c.id=lander_clicks.click_id);"
    "UPDATE conversion_adjustments SET (creative_id, partner_id)=(SELECT c.creative_id, ch.partner_id"
    "  FROM conversion_changes ch JOIN conversions c ON c.id=ch.conversion_id"
    "  WHERE ch.id=conversion_adjustments.change_id);";

/* Version 14 (perfmark issue 4): a week tier beside the 15-minute and day
 * tiers, ISO weeks in UTC (Monday to Sunday): a 30-day report of a
 * dimension reads four week rows and a few days per value instead of 30
 * day rows (docs/reports.md). Same keys and counters as the day tier, in
 * the day tier's column order (its counters grew by ALTER TABLE). The
 * rollup signature changes with it, so the rollups are rebuilt once. */
#define PM_ROLLUP_COUNTERS_V14                                                                                         \
    PM_ROLLUP_COUNTERS " bot_clicks INTEGER NOT NULL DEFAULT 0, chargebacks INTEGER NOT NULL DEFAULT 0,"               \
                       " lander_visits INTEGER NOT NULL DEFAULT 0, lander_clicks INTEGER NOT NULL DEFAULT 0,"          \
                       " bot_impressions INTEGER NOT NULL DEFAULT 0,"
static const char schema_v14[] = PM_ROLLUP_CAMPAIGN("w", PM_ROLLUP_COUNTERS_V14)
    PM_ROLLUP_MAIN("w", PM_ROLLUP_COUNTERS_V14) PM_ROLLUP_DIM("w", PM_ROLLUP_COUNTERS_V14);

static const char *const migrations[] = {schema_v1,  schema_v2,  schema_v3,  schema_v4, schema_v5,
                                         schema_v6,  schema_v7,  schema_v8,  schema_v9, schema_v10,
                                         schema_v11, schema_v12, schema_v13, schema_v14};

const char *const pm_store_setting_keys[] = {
    "fallback_url", "timezone", "ip_v4_prefix",    "ip_v6_prefix", "trusted_proxies",
    "base_url",     "currency", "postback_secret", "cookie_days",  NULL,
};

static const char *const setting_defaults[] = {
    "https://www.example.com/", "UTC", "24", "48", "127.0.0.0/8,::1/128", "", "USD", "", "365", NULL,
};

const char *pm_store_setting_default(const char *key)
{
    for (size_t i = 0; pm_store_setting_keys[i]; i++)
        if (strcmp(pm_store_setting_keys[i], key) == 0) return setting_defaults[i];
    return NULL;
}

static int fail(pm_store_t *s, const char *what)
{
    pm_error("store: %s: %s", what, sqlite3_errmsg(s->db));
    return PM_ESTORE;
}

int pm_store_exec(pm_store_t *s, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        pm_error("store: %s", err ? err : sqlite3_errmsg(s->db));
        sqlite3_free(err);
        return PM_ESTORE;
    }
    return PM_OK;
}

static int user_version(pm_store_t *s, int *v)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return fail(s, "user_version");
    *v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return PM_OK;
}

static int migrate(pm_store_t *s)
{
    int v = 0, rc = user_version(s, &v);
    if (rc != PM_OK) return rc;
    if (v > (int)PM_ARRAY_LEN(migrations)) {
        pm_error("store: schema version %d is newer than this binary knows (%zu)", v, PM_ARRAY_LEN(migrations));
        return PM_ESTORE;
    }
    for (; v < (int)PM_ARRAY_LEN(migrations); v++) {
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", v + 1);
        if ((rc = pm_store_begin(s)) != PM_OK) return rc;
        if ((rc = pm_store_exec(s, migrations[v])) != PM_OK || (rc = pm_store_exec(s, pragma)) != PM_OK) {
            pm_store_rollback(s);
            return rc;
        }
        if ((rc = pm_store_commit(s)) != PM_OK) return rc;
    }
    return PM_OK;
}

int pm_store_open(const char *path, pm_store_t **out)
{
    pm_store_t *s = pm_calloc(1, sizeof(*s));
    int rc = PM_ESTORE;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        pm_error("store: cannot open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(s->db, 10000);
    rc = pm_store_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                          " PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;");
    if (rc != PM_OK) goto out;
    rc = migrate(s);
out:
    if (rc != PM_OK) {
        pm_store_close(s);
        s = NULL;
    }
    *out = s;
    return rc;
}

void pm_store_close(pm_store_t *s)
{
    if (s == NULL) return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close_v2(s->db);
    pm_free(s);
}

sqlite3 *pm_store_db(pm_store_t *s)
{
    return s->db;
}

static const char *const cached_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_HWM_SET] = ("INSERT INTO journal_hwm(lineage, seq, offset) VALUES(?,?,?)"
                    " ON CONFLICT(lineage) DO UPDATE SET seq=excluded.seq, offset=excluded.offset"),
};

/* The cached statement `which`, prepared on first use; NULL on failure
 * (logged). */
static sqlite3_stmt *cached(pm_store_t *s, int which)
{
    if (s->st[which] == NULL &&
        sqlite3_prepare_v3(s->db, cached_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &s->st[which], NULL) != SQLITE_OK) {
        fail(s, cached_sql[which]);
        sqlite3_finalize(s->st[which]);
        s->st[which] = NULL;
    }
    return s->st[which];
}

/* Step a cached statement once (it returns no row) and reset it. */
static int run_cached(pm_store_t *s, int which, const char *what)
{
    sqlite3_stmt *st = cached(s, which);
    if (st == NULL) return PM_ESTORE;
    int step = sqlite3_step(st);
    int rc = step == SQLITE_DONE ? PM_OK : fail(s, what);
    sqlite3_reset(st);
    return rc;
}

int pm_store_begin(pm_store_t *s)
{
    return run_cached(s, ST_BEGIN, "begin");
}
int pm_store_commit(pm_store_t *s)
{
    return run_cached(s, ST_COMMIT, "commit");
}

void pm_store_rollback(pm_store_t *s)
{
    if (sqlite3_get_autocommit(s->db)) return;
    sqlite3_stmt *st = cached(s, ST_ROLLBACK);
    if (st == NULL) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    sqlite3_step(st);
    sqlite3_reset(st);
}

int pm_store_setting_get(pm_store_t *s, const char *key, char **out)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM settings WHERE key=?", -1, &st, NULL) != SQLITE_OK)
        return fail(s, "setting_get");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *out = pm_strdup((const char *)sqlite3_column_text(st, 0));
    } else {
        const char *def = pm_store_setting_default(key);
        *out = pm_strdup(def ? def : "");
    }
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? PM_OK : fail(s, "setting_get");
}

int pm_store_setting_set(pm_store_t *s, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT INTO settings(key,value) VALUES(?,?)"
                      " ON CONFLICT(key) DO UPDATE SET value=excluded.value";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, "setting_set");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? PM_OK : fail(s, "setting_set");
}

/* Keys are "pm_" + 40 base32 characters (200 bits). Only their SHA-256 is
 * stored: a stolen store does not yield usable keys. */
#define KEY_CHARS 40

static void key_hash(const char *key, size_t len, unsigned char out[SHA256_DIGEST_LENGTH])
{
    SHA256((const unsigned char *)key, len, out);
}

int pm_store_key_create(pm_store_t *s, const char *role, const char *name, char **key_out)
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    if (strcmp(role, "admin") != 0 && strcmp(role, "viewer") != 0) return PM_EINVAL;
    uint8_t rnd[KEY_CHARS];
    int rc = pm_random_bytes(rnd, sizeof(rnd));
    if (rc != PM_OK) return rc;
    char *key = pm_malloc(3 + KEY_CHARS + 1);
    memcpy(key, "pm_", 3);
    for (size_t i = 0; i < KEY_CHARS; i++)
        key[3 + i] = alphabet[rnd[i] & 31];
    key[3 + KEY_CHARS] = '\0';
    unsigned char hash[SHA256_DIGEST_LENGTH];
    key_hash(key, 3 + KEY_CHARS, hash);
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT INTO api_keys(hash, role, name, created_at) VALUES(?,?,?,?)";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        pm_free(key);
        return fail(s, "key_create");
    }
    sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_STATIC);
    sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name ? name : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, pm_now());
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        pm_free(key);
        return fail(s, "key_create");
    }
    *key_out = key;
    return PM_OK;
}

int pm_store_key_check(pm_store_t *s, const char *key, size_t len, const char **role_out)
{
    unsigned char hash[SHA256_DIGEST_LENGTH];
    key_hash(key, len, hash);
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT role FROM api_keys WHERE hash=? AND revoked_at IS NULL";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, "key_check");
    sqlite3_bind_blob(st, 1, hash, sizeof(hash), SQLITE_STATIC);
    int step = sqlite3_step(st), rc = PM_ENOTFOUND;
    if (step == SQLITE_ROW) {
        const char *role = (const char *)sqlite3_column_text(st, 0);
        *role_out = role && strcmp(role, "admin") == 0 ? "admin" : "viewer";
        rc = PM_OK;
    } else if (step != SQLITE_DONE) {
        rc = fail(s, "key_check");
    }
    sqlite3_finalize(st);
    return rc;
}

int pm_store_key_revoke(pm_store_t *s, int64_t id)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, "key_revoke");
    sqlite3_bind_int64(st, 1, pm_now());
    sqlite3_bind_int64(st, 2, id);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) return fail(s, "key_revoke");
    return sqlite3_changes(s->db) ? PM_OK : PM_ENOTFOUND;
}

int pm_store_key_count(pm_store_t *s, int64_t *count)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, "key_count");
    int step = sqlite3_step(st);
    *count = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return step == SQLITE_ROW ? PM_OK : fail(s, "key_count");
}

int pm_store_hwm_get(pm_store_t *s, unsigned lineage, uint32_t *seq, uint64_t *offset)
{
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT seq, offset FROM journal_hwm WHERE lineage=?";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return fail(s, "hwm_get");
    sqlite3_bind_int64(st, 1, lineage);
    int step = sqlite3_step(st);
    *seq = step == SQLITE_ROW ? (uint32_t)sqlite3_column_int64(st, 0) : 0;
    *offset = step == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 1) : 0;
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? PM_OK : fail(s, "hwm_get");
}

int pm_store_hwm_set(pm_store_t *s, unsigned lineage, uint32_t seq, uint64_t offset)
{
    sqlite3_stmt *st = cached(s, ST_HWM_SET);
    if (st == NULL) return PM_ESTORE;
    sqlite3_bind_int64(st, 1, lineage);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)offset);
    int step = sqlite3_step(st);
    int rc = step == SQLITE_DONE ? PM_OK : fail(s, "hwm_set");
    sqlite3_reset(st);
    return rc;
}

void pm_store_bind_id(sqlite3_stmt *st, int i, const pm_id_t *id)
{
    char text[PM_ID_LEN + 1];
    if (pm_id_is_zero(id)) {
        sqlite3_bind_null(st, i);
        return;
    }
    pm_id_format(id, text);
    sqlite3_bind_text(st, i, text, PM_ID_LEN, SQLITE_TRANSIENT);
}

void pm_store_bind_ref(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/*
 * outbox.c: what the postback outbox decides without the network (see
 * pm/outbox.h): the retry schedule, the URL a postback is sent to, and the
 * materializer sink that enqueues postbacks in the conversion's own
 * transaction. The delivery worker is in deliver.c.
 *
 * The URL is expanded once, at enqueue: the row holds what will be sent,
 * so the API shows it, retries send the same bytes, and a later edit of the
 * traffic source's template does not rewrite postbacks already queued.
 *
 * Enqueue is keyed by (event id, target): a new conversion and each of its
 * status changes (its own event id, the new status and amounts) enqueue one
 * postback per target, the click's traffic source and the campaign's
 * partner, whatever the status: the template decides what it reports.
 */
#include "pm/outbox.h"
#include "pm/macro.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#define MAX_POSTBACK_URL 8192

/* --- policy -------------------------------------------------------------- */

void pm_outbox_policy_defaults(pm_outbox_policy_t *p)
{
    if (p->backoff_base_us <= 0) p->backoff_base_us = 30 * PM_USEC_PER_SEC;
    if (p->backoff_max_us <= 0) p->backoff_max_us = 3600 * PM_USEC_PER_SEC;
    if (p->backoff_max_us < p->backoff_base_us) p->backoff_max_us = p->backoff_base_us;
    if (p->max_attempts == 0) p->max_attempts = 10;
    if (p->max_age_us <= 0) p->max_age_us = 3 * 86400 * PM_USEC_PER_SEC;
    if (p->timeout_us <= 0) p->timeout_us = 10 * PM_USEC_PER_SEC;
    if (p->concurrency == 0) p->concurrency = 32;
    if (p->concurrency > 256) p->concurrency = 256;
    if (p->poll_us <= 0) p->poll_us = PM_USEC_PER_SEC;
}

int64_t pm_outbox_backoff_us(const pm_outbox_policy_t *p, unsigned failures, uint64_t rnd)
{
    int64_t d = p->backoff_base_us;
    for (unsigned i = 1; i < failures && d < p->backoff_max_us; i++)
        d = d > p->backoff_max_us / 2 ? p->backoff_max_us : d * 2;
    if (d > p->backoff_max_us) d = p->backoff_max_us;
    int64_t half = d / 2;
    return d - half + (int64_t)(rnd % (uint64_t)(half + 1));
}

bool pm_outbox_give_up(const pm_outbox_policy_t *p, unsigned attempts, int64_t queued_at, int64_t next_at)
{
    return attempts >= p->max_attempts || next_at - queued_at > p->max_age_us;
}

/* --- URL ----------------------------------------------------------------- */

typedef struct url_ctx_s {
    const pm_event_t *ev;
    const char *status;
    const pm_money_t *value; /* {payout} / {revenue}: per target */
    char buf[2][PM_MONEY_STR_MAX + PM_ID_LEN + 24];
    int next;
} url_ctx_t;

static bool is(const char *name, size_t len, const char *lit)
{
    return strlen(lit) == len && !memcmp(name, lit, len);
}

static char *next_buf(url_ctx_t *c)
{
    char *b = c->buf[c->next];
    c->next ^= 1;
    return b;
}

static bool give(const char *v, size_t n, const char **value, size_t *len)
{
    *value = v;
    *len = n;
    return true;
}

static bool resolve_number(url_ctx_t *c, const char *name, size_t len, const char **value, size_t *vlen)
{
    const pm_event_t *ev = c->ev;
    int64_t v;
    if (is(name, len, "campaign_id"))
        v = ev->campaign_id;
    else if (is(name, len, "traffic_source_id"))
        v = ev->traffic_source_id;
    else if (is(name, len, "offer_id"))
        v = ev->offer_id;
    else if (is(name, len, "lander_id"))
        v = ev->lander_id;
    else if (is(name, len, "partner_id"))
        v = ev->partner_id;
    else
        return false;
    char *b = next_buf(c);
    int n = v ? snprintf(b, sizeof(c->buf[0]), "%lld", (long long)v) : 0;
    return give(b, n > 0 ? (size_t)n : 0, value, vlen);
}

static bool resolve_id(url_ctx_t *c, const char *name, size_t len, const char **value, size_t *vlen)
{
    const pm_id_t *id = NULL;
    if (is(name, len, "clickid") || is(name, len, "click_id"))
        id = &c->ev->click_id;
    else if (is(name, len, "conversion_id"))
        id = c->ev->type == PM_EV_STATUS_CHANGE ? &c->ev->ref_id : &c->ev->id;
    else if (is(name, len, "visitor_id"))
        id = &c->ev->visitor_id;
    else
        return false;
    if (pm_id_is_zero(id)) return give(NULL, 0, value, vlen);
    char *b = next_buf(c);
    pm_id_format(id, b);
    return give(b, PM_ID_LEN, value, vlen);
}

static bool resolve_field(const pm_event_t *ev, const char *name, size_t len, const char **value, size_t *vlen)
{
    pm_event_str_t f;
    if (is(name, len, "txid"))
        f = PM_EVS_TXID;
    else if (is(name, len, "type"))
        f = PM_EVS_CONV_TYPE;
    else if (is(name, len, "user_id"))
        f = PM_EVS_USER_ID;
    else if (is(name, len, "prev_status"))
        f = PM_EVS_PREV_STATUS;
    else {
        for (f = PM_EVS_SUB1; f <= PM_EVS_EXTERNAL_ID; f++)
            if (is(name, len, pm_event_str_name(f))) break;
        if (f > PM_EVS_EXTERNAL_ID) return false;
    }
    return give(ev->s[f].p, ev->s[f].len, value, vlen);
}

static bool resolve(void *arg, const char *name, size_t len, const char **value, size_t *vlen)
{
    url_ctx_t *c = arg;
    if (is(name, len, "payout") || is(name, len, "revenue")) {
        char *b = next_buf(c);
        return give(b, pm_money_format(c->value->micros, b), value, vlen);
    }
    if (is(name, len, "currency")) return give(c->value->currency.code, strlen(c->value->currency.code), value, vlen);
    if (is(name, len, "status")) return give(c->status, strlen(c->status), value, vlen);
    if (is(name, len, "event")) {
        const char *kind = pm_event_type_name(c->ev->type);
        return give(kind, kind ? strlen(kind) : 0, value, vlen);
    }
    return resolve_id(c, name, len, value, vlen) || resolve_number(c, name, len, value, vlen) ||
           resolve_field(c->ev, name, len, value, vlen);
}

int pm_outbox_build_url(pm_buf_t *out, const char *tpl, const pm_event_t *ev, const char *status,
                        pm_outbox_target_t target)
{
    url_ctx_t c = {
        .ev = ev, .status = status ? status : "", .value = target == PM_OUTBOX_TO_PARTNER ? &ev->payout : &ev->revenue};
    return pm_macro_expand(out, tpl, strlen(tpl), resolve, &c, true);
}

/* --- the sink -------------------------------------------------------------- */

typedef struct sink_s {
    sqlite3 *db;
    sqlite3_stmt *template_of[2], *insert; /* by pm_outbox_target_t */
    pm_buf_t url;
    char tpl[MAX_POSTBACK_URL + 1];
} sink_t;

static int sink_prepare(sink_t *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK) return PM_OK;
    pm_error("outbox: prepare: %s", sqlite3_errmsg(s->db));
    return PM_ESTORE;
}

static void sink_close(void *state)
{
    sink_t *s = state;
    if (s == NULL) return;
    sqlite3_finalize(s->template_of[PM_OUTBOX_TO_SOURCE]);
    sqlite3_finalize(s->template_of[PM_OUTBOX_TO_PARTNER]);
    sqlite3_finalize(s->insert);
    pm_buf_free(&s->url);
    pm_free(s);
}

static int sink_open(pm_store_t *store, void **state)
{
    sink_t *s = pm_calloc(1, sizeof(*s));
    s->db = pm_store_db(store);
    pm_buf_init(&s->url, MAX_POSTBACK_URL);
    int rc = sink_prepare(s, "SELECT postback_url FROM traffic_sources WHERE id=? AND deleted_at IS NULL",
                          &s->template_of[PM_OUTBOX_TO_SOURCE]);
    if (rc == PM_OK)
        rc = sink_prepare(s, "SELECT postback_url FROM partners WHERE id=? AND deleted_at IS NULL",
                          &s->template_of[PM_OUTBOX_TO_PARTNER]);
    if (rc == PM_OK)
        rc = sink_prepare(s,
                          "INSERT OR IGNORE INTO postbacks(event_id, conversion_id, click_id, campaign_id,"
                          " traffic_source_id, target, event, conversion_status, url, status, created_at, queued_at,"
                          " next_attempt_at, updated_at, partner_id)"
                          " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,'pending',?10,?10,0,?10,?11)",
                          &s->insert);
    if (rc != PM_OK) {
        sink_close(s);
        s = NULL;
    }
    *state = s;
    return rc;
}

static const char *const target_names[] = {
    [PM_OUTBOX_TO_SOURCE] = "traffic_source", [PM_OUTBOX_TO_PARTNER] = "partner"};

/* The template of traffic source or partner `id` into s->tpl ("" when none). */
static int target_template(sink_t *s, pm_outbox_target_t target, int64_t id)
{
    sqlite3_stmt *st = s->template_of[target];
    s->tpl[0] = '\0';
    sqlite3_bind_int64(st, 1, id);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        snprintf(s->tpl, sizeof(s->tpl), "%s", t ? t : "");
    }
    sqlite3_reset(st);
    if (step == SQLITE_ROW || step == SQLITE_DONE) return PM_OK;
    pm_error("outbox: %s lookup: %s", target_names[target], sqlite3_errmsg(s->db));
    return PM_ESTORE;
}

/* Enqueue the postback of event `ev` (about conversion `conversion_id`,
 * reporting `status`) to `target`, when it has a template. */
static int enqueue(sink_t *s, const pm_event_t *ev, const pm_id_t *conversion_id, const char *status,
                   pm_outbox_target_t target)
{
    int64_t to = target == PM_OUTBOX_TO_PARTNER ? ev->partner_id : ev->traffic_source_id;
    if (to == 0) return PM_OK;
    int rc = target_template(s, target, to);
    if (rc != PM_OK || s->tpl[0] == '\0') return rc;
    pm_buf_reset(&s->url);
    if (pm_outbox_build_url(&s->url, s->tpl, ev, status, target) != PM_OK) {
        pm_warn("outbox: the postback URL of %s %lld is too long once expanded: not sent", target_names[target],
                (long long)to);
        return PM_OK;
    }
    sqlite3_stmt *st = s->insert;
    pm_store_bind_id(st, 1, &ev->id);
    pm_store_bind_id(st, 2, conversion_id);
    pm_store_bind_id(st, 3, &ev->click_id);
    if (ev->campaign_id) sqlite3_bind_int64(st, 4, ev->campaign_id);
    if (ev->traffic_source_id) sqlite3_bind_int64(st, 5, ev->traffic_source_id);
    sqlite3_bind_text(st, 6, target_names[target], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, pm_event_type_name(ev->type), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, s->url.data, (int)s->url.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, pm_now());
    if (ev->partner_id) sqlite3_bind_int64(st, 11, ev->partner_id);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (step == SQLITE_DONE) return PM_OK;
    pm_error("outbox: enqueue: %s", sqlite3_errmsg(s->db));
    return PM_ESTORE;
}

/* A new conversion, or a change of one's status or amounts (carrying the
 * whole new state): one postback to each target with a template, whatever
 * the status. */
static int sink_apply(void *state, const pm_event_t *ev)
{
    if (ev->type != PM_EV_CONVERSION && ev->type != PM_EV_STATUS_CHANGE) return PM_OK;
    char status[16];
    const pm_str_t *st = &ev->s[PM_EVS_STATUS];
    snprintf(status, sizeof(status), "%.*s", (int)st->len, st->p ? st->p : "");
    const pm_id_t *conversion = ev->type == PM_EV_STATUS_CHANGE ? &ev->ref_id : &ev->id;
    const char *reported = status[0] ? status : "approved";
    int rc = enqueue(state, ev, conversion, reported, PM_OUTBOX_TO_SOURCE);
    return rc == PM_OK ? enqueue(state, ev, conversion, reported, PM_OUTBOX_TO_PARTNER) : rc;
}

/* Simulated and imported history reported no conversion to anyone. */
const pm_sink_ops_t pm_outbox_sink = {"outbox", sink_open, sink_apply, sink_close, .skip_imports = true};

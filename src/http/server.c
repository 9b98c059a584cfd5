/*
 * server.c: the HTTP server over libh2o (evloop flavour) and the wiring of
 * perfmark's parts into a running process (see pm/server.h).
 *
 * Each loop thread owns: an h2o context and evloop, a listening socket bound
 * with SO_REUSEPORT (the kernel spreads connections), a journal lineage, a
 * store connection, a tracker and an API handler. Nothing on a loop is
 * shared except through the immutable config snapshot, the recent maps and
 * the materializer's reading of the journals.
 *
 * Conversions wait for the fsync that covers them: their responses are
 * parked on the loop's `waiting` list (in LSN order, since appends are
 * ordered) and sent when the journal's syncer thread reports, through an
 * h2o multithread message, that the fsync is done.
 *
 * Clicks and impressions are journaled once per loop turn: the tracker
 * stages their records (pm_track_set_staging), their responses wait on the
 * loop's `unwritten` list, and a zero-delay h2o timeout, which runs after
 * the turn's sockets have been served, writes every staged record with one
 * pwrite and then sends those responses. Each answer still leaves only
 * after its record is in the journal file, for a syscall per turn instead
 * of one per click; and the answers go out inside the loop turn, so h2o
 * re-arms reading on the same pass and no socket's epoll state changes.
 */
#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "pm/api.h"
#include "pm/ledger.h"
#include "pm/materializer.h"
#include "pm/outbox.h"
#include "pm/report.h"
#include "pm/server.h"
#include "pm/static.h"
#include "pm/track.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REQUEST_BODY (1u << 20)
/* A conversion whose fsync has not come after this long is answered 503:
 * the sender retries, and the retry finds the journaled conversion and
 * gets its answer (dedupe on offer and txid). */
#define PARK_TIMEOUT_US (5 * PM_USEC_PER_SEC)

typedef struct server_s server_t;

typedef struct loop_s {
    server_t *srv;
    unsigned index;
    pthread_t thread;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int listen_fd;
    h2o_socket_t *listener;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t synced_receiver;
    h2o_multithread_message_t synced_msg;
    _Atomic int synced_msg_in_flight;
    _Atomic int ready; /* the loop thread has built its message queue */
    h2o_linklist_t waiting; /* parked responses, oldest (lowest LSN) first */
    h2o_linklist_t unwritten;        /* responses whose records are staged (deferred_t) */
    h2o_timeout_entry_t write_entry; /* on ctx.zero_timeout while `unwritten` is not empty */
    pm_journal_t *journal;
    pm_store_t *store;
    pm_track_t *track;
    pm_api_t *api;
    pm_config_t *cfg; /* this loop's reference to the current snapshot */
} loop_t;

struct server_s {
    const pm_server_config_t *cfg;
    h2o_globalconf_t h2o;
    char db_path[4096], journal_dir[4096];
    pm_store_t *store; /* the main thread's connection */
    pm_confhold_t *confhold;
    pm_track_shared_t shared;
    pm_materializer_t *materializer;
    pm_outbox_t *outbox;
    pm_recovery_t recovery;
    loop_t *loops;
    unsigned nloops;
    _Atomic int stopping;
    int64_t started_us;
    int lock_fd; /* flock'd DATA/serve.lock: one server per data directory */
};

/* A response waiting for its fsync. Allocated on the request's pool with a
 * dispose hook, so a client that goes away takes its entry off the list. */
typedef struct parked_s {
    h2o_linklist_t link;
    h2o_req_t *req;
    int64_t parked_at; /* monotonic microseconds */
    bool done;
    pm_http_res_t res;
} parked_t;

/* A response waiting for its staged record to be written (this turn). Small,
 * on the request's pool; its headers are already on req->res. */
typedef struct deferred_s {
    h2o_linklist_t link;
    h2o_req_t *req;
    h2o_iovec_t body;
} deferred_t;

/* --- request and response translation ------------------------------------ */

static pm_slice_t slice(h2o_iovec_t v) { return (pm_slice_t){v.base, v.len}; }

static bool header_is(const h2o_header_t *h, const char *lower)
{
    size_t n = strlen(lower);
    return h->name->len == n && memcmp(h->name->base, lower, n) == 0;
}

static void read_headers(h2o_req_t *req, pm_http_req_t *r)
{
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        pm_slice_t *dst = NULL;
        if (h->name == &H2O_TOKEN_AUTHORIZATION->buf) dst = &r->authorization;
        else if (h->name == &H2O_TOKEN_CONTENT_TYPE->buf) dst = &r->content_type;
        else if (h->name == &H2O_TOKEN_USER_AGENT->buf) dst = &r->user_agent;
        else if (h->name == &H2O_TOKEN_REFERER->buf) dst = &r->referer;
        else if (h->name == &H2O_TOKEN_ACCEPT_LANGUAGE->buf) dst = &r->accept_language;
        else if (h->name == &H2O_TOKEN_COOKIE->buf) dst = &r->cookie;
        else if (h->name == &H2O_TOKEN_X_FORWARDED_FOR->buf) dst = &r->x_forwarded_for;
        else if (h->name == &H2O_TOKEN_HOST->buf) dst = &r->host;
        else if (header_is(h, "x-real-ip")) dst = &r->x_real_ip;
        else if (header_is(h, "x-forwarded-proto")) dst = &r->x_forwarded_proto;
        if (dst && dst->p == NULL) *dst = slice(h->value);
    }
}

static void read_request(h2o_req_t *req, pm_http_req_t *r)
{
    memset(r, 0, sizeof(*r));
    r->method = slice(req->method);
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    r->path = (pm_slice_t){req->path.base, path_len};
    if (req->query_at != SIZE_MAX)
        r->query = (pm_slice_t){req->path.base + req->query_at + 1, req->path.len - req->query_at - 1};
    if (req->entity.base) r->body = slice(req->entity);
    read_headers(req, r);
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    if (sl == 0 || pm_ip_from_sockaddr((struct sockaddr *)&ss, &r->peer) != PM_OK) memset(&r->peer, 0, sizeof(r->peer));
    r->tls = req->scheme == &H2O_URL_SCHEME_HTTPS;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "OK";
    }
}

/* Status and headers onto req->res (values copied to the request's pool). */
static void prepare_response(h2o_req_t *req, pm_http_res_t *res)
{
    req->res.status = res->status ? res->status : 500;
    req->res.reason = reason(req->res.status);
    if (res->content_type)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, res->content_type,
                       strlen(res->content_type));
    for (size_t i = 0; i < res->nheaders; i++) {
        h2o_iovec_t v = h2o_strdup(&req->pool, res->headers[i].value, res->headers[i].len);
        h2o_add_header_by_str(&req->pool, &req->res.headers, res->headers[i].name, strlen(res->headers[i].name), 1,
                              NULL, v.base, v.len);
    }
    req->res.content_length = res->body.len;
}

/* The body, or none. Not h2o_send_inline with an empty body: h2o 2.2's
 * evloop hands writev the zero-length buffer, counts it as not yet
 * written, and polls for EPOLLOUT to write nothing: two epoll_ctl, an
 * epoll_wait and a writev more for every redirect (strace of a
 * keep-alive connection), about a third of the click path's syscalls. */
static void send_body(h2o_req_t *req, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    if (len) {
        h2o_send_inline(req, body, len);
        return;
    }
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

static void send_response(h2o_req_t *req, pm_http_res_t *res)
{
    prepare_response(req, res);
    send_body(req, res->body.data, res->body.len);
}

/* --- responses after the turn's journal write ---------------------------- */

static void deferred_dispose(void *p)
{
    deferred_t *d = p;
    if (h2o_linklist_is_linked(&d->link)) h2o_linklist_unlink(&d->link);
}

static void defer(loop_t *loop, h2o_req_t *req, pm_http_res_t *res)
{
    prepare_response(req, res);
    deferred_t *d = h2o_mem_alloc_shared(&req->pool, sizeof(*d), deferred_dispose);
    memset(&d->link, 0, sizeof(d->link));
    d->req = req;
    d->body = res->body.len ? h2o_strdup(&req->pool, res->body.data, res->body.len) : h2o_iovec_init(NULL, 0);
    h2o_linklist_insert(&loop->unwritten, &d->link);
    if (!h2o_timeout_is_linked(&loop->write_entry))
        h2o_timeout_link(loop->ctx.loop, &loop->ctx.zero_timeout, &loop->write_entry);
}

/* Write the staged records, then answer for them. */
static void write_staged(loop_t *loop)
{
    pm_track_write(loop->track);
    while (!h2o_linklist_is_empty(&loop->unwritten)) {
        deferred_t *d = H2O_STRUCT_FROM_MEMBER(deferred_t, link, loop->unwritten.next);
        h2o_linklist_unlink(&d->link);
        send_body(d->req, d->body.base, d->body.len);
    }
}

static void on_write_timeout(h2o_timeout_entry_t *entry)
{
    write_staged(H2O_STRUCT_FROM_MEMBER(loop_t, write_entry, entry));
}

/* --- fsync-gated responses ----------------------------------------------- */

static void parked_dispose(void *p)
{
    parked_t *k = p;
    if (h2o_linklist_is_linked(&k->link)) h2o_linklist_unlink(&k->link);
    if (!k->done) pm_http_res_free(&k->res);
    k->done = true;
}

static void park(loop_t *loop, h2o_req_t *req, pm_http_res_t *res)
{
    parked_t *k = h2o_mem_alloc_shared(&req->pool, sizeof(*k), parked_dispose);
    memset(&k->link, 0, sizeof(k->link));
    k->req = req;
    k->parked_at = pm_monotonic_us();
    pm_http_res_move(&k->res, res);
    k->done = false;
    h2o_linklist_insert(&loop->waiting, &k->link);
}

/* Send every parked response the journal's fsync now covers. */
static void release_synced(loop_t *loop)
{
    uint64_t synced = pm_journal_synced_lsn(loop->journal);
    while (!h2o_linklist_is_empty(&loop->waiting)) {
        parked_t *k = H2O_STRUCT_FROM_MEMBER(parked_t, link, loop->waiting.next);
        if (k->res.wait_lsn > synced) break;
        h2o_linklist_unlink(&k->link);
        send_response(k->req, &k->res);
        pm_http_res_free(&k->res);
        k->done = true;
    }
}

/* Answer 503 to parked conversions whose fsync is overdue (a failing or
 * stalled disk: the journal never acknowledges them as durable). */
static void expire_parked(loop_t *loop)
{
    int64_t now = pm_monotonic_us();
    while (!h2o_linklist_is_empty(&loop->waiting)) {
        parked_t *k = H2O_STRUCT_FROM_MEMBER(parked_t, link, loop->waiting.next);
        if (now - k->parked_at < PARK_TIMEOUT_US) break;
        h2o_linklist_unlink(&k->link);
        pm_http_res_free(&k->res);
        pm_http_res_init(&k->res);
        pm_http_res_error(&k->res, 503, "unavailable", NULL, "the journal could not confirm the write; retry");
        send_response(k->req, &k->res);
        pm_http_res_free(&k->res);
        k->done = true;
    }
}

static void on_synced_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    loop_t *loop = H2O_STRUCT_FROM_MEMBER(loop_t, synced_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_linklist_t *m = messages->next;
        h2o_linklist_unlink(m);
    }
    atomic_store(&loop->synced_msg_in_flight, 0);
    release_synced(loop);
}

/* Runs on the journal's syncer thread. One message at a time is in
 * flight; the loop reads the latest synced LSN when it handles it. */
static void on_journal_synced(void *arg, uint64_t lsn)
{
    loop_t *loop = arg;
    if (atomic_load(&loop->ready) && atomic_exchange(&loop->synced_msg_in_flight, 1) == 0)
        h2o_multithread_send_message(&loop->synced_receiver, &loop->synced_msg);
}

/* --- /metrics and /healthz ------------------------------------------------ */

static void metric(pm_buf_t *b, const char *name, const char *type, const char *help, uint64_t v)
{
    pm_ignore_rc(pm_buf_printf(b, "# HELP perfmark_%s %s\n# TYPE perfmark_%s %s\nperfmark_%s %llu\n", name, help, name,
                        type, name, (unsigned long long)v));
}

static void metrics(server_t *srv, pm_http_res_t *res)
{
    pm_track_stats_t t = {0};
    pm_journal_stats_t j = {0};
    for (unsigned i = 0; i < srv->nloops; i++) {
        pm_journal_stats_t one;
        pm_track_stats_add(srv->loops[i].track, &t);
        pm_journal_stats(srv->loops[i].journal, &one);
        j.records += one.records, j.bytes += one.bytes, j.fsyncs += one.fsyncs, j.write_errors += one.write_errors;
    }
    pm_materializer_stats_t m;
    pm_materializer_stats(srv->materializer, &m);
    pm_buf_t *b = &res->body;
    metric(b, "clicks_total", "counter", "Clicks journaled.", t.clicks);
    metric(b, "impressions_total", "counter", "Impressions journaled.", t.impressions);
    metric(b, "conversions_total", "counter", "Conversions journaled (first postbacks).", t.conversions);
    metric(b, "conversion_status_changes_total", "counter", "Conversion status changes recorded.", t.status_changes);
    metric(b, "duplicate_postbacks_total", "counter", "Postbacks answered as repeats.", t.duplicate_postbacks);
    metric(b, "orphan_postbacks_total", "counter", "Postbacks that matched no click.", t.orphan_postbacks);
    metric(b, "fallback_redirects_total", "counter", "Visitors sent to the fallback URL.", t.fallback_redirects);
    metric(b, "capped_redirects_total", "counter", "Clicks sent to a fallback by a budget or an offer cap.",
           t.capped_redirects);
    metric(b, "journal_append_errors_total", "counter", "Events the journal failed to take.", t.journal_errors);
    metric(b, "flow_clicks_total", "counter", "Clicks whose destination a flow chose.", t.flow_clicks);
    metric(b, "flow_capped_clicks_total", "counter", "Flow clicks sent to the fallback path by a frequency cap.",
           t.capped_clicks);
    metric(b, "flow_bot_clicks_total", "counter", "Flow clicks sent to the bot path.", t.bot_path_clicks);
    metric(b, "flow_offer_capped_clicks_total", "counter",
           "Flow clicks that skipped an option whose offer reached its conversion cap.", t.offer_capped_clicks);
    metric(b, "creative_capped_clicks_total", "counter",
           "Clicks past their creative's own frequency cap (sent to the flow's fallback path or the campaign's fallback).",
           t.creative_capped_clicks);
    metric(b, "js_check_pages_total", "counter",
           "Script-check pages sent to first clicks of campaigns with bot_check js (not clicks until they come back).",
           t.js_check_pages);
    metric(b, "lander_clicks_total", "counter", "Lander clicks (GET /go) journaled.", t.lander_clicks);
    metric(b, "bot_impressions_total", "counter", "Impressions the bot filter flagged.", t.bot_impressions);
    metric(b, "bot_clicks_total", "counter", "Clicks flagged by the bot filter (still redirected unless a flow has a bot path).", t.bot_clicks);
    metric(b, "journal_records_total", "counter", "Records appended to the journal.", j.records);
    metric(b, "journal_bytes_total", "counter", "Bytes appended to the journal.", j.bytes);
    metric(b, "journal_fsyncs_total", "counter", "Journal fdatasync calls (group commits).", j.fsyncs);
    metric(b, "materialized_events_total", "counter", "Events written to the store.", m.events);
    metric(b, "materializer_batches_total", "counter", "Store transactions committed.", m.batches);
    metric(b, "materializer_errors_total", "counter", "Failed store transactions (retried).", m.errors);
    metric(b, "materializer_lag_bytes", "gauge", "Journal bytes not yet in the store.", m.lag_bytes);
    metric(b, "recent_clicks", "gauge", "Clicks held in memory until the store has them.",
           pm_recent_count(srv->shared.clicks));
    metric(b, "recovered_events", "gauge", "Events replayed from the journal at start.", srv->recovery.records);
    metric(b, "journal_torn_tails", "gauge", "Torn journal tails found and skipped at start.", srv->recovery.torn_tails);
    metric(b, "journal_corrupt_regions", "gauge", "Corrupt journal regions skipped at start.",
           srv->recovery.corrupt_regions);
    pm_outbox_stats_t o;
    pm_outbox_stats(srv->outbox, &o);
    metric(b, "postback_attempts_total", "counter", "Postback delivery attempts made by this process.", o.attempts);
    metric(b, "postbacks_delivered_total", "counter", "Postbacks delivered (2xx) by this process.", o.delivered);
    metric(b, "postbacks_failed_total", "counter", "Postbacks given up by this process.", o.failed);
    metric(b, "postbacks_queued", "gauge", "Postbacks pending delivery (store, ~1 s old).", o.pending);
    metric(b, "postbacks_delivered", "gauge", "Postbacks delivered, all time (store, ~1 s old).", o.delivered_rows);
    metric(b, "postbacks_failed", "gauge", "Postbacks failed for good, all time (store, ~1 s old).", o.failed_rows);
    metric(b, "postbacks_in_flight", "gauge", "Postback transfers in progress.", o.in_flight);
    metric(b, "uptime_seconds", "gauge", "Seconds since start.", (uint64_t)((pm_now() - srv->started_us) / 1000000));
    res->status = 200;
    res->content_type = "text/plain; version=0.0.4";
}

static void healthz(server_t *srv, pm_http_res_t *res)
{
    pm_materializer_stats_t m;
    pm_materializer_stats(srv->materializer, &m);
    pm_ignore_rc(pm_buf_printf(&res->body, "{\"status\":\"ok\",\"materializer_lag_bytes\":%llu}",
                        (unsigned long long)m.lag_bytes));
    res->status = 200;
    res->content_type = "application/json";
}

/* --- routing --------------------------------------------------------------- */

static bool has_prefix(pm_slice_t path, const char *prefix, pm_slice_t *rest)
{
    size_t n = strlen(prefix);
    if (path.len < n || memcmp(path.p, prefix, n) != 0) return false;
    if (rest) *rest = (pm_slice_t){path.p + n, path.len - n};
    return true;
}

/* The campaign token is the next path segment. */
static pm_slice_t segment(pm_slice_t s)
{
    size_t n = 0;
    while (n < s.len && s.p[n] != '/')
        n++;
    return (pm_slice_t){s.p, n};
}

static void route(loop_t *loop, const pm_http_req_t *r, pm_http_res_t *res)
{
    pm_slice_t rest;
    bool get = pm_slice_eq(r->method, "GET") || pm_slice_eq(r->method, "HEAD");
    if (has_prefix(r->path, "/c/", &rest)) pm_track_click(loop->track, loop->cfg, r, segment(rest), res);
    else if (has_prefix(r->path, "/i/", &rest)) pm_track_impression(loop->track, loop->cfg, r, segment(rest), res);
    else if (pm_slice_eq(r->path, "/pb") && (get || pm_slice_eq(r->method, "POST")))
        pm_track_conversion(loop->track, loop->cfg, r, false, res);
    else if (pm_slice_eq(r->path, "/px") && get) pm_track_conversion(loop->track, loop->cfg, r, true, res);
    else if (pm_slice_eq(r->path, "/go") && get) pm_track_go(loop->track, loop->cfg, r, res);
    else if (has_prefix(r->path, "/api/v1", &rest) && (rest.len == 0 || rest.p[0] == '/'))
        pm_api_handle(loop->api, loop->cfg, r, res);
    else if (has_prefix(r->path, "/ui", &rest) && (rest.len == 0 || rest.p[0] == '/')) pm_static_serve(r, rest, res);
    else if (pm_slice_eq(r->path, "/metrics") && get) metrics(loop->srv, res);
    else if (pm_slice_eq(r->path, "/healthz") && get) healthz(loop->srv, res);
    else if (pm_slice_eq(r->path, "/pb") || pm_slice_eq(r->path, "/px") || pm_slice_eq(r->path, "/go"))
        pm_http_res_error(res, 405, "method_not_allowed", NULL, "method not allowed here");
    else pm_http_res_error(res, 404, "not_found", NULL, "no such endpoint");
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    loop_t *loop = H2O_STRUCT_FROM_MEMBER(loop_t, ctx, req->conn->ctx);
    pm_http_req_t r;
    pm_http_res_t res;
    read_request(req, &r);
    pm_http_res_init(&res);
    pm_confhold_refresh(loop->srv->confhold, &loop->cfg);
    route(loop, &r, &res);
    if (res.wait_lsn > pm_journal_synced_lsn(loop->journal)) {
        park(loop, req, &res);
        return 0;
    }
    if (res.wait_write) {
        defer(loop, req, &res);
        pm_http_res_free(&res);
        return 0;
    }
    send_response(req, &res);
    pm_http_res_free(&res);
    return 0;
}

/* --- loops ------------------------------------------------------------------ */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    loop_t *loop = listener->data;
    h2o_socket_t *sock;
    if (err != NULL) return;
    if ((sock = h2o_evloop_socket_accept(listener)) == NULL) return;
    h2o_accept(&loop->accept_ctx, sock);
}

int pm_server_parse_listen(const char *s, char *host, size_t host_cap, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL) return PM_EINVAL;
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') h++, hlen -= 2;
    if (hlen >= host_cap) return PM_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || p < 1 || p > 65535) return PM_EINVAL;
    *port = (uint16_t)p;
    return PM_OK;
}

/* The socket address for "host:port". PM_EINVAL. */
static int listen_address(const char *listen_spec, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[256];
    uint16_t port;
    memset(ss, 0, sizeof(*ss));
    if (pm_server_parse_listen(listen_spec, host, sizeof(host), &port) != PM_OK) return PM_EINVAL;
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (host[0] == '\0' || inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        if (host[0] == '\0') v4->sin_addr.s_addr = htonl(INADDR_ANY);
        *sl = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *sl = sizeof(*v6);
    } else {
        return PM_EINVAL;
    }
    return PM_OK;
}

/* SO_REUSEPORT would let a second server join our port and take part of
 * its traffic. A bind without it first proves nobody listens there; our own
 * listeners then make the same probe fail for anyone else. */
static int probe_port(const char *listen_spec)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int rc = listen_address(listen_spec, &ss, &sl);
    if (rc != PM_OK) return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0) return -errno;
    /* SO_REUSEADDR: connections of a previous process in TIME_WAIT are no
     * reason to refuse; a live listener still is (Linux refuses the bind). */
    rc = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 && bind(fd, (struct sockaddr *)&ss, sl) == 0
             ? PM_OK
             : -errno;
    close(fd);
    return rc;
}

/* A listening socket with SO_REUSEPORT, so every loop has its own accept
 * queue and the kernel balances connections. -errno on failure. */
static int open_listener(const char *listen_spec, int *fd_out)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    *fd_out = -1;
    int rc = listen_address(listen_spec, &ss, &sl);
    if (rc != PM_OK) return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0) return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 || bind(fd, (struct sockaddr *)&ss, sl) != 0 ||
        listen(fd, 4096) != 0) {
        rc = -errno;
        close(fd);
        fd = -1;
    }
    *fd_out = fd;
    return rc;
}

/* What a loop needs that is not h2o's: journal, store connection, listening
 * socket, tracker and API handler. Runs on the main thread, so start-up
 * errors (port taken, disk) are reported before anything serves. */
static int loop_init(server_t *srv, loop_t *loop, unsigned index)
{
    loop->srv = srv;
    loop->index = index;
    loop->listen_fd = -1;
    h2o_linklist_init_anchor(&loop->waiting);
    h2o_linklist_init_anchor(&loop->unwritten);
    loop->write_entry = (h2o_timeout_entry_t){.cb = on_write_timeout};
    pm_journal_config_t jc = {.dir = srv->journal_dir,
                              .lineage = index,
                              .sync_interval_us = srv->cfg->sync_interval_us,
                              .on_synced = on_journal_synced,
                              .on_synced_arg = loop};
    int rc = pm_journal_open(&jc, &loop->journal);
    if (rc == PM_OK) rc = pm_store_open(srv->db_path, &loop->store);
    if (rc == PM_OK) rc = open_listener(srv->cfg->listen, &loop->listen_fd);
    if (rc != PM_OK) return rc;
    loop->track = pm_track_create(loop->journal, loop->store, &srv->shared);
    pm_track_set_staging(loop->track, true);
    loop->api =
        pm_api_create(&(pm_api_config_t){.store = loop->store, .confhold = srv->confhold, .outbox = srv->outbox,
                                                       .spend = srv->shared.spend, .track = loop->track});
    return PM_OK;
}

/* The h2o side of a loop is built, run and torn down on the loop's own
 * thread: h2o's allocators (socket buffers, message queues) are per thread
 * and not safe to share; building them on the main thread corrupted the
 * heap under load. */
static void *loop_run(void *arg)
{
    loop_t *loop = arg;
    server_t *srv = loop->srv;
    h2o_context_init(&loop->ctx, h2o_evloop_create(), &srv->h2o);
    loop->accept_ctx.ctx = &loop->ctx;
    loop->accept_ctx.hosts = srv->h2o.hosts;
    loop->queue = h2o_multithread_create_queue(loop->ctx.loop);
    h2o_multithread_register_receiver(loop->queue, &loop->synced_receiver, on_synced_message);
    atomic_store(&loop->ready, 1);
    loop->listener = h2o_evloop_socket_create(loop->ctx.loop, loop->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    loop->listener->data = loop;
    h2o_socket_read_start(loop->listener, on_accept);
    while (!atomic_load(&srv->stopping)) {
        h2o_evloop_run(loop->ctx.loop, 100);
        write_staged(loop); /* normally done by write_entry within the turn */
        pm_track_flush(loop->track);
        expire_parked(loop);
    }
    write_staged(loop);
    if (h2o_timeout_is_linked(&loop->write_entry)) h2o_timeout_unlink(&loop->write_entry);
    h2o_socket_read_stop(loop->listener);
    h2o_socket_close(loop->listener); /* closes listen_fd */
    loop->listen_fd = -1;
    return NULL;
}

/* Tear down what loop_init built; safe on a partly built loop. */
static void loop_free(loop_t *loop)
{
    if (loop->listen_fd >= 0) close(loop->listen_fd);
    pm_api_destroy(loop->api);
    pm_track_destroy(loop->track);
    pm_store_close(loop->store);
    pm_config_release(loop->cfg);
}

/* --- the process ------------------------------------------------------------ */

void pm_server_db_path(const char *data_dir, char *out, size_t cap) { snprintf(out, cap, "%s/perfmark.db", data_dir); }

void pm_server_journal_dir(const char *data_dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s/journal", data_dir);
}

/* Derived state the materializer maintains with the events. The ledger
 * first: the report rollups read the adjustments it writes; the outbox
 * enqueues the postbacks of new conversions. */
static const pm_sink_ops_t *const sinks[] = {&pm_ledger_sink, &pm_report_sink, &pm_outbox_sink};

/* After a commit: the tracking maps forget what the store holds, routed
 * clicks and their conversions feed auto rotation and audiences, and the
 * outbox looks at the postbacks the conversions just enqueued. */
static void on_materialized(void *arg, const pm_event_t *ev)
{
    server_t *srv = arg;
    pm_track_forget(&srv->shared, ev);
    if (srv->shared.bandit) pm_bandit_observe(srv->shared.bandit, ev);
    if (srv->shared.audience) pm_audience_observe(srv->shared.audience, ev);
    if (ev->type == PM_EV_CONVERSION || ev->type == PM_EV_STATUS_CHANGE) pm_outbox_wake(srv->outbox);
}

#define BANDIT_OPTIONS (1u << 16)
#define ROUTE_VISITORS (1u << 20)
#define BANDIT_HISTORY_US (30 * 86400 * PM_USEC_PER_SEC)

/* Routing state that lives across configuration snapshots: rotation
 * counters and frequency caps, rebuilt from the store (which recovery has
 * just brought up to date with the journal) before anything serves. */
static int routing_state(server_t *srv, const pm_config_t *cfg)
{
    srv->shared.bandit = pm_bandit_create(BANDIT_OPTIONS);
    size_t visitors = srv->cfg->route_visitors ? srv->cfg->route_visitors : ROUTE_VISITORS;
    srv->shared.fcap = pm_fcap_create(visitors);
    srv->shared.audience = pm_audience_create(visitors);
    int64_t now = pm_now();
    int rc = pm_bandit_load(srv->shared.bandit, srv->store, now - BANDIT_HISTORY_US);
    if (rc == PM_OK)
        rc = pm_audience_load(srv->shared.audience, srv->store, now - PM_AUDIENCE_MAX_DAYS * 86400 * PM_USEC_PER_SEC);
    for (size_t i = 0; rc == PM_OK && i < pm_config_campaign_count(cfg); i++) {
        const pm_campaign_t *k = pm_config_campaign_at(cfg, i);
        const pm_flow_cap_t *cap = k->flow ? pm_flow_cap(k->flow) : NULL;
        if (cap && cap->max) rc = pm_fcap_load(srv->shared.fcap, srv->store, k->id, cap->per, cap->impressions, now);
    }
    for (size_t i = 0; rc == PM_OK && i < pm_config_creative_count(cfg); i++) {
        const pm_creative_t *c = pm_config_creative_at(cfg, i);
        if (c->cap.max)
            rc = pm_fcap_load(srv->shared.fcap, srv->store, pm_fcap_creative(c->id), c->cap.per, c->cap.impressions, now);
    }
    if (rc != PM_OK) pm_error("serve: cannot rebuild the routing state from the store");
    return rc;
}

static void setup_h2o(server_t *srv)
{
    h2o_config_init(&srv->h2o);
    srv->h2o.max_request_entity_size = MAX_REQUEST_BODY;
    h2o_hostconf_t *host = h2o_config_register_host(&srv->h2o, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_req;
}

/* The first start of a store mints an admin key and shows it once. */
static int first_key(pm_store_t *store)
{
    int64_t n = 0;
    int rc = pm_store_key_count(store, &n);
    if (rc != PM_OK || n > 0) return rc;
    char *key = NULL;
    if ((rc = pm_store_key_create(store, "admin", "first start", &key)) != PM_OK) return rc;
    printf("perfmark: admin API key (shown once, store it now): %s\n", key);
    fflush(stdout);
    pm_free(key);
    return PM_OK;
}

static int mkdirs(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) return -errno;
        *p = '/';
    }
    return mkdir(path, 0700) != 0 && errno != EEXIST ? -errno : PM_OK;
}

/* One server per data directory: a second one would replay and delete the
 * first one's live journal segments. The lock dies with the process. */
static int lock_data_dir(server_t *srv)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/serve.lock", srv->cfg->data_dir);
    srv->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (srv->lock_fd < 0) {
        pm_error("serve: cannot open %s: %s", path, strerror(errno));
        return -errno;
    }
    if (flock(srv->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        pm_error("serve: %s is in use by another perfmark server (%s)", srv->cfg->data_dir,
                 err == EWOULDBLOCK ? "lock held" : strerror(err));
        return err == EWOULDBLOCK ? PM_EEXIST : -err;
    }
    return PM_OK;
}

/* Everything before the loops run: directories, store, recovery, config,
 * maps, loops (journals, connections, listeners), the materializer. */
static int server_start(server_t *srv)
{
    char host[256], base[320];
    uint16_t port;
    int rc = pm_server_parse_listen(srv->cfg->listen, host, sizeof(host), &port);
    if (rc != PM_OK) {
        pm_error("serve: --listen must be HOST:PORT, got \"%s\"", srv->cfg->listen);
        return rc;
    }
    snprintf(base, sizeof(base), strchr(host, ':') ? "http://[%s]:%u" : "http://%s:%u",
             host[0] ? host : "127.0.0.1", port);
    pm_server_db_path(srv->cfg->data_dir, srv->db_path, sizeof(srv->db_path));
    pm_server_journal_dir(srv->cfg->data_dir, srv->journal_dir, sizeof(srv->journal_dir));
    if ((rc = mkdirs(srv->journal_dir)) != PM_OK) {
        pm_error("serve: cannot create %s: %s", srv->journal_dir, pm_strerror(rc));
        return rc;
    }
    if ((rc = lock_data_dir(srv)) != PM_OK) return rc;
    if ((rc = probe_port(srv->cfg->listen)) != PM_OK) {
        pm_error("serve: cannot listen on %s: %s", srv->cfg->listen, pm_strerror(rc));
        return rc;
    }
    pm_config_t *cfg = NULL;
    if ((rc = pm_store_open(srv->db_path, &srv->store)) != PM_OK || (rc = first_key(srv->store)) != PM_OK ||
        (rc = pm_materializer_recover(srv->store, srv->journal_dir, sinks, PM_ARRAY_LEN(sinks), &srv->recovery)) !=
            PM_OK ||
        (rc = pm_config_load(srv->store, base, &cfg)) != PM_OK)
        return rc;
    srv->confhold = pm_confhold_create(cfg);
    /* Before any other thread: the outbox initialises libcurl. */
    if ((rc = pm_outbox_start(srv->db_path, &srv->cfg->outbox, &srv->outbox)) != PM_OK) return rc;
    if ((rc = routing_state(srv, cfg)) != PM_OK) return rc;
    srv->shared.clicks = pm_recent_create(4u << 20);
    srv->shared.conversions = pm_recent_create(1u << 20);
    pm_detect_config_t dc = {.geoip_file = srv->cfg->geoip_file,
                             .datacenter_file = srv->cfg->datacenter_file,
                             .velocity_limit = srv->cfg->bot_velocity == 0 ? -1
                                               : srv->cfg->bot_velocity < 0 ? 0
                                                                            : srv->cfg->bot_velocity};
    if ((rc = pm_detect_create(&dc, &srv->shared.detect)) != PM_OK) return rc;
    char detect[512];
    pm_detect_describe(srv->shared.detect, detect, sizeof(detect));
    pm_info("serve: visitor detection: %s", detect);
    /* Budgets and caps: today's and total spend from the store, which holds
     * every journaled event now that recovery ran. */
    srv->shared.spend = pm_spend_create(1u << 16);
    if ((rc = pm_spend_load(srv->shared.spend, srv->store, pm_config_tz(cfg), pm_now())) != PM_OK) return rc;
    setup_h2o(srv);
    srv->loops = pm_calloc(srv->nloops, sizeof(loop_t));
    for (unsigned i = 0; i < srv->nloops; i++)
        srv->loops[i].listen_fd = -1;
    pm_journal_t *journals[PM_MAX_LINEAGES];
    for (unsigned i = 0; i < srv->nloops; i++) {
        if ((rc = loop_init(srv, &srv->loops[i], i)) != PM_OK) {
            pm_error("serve: cannot start loop %u on %s: %s", i, srv->cfg->listen, pm_strerror(rc));
            return rc;
        }
        journals[i] = srv->loops[i].journal;
    }
    pm_materializer_config_t mc = {.db_path = srv->db_path,
                                   .journal_dir = srv->journal_dir,
                                   .journals = journals,
                                   .njournals = srv->nloops,
                                   .on_materialized = on_materialized,
                                   .arg = srv,
                                   .sinks = sinks,
                                   .nsinks = PM_ARRAY_LEN(sinks)};
    return pm_materializer_start(&mc, &srv->materializer);
}

static void server_stop(server_t *srv)
{
    atomic_store(&srv->stopping, 1);
    for (unsigned i = 0; i < srv->nloops && srv->loops; i++)
        if (srv->loops[i].thread) pthread_join(srv->loops[i].thread, NULL);
    pm_materializer_stop(srv->materializer);
    pm_outbox_stop(srv->outbox);
    for (unsigned i = 0; i < srv->nloops && srv->loops; i++) {
        pm_journal_close(srv->loops[i].journal);
        loop_free(&srv->loops[i]);
    }
    pm_free(srv->loops);
    pm_recent_destroy(srv->shared.clicks);
    pm_recent_destroy(srv->shared.conversions);
    pm_detect_destroy(srv->shared.detect);
    pm_spend_destroy(srv->shared.spend);
    pm_bandit_destroy(srv->shared.bandit);
    pm_fcap_destroy(srv->shared.fcap);
    pm_audience_destroy(srv->shared.audience);
    pm_confhold_destroy(srv->confhold);
    pm_store_close(srv->store);
    if (srv->lock_fd > 0) close(srv->lock_fd);
}

int pm_server_run(const pm_server_config_t *cfg)
{
    server_t srv;
    memset(&srv, 0, sizeof(srv));
    srv.cfg = cfg;
    srv.started_us = pm_now();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    srv.nloops = cfg->threads ? cfg->threads : (unsigned)(cpus > 0 ? cpus : 1);
    /* The last lineage is reserved for imports (perfmark simulate). */
    if (srv.nloops > PM_IMPORT_LINEAGE) srv.nloops = PM_IMPORT_LINEAGE;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread inherits this */
    signal(SIGPIPE, SIG_IGN);
    int rc = server_start(&srv);
    for (unsigned i = 0; rc == PM_OK && i < srv.nloops; i++)
        rc = -pthread_create(&srv.loops[i].thread, NULL, loop_run, &srv.loops[i]);
    if (rc == PM_OK) {
        pm_info("perfmark listening on %s (%u loops, data in %s)", cfg->listen, srv.nloops, cfg->data_dir);
        int sig;
        sigwait(&sigs, &sig);
        pm_info("perfmark: signal %d, shutting down", sig);
    }
    server_stop(&srv);
    return rc;
}

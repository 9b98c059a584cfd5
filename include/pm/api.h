/*
 * api.h: the admin REST API under /api/v1 (JSON in, JSON out).
 *
 * One pm_api_t per event loop thread: it borrows that thread's store
 * connection. Every handler validates strictly (unknown fields rejected by
 * name, money as decimal strings, URLs checked) and answers errors as
 * {"error":{"code","message","field"}} with 400/401/403/404/405/409/422.
 * After a write that changes what the tracking path reads (entities,
 * settings) the configuration snapshot is rebuilt and published.
 */
#ifndef PM_API_H
#define PM_API_H

#include "pm/config.h"
#include "pm/http.h"
#include "pm/outbox.h"
#include "pm/spend.h"
#include "pm/store.h"
#include "pm/track.h"

typedef struct pm_api_s pm_api_t;

typedef struct pm_api_config_s {
    pm_store_t *store;        /* this thread's connection; borrowed */
    pm_confhold_t *confhold;  /* where to publish config changes; borrowed */
    pm_outbox_t *outbox;      /* woken when a postback is re-queued; borrowed, may be NULL */
    pm_spend_t *spend;        /* budget and cap counters shown on campaigns and offers; may be NULL */
    pm_track_t *track;        /* this loop's tracker, for status changes (journaled); NULL: 503 */
} pm_api_config_t;

pm_api_t *pm_api_create(const pm_api_config_t *cfg); /* can't fail */
void pm_api_destroy(pm_api_t *api);                  /* accepts NULL */

/* Answer a request whose path starts with "/api/v1". Always fills `res`
 * (errors are responses). `cfg` is the caller's current snapshot (for
 * base_url in generated URLs). Not thread-safe per pm_api_t. */
void pm_api_handle(pm_api_t *api, const pm_config_t *cfg, const pm_http_req_t *req, pm_http_res_t *res);

#endif

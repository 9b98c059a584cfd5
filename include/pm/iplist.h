/*
 * iplist.h: a set of address ranges read from a CIDR list (data-center
 * ranges for the bot filter, `perfmark serve --datacenter-cidrs FILE`),
 * kept as sorted, merged [first, last] 128-bit intervals: membership is a
 * binary search, whatever the list's size. IPv4 entries live in the
 * v4-mapped part of the IPv6 space, as in pm/ip.h.
 *
 * Text format: one CIDR ("192.0.2.0/24", "2001:db8::/32") or bare address
 * per line; blanks around it, empty lines and "#" comments (whole-line or
 * trailing) are ignored; commas also separate entries, so a one-line
 * "a/8, b/16" works too.
 *
 * Read-only once built: pm_iplist_contains is thread-safe.
 */
#ifndef PM_IPLIST_H
#define PM_IPLIST_H

#include "pm/ip.h"

#define PM_IPLIST_MAX (1u << 22) /* entries per list */

typedef struct pm_iplist_s pm_iplist_t;

/* Parse `len` bytes of list text. PM_EINVAL for an entry that is not a
 * CIDR (*bad_line = its 1-based line), PM_ETOOBIG past PM_IPLIST_MAX
 * entries. An empty list is valid. On failure *out is NULL. */
int pm_iplist_parse(const char *text, size_t len, pm_iplist_t **out, size_t *bad_line) PM_MUST_CHECK;
/* Read and parse a file; PM_ENOTFOUND if it cannot be read. Errors are
 * logged with the file name and line. */
int pm_iplist_load(const char *path, pm_iplist_t **out) PM_MUST_CHECK;
void pm_iplist_destroy(pm_iplist_t *l); /* accepts NULL */

bool pm_iplist_contains(const pm_iplist_t *l, const pm_ip_t *ip);
/* Number of merged intervals (adjacent and overlapping entries merge). */
size_t pm_iplist_count(const pm_iplist_t *l);

#endif

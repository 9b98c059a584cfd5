/*
 * ua.h: user-agent parsing with uap-core's regexes (Debian uap-core,
 * regexes.yaml, read with libyaml and compiled with PCRE2's JIT) into
 * browser family and version, OS family and version, device family, brand
 * and model, and a device type derived from those (docs/routing.md says
 * how). uap-core's semantics are those of its reference parsers: the first
 * matching regex of each list wins; "Other" when none matches.
 *
 * Two objects: a pm_ua_db_t (the compiled regexes: read-only after load,
 * shared by every thread) and a pm_ua_parser_t (match buffers, a JIT stack
 * and an LRU cache of recent results keyed by the UA's hash and checked
 * against the UA itself: one per event loop, not thread-safe).
 */
#ifndef PM_UA_H
#define PM_UA_H

#include "pm/common.h"

#define PM_UA_NAME_MAX 64  /* family, brand, model (longer values are cut) */
#define PM_UA_VER_MAX  24  /* one version part */
#define PM_UA_MAX_LEN  512 /* longer user agents are parsed on their first 512 bytes */

typedef enum pm_ua_device_type_e {
    PM_UA_OTHER = 0,
    PM_UA_DESKTOP,
    PM_UA_MOBILE,
    PM_UA_TABLET,
    PM_UA_TV,
    PM_UA_CONSOLE,
    PM_UA_BOT,
} pm_ua_device_type_t;

/* A parse result. Empty strings stand for uap-core's null (no value). */
typedef struct pm_ua_s {
    char browser[PM_UA_NAME_MAX];
    char browser_v[3][PM_UA_VER_MAX]; /* major, minor, patch */
    char os[PM_UA_NAME_MAX];
    char os_v[4][PM_UA_VER_MAX]; /* major, minor, patch, patch_minor */
    char device[PM_UA_NAME_MAX];
    char brand[PM_UA_NAME_MAX];
    char model[PM_UA_NAME_MAX];
    pm_ua_device_type_t type;
    uint32_t tags; /* what the parser's tagger said (pm_ua_parser_set_tagger), else 0 */
} pm_ua_t;

typedef struct pm_ua_db_s pm_ua_db_t;
typedef struct pm_ua_parser_s pm_ua_parser_t;

/* Compile the regexes of a uap-core regexes.yaml text (`len` bytes).
 * Regexes PCRE2 rejects are skipped and counted (pm_ua_db_skipped).
 * PM_EINVAL for YAML that is not uap-core's shape or has no parsers. */
int pm_ua_db_load(const char *yaml, size_t len, pm_ua_db_t **out) PM_MUST_CHECK;
/* The regexes.yaml built into the binary (Debian uap-core). */
int pm_ua_db_load_default(pm_ua_db_t **out) PM_MUST_CHECK;
void pm_ua_db_destroy(pm_ua_db_t *db); /* accepts NULL */
/* How many regexes were loaded and how many PCRE2 would not compile. */
size_t pm_ua_db_count(const pm_ua_db_t *db);
size_t pm_ua_db_skipped(const pm_ua_db_t *db);

/* A parser over `db` (borrowed, must outlive it) with an LRU cache of
 * `cache_entries` results (0 = no cache). Can't fail. */
pm_ua_parser_t *pm_ua_parser_create(const pm_ua_db_t *db, size_t cache_entries);
void pm_ua_parser_destroy(pm_ua_parser_t *p); /* accepts NULL */

/* A further classification of a user agent (the bot filter's crawler
 * list), run on cache misses only and cached with the parse in
 * pm_ua_t.tags. Called on the parser's thread with the UA bytes (cut to
 * PM_UA_MAX_LEN). `arg` is borrowed. */
typedef uint32_t (*pm_ua_tagger_fn)(void *arg, const char *ua, size_t len);
void pm_ua_parser_set_tagger(pm_ua_parser_t *p, pm_ua_tagger_fn fn, void *arg);

/* Parse `len` bytes of a user agent (any bytes; invalid UTF-8 is matched
 * as far as it is valid). The result is owned by the parser and valid
 * until its next call. Can't fail: an empty UA gives all "Other". */
const pm_ua_t *pm_ua_parse(pm_ua_parser_t *p, const char *ua, size_t len);

typedef struct pm_ua_cache_stats_s {
    uint64_t hits, misses;
} pm_ua_cache_stats_t;
pm_ua_cache_stats_t pm_ua_cache_stats(const pm_ua_parser_t *p);

/* "desktop", "mobile", "tablet", "tv", "console", "bot", "other". */
const char *pm_ua_device_type_name(pm_ua_device_type_t t);

/* "major.minor" of a version ("" without a major, "120" without a minor)
 * into out (>= 2 * PM_UA_VER_MAX bytes). Returns the length. */
size_t pm_ua_version(const char (*v)[PM_UA_VER_MAX], char *out);

#endif

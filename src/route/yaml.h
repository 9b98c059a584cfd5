/*
 * yaml.h: the one YAML shape the detectors read, walked with libyaml:
 * uap-core's regexes.yaml and its test fixtures are a top-level mapping of
 * sections, each a sequence of flat mappings of scalars:
 *
 *   user_agent_parsers:
 *     - regex: '...'
 *       family_replacement: '...'
 *
 * Internal to src/route (and the tests). Pure; thread-safe.
 */
#ifndef PM_ROUTE_YAML_H
#define PM_ROUTE_YAML_H

#include "pm/common.h"

#define PM__YAML_MAX_KEYS 16

/* One item of a section. Values are NUL-terminated; a null scalar (empty
 * plain, "~", "null") is NULL. Everything is borrowed for the callback's
 * duration only. Keys past PM__YAML_MAX_KEYS are dropped. */
typedef struct pm__yaml_item_s {
    const char *section;
    size_t n;
    const char *key[PM__YAML_MAX_KEYS];
    const char *value[PM__YAML_MAX_KEYS];
} pm__yaml_item_t;

/* The value of `key` in item, or NULL (absent or null). */
const char *pm__yaml_get(const pm__yaml_item_t *item, const char *key);

/* A callback returning non-PM_OK stops the walk; that code is returned. */
typedef int (*pm__yaml_item_cb)(void *arg, const pm__yaml_item_t *item);

/* Walk `len` bytes of YAML text, calling `cb` for every item of every
 * section. Nodes of other shapes (nested mappings, a section that is not a
 * sequence) are skipped. PM_EINVAL (logged with the line) on a syntax
 * error; the callback's code if it stopped the walk. */
int pm__yaml_each(const char *text, size_t len, pm__yaml_item_cb cb, void *arg) PM_MUST_CHECK;

/* The same over a file: PM_ENOTFOUND if it cannot be read. */
int pm__yaml_each_file(const char *path, pm__yaml_item_cb cb, void *arg) PM_MUST_CHECK;

#endif

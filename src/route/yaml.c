/*
 * yaml.c: the section -> sequence -> flat mapping walk of uap-core's YAML
 * files (see yaml.h), over libyaml's event parser. An item's keys and
 * values are copied into one growing buffer, reset per item, so the walk
 * allocates O(largest item) whatever the file size.
 */
#include "yaml.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

typedef struct walk_s {
    yaml_parser_t parser;
    pm__yaml_item_cb cb;
    void *arg;
    char section[128];
    char *buf; /* the current item's strings */
    size_t used, cap;
    size_t off_key[PM__YAML_MAX_KEYS], off_value[PM__YAML_MAX_KEYS];
    bool null_value[PM__YAML_MAX_KEYS];
} walk_t;

const char *pm__yaml_get(const pm__yaml_item_t *item, const char *key)
{
    for (size_t i = 0; i < item->n; i++)
        if (strcmp(item->key[i], key) == 0) return item->value[i];
    return NULL;
}

static int next(walk_t *w, yaml_event_t *ev)
{
    if (yaml_parser_parse(&w->parser, ev)) return PM_OK;
    pm_error("yaml: line %zu: %s", w->parser.problem_mark.line + 1,
             w->parser.problem ? w->parser.problem : "syntax error");
    return PM_EINVAL;
}

/* Skip the rest of a node whose start event was just read. */
static int skip_node(walk_t *w, yaml_event_type_t start)
{
    int depth = start == YAML_MAPPING_START_EVENT || start == YAML_SEQUENCE_START_EVENT;
    while (depth > 0) {
        yaml_event_t ev;
        if (next(w, &ev) != PM_OK) return PM_EINVAL;
        if (ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_SEQUENCE_START_EVENT)
            depth++;
        else if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT)
            depth--;
        else if (ev.type == YAML_STREAM_END_EVENT)
            depth = 0;
        yaml_event_delete(&ev);
    }
    return PM_OK;
}

static size_t keep(walk_t *w, const yaml_event_t *ev)
{
    size_t n = ev->data.scalar.length;
    if (w->used + n + 1 > w->cap) {
        w->cap = (w->used + n + 1) * 2;
        w->buf = pm_realloc(w->buf, w->cap);
    }
    size_t at = w->used;
    memcpy(w->buf + at, ev->data.scalar.value, n);
    w->buf[at + n] = '\0';
    w->used += n + 1;
    return at;
}

static bool is_null(const yaml_event_t *ev)
{
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *v = (const char *)ev->data.scalar.value;
    return ev->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0;
}

static int emit(walk_t *w, size_t n)
{
    pm__yaml_item_t item = {.section = w->section, .n = n};
    for (size_t i = 0; i < n; i++) {
        item.key[i] = w->buf + w->off_key[i];
        item.value[i] = w->null_value[i] ? NULL : w->buf + w->off_value[i];
    }
    return w->cb(w->arg, &item);
}

/* One item: a mapping of scalar keys to scalar values (MAPPING_START read). */
static int item(walk_t *w)
{
    size_t n = 0;
    w->used = 0;
    for (;;) {
        yaml_event_t k, v;
        if (next(w, &k) != PM_OK) return PM_EINVAL;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            return emit(w, n);
        }
        if (k.type != YAML_SCALAR_EVENT) {
            yaml_event_type_t t = k.type;
            yaml_event_delete(&k);
            if (skip_node(w, t) != PM_OK) return PM_EINVAL;
            if (next(w, &v) != PM_OK) return PM_EINVAL; /* its value */
            t = v.type;
            yaml_event_delete(&v);
            if (skip_node(w, t) != PM_OK) return PM_EINVAL;
            continue;
        }
        if (next(w, &v) != PM_OK) {
            yaml_event_delete(&k);
            return PM_EINVAL;
        }
        if (v.type == YAML_SCALAR_EVENT && n < PM__YAML_MAX_KEYS) {
            w->off_key[n] = keep(w, &k);
            w->off_value[n] = keep(w, &v);
            w->null_value[n] = is_null(&v);
            n++;
        }
        yaml_event_type_t t = v.type;
        yaml_event_delete(&k);
        yaml_event_delete(&v);
        if (t != YAML_SCALAR_EVENT && skip_node(w, t) != PM_OK) return PM_EINVAL;
    }
}

/* A section's value: a sequence of items (its start event is `start`). */
static int section(walk_t *w, yaml_event_type_t start)
{
    if (start != YAML_SEQUENCE_START_EVENT) return skip_node(w, start);
    for (;;) {
        yaml_event_t ev;
        if (next(w, &ev) != PM_OK) return PM_EINVAL;
        yaml_event_type_t t = ev.type;
        yaml_event_delete(&ev);
        if (t == YAML_SEQUENCE_END_EVENT) return PM_OK;
        int rc = t == YAML_MAPPING_START_EVENT ? item(w) : skip_node(w, t);
        if (rc != PM_OK) return rc;
    }
}

/* The root mapping's keys and values until its end (or the stream's). */
static int root(walk_t *w)
{
    for (;;) {
        yaml_event_t ev;
        if (next(w, &ev) != PM_OK) return PM_EINVAL;
        yaml_event_type_t t = ev.type;
        if (t == YAML_SCALAR_EVENT)
            snprintf(w->section, sizeof(w->section), "%.*s", (int)ev.data.scalar.length,
                     (const char *)ev.data.scalar.value);
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT || t == YAML_MAPPING_END_EVENT) return PM_OK;
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT || t == YAML_DOCUMENT_END_EVENT) continue;
        if (t == YAML_MAPPING_START_EVENT && w->section[0] == '\0') continue; /* the root itself */
        if (t != YAML_SCALAR_EVENT) return PM_EINVAL;
        if (next(w, &ev) != PM_OK) return PM_EINVAL;
        t = ev.type;
        yaml_event_delete(&ev);
        int rc = section(w, t);
        if (rc != PM_OK) return rc;
    }
}

static int walk(walk_t *w, pm__yaml_item_cb cb, void *arg)
{
    w->cb = cb;
    w->arg = arg;
    int rc = root(w);
    pm_free(w->buf);
    yaml_parser_delete(&w->parser);
    return rc;
}

int pm__yaml_each(const char *text, size_t len, pm__yaml_item_cb cb, void *arg)
{
    walk_t w = {0};
    if (!yaml_parser_initialize(&w.parser)) return -ENOMEM;
    yaml_parser_set_input_string(&w.parser, (const unsigned char *)text, len);
    return walk(&w, cb, arg);
}

int pm__yaml_each_file(const char *path, pm__yaml_item_cb cb, void *arg)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return PM_ENOTFOUND;
    walk_t w = {0};
    int rc = -ENOMEM;
    if (yaml_parser_initialize(&w.parser)) {
        yaml_parser_set_input_file(&w.parser, f);
        rc = walk(&w, cb, arg);
    }
    fclose(f);
    return rc;
}

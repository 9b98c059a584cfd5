/*
 * static.h: the dashboard's files (web/ and the chart library's dist files
 * from node_modules), embedded into the binary at build time and served
 * from memory under /ui.
 *
 * The build (CMakeLists.txt, tools/embed_assets.cmake) turns every file
 * into a byte array in a generated C file, with its content type and an
 * ETag (a prefix of its SHA-256). Serving is a lookup of the request path
 * in that fixed table: no file system, so no path traversal, and an unknown
 * name is 404. See docs/dashboard.md.
 */
#ifndef PM_STATIC_H
#define PM_STATIC_H

#include "pm/http.h"

/* One embedded file. Generated; read-only. */
typedef struct pm_static_asset_s {
    const char *path;         /* below /ui, without a leading slash: "app.js", "vendor/uplot.min.js" */
    const char *content_type; /* e.g. "text/javascript; charset=utf-8" */
    const char *etag;         /* quoted strong validator, e.g. "\"3f2a…\"" */
    const unsigned char *data;
    size_t len;
} pm_static_asset_t;

/* The embedded file at `path` (relative to /ui, no leading slash; "" and
 * "index.html" are the page), or NULL. Borrowed, static lifetime.
 * Thread-safe (a read of a constant table). */
const pm_static_asset_t *pm_static_find(pm_slice_t path);

/* Answer a request whose path starts with "/ui"; `rest` is what follows
 * "/ui" ("" or "/…"). GET and HEAD are served with Content-Type, ETag and
 * Cache-Control; other methods get 405, unknown files 404 (JSON error
 * body). Always fills `res`. Thread-safe. */
void pm_static_serve(const pm_http_req_t *req, pm_slice_t rest, pm_http_res_t *res);

#endif

/*
 * static.c: serving the embedded dashboard files under /ui (see
 * pm/static.h). The table itself is generated at build time
 * (static_assets.c in the build directory, from tools/embed_assets.cmake).
 *
 * Why no 304: the request as handlers see it (pm_http_req_t) carries no
 * If-None-Match yet, so every GET is a 200 with the whole file. The files
 * are small (the chart library is ~50 KB) and the ETag is already sent, so
 * revalidation only needs that header plumbed through.
 */
#include "pm/static.h"

#include <string.h>

/* Generated (static_assets.c): the files, and how many there are. */
extern const pm_static_asset_t pm__static_assets[];
extern const size_t pm__static_asset_count;

/* The page itself must be revalidated on every load, so a new binary's
 * page is seen at once; its scripts too (no versioned names), which costs
 * little without 304s and keeps page and scripts from different builds
 * from ever meeting. */
#define CACHE_CONTROL "no-cache"

/* The page loads only its own files; the API it calls is same-origin. */
#define PAGE_CSP                                                                                                       \
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "                  \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const pm_static_asset_t *pm_static_find(pm_slice_t path)
{
    if (path.len == 0) path = (pm_slice_t){"index.html", 10};
    for (size_t i = 0; i < pm__static_asset_count; i++) {
        const pm_static_asset_t *a = &pm__static_assets[i];
        if (pm_slice_eq(path, a->path)) return a;
    }
    return NULL;
}

static void header(pm_http_res_t *res, const char *name, const char *value)
{
    pm_http_res_header(res, name, value, strlen(value));
}

void pm_static_serve(const pm_http_req_t *req, pm_slice_t rest, pm_http_res_t *res)
{
    if (!pm_slice_eq(req->method, "GET") && !pm_slice_eq(req->method, "HEAD")) {
        pm_http_res_error(res, 405, "method_not_allowed", NULL, "the dashboard's files are read with GET");
        header(res, "allow", "GET, HEAD");
        return;
    }
    /* "/ui" and "/ui/" are the page; anything else is "/ui/<name>". */
    pm_slice_t name = rest;
    if (name.len > 0 && name.p[0] == '/') name = (pm_slice_t){name.p + 1, name.len - 1};
    const pm_static_asset_t *a = pm_static_find(name);
    if (a == NULL) {
        pm_http_res_error(res, 404, "not_found", NULL, "no such dashboard file");
        return;
    }
    pm_buf_reset(&res->body);
    if (pm_buf_append(&res->body, a->data, a->len) != PM_OK) {
        pm_http_res_error(res, 500, "internal", NULL, "file too large to serve");
        return;
    }
    res->status = 200;
    res->content_type = a->content_type;
    header(res, "etag", a->etag);
    header(res, "cache-control", CACHE_CONTROL);
    header(res, "x-content-type-options", "nosniff");
    if (strncmp(a->content_type, "text/html", 9) == 0) {
        header(res, "content-security-policy", PAGE_CSP);
        header(res, "referrer-policy", "no-referrer");
    }
}

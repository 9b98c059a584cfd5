/*
 * http.h: the request and response as perfmark's handlers see them, apart
 * from the HTTP library. The server glue (src/http/server.c, over libh2o)
 * fills a pm_http_req_t with pointers borrowed from the library's request
 * (valid only during the handler call) and turns the pm_http_res_t into the
 * library's response. Handlers (tracking, admin API) are thus plain
 * functions that unit tests can call directly.
 */
#ifndef PM_HTTP_H
#define PM_HTTP_H

#include "pm/buf.h"
#include "pm/ip.h"

#define PM_HTTP_MAX_RES_HEADERS 8
#define PM_HTTP_HEADER_SPACE 12288 /* bytes for all header values of a response */
#define PM_HTTP_MAX_BODY (16u << 20) /* response bodies cap: 16 MiB */

typedef struct pm_slice_s {
    const char *p; /* NULL when absent; not NUL-terminated */
    size_t len;
} pm_slice_t;

typedef struct pm_http_req_s {
    pm_slice_t method;
    pm_slice_t path;  /* without the query string, percent-escapes intact */
    pm_slice_t query; /* after '?', empty when none */
    pm_slice_t body;
    pm_slice_t authorization, content_type, user_agent, referer, accept_language, cookie,
        x_forwarded_for, x_real_ip, host, x_forwarded_proto;
    pm_ip_t peer;     /* the socket peer */
    bool tls;
} pm_http_req_t;

typedef struct pm_http_header_s {
    const char *name; /* static string, lower case */
    char *value;      /* NUL-terminated, inside the response's header space */
    size_t len;
} pm_http_header_t;

typedef struct pm_http_res_s {
    int status;                /* 0 = not answered */
    const char *content_type;  /* static string */
    pm_buf_t body;             /* owned; capped at PM_HTTP_MAX_BODY */
    pm_http_header_t headers[PM_HTTP_MAX_RES_HEADERS];
    size_t nheaders;
    size_t header_used;
    char header_space[PM_HTTP_HEADER_SPACE]; /* header values live here: no malloc per header */
    /* Durability: when wait_lsn != 0 the response must not be sent before
     * the handler thread's journal has synced up to wait_lsn. */
    uint64_t wait_lsn;
    /* When set, the response must not be sent before the handler thread's
     * staged journal records are written (pm_track_write, same loop turn). */
    bool wait_write;
} pm_http_res_t;

/* Prepare an empty response. Can't fail. */
void pm_http_res_init(pm_http_res_t *res);
/* Free headers and body. */
void pm_http_res_free(pm_http_res_t *res);
/* Add a header (value copied into the header space). Ignored, and logged as
 * a programming error, past PM_HTTP_MAX_RES_HEADERS or the header space. */
void pm_http_res_header(pm_http_res_t *res, const char *name, const char *value, size_t len);
/* Move a response (e.g. to park it until an fsync): *dst takes the body and
 * the headers, whose values are re-pointed into dst's header space; *src
 * is left empty. */
void pm_http_res_move(pm_http_res_t *dst, pm_http_res_t *src);
/* Set status and a JSON error body {"error":{"code","message","field"}};
 * field may be NULL (then null in JSON). Strings are JSON-escaped. */
void pm_http_res_error(pm_http_res_t *res, int status, const char *code, const char *field, const char *fmt, ...)
    PM_PRINTF(5, 6);
/* Set status, content type application/json and the body (copied). */
void pm_http_res_json(pm_http_res_t *res, int status, const char *json, size_t len);

/* Equality of a slice with a C string. */
static inline bool pm_slice_eq(pm_slice_t s, const char *lit)
{
    size_t i = 0;
    for (; lit[i]; i++)
        if (i >= s.len || s.p[i] != lit[i]) return false;
    return i == s.len;
}

#endif

/*
 * res.c: building pm_http_res_t responses: headers, JSON bodies, the
 * project's error shape {"error":{"code","message","field"}}.
 */
#include "pm/http.h"
#include "pm/text.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

void pm_http_res_init(pm_http_res_t *res)
{
    /* Not a memset of the whole struct: the header space is 12 KiB and
     * this runs on every request. */
    res->status = 0;
    res->content_type = NULL;
    pm_buf_init(&res->body, PM_HTTP_MAX_BODY);
    res->nheaders = 0;
    res->header_used = 0;
    res->wait_write = false;
    res->wait_lsn = 0;
}

void pm_http_res_free(pm_http_res_t *res)
{
    res->nheaders = 0;
    res->header_used = 0;
    pm_buf_free(&res->body);
}

void pm_http_res_header(pm_http_res_t *res, const char *name, const char *value, size_t len)
{
    if (PM_NEVER(res->nheaders >= PM_HTTP_MAX_RES_HEADERS)) return;
    if (PM_NEVER(len >= PM_HTTP_HEADER_SPACE - res->header_used)) return;
    pm_http_header_t *h = &res->headers[res->nheaders++];
    h->name = name;
    h->value = res->header_space + res->header_used;
    memcpy(h->value, value, len);
    h->value[len] = '\0';
    h->len = len;
    res->header_used += len + 1;
}

void pm_http_res_move(pm_http_res_t *dst, pm_http_res_t *src)
{
    dst->status = src->status;
    dst->content_type = src->content_type;
    dst->body = src->body;
    dst->wait_lsn = src->wait_lsn;
    dst->wait_write = src->wait_write;
    dst->nheaders = src->nheaders;
    dst->header_used = src->header_used;
    memcpy(dst->header_space, src->header_space, src->header_used);
    for (size_t i = 0; i < src->nheaders; i++) {
        dst->headers[i] = src->headers[i];
        dst->headers[i].value = dst->header_space + (src->headers[i].value - src->header_space);
    }
    pm_buf_init(&src->body, PM_HTTP_MAX_BODY);
    src->nheaders = 0;
    src->header_used = 0;
}

void pm_http_res_json(pm_http_res_t *res, int status, const char *json, size_t len)
{
    res->status = status;
    res->content_type = "application/json";
    pm_buf_reset(&res->body);
    if (pm_buf_append(&res->body, json, len) != PM_OK) {
        pm_buf_reset(&res->body);
        res->status = 500;
        pm_ignore_rc(pm_buf_appends(&res->body, "{\"error\":{\"code\":\"too_big\",\"message\":\"response too large\","
                                         "\"field\":null}}"));
    }
}

void pm_http_res_error(pm_http_res_t *res, int status, const char *code, const char *field, const char *fmt, ...)
{
    char raw[512], msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /* Messages may quote input, and the cut above may split a character:
     * jansson refuses invalid UTF-8, so clean it rather than lose the code. */
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof(raw) ? sizeof(raw) - 1 : (size_t)n;
    pm_text_sanitize(raw, len, msg, sizeof(msg), NULL);
    json_t *err = json_pack("{s:{s:s, s:s, s:s?}}", "error", "code", code, "message", msg, "field", field);
    char *text = err ? json_dumps(err, JSON_COMPACT) : NULL;
    if (text) {
        pm_http_res_json(res, status, text, strlen(text));
    } else {
        static const char fallback[] = "{\"error\":{\"code\":\"internal\",\"message\":\"error\",\"field\":null}}";
        pm_http_res_json(res, status, fallback, sizeof(fallback) - 1);
    }
    free(text);
    json_decref(err);
}

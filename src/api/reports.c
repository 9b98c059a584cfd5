/*
 * reports.c: GET /api/v1/reports, KPIs grouped by up to three dimensions
 * (see pm/report.h and docs/reports.md for the parameters and the answer).
 *
 * The query string is checked here against the report's own parameter
 * list: unknown names are 422 by name, every parameter but `filter` may
 * appear once. The report engine validates the values (422 naming the
 * parameter) and runs on this thread's store connection in one read
 * transaction. format=csv answers text/csv with the same rows.
 */
#include "api_internal.h"

#include "pm/clv.h"
#include "pm/report.h"

#include <string.h>

#define REPORT_BODY_MAX PM_HTTP_MAX_BODY

static int read_params(pm__api_ctx_t *c, pm_qs_t *qs, pm_report_t *r)
{
    const pm_slice_t q = c->req->query;
    pm_qs_parse(qs, q.p ? q.p : "", q.p ? q.len : 0);
    if (qs->dropped || qs->truncated) {
        pm_http_res_error(c->res, 422, "invalid", NULL, "too many or too long query parameters");
        return PM_EINVAL;
    }
    for (size_t i = 0; i < qs->count; i++) {
        const pm_qs_param_t *p = &qs->params[i];
        bool repeatable = false;
        if (!pm_report_param_known(p->key, &repeatable)) {
            pm_http_res_error(c->res, 422, "unknown_field", p->key, "unknown query parameter \"%s\"", p->key);
            return PM_EINVAL;
        }
        for (size_t j = 0; !repeatable && j < i; j++) {
            if (strcmp(qs->params[j].key, p->key) != 0) continue;
            pm_http_res_error(c->res, 422, "invalid", p->key, "query parameter \"%s\" given more than once", p->key);
            return PM_EINVAL;
        }
        pm_report_error_t err;
        if (pm_report_param(r, p->key, p->value, p->value_len, &err) != PM_OK) {
            pm_http_res_error(c->res, err.status, err.code, err.field ? err.field : p->key, "%s", err.message);
            return PM_EINVAL;
        }
    }
    return PM_OK;
}

void pm__api_reports_get(pm__api_ctx_t *c)
{
    pm_qs_t qs;
    pm_report_t *r = pm_report_create();
    pm_report_error_t err;
    pm_buf_t body;
    pm_buf_init(&body, REPORT_BODY_MAX);
    if (read_params(c, &qs, r) != PM_OK) goto out;
    if (pm_report_run(r, pm_store_db(c->api->store), &err) != PM_OK) {
        pm_http_res_error(c->res, err.status, err.code, err.field, "%s", err.message);
        goto out;
    }
    bool csv = pm_report_format(r) == PM_REPORT_CSV;
    if (pm_report_render(r, csv ? PM_REPORT_CSV : PM_REPORT_JSON, &body) != PM_OK) {
        pm_http_res_error(c->res, 422, "too_big", "limit", "the report is larger than %u bytes: page it with limit",
                          (unsigned)REPORT_BODY_MAX);
        goto out;
    }
    c->res->status = 200;
    c->res->content_type = csv ? "text/csv; charset=utf-8" : "application/json";
    pm_buf_free(&c->res->body);
    c->res->body = body; /* moved: the response owns it now */
    pm_buf_init(&body, REPORT_BODY_MAX);
    if (csv) {
        static const char disposition[] = "attachment; filename=\"report.csv\"";
        pm_http_res_header(c->res, "content-disposition", disposition, sizeof(disposition) - 1);
    }
out:
    pm_buf_free(&body);
    pm_report_destroy(r);
    pm_qs_free(&qs);
}

/* GET /api/v1/clv?from=YYYY-MM&to=YYYY-MM&tz=..&format=json|csv: lifetime
 * value per first-conversion cohort (pm/clv.h). */
void pm__api_clv_get(pm__api_ctx_t *c)
{
    static const char *const names[] = {"from", "to", "tz", "format"};
    const char *vals[PM_ARRAY_LEN(names)] = {NULL};
    pm_qs_t qs;
    pm_clv_t *clv = NULL;
    pm_report_error_t err;
    pm_buf_t body;
    pm_buf_init(&body, REPORT_BODY_MAX);
    pm_qs_parse(&qs, c->req->query.p ? c->req->query.p : "", c->req->query.p ? c->req->query.len : 0);
    for (size_t i = 0; i < qs.count; i++) {
        size_t k = 0;
        while (k < PM_ARRAY_LEN(names) && strcmp(names[k], qs.params[i].key) != 0)
            k++;
        if (k == PM_ARRAY_LEN(names)) {
            pm_http_res_error(c->res, 422, "unknown_field", qs.params[i].key, "unknown query parameter \"%s\"",
                              qs.params[i].key);
            goto out;
        }
        vals[k] = qs.params[i].value;
    }
    bool csv = vals[3] && strcmp(vals[3], "csv") == 0;
    if (vals[3] && !csv && strcmp(vals[3], "json") != 0) {
        pm_http_res_error(c->res, 422, "invalid", "format", "format must be json or csv");
        goto out;
    }
    if (pm_clv_run(pm_store_db(c->api->store), vals[0], vals[1], vals[2], &clv, &err) != PM_OK) {
        pm_http_res_error(c->res, err.status, err.code, err.field, "%s", err.message);
        goto out;
    }
    if (pm_clv_render(clv, csv ? PM_REPORT_CSV : PM_REPORT_JSON, pm_now(), &body) != PM_OK) {
        pm_http_res_error(c->res, 422, "too_big", "from", "the answer is too large: ask for fewer months");
        goto out;
    }
    c->res->status = 200;
    c->res->content_type = csv ? "text/csv; charset=utf-8" : "application/json";
    pm_buf_free(&c->res->body);
    c->res->body = body; /* moved */
    pm_buf_init(&body, REPORT_BODY_MAX);
out:
    pm_buf_free(&body);
    pm_clv_destroy(clv);
    pm_qs_free(&qs);
}

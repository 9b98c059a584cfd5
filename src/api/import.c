/*
 * import.c: POST /api/v1/conversions:batch, offline (CRM) conversions as
 * CSV (docs/money.md, docs/api.md). The header names the columns (click_id,
 * lead_id, type, status, payout, currency, amount, txid, in any order);
 * every data row goes through the tracking path like a postback
 * (pm_track_import: journal, dedupe on (offer, txid), status changes), so a
 * re-import of the same file records nothing new. Bad rows are answered
 * by line number with their reason; good rows are committed; the answer
 * waits for the fsync that covers every recorded row.
 */
#include "api_internal.h"

#include "pm/csv.h"

#include <stdio.h>
#include <string.h>

#define MAX_ROWS 100000

static const char *const columns[] = {"click_id", "lead_id", "type", "status", "payout",
                                      "currency", "amount",  "txid", NULL};

typedef struct batch_s {
    int col[PM_CSV_MAX_FIELDS]; /* CSV field -> columns[] index */
    size_t ncols;
    json_t *errors, *results;
    int64_t recorded, unchanged;
    uint64_t wait_lsn;
    pm_buf_t params;
    char actor[64];
} batch_t;

static int header(pm__api_ctx_t *c, pm_csv_t *csv, batch_t *b)
{
    int rc = pm_csv_next(csv);
    if (rc != PM_OK) {
        pm_http_res_error(c->res, 422, "invalid", "body", "line 1: %s", rc == PM_ENOTFOUND ? "no header" : csv->error);
        return PM_EINVAL;
    }
    bool has_id = false;
    for (size_t i = 0; i < csv->nfields; i++) {
        b->col[i] = -1;
        for (int k = 0; columns[k]; k++)
            if (strcmp(csv->field[i], columns[k]) == 0) b->col[i] = k;
        for (size_t j = 0; j < i && b->col[i] >= 0; j++)
            if (b->col[j] == b->col[i]) b->col[i] = -2;
        if (b->col[i] < 0) {
            pm_http_res_error(c->res, 422, "invalid", "body", "line 1: %s column \"%.64s\"",
                              b->col[i] == -2 ? "repeated" : "unknown", csv->field[i]);
            return PM_EINVAL;
        }
        has_id = has_id || b->col[i] <= 1;
    }
    if (!has_id) {
        pm_http_res_error(c->res, 422, "invalid", "body", "line 1: the header needs click_id or lead_id");
        return PM_EINVAL;
    }
    b->ncols = csv->nfields;
    return PM_OK;
}

static void add_error(batch_t *b, uint64_t line, const char *code, const char *field, const char *message)
{
    json_array_append_new(b->errors, json_pack("{s:I, s:s, s:o, s:s}", "line", (json_int_t)line, "code", code, "field",
                                               field ? json_string(field) : json_null(), "message", message));
}

/* Percent-encode one value into the parameter string. */
static int encode(pm_buf_t *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = PM_OK;
    for (size_t i = 0; rc == PM_OK && i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                     strchr("-_.~", ch) != NULL;
        char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
        rc = plain ? pm_buf_append(out, s + i, 1) : pm_buf_append(out, esc, 3);
    }
    return rc;
}

static int row_params(const pm_csv_t *csv, batch_t *b)
{
    pm_buf_reset(&b->params);
    int rc = PM_OK;
    for (size_t i = 0; rc == PM_OK && i < csv->nfields; i++) {
        if (csv->field_len[i] == 0) continue;
        rc = pm_buf_printf(&b->params, "%s%s=", b->params.len ? "&" : "", columns[b->col[i]]);
        if (rc == PM_OK) rc = encode(&b->params, csv->field[i], csv->field_len[i]);
    }
    return rc;
}

/* One data row through the tracking path; its outcome into the batch. */
static void submit(pm__api_ctx_t *c, batch_t *b, uint64_t line);

static void row(pm__api_ctx_t *c, const pm_csv_t *csv, batch_t *b)
{
    if (csv->nfields != b->ncols) {
        add_error(b, csv->line, "invalid", NULL, "the row does not have as many fields as the header");
        return;
    }
    if (row_params(csv, b) != PM_OK) {
        add_error(b, csv->line, "too_big", NULL, "the row is too long");
        return;
    }
    submit(c, b, csv->line);
}

/* The row in b->params through the tracking path; its outcome into b. */
static void submit(pm__api_ctx_t *c, batch_t *b, uint64_t line)
{
    pm_http_res_t res;
    pm_http_res_init(&res);
    pm_track_import(c->api->track, c->cfg, pm_buf_str(&b->params), b->params.len, b->actor, &res);
    json_t *doc = json_loadb(res.body.data, res.body.len, 0, NULL);
    json_t *err = json_object_get(doc, "error");
    if (res.status != 200 || err) {
        const char *field = json_string_value(json_object_get(err, "field"));
        const char *msg = json_string_value(json_object_get(err, "message"));
        const char *code = json_string_value(json_object_get(err, "code"));
        add_error(b, line, code ? code : "invalid", field, msg ? msg : "rejected");
    } else {
        bool recorded = res.wait_lsn > 0;
        if (res.wait_lsn > b->wait_lsn) b->wait_lsn = res.wait_lsn;
        recorded ? b->recorded++ : b->unchanged++;
        json_array_append_new(b->results, json_pack("{s:I, s:s, s:O, s:O}", "line", (json_int_t)line, "result",
                                                    recorded ? "recorded" : "unchanged", "conversion_id",
                                                    json_object_get(doc, "conversion_id"), "status",
                                                    json_object_get(doc, "status")));
    }
    json_decref(doc);
    pm_http_res_free(&res);
}

/* JSON {"rows":[{"click_id":"...","type":"sale",...}]}: the same columns as
 * keys, string values; "line" in the answer is the row's 1-based index. */
static int json_rows(pm__api_ctx_t *c, batch_t *b, int *n)
{
    json_t *body = pm__api_body(c), *rows = body ? json_object_get(body, "rows") : NULL, *r;
    size_t i;
    if (body == NULL) return PM_EINVAL;
    if (!json_is_array(rows) || json_array_size(rows) > MAX_ROWS) {
        pm_http_res_error(c->res, 422, "invalid", "rows", "the body must be {\"rows\":[...]} with at most %d rows",
                          MAX_ROWS);
        json_decref(body);
        return PM_EINVAL;
    }
    json_array_foreach(rows, i, r)
    {
        const char *key, *bad = NULL;
        json_t *v;
        pm_buf_reset(&b->params);
        (*n)++;
        json_object_foreach(r, key, v)
        {
            int k = 0;
            while (columns[k] && strcmp(columns[k], key) != 0)
                k++;
            if (columns[k] == NULL || !json_is_string(v))
                bad = key;
            else if (pm_buf_printf(&b->params, "%s%s=", b->params.len ? "&" : "", key) != PM_OK ||
                     encode(&b->params, json_string_value(v), json_string_length(v)) != PM_OK)
                bad = key;
            if (bad) break;
        }
        if (!json_is_object(r))
            add_error(b, i + 1, "invalid", NULL, "a row must be an object");
        else if (bad)
            add_error(b, i + 1, "invalid", bad, "unknown key, or a value that is not a string");
        else
            submit(c, b, i + 1);
    }
    json_decref(body);
    return PM_OK;
}

void pm__api_conversions_batch(pm__api_ctx_t *c)
{
    pm_csv_t *csv = pm_malloc(sizeof(*csv)); /* 32 KiB of field storage: not on the loop's stack */
    batch_t b = {.errors = json_array(), .results = json_array()};
    pm_buf_init(&b.params, 64u << 10);
    snprintf(b.actor, sizeof(b.actor), "import:%s", c->role ? c->role : "admin");
    if (c->api->track == NULL || c->cfg == NULL) {
        pm_http_res_error(c->res, 503, "unavailable", NULL, "imports need a running server");
        goto out;
    }
    pm_slice_t ct = c->req->content_type;
    int rc = PM_OK, n = 0;
    if (ct.len >= 16 && strncmp(ct.p, "application/json", 16) == 0) {
        if (json_rows(c, &b, &n) != PM_OK) goto out;
        goto answer;
    }
    pm_csv_init(csv, c->req->body.p ? c->req->body.p : "", c->req->body.len);
    rc = header(c, csv, &b);
    while (rc == PM_OK && n < MAX_ROWS) {
        int next = pm_csv_next(csv);
        if (next == PM_ENOTFOUND) break;
        n++;
        if (next == PM_OK)
            row(c, csv, &b);
        else
            add_error(&b, csv->line, "invalid", NULL, csv->error);
    }
    c->res->wait_lsn = b.wait_lsn; /* also for the error below: what was recorded is durable when answered */
    if (rc == PM_OK && n == MAX_ROWS && pm_csv_next(csv) != PM_ENOTFOUND) {
        pm_http_res_error(c->res, 413, "too_big", "body", "more than %d rows: split the file", MAX_ROWS);
        rc = PM_ETOOBIG; /* the rows before were recorded: a re-send of the whole file is harmless */
    }
    if (rc != PM_OK) goto out;
answer:
    c->res->wait_lsn = b.wait_lsn;
    pm__api_send(c, 200,
                 json_pack("{s:I, s:I, s:I, s:O, s:O}", "rows", (json_int_t)n, "recorded", (json_int_t)b.recorded,
                           "unchanged", (json_int_t)b.unchanged, "errors", b.errors, "results", b.results));
out:
    pm_free(csv);
    json_decref(b.errors);
    json_decref(b.results);
    pm_buf_free(&b.params);
}

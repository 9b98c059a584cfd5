/*
 * fuzz_stats_json.c: arbitrary bytes into the analyze reader
 * (pm_stats_json_analyze), in both output formats.
 *
 * Beyond memory safety it checks the contract: the answer is PM_OK,
 * PM_EINVAL or PM_ETOOBIG; an error leaves a one-line message and no
 * output; a JSON answer parses as strict JSON (so no NaN or inf escaped
 * into it) with the same sections as the input; and the analysis is
 * deterministic (the same input gives the same bytes twice).
 */
#include "pm/stats_json.h"

#include <jansson.h>
#include <string.h>

static void check(const uint8_t *data, size_t size, pm_stats_format_t format)
{
    static const char *const sections[] = {"frequentist", "sequential", "bayesian", "srm"};
    pm_buf_t out, again;
    char err[256];
    pm_buf_init(&out, PM_STATS_JSON_MAX_OUTPUT);
    pm_buf_init(&again, PM_STATS_JSON_MAX_OUTPUT);
    int rc = pm_stats_json_analyze((const char *)data, size, format, &out, err, sizeof(err));
    if (rc != PM_OK && rc != PM_EINVAL && rc != PM_ETOOBIG) abort();
    if (strlen(err) >= sizeof(err)) abort();
    if (rc != PM_OK && (err[0] == '\0' || strchr(err, '\n') != NULL || out.len != 0)) abort();
    if (rc == PM_OK && format == PM_STATS_FORMAT_JSON) {
        json_t *doc = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, NULL);
        json_t *in = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(doc) || !json_is_object(in)) abort();
        for (size_t i = 0; i < PM_ARRAY_LEN(sections); i++) {
            json_t *a = json_object_get(doc, sections[i]), *b = json_object_get(in, sections[i]);
            if (json_array_size(a) != json_array_size(b) || (a == NULL) != (b == NULL)) abort();
        }
        json_decref(doc);
        json_decref(in);
    }
    if (rc == PM_OK) {
        if (pm_stats_json_analyze((const char *)data, size, format, &again, err, sizeof(err)) != PM_OK) abort();
        if (again.len != out.len || (out.len && memcmp(again.data, out.data, out.len) != 0)) abort();
    }
    pm_buf_free(&out);
    pm_buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, PM_STATS_FORMAT_JSON);
    check(data, size, PM_STATS_FORMAT_TABLE);
    return 0;
}

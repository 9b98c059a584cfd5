/*
 * flow.c: the flow compiler (see pm/flow.h): a JSON definition, checked
 * strictly, into the immutable tree the click path evaluates (flow_eval.c).
 *
 * Every refusal names the field by its dotted path from the definition's
 * root, so the admin API can answer {"error":{"field":"rules[1].when..."}}.
 * Input comes from API clients (and the fuzzer): every list, string and
 * nesting depth is capped, and nothing is trusted to be of the expected
 * JSON type. On failure everything built so far is freed.
 */
#include "flow_internal.h"

#include "pm/hash.h"
#include "pm/text.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct compile_s {
    int64_t id;
    pm_flow_error_t *err;
    size_t nodes;
} compile_t;

static int fail(compile_t *c, const char *field, const char *fmt, ...) PM_PRINTF(3, 4);

static int fail(compile_t *c, const char *field, const char *fmt, ...)
{
    va_list ap;
    snprintf(c->err->field, sizeof(c->err->field), "%s", field);
    va_start(ap, fmt);
    vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
    va_end(ap);
    return PM_EINVAL;
}

/* Field paths are cut at PM_FLOW_FIELD_MAX (nesting is capped well below). */
static void sub_path(char *out, size_t cap, const char *base, const char *key)
{
    int n = snprintf(out, cap, "%s%s%s", base, *base ? "." : "", key);
    if (n < 0) out[0] = '\0';
}

static void index_path(char *out, size_t cap, const char *base, size_t i)
{
    int n = snprintf(out, cap, "%s[%zu]", base, i);
    if (n < 0) out[0] = '\0';
}

/* Refuse keys of `obj` outside `allowed` (NULL-terminated). */
static int only_keys(compile_t *c, const char *path, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            char p[PM_FLOW_FIELD_MAX];
            sub_path(p, sizeof(p), path, strlen(key) > 40 ? "?" : key);
            return fail(c, p, "unknown field");
        }
    }
    return PM_OK;
}

static int want_text(compile_t *c, const char *path, json_t *v, size_t max, const char **s)
{
    if (!json_is_string(v)) return fail(c, path, "%s must be a string", path);
    size_t len = json_string_length(v);
    *s = json_string_value(v);
    if (len == 0 || len > max) return fail(c, path, "%s must be 1 to %zu characters", path, max);
    if (!pm_text_is_clean(*s, len) || strlen(*s) != len)
        return fail(c, path, "%s must be UTF-8 text without control characters", path);
    return PM_OK;
}

/* --- conditions ------------------------------------------------------------ */

static void cond_free(cond_t *k)
{
    if (k == NULL) return;
    for (size_t i = 0; i < k->nkids; i++)
        cond_free(k->kids[i]);
    for (size_t i = 0; i < k->nvalues; i++)
        pm_free(k->values[i]);
    pm_free(k->kids);
    pm_free(k->values);
    pm_free(k->param);
    pm_free(k->cidrs);
    pcre2_code_free(k->re);
    pm_tz_free(k->tz);
    pm_free(k);
}

static int compile_cond(compile_t *c, const char *path, json_t *v, int depth, cond_t **out);

static int compile_list(compile_t *c, const char *path, json_t *v, int depth, cond_t *k)
{
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 64)
        return fail(c, path, "%s must be an array of 1 to 64 conditions", path);
    k->kids = pm_calloc(json_array_size(v), sizeof(cond_t *));
    for (size_t i = 0; i < json_array_size(v); i++) {
        char p[PM_FLOW_FIELD_MAX];
        index_path(p, sizeof(p), path, i);
        int rc = compile_cond(c, p, json_array_get(v, i), depth + 1, &k->kids[k->nkids]);
        if (rc != PM_OK) return rc;
        k->nkids++;
    }
    return PM_OK;
}

static int compile_regex(compile_t *c, const char *path, const char *pattern, cond_t *k)
{
    int code;
    PCRE2_SIZE offset;
    size_t len = strlen(pattern);
    if (len > FLOW_MAX_REGEX) return fail(c, path, "%s is longer than %d characters", path, FLOW_MAX_REGEX);
    k->re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF, &code, &offset, NULL);
    if (k->re == NULL) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(code, msg, sizeof(msg));
        return fail(c, path, "%s is not a valid regular expression at offset %zu: %s", path, (size_t)offset,
                    (const char *)msg);
    }
    /* JIT where the platform has it; the interpreter is the same language. */
    pm_ignore_rc(pcre2_jit_compile(k->re, PCRE2_JIT_COMPLETE));
    return PM_OK;
}

static int add_value(compile_t *c, const char *path, json_t *v, cond_t *k)
{
    const char *s = NULL;
    if (want_text(c, path, v, FLOW_MAX_VALUE_LEN, &s) != PM_OK) return PM_EINVAL;
    k->values[k->nvalues++] = pm_strdup(s);
    return PM_OK;
}

static bool is_version_field(int f)
{
    return f == PM_EVS_OS_VERSION || f == PM_EVS_BROWSER_VERSION;
}

/* The operator object of a string condition: exactly one of equals, in,
 * regex (and gte / lt for versions). `extra` names one more allowed key
 * (param's "name") that the caller reads. */
static int compile_op(compile_t *c, const char *path, json_t *v, bool versions, const char *extra, cond_t *k)
{
    static const char *const ops[] = {"equals", "in", "regex", "gte", "lt"};
    if (!json_is_object(v)) return fail(c, path, "%s must be an object such as {\"in\": [...]}", path);
    const char *allowed[] = {"equals", "in", "regex", "gte", "lt", extra, NULL};
    if (!versions) allowed[3] = extra, allowed[4] = NULL;
    if (only_keys(c, path, v, allowed) != PM_OK) return PM_EINVAL;
    size_t found = 0;
    for (size_t i = 0; i < PM_ARRAY_LEN(ops); i++) {
        json_t *arg = json_object_get(v, ops[i]);
        if (arg == NULL) continue;
        char p[PM_FLOW_FIELD_MAX];
        sub_path(p, sizeof(p), path, ops[i]);
        if (found++)
            return fail(c, p, "%s: give one operator of equals, in, regex%s", path, versions ? ", gte, lt" : "");
        k->op = (cond_op_t)i;
        if (k->op == OP_IN) {
            if (!json_is_array(arg) || json_array_size(arg) == 0 || json_array_size(arg) > FLOW_MAX_VALUES)
                return fail(c, p, "%s must be an array of 1 to %d strings", p, FLOW_MAX_VALUES);
            k->values = pm_calloc(json_array_size(arg), sizeof(char *));
            for (size_t j = 0; j < json_array_size(arg); j++) {
                char q[PM_FLOW_FIELD_MAX];
                index_path(q, sizeof(q), p, j);
                if (add_value(c, q, json_array_get(arg, j), k) != PM_OK) return PM_EINVAL;
            }
        } else {
            k->values = pm_calloc(1, sizeof(char *));
            if (add_value(c, p, arg, k) != PM_OK) return PM_EINVAL;
            if (k->op == OP_REGEX && compile_regex(c, p, k->values[0], k) != PM_OK) return PM_EINVAL;
        }
    }
    if (found == 0) return fail(c, path, "%s needs an operator: equals, in or regex", path);
    return PM_OK;
}

/* The event fields a condition may test, by their JSON names. */
static int field_by_name(const char *name)
{
    static const pm_event_str_t fields[] = {
        PM_EVS_COUNTRY,
        PM_EVS_REGION,
        PM_EVS_DEVICE_TYPE,
        PM_EVS_OS,
        PM_EVS_OS_VERSION,
        PM_EVS_BROWSER,
        PM_EVS_BROWSER_VERSION,
        PM_EVS_USER_AGENT,
        PM_EVS_SUB1,
        PM_EVS_SUB2,
        PM_EVS_SUB3,
        PM_EVS_SUB4,
        PM_EVS_SUB5,
        PM_EVS_SUB6,
        PM_EVS_SUB7,
        PM_EVS_SUB8,
        PM_EVS_SUB9,
        PM_EVS_SUB10,
        PM_EVS_UTM_SOURCE,
        PM_EVS_UTM_MEDIUM,
        PM_EVS_UTM_CAMPAIGN,
        PM_EVS_UTM_CONTENT,
        PM_EVS_UTM_TERM,
        PM_EVS_EXTERNAL_ID,
        PM_EVS_USER_ID,
        PM_EVS_BOT_REASON,
    };
    for (size_t i = 0; i < PM_ARRAY_LEN(fields); i++)
        if (strcmp(name, pm_event_str_name(fields[i])) == 0) return (int)fields[i];
    return -1;
}

static int compile_ip(compile_t *c, const char *path, json_t *v, cond_t *k)
{
    static const char *const allowed[] = {"in", NULL};
    char p[PM_FLOW_FIELD_MAX];
    sub_path(p, sizeof(p), path, "in");
    if (!json_is_object(v)) return fail(c, path, "%s must be {\"in\": [\"10.0.0.0/8\", ...]}", path);
    if (only_keys(c, path, v, allowed) != PM_OK) return PM_EINVAL;
    json_t *list = json_object_get(v, "in");
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > FLOW_MAX_VALUES)
        return fail(c, p, "%s must be an array of 1 to %d CIDR ranges", p, FLOW_MAX_VALUES);
    k->cidrs = pm_calloc(json_array_size(list), sizeof(pm_cidr_t));
    for (size_t i = 0; i < json_array_size(list); i++) {
        char q[PM_FLOW_FIELD_MAX];
        const char *s;
        index_path(q, sizeof(q), p, i);
        if (want_text(c, q, json_array_get(list, i), 64, &s) != PM_OK) return PM_EINVAL;
        if (pm_cidr_parse(s, strlen(s), &k->cidrs[k->ncidrs]) != PM_OK)
            return fail(c, q, "%s must be a CIDR range such as 10.0.0.0/8 or 2001:db8::/32", q);
        k->ncidrs++;
    }
    return PM_OK;
}

static int compile_hours(compile_t *c, const char *path, json_t *v, cond_t *k)
{
    static const char *const allowed[] = {"from", "to", NULL};
    if (!json_is_object(v) || only_keys(c, path, v, allowed) != PM_OK)
        return c->err->field[0] ? PM_EINVAL : fail(c, path, "%s must be {\"from\": H, \"to\": H}", path);
    json_t *from = json_object_get(v, "from"), *to = json_object_get(v, "to");
    if (!json_is_integer(from) || json_integer_value(from) < 0 || json_integer_value(from) > 23 ||
        !json_is_integer(to) || json_integer_value(to) < 0 || json_integer_value(to) > 24)
        return fail(c, path, "%s needs integer hours: from 0..23, to 0..24 (to is exclusive)", path);
    int a = (int)json_integer_value(from), b = (int)json_integer_value(to);
    if (a == b) return fail(c, path, "%s: from and to are equal (an empty range)", path);
    /* from > to wraps past midnight: 22 -> 6 is 22..23 and 0..5. */
    for (int h = a; h != b; h = (h + 1) % 24) {
        k->hours |= 1u << h;
        if (b == 24 && h == 23) break;
    }
    return PM_OK;
}

static int compile_days(compile_t *c, const char *path, json_t *v, cond_t *k)
{
    static const char *const names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 7)
        return fail(c, path, "%s must be an array of 1 to 7 days (\"mon\" .. \"sun\")", path);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *s = json_string_value(json_array_get(v, i));
        size_t d = 0;
        while (s && d < 7 && strcmp(s, names[d]) != 0)
            d++;
        char q[PM_FLOW_FIELD_MAX];
        index_path(q, sizeof(q), path, i);
        if (s == NULL || d == 7) return fail(c, q, "%s must be one of sun, mon, tue, wed, thu, fri, sat", q);
        k->days |= (uint8_t)(1u << d);
    }
    return PM_OK;
}

static int compile_time(compile_t *c, const char *path, json_t *v, cond_t *k)
{
    static const char *const allowed[] = {"tz", "hours", "days", NULL};
    if (!json_is_object(v)) return fail(c, path, "%s must be an object with tz, hours and/or days", path);
    if (only_keys(c, path, v, allowed) != PM_OK) return PM_EINVAL;
    char p[PM_FLOW_FIELD_MAX];
    json_t *tz = json_object_get(v, "tz"), *hours = json_object_get(v, "hours"), *days = json_object_get(v, "days");
    const char *name = "UTC";
    sub_path(p, sizeof(p), path, "tz");
    if (tz && want_text(c, p, tz, 64, &name) != PM_OK) return PM_EINVAL;
    if (pm_tz_load(name, &k->tz) != PM_OK) return fail(c, p, "%s must be an IANA time zone such as Europe/Berlin", p);
    if (hours == NULL && days == NULL) return fail(c, path, "%s needs hours, days or both", path);
    k->hours = 0xffffffu;
    k->days = 0x7f;
    sub_path(p, sizeof(p), path, "hours");
    if (hours && (k->hours = 0, compile_hours(c, p, hours, k) != PM_OK)) return PM_EINVAL;
    sub_path(p, sizeof(p), path, "days");
    if (days && (k->days = 0, compile_days(c, p, days, k) != PM_OK)) return PM_EINVAL;
    return PM_OK;
}

static int compile_param(compile_t *c, const char *path, json_t *v, cond_t *k)
{
    char p[PM_FLOW_FIELD_MAX];
    const char *name;
    sub_path(p, sizeof(p), path, "name");
    if (!json_is_object(v)) return fail(c, path, "%s must be {\"name\": ..., \"equals\"|\"in\"|\"regex\": ...}", path);
    if (want_text(c, p, json_object_get(v, "name"), PM_QS_MAX_KEY, &name) != PM_OK) return PM_EINVAL;
    k->param = pm_strdup(name);
    return compile_op(c, path, v, false, "name", k);
}

static int compile_visitor(compile_t *c, const char *path, json_t *v, cond_t *k)
{
    const char *s = json_string_value(v);
    if (s && strcmp(s, "new") == 0)
        k->returning = false;
    else if (s && strcmp(s, "returning") == 0)
        k->returning = true;
    else
        return fail(c, path, "%s must be \"new\" or \"returning\"", path);
    return PM_OK;
}

static int compile_audience(compile_t *c, const char *path, json_t *v, cond_t *k)
{
    static const char *const allowed[] = {"clicked_within_days", "converted", NULL};
    char p[PM_FLOW_FIELD_MAX];
    if (!json_is_object(v)) return fail(c, path, "%s must be {\"clicked_within_days\": N, \"converted\": false}", path);
    if (only_keys(c, path, v, allowed) != PM_OK) return PM_EINVAL;
    json_t *days = json_object_get(v, "clicked_within_days"), *conv = json_object_get(v, "converted");
    sub_path(p, sizeof(p), path, "clicked_within_days");
    if (!json_is_integer(days) || json_integer_value(days) < 1 || json_integer_value(days) > PM_AUDIENCE_MAX_DAYS)
        return fail(c, p, "%s must be an integer from 1 to %d", p, PM_AUDIENCE_MAX_DAYS);
    sub_path(p, sizeof(p), path, "converted");
    if (conv && !json_is_boolean(conv)) return fail(c, p, "%s must be true or false", p);
    k->lookback_days = (int)json_integer_value(days);
    k->converted = conv && json_is_true(conv);
    return PM_OK;
}

/* One leaf or combinator: an object with exactly one key. */
static int compile_node(compile_t *c, const char *path, const char *key, json_t *v, int depth, cond_t *k)
{
    char p[PM_FLOW_FIELD_MAX];
    sub_path(p, sizeof(p), path, key);
    if (strcmp(key, "all") == 0 || strcmp(key, "any") == 0) {
        k->kind = key[1] == 'l' ? C_ALL : C_ANY;
        return compile_list(c, p, v, depth, k);
    }
    if (strcmp(key, "not") == 0) {
        k->kind = C_NOT;
        k->kids = pm_calloc(1, sizeof(cond_t *));
        int rc = compile_cond(c, p, v, depth + 1, &k->kids[0]);
        if (rc == PM_OK) k->nkids = 1;
        return rc;
    }
    if (strcmp(key, "language") == 0) return k->kind = C_LANGUAGE, compile_op(c, p, v, false, NULL, k);
    if (strcmp(key, "referrer_domain") == 0) return k->kind = C_REFERRER, compile_op(c, p, v, false, NULL, k);
    if (strcmp(key, "ip") == 0) return k->kind = C_IP, compile_ip(c, p, v, k);
    if (strcmp(key, "time") == 0) return k->kind = C_TIME, compile_time(c, p, v, k);
    if (strcmp(key, "param") == 0) return k->kind = C_PARAM, compile_param(c, p, v, k);
    if (strcmp(key, "visitor") == 0) return k->kind = C_VISITOR, compile_visitor(c, p, v, k);
    if (strcmp(key, "audience") == 0) return k->kind = C_AUDIENCE, compile_audience(c, p, v, k);
    int f = field_by_name(key);
    if (f >= 0) {
        k->kind = C_FIELD;
        k->field = f;
        return compile_op(c, p, v, is_version_field(f), NULL, k);
    }
    return fail(c, p, "unknown condition \"%s\" (see docs/flows.md)", strlen(key) > 40 ? "?" : key);
}

static int compile_cond(compile_t *c, const char *path, json_t *v, int depth, cond_t **out)
{
    *out = NULL;
    if (depth > FLOW_MAX_DEPTH) return fail(c, path, "conditions nest deeper than %d levels", FLOW_MAX_DEPTH);
    if (++c->nodes > FLOW_MAX_NODES) return fail(c, path, "the flow has more than %d conditions", FLOW_MAX_NODES);
    if (!json_is_object(v) || json_object_size(v) != 1)
        return fail(c, path, "%s must be an object with exactly one key (a condition or all/any/not)", path);
    cond_t *k = pm_calloc(1, sizeof(*k));
    const char *key = json_object_iter_key(json_object_iter(v));
    int rc = compile_node(c, path, key, json_object_iter_value(json_object_iter(v)), depth, k);
    if (rc != PM_OK) {
        cond_free(k);
        return rc;
    }
    *out = k;
    return PM_OK;
}

/* --- paths ------------------------------------------------------------------ */

static void path_free(pm_flow_path_t *p)
{
    for (size_t i = 0; i < p->noptions; i++)
        pm_free(p->options[i].url);
    pm_free(p->name);
    pm_free(p->seed);
    memset(p, 0, sizeof(*p));
}

static int want_id(compile_t *c, const char *path, json_t *v, int64_t *out)
{
    if (v == NULL || json_is_null(v)) return PM_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return fail(c, path, "%s must be a positive integer id", path);
    *out = (int64_t)json_integer_value(v);
    return PM_OK;
}

static bool is_http_url(const char *s)
{
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) return false;
    return true;
}

static uint64_t option_key(compile_t *c, const pm_flow_path_t *p, const pm_flow_option_t *o)
{
    char text[4096];
    int n = snprintf(text, sizeof(text), "%lld|%s|%lld|%lld|%s", (long long)c->id, p->name, (long long)o->offer_id,
                     (long long)o->lander_id, o->url ? o->url : "");
    return pm_hash64(text, n > 0 && (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

static int compile_option(compile_t *c, const char *path, json_t *v, pm_flow_path_t *p, pm_flow_option_t *o)
{
    static const char *const allowed[] = {"offer_id", "lander_id", "url", "weight", NULL};
    char q[PM_FLOW_FIELD_MAX];
    if (!json_is_object(v)) return fail(c, path, "%s must be an object with offer_id, lander_id or url", path);
    if (only_keys(c, path, v, allowed) != PM_OK) return PM_EINVAL;
    sub_path(q, sizeof(q), path, "offer_id");
    if (want_id(c, q, json_object_get(v, "offer_id"), &o->offer_id) != PM_OK) return PM_EINVAL;
    sub_path(q, sizeof(q), path, "lander_id");
    if (want_id(c, q, json_object_get(v, "lander_id"), &o->lander_id) != PM_OK) return PM_EINVAL;
    json_t *url = json_object_get(v, "url"), *weight = json_object_get(v, "weight");
    sub_path(q, sizeof(q), path, "url");
    if (url) {
        const char *s;
        if (want_text(c, q, url, 2048, &s) != PM_OK) return PM_EINVAL;
        if (!is_http_url(s)) return fail(c, q, "%s must be an http(s) URL without spaces", q);
        if (o->offer_id || o->lander_id) return fail(c, q, "%s: give a url or offer_id/lander_id, not both", q);
        o->url = pm_strdup(s);
    }
    if (!o->url && !o->offer_id && !o->lander_id) return fail(c, path, "%s needs offer_id, lander_id or url", path);
    sub_path(q, sizeof(q), path, "weight");
    o->weight = 1;
    if (weight && (!json_is_integer(weight) || json_integer_value(weight) < 0 || json_integer_value(weight) > 1000000))
        return fail(c, q, "%s must be an integer from 0 to 1000000", q);
    if (weight) o->weight = (uint32_t)json_integer_value(weight);
    o->key = option_key(c, p, o);
    return PM_OK;
}

static int compile_rotation(compile_t *c, const char *path, json_t *v, pm_flow_path_t *p)
{
    char q[PM_FLOW_FIELD_MAX];
    json_t *rot = json_object_get(v, "rotation"), *share = json_object_get(v, "min_share");
    const char *s = rot ? json_string_value(rot) : "weighted";
    sub_path(q, sizeof(q), path, "rotation");
    if (s && strcmp(s, "weighted") == 0)
        p->rotation = PM_FLOW_WEIGHTED;
    else if (s && strcmp(s, "auto") == 0)
        p->rotation = PM_FLOW_AUTO;
    else if (s && strcmp(s, "split") == 0)
        p->rotation = PM_FLOW_SPLIT;
    else
        return fail(c, q, "%s must be one of weighted, auto, split", q);
    sub_path(q, sizeof(q), path, "min_share");
    p->min_share = p->rotation == PM_FLOW_AUTO ? 0.05 / (double)p->noptions : 0;
    if (share && p->rotation != PM_FLOW_AUTO) return fail(c, q, "%s applies only to rotation \"auto\"", q);
    if (share &&
        (!json_is_number(share) || json_number_value(share) < 0 || json_number_value(share) * (double)p->noptions > 1))
        return fail(c, q, "%s must be a number from 0 to 1/(number of options)", q);
    if (share) p->min_share = json_number_value(share);
    uint64_t total = 0;
    for (size_t i = 0; i < p->noptions; i++)
        total += p->options[i].weight;
    sub_path(q, sizeof(q), path, "options");
    if (total == 0 && p->rotation != PM_FLOW_AUTO) return fail(c, q, "%s: the weights add up to 0", q);
    char seed[PM_FLOW_FIELD_MAX + 32];
    snprintf(seed, sizeof(seed), "flow-%lld-%s", (long long)c->id, p->name);
    p->seed = pm_strdup(seed);
    return PM_OK;
}

static int compile_path(compile_t *c, const char *path, json_t *v, const char *def_name, pm_flow_path_t *p)
{
    static const char *const allowed[] = {"name", "rotation", "min_share", "options", NULL};
    char q[PM_FLOW_FIELD_MAX];
    const char *name = def_name;
    if (!json_is_object(v)) return fail(c, path, "%s must be an object with options", path);
    if (only_keys(c, path, v, allowed) != PM_OK) return PM_EINVAL;
    sub_path(q, sizeof(q), path, "name");
    if (json_object_get(v, "name") && want_text(c, q, json_object_get(v, "name"), 64, &name) != PM_OK) return PM_EINVAL;
    p->name = pm_strdup(name);
    json_t *opts = json_object_get(v, "options");
    sub_path(q, sizeof(q), path, "options");
    if (!json_is_array(opts) || json_array_size(opts) == 0 || json_array_size(opts) > PM_FLOW_MAX_OPTIONS)
        return fail(c, q, "%s must be an array of 1 to %d options", q, PM_FLOW_MAX_OPTIONS);
    for (size_t i = 0; i < json_array_size(opts); i++) {
        char o[PM_FLOW_FIELD_MAX];
        index_path(o, sizeof(o), q, i);
        p->noptions = i + 1;
        if (compile_option(c, o, json_array_get(opts, i), p, &p->options[i]) != PM_OK) return PM_EINVAL;
    }
    return compile_rotation(c, path, v, p);
}

/* --- rules and the flow -------------------------------------------------------- */

static int compile_rule(compile_t *c, const char *path, json_t *v, size_t index, rule_t *r)
{
    static const char *const allowed[] = {"name", "when", "path", NULL};
    char q[PM_FLOW_FIELD_MAX], def[32];
    const char *name = def;
    snprintf(def, sizeof(def), "rule%zu", index + 1);
    if (!json_is_object(v)) return fail(c, path, "%s must be an object with when and path", path);
    if (only_keys(c, path, v, allowed) != PM_OK) return PM_EINVAL;
    sub_path(q, sizeof(q), path, "name");
    if (json_object_get(v, "name") && want_text(c, q, json_object_get(v, "name"), 64, &name) != PM_OK) return PM_EINVAL;
    r->name = pm_strdup(name);
    sub_path(q, sizeof(q), path, "when");
    if (json_object_get(v, "when") == NULL) return fail(c, q, "%s is required", q);
    if (compile_cond(c, q, json_object_get(v, "when"), 1, &r->when) != PM_OK) return PM_EINVAL;
    sub_path(q, sizeof(q), path, "path");
    if (json_object_get(v, "path") == NULL) return fail(c, q, "%s is required", q);
    return compile_path(c, q, json_object_get(v, "path"), name, &r->path);
}

static int compile_cap(compile_t *c, json_t *v, pm_flow_cap_t *cap)
{
    static const char *const allowed[] = {"max", "per", "count", NULL};
    if (v == NULL || json_is_null(v)) return PM_OK;
    if (!json_is_object(v)) return fail(c, "frequency_cap", "frequency_cap must be {\"max\": N, \"per\": ...}");
    if (only_keys(c, "frequency_cap", v, allowed) != PM_OK) return PM_EINVAL;
    json_t *max = json_object_get(v, "max");
    if (!json_is_integer(max) || json_integer_value(max) < 1 || json_integer_value(max) > 1000000)
        return fail(c, "frequency_cap.max", "frequency_cap.max must be an integer from 1 to 1000000");
    const char *per = json_string_value(json_object_get(v, "per"));
    if (per && strcmp(per, "hour") == 0)
        cap->per = PM_FLOW_PER_HOUR;
    else if (per && strcmp(per, "day") == 0)
        cap->per = PM_FLOW_PER_DAY;
    else if (per && strcmp(per, "life") == 0)
        cap->per = PM_FLOW_PER_LIFE;
    else
        return fail(c, "frequency_cap.per", "frequency_cap.per must be one of hour, day, life");
    json_t *count = json_object_get(v, "count");
    const char *what = count ? json_string_value(count) : "clicks";
    if (what == NULL || (strcmp(what, "clicks") != 0 && strcmp(what, "impressions") != 0))
        return fail(c, "frequency_cap.count", "frequency_cap.count must be clicks or impressions");
    cap->impressions = what[0] == 'i';
    cap->max = (uint32_t)json_integer_value(max);
    return PM_OK;
}

static int compile_rules(compile_t *c, json_t *rules, pm_flow_t *f)
{
    if (rules == NULL || json_is_null(rules)) return PM_OK;
    if (!json_is_array(rules) || json_array_size(rules) > PM_FLOW_MAX_RULES)
        return fail(c, "rules", "rules must be an array of at most %d rules", PM_FLOW_MAX_RULES);
    f->rules = pm_calloc(json_array_size(rules) ? json_array_size(rules) : 1, sizeof(rule_t));
    for (size_t i = 0; i < json_array_size(rules); i++) {
        char p[PM_FLOW_FIELD_MAX];
        index_path(p, sizeof(p), "rules", i);
        f->nrules = i + 1;
        if (compile_rule(c, p, json_array_get(rules, i), i, &f->rules[i]) != PM_OK) return PM_EINVAL;
    }
    return PM_OK;
}

/* Path names identify a path in route reasons and experiments: unique. */
static int check_names(compile_t *c, const pm_flow_t *f)
{
    for (size_t i = 0; pm_flow_path_at(f, i); i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(pm_flow_path_at(f, i)->name, pm_flow_path_at(f, j)->name) == 0)
                return fail(c, i < f->nrules ? "rules" : "default_path",
                            "two paths are named \"%s\"; path names must be unique in a flow",
                            pm_flow_path_at(f, i)->name);
    return PM_OK;
}

static int compile_flow(compile_t *c, json_t *def, pm_flow_t *f)
{
    static const char *const allowed[] = {"rules", "default_path", "fallback_path", "bot_path", "frequency_cap", NULL};
    if (!json_is_object(def)) return fail(c, "", "the flow must be a JSON object");
    if (only_keys(c, "", def, allowed) != PM_OK || compile_rules(c, json_object_get(def, "rules"), f) != PM_OK)
        return PM_EINVAL;
    json_t *d = json_object_get(def, "default_path"), *fb = json_object_get(def, "fallback_path"),
           *bot = json_object_get(def, "bot_path");
    if (d == NULL || json_is_null(d)) return fail(c, "default_path", "default_path is required");
    if (compile_path(c, "default_path", d, "default", &f->default_path) != PM_OK) return PM_EINVAL;
    f->has_fallback = fb && !json_is_null(fb);
    if (f->has_fallback && compile_path(c, "fallback_path", fb, "fallback", &f->fallback_path) != PM_OK)
        return PM_EINVAL;
    f->has_bot = bot && !json_is_null(bot);
    if (f->has_bot && compile_path(c, "bot_path", bot, "bot", &f->bot_path) != PM_OK) return PM_EINVAL;
    if (compile_cap(c, json_object_get(def, "frequency_cap"), &f->cap) != PM_OK) return PM_EINVAL;
    if (f->cap.max && !f->has_fallback)
        return fail(c, "fallback_path", "fallback_path is required with a frequency_cap (where capped visitors go)");
    return check_names(c, f);
}

int pm_flow_compile(int64_t id, json_t *def, pm_flow_t **out, pm_flow_error_t *err)
{
    pm_flow_error_t scratch;
    compile_t c = {.id = id, .err = err ? err : &scratch};
    memset(c.err, 0, sizeof(*c.err));
    pm_flow_t *f = pm_calloc(1, sizeof(*f));
    f->id = id;
    int rc = compile_flow(&c, def, f);
    if (rc != PM_OK) {
        pm_flow_free(f);
        f = NULL;
    }
    *out = f;
    return rc;
}

int pm_flow_compile_text(int64_t id, const char *text, size_t len, pm_flow_t **out, pm_flow_error_t *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        *out = NULL;
        if (err) {
            snprintf(err->field, sizeof(err->field), "%s", "");
            snprintf(err->message, sizeof(err->message), "invalid JSON at line %d: %.200s", jerr.line, jerr.text);
        }
        return PM_EINVAL;
    }
    int rc = pm_flow_compile(id, doc, out, err);
    json_decref(doc);
    return rc;
}

void pm_flow_free(pm_flow_t *f)
{
    if (f == NULL) return;
    for (size_t i = 0; i < f->nrules; i++) {
        pm_free(f->rules[i].name);
        cond_free(f->rules[i].when);
        path_free(&f->rules[i].path);
    }
    pm_free(f->rules);
    path_free(&f->default_path);
    path_free(&f->fallback_path);
    path_free(&f->bot_path);
    pm_free(f);
}

int64_t pm_flow_id(const pm_flow_t *f)
{
    return f->id;
}
const pm_flow_cap_t *pm_flow_cap(const pm_flow_t *f)
{
    return &f->cap;
}

bool pm_flow_has_fallback(const pm_flow_t *f)
{
    return f->has_fallback;
}

int pm_flow_cap_parse(json_t *v, pm_flow_cap_t *cap, pm_flow_error_t *err)
{
    compile_t c = {.err = err};
    *cap = (pm_flow_cap_t){0};
    err->field[0] = err->message[0] = '\0';
    return compile_cap(&c, v, cap);
}

const pm_flow_path_t *pm_flow_path_at(const pm_flow_t *f, size_t i)
{
    if (i < f->nrules) return &f->rules[i].path;
    const pm_flow_path_t *rest[3];
    size_t n = 0;
    rest[n++] = &f->default_path;
    if (f->has_fallback) rest[n++] = &f->fallback_path;
    if (f->has_bot) rest[n++] = &f->bot_path;
    i -= f->nrules;
    return i < n ? rest[i] : NULL;
}

const pm_flow_path_t *pm_flow_path_by_name(const pm_flow_t *f, const char *name)
{
    for (size_t i = 0; pm_flow_path_at(f, i); i++)
        if (strcmp(pm_flow_path_at(f, i)->name, name) == 0) return pm_flow_path_at(f, i);
    return NULL;
}

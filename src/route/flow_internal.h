/*
 * flow_internal.h: the compiled form of a flow, shared by its compiler
 * (flow.c) and its evaluator (flow_eval.c) and nothing else.
 */
#ifndef PM_FLOW_INTERNAL_H
#define PM_FLOW_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "pm/flow.h"
#include "pm/tz.h"

#define FLOW_MAX_DEPTH     8
#define FLOW_MAX_NODES     2000
#define FLOW_MAX_VALUES    1000
#define FLOW_MAX_VALUE_LEN 256
#define FLOW_MAX_REGEX     1024

typedef enum cond_kind_e {
    C_ALL,
    C_ANY,
    C_NOT,
    C_FIELD,    /* an event string field (country, os, sub3 ...) */
    C_PARAM,    /* a query parameter by name */
    C_LANGUAGE, /* the Accept-Language tags */
    C_REFERRER, /* the referrer's host (domain and its subdomains) */
    C_IP,       /* CIDR ranges */
    C_TIME,     /* hours and weekdays in a time zone */
    C_VISITOR,  /* new or returning */
    C_AUDIENCE, /* clicked within N days, converted or not */
} cond_kind_t;

typedef enum cond_op_e { OP_EQUALS, OP_IN, OP_REGEX, OP_GTE, OP_LT } cond_op_t;

typedef struct cond_s {
    cond_kind_t kind;
    cond_op_t op;
    int field;   /* C_FIELD: pm_event_str_t */
    char *param; /* C_PARAM: the parameter name */
    char **values;
    size_t nvalues;
    pcre2_code *re;
    pm_cidr_t *cidrs;
    size_t ncidrs;
    pm_tz_t *tz;
    uint32_t hours;    /* C_TIME: bit h = local hour h matches */
    uint8_t days;      /* C_TIME: bit d = weekday d (0 = Sunday) matches */
    bool returning;    /* C_VISITOR */
    int lookback_days; /* C_AUDIENCE */
    bool converted;    /* C_AUDIENCE: whether the visitor converted in it */
    struct cond_s **kids;
    size_t nkids;
} cond_t;

typedef struct rule_s {
    char *name;
    cond_t *when;
    pm_flow_path_t path;
} rule_t;

struct pm_flow_s {
    int64_t id;
    rule_t *rules;
    size_t nrules;
    pm_flow_path_t default_path;
    pm_flow_path_t fallback_path, bot_path;
    bool has_fallback, has_bot;
    pm_flow_cap_t cap;
};

/* Version strings compare as dotted numbers ("10.2" > "9.14"). */
int pm__flow_version_cmp(const char *a, size_t alen, const char *b, size_t blen);

#endif

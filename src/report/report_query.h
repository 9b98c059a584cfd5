/*
 * report_query.h: the inside of a pm_report_t, shared by the engine
 * (report.c: parameters, plan, execution, aggregation, ordering) and the
 * renderer (render.c: JSON, CSV, text table). Nothing else includes it.
 */
#ifndef PM_REPORT_QUERY_H
#define PM_REPORT_QUERY_H

#include "pm/tz.h"
#include "report_internal.h"

#define PM__RQ_MAX_GROUP     3
#define PM__RQ_MAX_FILTERS   16
#define PM__RQ_MAX_VALUES    100
#define PM__RQ_MAX_METRICS   40
#define PM__RQ_MAX_SORT      3
#define PM__RQ_MAX_TYPES     8       /* conversions_<type> metrics in one query */
#define PM__RQ_MAX_GROUPS    1000000 /* rows before paging */
#define PM__RQ_LIMIT_DEFAULT 100
#define PM__RQ_LIMIT_MAX     10000
#define PM__RQ_MAX_DAYS      3700 /* range length */
#define PM__RQ_MAX_FOREIGN   8    /* currencies named in the warning */

typedef enum pm__rq_op_e { PM__OP_EQ, PM__OP_IN, PM__OP_NOT_IN } pm__rq_op_t;

typedef struct pm__rq_filter_s {
    int dim;
    pm__rq_op_t op;
    int n;
    pm__rp_val_t v[PM__RQ_MAX_VALUES]; /* text values point into `text` */
    char *text;                        /* owned */
} pm__rq_filter_t;

/* A requested metric: one of pm_report_metrics, or conversions_<type>. */
typedef struct pm__rq_metric_s {
    const pm_report_metric_t *m; /* NULL for a per-type count */
    int type;                    /* index into types[] for conversions_<type> */
    char name[48];
} pm__rq_metric_t;

typedef struct pm__rq_sort_s {
    bool desc;
    int group;              /* >= 0: position in group_by */
    pm__rq_metric_t metric; /* when group < 0 */
} pm__rq_sort_t;

/* One report row being aggregated. */
typedef struct pm__rq_group_s {
    uint32_t key_off, key_len, hash;
    int32_t label; /* time label index, or 0 when no time dimension */
    pm_report_counts_t c;
    int64_t types[PM__RQ_MAX_TYPES];
} pm__rq_group_t;

/* Time labels of a period: a tuple per time dimension of group_by, in
 * group_by order; index = order of first appearance walking the period,
 * which is chronological (and is what compare=previous matches on). */
typedef struct pm__rq_labels_s {
    int n, cap;
    int64_t (*v)[PM__RQ_MAX_GROUP];
    int32_t *slots; /* hash table of index + 1 */
    int nslots;
} pm__rq_labels_t;

typedef struct pm__rq_agg_s {
    pm__rq_group_t *g;
    size_t n, cap;
    pm_buf_t keys;
    uint32_t *slots; /* index + 1, 0 = empty */
    size_t nslots;
    bool overflow, toobig;
    struct {
        char code[4];
        int64_t events;
    } foreign[PM__RQ_MAX_FOREIGN];
    int nforeign;
    int64_t foreign_other;
    pm__rq_labels_t labels;
    pm_report_counts_t total;
    int64_t total_types[PM__RQ_MAX_TYPES];
} pm__rq_agg_t;

/* An entity's names, for the dimensions in group_by. */
typedef struct pm__rq_names_s {
    int64_t *ids;
    char **names;
    size_t n;
} pm__rq_names_t;

struct pm_report_s {
    /* parameters */
    int group[PM__RQ_MAX_GROUP];
    int ngroup, ntime;              /* ntime: how many of group are time dimensions */
    int time_pos[PM__RQ_MAX_GROUP]; /* group position -> index in a label tuple, -1 */
    pm__rq_filter_t filters[PM__RQ_MAX_FILTERS];
    int nfilters;
    pm__rq_metric_t metrics[PM__RQ_MAX_METRICS];
    int nmetrics;
    char types[PM__RQ_MAX_TYPES][33];
    int ntypes;
    pm__rq_sort_t sort[PM__RQ_MAX_SORT];
    int nsort;
    int64_t limit, offset;
    bool compare;
    pm_report_format_t format;
    enum { PM__SRC_AUTO, PM__SRC_ROLLUP, PM__SRC_RAW } want;
    char *from_text, *to_text, *tz_text, *sort_text;
    bool have_group, have_metrics, have_sort, have_limit, have_offset;
    int conv_dim; /* index of conversion_type in the dimension table */

    /* resolved at run */
    pm_tz_t *tz;
    char currency[4];
    int64_t from, to, prev_from, prev_to; /* UTC microseconds, [from, to) */
    char source[40];
    char source_prev[40];
    pm_buf_t warnings; /* JSON objects, comma-separated */
    int nwarnings;

    /* results */
    pm__rq_agg_t cur, prev;
    size_t *order; /* indices into cur.g after sorting; paged on output */
    size_t norder;
    pm__rq_names_t names[PM__RQ_MAX_GROUP];
    bool ran;
};

/* The previous period's group matching cur.g[i] (same key), or NULL. */
const pm__rq_group_t *pm__rq_previous(const pm_report_t *r, const pm__rq_group_t *g);
/* The value of requested metric `m` for counts (and per-type counts). */
pm_report_value_t pm__rq_metric_value(const pm__rq_metric_t *m, const pm_report_counts_t *c, const int64_t *types);
/* Decode the non-time dimension at group position `pos` from a group key. */
pm__rp_val_t pm__rq_key_value(const pm_report_t *r, const pm__rq_agg_t *a, const pm__rq_group_t *g, int pos);
/* The name of entity `id` for group position `pos`, or NULL. */
const char *pm__rq_name(const pm_report_t *r, int pos, int64_t id);
/* Format a time label component (group position `pos`) into out (>= 40 bytes). */
void pm__rq_label_text(const pm_report_t *r, const pm__rq_agg_t *a, int32_t label, int pos, char *out, size_t cap);

#endif

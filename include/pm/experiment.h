/*
 * experiment.h: live split-test results. An experiment compares the
 * options of one flow path on a goal: cvr (share of visitors who converted),
 * epc (revenue per click) or rpv (revenue per visitor). The figures come
 * from the store: clicks by the route option they recorded (clicks.route),
 * their approved conversions, and the statistics of pm/stats.h (Welch t,
 * sequential, Bayesian, SRM) with option 0 as the control.
 *
 * Used by GET /api/v1/experiments/{id} and `perfmark experiment show`.
 * Reads with the caller's connection; not thread-safe per connection.
 */
#ifndef PM_EXPERIMENT_H
#define PM_EXPERIMENT_H

#include "pm/flow.h"
#include "pm/store.h"

#include <jansson.h>

typedef enum pm_experiment_goal_e { PM_GOAL_CVR, PM_GOAL_EPC, PM_GOAL_RPV } pm_experiment_goal_t;

/* "cvr" | "epc" | "rpv". PM_EINVAL otherwise. */
int pm_experiment_goal_parse(const char *s, pm_experiment_goal_t *out) PM_MUST_CHECK;

/* The results of comparing the options of path `path` of flow `flow_id`.
 * `flow` (may be NULL) gives the option count, targets and weights (for
 * SRM); without it the options seen in the data are reported with equal
 * expected weights. *out is a new JSON object owned by the caller.
 * PM_ESTORE. */
int pm_experiment_results(pm_store_t *store, int64_t flow_id, const pm_flow_t *flow, const char *path,
                          pm_experiment_goal_t goal, json_t **out) PM_MUST_CHECK;

/* The same for experiment row `id` of the store (flow compiled from the
 * store): the document has "id", "name", "flow_id", "path", "goal" and
 * "results". PM_ENOTFOUND, PM_ESTORE. */
int pm_experiment_show(pm_store_t *store, int64_t id, json_t **out) PM_MUST_CHECK;

#endif

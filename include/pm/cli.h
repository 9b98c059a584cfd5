/*
 * cli.h: the verbs of the perfmark binary. Each verb is a name, a one-line
 * summary for `perfmark --help`, and a run function taking its own argv
 * (argv[0] is the verb). Exit codes: 0 success, 1 failure, 2 usage error.
 */
#ifndef PM_CLI_H
#define PM_CLI_H

#include "pm/common.h"

typedef struct pm_cli_verb_s {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} pm_cli_verb_t;

extern const pm_cli_verb_t pm_cli_serve, pm_cli_demo, pm_cli_keys, pm_cli_version;
extern const pm_cli_verb_t pm_cli_attribute; /* src/cli/attribute.c */
extern const pm_cli_verb_t pm_cli_experiment; /* src/cli/experiment.c */
extern const pm_cli_verb_t pm_cli_report; /* src/cli/report.c */
extern const pm_cli_verb_t pm_cli_clv;    /* src/cli/clv.c */
extern const pm_cli_verb_t pm_cli_simulate; /* src/cli/simulate.c */
extern const pm_cli_verb_t pm_cli_import;   /* src/cli/import.c */
extern const pm_cli_verb_t pm_cli_ledger;   /* src/cli/ledger.c */

#endif

/*
 * main.c: the perfmark binary: one program, many verbs (DESIGN §1). Each
 * verb parses its own flags and calls into the library.
 */
#include "pm/cli.h"

#include <stdio.h>
#include <string.h>

static const pm_cli_verb_t *const verbs[] = {&pm_cli_serve,  &pm_cli_demo,   &pm_cli_keys,     &pm_cli_attribute,
                                             &pm_cli_experiment, &pm_cli_report, &pm_cli_clv, &pm_cli_simulate,
                                             &pm_cli_import, &pm_cli_ledger, &pm_cli_version};

static void usage(FILE *f)
{
    fprintf(f, "perfmark: a self-hosted performance-marketing tracker\n\n"
               "usage: perfmark <verb> [flags]    (perfmark <verb> --help for its flags)\n\nverbs:\n");
    for (size_t i = 0; i < PM_ARRAY_LEN(verbs); i++)
        fprintf(f, "  %-10s %s\n", verbs[i]->name, verbs[i]->summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < PM_ARRAY_LEN(verbs); i++)
        if (strcmp(argv[1], verbs[i]->name) == 0) return verbs[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "perfmark: unknown verb \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}

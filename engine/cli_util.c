/* cli_util.c: the small option parser every subcommand shares. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char *cli_opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

int cli_check(int argc, char **argv, const char *const *allowed, const char *usage)
{
    /* Options come in pairs: --name VALUE. */
    for (int i = 0; i < argc; i += 2) {
        const char *a = argv[i];
        int known = 0;
        for (const char *const *p = allowed; *p; p++)
            if (!strcmp(a, *p)) known = 1;
        if (!known) {
            fprintf(stderr, "corder: unexpected argument '%s'; usage: %s\n", a, usage);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "corder: %s needs a value; usage: %s\n", a, usage);
            return 2;
        }
    }
    return 0;
}

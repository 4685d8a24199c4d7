/* repl.c: `corder repl`. Placeholder until the REPL issue. */
#include <stdio.h>

#include "cli.h"

int cli_repl_main(int argc, char **argv)
{
    fprintf(stderr, "corder: repl is not built yet\n");
    return 1;
}

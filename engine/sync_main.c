/* sync_main.c: `corder sync` (SPEC S2). Placeholder until the sync issue. */
#include <stdio.h>

#include "cli.h"

int cli_sync_main(int argc, char **argv)
{
    fprintf(stderr, "corder: sync is not built yet\n");
    return 1;
}

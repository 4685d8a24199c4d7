/* lcli.h: the subcommands written with Lua: `corder policy check|replay`
 * (cli_policy.c, cli_replay.c) and `corder repl` (repl.c). Same contract
 * as engine/cli/cli.h: the arguments after the name in, the exit status
 * out. */
#ifndef CORDER_LCLI_H
#define CORDER_LCLI_H

#include "model/cli_opts.h"

int cli_policy_main(int argc, char **argv); /* cli_policy.c */
int cli_repl_main(int argc, char **argv);   /* repl.c */

#endif

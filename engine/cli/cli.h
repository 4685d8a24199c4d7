/* cli.h: the subcommands of the corder program (the command line). Each
 * takes the arguments after its name and returns the exit status: 0
 * success, 1 runtime failure, 2 bad usage. The Lua ones (policy, repl)
 * are declared in bindings/lua/lcli.h. */
#ifndef CORDER_CLI_H
#define CORDER_CLI_H

#include "model/cli_opts.h"

int cli_init_main(int argc, char **argv);   /* cli_init.c */
int cli_serve_main(int argc, char **argv);  /* cli_serve.c */
int cli_sync_main(int argc, char **argv);   /* cli_sync.c */
int cli_backup_main(int argc, char **argv); /* cli_backup.c */
int cli_call_main(int argc, char **argv);   /* cli_call.c */
int cli_hq_main(int argc, char **argv);     /* cli_hq.c: `corder hq token` */

#endif

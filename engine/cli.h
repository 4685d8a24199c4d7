/* cli.h: the subcommands of the corder program (PROTOCOL.md "Command line").
 * Each takes the arguments after its name and returns the exit status:
 * 0 success, 1 runtime failure, 2 bad usage. */
#ifndef CORDER_CLI_H
#define CORDER_CLI_H

int cli_init_main(int argc, char **argv);   /* engine/cli_init.c */
int cli_serve_main(int argc, char **argv);  /* engine/server_main.c */
int cli_sync_main(int argc, char **argv);   /* engine/sync_main.c */
int cli_policy_main(int argc, char **argv); /* bindings/cli_policy.c */
int cli_repl_main(int argc, char **argv);   /* bindings/repl.c */

/* Finds "--name VALUE" in argv; NULL if absent. */
const char *cli_opt(int argc, char **argv, const char *name);
/* Rejects options not in the NULL-terminated list allowed (each "--x"), and
 * a missing value; prints one line to stderr and returns 2, else 0. */
int cli_check(int argc, char **argv, const char *const *allowed, const char *usage);

#endif

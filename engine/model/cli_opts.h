/* cli_opts.h: the small option parser every subcommand shares ("--name
 * VALUE" pairs), and where the HQ token comes from. A leaf: it knows
 * nothing of the engine. */
#ifndef CORDER_CLI_OPTS_H
#define CORDER_CLI_OPTS_H

/* Finds "--name VALUE" in argv; NULL if absent. */
const char *cli_opt(int argc, char **argv, const char *name);
/* Rejects options not in the NULL-terminated list allowed (each "--x"), and
 * a missing value; prints one line to stderr and returns 2, else 0. */
int cli_check(int argc, char **argv, const char *const *allowed, const char *usage);

/* The HQ token (serve, sync), kept off the command line where ps shows
 * it: --hq-token TOKEN, or --hq-token-file FILE (the file's one line; a
 * trailing newline is dropped), or else $CORDER_HQ_TOKEN. At most one of
 * the two options; a file that cannot be read, is empty or holds more
 * than one line, or a token longer than 255 bytes, is bad usage. Returns
 * 0 with *token (NULL when none was given), or 2 after printing one line
 * that names cmd and usage. */
int cli_hq_token(int argc, char **argv, const char *cmd, const char *usage, const char **token);

#endif

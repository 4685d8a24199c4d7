/* cli_replay.h: `corder policy replay` (cli_replay.c), called by
 * cli_policy.c with the arguments after "replay". Returns the exit status. */
#ifndef CORDER_CLI_REPLAY_H
#define CORDER_CLI_REPLAY_H

int cli_replay_main(int argc, char **argv);

#endif

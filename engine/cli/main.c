/* main.c: the corder program: picks the subcommand (PROTOCOL.md). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lua/lcli.h"

static const char usage[] =
    "usage: corder init  (--db FILE | --hq-db postgresql://...) --seed FILE.json\n"
    "       corder serve --db FILE [--listen HOST:PORT] [--admin-socket PATH] [--policies DIR]\n"
    "                    [--role store|hq] [--hq HOST:PORT[,HOST:PORT...]] [--hq-ca FILE]\n"
    "                    [--hq-db postgresql://...] [--tls-cert FILE --tls-key FILE]\n"
    "                    [--hq-token TOKEN | --hq-token-file FILE] [--sync-interval SECONDS]\n"
    "                    [--max-connections N] [--auth-timeout SECONDS] [--idle-timeout SECONDS]\n"
    "                    [--slowlog-ms MS]\n"
    "       corder repl  --db FILE [--policies DIR] | --connect PATH\n"
    "       corder sync  --db FILE --hq HOST:PORT [--hq-token TOKEN | --hq-token-file FILE]\n"
    "       corder backup --db FILE --to FILE\n"
    "       corder call  [--connect HOST:PORT] [--login STORE:STAFF] [OP [ARGS-JSON]]\n"
    "       corder hq token (--db FILE | --hq-db postgresql://...) --store ID [--revoke]\n"
    "       corder policy check FILE\n"
    "       corder policy replay --db FILE --policy FILE [--store S] [--since YYYY-MM-DD]\n"
    "The HQ token may also come from the environment: CORDER_HQ_TOKEN.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "init")) return cli_init_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "serve")) return cli_serve_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "sync")) return cli_sync_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "backup")) return cli_backup_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "call")) return cli_call_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "hq")) return cli_hq_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "policy")) return cli_policy_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "repl")) return cli_repl_main(argc - 2, argv + 2);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "corder: unknown command '%s' (see corder --help)\n", cmd);
    return 2;
}

/* main.c: the corder program: picks the subcommand (PROTOCOL.md). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The server's allocator. A request allocates and frees hundreds of small
 * blocks (its JSON tree, SQLite's values, the order's texts), and a batch
 * frees them in bursts: glibc's per-thread cache keeps only 7 free blocks of
 * a size, so most of a burst went to the shared bins and came back from
 * them through the slow path (malloc_consolidate, unlink_chunk). A cache of
 * 256 a size took 9% off the instructions per order.create (callgrind, the
 * bench's order: 521,000 to 478,000). glibc reads that setting from the
 * environment only, at start, so `serve` sets it and starts itself again
 * (same process id). An operator's own GLIBC_TUNABLES is left as it is;
 * without /proc the server runs on as it started. */
#define SERVE_TUNABLES "glibc.malloc.tcache_count=256"

static void serve_tune_allocator(char **argv)
{
#ifdef __GLIBC__
    if (getenv("GLIBC_TUNABLES")) return; /* the operator's, or ours after the exec */
    if (setenv("GLIBC_TUNABLES", SERVE_TUNABLES, 1) != 0) return;
    /* By its own path, not /proc/self/exe: the kernel names the process
     * after the file it ran, and an operator's `pgrep -x corder`, top and
     * ps should find a "corder", not an "exe". */
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        execv(self, argv);
    }
    execv("/proc/self/exe", argv);
    unsetenv("GLIBC_TUNABLES"); /* the exec failed: run as we are */
#else
    (void)argv;
#endif
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "serve")) serve_tune_allocator(argv);
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

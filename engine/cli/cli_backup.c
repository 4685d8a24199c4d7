/* cli_backup.c: `corder backup --db FILE --to FILE` (SPEC OP3): a checked
 * copy of a database, live or not, without stopping its server (the how is
 * in store/backup.c). Prints one line on success; exit 0 only once the copy
 * passed its checks and is in place. */
#include <stdio.h>

#include "cli/cli.h"
#include "store/backup.h"

int cli_backup_main(int argc, char **argv)
{
    static const char *const allowed[] = {"--db", "--to", NULL};
    static const char usage[] = "corder backup --db FILE --to FILE";
    if (cli_check(argc, argv, allowed, usage)) return 2;
    const char *db = cli_opt(argc, argv, "--db"), *to = cli_opt(argc, argv, "--to");
    if (!db || !to) {
        fprintf(stderr, "corder: backup needs --db and --to; usage: %s\n", usage);
        return 2;
    }
    err_t err;
    err_clear(&err);
    backup_result res;
    if (backup_copy(db, to, NULL, &res, &err) < 0) {
        fprintf(stderr, "corder: %s\n", err.message);
        return 1;
    }
    printf("corder: backup of %s written to %s (%lld orders, %lld pages, %lld ms; integrity ok,"
           " schema %d)\n",
           db, to, (long long)res.orders, (long long)res.pages, (long long)res.ms, res.schema);
    return 0;
}

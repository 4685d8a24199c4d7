/* cli_init.c: `corder init --db FILE --seed FILE.json`: create or migrate
 * the database and upsert the seed's master data. */
#include <stdio.h>

#include "cli/cli.h"
#include "store/seed.h"

int cli_init_main(int argc, char **argv)
{
    static const char *const allowed[] = {"--db", "--seed", NULL};
    static const char usage[] = "corder init --db FILE --seed FILE.json";
    if (cli_check(argc, argv, allowed, usage)) return 2;
    const char *db = cli_opt(argc, argv, "--db"), *seed_path = cli_opt(argc, argv, "--seed");
    if (!db || !seed_path) {
        fprintf(stderr, "corder: init needs --db and --seed; usage: %s\n", usage);
        return 2;
    }
    json_error_t jerr;
    json_t *seed = json_load_file(seed_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!seed) {
        fprintf(stderr, "corder: %s:%d: %s\n", seed_path, jerr.line, jerr.text);
        return 1;
    }
    err_t err = {0};
    engine_config cfg = {.db_path = db, .no_policies = true};
    engine *e = engine_open(&cfg, &err);
    if (!e || seed_apply(e, seed, &err) < 0) {
        fprintf(stderr, "corder: init: %s\n", err.message);
        json_decref(seed);
        engine_close(e);
        return 1;
    }
    json_decref(seed);
    engine_close(e);
    printf("corder: %s is ready\n", db);
    return 0;
}

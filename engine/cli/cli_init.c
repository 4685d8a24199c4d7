/* cli_init.c: `corder init --db FILE --seed FILE.json`: create or migrate
 * the database and upsert the seed's master data; `corder init --hq-db URL
 * --seed FILE.json`: the same for an HQ on PostgreSQL (SPEC C1): its schema
 * migrated and the master data it checks orders against upserted. Both
 * together for an HQ on PostgreSQL whose stores follow its master data
 * (SPEC C4): that master data, with its versions, is in HQ's own corder
 * database (--db), the orders' checks in PostgreSQL (--hq-db). */
#include <stdio.h>

#include "cli/cli.h"
#include "hqstore/hq_store.h"
#include "store/seed.h"

static int init_pg(const char *url, json_t *seed)
{
    err_t err = {0};
    hq_store *h = hq_store_pg_new(url, &err);
    if (!h || hq_store_pg_seed(h, seed, &err) < 0) {
        fprintf(stderr, "corder: init: %s\n", err.message);
        if (h) h->vt->free(h);
        return 1;
    }
    h->vt->free(h);
    printf("corder: the HQ database is ready\n");
    return 0;
}

int cli_init_main(int argc, char **argv)
{
    static const char *const allowed[] = {"--db", "--hq-db", "--seed", NULL};
    static const char usage[] =
        "corder init [--db FILE] [--hq-db postgresql://...] --seed FILE.json";
    if (cli_check(argc, argv, allowed, usage)) return 2;
    const char *db = cli_opt(argc, argv, "--db"), *seed_path = cli_opt(argc, argv, "--seed");
    const char *hq_db = cli_opt(argc, argv, "--hq-db");
    if ((!db && !hq_db) || !seed_path) {
        fprintf(stderr, "corder: init needs --db or --hq-db (or both), and --seed; usage: %s\n",
                usage);
        return 2;
    }
    json_error_t jerr;
    json_t *seed = json_load_file(seed_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!seed) {
        fprintf(stderr, "corder: %s:%d: %s\n", seed_path, jerr.line, jerr.text);
        return 1;
    }
    if (hq_db) {
        int rc = init_pg(hq_db, seed);
        if (rc || !db) {
            json_decref(seed);
            return rc;
        }
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

/* cli_hq.c: `corder hq token (--db FILE | --hq-db URL) --store ID
 * [--revoke]` (SPEC C2): issues a store its own HQ credential, or ends
 * every credential it has. The token is 32 random bytes (libsodium's
 * randombytes) printed as hex, once: HQ keeps only its BLAKE2b-256 hash,
 * so a lost token is replaced, never recovered. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "hqstore/hq_store.h"
#include "store/engine.h"

#define TOKEN_BYTES 32

static const char usage[] =
    "corder hq token (--db FILE | --hq-db postgresql://...) --store ID [--revoke]";

static int token_main(int argc, char **argv)
{
    static const char *const allowed[] = {"--db", "--hq-db", "--store", "--revoke", NULL};
    /* --revoke takes no value: check the others without it. */
    bool revoke = false;
    char *rest[64];
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--revoke")) {
            revoke = true;
            continue;
        }
        if (n == (int)(sizeof rest / sizeof *rest)) break;
        rest[n++] = argv[i];
    }
    if (cli_check(n, rest, allowed, usage)) return 2;
    const char *db = cli_opt(n, rest, "--db"), *hq_db = cli_opt(n, rest, "--hq-db");
    const char *store = cli_opt(n, rest, "--store");
    if (!db == !hq_db || !store || !*store || strlen(store) > 31) {
        fprintf(stderr, "corder: hq token needs --db or --hq-db, and --store; usage: %s\n", usage);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "corder: hq token: libsodium cannot start\n");
        return 1;
    }
    err_t err = {0};
    engine *e = NULL;
    hq_store *h = NULL;
    if (hq_db) {
        h = hq_store_pg_new(hq_db, &err);
    } else {
        engine_config cfg = {.db_path = db, .no_policies = true, .hq_role = true};
        e = engine_open(&cfg, &err);
        h = e ? hq_store_sqlite_new(e, &err) : NULL;
    }
    int rc = h ? 0 : -1;
    char hex[2 * TOKEN_BYTES + 1] = "";
    int64_t ended = 0;
    if (rc == 0 && revoke) {
        rc = h->vt->token_revoke(h, store, &ended, &err);
    } else if (rc == 0) {
        uint8_t raw[TOKEN_BYTES], hash[HQ_HASH_BYTES];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
        sodium_memzero(raw, sizeof raw);
        hq_token_hash(hex, strlen(hex), hash);
        rc = h->vt->token_add(h, store, hash, &err);
    }
    if (h) h->vt->free(h);
    engine_close(e);
    if (rc < 0) {
        fprintf(stderr, "corder: hq token: %s\n", err.message);
        return 1;
    }
    if (revoke)
        printf("corder: %lld token(s) of store %s revoked\n", (long long)ended, store);
    else
        printf("%s\n", hex);
    return 0;
}

int cli_hq_main(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "token")) return token_main(argc - 1, argv + 1);
    fprintf(stderr, "corder: hq: unknown or missing subcommand; usage: %s\n", usage);
    return 2;
}

/* sync_main.c: `corder sync --db FILE --hq HOST:PORT [--hq-token T]` (SPEC
 * S2): one round of the uploader, then exit. It uploads everything queued
 * (in batches, from the store's cursor, after the events sync.retry asked
 * for), asks HQ about the orders it has not settled yet, prints one line,
 * and exits 0 when HQ took everything, 1 when it could not or when this
 * round set an event aside (the reason on stderr), 2 on bad usage. It may run
 * beside a serving store: both upload from the same cursor and HQ keeps
 * each event once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cli/cli.h"
#include "store/engine.h"
#include "sync/sync.h"

static const char usage[] =
    "corder sync --db FILE --hq HOST:PORT [--hq-ca FILE] [--hq-token TOKEN | --hq-token-file"
    " FILE] (the token may also come from $CORDER_HQ_TOKEN)";

typedef struct {
    struct event_base *base;
    sync_round r;
    bool done;
} one_shot;

/* Each write in a transaction of its own: nobody else writes here. */
static int direct_write(void *ctx, int (*fn)(engine *e, void *arg, err_t *err), void *arg,
                        err_t *err)
{
    engine *e = ctx;
    if (engine_begin(e, err) < 0) return -1;
    if (fn(e, arg, err) < 0) {
        engine_rollback(e);
        return -1;
    }
    return engine_commit(e, err);
}

static void done_cb(void *arg, const sync_round *r)
{
    one_shot *o = arg;
    o->r = *r;
    o->done = true;
    event_base_loopbreak(o->base);
}

int cli_sync_main(int argc, char **argv)
{
    static const char *const allowed[] = {"--db",    "--hq", "--hq-token", "--hq-token-file",
                                          "--hq-ca", NULL};
    int rc = cli_check(argc, argv, allowed, usage);
    if (rc) return rc;
    const char *token;
    if ((rc = cli_hq_token(argc, argv, "sync", usage, &token))) return rc;
    const char *db = cli_opt(argc, argv, "--db"), *hq = cli_opt(argc, argv, "--hq");
    const char *colon = hq ? strrchr(hq, ':') : NULL;
    if (!db || !hq) {
        fprintf(stderr, "corder: sync: --db and --hq are required; usage: %s\n", usage);
        return 2;
    }
    if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
        fprintf(stderr, "corder: sync: --hq wants HOST:PORT, not '%s'; usage: %s\n", hq, usage);
        return 2;
    }
    err_t err;
    err_clear(&err);
    engine_config ecfg = {.db_path = db, .no_policies = true};
    engine *e = engine_open(&ecfg, &err);
    one_shot o = {.base = event_base_new()};
    sync_agent *a = NULL;
    if (e && o.base) {
        sync_agent_config cfg = {.e = e,
                                 .base = o.base,
                                 .hq = hq,
                                 .hq_ca = cli_opt(argc, argv, "--hq-ca"),
                                 .token = token,
                                 .write = direct_write,
                                 .write_ctx = e};
        a = sync_agent_new(&cfg, &err);
    }
    if (a) {
        sync_agent_run(a, done_cb, &o);
        event_base_dispatch(o.base);
    }
    sync_agent_free(a);
    if (o.base) event_base_free(o.base);
    engine_close(e);
    if (!o.done) {
        fprintf(stderr, "corder: sync: %s\n", err.code ? err.message : "could not start");
        return 1;
    }
    printf("corder sync: sent %lld, acked %lld, learned %lld, set aside %lld\n",
           (long long)o.r.sent, (long long)o.r.acked, (long long)o.r.learned,
           (long long)o.r.quarantined);
    if (!o.r.ok) {
        fprintf(stderr, "corder: sync: %s\n", o.r.error);
        return 1;
    }
    if (o.r.quarantined) {
        fprintf(stderr, "corder: sync: %lld event(s) set aside, see sync.status; last %s\n",
                (long long)o.r.quarantined, o.r.last_quarantined);
        return 1;
    }
    return 0;
}

/* server_main.c: `corder serve` (PROTOCOL.md "Command line"): reads the
 * options, opens the engine, runs the server until a signal, closes the
 * engine. Bad usage exits 2, a runtime failure 1, each with one line. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli/cli.h"
#include "store/engine.h"
#include "lua/lapi_admin.h"
#include "net/http.h"
#include "net/server.h"
#include "ops/slowlog.h"
#include "net/tls.h"
#include "sync/sync.h"
#include "host/policy_lua.h"

static const char usage[] =
    "corder serve --db FILE [--listen HOST:PORT] [--admin-socket PATH] [--policies DIR] "
    "[--role store|hq] [--hq HOST:PORT[,HOST:PORT...]] [--hq-ca FILE] "
    "[--hq-token TOKEN | --hq-token-file FILE] [--hq-db postgresql://...] "
    "[--tls-cert FILE --tls-key FILE] "
    "[--sync-interval SECONDS] [--max-connections N] [--auth-timeout SECONDS] "
    "[--idle-timeout SECONDS] [--http HOST:PORT] [--slowlog-ms MS] [--commit-delay-us US] "
    "[--commit-pipeline 0|1] [--master-poll-ms MS] "
    "(the token may also come "
    "from $CORDER_HQ_TOKEN; an HQ given --hq-db needs no --db)";

static const char *const allowed[] = {"--db",
                                      "--listen",
                                      "--admin-socket",
                                      "--policies",
                                      "--role",
                                      "--hq",
                                      "--hq-token",
                                      "--hq-token-file",
                                      "--sync-interval",
                                      "--max-connections",
                                      "--auth-timeout",
                                      "--idle-timeout",
                                      "--http",
                                      "--slowlog-ms",
                                      "--commit-delay-us",
                                      "--commit-pipeline",
                                      "--master-poll-ms",
                                      "--hq-db",
                                      "--hq-ca",
                                      "--tls-cert",
                                      "--tls-key",
                                      NULL};

static int bad_usage(const char *what, const char *value)
{
    fprintf(stderr, "corder: serve: %s '%s'; usage: %s\n", what, value, usage);
    return 2;
}

/* HOST:PORT with a numeric port in 0..65535 (HOST may be empty or [v6]). */
static int valid_hostport(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || !colon[1]) return 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return *end == 0 && port >= 0 && port <= 65535;
}

/* A comma-separated list of HOST:PORT (--hq A,B). */
static int valid_hostports(const char *s)
{
    char buf[1024];
    if (strlen(s) >= sizeof buf) return 0;
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save), n++)
        if (!valid_hostport(tok)) return 0;
    return n > 0 && s[strlen(s) - 1] != ',';
}

/* An HQ on PostgreSQL with no --db of its own: the engine (sessions,
 * idempotency keys of the HQ ops) lives in a private scratch database,
 * removed at exit. */
static char scratch_dir[64];

static void scratch_remove(void)
{
    if (!*scratch_dir) return;
    static const char *const files[] = {"/hq-local.db", "/hq-local.db-wal", "/hq-local.db-shm",
                                        "/hq-local.db-journal"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s%s", scratch_dir, files[i]);
        unlink(p);
    }
    rmdir(scratch_dir);
    *scratch_dir = '\0';
}

/* A whole number in lo..hi from option name, or def when absent; -1 after
 * a usage error was printed. 0 in a timeout means "never" (-1 inside). */
static long number_opt(int argc, char **argv, const char *name, long lo, long hi, long def)
{
    const char *v = cli_opt(argc, argv, name);
    if (!v) return def;
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi) {
        char what[96];
        snprintf(what, sizeof what, "%s wants a whole number from %ld to %ld, not", name, lo, hi);
        bad_usage(what, v);
        return -2;
    }
    return n;
}

static void http_announce(evutil_socket_t fd, short what, void *arg)
{
    printf("corder http on http://%s/\n", http_address(arg));
    fflush(stdout);
}

int cli_serve_main(int argc, char **argv)
{
    int rc = cli_check(argc, argv, allowed, usage);
    if (rc) return rc;
    const char *db = cli_opt(argc, argv, "--db");
    const char *listen = cli_opt(argc, argv, "--listen");
    const char *role = cli_opt(argc, argv, "--role");
    const char *hq = cli_opt(argc, argv, "--hq");
    const char *interval = cli_opt(argc, argv, "--sync-interval");
    const char *hq_db = cli_opt(argc, argv, "--hq-db");
    const char *hq_ca = cli_opt(argc, argv, "--hq-ca");
    const char *tls_cert = cli_opt(argc, argv, "--tls-cert");
    const char *tls_key = cli_opt(argc, argv, "--tls-key");
    bool hq_role = role && !strcmp(role, "hq");
    if (role && strcmp(role, "store") && strcmp(role, "hq"))
        return bad_usage("--role is store or hq, not", role);
    if (hq_db && !hq_role) return bad_usage("--hq-db is for --role hq, not", role ? role : "store");
    if (!db && !hq_db) {
        fprintf(stderr, "corder: serve: --db is required; usage: %s\n", usage);
        return 2;
    }
    if (listen && !valid_hostport(listen))
        return bad_usage("--listen wants HOST:PORT, not", listen);
    const char *http = cli_opt(argc, argv, "--http");
    if (http && !valid_hostport(http)) return bad_usage("--http wants HOST:PORT, not", http);
    if (hq && !valid_hostports(hq))
        return bad_usage("--hq wants HOST:PORT[,HOST:PORT...], not", hq);
    if (!tls_cert != !tls_key)
        return bad_usage("--tls-cert and --tls-key go together, got only",
                         tls_cert ? tls_cert : tls_key);
    long secs = 0;
    if (interval) {
        char *end;
        secs = strtol(interval, &end, 10);
        if (*end || secs <= 0 || secs > INT_MAX)
            return bad_usage("--sync-interval wants a positive number of seconds, not", interval);
    }
    long max_conn = number_opt(argc, argv, "--max-connections", 1, 1000000, 0);
    long auth_to = number_opt(argc, argv, "--auth-timeout", 0, 86400, -2000);
    long idle_to = number_opt(argc, argv, "--idle-timeout", 0, 31536000, -2000);
    long slow_ms = number_opt(argc, argv, "--slowlog-ms", 0, 3600000, SLOWLOG_DEFAULT_MS);
    long delay_us =
        number_opt(argc, argv, "--commit-delay-us", 0, 100000, SERVER_COMMIT_DELAY_DEFAULT);
    long pipeline = number_opt(argc, argv, "--commit-pipeline", 0, 1, 1);
    /* at most 10 s: SPEC C4's bound on how old a store's master data may be */
    long master_ms = number_opt(argc, argv, "--master-poll-ms", 100, 10000, 0);
    if (max_conn == -2 || auth_to == -2 || idle_to == -2 || slow_ms == -2 || delay_us == -2 ||
        pipeline == -2 || master_ms == -2)
        return 2;
    slowlog_set_threshold(slow_ms);
    const char *token;
    if ((rc = cli_hq_token(argc, argv, "serve", usage, &token))) return rc;
    if (!db) {
        snprintf(scratch_dir, sizeof scratch_dir, "/tmp/corder-hq.XXXXXX");
        if (!mkdtemp(scratch_dir)) {
            *scratch_dir = '\0';
            fprintf(stderr, "corder: serve: cannot make a scratch directory in /tmp\n");
            return 1;
        }
        atexit(scratch_remove);
        static char local[96];
        snprintf(local, sizeof local, "%s/hq-local.db", scratch_dir);
        db = local;
    }
    engine_config ecfg = {.db_path = db,
                          .policy_impl = &policy_lua,
                          .policies_dir = cli_opt(argc, argv, "--policies"),
                          .hq_role = hq_role,
                          .background_checkpoint = true};
    err_t err;
    err_clear(&err);
    engine *e = engine_open(&ecfg, &err);
    if (!e) {
        fprintf(stderr, "corder: serve: %s\n", err.message);
        return 1;
    }
    server_config scfg = {.listen = listen,
                          .admin_socket = cli_opt(argc, argv, "--admin-socket"),
                          .sync_interval = (int)secs,
                          .hq_role = hq_role,
                          .max_connections = (int)max_conn,
                          .commit_delay_usec = (int)delay_us,
                          .pipeline = (int)pipeline,
                          /* absent: the server's default (0); 0 given: never (-1) */
                          .auth_timeout = auth_to == -2000 ? 0
                                          : auth_to == 0   ? -1
                                                           : (int)auth_to,
                          .idle_timeout = idle_to == -2000 ? 0
                                          : idle_to == 0   ? -1
                                                           : (int)idle_to};
    if (tls_cert && !(scfg.tls = tls_server_ctx(tls_cert, tls_key, &err))) {
        fprintf(stderr, "corder: serve: %s\n", err.message);
        engine_close(e);
        return 1;
    }
    server *s = server_new(e, &scfg, &err);
    if (!s) {
        fprintf(stderr, "corder: serve: %s\n", err.message);
        tls_ctx_free(scfg.tls);
        engine_close(e);
        return 1;
    }
    server_set_admin(s, admin_hooks()); /* the support REPL (bindings/lapi_admin.h) */
    /* SPEC section 6: the uploader and gate (store), or the hq.* ops (hq). */
    sync_role_config rcfg = {.hq_role = hq_role,
                             .hq = hq,
                             .token = token,
                             .hq_db = hq_db,
                             .hq_ca = hq_ca,
                             .master_poll_ms = (int)master_ms};
    sync_role *sr = sync_role_start(s, e, &rcfg, &err);
    if (!sr) {
        fprintf(stderr, "corder: serve: %s\n", err.message);
        server_free(s);
        tls_ctx_free(scfg.tls);
        engine_close(e);
        return 1;
    }
    /* OP1-OP2: health, metrics and the orders page on the same loop. */
    http_server *hs = NULL;
    if (http && !(hs = http_start(s, e, http, &err))) {
        fprintf(stderr, "corder: serve: %s\n", err.message);
        sync_role_stop(sr);
        server_free(s);
        engine_close(e);
        return 1;
    }
    /* Its line comes second, once the loop runs: the first line stays
     * "corder listening on", which scripts wait for. */
    if (hs)
        event_base_once(server_base(s), -1, EV_TIMEOUT, http_announce, hs, &(struct timeval){0, 0});
    rc = server_run(s, &err);
    sync_role_stop(sr);
    http_free(hs);
    server_free(s);
    tls_ctx_free(scfg.tls);
    engine_close(e);
    if (rc) {
        fprintf(stderr, "corder: serve: %s\n", err.message);
        return 1;
    }
    return 0;
}

/* engine.c: opening the store (SQLite in WAL mode, synchronous=FULL, so an
 * acknowledged COMMIT survives a crash), binding each store to its policy,
 * the statement cache, transactions, and the engine's clock and calendar. */
#include "store/engine_internal.h"
#include "store/fts.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/schema.h"
#include "store/walbuf.h"
#include "store/walsync.h"
#include "model/text.h"

static int exec_sql(sqlite3 *db, const char *sql, err_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, "%s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static bool is_dir(const char *p)
{
    struct stat sb;
    return p && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* --policies DIR, else policies/ next to the database, else ./policies. */
static void policies_dir(const engine_config *cfg, char *out, size_t n)
{
    if (cfg->policies_dir) {
        snprintf(out, n, "%s", cfg->policies_dir);
        return;
    }
    const char *slash = strrchr(cfg->db_path, '/');
    if (slash)
        snprintf(out, n, "%.*s/policies", (int)(slash - cfg->db_path), cfg->db_path);
    else
        snprintf(out, n, "policies");
    if (!is_dir(out)) snprintf(out, n, "policies");
}

static int bind_policies(engine *e, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, "SELECT id, policy FROM stores ORDER BY id", err);
    if (!st) return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *store = (const char *)sqlite3_column_text(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        if (policy_host_bind(e->policies, store, name, err) < 0) {
            sqlite3_reset(st);
            return -1;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(e, err, "stores");
}

/* The database holds PIN hashes, customers and money: only its owner may
 * read it. SQLite creates the -wal and -shm files with the database's own
 * mode, so creating the database 0600 (and tightening an existing one and
 * its companions) covers all three. */
static void private_files(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
        char p[PATH_MAX];
        struct stat st;
        if ((size_t)snprintf(p, sizeof p, "%s%s", path, suffix[i]) >= sizeof p) continue;
        if (stat(p, &st) == 0 && (st.st_mode & 077) && st.st_uid == geteuid())
            chmod(p, st.st_mode & 0700);
    }
}

/* SQLite's memory statistics take a global mutex on every allocation, and
 * nothing here reads them (no sqlite3_memory_used, no soft heap limit).
 * sqlite3_config works only before SQLite is first used in the process;
 * when something was first (a tool opening a database), it refuses and
 * the statistics stay on, which is only slower. */
static pthread_once_t sqlite_tuned = PTHREAD_ONCE_INIT;
static void sqlite_tune(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* Each request runs in a savepoint, and SQLite keeps the pages it
     * changes as they were in a statement journal: some 15 to 30 pages
     * of 4 KiB an order.create. Kept in memory (temp_store=MEMORY) that
     * journal grows by 1 KiB chunks, a malloc and a free each, about 75 of
     * them and 16,000 instructions a request; with a spill threshold it
     * grows by chunks of the threshold's size and goes to a temp file only
     * past it. 120 KiB: one chunk holds a create's journal (no temp file
     * opened in 19,000 orders, strace), and stays below the 128 KiB at
     * which the server has malloc map memory (server.c), so it is taken
     * from the heap, not mapped and unmapped for every request. */
    (void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, 120 * 1024);
}

void engine_tune_sqlite(void)
{
    pthread_once(&sqlite_tuned, sqlite_tune);
}

int engine_pragmas(sqlite3 *db, err_t *err)
{
    /* The page size of a new file (an existing one keeps its own: SQLite
     * changes it only by VACUUM, never in WAL mode). 4 KiB, measured
     * against 1 KiB: a commit writes every page it touched whole, so 1 KiB
     * pages cut the WAL from 7,200 to 4,650 bytes an order, but the
     * checkpoint copies a page per system call and made 2.5 times as many:
     * 12 % fewer orders/s and a 25 % higher p99 at 32 x 2 in alternating
     * runs (docs/performance.md, "Page size"). */
    if (exec_sql(db, "PRAGMA page_size=4096", err) < 0 ||
        exec_sql(db, "PRAGMA journal_mode=WAL", err) < 0 ||
        exec_sql(db, "PRAGMA synchronous=FULL", err) < 0 ||
        exec_sql(db, "PRAGMA foreign_keys=ON", err) < 0 ||
        /* 16 MiB of page cache (default 2 MiB): the B-tree pages new orders
         * go into stay cached instead of being read back from the WAL. */
        exec_sql(db, "PRAGMA cache_size=-16384", err) < 0)
        return -1;
    return 0;
}

engine *engine_open(const engine_config *cfg, err_t *err)
{
    engine_tune_sqlite();
    if (sodium_init() < 0) {
        err_set(err, ERR_INTERNAL, "libsodium failed to initialise");
        return NULL;
    }
    engine *e = calloc(1, sizeof *e);
    if (!e) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    e->hq_role = cfg->hq_role;
    randombytes_buf(e->auth_key, sizeof e->auth_key);
    const char *pin = getenv("CORDER_NOW");
    if (pin && *pin) e->pinned_now = strtoll(pin, NULL, 10);
    private_files(cfg->db_path);
    /* Through the VFS that writes each commit's WAL frames at once
     * (walbuf.c): same bytes, same syncs, one write instead of two a page.
     * NOMUTEX: one thread (the server's loop, or a tool's only thread)
     * uses this connection, so SQLite's per-call connection mutex is pure
     * cost. The checkpoint thread and the uploader open their own. */
    if (walbuf_register() != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, "cannot register the SQLite VFS %s", WALBUF_VFS);
        engine_close(e);
        return NULL;
    }
    if (sqlite3_open_v2(cfg->db_path, &e->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        WALBUF_VFS) != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, "cannot open database %s: %s", cfg->db_path,
                e->db ? sqlite3_errmsg(e->db) : "out of memory");
        engine_close(e);
        return NULL;
    }
    sqlite3_busy_timeout(e->db, 5000);
    mc_attach(e);
    if (engine_pragmas(e->db, err) < 0 || schema_migrate(e->db, err) < 0) {
        engine_close(e);
        return NULL;
    }
    /* For tests of a full disk (SQLITE_FULL rolls a WAL transaction back
     * as a whole, which the server must notice): a cap on the file's pages. */
    const char *max_pages = getenv("CORDER_DB_MAX_PAGES");
    if (max_pages && *max_pages) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA max_page_count=%lld", strtoll(max_pages, NULL, 10));
        if (exec_sql(e->db, sql, err) < 0) {
            engine_close(e);
            return NULL;
        }
    }
    if (cfg->background_checkpoint &&
        (exec_sql(e->db, "PRAGMA wal_autocheckpoint=0", err) < 0 ||
         /* when the log starts over (checkpoint.c, at 64 MiB), a file grown
          * bigger by a backlog is cut back to 128 MiB, and no further: below
          * that the commits overwrite blocks the file already has */
         exec_sql(e->db, "PRAGMA journal_size_limit=134217728", err) < 0 ||
         !(e->checkpointer = checkpoint_start(e->db, cfg->db_path, err)))) {
        engine_close(e);
        return NULL;
    }
    if (cfg->no_policies) return e;
    char dir[PATH_MAX];
    policies_dir(cfg, dir, sizeof dir);
    const policy_impl *impl = cfg->policy_impl ? cfg->policy_impl : &policy_builtin;
    e->policies = impl->host_new(dir, &cfg->limits, err);
    if (!e->policies || bind_policies(e, err) < 0) {
        engine_close(e);
        return NULL;
    }
    return e;
}

void engine_close(engine *e)
{
    if (!e) return;
    for (int i = 0; i < ENGINE_STMT_SLOTS; i++)
        if (e->stmts[i].st) sqlite3_finalize(e->stmts[i].st);
    if (e->in_txn) engine_rollback(e);
    if (e->walsync) { /* what is owed synced; SQLite's own syncs from here on */
        walbuf_defer_syncs(e->db, false);
        if (walbuf_take_owed(e->db)) walsync_ask(e->walsync);
        walsync_close(e->walsync);
    }
    checkpoint_stop(e->checkpointer);
    if (e->db) sqlite3_close(e->db);
    if (e->policies) policy_host_free(e->policies);
    if (e->drop_auth) e->drop_auth(e);
    sodium_memzero(e->auth_key, sizeof e->auth_key);
    free(e);
}

sqlite3 *engine_db(engine *e)
{
    return e->db;
}

policy_host *engine_policies(engine *e)
{
    return e->policies;
}

int engine_sqlerr(engine *e, err_t *err, const char *what)
{
    return err_set(err, ERR_INTERNAL, "database: %s: %s", what, sqlite3_errmsg(e->db));
}

/* Statements are keyed by the address of their static SQL text, so a
 * lookup is a pointer hash, not a string compare. */
sqlite3_stmt *engine_stmt(engine *e, const char *sql, err_t *err)
{
    size_t h = ((uintptr_t)sql >> 3) % ENGINE_STMT_SLOTS;
    for (size_t i = 0; i < ENGINE_STMT_SLOTS; i++) {
        engine_stmt_slot *s = &e->stmts[(h + i) % ENGINE_STMT_SLOTS];
        if (s->sql == sql) {
            sqlite3_reset(s->st);
            sqlite3_clear_bindings(s->st);
            return s->st;
        }
        if (!s->sql) {
            if (sqlite3_prepare_v3(e->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL) !=
                SQLITE_OK) {
                engine_sqlerr(e, err, sql);
                s->st = NULL;
                return NULL;
            }
            s->sql = sql;
            return s->st;
        }
    }
    err_set(err, ERR_INTERNAL, "statement cache full");
    return NULL;
}

int engine_begin(engine *e, err_t *err)
{
    if (e->in_txn) return 0;
    checkpoint_catch_up(e->checkpointer);
    sqlite3_stmt *st = engine_stmt(e, "BEGIN IMMEDIATE", err);
    if (!st) return -1;
    if (sqlite3_step(st) != SQLITE_DONE) return engine_sqlerr(e, err, "begin");
    mc_forget(e); /* the last transaction's rows, and others' writes before our lock */
    txc_reset(e);
    e->in_txn = true;
    return 0;
}

int engine_commit(engine *e, err_t *err)
{
    if (!e->in_txn) return 0;
    if (txc_flush(e, NULL, err) < 0 || fts_index_new_orders(e, FTS_PENDING_MAX, err) < 0) {
        engine_rollback(e);
        return -1;
    }
    sqlite3_stmt *st = engine_stmt(e, "COMMIT", err);
    if (!st) return -1;
    if (sqlite3_step(st) != SQLITE_DONE) {
        engine_sqlerr(e, err, "commit");
        engine_rollback(e);
        return -1;
    }
    e->in_txn = false;
    txc_reset(e);
    if (e->walsync)
        e->ticket = walbuf_take_owed(e->db) ? walsync_ask(e->walsync) : walsync_last(e->walsync);
    return 0;
}

int engine_pipeline(engine *e, void (*synced)(void *arg), void *arg, err_t *err)
{
    if (e->walsync) return 0;
    char path[PATH_MAX];
    const char *db = sqlite3_db_filename(e->db, "main");
    if (!db || !*db || snprintf(path, sizeof path, "%s-wal", db) >= (int)sizeof path)
        return err_set(err, ERR_INTERNAL, "pipelined commits need a database file");
    if (!(e->walsync = walsync_open(path, synced, arg, err))) return -1;
    if (walbuf_defer_syncs(e->db, true) != SQLITE_OK) {
        walsync_close(e->walsync);
        e->walsync = NULL;
        return err_set(err, ERR_INTERNAL, "pipelined commits need the corder-walbuf VFS");
    }
    return 0;
}

void engine_pipeline_unhook(engine *e)
{
    if (e->walsync) walsync_set_done(e->walsync, NULL, NULL);
}

uint64_t engine_commit_ticket(const engine *e)
{
    return e->walsync ? e->ticket : 0;
}

int engine_durable(engine *e, uint64_t ticket)
{
    return e->walsync && ticket ? walsync_durable(e->walsync, ticket) : 1;
}

int engine_sync(engine *e, err_t *err)
{
    if (!e->walsync) return 0;
    walbuf_take_owed(e->db); /* the sync asked here covers it */
    return walsync_wait(e->walsync, walsync_ask(e->walsync), err);
}

void engine_sync_counts(engine *e, uint64_t *syncs, double *seconds)
{
    *syncs = 0;
    *seconds = 0;
    if (e->walsync) walsync_counts(e->walsync, syncs, seconds);
}

void engine_rollback(engine *e)
{
    if (sqlite3_get_autocommit(e->db) == 0) sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
    e->in_txn = false;
    txc_reset(e);
}

int engine_read_begin(engine *e, err_t *err)
{
    if (e->in_txn || !sqlite3_get_autocommit(e->db)) return 0;
    sqlite3_stmt *st = engine_stmt(e, "BEGIN", err);
    if (!st) return -1;
    if (sqlite3_step(st) != SQLITE_DONE) return engine_sqlerr(e, err, "begin");
    sqlite3_reset(st);
    return 1;
}

void engine_read_end(engine *e, int began)
{
    if (began != 1 || sqlite3_get_autocommit(e->db)) return;
    sqlite3_stmt *st = engine_stmt(e, "COMMIT", &(err_t){0});
    if (!st || sqlite3_step(st) != SQLITE_DONE) sqlite3_exec(e->db, "ROLLBACK", NULL, NULL, NULL);
    if (st) sqlite3_reset(st);
}

uint64_t engine_staff_epoch(engine *e)
{
    return e->staff_epoch + 1; /* never 0: a session without one has 0 */
}

void engine_staff_changed(engine *e)
{
    e->staff_epoch++;
}

bool engine_in_txn(engine *e)
{
    return e->in_txn;
}

int64_t engine_now(engine *e)
{
    return e->pinned_now ? e->pinned_now : (int64_t)time(NULL);
}

void engine_set_now(engine *e, int64_t now)
{
    e->pinned_now = now;
}

/* localtime_r follows TZ; stores in other zones swap it briefly. The
 * answer is cached per store until the next minute, so this is rare. */
static void local_date(const char *tz, int64_t now, char out[11])
{
    char *old = getenv("TZ");
    char saved[128] = "";
    int had = old != NULL;
    if (had) text_copy(saved, sizeof saved, old);
    setenv("TZ", tz && *tz ? tz : "UTC", 1);
    tzset();
    time_t t = (time_t)now;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
    if (had)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
}

int engine_today(engine *e, const char *store, char out[11], err_t *err)
{
    int64_t now = engine_now(e);
    size_t h = 5381;
    for (const char *p = store; *p; p++)
        h = h * 33 + (unsigned char)*p;
    engine_tz_slot *slot = &e->tz[h % ENGINE_TZ_SLOTS];
    if (!strcmp(slot->store, store) && now < slot->until && now >= slot->until - 60) {
        memcpy(out, slot->date, 11);
        return 0;
    }
    sqlite3_stmt *st = engine_stmt(e, "SELECT timezone FROM stores WHERE id = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return err_field(err, ERR_NOT_FOUND, "store", "no store %s", store);
    }
    local_date((const char *)sqlite3_column_text(st, 0), now, out);
    sqlite3_reset(st);
    text_copy(slot->store, sizeof slot->store, store);
    memcpy(slot->date, out, 11);
    slot->until = now - now % 60 + 60;
    return 0;
}

static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, char out[11])
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    char buf[32];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", (int)(y % 10000), (int)m, (int)d);
    memcpy(out, buf, 10);
    out[10] = '\0';
}

/* n digits of s as a number, or -1 if any is not a digit. */
static int date_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Exactly YYYY-MM-DD, digits only (no sign or space that sscanf's %d would
 * let in), a day the month has, a year from 1970: true with its parts.
 * Every dated line of every request passes here, so it reads the ten
 * bytes itself. */
static bool date_parts(const char *s, int *y, int *m, int *d)
{
    if (!s || strnlen(s, 11) != 10 || s[4] != '-' || s[7] != '-') return false;
    *y = date_digits(s, 4);
    *m = date_digits(s + 5, 2);
    *d = date_digits(s + 8, 2);
    if (*y < 1970 || *m < 1 || *m > 12 || *d < 1) return false;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
    return *d <= mdays[*m - 1] + (*m == 2 && leap);
}

bool engine_valid_date(const char *s)
{
    int y, m, d;
    return date_parts(s, &y, &m, &d);
}

void engine_date_add(const char *date, int days, char out[11])
{
    int y, m, d;
    if (!date_parts(date, &y, &m, &d)) y = 1970, m = 1, d = 1;
    civil_from_days(days_from_civil(y, m, d) + days, out);
}

void engine_iso_now(engine *e, char out[32])
{
    time_t t = (time_t)engine_now(e);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int engine_step_done(engine *e, sqlite3_stmt *st, const char *what, err_t *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(e, err, what);
}

static const char *const sp_sql[][3] = {
    [ENGINE_SP_REQUEST] = {"SAVEPOINT req", "RELEASE req", "ROLLBACK TO req"},
    [ENGINE_SP_SERVER] = {"SAVEPOINT srv_write", "RELEASE srv_write", "ROLLBACK TO srv_write"},
};

static int sp_step(engine *e, const char *sql, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, sql, err);
    if (!st) return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(e, err, "savepoint");
}

int engine_savepoint(engine *e, engine_sp which, err_t *err)
{
    if (txc_save(e, err) < 0) return -1;
    if (sp_step(e, sp_sql[which][0], err) == 0) return 0;
    txc_end(e, false); /* no savepoint opened: nothing to put back */
    return -1;
}

void engine_savepoint_end(engine *e, engine_sp which, bool keep)
{
    err_t err;
    if (!keep) {
        sp_step(e, sp_sql[which][2], &err);
        mc_forget(e); /* a row read after a write that is now undone */
    }
    txc_end(e, !keep); /* rolled back: the rows kept, as at the savepoint */
    sp_step(e, sp_sql[which][1], &err);
}

bool engine_txn_lost(engine *e)
{
    return e->in_txn && sqlite3_get_autocommit(e->db);
}

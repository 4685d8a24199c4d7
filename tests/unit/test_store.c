/* test_store.c: the store (issue 2): migrations bring a new database to the
 * newest version and re-opening changes nothing; WAL and synchronous=FULL
 * are in force; `init` with the same seed twice changes nothing; PINs are
 * stored only as libsodium hashes; a bad seed is refused whole. Issue 14:
 * under a steady stream of commits (the server's background checkpoints)
 * the WAL starts over instead of growing without end, and loses nothing;
 * pipelined commits leave the WAL's sync to the sync thread, but never a
 * checkpoint's or the restarted log's; a new store has 4 KiB pages, one
 * made with others keeps them. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/auth.h"
#include "store/engine.h"
#include "store/gauges.h"
#include "store/master.h"
#include "store/schema.h"
#include "store/seed.h"
#include "store/till.h"
#include "store/txcache.h"
#include "store/walbuf.h"
#include "t.h"

static char db_path[256];

static engine *open_db(void)
{
    err_t err = {0};
    engine_config cfg = {.db_path = db_path, .no_policies = true};
    engine *e = engine_open(&cfg, &err);
    CHECK(e != NULL, "open: %s", err.message);
    return e;
}

static int64_t int_query(engine *e, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(engine_db(e), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A digest of every master-data row, to compare two states. */
static void digest(engine *e, char out[65])
{
    static const char *const q[] = {"SELECT * FROM stores ORDER BY id",
                                    "SELECT * FROM staff ORDER BY id",
                                    "SELECT * FROM staff_stores ORDER BY 1, 2",
                                    "SELECT * FROM customers ORDER BY 1",
                                    "SELECT * FROM addresses ORDER BY 1, 2",
                                    "SELECT * FROM products ORDER BY 1",
                                    NULL};
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    for (int i = 0; q[i]; i++) {
        sqlite3_stmt *st;
        sqlite3_prepare_v2(engine_db(e), q[i], -1, &st, NULL);
        while (sqlite3_step(st) == SQLITE_ROW)
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                const unsigned char *t = sqlite3_column_text(st, c);
                if (t) crypto_generichash_update(&h, t, strlen((const char *)t));
                crypto_generichash_update(&h, (const unsigned char *)"|", 1);
            }
        sqlite3_finalize(st);
    }
    unsigned char bin[32];
    crypto_generichash_final(&h, bin, 32);
    sodium_bin2hex(out, 65, bin, 32);
}

static json_t *load_seed(void)
{
    char path[512];
    const char *root = getenv("CORDER_ROOT");
    snprintf(path, sizeof path, "%s/examples/seed.json", root ? root : ".");
    json_t *seed = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
    CHECK(seed != NULL, "cannot read %s", path);
    return seed;
}

static void test_migrations(void)
{
    engine *e = open_db();
    CHECK(int_query(e, "PRAGMA user_version") == schema_version(), "migrated to newest");
    CHECK(int_query(e, "SELECT count(*) FROM sqlite_master WHERE name='orders'") == 1, "orders");
    CHECK(int_query(e, "PRAGMA synchronous") == 2, "synchronous=FULL");
    sqlite3_stmt *st;
    sqlite3_prepare_v2(engine_db(e), "PRAGMA journal_mode", -1, &st, NULL);
    sqlite3_step(st);
    CHECK(!strcmp((const char *)sqlite3_column_text(st, 0), "wal"), "WAL mode");
    sqlite3_finalize(st);
    engine_close(e);
    e = open_db(); /* re-opening is a no-op */
    CHECK(int_query(e, "PRAGMA user_version") == schema_version(), "still newest");
    engine_close(e);
}

/* The database at path and its -wal and -shm files gone. */
static void remove_store(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[320];
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        unlink(p);
    }
}

/* Makes the store at path with SQLite alone, in pages of page bytes, as
 * an older corder or an operator's rewrite (docs/operations.md) leaves it. */
static void make_store(const char *path, int page)
{
    remove_store(path);
    sqlite3 *db;
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA page_size=%d; PRAGMA journal_mode=WAL; VACUUM;", page);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK &&
              sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK,
          "make a store of %d-byte pages: %s", page, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* Issue 14 (WAL bytes per order): a new store has 4 KiB pages; a store
 * made with another size (docs/operations.md: 1 KiB pages write a third
 * less WAL) keeps it (SQLite changes it only by VACUUM), opens, migrates
 * and writes as before, and its WAL bytes are counted in its own frames. */
static void test_page_size(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s.pages", db_path);
    remove_store(path);
    err_t err = {0};
    engine_config cfg = {.db_path = path, .no_policies = true, .background_checkpoint = true};
    engine *e = engine_open(&cfg, &err);
    CHECK(e != NULL, "open a new store: %s", err.message);
    if (!e) return;
    CHECK(int_query(e, "PRAGMA page_size") == 4096, "a new store has 4 KiB pages");
    engine_close(e);
    /* a store rewritten with 1 KiB pages */
    make_store(path, 1024);
    e = engine_open(&cfg, &err);
    CHECK(e != NULL, "open the 1 KiB store: %s", err.message);
    if (!e) return;
    CHECK(int_query(e, "PRAGMA page_size") == 1024, "a store keeps its pages");
    CHECK(int_query(e, "PRAGMA user_version") == schema_version(), "and is migrated");
    CHECK(engine_begin(e, &err) == 0 &&
              sqlite3_exec(engine_db(e), "INSERT INTO counters(name, value) VALUES('t', 1)", NULL,
                           NULL, NULL) == SQLITE_OK &&
              engine_commit(e, &err) == 0,
          "a write: %s", err.message);
    uint64_t wal = gauges_wal_bytes(e);
    CHECK(wal > 0 && wal % 1048 == 0, "its WAL counted in 1 KiB frames: %llu",
          (unsigned long long)wal);
    engine_close(e);
    remove_store(path);
}

static void test_seed_idempotent(void)
{
    json_t *seed = load_seed();
    if (!seed) return;
    engine *e = open_db();
    err_t err = {0};
    CHECK(seed_apply(e, seed, &err) == 0, "seed: %s", err.message);
    char a[65], b[65];
    digest(e, a);
    int64_t changes = int_query(e, "SELECT total_changes()");
    CHECK(seed_apply(e, seed, &err) == 0, "seed again: %s", err.message);
    digest(e, b);
    CHECK(!strcmp(a, b), "same seed twice changes nothing");
    CHECK(int_query(e, "SELECT total_changes()") == changes, "no row was even rewritten");
    CHECK(int_query(e, "SELECT count(*) FROM products") == 12, "12 products");

    /* PINs: only slow salted hashes, never the PIN */
    CHECK(int_query(e, "SELECT count(*) FROM staff WHERE pin_hash LIKE '$argon2id$%'") == 4,
          "argon2id hashes");
    CHECK(int_query(e, "SELECT count(*) FROM staff WHERE pin_hash LIKE '%1234%'") == 0,
          "no PIN in clear");
    auth_staff who;
    CHECK(auth_check(e, "1001", "1234", &who, &err) == 0, "right PIN signs in");
    CHECK(auth_check(e, "1001", "4321", &who, &err) < 0 && err.code == ERR_UNAUTHENTICATED,
          "wrong PIN refused");

    /* a bad seed is refused whole: nothing of it is written */
    json_t *bad = json_pack("{s:[{s:s, s:s, s:i}], s:[{s:s}]}", "products", "item", "P999", "name",
                            "New", "price", 100, "stores", "id", "S9");
    err_clear(&err);
    CHECK(seed_apply(e, bad, &err) < 0 && err.code == ERR_BAD_REQUEST, "bad seed refused");
    CHECK(int_query(e, "SELECT count(*) FROM products WHERE item='P999'") == 0, "rolled back");
    json_decref(bad);
    json_decref(seed);
    engine_close(e);
}

static void test_lockout(void)
{
    engine *e = open_db();
    err_t err = {0};
    auth_staff who;
    for (int i = 0; i < AUTH_MAX_FAILURES; i++)
        auth_check(e, "1002", "0000", &who, &err);
    err_clear(&err);
    CHECK(auth_check(e, "1002", "9999", &who, &err) < 0, "locked after 5 wrong PINs");
    CHECK(strstr(err.message, "locked") != NULL, "says so: %s", err.message);
    engine_set_now(e, engine_now(e) + AUTH_LOCKOUT_S + 1);
    CHECK(auth_check(e, "1002", "9999", &who, &err) == 0, "unlocked after 60 s");
    engine_close(e);
}

static void test_dates(void)
{
    char out[11];
    engine_date_add("2024-02-28", 1, out);
    CHECK(!strcmp(out, "2024-02-29"), "leap day: %s", out);
    engine_date_add("2024-12-31", 1, out);
    CHECK(!strcmp(out, "2025-01-01"), "new year: %s", out);
    engine_date_add("2025-03-01", -1, out);
    CHECK(!strcmp(out, "2025-02-28"), "back: %s", out);
    CHECK(engine_valid_date("2024-02-29"), "leap day valid");
    CHECK(!engine_valid_date("2025-02-29"), "not a leap year");
    CHECK(!engine_valid_date("2025-13-01") && !engine_valid_date("25-01-01") &&
              !engine_valid_date("2025-01-01x"),
          "malformed dates refused");
    /* O4: only digits where digits go (sscanf's %d let a sign or a space in) */
    CHECK(!engine_valid_date("2025-+1-01") && !engine_valid_date("2025-01- 1") &&
              !engine_valid_date("2025-0a-01") && !engine_valid_date(" 2025-1-01") &&
              !engine_valid_date("1969-12-31") && !engine_valid_date("2025-04-31") &&
              !engine_valid_date("") && !engine_valid_date(NULL),
          "signs, spaces, letters, days a month lacks and years before 1970 refused");
    CHECK(engine_valid_date("2000-02-29") && !engine_valid_date("2100-02-29") &&
              engine_valid_date("9999-12-31") && engine_valid_date("1970-01-01"),
          "leap centuries, the first and the last day");
}

/* SPEC R3 and M4: the till's day sums payments and refunds per store, day
 * and tender (till.c); a sum past the largest integer is refused and
 * leaves the row as it was, never turned into a float. */
static void test_till(void)
{
    engine *e = open_db();
    err_t err = {0};
    CHECK(till_add(e, "S001", "2026-12-04", "card", false, 1000, &err) == 0, "a payment: %s",
          err.message);
    CHECK(till_add(e, "S001", "2026-12-04", "card", false, 250, &err) == 0, "a second");
    CHECK(till_add(e, "S001", "2026-12-04", "card", true, 300, &err) == 0, "a refund");
    CHECK(till_add(e, "S001", "2026-12-04", "cash", false, 70, &err) == 0, "another tender");
    CHECK(int_query(e, "SELECT received * 1000000 + refunded * 1000 + payments * 10 + refunds"
                       " FROM till WHERE store = 'S001' AND tender = 'card'") ==
              1250 * 1000000LL + 300 * 1000 + 2 * 10 + 1,
          "card: 1250 received in 2 payments, 300 refunded in 1");
    CHECK(int_query(e, "SELECT received FROM till WHERE tender = 'cash'") == 70, "cash apart");
    CHECK(till_add(e, "S001", "2026-12-04", "card", false, INT64_MAX - 1000, &err) < 0 &&
              err.code == ERR_VALIDATION && strstr(err.message, "overflows"),
          "a sum past the largest integer refused: %s", err.message);
    CHECK(int_query(e, "SELECT typeof(received) = 'integer' AND received = 1250 AND payments = 2"
                       " FROM till WHERE tender = 'card'") == 1,
          "and the row left as it was");
    CHECK(till_add(e, "S001", "2026-12-04", "card", false, INT64_MAX - 1250, &err) == 0,
          "up to the largest integer it adds");
    CHECK(int_query(e, "SELECT received = 9223372036854775807 FROM till WHERE tender = 'card'") ==
              1,
          "exactly");
    json_t *day = till_day(e, "S001", "2026-12-04", &err);
    CHECK(day && json_array_size(day) == 2, "two tenders in the day");
    json_decref(day);
    engine_close(e);
}

/* Issue 14 (speed), txcache.c: within a write transaction the order-number
 * counter and the till's day are kept in memory and written at COMMIT.
 * What SQL would have done must still hold: numbers and sums carry on
 * across requests, a rolled-back savepoint takes back its number and its
 * money, a rolled-back or lost transaction writes nothing, the till's day
 * read inside the transaction sees its own payments, and more rows than
 * are kept go through SQL. */
static int64_t next_of(engine *e, const char *counter)
{
    err_t err = {0};
    int64_t n = -1;
    CHECK(master_next(e, counter, &n, &err) == 0, "master_next %s: %s", counter, err.message);
    return n;
}

static int64_t card_received(engine *e, const char *day)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(received), 0) FROM till WHERE store = 'S001' AND day = '%s'"
             " AND tender = 'card'",
             day);
    return int_query(e, sql);
}

static void test_txcache(void)
{
    engine *e = open_db();
    err_t err = {0};
    int64_t first = next_of(e, "order:TXC"); /* outside a transaction: through SQL */
    CHECK(engine_begin(e, &err) == 0, "begin: %s", err.message);
    CHECK(next_of(e, "order:TXC") == first + 1 && next_of(e, "order:TXC") == first + 2,
          "numbers carry on inside a transaction");
    CHECK(engine_savepoint(e, ENGINE_SP_REQUEST, &err) == 0, "savepoint");
    CHECK(next_of(e, "order:TXC") == first + 3, "a request takes the next number");
    CHECK(till_add(e, "S001", "2031-01-01", "card", false, 500, &err) == 0, "and pays");
    engine_savepoint_end(e, ENGINE_SP_REQUEST, false);
    CHECK(next_of(e, "order:TXC") == first + 3,
          "a rolled-back request's number is taken again (SQL would have undone its update)");
    CHECK(till_add(e, "S001", "2031-01-01", "card", false, 70, &err) == 0, "a payment");
    CHECK(engine_savepoint(e, ENGINE_SP_REQUEST, &err) == 0, "savepoint");
    CHECK(till_add(e, "S001", "2031-01-01", "card", false, 30, &err) == 0, "another, kept");
    engine_savepoint_end(e, ENGINE_SP_REQUEST, true);
    json_t *day = till_day(e, "S001", "2031-01-01", &err);
    CHECK(day && json_array_size(day) == 1 &&
              json_integer_value(json_object_get(json_array_get(day, 0), "received")) == 100 &&
              json_integer_value(json_object_get(json_array_get(day, 0), "payments")) == 2,
          "the day read inside the transaction has its payments, not the rolled-back one");
    json_decref(day);
    CHECK(till_add(e, "S001", "2031-01-01", "card", false, 1, &err) == 0, "and adds after it");
    /* more rows than are kept: the rest through SQL, every one right */
    char d[11];
    for (int i = 0; i < TXC_ROWS + 4; i++) {
        snprintf(d, sizeof d, "2031-02-%02d", i + 1);
        CHECK(till_add(e, "S001", d, "card", false, i + 1, &err) == 0 &&
                  till_add(e, "S001", d, "card", false, 1000, &err) == 0,
              "day %s: %s", d, err.message);
    }
    CHECK(engine_commit(e, &err) == 0, "commit: %s", err.message);
    CHECK(card_received(e, "2031-01-01") == 101, "committed: 70 + 30 + 1");
    for (int i = 0; i < TXC_ROWS + 4; i++) {
        snprintf(d, sizeof d, "2031-02-%02d", i + 1);
        CHECK(card_received(e, d) == i + 1001, "day %s committed with both payments", d);
    }
    CHECK(next_of(e, "order:TXC") == first + 4, "the counter was written at COMMIT");

    /* a transaction rolled back writes nothing */
    CHECK(engine_begin(e, &err) == 0, "begin");
    CHECK(next_of(e, "order:TXC") == first + 5, "next");
    CHECK(till_add(e, "S001", "2031-01-01", "card", false, 9, &err) == 0, "a payment");
    engine_rollback(e);
    CHECK(next_of(e, "order:TXC") == first + 5 && card_received(e, "2031-01-01") == 101,
          "after a rollback: the number again, the day as committed");

    /* a transaction SQLite ended by itself (an I/O error does) is never
     * written by the flush, which would otherwise commit it row by row */
    CHECK(engine_begin(e, &err) == 0, "begin");
    CHECK(next_of(e, "order:TXC") == first + 6, "next");
    CHECK(till_add(e, "S001", "2031-01-01", "card", false, 9, &err) == 0, "a payment");
    sqlite3_exec(engine_db(e), "ROLLBACK", NULL, NULL, NULL);
    CHECK(engine_commit(e, &err) < 0, "its commit fails");
    CHECK(next_of(e, "order:TXC") == first + 6 && card_received(e, "2031-01-01") == 101,
          "and nothing of it was written");

    /* the counter's first use inserts it, also when kept */
    CHECK(engine_begin(e, &err) == 0, "begin");
    CHECK(next_of(e, "order:NEW") == 1 && next_of(e, "order:NEW") == 2, "a new counter: 1, 2");
    CHECK(engine_commit(e, &err) == 0, "commit");
    CHECK(int_query(e, "SELECT value FROM counters WHERE name = 'order:NEW'") == 2,
          "inserted at COMMIT");
    engine_close(e);
}

/* Savepoints nest as a stack, deeper than txcache.c notes (TXC_DEPTH),
 * and of the same kind: 3,000 random steps (open, release or roll back a
 * savepoint; take a number; pay) against a model of what SQL alone would
 * hold, then the committed rows against the model. */
static void test_txcache_nesting(void)
{
    engine *e = open_db();
    err_t err = {0};
    int64_t base = next_of(e, "order:NEST");
    int64_t paid_base = card_received(e, "2031-03-01");
    struct {
        int64_t number, paid;
    } model[16], now = {base, paid_base};
    engine_sp kind[16];
    int depth = 0;
    srand(20261204);
    CHECK(engine_begin(e, &err) == 0, "begin");
    for (int step = 0; step < 3000; step++) {
        int r = rand() % 6;
        if (r == 0 && depth < 16) {
            kind[depth] = rand() % 2 ? ENGINE_SP_REQUEST : ENGINE_SP_SERVER;
            CHECK(engine_savepoint(e, kind[depth], &err) == 0, "savepoint at depth %d", depth);
            model[depth++] = now;
        } else if (r == 1 && depth > 0) {
            bool keep = rand() % 2;
            /* innermost first, as the engine's callers end them */
            engine_savepoint_end(e, kind[--depth], keep);
            if (!keep) now = model[depth];
        } else if (r == 2 || r == 3) {
            int64_t n = next_of(e, "order:NEST");
            CHECK(n == now.number + 1, "step %d, depth %d: number %lld, the model %lld", step,
                  depth, (long long)n, (long long)now.number + 1);
            now.number = n;
        } else {
            int64_t amount = 1 + rand() % 100;
            CHECK(till_add(e, "S001", "2031-03-01", "card", false, amount, &err) == 0, "pay");
            now.paid += amount;
        }
    }
    while (depth > 0)
        engine_savepoint_end(e, kind[--depth], true);
    CHECK(engine_commit(e, &err) == 0, "commit: %s", err.message);
    CHECK(next_of(e, "order:NEST") == now.number + 1 && card_received(e, "2031-03-01") == now.paid,
          "committed as the model says: number %lld, paid %lld", (long long)now.number,
          (long long)now.paid);
    engine_close(e);
}

/* engine.c keeps a savepoint's statement journal in memory up to 120 KiB
 * and spills the rest to a temp file: a savepoint that changes far more
 * (here some 1.5 MB of rows) still rolls back exactly. */
static void test_big_savepoint(void)
{
    engine *e = open_db();
    err_t err = {0};
    sqlite3 *db = engine_db(e);
    CHECK(sqlite3_exec(db,
                       "CREATE TABLE IF NOT EXISTS scratch(x INTEGER PRIMARY KEY, pad TEXT);"
                       "DELETE FROM scratch; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT"
                       " i + 1 FROM n WHERE i < 3000) INSERT INTO scratch SELECT i,"
                       " printf('%0500d', i) FROM n;",
                       NULL, NULL, NULL) == SQLITE_OK,
          "3,000 rows of 500 bytes");
    int64_t before = int_query(e, "SELECT sum(length(pad)) + sum(x) FROM scratch");
    CHECK(engine_begin(e, &err) == 0, "begin");
    CHECK(engine_savepoint(e, ENGINE_SP_REQUEST, &err) == 0, "savepoint");
    CHECK(sqlite3_exec(db, "UPDATE scratch SET pad = printf('%0510d', -x)", NULL, NULL, NULL) ==
              SQLITE_OK,
          "every row changed: %s", sqlite3_errmsg(db));
    CHECK(int_query(e, "SELECT sum(length(pad)) FROM scratch") == 3000 * 510, "inside, changed");
    engine_savepoint_end(e, ENGINE_SP_REQUEST, false);
    CHECK(engine_commit(e, &err) == 0, "commit: %s", err.message);
    CHECK(int_query(e, "SELECT sum(length(pad)) + sum(x) FROM scratch") == before,
          "rolled back exactly, past the journal's 120 KiB in memory");
    CHECK(sqlite3_exec(db, "DROP TABLE scratch", NULL, NULL, NULL) == SQLITE_OK, "drop");
    engine_close(e);
}

/* Issue 14 (speed): the server checkpoints on a thread (checkpoint.c);
 * a writer committing without pause must still see the WAL start over,
 * since a growing WAL makes every fsync dearer. Some 200 MiB of frames go
 * through the log (three times its 64 MiB restart point); the file must
 * stay well under that, and every row must be there afterwards. The
 * restart point is in bytes whatever the page size: a store of 1 KiB
 * pages must not start over at a quarter of it (it did, when the point
 * was counted in frames). */
static void test_wal_restarts(int page)
{
    err_t err = {0};
    make_store(db_path, page);
    engine_config cfg = {.db_path = db_path, .no_policies = true, .background_checkpoint = true};
    engine *e = engine_open(&cfg, &err);
    CHECK(e != NULL, "open: %s", err.message);
    if (!e) return;
    CHECK(int_query(e, "PRAGMA page_size") == page, "a store of %d-byte pages", page);
    sqlite3_exec(engine_db(e), "CREATE TABLE IF NOT EXISTS walt(id INTEGER PRIMARY KEY, b BLOB)",
                 NULL, NULL, NULL);
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    sqlite3_stmt *ins;
    /* rows of 3 KB, a 4 KiB page each, or of 4 KB, four 1 KiB pages each
     * (a leaf to itself and three overflow pages): ~210 MiB of frames */
    sqlite3_prepare_v2(engine_db(e),
                       page >= 4096 ? "INSERT INTO walt(b) VALUES(randomblob(3000))"
                                    : "INSERT INTO walt(b) VALUES(randomblob(4000))",
                       -1, &ins, NULL);
    const int commits = 1300, rows = 40;
    off_t biggest = 0;
    int ok = 1;
    for (int i = 0; i < commits && ok; i++) {
        ok = engine_begin(e, &err) == 0;
        for (int r = 0; r < rows && ok; r++) {
            ok = sqlite3_step(ins) == SQLITE_DONE;
            sqlite3_reset(ins);
        }
        ok = ok && engine_commit(e, &err) == 0;
        struct stat st;
        if (stat(wal, &st) == 0 && st.st_size > biggest) biggest = st.st_size;
    }
    sqlite3_finalize(ins);
    CHECK(ok, "commits: %s", err.message);
    CHECK(int_query(e, "SELECT count(*) FROM walt") == (int64_t)commits * rows, "every row kept");
    uint64_t written = gauges_wal_bytes(e);
    CHECK(written > 192ull << 20, "the writes went through the WAL (%llu bytes)",
          (unsigned long long)written);
    CHECK(biggest < 128 << 20, "the WAL started over: at most %lld bytes of %llu written",
          (long long)biggest, (unsigned long long)written);
    CHECK(biggest > 48 << 20, "not before 64 MiB: at most %lld bytes with %d-byte pages",
          (long long)biggest, page);
    engine_close(e);
    remove_store(db_path);
}

static int synced_calls;

static void count_synced(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&synced_calls, 1, __ATOMIC_RELAXED);
}

/* One write transaction through the engine; true when it committed. */
static bool commit_one(engine *e, err_t *err)
{
    if (engine_begin(e, err) != 0) return false;
    int rc = sqlite3_exec(engine_db(e), "INSERT INTO pipet(b) VALUES(randomblob(500))", NULL, NULL,
                          NULL);
    return rc == SQLITE_OK && engine_commit(e, err) == 0;
}

/* Issue 14, pipelined group commit: after engine_pipeline a COMMIT writes
 * the WAL but its fdatasync is deferred (walbuf counts it), the commit's
 * ticket is durable only once the sync thread has synced, and engine_sync
 * waits for that. A transaction that wrote nothing gets the last ticket
 * (its reads may have seen that commit). The syncs SQLite's safety rests
 * on stay SQLite's own: a checkpoint on the writer's connection syncs the
 * WAL before copying it, and a log started over syncs its new header.
 * After engine_pipeline_unhook the sync thread calls nobody. */
static void test_pipeline(void)
{
    err_t err = {0};
    engine_config cfg = {.db_path = db_path, .no_policies = true};
    engine *e = engine_open(&cfg, &err);
    CHECK(e != NULL, "open: %s", err.message);
    if (!e) return;
    sqlite3_exec(engine_db(e), "CREATE TABLE IF NOT EXISTS pipet(id INTEGER PRIMARY KEY, b BLOB)",
                 NULL, NULL, NULL);
    CHECK(engine_commit_ticket(e) == 0, "not pipelined: no ticket");
    CHECK(engine_durable(e, 0) == 1, "not pipelined: durable at COMMIT");
    CHECK(engine_pipeline(e, count_synced, NULL, &err) == 0, "pipeline: %s", err.message);
    CHECK(commit_one(e, &err), "first commit: %s", err.message); /* may write the header */
    CHECK(engine_sync(e, &err) == 0, "sync: %s", err.message);

    walbuf_counts c0, c1;
    walbuf_get_counts(&c0);
    int calls0 = __atomic_load_n(&synced_calls, __ATOMIC_RELAXED);
    CHECK(commit_one(e, &err), "commit: %s", err.message);
    walbuf_get_counts(&c1);
    uint64_t t = engine_commit_ticket(e);
    CHECK(t > 0, "a commit that wrote gets a ticket");
    CHECK(c1.deferred == c0.deferred + 1 && c1.synced == c0.synced,
          "its sync deferred (deferred %llu -> %llu, synced %llu -> %llu)",
          (unsigned long long)c0.deferred, (unsigned long long)c1.deferred,
          (unsigned long long)c0.synced, (unsigned long long)c1.synced);
    CHECK(engine_sync(e, &err) == 0 && engine_durable(e, t) == 1, "durable after engine_sync");
    CHECK(__atomic_load_n(&synced_calls, __ATOMIC_RELAXED) > calls0, "the thread told us");

    CHECK(engine_begin(e, &err) == 0 && int_query(e, "SELECT count(*) FROM pipet") == 2 &&
              engine_commit(e, &err) == 0,
          "a read-only transaction: %s", err.message);
    CHECK(engine_commit_ticket(e) >= t, "a read-only commit waits for the last commit's sync");

    CHECK(commit_one(e, &err), "commit before a checkpoint: %s", err.message);
    walbuf_get_counts(&c0);
    int frames = -1, done = -1;
    int rc =
        sqlite3_wal_checkpoint_v2(engine_db(e), NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &done);
    walbuf_get_counts(&c1);
    CHECK(rc == SQLITE_OK && done > 0, "checkpoint copied %d of %d frames", done, frames);
    CHECK(c1.synced > c0.synced && c1.deferred == c0.deferred,
          "a checkpoint syncs the WAL itself before copying (synced %llu -> %llu)",
          (unsigned long long)c0.synced, (unsigned long long)c1.synced);

    CHECK(sqlite3_wal_checkpoint_v2(engine_db(e), NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) ==
              SQLITE_OK,
          "truncate the log");
    walbuf_get_counts(&c0);
    CHECK(commit_one(e, &err), "commit into a new log: %s", err.message);
    walbuf_get_counts(&c1);
    /* SQLite syncs the new header before the frames; the commit's own
     * sync after them is deferred as usual */
    CHECK(c1.synced == c0.synced + 1 && c1.deferred == c0.deferred + 1,
          "a log started over syncs its new header at once (synced %llu -> %llu, deferred "
          "%llu -> %llu)",
          (unsigned long long)c0.synced, (unsigned long long)c1.synced,
          (unsigned long long)c0.deferred, (unsigned long long)c1.deferred);
    CHECK(int_query(e, "SELECT count(*) FROM pipet") == 4, "every row kept");

    /* the server unhooks before it frees the callback's argument */
    engine_pipeline_unhook(e);
    int calls = __atomic_load_n(&synced_calls, __ATOMIC_RELAXED);
    CHECK(commit_one(e, &err) && engine_sync(e, &err) == 0, "commit after unhook: %s", err.message);
    CHECK(__atomic_load_n(&synced_calls, __ATOMIC_RELAXED) == calls,
          "no callback after engine_pipeline_unhook");
    engine_close(e);
}

/* Issue 14: master_cache.c keeps products, stores and customers read
 * within a transaction. Whatever changes them must show at once: a write on the
 * same connection (the update hook), a savepoint rolled back, and another
 * connection's write before the next transaction. */
static void test_master_cache(void)
{
    engine *e = open_db();
    if (!e) return;
    err_t err = {0};
    sqlite3 *db = engine_db(e);
    sqlite3_exec(db,
                 "INSERT OR REPLACE INTO products(item, name, price) VALUES('MC1', 'Lamp', 100);"
                 "INSERT OR REPLACE INTO stores(id, name, currency) VALUES('MCS', 'Mall', 'EUR')",
                 NULL, NULL, NULL);
    master_product p;
    master_store st;
    CHECK(engine_begin(e, &err) == 0, "begin: %s", err.message);
    CHECK(master_product_get(e, "MC1", &p, &err) == 0 && p.price == 100, "read: %lld",
          (long long)p.price);
    CHECK(master_product_get(e, "MC1", &p, &err) == 0 && p.price == 100, "read again");
    sqlite3_exec(db, "UPDATE products SET price = 200 WHERE item = 'MC1'", NULL, NULL, NULL);
    CHECK(master_product_get(e, "MC1", &p, &err) == 0 && p.price == 200,
          "a write in the transaction shows: %lld", (long long)p.price);
    CHECK(engine_savepoint(e, ENGINE_SP_REQUEST, &err) == 0, "savepoint");
    sqlite3_exec(db, "UPDATE products SET price = 300 WHERE item = 'MC1'", NULL, NULL, NULL);
    CHECK(master_product_get(e, "MC1", &p, &err) == 0 && p.price == 300, "inside the savepoint");
    engine_savepoint_end(e, ENGINE_SP_REQUEST, false);
    CHECK(master_product_get(e, "MC1", &p, &err) == 0 && p.price == 200,
          "the rolled-back write is gone: %lld", (long long)p.price);
    CHECK(master_store_get(e, "MCS", &st, &err) == 0 && !strcmp(st.name, "Mall"), "store");
    sqlite3_exec(db,
                 "INSERT OR REPLACE INTO stores(id, name, currency) VALUES('MCS', 'Plaza', 'EUR')",
                 NULL, NULL, NULL);
    CHECK(master_store_get(e, "MCS", &st, &err) == 0 && !strcmp(st.name, "Plaza"),
          "a replaced store row shows: %s", st.name);
    sqlite3_exec(db, "DELETE FROM products WHERE item = 'MC1'", NULL, NULL, NULL);
    CHECK(master_product_get(e, "MC1", &p, &err) < 0 && err.code == ERR_NOT_FOUND,
          "a deleted product is gone");
    sqlite3_exec(db, "INSERT INTO products(item, name, price) VALUES('MC1', 'Lamp', 250)", NULL,
                 NULL, NULL);
    CHECK(master_product_get(e, "MC1", &p, &err) == 0 && p.price == 250, "read");
    sqlite3_exec(db, "INSERT OR REPLACE INTO customers(account, name, b2b) VALUES('MCC', 'Ann', 0)",
                 NULL, NULL, NULL);
    json_t *brief = master_customer_brief(e, "MCC", &err);
    CHECK(brief && json_is_false(json_object_get(brief, "b2b")), "customer brief");
    json_decref(brief);
    sqlite3_exec(db, "UPDATE customers SET b2b = 1, name = 'Ann B' WHERE account = 'MCC'", NULL,
                 NULL, NULL);
    brief = master_customer_brief(e, "MCC", &err);
    CHECK(brief && json_is_true(json_object_get(brief, "b2b")) &&
              !strcmp(json_string_value(json_object_get(brief, "name")), "Ann B"),
          "a changed customer shows");
    json_decref(brief);
    CHECK(engine_commit(e, &err) == 0, "commit: %s", err.message);
    sqlite3 *other;
    CHECK(sqlite3_open(db_path, &other) == SQLITE_OK, "second connection");
    sqlite3_busy_timeout(other, 2000);
    CHECK(sqlite3_exec(other, "UPDATE products SET price = 400 WHERE item = 'MC1'", NULL, NULL,
                       NULL) == SQLITE_OK,
          "another connection writes");
    sqlite3_close(other);
    CHECK(engine_begin(e, &err) == 0, "begin");
    CHECK(master_product_get(e, "MC1", &p, &err) == 0 && p.price == 400,
          "another connection's write shows in the next transaction: %lld", (long long)p.price);
    engine_rollback(e);
    engine_close(e);
}

/* F12's number index merges a bounded step at every flush (fts.h,
 * FTS_MERGE_SQL) instead of FTS5's automerge, which merged in lumps of 15-26
 * ms inside a COMMIT: the schema turns automerge off, and the steps keep the
 * index's segments few (without them, 120 flushes leave one segment each,
 * up to FTS5's crisis merge at 16 a level) and every number findable. */
static void test_number_index_merges(void)
{
    engine *e = open_db();
    if (!e) return;
    CHECK(int_query(e, "SELECT v FROM order_numbers_config WHERE k = 'automerge'") == 0,
          "automerge off");
    sqlite3_stmt *ins;
    CHECK(sqlite3_prepare_v2(engine_db(e),
                             "WITH RECURSIVE c(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM c"
                             " WHERE i < ?1 + 255) INSERT INTO orders(number, store, type, status,"
                             " created_at, created_date, version, policy_version, doc)"
                             " SELECT printf('M001-%06d', i), 'S001', 'order', 'open',"
                             " '2030-01-01T10:00:00Z', '2030-01-01', 1, 'pv', '{}' FROM c",
                             -1, &ins, NULL) == SQLITE_OK,
          "prepare: %s", sqlite3_errmsg(engine_db(e)));
    err_t err = {0};
    int ok = 1;
    for (int f = 0; f < 120 && ok; f++) { /* 120 flushes of 256 (FTS_PENDING_MAX) */
        ok = engine_begin(e, &err) == 0;
        sqlite3_bind_int(ins, 1, f * 256 + 1);
        ok = ok && sqlite3_step(ins) == SQLITE_DONE;
        sqlite3_reset(ins);
        ok = ok && engine_commit(e, &err) == 0; /* flushes the 256 waiting numbers */
    }
    sqlite3_finalize(ins);
    CHECK(ok, "flushes: %s %s", err.message, sqlite3_errmsg(engine_db(e)));
    CHECK(int_query(e, "SELECT count(*) FROM order_numbers_pending") == 0, "all indexed");
    int64_t segs = int_query(e, "SELECT count(DISTINCT segid) FROM order_numbers_idx");
    CHECK(segs > 0 && segs <= 8, "%lld segments after 120 flushes", (long long)segs);
    /* a trigram index answers trigrams (detail=none): the order's row among them */
    CHECK(int_query(e, "SELECT count(*) FROM order_numbers WHERE order_numbers MATCH"
                       " '\"M00\" AND \"1-0\" AND \"001\"' AND rowid ="
                       " (SELECT rowid FROM orders WHERE number = 'M001-000001')") == 1,
          "the first number found");
    CHECK(int_query(e, "SELECT count(*) FROM order_numbers WHERE order_numbers MATCH"
                       " '\"307\" AND \"072\" AND \"720\"' AND rowid ="
                       " (SELECT rowid FROM orders WHERE number = 'M001-030720')") == 1,
          "the last number found");
    sqlite3_exec(engine_db(e), "DELETE FROM orders WHERE number LIKE 'M001-%'", NULL, NULL, NULL);
    engine_close(e);
}

/* Schema 14: order_pickups has no index on the number; a change to an
 * order's pickups or its deletion removes exactly its rows, found by key
 * from the pairs the row held, and leaves another order's same pair. */
static void test_pickups_by_key(void)
{
    engine *e = open_db();
    if (!e) return;
    CHECK(int_query(e, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                       " AND tbl_name = 'order_pickups' AND sql IS NOT NULL") == 0,
          "order_pickups: its key only");
    static const char *const setup =
        "INSERT INTO orders(number, store, type, status, created_at, created_date, version,"
        " policy_version, doc, pickups) VALUES"
        " ('K001-000001', 'S001', 'order', 'open', '2030-01-01T10:00:00Z', '2030-01-01', 1, 'pv',"
        " '{}', '[[\"S002\",\"2030-01-05\"],[\"S003\",\"2030-01-06\"]]'),"
        " ('K001-000002', 'S001', 'order', 'open', '2030-01-01T10:00:00Z', '2030-01-01', 1, 'pv',"
        " '{}', '[[\"S002\",\"2030-01-05\"]]');"
        "INSERT INTO order_pickups(store, date, number) VALUES ('S002', '2030-01-05', "
        "'K001-000001'),"
        " ('S003', '2030-01-06', 'K001-000001'), ('S002', '2030-01-05', 'K001-000002');"
        "UPDATE orders SET pickups = '[[\"S003\",\"2030-01-09\"]]' WHERE number = 'K001-000001';";
    char *msg = NULL;
    CHECK(sqlite3_exec(engine_db(e), setup, NULL, NULL, &msg) == SQLITE_OK, "setup: %s",
          msg ? msg : "");
    sqlite3_free(msg);
    CHECK(int_query(e, "SELECT count(*) FROM order_pickups WHERE number = 'K001-000001'") == 1 &&
              int_query(e, "SELECT count(*) FROM order_pickups WHERE number = 'K001-000001'"
                           " AND store = 'S003' AND date = '2030-01-09'") == 1,
          "a change: the new pair only");
    CHECK(int_query(e, "SELECT count(*) FROM order_pickups WHERE number = 'K001-000002'") == 1,
          "the other order's same pair stays");
    sqlite3_exec(engine_db(e), "DELETE FROM orders WHERE number = 'K001-000001'", NULL, NULL, NULL);
    CHECK(int_query(e, "SELECT count(*) FROM order_pickups WHERE number = 'K001-000001'") == 0,
          "a deleted order: none");
    CHECK(int_query(e, "SELECT count(*) FROM order_pickups WHERE number = 'K001-000002'") == 1,
          "the other order's still");
    sqlite3_exec(engine_db(e), "DELETE FROM orders WHERE number LIKE 'K001-%'", NULL, NULL, NULL);
    CHECK(int_query(e, "SELECT count(*) FROM order_pickups WHERE number LIKE 'K001-%'") == 0,
          "all gone");
    engine_close(e);
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/corder-test-store-%d.db", (int)getpid());
    test_migrations();
    test_page_size();
    test_seed_idempotent();
    test_lockout();
    test_dates();
    test_till();
    test_txcache();
    test_txcache_nesting();
    test_big_savepoint();
    test_wal_restarts(4096);
    test_wal_restarts(1024);
    test_master_cache();
    test_pipeline();
    test_number_index_merges();
    test_pickups_by_key();
    remove_store(db_path);
    return T_DONE();
}

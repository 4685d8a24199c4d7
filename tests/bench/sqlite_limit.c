/* sqlite_limit.c: the storage limit of the order.create workload.
 *
 * What one order.create leaves in the store, written straight into SQLite
 * by a C loop with the engine's durability (WAL, synchronous=FULL, the same
 * schema and indexes): bump the store's counter, insert the order row, its
 * outbox event and its log entry, BATCH orders per COMMIT the way the group
 * commit shares one fsync. The rows are copies of one that corder wrote
 * (taken from SRC_DB), so sizes match. No JSON, no policy, no network: the
 * rate is what the disk and SQLite allow, the ceiling for corder.
 * Prints: limit_orders_per_s=... batch=... n=... limit_wal_bytes_per_order=...
 * (WAL frames written per order, counted by a WAL hook that also does the
 * default auto-checkpoint's job). --no-find-index drops the triggers that
 * keep F12's search indexes, for the cost of those alone. --bare drops
 * every index and trigger a table's own key does not need (what is left:
 * the order-number key, the counters' key, the log's and the outbox's
 * rowids): the WAL those rows alone cost, whatever the indexes, which is
 * the floor of any layout that keeps them. --page N makes the new file
 * with pages of N bytes instead of the engine's 4 KiB. --shrink PCT cuts
 * the document and the log entry's request, decisions and result to PCT %
 * of their length (no longer JSON, the same to SQLite): how small the rows
 * would have to be for a WAL target.
 * Usage: sqlite_limit SRC_DB DST_DB N BATCH [--no-find-index] [--bare] [--page N]
 *        [--shrink PCT] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "model/err.h"
#include "store/engine.h"
#include "store/fts.h"
#include "store/schema.h"
#include "store/walbuf.h"

/* WAL frames appended, summed over commits; a checkpoint at 1000 pages,
 * as SQLite's default hook would. */
static long long wal_frames;
static int wal_last;
static int wal_count(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)arg;
    wal_frames += pages >= wal_last ? pages - wal_last : pages;
    wal_last = pages;
    if (pages >= 1000) sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

static void fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "sqlite_limit: %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        fail(db, sql);
    return st;
}

static void step(sqlite3 *db, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE) fail(db, sqlite3_sql(st));
    sqlite3_reset(st);
}

/* --bare: every index and trigger the schema made, but for the keys a
 * table needs (SQLite's own autoindexes, which DROP cannot take). */
static void drop_extras(sqlite3 *db)
{
    sqlite3_stmt *q = prep(db, "SELECT type, name FROM sqlite_master WHERE type IN"
                               " ('index', 'trigger') AND sql IS NOT NULL");
    char drops[8192] = "";
    size_t used = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        int n = snprintf(drops + used, sizeof drops - used, "DROP %s \"%s\";",
                         (const char *)sqlite3_column_text(q, 0),
                         (const char *)sqlite3_column_text(q, 1));
        if (n < 0 || (size_t)n >= sizeof drops - used) fail(db, "too many indexes to drop");
        used += (size_t)n;
    }
    sqlite3_finalize(q);
    if (sqlite3_exec(db, drops, NULL, NULL, NULL) != SQLITE_OK) fail(db, drops);
}

static char *col(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return strdup(t ? t : "");
}

int main(int argc, char **argv)
{
    bool no_find = false, bare = false, bad = argc < 5;
    long page = 0, shrink = 100;
    for (int i = 5; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--no-find-index"))
            no_find = true;
        else if (!strcmp(argv[i], "--bare"))
            no_find = bare = true;
        else if (!strcmp(argv[i], "--page") && i + 1 < argc)
            page = atol(argv[++i]);
        else if (!strcmp(argv[i], "--shrink") && i + 1 < argc)
            shrink = atol(argv[++i]);
        else
            bad = true;
    }
    if (bad || (page && (page < 512 || page > 65536 || (page & (page - 1)))) || shrink < 1 ||
        shrink > 100) {
        fprintf(stderr, "usage: sqlite_limit SRC_DB DST_DB N BATCH [--no-find-index] [--bare]"
                        " [--page N] [--shrink PCT]\n");
        return 2;
    }
    long n = atol(argv[3]), batch = atol(argv[4]);
    sqlite3 *src, *db = NULL;
    engine_tune_sqlite(); /* the engine's process-wide settings (statement journals) */
    if (sqlite3_open_v2(argv[1], &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) fail(src, argv[1]);
    sqlite3_stmt *q =
        prep(src, "SELECT o.doc, o.policy_version, t.request, t.decisions,"
                  " t.result, x.payload, o.pickups, c.name, c.email, c.phone, x.version"
                  " FROM orders o LEFT JOIN customers c ON c.account = o.customer"
                  " JOIN txlog t ON"
                  " t.order_number = o.number JOIN outbox x ON"
                  " x.order_number = o.number ORDER BY o.number DESC LIMIT 1");
    if (sqlite3_step(q) != SQLITE_ROW) fail(src, "no order in the source database");
    char *doc = col(q, 0), *pv = col(q, 1), *req = col(q, 2), *dec = col(q, 3), *res = col(q, 4),
         *payload = col(q, 5), *pickups = col(q, 6), *cname = col(q, 7), *cmail = col(q, 8),
         *cphone = col(q, 9);
    /* the event names its order's version (payload NULL) or, from an older
     * store, carries the document */
    sqlite3_int64 version = sqlite3_column_int64(q, 10);
    char *cut[] = {doc, req, dec, res};
    for (size_t i = 0; i < sizeof cut / sizeof *cut; i++)
        cut[i][strlen(cut[i]) * (size_t)shrink / 100] = '\0';
    sqlite3_finalize(q);
    sqlite3_close(src);

    unlink(argv[2]);
    /* through the engine's VFS (walbuf.c: a commit's WAL frames in one
     * write), so that the limit writes the way corder does */
    if (walbuf_register() != SQLITE_OK ||
        sqlite3_open_v2(argv[2], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, WALBUF_VFS) !=
            SQLITE_OK)
        fail(db, argv[2]);
    err_t err = {0};
    /* engine_pragmas gives the new file 4 KiB pages and WAL mode, in which
     * the page size is fixed: --page changes it the way docs/operations.md
     * tells an operator to (out of WAL mode, VACUUM, back) */
    char sql[160];
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode=DELETE; PRAGMA page_size=%ld; VACUUM;"
             " PRAGMA journal_mode=WAL;",
             page);
    /* the engine's pragmas (engine.c), and its statement journals
     * (engine_tune_sqlite): a statement whose triggers may fail journals
     * its pages, in a temp file per statement without them (measured: 40
     * us an order) */
    if (engine_pragmas(db, &err) < 0) fail(db, err.message[0] ? err.message : "setup");
    if (page && sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) fail(db, sql);
    if (schema_migrate(db, &err) < 0) fail(db, err.message[0] ? err.message : "setup");
    if (bare) drop_extras(db);
    if (no_find && !bare &&
        sqlite3_exec(db, "DROP TRIGGER orders_found_new; DROP TRIGGER orders_found_pickups;", NULL,
                     NULL, NULL) != SQLITE_OK)
        fail(db, "drop the find triggers");
    /* the order's customer, so that its search text is the real one */
    sqlite3_stmt *cust = prep(db, "INSERT INTO customers(account, name, email, phone)"
                                  " VALUES('C0001', ?, ?, ?)");
    sqlite3_bind_text(cust, 1, cname ? cname : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(cust, 2, cmail, -1, SQLITE_STATIC);
    sqlite3_bind_text(cust, 3, cphone, -1, SQLITE_STATIC);
    step(db, cust);
    sqlite3_finalize(cust);
    sqlite3_wal_hook(db, wal_count, NULL);
    /* a WAL frame is a page and its 24-byte header */
    long page_size = 4096;
    sqlite3_stmt *ps = prep(db, "PRAGMA page_size");
    if (sqlite3_step(ps) == SQLITE_ROW) page_size = sqlite3_column_int(ps, 0);
    sqlite3_finalize(ps);
    sqlite3_stmt *begin = prep(db, "BEGIN IMMEDIATE"), *commit = prep(db, "COMMIT");
    sqlite3_stmt *ctr = prep(db, "INSERT INTO counters(name, value) VALUES('order:S001', 1)"
                                 " ON CONFLICT(name) DO UPDATE SET value = value + 1");
    sqlite3_stmt *ord = prep(db, "INSERT INTO orders(number, store, customer, type, status,"
                                 " created_at, created_date, version, policy_version, doc,"
                                 " pickups) VALUES(?, 'S001', 'C0001', 'order', 'open',"
                                 " '2030-01-01T10:00:00Z', '2030-01-01', 1, ?, ?, ?)");
    sqlite3_stmt *box = prep(db, "INSERT INTO outbox(store, order_number, type, payload,"
                                 " version, created_at) VALUES('S001', ?, 'order.create', ?,"
                                 " ?, '2030-01-01T10:00:00Z')");
    sqlite3_stmt *log = prep(db, "INSERT INTO txlog(at, store, staff, op, order_number,"
                                 " policy_version, request, decisions, result)"
                                 " VALUES('2030-01-01T10:00:00Z', 'S001', '1001',"
                                 " 'order.create', ?, ?, ?, ?, ?)");
    sqlite3_stmt *index_add = prep(db, "INSERT INTO order_numbers(rowid, number) SELECT o.rowid,"
                                       " o.number FROM order_numbers_pending p CROSS JOIN orders o"
                                       " ON o.rowid = p.rowid"),
                 *index_merge = prep(db, FTS_MERGE_SQL),
                 *index_clear = prep(db, "DELETE FROM order_numbers_pending");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long indexed = 0;
    for (long i = 0; i < n;) {
        step(db, begin);
        for (long k = 0; k < batch && i < n; k++, i++) {
            char num[32];
            snprintf(num, sizeof num, "S001-%06ld", i + 1);
            step(db, ctr);
            sqlite3_bind_text(ord, 1, num, -1, SQLITE_STATIC);
            sqlite3_bind_text(ord, 2, pv, -1, SQLITE_STATIC);
            sqlite3_bind_text(ord, 3, doc, -1, SQLITE_STATIC);
            sqlite3_bind_text(ord, 4, *pickups ? pickups : NULL, -1, SQLITE_STATIC);
            step(db, ord);
            sqlite3_bind_text(box, 1, num, -1, SQLITE_STATIC);
            sqlite3_bind_text(box, 2, *payload ? payload : NULL, -1, SQLITE_STATIC);
            sqlite3_bind_int64(box, 3, version);
            step(db, box);
            sqlite3_bind_text(log, 1, num, -1, SQLITE_STATIC);
            sqlite3_bind_text(log, 2, pv, -1, SQLITE_STATIC);
            sqlite3_bind_text(log, 3, req, -1, SQLITE_STATIC);
            sqlite3_bind_text(log, 4, dec, -1, SQLITE_STATIC);
            sqlite3_bind_text(log, 5, res, -1, SQLITE_STATIC);
            step(db, log);
        }
        /* the waiting numbers into the number index once FTS_PENDING_MAX
         * wait, as engine_commit does (fts.h) */
        if (!no_find && i - indexed >= FTS_PENDING_MAX) {
            indexed = i;
            step(db, index_add);
            step(db, index_merge);
            step(db, index_clear);
        }
        step(db, commit);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("limit_orders_per_s=%.0f batch=%ld n=%ld limit_wal_bytes_per_order=%.0f\n",
           (double)n / secs, batch, n, (double)wal_frames * (page_size + 24) / (double)n);
    sqlite3_stmt *all[] = {begin, commit, ctr, ord, box, log, index_add, index_merge, index_clear};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(db);
    free(doc), free(pv), free(req), free(dec), free(res), free(payload), free(pickups);
    free(cname), free(cmail), free(cphone);
    return 0;
}

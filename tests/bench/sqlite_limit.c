/* sqlite_limit.c: the storage limit of the order.create workload.
 *
 * What one order.create leaves in the store, written straight into SQLite
 * by a C loop with the engine's durability (WAL, synchronous=FULL, the same
 * schema and indexes): bump the store's counter, insert the order row, its
 * outbox event and its log entry, BATCH orders per COMMIT the way the group
 * commit shares one fsync. The rows are copies of one that corder wrote
 * (taken from SRC_DB), so sizes match. No JSON, no policy, no network: the
 * rate is what the disk and SQLite allow, the ceiling for corder.
 * Prints: limit_orders_per_s=... batch=... n=...
 * Usage: sqlite_limit SRC_DB DST_DB N BATCH */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "model/err.h"
#include "store/schema.h"

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

static char *col(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return strdup(t ? t : "");
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sqlite_limit SRC_DB DST_DB N BATCH\n");
        return 2;
    }
    long n = atol(argv[3]), batch = atol(argv[4]);
    sqlite3 *src, *db;
    if (sqlite3_open_v2(argv[1], &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) fail(src, argv[1]);
    sqlite3_stmt *q = prep(src, "SELECT o.doc, o.policy_version, t.request, t.decisions,"
                                " t.result, x.payload FROM orders o JOIN txlog t ON"
                                " t.order_number = o.number JOIN outbox x ON"
                                " x.order_number = o.number ORDER BY o.number DESC LIMIT 1");
    if (sqlite3_step(q) != SQLITE_ROW) fail(src, "no order in the source database");
    char *doc = col(q, 0), *pv = col(q, 1), *req = col(q, 2), *dec = col(q, 3), *res = col(q, 4),
         *payload = col(q, 5);
    sqlite3_finalize(q);
    sqlite3_close(src);

    unlink(argv[2]);
    if (sqlite3_open(argv[2], &db) != SQLITE_OK) fail(db, argv[2]);
    err_t err = {0};
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL) !=
            SQLITE_OK ||
        schema_migrate(db, &err) < 0)
        fail(db, err.message[0] ? err.message : "setup");
    sqlite3_stmt *begin = prep(db, "BEGIN IMMEDIATE"), *commit = prep(db, "COMMIT");
    sqlite3_stmt *ctr = prep(db, "INSERT INTO counters(name, value) VALUES('order:S001', 1)"
                                 " ON CONFLICT(name) DO UPDATE SET value = value + 1");
    sqlite3_stmt *ord = prep(db, "INSERT INTO orders(number, store, customer, type, status,"
                                 " created_at, created_date, version, policy_version, doc)"
                                 " VALUES(?, 'S001', 'C0001', 'order', 'open',"
                                 " '2030-01-01T10:00:00Z', '2030-01-01', 1, ?, ?)");
    sqlite3_stmt *box = prep(db, "INSERT INTO outbox(store, order_number, type, payload,"
                                 " created_at) VALUES('S001', ?, 'order.create', ?,"
                                 " '2030-01-01T10:00:00Z')");
    sqlite3_stmt *log = prep(db, "INSERT INTO txlog(at, store, staff, op, order_number,"
                                 " policy_version, request, decisions, result)"
                                 " VALUES('2030-01-01T10:00:00Z', 'S001', '1001',"
                                 " 'order.create', ?, ?, ?, ?, ?)");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n;) {
        step(db, begin);
        for (long k = 0; k < batch && i < n; k++, i++) {
            char num[32];
            snprintf(num, sizeof num, "S001-%06ld", i + 1);
            step(db, ctr);
            sqlite3_bind_text(ord, 1, num, -1, SQLITE_STATIC);
            sqlite3_bind_text(ord, 2, pv, -1, SQLITE_STATIC);
            sqlite3_bind_text(ord, 3, doc, -1, SQLITE_STATIC);
            step(db, ord);
            sqlite3_bind_text(box, 1, num, -1, SQLITE_STATIC);
            sqlite3_bind_text(box, 2, payload, -1, SQLITE_STATIC);
            step(db, box);
            sqlite3_bind_text(log, 1, num, -1, SQLITE_STATIC);
            sqlite3_bind_text(log, 2, pv, -1, SQLITE_STATIC);
            sqlite3_bind_text(log, 3, req, -1, SQLITE_STATIC);
            sqlite3_bind_text(log, 4, dec, -1, SQLITE_STATIC);
            sqlite3_bind_text(log, 5, res, -1, SQLITE_STATIC);
            step(db, log);
        }
        step(db, commit);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("limit_orders_per_s=%.0f batch=%ld n=%ld\n", (double)n / secs, batch, n);
    sqlite3_stmt *all[] = {begin, commit, ctr, ord, box, log};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(db);
    free(doc), free(pv), free(req), free(dec), free(res), free(payload);
    return 0;
}

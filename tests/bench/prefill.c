/* prefill.c: puts N orders into a store fast, for the scaling runs.
 *
 * The first order goes through the real engine (dispatch_line, the same
 * path as a client's order.create), so its row, log entry and outbox event
 * are exactly what corder writes. The other N-1 are copies of those three
 * rows under the next numbers, inserted by SQL in transactions of 100,000,
 * and the store's order counter is moved past them, so a server started on
 * the file goes on numbering where the copies end.
 * With --engine all N go through dispatch_line, 500 per transaction, and
 * the CPU cost of one order.create in the engine is printed (us_per_order):
 * the figure to profile (perf record / valgrind --tool=callgrind prefill …).
 * With --customers K, K customers B000000… are added first (made-up names,
 * emails and phones; see find_bench.c) and the copies are spread over them,
 * for the search figure (F12): a store of 1,000,000 orders and 100,000
 * customers.
 * Usage: prefill DB N POLICIES_DIR [--engine | --customers K]
 * (DB made by `corder init`) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/dispatch.h"
#include "store/engine.h"
#include "store/fts.h"
#include "host/policy_lua.h"

#define CHUNK 100000

static void fail(const char *what, const char *why)
{
    fprintf(stderr, "prefill: %s: %s\n", what, why);
    exit(1);
}

static json_t *run(engine *e, session *s, const char *op, int64_t pay)
{
    char ship[11], pick[11], line[1024];
    time_t ts = time(NULL) + 45 * 86400, tp = time(NULL) + 40 * 86400;
    struct tm tm;
    strftime(ship, sizeof ship, "%Y-%m-%d", gmtime_r(&ts, &tm));
    strftime(pick, sizeof pick, "%Y-%m-%d", gmtime_r(&tp, &tm));
    snprintf(line, sizeof line,
             "{\"id\":1,\"op\":\"%s\",\"args\":{\"customer\":\"C0001\",\"lines\":["
             "{\"item\":\"P100\",\"qty\":1,\"delivery\":{\"mode\":\"ship\",\"address\":\"home\","
             "\"date\":\"%s\"}},{\"item\":\"P200\",\"qty\":2,\"delivery\":{\"mode\":\"pickup\","
             "\"store\":\"S002\",\"date\":\"%s\"}},{\"item\":\"P300\",\"qty\":3,\"delivery\":"
             "{\"mode\":\"carryout\"}}],\"payments\":[{\"tender\":\"card\",\"amount\":%lld}]}}",
             op, ship, pick, (long long)pay);
    bool w;
    size_t n;
    json_t *id;
    char *text = dispatch_line_text(e, s, line, strlen(line), &w, &n, &id);
    json_decref(id);
    json_t *r = text ? json_loadb(text, n, 0, NULL) : NULL;
    free(text);
    return r;
}

static long n_customers;

static void exec(sqlite3 *db, const char *sql, long a, long b, const char *num)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) fail(sql, sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    if (num) sqlite3_bind_text(st, 3, num, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 4) sqlite3_bind_int64(st, 4, n_customers);
    if (sqlite3_step(st) != SQLITE_DONE) fail(sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

int main(int argc, char **argv)
{
    long customers = 0;
    if (argc == 6 && !strcmp(argv[4], "--customers")) {
        customers = atol(argv[5]);
        argc = 4;
    }
    if ((argc != 4 && !(argc == 5 && !strcmp(argv[4], "--engine"))) || customers < 0) {
        fprintf(stderr, "usage: prefill DB N POLICIES_DIR [--engine | --customers K]\n");
        return 2;
    }
    long n = atol(argv[2]);
    err_t err = {0};
    engine_config cfg = {.db_path = argv[1], .policies_dir = argv[3], .policy_impl = &policy_lua};
    engine *e = engine_open(&cfg, &err);
    if (!e) fail("open", err.message);
    session s = {
        .signed_in = true, .store = "S001", .staff = "1001", .name = "Ann", .role = "cashier"};
    json_t *r = run(e, &s, "order.preview", 1);
    /* F11: preview answers the order and due_now (older engines: a
     * payment_mismatch carrying details.due) */
    json_t *due = json_object_get(json_object_get(r, "result"), "due_now");
    if (!due) due = json_object_get(json_object_get(json_object_get(r, "error"), "details"), "due");
    if (!json_is_integer(due)) fail("preview", "no amount due");
    int64_t pay = json_integer_value(due);
    json_decref(r);
    r = run(e, &s, "order.create", pay);
    const char *num = json_string_value(json_object_get(json_object_get(r, "result"), "number"));
    if (!num) fail("create", json_dumps(r, 0));
    char first[32];
    snprintf(first, sizeof first, "%s", num);
    long base = atol(strchr(first, '-') + 1);
    json_decref(r);

    sqlite3 *db = engine_db(e);
    if (argc == 5) { /* the engine path for all of them */
        struct timespec t0, t1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        for (long i = 1; i < n; i++) {
            if (i % 500 == 1 && engine_begin(e, &err) < 0) fail("begin", err.message);
            r = run(e, &s, "order.create", pay);
            if (!json_is_true(json_object_get(r, "ok"))) fail("create", json_dumps(r, 0));
            json_decref(r);
            if ((i % 500 == 0 || i == n - 1) && engine_commit(e, &err) < 0)
                fail("commit", err.message);
        }
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
        double us =
            ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3);
        printf("prefill: %ld orders through the engine, us_per_order=%.1f\n", n,
               n > 1 ? us / (double)(n - 1) : 0.0);
        engine_close(e);
        return 0;
    }
    /* Customer k: "Klant k <surname>", klant<k>@mail<k%7>.example and a
     * phone that looks random; find_bench.c searches for them. */
    static const char make_customers[] =
        "WITH RECURSIVE k(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM k WHERE n < ?2 - 1)"
        " INSERT INTO customers(account, name, email, phone, b2b)"
        " SELECT printf('B%06d', n), printf('Klant%06d %s', n, CASE n % 5 WHEN 0 THEN 'de Vries'"
        " WHEN 1 THEN 'Jansen' WHEN 2 THEN 'Bakker' WHEN 3 THEN 'Visser' ELSE 'Smit' END),"
        " printf('klant%06d@mail%d.example', n, n % 7),"
        " printf('+31 6 %04d %04d', (n * 48271) % 10000, (n * 69621 + 17) % 10000), 0 FROM k";
    n_customers = customers;
    if (customers > 0) {
        exec(db, "BEGIN IMMEDIATE", 0, 0, NULL);
        exec(db, make_customers, 0, customers, NULL);
        exec(db, "COMMIT", 0, 0, NULL);
    }
    /* With customers, order n belongs to customer n % K (column and
     * document). */
    static const char copy_orders[] =
        "WITH RECURSIVE k(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM k WHERE n < ?2)"
        " INSERT INTO orders(number, store, customer, type, status, created_at, created_date,"
        " version, policy_version, sync_state, hq_order, sync_error, sync_attempts, doc, pickups)"
        " SELECT printf('S001-%06d', n), store, iif(?4 > 0, printf('B%06d', n % ?4), customer),"
        " type, status, created_at, created_date, version, policy_version, sync_state, hq_order,"
        " sync_error, sync_attempts, iif(?4 > 0, replace(replace(doc, ?3, printf('S001-%06d', n)),"
        " '\"C0001\"', printf('\"B%06d\"', n % ?4)), replace(doc, ?3, printf('S001-%06d', n))),"
        " pickups FROM orders, k WHERE number = ?3";
    static const char copy_pickups[] = /* orders.c writes these for a new order */
        "WITH RECURSIVE k(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM k WHERE n < ?2)"
        " INSERT OR IGNORE INTO order_pickups(store, date, number)"
        " SELECT json_extract(p.value, '$[0]'), json_extract(p.value, '$[1]'),"
        " printf('S001-%06d', n) FROM orders t, json_each(t.pickups) p, k WHERE t.number = ?3";
    static const char copy_txlog[] =
        "WITH RECURSIVE k(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM k WHERE n < ?2)"
        " INSERT INTO txlog(at, store, staff, op, order_number, policy_version, request,"
        " decisions, result) SELECT at, store, staff, op, printf('S001-%06d', n),"
        " policy_version, request, decisions, result FROM txlog, k WHERE order_number = ?3";
    static const char copy_outbox[] =
        "WITH RECURSIVE k(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM k WHERE n < ?2)"
        " INSERT INTO outbox(store, order_number, type, version, created_at)"
        " SELECT store, printf('S001-%06d', n), type, version, created_at"
        " FROM outbox, k WHERE order_number = ?3";
    for (long from = base + 1; from < base + n; from += CHUNK) {
        long to = from + CHUNK - 1 < base + n - 1 ? from + CHUNK - 1 : base + n - 1;
        exec(db, "BEGIN IMMEDIATE", 0, 0, NULL);
        exec(db, copy_orders, from, to, first);
        exec(db, copy_pickups, from, to, first);
        exec(db, copy_txlog, from, to, first);
        exec(db, copy_outbox, from, to, first);
        exec(db, "UPDATE counters SET value = ?2 WHERE name = 'order:S001'", 0, to, NULL);
        if (fts_index_new_orders(e, 1, &err) < 0) fail("number index", err.message);
        /* The merging a live store does over these orders (FTS_MERGE_PAGES
         * per flush of FTS_PENDING_MAX), so that the bench's
         * searches read an index shaped like a store's that grew by
         * itself, not CHUNK-sized segments left unmerged. */
        char merge[128];
        snprintf(merge, sizeof merge,
                 "INSERT INTO order_numbers(order_numbers, rank) VALUES('merge', %ld)",
                 FTS_MERGE_PAGES * (to - from + 1) / FTS_PENDING_MAX + 1);
        exec(db, merge, 0, 0, NULL);
        exec(db, "COMMIT", 0, 0, NULL);
    }
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    engine_close(e);
    printf("prefill: %ld orders (%s and copies)\n", n, first);
    return 0;
}

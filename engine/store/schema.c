/* schema.c: the database layout and its migrations.
 *
 * Master data (stores, staff, customers, addresses, products) is relational.
 * An order is one row: the columns that orders are found by (number, store,
 * customer, status, date) and `doc`, the order document (order.c) as JSON.
 * A flow reads one row, changes the document and writes one row, so every
 * change is a handful of B-tree writes, and the document carries lines,
 * charges, invoices, payments and returns without joins.
 *
 * txlog (txlog.c) and outbox (outbox.c) are append-only and are written in
 * the same transaction as the order row they describe.
 *
 * Migrations are append-only: never edit a shipped one, add the next. */
#include "store/schema.h"

#include <stdio.h>

static const char *const migrations[] = {
    /* 1: master data, orders, the log, the outbox, idempotency keys */
    "CREATE TABLE stores(id TEXT PRIMARY KEY, name TEXT NOT NULL, currency TEXT NOT NULL,"
    " timezone TEXT NOT NULL DEFAULT 'UTC', order_creation TEXT NOT NULL DEFAULT 'async',"
    " policy TEXT NOT NULL DEFAULT 'default');"
    "CREATE TABLE staff(id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,"
    " pin_hash TEXT NOT NULL);"
    "CREATE TABLE staff_stores(staff TEXT NOT NULL REFERENCES staff(id),"
    " store TEXT NOT NULL REFERENCES stores(id), PRIMARY KEY(staff, store)) WITHOUT ROWID;"
    "CREATE TABLE customers(account TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT,"
    " phone TEXT, b2b INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE addresses(account TEXT NOT NULL REFERENCES customers(account),"
    " id TEXT NOT NULL, street TEXT, city TEXT, zip TEXT, country TEXT,"
    " PRIMARY KEY(account, id)) WITHOUT ROWID;"
    "CREATE TABLE products(item TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " price INTEGER NOT NULL CHECK(price >= 0));"
    "CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE orders(number TEXT PRIMARY KEY, store TEXT NOT NULL, customer TEXT,"
    " type TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL,"
    " created_date TEXT NOT NULL, version INTEGER NOT NULL, policy_version TEXT NOT NULL,"
    " sync_state TEXT NOT NULL DEFAULT 'pending', hq_order TEXT, sync_error TEXT,"
    " sync_attempts INTEGER NOT NULL DEFAULT 0, doc TEXT NOT NULL);"
    "CREATE INDEX orders_customer ON orders(customer, created_date);"
    "CREATE INDEX orders_store_status ON orders(store, status, created_date);"
    "CREATE INDEX orders_date ON orders(created_date);"
    "CREATE TABLE txlog(seq INTEGER PRIMARY KEY, at TEXT NOT NULL, store TEXT NOT NULL,"
    " staff TEXT NOT NULL, op TEXT NOT NULL, order_number TEXT,"
    " policy_version TEXT, request TEXT NOT NULL, decisions TEXT NOT NULL,"
    " result TEXT NOT NULL);"
    "CREATE INDEX txlog_order ON txlog(order_number, seq);"
    "CREATE TABLE outbox(seq INTEGER PRIMARY KEY, store TEXT NOT NULL,"
    " order_number TEXT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,"
    " created_at TEXT NOT NULL);"
    "CREATE TABLE idempotency(store TEXT NOT NULL, key TEXT NOT NULL, op TEXT NOT NULL,"
    " args_hash TEXT NOT NULL, response TEXT NOT NULL, PRIMARY KEY(store, key)) WITHOUT ROWID;",
    /* 2: the uploader's cursor (sync_queue.c): per store, the highest outbox
     * seq HQ acknowledged; the outbox and orders indexes its queries use */
    "CREATE TABLE sync_cursor(store TEXT PRIMARY KEY, acked_seq INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, last_ok_at TEXT) WITHOUT ROWID;"
    "CREATE INDEX outbox_store ON outbox(store, seq);"
    "CREATE INDEX orders_sync ON orders(store, sync_state);",
    /* 3: the sign-in lockout, exact per staff id and kept across restarts
     * (auth.c, SPEC A6). Idempotency rows written before this version
     * hashed requests with their approval PINs in them: they go. */
    "CREATE TABLE auth_lockout(staff TEXT PRIMARY KEY, failures INTEGER NOT NULL,"
    " locked_until INTEGER NOT NULL) WITHOUT ROWID;"
    "DELETE FROM idempotency;",
    /* 4: events the uploader set aside (sync_queue.c): they could not be
     * sent (too big, unreadable) or HQ refused them for good, and the later
     * events of the same order held behind them; sync.retry sends them
     * again */
    "CREATE TABLE sync_quarantine(seq INTEGER PRIMARY KEY, store TEXT NOT NULL,"
    " order_number TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL,"
    " held_behind INTEGER, at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1,"
    " retry INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX sync_quarantine_order ON sync_quarantine(store, order_number, seq);",
    /* 5: reason codes (SPEC R4), per kind (return, cancel, hold): a kind
     * with rows accepts only those codes; a kind without any, any code. */
    "CREATE TABLE reason_codes(kind TEXT NOT NULL, code TEXT NOT NULL,"
    " PRIMARY KEY(kind, code)) WITHOUT ROWID;",
    /* 6: the till's day (SPEC R3, till.c): per store, business day and
     * tender, money received and refunded with counts */
    "CREATE TABLE till(store TEXT NOT NULL, day TEXT NOT NULL, tender TEXT NOT NULL,"
    " received INTEGER NOT NULL DEFAULT 0, refunded INTEGER NOT NULL DEFAULT 0,"
    " payments INTEGER NOT NULL DEFAULT 0, refunds INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(store, day, tender)) WITHOUT ROWID;",
};

int schema_version(void)
{
    return (int)(sizeof migrations / sizeof migrations[0]);
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

int schema_migrate(sqlite3 *db, err_t *err)
{
    int v = user_version(db);
    if (v < 0) return err_set(err, ERR_INTERNAL, "schema: %s", sqlite3_errmsg(db));
    if (v > schema_version())
        return err_set(err, ERR_INTERNAL,
                       "schema: database is version %d, this corder knows up to %d", v,
                       schema_version());
    for (; v < schema_version(); v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version=%d", v + 1);
        char *msg = NULL;
        /* Static text, no parameters: exec is the prepared path here. */
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, bump, NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
            err_set(err, ERR_INTERNAL, "schema: migration %d failed: %s", v + 1,
                    msg ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    return v;
}

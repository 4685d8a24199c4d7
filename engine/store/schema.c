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

#include "store/outbox.h"

#include <stdio.h>

/* The search text of migrations 6 and 7 (SPEC F12), written once here because the FTS
 * tables are contentless: a row can only be taken out of the index with
 * exactly the text it went in with, so every trigger computes it the same
 * way. A phone is indexed without its separators (" -.()+/"), so that
 * "612 34" finds "+33 6 12 34 56 78"; orders.c and master.c check a match
 * against the same key. */
#define PHONE_KEY(p)                                                                               \
    "replace(replace(replace(replace(replace(replace(replace(coalesce(" p                          \
    ",''),' ',''),'-',''),'.',''),'(',''),')',''),'+',''),'/','')"
#define ORDER_TEXT(number, c)                                                                      \
    number " || ' ' || coalesce(" c ".name,'') || ' ' || coalesce(" c                              \
           ".email,'') || ' ' || " PHONE_KEY(c ".phone")
#define CUSTOMER_TEXT(c)                                                                           \
    c ".account || ' ' || " c ".name || ' ' || coalesce(" c                                        \
      ".email,'') || ' ' || " PHONE_KEY(c ".phone")
#define ORDER_PICKUPS(o)                                                                           \
    "INSERT OR IGNORE INTO order_pickups(store, date, number) SELECT json_extract(value, '$[0]')," \
    " json_extract(value, '$[1]'), " o ".number FROM json_each(" o ".pickups);"
/* The rows ORDER_PICKUPS(o) wrote, found by their key: the pairs of the
 * same o.pickups (the rows are only ever written from it, or from the same
 * pairs by orders.c), so no index on the number is needed to delete them. */
#define ORDER_PICKUPS_GONE(o)                                                                      \
    "DELETE FROM order_pickups WHERE (store, date, number) IN (SELECT"                             \
    " json_extract(value, '$[0]'), json_extract(value, '$[1]'), " o ".number FROM json_each(" o    \
    ".pickups));"

/* The migrations read best as SQL laid out by hand. */
// clang-format off
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
    /* 6: finding (SPEC F12). order_search and customer_search are FTS5
     * trigram indexes (any part of a text, case-insensitive), contentless
     * and without positions (detail=none) to keep the bytes written per
     * order small; kept by triggers, so every path that writes an order or
     * a customer (flows, seed, prefill's SQL copies) keeps them. An order's
     * text is its number and its customer's current name, email and phone
     * key: a customer whose data changes is re-indexed with its orders.
     * orders.pickups is the order's pickup (store, date) pairs as JSON,
     * written by orders.c; order_pickups is its index. */
    "ALTER TABLE orders ADD COLUMN pickups TEXT;"
    "CREATE TABLE order_pickups(store TEXT NOT NULL, date TEXT NOT NULL, number TEXT NOT NULL,"
    " PRIMARY KEY(store, date, number)) WITHOUT ROWID;"
    "CREATE INDEX order_pickups_number ON order_pickups(number);"
    "CREATE VIRTUAL TABLE order_search USING fts5(text, content='', tokenize='trigram',"
    " detail=none, columnsize=0);"
    "CREATE VIRTUAL TABLE customer_search USING fts5(text, content='', tokenize='trigram',"
    " detail=none, columnsize=0);"
    "CREATE TRIGGER orders_found_new AFTER INSERT ON orders BEGIN"
    " INSERT INTO order_search(rowid, text) SELECT new.rowid, " ORDER_TEXT("new.number", "c")
    " FROM (SELECT 1) LEFT JOIN customers c ON c.account = new.customer; "
    ORDER_PICKUPS("new") " END;"
    "CREATE TRIGGER orders_found_customer AFTER UPDATE OF customer ON orders"
    " WHEN old.customer IS NOT new.customer BEGIN"
    " INSERT INTO order_search(order_search, rowid, text) SELECT 'delete', old.rowid, "
    ORDER_TEXT("old.number", "c") " FROM (SELECT 1) LEFT JOIN customers c ON c.account ="
    " old.customer;"
    " INSERT INTO order_search(rowid, text) SELECT new.rowid, " ORDER_TEXT("new.number", "c")
    " FROM (SELECT 1) LEFT JOIN customers c ON c.account = new.customer; END;"
    "CREATE TRIGGER orders_found_pickups AFTER UPDATE OF pickups ON orders"
    " WHEN old.pickups IS NOT new.pickups BEGIN"
    " DELETE FROM order_pickups WHERE number = old.number; " ORDER_PICKUPS("new") " END;"
    "CREATE TRIGGER orders_found_gone AFTER DELETE ON orders BEGIN"
    " INSERT INTO order_search(order_search, rowid, text) SELECT 'delete', old.rowid, "
    ORDER_TEXT("old.number", "c") " FROM (SELECT 1) LEFT JOIN customers c ON c.account ="
    " old.customer;"
    " DELETE FROM order_pickups WHERE number = old.number; END;"
    "CREATE TRIGGER customers_found_new AFTER INSERT ON customers BEGIN"
    " INSERT INTO customer_search(rowid, text) VALUES(new.rowid, " CUSTOMER_TEXT("new") "); END;"
    "CREATE TRIGGER customers_found_change AFTER UPDATE OF account, name, email, phone"
    " ON customers BEGIN"
    " INSERT INTO customer_search(customer_search, rowid, text) VALUES('delete', old.rowid, "
    CUSTOMER_TEXT("old") ");"
    " INSERT INTO customer_search(rowid, text) VALUES(new.rowid, " CUSTOMER_TEXT("new") ");"
    " INSERT INTO order_search(order_search, rowid, text) SELECT 'delete', o.rowid, "
    ORDER_TEXT("o.number", "old") " FROM orders o WHERE o.customer = old.account;"
    " INSERT INTO order_search(rowid, text) SELECT o.rowid, " ORDER_TEXT("o.number", "new")
    " FROM orders o WHERE o.customer = new.account; END;"
    "CREATE TRIGGER customers_found_gone AFTER DELETE ON customers BEGIN"
    " INSERT INTO customer_search(customer_search, rowid, text) VALUES('delete', old.rowid, "
    CUSTOMER_TEXT("old") "); END;"
    /* the rows already there */
    "INSERT INTO customer_search(rowid, text) SELECT c.rowid, " CUSTOMER_TEXT("c")
    " FROM customers c;"
    "INSERT INTO order_search(rowid, text) SELECT o.rowid, " ORDER_TEXT("o.number", "c")
    " FROM orders o LEFT JOIN customers c ON c.account = o.customer;"
    "UPDATE orders SET pickups = (SELECT json_group_array(json_array(s, d)) FROM"
    " (SELECT DISTINCT json_extract(value, '$.delivery.store') AS s,"
    " json_extract(value, '$.delivery.date') AS d FROM json_each(orders.doc, '$.lines')"
    " WHERE json_extract(value, '$.delivery.mode') = 'pickup'"
    " AND json_extract(value, '$.qty_cancelled') < json_extract(value, '$.qty') ORDER BY s, d)"
    " HAVING count(*) > 0);",
    /* 7: the till's day (SPEC R3, till.c): per store, business day and
     * tender, money received and refunded with counts */
    "CREATE TABLE till(store TEXT NOT NULL, day TEXT NOT NULL, tender TEXT NOT NULL,"
    " received INTEGER NOT NULL DEFAULT 0, refunded INTEGER NOT NULL DEFAULT 0,"
    " payments INTEGER NOT NULL DEFAULT 0, refunds INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(store, day, tender)) WITHOUT ROWID;",
    /* 8: finding, cheap to keep (SPEC F12). An order indexes only what is
     * its own: its number, in order_numbers (FTS5 trigram, contentless,
     * detail=none), a dozen trigrams that a batch of consecutive numbers
     * mostly shares. Orders are found by name, email or phone through
     * customer_search (customers are few and change rarely), then by
     * orders_customer (orders.c), so a customer's change re-indexes no
     * order and order_search, with its triggers, goes. */
    "DROP TRIGGER orders_found_new;"
    "DROP TRIGGER orders_found_customer;"
    "DROP TRIGGER orders_found_gone;"
    "DROP TRIGGER customers_found_change;"
    "DROP TABLE order_search;"
    "CREATE VIRTUAL TABLE order_numbers USING fts5(number, content='', tokenize='trigram',"
    " detail=none, columnsize=0);"
    "CREATE TRIGGER orders_found_new AFTER INSERT ON orders BEGIN"
    " INSERT INTO order_numbers(rowid, number) VALUES(new.rowid, new.number); "
    ORDER_PICKUPS("new") " END;"
    /* numbers never change; should one ever, the index follows */
    "CREATE TRIGGER orders_found_renumber AFTER UPDATE OF number ON orders"
    " WHEN old.number IS NOT new.number BEGIN"
    " INSERT INTO order_numbers(order_numbers, rowid, number) VALUES('delete', old.rowid,"
    " old.number);"
    " INSERT INTO order_numbers(rowid, number) VALUES(new.rowid, new.number); END;"
    "CREATE TRIGGER orders_found_gone AFTER DELETE ON orders BEGIN"
    " INSERT INTO order_numbers(order_numbers, rowid, number) VALUES('delete', old.rowid,"
    " old.number);"
    " DELETE FROM order_pickups WHERE number = old.number; END;"
    "CREATE TRIGGER customers_found_change AFTER UPDATE OF account, name, email, phone"
    " ON customers BEGIN"
    " INSERT INTO customer_search(customer_search, rowid, text) VALUES('delete', old.rowid, "
    CUSTOMER_TEXT("old") ");"
    " INSERT INTO customer_search(rowid, text) VALUES(new.rowid, " CUSTOMER_TEXT("new") "); END;"
    /* the orders already there */
    "INSERT INTO order_numbers(rowid, number) SELECT rowid, number FROM orders;",
    /* 9: master data from HQ (SPEC C4, master_sync.c). master_sync is one
     * row: which HQ master data this database follows (source), the
     * version of it applied, the store it signs in to HQ as for it, when
     * HQ last answered with nothing newer (checked_at, epoch seconds: what
     * sync.status's age is counted from), when a page was last applied,
     * and the last refusal. master_outbox: customers created or changed
     * here that HQ has not acknowledged yet (seq: the change, so an ack of
     * an older upload leaves a newer change queued). staff_stores loses its
     * reference to stores: a staff member's stores arrive with the staff
     * record, possibly before a store this database has not heard of yet. */
    "CREATE TABLE master_sync(id INTEGER PRIMARY KEY CHECK(id = 1), source TEXT,"
    " version INTEGER NOT NULL DEFAULT 0, store TEXT, checked_at INTEGER, applied_at INTEGER,"
    " error TEXT);"
    "INSERT INTO master_sync(id) VALUES(1);"
    "CREATE TABLE master_outbox(account TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE staff_stores_new(staff TEXT NOT NULL REFERENCES staff(id),"
    " store TEXT NOT NULL, PRIMARY KEY(staff, store)) WITHOUT ROWID;"
    "INSERT INTO staff_stores_new(staff, store) SELECT staff, store FROM staff_stores;"
    "DROP TABLE staff_stores;"
    "ALTER TABLE staff_stores_new RENAME TO staff_stores;",
    /* 10: one owner per order (SPEC C5). owner: the store that may change
     * the order, NULL for the store that made it (most orders); its events
     * go up to HQ under the owner, and the uploader asks HQ about it as the
     * owner. read_only: 1 when the owner is another store's server (the
     * order was claimed away, sync_agent.c keeps the copy current); this
     * server then refuses every change of it. */
    "ALTER TABLE orders ADD COLUMN owner TEXT;"
    "ALTER TABLE orders ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX orders_owner ON orders(owner) WHERE owner IS NOT NULL;",
    /* 11: one copy of an order's document per version. The outbox event
     * names the version it announces instead of carrying a second copy
     * (payload NULL: the document of order_number at version, read when
     * the event is sent); an order's superseded versions move to
     * order_docs, so every version an event or a log entry names can be
     * read back. Events written before keep their payload. */
    "CREATE TABLE order_docs(number TEXT NOT NULL, version INTEGER NOT NULL,"
    " doc TEXT NOT NULL, PRIMARY KEY(number, version)) WITHOUT ROWID;"
    "CREATE TABLE outbox_v11(seq INTEGER PRIMARY KEY, store TEXT NOT NULL,"
    " order_number TEXT NOT NULL, type TEXT NOT NULL, version INTEGER, payload TEXT,"
    " created_at TEXT NOT NULL, CHECK(payload IS NOT NULL OR version IS NOT NULL));"
    "INSERT INTO outbox_v11(seq, store, order_number, type, payload, created_at)"
    " SELECT seq, store, order_number, type, payload, created_at FROM outbox;"
    "DROP TABLE outbox;"
    "ALTER TABLE outbox_v11 RENAME TO outbox;"
    "CREATE INDEX outbox_store ON outbox(store, seq);"
    /* every event with the document it carries, for people and tests
     * reading the queue (the uploader's own queries say the same) */
    "CREATE VIEW outbox_events AS SELECT seq, store, order_number, type, version,"
    " " OUTBOX_PAYLOAD("outbox") " AS payload, created_at FROM outbox;"
    /* A new order's number enters order_numbers once per batch, not once
     * per request (fts.c: FTS5 writes out its pending terms at every
     * savepoint, and each request runs in one, so a number per request
     * made a tiny index segment per order, merged again and again). Until
     * then its rowid waits in order_numbers_pending, which a search
     * reads too. */
    "CREATE TABLE order_numbers_pending(rowid INTEGER PRIMARY KEY);"
    "DROP TRIGGER orders_found_new;"
    "DROP TRIGGER orders_found_renumber;"
    "DROP TRIGGER orders_found_gone;"
    "CREATE TRIGGER orders_found_new AFTER INSERT ON orders BEGIN"
    " INSERT INTO order_numbers_pending(rowid) VALUES(new.rowid); "
    ORDER_PICKUPS("new") " END;"
    "CREATE TRIGGER orders_found_renumber AFTER UPDATE OF number ON orders"
    " WHEN old.number IS NOT new.number"
    " AND old.rowid NOT IN (SELECT rowid FROM order_numbers_pending) BEGIN"
    " INSERT INTO order_numbers(order_numbers, rowid, number) VALUES('delete', old.rowid,"
    " old.number);"
    " INSERT INTO order_numbers_pending(rowid) VALUES(new.rowid); END;"
    "CREATE TRIGGER orders_found_gone AFTER DELETE ON orders BEGIN"
    " INSERT INTO order_numbers(order_numbers, rowid, number) SELECT 'delete', old.rowid,"
    " old.number WHERE old.rowid NOT IN (SELECT rowid FROM order_numbers_pending);"
    " DELETE FROM order_numbers_pending WHERE rowid = old.rowid;"
    " DELETE FROM order_pickups WHERE number = old.number; END;",
    /* 12: a new order's pickup pairs are written by orders.c from the
     * structs at hand, not by this trigger reading them back from the
     * row's JSON; a change's still go through orders_found_pickups. */
    "DROP TRIGGER orders_found_new;"
    "CREATE TRIGGER orders_found_new AFTER INSERT ON orders BEGIN"
    " INSERT INTO order_numbers_pending(rowid) VALUES(new.rowid); END;",
    /* 13: the number index merges its segments a little at every flush
     * (FTS_MERGE_SQL, fts.h), never in FTS5's own lumps. */
    "INSERT INTO order_numbers(order_numbers, rank) VALUES('automerge', 0);",
    /* 14: order_pickups without its index on the number, which every new
     * order with a pickup line paid for (3.5 of a commit's 59 WAL pages,
     * 3 % of an order.create's instructions) only so that a change could
     * delete an order's rows by its number: they are deleted by their key
     * now, from the pairs the row held. A search by pickup store alone
     * reads the pairs of the orders it walks (orders.c). */
    "DROP INDEX order_pickups_number;"
    "DROP TRIGGER orders_found_pickups;"
    "CREATE TRIGGER orders_found_pickups AFTER UPDATE OF pickups ON orders"
    " WHEN old.pickups IS NOT new.pickups BEGIN "
    ORDER_PICKUPS_GONE("old") " " ORDER_PICKUPS("new") " END;"
    "DROP TRIGGER orders_found_gone;"
    "CREATE TRIGGER orders_found_gone AFTER DELETE ON orders BEGIN"
    " INSERT INTO order_numbers(order_numbers, rowid, number) SELECT 'delete', old.rowid,"
    " old.number WHERE old.rowid NOT IN (SELECT rowid FROM order_numbers_pending);"
    " DELETE FROM order_numbers_pending WHERE rowid = old.rowid; "
    ORDER_PICKUPS_GONE("old") " END;",
};
// clang-format on

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

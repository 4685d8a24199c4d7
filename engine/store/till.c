/* till.c: the till's day (SPEC R3).
 *
 * Format: table till, one row per (store, day, tender):
 *   store     the signed-in store that took or gave the money: the drawer
 *             it went through (on an order of another store, A5, not the
 *             order's store)
 *   day       that store's business day, YYYY-MM-DD in its time zone (the
 *             flow's `today`), so a day is midnight to midnight local time,
 *             23 or 25 hours long on daylight-saving days
 *   tender    as the payment or refund names it ("" for none)
 *   received, refunded   sums in minor units; payments, refunds   counts
 * Rows are updated in the same transaction as the order and its log entry
 * (flow_save), so the till always adds up to the payments and refunds of
 * the transaction log. Days before this table existed (migration 7) are
 * not in it. */
#include "store/till.h"

#include <stdio.h>

#include "store/txcache.h"

static int add_checked(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

/* A row of the till: received, refunded, payments, refunds of a store's
 * day for a tender. 1 found, 0 none, -1 error. */
static int row_read(engine *e, const char *store, const char *day, const char *tender,
                    int64_t v[TXC_VALUES], err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT received, refunded, payments, refunds FROM till"
                                   " WHERE store = ? AND day = ? AND tender = ?",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, day, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, tender, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        for (int i = 0; i < 4; i++)
            v[i] = sqlite3_column_int64(st, i);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return engine_sqlerr(e, err, "till");
    return rc == SQLITE_ROW;
}

static int row_write(engine *e, const char *store, const char *day, const char *tender,
                     const int64_t v[TXC_VALUES], err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT OR REPLACE INTO till(store, day, tender, received,"
                                   " refunded, payments, refunds) VALUES(?,?,?,?,?,?,?)",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, day, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, tender, -1, SQLITE_STATIC);
    for (int i = 0; i < 4; i++)
        sqlite3_bind_int64(st, 4 + i, v[i]);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(e, err, "till");
}

/* The same, for txcache.c: the key's parts are store, day and tender. */
static int kept_load(engine *e, const char *key, int64_t v[TXC_VALUES], err_t *err)
{
    return row_read(e, txc_part(key, 0), txc_part(key, 1), txc_part(key, 2), v, err);
}

static int kept_store(engine *e, const char *key, const int64_t v[TXC_VALUES], bool exists,
                      err_t *err)
{
    (void)exists; /* INSERT OR REPLACE either way */
    return row_write(e, txc_part(key, 0), txc_part(key, 1), txc_part(key, 2), v, err);
}

static const txc_kind till_kind = {kept_load, kept_store};

/* Within a write transaction the day's row is kept in memory and written at
 * COMMIT (txcache.c: a batch of orders paid by card reads and writes it
 * once, not once an order); outside one, it is read and written here. A
 * day's sums stay exact integers: SQLite would turn an overflow into a
 * float, so the sum is made here, and one that overflows changes nothing. */
int till_add(engine *e, const char *store, const char *day, const char *tender, bool refund,
             int64_t amount, err_t *err)
{
    const char *key[] = {store, day, tender};
    int64_t own[TXC_VALUES] = {0}, *v;
    int kept = txc_row(e, &till_kind, key, 3, &v, err);
    if (kept < 0) return -1;
    if (!kept && row_read(e, store, day, tender, v = own, err) < 0) return -1;
    int64_t sum, count;
    if (add_checked(v[refund ? 1 : 0], amount, &sum) < 0 ||
        add_checked(v[refund ? 3 : 2], 1, &count) < 0)
        return err_set(err, ERR_VALIDATION, "the till's day of store %s overflows (SPEC M4)",
                       store);
    v[refund ? 1 : 0] = sum;
    v[refund ? 3 : 2] = count;
    return kept ? 0 : row_write(e, store, day, tender, v, err);
}

json_t *till_day(engine *e, const char *store, const char *day, err_t *err)
{
    if (txc_flush(e, &till_kind, err) < 0) return NULL; /* the rows kept, written first */
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT tender, received, refunded, payments, refunds FROM till"
                                   " WHERE store = ? AND day = ? ORDER BY tender",
                                   err);
    if (!st) return NULL;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, day, -1, SQLITE_STATIC);
    json_t *out = json_array();
    int rc = SQLITE_DONE;
    while (out && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t received = sqlite3_column_int64(st, 1), refunded = sqlite3_column_int64(st, 2);
        json_array_append_new(out, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "tender",
                                             (const char *)sqlite3_column_text(st, 0), "received",
                                             (json_int_t)received, "refunded", (json_int_t)refunded,
                                             "net", (json_int_t)(received - refunded), "payments",
                                             (json_int_t)sqlite3_column_int64(st, 3), "refunds",
                                             (json_int_t)sqlite3_column_int64(st, 4)));
    }
    sqlite3_reset(st);
    if (!out)
        err_set(err, ERR_INTERNAL, "out of memory reading the till");
    else if (rc != SQLITE_DONE) {
        json_decref(out);
        engine_sqlerr(e, err, "till");
        return NULL;
    }
    return out;
}

/* orders.c: the order rows (see orders.h). Every statement is prepared
 * with bound parameters and cached by the engine. */
#include "store/orders.h"

#include <stdlib.h>
#include <string.h>

#include "model/text.h"

static void copy_col(char *dst, size_t n, sqlite3_stmt *st, int col, const char *def)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    text_copy(dst, n, t ? t : def);
}

int orders_read(engine *e, const char *number, orders_row *row, err_t *err)
{
    memset(row, 0, sizeof *row);
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT doc, sync_state, hq_order, sync_error, sync_attempts,"
                                   " version FROM orders WHERE number = ?",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return err_field(err, ERR_NOT_FOUND, "number", "no order %s", number);
    }
    row->doc_len = (size_t)sqlite3_column_bytes(st, 0);
    row->doc = malloc(row->doc_len + 1);
    if (row->doc) memcpy(row->doc, sqlite3_column_text(st, 0), row->doc_len + 1);
    copy_col(row->sync_state, sizeof row->sync_state, st, 1, "pending");
    copy_col(row->hq_order, sizeof row->hq_order, st, 2, "");
    copy_col(row->sync_error, sizeof row->sync_error, st, 3, "");
    row->sync_attempts = sqlite3_column_int64(st, 4);
    row->version = sqlite3_column_int64(st, 5);
    sqlite3_reset(st);
    return row->doc ? 0 : err_set(err, ERR_INTERNAL, "out of memory");
}

void orders_row_free(orders_row *row)
{
    free(row->doc);
    row->doc = NULL;
}

int orders_write(engine *e, const orders_cols *c, bool is_new, err_t *err)
{
    const char *sql_insert = "INSERT INTO orders(number, store, customer, type, status, created_at,"
                             " created_date, version, policy_version, doc)"
                             " VALUES(?,?,?,?,?,?,?,?,?,?)";
    const char *sql_update = "UPDATE orders SET customer=?3, type=?4, status=?5, version=?8,"
                             " policy_version=?9, doc=?10 WHERE number=?1 AND version=?11";
    sqlite3_stmt *st = engine_stmt(e, is_new ? sql_insert : sql_update, err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, c->number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->store, -1, SQLITE_STATIC);
    if (c->customer && *c->customer) sqlite3_bind_text(st, 3, c->customer, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, c->created_at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, c->created_at, 10, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, c->version);
    sqlite3_bind_text(st, 9, c->policy_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, c->doc, -1, SQLITE_STATIC);
    if (!is_new) sqlite3_bind_int64(st, 11, c->version - 1);
    int rc = sqlite3_step(st);
    int changes = sqlite3_changes(engine_db(e));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) return engine_sqlerr(e, err, "orders");
    if (changes != 1) return err_set(err, ERR_CONFLICT, "order %s changed meanwhile", c->number);
    return 0;
}

int orders_store_of(engine *e, const char *number, char store[32], err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, "SELECT store FROM orders WHERE number = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) copy_col(store, 32, st, 0, "");
    sqlite3_reset(st);
    return found;
}

json_t *orders_find(engine *e, const orders_filter *f, err_t *err)
{
    /* Three texts so that SQLite can pick the index the filter needs. */
    static const char *const by_customer =
        "SELECT number FROM orders WHERE customer = ?1 AND (?2 IS NULL OR status = ?2)"
        " AND (?3 IS NULL OR store = ?3) AND (?4 IS NULL OR created_date >= ?4)"
        " AND (?5 IS NULL OR created_date <= ?5) ORDER BY created_date DESC, number DESC LIMIT ?6";
    static const char *const by_store =
        "SELECT number FROM orders WHERE store = ?3 AND (?1 IS NULL OR customer = ?1)"
        " AND (?2 IS NULL OR status = ?2) AND (?4 IS NULL OR created_date >= ?4)"
        " AND (?5 IS NULL OR created_date <= ?5) ORDER BY created_date DESC, number DESC LIMIT ?6";
    static const char *const by_any =
        "SELECT number FROM orders WHERE (?1 IS NULL OR customer = ?1)"
        " AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR store = ?3)"
        " AND (?4 IS NULL OR created_date >= ?4) AND (?5 IS NULL OR created_date <= ?5)"
        " ORDER BY created_date DESC, number DESC LIMIT ?6";
    sqlite3_stmt *st = engine_stmt(e,
                                   f->customer ? by_customer
                                   : f->store  ? by_store
                                               : by_any,
                                   err);
    if (!st) return NULL;
    const char *vals[] = {f->customer, f->status, f->store, f->from, f->to};
    for (int i = 0; i < 5; i++)
        if (vals[i]) sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, f->limit);
    json_t *numbers = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(numbers, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return numbers;
}

int orders_count_by_sync_state(engine *e, const char *store, json_t *r, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT sync_state, count(*) FROM orders WHERE store = ?"
                                   " GROUP BY sync_state",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(r, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    sqlite3_reset(st);
    return 0;
}

/* idem.c: idempotency keys (see idem.h). Table idempotency (migration 1):
 * store, key (the primary key together), op, args_hash, response. */
#include "store/idem.h"

#include <stdlib.h>
#include <string.h>

int idem_lookup(engine *e, const char *store, const char *key, const char *op, const char *hash,
                char **text, size_t *len, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(
        e, "SELECT op, args_hash, response FROM idempotency WHERE store = ? AND key = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        if (strcmp((const char *)sqlite3_column_text(st, 0), op) ||
            strcmp((const char *)sqlite3_column_text(st, 1), hash)) {
            err_field(err, ERR_CONFLICT, "idempotency_key",
                      "idempotency_key: already used for a different request");
            rc = -1;
        } else {
            *len = (size_t)sqlite3_column_bytes(st, 2);
            *text = malloc(*len + 1);
            if (*text) memcpy(*text, sqlite3_column_text(st, 2), *len + 1);
            rc = *text ? 1 : err_set(err, ERR_INTERNAL, "out of memory");
        }
    }
    sqlite3_reset(st);
    return rc;
}

int idem_store(engine *e, const char *store, const char *key, const char *op, const char *hash,
               const char *text, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT INTO idempotency(store, key, op, args_hash, response)"
                                   " VALUES(?,?,?,?,?)",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, op, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(e, err, "idempotency");
}

bool idem_seen(engine *e, const char *store, const char *key)
{
    err_t err;
    sqlite3_stmt *st =
        engine_stmt(e, "SELECT 1 FROM idempotency WHERE store = ? AND key = ?", &err);
    if (!st) return false;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    bool seen = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return seen;
}

/* outbox.c: the transactional outbox (SPEC S2, S3).
 *
 * Format: one row per event HQ must learn, in table outbox, appended in the
 * same SQLite transaction as the order change it describes (no queued event
 * without its change, no change without its event):
 *   seq           INTEGER, strictly increasing per database: HQ accepts
 *                 each (store, seq) exactly once, so resending is harmless
 *   store         the store that made the change
 *   order_number  the order; events of one order go out in seq order, so an
 *                 edit, pickup, cancel or return of a still-queued order
 *                 travels behind its creation (S3)
 *   type          order.create, order.edit, order.pickup, order.ship,
 *                 order.cancel, order.return, order.confirm_quote
 *   version       the order's version after the change: the event is sent
 *                 with the whole document of that version (orders.doc, or
 *                 order_docs once superseded), so HQ never replays deltas
 *                 and the store writes the document once, not twice
 *   payload       NULL; events written before migration 11 carry the
 *                 document here instead
 *   created_at    ISO-8601 UTC
 * The uploader (sync issue) reads rows past the acknowledged seq; nothing
 * else reads this table. */
#include "store/outbox.h"

int outbox_append(engine *e, const char *store, const char *number, const char *type,
                  int64_t version, const char *at, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "INSERT INTO outbox(store, order_number, type, version,"
                                   " created_at) VALUES(?,?,?,?,?)",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, version);
    sqlite3_bind_text(st, 5, at, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(e, err, "outbox");
}

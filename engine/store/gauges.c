/* gauges.c: the database side of the metrics page (see gauges.h). Small
 * aggregate queries; the outbox query walks only the unacknowledged tail
 * of each store's events (outbox_store index). */
#include "store/gauges.h"

#include <sqlite3.h>
#include <string.h>
#include <time.h>

#include "model/text.h"
#include "store/engine_internal.h"

int gauges_health(engine *e, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, "SELECT count(*) FROM stores", err);
    if (!st) return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) return engine_sqlerr(e, err, "health");
    return 0;
}

int gauges_stores(engine *e, gauges_store *out, int max, int *n, err_t *err)
{
    *n = 0;
    sqlite3_stmt *st = engine_stmt(
        e,
        "SELECT s.id, s.policy,"
        " (SELECT count(*) FROM outbox o WHERE o.store = s.id AND o.seq > coalesce("
        "   (SELECT acked_seq FROM sync_cursor c WHERE c.store = s.id), 0)),"
        " (SELECT min(o.created_at) FROM outbox o WHERE o.store = s.id AND o.seq > coalesce("
        "   (SELECT acked_seq FROM sync_cursor c WHERE c.store = s.id), 0)),"
        " (SELECT count(*) FROM orders r WHERE r.store = s.id)"
        " FROM stores s ORDER BY s.id",
        err);
    if (!st) return -1;
    int64_t now = engine_now(e);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
        gauges_store *g = &out[(*n)++];
        memset(g, 0, sizeof *g);
        text_copy(g->store, sizeof g->store, (const char *)sqlite3_column_text(st, 0));
        text_copy(g->policy, sizeof g->policy, (const char *)sqlite3_column_text(st, 1));
        g->queue = sqlite3_column_int64(st, 2);
        const char *oldest = (const char *)sqlite3_column_text(st, 3);
        if (oldest) {
            struct tm tm = {0};
            const char *end = strptime(oldest, "%Y-%m-%dT%H:%M:%S", &tm);
            if (end) {
                int64_t t = (int64_t)timegm(&tm);
                g->oldest_age_s = now > t ? (double)(now - t) : 0;
            }
        }
        g->orders = sqlite3_column_int64(st, 4);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return engine_sqlerr(e, err, "stores");
    return 0;
}

int gauges_master_counts(engine *e, gauges_master *out, err_t *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT (SELECT count(*) FROM stores), (SELECT count(*) FROM"
                                   " staff), (SELECT count(*) FROM customers), (SELECT count(*)"
                                   " FROM products), (SELECT count(*) FROM auth_lockout WHERE"
                                   " locked_until > ?)",
                                   err);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, engine_now(e));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->stores = sqlite3_column_int64(st, 0);
        out->staff = sqlite3_column_int64(st, 1);
        out->customers = sqlite3_column_int64(st, 2);
        out->products = sqlite3_column_int64(st, 3);
        out->locked_staff = sqlite3_column_int64(st, 4);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) return engine_sqlerr(e, err, "master counts");
    return 0;
}

uint64_t gauges_wal_bytes(engine *e)
{
    return checkpoint_wal_bytes(e->checkpointer);
}

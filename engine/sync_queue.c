/* sync_queue.c: the store side of the queue to HQ (see sync_queue.h).
 *
 * Format: table sync_cursor (migration 2), one row per store:
 *   store       the store
 *   acked_seq   the highest outbox seq HQ acknowledged for it; the uploader
 *               sends from acked_seq + 1. It moves only after HQ answered,
 *               so a batch cut off half-way (a crash, a lost connection) is
 *               sent again, and HQ, idempotent by (store, seq), keeps each
 *               event once.
 *   attempts    failed attempts since the last success (sync.status)
 *   last_error  why the last attempt failed, NULL after a success
 *   last_ok_at  ISO-8601 UTC of the last acknowledged upload
 * The orders table carries each order's own state (sync_state pending →
 * uploaded → synchronized | failed, hq_order, sync_error, sync_attempts);
 * these columns are not part of the order document and changing them does
 * not bump the order's version: learning from HQ must not make a clerk's
 * edit conflict. */
#include "sync_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sync_reader {
    sqlite3 *db;
    sqlite3_stmt *stores, *batch, *unsettled;
};

static int prep(sync_reader *r, const char *sql, sqlite3_stmt **st, err_t *err)
{
    if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK)
        return 0;
    return err_set(err, ERR_INTERNAL, "sync reader: %s", sqlite3_errmsg(r->db));
}

sync_reader *sync_reader_open(engine *e, err_t *err)
{
    sync_reader *r = calloc(1, sizeof *r);
    const char *path = sqlite3_db_filename(engine_db(e), "main");
    if (!r) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    if (!path || sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        err_set(err, ERR_INTERNAL, "sync reader: cannot open %s", path ? path : "the database");
        sync_reader_close(r);
        return NULL;
    }
    sqlite3_busy_timeout(r->db, 2000);
    if (prep(r,
             "SELECT s.id, (SELECT coalesce(max(seq), 0) FROM outbox WHERE store = s.id),"
             " coalesce(c.acked_seq, 0), (SELECT count(*) FROM orders WHERE store = s.id"
             " AND sync_state IN ('uploaded', 'failed'))"
             " FROM stores s LEFT JOIN sync_cursor c ON c.store = s.id ORDER BY s.id",
             &r->stores, err) < 0 ||
        prep(r,
             "SELECT o.seq, o.type, o.payload, CASE o.type WHEN 'order.create' THEN"
             " (SELECT hq_order FROM orders WHERE number = o.order_number) END"
             " FROM outbox o WHERE o.store = ? AND o.seq > ? ORDER BY o.seq LIMIT ?",
             &r->batch, err) < 0 ||
        prep(r,
             "SELECT number FROM orders WHERE store = ? AND sync_state IN ('uploaded', 'failed')"
             " AND number > ? ORDER BY number LIMIT ?",
             &r->unsettled, err) < 0) {
        sync_reader_close(r);
        return NULL;
    }
    return r;
}

void sync_reader_close(sync_reader *r)
{
    if (!r) return;
    sqlite3_finalize(r->stores);
    sqlite3_finalize(r->batch);
    sqlite3_finalize(r->unsettled);
    sqlite3_close(r->db);
    free(r);
}

static int reader_err(sync_reader *r, sqlite3_stmt *st, err_t *err)
{
    err_set(err, ERR_INTERNAL, "sync reader: %s", sqlite3_errmsg(r->db));
    sqlite3_reset(st);
    return -1;
}

int sync_reader_stores(sync_reader *r, sync_store_state *out, int max, int *n, err_t *err)
{
    sqlite3_stmt *st = r->stores;
    int rc;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
        sync_store_state *s = &out[(*n)++];
        snprintf(s->store, sizeof s->store, "%s", (const char *)sqlite3_column_text(st, 0));
        s->newest = sqlite3_column_int64(st, 1);
        s->acked = sqlite3_column_int64(st, 2);
        s->unsettled = sqlite3_column_int64(st, 3);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return reader_err(r, st, err);
    sqlite3_reset(st);
    return 0;
}

int sync_reader_batch(sync_reader *r, const char *store, int64_t after, int max, size_t max_bytes,
                      json_t **events, int64_t *last, err_t *err)
{
    sqlite3_stmt *st = r->batch;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, max);
    *events = json_array();
    *last = after;
    size_t bytes = 0;
    int rc = SQLITE_DONE;
    while (bytes < max_bytes && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *payload = (const char *)sqlite3_column_text(st, 2);
        json_t *doc = payload ? json_loads(payload, 0, NULL) : NULL;
        if (!doc) {
            json_decref(*events);
            sqlite3_reset(st);
            return err_set(err, ERR_INTERNAL, "outbox seq %lld: unreadable payload",
                           (long long)sqlite3_column_int64(st, 0));
        }
        *last = sqlite3_column_int64(st, 0);
        json_t *ev = json_pack("{s:I, s:s, s:o}", "seq", (json_int_t)*last, "type",
                               (const char *)sqlite3_column_text(st, 1), "payload", doc);
        const char *hq_order = (const char *)sqlite3_column_text(st, 3);
        if (hq_order && *hq_order) json_object_set_new(ev, "hq_order", json_string(hq_order));
        json_array_append_new(*events, ev);
        bytes += (size_t)sqlite3_column_bytes(st, 2) + 64;
    }
    if (bytes < max_bytes && rc != SQLITE_DONE) {
        json_decref(*events);
        return reader_err(r, st, err);
    }
    sqlite3_reset(st);
    return 0;
}

int sync_reader_unsettled(sync_reader *r, const char *store, const char *after, int max,
                          json_t **numbers, err_t *err)
{
    sqlite3_stmt *st = r->unsettled;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, after, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, max);
    *numbers = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(*numbers, json_string((const char *)sqlite3_column_text(st, 0)));
    if (rc != SQLITE_DONE) {
        json_decref(*numbers);
        return reader_err(r, st, err);
    }
    sqlite3_reset(st);
    return 0;
}

/* ---- writes, on the engine's connection ---- */

int sync_queue_acked(engine *e, const char *store, int64_t from, int64_t through, err_t *err)
{
    char now[32];
    engine_iso_now(e, now);
    sqlite3_stmt *st = engine_stmt(e,
                                   "UPDATE orders SET sync_state = 'uploaded', sync_error = NULL"
                                   " WHERE store = ?1 AND sync_state = 'pending' AND number IN"
                                   " (SELECT order_number FROM outbox WHERE store = ?1"
                                   " AND seq > ?2 AND seq <= ?3 AND type = 'order.create')",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, through);
    if (engine_step_done(e, st, "orders uploaded", err) < 0) return -1;
    st = engine_stmt(e,
                     "INSERT INTO sync_cursor(store, acked_seq, attempts, last_error, last_ok_at)"
                     " VALUES(?1, ?2, 0, NULL, ?3) ON CONFLICT(store) DO UPDATE SET"
                     " acked_seq = max(acked_seq, ?2), attempts = 0, last_error = NULL,"
                     " last_ok_at = ?3",
                     err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, through);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    return engine_step_done(e, st, "sync_cursor", err);
}

int sync_queue_failed(engine *e, const char *store, const char *error, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "UPDATE orders SET sync_attempts = sync_attempts + 1,"
                                   " sync_error = ?2 WHERE store = ?1 AND sync_state = 'pending'",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
    if (engine_step_done(e, st, "orders pending", err) < 0) return -1;
    st = engine_stmt(e,
                     "INSERT INTO sync_cursor(store, attempts, last_error) VALUES(?1, 1, ?2)"
                     " ON CONFLICT(store) DO UPDATE SET attempts = attempts + 1, last_error = ?2",
                     err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
    return engine_step_done(e, st, "sync_cursor", err);
}

int sync_queue_learn(engine *e, const char *store, json_t *orders, err_t *err)
{
    size_t i;
    json_t *o;
    json_array_foreach(orders, i, o)
    {
        const char *number = json_string_value(json_object_get(o, "number"));
        const char *state = json_string_value(json_object_get(o, "state"));
        if (!number || !state || (strcmp(state, "synchronized") && strcmp(state, "failed")))
            continue;
        const char *hq_order = json_string_value(json_object_get(o, "hq_order"));
        const char *error = json_string_value(json_object_get(o, "error"));
        sqlite3_stmt *st =
            engine_stmt(e,
                        "UPDATE orders SET sync_state = ?3, hq_order = ?4, sync_error = ?5,"
                        " sync_attempts = ?6 WHERE store = ?1 AND number = ?2"
                        " AND sync_state IN ('uploaded', 'failed')",
                        err);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
        if (hq_order) sqlite3_bind_text(st, 4, hq_order, -1, SQLITE_STATIC);
        if (error && !strcmp(state, "failed")) sqlite3_bind_text(st, 5, error, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, json_integer_value(json_object_get(o, "attempts")));
        if (engine_step_done(e, st, "orders learn", err) < 0) return -1;
    }
    return 0;
}

int sync_queue_created(engine *e, const char *number, const char *hq_order, const char *error,
                       err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "UPDATE orders SET sync_state = ?2, hq_order = ?3,"
                                   " sync_error = ?4, sync_attempts = 1 WHERE number = ?1",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hq_order ? "synchronized" : "pending", -1, SQLITE_STATIC);
    if (hq_order) sqlite3_bind_text(st, 3, hq_order, -1, SQLITE_STATIC);
    if (!hq_order && error) sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
    return engine_step_done(e, st, "orders created", err);
}

int sync_queue_status(engine *e, const char *store, json_t *r, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT c.acked_seq, c.attempts, c.last_error, c.last_ok_at,"
                                   " (SELECT count(*) FROM outbox WHERE store = ?1"
                                   " AND seq > coalesce(c.acked_seq, 0))"
                                   " FROM (SELECT ?1 AS store) s"
                                   " LEFT JOIN sync_cursor c ON c.store = s.store",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return engine_sqlerr(e, err, "sync_cursor");
    }
    json_object_set_new(r, "acked_seq", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(r, "attempts", json_integer(sqlite3_column_int64(st, 1)));
    json_object_set_new(r, "queue", json_integer(sqlite3_column_int64(st, 4)));
    const char *t = (const char *)sqlite3_column_text(st, 2);
    if (t) json_object_set_new(r, "last_error", json_string(t));
    t = (const char *)sqlite3_column_text(st, 3);
    if (t) json_object_set_new(r, "last_ok_at", json_string(t));
    sqlite3_reset(st);
    return 0;
}

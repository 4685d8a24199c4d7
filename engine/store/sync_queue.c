/* sync_queue.c: the store side of the queue to HQ (see sync_queue.h).
 *
 * Format: table sync_cursor (migration 2), one row per store:
 *   store       the store
 *   acked_seq   the highest outbox seq the uploader is done with: HQ
 *               acknowledged it, or it was set aside. The uploader sends
 *               from acked_seq + 1. It moves only after HQ answered, so a
 *               batch cut off half-way (a crash, a lost connection) is sent
 *               again, and HQ, idempotent by (store, seq), keeps each event
 *               once.
 *   attempts    failed attempts since the last success (sync.status)
 *   last_error  why the last attempt failed, NULL after a success
 *   last_ok_at  ISO-8601 UTC of the last acknowledged upload
 * Table sync_quarantine (migration 3), one row per outbox event set aside,
 * that is, left behind the cursor without reaching HQ so that the events
 * after it can go on:
 *   seq           the outbox event (PRIMARY KEY)
 *   store, order_number
 *   kind          too_big (over SYNC_EVENT_MAX: one hq.upload line could
 *                 not carry it), unreadable (the payload is not a JSON
 *                 object in UTF-8), refused (HQ answered bad_request or
 *                 validation for it), conflict (HQ keeps its seq with other
 *                 content), held (a later event of an order that has one
 *                 of the others: it waits behind it, so HQ never gets an
 *                 order's events out of order)
 *   reason        what was wrong, for people; held_behind: for held, the
 *                 event it waits behind
 *   at            when it was first set aside; attempts: how often
 *   retry         1 once sync.retry asked for it: the uploader sends it
 *                 again, before the queue, and on success deletes the row
 * The orders table carries each order's own state (sync_state pending ->
 * uploaded -> synchronized | failed, hq_order, sync_error, sync_attempts);
 * an order with an event set aside is `failed` with the reason, and does
 * not learn HQ's verdict until the quarantine lets go of it. These columns
 * are not part of the order document and changing them does not bump the
 * order's version: learning from HQ must not make a clerk's edit
 * conflict. */
#include "store/sync_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/text.h"
#include "store/outbox.h"

#define SYNC_SCAN_MAX 2000 /* outbox rows one batch looks at */

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
             " coalesce(c.acked_seq, 0), (SELECT count(*) FROM orders o"
             /* C5: an order is the owner's to upload and ask about */
             " WHERE (o.store = s.id AND o.owner IS NULL OR o.owner = s.id) AND NOT o.read_only"
             " AND o.sync_state IN ('uploaded', 'failed') AND NOT EXISTS (SELECT 1 FROM"
             " sync_quarantine q WHERE q.store = s.id AND q.order_number = o.number)),"
             " (SELECT count(*) FROM sync_quarantine WHERE store = s.id AND retry)"
             " FROM stores s LEFT JOIN sync_cursor c ON c.store = s.id ORDER BY s.id",
             &r->stores, err) < 0 ||
        prep(r,
             "SELECT o.seq, o.type, o.order_number, " OUTBOX_PAYLOAD(
                 "o") ", CASE o.type WHEN 'order.create'"
                      " THEN (SELECT hq_order FROM orders WHERE number = o.order_number) END"
                      " FROM outbox o WHERE o.store = ? AND o.seq > ? ORDER BY o.seq LIMIT ?",
             &r->batch, err) < 0 ||
        prep(r,
             "SELECT number FROM orders o WHERE (store = ?1 AND owner IS NULL OR owner = ?1)"
             " AND NOT read_only AND sync_state IN ('uploaded', 'failed')"
             " AND number > ?2 AND NOT EXISTS (SELECT 1 FROM sync_quarantine q"
             " WHERE q.store = ?1 AND q.order_number = o.number) ORDER BY number LIMIT ?3",
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
        text_copy(s->store, sizeof s->store, (const char *)sqlite3_column_text(st, 0));
        s->newest = sqlite3_column_int64(st, 1);
        s->acked = sqlite3_column_int64(st, 2);
        s->unsettled = sqlite3_column_int64(st, 3);
        s->retries = sqlite3_column_int64(st, 4);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return reader_err(r, st, err);
    sqlite3_reset(st);
    return 0;
}

/* ---- batches ---- */

void sync_batch_init(sync_batch *b, int64_t after)
{
    memset(b, 0, sizeof *b);
    b->events = json_array();
    b->last = after;
    if (!b->events) abort(); /* as the uplink does: no way on without memory */
}

void sync_batch_free(sync_batch *b)
{
    json_decref(b->events);
    free(b->seqs);
    free(b->numbers);
    free(b->aside);
    memset(b, 0, sizeof *b);
}

int sync_encode_event(int64_t seq, const char *type, const char *payload, size_t len,
                      const char *hq_order, json_t **ev, size_t *bytes, const char **kind,
                      char *why, size_t n)
{
    json_error_t jerr;
    *ev = NULL;
    *bytes = 0;
    *kind = "unreadable";
    json_t *doc = payload ? json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!json_is_object(doc)) {
        if (doc)
            snprintf(why, n, "the payload is JSON but not an object");
        else if (!payload)
            snprintf(why, n, "the event has no payload");
        else
            snprintf(why, n, "the payload is not JSON (or not UTF-8): %s at byte %d", jerr.text,
                     jerr.position);
        err_utf8_clean(why);
        json_decref(doc);
        return -1;
    }
    json_t *e = json_pack("{s:I, s:s?, s:o}", "seq", (json_int_t)seq, "type", type, "payload", doc);
    bool with_id = hq_order && *hq_order;
    if (!e || !json_string_value(json_object_get(e, "type")) ||
        (with_id && json_object_set_new(e, "hq_order", json_string(hq_order)) < 0)) {
        json_decref(e);
        snprintf(why, n, "the event's type or sales-order id is missing or not UTF-8");
        return -1;
    }
    size_t size = json_dumpb(e, NULL, 0, JSON_COMPACT);
    if (size == 0 || size > SYNC_EVENT_MAX) {
        json_decref(e);
        *kind = "too_big";
        snprintf(why, n,
                 "%zu bytes as sent: more than one upload may carry (%zu; HQ takes lines"
                 " of up to 1 MiB)",
                 size, SYNC_EVENT_MAX);
        return -1;
    }
    *ev = e;
    *bytes = size;
    return 0;
}

static void aside_push(sync_batch *b, int64_t seq, const char *number, const char *kind,
                       const char *reason, int64_t held_behind)
{
    if (b->naside == b->acap) {
        b->acap = b->acap ? b->acap * 2 : 8;
        b->aside = realloc(b->aside, b->acap * sizeof *b->aside);
        if (!b->aside) abort();
    }
    sync_aside *a = &b->aside[b->naside++];
    a->seq = seq;
    text_copy(a->number, sizeof a->number, number ? number : "");
    a->kind = kind;
    text_copy(a->reason, sizeof a->reason, reason);
    a->held_behind = held_behind;
}

/* The event an order's later events wait behind, when this batch set one
 * of its events aside. */
static int64_t aside_root(const sync_batch *b, const char *number)
{
    for (size_t i = 0; i < b->naside; i++)
        if (!strcmp(b->aside[i].number, number))
            return b->aside[i].held_behind ? b->aside[i].held_behind : b->aside[i].seq;
    return 0;
}

/* Adds one event to b (sent or set aside): 1, or 0 when it does not fit
 * (left for the next batch). root: an earlier event of its order already
 * set aside (0: none). */
static int batch_take(sync_batch *b, int64_t seq, const char *type, const char *number,
                      const char *payload, size_t len, const char *hq_order, int64_t root, int max,
                      size_t max_bytes)
{
    char why[200];
    if (!number) number = "";
    if (!root) root = aside_root(b, number);
    if (root) {
        snprintf(why, sizeof why, "held behind seq %lld of the same order, set aside",
                 (long long)root);
        aside_push(b, seq, number, "held", why, root);
        b->last = seq;
        return 1;
    }
    if (b->n >= (size_t)max) return 0;
    json_t *ev;
    size_t bytes;
    const char *kind;
    if (sync_encode_event(seq, type, payload, len, hq_order, &ev, &bytes, &kind, why, sizeof why) <
        0) {
        aside_push(b, seq, number, kind, why, 0);
        b->last = seq;
        return 1;
    }
    if (b->n && b->bytes + bytes + 1 > max_bytes) {
        json_decref(ev);
        return 0;
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->seqs = realloc(b->seqs, b->cap * sizeof *b->seqs);
        b->numbers = realloc(b->numbers, b->cap * sizeof *b->numbers);
        if (!b->seqs || !b->numbers) abort();
    }
    b->seqs[b->n] = seq;
    text_copy(b->numbers[b->n], sizeof b->numbers[b->n], number);
    b->n++;
    json_array_append_new(b->events, ev);
    b->bytes += bytes + 1;
    b->last = seq;
    return 1;
}

static int quarantine_count(engine *e, const char *store, int64_t *n, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, "SELECT count(*) FROM sync_quarantine WHERE store = ?", err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : engine_sqlerr(e, err, "sync_quarantine");
}

/* Whether seq is set aside itself (*self), else the first event of its
 * order that is (*root, 0: none). */
static int quarantine_of(engine *e, const char *store, const char *number, int64_t seq,
                         int64_t *root, bool *self, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT min(seq), max(seq = ?3) FROM sync_quarantine"
                                   " WHERE store = ?1 AND order_number = ?2 AND seq <= ?3",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, seq);
    int rc = sqlite3_step(st);
    *root = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    *self = rc == SQLITE_ROW && sqlite3_column_int(st, 1) == 1;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : engine_sqlerr(e, err, "sync_quarantine");
}

int sync_reader_batch(sync_reader *r, engine *e, const char *store, int64_t after, int max,
                      size_t max_bytes, sync_batch *b, err_t *err)
{
    int64_t nq;
    if (quarantine_count(e, store, &nq, err) < 0) return -1;
    sqlite3_stmt *st = r->batch;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, SYNC_SCAN_MAX);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0), root = 0;
        const char *number = (const char *)sqlite3_column_text(st, 2);
        bool self = false;
        if (nq && quarantine_of(e, store, number ? number : "", seq, &root, &self, err) < 0) {
            sqlite3_reset(st);
            return -1;
        }
        if (self) { /* set aside already (the cursor went back): not again */
            b->last = seq;
            continue;
        }
        if (!batch_take(
                b, seq, (const char *)sqlite3_column_text(st, 1), number,
                (const char *)sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3),
                (const char *)sqlite3_column_text(st, 4), root < seq ? root : 0, max, max_bytes))
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return reader_err(r, st, err);
    sqlite3_reset(st);
    /* With pipelined commits, what this connection read may have been
     * committed but not yet synced: it goes to HQ only once it is on disk,
     * or a power cut here could take back an order HQ already has. */
    if ((b->n || b->last > after) && engine_sync(e, err) < 0) return -1;
    return 0;
}

int sync_queue_retry_batch(engine *e, const char *store, int64_t after, int max, size_t max_bytes,
                           sync_batch *b, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(
        e,
        "SELECT q.seq, o.type, q.order_number, " OUTBOX_PAYLOAD(
            "o") ", CASE o.type WHEN 'order.create'"
                 " THEN (SELECT hq_order FROM orders WHERE number = q.order_number) END,"
                 " (SELECT min(p.seq) FROM sync_quarantine p WHERE p.store = q.store"
                 " AND p.order_number = q.order_number AND p.seq < q.seq AND NOT p.retry)"
                 " FROM sync_quarantine q LEFT JOIN outbox o ON o.seq = q.seq"
                 " WHERE q.store = ?1 AND q.retry AND q.seq > ?2 ORDER BY q.seq LIMIT ?3",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, SYNC_SCAN_MAX);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (!batch_take(
                b, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_blob(st, 3),
                (size_t)sqlite3_column_bytes(st, 3), (const char *)sqlite3_column_text(st, 4),
                sqlite3_column_int64(st, 5), max, max_bytes))
            break;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : engine_sqlerr(e, err, "sync_quarantine");
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

/* The order of a set-aside event fails with the reason (S3). */
static int order_set_aside(engine *e, const char *store, const char *number, const char *kind,
                           const char *reason, err_t *err)
{
    char msg[256];
    snprintf(msg, sizeof msg, "set aside (%s): %s; sync.retry sends it again", kind, reason);
    sqlite3_stmt *st = engine_stmt(e,
                                   "UPDATE orders SET sync_state = 'failed', sync_error = ?3"
                                   " WHERE coalesce(owner, store) = ?1 AND number = ?2",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, msg, -1, SQLITE_STATIC);
    return engine_step_done(e, st, "orders set aside", err);
}

static int quarantine_put(engine *e, const char *store, const sync_aside *a, const char *now,
                          err_t *err)
{
    sqlite3_stmt *st = engine_stmt(
        e,
        "INSERT INTO sync_quarantine(seq, store, order_number, kind, reason, held_behind, at)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(seq) DO UPDATE SET kind = ?4,"
        " reason = ?5, held_behind = ?6, retry = 0, attempts = attempts + 1",
        err);
    if (!st) return -1;
    sqlite3_bind_int64(st, 1, a->seq);
    sqlite3_bind_text(st, 2, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a->reason, -1, SQLITE_STATIC);
    if (a->held_behind) sqlite3_bind_int64(st, 6, a->held_behind);
    sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
    if (engine_step_done(e, st, "sync_quarantine", err) < 0) return -1;
    return a->held_behind ? 0 : order_set_aside(e, store, a->number, a->kind, a->reason, err);
}

int sync_queue_set_aside(engine *e, const char *store, const sync_batch *b, err_t *err)
{
    char now[32];
    engine_iso_now(e, now);
    for (size_t i = 0; i < b->naside; i++)
        if (quarantine_put(e, store, &b->aside[i], now, err) < 0) return -1;
    return 0;
}

int sync_queue_refused(engine *e, const char *store, int64_t seq, const char *number,
                       const char *kind, const char *reason, err_t *err)
{
    char now[32];
    engine_iso_now(e, now);
    sync_aside a = {.seq = seq, .kind = kind};
    text_copy(a.number, sizeof a.number, number);
    text_copy(a.reason, sizeof a.reason, reason);
    err_utf8_clean(a.reason);
    if (quarantine_put(e, store, &a, now, err) < 0) return -1;
    sqlite3_stmt *st = engine_stmt(e,
                                   "UPDATE sync_quarantine SET retry = 0, kind = 'held',"
                                   " held_behind = ?3, reason = 'held behind seq ' || ?3 ||"
                                   " ' of the same order, set aside' WHERE store = ?1"
                                   " AND order_number = ?2 AND seq > ?3 AND retry",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, seq);
    return engine_step_done(e, st, "sync_quarantine held", err);
}

int sync_queue_released(engine *e, const char *store, const sync_batch *b, err_t *err)
{
    for (size_t i = 0; i < b->n; i++) {
        sqlite3_stmt *st =
            engine_stmt(e, "DELETE FROM sync_quarantine WHERE seq = ? AND store = ?", err);
        if (!st) return -1;
        sqlite3_bind_int64(st, 1, b->seqs[i]);
        sqlite3_bind_text(st, 2, store, -1, SQLITE_STATIC);
        if (engine_step_done(e, st, "sync_quarantine release", err) < 0) return -1;
    }
    /* An order with nothing left aside is uploaded again; the next round
     * asks HQ for its verdict. */
    for (size_t i = 0; i < b->n; i++) {
        sqlite3_stmt *st = engine_stmt(
            e,
            "UPDATE orders SET sync_state = 'uploaded', sync_error = NULL"
            " WHERE coalesce(owner, store) = ?1 AND number = ?2 AND sync_state = 'failed'"
            " AND NOT EXISTS (SELECT 1 FROM sync_quarantine q"
            " WHERE q.store = ?1 AND q.order_number = ?2)",
            err);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, b->numbers[i], -1, SQLITE_STATIC);
        if (engine_step_done(e, st, "orders released", err) < 0) return -1;
    }
    return 0;
}

int sync_queue_retry(engine *e, const char *store, int64_t seq, const char *number, int64_t *n,
                     err_t *err)
{
    char of_seq[64];
    *n = 0;
    if (seq) {
        sqlite3_stmt *st = engine_stmt(
            e, "SELECT order_number FROM sync_quarantine WHERE store = ? AND seq = ?", err);
        if (!st) return -1;
        sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, seq);
        if (sqlite3_step(st) != SQLITE_ROW) {
            sqlite3_reset(st);
            return err_field(err, ERR_NOT_FOUND, "seq", "no event %lld of store %s is set aside",
                             (long long)seq, store);
        }
        text_copy(of_seq, sizeof of_seq, (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
        if (number && strcmp(number, of_seq))
            return err_field(err, ERR_VALIDATION, "number", "seq %lld is an event of %s, not %s",
                             (long long)seq, of_seq, number);
        number = of_seq;
    }
    sqlite3_stmt *st = engine_stmt(e,
                                   "UPDATE sync_quarantine SET retry = 1 WHERE store = ?1"
                                   " AND (?2 IS NULL OR order_number = ?2)",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    if (number) sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
    if (engine_step_done(e, st, "sync_quarantine retry", err) < 0) return -1;
    *n = sqlite3_changes(engine_db(e));
    if (*n == 0 && number)
        return err_field(err, ERR_NOT_FOUND, "number", "order %s has no event set aside", number);
    return 0;
}

int sync_queue_list(engine *e, const char *store, int limit, json_t **out, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e,
                                   "SELECT q.seq, q.order_number, o.type, q.kind, q.reason,"
                                   " q.held_behind, q.at, q.attempts, q.retry"
                                   " FROM sync_quarantine q LEFT JOIN outbox o ON o.seq = q.seq"
                                   " WHERE q.store = ? ORDER BY q.seq LIMIT ?",
                                   err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit);
    *out = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *q =
            json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:b}", "seq",
                      (json_int_t)sqlite3_column_int64(st, 0), "number",
                      (const char *)sqlite3_column_text(st, 1), "type",
                      (const char *)sqlite3_column_text(st, 2), "kind",
                      (const char *)sqlite3_column_text(st, 3), "reason",
                      (const char *)sqlite3_column_text(st, 4), "at",
                      (const char *)sqlite3_column_text(st, 6), "attempts",
                      (json_int_t)sqlite3_column_int64(st, 7), "retry", sqlite3_column_int(st, 8));
        if (q && sqlite3_column_type(st, 5) != SQLITE_NULL)
            json_object_set_new(q, "held_behind", json_integer(sqlite3_column_int64(st, 5)));
        if (q) json_array_append_new(*out, q);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return 0;
    json_decref(*out);
    *out = NULL;
    return engine_sqlerr(e, err, "sync_quarantine");
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
                        " sync_attempts = ?6 WHERE coalesce(owner, store) = ?1 AND number = ?2"
                        " AND sync_state IN ('uploaded', 'failed') AND NOT EXISTS (SELECT 1"
                        " FROM sync_quarantine q WHERE q.store = ?1 AND q.order_number = ?2)",
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
    /* The quarantine: how many events, conflicts among them, retries
     * asked for, and the oldest event that was set aside for itself. */
    st = engine_stmt(e,
                     "SELECT count(*), coalesce(sum(kind = 'conflict'), 0),"
                     " coalesce(sum(retry), 0) FROM sync_quarantine WHERE store = ?",
                     err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return engine_sqlerr(e, err, "sync_quarantine");
    }
    json_object_set_new(r, "quarantined", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(r, "conflicts", json_integer(sqlite3_column_int64(st, 1)));
    json_object_set_new(r, "retrying", json_integer(sqlite3_column_int64(st, 2)));
    sqlite3_reset(st);
    st = engine_stmt(e,
                     "SELECT seq, order_number, kind, reason, at FROM sync_quarantine"
                     " WHERE store = ? AND held_behind IS NULL ORDER BY seq LIMIT 1",
                     err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        json_object_set_new(r, "quarantined_oldest",
                            json_pack("{s:I, s:s?, s:s?, s:s?, s:s?}", "seq",
                                      (json_int_t)sqlite3_column_int64(st, 0), "number",
                                      (const char *)sqlite3_column_text(st, 1), "kind",
                                      (const char *)sqlite3_column_text(st, 2), "reason",
                                      (const char *)sqlite3_column_text(st, 3), "at",
                                      (const char *)sqlite3_column_text(st, 4)));
    sqlite3_reset(st);
    return 0;
}

/* ---- C5: what the owner reports to HQ ---- */

static int strings(engine *e, sqlite3_stmt *st, json_t **out, const char *what, err_t *err)
{
    *out = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(*out, json_string((const char *)sqlite3_column_text(st, 0)));
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return 0;
    json_decref(*out);
    *out = NULL;
    return engine_sqlerr(e, err, what);
}

int sync_queue_senders(engine *e, json_t **stores, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(
        e, "SELECT id FROM stores s WHERE EXISTS (SELECT 1 FROM outbox WHERE store = s.id)", err);
    return st ? strings(e, st, stores, "stores", err) : -1;
}

int sync_queue_unsent(engine *e, const char *store, int max, json_t **numbers, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(
        e,
        "SELECT json_object('number', n, 'seq', max(s)) FROM (SELECT order_number AS n,"
        " seq AS s FROM outbox WHERE store = ?1 AND seq > coalesce((SELECT acked_seq FROM"
        " sync_cursor WHERE store = ?1), 0) UNION ALL SELECT order_number, seq FROM"
        " sync_quarantine WHERE store = ?1) GROUP BY n LIMIT ?2",
        err);
    if (!st) return -1;
    sqlite3_bind_text(st, 1, store, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, max);
    if (strings(e, st, numbers, "outbox unsent", err) < 0) return -1;
    for (size_t i = 0; i < json_array_size(*numbers); i++) { /* the objects' texts, parsed */
        json_t *v = json_loads(json_string_value(json_array_get(*numbers, i)), 0, NULL);
        json_array_set_new(*numbers, i, v ? v : json_object());
    }
    return 0;
}

/* sync_queue.h: the store side of the queue to HQ (SPEC S2, S3), in the
 * store's database: what is waiting in the outbox past the uploader's
 * cursor, and the sync state of each order. Reads go through a reader of
 * their own (a second, read-only connection), so the uploader only ever
 * sees committed changes: an event still inside an open group commit can
 * not reach HQ and then be rolled back. Writes run on the engine's
 * connection, inside the caller's transaction. */
#ifndef CORDER_SYNC_QUEUE_H
#define CORDER_SYNC_QUEUE_H

#include <jansson.h>
#include <stdint.h>

#include "engine.h"

#define SYNC_MAX_STORES 64

typedef struct sync_reader sync_reader;

typedef struct {
    char store[32];
    int64_t newest;    /* newest outbox seq (0: none) */
    int64_t acked;     /* the cursor: HQ has everything up to here */
    int64_t unsettled; /* orders uploaded or failed: HQ's verdict may change */
} sync_store_state;

sync_reader *sync_reader_open(engine *e, err_t *err);
void sync_reader_close(sync_reader *r);
/* Every store of the database with its queue position. */
int sync_reader_stores(sync_reader *r, sync_store_state *out, int max, int *n, err_t *err);
/* The events after `after` as hq.upload wants them ([{seq, type, payload,
 * hq_order?}]), at most max of them and about max_bytes of payload;
 * *last is the seq of the last one (after, when there is none). */
int sync_reader_batch(sync_reader *r, const char *store, int64_t after, int max, size_t max_bytes,
                      json_t **events, int64_t *last, err_t *err);
/* Numbers of orders uploaded or failed, after `after` in number order. */
int sync_reader_unsettled(sync_reader *r, const char *store, const char *after, int max,
                          json_t **numbers, err_t *err);

/* HQ acknowledged the store's events up to `through`: the cursor moves, the
 * orders whose creation got there become `uploaded`. */
int sync_queue_acked(engine *e, const char *store, int64_t from, int64_t through, err_t *err);
/* An attempt failed: the store's pending orders count it and show why. */
int sync_queue_failed(engine *e, const char *store, const char *error, err_t *err);
/* HQ's answer to hq.order.status: synchronized (hq_order) or failed. */
int sync_queue_learn(engine *e, const char *store, json_t *orders, err_t *err);
/* The S1 outcome of a new order: made at HQ in real time (hq_order), or
 * queued by the fallback after HQ did not answer (error). */
int sync_queue_created(engine *e, const char *number, const char *hq_order, const char *error,
                       err_t *err);
/* Adds {attempts, last_error?, queue, acked_seq} of the store to r (sync.status). */
int sync_queue_status(engine *e, const char *store, json_t *r, err_t *err);

#endif

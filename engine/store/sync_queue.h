/* sync_queue.h: the store side of the queue to HQ (SPEC S2, S3), in the
 * store's database: what is waiting in the outbox past the uploader's
 * cursor, the events set aside (quarantined), and the sync state of each
 * order. Outbox rows past the cursor are read through a reader of their
 * own (a second, read-only connection), so the uploader only ever sees
 * committed changes: an event still inside an open group commit can not
 * reach HQ and then be rolled back. The quarantine is read and written on
 * the engine's connection, inside the caller's transaction, so the
 * uploader sees what it set aside at once, committed or not. */
#ifndef CORDER_SYNC_QUEUE_H
#define CORDER_SYNC_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/engine.h"

#define SYNC_MAX_STORES 64
/* The largest event the uploader sends: one event in one hq.upload line
 * must stay under HQ's line limit (DISPATCH_MAX_LINE, 1 MiB) with the
 * request around it. A bigger one is set aside as too_big. */
#define SYNC_EVENT_MAX ((size_t)(1024 * 1024 - 1024))

typedef struct sync_reader sync_reader;

typedef struct {
    char store[32];
    int64_t newest;    /* newest outbox seq (0: none) */
    int64_t acked;     /* the cursor: HQ has everything up to here but the set aside */
    int64_t unsettled; /* orders uploaded or failed: HQ's verdict may change */
    int64_t retries;   /* set-aside events sync.retry asked to send again */
} sync_store_state;

/* An event set aside: why, and for a held one the event it waits behind. */
typedef struct {
    int64_t seq;
    char number[64];
    const char *kind; /* too_big, unreadable, refused, conflict, held (static) */
    char reason[200];
    int64_t held_behind;
} sync_aside;

/* What one hq.upload carries, and what was set aside while reading it. */
typedef struct {
    json_t *events; /* [{seq, type, payload, hq_order?}] */
    int64_t *seqs;  /* seqs[i] is events[i]'s */
    char (*numbers)[64];
    size_t n, cap;
    size_t bytes; /* the events' encoded size */
    int64_t last; /* the last seq looked at: sent, set aside or skipped */
    sync_aside *aside;
    size_t naside, acap;
} sync_batch;

void sync_batch_init(sync_batch *b, int64_t after);
void sync_batch_free(sync_batch *b);

/* Encodes one outbox event as hq.upload carries it: 0 with *ev (new
 * reference) and *bytes (its size in the request line), or -1 when it can
 * not be sent as it is: *kind "unreadable" (the payload is not a JSON
 * object in valid UTF-8 without duplicate keys) or "too_big" (over
 * SYNC_EVENT_MAX), with the reason in why. */
int sync_encode_event(int64_t seq, const char *type, const char *payload, size_t len,
                      const char *hq_order, json_t **ev, size_t *bytes, const char **kind,
                      char *why, size_t n);

sync_reader *sync_reader_open(engine *e, err_t *err);
void sync_reader_close(sync_reader *r);
/* Every store of the database with its queue position. */
int sync_reader_stores(sync_reader *r, sync_store_state *out, int max, int *n, err_t *err);
/* The next batch after `after`: at most max events and, but for a first
 * event alone, max_bytes. An event that cannot be sent, or whose order has
 * an earlier event set aside, goes to b->aside instead (e decides the
 * latter); one set aside already is skipped. */
int sync_reader_batch(sync_reader *r, engine *e, const char *store, int64_t after, int max,
                      size_t max_bytes, sync_batch *b, err_t *err);
/* Numbers of orders uploaded or failed, after `after` in number order,
 * leaving out orders with events set aside (HQ has not got all of them). */
int sync_reader_unsettled(sync_reader *r, const char *store, const char *after, int max,
                          json_t **numbers, err_t *err);

/* The set-aside events sync.retry marked, after `after` in seq order, as a
 * batch (read on the engine's connection). */
int sync_queue_retry_batch(engine *e, const char *store, int64_t after, int max, size_t max_bytes,
                           sync_batch *b, err_t *err);

/* HQ acknowledged the store's events up to `through`: the cursor moves, the
 * orders whose creation got there become `uploaded`. */
int sync_queue_acked(engine *e, const char *store, int64_t from, int64_t through, err_t *err);
/* Records b's set-aside events; their orders become `failed` with the reason. */
int sync_queue_set_aside(engine *e, const char *store, const sync_batch *b, err_t *err);
/* HQ refused one event for good (kind refused or conflict): it is set
 * aside, and the later events of its order waiting for a retry are held
 * behind it again. */
int sync_queue_refused(engine *e, const char *store, int64_t seq, const char *number,
                       const char *kind, const char *reason, err_t *err);
/* HQ took b's events, sent again after sync.retry: they leave the
 * quarantine; an order left with none is `uploaded` again (and learns
 * HQ's verdict anew). */
int sync_queue_released(engine *e, const char *store, const sync_batch *b, err_t *err);
/* sync.retry: marks the set-aside events of the order of seq, or of the
 * order number, or (both 0/NULL) all of the store's, to be sent again;
 * *n says how many. ERR_NOT_FOUND when a seq or number has none. */
int sync_queue_retry(engine *e, const char *store, int64_t seq, const char *number, int64_t *n,
                     err_t *err);
/* The store's set-aside events, oldest first (sync.quarantine). */
int sync_queue_list(engine *e, const char *store, int limit, json_t **out, err_t *err);

/* An attempt failed: the store's pending orders count it and show why. */
int sync_queue_failed(engine *e, const char *store, const char *error, err_t *err);
/* HQ's answer to hq.order.status: synchronized (hq_order) or failed. */
int sync_queue_learn(engine *e, const char *store, json_t *orders, err_t *err);
/* The S1 outcome of a new order: made at HQ in real time (hq_order), or
 * queued by the fallback after HQ did not answer (error). */
int sync_queue_created(engine *e, const char *number, const char *hq_order, const char *error,
                       err_t *err);
/* Adds {attempts, last_error?, queue, acked_seq, quarantined, conflicts,
 * retrying, quarantined_oldest?} of the store to r (sync.status). */
int sync_queue_status(engine *e, const char *store, json_t *r, err_t *err);

/* C5: the stores this database has sent events for (a JSON array of ids):
 * the ones whose orders another store may claim. */
int sync_queue_senders(engine *e, json_t **stores, err_t *err);
/* C5: the store's orders with an event HQ has not acknowledged or that is
 * set aside, at most max: [{number, seq}], seq the newest such event. */
int sync_queue_unsent(engine *e, const char *store, int max, json_t **numbers, err_t *err);

#endif

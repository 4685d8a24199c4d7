/* hq_store.h: what HQ keeps (SPEC S4), behind one narrow interface.
 *
 * The HQ protocol (hq_ops.c) and the synchronize job (hq_jobs.c) only call
 * the functions of hq_store_vt; hq_store_sqlite.c is the implementation that
 * lives in the HQ's own corder database. A PostgreSQL backend would be one
 * more file filling the same table, picked at start-up; protocol, uploader
 * and jobs would not change. Two rules every backend keeps:
 *   - put_event is idempotent by (store, seq), and what it accepted is
 *     durable before the caller answers the upload (the SQLite backend
 *     writes in the server's group-commit transaction, so the batch's
 *     COMMIT makes it durable before the answer is released). Idempotent
 *     means the same content: a (store, seq) offered again with another
 *     type, order number or payload is a conflict, refused and never
 *     applied (a store whose database was restored from an old backup
 *     reuses seqs; dropping its new events as "duplicates" would lose
 *     them silently). Content is compared by hq_event_hash, kept beside
 *     the event;
 *   - the kept order document is the one of the highest seq applied: an
 *     older event arriving late (a store retrying a quarantined event)
 *     never replaces a newer document. */
#ifndef CORDER_HQ_STORE_H
#define CORDER_HQ_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/err.h"

typedef struct hq_store hq_store;

/* One uploaded event (PROTOCOL hq.upload). */
typedef struct {
    const char *store;
    int64_t seq;
    const char *type;     /* order.create, order.edit, … */
    const char *number;   /* the store's order number */
    const char *payload;  /* the order document after the change (JSON text) */
    const char *hq_order; /* set on the create event of a sync-mode order */
} hq_event;

#define HQ_HASH_BYTES 32

/* What makes two events with one (store, seq) the same: BLAKE2b-256 over
 * type, order number and payload (each length-prefixed; the payload as
 * compact JSON with sorted keys, so only its content counts, not how it
 * was spelt). hq_order is left out: a store resends a create with the
 * sales-order id it learnt since. */
void hq_event_hash(const hq_event *ev, uint8_t out[HQ_HASH_BYTES]);

/* HQ's record of one store order. */
typedef struct {
    char store[32];
    char number[64]; /* "" for a real-time order not yet linked by its upload */
    char hq_order[64];
    char state[16]; /* uploaded, synchronized, failed */
    char error[256];
    int64_t attempts; /* times HQ tried to make the sales order */
    int64_t retries;  /* hq.retry calls */
    int64_t last_seq; /* newest event applied */
    char updated_at[32];
} hq_order_rec;

/* Master data kinds HQ checks an order against. */
typedef enum { HQ_STORE, HQ_CUSTOMER, HQ_PRODUCT } hq_kind;

typedef struct {
    /* Keeps the event unless (store, seq) is already there; *fresh says
     * which. The order record follows the event (created as `uploaded`).
     * A (store, seq) already kept with other content: ERR_CONFLICT, with
     * details {store, seq}, nothing changed. */
    int (*put_event)(hq_store *h, const hq_event *ev, bool *fresh, err_t *err);
    /* Records a refused event (a conflict) in HQ's list, one row per
     * (store, seq): the first and last time and how often it was offered. */
    int (*put_conflict)(hq_store *h, const hq_event *ev, err_t *err);
    /* The recorded conflicts (store NULL: every store), oldest first, as
     * [{store, seq, kept: {type, number}, offered: {type, number}, count,
     * first_at, last_at}] (new reference). */
    int (*conflicts)(hq_store *h, const char *store, int limit, json_t **out, err_t *err);
    /* The highest seq kept for the store (0: none). */
    int (*acked_through)(hq_store *h, const char *store, int64_t *out, err_t *err);
    /* A sales order made in real time (sync mode): a new HQ id, state
     * synchronized, the store number unknown until the upload links it. */
    int (*create_realtime)(hq_store *h, const char *store, const char *doc, char hq_order[64],
                           err_t *err);
    /* Records of orders in a state (store NULL: every store), oldest first. */
    int (*list)(hq_store *h, const char *store, const char *state, int limit, hq_order_rec **out,
                size_t *n, err_t *err);
    /* One record, and its document (new reference) when doc is not NULL.
     * ERR_NOT_FOUND when HQ has no such order. */
    int (*get)(hq_store *h, const char *store, const char *number, hq_order_rec *out, json_t **doc,
               err_t *err);
    /* The outcome of an attempt: hq_order set means synchronized, else
     * failed with error. Counts the attempt (and a retry when retry). */
    int (*set_result)(hq_store *h, const char *store, const char *number, const char *hq_order,
                      const char *error, bool retry, err_t *err);
    /* A new sales-order id ("HQ-000001"). */
    int (*next_id)(hq_store *h, char out[64], err_t *err);
    bool (*has)(hq_store *h, hq_kind kind, const char *id);
    void (*free)(hq_store *h);
} hq_store_vt;

struct hq_store {
    const hq_store_vt *vt;
};

/* The SQLite backend in the HQ's corder database (the engine's connection,
 * so writes join the server's transactions). */
struct engine;
hq_store *hq_store_sqlite_new(struct engine *e, err_t *err);

/* A record as JSON: {store, number, state, hq_order?, error?, attempts, retries}. */
json_t *hq_order_rec_json(const hq_order_rec *r);

#endif

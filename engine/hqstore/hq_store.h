/* hq_store.h: what HQ keeps (SPEC S4), behind one narrow interface.
 *
 * The HQ protocol (hq_ops.c) and the synchronize job (hq_jobs.c) only call
 * the functions of hq_store_vt; hq_store_sqlite.c is the implementation that
 * lives in the HQ's own corder database, hq_store_pg.c the one for a chain
 * (SPEC C1: any number of HQ processes on one PostgreSQL database), picked
 * at start-up by --hq-db; protocol, uploader and jobs do not change. Rules
 * every backend keeps:
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
 *     never replaces a newer document;
 *   - between begin and end, every call is one transaction: the SQLite
 *     backend is inside the server's batch already (both are no-ops), the
 *     PostgreSQL backend opens its own and commits it (durably) in end, so
 *     an op's answer follows a commit on both;
 *   - claim hands each uploaded order to one caller at a time (until its
 *     end): several HQ processes may run the synchronize job at once and
 *     each sales order is still made once;
 *   - sales-order ids are unique across every process using the store. */
#ifndef CORDER_HQ_STORE_H
#define CORDER_HQ_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/err.h"

typedef struct hq_store hq_store;

/* One uploaded event (PROTOCOL hq.upload). */
typedef struct {
    const char *store; /* the uploading store: the order's owner */
    int64_t seq;
    const char *type;        /* order.create, order.edit, … */
    const char *number;      /* the store's order number */
    const char *payload;     /* the order document after the change (JSON text) */
    const char *hq_order;    /* set on the create event of a sync-mode order */
    const char *order_store; /* the store that made the order (its record's key);
                              * NULL: store */
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
    char owner[32]; /* C5: the store that may change it (its own store until a claim) */
} hq_order_rec;

/* Master data kinds HQ checks an order against. */
typedef enum { HQ_STORE, HQ_CUSTOMER, HQ_PRODUCT } hq_kind;

typedef struct {
    /* Keeps the event unless (store, seq) is already there; *fresh says
     * which. The order record follows the event (created as `uploaded`).
     * A (store, seq) already kept with other content: ERR_CONFLICT, with
     * details {store, seq}, nothing changed. */
    int (*put_event)(hq_store *h, const hq_event *ev, bool *fresh, err_t *err);
    /* put_event for n events in order, with the same result (fresh[i]
     * for each); on ERR_CONFLICT *bad is the index of the event refused
     * (what was kept before it in the call is the caller's to roll back).
     * NULL when the backend has nothing better than a loop of put_event;
     * PostgreSQL sends them in one round trip (pipeline mode). */
    int (*put_events)(hq_store *h, const hq_event *ev, size_t n, bool *fresh, size_t *bad,
                      err_t *err);
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
    /* One transaction around the calls between them (see above); end
     * commits when commit, else rolls back. Not nested. */
    int (*begin)(hq_store *h, err_t *err);
    int (*end)(hq_store *h, bool commit, err_t *err);
    /* Up to limit uploaded orders (store NULL: every store), oldest first,
     * that no other caller has claimed; held until end. */
    int (*claim)(hq_store *h, const char *store, int limit, hq_order_rec **out, size_t *n,
                 err_t *err);
    /* Per-store credentials (SPEC C2): only the hash of a token is kept.
     * token_add keeps a new one; token_revoke ends every token of the
     * store (*n: how many); token_check says whether hash is a live token
     * of the store (compared in constant time). */
    int (*token_add)(hq_store *h, const char *store, const uint8_t hash[HQ_HASH_BYTES], err_t *err);
    int (*token_revoke)(hq_store *h, const char *store, int64_t *n, err_t *err);
    int (*token_check)(hq_store *h, const char *store, const uint8_t hash[HQ_HASH_BYTES], bool *ok,
                       err_t *err);
    /* A customer a store created, uploaded (SPEC C4), as HQ checks orders
     * against it: doc is its JSON. NULL when the backend checks orders
     * against HQ's corder database, where hq.customer.put writes it
     * already (SQLite). */
    int (*customer_put)(hq_store *h, const char *account, const char *doc, err_t *err);
    /* ---- one owner per order (SPEC C5) ----
     * An order's record stays keyed by the store that made it; owner says
     * which store may change it. put_event keeps an event of an order
     * only from its owner: one from another store (the former owner,
     * which had not yet learnt of a claim) is ERR_CONFLICT, details
     * {store, seq, owner}, nothing kept.
     * set_owner moves it from `from` to `to` if from still owns it
     * (*moved; compare and set, so two claims racing on two HQ processes
     * move it once), and restarts its seq (the new owner's events come in
     * its own seqs); the former owner becomes a holder that learns the
     * order's later states. */
    int (*set_owner)(hq_store *h, const char *store, const char *number, const char *from,
                     const char *to, bool *moved, err_t *err);
    /* What a store last reported it has not sent yet ([{number, seq}],
     * seq the newest such event of the order; replaced whole each time),
     * and whether number is among it with that event still not here. */
    int (*unsent_set)(hq_store *h, const char *store, json_t *numbers, err_t *err);
    int (*unsent_has)(hq_store *h, const char *store, const char *number, bool *has, err_t *err);
    /* The events kept of an order, oldest first, as [{store, seq, type,
     * at, version, staff?, policy_version?}] (new reference). */
    int (*history)(hq_store *h, const char *number, json_t **out, err_t *err);
    /* The orders store held once and another store owns now, whose
     * version is past what store acknowledged: [{number, owner, state,
     * hq_order?, order}] (at most limit; new reference); seen records an
     * acknowledgement (a version never goes back). */
    int (*moved)(hq_store *h, const char *store, int limit, json_t **out, err_t *err);
    int (*moved_seen)(hq_store *h, const char *store, const char *number, int64_t version,
                      err_t *err);
    void (*free)(hq_store *h);
} hq_store_vt;

struct hq_store {
    const hq_store_vt *vt;
};

/* The SQLite backend in the HQ's corder database (the engine's connection,
 * so writes join the server's transactions). */
struct engine;
hq_store *hq_store_sqlite_new(struct engine *e, err_t *err);

/* The PostgreSQL backend (hq_store_pg.c): connects to url (postgresql://…
 * or key=value), brings its schema up to date (migrations, one process at
 * a time) and prepares its statements. Its calls block the calling thread
 * for one round trip each (docs/architecture.md says why that is the
 * design: an HQ process is one worker, a chain runs several). */
hq_store *hq_store_pg_new(const char *url, err_t *err);
/* `corder init --hq-db URL --seed FILE`: upserts the master data HQ checks
 * orders against (stores, customers, products) from a seed file's JSON. */
int hq_store_pg_seed(hq_store *h, json_t *seed, err_t *err);

/* A token's hash as kept (BLAKE2b-256 of its bytes). */
void hq_token_hash(const char *token, size_t len, uint8_t out[HQ_HASH_BYTES]);

/* A record as JSON: {store, number, state, hq_order?, error?, attempts, retries}. */
json_t *hq_order_rec_json(const hq_order_rec *r);

#endif

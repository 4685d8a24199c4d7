/* hq.h: the HQ role (`corder serve --role hq`, PROTOCOL.md "HQ role"): the
 * ops stores call (hq_ops.c) and the "synchronize orders" job that turns
 * uploaded store orders into HQ sales orders (hq_jobs.c). Both work on an
 * hq_store (hq_store.h) and nothing else. */
#ifndef CORDER_HQ_H
#define CORDER_HQ_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/engine.h"
#include "hqstore/hq_store.h"

/* Registers session.login_store and the hq.* ops with dispatch; token is
 * the shared secret of a single-store setup (--hq-token), NULL or "" for
 * none: then only per-store tokens (hq_store token_add) sign in. */
/* -1 when an op cannot be registered (the server then does not start). */
int hq_ops_register(hq_store *h, const char *token);

/* hq.master.since and hq.customer.put (hq_master.c, SPEC C4); called by
 * hq_ops_register. HQ's master data is in the engine's database. */
int hq_master_register(hq_store *h);

/* Whether token (len bytes) signs store in: the shared token or one of
 * the store's own live tokens; constant time, and the time does not depend
 * on the real tokens' lengths (hashes are compared). */
bool hq_login_ok(const char *store, const char *token, size_t len);
/* The same, from HQ's gate: the verdict is also kept for the sign-in op
 * that runs next with the same store and token (one database look-up per
 * sign-in, not two). */
bool hq_login_judge(const char *store, const char *token, size_t len);

/* A refused upload rolls back, so its conflict is recorded afterwards:
 * fn is called when one is queued (the server then runs hq_ops_flush in a
 * transaction from its loop); hq_ops_flush writes the queued ones (also
 * done by hq.conflicts and hq.failures before they read). */
void hq_ops_on_conflict(void (*fn)(void *arg), void *arg);
int hq_ops_flush(engine *e, err_t *err);

/* One hq.upload against h (any backend; thread-safe for a store of its
 * own): the events checked, stored in one transaction, the answer's
 * numbers in out. A conflict is described in out (c_payload malloc'd)
 * for the caller to record on the loop. */
typedef struct {
    int64_t acked, accepted, duplicates;
    bool conflict;
    char c_store[32], c_type[65], c_number[64];
    int64_t c_seq;
    char *c_payload;
} hq_upload_out;
int hq_upload_run(hq_store *h, const char *store, json_t *events, hq_upload_out *out, err_t *err);
/* The outcome of an upload run on a worker (hq_pool.c), for the op that
 * runs next on the loop (the released line): it answers with it. */
void hq_ops_preset_upload(const json_t *events, int rc, const hq_upload_out *out, const err_t *err);

/* `serve --role hq`: slows down repeated wrong tokens per source
 * (hq_gate.c) and, for an HQ on PostgreSQL (hq_db set), runs uploads on
 * worker threads with connections of their own (hq_pool.c), the loop
 * answering when they are done. NULL when the server has no room for a
 * gate. */
typedef struct hq_gate hq_gate;
struct server;
hq_gate *hq_gate_start(struct server *s, const char *hq_db, err_t *err);

/* The upload workers of an HQ on PostgreSQL (hq_pool.c): each thread has
 * its own connection to url. submit runs one upload (events borrowed
 * from the held request) and releases w with its outcome, on the loop of
 * base; stop finishes and answers what was taken. */
#define HQ_POOL_THREADS 4
typedef struct hq_pool hq_pool;
struct event_base;
struct server_wait;
hq_pool *hq_pool_start(struct event_base *base, const char *url, err_t *err);
void hq_pool_submit(hq_pool *p, struct server_wait *w, const char *store, json_t *events);
void hq_pool_stop(hq_pool *p);
void hq_gate_stop(hq_gate *g);

/* Checks an order document against HQ's own master data (store, customer,
 * products). 0 when HQ can take it, else -1 with the reason in why. */
int hq_check_order(hq_store *h, const char *store, json_t *doc, char *why, size_t n);

/* One attempt to make the sales order of a kept store order; the outcome
 * (HQ id, or the failure) is recorded. *ok tells which. */
int hq_sync_one(hq_store *h, const char *store, const char *number, bool retry, bool *ok,
                err_t *err);

/* "Synchronize orders": every uploaded order (of one store, or all when
 * store is NULL) gets its sales order or a recorded failure. */
int hq_synchronize(hq_store *h, const char *store, int64_t *created, int64_t *failed, err_t *err);

#endif

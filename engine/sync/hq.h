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

/* Whether token (len bytes) signs store in: the shared token or one of
 * the store's own live tokens; constant time, and the time does not depend
 * on the real tokens' lengths (hashes are compared). */
bool hq_login_ok(const char *store, const char *token, size_t len);

/* A refused upload rolls back, so its conflict is recorded afterwards:
 * fn is called when one is queued (the server then runs hq_ops_flush in a
 * transaction from its loop); hq_ops_flush writes the queued ones (also
 * done by hq.conflicts and hq.failures before they read). */
void hq_ops_on_conflict(void (*fn)(void *arg), void *arg);
int hq_ops_flush(engine *e, err_t *err);

/* `serve --role hq`: slows down repeated wrong tokens per source
 * (hq_gate.c). NULL when the server has no room for a gate. */
typedef struct hq_gate hq_gate;
struct server;
hq_gate *hq_gate_start(struct server *s, err_t *err);
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

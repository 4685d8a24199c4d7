/* orders.h: the order rows (table orders, schema.c): what the flows read
 * and write of an order, and the queries that find orders. An order is one
 * row: the columns it is found by, its sync state, and its document. The
 * document's format is the model's (order.c, order_text.c); this layer
 * only stores the text. */
#ifndef CORDER_ORDERS_H
#define CORDER_ORDERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/search.h"
#include "store/engine.h"

/* One stored row, as read. doc is malloc'd (free it). */
typedef struct {
    char *doc;
    size_t doc_len;
    char sync_state[16], hq_order[64], sync_error[256];
    int64_t sync_attempts, version;
    bool read_only; /* C5: another store's server owns it */
} orders_row;

/* 0 with *row, or not_found on field "number". */
int orders_read(engine *e, const char *number, orders_row *row, err_t *err);
void orders_row_free(orders_row *row);

/* One of F12's pickup (store, date) pairs of an order. */
typedef struct {
    const char *store, *date;
} orders_pickup;

/* The columns an order is written with. */
typedef struct {
    const char *number, *store, *customer; /* customer "" or NULL: cash-and-carry */
    const char *type, *status, *created_at, *policy_version;
    int64_t version; /* the new version; an update expects version - 1 stored */
    const char *doc;
    /* The order's pickups as a JSON array of [store, date] pairs (F12's
     * pickup_store and pickup dates), NULL when it has none. */
    const char *pickups;
    /* The same pairs, sorted and once each: a new row's order_pickups
     * rows are written from these (a change's by a trigger, when the
     * pairs differ). */
    const orders_pickup *pickup_v;
    size_t pickup_n;
} orders_cols;

/* Inserts (is_new) or updates the row; conflict when the stored version is
 * not the one the change started from (F3's optimistic lock). */
int orders_write(engine *e, const orders_cols *c, bool is_new, err_t *err);

/* C5: writes an order this server did not make by its own flows: one
 * claimed through HQ (read_only false: it is this server's now, owner
 * the claiming store) or a newer copy of one another store's server owns
 * (read_only true). Inserts or replaces the row whatever version it had,
 * with sync state and hq_order as HQ knows them. An older copy never
 * replaces a newer one (*skipped then, nothing written). */
int orders_adopt(engine *e, const orders_cols *c, const char *owner, bool read_only,
                 const char *sync_state, const char *hq_order, bool *skipped, err_t *err);

/* The store an order belongs to: 1 found, 0 no such order. */
int orders_store_of(engine *e, const char *number, char store[32], err_t *err);

/* order.find's filters (any may be NULL; open: -1 any, 1 open lines, 0
 * none); the numbers, newest first. With q, the orders q matches
 * (search.h), newest made first. */
typedef struct {
    const char *customer, *status, *store, *from, *to;
    int64_t limit;
    const char *pickup_store, *pickup_from, *pickup_to;
    int open;
    const search_query *q;
} orders_filter;
json_t *orders_find(engine *e, const orders_filter *f, err_t *err);

/* Counts of a store's orders per sync state, into r (sync.status). */
int orders_count_by_sync_state(engine *e, const char *store, json_t *r, err_t *err);

#endif

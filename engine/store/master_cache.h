/* master_cache.h: products, stores and customers remembered within one
 * transaction (see master_cache.c). For store modules only. */
#ifndef CORDER_MASTER_CACHE_H
#define CORDER_MASTER_CACHE_H

#include "store/engine.h"
#include "store/master.h"

#define MC_PRODUCT_SLOTS 64
#define MC_STORE_SLOTS 16
#define MC_CUSTOMER_SLOTS 64

/* What master_customer_brief answers: {account, name, b2b}. */
typedef struct {
    char account[MASTER_NAME_MAX + 1];
    char name[MASTER_NAME_MAX + 1];
    bool b2b;
} mc_brief;

typedef struct {
    uint64_t epoch; /* valid while it equals master_cache.epoch */
    master_product v;
} mc_product;

typedef struct {
    uint64_t epoch;
    master_store v;
} mc_store;

typedef struct {
    uint64_t epoch;
    mc_brief v;
} mc_customer;

typedef struct {
    uint64_t epoch; /* starts at 1: a zeroed slot is never valid */
    mc_product products[MC_PRODUCT_SLOTS];
    mc_store stores[MC_STORE_SLOTS];
    mc_customer customers[MC_CUSTOMER_SLOTS];
} master_cache;

/* Watches the connection's writes to products, stores and customers (call
 * once, after opening it). */
void mc_attach(engine *e);
/* Forgets everything remembered: a write transaction began, or a
 * savepoint was rolled back. */
void mc_forget(engine *e);
/* The remembered row, or NULL (outside a transaction always NULL). */
const master_product *mc_product_find(engine *e, const char *item);
const master_store *mc_store_find(engine *e, const char *id);
const mc_brief *mc_customer_find(engine *e, const char *account);
/* Remembers a row just read (outside a transaction: nothing). */
void mc_product_keep(engine *e, const master_product *p);
void mc_store_keep(engine *e, const master_store *s);
void mc_customer_keep(engine *e, const mc_brief *c);

#endif

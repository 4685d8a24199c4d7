/* master.h: master data (SPEC section 1): stores, customers with their
 * addresses, products. Reads for the flows, and the customer ops. */
#ifndef CORDER_MASTER_H
#define CORDER_MASTER_H

/* The longest name (customer, product, store) in bytes: it fits the
 * fixed fields of the order document whole. */
#define MASTER_NAME_MAX 127

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/search.h"
#include "store/engine.h"

typedef struct {
    char id[32];
    char name[128];
    char currency[8];
    char timezone[64];
    char order_creation[32];
    char policy[64];
} master_store;

typedef struct {
    char item[64];
    char name[128];
    int64_t price;
} master_product;

int master_store_get(engine *e, const char *id, master_store *out, err_t *err);
int master_product_get(engine *e, const char *item, master_product *out, err_t *err);
/* {account, name, b2b} for policies, or NULL with ERR_NOT_FOUND. */
json_t *master_customer_brief(engine *e, const char *account, err_t *err);
bool master_address_exists(engine *e, const char *account, const char *address_id);

/* Ops: customer.create, customer.get, customer.add_address. */
int master_customer_create(engine *e, const char *store, json_t *args, json_t **result, err_t *err);
int master_customer_get(engine *e, json_t *args, json_t **result, err_t *err);
int master_customer_add_address(engine *e, json_t *args, json_t **result, err_t *err);
/* customer.find (F12): {customers: [{account, name, email, phone, b2b}]},
 * the customers q matches (search.h) in account, name, email or phone,
 * the most recently added first. */
int master_customer_find(engine *e, json_t *args, json_t **result, err_t *err);

/* customer_search's MATCH expression for sq (its rarest trigrams, fts.h)
 * into out (size n): 1, or 0 when no customer can match, -1 on error. */
int master_customer_match(engine *e, const search_query *sq, char *out, size_t n, err_t *err);

/* Validates an address object ("path" names it in errors) and upserts it. */
int master_address_check(json_t *addr, const char *path, bool need_id, err_t *err);
int master_address_put(engine *e, const char *account, const char *id, json_t *addr, err_t *err);
/* Upserts a customer row (seed and customer.create). */
int master_customer_put(engine *e, const char *account, json_t *c, err_t *err);
/* Checks a seed customer (account required) and upserts it with addresses. */
int master_customers_put_all(engine *e, const char *account, json_t *c, err_t *err);

/* The next value of a named counter (order numbers, accounts), in the
 * current transaction, so a rolled-back request leaves no gap. */
int master_next(engine *e, const char *counter, int64_t *out, err_t *err);

/* Where one of a customer's addresses is (T1's destination): 1 found, 0 not. */
typedef struct {
    char country[64], zip[64], city[128];
} master_address;
int master_address_get(engine *e, const char *account, const char *id, master_address *out);

/* R4: whether code is allowed for kind ("return", "cancel", "hold"): 1 when
 * the master data lists no codes of that kind or lists this one, 0 when it
 * lists others only, -1 on a database error. */
int master_reason_ok(engine *e, const char *kind, const char *code, err_t *err);
/* The seed's reason_codes {kind: [code]}: each kind given replaces its list. */
int master_reasons_put(engine *e, json_t *codes, err_t *err);

/* A staff row and the stores they may sign in to (exactly those listed:
 * an array of strings); only what differs is written. */
int master_staff_put(engine *e, const char *id, const char *name, const char *role,
                     const char *hash, json_t *stores, err_t *err);
/* Gone from the chain: the staff row and their stores; the product row. */
int master_staff_remove(engine *e, const char *id, err_t *err);
int master_product_remove(engine *e, const char *item, err_t *err);

/* Queues a customer created or changed here for HQ (master_outbox: the
 * uploader sends it, master_sync.h); customer.create and
 * customer.add_address call it in the request's own savepoint. */
int master_outbox_add(engine *e, const char *account, err_t *err);

#endif

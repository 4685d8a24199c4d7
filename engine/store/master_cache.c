/* master_cache.c: products, stores and customers remembered within one
 * transaction.
 *
 * An order.create reads its lines' products, its stores (its own, a
 * pickup line's) and its customer: six point SELECTs for the bench's
 * 3-line order, every one of them the same rows as the previous order's.
 * The server runs a batch of requests in one transaction, so within it a
 * row read once is kept here and handed out again.
 *
 * Used only inside a write transaction (BEGIN IMMEDIATE holds the write
 * lock: no other connection can change a row meanwhile), and forgotten
 * when the next one begins, when a request's savepoint is rolled back (the
 * undone write may have been read), and whenever this connection writes a
 * row of products, stores or customers: SQLite's update hook reports every
 * row a statement or trigger changes in a rowid table, which all three
 * are (a REPLACE's deleted row is not reported, but its inserted row is).
 * So a read here always answers what the SELECT would. */
#include "store/master_cache.h"

#include <string.h>

#include "store/engine_internal.h"

static bool in_write_txn(engine *e)
{
    return e->in_txn && !sqlite3_get_autocommit(e->db);
}

static unsigned slot_of(const char *key, unsigned slots)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (slots - 1);
}

static void on_write(void *arg, int op, const char *db, const char *table, sqlite3_int64 rowid)
{
    (void)op, (void)db, (void)rowid;
    if (!strcmp(table, "products") || !strcmp(table, "stores") || !strcmp(table, "customers"))
        mc_forget(arg);
}

void mc_attach(engine *e)
{
    e->mc.epoch = 1;
    sqlite3_update_hook(e->db, on_write, e);
}

void mc_forget(engine *e)
{
    e->mc.epoch++;
}

const master_product *mc_product_find(engine *e, const char *item)
{
    if (!in_write_txn(e)) return NULL;
    const mc_product *c = &e->mc.products[slot_of(item, MC_PRODUCT_SLOTS)];
    return c->epoch == e->mc.epoch && !strcmp(c->v.item, item) ? &c->v : NULL;
}

const master_store *mc_store_find(engine *e, const char *id)
{
    if (!in_write_txn(e)) return NULL;
    const mc_store *c = &e->mc.stores[slot_of(id, MC_STORE_SLOTS)];
    return c->epoch == e->mc.epoch && !strcmp(c->v.id, id) ? &c->v : NULL;
}

void mc_product_keep(engine *e, const master_product *p)
{
    if (!in_write_txn(e)) return;
    mc_product *c = &e->mc.products[slot_of(p->item, MC_PRODUCT_SLOTS)];
    c->v = *p;
    c->epoch = e->mc.epoch;
}

void mc_store_keep(engine *e, const master_store *s)
{
    if (!in_write_txn(e)) return;
    mc_store *c = &e->mc.stores[slot_of(s->id, MC_STORE_SLOTS)];
    c->v = *s;
    c->epoch = e->mc.epoch;
}

const mc_brief *mc_customer_find(engine *e, const char *account)
{
    if (!in_write_txn(e)) return NULL;
    const mc_customer *c = &e->mc.customers[slot_of(account, MC_CUSTOMER_SLOTS)];
    return c->epoch == e->mc.epoch && !strcmp(c->v.account, account) ? &c->v : NULL;
}

void mc_customer_keep(engine *e, const mc_brief *b)
{
    if (!in_write_txn(e)) return;
    mc_customer *c = &e->mc.customers[slot_of(b->account, MC_CUSTOMER_SLOTS)];
    c->v = *b;
    c->epoch = e->mc.epoch;
}

/* seed.h: master data from a seed file (PROTOCOL.md "Seed file"). */
#ifndef CORDER_SEED_H
#define CORDER_SEED_H

#include <jansson.h>

#include "store/engine.h"

/* Upserts stores, staff, customers (with addresses) and products, and
 * removes the staff "remove" names; a staff member's stores
 * are the ones the seed lists, no others. Idempotent:
 * the same seed twice changes nothing (a PIN is rehashed only if it changed).
 * Validates everything before writing; runs in one transaction. */
int seed_apply(engine *e, json_t *seed, err_t *err);

/* One store or product object as the seed has it (keys checked, "path"
 * names it in errors), upserted; also how a store applies HQ's. */
int seed_store_put(engine *e, json_t *s, const char *path, err_t *err);
int seed_product_put(engine *e, json_t *p, const char *path, err_t *err);

#endif

/* seed.h: master data from a seed file (PROTOCOL.md "Seed file"). */
#ifndef CORDER_SEED_H
#define CORDER_SEED_H

#include <jansson.h>

#include "store/engine.h"

/* Upserts stores, staff, customers (with addresses) and products. Idempotent:
 * the same seed twice changes nothing (a PIN is rehashed only if it changed).
 * Validates everything before writing; runs in one transaction. */
int seed_apply(engine *e, json_t *seed, err_t *err);

#endif

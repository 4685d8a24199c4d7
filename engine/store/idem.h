/* idem.h: idempotency keys (a mutating op's `idempotency_key`): per store
 * and key, the op, a hash of its arguments (without the key and without
 * any PIN: see dispatch.c) and the answer it gave, written in the same
 * savepoint as the change it answers. */
#ifndef CORDER_IDEM_H
#define CORDER_IDEM_H

#include <stdbool.h>
#include <stddef.h>

#include "store/engine.h"

/* 1 with *text (malloc'd, *len bytes: the stored answer) when the key was
 * used for the same op and hash; -1 (conflict on idempotency_key) when it
 * was used for another request; 0 when the key is new. */
int idem_lookup(engine *e, const char *store, const char *key, const char *op, const char *hash,
                char **text, size_t *len, err_t *err);
/* Remembers the answer for the key. */
int idem_store(engine *e, const char *store, const char *key, const char *op, const char *hash,
               const char *text, err_t *err);
/* Whether the key has been used at the store (the sync gate's question). */
bool idem_seen(engine *e, const char *store, const char *key);

#endif

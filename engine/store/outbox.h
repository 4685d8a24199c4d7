/* outbox.h: the queue of order events for HQ (SPEC S2). See outbox.c. */
#ifndef CORDER_OUTBOX_H
#define CORDER_OUTBOX_H

#include <jansson.h>

#include "store/engine.h"

int outbox_append(engine *e, const char *store, const char *number, const char *type,
                  const char *payload, const char *at, err_t *err);

#endif

/* outbox.h: the queue of order events for HQ (SPEC S2). See outbox.c. */
#ifndef CORDER_OUTBOX_H
#define CORDER_OUTBOX_H

#include <stdint.h>

#include "store/engine.h"

/* Appends the event announcing version of order number (its document is
 * read when the event is sent: OUTBOX_PAYLOAD). */
int outbox_append(engine *e, const char *store, const char *number, const char *type,
                  int64_t version, const char *at, err_t *err);

/* SQL: the document an outbox row o carries: its own payload (events from
 * before migration 11), else its order's document at its version, current
 * or superseded. */
#define OUTBOX_PAYLOAD(o)                                                                          \
    "coalesce(" o ".payload, (SELECT doc FROM orders WHERE number = " o ".order_number"            \
    " AND version = " o ".version), (SELECT doc FROM order_docs WHERE number = " o                 \
    ".order_number AND version = " o ".version))"

#endif

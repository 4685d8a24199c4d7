/* till.h: the till's day (SPEC R3): per store, business day and tender, the
 * money taken and given back, with counts. See till.c. */
#ifndef CORDER_TILL_H
#define CORDER_TILL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/engine.h"

/* Adds one payment (refund false) or one refund of amount (> 0) to the
 * store's day for tender, in the current transaction. */
int till_add(engine *e, const char *store, const char *day, const char *tender, bool refund,
             int64_t amount, err_t *err);
/* [{tender, received, refunded, net, payments, refunds}] of one day, by
 * tender name; an empty array for a day without money. */
json_t *till_day(engine *e, const char *store, const char *day, err_t *err);

#endif

/* txlog.h: the transaction log (SPEC F8). See txlog.c for the format. */
#ifndef CORDER_TXLOG_H
#define CORDER_TXLOG_H

#include <jansson.h>

#include "store/engine.h"

typedef struct {
    const char *at, *store, *staff, *op, *order_number, *policy_version;
    json_t *request;          /* the op's arguments (written without any "pin" member) */
    const char *request_text; /* or their text, holding no "pin" member (then request is unused) */
    size_t request_len;
    const char *decisions;   /* JSON text: an array of {hook, args, today, answer, by} */
    json_t *result;          /* a short summary of what changed */
    const char *result_text; /* or the same as JSON text (then result is unused) */
} txlog_entry;

int txlog_append(engine *e, const txlog_entry *t, err_t *err);
/* {events: [...]} for one order, in order. */
int txlog_history(engine *e, const char *number, json_t **out, err_t *err);

#endif

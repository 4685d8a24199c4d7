/* schema.h: the shape of an op's arguments, written once in the op table
 * and checked at the edge, nested objects and arrays included. From one
 * schema come both the check and its messages ("lines[2].delivery.store:
 * unknown field"), so no flow keeps a second list of the keys it accepts.
 *
 * A schema is text, compiled once when its op is registered:
 *
 *   fields  := field (' ' field)*        an object's keys
 *            | fields ('|' fields)*      one of several shapes, told apart by
 *                                        a key written name:s=value in each
 *   field   := name ':' type ['?']       '?' = optional (null counts as absent)
 *   type    := s | i | b | o | a         string, integer, boolean, any object,
 *                                        any array
 *            | s=value                   a string that must be this value
 *            | '{' fields '}'            an object of these keys
 *            | '[' fields ']'            an array of objects of these keys
 *
 * e.g. "number:s lines:[line:i qty:i] approval:{staff:s pin:s}?".
 * Ranges, lengths and rules stay with the flows; a schema says only which
 * keys exist and what JSON type each is (bad_request when not). */
#ifndef CORDER_SCHEMA_H
#define CORDER_SCHEMA_H

#include <jansson.h>

#include "model/err.h"

typedef struct schema schema;

/* NULL with a message in err when the text does not parse. */
schema *schema_compile(const char *text, err_t *err);
void schema_free(schema *s);

/* Checks an object against the schema: unknown keys, then types (nested
 * values checked in their turn), then required keys; the first break is a
 * bad_request with details.field set to its full path. */
int schema_check(const schema *s, json_t *obj, err_t *err);

#endif

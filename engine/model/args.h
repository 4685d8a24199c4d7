/* args.h: strict reading of JSON arguments at the edge. Every getter names
 * the field's full path in its error ("lines[2].qty: expected an integer"),
 * so a client sees exactly what was wrong. Missing/mistyped/unknown fields
 * are bad_request (PROTOCOL.md); rule breaks are the flows' business. */
#ifndef CORDER_ARGS_H
#define CORDER_ARGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/err.h"

/* Rejects keys of obj not in the NULL-terminated list. */
int args_only(json_t *obj, const char *path, const char *const *allowed, err_t *err);

/* Each returns 1 if present and well-typed, 0 if absent and optional, -1
 * with err set otherwise. `path` prefixes the key in messages ("" at top). */
int args_str(json_t *obj, const char *path, const char *key, bool required, size_t maxlen,
             const char **out, err_t *err);
int args_int(json_t *obj, const char *path, const char *key, bool required, int64_t min,
             int64_t max, int64_t *out, err_t *err);
int args_bool(json_t *obj, const char *path, const char *key, bool required, bool *out, err_t *err);
int args_obj(json_t *obj, const char *path, const char *key, bool required, json_t **out,
             err_t *err);
int args_arr(json_t *obj, const char *path, const char *key, bool required, size_t max_items,
             json_t **out, err_t *err);

/* "path.key" or "path[i]" into buf. */
const char *args_path(char *buf, size_t n, const char *path, const char *key);
const char *args_index(char *buf, size_t n, const char *path, size_t i);

#endif

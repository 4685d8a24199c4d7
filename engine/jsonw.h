/* jsonw.h: a fast compact JSON writer for jansson values.
 *
 * jsonw_dumps(v, &len) returns exactly what json_dumps(v, JSON_COMPACT)
 * returns (same bytes: key order, escapes, numbers; NULL for a top-level
 * value that is not an object or array, as there), in a malloc'd string
 * the caller frees. It exists because jansson 2.14's dumper
 * guards against cycles by formatting every object's address with snprintf
 * into a hash table; for the order documents, log entries and answers that
 * every request writes, that bookkeeping cost more than the writing itself.
 * Values built by the engine have no cycles (jansson refuses to create
 * them), so a depth cap is enough here. */
#ifndef CORDER_JSONW_H
#define CORDER_JSONW_H

#include <jansson.h>
#include <stddef.h>

/* NULL on out of memory, or nesting deeper than 10000 (jansson parses at most
 * 2048 levels, so no request or stored document comes near). */
char *jsonw_dumps(const json_t *v, size_t *len);

#endif

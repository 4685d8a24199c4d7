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
#include <string.h>

/* NULL on out of memory, or nesting deeper than 10000 (jansson parses at most
 * 2048 levels, so no request or stored document comes near). */
char *jsonw_dumps(const json_t *v, size_t *len);
/* The same, leaving out every object member named drop, at any depth (the
 * transaction log writes a request without its PINs this way, without
 * copying the request first). */
char *jsonw_dumps_without(const json_t *v, const char *drop, size_t *len);

/* A writer for building JSON text straight from C values, with commas
 * placed automatically: the order document and its views are written this
 * way (order_text.c), without a jansson tree in between. */
#define JW_MAX_DEPTH 32

typedef struct {
    char *p;
    size_t n, cap;
    int failed;
} jsonw_buf;

typedef struct {
    jsonw_buf b;
    int depth;
    int after_key;
    unsigned char comma[JW_MAX_DEPTH];
} jsonw;

void jw_obj(jsonw *w);
void jw_end_obj(jsonw *w);
void jw_arr(jsonw *w);
void jw_end_arr(jsonw *w);
/* jw_key is inline so that a literal key's length is known when compiling
 * (order_text.c writes some 60 keys an order). */
void jw_keyn(jsonw *w, const char *key, size_t len);
static inline void jw_key(jsonw *w, const char *key)
{
    jw_keyn(w, key, strlen(key));
}
void jw_str(jsonw *w, const char *s);
void jw_int(jsonw *w, long long v);
void jw_bool(jsonw *w, int v);
void jw_null(jsonw *w);
/* A complete JSON value, as text or as a jansson value. */
void jw_raw(jsonw *w, const char *text, size_t len);
void jw_json(jsonw *w, const json_t *v);
/* The text (NUL-terminated, malloc'd, the caller frees); NULL if writing
 * failed (out of memory, or nesting past JW_MAX_DEPTH). Resets w. */
char *jw_finish(jsonw *w, size_t *len);
void jw_discard(jsonw *w);

#endif

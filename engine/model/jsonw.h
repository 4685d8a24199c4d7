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
/* The buffer's growth, out of line: 0, or -1 with b->failed set. */
int jw_grow(jsonw_buf *b, size_t more);

/* Room for more bytes: a comparison, and the growth only when the text
 * would not fit (every writer here and in jsonw.c asks this way). */
static inline int jw_reserve(jsonw_buf *b, size_t more)
{
    return b->n + more <= b->cap ? 0 : jw_grow(b, more);
}

/* Before any value or key: the comma that separates it from the last. */
static inline void jw_sep(jsonw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->comma[w->depth] && jw_reserve(&w->b, 1) == 0) w->b.p[w->b.n++] = ',';
    w->comma[w->depth] = 1;
}

/* A key, with its quotes and colon. Keys are the engine's own ASCII names:
 * written without an escape scan. Inline, so that a literal key's length
 * is known when compiling and the copy is a few moves: an order's text has
 * some 60 keys, and a call apiece was a tenth of the writer. */
static inline void jw_key(jsonw *w, const char *key)
{
    size_t len = strlen(key);
    jw_sep(w);
    jsonw_buf *b = &w->b;
    if (jw_reserve(b, len + 3) < 0) return;
    char *p = b->p + b->n;
    p[0] = '"';
    memcpy(p + 1, key, len);
    p[len + 1] = '"';
    p[len + 2] = ':';
    b->n += len + 3;
    w->after_key = 1;
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

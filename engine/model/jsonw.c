/* jsonw.c: the compact JSON writer (see jsonw.h). Byte-for-byte the output
 * of jansson's dump.c with JSON_COMPACT: no spaces, keys in insertion order,
 * strings escaped as dump_string does ("\\" "\"" \b \f \n \r \t, other
 * control characters as \u00XX in upper-case hex, '/' and non-ASCII as
 * they are), integers as %lld, reals through jansson itself (rare here,
 * and its %.17g clean-up is easy to get subtly wrong). */
#include "model/jsonw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JSONW_MAX_DEPTH 10000 /* parsed input stops at 2048; engine wrappers add a few */

typedef jsonw_buf wbuf;

/* The buffer's growth (jsonw.h: jw_reserve calls it when text would not fit). */
int jw_grow(jsonw_buf *b, size_t more)
{
    if (b->failed) return -1;
    size_t cap = b->cap ? b->cap : 2048; /* an order fits: no regrowth on the hot path */
    while (cap < b->n + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void put(wbuf *b, const char *s, size_t len)
{
    if (jw_reserve(b, len) < 0) return;
    memcpy(b->p + b->n, s, len);
    b->n += len;
}

static inline void putc1(wbuf *b, char c)
{
    if (jw_reserve(b, 1) < 0) return;
    b->p[b->n++] = c;
}

static void put_string_escaped(wbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    putc1(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0};
        size_t el = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        put(b, esc, el);
    }
    put(b, s + run, len - run);
    putc1(b, '"');
}

/* Where the first byte that needs an escape (a control character, '"' or
 * '\\') is, or len. Eight bytes a step (SWAR): a byte below 0x20 sets its
 * top bit in (x - 0x20..) & ~x, a byte equal to c is a zero byte of x ^ c..;
 * the tests are exact for "any byte in the word", and the byte loop finds
 * which. Strings are short (names, dates, codes), and the byte-at-a-time
 * scan was the writer's largest cost. */
#define JW_ONES 0x0101010101010101ULL
#define JW_HIGHS 0x8080808080808080ULL
static size_t plain_prefix(const char *s, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x, q, b;
        memcpy(&x, s + i, 8);
        q = x ^ (JW_ONES * '"');
        b = x ^ (JW_ONES * '\\');
        uint64_t hit = ((x - JW_ONES * 0x20) & ~x) | ((q - JW_ONES) & ~q) | ((b - JW_ONES) & ~b);
        if (hit & JW_HIGHS) break;
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\') break;
    }
    return i;
}

/* Most strings need no escape: one scan, one reservation, one copy. */
static void put_string(wbuf *b, const char *s, size_t len)
{
    if (plain_prefix(s, len) < len) {
        put_string_escaped(b, s, len);
        return;
    }
    if (jw_reserve(b, len + 2) < 0) return;
    char *p = b->p + b->n;
    p[0] = '"';
    memcpy(p + 1, s, len);
    p[len + 1] = '"';
    b->n += len + 2;
}

static void put_int(wbuf *b, json_int_t v)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    put(b, p, (size_t)(e - p));
}

/* v as JSON text; drop (or NULL) names a key left out of every object. */
static void put_value(wbuf *b, const json_t *v, int depth, const char *drop)
{
    if (b->failed) return;
    if (depth > JSONW_MAX_DEPTH) {
        b->failed = 1;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        putc1(b, '{');
        const char *k;
        size_t klen;
        json_t *e;
        int first = 1;
        json_object_keylen_foreach((json_t *)v, k, klen, e)
        {
            if (drop && !strcmp(k, drop)) continue;
            if (!first) putc1(b, ',');
            first = 0;
            put_string(b, k, klen);
            putc1(b, ':');
            put_value(b, e, depth + 1, drop);
        }
        putc1(b, '}');
        break;
    }
    case JSON_ARRAY: {
        putc1(b, '[');
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if (i) putc1(b, ',');
            put_value(b, json_array_get(v, i), depth + 1, drop);
        }
        putc1(b, ']');
        break;
    }
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        put_int(b, json_integer_value(v));
        break;
    case JSON_REAL: {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!s) {
            b->failed = 1;
            return;
        }
        put(b, s, strlen(s));
        free(s);
        break;
    }
    case JSON_TRUE:
        put(b, "true", 4);
        break;
    case JSON_FALSE:
        put(b, "false", 5);
        break;
    default:
        put(b, "null", 4);
        break;
    }
}

char *jsonw_dumps_without(const json_t *v, const char *drop, size_t *len)
{
    wbuf b = {0};
    if (!json_is_object(v) && !json_is_array(v)) return NULL;
    put_value(&b, v, 0, drop);
    putc1(&b, '\0');
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (len) *len = b.n - 1;
    return b.p;
}

char *jsonw_dumps(const json_t *v, size_t *len)
{
    return jsonw_dumps_without(v, NULL, len);
}

/* ---- the builder: a wbuf plus comma bookkeeping per nesting level ---- */

static wbuf *wb(jsonw *w)
{
    return &w->b;
}

static void jw_open(jsonw *w, char c)
{
    jw_sep(w);
    putc1(wb(w), c);
    if (++w->depth >= JW_MAX_DEPTH) {
        w->b.failed = 1;
        w->depth = JW_MAX_DEPTH - 1;
    }
    w->comma[w->depth] = 0;
}

static void jw_close(jsonw *w, char c)
{
    putc1(wb(w), c);
    if (w->depth > 0) w->depth--;
}

void jw_obj(jsonw *w)
{
    jw_open(w, '{');
}
void jw_end_obj(jsonw *w)
{
    jw_close(w, '}');
}
void jw_arr(jsonw *w)
{
    jw_open(w, '[');
}
void jw_end_arr(jsonw *w)
{
    jw_close(w, ']');
}

void jw_str(jsonw *w, const char *s)
{
    jw_sep(w);
    put_string(wb(w), s, strlen(s));
}

void jw_int(jsonw *w, long long v)
{
    jw_sep(w);
    put_int(wb(w), (json_int_t)v);
}

void jw_bool(jsonw *w, int v)
{
    jw_sep(w);
    if (v)
        put(wb(w), "true", 4);
    else
        put(wb(w), "false", 5);
}

void jw_null(jsonw *w)
{
    jw_sep(w);
    put(wb(w), "null", 4);
}

void jw_raw(jsonw *w, const char *text, size_t len)
{
    jw_sep(w);
    put(wb(w), text, len);
}

void jw_json(jsonw *w, const json_t *v)
{
    jw_sep(w);
    put_value(wb(w), v, 0, NULL);
}

char *jw_finish(jsonw *w, size_t *len)
{
    putc1(wb(w), '\0');
    char *p = w->b.p;
    size_t n = w->b.n;
    int failed = w->b.failed;
    memset(w, 0, sizeof *w);
    if (failed) {
        free(p);
        return NULL;
    }
    if (len) *len = n - 1;
    return p;
}

void jw_discard(jsonw *w)
{
    free(w->b.p);
    memset(w, 0, sizeof *w);
}

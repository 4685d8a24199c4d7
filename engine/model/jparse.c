/* jparse.c: the request reader's fast path (see jparse.h).
 *
 * WHY. Every request line is parsed into a jansson tree, and jansson's
 * parser reads its input a character at a time through a callback, with a
 * growing string buffer per token: for order.create it was the largest
 * single cost of the server's loop (about a sixth of the instructions of a
 * request). This parser walks the line once with a pointer and builds the
 * same tree with jansson's own constructors, taking strings straight from
 * the line when they hold no escape.
 *
 * It accepts a strict subset of what json_loadb(JSON_REJECT_DUPLICATES)
 * accepts and gives up (NULL) on anything else: a \u escape, a number with
 * a fraction or an exponent, an integer that does not fit, a byte that is
 * not printable ASCII inside a string (so UTF-8 is jansson's to validate),
 * a control character, a repeated key, nesting deeper than JPARSE_DEPTH,
 * anything after the value. The caller then parses the line with jansson,
 * so a request jparse declines is read, or refused with jansson's message,
 * exactly as before. */
#include "model/jparse.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Deeper than any request the op table knows; deeper goes to jansson. */
#define JPARSE_DEPTH 32
/* A string with escapes is decoded here; a longer one goes to jansson. */
#define JPARSE_SCRATCH 4096

typedef struct {
    const char *p, *end;
    const char *want;      /* a top-level member whose value's span is asked, or NULL */
    const char *from, *to; /* that span in the line */
    char scratch[JPARSE_SCRATCH];
} jp;

static json_t *value(jp *j, int depth);

static void skip_ws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* A string at j->p (its opening quote): *s and *n, pointing into the line
 * or into j->scratch. 0, or -1 to give up. */
static int string(jp *j, const char **s, size_t *n)
{
    const char *p = ++j->p, *start = p;
    while (p < j->end && *p != '"' && *p != '\\') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c >= 0x7f) return -1;
        p++;
    }
    if (p >= j->end) return -1;
    if (*p == '"') {
        *s = start;
        *n = (size_t)(p - start);
        j->p = p + 1;
        return 0;
    }
    /* escapes: decode into scratch */
    size_t o = (size_t)(p - start);
    if (o >= sizeof j->scratch) return -1;
    memcpy(j->scratch, start, o);
    while (p < j->end && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c >= 0x7f || o >= sizeof j->scratch) return -1;
        if (c == '\\') {
            if (++p >= j->end) return -1;
            switch (*p) {
            case '"':
                c = '"';
                break;
            case '\\':
                c = '\\';
                break;
            case '/':
                c = '/';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            default:
                return -1; /* \u and anything else: jansson's */
            }
        }
        j->scratch[o++] = (char)c;
        p++;
    }
    if (p >= j->end) return -1;
    *s = j->scratch;
    *n = o;
    j->p = p + 1;
    return 0;
}

/* An integer as JSON writes it: -?(0|[1-9][0-9]*), no fraction or
 * exponent, within json_int_t. */
static json_t *integer(jp *j)
{
    const char *p = j->p;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p >= j->end || *p < '0' || *p > '9') return NULL;
    if (*p == '0' && p + 1 < j->end && p[1] >= '0' && p[1] <= '9') return NULL;
    uint64_t v = 0;
    int digits = 0;
    while (p < j->end && *p >= '0' && *p <= '9') {
        if (++digits > 18) return NULL; /* may not fit: jansson decides */
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (p < j->end && (*p == '.' || *p == 'e' || *p == 'E')) return NULL;
    j->p = p;
    return json_integer(neg ? -(json_int_t)v : (json_int_t)v);
}

static bool word(jp *j, const char *w, size_t n)
{
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n)) return false;
    j->p += n;
    return true;
}

/* Whether o already has the key: the few keys of a request's object are
 * compared in order, which costs less than hashing the key a second time
 * (setn hashes it to insert); a larger object asks its hash table. */
static bool has_key(json_t *o, const char *key, size_t kn)
{
    if (json_object_size(o) > 8) return json_object_getn(o, key, kn) != NULL;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it))
        if (json_object_iter_key_len(it) == kn && !memcmp(json_object_iter_key(it), key, kn))
            return true;
    return false;
}

static json_t *object(jp *j, int depth)
{
    json_t *o = json_object();
    if (!o) return NULL;
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return o;
    }
    for (;;) {
        const char *k;
        size_t kn;
        char key[256];
        if (j->p >= j->end || *j->p != '"' || string(j, &k, &kn) < 0 || kn >= sizeof key) break;
        memcpy(key, k, kn); /* k may point into scratch, which the value reuses */
        key[kn] = 0;
        skip_ws(j);
        if (j->p >= j->end || *j->p != ':') break;
        j->p++;
        bool want = depth == 0 && j->want && !strcmp(key, j->want);
        if (want) {
            skip_ws(j);
            j->from = j->p;
        }
        json_t *v = value(j, depth + 1);
        if (!v) break;
        if (want) j->to = j->p;
        if (has_key(o, key, kn) || json_object_setn_new_nocheck(o, key, kn, v) < 0) {
            json_decref(v); /* a repeated key: jansson's error to give */
            break;
        }
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            skip_ws(j);
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return o;
        }
        break;
    }
    json_decref(o);
    return NULL;
}

static json_t *array(jp *j, int depth)
{
    json_t *a = json_array();
    if (!a) return NULL;
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return a;
    }
    for (;;) {
        json_t *v = value(j, depth + 1);
        if (!v || json_array_append_new(a, v) < 0) break;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return a;
        }
        break;
    }
    json_decref(a);
    return NULL;
}

static json_t *value(jp *j, int depth)
{
    if (depth > JPARSE_DEPTH) return NULL;
    skip_ws(j);
    if (j->p >= j->end) return NULL;
    switch (*j->p) {
    case '{':
        return object(j, depth);
    case '[':
        return array(j, depth);
    case '"': {
        const char *s;
        size_t n;
        return string(j, &s, &n) < 0 ? NULL : json_stringn_nocheck(s, n);
    }
    case 't':
        return word(j, "true", 4) ? json_true() : NULL;
    case 'f':
        return word(j, "false", 5) ? json_false() : NULL;
    case 'n':
        return word(j, "null", 4) ? json_null() : NULL;
    default:
        return integer(j);
    }
}

json_t *jparse(const char *text, size_t len)
{
    size_t off, n;
    return jparse_member(text, len, NULL, &off, &n);
}

json_t *jparse_member(const char *text, size_t len, const char *key, size_t *off, size_t *n)
{
    jp jj, *j = &jj;
    j->p = text;
    j->end = text + len;
    j->want = key;
    j->from = j->to = NULL;
    *off = *n = 0;
    skip_ws(j);
    json_t *v = NULL;
    if (j->p < j->end && (*j->p == '{' || *j->p == '[')) v = value(j, 0);
    if (v) {
        skip_ws(j);
        if (j->p != j->end) { /* anything after the value */
            json_decref(v);
            v = NULL;
        }
    }
    if (v && j->to) {
        *off = (size_t)(j->from - text);
        *n = (size_t)(j->to - j->from);
    }
    return v;
}

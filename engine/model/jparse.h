/* jparse.h: a fast reader for the common request line (see jparse.c).
 * jparse returns the tree json_loadb(text, len, JSON_REJECT_DUPLICATES)
 * would return for the JSON it handles (an object or array of strings
 * without \u escapes or non-ASCII bytes, integers, true, false, null), and
 * NULL for everything else, valid or not: the caller then asks jansson,
 * whose answer or error message stands. */
#ifndef CORDER_JPARSE_H
#define CORDER_JPARSE_H

#include <jansson.h>
#include <stddef.h>

json_t *jparse(const char *text, size_t len);
/* jparse, and where the value of the top-level member named key lies in
 * text: text + *off, *n bytes, as the line spells it (*n is 0 when the
 * line has no such member, or when jparse declined it). */
json_t *jparse_member(const char *text, size_t len, const char *key, size_t *off, size_t *n);

#endif

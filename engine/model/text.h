/* text.h: text as it enters and moves inside the engine. Every string the
 * engine keeps is UTF-8 (JSON demands it, and a document the engine cannot
 * read back would stop the order and its upload). Fixed-size fields are
 * filled with text_copy, which never cuts a character in two. */
#ifndef CORDER_TEXT_H
#define CORDER_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Copies src into dst (size n > 0), cut at the last whole UTF-8 character
 * that fits; always NUL-terminated. Returns whether all of src fitted. */
bool text_copy(char *dst, size_t n, const char *src);

/* Whether s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, no
 * code points above U+10FFFF) without NUL bytes. */
bool text_utf8_ok(const char *s, size_t len);

/* Where to cut s (of length len) to keep at most max bytes without
 * cutting a character: the largest cut <= max at a character boundary. */
size_t text_cut(const char *s, size_t len, size_t max);

/* Whether s is empty or only white space (ASCII space, tab, CR, LF). */
bool text_blank(const char *s);

/* Copies s without its leading and trailing white space into dst (size n),
 * as text_copy does. */
bool text_copy_trimmed(char *dst, size_t n, const char *s);

/* Whether two names are the same person's as a clerk would see it (F9):
 * white space around them ignored, letters compared without case, in
 * UTF-8: "  Émile " = "émile". Case is folded for Latin (ASCII, Latin-1,
 * Latin Extended-A), Greek and Cyrillic capitals; other characters must
 * match exactly. Invalid UTF-8 never matches. */
bool text_same_name(const char *a, const char *b);

#endif

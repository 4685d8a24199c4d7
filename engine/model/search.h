/* search.h: what a search text `q` means (SPEC F12), apart from how it is
 * indexed. A q matches a text when it is part of it, compared after case
 * folding (search_fold), and a phone when q is written like a phone (only
 * digits and " -.()+/") and its digits are part of the phone's digits
 * (search_phone_key). The store (orders.c, master.c, fts.c) finds
 * candidates with FTS5 trigram indexes, using MATCH expressions made here
 * from the trigrams it picks, and keeps those that search_hit accepts: the
 * index only narrows, this file decides, so both ops mean the same by
 * "matches". */
#ifndef CORDER_SEARCH_H
#define CORDER_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

#include "model/err.h"

/* The longest q in bytes (longer is validation on the field), and the
 * fewest characters: the trigram index needs three. */
#define SEARCH_Q_MAX 128
#define SEARCH_Q_MIN 3

/* Trigrams of one q, at most: every character starts at most one. */
#define SEARCH_GRAMS_MAX (2 * SEARCH_Q_MAX)
/* A MATCH expression (search_match) of a few trigrams per group fits. */
#define SEARCH_MATCH_MAX 512

typedef struct {
    char text[SEARCH_Q_MAX * 2 + 1]; /* q folded (a folded letter is never longer) */
    char phone[SEARCH_Q_MAX + 1];    /* q's phone key, "" when q is not phone-like */
    /* The distinct trigrams of text (grams[0..n_text)) and of phone
     * (grams[n_text..n_grams)): a row the query matches holds every
     * trigram of one of the two groups, so the store may narrow by any
     * of them (search_match). */
    char grams[SEARCH_GRAMS_MAX][13];
    size_t n_text, n_grams;
} search_query;

/* Checks q (field names it in errors: validation when empty, shorter than
 * SEARCH_Q_MIN characters or longer than SEARCH_Q_MAX bytes) and makes the
 * query. */
int search_query_make(const char *q, const char *field, search_query *sq, err_t *err);

/* The FTS5 MATCH expression for the trigrams that use[] marks (one flag
 * per grams[i]), text group OR phone group (with_phone false: the text
 * group alone); a group none of whose trigrams is marked is left out.
 * Every trigram is a quoted FTS5 string ('"' doubled), so any q is
 * literal: no operator, column filter or prefix survives. False when
 * nothing is marked (the query can match nothing there) or out (size n)
 * is too small. */
bool search_match(const search_query *sq, const bool *use, bool with_phone, char *out, size_t n);

/* Lower case of s into out (size n, cut at a whole character): ASCII,
 * Latin-1, Latin Extended-A, Greek and Cyrillic capitals; every other
 * character as it is. */
void search_fold(const char *s, char *out, size_t n);

/* s without the phone separators " -.()+/" into out (size n); returns
 * whether s had only digits and separators. */
bool search_phone_key(const char *s, char *out, size_t n);

/* Whether the query matches any of texts[0..n) (NULLs skipped) or the
 * phone (NULL: none). */
bool search_hit(const search_query *sq, const char *const *texts, size_t n, const char *phone);

#endif

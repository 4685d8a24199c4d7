/* fts.h: which trigrams of a search text the store asks an FTS5 trigram
 * index for (SPEC F12). Any trigram of q narrows correctly (search_hit
 * decides), but a common one ("kla" of a chain's every "Klant…", "s00" of
 * every order number) makes the index walk long lists; so the store
 * counts, up to a small cap, the rows of each trigram and asks for the
 * rarest few only. */
#ifndef CORDER_FTS_H
#define CORDER_FTS_H

#include <stdbool.h>
#include <stddef.h>

#include "model/search.h"
#include "store/engine.h"

/* The MATCH expression of sq for one index into out (size n). probe_sql is
 * a static text counting one trigram's rows, at most FTS_PROBE_CAP:
 * "SELECT count(*) FROM (SELECT 1 FROM t WHERE t MATCH ?1 LIMIT ?2)".
 * with_phone false: the text trigrams alone (an index without phones).
 * Returns 1 with out, 0 when q can match no row there (a trigram has none,
 * or the group used is empty), -1 on error. */
int fts_match(engine *e, const char *probe_sql, const search_query *sq, bool with_phone, char *out,
              size_t n, err_t *err);

/* Puts the numbers of the orders made since the last call into the number
 * index (order_numbers), in one statement: called once per transaction,
 * before COMMIT (engine_commit), outside any savepoint. Until then a new
 * order waits in order_numbers_pending, which order.find reads too. */
int fts_index_new_orders(engine *e, err_t *err);

/* Rows counted per trigram, at most: enough to tell rare from common. */
#define FTS_PROBE_CAP 4096
/* Trigrams asked for per group: more narrows little and costs a list each. */
#define FTS_PICK 3

#endif

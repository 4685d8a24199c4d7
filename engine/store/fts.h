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

/* Puts the numbers of the orders waiting in order_numbers_pending into the
 * number index (order_numbers), in one statement, when at least at_least
 * wait: engine_commit calls it before every COMMIT, outside any savepoint,
 * with FTS_PENDING_MAX. Until then a new order waits there, and order.find
 * checks the waiting ones one by one. */
int fts_index_new_orders(engine *e, int at_least, err_t *err);

/* New orders waiting in order_numbers_pending before the number index
 * takes them, in one segment. FTS5 writes each insert statement's terms as
 * a segment and merges segments by fours, so the index's cost per order
 * falls with the size of the chunk; but the flush runs inside a COMMIT on
 * the loop, where every request in flight waits for it. Measured in the
 * server under the bench's load: 64 a flush, 0.25 ms each (3.4 us a
 * number); 256, 0.6 ms (2.2 us); 1,024, 2.0 ms (1.9 us) with stalls up to
 * 19 ms when a merge comes due. 256 keeps the stall below a commit's own
 * fsync for 0.3 us an order more. A search checks the waiting ones one by
 * one, well under a millisecond. */
#define FTS_PENDING_MAX 256

/* After each flush, a bounded step of merging the number index's
 * segments (about FTS_MERGE_PAGES pages written). FTS5's automerge, which the
 * schema turns off (migration 13), merged in lumps: once every 64 leaf
 * pages written it did 64 pages of merging per level of the index at once,
 * a COMMIT of 15-26 ms on the loop about once a second under the bench's
 * load, and every request in flight waited it out. 8 pages a flush keep
 * pace: after 25 s of the bench's load (~420,000 orders) the index had 10
 * segments where automerge left 21; in four alternating 8 s runs at 32 x 2
 * the slowest answer was 8.6-12.0 ms against 21.6-178.7 ms, the COMMITs
 * over 3 ms 0-2 against 11-12 a run, at the same rate. A level that still
 * reaches 16 segments is merged whole, as before (FTS5's crisismerge). */
#define FTS_MERGE_PAGES 8
#define FTS_STR_(x) #x
#define FTS_STR(x) FTS_STR_(x)
#define FTS_MERGE_SQL                                                                              \
    "INSERT INTO order_numbers(order_numbers, rank) VALUES('merge', " FTS_STR(FTS_MERGE_PAGES) ")"

/* Rows counted per trigram, at most: enough to tell rare from common. */
#define FTS_PROBE_CAP 4096
/* Trigrams asked for per group: more narrows little and costs a list each. */
#define FTS_PICK 3

#endif

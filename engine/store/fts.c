/* fts.c: the rarest trigrams of a search text, and the number index kept
 * once per batch (see fts.h). */
#include "store/fts.h"

#include <string.h>

/* The count of rows holding gram g (at most FTS_PROBE_CAP), -1 on error. */
static int probe(engine *e, sqlite3_stmt *st, const char *g, err_t *err)
{
    char m[32];
    size_t o = 0;
    m[o++] = '"';
    for (; *g && o < sizeof m - 3; g++) {
        if (*g == '"') m[o++] = '"';
        m[o++] = *g;
    }
    m[o++] = '"';
    m[o] = 0;
    sqlite3_bind_text(st, 1, m, (int)o, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, FTS_PROBE_CAP);
    int rc = sqlite3_step(st), count = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_reset(st);
    if (count < 0) engine_sqlerr(e, err, "search index");
    return count;
}

int fts_match(engine *e, const char *probe_sql, const search_query *sq, bool with_phone, char *out,
              size_t n, err_t *err)
{
    sqlite3_stmt *st = engine_stmt(e, probe_sql, err);
    if (!st) return -1;
    bool use[SEARCH_GRAMS_MAX] = {false};
    int count[SEARCH_GRAMS_MAX];
    size_t groups[3] = {0, sq->n_text, with_phone ? sq->n_grams : sq->n_text};
    bool any = false;
    for (int g = 0; g < 2; g++) {
        size_t from = groups[g], to = groups[g + 1];
        if (from == to) continue;
        bool empty = false;
        for (size_t i = from; i < to && !empty; i++) {
            if ((count[i] = probe(e, st, sq->grams[i], err)) < 0) return -1;
            empty = count[i] == 0;
        }
        if (empty) continue; /* a trigram no row holds: this group finds nothing */
        for (int k = 0; k < FTS_PICK && k < (int)(to - from); k++) {
            size_t best = to;
            for (size_t i = from; i < to; i++)
                if (!use[i] && (best == to || count[i] < count[best])) best = i;
            use[best] = true;
        }
        any = true;
    }
    if (!any) return 0;
    if (!search_match(sq, use, with_phone, out, n))
        return err_set(err, ERR_INTERNAL, "search expression too long");
    return 1;
}

int fts_index_new_orders(engine *e, int at_least, err_t *err)
{
    /* FTS5 writes each statement's terms out as an index segment (and at
     * every savepoint), then merges segments by fours: one INSERT of many
     * numbers makes one big segment instead of one per order or per batch,
     * merged again and again. CROSS JOIN keeps the waiting rows the outer
     * loop: with a plain JOIN SQLite walked the whole orders index and
     * looked each number up in the waiting list, 3 ms a flush at 10,000
     * orders and 300 at 1,000,000, on the loop. */
    sqlite3_stmt *count = engine_stmt(e, "SELECT count(*) FROM order_numbers_pending", err);
    if (!count) return -1;
    int rc = sqlite3_step(count), waiting = sqlite3_column_int(count, 0);
    sqlite3_reset(count);
    if (rc != SQLITE_ROW) return engine_sqlerr(e, err, "number index");
    if (waiting == 0 || waiting < at_least) return 0;
    sqlite3_stmt *add = engine_stmt(e,
                                    "INSERT INTO order_numbers(rowid, number) SELECT o.rowid,"
                                    " o.number FROM order_numbers_pending p CROSS JOIN orders o"
                                    " ON o.rowid = p.rowid",
                                    err);
    if (!add) return -1;
    rc = sqlite3_step(add);
    sqlite3_reset(add);
    if (rc != SQLITE_DONE) return engine_sqlerr(e, err, "number index");
    sqlite3_stmt *merge = engine_stmt(e, FTS_MERGE_SQL, err);
    if (!merge) return -1;
    rc = sqlite3_step(merge);
    sqlite3_reset(merge);
    if (rc != SQLITE_DONE) return engine_sqlerr(e, err, "number index merge");
    sqlite3_stmt *clear = engine_stmt(e, "DELETE FROM order_numbers_pending", err);
    if (!clear) return -1;
    rc = sqlite3_step(clear);
    sqlite3_reset(clear);
    return rc == SQLITE_DONE ? 0 : engine_sqlerr(e, err, "number index");
}

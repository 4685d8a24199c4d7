/* txcache.c: rows that every write of a batch changes, written once a
 * transaction instead of once a request.
 *
 * The server runs a batch of requests in one write transaction (server.c,
 * engine_begin .. engine_commit), and every order.create of it bumps the
 * same row of counters (its store's order number) and adds to the same row
 * of till (its store's day, its tender): a SELECT and a write of each, some
 * 22,000 instructions an order, 7 % of a create, for rows whose values only
 * matter at COMMIT. Here such a row is read once in the transaction, changed
 * in memory by each request, and written once, just before COMMIT
 * (engine_commit calls txc_flush).
 *
 * What keeps it exact:
 *   - only inside a write transaction (BEGIN IMMEDIATE holds the write
 *     lock: no other connection changes a row meanwhile); outside one, and
 *     when the rows here are all taken, callers read and write through SQL
 *     as before. A row is either kept here or written through SQL within a
 *     transaction, never both: a key kept is always found here first;
 *   - a request runs in a savepoint, and a failed one is rolled back: each
 *     savepoint notes the rows as they were (txc_save) and its rollback puts
 *     them back (txc_end), as SQLite puts back the request's other writes,
 *     so a failed request takes no number and adds nothing to the till.
 *     Savepoints nest as a stack, as SQLite's do; past TXC_DEPTH open ones
 *     the rows are written to SQL and forgotten when the next opens, and
 *     SQL's rollback then covers them;
 *   - a statement that reads the table itself (the till's day) first has
 *     the rows written (txc_flush for that kind): it sees what SQL would;
 *   - a transaction that ends without COMMIT (rolled back, or lost to an
 *     I/O error) forgets everything (txc_reset); a flush runs only while
 *     the transaction is open, so a lost one's values are never written on
 *     their own.
 * Per row at most TXC_VALUES integers; the kinds say how to load and store
 * them (master.c: counters; till.c: the till's day). */
#include "store/txcache.h"

#include <string.h>

#include "store/engine_internal.h"

static bool in_write_txn(engine *e)
{
    return e->in_txn && !sqlite3_get_autocommit(e->db);
}

void txc_reset(engine *e)
{
    e->tc.now.n = 0;
    e->tc.depth = e->tc.deeper = 0;
}

/* Only the rows in use are copied: a request's savepoint copies two. */
static void copy_rows(txc_rows *to, const txc_rows *from)
{
    to->n = from->n;
    memcpy(to->rows, from->rows, (size_t)from->n * sizeof from->rows[0]);
}

int txc_save(engine *e, err_t *err)
{
    txcache *tc = &e->tc;
    if (tc->deeper == 0 && tc->depth < TXC_DEPTH) {
        copy_rows(&tc->saved[tc->depth++], &tc->now);
        return 0;
    }
    if (txc_flush(e, NULL, err) < 0) return -1;
    tc->now.n = 0;
    tc->deeper++;
    return 0;
}

void txc_end(engine *e, bool rolled_back)
{
    txcache *tc = &e->tc;
    if (tc->deeper > 0) {
        tc->deeper--;
        /* SQL held the rows when it opened: what was read and changed
         * since is SQL's to put back, so it is read again */
        if (rolled_back) tc->now.n = 0;
        return;
    }
    if (tc->depth == 0) return;
    tc->depth--;
    if (rolled_back) copy_rows(&tc->now, &tc->saved[tc->depth]);
}

int txc_flush(engine *e, const txc_kind *k, err_t *err)
{
    if (!in_write_txn(e)) return 0;
    for (int i = 0; i < e->tc.now.n; i++) {
        txc_row_t *r = &e->tc.now.rows[i];
        if (!r->dirty || (k && r->kind != k)) continue;
        if (r->kind->store(e, r->key, r->v, r->exists, err) < 0) return -1;
        r->dirty = false;
        r->exists = true;
    }
    return 0;
}

int txc_row(engine *e, const txc_kind *k, const char *const *parts, int nparts, int64_t **v,
            err_t *err)
{
    if (!in_write_txn(e)) return 0;
    char key[TXC_KEY_MAX];
    size_t len = 0;
    for (int i = 0; i < nparts; i++) {
        size_t n = strlen(parts[i]) + 1;
        if (len + n > sizeof key) return 0;
        memcpy(key + len, parts[i], n);
        len += n;
    }
    txc_rows *rs = &e->tc.now;
    for (int i = 0; i < rs->n; i++) {
        txc_row_t *r = &rs->rows[i];
        if (r->kind == k && r->klen == len && !memcmp(r->key, key, len)) {
            r->dirty = true;
            *v = r->v;
            return 1;
        }
    }
    if (rs->n == TXC_ROWS) return 0;
    txc_row_t *r = &rs->rows[rs->n];
    memset(r->v, 0, sizeof r->v);
    int found = k->load(e, key, r->v, err);
    if (found < 0) return -1;
    r->kind = k;
    r->klen = (uint16_t)len;
    memcpy(r->key, key, len);
    r->exists = found == 1;
    r->dirty = true;
    rs->n++;
    *v = r->v;
    return 1;
}

const char *txc_part(const char *key, int i)
{
    while (i-- > 0)
        key += strlen(key) + 1;
    return key;
}

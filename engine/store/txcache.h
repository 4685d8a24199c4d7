/* txcache.h: rows that every write of a batch changes (the order-number
 * counter, the till's day), kept in memory within the write transaction
 * and written once, at its COMMIT (see txcache.c). For store modules only. */
#ifndef CORDER_TXCACHE_H
#define CORDER_TXCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/engine.h"

#define TXC_ROWS 16     /* rows kept per transaction; more go through SQL */
#define TXC_VALUES 4    /* integer columns a row may have */
#define TXC_KEY_MAX 128 /* a key's parts, each ended by its '\0' */
#define TXC_DEPTH 4     /* savepoints noted; deeper ones hand the rows to SQL */

/* A kind of row: how its columns are read and written. key is the row's
 * key parts one after the other, each ended by its '\0' (txc_part walks
 * them). */
typedef struct {
    /* v[] of the row: 1 found, 0 none (v left zero), -1 error */
    int (*load)(engine *e, const char *key, int64_t v[TXC_VALUES], err_t *err);
    /* writes v[] (exists: the row was there when loaded) */
    int (*store)(engine *e, const char *key, const int64_t v[TXC_VALUES], bool exists, err_t *err);
} txc_kind;

typedef struct {
    const txc_kind *kind;
    uint16_t klen;
    bool exists, dirty;
    int64_t v[TXC_VALUES];
    char key[TXC_KEY_MAX];
} txc_row_t;

typedef struct {
    int n;
    txc_row_t rows[TXC_ROWS];
} txc_rows;

typedef struct {
    txc_rows now;
    txc_rows saved[TXC_DEPTH]; /* as at each open savepoint, outermost first */
    int depth;                 /* savepoints noted in saved[] */
    int deeper;                /* savepoints open past TXC_DEPTH */
} txcache;

/* The transaction began, or ended without a commit: nothing is kept. */
void txc_reset(engine *e);
/* A savepoint opens: what is kept now is noted (past TXC_DEPTH open ones,
 * it is written out and forgotten instead, so that SQL's own rollback
 * covers it); -1 when that write fails. */
int txc_save(engine *e, err_t *err);
/* The innermost savepoint ends: rolled back, what it noted is put back;
 * released, what it changed stays. */
void txc_end(engine *e, bool rolled_back);
/* Writes every changed row (of kind k, or of every kind with NULL): before
 * COMMIT, and before a statement reads the rows' table itself. */
int txc_flush(engine *e, const txc_kind *k, err_t *err);
/* The values of the row with key parts[0..nparts), loaded on first use in
 * the transaction, for the caller to change (they are written at COMMIT):
 * 1 with *v set; 0 when not kept (outside a write transaction, no room, a
 * key too long): the caller reads and writes the row through SQL itself;
 * -1 on error. */
int txc_row(engine *e, const txc_kind *k, const char *const *parts, int nparts, int64_t **v,
            err_t *err);
/* The key part after p (a part of a row's key), or NULL after the last. */
const char *txc_part(const char *key, int i);

#endif

/* master_sync.h: a store's side of master data from HQ (SPEC C4): what it
 * has applied (master_sync), applying one page of hq.master.since, and the
 * customers made here that wait to go up (master_outbox). HQ's side is
 * master_log.h; the loop that asks is engine/sync/sync_master.c. */
#ifndef CORDER_MASTER_SYNC_H
#define CORDER_MASTER_SYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/engine.h"

typedef struct {
    char source[40];    /* HQ's master data followed; "" before the first page */
    int64_t version;    /* the version applied */
    char store[32];     /* the store this database signs in to HQ as for it */
    int64_t checked_at; /* epoch s: HQ last said there is nothing newer; 0 never */
    int64_t applied_at; /* epoch s: the last page with changes applied; 0 never */
    char error[256];    /* the last page refused, "" when the last one went in */
} master_sync_state;

int master_sync_state_get(engine *e, master_sync_state *out, err_t *err);

/* What one page did. */
typedef struct {
    int64_t from, to; /* versions */
    int64_t applied;  /* changes applied */
    bool more;        /* HQ has more: ask again at once */
    bool restart;     /* the page was not for this database's version: ask from 0 */
    bool staff;       /* staff or their stores changed */
} master_page_out;

/* Applies one hq.master.since answer ({version, changes, more, source}) on
 * top of what this database has, in the caller's transaction (savepoint):
 * every change checked as `corder init` checks a seed and written, the
 * version moved, one txlog entry (op "master.apply") written. Anything
 * wrong with the page (shape, versions out of order or not after the
 * database's, a document a seed could not hold) fails the whole call:
 * the caller rolls back and nothing of the page stays. A customer or
 * store removed at HQ is kept here (orders name them). */
int master_sync_apply(engine *e, json_t *answer, master_page_out *out, err_t *err);

/* Notes the outcome of a round with HQ: the store used to sign in (NULL:
 * unchanged), and error ("" or NULL: none, and HQ had nothing newer, so
 * the master data is current as of now). */
int master_sync_note(engine *e, const char *store, const char *error, bool current, err_t *err);

/* Up to max customers queued for HQ, as [{account, name, …, addresses}]
 * (new reference) and what to acknowledge: [[account, seq]]. */
int master_outbox_batch(engine *e, int max, json_t **customers, json_t **acks, err_t *err);
/* HQ took them: each row goes unless it changed again since (its seq). */
int master_outbox_done(engine *e, json_t *acks, err_t *err);
int master_outbox_count(engine *e, int64_t *n, err_t *err);

#endif

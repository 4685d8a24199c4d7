/* walsync.h: the thread that makes pipelined commits durable (walsync.c).
 *
 * Tickets: walsync_ask returns a ticket and wakes the thread; ticket t is
 * durable once an fdatasync of the -wal file that began after t was asked
 * has returned. So anything written to the WAL before walsync_ask is on
 * disk when its ticket is durable. */
#ifndef CORDER_WALSYNC_H
#define CORDER_WALSYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "model/err.h"

typedef struct walsync walsync;

/* Called on the sync thread after each sync, good or failed. */
typedef void (*walsync_fn)(void *arg);

/* wal_path: the database's -wal file (opened at the first sync). */
walsync *walsync_open(const char *wal_path, walsync_fn done, void *arg, err_t *err);
/* Syncs whatever was asked, then stops the thread. NULL is fine. */
void walsync_close(walsync *w);

/* Replaces the callback; returns once no call of the old one is running
 * (so its arg may be freed then). NULL: none. */
void walsync_set_done(walsync *w, walsync_fn done, void *arg);

/* A new ticket: a sync starts after this call. */
uint64_t walsync_ask(walsync *w);
/* The last ticket asked (0: none yet). */
uint64_t walsync_last(walsync *w);
/* 1: ticket is durable; 0: not yet; -1: a sync failed (for good: nothing
 * asked after a failed sync is ever called durable). */
int walsync_durable(walsync *w, uint64_t ticket);
/* Blocks until ticket is durable: 0, or -1 (err set) after a failed sync. */
int walsync_wait(walsync *w, uint64_t ticket, err_t *err);

/* Counts for the metrics: syncs done and their seconds. */
void walsync_counts(walsync *w, uint64_t *syncs, double *seconds);

#endif

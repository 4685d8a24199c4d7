/* master_log.h: HQ's master data with versions (SPEC C4), in HQ's own
 * corder database: which master row changed at which version, so a store
 * can ask for everything changed since the version it has (hq.master.since).
 * master_sync.h is the store's side, which applies what this hands out. */
#ifndef CORDER_MASTER_LOG_H
#define CORDER_MASTER_LOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/engine.h"

/* The largest page a store may ask for, and the bytes a page stops at
 * (one change always goes, however big: a customer is at most ~130 KiB). */
#define MASTER_PAGE_MAX 1000
#define MASTER_PAGE_BYTES (256u << 10)

/* Creates the version log and its triggers if they are not there, and on
 * the first time logs every master row already present. Runs in its own
 * transaction (serve --role hq, before it serves). */
int master_log_install(engine *e, err_t *err);

/* Up to limit changes after version since, oldest first:
 * [{kind, key, version, doc} | {kind, key, version, removed: true}]
 * (new reference); *version: the last one's version, or HQ's newest when
 * there are none; *more: whether more follow; source: the id of this
 * master data (a store that follows another one starts over). */
int master_log_since(engine *e, int64_t since, int limit, json_t **changes, int64_t *version,
                     bool *more, char source[40], err_t *err);

/* The current document of one master row: 1 with *doc (new reference), 0
 * when the row is gone, -1 on error. kind: store, staff, customer,
 * product, reasons. */
int master_log_doc(engine *e, const char *kind, const char *key, json_t **doc, err_t *err);

#endif

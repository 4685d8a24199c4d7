/* sync_moved.h: a store's ownership poll (SPEC C5, sync_moved.c). Internal
 * to engine/sync: sync_start runs it beside the uploader. */
#ifndef CORDER_SYNC_MOVED_H
#define CORDER_SYNC_MOVED_H

#include "net/server.h"
#include "store/engine.h"

typedef struct sync_moved sync_moved;
sync_moved *sync_moved_start(server *srv, engine *e, const char *hq, const char *token,
                             const char *hq_ca, err_t *err);
void sync_moved_stop(sync_moved *m);

#endif

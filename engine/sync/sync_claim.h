/* sync_claim.h: SPEC C5 at a store's server (sync_claim.c): a request
 * about an order this server does not hold goes to HQ first, without
 * blocking the loop. Internal to engine/sync. */
#ifndef CORDER_SYNC_CLAIM_H
#define CORDER_SYNC_CLAIM_H

#include <stdbool.h>

#include "net/server.h"
#include "ops/dispatch.h"
#include "sync/uplink.h"

/* Takes the request when it is an order.get or a change (a write op with
 * a `number`) of an order not held here: the gate then releases it once
 * HQ has answered (a copy on the request, the claimed order kept, or the
 * error on the request). false: not taken, the request runs as it is. */
bool sync_claim_take(server *srv, engine *e, uplink *rt, server_wait *w, session *sess,
                     dispatch_req *req);

#endif

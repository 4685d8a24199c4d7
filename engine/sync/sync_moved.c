/* sync_moved.c: what a store's server tells HQ and learns from it about
 * ownership (SPEC C5), every SYNC_MOVED_MS on the server's loop, apart
 * from the uploader (its own uplink, so neither waits for the other).
 *
 * For each store this database has sent events for, one hq.order.moved:
 *   - unsent: the store's orders with events HQ has not acknowledged or
 *     that are set aside. HQ refuses a claim of such an order (conflict):
 *     the owner has changes HQ has not received.
 *   - seen: the versions of orders given up to a claim that the last
 *     answer brought and this server has kept since.
 *   - the answer: orders this store gave up to a claim whose newer
 *     versions it has not acknowledged. Each is kept read-only here
 *     (flow_adopt: a change of it is then invalid_state naming the owner)
 *     in one transaction, and acknowledged at the next poll. A crash
 *     before that costs a second copy of the same version, which is
 *     skipped.
 * So the former owner shows the order read-only, with its later states,
 * within about SYNC_MOVED_MS of the claim or of the owner's upload. A
 * change the former owner made before it learnt of a claim reaches HQ as
 * a change from a store that no longer owns the order: HQ refuses it
 * (conflict, details.owner), the uploader sets it aside with the reason,
 * and the poll then replaces the order with the owner's. */
#include "sync/sync_moved.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flows/flow.h"
#include "model/text.h"
#include "store/sync_queue.h"
#include "sync/uplink.h"

#define SYNC_MOVED_MS 3000
#define SYNC_MOVED_CALL_MS 5000
#define SYNC_MOVED_UNSENT 2000

struct sync_moved {
    server *srv;
    engine *e;
    uplink *link;
    struct event *tick;
    bool busy;
    json_t *stores; /* this poll's stores */
    size_t cur;
    json_t *seen; /* per store id: [{number, version}] to acknowledge */
    bool said;    /* HQ's refusal was reported; quiet until a poll succeeds */
};

static void poll_next(sync_moved *m);

typedef struct {
    json_t *orders;
    json_t *seen; /* what was kept: filled */
} keep_arg;

static int keep_fn(engine *e, void *arg, err_t *err)
{
    keep_arg *k = arg;
    size_t i;
    json_t *o;
    json_array_foreach(k->orders, i, o)
    {
        json_t *doc = json_object_get(o, "order");
        const char *number = json_string_value(json_object_get(o, "number"));
        const char *owner = json_string_value(json_object_get(o, "owner"));
        const char *state = json_string_value(json_object_get(o, "state"));
        if (!json_is_object(doc) || !number || !owner) continue;
        bool skipped;
        if (flow_adopt(e, doc, owner, true, state ? state : "uploaded",
                       json_string_value(json_object_get(o, "hq_order")), NULL, &skipped, err) < 0)
            return -1;
        json_array_append_new(k->seen, json_pack("{s:s, s:O}", "number", number, "version",
                                                 json_object_get(doc, "version")));
    }
    return 0;
}

static void moved_cb(void *arg, json_t *resp, const char *error)
{
    sync_moved *m = arg;
    const char *store = json_string_value(json_array_get(m->stores, m->cur));
    json_t *orders = json_object_get(json_object_get(resp, "result"), "orders");
    if (!json_is_array(orders)) { /* HQ away or refusing: the next tick tries again */
        const char *why = json_string_value(
            json_object_get(json_object_get(resp, "error"), "message")); /* NULL: away */
        if (why && !m->said)
            fprintf(stderr, "corder: sync: HQ refused the ownership poll of %s: %s\n", store, why);
        m->said = m->said || why;
        m->cur = json_array_size(m->stores);
        poll_next(m);
        return;
    }
    m->said = false;
    keep_arg k = {orders, json_array()};
    err_t err = {0};
    if (server_write(m->srv, keep_fn, &k, &err) < 0) {
        fprintf(stderr, "corder: sync: keeping orders claimed elsewhere: %s\n", err.message);
        json_decref(k.seen);
    } else {
        json_object_set_new(m->seen, store, k.seen); /* acknowledged at the next poll */
    }
    m->cur++;
    poll_next(m);
}

static void poll_next(sync_moved *m)
{
    err_t err = {0};
    if (m->cur >= json_array_size(m->stores)) {
        json_decref(m->stores);
        m->stores = NULL;
        m->busy = false;
        return;
    }
    const char *store = json_string_value(json_array_get(m->stores, m->cur));
    json_t *unsent;
    if (sync_queue_unsent(m->e, store, SYNC_MOVED_UNSENT, &unsent, &err) < 0) {
        m->cur++;
        poll_next(m);
        return;
    }
    json_t *seen = json_object_get(m->seen, store);
    json_t *args = json_pack("{s:s, s:o, s:O}", "store", store, "unsent", unsent, "seen",
                             seen ? seen : json_array());
    if (!seen) json_decref(json_object_get(args, "seen")); /* the O's extra reference */
    json_object_del(m->seen, store);
    uplink_call(m->link, store, "hq.order.moved", args, SYNC_MOVED_CALL_MS, moved_cb, m);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    sync_moved *m = arg;
    err_t err = {0};
    if (m->busy || sync_queue_senders(m->e, &m->stores, &err) < 0) return;
    m->busy = true;
    m->cur = 0;
    poll_next(m);
}

sync_moved *sync_moved_start(server *srv, engine *e, const char *hq, const char *token,
                             const char *hq_ca, err_t *err)
{
    sync_moved *m = calloc(1, sizeof *m);
    if (!m) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    m->srv = srv;
    m->e = e;
    m->seen = json_object();
    m->link = uplink_new(server_base(srv), hq, token, hq_ca, err);
    m->tick = m->link ? event_new(server_base(srv), -1, EV_PERSIST, tick_cb, m) : NULL;
    if (!m->tick) {
        if (m->link && err->code == ERR_NONE) err_set(err, ERR_INTERNAL, "out of memory");
        sync_moved_stop(m);
        return NULL;
    }
    struct timeval tv = {SYNC_MOVED_MS / 1000, (SYNC_MOVED_MS % 1000) * 1000};
    event_add(m->tick, &tv);
    return m;
}

void sync_moved_stop(sync_moved *m)
{
    if (!m) return;
    if (m->tick) event_free(m->tick);
    uplink_free(m->link);
    json_decref(m->stores);
    json_decref(m->seen);
    free(m);
}

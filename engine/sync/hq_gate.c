/* hq_gate.c: `serve --role hq` slows down wrong HQ tokens the way a wrong
 * PIN is slowed down (SPEC A6's rule for sources), without ever blocking
 * the loop.
 *
 * The server shows a gate every request, parsed, before it runs (server.h).
 * This gate looks only at session.login_store: it checks the token itself
 * (hq_login_ok: the shared token or the store's own, hashes compared in
 * constant time) and hands the verdict to
 * the server's slow-down per source address (server_wait_signin, the same
 * curve and table as wrong PINs: the first few answered at once, then held
 * 0.1 s doubling, never more than 2 s for one answer; a right token starts
 * the address over). A held line waits on a libevent timer and is then
 * released to run as if it had just arrived (dispatch answers
 * `unauthenticated`); meanwhile that connection takes no further lines
 * (answers stay in order) and every other connection is served.
 *
 * This bounds guessing to about one try per 2 s per connection after the
 * first few; the real defence is a long random token (32 random bytes, as
 * `openssl rand -hex 32` makes, leave nothing to guess).
 *
 * On PostgreSQL the gate also takes hq.upload lines of a store session
 * for its own store and hands them to the upload workers (hq_pool.c);
 * anything else (another store's, malformed, not signed in) runs on the
 * loop as usual and gets its error there. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "sync/hq.h"
#include "net/server.h"

typedef struct held {
    struct held *prev, *next;
    hq_gate *g;
    server_wait *w;
    struct event *ev;
} held;

struct hq_gate {
    server *srv;
    held *held;
    hq_pool *pool; /* PostgreSQL: the upload workers */
};

static void unlink_held(held *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        h->g->held = h->next;
    if (h->next) h->next->prev = h->prev;
}

static void release_cb(evutil_socket_t fd, short what, void *arg)
{
    held *h = arg;
    unlink_held(h);
    event_free(h->ev);
    server_wait *w = h->w;
    free(h);
    server_gate_release(w);
}

static bool gate_cb(void *arg, server_wait *w, session *sess, dispatch_req *req)
{
    hq_gate *g = arg;
    if (req->err.code != ERR_NONE) return false;
    if (g->pool && dispatch_req_is(req, "hq.upload")) {
        const char *store = json_string_value(json_object_get(req->args, "store"));
        json_t *events = json_object_get(req->args, "events");
        if (!sess->hq_peer || sess->signed_in || !store || strcmp(store, sess->store) ||
            !json_is_array(events) || json_object_get(req->args, "idempotency_key"))
            return false;
        hq_pool_submit(g->pool, w, store, events);
        return true;
    }
    if (!dispatch_req_is(req, "session.login_store")) return false;
    json_t *token = json_object_get(req->args, "token");
    json_t *store = json_object_get(req->args, "store");
    if (!json_is_string(token) || !json_is_string(store))
        return false; /* dispatch refuses it as malformed */
    bool ok =
        hq_login_ok(json_string_value(store), json_string_value(token), json_string_length(token));
    int64_t us = server_wait_signin(w, ok);
    if (us == 0) return false;
    held *h = calloc(1, sizeof *h);
    if (!h) abort();
    h->g = g;
    h->w = w;
    h->ev = evtimer_new(server_base(g->srv), release_cb, h);
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    if (!h->ev || evtimer_add(h->ev, &tv) < 0) {
        if (h->ev) event_free(h->ev);
        free(h);
        return false; /* answered at once rather than not at all */
    }
    h->next = g->held;
    if (g->held) g->held->prev = h;
    g->held = h;
    return true;
}

hq_gate *hq_gate_start(server *s, const char *hq_db, err_t *err)
{
    hq_gate *g = calloc(1, sizeof *g);
    if (!g) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    g->srv = s;
    if (hq_db && !(g->pool = hq_pool_start(server_base(s), hq_db, err))) {
        free(g);
        return NULL;
    }
    server_set_gate(s, gate_cb, g);
    return g;
}

/* Lines still held (the loop stopped first) are answered now. */
void hq_gate_stop(hq_gate *g)
{
    if (!g) return;
    hq_pool_stop(g->pool); /* uploads taken are finished and answered */
    server_set_gate(g->srv, NULL, NULL);
    while (g->held) {
        held *h = g->held;
        unlink_held(h);
        event_free(h->ev);
        server_wait *w = h->w;
        free(h);
        server_gate_release(w);
    }
    free(g);
}

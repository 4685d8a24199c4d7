/* sync_gate.c: `corder serve --hq`: the uploader in the background, the
 * real-time creation of sync-mode stores (SPEC S1), and sync.run.
 *
 * WHY A GATE. A sync-mode order.create must hear from HQ before it may
 * answer, but the server is one loop: waiting for HQ inside the flow would
 * stall every client. So the create runs in two steps around the call:
 *
 *   1. The server shows the gate every request (server_set_gate). The gate
 *      takes order.create requests of a signed-in session whose store is
 *      sync or sync_with_async_fallback, unless its idempotency key was
 *      already used (the stored answer is replayed without HQ), and runs
 *      the create's prepare step (dispatch_prepare): every check and
 *      decision, the order made but not numbered, nothing written. A
 *      create refused there is answered at once without bothering HQ.
 *   2. It sends hq.create_order {store, order: the prepared document} on
 *      its own uplink (apart from the uploader's, so a real-time call never
 *      waits behind a big batch), bounded by SYNC_CREATE_MS (3 s) including
 *      the connect. Meanwhile the connection takes no more lines (its
 *      answers stay in order); every other connection is served.
 *   3. When HQ answers, or the bound passes, the gate puts the verdict on
 *      the request and releases it: dispatch runs the commit step inside
 *      the normal group commit (number, HQ's verdict, save): the HQ id (the
 *      order is kept `synchronized`), HQ's refusal (the create fails with
 *      it), or "unavailable" (sync mode: hq_unavailable and nothing kept;
 *      fallback: queued as async). The flow ran once, and HQ was sent
 *      exactly the order the store keeps (a price changed meanwhile does
 *      not make them differ).
 * The same gate puts requests about orders this server does not hold to
 * HQ (SPEC C5, sync_claim.c): a read-only copy for order.get, a claim for
 * a change.
 * HQ learns which store number its real-time sales order got when the
 * order's creation is uploaded: the event carries the hq_order. Should the
 * store fail between HQ's answer and its own commit (a crash, or the
 * commit failing), HQ keeps a sales order no store number ever links:
 * visible in hq.order.list with number null. That is the price of no
 * two-phase commit between store and HQ. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/args.h"
#include "ops/dispatch.h"
#include "flows/flow.h"
#include "store/master.h"
#include "sync/sync.h"
#include "sync/sync_claim.h"
#include "sync/sync_moved.h"
#include "store/sync_queue.h"
#include "sync/uplink.h"
#include "model/text.h"
#include "store/idem.h"

#define SYNC_CREATE_MS 3000

struct sync_svc {
    server *srv;
    engine *e;
    sync_agent *agent;
    uplink *rt;
    sync_master *master; /* HQ's master data, followed (sync_master.c) */
    sync_moved *moved;   /* C5: the ownership poll */
    /* the round handed to sync.run while its released line runs */
    bool have_run;
    sync_round run;
};

typedef struct {
    sync_svc *g;
    server_wait *w;
    dispatch_req *req; /* a prepared create: HQ's verdict goes on it */
} pending;

static sync_svc *G; /* for sync.run; one server per process */

static int server_write_fn(void *ctx, int (*fn)(engine *e, void *arg, err_t *err), void *arg,
                           err_t *err)
{
    return server_write(ctx, fn, arg, err);
}

/* ---- S1: a prepared create, HQ's verdict, the commit ---- */

static void create_cb(void *arg, json_t *resp, const char *error)
{
    pending *p = arg;
    flow_hq_answer *a = &p->req->hq;
    json_t *e = json_object_get(resp, "error");
    const char *id =
        json_string_value(json_object_get(json_object_get(resp, "result"), "hq_order"));
    *a = (flow_hq_answer){ERR_NONE, "", ""};
    if (!resp) {
        a->code = ERR_HQ_UNAVAILABLE;
        snprintf(a->message, sizeof a->message, "headquarters did not answer: %s", error);
    } else if (e) {
        const char *code = json_string_value(json_object_get(e, "code"));
        /* HQ's refusal of the order itself is a rule broken; anything else
         * (a wrong token, an HQ bug) is HQ not being available to us. */
        a->code = code && !strcmp(code, "validation") ? ERR_VALIDATION : ERR_HQ_UNAVAILABLE;
        snprintf(a->message, sizeof a->message, "%s",
                 json_string_value(json_object_get(e, "message")) ?: "HQ refused");
    } else if (!id) {
        a->code = ERR_HQ_UNAVAILABLE;
        snprintf(a->message, sizeof a->message, "headquarters answered without an id");
    } else {
        text_copy(a->hq_order, sizeof a->hq_order, id);
    }
    err_utf8_clean(a->message); /* HQ's text, cut to fit: it goes into an answer */
    server_gate_release(p->w);
    free(p);
}

static bool take_create(sync_svc *g, server_wait *w, session *sess, dispatch_req *req)
{
    master_store ms;
    err_t err = {0};
    if (master_store_get(g->e, sess->store, &ms, &err) < 0 || !strcmp(ms.order_creation, "async"))
        return false;
    const char *key = json_string_value(json_object_get(req->args, "idempotency_key"));
    if (key && idem_seen(g->e, sess->store, key)) return false;
    json_t *doc = NULL;
    if (dispatch_prepare(g->e, sess, req, &doc) < 0) return false; /* answers its error */
    pending *p = malloc(sizeof *p);
    if (!p) abort();
    *p = (pending){g, w, req};
    uplink_call(g->rt, sess->store, "hq.create_order",
                json_pack("{s:s, s:o}", "store", sess->store, "order", doc), SYNC_CREATE_MS,
                create_cb, p);
    return true;
}

/* ---- sync.run ---- */

static void run_cb(void *arg, const sync_round *r)
{
    pending *p = arg;
    sync_svc *g = p->g;
    g->run = *r;
    g->have_run = true;
    server_gate_release(p->w);
    g->have_run = false;
    free(p);
}

int op_sync_status(flow_ctx *c, json_t **result, err_t *err); /* ops_policy.c */

static void run_later_cb(void *arg, const sync_round *r) {}

/* {sent, acked, learned, error?} of the round the gate ran for this request,
 * with sync.status's fields after it. Dispatched another way (the support
 * REPL calls dispatch directly) it starts a round and does not wait; without
 * --hq it says so in `error`: nothing could be attempted. */
static int op_sync_run(engine *e, session *s, json_t *args, json_t **result, err_t *err)
{
    flow_ctx c;
    int rc = flow_begin(&c, e, s, "sync.status", args, err);
    if (rc == 0) rc = op_sync_status(&c, result, err);
    flow_end(&c);
    if (rc < 0) return -1;
    sync_round r = {.ok = false};
    if (G && G->have_run) {
        r = G->run;
    } else if (G) {
        sync_agent_run(G->agent, run_later_cb, NULL);
        r.ok = true;
        json_object_set_new(*result, "started", json_true());
    } else {
        snprintf(r.error, sizeof r.error, "no HQ configured (serve --hq HOST:PORT)");
    }
    json_object_set_new(*result, "sent", json_integer(r.sent));
    json_object_set_new(*result, "acked", json_integer(r.acked));
    json_object_set_new(*result, "learned", json_integer(r.learned));
    json_object_set_new(*result, "quarantined_now", json_integer(r.quarantined));
    if (r.quarantined && *r.last_quarantined)
        json_object_set_new(*result, "last_quarantined", json_string(r.last_quarantined));
    if (!r.ok) json_object_set_new(*result, "error", json_string(r.error));
    return 0;
}

/* sync.retry {seq?, number?}: the events the uploader set aside (of the
 * order of seq, of order number, or all of the signed-in store's) go to
 * HQ again, before the queue, from the uploader's next round (within a
 * second; sync.run starts one at once) -> {retrying}. */
static int op_sync_retry(engine *e, session *s, json_t *args, json_t **result, err_t *err)
{
    int64_t seq = 0, n;
    const char *number = NULL;
    if (args_int(args, "", "seq", false, 1, INT64_MAX, &seq, err) < 0 ||
        args_str(args, "", "number", false, 63, &number, err) < 0 ||
        sync_queue_retry(e, s->store, seq, number, &n, err) < 0)
        return -1;
    *result = json_pack("{s:I}", "retrying", (json_int_t)n);
    return 0;
}

/* sync.quarantine {limit?} -> {events: [{seq, number, type, kind, reason,
 * held_behind?, at, attempts, retry}]}, the store's set-aside events. */
static int op_sync_quarantine(engine *e, session *s, json_t *args, json_t **result, err_t *err)
{
    int64_t limit = 1000;
    json_t *events;
    if (args_int(args, "", "limit", false, 1, 100000, &limit, err) < 0 ||
        sync_queue_list(e, s->store, (int)limit, &events, err) < 0)
        return -1;
    *result = json_pack("{s:o}", "events", events);
    return 0;
}

int sync_register_ops(void)
{
    int rc = 0;
    rc |= dispatch_register("sync.run", op_sync_run, false, true, "");
    rc |= dispatch_register("sync.retry", op_sync_retry, true, true,
                            "seq:i? number:s? idempotency_key:s?");
    rc |= dispatch_register("sync.quarantine", op_sync_quarantine, false, true, "limit:i?");
    return rc;
}

/* ---- the gate ---- */

static bool gate_cb(void *arg, server_wait *w, session *sess, dispatch_req *req)
{
    sync_svc *g = arg;
    if (!sess->signed_in || req->err.code != ERR_NONE) return false;
    bool taken = false;
    if (dispatch_req_is(req, "order.create")) {
        taken = take_create(g, w, sess, req);
    } else if (dispatch_req_is(req, "sync.run")) {
        pending *p = malloc(sizeof *p);
        if (!p) abort();
        *p = (pending){g, w, NULL};
        sync_agent_run(g->agent, run_cb, p);
        taken = true;
    } else {
        /* C5: an order this server does not hold (sync_claim.c) */
        taken = sync_claim_take(g->srv, g->e, g->rt, w, sess, req);
    }
    return taken;
}

sync_svc *sync_start(server *srv, engine *e, const char *hq, const char *token, const char *hq_ca,
                     int master_poll_ms, err_t *err)
{
    sync_svc *g = calloc(1, sizeof *g);
    if (!g) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    g->srv = srv;
    g->e = e;
    sync_agent_config cfg = {.e = e,
                             .base = server_base(srv),
                             .hq = hq,
                             .token = token,
                             .hq_ca = hq_ca,
                             .write = server_write_fn,
                             .write_ctx = srv,
                             .background = true,
                             .master_poll_ms = master_poll_ms};
    g->agent = sync_agent_new(&cfg, err);
    g->rt = g->agent ? uplink_new(server_base(srv), hq, token, hq_ca, err) : NULL;
    g->master = g->rt ? sync_master_new(&cfg, err) : NULL;
    g->moved = g->master ? sync_moved_start(srv, e, hq, token, hq_ca, err) : NULL;
    if (!g->moved) {
        sync_stop(g);
        return NULL;
    }
    server_set_gate(srv, gate_cb, g);
    G = g;
    return g;
}

void sync_stop(sync_svc *g)
{
    if (!g) return;
    if (G == g) G = NULL;
    if (g->srv) server_set_gate(g->srv, NULL, NULL);
    sync_master_free(g->master);
    sync_moved_stop(g->moved);
    uplink_free(g->rt);
    sync_agent_free(g->agent);
    free(g);
}

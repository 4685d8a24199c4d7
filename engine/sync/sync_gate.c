/* sync_gate.c: `corder serve --hq`: the uploader in the background, the
 * real-time creation of sync-mode stores (SPEC S1), and sync.run.
 *
 * WHY A GATE. A sync-mode order.create must hear from HQ before it may
 * answer, but the server is one loop: waiting for HQ inside the flow would
 * stall every client. So the call to HQ happens before the flow runs:
 *
 *   1. The server shows the gate every request line (server_set_gate). The
 *      gate takes order.create lines of a signed-in session whose store is
 *      sync or sync_with_async_fallback, after checking them with the very
 *      same code as order.preview (a request that would fail anyway fails
 *      without bothering HQ), and unless its idempotency key was already
 *      used (the stored answer is replayed without HQ).
 *   2. It sends hq.create_order {store, order: the preview} on its own
 *      uplink (apart from the uploader's, so a real-time call never waits
 *      behind a big batch), bounded by SYNC_CREATE_MS (3 s) including the
 *      connect. Meanwhile the connection takes no more lines (its answers
 *      stay in order); every other connection is served.
 *   3. When HQ answers, or the bound passes, the gate keeps the answer and
 *      releases the line: the real order.create runs inside the normal
 *      group commit, and flow_create's S1 hook (engine_hq_create) takes the
 *      kept answer: the HQ id (the order is kept `synchronized`), HQ's
 *      refusal (the create fails with it), or "unavailable" (sync mode:
 *      hq_unavailable and nothing kept; fallback: queued as async).
 * HQ learns which store number its real-time sales order got when the
 * order's creation is uploaded: the event carries the hq_order. Should the
 * store fail between HQ's answer and its own commit (a crash, or the
 * request failing on a rule that changed in between), HQ keeps a sales
 * order no store number ever links: visible in hq.order.list with number
 * null. That is the price of no two-phase commit between store and HQ. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/args.h"
#include "ops/dispatch.h"
#include "flows/flow.h"
#include "store/master.h"
#include "sync/sync.h"
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
    /* the answer handed to the S1 hook while a released line runs */
    bool answer_set;
    err_code answer_code;
    char answer_msg[256];
    char hq_order[64];
    /* the round handed to sync.run while its released line runs */
    bool have_run;
    sync_round run;
};

typedef struct {
    sync_svc *g;
    server_wait *w;
} pending;

static sync_svc *G; /* for sync.run; one server per process */

static int server_write_fn(void *ctx, int (*fn)(engine *e, void *arg, err_t *err), void *arg,
                           err_t *err)
{
    return server_write(ctx, fn, arg, err);
}

/* ---- the S1 hook ---- */

static int hq_create_hook(engine *e, void *arg, json_t *order, char hq_order[64], err_t *err)
{
    sync_svc *g = arg;
    if (!g->answer_set)
        return err_set(err, ERR_HQ_UNAVAILABLE, "headquarters was not asked for this order");
    g->answer_set = false; /* one answer, one order */
    if (g->answer_code != ERR_NONE) return err_set(err, g->answer_code, "%s", g->answer_msg);
    snprintf(hq_order, 64, "%s", g->hq_order);
    return 0;
}

static void create_cb(void *arg, json_t *resp, const char *error)
{
    pending *p = arg;
    sync_svc *g = p->g;
    json_t *e = json_object_get(resp, "error");
    const char *id =
        json_string_value(json_object_get(json_object_get(resp, "result"), "hq_order"));
    g->answer_code = ERR_NONE;
    if (!resp) {
        g->answer_code = ERR_HQ_UNAVAILABLE;
        snprintf(g->answer_msg, sizeof g->answer_msg, "headquarters did not answer: %s", error);
    } else if (e) {
        const char *code = json_string_value(json_object_get(e, "code"));
        /* HQ's refusal of the order itself is a rule broken; anything else
         * (a wrong token, an HQ bug) is HQ not being available to us. */
        g->answer_code = code && !strcmp(code, "validation") ? ERR_VALIDATION : ERR_HQ_UNAVAILABLE;
        snprintf(g->answer_msg, sizeof g->answer_msg, "%s",
                 json_string_value(json_object_get(e, "message")) ?: "HQ refused");
    } else if (!id) {
        g->answer_code = ERR_HQ_UNAVAILABLE;
        snprintf(g->answer_msg, sizeof g->answer_msg, "headquarters answered without an id");
    } else {
        text_copy(g->hq_order, sizeof g->hq_order, id);
    }
    g->answer_set = true;
    server_gate_release(p->w);
    g->answer_set = false;
    free(p);
}

static bool take_create(sync_svc *g, server_wait *w, session *sess, const dispatch_req *req)
{
    master_store ms;
    err_t err = {0};
    json_t *args = req->args;
    if (!json_is_object(args) || master_store_get(g->e, sess->store, &ms, &err) < 0 ||
        !strcmp(ms.order_creation, "async"))
        return false;
    const char *key = json_string_value(json_object_get(args, "idempotency_key"));
    if (key && idem_seen(g->e, sess->store, key)) return false;
    json_t *preq = json_pack("{s:s, s:O}", "op", "order.preview", "args", args);
    dispatch_req pr;
    dispatch_parse_value(&pr, preq);
    json_decref(preq);
    /* The approvals' verdicts came with the request: the preview has the
     * same args, so the same PINs, and hashes nothing itself. */
    pr.npins = req->npins;
    memcpy(pr.pins, req->pins, sizeof pr.pins);
    bool is_write;
    json_t *resp = dispatch_run(g->e, sess, &pr, &is_write);
    dispatch_req_free(&pr);
    json_t *order = json_object_get(resp, "result");
    if (!json_is_true(json_object_get(resp, "ok")) || !order) {
        json_decref(resp);
        return false; /* the real create fails the same way */
    }
    pending *p = malloc(sizeof *p);
    if (!p) abort();
    *p = (pending){g, w};
    uplink_call(g->rt, sess->store, "hq.create_order",
                json_pack("{s:s, s:O}", "store", sess->store, "order", order), SYNC_CREATE_MS,
                create_cb, p);
    json_decref(resp);
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

static bool gate_cb(void *arg, server_wait *w, session *sess, const dispatch_req *req)
{
    sync_svc *g = arg;
    if (!sess->signed_in || req->err.code != ERR_NONE) return false;
    bool taken = false;
    if (dispatch_req_is(req, "order.create")) {
        taken = take_create(g, w, sess, req);
    } else if (dispatch_req_is(req, "sync.run")) {
        pending *p = malloc(sizeof *p);
        if (!p) abort();
        *p = (pending){g, w};
        sync_agent_run(g->agent, run_cb, p);
        taken = true;
    }
    return taken;
}

sync_svc *sync_start(server *srv, engine *e, const char *hq, const char *token, const char *hq_ca,
                     err_t *err)
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
                             .background = true};
    g->agent = sync_agent_new(&cfg, err);
    g->rt = g->agent ? uplink_new(server_base(srv), hq, token, hq_ca, err) : NULL;
    if (!g->rt) {
        sync_stop(g);
        return NULL;
    }
    engine_set_hq_create(e, hq_create_hook, g);
    server_set_gate(srv, gate_cb, g);
    G = g;
    return g;
}

void sync_stop(sync_svc *g)
{
    if (!g) return;
    if (G == g) G = NULL;
    if (g->srv) server_set_gate(g->srv, NULL, NULL);
    if (g->e) engine_set_hq_create(g->e, NULL, NULL);
    uplink_free(g->rt);
    sync_agent_free(g->agent);
    free(g);
}

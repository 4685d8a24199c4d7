/* sync_claim.c: one owner per order, at a store's server (SPEC C5).
 *
 * An order lives at the server of the store that owns it. A request about
 * an order this server does not hold is put to HQ first, the way a
 * sync-mode create is (sync_gate.c): the connection waits, every other
 * one is served, and the request is released with HQ's answer:
 *   - order.get: HQ's copy (hq.order.get with this store as `store`;
 *     HQ gives it when a line is to be picked up here), answered as the
 *     order object, with `owner` naming the store that may change it.
 *     Nothing is kept. Bounded by SYNC_CLAIM_MS: then hq_unavailable.
 *   - a change (any write op with a `number`): hq.order.claim. HQ moves
 *     the owner to this store in one transaction of its own, or refuses
 *     (conflict: the owner has changes HQ has not received; forbidden;
 *     not_found). Granted, the order and its history are written here in
 *     one transaction (flow_adopt, in the open batch) and the request then
 *     runs as on any order of this server: A5 decides, its change goes up
 *     under this store. Unanswered: hq_unavailable, and nothing changed
 *     here (HQ may have granted it: see below).
 * Crashes. HQ's grant is durable before its answer (its transaction, or
 * the group commit of an HQ on SQLite), and HQ grants a claim again to
 * the store that owns the order already. So when this server dies after
 * HQ granted but before its own commit, or the answer is lost on the way,
 * the order is not held here and the next request claims it again and
 * gets it: there is never a second owner, and never none. */
#include "sync/sync_claim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flows/flow.h"
#include "model/jsonw.h"
#include "model/text.h"
#include "store/orders.h"

#define SYNC_CLAIM_MS 5000

typedef struct {
    server *srv;
    engine *e;
    server_wait *w;
    dispatch_req *req;
    char store[32], staff[32], number[64];
} claim;

/* HQ's error as the request's: its own refusals keep their code, the
 * rest (no answer, a wrong token, HQ's trouble) is HQ being unavailable. */
static void hq_error(claim *c, json_t *resp, const char *error)
{
    err_t *err = &c->req->err;
    json_t *e = json_object_get(resp, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (!resp) {
        err_set(err, ERR_HQ_UNAVAILABLE,
                "order %s is not held here and headquarters did not answer: %s", c->number,
                error ? error : "no answer");
    } else if (code && !strcmp(code, "not_found")) {
        err_field(err, ERR_NOT_FOUND, "number", "no order %s, here or at HQ", c->number);
    } else if (code && !strcmp(code, "forbidden")) {
        err_field(err, ERR_FORBIDDEN, "number", "%s", msg ? msg : "HQ refused");
    } else if (code && !strcmp(code, "conflict")) {
        err_set(err, ERR_CONFLICT, "%s", msg ? msg : "HQ refused the claim");
    } else {
        err_set(err, ERR_HQ_UNAVAILABLE, "headquarters refused: %s", msg ? msg : "no reason");
    }
    err_utf8_clean(err->message);
}

static void finish(claim *c)
{
    server_gate_release(c->w);
    free(c);
}

/* ---- order.get: a read-only copy ---- */

static void copy_cb(void *arg, json_t *resp, const char *error)
{
    claim *c = arg;
    json_t *res = json_object_get(resp, "result");
    json_t *doc = json_object_get(res, "order");
    err_t err = {0};
    order *o = json_is_object(doc) ? order_from_json(doc, &err) : NULL;
    if (!o) {
        hq_error(c, res ? NULL : resp, res ? "an unreadable order" : error);
        finish(c);
        return;
    }
    const char *owner = json_string_value(json_object_get(res, "owner"));
    const char *state = json_string_value(json_object_get(res, "state"));
    const char *hq_order = json_string_value(json_object_get(res, "hq_order"));
    if (owner) text_copy(o->owner, sizeof o->owner, owner);
    text_copy(o->sync_state, sizeof o->sync_state, state ? state : "uploaded");
    text_copy(o->hq_order, sizeof o->hq_order, hq_order ? hq_order : "");
    jsonw w = {0};
    order_write(&w, o, ORDER_WIRE);
    char *text = jw_finish(&w, NULL);
    c->req->answer = text ? json_loads(text, 0, NULL) : NULL;
    if (!c->req->answer) err_set(&c->req->err, ERR_INTERNAL, "out of memory");
    free(text);
    order_free(o);
    finish(c);
}

/* ---- a change: the claim ---- */

typedef struct {
    claim *c;
    json_t *res;
} adopt_arg;

static int adopt_fn(engine *e, void *arg, err_t *err)
{
    adopt_arg *a = arg;
    json_t *res = a->res;
    json_t *history = json_object_get(res, "history");
    const char *state = json_string_value(json_object_get(res, "state"));
    json_t *hist = json_is_array(history) ? json_copy(history) : json_array();
    /* the claim itself, in the order's history here */
    char now[32];
    engine_iso_now(e, now);
    json_array_append_new(hist, json_pack("{s:s, s:s, s:s, s:s}", "store", a->c->store, "type",
                                          "order.claim", "at", now, "staff", a->c->staff));
    bool skipped;
    int rc =
        flow_adopt(e, json_object_get(res, "order"), a->c->store, false, state ? state : "uploaded",
                   json_string_value(json_object_get(res, "hq_order")), hist, &skipped, err);
    json_decref(hist);
    return rc;
}

static void claim_cb(void *arg, json_t *resp, const char *error)
{
    claim *c = arg;
    json_t *res = json_object_get(resp, "result");
    if (!json_is_object(json_object_get(res, "order"))) {
        hq_error(c, res ? NULL : resp, res ? "an answer without the order" : error);
        finish(c);
        return;
    }
    adopt_arg a = {c, res};
    err_t err = {0};
    if (server_write(c->srv, adopt_fn, &a, &err) < 0) {
        /* HQ made us the owner; the next request claims it again. */
        c->req->err = err;
    }
    finish(c);
}

bool sync_claim_take(server *srv, engine *e, uplink *rt, server_wait *w, session *sess,
                     dispatch_req *req)
{
    const char *number = json_string_value(json_object_get(req->args, "number"));
    bool get = dispatch_req_is(req, "order.get");
    /* the order ops only: sync.retry also names orders, but only its own */
    if (!number || !*number || strlen(number) > 63 ||
        strncmp(req->op ? req->op : "", "order.", 6) || (!get && !dispatch_req_writes(req)))
        return false;
    char store[32];
    err_t err = {0};
    if (orders_store_of(e, number, store, &err) != 0) return false; /* held here (or an error) */
    /* an order of this very store that is not here does not exist */
    size_t n = strlen(sess->store);
    if (!strncmp(number, sess->store, n) && number[n] == '-' && !strchr(number + n + 1, '-'))
        return false;
    claim *c = calloc(1, sizeof *c);
    if (!c) abort();
    *c = (claim){.srv = srv, .e = e, .w = w, .req = req};
    text_copy(c->store, sizeof c->store, sess->store);
    text_copy(c->staff, sizeof c->staff, sess->staff);
    text_copy(c->number, sizeof c->number, number);
    uplink_call(rt, sess->store, get ? "hq.order.get" : "hq.order.claim",
                json_pack("{s:s, s:s}", "store", sess->store, "number", number), SYNC_CLAIM_MS,
                get ? copy_cb : claim_cb, c);
    return true;
}

/* hq_ops.c: the ops of the HQ role (PROTOCOL.md "HQ role").
 *
 * Two kinds of callers. A store server signs in with session.login_store
 * {store, token}: its own token (SPEC C2: `corder hq token --store S`
 * issued it, HQ keeps only its hash), or the shared --hq-token of a
 * single-store setup. Either way the session is the store's and sees only
 * that store (SPEC C2): it uploads, creates in real time, reads and
 * retries its own orders, and another store's are `forbidden`. HQ staff
 * signed in with session.login see every store. A peer session is not a
 * staff session: the store ops of PROTOCOL.md stay closed to it.
 *
 * Each op's storage calls run between hq_store begin and end: one
 * transaction of the PostgreSQL backend, committed before the answer (the
 * SQLite backend is in the server's batch already).
 *
 * hq.upload is idempotent by (store, seq), and duplicates are compared:
 * the hq_store keeps a hash of each event's content (type, order number,
 * payload) and takes a (store, seq) it already has as a duplicate only
 * when the content is the same. So a store may resend a batch whose answer
 * it never saw (a crash, a cut connection) and HQ keeps every event
 * exactly once; but an event that reuses a kept (store, seq) with other
 * content (a store restored from an old backup numbers its new events
 * again) is a conflict: the whole upload is refused with `conflict`,
 * details {store, seq}, and nothing of it is kept, so the store learns
 * which event it is (its uploader quarantines it, see sync_agent.c) and
 * HQ's copy stays what it was. The refusal rolls the request back, so the
 * conflict is recorded just after it: queued here and written by
 * hq_ops_flush (the server runs it from the loop, in the next group
 * commit; hq.conflicts lists them). The answer names the highest seq HQ
 * has; it is released only after the group commit that made the batch
 * durable (the ops are registered as writes).
 *
 * Tokens are compared in constant time and without leaking their length:
 * both sides are hashed to BLAKE2b-256 first (hq_login_ok). Repeated wrong
 * tokens from one source are slowed down by the HQ's gate (hq_gate.c). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/args.h"
#include "ops/dispatch.h"
#include "sync/hq.h"
#include "model/text.h"

#define HQ_MAX_EVENTS 5000
#define HQ_MAX_NUMBERS 2000
#define HQ_LIST_MAX 100000

#define HQ_PENDING_MAX 64 /* conflicts waiting for hq_ops_flush */

static hq_store *H;
static bool shared_set; /* a --hq-token was given */
static uint8_t shared_hash[HQ_HASH_BYTES];
static void (*notify_fn)(void *arg);
static void *notify_arg;

/* A refused event, kept until hq_ops_flush records it. */
typedef struct {
    char store[32], type[65], number[64];
    int64_t seq;
    char *payload;
} pending_conflict;
static pending_conflict pending[HQ_PENDING_MAX];
static int npending;

/* The gate's verdict on the sign-in it just saw (hq_gate.c checks every
 * session.login_store before it runs): the op reuses it instead of asking
 * the database a second time. Loop thread only. */
static struct {
    bool set, ok;
    char store[32];
    uint8_t hash[HQ_HASH_BYTES];
} verdict;

bool hq_login_ok(const char *store, const char *token, size_t len)
{
    uint8_t h[HQ_HASH_BYTES];
    bool ok = false;
    hq_token_hash(token, len, h);
    if (verdict.set && store && !strcmp(verdict.store, store) &&
        sodium_memcmp(verdict.hash, h, sizeof h) == 0) {
        verdict.set = false;
        return verdict.ok;
    }
    bool shared = shared_set && sodium_memcmp(h, shared_hash, sizeof h) == 0;
    err_t err = {0};
    /* The store's own tokens are looked at even when the shared one
     * matched: the time taken does not say which kind a token is. */
    if (H && store && H->vt->token_check(H, store, h, &ok, &err) < 0) ok = false;
    return shared || ok;
}

bool hq_login_judge(const char *store, const char *token, size_t len)
{
    verdict.set = false;
    bool ok = hq_login_ok(store, token, len);
    if (strlen(store) < sizeof verdict.store) {
        text_copy(verdict.store, sizeof verdict.store, store);
        hq_token_hash(token, len, verdict.hash);
        verdict.ok = ok;
        verdict.set = true;
    }
    return ok;
}

/* Runs an op's storage calls as one transaction (hq_store.h). */
static int tx_end(int rc, err_t *err)
{
    err_t e2 = {0};
    if (H->vt->end(H, rc == 0, rc == 0 ? err : &e2) < 0) return -1;
    return rc;
}

static void conflict_queue(const hq_event *ev)
{
    if (npending == HQ_PENDING_MAX) return; /* the store will offer it again */
    pending_conflict *p = &pending[npending];
    p->payload = strdup(ev->payload);
    if (!p->payload) return;
    text_copy(p->store, sizeof p->store, ev->store);
    text_copy(p->type, sizeof p->type, ev->type);
    text_copy(p->number, sizeof p->number, ev->number);
    p->seq = ev->seq;
    npending++;
    if (notify_fn) notify_fn(notify_arg);
}

int hq_ops_flush(engine *e, err_t *err)
{
    int rc = 0;
    for (int i = 0; i < npending; i++) {
        pending_conflict *p = &pending[i];
        hq_event ev = {.store = p->store,
                       .seq = p->seq,
                       .type = p->type,
                       .number = p->number,
                       .payload = p->payload};
        if (rc == 0 && H && H->vt->put_conflict(H, &ev, err) < 0) rc = -1;
        free(p->payload);
    }
    npending = 0;
    return rc;
}

void hq_ops_on_conflict(void (*fn)(void *arg), void *arg)
{
    notify_fn = fn;
    notify_arg = arg;
}

/* A store server signed in for `store`. */
static int need_peer(session *s, const char *store, err_t *err)
{
    if (!s->hq_peer) return err_set(err, ERR_UNAUTHENTICATED, "sign in with session.login_store");
    if (store && strcmp(s->store, store))
        return err_field(err, ERR_FORBIDDEN, "store", "signed in for store %s, not %s", s->store,
                         store);
    return 0;
}

/* A store peer or HQ staff; a peer (hq_peer without signed_in) only for
 * its own store (SPEC C2). A peer asking about every store (store NULL)
 * gets its own: *store is set. */
static int need_hq_user(session *s, const char **store, err_t *err)
{
    if (!s->hq_peer && !s->signed_in)
        return err_set(err, ERR_UNAUTHENTICATED, "sign in first (session.login_store)");
    if (s->signed_in) return 0; /* HQ staff, or the server's own synchronize job */
    if (!*store) {
        *store = s->store;
        return 0;
    }
    if (strcmp(s->store, *store))
        return err_field(err, ERR_FORBIDDEN, "store", "signed in for store %s, not %s", s->store,
                         *store);
    return 0;
}

static int op_login_store(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store, *token;
    if (args_str(args, "", "store", true, 31, &store, err) < 0 ||
        args_str(args, "", "token", true, 255, &token, err) < 0)
        return -1;
    if (!hq_login_ok(store, token, strlen(token))) /* args_str refuses NULs */
        return err_set(err, ERR_UNAUTHENTICATED, "wrong, revoked or another store's HQ token");
    *s = (session){.hq_peer = true};
    text_copy(s->store, sizeof s->store, store);
    *r = json_pack("{s:s, s:s}", "store", store, "role", "hq");
    return 0;
}

static int event_parse(json_t *ev, size_t i, const char *store, int64_t last, hq_event *out,
                       char **payload, err_t *err)
{
    char p[48];
    json_t *doc;
    args_index(p, sizeof p, "events", i);
    /* The event's keys and types were checked against the op's schema. */
    if (args_int(ev, p, "seq", true, 1, INT64_MAX, &out->seq, err) < 0 ||
        args_str(ev, p, "type", true, 64, &out->type, err) < 0 ||
        args_obj(ev, p, "payload", true, &doc, err) < 0 ||
        args_str(ev, p, "hq_order", false, 63, &out->hq_order, err) < 0 ||
        args_str(doc, p, "number", true, 63, &out->number, err) < 0)
        return -1;
    /* C5: an order another store made may come from its owner; the
     * backend keeps it only when the uploader owns it (hq_store.h). */
    const char *maker = json_string_value(json_object_get(doc, "store"));
    size_t ml = maker ? strlen(maker) : 0;
    if (maker && strcmp(maker, store) &&
        (ml >= 32 || strncmp(out->number, maker, ml) || out->number[ml] != '-'))
        return err_field(err, ERR_VALIDATION, p, "%s: an order of store %s", p, maker);
    out->order_store = maker && strcmp(maker, store) ? maker : NULL;
    /* The order's record is kept under the store its number names (C5:
     * hq.order.get and claims find it from the number), so a number of no
     * store or of another store than the record's would be kept where no
     * reader looks. */
    const char *key = out->order_store ? out->order_store : store;
    const char *dash = strrchr(out->number, '-');
    if (!dash || (size_t)(dash - out->number) != strlen(key) ||
        strncmp(out->number, key, strlen(key)))
        return err_field(err, ERR_VALIDATION, p,
                         "%s.payload.number: not an order number of store %s", p, key);
    if (out->seq <= last)
        return err_field(err, ERR_VALIDATION, p, "%s.seq: events must come in seq order", p);
    out->store = store;
    *payload = json_dumps(doc, JSON_COMPACT);
    out->payload = *payload;
    return *payload ? 0 : err_set(err, ERR_INTERNAL, "out of memory");
}

int hq_upload_run(hq_store *h, const char *store, json_t *events, hq_upload_out *out, err_t *err)
{
    size_t n = json_array_size(events), i, bad = 0;
    int64_t last = 0;
    *out = (hq_upload_out){0};
    /* Every event is read and checked before any is stored: a batch is
     * refused whole, and the backend may store it in one go. */
    hq_event *evs = calloc(n ? n : 1, sizeof *evs);
    char **payloads = calloc(n ? n : 1, sizeof *payloads);
    bool *fresh = calloc(n ? n : 1, sizeof *fresh);
    int rc = evs && payloads && fresh ? 0 : err_set(err, ERR_INTERNAL, "out of memory");
    for (i = 0; rc == 0 && i < n; i++) {
        rc = event_parse(json_array_get(events, i), i, store, last, &evs[i], &payloads[i], err);
        last = evs[i].seq;
    }
    if (rc == 0) rc = h->vt->begin(h, err);
    if (rc == 0) {
        if (h->vt->put_events) {
            rc = h->vt->put_events(h, evs, n, fresh, &bad, err);
        } else {
            for (bad = 0; rc == 0 && bad < n; bad++)
                rc = h->vt->put_event(h, &evs[bad], &fresh[bad], err);
            bad--;
        }
        if (rc < 0 && err->code == ERR_CONFLICT) {
            /* Recorded by the caller, after the rollback (hq_ops_flush). */
            const hq_event *ev = &evs[bad];
            out->conflict = true;
            text_copy(out->c_store, sizeof out->c_store, ev->store);
            text_copy(out->c_type, sizeof out->c_type, ev->type);
            text_copy(out->c_number, sizeof out->c_number, ev->number);
            out->c_seq = ev->seq;
            out->c_payload = strdup(ev->payload);
        }
        if (rc == 0) rc = h->vt->acked_through(h, store, &out->acked, err);
        err_t e2 = {0};
        if (h->vt->end(h, rc == 0, rc == 0 ? err : &e2) < 0) rc = -1;
    }
    for (i = 0; i < n && payloads; i++) {
        out->accepted += fresh && fresh[i];
        free(payloads[i]);
    }
    out->duplicates = (int64_t)n - out->accepted;
    free(evs);
    free(payloads);
    free(fresh);
    return rc;
}

/* An upload done elsewhere (a worker thread, hq_pool.c), handed to the
 * op when its line is released: taken by the next op_upload. */
static const json_t *preset_for; /* the events array of the request it answers */
static int preset_rc;
static hq_upload_out preset_out;
static err_t preset_err;

void hq_ops_preset_upload(const json_t *events, int rc, const hq_upload_out *out, const err_t *err)
{
    if (preset_for) free(preset_out.c_payload); /* never taken */
    preset_for = events;
    preset_rc = rc;
    preset_out = *out;
    preset_err = *err;
}

static int op_upload(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store;
    json_t *events = json_object_get(args, "events");
    bool preset = preset_for && preset_for == events;
    hq_upload_out out = preset ? preset_out : (hq_upload_out){0};
    int rc = preset ? preset_rc : 0;
    if (preset) {
        *err = preset_err;
        preset_for = NULL;
    }
    if (args_str(args, "", "store", true, 31, &store, err) < 0 ||
        args_arr(args, "", "events", true, HQ_MAX_EVENTS, &events, err) < 0 ||
        need_peer(s, store, err) < 0) {
        if (preset) free(out.c_payload);
        return -1;
    }
    if (!preset) rc = hq_upload_run(H, store, events, &out, err);
    if (out.conflict && out.c_payload) {
        hq_event ev = {.store = out.c_store,
                       .seq = out.c_seq,
                       .type = out.c_type,
                       .number = out.c_number,
                       .payload = out.c_payload};
        conflict_queue(&ev);
    }
    free(out.c_payload);
    if (rc < 0) return -1;
    *r = json_pack("{s:I, s:I, s:I}", "acked_through", (json_int_t)out.acked, "accepted",
                   (json_int_t)out.accepted, "duplicates", (json_int_t)out.duplicates);
    return 0;
}

static int op_create_order(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store;
    json_t *order;
    if (args_str(args, "", "store", true, 31, &store, err) < 0 ||
        args_obj(args, "", "order", true, &order, err) < 0 || need_peer(s, store, err) < 0)
        return -1;
    char why[256], id[64];
    if (hq_check_order(H, store, order, why, sizeof why) < 0)
        return err_field(err, ERR_VALIDATION, "order", "HQ refused the order: %s", why);
    char *doc = json_dumps(order, JSON_COMPACT);
    if (!doc) return err_set(err, ERR_INTERNAL, "out of memory");
    int rc = H->vt->begin(H, err);
    if (rc == 0) rc = tx_end(H->vt->create_realtime(H, store, doc, id, err), err);
    free(doc);
    if (rc < 0) return -1;
    *r = json_pack("{s:s}", "hq_order", id);
    return 0;
}

static int op_synchronize(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store = NULL;
    int64_t created, failed;
    if (args_str(args, "", "store", false, 31, &store, err) < 0 ||
        need_hq_user(s, &store, err) < 0 || hq_synchronize(H, store, &created, &failed, err) < 0)
        return -1;
    *r = json_pack("{s:I, s:I}", "created", (json_int_t)created, "failed", (json_int_t)failed);
    return 0;
}

static int store_number(json_t *args, const char **store, const char **number, err_t *err)
{
    return args_str(args, "", "store", true, 31, store, err) < 0 ||
                   args_str(args, "", "number", true, 63, number, err) < 0
               ? -1
               : 0;
}

/* C5: the store that made an order, from its number ("S001-000042":
 * numbers carry it, which is what keeps them unique across the chain). */
static int number_store(const char *number, char out[32], err_t *err)
{
    const char *dash = strrchr(number, '-');
    size_t n = dash ? (size_t)(dash - number) : 0;
    if (!n || n >= 32) return err_field(err, ERR_NOT_FOUND, "number", "HQ has no order %s", number);
    memcpy(out, number, n);
    out[n] = '\0';
    return 0;
}

/* C5: whether an order concerns store: it owns it, or a line of it is
 * to be picked up there. Another store's order that does not is none of
 * its business (C2). */
static bool concerns(const hq_order_rec *rec, json_t *doc, const char *store)
{
    if (!strcmp(rec->owner, store)) return true;
    size_t i;
    json_t *line;
    json_array_foreach(json_object_get(doc, "lines"), i, line)
    {
        json_t *d = json_object_get(line, "delivery");
        const char *mode = json_string_value(json_object_get(d, "mode"));
        const char *at = json_string_value(json_object_get(d, "store"));
        if (mode && at && !strcmp(mode, "pickup") && !strcmp(at, store)) return true;
    }
    return false;
}

/* hq.order.get {store, number}: HQ's record and document. A store peer
 * asks for its own store's orders, and (C5) for another store's order by
 * number with its own store as `store`: the read-only copy a pickup store
 * shows, given when the order concerns it (concerns()). */
static int op_order_get(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store, *number;
    hq_order_rec rec;
    json_t *doc;
    char maker[32];
    if (store_number(args, &store, &number, err) < 0 || need_hq_user(s, &store, err) < 0) return -1;
    bool copy = s->hq_peer && !s->signed_in && number_store(number, maker, &(err_t){0}) == 0 &&
                strcmp(maker, store);
    if (H->vt->get(H, copy ? maker : store, number, &rec, &doc, err) < 0) return -1;
    if (copy && !concerns(&rec, doc, store)) {
        json_decref(doc);
        return err_field(err, ERR_FORBIDDEN, "number",
                         "order %s is store %s's and has no pickup at %s", number, maker, store);
    }
    *r = hq_order_rec_json(&rec);
    json_object_set_new(*r, "order", doc);
    return 0;
}

/* The answer of a granted claim: the record, the document, its history. */
static int claim_answer(const char *maker, const char *number, json_t **r, err_t *err)
{
    hq_order_rec rec;
    json_t *doc, *hist;
    if (H->vt->get(H, maker, number, &rec, &doc, err) < 0) return -1;
    if (H->vt->history(H, number, &hist, err) < 0) {
        json_decref(doc);
        return -1;
    }
    *r = hq_order_rec_json(&rec);
    json_object_set_new(*r, "order", doc);
    json_object_set_new(*r, "history", hist);
    return 0;
}

/* hq.order.claim {store, number} (SPEC C5): the order moves to `store`,
 * the signed-in store peer, in one transaction, and the answer carries
 * it with its history. Granted only when everything its owner sent has
 * arrived: the owner's last report (hq.order.moved's unsent) does not
 * list it; else conflict, and nothing changes. Idempotent: a store that
 * owns the order already gets it again (its retry after a crash that
 * lost the first answer). Two claims racing (two HQ processes) move it
 * once: set_owner compares and sets. */
static int op_order_claim(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store, *number;
    char maker[32];
    hq_order_rec rec;
    json_t *doc;
    bool unsent = false, moved = false;
    if (store_number(args, &store, &number, err) < 0 || need_peer(s, store, err) < 0 ||
        number_store(number, maker, err) < 0 || H->vt->begin(H, err) < 0)
        return -1;
    if (H->vt->get(H, maker, number, &rec, &doc, err) < 0) return tx_end(-1, err);
    bool ok = concerns(&rec, doc, store);
    json_decref(doc);
    if (!strcmp(rec.owner, store)) /* ours already: the same grant again */
        return tx_end(claim_answer(maker, number, r, err), err);
    if (!ok) {
        err_field(err, ERR_FORBIDDEN, "number", "order %s is store %s's and has no pickup at %s",
                  number, maker, store);
        return tx_end(-1, err);
    }
    if (H->vt->unsent_has(H, rec.owner, number, &unsent, err) < 0) return tx_end(-1, err);
    if (unsent) {
        err_set(err, ERR_CONFLICT,
                "store %s has changes to order %s that HQ has not received yet: try again once"
                " they are uploaded",
                rec.owner, number);
        return tx_end(-1, err);
    }
    if (H->vt->set_owner(H, maker, number, rec.owner, store, &moved, err) < 0)
        return tx_end(-1, err);
    if (!moved) {
        err_set(err, ERR_CONFLICT, "order %s was claimed by another store meanwhile", number);
        return tx_end(-1, err);
    }
    return tx_end(claim_answer(maker, number, r, err), err);
}

#define HQ_MOVED_PAGE 100

/* hq.order.moved {store, unsent, seen} (SPEC C5), a store's poll: records
 * which of its orders have events HQ has not received (unsent: a claim
 * waits for them), acknowledges the versions it applied (seen), and
 * answers {orders: [{number, owner, state, hq_order?, order}]}: orders it
 * gave up to a claim whose newer versions it has not acknowledged. */
static int op_order_moved(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store;
    json_t *unsent, *seen, *out;
    size_t i;
    json_t *v;
    if (args_str(args, "", "store", true, 31, &store, err) < 0 ||
        args_arr(args, "", "unsent", true, HQ_MAX_NUMBERS, &unsent, err) < 0 ||
        args_arr(args, "", "seen", true, HQ_MAX_NUMBERS, &seen, err) < 0 ||
        need_peer(s, store, err) < 0)
        return -1;
    /* the shape was checked by the op's schema; numbers are bounded too */
    json_array_foreach(unsent, i, v)
    {
        if (strlen(json_string_value(json_object_get(v, "number"))) > 63)
            return err_field(err, ERR_BAD_REQUEST, "unsent", "unsent: number too long");
    }
    if (H->vt->begin(H, err) < 0) return -1;
    int rc = H->vt->unsent_set(H, store, unsent, err);
    json_array_foreach(seen, i, v)
    {
        const char *number = json_string_value(json_object_get(v, "number"));
        if (rc == 0 && number)
            rc = H->vt->moved_seen(H, store, number,
                                   json_integer_value(json_object_get(v, "version")), err);
    }
    if (rc == 0) rc = H->vt->moved(H, store, HQ_MOVED_PAGE, &out, err);
    if (tx_end(rc, err) < 0) {
        if (rc == 0) json_decref(out);
        return -1;
    }
    *r = json_pack("{s:o}", "orders", out);
    return 0;
}

static json_t *recs_json(hq_order_rec *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, hq_order_rec_json(&v[i]));
    return a;
}

static int op_order_list(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store, *state = NULL;
    hq_order_rec *v;
    size_t n;
    if (args_str(args, "", "store", true, 31, &store, err) < 0 ||
        args_str(args, "", "state", false, 15, &state, err) < 0 ||
        need_hq_user(s, &store, err) < 0 ||
        H->vt->list(H, store, state, HQ_LIST_MAX, &v, &n, err) < 0)
        return -1;
    *r = json_pack("{s:o}", "orders", recs_json(v, n));
    free(v);
    return 0;
}

/* The recorded conflicts, with any still waiting to be written. */
static int conflicts_json(engine *e, const char *store, json_t **out, err_t *err)
{
    if (npending && hq_ops_flush(e, err) < 0) return -1;
    return H->vt->conflicts(H, store, HQ_LIST_MAX, out, err);
}

/* {failures: [order record], conflicts: [as hq.conflicts]} */
static int op_failures(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store = NULL;
    hq_order_rec *v;
    size_t n;
    json_t *conflicts;
    if (args_str(args, "", "store", false, 31, &store, err) < 0 ||
        need_hq_user(s, &store, err) < 0 || conflicts_json(e, store, &conflicts, err) < 0)
        return -1;
    if (H->vt->list(H, store, "failed", HQ_LIST_MAX, &v, &n, err) < 0) {
        json_decref(conflicts);
        return -1;
    }
    *r = json_pack("{s:o, s:o}", "failures", recs_json(v, n), "conflicts", conflicts);
    free(v);
    return 0;
}

/* Events refused because HQ keeps their (store, seq) with other content. */
static int op_conflicts(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store = NULL;
    json_t *conflicts;
    if (args_str(args, "", "store", false, 31, &store, err) < 0 ||
        need_hq_user(s, &store, err) < 0 || conflicts_json(e, store, &conflicts, err) < 0)
        return -1;
    *r = json_pack("{s:o}", "conflicts", conflicts);
    return 0;
}

/* How a store learns back (SPEC S3): one small record per number asked. */
static int op_order_status(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store;
    json_t *numbers;
    if (args_str(args, "", "store", true, 31, &store, err) < 0 ||
        args_arr(args, "", "numbers", true, HQ_MAX_NUMBERS, &numbers, err) < 0 ||
        need_hq_user(s, &store, err) < 0)
        return -1;
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(numbers, i, v)
    {
        const char *number = json_string_value(v);
        hq_order_rec rec;
        err_t nf = {0};
        if (!number) {
            json_decref(out);
            return err_field(err, ERR_BAD_REQUEST, "numbers", "numbers: expected strings");
        }
        char maker[32];
        /* C5: an order another store made that this one owns now */
        bool claimed = number_store(number, maker, &(err_t){0}) == 0 && strcmp(maker, store);
        if (H->vt->get(H, claimed ? maker : store, number, &rec, NULL, &nf) == 0 && claimed &&
            strcmp(rec.owner, store) && !s->signed_in) {
            nf.code = ERR_NOT_FOUND; /* another store's: none of this one's business */
            rec.number[0] = '\0';
        }
        if (nf.code != ERR_NONE || !*rec.number) {
            if (nf.code != ERR_NOT_FOUND) {
                json_decref(out);
                *err = nf;
                return -1;
            }
            json_array_append_new(out,
                                  json_pack("{s:s, s:s}", "number", number, "state", "unknown"));
            continue;
        }
        json_array_append_new(out, hq_order_rec_json(&rec));
    }
    *r = json_pack("{s:o}", "orders", out);
    return 0;
}

static int op_retry(engine *e, session *s, json_t *args, json_t **r, err_t *err)
{
    const char *store, *number;
    hq_order_rec rec;
    bool ok;
    if (store_number(args, &store, &number, err) < 0 || need_hq_user(s, &store, err) < 0 ||
        H->vt->begin(H, err) < 0)
        return -1;
    if (H->vt->get(H, store, number, &rec, NULL, err) < 0) return tx_end(-1, err);
    if (strcmp(rec.state, "failed")) {
        err_set(err, ERR_INVALID_STATE, "order %s is %s at HQ, not failed", number, rec.state);
        return tx_end(-1, err);
    }
    if (tx_end(hq_sync_one(H, store, number, true, &ok, err) < 0 ||
                       H->vt->get(H, store, number, &rec, NULL, err) < 0
                   ? -1
                   : 0,
               err) < 0)
        return -1;
    *r = hq_order_rec_json(&rec);
    return 0;
}

int hq_ops_register(hq_store *h, const char *token)
{
    int rc = 0;
    H = h;
    shared_set = token && *token;
    if (shared_set) hq_token_hash(token, strlen(token), shared_hash);
    rc |= dispatch_register("session.login_store", op_login_store, false, false, "store:s token:s");
    rc |= dispatch_register("hq.upload", op_upload, true, false,
                            "store:s events:[seq:i type:s payload:o hq_order:s?]");
    rc |= dispatch_register("hq.create_order", op_create_order, true, false, "store:s order:o");
    rc |= dispatch_register("hq.synchronize", op_synchronize, true, false, "store:s?");
    rc |= dispatch_register("hq.order.get", op_order_get, false, false, "store:s number:s");
    rc |= dispatch_register("hq.order.list", op_order_list, false, false, "store:s state:s?");
    rc |= dispatch_register("hq.order.status", op_order_status, false, false, "store:s numbers:a");
    rc |= dispatch_register("hq.failures", op_failures, false, false, "store:s?");
    rc |= dispatch_register("hq.conflicts", op_conflicts, false, false, "store:s?");
    rc |= dispatch_register("hq.retry", op_retry, true, false, "store:s number:s");
    rc |= hq_master_register(h);
    rc |= dispatch_register("hq.order.claim", op_order_claim, true, false, "store:s number:s");
    rc |= dispatch_register("hq.order.moved", op_order_moved, true, false,
                            "store:s unsent:[number:s seq:i] seen:[number:s version:i]");
    return rc;
}

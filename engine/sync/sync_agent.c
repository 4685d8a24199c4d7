/* sync_agent.c: the uploader (SPEC S2, S3).
 *
 * A round walks the stores of the database. For each, it reads the outbox
 * after the store's cursor (committed rows only: sync_queue.h), sends them
 * as hq.upload batches of up to SYNC_BATCH_EVENTS events (and ~512 KiB, well
 * under HQ's 1 MiB line), and when HQ answers {acked_through} moves the
 * cursor and marks the orders whose creation arrived as `uploaded`, in one
 * write. Then it asks HQ (hq.order.status) about the store's uploaded or
 * failed orders, a page at a time, and writes down what HQ decided.
 *
 * Events of one order go out in seq order, so anything done to a queued
 * order (edit, pickup, cancel, return) travels behind its creation (S3).
 * Nothing is lost between the read and the ack: the cursor only moves on
 * HQ's answer, so a batch cut off by a crash of either side is sent again
 * and HQ's (store, seq) idempotency drops the copies.
 *
 * NO EVENT STOPS THE QUEUE. An event that can never be sent as it is would
 * otherwise fail every round and keep every later order `pending` for
 * good. So the uploader tells two kinds of failure apart:
 *   - transient: HQ unreachable, no answer in time, a wrong token, HQ's
 *     own trouble (`internal`, anything but the codes below): the round
 *     fails and is retried with back-off, nothing is set aside;
 *   - permanent, for one event: it is over SYNC_EVENT_MAX (one hq.upload
 *     line could not carry it; an event between the batch size and that
 *     goes alone, in a batch of one), its payload is not a readable JSON
 *     object, or HQ answered bad_request, validation or conflict naming
 *     it (details.field "events[i]…" or details.seq). That event is set
 *     aside (quarantined, sync_queue.c: a table row with kind and reason;
 *     its order becomes `failed` with the reason), and the round goes on
 *     with the events behind it. A permanent answer that names no event
 *     makes the uploader send the rest of that batch one event at a time,
 *     so the next such answer names one.
 * Later events of an order with an event set aside are held behind it
 * (set aside as `held`), not sent: HQ keeps the newest document of an
 * order, and an order must not reach HQ without its creation or with a
 * gap. sync.retry (sync_gate.c) marks an order's set-aside events, or all
 * of a store's, to be sent again after a fix: each round sends those first,
 * in seq order, before the queue; HQ's ack releases them (the order is
 * `uploaded` again and learns HQ's verdict), a refusal sets them aside
 * again. Nothing is retried by itself: whether the cause is gone (HQ's
 * master data fixed, a conflict resolved at HQ) only people know.
 *
 * In the background (serve --hq) a tick every SYNC_TICK_MS starts a round
 * when the outbox has grown (so a change leaves within well under 2 s) or
 * when HQ's verdicts are due (every SYNC_STATUS_MS while some are open).
 * A failed round backs off exponentially with jitter: a random delay in
 * [d/2, d], d doubling from SYNC_BACKOFF_MIN_MS up to SYNC_BACKOFF_MAX_MS
 * (10 s), so stores coming back together do not hit HQ in step. sync.run
 * starts a round at once, back-off or not. */
#include "sync/sync.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/master_sync.h"
#include "store/sync_queue.h"
#include "sync/uplink.h"
#include "model/text.h"
#include "ops/dispatch.h"

/* The biggest event the queue hands over must fit in one line to HQ. */
_Static_assert(SYNC_EVENT_MAX + 1024 <= DISPATCH_MAX_LINE, "an event must fit in HQ's line");

#define SYNC_BATCH_EVENTS 500
#define SYNC_BATCH_BYTES (512u << 10)
#define SYNC_STATUS_PAGE 500
#define SYNC_CALL_MS 5000
#define SYNC_TICK_MS 250
#define SYNC_STATUS_MS 2000
#define SYNC_BACKOFF_MIN_MS 250
#define SYNC_BACKOFF_MAX_MS 10000
#define SYNC_CUSTOMERS 100
#define SYNC_CUSTOMER_RETRY_MS 2000

typedef struct waiter {
    struct waiter *next;
    sync_done_fn done;
    void *arg;
} waiter;

struct sync_agent {
    sync_agent_config cfg;
    uplink *link;
    sync_reader *rd;
    struct event *tick, *done_ev;

    /* the round */
    bool busy, with_status;
    sync_round round;
    waiter *waiters, *finished;
    sync_round finished_round;
    sync_store_state st[SYNC_MAX_STORES];
    int nst, cur, phase;  /* phase 0: uploads, 1: verdicts */
    bool cust_done;       /* this round's customers went up (or may not now) */
    json_t *cust_acks;    /* the customers in flight: [[account, seq]] */
    int64_t cust_next_us; /* after a refusal: queued customers wait till then */
    json_t *batch;        /* the status page in flight */
    sync_batch up;        /* the upload in flight */
    bool up_retry;        /* it carries events sent again after sync.retry */
    int64_t batch_from;
    /* of the current store, in this round */
    bool retry_done;                    /* the sync.retry events were sent */
    int64_t retry_after;                /* the last one looked at */
    int64_t single_until, single_retry; /* one event per batch up to these seqs */

    /* across rounds */
    int64_t acked_mem[SYNC_MAX_STORES]; /* by index into st: what HQ acked */
    char status_after[SYNC_MAX_STORES][64];
    int fails;
    int64_t next_try_us, next_status_us;
    bool reported_down;
};

static void step(sync_agent *a);

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- writes ---- */

typedef struct {
    const char *store;
    int64_t from, through;
    const char *error;
    json_t *orders;
    const sync_batch *b;
    int64_t seq; /* refused */
    const char *number, *kind;
} write_args;

/* The queue: HQ took the batch (or nothing of it had to go). */
static int acked_fn(engine *e, void *arg, err_t *err)
{
    write_args *w = arg;
    return sync_queue_set_aside(e, w->store, w->b, err) < 0 ||
                   sync_queue_acked(e, w->store, w->from, w->through, err) < 0
               ? -1
               : 0;
}

/* Events sent again after sync.retry: HQ took them. */
static int released_fn(engine *e, void *arg, err_t *err)
{
    write_args *w = arg;
    return sync_queue_set_aside(e, w->store, w->b, err) < 0 ||
                   sync_queue_released(e, w->store, w->b, err) < 0
               ? -1
               : 0;
}

static int refused_fn(engine *e, void *arg, err_t *err)
{
    write_args *w = arg;
    return sync_queue_refused(e, w->store, w->seq, w->number, w->kind, w->error, err);
}

static int failed_fn(engine *e, void *arg, err_t *err)
{
    write_args *w = arg;
    return sync_queue_failed(e, w->store, w->error, err);
}

static int learn_fn(engine *e, void *arg, err_t *err)
{
    write_args *w = arg;
    return sync_queue_learn(e, w->store, w->orders, err);
}

/* ---- the round ---- */

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    sync_agent *a = arg;
    waiter *w = a->finished;
    a->finished = NULL;
    sync_round r = a->finished_round;
    while (w) {
        waiter *next = w->next;
        w->done(w->arg, &r);
        free(w);
        w = next;
    }
}

static void round_end(sync_agent *a)
{
    a->busy = false;
    json_decref(a->batch);
    a->batch = NULL;
    sync_batch_free(&a->up);
    int64_t now = now_us();
    if (a->round.ok) {
        if (a->reported_down && a->cfg.background)
            fprintf(stderr, "corder: sync: HQ %s reachable again\n", a->cfg.hq);
        a->fails = 0;
        a->reported_down = false;
        a->next_try_us = 0;
        if (a->with_status) a->next_status_us = now + SYNC_STATUS_MS * 1000;
    } else {
        int64_t d = SYNC_BACKOFF_MIN_MS;
        for (int i = 1; i < a->fails && d < SYNC_BACKOFF_MAX_MS; i++)
            d *= 2;
        if (d > SYNC_BACKOFF_MAX_MS) d = SYNC_BACKOFF_MAX_MS;
        int64_t delay = d / 2 + (int64_t)randombytes_uniform((uint32_t)(d / 2 + 1));
        a->next_try_us = now + delay * 1000;
        if (!a->reported_down && a->cfg.background)
            fprintf(stderr, "corder: sync: %s (retrying with back-off)\n", a->round.error);
        a->reported_down = true;
    }
    /* Callers learn the outcome from the loop, never from inside a call. */
    waiter **end = &a->finished;
    while (*end)
        end = &(*end)->next;
    *end = a->waiters;
    a->waiters = NULL;
    a->finished_round = a->round;
    if (a->finished) event_active(a->done_ev, 0, 0);
}

static void round_fail(sync_agent *a, const char *msg)
{
    err_t err = {0};
    a->round.ok = false;
    text_copy(a->round.error, sizeof a->round.error, msg);
    a->fails++;
    if (a->phase == 0 && a->cur < a->nst) {
        write_args w = {.store = a->st[a->cur].store, .error = a->round.error};
        if (a->cfg.write(a->cfg.write_ctx, failed_fn, &w, &err) < 0)
            fprintf(stderr, "corder: sync: %s\n", err.message);
    }
    round_end(a);
}

/* The event a permanent refusal names: details.seq (conflict), or the
 * index in details.field ("events[3].payload.number"); 0 when none. */
static int64_t refused_event(const sync_batch *b, json_t *error, size_t *at)
{
    json_t *details = json_object_get(error, "details");
    json_int_t seq = json_integer_value(json_object_get(details, "seq"));
    const char *field = json_string_value(json_object_get(details, "field"));
    unsigned long i;
    char tail;
    for (size_t k = 0; seq && k < b->n; k++)
        if (b->seqs[k] == seq) {
            *at = k;
            return seq;
        }
    if (field && sscanf(field, "events[%lu%c", &i, &tail) == 2 && tail == ']' && i < b->n) {
        *at = i;
        return b->seqs[i];
    }
    if (b->n == 1) { /* alone in its batch: it is the one */
        *at = 0;
        return b->seqs[0];
    }
    return 0;
}

static bool permanent(const char *code)
{
    return code && (!strcmp(code, "bad_request") || !strcmp(code, "validation") ||
                    !strcmp(code, "conflict"));
}

/* HQ refused the batch because of one of its events: that one is set
 * aside, and the round reads on from where the batch began. */
static void upload_refused(sync_agent *a, json_t *e)
{
    sync_store_state *s = &a->st[a->cur];
    err_t err = {0};
    const char *code = json_string_value(json_object_get(e, "code"));
    size_t at = 0;
    int64_t seq = refused_event(&a->up, e, &at);
    if (!seq) { /* named none: send the rest of this batch one by one */
        if (a->up_retry)
            a->single_retry = a->up.last;
        else
            a->single_until = a->up.last;
        sync_batch_free(&a->up);
        step(a);
        return;
    }
    char reason[200];
    bool conflict = !strcmp(code, "conflict");
    snprintf(reason, sizeof reason, "HQ refused it: %s: %s", code,
             json_string_value(json_object_get(e, "message")) ?: "");
    write_args w = {.store = s->store,
                    .seq = seq,
                    .number = a->up.numbers[at],
                    .kind = conflict ? "conflict" : "refused",
                    .error = reason};
    if (a->cfg.write(a->cfg.write_ctx, refused_fn, &w, &err) < 0) {
        round_fail(a, err.message);
        return;
    }
    if (a->cfg.background)
        fprintf(stderr, "corder: sync: %s seq %lld (order %s) set aside: %s\n", s->store,
                (long long)seq, w.number, reason);
    a->round.quarantined++;
    a->round.conflicts += conflict;
    snprintf(a->round.last_quarantined, sizeof a->round.last_quarantined, "seq %lld: %s",
             (long long)seq, reason);
    sync_batch_free(&a->up);
    step(a);
}

/* The round's count and the server's log learn what the batch set aside. */
static void note_asides(sync_agent *a, const sync_store_state *s)
{
    a->round.quarantined += (int64_t)a->up.naside;
    for (size_t i = 0; i < a->up.naside; i++) {
        const sync_aside *x = &a->up.aside[i];
        if (x->held_behind) continue;
        snprintf(a->round.last_quarantined, sizeof a->round.last_quarantined, "seq %lld: %s",
                 (long long)x->seq, x->reason);
        if (a->cfg.background)
            fprintf(stderr, "corder: sync: %s seq %lld (order %s) set aside: %s\n", s->store,
                    (long long)x->seq, x->number, x->reason);
    }
}

static void upload_cb(void *arg, json_t *resp, const char *error)
{
    sync_agent *a = arg;
    sync_store_state *s = &a->st[a->cur];
    char msg[256];
    err_t err = {0};
    if (!resp) {
        round_fail(a, error);
        return;
    }
    json_t *e = json_object_get(resp, "error");
    if (e && permanent(json_string_value(json_object_get(e, "code")))) {
        upload_refused(a, e);
        return;
    }
    if (e) {
        snprintf(msg, sizeof msg, "HQ refused the upload: %s: %s",
                 json_string_value(json_object_get(e, "code")),
                 json_string_value(json_object_get(e, "message")));
        round_fail(a, msg);
        return;
    }
    int64_t acked =
        json_integer_value(json_object_get(json_object_get(resp, "result"), "acked_through"));
    int64_t sent_last = a->up.seqs[a->up.n - 1];
    if (acked < sent_last) {
        snprintf(msg, sizeof msg, "HQ acknowledged %s up to %lld of %lld", s->store,
                 (long long)acked, (long long)sent_last);
        round_fail(a, msg);
        return;
    }
    a->round.acked += (int64_t)a->up.n;
    if (a->up_retry) {
        write_args w = {.store = s->store, .b = &a->up};
        if (a->cfg.write(a->cfg.write_ctx, released_fn, &w, &err) < 0) {
            round_fail(a, err.message);
            return;
        }
        a->retry_after = a->up.last;
    } else {
        /* Up to what this batch looked at, never further: HQ holding
         * higher seqs of this store (a store restored from an old backup
         * numbers its events again) must not make the cursor skip events
         * HQ never saw; sent, they meet HQ's content check instead. */
        write_args w = {
            .store = s->store, .from = a->batch_from, .through = a->up.last, .b = &a->up};
        if (a->cfg.write(a->cfg.write_ctx, acked_fn, &w, &err) < 0) {
            round_fail(a, err.message);
            return;
        }
        s->acked = a->acked_mem[a->cur] = a->up.last;
    }
    note_asides(a, s);
    sync_batch_free(&a->up);
    step(a);
}

/* Events set aside without asking HQ, in a batch with nothing to send. */
static bool aside_only(sync_agent *a, sync_store_state *s)
{
    err_t err = {0};
    write_args w = {.store = s->store, .from = s->acked, .through = a->up.last, .b = &a->up};
    if (a->cfg.write(a->cfg.write_ctx, a->up_retry ? released_fn : acked_fn, &w, &err) < 0) {
        round_fail(a, err.message);
        return false;
    }
    if (a->up_retry)
        a->retry_after = a->up.last;
    else
        s->acked = a->acked_mem[a->cur] = a->up.last;
    note_asides(a, s);
    sync_batch_free(&a->up);
    return true;
}

/* Sends the next batch of the current store (the events sync.retry asked
 * for first, then the queue), or moves on. */
static bool step_upload(sync_agent *a)
{
    err_t err = {0};
    while (a->cur < a->nst) {
        sync_store_state *s = &a->st[a->cur];
        int rc;
        a->up_retry = !a->retry_done;
        if (a->up_retry) {
            int max = a->retry_after < a->single_retry ? 1 : SYNC_BATCH_EVENTS;
            sync_batch_init(&a->up, a->retry_after);
            rc = sync_queue_retry_batch(a->cfg.e, s->store, a->retry_after, max, SYNC_BATCH_BYTES,
                                        &a->up, &err);
        } else {
            if (s->newest <= s->acked) {
                a->cur++;
                a->retry_done = false;
                a->retry_after = a->single_until = a->single_retry = 0;
                continue;
            }
            int max = s->acked < a->single_until ? 1 : SYNC_BATCH_EVENTS;
            sync_batch_init(&a->up, s->acked);
            rc = sync_reader_batch(a->rd, a->cfg.e, s->store, s->acked, max, SYNC_BATCH_BYTES,
                                   &a->up, &err);
        }
        if (rc < 0) {
            round_fail(a, err.message);
            return true;
        }
        if (a->up.n == 0 && a->up.naside == 0 &&
            a->up.last == (a->up_retry ? a->retry_after : s->acked)) {
            sync_batch_free(&a->up); /* nothing (more) there */
            if (a->up_retry) {
                a->retry_done = true;
                continue;
            }
            a->cur++;
            a->retry_done = false;
            a->retry_after = a->single_until = a->single_retry = 0;
            continue;
        }
        if (a->up.n == 0) {
            if (!aside_only(a, s)) return true;
            continue;
        }
        a->batch_from = s->acked;
        a->round.sent += (int64_t)a->up.n;
        uplink_call(a->link, s->store, "hq.upload",
                    json_pack("{s:s, s:O}", "store", s->store, "events", a->up.events),
                    SYNC_CALL_MS, upload_cb, a);
        return true;
    }
    return false;
}

static void status_cb(void *arg, json_t *resp, const char *error)
{
    sync_agent *a = arg;
    sync_store_state *s = &a->st[a->cur];
    err_t err = {0};
    if (!resp) {
        round_fail(a, error);
        return;
    }
    json_t *orders = json_object_get(json_object_get(resp, "result"), "orders");
    if (!json_is_array(orders)) {
        char msg[256];
        snprintf(msg, sizeof msg, "HQ did not answer hq.order.status: %s",
                 json_string_value(json_object_get(json_object_get(resp, "error"), "message")));
        round_fail(a, msg);
        return;
    }
    write_args w = {.store = s->store, .orders = orders};
    if (a->cfg.write(a->cfg.write_ctx, learn_fn, &w, &err) < 0) {
        round_fail(a, err.message);
        return;
    }
    a->round.learned += (int64_t)json_array_size(orders);
    /* A full page: the next one, in this round; else the next store. */
    size_t n = json_array_size(a->batch);
    const char *last = n ? json_string_value(json_array_get(a->batch, n - 1)) : "";
    bool more = n == SYNC_STATUS_PAGE;
    text_copy(a->status_after[a->cur], sizeof a->status_after[a->cur], more ? last : "");
    json_decref(a->batch);
    a->batch = NULL;
    if (!more) a->cur++;
    step(a);
}

static bool step_status(sync_agent *a)
{
    err_t err = {0};
    while (a->cur < a->nst) {
        sync_store_state *s = &a->st[a->cur];
        json_t *numbers;
        if (s->unsettled == 0) {
            a->cur++;
            continue;
        }
        if (sync_reader_unsettled(a->rd, s->store, a->status_after[a->cur], SYNC_STATUS_PAGE,
                                  &numbers, &err) < 0) {
            round_fail(a, err.message);
            return true;
        }
        if (json_array_size(numbers) == 0) {
            json_decref(numbers);
            a->status_after[a->cur][0] = '\0';
            a->cur++;
            continue;
        }
        a->batch = json_incref(numbers);
        uplink_call(a->link, s->store, "hq.order.status",
                    json_pack("{s:s, s:o}", "store", s->store, "numbers", numbers), SYNC_CALL_MS,
                    status_cb, a);
        return true;
    }
    return false;
}

/* ---- customers (SPEC C4) ----
 * Customers made or changed here go up before the round's events, so HQ
 * knows a new customer before the order that names it. They ride on the
 * uploader's connection, signed in as the store the master-data poll
 * signs in as (sync_master.c), else the first store with events to send,
 * else the first store. A refusal is not the round's: events still go,
 * the customers wait SYNC_CUSTOMER_RETRY_MS; a refusal for good (the
 * customer is not one HQ can hold) drops them with a line in the log, so
 * one customer never stops the others. The rows are read on the loop's
 * connection, which may see the open batch's customer before its commit;
 * should that commit fail, HQ keeps a customer this store lost. */
static int cust_done_fn(engine *e, void *arg, err_t *err)
{
    return master_outbox_done(e, arg, err);
}

static void cust_finish(sync_agent *a, bool drop)
{
    err_t err = {0};
    if (drop && a->cfg.write(a->cfg.write_ctx, cust_done_fn, a->cust_acks, &err) < 0)
        fprintf(stderr, "corder: sync: customers: %s\n", err.message);
    json_decref(a->cust_acks);
    a->cust_acks = NULL;
}

static void cust_cb(void *arg, json_t *resp, const char *error)
{
    sync_agent *a = arg;
    json_t *e = resp ? json_object_get(resp, "error") : NULL;
    const char *code = e ? json_string_value(json_object_get(e, "code")) : NULL;
    if (resp && !e) {
        bool full = json_array_size(a->cust_acks) == SYNC_CUSTOMERS;
        cust_finish(a, true);
        if (!full) a->cust_done = true;
        step(a);
        return;
    }
    if (code && (!strcmp(code, "bad_request") || !strcmp(code, "validation"))) {
        fprintf(stderr, "corder: sync: HQ refused customers for good, dropped: %s\n",
                json_string_value(json_object_get(e, "message")) ?: "");
        cust_finish(a, true);
    } else {
        if (a->cfg.background)
            fprintf(stderr, "corder: sync: customers not sent: %s\n",
                    e ? json_string_value(json_object_get(e, "message")) ?: "" : error);
        cust_finish(a, false);
        a->cust_next_us = now_us() + SYNC_CUSTOMER_RETRY_MS * 1000;
    }
    a->cust_done = true;
    step(a);
}

static bool step_customers(sync_agent *a)
{
    err_t err = {0};
    json_t *list = NULL;
    if (a->nst == 0 || now_us() < a->cust_next_us ||
        master_outbox_batch(a->cfg.e, SYNC_CUSTOMERS, &list, &a->cust_acks, &err) < 0 ||
        json_array_size(a->cust_acks) == 0) {
        if (err.code) fprintf(stderr, "corder: sync: customers: %s\n", err.message);
        json_decref(list);
        json_decref(a->cust_acks);
        a->cust_acks = NULL;
        a->cust_done = true;
        return false;
    }
    master_sync_state ms;
    const char *store = a->st[0].store;
    if (master_sync_state_get(a->cfg.e, &ms, &err) == 0 && *ms.store) {
        store = ms.store;
    } else {
        for (int i = 0; i < a->nst; i++)
            if (a->st[i].newest > a->st[i].acked) {
                store = a->st[i].store;
                break;
            }
    }
    uplink_call(a->link, store, "hq.customer.put",
                json_pack("{s:s, s:o}", "store", store, "customers", list), SYNC_CALL_MS, cust_cb,
                a);
    return true;
}

static void step(sync_agent *a)
{
    if (a->phase == 0 && !a->cust_done && step_customers(a)) return;
    if (a->phase == 0) {
        if (step_upload(a)) return;
        a->phase = 1;
        a->cur = 0;
    }
    if (a->with_status && step_status(a)) return;
    round_end(a);
}

/* The stores and their queues, with what HQ acked that the reader may not
 * see committed yet. */
static int load_stores(sync_agent *a, err_t *err)
{
    sync_store_state fresh[SYNC_MAX_STORES];
    int n;
    if (sync_reader_stores(a->rd, fresh, SYNC_MAX_STORES, &n, err) < 0) return -1;
    for (int i = 0; i < n; i++) {
        int k = i < a->nst && !strcmp(a->st[i].store, fresh[i].store) ? i : -1;
        if (k >= 0 && a->acked_mem[k] > fresh[i].acked) fresh[i].acked = a->acked_mem[k];
        if (k < 0) {
            a->acked_mem[i] = fresh[i].acked;
            a->status_after[i][0] = '\0';
        }
    }
    memcpy(a->st, fresh, sizeof fresh[0] * (size_t)n);
    a->nst = n;
    return 0;
}

static void round_start(sync_agent *a, bool with_status)
{
    err_t err = {0};
    a->busy = true;
    a->with_status = with_status;
    memset(&a->round, 0, sizeof a->round);
    a->round.ok = true;
    a->cur = a->phase = 0;
    a->cust_done = false;
    a->retry_done = false;
    a->retry_after = a->single_until = a->single_retry = 0;
    if (load_stores(a, &err) < 0) {
        a->nst = 0;
        round_fail(a, err.message);
        return;
    }
    step(a);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    sync_agent *a = arg;
    err_t err = {0};
    int64_t now = now_us();
    if (a->busy || now < a->next_try_us) return;
    if (load_stores(a, &err) < 0) return;
    bool backlog = false, open = false;
    int64_t customers = 0;
    if (now >= a->cust_next_us && master_outbox_count(a->cfg.e, &customers, &err) == 0)
        backlog = customers > 0;
    for (int i = 0; i < a->nst; i++) {
        backlog |= a->st[i].newest > a->st[i].acked || a->st[i].retries > 0;
        open |= a->st[i].unsettled > 0;
    }
    bool verdicts = open && now >= a->next_status_us;
    if (backlog || verdicts) round_start(a, verdicts);
}

void sync_agent_run(sync_agent *a, sync_done_fn done, void *arg)
{
    waiter *w = calloc(1, sizeof *w);
    if (!w) abort();
    w->done = done;
    w->arg = arg;
    w->next = a->waiters;
    a->waiters = w;
    if (!a->busy) round_start(a, true);
}

sync_agent *sync_agent_new(const sync_agent_config *cfg, err_t *err)
{
    sync_agent *a = calloc(1, sizeof *a);
    if (!a) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    a->cfg = *cfg;
    a->rd = sync_reader_open(cfg->e, err);
    a->link = a->rd ? uplink_new(cfg->base, cfg->hq, cfg->token, cfg->hq_ca, err) : NULL;
    a->done_ev = event_new(cfg->base, -1, 0, done_cb, a);
    if (!a->link || !a->done_ev) {
        if (!err->code) err_set(err, ERR_INTERNAL, "cannot create the uploader");
        sync_agent_free(a);
        return NULL;
    }
    if (cfg->background) {
        a->tick = event_new(cfg->base, -1, EV_PERSIST, tick_cb, a);
        struct timeval tv = {0, SYNC_TICK_MS * 1000};
        if (!a->tick || event_add(a->tick, &tv) < 0) {
            err_set(err, ERR_INTERNAL, "cannot start the uploader's timer");
            sync_agent_free(a);
            return NULL;
        }
    }
    return a;
}

void sync_agent_free(sync_agent *a)
{
    if (!a) return;
    if (a->tick) event_free(a->tick);
    if (a->done_ev) event_free(a->done_ev);
    uplink_free(a->link);
    sync_reader_close(a->rd);
    json_decref(a->batch);
    json_decref(a->cust_acks);
    waiter *lists[2] = {a->waiters, a->finished};
    for (int i = 0; i < 2; i++)
        for (waiter *w = lists[i], *next; w; w = next) {
            next = w->next;
            free(w);
        }
    free(a);
}

/* flow_common.c: what every flow shares: the request context, payments,
 * loading and saving an order with its log entry and outbox event. Every
 * save checks the document's size (ORDER_MAX_DOC_BYTES, order.h): an order
 * over it is `validation` and nothing is written. */
#include "flows/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/args.h"
#include "model/jsonw.h"
#include "model/money.h"
#include "store/outbox.h"
#include "store/txlog.h"
#include "model/text.h"
#include "store/orders.h"

int flow_begin(flow_ctx *c, engine *e, session *s, const char *op, json_t *args, err_t *err)
{
    memset(c, 0, sizeof *c);
    c->e = e;
    c->s = s;
    c->op = op;
    c->args = args;
    if (master_store_get(e, s->store, &c->store, err) < 0) return -1;
    if (engine_today(e, s->store, c->today, err) < 0) return -1;
    engine_iso_now(e, c->now_iso);
    jw_arr(&c->decisions);
    c->pol = policy_acquire(engine_policies(e), s->store, err);
    if (!c->pol) return -1;
    c->perm_pol = policy_acquire(engine_policies(e), s->store, err);
    if (!c->perm_pol) return -1;
    c->params = policy_get_params(c->pol);
    snprintf(c->rules_store, sizeof c->rules_store, "%s", s->store);
    memcpy(c->rules_today, c->today, sizeof c->rules_today);
    return 0;
}

void flow_end(flow_ctx *c)
{
    free(c->result_text);
    c->result_text = NULL;
    if (c->pol) policy_release(c->pol);
    if (c->perm_pol) policy_release(c->perm_pol);
    jw_discard(&c->decisions);
    decide_tax_done(c);
    json_decref(c->approver);
    c->approver = c->approver_src = NULL;
    c->pol = c->perm_pol = NULL;
}

int flow_parse_payments(json_t *args, int64_t *sum, err_t *err)
{
    json_t *arr;
    *sum = 0;
    if (args_arr(args, "", "payments", false, FLOW_MAX_PAYMENTS, &arr, err) <= 0)
        return err->code ? -1 : 0;
    size_t i;
    json_t *p;
    json_array_foreach(arr, i, p)
    {
        char path[32];
        const char *s;
        int64_t amount;
        args_index(path, sizeof path, "payments", i);
        if (!json_is_object(p))
            return err_field(err, ERR_BAD_REQUEST, path, "%s: expected an object", path);
        if (args_str(p, path, "tender", true, 31, &s, err) < 0 ||
            args_str(p, path, "ref", false, 63, &s, err) < 0 ||
            args_int(p, path, "amount", true, INT64_MIN, INT64_MAX, &amount, err) < 0)
            return -1;
        if (amount <= 0 || amount > MONEY_MAX) {
            char f[48];
            snprintf(f, sizeof f, "%s.amount", path);
            return err_field(err, ERR_VALIDATION, f,
                             "%s: a payment must be more than 0 and at most %lld (SPEC M3)", f,
                             (long long)MONEY_MAX);
        }
        if (!money_add(*sum, amount, sum))
            return err_field(err, ERR_VALIDATION, "payments", "payments: the sum overflows");
    }
    return 0;
}

int flow_add_payments(flow_ctx *c, order *o, json_t *args)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(args, "payments"), i, p)
    {
        order_payment *pay = vec_push(o->payments);
        if (!pay) return -1;
        snprintf(pay->tender, sizeof pay->tender, "%s",
                 json_string_value(json_object_get(p, "tender")));
        const char *ref = json_string_value(json_object_get(p, "ref"));
        text_copy(pay->ref, sizeof pay->ref, ref ? ref : "");
        pay->amount = json_integer_value(json_object_get(p, "amount"));
        text_copy(pay->op, sizeof pay->op, c->op);
        text_copy(pay->at, sizeof pay->at, c->now_iso);
    }
    return 0;
}

order *flow_load(flow_ctx *c, const char *number, err_t *err)
{
    orders_row row;
    if (orders_read(c->e, number, &row, err) < 0) return NULL;
    json_error_t jerr;
    json_t *doc = json_loadb(row.doc, row.doc_len, 0, &jerr);
    order *o = doc ? order_from_json(doc, err) : NULL;
    json_decref(doc);
    orders_row_free(&row);
    if (!doc) err_set(err, ERR_INTERNAL, "order %s: stored document unreadable", number);
    if (o) {
        text_copy(o->sync_state, sizeof o->sync_state, row.sync_state);
        text_copy(o->hq_order, sizeof o->hq_order, row.hq_order);
        text_copy(o->sync_error, sizeof o->sync_error, row.sync_error);
        o->sync_attempts = row.sync_attempts;
        o->version = row.version;
        c->read_only = row.read_only;
        c->pay_seen = o->payments.n;
        c->ref_seen = o->refunds.n;
    }
    return o;
}

order *flow_load_change(flow_ctx *c, const char *number, err_t *err)
{
    order *o = flow_load(c, number, err);
    if (!o) return NULL;
    if (c->read_only) { /* C5: another store's server owns it now */
        const char *owner = *o->owner ? o->owner : o->store;
        err_set(err, ERR_INVALID_STATE,
                "order %s is owned by store %s since it was claimed there: it is read-only here",
                number, owner);
        json_t *d = json_pack("{s:s}", "owner", owner);
        char *t = d ? json_dumps(d, JSON_COMPACT) : NULL;
        if (t && strlen(t) < sizeof err->extra) text_copy(err->extra, sizeof err->extra, t);
        free(t);
        json_decref(d);
        order_free(o);
        return NULL;
    }
    c->other_store = strcmp(o->store, c->s->store) != 0;
    if (!c->other_store || !strcmp(o->store, c->rules_store)) return o;
    /* A5: money rules come from the order's store's policy, whoever is
     * signed in; permissions stay with perm_pol. */
    char today[11];
    policy *p = NULL;
    if (engine_today(c->e, o->store, today, err) < 0 ||
        !(p = policy_acquire(engine_policies(c->e), o->store, err))) {
        order_free(o);
        return NULL;
    }
    policy_release(c->pol);
    c->pol = p;
    c->params = policy_get_params(p);
    snprintf(c->rules_store, sizeof c->rules_store, "%s", o->store);
    memcpy(c->rules_today, today, sizeof c->rules_today);
    return o;
}

static int pickup_cmp(const void *a, const void *b)
{
    const order_line *x = *(const order_line *const *)a, *y = *(const order_line *const *)b;
    int r = strcmp(x->store, y->store);
    return r ? r : strcmp(x->date, y->date);
}

/* F12's pickup filters: the (store, date) pairs of the order's pickup
 * lines not wholly cancelled, sorted and once each, into c (pickup_v, a
 * malloc'd array pointing into o, and pickups, the same as JSON text,
 * NULL when there are none). Free both with flow_pickups_free. */
int flow_pickups(const order *o, orders_cols *c, err_t *err)
{
    c->pickup_v = NULL;
    c->pickup_n = 0;
    c->pickups = NULL;
    size_t n = 0;
    for (size_t i = 0; i < o->lines.n; i++)
        if (o->lines.v[i].mode == MODE_PICKUP && o->lines.v[i].qty_cancelled < o->lines.v[i].qty)
            n++;
    if (n == 0) return 0;
    const order_line **v = malloc(n * sizeof *v);
    orders_pickup *pairs = malloc(n * sizeof *pairs);
    if (!v || !pairs) {
        free(v);
        free(pairs);
        return err_set(err, ERR_INTERNAL, "out of memory");
    }
    n = 0;
    for (size_t i = 0; i < o->lines.n; i++) {
        const order_line *l = &o->lines.v[i];
        if (l->mode == MODE_PICKUP && l->qty_cancelled < l->qty) v[n++] = l;
    }
    qsort(v, n, sizeof *v, pickup_cmp);
    jsonw w = {0};
    jw_arr(&w);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && !pickup_cmp(&v[i - 1], &v[i])) continue;
        pairs[k++] = (orders_pickup){v[i]->store, v[i]->date};
        jw_arr(&w);
        jw_str(&w, v[i]->store);
        jw_str(&w, v[i]->date);
        jw_end_arr(&w);
    }
    jw_end_arr(&w);
    free(v);
    char *text = jw_finish(&w, NULL);
    if (!text) {
        free(pairs);
        return err_set(err, ERR_INTERNAL, "out of memory");
    }
    c->pickup_v = pairs;
    c->pickup_n = k;
    c->pickups = text;
    return 0;
}

void flow_pickups_free(orders_cols *c)
{
    free((void *)c->pickup_v);
    free((void *)c->pickups);
    c->pickup_v = NULL;
    c->pickups = NULL;
    c->pickup_n = 0;
}

static int write_row(flow_ctx *c, order *o, bool is_new, const char *doc, err_t *err)
{
    orders_cols cols = {.number = o->number,
                        .store = o->store,
                        .customer = o->customer,
                        .type = o->type,
                        .status = order_status(o),
                        .created_at = o->created_at,
                        .policy_version = o->policy_version,
                        .version = o->version,
                        .doc = doc};
    if (flow_pickups(o, &cols, err) < 0) return -1;
    int rc = orders_write(c->e, &cols, is_new, err);
    flow_pickups_free(&cols);
    return rc;
}

int flow_doc_fits(const order *o, size_t len, err_t *err)
{
    if (len <= ORDER_MAX_DOC_BYTES) return 0;
    size_t part;
    const char *name = order_doc_largest(o, &part);
    return err_field(err, ERR_VALIDATION, name,
                     "%s: order %s would take %zu bytes stored, more than the %d an order may "
                     "take; its %s take %zu",
                     name, o->number, len, ORDER_MAX_DOC_BYTES, name, part);
}

int flow_check_size(const order *o, err_t *err)
{
    size_t len;
    char *doc = order_text(o, ORDER_DOC, &len);
    if (!doc) return err_set(err, ERR_INTERNAL, "out of memory writing an order");
    free(doc);
    return flow_doc_fits(o, len, err);
}

int flow_save(flow_ctx *c, order *o, bool is_new, const char *event, json_t *result, err_t *err)
{
    if (is_new) c->pay_seen = c->ref_seen = 0; /* every payment is this request's */
    o->version++;
    text_copy(o->policy_version, sizeof o->policy_version, policy_version(c->pol));
    size_t len;
    char *doc = order_text(o, ORDER_DOC, &len);
    if (!doc) return err_set(err, ERR_INTERNAL, "out of memory saving an order");
    if (flow_doc_fits(o, len, err) < 0) {
        free(doc);
        return -1;
    }
    int rc = write_row(c, o, is_new, doc, err);
    /* C5: an order's events go up under its owner (a claimed one's under
     * the claiming store, whose seqs they take) */
    if (rc == 0)
        rc = outbox_append(c->e, *o->owner ? o->owner : o->store, o->number, event, o->version,
                           c->now_iso, err);
    free(doc);
    if (rc < 0) return -1;
    order_sums s;
    order_sum(o, &s);
    /* the log's summary, written as text straight from the structs */
    jsonw w = {0};
    jw_obj(&w);
    jw_key(&w, "version");
    jw_int(&w, o->version);
    jw_key(&w, "status");
    jw_str(&w, order_status(o));
    jw_key(&w, "total");
    jw_int(&w, s.order);
    jw_key(&w, "paid");
    jw_int(&w, s.paid);
    jw_key(&w, "refunded");
    jw_int(&w, s.refunded);
    jw_key(&w, "balance");
    jw_int(&w, s.balance);
    if (result) {
        jw_key(&w, "detail");
        jw_json(&w, result);
    }
    /* R3: the money this request moved, per tender, as the till counts it */
    for (int k = 0; k < 2; k++) {
        size_t from = k ? c->ref_seen : c->pay_seen;
        size_t n = k ? o->refunds.n : o->payments.n;
        if (from >= n) continue;
        jw_key(&w, k ? "refunds" : "payments");
        jw_arr(&w);
        for (size_t i = from; i < n; i++) {
            jw_obj(&w);
            jw_key(&w, "tender");
            jw_str(&w, k ? o->refunds.v[i].tender : o->payments.v[i].tender);
            jw_key(&w, "amount");
            jw_int(&w, k ? o->refunds.v[i].amount : o->payments.v[i].amount);
            jw_end_obj(&w);
        }
        jw_end_arr(&w);
    }
    if (c->n_approvals > 0) { /* who vouched for what (A2, A5) */
        jw_key(&w, "approvals");
        jw_arr(&w);
        for (int i = 0; i < c->n_approvals; i++) {
            jw_obj(&w);
            jw_key(&w, "permission");
            jw_str(&w, c->approvals[i].permission);
            jw_key(&w, "approver");
            jw_str(&w, c->approvals[i].staff);
            jw_end_obj(&w);
        }
        jw_end_arr(&w);
    }
    jw_end_obj(&w);
    char *summary = jw_finish(&w, NULL);
    jw_end_arr(&c->decisions);
    char *decisions = jw_finish(&c->decisions, NULL);
    jw_arr(&c->decisions); /* a flow saves once, but keep the context usable */
    c->ndecisions = 0;
    if (!decisions || !summary) {
        free(decisions);
        free(summary);
        return err_set(err, ERR_INTERNAL, "out of memory writing the log");
    }
    txlog_entry t = {.at = c->now_iso,
                     .store = c->s->store,
                     .staff = c->s->staff,
                     .op = c->op,
                     .order_number = o->number,
                     .policy_version = o->policy_version,
                     .request = c->args, /* the log leaves its PINs out */
                     .request_text = c->args_text,
                     .request_len = c->args_len,
                     .decisions = decisions,
                     .result_text = summary};
    rc = txlog_append(c->e, &t, err);
    if (rc == 0) rc = flow_till_record(c, o, err);
    free(decisions);
    free(summary);
    return rc;
}

int flow_sums(const order *o, order_sums *s, err_t *err)
{
    if (!order_sum(o, s))
        return err_set(err, ERR_VALIDATION, "the order's amounts overflow (SPEC M4)");
    return 0;
}

int flow_settle_invoice(flow_ctx *c, order *o, order_invoice *inv, int64_t on_account,
                        int64_t paying, err_t *err)
{
    inv->deposit_applied =
        on_account < inv->amount ? (on_account > 0 ? on_account : 0) : inv->amount;
    int64_t due = inv->amount - inv->deposit_applied;
    if (paying != due) {
        err_set(err, ERR_PAYMENT_MISMATCH, "payments of %lld do not match the %lld due",
                (long long)paying, (long long)due);
        err->due = due;
        err->has_due = 1;
        return -1;
    }
    inv->paid = due;
    return 0;
}

static int take_result(flow_ctx *c, jsonw *w, err_t *err)
{
    free(c->result_text);
    c->result_text = jw_finish(w, &c->result_len);
    if (!c->result_text) return err_set(err, ERR_INTERNAL, "out of memory writing the result");
    return 0;
}

int flow_result_order(flow_ctx *c, const order *o, err_t *err)
{
    jsonw w = {0};
    order_write(&w, o, ORDER_WIRE);
    return take_result(c, &w, err);
}

int flow_result_pair(flow_ctx *c, const order *o, const char *key, json_t *extra,
                     const order_invoice *inv, err_t *err)
{
    jsonw w = {0};
    jw_obj(&w);
    jw_key(&w, "order");
    order_write(&w, o, ORDER_WIRE);
    jw_key(&w, key);
    if (inv)
        order_write_invoice(&w, inv, true);
    else
        jw_json(&w, extra);
    jw_end_obj(&w);
    return take_result(c, &w, err);
}

int flow_deposit_override(flow_ctx *c, order *o, json_t *ovr, int64_t total, int64_t *deposit,
                          err_t *err)
{
    if (!ovr) return 0;
    int64_t amount;
    json_t *approval = NULL;
    if (args_int(ovr, "deposit_override", "amount", true, INT64_MIN, INT64_MAX, &amount, err) < 0 ||
        args_obj(ovr, "deposit_override", "approval", false, &approval, err) < 0)
        return -1;
    if (amount < 0 || amount > total)
        return err_field(err, ERR_VALIDATION, "deposit_override.amount",
                         "deposit_override.amount: must be from 0 to the order total %lld",
                         (long long)total);
    if (approval_require(c, approval, "deposit_override", err) < 0) return -1;
    *deposit = amount;
    o->deposit_overridden = true;
    text_copy(o->override_by, sizeof o->override_by, c->approved_by);
    return 1;
}

int flow_result_due(flow_ctx *c, const order *o, int64_t due, err_t *err)
{
    if (flow_result_order(c, o, err) < 0) return -1;
    char tail[48];
    int n = snprintf(tail, sizeof tail, ",\"due_now\":%lld}", (long long)due);
    char *t = realloc(c->result_text, c->result_len + (size_t)n + 1);
    if (!t) return err_set(err, ERR_INTERNAL, "out of memory writing the result");
    /* the order object's closing brace gives way to one more member */
    memcpy(t + c->result_len - 1, tail, (size_t)n + 1);
    c->result_text = t;
    c->result_len += (size_t)n - 1;
    return 0;
}

/* flow_create.c: F1 create (order, quote, ship/pickup/carry-out lines,
 * hybrid, cash-and-carry) and order.preview, which runs the same code and
 * keeps nothing. Checks run in PROTOCOL.md's error order: the request's
 * shape, approval credentials, what must exist, the rules, then approval
 * and payments; nothing is written before all of them pass. An order
 * starts with at most ORDER_MAX_LINES lines (more is bad_request, like any
 * list of lines longer than FLOW_MAX_LINES) and a stored document of at
 * most ORDER_MAX_DOC_BYTES (validation, in a preview too). */
#include "flows/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/args.h"
#include "model/money.h"
#include "store/sync_queue.h"
#include "model/text.h"

typedef struct {
    const char *customer, *type, *quote_expires;
    json_t *lines, *override, *approval, *contacts;
    int64_t shipping_charge; /* -1: none typed */
    bool has_charge;
    int64_t paying;
} create_args;

static int parse(flow_ctx *c, create_args *a, err_t *err)
{
    json_t *args = c->args;
    const char *key;
    memset(a, 0, sizeof *a);
    a->type = "order";
    a->shipping_charge = -1;
    if (args_str(args, "", "customer", false, 63, &a->customer, err) < 0 ||
        args_str(args, "", "type", false, 8, &a->type, err) < 0 ||
        args_str(args, "", "quote_expires", false, 10, &a->quote_expires, err) < 0 ||
        args_arr(args, "", "lines", true, FLOW_MAX_LINES, &a->lines, err) < 0 ||
        args_obj(args, "", "deposit_override", false, &a->override, err) < 0 ||
        args_arr(args, "", "pickup_contacts", false, 64, &a->contacts, err) < 0 ||
        args_str(args, "", "idempotency_key", false, 128, &key, err) < 0)
        return -1;
    int has = args_int(args, "", "shipping_charge", false, INT64_MIN, INT64_MAX,
                       &a->shipping_charge, err);
    if (has < 0) return -1;
    a->has_charge = has == 1;
    if (strcmp(a->type, "order") && strcmp(a->type, "quote"))
        return err_field(err, ERR_BAD_REQUEST, "type", "type: '%s' is not order or quote", a->type);
    /* the override's approver is checked early; its amount in settle */
    if (a->override &&
        args_obj(a->override, "deposit_override", "approval", false, &a->approval, err) < 0)
        return -1;
    /* A preview checks nothing about payments (F11): it says what is due. */
    return c->preview ? 0 : flow_parse_payments(args, &a->paying, err);
}

static int add_lines(flow_ctx *c, order *o, create_args *a, err_t *err)
{
    size_t i;
    json_t *j;
    json_array_foreach(a->lines, i, j)
    {
        char p[64];
        args_index(p, sizeof p, "lines", i);
        order_line *l = vec_push(o->lines);
        if (!l) return err_set(err, ERR_INTERNAL, "out of memory");
        if (flow_parse_line(c, j, p, a->customer, l, err) < 0) return -1;
        l->line = o->next_line++;
    }
    return 0;
}

static int resolve(flow_ctx *c, order *o, create_args *a, err_t *err)
{
    if (a->customer) {
        json_t *cust = master_customer_brief(c->e, a->customer, err);
        if (!cust) return -1;
        text_copy(o->customer, sizeof o->customer, a->customer);
        text_copy(o->customer_name, sizeof o->customer_name,
                  json_string_value(json_object_get(cust, "name")));
        o->b2b = json_is_true(json_object_get(cust, "b2b"));
        json_decref(cust);
    }
    for (size_t i = 0; i < o->lines.n; i++) {
        char p[64];
        args_index(p, sizeof p, "lines", i);
        if (flow_resolve_line(c, &o->lines.v[i], p, a->customer, true, err) < 0) return -1;
    }
    return 0;
}

static int validate(flow_ctx *c, order *o, create_args *a, bool *all_carryout, err_t *err)
{
    bool quote = !strcmp(a->type, "quote");
    if (o->lines.n == 0)
        return err_field(err, ERR_VALIDATION, "lines", "lines: an order needs at least one line");
    *all_carryout = true;
    for (size_t i = 0; i < o->lines.n; i++) {
        char p[64];
        args_index(p, sizeof p, "lines", i);
        if (flow_validate_line(c, &o->lines.v[i], p, err) < 0) return -1;
        if (o->lines.v[i].mode != MODE_CARRYOUT)
            *all_carryout = false;
        else if (quote) {
            char f[48];
            snprintf(f, sizeof f, "%s.delivery.mode", p);
            return err_field(err, ERR_VALIDATION, f,
                             "%s: a quote has no carry-out lines (nothing is handed over)", f);
        }
    }
    if (!a->customer && (quote || !*all_carryout))
        return err_field(err, ERR_VALIDATION, "customer",
                         "customer: required unless every line is carried out");
    if (a->quote_expires && !quote)
        return err_field(err, ERR_VALIDATION, "quote_expires", "quote_expires: only for quotes");
    if (a->quote_expires &&
        (!engine_valid_date(a->quote_expires) || strcmp(a->quote_expires, c->today) < 0))
        return err_field(err, ERR_VALIDATION, "quote_expires",
                         "quote_expires: '%s' is not a date from today (%s) on", a->quote_expires,
                         c->today);
    if (a->has_charge) {
        if (!c->params->manual_shipping_charge)
            return err_field(err, ERR_VALIDATION, "shipping_charge",
                             "shipping_charge: this store's policy does not allow typed charges");
        if (a->shipping_charge < 0 || a->shipping_charge > MONEY_MAX)
            return err_field(err, ERR_VALIDATION, "shipping_charge",
                             "shipping_charge: must be from 0 to %lld", (long long)MONEY_MAX);
    }
    if (a->override && quote)
        return err_field(err, ERR_VALIDATION, "deposit_override",
                         "deposit_override: a quote takes no deposit");
    return 0;
}

static int number_order(flow_ctx *c, order *o, err_t *err)
{
    if (c->preview) {
        snprintf(o->number, sizeof o->number, "%s-PREVIEW", c->s->store);
        return 0;
    }
    int64_t n;
    char counter[48];
    snprintf(counter, sizeof counter, "order:%s", c->s->store);
    if (master_next(c->e, counter, &n, err) < 0) return -1;
    snprintf(o->number, sizeof o->number, "%s-%06lld", c->s->store, (long long)n);
    return 0;
}

/* Carry-out lines are invoiced at once and paid in full (F1). */
static order_invoice *invoice_carryout(flow_ctx *c, order *o, err_t *err)
{
    order_invoice *inv = NULL;
    for (size_t i = 0; i < o->lines.n; i++) {
        order_line *l = &o->lines.v[i];
        if (l->mode != MODE_CARRYOUT) continue;
        if (!inv) {
            inv = vec_push(o->invoices);
            if (!inv) {
                err_set(err, ERR_INTERNAL, "out of memory");
                return NULL;
            }
            inv->id = o->next_invoice++;
            snprintf(inv->kind, sizeof inv->kind, "carryout");
            text_copy(inv->at, sizeof inv->at, c->now_iso);
        }
        order_inv_line *il = vec_push(inv->lines);
        if (!il) {
            err_set(err, ERR_INTERNAL, "out of memory");
            return NULL;
        }
        il->line = l->line;
        il->qty = l->qty;
        il->tax = l->tax;
        il->amount = order_gross(o, l->unit_price * l->qty, l->tax);
        l->qty_invoiced = l->qty;
        l->tax_invoiced = l->tax;
        inv->tax += l->tax;
        if (!money_add(inv->amount, il->amount, &inv->amount)) {
            err_set(err, ERR_VALIDATION, "the carry-out amount overflows (SPEC M4)");
            return NULL;
        }
    }
    if (inv) inv->paid = inv->amount;
    return inv;
}

static int payment_mismatch(err_t *err, int64_t due, int64_t max, int64_t paying)
{
    if (due == max)
        err_set(err, ERR_PAYMENT_MISMATCH, "payments of %lld do not match the %lld due",
                (long long)paying, (long long)due);
    else
        err_set(err, ERR_PAYMENT_MISMATCH,
                "payments of %lld must be at least the %lld due and at most the order total %lld",
                (long long)paying, (long long)due, (long long)max);
    err->due = due;
    err->has_due = 1;
    return -1;
}

/* The deposit (P1, P2) and the payments (F1). */
static int settle(flow_ctx *c, order *o, create_args *a, err_t *err)
{
    order_sums s;
    if (flow_sums(o, &s, err) < 0) return -1;
    if (!strcmp(o->type, "quote")) {
        if (a->paying > 0) return payment_mismatch(err, 0, 0, a->paying);
        return 0;
    }
    int64_t deposit = 0;
    if (decide_deposit(c, o, &deposit, err) < 0) return -1;
    int64_t carry = 0;
    order_invoice *inv = NULL;
    for (size_t i = 0; i < o->invoices.n; i++)
        inv = &o->invoices.v[i];
    if (inv) carry = inv->amount;
    if (deposit > s.order - carry)
        return err_set(err, ERR_POLICY_ERROR,
                       "policy %s: deposit %lld is more than the %lld still to be delivered",
                       policy_name(c->pol), (long long)deposit, (long long)(s.order - carry));
    if (flow_deposit_override(c, o, a->override, s.order, &deposit, err) < 0) return -1;
    o->deposit_required = deposit;
    int64_t due;
    if (!money_add(deposit, carry, &due) || due > s.order) due = s.order;
    c->due_now = due;
    if (c->preview) return 0;
    if (a->paying < due || a->paying > s.order)
        return payment_mismatch(err, due, s.order, a->paying);
    return flow_add_payments(c, o, c->args);
}

/* Everything create decides, in the error order: the order made, checked,
 * priced, its deposit and payments settled; nothing written. A preview's
 * number is "S001-PREVIEW"; a prepared sync create's is given at commit
 * (numbering writes, and a refused create must leave the counter as it was). */
/* Lines up to which a new order's document cannot reach
 * ORDER_MAX_DOC_BYTES before its payments are added (see create_decide). */
#define SIZE_CHECK_LINES 100

static int create_decide(flow_ctx *c, order *o, bool number_now, err_t *err)
{
    create_args a;
    bool all_carryout;
    if (parse(c, &a, err) < 0 || add_lines(c, o, &a, err) < 0 ||
        approval_check(c, a.approval, "deposit_override", err) < 0 || resolve(c, o, &a, err) < 0 ||
        validate(c, o, &a, &all_carryout, err) < 0 ||
        (a.contacts && flow_parse_contacts(c, o, a.contacts, err) < 0))
        return -1;
    /* An order too large to keep is refused before the policy is asked
     * anything about it (a hook on a huge order is the slowest thing a
     * create can do). Up to SIZE_CHECK_LINES lines it is not, unless its
     * master data is made of characters written escaped: a line takes
     * about 600 bytes of document, so the cost of measuring (writing the
     * whole document) is spared. flow_save measures the final document
     * in any case, so an order over the limit is always refused. */
    if (o->lines.n > SIZE_CHECK_LINES && flow_check_size(o, err) < 0) return -1;
    text_copy(o->store, sizeof o->store, c->s->store);
    text_copy(o->type, sizeof o->type, a.type);
    o->tax_included = c->params->prices_include_tax; /* T1: locked with the prices */
    text_copy(o->currency, sizeof o->currency, c->store.currency);
    text_copy(o->created_at, sizeof o->created_at, c->now_iso);
    text_copy(o->created_by, sizeof o->created_by, c->s->staff);
    if (!strcmp(a.type, "quote")) {
        if (a.quote_expires)
            text_copy(o->quote_expires, sizeof o->quote_expires, a.quote_expires);
        else
            engine_date_add(c->today, (int)c->params->quote_validity_days, o->quote_expires);
    }
    if ((number_now && number_order(c, o, err) < 0) ||
        flow_shipping_charges(c, o, a.shipping_charge, err) < 0 || flow_decide_taxes(c, o, err) < 0)
        return -1;
    if (strcmp(a.type, "quote") && !invoice_carryout(c, o, err) && err->code) return -1;
    /* The size before the payments, so that a validation ranks before them;
     * flow_save checks the final document again. */
    if ((o->lines.n > SIZE_CHECK_LINES && flow_check_size(o, err) < 0) || settle(c, o, &a, err) < 0)
        return -1;
    text_copy(o->policy_version, sizeof o->policy_version, policy_version(c->pol));
    return 0;
}

/* Writes a decided order: its number (if it has none yet), S1's outcome
 * for a store that creates in real time, the row, log entry and outbox
 * event; the sync columns are not in the document, so the outcome is also
 * written next to the row (sync_queue_created). */
static int create_commit(flow_ctx *c, order *o, const flow_hq_answer *hq, err_t *err)
{
    if (!*o->number && number_order(c, o, err) < 0) return -1;
    bool realtime = strcmp(c->store.order_creation, "async") != 0;
    if (realtime) {
        if (hq->code == ERR_NONE) {
            snprintf(o->sync_state, sizeof o->sync_state, "synchronized");
            text_copy(o->hq_order, sizeof o->hq_order, hq->hq_order);
        } else if (!strcmp(c->store.order_creation, "sync") || hq->code != ERR_HQ_UNAVAILABLE) {
            return err_set(err, hq->code, "%s", hq->message);
        } else {
            text_copy(o->sync_error, sizeof o->sync_error, hq->message);
        }
        o->sync_attempts = 1;
    }
    if (flow_save(c, o, true, "order.create", NULL, err) < 0) return -1;
    if (realtime && sync_queue_created(c->e, o->number, *o->hq_order ? o->hq_order : NULL,
                                       o->sync_error, err) < 0)
        return -1;
    return flow_result_order(c, o, err);
}

int flow_create(flow_ctx *c, json_t **result, err_t *err)
{
    order *o = order_new();
    if (!o) return err_set(err, ERR_INTERNAL, "out of memory");
    int rc = create_decide(c, o, true, err);
    /* A store that creates in real time asks HQ before the flow runs, in
     * two steps (flow_create_prepare and _commit, from the sync gate). A
     * create that comes another way (the Lua module, a server without
     * --hq) was never shown to HQ: sync mode refuses it, the fallback
     * queues it. */
    static const flow_hq_answer not_asked = {ERR_HQ_UNAVAILABLE,
                                             "headquarters was not asked for this order", ""};
    if (rc == 0 && c->preview) {
        rc = flow_check_size(o, err); /* what flow_save would refuse */
        if (rc == 0) rc = flow_result_due(c, o, c->due_now, err);
    } else if (rc == 0) {
        rc = create_commit(c, o, &not_asked, err);
    }
    order_free(o);
    return rc;
}

/* ---- S1 in two steps ---- */

struct flow_prepared {
    flow_ctx c;
    session s; /* the session as it was: the connection waits, but may close */
    order *o;
};

flow_prepared *flow_create_prepare(engine *e, const session *s, json_t *args, json_t **doc,
                                   err_t *err)
{
    flow_prepared *p = calloc(1, sizeof *p);
    if (!p || !(p->o = order_new())) {
        free(p);
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    p->s = *s;
    if (flow_begin(&p->c, e, &p->s, "order.create", args, err) < 0 ||
        create_decide(&p->c, p->o, false, err) < 0 ||
        flow_check_size(p->o, err) < 0 || /* too large for the store is too large for HQ */
        !(*doc = order_to_json(p->o, ORDER_DOC))) {
        if (err->code == ERR_NONE) err_set(err, ERR_INTERNAL, "out of memory");
        flow_prepared_free(p);
        return NULL;
    }
    return p;
}

int flow_create_commit(flow_prepared *p, const flow_hq_answer *hq, char **text, size_t *len,
                       err_t *err)
{
    int rc = create_commit(&p->c, p->o, hq, err);
    if (rc == 0) {
        *text = p->c.result_text;
        *len = p->c.result_len;
        p->c.result_text = NULL;
    }
    return rc;
}

void flow_prepared_free(flow_prepared *p)
{
    if (!p) return;
    flow_end(&p->c);
    order_free(p->o);
    free(p);
}

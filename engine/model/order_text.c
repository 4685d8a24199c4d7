/* order_text.c: the order written as JSON text, straight from its structs.
 *
 * This is the one serializer of an order: the stored document, the order
 * object of PROTOCOL.md and the order as policies see it are all written
 * here (order_write), and order_to_json parses the text when a jansson value
 * is needed. Writing text directly, rather than building a jansson tree and
 * dumping it, is what a request spends least on: a create writes the order
 * four or five times (two policy views, its size, the document, the answer).
 * Strings are written whole (they were copied in whole, text.h), derived
 * amounts saturate rather than overflow, so whatever order_from_json
 * accepted writes back as JSON it accepts again, to the same bytes
 * (tests/fuzz/fuzz_order.c). order_doc_largest measures the lists one by
 * one for the message of a document over ORDER_MAX_DOC_BYTES. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/jsonw.h"
#include "model/order.h"

static void key_str(jsonw *w, const char *k, const char *v)
{
    jw_key(w, k);
    jw_str(w, v);
}

/* Optional strings are left out when empty. */
static void key_opt(jsonw *w, const char *k, const char *v)
{
    if (v && *v) key_str(w, k, v);
}

static void key_int(jsonw *w, const char *k, long long v)
{
    jw_key(w, k);
    jw_int(w, v);
}

/* Tax amounts: always in the order object; in the stored document only
 * when there is any (most stores charge none), never the -1 of a tax not
 * yet decided. */
static void key_tax(jsonw *w, const char *k, long long v, bool pub)
{
    if (pub || v > 0) key_int(w, k, v > 0 ? v : 0);
}

/* Derived amounts, saturated rather than overflowing: the engine never
 * stores values whose products or sums overflow (M4), but a document read
 * from disk is written again whatever it holds (fuzz_order.c). */
static long long sat_mul(int64_t a, int64_t b)
{
    int64_t r;
    if (!__builtin_mul_overflow(a, b, &r)) return r;
    return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
}

static void write_delivery(jsonw *w, const order_line *l)
{
    jw_obj(w);
    key_str(w, "mode", order_mode_name(l->mode));
    if (l->mode == MODE_SHIP) {
        key_opt(w, "address", l->address);
        key_opt(w, "date", l->date);
        key_opt(w, "method", l->method);
    } else if (l->mode == MODE_PICKUP) {
        key_opt(w, "store", l->store);
        key_opt(w, "date", l->date);
    }
    jw_end_obj(w);
}

/* A quantity that is mostly 0 (invoiced, returned, cancelled): the stored
 * document leaves it out while 0, which the reader takes as 0 (order.c),
 * so that a common order's row fits three to a database page; the order
 * object always shows it. */
static void key_qty(jsonw *w, const char *k, int64_t v, bool pub)
{
    if (pub || v) key_int(w, k, v);
}

/* A list the stored document leaves out while empty (the reader takes a
 * missing list as empty); the order object always shows it. */
static bool list_key(jsonw *w, const char *k, size_t n, bool pub)
{
    if (!pub && n == 0) return false;
    jw_key(w, k);
    return true;
}

static void write_lines(jsonw *w, const order *o, bool pub)
{
    jw_arr(w);
    for (size_t i = 0; i < o->lines.n; i++) {
        const order_line *l = &o->lines.v[i];
        jw_obj(w);
        key_int(w, "line", l->line);
        key_str(w, "item", l->item);
        key_str(w, "name", l->name);
        key_int(w, "qty", l->qty);
        key_int(w, "unit_price", l->unit_price);
        jw_key(w, "delivery");
        write_delivery(w, l);
        key_qty(w, "qty_invoiced", l->qty_invoiced, pub);
        key_qty(w, "qty_returned", l->qty_returned, pub);
        key_qty(w, "qty_cancelled", l->qty_cancelled, pub);
        key_tax(w, "tax", l->tax, pub);
        if (!pub) {
            key_tax(w, "tax_invoiced", l->tax_invoiced, false);
            key_tax(w, "tax_returned", l->tax_returned, false);
        }
        if (pub) {
            key_int(w, "amount", sat_mul(l->unit_price, l->qty));
            key_str(w, "status", order_line_status(l));
        }
        jw_end_obj(w);
    }
    jw_end_arr(w);
}

static void write_doc_lines(jsonw *w, const order *o)
{
    write_lines(w, o, false);
}

static void write_charges(jsonw *w, const order *o, bool pub)
{
    jw_arr(w);
    for (size_t i = 0; i < o->charges.n; i++) {
        const order_charge *c = &o->charges.v[i];
        jw_obj(w);
        key_str(w, "code", c->code);
        key_str(w, "kind", c->kind);
        key_int(w, "amount", c->amount);
        key_tax(w, "tax", c->tax, pub);
        jw_key(w, "invoiced");
        jw_bool(w, c->invoice != 0);
        if (c->invoice) key_int(w, "invoice", c->invoice);
        if (c->waived) {
            jw_key(w, "waived");
            jw_bool(w, 1);
        }
        if (c->manual) {
            jw_key(w, "manual");
            jw_bool(w, 1);
        }
        if (*c->address) {
            jw_key(w, "shipment");
            jw_obj(w);
            key_str(w, "address", c->address);
            key_str(w, "date", c->date);
            jw_end_obj(w);
        }
        jw_end_obj(w);
    }
    jw_end_arr(w);
}

void order_write_invoice(jsonw *w, const order_invoice *inv, bool pub)
{
    {
        jw_obj(w);
        key_int(w, "id", inv->id);
        key_str(w, "kind", inv->kind);
        jw_key(w, "lines");
        jw_arr(w);
        for (size_t k = 0; k < inv->lines.n; k++) {
            const order_inv_line *il = &inv->lines.v[k];
            jw_obj(w);
            key_int(w, "line", il->line);
            key_int(w, "qty", il->qty);
            key_int(w, "amount", il->amount);
            key_qty(w, "qty_returned", il->qty_returned, pub);
            key_tax(w, "tax", il->tax, pub);
            jw_end_obj(w);
        }
        jw_end_arr(w);
        key_int(w, "charges", inv->charges);
        key_int(w, "amount", inv->amount);
        key_int(w, "deposit_applied", inv->deposit_applied);
        key_int(w, "paid", inv->paid);
        key_tax(w, "tax", inv->tax, pub);
        key_str(w, "at", inv->at);
        key_opt(w, "tracking", inv->tracking);
        if (*inv->collector) {
            jw_key(w, "collected_by");
            jw_obj(w);
            key_str(w, "name", inv->collector);
            jw_key(w, "id_checked");
            jw_bool(w, inv->id_checked);
            key_opt(w, "id_ref", inv->id_ref);
            jw_end_obj(w);
        }
        jw_end_obj(w);
    }
}

static void write_invoices(jsonw *w, const order *o, bool pub)
{
    jw_arr(w);
    for (size_t i = 0; i < o->invoices.n; i++)
        order_write_invoice(w, &o->invoices.v[i], pub);
    jw_end_arr(w);
}

static void write_returns(jsonw *w, const order *o, bool pub)
{
    jw_arr(w);
    for (size_t i = 0; i < o->returns.n; i++) {
        const order_return *r = &o->returns.v[i];
        jw_obj(w);
        key_int(w, "id", r->id);
        key_int(w, "invoice", r->invoice);
        jw_key(w, "lines");
        jw_arr(w);
        for (size_t k = 0; k < r->lines.n; k++) {
            const order_ret_line *rl = &r->lines.v[k];
            jw_obj(w);
            key_int(w, "line", rl->line);
            key_int(w, "qty", rl->qty);
            key_int(w, "amount", rl->amount);
            key_tax(w, "tax", rl->tax, pub);
            key_str(w, "reason", rl->reason);
            jw_end_obj(w);
        }
        jw_end_arr(w);
        key_int(w, "product_refund", r->product_refund);
        key_int(w, "shipping_refund", r->shipping_refund);
        key_tax(w, "tax_refund", r->tax_refund, pub);
        key_int(w, "refund", order_return_refund(o, r));
        key_str(w, "at", r->at);
        key_opt(w, "approved_by", r->approved_by);
        jw_end_obj(w);
    }
    jw_end_arr(w);
}

static void write_payments(jsonw *w, const order *o)
{
    jw_arr(w);
    for (size_t i = 0; i < o->payments.n; i++) {
        const order_payment *p = &o->payments.v[i];
        jw_obj(w);
        key_str(w, "tender", p->tender);
        key_int(w, "amount", p->amount);
        key_str(w, "op", p->op);
        key_str(w, "at", p->at);
        key_opt(w, "ref", p->ref);
        jw_end_obj(w);
    }
    jw_end_arr(w);
}

static void write_refunds(jsonw *w, const order *o)
{
    jw_arr(w);
    for (size_t i = 0; i < o->refunds.n; i++) {
        const order_refund *r = &o->refunds.v[i];
        jw_obj(w);
        key_str(w, "kind", r->kind);
        key_str(w, "tender", r->tender);
        key_int(w, "amount", r->amount);
        key_str(w, "at", r->at);
        key_opt(w, "ref", r->ref);
        jw_end_obj(w);
    }
    jw_end_arr(w);
}

/* F9, F10. The stored document leaves them out while empty (most orders);
 * the order object always shows both. */
static void write_contacts_hold(jsonw *w, const order *o, bool pub)
{
    if (pub || o->contacts.n) {
        jw_key(w, "pickup_contacts");
        jw_arr(w);
        for (size_t i = 0; i < o->contacts.n; i++) {
            jw_obj(w);
            key_str(w, "name", o->contacts.v[i].name);
            key_opt(w, "phone", o->contacts.v[i].phone);
            jw_end_obj(w);
        }
        jw_end_arr(w);
    }
    if (!*o->hold.code) {
        if (pub) {
            jw_key(w, "hold");
            jw_null(w);
        }
        return;
    }
    jw_key(w, "hold");
    jw_obj(w);
    key_str(w, "code", o->hold.code);
    key_opt(w, "note", o->hold.note);
    key_str(w, "by", o->hold.by);
    key_str(w, "at", o->hold.at);
    jw_end_obj(w);
}

static void write_customer(jsonw *w, const order *o, order_view view)
{
    jw_key(w, "customer");
    if (!*o->customer) {
        jw_null(w);
    } else if (view == ORDER_WIRE) {
        jw_str(w, o->customer);
    } else {
        jw_obj(w);
        key_str(w, "account", o->customer);
        key_str(w, "name", o->customer_name);
        jw_key(w, "b2b");
        jw_bool(w, o->b2b);
        jw_end_obj(w);
    }
}

/* What is derived: statuses, totals, money on account, the balance. */
static void write_derived(jsonw *w, const order *o, const order_sums *sums)
{
    key_str(w, "status", order_status(o));
    if (sums) {
        const order_sums s = *sums;
        jw_key(w, "totals");
        jw_obj(w);
        key_int(w, "lines", s.lines);
        key_int(w, "charges", s.charges);
        key_int(w, "tax", s.tax);
        key_int(w, "returned", s.returned);
        key_int(w, "order", s.order);
        key_int(w, "open", s.open_value);
        jw_end_obj(w);
        key_int(w, "paid", s.paid);
        key_int(w, "refunded", s.refunded);
        key_int(w, "on_account", s.on_account);
        key_int(w, "balance", s.balance);
    }
    jw_key(w, "sync");
    jw_obj(w);
    key_str(w, "state", o->sync_state);
    key_int(w, "attempts", o->sync_attempts);
    key_opt(w, "hq_order", o->hq_order);
    key_opt(w, "error", o->sync_error);
    jw_end_obj(w);
}

void order_write(jsonw *w, const order *o, order_view view)
{
    bool pub = view != ORDER_DOC;
    /* The sums once: the deposit base and the totals both come from them. */
    order_sums sums;
    bool summed = pub && order_sum(o, &sums);
    jw_obj(w);
    key_str(w, "number", o->number);
    key_str(w, "store", o->store);
    key_str(w, "type", o->type);
    key_int(w, "version", o->version);
    key_str(w, "currency", o->currency);
    key_str(w, "created_at", o->created_at);
    key_str(w, "policy_version", o->policy_version);
    key_opt(w, "created_by", o->created_by);
    key_opt(w, "quote_expires", o->quote_expires);
    if (pub) {
        jw_key(w, "prices_include_tax");
        jw_bool(w, o->tax_included);
    }
    write_customer(w, o, view);
    jw_key(w, "deposit");
    jw_obj(w);
    key_int(w, "required", o->deposit_required);
    jw_key(w, "overridden");
    jw_bool(w, o->deposit_overridden);
    key_opt(w, "override_by", o->override_by);
    if (summed) key_int(w, "base", sums.deposit_base);
    jw_end_obj(w);
    jw_key(w, "lines");
    write_lines(w, o, pub);
    if (list_key(w, "charges", o->charges.n, pub)) write_charges(w, o, pub);
    if (list_key(w, "invoices", o->invoices.n, pub)) write_invoices(w, o, pub);
    if (list_key(w, "returns", o->returns.n, pub)) write_returns(w, o, pub);
    if (list_key(w, "payments", o->payments.n, pub)) write_payments(w, o);
    if (list_key(w, "refunds", o->refunds.n, pub)) write_refunds(w, o);
    write_contacts_hold(w, o, pub);
    /* C5: the order object always names its owner; the document only
     * once a claim has moved it away from the store that made it. */
    if (pub || (*o->owner && strcmp(o->owner, o->store))) {
        jw_key(w, "owner");
        jw_str(w, *o->owner ? o->owner : o->store);
    }
    if (pub) {
        write_derived(w, o, summed ? &sums : NULL);
    } else {
        if (o->cancelled) {
            jw_key(w, "cancelled");
            jw_bool(w, true);
        }
        if (o->tax_included) {
            jw_key(w, "tax_included");
            jw_bool(w, true);
        }
        jw_key(w, "next");
        jw_arr(w);
        jw_int(w, o->next_line);
        jw_int(w, o->next_invoice);
        jw_int(w, o->next_return);
        jw_end_arr(w);
    }
    jw_end_obj(w);
}

/* Each list written alone, as order_write writes it into the document. */
static void doc_charges(jsonw *w, const order *o)
{
    write_charges(w, o, false);
}

static void doc_invoices(jsonw *w, const order *o)
{
    write_invoices(w, o, false);
}

static void doc_returns(jsonw *w, const order *o)
{
    write_returns(w, o, false);
}

const char *order_doc_largest(const order *o, size_t *bytes)
{
    static const struct {
        const char *name;
        void (*write)(jsonw *, const order *);
    } lists[] = {{"lines", write_doc_lines},   {"charges", doc_charges},
                 {"invoices", doc_invoices},   {"returns", doc_returns},
                 {"payments", write_payments}, {"refunds", write_refunds}};
    const char *best = "lines";
    *bytes = 0;
    for (size_t k = 0; k < sizeof lists / sizeof *lists; k++) {
        jsonw w = {0};
        size_t n = 0;
        lists[k].write(&w, o);
        free(jw_finish(&w, &n));
        if (n > *bytes) {
            *bytes = n;
            best = lists[k].name;
        }
    }
    return best;
}

char *order_text(const order *o, order_view view, size_t *len)
{
    jsonw w = {0};
    order_write(&w, o, view);
    return jw_finish(&w, len);
}

json_t *order_to_json(const order *o, order_view view)
{
    size_t len;
    char *text = order_text(o, view, &len);
    if (!text) return NULL;
    json_t *j = json_loadb(text, len, 0, NULL);
    free(text);
    return j;
}

/* order.c: the order document: derived values, and JSON both ways.
 *
 * order_from_json reads what order_text wrote. Text is copied into the
 * fixed fields without cutting a character (text_copy); a document whose
 * quantities are outside what the engine writes (0..ORDER_MAX_QTY) is
 * refused, since what is derived from them (open quantities, statuses)
 * would overflow. Amounts are read as they are: sums are checked where
 * they are made (order_sum, M4) and saturated where they are only written
 * (order_text.c). tests/fuzz/fuzz_order.c holds this to account. */
#include "model/order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/money.h"
#include "model/text.h"

bool order_vec_grow(void **v, size_t *cap, size_t want, size_t size)
{
    if (want <= *cap) return true;
    size_t ncap = *cap ? *cap * 2 : 4;
    while (ncap < want)
        ncap *= 2;
    void *nv = realloc(*v, ncap * size);
    if (!nv) return false;
    memset((char *)nv + *cap * size, 0, (ncap - *cap) * size);
    *v = nv;
    *cap = ncap;
    return true;
}

order *order_new(void)
{
    order *o = calloc(1, sizeof *o);
    if (o) {
        o->next_line = o->next_invoice = o->next_return = 1;
        snprintf(o->sync_state, sizeof o->sync_state, "pending");
    }
    return o;
}

void order_free(order *o)
{
    if (!o) return;
    for (size_t i = 0; i < o->invoices.n; i++)
        free(o->invoices.v[i].lines.v);
    for (size_t i = 0; i < o->returns.n; i++)
        free(o->returns.v[i].lines.v);
    free(o->lines.v);
    free(o->charges.v);
    free(o->invoices.v);
    free(o->returns.v);
    free(o->payments.v);
    free(o->refunds.v);
    free(o->contacts.v);
    free(o);
}

int64_t order_line_open(const order_line *l)
{
    return l->qty - l->qty_invoiced - l->qty_cancelled;
}

int64_t order_line_tax_for(const order_line *l, int64_t q)
{
    if (l->tax <= 0 || l->qty <= 0) return 0;
    if (q >= l->qty) return l->tax;
    int64_t t = 0;
    money_muldiv(l->tax, q, l->qty, &t); /* tax ≤ 10^15, q ≤ 10^6: no overflow */
    return t;
}

int64_t order_line_kept_tax(const order_line *l)
{
    /* Invoices took their shares rounded each (T3), so once all that is
     * kept is invoiced, its tax is exactly what they took: a cancellation
     * after them must not round the line's tax again (two invoices of a
     * third each took 7340 + 7340 of 22019; two thirds is 14679). */
    int64_t kept = l->qty - l->qty_cancelled;
    if (l->qty_invoiced >= kept) return l->tax_invoiced;
    int64_t t = order_line_tax_for(l, kept);
    return t > l->tax_invoiced ? t : l->tax_invoiced;
}

int64_t order_line_open_tax(const order_line *l)
{
    /* What is not cancelled, less what invoices already took: the last
     * invoice of a line takes exactly the rest, so the parts add up. */
    return order_line_kept_tax(l) - l->tax_invoiced;
}

int64_t order_gross(const order *o, int64_t amount, int64_t tax)
{
    int64_t g = amount;
    if (!o->tax_included && tax > 0 && !money_add(amount, tax, &g)) g = INT64_MAX;
    return g;
}

int64_t order_return_refund(const order *o, const order_return *r)
{
    int64_t x = r->product_refund, out;
    if (!money_add(x, r->shipping_refund, &x)) return INT64_MAX;
    out = order_gross(o, x, r->tax_refund);
    return out;
}

const char *order_line_status(const order_line *l)
{
    if (l->qty_cancelled >= l->qty) return "cancelled";
    if (order_line_open(l) == 0) return "invoiced";
    if (l->qty_invoiced > 0) return "partially_invoiced";
    return "open";
}

const char *order_mode_name(order_mode m)
{
    return m == MODE_SHIP ? "ship" : m == MODE_PICKUP ? "pickup" : "carryout";
}

/* SPEC O3: the status follows the ship and pickup lines; carry-out lines
 * invoiced at creation leave an order open. */
const char *order_status(const order *o)
{
    if (!strcmp(o->type, "quote")) return o->cancelled ? "cancelled" : "quote";
    if (o->cancelled) return "cancelled";
    bool any_deferred = false, any_invoiced = false, all_done = true;
    for (size_t i = 0; i < o->lines.n; i++) {
        const order_line *l = &o->lines.v[i];
        if (l->mode == MODE_CARRYOUT) continue;
        if (l->qty_cancelled >= l->qty) continue;
        any_deferred = true;
        if (l->qty_invoiced > 0) any_invoiced = true;
        if (order_line_open(l) > 0) all_done = false;
    }
    if (!any_deferred) return "invoiced"; /* cash-and-carry */
    if (all_done) return "invoiced";
    return any_invoiced ? "partially_invoiced" : "open";
}

#define ADD(acc, x)                                                                                \
    do {                                                                                           \
        if (!money_add((acc), (x), &(acc))) return false;                                          \
    } while (0)

bool order_sum(const order *o, order_sums *s)
{
    memset(s, 0, sizeof *s);
    /* T2: the order's tax is its lines' (not cancelled) and charges' tax
     * less what returns gave back; it is added to what the customer owes
     * only when prices exclude it. */
    int64_t tax = 0;
    for (size_t i = 0; i < o->lines.n; i++) {
        const order_line *l = &o->lines.v[i];
        int64_t v, open;
        if (!money_mul(l->unit_price, l->qty - l->qty_cancelled, &v)) return false;
        ADD(s->lines, v);
        ADD(tax, order_line_kept_tax(l));
        if (l->mode != MODE_CARRYOUT) {
            if (!money_mul(l->unit_price, order_line_open(l), &open)) return false;
            ADD(s->open_value, open);
            ADD(s->open_tax, order_line_open_tax(l));
        }
    }
    int64_t uninvoiced_charges = 0;
    for (size_t i = 0; i < o->charges.n; i++) {
        const order_charge *c = &o->charges.v[i];
        if (c->waived) continue;
        ADD(s->charges, c->amount);
        if (c->tax > 0) ADD(tax, c->tax);
        if (!c->invoice) ADD(uninvoiced_charges, order_gross(o, c->amount, c->tax));
    }
    int64_t return_refunds = 0;
    for (size_t i = 0; i < o->returns.n; i++) {
        ADD(s->returned, order_return_refund(o, &o->returns.v[i]));
        if (!money_sub(tax, o->returns.v[i].tax_refund, &tax)) return false;
    }
    s->tax = tax;
    return_refunds = s->returned;
    for (size_t i = 0; i < o->payments.n; i++)
        ADD(s->paid, o->payments.v[i].amount);
    for (size_t i = 0; i < o->refunds.n; i++)
        ADD(s->refunded, o->refunds.v[i].amount);
    for (size_t i = 0; i < o->invoices.n; i++)
        ADD(s->invoiced, o->invoices.v[i].amount);
    s->deposit_base = order_gross(o, s->open_value, s->open_tax);
    ADD(s->deposit_base, uninvoiced_charges);
    s->order = s->lines;
    ADD(s->order, s->charges);
    if (!o->tax_included) { /* the tax of everything sold, returns' tax given back below */
        int64_t sold_tax = tax;
        for (size_t i = 0; i < o->returns.n; i++)
            ADD(sold_tax, o->returns.v[i].tax_refund);
        ADD(s->order, sold_tax);
    }
    if (!money_sub(s->order, s->returned, &s->order)) return false;
    /* O5: received, minus what went to invoices, minus what went back other
     * than as return refunds (those pay back goods already invoiced). */
    int64_t out = s->refunded;
    if (!money_sub(out, return_refunds, &out)) return false;
    s->on_account = s->paid;
    if (!money_sub(s->on_account, out, &s->on_account)) return false;
    if (!money_sub(s->on_account, s->invoiced, &s->on_account)) return false;
    int64_t net = s->paid;
    if (!money_sub(net, s->refunded, &net)) return false;
    if (!money_sub(s->order, net, &s->balance)) return false;
    return true;
}

order_line *order_find_line(order *o, int line)
{
    for (size_t i = 0; i < o->lines.n; i++)
        if (o->lines.v[i].line == line) return &o->lines.v[i];
    return NULL;
}

order_invoice *order_find_invoice(order *o, int id)
{
    for (size_t i = 0; i < o->invoices.n; i++)
        if (o->invoices.v[i].id == id) return &o->invoices.v[i];
    return NULL;
}

/* ---- from JSON (a stored document, written by order_to_json) ---- */

static void get_str(json_t *obj, const char *k, char *dst, size_t n)
{
    const char *v = json_string_value(json_object_get(obj, k));
    text_copy(dst, n, v ? v : "");
}

static int64_t get_int(json_t *obj, const char *k)
{
    return json_integer_value(json_object_get(obj, k));
}

/* A quantity the engine could have written (0..ORDER_MAX_QTY): anything else
 * would overflow what is derived from it (open quantities, statuses). */
static bool qty_ok(int64_t q)
{
    return q >= 0 && q <= ORDER_MAX_QTY;
}

/* A tax the engine could have written: 0..MONEY_MAX. Anything else would
 * overflow the sums derived from it. */
static bool amount_ok(int64_t a)
{
    return a >= 0 && a <= MONEY_MAX;
}

static bool read_lines(order *o, json_t *arr, bool *bad)
{
    size_t i;
    json_t *j;
    json_array_foreach(arr, i, j)
    {
        order_line *l = vec_push(o->lines);
        if (!l) return false;
        l->line = (int)get_int(j, "line");
        get_str(j, "item", l->item, sizeof l->item);
        get_str(j, "name", l->name, sizeof l->name);
        l->qty = get_int(j, "qty");
        l->unit_price = get_int(j, "unit_price");
        l->qty_invoiced = get_int(j, "qty_invoiced");
        l->qty_returned = get_int(j, "qty_returned");
        l->qty_cancelled = get_int(j, "qty_cancelled");
        json_t *d = json_object_get(j, "delivery");
        const char *mode = json_string_value(json_object_get(d, "mode"));
        l->mode = !mode                     ? MODE_CARRYOUT
                  : !strcmp(mode, "ship")   ? MODE_SHIP
                  : !strcmp(mode, "pickup") ? MODE_PICKUP
                                            : MODE_CARRYOUT;
        get_str(d, "address", l->address, sizeof l->address);
        get_str(d, "date", l->date, sizeof l->date);
        get_str(d, "method", l->method, sizeof l->method);
        get_str(d, "store", l->store, sizeof l->store);
        l->tax = get_int(j, "tax");
        l->tax_invoiced = get_int(j, "tax_invoiced");
        l->tax_returned = get_int(j, "tax_returned");
        if (!amount_ok(l->tax) || !amount_ok(l->tax_invoiced) || !amount_ok(l->tax_returned))
            *bad = true;
        if (!qty_ok(l->qty) || !qty_ok(l->qty_invoiced) || !qty_ok(l->qty_returned) ||
            !qty_ok(l->qty_cancelled))
            *bad = true;
    }
    return true;
}

static bool read_charges(order *o, json_t *arr)
{
    size_t i;
    json_t *j;
    json_array_foreach(arr, i, j)
    {
        order_charge *c = vec_push(o->charges);
        if (!c) return false;
        get_str(j, "code", c->code, sizeof c->code);
        get_str(j, "kind", c->kind, sizeof c->kind);
        c->amount = get_int(j, "amount");
        c->invoice = (int)get_int(j, "invoice");
        c->waived = json_is_true(json_object_get(j, "waived"));
        c->manual = json_is_true(json_object_get(j, "manual"));
        c->tax = get_int(j, "tax");
        json_t *sh = json_object_get(j, "shipment");
        get_str(sh, "address", c->address, sizeof c->address);
        get_str(sh, "date", c->date, sizeof c->date);
    }
    return true;
}

static bool read_invoices(order *o, json_t *arr, bool *bad)
{
    size_t i, k;
    json_t *j, *lj;
    json_array_foreach(arr, i, j)
    {
        order_invoice *inv = vec_push(o->invoices);
        if (!inv) return false;
        inv->id = (int)get_int(j, "id");
        get_str(j, "kind", inv->kind, sizeof inv->kind);
        inv->charges = get_int(j, "charges");
        inv->amount = get_int(j, "amount");
        inv->deposit_applied = get_int(j, "deposit_applied");
        inv->paid = get_int(j, "paid");
        inv->tax = get_int(j, "tax");
        get_str(j, "at", inv->at, sizeof inv->at);
        get_str(j, "tracking", inv->tracking, sizeof inv->tracking);
        json_t *cb = json_object_get(j, "collected_by");
        get_str(cb, "name", inv->collector, sizeof inv->collector);
        inv->id_checked = json_is_true(json_object_get(cb, "id_checked"));
        get_str(cb, "id_ref", inv->id_ref, sizeof inv->id_ref);
        json_array_foreach(json_object_get(j, "lines"), k, lj)
        {
            order_inv_line *il = vec_push(inv->lines);
            if (!il) return false;
            il->line = (int)get_int(lj, "line");
            il->qty = get_int(lj, "qty");
            il->amount = get_int(lj, "amount");
            il->qty_returned = get_int(lj, "qty_returned");
            il->tax = get_int(lj, "tax");
            if (!qty_ok(il->qty) || !qty_ok(il->qty_returned)) *bad = true;
        }
    }
    return true;
}

static bool read_returns(order *o, json_t *arr, bool *bad)
{
    size_t i, k;
    json_t *j, *lj;
    json_array_foreach(arr, i, j)
    {
        order_return *r = vec_push(o->returns);
        if (!r) return false;
        r->id = (int)get_int(j, "id");
        r->invoice = (int)get_int(j, "invoice");
        r->product_refund = get_int(j, "product_refund");
        r->shipping_refund = get_int(j, "shipping_refund");
        r->tax_refund = get_int(j, "tax_refund");
        get_str(j, "at", r->at, sizeof r->at);
        get_str(j, "approved_by", r->approved_by, sizeof r->approved_by);
        json_array_foreach(json_object_get(j, "lines"), k, lj)
        {
            order_ret_line *rl = vec_push(r->lines);
            if (!rl) return false;
            rl->line = (int)get_int(lj, "line");
            rl->qty = get_int(lj, "qty");
            rl->amount = get_int(lj, "amount");
            rl->tax = get_int(lj, "tax");
            get_str(lj, "reason", rl->reason, sizeof rl->reason);
            if (!qty_ok(rl->qty)) *bad = true;
        }
    }
    return true;
}

static bool read_money_lists(order *o, json_t *doc)
{
    size_t i;
    json_t *j;
    json_array_foreach(json_object_get(doc, "payments"), i, j)
    {
        order_payment *p = vec_push(o->payments);
        if (!p) return false;
        get_str(j, "tender", p->tender, sizeof p->tender);
        p->amount = get_int(j, "amount");
        get_str(j, "ref", p->ref, sizeof p->ref);
        get_str(j, "op", p->op, sizeof p->op);
        get_str(j, "at", p->at, sizeof p->at);
    }
    json_array_foreach(json_object_get(doc, "refunds"), i, j)
    {
        order_refund *r = vec_push(o->refunds);
        if (!r) return false;
        get_str(j, "kind", r->kind, sizeof r->kind);
        get_str(j, "tender", r->tender, sizeof r->tender);
        r->amount = get_int(j, "amount");
        get_str(j, "ref", r->ref, sizeof r->ref);
        get_str(j, "at", r->at, sizeof r->at);
    }
    json_array_foreach(json_object_get(doc, "pickup_contacts"), i, j)
    {
        order_contact *c = vec_push(o->contacts);
        if (!c) return false;
        get_str(j, "name", c->name, sizeof c->name);
        get_str(j, "phone", c->phone, sizeof c->phone);
    }
    json_t *h = json_object_get(doc, "hold");
    get_str(h, "code", o->hold.code, sizeof o->hold.code);
    get_str(h, "note", o->hold.note, sizeof o->hold.note);
    get_str(h, "by", o->hold.by, sizeof o->hold.by);
    get_str(h, "at", o->hold.at, sizeof o->hold.at);
    get_str(doc, "owner", o->owner, sizeof o->owner);
    return true;
}

order *order_from_json(json_t *doc, err_t *err)
{
    order *o = order_new();
    if (!o || !json_is_object(doc)) {
        order_free(o);
        err_set(err, ERR_INTERNAL, "order document is not an object");
        return NULL;
    }
    get_str(doc, "number", o->number, sizeof o->number);
    get_str(doc, "store", o->store, sizeof o->store);
    get_str(doc, "type", o->type, sizeof o->type);
    get_str(doc, "currency", o->currency, sizeof o->currency);
    get_str(doc, "created_at", o->created_at, sizeof o->created_at);
    get_str(doc, "created_by", o->created_by, sizeof o->created_by);
    get_str(doc, "quote_expires", o->quote_expires, sizeof o->quote_expires);
    get_str(doc, "policy_version", o->policy_version, sizeof o->policy_version);
    o->version = get_int(doc, "version");
    o->cancelled = json_is_true(json_object_get(doc, "cancelled"));
    o->tax_included = json_is_true(json_object_get(doc, "tax_included"));
    json_t *c = json_object_get(doc, "customer");
    if (json_is_object(c)) {
        get_str(c, "account", o->customer, sizeof o->customer);
        get_str(c, "name", o->customer_name, sizeof o->customer_name);
        o->b2b = json_is_true(json_object_get(c, "b2b"));
    }
    json_t *dep = json_object_get(doc, "deposit");
    o->deposit_required = get_int(dep, "required");
    o->deposit_overridden = json_is_true(json_object_get(dep, "overridden"));
    get_str(dep, "override_by", o->override_by, sizeof o->override_by);
    json_t *next = json_object_get(doc, "next");
    o->next_line = (int)json_integer_value(json_array_get(next, 0));
    o->next_invoice = (int)json_integer_value(json_array_get(next, 1));
    o->next_return = (int)json_integer_value(json_array_get(next, 2));
    bool bad = false;
    if (!read_lines(o, json_object_get(doc, "lines"), &bad) ||
        !read_charges(o, json_object_get(doc, "charges")) ||
        !read_invoices(o, json_object_get(doc, "invoices"), &bad) ||
        !read_returns(o, json_object_get(doc, "returns"), &bad) || !read_money_lists(o, doc)) {
        order_free(o);
        err_set(err, ERR_INTERNAL, "out of memory reading an order");
        return NULL;
    }
    if (bad) {
        err_set(err, ERR_INTERNAL, "order %s: a quantity outside 0..%d in its document", o->number,
                ORDER_MAX_QTY);
        order_free(o);
        return NULL;
    }
    return o;
}

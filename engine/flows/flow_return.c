/* flow_return.c: F7 return. Goods come back from one invoice, line by line,
 * each with a reason, never more than that invoice gave minus what already
 * came back from it. The refund is the goods' price plus a shipping refund:
 * the policy proposes it (default: the shipment's charge in proportion to
 * the value returned, when refund_shipping_charges is on), the clerk may
 * type another, and past P6's limit, summed over the order's returns, it
 * needs the shipping_refund_over_limit permission or an approval. */
#include "flows/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/args.h"
#include "model/money.h"
#include "model/text.h"

typedef struct {
    const char *number;
    int64_t invoice, shipping_refund;
    bool has_refund;
    json_t *lines, *approval;
} return_args;

static int parse(flow_ctx *c, return_args *a, err_t *err)
{
    const char *s;
    int has;
    memset(a, 0, sizeof *a);
    if (args_str(c->args, "", "number", true, 47, &a->number, err) < 0 ||
        args_int(c->args, "", "invoice", true, INT64_MIN, INT64_MAX, &a->invoice, err) < 0 ||
        args_arr(c->args, "", "lines", true, FLOW_MAX_LINES, &a->lines, err) < 0 ||
        (has = args_int(c->args, "", "shipping_refund", false, INT64_MIN, INT64_MAX,
                        &a->shipping_refund, err)) < 0 ||
        args_obj(c->args, "", "approval", false, &a->approval, err) < 0 ||
        args_str(c->args, "", "idempotency_key", false, 128, &s, err) < 0 ||
        flow_parse_refunds(c->args, err) < 0)
        return -1;
    a->has_refund = has == 1;
    size_t i;
    json_t *j;
    json_array_foreach(a->lines, i, j)
    {
        char p[64];
        int64_t v;
        args_index(p, sizeof p, "lines", i);
        if (!json_is_object(j))
            return err_field(err, ERR_BAD_REQUEST, p, "%s: expected an object", p);
        if (args_int(j, p, "line", true, INT64_MIN, INT64_MAX, &v, err) < 0 ||
            args_int(j, p, "qty", true, INT64_MIN, INT64_MAX, &v, err) < 0 ||
            args_str(j, p, "reason", true, 127, &s, err) < 0)
            return -1;
    }
    return 0;
}

static order_inv_line *invoice_line(order_invoice *inv, int line)
{
    for (size_t i = 0; i < inv->lines.n; i++)
        if (inv->lines.v[i].line == line) return &inv->lines.v[i];
    return NULL;
}

/* F7's default share: for each shipment the returned lines came from, its
 * charged shipping charge × value returned ÷ value the shipment invoiced. */
static int64_t proportional(order *o, order_return *r, int64_t *charged)
{
    int64_t total = 0;
    *charged = 0;
    for (size_t i = 0; i < o->charges.n; i++) {
        order_charge *ch = &o->charges.v[i];
        if (strcmp(ch->kind, "shipping") || !ch->invoice || ch->waived) continue;
        int64_t returned = 0, shipped = 0;
        for (size_t k = 0; k < o->lines.n; k++) {
            order_line *l = &o->lines.v[k];
            if (l->mode != MODE_SHIP || strcmp(l->address, ch->address) ||
                strcmp(l->date, ch->date))
                continue;
            shipped += l->unit_price * l->qty_invoiced;
            for (size_t m = 0; m < r->lines.n; m++)
                if (r->lines.v[m].line == l->line) returned += r->lines.v[m].amount;
        }
        if (returned == 0 || shipped == 0) continue;
        int64_t share;
        /* what the customer paid for the shipment: its tax with it (T2) */
        int64_t gross = order_gross(o, ch->amount, ch->tax);
        if (money_muldiv(gross, returned, shipped, &share)) total += share;
        *charged += gross;
    }
    return total;
}

static json_t *ret_view(order_return *r, int64_t so_far, int64_t charged, int64_t prop)
{
    json_t *lines = json_array();
    for (size_t i = 0; i < r->lines.n; i++)
        json_array_append_new(lines, json_pack("{s:i, s:I, s:I, s:s}", "line", r->lines.v[i].line,
                                               "qty", (json_int_t)r->lines.v[i].qty, "amount",
                                               (json_int_t)r->lines.v[i].amount, "reason",
                                               r->lines.v[i].reason));
    return json_pack("{s:i, s:o, s:I, s:I, s:I, s:I}", "invoice", r->invoice, "lines", lines,
                     "value", (json_int_t)r->product_refund, "shipping_refunded_so_far",
                     (json_int_t)so_far, "shipping_charged", (json_int_t)charged, "proportional",
                     (json_int_t)prop);
}

/* Fills r from the request: not_found first, then the rules. */
static int build(flow_ctx *c, order *o, return_args *a, order_return *r, order_invoice *inv,
                 err_t *err)
{
    size_t i;
    json_t *j;
    json_array_foreach(a->lines, i, j)
    {
        int64_t n = json_integer_value(json_object_get(j, "line"));
        if (n < 1 || n > INT32_MAX || !invoice_line(inv, (int)n)) {
            char p[64];
            snprintf(p, sizeof p, "lines[%zu].line", i);
            return err_field(err, ERR_NOT_FOUND, p, "%s: invoice %d has no line %lld", p, inv->id,
                             (long long)n);
        }
    }
    if (json_array_size(a->lines) == 0)
        return err_field(err, ERR_VALIDATION, "lines", "lines: return at least one line");
    json_array_foreach(a->lines, i, j)
    {
        char p[64];
        order_inv_line *il = invoice_line(inv, (int)json_integer_value(json_object_get(j, "line")));
        int64_t qty = json_integer_value(json_object_get(j, "qty"));
        const char *reason = json_string_value(json_object_get(j, "reason"));
        for (size_t k = 0; k < r->lines.n; k++)
            if (r->lines.v[k].line == il->line) {
                snprintf(p, sizeof p, "lines[%zu].line", i);
                return err_field(err, ERR_VALIDATION, p, "%s: line %d is listed twice", p,
                                 il->line);
            }
        snprintf(p, sizeof p, "lines[%zu].qty", i);
        if (qty < 1 || qty > il->qty - il->qty_returned)
            return err_field(err, ERR_VALIDATION, p,
                             "%s: %lld is not between 1 and the %lld of line %d that invoice %d "
                             "gave and that has not come back yet",
                             p, (long long)qty, (long long)(il->qty - il->qty_returned), il->line,
                             inv->id);
        snprintf(p, sizeof p, "lines[%zu].reason", i);
        if (!*reason) return err_field(err, ERR_VALIDATION, p, "%s: give a reason", p);
        if (flow_reason_check(c, "return", reason, p, err) < 0) return -1;
        order_ret_line *rl = vec_push(r->lines);
        if (!rl) return err_set(err, ERR_INTERNAL, "out of memory");
        order_line *l = order_find_line(o, il->line);
        rl->line = il->line;
        rl->qty = qty;
        rl->amount = l->unit_price * qty;
        /* T3: the returned quantity's share of what the line's invoices
         * took in tax, never more than is left of it over all returns */
        int64_t left = l->tax_invoiced - l->tax_returned;
        rl->tax = left;
        if (l->qty_returned + qty < l->qty_invoiced)
            money_muldiv(l->tax_invoiced, qty, l->qty_invoiced, &rl->tax);
        if (rl->tax > left) rl->tax = left;
        if (rl->tax < 0) rl->tax = 0;
        r->tax_refund += rl->tax;
        text_copy(rl->reason, sizeof rl->reason, reason);
        r->product_refund += rl->amount;
    }
    if (a->has_refund && (a->shipping_refund < 0 || a->shipping_refund > MONEY_MAX))
        return err_field(err, ERR_VALIDATION, "shipping_refund",
                         "shipping_refund: must be from 0 to %lld", (long long)MONEY_MAX);
    return 0;
}

int flow_return(flow_ctx *c, json_t **result, err_t *err)
{
    return_args a;
    if (parse(c, &a, err) < 0 ||
        approval_check(c, a.approval, "shipping_refund_over_limit", err) < 0 ||
        other_store_check(c, a.number, a.approval, err) < 0)
        return -1;
    order *o = flow_load_change(c, a.number, err);
    if (!o) return -1;
    int rc = -1;
    order_return r = {0};
    order_invoice *inv =
        a.invoice >= 1 && a.invoice <= INT32_MAX ? order_find_invoice(o, (int)a.invoice) : NULL;
    if (!inv) {
        err_field(err, ERR_NOT_FOUND, "invoice", "order %s has no invoice %lld", o->number,
                  (long long)a.invoice);
        goto done;
    }
    if (inv->lines.n == 0) {
        err_set(err, ERR_INVALID_STATE, "invoice %d holds no goods to return", inv->id);
        goto done;
    }
    r.invoice = inv->id;
    if (build(c, o, &a, &r, inv, err) < 0 || other_store_require(c, err) < 0) goto done;
    int64_t so_far = 0, charged;
    for (size_t i = 0; i < o->returns.n; i++)
        so_far += o->returns.v[i].shipping_refund;
    int64_t prop = proportional(o, &r, &charged);
    int64_t ship = a.shipping_refund;
    if (!a.has_refund) {
        json_t *rv = ret_view(&r, so_far, charged, prop);
        int drc = decide_shipping_refund(c, o, rv, &ship, err);
        json_decref(rv);
        if (drc < 0) goto done;
    }
    int64_t cumulative;
    if (!money_add(so_far, ship, &cumulative)) {
        err_field(err, ERR_VALIDATION, "shipping_refund", "shipping_refund: overflows (M4)");
        goto done;
    }
    if (cumulative > c->params->max_shipping_refund_without_approval) {
        if (approval_require(c, a.approval, "shipping_refund_over_limit", err) < 0) goto done;
        text_copy(r.approved_by, sizeof r.approved_by, c->approved_by);
    }
    if (flow_refund_tenders_check(c, o, a.approval, err) < 0) goto done;
    r.shipping_refund = ship;
    r.id = o->next_return++;
    text_copy(r.at, sizeof r.at, c->now_iso);
    for (size_t i = 0; i < r.lines.n; i++) {
        invoice_line(inv, r.lines.v[i].line)->qty_returned += r.lines.v[i].qty;
        order_line *l = order_find_line(o, r.lines.v[i].line);
        l->qty_returned += r.lines.v[i].qty;
        l->tax_returned += r.lines.v[i].tax;
    }
    order_return *slot = vec_push(o->returns);
    if (!slot) {
        err_set(err, ERR_INTERNAL, "out of memory");
        goto done;
    }
    *slot = r;
    r.lines.v = NULL; /* now owned by the order */
    int64_t refund = order_return_refund(o, slot);
    order_sums s;
    if (flow_refund(c, o, "return", refund, err) < 0 || flow_sums(o, &s, err) < 0) goto done;
    json_t *retj = json_pack("{s:i, s:i, s:I, s:I, s:I, s:I}", "id", slot->id, "invoice",
                             slot->invoice, "product_refund", (json_int_t)slot->product_refund,
                             "shipping_refund", (json_int_t)slot->shipping_refund, "tax_refund",
                             (json_int_t)slot->tax_refund, "refund", (json_int_t)refund);
    if (*slot->approved_by)
        json_object_set_new(retj, "approved_by", json_string(slot->approved_by));
    if (flow_save(c, o, false, "order.return", retj, err) < 0) {
        json_decref(retj);
        goto done;
    }
    rc = flow_result_pair(c, o, "return", retj, NULL, err);
    json_decref(retj);
done:
    free(r.lines.v);
    order_free(o);
    return rc;
}

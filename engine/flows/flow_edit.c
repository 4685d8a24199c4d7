/* flow_edit.c: F3 edit and F2 confirm a quote.
 *
 * An edit may add lines (numbered on from the last, never reusing a
 * number), change or remove open lines, and change the shipping charge.
 * Existing lines keep their locked price; invoiced quantities can never be
 * edited away. The deposit is recomputed (P1) and, if money on account no
 * longer covers it, the edit must bring the difference; money beyond the
 * new total is paid back. `version` must be the order's current one: of two
 * clerks editing at once, one wins and the other gets `conflict`. Lines may
 * be added up to ORDER_MAX_LINES in all, cancelled ones included (more is
 * `validation` on add_lines), and the document must stay within
 * ORDER_MAX_DOC_BYTES (flow_save). */
#include "flows/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/args.h"
#include "model/money.h"

typedef struct {
    const char *number;
    int64_t version, shipping_charge, paying;
    bool has_charge;
    json_t *add, *update, *remove, *approval, *contacts, *override, *ovr_approval;
} edit_args;

static int parse(flow_ctx *c, edit_args *a, err_t *err)
{
    const char *s;
    int has;
    memset(a, 0, sizeof *a);
    if (args_str(c->args, "", "number", true, 47, &a->number, err) < 0 ||
        args_int(c->args, "", "version", true, 0, INT64_MAX, &a->version, err) < 0 ||
        args_arr(c->args, "", "add_lines", false, FLOW_MAX_LINES, &a->add, err) < 0 ||
        args_arr(c->args, "", "update_lines", false, FLOW_MAX_LINES, &a->update, err) < 0 ||
        args_arr(c->args, "", "remove_lines", false, FLOW_MAX_LINES, &a->remove, err) < 0 ||
        (has = args_int(c->args, "", "shipping_charge", false, INT64_MIN, INT64_MAX,
                        &a->shipping_charge, err)) < 0 ||
        args_obj(c->args, "", "approval", false, &a->approval, err) < 0 ||
        args_arr(c->args, "", "pickup_contacts", false, 64, &a->contacts, err) < 0 ||
        args_obj(c->args, "", "deposit_override", false, &a->override, err) < 0 ||
        (a->override &&
         args_obj(a->override, "deposit_override", "approval", false, &a->ovr_approval, err) < 0) ||
        args_str(c->args, "", "idempotency_key", false, 128, &s, err) < 0 ||
        flow_parse_payments(c->args, &a->paying, err) < 0 || flow_parse_refunds(c->args, err) < 0)
        return -1;
    a->has_charge = has == 1;
    size_t i;
    json_t *j, *d;
    int64_t v;
    json_array_foreach(a->update, i, j)
    {
        char p[64];
        args_index(p, sizeof p, "update_lines", i);
        if (!json_is_object(j))
            return err_field(err, ERR_BAD_REQUEST, p, "%s: expected an object", p);
        if (args_int(j, p, "line", true, INT64_MIN, INT64_MAX, &v, err) < 0 ||
            args_int(j, p, "qty", false, INT64_MIN, INT64_MAX, &v, err) < 0 ||
            args_obj(j, p, "delivery", false, &d, err) < 0)
            return -1;
    }
    json_array_foreach(a->remove, i, j)
    {
        if (!json_is_integer(j)) {
            char p[64];
            args_index(p, sizeof p, "remove_lines", i);
            return err_field(err, ERR_BAD_REQUEST, p, "%s: expected a line number", p);
        }
    }
    return 0;
}

static order_line *line_or_404(order *o, json_int_t n, const char *path, err_t *err)
{
    order_line *l = n >= 1 && n <= INT32_MAX ? order_find_line(o, (int)n) : NULL;
    if (!l)
        err_field(err, ERR_NOT_FOUND, path, "%s: order %s has no line %lld", path, o->number,
                  (long long)n);
    return l;
}

/* Applies the changes to o; errors in PROTOCOL order within each group. */
static int apply(flow_ctx *c, order *o, edit_args *a, err_t *err)
{
    size_t i, first_new = o->lines.n;
    json_t *j;
    /* Parse the added lines and the new deliveries (bad_request). */
    json_array_foreach(a->add, i, j)
    {
        char p[64];
        args_index(p, sizeof p, "add_lines", i);
        order_line *l = vec_push(o->lines);
        if (!l) return err_set(err, ERR_INTERNAL, "out of memory");
        if (flow_parse_line(c, j, p, o->customer, l, err) < 0) return -1;
        l->line = o->next_line++;
    }
    order_line *upd_new = calloc(json_array_size(a->update) + 1, sizeof *upd_new);
    if (!upd_new) return err_set(err, ERR_INTERNAL, "out of memory");
    int rc = -1;
    json_array_foreach(a->update, i, j)
    {
        json_t *d = json_object_get(j, "delivery");
        char p[64];
        snprintf(p, sizeof p, "update_lines[%zu].delivery", i);
        if (d && flow_parse_delivery(c, d, p, o->customer, &upd_new[i], err) < 0) goto out;
    }
    /* not_found: products, addresses, stores, the lines named. */
    for (size_t k = first_new; k < o->lines.n; k++) {
        char p[64];
        args_index(p, sizeof p, "add_lines", k - first_new);
        if (flow_resolve_line(c, &o->lines.v[k], p, o->customer, true, err) < 0) goto out;
    }
    json_array_foreach(a->update, i, j)
    {
        char p[64];
        snprintf(p, sizeof p, "update_lines[%zu].line", i);
        if (!line_or_404(o, json_integer_value(json_object_get(j, "line")), p, err)) goto out;
        snprintf(p, sizeof p, "update_lines[%zu]", i);
        if (json_object_get(j, "delivery") &&
            flow_resolve_line(c, &upd_new[i], p, o->customer, false, err) < 0)
            goto out;
    }
    json_array_foreach(a->remove, i, j)
    {
        char p[64];
        args_index(p, sizeof p, "remove_lines", i);
        if (!line_or_404(o, json_integer_value(j), p, err)) goto out;
    }
    /* validation */
    if (o->lines.n > first_new && o->lines.n > ORDER_MAX_LINES) {
        err_field(err, ERR_VALIDATION, "add_lines",
                  "add_lines: order %s would have %zu lines, more than the %d an order may have "
                  "(cancelled lines count: their numbers are never reused)",
                  o->number, o->lines.n, ORDER_MAX_LINES);
        goto out;
    }
    for (size_t k = first_new; k < o->lines.n; k++) {
        char p[64];
        args_index(p, sizeof p, "add_lines", k - first_new);
        if (flow_validate_line(c, &o->lines.v[k], p, err) < 0) goto out;
        if (o->lines.v[k].mode == MODE_CARRYOUT) {
            err_field(err, ERR_VALIDATION, p,
                      "%s: carry-out goods are sold in a transaction of their own", p);
            goto out;
        }
    }
    json_array_foreach(a->update, i, j)
    {
        char p[64];
        order_line *l = order_find_line(o, (int)json_integer_value(json_object_get(j, "line")));
        json_t *q = json_object_get(j, "qty");
        if (l->mode == MODE_CARRYOUT || l->qty_cancelled > 0) {
            snprintf(p, sizeof p, "update_lines[%zu].line", i);
            err_field(err, ERR_INVALID_STATE, p, "%s: line %d is %s and cannot change", p, l->line,
                      l->mode == MODE_CARRYOUT ? "carried out" : "cancelled");
            goto out;
        }
        order_line next = *l;
        if (q) next.qty = json_integer_value(q);
        if (json_object_get(j, "delivery")) {
            if (l->qty_invoiced > 0) {
                snprintf(p, sizeof p, "update_lines[%zu].delivery", i);
                err_field(err, ERR_INVALID_STATE, p,
                          "%s: line %d is partly invoiced; its delivery is fixed", p, l->line);
                goto out;
            }
            order_line *nd = &upd_new[i];
            if (nd->mode == MODE_CARRYOUT) {
                snprintf(p, sizeof p, "update_lines[%zu].delivery.mode", i);
                err_field(err, ERR_VALIDATION, p, "%s: a line cannot become carry-out", p);
                goto out;
            }
            next.mode = nd->mode;
            memcpy(next.address, nd->address, sizeof next.address);
            memcpy(next.date, nd->date, sizeof next.date);
            memcpy(next.method, nd->method, sizeof next.method);
            memcpy(next.store, nd->store, sizeof next.store);
        }
        snprintf(p, sizeof p, "update_lines[%zu]", i);
        if (next.qty < l->qty_invoiced) {
            snprintf(p, sizeof p, "update_lines[%zu].qty", i);
            err_field(err, ERR_INVALID_STATE, p,
                      "%s: %lld is below the %lld already invoiced on line %d", p,
                      (long long)next.qty, (long long)l->qty_invoiced, l->line);
            goto out;
        }
        if (flow_validate_line(c, &next, p, err) < 0) goto out;
        /* T1: a new quantity or delivery is decided again; else it stays */
        if (next.qty != l->qty || json_object_get(j, "delivery")) next.tax = -1;
        *l = next;
    }
    json_array_foreach(a->remove, i, j)
    {
        char p[64];
        args_index(p, sizeof p, "remove_lines", i);
        order_line *l = order_find_line(o, (int)json_integer_value(j));
        if (l->qty_invoiced > 0 || l->qty_cancelled > 0) {
            err_field(err, ERR_INVALID_STATE, p, "%s: line %d is %s and cannot be removed", p,
                      l->line, l->qty_invoiced ? "invoiced" : "already removed");
            goto out;
        }
        l->qty_cancelled = l->qty;
    }
    if (a->has_charge && (!c->params->manual_shipping_charge || a->shipping_charge < 0 ||
                          a->shipping_charge > MONEY_MAX)) {
        err_field(err, ERR_VALIDATION, "shipping_charge",
                  c->params->manual_shipping_charge
                      ? "shipping_charge: must be from 0 to the largest amount"
                      : "shipping_charge: this store's policy does not allow typed charges");
        goto out;
    }
    bool any = false;
    for (size_t k = 0; k < o->lines.n; k++)
        any |= o->lines.v[k].qty_cancelled < o->lines.v[k].qty;
    if (!any) {
        err_field(err, ERR_VALIDATION, "remove_lines",
                  "remove_lines: an order keeps at least one line (cancel it instead)");
        goto out;
    }
    /* The size before the payments, so that a validation ranks before them;
     * flow_save checks the final document again. */
    if (o->lines.n > first_new && flow_check_size(o, err) < 0) goto out;
    rc = 0;
out:
    free(upd_new);
    return rc;
}

static int mismatch(err_t *err, int64_t due, const char *fmt, long long a, long long b)
{
    err_set(err, ERR_PAYMENT_MISMATCH, fmt, a, b);
    err->due = due;
    err->has_due = 1;
    return -1;
}

/* P1 again: the deposit of the order as it now is, what the edit must bring,
 * and any money beyond the new total paid back. */
static int settle(flow_ctx *c, order *o, int64_t paying, json_t *override, err_t *err)
{
    order_sums s;
    if (flow_sums(o, &s, err) < 0) return -1;
    if (!strcmp(o->type, "quote")) {
        if (override)
            return err_field(err, ERR_VALIDATION, "deposit_override",
                             "deposit_override: a quote takes no deposit");
        if (paying > 0)
            return mismatch(err, 0, "a quote takes no payment (%lld given, %lld due)", paying, 0);
        return 0;
    }
    int64_t deposit;
    /* P2: a new override; else an earlier one, capped by the new base; else
     * the policy's deposit of the order as it now is */
    int overridden = flow_deposit_override(c, o, override, s.order, &deposit, err);
    if (overridden < 0) return -1;
    if (!overridden && o->deposit_overridden)
        deposit = o->deposit_required < s.deposit_base ? o->deposit_required : s.deposit_base;
    else if (!overridden && decide_deposit(c, o, &deposit, err) < 0)
        return -1;
    if (deposit > s.order)
        return err_set(err, ERR_POLICY_ERROR,
                       "policy %s: deposit %lld is more than the order total", policy_name(c->pol),
                       (long long)deposit);
    o->deposit_required = deposit;
    int64_t net = s.paid - s.refunded;
    int64_t due = deposit > s.on_account ? deposit - s.on_account : 0;
    int64_t room = s.order > net ? s.order - net : 0; /* the balance: the most it may bring */
    if (paying < due || paying > room)
        return mismatch(err, due,
                        "payments of %lld must cover the %lld the new deposit needs, and no more "
                        "than the balance",
                        paying, due);
    if (flow_add_payments(c, o, c->args) < 0) return err_set(err, ERR_INTERNAL, "out of memory");
    /* Lines removed below what was paid: the money beyond the total goes
     * back (R1: refunds given when nothing goes back are a mismatch too). */
    return flow_refund(c, o, "excess", net + paying > s.order ? net + paying - s.order : 0, err);
}

int flow_edit(flow_ctx *c, json_t **result, err_t *err)
{
    edit_args a;
    if (parse(c, &a, err) < 0 || other_store_check(c, a.number, a.approval, err) < 0 ||
        approval_check(c, a.ovr_approval, "deposit_override", err) < 0)
        return -1;
    order *o = flow_load_change(c, a.number, err);
    if (!o) return -1;
    int rc = -1;
    if (o->cancelled) {
        err_set(err, ERR_INVALID_STATE, "order %s is cancelled", o->number);
        goto done;
    }
    if (flow_not_held(o, "edit it", err) < 0 || apply(c, o, &a, err) < 0 ||
        (a.contacts && flow_parse_contacts(c, o, a.contacts, err) < 0))
        goto done;
    if (a.version != o->version) {
        err_set(err, ERR_CONFLICT, "order %s is at version %lld, not %lld: reload and retry",
                o->number, (long long)o->version, (long long)a.version);
        goto done;
    }
    if (other_store_require(c, err) < 0 || flow_refund_tenders_check(c, o, a.approval, err) < 0 ||
        flow_shipping_charges(c, o, a.has_charge ? a.shipping_charge : -1, err) < 0 ||
        flow_decide_taxes(c, o, err) < 0 || settle(c, o, a.paying, a.override, err) < 0 ||
        flow_save(c, o, false, "order.edit", NULL, err) < 0)
        goto done;
    rc = flow_result_order(c, o, err);
done:
    order_free(o);
    return rc;
}

int flow_confirm_quote(flow_ctx *c, json_t **result, err_t *err)
{
    const char *number, *s;
    json_t *approval = NULL, *ovr = NULL, *ovr_approval = NULL;
    int64_t paying;
    if (args_str(c->args, "", "number", true, 47, &number, err) < 0 ||
        args_obj(c->args, "", "approval", false, &approval, err) < 0 ||
        args_obj(c->args, "", "deposit_override", false, &ovr, err) < 0 ||
        (ovr && args_obj(ovr, "deposit_override", "approval", false, &ovr_approval, err) < 0) ||
        approval_check(c, ovr_approval, "deposit_override", err) < 0 ||
        args_str(c->args, "", "idempotency_key", false, 128, &s, err) < 0 ||
        flow_parse_payments(c->args, &paying, err) < 0 ||
        other_store_check(c, number, approval, err) < 0)
        return -1;
    order *o = flow_load_change(c, number, err);
    if (!o) return -1;
    int rc = -1;
    if (strcmp(o->type, "quote") || o->cancelled) {
        err_set(err, ERR_INVALID_STATE, "order %s is not an open quote", o->number);
        goto done;
    }
    if (flow_not_held(o, "confirm it", err) < 0) goto done;
    /* The quote's expiry is a date of its store's calendar. */
    if (strcmp(c->rules_today, o->quote_expires) > 0) {
        err_set(err, ERR_INVALID_STATE, "quote %s expired on %s", o->number, o->quote_expires);
        goto done;
    }
    if (other_store_require(c, err) < 0) goto done;
    snprintf(o->type, sizeof o->type, "order");
    order_sums s0;
    int64_t deposit;
    if (flow_sums(o, &s0, err) < 0 || decide_deposit(c, o, &deposit, err) < 0) goto done;
    if (deposit > s0.order) {
        err_set(err, ERR_POLICY_ERROR, "policy %s: deposit %lld is more than the order total",
                policy_name(c->pol), (long long)deposit);
        goto done;
    }
    if (flow_deposit_override(c, o, ovr, s0.order, &deposit, err) < 0) goto done;
    o->deposit_required = deposit;
    if (paying < deposit || paying > s0.order) {
        mismatch(err, deposit, "payments of %lld must be at least the %lld deposit", paying,
                 deposit);
        goto done;
    }
    if (flow_add_payments(c, o, c->args) < 0 ||
        flow_save(c, o, false, "order.confirm_quote", NULL, err) < 0)
        goto done;
    rc = flow_result_order(c, o, err);
done:
    order_free(o);
    return rc;
}

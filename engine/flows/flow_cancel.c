/* flow_cancel.c: F6 cancel. Every open line is cancelled; shipping charges
 * not yet invoiced are no longer owed; the cancellation charge (policy, or
 * an override with its permission) is booked under its code on an invoice
 * of its own, paid from money on account first; what is left on account is
 * refunded, and if that money does not cover the charge the customer pays
 * the difference. Invoiced lines stay invoiced and returnable. */
#include "flows/flow.h"

#include <stdio.h>
#include <string.h>

#include "model/args.h"
#include "model/money.h"
#include "model/text.h"

int flow_cancel(flow_ctx *c, json_t **result, err_t *err)
{
    const char *number, *reason = NULL, *s;
    json_t *ovr = NULL, *approval = NULL, *store_approval = NULL;
    int64_t version = -1, ovr_amount = 0, paying;
    int has_version;
    if (args_str(c->args, "", "number", true, 47, &number, err) < 0 ||
        (has_version = args_int(c->args, "", "version", false, 0, INT64_MAX, &version, err)) < 0 ||
        args_obj(c->args, "", "charge_override", false, &ovr, err) < 0 ||
        args_str(c->args, "", "reason", false, 255, &reason, err) < 0 ||
        args_obj(c->args, "", "approval", false, &store_approval, err) < 0 ||
        args_str(c->args, "", "idempotency_key", false, 128, &s, err) < 0 ||
        flow_parse_payments(c->args, &paying, err) < 0 || flow_parse_refunds(c->args, err) < 0)
        return -1;
    if (ovr && (args_int(ovr, "charge_override", "amount", true, INT64_MIN, INT64_MAX, &ovr_amount,
                         err) < 0 ||
                args_obj(ovr, "charge_override", "approval", false, &approval, err) < 0))
        return -1;
    /* Two approvals: charge_override.approval for the charge (P3),
     * approval for an order of another store (A5). */
    if (approval_check(c, approval, "cancellation_charge_override", err) < 0 ||
        other_store_check(c, number, store_approval, err) < 0)
        return -1;
    order *o = flow_load_change(c, number, err);
    if (!o) return -1;
    int rc = -1;
    order_sums s0;
    if (ovr && (ovr_amount < 0 || ovr_amount > MONEY_MAX)) {
        err_field(err, ERR_VALIDATION, "charge_override.amount",
                  "charge_override.amount: must be from 0 to %lld", (long long)MONEY_MAX);
        goto done;
    }
    if (reason && flow_reason_check(c, "cancel", reason, "reason", err) < 0) goto done;
    if (flow_sums(o, &s0, err) < 0) goto done;
    if (o->cancelled) {
        err_set(err, ERR_INVALID_STATE, "order %s is already cancelled", o->number);
        goto done;
    }
    if (strcmp(o->type, "quote") && s0.open_value == 0) {
        err_set(err, ERR_INVALID_STATE, "order %s has no open lines to cancel", o->number);
        goto done;
    }
    if (has_version == 1 && version != o->version) {
        err_set(err, ERR_CONFLICT, "order %s is at version %lld, not %lld", o->number,
                (long long)o->version, (long long)version);
        goto done;
    }
    if (other_store_require(c, err) < 0) goto done;
    int64_t charge = 0;
    bool quote = !strcmp(o->type, "quote");
    if (!quote && decide_cancellation_charge(c, o, &charge, err) < 0) goto done;
    if (ovr) {
        if (approval_require(c, approval, "cancellation_charge_override", err) < 0) goto done;
        charge = ovr_amount;
    }
    if (flow_refund_tenders_check(c, o, store_approval, err) < 0) goto done;
    for (size_t i = 0; i < o->lines.n; i++)
        o->lines.v[i].qty_cancelled += order_line_open(&o->lines.v[i]);
    for (size_t i = 0; i < o->charges.n; i++)
        if (!o->charges.v[i].invoice) o->charges.v[i].waived = true;
    o->cancelled = true;
    order_sums s1;
    if (flow_sums(o, &s1, err) < 0) goto done;
    int64_t refund = s1.on_account;
    if (charge > 0) {
        order_invoice *inv = vec_push(o->invoices);
        order_charge *ch = vec_push(o->charges);
        if (!inv || !ch) {
            err_set(err, ERR_INTERNAL, "out of memory");
            goto done;
        }
        inv->id = o->next_invoice++;
        snprintf(inv->kind, sizeof inv->kind, "cancellation");
        text_copy(inv->at, sizeof inv->at, c->now_iso);
        text_copy(ch->code, sizeof ch->code, c->params->cancellation_charge_code);
        snprintf(ch->kind, sizeof ch->kind, "cancellation");
        ch->amount = charge;
        ch->tax = -1; /* T1: a charge made at this store */
        if (flow_decide_taxes(c, o, err) < 0) goto done;
        inv->amount = inv->charges = order_gross(o, charge, ch->tax);
        inv->tax = ch->tax;
        ch->invoice = inv->id;
        ch->manual = ovr != NULL;
        if (flow_settle_invoice(c, o, inv, s1.on_account, paying, err) < 0) goto done;
        refund = s1.on_account - inv->deposit_applied;
    } else if (paying != 0) {
        err_set(err, ERR_PAYMENT_MISMATCH, "nothing is due on this cancellation");
        err->has_due = 1;
        err->due = 0;
        goto done;
    }
    if (flow_add_payments(c, o, c->args) < 0) {
        err_set(err, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (flow_refund(c, o, "cancellation", refund, err) < 0) goto done;
    json_t *canc = json_pack("{s:I, s:s, s:I}", "charge", (json_int_t)charge, "code",
                             c->params->cancellation_charge_code, "refund", (json_int_t)refund);
    if (reason) json_object_set_new(canc, "reason", json_string(reason));
    if (flow_save(c, o, false, "order.cancel", canc, err) < 0) {
        json_decref(canc);
        goto done;
    }
    rc = flow_result_pair(c, o, "cancellation", canc, NULL, err);
    json_decref(canc);
done:
    order_free(o);
    return rc;
}

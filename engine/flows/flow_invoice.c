/* flow_invoice.c: F4 pick up and F5 ship. Both invoice selected lines and
 * quantities; money on account pays first (O5), the op's payments must
 * bring exactly the rest. Shipping needs the `ship` permission (A2), and
 * the first invoice of a shipment carries its charge. */
#include "flows/flow.h"

#include <stdio.h>
#include <string.h>

#include "model/args.h"
#include "model/text.h"

static int invoice_flow(flow_ctx *c, order_mode mode, json_t **result, err_t *err)
{
    const char *number, *s, *tracking = NULL;
    json_t *lines, *approval = NULL, *collected_by = NULL;
    int64_t paying;
    if (args_str(c->args, "", "number", true, 47, &number, err) < 0 ||
        args_arr(c->args, "", "lines", true, FLOW_MAX_LINES, &lines, err) < 0 ||
        args_str(c->args, "", "tracking", false, 63, &tracking, err) < 0 ||
        args_obj(c->args, "", "approval", false, &approval, err) < 0 ||
        args_obj(c->args, "", "collected_by", false, &collected_by, err) < 0 ||
        args_str(c->args, "", "idempotency_key", false, 128, &s, err) < 0 ||
        flow_parse_payments(c->args, &paying, err) < 0)
        return -1;
    /* A pickup needs no permission: F4 only picks up the lines whose pickup
     * store is the signed-in one, whoever's order it is (A5); but one by
     * someone the order does not name needs pickup_by_other (F9). */
    if (mode == MODE_SHIP && (approval_check(c, approval, "ship", err) < 0 ||
                              other_store_check(c, number, approval, err) < 0))
        return -1;
    if (mode == MODE_PICKUP && approval_check(c, approval, "pickup_by_other", err) < 0) return -1;
    order *o = flow_load_change(c, number, err);
    if (!o) return -1;
    int rc = -1;
    order_sums before;
    order_invoice *inv;
    if (!strcmp(o->type, "quote") || o->cancelled) {
        err_set(err, ERR_INVALID_STATE, "order %s is %s: nothing to %s", o->number, order_status(o),
                mode == MODE_SHIP ? "ship" : "pick up");
        goto done;
    }
    if (flow_sums(o, &before, err) < 0 || flow_invoice_lines(c, o, lines, mode, &inv, err) < 0 ||
        (mode == MODE_PICKUP && flow_collector_check(c, o, collected_by, err) < 0) ||
        flow_not_held(o, mode == MODE_SHIP ? "ship it" : "pick it up", err) < 0)
        goto done;
    if (mode == MODE_SHIP &&
        (other_store_require(c, err) < 0 || approval_require(c, approval, "ship", err) < 0))
        goto done;
    if (mode == MODE_PICKUP && flow_collector_apply(c, o, inv, collected_by, approval, err) < 0)
        goto done;
    if (tracking) text_copy(inv->tracking, sizeof inv->tracking, tracking);
    if (flow_settle_invoice(c, o, inv, before.on_account, paying, err) < 0 ||
        flow_add_payments(c, o, c->args) < 0)
        goto done;
    json_t *invj = json_pack("{s:i, s:I, s:I, s:I}", "id", inv->id, "amount",
                             (json_int_t)inv->amount, "deposit_applied",
                             (json_int_t)inv->deposit_applied, "paid", (json_int_t)inv->paid);
    if (*inv->collector) /* the log's summary names the collector too (F9) */
        json_object_set_new(invj, "collected_by", json_string(inv->collector));
    if (flow_save(c, o, false, mode == MODE_SHIP ? "order.ship" : "order.pickup", invj, err) < 0) {
        json_decref(invj);
        goto done;
    }
    json_decref(invj);
    rc = flow_result_pair(c, o, "invoice", NULL, inv, err);
done:
    order_free(o);
    return rc;
}

int flow_pickup(flow_ctx *c, json_t **result, err_t *err)
{
    return invoice_flow(c, MODE_PICKUP, result, err);
}

int flow_ship(flow_ctx *c, json_t **result, err_t *err)
{
    return invoice_flow(c, MODE_SHIP, result, err);
}

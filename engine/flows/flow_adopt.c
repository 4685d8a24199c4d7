/* flow_adopt.c: SPEC C5, an order that comes from HQ rather than from this
 * server's own flows: one claimed here (the claiming store owns it from
 * now on and changes it with the ordinary flows) or a newer copy of one
 * another store's server owns (kept read-only, for order.get and find).
 * The document is HQ's, as the owner last uploaded it; nothing in it is
 * decided again, so no policy is asked and nothing goes to the outbox
 * (HQ has it already). */
#include "flows/flow.h"

#include <stdlib.h>
#include <string.h>

#include "model/text.h"
#include "store/orders.h"
#include "store/txlog.h"

/* One entry of HQ's history of the order as a log entry here: who did
 * what where, and the state it left. */
static int history_entry(engine *e, const char *number, json_t *h, err_t *err)
{
    const char *s = json_string_value(json_object_get(h, "store"));
    const char *type = json_string_value(json_object_get(h, "type"));
    const char *at = json_string_value(json_object_get(h, "at"));
    const char *staff = json_string_value(json_object_get(h, "staff"));
    const char *pv = json_string_value(json_object_get(h, "policy_version"));
    if (!s || !type || !at)
        return err_set(err, ERR_INTERNAL, "HQ history of %s unreadable", number);
    json_t *req = json_pack("{s:s, s:O?}", "from_hq", s, "seq", json_object_get(h, "seq"));
    json_t *res = json_pack("{s:O?, s:O?}", "version", json_object_get(h, "version"), "status",
                            json_object_get(h, "status"));
    txlog_entry t = {.at = at,
                     .store = s,
                     .staff = staff ? staff : "",
                     .op = type,
                     .order_number = number,
                     .policy_version = pv,
                     .request = req,
                     .decisions = "[]",
                     .result = res};
    int rc = req && res ? txlog_append(e, &t, err) : err_set(err, ERR_INTERNAL, "out of memory");
    json_decref(req);
    json_decref(res);
    return rc;
}

int flow_adopt(engine *e, json_t *doc, const char *owner, bool read_only, const char *sync_state,
               const char *hq_order, json_t *history, bool *skipped, err_t *err)
{
    order *o = order_from_json(doc, err);
    if (!o) return -1;
    text_copy(o->owner, sizeof o->owner, owner);
    size_t len;
    char *text = order_text(o, ORDER_DOC, &len);
    int rc = text ? 0 : err_set(err, ERR_INTERNAL, "out of memory keeping an order");
    orders_cols cols = {.number = o->number,
                        .store = o->store,
                        .customer = o->customer,
                        .type = o->type,
                        .status = order_status(o),
                        .created_at = o->created_at,
                        .policy_version = o->policy_version,
                        .version = o->version,
                        .doc = text};
    if (rc == 0) rc = flow_pickups(o, &cols, err);
    if (rc == 0) rc = orders_adopt(e, &cols, owner, read_only, sync_state, hq_order, skipped, err);
    size_t i;
    json_t *h;
    if (rc == 0 && !*skipped)
        json_array_foreach(history, i, h) if (rc == 0) rc = history_entry(e, o->number, h, err);
    free(text);
    flow_pickups_free(&cols);
    order_free(o);
    return rc;
}

/* flow_collect.c: F9, someone else collects. An order names up to
 * ORDER_MAX_CONTACTS pickup contacts (at create; an edit replaces the
 * list); a pickup may record who collected (collected_by), which the
 * policy's `require_collector` makes mandatory. A collector who is neither
 * the customer nor a contact needs `pickup_by_other` (or an approval).
 * Names are compared as a clerk would: trimmed, without case, UTF-8
 * included (text_same_name). */
#include "flows/flow.h"

#include <stdio.h>
#include <string.h>

#include "model/args.h"
#include "model/text.h"

int flow_parse_contacts(flow_ctx *c, order *o, json_t *list, err_t *err)
{
    size_t i;
    json_t *j;
    /* Checked in full before the order changes: a refused edit keeps the old list. */
    order_contact next[ORDER_MAX_CONTACTS];
    json_array_foreach(list, i, j)
    {
        char p[48];
        args_index(p, sizeof p, "pickup_contacts", i);
        if (i >= ORDER_MAX_CONTACTS)
            return err_field(err, ERR_VALIDATION, p,
                             "%s: an order names at most %d pickup contacts", p,
                             ORDER_MAX_CONTACTS);
        const char *name, *phone = "";
        if (args_str(j, p, "name", true, 127, &name, err) < 0 ||
            args_str(j, p, "phone", false, 63, &phone, err) < 0)
            return -1;
        if (text_blank(name)) {
            char f[64];
            return err_field(err, ERR_VALIDATION, args_path(f, sizeof f, p, "name"),
                             "%s: a contact needs a name", f);
        }
        text_copy_trimmed(next[i].name, sizeof next[i].name, name);
        text_copy_trimmed(next[i].phone, sizeof next[i].phone, phone);
    }
    o->contacts.n = 0;
    for (size_t k = 0; k < json_array_size(list); k++) {
        order_contact *ct = vec_push(o->contacts);
        if (!ct) return err_set(err, ERR_INTERNAL, "out of memory");
        *ct = next[k];
    }
    return 0;
}

/* Whether name is the customer's or one of the contacts'. */
static bool known_collector(const order *o, const char *name)
{
    if (*o->customer && text_same_name(name, o->customer_name)) return true;
    for (size_t i = 0; i < o->contacts.n; i++)
        if (text_same_name(name, o->contacts.v[i].name)) return true;
    return false;
}

int flow_collector_check(flow_ctx *c, const order *o, json_t *cb, err_t *err)
{
    if (!cb) {
        if (c->params->require_collector)
            return err_field(err, ERR_VALIDATION, "collected_by",
                             "collected_by: this store records who collects every pickup");
        return 0;
    }
    const char *name, *ref = "";
    bool checked = false;
    if (args_str(cb, "collected_by", "name", true, 127, &name, err) < 0 ||
        args_bool(cb, "collected_by", "id_checked", false, &checked, err) < 0 ||
        args_str(cb, "collected_by", "id_ref", false, 63, &ref, err) < 0)
        return -1;
    if (text_blank(name))
        return err_field(err, ERR_VALIDATION, "collected_by.name",
                         "collected_by.name: say who collects");
    return 0;
}

int flow_collector_apply(flow_ctx *c, const order *o, order_invoice *inv, json_t *cb,
                         json_t *approval, err_t *err)
{
    if (!cb) return 0;
    const char *name = json_string_value(json_object_get(cb, "name"));
    const char *ref = json_string_value(json_object_get(cb, "id_ref"));
    if (!known_collector(o, name) && approval_require(c, approval, "pickup_by_other", err) < 0)
        return -1;
    text_copy_trimmed(inv->collector, sizeof inv->collector, name);
    inv->id_checked = json_is_true(json_object_get(cb, "id_checked"));
    text_copy_trimmed(inv->id_ref, sizeof inv->id_ref, ref ? ref : "");
    return 0;
}

/* flow_tax.c: T1, tax per line and per charge. A line or charge made, or a
 * line whose quantity or delivery changed, carries tax -1 ("not decided");
 * flow_decide_taxes then asks the order's store's policy (decide_tax) for
 * each of them, with what it is and where it goes, so a retailer can write
 * rates by product and by destination. Everything else keeps its tax,
 * locked like the price. */
#include "flows/flow.h"

#include <stdlib.h>
#include <string.h>

#include "model/jsonw.h"
#include "model/money.h"
#include "store/master.h"

/* {mode, store?, address?, country?, zip?, city?}: where the goods go. */
static void write_destination(jsonw *w, flow_ctx *c, const order *o, const char *mode,
                              const char *store, const char *address)
{
    jw_key(w, "destination");
    jw_obj(w);
    jw_key(w, "mode");
    jw_str(w, mode);
    if (!strcmp(mode, "ship")) {
        master_address a;
        jw_key(w, "address");
        jw_str(w, address);
        if (master_address_get(c->e, o->customer, address, &a) == 1) {
            jw_key(w, "country");
            jw_str(w, a.country);
            jw_key(w, "zip");
            jw_str(w, a.zip);
            jw_key(w, "city");
            jw_str(w, a.city);
        }
    } else {
        jw_key(w, "store");
        jw_str(w, store);
    }
    jw_end_obj(w);
}

static int line_tax(flow_ctx *c, order *o, order_line *l, err_t *err)
{
    int64_t amount;
    if (!money_mul(l->unit_price, l->qty, &amount))
        return err_set(err, ERR_VALIDATION, "line %d: the amount overflows (M4)", l->line);
    if (!decide_tax_reads_item(c)) { /* no hook, no rate: the item and its address go unread */
        l->tax = decide_default_tax(c->params, amount);
        return 0;
    }
    jsonw w = {0};
    jw_obj(&w);
    jw_key(&w, "kind");
    jw_str(&w, "line");
    jw_key(&w, "line");
    jw_int(&w, l->line);
    jw_key(&w, "item");
    jw_str(&w, l->item);
    jw_key(&w, "qty");
    jw_int(&w, l->qty);
    jw_key(&w, "amount");
    jw_int(&w, amount);
    write_destination(&w, c, o, order_mode_name(l->mode),
                      l->mode == MODE_PICKUP ? l->store : o->store, l->address);
    jw_end_obj(&w);
    size_t len;
    char *item = jw_finish(&w, &len);
    int rc = decide_tax(c, o, item, len, amount, &l->tax, err);
    free(item);
    return rc;
}

static int charge_tax(flow_ctx *c, order *o, order_charge *ch, err_t *err)
{
    if (!decide_tax_reads_item(c)) {
        ch->tax = decide_default_tax(c->params, ch->amount);
        return 0;
    }
    bool ship = *ch->address != 0;
    jsonw w = {0};
    jw_obj(&w);
    jw_key(&w, "kind");
    jw_str(&w, "charge");
    jw_key(&w, "code");
    jw_str(&w, ch->code);
    jw_key(&w, "charge");
    jw_str(&w, ch->kind);
    jw_key(&w, "amount");
    jw_int(&w, ch->amount);
    /* a shipping charge goes with its shipment; any other is made here */
    write_destination(&w, c, o, ship ? "ship" : "store", o->store, ch->address);
    jw_end_obj(&w);
    size_t len;
    char *item = jw_finish(&w, &len);
    int rc = decide_tax(c, o, item, len, ch->amount, &ch->tax, err);
    free(item);
    return rc;
}

int flow_decide_taxes(flow_ctx *c, order *o, err_t *err)
{
    int rc = 0;
    for (size_t i = 0; i < o->lines.n && rc == 0; i++) {
        order_line *l = &o->lines.v[i];
        if (l->tax >= 0) continue;
        /* T3: a line whose whole quantity is invoiced (an edit took it down
         * to what was invoiced) has the tax its invoices took, each share
         * rounded: decided again for its amount it could differ by a cent
         * (3 x 19.99 taxed 12.59, two shipped taking 8.39, two taxed 8.40),
         * and no invoice is left to take the difference. */
        if (l->qty > 0 && l->qty_invoiced >= l->qty)
            l->tax = l->tax_invoiced;
        else
            rc = line_tax(c, o, l, err);
    }
    for (size_t i = 0; i < o->charges.n && rc == 0; i++)
        if (o->charges.v[i].tax < 0) rc = charge_tax(c, o, &o->charges.v[i], err);
    decide_tax_done(c);
    return rc;
}

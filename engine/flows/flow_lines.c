/* flow_lines.c: lines and deliveries (SPEC O2, O4), shipments and their
 * charges (F1, F3, P4), and invoicing selected lines (F4, F5). */
#include "flows/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/args.h"
#include "model/money.h"
#include "model/text.h"

int flow_parse_delivery(flow_ctx *c, json_t *d, const char *path, const char *customer,
                        order_line *l, err_t *err)
{
    const char *mode;
    char f[160];
    if (args_str(d, path, "mode", true, 16, &mode, err) < 0) return -1;
    if (!strcmp(mode, "ship")) {
        l->mode = MODE_SHIP;
        const char *addr, *date, *method = "";
        if (args_str(d, path, "address", true, 63, &addr, err) < 0 ||
            args_str(d, path, "date", true, 10, &date, err) < 0 ||
            args_str(d, path, "method", false, 63, &method, err) < 0)
            return -1;
        text_copy(l->address, sizeof l->address, addr);
        text_copy(l->date, sizeof l->date, date);
        text_copy(l->method, sizeof l->method, method);
    } else if (!strcmp(mode, "pickup")) {
        l->mode = MODE_PICKUP;
        const char *store, *date;
        if (args_str(d, path, "store", true, 31, &store, err) < 0 ||
            args_str(d, path, "date", true, 10, &date, err) < 0)
            return -1;
        text_copy(l->store, sizeof l->store, store);
        text_copy(l->date, sizeof l->date, date);
    } else if (!strcmp(mode, "carryout")) {
        l->mode = MODE_CARRYOUT;
    } else {
        args_path(f, sizeof f, path, "mode");
        return err_field(err, ERR_BAD_REQUEST, f, "%s: '%s' is not ship, pickup or carryout", f,
                         mode);
    }
    return 0;
}

int flow_parse_line(flow_ctx *c, json_t *j, const char *path, const char *customer, order_line *l,
                    err_t *err)
{
    const char *item;
    json_t *d;
    char dp[160];
    if (!json_is_object(j))
        return err_field(err, ERR_BAD_REQUEST, path, "%s: expected an object", path);
    if (args_str(j, path, "item", true, 63, &item, err) < 0 ||
        args_int(j, path, "qty", true, INT64_MIN, INT64_MAX, &l->qty, err) < 0 ||
        args_obj(j, path, "delivery", true, &d, err) < 0)
        return -1;
    text_copy(l->item, sizeof l->item, item);
    l->tax = -1; /* decided once the line is complete (flow_decide_taxes) */
    return flow_parse_delivery(c, d, args_path(dp, sizeof dp, path, "delivery"), customer, l, err);
}

/* not_found checks of a parsed line: product, address, pickup store. */
int flow_resolve_line(flow_ctx *c, order_line *l, const char *path, const char *customer,
                      bool set_price, err_t *err)
{
    char f[160];
    if (set_price) {
        master_product p;
        if (master_product_get(c->e, l->item, &p, err) < 0) {
            args_path(f, sizeof f, path, "item");
            text_copy(err->field, sizeof err->field, f);
            return -1;
        }
        text_copy(l->name, sizeof l->name, p.name);
        l->unit_price = p.price;
    }
    if (l->mode == MODE_SHIP) {
        if (!customer || !*customer) return 0; /* the customer check reports it */
        if (!master_address_exists(c->e, customer, l->address)) {
            snprintf(f, sizeof f, "%s.delivery.address", path);
            return err_field(err, ERR_NOT_FOUND, f, "%s: customer %s has no address '%s'", f,
                             customer, l->address);
        }
    } else if (l->mode == MODE_PICKUP) {
        master_store st;
        if (master_store_get(c->e, l->store, &st, err) < 0) {
            snprintf(err->field, sizeof err->field, "%s.delivery.store", path);
            return -1;
        }
    }
    return 0;
}

/* validation checks of a line: quantity, dates not in the past (O4). */
int flow_validate_line(flow_ctx *c, const order_line *l, const char *path, err_t *err)
{
    char f[160];
    if (l->qty < 1 || l->qty > FLOW_MAX_QTY) {
        args_path(f, sizeof f, path, "qty");
        return err_field(err, ERR_VALIDATION, f, "%s: must be a whole number from 1 to %d", f,
                         FLOW_MAX_QTY);
    }
    int64_t amount;
    if (!money_mul(l->unit_price, l->qty, &amount) || amount > MONEY_MAX) {
        args_path(f, sizeof f, path, "qty");
        return err_field(err, ERR_VALIDATION, f, "%s: the line's amount is too large (M4)", f);
    }
    if (l->mode == MODE_CARRYOUT) return 0;
    bool valid = engine_valid_date(l->date);
    if (valid && strcmp(l->date, c->today) >= 0) return 0;
    /* the field's path is written only for an error: every line passes here */
    snprintf(f, sizeof f, "%s.delivery.date", path);
    if (!valid)
        return err_field(err, ERR_VALIDATION, f, "%s: '%s' is not a date YYYY-MM-DD", f, l->date);
    return err_field(err, ERR_VALIDATION, f, "%s: %s is in the past (today is %s)", f, l->date,
                     c->today);
}

/* The shipment the shipping_charge hook is asked about, as JSON text
 * (written straight from the lines: it is the hook's argument and the log
 * entry's); *value is its goods' value. malloc'd, NULL when out of memory. */
static char *shipment_text(order *o, const char *address, const char *date, int64_t *value,
                           size_t *len)
{
    const char *method = ""; /* the first open line's */
    for (size_t i = 0; i < o->lines.n && !*method; i++) {
        order_line *l = &o->lines.v[i];
        if (l->mode == MODE_SHIP && !strcmp(l->address, address) && !strcmp(l->date, date) &&
            order_line_open(l) > 0)
            method = l->method;
    }
    *value = 0;
    jsonw w = {0};
    jw_obj(&w);
    jw_key(&w, "address");
    jw_str(&w, address);
    jw_key(&w, "date");
    jw_str(&w, date);
    jw_key(&w, "method");
    jw_str(&w, method);
    jw_key(&w, "lines");
    jw_arr(&w);
    for (size_t i = 0; i < o->lines.n; i++) {
        order_line *l = &o->lines.v[i];
        if (l->mode != MODE_SHIP || strcmp(l->address, address) || strcmp(l->date, date)) continue;
        int64_t open = order_line_open(l);
        if (open <= 0) continue;
        *value += l->unit_price * open;
        jw_obj(&w);
        jw_key(&w, "line");
        jw_int(&w, l->line);
        jw_key(&w, "item");
        jw_str(&w, l->item);
        jw_key(&w, "qty");
        jw_int(&w, open);
        jw_key(&w, "unit_price");
        jw_int(&w, l->unit_price);
        jw_key(&w, "amount");
        jw_int(&w, l->unit_price * open);
        jw_end_obj(&w);
    }
    jw_end_arr(&w);
    jw_key(&w, "value");
    jw_int(&w, *value);
    jw_end_obj(&w);
    return jw_finish(&w, len);
}

static order_charge *charge_for(order *o, const char *address, const char *date, bool invoiced)
{
    for (size_t i = 0; i < o->charges.n; i++) {
        order_charge *ch = &o->charges.v[i];
        if (strcmp(ch->kind, "shipping") || ch->waived) continue;
        if (!strcmp(ch->address, address) && !strcmp(ch->date, date) &&
            (ch->invoice != 0) == invoiced)
            return ch;
    }
    return NULL;
}

int flow_shipping_charges(flow_ctx *c, order *o, int64_t manual, err_t *err)
{
    /* Take out the charges not yet invoiced; keep what a clerk typed so an
     * edit that does not touch the charge does not lose it. */
    VEC(order_charge) old = {0};
    size_t keep = 0;
    for (size_t i = 0; i < o->charges.n; i++) {
        order_charge *ch = &o->charges.v[i];
        if (!strcmp(ch->kind, "shipping") && !ch->invoice && !ch->waived) {
            order_charge *saved = vec_push(old);
            if (!saved) return err_set(err, ERR_INTERNAL, "out of memory");
            *saved = *ch;
        } else {
            o->charges.v[keep++] = *ch;
        }
    }
    o->charges.n = keep;
    int rc = 0;
    for (size_t i = 0; i < o->lines.n && rc == 0; i++) {
        order_line *l = &o->lines.v[i];
        if (l->mode != MODE_SHIP || order_line_open(l) <= 0) continue;
        bool first = true; /* one charge per shipment: the first line of its key */
        for (size_t k = 0; k < i; k++) {
            order_line *p = &o->lines.v[k];
            if (p->mode == MODE_SHIP && order_line_open(p) > 0 && !strcmp(p->address, l->address) &&
                !strcmp(p->date, l->date))
                first = false;
        }
        if (!first || charge_for(o, l->address, l->date, true)) continue;
        int64_t amount = manual;
        bool is_manual = manual >= 0;
        if (!is_manual) {
            for (size_t k = 0; k < old.n; k++)
                if (old.v[k].manual && !strcmp(old.v[k].address, l->address) &&
                    !strcmp(old.v[k].date, l->date)) {
                    amount = old.v[k].amount;
                    is_manual = true;
                }
        }
        if (!is_manual) {
            int64_t value;
            size_t len;
            char *sh = shipment_text(o, l->address, l->date, &value, &len);
            rc = sh ? decide_shipping_charge(c, o, sh, len, &amount, err)
                    : err_set(err, ERR_INTERNAL, "out of memory");
            free(sh);
            if (rc < 0) break;
        }
        if (amount <= 0) continue;
        order_charge *ch = vec_push(o->charges);
        if (!ch) {
            rc = err_set(err, ERR_INTERNAL, "out of memory");
            break;
        }
        text_copy(ch->code, sizeof ch->code, c->params->shipping_charge_code);
        snprintf(ch->kind, sizeof ch->kind, "shipping");
        ch->amount = amount;
        ch->manual = is_manual;
        text_copy(ch->address, sizeof ch->address, l->address);
        text_copy(ch->date, sizeof ch->date, l->date);
        /* T1: a charge formed again as it was keeps its tax; else it is decided */
        ch->tax = -1;
        for (size_t k = 0; k < old.n; k++)
            if (old.v[k].amount == amount && !strcmp(old.v[k].address, l->address) &&
                !strcmp(old.v[k].date, l->date))
                ch->tax = old.v[k].tax;
    }
    free(old.v);
    return rc;
}

int flow_invoice_lines(flow_ctx *c, order *o, json_t *lines, order_mode mode, order_invoice **out,
                       err_t *err)
{
    size_t i;
    json_t *j;
    if (json_array_size(lines) == 0)
        return err_field(err, ERR_VALIDATION, "lines", "lines: select at least one line");
    /* Pass 1: shape (bad_request). */
    json_array_foreach(lines, i, j)
    {
        char p[64];
        int64_t v;
        args_index(p, sizeof p, "lines", i);
        if (!json_is_object(j))
            return err_field(err, ERR_BAD_REQUEST, p, "%s: expected an object", p);
        if (args_int(j, p, "line", true, INT64_MIN, INT64_MAX, &v, err) < 0 ||
            args_int(j, p, "qty", true, INT64_MIN, INT64_MAX, &v, err) < 0)
            return -1;
    }
    /* Pass 2: the lines exist (not_found), then the rules (validation). */
    json_array_foreach(lines, i, j)
    {
        int64_t n = json_integer_value(json_object_get(j, "line"));
        if (n < 1 || n > INT32_MAX || !order_find_line(o, (int)n)) {
            char p[64];
            snprintf(p, sizeof p, "lines[%zu].line", i);
            return err_field(err, ERR_NOT_FOUND, p, "%s: order %s has no line %lld", p, o->number,
                             (long long)n);
        }
    }
    order_invoice *inv = vec_push(o->invoices);
    if (!inv) return err_set(err, ERR_INTERNAL, "out of memory");
    inv->id = o->next_invoice++;
    text_copy(inv->kind, sizeof inv->kind, mode == MODE_SHIP ? "ship" : "pickup");
    text_copy(inv->at, sizeof inv->at, c->now_iso);
    json_array_foreach(lines, i, j)
    {
        char p[64];
        order_line *l = order_find_line(o, (int)json_integer_value(json_object_get(j, "line")));
        int64_t qty = json_integer_value(json_object_get(j, "qty"));
        snprintf(p, sizeof p, "lines[%zu].line", i);
        if (l->mode != mode)
            return err_field(err, ERR_VALIDATION, p, "%s: line %d is a %s line, not %s", p, l->line,
                             order_mode_name(l->mode), order_mode_name(mode));
        if (mode == MODE_PICKUP && strcmp(l->store, c->s->store))
            return err_field(err, ERR_VALIDATION, p,
                             "%s: line %d is picked up at store %s, not here (%s)", p, l->line,
                             l->store, c->s->store);
        for (size_t k = 0; k < inv->lines.n; k++)
            if (inv->lines.v[k].line == l->line)
                return err_field(err, ERR_VALIDATION, p, "%s: line %d is listed twice", p, l->line);
        snprintf(p, sizeof p, "lines[%zu].qty", i);
        int64_t open = order_line_open(l);
        if (qty < 1 || qty > open)
            return err_field(err, ERR_VALIDATION, p,
                             "%s: %lld is not between 1 and the open quantity %lld of line %d", p,
                             (long long)qty, (long long)open, l->line);
        order_inv_line *il = vec_push(inv->lines);
        if (!il) return err_set(err, ERR_INTERNAL, "out of memory");
        il->line = l->line;
        il->qty = qty;
        /* T2: its share of the line's open tax; the last takes the rest */
        int64_t open_tax = order_line_open_tax(l);
        il->tax = open_tax;
        if (qty < open) money_muldiv(open_tax, qty, open, &il->tax);
        il->amount = order_gross(o, l->unit_price * qty, il->tax);
        l->qty_invoiced += qty;
        l->tax_invoiced += il->tax;
        inv->amount += il->amount;
        inv->tax += il->tax;
    }
    /* F5: the first invoice of a shipment carries its shipping charge. */
    if (mode == MODE_SHIP) {
        for (size_t k = 0; k < inv->lines.n; k++) {
            order_line *l = order_find_line(o, inv->lines.v[k].line);
            order_charge *ch = charge_for(o, l->address, l->date, false);
            if (ch) {
                int64_t gross = order_gross(o, ch->amount, ch->tax);
                ch->invoice = inv->id;
                inv->charges += gross;
                inv->amount += gross;
                if (ch->tax > 0) inv->tax += ch->tax;
            }
        }
    }
    *out = inv;
    return 0;
}

/* http_pages.c: the customer-orders overview's HTML (SPEC OP2): the
 * sign-in form, the list of orders with order.find's filters, and one
 * order. Server-rendered, one small inline stylesheet, no script; made
 * for a tablet at the counter (viewport, large touch targets). Every value
 * from an answer goes through html_put (or html_put_url in a link). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "net/html.h"
#include "net/http_int.h"

static const char style[] =
    "body{font:18px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#f6f6f4}"
    "header{background:#2c4a3e;color:#fff;padding:12px 16px;display:flex;flex-wrap:wrap;"
    "gap:12px;align-items:center;justify-content:space-between}"
    "header a{color:#fff}main{padding:16px;max-width:1200px}"
    "h1{font-size:24px;margin:8px 0}h2{font-size:20px;margin:20px 0 8px}"
    "input,select,button{font-size:18px;min-height:48px;padding:6px 10px;box-sizing:border-box}"
    "button,a.button{min-width:96px;background:#2c4a3e;color:#fff;border:0;border-radius:6px;"
    "cursor:pointer}"
    "form.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:end}"
    "form.filters label,form.signin label{display:flex;flex-direction:column;font-size:15px}"
    "form.signin{display:flex;flex-direction:column;gap:14px;max-width:360px}"
    "table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0}"
    "th,td{text-align:left;padding:10px 8px;border-bottom:1px solid #ddd;vertical-align:top}"
    "td.n,th.n{text-align:right}td a{display:inline-block;min-height:32px;padding:6px 0}"
    ".error{background:#fde8e8;border:1px solid #e0a0a0;padding:10px;border-radius:6px}"
    ".muted{color:#666;font-size:15px}dl{display:grid;grid-template-columns:max-content 1fr;"
    "gap:4px 16px}dt{color:#555}dd{margin:0}"
    "label.check{flex-direction:row!important;align-items:center;gap:8px;min-height:48px}"
    "label.check input{width:28px;height:28px}";

static void put(struct evbuffer *b, const char *raw)
{
    evbuffer_add(b, raw, strlen(raw));
}

static void page_begin(struct evbuffer *b, const char *title, const session *s)
{
    put(b, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           "<title>");
    html_put(b, title);
    put(b, " · corder</title><style>");
    put(b, style);
    put(b, "</style></head><body><header><strong><a href=\"/orders\">Customer orders</a>"
           "</strong>");
    if (s && s->signed_in) {
        put(b, "<span>Store ");
        html_put(b, s->store);
        put(b, " · ");
        html_put(b, s->name);
        put(b, " (");
        html_put(b, s->staff);
        put(b, ")</span><form method=\"post\" action=\"/logout\"><button type=\"submit\">"
               "Sign out</button></form>");
    }
    put(b, "</header><main>");
}

static void page_end(struct evbuffer *b)
{
    put(b, "</main></body></html>\n");
}

static const char *str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

/* An amount in minor units as 1234.56 (the currencies here have cents). */
static void put_money(struct evbuffer *b, json_t *v)
{
    if (!json_is_integer(v)) return;
    json_int_t a = json_integer_value(v);
    const char *sign = a < 0 ? "-" : "";
    uint64_t m = a < 0 ? (uint64_t)(-(a + 1)) + 1 : (uint64_t)a;
    evbuffer_add_printf(b, "%s%" PRIu64 ".%02" PRIu64, sign, m / 100, m % 100);
}

static void put_int(struct evbuffer *b, json_t *v)
{
    if (json_is_integer(v)) evbuffer_add_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
}

static void put_date(struct evbuffer *b, const char *iso)
{
    char d[11] = {0};
    strncpy(d, iso, 10);
    html_put(b, d);
}

static void put_error(struct evbuffer *b, const char *msg)
{
    put(b, "<p class=\"error\" role=\"alert\">");
    html_put(b, msg);
    put(b, "</p>");
}

static void put_input(struct evbuffer *b, const char *label, const char *type, const char *name,
                      const char *value, const char *extra)
{
    put(b, "<label>");
    html_put(b, label);
    put(b, "<input type=\"");
    put(b, type);
    put(b, "\" name=\"");
    put(b, name);
    put(b, "\" value=\"");
    html_put(b, value ? value : "");
    put(b, "\" ");
    put(b, extra);
    put(b, "></label>");
}

void page_signin(struct evbuffer *b, const char *message, const char *store, const char *staff)
{
    page_begin(b, "Sign in", NULL);
    put(b, "<h1>Sign in</h1>");
    if (message) put_error(b, message);
    put(b, "<form class=\"signin\" method=\"post\" action=\"/login\">");
    put_input(b, "Store", "text", "store", store, "required autocomplete=\"off\" maxlength=\"31\"");
    put_input(b, "Staff id", "text", "staff", staff,
              "required autocomplete=\"username\" maxlength=\"31\"");
    put_input(b, "PIN", "password", "pin", NULL,
              "required inputmode=\"numeric\" autocomplete=\"current-password\" maxlength=\"64\"");
    put(b, "<button type=\"submit\" id=\"signin\">Sign in</button></form>");
    page_end(b);
}

void page_message(struct evbuffer *b, const session *s, const char *title, const char *message)
{
    page_begin(b, title, s);
    put(b, "<h1>");
    html_put(b, title);
    put(b, "</h1>");
    put_error(b, message);
    put(b, "<p><a href=\"/orders\">Back to the orders</a></p>");
    page_end(b);
}

static const char *const statuses[] = {"quote",    "open",      "partially_invoiced",
                                       "invoiced", "cancelled", NULL};

static void put_delivery(struct evbuffer *b, json_t *d)
{
    const char *mode = str(d, "mode");
    html_put(b, mode);
    if (!strcmp(mode, "ship")) {
        put(b, " to ");
        html_put(b, str(d, "address"));
    } else if (!strcmp(mode, "pickup")) {
        put(b, " at ");
        html_put(b, str(d, "store"));
    }
    if (*str(d, "date")) {
        put(b, " on ");
        html_put(b, str(d, "date"));
    }
    if (*str(d, "method")) {
        put(b, " (");
        html_put(b, str(d, "method"));
        put(b, ")");
    }
}

void page_orders(struct evbuffer *b, const session *s, const http_filters *f, json_t *resp)
{
    page_begin(b, "Orders", s);
    put(b, "<h1>Orders</h1><form class=\"filters\" method=\"get\" action=\"/orders\">"
           "<label>Status<select name=\"status\" id=\"status\"><option value=\"\">any</option>");
    for (int i = 0; statuses[i]; i++) {
        put(b, "<option value=\"");
        put(b, statuses[i]);
        put(b, f->status && !strcmp(f->status, statuses[i]) ? "\" selected>" : "\">");
        put(b, statuses[i]);
        put(b, "</option>");
    }
    put(b, "</select></label>");
    put_input(b, "Search", "search", "q", f->q, "id=\"q\" placeholder=\"number, customer, item\"");
    put_input(b, "Pickup store", "text", "pickup_store", f->pickup_store,
              "id=\"pickup_store\" maxlength=\"31\"");
    put_input(b, "From", "date", "from", f->from, "id=\"from\"");
    put_input(b, "To", "date", "to", f->to, "id=\"to\"");
    put(b, "<label class=\"check\"><input type=\"checkbox\" name=\"open\" value=\"1\" id=\"open\"");
    put(b, f->open ? " checked" : "");
    put(b, ">Open only</label><button type=\"submit\" id=\"filter\">Filter</button></form>");
    json_t *orders = json_object_get(json_object_get(resp, "result"), "orders");
    if (!json_is_true(json_object_get(resp, "ok")) || !json_is_array(orders)) {
        const char *m =
            json_string_value(json_object_get(json_object_get(resp, "error"), "message"));
        put_error(b, m ? m : "the server could not answer");
        page_end(b);
        return;
    }
    evbuffer_add_printf(b, "<p class=\"muted\" id=\"count\">%zu orders</p>",
                        json_array_size(orders));
    put(b, "<table id=\"orders\"><thead><tr><th>Number</th><th>Created</th><th>Status</th>"
           "<th>Customer</th><th class=\"n\">Total</th><th class=\"n\">Balance</th>"
           "<th>Sync</th></tr></thead><tbody>");
    size_t i;
    json_t *o;
    json_array_foreach(orders, i, o)
    {
        put(b, "<tr><td><a href=\"/orders/");
        html_put_url(b, str(o, "number"));
        put(b, "\">");
        html_put(b, str(o, "number"));
        put(b, "</a></td><td>");
        put_date(b, str(o, "created_at"));
        put(b, "</td><td>");
        html_put(b, str(o, "status"));
        put(b, "</td><td>");
        html_put(b, str(o, "customer"));
        put(b, "</td><td class=\"n\">");
        put_money(b, json_object_get(json_object_get(o, "totals"), "order"));
        put(b, " ");
        html_put(b, str(o, "currency"));
        put(b, "</td><td class=\"n\">");
        put_money(b, json_object_get(o, "balance"));
        put(b, "</td><td>");
        html_put(b, str(json_object_get(o, "sync"), "state"));
        put(b, "</td></tr>");
    }
    put(b, "</tbody></table>");
    page_end(b);
}

static void dl_item(struct evbuffer *b, const char *term, const char *value)
{
    put(b, "<dt>");
    html_put(b, term);
    put(b, "</dt><dd>");
    html_put(b, value);
    put(b, "</dd>");
}

static void dl_money(struct evbuffer *b, const char *term, json_t *v)
{
    put(b, "<dt>");
    html_put(b, term);
    put(b, "</dt><dd>");
    put_money(b, v);
    put(b, "</dd>");
}

static void put_lines_of(struct evbuffer *b, json_t *lines)
{
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        if (i) put(b, ", ");
        put(b, "line ");
        put_int(b, json_object_get(l, "line"));
        put(b, " × ");
        put_int(b, json_object_get(l, "qty"));
        if (*str(l, "reason")) {
            put(b, " (");
            html_put(b, str(l, "reason"));
            put(b, ")");
        }
    }
}

void page_order(struct evbuffer *b, const session *s, json_t *order_resp, json_t *customer_resp,
                json_t *history_resp)
{
    json_t *o = json_object_get(order_resp, "result");
    json_t *cust = json_object_get(customer_resp, "result");
    page_begin(b, str(o, "number"), s);
    put(b, "<p><a href=\"/orders\">← All orders</a></p><h1 id=\"number\">Order ");
    html_put(b, str(o, "number"));
    put(b, "</h1><dl>");
    dl_item(b, "Status", str(o, "status"));
    dl_item(b, "Type", str(o, "type"));
    dl_item(b, "Store", str(o, "store"));
    dl_item(b, "Created", str(o, "created_at"));
    dl_item(b, "Created by", str(o, "created_by"));
    put(b, "<dt>Customer</dt><dd id=\"customer\">");
    if (json_is_string(json_object_get(o, "customer"))) {
        html_put(b, str(o, "customer"));
        if (cust) {
            put(b, " · ");
            html_put(b, str(cust, "name"));
        }
    } else {
        put(b, "cash and carry");
    }
    put(b, "</dd>");
    dl_item(b, "Currency", str(o, "currency"));
    json_t *t = json_object_get(o, "totals");
    dl_money(b, "Total", json_object_get(t, "order"));
    dl_money(b, "Paid", json_object_get(o, "paid"));
    dl_money(b, "Refunded", json_object_get(o, "refunded"));
    dl_money(b, "On account", json_object_get(o, "on_account"));
    dl_money(b, "Balance", json_object_get(o, "balance"));
    json_t *sync = json_object_get(o, "sync");
    put(b, "<dt>Sync</dt><dd id=\"sync\">");
    html_put(b, str(sync, "state"));
    put(b, ", ");
    put_int(b, json_object_get(sync, "attempts"));
    put(b, " attempts");
    if (*str(sync, "hq_order")) {
        put(b, ", HQ order ");
        html_put(b, str(sync, "hq_order"));
    }
    if (*str(sync, "error")) {
        put(b, ", error: ");
        html_put(b, str(sync, "error"));
    }
    put(b, "</dd></dl>");

    put(b, "<h2>Lines</h2><table id=\"lines\"><thead><tr><th>#</th><th>Item</th><th>Name</th>"
           "<th class=\"n\">Qty</th><th class=\"n\">Price</th><th class=\"n\">Amount</th>"
           "<th>Delivery</th><th>Invoiced / returned / cancelled</th><th>Status</th></tr>"
           "</thead><tbody>");
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(o, "lines"), i, l)
    {
        put(b, "<tr><td>");
        put_int(b, json_object_get(l, "line"));
        put(b, "</td><td>");
        html_put(b, str(l, "item"));
        put(b, "</td><td>");
        html_put(b, str(l, "name"));
        put(b, "</td><td class=\"n\">");
        put_int(b, json_object_get(l, "qty"));
        put(b, "</td><td class=\"n\">");
        put_money(b, json_object_get(l, "unit_price"));
        put(b, "</td><td class=\"n\">");
        put_money(b, json_object_get(l, "amount"));
        put(b, "</td><td>");
        put_delivery(b, json_object_get(l, "delivery"));
        put(b, "</td><td>");
        put_int(b, json_object_get(l, "qty_invoiced"));
        put(b, " / ");
        put_int(b, json_object_get(l, "qty_returned"));
        put(b, " / ");
        put_int(b, json_object_get(l, "qty_cancelled"));
        put(b, "</td><td>");
        html_put(b, str(l, "status"));
        put(b, "</td></tr>");
    }
    put(b, "</tbody></table>");

    put(b, "<h2>Charges</h2><table id=\"charges\"><thead><tr><th>Code</th><th>Kind</th>"
           "<th class=\"n\">Amount</th><th>Invoiced</th></tr></thead><tbody>");
    json_array_foreach(json_object_get(o, "charges"), i, l)
    {
        put(b, "<tr><td>");
        html_put(b, str(l, "code"));
        put(b, "</td><td>");
        html_put(b, str(l, "kind"));
        if (json_is_true(json_object_get(l, "waived"))) put(b, " (waived)");
        put(b, "</td><td class=\"n\">");
        put_money(b, json_object_get(l, "amount"));
        put(b, "</td><td>");
        put(b, json_is_true(json_object_get(l, "invoiced")) ? "yes" : "no");
        put(b, "</td></tr>");
    }
    put(b, "</tbody></table>");

    put(b, "<h2>Invoices</h2><table id=\"invoices\"><thead><tr><th>#</th><th>Kind</th>"
           "<th>Lines</th><th class=\"n\">Amount</th><th class=\"n\">Paid</th><th>At</th>"
           "</tr></thead><tbody>");
    json_array_foreach(json_object_get(o, "invoices"), i, l)
    {
        put(b, "<tr><td>");
        put_int(b, json_object_get(l, "id"));
        put(b, "</td><td>");
        html_put(b, str(l, "kind"));
        put(b, "</td><td>");
        put_lines_of(b, json_object_get(l, "lines"));
        put(b, "</td><td class=\"n\">");
        put_money(b, json_object_get(l, "amount"));
        put(b, "</td><td class=\"n\">");
        put_money(b, json_object_get(l, "paid"));
        put(b, "</td><td>");
        html_put(b, str(l, "at"));
        put(b, "</td></tr>");
    }
    put(b, "</tbody></table>");

    put(b, "<h2>Returns</h2><table id=\"returns\"><thead><tr><th>#</th><th>Invoice</th>"
           "<th>Lines</th><th class=\"n\">Refund</th><th>At</th></tr></thead><tbody>");
    json_array_foreach(json_object_get(o, "returns"), i, l)
    {
        put(b, "<tr><td>");
        put_int(b, json_object_get(l, "id"));
        put(b, "</td><td>");
        put_int(b, json_object_get(l, "invoice"));
        put(b, "</td><td>");
        put_lines_of(b, json_object_get(l, "lines"));
        put(b, "</td><td class=\"n\">");
        put_money(b, json_object_get(l, "refund"));
        put(b, "</td><td>");
        html_put(b, str(l, "at"));
        put(b, "</td></tr>");
    }
    put(b, "</tbody></table>");

    put(b, "<h2>History</h2><table id=\"history\"><thead><tr><th>#</th><th>At</th>"
           "<th>Store</th><th>Staff</th><th>Op</th><th>Status after</th>"
           "<th class=\"n\">Total after</th></tr></thead><tbody>");
    json_t *events = json_object_get(json_object_get(history_resp, "result"), "events");
    json_array_foreach(events, i, l)
    {
        json_t *r = json_object_get(l, "result");
        put(b, "<tr><td>");
        put_int(b, json_object_get(l, "seq"));
        put(b, "</td><td>");
        html_put(b, str(l, "at"));
        put(b, "</td><td>");
        html_put(b, str(l, "store"));
        put(b, "</td><td>");
        html_put(b, str(l, "staff"));
        put(b, "</td><td>");
        html_put(b, str(l, "op"));
        put(b, "</td><td>");
        html_put(b, str(r, "status"));
        put(b, "</td><td class=\"n\">");
        put_money(b, json_object_get(r, "total"));
        put(b, "</td></tr>");
    }
    put(b, "</tbody></table>");
    if (!json_is_true(json_object_get(history_resp, "ok"))) {
        const char *m =
            json_string_value(json_object_get(json_object_get(history_resp, "error"), "message"));
        put_error(b, m ? m : "the history could not be read");
    }
    page_end(b);
}

/* flow_query.c: F3 find and get, F8 history: the read-only ops. */
#include "flows/flow.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model/args.h"
#include "model/search.h"
#include "store/txlog.h"
#include "store/orders.h"

/* The ops whose only argument is the order number. */
static order *load_numbered(flow_ctx *c, err_t *err)
{
    const char *number;
    if (args_str(c->args, "", "number", true, 47, &number, err) < 0) return NULL;
    return flow_load(c, number, err);
}

int flow_get(flow_ctx *c, json_t **result, err_t *err)
{
    order *o = load_numbered(c, err);
    if (!o) return -1;
    int rc = flow_result_order(c, o, err);
    order_free(o);
    return rc;
}

static const char *const statuses[] = {"quote",    "open",      "partially_invoiced",
                                       "invoiced", "cancelled", NULL};

/* A date filter: absent, or YYYY-MM-DD (validation on the field). */
static int date_check(const char *key, const char *v, err_t *err)
{
    if (v && !engine_valid_date(v))
        return err_field(err, ERR_VALIDATION, key, "%s: '%.32s' is not a date YYYY-MM-DD", key, v);
    return 0;
}

static int find_answer(flow_ctx *c, const orders_filter *f, err_t *err);

int flow_find(flow_ctx *c, json_t **result, err_t *err)
{
    const char *customer = NULL, *status = NULL, *store = NULL, *from = NULL, *to = NULL;
    const char *q = NULL, *pickup_store = NULL, *pickup_from = NULL, *pickup_to = NULL;
    bool open = false;
    int open_arg;
    int64_t limit = 50;
    search_query sq;
    /* Every type and range first (bad_request ranks before validation);
     * q and the dates are read at any length, so that a long one is
     * validation on its field. */
    if (args_str(c->args, "", "q", false, SIZE_MAX, &q, err) < 0 ||
        args_str(c->args, "", "customer", false, 63, &customer, err) < 0 ||
        args_str(c->args, "", "status", false, 31, &status, err) < 0 ||
        args_str(c->args, "", "store", false, 31, &store, err) < 0 ||
        args_str(c->args, "", "pickup_store", false, 31, &pickup_store, err) < 0 ||
        args_str(c->args, "", "pickup_from", false, SIZE_MAX, &pickup_from, err) < 0 ||
        args_str(c->args, "", "pickup_to", false, SIZE_MAX, &pickup_to, err) < 0 ||
        (open_arg = args_bool(c->args, "", "open", false, &open, err)) < 0 ||
        args_str(c->args, "", "from", false, SIZE_MAX, &from, err) < 0 ||
        args_str(c->args, "", "to", false, SIZE_MAX, &to, err) < 0 ||
        args_int(c->args, "", "limit", false, 1, 500, &limit, err) < 0)
        return -1;
    if (q && search_query_make(q, "q", &sq, err) < 0) return -1;
    if (status) {
        bool ok = false;
        for (const char *const *s = statuses; *s; s++)
            ok |= !strcmp(*s, status);
        if (!ok)
            return err_field(err, ERR_VALIDATION, "status", "status: '%s' is not an order status",
                             status);
    }
    if (date_check("pickup_from", pickup_from, err) < 0 ||
        date_check("pickup_to", pickup_to, err) < 0 || date_check("from", from, err) < 0 ||
        date_check("to", to, err) < 0)
        return -1;
    orders_filter f = {
        customer,      status,       store,       from,      to,
        limit,         pickup_store, pickup_from, pickup_to, open_arg > 0 ? open : -1,
        q ? &sq : NULL};
    /* one snapshot and one lock for the search and every order it loads */
    int read = engine_read_begin(c->e, err);
    if (read < 0) return -1;
    int rc = find_answer(c, &f, err);
    engine_read_end(c->e, read);
    return rc;
}

/* The orders f finds, written as the answer. */
static int find_answer(flow_ctx *c, const orders_filter *f, err_t *err)
{
    json_t *numbers = orders_find(c->e, f, err);
    if (!numbers) return -1;
    jsonw w = {0};
    jw_obj(&w);
    jw_key(&w, "orders");
    jw_arr(&w);
    size_t i;
    json_t *n;
    json_array_foreach(numbers, i, n)
    {
        order *o = flow_load(c, json_string_value(n), err);
        if (!o) {
            json_decref(numbers);
            jw_discard(&w);
            return -1;
        }
        order_write(&w, o, ORDER_WIRE);
        order_free(o);
    }
    json_decref(numbers);
    jw_end_arr(&w);
    jw_end_obj(&w);
    c->result_text = jw_finish(&w, &c->result_len);
    return c->result_text ? 0 : err_set(err, ERR_INTERNAL, "out of memory writing the result");
}

int flow_history(flow_ctx *c, json_t **result, err_t *err)
{
    order *o = load_numbered(c, err);
    if (!o) return -1;
    int rc = txlog_history(c->e, o->number, result, err);
    order_free(o);
    return rc;
}

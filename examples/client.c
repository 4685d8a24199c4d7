/* client.c: a corder client in C with libevent and jansson. Signs in and
 * walks one hybrid order through its life: create (ship + pickup + carry-out
 * lines), a partial pickup by someone the customer sends (a pickup contact),
 * a return, a cancel, printing each step. Each
 * answer triggers the next request, the way an event-driven till would work.
 *
 *   client PORT [HOST]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

enum step { LOGIN, CREATE, PICKUP, RETURN, CANCEL, DONE };

typedef struct {
    struct event_base *base;
    struct bufferevent *bev;
    enum step step;
    json_t *args; /* the request in flight, kept to retry it with payment */
    const char *op;
    int id;
    char number[64];
    json_t *invoice; /* the pickup's invoice id */
    int status;      /* exit status */
} walk;

static void date_in(int days, char out[11])
{
    time_t t = time(NULL) + (time_t)days * 86400;
    strftime(out, 11, "%Y-%m-%d", gmtime(&t));
}

/* Sends op with args (stolen) and remembers both for a retry. */
static void send_req(walk *w, const char *op, json_t *args)
{
    json_decref(w->args);
    w->args = args;
    w->op = op;
    json_t *req = json_pack("{s:i,s:s,s:O}", "id", ++w->id, "op", op, "args", args);
    char *text = json_dumps(req, JSON_COMPACT);
    evbuffer_add_printf(bufferevent_get_output(w->bev), "%s\n", text);
    free(text);
    json_decref(req);
}

static void show(const char *step, json_t *o)
{
    json_t *t = json_object_get(o, "totals");
    printf("%-8s %s  %-18s v%lld  total %lld  paid %lld  refunded %lld  balance %lld\n", step,
           json_string_value(json_object_get(o, "number")),
           json_string_value(json_object_get(o, "status")),
           json_integer_value(json_object_get(o, "version")),
           json_integer_value(json_object_get(t, "order")),
           json_integer_value(json_object_get(o, "paid")),
           json_integer_value(json_object_get(o, "refunded")),
           json_integer_value(json_object_get(o, "balance")));
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(o, "lines"), i, l)
    {
        printf("           line %lld  %-5s x%lld  %-8s %-18s invoiced %lld returned %lld "
               "cancelled %lld\n",
               json_integer_value(json_object_get(l, "line")),
               json_string_value(json_object_get(l, "item")),
               json_integer_value(json_object_get(l, "qty")),
               json_string_value(json_object_get(json_object_get(l, "delivery"), "mode")),
               json_string_value(json_object_get(l, "status")),
               json_integer_value(json_object_get(l, "qty_invoiced")),
               json_integer_value(json_object_get(l, "qty_returned")),
               json_integer_value(json_object_get(l, "qty_cancelled")));
    }
}

static json_t *hybrid_order(void)
{
    char ship[11], pickup[11];
    date_in(7, ship);
    date_in(2, pickup);
    /* the customer's neighbour will collect the chairs (SPEC F9) */
    return json_pack("{s:s,s:s,s:[{s:s,s:i,s:{s:s,s:s,s:s}},{s:s,s:i,s:{s:s,s:s,s:s}},"
                     "{s:s,s:i,s:{s:s}}],s:[{s:s,s:s}]}",
                     "customer", "C0001", "type", "order", "lines", "item", "P100", "qty", 1,
                     "delivery", "mode", "ship", "address", "home", "date", ship, "item", "P200",
                     "qty", 2, "delivery", "mode", "pickup", "store", "S001", "date", pickup,
                     "item", "P300", "qty", 1, "delivery", "mode", "carryout", "pickup_contacts",
                     "name", "Fleur de Wit", "phone", "+31 6 5555 0101");
}

/* The next request of the walk, given the result of the previous one. */
static void advance(walk *w, json_t *result)
{
    switch (w->step) {
    case LOGIN:
        printf("signed in as %s at S001\n",
               json_string_value(json_object_get(result, "name"))
                   ?: json_string_value(json_object_get(result, "staff")));
        w->step = CREATE;
        send_req(w, "order.create", hybrid_order());
        break;
    case CREATE:
        show("create", result);
        snprintf(w->number, sizeof w->number, "%s",
                 json_string_value(json_object_get(result, "number")));
        w->step = PICKUP;
        send_req(w, "order.pickup",
                 json_pack("{s:s,s:[{s:i,s:i}],s:{s:s,s:b,s:s}}", "number", w->number, "lines",
                           "line", 2, "qty", 1, "collected_by", "name", "fleur de wit",
                           "id_checked", 1, "id_ref", "passport 1234"));
        break;
    case PICKUP:
        show("pickup", json_object_get(result, "order"));
        printf("           collected by %s\n",
               json_string_value(json_object_get(
                   json_object_get(json_object_get(result, "invoice"), "collected_by"), "name")));
        w->invoice = json_incref(json_object_get(json_object_get(result, "invoice"), "id"));
        w->step = RETURN;
        send_req(w, "order.return",
                 json_pack("{s:s,s:O,s:[{s:i,s:i,s:s}]}", "number", w->number, "invoice",
                           w->invoice, "lines", "line", 2, "qty", 1, "reason", "damaged"));
        break;
    case RETURN:
        show("return", json_object_get(result, "order"));
        printf("           refund %lld\n",
               json_integer_value(json_object_get(json_object_get(result, "return"), "refund")));
        w->step = CANCEL;
        send_req(w, "order.cancel",
                 json_pack("{s:s,s:s}", "number", w->number, "reason", "customer changed mind"));
        break;
    case CANCEL: {
        json_t *c = json_object_get(result, "cancellation");
        show("cancel", json_object_get(result, "order"));
        printf("           cancellation charge %lld  refund %lld\n",
               json_integer_value(json_object_get(c, "charge")),
               json_integer_value(json_object_get(c, "refund")));
        w->step = DONE;
        w->status = 0;
        event_base_loopexit(w->base, NULL);
        break;
    }
    case DONE:
        break;
    }
}

/* payment_mismatch tells what is due: pay it by card and ask again. */
static int retry_paying(walk *w, json_t *error)
{
    json_t *due = json_object_get(json_object_get(error, "details"), "due");
    if (!json_is_integer(due) || json_object_get(w->args, "payments")) return -1;
    printf("  %s: %lld due, paying by card\n", w->op, json_integer_value(due));
    if (json_integer_value(due) > 0)
        json_object_set_new(w->args, "payments",
                            json_pack("[{s:s,s:O}]", "tender", "card", "amount", due));
    send_req(w, w->op, json_incref(w->args));
    return 0;
}

static void on_answer(walk *w, json_t *resp)
{
    if (json_is_true(json_object_get(resp, "ok"))) {
        advance(w, json_object_get(resp, "result"));
        return;
    }
    json_t *error = json_object_get(resp, "error");
    const char *code = json_string_value(json_object_get(error, "code"));
    if (code && !strcmp(code, "payment_mismatch") && retry_paying(w, error) == 0) return;
    fprintf(stderr, "client: %s failed: %s: %s\n", w->op, code ?: "?",
            json_string_value(json_object_get(error, "message")) ?: "");
    event_base_loopexit(w->base, NULL);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    walk *w = arg;
    char *line;
    size_t len;
    while ((line = evbuffer_readln(bufferevent_get_input(bev), &len, EVBUFFER_EOL_LF))) {
        json_error_t jerr;
        json_t *resp = json_loadb(line, len, 0, &jerr);
        free(line);
        if (!resp) {
            fprintf(stderr, "client: unreadable answer: %s\n", jerr.text);
            event_base_loopexit(w->base, NULL);
            return;
        }
        on_answer(w, resp);
        json_decref(resp);
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    walk *w = arg;
    if (what & BEV_EVENT_CONNECTED) {
        send_req(w, "session.login",
                 json_pack("{s:s,s:s,s:s}", "store", "S001", "staff", "1001", "pin", "1234"));
        return;
    }
    fprintf(stderr, "client: connection %s\n", (what & BEV_EVENT_EOF) ? "closed" : "failed");
    event_base_loopexit(w->base, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: client PORT [HOST]\n");
        return 2;
    }
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    if (inet_pton(AF_INET, argc > 2 ? argv[2] : "127.0.0.1", &sin.sin_addr) != 1) {
        fprintf(stderr, "client: bad host\n");
        return 2;
    }
    walk w = {.status = 1};
    w.base = event_base_new();
    w.bev = bufferevent_socket_new(w.base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(w.bev, read_cb, NULL, event_cb, &w);
    bufferevent_enable(w.bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(w.bev, (struct sockaddr *)&sin, sizeof sin) < 0) {
        fprintf(stderr, "client: cannot connect\n");
        return 1;
    }
    event_base_dispatch(w.base);
    json_decref(w.args);
    json_decref(w.invoice);
    bufferevent_free(w.bev);
    event_base_free(w.base);
    return w.status;
}

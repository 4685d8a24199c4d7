/* test_policy_view.c: what hooks get, through the engine's own flows
 * (SPEC L1, F8; POLICY.md "order").
 *
 *   - L1: a store whose policy leaves every hook out (policies/default.lua)
 *     makes no call into Lua at all: create, pickup, ship, return and
 *     cancel are decided by the rules in C (policy_lua_calls does not move,
 *     every decision says by = "default");
 *   - F8 and replay: a hook reads the order built from its structs, only
 *     as far as it reads it (bindings/host/policy_view.c); walked whole, it
 *     is the full view (lines, charges, customer, invoices, returns,
 *     payments, totals), for every hook the flows ask; the decision logs
 *     the other arguments exactly (the tax item's destination included)
 *     and names the order by reference ("$order", or "$order_before" for
 *     a cancellation's and a return's questions), which replay reads back;
 *   - the view is the hook's own table: what it sets (nil included) stays
 *     as it set it, pairs walks every field, and a view kept past its call
 *     raises an error rather than read the flow's memory;
 *   - so are its lines, their deliveries and its charges (built field by
 *     field as read): a line's delivery is the same table on every read,
 *     what the hook sets in a line stays, pairs on the order or a line
 *     makes them plain tables that read on after the call, a line kept
 *     unwalked raises in a later call; an order with more lines than the
 *     view keeps records for gets the rest whole, with the same values;
 *   - ctx.params reads the policy's parameters; what a hook writes into
 *     it (nil included), nested tables too, the next call does not see. */
#include <jansson.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/policy_int.h"
#include "ops/dispatch.h"
#include "store/engine.h"
#include "store/seed.h"
#include "t.h"

static char dir[] = "/tmp/corder-test-view.XXXXXX";
/* The spy policy's state: a request refused for its payments asked the
 * hooks too, and logged nothing; what the spy saw of it is forgotten. */
static lua_State *spy;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Writes src to path and loads it (NULL, and a failed check, if it does
 * not load). */
static policy *load_text(const char *path, const char *src)
{
    write_file(path, src);
    err_t err;
    policy *p = policy_load_file(path, NULL, &err);
    CHECK(p != NULL, "%s: %s", path, err.message);
    return p;
}

static json_t *call(engine *e, session *s, json_t *req)
{
    char *line = json_dumps(req, JSON_COMPACT);
    bool w;
    size_t n;
    json_t *id;
    char *text = dispatch_line_text(e, s, line, strlen(line), &w, &n, &id);
    json_decref(id);
    free(line);
    json_t *r = text ? json_loadb(text, n, 0, NULL) : NULL;
    free(text);
    return r;
}

/* Runs op with args (stolen); pays what it asks for (payment_mismatch's
 * due) and asks again. Returns the result, owned. */
static lua_Integer seen_count(void)
{
    psb_push_env(spy);
    lua_getfield(spy, -1, "SEEN");
    lua_Integer n = (lua_Integer)lua_rawlen(spy, -1);
    lua_settop(spy, 0);
    return n;
}

static void seen_cut(lua_Integer n)
{
    psb_push_env(spy);
    lua_getfield(spy, -1, "SEEN");
    for (lua_Integer i = (lua_Integer)lua_rawlen(spy, -1); i > n; i--) {
        lua_pushnil(spy);
        lua_rawseti(spy, -2, i);
    }
    lua_settop(spy, 0);
}

static json_t *run(engine *e, session *s, const char *op, json_t *args)
{
    lua_Integer n0 = spy ? seen_count() : 0;
    json_t *req = json_pack("{s:s, s:o}", "op", op, "args", args);
    json_t *r = call(e, s, req);
    json_t *err = json_object_get(r, "error");
    if (err && !strcmp(json_string_value(json_object_get(err, "code")), "payment_mismatch")) {
        json_int_t due =
            json_integer_value(json_object_get(json_object_get(err, "details"), "due"));
        json_object_set_new(args, "payments",
                            json_pack("[{s:s, s:I}]", "tender", "cash", "amount", due));
        json_decref(r);
        if (spy) seen_cut(n0);
        r = call(e, s, req);
    }
    json_decref(req);
    json_t *ok = json_object_get(r, "result");
    CHECK(json_is_true(json_object_get(r, "ok")), "%s: %s", op,
          json_string_value(json_object_get(json_object_get(r, "error"), "message")));
    json_incref(ok);
    json_decref(r);
    return ok;
}

/* The life of one order: create (ship, pickup and carry-out lines, so a
 * shipping charge, a carry-out invoice, taxes), pickup, ship, a return,
 * then a second order cancelled. Returns the first order's number. */
static char *life(engine *e, session *s, char **cancelled)
{
    json_t *o =
        run(e, s, "order.create",
            json_pack("{s:s, s:[{s:s, s:i, s:{s:s, s:s, s:s}}, {s:s, s:i, s:{s:s, s:s, "
                      "s:s}}, {s:s, s:i, s:{s:s}}]}",
                      "customer", "C0001", "lines", "item", "P100", "qty", 1, "delivery", "mode",
                      "ship", "address", "home", "date", "2099-03-01", "item", "P200", "qty", 2,
                      "delivery", "mode", "pickup", "store", "S001", "date", "2099-03-02", "item",
                      "P300", "qty", 3, "delivery", "mode", "carryout"));
    char *number = strdup(json_string_value(json_object_get(o, "number")));
    json_decref(o);
    json_decref(
        run(e, s, "order.pickup",
            json_pack("{s:s, s:[{s:i, s:i}]}", "number", number, "lines", "line", 2, "qty", 2)));
    json_decref(
        run(e, s, "order.ship",
            json_pack("{s:s, s:[{s:i, s:i}]}", "number", number, "lines", "line", 1, "qty", 1)));
    /* invoice 3 is the ship's (1 the carry-out, 2 the pickup) */
    json_decref(run(e, s, "order.return",
                    json_pack("{s:s, s:i, s:[{s:i, s:i, s:s}]}", "number", number, "invoice", 3,
                              "lines", "line", 1, "qty", 1, "reason", "damaged")));
    o = run(e, s, "order.create",
            json_pack("{s:s, s:[{s:s, s:i, s:{s:s, s:s, s:s}}]}", "customer", "C0001", "lines",
                      "item", "P200", "qty", 4, "delivery", "mode", "pickup", "store", "S001",
                      "date", "2099-03-05"));
    *cancelled = strdup(json_string_value(json_object_get(o, "number")));
    json_decref(o);
    json_decref(run(e, s, "order.cancel", json_pack("{s:s}", "number", *cancelled)));
    return number;
}

/* Every decision of the order's history, in order. */
static json_t *decisions_of(engine *e, session *s, const char *number, json_t *into)
{
    json_t *h = run(e, s, "order.history", json_pack("{s:s}", "number", number));
    json_t *ev;
    size_t i;
    json_array_foreach(json_object_get(h, "events"), i, ev)
    {
        json_t *d;
        size_t k;
        json_array_foreach(json_object_get(ev, "decisions"), k, d) json_array_append(into, d);
    }
    json_decref(h);
    return into;
}

static size_t members(json_t *v)
{
    if (json_is_array(v)) return json_array_size(v);
    size_t n = 0;
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) n += !json_is_null(x);
    return n;
}

/* JSON equality as a hook sees JSON: an empty table (Lua cannot tell)
 * equals [] and {}, and a null member is an absent one. */
static bool same(json_t *a, json_t *b)
{
    bool ac = json_is_array(a) || json_is_object(a), bc = json_is_array(b) || json_is_object(b);
    if (ac && bc) {
        size_t na = members(a), nb = members(b);
        if (na == 0 && nb == 0) return true;
        if (json_typeof(a) != json_typeof(b) || na != nb) return false;
        if (json_is_array(a)) {
            for (size_t i = 0; i < na; i++)
                if (!same(json_array_get(a, i), json_array_get(b, i))) return false;
            return true;
        }
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v) if (!json_is_null(v) &&
                                         !same(v, json_object_get(b, k))) return false;
        return true;
    }
    return json_equal(a, b);
}

/* A hook policy that keeps a deep copy of every argument it gets (walked
 * with pairs, so every field of the order view is built), answers what
 * the default rules would, and taxes at 10 %. */
static const char spy_policy[] =
    "local p = { parameters = { tax_pct = 10 } }\n"
    "SEEN = {}\n"
    "local function copy(v)\n"
    "  if type(v) ~= 'table' then return v end\n"
    "  local t = {}\n"
    "  for k, x in pairs(v) do t[k] = copy(x) end\n"
    "  return t\n"
    "end\n"
    "local function note(hook, ...)\n"
    "  local a = table.pack(...)\n"
    "  local c = {}\n"
    "  for i = 1, a.n - 1 do c[i] = copy(a[i]) end\n"
    "  SEEN[#SEEN + 1] = { hook = hook, args = c }\n"
    "end\n"
    "function p.deposit(order, ctx) note('deposit', order, ctx)\n"
    "  return corder.pct(order.deposit.base, 10) end\n"
    "function p.shipping_charge(s, order, ctx) note('shipping_charge', s, order, ctx)\n"
    "  return 500 end\n"
    "function p.cancellation_charge(order, ctx) note('cancellation_charge', order, ctx)\n"
    "  return corder.pct(order.totals.open, 5) end\n"
    "function p.shipping_refund(r, order, ctx) note('shipping_refund', r, order, ctx)\n"
    "  return r.proportional end\n"
    "function p.tax(item, order, ctx) note('tax', item, order, ctx)\n"
    "  assert(item.destination.mode)\n"
    "  return corder.pct(item.amount, 10) end\n"
    "return p\n";

static void test_no_lua_for_defaults(engine *e, session *s)
{
    unsigned long long before = policy_lua_calls();
    char *cancelled, *number = life(e, s, &cancelled);
    CHECK(policy_lua_calls() == before, "L1: a policy without hooks made %llu Lua calls",
          policy_lua_calls() - before);
    json_t *all = decisions_of(e, s, cancelled, decisions_of(e, s, number, json_array()));
    CHECK(json_array_size(all) >= 4, "decisions were logged (%zu)", json_array_size(all));
    json_t *d;
    size_t i;
    json_array_foreach(all, i, d) CHECK(
        !strcmp(json_string_value(json_object_get(d, "by")), "default"), "decision %s by %s",
        json_string_value(json_object_get(d, "hook")), json_string_value(json_object_get(d, "by")));
    json_decref(all);
    free(number);
    free(cancelled);
}

static void test_hook_sees_the_logged_view(engine *e, session *s, const char *pdir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/default.lua", pdir);
    write_file(path, spy_policy);
    CHECK(policy_host_poll(engine_policies(e)) == 1, "the spy policy loaded");
    err_t err = {0};
    policy *p = policy_acquire(engine_policies(e), "S001", &err);
    CHECK(p && p->L, "acquire: %s", err.message);
    if (!p || !p->L) return;
    unsigned long long before = policy_lua_calls();
    spy = p->L;
    char *cancelled, *number = life(e, s, &cancelled);
    spy = NULL;
    CHECK(policy_lua_calls() > before, "the hooks were called");

    /* What the hooks saw, in the order they were asked. */
    lua_State *L = p->L;
    psb_push_env(L);
    lua_getfield(L, -1, "SEEN");
    char why[256] = "";
    json_t *seen = pcv_to_json(L, -1, 0, why, sizeof why);
    lua_settop(L, 0);
    CHECK(json_is_array(seen), "SEEN: %s", why);

    /* What the log says they were asked (permits aside: not a spy hook). */
    json_t *all = decisions_of(e, s, cancelled, decisions_of(e, s, number, json_array()));
    json_t *logged = json_array(), *d;
    size_t i;
    json_array_foreach(all, i, d)
    {
        const char *hook = json_string_value(json_object_get(d, "hook"));
        if (strcmp(hook, "permits")) json_array_append(logged, d);
        if (strcmp(hook, "permits"))
            CHECK(!strcmp(json_string_value(json_object_get(d, "by")), "policy"), "%s by %s", hook,
                  json_string_value(json_object_get(d, "by")));
    }
    CHECK(json_array_size(seen) == json_array_size(logged), "%zu hook calls, %zu logged",
          json_array_size(seen), json_array_size(logged));
    int hooks_seen[HOOK_COUNT] = {0};
    for (i = 0; i < json_array_size(seen) && i < json_array_size(logged); i++) {
        json_t *got = json_array_get(seen, i), *want = json_array_get(logged, i);
        const char *hook = json_string_value(json_object_get(got, "hook"));
        CHECK(!strcmp(hook, json_string_value(json_object_get(want, "hook"))), "call %zu: %s", i,
              hook);
        for (int h = 0; h < HOOK_COUNT; h++)
            if (!strcmp(hook, policy_hook_name(h))) hooks_seen[h]++;
        json_t *ga = json_object_get(got, "args"), *wa = json_object_get(want, "args");
        size_t n = json_array_size(wa);
        CHECK(n >= 1 && json_array_size(ga) == n, "call %zu (%s): %zu arguments, %zu logged", i,
              hook, json_array_size(ga), n);
        for (size_t k = 0; k + 1 < n; k++) {
            bool eq = same(json_array_get(ga, k), json_array_get(wa, k));
            CHECK(eq, "call %zu (%s): argument %zu is not what was logged", i, hook, k + 1);
            if (!eq) {
                char *g = json_dumps(json_array_get(ga, k), JSON_SORT_KEYS);
                char *w = json_dumps(json_array_get(wa, k), JSON_SORT_KEYS);
                fprintf(stderr, "got:    %s\nlogged: %s\n", g, w);
                free(g);
                free(w);
            }
        }
        /* the order: by reference in the log, whole for the hook */
        bool before = !strcmp(hook, "cancellation_charge") || !strcmp(hook, "shipping_refund");
        const char *ref = json_string_value(json_array_get(wa, n - 1));
        CHECK(ref && !strcmp(ref, before ? "$order_before" : "$order"),
              "call %zu (%s): the order is logged as %s", i, hook, ref ? ref : "a copy");
        json_t *view = json_array_get(ga, n - 1);
        CHECK(json_is_string(json_object_get(view, "number")) &&
                  json_array_size(json_object_get(view, "lines")) > 0 &&
                  json_object_get(json_object_get(view, "totals"), "order"),
              "call %zu (%s): the hook's order is whole", i, hook);
    }
    for (int h = 0; h < HOOK_COUNT; h++)
        CHECK(h == HOOK_PERMITS || hooks_seen[h] > 0, "no %s call seen", policy_hook_name(h));

    /* The views were full: a return's order has its invoices, payments,
     * returns and totals; a tax item its destination with the country. */
    bool rich = false, country = false;
    json_array_foreach(seen, i, d)
    {
        const char *hook = json_string_value(json_object_get(d, "hook"));
        json_t *args = json_object_get(d, "args");
        if (!strcmp(hook, "shipping_refund")) {
            json_t *o = json_array_get(args, 1);
            rich = json_array_size(json_object_get(o, "invoices")) == 3 &&
                   json_array_size(json_object_get(o, "payments")) >= 1 &&
                   json_object_get(json_object_get(o, "totals"), "open") &&
                   json_object_get(json_object_get(o, "customer"), "account");
        }
        if (!strcmp(hook, "tax") &&
            json_object_get(json_object_get(json_array_get(args, 0), "destination"), "country"))
            country = true;
    }
    CHECK(rich, "the return's order view is full");
    CHECK(country, "a tax item names its destination's country");
    json_decref(all);
    json_decref(logged);
    json_decref(seen);
    policy_release(p);
    free(number);
    free(cancelled);
}

/* The view's table semantics, on an order of the engine's own making. */
static const char table_policy[] =
    "local p = {}\n"
    "local kept\n"
    "function p.deposit(order, ctx)\n"
    "  if order.number == 'keep' then\n" /* a view from an earlier call, walked */
    "    return kept.lines[1].qty == 99 and kept.lines[2].delivery.mode == 'pickup'\n"
    "      and kept.lines[2].delivery.date == nil and kept.lines[2].amount == 200 and 1 or 0\n"
    "  end\n"
    "  assert(getmetatable(order) == false, 'metatable hidden')\n"
    "  assert(rawget(order, 'lines') == nil, 'built on read only')\n"
    "  assert(#order.lines == 2 and order.lines[2].delivery.mode == 'pickup')\n"
    "  assert(rawget(order, 'lines') ~= nil, 'kept once built')\n"
    "  order.customer = nil\n" /* set to nil before it was built */
    "  assert(order.customer == nil, 'nil stays nil')\n"
    "  order.charges = 'mine'\n"
    "  assert(order.charges == 'mine', 'a set field stays')\n"
    "  order.lines[1].qty = 99\n"
    "  local l2 = order.lines[2]\n"
    "  assert(getmetatable(l2) == false and rawget(l2, 'item') == nil, 'a line read lazily')\n"
    "  assert(l2.delivery == l2.delivery, 'the same delivery on every read')\n"
    "  l2.delivery.store = 'S009'\n"
    "  assert(l2.delivery.store == 'S009' and l2.qty == 2 and l2.unit_price == 100)\n"
    "  l2.status = nil\n" /* set to nil before it was read */
    "  assert(l2.status == nil and l2.nope == nil, 'nil stays nil')\n"
    "  local lk = 0\n"
    "  for k, v in pairs(l2) do lk = lk + 1 end\n"
    "  assert(lk == 11, 'pairs walks every field of a line but the one set to nil: ' .. lk)\n"
    "  assert(l2.delivery.store == 'S009' and l2.delivery.mode == 'pickup')\n"
    "  local n = 0\n"
    "  for k, v in pairs(order) do n = n + 1 end\n"
    "  assert(order.customer == nil and order.charges == 'mine' and order.lines[1].qty == 99)\n"
    "  assert(order.totals.lines > 0 and order.status and order.sync.state)\n"
    "  kept = order\n"
    "  return n\n"
    "end\n"
    "return p\n";

/* Loads src (written to path) and calls its deposit hook twice on a;
 * both answers must be want (what a call changes in its tables does not
 * reach the next). */
static void deposit_twice(const char *path, const char *src, const policy_arg *a, int64_t want,
                          const char *what)
{
    err_t err;
    policy *p = load_text(path, src);
    if (!p) return;
    for (int i = 0; i < 2; i++) {
        int64_t v = 0;
        CHECK(policy_call_amount_args(p, HOOK_DEPOSIT, "S001", NULL, 0, a, 1, &v, &err) == 0 &&
                  v == want,
              "%s, call %d: %lld %s", what, i, (long long)v, err.message);
    }
    policy_release(p);
}

/* A view, or a part of it, kept by the hook's first call (which answers
 * first) raises at table.lua:3 in the second, naming what (when given). */
static void kept_raises(policy *p, const policy_arg *a, int64_t first, const char *what)
{
    err_t err;
    int64_t v = 0;
    CHECK(policy_call_amount_args(p, HOOK_DEPOSIT, "S001", NULL, 0, a, 1, &v, &err) == 0 &&
              v == first,
          "%s, first call: %s", what, err.message);
    err_clear(&err);
    CHECK(policy_call_amount_args(p, HOOK_DEPOSIT, "S001", NULL, 0, a, 1, &v, &err) < 0 &&
              err.code == ERR_POLICY_ERROR && strstr(err.message, "table.lua:3:") &&
              strstr(err.message, "during its call only") && strstr(err.message, what),
          "a kept %s: %s", what, err.message);
}

static void test_table_semantics(const char *pdir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/table.lua", pdir);
    write_file(path, table_policy);
    err_t err = {0};
    policy *p = policy_load_file(path, NULL, &err);
    CHECK(p != NULL, "%s", err.message);
    if (!p) return;
    order *o = order_new();
    snprintf(o->number, sizeof o->number, "S001-000009");
    snprintf(o->type, sizeof o->type, "order");
    snprintf(o->customer, sizeof o->customer, "C0001");
    order_line *l = vec_push(o->lines);
    l->line = 1, l->qty = 1, l->unit_price = 100, l->mode = MODE_SHIP;
    l = vec_push(o->lines);
    l->line = 2, l->qty = 2, l->unit_price = 100, l->mode = MODE_PICKUP;
    policy_arg a = {.order = o};
    int64_t v = 0;
    CHECK(policy_call_amount_args(p, HOOK_DEPOSIT, "S001", NULL, 0, &a, 1, &v, &err) == 0, "%s",
          err.message);
    /* pairs walked every field the view has: 27 but no created_by,
     * quote_expires or hold (empty), and customer (set to nil) */
    CHECK(v == 23, "pairs walked %lld fields", (long long)v);
    CHECK(o->lines.v[0].qty == 1, "the hook's write changed nothing in the engine");
    /* A view kept past its call: pairs built it whole, so it reads on. */
    snprintf(o->number, sizeof o->number, "keep");
    CHECK(policy_call_amount_args(p, HOOK_DEPOSIT, "S001", NULL, 0, &a, 1, &v, &err) == 0 && v == 1,
          "a whole view reads after its call: %s", err.message);
    policy_release(p);

    /* A big order: the lines past the view's records come whole, with the
     * same values; ipairs and pairs read them all. */
    order *big = order_new();
    snprintf(big->number, sizeof big->number, "S001-000010");
    snprintf(big->type, sizeof big->type, "order");
    for (int i = 0; i < 50; i++) {
        l = vec_push(big->lines);
        l->line = i + 1, l->qty = 1 + i % 3, l->unit_price = 100 + i;
        l->mode = i % 2 ? MODE_PICKUP : MODE_SHIP;
        snprintf(l->date, sizeof l->date, "2030-01-10");
    }
    p = load_text(path,
                  "return { deposit = function(order)\n"
                  "  local v, dated = 0, 0\n"
                  "  for i, l in ipairs(order.lines) do\n"
                  "    local w = 0\n"
                  "    for k in pairs(l) do w = w + 1 end\n"
                  "    assert(w == 12 and l.line == i, 'line ' .. i .. ': ' .. w .. ' fields')\n"
                  "    v = v + l.qty * l.unit_price\n"
                  "    if l.delivery.date == '2030-01-10' then dated = dated + 1 end\n"
                  "    assert(l.delivery.mode == (i % 2 == 0 and 'pickup' or 'ship'))\n"
                  "  end\n"
                  "  return v * 100 + dated\n"
                  "end }\n");
    if (!p) return;
    int64_t want = 0;
    for (size_t i = 0; i < big->lines.n; i++)
        want += big->lines.v[i].qty * big->lines.v[i].unit_price;
    policy_arg ba = {.order = big};
    CHECK(policy_call_amount_args(p, HOOK_DEPOSIT, "S001", NULL, 0, &ba, 1, &v, &err) == 0 &&
              v == want * 100 + 50,
          "50 lines: %lld, want %lld: %s", (long long)v, (long long)(want * 100 + 50), err.message);
    policy_release(p);
    order_free(big);

    /* A line kept unwalked raises in a later call, as the order does. */
    p = load_text(path, "local kept\n"
                        "return { deposit = function(order)\n"
                        "  if kept then return kept.tax end\n"
                        "  kept = order.lines[1]\n"
                        "  return kept.line\n"
                        "end }\n");
    if (!p) return;
    kept_raises(p, &a, 1, "line's");
    policy_release(p);

    /* The customer holds only b2b when made; its account and name read
     * through the metatable, a write stays, pairs walks all three, and
     * one kept unwalked raises in a later call. */
    p = load_text(path,
                  "local kept\n"
                  "return { deposit = function(order)\n"
                  "  if kept then return #kept.account end\n"
                  "  local c = order.customer\n"
                  "  assert(rawget(c, 'b2b') == false and rawget(c, 'account') == nil)\n"
                  "  assert(c.account == 'C0001' and c.name == '')\n"
                  "  if order.number == 'S001-000009' then kept = c return 1 end\n"
                  "  c.name = 'Visser'\n"
                  "  local n = 0\n"
                  "  for k, v in pairs(c) do n = n + 1 end\n"
                  "  assert(n == 3 and c.name == 'Visser' and rawget(c, 'account') == 'C0001')\n"
                  "  return 2\n"
                  "end }\n");
    if (!p) return;
    snprintf(o->number, sizeof o->number, "S001-000008");
    CHECK(policy_call_amount_args(p, HOOK_DEPOSIT, "S001", NULL, 0, &a, 1, &v, &err) == 0 && v == 2,
          "the customer read lazily, walked: %s", err.message);
    snprintf(o->number, sizeof o->number, "S001-000009");
    kept_raises(p, &a, 1, "customer's account");
    policy_release(p);

    /* One not built whole raises instead of reading the flow's memory. */
    p = load_text(path, "local kept\n"
                        "return { deposit = function(order)\n"
                        "  if kept then return #kept.lines end\n"
                        "  kept = order\n"
                        "  return 0\n"
                        "end }\n");
    if (!p) return;
    kept_raises(p, &a, 0, "order.lines");
    policy_release(p);

    /* ctx.params is a fresh copy per call (made by a constructor compiled
     * for the policy's keys, any bytes in them; nested tables copied when
     * first read): what a hook changes in it, nested lists included, the
     * next call does not see, and pairs walks all of it. */
    deposit_twice(path,
                  "return { parameters = { tiers = { { pct = 10 } }, ['odd \\\"key\\n'] = 7 },\n"
                  "  deposit = function(order, ctx)\n"
                  "    assert(ctx.params.default_deposit_pct == 10, 'not left by the last call')\n"
                  "    assert(ctx.params.tiers[1].pct == 10, 'nor in a nested table')\n"
                  "    local v = ctx.params.tiers[1].pct + ctx.params['odd \\\"key\\n']\n"
                  "    ctx.params.tiers[1].pct = 1000\n"
                  "    ctx.params.default_deposit_pct = nil\n"
                  "    local walked = 0\n"
                  "    for k, x in pairs(ctx.params) do\n"
                  "      if k == 'tiers' and x[1].pct == 1000 then walked = walked + 1 end\n"
                  "    end\n"
                  "    assert(walked == 1, 'pairs walks the nested tables too')\n"
                  "    return v + ctx.params.cancellation_charge_pct\n"
                  "  end }\n",
                  &a, 22, "ctx.params as loaded");

    /* The same with no table among the parameters, where ctx.params reads
     * the parameters table directly (no __index function): a value set,
     * changed or set to nil stays in that call, pairs walks every
     * parameter, and the next call sees them as loaded. */
    deposit_twice(path,
                  "return { parameters = { bonus = 7 },\n"
                  "  deposit = function(order, ctx)\n"
                  "    assert(ctx.params.default_deposit_pct == 10, 'not left by the last call')\n"
                  "    assert(ctx.params.mine == nil, 'nor a new key')\n"
                  "    local v = ctx.params.bonus\n"
                  "    ctx.params.default_deposit_pct = nil\n"
                  "    ctx.params.mine = 1\n"
                  "    ctx.params.bonus = 1000\n"
                  "    assert(ctx.params.default_deposit_pct == nil and ctx.params.bonus == 1000)\n"
                  "    local n = 0\n"
                  "    for k in pairs(ctx.params) do n = n + 1 end\n"
                  "    assert(n > 3, 'pairs walks every parameter')\n"
                  "    assert(getmetatable(ctx.params) == nil, 'owned once written')\n"
                  "    return v + ctx.params.cancellation_charge_pct + ctx.params.mine\n"
                  "  end }\n",
                  &a, 13, "scalar ctx.params as loaded");
    order_free(o);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    const char *root = getenv("CORDER_ROOT") ? getenv("CORDER_ROOT") : ".";
    char db[300], seed[300], pdir[300], src[400], cmd[900];
    snprintf(db, sizeof db, "%s/t.db", dir);
    snprintf(pdir, sizeof pdir, "%s/policies", dir);
    snprintf(seed, sizeof seed, "%s/tests/e2e/seed.json", root);
    snprintf(src, sizeof src, "%s/policies/default.lua", root);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/'", pdir, src, pdir);
    CHECK(system(cmd) == 0, "copy default.lua");

    err_t err = {0};
    engine_config init = {.db_path = db, .no_policies = true};
    engine *e = engine_open(&init, &err);
    json_t *sj = json_load_file(seed, 0, NULL);
    CHECK(e && sj && seed_apply(e, sj, &err) == 0, "seed: %s", err.message);
    json_decref(sj);
    engine_close(e);

    engine_config cfg = {.db_path = db, .policies_dir = pdir, .policy_impl = &policy_lua};
    e = engine_open(&cfg, &err);
    CHECK(e != NULL, "open: %s", err.message);
    if (!e) return T_DONE();
    session s = {0};
    json_decref(run(e, &s, "session.login",
                    json_pack("{s:s, s:s, s:s}", "store", "S001", "staff", "1002", "pin", "9999")));
    test_no_lua_for_defaults(e, &s);
    test_hook_sees_the_logged_view(e, &s, pdir);
    engine_close(e);
    test_table_semantics(pdir);

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    return T_DONE();
}

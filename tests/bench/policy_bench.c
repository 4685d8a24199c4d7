/* policy_bench.c: what a policy decision costs. Prints one line,
 *   hook_ns=<median ns of one deposit call> hook_text_ns=<the same call with
 *   the order as JSON text> view_text_ns=<the order's view written as text>
 *   hook_tax_ns=<median ns of one tax call> reload_us=<median us of one reload>
 *   hook_floor_ns=<median ns of the same deposit rule on the same order
 *   built by Lua's own table constructors in a plain state>
 *
 * hook_ns is the call as decide_deposit makes it: a 5-line order (ship,
 * pickup and carry-out lines, a customer, a shipping charge) handed over
 * as its structs, the host building what the hook reads
 * (bindings/host/policy_view.c) and ctx, the hook run in the sandbox with
 * its budget armed, its answer checked. The hook is the default deposit
 * rule spelled out in Lua (tests/policies/fixtures/spelled_out.lua), which
 * reads every line and charge. hook_text_ns is the same call with the
 * order as text parsed into tables (what replay and tools do, and what the
 * engine did before); view_text_ns is what the flow spends writing the
 * view's text for the decision's log entry (not part of the call).
 * hook_tax_ns is the call the flows make most (once per line and charge):
 * policies/furniture.lua's tax hook for one line of the same order, the
 * item as JSON text as flow_tax.c writes it, the order as its structs; the
 * hook reads the item, its destination and ctx.params, not the order.
 * It also checks that policies/default.lua defines no hook (a store on it
 * makes no call into Lua: the flows answer in C).
 * hook_floor_ns (tests/bench/hook_floor.lua) is what plain Lua spends
 * making the tables such a hook reads, with its own table constructors,
 * and running the same rule: the nearest thing to a floor under hook_ns,
 * timed the same way in the same run.
 * The reload re-reads, hashes, compiles and swaps a changed policy file.
 * Usage: policy_bench [ROOT]   (default: $CORDER_ROOT, else .) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "host/policy_lua.h"
#include "model/order.h"
#include "model/policy.h"

#define CALLS 20001
#define RELOADS 51

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t median(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp64);
    return v[n / 2];
}

/* The order as create holds it when it asks for the deposit. */
static order *sample_order(void)
{
    order *o = order_new();
    if (!o) return NULL;
    snprintf(o->number, sizeof o->number, "S001-000001");
    snprintf(o->store, sizeof o->store, "S001");
    snprintf(o->type, sizeof o->type, "order");
    snprintf(o->customer, sizeof o->customer, "C0001");
    snprintf(o->customer_name, sizeof o->customer_name, "Karin Smit");
    snprintf(o->currency, sizeof o->currency, "EUR");
    snprintf(o->created_at, sizeof o->created_at, "2030-01-01T10:00:00Z");
    snprintf(o->created_by, sizeof o->created_by, "1001");
    snprintf(o->sync_state, sizeof o->sync_state, "pending");
    const order_mode modes[] = {MODE_SHIP, MODE_PICKUP, MODE_CARRYOUT, MODE_SHIP, MODE_PICKUP};
    for (int i = 0; i < 5; i++) {
        order_line *l = vec_push(o->lines);
        if (!l) return NULL;
        l->line = i + 1;
        snprintf(l->item, sizeof l->item, "P%d00", i + 1);
        snprintf(l->name, sizeof l->name, "Oak table %d", i + 1);
        l->qty = 2;
        l->unit_price = 49900;
        l->mode = modes[i];
        if (l->mode == MODE_SHIP) snprintf(l->address, sizeof l->address, "home");
        if (l->mode == MODE_PICKUP) snprintf(l->store, sizeof l->store, "S001");
        if (l->mode != MODE_CARRYOUT) snprintf(l->date, sizeof l->date, "2030-01-10");
        if (l->mode == MODE_CARRYOUT) l->qty_invoiced = l->qty;
    }
    order_charge *c = vec_push(o->charges);
    if (!c) return NULL;
    snprintf(c->code, sizeof c->code, "SHIP");
    snprintf(c->kind, sizeof c->kind, "shipping");
    c->amount = 4500;
    snprintf(c->address, sizeof c->address, "home");
    snprintf(c->date, sizeof c->date, "2030-01-10");
    o->next_line = 6;
    o->next_invoice = 1;
    o->next_return = 1;
    return o;
}

/* hook_floor.lua's call, timed like the engine's: median ns of CALLS. */
static int64_t floor_ns(const char *root, int64_t want, int64_t *t)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/tests/bench/hook_floor.lua", root);
    lua_State *L = luaL_newstate();
    if (!L) return -1;
    luaL_openlibs(L);
    int rc = luaL_loadfile(L, path);
    if (rc == LUA_OK) {
        lua_pushstring(L, root);
        rc = lua_pcall(L, 1, 1, 0);
    }
    if (rc != LUA_OK || !lua_isfunction(L, -1)) {
        fprintf(stderr, "policy_bench: %s: %s\n", path,
                rc != LUA_OK ? lua_tostring(L, -1) : "returned no function");
        lua_close(L);
        return -1;
    }
    for (int i = 0; i < CALLS; i++) {
        lua_pushvalue(L, -1);
        int64_t t0 = now_ns();
        rc = lua_pcall(L, 0, 1, 0);
        t[i] = now_ns() - t0;
        int ok = rc == LUA_OK && lua_isinteger(L, -1) && lua_tointeger(L, -1) == want;
        if (!ok) {
            fprintf(stderr, "policy_bench: the floor's call: %s\n",
                    rc == LUA_OK ? "not the engine's answer" : lua_tostring(L, -1));
            lua_close(L);
            return -1;
        }
        lua_pop(L, 1);
    }
    lua_close(L);
    return median(t, CALLS);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    return buf;
}

static int fail(const char *what, const char *msg)
{
    fprintf(stderr, "policy_bench: %s: %s\n", what, msg);
    return 1;
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : getenv("CORDER_ROOT") ? getenv("CORDER_ROOT") : ".";
    char path[1100];
    snprintf(path, sizeof path, "%s/tests/policies/fixtures/spelled_out.lua", root);
    size_t len;
    char *src = slurp(path, &len);
    if (!src) return fail("cannot read", path);

    char dir[] = "/tmp/policy_bench.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char file[64];
    snprintf(file, sizeof file, "%s/deposit.lua", dir);
    FILE *f = fopen(file, "w");
    fwrite(src, 1, len, f);
    fclose(f);

    err_t e;
    err_clear(&e);
    policy_host *h = policy_lua.host_new(dir, NULL, &e);
    if (!h || policy_host_bind(h, "S001", "deposit", &e) < 0) return fail("load", e.message);
    order *o = sample_order();
    if (!o) return fail("sample order", "out of memory");
    static int64_t t[CALLS], tt[CALLS], tv[CALLS];
    int64_t first = -1;
    /* The flow's call: the order's structs, no text. Each kind of call is
     * timed in a loop of its own, so that each pays for its own garbage:
     * the text path makes some 25 tables a call, and timed in turns with
     * it, the flow's call paid for collecting them (2.75 against 2.5 us). */
    for (int i = 0; i < CALLS; i++) {
        policy *p = policy_acquire(h, "S001", &e);
        int64_t v, t0 = now_ns();
        policy_arg a = {.order = o};
        int rc = policy_call_amount_args(p, HOOK_DEPOSIT, "S001", "2030-01-01", 0, &a, 1, &v, &e);
        t[i] = now_ns() - t0;
        policy_release(p);
        if (rc < 0) return fail("deposit", e.message);
        if (first < 0) first = v;
        if (v != first) return fail("deposit", "two calls gave different answers");
    }
    /* The view as text (the decision's log entry), then the text path. */
    for (int i = 0; i < CALLS; i++) {
        policy *p = policy_acquire(h, "S001", &e);
        int64_t w, t1 = now_ns();
        policy_arg ta = {0};
        char *text = (char *)(ta.text = order_text(o, ORDER_POLICY, &ta.len));
        int64_t t2 = now_ns();
        int rc = policy_call_amount_args(p, HOOK_DEPOSIT, "S001", "2030-01-01", 0, &ta, 1, &w, &e);
        int64_t t3 = now_ns();
        free(text);
        tv[i] = t2 - t1;
        tt[i] = t3 - t2;
        policy_release(p);
        if (rc < 0) return fail("deposit", e.message);
        if (w != first) return fail("deposit", "the view and the text gave different answers");
    }
    /* (49900 * 2 ship + 49900 * 2 pickup, twice, + 4500) * 10 % */
    if (first != 40370) return fail("deposit", "not the default rule's 40370");
    int64_t hook_ns = median(t, CALLS), hook_text_ns = median(tt, CALLS),
            view_ns = median(tv, CALLS);
    int64_t hook_floor_ns = floor_ns(root, first, t);
    if (hook_floor_ns < 0) return 1;

    static int64_t r[RELOADS];
    for (int i = 0; i < RELOADS; i++) {
        f = fopen(file, "w");
        fwrite(src, 1, len, f);
        fprintf(f, "-- edit %d\n", i);
        fclose(f);
        int64_t t0 = now_ns();
        int rc = policy_host_reload(h, "S001", &e);
        r[i] = now_ns() - t0;
        if (rc != 1) return fail("reload", e.message);
    }
    int64_t reload_us = median(r, RELOADS) / 1000;
    policy_host_free(h);
    unlink(file);

    /* The tax question of line 1 (flow_tax.c's item), to furniture.lua. */
    snprintf(path, sizeof path, "%s/policies/furniture.lua", root);
    policy *fp = policy_load_file(path, NULL, &e);
    if (!fp) return fail("furniture.lua", e.message);
    static const char item[] =
        "{\"kind\":\"line\",\"line\":1,\"item\":\"P100\",\"qty\":2,\"amount\":99800,"
        "\"destination\":{\"mode\":\"ship\",\"address\":\"home\",\"country\":\"NL\","
        "\"zip\":\"1012 LG\",\"city\":\"Amsterdam\"}}";
    for (int i = 0; i < CALLS; i++) {
        policy_arg ta[2] = {{.text = item, .len = sizeof item - 1}, {.order = o}};
        int64_t v, t0 = now_ns();
        int rc = policy_call_amount_args(fp, HOOK_TAX, "S001", "2030-01-01", 0, ta, 2, &v, &e);
        t[i] = now_ns() - t0;
        if (rc < 0) return fail("tax", e.message);
        if (v != 17321) return fail("tax", "not 21 % VAT included in 998.00");
    }
    int64_t hook_tax_ns = median(t, CALLS);
    policy_release(fp);

    /* policies/default.lua: parameters only, so no hook and no Lua. */
    snprintf(path, sizeof path, "%s/policies/default.lua", root);
    policy *d = policy_load_file(path, NULL, &e);
    if (!d) return fail("default.lua", e.message);
    for (int hk = 0; hk < HOOK_COUNT; hk++)
        if (policy_has_hook(d, (policy_hook)hk)) return fail("default.lua", "defines a hook");
    policy_release(d);

    order_free(o);
    rmdir(dir);
    free(src);
    printf("hook_ns=%lld hook_text_ns=%lld view_text_ns=%lld hook_tax_ns=%lld reload_us=%lld"
           " hook_floor_ns=%lld\n",
           (long long)hook_ns, (long long)hook_text_ns, (long long)view_ns, (long long)hook_tax_ns,
           (long long)reload_us, (long long)hook_floor_ns);
    return 0;
}

/* lapi_policy.c: policies seen from Lua, for busted specs (SPEC L4) and
 * the REPL.
 *
 *   local p = corder.load_policy("policies/furniture.lua")
 *   assert.equal(4990, p:deposit(order))
 *
 * A policy object is one loaded version. Its methods take plain Lua tables,
 * turn them into JSON and call the hook through exactly the path the engine
 * uses (policy_call_amount / policy_call_permits): the same sandbox, the
 * same limits, the same answer checks. So a spec that passes here passes in
 * the engine. Failures raise "policy_error: <file:line: message>".
 *
 * Each hook method takes an optional last table of ctx overrides:
 * {store = "S001", today = "2024-05-02", now = "2024-05-02T09:00:00Z" or
 * epoch seconds}; by default store is "TEST" and today/now the real clock. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lua/lapi.h"
#include "host/policy_int.h"

#define LPOL_MT "corder.policy"

typedef struct {
    policy *p;
} lpol;

static policy *lpol_check(lua_State *L)
{
    lpol *u = luaL_checkudata(L, 1, LPOL_MT);
    if (!u->p) luaL_error(L, "policy_error: policy object is closed");
    return u->p;
}

typedef struct {
    const char *store, *today;
    int64_t now;
} lctx;

static int64_t parse_now(lua_State *L, int idx)
{
    if (lua_isinteger(L, idx)) return lua_tointeger(L, idx);
    const char *s = lua_tostring(L, idx);
    struct tm tm = {0};
    if (s && sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec) == 6) {
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        return (int64_t)timegm(&tm);
    }
    return luaL_error(L, "ctx.now must be epoch seconds or YYYY-MM-DDTHH:MM:SSZ");
}

/* Reads the overrides at idx (if a table); the strings stay on the stack. */
static void read_ctx(lua_State *L, int idx, lctx *c)
{
    c->store = "TEST";
    c->today = NULL;
    c->now = 0;
    if (lua_isnoneornil(L, idx)) return;
    luaL_checktype(L, idx, LUA_TTABLE);
    if (lua_getfield(L, idx, "store") != LUA_TNIL) c->store = luaL_checkstring(L, -1);
    if (lua_getfield(L, idx, "today") != LUA_TNIL) c->today = luaL_checkstring(L, -1);
    if (lua_getfield(L, idx, "now") != LUA_TNIL) c->now = parse_now(L, lua_gettop(L));
}

/* Converts args 2..nargs+1; raises before anything is allocated, or frees
 * what it made before raising. */
static void read_args(lua_State *L, int nargs, json_t **args)
{
    char why[256];
    for (int i = 0; i < nargs; i++)
        luaL_checktype(L, 2 + i, LUA_TTABLE);
    for (int i = 0; i < nargs; i++) {
        args[i] = pcv_to_json(L, 2 + i, 0, why, sizeof why);
        if (!args[i]) {
            while (i-- > 0)
                json_decref(args[i]);
            luaL_error(L, "policy_error: argument %d: %s", i + 1, why);
        }
    }
}

static void free_args(json_t **args, int n)
{
    for (int i = 0; i < n; i++)
        json_decref(args[i]);
}

static int l_amount(lua_State *L, policy_hook hook, int nargs)
{
    policy *p = lpol_check(L);
    lctx c;
    read_ctx(L, 2 + nargs, &c);
    json_t *args[2] = {NULL, NULL};
    read_args(L, nargs, args);
    int64_t v = 0;
    err_t e;
    err_clear(&e);
    int rc = policy_call_amount(p, hook, c.store, c.today, c.now, args, nargs, &v, &e);
    free_args(args, nargs);
    if (rc < 0) return luaL_error(L, "policy_error: %s", e.message);
    lua_pushinteger(L, v);
    return 1;
}

static int l_deposit(lua_State *L)
{
    return l_amount(L, HOOK_DEPOSIT, 1);
}

static int l_shipping_charge(lua_State *L)
{
    return l_amount(L, HOOK_SHIPPING_CHARGE, 2);
}

static int l_cancellation_charge(lua_State *L)
{
    return l_amount(L, HOOK_CANCELLATION_CHARGE, 1);
}

static int l_shipping_refund(lua_State *L)
{
    return l_amount(L, HOOK_SHIPPING_REFUND, 2);
}

static int l_tax(lua_State *L)
{
    return l_amount(L, HOOK_TAX, 2);
}

static int l_permits(lua_State *L)
{
    policy *p = lpol_check(L);
    const char *perm = luaL_checkstring(L, 3);
    lctx c;
    read_ctx(L, 4, &c);
    json_t *staff;
    read_args(L, 1, &staff);
    bool ok = false;
    err_t e;
    err_clear(&e);
    int rc = policy_call_permits(p, c.store, c.today, c.now, staff, perm, &ok, &e);
    json_decref(staff);
    if (rc < 0) return luaL_error(L, "policy_error: %s", e.message);
    lua_pushboolean(L, ok);
    return 1;
}

static int l_params(lua_State *L)
{
    pcv_push_json(L, policy_params_json(lpol_check(L)), 0);
    return 1;
}

static int l_version(lua_State *L)
{
    lua_pushstring(L, policy_version(lpol_check(L)));
    return 1;
}

static int l_name(lua_State *L)
{
    lua_pushstring(L, policy_name(lpol_check(L)));
    return 1;
}

static int l_file(lua_State *L)
{
    lua_pushstring(L, policy_file(lpol_check(L)));
    return 1;
}

static int l_has(lua_State *L)
{
    policy *p = lpol_check(L);
    const char *name = luaL_checkstring(L, 2);
    bool has = false;
    for (int h = 0; h < HOOK_COUNT; h++)
        if (!strcmp(name, policy_hook_name(h))) has = policy_has_hook(p, h);
    lua_pushboolean(L, has);
    return 1;
}

static int l_gc(lua_State *L)
{
    lpol *u = luaL_checkudata(L, 1, LPOL_MT);
    policy_release(u->p);
    u->p = NULL;
    return 0;
}

static int l_tostring(lua_State *L)
{
    lpol *u = luaL_checkudata(L, 1, LPOL_MT);
    if (!u->p) {
        lua_pushliteral(L, "corder.policy (closed)");
        return 1;
    }
    /* lua_pushfstring knows no precision: cut the version in C */
    char ver[13];
    snprintf(ver, sizeof ver, "%s", policy_version(u->p));
    lua_pushfstring(L, "corder.policy %s (%s, version %s)", policy_name(u->p), policy_file(u->p),
                    ver);
    return 1;
}

static const luaL_Reg lpol_methods[] = {
    {"deposit", l_deposit},
    {"shipping_charge", l_shipping_charge},
    {"cancellation_charge", l_cancellation_charge},
    {"shipping_refund", l_shipping_refund},
    {"tax", l_tax},
    {"permits", l_permits},
    {"params", l_params},
    {"version", l_version},
    {"name", l_name},
    {"file", l_file},
    {"has", l_has},
    {NULL, NULL},
};

static int l_load_policy(lua_State *L)
{
    const char *file = luaL_checkstring(L, 1);
    policy_limits lim = {0};
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "memory") != LUA_TNIL) {
            lua_Integer m = luaL_checkinteger(L, -1);
            luaL_argcheck(L, m > 0, 2, "memory must be > 0 bytes");
            lim.memory_cap = (size_t)m;
        }
        if (lua_getfield(L, 2, "budget_ms") != LUA_TNIL) {
            lua_Number ms = luaL_checknumber(L, -1);
            luaL_argcheck(L, ms > 0 && ms < 1e9, 2, "budget_ms must be > 0");
            lim.budget_us = (int64_t)(ms * 1000);
            if (lim.budget_us < 1) lim.budget_us = 1;
        }
    }
    /* The userdata first: if it cannot be made, nothing is loaded to leak. */
    lpol *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->p = NULL;
    luaL_setmetatable(L, LPOL_MT);
    err_t e;
    err_clear(&e);
    u->p = policy_load_file(file, &lim, &e);
    if (!u->p) return luaL_error(L, "policy_error: %s", e.message);
    return 1;
}

int lapi_policy_open(lua_State *L)
{
    if (luaL_newmetatable(L, LPOL_MT)) {
        luaL_newlib(L, lpol_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    lua_pushcfunction(L, l_load_policy);
    lua_setfield(L, -2, "load_policy");
    return 0;
}

/* lmodule.c: the `corder` Lua module (luaopen_corder): the engine seen from
 * Lua, so that busted specs drive every flow through the real C engine and
 * the support REPL can use the same API.
 *
 *   local corder = require "corder"
 *   local db = corder.open{db = "t.db", policies = "policies", seed = "seed.json"}
 *   local s = db:login("S001", "1001", "1234")       -- a signed-in session
 *   local order = s:call("order.create", {...})      -- result, or nil, err
 *   local resp = s:request("order.get", {number = n}) -- the whole response
 *   db:set_now(os.time{...}); db:query("SELECT count(*) FROM txlog")
 *
 * Each call goes through dispatch, exactly as a request over TCP does, and
 * commits on its own. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "ops/dispatch.h"
#include "store/engine.h"
#include "lua/lapi.h"
#include "host/policy_int.h"
#include "store/seed.h"
#include "host/policy_lua.h"

#define ENGINE_MT "corder.engine"

static int l_readonly(lua_State *L)
{
    return luaL_error(L, "%s", lua_tostring(L, lua_upvalueindex(1)));
}
#define SESSION_MT "corder.session"

typedef struct {
    engine *e;
} l_engine;

typedef struct {
    session s;
    int engine_ref; /* keeps the engine alive while the session is */
    engine *e;
} l_session;

static engine *check_engine(lua_State *L, int idx)
{
    l_engine *le = luaL_checkudata(L, idx, ENGINE_MT);
    if (!le->e) luaL_error(L, "corder: the database is closed");
    return le->e;
}

static const char *opt_field(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    const char *v = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    lua_pop(L, 1); /* the string stays alive in the options table */
    return v;
}

static int l_open(lua_State *L)
{
    engine_config cfg = {.policy_impl = &policy_lua};
    const char *seed = NULL;
    if (lua_type(L, 1) == LUA_TSTRING) {
        cfg.db_path = lua_tostring(L, 1);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        cfg.db_path = opt_field(L, 1, "db");
        cfg.policies_dir = opt_field(L, 1, "policies");
        seed = opt_field(L, 1, "seed");
        lua_getfield(L, 1, "budget_ms");
        cfg.limits.budget_us = (int64_t)luaL_optinteger(L, -1, 0) * 1000;
        lua_pop(L, 1);
    }
    if (!cfg.db_path) return luaL_error(L, "corder.open: db is required");
    err_t err = {0};
    if (seed) {
        json_error_t jerr;
        json_t *j = json_load_file(seed, JSON_REJECT_DUPLICATES, &jerr);
        if (!j) return luaL_error(L, "corder.open: %s:%d: %s", seed, jerr.line, jerr.text);
        engine_config icfg = cfg;
        icfg.no_policies = true;
        engine *ie = engine_open(&icfg, &err);
        int rc = ie ? seed_apply(ie, j, &err) : -1;
        engine_close(ie);
        json_decref(j);
        if (rc < 0) return luaL_error(L, "corder.open: seed: %s", err.message);
    }
    engine *e = engine_open(&cfg, &err);
    if (!e) {
        lua_pushnil(L);
        lua_pushstring(L, err.message);
        return 2;
    }
    l_engine *le = lua_newuserdatauv(L, sizeof *le, 0);
    le->e = e;
    luaL_setmetatable(L, ENGINE_MT);
    return 1;
}

static int l_engine_close(lua_State *L)
{
    l_engine *le = luaL_checkudata(L, 1, ENGINE_MT);
    engine_close(le->e);
    le->e = NULL;
    return 0;
}

static int l_set_now(lua_State *L)
{
    engine_set_now(check_engine(L, 1), (int64_t)luaL_optinteger(L, 2, 0));
    return 0;
}

static int l_poll(lua_State *L)
{
    lua_pushinteger(L, policy_host_poll(engine_policies(check_engine(L, 1))));
    return 1;
}

/* Read-only SQL for tests and support: rows as arrays of column values. */
static int l_query(lua_State *L)
{
    engine *e = check_engine(L, 1);
    const char *sql = luaL_checkstring(L, 2);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(engine_db(e), sql, -1, &st, NULL) != SQLITE_OK)
        return luaL_error(L, "query: %s", sqlite3_errmsg(engine_db(e)));
    if (!sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        return luaL_error(L, "query: only read-only statements");
    }
    int nparams = lua_gettop(L) - 2;
    for (int i = 1; i <= nparams; i++) {
        if (lua_isinteger(L, i + 2))
            sqlite3_bind_int64(st, i, lua_tointeger(L, i + 2));
        else
            sqlite3_bind_text(st, i, luaL_checkstring(L, i + 2), -1, SQLITE_TRANSIENT);
    }
    lua_newtable(L);
    int row = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        lua_createtable(L, sqlite3_column_count(st), 0);
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER:
                lua_pushinteger(L, sqlite3_column_int64(st, c));
                break;
            case SQLITE_FLOAT:
                lua_pushnumber(L, sqlite3_column_double(st, c));
                break;
            case SQLITE_NULL:
                lua_pushboolean(L, 0);
                break;
            default:
                lua_pushstring(L, (const char *)sqlite3_column_text(st, c));
            }
            lua_rawseti(L, -2, c + 1);
        }
        lua_rawseti(L, -2, ++row);
    }
    sqlite3_finalize(st);
    return 1;
}

static int l_login(lua_State *L)
{
    engine *e = check_engine(L, 1);
    const char *store = luaL_checkstring(L, 2), *staff = luaL_checkstring(L, 3),
               *pin = luaL_checkstring(L, 4);
    session s = {0};
    json_t *req = json_pack("{s:s, s:{s:s, s:s, s:s}}", "op", "session.login", "args", "store",
                            store, "staff", staff, "pin", pin);
    bool w;
    json_t *resp = dispatch_request(e, &s, req, &w);
    json_decref(req);
    if (!json_is_true(json_object_get(resp, "ok"))) {
        lua_pushnil(L);
        pcv_push_json(L, json_object_get(resp, "error"), 0);
        json_decref(resp);
        return 2;
    }
    json_decref(resp);
    l_session *ls = lua_newuserdatauv(L, sizeof *ls, 0);
    ls->s = s;
    ls->e = e;
    lua_pushvalue(L, 1);
    ls->engine_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    luaL_setmetatable(L, SESSION_MT);
    return 1;
}

static json_t *request_of(lua_State *L, const char *op, int args_idx)
{
    json_t *args = NULL;
    if (!lua_isnoneornil(L, args_idx)) {
        char why[256] = "";
        args = pcv_to_json(L, args_idx, 0, why, sizeof why);
        if (!args) luaL_error(L, "corder: args: %s", why);
    }
    json_t *req = json_pack("{s:s}", "op", op);
    if (args) json_object_set_new(req, "args", args);
    return req;
}

/* Full response table: {ok=, result=} or {ok=false, error={code,...}}. */
static int l_request(lua_State *L)
{
    l_session *ls = luaL_checkudata(L, 1, SESSION_MT);
    const char *op = luaL_checkstring(L, 2);
    json_t *req = request_of(L, op, 3);
    bool w;
    json_t *resp = dispatch_request(ls->e, &ls->s, req, &w);
    json_decref(req);
    pcv_push_json(L, resp, 0);
    json_decref(resp);
    return 1;
}

/* result, or nil and the error table. */
static int l_call(lua_State *L)
{
    l_session *ls = luaL_checkudata(L, 1, SESSION_MT);
    const char *op = luaL_checkstring(L, 2);
    json_t *req = request_of(L, op, 3);
    bool w;
    json_t *resp = dispatch_request(ls->e, &ls->s, req, &w);
    json_decref(req);
    if (json_is_true(json_object_get(resp, "ok"))) {
        pcv_push_json(L, json_object_get(resp, "result"), 0);
        json_decref(resp);
        return 1;
    }
    lua_pushnil(L);
    pcv_push_json(L, json_object_get(resp, "error"), 0);
    json_decref(resp);
    return 2;
}

static int l_session_gc(lua_State *L)
{
    l_session *ls = luaL_checkudata(L, 1, SESSION_MT);
    luaL_unref(L, LUA_REGISTRYINDEX, ls->engine_ref);
    ls->engine_ref = LUA_NOREF;
    return 0;
}

static int l_session_info(lua_State *L)
{
    l_session *ls = luaL_checkudata(L, 1, SESSION_MT);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, ls->s.store);
    lua_setfield(L, -2, "store");
    lua_pushstring(L, ls->s.staff);
    lua_setfield(L, -2, "staff");
    lua_pushstring(L, ls->s.role);
    lua_setfield(L, -2, "role");
    return 1;
}

static const luaL_Reg engine_methods[] = {{"close", l_engine_close}, {"set_now", l_set_now},
                                          {"query", l_query},        {"login", l_login},
                                          {"poll_policies", l_poll}, {NULL, NULL}};

static const luaL_Reg session_methods[] = {
    {"call", l_call}, {"request", l_request}, {"info", l_session_info}, {NULL, NULL}};

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

int luaopen_corder(lua_State *L)
{
    new_class(L, ENGINE_MT, engine_methods, l_engine_close);
    new_class(L, SESSION_MT, session_methods, l_session_gc);
    lua_newtable(L);
    lua_pushcfunction(L, l_open);
    lua_setfield(L, -2, "open");
    lapi_policy_open(L);
    /* corder.empty_array: sent as [] where {} would be an object (an edit
     * that clears pickup_contacts). Its metatable keeps it empty. */
    lua_newtable(L);
    lua_newtable(L);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "__jsonarray");
    lua_pushstring(L, "corder.empty_array is read-only");
    lua_pushcclosure(L, l_readonly, 1);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "empty_array");
    return 1;
}

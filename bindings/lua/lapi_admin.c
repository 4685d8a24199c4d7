/* lapi_admin.c: the support API, the `corder` table of the console
 * (PROTOCOL.md "The support REPL"):
 *
 *   corder.order(number)            corder.find{q=, customer=, status=, store=, ...}
 *   corder.history(number)          corder.policy([store])   corder.reload([store])
 *   corder.sync([store])            corder.stats()
 *   corder.login(store, staff, pin) corder.logout()          corder.whoami()
 *   corder.call(op [, args])        any op of the protocol (docs/protocol.md)
 *   corder.slowlog([{threshold=, clear=}])  corder.backup(path)
 *   corder.hold(number, code [, note])      corder.release(number)
 *
 * Each function is one request through dispatch_request, exactly as a
 * client's over TCP: support never goes around the flows, the checks or
 * the transaction log. Reads run as an internal read-only session (staff
 * "support", the store asked for, else the signed-in one, else the first);
 * anything that changes data (a writing op, policy.reload) needs
 * corder.login and runs under that staff member's name and permissions.
 * A failed request raises "code: message" as a Lua error. */
#include <lauxlib.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "store/auth.h"
#include "store/backup.h"
#include "ops/dispatch.h"
#include "ops/slowlog.h"
#include "lua/lapi_admin_int.h"
#include "host/policy_int.h"

static admin_state *self(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

/* policy.reload is not a write to the database, but it changes what every
 * later request decides: it is an act of a named staff member. */
static bool admin_changes(const char *op)
{
    return dispatch_op_writes(op) || !strcmp(op, "policy.reload");
}

static session *reader(admin_state *a, const char *store)
{
    session *r = &a->reader;
    memset(r, 0, sizeof *r);
    r->signed_in = true;
    snprintf(r->staff, sizeof r->staff, "support");
    snprintf(r->name, sizeof r->name, "support (read-only)");
    snprintf(r->role, sizeof r->role, "support");
    if (store)
        snprintf(r->store, sizeof r->store, "%s", store);
    else if (a->staff.signed_in)
        snprintf(r->store, sizeof r->store, "%s", a->staff.store);
    else
        snprintf(r->store, sizeof r->store, "%s", a->first_store);
    return r;
}

/* Pushes the result of a response, or raises its error; frees resp. */
static int push_response(lua_State *L, json_t *resp)
{
    if (json_is_true(json_object_get(resp, "ok"))) {
        json_t *result = json_incref(json_object_get(resp, "result"));
        json_decref(resp);
        pcv_push_json(L, result, 0);
        json_decref(result);
        return 1;
    }
    json_t *e = json_object_get(resp, "error");
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "%s: %s", json_string_value(json_object_get(e, "code")),
                     json_string_value(json_object_get(e, "message")));
    json_t *details = json_object_get(e, "details");
    char *d = json_object_size(details) ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (d && n > 0 && (size_t)n < sizeof msg) snprintf(msg + n, sizeof msg - (size_t)n, " %s", d);
    free(d);
    json_decref(resp);
    return luaL_error(L, "%s", msg);
}

json_t *admin_request(lua_State *L, admin_state *a, session *s, json_t *req)
{
    if (!a->srv) {
        bool is_write;
        json_t *resp = dispatch_request(a->e, s, req, &is_write);
        json_decref(req);
        return resp;
    }
    /* The time spent waiting for the loop (a PIN check, a commit) is not
     * the chunk's: its deadline moves on by as much. */
    int64_t t0 = pwt_now_ns();
    json_t *resp = server_console_call(a->srv, a->token, s, req);
    psb_of(L)->deadline_ns += pwt_now_ns() - t0;
    return resp;
}

/* Runs req (taken over) under session s and pushes its result. Attached
 * to a server, it runs on the server's loop as any client's request does,
 * its PINs checked on the server's workers, while this thread waits. */
static int admin_dispatch(lua_State *L, admin_state *a, session *s, json_t *req)
{
    return push_response(L, admin_request(L, a, s, req));
}

/* Runs op with args (taken over; NULL for none) and pushes its result. */
static int admin_call(lua_State *L, admin_state *a, const char *op, json_t *args, const char *store)
{
    session *s;
    if (admin_changes(op)) {
        if (!a->staff.signed_in) {
            json_decref(args);
            return luaL_error(L,
                              "%s changes data: sign in first with corder.login(store, staff, "
                              "pin)",
                              op);
        }
        s = &a->staff;
    } else {
        s = reader(a, store);
    }
    json_t *req = json_pack("{s:s, s:o}", "op", op, "args", args ? args : json_object());
    if (!req) return luaL_error(L, "out of memory");
    return admin_dispatch(L, a, s, req);
}

/* The Lua value at idx as JSON args (nil: none). */
static json_t *args_at(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx)) return NULL;
    luaL_checktype(L, idx, LUA_TTABLE);
    char why[256] = "";
    json_t *j = pcv_to_json(L, idx, 0, why, sizeof why);
    if (!j) luaL_error(L, "args: %s", why);
    if (!json_is_object(j)) {
        json_decref(j);
        luaL_error(L, "args: a table with named fields, e.g. {store = \"S001\"}");
    }
    return j;
}

static json_t *one_arg(const char *key, const char *value)
{
    return value ? json_pack("{s:s}", key, value) : NULL;
}

static int l_order(lua_State *L)
{
    return admin_call(L, self(L), "order.get", one_arg("number", luaL_checkstring(L, 1)), NULL);
}

static int l_find(lua_State *L)
{
    admin_call(L, self(L), "order.find", args_at(L, 1), NULL);
    lua_getfield(L, -1, "orders");
    return 1;
}

/* corder.hold(number, code [, note]) / corder.release(number): F10 from
 * the console, under the signed-in staff (order_hold or an approval). */
static int l_hold(lua_State *L)
{
    json_t *args = one_arg("number", luaL_checkstring(L, 1));
    json_object_set_new(args, "code", json_string(luaL_checkstring(L, 2)));
    if (!lua_isnoneornil(L, 3))
        json_object_set_new(args, "note", json_string(luaL_checkstring(L, 3)));
    return admin_call(L, self(L), "order.hold", args, NULL);
}

static int l_release(lua_State *L)
{
    return admin_call(L, self(L), "order.release", one_arg("number", luaL_checkstring(L, 1)), NULL);
}

static int l_history(lua_State *L)
{
    admin_call(L, self(L), "order.history", one_arg("number", luaL_checkstring(L, 1)), NULL);
    lua_getfield(L, -1, "events");
    return 1;
}

static int l_policy(lua_State *L)
{
    const char *store = luaL_optstring(L, 1, NULL);
    return admin_call(L, self(L), "policy.info", one_arg("store", store), store);
}

static int l_reload(lua_State *L)
{
    const char *store = luaL_optstring(L, 1, NULL);
    return admin_call(L, self(L), "policy.reload", one_arg("store", store), store);
}

/* sync.run when this build has it (the sync issue), else sync.status. */
static int l_sync(lua_State *L)
{
    admin_state *a = self(L);
    const char *store = luaL_optstring(L, 1, NULL);
    json_t *resp = NULL;
    if (!admin_changes("sync.run") || a->staff.signed_in) {
        session *s = admin_changes("sync.run") ? &a->staff : reader(a, store);
        resp = admin_request(L, a, s, json_pack("{s:s}", "op", "sync.run"));
    }
    const char *code = json_string_value(json_object_get(json_object_get(resp, "error"), "code"));
    if (resp && !(code && !strcmp(code, "unknown_op"))) return push_response(L, resp);
    json_decref(resp);
    return admin_call(L, a, "sync.status", NULL, store);
}

/* Stores' policies: name, version, when loaded, the last reload error. */
static json_t *policy_versions(engine *e)
{
    static const char sql[] = "SELECT id FROM stores ORDER BY id";
    json_t *out = json_object();
    err_t err;
    sqlite3_stmt *st = engine_stmt(e, sql, &err);
    if (!st) return out;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *store = (const char *)sqlite3_column_text(st, 0);
        json_t *info = policy_host_info(engine_policies(e), store, &err);
        if (!info) continue;
        json_object_del(info, "parameters");
        json_object_set_new(out, store, info);
    }
    sqlite3_reset(st);
    return out;
}

/* What corder.stats shows, gathered where the engine lives (the loop
 * when attached). */
static void stats_fn(server *srv, engine *e, void *arg)
{
    json_t **out = arg;
    *out = json_pack("{s:o, s:o}", "ops", dispatch_stats(), "policies", policy_versions(e));
    if (srv) json_object_update_new(*out, server_stats(srv));
}

static int l_stats(lua_State *L)
{
    admin_state *a = self(L);
    json_t *o = NULL;
    if (!a->srv)
        stats_fn(NULL, a->e, &o);
    else if (!server_console_exec(a->srv, stats_fn, &o))
        return luaL_error(L, "internal: the server is stopping");
    if (!o) return luaL_error(L, "out of memory");
    json_object_set_new(o, "mode", json_string(a->srv ? "attached" : "local"));
    pcv_push_json(L, o, 0);
    json_decref(o);
    return 1;
}

/* corder.slowlog([{threshold = ms, clear = true}]): the slow requests,
 * newest first, after applying the options given. */
static int l_slowlog(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_getfield(L, 1, "threshold");
        if (!lua_isnil(L, -1)) {
            lua_Integer ms = luaL_checkinteger(L, -1);
            luaL_argcheck(L, ms >= 0 && ms <= 3600000, 1, "threshold: 0 to 3600000 ms");
            slowlog_set_threshold(ms);
        }
        lua_getfield(L, 1, "clear");
        if (lua_toboolean(L, -1)) slowlog_clear();
        lua_pop(L, 2);
    }
    json_t *o = slowlog_get();
    pcv_push_json(L, o, 0);
    json_decref(o);
    return 1;
}

/* corder.backup(path): what `corder backup` does, from the console's own
 * thread with its own connections (never the server's); the time it takes
 * is not the chunk's budget's. */
static int l_backup(lua_State *L)
{
    admin_state *a = self(L);
    const char *to = luaL_checkstring(L, 1);
    if (!a->db_path[0]) return luaL_error(L, "this database has no file to back up");
    err_t err;
    err_clear(&err);
    backup_result res;
    int64_t t0 = pwt_now_ns();
    int rc = backup_copy(a->db_path, to, NULL, &res, &err);
    psb_of(L)->deadline_ns += pwt_now_ns() - t0;
    if (rc < 0) return luaL_error(L, "%s", err.message);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, to);
    lua_setfield(L, -2, "path");
    lua_pushinteger(L, res.orders);
    lua_setfield(L, -2, "orders");
    lua_pushinteger(L, res.pages);
    lua_setfield(L, -2, "pages");
    lua_pushinteger(L, res.ms);
    lua_setfield(L, -2, "ms");
    lua_pushinteger(L, res.schema);
    lua_setfield(L, -2, "schema");
    lua_pushliteral(L, "ok");
    lua_setfield(L, -2, "integrity");
    return 1;
}

static int l_login(lua_State *L)
{
    admin_state *a = self(L);
    const char *store = luaL_checkstring(L, 1), *staff = luaL_checkstring(L, 2),
               *pin = luaL_checkstring(L, 3);
    json_t *req = json_pack("{s:s, s:{s:s, s:s, s:s}}", "op", "session.login", "args", "store",
                            store, "staff", staff, "pin", pin);
    if (!req) return luaL_error(L, "corder.login wants text (UTF-8) for store, staff and PIN");
    memset(&a->temp, 0, sizeof a->temp);
    json_t *resp = admin_request(L, a, &a->temp, req);
    if (json_is_true(json_object_get(resp, "ok"))) a->staff = a->temp;
    sodium_memzero(&a->temp, sizeof a->temp);
    return push_response(L, resp);
}

static int l_logout(lua_State *L)
{
    memset(&self(L)->staff, 0, sizeof self(L)->staff);
    return 0;
}

static int l_whoami(lua_State *L)
{
    admin_state *a = self(L);
    if (!a->staff.signed_in) {
        lua_pushliteral(L, "support (read-only): corder.login(store, staff, pin) to make changes");
        return 1;
    }
    lua_createtable(L, 0, 4);
    lua_pushstring(L, a->staff.store);
    lua_setfield(L, -2, "store");
    lua_pushstring(L, a->staff.staff);
    lua_setfield(L, -2, "staff");
    lua_pushstring(L, a->staff.name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, a->staff.role);
    lua_setfield(L, -2, "role");
    return 1;
}

static int l_call(lua_State *L)
{
    const char *op = luaL_checkstring(L, 1);
    if (!strcmp(op, "session.login"))
        return luaL_error(L, "use corder.login(store, staff, pin) to sign in");
    json_t *args = args_at(L, 2);
    const char *store = args ? json_string_value(json_object_get(args, "store")) : NULL;
    return admin_call(L, self(L), op, args, store);
}

static const luaL_Reg admin_funcs[] = {
    {"order", l_order},   {"find", l_find},     {"history", l_history}, {"policy", l_policy},
    {"reload", l_reload}, {"sync", l_sync},     {"stats", l_stats},     {"login", l_login},
    {"logout", l_logout}, {"whoami", l_whoami}, {"call", l_call},       {"slowlog", l_slowlog},
    {"backup", l_backup}, {"hold", l_hold},     {"release", l_release}, {NULL, NULL}};

void admin_api_push(lua_State *L, admin_state *a)
{
    lua_createtable(L, 0, sizeof admin_funcs / sizeof *admin_funcs);
    lua_pushlightuserdata(L, a);
    luaL_setfuncs(L, admin_funcs, 1);
}

/* lapi_admin.c: the support API, the `corder` table of the console
 * (PROTOCOL.md "The support REPL"):
 *
 *   corder.order(number)            corder.find{q=, customer=, status=, store=, ...}
 *   corder.history(number)          corder.policy([store])   corder.reload([store])
 *   corder.sync([store])            corder.stats()
 *   corder.login(store, staff, pin) corder.logout()          corder.whoami()
 *   corder.call(op [, args])        any op of the protocol (docs/protocol.md)
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
#include "ops/dispatch.h"
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

static void first_store(admin_state *a, char out[32])
{
    static const char sql[] = "SELECT id FROM stores ORDER BY id LIMIT 1";
    err_t err;
    sqlite3_stmt *st = engine_stmt(a->e, sql, &err);
    out[0] = 0;
    if (!st) return;
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, 32, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
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
        first_store(a, r->store);
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

/* The second half of admin_dispatch, after the PINs were judged. */
static int admin_dispatch_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    admin_state *a = self(L);
    a->pending.waiting = false;
    bool is_write;
    json_t *resp = dispatch_run(a->e, a->pending.s, &a->pending.r, &is_write);
    dispatch_req_free(&a->pending.r);
    if (a->pending.login && json_is_true(json_object_get(resp, "ok"))) a->staff = a->pending.temp;
    sodium_memzero(&a->pending.temp, sizeof a->pending.temp);
    return push_response(L, resp);
}

bool admin_suspended(admin_state *a)
{
    return a->pending.waiting;
}

/* Runs req (taken over) under session s and pushes its result. Attached to
 * a server, a PIN in it that is neither cached nor judged suspends the
 * chunk first: the server checks it off its loop and resumes the chunk in
 * admin_dispatch_k. Only the PINs the op needs are checked (one for a
 * sign-in, one per approval), as for any client. */
static int admin_dispatch(lua_State *L, admin_state *a, session *s, json_t *req, bool login)
{
    if (a->pending.waiting) {
        json_decref(req);
        return luaL_error(L, "a request is already waiting for a PIN check");
    }
    dispatch_parse_value(&a->pending.r, req);
    json_decref(req);
    a->pending.s = s;
    a->pending.login = login;
    bool unjudged = false;
    if (a->srv) {
        dispatch_req_pins(&a->pending.r, s);
        for (int i = 0; i < a->pending.r.npins; i++) {
            auth_pin *p = &a->pending.r.pins[i];
            auth_staff st;
            err_t err = {0};
            if (auth_locked(a->e, p->staff, NULL) || auth_lookup(a->e, p->staff, &st, &err) < 0)
                continue; /* dispatch refuses it, unhashed */
            if (auth_cached(a->e, p->staff, st.hash, p->pin))
                p->verdict = 1;
            else
                unjudged = true;
            sodium_memzero(&st, sizeof st);
        }
    }
    if (unjudged && !lua_isyieldable(L)) {
        dispatch_req_free(&a->pending.r);
        return luaL_error(L, "a PIN cannot be checked here (inside a callback such as a gsub"
                             " function or a sort comparator): sign in or approve at the top"
                             " level of the chunk");
    }
    if (unjudged) {
        a->pending.waiting = true;
        return lua_yieldk(L, 0, 0, admin_dispatch_k);
    }
    return admin_dispatch_k(L, LUA_OK, 0);
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
    return admin_dispatch(L, a, s, req, false);
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
    bool is_write;
    json_t *probe = json_pack("{s:s}", "op", "sync.run");
    json_t *resp = NULL;
    if (!admin_changes("sync.run") || a->staff.signed_in) {
        session *s = admin_changes("sync.run") ? &a->staff : reader(a, store);
        resp = dispatch_request(a->e, s, probe, &is_write);
    }
    json_decref(probe);
    const char *code = json_string_value(json_object_get(json_object_get(resp, "error"), "code"));
    if (resp && !(code && !strcmp(code, "unknown_op"))) return push_response(L, resp);
    json_decref(resp);
    return admin_call(L, a, "sync.status", NULL, store);
}

/* Stores' policies: name, version, when loaded, the last reload error. */
static json_t *policy_versions(admin_state *a)
{
    static const char sql[] = "SELECT id FROM stores ORDER BY id";
    json_t *out = json_object();
    err_t err;
    sqlite3_stmt *st = engine_stmt(a->e, sql, &err);
    if (!st) return out;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *store = (const char *)sqlite3_column_text(st, 0);
        json_t *info = policy_host_info(engine_policies(a->e), store, &err);
        if (!info) continue;
        json_object_del(info, "parameters");
        json_object_set_new(out, store, info);
    }
    sqlite3_reset(st);
    return out;
}

static int l_stats(lua_State *L)
{
    admin_state *a = self(L);
    json_t *o = json_pack("{s:o, s:o}", "ops", dispatch_stats(), "policies", policy_versions(a));
    if (a->srv) json_object_update_new(o, server_stats(a->srv));
    json_object_set_new(o, "mode", json_string(a->srv ? "attached" : "local"));
    pcv_push_json(L, o, 0);
    json_decref(o);
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
    memset(&a->pending.temp, 0, sizeof a->pending.temp);
    return admin_dispatch(L, a, &a->pending.temp, req, true);
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
    {"logout", l_logout}, {"whoami", l_whoami}, {"call", l_call},       {NULL, NULL}};

void admin_api_push(lua_State *L, admin_state *a)
{
    lua_createtable(L, 0, sizeof admin_funcs / sizeof *admin_funcs);
    lua_pushlightuserdata(L, a);
    luaL_setfuncs(L, admin_funcs, 1);
}

/* policy_sandbox.c: the box a retailer's Lua runs in (SPEC L2, POLICY.md
 * "What a policy can use").
 *
 * One lua_State per loaded policy version. The libraries are opened one by
 * one (never luaL_openlibs) into the state's hidden globals, and the policy
 * sees only a fresh environment table built from the safe parts:
 *
 *   base:   assert error ipairs next pairs pcall select tonumber tostring type
 *           rawequal rawlen rawget rawset getmetatable;
 *           xpcall (handler run after the unwind, see l_xpcall),
 *           setmetatable (no __gc), print (to the engine log),
 *           load (text chunks only, into the sandbox env)
 *   string (no dump), table, math, utf8, unpack = table.unpack
 *   os = {time, date, clock, difftime}
 *   corder = {pct, round, muldiv, log}, read-only
 * with every library function that loops in C replaced (see "time in C").
 *
 * Three limits make a fault cost one request, never the engine:
 *   - memory: a lua_Alloc that refuses growth past the cap (Lua turns that
 *     into a "not enough memory" error that unwinds to our pcall);
 *   - time in Lua code: a watchdog thread compares the monotonic clock
 *     with the call's deadline every millisecond (policy_watchdog.c) and,
 *     past it, has the call's thread set a count hook of 1, which errors
 *     at every instruction from then on, so a policy's own pcall that
 *     catches the error is stopped again at its next instruction (Redis
 *     does the same). Until then the policy runs with no hook, which Lua
 *     would check before every instruction. Where the watchdog cannot
 *     watch (policy_watchdog.h), a count hook compares the clock with the
 *     deadline every PSB_HOOK_EVERY instructions instead, as it always
 *     did. No finalizer runs between calls: setmetatable refuses __gc;
 *   - time in C, where the hook cannot look: a library function runs no
 *     Lua instructions, and string.find with many ".-" or
 *     table.move({}, 1, 3e8, 2) once held the engine for seconds. Now each
 *     function a policy can reach is either constant-time or pays for its
 *     work: the pattern functions are corder's own matcher with a step
 *     counter (policy_match.c); the others that loop are rewritten or
 *     wrapped (policy_bounded.c). They charge work units to psb_charge,
 *     which reads the clock every PSB_WORK_EVERY units (about 65 us of
 *     work) and, past the deadline, raises the hook's own error, file:line
 *     included, and re-arms the hook at 1; a step that cannot be split
 *     (a call into Lua's own code) is refused before it starts if its cost,
 *     known from its arguments, would not fit before the deadline
 *     (psb_reserve). load feeds the compiler 4 KiB pieces, each charged.
 *     Some single instructions cost time in proportion to a big object
 *     (== or < on long strings, a numeral of a million digits, ... of a
 *     million values): the allocator counts allocated bytes as work and
 *     sets the hook to fire at the next instruction once the deadline has
 *     passed; under the count hook it also counts the bytes held in big
 *     blocks and shortens the hook's period as they grow (psb_period).
 * What still runs to its end past the deadline is one step bounded by the
 * memory cap (a copy of at most 32 MiB, or its first touch: a few ms on
 * ordinary hardware, up to ~0.1 s where fresh memory is slow), and the
 * garbage collector's atomic phase, which no hook interrupts: in Lua 5.4
 * converging a long chain of entries in a weak-keyed table is quadratic
 * (a policy could build one; setmetatable cannot refuse __mode, which may
 * be set on the metatable afterwards). */
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/money.h"
#include "host/policy_charge.h"
#include "host/policy_int.h"

/* ---- print and corder.log: one line each in the engine log (stderr) ---- */

/* A longer line is cut: the log is for people, and a 30 MiB line would
 * cost the engine the time to write it. */
#define PSB_LOG_MAX 4096

/* msg holds the first len bytes of a line of total bytes. */
static void psb_log_line(lua_State *L, const char *msg, size_t len, size_t total)
{
    const char *store = psb_of(L)->store;
    if (len > PSB_LOG_MAX) len = PSB_LOG_MAX;
    if (total > len)
        fprintf(stderr, "policy[%s]: %.*s... (%zu more bytes cut)\n", store ? store : "-", (int)len,
                msg, total - len);
    else
        fprintf(stderr, "policy[%s]: %.*s\n", store ? store : "-", (int)len, msg);
}

/* Every argument goes through tostring, as in Lua; only the first
 * PSB_LOG_MAX bytes of the line are kept. */
static int l_print(lua_State *L)
{
    int n = lua_gettop(L);
    char line[PSB_LOG_MAX];
    size_t len = 0, total = 0;
    for (int i = 1; i <= n; i++) {
        size_t l;
        const char *s = luaL_tolstring(L, i, &l);
        if (i > 1) {
            if (len < PSB_LOG_MAX) line[len++] = '\t';
            total++;
        }
        size_t c = l < PSB_LOG_MAX - len ? l : PSB_LOG_MAX - len;
        memcpy(line + len, s, c);
        len += c;
        total += l;
        lua_pop(L, 1);
        psb_charge(L, 64);
    }
    psb_log_line(L, line, len, total);
    return 0;
}

static int l_log(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checkstring(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1)); /* string.format */
    lua_insert(L, 1);
    lua_call(L, n, 1);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    psb_log_line(L, s, len, len);
    return 0;
}

/* ---- corder.pct / round / muldiv: exact integer money in Lua ---- */

static int64_t psb_check_amount(lua_State *L, int idx, const char *fn, const char *what)
{
    if (!lua_isinteger(L, idx)) {
        if (lua_type(L, idx) == LUA_TNUMBER)
            luaL_error(L, "corder.%s: %s must be an integer (minor units), got float %s", fn, what,
                       lua_tostring(L, idx));
        luaL_error(L, "corder.%s: %s must be an integer, got %s", fn, what, luaL_typename(L, idx));
    }
    return lua_tointeger(L, idx);
}

int psb_to_bp(lua_State *L, int idx, int64_t *bp)
{
    if (lua_type(L, idx) == LUA_TSTRING) return money_parse_pct(lua_tostring(L, idx), bp) ? 0 : -1;
    if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v < 0 || v > 10000) return -1;
        *bp = v * 100;
        return 0;
    }
    if (lua_type(L, idx) != LUA_TNUMBER) return -1;
    double v = lua_tonumber(L, idx);
    if (!isfinite(v) || v < 0 || v > 10000) return -1;
    char buf[64];
    snprintf(buf, sizeof buf, "%.2f", v);
    if (!money_parse_pct(buf, bp)) return -1;
    /* 33.33 and 3333/100.0 are the same double; 33.333 is not. */
    return (double)*bp / 100.0 == v ? 0 : -2;
}

static int l_pct(lua_State *L)
{
    int64_t a = psb_check_amount(L, 1, "pct", "amount"), bp;
    int rc = psb_to_bp(L, 2, &bp);
    if (rc == -2)
        return luaL_error(L, "corder.pct: %s has more than 2 decimals", lua_tostring(L, 2));
    if (rc < 0)
        return luaL_error(L, "corder.pct: pct must be a number from 0 to 10000 with up to 2 "
                             "decimals");
    money_t out;
    if (!money_pct(a, bp, &out)) return luaL_error(L, "corder.pct: overflow");
    lua_pushinteger(L, out);
    return 1;
}

static int l_round(lua_State *L)
{
    int64_t a = psb_check_amount(L, 1, "round", "amount");
    int64_t step = psb_check_amount(L, 2, "round", "step");
    if (step <= 0) return luaL_error(L, "corder.round: step must be > 0");
    money_t out;
    if (!money_round(a, step, &out)) return luaL_error(L, "corder.round: overflow");
    lua_pushinteger(L, out);
    return 1;
}

static int l_muldiv(lua_State *L)
{
    int64_t a = psb_check_amount(L, 1, "muldiv", "amount");
    int64_t num = psb_check_amount(L, 2, "muldiv", "num");
    int64_t den = psb_check_amount(L, 3, "muldiv", "den");
    if (den <= 0) return luaL_error(L, "corder.muldiv: den must be > 0");
    money_t out;
    if (!money_muldiv(a, num, den, &out)) return luaL_error(L, "corder.muldiv: overflow");
    lua_pushinteger(L, out);
    return 1;
}

static int l_readonly(lua_State *L)
{
    return luaL_error(L, "corder is read-only");
}

/* A zero-size userdata rather than a table: rawset cannot write into it. */
static void psb_push_corder(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, l_pct);
    lua_setfield(L, -2, "pct");
    lua_pushcfunction(L, l_round);
    lua_setfield(L, -2, "round");
    lua_pushcfunction(L, l_muldiv);
    lua_setfield(L, -2, "muldiv");
    lua_getfield(L, LUA_REGISTRYINDEX, "corder.strlib");
    lua_getfield(L, -1, "format");
    lua_pushcclosure(L, l_log, 1);
    lua_setfield(L, -3, "log");
    lua_pop(L, 1);
    lua_newuserdatauv(L, 0, 0);
    lua_createtable(L, 0, 3);
    lua_rotate(L, -3, -1); /* ud, mt, real */
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_readonly);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
}

/* ---- load: text only, and into the sandbox ---- */

/* The compiler runs no Lua instructions either: the chunk is fed to it
 * PSB_LOAD_PIECE bytes at a time, each charged to the budget (compiling
 * costs some 30 ns a byte), so a 30 MiB chunk is stopped like a loop. */
#define PSB_LOAD_PIECE 4096

typedef struct {
    const char *s;
    size_t left;
} psb_reader;

static const char *psb_read_piece(lua_State *L, void *ud, size_t *size)
{
    psb_reader *r = ud;
    *size = r->left < PSB_LOAD_PIECE ? r->left : PSB_LOAD_PIECE;
    if (*size == 0) return NULL;
    psb_charge(L, *size * 32);
    const char *piece = r->s;
    r->s += *size;
    r->left -= *size;
    return piece;
}

static int l_load(lua_State *L)
{
    size_t len;
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "load: only string chunks are allowed in a policy");
    const char *s = lua_tolstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    const char *mode = luaL_optstring(L, 3, "t");
    if (!strchr(mode, 't')) {
        luaL_pushfail(L);
        lua_pushliteral(L, "load: a policy may load text chunks only");
        return 2;
    }
    int has_env = !lua_isnone(L, 4);
    psb_reader r = {s, len};
    if (lua_load(L, psb_read_piece, &r, name, "t") != LUA_OK) {
        if (psb_of(L)->tripped) return lua_error(L); /* out of time: not load's failure */
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env)
        lua_pushvalue(L, 4);
    else
        psb_push_env(L);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    return 1;
}

/* xpcall runs its handler after the pcall, not inside the error: Lua calls
 * a message handler with hooks off when the error comes from a hook (the
 * budget's), so a handler that loops would never be stopped. */
static int l_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 1);
    for (int i = 3; i <= n; i++)
        lua_pushvalue(L, i);
    int st = lua_pcall(L, n - 2, LUA_MULTRET, 0);
    if (st == LUA_OK) {
        lua_pushboolean(L, 1);
        lua_insert(L, n + 1);
        return lua_gettop(L) - n;
    }
    if (st != LUA_ERRMEM) {
        lua_pushvalue(L, 2);
        lua_insert(L, -2);
        lua_pcall(L, 1, 1, 0);
    }
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
}

/* Finalizers run with hooks off (lgc.c GCTM), out of the budget's reach:
 * a policy may not have any. Lua marks an object for finalization only if
 * its metatable has __gc when set, so checking here is enough. */
static int l_setmetatable(lua_State *L)
{
    lua_pushliteral(L, "__gc");
    if (lua_istable(L, 2) && lua_rawget(L, 2) != LUA_TNIL)
        return luaL_error(L, "setmetatable: __gc metamethods are not allowed in a policy");
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

static void psb_copy(lua_State *L, int from, int to, const char *const *names)
{
    for (; *names; names++) {
        lua_getfield(L, from, *names);
        lua_setfield(L, to, *names);
    }
}

static const char *const base_safe[] = {
    "assert", "error",    "ipairs",       "next",     "pairs",    "pcall",
    "select", "tonumber", "tostring",     "type",     "rawequal", "rawlen",
    "rawget", "rawset",   "getmetatable", "_VERSION", NULL,
};
static const char *const os_safe[] = {"time", "date", "clock", "difftime", NULL};

/* Runs under lua_pcall so that running out of memory while building the
 * sandbox is an error, not a panic. */
static int psb_setup(lua_State *L)
{
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 0);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 0);
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    /* stack: _G string table math utf8 os */
    int g = 1, str = 2, tab = 3, math = 4, utf8 = 5, os = 6;

    /* The string table is also the strings' __index: strip it in place,
     * and put in the functions that charge the budget for their work. */
    lua_pushnil(L);
    lua_setfield(L, str, "dump");
    psm_install(L, str);
    pbd_install(L, g, str, tab, math, utf8, os);
    lua_pushvalue(L, str);
    lua_setfield(L, LUA_REGISTRYINDEX, "corder.strlib");
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);

    lua_createtable(L, 0, 32);
    int env = lua_gettop(L);
    psb_copy(L, g, env, base_safe);
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");
    lua_pushcfunction(L, l_print);
    lua_setfield(L, env, "print");
    lua_pushcfunction(L, l_load);
    lua_setfield(L, env, "load");
    lua_pushcfunction(L, l_xpcall);
    lua_setfield(L, env, "xpcall");
    lua_getfield(L, g, "setmetatable");
    lua_pushcclosure(L, l_setmetatable, 1);
    lua_setfield(L, env, "setmetatable");
    lua_pushvalue(L, str);
    lua_setfield(L, env, "string");
    lua_pushvalue(L, tab);
    lua_setfield(L, env, "table");
    lua_getfield(L, tab, "unpack");
    lua_setfield(L, env, "unpack");
    lua_pushvalue(L, math);
    lua_setfield(L, env, "math");
    lua_pushvalue(L, utf8);
    lua_setfield(L, env, "utf8");
    lua_createtable(L, 0, 4);
    psb_copy(L, os, lua_gettop(L), os_safe);
    lua_setfield(L, env, "os");
    lua_pushvalue(L, env);
    lua_setfield(L, LUA_REGISTRYINDEX, "corder.env");
    psb_push_corder(L);
    lua_setfield(L, env, "corder");
    pvw_install(L);
    return 0;
}

static void psb_nowarn(void *ud, const char *msg, int tocont)
{
    (void)ud, (void)msg, (void)tocont;
}

lua_State *psb_new(const policy_limits *lim, err_t *err)
{
    psb_state *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    s->cap = lim && lim->memory_cap ? lim->memory_cap : POLICY_DEFAULT_MEMORY;
    s->budget_us = lim && lim->budget_us > 0 ? lim->budget_us : POLICY_DEFAULT_BUDGET_US;
    lua_State *L = lua_newstate(psb_alloc, s);
    if (!L) {
        psb_alloc_release(s);
        free(s);
        err_set(err, ERR_POLICY_ERROR, "cannot create a Lua state (memory cap too small?)");
        return NULL;
    }
    s->L = L;
    lua_setwarnf(L, psb_nowarn, NULL);
    psb_arm(L, NULL);
    lua_pushcfunction(L, psb_setup);
    int rc = lua_pcall(L, 0, 0, 0);
    psb_disarm(L);
    if (rc != LUA_OK) {
        err_set(err, ERR_POLICY_ERROR, "cannot build the policy sandbox: %s",
                rc == LUA_ERRMEM ? "memory cap too small" : lua_tostring(L, -1));
        psb_close(L);
        return NULL;
    }
    return L;
}

void psb_close(lua_State *L)
{
    if (!L) return;
    psb_state *s = psb_of(L);
    /* Finalizers run in lua_close: give them a budget and no more. */
    psb_arm(L, NULL);
    lua_close(L);
    if (s->watched) pwt_unwatch(&s->outer); /* before s goes */
    psb_alloc_release(s);
    free(s);
}

void psb_push_env(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "corder.env");
}

int psb_load(lua_State *L, const char *buf, size_t len, const char *file)
{
    char name[1024];
    snprintf(name, sizeof name, "@%s", file);
    int rc = luaL_loadbufferx(L, buf, len, name, "t");
    if (rc != LUA_OK) return rc;
    psb_push_env(L);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    return LUA_OK;
}

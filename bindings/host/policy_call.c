/* policy_call.c: asking a version a question (POLICY.md hooks).
 *
 * One call = arm the budget, then one lua_pcall of a C trampoline that
 * pushes the arguments (JSON text parsed into tables; the order as a view
 * built from its structs as far as the hook reads it, policy_view.c),
 * builds ctx = {store, today, now, params} and calls the hook. Doing this
 * inside the pcall matters: building the argument tables can hit the
 * memory cap, and outside a pcall that would be a panic. ctx.params is a
 * fresh table reading a table built once at load (copied into it when the
 * hook writes into it or walks it: policy_load.c), not a conversion per
 * call. The answer is checked here,
 * not trusted: amounts must be Lua integers in [0, MONEY_MAX] (a float is refused even when
 * integral, since M1 allows no floating point in money paths), permits a boolean.
 *
 * After a memory error the state may hold whatever the policy piled up in
 * its globals, so it is rebuilt from the same source; the version id and
 * the references others hold stay valid. */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "model/money.h"
#include "host/policy_int.h"

static int64_t pinned_now;

void policy_set_now(int64_t now)
{
    pinned_now = now;
}

int64_t pcl_pinned_now(void)
{
    return pinned_now;
}

void lh_release(policy *p)
{
    if (p && --p->refs == 0) pld_free(p);
}

const policy_params *lh_params(const policy *p)
{
    return &p->params;
}

const char *lh_version(const policy *p)
{
    return p->version;
}

const char *lh_name(const policy *p)
{
    return p->name;
}

const char *policy_file(const policy *p)
{
    return p->file;
}

json_t *policy_params_json(const policy *p)
{
    return p->params_json;
}

bool lh_has_hook(const policy *p, policy_hook hook)
{
    return (unsigned)hook < HOOK_COUNT && p->has[hook];
}

/* Hook calls made, for tests (policy_lua_calls). */
static unsigned long long hook_calls;

unsigned long long policy_lua_calls(void)
{
    return __atomic_load_n(&hook_calls, __ATOMIC_RELAXED);
}

typedef struct {
    policy *p;
    policy_hook hook;
    const char *store, *today;
    int64_t now; /* epoch seconds of the caller's clock; 0: the pin, else the real clock */
    json_t *const *args;
    const policy_arg *pargs; /* or the arguments as text or the order */
    int nargs;
} call_ctx;

/* "2024-05-01T10:00:00Z" of t; the last one is kept (calls come in bursts
 * within one second). */
static const char *iso_of(time_t t, char today[11])
{
    static _Thread_local time_t last = -1;
    static _Thread_local char iso[21];
    if (t != last) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
        last = t;
    }
    if (today) {
        memcpy(today, iso, 10);
        today[10] = '\0';
    }
    return iso;
}

static void push_ctx(lua_State *L, const call_ctx *c)
{
    char today[11];
    /* One clock: the flow's own (a pinned test clock included), so ctx.now
     * and the order's timestamps agree; tools without one pass 0. */
    time_t t = c->now ? (time_t)c->now : pinned_now ? (time_t)pinned_now : time(NULL);
    const char *now = iso_of(t, c->today ? NULL : today);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, c->store ? c->store : "");
    lua_setfield(L, -2, "store");
    lua_pushstring(L, c->today ? c->today : today);
    lua_setfield(L, -2, "today");
    lua_pushstring(L, now);
    lua_setfield(L, -2, "now");
    lua_createtable(L, 0, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->p->params_mt);
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "params");
}

static int call_run(lua_State *L)
{
    call_ctx *c = lua_touserdata(L, 1);
    lua_settop(L, 0);
    luaL_checkstack(L, c->nargs + 4, "hook arguments");
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->p->hook_ref[c->hook]);
    int orders = 0;
    for (int i = 0; i < c->nargs; i++) {
        if (!c->pargs)
            pcv_push_json(L, c->args[i], 0);
        else if (c->pargs[i].order && orders++ == 0)
            pvw_push_order(L, c->pargs[i].order);
        else if (c->pargs[i].order) /* one view per call (policy_view.c) */
            luaL_error(L, "internal: a hook call with two orders");
        else
            pcv_push_text(L, c->pargs[i].text, c->pargs[i].len);
    }
    push_ctx(L, c);
    lua_call(L, c->nargs + 1, 1);
    return 1;
}

/* A fresh state from the same source, swapped in under the same version. */
static void call_rebuild(policy *p)
{
    err_t e;
    policy *q = pld_load(p->name, p->file, p->source, p->srclen, &p->lim, &e);
    if (!q) return; /* keep the doubtful state rather than none */
    lua_State *L = p->L;
    p->L = q->L;
    q->L = L;
    memcpy(p->hook_ref, q->hook_ref, sizeof p->hook_ref);
    p->params_ref = q->params_ref;
    p->params_mt = q->params_mt;
    pld_free(q);
}

/* Runs the hook; on success the answer is on top of p->L's stack. */
static int call_hook(policy *p, call_ctx c, err_t *err)
{
    policy_hook hook = c.hook;
    if (!p->L || !p->has[hook])
        return err_set(err, ERR_INTERNAL, "policy %s has no %s hook (the engine's default applies)",
                       p->name, policy_hook_name(hook));
    lua_State *L = p->L;
    lua_settop(L, 0);
    psb_arm(L, c.store);
    /* Until the count hook sees a line, a memory error names the hook's. */
    psb_of(L)->last_line = p->hook_line[hook];
    __atomic_fetch_add(&hook_calls, 1, __ATOMIC_RELAXED);
    lua_pushcfunction(L, call_run);
    lua_pushlightuserdata(L, &c);
    int rc = lua_pcall(L, 1, 1, 0);
    pvw_end(L); /* the flow's structs are not to be read past the call */
    if (rc == LUA_OK) return 0;
    pld_lua_error(L, rc, p->file, policy_hook_name(hook), err);
    int rebuild = rc == LUA_ERRMEM || psb_of(L)->mem_refused;
    lua_settop(L, 0);
    psb_disarm(L);
    if (rebuild) call_rebuild(p);
    return -1;
}

static void describe(lua_State *L, char *out, size_t n)
{
    switch (lua_type(L, -1)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, -1))
            snprintf(out, n, "%lld", (long long)lua_tointeger(L, -1));
        else
            snprintf(out, n, "a float (%.14g)", lua_tonumber(L, -1));
        break;
    case LUA_TSTRING:
        snprintf(out, n, "a string (\"%.40s\")", lua_tostring(L, -1));
        break;
    case LUA_TNIL:
        snprintf(out, n, "nothing (nil)");
        break;
    default:
        snprintf(out, n, "a %s", luaL_typename(L, -1));
    }
}

/* Checks the answer of an amount hook, on top of p->L's stack. */
static int amount_answer(policy *p, policy_hook hook, int64_t *out, err_t *err)
{
    lua_State *L = p->L;
    int ok = lua_isinteger(L, -1);
    int64_t v = ok ? lua_tointeger(L, -1) : 0;
    int rc = 0;
    if (!ok || v < 0 || v > MONEY_MAX) {
        char what[96];
        describe(L, what, sizeof what);
        rc =
            err_set(err, ERR_POLICY_ERROR,
                    "%s:%d: %s returned %s, expected an integer amount in minor units%s", p->file,
                    p->hook_line[hook], policy_hook_name(hook), what, ok ? " from 0 to 10^15" : "");
    } else
        *out = v;
    lua_settop(L, 0);
    psb_disarm(L);
    return rc;
}

static int check_amount_hook(policy_hook hook, err_t *err)
{
    if (hook == HOOK_PERMITS || (unsigned)hook >= HOOK_COUNT)
        return err_set(err, ERR_INTERNAL, "policy_call_amount: %s is not an amount hook",
                       policy_hook_name(hook));
    return 0;
}

int lh_call_amount(policy *p, policy_hook hook, const char *store, const char *today, int64_t now,
                   const policy_arg *args, int nargs, int64_t *out, err_t *err)
{
    call_ctx c = {p, hook, store, today, now, NULL, args, nargs};
    if (check_amount_hook(hook, err) < 0 || call_hook(p, c, err) < 0) return -1;
    return amount_answer(p, hook, out, err);
}

int lh_call_permits(policy *p, const char *store, const char *today, int64_t now, json_t *staff,
                    const char *permission, bool *out, err_t *err)
{
    json_t *perm = json_string(permission ? permission : "");
    json_t *args[2] = {staff ? staff : json_null(), perm};
    call_ctx c = {p, HOOK_PERMITS, store, today, now, args, NULL, 2};
    int rc = perm ? call_hook(p, c, err)
                  : err_set(err, ERR_BAD_REQUEST, "permission is not valid UTF-8");
    json_decref(perm);
    if (rc < 0) return -1;
    lua_State *L = p->L;
    if (lua_isboolean(L, -1))
        *out = lua_toboolean(L, -1);
    else {
        char what[96];
        describe(L, what, sizeof what);
        rc = err_set(err, ERR_POLICY_ERROR, "%s:%d: permits returned %s, expected true or false",
                     p->file, p->hook_line[HOOK_PERMITS], what);
    }
    lua_settop(L, 0);
    psb_disarm(L);
    return rc;
}

/* lapi_admin_eval.c: one support console session: its Lua state, its
 * thread, running a chunk, capturing what it prints (see lapi_admin.h).
 *
 * Attached to a server, a session's chunks run on a thread of its own and
 * never on the server's loop (SPEC OP5): the loop hands a chunk over
 * (hook_eval) and goes on serving the tills; what the chunk asks of the
 * engine goes to the loop as a request (admin_request) while the thread
 * waits; the chunk's result goes back with server_console_done. The Lua
 * state is made on the loop (hook_open) and from then on touched only by
 * its thread, which also frees it: one lua_State, one thread.
 *
 * The state is the policy sandbox (policy_sandbox.c) with bigger limits:
 * the same memory cap allocator and the same count hook with a deadline
 * that re-arms after it fires, so a runaway chunk, even one that wraps its
 * loop in pcall, is stopped after ADMIN_BUDGET_MS and the server goes on.
 * The sandbox's environment becomes the console's globals: print writes to
 * the chunk's output instead of the engine log, and `corder` is the support
 * API rather than the policy helpers. Globals persist between chunks of a
 * session, as in lua.c; locals do not. */
#include <lauxlib.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lapi_admin_int.h"
#include "host/policy_int.h"
#include "ops/dispatch.h"

#define ADMIN_SHOW_KEY "corder.admin.show"

void admin_out(admin_state *a, const char *s, size_t len)
{
    if (a->out_cut) return;
    if (len > ADMIN_MAX_OUTPUT - a->out_len) {
        len = ADMIN_MAX_OUTPUT - a->out_len;
        a->out_cut = true;
    }
    memcpy(a->out + a->out_len, s, len);
    a->out_len += len;
}

static int l_print(lua_State *L)
{
    admin_state *a = lua_touserdata(L, lua_upvalueindex(1));
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1) admin_out(a, "\t", 1);
        admin_out(a, s, len);
        lua_pop(L, 1);
    }
    admin_out(a, "\n", 1);
    return 0;
}

/* Under lua_pcall, so that running out of memory here is an error. */
static int admin_setup(lua_State *L)
{
    admin_state *a = lua_touserdata(L, 1);
    psb_push_env(L);
    lua_pushlightuserdata(L, a);
    lua_pushcclosure(L, l_print, 1);
    lua_setfield(L, -2, "print");
    admin_api_push(L, a);
    lua_setfield(L, -2, "corder");
    admin_prelude(L); /* leaves show's renderer */
    lua_setfield(L, LUA_REGISTRYINDEX, ADMIN_SHOW_KEY);
    return 0;
}

admin_state *admin_new(engine *e, server *srv, err_t *err)
{
    admin_state *a = calloc(1, sizeof *a);
    char *out = malloc(ADMIN_MAX_OUTPUT);
    if (!a || !out) {
        free(a);
        free(out);
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    a->e = e;
    a->srv = srv;
    a->out = out;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    /* Read here, on the engine's own thread: attached, the console's
     * thread never touches the engine. */
    const char *path = sqlite3_db_filename(engine_db(e), "main");
    snprintf(a->db_path, sizeof a->db_path, "%s", path ? path : "");
    err_t serr;
    sqlite3_stmt *st = engine_stmt(e, "SELECT id FROM stores ORDER BY id LIMIT 1", &serr);
    if (st && sqlite3_step(st) == SQLITE_ROW)
        snprintf(a->first_store, sizeof a->first_store, "%s",
                 (const char *)sqlite3_column_text(st, 0));
    if (st) sqlite3_reset(st);
    policy_limits lim = {.memory_cap = ADMIN_MEMORY, .budget_us = (int64_t)ADMIN_BUDGET_MS * 1000};
    a->L = psb_new(&lim, err);
    if (!a->L) {
        admin_free(a);
        return NULL;
    }
    psb_arm(a->L, NULL);
    lua_pushcfunction(a->L, admin_setup);
    lua_pushlightuserdata(a->L, a);
    int rc = lua_pcall(a->L, 1, 0, 0);
    psb_disarm(a->L);
    if (rc != LUA_OK) {
        err_set(err, ERR_INTERNAL, "cannot set up the console: %s",
                lua_type(a->L, -1) == LUA_TSTRING ? lua_tostring(a->L, -1) : "?");
        admin_free(a);
        return NULL;
    }
    return a;
}

void admin_free(admin_state *a)
{
    if (!a) return;
    sodium_memzero(&a->temp, sizeof a->temp);
    sodium_memzero(&a->staff, sizeof a->staff);
    psb_close(a->L);
    free(a->out);
    free(a->chunk);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

/* Compiles as lua.c's addreturn/multiline: the value form first. The
 * concatenation is done in C: out of a pcall, a Lua allocation that fails
 * would panic, and luaL_loadbufferx itself is protected. */
static int admin_load(lua_State *L, const char *chunk, size_t len)
{
    char *ret = malloc(len + 8);
    if (ret) {
        memcpy(ret, "return ", 7);
        memcpy(ret + 7, chunk, len);
        int rc = luaL_loadbufferx(L, ret, len + 7, "=stdin", "t");
        free(ret);
        if (rc == LUA_OK) return rc;
        lua_pop(L, 1);
    }
    return luaL_loadbufferx(L, chunk, len, "=stdin", "t");
}

/* The error message, copied to buf (no Lua allocation: this runs unprotected). */
static char *error_text(lua_State *L, char *buf, size_t size)
{
    if (lua_type(L, -1) == LUA_TSTRING)
        snprintf(buf, size, "%s", lua_tostring(L, -1));
    else
        snprintf(buf, size, "(error object is a %s value)", luaL_typename(L, -1));
    return buf;
}

/* JSON strings must be UTF-8; a Lua string need not be. Bytes that are
 * not part of a valid sequence become '?'. */
static json_t *utf8_string(char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++)
            ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (!ok || (n == 2 && c < 0xc2)) {
            s[i++] = '?';
            continue;
        }
        i += n;
    }
    json_t *j = json_stringn(s, len);
    return j ? j : json_string("(output not representable)");
}

/* Renders the chunk's results (on the stack above base) with show(),
 * after what it printed; the answer of admin_eval. */
static json_t *admin_result(admin_state *a, int rc, int base)
{
    lua_State *L = a->L;
    char errbuf[2048];
    const char *error = NULL;
    int nres = lua_gettop(L) - base;
    if (rc == LUA_OK && nres > 0) {
        lua_getfield(L, LUA_REGISTRYINDEX, ADMIN_SHOW_KEY);
        lua_insert(L, base + 1);
        psb_arm(L, NULL);
        rc = lua_pcall(L, nres, 1, 0);
        if (rc == LUA_OK) {
            size_t n;
            const char *str = lua_tolstring(L, -1, &n);
            if (str) admin_out(a, str, n);
            if (str && n && str[n - 1] != '\n') admin_out(a, "\n", 1);
        } else {
            error = error_text(L, errbuf, sizeof errbuf);
        }
    } else if (rc != LUA_OK) {
        error = error_text(L, errbuf, sizeof errbuf);
    }
    if (a->out_cut) {
        static const char cut[] = "\n... (output cut)\n";
        a->out_len = ADMIN_MAX_OUTPUT - sizeof cut + 1;
        memcpy(a->out + a->out_len, cut, sizeof cut - 1);
        a->out_len += sizeof cut - 1;
    }
    json_t *r = json_pack("{s:o}", "output", utf8_string(a->out, a->out_len));
    if (error) json_object_set_new(r, "error", utf8_string(errbuf, strlen(errbuf)));
    psb_disarm(L);
    lua_settop(L, 0);
    return r;
}

json_t *admin_eval(admin_state *a, const char *chunk, size_t len)
{
    lua_State *L = a->L;
    a->out_len = 0;
    a->out_cut = false;
    lua_settop(L, 0);
    psb_arm(L, NULL);
    int rc = admin_load(L, chunk, len);
    if (rc != LUA_OK) {
        char errbuf[2048];
        error_text(L, errbuf, sizeof errbuf);
        psb_disarm(L);
        lua_settop(L, 0);
        return json_pack("{s:s, s:o}", "output", "", "error", utf8_string(errbuf, strlen(errbuf)));
    }
    psb_push_env(L);
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    /* The chunk runs as a coroutine, anchored at index 1 of the main state,
     * as it did when it had to wait for PINs on the server's loop: a pcall
     * that catches the budget's error then still cannot end the chunk
     * quietly (the next instruction raises it again), whatever comes last. */
    lua_State *co = lua_newthread(L);
    lua_insert(L, 1);
    lua_xmove(L, co, 1);
    int nres = 0;
    psb_arm(co, NULL);
    rc = lua_resume(co, L, 0, &nres);
    psb_disarm(co);
    if (rc == LUA_YIELD) {
        lua_pop(co, nres);
        lua_pushliteral(co, "a console chunk cannot yield (coroutine.yield outside a coroutine)");
        rc = LUA_ERRRUN;
    }
    if (rc != LUA_OK) {
        lua_xmove(co, L, 1); /* the error */
        return admin_result(a, rc, 1);
    }
    lua_xmove(co, L, nres);
    return admin_result(a, rc, 1);
}

int admin_incomplete(const char *chunk, size_t len)
{
    lua_State *L = luaL_newstate();
    if (!L) return 0;
    int incomplete = 0;
    if (admin_load(L, chunk, len) == LUA_ERRSYNTAX) {
        size_t n;
        const char *msg = lua_tolstring(L, -1, &n);
        incomplete = msg && n >= 5 && !strcmp(msg + n - 5, "<eof>");
    }
    lua_close(L);
    return incomplete;
}

/* ---- the console's thread, and the hooks of server_set_admin ---- */

/* Runs the chunks the loop hands over until the connection goes, then
 * frees the session: the last touch of the server is server_console_gone. */
static void *console_main(void *arg)
{
    admin_state *a = arg;
    pthread_setname_np(pthread_self(), "corder-console");
    server *srv = a->srv;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        if (a->chunk) {
            char *chunk = a->chunk;
            size_t len = a->chunk_len;
            a->chunk = NULL;
            pthread_mutex_unlock(&a->mu);
            json_t *res = admin_eval(a, chunk, len);
            free(chunk);
            server_console_done(srv, a->token, res);
            pthread_mutex_lock(&a->mu);
            continue;
        }
        if (a->quit) break;
        pthread_cond_wait(&a->cv, &a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    admin_free(a);
    server_console_gone(srv);
    return NULL;
}

static void *hook_open(server *s, engine *e, void *token, err_t *err)
{
    admin_state *a = admin_new(e, s, err);
    if (!a) return NULL;
    a->token = token;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&a->thread, &attr, console_main, a);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        err_set(err, ERR_INTERNAL, "cannot start the console's thread: %s", strerror(rc));
        admin_free(a);
        return NULL;
    }
    return a;
}

static void hook_eval(void *state, const char *chunk, size_t len)
{
    admin_state *a = state;
    char *copy = malloc(len + 1);
    if (!copy) abort();
    memcpy(copy, chunk, len);
    copy[len] = 0;
    pthread_mutex_lock(&a->mu);
    free(a->chunk);
    a->chunk = copy;
    a->chunk_len = len;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* The connection is gone: the thread ends after the chunk it runs, if any
 * (its budget bounds it), and frees the session itself. */
static void hook_close(void *state)
{
    admin_state *a = state;
    pthread_mutex_lock(&a->mu);
    a->quit = true;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

const server_admin_hooks *admin_hooks(void)
{
    static const server_admin_hooks hooks = {hook_open, hook_eval, hook_close};
    return &hooks;
}

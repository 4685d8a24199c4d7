/* policy_load.c: turns a policy file into a checked version (SPEC L1, L2).
 *
 * A version is the file's source, compiled into its own sandbox state, its
 * main chunk run once, and its answer checked: it must return a table whose
 * `parameters` (optional) are merged over the defaults and type-checked, and
 * whose hooks (optional) are functions. The hooks are pinned in the registry
 * at load, so a policy that rewrites its own table later changes nothing.
 * The version id is the SHA-256 of the source: what every order and log
 * entry records (L3), and what lets a `touch` without change keep it.
 * Every error names the file (and the line, when Lua knows it). */
#include <errno.h>
#include <lauxlib.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/money.h"
#include "host/policy_int.h"
#include "model/text.h"

#define PLD_MAX_SOURCE (4 << 20)

/* Checks the value on top of the stack against d and stores it; raises a
 * Lua error naming the file and the parameter otherwise. */
static void param_check(lua_State *L, const char *file, const policy_param_desc *d,
                        policy_params *p)
{
    char *base = (char *)p + d->off;
    int64_t v = 0;
    switch (d->kind) {
    case POLICY_PCT: {
        int rc = lua_type(L, -1) == LUA_TNUMBER ? psb_to_bp(L, -1, &v) : -1;
        if (rc == -2)
            luaL_error(L, "%s: parameter %s = %s has more than 2 decimals", file, d->name,
                       lua_tostring(L, -1));
        if (rc < 0 || v > 10000)
            luaL_error(L, "%s: parameter %s must be a number from 0 to 100, got %s", file, d->name,
                       luaL_tolstring(L, -1, NULL));
        *(int64_t *)base = v;
        break;
    }
    case POLICY_CODE: {
        size_t len = 0;
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        /* The code is written into orders as it is: it must be UTF-8, or
         * the order could not be read back. */
        if (!s || len == 0 || len > 31 || !text_utf8_ok(s, len))
            luaL_error(L, "%s: parameter %s must be a non-empty UTF-8 string of at most 31 bytes",
                       file, d->name);
        memcpy(base, s, len + 1);
        break;
    }
    case POLICY_BOOL:
        if (!lua_isboolean(L, -1))
            luaL_error(L, "%s: parameter %s must be true or false, got %s", file, d->name,
                       luaL_typename(L, -1));
        *(bool *)base = lua_toboolean(L, -1);
        break;
    case POLICY_AMOUNT:
    case POLICY_DAYS: {
        int64_t lo = d->kind == POLICY_DAYS ? 1 : 0, hi = d->kind == POLICY_DAYS ? 3650 : MONEY_MAX;
        v = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
        if (!lua_isinteger(L, -1) || v < lo || v > hi)
            luaL_error(L, "%s: parameter %s must be an integer from %I to %I%s, got %s", file,
                       d->name, (lua_Integer)lo, (lua_Integer)hi,
                       d->kind == POLICY_AMOUNT ? " (minor units)" : "",
                       luaL_tolstring(L, -1, NULL));
        *(int64_t *)base = v;
        break;
    }
    case POLICY_TENDERS: {
        /* nil never gets here (a table holds no nil): a list of names */
        policy_tenders *t = (policy_tenders *)(void *)base;
        lua_Integer n = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : -1;
        size_t keys = 0;
        if (n >= 0) {
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                keys++;
                lua_pop(L, 1);
            }
        }
        if (n < 0 || n > POLICY_MAX_TENDERS || keys != (size_t)n)
            luaL_error(L, "%s: parameter %s must be nil or a list of at most %d tender names", file,
                       d->name, POLICY_MAX_TENDERS);
        for (lua_Integer i = 1; i <= n; i++) {
            size_t len = 0;
            lua_rawgeti(L, -1, i);
            const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            if (!policy_tender_ok(s, len))
                luaL_error(L,
                           "%s: parameter %s[%I] must be a tender name (1 to 31 bytes of UTF-8, "
                           "no control characters)",
                           file, d->name, i);
            memcpy(t->v[i - 1], s, len + 1);
            lua_pop(L, 1);
        }
        t->n = (int)n;
        break;
    }
    }
}

typedef struct {
    policy *p;
    const char *src;
    size_t len;
    char why[256];
} load_ctx;

static void load_params(lua_State *L, load_ctx *c, int tbl)
{
    policy *p = c->p;
    lua_getfield(L, tbl, "parameters");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "%s: parameters must be a table, got %s", p->file, luaL_typename(L, -1));
    int pt = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, pt)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s: parameters must have string keys", p->file);
        const char *k = lua_tostring(L, -2);
        const policy_param_desc *d = NULL;
        for (size_t i = 0; i < policy_nparams; i++)
            if (!strcmp(k, policy_params_known[i].name)) d = &policy_params_known[i];
        json_t *j;
        if (d) {
            param_check(L, p->file, d, &p->params);
            j = policy_param_json(&p->params, d);
        } else {
            j = pcv_to_json(L, -1, 0, c->why, sizeof c->why);
            if (!j) luaL_error(L, "%s: parameter %s: %s", p->file, k, c->why);
        }
        json_object_set_new(p->params_json, k, j);
        lua_settop(L, pt + 1);
    }
    lua_pop(L, 1);
}

/* The source of the ctx.params copier, built in C (a luaL_Buffer may not
 * share the stack with a table walk). */
typedef struct {
    char *s;
    size_t n, cap;
} src_buf;

static int sb_add(src_buf *b, const char *t, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns) return -1;
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, t, len);
    b->n += len;
    b->s[b->n] = '\0';
    return 0;
}

/* A Lua string literal of the key (any bytes). */
static int sb_quote(src_buf *b, const char *k, size_t len)
{
    int rc = sb_add(b, "\"", 1);
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = (unsigned char)k[i];
        char esc[8];
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
            snprintf(esc, sizeof esc, "\\%03u", c);
            rc = sb_add(b, esc, 4);
        } else
            rc = sb_add(b, (const char *)&k[i], 1);
    }
    return rc ? rc : sb_add(b, "\"", 1);
}

/* Drops a table's metatable, protected or not (for the chunk below:
 * Lua's setmetatable refuses a protected one). */
static int params_own(lua_State *L)
{
    lua_settop(L, 1);
    lua_pushnil(L);
    lua_setmetatable(L, 1);
    return 0;
}

/* ctx.params for each call: an empty table of the call's own whose
 * metatable reads the parameters table (at idx), built once here. A
 * fresh copy per call, even by a table constructor compiled for the
 * policy's keys, cost some 6,000 instructions of a 5-line deposit call
 * (the count hook checks every instruction of it), and a hook reads one
 * or two parameters. What a hook sees is still a table of its own: a
 * read answers the parameter's value; a table among them (a retailer's
 * tiers, rates per country) is copied into it on its first read, so the
 * hook may change it; the first write, or pairs(), copies every
 * parameter not yet in it and drops the metatable, so from then on it is
 * a plain table the hook owns, and nothing it does reaches the next call.
 * The source table and the metatable live in the registry, out of the
 * policy's reach, and its functions run with the state's own globals. */
static void make_params_mt(lua_State *L, policy *p, int idx)
{
    static const char head[] = "local P, own_ = ...\n"
                               "local next, rawget, rawset, type = next, rawget, rawset, type\n"
                               "local function copy(t)\n"
                               "  local c = {}\n"
                               "  for k, v in next, t do\n"
                               "    if type(v) == 'table' then v = copy(v) end\n"
                               "    c[k] = v\n"
                               "  end\n"
                               "  return c\n"
                               "end\n"
                               "local NESTED = {\n";
    static const char tail[] = "}\n"
                               "local function own(t)\n"
                               "  for k, v in next, P do\n"
                               "    if rawget(t, k) == nil then\n"
                               "      if NESTED[k] then v = copy(v) end\n"
                               "      rawset(t, k, v)\n"
                               "    end\n"
                               "  end\n"
                               "  own_(t)\n"
                               "end\n"
                               "return { __metatable = false,\n"
                               "  __newindex = function(t, k, v) own(t) t[k] = v end,\n"
                               "  __pairs = function(t) own(t) return next, t, nil end,\n";
    /* Reads: with no table among the parameters, the parameters table
     * itself, which the VM reads without a call (a Lua __index function
     * was about 300 instructions a read, a third of a tax hook's call);
     * else a function that copies a nested table on its first read. */
    static const char index_fn[] =
        "  __index = function(t, k)\n"
        "    if NESTED[k] then local v = copy(P[k]) rawset(t, k, v) return v end\n"
        "    return P[k]\n"
        "  end }\n";
    static const char index_tbl[] = "  __index = P }\n";
    src_buf b = {0};
    int rc = sb_add(&b, head, sizeof head - 1), any_nested = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int nested = lua_istable(L, -1);
        size_t len;
        const char *k = lua_tolstring(L, -2, &len); /* keys are strings (JSON) */
        lua_pop(L, 1);
        if (!nested) continue;
        any_nested = 1;
        if (rc == 0) rc = sb_add(&b, "[", 1);
        if (rc == 0) rc = sb_quote(&b, k, len);
        if (rc == 0) rc = sb_add(&b, "] = true,\n", 10);
    }
    if (rc == 0) rc = sb_add(&b, tail, sizeof tail - 1);
    if (rc == 0)
        rc = any_nested ? sb_add(&b, index_fn, sizeof index_fn - 1)
                        : sb_add(&b, index_tbl, sizeof index_tbl - 1);
    if (rc < 0) {
        free(b.s);
        luaL_error(L, "out of memory");
    }
    int st = luaL_loadbufferx(L, b.s, b.n, "=ctx.params", "t");
    free(b.s);
    if (st != LUA_OK) lua_error(L);
    lua_pushvalue(L, idx);
    lua_pushcfunction(L, params_own);
    lua_call(L, 2, 1);
    p->params_mt = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Runs under lua_pcall: compile, run the main chunk, check the answer. */
static int load_run(lua_State *L)
{
    load_ctx *c = lua_touserdata(L, 1);
    policy *p = c->p;
    if (psb_load(L, c->src, c->len, p->file) != LUA_OK) return lua_error(L);
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1))
        luaL_error(L, "%s: the file must return a table (it returned %s)", p->file,
                   luaL_typename(L, -1));
    int tbl = lua_gettop(L);
    load_params(L, c, tbl);
    for (int h = 0; h < HOOK_COUNT; h++) {
        lua_getfield(L, tbl, policy_hook_name(h));
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            continue;
        }
        if (!lua_isfunction(L, -1))
            luaL_error(L, "%s: %s must be a function, got %s", p->file, policy_hook_name(h),
                       luaL_typename(L, -1));
        lua_Debug ar;
        lua_pushvalue(L, -1);
        lua_getinfo(L, ">S", &ar);
        p->hook_line[h] = ar.linedefined;
        p->hook_ref[h] = luaL_ref(L, LUA_REGISTRYINDEX);
        p->has[h] = true;
    }
    /* ctx.params once as a table; each call gets a table reading it. */
    pcv_push_json(L, p->params_json, 0);
    make_params_mt(L, p, lua_gettop(L));
    p->params_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

void pld_lua_error(lua_State *L, int status, const char *file, const char *what, err_t *err)
{
    if (status == LUA_ERRMEM) {
        psb_state *s = psb_of(L);
        char where[32] = "";
        if (s->last_line > 0) snprintf(where, sizeof where, ":%d", s->last_line);
        err_set(err, ERR_POLICY_ERROR, "%s%s: memory limit exceeded (%zu KiB)%s%s", file, where,
                s->cap >> 10, what ? " in " : "", what ? what : "");
        return;
    }
    const char *msg = lua_tostring(L, -1);
    size_t fl = strlen(file);
    if (!msg)
        err_set(err, ERR_POLICY_ERROR, "%s: %s raised an error object of type %s", file,
                what ? what : "the policy", luaL_typename(L, -1));
    else if (!strncmp(msg, file, fl) && msg[fl] == ':')
        err_set(err, ERR_POLICY_ERROR, "%s", msg);
    else
        err_set(err, ERR_POLICY_ERROR, "%s: %s", file, msg);
}

void pld_sha256_hex(const char *src, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)src, len);
    sodium_bin2hex(out, 65, h, sizeof h);
}

void pld_iso_now(char out[21])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *pld_read_file(const char *file, size_t *len, err_t *err)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        err_set(err, ERR_POLICY_ERROR, "%s: %s", file, strerror(errno));
        return NULL;
    }
    char *buf = malloc(PLD_MAX_SOURCE + 1);
    size_t n = buf ? fread(buf, 1, PLD_MAX_SOURCE + 1, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad || n > PLD_MAX_SOURCE) {
        free(buf);
        err_set(err, ERR_POLICY_ERROR, "%s: %s", file,
                bad ? "cannot read the file" : "larger than 4 MiB");
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static policy *pld_new(const char *name, const char *file, const policy_limits *lim)
{
    policy *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->base.impl = &policy_lua;
    p->refs = 1;
    p->name = strdup(name);
    p->file = file ? strdup(file) : NULL;
    if (lim) p->lim = *lim;
    policy_default_params(&p->params);
    p->params_json = policy_params_to_json(&p->params);
    for (int h = 0; h < HOOK_COUNT; h++)
        p->hook_ref[h] = LUA_NOREF;
    p->params_ref = p->params_mt = LUA_NOREF;
    pld_iso_now(p->loaded_at);
    if (!p->name || (file && !p->file) || !p->params_json) {
        pld_free(p);
        return NULL;
    }
    return p;
}

policy *pld_builtin(const policy_limits *lim)
{
    policy *p = pld_new("default", NULL, lim);
    if (p) snprintf(p->version, sizeof p->version, "builtin");
    return p;
}

policy *pld_load(const char *name, const char *file, const char *src, size_t len,
                 const policy_limits *lim, err_t *err)
{
    if (sodium_init() < 0) {
        err_set(err, ERR_INTERNAL, "libsodium failed to initialise");
        return NULL;
    }
    policy *p = pld_new(name, file, lim);
    if (p) p->source = malloc(len + 1);
    if (!p || !p->source) {
        pld_free(p);
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    memcpy(p->source, src, len);
    p->source[len] = '\0';
    p->srclen = len;
    pld_sha256_hex(src, len, p->version);
    p->L = psb_new(lim, err);
    if (!p->L) {
        pld_free(p);
        return NULL;
    }
    load_ctx c = {.p = p, .src = src, .len = len};
    psb_arm(p->L, NULL);
    lua_pushcfunction(p->L, load_run);
    lua_pushlightuserdata(p->L, &c);
    int rc = lua_pcall(p->L, 1, 0, 0);
    if (rc != LUA_OK) {
        pld_lua_error(p->L, rc, file, NULL, err);
        psb_disarm(p->L);
        pld_free(p);
        return NULL;
    }
    lua_settop(p->L, 0);
    psb_disarm(p->L);
    return p;
}

void pld_free(policy *p)
{
    if (!p) return;
    psb_close(p->L);
    json_decref(p->params_json);
    free(p->source);
    free(p->name);
    free(p->file);
    free(p);
}

static const char *base_name(const char *file, char *out, size_t n)
{
    const char *b = strrchr(file, '/');
    b = b ? b + 1 : file;
    size_t l = strlen(b);
    if (l > 4 && !strcmp(b + l - 4, ".lua")) l -= 4;
    snprintf(out, n, "%.*s", (int)l, b);
    return out;
}

policy *policy_load_file(const char *file, const policy_limits *lim, err_t *err)
{
    size_t len;
    char *src = pld_read_file(file, &len, err);
    if (!src) return NULL;
    char name[256];
    policy *p = pld_load(base_name(file, name, sizeof name), file, src, len, lim, err);
    free(src);
    return p;
}

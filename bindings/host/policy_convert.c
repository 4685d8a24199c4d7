/* policy_convert.c: jansson values to Lua values and back.
 *
 * JSON -> Lua is how hooks get their arguments: objects become tables,
 * arrays 1-based sequences, integers Lua integers, reals floats, null nil.
 * Every call builds fresh tables, so a hook that changes its arguments
 * changes nothing in the engine (POLICY.md: "copies").
 *
 * Lua -> JSON serves the parameters table (for policy.info and ctx.params)
 * and the Lua module, whose busted specs pass plain tables through the real
 * host path. A table whose keys are exactly 1..n is an array, an empty table
 * is an object, and anything JSON cannot hold (functions, mixed keys, NaN)
 * is refused with a reason rather than guessed at. */
#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/policy_int.h"

#define PCV_MAX_DEPTH 64

void pcv_push_json(lua_State *L, json_t *v, int depth)
{
    if (depth > PCV_MAX_DEPTH) luaL_error(L, "argument nested deeper than %d", PCV_MAX_DEPTH);
    luaL_checkstack(L, 4, "argument conversion");
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(v));
        const char *k;
        size_t klen;
        json_t *e;
        void *tmp;
        json_object_keylen_foreach_safe(v, tmp, k, klen, e)
        {
            if (json_is_null(e)) continue;
            lua_pushlstring(L, k, klen);
            pcv_push_json(L, e, depth + 1);
            lua_rawset(L, -3);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            pcv_push_json(L, json_array_get(v, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(v));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    default:
        lua_pushnil(L);
        break;
    }
}

static json_t *pcv_fail(char *why, size_t n, const char *msg, const char *detail)
{
    snprintf(why, n, "%s%s", msg, detail ? detail : "");
    return NULL;
}

/* Keys exactly 1..n, n > 0: an array. Counting only reads the table. */
static int pcv_is_array(lua_State *L, int idx, lua_Integer *n)
{
    lua_Integer count = 0, max = 0;
    int only_int = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
            if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
        } else
            only_int = 0;
    }
    *n = max;
    return count > 0 && only_int && max == count;
}

/* An empty table is an object, unless its metatable says __jsonarray: Lua
 * has one kind of table, and a client must be able to send [] (the corder
 * module's corder.empty_array). */
static bool pcv_marked_array(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx)) return false;
    lua_getfield(L, -1, "__jsonarray");
    bool marked = lua_toboolean(L, -1);
    lua_pop(L, 2);
    return marked;
}

static json_t *pcv_table(lua_State *L, int idx, int depth, char *why, size_t wl)
{
    lua_Integer n;
    if (pcv_is_array(L, idx, &n) || (n == 0 && pcv_marked_array(L, idx))) {
        json_t *a = json_array();
        for (lua_Integer i = 1; a && i <= n; i++) {
            lua_rawgeti(L, idx, i);
            json_t *e = pcv_to_json(L, lua_gettop(L), depth + 1, why, wl);
            lua_pop(L, 1);
            if (!e || json_array_append_new(a, e) < 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    json_t *o = json_object();
    lua_pushnil(L);
    while (o && lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            const char *t = lua_type(L, -2) == LUA_TNUMBER ? "number" : luaL_typename(L, -2);
            lua_pop(L, 2);
            json_decref(o);
            return pcv_fail(why, wl,
                            "a table must have string keys or be a sequence 1..n; found a key of "
                            "type ",
                            t);
        }
        size_t kl;
        const char *k = lua_tolstring(L, -2, &kl);
        json_t *e = pcv_to_json(L, lua_gettop(L), depth + 1, why, wl);
        lua_pop(L, 1);
        if (!e) {
            lua_pop(L, 1);
            json_decref(o);
            return NULL;
        }
        if (json_object_setn_new(o, k, kl, e) < 0) {
            lua_pop(L, 1);
            json_decref(o);
            return pcv_fail(why, wl, "a key is not valid UTF-8: ", k);
        }
    }
    return o;
}

json_t *pcv_to_json(lua_State *L, int idx, int depth, char *why, size_t wl)
{
    if (depth > PCV_MAX_DEPTH) return pcv_fail(why, wl, "nested too deep", NULL);
    if (!lua_checkstack(L, 4)) return pcv_fail(why, wl, "Lua stack overflow", NULL);
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return json_integer(lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx)))
            return pcv_fail(why, wl, "a number is not finite", NULL);
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *j = json_stringn(s, len);
        return j ? j : pcv_fail(why, wl, "a string is not valid UTF-8", NULL);
    }
    case LUA_TTABLE:
        return pcv_table(L, idx, depth, why, wl);
    default:
        return pcv_fail(why, wl, "cannot pass a value of type ", luaL_typename(L, idx));
    }
}

/* ---- JSON text straight into Lua values (the engine writes the order
 * views as text; building a jansson tree only to walk it again cost more
 * than the hook itself). Same mapping as pcv_push_json: objects skip null
 * members, arrays keep their positions. Raises a Lua error on bad text. */

typedef struct {
    const char *s;
    size_t n, i;
} pcv_text;

static void tx_ws(pcv_text *t)
{
    while (t->i < t->n &&
           (t->s[t->i] == ' ' || t->s[t->i] == '\t' || t->s[t->i] == '\n' || t->s[t->i] == '\r'))
        t->i++;
}

static int tx_bad(lua_State *L, pcv_text *t)
{
    return luaL_error(L, "argument is not valid JSON (byte %d)", (int)t->i);
}

static unsigned tx_hex4(lua_State *L, pcv_text *t)
{
    if (t->i + 4 > t->n) tx_bad(L, t);
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = t->s[t->i++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            tx_bad(L, t);
    }
    return v;
}

static void tx_utf8(luaL_Buffer *b, unsigned cp)
{
    char out[4];
    int n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    luaL_addlstring(b, out, (size_t)n);
}

static void tx_string(lua_State *L, pcv_text *t)
{
    size_t start = ++t->i; /* past the quote */
    while (t->i < t->n && t->s[t->i] != '"' && t->s[t->i] != '\\')
        t->i++;
    if (t->i < t->n && t->s[t->i] == '"') { /* no escapes: the common case */
        lua_pushlstring(L, t->s + start, t->i - start);
        t->i++;
        return;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, t->s + start, t->i - start);
    while (t->i < t->n && t->s[t->i] != '"') {
        char c = t->s[t->i++];
        if (c != '\\') {
            luaL_addchar(&b, c);
            continue;
        }
        if (t->i >= t->n) tx_bad(L, t);
        char e = t->s[t->i++];
        switch (e) {
        case '"':
        case '\\':
        case '/':
            luaL_addchar(&b, e);
            break;
        case 'b':
            luaL_addchar(&b, '\b');
            break;
        case 'f':
            luaL_addchar(&b, '\f');
            break;
        case 'n':
            luaL_addchar(&b, '\n');
            break;
        case 'r':
            luaL_addchar(&b, '\r');
            break;
        case 't':
            luaL_addchar(&b, '\t');
            break;
        case 'u': {
            unsigned cp = tx_hex4(L, t);
            if (cp >= 0xD800 && cp < 0xDC00 && t->i + 6 <= t->n && t->s[t->i] == '\\' &&
                t->s[t->i + 1] == 'u') {
                t->i += 2;
                unsigned lo = tx_hex4(L, t);
                if (lo >= 0xDC00 && lo < 0xE000)
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            tx_utf8(&b, cp);
            break;
        }
        default:
            tx_bad(L, t);
        }
    }
    if (t->i >= t->n) tx_bad(L, t);
    t->i++;
    luaL_pushresult(&b);
}

static void tx_number(lua_State *L, pcv_text *t)
{
    size_t start = t->i;
    int is_int = 1;
    if (t->s[t->i] == '-') t->i++;
    while (t->i < t->n) {
        char c = t->s[t->i];
        if (c >= '0' && c <= '9')
            t->i++;
        else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
            is_int = 0;
            t->i++;
        } else
            break;
    }
    char buf[64];
    size_t len = t->i - start;
    if (len == 0 || len >= sizeof buf) tx_bad(L, t);
    memcpy(buf, t->s + start, len);
    buf[len] = '\0';
    if (is_int) {
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        if (errno == 0) {
            lua_pushinteger(L, (lua_Integer)v);
            return;
        }
    }
    lua_pushnumber(L, strtod(buf, NULL));
}

static void tx_value(lua_State *L, pcv_text *t, int depth);

static void tx_container(lua_State *L, pcv_text *t, int depth, int object)
{
    char close = object ? '}' : ']';
    t->i++;
    lua_createtable(L, object ? 0 : 4, object ? 16 : 0); /* order objects: up to ~16 keys */
    tx_ws(t);
    if (t->i < t->n && t->s[t->i] == close) {
        t->i++;
        return;
    }
    for (lua_Integer k = 1;; k++) {
        tx_ws(t);
        if (object) {
            if (t->i >= t->n || t->s[t->i] != '"') tx_bad(L, t);
            tx_string(L, t);
            tx_ws(t);
            if (t->i >= t->n || t->s[t->i] != ':') tx_bad(L, t);
            t->i++;
            tx_ws(t);
            tx_value(L, t, depth + 1);
            if (lua_isnil(L, -1))
                lua_pop(L, 2); /* a null member is an absent one */
            else
                lua_rawset(L, -3);
        } else {
            tx_value(L, t, depth + 1);
            lua_rawseti(L, -2, k);
        }
        tx_ws(t);
        if (t->i < t->n && t->s[t->i] == ',') {
            t->i++;
            continue;
        }
        if (t->i < t->n && t->s[t->i] == close) {
            t->i++;
            return;
        }
        tx_bad(L, t);
    }
}

static void tx_value(lua_State *L, pcv_text *t, int depth)
{
    if (depth > PCV_MAX_DEPTH) luaL_error(L, "argument nested deeper than %d", PCV_MAX_DEPTH);
    luaL_checkstack(L, 4, "argument conversion");
    if (t->i >= t->n) tx_bad(L, t);
    char c = t->s[t->i];
    if (c == '{' || c == '[') {
        tx_container(L, t, depth, c == '{');
    } else if (c == '"') {
        tx_string(L, t);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        tx_number(L, t);
    } else if (t->n - t->i >= 4 && !memcmp(t->s + t->i, "true", 4)) {
        t->i += 4;
        lua_pushboolean(L, 1);
    } else if (t->n - t->i >= 5 && !memcmp(t->s + t->i, "false", 5)) {
        t->i += 5;
        lua_pushboolean(L, 0);
    } else if (t->n - t->i >= 4 && !memcmp(t->s + t->i, "null", 4)) {
        t->i += 4;
        lua_pushnil(L);
    } else {
        tx_bad(L, t);
    }
}

void pcv_push_text(lua_State *L, const char *text, size_t len)
{
    pcv_text t = {text, len, 0};
    tx_ws(&t);
    tx_value(L, &t, 0);
    tx_ws(&t);
    if (t.i != t.n) tx_bad(L, &t);
}

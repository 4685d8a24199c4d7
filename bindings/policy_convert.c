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
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>

#include "policy_int.h"

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

static json_t *pcv_table(lua_State *L, int idx, int depth, char *why, size_t wl)
{
    lua_Integer n;
    if (pcv_is_array(L, idx, &n)) {
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

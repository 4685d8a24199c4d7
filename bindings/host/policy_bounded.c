/* policy_bounded.c: the library functions of the policy sandbox whose
 * work is not bounded by a constant, made to pay for it out of the hook
 * call's budget (SPEC L2).
 *
 * The count hook of policy_sandbox.c counts Lua instructions; a C library
 * function executes none, so without this file table.move({}, 1, 3e8, 2)
 * runs 3e8 steps in one instruction and string.rep("", 1e15) 1e15. Each
 * function here falls in one of three groups:
 *
 *  - rewritten, with a work counter that charges the budget as it goes
 *    (psb_charge reads the clock every PSB_WORK_EVERY units, about 65 us,
 *    and raises the budget error past the deadline): string.rep, upper,
 *    lower, reverse, format; table.concat, insert, remove, move, unpack;
 *    utf8.len, utf8.offset and the utf8.codes iterator. Their results and
 *    error messages are Lua 5.4's (tests/policies/pattern_spec.lua also
 *    compares these with stock Lua). The pattern functions are in
 *    policy_match.c;
 *  - wrapped: Lua's own function runs after (or before) a charge sized from
 *    its arguments, for calls whose cost is bounded by their input and
 *    small per unit: string.byte, char, pack, packsize, unpack, the strings'
 *    arithmetic metamethods, utf8.char, utf8.codepoint, select, tonumber,
 *    math.max, math.min, table.pack, assert, os.date. One that could not
 *    end before the deadline is refused before it starts (psb_reserve).
 *    table.sort keeps Lua's algorithm; unless the comparator is a Lua
 *    function (whose instructions the hook counts) or the table is small
 *    and plain, its comparisons go through a C closure that charges each;
 *  - constant or bounded by the memory cap per call and left alone (type,
 *    rawget, math.floor, os.time...). What one such instruction costs in
 *    proportion to a big object is the count hook's business: its period
 *    shortens when the state holds big blocks (policy_sandbox.c).
 *
 * A wrapped original is called directly as a C function in the wrapper's
 * own frame (never through lua_call), so its argument errors still name
 * the function ("bad argument #1 to 'byte'"). */
#include <ctype.h>
#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "host/policy_charge.h"
#include "host/policy_lib.h"

#define PBD_ELEM_UNITS 8 /* one table element or stack value through the API */
#define PBD_CHUNK 4096   /* bytes or elements between two charges */

#define UC(c) ((unsigned char)(c))

/* The original library function, upvalue 1 of a wrapper. */
static int pbd_orig(lua_State *L)
{
    return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

/* Installs wrap over t[name], with the original as upvalue 1 and extra
 * as upvalue 2 (if >= 0). */
static void pbd_wrap(lua_State *L, int t, const char *name, lua_CFunction wrap, lua_Integer extra)
{
    lua_getfield(L, t, name);
    int n = 1;
    if (extra >= 0) {
        lua_pushinteger(L, extra);
        n = 2;
    }
    lua_pushcclosure(L, wrap, n);
    lua_setfield(L, t, name);
}

static void pbd_set(lua_State *L, int t, const char *name, lua_CFunction f)
{
    lua_pushcfunction(L, f);
    lua_setfield(L, t, name);
}

/* ---- wrappers ---- */

/* Variadic functions whose work is a few ns per argument (upvalue 2). */
static int pbd_per_arg(lua_State *L)
{
    int n = lua_gettop(L);
    if (n > 16) psb_reserve(L, (size_t)n * (size_t)lua_tointeger(L, lua_upvalueindex(2)));
    return pbd_orig(L);
}

/* Functions whose work is a few ns per value returned (string.byte,
 * utf8.codepoint: at most a million, the stack's limit). */
static int pbd_per_result(lua_State *L)
{
    int n = pbd_orig(L);
    if (n > 16) psb_charge(L, (size_t)n * PBD_ELEM_UNITS);
    return n;
}

/* Functions whose work is up to upvalue 2 ns per byte of their string
 * arguments (numbers in strings, os.date's format). */
static int pbd_per_byte(lua_State *L)
{
    size_t total = 0;
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++)
        if (lua_type(L, i) == LUA_TSTRING) total += lua_rawlen(L, i);
    if (total > 256 || n > 16)
        psb_reserve(L, (total + (size_t)n) * (size_t)lua_tointeger(L, lua_upvalueindex(2)));
    return pbd_orig(L);
}

/* string.pack, packsize, unpack: about 32 ns per byte of format, plus,
 * for each cN option, upvalue 2 ns per byte of N (pack pads byte by byte;
 * unpack copies; packsize adds). */
static int pbd_pack_family(lua_State *L)
{
    size_t fl;
    const char *f = luaL_checklstring(L, 1, &fl);
    size_t per_c = (size_t)lua_tointeger(L, lua_upvalueindex(2)), csum = 0;
    for (size_t i = 0; i < fl; i++) {
        if (f[i] != 'c') continue;
        size_t n = 0;
        while (i + 1 < fl && isdigit(UC(f[i + 1])) && n < SIZE_MAX / 16)
            n = n * 10 + (size_t)(f[++i] - '0');
        csum = csum + n < csum ? SIZE_MAX : csum + n;
    }
    size_t cost = fl * 32, ccost = per_c && csum > SIZE_MAX / per_c ? SIZE_MAX : csum * per_c;
    psb_reserve(L, cost + ccost < cost ? SIZE_MAX : cost + ccost);
    return pbd_orig(L);
}

/* table.sort: Lua's algorithm, with the comparator (the policy's, or <)
 * called through this closure, which charges each comparison. */
static int pbd_sort_compare(lua_State *L)
{
    size_t units = 16;
    if (lua_type(L, 1) == LUA_TSTRING && lua_type(L, 2) == LUA_TSTRING) {
        size_t a = lua_rawlen(L, 1), b = lua_rawlen(L, 2);
        units += (a < b ? a : b); /* strcoll, segment by segment */
    }
    psb_charge(L, units);
    if (lua_isnil(L, lua_upvalueindex(1))) {
        lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT));
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

/* A plain table of at most 64 numbers and short strings: Lua's sort of it
 * with < is cheap and bounded. */
static int pbd_sort_cheap(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE) return 0;
    if (lua_getmetatable(L, 1)) {
        lua_pop(L, 1);
        return 0;
    }
    lua_Unsigned n = lua_rawlen(L, 1);
    if (n > 64) return 0;
    for (lua_Integer i = 1; i <= (lua_Integer)n; i++) {
        int t = lua_rawgeti(L, 1, i);
        int ok = t == LUA_TNUMBER || (t == LUA_TSTRING && lua_rawlen(L, -1) <= 256);
        lua_pop(L, 1);
        if (!ok) return 0;
    }
    return 1;
}

static int pbd_sort(lua_State *L)
{
    lua_settop(L, 2);
    int t = lua_type(L, 2);
    /* A Lua comparator runs instructions the hook counts, for every
     * comparison; so does nothing but Lua's sort of a small plain table. */
    if ((t == LUA_TFUNCTION && !lua_iscfunction(L, 2)) || (t == LUA_TNIL && pbd_sort_cheap(L)))
        return pbd_orig(L);
    if (t == LUA_TNIL || t == LUA_TFUNCTION) { /* else Lua's sort complains */
        lua_pushvalue(L, 2);
        lua_pushcclosure(L, pbd_sort_compare, 1);
        lua_replace(L, 2);
    }
    return pbd_orig(L);
}

/* ---- string ---- */

/* string.rep: the result is built by doubling, charged per copy. */
static int pbd_rep(lua_State *L)
{
    size_t l, lsep = 0;
    const char *s = luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    const char *sep = luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || l + lsep == 0) { /* nothing to repeat: no need to loop */
        lua_pushliteral(L, "");
        return 1;
    }
    size_t unit = l + lsep, cap = psb_of(L)->cap;
    if (unit < l || (lua_Unsigned)n > cap / unit + 1 || (size_t)n * unit - lsep > cap)
        return luaL_error(L, "string.rep: result larger than the policy memory cap");
    if ((lua_Unsigned)n > (size_t)INT_MAX / unit) /* Lua's own limit */
        return luaL_error(L, "resulting string too large");
    size_t total = (size_t)n * unit - lsep;
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, total);
    size_t done = l < total ? l : total;
    memcpy(out, s, done);
    if (done < total) {
        memcpy(out + done, sep, lsep);
        done += lsep;
    }
    while (done < total) { /* out[0..done) is s sep s sep ...: copy it on */
        size_t k = done < total - done ? done : total - done;
        psb_charge(L, k >> 3);
        memcpy(out + done, out, k);
        done += k;
    }
    luaL_pushresultsize(&b, total);
    return 1;
}

/* upper, lower, reverse: one pass, charged every PBD_CHUNK bytes. */
static int pbd_bytewise(lua_State *L, int (*fn)(int), int reverse)
{
    size_t l;
    const char *s = luaL_checklstring(L, 1, &l);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, l);
    for (size_t i = 0; i < l; i += PBD_CHUNK) {
        size_t end = l - i < PBD_CHUNK ? l : i + PBD_CHUNK;
        psb_charge(L, (end - i) * 2);
        if (reverse)
            for (size_t k = i; k < end; k++)
                out[k] = s[l - 1 - k];
        else
            for (size_t k = i; k < end; k++)
                out[k] = (char)fn(UC(s[k]));
    }
    luaL_pushresultsize(&b, l);
    return 1;
}

static int pbd_upper(lua_State *L)
{
    return pbd_bytewise(L, toupper, 0);
}

static int pbd_lower(lua_State *L)
{
    return pbd_bytewise(L, tolower, 0);
}

static int pbd_reverse(lua_State *L)
{
    return pbd_bytewise(L, NULL, 1);
}

/* ---- string.format: Lua 5.4's conversions, one directive at a time ---- */

#define PBD_FMT_SPAN "-+ #0.123456789" /* flags, width, precision */
#define PBD_FMT_LONGEST 22             /* of those plus the conversion */
#define PBD_FMT_ITEM 512               /* room for %99.99f of 1e308 */

/* Checks what a conversion allows: its flags, a width of up to 2 digits
 * (not starting with 0 unless 0 is a flag) and, if precision, a '.' and
 * up to 2 digits. */
static void pbd_fmt_check(lua_State *L, const char *form, const char *flags, int precision)
{
    const char *p = form + 1;
    p += strspn(p, flags);
    if (*p != '0') {
        for (int i = 0; i < 2 && isdigit(UC(*p)); i++)
            p++;
        if (*p == '.' && precision) {
            p++;
            for (int i = 0; i < 2 && isdigit(UC(*p)); i++)
                p++;
        }
    }
    if (!isalpha(UC(*p))) luaL_error(L, "invalid conversion specification: '%s'", form);
}

/* form + the length modifier of lua_Integer before its conversion. */
static void pbd_fmt_intlen(char *form)
{
    size_t n = strlen(form);
    char conv = form[n - 1];
    strcpy(form + n - 1, LUA_INTEGER_FRMLEN);
    n = strlen(form);
    form[n] = conv;
    form[n + 1] = '\0';
}

/* %q of a string: quoted so that Lua reads it back. */
static void pbd_quote_string(lua_State *L, luaL_Buffer *b, const char *s, size_t l)
{
    luaL_addchar(b, '"');
    for (size_t i = 0; i < l; i++) {
        if (i % PBD_CHUNK == 0) psb_charge(L, PBD_CHUNK * 8);
        unsigned char c = UC(s[i]);
        if (c == '"' || c == '\\' || c == '\n') {
            luaL_addchar(b, '\\');
            luaL_addchar(b, (char)c);
        } else if (iscntrl(c)) {
            char esc[8];
            /* s[l] is the string's terminating '\0': never a digit */
            int n = snprintf(esc, sizeof esc, isdigit(UC(s[i + 1])) ? "\\%03d" : "\\%d", c);
            luaL_addlstring(b, esc, (size_t)n);
        } else
            luaL_addchar(b, (char)c);
    }
    luaL_addchar(b, '"');
}

static void pbd_quote(lua_State *L, luaL_Buffer *b, int arg)
{
    char item[64];
    int n = 0;
    switch (lua_type(L, arg)) {
    case LUA_TSTRING: {
        size_t l;
        const char *s = lua_tolstring(L, arg, &l);
        pbd_quote_string(L, b, s, l);
        return;
    }
    case LUA_TNUMBER:
        if (lua_isinteger(L, arg)) {
            lua_Integer v = lua_tointeger(L, arg);
            n = snprintf(item, sizeof item,
                         v == LUA_MININTEGER ? "0x%" LUA_INTEGER_FRMLEN "x" : LUA_INTEGER_FMT,
                         (LUAI_UACINT)v);
        } else {
            lua_Number v = lua_tonumber(L, arg);
            if (v == (lua_Number)HUGE_VAL)
                n = snprintf(item, sizeof item, "1e9999");
            else if (v == -(lua_Number)HUGE_VAL)
                n = snprintf(item, sizeof item, "-1e9999");
            else if (v != v)
                n = snprintf(item, sizeof item, "(0/0)");
            else
                n = snprintf(item, sizeof item, "%" LUA_NUMBER_FRMLEN "a", (LUAI_UACNUMBER)v);
        }
        luaL_addlstring(b, item, (size_t)n);
        return;
    case LUA_TNIL:
    case LUA_TBOOLEAN:
        luaL_tolstring(L, arg, NULL);
        luaL_addvalue(b);
        return;
    default:
        luaL_argerror(L, arg, "value has no literal form");
    }
}

/* One directive; f is just after its '%'. Returns the rest of the format. */
static const char *pbd_fmt_item(lua_State *L, luaL_Buffer *b, const char *f, const char *end,
                                int arg)
{
    char form[PBD_FMT_LONGEST + 8], item[PBD_FMT_ITEM];
    size_t len = 0;
    while (f + len < end && f[len] != '\0' && strchr(PBD_FMT_SPAN, f[len]))
        len++;
    if (len + 1 >= PBD_FMT_LONGEST) luaL_error(L, "invalid format (too long)");
    char conv = f + len < end ? f[len] : '\0';
    form[0] = '%';
    memcpy(form + 1, f, len);
    form[len + 1] = conv;
    form[len + 2] = '\0';
    f = f + len < end ? f + len + 1 : end;
    int n = 0;
    switch (conv) {
    case 'c':
        pbd_fmt_check(L, form, "-", 0);
        n = snprintf(item, sizeof item, form, (int)luaL_checkinteger(L, arg));
        break;
    case 'd':
    case 'i':
    case 'u':
    case 'o':
    case 'x':
    case 'X': {
        lua_Integer v = luaL_checkinteger(L, arg);
        pbd_fmt_check(L, form, conv == 'd' || conv == 'i' ? "-+0 " : conv == 'u' ? "-0" : "-#0", 1);
        pbd_fmt_intlen(form);
        n = snprintf(item, sizeof item, form, (LUAI_UACINT)v);
        break;
    }
    case 'a':
    case 'A':
        pbd_fmt_check(L, form, "-+ #0", 1);
        n = snprintf(item, sizeof item, form, (LUAI_UACNUMBER)luaL_checknumber(L, arg));
        break;
    case 'e':
    case 'E':
    case 'f':
    case 'g':
    case 'G': {
        lua_Number v = luaL_checknumber(L, arg);
        pbd_fmt_check(L, form, "-+ #0", 1);
        n = snprintf(item, sizeof item, form, (LUAI_UACNUMBER)v);
        break;
    }
    case 'p': {
        const void *p = lua_topointer(L, arg);
        pbd_fmt_check(L, form, "-", 0);
        if (!p) {
            form[strlen(form) - 1] = 's';
            n = snprintf(item, sizeof item, form, "(null)");
        } else
            n = snprintf(item, sizeof item, form, p);
        break;
    }
    case 'q':
        if (form[2] != '\0') luaL_error(L, "specifier '%%q' cannot have modifiers");
        pbd_quote(L, b, arg);
        return f;
    case 's': {
        size_t l;
        const char *s = luaL_tolstring(L, arg, &l);
        if (form[2] != '\0') {
            luaL_argcheck(L, l == strlen(s), arg, "string contains zeros");
            pbd_fmt_check(L, form, "-", 1);
            if (strchr(form, '.') || l < 100) {
                n = snprintf(item, sizeof item, form, s);
                lua_pop(L, 1);
                break;
            }
        }
        psb_charge(L, l >> 3);
        luaL_addvalue(b); /* the whole string */
        return f;
    }
    default:
        luaL_error(L, "invalid conversion '%s' to 'format'", form);
    }
    if (n < 0) n = 0;
    luaL_addlstring(b, item, (size_t)n < sizeof item ? (size_t)n : sizeof item - 1);
    return f;
}

static int pbd_format(lua_State *L)
{
    int top = lua_gettop(L), arg = 1;
    size_t fl;
    const char *f = luaL_checklstring(L, 1, &fl), *end = f + fl;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    psb_charge(L, fl >> 3);
    while (f < end) {
        const char *pc = memchr(f, '%', (size_t)(end - f));
        if (!pc) {
            luaL_addlstring(&b, f, (size_t)(end - f));
            break;
        }
        luaL_addlstring(&b, f, (size_t)(pc - f));
        f = pc + 1;
        if (f < end && *f == '%') {
            luaL_addchar(&b, '%');
            f++;
            continue;
        }
        if (++arg > top) return luaL_argerror(L, arg, "no value");
        psb_charge(L, 256); /* a float with 99 digits costs a few us */
        f = pbd_fmt_item(L, &b, f, end, arg);
    }
    luaL_pushresult(&b);
    return 1;
}

/* ---- table ---- */

#define PBD_TAB_R 1
#define PBD_TAB_W 2
#define PBD_TAB_L 4

static int pbd_has_meta(lua_State *L, const char *field, int mt)
{
    lua_pushstring(L, field);
    int has = lua_rawget(L, mt) != LUA_TNIL;
    lua_pop(L, 1);
    return has;
}

/* A table, or a value whose metatable gives what the function needs. */
static void pbd_checktab(lua_State *L, int arg, int what)
{
    if (lua_type(L, arg) == LUA_TTABLE) return;
    if (lua_getmetatable(L, arg)) {
        int mt = lua_gettop(L);
        int ok = (!(what & PBD_TAB_R) || pbd_has_meta(L, "__index", mt)) &&
                 (!(what & PBD_TAB_W) || pbd_has_meta(L, "__newindex", mt)) &&
                 (!(what & PBD_TAB_L) || pbd_has_meta(L, "__len", mt));
        lua_pop(L, 1);
        if (ok) return;
    }
    luaL_checktype(L, arg, LUA_TTABLE); /* raises */
}

static lua_Integer pbd_len(lua_State *L, int arg, int what)
{
    pbd_checktab(L, arg, what | PBD_TAB_L);
    return luaL_len(L, arg);
}

/* A counter of elements moved through the API, charged per PBD_CHUNK. */
static inline void pbd_elem(lua_State *L, unsigned *count)
{
    if (++*count % PBD_CHUNK == 0) psb_charge(L, PBD_CHUNK * PBD_ELEM_UNITS);
}

static void pbd_concat_add(lua_State *L, luaL_Buffer *b, lua_Integer i)
{
    lua_geti(L, 1, i);
    if (!lua_isstring(L, -1))
        luaL_error(L, "invalid value (%s) at index %I in table for 'concat'", luaL_typename(L, -1),
                   (LUAI_UACINT)i);
    size_t l = lua_rawlen(L, -1);
    if (l >= PBD_CHUNK) psb_charge(L, l >> 3); /* short ones: the element's units */
    luaL_addvalue(b);
}

static int pbd_concat(lua_State *L)
{
    lua_Integer last = pbd_len(L, 1, PBD_TAB_R);
    size_t lsep;
    const char *sep = luaL_optlstring(L, 2, "", &lsep);
    lua_Integer i = luaL_optinteger(L, 3, 1);
    last = luaL_optinteger(L, 4, last);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    unsigned count = 0;
    for (; i < last; i++) {
        pbd_elem(L, &count);
        pbd_concat_add(L, &b, i);
        luaL_addlstring(&b, sep, lsep);
    }
    if (i == last) pbd_concat_add(L, &b, i);
    luaL_pushresult(&b);
    return 1;
}

static int pbd_insert(lua_State *L)
{
    lua_Integer e = pbd_len(L, 1, PBD_TAB_R | PBD_TAB_W);
    e = (lua_Integer)((lua_Unsigned)e + 1u); /* the first free slot */
    lua_Integer pos;
    unsigned count = 0;
    switch (lua_gettop(L)) {
    case 2:
        pos = e;
        break;
    case 3:
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
        for (lua_Integer i = e; i > pos; i--) { /* t[pos..e-1] one up */
            pbd_elem(L, &count);
            lua_geti(L, 1, i - 1);
            lua_seti(L, 1, i);
        }
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    lua_seti(L, 1, pos);
    return 0;
}

static int pbd_remove(lua_State *L)
{
    lua_Integer n = pbd_len(L, 1, PBD_TAB_R | PBD_TAB_W);
    lua_Integer pos = luaL_optinteger(L, 2, n);
    if (pos != n)
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)n, 1, "position out of bounds");
    lua_geti(L, 1, pos);
    unsigned count = 0;
    for (; pos < n; pos++) { /* t[pos+1..n] one down */
        pbd_elem(L, &count);
        lua_geti(L, 1, pos + 1);
        lua_seti(L, 1, pos);
    }
    lua_pushnil(L);
    lua_seti(L, 1, pos);
    return 1;
}

static int pbd_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);
    lua_Integer t = luaL_checkinteger(L, 4);
    int to = lua_isnoneornil(L, 5) ? 1 : 5;
    pbd_checktab(L, 1, PBD_TAB_R);
    pbd_checktab(L, to, PBD_TAB_W);
    if (e >= f) {
        luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
        lua_Integer n = e - f; /* elements to move, minus 1 */
        luaL_argcheck(L, t <= LUA_MAXINTEGER - n, 4, "destination wrap around");
        unsigned count = 0;
        if (t > e || t <= f || (to != 1 && !lua_compare(L, 1, to, LUA_OPEQ))) {
            for (lua_Integer i = 0; i <= n; i++) {
                pbd_elem(L, &count);
                lua_geti(L, 1, f + i);
                lua_seti(L, to, t + i);
            }
        } else { /* overlapping, destination after the source: backwards */
            for (lua_Integer i = n; i >= 0; i--) {
                pbd_elem(L, &count);
                lua_geti(L, 1, f + i);
                lua_seti(L, to, t + i);
            }
        }
    }
    lua_pushvalue(L, to);
    return 1;
}

static int pbd_unpack(lua_State *L)
{
    lua_Integer i = luaL_optinteger(L, 2, 1);
    lua_Integer e = luaL_opt(L, luaL_checkinteger, 3, luaL_len(L, 1));
    if (i > e) return 0;
    lua_Unsigned n = (lua_Unsigned)e - (lua_Unsigned)i;
    if (n >= (unsigned int)INT_MAX || !lua_checkstack(L, (int)(++n)))
        return luaL_error(L, "too many results to unpack");
    unsigned count = 0;
    for (; i < e; i++) {
        pbd_elem(L, &count);
        lua_geti(L, 1, i);
    }
    lua_geti(L, 1, e);
    return (int)n;
}

/* ---- utf8 ---- */

#define PBD_UTF8_MAX 0x7FFFFFFFu  /* lax: up to 6 bytes, 31 bits */
#define PBD_UNICODE_MAX 0x10FFFFu /* strict */

static int pbd_is_cont(const char *p)
{
    return (UC(*p) & 0xC0) == 0x80;
}

/* Decodes the character at s (a Lua string: a '\0' follows its end, and
 * '\0' is no continuation byte, so reading stops there). Returns the next
 * character, or NULL if this is no valid UTF-8: a lone continuation byte,
 * a missing continuation, an overlong form, more than 6 bytes; strict also
 * refuses surrogates and code points above U+10FFFF. */
static const char *pbd_utf8_decode(const char *s, uint32_t *cp, int strict)
{
    static const uint32_t least[] = {0, 0x80, 0x800, 0x10000, 0x200000, 0x4000000};
    unsigned c = UC(*s);
    uint32_t v;
    int more = 0;
    if (c < 0x80)
        v = c;
    else {
        while (more < 7 && (c << more) & 0x40)
            more++;
        if (more == 0 || more > 5) return NULL; /* 10xxxxxx, 11111110, 11111111 */
        v = c & (0x3Fu >> more);
        for (int k = 1; k <= more; k++) {
            if (!pbd_is_cont(s + k)) return NULL;
            v = (v << 6) | (UC(s[k]) & 0x3F);
        }
        if (v < least[more]) return NULL; /* overlong */
    }
    if (strict && (v > PBD_UNICODE_MAX || (v >= 0xD800 && v <= 0xDFFF))) return NULL;
    if (cp) *cp = v;
    return s + more + 1;
}

/* A position argument of the utf8 functions: negative from the end. */
static lua_Integer pbd_upos(lua_Integer pos, size_t len)
{
    if (pos >= 0) return pos;
    if ((size_t)0 - (size_t)pos > len) return 0;
    return (lua_Integer)len + pos + 1;
}

static int pbd_utf8_len(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer i = pbd_upos(luaL_optinteger(L, 2, 1), len);
    lua_Integer j = pbd_upos(luaL_optinteger(L, 3, -1), len);
    int strict = !lua_toboolean(L, 4);
    luaL_argcheck(L, 1 <= i && --i <= (lua_Integer)len, 2, "initial position out of bounds");
    luaL_argcheck(L, --j < (lua_Integer)len, 3, "final position out of bounds");
    lua_Integer n = 0;
    unsigned count = 0;
    while (i <= j) {
        if (++count % PBD_CHUNK == 0) psb_charge(L, PBD_CHUNK * 4);
        const char *next = pbd_utf8_decode(s + i, NULL, strict);
        if (!next) {
            luaL_pushfail(L);
            lua_pushinteger(L, i + 1);
            return 2;
        }
        i = next - s;
        n++;
    }
    lua_pushinteger(L, n);
    return 1;
}

static int pbd_utf8_offset(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer n = luaL_checkinteger(L, 2);
    lua_Integer i = pbd_upos(luaL_optinteger(L, 3, n >= 0 ? 1 : (lua_Integer)len + 1), len);
    luaL_argcheck(L, 1 <= i && --i <= (lua_Integer)len, 3, "position out of bounds");
    unsigned count = 0;
    if (n == 0) { /* the start of the character holding byte i */
        while (i > 0 && pbd_is_cont(s + i)) {
            if (++count % PBD_CHUNK == 0) psb_charge(L, PBD_CHUNK * 2);
            i--;
        }
        lua_pushinteger(L, i + 1);
        return 1;
    }
    if (pbd_is_cont(s + i)) return luaL_error(L, "initial position is a continuation byte");
    if (n < 0) {
        for (; n < 0 && i > 0; n++) { /* back to the start of the previous character */
            do {
                if (++count % PBD_CHUNK == 0) psb_charge(L, PBD_CHUNK * 2);
                i--;
            } while (i > 0 && pbd_is_cont(s + i));
        }
    } else {
        for (n--; n > 0 && i < (lua_Integer)len; n--) { /* on to the next one */
            do {
                if (++count % PBD_CHUNK == 0) psb_charge(L, PBD_CHUNK * 2);
                i++;
            } while (pbd_is_cont(s + i));
        }
    }
    if (n != 0) {
        luaL_pushfail(L);
        return 1;
    }
    lua_pushinteger(L, i + 1);
    return 1;
}

/* The utf8.codes iterator: (s, previous position) -> position, code point,
 * skipping the continuation bytes of the previous character. */
static int pbd_codes_next(lua_State *L, int strict)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Unsigned i = (lua_Unsigned)lua_tointeger(L, 2);
    if (i < len) {
        unsigned count = 0;
        while (pbd_is_cont(s + i)) {
            if (++count % PBD_CHUNK == 0) psb_charge(L, PBD_CHUNK * 2);
            i++;
        }
    }
    if (i >= len) return 0;
    uint32_t cp;
    if (!pbd_utf8_decode(s + i, &cp, strict)) return luaL_error(L, "invalid UTF-8 code");
    lua_pushinteger(L, (lua_Integer)i + 1);
    lua_pushinteger(L, (lua_Integer)cp);
    return 2;
}

static int pbd_codes_strict(lua_State *L)
{
    return pbd_codes_next(L, 1);
}

static int pbd_codes_lax(lua_State *L)
{
    return pbd_codes_next(L, 0);
}

static int pbd_utf8_codes(lua_State *L)
{
    int lax = lua_toboolean(L, 2);
    luaL_checkstring(L, 1);
    lua_pushcfunction(L, lax ? pbd_codes_lax : pbd_codes_strict);
    lua_pushvalue(L, 1);
    lua_pushinteger(L, 0);
    return 3;
}

/* ---- installation ---- */

void pbd_install(lua_State *L, int g, int str, int tab, int math, int utf8, int os)
{
    pbd_set(L, str, "rep", pbd_rep);
    pbd_set(L, str, "upper", pbd_upper);
    pbd_set(L, str, "lower", pbd_lower);
    pbd_set(L, str, "reverse", pbd_reverse);
    pbd_set(L, str, "format", pbd_format);
    pbd_wrap(L, str, "byte", pbd_per_result, -1);
    pbd_wrap(L, str, "char", pbd_per_arg, 8);
    pbd_wrap(L, str, "pack", pbd_pack_family, 8);
    pbd_wrap(L, str, "unpack", pbd_pack_family, 1);
    pbd_wrap(L, str, "packsize", pbd_pack_family, 0);

    /* The strings' metatable: arithmetic on numerals ("10" + 1). */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    int mt = lua_gettop(L);
    static const char *const arith[] = {"__add", "__sub",  "__mul", "__mod", "__pow",
                                        "__div", "__idiv", "__unm", NULL};
    for (const char *const *a = arith; *a; a++)
        if (lua_getfield(L, mt, *a) == LUA_TFUNCTION) {
            lua_pop(L, 1);
            pbd_wrap(L, mt, *a, pbd_per_byte, 2);
        } else
            lua_pop(L, 1);
    lua_pop(L, 2);

    pbd_set(L, tab, "concat", pbd_concat);
    pbd_set(L, tab, "insert", pbd_insert);
    pbd_set(L, tab, "remove", pbd_remove);
    pbd_set(L, tab, "move", pbd_move);
    pbd_set(L, tab, "unpack", pbd_unpack);
    pbd_wrap(L, tab, "sort", pbd_sort, -1);
    pbd_wrap(L, tab, "pack", pbd_per_arg, 16);

    pbd_set(L, utf8, "len", pbd_utf8_len);
    pbd_set(L, utf8, "offset", pbd_utf8_offset);
    pbd_set(L, utf8, "codes", pbd_utf8_codes);
    pbd_wrap(L, utf8, "codepoint", pbd_per_result, -1);
    pbd_wrap(L, utf8, "char", pbd_per_arg, 128);

    pbd_wrap(L, g, "select", pbd_per_arg, 2);
    pbd_wrap(L, g, "assert", pbd_per_arg, 2);
    pbd_wrap(L, g, "tonumber", pbd_per_byte, 2);
    pbd_wrap(L, math, "max", pbd_per_arg, 4);
    pbd_wrap(L, math, "min", pbd_per_arg, 4);
    pbd_wrap(L, os, "date", pbd_per_byte, 64);
}

/* policy_match.c: Lua 5.4 string patterns for the policy sandbox, with a
 * step counter (SPEC L2: bounded instructions per call).
 *
 * Why this file exists: the count hook of policy_sandbox.c sees Lua
 * instructions only, and Lua's own string.find runs in C. A backtracking
 * pattern such as string.rep("a-", 20) .. "b" over a 60-byte name takes
 * hours in one call, which the hook never interrupts. So the sandbox's
 * string.find, string.match, string.gmatch and string.gsub (also reached as
 * s:find(...) through the strings' metatable) are the functions below: a
 * matcher written for corder from the pattern rules of the Lua 5.4
 * reference manual, section 6.4.1, whose every step is counted. Every
 * PSM_BATCH steps it charges the sandbox's work counter (psb_charge), which
 * reads the clock and raises the budget error past the deadline.
 *
 * The language is Lua's, results and error messages included:
 *   single characters: x (itself), . (any), %a %c %d %g %l %p %s %u %w %x
 *     (C classes; upper case for the complement; also %z, '\0', which the
 *     manual dropped and Lua 5.4 still has), %x for any other
 *     non-alphanumeric x (itself), [set] and [^set] with ranges and classes;
 *   items: a single character, optionally followed by * (longest), + (one
 *     or more, longest), - (shortest) or ? (optional); %1-%9 (the text of
 *     a capture again), %bxy (balanced x...y), %f[set] (frontier);
 *   ^ anchors at the start (not in gmatch), $ at the end;
 *   (...) captures text, () the position; at most PSM_MAXCAPTURES.
 * Recursion is limited (PSM_MAXDEPTH, "pattern too complex") as in Lua, so
 * the C stack stays small. tests/policies/pattern_spec.lua compares these
 * functions with stock Lua's on a table of patterns and on random ones. */
#include <ctype.h>
#include <lauxlib.h>
#include <string.h>

#include "host/policy_charge.h"
#include "host/policy_lib.h"

#define PSM_MAXCAPTURES 32
#define PSM_MAXDEPTH 200
#define PSM_CAP_OPEN (-1) /* a capture not closed yet */
#define PSM_CAP_POS (-2)  /* a position capture, () */
#define PSM_BATCH 4096    /* steps between two charges */
#define PSM_STEP_UNITS 2  /* work units of one step */

typedef struct {
    const char *s0, *s_end; /* the subject */
    const char *p_end;      /* the end of the pattern */
    lua_State *L;
    int depth; /* recursion left */
    int steps; /* steps left before the next charge */
    int level; /* captures opened */
    struct {
        const char *at;
        ptrdiff_t len; /* or PSM_CAP_OPEN, PSM_CAP_POS */
    } cap[PSM_MAXCAPTURES];
} psm_state;

#define UC(c) ((unsigned char)(c))

static void psm_tick(psm_state *m)
{
    m->steps = PSM_BATCH;
    psb_charge(m->L, PSM_BATCH * PSM_STEP_UNITS);
}

static inline void psm_step(psm_state *m)
{
    if (--m->steps <= 0) psm_tick(m);
}

/* Bulk work (comparing n bytes): charged directly, at 1/8 unit a byte. */
static void psm_bulk(psm_state *m, size_t n)
{
    if (n >= 64) psb_charge(m->L, n >> 3);
}

static void psm_init(psm_state *m, lua_State *L, const char *s, size_t ls, const char *p, size_t lp)
{
    m->L = L;
    m->s0 = s;
    m->s_end = s + ls;
    m->p_end = p + lp;
    m->steps = PSM_BATCH;
}

static void psm_reset(psm_state *m)
{
    m->level = 0;
    m->depth = PSM_MAXDEPTH;
}

/* ---- single characters ---- */

/* Does byte c belong to class %cl? */
static int psm_class(int c, int cl)
{
    int r;
    switch (tolower(cl)) {
    case 'a':
        r = isalpha(c);
        break;
    case 'c':
        r = iscntrl(c);
        break;
    case 'd':
        r = isdigit(c);
        break;
    case 'g':
        r = isgraph(c);
        break;
    case 'l':
        r = islower(c);
        break;
    case 'p':
        r = ispunct(c);
        break;
    case 's':
        r = isspace(c);
        break;
    case 'u':
        r = isupper(c);
        break;
    case 'w':
        r = isalnum(c);
        break;
    case 'x':
        r = isxdigit(c);
        break;
    case 'z': /* '\0': gone from the manual, still in Lua 5.4 */
        r = c == 0;
        break;
    default:
        return cl == c; /* %. %% %[ ...: the character itself */
    }
    r = r != 0;
    return isupper(cl) ? !r : r;
}

/* The ']' that closes the set opening at p ('['). The first character of
 * a set (after a '^') is a member even when it is ']'; %x escapes x. */
static const char *psm_set_end(psm_state *m, const char *p)
{
    p++;
    if (p < m->p_end && *p == '^') p++;
    for (;;) {
        if (p >= m->p_end) break;
        if (*p++ == '%') {
            if (p >= m->p_end) break;
            p++;
        }
        if (p >= m->p_end) break;
        if (*p == ']') return p;
    }
    luaL_error(m->L, "malformed pattern (missing ']')");
    return NULL;
}

/* Is c in the set from p ('[') to end (its ']')? Items: %x, a-z (when the
 * '-' is not the set's last character), or a character. */
static int psm_in_set(int c, const char *p, const char *end)
{
    int in = 1;
    p++;
    if (*p == '^') {
        in = 0;
        p++;
    }
    while (p < end) {
        if (*p == '%') {
            if (psm_class(c, UC(p[1]))) return in;
            p += 2;
        } else if (p[1] == '-' && p + 2 < end) {
            if (UC(p[0]) <= c && c <= UC(p[2])) return in;
            p += 3;
        } else {
            if (UC(*p) == c) return in;
            p++;
        }
    }
    return !in;
}

/* The end of the single-character item at p. */
static const char *psm_item_end(psm_state *m, const char *p)
{
    if (*p == '%') {
        if (p + 1 >= m->p_end) luaL_error(m->L, "malformed pattern (ends with '%%')");
        return p + 2;
    }
    if (*p == '[') return psm_set_end(m, p) + 1;
    return p + 1;
}

/* Does the subject byte at s match the item from p to ep? */
static int psm_single(const psm_state *m, const char *s, const char *p, const char *ep)
{
    if (s >= m->s_end) return 0;
    int c = UC(*s);
    switch (*p) {
    case '.':
        return 1;
    case '%':
        return psm_class(c, UC(p[1]));
    case '[':
        return psm_in_set(c, p, ep - 1);
    default:
        return UC(*p) == c;
    }
}

/* ---- the matcher: the end of a match of p at s, or NULL ---- */

static const char *psm_match(psm_state *m, const char *s, const char *p);

static const char *psm_open(psm_state *m, const char *s, const char *p, ptrdiff_t what)
{
    if (m->level >= PSM_MAXCAPTURES) luaL_error(m->L, "too many captures");
    m->cap[m->level].at = s;
    m->cap[m->level].len = what;
    m->level++;
    const char *r = psm_match(m, s, p);
    if (!r) m->level--;
    return r;
}

static const char *psm_close(psm_state *m, const char *s, const char *p)
{
    int l = m->level - 1;
    while (l >= 0 && m->cap[l].len != PSM_CAP_OPEN)
        l--;
    if (l < 0) luaL_error(m->L, "invalid pattern capture");
    m->cap[l].len = s - m->cap[l].at;
    const char *r = psm_match(m, s, p);
    if (!r) m->cap[l].len = PSM_CAP_OPEN;
    return r;
}

/* %bxy at s; p points at x. */
static const char *psm_balance(psm_state *m, const char *s, const char *p)
{
    if (p + 1 >= m->p_end) luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= m->s_end || *s != p[0]) return NULL;
    char open = p[0], close = p[1];
    size_t depth = 1;
    for (s++; s < m->s_end; s++) {
        psm_step(m);
        if (*s == close) {
            if (--depth == 0) return s + 1;
        } else if (*s == open)
            depth++;
    }
    return NULL;
}

/* %1-%9 at s: the text of that capture again (a position capture never
 * matches). */
static const char *psm_backref(psm_state *m, const char *s, int digit)
{
    int l = digit - '1';
    if (l < 0 || l >= m->level || m->cap[l].len == PSM_CAP_OPEN)
        luaL_error(m->L, "invalid capture index %%%d", l + 1);
    ptrdiff_t len = m->cap[l].len;
    if (len == PSM_CAP_POS || m->s_end - s < len) return NULL;
    psm_bulk(m, (size_t)len);
    return memcmp(m->cap[l].at, s, (size_t)len) == 0 ? s + len : NULL;
}

/* x* and x+ (after its first x): as many x as possible, then fewer. */
static const char *psm_longest(psm_state *m, const char *s, const char *p, const char *ep)
{
    ptrdiff_t n = 0;
    while (psm_single(m, s + n, p, ep)) {
        psm_step(m);
        n++;
    }
    for (; n >= 0; n--) {
        const char *r = psm_match(m, s + n, ep + 1);
        if (r) return r;
    }
    return NULL;
}

/* x-: as few x as possible, then more. */
static const char *psm_shortest(psm_state *m, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *r = psm_match(m, s, ep + 1);
        if (r) return r;
        if (!psm_single(m, s, p, ep)) return NULL;
        s++;
    }
}

static const char *psm_items(psm_state *m, const char *s, const char *p)
{
    for (;;) {
        psm_step(m);
        if (p == m->p_end) return s;
        switch (*p) {
        case '(':
            if (p + 1 < m->p_end && p[1] == ')') return psm_open(m, s, p + 2, PSM_CAP_POS);
            return psm_open(m, s, p + 1, PSM_CAP_OPEN);
        case ')':
            return psm_close(m, s, p + 1);
        case '$':
            if (p + 1 == m->p_end) return s == m->s_end ? s : NULL;
            break;
        case '%':
            if (p + 1 >= m->p_end) break;
            if (p[1] == 'b') {
                s = psm_balance(m, s, p + 2);
                if (!s) return NULL;
                p += 4;
                continue;
            }
            if (p[1] == 'f') {
                p += 2;
                if (p >= m->p_end || *p != '[')
                    luaL_error(m->L, "missing '[' after '%%f' in pattern");
                const char *end = psm_set_end(m, p);
                int prev = s == m->s0 ? 0 : UC(s[-1]);
                int cur = s < m->s_end ? UC(*s) : 0;
                if (psm_in_set(prev, p, end) || !psm_in_set(cur, p, end)) return NULL;
                p = end + 1;
                continue;
            }
            if (isdigit(UC(p[1]))) {
                s = psm_backref(m, s, UC(p[1]));
                if (!s) return NULL;
                p += 2;
                continue;
            }
            break;
        }
        const char *ep = psm_item_end(m, p);
        int ok = psm_single(m, s, p, ep);
        switch (ep < m->p_end ? *ep : '\0') {
        case '?':
            if (ok) {
                const char *r = psm_match(m, s + 1, ep + 1);
                if (r) return r;
            }
            p = ep + 1;
            continue;
        case '+':
            return ok ? psm_longest(m, s + 1, p, ep) : NULL;
        case '*':
            return psm_longest(m, s, p, ep);
        case '-':
            return psm_shortest(m, s, p, ep);
        default:
            if (!ok) return NULL;
            s++;
            p = ep;
        }
    }
}

static const char *psm_match(psm_state *m, const char *s, const char *p)
{
    if (m->depth-- == 0) luaL_error(m->L, "pattern too complex");
    const char *r = psm_items(m, s, p);
    m->depth++;
    return r;
}

/* ---- results ---- */

static void psm_push_one(psm_state *m, int i, const char *s, const char *e)
{
    if (i >= m->level) {
        if (i != 0) luaL_error(m->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(m->L, s, (size_t)(e - s)); /* no captures: the match */
        return;
    }
    ptrdiff_t len = m->cap[i].len;
    if (len == PSM_CAP_OPEN) luaL_error(m->L, "unfinished capture");
    if (len == PSM_CAP_POS)
        lua_pushinteger(m->L, (lua_Integer)(m->cap[i].at - m->s0) + 1);
    else
        lua_pushlstring(m->L, m->cap[i].at, (size_t)len);
}

/* The captures, or the whole match when there are none (and s is set). */
static int psm_push_all(psm_state *m, const char *s, const char *e)
{
    int n = m->level == 0 && s ? 1 : m->level;
    luaL_checkstack(m->L, n, "too many captures");
    for (int i = 0; i < n; i++)
        psm_push_one(m, i, s, e);
    return n;
}

/* ---- string.find, string.match ---- */

/* A start position as Lua's init arguments read it (1-based; negative
 * from the end; out of range clipped to 1). */
static size_t psm_start(lua_Integer pos, size_t len)
{
    if (pos > 0) return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len) return 1;
    return len + (size_t)pos + 1;
}

static int psm_plain(const char *p, size_t lp)
{
    static const char specials[] = "^$*+?.([%-";
    for (size_t i = 0; i < lp; i++)
        if (memchr(specials, p[i], sizeof specials - 1)) return 0;
    return 1;
}

static int psm_find_aux(lua_State *L, int find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = psm_start(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || psm_plain(p, lp))) {
        psb_charge(L, (ls - init + lp) >> 3);
        const char *r = lp == 0 ? s + init : memmem(s + init, ls - init, p, lp);
        if (r) {
            lua_pushinteger(L, (lua_Integer)(r - s) + 1);
            lua_pushinteger(L, (lua_Integer)(r - s) + (lua_Integer)lp);
            return 2;
        }
    } else {
        psm_state m;
        psm_init(&m, L, s, ls, p, lp);
        int anchor = lp > 0 && *p == '^';
        if (anchor) p++;
        const char *s1 = s + init;
        do {
            psm_reset(&m);
            const char *e = psm_match(&m, s1, p);
            if (e) {
                if (!find) return psm_push_all(&m, s1, e);
                lua_pushinteger(L, (lua_Integer)(s1 - s) + 1);
                lua_pushinteger(L, (lua_Integer)(e - s));
                return psm_push_all(&m, NULL, NULL) + 2;
            }
        } while (s1++ < m.s_end && !anchor);
    }
    luaL_pushfail(L);
    return 1;
}

static int psm_find(lua_State *L)
{
    return psm_find_aux(L, 1);
}

static int psm_match_fn(lua_State *L)
{
    return psm_find_aux(L, 0);
}

/* ---- string.gmatch ---- */

typedef struct {
    size_t pos;     /* where the next search starts */
    ptrdiff_t last; /* the end of the last match, or -1 */
} psm_gmatch_state;

static int psm_gmatch_next(lua_State *L)
{
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    psm_gmatch_state *g = lua_touserdata(L, lua_upvalueindex(3));
    psm_state m;
    psm_init(&m, L, s, ls, p, lp);
    for (size_t at = g->pos; at <= ls; at++) {
        psm_reset(&m);
        const char *e = psm_match(&m, s + at, p);
        /* An empty match right where the last one ended is no match. */
        if (e && e - s != g->last) {
            g->pos = (size_t)(e - s);
            g->last = e - s;
            return psm_push_all(&m, s + at, e);
        }
    }
    return 0;
}

static int psm_gmatch(lua_State *L)
{
    size_t ls;
    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    size_t init = psm_start(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) init = ls + 1; /* nothing to find */
    lua_settop(L, 2);
    psm_gmatch_state *g = lua_newuserdatauv(L, sizeof *g, 0);
    g->pos = init;
    g->last = -1;
    lua_pushcclosure(L, psm_gmatch_next, 3);
    return 1;
}

/* ---- string.gsub ---- */

/* A replacement string: %0 the match, %1-%9 a capture, %% a '%'. */
static void psm_add_string(psm_state *m, luaL_Buffer *b, const char *s, const char *e)
{
    lua_State *L = m->L;
    size_t l;
    const char *r = lua_tolstring(L, 3, &l);
    const char *end = r + l, *pc;
    psb_charge(L, 1 + (l >> 3));
    while ((pc = memchr(r, '%', (size_t)(end - r))) != NULL) {
        luaL_addlstring(b, r, (size_t)(pc - r));
        pc++;
        if (pc < end && *pc == '%')
            luaL_addchar(b, '%');
        else if (pc < end && *pc == '0')
            luaL_addlstring(b, s, (size_t)(e - s));
        else if (pc < end && isdigit(UC(*pc))) {
            psm_push_one(m, *pc - '1', s, e);
            luaL_tolstring(L, -1, NULL);
            lua_remove(L, -2);
            luaL_addvalue(b);
        } else
            luaL_error(L, "invalid use of '%c' in replacement string", '%');
        r = pc + 1;
    }
    luaL_addlstring(b, r, (size_t)(end - r));
}

/* Adds the replacement of the match s..e; 0 if it kept the match as is. */
static int psm_add_value(psm_state *m, luaL_Buffer *b, const char *s, const char *e, int tr)
{
    lua_State *L = m->L;
    if (tr == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = psm_push_all(m, s, e);
        lua_call(L, n, 1);
    } else if (tr == LUA_TTABLE) {
        psm_push_one(m, 0, s, e);
        lua_gettable(L, 3);
    } else {
        psm_add_string(m, b, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) { /* nil or false: keep the match */
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

static int psm_gsub(lua_State *L)
{
    size_t ls, lp;
    const char *src = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int tr = lua_type(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(
        L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
        "string/function/table");
    int anchor = lp > 0 && *p == '^';
    if (anchor) p++, lp--;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    psm_state m;
    psm_init(&m, L, src, ls, p, lp);
    const char *last = NULL;
    lua_Integer n = 0;
    int changed = 0;
    while (n < max) {
        psm_reset(&m);
        const char *e = psm_match(&m, src, p);
        if (e && e != last) { /* not an empty match where the last one ended */
            n++;
            changed |= psm_add_value(&m, &b, src, e, tr);
            src = last = e;
        } else if (src < m.s_end)
            luaL_addchar(&b, *src++);
        else
            break;
        if (anchor) break;
    }
    if (!changed)
        lua_pushvalue(L, 1);
    else {
        luaL_addlstring(&b, src, (size_t)(m.s_end - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

void psm_install(lua_State *L, int str)
{
    static const luaL_Reg fns[] = {
        {"find", psm_find}, {"match", psm_match_fn}, {"gmatch", psm_gmatch}, {"gsub", psm_gsub},
        {NULL, NULL},
    };
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, str, f->name);
    }
}

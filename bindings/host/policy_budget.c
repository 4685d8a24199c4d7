/* policy_budget.c: the memory cap and the time budget of a sandboxed
 * lua_State (see policy_budget.h and the essay of policy_sandbox.c). */
#include "host/policy_budget.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

/* ---- the budget ---- */

/* The count hook's period: every PSB_HOOK_EVERY instructions while the
 * state holds no big block; shorter when it does (see psb_period). */
#define PSB_HOOK_EVERY 1000
#define PSB_BIG_BLOCK ((size_t)64 << 10)
#define PSB_BIG_REF ((size_t)16 << 10)

static void psb_budget_hook(lua_State *L, lua_Debug *ar);

/* One instruction can cost time in proportion to a big object: comparing
 * two long strings, converting a string of digits to a number, copying a
 * million varargs, scanning a big table for next(). So the more memory the
 * state holds in big blocks, the more often the hook reads the clock: about
 * PSB_HOOK_EVERY * PSB_BIG_REF bytes' worth of such work between two
 * reads, i.e. every 250 instructions with one 64 KiB block, every
 * instruction from 16 MiB on. A policy without big blocks keeps 1000. */
static int psb_period(size_t big)
{
    if (big <= PSB_BIG_REF) return PSB_HOOK_EVERY;
    size_t n = (size_t)PSB_HOOK_EVERY * PSB_BIG_REF / big;
    return n < 1 ? 1 : (int)n;
}

static void psb_set_hook(psb_state *s, int every)
{
    s->hook_every = every;
    /* A hook belongs to one thread: the one running the budgeted code. */
    lua_State *L = s->run ? s->run : s->L;
    if (L) lua_sethook(L, psb_budget_hook, LUA_MASKCOUNT, every);
}

/* The allocator may not raise an error, but it may set the hook (as lua.c
 * does from a signal handler): a shorter period when big blocks appear,
 * a period of 1 when the deadline has passed. */
static void psb_big_grew(psb_state *s)
{
    s->big_mark = s->big * 2;
    int every = psb_period(s->big);
    if (s->L && !s->tripped && !s->watched && every < s->hook_every) psb_set_hook(s, every);
}

/* Allocation is work too (a concatenation, a table growing): it is charged
 * at a quarter unit per byte, and past the deadline the next instruction
 * raises the budget error. */
static void psb_alloc_tick(psb_state *s)
{
    s->work_left = PSB_WORK_EVERY;
    if (s->L && !s->tripped && pwt_now_ns() >= s->deadline_ns) {
        s->tripped = 1;
        psb_set_hook(s, 1);
    }
}

/* Small blocks. A hook call makes and drops some 50 of them (a table, its
 * nodes, a string, a closure), and the collector frees them in bursts:
 * glibc keeps only 7 freed blocks of a size at hand, so most went back to
 * its bins and came out again. Each state keeps up to PSB_SMALL_KEEP_BYTES
 * of freed blocks per 16-byte class and hands them out again first. A
 * small block is always allocated at its class's full size, so it can
 * move between the cache, realloc and free in any order. The cap counts
 * the sizes Lua asked for, as before; the kept blocks (at most 256 KiB a
 * state, in practice the few classes a policy's garbage is made of) are
 * not the policy's memory. The bound was 48 blocks a class: a burst of
 * the collector frees a few hundred 64-byte tables (17 a call of the
 * deposit hook of tests/bench/policy_bench.c), and all but 48 went back
 * to glibc, 3,000 instructions a call (callgrind). */
#define PSB_SMALL_MAX (PSB_SMALL_CLASSES * 16)

static size_t psb_class(size_t n)
{
    return (n + 15) >> 4; /* 1..PSB_SMALL_CLASSES for 1..PSB_SMALL_MAX */
}

/* A block of class c (0-based) from its cache, NULL when it is empty. */
static inline void *psb_small_pop(psb_state *s, size_t c)
{
    void *b = s->small[c];
    if (b) {
        s->small[c] = *(void **)b;
        s->nsmall[c]--;
    }
    return b;
}

/* Block b into the cache of class c (the caller checked there is room). */
static inline void psb_small_push(psb_state *s, size_t c, void *b)
{
    *(void **)b = s->small[c];
    s->small[c] = b;
    s->nsmall[c]++;
}

static void *psb_small_get(psb_state *s, size_t n)
{
    size_t c = psb_class(n) - 1;
    void *b = psb_small_pop(s, c);
    return b ? b : malloc((c + 1) << 4);
}

/* PSB_SMALL_KEEP of each class, spelled out so that a free divides
 * nothing. */
#define PSB_KEEP4(c)                                                                               \
    PSB_SMALL_KEEP(c), PSB_SMALL_KEEP(c + 1), PSB_SMALL_KEEP(c + 2), PSB_SMALL_KEEP(c + 3)
static const unsigned short psb_keep[PSB_SMALL_CLASSES] = {PSB_KEEP4(0), PSB_KEEP4(4), PSB_KEEP4(8),
                                                           PSB_KEEP4(12)};

static void psb_small_put(psb_state *s, void *b, size_t n)
{
    size_t c = psb_class(n) - 1;
    if (s->nsmall[c] >= psb_keep[c])
        free(b);
    else
        psb_small_push(s, c, b);
}

void psb_alloc_release(psb_state *s)
{
    for (size_t c = 0; c < PSB_SMALL_CLASSES; c++)
        for (void *b; (b = psb_small_pop(s, c));)
            free(b);
}

/* Moves a block to a new size (neither old nor nsize is 0). */
static void *psb_resize(psb_state *s, void *ptr, size_t old, size_t nsize)
{
    if (old <= PSB_SMALL_MAX && nsize <= PSB_SMALL_MAX) {
        if (psb_class(old) == psb_class(nsize)) return ptr;
        void *np = psb_small_get(s, nsize);
        if (!np) return NULL;
        memcpy(np, ptr, old < nsize ? old : nsize);
        psb_small_put(s, ptr, old);
        return np;
    }
    /* a small block is a malloc'd block of its class's size: realloc takes it */
    return realloc(ptr, nsize <= PSB_SMALL_MAX ? psb_class(nsize) << 4 : nsize);
}

/* A refused allocation raises "not enough memory", which carries no
 * position: the line of the policy code running is noted here, for the
 * error (L2). lua_getstack and lua_getinfo with "l" only read the call
 * chain and the function's line table, so they may run inside the
 * allocator. A state being built or closed (no thread armed) keeps the
 * hook's own line. */
static __attribute__((cold, noinline)) void psb_note_line(psb_state *s)
{
    lua_State *L = s->run;
    lua_Debug ar;
    if (!L) return;
    for (int level = 0; level < 8 && lua_getstack(L, level, &ar); level++)
        if (lua_getinfo(L, "l", &ar) && ar.currentline > 0) {
            s->last_line = ar.currentline;
            return;
        }
}

/* Everything but the two common cases of psb_alloc below. In Lua 5.4
 * osize is a type tag, not a size, when ptr is NULL. */
static __attribute__((noinline)) void *psb_alloc_slow(psb_state *s, void *ptr, size_t osize,
                                                      size_t nsize)
{
    if (nsize == 0) { /* ptr is not NULL: psb_alloc answered that */
        s->used -= osize;
        if (osize <= PSB_SMALL_MAX) {
            psb_small_put(s, ptr, osize);
            return NULL;
        }
        free(ptr);
        if (osize >= PSB_BIG_BLOCK) s->big -= osize;
        return NULL;
    }
    size_t old = ptr ? osize : 0;
    if (nsize > old && (s->used > s->cap || nsize - old > s->cap - s->used)) {
        s->mem_refused = 1;
        psb_note_line(s);
        return NULL;
    }
    void *np = !ptr ? nsize <= PSB_SMALL_MAX ? psb_small_get(s, nsize) : malloc(nsize)
                    : psb_resize(s, ptr, old, nsize);
    if (!np) return NULL;
    s->used = s->used - old + nsize;
    if (old >= PSB_BIG_BLOCK) s->big -= old;
    if (nsize >= PSB_BIG_BLOCK) {
        s->big += nsize;
        if (s->big > s->big_mark) psb_big_grew(s);
    }
    if (nsize >> 2 < s->work_left)
        s->work_left -= nsize >> 2;
    else
        psb_alloc_tick(s);
    return np;
}

/* Most calls free a small block into its class's cache or take one from
 * it, or "free" a NULL array (a hook call of tests/bench/policy_bench.c
 * makes some 125, 30 of them the NULL ones): those cases are a leaf
 * function without a stack frame, the rest is psb_alloc_slow's (43
 * instructions a call were 24 of saving and restoring registers for the
 * slow path's sake). */
void *psb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    psb_state *s = ud;
    if (nsize == 0) {
        if (!ptr) return NULL; /* a table without an array part: twice per table */
        if (osize <= PSB_SMALL_MAX) {
            size_t c = psb_class(osize) - 1;
            if (s->nsmall[c] < psb_keep[c]) {
                psb_small_push(s, c, ptr);
                s->used -= osize;
                return NULL;
            }
        }
    } else if (!ptr && nsize <= PSB_SMALL_MAX && s->used <= s->cap && nsize <= s->cap - s->used &&
               nsize >> 2 < s->work_left) {
        void *b = psb_small_pop(s, psb_class(nsize) - 1);
        if (b) {
            s->used += nsize;
            s->work_left -= nsize >> 2;
            return b;
        }
    }
    return psb_alloc_slow(s, ptr, osize, nsize);
}

psb_state *psb_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* "file:line: " of the innermost policy line running: from level 0 (the
 * function the hook interrupted, or the C function that charges) up
 * through C callers (pcall, a gsub callback's caller) to the first Lua
 * line. */
static void psb_where(lua_State *L)
{
    lua_Debug ar;
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
            return;
        }
    }
    lua_pushliteral(L, "");
}

int psb_budget_error(lua_State *L)
{
    psb_state *s = psb_of(L);
    s->run = L; /* the thread that ran out: its next instruction errors again */
    if (!s->tripped || s->hook_every != 1) {
        s->tripped = 1;
        psb_set_hook(s, 1);
    }
    s->work_left = 0;
    psb_where(L);
    lua_pushfstring(L, "instruction budget exceeded (%d ms)", (int)(s->budget_us / 1000));
    lua_concat(L, 2);
    return lua_error(L);
}

static void psb_budget_hook(lua_State *L, lua_Debug *ar)
{
    psb_state *s = psb_of(L);
    /* A refused allocation carries no position, so remember where the
     * policy was (the hook's own line until then): a memory error can then
     * still name file:line (L2). */
    if (lua_getinfo(L, "l", ar) && ar->currentline > 0) s->last_line = ar->currentline;
    if (!s->tripped && pwt_now_ns() < s->deadline_ns) return;
    psb_budget_error(L);
}

void psb_charge_slow(lua_State *L, psb_state *s, size_t units)
{
    (void)units;
    if (s->tripped || pwt_now_ns() >= s->deadline_ns) psb_budget_error(L);
    s->work_left = PSB_WORK_EVERY;
}

void psb_reserve(lua_State *L, size_t ns)
{
    psb_state *s = psb_of(L);
    if (ns < s->work_left) {
        s->work_left -= ns;
        return;
    }
    int64_t now = pwt_now_ns();
    if (s->tripped || now >= s->deadline_ns || ns > (size_t)(s->deadline_ns - now))
        psb_budget_error(L);
    s->work_left = PSB_WORK_EVERY;
}

/* The watchdog's trip, on the call's thread from a signal handler
 * (policy_watchdog.c): flags and the hook only. */
static void psb_trip(void *arg)
{
    psb_state *s = arg;
    if (s->tripped) return;
    s->tripped = 1;
    psb_set_hook(s, 1);
}

void psb_arm(lua_State *L, const char *store)
{
    psb_state *s = psb_of(L);
    s->run = L;
    s->tripped = 0;
    s->mem_refused = 0;
    s->last_line = 0;
    s->store = store;
    s->work_left = PSB_WORK_EVERY;
    s->big_mark = s->big;
    /* A hook left by the last call (tripped, or counting) goes first, so
     * that the watchdog's trip cannot be undone by it. */
    if (s->hook_every) {
        lua_sethook(s->L, NULL, 0, 0);
        if (L != s->L) lua_sethook(L, NULL, 0, 0);
        s->hook_every = 0;
    }
    s->deadline_ns = pwt_now_ns() + s->budget_us * 1000;
    /* Armed again before its disarm (a console chunk's coroutine after
     * the chunk's load), the state keeps the outer call it saved first. */
    s->watched = pwt_watch(psb_trip, s, s->deadline_ns, s->watched ? NULL : &s->outer);
    if (!s->watched) psb_set_hook(s, psb_period(s->big));
}

/* Watched, the budget ends with the call: no hook is left behind (a
 * policy has no finalizers: setmetatable refuses __gc). Counted, the hook
 * stays and the deadline is left to expire, as the count hook always
 * did. */
void psb_disarm(lua_State *L)
{
    psb_state *s = psb_of(L);
    s->store = NULL;
    if (s->watched) {
        pwt_unwatch(&s->outer);
        s->watched = 0;
        s->run = s->L;
        return;
    }
    if (s->run != s->L) { /* a coroutine may go away: back to the main thread */
        s->run = s->L;
        psb_set_hook(s, psb_period(s->big));
    }
}

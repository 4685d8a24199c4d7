/* test_policy_alloc.c: the sandbox allocator's small-block cache
 * (bindings/host/policy_budget.c, SPEC L2).
 *
 *   - L2 (memory cap): what a state is charged is what Lua asked for,
 *     whichever way a block moves (made, grown within its class, moved to
 *     another class, grown past the small sizes and back, freed), and a
 *     request past the cap is still refused and marked;
 *   - a freed small block is handed out again for the next request of its
 *     16-byte class, and its contents survive a move between classes;
 *   - the cache is bounded (PSB_SMALL_KEEP_BYTES a class) and
 *     psb_alloc_release gives every kept block back;
 *   - a real state (psb_new) runs a policy's garbage through it and closes
 *     without a leak (ASan's leak check runs this under make test-asan). */
#include <lauxlib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/policy_int.h"
#include "t.h"

static void test_accounting(void)
{
    psb_state s = {.cap = 1 << 20};
    void *a = psb_alloc(&s, NULL, LUA_TTABLE, 40);
    CHECK(a != NULL && s.used == 40, "a new block is charged its size (used %zu)", s.used);
    memset(a, 'x', 40);
    void *b = psb_alloc(&s, a, 40, 47); /* same class (33..48): no move */
    CHECK(b == a && s.used == 47, "grown within its class it stays put (used %zu)", s.used);
    void *c = psb_alloc(&s, b, 47, 200); /* another class: moved, contents kept */
    CHECK(c != NULL && s.used == 200, "moved to another class (used %zu)", s.used);
    CHECK(c && !memcmp(c, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 40), "contents moved");
    void *d = psb_alloc(&s, c, 200, 5000); /* past the small sizes */
    CHECK(d != NULL && s.used == 5000, "grown past the small sizes (used %zu)", s.used);
    CHECK(d && ((char *)d)[39] == 'x', "contents kept by realloc");
    void *e = psb_alloc(&s, d, 5000, 20); /* back to a small class */
    CHECK(e != NULL && s.used == 20 && ((char *)e)[19] == 'x', "shrunk to a small class");
    psb_alloc(&s, e, 20, 0);
    CHECK(s.used == 0, "all freed: nothing charged (used %zu)", s.used);

    /* L2: a request past the cap is refused, and the refusal is marked. */
    void *big = psb_alloc(&s, NULL, LUA_TSTRING, (1 << 20) + 1);
    CHECK(big == NULL && s.mem_refused && s.used == 0, "past the cap: refused");
    psb_alloc_release(&s);
}

static void test_reuse(void)
{
    psb_state s = {.cap = 1 << 20};
    void *a = psb_alloc(&s, NULL, LUA_TTABLE, 56);
    psb_alloc(&s, a, 56, 0);
    void *b = psb_alloc(&s, NULL, LUA_TSTRING, 50); /* 49..64: a's class */
    CHECK(b == a, "a freed block is handed out again for its class");
    void *c = psb_alloc(&s, NULL, LUA_TSTRING, 50);
    CHECK(c != NULL && c != b, "an empty class falls back to malloc");
    psb_alloc(&s, b, 50, 0);
    psb_alloc(&s, c, 50, 0);

    /* Bounded: of 600 freed blocks of 32 bytes, 16 KiB worth are kept;
     * of 100 blocks of 256 bytes, 64. */
    void *v[600];
    for (int i = 0; i < 600; i++)
        v[i] = psb_alloc(&s, NULL, LUA_TTABLE, 24);
    for (int i = 0; i < 600; i++)
        psb_alloc(&s, v[i], 24, 0);
    CHECK(s.nsmall[1] == PSB_SMALL_KEEP(1) && PSB_SMALL_KEEP(1) == 512,
          "the cache keeps 16 KiB of a class (kept %u blocks of 32)", (unsigned)s.nsmall[1]);
    for (int i = 0; i < 100; i++)
        v[i] = psb_alloc(&s, NULL, LUA_TSTRING, 250);
    for (int i = 0; i < 100; i++)
        psb_alloc(&s, v[i], 250, 0);
    CHECK(s.nsmall[15] == 64, "the cache keeps 16 KiB of a class (kept %u blocks of 256)",
          (unsigned)s.nsmall[15]);
    /* Lua frees an empty array as (NULL, 0, 0): nothing is charged back. */
    CHECK(psb_alloc(&s, NULL, 0, 0) == NULL, "freeing NULL answers NULL");
    CHECK(s.used == 0, "nothing charged for kept blocks (used %zu)", s.used);
    psb_alloc_release(&s);
    int empty = 1;
    for (int k = 0; k < PSB_SMALL_CLASSES; k++)
        if (s.small[k] || s.nsmall[k]) empty = 0;
    CHECK(empty, "psb_alloc_release gives every kept block back");
}

static void test_state(void)
{
    err_t e;
    err_clear(&e);
    lua_State *L = psb_new(NULL, &e);
    CHECK(L != NULL, "psb_new: %s", e.message);
    if (!L) return;
    /* Garbage of many small sizes, collected and made again. */
    const char *chunk = "local t, s = {}, ''\n"
                        "for i = 1, 2000 do t[i % 50] = { i, 'n' .. i, { x = i } } end\n"
                        "for i = 1, 300 do s = s .. 'a' t[i % 50] = s end\n"
                        "return #t\n";
    int rc = LUA_OK;
    for (int round = 0; round < 3 && rc == LUA_OK; round++) {
        lua_settop(L, 0);
        psb_arm(L, NULL); /* a fresh budget for each round */
        rc = luaL_loadstring(L, chunk);
        if (rc == LUA_OK) rc = lua_pcall(L, 0, 1, 0);
        lua_gc(L, LUA_GCCOLLECT);
    }
    CHECK(rc == LUA_OK && lua_tointeger(L, -1) == 49, "the chunk ran: %s",
          rc == LUA_OK ? "" : lua_tostring(L, -1));
    lua_settop(L, 0);
    psb_disarm(L);
    psb_close(L); /* frees the kept blocks too: ASan reports a leak otherwise */
}

int main(void)
{
    test_accounting();
    test_reuse();
    test_state();
    return T_DONE();
}

/* policy_budget.h: the two limits of a sandboxed lua_State (SPEC L2):
 * memory (a capped allocator) and time (a deadline that a watchdog thread
 * watches, policy_watchdog.c, or where it cannot, a count hook comparing
 * the clock with it; and the work library functions written in C charge).
 * The lowest file of the policy host: the sandbox, the bounded library
 * functions and the pattern matcher all stand on it. */
#ifndef CORDER_POLICY_BUDGET_H
#define CORDER_POLICY_BUDGET_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#include "host/policy_watchdog.h"

/* Work units a library function charges between two reads of the clock.
 * A unit is about a nanosecond of work on an ordinary machine (a byte
 * copied is a fraction of one, a table element or a pattern step a few),
 * so the clock is read about every 65 us of charged work. */
#define PSB_WORK_EVERY 65536

/* Small blocks a state freed, kept for its next allocations of the same
 * size class (psb_alloc): PSB_SMALL_CLASSES classes of 16 bytes each, up
 * to PSB_SMALL_KEEP_BYTES a class (PSB_SMALL_KEEP(c) blocks of class c,
 * 0-based: 1024 of 16 bytes, 256 tables of 64, 64 blocks of 256). */
#define PSB_SMALL_CLASSES 16
#define PSB_SMALL_KEEP_BYTES 16384
#define PSB_SMALL_KEEP(c) (PSB_SMALL_KEEP_BYTES / (((size_t)(c) + 1) << 4))

/* Per-state bookkeeping, reachable from the state as the allocator's ud. */
typedef struct {
    void *small[PSB_SMALL_CLASSES]; /* free blocks, linked through their first word */
    unsigned short nsmall[PSB_SMALL_CLASSES];
    size_t used, cap;
    int64_t deadline_ns; /* CLOCK_MONOTONIC; checked by the count hook */
    int64_t budget_us;
    size_t work_left;  /* units before the next clock read (psb_charge) */
    size_t big;        /* bytes held in blocks of PSB_BIG_BLOCK or more */
    size_t big_mark;   /* ... above which the hook period is shortened */
    int hook_every;    /* the count hook's period now, in instructions; 0: none */
    int watched;       /* the watchdog watches this call: no count hook */
    pwt_call outer;    /* what the thread watched before (policy_watchdog.h) */
    lua_State *L;      /* the main thread */
    lua_State *run;    /* the thread psb_arm armed (the main one, or a console
                        * chunk's coroutine): where hook changes go */
    int tripped;       /* the budget fired; every instruction errors now */
    int mem_refused;   /* an allocation was refused since the last reset */
    int last_line;     /* the policy line running when memory was refused */
    const char *store; /* for print and corder.log during a call */
    void *view;        /* the order view's per-state data (policy_view.c) */
} psb_state;

/* The state's bookkeeping (the allocator's ud). */
psb_state *psb_of(lua_State *L);
/* The allocator to give lua_newstate, with s as its ud. */
void *psb_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* Frees the blocks psb_alloc kept (after lua_close, or a failed lua_newstate). */
void psb_alloc_release(psb_state *s);
/* Arms the budget for one call on thread L; psb_disarm after it. */
void psb_arm(lua_State *L, const char *store);
void psb_disarm(lua_State *L);
/* The budget for library functions written in C (policy_bounded.c,
 * policy_match.c): psb_charge counts units of work done or about to be
 * done and, every PSB_WORK_EVERY units, compares the clock with the
 * deadline; past it, it raises the hook's error ("file:line: instruction
 * budget exceeded (50 ms)", the line of the policy code that called) and
 * leaves the hook firing at every instruction, so pcall cannot swallow it.
 * psb_reserve is for one step that cannot be interrupted (a C call into
 * Lua's own library): ns is its estimated cost; if it cannot end before
 * the deadline it is refused with the same error, before it starts. */
void psb_charge_slow(lua_State *L, psb_state *s, size_t units);
void psb_reserve(lua_State *L, size_t ns);
/* Raises the budget error (with the position of the policy line). */
int psb_budget_error(lua_State *L);

#endif

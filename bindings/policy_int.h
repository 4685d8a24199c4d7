/* policy_int.h: what the files of the policy host share and nobody else
 * sees. The public side is engine/policy.h; this is the Lua side of it.
 *
 *   policy_sandbox.c  one capped, budgeted, stripped lua_State per version
 *   policy_bounded.c  the library functions that loop in C, rewritten to
 *                     charge their work to the budget (string, table, utf8...)
 *   policy_match.c    Lua patterns (find, match, gmatch, gsub), the same way
 *   policy_convert.c  jansson values <-> Lua values, both ways
 *   policy_load.c     a file -> a checked version (parameters, hooks, SHA)
 *   policy_call.c     calling a hook and checking its answer; refcounts
 *   policy_host.c     stores -> names -> current version; poll and reload
 *
 * Threading: none. The host and every version belong to the thread that
 * runs the event loop (or the CLI, or the Lua module); nothing locks. */
#ifndef CORDER_POLICY_INT_H
#define CORDER_POLICY_INT_H

#include <lua.h>
#include <stddef.h>

#include "policy.h"

#define POLICY_DEFAULT_MEMORY ((size_t)32 << 20)
#define POLICY_DEFAULT_BUDGET_US INT64_C(50000)

/* Work units a library function charges between two reads of the clock.
 * A unit is about a nanosecond of work on an ordinary machine (a byte
 * copied is a fraction of one, a table element or a pattern step a few),
 * so the clock is read about every 65 us of charged work. */
#define PSB_WORK_EVERY 65536

/* Per-state bookkeeping, reachable from the state as the allocator's ud. */
typedef struct {
    size_t used, cap;
    int64_t deadline_ns; /* CLOCK_MONOTONIC; checked by the count hook */
    int64_t budget_us;
    size_t work_left;  /* units before the next clock read (psb_charge) */
    size_t big;        /* bytes held in blocks of PSB_BIG_BLOCK or more */
    size_t big_mark;   /* ... above which the hook period is shortened */
    int hook_every;    /* the count hook's period now, in instructions */
    lua_State *L;      /* the main thread */
    lua_State *run;    /* the thread psb_arm armed (the main one, or a console
                        * chunk's coroutine): where hook changes go */
    int tripped;       /* the budget fired; every instruction errors now */
    int mem_refused;   /* an allocation was refused since the last reset */
    int last_line;     /* the policy line the count hook last saw, for memory errors */
    const char *store; /* for print and corder.log during a call */
} psb_state;

struct policy {
    int refs;
    char *name;
    char *file;         /* NULL for the built-in default */
    char version[65];   /* SHA-256 hex of the source, or "builtin" */
    char loaded_at[21]; /* 2024-05-01T10:00:00Z */
    char *source;
    size_t srclen;
    policy_limits lim;
    policy_params params;
    json_t *params_json; /* merged parameters, for info and ctx.params */
    lua_State *L;        /* NULL for the built-in default */
    int hook_ref[HOOK_COUNT];
    int hook_line[HOOK_COUNT]; /* where each hook is defined, for messages */
    bool has[HOOK_COUNT];
};

/* policy_sandbox.c */
lua_State *psb_new(const policy_limits *lim, err_t *err);
void psb_close(lua_State *L);
psb_state *psb_of(lua_State *L);
/* Arms the budget for one call; psb_disarm after it. */
void psb_arm(lua_State *L, const char *store);
void psb_disarm(lua_State *L);
/* Pushes the sandbox environment (a fresh table per state). */
void psb_push_env(lua_State *L);
/* Text-only compile of buf with the sandbox env; chunk name "@file". */
int psb_load(lua_State *L, const char *buf, size_t len, const char *file);
int64_t psb_now_ns(void);
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
static inline void psb_charge(lua_State *L, size_t units)
{
    psb_state *s = psb_of(L);
    if (units < s->work_left)
        s->work_left -= units;
    else
        psb_charge_slow(L, s, units);
}
void psb_reserve(lua_State *L, size_t ns);
/* Raises the budget error (with the position of the policy line). */
int psb_budget_error(lua_State *L);

/* policy_bounded.c: replaces, in the tables of an opened sandbox, the
 * library functions that loop in C (its header says which, and why the
 * others are left alone). */
void pbd_install(lua_State *L, int g, int str, int tab, int math, int utf8, int os);
/* policy_match.c: string.find, match, gmatch and gsub into str. */
void psm_install(lua_State *L, int str);
/* A percentage (integer, float with <= 2 decimals, or string) to basis
 * points: 0, -1 if malformed or out of 0..10000, -2 if over-precise. */
int psb_to_bp(lua_State *L, int idx, int64_t *bp);

/* policy_call.c: the ctx.now pin of policy_set_now (0: real clock). */
int64_t pcl_pinned_now(void);

/* policy_convert.c. Both raise Lua errors (run them under a pcall). */
void pcv_push_json(lua_State *L, json_t *v, int depth);
/* Pushes the JSON text as a Lua value, as pcv_push_json would push it
 * parsed; raises a Lua error on text that is not JSON. */
void pcv_push_text(lua_State *L, const char *text, size_t len);
/* Converts the value at idx; NULL and *why set on failure (no Lua error). */
json_t *pcv_to_json(lua_State *L, int idx, int depth, char *why, size_t whylen);

/* policy_load.c */
policy *pld_load(const char *name, const char *file, const char *src, size_t len,
                 const policy_limits *lim, err_t *err);
policy *pld_builtin(const policy_limits *lim);
void pld_free(policy *p);
char *pld_read_file(const char *file, size_t *len, err_t *err);
void pld_sha256_hex(const char *src, size_t len, char out[65]);
void pld_iso_now(char out[21]);
/* Formats a Lua error for err: ensures it names the file. */
void pld_lua_error(lua_State *L, int status, const char *file, const char *what, err_t *err);

#endif

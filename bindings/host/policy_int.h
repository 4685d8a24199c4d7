/* policy_int.h: what the files of the policy host share and nobody else
 * sees. The public side is engine/policy.h; this is the Lua side of it.
 *
 *   policy_budget.c   the memory cap and the time budget of a lua_State
 *   policy_sandbox.c  one capped, budgeted, stripped lua_State per version
 *   policy_bounded.c  the library functions that loop in C, rewritten to
 *                     charge their work to the budget (string, table, utf8...)
 *   policy_match.c    Lua patterns (find, match, gmatch, gsub), the same way
 *   policy_convert.c  jansson values <-> Lua values, both ways
 *   policy_view.c     the order as hooks read it, built from its structs
 *                     as far as the hook reads it
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

#include "host/policy_budget.h"
#include "host/policy_lib.h"
#include "host/policy_lua.h"
#include "model/policy.h"

#define POLICY_DEFAULT_MEMORY ((size_t)32 << 20)
#define POLICY_DEFAULT_BUDGET_US INT64_C(50000)

struct policy {
    policy_base base; /* first: the engine dispatches on it */
    int refs;
    char *name;
    char *file;         /* NULL for the built-in default */
    char version[65];   /* SHA-256 hex of the source, or "builtin" */
    char loaded_at[21]; /* 2024-05-01T10:00:00Z */
    char *source;
    size_t srclen;
    policy_limits lim;
    policy_params params;
    json_t *params_json; /* merged parameters, for info */
    int params_ref;      /* ... as a Lua table in L's registry; ctx.params reads it */
    int params_mt;       /* ctx.params's metatable, reading it (policy_load.c) */
    lua_State *L;        /* NULL for the built-in default */
    int hook_ref[HOOK_COUNT];
    int hook_line[HOOK_COUNT]; /* where each hook is defined, for messages */
    bool has[HOOK_COUNT];
};

/* policy_sandbox.c */
lua_State *psb_new(const policy_limits *lim, err_t *err);
void psb_close(lua_State *L);
/* Pushes the sandbox environment (a fresh table per state). */
void psb_push_env(lua_State *L);
/* Text-only compile of buf with the sandbox env; chunk name "@file". */
int psb_load(lua_State *L, const char *buf, size_t len, const char *file);
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

/* policy_view.c: the order a hook gets, built from the structs as far as
 * the hook reads it. pvw_install once per state (the sandbox's setup);
 * pvw_push_order pushes the view of o for the call in progress (o is read
 * until pvw_end, which every call that pushed one must reach). */
void pvw_install(lua_State *L);
void pvw_push_order(lua_State *L, const order *o);
void pvw_end(lua_State *L);

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

/* The functions of policy_lua (policy_host.c, policy_call.c). */
policy_host *lh_host_new(const char *dir, const policy_limits *lim, err_t *err);
void lh_host_free(policy_host *h);
const char *lh_host_dir(const policy_host *h);
int lh_bind(policy_host *h, const char *store, const char *name, err_t *err);
int lh_poll(policy_host *h);
int lh_reload(policy_host *h, const char *store, err_t *err);
json_t *lh_info(policy_host *h, const char *store, err_t *err);
policy *lh_acquire(policy_host *h, const char *store, err_t *err);
void lh_release(policy *p);
const policy_params *lh_params(const policy *p);
const char *lh_version(const policy *p);
const char *lh_name(const policy *p);
bool lh_has_hook(const policy *p, policy_hook hook);
int lh_call_amount(policy *p, policy_hook hook, const char *store, const char *today, int64_t now,
                   const policy_arg *args, int nargs, int64_t *out, err_t *err);
int lh_call_permits(policy *p, const char *store, const char *today, int64_t now, json_t *staff,
                    const char *permission, bool *out, err_t *err);

#endif

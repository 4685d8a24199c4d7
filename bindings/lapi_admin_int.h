/* lapi_admin_int.h: what the files of the support REPL's evaluator share
 * (see lapi_admin.h for the whole). */
#ifndef CORDER_LAPI_ADMIN_INT_H
#define CORDER_LAPI_ADMIN_INT_H

#include <lua.h>
#include <stdbool.h>

#include "lapi_admin.h"

struct admin_state {
    lua_State *L;
    engine *e;
    server *srv;    /* NULL in local mode */
    session staff;  /* corder.login; signed_in false until then */
    session reader; /* the internal read-only session, refilled per call */
    char *out;      /* what print and the results wrote, for one chunk */
    size_t out_len;
    bool out_cut;
};

/* lapi_admin_eval.c: appends to the chunk's output (cut at ADMIN_MAX_OUTPUT). */
void admin_out(admin_state *a, const char *s, size_t len);

/* lapi_admin.c: pushes the corder table, its functions bound to a. */
void admin_api_push(lua_State *L, admin_state *a);

/* lapi_admin_show.c: runs the Lua prelude in the environment on top of the
 * stack (defines show and help); 0, or a Lua error status with the message
 * on the stack. */
int admin_prelude(lua_State *L);

#endif

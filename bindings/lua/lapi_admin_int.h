/* lapi_admin_int.h: what the files of the support REPL's evaluator share
 * (see lapi_admin.h for the whole). */
#ifndef CORDER_LAPI_ADMIN_INT_H
#define CORDER_LAPI_ADMIN_INT_H

#include <lua.h>
#include <stdbool.h>

#include "lua/lapi_admin.h"

struct admin_state {
    lua_State *L;
    engine *e;
    server *srv;    /* NULL in local mode */
    session staff;  /* corder.login; signed_in false until then */
    session reader; /* the internal read-only session, refilled per call */
    char *out;      /* what print and the results wrote, for one chunk */
    size_t out_len;
    bool out_cut;
    /* The chunk runs as a coroutine so that a PIN check never runs on the
     * server's loop: a request with a PIN nobody has judged yet suspends
     * it (lua_yieldk), the server checks the PIN on its workers, fills in
     * the verdicts and resumes it (admin_resume). */
    lua_State *co;
    struct {
        bool waiting;   /* the chunk is suspended on these PINs */
        bool login;     /* the request is corder.login's */
        session *s;     /* the session it runs under */
        session temp;   /* corder.login's, until it succeeds */
        dispatch_req r; /* the request, with the PINs to judge */
    } pending;
};

/* lapi_admin.c: whether the chunk yielded for PINs (sets nothing else). */
bool admin_suspended(admin_state *a);

/* lapi_admin_eval.c: appends to the chunk's output (cut at ADMIN_MAX_OUTPUT). */
void admin_out(admin_state *a, const char *s, size_t len);

/* lapi_admin.c: pushes the corder table, its functions bound to a. */
void admin_api_push(lua_State *L, admin_state *a);

/* lapi_admin_show.c: runs the Lua prelude in the environment on top of the
 * stack (defines show and help); 0, or a Lua error status with the message
 * on the stack. */
int admin_prelude(lua_State *L);

#endif

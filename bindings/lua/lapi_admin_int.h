/* lapi_admin_int.h: what the files of the support REPL's evaluator share
 * (see lapi_admin.h for the whole). */
#ifndef CORDER_LAPI_ADMIN_INT_H
#define CORDER_LAPI_ADMIN_INT_H

#include <lua.h>
#include <pthread.h>
#include <stdbool.h>

#include "lua/lapi_admin.h"

struct admin_state {
    lua_State *L;
    engine *e;            /* local mode only: attached, the engine is the loop's */
    server *srv;          /* NULL in local mode */
    void *token;          /* attached: the connection, for server_console_* */
    session staff;        /* corder.login; signed_in false until then */
    session temp;         /* corder.login's, until it succeeds */
    session reader;       /* the internal read-only session, refilled per call */
    char first_store[32]; /* the reader's store when none is named */
    char db_path[4096];   /* for corder.backup */
    char *out;            /* what print and the results wrote, for one chunk */
    size_t out_len;
    bool out_cut;
    /* Attached: the thread the chunks run on (lapi_admin_eval.c), and the
     * one chunk handed to it. */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *chunk;
    size_t chunk_len;
    bool quit;
};

/* lapi_admin.c: runs req (taken over) under session s: in-process in local
 * mode, through the server's loop when attached (the thread waits; the
 * time waited is not the chunk's). Returns the response object. */
json_t *admin_request(lua_State *L, admin_state *a, session *s, json_t *req);

/* lapi_admin_eval.c: appends to the chunk's output (cut at ADMIN_MAX_OUTPUT). */
void admin_out(admin_state *a, const char *s, size_t len);

/* lapi_admin.c: pushes the corder table, its functions bound to a. */
void admin_api_push(lua_State *L, admin_state *a);

/* lapi_admin_show.c: runs the Lua prelude in the environment on top of the
 * stack (defines show and help); 0, or a Lua error status with the message
 * on the stack. */
int admin_prelude(lua_State *L);

#endif

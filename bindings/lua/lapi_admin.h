/* lapi_admin.h: the support REPL's evaluator (SPEC A3, PROTOCOL.md "The
 * support REPL"), seen from C. No lua.h here on purpose: engine/server_main.c
 * installs admin_hooks() into the server, and engine/ never sees Lua.
 *
 * An admin_state is one console session: a sandboxed Lua state (memory cap,
 * instruction budget, no io/os.exit/require) whose globals hold the support
 * API `corder`, help() and show(), plus the staff session of corder.login.
 * Inside `corder serve` there is one per admin-socket connection, on a
 * thread of its own: its requests go to the server's loop like any
 * client's (the thread waits), so a chunk never holds up the tills; `corder
 * repl --db` makes one over its own engine, in-process.
 *
 *   lapi_admin.c       the corder.* functions: each is one dispatch request
 *   lapi_admin_eval.c  the state, evaluating a chunk, capturing print
 *   lapi_admin_show.c  the Lua side: show (readable values), help */
#ifndef CORDER_LAPI_ADMIN_H
#define CORDER_LAPI_ADMIN_H

#include <jansson.h>
#include <stddef.h>

#include "store/engine.h"
#include "model/err.h"
#include "net/server.h"

#define ADMIN_BUDGET_MS 2000            /* a runaway chunk is stopped after this */
#define ADMIN_MEMORY ((size_t)64 << 20) /* per console session */
#define ADMIN_MAX_OUTPUT (256 * 1024)   /* more is cut, with a note */

typedef struct admin_state admin_state;

/* srv is NULL in local mode (corder.stats() then has no server part). */
admin_state *admin_new(engine *e, server *srv, err_t *err);
void admin_free(admin_state *a);

/* Runs one chunk as lua.c 5.4 does: "return " .. chunk first, so that an
 * expression prints its value, else the chunk itself. Returns
 * {"output": text} or {"output": text, "error": message}; what the chunk
 * printed comes first in output, then its results, rendered by show(). */
json_t *admin_eval(admin_state *a, const char *chunk, size_t len);

/* 1 when the chunk is an unfinished statement (more lines would complete it:
 * its syntax error is at "<eof>", as lua.c's incomplete()), else 0. Needs no
 * state: the client of an attached REPL asks before sending. */
int admin_incomplete(const char *chunk, size_t len);

/* The evaluator for server_set_admin: one admin_state per admin-socket
 * connection, its chunks run by a thread of its own (SPEC OP5). */
const server_admin_hooks *admin_hooks(void);

#endif

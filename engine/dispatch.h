/* dispatch.h: one request in, one response out. Parses and validates the
 * request at the edge, checks the session, runs the op inside its own
 * SAVEPOINT (so a failed request rolls back alone, leaving the store, the
 * transaction log and the numbering as they were), and builds the response
 * object of PROTOCOL.md. Knows nothing of sockets: the server, the Lua
 * module and the fuzzers all come through here. */
#ifndef CORDER_DISPATCH_H
#define CORDER_DISPATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine.h"

#define DISPATCH_MAX_LINE (1024 * 1024)

/* Parses one request line (without its '\n') and runs it. Always returns a
 * response object ({"id","ok",...}); never NULL. When *is_write is set, the
 * request changed the database and its answer may only be released after the
 * outer transaction commits. */
json_t *dispatch_line(engine *e, session *s, const char *line, size_t len, bool *is_write);

/* The same, answered as text (the response line without its '\n',
 * malloc'd; NULL only when out of memory): what the server sends. Results
 * that flows write as text are copied in without being parsed. *id gets a
 * reference to the request's id (or NULL), for answering it otherwise. */
char *dispatch_line_text(engine *e, session *s, const char *line, size_t len, bool *is_write,
                         size_t *out_len, json_t **id);

/* Runs an already parsed request object. */
json_t *dispatch_request(engine *e, session *s, json_t *req, bool *is_write);

/* Builds an error response. */
json_t *dispatch_error(json_t *id, const err_t *err);

/* Whether an op changes the database (decides group-commit handling). */
bool dispatch_op_writes(const char *op);

/* Per-op counters for stats (support REPL). */
json_t *dispatch_stats(void);

/* Extension point: ops registered by other modules (sync, hq, admin).
 * The handler gets validated args and fills *result or err. */
typedef int (*dispatch_fn)(engine *e, session *s, json_t *args, json_t **result, err_t *err);
void dispatch_register(const char *op, dispatch_fn fn, bool writes, bool needs_session);

#endif

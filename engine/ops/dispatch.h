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

#include "flows/flow.h"
#include "store/auth.h"
#include "store/engine.h"

#define DISPATCH_MAX_LINE (1024 * 1024)

/* Parses one request line (without its '\n') and runs it; the answer is
 * the response line without its '\n' (malloc'd; NULL only when out of
 * memory): what the server sends. When *is_write is set, the request
 * changed the database and its answer may only be released after the
 * outer transaction commits. Results
 * that flows write as text are copied in without being parsed. *id gets a
 * reference to the request's id (or NULL), for answering it otherwise. */
char *dispatch_line_text(engine *e, session *s, const char *line, size_t len, bool *is_write,
                         size_t *out_len, json_t **id);

/* Runs a request given as a value, answered as a value (the text answer
 * read back): for callers inside the process. */
json_t *dispatch_request(engine *e, session *s, json_t *req, bool *is_write);

/* One request, parsed once where it enters (the server reads a line into
 * it, hands it to the PIN workers, the admin console, the sync gate and
 * then dispatch, and none of them parses the line again). */
#define DISPATCH_MAX_PINS 8
typedef struct {
    json_t *root;      /* the parsed line (owned); NULL when it was not JSON */
    json_t *id;        /* borrowed from root; NULL: none or unusable */
    const char *op;    /* the op's name, once read */
    const void *entry; /* the op's table entry, when known */
    json_t *args;      /* borrowed from root, or own_args */
    json_t *own_args;  /* the empty object of a request without args */
    /* args as the line spells them (owned), when the log may keep that text
     * as it is: no escape and no "pin" in it (dispatch_parse); else NULL */
    char *args_text;
    size_t args_len;
    err_t err; /* why the envelope is refused (bad_request, unknown_op) */
    int npins; /* the PINs the op needs checked (dispatch_req_pins) */
    auth_pin pins[DISPATCH_MAX_PINS];
    flow_prepared *prepared; /* a create prepared by the sync gate (dispatch_prepare) */
    flow_hq_answer hq;       /* HQ's verdict on it, set by the gate before it runs */
    /* The answer a gate found elsewhere (C5: the read-only copy of an
     * order from HQ): dispatch answers it as the op's result (owned). */
    json_t *answer;
} dispatch_req;

/* Parses a line (or takes a value) and checks the envelope: a JSON object,
 * a known op, args of the op's shape. -1 with r->err set when refused;
 * dispatch_run then answers that error. Free with dispatch_req_free. */
int dispatch_parse(dispatch_req *r, const char *line, size_t len);
int dispatch_parse_value(dispatch_req *r, json_t *req);
void dispatch_req_free(dispatch_req *r);
bool dispatch_req_is(const dispatch_req *r, const char *op);
bool dispatch_req_writes(const dispatch_req *r);

/* Collects the PINs the request's op needs, into r->pins: the one of
 * session.login, and one per approval the op's args name (args.approval,
 * args.X.approval); none when the op needs a session and s has none, and
 * none of a shape the op would refuse (too long, not strings). Nothing
 * else in a request is ever hashed. Returns r->npins. */
int dispatch_req_pins(dispatch_req *r, const session *s);

/* S1 in two steps (flows/flow.h): for an order.create the sync gate holds,
 * runs the create's prepare step now, with the request's PIN verdicts, and
 * keeps the decided order in r; *doc (owned) is what HQ is sent. The gate
 * then sets r->hq, and dispatch_run runs the commit step instead of the
 * flow. -1 when the request is not a signed-in create or the create is
 * refused: r then answers that error when run, without running the flow
 * again. */
int dispatch_prepare(engine *e, session *s, dispatch_req *r, json_t **doc);

/* Runs a parsed request, with the verdicts in r->pins (auth_use_verdicts):
 * the answer as a value, or as text (what the server sends). */
json_t *dispatch_run(engine *e, session *s, dispatch_req *r, bool *is_write);
char *dispatch_run_text(engine *e, session *s, dispatch_req *r, bool *is_write, size_t *out_len);

/* Builds an error response. */
json_t *dispatch_error(json_t *id, const err_t *err);

/* Whether an op changes the database (decides group-commit handling). */
bool dispatch_op_writes(const char *op);

/* Per-op counters for stats (support REPL). */
json_t *dispatch_stats(void);

/* Per-op metrics for the Prometheus page (net/http_metrics.c): answers by
 * error code (ERR_NONE is "ok") and a latency histogram, counted in
 * run_request around the op itself (the envelope check, the op, its
 * savepoint; not the wait for the group commit, which the server counts).
 * Requests refused before an op was known count under DISPATCH_NO_OP. */
#define DISPATCH_NO_OP "(none)"
#define DISPATCH_CODES (ERR_INTERNAL + 1)
#define DISPATCH_LAT_BUCKETS 12
extern const double dispatch_lat_bounds[DISPATCH_LAT_BUCKETS]; /* seconds, ascending */
typedef struct {
    uint64_t by_code[DISPATCH_CODES];
    uint64_t lat[DISPATCH_LAT_BUCKETS + 1]; /* per bucket (not cumulative); last: +Inf */
    double lat_sum;                         /* seconds */
    uint64_t count;
} dispatch_op_metrics;
/* Calls fn for each op that has answered at least once. */
void dispatch_metrics_each(void (*fn)(void *arg, const char *op, const dispatch_op_metrics *m),
                           void *arg);

/* Extension point: ops registered by other modules (sync, hq, admin).
 * The handler gets validated args and fills *result or err. */
typedef int (*dispatch_fn)(engine *e, session *s, json_t *args, json_t **result, err_t *err);
/* schema_text: the op's arguments, nested shapes included, in the grammar
 * of model/schema.h (the same check and messages as the built-in ops).
 * -1 when the table is full or the schema is missing or does not compile:
 * the caller fails its start-up. */
int dispatch_register(const char *op, dispatch_fn fn, bool writes, bool needs_session,
                      const char *schema_text);

#endif

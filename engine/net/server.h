/* server.h: the TCP front of the engine (PROTOCOL.md "Framing"). One
 * libevent loop owns the engine; requests from every connection are
 * dispatched on it and share group commits (the essay is in server.c).
 * Knows nothing of the flows: every request goes through dispatch_line. */
#ifndef CORDER_SERVER_H
#define CORDER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "ops/dispatch.h"
#include "store/engine.h"
#include "model/err.h"

typedef struct server server;

typedef struct {
    const char *listen;       /* HOST:PORT; port 0 picks a free one */
    const char *admin_socket; /* unix socket path, or NULL */
    int batch_max;            /* requests per commit; 0 = 512 */
    int batch_usec;           /* oldest request's wait before a forced commit; 0 = 2000 */
    int auth_threads;         /* PIN verification workers; 0 = 2 */
    size_t out_high;          /* stop reading a client above this much unsent output; 0 = 4 MiB */
    int sync_interval;        /* seconds between "hq.synchronize" runs (hq role); 0 = never */
    int hq_role;
    /* strangers (SPEC A6, hardening): 0 picks the default */
    int max_connections;  /* TCP connections at once; 0 = 4096 (and below the fd limit) */
    int auth_timeout;     /* seconds a connection may stay unauthenticated; 0 = 60, -1 never */
    int idle_timeout;     /* seconds a connection may stay silent; 0 = 3600, -1 never */
    size_t unauth_in_max; /* input all unauthenticated connections may buffer; 0 = 32 MiB */
    /* SPEC C3: TCP connections speak TLS with this context (net/tls.h;
     * the caller owns it); a plain client fails the handshake and is
     * closed. NULL: plain TCP. The admin socket is never TLS. */
    struct ssl_ctx_st *tls;
} server_config;

/* Binds the listener (and the admin socket) and prints the listening line. */
server *server_new(engine *e, const server_config *cfg, err_t *err);
/* Runs until SIGINT/SIGTERM, then drains: answers what was received, commits,
 * flushes. Returns 0, or -1 with err set when the loop failed. */
int server_run(server *s, err_t *err);
/* Closes every connection; the engine stays open (the caller closes it). */
void server_free(server *s);

/* The port actually bound (after port 0). */
int server_port(const server *s);

/* Gates (the sync module): fn sees every request of a connection, parsed,
 * once its PINs are verified. Returning true means it took the request:
 * the connection reads no further lines until server_gate_release(w),
 * which runs the request as if it had just arrived (with its PIN verdicts)
 * and resumes the connection. fn must not release from inside itself. */
typedef struct server_wait server_wait;
typedef bool (*server_gate_fn)(void *arg, server_wait *w, session *sess, const dispatch_req *req);
void server_set_gate(server *s, server_gate_fn fn, void *arg);
void server_gate_release(server_wait *w);
/* A sign-in a gate judged by another door than a PIN (HQ's store token):
 * a wrong one counts toward the slow-down of the connection's address,
 * exactly as a wrong PIN does, and the answer is how long to hold it (µs;
 * 0: at once); a right one starts the address over. */
int64_t server_wait_signin(server_wait *w, bool ok);

/* The loop, for modules with their own events (the HQ uplink). */
struct event_base *server_base(server *s);

/* Runs fn in the server's open transaction (opening one), in a savepoint of
 * its own; it commits with the current batch. For writes that come from the
 * loop rather than from a request (the uploader's bookkeeping). */
int server_write(server *s, int (*fn)(engine *e, void *arg, err_t *err), void *arg, err_t *err);

/* The support REPL's door (PROTOCOL.md "The support REPL"): the same
 * protocol on a unix socket created with mode 0600. */
int server_admin_listen(server *s, const char *path, err_t *err);

/* The support REPL's evaluator, installed by the bindings (engine/ never sees
 * Lua). Only admin-socket connections may call the op "admin.eval"
 *   {"id":1,"op":"admin.eval","args":{"lua":"return 1 + 1"}}
 *   -> {"id":1,"ok":true,"result":{"output":"2"}}
 *   -> {"id":1,"ok":true,"result":{"output":"","error":"stdin:1: ..."}}
 * a Lua error being a result, not a failed request. Each connection gets its
 * own evaluator state (open on its first chunk, close when it goes). A chunk
 * runs on the loop with no batch open, so what it changes commits before its
 * answer, as for any request; on TCP "admin.eval" is an unknown op. */
typedef struct {
    void *(*open)(server *s, engine *e, err_t *err);
    /* {output, error?}; NULL: the chunk waits for PIN checks */
    json_t *(*eval)(void *state, const char *chunk, size_t len);
    /* The PINs a waiting chunk needs judged (the server fills in each
     * verdict off its loop), then resume: as eval. */
    int (*pending)(void *state, auth_pin **pins);
    json_t *(*resume)(void *state);
    void (*close)(void *state);
} server_admin_hooks;
void server_set_admin(server *s, const server_admin_hooks *hooks);

/* Counters for corder.stats(): connections, commit batch sizes, what is
 * queued (answers held for a commit, PIN checks, unsent bytes). */
json_t *server_stats(const server *s);

#endif

/* server.h: the TCP front of the engine (PROTOCOL.md "Framing"). One
 * libevent loop owns the engine; requests from every connection are
 * dispatched on it and share group commits (the essay is in server.c).
 * Knows nothing of the flows: every request goes through dispatch_line. */
#ifndef CORDER_SERVER_H
#define CORDER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/dispatch.h"
#include "store/engine.h"
#include "model/err.h"

typedef struct server server;

/* corder serve's --commit-delay-us when not given (see server.c,
 * open_batch_commit). */
#define SERVER_COMMIT_DELAY_DEFAULT 0

typedef struct {
    const char *listen;       /* HOST:PORT; port 0 picks a free one */
    const char *admin_socket; /* unix socket path, or NULL */
    int batch_max;            /* requests per commit; 0 = 512 */
    int batch_usec;           /* oldest request's wait before a forced commit; 0 = 10000 */
    int commit_delay_usec;    /* a batch's wait for more requests before its COMMIT; 0 = none */
    int pipeline;             /* 1: a batch's fsync runs while the next batch does (walsync.c) */
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
typedef bool (*server_gate_fn)(void *arg, server_wait *w, session *sess, dispatch_req *req);
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
 * a Lua error being a result, not a failed request; on TCP "admin.eval" is
 * an unknown op. Each connection gets its own evaluator (open on its first
 * chunk, close when the connection goes), which runs its chunks on a thread
 * of its own, never on the loop (SPEC OP5):
 *   open   called on the loop; token names the connection in the calls below
 *   eval   hands the chunk over and returns; the evaluator's thread runs it
 *          and ends with server_console_done (one chunk at a time: the
 *          connection reads nothing more until then)
 *   close  called on the loop when the connection goes, maybe while a chunk
 *          runs: the evaluator ends its thread after the chunk and calls
 *          server_console_gone as the thread's last act. */
typedef struct {
    void *(*open)(server *s, engine *e, void *token, err_t *err);
    void (*eval)(void *state, const char *chunk, size_t len);
    void (*close)(void *state);
} server_admin_hooks;
void server_set_admin(server *s, const server_admin_hooks *hooks);

/* A request from inside the process rather than from a socket (the HTTP
 * page): it takes exactly the path of a line from a connection at peer
 * (its address's slow-down and its PINs on the worker threads, the gate,
 * the open batch, the answer held until the commit), and its one answer
 * (the response line as text; NULL when out of memory) goes to done with
 * the session as the request left it (session.login fills it in). -1
 * when the server is stopping (nothing was started). */
typedef void (*server_done_fn)(void *arg, const char *text, size_t len, const session *sess);
struct sockaddr;
int server_submit(server *s, const struct sockaddr *peer, const session *sess, json_t *req,
                  server_done_fn done, void *arg);

/* Counters for the metrics page (Prometheus histograms: per bucket, not
 * cumulative; the last bucket is +Inf). */
#define SERVER_COMMIT_BUCKETS 10
#define SERVER_BATCH_BUCKETS 10
extern const double server_commit_bounds[SERVER_COMMIT_BUCKETS]; /* seconds */
extern const int server_batch_bounds[SERVER_BATCH_BUCKETS];      /* requests */
typedef struct {
    uint64_t commits, commit_failures;
    uint64_t commit_hist[SERVER_COMMIT_BUCKETS + 1];
    double commit_seconds;
    uint64_t batches, batch_sum;
    uint64_t batch_hist[SERVER_BATCH_BUCKETS + 1];
    int open_connections, admin_connections; /* now */
    uint64_t accepted, refused, evicted, timed_out, slowed;
    int pin_checks, held;   /* now: PINs being verified, answers waiting for a commit */
    uint64_t sender_writes; /* connections' answers written by the sender thread (net/sender.c) */
} server_metrics;
void server_get_metrics(const server *s, server_metrics *out);

/* For console threads (any thread but the loop's); each blocks until the
 * loop has answered. server_console_call runs req (taken over) under sess
 * as a request of the console's connection: its PINs judged on the
 * workers, dispatched after the open batch is committed, so a write is
 * durable when it returns; a sign-in fills in *sess. Returns the response
 * ({"ok":…}); once the server is stopping, an `internal` one.
 * server_console_exec runs fn on the loop (false: it did not run). */
json_t *server_console_call(server *s, void *token, session *sess, json_t *req);
bool server_console_exec(server *s, void (*fn)(server *s, engine *e, void *arg), void *arg);
/* A chunk's end: its result ({output, error?}, taken over) for admin.eval. */
void server_console_done(server *s, void *token, json_t *result);
/* A console thread's last act; server_free waits for every one. */
void server_console_gone(server *s);

/* Counters for corder.stats(): connections, commit batch sizes, what is
 * queued (answers held for a commit, PIN checks, unsent bytes). */
json_t *server_stats(const server *s);

#endif

/* server.c: the TCP server: framing, group commit, PIN checks off the loop.
 *
 * ONE WRITER, MANY REQUESTS PER COMMIT
 *
 * Everything runs on one libevent loop that owns the engine and its single
 * SQLite connection. A mutating request may only be answered once it is
 * durable (WAL, synchronous=FULL: its frames fdatasynced), and one fsync
 * per request would cap the server at a few thousand writes a second. So
 * the server batches, the way Tarantool's WAL writer and every group-commit
 * database does:
 *
 *   1. The first request of a batch opens the outer transaction
 *      (engine_begin). Every request, read or write, from any connection,
 *      is dispatched as soon as its line is read; dispatch runs it in its
 *      own SAVEPOINT, so a failed request rolls back alone.
 *   2. Its response is not written yet: it goes to the batch's pending list,
 *      in dispatch order. Reads are held too, because a read pipelined after
 *      a write on the same connection must not overtake the write's answer.
 *   3. Opening a batch makes the commit event active. libevent runs active
 *      events of one priority in activation order, and the read events of
 *      this loop turn were all activated (by epoll) before it, so the commit
 *      runs after every connection that was readable in this turn has been
 *      read. Requests that arrive together therefore share one COMMIT.
 *      While an fsync runs, new requests pile up in the socket buffers and
 *      make up the next, larger batch: batching adapts to load by itself.
 *   4. The commit event calls engine_commit once and then releases every held
 *      response to its connection. If the COMMIT fails, nothing of the batch
 *      is kept: each held write, and each read that came after a write of the
 *      batch (it may have seen that write), is answered `internal` instead.
 *   5. A batch is also committed at once when it reaches batch_max requests
 *      or its oldest request has waited batch_usec (a long loop turn must not
 *      hold early answers hostage).
 *   6. Pipelined (cfg.pipeline, the default): the COMMIT only writes the
 *      WAL, and its fdatasync runs on the engine's sync thread
 *      (store/walsync.c) while this loop runs the next batch. The committed
 *      batch's answers wait in a queue (synced_wait) until a sync covering
 *      its commit returns (synced_cb, made active from that thread), and are
 *      released in commit order. While a sync is out, the open batch is not
 *      committed at the end of a turn but when the sync returns, so that
 *      batches stay as big as the sync is long. A failed sync fails what
 *      waits on it and stops the server (release_durable).
 *
 * Order per connection: lines are taken from a connection's input in order
 * and its answers are released in order. Each line is parsed once into a
 * request (dispatch_req). A request whose op needs PINs (session.login's,
 * one per approval) that are not cached stops its connection taking lines
 * until worker threads have verified them (crypto_pwhash is slow by
 * design, ~0.1 s); meanwhile the other connections are served. Each
 * verdict is recorded once (auth_remember: a success cached, a failure
 * counted toward the lockout) and travels with the request into dispatch,
 * which never hashes on the loop (auth_set_offloop). A request with a
 * wrong, unknown or locked id is then held on a timer by the slow-down of
 * its source address (addr_fail) before it runs.
 *
 * Back-pressure: a connection with more than out_high bytes of unsent
 * answers is not read (and its buffered lines not dispatched) until its
 * output has drained. The input side is bounded by the read high-water mark,
 * just over the 1 MiB line cap.
 *
 * Few system calls per request: on this kind of machine (a virtual one)
 * each system call costs about as much as running a small request, and the
 * loop is the one thread that does both. A plain (not TLS) connection is
 * therefore not driven by its bufferevent, which would read through an
 * ioctl(FIONREAD) and a readv of at most 4 KiB, and for every batch add the
 * socket to epoll for writing, wait, writev and remove it again. Its reads
 * are one recv of up to 64 KiB into a buffer of the loop (conn_sock_read_cb,
 * an event of our own that stays in epoll while the connection may read),
 * and after a COMMIT the answers of the batch go out with one writev per
 * connection straight away (conn_flush); only a rest the kernel would not
 * take is left to the bufferevent, which then waits for the socket as
 * before. TLS connections keep the bufferevent for both sides (OpenSSL
 * owns their bytes).
 *
 * Many tills, one thread for their answers: a release that reaches
 * SERVER_SENDER_MIN_CONNS connections or more (1,000 tills with one
 * request each make batches of some 200) hands those writevs to the sender
 * thread (net/sender.c) and goes on with the next batch; at 1,000
 * connections they were a fifth of the loop's time. A connection has at
 * most one job out, and answers released meanwhile wait behind it (its
 * rest, if the socket was full, goes back in front of them: sent_cb). Its
 * socket is closed by conn_close, or by sent_cb when the connection closed
 * while its job was out, so the thread never writes to a descriptor the
 * kernel has given to someone else. A release to fewer connections (32
 * tills) is written here as before: waking a thread for a few writes cost
 * more than they do (a run at 32 x 2 with every release handed over was 5
 * to 14 % slower).
 *
 * Shutdown (SIGINT/SIGTERM): stop accepting and reading, let PIN checks in
 * flight finish and their requests run, commit, flush every answer (bounded
 * by a deadline for clients that do not read), then return to the caller,
 * which closes the engine.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <malloc.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "store/auth.h"
#include "ops/dispatch.h"
#include "model/jsonw.h"
#include "net/sender.h"
#include "net/server.h"
#include "model/text.h"

#define SERVER_DRAIN_S 5                   /* how long shutdown waits for slow readers */
#define SERVER_UNAUTH_OUT_HIGH (64u << 10) /* unsent answers a stranger may hold */
/* Connections open at least, for a commit to wait for more requests (a
 * till alone would only wait). */
#define SERVER_DELAY_MIN_CONNS 4
/* Connections with answers in one release, at least, for their writes to
 * go to the sender thread (net/sender.c); fewer are written by the loop
 * itself, sooner than a thread could be woken for them. */
#define SERVER_SENDER_MIN_CONNS 64
/* Callbacks run before the loop looks for newly readable connections
 * (server_new). */
#define SERVER_MAX_CALLBACKS 128
/* One recv takes up to this much: a whole burst of pipelined lines from
 * a till, or a chunk of a long line, in one system call. */
#define SERVER_READ_CHUNK (64u << 10)
/* A connection's unparsed input stops being read above this: just over the
 * line cap, so that a line too long is seen as such. */
#define SERVER_READ_HIGH (DISPATCH_MAX_LINE + 4096)

typedef struct conn conn;

/* A response held until the batch that produced it commits: the answer
 * line as it will be sent, and the request's id (to answer it otherwise if
 * the commit fails). conn NULL: an internal request (the sync timer); its
 * answer is only logged. */
typedef struct held {
    struct held *next;
    conn *c;
    char *text; /* NULL only when out of memory */
    size_t len;
    json_t *id;
    bool is_write;
} held;

struct conn {
    server *srv;
    struct bufferevent *bev;
    conn *prev, *next;
    session sess;
    int refs;    /* the connection list, each held answer, a PIN wait */
    int held;    /* answers of this connection in the open batch */
    int waiting; /* PIN checks (or a slow-down) outstanding for wait_req */
    dispatch_req *wait_req;
    bool wait_bad;                    /* one of wait_req's PINs was wrong, unknown or locked */
    bool admin_wait;                  /* a console request waits for its PIN checks */
    json_t *admin_id;                 /* the id of the admin.eval request it answers */
    bool console_busy;                /* a chunk runs on its console thread */
    struct console_msg *console_call; /* the console request waiting for PINs */
    bool dead;                        /* socket closed; the struct lives until refs drop */
    bool eof;                         /* the peer sent everything it will send */
    bool closing;                     /* close once the answers are out (line too long) */
    bool paused;                      /* too much unsent output: not reading */
    /* A plain socket (not TLS): read by rev, answers written by conn_flush
     * (see "Few system calls per request"). */
    bool plain;
    bool reading;      /* plain: rev is in epoll */
    bool wpending;     /* plain: the bufferevent waits to write the rest */
    bool flush_queued; /* plain: in srv->flushq, answers to write */
    conn *flush_next;  /* the next in srv->flushq */
    struct event *rev; /* plain: readable */
    /* plain: its answers on their way with the sender thread (at most one
     * job at a time, so they leave in order); its socket stays open until
     * the job is back, even if the connection closes meanwhile */
    sender_job job;
    size_t sending_len;     /* bytes handed over in job; 0: no job out */
    dispatch_req *gate_req; /* the request a gate holds (server_gate_release runs it) */
    bool admin;             /* came through the admin socket: may call admin.eval */
    /* the support REPL's evaluator state (its thread), opened on the first
     * admin.eval */
    void *admin_state;
    struct event *delay_ev; /* a slow-down after wrong PINs (A6) */
    int addr;               /* slot in srv->addrs, -1: none (admin socket) */
    unsigned char addr_key[16];
    int64_t accepted_us, last_read_us;
    size_t in_counted; /* this connection's input counted in srv->unauth_in */
    size_t in_peak;    /* the most it buffered: memory to give back when it goes */
    /* A request from inside the process (server_submit: the HTTP page):
     * no socket; its one answer goes to done. */
    server_done_fn done;
    void *done_arg;
};

/* One PIN to verify on a worker thread. */
typedef struct auth_job {
    struct auth_job *next;
    conn *c;
    auth_pin *slot; /* where the verdict goes (the waiting request's, or the console's) */
    char staff[AUTH_STAFF_MAX + 1];
    char pin[AUTH_PIN_MAX + 1];
    char hash[AUTH_HASH_LEN];
    bool ok;
} auth_job;

/* Wrong PINs per source address, for the slow-down of SPEC A6. Only a
 * slow-down: the lockout itself is exact per staff id (auth.c), so losing
 * an entry here to a flood of other addresses costs an attacker nothing
 * he could use. 4-way sets, the stalest entry replaced. */
#define ADDR_SETS 256
#define ADDR_WAYS 4
#define ADDR_FREE_FAILURES 3      /* wrong PINs an address may make at full speed */
#define ADDR_DELAY_BASE_US 100000 /* then 0.1 s, doubling per failure ... */
#define ADDR_DELAY_MAX_US 2000000 /* ... never more than 2 s for one answer */
#define ADDR_FORGET_US (300 * 1000000LL)
#define ADDR_MAX_INFLIGHT 8 /* PIN checks queued at once per address */
typedef struct {
    unsigned char key[16];
    bool used;
    int failures, inflight;
    int64_t last_us;
} addr_slot;

struct server {
    engine *e;
    server_config cfg;
    struct event_base *base;
    struct evconnlistener *lis, *admin_lis;
    struct event *commit_ev, *done_ev, *poll_ev, *sync_ev, *sigint_ev, *sigterm_ev, *drain_ev,
        *accept_ev;
    char *admin_path;
    dev_t admin_dev; /* the socket we bound, so that we unlink only it */
    ino_t admin_ino;
    conn *conns;
    conn *flushq; /* plain connections with answers released, not yet written */
    sender *snd;  /* writes released answers off the loop (NULL: the loop writes them) */
    int port;
    char addr[INET6_ADDRSTRLEN + 16];

    /* the open batch */
    held *head, *tail;
    int batch_n;
    int64_t batch_t0;
    /* committed batches whose WAL sync has not returned (pipelined), oldest first */
    struct synced_wait *wait_head, *wait_tail;
    struct event *synced_ev; /* made active by the sync thread after each sync */
    int sync_held;           /* answers in those batches */
    bool sync_failed;        /* the WAL could not be synced: stopping, exit non-zero */

    /* PIN verification pool */
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    auth_job *todo, *todo_tail, *done; /* todo is FIFO: first come, first checked */
    bool quit;
    int jobs_out;
    addr_slot addrs[ADDR_SETS * ADDR_WAYS];

    /* what strangers may hold (item: bounded unauthenticated connections) */
    size_t unauth_in; /* input bytes buffered by connections not signed in */
    int tcp_open;     /* TCP connections (the admin socket not counted) */
    struct event *sweep_ev;
    size_t freed_since_trim;
    char rbuf[SERVER_READ_CHUNK]; /* every plain connection's recv lands here first */

    bool stopping;
    bool batch_lost; /* SQLite rolled the open batch back (batch_check_lost) */
    int64_t stop_deadline;
    bool sync_unknown;
    server_gate_fn gate; /* the sync module's (sync_gate.c); NULL: none */
    void *gate_arg;

    server_admin_hooks admin; /* the support REPL (bindings); zeroed: none */
    /* console threads' requests to the loop (see "the support REPL") */
    pthread_mutex_t cmu;
    pthread_cond_t ccv;
    struct console_msg *cq_head, *cq_tail;
    struct event *console_ev;
    bool console_closed; /* the loop is gone: requests are refused at once */
    int consoles;        /* console threads alive */
    struct {
        uint64_t accepted, admin_accepted, batches, batched, batch_max, refused, timed_out, evicted,
            slowed;
        uint64_t batch_hist[5]; /* sizes 1, 2-8, 9-64, 65-256, more */
        int open;
        int submitted; /* server_submit requests not answered yet */
        server_metrics m;
    } st;
};

static void conn_pump(conn *c);
static void conn_maybe_close(conn *c);
static bool admin_req(conn *c, dispatch_req *r);
static void console_judged(conn *c);
static void console_abandon(server *s, conn *c);
static void console_cb(evutil_socket_t fd, short what, void *arg);
static void console_shutdown(server *s);
static void stats_batch(server *s, int n);

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static json_t *error_response(json_t *id, const char *code, const char *message)
{
    return json_pack("{s:O?,s:b,s:{s:s,s:s,s:{}}}", "id", id, "ok", 0, "error", "code", code,
                     "message", message, "details");
}

/* ---- connections ---- */

static void req_free(dispatch_req *r)
{
    if (!r) return;
    dispatch_req_free(r);
    free(r);
}

static void conn_unref(conn *c)
{
    if (--c->refs > 0) return;
    req_free(c->wait_req);
    req_free(c->gate_req);
    json_decref(c->admin_id);
    if (c->delay_ev) event_free(c->delay_ev);
    if (c->rev) event_free(c->rev);
    if (c->job.buf) evbuffer_free(c->job.buf);
    sodium_memzero(&c->sess, sizeof c->sess);
    free(c);
}

/* Signed in (staff, an HQ peer) or on the owner-only admin socket. */
static bool conn_authed(const conn *c)
{
    return c->admin || c->sess.signed_in || c->sess.hq_peer;
}

/* Keeps srv->unauth_in, the input buffered by connections that are not
 * signed in, up to date for this connection. */
static void conn_account(conn *c)
{
    server *s = c->srv;
    if (c->done) return;
    size_t n = c->dead || conn_authed(c) ? 0 : evbuffer_get_length(bufferevent_get_input(c->bev));
    s->unauth_in = s->unauth_in - c->in_counted + n;
    c->in_counted = n;
    if (n > c->in_peak) c->in_peak = n;
}

/* At shutdown a client may have sent lines we will not read; closing a
 * socket with unread input makes the kernel send RST, which can destroy
 * answers still in flight to the client. Reading them away first gives it
 * a clean end of stream after its last answer. */
static void conn_discard_input(conn *c)
{
    char buf[16384];
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    for (int i = 0; i < 64 && fd >= 0; i++)
        if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) break;
}

static void conn_close(conn *c)
{
    if (c->dead) return;
    c->dead = true;
    server *s = c->srv;
    if (s->stopping) conn_discard_input(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->st.open--;
    if (!c->admin) s->tcp_open--;
    s->unauth_in -= c->in_counted;
    c->in_counted = 0;
    s->freed_since_trim += c->in_peak + 4096;
    if (c->admin_state) s->admin.close(c->admin_state);
    c->admin_state = NULL;
    if (c->rev) event_del(c->rev); /* before the bufferevent closes its socket */
    c->reading = false;
    bufferevent_free(c->bev);
    c->bev = NULL;
    /* A plain socket is ours to close (its bufferevent does not): now, or
     * when the sender thread hands its job back (sent_cb). */
    if (c->plain && !c->sending_len) evutil_closesocket(c->job.fd);
    if (c->delay_ev && evtimer_pending(c->delay_ev, NULL)) { /* a slow-down nobody awaits */
        event_del(c->delay_ev);
        req_free(c->wait_req);
        c->wait_req = NULL;
        c->waiting--;
        conn_unref(c);
    }
    conn_unref(c);
}

static size_t conn_out_len(conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev)) + c->sending_len;
}

/* Puts a plain connection's read event in epoll or takes it out, as its
 * state now asks: read unless it is gone, finished, over its output
 * budget, closing, the server stops, or its unparsed input is at the
 * high-water mark (then conn_pump calls this again once lines are taken).
 * Only a change costs a system call (epoll_ctl). */
static void conn_read_update(conn *c)
{
    if (!c->plain || c->dead) return;
    bool want = !c->paused && !c->closing && !c->eof && !c->srv->stopping &&
                evbuffer_get_length(bufferevent_get_input(c->bev)) < SERVER_READ_HIGH;
    if (want == c->reading) return;
    if (want ? event_add(c->rev, NULL) : event_del(c->rev)) return; /* retried on the next change */
    c->reading = want;
}

/* Stops reading the connection (its paused, closing or stopping already
 * set). */
static void conn_read_stop(conn *c)
{
    if (c->plain)
        conn_read_update(c);
    else
        bufferevent_disable(c->bev, EV_READ);
}

/* Done when the peer is finished (or the line cap was hit), nothing is held
 * or being verified, and every answer has left. */
static void conn_maybe_close(conn *c)
{
    if (c->done || c->dead || !(c->eof || c->closing)) return;
    if (c->waiting || c->console_busy || c->held || conn_out_len(c)) return;
    if (!c->closing &&
        evbuffer_search_eol(bufferevent_get_input(c->bev), NULL, NULL, EVBUFFER_EOL_LF).pos >= 0)
        return;
    conn_close(c);
}

/* ---- the batch ---- */

/* An answer built here (the server's own errors, the console) as text. */
static char *resp_text(json_t *resp, size_t *len)
{
    char *t = resp ? jsonw_dumps(resp, len) : NULL;
    json_decref(resp);
    return t;
}

/* Holds text (taken over) as the answer to the request with this id. */
/* Schedules the open batch's COMMIT. By default after every connection
 * readable in this turn has been read (the commit event made active). With
 * a commit delay, and enough tills connected that others are likely to
 * send meanwhile, the COMMIT waits that long for them instead: the loop is
 * idle then anyway, and one fsync serves a bigger batch. */
static void open_batch_commit(server *s)
{
    if (s->cfg.commit_delay_usec > 0 && s->tcp_open >= SERVER_DELAY_MIN_CONNS) {
        struct timeval tv = {0, s->cfg.commit_delay_usec};
        event_add(s->commit_ev, &tv);
    } else {
        event_active(s->commit_ev, 0, 0);
    }
}

static held *batch_hold(server *s, conn *c, json_t *id, char *text, size_t len, bool is_write)
{
    held *h = calloc(1, sizeof *h);
    if (!h) abort();
    h->c = c;
    h->text = text;
    h->len = len;
    h->id = id ? json_incref(id) : NULL;
    h->is_write = is_write;
    if (c) {
        c->refs++;
        c->held++;
    }
    if (s->tail)
        s->tail->next = h;
    else
        s->head = h;
    s->tail = h;
    if (s->batch_n++ == 0) {
        s->batch_t0 = now_us();
        open_batch_commit(s);
    }
    return h;
}

static void hold_error(server *s, conn *c, json_t *id, const char *code, const char *message,
                       bool is_write)
{
    size_t n = 0;
    char *t = resp_text(error_response(id, code, message), &n);
    batch_hold(s, c, id, t, n, is_write);
}

static void held_log(server *s, json_t *resp)
{
    json_t *err = json_object_get(resp, "error");
    if (!err) return;
    const char *code = json_string_value(json_object_get(err, "code"));
    if (code && !strcmp(code, "unknown_op")) {
        if (!s->sync_unknown)
            fprintf(stderr, "corder: hq.synchronize is not available in this build\n");
        s->sync_unknown = true;
        return;
    }
    fprintf(stderr, "corder: synchronize: %s\n",
            json_string_value(json_object_get(err, "message")) ?: "failed");
}

/* A stranger who does not read his answers holds little; anyone over his
 * budget of unsent answers is not read until they have left. */
static void conn_check_pause(conn *c)
{
    size_t high = conn_authed(c) ? c->srv->cfg.out_high : SERVER_UNAUTH_OUT_HIGH;
    if (!c->paused && conn_out_len(c) > high) {
        c->paused = true;
        conn_read_stop(c);
    }
}

/* Finished, closing, paused or the server stopping: its answers go out
 * through the bufferevent, never straight away or through the sender. */
static bool conn_at_end(const conn *c)
{
    return c->eof || c->closing || c->paused || c->srv->stopping;
}

/* Writes a plain connection's released answers: one writev straight away
 * when nothing of it waits for the socket already, the rest (if the kernel
 * would not take it all) left to the bufferevent. A connection at its end
 * (finished, closing, paused, the server stopping) always goes through the
 * bufferevent: its write callback then closes or resumes it, as it must
 * not be here (this runs inside batch_commit, maybe inside conn_pump). */
static void conn_flush(conn *c)
{
    if (c->dead || !conn_out_len(c)) return;
    if (!c->wpending && !c->sending_len) { /* a job out: these go after it (sent_cb) */
        struct evbuffer *out = bufferevent_get_output(c->bev);
        if (!conn_at_end(c)) {
            /* A socket bufferevent keeps its output's front frozen except
             * while it writes itself; so do we. A failure: met again by
             * the bufferevent below. */
            evbuffer_unfreeze(out, 1);
            evbuffer_write(out, bufferevent_getfd(c->bev));
            evbuffer_freeze(out, 1);
        }
        if (evbuffer_get_length(out)) {
            c->wpending = true;
            bufferevent_enable(c->bev, EV_WRITE);
        }
    }
    conn_check_pause(c);
}

/* Puts plain connection c in srv->flushq (once) for server_flush. */
static void conn_queue_flush(conn *c)
{
    if (c->flush_queued) return;
    c->flush_queued = true;
    c->flush_next = c->srv->flushq;
    c->srv->flushq = c;
    c->refs++;
}

/* Whether c's released answers may go to the sender thread: what
 * conn_flush would write at once, on a connection with no job out. */
static bool conn_can_send(const conn *c)
{
    return c->plain && !c->dead && !c->wpending && !c->sending_len && !conn_at_end(c) &&
           evbuffer_get_length(bufferevent_get_output(c->bev)) > 0;
}

/* Moves c's released answers into its job (the output's chains, no copy)
 * and appends the job to head/tail. False when out of memory. */
static bool conn_hand_over(conn *c, sender_job **head, sender_job **tail)
{
    if (!c->job.buf && !(c->job.buf = evbuffer_new())) return false;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_unfreeze(out, 1); /* as conn_flush does around its write */
    int rc = evbuffer_add_buffer(c->job.buf, out);
    evbuffer_freeze(out, 1);
    if (rc != 0) return false;
    c->sending_len = evbuffer_get_length(c->job.buf);
    c->refs++; /* the job's, until sent_cb */
    c->srv->st.m.sender_writes++;
    c->job.next = NULL;
    if (*tail)
        (*tail)->next = &c->job;
    else
        *head = &c->job;
    *tail = &c->job;
    return true;
}

/* Writes every connection that had answers released (server_flushq):
 * through the sender thread when enough of them can go there, else here. */
static void server_flush(server *s)
{
    int n = 0;
    if (s->snd)
        for (conn *c = s->flushq; c && n < SERVER_SENDER_MIN_CONNS; c = c->flush_next)
            n += conn_can_send(c);
    sender_job *head = NULL, *tail = NULL;
    while (s->flushq) {
        conn *c = s->flushq;
        s->flushq = c->flush_next;
        c->flush_next = NULL;
        c->flush_queued = false;
        if (n < SERVER_SENDER_MIN_CONNS || !conn_can_send(c) || !conn_hand_over(c, &head, &tail))
            conn_flush(c);
        else
            conn_check_pause(c);
        conn_unref(c);
    }
    if (head) sender_submit(s->snd, head, tail);
}

static void held_release(server *s, held *h)
{
    conn *c = h->c;
    if (!c) {
        json_t *r = h->text ? json_loadb(h->text, h->len, 0, NULL) : NULL;
        held_log(s, r);
        json_decref(r);
    } else if (c->done) {
        c->held--;
        c->srv->st.submitted--;
        c->done(c->done_arg, h->text, h->len, &c->sess);
        c->done = NULL; /* one request, one answer */
        c->dead = true;
        conn_unref(c);
    } else {
        c->held--;
        if (!c->dead) {
            size_t n = h->len;
            char *text = h->text;
            h->text = NULL;
            struct evbuffer *out = bufferevent_get_output(c->bev);
            if (text) {
                evbuffer_add(out, text, n);
                free(text);
            } else {
                static const char oom[] = "{\"id\":null,\"ok\":false,\"error\":{\"code\":"
                                          "\"internal\",\"message\":\"out of memory\"}}";
                evbuffer_add(out, oom, sizeof oom - 1);
            }
            evbuffer_add(out, "\n", 1);
            if (!c->plain)
                conn_check_pause(c);
            else /* written once the batch is released */
                conn_queue_flush(c);
        }
        conn_unref(c);
    }
    json_decref(h->id);
    free(h->text);
    free(h);
}

/* The COMMIT (its fsync) timed for the metrics. */
static int commit_timed(server *s, err_t *err)
{
    int64_t t0 = now_us();
    int rc = engine_commit(s->e, err);
    double secs = (double)(now_us() - t0) / 1e6;
    server_metrics *m = &s->st.m;
    int b = 0;
    while (b < SERVER_COMMIT_BUCKETS && secs > server_commit_bounds[b])
        b++;
    m->commit_hist[b]++;
    m->commit_seconds += secs;
    m->commits++;
    if (rc != 0) m->commit_failures++;
    return rc;
}

/* A committed batch whose answers wait for the WAL sync that covers it. */
typedef struct synced_wait {
    struct synced_wait *next;
    uint64_t ticket; /* engine_commit_ticket after its COMMIT */
    held *head;      /* its answers, in order */
    int n;           /* how many */
} synced_wait;

/* Replaces the answers that must not say ok with an `internal` error:
 * every write, and every read after the first write (it may have seen
 * that write). */
static void held_fail(held *h, const char *message)
{
    bool tainted = false;
    for (; h; h = h->next) {
        if (!h->is_write && !tainted) continue;
        tainted = true;
        free(h->text);
        h->text = resp_text(error_response(h->id, "internal", message), &h->len);
    }
}

static void held_release_all(server *s, held *h)
{
    while (h) {
        held *next = h->next;
        held_release(s, h);
        h = next;
    }
}

static void server_stop(server *s);

/* Releases, oldest first, each waiting batch whose sync has returned. A
 * failed sync fails its batch and every one after it (none of them can be
 * called durable now) and stops the server: the disk must be looked at. */
static void release_durable(server *s)
{
    while (s->wait_head) {
        synced_wait *w = s->wait_head;
        int d = engine_durable(s->e, w->ticket);
        if (d == 0) break;
        s->wait_head = w->next;
        if (!s->wait_head) s->wait_tail = NULL;
        s->sync_held -= w->n;
        if (d < 0) {
            held_fail(w->head, "the disk failed while this was being made durable; it may not "
                               "have been kept");
            if (!s->sync_failed) {
                s->sync_failed = true;
                fprintf(stderr, "corder: syncing the WAL failed; stopping (look at the disk)\n");
                server_stop(s);
            }
        }
        held_release_all(s, w->head);
        free(w);
    }
    server_flush(s);
}

static void batch_commit(server *s);

/* A sync returned: release what it covered, and commit the batch that ran
 * meanwhile (commit_cb left it open), which starts the next sync. */
static void synced_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    server *s = arg;
    release_durable(s);
    if (!s->wait_head && (s->batch_n || engine_in_txn(s->e))) batch_commit(s);
}

/* On the sync thread. */
static void synced_notify(void *arg)
{
    server *s = arg;
    event_active(s->synced_ev, 0, 0);
}

/* Blocks until every committed batch is durable and released (stopping). */
static void release_all_durable(server *s)
{
    err_t err;
    err_clear(&err);
    if (s->wait_head) engine_sync(s->e, &err);
    release_durable(s);
}

/* Commits the open transaction once for the whole batch, then releases
 * every held answer in order (an `internal` error for writes if the commit
 * failed) once the commit is durable: at once when the COMMIT synced, else
 * (pipelined) when the sync thread says so, after the batches before it. */
static void batch_commit(server *s)
{
    err_t err;
    err_clear(&err);
    bool failed = false;
    if (s->batch_lost) {
        failed = true;
        s->batch_lost = false;
        engine_rollback(s->e);
    } else if (engine_in_txn(s->e) && commit_timed(s, &err) != 0) {
        failed = true;
        if (engine_in_txn(s->e)) engine_rollback(s->e);
        fprintf(stderr, "corder: commit failed: %s\n", err.message);
    }
    event_del(s->commit_ev); /* a delayed commit's timer, if this one came first */
    held *h = s->head;
    int n = s->batch_n;
    s->head = s->tail = NULL;
    stats_batch(s, s->batch_n);
    s->batch_n = 0;
    if (failed) held_fail(h, "commit failed; the request was not kept");
    /* A failed batch keeps the last good commit's ticket: its reads may
     * have seen that commit, and its answers must not pass earlier ones. */
    uint64_t ticket = engine_commit_ticket(s->e);
    if (!s->wait_head && engine_durable(s->e, ticket) == 1) {
        held_release_all(s, h);
        server_flush(s);
        return;
    }
    if (!h) return;
    synced_wait *w = calloc(1, sizeof *w);
    if (!w) abort();
    w->ticket = ticket;
    w->head = h;
    w->n = n;
    s->sync_held += n;
    if (s->wait_tail)
        s->wait_tail->next = w;
    else
        s->wait_head = w;
    s->wait_tail = w;
    release_durable(s); /* a sync may have returned already */
}

static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    /* Pipelined, with a sync out: the open batch keeps taking requests
     * until it returns (synced_cb commits it then). Committing now would
     * only make smaller batches, each with its own rewrite of the index
     * pages, and the next sync could not start before this one ends. */
    if (s->wait_head) return;
    if (s->batch_n || engine_in_txn(s->e)) batch_commit(s);
}

/* Fails the open batch as a whole when SQLite rolled its transaction back
 * by itself (a full disk, an I/O error inside a request): what ran before
 * in the batch is gone, so no answer of it may say ok. */
static void batch_check_lost(server *s)
{
    if (!engine_txn_lost(s->e)) return;
    fprintf(stderr, "corder: SQLite rolled the batch back; failing all of it\n");
    s->batch_lost = true;
    batch_commit(s);
}

/* Dispatches one request inside the batch's transaction; frees it. */
static void run_req(server *s, conn *c, session *sess, dispatch_req *r)
{
    err_t err;
    err_clear(&err);
    bool is_write = false;
    if (!engine_in_txn(s->e) && engine_begin(s->e, &err) != 0) {
        fprintf(stderr, "corder: begin failed: %s\n", err.message);
        hold_error(s, c, r->id, "internal", "could not open a transaction", false);
    } else {
        size_t n;
        char *text = dispatch_run_text(s->e, sess, r, &is_write, &n);
        batch_hold(s, c, r->id, text, n, is_write); /* NULL text: answered "out of memory" */
        batch_check_lost(s);
    }
    req_free(r);
    if (s->batch_n >= s->cfg.batch_max || now_us() - s->batch_t0 >= s->cfg.batch_usec)
        batch_commit(s);
}

static void run_line(server *s, conn *c, session *sess, const char *line, size_t len)
{
    dispatch_req *r = calloc(1, sizeof *r);
    if (!r) abort();
    dispatch_parse(r, line, len);
    run_req(s, c, sess, r);
}

/* ---- gates: a line that must wait for I/O before it runs ----
 * The gate (the sync module) may take a line whose PINs are known, e.g. a
 * sync-mode order.create that must ask HQ first. The connection then takes
 * no more lines, exactly as during a PIN check, so its answers stay in
 * request order while every other connection is served. */

static void conn_ready(conn *c, dispatch_req *r)
{
    server *s = c->srv;
    if (s->gate && !c->dead) {
        c->gate_req = r;
        c->waiting++;
        c->refs++;
        if (s->gate(s->gate_arg, (server_wait *)c, &c->sess, r)) return;
        c->gate_req = NULL;
        c->waiting--;
        c->refs--;
    }
    run_req(s, c, &c->sess, r);
}

void server_gate_release(server_wait *w)
{
    conn *c = (conn *)w;
    dispatch_req *r = c->gate_req;
    c->gate_req = NULL;
    /* Run even when the client has gone: HQ may already have acted. */
    run_req(c->srv, c, &c->sess, r);
    if (--c->waiting == 0 && !c->dead) {
        conn_pump(c);
        conn_maybe_close(c);
    }
    conn_unref(c);
}

void server_set_gate(server *s, server_gate_fn fn, void *arg)
{
    s->gate = fn;
    s->gate_arg = arg;
}

struct event_base *server_base(server *s)
{
    return s->base;
}

int server_write(server *s, int (*fn)(engine *e, void *arg, err_t *err), void *arg, err_t *err)
{
    if (!engine_in_txn(s->e) && engine_begin(s->e, err) != 0) return -1;
    if (engine_savepoint(s->e, ENGINE_SP_SERVER, err) < 0) return -1;
    int rc = fn(s->e, arg, err);
    engine_savepoint_end(s->e, ENGINE_SP_SERVER, rc == 0);
    event_active(s->commit_ev, 0, 0); /* commits with the open batch, or alone */
    return rc;
}

/* ---- PIN checks off the loop ----
 * Every PIN is checked on a worker thread, whatever its length (longer
 * than AUTH_PIN_MAX is refused by the op, unhashed). A request brings only
 * the PINs its op needs (dispatch_req_pins): one for a sign-in, one per
 * approval; nothing else it carries is ever hashed. The verdicts travel
 * with the request into dispatch, which with auth_set_offloop never hashes
 * on the loop itself. */

static void *auth_worker(void *arg)
{
    server *s = arg;
    pthread_setname_np(pthread_self(), "corder-pin");
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->todo && !s->quit)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit) break;
        auth_job *j = s->todo;
        s->todo = j->next;
        if (!s->todo) s->todo_tail = NULL;
        pthread_mutex_unlock(&s->mu);
        j->ok = auth_verify_hash(j->hash, j->pin);
        pthread_mutex_lock(&s->mu);
        j->next = s->done;
        s->done = j;
        event_active(s->done_ev, 0, 0);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the slow-down per source address (SPEC A6) ---- */

static addr_slot *addr_find(server *s, const conn *c, bool create)
{
    if (c->addr < 0) return NULL;
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ c->addr_key[i]) * 16777619u;
    addr_slot *set = &s->addrs[(h % ADDR_SETS) * ADDR_WAYS], *victim = NULL;
    for (int i = 0; i < ADDR_WAYS; i++) {
        if (set[i].used && !memcmp(set[i].key, c->addr_key, 16)) return &set[i];
        if (!set[i].used) {
            if (!victim || victim->used) victim = &set[i];
        } else if (!set[i].inflight &&
                   (!victim || (victim->used && set[i].last_us < victim->last_us)))
            victim = &set[i];
    }
    if (!create || !victim) return NULL;
    *victim = (addr_slot){.used = true};
    memcpy(victim->key, c->addr_key, 16);
    return victim;
}

/* Counts a failed sign-in or approval from c's address; returns how long
 * to hold the answer (0.1 s doubling after ADDR_FREE_FAILURES, at most 2 s). */
static int64_t addr_fail(server *s, const conn *c)
{
    addr_slot *a = addr_find(s, c, true);
    if (!a) return 0;
    int64_t now = now_us();
    if (now - a->last_us > ADDR_FORGET_US) a->failures = 0;
    a->last_us = now;
    if (++a->failures <= ADDR_FREE_FAILURES) return 0;
    int k = a->failures - ADDR_FREE_FAILURES - 1;
    int64_t d = k >= 5 ? ADDR_DELAY_MAX_US : (int64_t)ADDR_DELAY_BASE_US << k;
    return d > ADDR_DELAY_MAX_US ? ADDR_DELAY_MAX_US : d;
}

int64_t server_wait_signin(server_wait *w, bool ok)
{
    conn *c = (conn *)w;
    if (!ok) return addr_fail(c->srv, c);
    addr_slot *a = addr_find(c->srv, c, false);
    if (a) a->failures = 0;
    return 0;
}

static void delay_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    dispatch_req *r = c->wait_req;
    c->wait_req = NULL;
    c->waiting--;
    if (!c->dead) {
        conn_ready(c, r);
        conn_pump(c);
        conn_maybe_close(c);
    } else {
        req_free(r);
    }
    conn_unref(c);
}

/* The request's PINs are all judged: run it, after a slow-down if one of
 * them was wrong (or named no one, or a locked id). */
static void conn_judged(conn *c, dispatch_req *r, bool bad)
{
    server *s = c->srv;
    int64_t d = bad ? addr_fail(s, c) : 0;
    if (d > 0 && !s->stopping) {
        if (!c->delay_ev && !(c->delay_ev = evtimer_new(s->base, delay_cb, c))) abort();
        c->wait_req = r;
        c->waiting++;
        c->refs++;
        s->st.slowed++;
        struct timeval tv = {(time_t)(d / 1000000), (suseconds_t)(d % 1000000)};
        evtimer_add(c->delay_ev, &tv);
        return;
    }
    conn_ready(c, r);
}

static void auth_job_finish(server *s, auth_job *j)
{
    conn *c = j->c;
    auth_remember(s->e, j->staff, j->hash, j->pin, j->ok);
    sodium_memzero(j->pin, sizeof j->pin);
    s->jobs_out--;
    addr_slot *a = addr_find(s, c, false);
    if (a && a->inflight > 0) a->inflight--;
    if (!c->dead) j->slot->verdict = j->ok ? 1 : -1;
    if (!j->ok) c->wait_bad = true;
    if (--c->waiting == 0 && c->admin_wait) {
        c->admin_wait = false;
        console_judged(c);
    } else if (c->waiting == 0) {
        dispatch_req *r = c->wait_req;
        c->wait_req = NULL;
        if (!c->dead) {
            conn_judged(c, r, c->wait_bad);
            conn_pump(c);
            conn_maybe_close(c);
        } else {
            req_free(r);
        }
    }
    conn_unref(c);
    free(j);
}

static void auth_done_cb(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    pthread_mutex_lock(&s->mu);
    auth_job *j = s->done;
    s->done = NULL;
    pthread_mutex_unlock(&s->mu);
    while (j) {
        auth_job *next = j->next;
        auth_job_finish(s, j);
        j = next;
    }
}

/* Queues one PIN for the workers; its verdict goes to slot. */
static void auth_enqueue(conn *c, auth_pin *slot, const char *hash)
{
    server *s = c->srv;
    auth_job *j = calloc(1, sizeof *j);
    if (!j) abort();
    j->c = c;
    j->slot = slot;
    snprintf(j->staff, sizeof j->staff, "%s", slot->staff);
    snprintf(j->pin, sizeof j->pin, "%s", slot->pin);
    memcpy(j->hash, hash, sizeof j->hash);
    c->refs++;
    s->jobs_out++;
    addr_slot *a = addr_find(s, c, true);
    if (a) a->inflight++;
    pthread_mutex_lock(&s->mu);
    if (s->todo_tail)
        s->todo_tail->next = j;
    else
        s->todo = j;
    s->todo_tail = j;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Judges the request's PINs: cached ones at once, the rest queued for the
 * workers (the connection takes no more lines until they are back).
 * Unknown and locked ids are not hashed: dispatch refuses them. */
static void conn_check_pins(conn *c, dispatch_req *r)
{
    server *s = c->srv;
    bool bad = false;
    int need[DISPATCH_MAX_PINS], nneed = 0;
    auth_staff st[DISPATCH_MAX_PINS];
    for (int i = 0; i < r->npins; i++) {
        auth_pin *p = &r->pins[i];
        err_t err;
        err_clear(&err);
        if (auth_locked(s->e, p->staff, NULL) || auth_lookup(s->e, p->staff, &st[i], &err) != 0) {
            bad = true;
            continue;
        }
        if (auth_cached(s->e, p->staff, st[i].hash, p->pin))
            p->verdict = 1;
        else
            need[nneed++] = i;
    }
    if (nneed == 0) {
        conn_judged(c, r, bad);
        return;
    }
    addr_slot *a = addr_find(s, c, true);
    if (a && a->inflight + nneed > ADDR_MAX_INFLIGHT) {
        /* One address may not fill the workers' queue for everyone. */
        hold_error(s, c, r->id, "unauthenticated",
                   "too many PIN checks in progress from this address; try again", false);
        addr_fail(s, c);
        req_free(r);
        return;
    }
    c->wait_req = r;
    c->wait_bad = bad;
    c->waiting = nneed;
    for (int k = 0; k < nneed; k++)
        auth_enqueue(c, &r->pins[need[k]], st[need[k]].hash);
    sodium_memzero(st, sizeof st);
}

/* ---- framing ---- */

static void conn_line(conn *c, const char *line, size_t len)
{
    dispatch_req *r = calloc(1, sizeof *r);
    if (!r) abort();
    dispatch_parse(r, line, len);
    if (c->admin && admin_req(c, r)) return;
    dispatch_req_pins(r, &c->sess);
    conn_check_pins(c, r);
}

static void conn_too_long(conn *c)
{
    char msg[96];
    snprintf(msg, sizeof msg, "line longer than %d bytes", DISPATCH_MAX_LINE);
    hold_error(c->srv, c, NULL, "bad_request", msg, false);
    c->closing = true;
    conn_read_stop(c);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

/* Takes complete lines from the input while the connection may proceed. */
static void conn_pump_lines(conn *c)
{
    if (c->done) return; /* a submitted request has no input */
    while (!c->dead && !c->closing && !c->waiting && !c->console_busy && !c->paused) {
        struct evbuffer *in = bufferevent_get_input(c->bev);
        size_t avail = evbuffer_get_length(in);
        struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
        size_t len, take;
        if (eol.pos >= 0) {
            len = (size_t)eol.pos;
            take = len + 1;
        } else if (avail > DISPATCH_MAX_LINE) {
            len = avail;
            take = avail;
        } else if (c->eof && avail > 0) {
            len = take = avail; /* a last line without its '\n' */
        } else {
            return;
        }
        if (len > DISPATCH_MAX_LINE) {
            conn_too_long(c);
            return;
        }
        const char *line = (const char *)evbuffer_pullup(in, (ev_ssize_t)take);
        conn_line(c, line ? line : "", len);
        evbuffer_drain(in, take);
    }
}

/* Takes lines, then reads on if the input had reached its high-water mark
 * (a plain connection; a bufferevent does so itself). */
static void conn_pump(conn *c)
{
    conn_pump_lines(c);
    conn_read_update(c);
}

/* Strangers together may buffer at most unauth_in_max bytes of input: the
 * connection whose bytes go over it is answered and closed. */
static bool conn_over_budget(conn *c)
{
    server *s = c->srv;
    conn_account(c);
    if (conn_authed(c) || s->unauth_in <= s->cfg.unauth_in_max) return false;
    hold_error(s, c, NULL, "bad_request", "too much input from connections that are not signed in",
               false);
    c->closing = true;
    conn_read_stop(c);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    conn_account(c);
    s->st.evicted++;
    return true;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    c->last_read_us = now_us();
    if (!conn_over_budget(c)) conn_pump(c);
    if (!c->dead) conn_account(c);
    conn_maybe_close(c);
}

/* A plain connection is readable: one recv (see "Few system calls per
 * request"), then the same as a bufferevent's read callback. */
static void conn_sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    server *s = c->srv;
    size_t have = evbuffer_get_length(bufferevent_get_input(c->bev));
    size_t room = have < SERVER_READ_HIGH ? SERVER_READ_HIGH - have : 0;
    if (room > sizeof s->rbuf) room = sizeof s->rbuf;
    if (room == 0) {
        conn_read_update(c);
        return;
    }
    ssize_t n = recv(fd, s->rbuf, room, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        conn_close(c); /* reset by the peer: as a bufferevent's error */
        return;
    }
    if (n == 0) { /* end of stream: as a bufferevent's EOF */
        c->eof = true;
        conn_read_update(c);
        conn_pump(c);
        conn_maybe_close(c);
        return;
    }
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_unfreeze(in, 0); /* as the bufferevent does around its own reads */
    int rc = evbuffer_add(in, s->rbuf, (size_t)n);
    evbuffer_freeze(in, 0);
    if (rc != 0) abort(); /* out of memory */
    conn_read_cb(c->bev, c);
}

/* Every answer of c has left: read again if it was paused, close if it
 * is finished. */
static void conn_drained(conn *c)
{
    if (c->paused) {
        c->paused = false;
        if (c->plain)
            conn_read_update(c);
        else if (!c->srv->stopping && !c->closing && !c->eof)
            bufferevent_enable(c->bev, EV_READ);
        conn_pump(c);
    }
    conn_maybe_close(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    if (c->plain) { /* all written: answers go out by conn_flush again */
        c->wpending = false;
        bufferevent_disable(bev, EV_WRITE); /* out of epoll already: no system call */
    }
    conn_drained(c);
}

/* The sender thread's jobs back (net/sender.c), in the order handed over.
 * What a full socket did not take goes back in front of the answers
 * released meanwhile and is left to the bufferevent, which waits for the
 * socket (a failed write too: it meets the error again and closes the
 * connection); answers released meanwhile go out as any others. */
static void sent_cb(sender_job *done, void *arg)
{
    server *s = arg;
    while (done) {
        sender_job *j = done;
        done = j->next;
        conn *c = (conn *)((char *)j - offsetof(conn, job));
        c->sending_len = 0;
        if (c->dead) {
            evbuffer_drain(j->buf, evbuffer_get_length(j->buf));
            evutil_closesocket(j->fd); /* conn_close left it to us */
        } else if (evbuffer_get_length(j->buf)) {
            struct evbuffer *out = bufferevent_get_output(c->bev);
            evbuffer_unfreeze(out, 1);
            evbuffer_prepend_buffer(out, j->buf);
            evbuffer_freeze(out, 1);
            c->wpending = true;
            bufferevent_enable(c->bev, EV_WRITE);
        } else if (conn_out_len(c)) {
            conn_queue_flush(c);
        } else {
            conn_drained(c);
        }
        conn_unref(c);
    }
    server_flush(s);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    if (what & BEV_EVENT_ERROR) {
        conn_close(c);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        c->eof = true;
        conn_pump(c);
        conn_maybe_close(c);
    }
}

/* The oldest connection that has not signed in and waits for nothing. */
static conn *oldest_stranger(server *s)
{
    conn *old = NULL;
    for (conn *c = s->conns; c; c = c->next)
        if (!conn_authed(c) && !c->waiting && !c->held &&
            (!old || c->accepted_us < old->accepted_us))
            old = c;
    return old;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    server *s = arg;
    bool admin = l == s->admin_lis;
    if (!admin && s->tcp_open >= s->cfg.max_connections) {
        /* Full: a stranger who never signed in makes room; else refuse. */
        conn *old = oldest_stranger(s);
        if (!old) {
            static const char full[] = "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"internal\","
                                       "\"message\":\"too many connections\",\"details\":{}}}\n";
            if (send(fd, full, sizeof full - 1, MSG_DONTWAIT | MSG_NOSIGNAL) <
                0) { /* best effort */
            }
            evutil_closesocket(fd);
            s->st.refused++;
            return;
        }
        s->st.evicted++;
        conn_close(old);
    }
    if (sa->sa_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev = NULL;
    if (c && s->cfg.tls && !admin) { /* SPEC C3: TLS or nothing */
        SSL *ssl = SSL_new(s->cfg.tls);
        bev = ssl ? bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                   BEV_OPT_CLOSE_ON_FREE)
                  : NULL;
        if (bev) bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        if (!bev && ssl) SSL_free(ssl);
    } else if (c) {
        /* conn_close closes the socket, maybe later (see struct conn) */
        bev = bufferevent_socket_new(s->base, fd, 0);
        c->plain = true;
        c->job.fd = fd;
    }
    if (!bev) {
        free(c);
        evutil_closesocket(fd);
        return;
    }
    c->srv = s;
    c->bev = bev;
    c->refs = 1;
    c->admin = admin;
    c->addr = -1;
    if (sa->sa_family == AF_INET) {
        c->addr = 0;
        memcpy(c->addr_key + 12, &((struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        c->addr = 0;
        memcpy(c->addr_key, &((struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
    c->accepted_us = c->last_read_us = now_us();
    s->st.accepted++;
    s->st.admin_accepted += c->admin;
    s->st.open++;
    if (!admin) s->tcp_open++;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_setwatermark(bev, EV_READ, 0, SERVER_READ_HIGH);
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    if (c->plain) {
        /* Its own read event; the bufferevent writes only what conn_flush
         * could not (its EV_WRITE, on by default, off until then). */
        bufferevent_disable(bev, EV_READ | EV_WRITE);
        c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_sock_read_cb, c);
        if (!c->rev) {
            conn_close(c);
            return;
        }
        conn_read_update(c);
    } else {
        bufferevent_enable(bev, EV_READ | EV_WRITE);
    }
}

/* Once a second: close connections that stayed unauthenticated or silent
 * too long, and give memory freed by closed connections back to the
 * system (glibc keeps freed heap otherwise: 300 strangers' buffers would
 * stay resident after they left). */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    int64_t now = now_us();
    for (conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->admin || c->waiting || c->held || c->closing) continue;
        bool stranger = !conn_authed(c) && s->cfg.auth_timeout > 0 &&
                        now - c->accepted_us > (int64_t)s->cfg.auth_timeout * 1000000;
        bool idle = s->cfg.idle_timeout > 0 &&
                    now - c->last_read_us > (int64_t)s->cfg.idle_timeout * 1000000;
        if (stranger || idle) {
            s->st.timed_out++;
            conn_close(c);
        }
    }
    if (s->freed_since_trim > (1u << 20)) {
        s->freed_since_trim = 0;
        malloc_trim(0);
    }
}

/* Out of descriptors (or similar): pause accepting for a moment instead of
 * spinning on a listener that stays readable. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    server *s = arg;
    int e = EVUTIL_SOCKET_ERROR();
    fprintf(stderr, "corder: accept: %s\n", evutil_socket_error_to_string(e));
    evconnlistener_disable(l);
    struct timeval tv = {0, 100000};
    evtimer_add(s->accept_ev, &tv);
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    if (s->stopping) return;
    if (s->lis) evconnlistener_enable(s->lis);
    if (s->admin_lis) evconnlistener_enable(s->admin_lis);
}

/* ---- timers and signals ---- */

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    policy_host *ph = engine_policies(s->e);
    if (ph) policy_host_poll(ph);
}

/* hq role: "synchronize orders" every --sync-interval seconds, as an
 * internal request in the normal batch (so it commits like any write). */
static void sync_cb(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    if (s->stopping || s->sync_unknown) return;
    static const char line[] = "{\"id\":null,\"op\":\"hq.synchronize\",\"args\":{}}";
    session sess;
    memset(&sess, 0, sizeof sess);
    sess.signed_in = true;
    sess.hq_peer = true;
    run_line(s, NULL, &sess, line, sizeof line - 1);
}

static bool server_quiet(server *s)
{
    if (s->jobs_out || s->batch_n || s->st.submitted || engine_in_txn(s->e) || s->wait_head)
        return false;
    for (conn *c = s->conns; c; c = c->next)
        if (c->waiting || c->console_busy || c->held || conn_out_len(c)) return false;
    return true;
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    if (s->batch_n || engine_in_txn(s->e)) batch_commit(s);
    if (server_quiet(s) || now_us() > s->stop_deadline) event_base_loopbreak(s->base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    server *s = arg;
    if (s->stopping) { /* a second signal: stop waiting for slow readers */
        s->stop_deadline = 0;
        return;
    }
    server_stop(s);
}

/* Stops accepting and reading; drain_cb ends the loop once all is answered. */
static void server_stop(server *s)
{
    if (s->stopping) return;
    s->stopping = true;
    s->stop_deadline = now_us() + (int64_t)SERVER_DRAIN_S * 1000000;
    if (s->lis) evconnlistener_free(s->lis);
    if (s->admin_lis) evconnlistener_free(s->admin_lis);
    s->lis = s->admin_lis = NULL;
    for (conn *c = s->conns; c; c = c->next)
        conn_read_stop(c);
    struct timeval tv = {0, 10000};
    event_add(s->drain_ev, &tv);
}

/* ---- setup ---- */

/* Raises the descriptor limit to its hard maximum; returns the limit. */
static int raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur > 1000000 ? 1000000 : (int)rl.rlim_cur;
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" into a bindable address. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, int *sslen, err_t *err)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || !colon[1]) return err_set(err, ERR_BAD_REQUEST, "bad address '%s'", spec);
    char host[256];
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof host) return err_set(err, ERR_BAD_REQUEST, "bad address '%s'", spec);
    memcpy(host, spec, hl);
    host[hl] = 0;
    char *h = host;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = 0;
        h = host + 1;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res);
    if (rc != 0 || !res)
        return err_set(err, ERR_INTERNAL, "cannot resolve '%s': %s", spec, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = (int)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void name_bound(server *s)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&ss, &len);
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        s->port = ntohs(a->sin6_port);
        snprintf(s->addr, sizeof s->addr, "[%s]:%d", host, s->port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        s->port = ntohs(a->sin_port);
        snprintf(s->addr, sizeof s->addr, "%s:%d", host, s->port);
    }
}

static int start_workers(server *s, err_t *err)
{
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->threads = calloc((size_t)s->cfg.auth_threads, sizeof *s->threads);
    if (!s->threads) return err_set(err, ERR_INTERNAL, "out of memory");
    for (int i = 0; i < s->cfg.auth_threads; i++) {
        if (pthread_create(&s->threads[i], NULL, auth_worker, s) != 0)
            return err_set(err, ERR_INTERNAL, "cannot start PIN worker: %s", strerror(errno));
        s->nthreads++;
    }
    return 0;
}

static int add_events(server *s, err_t *err)
{
    s->commit_ev = event_new(s->base, -1, 0, commit_cb, s);
    s->done_ev = event_new(s->base, -1, 0, auth_done_cb, s);
    s->poll_ev = event_new(s->base, -1, EV_PERSIST, poll_cb, s);
    s->drain_ev = event_new(s->base, -1, EV_PERSIST, drain_cb, s);
    s->accept_ev = evtimer_new(s->base, accept_resume_cb, s);
    s->sweep_ev = event_new(s->base, -1, EV_PERSIST, sweep_cb, s);
    s->sigint_ev = evsignal_new(s->base, SIGINT, signal_cb, s);
    s->sigterm_ev = evsignal_new(s->base, SIGTERM, signal_cb, s);
    s->console_ev = event_new(s->base, -1, 0, console_cb, s);
    s->synced_ev = event_new(s->base, -1, 0, synced_cb, s);
    if (!s->commit_ev || !s->done_ev || !s->poll_ev || !s->drain_ev || !s->accept_ev ||
        !s->sigint_ev || !s->sigterm_ev || !s->sweep_ev || !s->console_ev || !s->synced_ev)
        return err_set(err, ERR_INTERNAL, "cannot create events");
    struct timeval quarter = {0, 250000}, second = {1, 0};
    event_add(s->poll_ev, &quarter);
    event_add(s->sweep_ev, &second);
    event_add(s->sigint_ev, NULL);
    event_add(s->sigterm_ev, NULL);
    if (s->cfg.hq_role && s->cfg.sync_interval > 0) {
        s->sync_ev = event_new(s->base, -1, EV_PERSIST, sync_cb, s);
        struct timeval iv = {s->cfg.sync_interval, 0};
        if (!s->sync_ev || event_add(s->sync_ev, &iv) != 0)
            return err_set(err, ERR_INTERNAL, "cannot create the sync timer");
    }
    return 0;
}

server *server_new(engine *e, const server_config *cfg, err_t *err)
{
    server *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    s->e = e;
    s->cfg = *cfg;
    pthread_mutex_init(&s->cmu, NULL);
    pthread_cond_init(&s->ccv, NULL);
    if (!s->cfg.listen) s->cfg.listen = "127.0.0.1:7420";
    if (s->cfg.batch_max <= 0) s->cfg.batch_max = 512;
    if (s->cfg.batch_usec <= 0) s->cfg.batch_usec = 10000; /* architecture.md, step 5 */
    if (s->cfg.auth_threads <= 0) s->cfg.auth_threads = 2;
    if (!s->cfg.out_high) s->cfg.out_high = 4u << 20;
    if (!s->cfg.unauth_in_max) s->cfg.unauth_in_max = 32u << 20;
    if (!s->cfg.auth_timeout) s->cfg.auth_timeout = 60;
    if (!s->cfg.idle_timeout) s->cfg.idle_timeout = 3600;
    s->cfg.admin_socket = NULL; /* server_admin_listen keeps its own copy */

    signal(SIGPIPE, SIG_IGN);
    int fds = raise_nofile();
    /* Memory a burst of connections took is given back when they go:
     * large buffers are mmap'd (unmapped on free), the rest trimmed by
     * the sweep. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    /* Descriptors for the database, its WAL, the admin socket, HQ and
     * the workers stay free whatever the clients do. */
    int fit = fds > 128 ? fds - 64 : 64;
    if (s->cfg.max_connections <= 0) s->cfg.max_connections = 4096;
    if (s->cfg.max_connections > fit) s->cfg.max_connections = fit;
    auth_set_offloop(e, true);
    struct sockaddr_storage ss;
    int sslen = 0;
    if (evthread_use_pthreads() != 0) {
        err_set(err, ERR_INTERNAL, "libevent has no thread support");
        goto fail;
    }
    /* After 128 callbacks libevent asks epoll again before it runs the
     * rest, so a connection that became readable meanwhile queues behind
     * those already read instead of waiting for the whole turn to end and
     * then for its place in the next one. With 1,000 connections a turn is
     * some 70 ms of work, and requests sent just after the epoll_wait that
     * began it waited two turns (p99 2x the p50); with this, about one.
     * Not fewer: epoll is level-triggered, so each asking returns every
     * connection still waiting in the queue too (at 32 callbacks the rate
     * at 1,000 connections fell; 64 and 128 gave p99/p50 1.4-1.6 and
     * 1.25-1.43 in paired runs). The commit event keeps its place:
     * activated when a batch opens, it still runs after every read
     * activated before it. */
    struct event_config *ec = event_config_new();
    if (ec) event_config_set_max_dispatch_interval(ec, NULL, SERVER_MAX_CALLBACKS, 0);
    s->base = ec ? event_base_new_with_config(ec) : NULL;
    if (ec) event_config_free(ec);
    if (!s->base) {
        err_set(err, ERR_INTERNAL, "cannot create the event loop");
        goto fail;
    }
    if (parse_listen(s->cfg.listen, &ss, &sslen, err) != 0) goto fail;
    s->lis = evconnlistener_new_bind(
        s->base, accept_cb, s, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        4096, (struct sockaddr *)&ss, sslen);
    if (!s->lis) {
        err_set(err, ERR_INTERNAL, "cannot listen on %s: %s", s->cfg.listen, strerror(errno));
        goto fail;
    }
    evconnlistener_set_error_cb(s->lis, accept_error_cb);
    name_bound(s);
    if (add_events(s, err) != 0 || start_workers(s, err) != 0) goto fail;
    /* Without it (no thread to be had) the loop writes every answer. */
    s->snd = sender_new(s->base, sent_cb, s);
    if (s->cfg.pipeline && engine_pipeline(e, synced_notify, s, err) != 0) goto fail;
    if (cfg->admin_socket && server_admin_listen(s, cfg->admin_socket, err) != 0) goto fail;
    return s;
fail:
    server_free(s);
    return NULL;
}

int server_port(const server *s)
{
    return s->port;
}

int server_run(server *s, err_t *err)
{
    printf("corder listening on %s\n", s->addr);
    fflush(stdout);
    if (event_base_dispatch(s->base) < 0)
        return err_set(err, ERR_INTERNAL, "the event loop failed");
    if (s->batch_n || engine_in_txn(s->e)) batch_commit(s);
    release_all_durable(s);
    if (s->sync_failed) return err_set(err, ERR_INTERNAL, "the WAL could not be synced");
    return 0;
}

static void stop_workers(server *s)
{
    if (!s->threads) return;
    pthread_mutex_lock(&s->mu);
    s->quit = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    free(s->threads);
    s->threads = NULL;
    /* Jobs never run or never collected hold connection references. */
    auth_job *lists[2] = {s->todo, s->done};
    s->todo = s->todo_tail = s->done = NULL;
    for (int k = 0; k < 2; k++)
        for (auth_job *j = lists[k], *next; j; j = next) {
            next = j->next;
            if (--j->c->waiting == 0 && j->c->admin_wait) {
                j->c->admin_wait = false;
                console_abandon(s, j->c);
            }
            conn_unref(j->c);
            free(j);
        }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

void server_free(server *s)
{
    if (!s) return;
    /* Answers with the sender thread come back first (their sockets are
     * still ours to close); what is released from here on the loop
     * writes itself. */
    sender *snd = s->snd;
    s->snd = NULL;
    sender_free(snd);
    if (s->batch_n || (s->e && engine_in_txn(s->e))) batch_commit(s);
    if (s->e) release_all_durable(s);
    /* the engine outlives us: its sync thread must not call back into s */
    if (s->e) engine_pipeline_unhook(s->e);
    while (s->conns)
        conn_close(s->conns);
    stop_workers(s);
    console_shutdown(s);
    pthread_mutex_destroy(&s->cmu);
    pthread_cond_destroy(&s->ccv);
    if (s->lis) evconnlistener_free(s->lis);
    if (s->admin_lis) evconnlistener_free(s->admin_lis);
    if (s->admin_path) {
        struct stat st;
        if (lstat(s->admin_path, &st) == 0 && st.st_dev == s->admin_dev &&
            st.st_ino == s->admin_ino)
            unlink(s->admin_path);
        free(s->admin_path);
    }
    struct event *evs[] = {s->commit_ev, s->done_ev,    s->poll_ev,  s->sync_ev,
                           s->sigint_ev, s->sigterm_ev, s->drain_ev, s->accept_ev,
                           s->sweep_ev,  s->console_ev, s->synced_ev};
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
        if (evs[i]) event_free(evs[i]);
    if (s->base) event_base_free(s->base);
    free(s);
}

/* ---- the admin socket ----
 * HOOK for the REPL issue: connections on the admin socket speak the same
 * protocol as TCP ones. Admin-only ops (if the REPL needs any) would need a
 * mark on the session, which engine.h does not have yet. */
int server_admin_listen(server *s, const char *path, err_t *err)
{
    struct sockaddr_un sun = {0};
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun.sun_path)
        return err_set(err, ERR_INTERNAL, "admin socket path too long: %s", path);
    text_copy(sun.sun_path, sizeof sun.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return err_set(err, ERR_INTERNAL, "admin socket %s exists and is not a socket", path);
        /* A live server answers there: taking its socket would cut its
         * support staff off. Only a socket nobody listens on (left by a
         * crash) is replaced. */
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
        if (fd >= 0) close(fd);
        if (live)
            return err_set(err, ERR_INTERNAL,
                           "admin socket %s is in use by a running server; not taking it over",
                           path);
        unlink(path);
    }
    mode_t old = umask(0177);
    s->admin_lis = evconnlistener_new_bind(s->base, accept_cb, s,
                                           LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64,
                                           (struct sockaddr *)&sun, (int)sizeof sun);
    int e = errno;
    umask(old);
    if (!s->admin_lis)
        return err_set(err, ERR_INTERNAL, "cannot listen on %s: %s", path, strerror(e));
    chmod(path, 0600);
    evconnlistener_set_error_cb(s->admin_lis, accept_error_cb);
    s->admin_path = strdup(path);
    if (lstat(path, &st) == 0) { /* to remove only our own socket at exit */
        s->admin_dev = st.st_dev;
        s->admin_ino = st.st_ino;
    }
    return 0;
}

/* ---- the support REPL: admin.eval on admin connections ----
 *
 * A console chunk never runs on this loop (SPEC OP5): each admin
 * connection's evaluator has a thread of its own (the bindings start it in
 * admin.open), and the loop only hands it the chunk (admin.eval) and,
 * later, sends the answer the thread posts back (CONSOLE_DONE). What the
 * chunk asks of the engine comes back here as messages, one at a time per
 * console, while its thread waits:
 *
 *   CONSOLE_CALL  a request under the console's session (its read-only
 *                 support session, or the staff signed in with
 *                 corder.login): PINs judged on the workers as for any
 *                 client, then dispatch_run like any request
 *   CONSOLE_EXEC  a function over the engine and the server (corder.stats)
 *
 * So a `while true do end` holds only its own thread (stopped by its budget
 * after ADMIN_BUDGET_MS); every other client is served meanwhile, and the
 * engine, its one SQLite connection and the policy host are only ever used
 * from the loop. A request from a console first commits the open batch:
 * its writes then commit on their own, before its answer. */

enum { CONSOLE_CALL, CONSOLE_EXEC, CONSOLE_DONE };

typedef struct console_msg {
    struct console_msg *next;
    int kind;
    conn *c;
    session *sess;                          /* CALL: the thread's session; a sign-in fills it */
    json_t *req;                            /* CALL */
    dispatch_req r;                         /* CALL: parsed here */
    void (*fn)(server *, engine *, void *); /* EXEC */
    void *arg;
    json_t *resp; /* CALL: the answer; DONE: the chunk's result */
    bool done;    /* CALL, EXEC: answered (under cmu) */
    bool ran;     /* EXEC: fn ran */
} console_msg;

void server_set_admin(server *s, const server_admin_hooks *hooks)
{
    s->admin = *hooks;
}

/* Sends a console answer at once: nothing of it waits for a commit. */
static void admin_answer(conn *c, json_t *id, json_t *resp)
{
    held *h = calloc(1, sizeof *h);
    if (!h) abort();
    h->c = c;
    h->text = resp_text(resp ? resp : error_response(id, "internal", "no response"), &h->len);
    c->refs++;
    c->held++;
    held_release(c->srv, h);
    server_flush(c->srv);
}

static json_t *admin_result(json_t *id, json_t *res)
{
    return res ? json_pack("{s:O?,s:b,s:o}", "id", id, "ok", 1, "result", res)
               : error_response(id, "internal", "the evaluator failed");
}

/* Gives a waiting console thread its answer. */
static void console_reply(server *s, console_msg *m, json_t *resp)
{
    pthread_mutex_lock(&s->cmu);
    m->resp = resp;
    m->done = true;
    pthread_cond_broadcast(&s->ccv);
    pthread_mutex_unlock(&s->cmu);
}

static void console_abandon(server *s, conn *c)
{
    console_msg *m = c->console_call;
    c->console_call = NULL;
    if (!m) return;
    dispatch_req_free(&m->r);
    console_reply(s, m, error_response(NULL, "internal", "the server is stopping"));
}

/* The request's PINs are judged (or none needed judging): run it. */
static void console_run(server *s, console_msg *m)
{
    if (s->batch_n || engine_in_txn(s->e)) batch_commit(s);
    bool is_write;
    json_t *resp = dispatch_run(s->e, m->sess, &m->r, &is_write);
    dispatch_req_free(&m->r);
    /* It ran outside a batch: its answer, like a batch's, only once all it
     * wrote or saw is on disk (a short wait on the loop; consoles are few). */
    err_t err;
    err_clear(&err);
    if (engine_sync(s->e, &err) != 0) {
        json_decref(resp);
        resp = error_response(NULL, "internal", err.message);
    }
    release_durable(s);
    console_reply(s, m, resp);
}

static void console_judged(conn *c)
{
    console_msg *m = c->console_call;
    c->console_call = NULL;
    if (m) console_run(c->srv, m);
}

/* A console request: its PINs (corder.login's, an approval's) go to the
 * workers like any client's, and it runs when all are judged. */
static void console_call(server *s, console_msg *m)
{
    conn *c = m->c;
    dispatch_parse_value(&m->r, m->req);
    json_decref(m->req);
    m->req = NULL;
    dispatch_req_pins(&m->r, m->sess);
    int queued = 0;
    for (int i = 0; i < m->r.npins; i++) {
        auth_pin *p = &m->r.pins[i];
        auth_staff st;
        err_t err;
        err_clear(&err);
        if (p->verdict || auth_locked(s->e, p->staff, NULL) ||
            auth_lookup(s->e, p->staff, &st, &err) != 0)
            continue; /* dispatch refuses it, unhashed */
        if (auth_cached(s->e, p->staff, st.hash, p->pin)) {
            p->verdict = 1;
        } else {
            auth_enqueue(c, p, st.hash);
            queued++;
        }
        sodium_memzero(&st, sizeof st);
    }
    if (queued == 0) {
        console_run(s, m);
        return;
    }
    c->console_call = m;
    c->admin_wait = true;
    c->waiting += queued;
}

/* A chunk ended on its thread: its answer goes out, the connection reads on. */
static void console_done(server *s, console_msg *m)
{
    conn *c = m->c;
    c->console_busy = false;
    if (!c->dead) {
        admin_answer(c, c->admin_id, admin_result(c->admin_id, m->resp));
        conn_pump(c);
        conn_maybe_close(c);
    } else {
        json_decref(m->resp);
    }
    json_decref(c->admin_id);
    c->admin_id = NULL;
    conn_unref(c);
    free(m);
}

/* One message; after the loop has ended (console_closed) nothing runs:
 * requests are refused, chunks' ends only let their connections go. */
static void console_handle(server *s, console_msg *m)
{
    bool closed = s->console_closed;
    if (m->kind == CONSOLE_DONE) {
        console_done(s, m);
    } else if (m->kind == CONSOLE_EXEC) {
        if (!closed) m->fn(s, s->e, m->arg);
        pthread_mutex_lock(&s->cmu);
        m->ran = !closed;
        m->done = true;
        pthread_cond_broadcast(&s->ccv);
        pthread_mutex_unlock(&s->cmu);
    } else if (closed) {
        json_decref(m->req);
        m->req = NULL;
        console_reply(s, m, error_response(NULL, "internal", "the server is stopping"));
    } else {
        console_call(s, m);
    }
}

static console_msg *console_take(server *s)
{
    pthread_mutex_lock(&s->cmu);
    console_msg *m = s->cq_head;
    s->cq_head = s->cq_tail = NULL;
    pthread_mutex_unlock(&s->cmu);
    return m;
}

static void console_cb(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    for (console_msg *m = console_take(s), *next; m; m = next) {
        next = m->next;
        console_handle(s, m);
    }
}

/* Queues m for the loop; false (nothing queued) once the loop is gone. */
static bool console_post(server *s, console_msg *m)
{
    pthread_mutex_lock(&s->cmu);
    bool open = !s->console_closed || m->kind == CONSOLE_DONE;
    if (open) {
        m->next = NULL;
        if (s->cq_tail)
            s->cq_tail->next = m;
        else
            s->cq_head = m;
        s->cq_tail = m;
        pthread_cond_broadcast(&s->ccv); /* server_free may be waiting for it */
    }
    pthread_mutex_unlock(&s->cmu);
    if (open && s->console_ev) event_active(s->console_ev, 0, 0);
    return open;
}

static void console_wait(server *s, console_msg *m)
{
    pthread_mutex_lock(&s->cmu);
    while (!m->done)
        pthread_cond_wait(&s->ccv, &s->cmu);
    pthread_mutex_unlock(&s->cmu);
}

json_t *server_console_call(server *s, void *token, session *sess, json_t *req)
{
    console_msg m = {.kind = CONSOLE_CALL, .c = token, .sess = sess, .req = req};
    if (!console_post(s, &m)) {
        json_decref(req);
        return error_response(NULL, "internal", "the server is stopping");
    }
    console_wait(s, &m);
    return m.resp;
}

bool server_console_exec(server *s, void (*fn)(server *, engine *, void *), void *arg)
{
    console_msg m = {.kind = CONSOLE_EXEC, .fn = fn, .arg = arg};
    if (!console_post(s, &m)) return false;
    console_wait(s, &m);
    return m.ran;
}

void server_console_done(server *s, void *token, json_t *result)
{
    console_msg *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->kind = CONSOLE_DONE;
    m->c = token;
    m->resp = result;
    console_post(s, m);
}

void server_console_gone(server *s)
{
    pthread_mutex_lock(&s->cmu);
    s->consoles--;
    pthread_cond_broadcast(&s->ccv);
    pthread_mutex_unlock(&s->cmu);
}

/* At the end (server_free): no more requests run; waits for every console
 * thread to finish its chunk (its budget bounds it) and go. */
static void console_shutdown(server *s)
{
    pthread_mutex_lock(&s->cmu);
    s->console_closed = true;
    for (;;) {
        console_msg *m = s->cq_head;
        s->cq_head = s->cq_tail = NULL;
        if (m) {
            pthread_mutex_unlock(&s->cmu);
            for (console_msg *next; m; m = next) {
                next = m->next;
                console_handle(s, m);
            }
            pthread_mutex_lock(&s->cmu);
            continue;
        }
        if (s->consoles == 0) break;
        pthread_cond_wait(&s->ccv, &s->cmu);
    }
    pthread_mutex_unlock(&s->cmu);
}

/* The connection's evaluator, its thread started: counted until the
 * thread says it is gone (server_console_gone). */
static void *console_open(server *s, conn *c, err_t *err)
{
    pthread_mutex_lock(&s->cmu);
    s->consoles++;
    pthread_mutex_unlock(&s->cmu);
    void *st = s->admin.open(s, s->e, c, err);
    if (!st) server_console_gone(s);
    return st;
}

/* Takes the request if it is admin.eval (true), else leaves it to
 * dispatch. The chunk goes to the connection's console thread; the
 * connection takes no more lines until its answer is out. */
static bool admin_req(conn *c, dispatch_req *r)
{
    if (!r->root || !json_is_object(r->root) || !json_is_string(json_object_get(r->root, "op")) ||
        strcmp(json_string_value(json_object_get(r->root, "op")), "admin.eval"))
        return false;
    server *s = c->srv;
    json_t *id = r->id ? json_incref(r->id) : NULL;
    json_t *chunk = json_object_get(json_object_get(r->root, "args"), "lua");
    json_t *resp = NULL;
    err_t err;
    err_clear(&err);
    if (s->batch_n || engine_in_txn(s->e)) batch_commit(s);
    if (!json_is_string(chunk)) {
        resp = error_response(id, "bad_request", "admin.eval wants args.lua, a string");
    } else if (!s->admin.eval) {
        resp = error_response(id, "unknown_op", "no evaluator in this build");
    } else if (!c->admin_state && !(c->admin_state = console_open(s, c, &err))) {
        resp = error_response(id, "internal", err.message);
    } else {
        c->console_busy = true;
        c->refs++; /* till the chunk's end comes back (console_done) */
        c->admin_id = id;
        s->admin.eval(c->admin_state, json_string_value(chunk), json_string_length(chunk));
        req_free(r);
        return true;
    }
    req_free(r);
    admin_answer(c, id, resp);
    json_decref(id);
    return true;
}

static void stats_batch(server *s, int n)
{
    if (n <= 0) return;
    int b = 0;
    while (b < SERVER_BATCH_BUCKETS && n > server_batch_bounds[b])
        b++;
    s->st.m.batch_hist[b]++;
    s->st.m.batch_sum += (uint64_t)n;
    s->st.m.batches++;
    s->st.batches++;
    s->st.batched += (uint64_t)n;
    if ((uint64_t)n > s->st.batch_max) s->st.batch_max = (uint64_t)n;
    s->st.batch_hist[n == 1 ? 0 : n <= 8 ? 1 : n <= 64 ? 2 : n <= 256 ? 3 : 4]++;
}

json_t *server_stats(const server *s)
{
    size_t unsent = 0;
    int paused = 0;
    for (conn *c = s->conns; c; c = c->next) {
        unsent += conn_out_len(c);
        paused += c->paused;
    }
    const uint64_t *h = s->st.batch_hist;
    json_t *o = json_pack(
        "{s:{s:i,s:I,s:I}, s:{s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I}},"
        " s:{s:i,s:i,s:I,s:i}}",
        "connections", "open", s->st.open, "accepted", (json_int_t)s->st.accepted, "admin",
        (json_int_t)s->st.admin_accepted, "commits", "batches", (json_int_t)s->st.batches,
        "requests", (json_int_t)s->st.batched, "max", (json_int_t)s->st.batch_max, "sizes", "1",
        (json_int_t)h[0], "2-8", (json_int_t)h[1], "9-64", (json_int_t)h[2], "65-256",
        (json_int_t)h[3], "257+", (json_int_t)h[4], "queue", "held", s->batch_n + s->sync_held,
        "pin_checks", s->jobs_out, "unsent_bytes", (json_int_t)unsent, "paused", paused);
    json_t *c = json_object_get(o, "connections");
    json_object_set_new(c, "refused", json_integer((json_int_t)s->st.refused));
    json_object_set_new(c, "timed_out", json_integer((json_int_t)s->st.timed_out));
    json_object_set_new(c, "evicted", json_integer((json_int_t)s->st.evicted));
    json_object_set_new(c, "slowed", json_integer((json_int_t)s->st.slowed));
    json_object_set_new(c, "unauth_bytes", json_integer((json_int_t)s->unauth_in));
    return o;
}

/* ---- requests from inside the process (the HTTP page) ---- */

const double server_commit_bounds[SERVER_COMMIT_BUCKETS] = {0.0005, 0.001, 0.002, 0.005, 0.01,
                                                            0.025,  0.05,  0.1,   0.25,  1.0};
const int server_batch_bounds[SERVER_BATCH_BUCKETS] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

int server_submit(server *s, const struct sockaddr *peer, const session *sess, json_t *req,
                  server_done_fn done, void *arg)
{
    if (s->stopping) return -1;
    conn *c = calloc(1, sizeof *c);
    dispatch_req *r = calloc(1, sizeof *r);
    if (!c || !r) abort();
    c->srv = s;
    c->refs = 1;
    c->done = done;
    c->done_arg = arg;
    c->sess = *sess;
    c->addr = -1;
    /* The same slow-down table as the protocol's connections: a wrong PIN
     * on the page slows that address down on the TCP port too. */
    if (peer && peer->sa_family == AF_INET) {
        c->addr = 0;
        memcpy(c->addr_key + 12, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    } else if (peer && peer->sa_family == AF_INET6) {
        c->addr = 0;
        memcpy(c->addr_key, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
    }
    c->accepted_us = c->last_read_us = now_us();
    s->st.submitted++;
    dispatch_parse_value(r, req);
    dispatch_req_pins(r, &c->sess);
    conn_check_pins(c, r);
    conn_unref(c); /* the held answer, a PIN check or a slow-down keeps it */
    return 0;
}

void server_get_metrics(const server *s, server_metrics *out)
{
    *out = s->st.m;
    out->open_connections = s->tcp_open;
    out->admin_connections = s->st.open - s->tcp_open;
    out->accepted = s->st.accepted;
    out->refused = s->st.refused;
    out->evicted = s->st.evicted;
    out->timed_out = s->st.timed_out;
    out->slowed = s->st.slowed;
    out->pin_checks = s->jobs_out;
    out->held = s->batch_n + s->sync_held;
}

/* server.c: the TCP server: framing, group commit, PIN checks off the loop.
 *
 * ONE WRITER, MANY REQUESTS PER COMMIT
 *
 * Everything runs on one libevent loop that owns the engine and its single
 * SQLite connection. A mutating request may only be answered once it is
 * durable (WAL, synchronous=FULL: the COMMIT fsyncs), and one fsync per
 * request would cap the server at a few thousand writes a second. So the
 * server batches, the way Tarantool's WAL writer and every group-commit
 * database does:
 *
 *   1. The first request of a batch opens the outer transaction
 *      (engine_begin). Every request, read or write, from any connection,
 *      is dispatched as soon as its line is read; dispatch_line runs it in
 *      its own SAVEPOINT, so a failed request rolls back alone.
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
 *
 * Order per connection: lines are taken from a connection's input in order
 * and its answers are released in order. A connection whose request carries
 * a PIN (session.login, approvals) that is not in the engine's cache stops
 * taking lines until a worker thread has verified the PIN (crypto_pwhash is
 * slow by design, ~0.1 s); meanwhile the other connections are served. The
 * verified PIN is cached (auth_remember) so dispatch's own check is fast. A
 * wrong PIN is not remembered here: dispatch checks it again and counts the
 * failure once (remembering it here as well would count it twice toward the
 * lockout).
 *
 * Back-pressure: a connection with more than out_high bytes of unsent
 * answers is not read (and its buffered lines not dispatched) until its
 * output has drained. The input side is bounded by the read high-water mark,
 * just over the 1 MiB line cap.
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
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <sodium.h>

#include "auth.h"
#include "dispatch.h"
#include "jsonw.h"
#include "server.h"

#define SERVER_DRAIN_S 5 /* how long shutdown waits for slow readers */

typedef struct conn conn;

/* A response held until the batch that produced it commits. conn NULL: an
 * internal request (the sync timer); its answer is only logged. */
typedef struct held {
    struct held *next;
    conn *c;
    json_t *resp; /* the answer as a value, or */
    char *text;   /* as text (dispatch_line_text), with the request's id */
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
    int waiting; /* PIN checks outstanding for wait_line */
    char *wait_line;
    size_t wait_len;
    bool dead;       /* socket closed; the struct lives until refs drop */
    bool eof;        /* the peer sent everything it will send */
    bool closing;    /* close once the answers are out (line too long) */
    bool paused;     /* too much unsent output: not reading */
    char *gate_line; /* the line a gate holds (server_gate_release runs it) */
    size_t gate_len;
    bool admin; /* came through the admin socket: may call admin.eval */
    /* the support REPL's evaluator state, opened on the first admin.eval */
    void *admin_state;
};

/* One PIN to verify on a worker thread. */
typedef struct auth_job {
    struct auth_job *next;
    conn *c;
    char staff[64];
    char pin[64];
    char hash[AUTH_HASH_LEN];
    bool ok;
} auth_job;

struct server {
    engine *e;
    server_config cfg;
    struct event_base *base;
    struct evconnlistener *lis, *admin_lis;
    struct event *commit_ev, *done_ev, *poll_ev, *sync_ev, *sigint_ev, *sigterm_ev, *drain_ev,
        *accept_ev;
    char *admin_path;
    conn *conns;
    int port;
    char addr[INET6_ADDRSTRLEN + 16];

    /* the open batch */
    held *head, *tail;
    int batch_n;
    int64_t batch_t0;

    /* PIN verification pool */
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    auth_job *todo, *done;
    bool quit;
    int jobs_out;

    bool stopping;
    int64_t stop_deadline;
    bool sync_unknown;
    server_gate_fn gate; /* the sync module's (sync_gate.c); NULL: none */
    void *gate_arg;

    server_admin_hooks admin; /* the support REPL (bindings); zeroed: none */
    struct {
        uint64_t accepted, admin_accepted, batches, batched, batch_max;
        uint64_t batch_hist[5]; /* sizes 1, 2-8, 9-64, 65-256, more */
        int open;
    } st;
};

static void conn_pump(conn *c);
static void conn_maybe_close(conn *c);
static bool admin_line(conn *c, const char *line, size_t len);
static void stats_batch(server *s, int n);

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static json_t *error_response(json_t *id, const char *code, const char *message)
{
    return json_pack("{s:O?,s:b,s:{s:s,s:s}}", "id", id, "ok", 0, "error", "code", code, "message",
                     message);
}

/* ---- connections ---- */

static void conn_unref(conn *c)
{
    if (--c->refs > 0) return;
    free(c->wait_line);
    free(c->gate_line);
    sodium_memzero(&c->sess, sizeof c->sess);
    free(c);
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
    if (c->admin_state) s->admin.close(c->admin_state);
    c->admin_state = NULL;
    bufferevent_free(c->bev);
    c->bev = NULL;
    conn_unref(c);
}

static size_t conn_out_len(conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Done when the peer is finished (or the line cap was hit), nothing is held
 * or being verified, and every answer has left. */
static void conn_maybe_close(conn *c)
{
    if (c->dead || !(c->eof || c->closing)) return;
    if (c->waiting || c->held || conn_out_len(c)) return;
    if (!c->closing &&
        evbuffer_search_eol(bufferevent_get_input(c->bev), NULL, NULL, EVBUFFER_EOL_LF).pos >= 0)
        return;
    conn_close(c);
}

/* ---- the batch ---- */

static held *batch_hold(server *s, conn *c, json_t *resp, bool is_write)
{
    held *h = calloc(1, sizeof *h);
    if (!h) abort();
    h->c = c;
    h->resp = resp;
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
        event_active(s->commit_ev, 0, 0);
    }
    return h;
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

static void held_release(server *s, held *h)
{
    conn *c = h->c;
    if (!c) {
        json_t *r = h->resp ? json_incref(h->resp) : json_loadb(h->text, h->len, 0, NULL);
        held_log(s, r);
        json_decref(r);
    } else {
        c->held--;
        if (!c->dead) {
            size_t n = h->len;
            char *text = h->text ? h->text : jsonw_dumps(h->resp, &n);
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
            if (!c->paused && conn_out_len(c) > s->cfg.out_high) {
                c->paused = true;
                bufferevent_disable(c->bev, EV_READ);
            }
        }
        conn_unref(c);
    }
    json_decref(h->resp);
    json_decref(h->id);
    free(h->text);
    free(h);
}

/* Commits the open transaction once for the whole batch, then releases
 * every held answer in order (an `internal` error for writes if the commit
 * failed). */
static void batch_commit(server *s)
{
    err_t err;
    err_clear(&err);
    bool failed = false;
    if (engine_in_txn(s->e) && engine_commit(s->e, &err) != 0) {
        failed = true;
        if (engine_in_txn(s->e)) engine_rollback(s->e);
        fprintf(stderr, "corder: commit failed: %s\n", err.message);
    }
    held *h = s->head;
    s->head = s->tail = NULL;
    stats_batch(s, s->batch_n);
    s->batch_n = 0;
    bool tainted = false;
    while (h) {
        held *next = h->next;
        if (failed && (h->is_write || tainted)) {
            tainted = true;
            json_t *r = error_response(h->text ? h->id : json_object_get(h->resp, "id"), "internal",
                                       "commit failed; the request was not kept");
            json_decref(h->resp);
            free(h->text);
            h->text = NULL;
            h->resp = r ? r : json_object();
        }
        held_release(s, h);
        h = next;
    }
}

static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    if (s->batch_n || engine_in_txn(s->e)) batch_commit(s);
}

/* Dispatches one request line inside the batch's transaction. */
static void run_line(server *s, conn *c, session *sess, const char *line, size_t len)
{
    err_t err;
    err_clear(&err);
    bool is_write = false;
    if (!engine_in_txn(s->e) && engine_begin(s->e, &err) != 0) {
        fprintf(stderr, "corder: begin failed: %s\n", err.message);
        batch_hold(s, c, error_response(NULL, "internal", "could not open a transaction"), false);
    } else {
        size_t n;
        json_t *id;
        char *text = dispatch_line_text(s->e, sess, line, len, &is_write, &n, &id);
        if (!text) {
            batch_hold(s, c, error_response(id, "internal", "out of memory"), is_write);
            json_decref(id);
        } else {
            held *h = batch_hold(s, c, NULL, is_write);
            h->text = text;
            h->len = n;
            h->id = id;
        }
    }
    if (s->batch_n >= s->cfg.batch_max || now_us() - s->batch_t0 >= s->cfg.batch_usec)
        batch_commit(s);
}

/* ---- gates: a line that must wait for I/O before it runs ----
 * The gate (the sync module) may take a line whose PINs are known, e.g. a
 * sync-mode order.create that must ask HQ first. The connection then takes
 * no more lines, exactly as during a PIN check, so its answers stay in
 * request order while every other connection is served. */

static void conn_ready(conn *c, const char *line, size_t len)
{
    server *s = c->srv;
    if (s->gate && !c->dead) {
        c->gate_line = malloc(len ? len : 1);
        if (!c->gate_line) abort();
        memcpy(c->gate_line, line, len);
        c->gate_len = len;
        c->waiting++;
        c->refs++;
        if (s->gate(s->gate_arg, (server_wait *)c, &c->sess, line, len)) return;
        free(c->gate_line);
        c->gate_line = NULL;
        c->waiting--;
        c->refs--;
    }
    run_line(s, c, &c->sess, line, len);
}

void server_gate_release(server_wait *w)
{
    conn *c = (conn *)w;
    char *line = c->gate_line;
    c->gate_line = NULL;
    /* Run even when the client has gone: HQ may already have acted. */
    run_line(c->srv, c, &c->sess, line, c->gate_len);
    free(line);
    if (--c->waiting == 0 && !c->dead) {
        conn_pump(c);
        conn_maybe_close(c);
    }
    conn_unref(c);
}

void server_wait_peer(server_wait *w, char *out, size_t n)
{
    conn *c = (conn *)w;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "";
    if (!c->dead && getpeername(bufferevent_getfd(c->bev), (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
        else if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
    }
    snprintf(out, n, "%s", host);
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
    sqlite3_stmt *sp = engine_stmt(s->e, "SAVEPOINT srv_write", err);
    if (!sp || sqlite3_step(sp) != SQLITE_DONE) return engine_sqlerr(s->e, err, "savepoint");
    int rc = fn(s->e, arg, err);
    sqlite3_stmt *end;
    if (rc != 0 && (end = engine_stmt(s->e, "ROLLBACK TO srv_write", err))) sqlite3_step(end);
    if ((end = engine_stmt(s->e, "RELEASE srv_write", err))) sqlite3_step(end);
    event_active(s->commit_ev, 0, 0); /* commits with the open batch, or alone */
    return rc;
}

/* ---- PIN checks off the loop ---- */

static void *auth_worker(void *arg)
{
    server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->todo && !s->quit)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit) break;
        auth_job *j = s->todo;
        s->todo = j->next;
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

static void auth_job_finish(server *s, auth_job *j)
{
    conn *c = j->c;
    auth_remember(s->e, j->staff, j->hash, j->pin, j->ok);
    sodium_memzero(j->pin, sizeof j->pin);
    s->jobs_out--;
    if (--c->waiting == 0 && !c->dead) {
        char *line = c->wait_line;
        c->wait_line = NULL;
        conn_ready(c, line, c->wait_len);
        free(line);
        conn_pump(c);
        conn_maybe_close(c);
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

static bool may_carry_pin(const char *line, size_t len)
{
    return memmem(line, len, "pin", 3) != NULL || memmem(line, len, "\\u", 2) != NULL;
}

/* Queues a worker check for every PIN of the request that is neither cached
 * nor hopeless (unknown staff, locked out: dispatch answers those fast).
 * Returns how many were queued. */
static int auth_queue(server *s, conn *c, const char *line, size_t len)
{
    if (!may_carry_pin(line, len)) return 0;
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(req)) {
        json_decref(req);
        return 0;
    }
    const char *op = json_string_value(json_object_get(req, "op"));
    json_t *args = json_object_get(req, "args");
    json_t *empty = json_object();
    json_t *pins = op ? auth_pins_in_request(op, json_is_object(args) ? args : empty) : NULL;
    int n = 0;
    size_t i;
    json_t *pair;
    json_array_foreach(pins, i, pair)
    {
        const char *staff = json_string_value(json_array_get(pair, 0));
        const char *pin = json_string_value(json_array_get(pair, 1));
        if (!staff || !pin || strlen(staff) >= 64 || strlen(pin) >= 64) continue;
        int left;
        if (auth_locked(s->e, staff, &left)) continue;
        auth_staff st;
        err_t err;
        err_clear(&err);
        if (auth_lookup(s->e, staff, &st, &err) != 0) continue;
        if (auth_cached(s->e, staff, st.hash, pin) != 0) continue;
        auth_job *j = calloc(1, sizeof *j);
        if (!j) abort();
        j->c = c;
        snprintf(j->staff, sizeof j->staff, "%s", staff);
        snprintf(j->pin, sizeof j->pin, "%s", pin);
        memcpy(j->hash, st.hash, sizeof j->hash);
        c->refs++;
        s->jobs_out++;
        n++;
        pthread_mutex_lock(&s->mu);
        j->next = s->todo;
        s->todo = j;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    json_decref(pins);
    json_decref(empty);
    json_decref(req);
    return n;
}

/* ---- framing ---- */

static void conn_line(conn *c, const char *line, size_t len)
{
    server *s = c->srv;
    if (c->admin && admin_line(c, line, len)) return;
    int n = auth_queue(s, c, line, len);
    if (n == 0) {
        conn_ready(c, line, len);
        return;
    }
    c->waiting = n;
    c->wait_line = malloc(len ? len : 1);
    if (!c->wait_line) abort();
    memcpy(c->wait_line, line, len);
    c->wait_len = len;
}

static void conn_too_long(conn *c)
{
    char msg[96];
    snprintf(msg, sizeof msg, "line longer than %d bytes", DISPATCH_MAX_LINE);
    batch_hold(c->srv, c, error_response(NULL, "bad_request", msg), false);
    c->closing = true;
    bufferevent_disable(c->bev, EV_READ);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

/* Takes complete lines from the input while the connection may proceed. */
static void conn_pump(conn *c)
{
    while (!c->dead && !c->closing && !c->waiting && !c->paused) {
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

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    conn_pump(c);
    conn_maybe_close(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    if (c->paused) {
        c->paused = false;
        if (!c->srv->stopping && !c->closing && !c->eof) bufferevent_enable(bev, EV_READ);
        conn_pump(c);
    }
    conn_maybe_close(c);
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

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    server *s = arg;
    if (sa->sa_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev = c ? bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (!bev) {
        free(c);
        evutil_closesocket(fd);
        return;
    }
    c->srv = s;
    c->bev = bev;
    c->refs = 1;
    c->admin = l == s->admin_lis;
    s->st.accepted++;
    s->st.admin_accepted += c->admin;
    s->st.open++;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_setwatermark(bev, EV_READ, 0, DISPATCH_MAX_LINE + 4096);
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
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
    if (s->jobs_out || s->batch_n || engine_in_txn(s->e)) return false;
    for (conn *c = s->conns; c; c = c->next)
        if (c->waiting || c->held || conn_out_len(c)) return false;
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
    s->stopping = true;
    s->stop_deadline = now_us() + (int64_t)SERVER_DRAIN_S * 1000000;
    if (s->lis) evconnlistener_free(s->lis);
    if (s->admin_lis) evconnlistener_free(s->admin_lis);
    s->lis = s->admin_lis = NULL;
    for (conn *c = s->conns; c; c = c->next)
        bufferevent_disable(c->bev, EV_READ);
    struct timeval tv = {0, 10000};
    event_add(s->drain_ev, &tv);
}

/* ---- setup ---- */

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
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
    s->sigint_ev = evsignal_new(s->base, SIGINT, signal_cb, s);
    s->sigterm_ev = evsignal_new(s->base, SIGTERM, signal_cb, s);
    if (!s->commit_ev || !s->done_ev || !s->poll_ev || !s->drain_ev || !s->accept_ev ||
        !s->sigint_ev || !s->sigterm_ev)
        return err_set(err, ERR_INTERNAL, "cannot create events");
    struct timeval quarter = {0, 250000};
    event_add(s->poll_ev, &quarter);
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
    if (!s->cfg.listen) s->cfg.listen = "127.0.0.1:7420";
    if (s->cfg.batch_max <= 0) s->cfg.batch_max = 512;
    if (s->cfg.batch_usec <= 0) s->cfg.batch_usec = 2000;
    if (s->cfg.auth_threads <= 0) s->cfg.auth_threads = 2;
    if (!s->cfg.out_high) s->cfg.out_high = 4u << 20;
    s->cfg.admin_socket = NULL; /* server_admin_listen keeps its own copy */

    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    struct sockaddr_storage ss;
    int sslen = 0;
    if (evthread_use_pthreads() != 0) {
        err_set(err, ERR_INTERNAL, "libevent has no thread support");
        goto fail;
    }
    s->base = event_base_new();
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
    s->todo = s->done = NULL;
    for (int k = 0; k < 2; k++)
        for (auth_job *j = lists[k], *next; j; j = next) {
            next = j->next;
            j->c->waiting--;
            conn_unref(j->c);
            free(j);
        }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

void server_free(server *s)
{
    if (!s) return;
    if (s->batch_n || (s->e && engine_in_txn(s->e))) batch_commit(s);
    while (s->conns)
        conn_close(s->conns);
    stop_workers(s);
    if (s->lis) evconnlistener_free(s->lis);
    if (s->admin_lis) evconnlistener_free(s->admin_lis);
    if (s->admin_path) {
        unlink(s->admin_path);
        free(s->admin_path);
    }
    struct event *evs[] = {s->commit_ev, s->done_ev,    s->poll_ev,  s->sync_ev,
                           s->sigint_ev, s->sigterm_ev, s->drain_ev, s->accept_ev};
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
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return err_set(err, ERR_INTERNAL, "admin socket %s exists and is not a socket", path);
        unlink(path); /* left over by a crash */
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
    return 0;
}

/* ---- the support REPL: admin.eval on admin connections ---- */

void server_set_admin(server *s, const server_admin_hooks *hooks)
{
    s->admin = *hooks;
}

/* Takes the line if it is an admin.eval request (true), else leaves it to
 * dispatch. The open batch is committed first: the chunk's own writes then
 * commit one by one inside dispatch, and every earlier answer of this
 * connection goes out before this one. */
static bool admin_line(conn *c, const char *line, size_t len)
{
    if (!memmem(line, len, "admin.eval", 10)) return false;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    const char *op = json_string_value(json_object_get(req, "op"));
    if (!op || strcmp(op, "admin.eval")) {
        json_decref(req);
        return false;
    }
    server *s = c->srv;
    json_t *id = json_object_get(req, "id");
    json_t *chunk = json_object_get(json_object_get(req, "args"), "lua");
    json_t *resp = NULL;
    err_t err;
    err_clear(&err);
    if (s->batch_n || engine_in_txn(s->e)) batch_commit(s);
    if (!json_is_string(chunk)) {
        resp = error_response(id, "bad_request", "admin.eval wants args.lua, a string");
    } else if (!s->admin.eval) {
        resp = error_response(id, "unknown_op", "no evaluator in this build");
    } else if (!c->admin_state && !(c->admin_state = s->admin.open(s, s->e, &err))) {
        resp = error_response(id, "internal", err.message);
    } else {
        json_t *r =
            s->admin.eval(c->admin_state, json_string_value(chunk), json_string_length(chunk));
        resp = r ? json_pack("{s:O?,s:b,s:o}", "id", id, "ok", 1, "result", r)
                 : error_response(id, "internal", "the evaluator failed");
    }
    json_decref(req);
    held *h = calloc(1, sizeof *h); /* released at once: nothing to wait for */
    if (!h) abort();
    h->c = c;
    h->resp = resp ? resp : error_response(NULL, "internal", "no response");
    c->refs++;
    c->held++;
    held_release(s, h);
    return true;
}

static void stats_batch(server *s, int n)
{
    if (n <= 0) return;
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
    return json_pack("{s:{s:i,s:I,s:I}, s:{s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I}},"
                     " s:{s:i,s:i,s:I,s:i}}",
                     "connections", "open", s->st.open, "accepted", (json_int_t)s->st.accepted,
                     "admin", (json_int_t)s->st.admin_accepted, "commits", "batches",
                     (json_int_t)s->st.batches, "requests", (json_int_t)s->st.batched, "max",
                     (json_int_t)s->st.batch_max, "sizes", "1", (json_int_t)h[0], "2-8",
                     (json_int_t)h[1], "9-64", (json_int_t)h[2], "65-256", (json_int_t)h[3], "257+",
                     (json_int_t)h[4], "queue", "held", s->batch_n, "pin_checks", s->jobs_out,
                     "unsent_bytes", (json_int_t)unsent, "paused", paused);
}

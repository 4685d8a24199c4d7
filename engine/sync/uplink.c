/* uplink.c: the store's JSON-lines client to HQ (see uplink.h).
 *
 * Calls wait in a FIFO in the order they were written; HQ answers each
 * connection in request order, so the head of the FIFO owns the next line
 * read. A 100 ms tick checks the head's deadline only: every later call was
 * sent later and can only be answered after it, so when the head is late
 * the connection is given up as a whole (a late answer could never be
 * matched safely anyway). An answer with id null (HQ could not read the
 * line: too long, not JSON) belongs to the head as well. Failures are reported from a zero-delay
 * event, never from inside uplink_call, so callers need not be reentrant. */
#include "sync/uplink.h"
#include "model/text.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "net/tls.h"

#define UPLINK_MAX_LINE (64u << 20)
#define UPLINK_MAX_ADDRS 16

/* One address HQ may be reached at, with the name its certificate must
 * carry. */
typedef struct {
    struct sockaddr_storage sa;
    int len;
    char host[128];
    char hostport[160];
} hq_addr;

typedef struct call {
    struct call *next;
    json_int_t id;
    uplink_cb cb; /* NULL: the sign-in the uplink sent itself */
    void *arg;
    int64_t deadline_us;
} call;

struct uplink {
    struct event_base *base;
    hq_addr addrs[UPLINK_MAX_ADDRS];
    int naddrs, cur;
    struct ssl_ctx_st *tls;
    bool connected;
    char token[256];
    struct bufferevent *bev;
    call *head, *tail;
    json_int_t next_id;
    char store[32]; /* signed in for */
    struct event *tick, *fail_ev;
    char fail_msg[256];
    call *failed; /* calls to fail from fail_ev */
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void fail_cb(evutil_socket_t fd, short what, void *arg)
{
    uplink *u = arg;
    call *c = u->failed;
    u->failed = NULL;
    char msg[256];
    text_copy(msg, sizeof msg, u->fail_msg);
    while (c) {
        call *next = c->next;
        if (c->cb) c->cb(c->arg, NULL, msg);
        free(c);
        c = next;
    }
}

/* Drops the connection; every outstanding call fails with msg (soon). */
static void uplink_drop(uplink *u, const char *msg)
{
    char tls_why[256] = "";
    if (u->bev && u->tls) tls_error(u->bev, tls_why, sizeof tls_why);
    if (u->bev) bufferevent_free(u->bev);
    u->bev = NULL;
    u->store[0] = '\0';
    u->connected = false;
    const char *where = u->addrs[u->cur].hostport;
    /* The next connection tries the next HQ address (SPEC C1). */
    u->cur = (u->cur + 1) % u->naddrs;
    if (!u->head) return;
    snprintf(u->fail_msg, sizeof u->fail_msg, "HQ %s: %s", where, *tls_why ? tls_why : msg);
    call **end = &u->failed;
    while (*end)
        end = &(*end)->next;
    *end = u->head;
    u->head = u->tail = NULL;
    event_active(u->fail_ev, 0, 0);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    uplink *u = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t n;
    while (u->bev && (line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF))) {
        json_t *resp = json_loadb(line, n, 0, NULL);
        free(line);
        call *c = u->head;
        /* id null: HQ could not read the head's line (too long, say); the
         * answer is still the head's, in order, and says why. */
        json_t *id = json_object_get(resp, "id");
        bool unread = json_is_null(id) && json_is_false(json_object_get(resp, "ok"));
        if (!resp || !c || (!unread && json_integer_value(id) != c->id)) {
            json_decref(resp);
            uplink_drop(u, "unexpected answer");
            return;
        }
        u->head = c->next;
        if (!u->head) u->tail = NULL;
        if (!c->cb && !json_is_true(json_object_get(resp, "ok"))) {
            /* The sign-in failed (a wrong or revoked token): say so, and
             * fail what was sent behind it with that reason rather than
             * with HQ's "sign in first". */
            json_t *e = json_object_get(resp, "error");
            char msg[320];
            snprintf(msg, sizeof msg, "HQ refused this store's sign-in: %s: %s",
                     json_string_value(json_object_get(e, "code")) ?: "error",
                     json_string_value(json_object_get(e, "message")) ?: "");
            u->store[0] = '\0';
            json_decref(resp);
            free(c);
            uplink_drop(u, msg);
            return;
        }
        if (c->cb) c->cb(c->arg, resp, NULL);
        json_decref(resp);
        free(c);
    }
    if (u->bev && evbuffer_get_length(in) > UPLINK_MAX_LINE) uplink_drop(u, "answer too long");
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    uplink *u = arg;
    if (what & BEV_EVENT_CONNECTED) {
        u->connected = true;
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        char msg[128];
        text_copy(msg, sizeof msg, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        uplink_drop(u, msg);
    } else if (what & BEV_EVENT_EOF) {
        uplink_drop(u, "connection closed");
    }
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    uplink *u = arg;
    if (u->head && now_us() > u->head->deadline_us) uplink_drop(u, "no answer in time");
}

/* Every address hostport's name resolves to, appended to u->addrs. */
static int resolve(uplink *u, const char *hostport, err_t *err)
{
    const char *colon = strrchr(hostport, ':');
    char host[128];
    if (!colon || (size_t)(colon - hostport) >= sizeof host || strlen(hostport) >= 160)
        return err_set(err, ERR_BAD_REQUEST, "bad HQ address '%s'", hostport);
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
    char *h = host;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(*h ? h : "127.0.0.1", colon + 1, &hints, &res);
    if (rc != 0 || !res)
        return err_set(err, ERR_INTERNAL, "cannot resolve HQ '%s': %s", hostport, gai_strerror(rc));
    for (struct addrinfo *ai = res; ai && u->naddrs < UPLINK_MAX_ADDRS; ai = ai->ai_next) {
        hq_addr *a = &u->addrs[u->naddrs++];
        memcpy(&a->sa, ai->ai_addr, ai->ai_addrlen);
        a->len = (int)ai->ai_addrlen;
        text_copy(a->host, sizeof a->host, *h ? h : "127.0.0.1");
        text_copy(a->hostport, sizeof a->hostport, hostport);
    }
    freeaddrinfo(res);
    return 0;
}

static int resolve_all(uplink *u, const char *hostports, err_t *err)
{
    char buf[1024];
    if (strlen(hostports) >= sizeof buf)
        return err_set(err, ERR_BAD_REQUEST, "HQ addresses too long");
    text_copy(buf, sizeof buf, hostports);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (resolve(u, tok, err) < 0) return -1;
    return u->naddrs ? 0 : err_set(err, ERR_BAD_REQUEST, "no HQ address in '%s'", hostports);
}

uplink *uplink_new(struct event_base *base, const char *hostports, const char *token,
                   const char *ca_file, err_t *err)
{
    uplink *u = calloc(1, sizeof *u);
    if (!u) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    u->base = base;
    text_copy(u->token, sizeof u->token, token ? token : "");
    u->tick = event_new(base, -1, EV_PERSIST, tick_cb, u);
    u->fail_ev = event_new(base, -1, 0, fail_cb, u);
    struct timeval tv = {0, 100000};
    if (resolve_all(u, hostports, err) < 0 ||
        (ca_file && !(u->tls = tls_client_ctx(ca_file, err))) || !u->tick || !u->fail_ev ||
        event_add(u->tick, &tv) < 0) {
        if (!err->code) err_set(err, ERR_INTERNAL, "cannot create the HQ client");
        uplink_free(u);
        return NULL;
    }
    return u;
}

void uplink_free(uplink *u)
{
    if (!u) return;
    if (u->bev) bufferevent_free(u->bev);
    call *lists[2] = {u->head, u->failed};
    for (int i = 0; i < 2; i++)
        for (call *c = lists[i], *next; c; c = next) {
            next = c->next;
            free(c);
        }
    if (u->tick) event_free(u->tick);
    if (u->fail_ev) event_free(u->fail_ev);
    if (u->tls) tls_ctx_free(u->tls);
    free(u);
}

static bool ensure_connected(uplink *u)
{
    if (u->bev) return true;
    hq_addr *a = &u->addrs[u->cur];
    if (u->tls) {
        SSL *ssl = tls_client_new(u->tls, a->host);
        u->bev = ssl ? bufferevent_openssl_socket_new(u->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                      BEV_OPT_CLOSE_ON_FREE)
                     : NULL;
        if (!u->bev && ssl) SSL_free(ssl);
        if (u->bev) bufferevent_openssl_set_allow_dirty_shutdown(u->bev, 1);
    } else {
        u->bev = bufferevent_socket_new(u->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!u->bev) return false;
    bufferevent_setcb(u->bev, read_cb, NULL, event_cb, u);
    bufferevent_enable(u->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(u->bev, (struct sockaddr *)&a->sa, a->len) < 0) {
        bufferevent_free(u->bev);
        u->bev = NULL;
        return false;
    }
    return true;
}

static void send_call(uplink *u, const char *op, json_t *args, int timeout_ms, uplink_cb cb,
                      void *arg)
{
    call *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->id = ++u->next_id;
    c->cb = cb;
    c->arg = arg;
    c->deadline_us = now_us() + (int64_t)timeout_ms * 1000;
    json_t *req = json_pack("{s:I, s:s, s:o}", "id", c->id, "op", op, "args", args);
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!text) abort(); /* as the server does: no way to go on without memory */
    if (u->tail)
        u->tail->next = c;
    else
        u->head = c;
    u->tail = c;
    struct evbuffer *out = bufferevent_get_output(u->bev);
    evbuffer_add(out, text, strlen(text));
    evbuffer_add(out, "\n", 1);
    free(text);
}

void uplink_call(uplink *u, const char *store, const char *op, json_t *args, int timeout_ms,
                 uplink_cb cb, void *arg)
{
    if (!ensure_connected(u)) {
        call *c = calloc(1, sizeof *c);
        if (!c) abort();
        c->cb = cb;
        c->arg = arg;
        json_decref(args);
        u->head = u->tail = c;
        uplink_drop(u, "cannot connect");
        return;
    }
    if (strcmp(u->store, store)) {
        send_call(u, "session.login_store",
                  json_pack("{s:s, s:s}", "store", store, "token", u->token), timeout_ms, NULL,
                  NULL);
        text_copy(u->store, sizeof u->store, store);
    }
    send_call(u, op, args, timeout_ms, cb, arg);
}

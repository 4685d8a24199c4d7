/* hq_gate.c: `serve --role hq` slows down wrong HQ tokens the way a wrong
 * PIN is slowed down (SPEC A6's rule for sources), without ever blocking
 * the loop.
 *
 * The server shows a gate every request, parsed, before it runs (server.h).
 * This gate looks only at session.login_store: it checks the token itself
 * (hq_token_ok: hashes compared in constant time) and counts wrong tokens
 * in a row per source address. The first GATE_FREE are answered at once;
 * after that each wrong answer is held back GATE_BASE_MS, doubling with
 * every further one, never more than GATE_MAX_MS (2 s) for one answer. A
 * held line waits on a libevent timer and is then released to run as if
 * it had just arrived (dispatch answers `unauthenticated`); meanwhile that
 * connection takes no further lines (answers stay in order) and every
 * other connection is served. A right token is never held and starts its
 * source over; so does GATE_FORGET_S of quiet. Sources are kept in a
 * small table (GATE_SOURCES; the longest quiet one makes room), in memory:
 * a restart forgets them.
 *
 * This bounds guessing to about one try per 2 s per connection after the
 * first few; the real defence is a long random token (32 random bytes, as
 * `openssl rand -hex 32` makes, leave nothing to guess). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "sync/hq.h"
#include "net/server.h"
#include "model/text.h"

#define GATE_FREE 3
#define GATE_BASE_MS 100
#define GATE_MAX_MS 2000
#define GATE_FORGET_S 600
#define GATE_SOURCES 1024

typedef struct {
    char addr[64];
    int fails;
    int64_t last_us;
} source;

typedef struct held {
    struct held *prev, *next;
    hq_gate *g;
    server_wait *w;
    struct event *ev;
} held;

struct hq_gate {
    server *srv;
    source src[GATE_SOURCES];
    int nsrc;
    held *held;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static source *source_of(hq_gate *g, const char *addr, int64_t now)
{
    source *oldest = NULL;
    for (int i = 0; i < g->nsrc; i++) {
        if (!strcmp(g->src[i].addr, addr)) return &g->src[i];
        if (!oldest || g->src[i].last_us < oldest->last_us) oldest = &g->src[i];
    }
    source *s = g->nsrc < GATE_SOURCES ? &g->src[g->nsrc++] : oldest;
    *s = (source){.last_us = now};
    text_copy(s->addr, sizeof s->addr, addr);
    return s;
}

/* How long the answer to the n-th wrong token in a row waits. */
static int delay_ms(int n)
{
    if (n <= GATE_FREE) return 0;
    int64_t ms = GATE_BASE_MS;
    for (int i = GATE_FREE + 1; i < n && ms < GATE_MAX_MS; i++)
        ms *= 2;
    return ms > GATE_MAX_MS ? GATE_MAX_MS : (int)ms;
}

static void unlink_held(held *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        h->g->held = h->next;
    if (h->next) h->next->prev = h->prev;
}

static void release_cb(evutil_socket_t fd, short what, void *arg)
{
    held *h = arg;
    unlink_held(h);
    event_free(h->ev);
    server_wait *w = h->w;
    free(h);
    server_gate_release(w);
}

static bool gate_cb(void *arg, server_wait *w, session *sess, const dispatch_req *req)
{
    hq_gate *g = arg;
    if (req->err.code != ERR_NONE || !dispatch_req_is(req, "session.login_store")) return false;
    json_t *token = json_object_get(req->args, "token");
    if (!json_is_string(token)) return false; /* dispatch refuses it as malformed */
    bool ok = hq_token_ok(json_string_value(token), json_string_length(token));
    char addr[64];
    int64_t now = now_us();
    server_wait_peer(w, addr, sizeof addr);
    source *s = source_of(g, addr, now);
    if (now - s->last_us > (int64_t)GATE_FORGET_S * 1000000) s->fails = 0;
    s->last_us = now;
    if (ok) {
        s->fails = 0;
        return false;
    }
    int ms = delay_ms(++s->fails);
    if (ms == 0) return false;
    held *h = calloc(1, sizeof *h);
    if (!h) abort();
    h->g = g;
    h->w = w;
    h->ev = evtimer_new(server_base(g->srv), release_cb, h);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (!h->ev || evtimer_add(h->ev, &tv) < 0) {
        if (h->ev) event_free(h->ev);
        free(h);
        return false; /* answered at once rather than not at all */
    }
    h->next = g->held;
    if (g->held) g->held->prev = h;
    g->held = h;
    return true;
}

hq_gate *hq_gate_start(server *s, err_t *err)
{
    hq_gate *g = calloc(1, sizeof *g);
    if (!g) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    g->srv = s;
    server_set_gate(s, gate_cb, g);
    return g;
}

/* Lines still held (the loop stopped first) are answered now. */
void hq_gate_stop(hq_gate *g)
{
    if (!g) return;
    server_set_gate(g->srv, NULL, NULL);
    while (g->held) {
        held *h = g->held;
        unlink_held(h);
        event_free(h->ev);
        server_wait *w = h->w;
        free(h);
        server_gate_release(w);
    }
    free(g);
}

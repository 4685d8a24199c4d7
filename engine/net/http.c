/* http.c: the HTTP listener: routing, the sign-in and its session cookie,
 * and the calls the pages make to the server (see http.h).
 *
 * Every page op goes through server_submit as if a connection had sent
 * it: a sign-in's PIN is hashed on the server's worker threads, a wrong
 * one counts toward the persisted per-staff lockout and slows down its
 * source address exactly as on the protocol's port, and reads are answered
 * with the batch they ran in. Nothing here runs SQL but the health probe
 * and the metrics' gauges, and nothing here writes.
 *
 * An attacker's view: evhttp reads with a timeout (a slow client is
 * dropped, and while it dribbles it costs the loop nothing: everything is
 * non-blocking), headers and bodies are capped (a bigger form is refused
 * with 413 before we see it), only GET, HEAD and POST are allowed, the
 * session is 32 random bytes in an HttpOnly, SameSite=Strict cookie with
 * an expiry, the session table is bounded (the oldest session makes room),
 * a POST from another origin is refused (login CSRF), the only redirects
 * go to fixed local paths (no open redirect), and every page says no
 * caching, no framing, no scripts (Content-Security-Policy). */
#include "net/http_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "model/text.h"
#include "net/html.h"
#include "net/http_metrics.h"
#include "store/gauges.h"

#define HTTP_MAX_HEADERS 8192 /* bytes of request line and headers */
#define HTTP_MAX_BODY 4096    /* the sign-in form is a few dozen bytes */
#define HTTP_TIMEOUT_S 10     /* a read or write that makes no progress */
#define HTTP_COOKIE "corder_session"

/* One page request waiting for the server's answers. */
struct http_call {
    http_server *h; /* NULL: the listener went; drop the answer */
    struct evhttp_request *req;
    http_call *prev, *next;
    int step;
    session sess;
    char number[48];
    http_filters f;
    struct evkeyvalq query; /* owns the filters' strings */
    json_t *order, *customer;
};

static int64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

/* ---- answers ---- */

static void send_reply(http_server *h, struct evhttp_request *req, int code, const char *reason,
                       const char *ctype, struct evbuffer *b)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    evhttp_add_header(oh, "Content-Type", ctype);
    evhttp_add_header(oh, "Cache-Control", "no-store");
    evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(oh, "X-Frame-Options", "DENY");
    /* same-origin, not no-referrer: under no-referrer a browser posts the
     * sign-in with "Origin: null", which cross_origin refuses */
    evhttp_add_header(oh, "Referrer-Policy", "same-origin");
    evhttp_add_header(oh, "Content-Security-Policy",
                      "default-src 'none'; style-src 'unsafe-inline'; img-src 'self';"
                      " form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    if (h && code >= 100 && code < 600) h->responses[code / 100]++;
    evhttp_send_reply(req, code, reason, b);
}

static void send_html(http_server *h, struct evhttp_request *req, int code, const char *reason,
                      struct evbuffer *b)
{
    send_reply(h, req, code, reason, "text/html; charset=utf-8", b);
}

static void send_text(http_server *h, struct evhttp_request *req, int code, const char *reason,
                      const char *text)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) return;
    evbuffer_add(b, text, strlen(text));
    send_reply(h, req, code, reason, "text/plain; charset=utf-8", b);
    evbuffer_free(b);
}

/* 303 to a fixed local path: never to anything the request named. */
static void redirect(http_server *h, struct evhttp_request *req, const char *path,
                     const char *cookie)
{
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    evhttp_add_header(oh, "Location", path);
    if (cookie) evhttp_add_header(oh, "Set-Cookie", cookie);
    send_text(h, req, 303, "See Other", "see other\n");
}

/* ---- sessions ---- */

static int sessions_live(const http_server *h)
{
    int n = 0;
    int64_t now = mono_s();
    for (int i = 0; i < HTTP_SESSIONS; i++)
        n += h->sessions[i].used && h->sessions[i].expires > now;
    return n;
}

static const char *cookie_token(struct evhttp_request *req, char out[HTTP_TOKEN_HEX + 1])
{
    const char *c = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
    size_t klen = strlen(HTTP_COOKIE);
    while (c && *c) {
        while (*c == ' ' || *c == ';')
            c++;
        if (!strncmp(c, HTTP_COOKIE, klen) && c[klen] == '=') {
            const char *v = c + klen + 1;
            size_t n = strcspn(v, ";");
            if (n != HTTP_TOKEN_HEX) return NULL;
            memcpy(out, v, n);
            out[n] = 0;
            return out;
        }
        c = strchr(c, ';');
    }
    return NULL;
}

/* The signed-in session the request's cookie names, or NULL. */
static http_session *session_of(http_server *h, struct evhttp_request *req)
{
    char tok[HTTP_TOKEN_HEX + 1];
    if (!cookie_token(req, tok)) return NULL;
    int64_t now = mono_s();
    for (int i = 0; i < HTTP_SESSIONS; i++) {
        http_session *s = &h->sessions[i];
        if (!s->used) continue;
        if (s->expires <= now) { /* expired: forget it */
            sodium_memzero(s, sizeof *s);
            continue;
        }
        if (!sodium_memcmp(s->token, tok, HTTP_TOKEN_HEX)) return s;
    }
    return NULL;
}

/* A new session for sess; the cookie that names it goes into cookie. */
static void session_new(http_server *h, const session *sess, char *cookie, size_t n)
{
    http_session *slot = NULL;
    int64_t now = mono_s();
    for (int i = 0; i < HTTP_SESSIONS && !slot; i++)
        if (!h->sessions[i].used || h->sessions[i].expires <= now) slot = &h->sessions[i];
    for (int i = 0; i < HTTP_SESSIONS && !slot; i++) /* full: the oldest goes */
        if (!slot || h->sessions[i].expires < slot->expires) slot = &h->sessions[i];
    if (!slot) slot = &h->sessions[0];
    unsigned char raw[HTTP_TOKEN_HEX / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_memzero(slot, sizeof *slot);
    sodium_bin2hex(slot->token, sizeof slot->token, raw, sizeof raw);
    slot->used = true;
    slot->sess = *sess;
    slot->expires = now + HTTP_SESSION_TTL;
    snprintf(cookie, n, "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict", HTTP_COOKIE,
             slot->token, HTTP_SESSION_TTL);
}

/* ---- calls to the server ---- */

static http_call *call_new(http_server *h, struct evhttp_request *req)
{
    http_call *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->h = h;
    c->req = req;
    TAILQ_INIT(&c->query);
    c->next = h->calls;
    if (h->calls) h->calls->prev = c;
    h->calls = c;
    return c;
}

static void call_free(http_call *c)
{
    if (c->h) {
        if (c->prev)
            c->prev->next = c->next;
        else
            c->h->calls = c->next;
        if (c->next) c->next->prev = c->prev;
    }
    evhttp_clear_headers(&c->query);
    json_decref(c->order);
    json_decref(c->customer);
    sodium_memzero(&c->sess, sizeof c->sess);
    free(c);
}

/* Sends one request through the server as the call's session; -1 when
 * the server is stopping. */
static int call_submit(http_call *c, json_t *req, server_done_fn done)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
    const struct sockaddr *peer = evcon ? evhttp_connection_get_addr(evcon) : NULL;
    int rc = server_submit(c->h->srv, peer, &c->sess, req, done, c);
    json_decref(req);
    return rc;
}

static json_t *answer_of(const char *text, size_t len)
{
    return text ? json_loadb(text, len, 0, NULL) : NULL;
}

static bool answer_ok(json_t *a)
{
    return a && json_is_true(json_object_get(a, "ok"));
}

static const char *answer_code(json_t *a)
{
    return json_string_value(json_object_get(json_object_get(a, "error"), "code"));
}

static const char *answer_message(json_t *a)
{
    const char *m = json_string_value(json_object_get(json_object_get(a, "error"), "message"));
    return m ? m : "the server could not answer";
}

static void unavailable(http_server *h, struct evhttp_request *req)
{
    send_text(h, req, 503, "Service Unavailable", "the server is stopping\n");
}

/* ---- POST /login ---- */

static void login_done(void *arg, const char *text, size_t len, const session *sess)
{
    http_call *c = arg;
    if (!c->h) { /* the listener went meanwhile */
        call_free(c);
        return;
    }
    json_t *a = answer_of(text, len);
    struct evbuffer *b = evbuffer_new();
    if (answer_ok(a) && sess->signed_in) {
        char cookie[256];
        session_new(c->h, sess, cookie, sizeof cookie);
        c->h->signin_ok++;
        redirect(c->h, c->req, "/orders", cookie);
    } else if (b) {
        c->h->signin_failed++;
        page_signin(b, answer_message(a), evhttp_find_header(&c->query, "store"),
                    evhttp_find_header(&c->query, "staff"));
        send_html(c->h, c->req, 401, "Unauthorized", b);
    }
    if (b) evbuffer_free(b);
    json_decref(a);
    call_free(c);
}

/* Refuses a POST whose Origin is not this host (login CSRF: a page
 * elsewhere cannot sign a browser in here). No Origin (curl, old
 * browsers) is let through: the cookie is SameSite=Strict anyway. */
static bool cross_origin(struct evhttp_request *req)
{
    struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
    const char *site = evhttp_find_header(ih, "Sec-Fetch-Site");
    if (site && strcmp(site, "same-origin") && strcmp(site, "none")) return true;
    const char *origin = evhttp_find_header(ih, "Origin");
    if (!origin) return false;
    const char *host = evhttp_find_header(ih, "Host");
    if (!host) return true;
    const char *o = !strncmp(origin, "http://", 7) ? origin + 7 : NULL;
    return !o || strcmp(o, host);
}

static void do_login(http_server *h, struct evhttp_request *req)
{
    if (cross_origin(req)) {
        send_text(h, req, 403, "Forbidden", "sign-in from another site refused\n");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char body[HTTP_MAX_BODY + 1];
    if (n > HTTP_MAX_BODY) { /* evhttp refuses it first; never trust one check */
        send_text(h, req, 413, "Payload Too Large", "form too large\n");
        return;
    }
    evbuffer_copyout(in, body, n);
    body[n] = 0;
    http_call *c = call_new(h, req);
    if (!c) {
        send_text(h, req, 500, "Internal Server Error", "out of memory\n");
        return;
    }
    const char *store = NULL, *staff = NULL, *pin = NULL;
    if (strlen(body) == n && evhttp_parse_query_str(body, &c->query) == 0) {
        store = evhttp_find_header(&c->query, "store");
        staff = evhttp_find_header(&c->query, "staff");
        pin = evhttp_find_header(&c->query, "pin");
    }
    sodium_memzero(body, sizeof body);
    if (!store || !staff || !pin) {
        struct evbuffer *b = evbuffer_new();
        if (b) {
            page_signin(b, "Fill in the store, your staff id and your PIN.", store, staff);
            send_html(h, req, 400, "Bad Request", b);
            evbuffer_free(b);
        }
        call_free(c);
        return;
    }
    json_t *r = json_pack("{s:n,s:s,s:{s:s,s:s,s:s}}", "id", "op", "session.login", "args", "store",
                          store, "staff", staff, "pin", pin);
    /* the PIN goes into the request only; the echo of the form keeps none */
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, &c->query, next)
    if (!strcmp(kv->key, "pin")) sodium_memzero(kv->value, strlen(kv->value));
    if (!r) {
        send_text(h, req, 500, "Internal Server Error", "out of memory\n");
        call_free(c);
    } else if (call_submit(c, r, login_done) != 0) {
        unavailable(h, req);
        call_free(c);
    }
}

/* ---- GET /orders ---- */

static void orders_done(void *arg, const char *text, size_t len, const session *sess)
{
    http_call *c = arg;
    if (c->h) {
        json_t *a = answer_of(text, len);
        struct evbuffer *b = evbuffer_new();
        if (b) {
            page_orders(b, &c->sess, &c->f, a);
            send_html(c->h, c->req, 200, "OK", b);
            evbuffer_free(b);
        }
        json_decref(a);
    }
    call_free(c);
}

static const char *param(struct evkeyvalq *q, const char *name)
{
    const char *v = evhttp_find_header(q, name);
    return v && *v ? v : NULL;
}

static void do_orders(http_server *h, struct evhttp_request *req, http_session *hs)
{
    http_call *c = call_new(h, req);
    if (!c) return send_text(h, req, 500, "Internal Server Error", "out of memory\n");
    c->sess = hs->sess;
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (qs) evhttp_parse_query_str(qs, &c->query);
    c->f.status = param(&c->query, "status");
    c->f.q = param(&c->query, "q");
    c->f.pickup_store = param(&c->query, "pickup_store");
    c->f.from = param(&c->query, "from");
    c->f.to = param(&c->query, "to");
    c->f.open = param(&c->query, "open") != NULL;
    /* The filters go to order.find as they are: the op checks them and
     * says what is wrong, and the page shows its message. */
    json_t *args = json_pack("{s:i}", "limit", 200);
    if (c->f.status) json_object_set_new(args, "status", json_string(c->f.status));
    if (c->f.q) json_object_set_new(args, "q", json_string(c->f.q));
    if (c->f.pickup_store)
        json_object_set_new(args, "pickup_store", json_string(c->f.pickup_store));
    if (c->f.from) json_object_set_new(args, "from", json_string(c->f.from));
    if (c->f.to) json_object_set_new(args, "to", json_string(c->f.to));
    if (c->f.open) json_object_set_new(args, "open", json_true());
    json_t *r = json_pack("{s:n,s:s,s:o}", "id", "op", "order.find", "args", args);
    if (call_submit(c, r, orders_done) != 0) {
        unavailable(h, req);
        call_free(c);
    }
}

/* ---- GET /orders/NUMBER: order.get, customer.get, order.history ---- */

static void order_step(http_call *c, json_t *a);

static void order_done(void *arg, const char *text, size_t len, const session *sess)
{
    http_call *c = arg;
    if (!c->h) {
        call_free(c);
        return;
    }
    order_step(c, answer_of(text, len));
}

static void order_submit(http_call *c, const char *op, const char *key, const char *value)
{
    json_t *r = json_pack("{s:n,s:s,s:{s:s}}", "id", "op", op, "args", key, value);
    if (call_submit(c, r, order_done) != 0) {
        unavailable(c->h, c->req);
        call_free(c);
    }
}

/* Called with each answer in turn (a: taken over). */
static void order_step(http_call *c, json_t *a)
{
    http_server *h = c->h;
    c->step++;
    if (c->step == 1) { /* the order */
        if (!answer_ok(a)) {
            struct evbuffer *b = evbuffer_new();
            const char *code = answer_code(a);
            bool nf = code && !strcmp(code, "not_found");
            if (b) {
                page_message(b, &c->sess, nf ? "No such order" : "Cannot show the order",
                             answer_message(a));
                send_html(h, c->req, nf ? 404 : 500, nf ? "Not Found" : "Error", b);
                evbuffer_free(b);
            }
            json_decref(a);
            call_free(c);
            return;
        }
        c->order = a;
        const char *cust =
            json_string_value(json_object_get(json_object_get(a, "result"), "customer"));
        if (cust) return order_submit(c, "customer.get", "account", cust);
        c->step++;
        return order_submit(c, "order.history", "number", c->number);
    }
    if (c->step == 2) { /* the customer */
        c->customer = a;
        return order_submit(c, "order.history", "number", c->number);
    }
    struct evbuffer *b = evbuffer_new(); /* the history: render */
    if (b) {
        page_order(b, &c->sess, c->order, c->customer, a);
        send_html(h, c->req, 200, "OK", b);
        evbuffer_free(b);
    }
    json_decref(a);
    call_free(c);
}

static void do_order(http_server *h, struct evhttp_request *req, http_session *hs,
                     const char *number)
{
    http_call *c = call_new(h, req);
    if (!c) return send_text(h, req, 500, "Internal Server Error", "out of memory\n");
    c->sess = hs->sess;
    char *dec = evhttp_uridecode(number, 0, NULL);
    text_copy(c->number, sizeof c->number, dec ? dec : "");
    free(dec);
    order_submit(c, "order.get", "number", c->number);
}

/* ---- routing ---- */

static void do_health(http_server *h, struct evhttp_request *req)
{
    err_t err;
    err_clear(&err);
    if (gauges_health(h->e, &err) == 0)
        send_text(h, req, 200, "OK", "ok\n");
    else
        send_text(h, req, 503, "Service Unavailable", "database not answering\n");
}

static void do_metrics(http_server *h, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) return send_text(h, req, 500, "Internal Server Error", "out of memory\n");
    http_page_stats st = {.sessions = sessions_live(h),
                          .signin_ok = h->signin_ok,
                          .signin_failed = h->signin_failed,
                          .started = h->started};
    memcpy(st.responses, h->responses, sizeof st.responses);
    http_metrics_page(b, h->srv, h->e, &st);
    send_reply(h, req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b);
    evbuffer_free(b);
}

static void do_logout(http_server *h, struct evhttp_request *req)
{
    http_session *hs = session_of(h, req);
    if (hs) sodium_memzero(hs, sizeof *hs);
    redirect(h, req, "/", HTTP_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
}

static void route(struct evhttp_request *req, void *arg)
{
    http_server *h = arg;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    bool get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD, post = m == EVHTTP_REQ_POST;
    if (!path) path = "/";
    if (!strcmp(path, "/healthz") && get) return do_health(h, req);
    if (!strcmp(path, "/metrics") && get) return do_metrics(h, req);
    if (!strcmp(path, "/login") && post) return do_login(h, req);
    if (!strcmp(path, "/logout") && post) {
        if (cross_origin(req)) return send_text(h, req, 403, "Forbidden", "refused\n");
        return do_logout(h, req);
    }
    bool page = !strcmp(path, "/") || !strcmp(path, "/orders") || !strncmp(path, "/orders/", 8);
    if (!page) return send_text(h, req, 404, "Not Found", "not found\n");
    if (!get) return send_text(h, req, 405, "Method Not Allowed", "method not allowed\n");
    http_session *hs = session_of(h, req);
    if (!strcmp(path, "/")) {
        if (hs) return redirect(h, req, "/orders", NULL);
        struct evbuffer *b = evbuffer_new();
        if (!b) return;
        page_signin(b, NULL, NULL, NULL);
        send_html(h, req, 200, "OK", b);
        evbuffer_free(b);
        return;
    }
    if (!hs) return redirect(h, req, "/", NULL);
    if (!strcmp(path, "/orders")) return do_orders(h, req, hs);
    const char *number = path + 8;
    if (!*number || strlen(number) > 3 * 47 || strchr(number, '/'))
        return send_text(h, req, 404, "Not Found", "not found\n");
    do_order(h, req, hs, number);
}

/* ---- setup ---- */

http_server *http_start(server *srv, engine *e, const char *listen, err_t *err)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    char host[128];
    if (!colon || (size_t)(colon - listen) >= sizeof host) {
        err_set(err, ERR_BAD_REQUEST, "--http wants HOST:PORT, not '%s'", listen ? listen : "");
        return NULL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    char *h0 = host;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = 0;
        h0 = host + 1;
    }
    int port = atoi(colon + 1);
    http_server *h = calloc(1, sizeof *h);
    if (!h) {
        err_set(err, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    h->srv = srv;
    h->e = e;
    h->started = (int64_t)time(NULL);
    h->eh = evhttp_new(server_base(srv));
    if (!h->eh) {
        err_set(err, ERR_INTERNAL, "cannot create the HTTP server");
        goto fail;
    }
    evhttp_set_max_headers_size(h->eh, HTTP_MAX_HEADERS);
    evhttp_set_max_body_size(h->eh, HTTP_MAX_BODY);
    evhttp_set_timeout(h->eh, HTTP_TIMEOUT_S);
    evhttp_set_allowed_methods(h->eh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_default_content_type(h->eh, "text/plain; charset=utf-8");
    evhttp_set_gencb(h->eh, route, h);
    h->bound = evhttp_bind_socket_with_handle(h->eh, *h0 ? h0 : "0.0.0.0", (ev_uint16_t)port);
    if (!h->bound) {
        err_set(err, ERR_INTERNAL, "cannot listen for HTTP on %s", listen);
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    getsockname(evhttp_bound_socket_get_fd(h->bound), (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(h->addr, sizeof h->addr, "[%s]:%d", ip, ntohs(a->sin6_port));
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(h->addr, sizeof h->addr, "%s:%d", ip, ntohs(a->sin_port));
    }
    return h;
fail:
    http_free(h);
    return NULL;
}

const char *http_address(const http_server *h)
{
    return h->addr;
}

void http_free(http_server *h)
{
    if (!h) return;
    /* Calls still waiting keep their memory until the server answers them
     * (server_free answers every held request); they only lose us. */
    for (http_call *c = h->calls, *next; c; c = next) {
        next = c->next;
        c->h = NULL;
        c->prev = c->next = NULL;
    }
    if (h->eh) evhttp_free(h->eh);
    sodium_memzero(h->sessions, sizeof h->sessions);
    free(h);
}

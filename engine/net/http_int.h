/* http_int.h: what the HTTP files share (http.c routing and sessions,
 * http_metrics.c the Prometheus page, http_pages.c the HTML). */
#ifndef CORDER_HTTP_INT_H
#define CORDER_HTTP_INT_H

#include <jansson.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "net/http.h"

#define HTTP_SESSIONS 256           /* signed-in browsers at once; the oldest goes first */
#define HTTP_SESSION_TTL (8 * 3600) /* seconds: a shift */
#define HTTP_TOKEN_HEX 64           /* 32 random bytes */

typedef struct {
    bool used;
    char token[HTTP_TOKEN_HEX + 1];
    session sess;
    int64_t expires; /* monotonic seconds */
} http_session;

typedef struct http_call http_call;

struct http_server {
    server *srv;
    engine *e;
    struct evhttp *eh;
    struct evhttp_bound_socket *bound;
    char addr[96];
    int64_t started; /* wall clock, seconds */
    http_session sessions[HTTP_SESSIONS];
    http_call *calls;      /* waiting for the server's answer */
    uint64_t responses[6]; /* by status class 1xx..5xx (index 1..5) */
    uint64_t signin_ok, signin_failed;
};

/* The pages (http_pages.c); every value goes through html_put. */
typedef struct {
    const char *status, *q, *pickup_store, *from, *to;
    bool open;
} http_filters;
void page_signin(struct evbuffer *b, const char *message, const char *store, const char *staff);
void page_orders(struct evbuffer *b, const session *s, const http_filters *f, json_t *resp);
void page_order(struct evbuffer *b, const session *s, json_t *order_resp, json_t *customer_resp,
                json_t *history_resp);
void page_message(struct evbuffer *b, const session *s, const char *title, const char *message);

#endif

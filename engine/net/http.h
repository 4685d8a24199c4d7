/* http.h: the HTTP listener (`serve --http HOST:PORT`, PROTOCOL.md "HTTP",
 * SPEC OP1-OP2): /healthz, /metrics, and the read-only customer-orders
 * pages, on libevent's evhttp in the server's own loop. Every op a page
 * needs goes through server_submit, so sign-ins take the protocol's PIN
 * path (worker threads, slow-down, lockout) and reads share its batches. */
#ifndef CORDER_HTTP_H
#define CORDER_HTTP_H

#include "model/err.h"
#include "net/server.h"
#include "store/engine.h"

typedef struct http_server http_server;

/* Binds HOST:PORT (port 0: a free one) on the server's loop. */
http_server *http_start(server *srv, engine *e, const char *listen, err_t *err);
/* "HOST:PORT" actually bound. */
const char *http_address(const http_server *h);
/* Stops listening; requests still waiting for the server are dropped
 * (their answers, when they come, are discarded). Call before server_free. */
void http_free(http_server *h);

#endif

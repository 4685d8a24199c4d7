/* http_metrics.h: GET /metrics (SPEC OP1), the Prometheus text format of
 * what the server, dispatch and the database count. The listener's own
 * numbers come in as plain values, so this file needs nothing of http.c. */
#ifndef CORDER_HTTP_METRICS_H
#define CORDER_HTTP_METRICS_H

#include <stdint.h>

#include "net/server.h"
#include "store/engine.h"

struct evbuffer;

typedef struct {
    int sessions; /* signed-in page sessions now */
    uint64_t signin_ok, signin_failed;
    uint64_t responses[6]; /* by status class 1xx..5xx (index 1..5) */
    int64_t started;       /* wall clock, seconds */
} http_page_stats;

void http_metrics_page(struct evbuffer *b, server *srv, engine *e, const http_page_stats *st);

#endif

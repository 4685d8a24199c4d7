/* uplink.h: a store's client connection to HQ (PROTOCOL.md "HQ role"): JSON
 * lines over TCP on a libevent loop, never blocking it. Calls are pipelined
 * and answered in order; the uplink connects on first use, signs in with
 * session.login_store for the store a call is made for (again when the
 * store changes), and on any failure (cannot connect, connection lost, an
 * answer later than the call's deadline) fails every outstanding call and
 * drops the connection; the next call reconnects. Retrying is the caller's
 * business (the uploader backs off, the real-time create gives up).
 *
 * Several HQ processes (SPEC C1, `--hq A,B`): every address each name
 * resolves to, in order; a connection that fails or is lost moves the
 * uplink on to the next address, so the next call (the uploader's next
 * try) goes there. With a CA file (SPEC C3) the link is TLS 1.2+, HQ's
 * chain is checked against it and its certificate must name the host
 * as written in --hq; a failed check fails the calls with why. */
#ifndef CORDER_UPLINK_H
#define CORDER_UPLINK_H

#include <event2/event.h>
#include <jansson.h>

#include "model/err.h"

typedef struct uplink uplink;

/* resp: the whole response object ({id, ok, result|error}), borrowed; NULL
 * when the call failed, with the reason in error. */
typedef void (*uplink_cb)(void *arg, json_t *resp, const char *error);

/* hostports "HOST:PORT[,HOST:PORT…]"; token for session.login_store;
 * ca_file NULL for plain TCP. */
uplink *uplink_new(struct event_base *base, const char *hostports, const char *token,
                   const char *ca_file, err_t *err);
/* Frees without calling the outstanding callbacks (their owners are going). */
void uplink_free(uplink *u);
/* Sends op with args (stolen) for store; cb runs exactly once, never from
 * inside this call. */
void uplink_call(uplink *u, const char *store, const char *op, json_t *args, int timeout_ms,
                 uplink_cb cb, void *arg);

#endif
